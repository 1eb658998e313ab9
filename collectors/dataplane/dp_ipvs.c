/*
 * kube-proxy IPVS mode: virtual services and their real servers, read live
 * through IPVS generic netlink (family "IPVS": GET_SERVICE dump, then one
 * GET_DEST dump per service; decoding follows the uapi ip_vs.h layout and
 * is shared with tests and the fuzzer through kt_ipvs_decode()), or from
 * `ipvsadm-save -n` text. Virtual services are grouped into Service ports
 * through the API objects when the snapshot has them (ClusterIP, external
 * and LB IPs, NodePorts); without them each distinct real-server set
 * becomes one entry named after its first virtual service.
 * Probabilities are weight shares (rr/wrr; other schedulers approximate
 * the same steady state); weight 0 is kube-proxy's graceful drain.
 * Must not: send anything but dump/get requests, print, judge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"
#include "ktrace/fileio.h"

#define MAX_VS    200000u
#define MAX_DESTS 1000000u

struct ipvs_dest {
	char ip[INET6_ADDRSTRLEN];
	int32_t port;
	int32_t weight;
	uint32_t active, inactive;
	uint32_t fwd;
};

struct ipvs_vs {
	uint8_t proto;           /* 6 17 132; 0 fwmark */
	char ip[INET6_ADDRSTRLEN];
	int32_t port;
	uint32_t fwmark;
	char sched[17];
	bool persistent;
	uint32_t timeout;
	struct ipvs_dest *d;
	uint32_t n, cap;
	bool used;
};

struct kt_ipvs_state {
	struct ipvs_vs *v;
	uint32_t n, cap;
	uint32_t n_dests;
	bool capped;
	const char *source;      /* evidence table name */
};

struct kt_ipvs_state *kt_ipvs_state_new(void)
{
	struct kt_ipvs_state *st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	st->source = "ipvs";
	return st;
}

void kt_ipvs_state_free(struct kt_ipvs_state *st)
{
	if (!st)
		return;
	for (uint32_t i = 0; i < st->n; i++)
		free(st->v[i].d);
	free(st->v);
	free(st);
}

static struct ipvs_vs *vs_add(struct kt_ipvs_state *st)
{
	if (st->n >= MAX_VS) {
		st->capped = true;
		return NULL;
	}
	if (st->n == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 64;
		st->v = realloc(st->v, st->cap * sizeof(*st->v));
		if (!st->v)
			abort();
	}
	struct ipvs_vs *v = &st->v[st->n++];
	memset(v, 0, sizeof(*v));
	return v;
}

static struct ipvs_dest *dest_add(struct kt_ipvs_state *st, struct ipvs_vs *v)
{
	if (st->n_dests >= MAX_DESTS) {
		st->capped = true;
		return NULL;
	}
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->d = realloc(v->d, v->cap * sizeof(*v->d));
		if (!v->d)
			abort();
	}
	st->n_dests++;
	struct ipvs_dest *d = &v->d[v->n++];
	memset(d, 0, sizeof(*d));
	return d;
}

/* ---- generic netlink decoding --------------------------------------- */

static void parse_attrs(const uint8_t *p, size_t len, struct kt_nla *out, unsigned max)
{
	kt_nla_parse(p, len, out, max, false);
}

static uint32_t a32(const struct kt_nla *a)
{
	uint32_t v = 0;
	if (a->present && a->len >= 4)
		memcpy(&v, a->p, 4);
	return v;
}

static uint16_t a16(const struct kt_nla *a)
{
	uint16_t v = 0;
	if (a->present && a->len >= 2)
		memcpy(&v, a->p, 2);
	return v;
}

static void a_addr(const struct kt_nla *a, uint16_t af, char *out, size_t n)
{
	out[0] = 0;
	if (!a->present || a->len < (af == AF_INET6 ? 16 : 4))
		return;
	if (!inet_ntop(af == AF_INET6 ? AF_INET6 : AF_INET, a->p, out, (socklen_t)n))
		out[0] = 0;
}

