/*
 * Flow samples: per node, the node's NAT'ed connections (conntrack,
 * Cilium CT map) and sockets it terminates (inet_diag), aggregated per
 * (frontend, backend) at collection time. Raw flows are never kept: the
 * collectors stream the kernel dump into these aggregates. The only
 * per-connection data kept is a sorted array of 64-bit fingerprints of
 * the original tuples (fp), so that two successive live samples give the
 * number of connections opened in between; fingerprints are not stored in
 * bundles.
 */
#ifndef KTRACE_FLOWS_H
#define KTRACE_FLOWS_H

#include "ktrace/diag.h"
#include "ktrace/model.h"

/* Where one aggregate came from. */
enum kt_flow_src {
	KT_FLOW_CONNTRACK,       /* netfilter conntrack, DNAT'ed entries */
	KT_FLOW_CILIUM,          /* Cilium CT map, SVC entries */
	KT_FLOW_SOCKET,          /* inet_diag: sockets on this node */
};

struct kt_flow_agg {
	const char *vip;         /* original destination (ClusterIP, node IP, LB IP) */
	int32_t vport;
	const char *protocol;    /* "TCP", "UDP", "SCTP" */
	const char *backend_ip;  /* reply source: the endpoint that got the connection */
	int32_t backend_port;
	enum kt_flow_src src;
	uint16_t zone;           /* conntrack zone (0 default) */
	uint32_t established;    /* open (ESTABLISHED / assured UDP) now */
	uint32_t total;          /* every entry, any state */
	uint64_t bytes_orig;     /* client -> backend */
	uint64_t bytes_reply;    /* backend -> client */
	uint64_t packets;
	uint32_t older_1m;       /* established connections older than 1 min (needs timestamps) */
	uint32_t older_10m;
	uint32_t older_1h;
	uint32_t recent;         /* entries started in the last KT_FLOW_RECENT_S s (needs timestamps) */
	uint64_t hash;           /* XOR of the entries' fingerprints: cheap change detection */
	uint64_t *fp;            /* sorted fingerprints of the entries (live only; arena) */
	uint32_t n_fp;
	double rtt_ms;           /* sockets only: mean smoothed RTT; 0 unknown */
	/* conntrack event mode (kt_flow_sample.events): connections opened
	 * since the previous sample, counted from the kernel's NEW events (also
	 * those already closed again), and byte rates measured by the collector
	 * between its last two full dumps (negative: not known yet) */
	uint32_t opened;
	double rate_orig, rate_reply;   /* bytes/s */
};

#define KT_FLOW_RECENT_S 10

struct kt_flow_sample {
	const char *node;
	const char *source;      /* "conntrack", "cilium-ct", "inet_diag", "bundle", joined by "+" */
	int64_t taken_ms;        /* unix ms */
	bool acct;               /* nf_conntrack_acct on: byte counters are real */
	bool timestamps;         /* nf_conntrack_timestamp on: ages are real */
	uint64_t entries_seen;   /* entries the kernel returned (DNAT'ed ones unless all_entries) */
	uint32_t elapsed_us;     /* time the collection took */
	bool capped;             /* an aggregate cap was hit (a gap says so) */
	bool events;             /* conntrack event mode: agg.opened and agg.rate_* are set */
	bool full_dump;          /* this sample read the whole conntrack table (else: events only) */
	struct kt_flow_agg *agg; /* malloc'd (freed by kt_snapshot_free) */
	uint32_t n_agg, cap_agg;
};

struct kt_node_opts;

/* Conntrack state kept between samples by a refreshing caller (the
 * dashboard): a full ctnetlink dump on the first two samples, every
 * resync_s seconds and after an event overrun; in between, the kernel's
 * conntrack events (NEW/UPDATE/DESTROY multicast) update the
 * per-connection state, so a refresh costs what changed, not the table
 * size. Per connection it keeps a 64-bit fingerprint, its aggregate, TCP
 * state, start and last counters (~48 bytes). */
struct kt_ct_live;
struct kt_ct_live *kt_ct_live_new(double resync_s);
/* Full dumps before events take over (default 2: the second measures byte
 * rates). 1 for a two-sample caller (imbalance --once): the first sample
 * dumps, the second applies the events in between, and byte rates stay
 * unknown (events carry counters only at DESTROY). */
void kt_ct_live_first_dumps(struct kt_ct_live *l, unsigned n);
void kt_ct_live_free(struct kt_ct_live *l);
/* Apply a buffer of ctnetlink event messages (as the kernel multicasts
 * them) to l, received at now_s (unix s), and emit l as one sample without
 * touching the kernel: the tests' and the fuzz target's entry points. */
void kt_ct_live_apply(struct kt_ct_live *l, const void *buf, size_t len, int64_t now_s);
void kt_ct_live_sample(struct kt_ct_live *l, struct kt_snapshot *snap, struct kt_flow_sample *fs);

/* What kt_flows_collect_ex() reads. Zero means defaults: conntrack on,
 * Cilium CT when its maps exist, sockets off. */
struct kt_flow_opts {
	bool no_conntrack;
	bool no_cilium;
	bool sockets;            /* also inet_diag TCP sockets */
	const uint16_t *ports;   /* sockets: only these local or remote ports (kernel filter); NULL all */
	uint32_t n_ports;
	uint32_t max_agg;        /* cap on aggregates; 0 -> 65536 */
	bool no_fingerprints;    /* skip fp arrays (bundles, one-shot checks) */
	bool all_entries;        /* conntrack: no kernel-side IPS_DST_NAT status filter
				  * (IPVS mode, whose entries may lack the bit) */
	struct kt_ct_live *live; /* conntrack event mode state (NULL: one full dump per sample) */
};

/* One flow sample of this node with explicit options. Appends one sample
 * to snap->flows (strings and fp in snap->arena) and gaps for what could
 * not be read (no CAP_NET_ADMIN, acct off, maps missing). Returns 0 even
 * when nothing was readable; negative (KT_EXIT_CLUSTER) only for a
 * netlink protocol failure. */
int kt_flows_collect_ex(struct kt_snapshot *snap, const struct kt_node_opts *o,
			const struct kt_flow_opts *fo, struct kt_diag *d);

/* Collectors behind it; each fills (adds to) one sample. Exposed for the
 * bench and tests. */
int kt_conntrack_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs,
			 const struct kt_flow_opts *fo, struct kt_diag *d);
int kt_sockdiag_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs,
			const struct kt_flow_opts *fo, struct kt_diag *d);
int kt_cilium_ct_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs, const char *bpffs,
			 const struct kt_flow_opts *fo, struct kt_diag *d);

/* Parse a recorded ctnetlink dump (a sequence of netlink messages as the
 * kernel sent them) into fs: the replay path and the fuzz entry point.
 * Returns 0, or -KT_EXIT_INPUT for a malformed buffer (d says where). */
int kt_conntrack_parse(struct kt_snapshot *snap, struct kt_flow_sample *fs, const void *buf,
		       size_t len, struct kt_diag *d);

/* Parse a buffer of sock_diag dump messages (listening sockets and the
 * others, as the kernel sent them) into fs: replay and fuzz entry
 * point. Returns 0, or -KT_EXIT_INPUT for a malformed buffer. */
int kt_sockdiag_parse(struct kt_snapshot *snap, struct kt_flow_sample *fs, const void *buf,
		      size_t len, struct kt_diag *d);

const char *kt_flow_src_name(enum kt_flow_src s);  /* "conntrack", "cilium-ct", "inet_diag" */

#endif
