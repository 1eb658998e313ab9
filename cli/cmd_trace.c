/*
 * `ktrace trace --dst IP:PORT`: one packet (or --count N) through a node's
 * real rules in the real kernel, in scratch network namespaces
 * (collectors/trace/ via ktrace/trace.h), next to what ktrace's model of
 * the same rules predicts (analyzers/trace.c). The node state comes from
 * the source layer like every command's: this host, saved dumps
 * (--iptables-save, --nft-json) or a bundle (--from, --node); a bundle or
 * a Cilium/IPVS node is answered from the model only, labelled as
 * computed. Renders text or JSON; exit 1 when the kernel and the model
 * disagree. Only this file prints.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "ktrace/dataplane.h"
#include "ktrace/jsonw.h"
#include "ktrace/trace.h"
#include "ktrace/xalloc.h"

static const struct kt_option opts[] = {
	{"dst", 0, KT_OPT_STR, "IP:PORT", NULL, "the packet's destination: a ClusterIP, node address, LB or external IP, with the port"},
	{"src", 0, KT_OPT_STR, "IP[:PORT]", NULL,
	 "the client's address and first source port (default 198.18.0.2:40000, an off-cluster client)"},
	{"proto", 0, KT_OPT_STR, "PROTO", "tcp|udp", "tcp (a SYN; default) or udp (a datagram)"},
	{"count", 0, KT_OPT_INT, "N", NULL,
	 "send N probes from consecutive source ports: measured backend shares next to the computed ones"},
	{"node", 0, KT_OPT_STR, "NAME", "node", "the node of a bundle (--from) whose state to use"},
	{"node-address", 0, KT_OPT_STR, "IP,...", NULL,
	 "the node's addresses (NodePort and local delivery); default: this host's, the bundle Node's, or the destination when it is no Service address"},
	{"iptables-save", 0, KT_OPT_STR, "FILE", "file", "trace through this iptables-save / iptables-legacy-save text"},
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
	char dst[48];
	uint16_t dport;
	char src[48];
	uint16_t sport;
	const char *proto;       /* "TCP" / "UDP" */
	unsigned count;
	const char *addrs[KT_TRACE_MAX_ADDRS];
	unsigned n_addrs;
	bool addrs_assumed;
	char host_addrs[KT_TRACE_MAX_ADDRS][48];
	char *addr_copy;
};

