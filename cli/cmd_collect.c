/*
 * `ktrace collect -f FILE`: stream every API object ktrace uses into a
 * bundle (reduced to the fields ktrace reads, an allow-list: no Secrets,
 * tokens, env, command lines or non-proxy ConfigMap data) and this host's
 * dataplane state and a flow sample when this host is one of the cluster's
 * Nodes (or --node / --node-name say to record it). The source layer writes
 * the bundle: objects go from each list page to the file without being
 * held; the file is written beside FILE (mode 0600) and renamed over it only
 * when complete. This file says what was written.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "ktrace/fleet.h"
#include "ktrace/bundle.h"
#include "ktrace/node.h"

static int run(struct kt_cli *c)
{
	/* parse */
	struct kt_diag d = {0};
	const char *file = kt_opt_str(c, "file");
	if (!file)
		return kt_cli_error(c, KT_EXIT_USAGE, "e.g. 'ktrace collect -f cluster.json.gz'", "collect needs -f FILE");
	if (c->argc)
		return kt_cli_error(c, KT_EXIT_USAGE, NULL, "collect takes no arguments (got '%s')", c->argv[0]);
	if (kt_bundle_check_target(file, &d) < 0)
		return kt_cli_fail(c, &d);
	if (kt_opt_flag(c, "node-only") && !kt_node_readable())
		return kt_cli_error(c, KT_EXIT_CLUSTER, "run as root on the node (e.g. kubectl debug node/NAME)",
				    "cannot read this node's dataplane: needs root or CAP_NET_ADMIN");
	/* scope: every namespace (or -n); this host's node state when it is one
	 * of the cluster's Nodes, or when asked (--node, --node-name) */
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	if (kt_opt_flag(c, "node") || kt_opt_flag(c, "node-only") || kt_opt_str(c, "node-name"))
		sc.node = KT_NODE_HOST;
	/* load, writing the bundle as objects stream in */
	struct kt_snapshot *s = NULL;
	if (kt_cli_load(c, &sc, &s, &d) < 0)
		return kt_cli_fail(c, &d);
	/* render: what was written */
	if (strcmp(file, "-")) {
		/* names and reasons come from outside: shown visible-safe */
		fprintf(stderr, "ktrace: wrote %s: %u services, %u endpoints, %u pods, %u nodes, %u workloads%s%s\n",
			kt_cv(c, file), s->n_services, s->n_endpoints, s->n_pods, s->n_nodes, s->n_workloads,
			s->n_dp || s->fleet ? ", node dataplane" : "", s->n_flows ? ", flows" : "");
		if (s->fleet)
			fprintf(stderr, "ktrace: nodes: %u of %u selected nodes stored (%u Services, %u differ on some node: "
					"stored once plus per-node differences)\n",
				s->fleet->n_nodes, s->fleet->n_asked, s->fleet->n_keys, s->fleet->n_deviating);
		if (s->focus.node_note)
			fprintf(stderr, "ktrace: node state: %s\n", kt_cv(c, s->focus.node_note));
		for (uint32_t i = 0; i < s->n_gaps && i < 100; i++)
			fprintf(stderr, "ktrace: not collected: %s: %s\n", kt_cv(c, s->gaps[i].what), kt_cv(c, s->gaps[i].why));
		if (s->n_gaps > 100)
			fprintf(stderr, "ktrace: not collected: %u more\n", s->n_gaps - 100);
	}
	bool partial = s->fleet && (s->focus.missing & KT_WANT_DATAPLANE);
	kt_snapshot_free(s);
	return partial ? KT_EXIT_PARTIAL : 0;
}

static const struct kt_option opts[] = {
	{"file", 'f', KT_OPT_STR, "FILE", "file", "bundle to write ('.gz' compresses, '-' is stdout)"},
	{"node", 0, KT_OPT_FLAG, NULL, NULL, "store this host's dataplane state and flows even when it is not one of the cluster's Nodes (default: when it is one, as root)"},
	{"no-node", 0, KT_OPT_FLAG, NULL, NULL, "API objects only, even when root"},
	{"node-only", 0, KT_OPT_FLAG, NULL, NULL, "only this node's state, no API objects (no kubeconfig needed)"},
	{"node-name", 0, KT_OPT_STR, "NAME", "node", "record this host's node state as node NAME (default: the matching Node, else the hostname)"},
	{"bpffs", 0, KT_OPT_STR, "DIR", "dir", "BPF filesystem root for Cilium maps (default /sys/fs/bpf)"},
	KT_FLEET_OPTS,
	{0},
};

const struct kt_command kt_cmd_collect = {
	.name = "collect",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_API | KT_CMD_NO_FROM,
	.wants = KT_WANT_OBJECTS | KT_WANT_DATAPLANE | KT_WANT_FLOWS | KT_WANT_METRICS | KT_WANT_STRICT,
	.opt_wants = (const struct kt_opt_wants[]){
		{"node-only", KT_WANT_NO_OBJECTS},
		{0},
	},
	.usage = "-f FILE",
	.summary = "write a bundle of API objects (and node state) for offline analysis with --from",
	.description =
		"Lists Services, EndpointSlices, Pods, Nodes, workloads, HPAs, PDBs, Ingresses,\n"
		"IngressClasses and the kube-proxy / Cilium ConfigMaps (every namespace, or -n NS),\n"
		"streaming each page into the bundle. Objects are reduced to the fields ktrace\n"
		"reads (an allow-list): never Secrets, tokens, env, command lines, probe headers,\n"
		"volumes, other annotations or ConfigMap data other than proxy mode settings.\n"
		"FILE is replaced only when the bundle is complete (mode 0600); on failure it is\n"
		"left as it was. This host's dataplane and flows are stored when it is one of\n"
		"the cluster's Nodes (as root), or when asked with --node / --node-name; collect\n"
		"says what it stored. With --nodes, every selected node's dataplane and flows\n"
		"come from its ktrace agent (ktrace-agent(1)) through the API server; the bundle\n"
		"stores the state most nodes share once plus what each node does differently.\n"
		"The format is described in ktrace-bundle(5).\n\n"
		"Examples:\n"
		"  ktrace collect -f cluster.json.gz\n"
		"  ktrace collect --nodes all -f cluster.json.gz\n"
		"  ktrace path svc/orders -n shop --from cluster.json.gz\n"
		"  # one node without agents: a debug Pod on it (the node's root filesystem is /host)\n"
		"  kubectl debug node/worker-1 -it --profile=sysadmin --image=IMAGE \\\n"
		"      -- ktrace collect --node-only -f /host/tmp/node.json\n"
		"  kubectl cp default/node-debugger-worker-1-xxxxx:/host/tmp/node.json node.json",
	.outputs = "text",
};
