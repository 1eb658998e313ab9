/*
 * Connection imbalance: joins a node's flow aggregates to Services and
 * their backends, computes per-backend shares against the fair share and
 * the spread metrics (max/mean, coefficient of variation, Gini), flags hot
 * and starved backends and picks a verdict (KT403 > KT404/KT401 > KT402).
 * Frontends and backends come from the node dataplane model when it has
 * the Service, else from the API (ClusterIPs, NodePorts, external and LB
 * IPs; EndpointSlices). Pure: no I/O, results in the caller's arena.
 * About 1,100 lines kept in one file: the steps (frontend index, flow
 * join, per-Service totals, backend shares, spread, flags, verdict) share
 * one private context and are each a short function; splitting the file
 * would only export that context. Several nodes (--nodes) are
 * imbalance_nodes.c's.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ktrace/analyze.h"
#include "ktrace/dataplane.h"
#include "ktrace/imbalance.h"
#include "ktrace/xalloc.h"

/* Growable arrays local to one analysis (malloc'd, freed at the end). */
#define VEC_PUSH(arr, n, cap)                                                          \
	((n) >= (cap) ? ((cap) = (cap) ? (cap) * 2 : 16,                               \
			 (arr) = kt_xreallocarray((arr), (cap), sizeof(*(arr))), &(arr)[(n)++]) \
		      : &(arr)[(n)++])

struct fe {
	const char *ip;          /* NULL/"": any local address (NodePort) */
	int32_t port;
	const char *proto;
	uint32_t grp;
	uint32_t pg;             /* port group */
	uint8_t alen;            /* 4 or 16: addr holds ip; 0: no address (or not one) */
	unsigned char addr[16];  /* sorted by (port, alen, addr): one IPv6 address, any spelling */
};

struct be {
	const char *ip;
	int32_t port;
	uint32_t pg;
	double weight;           /* dataplane probability or 0 */
	bool eligible;
	bool local;
	bool known;
	const struct kt_endpoint *ep;
	/* accumulated */
	uint32_t est, total, newc;
	uint64_t bin, bout, dbytes, din, dout;
	bool have_new;
	/* conntrack event mode: byte rates of its aggregates known (measured
	 * between two full dumps) / not known (one dump so far, or a key new
	 * since the last dump) */
	bool have_bytes_rate, bytes_rate_unknown;
	unsigned flags;
	/* inet_diag sockets of this node for this backend */
	bool has_sk;
	uint32_t sk_est, sk_total;
	uint64_t sk_bin, sk_bout;
	double sk_rtt_sum;
	uint32_t sk_rtt_n;
	uint32_t *node_est;      /* o->split_name's backends: open connections per node (result arena) */
};

struct grp {
	const char *ns, *name;
	uint32_t svc;
	const char *mode;
	uint32_t n_fe;
	struct be *be;
	uint32_t n_be, cap_be;
	uint32_t npg;            /* port groups */
	uint32_t *pg_conns;      /* per port group, filled late */
	uint32_t nat_aggs;       /* aggregates from NAT sources */
	bool affinity;
	bool long_lived_port;
	bool used;
	bool bytes_unknown;      /* event sample without any known byte rate */
	uint32_t o1m, o10m, o1h;
};

struct ctx {
	const struct kt_snapshot *s;
	struct grp *g;
	uint32_t n_g, cap_g;
	uint32_t *gix;           /* open addressing over g by (ns, name); UINT32_MAX empty */
	uint32_t gix_cap;        /* a power of two, kept above twice n_g */
	struct fe *fe;
	uint32_t n_fe, cap_fe;
	uint32_t *node_conns;    /* o->agg_node: open connections per node (result's) */
	uint32_t n_nodes;
	struct grp *split;       /* o->split_name's group: per-node counts of its backends */
	struct kt_arena *a;      /* the result's */
	/* the last frontend looked up (aggregates of one frontend come together) */
	const char *last_vip, *last_proto;
	int32_t last_vport;
	const struct fe *last_fe;
};

static int scmp(const char *a, const char *b)
{
	if (!a)
		a = "";
	if (!b)
		b = "";
	return strcmp(a, b);
}

static bool seq(const char *a, const char *b)
{
	return scmp(a, b) == 0;
}

static int ip_cmp(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = 0, fb = 0;
	if (a && inet_pton(AF_INET, a, x) == 1)
		fa = 4;
	else if (a && inet_pton(AF_INET6, a, x) == 1)
		fa = 16;
	if (b && inet_pton(AF_INET, b, y) == 1)
		fb = 4;
	else if (b && inet_pton(AF_INET6, b, y) == 1)
		fb = 16;
	if (fa && fb) {
		if (fa != fb)
			return fa < fb ? -1 : 1;
		return memcmp(x, y, (size_t)fa);
	}
	return scmp(a, b);
}

static bool ip_eq(const char *a, const char *b)
{
	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (strcmp(a, b) == 0)
		return true;
	/* different spellings of one IPv6 address */
	return strchr(a, ':') && strchr(b, ':') && ip_cmp(a, b) == 0;
}

static uint32_t grp_hash(const char *ns, const char *name)
{
	return (uint32_t)kt_hash_str(kt_hash_str(KT_HASH_SEED, ns ? ns : ""), name ? name : "");
}

/* The slot of (ns, name) in the group index: its group's or an empty one. */
static uint32_t *grp_slot(const struct ctx *c, const char *ns, const char *name)
{
	uint32_t m = c->gix_cap - 1;
	for (uint32_t j = grp_hash(ns, name) & m;; j = (j + 1) & m) {
		uint32_t gi = c->gix[j];
		if (gi == UINT32_MAX || (seq(c->g[gi].ns, ns) && seq(c->g[gi].name, name)))
			return &c->gix[j];
	}
}

