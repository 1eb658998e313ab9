/*
 * kube-proxy nftables mode, the intake half: the `ip kube-proxy` / `ip6
 * kube-proxy` tables, read live through libnftnl (collectors/dp_nftnl.c:
 * sets, set elements, chains, rules per chain) or from `nft -j list
 * ruleset` JSON, into one small IR (chains with summarised rules, sets and
 * maps with decoded elements, their comments and interval flags) that
 * dp_nftmodel.c turns into services. Only what the model reads is kept:
 * the per-service chains (their names carry ns/name/proto/port), the
 * `services` chain (how NodePorts are dispatched), the dispatch, no-endpoint,
 * firewall, cluster-ips and nodeport-ips maps and sets, anonymous sets
 * (numgen maps, source ranges) and affinity timeouts.
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

#include "collectors/dataplane/dp_nft.h"
#include "ktrace/arena.h"
#include "ktrace/fileio.h"
#include "ktrace/xalloc.h"

#define GROW(arr, n, cap) do { if ((n) == (cap)) { (cap) = (cap) ? (cap) * 2 : 16; \
	(arr) = kt_xreallocarray((arr), (size_t)(cap), sizeof(*(arr))); } } while (0)

const char *nft_adup(struct nst *st, const char *s)
{
	return s ? kt_arena_strdup(st->snap->arena, s) : NULL;
}

struct nchain *nft_chain_add(struct nst *st, const char *name)
{
	GROW(st->c, st->nc, st->capc);
	struct nchain *c = &st->c[st->nc++];
	memset(c, 0, sizeof(*c));
	c->name = nft_adup(st, name);
	c->group = KT_NONE;
	return c;
}

struct nset *nft_set_add(struct nst *st, const char *name, uint64_t timeout_ms)
{
	GROW(st->s, st->ns, st->caps);
	struct nset *s = &st->s[st->ns++];
	memset(s, 0, sizeof(*s));
	s->name = nft_adup(st, name);
	s->timeout_ms = timeout_ms;
	return s;
}

struct nelem *nft_elem_add(struct nset *s)
{
	GROW(s->e, s->n, s->cap);
	struct nelem *e = &s->e[s->n++];
	memset(e, 0, sizeof(*e));
	e->verdict = NFT_NO_VERDICT;
	return e;
}

struct nrule *nft_rule_add(struct nchain *c)
{
	GROW(c->r, c->n, c->cap);
	struct nrule *r = &c->r[c->n++];
	memset(r, 0, sizeof(*r));
	return r;
}

void nft_st_free(struct nst *st)
{
	for (uint32_t i = 0; i < st->nc; i++)
		free(st->c[i].r);
	for (uint32_t i = 0; i < st->ns; i++)
		free(st->s[i].e);
	free(st->c);
	free(st->s);
}

int nft_shape(const char *set)
{
	if (strcmp(set, "service-ips") == 0 || strcmp(set, "no-endpoint-services") == 0 ||
	    strcmp(set, "firewall-ips") == 0)
		return NSHAPE_ADDR_PROTO_PORT;
	if (strcmp(set, "service-nodeports") == 0 || strcmp(set, "no-endpoint-nodeports") == 0)
		return NSHAPE_PROTO_PORT;
	if (strcmp(set, "cluster-ips") == 0 || strcmp(set, "nodeport-ips") == 0)
		return NSHAPE_ADDR;
	return NSHAPE_INDEX; /* anonymous: numgen maps and source-range sets */
}

/* the sets the model reads: dispatch, no-endpoint and firewall maps, the
 * cluster-ips / nodeport-ips sets, anonymous sets, affinity timeouts */
bool nft_wanted_set(const char *name, uint32_t flags)
{
	static const char *const named[] = {"service-ips", "service-nodeports", "no-endpoint-services",
					    "no-endpoint-nodeports", "firewall-ips", "cluster-ips", "nodeport-ips", NULL};
	for (const char *const *p = named; *p; p++)
		if (strcmp(name, *p) == 0)
			return true;
	return (flags & NFT_SET_ANONYMOUS) || strncmp(name, "affinity-", 9) == 0;
}

/* chains whose rules the model reads: per-service chains, `services` */
static bool wanted_chain(const char *name)
{
	return strchr(name, '/') || strcmp(name, "services") == 0;
}

/* ---- live (libnftnl) ------------------------------------------------ */

