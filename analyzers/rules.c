/*
 * The rule engine: builds the rule context once (pod templates from
 * workloads and bare Pods, HPA replica overrides, ingress controllers),
 * runs every rule family (analyzers/rules_svc.c, rules_pod.c,
 * rules_ingress.c), applies suppression (analyzers/suppress.c) and sorts.
 * The same code serves manifests, bundles and live snapshots; live-only
 * rules run when opts->live is set. Pure: no I/O, nothing printed.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyzers/rules_int.h"
#include "ktrace/xalloc.h"

static const char *ns_norm(const char *n)
{
	return (n && *n) ? n : "default";
}

bool kt_ns_eq(const char *a, const char *b)
{
	return strcmp(ns_norm(a), ns_norm(b)) == 0;
}

bool kt_svc_selects(const struct kt_service *sv, const char *ns, const struct kt_kvlist *labels)
{
	if (!sv->has_selector || sv->selector.n == 0 || sv->type == KT_SVC_EXTERNALNAME)
		return false;
	if (!kt_ns_eq(sv->meta.namespace, ns))
		return false;
	return labels && kt_labels_match_map(&sv->selector, labels);
}

/* Labels the workload controller adds to the Pods it creates, which are
 * therefore not in the template: a StatefulSet's per-Pod name and index
 * (per-broker Services of Kafka-style charts select one Pod by them), the
 * ReplicaSet/revision hashes, a Job's name. */
bool kt_ctrl_label(const char *key)
{
	return !strcmp(key, "statefulset.kubernetes.io/pod-name") || !strcmp(key, "apps.kubernetes.io/pod-index") ||
	       !strcmp(key, "pod-template-hash") || !strcmp(key, "controller-revision-hash") ||
	       !strcmp(key, "batch.kubernetes.io/job-name") || !strcmp(key, "job-name");
}

static bool all_digits(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return false;
	return true;
}

/* Would the controller of t give its Pods label key=val? */
static bool ctrl_label_matches(const struct kt_tmpl *t, const char *key, const char *val)
{
	const char *name = t->meta->name ? t->meta->name : "";
	size_t nl = strlen(name);
	switch (t->kind) {
	case KT_WL_STATEFULSET:
		if (!strcmp(key, "statefulset.kubernetes.io/pod-name"))
			return !strncmp(val, name, nl) && val[nl] == '-' && all_digits(val + nl + 1);
		if (!strcmp(key, "apps.kubernetes.io/pod-index"))
			return all_digits(val);
		return !strcmp(key, "controller-revision-hash");
	case KT_WL_DAEMONSET:
		return !strcmp(key, "controller-revision-hash");
	case KT_WL_DEPLOYMENT:
	case KT_WL_REPLICASET:
		return !strcmp(key, "pod-template-hash");
	case KT_WL_JOB:
		return (!strcmp(key, "batch.kubernetes.io/job-name") || !strcmp(key, "job-name")) && !strcmp(val, name);
	default:
		return false;
	}
}

/* Pods an operator creates from a custom resource carry the labels the
 * resource gives them and the operator's own: for Prometheus Operator's
 * kinds those are known (exact), except the shard and version values;
 * other operators may add labels ktrace does not know, so a selector
 * matches when every key it shares with the resource's labels agrees and
 * at least one does. Controller labels (StatefulSet Pod names, hashes)
 * are always possible. */
static bool cr_selects(const struct kt_service *sv, const struct kt_tmpl *t, const struct kt_cr_pods *cr)
{
	uint32_t matched = 0;
	for (uint32_t i = 0; i < sv->selector.n; i++) {
		const char *k = sv->selector.v[i].key ? sv->selector.v[i].key : "";
		const char *want = sv->selector.v[i].value ? sv->selector.v[i].value : "";
		const char *v = kt_kv_get(t->labels, k);
		if (v) {
			if (strcmp(v, want))
				return false;
			matched++;
			continue;
		}
		if (kt_ctrl_label(k) || !cr->exact)
			continue;
		if (!strcmp(k, "app.kubernetes.io/version") ||
		    (!strcmp(k, "operator.prometheus.io/shard") && all_digits(want)))
			continue;
		return false;
	}
	return matched > 0;
}

