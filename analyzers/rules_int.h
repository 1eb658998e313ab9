/*
 * Internal to analyzers/rules*.c: the rule context (the snapshot plus the
 * relationships every rule needs, resolved once: pod templates, which
 * Service selects which template, ingress controllers) and the helpers
 * that add a finding with its manifest position.
 */
#ifndef KT_ANALYZERS_RULES_INT_H
#define KT_ANALYZERS_RULES_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "ktrace/analyze.h"
#include "ktrace/findings.h"
#include "ktrace/model.h"
#include "ktrace/ruleconf.h"
#include "analyzers/ingress_int.h"

/* One pod template: a workload's spec.template, or a bare Pod. */
struct kt_tmpl {
	const struct kt_meta *meta;       /* the owning object */
	const struct kt_kvlist *labels;   /* labels the Pods get */
	const struct kt_kvlist *tann;     /* template annotations; NULL for Pods */
	const struct kt_podspec *spec;
	enum kt_wl_kind kind;
	int32_t replicas;        /* effective (HPA minReplicas wins); -1 DaemonSet */
	bool replicas_set;       /* spec.replicas written, or an HPA */
	uint32_t hpa;            /* KT_NONE when no HPA targets it */
	uint32_t wl;             /* index into workloads or KT_NONE */
	uint32_t pod;            /* index into pods or KT_NONE (bare Pod) */
	uint32_t cr;             /* index into cr_pods or KT_NONE */
	const struct kt_cr_pods *cr_pods; /* snap->cr_pods[cr] */
	bool opaque;             /* Pods an operator creates from a custom resource:
				    labels only, no containers to check */
	bool ingress;            /* recognised ingress controller */
	const char *ingress_why; /* what recognised it */
	const char *ingress_family; /* e.g. "ingress-nginx", "Kong"; NULL when not one */
	const struct kt_ictrl *ictrl; /* its family (NULL: --ingress-selector or unknown) */
};

struct kt_rctx {
	const struct kt_snapshot *s;
	const struct kt_rules_opts *o;
	struct kt_arena *a;
	struct kt_findings *out;
	bool live;
	uint32_t only_svc;       /* KT_NONE = every Service */
	struct kt_tmpl *t;
	uint32_t n_t;
	struct kt_selector isel; /* --ingress-selector */
	struct kt_ictrls ictrls; /* controller families (built in and .ktrace.yaml) */
	bool have_isel;
	bool pods_gap;           /* pods could not be listed */
	bool eps_gap;            /* EndpointSlices could not be listed */
	bool nodes_known;        /* snapshot has Nodes */
	/* Absence is not evidence: the kinds the live rules need, known to
	 * be complete (listed, or present) and not behind a gap. */
	bool have_pods, have_eps, have_pdbs;
	const char *pods_why, *eps_why, *pdbs_why; /* why not, for the gaps */
	uint32_t n_tmpl_real;    /* templates from workloads and Pods (not custom resources) */
	/* Resolved once, as compressed rows: Service i selects templates
	 * st_ix[st_off[i] .. st_off[i+1]) and live Pods sp_ix[sp_off[i] ..);
	 * template j is selected by Services ts_ix[ts_off[j] .. ts_off[j+1]). */
	uint32_t *st_off, *st_ix;
	uint32_t *ts_off, *ts_ix;
	uint32_t *sp_off, *sp_ix;
	/* Services that an ALB Ingress in ip mode reaches directly (KT101/102) */
	struct kt_alb_backend {
		const char *ns, *svc, *ingress;
	} *alb_ip;
	uint32_t n_alb_ip;
	/* nodes: zone id per node (KT_NONE none), number of zones */
	uint32_t *zone_of;
	uint32_t n_zones;
};

/* Build the context (templates, relations, controllers) without running
 * any rule; only = a Service index or KT_NONE. Everything in a. */
void kt_rctx_init(struct kt_rctx *c, const struct kt_snapshot *s, uint32_t only, const struct kt_rules_opts *o,
		  struct kt_arena *a, struct kt_findings *out);

