/*
 * The kube-proxy iptables normaliser, second half: frontends and the path
 * a frontend's packets take. Frontends come from nat KUBE-SERVICES /
 * KUBE-NODEPORTS jumps (NodePorts once per address KUBE-SERVICES hands to
 * KUBE-NODEPORTS: every local address, or the nodePortAddresses) and from
 * the filter table's REJECT / DROP rules for Service ports without
 * (local) endpoints, which are the only trace such ports leave. For every
 * external frontend the rules are walked as a packet from outside the
 * cluster would take them (skipping rules for Pod or node sources):
 * masquerade marks met on the way, the chain whose endpoint jumps it
 * reaches (KUBE-SVC, KUBE-SVL, or the KUBE-XLB of kube-proxy before
 * v1.24), the allowed source ranges of a KUBE-FW chain, or a
 * KUBE-MARK-DROP; a jump the walk does not understand leaves the fact
 * unknown, with the chain as evidence. One group becomes one service.
 * Must not: print, judge, or touch the kernel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/dataplane/dp_kpnorm.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

static const char *strip_len(struct kt_kpnorm *kp, const char *ip)
{
	const char *sl = ip ? strchr(ip, '/') : NULL;
	if (!ip)
		return "";
	return sl ? kt_intern_n(kp->snap->arena, ip, (size_t)(sl - ip)) : kt_intern(kp->snap->arena, ip);
}

static bool is_hashed(const struct kp_chain *c)
{
	return c && (c->kind == KC_SVC || c->kind == KC_SVL || c->kind == KC_EXT || c->kind == KC_FW ||
		     c->kind == KC_XLB);
}

/* The addresses KUBE-SERVICES hands to KUBE-NODEPORTS: `-m addrtype
 * --dst-type LOCAL` (every local address) or one `-d ADDR` rule per
 * nodePortAddresses match. */
static void nodeport_addresses(struct kt_kpnorm *kp, struct kp_finish *f)
{
	f->np_all = true;
	if (!f->services)
		return;
	const char **v = NULL;
	uint32_t n = 0;
	bool any_all = false;
	for (uint32_t i = 0; i < f->services->n_r; i++) {
		const struct kp_rule *r = &f->services->r[i];
		if (!r->target || r->target->kind != KC_NODEPORTS)
			continue;
		f->np_seen = true;
		if (r->dst && !r->dst_neg) {
			v = kt_xreallocarray(v, n + 1, sizeof(*v));
			v[n++] = strip_len(kp, r->dst);
		} else {
			any_all = true; /* addrtype LOCAL, possibly ! -d 127.0.0.0/8 */
		}
	}
	if (n && !any_all) {
		f->np_all = false;
		f->np_addrs = KT_ANEW(kp->snap->arena, const char *, n);
		memcpy(f->np_addrs, v, n * sizeof(*v));
		f->n_np_addrs = n;
	}
	free(v);
}

/* One frontend reference per accepted NodePort address. */
static void add_nodeports(struct kp_finish *f, const struct fe_ref *tmpl)
{
	uint32_t n = f->np_all ? 1 : f->n_np_addrs;
	for (uint32_t a = 0; a < n; a++) {
		struct fe_ref *fe = kp_fe_add(f);
		*fe = *tmpl;
		fe->ip = f->np_all ? "" : f->np_addrs[a];
	}
}

static void nat_frontends(struct kt_kpnorm *kp, struct kp_finish *f)
{
	struct kp_chain *fe_chains[2] = {f->services, f->nodeports};
	for (int pass = 0; pass < 2; pass++) {
		struct kp_chain *c = fe_chains[pass];
		for (uint32_t i = 0; c && i < c->n_r; i++) {
			struct kp_rule *r = &c->r[i];
			if (!is_hashed(r->target) || r->target->group == KT_NONE)
				continue;
			if (pass == 1 && r->local_only_dst)
				continue; /* the localhost NodePort twin rule */
			struct kp_group *g = &f->gt.g[r->target->group];
			if (r->proto && !g->proto)
				g->proto = r->proto;
			struct fe_ref t = {.group = r->target->group, .port = r->dport, .proto = r->proto,
					   .handle = r->handle, .chain = c->name, .table = kp->table_name,
					   .front = c, .rix = i, .target = r->target};
			if (pass == 1) {
				t.kind = KT_FE_NODEPORT;
				add_nodeports(f, &t);
				continue;
			}
			static const char *const suf[] = {" cluster IP", " external IP", " loadbalancer IP"};
			static const enum kt_fe_kind kinds[] = {KT_FE_CLUSTERIP, KT_FE_EXTERNALIP, KT_FE_LOADBALANCER};
			int kind = -1;
			size_t cl = r->comment ? strlen(r->comment) : 0;
			for (int k = 0; k < 3 && kind < 0; k++) {
				size_t sl = strlen(suf[k]);
				if (cl > sl && strcmp(r->comment + cl - sl, suf[k]) == 0)
					kind = (int)kinds[k];
			}
			if (kind < 0)
				kind = r->target->kind == KC_SVC || r->target->kind == KC_SVL ? KT_FE_CLUSTERIP : KT_FE_EXTERNAL;
			t.kind = (enum kt_fe_kind)kind;
			t.ip = strip_len(kp, r->dst);
			*kp_fe_add(f) = t;
		}
	}
}