static int parse_hostport(const char *s, char *ip, size_t n, uint16_t *port, bool port_required)
{
	const char *colon = strrchr(s, ':');
	size_t l = colon ? (size_t)(colon - s) : strlen(s);
	if (l == 0 || l >= n)
		return -1;
	memcpy(ip, s, l);
	ip[l] = 0;
	struct in_addr a;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return -1;
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

/* --node-address, else this host's (live), the bundle Node's, or the
 * destination when the model has no Service address for it. */
static void node_addresses(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_dp_node *n, bool live,
			   struct tr *t)
{
	const char *opt = kt_opt_str(c, "node-address");
	if (opt) {
		t->addr_copy = kt_xstrdup(opt);
		for (char *p = t->addr_copy; p && *p && t->n_addrs < KT_TRACE_MAX_ADDRS;) {
			char *comma = strchr(p, ',');
			if (comma)
				*comma = 0;
			if (*p)
				t->addrs[t->n_addrs++] = p;
			p = comma ? comma + 1 : NULL;
		}
		return;
	}
	if (live) {
		unsigned k = kt_trace_host_addrs(t->host_addrs, KT_TRACE_MAX_ADDRS);
		for (unsigned i = 0; i < k; i++)
			t->addrs[t->n_addrs++] = t->host_addrs[i];
		return;
	}
	for (uint32_t i = 0; i < s->n_nodes && n->node; i++) {
		const struct kt_node *no = &s->nodes[i];
		if (!no->meta.name || strcmp(no->meta.name, n->node))
			continue;
		for (uint32_t k = 0; k < no->n_internal_ips && t->n_addrs < KT_TRACE_MAX_ADDRS; k++)
			if (strchr(no->internal_ips[k], '.'))
				t->addrs[t->n_addrs++] = no->internal_ips[k];
		for (uint32_t k = 0; k < no->n_external_ips && t->n_addrs < KT_TRACE_MAX_ADDRS; k++)
			if (strchr(no->external_ips[k], '.'))
				t->addrs[t->n_addrs++] = no->external_ips[k];
	}
	if (!t->n_addrs && !vip_known(n, t->dst)) {
		t->addrs[t->n_addrs++] = t->dst;
		t->addrs_assumed = true;
	}
}

static const char *hp(char *buf, size_t n, const char *ip, int port)
{
	snprintf(buf, n, "%s:%d", ip && ip[0] ? ip : "*", port);
	return buf;
}

/* ---- text --------------------------------------------------------------- */

static void text_model(struct kt_cli *c, const struct kt_trace_prediction *p, const struct kt_dp_node *n,
		       bool computed_only)
{
	char b[96];
	printf("%smodel%s%s: ", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET), computed_only ? " (computed, not traced)" : "");
	if (p->svc) {
		printf("%s/%s%s%s %s %s (%s)\n", V(p->svc->namespace), V(p->svc->name), p->svc->port_name[0] ? ":" : "",
		       V(p->svc->port_name), kt_fe_kind_name(p->fe->kind), V(hp(b, sizeof(b), p->fe->ip, p->fe->port)),
		       kt_dp_mode_name(p->svc->mode));
	} else {
		printf("no Service frontend on node %s\n", V(n->node));
	}
	printf("  fate: %s%s; %s\n", kt_trace_fate_name(p->fate), p->fate_either ? " or dropped" : "", p->why);
	for (uint32_t i = 0; i < p->n_be; i++)
		printf("  backend %-24s %6.2f%%%s\n", V(hp(b, sizeof(b), p->be[i].ip, p->be[i].port)),
		       p->be[i].probability * 100, p->be[i].local ? "  local" : "");
	if (p->masquerade >= 0)
		printf("  source: %s\n", p->masquerade ? "masqueraded (external traffic)" : "kept");
	if (p->affinity)
		printf("  session affinity: ClientIP (one client reaches one backend)\n");
}

static void text_steps(struct kt_cli *c, const struct kt_trace_probe *p)
{
	printf("%s  #  %-14s %-30s %5s  %-22s %s%s\n", kt_c(c, KT_C_DIM), "TABLE", "CHAIN", "RULE", "VERDICT", "RULE TEXT",
	       kt_c(c, KT_C_RESET));
	for (uint32_t i = 0; i < p->n_steps; i++) {
		const struct kt_trace_step *s = &p->steps[i];
		char v[96], pos[16];
		if (s->target)
			snprintf(v, sizeof(v), "%s %s", s->verdict, s->target);
		else if (!strcmp(s->kind, "policy"))
			snprintf(v, sizeof(v), "policy %s", s->verdict);
		else if (!strcmp(s->kind, "end"))
			snprintf(v, sizeof(v), "(end of chain)");
		else
			snprintf(v, sizeof(v), "%s", s->verdict);
		if (s->pos)
			snprintf(pos, sizeof(pos), "%u", s->pos);
		else
			snprintf(pos, sizeof(pos), "-");
		printf("%3u  %-14s %-30s %5s  %-22s %s\n", i + 1, V(s->table), V(s->chain), pos, V(v),
		       s->text ? V(s->text) : (s->handle ? "" : ""));
	}
	if (p->steps_cut)
		printf("  (more steps than shown: cut)\n");
}