static void grp_index_grow(struct ctx *c)
{
	free(c->gix);
	c->gix_cap = c->gix_cap ? c->gix_cap * 2 : 256;
	c->gix = kt_xreallocarray(NULL, c->gix_cap, sizeof(*c->gix));
	memset(c->gix, 0xff, sizeof(*c->gix) * c->gix_cap);
	for (uint32_t i = 0; i < c->n_g; i++)
		*grp_slot(c, c->g[i].ns, c->g[i].name) = i;
}

static uint32_t grp_get(struct ctx *c, const char *ns, const char *name)
{
	if ((c->n_g + 1) * 2 > c->gix_cap)
		grp_index_grow(c);
	uint32_t *slot = grp_slot(c, ns, name);
	if (*slot != UINT32_MAX)
		return *slot;
	struct grp *g = VEC_PUSH(c->g, c->n_g, c->cap_g);
	memset(g, 0, sizeof(*g));
	g->ns = ns;
	g->name = name;
	g->svc = kt_find_service(c->s, ns, name);
	*slot = c->n_g - 1;
	return c->n_g - 1;
}

static struct be *be_find(struct grp *g, const char *ip, int32_t port)
{
	for (uint32_t i = 0; i < g->n_be; i++)
		if (g->be[i].port == port && ip_eq(g->be[i].ip, ip))
			return &g->be[i];
	return NULL;
}

static struct be *be_add(struct grp *g, const char *ip, int32_t port, uint32_t pg)
{
	struct be *b = be_find(g, ip, port);
	if (b)
		return b;
	b = VEC_PUSH(g->be, g->n_be, g->cap_be);
	memset(b, 0, sizeof(*b));
	b->ip = ip;
	b->port = port;
	b->pg = pg;
	return b;
}

/* An address in binary (4 or 16 bytes); 0 when s is none. */
static uint8_t addr_parse(const char *s, unsigned char *a)
{
	if (!s || !*s)
		return 0;
	if (inet_pton(AF_INET, s, a) == 1)
		return 4;
	if (strchr(s, ':') && inet_pton(AF_INET6, s, a) == 1)
		return 16;
	return 0;
}

static void fe_add(struct ctx *c, const char *ip, int32_t port, const char *proto, uint32_t grp,
		   uint32_t pg)
{
	if (port <= 0)
		return;
	struct fe *f = VEC_PUSH(c->fe, c->n_fe, c->cap_fe);
	f->ip = ip && *ip ? ip : NULL;
	f->alen = addr_parse(f->ip, f->addr);
	f->port = port;
	f->proto = proto && *proto ? proto : "TCP";
	f->grp = grp;
	f->pg = pg;
	c->g[grp].n_fe++;
}

static bool long_lived_name(const char *s)
{
	if (!s)
		return false;
	return strstr(s, "grpc") || strstr(s, "h2") || strstr(s, "http2") || strstr(s, "GRPC");
}

/* The EndpointSlice row of a Service for ip:port, or NULL. */
static const struct kt_endpoint *ep_lookup(const struct kt_snapshot *s, uint32_t svc, const char *ip,
					   int32_t port)
{
	if (svc == KT_NONE)
		return NULL;
	const struct kt_service *sv = &s->services[svc];
	const struct kt_endpoint *any = NULL;
	for (uint32_t i = sv->ep_first; i < sv->ep_first + sv->ep_count; i++) {
		const struct kt_endpoint *e = &s->endpoints[i];
		if (!ip_eq(e->ip, ip))
			continue;
		if (e->port == port)
			return e;
		if (!any)
			any = e;
	}
	return any;
}

static void from_dataplane(struct ctx *c, const struct kt_dp_node *dn, const struct kt_imb_opts *o)
{
	for (uint32_t i = 0; i < dn->n_svcs; i++) {
		const struct kt_dp_service *ds = &dn->svcs[i];
		if (o->name && (!seq(ds->namespace, o->ns) || !seq(ds->name, o->name)))
			continue;
		uint32_t gi = grp_get(c, ds->namespace, ds->name);
		struct grp *g = &c->g[gi];
		uint32_t pg = g->npg++;
		const char *mode = kt_dp_mode_name(ds->mode);
		if (!g->mode)
			g->mode = mode;
		else if (!strstr(g->mode, mode))
			g->mode = "mixed";
		if (ds->affinity)
			g->affinity = true;
		if (long_lived_name(ds->port_name))
			g->long_lived_port = true;
		for (uint32_t j = 0; j < ds->n_be; j++) {
			const struct kt_dp_backend *db = &ds->be[j];
			struct be *b = be_add(&c->g[gi], db->ip, db->port, pg);
			b->weight = db->probability > 0 ? db->probability : (db->weight > 0 ? db->weight : 0);
			b->eligible = true;
			b->known = true;
			b->local = db->local;
		}
		for (uint32_t j = 0; j < ds->n_ext_be; j++) {
			const struct kt_dp_backend *db = &ds->ext_be[j];
			struct be *b = be_add(&c->g[gi], db->ip, db->port, pg);
			b->eligible = true;
			b->known = true;
			b->local = db->local;
		}
		for (uint32_t j = 0; j < ds->n_fe; j++) {
			const struct kt_dp_frontend *f = &ds->fe[j];
			if (f->kind == KT_FE_HEALTHCHECK)
				continue;
			fe_add(c, f->ip, f->port, f->protocol ? f->protocol : ds->protocol, gi, pg);
		}
	}
}

static bool grp_has(struct ctx *c, const char *ns, const char *name)
{
	return c->gix_cap && *grp_slot(c, ns, name) != UINT32_MAX;
}

