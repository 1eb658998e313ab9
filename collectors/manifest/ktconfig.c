/*
 * Reads .ktrace.yaml (rule configuration) with the same YAML builder as
 * manifests and fills struct kt_rules_config: disable, severity, exclude
 * (shell globs for kind, namespace and name), ingressControllers. Strict:
 * unknown keys, rule ids, severities and malformed globs are errors with
 * file:line:col (a typo must not silently re-enable a rule). Never prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/manifest/manifest.h"
#include "ktrace/fileio.h"
#include "ktrace/ruleconf.h"

struct cfg_ctx {
	const char *path;
	struct kt_arena *a;
	struct kt_rules_config *c;
	struct kt_diag *d;
	struct kt_ypos *pos;
	int rc;
	int docs;
};

static int bad(struct cfg_ctx *x, const cJSON *n, const char *what, const char *arg)
{
	uint32_t l = 0, c = 0;
	kt_ypos_lookup(x->pos, n, &l, &c);
	x->rc = kt_diag_set(x->d, KT_EXIT_INPUT, "%s:%u:%u: %s%s%s", x->path, l, c, what, arg ? ": " : "",
			    arg ? arg : "");
	kt_diag_hint(x->d, "see 'ktrace rules' for rule ids and 'man ktrace-lint' for the file format");
	return x->rc;
}

static int rule_of(struct cfg_ctx *x, const cJSON *n, const char *s)
{
	int r = kt_rule_lookup(s);
	if (r < 0)
		bad(x, n, "unknown rule", s);
	return r;
}

static int rule_list(struct cfg_ctx *x, const cJSON *v, bool *set, bool *any)
{
	if (cJSON_IsString(v)) { /* "KT101, KT102" */
		for (int i = 0; i < KT_RULE_COUNT; i++)
			if (kt_ignore_lists(v->valuestring, (enum kt_rule_id)i)) {
				set[i] = true;
				if (any)
					*any = true;
			}
		return 0;
	}
	if (!cJSON_IsArray(v))
		return bad(x, v, "expected a list of rule ids", NULL);
	const cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		if (!cJSON_IsString(e))
			return bad(x, e, "expected a rule id", NULL);
		int r = rule_of(x, e, e->valuestring);
		if (r < 0)
			return -1;
		set[r] = true;
		if (any)
			*any = true;
	}
	return 0;
}

static const char *opt_str(struct cfg_ctx *x, const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		return NULL;
	if (!cJSON_IsString(v)) {
		bad(x, v, "expected a string for", k);
		return NULL;
	}
	return kt_arena_strdup(x->a, v->valuestring);
}

/* A glob pattern: fnmatch(3) syntax; an unclosed '[' or a trailing '\\'
 * is malformed (fnmatch would silently match nothing). */
static const char *opt_glob(struct cfg_ctx *x, const cJSON *o, const char *k)
{
	const char *v = opt_str(x, o, k);
	if (!v)
		return NULL;
	int depth = 0;
	for (const char *p = v; *p; p++) {
		if (*p == '\\' && !*++p)
			depth = -1;
		else if (*p == '[' && !depth)
			depth = 1;
		else if (*p == ']' && depth == 1)
			depth = 0;
		if (depth < 0)
			break;
	}
	if (depth) {
		bad(x, cJSON_GetObjectItemCaseSensitive(o, k), "malformed pattern (unclosed [ or trailing \\) in", k);
		return NULL;
	}
	return v;
}

static void at(struct cfg_ctx *x, const cJSON *n, uint32_t *line, uint32_t *col)
{
	*line = *col = 0;
	kt_ypos_lookup(x->pos, n, line, col);
}

static int excludes(struct cfg_ctx *x, const cJSON *k)
{
	if (!cJSON_IsArray(k))
		return bad(x, k, "expected a list of {namespace, kind, name, rules}", NULL);
	int n = cJSON_GetArraySize(k);
	x->c->excludes = KT_ANEW(x->a, struct kt_rules_exclude, n + 1);
	const cJSON *e;
	cJSON_ArrayForEach(e, k)
	{
		if (!cJSON_IsObject(e))
			return bad(x, e, "expected a mapping", NULL);
		struct kt_rules_exclude *ex = &x->c->excludes[x->c->n_excludes++];
		at(x, e, &ex->line, &ex->col);
		const cJSON *f;
		cJSON_ArrayForEach(f, e)
		{
			if (strcmp(f->string, "namespace") && strcmp(f->string, "kind") && strcmp(f->string, "name") &&
			    strcmp(f->string, "rules"))
				return bad(x, f, "unknown exclude key", f->string);
		}
		ex->namespace = opt_glob(x, e, "namespace");
		ex->kind = opt_glob(x, e, "kind");
		ex->name = opt_glob(x, e, "name");
		if (x->rc)
			return -1;
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "rules");
		if (r && rule_list(x, r, ex->rules, &ex->has_rules) < 0)
			return -1;
	}
	return 0;
}

