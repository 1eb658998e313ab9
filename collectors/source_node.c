/*
 * The source layer, node state half: where a command's node state comes
 * from (a bundle's stored nodes, saved dumps, this host's kernel; remote
 * agents are one more row of node_sources[] below), the one capability
 * check ("can this host read node state?", kt_node_readable) and the one
 * membership test ("is this host one of the cluster's Nodes?"). Collecting
 * is delegated to the node collectors (kt_dp_collect, kt_flows_collect);
 * this file decides whether, for which node name, and what to say when
 * there is nothing to read. Prints nothing (kt_log at -v).
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collectors/agent/fleet_client.h"
#include "collectors/netlink/nl.h"
#include "collectors/source_int.h"
#include "ktrace/dataplane.h"
#include "ktrace/fleet.h"
#include "ktrace/flows.h"
#include "ktrace/util.h"

/* ---- capability ----------------------------------------------------------- */

bool kt_node_readable(void)
{
	if (kt_nl_replay_dir())
		return true; /* replaying a recording (every netlink source) needs no privilege */
	if (geteuid() == 0)
		return true;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return false;
	char line[256];
	bool ok = false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long caps;
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			ok = (caps >> 12) & 1; /* CAP_NET_ADMIN */
	}
	fclose(f);
	return ok;
}

/* ---- membership ------------------------------------------------------------- */

static bool local_addr(struct ifaddrs *ifs, const char *ip)
{
	unsigned char want[16];
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(fam, ip, want) != 1)
		return false;
	for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != fam)
			continue;
		const void *a = fam == AF_INET ? (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
					       : (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		if (!memcmp(a, want, fam == AF_INET ? 4 : 16))
			return true;
	}
	return false;
}

const char *kt_source_host_node(const struct kt_snapshot *s, char *buf, unsigned len)
{
	char hn[256];
	if (!s->n_nodes)
		return NULL;
	kt_nl_host_name(hn, sizeof(hn)); /* a replay names the recorded node */
	size_t short_len = strcspn(hn, ".");
	const struct kt_node *hit = NULL;
	for (uint32_t i = 0; i < s->n_nodes && !hit; i++) {
		const struct kt_node *n = &s->nodes[i];
		const char *lbl = kt_kv_get(&n->meta.labels, "kubernetes.io/hostname");
		if (!kt_strcmp0(n->meta.name, hn) || !kt_strcmp0(lbl, hn) || !kt_strcmp0(n->hostname, hn) ||
		    (n->meta.name && strlen(n->meta.name) == short_len && !strncmp(n->meta.name, hn, short_len)))
			hit = n;
	}
	struct ifaddrs *ifs = NULL;
	if (!hit && getifaddrs(&ifs) == 0) {
		for (uint32_t i = 0; i < s->n_nodes && !hit; i++) {
			const struct kt_node *n = &s->nodes[i];
			for (uint32_t k = 0; k < n->n_internal_ips && !hit; k++)
				if (local_addr(ifs, n->internal_ips[k]))
					hit = n;
			for (uint32_t k = 0; k < n->n_external_ips && !hit; k++)
				if (local_addr(ifs, n->external_ips[k]))
					hit = n;
		}
		freeifaddrs(ifs);
	}
	if (!hit)
		return NULL;
	snprintf(buf, len, "%s", hit->meta.name);
	return buf;
}

/* ---- diagnoses -------------------------------------------------------------- */

bool kt_src_node_has(const struct kt_snapshot *s, const char *ns, const char *name)
{
	for (uint32_t i = 0; i < s->n_dp; i++)
		for (uint32_t k = 0; k < s->dp[i].n_svcs; k++)
			if (!kt_strcmp0(s->dp[i].svcs[k].name, name) && (!ns || !kt_strcmp0(s->dp[i].svcs[k].namespace, ns)))
				return true;
	return false;
}

static const char *what_is_read(const struct kt_scope *sc)
{
	static char buf[512];
	snprintf(buf, sizeof(buf),
		 "iptables nat tables (nft and legacy backends: KUBE-SERVICES), nftables (table kube-proxy), IPVS virtual "
		 "services, Cilium's service maps under %s%s",
		 sc->node_opts.bpffs ? sc->node_opts.bpffs : "/sys/fs/bpf",
		 sc->node_opts.no_metrics ? "" : ", kube-proxy metrics on 127.0.0.1:10249");
	return buf;
}