static void from_api(struct ctx *c, const struct kt_imb_opts *o)
{
	const struct kt_snapshot *s = c->s;
	for (uint32_t i = 0; i < s->n_services; i++) {
		const struct kt_service *sv = &s->services[i];
		if (o->name && (!seq(sv->meta.namespace, o->ns) || !seq(sv->meta.name, o->name)))
			continue;
		if (sv->type == KT_SVC_EXTERNALNAME)
			continue;
		if (grp_has(c, sv->meta.namespace, sv->meta.name))
			continue;   /* the dataplane knows it better */
		uint32_t gi = grp_get(c, sv->meta.namespace, sv->meta.name);
		c->g[gi].mode = "api";
		c->g[gi].affinity = sv->affinity_client_ip;
		for (uint32_t p = 0; p < sv->n_ports; p++) {
			const struct kt_svc_port *sp = &sv->ports[p];
			uint32_t pg = c->g[gi].npg++;
			if (long_lived_name(sp->app_protocol) || long_lived_name(sp->name))
				c->g[gi].long_lived_port = true;
			if (!sv->headless)
				for (uint32_t k = 0; k < sv->n_cluster_ips; k++)
					fe_add(c, sv->cluster_ips[k], sp->port, sp->protocol, gi, pg);
			if (sp->node_port)
				fe_add(c, NULL, sp->node_port, sp->protocol, gi, pg);
			for (uint32_t k = 0; k < sv->n_external_ips; k++)
				fe_add(c, sv->external_ips[k], sp->port, sp->protocol, gi, pg);
			for (uint32_t k = 0; k < sv->n_ingress; k++)
				if (sv->ingress[k].ip)
					fe_add(c, sv->ingress[k].ip, sp->port, sp->protocol, gi, pg);
			for (uint32_t e = sv->ep_first; e < sv->ep_first + sv->ep_count; e++) {
				const struct kt_endpoint *ep = &s->endpoints[e];
				if (!seq(ep->port_name, sp->name) && sv->n_ports > 1)
					continue;
				if (!ep->ip || ep->port <= 0)
					continue;
				struct be *b = be_add(&c->g[gi], ep->ip, ep->port, pg);
				b->known = true;
				b->eligible = ep->ready && !ep->terminating;
			}
		}
	}
}

/* (port, address): entries without an address (a NodePort on any
 * address, or text that is no address) first within a port. */
struct fe_key {
	int32_t port;
	uint8_t alen;
	const unsigned char *addr;
	const char *ip;
};

static int fe_key_cmp(const void *key, const void *elem, void *ctx)
{
	const struct fe_key *k = key;
	const struct fe *y = elem;
	(void)ctx;
	if (k->port != y->port)
		return k->port < y->port ? -1 : 1;
	if (k->alen != y->alen)
		return k->alen < y->alen ? -1 : 1;
	return k->alen ? memcmp(k->addr, y->addr, k->alen) : scmp(k->ip, y->ip);
}

static int fe_cmp(const void *a, const void *b)
{
	const struct fe *x = a;
	struct fe_key k = {x->port, x->alen, x->addr, x->ip};
	return fe_key_cmp(&k, b, NULL);
}

static int fe_port_cmp(const void *key, const void *elem, void *ctx)
{
	int32_t p = *(const int32_t *)key, q = ((const struct fe *)elem)->port;
	(void)ctx;
	return p < q ? -1 : p > q;
}

/* Frontend for (vip, vport, proto): exact address first, else a NodePort
 * on any address. Binary searches: thousands of Services share a port. */
static const struct fe *fe_lookup(const struct ctx *c, const char *vip, int32_t vport, const char *proto)
{
	unsigned char a[16];
	uint8_t al = addr_parse(vip, a);
	uint32_t i = kt_lower_bound(c->fe, c->n_fe, sizeof(*c->fe), &vport, fe_port_cmp, NULL);
	const struct fe *any = NULL;
	for (; i < c->n_fe && c->fe[i].port == vport && !c->fe[i].alen; i++) {
		const struct fe *f = &c->fe[i];
		if (!seq(f->proto, proto))
			continue;
		if (!f->ip) {
			if (!any)
				any = f;
		} else if (!al && seq(f->ip, vip)) {
			return f;
		}
	}
	if (al && i < c->n_fe) {
		struct fe_key k = {vport, al, a, NULL};
		for (uint32_t j = i + kt_lower_bound(c->fe + i, c->n_fe - i, sizeof(*c->fe), &k, fe_key_cmp, NULL);
		     j < c->n_fe && !fe_key_cmp(&k, &c->fe[j], NULL); j++)
			if (seq(c->fe[j].proto, proto))
				return &c->fe[j];
	}
	return any;
}

static const struct fe *fe_match(struct ctx *c, const char *vip, int32_t vport, const char *proto)
{
	if (c->last_vip && vip == c->last_vip && vport == c->last_vport && proto == c->last_proto)
		return c->last_fe;
	c->last_fe = fe_lookup(c, vip, vport, proto);
	c->last_vip = vip;
	c->last_vport = vport;
	c->last_proto = proto;
	return c->last_fe;
}

/* Previous-sample lookup: aggregates sorted by key. */
static int agg_key_cmp(const struct kt_flow_agg *x, const struct kt_flow_agg *y)
{
	int r;
	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	if (x->vport != y->vport)
		return x->vport < y->vport ? -1 : 1;
	if (x->backend_port != y->backend_port)
		return x->backend_port < y->backend_port ? -1 : 1;
	if (x->zone != y->zone)
		return x->zone < y->zone ? -1 : 1;
	if ((r = scmp(x->vip, y->vip)))
		return r;
	if ((r = scmp(x->backend_ip, y->backend_ip)))
		return r;
	return scmp(x->protocol, y->protocol);
}

static int aggp_cmp(const void *a, const void *b)
{
	return agg_key_cmp(*(const struct kt_flow_agg *const *)a, *(const struct kt_flow_agg *const *)b);
}

uint32_t kt_imb_new_conns(const struct kt_flow_agg *cur, const struct kt_flow_agg *prev)
{
	if (!cur)
		return 0;
	if (!prev)
		return cur->n_fp;
	uint32_t i = 0, j = 0, n = 0;
	while (i < cur->n_fp) {
		if (j >= prev->n_fp || cur->fp[i] < prev->fp[j]) {
			n++;
			i++;
		} else if (cur->fp[i] == prev->fp[j]) {
			i++;
			j++;
		} else {
			j++;
		}
	}
	return n;
}

