/*
 * Internal to cli/: one findings report (lint or check) and its renderers:
 * text (grouped, coloured), json (cli/render_report.c), SARIF 2.1.0
 * (cli/render_sarif.c) and JUnit XML (cli/render_junit.c).
 */
#ifndef KT_CLI_REPORT_H
#define KT_CLI_REPORT_H

#include <stdio.h>

#include "cli/cli.h"
#include "ktrace/findings.h"
#include "ktrace/manifest.h"
#include "ktrace/model.h"

struct kt_report {
	const char *command;     /* "lint" or "check" */
	const struct kt_snapshot *snap;
	const struct kt_findings *f; /* sorted; suppressed ones are counted, not shown */
	const struct kt_manifest_error *errors;
	uint32_t n_errors;
	const struct kt_manifest_error *warnings; /* lint: input that loads but deserves a look */
	uint32_t n_warnings;
	bool by_service;         /* check: group identical findings, the rest by Service
				  * (cli/render_check.c); lint: by object */
	bool summary_only;       /* check --summary: the table by rule and severity only */
	int fail_on;             /* enum kt_severity, or -1 = never */
	uint32_t files;          /* lint: files read */
	uint32_t objects;        /* lint: objects read */
};

struct kt_report_counts {
	unsigned sev[3];         /* by enum kt_severity, not suppressed */
	unsigned suppressed;
	unsigned failing;        /* at or above fail_on */
};

/* Orders objects by kind, namespace, name; NULL compares as "". */
int kt_report_key_cmp(const char *kind_a, const char *ns_a, const char *name_a, const char *kind_b, const char *ns_b,
		      const char *name_b);
void kt_report_count(const struct kt_report *r, struct kt_report_counts *c);
/* Exit code: 5 with input errors, else 1 when something fails, else 6
 * when a rule could not be checked (f->gaps), else 0. */
int kt_report_exit(const struct kt_report *r);
int kt_report_text(struct kt_cli *c, FILE *out, const struct kt_report *r);
/* The rules that could not be checked (f->gaps), one line each, escaped. */
void kt_report_gaps_text(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_json(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_sarif(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_junit(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_render(struct kt_cli *c, FILE *out, const struct kt_report *r);
/* check (cli/render_check.c): the grouped text, and the JSON's "groups"
 * (identical findings, one entry with its objects) and "byRule" table. */
int kt_check_text(struct kt_cli *c, FILE *out, const struct kt_report *r);
struct kt_jw;
void kt_check_json_groups(struct kt_jw *w, const struct kt_report *r);
/* Render to stdout; the exit code (KT_EXIT_INPUT when rendering failed). */
int kt_report_finish(struct kt_cli *c, const struct kt_report *r);

/* Shared by lint and check (cli/cmd_lint.c). */
struct kt_rules_config;
struct kt_arena;
int kt_lint_fail_on(const char *v); /* severity, -1 never, -2 invalid */
/* --fail-on and --config (else ./.ktrace.yaml when present; *cfg NULL when
 * none). 0 with *ra a new arena holding the config (caller frees), else the
 * exit code with the error reported and nothing to free. */
int kt_lint_setup(struct kt_cli *c, int *fail_on, struct kt_arena **ra, struct kt_rules_config *cfgbuf,
		  const struct kt_rules_config **cfg);
/* Warn (stderr) about config entries that match nothing in snap. */
void kt_lint_config_warnings(struct kt_cli *c, const struct kt_snapshot *snap, const struct kt_rules_config *cfg);

/* The options lint and check share (first in both option tables). */
#define KT_LINT_OPTS \
	{"fail-on", 0, KT_OPT_STR, "SEVERITY", "error|warning|info|never", "exit 1 when a finding is at or above SEVERITY (default error; never = always 0)"}, \
	{"config", 0, KT_OPT_STR, "FILE", "file", "rule configuration (default .ktrace.yaml in the current directory when present)"}, \
	{"ingress-selector", 0, KT_OPT_STR, "SELECTOR", NULL, "label selector marking ingress controller Pods (in addition to the well-known ones)"}

#endif