bool kt_src_node_empty(struct kt_src *x, const struct kt_snapshot *s)
{
	const struct kt_dp_node *h = NULL;
	for (uint32_t i = 0; i < s->n_dp; i++)
		if (s->dp[i].source && !strcmp(s->dp[i].source, "live"))
			h = &s->dp[i];
	if (!h || h->modes || h->n_svcs)
		return false;
	/* something could not be read: empty is not proof (the gaps say why) */
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (!s->gaps[i].recorded)
			return false;
	kt_log(1, "checked on this host: %s: nothing found", what_is_read(x->sc));
	kt_diag_reset(x->d);
	kt_diag_set(x->d, KT_EXIT_CLUSTER,
		    "this host (%s) has no kube-proxy or Cilium state: no Service rules in iptables, nftables or IPVS "
		    "and no Cilium service map (-v lists what was checked)",
		    h->node ? h->node : "?");
	kt_diag_hint(x->d, "read node state from saved dumps (--iptables-save/--nft-json/--ipvsadm FILE), a bundle "
			   "collected on a node ('ktrace collect' there as root, then --from FILE), or run ktrace on "
			   "the node (kubectl debug node/NAME -it --profile=sysadmin)");
	return true;
}

/* ---- the node-source table ---------------------------------------------------- */

static bool has_dumps(const struct kt_scope *sc)
{
	return sc->node_opts.iptables_save || sc->node_opts.nft_json || sc->node_opts.ipvsadm;
}

static struct kt_node_opts node_opts(const struct kt_src *x, const struct kt_snapshot *s, const char *name)
{
	const struct kt_scope *sc = x->sc;
	struct kt_node_opts o = sc->node_opts;
	o.node_name = name;
	o.no_metrics = o.no_metrics || !(x->wants & KT_WANT_METRICS);
	if (sc->svc_name && !sc->all_namespaces && s->focus.ns) {
		/* one Service: read only its rules (speed) */
		o.want_svc_filter = true;
		o.svc_namespace = s->focus.ns;
		o.svc_name = sc->svc_name;
	}
	return o;
}

/* Saved dumps: iptables-save, nft -j, ipvsadm-save text. */
static bool dumps_serve(const struct kt_src *x)
{
	return has_dumps(x->sc);
}

static int dumps_load(struct kt_src *x, struct kt_snapshot *s)
{
	struct kt_node_opts o = node_opts(x, s, x->sc->node_name);
	s->focus.node_note = kt_arena_printf(s->arena, "node state from saved dumps");
	return kt_dp_collect(s, &o, x->d);
}

/* This host's kernel: when asked (dataplane, imbalance, collect --node),
 * or by default when this host is one of the cluster's Nodes. */
static bool host_serve(const struct kt_src *x)
{
	return x->sc->node == KT_NODE_HOST || (x->sc->node == KT_NODE_AUTO && !x->sc->from);
}

static int host_unreadable(struct kt_src *x, struct kt_snapshot *s, bool asked)
{
	unsigned w = x->wants;
	if (w & KT_WANT_FLOW_FEED) {
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "cannot read this node's conntrack table: not root");
		kt_diag_hint(x->d, "run as root on the node (or use --from BUNDLE to show stored flows)");
		return -KT_EXIT_CLUSTER;
	}
	if (w & KT_WANT_NODE_REQUIRED) {
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "cannot read this node's dataplane: needs root or CAP_NET_ADMIN");
		kt_diag_hint(x->d, "run as root on the node (e.g. kubectl debug node/NAME -it --profile=sysadmin), or pass "
				   "saved dumps / --from BUNDLE");
		return -KT_EXIT_CLUSTER;
	}
	s->focus.node_note = kt_arena_printf(s->arena, "this host's node state not read: not root and no CAP_NET_ADMIN");
	kt_log(1, "%s", s->focus.node_note);
	if (asked) {
		/* collect --node: the collectors record what they could not read */
		struct kt_node_opts o = node_opts(x, s, x->sc->node_name);
		struct kt_diag d2 = {0};
		if (w & KT_WANT_DATAPLANE)
			kt_dp_collect(s, &o, &d2);
		if (w & KT_WANT_FLOWS)
			kt_flows_collect(s, &o, &d2);
	}
	return 0;
}

