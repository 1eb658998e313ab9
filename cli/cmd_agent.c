/*
 * `ktrace agent`: the per-node server of the fleet mode (run by the
 * DaemonSet in deploy/): parses and checks the options, refuses to start
 * without a token or without the privileges the reads need, drops the
 * environment switches that would make collectors record to files, starts
 * the server (cli/agent/) and runs until SIGTERM/SIGINT.
 * `ktrace agent manifest` prints the embedded deploy/ manifests with
 * --image and -n/--namespace substituted. Only this file prints.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/agent/agent.h"
#include "cli/cli.h"
#include "ktrace/env.h"
#include "ktrace/node.h"

static const struct kt_option opts[] = {
	{"listen", 0, KT_OPT_STR, "ADDR:PORT", NULL,
	 "address and port to serve on: ADDR:PORT, [ADDR6]:PORT or :PORT (default 0.0.0.0:10265)"},
	{"token-file", 0, KT_OPT_STR, "FILE", "file",
	 "file holding the token every request but /healthz must send (required; re-read when it changes)"},
	{"node", 0, KT_OPT_STR, "NAME", "node", "node name to report (default: the hostname; the DaemonSet passes spec.nodeName)"},
	{"bpffs", 0, KT_OPT_STR, "DIR", "dir", "BPF filesystem root holding Cilium's pinned maps (default /sys/fs/bpf)"},
	{"max-age", 0, KT_OPT_NUM, "SECS", NULL, "serve a node-state read for this long before reading again (default 2)"},
	{"flow-interval", 0, KT_OPT_NUM, "SECS", NULL, "seconds between background flow samples (default 2)"},
	{"resync", 0, KT_OPT_NUM, "SECS", NULL,
	 "read the whole conntrack table every SECS; in between follow conntrack events (default 10)"},
	{"flow-idle", 0, KT_OPT_NUM, "SECS", NULL,
	 "stop sampling flows after SECS without a flows or metrics request (default 300; 0 never)"},
	{"no-flows", 0, KT_OPT_FLAG, NULL, NULL, "do not sample flows (/v1/flows answers 503)"},
	{"no-metrics", 0, KT_OPT_FLAG, NULL, NULL, "do not query kube-proxy's metrics endpoint (127.0.0.1:10249)"},
	{"max-connections", 0, KT_OPT_INT, "N", NULL, "concurrent HTTP connections (default 32)"},
	{"max-per-ip", 0, KT_OPT_INT, "N", NULL, "concurrent HTTP connections per client address (default 16)"},
	{"image", 0, KT_OPT_STR, "REF", NULL, "manifest: the agent image reference (default localhost/ktrace:VERSION)"},
	{0},
};

static bool image_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 512 || s[0] == '-' || s[0] == ':' || s[0] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == '/' || c == ':' || c == '@'))
			return false;
	}
	return true;
}

static bool dns_label(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int manifest(struct kt_cli *c)
{
	const char *image = kt_opt_str(c, "image");
	const char *ns = c->namespace ? c->namespace : KT_AGENT_NAMESPACE;
	if (!image)
		image = kt_ag_default_image;
	char vis[256];
	if (!image_ok(image)) {
		kt_vis_escape(vis, sizeof(vis), image);
		return kt_cli_error(c, KT_EXIT_USAGE, "an image reference looks like REGISTRY/NAME:TAG or NAME@sha256:DIGEST",
				    "invalid --image '%s'", vis);
	}
	if (!dns_label(ns)) {
		kt_vis_escape(vis, sizeof(vis), ns);
		return kt_cli_error(c, KT_EXIT_USAGE, "a namespace is a DNS label: a-z, 0-9 and '-', at most 63",
				    "invalid namespace '%s' for the manifests", vis);
	}
	char *m = kt_ag_manifest(image, ns);
	fputs(m, stdout);
	free(m);
	return 0;
}

static int num_opt(struct kt_cli *c, const char *name, double def, double lo, double hi, double *out)
{
	*out = kt_opt_num(c, name, def);
	if (!(*out >= lo && *out <= hi))
		return kt_cli_error(c, KT_EXIT_USAGE, NULL, "invalid --%s: give seconds from %g to %g", name, lo, hi);
	return 0;
}

static int serve(struct kt_cli *c)
{
	struct kt_ag_opts o;
	memset(&o, 0, sizeof(o));
	o.listen = kt_opt_str(c, "listen") ? kt_opt_str(c, "listen") : "0.0.0.0:10265";
	o.token_file = kt_opt_str(c, "token-file");
	o.node = kt_opt_str(c, "node");
	o.bpffs = kt_opt_str(c, "bpffs");
	o.no_metrics = kt_opt_flag(c, "no-metrics");
	o.no_flows = kt_opt_flag(c, "no-flows");
	o.ready_fd = -1;
	int rc;
	if ((rc = num_opt(c, "max-age", 2, 0.05, 600, &o.max_age)) || (rc = num_opt(c, "flow-interval", 2, 0.1, 3600, &o.flow_interval)) ||
	    (rc = num_opt(c, "resync", 10, 0, 86400, &o.resync)) || (rc = num_opt(c, "flow-idle", 300, 0, 86400 * 365, &o.flow_idle)))
		return rc;
	long mc = kt_opt_int(c, "max-connections", 32), pi = kt_opt_int(c, "max-per-ip", 16);
	if (mc < 1 || mc > 1024 || pi < 1 || pi > mc)
		return kt_cli_error(c, KT_EXIT_USAGE, "1 <= --max-per-ip <= --max-connections <= 1024", "invalid connection limits");
	o.max_conns = (unsigned)mc;
	o.per_ip = (unsigned)pi;
	if (o.node && (strlen(o.node) > 253 || !kt_vis_clean(o.node)))
		return kt_cli_error(c, KT_EXIT_USAGE, "a node name is a DNS name", "invalid --node");
	/* the agent writes nothing anywhere: no recordings */
	unsetenv(kt_env_table()[KT_ENV_NL_RECORD].name);
	/* every thread inherits this mask; the main thread waits for them */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct kt_diag d = {0};
	struct kt_agent *ag;
	if (kt_agent_start(&o, &ag, &d) < 0)
		return kt_cli_fail(c, &d);
	fprintf(stderr, "ktrace agent %s: serving node %s on %s (port %d), token from %s\n", KT_VERSION,
		o.node ? o.node : "(hostname)", o.listen, kt_agent_port(ag), o.token_file);
	fflush(stderr);
	int sig = 0;
	sigwait(&set, &sig);
	fprintf(stderr, "ktrace agent: %s, stopping\n", strsignal(sig));
	kt_agent_stop(ag);
	return 0;
}