bool kt_svc_selects_tmpl(const struct kt_service *sv, const struct kt_tmpl *t)
{
	if (!sv->has_selector || sv->selector.n == 0 || sv->type == KT_SVC_EXTERNALNAME)
		return false;
	if (!kt_ns_eq(sv->meta.namespace, t->meta->namespace) || !t->labels)
		return false;
	if (t->cr != KT_NONE)
		return cr_selects(sv, t, t->cr_pods);
	for (uint32_t i = 0; i < sv->selector.n; i++) {
		const char *k = sv->selector.v[i].key ? sv->selector.v[i].key : "";
		const char *want = sv->selector.v[i].value ? sv->selector.v[i].value : "";
		const char *v = kt_kv_get(t->labels, k);
		if (v && !strcmp(v, want))
			continue;
		if (v || !ctrl_label_matches(t, k, want))
			return false;
	}
	return true;
}

bool kt_tmpl_in_scope(const struct kt_rctx *c, const struct kt_tmpl *t)
{
	if (c->only_svc == KT_NONE)
		return true;
	return kt_svc_selects_tmpl(&c->s->services[c->only_svc], t);
}

uint32_t kt_tmpl_service(const struct kt_rctx *c, const struct kt_tmpl *t, uint32_t *count)
{
	uint32_t n;
	const uint32_t *row = KT_ROW(c, ts, (uint32_t)(t - c->t), n);
	if (count)
		*count = n;
	if (!n)
		return KT_NONE;
	if (c->only_svc != KT_NONE)
		for (uint32_t i = 0; i < n; i++)
			if (row[i] == c->only_svc)
				return c->only_svc;
	return row[0];
}

bool kt_pod_alive(const struct kt_pod *p)
{
	if (p->meta.deleted)
		return false;
	if (p->phase && (!strcmp(p->phase, "Succeeded") || !strcmp(p->phase, "Failed")))
		return false;
	return true;
}

struct kt_finding *kt_radd(struct kt_rctx *c, enum kt_rule_id rule, const struct kt_meta *obj,
			   const char *path, const char *fmt, ...)
{
	struct kt_finding *f = kt_finding_add(c->out, c->a, rule, obj, "%s", "");
	va_list ap;
	va_start(ap, fmt);
	f->message = kt_arena_vprintf(c->a, fmt, ap);
	va_end(ap);
	if (!obj)
		return f;
	if (obj->pos.file != KT_NONE && obj->pos.file < c->s->n_files) {
		f->file = c->s->files[obj->pos.file];
		f->line = obj->pos.line;
		f->col = obj->pos.col;
	}
	if (path && f->file) {
		const struct kt_fieldpos *fp = kt_meta_field(obj, path);
		if (fp && fp->line) {
			f->line = fp->line;
			f->col = fp->col;
		}
	}
	return f;
}

void kt_rgap(struct kt_rctx *c, enum kt_rule_id rule, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *why = kt_arena_vprintf(c->a, fmt, ap);
	va_end(ap);
	if (c->o->config && c->o->config->disabled[rule])
		return; /* a disabled rule misses nothing */
	kt_findings_gap(c->out, c->a, rule, "%s", why);
}

static int32_t wl_replicas(const struct kt_workload *w, bool *set)
{
	*set = w->replicas >= 0;
	if (w->kind == KT_WL_DAEMONSET)
		return -1;
	return w->replicas >= 0 ? w->replicas : 1;
}

/* HPAs sorted by (namespace, target name, target kind) for lookups. */
struct hpa_ix {
	const struct kt_snapshot *s;
	uint32_t *v;
	uint32_t n;
};

static int hpa_key_cmp(const char *ns, const char *name, const char *kind, const struct kt_hpa *h)
{
	int c = strcmp(ns_norm(ns), ns_norm(h->meta.namespace));
	if (!c)
		c = strcmp(name ? name : "", h->target_name ? h->target_name : "");
	if (!c)
		c = strcmp(kind ? kind : "", h->target_kind ? h->target_kind : "");
	return c;
}

