/*
 * `ktrace trace`: one packet (or N) through a node's real rules in the
 * real kernel, inside scratch network namespaces that ktrace creates and
 * removes; the node itself is never touched.
 *
 * Two halves:
 *   kt_trace_rules_prepare() and kt_trace_run() (collectors/trace/): parse
 *                       a rule set (iptables-save text or `nft -j` JSON)
 *                       once and cut it down to what the probe can reach;
 *                       load that into a scratch namespace, send real TCP
 *                       SYNs / UDP datagrams from a peer namespace (or from
 *                       the node namespace itself for a hostNetwork client),
 *                       and record the nftables trace events of each probe:
 *                       the rules it traversed, the NAT result, its fate.
 *   kt_trace_predict()  (analyzers/trace.c): what ktrace's model of the same
 *                       rules says the packet does (pure, no I/O). The model
 *                       reads the prepared text (kt_trace_rules_text), so
 *                       the kernel and the model judge the same rules and
 *                       the dump is parsed once.
 * No libnl, libnftnl or cJSON type appears here.
 */
#ifndef KTRACE_TRACE_H
#define KTRACE_TRACE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "ktrace/dataplane.h"
#include "ktrace/diag.h"

enum kt_trace_fmt {
	KT_TRACE_IPTABLES,       /* iptables-save / iptables-legacy-save text */
	KT_TRACE_NFT_JSON,       /* nft -j list ruleset / table */
};

/* What happened to a probe (traced) or what the model says (predicted). */
enum kt_trace_fate {
	KT_FATE_UNKNOWN,         /* no trace event reached a verdict point */
	KT_FATE_FORWARDED,       /* routed on to the Pod network (after any NAT) */
	KT_FATE_LOCAL,           /* left for the host: delivered to a local address */
	KT_FATE_REJECTED,        /* dropped by a REJECT rule (ICMP / TCP reset sent) */
	KT_FATE_DROPPED,         /* dropped (rule or chain policy) */
	KT_FATE_COUNT,
};

const char *kt_trace_fate_name(enum kt_trace_fate f); /* "forwarded", ... */

#define KT_TRACE_MAX_ADDRS 16
#define KT_TRACE_MAX_COUNT 100000u

struct kt_trace_opts {
	const char *rules;       /* the rule set, NUL-terminated */
	size_t rules_len;
	bool rules_scratch;      /* kt_trace_rules_prepare() may cut the buffer up in place (it
				  * stays the caller's; keep it until kt_trace_rules_free()) */
	enum kt_trace_fmt fmt;
	const char *rules_origin; /* for messages: "iptables-save nat.txt", "this host" */
	const char *dst_ip;      /* IPv4 (or IPv6 with an ip6tables / ip6 rule set) */
	uint16_t dst_port;
	const char *src_ip;      /* the client; NULL: 198.18.0.2 (an off-cluster client) */
	bool src_on_node;        /* the client is the node itself (a hostNetwork Pod): the
				  * probes leave the node namespace through OUTPUT; src_ip
				  * must be one of node_addrs */
	uint16_t src_port;       /* the first probe's source port; 0: 40000 */
	int proto;               /* IPPROTO_TCP / IPPROTO_UDP */
	unsigned count;          /* probes, each from the next source port; 0 = 1 */
	const char *node_addrs[KT_TRACE_MAX_ADDRS]; /* the node's addresses (dummy interface) */
	unsigned n_node_addrs;
	bool full;               /* load every chain (default: what the probe can reach) */
	int timeout_ms;          /* per run, after the last probe; 0: 300 */
	volatile sig_atomic_t *stop; /* set by a signal handler: clean up and return */
};

/* One trace event of a probe, in the order the kernel emitted them. */
struct kt_trace_step {
	const char *table;       /* "ip nat", "ip kube-proxy" */
	const char *chain;
	uint64_t handle;         /* rule handle in the scratch namespace; 0: none */
	uint32_t pos;            /* 1-based position of the rule in the node's chain; 0 unknown */
	uint32_t line;           /* line of the rule in the loaded rule set; 0 unknown */
	const char *text;        /* the rule as iptables-save / nft prints it; NULL unknown */
	const char *kind;        /* "rule", "return", "end" (of a chain), "policy" */
	const char *verdict;     /* "accept", "drop", "jump", "goto", "return", "continue" */
	const char *target;      /* jump/goto target; NULL */
};

struct kt_trace_probe {
	uint16_t sport;
	struct kt_trace_step *steps;
	uint32_t n_steps;
	bool steps_cut;          /* more steps than the cap (a gap) */
	enum kt_trace_fate fate;
	char to_ip[48];          /* destination after NAT (forwarded/local) */
	uint16_t to_port;
	char from_ip[48];        /* source after NAT (postrouting) */
	uint16_t from_port;
	bool dnat;               /* destination changed */
	bool masquerade;         /* source changed (SNAT / masquerade) */
	const char *out_if;      /* "pod network", "client", NULL */
};