static int run(struct kt_cli *c)
{
	if (c->argc == 1 && !strcmp(c->argv[0], "manifest"))
		return manifest(c);
	if (c->argc > 0) {
		char vis[256];
		kt_vis_escape(vis, sizeof(vis), c->argv[0]);
		return kt_cli_error(c, KT_EXIT_USAGE, "did you mean 'ktrace agent manifest'?", "unknown argument '%s'", vis);
	}
	return serve(c);
}

const struct kt_command kt_cmd_agent = {
	.name = "agent",
	.run = run,
	.opts = opts,
	.flags = 0,
	.usage = "[manifest]",
	.summary = "serve this node's dataplane, flows and metrics to fleet clients (the DaemonSet's command)",
	.description =
		"Runs on every node, in the DaemonSet from deploy/ ('ktrace agent manifest' prints it):\n"
		"a small read-only HTTP server that answers with this node's normalised dataplane (the\n"
		"node object of a bundle), per-Service digests of it, flow aggregates sampled in the\n"
		"background from conntrack, /healthz and Prometheus /metrics. Clients reach it through\n"
		"the API server's Pod proxy, so RBAC decides who may ask; every request but /healthz\n"
		"must carry the token from --token-file in the X-Ktrace-Token header. The agent never\n"
		"writes to netfilter, IPVS, BPF maps or files. The HTTP API is in ktrace-agent(1).\n"
		"\n"
		"Examples:\n"
		"  ktrace agent manifest | kubectl apply -f -\n"
		"  ktrace agent manifest --image registry.example.com/ktrace:0.1.0 -n tools\n"
		"  ktrace agent --listen 127.0.0.1:10265 --token-file /etc/ktrace/token/token\n",
	.outputs = "text",
};
