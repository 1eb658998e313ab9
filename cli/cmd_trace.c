/*
 * `ktrace trace --dst IP:PORT|svc/NAME[:PORT]`: one packet (or --count N)
 * through a node's real rules in the real kernel, in scratch network
 * namespaces (collectors/trace/ via ktrace/trace.h), next to what ktrace's
 * model of the same rules predicts (analyzers/trace.c). The node state
 * comes from the source layer like every command's: this host, saved
 * dumps (--iptables-save, --nft-json) or a bundle (--from, --node); a
 * bundle or a Cilium/IPVS node is answered from the model only, labelled
 * as computed. A dump is read and parsed once: the rules are cut down to
 * what the probe can reach and the model reads that same text. --from-pod
 * and --dst svc/NAME are resolved from the API objects (the live API or
 * --from) before anything is loaded. Rendering is cli/render_trace.c;
 * exit 1 when the kernel and the model disagree.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/render_trace.h"
#include "ktrace/dataplane.h"
#include "ktrace/trace.h"
#include "ktrace/xalloc.h"

static const struct kt_option opts[] = {
	{"dst", 0, KT_OPT_STR, "IP:PORT|svc/NAME[:PORT]", NULL,
	 "the packet's destination: a ClusterIP, node address, LB or external IP with the port ([IPv6]:PORT), or a "
	 "Service (with -n) whose ClusterIP and port (number or name) to use"},
	{"src", 0, KT_OPT_STR, "IP[:PORT]", NULL,
	 "the client's address and first source port (default 198.18.0.2:40000, an off-cluster client)"},
	{"from-pod", 0, KT_OPT_STR, "[NS/]POD", NULL,
	 "the packet comes from this Pod on the node: its IP from the API objects (or --from), through a Pod-side "
	 "veth (hostNetwork Pods: a local socket, through OUTPUT)"},
	{"proto", 0, KT_OPT_STR, "PROTO", "tcp|udp", "tcp (a SYN; default) or udp (a datagram)"},
	{"count", 0, KT_OPT_INT, "N", NULL,
	 "send N probes from consecutive source ports: measured backend shares next to the computed ones"},
	{"node", 0, KT_OPT_STR, "NAME", "node", "the node of a bundle (--from) whose state to use"},
	{"node-address", 0, KT_OPT_STR, "IP,...", NULL,
	 "the node's addresses (NodePort and local delivery); default: this host's, the bundle Node's, or the destination when it is no Service address"},
	{"iptables-save", 0, KT_OPT_STR, "FILE", "file",
	 "trace through this iptables-save / iptables-legacy-save (ip6tables-save for IPv6) text"},
	{"nft-json", 0, KT_OPT_STR, "FILE", "file", "trace through this `nft -j list ruleset` output"},
	{"full", 0, KT_OPT_FLAG, NULL, NULL, "load every rule, not only the chains the packet can reach"},
	{"computed", 0, KT_OPT_FLAG, NULL, NULL, "do not trace in the kernel: only what ktrace's model says"},
	{0},
};

#define V(x) kt_cv(c, x)

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

struct tr {
	struct kt_trace_req q;
	const char *dst_arg;     /* --dst as given */
	const char *pod_arg;     /* --from-pod */
	bool dst_svc;            /* --dst svc/NAME */
	bool v6;
	bool src_given;
	char host_addrs[KT_TRACE_MAX_ADDRS][48];
	char *addr_copy;
	unsigned n_known;        /* addresses known before the model (the rest is the fallback) */
};