/* REJECT / DROP rules of the filter table: "<spn> has no endpoints",
 * "<spn> has no local endpoints". The group comes from the hash of the
 * comment's servicePortName, so ports without any nat chain get one. */
static void filter_frontends(struct kt_kpnorm *kp, struct kp_finish *f)
{
	struct kp_chain *fc[3] = {f->f_services, f->f_ext, f->f_nodeports};
	for (int k = 0; k < 3; k++) {
		for (uint32_t i = 0; fc[k] && i < fc[k]->n_r; i++) {
			const struct kp_rule *r = &fc[k]->r[i];
			const char *why;
			enum kt_dp_action a;
			size_t sl = kp_filter_spn(r->comment, &why, &a);
			if (!sl || (r->verdict != KT_IPT_REJECT && r->verdict != KT_IPT_DROP) || !r->dport)
				continue;
			a = r->verdict == KT_IPT_REJECT ? KT_DP_REJECT : KT_DP_DROP;
			char buf[600], h[17];
			uint8_t proto = r->proto ? r->proto : 6;
			size_t n = sl < 500 ? sl : 500;
			if (r->comment[n - 1] == ':')
				n--; /* "ns/svc: has no endpoints" (unnamed ports, old kube-proxy) */
			snprintf(buf, sizeof(buf), "%.*s%s", (int)n, r->comment, kp_proto_lc(proto));
			kt_dp_hash_b32(buf, h, 16);
			uint32_t gi = kp_group_find(&f->gt, h, true);
			struct kp_group *g = &f->gt.g[gi];
			kp_group_spn(kp, g, r->comment, n);
			if (!g->proto)
				g->proto = proto;
			struct fe_ref t = {.group = gi, .port = r->dport, .proto = proto, .handle = r->handle,
					   .chain = fc[k]->name + 7, .table = kp->filter_name, .action = a,
					   .reason = why};
			if (r->dst && !r->dst_neg) {
				t.ip = strip_len(kp, r->dst);
				/* filter KUBE-SERVICES rejects the ClusterIP first; before
				 * v1.21 the LoadBalancer IPs of the port follow it there */
				bool first = true;
				for (uint32_t j = 0; j < f->n_fes && first; j++)
					first = !(f->fes[j].group == gi && !f->fes[j].target &&
						  f->fes[j].chain == t.chain && f->fes[j].port == t.port);
				t.kind = k != 0 ? KT_FE_EXTERNAL : first ? KT_FE_CLUSTERIP : KT_FE_LOADBALANCER;
				*kp_fe_add(f) = t;
			} else if (r->dst_local) {
				t.kind = KT_FE_NODEPORT;
				add_nodeports(f, &t);
			}
		}
	}
}

void kp_collect_frontends(struct kt_kpnorm *kp, struct kp_finish *f)
{
	nodeport_addresses(kp, f);
	nat_frontends(kp, f);
	filter_frontends(kp, f);
}

void kp_index_frontends(struct kp_finish *f)
{
	uint32_t ng = f->gt.n;
	f->fe_first = kt_xcalloc(ng + 1, sizeof(uint32_t));
	f->order = kt_xcalloc(f->n_fes ? f->n_fes : 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < f->n_fes; i++)
		f->fe_first[f->fes[i].group + 1]++;
	for (uint32_t gi = 0; gi < ng; gi++)
		f->fe_first[gi + 1] += f->fe_first[gi];
	uint32_t *pos = kt_xcalloc(ng + 1, sizeof(uint32_t));
	memcpy(pos, f->fe_first, (ng + 1) * sizeof(uint32_t));
	for (uint32_t i = 0; i < f->n_fes; i++)
		f->order[pos[f->fes[i].group]++] = i;
	free(pos);
}

