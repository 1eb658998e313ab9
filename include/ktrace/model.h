/*
 * The ktrace model: one snapshot of everything ktrace knows about a cluster
 * (API objects, node dataplane state, flow samples, and what could not be
 * collected). Plain structs; cross-references are indices (KT_NONE when
 * absent), never pointers into other arrays, so a snapshot serialises and
 * diffs trivially. Every string and sub-array is owned by the snapshot's
 * arena; the top-level arrays are malloc'd and grown while collectors
 * stream, and are released by kt_snapshot_free().
 *
 * After collectors are done, kt_snapshot_finish() sorts every array by its
 * documented key and fills the derived index fields. Analyzers only ever
 * see finished snapshots.
 */
#ifndef KTRACE_MODEL_H
#define KTRACE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktrace/arena.h"

#define KT_NONE UINT32_MAX

struct kt_kv {
	const char *key;
	const char *value;
};

struct kt_kvlist {
	struct kt_kv *v; /* sorted by key */
	uint32_t n;
};

/* Where an object or field came from (manifests). file is an index into
 * snap->files; KT_NONE for live objects. line/col are 1-based. */
struct kt_srcpos {
	uint32_t file;
	uint32_t line;
	uint32_t col;
};

/* Position of one field of a manifest object, path like
 * "spec.ports[0].targetPort" or "spec.template.spec.containers[1]". */
struct kt_fieldpos {
	const char *path;
	uint32_t line;
	uint32_t col;
};

struct kt_ownerref {
	const char *kind;
	const char *name;
	const char *uid;
	bool controller;
};

struct kt_meta {
	const char *kind;        /* "Service", "Deployment", ... */
	const char *api_version;
	const char *namespace;   /* NULL for cluster-scoped */
	const char *name;
	const char *uid;
	const char *resource_version;
	int64_t created;         /* unix s; 0 unknown */
	int64_t deleted;         /* deletionTimestamp, unix s; 0 none */
	struct kt_kvlist labels;
	struct kt_kvlist annotations;
	struct kt_ownerref *owners;
	uint32_t n_owners;
	struct kt_srcpos pos;    /* start of the object's document */
	struct kt_fieldpos *fields; /* manifests only, unsorted */
	uint32_t n_fields;
};

/* Label selector. match_labels only for Service selectors. */
enum kt_selop { KT_SEL_IN, KT_SEL_NOTIN, KT_SEL_EXISTS, KT_SEL_NOTEXISTS };

struct kt_selreq {
	const char *key;
	enum kt_selop op;
	const char **values;
	uint32_t n_values;
};

struct kt_selector {
	bool present;            /* field was given (a nil selector matches nothing) */
	struct kt_kvlist match_labels;
	struct kt_selreq *exprs;
	uint32_t n_exprs;
};

/* int-or-string port reference: name != NULL means a named port. */
struct kt_portref {
	int32_t num;             /* 0 when unset or named */
	const char *name;
};

/* ---- Services ----------------------------------------------------- */

enum kt_svc_type {
	KT_SVC_CLUSTERIP,
	KT_SVC_NODEPORT,
	KT_SVC_LOADBALANCER,
	KT_SVC_EXTERNALNAME,
};

struct kt_svc_port {
	const char *name;        /* may be NULL/"" for single-port Services */
	const char *protocol;    /* "TCP" default */
	const char *app_protocol;
	int32_t port;
	struct kt_portref target; /* unset -> num == port */
	int32_t node_port;       /* 0 none */
};

struct kt_lb_ingress {
	const char *ip;
	const char *hostname;
	const char *ip_mode;     /* "VIP", "Proxy" or NULL */
};

struct kt_service {
	struct kt_meta meta;
	enum kt_svc_type type;
	bool headless;           /* clusterIP: None */
	const char **cluster_ips;
	uint32_t n_cluster_ips;
	const char **ip_families;
	uint32_t n_ip_families;
	const char *ip_family_policy;
	struct kt_svc_port *ports;
	uint32_t n_ports;
	bool has_selector;
	struct kt_kvlist selector;
	bool etp_local;          /* externalTrafficPolicy: Local */
	bool etp_set;            /* the field was written (manifests) */
	bool itp_local;          /* internalTrafficPolicy: Local */
	int32_t health_check_node_port;
	bool affinity_client_ip; /* sessionAffinity: ClientIP */
	int32_t affinity_timeout; /* s; 10800 default when ClientIP */
	const char *lb_class;
	const char **lb_source_ranges;
	uint32_t n_lb_source_ranges;
	const char **external_ips;
	uint32_t n_external_ips;
	struct kt_lb_ingress *ingress;
	uint32_t n_ingress;
	const char *traffic_distribution;
	bool publish_not_ready;
	bool alloc_lb_node_ports; /* default true */
	const char *external_name;
	/* derived by kt_snapshot_finish(): endpoints of this Service are
	 * snap->endpoints[ep_first .. ep_first + ep_count) */
	uint32_t ep_first;
	uint32_t ep_count;
};

