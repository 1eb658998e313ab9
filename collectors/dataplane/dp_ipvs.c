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

#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <netlink/genl/genl.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"
#include "ktrace/fileio.h"
#include "ktrace/xalloc.h"

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
	uint32_t flags;          /* IP_VS_SVC_F_* (sched flags 0x8 / 0x10) */
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
	struct kt_ipvs_state *st = kt_xcalloc(1, sizeof(*st));
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
		st->v = kt_xreallocarray(st->v, st->cap, sizeof(*st->v));
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
		v->d = kt_xreallocarray(v->d, v->cap, sizeof(*v->d));
	}
	st->n_dests++;
	struct ipvs_dest *d = &v->d[v->n++];
	memset(d, 0, sizeof(*d));
	return d;
}

/* ---- generic netlink decoding --------------------------------------- */

/* Attribute policies (uapi linux/ip_vs.h); libnl's genlmsg_parse and
 * nla_parse_nested validate lengths, a service or destination that fails
 * is skipped. */
static const struct nla_policy cmd_policy[IPVS_CMD_ATTR_MAX + 1] = {
	[IPVS_CMD_ATTR_SERVICE] = {.type = NLA_NESTED},
	[IPVS_CMD_ATTR_DEST] = {.type = NLA_NESTED},
};
static const struct nla_policy svc_policy[IPVS_SVC_ATTR_MAX + 1] = {
	[IPVS_SVC_ATTR_AF] = {.type = NLA_U16},
	[IPVS_SVC_ATTR_PROTOCOL] = {.type = NLA_U16},
	[IPVS_SVC_ATTR_ADDR] = {.type = NLA_UNSPEC, .minlen = 4},
	[IPVS_SVC_ATTR_PORT] = {.type = NLA_U16},
	[IPVS_SVC_ATTR_FWMARK] = {.type = NLA_U32},
	[IPVS_SVC_ATTR_SCHED_NAME] = {.type = NLA_STRING},
	[IPVS_SVC_ATTR_FLAGS] = {.type = NLA_UNSPEC, .minlen = 4},
	[IPVS_SVC_ATTR_TIMEOUT] = {.type = NLA_U32},
};
static const struct nla_policy dest_policy[IPVS_DEST_ATTR_MAX + 1] = {
	[IPVS_DEST_ATTR_ADDR] = {.type = NLA_UNSPEC, .minlen = 4},
	[IPVS_DEST_ATTR_PORT] = {.type = NLA_U16},
	[IPVS_DEST_ATTR_FWD_METHOD] = {.type = NLA_U32},
	[IPVS_DEST_ATTR_WEIGHT] = {.type = NLA_U32},
	[IPVS_DEST_ATTR_ACTIVE_CONNS] = {.type = NLA_U32},
	[IPVS_DEST_ATTR_INACT_CONNS] = {.type = NLA_U32},
	[IPVS_DEST_ATTR_ADDR_FAMILY] = {.type = NLA_U16},
};

static uint32_t a32(const struct nlattr *a)
{
	uint32_t v = 0;
	if (a && nla_len(a) >= 4)
		memcpy(&v, nla_data(a), 4);
	return v;
}

static uint16_t a16(const struct nlattr *a)
{
	return a && nla_len(a) >= 2 ? nla_get_u16(a) : 0;
}

static void a_addr(const struct nlattr *a, uint16_t af, char *out, size_t n)
{
	out[0] = 0;
	if (!a || nla_len(a) < (af == AF_INET6 ? 16 : 4))
		return;
	if (!inet_ntop(af == AF_INET6 ? AF_INET6 : AF_INET, nla_data(a), out, (socklen_t)n))
		out[0] = 0;
}