/* IPv4 "A.B.C.D[:PORT]" or IPv6 "[ADDR]:PORT" / "ADDR" into ip (canonical). */
static int parse_hostport(const char *s, char *ip, size_t n, uint16_t *port, bool port_required, bool *v6)
{
	const char *colon, *end;
	char a[64];
	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end)
			return -1;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -1;
		s++;
	} else if (strchr(s, ':') != strrchr(s, ':')) {
		end = s + strlen(s); /* a bare IPv6 address: no port */
		colon = NULL;
	} else {
		colon = strrchr(s, ':');
		end = colon ? colon : s + strlen(s);
	}
	size_t l = (size_t)(end - s);
	if (l == 0 || l >= sizeof(a))
		return -1;
	memcpy(a, s, l);
	a[l] = 0;
	unsigned char raw[16];
	*v6 = inet_pton(AF_INET6, a, raw) == 1;
	if (!*v6 && inet_pton(AF_INET, a, raw) != 1)
		return -1;
	inet_ntop(*v6 ? AF_INET6 : AF_INET, raw, ip, (socklen_t)n);
	if (!colon)
		return port_required ? -1 : 0;
	char *e;
	long p = strtol(colon + 1, &e, 10);
	if (*e || p < 1 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

static const struct kt_dp_node *pick_node(const struct kt_snapshot *s, const char *name)
{
	for (uint32_t i = 0; i < s->n_dp; i++)
		if (!name || (s->dp[i].node && !strcmp(s->dp[i].node, name)))
			return &s->dp[i];
	return NULL;
}

static enum kt_dp_mode node_mode(const struct kt_dp_node *n)
{
	static const enum kt_dp_mode pref[] = {KT_DP_IPTABLES_NFT, KT_DP_IPTABLES_LEGACY, KT_DP_NFTABLES, KT_DP_IPVS,
					       KT_DP_CILIUM};
	for (unsigned i = 0; i < 5; i++)
		if (n->modes & (1u << pref[i]))
			return pref[i];
	return KT_DP_MODE_COUNT;
}

static bool vip_known(const struct kt_dp_node *n, const char *ip)
{
	for (uint32_t i = 0; i < n->n_svcs; i++)
		for (uint32_t j = 0; j < n->svcs[i].n_fe; j++) {
			const struct kt_dp_frontend *f = &n->svcs[i].fe[j];
			if (f->kind != KT_FE_NODEPORT && f->kind != KT_FE_HEALTHCHECK && f->ip && !strcmp(f->ip, ip))
				return true;
		}
	return false;
}

static void add_addr(struct tr *t, const char *ip)
{
	for (unsigned i = 0; i < t->q.n_addrs; i++)
		if (!strcmp(t->q.addrs[i], ip))
			return;
	if (t->q.n_addrs < KT_TRACE_MAX_ADDRS)
		t->q.addrs[t->q.n_addrs++] = ip;
}

/* The node's addresses of the probe's family, as far as they are known
 * before the model: --node-address, else this host's (live) or the Node
 * object's (objects from a bundle or the API); a hostNetwork client's
 * address is one of them. */
static void known_addresses(struct kt_cli *c, const struct kt_snapshot *objs, const char *node, bool live, struct tr *t)
{
	const char *opt = kt_opt_str(c, "node-address");
	if (opt) {
		t->addr_copy = kt_xstrdup(opt);
		for (char *p = t->addr_copy; p && *p;) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma = 0;
			if (*p)
				add_addr(t, p);
			p = comma ? comma + 1 : NULL;
		}
	} else if (live) {
		unsigned k = kt_trace_host_addrs(t->v6 ? AF_INET6 : AF_INET, t->host_addrs, KT_TRACE_MAX_ADDRS);
		for (unsigned i = 0; i < k; i++)
			add_addr(t, t->host_addrs[i]);
	} else {
		for (uint32_t i = 0; objs && node && i < objs->n_nodes; i++) {
			const struct kt_node *no = &objs->nodes[i];
			if (!no->meta.name || strcmp(no->meta.name, node))
				continue;
			for (uint32_t k = 0; k < no->n_internal_ips; k++)
				if ((strchr(no->internal_ips[k], ':') != NULL) == t->v6)
					add_addr(t, no->internal_ips[k]);
			for (uint32_t k = 0; k < no->n_external_ips; k++)
				if ((strchr(no->external_ips[k], ':') != NULL) == t->v6)
					add_addr(t, no->external_ips[k]);
		}
	}
	if (t->q.pod_host_network)
		add_addr(t, t->q.src);
	t->n_known = t->q.n_addrs;
}

/* ---- arguments -------------------------------------------------------------- */

static bool svc_prefix(const char *s)
{
	return !strncmp(s, "svc/", 4) || !strncmp(s, "service/", 8) || !strncmp(s, "services/", 9);
}

