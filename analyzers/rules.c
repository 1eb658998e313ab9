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

#include "analyzers/rules_int.h"

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

bool kt_svc_selects_tmpl(const struct kt_service *sv, const struct kt_tmpl *t)
{
	return kt_svc_selects(sv, t->meta->namespace, t->labels);
}

bool kt_tmpl_in_scope(const struct kt_rctx *c, const struct kt_tmpl *t)
{
	if (c->only_svc == KT_NONE)
		return true;
	return kt_svc_selects_tmpl(&c->s->services[c->only_svc], t);
}

uint32_t kt_tmpl_service(const struct kt_rctx *c, const struct kt_tmpl *t, uint32_t *count)
{
	uint32_t first = KT_NONE, n = 0;
	if (c->only_svc != KT_NONE && kt_svc_selects_tmpl(&c->s->services[c->only_svc], t)) {
		first = c->only_svc;
	}
	for (uint32_t i = 0; i < c->s->n_services; i++) {
		if (!kt_svc_selects_tmpl(&c->s->services[i], t))
			continue;
		if (first == KT_NONE)
			first = i;
		n++;
	}
	if (count)
		*count = n;
	return first;
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

static int32_t wl_replicas(const struct kt_workload *w, bool *set)
{
	*set = w->replicas >= 0;
	if (w->kind == KT_WL_DAEMONSET)
		return -1;
	return w->replicas >= 0 ? w->replicas : 1;
}

static uint32_t find_hpa(const struct kt_snapshot *s, const struct kt_meta *m)
{
	for (uint32_t i = 0; i < s->n_hpas; i++) {
		const struct kt_hpa *h = &s->hpas[i];
		if (h->target_kind && h->target_name && m->kind && !strcmp(h->target_kind, m->kind) &&
		    !strcmp(h->target_name, m->name ? m->name : "") && kt_ns_eq(h->meta.namespace, m->namespace))
			return i;
	}
	return KT_NONE;
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

static void build_templates(struct kt_rctx *c)
{
	const struct kt_snapshot *s = c->s;
	c->t = KT_ANEW(c->a, struct kt_tmpl, s->n_workloads + s->n_pods + 1);
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
		t->pod = KT_NONE;
		t->hpa = find_hpa(s, &w->meta);
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
			for (uint32_t j = 0; j < c->n_t && !dup; j++) {
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
		t->wl = KT_NONE;
		t->pod = i;
		t->hpa = KT_NONE;
	}
}

static bool gap_about(const struct kt_snapshot *s, const char *what)
{
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (s->gaps[i].what && strstr(s->gaps[i].what, what))
			return true;
	return false;
}

static int run(const struct kt_snapshot *s, uint32_t only, const struct kt_rules_opts *o,
	       struct kt_arena *a, struct kt_findings *out)
{
	static const struct kt_rules_opts defaults;
	if (!o)
		o = &defaults;
	struct kt_rctx c = {.s = s, .o = o, .a = a, .out = out, .live = o->live, .only_svc = only};
	uint32_t start = out->n;
	c.pods_gap = gap_about(s, "pods");
	c.eps_gap = gap_about(s, "endpointslices") || gap_about(s, "EndpointSlices");
	c.nodes_known = s->n_nodes > 0;
	if (o->ingress_selector && *o->ingress_selector)
		c.have_isel = kt_parse_label_selector(o->ingress_selector, a, &c.isel);
	build_templates(&c);
	kt_rules_mark_ingress(&c);
	kt_rules_services(&c);
	kt_rules_pods(&c);
	kt_rules_ingress(&c);
	kt_suppress_apply(s, o->config, out, start);
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

static bool wl_matches_ref(const struct kt_meta *m, const struct kt_objref *r)
{
	return str_eq0(m->kind, r->kind) && str_eq0(m->name, r->name) && kt_ns_eq(m->namespace, r->namespace);
}

uint32_t kt_rules_finding_service(const struct kt_snapshot *s, const struct kt_finding *f)
{
	if (f->obj.kind && !strcmp(f->obj.kind, "Service"))
		return kt_find_service(s, f->obj.namespace, f->obj.name);
	const struct kt_kvlist *labels = NULL;
	for (uint32_t i = 0; i < s->n_workloads && !labels; i++)
		if (wl_matches_ref(&s->workloads[i].meta, &f->obj))
			labels = &s->workloads[i].template_labels;
	for (uint32_t i = 0; i < s->n_pods && !labels; i++)
		if (wl_matches_ref(&s->pods[i].meta, &f->obj))
			labels = &s->pods[i].meta.labels;
	if (!labels)
		return KT_NONE;
	for (uint32_t i = 0; i < s->n_services; i++)
		if (kt_svc_selects(&s->services[i], f->obj.namespace, labels))
			return i;
	return KT_NONE;
}
