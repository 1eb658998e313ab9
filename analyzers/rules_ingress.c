/*
 * Ingress-controller rules: recognising controllers (IngressClass
 * controller names and labels, the well-known labels of popular
 * controllers and gateways, --ingress-selector) and KT301 (no hostname /
 * zone spread), KT302 (no PodDisruptionBudget), KT303 (fewer than 2
 * replicas), KT304 (live Pods actually co-located). Also the small label
 * selector parser used for --ingress-selector. Pure: no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "analyzers/rules_int.h"

static const struct known {
	const char *key;
	const char *val;         /* NULL: key present */
	const char *what;
} known_labels[] = {
	{"app.kubernetes.io/name", "ingress-nginx", "ingress-nginx"},
	{"app", "ingress-nginx", "ingress-nginx"},
	{"app", "nginx-ingress", "NGINX ingress controller"},
	{"app.kubernetes.io/name", "nginx-ingress", "NGINX Ingress Controller"},
	{"app.kubernetes.io/name", "nginx-ingress-controller", "NGINX ingress controller"},
	{"app.kubernetes.io/name", "rke2-ingress-nginx", "ingress-nginx (RKE2)"},
	{"app.kubernetes.io/name", "traefik", "Traefik"},
	{"app", "traefik", "Traefik"},
	{"app.kubernetes.io/name", "kubernetes-ingress", "HAProxy Kubernetes Ingress"},
	{"app.kubernetes.io/name", "haproxy-ingress", "HAProxy Ingress"},
	{"app.kubernetes.io/name", "contour", "Contour"},
	{"app.kubernetes.io/managed-by", "envoy-gateway", "Envoy Gateway"},
	{"gateway.envoyproxy.io/owning-gateway-name", NULL, "Envoy Gateway"},
	{"istio", "ingressgateway", "Istio ingress gateway"},
	{"app", "istio-ingressgateway", "Istio ingress gateway"},
	{"gateway.istio.io/managed", NULL, "Istio gateway"},
	{"app.kubernetes.io/name", "nginx-gateway-fabric", "NGINX Gateway Fabric"},
	{"app.kubernetes.io/name", "nginx-gateway", "NGINX Gateway Fabric"},
	{"app.kubernetes.io/name", "aws-load-balancer-controller", "AWS Load Balancer Controller"},
	{"app", "ingress-appgw", "Azure Application Gateway Ingress Controller"},
	{"app", "ingress-azure", "Azure Application Gateway Ingress Controller"},
	{"app.kubernetes.io/name", "ingress-azure", "Azure Application Gateway Ingress Controller"},
};

/* IngressClass spec.controller -> family (matched against known_labels' what). */
static const struct {
	const char *prefix;
	const char *what;
} known_ctrl[] = {
	{"k8s.io/ingress-nginx", "ingress-nginx"},
	{"nginx.org/ingress-controller", "NGINX Ingress Controller"},
	{"traefik.io/ingress-controller", "Traefik"},
	{"haproxy.org/ingress-controller", "HAProxy Kubernetes Ingress"},
	{"haproxy-ingress.github.io/controller", "HAProxy Ingress"},
	{"projectcontour.io/", "Contour"},
	{"gateway.envoyproxy.io/", "Envoy Gateway"},
	{"istio.io/", "Istio ingress gateway"},
	{"gateway.nginx.org/", "NGINX Gateway Fabric"},
	{"ingress.k8s.aws/alb", "AWS Load Balancer Controller"},
	{"azure/application-gateway", "Azure Application Gateway Ingress Controller"},
	{"webapprouting.kubernetes.azure.com/", "Azure application routing (NGINX)"},
};

/* Image repositories of controllers, matched against the end of the
 * repository path on a '/' boundary (registry, tag and digest ignored), so
 * that e.g. traefik/whoami or a plain nginx image do not count. */
static const char *images[] = {
	"ingress-nginx/controller", "ingress-nginx/controller-chroot", "nginx-ingress", "nginx-plus-ingress",
	"nginx-ingress-controller", "traefik", "haproxytech/kubernetes-ingress", "haproxy-ingress",
	"nginx-gateway-fabric",
};

static bool image_is(const char *im, const char *repo)
{
	size_t n = strcspn(im, "@");            /* digest */
	const char *slash = memrchr(im, '/', n);
	const char *colon = memchr(slash ? slash : im, ':', n - (size_t)((slash ? slash : im) - im));
	if (colon)
		n = (size_t)(colon - im);       /* tag */
	size_t rl = strlen(repo);
	if (n < rl || memcmp(im + n - rl, repo, rl))
		return false;
	return n == rl || im[n - rl - 1] == '/';
}