/* ---- EndpointSlices, flattened: one row per (address, port) --------- */

struct kt_endpoint {
	const char *namespace;
	const char *service;     /* kubernetes.io/service-name label */
	const char *slice;       /* EndpointSlice name */
	const char *address_type; /* IPv4, IPv6, FQDN */
	const char *ip;
	const char *port_name;   /* "" when unnamed */
	const char *protocol;
	int32_t port;            /* 0 when the slice has no ports */
	const char *app_protocol;
	bool ready;              /* nil -> true */
	bool serving;            /* nil -> ready */
	bool terminating;        /* nil -> false */
	const char *node;
	const char *zone;
	const char *hostname;
	const char *target_kind; /* targetRef */
	const char *target_name;
	const char **hint_zones;
	uint32_t n_hint_zones;
	int64_t trigger_time;    /* endpoints.kubernetes.io/last-change-trigger-time, unix ms; 0 none */
	/* derived */
	uint32_t svc;            /* index into services or KT_NONE */
	uint32_t pod;            /* index into pods or KT_NONE */
	uint32_t node_ix;        /* index into nodes or KT_NONE */
};

/* ---- Pods and pod templates --------------------------------------- */

struct kt_cport {
	const char *name;
	const char *protocol;
	int32_t port;
};

enum kt_probe_kind { KT_PROBE_NONE, KT_PROBE_HTTP, KT_PROBE_TCP, KT_PROBE_EXEC, KT_PROBE_GRPC };

struct kt_probe {
	enum kt_probe_kind kind;
	struct kt_portref port;
};

enum kt_hook_kind { KT_HOOK_NONE, KT_HOOK_EXEC, KT_HOOK_HTTP, KT_HOOK_TCP, KT_HOOK_SLEEP };

struct kt_container {
	const char *name;
	const char *image;
	bool init;               /* from initContainers */
	bool sidecar;            /* initContainer with restartPolicy: Always */
	struct kt_cport *ports;
	uint32_t n_ports;
	struct kt_probe readiness;
	struct kt_probe liveness;
	struct kt_probe startup;
	enum kt_hook_kind prestop;
	int32_t prestop_sleep;   /* s; -1 when not a recognisable sleep */
	const char *fpath;       /* field path, e.g. "spec.template.spec.containers[0]" */
};

struct kt_spread {
	int32_t max_skew;
	const char *topology_key;
	const char *when_unsatisfiable;
	struct kt_selector selector;
};

struct kt_affinity_term {
	const char *topology_key;
	struct kt_selector selector;
	int32_t weight;          /* preferred terms; 0 for required */
};

struct kt_podspec {
	struct kt_container *containers; /* regular containers, then init containers */
	uint32_t n_containers;
	int64_t grace_period;    /* s; -1 unset (Kubernetes default 30) */
	struct kt_spread *spread;
	uint32_t n_spread;
	struct kt_affinity_term *anti_required;
	uint32_t n_anti_required;
	struct kt_affinity_term *anti_preferred;
	uint32_t n_anti_preferred;
	const char *node_name;
	bool host_network;
	const char *service_account;
	const char *fpath;       /* "spec" or "spec.template.spec" */
};

struct kt_pod {
	struct kt_meta meta;
	struct kt_podspec spec;
	const char *phase;
	const char **ips;
	uint32_t n_ips;
	const char *host_ip;
	bool ready;
	int64_t ready_since;     /* Ready condition lastTransitionTime, unix s; 0 unknown */
	int64_t start_time;      /* unix s */
	/* derived */
	uint32_t node_ix;
	uint32_t workload;       /* owning workload (through ReplicaSet) or KT_NONE */
};

/* ---- Workloads ------------------------------------------------------ */

