/*
 * Ingress-controller rules: marking the controllers' data-plane templates
 * (analyzers/ingress_ctrl.c recognises them; --ingress-selector adds
 * more) and KT301 (no hostname / zone spread), KT302 (no
 * PodDisruptionBudget), KT303 (fewer than 2 replicas), KT304 (live Pods
 * actually co-located). Also the small label selector parser used for
 * --ingress-selector. Pure: no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "analyzers/ingress_int.h"
#include "analyzers/rules_int.h"

void kt_rules_mark_ingress(struct kt_rctx *c)
{
	kt_ictrls_init(&c->ictrls, c->o->config, c->a);
	for (uint32_t i = 0; i < c->n_t; i++) {
		struct kt_tmpl *t = &c->t[i];
		if (t->kind == KT_WL_JOB || t->kind == KT_WL_CRONJOB || t->kind == KT_WL_POD || t->opaque)
			continue;
		if (c->have_isel && kt_selector_match(&c->isel, t->labels)) {
			t->ingress_why = "--ingress-selector";
			t->ingress_family = "ingress controller";
		} else {
			const struct kt_ictrl *f = kt_ictrl_recognise(&c->ictrls, c->s, t->meta, t->labels, t->tann,
								      t->spec, c->a, &t->ingress_why);
			if (f && !f->outside)
				t->ictrl = f;
			else
				t->ingress_why = NULL; /* cloud controllers proxy nothing in the cluster */
			t->ingress_family = t->ictrl ? t->ictrl->name : NULL;
		}
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
	if (c->live && !c->have_pdbs) {
		kt_rgap(c, KT_R_KT302, "%s", c->pdbs_why);
		return;
	}
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
	if (!c->have_pods) {
		kt_rgap(c, KT_R_KT304, "%s", c->pods_why);
		return;
	}
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
