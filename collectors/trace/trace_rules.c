/*
 * Rule sets for `ktrace trace`: iptables-save text parsed into tables and
 * chains (kept with each rule's line and position so a trace event can be
 * shown as the node's own rule), pruned to what one probe can reach, and
 * rendered back as iptables-restore input; `nft -j list` JSON reordered
 * into something `nft -j -f` accepts (chains before the verdict maps and
 * rules that name them).
 *
 * Pruning is conservative: a rule is dropped only when it cannot match the
 * probe: a protocol other than the probe's (NAT never changes it), or, in
 * nat-table chains that only run before the destination is translated, a
 * destination address or port the probe does not have. Then only chains
 * reachable from the built-in chains stay. Anything it does not parse
 * (negations, multiport, sets) is kept. Must not: print, run anything.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "collectors/trace/trace_int.h"
#include "ktrace/xalloc.h"

#define MAX_LINE 65536u
#define MAX_RULES 2000000u
#define MAX_CHAINS 400000u

/* ---- chain index (open addressing over table/name) ------------------ */

struct cidx {
	uint32_t *slot;          /* chain index + 1; 0 empty */
	uint32_t cap;
};

static uint64_t chash(const char *table, const char *name)
{
	return kt_hash_str(kt_hash_str(0, table), name);
}

/* Rebuild with room for twice the chains (and the next one). */
static void cidx_grow(struct kt_ipt_set *s, struct cidx *x)
{
	uint32_t ncap = x->cap ? x->cap : 1024;
	while (ncap < (s->n_chains + 1) * 2)
		ncap *= 2;
	if (ncap == x->cap)
		ncap *= 2;
	uint32_t *ns = kt_xcalloc(ncap, sizeof(*ns));
	for (uint32_t i = 0; i < s->n_chains; i++) {
		uint32_t h = (uint32_t)chash(s->chains[i].table, s->chains[i].name) & (ncap - 1);
		while (ns[h])
			h = (h + 1) & (ncap - 1);
		ns[h] = i + 1;
	}
	free(x->slot);
	x->slot = ns;
	x->cap = ncap;
}

static int32_t cidx_find(const struct kt_ipt_set *s, const struct cidx *x, const char *table, const char *name)
{
	if (!x->cap)
		return -1;
	uint32_t h = (uint32_t)chash(table, name) & (x->cap - 1);
	while (x->slot[h]) {
		const struct kt_ipt_chain *c = &s->chains[x->slot[h] - 1];
		if (!strcmp(c->name, name) && !strcmp(c->table, table))
			return (int32_t)(x->slot[h] - 1);
		h = (h + 1) & (x->cap - 1);
	}
	return -1;
}

static struct kt_ipt_chain *chain_get(struct kt_ipt_set *s, struct cidx *x, const char *table, const char *name,
				      bool *created)
{
	int32_t i = cidx_find(s, x, table, name);
	*created = false;
	if (i >= 0)
		return &s->chains[i];
	if (s->n_chains >= MAX_CHAINS)
		return NULL;
	if ((s->n_chains + 1) * 2 > x->cap)
		cidx_grow(s, x);
	if (s->n_chains == s->cap_chains) {
		s->cap_chains = s->cap_chains ? s->cap_chains * 2 : 64;
		s->chains = kt_xreallocarray(s->chains, s->cap_chains, sizeof(*s->chains));
	}
	struct kt_ipt_chain *c = &s->chains[s->n_chains++];
	memset(c, 0, sizeof(*c));
	snprintf(c->table, sizeof(c->table), "%s", table);
	c->name = name;
	uint32_t h = (uint32_t)chash(table, name) & (x->cap - 1);
	while (x->slot[h])
		h = (h + 1) & (x->cap - 1);
	x->slot[h] = s->n_chains;
	*created = true;
	return c;
}

static void add_rule(struct kt_ipt_chain *c, const char *text, uint32_t line)
{
	if (c->n_rules == c->cap_rules) {
		c->cap_rules = c->cap_rules ? c->cap_rules * 2 : 4;
		c->rules = kt_xreallocarray(c->rules, c->cap_rules, sizeof(*c->rules));
	}
	c->rules[c->n_rules] = (struct kt_ipt_line){.text = text, .line = line, .pos = c->n_rules + 1};
	c->n_rules++;
}

