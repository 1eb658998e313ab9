/*
 * nftables rule sets for `ktrace trace`: `nft -j list ruleset` output cut
 * down to what one probe can reach, and ordered so that `nft -j -f`
 * accepts it (tables, chains, sets and maps, named objects, elements,
 * then rules).
 *
 * The input is scanned once without building it: every element of the
 * "nftables" array is classified by its first key, tables, chains and
 * rules are read by a small event walker (a rule's family, table and
 * chain, every jump/goto target, every "@set" reference, the literal
 * addresses and ports of its dnat/snat/redirect statements); only sets and
 * maps are parsed whole (cJSON), since their elements are what pruning
 * cuts. Rules and chains that stay are copied out verbatim.
 *
 * What stays, for a probe of one family (ip + inet tables for IPv4, ip6 +
 * inet for IPv6): every base chain and every chain reachable from one
 * through jumps, gotos and verdict maps, every rule of those chains (rules
 * are never cut inside a chain: positions stay the node's), and of every
 * set and map a reachable rule names, only the elements whose key can
 * match a value the packet can carry: its destination, source and node
 * addresses, the addresses and ports its reachable DNAT rules translate it
 * to (found to a fixed point), its protocol, destination port and source
 * ports. A component of another type, or one this file cannot read,
 * matches. A DNAT to a computed address turns element pruning off. Must
 * not: print, run anything.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "collectors/trace/trace_int.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

#define MAX_ITEMS 4000000u
#define MAX_VALUES 4096u     /* addresses / ports the packet may carry */
#define MAX_ROUNDS 16

enum kind { K_NONE, K_META, K_TABLE, K_CHAIN, K_SET, K_MAP, K_FLOWTABLE, K_OBJ, K_ELEMENT, K_RULE, K_KINDS };

/* A name: a span of the input (or of an arena copy when it had escapes). */
struct span {
	const char *p;
	uint32_t n;
};

struct item {
	const char *at;
	uint32_t len;
	uint8_t kind;
	uint8_t fam;             /* 'i' ip, '6' ip6, 'n' inet, other 'x', unknown 0 */
	int32_t owner;           /* rule: rule index; chain: chain index; set/map: set index; -1 */
};

struct chain {
	struct span table, name;
	uint8_t fam;
	bool base, reach;
};

struct rule {
	uint32_t item;
	struct span table, chain_name;
	uint8_t fam;
	int32_t chain;           /* resolved after the scan; -1 unknown */
	uint32_t ref0, n_refs;   /* targets and @sets: into refs[] */
	uint32_t nat0, n_nat;    /* translated-to values: into nat[] */
	bool nat_unknown;        /* a dnat/snat/redirect to a computed value */
};

struct ref {
	struct span name;
	bool set;                /* "@name" (a set or map), else a chain */
};

struct natv {
	const char *addr;        /* NULL: a port only */
	int32_t port;            /* -1 none */
};

struct set {
	uint32_t item;
	struct span table, name;
	uint8_t fam;
	bool used;
	cJSON *root;             /* {"set": {...}} or {"map": {...}}, parsed on first use */
	bool parsed, verdict;
	uint8_t *keep;           /* per element */
	int n_elem;
};

struct prune {
	struct kt_arena *a;
	struct item *items;
	uint32_t n_items, cap_items;
	struct chain *chains;
	uint32_t n_chains, cap_chains;
	struct rule *rules;
	uint32_t n_rules, cap_rules;
	struct ref *refs;
	uint32_t n_refs, cap_refs;
	struct natv *nat;
	uint32_t n_nat, cap_nat;
	struct set *sets;
	uint32_t n_sets, cap_sets;
	uint32_t *cidx;          /* chain hash: index + 1 */
	uint32_t cidx_cap;
	/* the probe */
	const struct kt_nft_probe *pr;
	uint8_t want_fam;        /* 'i' or '6' */
	char addrs[MAX_VALUES][16];
	uint32_t n_addrs;
	int32_t ports[MAX_VALUES];
	uint32_t n_ports;
	bool no_elem_prune;
};

