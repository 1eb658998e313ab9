/*
 * The source layer, API objects half: kt_source_load() (include/ktrace/
 * source.h) decides live API vs bundle / kubectl List / demo, turns the
 * command's KT_WANT_* bits and its scope (namespace, one Service, the
 * Services of a workload, -l) into API requests or a bundle read, writes
 * the bundle when collecting, asks collectors/source_node.c for node
 * state, and resolves the scope into snap->focus. It also owns the honest
 * failures: a namespace or Service that does not exist (exit 3 with close
 * names), a server that answers 404 without being a Kubernetes API server,
 * and the kinds an answer lacks (focus.missing). Prints nothing: -v lines
 * go through kt_log, everything else into the kt_diag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collectors/source_int.h"
#include "ktrace/bundle.h"
#include "ktrace/dataplane.h"
#include "ktrace/manifest.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

#define KT_SRC_MAX_REQS 24
#define KT_SRC_MAX_TARGETS 16   /* Services of one name (-A) or of one workload read one by one */

struct plan {
	struct kt_list_req r[KT_SRC_MAX_REQS];
	unsigned n;
};

static struct kt_list_req *plan_add(struct plan *p, enum kt_res res, const char *ns, bool optional)
{
	if (p->n >= KT_SRC_MAX_REQS)
		return NULL;
	struct kt_list_req *r = &p->r[p->n++];
	memset(r, 0, sizeof(*r));
	r->res = res;
	r->ns = ns;
	r->optional = optional;
	return r;
}

/* The kinds of wants that live in a namespace (ns NULL: every namespace),
 * except Services, EndpointSlices and Pods, which the callers scope. */
static void plan_cluster_kinds(struct plan *p, unsigned wants, const char *ns)
{
	if (wants & KT_WANT_NODES)
		plan_add(p, KT_RES_NODES, NULL, true);
	if (wants & KT_WANT_WORKLOADS) {
		plan_add(p, KT_RES_DEPLOYMENTS, ns, true);
		plan_add(p, KT_RES_STATEFULSETS, ns, true);
		plan_add(p, KT_RES_DAEMONSETS, ns, true);
		plan_add(p, KT_RES_REPLICASETS, ns, true);
		plan_add(p, KT_RES_HPAS, ns, true);
	}
	if (wants & KT_WANT_PDBS)
		plan_add(p, KT_RES_PDBS, ns, true);
	if (wants & KT_WANT_INGRESSES) {
		plan_add(p, KT_RES_INGRESSES, ns, true);
		plan_add(p, KT_RES_INGRESSCLASSES, NULL, true);
		/* the controllers' client-IP settings, wherever they run (only
		 * those keys are kept) */
		struct kt_list_req *r = plan_add(p, KT_RES_CONFIGMAPS, NULL, true);
		if (r)
			r->label_selector = KT_CTRL_CONFIGMAP_SELECTOR;
	}
	if (wants & KT_WANT_GATEWAYS) {
		/* classes and Gateways cluster-wide: a route's Gateway often
		 * lives in the controller's namespace */
		plan_add(p, KT_RES_GATEWAYCLASSES, NULL, true);
		plan_add(p, KT_RES_GATEWAYS, NULL, true);
		plan_add(p, KT_RES_HTTPROUTES, ns, true);
		plan_add(p, KT_RES_GRPCROUTES, ns, true);
	}
	if (wants & KT_WANT_PROXY) {
		static const char *const cms[] = {"kube-proxy", "kube-proxy-config", "cilium-config"};
		for (unsigned i = 0; i < 3; i++) {
			struct kt_list_req *r = plan_add(p, KT_RES_CONFIGMAPS, "kube-system", true);
			if (r) {
				r->name = cms[i];
				r->absent_ok = true; /* a kube-proxy cluster has no cilium-config: not a gap */
			}
		}
	}
}

/* "k=v,k2=v2" from a Service's selector (arena). */
static const char *selector_string(struct kt_arena *a, const struct kt_kvlist *l)
{
	size_t len = 1;
	for (uint32_t i = 0; i < l->n; i++)
		len += strlen(l->v[i].key) + strlen(l->v[i].value) + 2;
	char *s = kt_arena_alloc(a, len);
	size_t o = 0;
	s[0] = 0;
	for (uint32_t i = 0; i < l->n; i++)
		o += (size_t)snprintf(s + o, len - o, "%s%s=%s", i ? "," : "", l->v[i].key, l->v[i].value);
	return s;
}

/* ---- the client and the namespace ------------------------------------ */

int kt_src_client(struct kt_src *x)
{
	if (x->k)
		return 0;
	if (x->sc->client && *x->sc->client) {
		x->k = *x->sc->client;
		return 0;
	}
	int rc = kt_kube_open(&x->sc->kube, &x->k, x->d);
	if (rc < 0)
		return rc;
	if (x->sc->client)
		*x->sc->client = x->k;
	else
		x->own_client = true;
	return 0;
}