static int on_chain(const char *name, bool base, void *ctx)
{
	(void)base;
	nft_chain_add(ctx, name);
	return 0;
}

struct rfeed {
	struct nst *st;
	struct nchain *c;
};

static int on_rule(const struct kt_nft_rule *x, void *ctx)
{
	struct rfeed *f = ctx;
	struct nrule *r = nft_rule_add(f->c);
	r->handle = x->ipt.handle;
	r->verdict = (uint8_t)x->ipt.verdict;
	r->target = x->ipt.target ? nft_adup(f->st, x->target) : NULL;
	r->cond = x->ipt.src[0] || x->ipt.iif || x->fib_saddr_local;
	r->fib_local = x->fib_saddr_local;
	r->fib_daddr_local = x->fib_daddr_local;
	r->set = x->lookup_set[0] ? nft_adup(f->st, x->lookup_set) : NULL;
	r->daddr_set = x->daddr_set[0] ? nft_adup(f->st, x->daddr_set) : NULL;
	r->set_inv = x->lookup_inv;
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
	if (!nft_wanted_set(si->name, si->flags))
		return 0;
	GROW(f->v, f->n, f->cap);
	f->v[f->n] = *si;
	f->v[f->n].name = nft_adup(f->st, si->name);
	f->n++;
	return 0;
}

struct efeed {
	struct nst *st;
	struct nset *s;
	int shape;
};

static const char *ntop(struct nst *st, const uint8_t *a)
{
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(st->family == 10 ? AF_INET6 : AF_INET, a, ip, sizeof(ip));
	return kt_intern(st->snap->arena, ip);
}

