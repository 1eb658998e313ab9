/*
 * Internal to the source layer: the ktrace agents' client
 * (collectors/agent/fleet_client.c), the node-source row behind --nodes.
 */
#ifndef KT_COLLECTORS_AGENT_FLEET_CLIENT_H
#define KT_COLLECTORS_AGENT_FLEET_CLIENT_H

#include "ktrace/diag.h"
#include "ktrace/kube.h"
#include "ktrace/model.h"

struct kt_fleet_opts {
	const char *nodes;       /* "all", "NAME[,NAME...]" or "LABEL=VALUE" */
	const char *ns;          /* the agents' namespace (default KT_AGENT_NAMESPACE) */
	const char *selector;    /* the agent Pods' label selector (default KT_AGENT_SELECTOR) */
	long timeout_ms;         /* per agent request (default 10 s) */
	bool dataplane;          /* read node state (digests, then entries that differ) */
	bool flows;              /* read each node's latest flow sample */
	struct kt_fleet_agents **keep; /* not NULL: the agents found, for kt_fleet_flows() (replaces
					* and frees what it held) */
};

/* What a load found, kept for refreshes (the imbalance dashboard): every
 * selected node, sorted by name, with its agent Pod or why it has none,
 * and the token header (malloc'd, wiped when freed). */
struct kt_fleet_agent {
	const char *node;
	const char *pod;         /* NULL: no agent to ask (why says) */
	long port;
	const char *why;
};

struct kt_fleet_agents {
	struct kt_arena *a;
	const char *ns;
	const char *secret;      /* "NS/NAME", for messages */
	long timeout_ms;
	char *tokhdr;
	struct kt_fleet_agent *v;
	uint32_t n;
};

/* Find the agent Pods of the selected nodes, read the token Secret, ask
 * every agent concurrently through the API server's Pod proxy and fill
 * snap->fleet (majority + deviations; the caller expands it) and
 * snap->flows. A node whose agent is missing, not ready, slow or failing
 * is a gap "node state of node NAME" (the answer is partial). Errors: no
 * agent at all, the Secret unreadable or the token refused by every
 * agent (KT_EXIT_CLUSTER), a named node that does not exist
 * (KT_EXIT_NOTFOUND), a bad --nodes value (KT_EXIT_USAGE). */
int kt_fleet_load(struct kt_kube *k, const struct kt_fleet_opts *o, struct kt_snapshot *snap, struct kt_diag *d);

/* Every kept agent's latest flow sample again, concurrently through the
 * Pod proxy: one sample per node that answered, appended to snap->flows
 * in node order, and a gap "node NAME: flows" with the reason for each
 * node that did not (or has no agent). Negative only when no request can
 * be made at all. */
int kt_fleet_flows(struct kt_kube *k, struct kt_fleet_agents *ag, struct kt_snapshot *snap, struct kt_diag *d);
void kt_fleet_agents_free(struct kt_fleet_agents *ag);

#endif
