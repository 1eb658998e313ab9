/*
 * Ingress controllers and gateways: the families ktrace knows and how to
 * recognise their data-plane Pods. A template is a controller when an
 * IngressClass (or GatewayClass) of a known controller name carries its
 * chart labels, when it has a family's well-known labels, or when it runs
 * a family's proxy image; .ktrace.yaml `ingressControllers` adds families.
 * Each family says how it reaches its backends (Pod IPs per request, or
 * the ClusterIP, by default or by annotation) and whether its ConfigMap
 * decides what happens to the client address. Facts are from each
 * project's documentation. Pure: no I/O.
 */
#include <string.h>

#include "analyzers/ingress_int.h"

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define LABELS(...) ((const struct kt_ilabel[]){__VA_ARGS__, {NULL, NULL}})

static const struct kt_ictrl builtin[] = {
	{.name = "ingress-nginx",
	 .controllers = LIST("k8s.io/ingress-nginx"),
	 .images = LIST("ingress-nginx/controller", "ingress-nginx/controller-chroot", "nginx-ingress-controller"),
	 .labels = LABELS({"app.kubernetes.io/name", "ingress-nginx"}, {"app", "ingress-nginx"},
			  {"app.kubernetes.io/name", "rke2-ingress-nginx"},
			  {"app.kubernetes.io/name", "nginx-ingress-controller"}),
	 .cluster_ip_ingress_ann = "nginx.ingress.kubernetes.io/service-upstream",
	 .config_client_ip = true},
	{.name = "NGINX Ingress Controller",
	 .controllers = LIST("nginx.org/ingress-controller"),
	 .images = LIST("nginx/nginx-ingress", "nginx-ingress", "nginx-plus-ingress"),
	 .labels = LABELS({"app", "nginx-ingress"}, {"app.kubernetes.io/name", "nginx-ingress"}),
	 .cluster_ip_ingress_ann = "nginx.org/use-cluster-ip"},
	{.name = "Kong",
	 .controllers = LIST("ingress-controllers.konghq.com/", "konghq.com/"),
	 .images = LIST("kong", "kong/kong-gateway", "kong-gateway"),
	 .labels = LABELS({"app.kubernetes.io/name", "kong"}),
	 .cluster_ip_service_ann = "ingress.kubernetes.io/service-upstream"},
	{.name = "Traefik",
	 .controllers = LIST("traefik.io/"),
	 .images = LIST("traefik"),
	 .labels = LABELS({"app.kubernetes.io/name", "traefik"}, {"app", "traefik"}),
	 .cluster_ip_service_ann = "traefik.ingress.kubernetes.io/service.nativelb"},
	{.name = "HAProxy Kubernetes Ingress",
	 .controllers = LIST("haproxy.org/ingress-controller"),
	 .images = LIST("haproxytech/kubernetes-ingress"),
	 .labels = LABELS({"app.kubernetes.io/name", "kubernetes-ingress"}),
	 .config_client_ip = true},
	{.name = "HAProxy Ingress",
	 .controllers = LIST("haproxy-ingress.github.io/controller"),
	 .images = LIST("haproxy-ingress"),
	 .labels = LABELS({"app.kubernetes.io/name", "haproxy-ingress"}),
	 .config_client_ip = true},
	{.name = "Contour",
	 .controllers = LIST("projectcontour.io/"),
	 .images = LIST("envoyproxy/envoy", "envoyproxy/envoy-distroless"),
	 .companion = "projectcontour/contour", /* its shutdown manager; Envoy alone is often a sidecar */
	 .labels = LABELS({"app.kubernetes.io/name", "contour"})},
	{.name = "Envoy Gateway",
	 .controllers = LIST("gateway.envoyproxy.io/"),
	 .labels = LABELS({"app.kubernetes.io/managed-by", "envoy-gateway"},
			  {"gateway.envoyproxy.io/owning-gateway-name", NULL})},
	{.name = "Istio gateway",
	 .controllers = LIST("istio.io/"),
	 .images = LIST("istio/proxyv2"),
	 .labels = LABELS({"istio", "ingressgateway"}, {"app", "istio-ingressgateway"}, {"gateway.istio.io/managed", NULL},
			  {"istio.io/gateway-name", NULL})},
	{.name = "Emissary-ingress",
	 .controllers = LIST("getambassador.io/"),
	 .images = LIST("emissaryingress/emissary", "datawire/emissary", "datawire/ambassador"),
	 .labels = LABELS({"app.kubernetes.io/name", "emissary-ingress"}, {"product", "aes"}),
	 .via_cluster_ip = true},
	{.name = "NGINX Gateway Fabric",
	 .controllers = LIST("gateway.nginx.org/"),
	 .images = LIST("nginx-gateway-fabric", "nginx-gateway-fabric/nginx"),
	 .labels = LABELS({"app.kubernetes.io/name", "nginx-gateway-fabric"}, {"app.kubernetes.io/name", "nginx-gateway"})},
	{.name = "AWS Load Balancer Controller",
	 .controllers = LIST("ingress.k8s.aws/alb", "gateway.k8s.aws/"),
	 .images = LIST("eks/aws-load-balancer-controller"),
	 .labels = LABELS({"app.kubernetes.io/name", "aws-load-balancer-controller"}),
	 .outside = true},
	{.name = "Azure Application Gateway Ingress Controller",
	 .controllers = LIST("azure/application-gateway"),
	 .images = LIST("azure-application-gateway/kubernetes-ingress"),
	 .labels = LABELS({"app", "ingress-appgw"}, {"app", "ingress-azure"}, {"app.kubernetes.io/name", "ingress-azure"}),
	 .outside = true},
	{.name = "Azure application routing (NGINX)",
	 .controllers = LIST("webapprouting.kubernetes.azure.com/"),
	 .images = LIST("oss/kubernetes/ingress/nginx-ingress-controller"),
	 .labels = LABELS({"app.kubernetes.io/component", "ingress-controller"}),
	 .cluster_ip_ingress_ann = "nginx.ingress.kubernetes.io/service-upstream",
	 .config_client_ip = true},
};