#define GROW(arr, n, cap)                                                                                         \
	do {                                                                                                      \
		if ((n) == (cap)) {                                                                               \
			(cap) = (cap) ? (cap) * 2 : 64;                                                           \
			(arr) = kt_xreallocarray((arr), (cap), sizeof(*(arr)));                                   \
		}                                                                                                 \
	} while (0)

static struct span span_of(struct kt_arena *a, const char *s, size_t n, bool esc)
{
	if (!esc)
		return (struct span){s, (uint32_t)n};
	const char *d = kt_jwalk_dup(a, s, n, true);
	return (struct span){d, (uint32_t)strlen(d)};
}

static bool span_eq(struct span a, struct span b)
{
	return a.n == b.n && !memcmp(a.p, b.p, a.n);
}

static uint8_t fam_code(const char *s, size_t n)
{
	if (kt_jwalk_keyis(s, n, "ip"))
		return 'i';
	if (kt_jwalk_keyis(s, n, "ip6"))
		return '6';
	if (kt_jwalk_keyis(s, n, "inet"))
		return 'n';
	return 'x';
}

/* ---- reading one element of the "nftables" array ------------------------ */

struct erd {
	struct prune *x;
	struct item *it;
	struct span table, name, chain; /* depth-2 members */
	bool hook;
	struct rule *r;          /* rules: refs and nat values are appended */
	int nat_depth;           /* inside a dnat/snat/redirect object at this depth; 0 none */
};

static void add_ref(struct erd *e, struct span name, bool set)
{
	struct prune *x = e->x;
	GROW(x->refs, x->n_refs, x->cap_refs);
	x->refs[x->n_refs++] = (struct ref){.name = name, .set = set};
	e->r->n_refs++;
}

static void add_nat(struct erd *e, const char *addr, int32_t port)
{
	struct prune *x = e->x;
	GROW(x->nat, x->n_nat, x->cap_nat);
	x->nat[x->n_nat++] = (struct natv){.addr = addr, .port = port};
	e->r->n_nat++;
}

static void e_open(struct kt_jw_walk *w, const char *key, size_t klen, int depth, bool obj)
{
	struct erd *e = w->u;
	if (depth == 0 && obj)
		return;
	if (depth == 1 && !e->it->kind) {
		/* the element's kind is its first member's name */
		static const struct {
			const char *k;
			uint8_t kind;
		} kinds[] = {{"metainfo", K_META}, {"table", K_TABLE}, {"chain", K_CHAIN}, {"set", K_SET},
			     {"map", K_MAP},       {"flowtable", K_FLOWTABLE}, {"element", K_ELEMENT},
			     {"rule", K_RULE}};
		e->it->kind = K_OBJ;
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (kt_jwalk_keyis(key, klen, kinds[i].k))
				e->it->kind = kinds[i].kind;
		return;
	}
	if (!e->r)
		return;
	if (kt_jwalk_keyis(key, klen, "dnat") || kt_jwalk_keyis(key, klen, "snat") || kt_jwalk_keyis(key, klen, "redirect") ||
	    kt_jwalk_keyis(key, klen, "tproxy")) {
		if (!e->nat_depth)
			e->nat_depth = depth;
	} else if (e->nat_depth && depth == e->nat_depth + 1 && (kt_jwalk_keyis(key, klen, "addr") || kt_jwalk_keyis(key, klen, "port"))) {
		e->r->nat_unknown = true; /* a translation to a computed value (a map lookup) */
	}
}

static void e_close(struct kt_jw_walk *w, int depth)
{
	struct erd *e = w->u;
	if (e->nat_depth == depth)
		e->nat_depth = 0;
}