enum kt_wl_kind {
	KT_WL_DEPLOYMENT,
	KT_WL_STATEFULSET,
	KT_WL_DAEMONSET,
	KT_WL_REPLICASET,
	KT_WL_JOB,
	KT_WL_CRONJOB,
	KT_WL_POD,               /* a bare Pod in manifests */
};

struct kt_workload {
	struct kt_meta meta;
	enum kt_wl_kind kind;
	int32_t replicas;        /* -1 unset (default 1); -1 for DaemonSets */
	int32_t ready_replicas;
	struct kt_selector selector;
	struct kt_kvlist template_labels;
	struct kt_kvlist template_annotations;
	struct kt_podspec spec;
	/* derived */
	uint32_t owner;          /* ReplicaSet -> Deployment index, or KT_NONE */
};

struct kt_hpa {
	struct kt_meta meta;
	const char *target_kind;
	const char *target_name;
	int32_t min_replicas;    /* default 1 */
	int32_t max_replicas;
};

struct kt_pdb {
	struct kt_meta meta;
	struct kt_selector selector;
	const char *min_available;   /* int or percent as written; NULL unset */
	const char *max_unavailable;
	int32_t disruptions_allowed; /* -1 unknown */
};

/* One backend of an Ingress: spec.defaultBackend (host and path NULL) or
 * one spec.rules[].http.paths[] entry, in document order. */
struct kt_ingress_backend {
	const char *service;     /* NULL: a resource backend */
	struct kt_portref port;
	const char *host;        /* the rule's host; NULL = any */
	const char *path;        /* NULL for the default backend */
	const char *path_type;   /* Exact, Prefix, ImplementationSpecific */
	bool tls;                /* host listed in spec.tls[].hosts (or a TLS entry without hosts) */
	const char *fpath;       /* field path of the backend, e.g. "spec.rules[0].http.paths[1].backend" */
};

struct kt_ingress {
	struct kt_meta meta;
	const char *class_name;  /* spec.ingressClassName or the legacy annotation */
	bool class_from_annotation; /* kubernetes.io/ingress.class */
	struct kt_ingress_backend *backends;
	uint32_t n_backends;
	struct kt_lb_ingress *lb;
	uint32_t n_lb;
};

struct kt_ingress_class {
	struct kt_meta meta;
	const char *controller;
	bool is_default;
};

/* ---- Gateway API (gateway.networking.k8s.io) ------------------------ */

struct kt_gw_class {
	struct kt_meta meta;
	const char *controller;  /* spec.controllerName */
};

struct kt_gw_listener {
	const char *name;
	const char *hostname;    /* NULL = any */
	const char *protocol;    /* HTTP, HTTPS, TLS, TCP, UDP */
	int32_t port;
	const char *tls_mode;    /* Terminate, Passthrough; NULL when no tls */
};

struct kt_gateway {
	struct kt_meta meta;
	const char *class_name;  /* spec.gatewayClassName */
	struct kt_gw_listener *listeners;
	uint32_t n_listeners;
	const char **addresses;  /* status.addresses[].value */
	uint32_t n_addresses;
	/* derived */
	uint32_t gw_class;       /* index into gateway_classes or KT_NONE */
};

enum kt_route_kind { KT_ROUTE_HTTP, KT_ROUTE_GRPC };

/* spec.parentRefs[]: the Gateways (listeners) a route attaches to. */
struct kt_route_parent {
	const char *kind;        /* "Gateway" unless written */
	const char *namespace;   /* NULL = the route's */
	const char *name;
	const char *section;     /* sectionName (a listener name) or NULL */
	int32_t port;            /* 0 unset */
	uint32_t gateway;        /* derived: index into gateways or KT_NONE */
};

/* spec.rules[].backendRefs[], flattened in document order. */
struct kt_route_backend {
	uint32_t rule;           /* index of the rule it belongs to */
	const char *kind;        /* "Service" unless written */
	const char *group;       /* "" (core) unless written */
	const char *namespace;   /* NULL = the route's */
	const char *name;
	int32_t port;            /* 0 unset */
	int32_t weight;          /* default 1 */
	const char *fpath;       /* e.g. "spec.rules[0].backendRefs[1]" */
};

/* spec.rules[].matches[], flattened: what a rule matches, as written. */
struct kt_route_match {
	uint32_t rule;
	const char *path_type;   /* HTTP: Exact, PathPrefix, RegularExpression; NULL none */
	const char *path;        /* HTTP path value; gRPC "service/method" */
	const char *method;      /* HTTP method, or NULL */
};