static int hpa_cmp_ix(const void *a, const void *b, void *ctx)
{
	const struct kt_snapshot *s = ctx;
	const struct kt_hpa *x = &s->hpas[*(const uint32_t *)a];
	const struct kt_hpa *y = &s->hpas[*(const uint32_t *)b];
	return hpa_key_cmp(x->meta.namespace, x->target_name, x->target_kind, y);
}

static void hpa_index(struct hpa_ix *x, const struct kt_snapshot *s, struct kt_arena *a)
{
	x->s = s;
	x->n = s->n_hpas;
	x->v = KT_ANEW(a, uint32_t, s->n_hpas + 1);
	for (uint32_t i = 0; i < s->n_hpas; i++)
		x->v[i] = i;
	if (x->n > 1)
		qsort_r(x->v, x->n, sizeof(*x->v), hpa_cmp_ix, (void *)s);
}

static int hpa_meta_cmp(const void *key, const void *elem, void *ctx)
{
	const struct kt_meta *m = key;
	const struct hpa_ix *x = ctx;
	return hpa_key_cmp(m->namespace, m->name, m->kind, &x->s->hpas[*(const uint32_t *)elem]);
}

static uint32_t find_hpa(const struct hpa_ix *x, const struct kt_meta *m)
{
	uint32_t i = kt_bsearch_ix(x->v, x->n, sizeof(*x->v), m, hpa_meta_cmp, (void *)x);
	return i == KT_NONE ? KT_NONE : x->v[i];
}

static const struct kt_ownerref *pod_controller(const struct kt_pod *p)
{
	for (uint32_t i = 0; i < p->meta.n_owners; i++)
		if (p->meta.owners[i].controller)
			return &p->meta.owners[i];
	return p->meta.n_owners ? &p->meta.owners[0] : NULL;
}

static bool str_eq0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Helm/Argo CD hook objects (tests, migrations) only run around installs:
 * not part of what a Service selects in steady state. */
static bool hook_object(const struct kt_meta *m)
{
	return kt_kv_get(&m->annotations, "helm.sh/hook") || kt_kv_get(&m->annotations, "argocd.argoproj.io/hook");
}

/* Custom resources whose Pods an operator creates: templates with labels
 * and no containers (nothing to check in them but what selects them). */
static void cr_templates(struct kt_rctx *c)
{
	static const struct kt_podspec none = {.grace_period = -1, .fpath = "spec"};
	for (uint32_t i = 0; i < c->s->n_cr_pods; i++) {
		const struct kt_cr_pods *p = &c->s->cr_pods[i];
		struct kt_tmpl *t = &c->t[c->n_t++];
		t->meta = &p->meta;
		t->labels = &p->labels;
		t->spec = &none;
		t->kind = KT_WL_STATEFULSET;
		t->replicas = p->replicas >= 0 ? p->replicas : 1;
		t->replicas_set = p->replicas >= 0;
		t->wl = t->pod = t->hpa = KT_NONE;
		t->cr = i;
		t->cr_pods = p;
		t->opaque = true;
	}
}

