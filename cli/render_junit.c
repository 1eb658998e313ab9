/*
 * JUnit XML for CI test reports: one <testsuite> per Kubernetes object
 * (file as the suite's file attribute), one <testcase> per finding —
 * a <failure> at or above --fail-on, <skipped> when suppressed, passed
 * otherwise (the message in <system-out>) — plus one passing testcase per
 * clean object so clean objects show up, and a "ktrace input" suite with
 * an <error> per malformed file. Writes only to the FILE it is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/report.h"
#include "ktrace/ruleconf.h"

static void xml(FILE *o, const char *s)
{
	if (!s)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '<': fputs("&lt;", o); break;
		case '>': fputs("&gt;", o); break;
		case '&': fputs("&amp;", o); break;
		case '"': fputs("&quot;", o); break;
		case '\'': fputs("&apos;", o); break;
		case '\n': case '\t': case '\r': fputc(*p, o); break;
		default:
			if (*p < 0x20)
				fputc(' ', o); /* not allowed in XML 1.0 */
			else
				fputc(*p, o);
		}
	}
}

struct obj {
	const char *kind, *ns, *name, *file;
	uint32_t order;          /* first appearance */
	uint32_t f_first, f_n;   /* its findings in the sorted index */
};

static int obj_cmp(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;
	int c = kt_report_key_cmp(x->kind, x->ns, x->name, y->kind, y->ns, y->name);
	if (!c)
		c = x->order < y->order ? -1 : x->order > y->order;
	return c;
}

static int order_cmp(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void add_obj(struct obj **v, uint32_t *n, uint32_t *cap, const char *kind, const char *ns, const char *name,
		    const char *file)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		struct obj *nv = realloc(*v, *cap * sizeof(**v));
		if (!nv)
			abort();
		*v = nv;
	}
	(*v)[*n] = (struct obj){kind, ns, name, file, *n, 0, 0};
	(*n)++;
}

/* findings sorted by object, then by their report order */
struct fref {
	const struct kt_finding *f;
	uint32_t ix;
};

static int fref_cmp(const void *a, const void *b)
{
	const struct fref *x = a, *y = b;
	int c = kt_report_key_cmp(x->f->obj.kind, x->f->obj.namespace, x->f->obj.name, y->f->obj.kind,
				  y->f->obj.namespace, y->f->obj.name);
	if (!c)
		c = x->ix < y->ix ? -1 : x->ix > y->ix;
	return c;
}

static const char *file_of(const struct kt_snapshot *s, const struct kt_meta *m)
{
	return m->pos.file != KT_NONE && m->pos.file < s->n_files ? s->files[m->pos.file] : NULL;
}

/* The input errors (unparsable manifests) as one test suite. */
static void junit_errors(FILE *o, const struct kt_report *r)
{
	if (!r->n_errors)
		return;
	fprintf(o, "  <testsuite name=\"ktrace input\" tests=\"%u\" failures=\"0\" errors=\"%u\" skipped=\"0\">\n",
		r->n_errors, r->n_errors);
	for (uint32_t i = 0; i < r->n_errors; i++) {
		const struct kt_manifest_error *e = &r->errors[i];
		fputs("    <testcase classname=\"ktrace.input\" name=\"parse ", o);
		xml(o, e->file);
		fprintf(o, "\" file=\"");
		xml(o, e->file);
		fprintf(o, "\" line=\"%u\">\n      <error type=\"invalid-input\" message=\"", e->line);
		xml(o, e->msg);
		fprintf(o, "\">");
		xml(o, e->file);
		fprintf(o, ":%u:%u: ", e->line, e->col);
		xml(o, e->msg);
		fprintf(o, "</error>\n    </testcase>\n");
	}
	fprintf(o, "  </testsuite>\n");
}

/* One object's test suite: a passing case when it has no finding, else one
 * case per finding (failure at or above --fail-on, skipped if suppressed). */