static void decode_service(struct kt_ipvs_state *st, const uint8_t *p, size_t len)
{
	struct kt_nla a[13];
	parse_attrs(p, len, a, 12);
	struct ipvs_vs *v = vs_add(st);
	if (!v)
		return;
	uint16_t af = a16(&a[1]);
	v->proto = (uint8_t)a16(&a[2]);
	a_addr(&a[3], af, v->ip, sizeof(v->ip));
	v->port = ntohs(a16(&a[4]));
	v->fwmark = a32(&a[5]);
	if (a[6].present) {
		size_t l = strnlen((const char *)a[6].p, a[6].len);
		if (l >= sizeof(v->sched))
			l = sizeof(v->sched) - 1;
		memcpy(v->sched, a[6].p, l);
	}
	if (a[7].present && a[7].len >= 4)
		v->persistent = a32(&a[7]) & 1;
	v->timeout = a32(&a[8]);
}

static void decode_dest(struct kt_ipvs_state *st, const uint8_t *p, size_t len)
{
	if (!st->n)
		return; /* a destination without a service before it */
	struct ipvs_vs *v = &st->v[st->n - 1];
	struct kt_nla a[16];
	parse_attrs(p, len, a, 15);
	struct ipvs_dest *d = dest_add(st, v);
	if (!d)
		return;
	uint16_t af = a[11].present ? a16(&a[11]) : (strchr(v->ip, ':') ? AF_INET6 : AF_INET);
	a_addr(&a[1], af, d->ip, sizeof(d->ip));
	d->port = ntohs(a16(&a[2]));
	d->fwd = a32(&a[3]) & 7;
	d->weight = (int32_t)a32(&a[4]);
	d->active = a32(&a[7]);
	d->inactive = a32(&a[8]);
	if (!d->ip[0])
		v->n--; /* unusable */
}

int kt_ipvs_decode(struct kt_ipvs_state *st, const void *buf, size_t len, uint16_t family_id)
{
	const uint8_t *p = buf;
	while (len >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *h = (const void *)p;
		struct nlmsghdr hh;
		memcpy(&hh, p, sizeof(hh));
		if (hh.nlmsg_len < sizeof(hh) || hh.nlmsg_len > len)
			return -1;
		(void)h;
		if (hh.nlmsg_type == family_id && hh.nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN) {
			uint8_t cmd = p[NLMSG_HDRLEN];
			const uint8_t *ap = p + NLMSG_HDRLEN + GENL_HDRLEN;
			size_t al = hh.nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
			struct kt_nla top[4];
			parse_attrs(ap, al, top, 3);
			if (cmd == 1 && top[1].present)
				decode_service(st, top[1].p, top[1].len);
			else if (cmd == 5 && top[2].present)
				decode_dest(st, top[2].p, top[2].len);
		}
		size_t step = NLMSG_ALIGN(hh.nlmsg_len);
		if (step > len)
			break;
		p += step;
		len -= step;
	}
	return 0;
}

/* ---- ipvsadm-save text ---------------------------------------------- */

static bool split_hostport(const char *s, char *ip, size_t n, int32_t *port)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", s);
	char *colon;
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');
		if (!rb || rb[1] != ':')
			return false;
		*rb = 0;
		snprintf(ip, n, "%.*s", (int)(n - 1), buf + 1);
		*port = atoi(rb + 2);
		return true;
	}
	colon = strrchr(buf, ':');
	if (!colon)
		return false;
	*colon = 0;
	snprintf(ip, n, "%.*s", (int)(n - 1), buf);
	*port = atoi(colon + 1);
	return ip[0] != 0;
}

static struct ipvs_vs *find_vs(struct kt_ipvs_state *st, uint8_t proto, const char *ip, int32_t port)
{
	for (uint32_t i = st->n; i-- > 0;)
		if (st->v[i].proto == proto && st->v[i].port == port && strcmp(st->v[i].ip, ip) == 0)
			return &st->v[i];
	return NULL;
}