/* HTTPRoute or GRPCRoute. */
struct kt_route {
	struct kt_meta meta;
	enum kt_route_kind kind;
	const char **hostnames;
	uint32_t n_hostnames;
	struct kt_route_parent *parents;
	uint32_t n_parents;
	struct kt_route_backend *backends;
	uint32_t n_backends;
	struct kt_route_match *matches;
	uint32_t n_matches;
	uint32_t n_rules;
};

/* ---- ConfigMaps of ingress controllers -------------------------------
 * Only the settings ktrace reads (client IP and PROXY protocol handling of
 * ingress-nginx and HAProxy), never other data: data holds exactly the
 * keys of kt_ctrl_config_keys[] that were present. */
struct kt_configmap {
	struct kt_meta meta;
	struct kt_kvlist data;
};
extern const char *const kt_ctrl_config_keys[]; /* NULL-terminated */

/* ---- Pods that operators create from custom resources ----------------
 * A custom resource whose spec carries the labels of the Pods an operator
 * creates from it (Prometheus Operator's Prometheus, Alertmanager and
 * ThanosRuler: spec.podMetadata.labels plus the labels the operator adds;
 * in general spec.podMetadata, spec.podTemplate.metadata or
 * spec.template.metadata labels). Manifests hold the resource, never a
 * pod template, so Services selecting those Pods match it. */
struct kt_cr_pods {
	struct kt_meta meta;
	struct kt_kvlist labels; /* the labels the Pods get, as far as known */
	bool exact;              /* the operator's own labels are known too */
	const char *fpath;       /* where the labels are written */
	int32_t replicas;        /* spec.replicas; -1 unset */
};

/* ---- Nodes ---------------------------------------------------------- */

struct kt_node {
	struct kt_meta meta;
	const char **internal_ips;
	uint32_t n_internal_ips;
	const char **external_ips;
	uint32_t n_external_ips;
	const char *hostname;
	const char *zone;        /* topology.kubernetes.io/zone (or the beta label) */
	const char *region;
	const char **pod_cidrs;
	uint32_t n_pod_cidrs;
	bool unschedulable;
	bool ready;
	bool exclude_lb;         /* node.kubernetes.io/exclude-from-external-load-balancers */
	bool control_plane;
};

/* ---- Proxy configuration ------------------------------------------- */

struct kt_proxy_config {
	const char *mode;        /* "iptables", "ipvs", "nftables", "cilium", "unknown" */
	const char *source;      /* e.g. "configmap kube-system/kube-proxy (config.conf)" */
	const char *raw_mode;    /* as written ("" means the iptables default) */
	const char *cilium_kpr;  /* cilium-config kube-proxy-replacement value */
	int32_t masquerade_bit;  /* iptables.masqueradeBit; -1 unknown */
	bool masquerade_all;
	const char *cluster_cidr;
};

/* ---- Gaps ----------------------------------------------------------- */

struct kt_gap {
	const char *what;        /* "pods in shop", "nftables ruleset", "bpf map cilium_lb4_services_v2" */
	const char *why;         /* "403 Forbidden: needs list pods", "not root" */
	bool recorded;           /* read from a bundle: a fact of the bundle, not of this run */
};

/* What the source layer resolved for a command's scope (kt_source_load in
 * include/ktrace/source.h); zero for snapshots built otherwise. */
struct kt_focus {
	const char *ns;          /* the namespace asked about; NULL = every namespace */
	bool services_only;      /* the answer is about svcs[] only (a named Service, a workload's
				  * Services, -l) and what they select */
	uint32_t *svcs;          /* sorted indices into services; arena */
	uint32_t n_svcs;
	uint32_t missing;        /* KT_WANT_* kinds asked for that could not be read (gaps say why):
				  * findings computed without them are incomplete */
	const char *node_note;   /* how node state was chosen ("this host as node X", "not read:
				  * this host is not one of the cluster's Nodes"); NULL none */
};

/* Kinds a source listed completely (struct kt_snapshot.listed): an API
 * list that succeeded, a typed Kubernetes List (PodList, ...), a bundle
 * that records them. When a kind is neither listed nor present, its
 * absence is not evidence: rules that need it report a gap instead. */