static void text_fate(struct kt_cli *c, const struct tr *t, const struct kt_trace_probe *p)
{
	char a[96], b[96];
	const char *col = p->fate == KT_FATE_FORWARDED || p->fate == KT_FATE_LOCAL ? kt_c(c, KT_C_GREEN) : kt_c(c, KT_C_RED);
	printf("%sfate%s: %s%s%s", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET), col, kt_trace_fate_name(p->fate),
	       kt_c(c, KT_C_RESET));
	switch (p->fate) {
	case KT_FATE_FORWARDED:
		printf(" to %s via the %s\n", hp(a, sizeof(a), p->to_ip, p->to_port), p->out_if ? p->out_if : "?");
		break;
	case KT_FATE_LOCAL:
		printf(": delivered to this node's %s (no Service rule took it)\n", hp(a, sizeof(a), p->to_ip, p->to_port));
		break;
	case KT_FATE_REJECTED: printf(": a REJECT rule answered the client (ICMP unreachable / TCP reset)\n"); break;
	case KT_FATE_DROPPED: printf(": dropped without an answer\n"); break;
	default: printf(": no trace event reached a verdict point\n"); break;
	}
	if (p->to_ip[0]) {
		printf("%sNAT%s:  destination %s -> %s%s", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET),
		       hp(a, sizeof(a), t->dst, t->dport), hp(b, sizeof(b), p->to_ip, p->to_port),
		       p->dnat ? " (DNAT)" : " (unchanged)");
		if (p->from_ip[0])
			printf("; source %s%s\n", p->masquerade ? "masqueraded to " : "kept ",
			       p->masquerade ? hp(a, sizeof(a), p->from_ip, p->from_port) : t->src);
		else
			printf("\n");
	}
}

/* ---- shares (--count) ---------------------------------------------------- */

struct share {
	char to[80];
	uint32_t n;
	double p;                /* computed; -1 not a model backend */
	bool ok;
};

static uint32_t shares(const struct kt_trace_result *r, const struct kt_trace_prediction *p, struct share *sh,
		       uint32_t cap)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->n_be && n < cap; i++) {
		hp(sh[n].to, sizeof(sh[n].to), p->be[i].ip, p->be[i].port);
		sh[n].n = 0;
		sh[n].p = p->be[i].probability;
		n++;
	}
	for (uint32_t i = 0; i < r->n_probes; i++) {
		const struct kt_trace_probe *q = &r->probes[i];
		char key[80];
		if (q->fate == KT_FATE_FORWARDED || q->fate == KT_FATE_LOCAL)
			hp(key, sizeof(key), q->to_ip, q->to_port);
		else
			snprintf(key, sizeof(key), "(%s)", kt_trace_fate_name(q->fate));
		uint32_t k = 0;
		while (k < n && strcmp(sh[k].to, key))
			k++;
		if (k == n) {
			if (n == cap)
				continue;
			snprintf(sh[n].to, sizeof(sh[n].to), "%s", key);
			sh[n].n = 0;
			sh[n].p = -1;
			n++;
		}
		sh[k].n++;
	}
	for (uint32_t k = 0; k < n; k++)
		sh[k].ok = p->affinity ? true : kt_trace_share_ok(sh[k].n, r->n_probes, sh[k].p < 0 ? 0 : sh[k].p);
	return n;
}

/* ---- JSON --------------------------------------------------------------- */

static void json_probe(struct kt_jw *w, const struct kt_trace_probe *p, bool steps)
{
	char a[96];
	kt_jw_obj(w);
	kt_jw_kuint(w, "sourcePort", p->sport);
	kt_jw_kstr(w, "fate", kt_trace_fate_name(p->fate));
	kt_jw_kstr(w, "to", p->to_ip[0] ? hp(a, sizeof(a), p->to_ip, p->to_port) : NULL);
	kt_jw_kbool(w, "dnat", p->dnat);
	kt_jw_kbool(w, "masquerade", p->masquerade);
	if (p->masquerade)
		kt_jw_kstr(w, "from", hp(a, sizeof(a), p->from_ip, p->from_port));
	kt_jw_kstr(w, "outInterface", p->out_if);
	if (steps) {
		kt_jw_key(w, "steps");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < p->n_steps; i++) {
			const struct kt_trace_step *s = &p->steps[i];
			kt_jw_obj(w);
			kt_jw_kstr(w, "table", s->table);
			kt_jw_kstr(w, "chain", s->chain);
			kt_jw_kstr(w, "kind", s->kind);
			if (s->handle)
				kt_jw_kuint(w, "handle", s->handle);
			if (s->pos)
				kt_jw_kuint(w, "position", s->pos);
			if (s->line)
				kt_jw_kuint(w, "line", s->line);
			kt_jw_kstr(w, "rule", s->text);
			kt_jw_kstr(w, "verdict", s->verdict);
			if (s->target)
				kt_jw_kstr(w, "target", s->target);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
		kt_jw_kbool(w, "stepsCut", p->steps_cut);
	}
	kt_jw_obj_end(w);
}