static int parse_args(struct kt_cli *c, struct tr *t)
{
	const char *dst = kt_opt_str(c, "dst");
	if (!dst && c->argc == 1)
		dst = c->argv[0];
	else if (c->argc)
		return kt_cli_error(c, KT_EXIT_USAGE, "give the destination as --dst IP:PORT", "unexpected argument '%s'",
				    kt_cv(c, c->argv[0]));
	if (!dst)
		return kt_cli_error(c, KT_EXIT_USAGE, "e.g. ktrace trace --dst 10.96.0.10:53 --proto udp",
				    "--dst IP:PORT is required");
	t->dst_arg = dst;
	t->dst_svc = svc_prefix(dst);
	if (!t->dst_svc && parse_hostport(dst, t->q.dst, sizeof(t->q.dst), &t->q.dport, true, &t->v6) < 0)
		return kt_cli_error(c, KT_EXIT_USAGE, "an address and a port (10.96.0.10:53, [fd00::10]:53) or svc/NAME[:PORT]",
				    "--dst '%s' is not IP:PORT", kt_cv(c, dst));
	const char *src = kt_opt_str(c, "src");
	t->pod_arg = kt_opt_str(c, "from-pod");
	if (src && t->pod_arg)
		return kt_cli_error(c, KT_EXIT_USAGE, "the Pod's IP is the source; --src PORT is not needed either",
				    "--src and --from-pod exclude each other");
	snprintf(t->q.src, sizeof(t->q.src), "%s", t->v6 ? "2001:2::2" : "198.18.0.2");
	bool sv6 = t->v6;
	if (src && (parse_hostport(src, t->q.src, sizeof(t->q.src), &t->q.sport, false, &sv6) < 0 ||
		    (!t->dst_svc && sv6 != t->v6)))
		return kt_cli_error(c, KT_EXIT_USAGE, "an address of the destination's family, optionally with the first source port",
				    "--src '%s' is not IP[:PORT]", kt_cv(c, src));
	t->src_given = src != NULL;
	const char *proto = kt_opt_str(c, "proto");
	if (!proto || !strcasecmp(proto, "tcp"))
		t->q.proto = "TCP";
	else if (!strcasecmp(proto, "udp"))
		t->q.proto = "UDP";
	else
		return kt_cli_error(c, KT_EXIT_USAGE, "tcp or udp", "--proto '%s' is not traced", kt_cv(c, proto));
	long count = kt_opt_int(c, "count", 1);
	if (count < 1 || count > (long)KT_TRACE_MAX_COUNT)
		return kt_cli_error(c, KT_EXIT_USAGE, NULL, "--count must be 1..%u", KT_TRACE_MAX_COUNT);
	t->q.count = (unsigned)count;
	return 0;
}

/* ---- --dst svc/NAME and --from-pod: from the API objects ------------------------ */

static const char *namespace_of(struct kt_cli *c)
{
	return c->namespace ? c->namespace : kt_cli_namespace(c);
}

