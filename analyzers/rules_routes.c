/*
 * The ingress layer: which controller serves an Ingress or a Gateway API
 * route (its class, the controller's data-plane templates and Services),
 * how it reaches the backends (per request to Pod IPs, or through the
 * ClusterIP), whether the client address survives, and the rules of the
 * layer: KT305 (backend Service missing), KT306 (backend port missing),
 * KT307 (client-address features behind a SNATing controller Service),
 * KT308 (no Gateway, listener or IngressClass to attach to), KT309 (the
 * controller balances connections through the ClusterIP). The resolution
 * also feeds `ktrace path` (analyzers/ingress_path.c). Absence is not
 * evidence: what the input does not hold is a gap, not a finding. Pure.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "analyzers/rules_int.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

/* ---- lookups ---------------------------------------------------------- */

static bool dflt(const char *ns)
{
	return !ns || !*ns || !strcmp(ns, "default");
}

/* A Service by namespace and name; manifests without metadata.namespace
 * are in "default". */
uint32_t kt_iref_service(const struct kt_snapshot *s, const char *ns, const char *name)
{
	uint32_t i = kt_find_service(s, ns, name);
	if (i == KT_NONE && dflt(ns)) {
		i = kt_find_service(s, NULL, name);
		if (i == KT_NONE)
			i = kt_find_service(s, "default", name);
		if (i == KT_NONE)
			i = kt_find_service(s, "", name);
	}
	return i;
}