const char *kt_source_namespace(const struct kt_scope *sc, const char *bundle_context)
{
	static char buf[256];
	if (sc->namespace)
		return sc->namespace;
	struct kt_kube_opts o = sc->kube;
	struct kt_kube *k = NULL;
	struct kt_diag d = {0};
	o.progress = NULL;
	if (!sc->from && sc->client && *sc->client)
		return kt_kube_namespace(*sc->client);
	if (sc->from && !o.context)
		o.context = bundle_context; /* NULL (a kubectl List): the current context */
	if (kt_kube_open(&o, &k, &d) < 0) {
		kt_log(1, "namespace 'default': %s%s%s%s", sc->from && bundle_context ? "the bundle's context '" : "",
		       sc->from && bundle_context ? bundle_context : "", sc->from && bundle_context ? "' is not usable: " : "",
		       d.msg);
		return "default";
	}
	snprintf(buf, sizeof(buf), "%s", kt_kube_namespace(k));
	kt_log(1, "namespace '%s': the namespace of context '%s'%s", buf, kt_kube_context(k) ? kt_kube_context(k) : "(in-cluster)",
	       sc->from ? " in the kubeconfig (as live)" : "");
	if (!sc->from && sc->client)
		*sc->client = k;
	else
		kt_kube_close(k);
	return buf;
}

/* The namespace the scope is about: a named Service's or workload's (-n,
 * else the context's); for lists -n, else every namespace. */
static const char *scope_ns(struct kt_src *x, const char *bundle_context)
{
	const struct kt_scope *sc = x->sc;
	if (sc->svc_namespace)
		return sc->svc_namespace;
	if (sc->svc_name && sc->all_namespaces)
		return NULL;
	if (sc->svc_name || sc->workload_name)
		return kt_source_namespace(sc, bundle_context);
	return sc->all_namespaces ? NULL : sc->namespace;
}

/* ---- is it Kubernetes at all? ----------------------------------------- */

/* After a 404 (or a body that is not a Kubernetes response): does the
 * server answer GET /version? If not, d says what the server is not. */
static bool not_kubernetes(struct kt_src *x, const char *what_failed)
{
	struct kt_arena *a = kt_arena_new();
	const char *ver = NULL;
	struct kt_diag d2 = {0};
	int rc = kt_kube_version(x->k, a, &ver, &d2);
	kt_log(1, "checked: %s; GET %s/version: %s", what_failed, kt_kube_server(x->k), rc == 0 ? ver : d2.msg);
	kt_arena_free(a);
	/* a version, or the same failure before any answer (a bad credential,
	 * an exec plugin's error): the server was not judged */
	if (rc == 0 || !strcmp(d2.msg, what_failed))
		return false;
	kt_diag_reset(x->d);
	kt_diag_set(x->d, KT_EXIT_CLUSTER, "%s is not a Kubernetes API server: %s, and GET /version gave no version (%s)",
		    kt_kube_server(x->k), what_failed, d2.msg);
	kt_diag_hint(x->d, "check the server of context '%s' ('kubectl config view --minify'), or pick another with --context/--kubeconfig",
		     kt_kube_context(x->k) ? kt_kube_context(x->k) : "(in-cluster)");
	return true;
}

/* A list failed: when it looks like "not Kubernetes" (404, a body that is
 * not JSON), say so instead. */
static int fetch_failed(struct kt_src *x, int rc)
{
	if (!x->k)
		return rc;
	if ((x->d->code == KT_EXIT_CLUSTER && strstr(x->d->msg, ": 404 ")) || x->d->code == KT_EXIT_INPUT) {
		char what[sizeof(x->d->msg)];
		snprintf(what, sizeof(what), "%s", x->d->msg);
		if (not_kubernetes(x, what))
			return -KT_EXIT_CLUSTER;
	}
	return rc;
}

/* ---- not found -------------------------------------------------------- */

static bool ns_has_objects(const struct kt_snapshot *s, const char *ns)
{
	for (uint32_t i = 0; i < s->n_services; i++)
		if (!kt_strcmp0(s->services[i].meta.namespace, ns))
			return true;
	for (uint32_t i = 0; i < s->n_pods; i++)
		if (!kt_strcmp0(s->pods[i].meta.namespace, ns))
			return true;
	for (uint32_t i = 0; i < s->n_workloads; i++)
		if (!kt_strcmp0(s->workloads[i].meta.namespace, ns))
			return true;
	for (uint32_t i = 0; i < s->n_endpoints; i++)
		if (!kt_strcmp0(s->endpoints[i].namespace, ns))
			return true;
	for (uint32_t i = 0; i < s->n_dp; i++)
		for (uint32_t k = 0; k < s->dp[i].n_svcs; k++)
			if (!kt_strcmp0(s->dp[i].svcs[k].namespace, ns))
				return true;
	return false;
}

