/*
 * `ktrace dataplane [SERVICE]`: this node's (or a bundle node's) programmed
 * forwarding state, normalised across iptables (nft and legacy backends),
 * nftables, IPVS and Cilium; `--diff` adds KT601-KT603 against the
 * EndpointSlices. The source layer reads the node state: the live kernel
 * (default), saved dumps (--iptables-save, --nft-json, --ipvsadm), or a
 * bundle (--from); with --from plus dumps or --live, the bundle only
 * supplies API objects.
 * Renders text (a per-service tree) or the JSON of ktrace-dataplane(1) through the same
 * writer bundles use (collectors/codec/dp_json.c). Only this file prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "ktrace/analyze.h"
#include "ktrace/arena.h"
#include "ktrace/codec.h"
#include "ktrace/dataplane.h"
#include "ktrace/jsonw.h"
#include "ktrace/node.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

static const struct kt_option opts[] = {
	{"node", 0, KT_OPT_STR, "NAME", "node",
	 "node to show: a node stored in the bundle, or the name to record for this host (default: hostname)"},
	{"diff", 0, KT_OPT_FLAG, NULL, NULL,
	 "compare the programmed state with the EndpointSlices (KT601, KT602, KT603)"},
	{"iptables-save", 0, KT_OPT_STR, "FILE", "file",
	 "read iptables-save / iptables-legacy-save text (nat, optionally filter) instead of the kernel"},
	{"nft-json", 0, KT_OPT_STR, "FILE", "file", "read `nft -j list ruleset` output instead of the kernel"},
	{"ipvsadm", 0, KT_OPT_STR, "FILE", "file", "read `ipvsadm-save -n` output instead of the kernel"},
	{"bpffs", 0, KT_OPT_STR, "DIR", "dir", "BPF filesystem root holding Cilium's pinned maps (default /sys/fs/bpf)"},
	{"live", 0, KT_OPT_FLAG, NULL, NULL,
	 "with --from: read this host's kernel; the bundle only supplies API objects for --diff"},
	{"no-metrics", 0, KT_OPT_FLAG, NULL, NULL, "do not query kube-proxy's metrics endpoint (127.0.0.1:10249)"},
	KT_FLEET_OPTS,
	{0},
};

static bool want_svc(const struct kt_dp_service *s, const char *ns, const char *name)
{
	if (ns && strcmp(s->namespace, ns) != 0)
		return false;
	if (name && strcmp(s->name, name) != 0)
		return false;
	return true;
}

/* every string from the node, a dump or a bundle is printed through V() */
#define V(x) kt_cv(c, x)

static const char *hostport(char *buf, size_t n, const char *ip, int32_t port)
{
	if (!ip || !ip[0])
		snprintf(buf, n, "*:%d", port);
	else if (strchr(ip, ':'))
		snprintf(buf, n, "[%s]:%d", ip, port);
	else
		snprintf(buf, n, "%s:%d", ip, port);
	return buf;
}

/* -o wide: the Pod and node behind each backend address, from the
 * EndpointSlices of the snapshot (sorted by address for lookups). */
static const struct kt_snapshot *wide_snap;
static uint32_t *wide_eps, wide_n;

static int ep_addr_cmp(const char *ip_a, int32_t port_a, const char *ip_b, int32_t port_b)
{
	int r = strcmp(ip_a ? ip_a : "", ip_b ? ip_b : "");
	return r ? r : (port_a > port_b) - (port_a < port_b);
}

static int ep_sort_cmp(const void *x, const void *y)
{
	const struct kt_endpoint *a = &wide_snap->endpoints[*(const uint32_t *)x];
	const struct kt_endpoint *b = &wide_snap->endpoints[*(const uint32_t *)y];
	return ep_addr_cmp(a->ip, a->port, b->ip, b->port);
}

static void wide_index(const struct kt_snapshot *s)
{
	wide_snap = s;
	wide_n = s->n_endpoints;
	wide_eps = kt_xcalloc(wide_n + 1, sizeof(*wide_eps));
	for (uint32_t i = 0; i < wide_n; i++)
		wide_eps[i] = i;
	qsort(wide_eps, wide_n, sizeof(*wide_eps), ep_sort_cmp);
}

