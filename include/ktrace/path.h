/*
 * The path analyzer: for one Service, the layered path
 * cloud LB -> node -> NodePort -> dataplane rule -> Pod, as data.
 */
#ifndef KTRACE_PATH_H
#define KTRACE_PATH_H

#include "ktrace/analyze.h"
#include "ktrace/dataplane.h"
#include "ktrace/findings.h"
#include "ktrace/model.h"

enum kt_lb_target { KT_LBT_NONE, KT_LBT_NODES, KT_LBT_PODS };

struct kt_path_node {
	uint32_t node;           /* index into snap->nodes */
	bool lb_target;
	const char *reason;      /* why it is (not) an LB target */
	uint32_t local_ready;    /* ready endpoints (addresses) on this node */
	uint32_t local_total;
};

/* One programmed frontend and, when the node rejects or drops it, why
 * (from the API objects; cause.rule KT_RULE_COUNT: nothing to add). */
struct kt_path_fe {
	const struct kt_dp_frontend *fe;
	struct kt_dp_cause cause;
};

/* One Service port as a node programs it. Which backend set applies is
 * decided here once, for every renderer: the internal set when an
 * internal frontend forwards, the external set when an external one does
 * (shown apart only when it differs: Local policy). */
struct kt_path_dp {
	const struct kt_dp_node *node;
	const struct kt_dp_service *svc; /* one per Service port */
	struct kt_path_fe *fes;
	uint32_t n_fes;
	bool internal_set;       /* an internal frontend forwards to svc->be */
	bool external_set;       /* an external frontend forwards to svc->ext_be */
	bool ext_differs;        /* the external set is not the internal one */
};

struct kt_path_result {
	uint32_t svc;
	const char *lb_kind;          /* "aws-nlb", "aws-elb", "azure-lb", "gcp-l4", "metallb", ... NULL when not LB */
	const char *lb_kind_evidence; /* the annotation/class it came from */
	enum kt_lb_target lb_target;
	const char *lb_target_reason;
	bool lb_internal;
	const char *mode;             /* iptables | iptables-nft | nftables | ipvs | cilium | unknown */
	const char *mode_source;      /* api | node | bundle */
	const char *mode_evidence;
	struct kt_path_node *nodes;
	uint32_t n_nodes;
	uint32_t n_lb_targets;
	uint32_t *eps;                /* endpoint indices: by port name, ready first, then ip */
	uint32_t n_eps;
	uint32_t n_ready, n_serving_terminating, n_not_ready;
	uint32_t n_addresses;         /* distinct endpoint addresses */
	double cross_node_share;      /* expected share of requests taking an extra node hop; -1 n/a */
	struct kt_path_dp *dp;        /* programmed view on nodes that have state for this Service */
	uint32_t n_dp;
	struct kt_findings findings;  /* caller releases with kt_findings_release() */
};

struct kt_path_query {
	uint32_t svc;
	bool no_findings;
};

int kt_path_analyze(const struct kt_snapshot *s, const struct kt_path_query *q, struct kt_arena *a,
		    struct kt_path_result **out);

/* ---- the ingress layer (analyzers/ingress_path.c) ----------------------
 * For HTTP Services the ingress controller is the real load balancer: the
 * cloud LB picks a node, the node forwards to a controller Pod, and the
 * controller picks the backend Pod itself. */

enum kt_ing_kind { KT_ING_INGRESS, KT_ING_HTTPROUTE, KT_ING_GRPCROUTE };
enum kt_ing_cip { KT_ING_CIP_UNKNOWN, KT_ING_CIP_KEPT, KT_ING_CIP_LOST };