/* ---- the path of one external frontend ------------------------------ */

#define WALK_DEPTH  8
#define WALK_RANGES 64

struct walk {
	const char *ip;          /* destination as the packet arrives ("" any local address) */
	int32_t port;
	uint8_t proto;
	struct kp_chain *ep;     /* the chain whose endpoint jumps external clients reach */
	bool masq, local_rules, drop, unknown, rest_dropped;
	const char *drop_reason;
	const char *unknown_why;
	const char *ranges[WALK_RANGES];
	uint32_t n_ranges;
	const struct kp_chain *ev_chain[WALK_DEPTH * 2];
	uint64_t ev_handle[WALK_DEPTH * 2];
	uint32_t n_ev;
};

static void walk_ev(struct walk *w, const struct kp_chain *c, uint64_t h)
{
	for (uint32_t i = 0; i < w->n_ev; i++)
		if (w->ev_chain[i] == c && w->ev_handle[i] == h)
			return;
	if (w->n_ev < WALK_DEPTH * 2) {
		w->ev_chain[w->n_ev] = c;
		w->ev_handle[w->n_ev++] = h;
	}
}

static bool dst_match(const char *rule_dst, const char *ip)
{
	if (!ip || !ip[0])
		return false;
	size_t l = strcspn(rule_dst, "/");
	return strlen(ip) == l && strncmp(rule_dst, ip, l) == 0;
}

/* Does rule r apply to a new connection from outside the cluster to the
 * walk's destination? Rules for Pod or node sources do not. */
static bool applies(const struct kp_rule *r, const struct walk *w, bool range_rule)
{
	if (r->local_only_dst || r->src_local)
		return false;
	if (r->proto && w->proto && r->proto != w->proto)
		return false;
	if (r->dport && r->dport != w->port)
		return false;
	if (r->dst && dst_match(r->dst, w->ip) == r->dst_neg)
		return false;
	if (r->src_cond && !r->src_neg && !range_rule)
		return false; /* -s <pod CIDR> / -i <bridge>: a local-traffic detector */
	return true;
}

static void add_range(struct walk *w, const char *src)
{
	size_t l = strcspn(src, "/");
	if (w->ip && strlen(w->ip) == l && strncmp(src, w->ip, l) == 0)
		return; /* `-s <LB IP>`: node-originated traffic through a VIP-like LB */
	for (uint32_t i = 0; i < w->n_ranges; i++)
		if (strcmp(w->ranges[i], src) == 0)
			return;
	if (w->n_ranges < WALK_RANGES)
		w->ranges[w->n_ranges++] = src;
}

/* Walk chain c; true when an endpoint chain was reached. */
static bool walk_chain(struct kp_chain *c, struct walk *w, int depth)
{
	if (depth >= WALK_DEPTH) {
		w->unknown = true;
		w->unknown_why = "the chains nest deeper than kube-proxy writes them";
		return false;
	}
	if (c->n_r && (c->kind == KC_EXT || c->kind == KC_FW || c->kind == KC_XLB))
		walk_ev(w, c, c->r[0].handle);
	for (uint32_t i = 0; i < c->n_r; i++) {
		const struct kp_rule *r = &c->r[i];
		bool range_rule = c->kind == KC_FW && r->src;
		if (!applies(r, w, range_rule)) {
			if ((r->src_local || (r->src_cond && !r->src_neg)) && r->target)
				w->local_rules = true;
			continue;
		}
		if (r->verdict == KT_IPT_RETURN)
			return w->ep != NULL;
		struct kp_chain *t = r->target;
		if (!t)
			continue; /* e.g. "other traffic to <spn> will be dropped by KUBE-PROXY-FIREWALL" */
		switch (t->kind) {
		case KC_MARKMASQ:
			w->masq = true;
			walk_ev(w, c, r->handle);
			continue;
		case KC_MARKDROP:
			if (c->kind == KC_FW && (w->n_ranges || w->ep)) {
				w->rest_dropped = true; /* sources outside the ranges */
				return w->ep != NULL;
			}
			w->drop = true;
			w->drop_reason = r->comment && strstr(r->comment, "no local endpoints") ? "no local endpoints"
					 : c->kind == KC_FW ? "source not in loadBalancerSourceRanges"
							    : "marked for drop (KUBE-MARK-DROP)";
			walk_ev(w, c, r->handle);
			return false;
		case KC_SEP:
			w->ep = c;
			return true;
		case KC_SVC:
		case KC_SVL:
		case KC_EXT:
		case KC_XLB:
		case KC_FW:
			if (range_rule) {
				add_range(w, r->src);
				if (!w->ep)
					walk_chain(t, w, depth + 1);
				continue;
			}
			if (walk_chain(t, w, depth + 1) || w->drop || w->unknown)
				return w->ep != NULL;
			continue;
		default:
			w->unknown = true;
			w->unknown_why = t->name;
			return false;
		}
	}
	return w->ep != NULL;
}