int kt_ipt_parse(const char *text, size_t len, struct kt_ipt_set *s, struct kt_diag *d)
{
	memset(s, 0, sizeof(*s));
	s->copy = kt_xmalloc(len + 1);
	memcpy(s->copy, text, len);
	s->copy[len] = 0;
	struct cidx x = {0};
	char table[32] = "";
	uint32_t lineno = 0;
	char *p = s->copy, *end = s->copy + len;
	int rc = 0;
	while (p < end && rc == 0) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;
		lineno++;
		if ((size_t)(e - p) > MAX_LINE) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "line %u: longer than %u bytes", lineno, MAX_LINE);
			break;
		}
		*e = 0;
		if (e > p && e[-1] == '\r')
			e[-1] = 0;
		char *l = p;
		p = e + 1;
		if (!l[0] || l[0] == '#')
			continue;
		if (l[0] == '*') {
			snprintf(table, sizeof(table), "%s", l + 1);
			continue;
		}
		if (!strcmp(l, "COMMIT")) {
			table[0] = 0;
			continue;
		}
		if (!table[0]) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "line %u: outside a *table ... COMMIT block", lineno);
			break;
		}
		bool created;
		if (l[0] == ':') {
			char *sp = strchr(l, ' ');
			if (!sp || sp == l + 1) {
				rc = kt_diag_set(d, KT_EXIT_INPUT, "line %u: malformed chain declaration", lineno);
				break;
			}
			*sp = 0;
			char *pol = sp + 1;
			char *sp2 = strchr(pol, ' ');
			if (sp2)
				*sp2 = 0;
			struct kt_ipt_chain *c = chain_get(s, &x, table, l + 1, &created);
			if (!c) {
				rc = kt_diag_set(d, KT_EXIT_INPUT, "line %u: more than %u chains", lineno, MAX_CHAINS);
				break;
			}
			c->builtin = strcmp(pol, "-") != 0;
			c->policy = pol;
			continue;
		}
		if (!strncmp(l, "-A ", 3)) {
			char *name = l + 3;
			char *sp = strchr(name, ' ');
			if (sp)
				*sp = 0;
			struct kt_ipt_chain *c = chain_get(s, &x, table, name, &created);
			if (!c) {
				rc = kt_diag_set(d, KT_EXIT_INPUT, "line %u: more than %u chains", lineno, MAX_CHAINS);
				break;
			}
			if (created) { /* the name is inside the rule's text: a copy of its own */
				c->name = kt_xstrdup(name);
				c->owned_name = true;
				c->policy = "-";
			}
			if (sp)
				*sp = ' ';
			if (++s->rules_total > MAX_RULES) {
				rc = kt_diag_set(d, KT_EXIT_INPUT, "line %u: more than %u rules", lineno, MAX_RULES);
				break;
			}
			add_rule(c, l, lineno);
			continue;
		}
		rc = kt_diag_set(d, KT_EXIT_INPUT, "line %u: not iptables-save output (expected *table, :chain, -A or COMMIT)",
				 lineno);
	}
	free(x.slot);
	s->rules_loaded = s->rules_total;
	s->chains_loaded = s->n_chains;
	if (rc < 0) {
		kt_ipt_free(s);
		return -1;
	}
	if (!s->n_chains) {
		kt_ipt_free(s);
		return kt_diag_set(d, KT_EXIT_INPUT, "no iptables rules in the input");
	}
	return 0;
}

/* ---- rule tokens ---------------------------------------------------- */

/* What pruning needs of a rule, without copies (the target points into
 * the rule text). */
struct rinfo {
	uint32_t dst, mask;      /* -d (network order) */
	uint16_t dport_lo, dport_hi;
	uint16_t target_len;
	uint8_t proto;           /* 0 any / unparsed, else the IP protocol number */
	bool has_dst, has_dport;
	const char *target;
};