/* Components of a controller chart that are not in the traffic path. */
static bool helper_component(const struct kt_kvlist *l)
{
	const char *c = kt_kv_get(l, "app.kubernetes.io/component");
	const char *n = kt_kv_get(l, "app.kubernetes.io/name");
	/* Contour's control plane (component contour) only configures the
	 * Envoy data plane (component envoy), which keeps serving without it */
	if (c && n && !strcmp(n, "contour") && !strcmp(c, "contour"))
		return true;
	return c && (!strcmp(c, "default-backend") || !strcmp(c, "admission-webhook") || !strcmp(c, "webhook") ||
		     !strcmp(c, "certgen") || !strcmp(c, "cainjector") || !strcmp(c, "metrics"));
}

static const char *by_class(const struct kt_rctx *c, const struct kt_tmpl *t)
{
	for (uint32_t i = 0; i < c->s->n_ingress_classes; i++) {
		const struct kt_ingress_class *ic = &c->s->ingress_classes[i];
		/* Charts label the IngressClass like the controller's Pods. */
		const char *n = kt_kv_get(&ic->meta.labels, "app.kubernetes.io/name");
		const char *in = kt_kv_get(&ic->meta.labels, "app.kubernetes.io/instance");
		const char *co = kt_kv_get(&ic->meta.labels, "app.kubernetes.io/component");
		if (n && in) {
			const char *tn = kt_kv_get(t->labels, "app.kubernetes.io/name");
			const char *ti = kt_kv_get(t->labels, "app.kubernetes.io/instance");
			const char *tc = kt_kv_get(t->labels, "app.kubernetes.io/component");
			if (tn && ti && !strcmp(n, tn) && !strcmp(in, ti) && (!co || (tc && !strcmp(co, tc))))
				return kt_arena_printf(c->a, "IngressClass %s, %s", ic->meta.name ? ic->meta.name : "?",
						       ic->controller ? ic->controller : "?");
		}
		if (!ic->controller)
			continue;
		for (size_t k = 0; k < sizeof(known_ctrl) / sizeof(known_ctrl[0]); k++) {
			if (strncmp(ic->controller, known_ctrl[k].prefix, strlen(known_ctrl[k].prefix)))
				continue;
			for (size_t j = 0; j < sizeof(known_labels) / sizeof(known_labels[0]); j++) {
				const struct known *kl = &known_labels[j];
				if (strcmp(kl->what, known_ctrl[k].what))
					continue;
				const char *v = kt_kv_get(t->labels, kl->key);
				if (v && (!kl->val || !strcmp(v, kl->val)))
					return kt_arena_printf(c->a, "IngressClass %s, %s", ic->meta.name ? ic->meta.name : "?",
							       ic->controller);
			}
		}
	}
	return NULL;
}

static const char *recognise(const struct kt_rctx *c, const struct kt_tmpl *t)
{
	if (c->have_isel && kt_selector_match(&c->isel, t->labels))
		return "--ingress-selector";
	if (helper_component(t->labels))
		return NULL;
	const char *why = by_class(c, t);
	if (why)
		return why;
	for (size_t j = 0; j < sizeof(known_labels) / sizeof(known_labels[0]); j++) {
		const struct known *kl = &known_labels[j];
		const char *v = kt_kv_get(t->labels, kl->key);
		if (v && (!kl->val || !strcmp(v, kl->val)))
			return kt_arena_printf(c->a, "%s, label %s%s%s", kl->what, kl->key, kl->val ? "=" : "",
					       kl->val ? kl->val : "");
	}
	if (kt_ns_eq(t->meta->namespace, "app-routing-system") && kt_kv_get(t->labels, "app") &&
	    !strcmp(kt_kv_get(t->labels, "app"), "nginx"))
		return "Azure application routing (NGINX)";
	for (uint32_t i = 0; i < t->spec->n_containers; i++) {
		const char *im = t->spec->containers[i].image;
		if (!im || t->spec->containers[i].init)
			continue;
		for (size_t k = 0; k < sizeof(images) / sizeof(images[0]); k++)
			if (image_is(im, images[k]))
				return kt_arena_printf(c->a, "image %s", im);
	}
	return NULL;
}

void kt_rules_mark_ingress(struct kt_rctx *c)
{
	for (uint32_t i = 0; i < c->n_t; i++) {
		struct kt_tmpl *t = &c->t[i];
		if (t->kind == KT_WL_JOB || t->kind == KT_WL_CRONJOB || t->kind == KT_WL_POD)
			continue;
		t->ingress_why = recognise(c, t);
		t->ingress = t->ingress_why != NULL;
	}
}

static const char *spec_path(struct kt_rctx *c, const struct kt_tmpl *t, const char *field)
{
	return kt_arena_printf(c->a, "%s.%s", t->spec->fpath ? t->spec->fpath : "spec.template.spec", field);
}

