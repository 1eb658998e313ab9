/*
 * The ingress layer of `ktrace path`: for a Service, the Ingresses and
 * Gateway API routes that send it traffic (host, path, class, controller);
 * for one Ingress or route, the whole way in: load balancer -> controller
 * Service -> controller Pods (placement) -> backend Service -> Pods, with
 * how the controller balances to the backends (per request over Pod IPs,
 * or per connection through the ClusterIP) and whether the client address
 * survives. Built on the rule context (analyzers/rules*.c) so the path and
 * the rules see the same controllers. Pure: reads a finished snapshot,
 * allocates in the given arena.
 */
#include <stdio.h>
#include <string.h>

#include "analyzers/rules_int.h"
#include "ktrace/path.h"
#include "ktrace/util.h"

const char *kt_ing_kind_name(enum kt_ing_kind k)
{
	switch (k) {
	case KT_ING_INGRESS: return "Ingress";
	case KT_ING_HTTPROUTE: return "HTTPRoute";
	case KT_ING_GRPCROUTE: return "GRPCRoute";
	}
	return "Ingress";
}

static const char *balance_text(struct kt_rctx *c, const struct kt_iref *r, const char *via)
{
	if (via)
		return kt_arena_printf(c->a, "per connection: through the Service's ClusterIP (%s); kube-proxy spreads the controller's keep-alive connections",
				       via);
	if (!r->family)
		return "unknown controller: not known how it reaches the backends";
	if (r->family->outside)
		return kt_arena_printf(c->a, "%s: the cloud load balancer sends to the backends itself", r->family->name);
	for (uint32_t i = 0; i < r->n_tmpl; i++)
		if (kt_tmpl_meshed(&c->t[r->tmpl[i]]))
			return "per request: the controller's mesh proxy balances over the endpoints";
	return "per request: the controller balances each request over the backend's Pod IPs (from EndpointSlices; kube-proxy is not on this hop)";
}

/* The controller part of a view from its resolution. */
static void view_ctrl(struct kt_rctx *c, struct kt_iref *r, struct kt_ing_view *v)
{
	const struct kt_snapshot *s = c->s;
	v->class_kind = r->class_kind;
	v->class_name = r->class_name;
	v->controller = r->controller;
	v->family = r->family ? r->family->name : NULL;
	v->outside = r->family && r->family->outside;
	v->ctrl_svcs = r->svc;
	v->n_ctrl_svcs = r->n_svc;
	v->ctrl_wl = KT_ANEW(c->a, const struct kt_meta *, r->n_tmpl + 1);
	v->ctrl_replicas = KT_ANEW(c->a, int32_t, r->n_tmpl + 1);
	uint32_t np = 0;
	for (uint32_t i = 0; i < r->n_tmpl; i++) {
		const struct kt_tmpl *t = &c->t[r->tmpl[i]];
		v->ctrl_wl[v->n_ctrl_wl] = t->meta;
		v->ctrl_replicas[v->n_ctrl_wl++] = t->replicas;
	}
	/* live Pods of those templates, and what the controller Services select */
	v->ctrl_pods = KT_ANEW(c->a, uint32_t, s->n_pods + 1);
	for (uint32_t p = 0; p < s->n_pods; p++) {
		const struct kt_pod *pod = &s->pods[p];
		if (!kt_pod_alive(pod))
			continue;
		bool mine = false;
		for (uint32_t i = 0; i < r->n_tmpl && !mine; i++) {
			const struct kt_tmpl *t = &c->t[r->tmpl[i]];
			mine = (t->wl != KT_NONE && pod->workload == t->wl) || t->pod == p;
		}
		for (uint32_t i = 0; i < r->n_svc && !mine; i++) {
			uint32_t n;
			const uint32_t *row = KT_ROW(c, sp, r->svc[i], n);
			for (uint32_t k = 0; k < n && !mine; k++)
				mine = row[k] == p;
		}
		if (mine)
			v->ctrl_pods[np++] = p;
	}
	v->n_ctrl_pods = np;
	for (uint32_t i = 0; i < s->n_configmaps && r->family && r->family->config_client_ip; i++)
		for (uint32_t j = 0; j < r->n_tmpl && !v->ctrl_config; j++)
			if (kt_ns_eq(s->configmaps[i].meta.namespace, c->t[r->tmpl[j]].meta->namespace))
				v->ctrl_config = &s->configmaps[i];
	enum kt_cip cip = kt_iref_client_ip(c, r, &v->client_ip_why);
	v->client_ip = cip == KT_CIP_KEPT ? KT_ING_CIP_KEPT : cip == KT_CIP_LOST ? KT_ING_CIP_LOST : KT_ING_CIP_UNKNOWN;
}