/* Masquerade marks for this destination in the frontend chain itself,
 * before the frontend's jump (kube-proxy before v1.21 put them there). */
static void pre_masq(const struct fe_ref *fe, struct walk *w)
{
	for (uint32_t i = 0; fe->front && i < fe->rix && i < fe->front->n_r; i++) {
		const struct kp_rule *r = &fe->front->r[i];
		if (r->target && r->target->kind == KC_MARKMASQ && applies(r, w, false)) {
			w->masq = true;
			walk_ev(w, fe->front, r->handle);
		}
	}
}

/* ---- one group as one service --------------------------------------- */

static bool want_service(const struct kt_node_opts *o, const char *ns, const char *name)
{
	if (!o || !o->want_svc_filter)
		return true;
	if (o->svc_namespace && strcmp(o->svc_namespace, ns) != 0)
		return false;
	if (o->svc_name && strcmp(o->svc_name, name) != 0)
		return false;
	return true;
}

/* Expand a chain's endpoint jumps into backends with true probabilities
 * (the chained `statistic` values multiplied out). */
static void expand(struct kt_kpnorm *kp, struct kt_dp_service *s, struct kp_chain *c, bool external, bool evidence)
{
	double remaining = 1.0;
	if (evidence && c->n_r)
		kt_dpbuild_ev(kp->snap, s, kp->mode, kp->table_name, c->name, c->r[0].handle, NULL);
	for (uint32_t i = 0; i < c->n_r; i++) {
		struct kp_rule *r = &c->r[i];
		if (!r->target || r->target->kind != KC_SEP || (r->src_cond && !r->src_neg))
			continue;
		if (r->recent & KT_RECENT_CHECK) {
			s->affinity = true;
			s->affinity_timeout = r->recent_seconds;
			continue;
		}
		if (remaining <= 0)
			continue;
		double p = r->has_prob ? remaining * kt_dp_snap_prob(r->prob) : remaining;
		remaining -= p;
		if (remaining < 1e-12)
			remaining = 0;
		struct kp_chain *sep = r->target;
		char ipbuf[64];
		const char *ip = sep->dnat_ip;
		int32_t port = sep->dnat_port;
		if (!ip) {
			/* SEP chain missing or without DNAT: fall back to the jump comment */
			const char *arrow = r->comment ? strstr(r->comment, " -> ") : NULL;
			if (!arrow)
				continue;
			snprintf(ipbuf, sizeof(ipbuf), "%s", arrow + 4);
			char *colon = strrchr(ipbuf, ':');
			if (!colon)
				continue;
			*colon = 0;
			port = atoi(colon + 1);
			ip = ipbuf;
			if (ip[0] == '[') {
				ip++;
				char *rb = strchr(ipbuf, ']');
				if (rb)
					*rb = 0;
			}
		}
		struct kt_dp_backend *b = kt_dpbuild_be(kp->snap, s, external, ip, port, p);
		if (sep->in_local)
			b->local = true;
		if (evidence && sep->dnat_handle)
			kt_dpbuild_ev(kp->snap, s, kp->mode, kp->table_name, sep->name, sep->dnat_handle, NULL);
	}
}

/* The health-check node port and the LB firewall drops of a group's
 * Service (filter KUBE-NODEPORTS / KUBE-PROXY-FIREWALL). */