/* Namespaces with objects in a snapshot (sorted, distinct; arena). */
static unsigned snap_namespaces(const struct kt_snapshot *s, struct kt_arena *a, const char ***out)
{
	uint32_t cap = s->n_services + s->n_pods + s->n_workloads + 1, n = 0;
	const char **v = KT_ANEW(a, const char *, cap);
	for (uint32_t i = 0; i < s->n_services; i++)
		v[n++] = s->services[i].meta.namespace;
	for (uint32_t i = 0; i < s->n_pods; i++)
		v[n++] = s->pods[i].meta.namespace;
	for (uint32_t i = 0; i < s->n_workloads; i++)
		v[n++] = s->workloads[i].meta.namespace;
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++) {
		bool dup = !v[i];
		for (uint32_t j = 0; j < m && !dup; j++)
			dup = !strcmp(v[j], v[i]);
		if (!dup)
			v[m++] = v[i];
	}
	*out = v;
	return m;
}

/* "namespace 'x' not found" with close names; where says in what. */
static int ns_not_found(struct kt_src *x, const char *ns, const char *const *cands, unsigned n, const char *where)
{
	struct kt_diag *d = x->d;
	kt_diag_reset(d);
	kt_diag_not_found(d, "namespace", NULL, ns, cands, n);
	if (where) {
		size_t l = strlen(d->msg);
		snprintf(d->msg + l, sizeof(d->msg) - l, " %s", where);
	}
	if (strncmp(d->hint, "did you mean", 12)) {
		char list[512] = "";
		size_t o = 0;
		for (unsigned i = 0; i < n && i < 6 && o < sizeof(list); i++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s'%s'", i ? ", " : "", cands[i]);
		if (n)
			kt_diag_hint(d, "namespaces with objects: %s%s; give -n NAMESPACE", list, n > 6 ? ", ..." : "");
		else
			kt_diag_hint(d, "give -n NAMESPACE (or -A for every namespace)");
	}
	return -KT_EXIT_NOTFOUND;
}

/* Live: does namespace ns exist? 1 yes, 0 no (d filled), -1 cannot tell. */
static int live_ns_exists(struct kt_src *x, const char *ns)
{
	struct kt_snapshot *t = kt_snapshot_new();
	struct kt_list_req r = {.res = KT_RES_NAMESPACES, .name = ns};
	struct kt_diag d2 = {0};
	int rc = kt_kube_fetch(x->k, &r, 1, t, NULL, &d2);
	kt_snapshot_free(t);
	kt_log(1, "checked: GET namespace '%s': %s", ns, rc == 0 ? "exists" : d2.msg);
	if (rc == 0)
		return 1;
	if (rc != -KT_EXIT_NOTFOUND)
		return -1; /* 403 and the like: the lists said what they could */
	struct kt_arena *a = kt_arena_new();
	const char **names = NULL;
	unsigned n = 0;
	struct kt_diag d3 = {0};
	kt_kube_names(x->k, KT_RES_NAMESPACES, NULL, a, &names, &n, &d3);
	char where[300];
	snprintf(where, sizeof(where), "on %s", kt_kube_server(x->k));
	ns_not_found(x, ns, names, n, where);
	kt_arena_free(a);
	return 0;
}

static int bundle_ns_check(struct kt_src *x, const struct kt_snapshot *s, const char *ns)
{
	if (ns_has_objects(s, ns))
		return 0;
	struct kt_arena *a = kt_arena_new();
	const char **names;
	unsigned n = snap_namespaces(s, a, &names);
	char where[600];
	snprintf(where, sizeof(where), "in %s (no object of the input is in it)", s->origin ? s->origin : "the input");
	ns_not_found(x, ns, names, n, where);
	kt_arena_free(a);
	return -KT_EXIT_NOTFOUND;
}

/* Service ns/name is in neither the API objects nor the node state:
 * close names, the namespace if that is what is missing, and the same
 * name in other namespaces. */
static int svc_not_found(struct kt_src *x, const struct kt_snapshot *s, const char *ns, const char *name)
{
	struct kt_arena *a = kt_arena_new();
	const char **api = NULL, **cands, *other[4];
	unsigned n = 0, napi = 0, no = 0;
	struct kt_diag d2 = {0};
	bool live = !x->sc->from && x->k;
	int rc = -KT_EXIT_NOTFOUND;
	if (live) {
		char what[600];
		snprintf(what, sizeof(what), "GET service '%s' in namespace '%s': 404 Not Found", name, ns ? ns : "");
		if (not_kubernetes(x, what)) {
			rc = -KT_EXIT_CLUSTER;
			goto out;
		}
		kt_kube_names(x->k, KT_RES_SERVICES, ns, a, &api, &napi, &d2);
	}
	uint32_t ndp = 0;
	for (uint32_t i = 0; i < s->n_dp; i++)
		ndp += s->dp[i].n_svcs;
	cands = KT_ANEW(a, const char *, napi + s->n_services + ndp + 1);
	for (unsigned i = 0; i < napi; i++)
		cands[n++] = api[i];
	for (uint32_t i = 0; !live && i < s->n_services; i++)
		if (!ns || !kt_strcmp0(s->services[i].meta.namespace, ns))
			cands[n++] = s->services[i].meta.name;
	/* node state has names too (dataplane) */
	for (uint32_t i = 0; i < s->n_dp; i++)
		for (uint32_t k = 0; k < s->dp[i].n_svcs; k++) {
			const struct kt_dp_service *ds = &s->dp[i].svcs[k];
			bool dup = false;
			if (ns && kt_strcmp0(ds->namespace, ns))
				continue;
			for (unsigned m = 0; m < n && !dup; m++)
				dup = !strcmp(cands[m], ds->name);
			if (!dup)
				cands[n++] = ds->name;
		}
	/* the exact name in other namespaces is the most likely mistake (-n) */
	if (live) {
		struct kt_snapshot *t = kt_snapshot_new();
		char fs[300];
		snprintf(fs, sizeof(fs), "metadata.name=%s", name);
		struct kt_list_req r = {.res = KT_RES_SERVICES, .field_selector = fs, .optional = true};
		struct kt_diag d3 = {0};
		if (kt_kube_fetch(x->k, &r, 1, t, NULL, &d3) == 0)
			for (uint32_t i = 0; i < t->n_services && no < 4; i++)
				other[no++] = kt_intern(a, t->services[i].meta.namespace);
		kt_snapshot_free(t);
	} else {
		for (uint32_t i = 0; i < s->n_services && no < 4; i++)
			if (!strcmp(s->services[i].meta.name, name) && kt_strcmp0(s->services[i].meta.namespace, ns))
				other[no++] = s->services[i].meta.namespace;
	}
	if (!n && !no && ns) {
		/* nothing in the namespace: is it the namespace that is wrong? */
		if (live ? live_ns_exists(x, ns) == 0 : bundle_ns_check(x, s, ns) < 0)
			goto out;
	}
	kt_diag_reset(x->d);
	kt_diag_not_found(x->d, "service", ns, name, cands, n);
	if (no) {
		char hint[sizeof(x->d->hint)];
		size_t len = (size_t)snprintf(hint, sizeof(hint), "service '%s' exists in namespace", name);
		for (unsigned i = 0; i < no && len < sizeof(hint); i++)
			len += (size_t)snprintf(hint + len, sizeof(hint) - len, "%s '%s'", i ? "," : "", other[i]);
		if (len < sizeof(hint))
			snprintf(hint + len, sizeof(hint) - len, ": try 'ktrace %s %s/%s'",
				 x->sc->command ? x->sc->command : "path", other[0], name);
		kt_diag_hint(x->d, "%s", hint);
	}
out:
	kt_arena_free(a);
	return rc;
}

static const char *const wl_res_names[] = {"deployment", "statefulset", "daemonset"};

static enum kt_res wl_res(const char *kind, enum kt_wl_kind *wk)
{
	if (!strcmp(kind, "StatefulSet")) {
		*wk = KT_WL_STATEFULSET;
		return KT_RES_STATEFULSETS;
	}
	if (!strcmp(kind, "DaemonSet")) {
		*wk = KT_WL_DAEMONSET;
		return KT_RES_DAEMONSETS;
	}
	*wk = KT_WL_DEPLOYMENT;
	return KT_RES_DEPLOYMENTS;
}

/* The Services of ns that select workload w (by its template labels). */
static unsigned services_of(const struct kt_snapshot *s, const struct kt_workload *w, uint32_t *out, unsigned max)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < s->n_services && n < max; i++) {
		const struct kt_service *sv = &s->services[i];
		if (!kt_strcmp0(sv->meta.namespace, w->meta.namespace) && sv->has_selector &&
		    kt_labels_match_map(&sv->selector, &w->template_labels))
			out[n++] = i;
	}
	return n;
}

