/*
 * The source layer (collectors/source*.c): the one call a command makes to
 * get a finished snapshot. It owns where the answer comes from (the live
 * API, a bundle, a kubectl List or directory of Lists, the built-in demo),
 * which kinds are read (the command declares them as KT_WANT_* bits in its
 * table entry; options may add bits), how the scope narrows the reads (one
 * namespace, one Service, a workload's Services, a label selector), where
 * node state comes from (this host, saved dumps, a bundle's stored nodes;
 * remote agents plug in as one more entry of the node-source table), the
 * capability checks, and the honest failure modes: a namespace or Service
 * that does not exist (exit 3 with close names), a server that is not a
 * Kubernetes API server, a host without kube-proxy or Cilium state, kinds
 * the answer lacks (snap->focus.missing, exit 6 for the commands that
 * judge). No libcurl or cJSON type appears here; nothing here prints.
 */
#ifndef KTRACE_SOURCE_H
#define KTRACE_SOURCE_H

#include <stdbool.h>

#include "ktrace/diag.h"
#include "ktrace/kube.h"
#include "ktrace/model.h"
#include "ktrace/node.h"

/* What a command needs (struct kt_command.wants; options add bits). */
#define KT_WANT_SERVICES   0x0001u  /* Services */
#define KT_WANT_SLICES     0x0002u  /* EndpointSlices */
#define KT_WANT_PODS       0x0004u  /* Pods */
#define KT_WANT_NODES      0x0008u  /* Node objects */
#define KT_WANT_WORKLOADS  0x0010u  /* Deployments, StatefulSets, DaemonSets, ReplicaSets, HPAs */
#define KT_WANT_PDBS       0x0020u  /* PodDisruptionBudgets */
#define KT_WANT_INGRESSES  0x0040u  /* Ingresses, IngressClasses, the ingress controllers' ConfigMaps */
#define KT_WANT_PROXY      0x0080u  /* kube-proxy / cilium-config ConfigMaps (proxy mode) */
#define KT_WANT_DATAPLANE  0x0100u  /* node dataplane state */
#define KT_WANT_FLOWS      0x0200u  /* one flow sample per node */
#define KT_WANT_METRICS    0x0400u  /* kube-proxy's metrics endpoint on this host (with node state) */
#define KT_WANT_GATEWAYS   0x0800u  /* Gateway API: GatewayClasses, Gateways, HTTPRoutes, GRPCRoutes
				     * (a server without the CRDs serves none: not a gap) */
#define KT_WANT_OBJECTS    0x08ffu  /* every API kind above */
#define KT_WANT_RULE_KINDS 0x087fu  /* the kinds the rules read: missing ones make an answer partial */
/* modifiers */
#define KT_WANT_NODE_REQUIRED 0x1000u /* no node state is an error, not a gap (dataplane) */
#define KT_WANT_API_OPTIONAL  0x2000u /* an unreachable API leaves objects out: node state only (imbalance) */
#define KT_WANT_STRICT        0x4000u /* Services, EndpointSlices and Pods must be readable (collect) */
#define KT_WANT_FLOW_FEED     0x8000u /* the command samples this host's flows itself (imbalance):
				       * live, this host must be readable */
#define KT_WANT_NO_OBJECTS    0x10000u /* option: no API objects at all (collect --node-only) */
#define KT_WANT_THIS_HOST     0x20000u /* live: this host's node state even when the API does not
					* list it as a Node (dataplane, imbalance, collect --node) */

/* Where node state comes from. Every value is served by one row of the
 * node-source table in collectors/source_node.c. */
enum kt_node_from {
	KT_NODE_AUTO,            /* a bundle's stored nodes; live: this host, when it is one of
				  * the cluster's Nodes and its state is readable */
	KT_NODE_NONE,            /* no node state (--no-node) */
	KT_NODE_HOST,            /* this host's kernel (or the saved dumps in node), whatever the API
				  * says; with --from the bundle supplies API objects only */
	/* `--nodes` (scope.nodes): the ktrace agents through the API
	 * server's Pod proxy, the "agents" row of the node-source table */
};

