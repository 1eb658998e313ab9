/*
 * SARIF 2.1.0 for GitHub code scanning: one run, tool.driver.rules[] from
 * the rule catalog (short/full description, help text and markdown with
 * the mechanism and the fix, default level), one result per shown finding
 * with ruleId/ruleIndex, level, a physical location with a 1-based region
 * pointing at the offending field, the Kubernetes object as a logical
 * location and a stable partial fingerprint. Input errors become
 * toolExecutionNotifications. Writes only to the FILE it is given.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/report.h"
#include "ktrace/jsonw.h"
#include "ktrace/ruleconf.h"

static const char *level(enum kt_severity s)
{
	switch (s) {
	case KT_SEV_ERROR: return "error";
	case KT_SEV_WARNING: return "warning";
	case KT_SEV_INFO: return "note";
	}
	return "note";
}

/* Relative, percent-encoded URI for a file path ("-" -> "stdin");
 * backslashes become '/'. */
static const char *uri(const char *file, char *buf, size_t len)
{
	char cwd[PATH_MAX];
	if (!file || !strcmp(file, "-"))
		return "stdin";
	if (file[0] == '/' && getcwd(cwd, sizeof(cwd))) {
		size_t l = strlen(cwd);
		if (!strncmp(file, cwd, l) && file[l] == '/')
			file += l + 1;
	}
	while (file[0] == '.' && file[1] == '/')
		file += 2;
	size_t o = 0;
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)file; *p && o + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~/", *p)) {
			buf[o++] = (char)*p;
		} else if (*p == '\\') {
			buf[o++] = '/'; /* a Windows path (Helm's "# Source:" on Windows) */
		} else {
			buf[o++] = '%';
			buf[o++] = hex[*p >> 4];
			buf[o++] = hex[*p & 15];
		}
	}
	buf[o] = 0;
	return buf;
}

static void rule_desc(struct kt_jw *w, int i)
{
	const struct kt_rule *r = &kt_rules[i];
	const struct kt_rule_explain *e = &kt_rule_explains[i];
	char text[4096];
	kt_jw_obj(w);
	kt_jw_kstr(w, "id", r->id);
	kt_jw_kstr(w, "name", r->name);
	kt_jw_key(w, "shortDescription");
	kt_jw_obj(w);
	kt_jw_kstr(w, "text", r->summary);
	kt_jw_obj_end(w);
	kt_jw_key(w, "fullDescription");
	kt_jw_obj(w);
	kt_jw_kstr(w, "text", e->mechanism ? e->mechanism : r->summary);
	kt_jw_obj_end(w);
	kt_jw_key(w, "help");
	kt_jw_obj(w);
	snprintf(text, sizeof(text), "%s\n\nFix: %s\n\nSuppress: annotation ktrace/ignore: \"%s\" on the object or its pod template, or disable: [%s] in .ktrace.yaml.",
		 e->mechanism ? e->mechanism : r->summary, r->mitigation, r->id, r->id);
	kt_jw_kstr(w, "text", text);
	snprintf(text, sizeof(text),
		 "**%s %s**\n\n%s\n\n**Fix:** %s\n\nDoes not fire on:\n\n```yaml\n%s```\n\nSuppress with the annotation `ktrace/ignore: \"%s\"` or `disable: [%s]` in `.ktrace.yaml`.",
		 r->id, r->name, e->mechanism ? e->mechanism : r->summary, r->mitigation, e->good ? e->good : "",
		 r->id, r->id);
	kt_jw_kstr(w, "markdown", text);
	kt_jw_obj_end(w);
	kt_jw_key(w, "defaultConfiguration");
	kt_jw_obj(w);
	kt_jw_kstr(w, "level", level(r->severity));
	kt_jw_obj_end(w);
	kt_jw_key(w, "properties");
	kt_jw_obj(w);
	kt_jw_key(w, "tags");
	kt_jw_arr(w);
	kt_jw_str(w, "kubernetes");
	kt_jw_str(w, r->layer);
	kt_jw_arr_end(w);
	kt_jw_kstr(w, "precision", "high");
	kt_jw_kstr(w, "problem.severity", r->severity == KT_SEV_INFO ? "recommendation" : level(r->severity));
	kt_jw_obj_end(w);
	kt_jw_obj_end(w);
}

/* "physicalLocation" of a locations[] entry: file, line and column (1 when
 * unknown). */
