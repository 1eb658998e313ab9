/*
 * Suppression and severity overrides: `ktrace/ignore` annotations on the
 * object or its pod template (also `ktrace.io/ignore` and the per-rule
 * `ignore-check.ktrace.io/<rule>` form), and the parsed .ktrace.yaml
 * (disable, severity, exclude). Suppressed findings stay in the list,
 * marked, so renderers can count them. Also interprets the words of a
 * .ktrace.yaml (kt_rules_config_build). Exclude patterns are shell globs
 * (fnmatch(3)) on kind, namespace and name; entries that can never match
 * are reported back (kt_rules_config_unused) so a typo does not silently
 * keep a finding. Pure: no I/O (the config file is read by
 * collectors/manifest/ktconfig.c).
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "ktrace/util.h"
#include <strings.h>

#include "ktrace/ruleconf.h"

void kt_rules_config_init(struct kt_rules_config *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < KT_RULE_COUNT; i++)
		c->severity[i] = -1;
}

static int cfg_bad(const struct kt_ktconfig *raw, const struct kt_cfg_word *w, const char *what,
		   const char *arg, struct kt_diag *d)
{
	int rc = kt_diag_set(d, KT_EXIT_INPUT, "%s:%u:%u: %s%s%s", raw->path ? raw->path : ".ktrace.yaml", w->line,
			     w->col, what, arg ? ": " : "", arg ? arg : "");
	kt_diag_hint(d, "see 'ktrace rules' for rule ids and 'man ktrace-lint' for the file format");
	return rc;
}

/* A list names rules strictly; one string "KT101, KT102" leniently (as
 * the ktrace/ignore annotation does). */
static int cfg_rules(const struct kt_ktconfig *raw, const struct kt_cfg_rules *l, bool *set, struct kt_diag *d)
{
	if (l->one_string && l->n) {
		for (int i = 0; i < KT_RULE_COUNT; i++)
			if (kt_ignore_lists(l->v[0].text, (enum kt_rule_id)i))
				set[i] = true;
		return 0;
	}
	for (uint32_t i = 0; i < l->n; i++) {
		int r = kt_rule_lookup(l->v[i].text);
		if (r < 0)
			return cfg_bad(raw, &l->v[i], "unknown rule", l->v[i].text, d);
		set[r] = true;
	}
	return 0;
}

int kt_rules_config_build(const struct kt_ktconfig *raw, struct kt_arena *a, struct kt_rules_config *out,
			  struct kt_diag *d)
{
	kt_rules_config_init(out);
	out->path = raw->path;
	int rc = cfg_rules(raw, &raw->disable, out->disabled, d);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < raw->n_severity; i++) {
		const struct kt_cfg_severity *sv = &raw->severity[i];
		int r = kt_rule_lookup(sv->rule.text);
		if (r < 0)
			return cfg_bad(raw, &sv->rule, "unknown rule", sv->rule.text, d);
		int sev = kt_severity_parse(sv->severity.text);
		if (sev < 0)
			return cfg_bad(raw, &sv->severity, "severity must be error, warning or info for", sv->rule.text, d);
		out->severity[r] = sev;
	}
	out->excludes = KT_ANEW(a, struct kt_rules_exclude, raw->n_excludes + 1);
	for (uint32_t i = 0; i < raw->n_excludes; i++) {
		const struct kt_cfg_exclude *e = &raw->excludes[i];
		struct kt_rules_exclude *x = &out->excludes[out->n_excludes++];
		x->kind = e->kind;
		x->namespace = e->namespace;
		x->name = e->name;
		x->line = e->line;
		x->col = e->col;
		if (e->has_rules) {
			rc = cfg_rules(raw, &e->rules, x->rules, d);
			if (rc < 0)
				return rc;
			/* as before: a rules list that names something restricts the exclude */
			for (int r = 0; r < KT_RULE_COUNT && !x->has_rules; r++)
				x->has_rules = x->rules[r];
		}
	}
	out->ictrls = raw->ictrls;
	out->n_ictrls = raw->n_ictrls;
	return 0;
}

