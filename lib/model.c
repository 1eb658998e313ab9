/*
 * Snapshot lifecycle, sorting/linking (kt_snapshot_finish), lookups, and
 * the label/port semantics every analyzer shares (Service selectors,
 * LabelSelectors, targetPort resolution). Pure: no I/O.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktrace/dataplane.h"
#include "ktrace/fleet.h"
#include "ktrace/flows.h"
#include "ktrace/model.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

struct kt_snapshot *kt_snapshot_new(void)
{
	struct kt_snapshot *s = kt_xcalloc(1, sizeof(*s));
	s->arena = kt_arena_new();
	s->proxy.masquerade_bit = -1;
	return s;
}

void kt_snapshot_free(struct kt_snapshot *s)
{
	if (!s)
		return;
	free(s->services);
	free(s->endpoints);
	free(s->pods);
	free(s->nodes);
	free(s->workloads);
	free(s->hpas);
	free(s->pdbs);
	free(s->ingresses);
	free(s->ingress_classes);
	free(s->gateway_classes);
	free(s->gateways);
	free(s->routes);
	free(s->configmaps);
	free(s->cr_pods);
	free(s->files);
	for (uint32_t i = 0; i < s->n_dp; i++)
		free(s->dp[i].svcs);
	free(s->dp);
	for (uint32_t i = 0; i < s->n_flows; i++)
		free(s->flows[i].agg);
	free(s->flows);
	kt_fleet_free(s->fleet);
	free(s->gaps);
	kt_arena_free(s->arena);
	free(s);
}

void kt_snapshot_clear_nodes(struct kt_snapshot *s)
{
	for (uint32_t i = 0; i < s->n_dp; i++)
		free(s->dp[i].svcs);
	free(s->dp);
	for (uint32_t i = 0; i < s->n_flows; i++)
		free(s->flows[i].agg);
	free(s->flows);
	s->dp = NULL;
	s->flows = NULL;
	s->n_dp = s->cap_dp = s->n_flows = s->cap_flows = 0;
}

bool kt_snapshot_keep_node(struct kt_snapshot *s, const char *name)
{
	bool any = false;
	for (uint32_t i = 0; i < s->n_dp && !any; i++)
		any = !kt_strcmp0(s->dp[i].node, name);
	for (uint32_t i = 0; i < s->n_flows && !any; i++)
		any = !kt_strcmp0(s->flows[i].node, name);
	if (!any)
		return false;
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->n_dp; i++) {
		if (kt_strcmp0(s->dp[i].node, name))
			free(s->dp[i].svcs);
		else
			s->dp[k++] = s->dp[i];
	}
	s->n_dp = k;
	k = 0;
	for (uint32_t i = 0; i < s->n_flows; i++) {
		if (kt_strcmp0(s->flows[i].node, name))
			free(s->flows[i].agg);
		else
			s->flows[k++] = s->flows[i];
	}
	s->n_flows = k;
	return true;
}

void *kt_grow(void *arrp, uint32_t *n, uint32_t *cap, size_t elem)
{
	void **arr = arrp;
	if (*n >= *cap) {
		uint32_t nc = *cap ? *cap * 2 : 16;
		void *na = kt_xreallocarray(*arr, nc, elem);
		*arr = na;
		*cap = nc;
	}
	char *e = (char *)*arr + (size_t)(*n)++ * elem;
	memset(e, 0, elem);
	return e;
}

void kt_snapshot_gap(struct kt_snapshot *s, const char *what, const char *fmt, ...)
{
	struct kt_gap *g = KT_SNAP_PUSH(s, gaps);
	g->what = kt_arena_strdup(s->arena, what);
	va_list ap;
	va_start(ap, fmt);
	g->why = kt_arena_vprintf(s->arena, fmt, ap);
	va_end(ap);
}

static int meta_cmp(const struct kt_meta *a, const struct kt_meta *b)
{
	int c = kt_strcmp0(a->namespace, b->namespace);
	return c ? c : kt_strcmp0(a->name, b->name);
}

static int svc_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_service *)a)->meta, &((const struct kt_service *)b)->meta);
}

static int pod_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_pod *)a)->meta, &((const struct kt_pod *)b)->meta);
}

static int node_cmp(const void *a, const void *b)
{
	return kt_strcmp0(((const struct kt_node *)a)->meta.name, ((const struct kt_node *)b)->meta.name);
}

static int wl_cmp(const void *a, const void *b)
{
	const struct kt_workload *x = a, *y = b;
	int c = kt_strcmp0(x->meta.namespace, y->meta.namespace);
	if (c)
		return c;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return kt_strcmp0(x->meta.name, y->meta.name);
}

static int hpa_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_hpa *)a)->meta, &((const struct kt_hpa *)b)->meta);
}

static int pdb_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_pdb *)a)->meta, &((const struct kt_pdb *)b)->meta);
}

static int ing_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_ingress *)a)->meta, &((const struct kt_ingress *)b)->meta);
}

static int ic_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_ingress_class *)a)->meta,
			&((const struct kt_ingress_class *)b)->meta);
}

static int gwc_cmp(const void *a, const void *b)
{
	return kt_strcmp0(((const struct kt_gw_class *)a)->meta.name, ((const struct kt_gw_class *)b)->meta.name);
}

static int gw_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_gateway *)a)->meta, &((const struct kt_gateway *)b)->meta);
}

static int route_cmp(const void *a, const void *b)
{
	const struct kt_route *x = a, *y = b;
	int c = meta_cmp(&x->meta, &y->meta);
	if (!c && x->kind != y->kind)
		c = x->kind < y->kind ? -1 : 1;
	return c;
}

static int cm_cmp(const void *a, const void *b)
{
	return meta_cmp(&((const struct kt_configmap *)a)->meta, &((const struct kt_configmap *)b)->meta);
}

static int crp_cmp(const void *a, const void *b)
{
	const struct kt_cr_pods *x = a, *y = b;
	int c = kt_strcmp0(x->meta.namespace, y->meta.namespace);
	if (!c)
		c = kt_strcmp0(x->meta.kind, y->meta.kind);
	return c ? c : kt_strcmp0(x->meta.name, y->meta.name);
}

/* IPs compare numerically-ish: by length first for IPv4 dotted quads would
 * be wrong, so compare parsed bytes when both parse. */