static void build_templates(struct kt_rctx *c)
{
	const struct kt_snapshot *s = c->s;
	struct hpa_ix hx;
	hpa_index(&hx, s, c->a);
	c->t = KT_ANEW(c->a, struct kt_tmpl, s->n_workloads + s->n_pods + s->n_cr_pods + 1);
	for (uint32_t i = 0; i < s->n_workloads; i++) {
		const struct kt_workload *w = &s->workloads[i];
		if (w->owner != KT_NONE || hook_object(&w->meta))
			continue; /* ReplicaSet of a Deployment, Job of a CronJob */
		struct kt_tmpl *t = &c->t[c->n_t++];
		t->meta = &w->meta;
		t->labels = &w->template_labels;
		t->tann = &w->template_annotations;
		t->spec = &w->spec;
		t->kind = w->kind;
		t->replicas = wl_replicas(w, &t->replicas_set);
		t->wl = i;
		t->pod = t->cr = KT_NONE;
		t->hpa = find_hpa(&hx, &w->meta);
		if (t->hpa != KT_NONE && w->kind != KT_WL_DAEMONSET) {
			int32_t mn = s->hpas[t->hpa].min_replicas;
			t->replicas = mn > 0 ? mn : 1;
			t->replicas_set = true;
		}
	}
	for (uint32_t i = 0; i < s->n_pods; i++) {
		const struct kt_pod *p = &s->pods[i];
		if (p->workload != KT_NONE || !kt_pod_alive(p) || hook_object(&p->meta))
			continue;
		/* Live Pods whose controller was not collected: one template per
		 * controller, not one per replica. */
		const struct kt_ownerref *o = pod_controller(p);
		bool dup = false;
		if (o) {
			for (uint32_t j = c->n_t > 64 ? c->n_t - 64 : 0; j < c->n_t && !dup; j++) {
				const struct kt_tmpl *u = &c->t[j];
				if (u->pod == KT_NONE)
					continue;
				const struct kt_ownerref *uo = pod_controller(&s->pods[u->pod]);
				dup = uo && str_eq0(uo->kind, o->kind) && str_eq0(uo->name, o->name) &&
				      kt_ns_eq(s->pods[u->pod].meta.namespace, p->meta.namespace);
			}
		}
		if (dup)
			continue;
		struct kt_tmpl *t = &c->t[c->n_t++];
		t->meta = &p->meta;
		t->labels = &p->meta.labels;
		t->tann = NULL;
		t->spec = &p->spec;
		t->kind = KT_WL_POD;
		t->replicas = 1;
		t->wl = t->cr = KT_NONE;
		t->pod = i;
		t->hpa = KT_NONE;
	}
	c->n_tmpl_real = c->n_t;
	cr_templates(c);
}

/* ---- label index: (namespace, key, value) -> object indices ---------- */

struct lbl_ent {
	const char *ns, *k, *v;
	uint32_t ix;
};

static int lbl_cmp3(const char *ans, const char *ak, const char *av, const struct lbl_ent *b)
{
	int r = strcmp(ans, b->ns);
	if (!r)
		r = strcmp(ak, b->k);
	if (!r)
		r = strcmp(av, b->v);
	return r;
}

static int lbl_cmp(const void *a, const void *b)
{
	const struct lbl_ent *x = a, *y = b;
	int r = lbl_cmp3(x->ns, x->k, x->v, y);
	if (!r)
		r = x->ix < y->ix ? -1 : x->ix > y->ix;
	return r;
}

struct lbl_idx {
	struct lbl_ent *e;
	uint32_t n;
};

static void lbl_add(struct lbl_idx *x, uint32_t *cap, const char *ns, const struct kt_kvlist *l, uint32_t ix)
{
	for (uint32_t i = 0; l && i < l->n; i++) {
		if (x->n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			x->e = kt_xreallocarray(x->e, *cap, sizeof(*x->e));
		}
		x->e[x->n++] = (struct lbl_ent){ns_norm(ns), l->v[i].key ? l->v[i].key : "",
						l->v[i].value ? l->v[i].value : "", ix};
	}
}

/* Range of entries equal to (ns, k, v). */
static int lbl_key_cmp(const void *key, const void *elem, void *ctx)
{
	const struct lbl_ent *k = key;
	return lbl_cmp3(k->ns, k->k, k->v, elem);
}

static const struct lbl_ent *lbl_find(const struct lbl_idx *x, const char *ns, const char *k, const char *v,
				      uint32_t *count)
{
	*count = 0;
	if (!x->e)
		return NULL;
	ns = ns_norm(ns);
	struct lbl_ent key = {ns, k, v, 0};
	uint32_t lo = kt_lower_bound(x->e, x->n, sizeof(*x->e), &key, lbl_key_cmp, NULL);
	uint32_t end = lo;
	while (end < x->n && lbl_cmp3(ns, k, v, &x->e[end]) == 0)
		end++;
	*count = end - lo;
	return &x->e[lo];
}

/* For every Service: the candidates sharing its first selector pair, then
 * the full selector check. Fills off/ix (CSR rows, arena). */
