/*
 * Internal to the fleet client (collectors/agent/fleet_*.c): the request
 * context one `--nodes` read shares between its parts. fleet_discover.c
 * finds the nodes, the agent Pods and the token; fleet_xfer.c asks the
 * agents (one request per node through the Pod proxy, the answers checked
 * and turned into gaps) and refreshes flows; fleet_majority.c finds the
 * majority state per Service and fetches only what differs;
 * fleet_client.c runs the whole read and keeps the agents for refreshes.
 */
#ifndef KT_COLLECTORS_AGENT_FLEET_INT_H
#define KT_COLLECTORS_AGENT_FLEET_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "collectors/agent/fleet_client.h"
#include "ktrace/agent.h"
#include "ktrace/fleet.h"

#define FC_API_BODY (64u << 20)       /* Node and Pod lists, the Secret */
#define FC_DIGESTS_BODY (64u << 20)   /* one agent's digests */
#define FC_NODE_BODY (256u << 20)     /* one agent's node state */
#define FC_FLOWS_BODY (128u << 20)    /* one agent's flow sample */
#define FC_MAX_NODES 20000
#define FC_TARGET_MAX 15000           /* bytes of a keys= request target (agent cap 16 KiB) */

struct fnode {
	const char *name;
	/* the agent Pod */
	const char *pod, *pod_ip;
	long port;
	bool has_agent, ready;
	const char *not_ready;   /* why the Pod cannot be asked */
	/* answers */
	struct kt_agent_digests dig;
	bool ok;                 /* digests decoded */
	const char *gap;         /* why this node has no answer (arena) */
	struct kt_fleet_node *fn;
	uint32_t n_major;        /* Services where it holds the majority value */
	bool refetch;            /* 412 on entries: read its whole state again */
};

struct fc {
	struct kt_kube *k;
	const struct kt_fleet_opts *o;
	struct kt_snapshot *s;
	struct kt_diag *d;
	struct kt_arena *a;      /* scratch: digests, lists */
	struct fnode *n;
	uint32_t nn;
	char *tokhdr;            /* "X-Ktrace-Token: ..." (malloc, wiped) */
	const char *secret;      /* "NS/NAME" for messages */
	uint32_t n_401;
	struct kt_fleet *f;
};

/* ---- fleet_discover.c: Nodes, agent Pods, the token Secret ---- */
int kt_fc_discover(struct fc *x);
struct fnode *kt_fc_find_node(struct fc *x, const char *name);
/* DNS-label-ish names only go into URLs (no escaping needed). */
bool kt_fc_url_safe(const char *s, size_t max);
/* Percent-encode s into the arena (query values). */
const char *kt_fc_pct(struct kt_arena *a, const char *s);
void kt_fc_wipe(void *p, size_t n);

/* ---- fleet_xfer.c: asking the agents ---- */
/* Record why node n has no answer (once): a gap "node state of node N". */
void kt_fc_node_gap(struct fc *x, struct fnode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Is a 200 answer there? Otherwise a gap saying why (transport, redirect,
 * 401 token, 403 RBAC, the agent's or API server's error). */
bool kt_fc_answer_ok(struct fc *x, struct fnode *n, struct kt_kube_get *g, const char *what);
/* A GET of path_query from node n's agent through the Pod proxy. */
void kt_fc_get_init(struct fc *x, struct kt_kube_get *g, const struct fnode *n, const char *path_query, size_t cap);
/* Bytes and requests into the fleet's counters. */
void kt_fc_account(struct fc *x, const struct kt_kube_get *g, unsigned n);
/* One flow answer of node into s: a sample, or a gap "node NAME: flows". */
void kt_fc_take_flows(struct kt_snapshot *s, const struct kt_kube_get *g, const char *node, const char *pod,
		      const char *secret, const char *ns);
/* Re-ask with the object form the flow requests an older agent refused
 * (400 to form=compact). */
void kt_fc_flows_fallback(struct kt_kube *k, struct kt_kube_get *g, unsigned n, struct kt_arena *a, struct kt_diag *d);
/* Round 1: every agent's digests and/or flows at once. */
int kt_fc_ask_digests(struct fc *x);
/* Why an agent answer is no usable answer, in one line (the same words
 * for node state and flows); *is_401 when the agent refused the token. */
void kt_fc_why(const struct kt_kube_get *g, const char *pod, const char *what, const char *secret, const char *ns,
	       char *why, size_t n, bool *is_401);

/* ---- fleet_majority.c: scale by difference ---- */
/* The nodes that answered their digests: per-node metadata into the
 * fleet, the majority per Service, then rounds 2 and 3 (the majority's
 * entries once, each node's deviating entries). */
int kt_fc_entries(struct fc *x, uint32_t answered);

#endif