static void json_model(struct kt_jw *w, const struct kt_trace_prediction *p, bool computed_only)
{
	char a[96];
	kt_jw_key(w, "model");
	kt_jw_obj(w);
	kt_jw_kbool(w, "computedOnly", computed_only);
	if (p->svc) {
		kt_jw_key(w, "service");
		kt_jw_obj(w);
		kt_jw_kstr(w, "namespace", p->svc->namespace);
		kt_jw_kstr(w, "name", p->svc->name);
		kt_jw_kstr(w, "portName", p->svc->port_name);
		kt_jw_kstr(w, "mode", kt_dp_mode_name(p->svc->mode));
		kt_jw_obj_end(w);
		kt_jw_kstr(w, "frontend", kt_fe_kind_name(p->fe->kind));
	}
	kt_jw_kstr(w, "fate", kt_trace_fate_name(p->fate));
	kt_jw_kbool(w, "rejectedOrDropped", p->fate_either);
	kt_jw_kstr(w, "why", p->why);
	kt_jw_key(w, "backends");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < p->n_be; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "to", hp(a, sizeof(a), p->be[i].ip, p->be[i].port));
		kt_jw_kdouble(w, "probability", p->be[i].probability);
		kt_jw_kbool(w, "local", p->be[i].local);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	if (p->masquerade >= 0)
		kt_jw_kbool(w, "masquerade", p->masquerade == 1);
	kt_jw_kbool(w, "affinity", p->affinity);
	kt_jw_obj_end(w);
}

/* ---- run ------------------------------------------------------------------ */

struct outcome {
	uint32_t agree, disagree;
	const char *why;         /* the first disagreement */
};