static int be_out_cmp(const void *a, const void *b)
{
	const struct kt_imb_backend *x = a, *y = b;
	if (x->connections != y->connections)
		return x->connections > y->connections ? -1 : 1;
	int r = ip_cmp(x->ip, y->ip);
	if (r)
		return r;
	return x->port - y->port;
}

static int svc_out_cmp(const void *a, const void *b)
{
	const struct kt_imb_service *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	if (x->connections != y->connections)
		return x->connections > y->connections ? -1 : 1;
	int r = scmp(x->namespace, y->namespace);
	return r ? r : scmp(x->name, y->name);
}

static const char *mode_of(const struct kt_dp_node *dn, const struct kt_snapshot *s, struct kt_arena *a)
{
	if (dn && dn->modes) {
		char buf[128] = "";
		size_t off = 0;
		for (int m = 0; m < KT_DP_MODE_COUNT; m++) {
			if (!(dn->modes & (1u << m)))
				continue;
			int w = snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? "+" : "",
					 kt_dp_mode_name((enum kt_dp_mode)m));
			if (w < 0 || (size_t)w >= sizeof(buf) - off)
				break;
			off += (size_t)w;
		}
		return kt_intern(a, buf);
	}
	if (s->proxy.mode && *s->proxy.mode)
		return kt_intern(a, kt_arena_printf(a, "%s (api)", s->proxy.mode));
	return "unknown";
}

const char *kt_imb_age_src_name(enum kt_imb_age_src s)
{
	switch (s) {
	case KT_IMB_AGE_POD: return "pod";
	case KT_IMB_AGE_SLICE: return "endpointslice-trigger-time";
	case KT_IMB_AGE_SEEN: return "first-seen";
	case KT_IMB_AGE_NONE: break;
	}
	return NULL;
}

/* (port, ip) order; a NULL ip compares below every address of its port */
static int seen_key_cmp(const void *key, const void *elem, void *ctx)
{
	const struct kt_imb_seen *k = key, *e = elem;
	if (k->port != e->port)
		return k->port < e->port ? -1 : 1;
	if (!k->ip)
		return -1;
	return strcmp(k->ip, e->ip);
}

static const struct kt_imb_seen *seen_lookup(const struct kt_imb_opts *o, const char *ip, int32_t port)
{
	/* sorted by (port, ip): binary search to the port, then the exact spelling */
	struct kt_imb_seen key = {.ip = NULL, .port = port};
	uint32_t lo = kt_lower_bound(o->seen, o->n_seen, sizeof(*o->seen), &key, seen_key_cmp, NULL);
	key.ip = ip;
	uint32_t l2 = kt_lower_bound(o->seen, o->n_seen, sizeof(*o->seen), &key, seen_key_cmp, NULL);
	if (l2 < o->n_seen && o->seen[l2].port == port && !strcmp(o->seen[l2].ip, ip))
		return &o->seen[l2];
	if (!strchr(ip, ':'))
		return NULL;
	for (uint32_t i = lo; i < o->n_seen && o->seen[i].port == port; i++)
		if (ip_eq(o->seen[i].ip, ip))
			return &o->seen[i];
	return NULL;
}

/* Ready age without a Pod object (EndpointSlices only, e.g. no RBAC for
 * Pods): the slice's last-change-trigger-time, unless this session saw
 * the endpoint before that change (then the change was someone else's);
 * else when this session first saw the endpoint, if that was after the
 * session started (endpoints present at the start have no known age). */
static void fallback_age(const struct kt_imb_opts *o, const struct be *b, int64_t now,
			 struct kt_imb_backend *x)
{
	const struct kt_imb_seen *sn = seen_lookup(o, b->ip, b->port);
	bool seen_later = sn && sn->first_seen > o->session_start;
	if (b->ep && b->ep->trigger_time > 0) {
		int64_t since = b->ep->trigger_time / 1000;
		if (!sn || sn->first_seen >= since) {
			if (now >= since) {
				x->ready_age = now - since;
				x->age_src = KT_IMB_AGE_SLICE;
			}
			return;
		}
	}
	if (seen_later && now >= sn->first_seen) {
		x->ready_age = now - sn->first_seen;
		x->age_src = KT_IMB_AGE_SEEN;
	}
}

/* "ip:port", "[ip]:port" for IPv6 (as ss prints it). */
static const char *hostport(struct kt_arena *a, const char *ip, int32_t port)
{
	if (ip && strchr(ip, ':'))
		return kt_arena_printf(a, "[%s]:%d", ip, port);
	return kt_arena_printf(a, "%s:%d", ip ? ip : "?", port);
}

/* How a fallback ready age was obtained, for verdict and finding text. */
static const char *age_note(enum kt_imb_age_src src)
{
	switch (src) {
	case KT_IMB_AGE_SLICE: return " (no Pod readable: EndpointSlice last-change-trigger-time)";
	case KT_IMB_AGE_SEEN: return " (no Pod readable: first seen by ktrace this session)";
	default: return "";
	}
}

/* Per port group: connections, eligible backends and their weights. */
struct pgroups {
	uint32_t n, with_be;
	uint32_t *conns, *eligible;
	double *weight;
};

/* The Service's identity and what it says about balancing. */
static void group_header(const struct kt_snapshot *s, const struct grp *g, struct kt_imb_service *out)
{
	memset(out, 0, sizeof(*out));
	out->namespace = g->ns;
	out->name = g->name;
	out->svc = g->svc;
	out->mode = g->mode ? g->mode : "api";
	out->n_frontends = g->n_fe;
	out->affinity = g->affinity;
	out->long_lived_port = g->long_lived_port;
	out->hot = KT_NONE;
	out->verdict = KT_RULE_COUNT;
	out->older_1m = g->o1m;
	out->older_10m = g->o10m;
	out->older_1h = g->o1h;
	if (g->svc != KT_NONE) {
		const struct kt_service *sv = &s->services[g->svc];
		if (sv->affinity_client_ip)
			out->affinity = true;
		for (uint32_t p = 0; p < sv->n_ports; p++)
			if (long_lived_name(sv->ports[p].app_protocol))
				out->long_lived_port = true;
	}
}