static void match_rows(struct kt_rctx *c, const struct lbl_idx *x, bool (*ok)(const struct kt_rctx *, uint32_t,
		       uint32_t), bool tmpl, uint32_t **off_out, uint32_t **ix_out)
{
	const struct kt_snapshot *s = c->s;
	uint32_t *off = KT_ANEW(c->a, uint32_t, s->n_services + 1);
	uint32_t cap = 64, n = 0;
	uint32_t *ix = kt_xmalloc(cap * sizeof(*ix));
	for (uint32_t i = 0; i < s->n_services; i++) {
		off[i] = n;
		const struct kt_service *sv = &s->services[i];
		if (!sv->has_selector || !sv->selector.n || sv->type == KT_SVC_EXTERNALNAME)
			continue;
		uint32_t cnt, k = 0;
		/* templates lack the labels controllers add: look up by another pair */
		while (tmpl && k < sv->selector.n && kt_ctrl_label(sv->selector.v[k].key ? sv->selector.v[k].key : ""))
			k++;
		const struct kt_kv *kv = &sv->selector.v[k < sv->selector.n ? k : 0];
		const struct lbl_ent *e = NULL;
		bool scan = k == sv->selector.n; /* only controller labels: try every template */
		if (scan)
			cnt = c->n_t;
		else
			e = lbl_find(x, sv->meta.namespace, kv->key ? kv->key : "", kv->value ? kv->value : "", &cnt);
		if (scan && tmpl)
			cnt = c->n_tmpl_real;
		/* then the custom resources' Pods: not in the index (their
		 * labels are incomplete), few */
		uint32_t extra = tmpl ? c->n_t - c->n_tmpl_real : 0;
		for (uint32_t j = 0; j < cnt + extra; j++) {
			uint32_t cand = j >= cnt ? c->n_tmpl_real + (j - cnt) : scan ? j : e[j].ix;
			if (!ok(c, i, cand))
				continue;
			if (n == cap) {
				cap *= 2;
				ix = kt_xreallocarray(ix, cap, sizeof(*ix));
			}
			ix[n++] = cand;
		}
	}
	off[s->n_services] = n;
	*ix_out = KT_ANEW(c->a, uint32_t, n + 1);
	memcpy(*ix_out, ix, n * sizeof(*ix));
	free(ix);
	*off_out = off;
}

static bool ok_tmpl(const struct kt_rctx *c, uint32_t svc, uint32_t t)
{
	return kt_svc_selects_tmpl(&c->s->services[svc], &c->t[t]);
}

static bool ok_pod(const struct kt_rctx *c, uint32_t svc, uint32_t p)
{
	const struct kt_pod *pod = &c->s->pods[p];
	return kt_pod_alive(pod) && kt_svc_selects(&c->s->services[svc], pod->meta.namespace, &pod->meta.labels);
}

static void build_relations(struct kt_rctx *c)
{
	const struct kt_snapshot *s = c->s;
	struct lbl_idx x = {0};
	uint32_t cap = 0;
	for (uint32_t i = 0; i < c->n_tmpl_real; i++)
		lbl_add(&x, &cap, c->t[i].meta->namespace, c->t[i].labels, i);
	if (x.n > 1)
		qsort(x.e, x.n, sizeof(*x.e), lbl_cmp);
	match_rows(c, &x, ok_tmpl, true, &c->st_off, &c->st_ix);
	/* invert: template -> Services */
	c->ts_off = KT_ANEW(c->a, uint32_t, c->n_t + 2);
	uint32_t total = c->st_off[s->n_services];
	c->ts_ix = KT_ANEW(c->a, uint32_t, total + 1);
	for (uint32_t k = 0; k < total; k++)
		c->ts_off[c->st_ix[k] + 1]++;
	for (uint32_t j = 0; j < c->n_t; j++)
		c->ts_off[j + 1] += c->ts_off[j];
	uint32_t *fill = KT_ANEW(c->a, uint32_t, c->n_t + 1);
	for (uint32_t i = 0; i < s->n_services; i++)
		for (uint32_t k = c->st_off[i]; k < c->st_off[i + 1]; k++) {
			uint32_t t = c->st_ix[k];
			c->ts_ix[c->ts_off[t] + fill[t]++] = i;
		}
	/* live Pods */
	x.n = 0;
	for (uint32_t i = 0; i < s->n_pods; i++)
		if (kt_pod_alive(&s->pods[i]))
			lbl_add(&x, &cap, s->pods[i].meta.namespace, &s->pods[i].meta.labels, i);
	if (x.n > 1)
		qsort(x.e, x.n, sizeof(*x.e), lbl_cmp);
	match_rows(c, &x, ok_pod, false, &c->sp_off, &c->sp_ix);
	free(x.e);
	/* zones */
	c->zone_of = KT_ANEW(c->a, uint32_t, s->n_nodes + 1);
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		c->zone_of[i] = KT_NONE;
		if (!s->nodes[i].zone)
			continue;
		for (uint32_t j = 0; j < i && c->zone_of[i] == KT_NONE; j++)
			if (s->nodes[j].zone && !strcmp(s->nodes[j].zone, s->nodes[i].zone))
				c->zone_of[i] = c->zone_of[j];
		if (c->zone_of[i] == KT_NONE)
			c->zone_of[i] = c->n_zones++;
	}
}