static int on_elem(const struct kt_nft_elem *e, void *ctx)
{
	struct efeed *f = ctx;
	struct nset *s = f->s;
	struct nelem *x = nft_elem_add(s);
	x->chain = e->chain ? nft_adup(f->st, e->chain) : NULL;
	x->verdict = e->verdict;
	x->comment = e->comment[0] ? nft_adup(f->st, e->comment) : NULL;
	x->interval_end = e->flags & NFT_SET_ELEM_INTERVAL_END;
	uint32_t al = f->st->family == 10 ? 16 : 4;
	x->alen = (uint8_t)(e->key_len < 16 ? e->key_len : 16);
	memcpy(x->addr, e->key, x->alen);
	if (f->shape == NSHAPE_ADDR_PROTO_PORT) {
		if (e->key_len >= al + 6) {
			x->ip = ntop(f->st, e->key);
			x->proto = e->key[al];
			x->port = (int32_t)(e->key[al + 4] << 8 | e->key[al + 5]);
		}
	} else if (f->shape == NSHAPE_PROTO_PORT) {
		if (e->key_len >= 6) {
			x->proto = e->key[0];
			x->port = (int32_t)(e->key[4] << 8 | e->key[5]);
		}
	} else if (f->shape == NSHAPE_ADDR) {
		if (e->key_len >= al)
			x->ip = ntop(f->st, e->key);
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
		struct nset *s = nft_set_add(&st, sf.v[i].name, sf.v[i].timeout_ms);
		if (strncmp(s->name, "affinity-", 9) == 0)
			continue;
		struct efeed ef = {&st, s, nft_shape(s->name)};
		if (kt_nft_elems(nl, family, "kube-proxy", s->name, on_elem, &ef, err, sizeof(err)) < 0)
			kt_snapshot_gap(snap, "nftables set elements", "%s %s: %s", st.table, s->name, err);
	}
	free(sf.v);
	if (kt_nft_chains(nl, family, "kube-proxy", on_chain, &st, err, sizeof(err)) < 0)
		kt_snapshot_gap(snap, "nftables chains", "%s: %s", st.table, err);
	uint32_t nchains = st.nc;
	for (uint32_t i = 0; i < nchains; i++) {
		const char *nm = st.c[i].name;
		if (!wanted_chain(nm))
			continue;
		struct rfeed rf = {&st, &st.c[i]};
		if (kt_nft_rules(nl, family, "kube-proxy", nm, on_rule, &rf, err, sizeof(err)) < 0)
			kt_snapshot_gap(snap, "nftables rules", "%s %s: %s", st.table, nm, err);
	}
	nft_finish(&st, n, o, KT_DP_NFTABLES);
	nft_st_free(&st);
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

static const cJSON *jo(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static uint8_t proto_num(const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return (uint8_t)v->valueint;
	const char *s = cJSON_IsString(v) ? v->valuestring : "";
	return strcmp(s, "udp") == 0 ? 17 : strcmp(s, "sctp") == 0 ? 132 : 6;
}

static int32_t jint(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 65536 ? v->valueint : 0;
}

/* an element's verdict: chain and code */
static void json_verdict(struct nst *st, struct nelem *x, const cJSON *v)
{
	const cJSON *g = jo(v, "goto");
	if (!g)
		g = jo(v, "jump");
	if (g) {
		x->chain = nft_adup(st, js(g, "target"));
		x->verdict = jo(v, "goto") ? NFT_GOTO : NFT_JUMP;
	} else if (cJSON_IsObject(v) && jo(v, "drop")) {
		x->verdict = NF_DROP;
	} else if (cJSON_IsObject(v) && jo(v, "accept")) {
		x->verdict = NF_ACCEPT;
	}
}

/* an address (or prefix) element of a plain set */
static void json_addr(struct nst *st, struct nelem *x, const cJSON *k)
{
	const cJSON *px = jo(k, "prefix");
	const char *ip = cJSON_IsString(k) ? k->valuestring : px ? js(px, "addr") : NULL;
	if (!ip)
		return;
	x->ip = kt_intern(st->snap->arena, ip);
	x->plen = px && cJSON_IsNumber(jo(px, "len")) ? (uint8_t)jo(px, "len")->valueint : 0;
	x->alen = inet_pton(st->family == 10 ? AF_INET6 : AF_INET, ip, x->addr) == 1 ? (st->family == 10 ? 16 : 4) : 0;
}

static void json_elems(struct nst *st, struct nset *s, const cJSON *arr, int shape)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		const cJSON *k = e, *v = NULL;
		if (cJSON_IsArray(e)) {
			if (cJSON_GetArraySize(e) != 2)
				continue;
			k = cJSON_GetArrayItem(e, 0);
			v = cJSON_GetArrayItem(e, 1);
		}
		const char *comment = NULL;
		if (cJSON_IsObject(k) && jo(k, "elem")) {
			comment = js(jo(k, "elem"), "comment");
			k = jo(jo(k, "elem"), "val");
		}
		struct nelem *x = nft_elem_add(s);
		x->comment = nft_adup(st, comment);
		if (v)
			json_verdict(st, x, v);
		const cJSON *cc = jo(k, "concat");
		if (shape == NSHAPE_INDEX && cJSON_IsNumber(k)) {
			x->index = (uint32_t)k->valueint;
		} else if (shape == NSHAPE_ADDR) {
			json_addr(st, x, k);
		} else if (cJSON_IsArray(cc)) {
			int n = cJSON_GetArraySize(cc);
			if (shape == NSHAPE_ADDR_PROTO_PORT && n >= 3) {
				const cJSON *ip = cJSON_GetArrayItem(cc, 0);
				x->ip = cJSON_IsString(ip) ? kt_intern(st->snap->arena, ip->valuestring) : "";
				x->proto = proto_num(cJSON_GetArrayItem(cc, 1));
				x->port = jint(cJSON_GetArrayItem(cc, 2));
			} else if (shape == NSHAPE_PROTO_PORT && n >= 2) {
				x->proto = proto_num(cJSON_GetArrayItem(cc, 0));
				x->port = jint(cJSON_GetArrayItem(cc, 1));
			}
		}
	}
}

/* addr += 2^bit (big-endian bytes); false on overflow past the top */
static bool addr_add_pow2(uint8_t *a, uint8_t alen, int bit)
{
	int byte = alen - 1 - bit / 8;
	unsigned carry = 1u << (bit % 8);
	for (int i = byte; i >= 0 && carry; i--) {
		unsigned v = a[i] + carry;
		a[i] = (uint8_t)v;
		carry = v >> 8;
	}
	return carry == 0;
}

/* one interval [start, end) as two elements of an interval set */
static void json_interval(struct nset *s, const uint8_t *start, const uint8_t *end, uint8_t alen)
{
	struct nelem *x = nft_elem_add(s);
	memcpy(x->addr, start, alen);
	x->alen = alen;
	if (end) {
		x = nft_elem_add(s);
		memcpy(x->addr, end, alen);
		x->alen = alen;
		x->interval_end = true;
	}
}