static void e_scalar(struct kt_jw_walk *w, const char *key, size_t klen, int depth, const char *s, size_t n, bool str,
		     bool esc)
{
	struct erd *e = w->u;
	struct kt_arena *a = e->x->a;
	if (depth == 2) {
		if (kt_jwalk_keyis(key, klen, "family") && str)
			e->it->fam = fam_code(s, n);
		else if (kt_jwalk_keyis(key, klen, "table") && str)
			e->table = span_of(a, s, n, esc);
		else if (kt_jwalk_keyis(key, klen, "name") && str)
			e->name = span_of(a, s, n, esc);
		else if (kt_jwalk_keyis(key, klen, "chain") && str)
			e->chain = span_of(a, s, n, esc);
		else if (kt_jwalk_keyis(key, klen, "hook"))
			e->hook = true;
		return;
	}
	if (!e->r || depth < 2)
		return;
	if (str && kt_jwalk_keyis(key, klen, "target")) {
		add_ref(e, span_of(a, s, n, esc), false);
	} else if (str && n > 1 && s[0] == '@') {
		add_ref(e, span_of(a, s + 1, n - 1, esc), true);
	} else if (e->nat_depth && depth == e->nat_depth + 1) {
		if (kt_jwalk_keyis(key, klen, "addr") && str)
			add_nat(e, kt_jwalk_dup(a, s, n, esc), -1);
		else if (kt_jwalk_keyis(key, klen, "port") && !str)
			add_nat(e, NULL, (int32_t)strtol(kt_arena_strndup(a, s, n), NULL, 10));
		else if (kt_jwalk_keyis(key, klen, "port") || kt_jwalk_keyis(key, klen, "addr"))
			e->r->nat_unknown = true;
	}
}

/* ---- the chain index ---------------------------------------------------- */

static uint32_t chash(uint8_t fam, struct span table, struct span name)
{
	return (uint32_t)kt_hash64(kt_hash64(fam, table.p, table.n), name.p, name.n);
}

static void cidx_put(struct prune *x, uint32_t i)
{
	if ((x->n_chains + 1) * 2 > x->cidx_cap) {
		uint32_t cap = x->cidx_cap ? x->cidx_cap * 2 : 1024;
		while (cap < (x->n_chains + 1) * 2)
			cap *= 2;
		free(x->cidx);
		x->cidx = kt_xcalloc(cap, sizeof(*x->cidx));
		x->cidx_cap = cap;
		for (uint32_t k = 0; k < i; k++) {
			uint32_t h = chash(x->chains[k].fam, x->chains[k].table, x->chains[k].name) & (cap - 1);
			while (x->cidx[h])
				h = (h + 1) & (cap - 1);
			x->cidx[h] = k + 1;
		}
	}
	uint32_t h = chash(x->chains[i].fam, x->chains[i].table, x->chains[i].name) & (x->cidx_cap - 1);
	while (x->cidx[h])
		h = (h + 1) & (x->cidx_cap - 1);
	x->cidx[h] = i + 1;
}

static int32_t cidx_find(const struct prune *x, uint8_t fam, struct span table, struct span name)
{
	if (!x->cidx_cap || !table.p || !name.p)
		return -1;
	uint32_t h = chash(fam, table, name) & (x->cidx_cap - 1);
	while (x->cidx[h]) {
		const struct chain *c = &x->chains[x->cidx[h] - 1];
		if (c->fam == fam && span_eq(c->name, name) && span_eq(c->table, table))
			return (int32_t)(x->cidx[h] - 1);
		h = (h + 1) & (x->cidx_cap - 1);
	}
	return -1;
}

static int32_t set_find(const struct prune *x, uint8_t fam, struct span table, struct span name)
{
	for (uint32_t i = 0; i < x->n_sets; i++)
		if (x->sets[i].fam == fam && span_eq(x->sets[i].name, name) && span_eq(x->sets[i].table, table))
			return (int32_t)i;
	return -1;
}

/* ---- scanning the input ------------------------------------------------- */