static void build_alb(struct kt_rctx *c)
{
	const struct kt_snapshot *s = c->s;
	uint32_t n = 0;
	for (uint32_t pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < s->n_ingresses; i++) {
			const struct kt_ingress *ig = &s->ingresses[i];
			const char *v = kt_kv_get(&ig->meta.annotations, "alb.ingress.kubernetes.io/target-type");
			if (!v || strcasecmp(v, "ip"))
				continue;
			for (uint32_t j = 0; j < ig->n_backends; j++) {
				if (!ig->backends[j].service)
					continue;
				if (pass)
					c->alb_ip[c->n_alb_ip++] = (struct kt_alb_backend){ig->meta.namespace,
										  ig->backends[j].service, ig->meta.name};
				else
					n++;
			}
		}
		if (!pass)
			c->alb_ip = KT_ANEW(c->a, struct kt_alb_backend, n + 1);
	}
}

static const char *gap_about(const struct kt_snapshot *s, const char *what)
{
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (s->gaps[i].what && strstr(s->gaps[i].what, what))
			return s->gaps[i].why ? s->gaps[i].why : "not collected";
	return NULL;
}

/* Is a kind the live rules need known to be complete? why: the reason
 * when not (for the gap). */
static bool have_kind(struct kt_rctx *c, uint32_t bit, const char *gapword, const char *plural, const char **why)
{
	const char *g = gap_about(c->s, gapword);
	if (g) {
		*why = kt_arena_printf(c->a, "not checked: %s could not be read (%s)", plural, g);
		return false;
	}
	if (!kt_snapshot_has(c->s, bit)) {
		*why = kt_arena_printf(c->a, "not checked: no %s in the input", plural);
		return false;
	}
	return true;
}

void kt_rctx_init(struct kt_rctx *c, const struct kt_snapshot *s, uint32_t only, const struct kt_rules_opts *o,
		  struct kt_arena *a, struct kt_findings *out)
{
	static const struct kt_rules_opts defaults;
	if (!o)
		o = &defaults;
	*c = (struct kt_rctx){.s = s, .o = o, .a = a, .out = out, .live = o->live, .only_svc = only};
	c->pods_gap = gap_about(s, "pods") != NULL;
	c->eps_gap = gap_about(s, "endpointslices") || gap_about(s, "EndpointSlices");
	c->nodes_known = s->n_nodes > 0;
	c->have_pods = have_kind(c, KT_LISTED_PODS, "pods", "Pods", &c->pods_why);
	c->have_eps = have_kind(c, KT_LISTED_ENDPOINTSLICES, "endpointslices", "EndpointSlices", &c->eps_why);
	c->have_pdbs = have_kind(c, KT_LISTED_PDBS, "poddisruptionbudgets", "PodDisruptionBudgets", &c->pdbs_why);
	c->eps_gap = c->eps_gap || !c->have_eps;
	if (o->ingress_selector && *o->ingress_selector)
		c->have_isel = kt_parse_label_selector(o->ingress_selector, a, &c->isel);
	build_templates(c);
	build_relations(c);
	build_alb(c);
	kt_rules_mark_ingress(c);
}