/* A controller recognised from its IngressClass labels alone. */
static const struct kt_ictrl unknown = {.name = "ingress controller"};

static bool ns_is(const char *ns, const char *want)
{
	return !strcmp(ns && *ns ? ns : "default", want);
}

void kt_ictrls_init(struct kt_ictrls *set, const struct kt_rules_config *cfg, struct kt_arena *a)
{
	unsigned nb = sizeof(builtin) / sizeof(builtin[0]);
	unsigned nu = cfg ? cfg->n_ictrls : 0;
	set->v = KT_ANEW(a, const struct kt_ictrl *, nb + nu + 1);
	set->n = 0;
	/* the user's first: they may claim what a built-in pattern would */
	for (unsigned i = 0; i < nu; i++) {
		const struct kt_rules_ictrl *u = &cfg->ictrls[i];
		struct kt_ictrl *f = KT_ANEW(a, struct kt_ictrl, 1);
		f->name = u->name;
		f->user = u;
		if (u->controller) {
			const char **c = KT_ANEW(a, const char *, 2);
			c[0] = u->controller;
			f->controllers = c;
		}
		if (u->image) {
			const char **im = KT_ANEW(a, const char *, 2);
			im[0] = u->image;
			f->images = im;
		}
		set->v[set->n++] = f;
	}
	for (unsigned i = 0; i < nb; i++)
		set->v[set->n++] = &builtin[i];
}

const struct kt_ictrl *kt_ictrl_by_controller(const struct kt_ictrls *set, const char *controller)
{
	if (!controller)
		return NULL;
	for (unsigned i = 0; i < set->n; i++)
		for (const char *const *p = set->v[i]->controllers; p && *p; p++)
			if (!strncmp(controller, *p, strlen(*p)))
				return set->v[i];
	return NULL;
}

/* The length of an image reference without its digest and tag. */
static size_t image_repo_len(const char *im)
{
	size_t n = strcspn(im, "@"); /* digest */
	const char *slash = memrchr(im, '/', n);
	const char *from = slash ? slash : im;
	const char *colon = memchr(from, ':', n - (size_t)(from - im));
	return colon ? (size_t)(colon - im) : n; /* tag */
}

/* Is im's repository part (n bytes) repo, or a registry path ending in
 * /repo? */