static int scan_item(struct prune *x, struct kt_jw_walk *w, const char *input, struct kt_diag *d)
{
	if (x->n_items >= MAX_ITEMS)
		return kt_diag_set(d, KT_EXIT_INPUT, "more than %u nftables objects", MAX_ITEMS);
	GROW(x->items, x->n_items, x->cap_items);
	struct item *it = &x->items[x->n_items];
	memset(it, 0, sizeof(*it));
	it->owner = -1;
	kt_jwalk_ws(w);
	it->at = w->p;
	struct erd e = {.x = x, .it = it};
	/* rules are the bulk: their record takes refs and nat values as they come */
	struct rule r = {.item = x->n_items, .ref0 = x->n_refs, .nat0 = x->n_nat, .chain = -1};
	e.r = &r;
	struct kt_jw_walk ew = {.p = w->p, .end = w->end, .u = &e, .scalar = e_scalar, .open = e_open, .close = e_close};
	kt_jwalk_value(&ew, NULL, 0, 0);
	if (ew.bad || !it->kind)
		return kt_diag_set(d, KT_EXIT_INPUT, "malformed nft JSON near byte %zu", (size_t)(ew.p - input));
	it->len = (uint32_t)(ew.p - it->at);
	w->p = ew.p;
	x->n_items++;
	if (it->kind == K_RULE) {
		r.table = e.table;
		r.chain_name = e.chain;
		r.fam = it->fam;
		GROW(x->rules, x->n_rules, x->cap_rules);
		it->owner = (int32_t)x->n_rules;
		x->rules[x->n_rules++] = r;
		return 0;
	}
	x->n_refs = r.ref0; /* only rules keep references */
	x->n_nat = r.nat0;
	if (it->kind == K_CHAIN && e.table.p && e.name.p) {
		GROW(x->chains, x->n_chains, x->cap_chains);
		x->chains[x->n_chains] = (struct chain){.table = e.table, .name = e.name, .fam = it->fam, .base = e.hook};
		it->owner = (int32_t)x->n_chains;
		cidx_put(x, x->n_chains);
		x->n_chains++;
	} else if ((it->kind == K_SET || it->kind == K_MAP) && e.table.p && e.name.p) {
		GROW(x->sets, x->n_sets, x->cap_sets);
		x->sets[x->n_sets] = (struct set){.item = x->n_items - 1, .table = e.table, .name = e.name, .fam = it->fam};
		it->owner = (int32_t)x->n_sets;
		x->n_sets++;
	}
	return 0;
}

/* {"nftables": [ ... ]}: every element of the array. */
static int scan(struct prune *x, const char *text, size_t len, struct kt_diag *d)
{
	struct kt_jw_walk w = {.p = text, .end = text + len};
	kt_jwalk_ws(&w);
	if (w.p >= w.end || *w.p != '{')
		goto notnft;
	w.p++;
	for (;;) {
		const char *k;
		size_t kl;
		bool esc;
		kt_jwalk_ws(&w);
		if (w.p >= w.end || *w.p != '"' || !kt_jwalk_str(&w, &k, &kl, &esc))
			goto notnft;
		kt_jwalk_ws(&w);
		if (w.p >= w.end || *w.p != ':')
			goto notnft;
		w.p++;
		kt_jwalk_ws(&w);
		if (kt_jwalk_keyis(k, kl, "nftables") && w.p < w.end && *w.p == '[') {
			w.p++;
			kt_jwalk_ws(&w);
			if (w.p < w.end && *w.p == ']')
				return 0;
			for (;;) {
				if (scan_item(x, &w, text, d) < 0)
					return -1;
				kt_jwalk_ws(&w);
				if (w.p < w.end && *w.p == ',') {
					w.p++;
					continue;
				}
				if (w.p < w.end && *w.p == ']')
					return 0;
				return kt_diag_set(d, KT_EXIT_INPUT, "malformed nft JSON near byte %zu", (size_t)(w.p - text));
			}
		}
		kt_jwalk_value(&w, NULL, 0, 1); /* another member: skipped */
		if (w.bad)
			goto notnft;
		kt_jwalk_ws(&w);
		if (w.p < w.end && *w.p == ',') {
			w.p++;
			continue;
		}
		break;
	}
notnft:
	return kt_diag_set(d, KT_EXIT_INPUT, "not `nft -j list ruleset` output (no \"nftables\" array)");
}

/* ---- what the packet can carry ----------------------------------------- */

static void add_addr(struct prune *x, const char *ip)
{
	unsigned char b[16] = {0};
	if (!ip || inet_pton(x->want_fam == '6' ? AF_INET6 : AF_INET, ip, b) != 1)
		return;
	for (uint32_t i = 0; i < x->n_addrs; i++)
		if (!memcmp(x->addrs[i], b, 16))
			return;
	if (x->n_addrs < MAX_VALUES)
		memcpy(x->addrs[x->n_addrs++], b, 16);
	else
		x->no_elem_prune = true;
}