static int wl_not_found(struct kt_src *x, const struct kt_snapshot *s, const char *ns, const char *kind,
			const char *name)
{
	enum kt_wl_kind wk;
	enum kt_res res = wl_res(kind, &wk);
	struct kt_arena *a = kt_arena_new();
	const char **cands = NULL;
	unsigned n = 0;
	if (x->k && !x->sc->from) {
		struct kt_diag d2 = {0};
		kt_kube_names(x->k, res, ns, a, &cands, &n, &d2);
	} else {
		cands = KT_ANEW(a, const char *, s->n_workloads + 1);
		for (uint32_t i = 0; i < s->n_workloads; i++)
			if (s->workloads[i].kind == wk && !kt_strcmp0(s->workloads[i].meta.namespace, ns))
				cands[n++] = s->workloads[i].meta.name;
	}
	kt_diag_reset(x->d);
	kt_diag_not_found(x->d, wl_res_names[wk == KT_WL_STATEFULSET ? 1 : wk == KT_WL_DAEMONSET ? 2 : 0], ns, name,
			  cands, n);
	kt_arena_free(a);
	return -KT_EXIT_NOTFOUND;
}

/* ---- live ------------------------------------------------------------- */

static int fetch(struct kt_src *x, struct plan *p, struct kt_snapshot *s)
{
	if (!p->n)
		return 0;
	kt_log(1, "reading %u resource list%s from %s", p->n, p->n == 1 ? "" : "s", kt_kube_server(x->k));
	int rc = kt_kube_fetch(x->k, p->r, p->n, s, x->bw, x->d);
	return rc < 0 ? fetch_failed(x, rc) : 0;
}