static bool repo_is(const char *im, size_t n, const char *repo)
{
	size_t rl = strlen(repo);
	if (n < rl || memcmp(im + n - rl, repo, rl))
		return false;
	return n == rl || im[n - rl - 1] == '/';
}

bool kt_image_is(const char *im, const char *repo)
{
	return im && repo && repo_is(im, image_repo_len(im), repo);
}

static bool label_hit(const struct kt_kvlist *l, const struct kt_ilabel *x)
{
	const char *v = kt_kv_get(l, x->key);
	return v && (!x->val || !strcmp(v, x->val));
}

static bool has_image(const struct kt_podspec *spec, const char *repo)
{
	for (uint32_t i = 0; i < spec->n_containers; i++)
		if (kt_image_is(spec->containers[i].image, repo))
			return true;
	return false;
}

/* The family's image in one of the template's regular containers (init
 * containers, native sidecars included, are helpers next to the main
 * application, never its proxy data plane). */
static const char *image_hit(const struct kt_ictrl *f, const struct kt_podspec *spec)
{
	if (f->companion && !has_image(spec, f->companion))
		return NULL;
	/* (every workload is asked about every family: the hot loop of the
	 * ingress rules on a big manifest tree) */
	bool istio_gw = f->name && !strcmp(f->name, "Istio gateway");
	for (uint32_t i = 0; f->images && i < spec->n_containers; i++) {
		const struct kt_container *ct = &spec->containers[i];
		if (ct->init || !ct->image)
			continue;
		/* an Istio sidecar is not a gateway */
		if (istio_gw && ct->name && (!strcmp(ct->name, "istio-proxy") || !strcmp(ct->name, "linkerd-proxy")))
			continue;
		size_t n = image_repo_len(ct->image);
		for (const char *const *p = f->images; *p; p++)
			if (repo_is(ct->image, n, *p))
				return ct->image;
	}
	return NULL;
}

int kt_ictrl_match(const struct kt_ictrl *f, const struct kt_kvlist *labels, const struct kt_podspec *spec)
{
	if (f->user && f->user->labels.n) {
		if (kt_labels_match_map(&f->user->labels, labels))
			return 2;
	}
	for (const struct kt_ilabel *x = f->labels; x && x->key; x++)
		if (label_hit(labels, x))
			return 2;
	return image_hit(f, spec) ? 1 : 0;
}

/* Components of a controller chart that are not in the traffic path. */
static bool helper_component(const struct kt_kvlist *l, const struct kt_podspec *spec)
{
	const char *c = kt_kv_get(l, "app.kubernetes.io/component");
	const char *n = kt_kv_get(l, "app.kubernetes.io/name");
	/* Contour's control plane (component contour) only configures the
	 * Envoy data plane (component envoy), which keeps serving without it */
	if (c && n && !strcmp(n, "contour") && !strcmp(c, "contour"))
		return true;
	if (c && (!strcmp(c, "default-backend") || !strcmp(c, "admission-webhook") || !strcmp(c, "webhook") ||
		  !strcmp(c, "certgen") || !strcmp(c, "cainjector") || !strcmp(c, "metrics")))
		return true;
	/* a controller that only programs proxies running elsewhere: Kong's
	 * ingress controller without the proxy, the Envoy Gateway and Istio
	 * control planes, Contour */
	bool ctl_only = spec->n_containers > 0;
	for (uint32_t i = 0; i < spec->n_containers && ctl_only; i++) {
		const char *im = spec->containers[i].image;
		if (spec->containers[i].init && !spec->containers[i].sidecar)
			continue;
		ctl_only = kt_image_is(im, "kong/kubernetes-ingress-controller") ||
			   kt_image_is(im, "kubernetes-ingress-controller") || kt_image_is(im, "envoyproxy/gateway") ||
			   kt_image_is(im, "istio/pilot") || kt_image_is(im, "projectcontour/contour");
	}
	return ctl_only;
}