enum kt_listed {
	KT_LISTED_SERVICES = 1u << 0,
	KT_LISTED_ENDPOINTSLICES = 1u << 1,
	KT_LISTED_PODS = 1u << 2,
	KT_LISTED_NODES = 1u << 3,
	KT_LISTED_WORKLOADS = 1u << 4,
	KT_LISTED_HPAS = 1u << 5,
	KT_LISTED_PDBS = 1u << 6,
	KT_LISTED_INGRESSES = 1u << 7,
	KT_LISTED_INGRESSCLASSES = 1u << 8,
	KT_LISTED_GATEWAYS = 1u << 9,
	KT_LISTED_GATEWAYCLASSES = 1u << 10,
	KT_LISTED_ROUTES = 1u << 11,
};

struct kt_dp_node;           /* include/ktrace/dataplane.h */
struct kt_flow_sample;       /* include/ktrace/flows.h */
struct kt_fleet;             /* include/ktrace/fleet.h: node state of many nodes (--nodes) */

struct kt_snapshot {
	struct kt_arena *arena;
	const char *source;      /* "api", "bundle", "demo", "manifests" */
	const char *origin;      /* server URL, bundle path or "demo" */
	const char *context;
	const char *cluster_version;
	int64_t taken;           /* unix s */

	/* sorted by (namespace, name) unless noted */
	struct kt_service *services;
	uint32_t n_services, cap_services;
	struct kt_endpoint *endpoints;    /* sorted by (namespace, service, port_name, ip, port) */
	uint32_t n_endpoints, cap_endpoints;
	struct kt_pod *pods;
	uint32_t n_pods, cap_pods;
	struct kt_node *nodes;            /* sorted by name */
	uint32_t n_nodes, cap_nodes;
	struct kt_workload *workloads;    /* sorted by (namespace, kind, name) */
	uint32_t n_workloads, cap_workloads;
	struct kt_hpa *hpas;
	uint32_t n_hpas, cap_hpas;
	struct kt_pdb *pdbs;
	uint32_t n_pdbs, cap_pdbs;
	struct kt_ingress *ingresses;
	uint32_t n_ingresses, cap_ingresses;
	struct kt_ingress_class *ingress_classes; /* sorted by name */
	uint32_t n_ingress_classes, cap_ingress_classes;
	struct kt_gw_class *gateway_classes;     /* sorted by name */
	uint32_t n_gateway_classes, cap_gateway_classes;
	struct kt_gateway *gateways;
	uint32_t n_gateways, cap_gateways;
	struct kt_route *routes;          /* HTTPRoutes and GRPCRoutes, sorted by (namespace, name, kind) */
	uint32_t n_routes, cap_routes;
	struct kt_configmap *configmaps;  /* ingress controllers' only */
	uint32_t n_configmaps, cap_configmaps;
	struct kt_cr_pods *cr_pods;       /* sorted by (namespace, kind, name) */
	uint32_t n_cr_pods, cap_cr_pods;
	struct kt_proxy_config proxy;
	uint32_t listed;                  /* enum kt_listed bits */

	const char **files;               /* manifests: index = kt_srcpos.file */
	uint32_t n_files, cap_files;

	struct kt_dp_node *dp;            /* per node dataplane state, sorted by node name */
	uint32_t n_dp, cap_dp;
	struct kt_flow_sample *flows;     /* per node flow samples, sorted by node name */
	uint32_t n_flows, cap_flows;

	struct kt_fleet *fleet;           /* --nodes / a fleet bundle: the majority state once plus
					   * per-node deviations (ktrace/fleet.h); dp[] holds each
					   * node's expanded view of it */

	struct kt_gap *gaps;              /* in order of discovery */
	uint32_t n_gaps, cap_gaps;
	bool finished;
	bool bundle_header;               /* a KtraceBundle document was read (else kubectl Lists only) */
	struct kt_focus focus;            /* set by the source layer */
};

/* Create an empty snapshot with its own arena. NULL on ENOMEM. */
struct kt_snapshot *kt_snapshot_new(void);

/* Release the snapshot, its arena and every array. NULL is fine. */
void kt_snapshot_free(struct kt_snapshot *snap);

/* Append a zeroed element to one of the top-level arrays and return it.
 * Aborts on ENOMEM (like git's xmalloc). Example:
 *   struct kt_service *s = KT_SNAP_PUSH(snap, services);                 */