static int run(const struct kt_snapshot *s, uint32_t only, const struct kt_rules_opts *o,
	       struct kt_arena *a, struct kt_findings *out)
{
	struct kt_rctx c;
	uint32_t start = out->n;
	kt_rctx_init(&c, s, only, o, a, out);
	kt_rules_services(&c);
	kt_rules_pods(&c);
	kt_rules_ingress(&c);
	kt_rules_routes(&c);
	kt_suppress_apply(s, c.o->config, out, start);
	kt_findings_sort(out);
	return 0;
}

int kt_rules_run(const struct kt_snapshot *s, const struct kt_rules_opts *o, struct kt_arena *a,
		 struct kt_findings *out)
{
	return run(s, KT_NONE, o, a, out);
}

int kt_rules_for_service(const struct kt_snapshot *s, uint32_t svc_ix, const struct kt_rules_opts *o,
			 struct kt_arena *a, struct kt_findings *out)
{
	if (svc_ix >= s->n_services)
		return -1;
	return run(s, svc_ix, o, a, out);
}

static const struct kt_kvlist *finding_labels(const struct kt_snapshot *s, const struct kt_finding *f,
					      const char **ns)
{
	*ns = f->obj.namespace;
	if (!f->obj.kind)
		return NULL;
	if (!strcmp(f->obj.kind, "Pod")) {
		uint32_t i = kt_find_pod(s, f->obj.namespace, f->obj.name);
		if (i != KT_NONE)
			return &s->pods[i].meta.labels;
	}
	const char *fk = f->obj.kind;
	if (!strcmp(fk, "Rollout") || !strcmp(fk, "CloneSet"))
		fk = "Deployment"; /* Deployment-shaped custom workloads (manifests) */
	for (uint32_t k = KT_WL_DEPLOYMENT; k <= KT_WL_POD; k++) {
		if (strcmp(kt_wl_kind_name((enum kt_wl_kind)k), fk))
			continue;
		uint32_t w = kt_find_workload(s, f->obj.namespace, (enum kt_wl_kind)k, f->obj.name);
		if (w != KT_NONE)
			return &s->workloads[w].template_labels;
	}
	return NULL;
}

void kt_rules_group_services(const struct kt_snapshot *s, const struct kt_findings *f, uint32_t *out)
{
	struct lbl_idx x = {0};
	uint32_t cap = 0;
	/* index Services by their first selector pair */
	for (uint32_t i = 0; i < s->n_services; i++) {
		const struct kt_service *sv = &s->services[i];
		if (!sv->has_selector || !sv->selector.n || sv->type == KT_SVC_EXTERNALNAME)
			continue;
		struct kt_kvlist one = {sv->selector.v, 1};
		lbl_add(&x, &cap, sv->meta.namespace, &one, i);
	}
	if (x.n > 1)
		qsort(x.e, x.n, sizeof(*x.e), lbl_cmp);
	for (uint32_t i = 0; i < f->n; i++) {
		const struct kt_finding *fd = &f->v[i];
		out[i] = KT_NONE;
		if (fd->obj.kind && !strcmp(fd->obj.kind, "Service")) {
			out[i] = kt_find_service(s, fd->obj.namespace, fd->obj.name);
			continue;
		}
		const char *ns;
		const struct kt_kvlist *l = finding_labels(s, fd, &ns);
		for (uint32_t k = 0; l && k < l->n; k++) {
			uint32_t cnt;
			const struct lbl_ent *e = lbl_find(&x, ns, l->v[k].key ? l->v[k].key : "",
							   l->v[k].value ? l->v[k].value : "", &cnt);
			for (uint32_t j = 0; j < cnt; j++)
				if (e[j].ix < out[i] && kt_svc_selects(&s->services[e[j].ix], ns, l))
					out[i] = e[j].ix;
		}
	}
	free(x.e);
}

uint32_t kt_rules_finding_service(const struct kt_snapshot *s, const struct kt_finding *f)
{
	struct kt_findings one = {.v = (struct kt_finding *)f, .n = 1, .cap = 1};
	uint32_t r;
	kt_rules_group_services(s, &one, &r);
	return r;
}
