/*
 * Internal to `ktrace imbalance` (cli/cmd_imbalance.c, the command and its
 * single-node feed; cli/imbalance_fleet.c, the --nodes feed, its per-node
 * text and JSON): the feed state both share.
 */
#ifndef KT_CLI_IMBALANCE_INT_H
#define KT_CLI_IMBALANCE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/tui/tui.h"
#include "ktrace/flows.h"
#include "ktrace/imbalance.h"
#include "ktrace/jsonw.h"
#include "ktrace/node.h"
#include "ktrace/source.h"

/* --nodes: every selected node's latest flow sample, refreshed through the
 * agents every interval (node states only at --reload). */
struct imb_fleet {
	struct kt_fleet_agents *agents; /* the scope's slot: the agents the last load found */
	uint32_t n;                       /* selected nodes, sorted by name */
	struct kt_imb_node *nodes;        /* name, gap, connections (malloc; strings in the snapshots) */
	const char **names;               /* the same names, for the analyzer (malloc) */
	const struct kt_flow_sample **cur, **prev; /* per node, the last two refreshes' samples (NULL: none) */
	struct kt_snapshot *snap_cur, *snap_prev;   /* refreshes holding them; NULL: the loaded objects' */
	struct kt_flow_sample sum, sum_prev;        /* every node's sample summed (agg malloc) */
	uint32_t *agg_node;               /* per aggregate of sum: the node it came from */
	bool loaded;                      /* the loaded objects' samples were taken */
	struct kt_imb_nodes view;         /* what the dashboard shows of the nodes */
	/* the Service the dashboard shows: the summed analysis counts its
	 * backends per node */
	char focus_ns[256], focus_name[256];
	bool focus;
	/* the per-node split of one Service, kept until the data or the view change */
	struct kt_arena *split_a;
	struct kt_imb_split split;
	char split_key[600];
	uint64_t gen, split_gen;
};

struct feed_ctx {
	struct kt_cli *c;
	struct kt_snapshot *objs;
	struct kt_snapshot *cur, *prev;   /* scratch snapshots holding one live sample each */
	struct kt_arena *ra;              /* result arena */
	struct kt_imb_result *res;
	struct kt_imb_opts io;
	struct kt_scope scope;            /* what the source layer reads (again on reload) */
	struct kt_node_opts no;           /* the flow sampler's node options */
	struct kt_flow_opts fo;
	uint16_t *ports;
	bool live;
	uint32_t sample_ix;               /* bundle: which stored sample */
	double collect_ms, analyze_ms;    /* the last refresh */
	double collect_total_ms;          /* live: every sample's collection so far */
	const char *refresh;              /* live: "dump" or "events" (the last refresh) */
	const char *sns, *sname;          /* SERVICE argument */
	int reload_s;                     /* live: reload objects + dataplane this often; 0 never */
	time_t loaded_at;
	struct kt_findings findings;
	/* first-seen times of endpoints this session (the ready-time fallback
	 * without Pod objects); strings in seen_arena */
	struct kt_imb_seen *seen;
	uint32_t n_seen, cap_seen;
	struct kt_arena *seen_arena;
	struct imb_fleet *fleet;          /* --nodes */
};

/* Live: reload the objects (and with --nodes the node states) when
 * --reload seconds passed; the previous objects, to free once the new
 * result no longer points into them (NULL: not reloaded). */
struct kt_snapshot *kt_imb_maybe_reload(struct feed_ctx *f);
/* Record every endpoint of objs not seen before (first-seen ages). */
void kt_imb_seen_update(struct feed_ctx *f, const struct kt_snapshot *objs);

/* ---- cli/imbalance_fleet.c ---- */
void kt_imb_fleet_init(struct feed_ctx *f);
void kt_imb_fleet_free(struct feed_ctx *f);
/* The next result: the loaded samples first, then a refresh of every
 * agent's sample (and --reload). */
const struct kt_imb_result *kt_imb_fleet_next(struct feed_ctx *f, char *err, unsigned errlen);
/* The gaps of the last refresh (after the objects'). */
const struct kt_snapshot *kt_imb_fleet_snap(const struct feed_ctx *f);
/* -o json: "nodes" (per node, per Service, the backends' open
 * connections) and "crossNode". */
void kt_imb_fleet_json(struct feed_ctx *f, struct kt_jw *w);
/* text: the per-node section. */
void kt_imb_fleet_text(struct kt_cli *c, struct feed_ctx *f);
/* The dashboard's node dimension (struct kt_imb_feed's callbacks). */
void kt_imb_fleet_feed(struct feed_ctx *f, struct kt_imb_feed *feed);

#endif