/* svc/NAME[:PORT|:PORTNAME] -> the ClusterIP and the port (and protocol). */
static int resolve_svc(struct kt_cli *c, const struct kt_snapshot *s, struct tr *t, struct kt_diag *d)
{
	const char *a = strchr(t->dst_arg, '/') + 1;
	const char *colon = strchr(a, ':');
	char *name = kt_arena_strndup(s->arena, a, colon ? (size_t)(colon - a) : strlen(a));
	const char *port = colon ? colon + 1 : NULL;
	const char *ns = namespace_of(c);
	t->q.svc_ns = ns;
	t->q.svc_name = name;
	uint32_t si = kt_find_service(s, ns, name);
	if (si == KT_NONE) {
		const char **cands = kt_arena_alloc(s->arena, sizeof(char *) * (s->n_services + 1));
		unsigned n = 0;
		for (uint32_t i = 0; i < s->n_services; i++)
			if (s->services[i].meta.namespace && !strcmp(s->services[i].meta.namespace, ns))
				cands[n++] = s->services[i].meta.name;
		return kt_cli_not_found(d, "service", ns, name, cands, n);
	}
	const struct kt_service *sv = &s->services[si];
	const char *ip = NULL;
	for (uint32_t i = 0; i < sv->n_cluster_ips && !ip; i++)
		if (strcmp(sv->cluster_ips[i], "None"))
			ip = sv->cluster_ips[i];
	if (!ip || sv->headless)
		return kt_diag_set(d, KT_EXIT_USAGE, "Service %s/%s has no ClusterIP (%s): give --dst IP:PORT", ns, name,
				   sv->external_name ? "ExternalName" : "headless");
	const struct kt_svc_port *sp = NULL;
	for (uint32_t i = 0; i < sv->n_ports && !sp; i++) {
		const struct kt_svc_port *q = &sv->ports[i];
		char num[16];
		snprintf(num, sizeof(num), "%d", q->port);
		if (!port ? sv->n_ports == 1 : (q->name && !strcmp(q->name, port)) || !strcmp(num, port))
			sp = q;
	}
	if (!sp) {
		char names[512] = "";
		size_t off = 0;
		for (uint32_t i = 0; i < sv->n_ports && off < sizeof(names); i++) {
			const char *pn = sv->ports[i].name && sv->ports[i].name[0] ? sv->ports[i].name : NULL;
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s%s%d", i ? ", " : "", pn ? pn : "",
						pn ? "=" : "", sv->ports[i].port);
		}
		kt_diag_set(d, port ? KT_EXIT_NOTFOUND : KT_EXIT_USAGE, "Service %s/%s has %s port %s", ns, name,
			    port ? "no" : "more than one", port ? port : "named");
		kt_diag_hint(d, "its ports: %s; write svc/%s:PORT", names, name);
		return -1;
	}
	bool v6;
	uint16_t dummy;
	if (parse_hostport(ip, t->q.dst, sizeof(t->q.dst), &dummy, false, &v6) < 0)
		return kt_diag_set(d, KT_EXIT_INPUT, "Service %s/%s: ClusterIP '%s' is not an address", ns, name, ip);
	t->v6 = v6;
	t->q.dport = (uint16_t)sp->port;
	t->q.svc_port_name = sp->name ? sp->name : "";
	if (!kt_opt_str(c, "proto") && sp->protocol)
		t->q.proto = !strcasecmp(sp->protocol, "UDP") ? "UDP" : "TCP";
	if (!t->src_given && !t->pod_arg)
		snprintf(t->q.src, sizeof(t->q.src), "%s", v6 ? "2001:2::2" : "198.18.0.2");
	return 0;
}

/* [NS/]POD -> the Pod's IP of the destination's family, its node, hostNetwork. */
static int resolve_pod(struct kt_cli *c, const struct kt_snapshot *s, struct tr *t, struct kt_diag *d)
{
	const char *slash = strchr(t->pod_arg, '/');
	const char *ns = slash ? kt_arena_strndup(s->arena, t->pod_arg, (size_t)(slash - t->pod_arg)) : namespace_of(c);
	const char *name = slash ? slash + 1 : t->pod_arg;
	t->q.pod_ns = ns;
	t->q.pod_name = name;
	uint32_t pi = kt_find_pod(s, ns, name);
	if (pi == KT_NONE) {
		const char **cands = kt_arena_alloc(s->arena, sizeof(char *) * (s->n_pods + 1));
		unsigned n = 0;
		for (uint32_t i = 0; i < s->n_pods; i++)
			if (s->pods[i].meta.namespace && !strcmp(s->pods[i].meta.namespace, ns))
				cands[n++] = s->pods[i].meta.name;
		return kt_cli_not_found(d, "pod", ns, name, cands, n);
	}
	const struct kt_pod *p = &s->pods[pi];
	const char *ip = NULL;
	for (uint32_t i = 0; i < p->n_ips && !ip; i++)
		if ((strchr(p->ips[i], ':') != NULL) == t->v6)
			ip = p->ips[i];
	if (!ip) {
		kt_diag_set(d, KT_EXIT_NOTFOUND, "Pod %s/%s has no %s address in the objects (phase %s)", ns, name,
			    t->v6 ? "IPv6" : "IPv4", p->phase ? p->phase : "unknown");
		kt_diag_hint(d, "a Pod gets its IP when it runs; give --src IP to trace from an address of your choice");
		return -1;
	}
	bool v6;
	if (parse_hostport(ip, t->q.src, sizeof(t->q.src), &t->q.sport, false, &v6) < 0)
		return kt_diag_set(d, KT_EXIT_INPUT, "Pod %s/%s: '%s' is not an address", ns, name, ip);
	t->q.sport = 0;
	t->q.pod_node = p->spec.node_name;
	t->q.pod_host_network = p->spec.host_network;
	return 0;
}