static bool add_port(struct prune *x, int32_t p)
{
	if (p < 0 || p > 65535)
		return false;
	for (uint32_t i = 0; i < x->n_ports; i++)
		if (x->ports[i] == p)
			return false;
	if (x->n_ports < MAX_VALUES)
		x->ports[x->n_ports++] = p;
	else
		x->no_elem_prune = true;
	return true;
}

static bool port_in(const struct prune *x, long lo, long hi)
{
	if (hi >= x->pr->sport_lo && lo <= x->pr->sport_hi)
		return true;
	for (uint32_t i = 0; i < x->n_ports; i++)
		if (x->ports[i] >= lo && x->ports[i] <= hi)
			return true;
	return false;
}

/* An address value of the probe's family: literal, prefix or range. */
static bool addr_ok(const struct prune *x, const cJSON *v)
{
	int af = x->want_fam == '6' ? AF_INET6 : AF_INET;
	size_t n = af == AF_INET6 ? 16 : 4;
	unsigned char lo[16] = {0}, hi[16] = {0};
	if (cJSON_IsString(v)) {
		if (inet_pton(af, v->valuestring, lo) != 1)
			return true;
		memcpy(hi, lo, 16);
	} else if (cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "prefix")) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "prefix");
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(p, "addr"), *l = cJSON_GetObjectItemCaseSensitive(p, "len");
		if (!cJSON_IsString(a) || !cJSON_IsNumber(l) || inet_pton(af, a->valuestring, lo) != 1 || l->valueint < 0 ||
		    (size_t)l->valueint > n * 8)
			return true;
		memcpy(hi, lo, 16);
		for (size_t bit = (size_t)l->valueint; bit < n * 8; bit++) {
			lo[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
			hi[bit / 8] |= (unsigned char)(0x80u >> (bit % 8));
		}
	} else if (cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "range")) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(v, "range");
		const cJSON *a = cJSON_GetArrayItem(r, 0), *b = cJSON_GetArrayItem(r, 1);
		if (!cJSON_IsString(a) || !cJSON_IsString(b) || inet_pton(af, a->valuestring, lo) != 1 ||
		    inet_pton(af, b->valuestring, hi) != 1)
			return true;
	} else {
		return true;
	}
	for (uint32_t i = 0; i < x->n_addrs; i++)
		if (memcmp(x->addrs[i], lo, n) >= 0 && memcmp(x->addrs[i], hi, n) <= 0)
			return true;
	return false;
}

static bool proto_ok(const struct prune *x, const cJSON *v)
{
	static const struct {
		const char *name;
		int num;
	} names[] = {{"tcp", 6}, {"udp", 17}, {"sctp", 132}, {"icmp", 1}, {"icmpv6", 58}, {"dccp", 33}, {"udplite", 136}};
	int p = -1;
	if (cJSON_IsNumber(v))
		p = v->valueint;
	for (size_t i = 0; cJSON_IsString(v) && i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v->valuestring, names[i].name))
			p = names[i].num;
	return p < 0 || p == x->pr->proto;
}

static bool service_ok(const struct prune *x, const cJSON *v)
{
	if (cJSON_IsNumber(v))
		return port_in(x, (long)v->valuedouble, (long)v->valuedouble);
	const cJSON *r = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "range") : NULL;
	const cJSON *a = cJSON_GetArrayItem(r, 0), *b = cJSON_GetArrayItem(r, 1);
	if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
		return port_in(x, (long)a->valuedouble, (long)b->valuedouble);
	return true;
}

static bool comp_ok(const struct prune *x, const char *type, const cJSON *v)
{
	if (!type)
		return true;
	if (!strcmp(type, x->want_fam == '6' ? "ipv6_addr" : "ipv4_addr"))
		return addr_ok(x, v);
	if (!strcmp(type, "inet_proto"))
		return proto_ok(x, v);
	if (!strcmp(type, "inet_service"))
		return service_ok(x, v);
	return true;
}

