/*
 * `ktrace check` output that scales to thousands of objects: identical
 * findings (same rule, severity, message and evidence) on several objects
 * become one finding with N objects; a summary table by rule and severity
 * comes first (`--summary` prints only it); findings met once stay under
 * their Service (or object), most severe first. JSON keeps one finding per
 * object and adds the grouped view ("groups") and the table ("byRule").
 * Computes nothing but the grouping; writes only to the FILE it is given.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/report.h"
#include "ktrace/jsonw.h"
#include "ktrace/ruleconf.h"
#include "ktrace/xalloc.h"

/* objects named inline before "and N more" (-o wide lists all) */
#define KT_CHECK_INLINE_OBJECTS 3

struct cgroup {
	uint32_t first;          /* smallest finding index (most severe first) */
	uint32_t n;              /* findings (objects) in the group */
	uint32_t at;             /* members: ix[at .. at + n) */
};

struct cgroups {
	uint32_t *ix;            /* visible finding indices, grouped */
	struct cgroup *g;
	uint32_t n_g;
};

static const struct kt_findings *cmp_f;

static int ident_cmp(const void *a, const void *b)
{
	const struct kt_finding *x = &cmp_f->v[*(const uint32_t *)a], *y = &cmp_f->v[*(const uint32_t *)b];
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	if (x->severity != y->severity)
		return x->severity > y->severity ? -1 : 1;
	int c = kt_strcmp0(x->message, y->message);
	if (!c)
		c = kt_strcmp0(x->evidence, y->evidence);
	if (!c)
		c = *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
	return c;
}

static bool identical(const struct kt_finding *x, const struct kt_finding *y)
{
	return x->rule == y->rule && x->severity == y->severity && !kt_strcmp0(x->message, y->message) &&
	       !kt_strcmp0(x->evidence, y->evidence);
}

static int group_first_cmp(const void *a, const void *b)
{
	const struct cgroup *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Group the visible findings; groups ordered by their most severe member. */
static void group(const struct kt_findings *f, struct cgroups *out)
{
	memset(out, 0, sizeof(*out));
	out->ix = kt_xcalloc(f->n + 1, sizeof(*out->ix));
	uint32_t m = 0;
	for (uint32_t i = 0; i < f->n; i++)
		if (!f->v[i].suppressed)
			out->ix[m++] = i;
	cmp_f = f;
	if (m > 1)
		qsort(out->ix, m, sizeof(*out->ix), ident_cmp);
	out->g = kt_xcalloc(m + 1, sizeof(*out->g));
	for (uint32_t i = 0; i < m;) {
		uint32_t j = i + 1;
		while (j < m && identical(&f->v[out->ix[i]], &f->v[out->ix[j]]))
			j++;
		/* members are in index order (ident_cmp's last key) */
		out->g[out->n_g++] = (struct cgroup){.first = out->ix[i], .n = j - i, .at = i};
		i = j;
	}
	if (out->n_g > 1)
		qsort(out->g, out->n_g, sizeof(*out->g), group_first_cmp);
}

static void groups_free(struct cgroups *g)
{
	free(g->ix);
	free(g->g);
}

/* ---- the table ------------------------------------------------------- */

struct rule_row {
	uint32_t findings, groups;
};

static void by_rule(const struct kt_findings *f, const struct cgroups *g, struct rule_row rows[KT_RULE_COUNT][3])
{
	memset(rows, 0, sizeof(struct rule_row) * KT_RULE_COUNT * 3);
	for (uint32_t i = 0; i < g->n_g; i++) {
		const struct kt_finding *x = &f->v[g->g[i].first];
		rows[x->rule][x->severity].findings += g->g[i].n;
		rows[x->rule][x->severity].groups++;
	}
}

static void summary_table(struct kt_cli *c, FILE *out, const struct kt_report *r, const struct cgroups *g)
{
	struct rule_row rows[KT_RULE_COUNT][3];
	by_rule(r->f, g, rows);
	fprintf(out, "%s%-6s %-28s %-8s %8s %8s%s\n", kt_c(c, KT_C_BOLD), "RULE", "NAME", "SEVERITY", "OBJECTS", "DISTINCT",
		kt_c(c, KT_C_RESET));
	for (int sev = KT_SEV_ERROR; sev >= KT_SEV_INFO; sev--)
		for (int k = 0; k < KT_RULE_COUNT; k++) {
			const struct rule_row *rw = &rows[k][sev];
			if (!rw->findings)
				continue;
			fprintf(out, "%-6s %-28s %s%-8s%s %8u %8u\n", kt_rules[k].id, kt_rules[k].name,
				kt_sev_color(c, (enum kt_severity)sev), kt_severity_name((enum kt_severity)sev),
				kt_c(c, KT_C_RESET), rw->findings, rw->groups);
		}
	if (!g->n_g)
		fprintf(out, "(no findings)\n");
}

/* ---- findings --------------------------------------------------------- */

static void object_name(struct kt_cli *c, FILE *out, const struct kt_finding *x)
{
	fprintf(out, "%s %s%s%s", x->obj.kind ? kt_cv(c, x->obj.kind) : "object",
		x->obj.namespace ? kt_cv(c, x->obj.namespace) : "", x->obj.namespace ? "/" : "",
		x->obj.name ? kt_cv(c, x->obj.name) : "?");
}

/* One finding on several objects: a header naming the first few, the
 * finding once, and with -o wide every object. */
static void shared_block(struct kt_cli *c, FILE *out, const struct kt_findings *f, const struct cgroups *g,
			 const struct cgroup *gr)
{
	const struct kt_finding *x = &f->v[gr->first];
	const struct kt_rule *ru = &kt_rules[x->rule];
	uint32_t show = gr->n < KT_CHECK_INLINE_OBJECTS ? gr->n : KT_CHECK_INLINE_OBJECTS;
	fputs(kt_c(c, KT_C_BOLD), out);
	for (uint32_t k = 0; k < show; k++) {
		fputs(k ? ", " : "", out);
		object_name(c, out, &f->v[g->ix[gr->at + k]]);
	}
	if (show < gr->n)
		fprintf(out, " and %u more", gr->n - show);
	fprintf(out, "%s\n", kt_c(c, KT_C_RESET));
	fprintf(out, "  %s%-7s%s %s%s%s %s  same finding on %u objects%s\n", kt_sev_color(c, x->severity),
		kt_severity_name(x->severity), kt_c(c, KT_C_RESET), kt_c(c, KT_C_BOLD), ru->id, kt_c(c, KT_C_RESET), ru->name,
		gr->n, show < gr->n && !c->wide ? " (-o wide lists them)" : "");
	fprintf(out, "          %s\n", kt_cv(c, x->message));
	if (x->evidence)
		fprintf(out, "          %sevidence:%s %s\n", kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), kt_cv(c, x->evidence));
	fprintf(out, "          %sfix:%s %s\n", kt_c(c, KT_C_GREEN), kt_c(c, KT_C_RESET), ru->mitigation);
	if (c->wide) {
		fprintf(out, "          %sobjects:%s\n", kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET));
		for (uint32_t k = 0; k < gr->n; k++) {
			fputs("            ", out);
			object_name(c, out, &f->v[g->ix[gr->at + k]]);
			fputc('\n', out);
		}
	}
	fputc('\n', out);
}