int kt_dp_ipvsadm_mem(struct kt_snapshot *snap, struct kt_dp_node *n, const char *buf, size_t len,
		      const char *name, struct kt_diag *d)
{
	struct kt_ipvs_state *st = kt_ipvs_state_new();
	st->source = "ipvsadm";
	size_t off = 0;
	unsigned lineno = 0;
	int rc = 0;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - buf - off) : len - off;
		char line[1024];
		lineno++;
		if (l >= sizeof(line)) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "%s:%u: line too long", name, lineno);
			break;
		}
		memcpy(line, buf + off, l);
		line[l] = 0;
		off += l + 1;
		if (memchr(line, 0, l)) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "%s:%u: NUL byte", name, lineno);
			break;
		}
		char *tok[32];
		int nt = 0;
		for (char *q = line; *q && nt < 32;) {
			while (*q == ' ' || *q == '\t' || *q == '\r')
				*q++ = 0;
			if (!*q)
				break;
			tok[nt++] = q;
			while (*q && *q != ' ' && *q != '\t' && *q != '\r')
				q++;
		}
		if (nt == 0 || tok[0][0] == '#')
			continue;
		bool add_vs = strcmp(tok[0], "-A") == 0, add_rs = strcmp(tok[0], "-a") == 0;
		if (!add_vs && !add_rs) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "%s:%u: expected -A or -a (ipvsadm-save -n output)", name, lineno);
			break;
		}
		uint8_t proto = 0;
		char ip[INET6_ADDRSTRLEN] = "", rip[INET6_ADDRSTRLEN] = "";
		int32_t port = 0, rport = 0, weight = 1;
		uint32_t fwmark = 0, timeout = 0;
		bool persistent = false, have_vs = false, have_rs = false;
		const char *sched = "wlc";
		for (int i = 1; i < nt; i++) {
			const char *k = tok[i], *a = i + 1 < nt ? tok[i + 1] : NULL;
			if ((strcmp(k, "-t") == 0 || strcmp(k, "-u") == 0 || strcmp(k, "--sctp-service") == 0) && a) {
				proto = k[1] == 't' ? 6 : k[1] == 'u' ? 17 : 132;
				have_vs = split_hostport(a, ip, sizeof(ip), &port);
				i++;
			} else if (strcmp(k, "-f") == 0 && a) {
				fwmark = (uint32_t)strtoul(a, NULL, 0);
				snprintf(ip, sizeof(ip), "fwmark:%u", fwmark);
				have_vs = true;
				i++;
			} else if (strcmp(k, "-s") == 0 && a) {
				sched = a;
				i++;
			} else if (strcmp(k, "-p") == 0) {
				persistent = true;
				timeout = 300;
				if (a && a[0] != '-') {
					timeout = (uint32_t)strtoul(a, NULL, 10);
					i++;
				}
			} else if (strcmp(k, "-r") == 0 && a) {
				have_rs = split_hostport(a, rip, sizeof(rip), &rport);
				i++;
			} else if (strcmp(k, "-w") == 0 && a) {
				weight = atoi(a);
				i++;
			} else if ((strcmp(k, "-M") == 0 || strcmp(k, "--pe") == 0 || strcmp(k, "-b") == 0 ||
				    strcmp(k, "--tun-type") == 0 || strcmp(k, "--tun-port") == 0) && a) {
				i++;
			}
		}
		if (!have_vs) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "%s:%u: no virtual service (-t/-u/-f ADDR:PORT)", name, lineno);
			break;
		}
		if (add_vs) {
			struct ipvs_vs *v = vs_add(st);
			if (!v)
				continue;
			v->proto = proto;
			snprintf(v->ip, sizeof(v->ip), "%s", ip);
			v->port = port;
			v->fwmark = fwmark;
			snprintf(v->sched, sizeof(v->sched), "%s", sched);
			v->persistent = persistent;
			v->timeout = timeout;
		} else {
			struct ipvs_vs *v = find_vs(st, proto, ip, port);
			if (!v || !have_rs) {
				rc = kt_diag_set(d, KT_EXIT_INPUT, "%s:%u: real server for an unknown virtual service", name,
						 lineno);
				break;
			}
			struct ipvs_dest *ds = dest_add(st, v);
			if (!ds)
				continue;
			snprintf(ds->ip, sizeof(ds->ip), "%s", rip);
			ds->port = rport;
			ds->weight = weight;
		}
	}
	if (rc == 0)
		kt_ipvs_emit(st, snap, n);
	else
		kt_diag_hint(d, "pass the output of 'ipvsadm-save -n' unchanged");
	kt_ipvs_state_free(st);
	return rc;
}