/* Rows of the relationship tables. */
#define KT_ROW(c, tab, i, n) ((n) = (c)->tab##_off[(i) + 1] - (c)->tab##_off[i], &(c)->tab##_ix[(c)->tab##_off[i]])

/* NULL / "" namespace means "default" (manifests without metadata.namespace). */
bool kt_ns_eq(const char *a, const char *b);
bool kt_svc_selects(const struct kt_service *sv, const char *ns, const struct kt_kvlist *labels);
/* Template form: labels a controller adds to its Pods (kt_ctrl_label) match
 * when the template's controller would add them with that value. */
bool kt_svc_selects_tmpl(const struct kt_service *sv, const struct kt_tmpl *t);
bool kt_ctrl_label(const char *key);
/* Template is in scope for kt_rules_for_service. */
bool kt_tmpl_in_scope(const struct kt_rctx *c, const struct kt_tmpl *t);
/* First Service selecting t (KT_NONE none) and how many select it. */
uint32_t kt_tmpl_service(const struct kt_rctx *c, const struct kt_tmpl *t, uint32_t *count);
/* Live Pod is running or pending, not terminal or deleted. */
bool kt_pod_alive(const struct kt_pod *p);

/* Add a finding on obj, positioned at field path (or the object start). */
struct kt_finding *kt_radd(struct kt_rctx *c, enum kt_rule_id rule, const struct kt_meta *obj,
			   const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The controller serving an Ingress or route (analyzers/rules_routes.c). */
struct kt_iref {
	const struct kt_ictrl *family; /* NULL: unknown */
	const char *class_kind;        /* "IngressClass" or "GatewayClass" */
	const char *class_name;
	const char *controller;        /* the class's controllerName */
	uint32_t klass;                /* index into ingress_classes / gateway_classes, KT_NONE */
	uint32_t gateway;              /* routes: the (first) parent Gateway, KT_NONE */
	uint32_t *tmpl, n_tmpl;        /* controller data-plane templates (c->t) */
	uint32_t *svc, n_svc;          /* Services selecting them, LoadBalancer first */
};
enum kt_cip { KT_CIP_UNKNOWN, KT_CIP_KEPT, KT_CIP_LOST };
void kt_iref_ingress(struct kt_rctx *c, const struct kt_ingress *ig, struct kt_iref *r);
void kt_iref_route(struct kt_rctx *c, const struct kt_route *rt, struct kt_iref *r);
/* Why the controller reaches backend through its ClusterIP (per
 * connection), or NULL (per request to Pod IPs, or a meshed controller). */
const char *kt_iref_via_cluster_ip(struct kt_rctx *c, const struct kt_iref *r, const struct kt_kvlist *obj_ann,
				   const struct kt_service *backend);
/* Does the client address reach the controller (and so X-Forwarded-For)? */
enum kt_cip kt_iref_client_ip(struct kt_rctx *c, const struct kt_iref *r, const char **why);
/* A Service by namespace and name (no namespace = "default"). */
uint32_t kt_iref_service(const struct kt_snapshot *s, const char *ns, const char *name);
/* Why the LB of sv sends straight to Pod IPs (no NodePort hop, no SNAT), or NULL. */
const char *kt_lb_targets_pods(const struct kt_rctx *c, const struct kt_service *sv);

/* Record that rule could not be checked (a gap in the findings). */
void kt_rgap(struct kt_rctx *c, enum kt_rule_id rule, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Rule families. */
void kt_rules_services(struct kt_rctx *c);
void kt_rules_pods(struct kt_rctx *c);
void kt_rules_ingress(struct kt_rctx *c);
void kt_rules_routes(struct kt_rctx *c); /* analyzers/rules_routes.c: KT305-KT309 */
/* Does a mesh proxy balance t's traffic per request (injection label or
 * annotation, or the proxy already in the template)? */
bool kt_tmpl_meshed(const struct kt_tmpl *t);
/* Mark ingress controllers among c->t. */
void kt_rules_mark_ingress(struct kt_rctx *c);

/* Spread helpers (KT103, KT301). */
bool kt_spec_spreads(const struct kt_podspec *sp, const struct kt_kvlist *labels, bool zone);

#endif
