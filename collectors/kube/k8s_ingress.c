/*
 * The ingress layer of Kubernetes objects -> model: Ingresses and
 * IngressClasses, Gateway API GatewayClasses, Gateways, HTTPRoutes and
 * GRPCRoutes, and the client-IP settings of ingress controllers'
 * ConfigMaps. Called by the dispatcher in k8s_obj.c. Must not print and
 * must not judge.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collectors/kube/k8s_int.h"
#include "ktrace/xalloc.h"

/* Is host covered by spec.tls[] (an entry without hosts covers every host)? */
static bool ing_tls(const cJSON *tls, const char *host)
{
	const cJSON *t, *h;
	KT_EACH(t, tls)
	{
		const cJSON *hosts = jget(t, "hosts");
		if (!cJSON_IsArray(hosts) || !cJSON_GetArraySize(hosts))
			return true;
		KT_EACH(h, hosts)
		{
			if (cJSON_IsString(h) && host && !strcmp(h->valuestring, host))
				return true;
		}
	}
	return false;
}

static void ing_backend(struct ctx *c, const cJSON *b, struct kt_ingress *g, int cap, const char *host,
			const cJSON *path, const char *fpath)
{
	if (!b || (int)g->n_backends >= cap)
		return;
	const cJSON *svc = jget(b, "service");
	struct kt_ingress_backend *x = &g->backends[g->n_backends++];
	x->host = host ? kt_intern(c->a, host) : NULL;
	x->path = jstr(c, path, "path");
	if (path && !x->path)
		x->path = kt_intern(c->a, "/");
	x->path_type = jstr(c, path, "pathType");
	x->fpath = kt_intern(c->a, fpath);
	note_at(c, b, fpath, strlen(fpath));
	if (!svc) { /* networking/v1beta1: serviceName / servicePort */
		x->service = jstr(c, b, "serviceName");
		if (x->service)
			x->port = jport(c, notek(c, b, "servicePort", fpath));
		return;
	}
	char sp[300];
	note_at(c, svc, sp, kpath(sp, sizeof(sp), fpath, ".service", -1));
	x->service = jstr(c, svc, "name");
	const cJSON *port = notek(c, svc, "port", sp);
	kpath(sp, sizeof(sp), fpath, ".service.port", -1);
	if (jget(port, "number"))
		x->port.num = jportnum(port, "number");
	else
		x->port.name = jstr(c, port, "name");
	notek(c, port, "number", sp);
	notek(c, port, "name", sp);
}

void do_ingress(struct ctx *c, const cJSON *o)
{
	struct kt_ingress *g = KT_SNAP_PUSH(c->s, ingresses);
	read_meta(c, o, "Ingress", &g->meta);
	const cJSON *sp = notek(c, o, "spec", "");
	g->class_name = jstr(c, sp, "ingressClassName");
	notek(c, sp, "ingressClassName", "spec");
	if (!g->class_name) {
		g->class_name = kt_kv_get(&g->meta.annotations, "kubernetes.io/ingress.class");
		g->class_from_annotation = g->class_name != NULL;
	}
	int cap = 1;
	const cJSON *r, *p, *tls = jget(sp, "tls");
	KT_EACH(r, jget(sp, "rules"))
	{
		cap += cJSON_GetArraySize(jget(jget(r, "http"), "paths"));
	}
	g->backends = KT_ANEW(c->a, struct kt_ingress_backend, cap);
	const cJSON *def = jget(sp, "defaultBackend");
	if (!def)
		def = jget(sp, "backend"); /* networking/v1beta1 */
	if (def)
		ing_backend(c, def, g, cap, NULL, NULL, def == jget(sp, "backend") ? "spec.backend" : "spec.defaultBackend");
	int ri = 0;
	KT_EACH(r, jget(sp, "rules"))
	{
		const char *host = jstr(c, r, "host");
		int pi = 0;
		KT_EACH(p, jget(jget(r, "http"), "paths"))
		{
			char fp[128];
			snprintf(fp, sizeof(fp), "spec.rules[%d].http.paths[%d].backend", ri, pi);
			uint32_t before = g->n_backends;
			ing_backend(c, jget(p, "backend"), g, cap, host, p, fp);
			if (g->n_backends > before)
				g->backends[before].tls = ing_tls(tls, host);
			pi++;
		}
		ri++;
	}
	if (def && g->n_backends)
		g->backends[0].tls = ing_tls(tls, NULL) && cJSON_GetArraySize(tls) > 0;
	read_lb_ingress(c, jpath(jget(o, "status"), "loadBalancer", "ingress"), &g->lb, &g->n_lb);
	meta_finish(c, &g->meta);
}