/* Charts label the IngressClass like the controller's Pods. */
bool kt_ictrl_class_labels(const struct kt_meta *cm, const struct kt_kvlist *l)
{
	const char *n = kt_kv_get(&cm->labels, "app.kubernetes.io/name");
	const char *in = kt_kv_get(&cm->labels, "app.kubernetes.io/instance");
	const char *co = kt_kv_get(&cm->labels, "app.kubernetes.io/component");
	if (!n || !in)
		return false;
	const char *tn = kt_kv_get(l, "app.kubernetes.io/name");
	const char *ti = kt_kv_get(l, "app.kubernetes.io/instance");
	const char *tc = kt_kv_get(l, "app.kubernetes.io/component");
	return tn && ti && !strcmp(n, tn) && !strcmp(in, ti) && (!co || (tc && !strcmp(co, tc)));
}

static const struct kt_ictrl *by_class(const struct kt_ictrls *set, const struct kt_snapshot *s,
				       const struct kt_kvlist *l, const struct kt_podspec *spec, struct kt_arena *a,
				       const char **why)
{
	for (uint32_t i = 0; i < s->n_ingress_classes + s->n_gateway_classes; i++) {
		bool ic = i < s->n_ingress_classes;
		const struct kt_meta *m = ic ? &s->ingress_classes[i].meta : &s->gateway_classes[i - s->n_ingress_classes].meta;
		const char *ctrl = ic ? s->ingress_classes[i].controller : s->gateway_classes[i - s->n_ingress_classes].controller;
		const struct kt_ictrl *f = kt_ictrl_by_controller(set, ctrl);
		if (kt_ictrl_class_labels(m, l) || (f && kt_ictrl_match(f, l, spec) == 2)) {
			*why = kt_arena_printf(a, "%s %s, %s", ic ? "IngressClass" : "GatewayClass", m->name ? m->name : "?",
					       ctrl ? ctrl : "?");
			return f ? f : &unknown;
		}
	}
	return NULL;
}

const struct kt_ictrl *kt_ictrl_recognise(const struct kt_ictrls *set, const struct kt_snapshot *s,
					  const struct kt_meta *owner, const struct kt_kvlist *labels,
					  const struct kt_kvlist *tann, const struct kt_podspec *spec,
					  struct kt_arena *a, const char **why)
{
	*why = NULL;
	if (!labels || helper_component(labels, spec))
		return NULL;
	const struct kt_ictrl *f = by_class(set, s, labels, spec, a, why);
	if (f)
		return f;
	for (unsigned i = 0; i < set->n; i++) {
		f = set->v[i];
		if (f->user && f->user->labels.n && kt_labels_match_map(&f->user->labels, labels)) {
			*why = kt_arena_printf(a, "%s, labels from .ktrace.yaml", f->name);
			return f;
		}
		for (const struct kt_ilabel *x = f->labels; x && x->key; x++)
			if (label_hit(labels, x)) {
				*why = kt_arena_printf(a, "%s, label %s%s%s", f->name, x->key, x->val ? "=" : "",
						       x->val ? x->val : "");
				return f;
			}
	}
	/* Istio gateway templates leave the proxy to the injector */
	const char *tpl = tann ? kt_kv_get(tann, "inject.istio.io/templates") : NULL;
	if (tpl && strstr(tpl, "gateway")) {
		*why = "Istio gateway, annotation inject.istio.io/templates";
		for (unsigned i = 0; i < set->n; i++)
			if (!strcmp(set->v[i]->name, "Istio gateway"))
				return set->v[i];
	}
	if (ns_is(owner->namespace, "app-routing-system") && kt_kv_get(labels, "app") &&
	    !strcmp(kt_kv_get(labels, "app"), "nginx")) {
		*why = "Azure application routing (NGINX), namespace app-routing-system";
		for (unsigned i = 0; i < set->n; i++)
			if (!strcmp(set->v[i]->name, "Azure application routing (NGINX)"))
				return set->v[i];
	}
	for (unsigned i = 0; i < set->n; i++) {
		const char *im = image_hit(set->v[i], spec);
		if (im) {
			*why = kt_arena_printf(a, "%s, image %s", set->v[i]->name, im);
			return set->v[i];
		}
	}
	return NULL;
}

uint32_t kt_ingress_class_of(const struct kt_snapshot *s, const struct kt_ingress *ig)
{
	if (ig->class_name)
		return kt_find_ingress_class(s, ig->class_name);
	for (uint32_t i = 0; i < s->n_ingress_classes; i++)
		if (s->ingress_classes[i].is_default)
			return i;
	return KT_NONE;
}