static void kt301(struct kt_rctx *c, const struct kt_tmpl *t)
{
	if (t->kind == KT_WL_DAEMONSET || (t->replicas < 2 && t->hpa == KT_NONE))
		return;
	bool host = kt_spec_spreads(t->spec, t->labels, false);
	bool zone = kt_spec_spreads(t->spec, t->labels, true);
	const char *path = spec_path(c, t, t->spec->n_spread ? "topologySpreadConstraints" : "affinity");
	if (!host)
		kt_radd(c, KT_R_KT301, t->meta, path,
			"ingress controller (%s) has no hostname spread (topologySpreadConstraints or required pod anti-affinity on kubernetes.io/hostname): replicas can land on one node",
			t->ingress_why);
	if (!zone)
		kt_radd(c, KT_R_KT301, t->meta, path,
			"ingress controller (%s) has no zone spread (topologySpreadConstraints on topology.kubernetes.io/zone): one zone outage can take out every replica",
			t->ingress_why);
}

static void kt302(struct kt_rctx *c, const struct kt_tmpl *t)
{
	if (t->kind == KT_WL_DAEMONSET)
		return;
	for (uint32_t i = 0; i < c->s->n_pdbs; i++) {
		const struct kt_pdb *p = &c->s->pdbs[i];
		if (kt_ns_eq(p->meta.namespace, t->meta->namespace) && kt_selector_match(&p->selector, t->labels))
			return;
	}
	kt_radd(c, KT_R_KT302, t->meta, NULL,
		"no PodDisruptionBudget selects ingress controller (%s): a node drain or cluster upgrade may evict all its replicas at once",
		t->ingress_why);
}

static void kt303(struct kt_rctx *c, const struct kt_tmpl *t)
{
	if (t->kind == KT_WL_DAEMONSET || t->replicas >= 2)
		return;
	kt_radd(c, KT_R_KT303, t->meta, t->hpa != KT_NONE ? NULL : "spec.replicas",
		"ingress controller (%s) runs %d replica%s%s: a restart or node failure stops all ingress traffic",
		t->ingress_why, t->replicas, t->replicas == 1 ? "" : "s",
		t->hpa != KT_NONE ? " (HPA minReplicas)" : (t->replicas_set ? "" : " (default)"));
}

static void kt304(struct kt_rctx *c, const struct kt_tmpl *t)
{
	const struct kt_snapshot *s = c->s;
	if (!c->live || t->wl == KT_NONE || t->kind == KT_WL_DAEMONSET)
		return;
	uint32_t n = 0, cap = 16;
	const char *zone = NULL;
	bool one_zone = true;
	const struct kt_pod **mine = KT_ANEW(c->a, const struct kt_pod *, cap);
	for (uint32_t i = 0; i < s->n_pods; i++) {
		const struct kt_pod *p = &s->pods[i];
		if (p->workload != t->wl || !kt_pod_alive(p) || !p->spec.node_name)
			continue;
		const char *z = p->node_ix != KT_NONE ? s->nodes[p->node_ix].zone : NULL;
		if (!z || (zone && strcmp(zone, z)))
			one_zone = false;
		if (!zone)
			zone = z;
		for (uint32_t j = 0; j < n; j++) {
			const struct kt_pod *q = mine[j];
			if (strcmp(q->spec.node_name, p->spec.node_name))
				continue;
			kt_radd(c, KT_R_KT304, t->meta, NULL,
				"ingress controller Pods %s and %s both run on node %s: losing that node takes out both",
				q->meta.name ? q->meta.name : "?", p->meta.name ? p->meta.name : "?", p->spec.node_name);
			return;
		}
		if (n == cap) {
			const struct kt_pod **nm = KT_ANEW(c->a, const struct kt_pod *, cap * 2);
			memcpy(nm, mine, cap * sizeof(*nm));
			mine = nm;
			cap *= 2;
		}
		mine[n++] = p;
	}
	if (n < 2 || !one_zone || !zone)
		return;
	bool zones = false;
	for (uint32_t i = 0; i < s->n_nodes && !zones; i++)
		zones = s->nodes[i].zone && strcmp(s->nodes[i].zone, zone);
	if (zones)
		kt_radd(c, KT_R_KT304, t->meta, NULL,
			"all %u ingress controller Pods run in zone %s although the cluster spans several zones", n, zone);
}

void kt_rules_ingress(struct kt_rctx *c)
{
	for (uint32_t i = 0; i < c->n_t; i++) {
		const struct kt_tmpl *t = &c->t[i];
		if (!t->ingress || !kt_tmpl_in_scope(c, t))
			continue;
		kt301(c, t);
		kt302(c, t);
		kt303(c, t);
		kt304(c, t);
	}
}
