/*
 * Internal to analyzers/: ingress controllers and gateways. The families
 * ktrace knows (ingress-nginx, NGINX Ingress Controller, Kong, Traefik,
 * HAProxy, Contour, Envoy Gateway, Istio, Emissary, NGINX Gateway Fabric,
 * cloud controllers) plus those .ktrace.yaml adds; how to recognise their
 * data-plane Pods (IngressClass/GatewayClass controller names, well-known
 * images and labels) and how each balances to backends. Used by the rules
 * (KT301-KT309) and the ingress path (analyzers/ingress_path.c).
 */
#ifndef KT_ANALYZERS_INGRESS_INT_H
#define KT_ANALYZERS_INGRESS_INT_H

#include <stdbool.h>

#include "ktrace/model.h"
#include "ktrace/ruleconf.h"

struct kt_ilabel {
	const char *key;
	const char *val;         /* NULL: the key is present */
};

struct kt_ictrl {
	const char *name;                /* "ingress-nginx", "Kong", ... */
	const char *const *controllers;  /* controllerName prefixes, NULL-terminated */
	const char *const *images;       /* data-plane image repositories (regular containers) */
	const char *companion;           /* an image match also needs this image in the Pod
					    (a generic proxy image such as Envoy's) */
	const struct kt_ilabel *labels;  /* data-plane Pod labels, {NULL} ended */
	/* balancing to backends: per request over Pod IPs unless via_cluster_ip
	 * (then the dataplane balances its connections) */
	bool via_cluster_ip;             /* by default (Emissary's Service resolver) */
	const char *cluster_ip_ingress_ann; /* Ingress annotation "true": via the ClusterIP */
	const char *cluster_ip_service_ann; /* backend Service annotation "true": the same */
	bool config_client_ip;           /* reads kt_ctrl_config_keys from its ConfigMap */
	bool outside;                    /* the proxy is outside the cluster (cloud L7 LB) */
	const struct kt_rules_ictrl *user; /* from .ktrace.yaml */
};

/* The families: built in, then the config's (arena). */
struct kt_ictrls {
	const struct kt_ictrl **v;
	unsigned n;
};
void kt_ictrls_init(struct kt_ictrls *set, const struct kt_rules_config *cfg, struct kt_arena *a);

/* The family an IngressClass or GatewayClass controllerName belongs to. */
const struct kt_ictrl *kt_ictrl_by_controller(const struct kt_ictrls *set, const char *controller);

/* Is this pod template (labels, template annotations, spec) the data plane
 * of a controller? Returns the family (NULL when not) and *why, what
 * recognised it (arena). Helper components (admission webhooks, default
 * backends, control planes that only configure the proxies) are not. */
const struct kt_ictrl *kt_ictrl_recognise(const struct kt_ictrls *set, const struct kt_snapshot *s,
					  const struct kt_meta *owner, const struct kt_kvlist *labels,
					  const struct kt_kvlist *tann, const struct kt_podspec *spec,
					  struct kt_arena *a, const char **why);

/* Does the template match family f by its labels (strong) or only by its
 * image (weak)? 2 labels, 1 image, 0 no. */
int kt_ictrl_match(const struct kt_ictrl *f, const struct kt_kvlist *labels, const struct kt_podspec *spec);

/* Does an IngressClass/GatewayClass carry the chart labels of these Pod
 * labels (app.kubernetes.io/name, instance and component)? */
bool kt_ictrl_class_labels(const struct kt_meta *class_meta, const struct kt_kvlist *labels);

/* Image reference ends with repository repo on a '/' boundary (registry,
 * tag and digest ignored). */
bool kt_image_is(const char *image, const char *repo);

/* The IngressClass an Ingress uses (spec.ingressClassName, the legacy
 * annotation, else the default class); KT_NONE when none. */
uint32_t kt_ingress_class_of(const struct kt_snapshot *s, const struct kt_ingress *ig);

#endif