/* One host/path -> backend of an Ingress or route, in document order. */
struct kt_ing_route {
	const char *host;        /* NULL: any host */
	const char *match;       /* "Prefix /api", "PathPrefix /", "gRPC catalog.v1.Catalog/List", "default backend" */
	bool tls;                /* Ingress: host in spec.tls */
	const char *svc_ns;      /* backend Service namespace and name */
	const char *svc_name;
	struct kt_portref port;  /* as written */
	int32_t weight;          /* routes; 0 for Ingresses */
	uint32_t svc;            /* index into services, KT_NONE when it does not exist */
	bool via_cluster_ip;     /* the controller goes through the ClusterIP (per connection) */
	const char *balance_why; /* why (per connection), or what balances per request */
};

/* One Ingress or route and the controller that serves it. */
struct kt_ing_view {
	enum kt_ing_kind kind;
	const struct kt_meta *meta;
	const char *class_kind;  /* "IngressClass" or "GatewayClass" */
	const char *class_name;
	const char *controller;  /* the class's controllerName */
	const char *family;      /* "ingress-nginx", ...; NULL unknown */
	bool outside;            /* a cloud L7 load balancer outside the cluster */
	uint32_t gateway;        /* routes: index into gateways, KT_NONE */
	struct kt_ing_route *routes;
	uint32_t n_routes;
	/* the controller's data plane in the input */
	const struct kt_meta **ctrl_wl; /* its workloads (or Pods), with replicas */
	int32_t *ctrl_replicas;  /* -1 DaemonSet */
	uint32_t n_ctrl_wl;
	uint32_t *ctrl_svcs;     /* Services selecting it, LoadBalancer first */
	uint32_t n_ctrl_svcs;
	uint32_t *ctrl_pods;     /* live Pods */
	uint32_t n_ctrl_pods;
	const struct kt_configmap *ctrl_config; /* its client-IP settings, NULL none */
	enum kt_ing_cip client_ip;
	const char *client_ip_why;
};

struct kt_ing_result {
	struct kt_ing_view *views;
	uint32_t n_views;
	struct kt_findings findings; /* path of one object: about it, its controller and
					controller Services (caller releases) */
};

/* The Ingresses and routes that send traffic to Service svc_ix (one view
 * per object; routes[] only the entries for this Service). No findings. */
int kt_ingress_for_service(const struct kt_snapshot *s, uint32_t svc_ix, const struct kt_rules_opts *o,
			   struct kt_arena *a, struct kt_ing_result **out);
/* One Ingress, HTTPRoute or GRPCRoute: its view and the findings about it,
 * its controller and the controller's Services. -1 when it does not exist. */
int kt_ingress_path(const struct kt_snapshot *s, enum kt_ing_kind kind, const char *ns, const char *name,
		    const struct kt_rules_opts *o, struct kt_arena *a, struct kt_ing_result **out);
const char *kt_ing_kind_name(enum kt_ing_kind k); /* "Ingress", "HTTPRoute", "GRPCRoute" */

/* Expected share of requests that take an extra node hop when an LB spreads
 * evenly over target nodes and each node picks a ready endpoint uniformly
 * (externalTrafficPolicy: Cluster). -1 when there is no ready endpoint or
 * no target node. Counts distinct endpoint addresses. */
double kt_cross_node_share(const struct kt_snapshot *s, uint32_t svc_ix);

/* Can the LB send to this node at all (whatever the Service): not
 * labelled exclude-from-external-load-balancers, not cordoned, Ready.
 * The one model of "which nodes the LB targets" path and the rules
 * (KT102, KT103) share. */
bool kt_lb_node_eligible(const struct kt_snapshot *s, uint32_t node_ix, const char **reason);
/* Is node an LB target for svc (eligible, and with Local policy a ready
 * local endpoint so the health check passes), and why (static string). */
bool kt_lb_target_node(const struct kt_snapshot *s, uint32_t svc_ix, uint32_t node_ix, const char **reason);

/* LB implementation from class/annotations/ingress hostname. */
const char *kt_lb_kind(const struct kt_service *svc, const char **evidence, enum kt_lb_target *target,
		       const char **target_reason, bool *internal);

#endif