static const struct kt_endpoint *wide_lookup(const char *ip, int32_t port)
{
	uint32_t lo = 0, hi = wide_n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct kt_endpoint *e = &wide_snap->endpoints[wide_eps[mid]];
		int r = ep_addr_cmp(e->ip, e->port, ip, port);
		if (!r)
			return e;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void text_backends(struct kt_cli *c, FILE *out, const struct kt_dp_service *s, const char *title,
			  const struct kt_dp_backend *b, uint32_t n, const char *extra)
{
	bool known = kt_dp_share_known(s);
	fprintf(out, "  %s%s%s%s\n", kt_c(c, KT_C_BOLD), title, kt_c(c, KT_C_RESET), extra);
	if (!n) {
		fprintf(out, "    %s(none: traffic to these frontends is dropped or rejected)%s\n", kt_c(c, KT_C_RED),
			kt_c(c, KT_C_RESET));
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		char hp[80];
		if (known)
			fprintf(out, "    %-28s %6.2f%%", V(hostport(hp, sizeof(hp), b[i].ip, b[i].port)),
				b[i].probability * 100.0);
		else
			fprintf(out, "    %-28s %6s ", V(hostport(hp, sizeof(hp), b[i].ip, b[i].port)), "-");
		if (c->wide) {
			const struct kt_endpoint *e = wide_eps ? wide_lookup(b[i].ip, b[i].port) : NULL;
			fprintf(out, "  %-5s %-30s %s", b[i].local ? "local" : "-", e && e->target_name ? V(e->target_name) : "-",
				e && e->node ? V(e->node) : "-");
		} else if (b[i].local)
			fprintf(out, "  %slocal%s", kt_c(c, KT_C_GREEN), kt_c(c, KT_C_RESET));
		if (b[i].weight)
			fprintf(out, "  weight %d", b[i].weight);
		if (b[i].active_conns || b[i].inactive_conns)
			fprintf(out, "  conns %u active / %u inactive", b[i].active_conns, b[i].inactive_conns);
		if (b[i].state && strcmp(b[i].state, "active") != 0)
			fprintf(out, "  %s%s%s", kt_c(c, KT_C_YELLOW), V(b[i].state), kt_c(c, KT_C_RESET));
		if (b[i].affinity_clients)
			fprintf(out, "  %u pinned client%s", b[i].affinity_clients, b[i].affinity_clients == 1 ? "" : "s");
		fputc('\n', out);
	}
}

static bool same_set(const struct kt_dp_service *s)
{
	if (s->n_be != s->n_ext_be)
		return false;
	for (uint32_t i = 0; i < s->n_be; i++)
		if (s->be[i].port != s->ext_be[i].port || strcmp(s->be[i].ip, s->ext_be[i].ip) != 0 ||
		    s->be[i].probability - s->ext_be[i].probability > 1e-9 ||
		    s->ext_be[i].probability - s->be[i].probability > 1e-9)
			return false;
	return true;
}

/* What the share column means for this scheduler. */
static const char *share_text(const struct kt_dp_service *s)
{
	switch (s->share_basis) {
	case KT_SHARE_PROBABILITY:
		return NULL;
	case KT_SHARE_WEIGHT:
		return "share = weight share (round robin over the weights)";
	case KT_SHARE_CONNECTIONS:
		return "no fixed share: each new connection goes to the backend with the fewest (weighted) connections; "
		       "weights only bias it";
	case KT_SHARE_HASH:
		if (s->mode == KT_DP_CILIUM)
			return "a hash of each connection's addresses and ports picks a lookup-table slot; share = slots";
		if (s->scheduler && strcmp(s->scheduler, "dh") == 0)
			return "destination hash: every connection to one address goes to the same backend";
		if (s->source_hash)
			return "source hash: each client IP always reaches the same backend (affinity-like); "
			       "the share follows the client IPs, not the weights";
		return "a hash of the client address and port picks the backend; weights size its table";
	}
	return NULL;
}

/* a frontend; with the API objects, why it rejects or drops */
static void text_frontend(struct kt_cli *c, FILE *out, const struct kt_snapshot *snap, const struct kt_dp_node *n,
			  const struct kt_dp_service *s, const struct kt_dp_frontend *f)
{
	char hp[80], kind[24];
	snprintf(kind, sizeof(kind), "%s%s", kt_fe_kind_name(f->kind), f->kind_guessed ? "?" : "");
	fprintf(out, "    %-13s %-28s -> ", kind, V(hostport(hp, sizeof(hp), f->ip, f->port)));
	if (f->action == KT_DP_FORWARD)
		fprintf(out, "%s", f->external ? "external" : "internal");
	else
		fprintf(out, "%s%s%s%s%s%s", kt_c(c, KT_C_RED), f->action == KT_DP_REJECT ? "REJECT" : "DROP",
			f->reason ? " (" : "", f->reason ? V(f->reason) : "", f->reason ? ")" : "",
			kt_c(c, KT_C_RESET));
	if (f->kind == KT_FE_EXTERNAL)
		fprintf(out, "  %s(externalIP or LoadBalancer IP: the rules alone do not say)%s", kt_c(c, KT_C_DIM),
			kt_c(c, KT_C_RESET));
	if (f->n_source_ranges) {
		fprintf(out, "  only from");
		for (uint32_t i = 0; i < f->n_source_ranges; i++)
			fprintf(out, "%s%s", i ? ", " : " ", V(f->source_ranges[i]));
	}
	fputc('\n', out);
	struct kt_dp_cause cause;
	struct kt_arena *a = kt_arena_new();
	if (snap && kt_dp_explain(snap, n, s, f, a, &cause)) {
		fprintf(out, "      %swhy:%s %s (%s)\n", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET), V(cause.text),
			kt_rules[cause.rule].id);
	}
	kt_arena_free(a);
}