int kt_dp_ipvsadm_file(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o,
		       struct kt_diag *d)
{
	FILE *f = strcmp(o->ipvsadm, "-") == 0 ? stdin : fopen(o->ipvsadm, "r");
	if (!f) {
		int e = errno;
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot open %s: %s", o->ipvsadm,
				   strerror(e));
	}
	char *buf;
	size_t len;
	kt_read_stream(f, 1 << 16, (size_t)1 << 30, &buf, &len); /* a larger input is truncated */
	if (f != stdin)
		fclose(f);
	int rc = kt_dp_ipvsadm_mem(snap, n, buf, len, o->ipvsadm, d);
	free(buf);
	return rc;
}

/* ---- emit ----------------------------------------------------------- */

static const char *pname(uint8_t p)
{
	return p == 17 ? "UDP" : p == 132 ? "SCTP" : "TCP";
}

static void add_dests(struct kt_snapshot *snap, struct kt_dp_service *s, const struct ipvs_vs *v, bool ext)
{
	int64_t total = 0;
	for (uint32_t i = 0; i < v->n; i++)
		if (v->d[i].weight > 0)
			total += v->d[i].weight;
	for (uint32_t i = 0; i < v->n; i++) {
		const struct ipvs_dest *d = &v->d[i];
		double p = total > 0 && d->weight > 0 ? (double)d->weight / (double)total : 0;
		struct kt_dp_backend *b = kt_dpn_be(snap, s, ext, d->ip, d->port, p);
		b->weight = d->weight;
		b->active_conns = d->active;
		b->inactive_conns = d->inactive;
		if (d->weight == 0)
			b->state = "draining";
	}
}

static bool same_dests(const struct ipvs_vs *a, const struct ipvs_vs *b)
{
	if (a->n != b->n || a->proto != b->proto)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		bool hit = false;
		for (uint32_t j = 0; j < b->n && !hit; j++)
			hit = a->d[i].port == b->d[j].port && strcmp(a->d[i].ip, b->d[j].ip) == 0;
		if (!hit)
			return false;
	}
	return true;
}

static enum kt_fe_kind kind_for(const struct kt_service *sv, const struct kt_svc_port *sp, const struct ipvs_vs *v)
{
	for (uint32_t k = 0; k < sv->n_cluster_ips; k++)
		if (strcmp(sv->cluster_ips[k], v->ip) == 0 && sp->port == v->port)
			return KT_FE_CLUSTERIP;
	for (uint32_t k = 0; k < sv->n_external_ips; k++)
		if (strcmp(sv->external_ips[k], v->ip) == 0)
			return KT_FE_EXTERNALIP;
	for (uint32_t k = 0; k < sv->n_ingress; k++)
		if (sv->ingress[k].ip && strcmp(sv->ingress[k].ip, v->ip) == 0)
			return KT_FE_LOADBALANCER;
	return KT_FE_NODEPORT;
}