static void render(struct kt_cli *c, const struct tr *t, const struct kt_dp_node *n, const struct kt_trace_result *r,
		   const struct kt_trace_prediction *p, const char *origin, const struct outcome *oc)
{
	char a[96], b[96];
	struct share sh[256];
	uint32_t nsh = r && t->count > 1 ? shares(r, p, sh, 256) : 0;
	if (kt_cli_structured(c)) {
		struct kt_jw *w = kt_cli_jw(c, stdout, true);
		kt_jw_obj(w);
		kt_jw_kstr(w, "node", n->node);
		kt_jw_kstr(w, "rules", origin);
		kt_jw_kstr(w, "source", hp(a, sizeof(a), r ? r->src_ip : t->src, t->sport ? t->sport : 40000));
		kt_jw_kstr(w, "destination", hp(b, sizeof(b), t->dst, t->dport));
		kt_jw_kstr(w, "protocol", t->proto);
		kt_jw_key(w, "nodeAddresses");
		kt_jw_arr(w);
		for (unsigned i = 0; i < t->n_addrs; i++)
			kt_jw_str(w, t->addrs[i]);
		kt_jw_arr_end(w);
		kt_jw_kbool(w, "nodeAddressesAssumed", t->addrs_assumed);
		kt_jw_kbool(w, "traced", r != NULL);
		if (r) {
			kt_jw_key(w, "load");
			kt_jw_obj(w);
			kt_jw_kstr(w, "loader", r->loader);
			kt_jw_kuint(w, "rulesTotal", r->rules_total);
			kt_jw_kuint(w, "rulesLoaded", r->rules_loaded);
			kt_jw_kuint(w, "chainsLoaded", r->chains_loaded);
			kt_jw_kbool(w, "pruned", r->pruned);
			kt_jw_kstr(w, "namespace", r->ns_node);
			kt_jw_kbool(w, "namespacesRemoved", true);
			kt_jw_kdouble(w, "setupMs", r->setup_ms);
			kt_jw_kdouble(w, "loadMs", r->load_ms);
			kt_jw_kdouble(w, "probeMs", r->probe_ms);
			kt_jw_kdouble(w, "totalMs", r->total_ms);
			kt_jw_obj_end(w);
			kt_jw_kuint(w, "count", r->n_probes);
			kt_jw_kuint(w, "lost", r->lost);
			kt_jw_kbool(w, "eventsLost", r->overrun);
			kt_jw_key(w, "probes");
			kt_jw_arr(w);
			for (uint32_t i = 0; i < r->n_probes; i++)
				json_probe(w, &r->probes[i], i == 0);
			kt_jw_arr_end(w);
			if (nsh) {
				kt_jw_key(w, "shares");
				kt_jw_arr(w);
				for (uint32_t k = 0; k < nsh; k++) {
					kt_jw_obj(w);
					kt_jw_kstr(w, "to", sh[k].to);
					kt_jw_kuint(w, "count", sh[k].n);
					kt_jw_kdouble(w, "measured", (double)sh[k].n / r->n_probes);
					if (sh[k].p >= 0)
						kt_jw_kdouble(w, "computed", sh[k].p);
					else
						kt_jw_knull(w, "computed");
					kt_jw_kbool(w, "withinBounds", sh[k].ok);
					kt_jw_obj_end(w);
				}
				kt_jw_arr_end(w);
			}
		}
		json_model(w, p, r == NULL);
		if (r) {
			kt_jw_kbool(w, "agrees", oc->disagree == 0);
			kt_jw_kuint(w, "agreeingProbes", oc->agree);
			kt_jw_kstr(w, "disagreement", oc->why);
		}
		kt_jw_obj_end(w);
		kt_jw_free(w);
		if (c->out == KT_OUT_JSON)
			fputc('\n', stdout);
		return;
	}
	printf("%strace%s %s -> %s/%s on node %s (%s)\n", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET),
	       hp(a, sizeof(a), r ? r->src_ip : t->src, t->sport ? t->sport : 40000), hp(b, sizeof(b), t->dst, t->dport),
	       t->proto, V(n->node), V(origin));
	if (t->addrs_assumed)
		printf("node addresses: %s (assumed: the destination is no Service address; give --node-address)\n", t->dst);
	if (r) {
		printf("%sloaded %u of %u rules%s into %s with %s in %.0f ms; namespaces set up in %.0f ms, removed%s\n",
		       kt_c(c, KT_C_DIM), r->rules_loaded, r->rules_total,
		       r->pruned ? " (only the chains this packet can reach; --full loads all)" : "", r->ns_node, r->loader,
		       r->load_ms, r->setup_ms, kt_c(c, KT_C_RESET));
		putchar('\n');
		if (t->count <= 1 || c->verbose) {
			text_steps(c, &r->probes[0]);
			putchar('\n');
		}
		if (t->count <= 1) {
			text_fate(c, t, &r->probes[0]);
		} else {
			printf("%s%-26s %9s %9s %9s%s\n", kt_c(c, KT_C_DIM), "BACKEND", "PROBES", "MEASURED", "COMPUTED",
			       kt_c(c, KT_C_RESET));
			for (uint32_t k = 0; k < nsh; k++) {
				char comp[16];
				if (sh[k].p >= 0)
					snprintf(comp, sizeof(comp), "%.2f%%", sh[k].p * 100);
				else
					snprintf(comp, sizeof(comp), "-");
				printf("%-26s %9u %8.2f%% %9s  %s%s%s\n", V(sh[k].to), sh[k].n, 100.0 * sh[k].n / r->n_probes, comp,
				       sh[k].ok ? kt_c(c, KT_C_GREEN) : kt_c(c, KT_C_RED),
				       p->affinity ? "(session affinity: one client, one backend)"
				       : sh[k].ok  ? "within bounds"
						   : "outside 5 sigma",
				       kt_c(c, KT_C_RESET));
			}
			printf("(%u probes from source ports %u-%u)\n", r->n_probes, r->probes[0].sport,
			       r->probes[r->n_probes - 1].sport);
		}
		if (r->lost)
			printf("%s%u probe%s left no trace event%s\n", kt_c(c, KT_C_YELLOW), r->lost, r->lost == 1 ? "" : "s",
			       kt_c(c, KT_C_RESET));
		putchar('\n');
	}
	text_model(c, p, n, r == NULL);
	if (r) {
		if (!oc->disagree)
			printf("%skernel agrees with the model%s%s\n", kt_c(c, KT_C_GREEN), t->count > 1 ? " on every probe" : "",
			       kt_c(c, KT_C_RESET));
		else
			printf("%skernel disagrees with the model on %u of %u probe%s: %s%s\n", kt_c(c, KT_C_RED), oc->disagree,
			       r->n_probes, r->n_probes == 1 ? "" : "s", oc->why, kt_c(c, KT_C_RESET));
	}
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
	if (parse_hostport(dst, t->dst, sizeof(t->dst), &t->dport, true) < 0)
		return kt_cli_error(c, KT_EXIT_USAGE, "an IPv4 address and a port, e.g. 10.96.0.10:53",
				    "--dst '%s' is not IP:PORT", kt_cv(c, dst));
	const char *src = kt_opt_str(c, "src");
	snprintf(t->src, sizeof(t->src), "198.18.0.2");
	if (src && parse_hostport(src, t->src, sizeof(t->src), &t->sport, false) < 0)
		return kt_cli_error(c, KT_EXIT_USAGE, "an IPv4 address, optionally with the first source port",
				    "--src '%s' is not IP[:PORT]", kt_cv(c, src));
	const char *proto = kt_opt_str(c, "proto");
	if (!proto || !strcasecmp(proto, "tcp"))
		t->proto = "TCP";
	else if (!strcasecmp(proto, "udp"))
		t->proto = "UDP";
	else
		return kt_cli_error(c, KT_EXIT_USAGE, "tcp or udp", "--proto '%s' is not traced", kt_cv(c, proto));
	long count = kt_opt_int(c, "count", 1);
	if (count < 1 || count > (long)KT_TRACE_MAX_COUNT)
		return kt_cli_error(c, KT_EXIT_USAGE, NULL, "--count must be 1..%u", KT_TRACE_MAX_COUNT);
	t->count = (unsigned)count;
	return 0;
}