/* The Services, Pods and Nodes that --dst svc/NAME and --from-pod need. */
static int load_objects(struct kt_cli *c, const struct kt_scope *sc0, struct tr *t, struct kt_snapshot **objs,
			struct kt_diag *d)
{
	struct kt_scope sc = *sc0;
	sc.node = KT_NODE_NONE;
	memset(&sc.node_opts, 0, sizeof(sc.node_opts));
	sc.nodes = NULL;
	sc.all_namespaces = true;
	c->progress = !c->quiet;
	int rc = kt_source_load(&sc, KT_WANT_SERVICES | KT_WANT_PODS | KT_WANT_NODES, objs, d);
	kt_cli_progress_done(c);
	c->progress = false;
	if (rc < 0) {
		if (!c->from)
			kt_diag_hint(d, "%s needs the API objects: a reachable cluster, or a bundle with --from",
				     t->pod_arg ? "--from-pod" : "--dst svc/NAME");
		return -1;
	}
	if (t->dst_svc && resolve_svc(c, *objs, t, d) < 0)
		return -1;
	if (t->pod_arg && resolve_pod(c, *objs, t, d) < 0)
		return -1;
	return 0;
}

/* ---- the rules, the model, the run ------------------------------------------------ */

struct job {
	struct kt_trace_opts o;
	struct kt_trace_rules *rules;
	struct kt_trace_dump text; /* the dump or this host's rules */
	char origin[600];
	const char *why_computed;
};

static void opts_for(struct kt_cli *c, const struct tr *t, struct job *j)
{
	struct kt_trace_opts *o = &j->o;
	o->dst_ip = t->q.dst;
	o->dst_port = t->q.dport;
	o->src_ip = t->q.src;
	o->src_port = t->q.sport;
	o->src_on_node = t->q.pod_host_network;
	o->proto = !strcmp(t->q.proto, "UDP") ? IPPROTO_UDP : IPPROTO_TCP;
	o->count = t->q.count;
	o->full = kt_opt_flag(c, "full");
	o->stop = &stop_flag;
	o->rules_origin = j->origin;
	o->n_node_addrs = t->q.n_addrs;
	for (unsigned i = 0; i < t->q.n_addrs; i++)
		o->node_addrs[i] = t->q.addrs[i];
}

/* A saved dump: read once, prepared (parsed, pruned), and the model reads
 * the prepared text through the node options. */
static int dump_rules(struct kt_cli *c, struct kt_scope *sc, const struct tr *t, struct job *j, struct kt_diag *d)
{
	bool ipt = sc->node_opts.iptables_save != NULL;
	const char *path = ipt ? sc->node_opts.iptables_save : sc->node_opts.nft_json;
	snprintf(j->origin, sizeof(j->origin), "%s %s", ipt ? "iptables-save" : "nft -j", path);
	if (kt_trace_read_rules(path, &j->text, d) < 0)
		return -1;
	opts_for(c, t, j);
	j->o.rules = j->text.p;
	j->o.rules_len = j->text.len;
	j->o.rules_scratch = true;
	j->o.fmt = ipt ? KT_TRACE_IPTABLES : KT_TRACE_NFT_JSON;
	if (kt_trace_rules_prepare(&j->o, &j->rules, d) < 0)
		return -1;
	size_t tl;
	const char *text = kt_trace_rules_text(j->rules, &tl);
	if (ipt) {
		sc->node_opts.iptables_save_text = text;
		sc->node_opts.iptables_save_len = tl;
		sc->node_opts.nft_json = NULL; /* one rule set is traced */
	} else {
		sc->node_opts.nft_json_text = text;
		sc->node_opts.nft_json_len = tl;
	}
	return 0;
}

