/*
 * Internal to collectors/trace/ (and its tests and fuzz target): the
 * decoded nftables trace event (trace_event.c), the rule-set handling
 * (trace_rules.c: iptables-save parsing, pruning to what a probe can
 * reach; trace_nft.c: the same for nft JSON), the rule text of traced
 * steps (trace_text.c), the probe table (trace_probe.c) and the
 * scratch-namespace plumbing (trace_lab.c).
 * Nothing here is visible outside collectors/ and tests.
 */
#ifndef KT_COLLECTORS_TRACE_INT_H
#define KT_COLLECTORS_TRACE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktrace/diag.h"
#include "ktrace/trace.h"

/* ---- trace events (trace_event.c) ----------------------------------- */

struct kt_trace_event {
	uint32_t id;             /* one per packet (a hash of the skb: reused later) */
	uint32_t type;           /* NFT_TRACETYPE_*: rule 3, return 2, policy 1 (kernel numbering) */
	uint8_t family;          /* nfgenmsg family (2 ip, 10 ip6, 1 inet) */
	char table[64];
	char chain[64];
	uint64_t handle;         /* 0: none */
	bool has_verdict;
	int32_t verdict;         /* NF_ACCEPT, NF_DROP, NFT_JUMP, NFT_GOTO, NFT_RETURN, NFT_CONTINUE */
	char target[64];         /* jump/goto target */
	bool has_policy;
	int32_t policy;          /* base-chain policy (policy events) */
	uint32_t iif, oif;       /* 0: absent */
	uint32_t mark;
	bool has_net;            /* network/transport headers (first event of each base chain) */
	uint8_t ipver;           /* 4 or 6 */
	uint8_t l4proto;
	char saddr[48], daddr[48];
	bool has_ports;
	uint16_t sport, dport;
};

/* Decode one nfnetlink message of nh_len bytes. 1: a trace event filled
 * into ev; 0: another message; -1 malformed. Bounded by nh_len. */
int kt_trace_decode(const void *nh, size_t nh_len, struct kt_trace_event *ev);
/* "accept", "drop", "jump", "goto", "return", "continue", "break", "queue" ... */
const char *kt_trace_verdict_name(int32_t v);

/* ---- rule sets (trace_rules.c) -------------------------------------- */

/* One rule of an iptables-save text, as loaded. */
struct kt_ipt_line {
	const char *text;        /* "-A CHAIN ..." (points into the parsed copy) */
	uint32_t line;           /* 1-based line in the input */
	uint32_t pos;            /* 1-based position in its chain in the input */
};

struct kt_ipt_chain {
	char table[32];
	const char *name;
	const char *policy;      /* "ACCEPT", "DROP", "-" */
	bool builtin;
	bool owned_name;         /* name is malloc'd */
	bool dropped;            /* pruned away */
	struct kt_ipt_line *rules; /* as loaded (after pruning) */
	uint32_t n_rules, cap_rules;
};

struct kt_ipt_set {
	char *copy;              /* the input, lines cut in place (NULL: the caller's buffer) */
	const char *header;      /* the first comment line (names the backend); NULL */
	struct kt_ipt_chain *chains;
	uint32_t n_chains, cap_chains;
	uint32_t rules_total;
	uint32_t rules_loaded;
	uint32_t chains_loaded;
	bool pruned;
};

/* Parse iptables-save text (bounded: KT_DP_MAX_LINE per line). -1 with d
 * (KT_EXIT_INPUT, "line N: ...") on malformed input. */
int kt_ipt_parse(const char *text, size_t len, struct kt_ipt_set *s, struct kt_diag *d);
/* The same on the caller's buffer (text[len] must be writable; its lines
 * are cut in place and the set points into it: keep it until
 * kt_ipt_free()). */
int kt_ipt_parse_inplace(char *text, size_t len, struct kt_ipt_set *s, struct kt_diag *d);
/* Keep only the rules a packet to dst:dport/proto can match before NAT
 * changes it, and the chains reachable from the built-in chains. */
void kt_ipt_prune(struct kt_ipt_set *s, const char *dst, uint16_t dport, const char *proto);
/* The family of the rule set from its first -d/-s address: 4 (iptables-save),
 * 6 (ip6tables-save), 0 when no rule names an address. */
int kt_ipt_family(const struct kt_ipt_set *s);
/* The iptables-restore input of what is kept (malloc'd). */
char *kt_ipt_render(const struct kt_ipt_set *s, size_t *len);
const struct kt_ipt_chain *kt_ipt_find(const struct kt_ipt_set *s, const char *table, const char *chain);
void kt_ipt_free(struct kt_ipt_set *s);

/* ---- a JSON event walker (trace_jwalk.c) ---------------------------- */