static int run(struct kt_cli *c)
{
	struct tr t = {0};
	int rc = parse_args(c, &t);
	if (rc)
		return rc;
	struct kt_diag d = {0};
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	if (!c->from && !sc.node_opts.iptables_save && !sc.node_opts.nft_json)
		sc.node_opts.no_metrics = true;
	sc.node_opts.no_metrics = true;
	struct kt_snapshot *snap = NULL;
	if (kt_cli_load(c, &sc, &snap, &d) < 0)
		return kt_cli_fail(c, &d);
	const struct kt_dp_node *n = pick_node(snap, c->from ? kt_opt_str(c, "node") : NULL);
	if (!n) {
		kt_snapshot_free(snap);
		return kt_cli_error(c, c->from && kt_opt_str(c, "node") ? KT_EXIT_NOTFOUND : KT_EXIT_CLUSTER,
				    c->from ? "give --node NAME of a node the bundle has state for" : NULL,
				    "no node dataplane state in %s", c->from ? c->from : "this source");
	}
	bool dumps = sc.node_opts.iptables_save || sc.node_opts.nft_json;
	bool live = !c->from && !dumps;
	node_addresses(c, snap, n, live, &t);
	struct kt_trace_prediction p;
	kt_trace_predict(n, t.src, t.dst, t.dport, t.proto, t.addrs, t.n_addrs, &p);
	/* the rules to trace through */
	enum kt_dp_mode mode = node_mode(n);
	char *rules = NULL;
	size_t rlen = 0;
	enum kt_trace_fmt fmt = KT_TRACE_IPTABLES;
	char origin[600];
	const char *why_computed = NULL;
	if (kt_opt_flag(c, "computed")) {
		why_computed = "--computed";
	} else if (sc.node_opts.iptables_save) {
		rules = kt_trace_read_rules(sc.node_opts.iptables_save, &rlen, &d);
		fmt = KT_TRACE_IPTABLES;
	} else if (sc.node_opts.nft_json) {
		rules = kt_trace_read_rules(sc.node_opts.nft_json, &rlen, &d);
		fmt = KT_TRACE_NFT_JSON;
	} else if (c->from) {
		why_computed = "a bundle holds ktrace's model of the node's rules, not their text";
	} else if (mode == KT_DP_IPVS || mode == KT_DP_CILIUM) {
		why_computed = mode == KT_DP_CILIUM ? "Cilium's datapath is BPF programs, not rules"
						    : "IPVS picks backends outside netfilter (and this kernel may lack ip_vs)";
	} else if (mode == KT_DP_MODE_COUNT) {
		why_computed = "no kube-proxy rules on this host";
	} else {
		rules = kt_trace_host_rules(mode, &rlen, &fmt, &d);
	}
	if (sc.node_opts.iptables_save)
		snprintf(origin, sizeof(origin), "iptables-save %s", sc.node_opts.iptables_save);
	else if (sc.node_opts.nft_json)
		snprintf(origin, sizeof(origin), "nft -j %s", sc.node_opts.nft_json);
	else if (c->from)
		snprintf(origin, sizeof(origin), "bundle %s", c->from);
	else
		snprintf(origin, sizeof(origin), "this host's %s rules",
			 mode < KT_DP_MODE_COUNT ? kt_dp_mode_name(mode) : "(no)");
	if (!why_computed && !rules) {
		kt_snapshot_free(snap);
		free(t.addr_copy);
		return kt_cli_fail(c, &d);
	}
	struct kt_trace_result *r = NULL;
	if (rules) {
		struct kt_trace_opts o = {
			.rules = rules,
			.rules_len = rlen,
			.fmt = fmt,
			.rules_origin = origin,
			.dst_ip = t.dst,
			.dst_port = t.dport,
			.src_ip = t.src,
			.src_port = t.sport,
			.proto = !strcmp(t.proto, "UDP") ? IPPROTO_UDP : IPPROTO_TCP,
			.count = t.count,
			.n_node_addrs = t.n_addrs,
			.full = kt_opt_flag(c, "full"),
			.stop = &stop_flag,
		};
		for (unsigned i = 0; i < t.n_addrs; i++)
			o.node_addrs[i] = t.addrs[i];
		struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, old_hup;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		sigaction(SIGHUP, &sa, &old_hup);
		rc = kt_trace_run(&o, &r, &d);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		free(rules);
		if (rc < 0) {
			kt_snapshot_free(snap);
			free(t.addr_copy);
			rc = kt_cli_fail(c, &d);
			if (stop_flag)
				rc = 130;
			return rc;
		}
	} else {
		kt_cli_warn(c, "not traced: %s; showing what ktrace's model computes", why_computed);
	}
	struct outcome oc = {0};
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
	render(c, &t, n, r, &p, origin, &oc);
	kt_trace_result_free(r);
	kt_snapshot_free(snap);
	free(t.addr_copy);
	return oc.disagree ? KT_EXIT_FINDINGS : 0;
}

const struct kt_command kt_cmd_trace = {
	.name = "trace",
	.run = run,
	.opts = opts,
	.flags = 0,
	.args = NULL,
	.wants = KT_WANT_DATAPLANE | KT_WANT_NODE_REQUIRED | KT_WANT_THIS_HOST,
	.usage = "--dst IP:PORT [--src IP[:PORT]] [--proto tcp|udp] [--count N]",
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
		"next to the computed probabilities. Only the chains the packet can reach are loaded\n"
		"unless --full. Cilium and IPVS nodes, bundles and --computed are answered from the model\n"
		"only, labelled as computed. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) where ktrace\n"
		"runs. Exit 1 when the kernel and the model disagree.\n"
		"\n"
		"Examples:\n"
		"  ktrace trace --dst 10.96.0.10:53 --proto udp\n"
		"  ktrace trace --iptables-save node-b.txt --node-address 192.168.10.12 --dst 192.168.10.12:30080\n"
		"  ktrace trace --dst 10.96.45.10:80 --count 1000\n"
		"  ktrace trace --from cluster.json.gz --node node-b --dst 198.51.100.20:443 --computed\n",
	.outputs = "text|json|yaml",
};