/* Totals over the backends (connections, bytes, new connections) and the
 * port groups' eligible weights; links each backend to its endpoint. */
static void group_totals(const struct kt_snapshot *s, struct grp *g, struct kt_imb_service *out, struct pgroups *pg,
			 uint64_t *bytes, uint32_t *newc, uint64_t *dbytes)
{
	pg->n = g->npg ? g->npg : 1;
	pg->conns = kt_xcalloc(pg->n, sizeof(*pg->conns));
	pg->weight = kt_xcalloc(pg->n, sizeof(*pg->weight));
	pg->eligible = kt_xcalloc(pg->n, sizeof(*pg->eligible));
	*bytes = 0;
	*newc = 0;
	*dbytes = 0;
	for (uint32_t i = 0; i < g->n_be; i++) {
		struct be *b = &g->be[i];
		if (b->pg >= pg->n)
			b->pg = 0;
		b->ep = ep_lookup(s, g->svc, b->ip, b->port);
		/* the dataplane may still list it; the API says it is going */
		if (b->ep && b->ep->terminating && b->known)
			b->eligible = false;
		pg->conns[b->pg] += b->est;
		out->connections += b->est;
		out->total += b->total;
		*bytes += b->bin + b->bout;
		*newc += b->newc;
		*dbytes += b->dbytes;
		if (b->eligible) {
			pg->weight[b->pg] += b->weight;
			pg->eligible[b->pg]++;
		}
	}
	pg->with_be = 0;
	for (uint32_t p = 0; p < pg->n; p++)
		if (pg->eligible[p])
			pg->with_be++;
}

/* One backend of the result: identity, age, counts, rates, share and the
 * fair share its port group and weight give it. */
static void backend_out(const struct kt_snapshot *s, const struct kt_imb_opts *o, const struct kt_imb_service *out,
			const struct be *b, const struct pgroups *pg, uint64_t bytes, double dt, bool have_new,
			bool bytes_unknown, int64_t now, struct kt_imb_backend *x)
{
	x->ip = b->ip;
	x->port = b->port;
	x->local = b->local;
	x->ready = b->ep ? b->ep->ready : b->known;
	x->terminating = b->ep ? b->ep->terminating : false;
	x->ready_age = -1;
	if (b->ep) {
		x->pod = b->ep->target_name;
		x->node = b->ep->node;
		if (b->ep->pod != KT_NONE) {
			const struct kt_pod *p = &s->pods[b->ep->pod];
			int64_t since = p->ready_since ? p->ready_since : (p->start_time ? p->start_time : p->meta.created);
			if (since > 0 && now >= since) {
				x->ready_age = now - since;
				x->age_src = KT_IMB_AGE_POD;
			}
			if (!x->node)
				x->node = p->spec.node_name;
		}
	}
	if (x->age_src == KT_IMB_AGE_NONE)
		fallback_age(o, b, now, x);
	x->connections = b->est;
	x->total = b->total;
	x->sockets = b->has_sk;
	x->sk_connections = b->sk_est;
	x->sk_total = b->sk_total;
	x->sk_bytes_in = b->sk_bin;
	x->sk_bytes_out = b->sk_bout;
	x->sk_rtt_ms = b->sk_rtt_n ? b->sk_rtt_sum / b->sk_rtt_n : 0;
	x->node_conns = b->node_est;
	x->bytes_in = b->bin;
	x->bytes_out = b->bout;
	x->new_per_s = have_new ? (dt > 0 ? b->newc / dt : b->newc / (double)KT_FLOW_RECENT_S) : -1;
	/* not known: the sample's, or every aggregate of this backend's */
	bool bu = bytes_unknown || (b->bytes_rate_unknown && !b->have_bytes_rate);
	x->bytes_per_s = dt > 0 && !bu ? b->dbytes / dt : -1;
	x->bytes_in_per_s = dt > 0 && !bu ? b->din / dt : -1;
	x->bytes_out_per_s = dt > 0 && !bu ? b->dout / dt : -1;
	x->share = out->connections ? (double)b->est / out->connections : 0;
	x->byte_share = bytes ? (double)(b->bin + b->bout) / bytes : 0;
	if (!b->known)
		x->flags |= KT_IMB_UNKNOWN;
	if (x->terminating)
		x->flags |= KT_IMB_TERMINATING;
	if (b->eligible && pg->eligible[b->pg]) {
		double p_in_pg = pg->weight[b->pg] > 0 ? b->weight / pg->weight[b->pg] : 1.0 / pg->eligible[b->pg];
		double pg_share = out->connections ? (double)pg->conns[b->pg] / out->connections
						   : 1.0 / (pg->with_be ? pg->with_be : 1);
		x->fair_share = p_in_pg * pg_share;
	}
}

/* Spread over share/fair ratios (= connections/mean when fair is 1/n):
 * max/mean, coefficient of variation, Gini. Returns the eligible count. */
static uint32_t group_spread(struct kt_imb_service *out)
{
	uint32_t n_elig = 0;
	double sum_r = 0, max_r = 0;
	for (uint32_t i = 0; i < out->n_be; i++) {
		const struct kt_imb_backend *x = &out->be[i];
		if (x->fair_share <= 0)
			continue;
		double r = x->share / x->fair_share;
		n_elig++;
		sum_r += r;
		if (r > max_r)
			max_r = r;
	}
	if (!n_elig || !out->connections)
		return n_elig;
	double mean = sum_r / n_elig;
	double var = 0, gsum = 0;
	for (uint32_t i = 0; i < out->n_be; i++) {
		const struct kt_imb_backend *x = &out->be[i];
		if (x->fair_share <= 0)
			continue;
		double r = x->share / x->fair_share;
		var += (r - mean) * (r - mean);
		for (uint32_t j = 0; j < out->n_be; j++) {
			const struct kt_imb_backend *y = &out->be[j];
			if (y->fair_share <= 0)
				continue;
			gsum += fabs(r - y->share / y->fair_share);
		}
	}
	out->max_over_mean = mean > 0 ? max_r / mean : 0;
	out->cv = mean > 0 ? sqrt(var / n_elig) / mean : 0;
	out->gini = mean > 0 ? gsum / (2.0 * n_elig * n_elig * mean) : 0;
	return n_elig;
}