static int host_load(struct kt_src *x, struct kt_snapshot *s)
{
	const struct kt_scope *sc = x->sc;
	unsigned w = x->wants;
	bool asked = sc->node == KT_NODE_HOST || (w & KT_WANT_THIS_HOST);
	char hn[256] = "", mb[256];
	kt_nl_host_name(hn, sizeof(hn));
	if (!kt_node_readable())
		return host_unreadable(x, s, asked);
	const char *member = kt_source_host_node(s, mb, sizeof(mb));
	if (!asked && !member) {
		/* on a laptop an empty rule set would read as "nothing programmed" */
		s->focus.node_note = s->n_nodes
			? kt_arena_printf(s->arena, "this host's node state not read: '%s' is not one of the cluster's %u Nodes",
					  hn, s->n_nodes)
			: kt_arena_printf(s->arena, "this host's node state not read: no Node objects to tell whether '%s' is one",
					  hn);
		kt_log(1, "%s", s->focus.node_note);
		return 0;
	}
	const char *name = sc->node_name ? sc->node_name : member;
	struct kt_node_opts o = node_opts(x, s, name);
	kt_log(1, "node state: reading this host (%s%s%s): %s", name ? "as node '" : hn, name ? name : "", name ? "'" : "",
	       what_is_read(sc));
	if (w & KT_WANT_DATAPLANE) {
		struct kt_diag d2 = {0};
		if (kt_dp_collect(s, &o, &d2) < 0) {
			if (w & KT_WANT_NODE_REQUIRED) {
				*x->d = d2;
				return -(d2.code ? d2.code : KT_EXIT_CLUSTER);
			}
			kt_snapshot_gap(s, "this node's dataplane", "%s", d2.msg);
		}
	}
	if (w & KT_WANT_FLOWS) {
		struct kt_diag d2 = {0};
		if (kt_flows_collect(s, &o, &d2) < 0)
			kt_snapshot_gap(s, "node flows", "%s", d2.msg);
	}
	s->focus.node_note = member && !sc->node_name
		? kt_arena_printf(s->arena, "this host as node '%s' (one of the cluster's Nodes)", member)
		: kt_arena_printf(s->arena, "this host as node '%s'%s", name ? name : hn,
				  member ? "" : s->n_nodes ? " (not one of the cluster's Nodes: recorded as asked)" : "");
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (!s->gaps[i].recorded)
			kt_log(1, "node state: could not read %s: %s", s->gaps[i].what, s->gaps[i].why);
	/* dataplane on a host without any proxy state: say so, unless the
	 * API says this is a node (then "nothing programmed" is the finding) */
	if ((w & KT_WANT_NODE_REQUIRED) && !(member && s->n_services) && kt_src_node_empty(x, s))
		return -KT_EXIT_CLUSTER;
	return 0;
}

/* The ktrace agents (--nodes): every selected node's state through the
 * API server's Pod proxy. Collecting keeps the fleet form (majority once
 * plus deviations) for the bundle; otherwise every node's view is
 * expanded into snap->dp for the analyzers. */
static bool agents_serve(const struct kt_src *x)
{
	return x->sc->nodes != NULL;
}

static int agents_load(struct kt_src *x, struct kt_snapshot *s)
{
	const struct kt_scope *sc = x->sc;
	unsigned w = x->wants;
	int rc = kt_src_client(x);
	if (rc < 0)
		return rc;
	struct kt_fleet_opts o = {
		.nodes = sc->nodes,
		.ns = sc->agent_namespace,
		.selector = sc->agent_selector,
		.timeout_ms = sc->agent_timeout_s > 0 ? sc->agent_timeout_s * 1000L : 0,
		.dataplane = (w & KT_WANT_DATAPLANE) != 0,
		.flows = (w & (KT_WANT_FLOWS | KT_WANT_FLOW_FEED)) != 0,
		.keep = sc->agents,
	};
	if ((rc = kt_fleet_load(x->k, &o, s, x->d)) < 0)
		return rc;
	const struct kt_fleet *f = s->fleet;
	uint32_t gaps = 0;
	for (uint32_t i = 0; i < s->n_gaps; i++)
		gaps += !strncmp(s->gaps[i].what, "node state of node ", 19);
	s->focus.node_note = kt_arena_printf(s->arena, "%u of %u selected nodes through their ktrace agents (namespace %s)%s",
					     f->n_asked - gaps, f->n_asked, f->agent_namespace, gaps ? ": the rest are gaps" : "");
	kt_log(1, "%s; %u Services, %u differ on some node; %llu bytes from the agents in %u requests",
	       s->focus.node_note, f->n_keys, f->n_deviating, (unsigned long long)f->bytes, f->requests);
	if (!sc->record)
		kt_fleet_expand(s);
	return 0;
}