static void emit_one(struct kt_ipvs_state *st, struct kt_snapshot *snap, struct kt_dp_node *n, uint32_t i)
{
	struct ipvs_vs *v = &st->v[i];
	uint32_t si = KT_NONE, pi = KT_NONE;
	struct kt_dp_frontend probe = {.ip = v->ip, .port = v->port, .kind = KT_FE_CLUSTERIP};
	bool named = snap->n_services && kt_dp_resolve_fe(snap, &probe, pname(v->proto), &si, &pi);
	if (!named && snap->n_services) {
		probe.kind = KT_FE_NODEPORT;
		named = kt_dp_resolve_fe(snap, &probe, pname(v->proto), &si, &pi);
	}
	struct kt_dp_service *s;
	if (named) {
		const struct kt_service *sv = &snap->services[si];
		const struct kt_svc_port *sp = &sv->ports[pi];
		s = kt_dpn_svc(snap, n, sv->meta.namespace, sv->meta.name, sp->name ? sp->name : "", pname(v->proto),
			       KT_DP_IPVS);
		for (uint32_t j = i; j < st->n; j++) {
			struct ipvs_vs *w = &st->v[j];
			if (w->used || w->proto != v->proto)
				continue;
			uint32_t s2, p2;
			struct kt_dp_frontend pr = {.ip = w->ip, .port = w->port, .kind = KT_FE_CLUSTERIP};
			bool hit = kt_dp_resolve_fe(snap, &pr, pname(w->proto), &s2, &p2);
			if (!hit) {
				pr.kind = KT_FE_NODEPORT;
				hit = kt_dp_resolve_fe(snap, &pr, pname(w->proto), &s2, &p2);
			}
			if (!hit || s2 != si || p2 != pi)
				continue;
			w->used = true;
			enum kt_fe_kind k = kind_for(sv, sp, w);
			bool ext = k != KT_FE_CLUSTERIP;
			kt_dpn_fe(snap, s, k, k == KT_FE_NODEPORT ? "" : w->ip, w->port, ext);
			char key[96];
			snprintf(key, sizeof(key), "%s %s:%d", pname(w->proto), w->ip, w->port);
			kt_dpn_ev(snap, s, KT_DP_IPVS, st->source, NULL, 0, key);
			if (ext && !s->n_ext_be)
				add_dests(snap, s, w, true);
			else if (!ext && !s->n_be)
				add_dests(snap, s, w, false);
			if (w->persistent) {
				s->affinity = true;
				s->affinity_timeout = (int32_t)w->timeout;
			}
			s->scheduler = kt_intern(snap->arena, w->sched);
		}
	} else {
		char nm[96];
		snprintf(nm, sizeof(nm), "%s:%d", v->ip, v->port);
		s = kt_dpn_svc(snap, n, "", nm, "", pname(v->proto), KT_DP_IPVS);
		s->names_guessed = true;
		s->scheduler = kt_intern(snap->arena, v->sched);
		for (uint32_t j = i; j < st->n; j++) {
			struct ipvs_vs *w = &st->v[j];
			if (w->used || !same_dests(v, w))
				continue;
			w->used = true;
			kt_dpn_fe(snap, s, KT_FE_CLUSTERIP, w->ip, w->port, false);
			char key[96];
			snprintf(key, sizeof(key), "%s %s:%d", pname(w->proto), w->ip, w->port);
			kt_dpn_ev(snap, s, KT_DP_IPVS, st->source, NULL, 0, key);
			if (w->persistent) {
				s->affinity = true;
				s->affinity_timeout = (int32_t)w->timeout;
			}
		}
		add_dests(snap, s, v, false);
	}
	v->used = true;
	/* Local policy: external frontends reach a strict subset */
	bool has_ext = false;
	for (uint32_t k = 0; k < s->n_fe; k++)
		has_ext |= s->fe[k].external;
	if (has_ext && !s->n_be && s->n_ext_be) {
		/* no ClusterIP VS seen: treat the external set as the only set */
	}
	if (has_ext && s->n_ext_be < s->n_be) {
		s->local_only = true;
		for (uint32_t a = 0; a < s->n_ext_be; a++) {
			s->ext_be[a].local = true;
			for (uint32_t b = 0; b < s->n_be; b++)
				if (s->be[b].port == s->ext_be[a].port && strcmp(s->be[b].ip, s->ext_be[a].ip) == 0)
					s->be[b].local = true;
		}
	} else if (has_ext) {
		s->masquerade = true; /* kube-proxy marks NodePort/LB traffic for SNAT under Cluster policy */
	}
}

void kt_ipvs_emit(struct kt_ipvs_state *st, struct kt_snapshot *snap, struct kt_dp_node *n)
{
	if (st->capped)
		kt_dpn_note(snap, n, "ipvs: virtual service or destination cap hit; state is incomplete");
	for (uint32_t i = 0; i < st->n; i++)
		if (!st->v[i].used)
			emit_one(st, snap, n, i);
}

/* ---- live ----------------------------------------------------------- */

struct fam_ctx {
	uint16_t id;
};