static int ictrls(struct cfg_ctx *x, const cJSON *k)
{
	if (!cJSON_IsArray(k))
		return bad(x, k, "expected a list of {name, controller, image, labels}", NULL);
	x->c->ictrls = KT_ANEW(x->a, struct kt_rules_ictrl, cJSON_GetArraySize(k) + 1);
	const cJSON *e, *f;
	cJSON_ArrayForEach(e, k)
	{
		if (!cJSON_IsObject(e))
			return bad(x, e, "expected a mapping", NULL);
		struct kt_rules_ictrl *ic = &x->c->ictrls[x->c->n_ictrls++];
		at(x, e, &ic->line, &ic->col);
		cJSON_ArrayForEach(f, e)
		{
			if (strcmp(f->string, "name") && strcmp(f->string, "controller") && strcmp(f->string, "image") &&
			    strcmp(f->string, "labels"))
				return bad(x, f, "unknown ingressControllers key", f->string);
		}
		ic->name = opt_str(x, e, "name");
		ic->controller = opt_str(x, e, "controller");
		ic->image = opt_str(x, e, "image");
		if (x->rc)
			return -1;
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "labels");
		if (l) {
			if (!cJSON_IsObject(l) || !cJSON_GetArraySize(l))
				return bad(x, l, "expected a mapping of label to value", NULL);
			ic->labels.v = KT_ANEW(x->a, struct kt_kv, cJSON_GetArraySize(l));
			cJSON_ArrayForEach(f, l)
			{
				if (!cJSON_IsString(f))
					return bad(x, f, "expected a string value for label", f->string);
				ic->labels.v[ic->labels.n].key = kt_intern(x->a, f->string);
				ic->labels.v[ic->labels.n].value = kt_intern(x->a, f->valuestring);
				ic->labels.n++;
			}
		}
		if (!ic->name)
			return bad(x, e, "an ingress controller needs a name", NULL);
		if (!ic->controller && !ic->image && !ic->labels.n)
			return bad(x, e, "an ingress controller needs a controller, an image or labels", NULL);
	}
	return 0;
}

static int on_cfg(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line)
{
	struct cfg_ctx *x = ctx;
	x->pos = pos;
	if (x->docs++)
		return bad(x, root, "expected one YAML document", NULL);
	if (!cJSON_IsObject(root))
		return bad(x, root, "expected a mapping at the top level", NULL);
	const cJSON *k;
	cJSON_ArrayForEach(k, root)
	{
		if (!strcmp(k->string, "disable")) {
			if (rule_list(x, k, x->c->disabled, NULL) < 0)
				return -1;
		} else if (!strcmp(k->string, "severity")) {
			if (!cJSON_IsObject(k))
				return bad(x, k, "expected a mapping of rule id to severity", NULL);
			const cJSON *e;
			cJSON_ArrayForEach(e, k)
			{
				int r = rule_of(x, e, e->string);
				if (r < 0)
					return -1;
				int s = cJSON_IsString(e) ? kt_severity_parse(e->valuestring) : -1;
				if (s < 0)
					return bad(x, e, "severity must be error, warning or info for", e->string);
				x->c->severity[r] = s;
			}
		} else if (!strcmp(k->string, "exclude")) {
			if (excludes(x, k) < 0)
				return -1;
		} else if (!strcmp(k->string, "ingressControllers")) {
			if (ictrls(x, k) < 0)
				return -1;
		} else {
			return bad(x, k, "unknown key", k->string);
		}
	}
	return 0;
}

int kt_rules_config_load(const char *path, struct kt_arena *a, struct kt_rules_config *out, struct kt_diag *d)
{
	kt_rules_config_init(out);
	out->path = kt_arena_strdup(a, path);
	FILE *f = fopen(path, "rb");
	if (!f)
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot read config %s: %s", path, strerror(errno));
	char *buf;
	size_t len;
	int big = kt_read_stream(f, 4096, 1u << 24, &buf, &len);
	fclose(f);
	if (big) {
		free(buf);
		return kt_diag_set(d, KT_EXIT_INPUT, "config %s is larger than 16 MiB", path);
	}
	struct cfg_ctx x = {.path = path, .a = a, .c = out, .d = d};
	struct kt_yerr err;
	int rc = kt_yaml_parse(buf, len, 32, on_cfg, &x, &err);
	free(buf);
	if (rc == -1 && !x.rc)
		return kt_diag_set(d, KT_EXIT_INPUT, "%s:%u:%u: %s", path, err.line, err.col, err.msg);
	return x.rc ? x.rc : 0;
}