static void phys_location(struct kt_jw *w, const char *file, uint32_t line, uint32_t col)
{
	char ubuf[PATH_MAX * 3 + 8];
	kt_jw_key(w, "physicalLocation");
	kt_jw_obj(w);
	kt_jw_key(w, "artifactLocation");
	kt_jw_obj(w);
	kt_jw_kstr(w, "uri", uri(file, ubuf, sizeof(ubuf)));
	kt_jw_obj_end(w);
	kt_jw_key(w, "region");
	kt_jw_obj(w);
	kt_jw_kuint(w, "startLine", line ? line : 1);
	kt_jw_kuint(w, "startColumn", col ? col : 1);
	kt_jw_obj_end(w);
	kt_jw_obj_end(w);
}

static void result(struct kt_jw *w, const struct kt_finding *f)
{
	const struct kt_rule *r = &kt_rules[f->rule];
	char fq[768];
	kt_jw_obj(w);
	kt_jw_kstr(w, "ruleId", r->id);
	kt_jw_kint(w, "ruleIndex", (int64_t)f->rule);
	kt_jw_kstr(w, "level", level(f->severity));
	kt_jw_key(w, "message");
	kt_jw_obj(w);
	char msg[2048];
	snprintf(msg, sizeof(msg), "%s %s/%s: %s", f->obj.kind ? f->obj.kind : "object",
		 f->obj.namespace ? f->obj.namespace : "default", f->obj.name ? f->obj.name : "?", f->message);
	kt_jw_kstr(w, "text", msg);
	kt_jw_obj_end(w);
	kt_jw_key(w, "locations");
	kt_jw_arr(w);
	kt_jw_obj(w);
	/* check: a live object has no file, only its logical location */
	if (f->file)
		phys_location(w, f->file, f->line, f->col);
	kt_jw_key(w, "logicalLocations");
	kt_jw_arr(w);
	kt_jw_obj(w);
	snprintf(fq, sizeof(fq), "%s/%s/%s", f->obj.namespace ? f->obj.namespace : "default",
		 f->obj.kind ? f->obj.kind : "object", f->obj.name ? f->obj.name : "?");
	kt_jw_kstr(w, "name", f->obj.name);
	kt_jw_kstr(w, "fullyQualifiedName", fq);
	kt_jw_kstr(w, "kind", "resource");
	kt_jw_obj_end(w);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	kt_jw_arr_end(w);
	kt_jw_key(w, "partialFingerprints");
	kt_jw_obj(w);
	char fp[900];
	snprintf(fp, sizeof(fp), "%s:%s", r->id, fq);
	kt_jw_kstr(w, "ktraceObject/v1", fp);
	kt_jw_obj_end(w);
	kt_jw_obj_end(w);
}

int kt_report_sarif(struct kt_cli *c, FILE *out, const struct kt_report *r)
{
	struct kt_jw *w = kt_jw_new(out, true);
	kt_jw_obj(w);
	kt_jw_kstr(w, "$schema", "https://json.schemastore.org/sarif-2.1.0.json");
	kt_jw_kstr(w, "version", "2.1.0");
	kt_jw_key(w, "runs");
	kt_jw_arr(w);
	kt_jw_obj(w);
	kt_jw_key(w, "tool");
	kt_jw_obj(w);
	kt_jw_key(w, "driver");
	kt_jw_obj(w);
	kt_jw_kstr(w, "name", "ktrace");
	kt_jw_kstr(w, "version", KT_VERSION);
	kt_jw_kstr(w, "semanticVersion", KT_VERSION);
	kt_jw_kstr(w, "informationUri", "https://github.com/ktrace/ktrace");
	kt_jw_key(w, "rules");
	kt_jw_arr(w);
	for (int i = 0; i < KT_RULE_COUNT; i++)
		rule_desc(w, i);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	kt_jw_obj_end(w);
	kt_jw_key(w, "invocations");
	kt_jw_arr(w);
	kt_jw_obj(w);
	kt_jw_kbool(w, "executionSuccessful", r->n_errors == 0);
	kt_jw_key(w, "toolExecutionNotifications");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->n_errors; i++) {
		const struct kt_manifest_error *e = &r->errors[i];
		kt_jw_obj(w);
		kt_jw_kstr(w, "level", "error");
		kt_jw_key(w, "message");
		kt_jw_obj(w);
		kt_jw_kstr(w, "text", e->msg);
		kt_jw_obj_end(w);
		kt_jw_key(w, "locations");
		kt_jw_arr(w);
		kt_jw_obj(w);
		phys_location(w, e->file, e->line, e->col);
		kt_jw_obj_end(w);
		kt_jw_arr_end(w);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	kt_jw_arr_end(w);
	kt_jw_kstr(w, "columnKind", "unicodeCodePoints");
	kt_jw_key(w, "results");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->f->n; i++)
		if (!r->f->v[i].suppressed)
			result(w, &r->f->v[i]);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	return kt_jw_free(w) ? -1 : 0;
}
