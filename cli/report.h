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
	bool by_service;         /* group by Service (check) instead of object (lint) */
	int fail_on;             /* enum kt_severity, or -1 = never */
	uint32_t files;          /* lint: files read */
	uint32_t objects;        /* lint: objects read */
};

struct kt_report_counts {
	unsigned sev[3];         /* by enum kt_severity, not suppressed */
	unsigned suppressed;
	unsigned failing;        /* at or above fail_on */
};

void kt_report_count(const struct kt_report *r, struct kt_report_counts *c);
/* Exit code: 5 with input errors, else 1 when something fails, else 0. */
int kt_report_exit(const struct kt_report *r);
int kt_report_text(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_json(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_sarif(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_junit(struct kt_cli *c, FILE *out, const struct kt_report *r);
int kt_report_render(struct kt_cli *c, FILE *out, const struct kt_report *r);

/* Shared by lint and check (cli/cmd_lint.c). */
struct kt_rules_config;
struct kt_arena;
int kt_lint_fail_on(const char *v); /* severity, -1 never, -2 invalid */
int kt_lint_config(struct kt_cli *c, struct kt_arena *a, struct kt_rules_config *cfg,
		   const struct kt_rules_config **cfg_out);

#endif