#include <arpa/inet.h>
int kt_ip_cmp(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = 0, fb = 0;
	if (a && inet_pton(AF_INET, a, x) == 1)
		fa = 4;
	else if (a && inet_pton(AF_INET6, a, x) == 1)
		fa = 6;
	if (b && inet_pton(AF_INET, b, y) == 1)
		fb = 4;
	else if (b && inet_pton(AF_INET6, b, y) == 1)
		fb = 6;
	if (fa && fb) {
		if (fa != fb)
			return fa < fb ? -1 : 1;
		return memcmp(x, y, fa == 4 ? 4 : 16);
	}
	return kt_strcmp0(a, b);
}

static int ep_cmp(const void *a, const void *b)
{
	const struct kt_endpoint *x = a, *y = b;
	int c = kt_strcmp0(x->namespace, y->namespace);
	if (!c)
		c = kt_strcmp0(x->service, y->service);
	if (!c)
		c = kt_strcmp0(x->port_name, y->port_name);
	if (!c)
		c = kt_ip_cmp(x->ip, y->ip);
	if (!c)
		c = x->port - y->port;
	if (!c)
		c = kt_strcmp0(x->slice, y->slice);
	return c;
}

static int dpsvc_cmp(const void *a, const void *b)
{
	const struct kt_dp_service *x = a, *y = b;
	int c = kt_strcmp0(x->namespace, y->namespace);
	if (!c)
		c = kt_strcmp0(x->name, y->name);
	if (!c)
		c = kt_strcmp0(x->port_name, y->port_name);
	if (!c)
		c = kt_strcmp0(x->protocol, y->protocol);
	if (!c)
		c = (int)x->mode - (int)y->mode;
	return c;
}