static void route_common(struct kt_rctx *c, struct kt_iref *r, struct kt_ing_route *x, const struct kt_kvlist *ann)
{
	x->svc = x->svc_name ? kt_iref_service(c->s, x->svc_ns, x->svc_name) : KT_NONE;
	const char *via = kt_iref_via_cluster_ip(c, r, ann, x->svc != KT_NONE ? &c->s->services[x->svc] : NULL);
	x->via_cluster_ip = via != NULL;
	x->balance_why = balance_text(c, r, via);
}

static bool svc_is(const struct kt_snapshot *s, uint32_t only, const char *ns, const char *name)
{
	if (only == KT_NONE)
		return true;
	const struct kt_service *sv = &s->services[only];
	return name && sv->meta.name && !strcmp(name, sv->meta.name) && kt_ns_eq(ns, sv->meta.namespace);
}

/* The view of one Ingress; routes only to Service only (KT_NONE all).
 * False when none goes there. */
static bool view_ingress(struct kt_rctx *c, const struct kt_ingress *ig, uint32_t only, struct kt_ing_view *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = KT_ING_INGRESS;
	v->meta = &ig->meta;
	v->gateway = KT_NONE;
	struct kt_iref r;
	kt_iref_ingress(c, ig, &r);
	v->routes = KT_ANEW(c->a, struct kt_ing_route, ig->n_backends + 1);
	for (uint32_t i = 0; i < ig->n_backends; i++) {
		const struct kt_ingress_backend *b = &ig->backends[i];
		if (!svc_is(c->s, only, ig->meta.namespace, b->service))
			continue;
		struct kt_ing_route *x = &v->routes[v->n_routes++];
		x->host = b->host;
		x->match = b->path ? kt_arena_printf(c->a, "%s %s", b->path_type ? b->path_type : "Prefix", b->path)
				   : "default backend";
		x->tls = b->tls;
		x->svc_ns = ig->meta.namespace;
		x->svc_name = b->service;
		x->port = b->port;
		route_common(c, &r, x, &ig->meta.annotations);
	}
	if (!v->n_routes)
		return false;
	view_ctrl(c, &r, v);
	return true;
}

static const char *route_match(struct kt_rctx *c, const struct kt_route *rt, uint32_t rule)
{
	const char *out = NULL;
	for (uint32_t i = 0; i < rt->n_matches; i++) {
		const struct kt_route_match *m = &rt->matches[i];
		if (m->rule != rule)
			continue;
		const char *one = rt->kind == KT_ROUTE_GRPC
					  ? kt_arena_printf(c->a, "gRPC %s", m->path ? m->path : "*")
					  : kt_arena_printf(c->a, "%s%s%s %s", m->method ? m->method : "", m->method ? " " : "",
							    m->path_type ? m->path_type : "PathPrefix", m->path ? m->path : "/");
		out = out ? kt_arena_printf(c->a, "%s | %s", out, one) : one;
	}
	return out ? out : rt->kind == KT_ROUTE_GRPC ? "gRPC (every method)" : "PathPrefix /";
}

static bool view_route(struct kt_rctx *c, const struct kt_route *rt, uint32_t only, struct kt_ing_view *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = rt->kind == KT_ROUTE_GRPC ? KT_ING_GRPCROUTE : KT_ING_HTTPROUTE;
	v->meta = &rt->meta;
	struct kt_iref r;
	kt_iref_route(c, rt, &r);
	v->gateway = r.gateway;
	uint32_t nh = rt->n_hostnames ? rt->n_hostnames : 1;
	v->routes = KT_ANEW(c->a, struct kt_ing_route, rt->n_backends * nh + 1);
	for (uint32_t i = 0; i < rt->n_backends; i++) {
		const struct kt_route_backend *b = &rt->backends[i];
		const char *ns = b->namespace ? b->namespace : rt->meta.namespace;
		if (strcmp(b->kind, "Service") || (b->group && *b->group) || !svc_is(c->s, only, ns, b->name))
			continue;
		for (uint32_t h = 0; h < nh; h++) {
			struct kt_ing_route *x = &v->routes[v->n_routes++];
			x->host = rt->n_hostnames ? rt->hostnames[h] : NULL;
			x->match = route_match(c, rt, b->rule);
			x->svc_ns = ns;
			x->svc_name = b->name;
			x->port.num = b->port;
			x->weight = b->weight;
			route_common(c, &r, x, NULL);
		}
	}
	if (!v->n_routes)
		return false;
	view_ctrl(c, &r, v);
	return true;
}

