/*
 * `ktrace check`: every analyzer over the live cluster (or --from BUNDLE /
 * demo): the rule engine with live-only rules (KT102/KT103 quantified from
 * endpoints per node, KT304, KT501 on Pods, KT503), the dataplane diff
 * (KT601-KT603) and flow imbalance (KT402/KT403) when node state is in the
 * snapshot or readable on this node. Findings are grouped by Service, most
 * severe first, with a summary line; suppression as for lint.
 */
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/report.h"
#include "ktrace/analyze.h"
#include "ktrace/node.h"
#include "ktrace/ruleconf.h"

static int load(struct kt_cli *c, struct kt_snapshot **out, struct kt_diag *d)
{
	/* -n NS narrows to one namespace; otherwise the whole cluster */
	const char *ns = c->namespace && !c->all_namespaces ? c->namespace : NULL;
	unsigned nreq;
	const struct kt_list_req *reqs = kt_cli_cluster_reqs(ns, &nreq);
	int rc = kt_cli_snapshot(c, reqs, nreq, out, d);
	if (rc < 0)
		return rc;
	struct kt_snapshot *s = *out;
	/* This node's dataplane, only when this host is one of the cluster's
	 * nodes (on a laptop an empty rule set would read as "nothing
	 * programmed"). */
	char hn[256];
	if (!c->from && !kt_opt_flag(c, "no-node") && kt_node_readable() && gethostname(hn, sizeof(hn)) == 0) {
		hn[sizeof(hn) - 1] = 0;
		if (kt_find_node(s, hn) != KT_NONE) {
			struct kt_node_opts no = {.node_name = hn, .no_metrics = true};
			struct kt_diag d2 = {0};
			if (kt_dp_collect(s, &no, &d2) < 0)
				kt_snapshot_gap(s, "this node's dataplane", "%s", d2.msg);
			s->finished = false;
			kt_snapshot_finish(s);
		}
	}
	return 0;
}

static int run(struct kt_cli *c)
{
	if (c->argc > 0)
		return kt_cli_error(c, KT_EXIT_USAGE, "use -n NAMESPACE to narrow the check", "unexpected argument '%s'",
				    c->argv[0]);
	int fail_on;
	struct kt_arena *ra;
	struct kt_rules_config cfgbuf;
	const struct kt_rules_config *cfg;
	int rc = kt_lint_setup(c, &fail_on, &ra, &cfgbuf, &cfg);
	if (rc)
		return rc;
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	rc = load(c, &s, &d);
	if (rc < 0) {
		kt_arena_free(ra);
		return kt_cli_fail(c, &d);
	}
	/* gaps that change what the rules can see; the optional proxy
	 * ConfigMap only with -v */
	for (uint32_t i = 0; i < s->n_gaps; i++) {
		if (s->gaps[i].what && strstr(s->gaps[i].what, "configmaps"))
			kt_log(1, "could not read %s: %s", s->gaps[i].what, s->gaps[i].why);
		else
			kt_cli_warn(c, "could not read %s: %s", s->gaps[i].what, s->gaps[i].why);
	}
	kt_lint_config_warnings(c, s, cfg);
	struct kt_findings f = {0};
	struct kt_rules_opts ro = {.live = true, .ingress_selector = kt_opt_str(c, "ingress-selector"), .config = cfg};
	kt_rules_run(s, &ro, ra, &f);
	uint32_t from = f.n;
	if (s->n_dp)
		kt_dpdiff_findings(s, ra, &f);
	if (s->n_flows)
		kt_imbalance_findings(s, ra, &f);
	kt_suppress_apply(s, cfg, &f, from);
	kt_findings_sort(&f);
	/* -n: only findings in that namespace (nodes are cluster-wide) */
	if (c->namespace && !c->all_namespaces) {
		uint32_t o = 0;
		for (uint32_t i = 0; i < f.n; i++)
			if (!f.v[i].obj.namespace || !strcmp(f.v[i].obj.namespace, c->namespace))
				f.v[o++] = f.v[i];
		f.n = o;
	}
	struct kt_report r = {
		.command = "check",
		.snap = s,
		.f = &f,
		.by_service = true,
		.fail_on = fail_on,
	};
	rc = kt_report_finish(c, &r);
	kt_findings_release(&f);
	kt_snapshot_free(s);
	kt_arena_free(ra);
	return rc;
}

static const struct kt_option opts[] = {
	KT_LINT_OPTS,
	{"no-node", 0, KT_OPT_FLAG, NULL, NULL, "do not read this node's dataplane even when running on a cluster node as root"},
	{0},
};

const struct kt_command kt_cmd_check = {
	.name = "check",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_API,
	.usage = "[-n NS | -A] [--from SOURCE]",
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
		"Examples:\n"
		"  ktrace check\n"
		"  ktrace check -n shop --fail-on warning\n"
		"  ktrace check --from bundle.json.gz -o json\n",
	.outputs = "text|json",
};