void do_ingress_class(struct ctx *c, const cJSON *o)
{
	struct kt_ingress_class *ic = KT_SNAP_PUSH(c->s, ingress_classes);
	read_meta(c, o, "IngressClass", &ic->meta);
	ic->controller = jstr(c, jget(o, "spec"), "controller");
	const char *d = kt_kv_get(&ic->meta.annotations, "ingressclass.kubernetes.io/is-default-class");
	ic->is_default = d && !strcmp(d, "true");
	meta_finish(c, &ic->meta);
}

/* ---- Gateway API --------------------------------------------------------- */

void do_gateway_class(struct ctx *c, const cJSON *o)
{
	struct kt_gw_class *g = KT_SNAP_PUSH(c->s, gateway_classes);
	read_meta(c, o, "GatewayClass", &g->meta);
	g->controller = jstr(c, notek(c, o, "spec", ""), "controllerName");
	meta_finish(c, &g->meta);
}

void do_gateway(struct ctx *c, const cJSON *o)
{
	struct kt_gateway *g = KT_SNAP_PUSH(c->s, gateways);
	read_meta(c, o, "Gateway", &g->meta);
	g->gw_class = KT_NONE;
	const cJSON *sp = notek(c, o, "spec", "");
	g->class_name = jstr(c, sp, "gatewayClassName");
	notek(c, sp, "gatewayClassName", "spec");
	const cJSON *ls = notek(c, sp, "listeners", "spec");
	int n = cJSON_IsArray(ls) ? cJSON_GetArraySize(ls) : 0;
	if (n > 0) {
		g->listeners = KT_ANEW(c->a, struct kt_gw_listener, n);
		const cJSON *e;
		KT_EACH(e, ls)
		{
			struct kt_gw_listener *l = &g->listeners[g->n_listeners];
			note(c, e, "spec.listeners[%u]", g->n_listeners);
			l->name = jstr(c, e, "name");
			l->hostname = jstr(c, e, "hostname");
			l->protocol = jstr(c, e, "protocol");
			l->port = clamp32(jint(e, "port", 0));
			const cJSON *tls = jget(e, "tls");
			if (tls) {
				l->tls_mode = jstr(c, tls, "mode");
				if (!l->tls_mode)
					l->tls_mode = kt_intern(c->a, "Terminate");
			}
			g->n_listeners++;
		}
	}
	const cJSON *addrs = jget(jget(o, "status"), "addresses");
	n = cJSON_IsArray(addrs) ? cJSON_GetArraySize(addrs) : 0;
	if (n > 0) {
		g->addresses = KT_ANEW(c->a, const char *, n);
		const cJSON *e;
		KT_EACH(e, addrs)
		{
			const char *v = jstr(c, e, "value");
			if (v)
				g->addresses[g->n_addresses++] = v;
		}
	}
	meta_finish(c, &g->meta);
}

static void route_matches(struct ctx *c, struct kt_route *r, const cJSON *m, uint32_t rule, bool grpc)
{
	struct kt_route_match *x = &r->matches[r->n_matches++];
	x->rule = rule;
	if (grpc) {
		const cJSON *meth = jget(m, "method");
		const char *svc = jstr(c, meth, "service"), *fn = jstr(c, meth, "method");
		if (svc || fn)
			x->path = kt_arena_printf(c->a, "%s/%s", svc ? svc : "*", fn ? fn : "*");
		return;
	}
	const cJSON *path = jget(m, "path");
	if (path) {
		x->path_type = jstr(c, path, "type");
		if (!x->path_type)
			x->path_type = kt_intern(c->a, "PathPrefix");
		x->path = jstr(c, path, "value");
		if (!x->path)
			x->path = kt_intern(c->a, "/");
	}
	x->method = jstr(c, m, "method");
}

static void route_backend(struct ctx *c, struct kt_route *r, const cJSON *b, uint32_t rule, int bi)
{
	struct kt_route_backend *x = &r->backends[r->n_backends++];
	char fp[96];
	snprintf(fp, sizeof(fp), "spec.rules[%u].backendRefs[%d]", rule, bi);
	note_at(c, b, fp, strlen(fp));
	notek(c, b, "port", fp);
	notek(c, b, "name", fp);
	x->rule = rule;
	x->fpath = kt_intern(c->a, fp);
	x->kind = jstr(c, b, "kind");
	if (!x->kind)
		x->kind = kt_intern(c->a, "Service");
	x->group = jstr(c, b, "group");
	if (!x->group)
		x->group = kt_intern(c->a, "");
	x->namespace = jstr(c, b, "namespace");
	x->name = jstr(c, b, "name");
	x->port = clamp32(jint(b, "port", 0));
	x->weight = clamp32(jint(b, "weight", 1));
}