bool kt_ignore_lists(const char *v, enum kt_rule_id rule)
{
	if (!v)
		return false;
	const char *p = v;
	while (*p && *p != ':' && *p != '#') {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		const char *s = p;
		while (*p && *p != ',' && *p != ':' && *p != '#' && !isspace((unsigned char)*p))
			p++;
		size_t n = (size_t)(p - s);
		if (n == 0 || n >= 64)
			continue;
		char tok[64];
		memcpy(tok, s, n);
		tok[n] = 0;
		if (!strcasecmp(tok, "all") || !strcmp(tok, "*"))
			return true;
		if (kt_rule_lookup(tok) == (int)rule)
			return true;
	}
	return false;
}

static bool ann_ignores(const struct kt_kvlist *l, enum kt_rule_id rule)
{
	if (!l)
		return false;
	if (kt_ignore_lists(kt_kv_get(l, "ktrace/ignore"), rule) ||
	    kt_ignore_lists(kt_kv_get(l, "ktrace.io/ignore"), rule))
		return true;
	for (uint32_t i = 0; i < l->n; i++) {
		const char *k = l->v[i].key;
		static const char pfx[] = "ignore-check.ktrace.io/";
		if (k && !strncmp(k, pfx, sizeof(pfx) - 1) && kt_rule_lookup(k + sizeof(pfx) - 1) == (int)rule)
			return true;
	}
	return false;
}

static bool s_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool ns_eq(const char *a, const char *b)
{
	return strcmp(a && *a ? a : "default", b && *b ? b : "default") == 0;
}

static bool obj_is(const struct kt_meta *m, const struct kt_objref *r)
{
	return s_eq(m->kind, r->kind) && s_eq(m->name, r->name) && ns_eq(m->namespace, r->namespace);
}

static const struct kt_workload *find_wl(const struct kt_snapshot *s, const struct kt_objref *r)
{
	int kind = -1;
	for (int k = KT_WL_DEPLOYMENT; k <= KT_WL_POD; k++)
		if (!strcmp(kt_wl_kind_name((enum kt_wl_kind)k), r->kind))
			kind = k;
	if (kind < 0)
		return NULL;
	uint32_t i = kt_find_workload(s, r->namespace, (enum kt_wl_kind)kind, r->name);
	return i == KT_NONE ? NULL : &s->workloads[i];
}

/* The annotations that can suppress a finding on r. */
static bool annotated(const struct kt_snapshot *s, const struct kt_finding *f)
{
	const struct kt_objref *r = &f->obj;
	if (!r->kind)
		return false;
	if (!strcmp(r->kind, "Service")) {
		uint32_t i = kt_find_service(s, r->namespace, r->name);
		return i != KT_NONE && ann_ignores(&s->services[i].meta.annotations, f->rule);
	}
	if (!strcmp(r->kind, "Pod")) {
		uint32_t i = kt_find_pod(s, r->namespace, r->name);
		if (i != KT_NONE)
			return ann_ignores(&s->pods[i].meta.annotations, f->rule);
	}
	if (!strcmp(r->kind, "Node")) {
		uint32_t i = kt_find_node(s, r->name);
		return i != KT_NONE && ann_ignores(&s->nodes[i].meta.annotations, f->rule);
	}
	const struct kt_workload *w = find_wl(s, r);
	if (w)
		return ann_ignores(&w->meta.annotations, f->rule) || ann_ignores(&w->template_annotations, f->rule);
	for (uint32_t i = 0; i < s->n_ingresses; i++)
		if (obj_is(&s->ingresses[i].meta, r))
			return ann_ignores(&s->ingresses[i].meta.annotations, f->rule);
	return false;
}

static bool glob(const char *pat, const char *s)
{
	return !pat || fnmatch(pat, s ? s : "", 0) == 0;
}