/* Next token of a rule: start and length (quoted words are one token). */
static const char *tok(const char *p, const char **start, size_t *len)
{
	while (*p == ' ')
		p++;
	if (!*p)
		return NULL;
	*start = p;
	bool q = false;
	for (; *p && (q || *p != ' '); p++) {
		if (*p == '"')
			q = !q;
		else if (*p == '\\' && p[1])
			p++;
	}
	*len = (size_t)(p - *start);
	return p;
}

static bool is_tok(const char *t, size_t n, const char *w)
{
	return strlen(w) == n && !memcmp(t, w, n);
}

static void parse_dst(struct rinfo *r, const char *v, size_t n)
{
	char a[64];
	if (n >= sizeof(a))
		return;
	memcpy(a, v, n);
	a[n] = 0;
	int plen = 32;
	char *sl = strchr(a, '/');
	if (sl) {
		*sl = 0;
		char *e;
		long x = strtol(sl + 1, &e, 10);
		if (*e || x < 0 || x > 32)
			return; /* a mask we do not parse: it can match */
		plen = (int)x;
	}
	struct in_addr ia;
	if (inet_pton(AF_INET, a, &ia) != 1)
		return;
	r->mask = plen ? htonl(0xffffffffu << (32 - plen)) : 0;
	r->dst = ia.s_addr & r->mask;
	r->has_dst = true;
}

static void parse_dport(struct rinfo *r, const char *v, size_t n)
{
	char a[32];
	if (n >= sizeof(a))
		return;
	memcpy(a, v, n);
	a[n] = 0;
	char *e;
	long lo = strtol(a, &e, 10), hi = lo;
	if (*e == ':')
		hi = strtol(e + 1, &e, 10);
	if (*e || lo < 0 || hi > 65535 || lo > hi)
		return;
	r->dport_lo = (uint16_t)lo;
	r->dport_hi = (uint16_t)hi;
	r->has_dport = true;
}

static void parse_proto(struct rinfo *r, const char *v, size_t n)
{
	if (is_tok(v, n, "tcp") || is_tok(v, n, "6"))
		r->proto = 6;
	else if (is_tok(v, n, "udp") || is_tok(v, n, "17"))
		r->proto = 17;
	else if (is_tok(v, n, "sctp") || is_tok(v, n, "132"))
		r->proto = 132;
	else if (is_tok(v, n, "icmp") || is_tok(v, n, "1"))
		r->proto = 1;
}

/* Only what is not negated narrows a rule; a negation keeps it. */
static void rule_info(const char *text, struct rinfo *r)
{
	memset(r, 0, sizeof(*r));
	const char *t, *v, *p = text;
	size_t tn, vn;
	bool neg = false;
	while ((p = tok(p, &t, &tn)) != NULL) {
		if (is_tok(t, tn, "!")) {
			neg = true;
			continue;
		}
		bool d = is_tok(t, tn, "-d") || is_tok(t, tn, "--destination");
		bool pr = is_tok(t, tn, "-p") || is_tok(t, tn, "--protocol");
		bool dp = is_tok(t, tn, "--dport") || is_tok(t, tn, "--destination-port");
		bool j = is_tok(t, tn, "-j") || is_tok(t, tn, "-g") || is_tok(t, tn, "--jump") || is_tok(t, tn, "--goto");
		if (d || pr || dp || j) {
			if (!(p = tok(p, &v, &vn)))
				break;
			if (j && vn < 65536) {
				r->target = v;
				r->target_len = (uint16_t)vn;
			} else if (!neg) {
				if (d)
					parse_dst(r, v, vn);
				else if (pr)
					parse_proto(r, v, vn);
				else if (dp)
					parse_dport(r, v, vn);
			}
		}
		neg = false;
	}
}

/* Can this rule match the probe? pre_nat: the chain runs before DNAT. */
static bool may_match(const struct rinfo *r, uint32_t dst, uint16_t dport, uint8_t proto, bool pre_nat)
{
	if (r->proto && r->proto != proto)
		return false;
	if (!pre_nat)
		return true;
	if (r->has_dst && (dst & r->mask) != r->dst)
		return false;
	if (r->has_dport && (dport < r->dport_lo || dport > r->dport_hi))
		return false;
	return true;
}

