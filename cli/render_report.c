/*
 * Findings reports for `ktrace lint` and `ktrace check`: counting, the
 * exit code, grouped text (by object for lint, by Service for check, most
 * severe group first, a summary line) and the JSON document of ktrace-check(1)
 * ({"findings":[...],"summary":{...}}). Branches on the format once, in
 * kt_report_render(). Writes only to the FILE it is given.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/report.h"
#include "ktrace/arena.h"
#include "ktrace/jsonw.h"
#include "ktrace/ruleconf.h"
#include "ktrace/util.h"

void kt_report_count(const struct kt_report *r, struct kt_report_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (uint32_t i = 0; i < r->f->n; i++) {
		const struct kt_finding *x = &r->f->v[i];
		if (x->suppressed) {
			c->suppressed++;
			continue;
		}
		c->sev[x->severity]++;
		if (r->fail_on >= 0 && (int)x->severity >= r->fail_on)
			c->failing++;
	}
}

int kt_report_exit(const struct kt_report *r)
{
	struct kt_report_counts c;
	kt_report_count(r, &c);
	if (r->n_errors)
		return KT_EXIT_INPUT;
	if (c.failing)
		return KT_EXIT_FINDINGS;
	/* findings computed without a kind the rules need (the source could
	 * not read it, or the input has none of it): a partial answer */
	return r->f->n_gaps || (r->snap && r->snap->focus.missing) ? KT_EXIT_PARTIAL : KT_EXIT_OK;
}

/* Group key of a finding: its Service (check) or its object (lint). */
struct gkey {
	const char *kind, *ns, *name;
	uint32_t first;          /* index of the group's first (most severe) finding */
	uint32_t ix;             /* finding index */
};

static int s_cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

int kt_report_key_cmp(const char *kind_a, const char *ns_a, const char *name_a, const char *kind_b, const char *ns_b,
		      const char *name_b)
{
	int c = s_cmp(kind_a, kind_b);
	if (!c)
		c = s_cmp(ns_a, ns_b);
	if (!c)
		c = s_cmp(name_a, name_b);
	return c;
}

static int key_cmp(const void *a, const void *b)
{
	const struct gkey *x = a, *y = b;
	int c = kt_report_key_cmp(x->kind, x->ns, x->name, y->kind, y->ns, y->name);
	if (!c)
		c = x->ix < y->ix ? -1 : x->ix > y->ix;
	return c;
}

static int first_cmp(const void *a, const void *b)
{
	const struct gkey *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->ix < y->ix ? -1 : x->ix > y->ix;
}

static bool key_eq(const struct gkey *a, const struct gkey *b)
{
	return !kt_report_key_cmp(a->kind, a->ns, a->name, b->kind, b->ns, b->name);
}

static void summary_line(struct kt_cli *c, FILE *out, const struct kt_report *r, unsigned groups)
{
	struct kt_report_counts n;
	kt_report_count(r, &n);
	fprintf(out, "%s%u error%s, %u warning%s, %u info%s", kt_c(c, KT_C_BOLD), n.sev[KT_SEV_ERROR],
		n.sev[KT_SEV_ERROR] == 1 ? "" : "s", n.sev[KT_SEV_WARNING], n.sev[KT_SEV_WARNING] == 1 ? "" : "s",
		n.sev[KT_SEV_INFO], kt_c(c, KT_C_RESET));
	if (n.suppressed)
		fprintf(out, " (%u suppressed)", n.suppressed);
	if (!strcmp(r->command, "lint"))
		fprintf(out, " in %u object%s from %u file%s", r->objects, r->objects == 1 ? "" : "s", r->files,
			r->files == 1 ? "" : "s");
	else
		fprintf(out, " in %u %s", groups, groups == 1 ? "group" : "groups");
	if (r->n_errors)
		fprintf(out, "; %u input error%s", r->n_errors, r->n_errors == 1 ? "" : "s");
	fputc('\n', out);
}

void kt_report_gaps_text(struct kt_cli *c, FILE *out, const struct kt_report *r)
{
	for (uint32_t i = 0; i < r->f->n_gaps; i++) {
		/* the reasons name objects from the input: escaped */
		const char *why = r->f->gaps[i].why;
		bool said = why && !strncmp(why, "not checked", 11); /* the reason says it already */
		fprintf(out, "%s%s%s: %s%s\n", kt_c(c, KT_C_DIM), said ? "" : "not checked: ", kt_cv(c, r->f->gaps[i].what),
			kt_cv(c, why), kt_c(c, KT_C_RESET));
	}
}