/* HOT and STARVED backends, the hottest, and the Service's score. */
static void group_flags(struct kt_imb_service *out, const struct kt_imb_opts *o, uint32_t n_elig)
{
	double hot_f = o->hot_factor > 0 ? o->hot_factor : 1.5;
	double starve_f = o->starved_factor > 0 ? o->starved_factor : 0.5;
	int64_t starve_age = o->starved_age > 0 ? o->starved_age : 600;
	uint32_t min_conns = o->min_conns ? o->min_conns : 4;
	bool enough = out->connections >= min_conns;
	for (uint32_t i = 0; i < out->n_be; i++) {
		struct kt_imb_backend *x = &out->be[i];
		if (x->fair_share <= 0 || !enough)
			continue;
		if (x->share > hot_f * x->fair_share && x->connections >= 2) {
			x->flags |= KT_IMB_HOT;
			out->n_hot++;
		}
		if (x->ready_age >= 0 && x->ready_age < starve_age && !x->terminating &&
		    x->share < starve_f * x->fair_share) {
			x->flags |= KT_IMB_STARVED;
			out->n_starved++;
		}
	}
	qsort(out->be, out->n_be, sizeof(*out->be), be_out_cmp);
	double hottest = 0;
	for (uint32_t i = 0; i < out->n_be; i++) {
		struct kt_imb_backend *x = &out->be[i];
		if ((x->flags & KT_IMB_HOT) && x->share / x->fair_share > hottest) {
			hottest = x->share / x->fair_share;
			out->hot = i;
		}
	}
	out->imbalanced = enough && out->max_over_mean >= hot_f && n_elig > 1;
	out->score = out->max_over_mean > 1 ? out->max_over_mean - 1 : 0;
	out->score += out->n_starved;
	if (!enough)
		out->score *= 0.01;
}

/* The verdict (KT401-KT404) and its one-line reason. */
static void group_verdict(struct kt_imb_service *out, struct kt_arena *a)
{
	const struct kt_imb_backend *h = out->hot != KT_NONE ? &out->be[out->hot] : NULL;
	if (!h && out->imbalanced && out->n_be)
		h = &out->be[0];
	if (out->n_starved) {
		const struct kt_imb_backend *st = NULL;
		for (uint32_t i = 0; i < out->n_be && !st; i++)
			if (out->be[i].flags & KT_IMB_STARVED)
				st = &out->be[i];
		out->verdict = KT_R_KT403;
		out->reason = kt_arena_printf(a,
			"%s%s%s%s ready %llds ago%s has %.0f%% of %u open connections (fair %.0f%%)%s",
			hostport(a, st->ip, st->port), st->pod ? " (" : "", st->pod ? st->pod : "", st->pod ? ")" : "",
			(long long)st->ready_age, age_note(st->age_src), st->share * 100, out->connections,
			st->fair_share * 100,
			out->ages_known || out->older_10m ? kt_arena_printf(a, "; %u connections are older than 10m", out->older_10m) : "");
	} else if (out->imbalanced && h) {
		const char *cause = "";
		if (out->affinity) {
			out->verdict = KT_R_KT404;
			cause = "; sessionAffinity ClientIP pins clients";
		} else if (out->long_lived_port || (out->older_10m * 2 > out->connections && out->connections)) {
			out->verdict = KT_R_KT401;
			cause = out->long_lived_port ? "; gRPC/HTTP2 port: long-lived multiplexed connections"
						     : "; most connections are older than 10m";
		} else {
			out->verdict = KT_R_KT402;
		}
		out->reason = kt_arena_printf(a,
			"max/mean %.2f: %s%s%s%s holds %.0f%% of %u open connections (fair %.0f%%)%s",
			out->max_over_mean, hostport(a, h->ip, h->port), h->pod ? " (" : "", h->pod ? h->pod : "",
			h->pod ? ")" : "", h->share * 100, out->connections, h->fair_share * 100, cause);
	}
}

static void finish_group(const struct kt_snapshot *s, struct grp *g, struct kt_imb_service *out,
			 const struct kt_imb_opts *o, double dt, bool rates_known, int64_t now,
			 struct kt_arena *a)
{
	group_header(s, g, out);
	struct pgroups pg;
	uint64_t bytes, dbytes;
	uint32_t newc;
	group_totals(s, g, out, &pg, &bytes, &newc, &dbytes);
	bool have_new = rates_known;
	out->bytes = bytes;
	out->new_per_s = have_new && dt > 0 ? newc / dt : (have_new ? newc / (double)KT_FLOW_RECENT_S : -1);
	bool any_rate = false, any_unknown = false;
	for (uint32_t i = 0; i < g->n_be; i++) {
		any_rate |= g->be[i].have_bytes_rate;
		any_unknown |= g->be[i].bytes_rate_unknown;
	}
	bool bytes_unknown = g->bytes_unknown || (any_unknown && !any_rate);
	out->bytes_per_s = dt > 0 && !bytes_unknown ? dbytes / dt : -1;

	out->be = KT_ANEW(a, struct kt_imb_backend, g->n_be ? g->n_be : 1);
	out->n_be = g->n_be;
	for (uint32_t i = 0; i < g->n_be; i++) {
		backend_out(s, o, out, &g->be[i], &pg, bytes, dt, have_new, bytes_unknown, now, &out->be[i]);
		out->age_srcs |= 1u << out->be[i].age_src;
	}
	uint32_t n_elig = group_spread(out);
	group_flags(out, o, n_elig);
	group_verdict(out, a);
	free(pg.conns);
	free(pg.weight);
	free(pg.eligible);
}