static void text_service(struct kt_cli *c, FILE *out, const struct kt_snapshot *snap, const struct kt_dp_node *n,
			 const struct kt_dp_service *s, const struct kt_findings *diff, const char *node)
{
	char title[600];
	if (s->port_name[0])
		snprintf(title, sizeof(title), "%s/%s:%s", s->namespace, s->name, s->port_name);
	else
		snprintf(title, sizeof(title), "%s%s%s", s->namespace, s->namespace[0] ? "/" : "", s->name);
	fprintf(out, "%s%s%s  %s  [%s]", kt_c(c, KT_C_BOLD), V(title), kt_c(c, KT_C_RESET), V(s->protocol),
		kt_dp_mode_name(s->mode));
	if (s->scheduler && s->mode == KT_DP_IPVS)
		fprintf(out, "  scheduler %s", V(s->scheduler));
	if (s->lb_algorithm)
		fprintf(out, "  %s", V(s->lb_algorithm));
	if (s->names_guessed)
		fprintf(out, "  %s(name not known on the node)%s", kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET));
	if (c->wide && s->chain_hash)
		fprintf(out, "  %schain hash %s%s", kt_c(c, KT_C_DIM), V(s->chain_hash), kt_c(c, KT_C_RESET));
	fputc('\n', out);
	bool has_ext = false;
	fprintf(out, "  %sfrontends%s\n", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET));
	bool ext_forward = false, int_forward = false;
	for (uint32_t i = 0; i < s->n_fe; i++) {
		has_ext |= s->fe[i].external;
		if (s->fe[i].action == KT_DP_FORWARD && s->fe[i].kind != KT_FE_HEALTHCHECK)
			*(s->fe[i].external ? &ext_forward : &int_forward) = true;
		text_frontend(c, out, snap, n, s, &s->fe[i]);
	}
	const char *st = share_text(s);
	if (st)
		fprintf(out, "  %sshare%s        %s\n", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET), st);
	if (int_forward || s->n_be)
		text_backends(c, out, s, "backends", s->be, s->n_be, " (internal frontends)");
	if (has_ext && (ext_forward || s->n_ext_be)) {
		if (same_set(s) && !s->local_only)
			fprintf(out, "  %sexternalBackends%s same as backends\n", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET));
		else
			text_backends(c, out, s, "externalBackends", s->ext_be, s->n_ext_be,
				      s->local_only ? " (node-local endpoints only: externalTrafficPolicy Local)" : "");
	}
	if (s->affinity)
		fprintf(out, "  affinity     clientIP, %ds\n", s->affinity_timeout);
	else if (s->source_hash)
		fprintf(out, "  affinity     source hash (scheduler %s)\n", s->scheduler ? s->scheduler : "sh");
	else
		fprintf(out, "  affinity     none\n");
	if (ext_forward)
		fprintf(out, "  masquerade   %s\n", s->masq_unknown ? "unknown (see note)"
						 : s->masquerade ? "yes: external clients' source IP is lost (SNAT)"
								 : "no: client source IP preserved");
	if (s->n_source_ranges) {
		fprintf(out, "  sourceRanges");
		for (uint32_t i = 0; i < s->n_source_ranges; i++)
			fprintf(out, "%s%s", i ? ", " : " ", V(s->source_ranges[i]));
		fprintf(out, " (LoadBalancer firewall: other sources are dropped)\n");
	}
	for (uint32_t i = 0; i < s->n_notes; i++) {
		fprintf(out, "  %snote%s         %s\n", kt_c(c, KT_C_YELLOW), kt_c(c, KT_C_RESET), V(s->notes[i]));
	}
	if (s->n_ev) {
		uint32_t show = c->verbose || c->wide ? s->n_ev : (s->n_ev < 6 ? s->n_ev : 6);
		fprintf(out, "  %sevidence%s\n", kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET));
		for (uint32_t i = 0; i < show; i++) {
			const struct kt_dp_evidence *e = &s->ev[i];
			if (e->map_key)
				fprintf(out, "    %s%s %s key %s%s\n", kt_c(c, KT_C_DIM), V(e->table), e->chain ? V(e->chain) : "",
					V(e->map_key), kt_c(c, KT_C_RESET));
			else
				fprintf(out, "    %s%s %s handle %llu%s\n", kt_c(c, KT_C_DIM), V(e->table),
					e->chain ? V(e->chain) : "", (unsigned long long)e->handle, kt_c(c, KT_C_RESET));
		}
		if (show < s->n_ev)
			fprintf(out, "    %s... %u more (-v or -o wide shows all)%s\n", kt_c(c, KT_C_DIM), s->n_ev - show,
				kt_c(c, KT_C_RESET));
	}
	if (diff) {
		for (uint32_t i = 0; i < diff->n; i++) {
			const struct kt_finding *f = &diff->v[i];
			if (!f->obj.name || strcmp(f->obj.name, s->name) != 0 || !f->obj.namespace ||
			    strcmp(f->obj.namespace, s->namespace) != 0)
				continue;
			if (f->evidence && node) {
				char want[300];
				snprintf(want, sizeof(want), "node=%s;", node);
				if (strncmp(f->evidence, want, strlen(want)) != 0)
					continue;
			}
			/* only findings about this port */
			char needle[300];
			if (s->port_name[0])
				snprintf(needle, sizeof(needle), "%s/%s:%s ", s->namespace, s->name, s->port_name);
			else
				snprintf(needle, sizeof(needle), "%s/%s ", s->namespace, s->name);
			if (!strstr(f->message, needle))
				continue;
			fprintf(out, "  %s%s %s%s  %s\n", kt_sev_color(c, f->severity), kt_rules[f->rule].id,
				kt_severity_name(f->severity), kt_c(c, KT_C_RESET), V(f->message));
			if (f->evidence)
				fprintf(out, "    %s%s%s\n", kt_c(c, KT_C_DIM), V(f->evidence), kt_c(c, KT_C_RESET));
		}
	}
	fputc('\n', out);
}