int kt_report_text(struct kt_cli *c, FILE *out, const struct kt_report *r)
{
	/* a partial answer says so before anything else */
	if (r->snap)
		kt_render_incomplete(c, out, r->snap);
	if (r->by_service)
		return kt_check_text(c, out, r);
	uint32_t n = r->f->n, m = 0;
	struct gkey *keys = calloc(n + 1, sizeof(*keys));
	uint32_t *svc = calloc(n + 1, sizeof(*svc));
	struct kt_findings grp = {0};
	if (!keys || !svc)
		abort();
	if (r->by_service && r->snap)
		kt_rules_group_services(r->snap, r->f, svc);
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_finding *x = &r->f->v[i];
		if (x->suppressed)
			continue;
		struct gkey k = {x->obj.kind, x->obj.namespace, x->obj.name, 0, i};
		if (r->by_service && r->snap && svc[i] != KT_NONE) {
			const struct kt_service *sv = &r->snap->services[svc[i]];
			k.kind = "Service";
			k.ns = sv->meta.namespace;
			k.name = sv->meta.name;
		}
		keys[m++] = k;
	}
	/* groups ordered by their most severe (first, as findings are sorted)
	 * finding; findings inside a group keep their order */
	if (m > 1)
		qsort(keys, m, sizeof(*keys), key_cmp);
	for (uint32_t i = 0; i < m; i++)
		keys[i].first = (i && key_eq(&keys[i], &keys[i - 1])) ? keys[i - 1].first : keys[i].ix;
	if (m > 1)
		qsort(keys, m, sizeof(*keys), first_cmp);
	grp.v = calloc(m + 1, sizeof(*grp.v));
	if (!grp.v)
		abort();
	grp.cap = m + 1;
	unsigned groups = 0;
	for (uint32_t i = 0; i < m;) {
		uint32_t j = i;
		grp.n = 0;
		while (j < m && keys[j].first == keys[i].first)
			grp.v[grp.n++] = r->f->v[keys[j++].ix];
		groups++;
		const struct kt_finding *x = &grp.v[0];
		fprintf(out, "%s%s %s%s%s%s", kt_c(c, KT_C_BOLD), keys[i].kind ? kt_cv(c, keys[i].kind) : "object",
			keys[i].ns ? kt_cv(c, keys[i].ns) : "", keys[i].ns ? "/" : "",
			keys[i].name ? kt_cv(c, keys[i].name) : "?", kt_c(c, KT_C_RESET));
		if (!r->by_service && x->file)
			fprintf(out, "  %s%s%s", kt_c(c, KT_C_DIM), kt_cv(c, x->file), kt_c(c, KT_C_RESET));
		fputc('\n', out);
		kt_render_findings_text(c, out, &grp, "  ");
		fputc('\n', out);
		i = j;
	}
	if (!groups)
		fprintf(out, "no findings\n");
	kt_report_gaps_text(c, out, r);
	summary_line(c, out, r, groups);
	free(grp.v);
	free(keys);
	free(svc);
	return 0;
}

static void json_msgs(struct kt_jw *w, const char *key, const struct kt_manifest_error *v, uint32_t n);

int kt_report_json(struct kt_cli *c, FILE *out, const struct kt_report *r)
{
	struct kt_report_counts n;
	kt_report_count(r, &n);
	struct kt_jw *w = kt_cli_jw(c, out, true);
	kt_jw_obj(w);
	if (!r->summary_only) {
		kt_jw_key(w, "findings");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < r->f->n; i++)
			if (!r->f->v[i].suppressed)
				kt_render_finding_json(w, &r->f->v[i], true);
		kt_jw_arr_end(w);
	}
	if (r->by_service)
		kt_check_json_groups(w, r);
	kt_jw_key(w, "summary");
	kt_jw_obj(w);
	kt_jw_kuint(w, "error", n.sev[KT_SEV_ERROR]);
	kt_jw_kuint(w, "warning", n.sev[KT_SEV_WARNING]);
	kt_jw_kuint(w, "info", n.sev[KT_SEV_INFO]);
	kt_jw_kuint(w, "suppressed", n.suppressed);
	if (!strcmp(r->command, "lint")) {
		kt_jw_kuint(w, "files", r->files);
		kt_jw_kuint(w, "objects", r->objects);
	}
	kt_jw_kstr(w, "failOn", r->fail_on >= 0 ? kt_severity_name((enum kt_severity)r->fail_on) : "never");
	kt_jw_kbool(w, "failed", r->n_errors || n.failing);
	kt_jw_obj_end(w);
	if (r->snap)
		kt_render_incomplete_json(w, r->snap);
	/* one "gaps" array: rules the input could not feed (not checked),
	 * then what the source could not read */
	kt_jw_key(w, "gaps");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->f->n_gaps; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "what", r->f->gaps[i].what);
		kt_jw_kstr(w, "why", r->f->gaps[i].why);
		kt_jw_obj_end(w);
	}
	for (uint32_t i = 0; r->snap && i < r->snap->n_gaps; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "what", r->snap->gaps[i].what);
		kt_jw_kstr(w, "why", r->snap->gaps[i].why);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	if (!strcmp(r->command, "lint"))
		json_msgs(w, "warnings", r->warnings, r->n_warnings);
	json_msgs(w, "errors", r->errors, r->n_errors);
	kt_jw_obj_end(w);
	return kt_jw_free(w) ? -1 : 0;
}

static void json_msgs(struct kt_jw *w, const char *key, const struct kt_manifest_error *v, uint32_t n)
{
	kt_jw_key(w, key);
	kt_jw_arr(w);
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_manifest_error *e = &v[i];
		kt_jw_obj(w);
		kt_jw_kstr(w, "file", e->file);
		if (e->line) {
			kt_jw_kuint(w, "line", e->line);
			kt_jw_kuint(w, "col", e->col);
		} else {
			kt_jw_knull(w, "line");
		}
		kt_jw_kstr(w, "message", e->msg);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
}

int kt_report_render(struct kt_cli *c, FILE *out, const struct kt_report *r)
{
	switch (c->out) {
	case KT_OUT_JSON:
	case KT_OUT_YAML:
		return kt_report_json(c, out, r);
	case KT_OUT_SARIF:
		return kt_report_sarif(c, out, r);
	case KT_OUT_JUNIT:
		return kt_report_junit(c, out, r);
	case KT_OUT_TEXT:
	case KT_OUT_DOT:
	case KT_OUT_MERMAID:
		break;
	}
	return kt_report_text(c, out, r);
}

int kt_report_finish(struct kt_cli *c, const struct kt_report *r)
{
	if (kt_report_render(c, stdout, r) < 0)
		return KT_EXIT_INPUT;
	return kt_report_exit(r);
}
