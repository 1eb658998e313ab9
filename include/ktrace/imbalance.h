/*
 * The imbalance analyzer: joins one node's flow sample (and optionally the
 * previous one, for rates) to the Services' frontends and backends (the
 * node dataplane when present, else ClusterIP/NodePort/LB frontends and
 * EndpointSlices from the API) and computes per-Service rows: per backend
 * connections, new connections/s, bytes, share vs fair share, hot/starved
 * flags, spread metrics and a verdict keyed to a rule id. Pure function:
 * no I/O; everything is allocated in the caller's arena.
 */
#ifndef KTRACE_IMBALANCE_H
#define KTRACE_IMBALANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "ktrace/findings.h"
#include "ktrace/flows.h"
#include "ktrace/model.h"

/* An endpoint (ip:port) and when this session first saw it in the
 * EndpointSlices or the node dataplane: the ready-time fallback when no Pod
 * objects are readable (limited RBAC, EndpointSlices only). */
struct kt_imb_seen {
	const char *ip;
	int32_t port;
	int64_t first_seen;      /* unix s */
};

struct kt_imb_opts {
	double hot_factor;       /* share > hot_factor * fair -> hot; 0 -> 1.5 */
	double starved_factor;   /* share < starved_factor * fair -> starved; 0 -> 0.5 */
	int64_t starved_age;     /* s; endpoints ready for less than this are "new"; 0 -> 600 */
	uint32_t min_conns;      /* fewer open connections: no verdict; 0 -> 4 */
	const char *ns;          /* only this Service (NULL: all Services with flows or endpoints) */
	const char *name;
	const char *node;        /* which flow sample / dataplane node; NULL -> the first */
	int64_t now;             /* unix s for ages; 0 -> sample time */
	bool all_services;       /* also Services with no flows (TUI list) */
	const struct kt_imb_seen *seen; /* first-seen times, sorted by (port, strcmp ip); may be NULL */
	uint32_t n_seen;
	int64_t session_start;   /* unix s; endpoints first seen at or before it have no known age */
	/* a sample summing several nodes' (--nodes): the node each aggregate
	 * of cur came from (< n_nodes); the result counts per node, and for
	 * Service split_ns/split_name (NULL: none) per backend and node */
	const uint32_t *agg_node;
	uint32_t n_nodes;
	const char *split_ns, *split_name;
};

/* Where a backend's ready age came from. */
enum kt_imb_age_src {
	KT_IMB_AGE_NONE,         /* unknown */
	KT_IMB_AGE_POD,          /* the Pod's Ready condition (or start time) */
	KT_IMB_AGE_SLICE,        /* EndpointSlice endpoints.kubernetes.io/last-change-trigger-time
				  * (no Pod readable; the slice's last change, approximate) */
	KT_IMB_AGE_SEEN,         /* first seen by this ktrace session */
};

enum {
	KT_IMB_HOT = 1u << 0,
	KT_IMB_STARVED = 1u << 1,
	KT_IMB_UNKNOWN = 1u << 2,     /* backend not in the EndpointSlices / dataplane (stale?) */
	KT_IMB_TERMINATING = 1u << 3,
};

struct kt_imb_backend {
	const char *ip;
	int32_t port;
	const char *pod;         /* NULL unknown */
	const char *node;
	bool ready;
	bool terminating;
	bool local;              /* on this node (dataplane) */
	int64_t ready_age;       /* s since the Pod became ready; -1 unknown */
	enum kt_imb_age_src age_src; /* where ready_age came from */
	uint32_t connections;    /* open */
	uint32_t total;          /* any state */
	double new_per_s;        /* -1 unknown (no previous sample, no timestamps) */
	uint64_t bytes_in;       /* client -> backend */
	uint64_t bytes_out;      /* backend -> client */
	double bytes_per_s;      /* in + out; -1 unknown */
	double bytes_in_per_s;   /* client -> backend; -1 unknown */
	double bytes_out_per_s;  /* backend -> client; -1 unknown */
	double share;            /* of the Service's open connections, 0..1 */
	double byte_share;
	double fair_share;       /* 1/n over eligible backends, or dataplane weights */
	unsigned flags;          /* KT_IMB_* */
	/* this node's own TCP sockets to/for this backend (inet_diag, with
	 * --sockets), whatever source counted the connections above */
	bool sockets;            /* any socket evidence */
	uint32_t sk_connections; /* ESTABLISHED sockets */
	uint32_t sk_total;       /* sockets in any state but LISTEN */
	uint64_t sk_bytes_in;    /* client -> backend payload (tcpi_bytes_acked / _received) */
	uint64_t sk_bytes_out;   /* backend -> client payload */
	double sk_rtt_ms;        /* mean smoothed RTT; 0 unknown */
	/* o->split_name's backends: open connections per node of
	 * o->agg_node (result->n_nodes entries; NULL none or not asked) */
	uint32_t *node_conns;
};