int kt_ingress_for_service(const struct kt_snapshot *s, uint32_t svc_ix, const struct kt_rules_opts *o,
			   struct kt_arena *a, struct kt_ing_result **out)
{
	struct kt_ing_result *res = KT_ANEW(a, struct kt_ing_result, 1);
	struct kt_rctx c;
	kt_rctx_init(&c, s, KT_NONE, o, a, &res->findings);
	res->views = KT_ANEW(a, struct kt_ing_view, s->n_ingresses + s->n_routes + 1);
	for (uint32_t i = 0; i < s->n_ingresses; i++)
		if (view_ingress(&c, &s->ingresses[i], svc_ix, &res->views[res->n_views]))
			res->n_views++;
	for (uint32_t i = 0; i < s->n_routes; i++)
		if (view_route(&c, &s->routes[i], svc_ix, &res->views[res->n_views]))
			res->n_views++;
	*out = res;
	return 0;
}

static bool meta_is(const struct kt_meta *m, const char *kind, const char *ns, const char *name)
{
	return m->kind && kind && !strcmp(m->kind, kind) && m->name && name && !strcmp(m->name, name) &&
	       kt_ns_eq(m->namespace, ns);
}

/* Keep the findings about the object, its controller and the controller's
 * Services. */
static void keep_related(const struct kt_snapshot *s, const struct kt_ing_view *v, struct kt_findings *f)
{
	uint32_t o = 0;
	for (uint32_t i = 0; i < f->n; i++) {
		const struct kt_objref *r = &f->v[i].obj;
		bool keep = meta_is(v->meta, r->kind, r->namespace, r->name);
		for (uint32_t k = 0; !keep && k < v->n_ctrl_wl; k++)
			keep = meta_is(v->ctrl_wl[k], r->kind, r->namespace, r->name);
		for (uint32_t k = 0; !keep && k < v->n_ctrl_svcs; k++)
			keep = meta_is(&s->services[v->ctrl_svcs[k]].meta, r->kind, r->namespace, r->name);
		if (keep)
			f->v[o++] = f->v[i];
	}
	f->n = o;
}

int kt_ingress_path(const struct kt_snapshot *s, enum kt_ing_kind kind, const char *ns, const char *name,
		    const struct kt_rules_opts *o, struct kt_arena *a, struct kt_ing_result **out)
{
	uint32_t ix = kind == KT_ING_INGRESS ? kt_find_ingress(s, ns, name)
					     : kt_find_route(s, kind == KT_ING_GRPCROUTE ? KT_ROUTE_GRPC : KT_ROUTE_HTTP, ns, name);
	if (ix == KT_NONE && (!ns || !strcmp(ns, "default"))) /* manifests: no metadata.namespace */
		ix = kind == KT_ING_INGRESS ? kt_find_ingress(s, NULL, name)
					    : kt_find_route(s, kind == KT_ING_GRPCROUTE ? KT_ROUTE_GRPC : KT_ROUTE_HTTP, NULL, name);
	if (ix == KT_NONE)
		return -1;
	struct kt_ing_result *res = KT_ANEW(a, struct kt_ing_result, 1);
	struct kt_findings scratch = {0};
	struct kt_rctx c;
	kt_rctx_init(&c, s, KT_NONE, o, a, &scratch);
	res->views = KT_ANEW(a, struct kt_ing_view, 1);
	bool any = kind == KT_ING_INGRESS ? view_ingress(&c, &s->ingresses[ix], KT_NONE, &res->views[0])
					  : view_route(&c, &s->routes[ix], KT_NONE, &res->views[0]);
	if (!any) { /* no backend Service at all: still show the controller */
		struct kt_iref r;
		if (kind == KT_ING_INGRESS)
			kt_iref_ingress(&c, &s->ingresses[ix], &r);
		else
			kt_iref_route(&c, &s->routes[ix], &r);
		res->views[0].kind = kind;
		res->views[0].meta = kind == KT_ING_INGRESS ? &s->ingresses[ix].meta : &s->routes[ix].meta;
		res->views[0].gateway = r.gateway;
		view_ctrl(&c, &r, &res->views[0]);
	}
	res->n_views = 1;
	kt_findings_release(&scratch);
	kt_rules_run(s, o, a, &res->findings);
	keep_related(s, &res->views[0], &res->findings);
	*out = res;
	return 0;
}