static void text_node(struct kt_cli *c, FILE *out, const struct kt_snapshot *snap, const struct kt_dp_node *n,
		      const struct kt_findings *diff, const char *ns, const char *name, int64_t now, const char *origin)
{
	fprintf(out, "%snode %s%s  modes:", kt_c(c, KT_C_BOLD), V(n->node), kt_c(c, KT_C_RESET));
	bool any = false;
	for (int m = 0; m < KT_DP_MODE_COUNT; m++)
		if (n->modes & (1u << m)) {
			fprintf(out, " %s", kt_dp_mode_name((enum kt_dp_mode)m));
			any = true;
		}
	if (!any)
		fprintf(out, " none found");
	fprintf(out, "  source: %s%s%s\n", n->source ? V(n->source) : "?", origin ? " " : "", origin ? V(origin) : "");
	if (n->metrics.present) {
		fprintf(out, "kube-proxy: mode %s", n->metrics.proxy_mode ? V(n->metrics.proxy_mode) : "?");
		if (n->metrics.last_sync > 0)
			fprintf(out, ", last sync %llds ago", (long long)(now - (int64_t)n->metrics.last_sync));
		if (n->metrics.latency_count)
			fprintf(out, ", programming latency mean %.3fs over %llu changes",
				n->metrics.latency_sum / (double)n->metrics.latency_count,
				(unsigned long long)n->metrics.latency_count);
		fputc('\n', out);
	}
	for (uint32_t i = 0; i < n->n_notes; i++)
		fprintf(out, "%swarning:%s %s\n", kt_c(c, KT_C_YELLOW), kt_c(c, KT_C_RESET), V(n->notes[i]));
	fputc('\n', out);
	uint32_t shown = 0;
	for (uint32_t i = 0; i < n->n_svcs; i++) {
		if (!want_svc(&n->svcs[i], ns, name))
			continue;
		text_service(c, out, snap, n, &n->svcs[i], diff, n->node);
		shown++;
	}
	if (diff) {
		/* findings about services the node does not program at all */
		for (uint32_t i = 0; i < diff->n; i++) {
			const struct kt_finding *f = &diff->v[i];
			if (!strstr(f->message, "has no rules for this Service port"))
				continue;
			if ((ns && (!f->obj.namespace || strcmp(f->obj.namespace, ns) != 0)) ||
			    (name && (!f->obj.name || strcmp(f->obj.name, name) != 0)))
				continue;
			char want[300];
			snprintf(want, sizeof(want), "node=%s;", n->node);
			if (f->evidence && strncmp(f->evidence, want, strlen(want)) != 0)
				continue;
			fprintf(out, "%s%s %s%s  %s\n", kt_sev_color(c, f->severity), kt_rules[f->rule].id,
				kt_severity_name(f->severity), kt_c(c, KT_C_RESET), V(f->message));
			shown++;
		}
	}
	if (!shown)
		fprintf(out, "no programmed services%s\n\n", name ? " match" : "");
}

