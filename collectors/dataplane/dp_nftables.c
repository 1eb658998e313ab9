/*
 * kube-proxy nftables mode: the `ip kube-proxy` / `ip6 kube-proxy` tables,
 * read live through libnftnl (collectors/dp_nftnl.c: sets, set elements,
 * chains, rules per chain) or from `nft -j list ruleset` JSON. Both feed
 * one small IR (chains with summarised rules, sets with decoded elements),
 * which finish() turns into services: service-ips / service-nodeports
 * verdict maps give the frontends, service-/local-/external- chains the
 * policy, numgen verdict maps the uniform endpoint choice, endpoint-
 * chains the DNAT targets, affinity- sets the ClientIP timeout. Chain
 * names carry ns/name/proto/port, so no hash recomputation is needed.
 * Must not: write to netfilter, print, judge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"
#include "ktrace/fileio.h"

struct nrule {
	uint64_t handle;
	uint8_t verdict;
	const char *target;
	bool cond;               /* saddr / iif / fib saddr condition */
	bool fib_local;
	const char *set;         /* lookup set (numgen map or affinity set) */
	uint8_t key;
	uint32_t mod;
	const char *dnat_ip;
	int32_t dnat_port;
	bool set_mark;
};

struct nchain {
	const char *name;
	uint32_t group;          /* finish: index into the group array */
	struct nrule *r;
	uint32_t n, cap;
};

struct nelem {
	const char *ip;
	uint8_t proto;
	int32_t port;
	uint32_t index;
	const char *chain;
};

struct nset {
	const char *name;
	uint64_t timeout_ms;
	struct nelem *e;
	uint32_t n, cap;
};

struct nst {
	struct kt_snapshot *snap;
	uint8_t family;
	struct nchain *c;
	uint32_t nc, capc;
	struct nset *s;
	uint32_t ns, caps;
	uint32_t anon;
	const char *table;
};

#define GROW(arr, n, cap) do { if ((n) == (cap)) { (cap) = (cap) ? (cap) * 2 : 16; \
	(arr) = realloc((arr), (size_t)(cap) * sizeof(*(arr))); if (!(arr)) abort(); } } while (0)

static const char *adup(struct nst *st, const char *s)
{
	return s ? kt_arena_strdup(st->snap->arena, s) : NULL;
}

static struct nchain *chain_add(struct nst *st, const char *name)
{
	GROW(st->c, st->nc, st->capc);
	struct nchain *c = &st->c[st->nc++];
	memset(c, 0, sizeof(*c));
	c->name = adup(st, name);
	c->group = KT_NONE;
	return c;
}

static struct nset *set_add(struct nst *st, const char *name, uint64_t timeout_ms)
{
	GROW(st->s, st->ns, st->caps);
	struct nset *s = &st->s[st->ns++];
	memset(s, 0, sizeof(*s));
	s->name = adup(st, name);
	s->timeout_ms = timeout_ms;
	return s;
}