static int dpnode_cmp(const void *a, const void *b)
{
	return kt_strcmp0(((const struct kt_dp_node *)a)->node, ((const struct kt_dp_node *)b)->node);
}

static int flow_cmp(const void *a, const void *b)
{
	return kt_strcmp0(((const struct kt_flow_sample *)a)->node, ((const struct kt_flow_sample *)b)->node);
}

#define SORT(arr, n, cmp) do { if ((n) > 1) qsort((arr), (n), sizeof(*(arr)), (cmp)); } while (0)

uint32_t kt_lower_bound(const void *base, uint32_t n, size_t size, const void *key,
			int (*cmp)(const void *key, const void *elem, void *ctx), void *ctx)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cmp(key, (const char *)base + (size_t)mid * size, ctx) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t kt_bsearch_ix(const void *base, uint32_t n, size_t size, const void *key,
		       int (*cmp)(const void *key, const void *elem, void *ctx), void *ctx)
{
	uint32_t i = kt_lower_bound(base, n, size, key, cmp, ctx);
	return i < n && cmp(key, (const char *)base + (size_t)i * size, ctx) == 0 ? i : KT_NONE;
}

/* qsort-style comparators as kt_bsearch_ix comparators */
static int by_qsort_cmp(const void *key, const void *elem, void *ctx)
{
	return ((int (*)(const void *, const void *))ctx)(key, elem);
}

uint32_t kt_find_workload(const struct kt_snapshot *s, const char *ns, enum kt_wl_kind kind, const char *name)
{
	struct kt_workload key = {.kind = kind};
	key.meta.namespace = ns;
	key.meta.name = name;
	return kt_bsearch_ix(s->workloads, s->n_workloads, sizeof(*s->workloads), &key, by_qsort_cmp, (void *)wl_cmp);
}

static enum kt_wl_kind kind_of(const char *k, bool *ok)
{
	static const struct {
		const char *n;
		enum kt_wl_kind k;
	} m[] = {{"Deployment", KT_WL_DEPLOYMENT}, {"StatefulSet", KT_WL_STATEFULSET},
		 {"DaemonSet", KT_WL_DAEMONSET},   {"ReplicaSet", KT_WL_REPLICASET},
		 {"Job", KT_WL_JOB},               {"CronJob", KT_WL_CRONJOB}};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (k && strcmp(k, m[i].n) == 0) {
			*ok = true;
			return m[i].k;
		}
	*ok = false;
	return KT_WL_POD;
}

static uint32_t controller_of(const struct kt_snapshot *s, const struct kt_meta *m)
{
	for (uint32_t i = 0; i < m->n_owners; i++) {
		bool ok;
		enum kt_wl_kind k = kind_of(m->owners[i].kind, &ok);
		if (!ok)
			continue;
		uint32_t ix = kt_find_workload(s, m->namespace, k, m->owners[i].name);
		if (ix != KT_NONE)
			return ix;
	}
	return KT_NONE;
}