static void filter_diff(struct kt_findings *f, const char *ns, const char *name)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < f->n; i++) {
		const struct kt_finding *x = &f->v[i];
		if (ns && (!x->obj.namespace || strcmp(x->obj.namespace, ns) != 0))
			continue;
		if (name && (!x->obj.name || strcmp(x->obj.name, name) != 0))
			continue;
		f->v[k++] = f->v[i];
	}
	f->n = k;
}

/* copy of a node restricted to the selected services (for JSON) */
static struct kt_dp_node filtered(const struct kt_dp_node *n, struct kt_dp_service *buf, const char *ns,
				  const char *name)
{
	struct kt_dp_node x = *n;
	x.n_svcs = 0;
	for (uint32_t i = 0; i < n->n_svcs; i++)
		if (want_svc(&n->svcs[i], ns, name))
			buf[x.n_svcs++] = n->svcs[i];
	x.svcs = buf;
	return x;
}

/* -l: only Services whose API object the selector matched */
static void keep_focus(const struct kt_snapshot *s, struct kt_dp_node *fn)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < fn->n_svcs; i++) {
		bool in = false;
		for (uint32_t j = 0; j < s->focus.n_svcs && !in; j++)
			in = fn->svcs[i].svc == s->focus.svcs[j];
		if (in)
			fn->svcs[k++] = fn->svcs[i];
	}
	fn->n_svcs = k;
}