static void junit_object(FILE *o, const struct kt_report *r, const struct obj *ob, const struct fref *fr)
{
	unsigned t = ob->f_n, f = 0, sk = 0;
	for (uint32_t j = 0; j < ob->f_n; j++) {
		const struct kt_finding *x = fr[ob->f_first + j].f;
		if (x->suppressed)
			sk++;
		else if (r->fail_on >= 0 && (int)x->severity >= r->fail_on)
			f++;
	}
	char cls[512];
	snprintf(cls, sizeof(cls), "%s.%s.%s", ob->ns ? ob->ns : "default", ob->kind ? ob->kind : "object",
		 ob->name ? ob->name : "?");
	fputs("  <testsuite name=\"", o);
	xml(o, ob->kind);
	fputc(' ', o);
	xml(o, ob->ns ? ob->ns : "default");
	fputc('/', o);
	xml(o, ob->name);
	fprintf(o, "\" tests=\"%u\" failures=\"%u\" errors=\"0\" skipped=\"%u\"", t ? t : 1, f, sk);
	if (ob->file) {
		fputs(" file=\"", o);
		xml(o, ob->file);
		fputc('"', o);
	}
	fputs(">\n", o);
	if (!t) {
		fputs("    <testcase classname=\"", o);
		xml(o, cls);
		fputs("\" name=\"ktrace\"/>\n", o);
	}
	for (uint32_t j = 0; j < ob->f_n; j++) {
		const struct kt_finding *x = fr[ob->f_first + j].f;
		const struct kt_rule *rule = &kt_rules[x->rule];
		fputs("    <testcase classname=\"", o);
		xml(o, cls);
		fprintf(o, "\" name=\"%s %s\"", rule->id, rule->name);
		if (x->file) {
			fputs(" file=\"", o);
			xml(o, x->file);
			fprintf(o, "\" line=\"%u\"", x->line);
		}
		fputs(">\n", o);
		if (x->suppressed) {
			fputs("      <skipped message=\"suppressed\"/>\n", o);
		} else if (r->fail_on >= 0 && (int)x->severity >= r->fail_on) {
			fprintf(o, "      <failure type=\"%s\" message=\"", kt_severity_name(x->severity));
			xml(o, x->message);
			fputs("\">", o);
			if (x->file) {
				xml(o, x->file);
				fprintf(o, ":%u:%u: ", x->line, x->col);
			}
			xml(o, x->message);
			fputs("\nfix: ", o);
			xml(o, rule->mitigation);
			fputs("</failure>\n", o);
		} else {
			fprintf(o, "      <system-out>%s: ", kt_severity_name(x->severity));
			xml(o, x->message);
			fputs("</system-out>\n", o);
		}
		fputs("    </testcase>\n", o);
	}
	fputs("  </testsuite>\n", o);
}

int kt_report_junit(struct kt_cli *c, FILE *o, const struct kt_report *r)
{
	struct obj *objs = NULL;
	uint32_t n = 0, cap = 0;
	const struct kt_snapshot *s = r->snap;
	/* objects with findings first (in finding order), then clean ones */
	for (uint32_t i = 0; i < r->f->n; i++) {
		const struct kt_finding *x = &r->f->v[i];
		add_obj(&objs, &n, &cap, x->obj.kind, x->obj.namespace, x->obj.name, x->file);
	}
	if (s) {
		for (uint32_t i = 0; i < s->n_services; i++) {
			const struct kt_meta *m = &s->services[i].meta;
			add_obj(&objs, &n, &cap, m->kind, m->namespace, m->name, file_of(s, m));
		}
		for (uint32_t i = 0; i < s->n_workloads; i++) {
			const struct kt_meta *m = &s->workloads[i].meta;
			if (s->workloads[i].owner == KT_NONE)
				add_obj(&objs, &n, &cap, m->kind, m->namespace, m->name, file_of(s, m));
		}
	}
	/* dedupe (keep the first appearance) */
	if (n > 1)
		qsort(objs, n, sizeof(*objs), obj_cmp);
	uint32_t u = 0;
	for (uint32_t i = 0; i < n; i++)
		if (!u || obj_cmp(&(struct obj){objs[i].kind, objs[i].ns, objs[i].name, NULL, 0, 0, 0},
				  &(struct obj){objs[u - 1].kind, objs[u - 1].ns, objs[u - 1].name, NULL, 0, 0, 0}))
			objs[u++] = objs[i];
	n = u;
	/* attach findings: both sorted by object */
	struct fref *fr = calloc(r->f->n + 1, sizeof(*fr));
	if (!fr)
		abort();
	for (uint32_t i = 0; i < r->f->n; i++)
		fr[i] = (struct fref){&r->f->v[i], i};
	if (r->f->n > 1)
		qsort(fr, r->f->n, sizeof(*fr), fref_cmp);
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct obj *ob = &objs[i];
		while (k < r->f->n && obj_cmp(&(struct obj){fr[k].f->obj.kind, fr[k].f->obj.namespace, fr[k].f->obj.name, NULL, 0, 0, 0},
					      &(struct obj){ob->kind, ob->ns, ob->name, NULL, 0, 0, 0}) < 0)
			k++;
		ob->f_first = k;
		while (k < r->f->n &&
		       !kt_report_key_cmp(fr[k].f->obj.kind, fr[k].f->obj.namespace, fr[k].f->obj.name, ob->kind, ob->ns,
					  ob->name)) {
			k++;
			ob->f_n++;
		}
	}
	if (n > 1)
		qsort(objs, n, sizeof(*objs), order_cmp);
	unsigned tests = 0, failures = 0;
	for (uint32_t i = 0; i < n; i++) {
		tests += objs[i].f_n ? objs[i].f_n : 1;
		for (uint32_t j = 0; j < objs[i].f_n; j++) {
			const struct kt_finding *x = fr[objs[i].f_first + j].f;
			if (!x->suppressed && r->fail_on >= 0 && (int)x->severity >= r->fail_on)
				failures++;
		}
	}
	fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(o, "<testsuites name=\"ktrace %s\" tests=\"%u\" failures=\"%u\" errors=\"%u\">\n", r->command,
		tests + r->n_errors, failures, r->n_errors);
	junit_errors(o, r);
	for (uint32_t i = 0; i < n; i++)
		junit_object(o, r, &objs[i], fr);
	fputs("</testsuites>\n", o);
	free(fr);
	free(objs);
	return ferror(o) ? -1 : 0;
}