void kt_snapshot_finish(struct kt_snapshot *s)
{
	SORT(s->services, s->n_services, svc_cmp);
	SORT(s->endpoints, s->n_endpoints, ep_cmp);
	SORT(s->pods, s->n_pods, pod_cmp);
	SORT(s->nodes, s->n_nodes, node_cmp);
	SORT(s->workloads, s->n_workloads, wl_cmp);
	SORT(s->hpas, s->n_hpas, hpa_cmp);
	SORT(s->pdbs, s->n_pdbs, pdb_cmp);
	SORT(s->ingresses, s->n_ingresses, ing_cmp);
	SORT(s->ingress_classes, s->n_ingress_classes, ic_cmp);
	SORT(s->gateway_classes, s->n_gateway_classes, gwc_cmp);
	SORT(s->gateways, s->n_gateways, gw_cmp);
	SORT(s->routes, s->n_routes, route_cmp);
	SORT(s->configmaps, s->n_configmaps, cm_cmp);
	SORT(s->cr_pods, s->n_cr_pods, crp_cmp);
	SORT(s->dp, s->n_dp, dpnode_cmp);
	SORT(s->flows, s->n_flows, flow_cmp);

	for (uint32_t i = 0; i < s->n_services; i++) {
		s->services[i].ep_first = 0;
		s->services[i].ep_count = 0;
	}
	for (uint32_t i = 0; i < s->n_endpoints; i++) {
		struct kt_endpoint *e = &s->endpoints[i];
		e->svc = kt_find_service(s, e->namespace, e->service);
		e->node_ix = e->node ? kt_find_node(s, e->node) : KT_NONE;
		e->pod = KT_NONE;
		if (e->target_name && (!e->target_kind || strcmp(e->target_kind, "Pod") == 0))
			e->pod = kt_find_pod(s, e->namespace, e->target_name);
		if (e->svc != KT_NONE) {
			struct kt_service *sv = &s->services[e->svc];
			if (sv->ep_count == 0)
				sv->ep_first = i;
			sv->ep_count++;
		}
	}
	for (uint32_t i = 0; i < s->n_workloads; i++)
		s->workloads[i].owner = controller_of(s, &s->workloads[i].meta);
	for (uint32_t i = 0; i < s->n_pods; i++) {
		struct kt_pod *p = &s->pods[i];
		p->node_ix = p->spec.node_name ? kt_find_node(s, p->spec.node_name) : KT_NONE;
		uint32_t w = controller_of(s, &p->meta);
		if (w != KT_NONE && s->workloads[w].owner != KT_NONE)
			w = s->workloads[w].owner;
		p->workload = w;
	}
	for (uint32_t i = 0; i < s->n_gateways; i++)
		s->gateways[i].gw_class = kt_find_gateway_class(s, s->gateways[i].class_name);
	for (uint32_t i = 0; i < s->n_routes; i++) {
		struct kt_route *r = &s->routes[i];
		for (uint32_t j = 0; j < r->n_parents; j++) {
			struct kt_route_parent *p = &r->parents[j];
			bool gw = !p->kind || !strcmp(p->kind, "Gateway");
			p->gateway = gw ? kt_find_gateway(s, p->namespace ? p->namespace : r->meta.namespace, p->name)
					: KT_NONE;
		}
	}
	for (uint32_t i = 0; i < s->n_dp; i++) {
		struct kt_dp_node *d = &s->dp[i];
		SORT(d->svcs, d->n_svcs, dpsvc_cmp);
		for (uint32_t j = 0; j < d->n_svcs; j++)
			d->svcs[j].svc = kt_find_service(s, d->svcs[j].namespace, d->svcs[j].name);
	}
	if (!s->taken)
		s->taken = (int64_t)time(NULL);
	s->finished = true;
}

uint32_t kt_find_service(const struct kt_snapshot *s, const char *ns, const char *name)
{
	struct kt_service key;
	key.meta.namespace = ns;
	key.meta.name = name;
	return kt_bsearch_ix(s->services, s->n_services, sizeof(*s->services), &key, by_qsort_cmp, (void *)svc_cmp);
}

uint32_t kt_find_node(const struct kt_snapshot *s, const char *name)
{
	struct kt_node key;
	key.meta.name = name;
	return kt_bsearch_ix(s->nodes, s->n_nodes, sizeof(*s->nodes), &key, by_qsort_cmp, (void *)node_cmp);
}

uint32_t kt_find_pod(const struct kt_snapshot *s, const char *ns, const char *name)
{
	struct kt_pod key;
	key.meta.namespace = ns;
	key.meta.name = name;
	return kt_bsearch_ix(s->pods, s->n_pods, sizeof(*s->pods), &key, by_qsort_cmp, (void *)pod_cmp);
}

/* Binary search over a sorted array of structs that start with (or hold
 * at off) a struct kt_meta, by (namespace, name). */