struct kt_imb_service {
	const char *namespace;
	const char *name;
	uint32_t svc;            /* index into snap->services or KT_NONE (dataplane only) */
	const char *mode;        /* dataplane mode name, or "api" when joined from the API */
	uint32_t n_frontends;
	uint32_t connections;    /* open */
	uint32_t total;
	double new_per_s;        /* -1 unknown */
	uint64_t bytes;
	double bytes_per_s;      /* -1 unknown */
	double max_over_mean;    /* max(connections) / mean over eligible backends; 0 no data */
	double cv;               /* coefficient of variation of share/fair */
	double gini;             /* Gini index of share/fair, 0 even .. 1 one backend has all */
	bool imbalanced;         /* max/mean >= hot factor with enough connections (KT402) */
	double score;            /* sort key: how imbalanced (0 even) */
	uint32_t older_1m, older_10m, older_1h;
	bool ages_known;
	bool affinity;           /* sessionAffinity ClientIP (API or dataplane) */
	bool long_lived_port;    /* gRPC/HTTP2 port (KT401 material) */
	uint32_t hot;            /* index into be of the hottest flagged backend, KT_NONE none */
	uint32_t n_hot, n_starved;
	unsigned age_srcs;       /* OR of 1 << enum kt_imb_age_src over the backends */
	enum kt_rule_id verdict; /* KT402/KT403/KT401/KT404, KT_RULE_COUNT = none */
	const char *reason;      /* one line: the facts behind the verdict (arena) */
	struct kt_imb_backend *be; /* sorted by connections desc, then ip, port */
	uint32_t n_be;
};

struct kt_imb_result {
	const char *node;
	const char *source;      /* flow source(s) */
	const char *mode;        /* dataplane mode(s) of the node, "api" fallback */
	double sample_s;         /* seconds between prev and cur; 0 single sample */
	int64_t taken_ms;
	bool acct;
	bool timestamps;
	uint64_t entries_seen;
	uint32_t connections;
	uint32_t older_1m, older_10m, older_1h;
	struct kt_imb_service *svcs; /* sorted by score desc, then namespace/name */
	uint32_t n_svcs;
	uint32_t *node_conns;    /* with o->agg_node: open Service connections per node */
	uint32_t n_nodes;
};

/* Analyze cur (may be NULL: Services with endpoints but no flows) against
 * objs' Services/EndpointSlices/Pods and objs->dp. prev (may be NULL) is an
 * earlier sample of the same node for rates. Returns 0; the result and its
 * strings live in a. */
int kt_imbalance_analyze(const struct kt_snapshot *objs, const struct kt_flow_sample *cur,
			 const struct kt_flow_sample *prev, const struct kt_imb_opts *o,
			 struct kt_arena *a, struct kt_imb_result **out);

/* Findings (KT402, KT403) from a result; objs gives the Service objects. */
void kt_imbalance_result_findings(const struct kt_snapshot *objs, const struct kt_imb_result *r,
				  struct kt_arena *a, struct kt_findings *out);

/* Several nodes (--nodes): how Service sv (a row of the result over
 * every node's summed sample) splits over the nodes that balanced it. */
struct kt_imb_split {
	uint32_t n_be, n_nodes;
	uint32_t *conns;         /* [be * n_nodes + node]: open connections node balanced to sv->be[be] */
	uint32_t *per_node;      /* [node]: open connections of sv that node balanced */
	uint32_t cross;          /* open connections whose backend runs on another node than the one
				  * that balanced them ... */
	uint32_t known;          /* ... of those whose backend's node is known */
	double measured;         /* cross / known; -1 when nothing is known */
	double expected;         /* KT102's model: the cross-node share expected when each node spreads
				  * evenly over every ready endpoint, weighted by per_node; -1 unknown */
};

/* How sv splits over the nodes: from sv's own per-node counts when the
 * summed analysis was asked for them (o->split_name, n_nodes the same),
 * else by analyzing each node's sample (samples[i] of node nodes[i],
 * NULL: none) for sv alone against that node's state. Arrays in a. */
int kt_imb_node_split(const struct kt_snapshot *objs, const struct kt_flow_sample *const *samples,
		      const char *const *nodes, uint32_t n_nodes, const struct kt_imb_service *sv,
		      const struct kt_imb_opts *o, struct kt_arena *a, struct kt_imb_split *out);

/* The model behind KT102 and the expected cross-node share: ready
 * endpoints of Service svc (the first port, one per address) counted per
 * snap->nodes index into cnt (n_nodes entries, zeroed); returns all of
 * them (also those on no known node). */
uint32_t kt_ready_per_node(const struct kt_snapshot *s, uint32_t svc, uint32_t *cnt);
/* Weighted mean over nodes of (ready endpoints elsewhere / all): the share
 * of connections that take an extra node hop when each node spreads
 * evenly. -1 when total or every weight is 0. */
double kt_hop_share(const uint32_t *cnt, uint32_t total, const double *weight, uint32_t n_nodes);

/* "pod", "endpointslice-trigger-time", "first-seen", NULL for none. */
const char *kt_imb_age_src_name(enum kt_imb_age_src s);

/* Count of connections in cur's aggregates not in prev's (fingerprints),
 * the building block of new_per_s. Exposed for tests. */
uint32_t kt_imb_new_conns(const struct kt_flow_agg *cur, const struct kt_flow_agg *prev);

#endif
