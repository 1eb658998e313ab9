/*
 * The rule text of every traced step of `ktrace trace`, as the node's own
 * tools print it. A trace event names a rule by its handle in the scratch
 * namespace; this file turns that into the rule's position in its chain
 * and its text:
 *   iptables-save input: one GETRULE dump of each traversed chain over
 *     the netlink layer (libnftnl) gives the chain's handles in order; the
 *     rule at that position of what was loaded is the node's rule, with
 *     its line in the dump (pruning keeps each kept rule's position and
 *     line from the input);
 *   nft JSON input: `nft -a list table` of each traversed table once (a
 *     pruned table is small), or, when everything was loaded (--full),
 *     `nft -a list chain` of each traversed chain: every rule line ends in
 *     "# handle N", and rules are never cut inside a chain, so the place
 *     in the listing is the place on the node.
 * Then a drop by a REJECT rule becomes a rejection, and a packet a
 * MASQUERADE or SNAT rule took is masqueraded. Must not: print.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "collectors/netlink/nl.h"
#include "collectors/trace/trace_int.h"
#include "collectors/trace/trace_lab.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

#define MAX_LISTED 2000000u

/* ---- iptables: handles in chain order over netlink ---------------------- */

struct handles {
	uint64_t *v;
	uint32_t n, cap;
};

static int handle_cb(struct nl_msg *msg, void *ctx)
{
	struct handles *hs = ctx;
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		kt_oom();
	if (nftnl_rule_nlmsg_parse(nlmsg_hdr(msg), r) == 0 && nftnl_rule_is_set(r, NFTNL_RULE_HANDLE)) {
		if (hs->n == hs->cap) {
			hs->cap = hs->cap ? hs->cap * 2 : 64;
			hs->v = kt_xreallocarray(hs->v, hs->cap, sizeof(*hs->v));
		}
		hs->v[hs->n++] = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	}
	nftnl_rule_free(r);
	return 0;
}

static void handle_reset(void *ctx)
{
	((struct handles *)ctx)->n = 0;
}

static void chain_handles(struct kt_nl *nl, uint8_t family, const char *table, const char *chain, struct handles *hs)
{
	char buf[1024];
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		kt_oom();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, family, NLM_F_DUMP, 0);
	nftnl_rule_nlmsg_build_payload(h, r);
	nftnl_rule_free(r);
	char err[256];
	if (kt_nl_request_raw(nl, buf, h->nlmsg_len, handle_cb, handle_reset, hs, err, sizeof(err)) < 0)
		hs->n = 0;
}

/* ---- nft: listings --------------------------------------------------------- */

/* "chain NAME {" (NAME maybe quoted): the name, or NULL. */
static char *chain_header(char *t)
{
	if (strncmp(t, "chain ", 6))
		return NULL;
	char *name = t + 6, *end = strstr(name, " {");
	if (!end)
		return NULL;
	*end = 0;
	size_t l = strlen(name);
	if (l >= 2 && name[0] == '"' && name[l - 1] == '"') {
		name[l - 1] = 0;
		name++;
	}
	return name;
}

void kt_nft_listing_parse(struct kt_arena *a, const char *family, const char *table, char *buf,
			  struct kt_nft_listing *ls)
{
	const char *chain = NULL;
	uint32_t pos = 0;
	for (char *l = buf; l && *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = 0;
		char *t = l + strspn(l, "\t ");
		l = nl ? nl + 1 : NULL;
		char *name = chain_header(t);
		if (name) {
			chain = kt_arena_strdup(a, name);
			pos = 0;
			continue;
		}
		if (!strcmp(t, "}")) {
			chain = NULL;
			continue;
		}
		char *hm = NULL;
		for (char *q = strstr(t, " # handle "); q; q = strstr(q + 1, " # handle "))
			hm = q; /* the last: a comment may hold the words */
		if (!chain || !hm || ls->n >= MAX_LISTED)
			continue;
		*hm = 0;
		if (ls->n == ls->cap) {
			ls->cap = ls->cap ? ls->cap * 2 : 64;
			ls->v = kt_xreallocarray(ls->v, ls->cap, sizeof(*ls->v));
		}
		ls->v[ls->n++] = (struct kt_nft_listed){.family = family, .table = table, .chain = chain,
						  .handle = strtoull(hm + 10, NULL, 10), .pos = ++pos,
						  .text = kt_arena_strdup(a, t)};
	}
}

static void list_nft(struct kt_arena *a, int nsfd, const char *family, const char *table, const char *chain,
		     struct kt_nft_listing *ls)
{
	const char *argv[] = {"nft", "-a", "list", chain ? "chain" : "table", family, table, chain, NULL};
	struct kt_lab_buf out = {0};
	char err[256];
	if (kt_lab_exec(nsfd, argv, NULL, 0, &out, err, sizeof(err)) == 0 && out.p)
		kt_nft_listing_parse(a, family, table, out.p, ls);
	kt_lab_buf_free(&out);
}

static uint8_t family_num(const char *f)
{
	return !strcmp(f, "ip6") ? NFPROTO_IPV6 : !strcmp(f, "inet") ? NFPROTO_INET : NFPROTO_IPV4;
}

/* ---- the steps ---------------------------------------------------------------- */

