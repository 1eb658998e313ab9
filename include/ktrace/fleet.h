/*
 * Node state of many nodes, stored by difference (`--nodes`, the ktrace
 * agents; bundles collected with --nodes). Most nodes program the same
 * thing, so the model keeps every Service's majority entries once and,
 * per node, only the entries of the Services where that node differs (a
 * stale or missing backend, another Local set, a Service it does not
 * program or programs alone). kt_fleet_expand() gives each node its full
 * view in snap->dp for the analyzers, sharing the majority's arrays.
 * Pure data (lib/fleet.c): no I/O.
 */
#ifndef KTRACE_FLEET_H
#define KTRACE_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "ktrace/dataplane.h"
#include "ktrace/model.h"

struct kt_fleet_node {
	const char *node;
	const char *pod;          /* the agent Pod (NULL when not known) */
	const char *state_id;     /* the agent's state id (16 hex digits) */
	const char *agent_version;
	int64_t taken_ms;         /* when the agent read its node state (unix ms) */
	const char **absent;      /* "namespace/name" of majority Services this node does not program */
	uint32_t n_absent;
	struct kt_dp_node dev;    /* this node's entries of the Services where it differs, plus its
				   * modes, source, notes and kube-proxy metrics; svcs malloc */
};

struct kt_fleet {
	const char *agent_namespace;
	struct kt_dp_node majority;    /* node "": every Service's majority entries; svcs malloc */
	struct kt_fleet_node *nodes;   /* the nodes that answered, sorted by name; malloc */
	uint32_t n_nodes, cap_nodes;
	uint32_t n_keys;               /* Services programmed on any node */
	uint32_t n_deviating;          /* Services that differ on some node */
	uint32_t n_asked;              /* nodes selected (answered or not) */
	uint64_t bytes;                /* bytes received from the agents (on the wire) */
	uint32_t requests;             /* agent requests made */
};

/* A new empty fleet for snap (arena-owned struct; arrays freed with the
 * snapshot). */
struct kt_fleet *kt_fleet_new(struct kt_snapshot *snap);
/* Append a node; returns it (zeroed but for node). */
struct kt_fleet_node *kt_fleet_add_node(struct kt_fleet *f, struct kt_snapshot *snap, const char *node);
/* Release the arrays (kt_snapshot_free calls it). */
void kt_fleet_free(struct kt_fleet *f);
/* Does node fn differ from the majority in Service ns/name? */
bool kt_fleet_deviates(const struct kt_fleet_node *fn, const char *ns, const char *name);
/* Append every fleet node's full view (majority minus absent, plus its
 * deviations) to snap->dp, replacing dp entries of the same names.
 * Entries are shallow copies: their arrays stay the fleet's. */
void kt_fleet_expand(struct kt_snapshot *snap);

#endif