/* Pods selected by the Services in targets (one request each). */
static int fetch_target_pods(struct kt_src *x, struct kt_snapshot *s, const uint32_t *targets, unsigned nt)
{
	struct plan p = {0};
	for (unsigned i = 0; i < nt; i++) {
		const struct kt_service *sv = &s->services[targets[i]];
		if (!sv->has_selector || !sv->selector.n)
			continue;
		struct kt_list_req *r = plan_add(&p, KT_RES_PODS, sv->meta.namespace, !(x->wants & KT_WANT_STRICT));
		if (r)
			r->label_selector = selector_string(s->arena, &sv->selector);
	}
	return fetch(x, &p, s);
}

static unsigned find_named(const struct kt_snapshot *s, const char *ns, const char *name, uint32_t *out, unsigned max)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < s->n_services && n < max; i++)
		if (!strcmp(s->services[i].meta.name, name) && (!ns || !kt_strcmp0(s->services[i].meta.namespace, ns)))
			out[n++] = i;
	return n;
}

/* One Service (ns known), or every Service of that name (ns NULL, -A). */
static int live_service(struct kt_src *x, struct kt_snapshot *s, const char *ns)
{
	const struct kt_scope *sc = x->sc;
	unsigned w = x->wants;
	struct plan p = {0};
	char *lsel = kt_arena_printf(s->arena, "kubernetes.io/service-name=%s", sc->svc_name);
	struct kt_list_req *r = plan_add(&p, KT_RES_SERVICES, ns, false);
	if (ns) {
		r->name = sc->svc_name;
		r->absent_ok = true; /* not found is decided below, with close names */
	} else {
		r->field_selector = kt_arena_printf(s->arena, "metadata.name=%s", sc->svc_name);
	}
	if (w & KT_WANT_SLICES)
		plan_add(&p, KT_RES_ENDPOINTSLICES, ns, !(w & KT_WANT_STRICT))->label_selector = lsel;
	plan_cluster_kinds(&p, w, ns);
	int rc = fetch(x, &p, s);
	if (rc < 0)
		return rc;
	kt_snapshot_finish(s);
	uint32_t t[KT_SRC_MAX_TARGETS];
	unsigned nt = find_named(s, ns, sc->svc_name, t, KT_SRC_MAX_TARGETS);
	if (!nt)
		return 0; /* decided after node state (dataplane knows Services the API lost) */
	if (w & KT_WANT_PODS)
		rc = fetch_target_pods(x, s, t, nt);
	return rc;
}

/* The Services that select a workload, and what they need. */
static int live_workload(struct kt_src *x, struct kt_snapshot *s, const char *ns)
{
	const struct kt_scope *sc = x->sc;
	unsigned w = x->wants;
	enum kt_wl_kind wk;
	struct plan p = {0};
	plan_add(&p, KT_RES_SERVICES, ns, false);
	struct kt_list_req *r = plan_add(&p, wl_res(sc->workload_kind, &wk), ns, false);
	r->name = sc->workload_name;
	r->absent_ok = true;
	int rc = fetch(x, &p, s);
	if (rc < 0)
		return rc;
	kt_snapshot_finish(s);
	uint32_t wi = kt_find_workload(s, ns, wk, sc->workload_name);
	if (wi == KT_NONE)
		return wl_not_found(x, s, ns, sc->workload_kind, sc->workload_name);
	uint32_t t[KT_SRC_MAX_TARGETS];
	unsigned nt = services_of(s, &s->workloads[wi], t, KT_SRC_MAX_TARGETS);
	if (!nt)
		return 0; /* said after loading (kt_src_focus) */
	struct plan p2 = {0};
	if (w & KT_WANT_SLICES) {
		size_t len = 64;
		for (unsigned i = 0; i < nt; i++)
			len += strlen(s->services[t[i]].meta.name) + 1;
		char *sel = kt_arena_alloc(s->arena, len);
		size_t o = (size_t)snprintf(sel, len, "kubernetes.io/service-name in (");
		for (unsigned i = 0; i < nt; i++)
			o += (size_t)snprintf(sel + o, len - o, "%s%s", i ? "," : "", s->services[t[i]].meta.name);
		snprintf(sel + o, len - o, ")");
		plan_add(&p2, KT_RES_ENDPOINTSLICES, ns, !(w & KT_WANT_STRICT))->label_selector = sel;
	}
	plan_cluster_kinds(&p2, w & ~KT_WANT_WORKLOADS, ns);
	rc = fetch(x, &p2, s);
	if (rc == 0 && (w & KT_WANT_PODS))
		rc = fetch_target_pods(x, s, t, nt);
	return rc;
}