struct kt_scope {
	/* where the API objects come from */
	const char *from;             /* bundle or List file, directory, "-", "demo"; NULL: the live API */
	struct kt_kube_opts kube;     /* live: kubeconfig, context, timeout, impersonation, progress */
	struct kt_kube **client;      /* live: the client, opened on first use and kept here for the
				       * caller (who closes it); NULL: opened and closed inside */
	/* what */
	const char *namespace;        /* -n; NULL: every namespace when the command lists, the
				       * context's when it names an object */
	bool all_namespaces;          /* -A: every namespace; with a named Service, every Service of
				       * that name */
	const char *selector;         /* -l: only Services whose labels match (and what they select) */
	const char *svc_namespace;    /* a named Service (path, check svc/NAME, dataplane SERVICE); */
	const char *svc_name;         /*   svc_namespace NULL: the resolved namespace */
	bool svc_view;                /* the named Service is where the view starts: it must exist,
				       * but every Service is still read (imbalance) */
	const char *workload_kind;    /* "Deployment", "StatefulSet", "DaemonSet": the Services that */
	const char *workload_name;    /*   select this workload (path deploy/NAME) */
	/* node state */
	enum kt_node_from node;
	const char *node_name;        /* record this host under NAME / show only NAME of a bundle */
	struct kt_node_opts node_opts; /* saved dumps, bpffs, kube-proxy metrics (ktrace/node.h) */
	const char *nodes;            /* --nodes all|NAME,...|LABEL=VALUE: the ktrace agents through
				       * the API server's Pod proxy (ktrace/fleet.h) */
	const char *agent_namespace;  /* --agent-namespace (default "ktrace") */
	const char *agent_selector;   /* --agent-selector (default app.kubernetes.io/name=ktrace-agent) */
	int agent_timeout_s;          /* --agent-timeout: per agent request (default 10) */
	struct kt_fleet_agents **agents; /* live --nodes: the agents a load found (their Pods and the
				       * token), kept here for kt_source_fleet_flows(); a later load
				       * replaces them; the caller frees with kt_source_fleet_free() */
	/* collect: write a bundle here ("-" stdout, ".gz" compresses): every API
	 * object as it is read, then the node state and the gaps */
	const char *record;
	const char *command;          /* for hints ("try 'ktrace path shop/orders'") */
};

/* Load what wants asks for, narrowed by scope, into a new finished
 * snapshot. snap->focus says what the scope resolved (the namespace, the
 * Services it names, the kinds that could not be read). Errors (nothing
 * to free): KT_EXIT_USAGE (a scope that cannot be served), KT_EXIT_NOTFOUND
 * (namespace, Service or workload missing, with close names in the hint),
 * KT_EXIT_CLUSTER (API or node unreadable, not a Kubernetes API server, no
 * node state where it is required), KT_EXIT_INPUT (malformed bundle, dump,
 * kubeconfig or response). */
int kt_source_load(const struct kt_scope *scope, unsigned wants, struct kt_snapshot **out, struct kt_diag *d);

/* One live flow sample of this host (the imbalance feed, every interval)
 * into a new snapshot: node options name the node and the BPF root, fo
 * the sampler's (sockets, ports, the conntrack event table). */
struct kt_flow_opts;
int kt_source_flow_sample(const struct kt_node_opts *no, const struct kt_flow_opts *fo, struct kt_snapshot **out,
			  struct kt_diag *d);

/* --nodes, refreshing (the imbalance dashboard): every agent the last
 * kt_source_load() of this scope found (scope->agents, scope->client)
 * asked for its latest flow sample again, concurrently through the Pod
 * proxy; node states are not read. A new snapshot with one sample per
 * node that answered, in node-name order, and a gap "node NAME: flows"
 * with the reason for each selected node that did not. */
struct kt_fleet_agents;
int kt_source_fleet_flows(const struct kt_scope *scope, struct kt_snapshot **out, struct kt_diag *d);
void kt_source_fleet_free(struct kt_fleet_agents *agents);
/* The nodes those agents cover (every selected node, sorted by name; the
 * names live as long as agents). */
uint32_t kt_source_fleet_count(const struct kt_fleet_agents *agents);
const char *kt_source_fleet_node(const struct kt_fleet_agents *agents, uint32_t i);

/* Manifests (lint): files, directories, "-" into a new finished snapshot
 * (source "manifests"); what could not be parsed is in mr. */
struct kt_manifest_opts;
struct kt_manifest_result;
int kt_source_manifests(const char *const *paths, unsigned n, const struct kt_manifest_opts *mo,
			struct kt_snapshot **out, struct kt_manifest_result *mr);

/* The namespace a scope resolves to when it names an object: -n, else the
 * kubeconfig context's (live; with --from, the namespace of the bundle's
 * recorded context when the local kubeconfig has it), else "default".
 * bundle_context may be NULL. The string lives as long as the client. */
const char *kt_source_namespace(const struct kt_scope *scope, const char *bundle_context);

/* The KT_WANT_* kind a gap is about ("pods in all namespaces" -> Pods); 0
 * when it is about something else (node state). */
unsigned kt_source_gap_kind(const char *what);

/* Is this host one of the cluster's Nodes (by name, hostname label or
 * address)? The matching Node's name, or NULL. */
const char *kt_source_host_node(const struct kt_snapshot *snap, char *buf, unsigned len);

#endif