/* What the aggregation of one sample needs besides the groups. */
struct agg_pass {
	const struct kt_flow_agg **pidx; /* the previous sample's aggregates, sorted */
	uint32_t pn;
	double dt;               /* seconds since the previous sample; 0: none */
	bool events;             /* conntrack event mode */
	bool known, unknown;     /* event mode: some byte rate known / unknown */
};

/* One aggregate of the current sample into its Service group and backend:
 * pass 0 takes NAT sources, pass 1 sockets (for groups no NAT source
 * covered; socket evidence is kept per backend either way). */
static void add_agg(struct ctx *c, const struct kt_flow_agg *x, uint32_t node, int pass, struct agg_pass *r)
{
	bool sock = x->src == KT_FLOW_SOCKET;
	if ((pass == 0) == sock)
		return;
	const struct fe *f = fe_match(c, x->vip, x->vport, x->protocol);
	struct grp *g = NULL;
	struct be *b = NULL;
	if (f) {
		g = &c->g[f->grp];
		b = be_find(g, x->backend_ip, x->backend_port);
		if (!b)
			b = be_add(g, x->backend_ip, x->backend_port, f->pg);
	} else if (sock) {
		/* not through a frontend (socket-LB, node sockets): a known backend? */
		for (uint32_t k = 0; k < c->n_g && !b; k++) {
			b = be_find(&c->g[k], x->backend_ip, x->backend_port);
			if (b && b->known)
				g = &c->g[k];
			else
				b = NULL;
		}
		if (!b)
			return;
	} else {
		return;   /* DNAT to something that is no Service frontend here */
	}
	if (sock) {
		/* socket evidence is kept per backend whatever else
		 * counted the connection */
		b->has_sk = true;
		b->sk_est += x->established;
		b->sk_total += x->total;
		b->sk_bin += x->bytes_orig;
		b->sk_bout += x->bytes_reply;
		if (x->rtt_ms > 0) {
			b->sk_rtt_sum += x->rtt_ms * x->total;
			b->sk_rtt_n += x->total;
		}
		g->used = true;
	}
	if (pass == 1 && g->nat_aggs)
		return;
	if (pass == 0)
		g->nat_aggs++;
	g->used = true;
	b->est += x->established;
	if (node < c->n_nodes) {
		c->node_conns[node] += x->established;
		if (g == c->split) {
			if (!b->node_est)
				b->node_est = KT_ANEW(c->a, uint32_t, c->n_nodes);
			b->node_est[node] += x->established;
		}
	}
	b->total += x->total;
	b->bin += x->bytes_orig;
	b->bout += x->bytes_reply;
	g->o1m += x->older_1m;
	g->o10m += x->older_10m;
	g->o1h += x->older_1h;
	const struct kt_flow_agg *px = NULL;
	if (r->pn) {
		const struct kt_flow_agg **hit = bsearch(&x, r->pidx, r->pn, sizeof(*r->pidx), aggp_cmp);
		px = hit ? *hit : NULL;
	}
	if (r->dt > 0 && r->events) {
		/* conntrack event mode: connections opened since the
		 * previous sample counted by the kernel's NEW events,
		 * byte rates measured by the collector between its
		 * last two full dumps */
		b->newc += x->opened;
		if (x->rate_orig >= 0 && x->rate_reply >= 0) {
			uint64_t di = (uint64_t)llround(x->rate_orig * r->dt), dout = (uint64_t)llround(x->rate_reply * r->dt);
			b->din += di;
			b->dout += dout;
			b->dbytes += di + dout;
			b->have_bytes_rate = true;
			r->known = true;
		} else {
			b->bytes_rate_unknown = true;
			r->unknown = true;
		}
	} else if (r->dt > 0) {
		if (x->n_fp || !x->total)
			b->newc += kt_imb_new_conns(x, px);
		else
			b->newc += x->recent;
		uint64_t now_b = x->bytes_orig + x->bytes_reply;
		uint64_t was = px ? px->bytes_orig + px->bytes_reply : 0;
		b->dbytes += now_b > was ? now_b - was : 0;
		uint64_t wi = px ? px->bytes_orig : 0, wo = px ? px->bytes_reply : 0;
		b->din += x->bytes_orig > wi ? x->bytes_orig - wi : 0;
		b->dout += x->bytes_reply > wo ? x->bytes_reply - wo : 0;
	} else {
		b->newc += x->recent;
	}
}

int kt_imbalance_analyze(const struct kt_snapshot *objs, const struct kt_flow_sample *cur,
			 const struct kt_flow_sample *prev, const struct kt_imb_opts *o,
			 struct kt_arena *a, struct kt_imb_result **out)
{
	static const struct kt_imb_opts defo;
	if (!o)
		o = &defo;
	struct ctx c;
	memset(&c, 0, sizeof(c));
	c.s = objs;
	const char *node = o->node ? o->node : (cur ? cur->node : NULL);
	const struct kt_dp_node *dn = NULL;
	for (uint32_t i = 0; i < objs->n_dp; i++)
		if (node && seq(objs->dp[i].node, node))
			dn = &objs->dp[i];
	if (!dn && objs->n_dp == 1)
		dn = &objs->dp[0];
	if (dn)
		from_dataplane(&c, dn, o);
	from_api(&c, o);
	if (c.n_fe > 1)
		qsort(c.fe, c.n_fe, sizeof(*c.fe), fe_cmp);

	struct kt_imb_result *r = KT_ANEW(a, struct kt_imb_result, 1);
	r->node = node;
	c.a = a;
	if (o->agg_node && cur) {
		c.n_nodes = o->n_nodes;
		uint32_t *sg = o->split_name && c.gix_cap ? grp_slot(&c, o->split_ns, o->split_name) : NULL;
		c.split = sg && *sg != UINT32_MAX ? &c.g[*sg] : NULL;
		c.node_conns = r->node_conns = KT_ANEW(a, uint32_t, o->n_nodes + 1);
		r->n_nodes = o->n_nodes;
	}
	r->mode = mode_of(dn, objs, a);
	int64_t now = o->now;
	double dt = 0;
	bool rates = false;
	if (cur) {
		r->source = cur->source;
		r->taken_ms = cur->taken_ms;
		r->acct = cur->acct;
		r->timestamps = cur->timestamps;
		r->entries_seen = cur->entries_seen;
		if (!now)
			now = cur->taken_ms / 1000;
		if (prev && prev->taken_ms < cur->taken_ms) {
			dt = (cur->taken_ms - prev->taken_ms) / 1000.0;
			rates = true;
		} else if (cur->timestamps) {
			rates = true;   /* from entries started in the last KT_FLOW_RECENT_S s */
		}
	}
	if (!now)
		now = objs->taken;
	r->sample_s = dt;

