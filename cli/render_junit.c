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
};

static bool s_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static void add_obj(struct obj **v, uint32_t *n, uint32_t *cap, const char *kind, const char *ns, const char *name,
		    const char *file)
{
	for (uint32_t i = 0; i < *n; i++)
		if (s_eq((*v)[i].kind, kind) && s_eq((*v)[i].ns, ns) && s_eq((*v)[i].name, name))
			return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		struct obj *nv = realloc(*v, *cap * sizeof(**v));
		if (!nv)
			abort();
		*v = nv;
	}
	(*v)[(*n)++] = (struct obj){kind, ns, name, file};
}

static const char *file_of(const struct kt_snapshot *s, const struct kt_meta *m)
{
	return m->pos.file != KT_NONE && m->pos.file < s->n_files ? s->files[m->pos.file] : NULL;
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
	struct kt_report_counts cnt;
	kt_report_count(r, &cnt);
	unsigned tests = 0, failures = 0;
	for (uint32_t i = 0; i < n; i++) {
		bool any = false;
		for (uint32_t j = 0; j < r->f->n; j++) {
			const struct kt_finding *x = &r->f->v[j];
			if (s_eq(x->obj.kind, objs[i].kind) && s_eq(x->obj.namespace, objs[i].ns) &&
			    s_eq(x->obj.name, objs[i].name)) {
				tests++;
				any = true;
				if (!x->suppressed && r->fail_on >= 0 && (int)x->severity >= r->fail_on)
					failures++;
			}
		}
		if (!any)
			tests++;
	}
	fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(o, "<testsuites name=\"ktrace %s\" tests=\"%u\" failures=\"%u\" errors=\"%u\">\n", r->command,
		tests + r->n_errors, failures, r->n_errors);
	if (r->n_errors) {
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
	for (uint32_t i = 0; i < n; i++) {
		const struct obj *ob = &objs[i];
		unsigned t = 0, f = 0, sk = 0;
		for (uint32_t j = 0; j < r->f->n; j++) {
			const struct kt_finding *x = &r->f->v[j];
			if (!(s_eq(x->obj.kind, ob->kind) && s_eq(x->obj.namespace, ob->ns) && s_eq(x->obj.name, ob->name)))
				continue;
			t++;
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
		for (uint32_t j = 0; j < r->f->n; j++) {
			const struct kt_finding *x = &r->f->v[j];
			if (!(s_eq(x->obj.kind, ob->kind) && s_eq(x->obj.namespace, ob->ns) && s_eq(x->obj.name, ob->name)))
				continue;
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
	fputs("</testsuites>\n", o);
	free(objs);
	return ferror(o) ? -1 : 0;
}
