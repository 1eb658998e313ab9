/*
 * The model's side of `ktrace trace`: what a node's normalised dataplane
 * (struct kt_dp_node: frontends -> backends with probabilities, affinity,
 * masquerade, externalTrafficPolicy Local) says one packet does, and
 * whether a traced probe agrees. Pure functions over the model: no I/O.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ktrace/trace.h"

static bool is_addr(const char *ip, const char *const *addrs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (addrs[i] && !strcmp(addrs[i], ip))
			return true;
	return false;
}

/* Is ip inside cidr (IPv4 or IPv6)? Unparseable or another family: true
 * (do not claim a drop). */
static bool in_range(const char *ip, const char *cidr)
{
	char a[64];
	snprintf(a, sizeof(a), "%s", cidr);
	bool v6 = strchr(a, ':') != NULL;
	int af = v6 ? AF_INET6 : AF_INET, max = v6 ? 128 : 32, plen = max;
	char *sl = strchr(a, '/');
	if (sl) {
		*sl = 0;
		plen = atoi(sl + 1);
	}
	unsigned char x[16], y[16];
	if (plen < 0 || plen > max || inet_pton(af, a, x) != 1 || inet_pton(af, ip, y) != 1)
		return true;
	int whole = plen / 8, rest = plen % 8;
	if (memcmp(x, y, (size_t)whole))
		return false;
	unsigned char m = (unsigned char)(0xffu << (8 - rest));
	return !rest || (x[whole] & m) == (y[whole] & m);
}

void kt_trace_predict(const struct kt_dp_node *n, const char *src_ip, const char *dst_ip, int32_t dport,
		      const char *proto, const char *const *node_addrs, unsigned n_addrs,
		      struct kt_trace_prediction *p)
{
	memset(p, 0, sizeof(*p));
	p->masquerade = -1;
	bool local = is_addr(dst_ip, node_addrs, n_addrs);
	const struct kt_dp_service *best_s = NULL;
	const struct kt_dp_frontend *best_f = NULL;
	int best = 0; /* 3 exact VIP, 2 NodePort on this address, 1 NodePort on every local address */
	for (uint32_t i = 0; n && i < n->n_svcs; i++) {
		const struct kt_dp_service *s = &n->svcs[i];
		if (s->protocol && proto && strcasecmp(s->protocol, proto))
			continue;
		for (uint32_t j = 0; j < s->n_fe; j++) {
			const struct kt_dp_frontend *f = &s->fe[j];
			if (f->port != dport || (f->protocol && proto && strcasecmp(f->protocol, proto)))
				continue;
			int score = 0;
			if (f->kind == KT_FE_NODEPORT || f->kind == KT_FE_HEALTHCHECK) {
				if (f->ip && f->ip[0])
					score = !strcmp(f->ip, dst_ip) ? 2 : 0;
				else
					score = local ? 1 : 0;
			} else if (f->ip && !strcmp(f->ip, dst_ip)) {
				score = 3;
			}
			if (score > best) {
				best = score;
				best_s = s;
				best_f = f;
			}
		}
	}
	if (!best_f) {
		p->fate = local ? KT_FATE_LOCAL : KT_FATE_FORWARDED;
		p->why = local ? "no Service frontend has this address and port: the packet is the node's own"
			       : "no Service frontend has this address and port: routed on unchanged";
		return;
	}
	p->svc = best_s;
	p->fe = best_f;
	p->affinity = best_s->affinity;
	if (best_f->kind == KT_FE_HEALTHCHECK) {
		p->fate = KT_FATE_LOCAL;
		p->why = "the health-check node port is answered by kube-proxy on the node";
		return;
	}
	if (best_f->action == KT_DP_REJECT || best_f->action == KT_DP_DROP) {
		p->fate = best_f->action == KT_DP_REJECT ? KT_FATE_REJECTED : KT_FATE_DROPPED;
		p->why = best_f->reason ? best_f->reason : "the node's rules reject or drop it";
		return;
	}
	if (best_f->n_source_ranges && src_ip) {
		bool in = false;
		for (uint32_t i = 0; i < best_f->n_source_ranges && !in; i++)
			in = in_range(src_ip, best_f->source_ranges[i]);
		if (!in) {
			p->fate = KT_FATE_DROPPED;
			p->why = "the source is outside loadBalancerSourceRanges";
			return;
		}
	}
	p->be = best_f->external ? best_s->ext_be : best_s->be;
	p->n_be = best_f->external ? best_s->n_ext_be : best_s->n_be;
	if (best_f->external)
		p->masquerade = best_s->masquerade ? 1 : 0;
	bool any = false;
	for (uint32_t i = 0; i < p->n_be; i++)
		any = any || p->be[i].probability > 0;
	if (!any) {
		p->fate = KT_FATE_REJECTED;
		p->fate_either = true;
		p->why = best_f->external && best_s->local_only && best_s->n_be
				 ? "externalTrafficPolicy Local and no endpoint on this node: dropped"
				 : "no endpoints: rejected";
		return;
	}
	p->fate = KT_FATE_FORWARDED;
	p->why = "DNAT to one of the Service's backends";
}

static bool in_backends(const struct kt_trace_prediction *p, const char *ip, uint16_t port)
{
	for (uint32_t i = 0; i < p->n_be; i++)
		if (p->be[i].ip && !strcmp(p->be[i].ip, ip) && p->be[i].port == port && p->be[i].probability > 0)
			return true;
	return false;
}

bool kt_trace_agrees(const struct kt_trace_prediction *p, const struct kt_trace_probe *t, const char **why)
{
	*why = NULL;
	if (p->fate_either) {
		if (t->fate == KT_FATE_REJECTED || t->fate == KT_FATE_DROPPED)
			return true;
		*why = "the model says no backend takes this packet, the kernel did not drop it";
		return false;
	}
	if (p->fate != t->fate) {
		*why = "the fate differs";
		return false;
	}
	if (t->fate == KT_FATE_FORWARDED && p->svc) {
		if (!in_backends(p, t->to_ip, t->to_port)) {
			*why = "the kernel picked a backend the model does not have";
			return false;
		}
		if (p->masquerade >= 0 && (p->masquerade == 1) != t->masquerade) {
			*why = p->masquerade ? "the model says masqueraded, the kernel kept the source"
					     : "the model says the source is kept, the kernel masqueraded it";
			return false;
		}
	} else if (t->fate == KT_FATE_FORWARDED && t->dnat) {
		*why = "the kernel translated a destination the model has no Service for";
		return false;
	}
	return true;
}

bool kt_trace_share_ok(uint32_t got, uint32_t count, double p)
{
	if (!count)
		return true;
	double exp = p * count, sd = sqrt(count * p * (1 - p));
	return fabs((double)got - exp) <= 5 * sd + 1;
}