/* --nodes: the differences several nodes share, one line each
 * ("3 nodes (n3, n5, n7) still forward ..."). */
static void fleet_groups(struct kt_cli *c, const struct kt_findings *diffs)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_findings g = {0};
	g.v = kt_xcalloc(diffs->n + 1, sizeof(*g.v));
	memcpy(g.v, diffs->v, sizeof(*g.v) * diffs->n);
	g.n = g.cap = diffs->n;
	kt_dpdiff_group(&g, a);
	bool head = false;
	for (uint32_t i = 0; i < g.n; i++) {
		if (!g.v[i].evidence || strncmp(g.v[i].evidence, "nodes=", 6))
			continue;
		if (!head)
			printf("%sacross nodes:%s\n", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET));
		head = true;
		printf("  %s %s  %s\n", kt_rules[g.v[i].rule].id, kt_severity_name(g.v[i].severity), kt_cv(c, g.v[i].message));
	}
	free(g.v);
	kt_arena_free(a);
}

static int run(struct kt_cli *c)
{
	/* parse */
	struct kt_diag d = {0};
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	if (c->argc > 1)
		return kt_cli_error(c, KT_EXIT_USAGE, "give at most one SERVICE", "too many arguments");
	if (kt_cli_target(c, &sc, 0, &d) < 0)
		return kt_cli_fail(c, &d);
	bool diff = kt_opt_flag(c, "diff");
	bool dumps = sc.node_opts.iptables_save || sc.node_opts.nft_json || sc.node_opts.ipvsadm;
	if (diff && dumps && !c->from)
		return kt_cli_error(c, KT_EXIT_USAGE, "use --from BUNDLE to supply the EndpointSlices to compare with",
				    "--diff with saved dumps needs --from BUNDLE");
	/* load: this host's (or the dumps', or the bundle's) node state; API
	 * objects for --diff and -l */
	struct kt_snapshot *snap = NULL;
	if (kt_cli_load(c, &sc, &snap, &d) < 0)
		return kt_cli_fail(c, &d);
	if (!snap->n_dp) {
		kt_snapshot_free(snap);
		return kt_cli_error(c, KT_EXIT_NOTFOUND, "collect a bundle on a node with 'ktrace collect' (as root there)",
				    "no node dataplane state in %s", c->from ? c->from : "this source");
	}
	const char *ns = sc.svc_name ? snap->focus.ns : (c->namespace && !c->all_namespaces ? c->namespace : NULL);
	const char *name = sc.svc_name;
	/* analyze */
	struct kt_findings diffs = {0};
	struct kt_arena *ra = kt_arena_new();
	if (diff) {
		kt_dpdiff_findings(snap, ra, &diffs);
		filter_diff(&diffs, ns, name);
		kt_findings_sort(&diffs);
	}
	/* render */
	uint32_t total = 0;
	for (uint32_t i = 0; i < snap->n_dp; i++)
		total += snap->dp[i].n_svcs;
	bool partial = kt_cli_fleet_gaps(c, snap);
	if (c->verbose || total == 0)
		kt_warn_gaps(c, snap);
	int64_t now = snap->taken ? snap->taken : (int64_t)time(NULL);
	if (kt_cli_structured(c)) {
		struct kt_jw *w = kt_cli_jw(c, stdout, true);
		bool many = snap->n_dp > 1;
		if (many)
			kt_jw_arr(w);
		for (uint32_t i = 0; i < snap->n_dp; i++) {
			const struct kt_dp_node *n = &snap->dp[i];
			struct kt_dp_service *buf = kt_xcalloc(n->n_svcs + 1, sizeof(*buf));
			struct kt_dp_node fn = filtered(n, buf, ns, name);
			if (snap->focus.services_only && !name)
				keep_focus(snap, &fn);
			kt_dp_node_to_json(w, &fn, diff ? &diffs : NULL);
			free(buf);
		}
		if (many)
			kt_jw_arr_end(w);
		kt_jw_free(w);
		if (c->out == KT_OUT_JSON)
			fputc('\n', stdout);
	} else {
		if (c->wide)
			wide_index(snap);
		for (uint32_t i = 0; i < snap->n_dp; i++) {
			const struct kt_dp_node *n = &snap->dp[i];
			struct kt_dp_service *buf = kt_xcalloc(n->n_svcs + 1, sizeof(*buf));
			struct kt_dp_node fn = filtered(n, buf, ns, name);
			if (snap->focus.services_only && !name)
				keep_focus(snap, &fn);
			text_node(c, stdout, snap->n_services ? snap : NULL, &fn, diff ? &diffs : NULL, ns, name, now, c->from);
			free(buf);
		}
		free(wide_eps);
		wide_eps = NULL;
		if (diff) {
			unsigned counts[3] = {0};
			for (uint32_t i = 0; i < diffs.n; i++)
				counts[diffs.v[i].severity]++;
			if (snap->fleet && diffs.n)
				fleet_groups(c, &diffs);
			if (!diffs.n)
				printf("%sdiff: programmed state matches the EndpointSlices%s\n", kt_c(c, KT_C_GREEN),
				       kt_c(c, KT_C_RESET));
			else
				printf("diff: %u error, %u warning, %u info\n", counts[KT_SEV_ERROR], counts[KT_SEV_WARNING],
				       counts[KT_SEV_INFO]);
		}
		kt_render_recorded_gaps(c, stdout, snap);
	}
	kt_findings_release(&diffs);
	kt_arena_free(ra);
	kt_snapshot_free(snap);
	return partial ? KT_EXIT_PARTIAL : 0;
}