/* Everything wants asks for in ns (NULL: every namespace). */
static int live_lists(struct kt_src *x, struct kt_snapshot *s, const char *ns)
{
	unsigned w = x->wants;
	bool strict = w & KT_WANT_STRICT;
	struct plan p = {0};
	if (w & KT_WANT_SERVICES)
		plan_add(&p, KT_RES_SERVICES, ns, false)->label_selector = x->sc->selector;
	if (w & KT_WANT_SLICES)
		plan_add(&p, KT_RES_ENDPOINTSLICES, ns, !strict);
	if (w & KT_WANT_PODS)
		plan_add(&p, KT_RES_PODS, ns, !strict);
	plan_cluster_kinds(&p, w, ns);
	int rc = fetch(x, &p, s);
	if (rc < 0)
		return rc;
	kt_snapshot_finish(s);
	/* an empty namespace may be a typo (exit 3), or just empty */
	if (ns && x->sc->namespace && !ns_has_objects(s, ns) && live_ns_exists(x, ns) == 0)
		return -KT_EXIT_NOTFOUND;
	return 0;
}

static int live_objects(struct kt_src *x, struct kt_snapshot *s)
{
	const struct kt_scope *sc = x->sc;
	int rc = kt_src_client(x);
	if (rc < 0)
		return rc;
	s->source = kt_intern(s->arena, "api");
	s->origin = kt_intern(s->arena, kt_kube_server(x->k));
	s->context = kt_intern(s->arena, kt_kube_context(x->k));
	if (sc->record) {
		const char *ver = NULL;
		struct kt_diag dv = {0};
		if (kt_kube_version(x->k, s->arena, &ver, &dv) == 0)
			s->cluster_version = ver;
		else
			kt_log(1, "cannot read the server version: %s", dv.msg);
		s->taken = (int64_t)time(NULL);
		if ((rc = kt_bundle_create(sc->record, s, &x->bw, x->d)) < 0)
			return rc;
	}
	const char *ns = scope_ns(x, NULL);
	s->focus.ns = ns ? kt_intern(s->arena, ns) : NULL;
	if (sc->svc_name && !sc->svc_view)
		return live_service(x, s, ns);
	if (sc->workload_name)
		return live_workload(x, s, ns);
	return live_lists(x, s, sc->svc_view ? NULL : ns);
}

/* ---- bundles, Lists, demo ---------------------------------------------- */

static int bundle_objects(struct kt_src *x, struct kt_snapshot **out)
{
	const struct kt_scope *sc = x->sc;
	/* namespace-less objects of a file land where `kubectl apply -f` would
	 * put them: -n, else the kubeconfig context's namespace */
	char dns[256] = "default";
	if (sc->namespace)
		snprintf(dns, sizeof(dns), "%s", sc->namespace);
	else if (strcmp(sc->from, "demo")) {
		struct kt_arena *a = kt_arena_new();
		snprintf(dns, sizeof(dns), "%s", kt_kube_config_namespace(&sc->kube, a));
		kt_arena_free(a);
	}
	int rc = kt_bundle_load_ns(sc->from, dns, out, x->d);
	if (rc < 0)
		return rc;
	struct kt_snapshot *s = *out;
	/* what the collecting host could not read is a fact of the bundle */
	for (uint32_t i = 0; i < s->n_gaps; i++)
		s->gaps[i].recorded = true;
	for (uint32_t i = 0; i < s->n_dp; i++)
		s->dp[i].source = kt_intern(s->arena, "bundle");
	const char *ns = scope_ns(x, s->context);
	s->focus.ns = ns ? kt_intern(s->arena, ns) : NULL;
	if (sc->workload_name) {
		enum kt_wl_kind wk;
		wl_res(sc->workload_kind, &wk);
		if (kt_find_workload(s, ns, wk, sc->workload_name) == KT_NONE)
			return wl_not_found(x, s, ns, sc->workload_kind, sc->workload_name);
	} else if ((!sc->svc_name || sc->svc_view) && ns && sc->namespace) {
		return bundle_ns_check(x, s, ns);
	}
	return 0;
}