/* A section: the findings met once, under their Service or object. */
struct section {
	const char *kind, *ns, *name;
	uint32_t first;          /* order key: most severe member */
	uint32_t ix;             /* finding index */
	uint32_t group;          /* shared group index, or KT_NONE */
};

static int section_key_cmp(const void *a, const void *b)
{
	const struct section *x = a, *y = b;
	if ((x->group == KT_NONE) != (y->group == KT_NONE))
		return x->group == KT_NONE ? -1 : 1;
	int c = x->group == KT_NONE ? kt_report_key_cmp(x->kind, x->ns, x->name, y->kind, y->ns, y->name)
				    : (x->group > y->group) - (x->group < y->group);
	return c ? c : (x->ix > y->ix) - (x->ix < y->ix);
}

static int section_order_cmp(const void *a, const void *b)
{
	const struct section *x = a, *y = b;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return (x->ix > y->ix) - (x->ix < y->ix);
}

static void sections(struct kt_cli *c, FILE *out, const struct kt_report *r, const struct cgroups *g)
{
	const struct kt_findings *f = r->f;
	uint32_t *svc = kt_xcalloc(f->n + 1, sizeof(*svc));
	if (r->snap)
		kt_rules_group_services(r->snap, f, svc);
	struct section *s = kt_xcalloc(f->n + 1, sizeof(*s));
	uint32_t m = 0;
	for (uint32_t gi = 0; gi < g->n_g; gi++) {
		const struct cgroup *gr = &g->g[gi];
		if (gr->n > 1) {
			s[m++] = (struct section){.first = gr->first, .ix = gr->first, .group = gi};
			continue;
		}
		const struct kt_finding *x = &f->v[gr->first];
		struct section k = {x->obj.kind, x->obj.namespace, x->obj.name, 0, gr->first, KT_NONE};
		if (r->snap && svc[gr->first] != KT_NONE) {
			const struct kt_service *sv = &r->snap->services[svc[gr->first]];
			k.kind = "Service";
			k.ns = sv->meta.namespace;
			k.name = sv->meta.name;
		}
		s[m++] = k;
	}
	/* a section's order key is its most severe (lowest index) finding */
	if (m > 1)
		qsort(s, m, sizeof(*s), section_key_cmp);
	for (uint32_t i = 0; i < m; i++) {
		bool same = i && s[i].group == KT_NONE && s[i - 1].group == KT_NONE &&
			    !kt_report_key_cmp(s[i].kind, s[i].ns, s[i].name, s[i - 1].kind, s[i - 1].ns, s[i - 1].name);
		s[i].first = same ? s[i - 1].first : s[i].ix;
	}
	if (m > 1)
		qsort(s, m, sizeof(*s), section_order_cmp);
	struct kt_findings one = {.v = kt_xcalloc(m + 1, sizeof(*one.v)), .cap = m + 1};
	for (uint32_t i = 0; i < m;) {
		if (s[i].group != KT_NONE) {
			shared_block(c, out, f, g, &g->g[s[i].group]);
			i++;
			continue;
		}
		uint32_t j = i;
		one.n = 0;
		while (j < m && s[j].group == KT_NONE && s[j].first == s[i].first)
			one.v[one.n++] = f->v[s[j++].ix];
		fprintf(out, "%s%s %s%s%s%s\n", kt_c(c, KT_C_BOLD), s[i].kind ? kt_cv(c, s[i].kind) : "object",
			s[i].ns ? kt_cv(c, s[i].ns) : "", s[i].ns ? "/" : "", s[i].name ? kt_cv(c, s[i].name) : "?",
			kt_c(c, KT_C_RESET));
		kt_render_findings_text(c, out, &one, "  ");
		fputc('\n', out);
		i = j;
	}
	free(one.v);
	free(s);
	free(svc);
}