struct kt_trace_result {
	struct kt_arena *arena;  /* owns everything below */
	struct kt_trace_probe *probes;
	uint32_t n_probes;
	uint32_t rules_total;    /* rules in the rule set */
	uint32_t rules_loaded;   /* rules loaded into the scratch namespace */
	uint32_t chains_total;
	uint32_t chains_loaded;
	uint32_t elems_total;    /* nftables: elements of the sets/maps the loaded rules look up */
	uint32_t elems_loaded;
	bool pruned;             /* only what the probe can reach was loaded */
	const char *loader;      /* "iptables-nft-restore", "nft -j -f" */
	const char *ns_node;     /* the scratch namespaces' names (removed on return) */
	const char *ns_client;
	const char *src_ip;
	double prepare_ms;       /* kt_trace_rules_prepare(): parse and prune */
	double setup_ms, load_ms, probe_ms, total_ms; /* total: of kt_trace_run() */
	uint32_t lost;           /* probes without any trace event */
	bool overrun;            /* the kernel dropped trace events (ENOBUFS) */
};

/* The rule set of one trace (o->rules), parsed once and, unless o->full,
 * cut down to what the probe can reach: iptables-save text to the rules a
 * packet to the destination can match and the chains they reach; nft
 * JSON to the base chains, what they reach, and of the verdict maps and
 * sets those chains look up only the elements the packet's addresses,
 * protocol and ports can match. No root needed, nothing is run.
 * KT_EXIT_INPUT on a malformed rule set. */
struct kt_trace_rules;
int kt_trace_rules_prepare(const struct kt_trace_opts *o, struct kt_trace_rules **out, struct kt_diag *d);
/* The rules as they are loaded (iptables-save text with its header line,
 * or nft JSON): what ktrace's model reads for the prediction. Valid until
 * kt_trace_rules_free(). */
const char *kt_trace_rules_text(const struct kt_trace_rules *r, size_t *len);
void kt_trace_rules_free(struct kt_trace_rules *r);

/* Run the probes through the prepared rules. Needs root (CAP_NET_ADMIN +
 * CAP_SYS_ADMIN): KT_EXIT_CLUSTER otherwise. Every namespace and interface
 * it created is gone when it returns, on success, on error and when
 * *o->stop was set (KT_EXIT_CLUSTER "interrupted"). A rule set the kernel
 * refuses is KT_EXIT_INPUT. */
int kt_trace_run(const struct kt_trace_opts *o, const struct kt_trace_rules *rules, struct kt_trace_result **out,
		 struct kt_diag *d);
void kt_trace_result_free(struct kt_trace_result *r);

/* This host's kube-proxy rule set as text for kt_trace_run(): the
 * iptables-save (ip6tables-save when v6) of the backend the model found
 * (mode), or `nft -j list table ip|ip6 kube-proxy`. Read-only. Returns a
 * malloc'd buffer or NULL with d. */
char *kt_trace_host_rules(enum kt_dp_mode mode, bool v6, size_t *len, enum kt_trace_fmt *fmt, struct kt_diag *d);

/* A rule dump in memory: NUL-terminated and writable (kt_trace_rules_prepare
 * may cut it up: rules_scratch). */
struct kt_trace_dump {
	char *p;
	size_t len;
	void *map;               /* the mapping it lives in; NULL: p is malloc'd */
	size_t map_len;
};
/* A saved rule dump, "-" for stdin (bounded: 1 GiB): read in one go into
 * memory of its size (huge pages when the kernel has them). 0, or -1
 * with d (KT_EXIT_INPUT). */
int kt_trace_read_rules(const char *path, struct kt_trace_dump *t, struct kt_diag *d);
void kt_trace_dump_free(struct kt_trace_dump *t);

/* This host's addresses of family af (AF_INET / AF_INET6; not loopback
 * or link-local), at most max. */
unsigned kt_trace_host_addrs(int af, char (*out)[48], unsigned max);

/* ---- the model's prediction (analyzers/trace.c) --------------------- */

struct kt_trace_prediction {
	const struct kt_dp_service *svc;    /* the Service port the destination is, NULL none */
	const struct kt_dp_frontend *fe;
	enum kt_trace_fate fate;
	bool fate_either;                   /* rejected or dropped: the model does not say which */
	const struct kt_dp_backend *be;     /* the backends this frontend reaches */
	uint32_t n_be;
	int masquerade;                     /* 1 yes, 0 no, -1 the model does not say */
	bool affinity;
	const char *why;                    /* one line: how the model decided */
};

/* What node n's model says a packet src -> dst:dport/proto does.
 * node_addrs: the node's addresses (NodePorts, local delivery). */
void kt_trace_predict(const struct kt_dp_node *n, const char *src_ip, const char *dst_ip, int32_t dport,
		      const char *proto, const char *const *node_addrs, unsigned n_addrs,
		      struct kt_trace_prediction *p);

/* Does the traced probe agree with the prediction? why: one line when not. */
bool kt_trace_agrees(const struct kt_trace_prediction *p, const struct kt_trace_probe *t, const char **why);

/* The backend share of count probes: is got/count within the statistical
 * bounds (5 standard deviations, binomial) of probability p? */
bool kt_trace_share_ok(uint32_t got, uint32_t count, double p);

#endif