/* ---- what the answer lacks ----------------------------------------------- */

static unsigned res_want(enum kt_res r)
{
	switch (r) {
	case KT_RES_SERVICES: return KT_WANT_SERVICES;
	case KT_RES_ENDPOINTSLICES: return KT_WANT_SLICES;
	case KT_RES_PODS: return KT_WANT_PODS;
	case KT_RES_NODES: return KT_WANT_NODES;
	case KT_RES_DEPLOYMENTS:
	case KT_RES_STATEFULSETS:
	case KT_RES_DAEMONSETS:
	case KT_RES_REPLICASETS:
	case KT_RES_HPAS: return KT_WANT_WORKLOADS;
	case KT_RES_PDBS: return KT_WANT_PDBS;
	case KT_RES_INGRESSES:
	case KT_RES_INGRESSCLASSES: return KT_WANT_INGRESSES;
	case KT_RES_GATEWAYCLASSES:
	case KT_RES_GATEWAYS:
	case KT_RES_HTTPROUTES:
	case KT_RES_GRPCROUTES: return KT_WANT_GATEWAYS;
	case KT_RES_CONFIGMAPS: return KT_WANT_PROXY;
	default: return 0;
	}
}

/* The KT_WANT_* kind a gap is about ("pods in all namespaces" -> pods). */
unsigned kt_source_gap_kind(const char *what)
{
	if (!what)
		return 0;
	if (!strncmp(what, "node state of node ", 19))
		return KT_WANT_DATAPLANE; /* --nodes: a selected node whose agent did not answer */
	size_t l = strcspn(what, " ");
	for (int r = 0; r < KT_RES_COUNT; r++) {
		const char *n = kt_res_name((enum kt_res)r);
		if (n && strlen(n) == l && !strncmp(n, what, l))
			return res_want((enum kt_res)r);
	}
	return 0;
}

static void missing_kinds(struct kt_src *x, struct kt_snapshot *s)
{
	unsigned want = x->wants & KT_WANT_RULE_KINDS, miss = 0;
	if (s->fleet)
		want |= x->wants & KT_WANT_DATAPLANE; /* every selected node's state was asked for */
	for (uint32_t i = 0; i < s->n_gaps; i++)
		miss |= kt_source_gap_kind(s->gaps[i].what);
	/* kubectl Lists hold only the kinds that were listed */
	if (x->sc->from && !s->bundle_header) {
		if (!s->n_services)
			miss |= KT_WANT_SERVICES;
		if (!s->n_endpoints)
			miss |= KT_WANT_SLICES;
		if (!s->n_pods)
			miss |= KT_WANT_PODS;
	}
	s->focus.missing = miss & want;
}

/* ---- the scope's Services ------------------------------------------------ */