/* HTTPRoute or GRPCRoute */
void do_route(struct ctx *c, const cJSON *o, bool grpc)
{
	struct kt_route *r = KT_SNAP_PUSH(c->s, routes);
	read_meta(c, o, grpc ? "GRPCRoute" : "HTTPRoute", &r->meta);
	r->kind = grpc ? KT_ROUTE_GRPC : KT_ROUTE_HTTP;
	const cJSON *sp = notek(c, o, "spec", "");
	r->hostnames = jstrs(c, jget(sp, "hostnames"), &r->n_hostnames);
	const cJSON *pr = notek(c, sp, "parentRefs", "spec"), *e, *rl, *x;
	int n = cJSON_IsArray(pr) ? cJSON_GetArraySize(pr) : 0;
	if (n > 0) {
		r->parents = KT_ANEW(c->a, struct kt_route_parent, n);
		KT_EACH(e, pr)
		{
			struct kt_route_parent *p = &r->parents[r->n_parents];
			note(c, e, "spec.parentRefs[%u]", r->n_parents);
			p->kind = jstr(c, e, "kind");
			p->namespace = jstr(c, e, "namespace");
			p->name = jstr(c, e, "name");
			p->section = jstr(c, e, "sectionName");
			p->port = clamp32(jint(e, "port", 0));
			p->gateway = KT_NONE;
			r->n_parents++;
		}
	}
	const cJSON *rules = notek(c, sp, "rules", "spec");
	int nb = 0, nm = 0;
	KT_EACH(rl, rules)
	{
		nb += cJSON_IsArray(jget(rl, "backendRefs")) ? cJSON_GetArraySize(jget(rl, "backendRefs")) : 0;
		nm += cJSON_IsArray(jget(rl, "matches")) ? cJSON_GetArraySize(jget(rl, "matches")) : 0;
	}
	r->backends = KT_ANEW(c->a, struct kt_route_backend, nb + 1);
	r->matches = KT_ANEW(c->a, struct kt_route_match, nm + 1);
	KT_EACH(rl, rules)
	{
		note(c, rl, "spec.rules[%u]", r->n_rules);
		int bi = 0;
		KT_EACH(x, jget(rl, "matches"))
		{
			if ((int)r->n_matches < nm)
				route_matches(c, r, x, r->n_rules, grpc);
		}
		KT_EACH(x, jget(rl, "backendRefs"))
		{
			if ((int)r->n_backends < nb)
				route_backend(c, r, x, r->n_rules, bi++);
		}
		r->n_rules++;
	}
	meta_finish(c, &r->meta);
}

/* ---- ConfigMaps of ingress controllers: the client-IP settings only ----- */

void ctrl_configmap(struct ctx *c, const cJSON *o, const cJSON *data)
{
	if (!cJSON_IsObject(data))
		return;
	unsigned n = 0;
	for (unsigned i = 0; kt_ctrl_config_keys[i]; i++)
		n += cJSON_IsString(jget(data, kt_ctrl_config_keys[i]));
	if (!n)
		return;
	struct kt_configmap *m = KT_SNAP_PUSH(c->s, configmaps);
	read_meta(c, o, "ConfigMap", &m->meta);
	m->data.v = KT_ANEW(c->a, struct kt_kv, n);
	const cJSON *dv = notek(c, o, "data", "");
	for (unsigned i = 0; kt_ctrl_config_keys[i]; i++) {
		const cJSON *v = jget(data, kt_ctrl_config_keys[i]);
		if (!cJSON_IsString(v))
			continue;
		m->data.v[m->data.n].key = kt_intern(c->a, kt_ctrl_config_keys[i]);
		m->data.v[m->data.n].value = kt_intern(c->a, v->valuestring);
		m->data.n++;
		notek(c, dv, kt_ctrl_config_keys[i], "data");
	}
	if (m->data.n > 1)
		qsort(m->data.v, m->data.n, sizeof(*m->data.v), kv_cmp);
	meta_finish(c, &m->meta);
}