/* This host's rules (live), or why the answer is computed only. */
static int host_rules(struct kt_cli *c, const struct kt_dp_node *n, const struct tr *t, struct job *j,
		      struct kt_diag *d)
{
	enum kt_dp_mode mode = node_mode(n);
	snprintf(j->origin, sizeof(j->origin), "this host's %s rules",
		 mode < KT_DP_MODE_COUNT ? kt_dp_mode_name(mode) : "(no)");
	if (mode == KT_DP_IPVS || mode == KT_DP_CILIUM) {
		j->why_computed = mode == KT_DP_CILIUM ? "Cilium's datapath is BPF programs, not rules"
						       : "IPVS picks backends outside netfilter (and this kernel may lack ip_vs)";
		return 0;
	}
	if (mode == KT_DP_MODE_COUNT) {
		j->why_computed = "no kube-proxy rules on this host";
		return 0;
	}
	opts_for(c, t, j);
	j->text.p = kt_trace_host_rules(mode, t->v6, &j->text.len, &j->o.fmt, d);
	if (!j->text.p)
		return -1;
	j->o.rules = j->text.p;
	j->o.rules_len = j->text.len;
	j->o.rules_scratch = true;
	return kt_trace_rules_prepare(&j->o, &j->rules, d);
}

static int trace(struct kt_cli *c, struct job *j, const struct tr *t, struct kt_trace_result **r, struct kt_diag *d)
{
	opts_for(c, t, j); /* the final node addresses */
	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	int rc = kt_trace_run(&j->o, j->rules, r, d);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	return rc;
}

static int finish(struct kt_cli *c, struct tr *t, const struct kt_dp_node *n, struct job *j,
		  struct kt_trace_result *r)
{
	struct kt_trace_prediction p;
	kt_trace_predict(n, t->q.src, t->q.dst, t->q.dport, t->q.proto, t->q.addrs, t->q.n_addrs, &p);
	struct kt_trace_outcome oc = {0};
	for (uint32_t i = 0; r && i < r->n_probes; i++) {
		const char *why = NULL;
		if (kt_trace_agrees(&p, &r->probes[i], &why)) {
			oc.agree++;
		} else {
			oc.disagree++;
			if (!oc.why)
				oc.why = why;
		}
	}
	kt_render_trace(c, &t->q, n, r, &p, j->origin, &oc);
	return oc.disagree ? KT_EXIT_FINDINGS : 0;
}