/* `ip saddr != { ranges }`: a literal set of addresses, prefixes and
 * ranges, kept as an interval set like the kernel holds it */
static void json_ranges(struct nst *st, struct nrule *r, const cJSON *set)
{
	int af = st->family == 10 ? AF_INET6 : AF_INET;
	uint8_t alen = st->family == 10 ? 16 : 4;
	char nm[32];
	snprintf(nm, sizeof(nm), "__jsonr%u", st->anon++);
	struct nset *s = nft_set_add(st, nm, 0);
	r->set = s->name;
	const cJSON *e;
	cJSON_ArrayForEach(e, set) {
		uint8_t lo[16] = {0}, hi[16] = {0};
		const cJSON *px = jo(e, "prefix"), *rg = jo(e, "range");
		int plen = alen * 8;
		const char *ip = cJSON_IsString(e) ? e->valuestring : px ? js(px, "addr") : NULL;
		if (px && cJSON_IsNumber(jo(px, "len")))
			plen = jo(px, "len")->valueint;
		if (ip) {
			if (plen < 0 || plen > alen * 8 || inet_pton(af, ip, lo) != 1)
				continue;
			memcpy(hi, lo, alen);
			bool fits = plen == 0 ? false : addr_add_pow2(hi, alen, alen * 8 - plen);
			json_interval(s, lo, fits ? hi : NULL, alen);
		} else if (cJSON_IsArray(rg) && cJSON_GetArraySize(rg) == 2 && cJSON_IsString(cJSON_GetArrayItem(rg, 0)) &&
			   cJSON_IsString(cJSON_GetArrayItem(rg, 1))) {
			if (inet_pton(af, cJSON_GetArrayItem(rg, 0)->valuestring, lo) != 1 ||
			    inet_pton(af, cJSON_GetArrayItem(rg, 1)->valuestring, hi) != 1)
				continue;
			bool fits = addr_add_pow2(hi, alen, 0); /* inclusive end -> exclusive */
			json_interval(s, lo, fits ? hi : NULL, alen);
		}
	}
}

static void json_match(struct nst *st, struct nrule *r, const cJSON *v)
{
	const cJSON *l = jo(v, "left");
	const cJSON *rt = jo(v, "right");
	const char *op = js(v, "op");
	bool neq = op && strcmp(op, "!=") == 0;
	const cJSON *pl = jo(l, "payload");
	const char *field = pl ? js(pl, "field") : NULL;
	if (field && strcmp(field, "saddr") == 0) {
		r->cond = true;
		if (cJSON_IsString(rt) && rt->valuestring[0] == '@') {
			r->set = nft_adup(st, rt->valuestring + 1);
			r->key = KT_NFT_KEY_SADDR;
			r->set_inv = neq;
		} else if (cJSON_IsArray(jo(rt, "set")) && neq) {
			r->set_inv = true;
			r->key = KT_NFT_KEY_SADDR;
			json_ranges(st, r, jo(rt, "set"));
		}
	} else if (field && strcmp(field, "daddr") == 0 && cJSON_IsString(rt) && rt->valuestring[0] == '@' && !neq) {
		r->daddr_set = nft_adup(st, rt->valuestring + 1);
	}
	const cJSON *fib = jo(l, "fib");
	if (fib) {
		const cJSON *fl = jo(fib, "flags");
		bool saddr = false, daddr = false;
		const cJSON *f;
		if (cJSON_IsString(fl)) {
			saddr = strcmp(fl->valuestring, "saddr") == 0;
			daddr = strcmp(fl->valuestring, "daddr") == 0;
		}
		if (cJSON_IsArray(fl))
			cJSON_ArrayForEach(f, fl)
				if (cJSON_IsString(f)) {
					saddr |= strcmp(f->valuestring, "saddr") == 0;
					daddr |= strcmp(f->valuestring, "daddr") == 0;
				}
		if (saddr) {
			r->cond = true;
			r->fib_local = true;
		}
		if (daddr && !neq)
			r->fib_daddr_local = true;
	}
	const cJSON *meta = jo(l, "meta");
	if (meta && js(meta, "key") && strstr(js(meta, "key"), "if"))
		r->cond = true;
}