int kt_source_fleet_flows(const struct kt_scope *sc, struct kt_snapshot **out, struct kt_diag *d)
{
	if (!sc->agents || !*sc->agents || !sc->client || !*sc->client)
		return kt_diag_set(d, KT_EXIT_USAGE, "no ktrace agents loaded to refresh (--nodes)");
	struct kt_snapshot *s = kt_snapshot_new();
	s->source = kt_intern(s->arena, "agents");
	int rc = kt_fleet_flows(*sc->client, *sc->agents, s, d);
	if (rc < 0) {
		kt_snapshot_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void kt_source_fleet_free(struct kt_fleet_agents *agents)
{
	kt_fleet_agents_free(agents);
}

uint32_t kt_source_fleet_count(const struct kt_fleet_agents *agents)
{
	return agents ? agents->n : 0;
}

const char *kt_source_fleet_node(const struct kt_fleet_agents *agents, uint32_t i)
{
	return agents && i < agents->n ? agents->v[i].node : NULL;
}

int kt_source_flow_sample(const struct kt_node_opts *no, const struct kt_flow_opts *fo, struct kt_snapshot **out,
			  struct kt_diag *d)
{
	struct kt_snapshot *s = kt_snapshot_new();
	int rc = kt_flows_collect_ex(s, no, fo, d);
	if (rc < 0) {
		kt_snapshot_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* Where node state comes from, in order: the first row that serves the
 * scope loads it. Remote agents (`--nodes`, through the API server's Pod
 * proxy) plug in as one more row before "host": serve when scope->nodes is
 * set, load by asking each selected agent and appending its struct
 * kt_dp_node / kt_flow_sample (gaps for agents that do not answer).
 * Commands never change. */
static const struct {
	const char *name;
	bool (*serve)(const struct kt_src *x);
	int (*load)(struct kt_src *x, struct kt_snapshot *s);
} node_sources[] = {
	{"dumps", dumps_serve, dumps_load},
	{"agents", agents_serve, agents_load},
	{"host", host_serve, host_load},
};

int kt_src_node_state(struct kt_src *x, struct kt_snapshot *s)
{
	const struct kt_scope *sc = x->sc;
	unsigned w = x->wants;
	if (!(w & (KT_WANT_DATAPLANE | KT_WANT_FLOWS | KT_WANT_FLOW_FEED)))
		return 0;
	if (sc->nodes && sc->from)
		return kt_diag_set(x->d, KT_EXIT_USAGE, "--nodes reads the live agents; with --from the bundle's nodes are shown");
	if (sc->nodes && (sc->node != KT_NODE_AUTO || has_dumps(sc)))
		return kt_diag_set(x->d, KT_EXIT_USAGE, "--nodes cannot be combined with options that read this host or saved dumps");
	if (sc->node == KT_NODE_NONE) {
		s->focus.node_note = kt_arena_printf(s->arena, "this host's node state not read (--no-node)");
		return 0;
	}
	if (sc->from && sc->node == KT_NODE_AUTO && !has_dumps(sc)) {
		/* the bundle's stored node state (a fleet: every node's view) */
		if (s->fleet)
			kt_fleet_expand(s);
		if (sc->node_name && !kt_snapshot_keep_node(s, sc->node_name)) {
			const char **cands = KT_ANEW(s->arena, const char *, s->n_dp + s->n_flows + 1);
			unsigned n = 0;
			for (uint32_t i = 0; i < s->n_dp; i++)
				cands[n++] = s->dp[i].node;
			for (uint32_t i = 0; i < s->n_flows; i++)
				cands[n++] = s->flows[i].node;
			kt_diag_not_found(x->d, "node state for", NULL, sc->node_name, cands, n);
			if (!n)
				kt_diag_hint(x->d, "the bundle holds no node state: collect one on a node as root ('ktrace collect')");
			return -KT_EXIT_NOTFOUND;
		}
		if (s->n_dp || s->n_flows)
			s->focus.node_note = kt_arena_printf(s->arena, "node state stored in %s", s->origin ? s->origin : "the bundle");
		return 0;
	}
	if (sc->from)
		kt_snapshot_clear_nodes(s); /* the bundle supplies API objects only */
	for (size_t i = 0; i < sizeof(node_sources) / sizeof(node_sources[0]); i++)
		if (node_sources[i].serve(x)) {
			kt_log(2, "node state from %s", node_sources[i].name);
			return node_sources[i].load(x, s);
		}
	return 0;
}