/* Can this element's key match the packet? types: the set's "type". */
static bool key_ok(const struct prune *x, const cJSON *types, const cJSON *key)
{
	if (x->no_elem_prune)
		return true;
	const cJSON *el = cJSON_IsObject(key) ? cJSON_GetObjectItemCaseSensitive(key, "elem") : NULL;
	if (el)
		key = cJSON_GetObjectItemCaseSensitive(el, "val");
	if (!key)
		return true;
	const cJSON *cc = cJSON_IsObject(key) ? cJSON_GetObjectItemCaseSensitive(key, "concat") : NULL;
	if (cc) {
		int n = cJSON_GetArraySize(cc);
		if (!cJSON_IsArray(types) || cJSON_GetArraySize(types) != n)
			return true;
		const cJSON *t = types->child, *v = cc->child;
		for (; t && v; t = t->next, v = v->next)
			if (!comp_ok(x, cJSON_IsString(t) ? t->valuestring : NULL, v))
				return false;
		return true;
	}
	if (cJSON_IsString(types))
		return comp_ok(x, types->valuestring, key);
	if (cJSON_IsArray(types) && cJSON_GetArraySize(types) == 1 && cJSON_IsString(types->child))
		return comp_ok(x, types->child->valuestring, key);
	return true;
}

/* ---- reachability --------------------------------------------------------- */

static const cJSON *set_body(const struct set *s)
{
	return s->root ? s->root->child : NULL;
}

static int parse_set(struct prune *x, struct set *s)
{
	if (s->parsed)
		return s->root ? 0 : -1;
	s->parsed = true;
	const struct item *it = &x->items[s->item];
	s->root = cJSON_ParseWithLength(it->at, it->len);
	const cJSON *b = set_body(s);
	if (!b)
		return -1;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "map");
	s->verdict = cJSON_IsString(m) && !strcmp(m->valuestring, "verdict");
	const cJSON *el = cJSON_GetObjectItemCaseSensitive(b, "elem");
	s->n_elem = cJSON_IsArray(el) ? cJSON_GetArraySize(el) : 0;
	s->keep = kt_xcalloc((size_t)s->n_elem + 1, 1);
	return 0;
}

/* Every "target" string under v (a verdict: {"goto": {"target": ...}}). */
static void targets_of(const cJSON *v, void (*fn)(void *, const char *), void *ctx)
{
	for (const cJSON *c = v ? v->child : NULL; c; c = c->next) {
		if (c->string && !strcmp(c->string, "target") && cJSON_IsString(c))
			fn(ctx, c->valuestring);
		else
			targets_of(c, fn, ctx);
	}
}

struct walk {
	struct prune *x;
	uint32_t *stack, sp;
	uint8_t fam;
	struct span table;
};

static void mark(struct walk *k, int32_t ci)
{
	if (ci < 0 || k->x->chains[ci].reach)
		return;
	k->x->chains[ci].reach = true;
	k->stack[k->sp++] = (uint32_t)ci;
}

static void mark_name(void *ctx, const char *name)
{
	struct walk *k = ctx;
	mark(k, cidx_find(k->x, k->fam, k->table, (struct span){name, (uint32_t)strlen(name)}));
}

/* A set or map a reachable rule names: which elements stay, and the
 * chains the kept elements of a verdict map lead to. */
static void use_set(struct walk *k, struct set *s)
{
	struct prune *x = k->x;
	bool first = !s->used;
	s->used = true;
	if (parse_set(x, s) < 0 || !first)
		return;
	const cJSON *b = set_body(s), *types = cJSON_GetObjectItemCaseSensitive(b, "type");
	const cJSON *el = cJSON_GetObjectItemCaseSensitive(b, "elem");
	int i = 0;
	for (const cJSON *e = cJSON_IsArray(el) ? el->child : NULL; e && i < s->n_elem; e = e->next, i++) {
		bool pair = cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2;
		const cJSON *key = pair ? e->child : e;
		s->keep[i] = key_ok(x, types, key);
		if (s->keep[i] && s->verdict && pair) {
			k->fam = s->fam;
			k->table = s->table;
			targets_of(e->child->next, mark_name, k);
		}
	}
}

static bool fam_wanted(const struct prune *x, uint8_t fam)
{
	return fam == x->want_fam || fam == 'n';
}

/* One round: mark from the base chains; false when the DNAT targets of
 * what is reachable add nothing to the values the packet can carry. */