static int fam_cb(const void *nlh, void *ctx)
{
	const struct nlmsghdr *h = nlh;
	struct fam_ctx *c = ctx;
	if (h->nlmsg_type != GENL_ID_CTRL || h->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return 0;
	struct kt_nla a[CTRL_ATTR_FAMILY_NAME + 1];
	parse_attrs((const uint8_t *)h + NLMSG_HDRLEN + GENL_HDRLEN, h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, a,
		    CTRL_ATTR_FAMILY_NAME);
	c->id = a16(&a[CTRL_ATTR_FAMILY_ID]);
	return 0;
}

struct buf_ctx {
	struct kt_ipvs_state *st;
	uint16_t id;
};

static int dump_cb(const void *nlh, void *ctx)
{
	const struct nlmsghdr *h = nlh;
	struct buf_ctx *c = ctx;
	return kt_ipvs_decode(c->st, h, h->nlmsg_len, c->id) < 0 ? -1 : 0;
}

static size_t put_attr(uint8_t *p, uint16_t type, const void *data, uint16_t len)
{
	uint16_t al = (uint16_t)(4 + len);
	memcpy(p, &al, 2);
	memcpy(p + 2, &type, 2);
	if (len)
		memcpy(p + 4, data, len);
	return NLA_ALIGN(al);
}

int kt_dp_ipvs(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	char err[512];
	struct kt_nl *nl = kt_nl_open(NETLINK_GENERIC, err, sizeof(err));
	if (!nl)
		return 0;
	uint8_t req[512];
	memset(req, 0, sizeof(req));
	struct nlmsghdr *h = (void *)req;
	h->nlmsg_type = GENL_ID_CTRL;
	h->nlmsg_flags = NLM_F_REQUEST;
	req[NLMSG_HDRLEN] = CTRL_CMD_GETFAMILY;
	req[NLMSG_HDRLEN + 1] = 1;
	size_t len = NLMSG_HDRLEN + GENL_HDRLEN;
	len += put_attr(req + len, CTRL_ATTR_FAMILY_NAME, "IPVS", 5);
	struct fam_ctx fc = {0};
	if (kt_nl_dump(nl, req, len, fam_cb, NULL, &fc, err, sizeof(err)) < 0 || !fc.id) {
		kt_nl_close(nl); /* no IPVS in this kernel: nothing to report */
		return 0;
	}
	struct kt_ipvs_state *svcs = kt_ipvs_state_new();
	memset(req, 0, sizeof(req));
	h->nlmsg_type = fc.id;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req[NLMSG_HDRLEN] = 4; /* IPVS_CMD_GET_SERVICE */
	req[NLMSG_HDRLEN + 1] = 1;
	len = NLMSG_HDRLEN + GENL_HDRLEN;
	struct buf_ctx bc = {svcs, fc.id};
	if (kt_nl_dump(nl, req, len, dump_cb, NULL, &bc, err, sizeof(err)) < 0) {
		kt_snapshot_gap(snap, "ipvs services", "%s", err);
		kt_ipvs_state_free(svcs);
		kt_nl_close(nl);
		return -1;
	}
	/* destinations: one dump per service, replies decoded after the service */
	struct kt_ipvs_state *st = kt_ipvs_state_new();
	for (uint32_t i = 0; i < svcs->n; i++) {
		struct ipvs_vs *v = &svcs->v[i];
		struct ipvs_vs *c = vs_add(st);
		if (!c)
			break;
		*c = *v;
		c->d = NULL;
		c->n = c->cap = 0;
		uint8_t nest[128];
		size_t nl2 = 0;
		uint16_t af = strchr(v->ip, ':') ? AF_INET6 : AF_INET;
		nl2 += put_attr(nest + nl2, 1, &af, 2);
		if (v->fwmark) {
			nl2 += put_attr(nest + nl2, 5, &v->fwmark, 4);
		} else {
			uint16_t proto = v->proto;
			uint8_t addr[16] = {0};
			inet_pton(af, v->ip, addr);
			uint16_t port = htons((uint16_t)v->port);
			nl2 += put_attr(nest + nl2, 2, &proto, 2);
			nl2 += put_attr(nest + nl2, 3, addr, 16);
			nl2 += put_attr(nest + nl2, 4, &port, 2);
		}
		memset(req, 0, sizeof(req));
		h->nlmsg_type = fc.id;
		h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req[NLMSG_HDRLEN] = 8; /* IPVS_CMD_GET_DEST */
		req[NLMSG_HDRLEN + 1] = 1;
		len = NLMSG_HDRLEN + GENL_HDRLEN;
		len += put_attr(req + len, 1 | NLA_F_NESTED, nest, (uint16_t)nl2);
		bc.st = st;
		if (kt_nl_dump(nl, req, len, dump_cb, NULL, &bc, err, sizeof(err)) < 0)
			kt_snapshot_gap(snap, "ipvs destinations", "%s:%d: %s", v->ip, v->port, err);
	}
	if (st->n)
		kt_ipvs_emit(st, snap, n);
	kt_ipvs_state_free(st);
	kt_ipvs_state_free(svcs);
	kt_nl_close(nl);
	return 0;
}
