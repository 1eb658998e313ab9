/*
 * Reads .ktrace.yaml (rule configuration) with the same YAML builder as
 * manifests into the plain struct kt_ktconfig: the words of disable,
 * severity and exclude (shell globs for kind, namespace and name) and the
 * ingressControllers entries, with the line:col they were written at.
 * Strict about the shape: unknown keys, wrong types and malformed globs
 * are errors with file:line:col. What the words mean (rule ids, names,
 * severities) is decided by analyzers/suppress.c (kt_rules_config_build);
 * this file never interprets them. Never prints.
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
	struct kt_ktconfig *c;
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

static struct kt_cfg_word word(struct cfg_ctx *x, const cJSON *n, const char *text)
{
	struct kt_cfg_word w = {.text = kt_arena_strdup(x->a, text)};
	kt_ypos_lookup(x->pos, n, &w.line, &w.col);
	return w;
}

/* A list of rule ids, or one string "KT101, KT102". */
static int rule_list(struct cfg_ctx *x, const cJSON *v, struct kt_cfg_rules *out)
{
	if (cJSON_IsString(v)) {
		out->v = KT_ANEW(x->a, struct kt_cfg_word, 1);
		out->v[0] = word(x, v, v->valuestring);
		out->n = 1;
		out->one_string = true;
		return 0;
	}
	if (!cJSON_IsArray(v))
		return bad(x, v, "expected a list of rule ids", NULL);
	out->v = KT_ANEW(x->a, struct kt_cfg_word, (uint32_t)cJSON_GetArraySize(v) + 1);
	const cJSON *e;
	cJSON_ArrayForEach(e, v)
	{
		if (!cJSON_IsString(e))
			return bad(x, e, "expected a rule id", NULL);
		out->v[out->n++] = word(x, e, e->valuestring);
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

static int severities(struct cfg_ctx *x, const cJSON *k)
{
	if (!cJSON_IsObject(k))
		return bad(x, k, "expected a mapping of rule id to severity", NULL);
	x->c->severity = KT_ANEW(x->a, struct kt_cfg_severity, (uint32_t)cJSON_GetArraySize(k) + 1);
	const cJSON *e;
	cJSON_ArrayForEach(e, k)
	{
		struct kt_cfg_severity *s = &x->c->severity[x->c->n_severity++];
		s->rule = word(x, e, e->string);
		s->severity = word(x, e, cJSON_IsString(e) ? e->valuestring : "");
	}
	return 0;
}

static int excludes(struct cfg_ctx *x, const cJSON *k)
{
	if (!cJSON_IsArray(k))
		return bad(x, k, "expected a list of {namespace, kind, name, rules}", NULL);
	int n = cJSON_GetArraySize(k);
	x->c->excludes = KT_ANEW(x->a, struct kt_cfg_exclude, n + 1);
	const cJSON *e;
	cJSON_ArrayForEach(e, k)
	{
		if (!cJSON_IsObject(e))
			return bad(x, e, "expected a mapping", NULL);
		struct kt_cfg_exclude *ex = &x->c->excludes[x->c->n_excludes++];
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
		if (r) {
			ex->has_rules = true;
			if (rule_list(x, r, &ex->rules) < 0)
				return -1;
		}
	}
	return 0;
}

static int ictrls(struct cfg_ctx *x, const cJSON *k)
{
	if (!cJSON_IsArray(k))
		return bad(x, k, "expected a list of {name, controller, image, labels}", NULL);
	x->c->ictrls = KT_ANEW(x->a, struct kt_rules_ictrl, (uint32_t)cJSON_GetArraySize(k) + 1);
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
			ic->labels.v = KT_ANEW(x->a, struct kt_kv, (uint32_t)cJSON_GetArraySize(l));
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
		int rc;
		if (!strcmp(k->string, "disable"))
			rc = rule_list(x, k, &x->c->disable);
		else if (!strcmp(k->string, "severity"))
			rc = severities(x, k);
		else if (!strcmp(k->string, "exclude"))
			rc = excludes(x, k);
		else if (!strcmp(k->string, "ingressControllers"))
			rc = ictrls(x, k);
		else
			rc = bad(x, k, "unknown key", k->string);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int kt_ktconfig_read(const char *path, struct kt_arena *a, struct kt_ktconfig *out, struct kt_diag *d)
{
	memset(out, 0, sizeof(*out));
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
	struct cfg_ctx x = {.path = out->path, .a = a, .c = out, .d = d};
	struct kt_yerr err;
	int rc = kt_yaml_parse(buf, len, 32, on_cfg, &x, &err);
	free(buf);
	if (rc == -1 && !x.rc)
		return kt_diag_set(d, KT_EXIT_INPUT, "%s:%u:%u: %s", path, err.line, err.col, err.msg);
	return x.rc ? x.rc : 0;
}