static uint32_t find_meta(const void *base, uint32_t n, size_t elem, size_t off, const char *ns, const char *name)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct kt_meta *m = (const struct kt_meta *)((const char *)base + (size_t)mid * elem + off);
		int c = kt_strcmp0(ns, m->namespace);
		if (!c)
			c = kt_strcmp0(name, m->name);
		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return KT_NONE;
}

uint32_t kt_find_ingress(const struct kt_snapshot *s, const char *ns, const char *name)
{
	return find_meta(s->ingresses, s->n_ingresses, sizeof(*s->ingresses), offsetof(struct kt_ingress, meta), ns,
			 name);
}

uint32_t kt_find_gateway(const struct kt_snapshot *s, const char *ns, const char *name)
{
	return find_meta(s->gateways, s->n_gateways, sizeof(*s->gateways), offsetof(struct kt_gateway, meta), ns,
			 name);
}

uint32_t kt_find_route(const struct kt_snapshot *s, enum kt_route_kind kind, const char *ns, const char *name)
{
	uint32_t i = find_meta(s->routes, s->n_routes, sizeof(*s->routes), offsetof(struct kt_route, meta), ns, name);
	if (i == KT_NONE)
		return KT_NONE;
	/* the same name as an HTTPRoute and a GRPCRoute: neighbours */
	while (i > 0 && !meta_cmp(&s->routes[i - 1].meta, &s->routes[i].meta))
		i--;
	for (; i < s->n_routes && !meta_cmp(&s->routes[i].meta, &(struct kt_meta){.namespace = ns, .name = name}); i++)
		if (s->routes[i].kind == kind)
			return i;
	return KT_NONE;
}

static uint32_t find_named(const void *base, uint32_t n, size_t elem, size_t off, const char *name)
{
	uint32_t lo = 0, hi = n;
	while (name && lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct kt_meta *m = (const struct kt_meta *)((const char *)base + (size_t)mid * elem + off);
		int c = kt_strcmp0(name, m->name);
		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return KT_NONE;
}

uint32_t kt_find_ingress_class(const struct kt_snapshot *s, const char *name)
{
	return find_named(s->ingress_classes, s->n_ingress_classes, sizeof(*s->ingress_classes),
			  offsetof(struct kt_ingress_class, meta), name);
}

uint32_t kt_find_gateway_class(const struct kt_snapshot *s, const char *name)
{
	return find_named(s->gateway_classes, s->n_gateway_classes, sizeof(*s->gateway_classes),
			  offsetof(struct kt_gw_class, meta), name);
}

const char *kt_route_kind_name(enum kt_route_kind k)
{
	return k == KT_ROUTE_GRPC ? "GRPCRoute" : "HTTPRoute";
}

/* ConfigMap keys of ingress controllers that decide whether the client
 * address reaches the backends (ingress-nginx; HAProxy's controllers). */
const char *const kt_ctrl_config_keys[] = {
	"use-proxy-protocol", "use-forwarded-headers", "compute-full-forwarded-for", "enable-real-ip",
	"forwarded-for-header", "proxy-real-ip-cidr", "real-ip-header",
	"forwarded-for", "proxy-protocol", "real-ip", NULL,
};

uint32_t kt_listed_bit(const char *kind)
{
	static const struct {
		const char *kind, *plural;
		uint32_t bit;
	} m[] = {
		{"Service", "services", KT_LISTED_SERVICES},
		{"EndpointSlice", "endpointslices", KT_LISTED_ENDPOINTSLICES},
		{"Pod", "pods", KT_LISTED_PODS},
		{"Node", "nodes", KT_LISTED_NODES},
		{"Deployment", "deployments", KT_LISTED_WORKLOADS},
		{"StatefulSet", "statefulsets", KT_LISTED_WORKLOADS},
		{"DaemonSet", "daemonsets", KT_LISTED_WORKLOADS},
		{"ReplicaSet", "replicasets", KT_LISTED_WORKLOADS},
		{"HorizontalPodAutoscaler", "horizontalpodautoscalers", KT_LISTED_HPAS},
		{"PodDisruptionBudget", "poddisruptionbudgets", KT_LISTED_PDBS},
		{"Ingress", "ingresses", KT_LISTED_INGRESSES},
		{"IngressClass", "ingressclasses", KT_LISTED_INGRESSCLASSES},
		{"Gateway", "gateways", KT_LISTED_GATEWAYS},
		{"GatewayClass", "gatewayclasses", KT_LISTED_GATEWAYCLASSES},
		{"HTTPRoute", "httproutes", KT_LISTED_ROUTES},
		{"GRPCRoute", "grpcroutes", KT_LISTED_ROUTES},
	};
	for (size_t i = 0; kind && i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(kind, m[i].kind) || !strcmp(kind, m[i].plural))
			return m[i].bit;
	return 0;
}

bool kt_snapshot_has(const struct kt_snapshot *s, uint32_t bit)
{
	if (s->listed & bit)
		return true;
	switch (bit) {
	case KT_LISTED_SERVICES: return s->n_services > 0;
	case KT_LISTED_ENDPOINTSLICES: return s->n_endpoints > 0;
	case KT_LISTED_PODS: return s->n_pods > 0;
	case KT_LISTED_NODES: return s->n_nodes > 0;
	case KT_LISTED_WORKLOADS: return s->n_workloads > 0;
	case KT_LISTED_HPAS: return s->n_hpas > 0;
	case KT_LISTED_PDBS: return s->n_pdbs > 0;
	case KT_LISTED_INGRESSES: return s->n_ingresses > 0;
	case KT_LISTED_INGRESSCLASSES: return s->n_ingress_classes > 0;
	case KT_LISTED_GATEWAYS: return s->n_gateways > 0;
	case KT_LISTED_GATEWAYCLASSES: return s->n_gateway_classes > 0;
	case KT_LISTED_ROUTES: return s->n_routes > 0;
	}
	return false;
}

const char *kt_kv_get(const struct kt_kvlist *l, const char *key)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i].key[0] == key[0] && strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