static int focus(struct kt_src *x, struct kt_snapshot *s)
{
	const struct kt_scope *sc = x->sc;
	struct kt_focus *f = &s->focus;
	const char *ns = f->ns;
	if (sc->svc_name) {
		f->services_only = true;
		f->svcs = KT_ANEW(s->arena, uint32_t, KT_SRC_MAX_TARGETS);
		f->n_svcs = find_named(s, ns, sc->svc_name, f->svcs, KT_SRC_MAX_TARGETS);
		if (f->n_svcs)
			return 0;
		if (!s->n_services && (x->wants & KT_WANT_API_OPTIONAL))
			return 0; /* no API objects to look in (node state only) */
		/* dataplane: a Service the node still programs but the API lost */
		if ((x->wants & KT_WANT_NODE_REQUIRED) && kt_src_node_has(s, ns, sc->svc_name))
			return 0;
		if ((x->wants & KT_WANT_NODE_REQUIRED) && kt_src_node_empty(x, s))
			return -KT_EXIT_CLUSTER;
		return svc_not_found(x, s, ns, sc->svc_name);
	}
	if (sc->workload_name) {
		enum kt_wl_kind wk;
		wl_res(sc->workload_kind, &wk);
		uint32_t wi = kt_find_workload(s, ns, wk, sc->workload_name);
		if (wi == KT_NONE)
			return wl_not_found(x, s, ns, sc->workload_kind, sc->workload_name);
		f->services_only = true;
		f->svcs = KT_ANEW(s->arena, uint32_t, KT_SRC_MAX_TARGETS);
		f->n_svcs = services_of(s, &s->workloads[wi], f->svcs, KT_SRC_MAX_TARGETS);
		if (!f->n_svcs) {
			const struct kt_kvlist *l = &s->workloads[wi].template_labels;
			kt_diag_set(x->d, KT_EXIT_NOTFOUND, "no Service selects %s '%s' in namespace '%s'",
				    wl_res_names[wk == KT_WL_STATEFULSET ? 1 : wk == KT_WL_DAEMONSET ? 2 : 0],
				    sc->workload_name, ns ? ns : "");
			kt_diag_hint(x->d, "its Pods carry %s%s%s; 'kubectl expose %s %s' creates a Service for them",
				     l->n ? l->v[0].key : "no labels", l->n ? "=" : "", l->n ? l->v[0].value : "",
				     wl_res_names[wk == KT_WL_STATEFULSET ? 1 : wk == KT_WL_DAEMONSET ? 2 : 0], sc->workload_name);
			return -KT_EXIT_NOTFOUND;
		}
		return 0;
	}
	if (sc->selector && *sc->selector) {
		struct kt_selector sel;
		if (!kt_parse_label_selector(sc->selector, s->arena, &sel)) {
			kt_diag_set(x->d, KT_EXIT_USAGE, "invalid label selector '%s'", sc->selector);
			kt_diag_hint(x->d, "write it as kubectl does: key=value,key!=value,key in (a,b),!key");
			return -KT_EXIT_USAGE;
		}
		f->services_only = true;
		f->svcs = KT_ANEW(s->arena, uint32_t, s->n_services + 1);
		for (uint32_t i = 0; i < s->n_services; i++)
			if ((!ns || !kt_strcmp0(s->services[i].meta.namespace, ns)) &&
			    kt_selector_match(&sel, &s->services[i].meta.labels))
				f->svcs[f->n_svcs++] = i;
	}
	return 0;
}

/* ---- manifests (lint) ------------------------------------------------------ */

int kt_source_manifests(const char *const *paths, unsigned n, const struct kt_manifest_opts *mo,
			struct kt_snapshot **out, struct kt_manifest_result *mr)
{
	struct kt_snapshot *s = kt_snapshot_new();
	s->source = kt_intern(s->arena, "manifests");
	kt_manifest_load_paths(s, paths, n, mo, mr);
	kt_snapshot_finish(s);
	*out = s;
	return 0;
}

/* ---- the one call ---------------------------------------------------------- */

static int load(struct kt_src *x, struct kt_snapshot **out)
{
	const struct kt_scope *sc = x->sc;
	struct kt_snapshot *s = NULL;
	int rc = 0;
	if (sc->from) {
		rc = bundle_objects(x, &s);
		if (rc < 0) {
			kt_snapshot_free(s);
			return rc;
		}
	} else {
		s = kt_snapshot_new();
		if (x->wants & KT_WANT_OBJECTS) {
			rc = live_objects(x, s);
			if (rc < 0 && (x->wants & KT_WANT_API_OPTIONAL) && x->d->code == KT_EXIT_CLUSTER &&
			    kt_node_readable()) {
				/* node-only: frontends and backends from this node's dataplane */
				kt_log(1, "API unavailable (%s): using the node state only", x->d->msg);
				kt_snapshot_free(s);
				s = kt_snapshot_new();
				kt_snapshot_gap(s, "API objects", "%s", x->d->msg);
				kt_diag_reset(x->d);
				rc = 0;
			}
		} else if (sc->record) {
			s->taken = (int64_t)time(NULL);
			rc = kt_bundle_create(sc->record, NULL, &x->bw, x->d);
		}
		if (!s->source)
			s->source = kt_intern(s->arena, "node");
		if (rc < 0) {
			kt_snapshot_free(s);
			return rc;
		}
		kt_snapshot_finish(s);
	}
	rc = kt_src_node_state(x, s);
	if (rc == 0) {
		kt_snapshot_finish(s);
		rc = focus(x, s);
	}
	if (rc < 0) {
		kt_snapshot_free(s);
		return rc;
	}
	missing_kinds(x, s);
	*out = s;
	return 0;
}

int kt_source_load(const struct kt_scope *sc, unsigned wants, struct kt_snapshot **out, struct kt_diag *d)
{
	struct kt_src x = {.sc = sc, .wants = wants, .d = d};
	*out = NULL;
	if (sc->from && sc->record)
		return kt_diag_set(d, KT_EXIT_USAGE, "--from cannot be used when writing a bundle");
	int rc = load(&x, out);
	if (x.bw) {
		if (rc == 0 && kt_bundle_finish(x.bw, *out, d) < 0) {
			kt_snapshot_free(*out);
			*out = NULL;
			rc = -KT_EXIT_INPUT;
		} else if (rc < 0) {
			kt_bundle_abort(x.bw);
		}
	}
	if (x.own_client)
		kt_kube_close(x.k);
	return rc;
}