static void decode_service(struct kt_ipvs_state *st, struct nlattr *nest)
{
	struct nlattr *a[IPVS_SVC_ATTR_MAX + 1];
	if (nla_parse_nested(a, IPVS_SVC_ATTR_MAX, nest, svc_policy) < 0)
		return;
	struct ipvs_vs *v = vs_add(st);
	if (!v)
		return;
	uint16_t af = a16(a[IPVS_SVC_ATTR_AF]);
	v->proto = (uint8_t)a16(a[IPVS_SVC_ATTR_PROTOCOL]);
	a_addr(a[IPVS_SVC_ATTR_ADDR], af, v->ip, sizeof(v->ip));
	v->port = ntohs(a16(a[IPVS_SVC_ATTR_PORT]));
	v->fwmark = a32(a[IPVS_SVC_ATTR_FWMARK]);
	if (a[IPVS_SVC_ATTR_SCHED_NAME])
		snprintf(v->sched, sizeof(v->sched), "%s", nla_get_string(a[IPVS_SVC_ATTR_SCHED_NAME]));
	if (a[IPVS_SVC_ATTR_FLAGS]) {
		v->flags = a32(a[IPVS_SVC_ATTR_FLAGS]);
		v->persistent = v->flags & 1; /* IP_VS_SVC_F_PERSISTENT */
	}
	v->timeout = a32(a[IPVS_SVC_ATTR_TIMEOUT]);
}

static void decode_dest(struct kt_ipvs_state *st, struct nlattr *nest)
{
	if (!st->n)
		return; /* a destination without a service before it */
	struct ipvs_vs *v = &st->v[st->n - 1];
	struct nlattr *a[IPVS_DEST_ATTR_MAX + 1];
	if (nla_parse_nested(a, IPVS_DEST_ATTR_MAX, nest, dest_policy) < 0)
		return;
	struct ipvs_dest *d = dest_add(st, v);
	if (!d)
		return;
	uint16_t af = a[IPVS_DEST_ATTR_ADDR_FAMILY] ? a16(a[IPVS_DEST_ATTR_ADDR_FAMILY])
						     : (strchr(v->ip, ':') ? AF_INET6 : AF_INET);
	a_addr(a[IPVS_DEST_ATTR_ADDR], af, d->ip, sizeof(d->ip));
	d->port = ntohs(a16(a[IPVS_DEST_ATTR_PORT]));
	d->fwd = a32(a[IPVS_DEST_ATTR_FWD_METHOD]) & 7;
	d->weight = (int32_t)a32(a[IPVS_DEST_ATTR_WEIGHT]);
	d->active = a32(a[IPVS_DEST_ATTR_ACTIVE_CONNS]);
	d->inactive = a32(a[IPVS_DEST_ATTR_INACT_CONNS]);
	if (!d->ip[0])
		v->n--; /* unusable */
}

struct dec_ctx {
	struct kt_ipvs_state *st;
	uint16_t id;
};

/* One IPVS genl message: a service (GET_SERVICE reply, cmd NEW_SERVICE) or
 * a destination (GET_DEST reply, cmd NEW_DEST). */
static int decode_msg(struct nl_msg *msg, void *ctx)
{
	struct dec_ctx *c = ctx;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *top[IPVS_CMD_ATTR_MAX + 1];
	if (h->nlmsg_type != c->id || !genlmsg_valid_hdr(h, 0) ||
	    genlmsg_parse(h, 0, top, IPVS_CMD_ATTR_MAX, cmd_policy) < 0)
		return 0;
	uint8_t cmd = ((const struct genlmsghdr *)nlmsg_data(h))->cmd;
	if (cmd == IPVS_CMD_NEW_SERVICE && top[IPVS_CMD_ATTR_SERVICE])
		decode_service(c->st, top[IPVS_CMD_ATTR_SERVICE]);
	else if (cmd == IPVS_CMD_NEW_DEST && top[IPVS_CMD_ATTR_DEST])
		decode_dest(c->st, top[IPVS_CMD_ATTR_DEST]);
	return 0;
}