#define KT_JWALK_MAX_DEPTH 64
/* One walk: the callbacks get u; bad is set on malformed input. */
struct kt_jw_walk {
	const char *p, *end;
	bool bad;
	void *u;
	/* a string or number value (key: the member name, or the array's own
	 * member name for array elements; depth: of the container) */
	void (*scalar)(struct kt_jw_walk *w, const char *key, size_t klen, int depth, const char *s, size_t n, bool str,
		       bool esc);
	/* an object or array value opens / closes */
	void (*open)(struct kt_jw_walk *w, const char *key, size_t klen, int depth, bool obj);
	void (*close)(struct kt_jw_walk *w, int depth);
};

/* Skip whitespace. */
void kt_jwalk_ws(struct kt_jw_walk *w);
/* The string at w->p (its opening quote): its raw span and whether it has
 * escapes; w->p moves past it. false when it does not end. */
bool kt_jwalk_str(struct kt_jw_walk *w, const char **s, size_t *n, bool *esc);
/* Walk one value (key: its member name, or the array's for elements). */
void kt_jwalk_value(struct kt_jw_walk *w, const char *key, size_t klen, int depth);
bool kt_jwalk_keyis(const char *k, size_t kl, const char *lit);
struct kt_arena;
/* A string's text in the arena (escapes resolved; backslash-u to UTF-8). */
const char *kt_jwalk_dup(struct kt_arena *a, const char *s, size_t n, bool esc);

/* ---- nftables rule sets (trace_nft.c) -------------------------------- */

/* What a probe can carry, for pruning an nftables rule set. */
struct kt_nft_probe {
	bool v6;                 /* the probe's family: ip6 + inet tables, else ip + inet */
	bool full;               /* keep everything (only reorder) */
	const char *dst, *src;
	uint16_t dport;
	uint16_t sport_lo, sport_hi; /* the probes' source ports */
	uint8_t proto;           /* IPPROTO_TCP / IPPROTO_UDP */
	const char *const *node_addrs;
	unsigned n_node_addrs;
};

struct kt_nft_pruned {
	char *text;              /* `nft -j -f` input (malloc'd, NUL-terminated) */
	size_t len;
	uint32_t rules_total, rules_loaded;
	uint32_t chains_total, chains_loaded;
	uint32_t elems_total, elems_loaded; /* of the sets and maps the kept rules look up */
	uint32_t tables_family;  /* tables the probe's family traverses (ip/ip6, inet) */
	bool pruned;
};

/* `nft -j list ruleset` output cut down to what the probe can reach (see
 * trace_nft.c) and ordered so that `nft -j -f` accepts it (tables,
 * chains, sets and maps, named objects, elements, rules). -1 with d
 * (KT_EXIT_INPUT) on input that is not nft JSON. */
int kt_nft_prune(const char *text, size_t len, const struct kt_nft_probe *p, struct kt_nft_pruned *out,
		 struct kt_diag *d);

/* ---- the probe table (trace_probe.c) --------------------------------- */

#define KT_TRACE_PROBE_TABLE "ktrace-probe"
struct kt_nl;
/* Table ip|ip6 ktrace-probe in the namespace of nl (NETLINK_NETFILTER):
 * prerouting and output chains at priority -500 that set nftrace on
 * packets src -> dst proto/dport, and empty input, forward and
 * postrouting chains at 500. -1 with err. */
int kt_trace_probe_table(struct kt_nl *nl, const char *src, const char *dst, uint8_t proto, uint16_t dport,
			 char *err, size_t errlen);

/* ---- rule text of traced steps (trace_text.c) ------------------------ */

/* The rules of `nft -a list table|chain` output (text cut in place). */
struct kt_nft_listed {
	const char *family, *table, *chain;
	uint64_t handle;
	uint32_t pos;            /* 1-based place in its chain */
	const char *text;        /* the rule as nft prints it, without "# handle N" */
};
struct kt_nft_listing {
	struct kt_nft_listed *v;
	uint32_t n, cap;
};
struct kt_arena;
void kt_nft_listing_parse(struct kt_arena *a, const char *family, const char *table, char *buf,
			  struct kt_nft_listing *ls);

struct kt_nl;
/* Position, line and text of every step of r that names a rule: from ipt
 * (iptables-save input; handles dumped over dump_nl in the scratch
 * namespace) or, when ipt is NULL, from `nft -a list` in namespace nsfd
 * (whole_tables: one listing per table, else per chain). Then drops by a
 * REJECT rule become rejections and a MASQUERADE / SNAT rule that took a
 * probe marks it masqueraded. */
void kt_trace_texts(struct kt_trace_result *r, const struct kt_ipt_set *ipt, struct kt_nl *dump_nl, int nsfd,
		    bool whole_tables);

#endif