static bool exclude_matches(const struct kt_rules_exclude *e, const char *kind, const char *ns, const char *name)
{
	return glob(e->kind, kind) && glob(e->namespace, ns && *ns ? ns : "default") && glob(e->name, name);
}

static bool excluded(const struct kt_rules_config *cfg, const struct kt_finding *f)
{
	for (uint32_t i = 0; i < cfg->n_excludes; i++) {
		const struct kt_rules_exclude *e = &cfg->excludes[i];
		if (e->has_rules && !e->rules[f->rule])
			continue;
		if (exclude_matches(e, f->obj.kind, f->obj.namespace, f->obj.name))
			return true;
	}
	return false;
}

/* The kinds findings are about: an exclude naming another kind is a typo. */
static const char *const finding_kinds[] = {
	"Service", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "Rollout",
	"CloneSet", "Ingress", "HTTPRoute", "GRPCRoute", "Gateway", "Node", NULL,
};

static bool meta_matches(const struct kt_rules_exclude *e, const struct kt_meta *m)
{
	return exclude_matches(e, m->kind, m->namespace, m->name);
}

#define ANY(arr, n, field) \
	for (uint32_t k = 0; !hit && k < (n); k++) \
		hit = meta_matches(e, &(arr)[k].field)

void kt_rules_config_unused(const struct kt_snapshot *s, const struct kt_rules_config *cfg,
			    void (*fn)(void *ctx, uint32_t line, uint32_t col, const char *msg), void *ctx)
{
	for (uint32_t i = 0; cfg && i < cfg->n_excludes; i++) {
		const struct kt_rules_exclude *e = &cfg->excludes[i];
		char msg[400];
		if (e->kind && !strpbrk(e->kind, "*?[")) {
			const char *best = NULL;
			unsigned bd = ~0u;
			bool known = false;
			for (const char *const *k = finding_kinds; *k; k++) {
				unsigned d = kt_edit_distance(e->kind, *k);
				known = known || !strcmp(e->kind, *k);
				if (d < bd) {
					bd = d;
					best = *k;
				}
			}
			if (!known) {
				snprintf(msg, sizeof(msg), "exclude kind '%s' is not a kind ktrace reports on%s%s%s", e->kind,
					 bd <= 3 ? " (did you mean " : "", bd <= 3 ? best : "", bd <= 3 ? "?)" : "");
				fn(ctx, e->line, e->col, msg);
				continue;
			}
		}
		bool hit = false;
		ANY(s->services, s->n_services, meta);
		ANY(s->workloads, s->n_workloads, meta);
		ANY(s->pods, s->n_pods, meta);
		ANY(s->ingresses, s->n_ingresses, meta);
		ANY(s->routes, s->n_routes, meta);
		ANY(s->gateways, s->n_gateways, meta);
		ANY(s->nodes, s->n_nodes, meta);
		if (hit)
			continue;
		snprintf(msg, sizeof(msg), "exclude {%s%s%s%s%s%s%s%s%s} matches no object in the input", e->kind ? "kind: " : "",
			 e->kind ? e->kind : "", e->kind && (e->namespace || e->name) ? ", " : "",
			 e->namespace ? "namespace: " : "", e->namespace ? e->namespace : "", e->namespace && e->name ? ", " : "",
			 e->name ? "name: " : "", e->name ? e->name : "", !e->kind && !e->namespace && !e->name ? "" : "");
		fn(ctx, e->line, e->col, msg);
	}
}

void kt_suppress_apply(const struct kt_snapshot *s, const struct kt_rules_config *cfg, struct kt_findings *f,
		       uint32_t from)
{
	for (uint32_t i = from; i < f->n; i++) {
		struct kt_finding *x = &f->v[i];
		if (cfg && cfg->severity[x->rule] >= 0)
			x->severity = (enum kt_severity)cfg->severity[x->rule];
		if (cfg && (cfg->disabled[x->rule] || excluded(cfg, x)))
			x->suppressed = true;
		else if (s && annotated(s, x))
			x->suppressed = true;
	}
}
