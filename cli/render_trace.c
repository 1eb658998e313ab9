/*
 * `ktrace trace` rendered (the run is cli/cmd_trace.c): text (the rules a
 * probe traversed, its fate and NAT, or the measured backend shares of
 * --count N; then the model's prediction and the verdict) or JSON. IPv6
 * addresses are written [ADDR]:PORT. Prints to stdout only.
 */
#include <stdio.h>
#include <string.h>

#include "cli/render_trace.h"
#include "ktrace/dataplane.h"
#include "ktrace/jsonw.h"

#define V(x) kt_cv(c, x)

/* IP:PORT, [IPv6]:PORT, *:PORT for every address */
static const char *hp(char *buf, size_t n, const char *ip, int port)
{
	if (ip && strchr(ip, ':'))
		snprintf(buf, n, "[%s]:%d", ip, port);
	else
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

static void text_fate(struct kt_cli *c, const struct kt_trace_req *t, const struct kt_trace_probe *p)
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
		if (p->from_ip[0] && p->masquerade)
			printf("; source masqueraded to %s%s\n", hp(a, sizeof(a), p->from_ip, p->from_port),
			       strcmp(p->from_ip, t->src) ? ""
							  : " (a masquerade rule took it; on the node the address is the"
							    " outgoing interface's)");
		else if (p->from_ip[0])
			printf("; source kept %s\n", t->src);
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

static void json_load(struct kt_jw *w, const struct kt_trace_result *r)
{
	kt_jw_key(w, "load");
	kt_jw_obj(w);
	kt_jw_kstr(w, "loader", r->loader);
	kt_jw_kuint(w, "rulesTotal", r->rules_total);
	kt_jw_kuint(w, "rulesLoaded", r->rules_loaded);
	kt_jw_kuint(w, "chainsTotal", r->chains_total);
	kt_jw_kuint(w, "chainsLoaded", r->chains_loaded);
	if (r->elems_total || r->elems_loaded) {
		kt_jw_kuint(w, "elementsTotal", r->elems_total);
		kt_jw_kuint(w, "elementsLoaded", r->elems_loaded);
	}
	kt_jw_kbool(w, "pruned", r->pruned);
	kt_jw_kstr(w, "namespace", r->ns_node);
	kt_jw_kbool(w, "namespacesRemoved", true);
	kt_jw_kdouble(w, "prepareMs", r->prepare_ms);
	kt_jw_kdouble(w, "setupMs", r->setup_ms);
	kt_jw_kdouble(w, "loadMs", r->load_ms);
	kt_jw_kdouble(w, "probeMs", r->probe_ms);
	kt_jw_kdouble(w, "totalMs", r->total_ms);
	kt_jw_obj_end(w);
}

static void json_shares(struct kt_jw *w, const struct kt_trace_result *r, const struct share *sh, uint32_t nsh)
{
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

/* --from-pod and --dst svc/NAME: what they resolved to */
static void json_req(struct kt_jw *w, const struct kt_trace_req *t)
{
	if (t->pod_name) {
		kt_jw_key(w, "fromPod");
		kt_jw_obj(w);
		kt_jw_kstr(w, "namespace", t->pod_ns);
		kt_jw_kstr(w, "name", t->pod_name);
		kt_jw_kstr(w, "ip", t->src);
		kt_jw_kstr(w, "node", t->pod_node);
		kt_jw_kbool(w, "hostNetwork", t->pod_host_network);
		kt_jw_obj_end(w);
	}
	if (t->svc_name) {
		kt_jw_key(w, "toService");
		kt_jw_obj(w);
		kt_jw_kstr(w, "namespace", t->svc_ns);
		kt_jw_kstr(w, "name", t->svc_name);
		kt_jw_kstr(w, "portName", t->svc_port_name);
		kt_jw_obj_end(w);
	}
}

static void render_json(struct kt_cli *c, const struct kt_trace_req *t, const struct kt_dp_node *n,
			const struct kt_trace_result *r, const struct kt_trace_prediction *p, const char *origin,
			const struct kt_trace_outcome *oc, const struct share *sh, uint32_t nsh)
{
	char a[96], b[96];
	struct kt_jw *w = kt_cli_jw(c, stdout, true);
	kt_jw_obj(w);
	kt_jw_kstr(w, "node", n->node);
	kt_jw_kstr(w, "rules", origin);
	kt_jw_kstr(w, "source", hp(a, sizeof(a), r ? r->src_ip : t->src, t->sport ? t->sport : 40000));
	kt_jw_kstr(w, "destination", hp(b, sizeof(b), t->dst, t->dport));
	kt_jw_kstr(w, "protocol", t->proto);
	json_req(w, t);
	kt_jw_key(w, "nodeAddresses");
	kt_jw_arr(w);
	for (unsigned i = 0; i < t->n_addrs; i++)
		kt_jw_str(w, t->addrs[i]);
	kt_jw_arr_end(w);
	kt_jw_kbool(w, "nodeAddressesAssumed", t->addrs_assumed);
	kt_jw_kbool(w, "traced", r != NULL);
	if (r) {
		json_load(w, r);
		kt_jw_kuint(w, "count", r->n_probes);
		kt_jw_kuint(w, "lost", r->lost);
		kt_jw_kbool(w, "eventsLost", r->overrun);
		kt_jw_key(w, "probes");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < r->n_probes; i++)
			json_probe(w, &r->probes[i], i == 0);
		kt_jw_arr_end(w);
		if (nsh)
			json_shares(w, r, sh, nsh);
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
}

/* "loaded 25 of 86,508 rules (17 of 30,517 chains) ..." */
static void text_load(struct kt_cli *c, const struct kt_trace_result *r)
{
	printf("%sloaded %u of %u rules, %u of %u chains", kt_c(c, KT_C_DIM), r->rules_loaded, r->rules_total,
	       r->chains_loaded, r->chains_total);
	if (r->elems_total)
		printf(", %u of %u elements of the maps and sets they look up", r->elems_loaded, r->elems_total);
	printf("%s into %s with %s in %.0f ms (parsed%s in %.0f ms); namespaces set up in %.0f ms, removed%s\n",
	       r->pruned ? " (only what this packet can reach; --full loads all)" : "", r->ns_node, r->loader, r->load_ms,
	       r->pruned ? " and pruned" : "", r->prepare_ms, r->setup_ms, kt_c(c, KT_C_RESET));
}

static void text_shares(struct kt_cli *c, const struct kt_trace_result *r, const struct kt_trace_prediction *p,
			const struct share *sh, uint32_t nsh)
{
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
	printf("(%u probes from source ports %u-%u)\n", r->n_probes, r->probes[0].sport, r->probes[r->n_probes - 1].sport);
}

static void render_text(struct kt_cli *c, const struct kt_trace_req *t, const struct kt_dp_node *n,
			const struct kt_trace_result *r, const struct kt_trace_prediction *p, const char *origin,
			const struct kt_trace_outcome *oc, const struct share *sh, uint32_t nsh)
{
	char a[96], b[96];
	printf("%strace%s %s -> %s/%s on node %s (%s)\n", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET),
	       hp(a, sizeof(a), r ? r->src_ip : t->src, t->sport ? t->sport : 40000), hp(b, sizeof(b), t->dst, t->dport),
	       t->proto, V(n->node), V(origin));
	if (t->pod_name)
		printf("from Pod %s/%s (%s%s%s%s)\n", V(t->pod_ns), V(t->pod_name), t->src,
		       t->pod_host_network ? ", hostNetwork: a socket on the node, through OUTPUT" : ", through its veth",
		       t->pod_node ? ", on node " : "", t->pod_node ? V(t->pod_node) : "");
	if (t->svc_name)
		printf("to Service %s/%s%s%s (its ClusterIP)\n", V(t->svc_ns), V(t->svc_name),
		       t->svc_port_name && t->svc_port_name[0] ? " port " : "", t->svc_port_name ? V(t->svc_port_name) : "");
	if (t->addrs_assumed)
		printf("node addresses: %s (assumed: the destination is no Service address; give --node-address)\n", t->dst);
	if (r) {
		text_load(c, r);
		putchar('\n');
		if (t->count <= 1 || c->verbose) {
			text_steps(c, &r->probes[0]);
			putchar('\n');
		}
		if (t->count <= 1)
			text_fate(c, t, &r->probes[0]);
		else
			text_shares(c, r, p, sh, nsh);
		if (r->lost)
			printf("%s%u probe%s left no trace event%s\n", kt_c(c, KT_C_YELLOW), r->lost, r->lost == 1 ? "" : "s",
			       kt_c(c, KT_C_RESET));
		putchar('\n');
	}
	text_model(c, p, n, r == NULL);
	if (!r)
		return;
	if (!oc->disagree)
		printf("%skernel agrees with the model%s%s\n", kt_c(c, KT_C_GREEN), t->count > 1 ? " on every probe" : "",
		       kt_c(c, KT_C_RESET));
	else
		printf("%skernel disagrees with the model on %u of %u probe%s: %s%s\n", kt_c(c, KT_C_RED), oc->disagree,
		       r->n_probes, r->n_probes == 1 ? "" : "s", oc->why, kt_c(c, KT_C_RESET));
}

void kt_render_trace(struct kt_cli *c, const struct kt_trace_req *t, const struct kt_dp_node *n,
		     const struct kt_trace_result *r, const struct kt_trace_prediction *p, const char *origin,
		     const struct kt_trace_outcome *oc)
{
	static struct share sh[256];
	uint32_t nsh = r && t->count > 1 ? shares(r, p, sh, 256) : 0;
	if (kt_cli_structured(c))
		render_json(c, t, n, r, p, origin, oc, sh, nsh);
	else
		render_text(c, t, n, r, p, origin, oc, sh, nsh);
}
