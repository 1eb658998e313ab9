/*
 * `ktrace check`: every analyzer over the live cluster (or --from BUNDLE /
 * demo): the rule engine with live-only rules (KT102/KT103 quantified from
 * endpoints per node, KT304, KT501 on Pods, KT503), the dataplane diff
 * (KT601-KT603) and flow imbalance (KT402/KT403) when node state is in the
 * snapshot or readable on this node. Findings are grouped by Service, most
 * severe first, with a summary line; suppression as for lint.
 */
#include <string.h>

#include "cli/cli.h"
#include "cli/report.h"
#include "ktrace/analyze.h"
#include "ktrace/ruleconf.h"

static int run(struct kt_cli *c)
{
	/* parse */
	int fail_on;
	struct kt_arena *ra;
	struct kt_rules_config cfgbuf;
	const struct kt_rules_config *cfg;
	struct kt_diag d = {0};
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	if (kt_cli_target(c, &sc, 0, &d) < 0)
		return kt_cli_fail(c, &d);
	int rc = kt_lint_setup(c, &fail_on, &ra, &cfgbuf, &cfg);
	if (rc)
		return rc;
	/* load: the whole cluster, one namespace (-n), one Service (svc/NAME)
	 * and what it depends on, or the Services -l selects */
	struct kt_snapshot *s = NULL;
	if (kt_cli_load(c, &sc, &s, &d) < 0) {
		kt_arena_free(ra);
		return kt_cli_fail(c, &d);
	}
	kt_lint_config_warnings(c, s, cfg);
	/* analyze */
	struct kt_findings f = {0};
	struct kt_check_query q = {
		.rules = {.live = true, .ingress_selector = kt_opt_str(c, "ingress-selector"), .config = cfg},
		.svc = KT_NONE,
		.use_focus = true,
	};
	kt_check_analyze(s, &q, ra, &f);
	/* render */
	kt_warn_gaps(c, s);
	struct kt_report r = {
		.command = "check",
		.snap = s,
		.f = &f,
		.by_service = true,
		.summary_only = kt_opt_flag(c, "summary"),
		.fail_on = fail_on,
	};
	rc = kt_report_finish(c, &r);
	if (c->out == KT_OUT_TEXT)
		kt_render_recorded_gaps(c, stdout, s);
	kt_findings_release(&f);
	kt_snapshot_free(s);
	kt_arena_free(ra);
	return rc;
}

static const struct kt_option opts[] = {
	KT_LINT_OPTS,
	{"no-node", 0, KT_OPT_FLAG, NULL, NULL, "do not read this node's dataplane even when running on a cluster node as root"},
	{"summary", 0, KT_OPT_FLAG, NULL, NULL, "print only the table of findings by rule and severity (JSON: summary and byRule)"},
	KT_FLEET_OPTS,
	{0},
};

const struct kt_command kt_cmd_check = {
	.name = "check",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_API | KT_CMD_SELECTOR,
	.wants = KT_WANT_OBJECTS | KT_WANT_DATAPLANE,
	.usage = "[svc/NAME] [-n NS | -A] [-l SELECTOR] [--from SOURCE]",
	.summary = "run every rule over the live cluster or a bundle; exit 1 at --fail-on",
	.description =
		"Runs the rule catalog (`ktrace rules`) over the live objects of the whole\n"
		"cluster (or one namespace with -n), plus the live-only rules: the share of\n"
		"requests taking an extra node hop (KT102), LB target nodes and zones without a\n"
		"local endpoint (KT103), co-located ingress controller Pods (KT304), selectors\n"
		"matching no Pod (KT501), Services without ready endpoints (KT503), and, when\n"
		"node state is available (a bundle from `ktrace collect --node`, or this host is\n"
		"a cluster node and ktrace runs as root), the dataplane diff (KT601-KT603) and\n"
		"connection imbalance (KT402/KT403). Findings are grouped by Service, most severe\n"
		"first. Suppression and --config work as for `ktrace lint`.\n"
		"\n"
		"svc/NAME checks one Service and what it depends on (the findings `ktrace path`\n"
		"shows for it); -l SELECTOR keeps the Services whose labels match. A namespace that\n"
		"does not exist is exit 3; when a kind the rules need could not be read, the report\n"
		"starts with 'incomplete:' and the exit status is 6 (1 when findings reach --fail-on).\n"
		"\n"
		"Examples:\n"
		"  ktrace check\n"
		"  ktrace check -n shop --fail-on warning\n"
		"  ktrace check svc/orders -n shop\n"
		"  ktrace check --from bundle.json.gz -o json\n",
	.outputs = "text|wide|json|yaml|sarif|junit",
};