static void filter_extras(struct kt_kpnorm *kp, struct kp_finish *f, struct kp_group *g, struct kt_dp_service *s)
{
	if (!g->spn)
		return;
	char want[600], fw[600];
	snprintf(want, sizeof(want), "%s health check node port", g->spn);
	snprintf(fw, sizeof(fw), "%s traffic not accepted by ", g->spn);
	for (uint32_t i = 0; f->f_nodeports && i < f->f_nodeports->n_r; i++) {
		struct kp_rule *r = &f->f_nodeports->r[i];
		if (r->comment && strcmp(r->comment, want) == 0 && r->dport) {
			kt_dpbuild_fe(kp->snap, s, KT_FE_HEALTHCHECK, "", r->dport, true);
			kt_dpbuild_ev(kp->snap, s, kp->mode, kp->filter_name, "KUBE-NODEPORTS", r->handle, NULL);
		}
	}
	for (uint32_t i = 0; f->f_firewall && i < f->f_firewall->n_r; i++) {
		struct kp_rule *r = &f->f_firewall->r[i];
		if (r->comment && strncmp(r->comment, fw, strlen(fw)) == 0)
			kt_dpbuild_ev(kp->snap, s, kp->mode, kp->filter_name, "KUBE-PROXY-FIREWALL", r->handle, NULL);
	}
}

struct ext_result {
	struct kp_chain *ep;
	bool masq, unknown, local_rules, any;
	const char *unknown_why;
};

/* Walk one external frontend; results onto its kt_dp_frontend. */
static void external_fe(struct kt_kpnorm *kp, struct kp_finish *f, const struct fe_ref *fe, struct kt_dp_service *s,
			struct ext_result *res)
{
	struct walk w;
	memset(&w, 0, sizeof(w));
	w.ip = fe->ip;
	w.port = fe->port;
	w.proto = fe->proto;
	pre_masq(fe, &w);
	walk_chain(fe->target, &w, 0);
	res->any = true;
	if (w.ep && !res->ep)
		res->ep = w.ep;
	res->masq |= w.masq;
	res->local_rules |= w.local_rules;
	if (w.unknown && !res->unknown) {
		res->unknown = true;
		res->unknown_why = w.unknown_why;
	}
	for (uint32_t i = 0; i < w.n_ev; i++)
		kt_dpbuild_ev(kp->snap, s, kp->mode, kp->table_name, w.ev_chain[i]->name, w.ev_handle[i], NULL);
	struct kt_dp_frontend *x = kt_dpbuild_fe_find(s, fe->kind, fe->ip, fe->port);
	for (uint32_t i = 0; i < w.n_ranges; i++)
		kt_dpbuild_fe_range(kp->snap, s, x, w.ranges[i]);
	if (w.drop)
		kt_dpbuild_fe_action(kp->snap, x, KT_DP_DROP, w.drop_reason);
	else if (!w.ep && !w.unknown && w.local_rules && !kp->filter_seen)
		/* externalTrafficPolicy: Local without a local endpoint; the
		 * filter table (not read) drops what the nat rules leave alone */
		kt_dpbuild_fe_action(kp->snap, x, KT_DP_DROP, "no local endpoints");
	(void)f;
}

/* A filter fact onto the service: the matching frontend gets the
 * verdict (a nat rule knows its kind better), or a new one is added. */
static void filter_fact(struct kt_kpnorm *kp, struct kt_dp_service *s, const struct fe_ref *fe)
{
	struct kt_dp_frontend *x = NULL;
	for (uint32_t i = 0; i < s->n_fe && !x; i++) {
		struct kt_dp_frontend *c = &s->fe[i];
		bool np = fe->kind == KT_FE_NODEPORT;
		if (c->port != fe->port || (c->kind == KT_FE_NODEPORT) != np || c->kind == KT_FE_HEALTHCHECK)
			continue;
		if (strcmp(c->ip, fe->ip) == 0)
			x = c;
	}
	if (!x)
		x = kt_dpbuild_fe(kp->snap, s, fe->kind, fe->ip, fe->port, fe->kind != KT_FE_CLUSTERIP);
	kt_dpbuild_fe_action(kp->snap, x, fe->action, fe->reason);
	kt_dpbuild_ev(kp->snap, s, kp->mode, fe->table, fe->chain, fe->handle, NULL);
}

/* Over 120 lines, on purpose: one pass over a group in kube-proxy's own
 * order (frontends, the internal set, the external walk, then the filter
 * verdicts and extras), each step reading what the previous one left. */