static bool round_once(struct prune *x, uint32_t *by_chain, uint32_t *first)
{
	for (uint32_t i = 0; i < x->n_chains; i++)
		x->chains[i].reach = false;
	for (uint32_t i = 0; i < x->n_sets; i++)
		x->sets[i].used = false;
	struct walk k = {.x = x, .stack = kt_xcalloc(x->n_chains + 1, sizeof(uint32_t))};
	for (uint32_t i = 0; i < x->n_chains; i++)
		if (x->chains[i].base && fam_wanted(x, x->chains[i].fam))
			mark(&k, (int32_t)i);
	while (k.sp) {
		uint32_t ci = k.stack[--k.sp];
		const struct chain *c = &x->chains[ci];
		for (uint32_t j = first[ci]; j < first[ci + 1]; j++) {
			const struct rule *r = &x->rules[by_chain[j]];
			for (uint32_t q = r->ref0; q < r->ref0 + r->n_refs; q++) {
				k.fam = c->fam;
				k.table = c->table;
				if (!x->refs[q].set) {
					mark(&k, cidx_find(x, c->fam, c->table, x->refs[q].name));
					continue;
				}
				int32_t si = set_find(x, c->fam, c->table, x->refs[q].name);
				if (si >= 0)
					use_set(&k, &x->sets[si]);
			}
		}
	}
	free(k.stack);
	bool more = false;
	for (uint32_t ci = 0; ci < x->n_chains; ci++) {
		if (!x->chains[ci].reach)
			continue;
		for (uint32_t j = first[ci]; j < first[ci + 1]; j++) {
			const struct rule *r = &x->rules[by_chain[j]];
			if (r->nat_unknown && !x->no_elem_prune) {
				x->no_elem_prune = true;
				more = true;
			}
			for (uint32_t q = r->nat0; q < r->nat0 + r->n_nat; q++) {
				uint32_t before = x->n_addrs;
				if (x->nat[q].addr)
					add_addr(x, x->nat[q].addr);
				if (add_port(x, x->nat[q].port) || x->n_addrs != before)
					more = true;
			}
		}
	}
	return more;
}

/* Rules grouped by chain (in input order within a chain): by_chain[first[c] .. first[c + 1]). */
static void group_rules(struct prune *x, uint32_t **by_chain, uint32_t **first)
{
	uint32_t *f = kt_xcalloc(x->n_chains + 2, sizeof(*f));
	for (uint32_t i = 0; i < x->n_rules; i++) {
		struct rule *r = &x->rules[i];
		r->chain = cidx_find(x, r->fam, r->table, r->chain_name);
		if (r->chain >= 0)
			f[r->chain + 1]++;
	}
	for (uint32_t c = 0; c < x->n_chains; c++)
		f[c + 1] += f[c];
	uint32_t *fill = kt_xcalloc(x->n_chains + 1, sizeof(*fill));
	uint32_t *v = kt_xcalloc(x->n_rules + 1, sizeof(*v));
	for (uint32_t i = 0; i < x->n_rules; i++)
		if (x->rules[i].chain >= 0)
			v[f[x->rules[i].chain] + fill[x->rules[i].chain]++] = i;
	free(fill);
	*by_chain = v;
	*first = f;
}

/* ---- output ---------------------------------------------------------------- */

struct out {
	char *p;
	size_t n, cap;
	bool any;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->n + n + 1 > o->cap) {
		o->cap = (o->n + n + 1) * 2;
		o->p = kt_xrealloc(o->p, o->cap);
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = 0;
}

static void out_item(struct out *o, const char *s, size_t n)
{
	if (o->any)
		out_put(o, ",", 1);
	out_put(o, s, n);
	o->any = true;
}

/* A used set or map with only the elements that stay (verbatim when all do). */
static void out_set(struct out *o, struct prune *x, struct set *s, struct kt_nft_pruned *res)
{
	const struct item *it = &x->items[s->item];
	int kept = 0;
	for (int i = 0; i < s->n_elem; i++)
		kept += s->keep[i];
	res->elems_total += (uint32_t)s->n_elem;
	res->elems_loaded += (uint32_t)kept;
	if (!set_body(s) || kept == s->n_elem) {
		out_item(o, it->at, it->len);
		return;
	}
	cJSON *body = s->root->child;
	cJSON *el = cJSON_GetObjectItemCaseSensitive(body, "elem");
	int i = 0;
	for (cJSON *e = el->child; e; i++) {
		cJSON *next = e->next;
		if (i < s->n_elem && !s->keep[i])
			cJSON_Delete(cJSON_DetachItemViaPointer(el, e));
		e = next;
	}
	if (!el->child)
		cJSON_DeleteItemFromObjectCaseSensitive(body, "elem"); /* nft refuses "elem": [] */
	char *t = cJSON_PrintUnformatted(s->root);
	if (!t)
		kt_oom();
	out_item(o, t, strlen(t));
	free(t);
}

