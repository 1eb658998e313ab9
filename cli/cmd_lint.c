/*
 * `ktrace lint PATH...`: CI policy checks over manifests. Loads files,
 * directories and stdin with the manifest loader, runs the rule engine
 * (manifest scope), applies .ktrace.yaml and ktrace/ignore suppression and
 * renders text, json, sarif or junit. Exit 5 when any input was malformed
 * (the rest is still checked), else 1 when a finding is at or above
 * --fail-on, else 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/report.h"
#include "ktrace/analyze.h"
#include "ktrace/manifest.h"
#include "ktrace/ruleconf.h"
#include "ktrace/env.h"
#include "ktrace/xalloc.h"

/* --fail-on: a severity, or "never"/"none". -2 on a bad value. */
int kt_lint_fail_on(const char *v)
{
	if (!v)
		return KT_SEV_ERROR;
	if (!strcmp(v, "never") || !strcmp(v, "none"))
		return -1;
	int s = kt_severity_parse(v);
	return s < 0 ? -2 : s;
}

/* --config FILE, else ./.ktrace.yaml when present. *cfg_out NULL when none. */
static int lint_config(struct kt_cli *c, struct kt_arena *a, struct kt_rules_config *cfg,
		       const struct kt_rules_config **cfg_out)
{
	const char *path = kt_opt_str(c, "config");
	*cfg_out = NULL;
	if (!path && access(".ktrace.yaml", R_OK) == 0)
		path = ".ktrace.yaml";
	if (!path)
		return 0;
	struct kt_diag d = {0};
	struct kt_ktconfig raw;
	if (kt_ktconfig_read(path, a, &raw, &d) < 0 || kt_rules_config_build(&raw, a, cfg, &d) < 0)
		return kt_cli_fail(c, &d);
	*cfg_out = cfg;
	return 0;
}

struct cfg_warn_ctx {
	struct kt_cli *c;
	const char *path;
};

static void cfg_warn(void *ctx, uint32_t line, uint32_t col, const char *msg)
{
	struct cfg_warn_ctx *w = ctx;
	kt_cli_warn(w->c, "%s:%u:%u: %s", kt_cv(w->c, w->path), line, col, kt_cv(w->c, msg));
}

void kt_lint_config_warnings(struct kt_cli *c, const struct kt_snapshot *snap, const struct kt_rules_config *cfg)
{
	if (!cfg)
		return;
	struct cfg_warn_ctx w = {c, cfg->path ? cfg->path : ".ktrace.yaml"};
	kt_rules_config_unused(snap, cfg, cfg_warn, &w);
}

int kt_lint_setup(struct kt_cli *c, int *fail_on, struct kt_arena **ra, struct kt_rules_config *cfgbuf,
		  const struct kt_rules_config **cfg)
{
	*fail_on = kt_lint_fail_on(kt_opt_str(c, "fail-on"));
	if (*fail_on == -2)
		return kt_cli_error(c, KT_EXIT_USAGE, "use error, warning, info or never", "invalid --fail-on '%s'",
				    kt_opt_str(c, "fail-on"));
	*ra = kt_arena_new();
	int rc = lint_config(c, *ra, cfgbuf, cfg);
	if (rc) {
		kt_arena_free(*ra);
		*ra = NULL;
	}
	return rc;
}