bool kt_labels_match_map(const struct kt_kvlist *sel, const struct kt_kvlist *labels)
{
	if (sel->n == 0)
		return false;
	for (uint32_t i = 0; i < sel->n; i++) {
		const char *v = kt_kv_get(labels, sel->v[i].key);
		if (!v || strcmp(v, sel->v[i].value ? sel->v[i].value : "") != 0)
			return false;
	}
	return true;
}

bool kt_selector_match(const struct kt_selector *sel, const struct kt_kvlist *labels)
{
	if (!sel->present)
		return false;
	for (uint32_t i = 0; i < sel->match_labels.n; i++) {
		const char *v = kt_kv_get(labels, sel->match_labels.v[i].key);
		if (!v || strcmp(v, sel->match_labels.v[i].value ? sel->match_labels.v[i].value : "") != 0)
			return false;
	}
	for (uint32_t i = 0; i < sel->n_exprs; i++) {
		const struct kt_selreq *r = &sel->exprs[i];
		const char *v = kt_kv_get(labels, r->key);
		bool in = false;
		for (uint32_t j = 0; v && j < r->n_values; j++)
			if (strcmp(v, r->values[j]) == 0)
				in = true;
		switch (r->op) {
		case KT_SEL_IN:
			if (!in)
				return false;
			break;
		case KT_SEL_NOTIN:
			if (in)
				return false;
			break;
		case KT_SEL_EXISTS:
			if (!v)
				return false;
			break;
		case KT_SEL_NOTEXISTS:
			if (v)
				return false;
			break;
		}
	}
	return true;
}