static bool item_kept(struct prune *x, const struct item *it, bool full)
{
	if (full || it->kind == K_META)
		return true;
	switch (it->kind) {
	case K_CHAIN: return it->owner >= 0 && x->chains[it->owner].reach;
	case K_RULE: {
		const struct rule *r = &x->rules[it->owner];
		return r->chain >= 0 && x->chains[r->chain].reach;
	}
	case K_SET:
	case K_MAP: return it->owner >= 0 && x->sets[it->owner].used;
	case K_ELEMENT: return false; /* separate element objects: only from a hand-made file */
	default: return fam_wanted(x, it->fam);
	}
}

static void render(struct prune *x, bool full, struct kt_nft_pruned *res)
{
	struct out o = {0};
	out_put(&o, "{\"nftables\":[", 13);
	for (uint8_t kind = 0; kind < K_KINDS; kind++)
		for (uint32_t i = 0; i < x->n_items; i++) {
			struct item *it = &x->items[i];
			if (it->kind != kind || !item_kept(x, it, full))
				continue;
			if (!full && (kind == K_SET || kind == K_MAP) && it->owner >= 0)
				out_set(&o, x, &x->sets[it->owner], res);
			else
				out_item(&o, it->at, it->len);
			if (kind == K_RULE)
				res->rules_loaded++;
			else if (kind == K_CHAIN)
				res->chains_loaded++;
		}
	out_put(&o, "]}", 2);
	res->text = o.p;
	res->len = o.n;
}

static void prune_free(struct prune *x)
{
	for (uint32_t i = 0; i < x->n_sets; i++) {
		cJSON_Delete(x->sets[i].root);
		free(x->sets[i].keep);
	}
	free(x->items);
	free(x->chains);
	free(x->rules);
	free(x->refs);
	free(x->nat);
	free(x->sets);
	free(x->cidx);
	kt_arena_free(x->a);
}

int kt_nft_prune(const char *text, size_t len, const struct kt_nft_probe *p, struct kt_nft_pruned *res,
		 struct kt_diag *d)
{
	memset(res, 0, sizeof(*res));
	struct prune *x = kt_xcalloc(1, sizeof(*x));
	x->a = kt_arena_new();
	x->pr = p;
	x->want_fam = p->v6 ? '6' : 'i';
	int rc = scan(x, text, len, d);
	if (rc == 0 && !x->n_items)
		rc = kt_diag_set(d, KT_EXIT_INPUT, "no nftables objects in the input");
	if (rc < 0) {
		prune_free(x);
		free(x);
		return -1;
	}
	res->rules_total = x->n_rules;
	res->chains_total = x->n_chains;
	for (uint32_t i = 0; i < x->n_items; i++)
		if (x->items[i].kind == K_TABLE && fam_wanted(x, x->items[i].fam))
			res->tables_family++;
	if (!p->full) {
		add_addr(x, p->dst);
		add_addr(x, p->src);
		for (unsigned i = 0; i < p->n_node_addrs; i++)
			add_addr(x, p->node_addrs[i]);
		add_port(x, p->dport);
		uint32_t *by_chain, *first;
		group_rules(x, &by_chain, &first);
		int r = 0;
		while (r < MAX_ROUNDS && round_once(x, by_chain, first))
			r++;
		if (r == MAX_ROUNDS) { /* the DNAT targets did not settle: every element stays */
			x->no_elem_prune = true;
			round_once(x, by_chain, first);
		}
		free(by_chain);
		free(first);
		res->pruned = true;
	}
	render(x, p->full, res);
	prune_free(x);
	free(x);
	return 0;
}
