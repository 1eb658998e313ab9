/*
 * The rule catalog table (generated from include/ktrace/rules.def) and the
 * findings list: append, sort, name lookups. No I/O.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ktrace/findings.h"
#include "ktrace/xalloc.h"

const struct kt_rule kt_rules[KT_RULE_COUNT] = {
#define KT_RULE(id, name, sev, layer, scope, summary, mitigation) \
	{#id, name, sev, layer, scope, summary, mitigation},
#include "ktrace/rules.def"
#undef KT_RULE
};

const char *kt_severity_name(enum kt_severity s)
{
	switch (s) {
	case KT_SEV_ERROR: return "error";
	case KT_SEV_WARNING: return "warning";
	case KT_SEV_INFO: return "info";
	}
	return "info";
}

int kt_severity_parse(const char *s)
{
	if (!s)
		return -1;
	if (!strcasecmp(s, "error"))
		return KT_SEV_ERROR;
	if (!strcasecmp(s, "warning") || !strcasecmp(s, "warn"))
		return KT_SEV_WARNING;
	if (!strcasecmp(s, "info"))
		return KT_SEV_INFO;
	return -1;
}

int kt_rule_lookup(const char *s)
{
	if (!s)
		return -1;
	for (int i = 0; i < KT_RULE_COUNT; i++)
		if (!strcasecmp(s, kt_rules[i].id) || !strcmp(s, kt_rules[i].name))
			return i;
	return -1;
}

struct kt_finding *kt_finding_add(struct kt_findings *f, struct kt_arena *a, enum kt_rule_id rule,
				  const struct kt_meta *obj, const char *fmt, ...)
{
	if (f->n >= f->cap) {
		uint32_t nc = f->cap ? f->cap * 2 : 16;
		f->v = kt_xreallocarray(f->v, nc, sizeof(*f->v));
		f->cap = nc;
	}
	struct kt_finding *x = &f->v[f->n++];
	memset(x, 0, sizeof(*x));
	x->rule = rule;
	x->severity = kt_rules[rule].severity;
	if (obj) {
		x->obj.kind = obj->kind;
		x->obj.namespace = obj->namespace;
		x->obj.name = obj->name;
	}
	va_list ap;
	va_start(ap, fmt);
	x->message = kt_arena_vprintf(a, fmt, ap);
	va_end(ap);
	return x;
}

void kt_findings_gap(struct kt_findings *f, struct kt_arena *a, enum kt_rule_id rule, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *why = kt_arena_vprintf(a, fmt, ap);
	va_end(ap);
	const char *what = kt_arena_printf(a, "%s %s", kt_rules[rule].id, kt_rules[rule].name);
	for (uint32_t i = 0; i < f->n_gaps; i++)
		if (!strcmp(f->gaps[i].what, what) && !strcmp(f->gaps[i].why, why))
			return;
	if (f->n_gaps >= f->cap_gaps) {
		f->cap_gaps = f->cap_gaps ? f->cap_gaps * 2 : 8;
		f->gaps = kt_xreallocarray(f->gaps, f->cap_gaps, sizeof(*f->gaps));
	}
	f->gaps[f->n_gaps].what = what;
	f->gaps[f->n_gaps].why = why;
	f->n_gaps++;
}

void kt_findings_release(struct kt_findings *f)
{
	free(f->v);
	free(f->gaps);
	memset(f, 0, sizeof(*f));
}

static int s0(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int fcmp(const void *a, const void *b)
{
	const struct kt_finding *x = a, *y = b;
	if (x->severity != y->severity)
		return x->severity > y->severity ? -1 : 1;
	int c = s0(x->obj.namespace, y->obj.namespace);
	if (!c)
		c = s0(x->obj.name, y->obj.name);
	if (!c)
		c = s0(x->obj.kind, y->obj.kind);
	if (!c)
		c = (int)x->rule - (int)y->rule;
	if (!c)
		c = s0(x->file, y->file);
	if (!c)
		c = (int)x->line - (int)y->line;
	if (!c)
		c = s0(x->message, y->message);
	return c;
}

void kt_findings_sort(struct kt_findings *f)
{
	if (f->n > 1)
		qsort(f->v, f->n, sizeof(*f->v), fcmp);
}