int kt_check_text(struct kt_cli *c, FILE *out, const struct kt_report *r)
{
	struct cgroups g;
	group(r->f, &g);
	struct kt_report_counts n;
	kt_report_count(r, &n);
	summary_table(c, out, r, &g);
	uint32_t total = n.sev[KT_SEV_ERROR] + n.sev[KT_SEV_WARNING] + n.sev[KT_SEV_INFO];
	fprintf(out, "%s%u error%s, %u warning%s, %u info%s", kt_c(c, KT_C_BOLD), n.sev[KT_SEV_ERROR],
		n.sev[KT_SEV_ERROR] == 1 ? "" : "s", n.sev[KT_SEV_WARNING], n.sev[KT_SEV_WARNING] == 1 ? "" : "s",
		n.sev[KT_SEV_INFO], kt_c(c, KT_C_RESET));
	if (n.suppressed)
		fprintf(out, " (%u suppressed)", n.suppressed);
	fprintf(out, ": %u distinct finding%s on %u object%s", g.n_g, g.n_g == 1 ? "" : "s", total, total == 1 ? "" : "s");
	/* --fail-on counts what is shown: distinct findings */
	uint32_t failing = 0;
	for (uint32_t i = 0; i < g.n_g; i++)
		failing += r->fail_on >= 0 && (int)r->f->v[g.g[i].first].severity >= r->fail_on;
	if (r->fail_on >= 0)
		fprintf(out, "; %u at or above --fail-on %s", failing, kt_severity_name((enum kt_severity)r->fail_on));
	fputc('\n', out);
	if (!r->summary_only && g.n_g) {
		fputc('\n', out);
		sections(c, out, r, &g);
	}
	if (r->f->n_gaps) {
		fputc('\n', out);
		kt_report_gaps_text(c, out, r);
	}
	groups_free(&g);
	return 0;
}

void kt_check_json_groups(struct kt_jw *w, const struct kt_report *r)
{
	struct cgroups g;
	group(r->f, &g);
	struct rule_row rows[KT_RULE_COUNT][3];
	by_rule(r->f, &g, rows);
	if (!r->summary_only) {
		kt_jw_key(w, "groups");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < g.n_g; i++) {
			const struct kt_finding *x = &r->f->v[g.g[i].first];
			const struct kt_rule *ru = &kt_rules[x->rule];
			kt_jw_obj(w);
			kt_jw_kstr(w, "id", ru->id);
			kt_jw_kstr(w, "name", ru->name);
			kt_jw_kstr(w, "severity", kt_severity_name(x->severity));
			kt_jw_kuint(w, "count", g.g[i].n);
			kt_jw_key(w, "objects");
			kt_jw_arr(w);
			for (uint32_t k = 0; k < g.g[i].n; k++) {
				const struct kt_finding *y = &r->f->v[g.ix[g.g[i].at + k]];
				kt_jw_obj(w);
				kt_jw_kstr(w, "kind", y->obj.kind);
				kt_jw_kstr(w, "namespace", y->obj.namespace);
				kt_jw_kstr(w, "name", y->obj.name);
				kt_jw_obj_end(w);
			}
			kt_jw_arr_end(w);
			kt_jw_kstr(w, "message", x->message);
			kt_jw_kstr(w, "evidence", x->evidence);
			kt_jw_kstr(w, "mitigation", ru->mitigation);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
	}
	kt_jw_key(w, "byRule");
	kt_jw_arr(w);
	for (int sev = KT_SEV_ERROR; sev >= KT_SEV_INFO; sev--)
		for (int k = 0; k < KT_RULE_COUNT; k++) {
			if (!rows[k][sev].findings)
				continue;
			kt_jw_obj(w);
			kt_jw_kstr(w, "id", kt_rules[k].id);
			kt_jw_kstr(w, "name", kt_rules[k].name);
			kt_jw_kstr(w, "severity", kt_severity_name((enum kt_severity)sev));
			kt_jw_kuint(w, "objects", rows[k][sev].findings);
			kt_jw_kuint(w, "distinct", rows[k][sev].groups);
			kt_jw_obj_end(w);
		}
	kt_jw_arr_end(w);
	groups_free(&g);
}