static void json_rule(struct nst *st, struct nchain *c, const cJSON *rule)
{
	struct nrule *r = nft_rule_add(c);
	const cJSON *h = jo(rule, "handle");
	r->handle = cJSON_IsNumber(h) && h->valuedouble >= 0 && h->valuedouble < 1.8e19 ? (uint64_t)h->valuedouble : 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, jo(rule, "expr")) {
		const cJSON *v;
		if ((v = jo(x, "match"))) {
			json_match(st, r, v);
		} else if ((v = jo(x, "vmap"))) {
			const cJSON *ng = jo(jo(v, "key"), "numgen");
			const cJSON *data = jo(v, "data");
			if (cJSON_IsString(data) && data->valuestring[0] == '@') {
				r->set = nft_adup(st, data->valuestring + 1);
				r->key = KT_NFT_KEY_L4PORT;
			}
			if (ng) {
				const cJSON *mod = jo(ng, "mod");
				r->key = KT_NFT_KEY_NUMGEN;
				r->mod = cJSON_IsNumber(mod) && mod->valuedouble > 0 && mod->valuedouble < 1e9 ? (uint32_t)mod->valueint : 0;
				const cJSON *set = jo(data, "set");
				if (cJSON_IsArray(set)) {
					char nm[32];
					snprintf(nm, sizeof(nm), "__json%u", st->anon++);
					struct nset *s = nft_set_add(st, nm, 0);
					json_elems(st, s, set, NSHAPE_INDEX);
					r->set = s->name;
				}
			}
		} else if ((v = jo(x, "jump")) || (v = jo(x, "goto"))) {
			r->verdict = jo(x, "jump") ? KT_IPT_JUMP : KT_IPT_GOTO;
			r->target = nft_adup(st, js(v, "target"));
		} else if (jo(x, "drop")) {
			r->verdict = KT_IPT_DROP;
		} else if (jo(x, "reject")) {
			r->verdict = KT_IPT_REJECT;
		} else if ((v = jo(x, "dnat"))) {
			r->verdict = KT_IPT_DNAT;
			const char *a = js(v, "addr");
			r->dnat_ip = a ? kt_intern(st->snap->arena, a) : NULL;
			r->dnat_port = jint(jo(v, "port"));
		} else if (jo(x, "mangle")) {
			r->set_mark = true;
		}
	}
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct nchain *)a)->name, ((const struct nchain *)b)->name);
}

static bool ours(const cJSON *o, const char *fam)
{
	return js(o, "table") && strcmp(js(o, "table"), "kube-proxy") == 0 && js(o, "family") &&
	       strcmp(js(o, "family"), fam) == 0;
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
	const cJSON *arr = jo(root, "nftables");
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
			if ((o = jo(it, "chain"))) {
				if (ours(o, fname) && js(o, "name"))
					nft_chain_add(&st, js(o, "name"));
			} else if ((o = jo(it, "map")) || (o = jo(it, "set"))) {
				if (!ours(o, fname) || !js(o, "name") || !nft_wanted_set(js(o, "name"), 0))
					continue;
				const cJSON *to = jo(o, "timeout");
				struct nset *s = nft_set_add(&st, js(o, "name"), cJSON_IsNumber(to) && to->valuedouble >= 0 && to->valuedouble < 1e12 ? (uint64_t)to->valuedouble * 1000 : 0);
				json_elems(&st, s, jo(o, "elem"), nft_shape(s->name));
			}
		}
		if (!st.nc) {
			nft_st_free(&st);
			continue;
		}
		qsort(st.c, st.nc, sizeof(*st.c), cmp_name);
		cJSON_ArrayForEach(it, arr) {
			const cJSON *o = jo(it, "rule");
			if (!o || !ours(o, fname) || !js(o, "chain") || !wanted_chain(js(o, "chain")))
				continue;
			struct nchain k = {.name = js(o, "chain")};
			struct nchain *c = bsearch(&k, st.c, st.nc, sizeof(*st.c), cmp_name);
			if (c)
				json_rule(&st, c, o);
		}
		nft_finish(&st, n, NULL, KT_DP_NFTABLES);
		nft_st_free(&st);
	}
	cJSON_Delete(root);
	return 0;
}

int kt_dp_nft_json_file(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o,
			struct kt_diag *d)
{
	if (o->nft_json_text)
		return kt_dp_nft_json_mem(snap, n, o->nft_json_text, o->nft_json_len, o->nft_json, d);
	FILE *f = strcmp(o->nft_json, "-") == 0 ? stdin : fopen(o->nft_json, "r");
	if (!f) {
		int e = errno;
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot open %s: %s", o->nft_json,
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