int32_t kt_resolve_target_port(const struct kt_svc_port *sp, const struct kt_podspec *spec)
{
	if (!sp->target.name)
		return sp->target.num ? sp->target.num : sp->port;
	for (uint32_t i = 0; i < spec->n_containers; i++) {
		const struct kt_container *c = &spec->containers[i];
		if (c->init && !c->sidecar)
			continue;
		for (uint32_t j = 0; j < c->n_ports; j++) {
			const struct kt_cport *p = &c->ports[j];
			if (p->name && strcmp(p->name, sp->target.name) == 0 &&
			    strcasecmp(p->protocol ? p->protocol : "TCP", sp->protocol ? sp->protocol : "TCP") == 0)
				return p->port;
		}
	}
	return 0;
}

const char *kt_svc_type_name(enum kt_svc_type t)
{
	switch (t) {
	case KT_SVC_CLUSTERIP: return "ClusterIP";
	case KT_SVC_NODEPORT: return "NodePort";
	case KT_SVC_LOADBALANCER: return "LoadBalancer";
	case KT_SVC_EXTERNALNAME: return "ExternalName";
	}
	return "ClusterIP";
}

const char *kt_wl_kind_name(enum kt_wl_kind k)
{
	switch (k) {
	case KT_WL_DEPLOYMENT: return "Deployment";
	case KT_WL_STATEFULSET: return "StatefulSet";
	case KT_WL_DAEMONSET: return "DaemonSet";
	case KT_WL_REPLICASET: return "ReplicaSet";
	case KT_WL_JOB: return "Job";
	case KT_WL_CRONJOB: return "CronJob";
	case KT_WL_POD: return "Pod";
	}
	return "Pod";
}

const struct kt_fieldpos *kt_meta_field(const struct kt_meta *m, const char *path)
{
	const struct kt_fieldpos *best = NULL;
	size_t bestlen = 0;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const char *p = m->fields[i].path;
		size_t l = strlen(p);
		if (strcmp(p, path) == 0)
			return &m->fields[i];
		if (l > bestlen && strncmp(p, path, l) == 0 && (path[l] == '.' || path[l] == '[')) {
			best = &m->fields[i];
			bestlen = l;
		}
	}
	return best;
}

const char *kt_dp_mode_name(enum kt_dp_mode m)
{
	switch (m) {
	case KT_DP_IPTABLES_NFT: return "iptables-nft";
	case KT_DP_IPTABLES_LEGACY: return "iptables-legacy";
	case KT_DP_NFTABLES: return "nftables";
	case KT_DP_IPVS: return "ipvs";
	case KT_DP_CILIUM: return "cilium";
	case KT_DP_MODE_COUNT: break;
	}
	return "unknown";
}

const char *kt_fe_kind_name(enum kt_fe_kind k)
{
	switch (k) {
	case KT_FE_CLUSTERIP: return "clusterIP";
	case KT_FE_NODEPORT: return "nodePort";
	case KT_FE_EXTERNALIP: return "externalIP";
	case KT_FE_LOADBALANCER: return "loadBalancer";
	case KT_FE_HEALTHCHECK: return "healthCheck";
	case KT_FE_EXTERNAL: return "external";
	}
	return "clusterIP";
}

const char *kt_dp_action_name(enum kt_dp_action a)
{
	switch (a) {
	case KT_DP_FORWARD: return "forward";
	case KT_DP_REJECT: return "reject";
	case KT_DP_DROP: return "drop";
	}
	return "forward";
}

const char *kt_share_basis_name(enum kt_share_basis b)
{
	switch (b) {
	case KT_SHARE_PROBABILITY: return "probability";
	case KT_SHARE_WEIGHT: return "weight";
	case KT_SHARE_CONNECTIONS: return "connections";
	case KT_SHARE_HASH: return "hash";
	}
	return "probability";
}

bool kt_dp_share_known(const struct kt_dp_service *s)
{
	if (s->share_basis == KT_SHARE_PROBABILITY || s->share_basis == KT_SHARE_WEIGHT)
		return true;
	/* Cilium Maglev: the lookup-table share of a 5-tuple hash */
	return s->share_basis == KT_SHARE_HASH && s->mode == KT_DP_CILIUM;
}