static struct nelem *elem_add(struct nset *s)
{
	GROW(s->e, s->n, s->cap);
	struct nelem *e = &s->e[s->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static struct nrule *rule_add(struct nchain *c)
{
	GROW(c->r, c->n, c->cap);
	struct nrule *r = &c->r[c->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

static void st_free(struct nst *st)
{
	for (uint32_t i = 0; i < st->nc; i++)
		free(st->c[i].r);
	for (uint32_t i = 0; i < st->ns; i++)
		free(st->s[i].e);
	free(st->c);
	free(st->s);
}

static int cmp_chain(const void *a, const void *b)
{
	return strcmp(((const struct nchain *)a)->name, ((const struct nchain *)b)->name);
}

static int cmp_set(const void *a, const void *b)
{
	return strcmp(((const struct nset *)a)->name, ((const struct nset *)b)->name);
}

static int cmp_index(const void *a, const void *b)
{
	uint32_t x = ((const struct nelem *)a)->index, y = ((const struct nelem *)b)->index;
	return x < y ? -1 : x > y;
}

static struct nchain *find_chain(struct nst *st, const char *name)
{
	if (!name || !st->nc)
		return NULL;
	struct nchain k = {.name = name};
	return bsearch(&k, st->c, st->nc, sizeof(*st->c), cmp_chain);
}

static struct nset *find_set(struct nst *st, const char *name)
{
	if (!name || !st->ns)
		return NULL;
	struct nset k = {.name = name};
	return bsearch(&k, st->s, st->ns, sizeof(*st->s), cmp_set);
}

/* "service-HASH-ns/name/tcp/port" -> prefix len, hash, base */
static bool parse_name(const char *n, const char **base, char hash[9], int *kind)
{
	static const char *pfx[] = {"service-", "local-", "external-", "endpoint-", "firewall-"};
	for (int i = 0; i < 5; i++) {
		size_t l = strlen(pfx[i]);
		if (strncmp(n, pfx[i], l) == 0 && strlen(n) > l + 9 && n[l + 8] == '-' && strchr(n, '/')) {
			memcpy(hash, n + l, 8);
			hash[8] = 0;
			*base = n + l + 9;
			*kind = i;
			return true;
		}
	}
	return false;
}

static const char *proto_uc(const char *p)
{
	if (strcmp(p, "udp") == 0)
		return "UDP";
	if (strcmp(p, "sctp") == 0)
		return "SCTP";
	return "TCP";
}

struct ngroup {
	const char *base;        /* "ns/name/tcp/port" */
	char hash[9];
	struct nchain *svc, *local, *ext;
	uint32_t out;            /* index into n->svcs (the array may move) */
	bool itp_local;          /* the ClusterIP element points at local- */
};

static void expand(struct nst *st, struct kt_dp_service *s, struct nchain *c, bool external, bool ev,
		   enum kt_dp_mode mode)
{
	if (!c)
		return;
	if (ev)
		kt_dpbuild_ev(st->snap, s, mode, st->table, c->name, c->n ? c->r[0].handle : 0, NULL);
	for (uint32_t i = 0; i < c->n; i++) {
		struct nrule *r = &c->r[i];
		if (r->key == KT_NFT_KEY_SADDR && r->set && strncmp(r->set, "affinity-", 9) == 0) {
			struct nset *as = find_set(st, r->set);
			s->affinity = true;
			s->affinity_timeout = as && as->timeout_ms ? (int32_t)(as->timeout_ms / 1000) : 10800;
			continue;
		}
		if (r->key != KT_NFT_KEY_NUMGEN || !r->set)
			continue;
		struct nset *m = find_set(st, r->set);
		if (!m || !r->mod)
			continue;
		if (m->n > 1)
			qsort(m->e, m->n, sizeof(*m->e), cmp_index); /* selection order */
		for (uint32_t k = 0; k < m->n; k++) {
			struct nchain *ep = find_chain(st, m->e[k].chain);
			const char *ip = NULL;
			int32_t port = 0;
			uint64_t h = 0;
			for (uint32_t j = 0; ep && j < ep->n && !ip; j++)
				if (ep->r[j].verdict == KT_IPT_DNAT && ep->r[j].dnat_ip) {
					ip = ep->r[j].dnat_ip;
					port = ep->r[j].dnat_port;
					h = ep->r[j].handle;
				}
			char buf[64];
			if (!ip && m->e[k].chain) {
				const char *us = strstr(m->e[k].chain, "__");
				if (!us)
					continue;
				snprintf(buf, sizeof(buf), "%s", us + 2);
				char *sl = strrchr(buf, '/');
				if (!sl)
					continue;
				*sl = 0;
				port = atoi(sl + 1);
				if (st->family == 10)
					for (char *p = buf; *p; p++)
						if (*p == '.')
							*p = ':';
				ip = buf;
			}
			if (!ip)
				continue;
			kt_dpbuild_be(st->snap, s, external, ip, port, 1.0 / (double)r->mod);
			if (ev && ep)
				kt_dpbuild_ev(st->snap, s, mode, st->table, ep->name, h, NULL);
		}
	}
}

/* The sets and chains of one table into services. Over 120 lines, on
 * purpose: one pass in kube-proxy's own order (service-ips, then
 * service-nodeports, then the per-service chains each entry names), each
 * step a few lines that read the state the previous one left; split, the
 * pieces would pass that state around without reading better. */
static void finish(struct nst *st, struct kt_dp_node *n, const struct kt_node_opts *o, enum kt_dp_mode mode)
{
	if (st->nc > 1)
		qsort(st->c, st->nc, sizeof(*st->c), cmp_chain);
	if (st->ns > 1)
		qsort(st->s, st->ns, sizeof(*st->s), cmp_set);
	struct ngroup *g = NULL;
	uint32_t ng = 0, capg = 0;
	/* groups: one per service-/local- chain base; sibling chains by name */
	for (uint32_t i = 0; i < st->nc; i++) {
		const char *base;
		char hash[9];
		int kind;
		if (!parse_name(st->c[i].name, &base, hash, &kind) || (kind != 0 && kind != 1))
			continue;
		char nm[600];
		if (kind == 1) {
			snprintf(nm, sizeof(nm), "service-%s-%s", hash, base);
			if (find_chain(st, nm))
				continue; /* grouped with its service- chain */
		}
		GROW(g, ng, capg);
		struct ngroup *x = &g[ng];
		memset(x, 0, sizeof(*x));
		x->base = base;
		x->out = KT_NONE;
		memcpy(x->hash, hash, 9);
		if (kind == 0)
			x->svc = &st->c[i];
		snprintf(nm, sizeof(nm), "local-%s-%s", hash, base);
		x->local = find_chain(st, nm);
		snprintf(nm, sizeof(nm), "external-%s-%s", hash, base);
		x->ext = find_chain(st, nm);
		struct nchain *sib[4] = {x->svc, x->local, x->ext, NULL};
		snprintf(nm, sizeof(nm), "firewall-%s-%s", hash, base);
		sib[3] = find_chain(st, nm);
		for (int k = 0; k < 4; k++)
			if (sib[k])
				sib[k]->group = ng;
		ng++;
	}
	for (uint32_t gi = 0; gi < ng; gi++) {
		struct ngroup *x = &g[gi];
		if (!x->svc && !x->local)
			continue;
		char ns[256], name[256], proto[16], port[256];
		const char *b = x->base;
		const char *s1 = strchr(b, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL, *s3 = s2 ? strchr(s2 + 1, '/') : NULL;
		if (!s3 || (size_t)(s1 - b) >= sizeof(ns) || (size_t)(s2 - s1 - 1) >= sizeof(name) ||
		    (size_t)(s3 - s2 - 1) >= sizeof(proto) || strlen(s3 + 1) >= sizeof(port))
			continue;
		snprintf(ns, sizeof(ns), "%.*s", (int)(s1 - b), b);
		snprintf(name, sizeof(name), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
		snprintf(proto, sizeof(proto), "%.*s", (int)(s3 - s2 - 1), s2 + 1);
		snprintf(port, sizeof(port), "%s", s3 + 1);
		if (o && o->want_svc_filter &&
		    ((o->svc_namespace && strcmp(o->svc_namespace, ns) != 0) || (o->svc_name && strcmp(o->svc_name, name) != 0)))
			continue;
		struct kt_dp_service *s = kt_dpbuild_svc(st->snap, n, ns, name, port, proto_uc(proto), mode);
		s->chain_hash = kt_intern(st->snap->arena, x->hash);
		x->out = (uint32_t)(s - n->svcs);
	}
	/* frontends from the verdict maps */
	struct nset *sips = find_set(st, "service-ips"), *snps = find_set(st, "service-nodeports");
	struct nset *maps[2] = {sips, snps};
	for (int mi = 0; mi < 2; mi++) {
		struct nset *m = maps[mi];
		for (uint32_t k = 0; m && k < m->n; k++) {
			const char *base;
			char hash[9];
			int kind;
			if (!m->e[k].chain || !parse_name(m->e[k].chain, &base, hash, &kind))
				continue;
			struct nchain *tc = find_chain(st, m->e[k].chain);
			uint32_t gsel = tc ? tc->group : KT_NONE;
			for (uint32_t gi = gsel; gi != KT_NONE && gi < ng; gi = KT_NONE) {
				if (g[gi].out == KT_NONE)
					continue;
				bool ext = kind == 2 || kind == 4;
				if (mi == 0 && kind == 1)
					g[gi].itp_local = true;
				enum kt_fe_kind fk = mi == 1 ? KT_FE_NODEPORT : ext ? KT_FE_EXTERNALIP : KT_FE_CLUSTERIP;
				kt_dpbuild_fe(st->snap, &n->svcs[g[gi].out], fk, mi == 1 ? "" : m->e[k].ip, m->e[k].port, mi == 1 || ext);
				kt_dpbuild_ev(st->snap, &n->svcs[g[gi].out], mode, st->table, m->name, 0,
					  mi == 1 ? kt_arena_printf(st->snap->arena, "%u . %d", m->e[k].proto, m->e[k].port)
						  : kt_arena_printf(st->snap->arena, "%s . %u . %d", m->e[k].ip, m->e[k].proto,
								    m->e[k].port));
			}
		}
	}
	for (uint32_t gi = 0; gi < ng; gi++) {
		struct ngroup *x = &g[gi];
		if (x->out == KT_NONE)
			continue;
		struct kt_dp_service *s = &n->svcs[x->out];
		/* the internal chain: what the ClusterIP element points to (service- or local-) */
		struct nchain *internal = x->svc ? x->svc : x->local;
		bool has_ext = false;
		for (uint32_t k = 0; k < s->n_fe; k++)
			has_ext |= s->fe[k].external;
		if (x->itp_local)
			internal = x->local;
		expand(st, s, internal, false, true, mode);
		if (x->ext) {
			struct nchain *target = NULL;
			bool local_rules = false;
			kt_dpbuild_ev(st->snap, s, mode, st->table, x->ext->name, x->ext->n ? x->ext->r[0].handle : 0, NULL);
			for (uint32_t i = 0; i < x->ext->n; i++) {
				struct nrule *r = &x->ext->r[i];
				if (r->fib_local)
					local_rules = true;
				if (!r->cond && r->set_mark)
					s->masquerade = true; /* v1.36+: the mark is set inline */
				if (r->cond || !r->target)
					continue;
				if (strcmp(r->target, "mark-for-masquerade") == 0)
					s->masquerade = true;
				else if (strncmp(r->target, "service-", 8) == 0 || strncmp(r->target, "local-", 6) == 0)
					target = find_chain(st, r->target);
			}
			if (target && strncmp(target->name, "local-", 6) == 0)
				s->local_only = true;
			if (!target && local_rules)
				s->local_only = true;
			if (has_ext && target)
				expand(st, s, target, true, target != internal, mode);
			if (target && strncmp(target->name, "local-", 6) == 0)
				for (uint32_t i = 0; i < s->n_ext_be; i++)
					for (uint32_t j = 0; j < s->n_be; j++)
						if (s->be[j].port == s->ext_be[i].port && strcmp(s->be[j].ip, s->ext_be[i].ip) == 0) {
							s->be[j].local = true;
							s->ext_be[i].local = true;
						}
		}
	}
	free(g);
}

/* ---- live (libnftnl) ------------------------------------------------ */

static int on_chain(const char *name, bool base, void *ctx)
{
	chain_add(ctx, name);
	return 0;
}

struct rfeed {
	struct nst *st;
	struct nchain *c;
};

static int on_rule(const struct kt_nft_rule *x, void *ctx)
{
	struct rfeed *f = ctx;
	struct nrule *r = rule_add(f->c);
	r->handle = x->ipt.handle;
	r->verdict = (uint8_t)x->ipt.verdict;
	r->target = x->ipt.target ? adup(f->st, x->target) : NULL;
	r->cond = x->ipt.src[0] || x->ipt.iif || x->fib_saddr_local;
	r->fib_local = x->fib_saddr_local;
	r->set = x->lookup_set[0] ? adup(f->st, x->lookup_set) : NULL;
	r->key = x->lookup_key;
	r->mod = x->numgen_mod;
	if (x->ipt.verdict == KT_IPT_DNAT && x->ipt.dnat_ip[0])
		r->dnat_ip = kt_intern(f->st->snap->arena, x->ipt.dnat_ip);
	r->dnat_port = x->ipt.dnat_port;
	r->set_mark = x->set_mark;
	if (r->key == KT_NFT_KEY_SADDR && r->set)
		r->cond = true;
	return 0;
}

struct sfeed {
	struct nst *st;
	struct kt_nft_set_info *v;
	uint32_t n, cap;
};

static int on_set(const struct kt_nft_set_info *si, void *ctx)
{
	struct sfeed *f = ctx;
	/* only the maps the normaliser reads: frontends, numgen maps, affinity timeouts */
	bool want = strcmp(si->name, "service-ips") == 0 || strcmp(si->name, "service-nodeports") == 0 ||
		    (si->flags & NFT_SET_ANONYMOUS) || strncmp(si->name, "affinity-", 9) == 0;
	if (!want)
		return 0;
	GROW(f->v, f->n, f->cap);
	f->v[f->n] = *si;
	f->v[f->n].name = adup(f->st, si->name);
	f->n++;
	return 0;
}

struct efeed {
	struct nst *st;
	struct nset *s;
	int shape;               /* 0 service-ips, 1 nodeports, 2 numgen */
};

static int on_elem(const struct kt_nft_elem *e, void *ctx)
{
	struct efeed *f = ctx;
	if (!e->chain)
		return 0;
	struct nelem *x = elem_add(f->s);
	x->chain = adup(f->st, e->chain);
	if (f->shape == 0) {
		uint32_t al = f->st->family == 10 ? 16 : 4;
		if (e->key_len >= al + 6) {
			char ip[INET6_ADDRSTRLEN];
			inet_ntop(f->st->family == 10 ? AF_INET6 : AF_INET, e->key, ip, sizeof(ip));
			x->ip = kt_intern(f->st->snap->arena, ip);
			x->proto = e->key[al];
			x->port = (int32_t)(e->key[al + 4] << 8 | e->key[al + 5]);
		}
	} else if (f->shape == 1) {
		if (e->key_len >= 6) {
			x->proto = e->key[0];
			x->port = (int32_t)(e->key[4] << 8 | e->key[5]);
		}
	} else if (e->key_len >= 4) {
		uint32_t v;
		memcpy(&v, e->key, 4);
		x->index = v;
	}
	return 0;
}

static int read_family(struct kt_nl *nl, struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o,
		       uint8_t family)
{
	char err[512];
	bool exists = false;
	if (kt_nft_tables(nl, family, "kube-proxy", &exists, err, sizeof(err)) < 0) {
		kt_snapshot_gap(snap, "nftables tables", "%s", err);
		return -1;
	}
	if (!exists)
		return 0;
	struct nst st = {.snap = snap, .family = family, .table = family == 10 ? "ip6 kube-proxy" : "ip kube-proxy"};
	struct sfeed sf = {.st = &st};
	if (kt_nft_sets(nl, family, "kube-proxy", on_set, &sf, err, sizeof(err)) < 0)
		kt_snapshot_gap(snap, "nftables sets", "%s: %s", st.table, err);
	for (uint32_t i = 0; i < sf.n; i++) {
		struct nset *s = set_add(&st, sf.v[i].name, sf.v[i].timeout_ms);
		if (strncmp(s->name, "affinity-", 9) == 0)
			continue;
		struct efeed ef = {&st, s, strcmp(s->name, "service-ips") == 0 ? 0 : strcmp(s->name, "service-nodeports") == 0 ? 1 : 2};
		if (kt_nft_elems(nl, family, "kube-proxy", s->name, on_elem, &ef, err, sizeof(err)) < 0)
			kt_snapshot_gap(snap, "nftables set elements", "%s %s: %s", st.table, s->name, err);
	}
	free(sf.v);
	if (kt_nft_chains(nl, family, "kube-proxy", on_chain, &st, err, sizeof(err)) < 0)
		kt_snapshot_gap(snap, "nftables chains", "%s: %s", st.table, err);
	uint32_t nchains = st.nc;
	for (uint32_t i = 0; i < nchains; i++) {
		const char *nm = st.c[i].name;
		if (!strchr(nm, '/'))
			continue; /* only per-service chains matter */
		struct rfeed rf = {&st, &st.c[i]};
		if (kt_nft_rules(nl, family, "kube-proxy", nm, on_rule, &rf, err, sizeof(err)) < 0)
			kt_snapshot_gap(snap, "nftables rules", "%s %s: %s", st.table, nm, err);
	}
	finish(&st, n, o, KT_DP_NFTABLES);
	st_free(&st);
	return (int)nchains;
}

int kt_dp_nftables(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	char err[512];
	struct kt_nl *nl = kt_nl_open(NETLINK_NETFILTER, NULL, err, sizeof(err));
	if (!nl) {
		kt_snapshot_gap(snap, "nftables", "%s", err);
		return -1;
	}
	int r = read_family(nl, snap, n, o, 2);
	int r6 = read_family(nl, snap, n, o, 10);
	kt_nl_close(nl);
	return (r > 0 ? r : 0) + (r6 > 0 ? r6 : 0);
}

/* ---- nft -j JSON ---------------------------------------------------- */

static const char *js(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static uint8_t proto_num(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return (uint8_t)v->valueint;
	const char *s = cJSON_IsString(v) ? v->valuestring : "";
	return strcmp(s, "udp") == 0 ? 17 : strcmp(s, "sctp") == 0 ? 132 : 6;
}

static const char *verdict_chain(const cJSON *v)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(v, "goto");
	if (!g)
		g = cJSON_GetObjectItemCaseSensitive(v, "jump");
	return g ? js(g, "target") : NULL;
}

static void json_elems(struct nst *st, struct nset *s, const cJSON *arr, int shape)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2)
			continue;
		const cJSON *k = cJSON_GetArrayItem(e, 0), *v = cJSON_GetArrayItem(e, 1);
		if (cJSON_IsObject(k) && cJSON_GetObjectItemCaseSensitive(k, "elem"))
			k = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(k, "elem"), "val");
		const char *ch = verdict_chain(v);
		if (!ch)
			continue;
		struct nelem *x = elem_add(s);
		x->chain = adup(st, ch);
		const cJSON *cc = cJSON_GetObjectItemCaseSensitive(k, "concat");
		if (shape == 2 && cJSON_IsNumber(k)) {
			x->index = (uint32_t)k->valueint;
		} else if (cJSON_IsArray(cc)) {
			int n = cJSON_GetArraySize(cc);
			if (shape == 0 && n >= 3) {
				const cJSON *ip = cJSON_GetArrayItem(cc, 0);
				x->ip = cJSON_IsString(ip) ? kt_intern(st->snap->arena, ip->valuestring) : "";
				x->proto = proto_num(cJSON_GetArrayItem(cc, 1));
				x->port = cJSON_GetArrayItem(cc, 2)->valueint;
			} else if (shape == 1 && n >= 2) {
				x->proto = proto_num(cJSON_GetArrayItem(cc, 0));
				x->port = cJSON_GetArrayItem(cc, 1)->valueint;
			}
		}
	}
}

static void json_rule(struct nst *st, struct nchain *c, const cJSON *rule)
{
	struct nrule *r = rule_add(c);
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(rule, "handle");
	r->handle = cJSON_IsNumber(h) && h->valuedouble >= 0 && h->valuedouble < 1.8e19 ? (uint64_t)h->valuedouble : 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(rule, "expr")) {
		const cJSON *v;
		if ((v = cJSON_GetObjectItemCaseSensitive(x, "match"))) {
			const cJSON *l = cJSON_GetObjectItemCaseSensitive(v, "left");
			const cJSON *rt = cJSON_GetObjectItemCaseSensitive(v, "right");
			const cJSON *pl = cJSON_GetObjectItemCaseSensitive(l, "payload");
			const char *field = pl ? js(pl, "field") : NULL;
			if (field && strcmp(field, "saddr") == 0) {
				r->cond = true;
				if (cJSON_IsString(rt) && rt->valuestring[0] == '@') {
					r->set = adup(st, rt->valuestring + 1);
					r->key = KT_NFT_KEY_SADDR;
				}
			}
			const cJSON *fib = cJSON_GetObjectItemCaseSensitive(l, "fib");
			if (fib) {
				const cJSON *fl = cJSON_GetObjectItemCaseSensitive(fib, "flags");
				bool saddr = false;
				const cJSON *f;
				if (cJSON_IsString(fl))
					saddr = strcmp(fl->valuestring, "saddr") == 0;
				if (cJSON_IsArray(fl))
					cJSON_ArrayForEach(f, fl)
						if (cJSON_IsString(f) && strcmp(f->valuestring, "saddr") == 0)
							saddr = true;
				if (saddr) {
					r->cond = true;
					r->fib_local = true;
				}
			}
			const cJSON *meta = cJSON_GetObjectItemCaseSensitive(l, "meta");
			if (meta && js(meta, "key") && strstr(js(meta, "key"), "if"))
				r->cond = true;
		} else if ((v = cJSON_GetObjectItemCaseSensitive(x, "vmap"))) {
			const cJSON *k = cJSON_GetObjectItemCaseSensitive(v, "key");
			const cJSON *ng = cJSON_GetObjectItemCaseSensitive(k, "numgen");
			const cJSON *data = cJSON_GetObjectItemCaseSensitive(v, "data");
			if (ng) {
				const cJSON *mod = cJSON_GetObjectItemCaseSensitive(ng, "mod");
				r->key = KT_NFT_KEY_NUMGEN;
				r->mod = cJSON_IsNumber(mod) ? (uint32_t)mod->valueint : 0;
				const cJSON *set = cJSON_GetObjectItemCaseSensitive(data, "set");
				if (cJSON_IsArray(set)) {
					char nm[32];
					snprintf(nm, sizeof(nm), "__json%u", st->anon++);
					struct nset *s = set_add(st, nm, 0);
					json_elems(st, s, set, 2);
					r->set = s->name;
				} else if (cJSON_IsString(data) && data->valuestring[0] == '@') {
					r->set = adup(st, data->valuestring + 1);
				}
			}
		} else if ((v = cJSON_GetObjectItemCaseSensitive(x, "jump")) ||
			   (v = cJSON_GetObjectItemCaseSensitive(x, "goto"))) {
			r->verdict = cJSON_GetObjectItemCaseSensitive(x, "jump") ? KT_IPT_JUMP : KT_IPT_GOTO;
			r->target = adup(st, js(v, "target"));
		} else if ((v = cJSON_GetObjectItemCaseSensitive(x, "dnat"))) {
			r->verdict = KT_IPT_DNAT;
			const char *a = js(v, "addr");
			r->dnat_ip = a ? kt_intern(st->snap->arena, a) : NULL;
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "port");
			r->dnat_port = cJSON_IsNumber(p) ? p->valueint : 0;
		} else if ((v = cJSON_GetObjectItemCaseSensitive(x, "mangle"))) {
			r->set_mark = true;
		}
	}
}

