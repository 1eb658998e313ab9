/*
 * kt_check_analyze(): the one composition of "everything" that `check`
 * and `path` report: the rule catalog (live scope), the dataplane diff
 * (KT601-KT603) and measured imbalance (KT402/KT403) when node state is in
 * the snapshot, suppression (.ktrace.yaml, ktrace/ignore annotations), and
 * the scope: one Service (path, check svc/NAME), the Services the source
 * layer focused on (a workload's, -l), one namespace. Pure: reads a
 * finished snapshot, allocates in the given arena.
 */
#include <stdlib.h>
#include <string.h>

#include "ktrace/analyze.h"
#include "ktrace/ruleconf.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

/* Above this many focused Services the rules run once over everything and
 * findings are kept by the Service they group under. */
#define KT_CHECK_PER_SERVICE_MAX 16

static bool same(const struct kt_finding *a, const struct kt_finding *b)
{
	return a->rule == b->rule && !kt_strcmp0(a->obj.kind, b->obj.kind) &&
	       !kt_strcmp0(a->obj.namespace, b->obj.namespace) && !kt_strcmp0(a->obj.name, b->obj.name) &&
	       !kt_strcmp0(a->message, b->message);
}

static void push(struct kt_findings *out, const struct kt_finding *f)
{
	if (out->n == out->cap) {
		out->cap = out->cap ? out->cap * 2 : 16;
		out->v = kt_xreallocarray(out->v, out->cap, sizeof(*out->v));
	}
	out->v[out->n++] = *f;
}

static bool about(const struct kt_snapshot *s, const struct kt_finding *f, const uint32_t *svcs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_service *sv = &s->services[svcs[i]];
		if (f->obj.name && f->obj.namespace && !strcmp(f->obj.name, sv->meta.name) &&
		    !strcmp(f->obj.namespace, sv->meta.namespace))
			return true;
	}
	return false;
}

static int ix_cmp(const void *key, const void *elem, void *ctx)
{
	uint32_t a = *(const uint32_t *)key, b = *(const uint32_t *)elem;
	return a < b ? -1 : a > b;
}

/* The rules for the Services svcs (sorted) and what they select. */
static void rules_for(const struct kt_snapshot *s, const struct kt_rules_opts *ro, const uint32_t *svcs, uint32_t n,
		      struct kt_arena *a, struct kt_findings *out)
{
	uint32_t start = out->n;
	struct kt_findings tmp = {0};
	if (n <= KT_CHECK_PER_SERVICE_MAX) {
		for (uint32_t i = 0; i < n; i++) {
			tmp.n = 0;
			kt_rules_for_service(s, svcs[i], ro, a, &tmp);
			for (uint32_t k = 0; k < tmp.n; k++) {
				bool dup = false;
				for (uint32_t m = start; m < out->n && !dup; m++)
					dup = same(&out->v[m], &tmp.v[k]);
				if (!dup)
					push(out, &tmp.v[k]);
			}
		}
	} else {
		kt_rules_run(s, ro, a, &tmp);
		uint32_t *grp = kt_xcalloc(tmp.n + 1, sizeof(*grp));
		kt_rules_group_services(s, &tmp, grp);
		for (uint32_t k = 0; k < tmp.n; k++)
			if (grp[k] != KT_NONE && kt_bsearch_ix(svcs, n, sizeof(*svcs), &grp[k], ix_cmp, NULL) != KT_NONE)
				push(out, &tmp.v[k]);
		free(grp);
	}
	kt_findings_release(&tmp);
}

int kt_check_analyze(const struct kt_snapshot *s, const struct kt_check_query *q, struct kt_arena *a,
		     struct kt_findings *out)
{
	const uint32_t *svcs = NULL;
	uint32_t n = 0, one = q->svc;
	bool only = false;
	if (q->svc != KT_NONE) {
		svcs = &one;
		n = 1;
		only = true;
	} else if (q->use_focus && s->focus.services_only) {
		svcs = s->focus.svcs;
		n = s->focus.n_svcs;
		only = true;
	}
	if (only)
		rules_for(s, &q->rules, svcs, n, a, out);
	else
		kt_rules_run(s, &q->rules, a, out);

	/* node state: stale or missing rules, measured imbalance */
	uint32_t node_from = out->n;
	struct kt_findings node = {0};
	if (s->n_dp)
		kt_dpdiff_findings(s, a, &node);
	if (s->fleet)
		kt_dpdiff_group(&node, a); /* 40 nodes, one stale endpoint: one finding */
	if (s->n_flows)
		kt_imbalance_findings(s, a, &node);
	for (uint32_t i = 0; i < node.n; i++)
		if (!only || about(s, &node.v[i], svcs, n))
			push(out, &node.v[i]);
	kt_findings_release(&node);
	kt_suppress_apply(s, q->rules.config, out, node_from);

	/* one namespace: only findings in it (Nodes are cluster-wide) */
	if (q->use_focus && s->focus.ns) {
		uint32_t o = 0;
		for (uint32_t i = 0; i < out->n; i++)
			if (!out->v[i].obj.namespace || !strcmp(out->v[i].obj.namespace, s->focus.ns))
				out->v[o++] = out->v[i];
		out->n = o;
	}
	kt_findings_sort(out);
	return 0;
}