const struct kt_command kt_cmd_dataplane = {
	.name = "dataplane",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_SELECTOR,
	.args = "service",
	.wants = KT_WANT_DATAPLANE | KT_WANT_METRICS | KT_WANT_NODE_REQUIRED | KT_WANT_THIS_HOST,
	.opt_wants = (const struct kt_opt_wants[]){
		{"diff", KT_WANT_SERVICES | KT_WANT_SLICES | KT_WANT_NODES},
		{0},
	},
	.usage = "[SERVICE]",
	.summary = "this node's programmed Service forwarding (iptables, nftables, IPVS, Cilium), optionally diffed",
	.description =
		"Reads what the kernel of this node will do with a packet for each Service port, whatever\n"
		"programmed it: kube-proxy in iptables mode (nft and legacy backends), nftables mode or IPVS\n"
		"mode, or Cilium's eBPF maps. Each frontend (ClusterIP, NodePort, externalIP, LoadBalancer IP,\n"
		"health-check port) is listed with the backends it reaches and each backend's true share of\n"
		"new connections (iptables' chained statistic probabilities multiplied out), session\n"
		"affinity, whether external clients are masqueraded, and the rules or map keys it came from.\n"
		"Under externalTrafficPolicy Local, internal and external frontends reach different backend\n"
		"sets; both are shown.\n"
		"\n"
		"Needs root (or CAP_NET_ADMIN, plus CAP_BPF for Cilium) on the node, or saved dumps, or a\n"
		"bundle (--from). With --diff the state is compared with the EndpointSlices from the API or\n"
		"the bundle: KT601 ready endpoint not programmed, KT602 stale address programmed, KT603 more\n"
		"than one proxy backend programs the same Service.\n"
		"\n"
		"Without SERVICE every namespace is shown unless -n is given.\n"
		"\n"
		"Examples:\n"
		"  ktrace dataplane svc/orders -n shop\n"
		"  ktrace dataplane -A -o json\n"
		"  ktrace dataplane --diff -A\n"
		"  ktrace dataplane --iptables-save nat.txt shop/web\n"
		"  ktrace dataplane --from bundle.json.gz --node node-a --diff\n",
	.outputs = "text|wide|json|yaml",
};