static int run(struct kt_cli *c)
{
	if (c->argc < 1)
		return kt_cli_error(c, KT_EXIT_USAGE, "examples: ktrace lint k8s/, helm template . | ktrace lint -",
				    "no manifests given");
	int fail_on;
	struct kt_arena *ra;
	struct kt_rules_config cfgbuf;
	const struct kt_rules_config *cfg;
	int rc = kt_lint_setup(c, &fail_on, &ra, &cfgbuf, &cfg);
	if (rc)
		return rc;
	/* the model of a manifest tree is many MiB of small allocations */
	kt_heap_hugepages(64u << 20);
	struct kt_snapshot *snap = NULL;
	struct kt_manifest_result mr = {0};
	/* files are loaded on two threads when a CPU is idle (decided by the
	 * loader); KTRACE_LINT_THREADS=1 or 2 forces it (benchmarks, tests) */
	struct kt_manifest_opts mo = {.helm_source = true, .threads = 0};
	long th = kt_env_long(KT_ENV_LINT_THREADS, 1, 1024, 0);
	if (th >= 1)
		mo.threads = th > 1 ? 2 : 1;
	kt_source_manifests((const char *const *)c->argv, (unsigned)c->argc, &mo, &snap, &mr);
	for (uint32_t i = 0; i < mr.n_errors; i++) {
		const struct kt_manifest_error *e = &mr.errors[i];
		if (e->line)
			fprintf(stderr, "ktrace: lint: %s:%u:%u: %s\n", kt_cv(c, e->file), e->line, e->col, kt_cv(c, e->msg));
		else
			fprintf(stderr, "ktrace: lint: %s: %s\n", kt_cv(c, e->file), kt_cv(c, e->msg));
	}
	for (uint32_t i = 0; i < mr.n_warnings; i++) {
		const struct kt_manifest_error *e = &mr.warnings[i];
		kt_cli_warn(c, "%s:%u:%u: %s", kt_cv(c, e->file), e->line, e->col, kt_cv(c, e->msg));
	}
	kt_lint_config_warnings(c, snap, cfg);
	if (mr.n_errors)
		fprintf(stderr, "hint: fix the invalid input (exit 5); everything else was still checked\n");
	if (!mr.objects && !mr.n_errors && !kt_opt_flag(c, "allow-empty")) {
		/* a chart that renders nothing, a wrong directory: not a clean pass */
		uint32_t files = mr.files;
		kt_manifest_result_free(&mr);
		kt_snapshot_free(snap);
		kt_arena_free(ra);
		return kt_cli_error(c, KT_EXIT_INPUT, "pass --allow-empty when an empty input is expected",
				    "no Kubernetes objects in %s%s (%u file%s read)", c->argv[0], c->argc > 1 ? " ..." : "",
				    files, files == 1 ? "" : "s");
	}
	struct kt_findings f = {0};
	struct kt_rules_opts ro = {.live = false, .ingress_selector = kt_opt_str(c, "ingress-selector"), .config = cfg};
	kt_rules_run(snap, &ro, ra, &f);
	struct kt_report r = {
		.command = "lint",
		.snap = snap,
		.f = &f,
		.errors = mr.errors,
		.n_errors = mr.n_errors,
		.warnings = mr.warnings,
		.n_warnings = mr.n_warnings,
		.fail_on = fail_on,
		.files = mr.files,
		.objects = mr.objects,
	};
	rc = kt_report_finish(c, &r);
	kt_findings_release(&f);
	kt_manifest_result_free(&mr);
	kt_snapshot_free(snap);
	kt_arena_free(ra);
	return rc;
}

static const struct kt_option opts[] = {
	KT_LINT_OPTS,
	{"allow-empty", 0, KT_OPT_FLAG, NULL, NULL, "no objects in the input is not an error (exit 0 instead of 5)"},
	{0},
};

const struct kt_command kt_cmd_lint = {
	.name = "lint",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_NO_GLOBALS,
	.args = "*file",
	.usage = "PATH...",
	.summary = "check manifests (files, directories, - for stdin) against the rule catalog",
	.description =
		"Loads Kubernetes manifests (YAML or JSON; multi-document files, List kinds,\n"
		"directories recursively, '-' for stdin such as `helm template` or\n"
		"`kustomize build` output) and checks every Service, workload, PDB, Ingress and\n"
		"IngressClass against the manifest rules of `ktrace rules`. Findings point at\n"
		"file:line:col of the offending field.\n"
		"\n"
		"Suppress a finding with the annotation ktrace/ignore: \"KT101,KT201: reason\" on\n"
		"the object or its pod template, or in .ktrace.yaml:\n"
		"  disable: [KT404]\n"
		"  severity: {KT401: info}\n"
		"  exclude: [{namespace: kube-system}, {kind: Service, name: legacy, rules: [KT101]}]\n"
		"\n"
		"Exit status: 0 clean, 1 a finding at or above --fail-on, 5 malformed input\n"
		"(the other files are still checked) or no objects at all (unless --allow-empty),\n"
		"6 a rule could not be checked because the input lacks a kind it needs (listed\n"
		"under gaps, e.g. \"not checked: no workloads or Pods in the input\").\n"
		"\n"
		"Examples:\n"
		"  ktrace lint k8s/\n"
		"  helm template . | ktrace lint -\n"
		"  ktrace lint -o sarif k8s/ > ktrace.sarif\n"
		"  ktrace lint --fail-on warning -o junit k8s/ > ktrace-junit.xml\n",
	.outputs = "text|wide|json|yaml|sarif|junit",
};