static int run(struct kt_cli *c)
{
	struct tr t = {0};
	struct job j = {0};
	struct kt_snapshot *objs = NULL, *snap = NULL;
	struct kt_trace_result *r = NULL;
	struct kt_diag d = {0};
	int rc = parse_args(c, &t);
	if (rc)
		return rc;
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	sc.node_opts.no_metrics = true;
	bool dumps = sc.node_opts.iptables_save || sc.node_opts.nft_json;
	bool live = !c->from && !dumps;
	if ((t.dst_svc || t.pod_arg) && load_objects(c, &sc, &t, &objs, &d) < 0)
		goto fail;
	const char *node = c->from ? kt_opt_str(c, "node") : NULL;
	if (!node && c->from && !dumps && t.q.pod_node)
		node = t.q.pod_node; /* a bundle's node state: the Pod's node */
	known_addresses(c, objs, node ? node : t.q.pod_node, live, &t);
	bool computed = kt_opt_flag(c, "computed");
	if (dumps && !computed && dump_rules(c, &sc, &t, &j, &d) < 0)
		goto fail;
	if (objs && dumps)
		sc.from = NULL; /* the objects are read: the dumps are the node state */
	if (kt_cli_load(c, &sc, &snap, &d) < 0)
		goto fail;
	const struct kt_dp_node *n = pick_node(snap, node);
	if (!n) {
		rc = kt_cli_error(c, c->from && node ? KT_EXIT_NOTFOUND : KT_EXIT_CLUSTER,
				  c->from ? "give --node NAME of a node the bundle has state for" : NULL,
				  "no node dataplane state for %s in %s", node ? node : "any node", c->from ? c->from : "this source");
		goto out;
	}
	if (!t.q.n_addrs && !vip_known(n, t.q.dst)) {
		add_addr(&t, t.q.dst);
		t.q.addrs_assumed = true;
	}
	if (computed) {
		j.why_computed = "--computed";
	} else if (!dumps && c->from) {
		j.why_computed = "a bundle holds ktrace's model of the node's rules, not their text";
		snprintf(j.origin, sizeof(j.origin), "bundle %s", c->from);
	} else if (live && host_rules(c, n, &t, &j, &d) < 0) {
		goto fail;
	}
	if (!j.origin[0])
		snprintf(j.origin, sizeof(j.origin), "%s", dumps ? "saved dumps" : "this host");
	if (j.rules) {
		if (trace(c, &j, &t, &r, &d) < 0) {
			rc = kt_cli_fail(c, &d);
			if (stop_flag)
				rc = 130;
			goto out;
		}
	} else {
		kt_cli_warn(c, "not traced: %s; showing what ktrace's model computes", j.why_computed);
	}
	rc = finish(c, &t, n, &j, r);
	goto out;
fail:
	rc = kt_cli_fail(c, &d);
out:
	kt_trace_result_free(r);
	kt_trace_rules_free(j.rules);
	kt_trace_dump_free(&j.text);
	kt_snapshot_free(snap);
	kt_snapshot_free(objs);
	free(t.addr_copy);
	return rc;
}

const struct kt_command kt_cmd_trace = {
	.name = "trace",
	.run = run,
	.opts = opts,
	.flags = 0,
	.args = NULL,
	.wants = KT_WANT_DATAPLANE | KT_WANT_NODE_REQUIRED | KT_WANT_THIS_HOST,
	.usage = "--dst IP:PORT|svc/NAME[:PORT] [--src IP[:PORT] | --from-pod [NS/]POD] [--proto tcp|udp] [--count N]",
	.summary = "follow a packet through a node's real rules in the real kernel, without touching the node",
	.description =
		"Loads the node's rule set (this host's, a saved dump, or a bundle's node) into a scratch\n"
		"network namespace, sends a real TCP SYN or UDP datagram to --dst from a client namespace\n"
		"through a veth pair, and prints every rule the packet traversed (nftables trace events),\n"
		"the NAT result (backend, masquerade) and its fate (forwarded to a Pod, delivered locally,\n"
		"rejected, dropped), then what ktrace's model of the same rules predicted and whether the\n"
		"kernel agreed. The node's own rules are only read; both namespaces are removed on exit,\n"
		"on error and on Ctrl-C.\n"
		"\n"
		"With --count N, N probes from consecutive source ports give the measured backend shares\n"
		"next to the computed probabilities. Only what the packet can reach is loaded (chains, and\n"
		"of nftables maps and sets only the elements its addresses and ports can match) unless\n"
		"--full. --from-pod sends from a Pod's IP as a Pod on the node does (a hostNetwork Pod from\n"
		"the node itself); --dst svc/NAME:PORT aims at a Service's ClusterIP; both read the API\n"
		"objects (the cluster, or --from). IPv6: --dst [ADDR]:PORT with ip6tables or ip6 rules.\n"
		"Cilium and IPVS nodes, bundles and --computed are answered from the model only, labelled\n"
		"as computed. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) where ktrace runs. Exit 1 when\n"
		"the kernel and the model disagree.\n"
		"\n"
		"Examples:\n"
		"  ktrace trace --dst 10.96.0.10:53 --proto udp\n"
		"  ktrace trace --iptables-save node-b.txt --node-address 192.168.10.12 --dst 192.168.10.12:30080\n"
		"  ktrace trace --dst 10.96.45.10:80 --count 1000\n"
		"  ktrace trace --from-pod shop/checkout-7d9f-abc --dst svc/orders:http -n shop\n"
		"  ktrace trace --from cluster.json.gz --node node-b --dst 198.51.100.20:443 --computed\n",
	.outputs = "text|json|yaml",
};
