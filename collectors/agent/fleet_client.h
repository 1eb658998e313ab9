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

#endif