void kp_emit_group(struct kt_kpnorm *kp, struct kp_finish *f, uint32_t gi, struct kt_dp_node *n,
		   const struct kt_node_opts *o)
{
	struct kt_snapshot *snap = kp->snap;
	struct kp_group *g = &f->gt.g[gi];
	uint32_t a = f->fe_first[gi], b = f->fe_first[gi + 1];
	if (!g->svc && !g->svl && !g->xlb && a == b)
		return; /* an EXT/FW chain alone forwards nowhere */
	char ns[256] = "", name[256] = "", port[256] = "";
	bool guessed = false;
	if (!g->spn ||
	    !kt_dp_split_spn(g->spn, strlen(g->spn), ns, sizeof(ns), name, sizeof(name), port, sizeof(port))) {
		snprintf(name, sizeof(name), "KUBE-SVC-%s", g->hash);
		ns[0] = 0;
		port[0] = 0;
		guessed = true;
	}
	if (!want_service(o, ns, name))
		return;
	struct kt_dp_service *s = kt_dpbuild_svc(snap, n, ns, name, port, kp_proto_name(g->proto), kp->mode);
	s->chain_hash = kt_intern(snap->arena, g->hash);
	s->names_guessed = guessed;
	s->scheduler = "random";
	s->share_basis = KT_SHARE_PROBABILITY;
	struct kp_chain *internal = NULL;
	bool clusterip_seen = false;
	for (uint32_t k = a; k < b; k++) {
		struct fe_ref *fe = &f->fes[f->order[k]];
		if (!fe->target)
			continue; /* filter facts below */
		bool ext = fe->kind != KT_FE_CLUSTERIP;
		struct kt_dp_frontend *x = kt_dpbuild_fe(snap, s, fe->kind, fe->ip, fe->port, ext);
		x->kind_guessed = fe->kind_guessed;
		kt_dpbuild_ev(snap, s, kp->mode, kp->table_name, fe->chain, fe->handle, NULL);
		/* the chain the ClusterIP rule jumps to: SVC (Cluster) or SVL (iTP=Local) */
		if (fe->kind == KT_FE_CLUSTERIP) {
			clusterip_seen = true;
			if (!internal)
				internal = fe->target;
		}
	}
	for (uint32_t k = a; k < b; k++)
		if (!f->fes[f->order[k]].target && f->fes[f->order[k]].kind == KT_FE_CLUSTERIP)
			clusterip_seen = true;
	if (!internal && !clusterip_seen)
		internal = g->svc ? g->svc : g->svl; /* comment-less dumps: no ClusterIP rule recognised */
	if (internal)
		expand(kp, s, internal, false, true);
	struct ext_result res;
	memset(&res, 0, sizeof(res));
	for (uint32_t k = a; k < b; k++) {
		struct fe_ref *fe = &f->fes[f->order[k]];
		if (fe->target && fe->kind != KT_FE_CLUSTERIP)
			external_fe(kp, f, fe, s, &res);
	}
	if (res.ep) {
		expand(kp, s, res.ep, true, res.ep != internal);
		s->local_only = res.ep->kind == KC_SVL || res.ep->kind == KC_XLB;
	} else if (res.any && res.local_rules) {
		s->local_only = true; /* externalTrafficPolicy: Local and no local endpoint */
	}
	s->masquerade = res.masq;
	if (res.unknown && !res.masq) {
		s->masq_unknown = true;
		kt_dpbuild_svc_note(snap, s, "masquerade unknown: external traffic jumps to %s, a chain this layout "
					     "reader does not know", res.unknown_why ? res.unknown_why : "?");
	} else if (res.unknown) {
		kt_dpbuild_svc_note(snap, s, "backends for external traffic unknown: it jumps to %s",
				    res.unknown_why ? res.unknown_why : "?");
	}
	if (s->masquerade && f->masq_handle)
		kt_dpbuild_ev(snap, s, kp->mode, kp->table_name, "KUBE-POSTROUTING", f->masq_handle, NULL);
	for (uint32_t k = a; k < b; k++)
		if (!f->fes[f->order[k]].target)
			filter_fact(kp, s, &f->fes[f->order[k]]);
	filter_extras(kp, f, g, s);
	/* local marks for the internal set too */
	for (uint32_t i = 0; i < s->n_ext_be && s->local_only; i++) {
		s->ext_be[i].local = true;
		for (uint32_t j = 0; j < s->n_be; j++)
			if (s->be[j].port == s->ext_be[i].port && strcmp(s->be[j].ip, s->ext_be[i].ip) == 0)
				s->be[j].local = true;
	}
}
