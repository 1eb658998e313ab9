/*
 * Reads .ktrace.yaml (rule configuration) with the same libyaml builder
 * as manifests and fills struct kt_rules_config: disable, severity,
 * exclude. Strict: unknown keys, rule ids and severities are errors with
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
				const cJSON *f;
				cJSON_ArrayForEach(f, e)
				{
					if (strcmp(f->string, "namespace") && strcmp(f->string, "kind") &&
					    strcmp(f->string, "name") && strcmp(f->string, "rules"))
						return bad(x, f, "unknown exclude key", f->string);
				}
				ex->namespace = opt_str(x, e, "namespace");
				ex->kind = opt_str(x, e, "kind");
				ex->name = opt_str(x, e, "name");
				if (x->rc)
					return -1;
				const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "rules");
				if (r && rule_list(x, r, ex->rules, &ex->has_rules) < 0)
					return -1;
			}
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
