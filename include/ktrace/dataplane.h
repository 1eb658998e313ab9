/*
 * The normalised node dataplane: what one node's kernel does with a packet
 * for each Service port, whatever programmed it (kube-proxy iptables on
 * either backend, nftables, IPVS, or Cilium eBPF). Frontends -> ordered
 * backends with true selection probabilities, affinity, SNAT evidence and
 * references to the rules or map keys each fact came from.
 * Owned by the snapshot's arena like the rest of the model.
 */
#ifndef KTRACE_DATAPLANE_H
#define KTRACE_DATAPLANE_H

#include "ktrace/model.h"

enum kt_dp_mode {
	KT_DP_IPTABLES_NFT,
	KT_DP_IPTABLES_LEGACY,
	KT_DP_NFTABLES,
	KT_DP_IPVS,
	KT_DP_CILIUM,
	KT_DP_MODE_COUNT,
};

enum kt_fe_kind {
	KT_FE_CLUSTERIP,
	KT_FE_NODEPORT,
	KT_FE_EXTERNALIP,
	KT_FE_LOADBALANCER,
	KT_FE_HEALTHCHECK,
	KT_FE_EXTERNAL,          /* externalIP or LoadBalancer IP: the rules alone
				  * cannot tell which (nftables mode, filter rules) */
};

/* What the node does with a new connection to a frontend. */
enum kt_dp_action {
	KT_DP_FORWARD,           /* DNAT to a backend */
	KT_DP_REJECT,            /* ICMP port unreachable / TCP reset: "connection refused" */
	KT_DP_DROP,              /* silently dropped: the client times out */
};

/* What a backend's share of new connections depends on. */
enum kt_share_basis {
	KT_SHARE_PROBABILITY,    /* random choice with known probabilities
				  * (iptables statistic, nftables numgen, Cilium) */
	KT_SHARE_WEIGHT,         /* IPVS rr/wrr/fo: the weight share is the share */
	KT_SHARE_CONNECTIONS,    /* IPVS lc/wlc/lblc/lblcr/sed/nq/...: depends on
				  * open connections; weights only bias it */
	KT_SHARE_HASH,           /* IPVS sh/dh/mh, Cilium Maglev: a hash of the
				  * packet picks the backend */
};

struct kt_dp_frontend {
	enum kt_fe_kind kind;
	const char *ip;          /* NULL/"" for a NodePort on every local address */
	int32_t port;
	const char *protocol;    /* "TCP", "UDP", "SCTP" */
	bool external;           /* reaches externalBackends (backendSet "external") */
	enum kt_dp_action action;
	const char *reason;      /* why reject/drop, from the rules ("no endpoints",
				  * "no local endpoints", ...); NULL when forwarding */
	const char **source_ranges; /* loadBalancerSourceRanges programmed for this
				     * frontend (others are dropped); arena */
	uint32_t n_source_ranges;
	bool kind_guessed;       /* kind inferred (no API objects, no rule comment
				  * or kube-proxy ipset to say it) */
};

struct kt_dp_backend {
	const char *ip;
	int32_t port;
	double probability;      /* true share of new connections, 0..1, when the
				  * service's share_basis is probability or weight;
				  * otherwise the weight share (not a true share) */
	bool local;              /* endpoint on this node */
	int32_t weight;          /* IPVS weight / Cilium slot count; 0 unknown */
	uint32_t active_conns;   /* IPVS only */
	uint32_t inactive_conns; /* IPVS only */
	const char *state;       /* NULL/"active"; "terminating", "quarantined",
				  * "draining" (IPVS weight 0), "maintenance" */
	uint32_t affinity_clients; /* Cilium: clients pinned to it (affinity map) */
};

struct kt_dp_evidence {
	enum kt_dp_mode mode;
	const char *table;       /* "nat", "ip kube-proxy", "cilium_lb4_services_v2" */
	const char *chain;       /* chain or map name */
	uint64_t handle;         /* rule handle; 0 none */
	const char *map_key;     /* BPF map key or IPVS service key; NULL none */
};

struct kt_dp_service {
	const char *namespace;
	const char *name;
	const char *port_name;   /* "" unnamed */
	const char *protocol;
	enum kt_dp_mode mode;
	struct kt_dp_frontend *fe;
	uint32_t n_fe;
	struct kt_dp_backend *be;      /* what internal frontends reach */
	uint32_t n_be;
	struct kt_dp_backend *ext_be;  /* what external frontends reach */
	uint32_t n_ext_be;
	bool affinity;           /* clientIP affinity */
	int32_t affinity_timeout; /* s */
	bool masquerade;         /* external clients' source IP is lost on this node */
	bool masq_unknown;       /* the rules' layout does not say (see notes) */
	bool local_only;         /* external frontends use node-local endpoints only */
	const char *scheduler;   /* "random" (iptables, nftables), IPVS scheduler,
				  * Cilium "random"/"maglev"; NULL unknown */
	enum kt_share_basis share_basis;
	bool source_hash;        /* IPVS sh without sh-port: a client IP always
				  * reaches the same backend (affinity-like) */
	struct kt_dp_evidence *ev;
	uint32_t n_ev;
	uint32_t svc;            /* derived: index into snap->services or KT_NONE */
	const char *chain_hash;  /* kube-proxy iptables chain hash (16 chars) or
				  * nftables name hash (8 chars); NULL otherwise */
	bool names_guessed;      /* IPVS/Cilium: namespace/name not known on the
				  * node (no API objects to resolve them) */
	const char **source_ranges; /* union of the frontends' source ranges
				     * (loadBalancerSourceRanges as programmed); arena */
	uint32_t n_source_ranges;
	const char *lb_algorithm; /* Cilium: "maglev" / "random"; NULL unknown */
	const char **notes;      /* what the rules leave unknown or ambiguous, with
				  * the evidence; arena */
	uint32_t n_notes;
};

struct kt_proxy_metrics {
	bool present;
	double last_sync;        /* kubeproxy_sync_proxy_rules_last_timestamp_seconds, unix s */
	double last_queued;      /* ..._last_queued_timestamp_seconds */
	uint64_t latency_count;  /* network_programming_duration_seconds count */
	double latency_sum;      /* s */
	double *bucket_le;       /* histogram upper bounds, s */
	uint64_t *bucket_count;  /* cumulative */
	uint32_t n_buckets;
	const char *proxy_mode;  /* GET /proxyMode */
};

struct kt_dp_node {
	const char *node;        /* node name (hostname when live and unknown) */
	uint32_t modes;          /* bit (1u << kt_dp_mode) per proxy backend seen */
	const char *source;      /* "live", "iptables-save FILE", "bundle", ... */
	struct kt_dp_service *svcs; /* sorted by (namespace, name, port_name, mode) */
	uint32_t n_svcs, cap_svcs;
	struct kt_proxy_metrics metrics;
	const char **notes;      /* warnings about the node state, e.g. kube-proxy
				  * chains in both iptables backends; arena */
	uint32_t n_notes, cap_notes;
};

const char *kt_dp_mode_name(enum kt_dp_mode m);   /* "iptables-nft", ... */
const char *kt_fe_kind_name(enum kt_fe_kind k);   /* "clusterIP", ... */
const char *kt_dp_action_name(enum kt_dp_action a); /* "forward", "reject", "drop" */
const char *kt_share_basis_name(enum kt_share_basis b); /* "probability", ... */
/* True share of new connections known for this service's backends? */
bool kt_dp_share_known(const struct kt_dp_service *s);

#endif
