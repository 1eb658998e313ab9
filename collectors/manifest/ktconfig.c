/*
 * Reads .ktrace.yaml (rule configuration) with the same YAML builder as
 * manifests into the plain struct kt_ktconfig: the words of disable,
 * severity and exclude with the line:col they were written at. Strict
 * about the shape: unknown keys and wrong types are errors with
 * file:line:col. What the words mean (rule ids, names, severities) is
 * decided by analyzers/suppress.c (kt_rules_config_build); this file never
 * interprets them. Never prints.
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
		const cJSON *f;
		cJSON_ArrayForEach(f, e)
		{
			if (strcmp(f->string, "namespace") && strcmp(f->string, "kind") && strcmp(f->string, "name") &&
			    strcmp(f->string, "rules"))
				return bad(x, f, "unknown exclude key", f->string);
		}
		ex->namespace = opt_str(x, e, "namespace");
		ex->kind = opt_str(x, e, "kind");
		ex->name = opt_str(x, e, "name");
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