struct chain_key {
	const char *family, *table, *chain;
	struct handles hs;       /* iptables: handles in chain order */
	const struct kt_ipt_chain *ic; /* iptables: the chain as loaded */
	bool listed;             /* iptables: dumped; nft: listed */
};

/* "ip nat" -> family "ip", table "nat" (the step's own strings, split in a copy). */
static void split_table(struct kt_arena *a, const char *label, const char **family, const char **table)
{
	const char *sp = strchr(label, ' ');
	*family = sp ? kt_arena_strndup(a, label, (size_t)(sp - label)) : "ip";
	*table = sp ? sp + 1 : label;
}

static struct chain_key *key_of(struct chain_key **keys, uint32_t *nk, uint32_t *ck, const char *family,
				const char *table, const char *chain)
{
	for (uint32_t j = 0; j < *nk; j++)
		if (!strcmp((*keys)[j].family, family) && !strcmp((*keys)[j].table, table) && !strcmp((*keys)[j].chain, chain))
			return &(*keys)[j];
	if (*nk == *ck) {
		*ck = *ck ? *ck * 2 : 16;
		*keys = kt_xreallocarray(*keys, *ck, sizeof(**keys));
	}
	struct chain_key *k = &(*keys)[(*nk)++];
	memset(k, 0, sizeof(*k));
	k->family = family;
	k->table = table;
	k->chain = chain;
	return k;
}

static void ipt_text(struct kt_trace_step *s, struct chain_key *k, const struct kt_ipt_set *ipt, struct kt_arena *a,
		     struct kt_nl *nl)
{
	if (!k->listed) {
		chain_handles(nl, family_num(k->family), k->table, k->chain, &k->hs);
		k->ic = kt_ipt_find(ipt, k->table, k->chain);
		k->listed = true;
	}
	uint32_t ix = 0;
	while (ix < k->hs.n && k->hs.v[ix] != s->handle)
		ix++;
	const struct kt_ipt_chain *c = ix < k->hs.n ? k->ic : NULL;
	if (c && ix < c->n_rules) {
		s->text = kt_arena_strdup(a, c->rules[ix].text);
		s->pos = c->rules[ix].pos;
		s->line = c->rules[ix].line;
	}
}

static void nft_text(struct kt_trace_step *s, struct chain_key *k, struct kt_nft_listing *ls, struct chain_key *keys,
		     uint32_t nk, int nsfd, bool whole_tables, struct kt_arena *a)
{
	if (!k->listed) {
		bool table_done = false;
		for (uint32_t j = 0; j < nk && whole_tables; j++)
			if (keys[j].listed && !strcmp(keys[j].family, k->family) && !strcmp(keys[j].table, k->table))
				table_done = true;
		if (!table_done)
			list_nft(a, nsfd, k->family, k->table, whole_tables ? NULL : k->chain, ls);
		k->listed = true;
	}
	for (uint32_t j = 0; j < ls->n; j++) {
		const struct kt_nft_listed *e = &ls->v[j];
		if (e->handle == s->handle && !strcmp(e->chain, k->chain) && !strcmp(e->table, k->table) &&
		    !strcmp(e->family, k->family)) {
			s->text = e->text;
			s->pos = e->pos;
			return;
		}
	}
}

void kt_trace_texts(struct kt_trace_result *r, const struct kt_ipt_set *ipt, struct kt_nl *dump_nl, int nsfd,
		    bool whole_tables)
{
	struct kt_arena *a = r->arena;
	struct chain_key *keys = NULL;
	uint32_t nk = 0, ck = 0;
	struct kt_nft_listing ls = {0};
	for (uint32_t pi = 0; pi < r->n_probes; pi++) {
		struct kt_trace_probe *p = &r->probes[pi];
		for (uint32_t si = 0; si < p->n_steps; si++) {
			struct kt_trace_step *s = &p->steps[si];
			if (!s->handle)
				continue;
			const char *family, *table;
			split_table(a, s->table, &family, &table);
			struct chain_key *k = key_of(&keys, &nk, &ck, family, table, s->chain);
			if (ipt)
				ipt_text(s, k, ipt, a, dump_nl);
			else
				nft_text(s, k, &ls, keys, nk, nsfd, whole_tables, a);
		}
	}
	for (uint32_t j = 0; j < nk; j++)
		free(keys[j].hs.v);
	free(keys);
	free(ls.v);
	/* a drop by a REJECT rule is a rejection; a MASQUERADE / SNAT rule
	 * that took the packet translated its source even where the address
	 * it picked happens to be the same (the node's interfaces are not
	 * recreated) */
	for (uint32_t pi = 0; pi < r->n_probes; pi++) {
		struct kt_trace_probe *p = &r->probes[pi];
		for (uint32_t si = 0; si < p->n_steps; si++) {
			const struct kt_trace_step *s = &p->steps[si];
			if (!s->text)
				continue;
			if (p->fate == KT_FATE_DROPPED && !strcmp(s->verdict, "drop") &&
			    (strstr(s->text, "REJECT") || strstr(s->text, "reject")))
				p->fate = KT_FATE_REJECTED;
			if (!strcmp(s->verdict, "accept") && (strstr(s->text, "-j MASQUERADE") || strstr(s->text, "-j SNAT") ||
							      strstr(s->text, "masquerade") || strstr(s->text, "snat ")))
				p->masquerade = true;
		}
	}
}