static bool ns_has_services_1(const struct kt_snapshot *s, const char *ns)
{
	uint32_t lo = 0, hi = s->n_services;
	while (lo < hi) { /* first Service with namespace >= ns */
		uint32_t mid = lo + (hi - lo) / 2;
		if (kt_strcmp0(s->services[mid].meta.namespace, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n_services && !kt_strcmp0(s->services[lo].meta.namespace, ns);
}

/* Does the input say which Services namespace ns has? */
static bool services_known(const struct kt_rctx *c, const char *ns)
{
	if (c->s->listed & KT_LISTED_SERVICES)
		return true;
	if (dflt(ns))
		return ns_has_services_1(c->s, NULL) || ns_has_services_1(c->s, "") ||
		       ns_has_services_1(c->s, "default");
	return ns_has_services_1(c->s, ns);
}

static const char *ns_name(const char *ns)
{
	return ns && *ns ? ns : "default";
}

/* A name close to want, a likely typo: one edit (two for names longer
 * than 6). A prefix is no typo: "nginx" and "nginx-internal" are both
 * common class names. */
static bool near_name(const char *a, const char *want)
{
	if (!a || !want || !strcmp(a, want))
		return false;
	return kt_edit_distance(a, want) <= (strlen(want) > 6 ? 2u : 1u);
}

/* A Service in ns whose name is close to name, for manifests: a missing
 * backend is only evidence of a mistake when it looks like a typo. */
static const char *near_service(const struct kt_snapshot *s, const char *ns, const char *name)
{
	for (uint32_t i = 0; i < s->n_services; i++)
		if (kt_ns_eq(s->services[i].meta.namespace, ns) && near_name(s->services[i].meta.name, name))
			return s->services[i].meta.name;
	return NULL;
}

/* ---- which controller serves it ------------------------------------------ */

static void add_ix(struct kt_arena *a, uint32_t **v, uint32_t *n, uint32_t x)
{
	for (uint32_t i = 0; i < *n; i++)
		if ((*v)[i] == x)
			return;
	uint32_t *nv = KT_ANEW(a, uint32_t, *n + 1);
	if (*n)
		memcpy(nv, *v, *n * sizeof(*nv));
	nv[(*n)++] = x;
	*v = nv;
}

static int svc_rank(const struct kt_service *sv)
{
	switch (sv->type) {
	case KT_SVC_LOADBALANCER: return 0;
	case KT_SVC_NODEPORT: return 1;
	default: return sv->headless ? 3 : 2;
	}
}

/* The Services that select the templates of r, LoadBalancer first. */
static void iref_services(struct kt_rctx *c, struct kt_iref *r)
{
	for (uint32_t i = 0; i < r->n_tmpl; i++) {
		uint32_t n;
		const uint32_t *row = KT_ROW(c, ts, r->tmpl[i], n);
		for (uint32_t k = 0; k < n; k++)
			add_ix(c->a, &r->svc, &r->n_svc, row[k]);
	}
	for (uint32_t i = 1; i < r->n_svc; i++) /* insertion sort: few */
		for (uint32_t j = i; j > 0 && svc_rank(&c->s->services[r->svc[j]]) <
						svc_rank(&c->s->services[r->svc[j - 1]]);
		     j--) {
			uint32_t t = r->svc[j];
			r->svc[j] = r->svc[j - 1];
			r->svc[j - 1] = t;
		}
}

/* Templates of family f, preferring those the class's own labels name. */
static void iref_templates(struct kt_rctx *c, struct kt_iref *r, const struct kt_meta *class_meta)
{
	for (uint32_t i = 0; class_meta && i < c->n_t; i++)
		if (c->t[i].ingress && kt_ictrl_class_labels(class_meta, c->t[i].labels))
			add_ix(c->a, &r->tmpl, &r->n_tmpl, i);
	for (uint32_t i = 0; !r->n_tmpl && r->family && i < c->n_t; i++)
		if (c->t[i].ingress && c->t[i].ictrl == r->family)
			add_ix(c->a, &r->tmpl, &r->n_tmpl, i);
}

void kt_iref_ingress(struct kt_rctx *c, const struct kt_ingress *ig, struct kt_iref *r)
{
	memset(r, 0, sizeof(*r));
	r->klass = r->gateway = KT_NONE;
	r->class_kind = "IngressClass";
	r->class_name = ig->class_name;
	uint32_t k = kt_ingress_class_of(c->s, ig);
	const struct kt_meta *cm = NULL;
	if (k != KT_NONE) {
		const struct kt_ingress_class *ic = &c->s->ingress_classes[k];
		r->klass = k;
		r->class_name = ic->meta.name;
		r->controller = ic->controller;
		r->family = kt_ictrl_by_controller(&c->ictrls, ic->controller);
		cm = &ic->meta;
	} else if (ig->class_from_annotation && ig->class_name) {
		/* the legacy annotation names a controller's class by
		 * convention: "nginx", "traefik", "kong", "haproxy" */
		static const struct {
			const char *cls, *family;
		} legacy[] = {{"nginx", "ingress-nginx"}, {"traefik", "Traefik"}, {"kong", "Kong"},
			      {"haproxy", "HAProxy Kubernetes Ingress"}, {"contour", "Contour"},
			      {"ambassador", "Emissary-ingress"}, {"istio", "Istio gateway"}};
		for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
			if (!strcmp(ig->class_name, legacy[i].cls))
				for (unsigned j = 0; j < c->ictrls.n; j++)
					if (!strcmp(c->ictrls.v[j]->name, legacy[i].family))
						r->family = c->ictrls.v[j];
	}
	iref_templates(c, r, cm);
	iref_services(c, r);
}

/* Services a Gateway's implementation created for it, by the labels
 * implementations put on them (the Gateway API's own, Istio's, Envoy
 * Gateway's). */
static void gateway_services(struct kt_rctx *c, const struct kt_gateway *gw, struct kt_iref *r)
{
	static const char *const keys[] = {"gateway.networking.k8s.io/gateway-name", "istio.io/gateway-name",
					   "gateway.envoyproxy.io/owning-gateway-name", NULL};
	for (uint32_t i = 0; i < c->s->n_services; i++) {
		const struct kt_service *sv = &c->s->services[i];
		for (const char *const *k = keys; *k; k++) {
			const char *v = kt_kv_get(&sv->meta.labels, *k);
			if (!v || kt_strcmp0(v, gw->meta.name))
				continue;
			const char *gns = kt_kv_get(&sv->meta.labels, "gateway.envoyproxy.io/owning-gateway-namespace");
			if (gns ? kt_ns_eq(gns, gw->meta.namespace) : kt_ns_eq(sv->meta.namespace, gw->meta.namespace))
				add_ix(c->a, &r->svc, &r->n_svc, i);
		}
	}
	/* and the templates those Services select */
	for (uint32_t i = 0; i < r->n_svc; i++) {
		uint32_t n;
		const uint32_t *row = KT_ROW(c, st, r->svc[i], n);
		for (uint32_t k = 0; k < n; k++)
			add_ix(c->a, &r->tmpl, &r->n_tmpl, row[k]);
	}
}

void kt_iref_route(struct kt_rctx *c, const struct kt_route *rt, struct kt_iref *r)
{
	memset(r, 0, sizeof(*r));
	r->klass = r->gateway = KT_NONE;
	r->class_kind = "GatewayClass";
	for (uint32_t i = 0; i < rt->n_parents && r->gateway == KT_NONE; i++)
		r->gateway = rt->parents[i].gateway;
	if (r->gateway == KT_NONE)
		return;
	const struct kt_gateway *gw = &c->s->gateways[r->gateway];
	r->class_name = gw->class_name;
	if (gw->gw_class != KT_NONE) {
		const struct kt_gw_class *gc = &c->s->gateway_classes[gw->gw_class];
		r->klass = gw->gw_class;
		r->controller = gc->controller;
		r->family = kt_ictrl_by_controller(&c->ictrls, gc->controller);
	}
	gateway_services(c, gw, r);
	if (!r->n_svc) { /* a shared data plane: the family's templates */
		const struct kt_meta *cm = gw->gw_class != KT_NONE ? &c->s->gateway_classes[gw->gw_class].meta : NULL;
		iref_templates(c, r, cm);
		iref_services(c, r);
	}
}

/* ---- how it balances and what happens to the client address ------------ */

static bool ann_true(const struct kt_kvlist *l, const char *k)
{
	const char *v = k ? kt_kv_get(l, k) : NULL;
	return v && !strcasecmp(v, "true");
}

const char *kt_iref_via_cluster_ip(struct kt_rctx *c, const struct kt_iref *r, const struct kt_kvlist *obj_ann,
				   const struct kt_service *backend)
{
	const struct kt_ictrl *f = r->family;
	if (!f || f->outside)
		return NULL;
	for (uint32_t i = 0; i < r->n_tmpl; i++)
		if (kt_tmpl_meshed(&c->t[r->tmpl[i]]))
			return NULL; /* the controller's mesh proxy balances per request */
	if (obj_ann && ann_true(obj_ann, f->cluster_ip_ingress_ann))
		return kt_arena_printf(c->a, "annotation %s: \"true\"", f->cluster_ip_ingress_ann);
	if (backend && ann_true(&backend->meta.annotations, f->cluster_ip_service_ann))
		return kt_arena_printf(c->a, "Service annotation %s: \"true\"", f->cluster_ip_service_ann);
	if (f->via_cluster_ip)
		return kt_arena_printf(c->a, "%s resolves Services by name (its default)", f->name);
	return NULL;
}

/* Load balancer annotations that turn on PROXY protocol towards the nodes. */
static const char *lb_proxy_protocol(const struct kt_service *sv)
{
	static const char *const keys[] = {
		"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol",
		"service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol",
		"load-balancer.hetzner.cloud/uses-proxyprotocol",
		"service.beta.kubernetes.io/linode-loadbalancer-proxy-protocol",
		"service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v2",
		"service.beta.kubernetes.io/azure-pls-proxy-protocol",
		NULL,
	};
	for (const char *const *k = keys; *k; k++) {
		const char *v = kt_kv_get(&sv->meta.annotations, *k);
		if (v && *v && strcasecmp(v, "false") && strcasecmp(v, "none") && strcmp(v, "0"))
			return *k;
	}
	return NULL;
}

/* The controller's ConfigMap settings (ingress-nginx, HAProxy): the one in
 * the namespace of its templates. */
static const struct kt_configmap *ctrl_config(struct kt_rctx *c, const struct kt_iref *r)
{
	for (uint32_t i = 0; i < c->s->n_configmaps; i++) {
		const struct kt_configmap *m = &c->s->configmaps[i];
		for (uint32_t j = 0; j < r->n_tmpl; j++)
			if (kt_ns_eq(m->meta.namespace, c->t[r->tmpl[j]].meta->namespace))
				return m;
	}
	return NULL;
}

enum kt_cip kt_iref_client_ip(struct kt_rctx *c, const struct kt_iref *r, const char **why)
{
	*why = NULL;
	if (!r->family || r->family->outside)
		return KT_CIP_UNKNOWN;
	const struct kt_service *sv = NULL;
	for (uint32_t i = 0; i < r->n_svc && !sv; i++)
		if (svc_rank(&c->s->services[r->svc[i]]) <= 1)
			sv = &c->s->services[r->svc[i]];
	if (!sv) {
		*why = r->n_tmpl ? "no LoadBalancer or NodePort Service selects the controller in the input"
				 : "the controller is not in the input";
		return KT_CIP_UNKNOWN;
	}
	const char *name = sv->meta.name ? sv->meta.name : "?";
	const struct kt_configmap *cm = ctrl_config(c, r);
	const char *pp = cm ? kt_kv_get(&cm->data, "use-proxy-protocol") : NULL;
	if (!pp && cm)
		pp = kt_kv_get(&cm->data, "proxy-protocol"); /* HAProxy: source CIDRs */
	const char *lbpp = lb_proxy_protocol(sv);
	if (lbpp && pp && strcasecmp(pp, "false")) {
		*why = kt_arena_printf(c->a, "the load balancer sends PROXY protocol (%s) and the controller reads it (ConfigMap %s: %s)",
				       lbpp, cm->meta.name ? cm->meta.name : "?", pp);
		return KT_CIP_KEPT;
	}
	if (sv->etp_local) {
		*why = kt_arena_printf(c->a, "Service %s uses externalTrafficPolicy: Local: no SNAT on the way to the controller",
				       name);
		return KT_CIP_KEPT;
	}
	const char *pods = kt_lb_targets_pods(c, sv);
	if (pods) {
		*why = kt_arena_printf(c->a, "the load balancer targets the controller Pods directly (%s)", pods);
		return KT_CIP_UNKNOWN;
	}
	if (lbpp) {
		*why = kt_arena_printf(c->a, "the load balancer sends PROXY protocol (%s)%s", lbpp,
				       r->family->config_client_ip ? " but the controller's ConfigMap does not enable use-proxy-protocol"
								 : "; whether the controller reads it is set in its arguments, not visible here");
		return r->family->config_client_ip ? KT_CIP_LOST : KT_CIP_UNKNOWN;
	}
	const char *fh = cm ? kt_kv_get(&cm->data, "use-forwarded-headers") : NULL;
	*why = kt_arena_printf(c->a, "controller Service %s is %s with externalTrafficPolicy: Cluster%s: kube-proxy SNATs client traffic to a node IP, so the controller and X-Forwarded-For see node addresses%s",
			       name, kt_svc_type_name(sv->type), sv->etp_set ? "" : " (the default)",
			       fh && !strcasecmp(fh, "true")
				       ? "; use-forwarded-headers: true makes it trust an X-Forwarded-For the client sends itself (spoofable behind an L4 load balancer)"
				       : "");
	return KT_CIP_LOST;
}

/* ---- KT305/KT306: the backend Service and its port ----------------------- */

/* Is port (as an Ingress or route names it) a port of sv? */
static bool svc_has_port(const struct kt_service *sv, const struct kt_portref *p)
{
	for (uint32_t i = 0; i < sv->n_ports; i++) {
		if (p->name ? (sv->ports[i].name && !strcmp(sv->ports[i].name, p->name)) : sv->ports[i].port == p->num)
			return true;
	}
	return false;
}

static void port_list(struct kt_rctx *c, const struct kt_service *sv, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < sv->n_ports && off + 2 < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%d%s%s", i ? ", " : "", sv->ports[i].port,
				 sv->ports[i].name && *sv->ports[i].name ? "/" : "", sv->ports[i].name ? sv->ports[i].name : "");
		if (w < 0)
			break;
		off += (size_t)w;
	}
	(void)c;
}

/* One backend of an Ingress or route: KT305, KT306. */
static void check_backend(struct kt_rctx *c, const struct kt_meta *obj, const char *fpath, const char *ns,
			  const char *name, struct kt_portref port, bool route)
{
	if (!name)
		return;
	if (!services_known(c, ns)) {
		kt_rgap(c, KT_R_KT305, "not checked: no Services in namespace %s in the input", ns_name(ns));
		return;
	}
	uint32_t six = kt_iref_service(c->s, ns, name);
	if (six == KT_NONE) {
		/* manifests: the Service may come from elsewhere (another
		 * chart, an operator); only a near miss is evidence */
		const char *near = near_service(c->s, ns, name);
		if (!(c->s->listed & KT_LISTED_SERVICES) && !near) {
			kt_rgap(c, KT_R_KT305, "not checked for %s %s/%s: Service %s is not in the input",
				obj->kind ? obj->kind : "?", ns_name(obj->namespace), obj->name ? obj->name : "?", name);
			return;
		}
		kt_radd(c, KT_R_KT305, obj, fpath,
			"%s backend Service %s/%s does not exist%s%s%s: requests for this %s get 503 from the controller",
			route ? "route" : "Ingress", ns_name(ns), name, near ? " (did you mean " : "", near ? near : "",
			near ? "?)" : "", route ? "rule" : "path");
		return;
	}
	const struct kt_service *sv = &c->s->services[six];
	char ports[256];
	if (route && !port.num) {
		port_list(c, sv, ports, sizeof(ports));
		kt_radd(c, KT_R_KT306, obj, fpath,
			"backendRef to Service %s has no port: the Gateway API requires one for a Service (the route's rule is not programmed); the Service has %s",
			name, ports[0] ? ports : "no ports");
		return;
	}
	if (svc_has_port(sv, &port))
		return;
	port_list(c, sv, ports, sizeof(ports));
	char at[300];
	snprintf(at, sizeof(at), route ? "%s.port" : "%s.service.port", fpath);
	if (port.name)
		kt_radd(c, KT_R_KT306, obj, at,
			"backend port '%s' is not a port name of Service %s (ports: %s): the controller has no endpoints for it and answers 503",
			port.name, name, ports[0] ? ports : "none");
	else
		kt_radd(c, KT_R_KT306, obj, at,
			"backend port %d is not a port of Service %s (ports: %s; an Ingress or route names the Service port, not the targetPort): requests get 503",
			port.num, name, ports[0] ? ports : "none");
}

/* ---- KT307: client-address features behind SNAT -------------------------- */

/* An annotation that makes the controller act on the client address. */
static const char *client_ip_feature(const struct kt_kvlist *ann)
{
	static const char *const keys[] = {
		"nginx.ingress.kubernetes.io/whitelist-source-range", "nginx.ingress.kubernetes.io/allowlist-source-range",
		"nginx.ingress.kubernetes.io/denylist-source-range", "nginx.ingress.kubernetes.io/limit-rps",
		"nginx.ingress.kubernetes.io/limit-rpm", "nginx.ingress.kubernetes.io/limit-connections",
		"haproxy.org/allow-list", "haproxy.org/deny-list", "haproxy.org/whitelist", "haproxy.org/blacklist",
		"haproxy.org/rate-limit-requests", "haproxy-ingress.github.io/allowlist-source-range",
		"haproxy-ingress.github.io/denylist-source-range", "nginx.org/server-snippets-allow", NULL,
	};
	for (const char *const *k = keys; *k; k++)
		if (kt_kv_get(ann, *k))
			return *k;
	const char *h = kt_kv_get(ann, "nginx.ingress.kubernetes.io/upstream-hash-by");
	if (h && strstr(h, "remote_addr"))
		return "nginx.ingress.kubernetes.io/upstream-hash-by";
	return NULL;
}

static void kt307(struct kt_rctx *c, const struct kt_ingress *ig, struct kt_iref *r)
{
	const char *feat = client_ip_feature(&ig->meta.annotations);
	if (!feat)
		return;
	const char *why;
	enum kt_cip cip = kt_iref_client_ip(c, r, &why);
	if (cip == KT_CIP_LOST) {
		struct kt_finding *f = kt_radd(c, KT_R_KT307, &ig->meta, "metadata.annotations",
			"annotation %s acts on the client address, but the %s controller never sees it: every request appears to come from a node IP",
			feat, r->family->name);
		f->evidence = why;
	} else if (cip == KT_CIP_UNKNOWN && !r->n_tmpl) {
		kt_rgap(c, KT_R_KT307, "not checked for Ingress %s/%s: %s", ns_name(ig->meta.namespace),
			ig->meta.name ? ig->meta.name : "?", why ? why : "the controller is not in the input");
	}
}

/* ---- KT308: nothing to attach to ----------------------------------------- */

static bool listener_named(const struct kt_gateway *gw, const char *name)
{
	for (uint32_t i = 0; i < gw->n_listeners; i++)
		if (gw->listeners[i].name && !strcmp(gw->listeners[i].name, name))
			return true;
	return false;
}

static bool gateways_known(const struct kt_rctx *c, const char *ns)
{
	if (c->s->listed & KT_LISTED_GATEWAYS)
		return true;
	for (uint32_t i = 0; i < c->s->n_gateways; i++)
		if (kt_ns_eq(c->s->gateways[i].meta.namespace, ns))
			return true;
	return false;
}

static void kt308_route(struct kt_rctx *c, const struct kt_route *rt)
{
	for (uint32_t i = 0; i < rt->n_parents; i++) {
		const struct kt_route_parent *p = &rt->parents[i];
		if (p->kind && strcmp(p->kind, "Gateway"))
			continue; /* a Service (GAMMA mesh) or another kind */
		const char *ns = p->namespace ? p->namespace : rt->meta.namespace;
		char path[48];
		snprintf(path, sizeof(path), "spec.parentRefs[%u]", i);
		if (p->gateway == KT_NONE) {
			const char *near = NULL;
			for (uint32_t g = 0; g < c->s->n_gateways && !near; g++)
				if (kt_ns_eq(c->s->gateways[g].meta.namespace, ns) &&
				    near_name(c->s->gateways[g].meta.name, p->name))
					near = c->s->gateways[g].meta.name;
			if (!gateways_known(c, ns) || (!(c->s->listed & KT_LISTED_GATEWAYS) && !near))
				kt_rgap(c, KT_R_KT308, "not checked for %s %s/%s: Gateway %s/%s is not in the input",
					kt_route_kind_name(rt->kind), ns_name(rt->meta.namespace),
					rt->meta.name ? rt->meta.name : "?", ns_name(ns), p->name ? p->name : "?");
			else
				kt_radd(c, KT_R_KT308, &rt->meta, path,
					"parentRef Gateway %s/%s does not exist%s%s%s: the route attaches to nothing and serves no traffic",
					ns_name(ns), p->name ? p->name : "?", near ? " (did you mean " : "", near ? near : "",
					near ? "?)" : "");
			continue;
		}
		const struct kt_gateway *gw = &c->s->gateways[p->gateway];
		if (p->section && !listener_named(gw, p->section))
			kt_radd(c, KT_R_KT308, &rt->meta, path,
				"parentRef names listener '%s', which Gateway %s/%s does not have: the route is not attached",
				p->section, ns_name(ns), gw->meta.name ? gw->meta.name : "?");
	}
}

static void kt308_ingress(struct kt_rctx *c, const struct kt_ingress *ig)
{
	bool listed = c->s->listed & KT_LISTED_INGRESSCLASSES;
	if ((!listed && !c->s->n_ingress_classes) || ig->class_from_annotation)
		return; /* the legacy annotation needs no IngressClass */
	const char *near = NULL;
	for (uint32_t i = 0; ig->class_name && i < c->s->n_ingress_classes && !near; i++)
		if (near_name(c->s->ingress_classes[i].meta.name, ig->class_name))
			near = c->s->ingress_classes[i].meta.name;
	/* manifests rarely hold the cluster's classes: only a near miss
	 * is evidence there */
	if (ig->class_name && kt_find_ingress_class(c->s, ig->class_name) == KT_NONE && (listed || near))
		kt_radd(c, KT_R_KT308, &ig->meta, "spec.ingressClassName",
			"IngressClass %s does not exist%s%s%s: no controller serves this Ingress", ig->class_name,
			near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
	else if (!ig->class_name && c->live && kt_ingress_class_of(c->s, ig) == KT_NONE)
		kt_radd(c, KT_R_KT308, &ig->meta, "spec",
			"no spec.ingressClassName and no default IngressClass: no controller serves this Ingress");
}

/* ---- KT309: connections balanced through the ClusterIP -------------------- */

static void kt309(struct kt_rctx *c, const struct kt_meta *obj, struct kt_iref *r, const struct kt_kvlist *ann,
		  const char *ns, const char *svc, const char *fpath)
{
	uint32_t six = svc ? kt_iref_service(c->s, ns, svc) : KT_NONE;
	const struct kt_service *sv = six != KT_NONE ? &c->s->services[six] : NULL;
	if (sv && sv->headless)
		return;
	const char *why = kt_iref_via_cluster_ip(c, r, ann, sv);
	if (!why)
		return;
	struct kt_finding *f = kt_radd(c, KT_R_KT309, obj, fpath,
		"the %s controller sends to Service %s through its ClusterIP (%s): kube-proxy balances the controller's few long-lived keep-alive connections, not requests",
		r->family->name, svc ? svc : "?", why);
	f->evidence = kt_arena_printf(c->a, "%s%s", r->n_tmpl ? "controller templates in the input: " : "controller not in the input",
				      r->n_tmpl ? c->t[r->tmpl[0]].meta->name : "");
}

/* ---- per object ------------------------------------------------------------ */

/* Is this Ingress or route in scope for kt_rules_for_service? */
static bool refs_only_svc(const struct kt_rctx *c, const char *ns, const char *name)
{
	if (c->only_svc == KT_NONE)
		return true;
	const struct kt_service *sv = &c->s->services[c->only_svc];
	return name && sv->meta.name && !strcmp(name, sv->meta.name) && kt_ns_eq(ns, sv->meta.namespace);
}

static void rules_ingress_obj(struct kt_rctx *c, const struct kt_ingress *ig)
{
	bool scope = c->only_svc == KT_NONE;
	for (uint32_t i = 0; i < ig->n_backends && !scope; i++)
		scope = refs_only_svc(c, ig->meta.namespace, ig->backends[i].service);
	if (!scope)
		return;
	struct kt_iref r;
	kt_iref_ingress(c, ig, &r);
	kt308_ingress(c, ig);
	kt307(c, ig, &r);
	const char *done_309 = NULL;
	for (uint32_t i = 0; i < ig->n_backends; i++) {
		const struct kt_ingress_backend *b = &ig->backends[i];
		if (!b->service || !refs_only_svc(c, ig->meta.namespace, b->service))
			continue;
		check_backend(c, &ig->meta, b->fpath, ig->meta.namespace, b->service, b->port, false);
		if (!done_309 || strcmp(done_309, b->service)) { /* once per Service */
			kt309(c, &ig->meta, &r, &ig->meta.annotations, ig->meta.namespace, b->service, b->fpath);
			done_309 = b->service;
		}
	}
}

static void rules_route_obj(struct kt_rctx *c, const struct kt_route *rt)
{
	bool scope = c->only_svc == KT_NONE;
	for (uint32_t i = 0; i < rt->n_backends && !scope; i++)
		scope = refs_only_svc(c, rt->backends[i].namespace ? rt->backends[i].namespace : rt->meta.namespace,
				      rt->backends[i].name);
	if (!scope)
		return;
	kt308_route(c, rt);
	struct kt_iref r;
	kt_iref_route(c, rt, &r);
	for (uint32_t i = 0; i < rt->n_backends; i++) {
		const struct kt_route_backend *b = &rt->backends[i];
		if (strcmp(b->kind, "Service") || (b->group && *b->group))
			continue;
		const char *ns = b->namespace ? b->namespace : rt->meta.namespace;
		if (!refs_only_svc(c, ns, b->name))
			continue;
		check_backend(c, &rt->meta, b->fpath, ns, b->name, (struct kt_portref){.num = b->port}, true);
		kt309(c, &rt->meta, &r, NULL, ns, b->name, b->fpath);
	}
}

void kt_rules_routes(struct kt_rctx *c)
{
	for (uint32_t i = 0; i < c->s->n_ingresses; i++)
		rules_ingress_obj(c, &c->s->ingresses[i]);
	for (uint32_t i = 0; i < c->s->n_routes; i++)
		rules_route_obj(c, &c->s->routes[i]);
}