/* Mark every chain reachable from the chains already marked (same table). */
static void reach(const struct kt_ipt_set *s, const struct cidx *x, uint8_t *mark, uint8_t bit, struct rinfo *info,
		  uint32_t *first)
{
	uint32_t *stack = kt_xcalloc(s->n_chains + 1, sizeof(*stack));
	uint32_t sp = 0;
	for (uint32_t i = 0; i < s->n_chains; i++)
		if (mark[i] & bit)
			stack[sp++] = i;
	while (sp) {
		uint32_t ci = stack[--sp];
		const struct kt_ipt_chain *c = &s->chains[ci];
		for (uint32_t k = 0; k < c->n_rules; k++) {
			const struct rinfo *r = &info[first[ci] + k];
			if (!r->target)
				continue;
			char name[256];
			if (r->target_len >= sizeof(name))
				continue;
			memcpy(name, r->target, r->target_len);
			name[r->target_len] = 0;
			int32_t t = cidx_find(s, x, c->table, name);
			if (t >= 0 && !(mark[t] & bit)) {
				mark[t] |= bit;
				stack[sp++] = (uint32_t)t;
			}
		}
	}
	free(stack);
}

void kt_ipt_prune(struct kt_ipt_set *s, const char *dst_ip, uint16_t dport, const char *proto_name)
{
	struct in_addr ia = {0};
	inet_pton(AF_INET, dst_ip, &ia);
	uint32_t dst = ia.s_addr;
	uint8_t proto = !strcasecmp(proto_name, "udp") ? 17 : 6;
	struct cidx x = {0};
	cidx_grow(s, &x);
	uint32_t *first = kt_xcalloc(s->n_chains + 1, sizeof(*first));
	uint32_t total = 0;
	for (uint32_t i = 0; i < s->n_chains; i++) {
		first[i] = total;
		total += s->chains[i].n_rules;
	}
	struct rinfo *info = kt_xcalloc(total + 1, sizeof(*info));
	for (uint32_t i = 0; i < s->n_chains; i++)
		for (uint32_t k = 0; k < s->chains[i].n_rules; k++)
			rule_info(s->chains[i].rules[k].text, &info[first[i] + k]);
	/* bit 1: reachable from nat POSTROUTING/INPUT (runs after DNAT) */
	uint8_t *mark = kt_xcalloc(s->n_chains + 1, 1);
	for (uint32_t i = 0; i < s->n_chains; i++) {
		const struct kt_ipt_chain *c = &s->chains[i];
		if (!strcmp(c->table, "nat") && (!strcmp(c->name, "POSTROUTING") || !strcmp(c->name, "INPUT")))
			mark[i] |= 1;
	}
	reach(s, &x, mark, 1, info, first);
	/* drop rules that cannot match */
	s->rules_loaded = 0;
	for (uint32_t i = 0; i < s->n_chains; i++) {
		struct kt_ipt_chain *c = &s->chains[i];
		bool pre_nat = !strcmp(c->table, "nat") && !(mark[i] & 1);
		uint32_t k2 = 0;
		for (uint32_t k = 0; k < c->n_rules; k++) {
			struct rinfo *r = &info[first[i] + k];
			if (may_match(r, dst, dport, proto, pre_nat)) {
				info[first[i] + k2] = *r;
				c->rules[k2++] = c->rules[k];
			}
		}
		c->n_rules = k2;
		s->rules_loaded += k2;
	}
	/* bit 2: reachable from a built-in chain through what is left */
	for (uint32_t i = 0; i < s->n_chains; i++)
		if (s->chains[i].builtin)
			mark[i] |= 2;
	reach(s, &x, mark, 2, info, first);
	s->chains_loaded = 0;
	s->rules_loaded = 0;
	for (uint32_t i = 0; i < s->n_chains; i++) {
		if (!(mark[i] & 2)) {
			s->chains[i].n_rules = 0;
			s->chains[i].dropped = true;
			continue;
		}
		s->chains_loaded++;
		s->rules_loaded += s->chains[i].n_rules;
	}
	s->pruned = true;
	free(mark);
	free(info);
	free(first);
	free(x.slot);
}