int kt_dp_nft_json_mem(struct kt_snapshot *snap, struct kt_dp_node *n, const char *buf, size_t len,
		       const char *name, struct kt_diag *d)
{
	cJSON *root = cJSON_ParseWithLength(buf, len);
	if (!root) {
		const char *ep = cJSON_GetErrorPtr();
		size_t off = ep && ep >= buf && ep <= buf + len ? (size_t)(ep - buf) : 0;
		unsigned line = 1;
		for (size_t i = 0; i < off; i++)
			line += buf[i] == '\n';
		kt_diag_hint(d, "pass the output of 'nft -j list ruleset' unchanged");
		return kt_diag_set(d, KT_EXIT_INPUT, "%s:%u: malformed nft JSON", name, line);
	}
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "nftables");
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(root);
		kt_diag_hint(d, "pass the output of 'nft -j list ruleset' unchanged");
		return kt_diag_set(d, KT_EXIT_INPUT, "%s: no \"nftables\" array", name);
	}
	for (int fam = 0; fam < 2; fam++) {
		const char *fname = fam ? "ip6" : "ip";
		struct nst st = {.snap = snap, .family = fam ? 10 : 2, .table = fam ? "ip6 kube-proxy" : "ip kube-proxy"};
		const cJSON *it;
		/* chains and sets first, then rules (rules reference chains by name) */
		cJSON_ArrayForEach(it, arr) {
			const cJSON *o;
			if ((o = cJSON_GetObjectItemCaseSensitive(it, "chain"))) {
				if (js(o, "table") && strcmp(js(o, "table"), "kube-proxy") == 0 && js(o, "family") &&
				    strcmp(js(o, "family"), fname) == 0 && js(o, "name"))
					chain_add(&st, js(o, "name"));
			} else if ((o = cJSON_GetObjectItemCaseSensitive(it, "map")) ||
				   (o = cJSON_GetObjectItemCaseSensitive(it, "set"))) {
				if (!js(o, "table") || strcmp(js(o, "table"), "kube-proxy") != 0 || !js(o, "family") ||
				    strcmp(js(o, "family"), fname) != 0 || !js(o, "name"))
					continue;
				const cJSON *to = cJSON_GetObjectItemCaseSensitive(o, "timeout");
				struct nset *s = set_add(&st, js(o, "name"), cJSON_IsNumber(to) && to->valuedouble >= 0 && to->valuedouble < 1e12 ? (uint64_t)to->valuedouble * 1000 : 0);
				json_elems(&st, s, cJSON_GetObjectItemCaseSensitive(o, "elem"),
					   strcmp(s->name, "service-ips") == 0 ? 0 : strcmp(s->name, "service-nodeports") == 0 ? 1 : 2);
			}
		}
		if (!st.nc) {
			st_free(&st);
			continue;
		}
		qsort(st.c, st.nc, sizeof(*st.c), cmp_chain);
		cJSON_ArrayForEach(it, arr) {
			const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, "rule");
			if (!o || !js(o, "table") || strcmp(js(o, "table"), "kube-proxy") != 0 || !js(o, "family") ||
			    strcmp(js(o, "family"), fname) != 0)
				continue;
			struct nchain *c = find_chain(&st, js(o, "chain"));
			if (c && strchr(c->name, '/'))
				json_rule(&st, c, o);
		}
		finish(&st, n, NULL, KT_DP_NFTABLES);
		st_free(&st);
	}
	cJSON_Delete(root);
	return 0;
}

int kt_dp_nft_json_file(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o,
			struct kt_diag *d)
{
	FILE *f = strcmp(o->nft_json, "-") == 0 ? stdin : fopen(o->nft_json, "r");
	if (!f) {
		int e = errno;
		return kt_diag_set(d, e == ENOENT ? KT_EXIT_NOTFOUND : KT_EXIT_INPUT, "cannot open %s: %s", o->nft_json,
				   strerror(e));
	}
	char *buf;
	size_t len;
	int big = kt_read_stream(f, 1 << 16, (size_t)1 << 30, &buf, &len);
	if (f != stdin)
		fclose(f);
	if (big) {
		free(buf);
		return kt_diag_set(d, KT_EXIT_INPUT, "%s: larger than 1 GiB", o->nft_json);
	}
	int rc = kt_dp_nft_json_mem(snap, n, buf, len, o->nft_json, d);
	free(buf);
	return rc;
}