	/* previous aggregates, sorted for lookup */
	const struct kt_flow_agg **pidx = NULL;
	uint32_t pn = prev && dt > 0 && !cur->events ? prev->n_agg : 0; /* event mode pairs nothing */
	if (pn) {
		pidx = kt_xreallocarray(NULL, pn, sizeof(*pidx));
		for (uint32_t i = 0; i < pn; i++)
			pidx[i] = &prev->agg[i];
		qsort(pidx, pn, sizeof(*pidx), aggp_cmp);
	}

	/* event mode: byte rates come from the collector's last two full
	 * dumps; with one dump so far (imbalance --once) none is known */
	struct agg_pass ap = {.pidx = pidx, .pn = pn, .dt = dt, .events = cur && cur->events};
	/* two passes: NAT sources, then sockets for Services no NAT source covered */
	for (int pass = 0; pass < 2 && cur; pass++) {
		for (uint32_t i = 0; i < cur->n_agg; i++)
			add_agg(&c, &cur->agg[i], o->agg_node ? o->agg_node[i] : UINT32_MAX, pass, &ap);
	}
	free(pidx);

	uint32_t n_out = 0;
	for (uint32_t i = 0; i < c.n_g; i++)
		if (c.g[i].used || o->all_services || o->name)
			n_out++;
	r->svcs = KT_ANEW(a, struct kt_imb_service, n_out ? n_out : 1);
	for (uint32_t i = 0; i < c.n_g; i++) {
		struct grp *g = &c.g[i];
		if (!(g->used || o->all_services || o->name))
			continue;
		struct kt_imb_service *sv = &r->svcs[r->n_svcs++];
		g->bytes_unknown = ap.unknown && !ap.known;
		finish_group(objs, g, sv, o, dt, rates, now, a);
		sv->ages_known = cur && cur->timestamps;
		r->connections += sv->connections;
		r->older_1m += sv->older_1m;
		r->older_10m += sv->older_10m;
		r->older_1h += sv->older_1h;
	}
	if (r->n_svcs > 1)
		qsort(r->svcs, r->n_svcs, sizeof(*r->svcs), svc_out_cmp);
	for (uint32_t i = 0; i < c.n_g; i++)
		free(c.g[i].be);
	free(c.g);
	free(c.gix);
	free(c.fe);
	*out = r;
	return 0;
}

void kt_imbalance_result_findings(const struct kt_snapshot *objs, const struct kt_imb_result *r,
				  struct kt_arena *a, struct kt_findings *out)
{
	static const struct kt_meta none = {.kind = "Service"};
	for (uint32_t i = 0; i < r->n_svcs; i++) {
		const struct kt_imb_service *sv = &r->svcs[i];
		const struct kt_meta *m = sv->svc != KT_NONE ? &objs->services[sv->svc].meta : NULL;
		struct kt_meta tmp;
		if (!m) {
			tmp = none;
			tmp.namespace = sv->namespace;
			tmp.name = sv->name;
			m = &tmp;
		}
		if (sv->n_starved) {
			for (uint32_t j = 0; j < sv->n_be; j++) {
				const struct kt_imb_backend *b = &sv->be[j];
				if (!(b->flags & KT_IMB_STARVED))
					continue;
				struct kt_finding *f = kt_finding_add(out, a, KT_R_KT403, m,
					"endpoint %s%s%s%s became ready %llds ago%s and has %.0f%% of %u open connections on node %s (fair share %.0f%%)",
					hostport(a, b->ip, b->port), b->pod ? " (" : "", b->pod ? b->pod : "", b->pod ? ")" : "",
					(long long)b->ready_age, age_note(b->age_src), b->share * 100, sv->connections, r->node ? r->node : "?",
					b->fair_share * 100);
				f->evidence = kt_arena_printf(a, "%s flows, max/mean %.2f, %u connections older than 10m",
							      r->source ? r->source : "?", sv->max_over_mean, sv->older_10m);
			}
		}
		if (sv->imbalanced && sv->n_be) {
			const struct kt_imb_backend *h = &sv->be[sv->hot != KT_NONE ? sv->hot : 0];
			struct kt_finding *f = kt_finding_add(out, a, KT_R_KT402, m,
				"%s%s%s%s holds %.0f%% of %u open connections on node %s (fair share %.0f%%, max/mean %.2f)",
				hostport(a, h->ip, h->port), h->pod ? " (" : "", h->pod ? h->pod : "", h->pod ? ")" : "",
				h->share * 100, sv->connections, r->node ? r->node : "?", h->fair_share * 100,
				sv->max_over_mean);
			f->evidence = kt_arena_printf(a, "%s flows, cv %.2f, gini %.2f%s%s", r->source ? r->source : "?",
						      sv->cv, sv->gini, sv->affinity ? ", sessionAffinity ClientIP" : "",
						      sv->long_lived_port ? ", gRPC/HTTP2 port" : "");
		}
	}
}

int kt_imbalance_findings(const struct kt_snapshot *s, struct kt_arena *a, struct kt_findings *out)
{
	for (uint32_t i = 0; i < s->n_flows; i++) {
		struct kt_imb_opts o = {.node = s->flows[i].node};
		struct kt_imb_result *r = NULL;
		if (kt_imbalance_analyze(s, &s->flows[i], NULL, &o, a, &r) == 0 && r)
			kt_imbalance_result_findings(s, r, a, out);
	}
	return 0;
}