static bool dropped(const struct kt_ipt_chain *c)
{
	return c->dropped;
}

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s)
{
	size_t l = strlen(s);
	if (b->n + l + 1 > b->cap) {
		b->cap = (b->n + l + 1) * 2;
		b->p = kt_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, l + 1);
	b->n += l;
}

char *kt_ipt_render(const struct kt_ipt_set *s, size_t *len)
{
	struct buf b = {0};
	put(&b, "");
	/* tables in the order they first appear */
	for (uint32_t t = 0; t < s->n_chains; t++) {
		const char *table = s->chains[t].table;
		bool seen = false;
		for (uint32_t u = 0; u < t && !seen; u++)
			seen = !strcmp(s->chains[u].table, table);
		if (seen)
			continue;
		put(&b, "*");
		put(&b, table);
		put(&b, "\n");
		for (uint32_t i = t; i < s->n_chains; i++) {
			const struct kt_ipt_chain *c = &s->chains[i];
			if (dropped(c) || strcmp(c->table, table))
				continue;
			put(&b, ":");
			put(&b, c->name);
			put(&b, " ");
			put(&b, c->policy ? c->policy : "-");
			put(&b, " [0:0]\n");
		}
		for (uint32_t i = t; i < s->n_chains; i++) {
			const struct kt_ipt_chain *c = &s->chains[i];
			if (dropped(c) || strcmp(c->table, table))
				continue;
			for (uint32_t k = 0; k < c->n_rules; k++) {
				put(&b, c->rules[k].text);
				put(&b, "\n");
			}
		}
		put(&b, "COMMIT\n");
	}
	*len = b.n;
	return b.p;
}

const struct kt_ipt_chain *kt_ipt_find(const struct kt_ipt_set *s, const char *table, const char *chain)
{
	for (uint32_t i = 0; i < s->n_chains; i++)
		if (!dropped(&s->chains[i]) && !strcmp(s->chains[i].table, table) && !strcmp(s->chains[i].name, chain))
			return &s->chains[i];
	return NULL;
}

void kt_ipt_free(struct kt_ipt_set *s)
{
	for (uint32_t i = 0; i < s->n_chains; i++) {
		struct kt_ipt_chain *c = &s->chains[i];
		if (c->owned_name)
			free((char *)c->name);
		free(c->rules);
	}
	free(s->chains);
	free(s->copy);
	memset(s, 0, sizeof(*s));
}

/* ---- nft JSON ---------------------------------------------------------- */

static int rank(const cJSON *o)
{
	const cJSON *k = o->child;
	if (!k || !k->string)
		return 12;
	static const char *const order[] = {"metainfo", "table", "chain", "set", "map", "flowtable", "counter",
					    "quota", "ct helper", "limit", "element", "rule"};
	for (int i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
		if (!strcmp(k->string, order[i]))
			return i;
	return 12;
}

char *kt_nft_json_loadable(const char *text, size_t len, uint32_t *n_rules, struct kt_diag *d)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	cJSON *arr = root ? cJSON_GetObjectItemCaseSensitive(root, "nftables") : NULL;
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(root);
		kt_diag_set(d, KT_EXIT_INPUT, "not `nft -j list ruleset` output (no \"nftables\" array)");
		return NULL;
	}
	cJSON *out = cJSON_CreateObject(), *oarr = cJSON_AddArrayToObject(out, "nftables");
	*n_rules = 0;
	for (int r = 0; r <= 12; r++) {
		cJSON *it = arr->child;
		while (it) {
			cJSON *next = it->next;
			if (cJSON_IsObject(it) && rank(it) == r) {
				if (it->child && it->child->string && !strcmp(it->child->string, "rule"))
					(*n_rules)++;
				cJSON_AddItemToArray(oarr, cJSON_DetachItemViaPointer(arr, it));
			}
			it = next;
		}
	}
	char *s = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	cJSON_Delete(root);
	if (!s)
		kt_oom();
	return s;
}