void *kt_grow(void *arr, uint32_t *n, uint32_t *cap, size_t elem);
#define KT_SNAP_PUSH(snap, field) \
	((__typeof__((snap)->field))kt_grow(&(snap)->field, &(snap)->n_##field, &(snap)->cap_##field, sizeof(*(snap)->field)))

/* Record a gap (strings are copied into the arena). */
void kt_snapshot_gap(struct kt_snapshot *snap, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Drop the node dataplane state and flow samples (a bundle that supplies
 * API objects while node state is read elsewhere). Finish again after
 * adding other node state. */
void kt_snapshot_clear_nodes(struct kt_snapshot *snap);

/* Keep only node name's dataplane state and flow sample; false (nothing
 * changed) when neither exists. */
bool kt_snapshot_keep_node(struct kt_snapshot *snap, const char *name);

/* Sort every array and fill derived indices. Idempotent. */
void kt_snapshot_finish(struct kt_snapshot *snap);

/* The enum kt_listed bit of a kind ("Pod", "PodList" item kind, "pods");
 * 0 when ktrace does not track it. */
uint32_t kt_listed_bit(const char *kind);
/* Is the kind (a KT_LISTED_* bit) known: listed, or present in snap? */
bool kt_snapshot_has(const struct kt_snapshot *snap, uint32_t bit);

/* Lookups on a finished snapshot; KT_NONE when absent. */
uint32_t kt_find_service(const struct kt_snapshot *snap, const char *ns, const char *name);
uint32_t kt_find_node(const struct kt_snapshot *snap, const char *name);
uint32_t kt_find_pod(const struct kt_snapshot *snap, const char *ns, const char *name);
uint32_t kt_find_ingress(const struct kt_snapshot *snap, const char *ns, const char *name);
uint32_t kt_find_gateway(const struct kt_snapshot *snap, const char *ns, const char *name);
uint32_t kt_find_route(const struct kt_snapshot *snap, enum kt_route_kind kind, const char *ns, const char *name);
uint32_t kt_find_ingress_class(const struct kt_snapshot *snap, const char *name);
uint32_t kt_find_gateway_class(const struct kt_snapshot *snap, const char *name);
const char *kt_route_kind_name(enum kt_route_kind k); /* "HTTPRoute", "GRPCRoute" */
uint32_t kt_find_workload(const struct kt_snapshot *snap, const char *ns, enum kt_wl_kind kind, const char *name);

/* The one binary search over sorted arrays (the model's and analyzers'
 * indexes): the first index in [0, n) whose element does not compare
 * below key (cmp(key, elem, ctx) <= 0), n when none. */
uint32_t kt_lower_bound(const void *base, uint32_t n, size_t size, const void *key,
			int (*cmp)(const void *key, const void *elem, void *ctx), void *ctx);
/* The index of an element comparing equal to key, or KT_NONE. */
uint32_t kt_bsearch_ix(const void *base, uint32_t n, size_t size, const void *key,
		       int (*cmp)(const void *key, const void *elem, void *ctx), void *ctx);

/* Label helpers. */
const char *kt_kv_get(const struct kt_kvlist *l, const char *key);
/* Service-style selector (map) matches labels. An empty map matches nothing. */
bool kt_labels_match_map(const struct kt_kvlist *sel, const struct kt_kvlist *labels);
/* LabelSelector matches labels. A non-present selector matches nothing; a
 * present but empty one matches everything. */
bool kt_selector_match(const struct kt_selector *sel, const struct kt_kvlist *labels);
/* Parse "k=v,k!=v,k,!k,k in (a,b)" (kubectl -l syntax) into sel, strings in
 * a (lib/selector.c); false on a syntax error. */
bool kt_parse_label_selector(const char *str, struct kt_arena *a, struct kt_selector *sel);

/* Resolve a Service port's targetPort for one pod spec: returns the
 * container port number, or 0 when a named port is not declared. */
int32_t kt_resolve_target_port(const struct kt_svc_port *sp, const struct kt_podspec *spec);

const char *kt_svc_type_name(enum kt_svc_type t);
const char *kt_wl_kind_name(enum kt_wl_kind k);

/* Position of a field of an object (manifests); NULL when unknown. Falls
 * back to the longest recorded prefix of path. */
const struct kt_fieldpos *kt_meta_field(const struct kt_meta *m, const char *path);

#endif