int kt_ipvs_decode(struct kt_ipvs_state *st, const void *buf, size_t len, uint16_t family_id)
{
	struct dec_ctx c = {st, family_id};
	int rc = kt_nl_feed(NETLINK_GENERIC, buf, len, decode_msg, &c, NULL);
	return rc == -EPROTO ? -1 : 0;
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

/* ipvsadm -b: "sh-fallback,sh-port", "mh-port", "flag-1,flag-2" */
static uint32_t sched_flags(const char *a)
{
	static const struct {
		const char *name;
		uint32_t flag;
	} m[] = {{"sh-fallback", IP_VS_SVC_F_SCHED1}, {"mh-fallback", IP_VS_SVC_F_SCHED1}, {"flag-1", IP_VS_SVC_F_SCHED1},
		 {"sh-port", IP_VS_SVC_F_SCHED2},     {"mh-port", IP_VS_SVC_F_SCHED2},     {"flag-2", IP_VS_SVC_F_SCHED2},
		 {"flag-3", IP_VS_SVC_F_SCHED3}};
	uint32_t f = 0;
	for (const char *p = a; *p;) {
		size_t l = strcspn(p, ",");
		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
			if (strlen(m[i].name) == l && strncmp(p, m[i].name, l) == 0)
				f |= m[i].flag;
		p += l;
		if (*p == ',')
			p++;
	}
	return f;
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
		uint32_t fwmark = 0, timeout = 0, flags = 0;
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
			} else if (strcmp(k, "-b") == 0 && a) {
				flags |= sched_flags(a);
				i++;
			} else if ((strcmp(k, "-M") == 0 || strcmp(k, "--pe") == 0 || strcmp(k, "--tun-type") == 0 ||
				    strcmp(k, "--tun-port") == 0) && a) {
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
			v->flags = flags | (persistent ? 1u : 0u);
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

/* What the scheduler makes of the weights (kernel net/netfilter/ipvs/
 * ip_vs_*.c): rr takes the usable real servers in turn, wrr and fo follow
 * the weights, lc/wlc/lblc/lblcr/sed/nq/ovf/twos pick by open connections,
 * sh/dh/mh by a hash of the packet. */
static void sched_semantics(struct kt_dp_service *s, const struct ipvs_vs *v)
{
	static const char *const by_weight[] = {"rr", "wrr", "fo", NULL};
	static const char *const by_hash[] = {"sh", "dh", "mh", NULL};
	s->share_basis = KT_SHARE_CONNECTIONS;
	for (const char *const *p = by_weight; *p; p++)
		if (strcmp(v->sched, *p) == 0)
			s->share_basis = KT_SHARE_WEIGHT;
	for (const char *const *p = by_hash; *p; p++)
		if (strcmp(v->sched, *p) == 0)
			s->share_basis = KT_SHARE_HASH;
	/* sh and mh hash the source address, plus its port with the sh-port /
	 * mh-port flag (IP_VS_SVC_F_SCHED2; kube-proxy sets it for mh) */
	s->source_hash = (strcmp(v->sched, "sh") == 0 || strcmp(v->sched, "mh") == 0) && !(v->flags & IP_VS_SVC_F_SCHED2);
}

/* True shares for the weight-driven schedulers; the weight share (the
 * JSON's weightShare) for the others. */
static void add_dests(struct kt_snapshot *snap, struct kt_dp_service *s, const struct ipvs_vs *v, bool ext)
{
	int64_t total = 0, top = 0;
	uint32_t usable = 0, first_top = UINT32_MAX;
	for (uint32_t i = 0; i < v->n; i++)
		if (v->d[i].weight > 0) {
			total += v->d[i].weight;
			usable++;
			if (v->d[i].weight > top) {
				top = v->d[i].weight;
				first_top = i;
			}
		}
	bool rr = strcmp(v->sched, "rr") == 0, fo = strcmp(v->sched, "fo") == 0;
	for (uint32_t i = 0; i < v->n; i++) {
		const struct ipvs_dest *d = &v->d[i];
		double p = total > 0 && d->weight > 0 ? (double)d->weight / (double)total : 0;
		if (rr && d->weight > 0)
			p = 1.0 / usable; /* round robin ignores the weights but 0 */
		if (fo)
			p = i == first_top ? 1.0 : 0; /* weighted failover: the highest weight takes all */
		struct kt_dp_backend *b = kt_dpbuild_be(snap, s, ext, d->ip, d->port, p);
		b->weight = d->weight;
		b->active_conns = d->active;
		b->inactive_conns = d->inactive;
		if (d->weight == 0)
			b->state = "draining";
	}
}

/* reject when no real server can take a new connection */
static void vs_action(struct kt_snapshot *snap, struct kt_dp_service *s, enum kt_fe_kind k, const char *ip,
		      const struct ipvs_vs *v)
{
	struct kt_dp_frontend *f = kt_dpbuild_fe_find(s, k, ip, v->port);
	uint32_t usable = 0;
	for (uint32_t i = 0; i < v->n; i++)
		usable += v->d[i].weight > 0;
	if (!v->n)
		kt_dpbuild_fe_action(snap, f, KT_DP_REJECT, "no real servers");
	else if (!usable)
		kt_dpbuild_fe_action(snap, f, KT_DP_REJECT, "every real server has weight 0 (draining)");
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

static void vs_common(struct kt_ipvs_state *st, struct kt_snapshot *snap, struct kt_dp_service *s, struct ipvs_vs *w)
{
	char key[96];
	snprintf(key, sizeof(key), "%s %s:%d", pname(w->proto), w->ip, w->port);
	kt_dpbuild_ev(snap, s, KT_DP_IPVS, st->source, NULL, 0, key);
	if (w->persistent) {
		s->affinity = true;
		s->affinity_timeout = (int32_t)w->timeout;
	}
	if (!s->scheduler) {
		s->scheduler = kt_intern(snap->arena, w->sched);
		sched_semantics(s, w);
	} else if (strcmp(s->scheduler, w->sched) != 0) {
		kt_dpbuild_svc_note(snap, s, "virtual services of this port use different schedulers (%s, %s)", s->scheduler,
				    w->sched);
	}
	w->used = true;
}

/* The Service port a virtual service belongs to (API objects). */
static bool vs_port(const struct kt_snapshot *snap, const struct ipvs_vs *v, uint32_t *si, uint32_t *pi)
{
	struct kt_dp_frontend probe = {.ip = v->ip, .port = v->port, .kind = KT_FE_CLUSTERIP};
	if (!snap->n_services)
		return false;
	if (kt_dp_resolve_fe(snap, &probe, pname(v->proto), si, pi))
		return true;
	probe.kind = KT_FE_NODEPORT;
	return kt_dp_resolve_fe(snap, &probe, pname(v->proto), si, pi);
}

static void emit_one(struct kt_ipvs_state *st, struct kt_snapshot *snap, struct kt_dp_node *n, uint32_t i)
{
	struct ipvs_vs *v = &st->v[i];
	uint32_t si = KT_NONE, pi = KT_NONE;
	struct kt_dp_service *s;
	if (vs_port(snap, v, &si, &pi)) {
		const struct kt_service *sv = &snap->services[si];
		const struct kt_svc_port *sp = &sv->ports[pi];
		s = kt_dpbuild_svc(snap, n, sv->meta.namespace, sv->meta.name, sp->name ? sp->name : "", pname(v->proto),
			       KT_DP_IPVS);
		for (uint32_t j = i; j < st->n; j++) {
			struct ipvs_vs *w = &st->v[j];
			uint32_t s2, p2;
			if (w->used || w->proto != v->proto || !vs_port(snap, w, &s2, &p2) || s2 != si || p2 != pi)
				continue;
			enum kt_fe_kind k = kind_for(sv, sp, w);
			bool ext = k != KT_FE_CLUSTERIP;
			/* NodePorts keep their address: one virtual service per node address */
			kt_dpbuild_fe(snap, s, k, w->ip, w->port, ext);
			vs_action(snap, s, k, w->ip, w);
			if (ext && !s->n_ext_be)
				add_dests(snap, s, w, true);
			else if (!ext && !s->n_be)
				add_dests(snap, s, w, false);
			vs_common(st, snap, s, w);
		}
	} else {
		/* no API objects: virtual services with the same port and real
		 * servers (ClusterIP and external IPs of one port), kinds guessed */
		char nm[96];
		snprintf(nm, sizeof(nm), "%s:%d", v->ip, v->port);
		s = kt_dpbuild_svc(snap, n, "", nm, "", pname(v->proto), KT_DP_IPVS);
		s->names_guessed = true;
		for (uint32_t j = i; j < st->n; j++) {
			struct ipvs_vs *w = &st->v[j];
			if (w->used || w->port != v->port || !same_dests(v, w) || (!v->n && strcmp(w->ip, v->ip) != 0))
				continue;
			struct kt_dp_frontend *f = kt_dpbuild_fe(snap, s, KT_FE_CLUSTERIP, w->ip, w->port, false);
			f->kind_guessed = true;
			vs_action(snap, s, KT_FE_CLUSTERIP, w->ip, w);
			vs_common(st, snap, s, w);
		}
		add_dests(snap, s, v, false);
	}
	v->used = true;
	/* Local policy: external frontends reach a strict subset */
	bool has_ext = false;
	for (uint32_t k = 0; k < s->n_fe; k++)
		has_ext |= s->fe[k].external;
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
		kt_dpbuild_note(snap, n, "ipvs: virtual service or destination cap hit; state is incomplete");
	for (uint32_t i = 0; i < st->n; i++)
		if (!st->v[i].used)
			emit_one(st, snap, n, i);
}

/* ---- live ----------------------------------------------------------- */

static struct nl_msg *genl_req(uint16_t family, uint8_t cmd)
{
	struct nl_msg *m = nlmsg_alloc();
	if (!m || !genlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_DUMP, cmd, IPVS_GENL_VERSION))
		kt_oom();
	return m;
}

/* The GET_DEST request of one virtual service (the service's key). */
static struct nl_msg *dest_req(uint16_t family, const struct ipvs_vs *v)
{
	struct nl_msg *m = genl_req(family, IPVS_CMD_GET_DEST);
	struct nlattr *nest = nla_nest_start(m, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED);
	uint16_t af = strchr(v->ip, ':') ? AF_INET6 : AF_INET;
	int r = nla_put_u16(m, IPVS_SVC_ATTR_AF, af);
	if (v->fwmark) {
		r |= nla_put_u32(m, IPVS_SVC_ATTR_FWMARK, v->fwmark);
	} else {
		uint8_t addr[16] = {0};
		inet_pton(af, v->ip, addr);
		r |= nla_put_u16(m, IPVS_SVC_ATTR_PROTOCOL, v->proto);
		r |= nla_put(m, IPVS_SVC_ATTR_ADDR, 16, addr);
		r |= nla_put_u16(m, IPVS_SVC_ATTR_PORT, htons((uint16_t)v->port));
	}
	if (!nest || r < 0)
		kt_oom();
	nla_nest_end(m, nest);
	return m;
}

int kt_dp_ipvs(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	char err[512];
	struct kt_nl *nl = kt_nl_open(NETLINK_GENERIC, NULL, err, sizeof(err));
	if (!nl)
		return 0;
	int id = kt_nl_genl_family(nl, IPVS_GENL_NAME);
	if (!id) {
		kt_nl_close(nl); /* no IPVS in this kernel: nothing to report */
		return 0;
	}
	struct kt_ipvs_state *svcs = kt_ipvs_state_new();
	struct nl_msg *req = genl_req((uint16_t)id, IPVS_CMD_GET_SERVICE);
	struct dec_ctx dc = {svcs, (uint16_t)id};
	int rc = kt_nl_request(nl, req, decode_msg, NULL, &dc, err, sizeof(err));
	nlmsg_free(req);
	if (rc != 0) {
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
		req = dest_req((uint16_t)id, v);
		dc.st = st;
		if (kt_nl_request(nl, req, decode_msg, NULL, &dc, err, sizeof(err)) != 0)
			kt_snapshot_gap(snap, "ipvs destinations", "%s:%d: %s", v->ip, v->port, err);
		nlmsg_free(req);
	}
	if (st->n)
		kt_ipvs_emit(st, snap, n);
	kt_ipvs_state_free(st);
	kt_ipvs_state_free(svcs);
	kt_nl_close(nl);
	return 0;
}
