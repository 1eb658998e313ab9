/*
 * `ktrace path SERVICE`: the source layer reads only what one Service's
 * path needs (the Service, its EndpointSlices, the nodes, the selected
 * Pods, the proxy ConfigMaps, the Ingresses and routes in its namespace
 * with their classes and Gateways; plus this node's programmed rules when
 * this host is one of the cluster's Nodes); the path analyzer runs per
 * Service the scope names (one, or the Services of deploy/NAME, or NAME in
 * every namespace with -A), and this file renders the layered tree (text)
 * or the JSON of ktrace-path(1) (an array when several Services match).
 * `ktrace path ingress/NAME` (httproute/, grpcroute/) reads the whole
 * cluster and traces that object through its controller to the backends
 * (cli/render_ingress.c renders).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/render_ingress.h"
#include "ktrace/codec.h"
#include "ktrace/dataplane.h"
#include "ktrace/jsonw.h"
#include "ktrace/node.h"
#include "ktrace/path.h"
#include "ktrace/xalloc.h"
#include "ktrace/util.h"

static const char *port_target(const struct kt_svc_port *p, char *buf, size_t len)
{
	if (p->target.name)
		snprintf(buf, len, "%s", p->target.name);
	else
		snprintf(buf, len, "%d", p->target.num);
	return buf;
}

static const struct kt_node *ep_node(const struct kt_snapshot *s, const struct kt_endpoint *e)
{
	return e->node_ix != KT_NONE ? &s->nodes[e->node_ix] : NULL;
}

static const char *ep_zone(const struct kt_snapshot *s, const struct kt_endpoint *e)
{
	if (e->zone)
		return e->zone;
	const struct kt_node *n = ep_node(s, e);
	return n ? n->zone : NULL;
}

static int64_t ep_age(const struct kt_snapshot *s, const struct kt_endpoint *e)
{
	if (e->pod == KT_NONE || !s->pods[e->pod].meta.created)
		return -1;
	return s->taken - s->pods[e->pod].meta.created;
}

/* Named targetPorts resolve per Pod: the distinct numbers the Service's
 * EndpointSlices carry for port p. Returns how many (at most max). */
static unsigned resolved_ports(const struct kt_snapshot *s, const struct kt_service *svc, const struct kt_svc_port *p,
			       int32_t *out, unsigned max)
{
	unsigned n = 0;
	for (uint32_t k = svc->ep_first; k < svc->ep_first + svc->ep_count; k++) {
		const struct kt_endpoint *e = &s->endpoints[k];
		if (strcmp(e->port_name, p->name ? p->name : "") || !e->port)
			continue;
		bool dup = false;
		for (unsigned m = 0; m < n; m++)
			dup |= out[m] == e->port;
		if (!dup && n < max)
			out[n++] = e->port;
	}
	return n;
}

/* ---- JSON ----------------------------------------------------------------- */

/* inside frontend k of one programmed Service: why it rejects or drops */
static void json_fe_cause(struct kt_jw *w, uint32_t k, const void *ctx)
{
	const struct kt_path_dp *pd = ctx;
	if (k >= pd->n_fes || pd->fes[k].cause.rule == KT_RULE_COUNT)
		return;
	kt_jw_key(w, "cause");
	kt_jw_obj(w);
	kt_jw_kstr(w, "rule", kt_rules[pd->fes[k].cause.rule].id);
	kt_jw_kstr(w, "text", pd->fes[k].cause.text);
	kt_jw_obj_end(w);
}

/* `path -o json|yaml`: one document, keys in the order ktrace-path(1)
 * documents them. Longer than 120 lines on purpose: it reads top to bottom
 * as the schema; the repeated parts (a programmed Service, gaps, findings,
 * the ingress layer) are already their own writers in collectors/codec/
 * and cli/render_*.c. */
static int render_json(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r,
		       const struct kt_ing_result *ing)
{
	const struct kt_service *svc = &s->services[r->svc];
	struct kt_jw *w = kt_cli_jw(c, stdout, true);
	kt_jw_obj(w);
	kt_jw_key(w, "service");
	kt_jw_obj(w);
	kt_jw_kstr(w, "namespace", svc->meta.namespace);
	kt_jw_kstr(w, "name", svc->meta.name);
	kt_jw_kstr(w, "type", kt_svc_type_name(svc->type));
	kt_jw_key(w, "clusterIPs");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < svc->n_cluster_ips; i++)
		kt_jw_str(w, svc->cluster_ips[i]);
	kt_jw_arr_end(w);
	kt_jw_kbool(w, "headless", svc->headless);
	kt_jw_kstr(w, "externalTrafficPolicy", svc->type == KT_SVC_CLUSTERIP || svc->type == KT_SVC_EXTERNALNAME ?
							NULL : svc->etp_local ? "Local" : "Cluster");
	kt_jw_kstr(w, "internalTrafficPolicy", svc->itp_local ? "Local" : "Cluster");
	kt_jw_kstr(w, "sessionAffinity", svc->affinity_client_ip ? "ClientIP" : "None");
	if (svc->affinity_client_ip)
		kt_jw_kint(w, "sessionAffinityTimeoutSeconds", svc->affinity_timeout);
	kt_jw_kstr(w, "trafficDistribution", svc->traffic_distribution);
	kt_jw_obj_end(w);

	kt_jw_key(w, "ports");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < svc->n_ports; i++) {
		const struct kt_svc_port *p = &svc->ports[i];
		kt_jw_obj(w);
		kt_jw_kstr(w, "name", p->name);
		kt_jw_kstr(w, "protocol", p->protocol);
		kt_jw_kint(w, "port", p->port);
		kt_jw_key(w, "targetPort");
		if (p->target.name)
			kt_jw_str(w, p->target.name);
		else
			kt_jw_int(w, p->target.num);
		kt_jw_key(w, "resolvedTargetPorts");
		kt_jw_arr(w);
		int32_t seen[16];
		unsigned nseen = resolved_ports(s, svc, p, seen, 16);
		for (unsigned m = 0; m < nseen; m++)
			kt_jw_int(w, seen[m]);
		kt_jw_arr_end(w);
		if (p->node_port)
			kt_jw_kint(w, "nodePort", p->node_port);
		else
			kt_jw_knull(w, "nodePort");
		kt_jw_kstr(w, "appProtocol", p->app_protocol);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);

	kt_jw_key(w, "external");
	kt_jw_obj(w);
	kt_jw_key(w, "ingress");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < svc->n_ingress; i++) {
		kt_jw_obj(w);
		if (svc->ingress[i].ip)
			kt_jw_kstr(w, "ip", svc->ingress[i].ip);
		if (svc->ingress[i].hostname)
			kt_jw_kstr(w, "hostname", svc->ingress[i].hostname);
		if (svc->ingress[i].ip_mode)
			kt_jw_kstr(w, "ipMode", svc->ingress[i].ip_mode);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_kstr(w, "lbKind", r->lb_kind);
	kt_jw_kstr(w, "lbKindEvidence", r->lb_kind_evidence);
	kt_jw_kstr(w, "lbTarget", r->lb_target == KT_LBT_PODS ? "pods" : r->lb_target == KT_LBT_NODES ? "nodes" : NULL);
	kt_jw_kstr(w, "lbTargetReason", r->lb_target_reason);
	if (svc->type == KT_SVC_LOADBALANCER)
		kt_jw_kbool(w, "internal", r->lb_internal);
	if (svc->health_check_node_port)
		kt_jw_kint(w, "healthCheckNodePort", svc->health_check_node_port);
	else
		kt_jw_knull(w, "healthCheckNodePort");
	kt_jw_key(w, "externalIPs");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < svc->n_external_ips; i++)
		kt_jw_str(w, svc->external_ips[i]);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);

	kt_jw_key(w, "nodes");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		const struct kt_path_node *pn = &r->nodes[i];
		const struct kt_node *n = &s->nodes[pn->node];
		kt_jw_obj(w);
		kt_jw_kstr(w, "name", n->meta.name);
		kt_jw_kstr(w, "zone", n->zone);
		kt_jw_kbool(w, "lbTarget", pn->lb_target);
		kt_jw_kstr(w, "reason", pn->reason);
		kt_jw_kint(w, "localEndpoints", pn->local_ready);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);

	kt_jw_key(w, "dataplane");
	kt_jw_obj(w);
	kt_jw_kstr(w, "mode", r->mode);
	kt_jw_kstr(w, "source", r->mode_source);
	kt_jw_kstr(w, "evidence", r->mode_evidence);
	kt_jw_key(w, "programmed");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->n_dp; i++)
		kt_dp_service_to_json(w, r->dp[i].svc, r->dp[i].node->node, KT_DPJ_PATH, json_fe_cause, &r->dp[i]);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);

	if (r->cross_node_share >= 0)
		kt_jw_kdouble(w, "crossNodeShare", (double)(int)(r->cross_node_share * 10000 + 0.5) / 10000);
	else
		kt_jw_knull(w, "crossNodeShare");

	kt_jw_key(w, "endpoints");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->n_eps; i++) {
		const struct kt_endpoint *e = &s->endpoints[r->eps[i]];
		kt_jw_obj(w);
		kt_jw_kstr(w, "ip", e->ip);
		kt_jw_kint(w, "port", e->port);
		kt_jw_kstr(w, "portName", e->port_name);
		kt_jw_kbool(w, "ready", e->ready);
		kt_jw_kbool(w, "serving", e->serving);
		kt_jw_kbool(w, "terminating", e->terminating);
		kt_jw_kstr(w, "node", e->node);
		kt_jw_kstr(w, "zone", ep_zone(s, e));
		kt_jw_kstr(w, "pod", e->target_name);
		int64_t age = ep_age(s, e);
		if (age >= 0)
			kt_jw_kint(w, "ageSeconds", age);
		else
			kt_jw_knull(w, "ageSeconds");
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);

	kt_render_ingress_section_json(w, s, ing);

	kt_jw_key(w, "findings");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->findings.n; i++)
		if (!r->findings.v[i].suppressed)
			kt_render_finding_json(w, &r->findings.v[i], false);
	kt_jw_arr_end(w);
	kt_render_incomplete_json(w, s);
	/* rules the input could not feed (not checked), then what could not be read */
	kt_jw_key(w, "gaps");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->findings.n_gaps + s->n_gaps; i++) {
		const struct kt_gap *g = i < r->findings.n_gaps ? &r->findings.gaps[i] : &s->gaps[i - r->findings.n_gaps];
		kt_jw_obj(w);
		kt_jw_kstr(w, "what", g->what);
		kt_jw_kstr(w, "why", g->why);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	return kt_jw_free(w) ? KT_EXIT_INPUT : 0;
}

/* ---- text ------------------------------------------------------------------ */

#define B(c) kt_c(c, KT_C_BOLD)
#define D(c) kt_c(c, KT_C_DIM)
#define R(c) kt_c(c, KT_C_RESET)
/* every string from the cluster or a bundle is printed through V() */
#define V(x) kt_cv(c, x)
#define VD(x) ((x) ? kt_cv(c, x) : "-")

static void text_backends(struct kt_cli *c, const char *ind, const char *label, const struct kt_dp_service *d,
			  const struct kt_dp_backend *b, uint32_t n)
{
	bool known = kt_dp_share_known(d);
	printf("%s%s (%u):", ind, label, n);
	if (!n)
		printf(" %snone: traffic is dropped or rejected%s", kt_c(c, KT_C_RED), R(c));
	else if (!known)
		printf(" share set by the %s scheduler (%s), not by the weights", d->scheduler ? d->scheduler : "IPVS",
		       kt_share_basis_name(d->share_basis));
	printf("\n");
	for (uint32_t i = 0; i < n; i++) {
		if (known)
			printf("%s  %s:%d  %5.1f%%%s", ind, V(b[i].ip), b[i].port, b[i].probability * 100.0,
			       b[i].local ? "  (local)" : "");
		else
			printf("%s  %s:%d  weight %d%s", ind, V(b[i].ip), b[i].port, b[i].weight, b[i].local ? "  (local)" : "");
		if (c->wide && known && b[i].weight)
			printf("  weight %d", b[i].weight);
		if (c->wide && b[i].state && strcmp(b[i].state, "active"))
			printf("  %s", V(b[i].state));
		printf("\n");
	}
}

/* Does any node accept the NodePort only on some of its addresses
 * (nodePortAddresses: a NodePort frontend with an address)? */
static bool nodeport_restricted(const struct kt_path_result *r)
{
	for (uint32_t i = 0; i < r->n_dp; i++)
		for (uint32_t j = 0; j < r->dp[i].n_fes; j++) {
			const struct kt_dp_frontend *f = r->dp[i].fes[j].fe;
			if (f->kind == KT_FE_NODEPORT && f->ip && f->ip[0])
				return true;
		}
	return false;
}

/* Per node: the addresses its rules accept the NodePort on. */
static void text_nodeport_addrs(struct kt_cli *c, const struct kt_path_result *r)
{
	for (uint32_t i = 0; i < r->n_dp; i++) {
		const struct kt_path_dp *pd = &r->dp[i];
		unsigned n = 0;
		for (uint32_t j = 0; j < pd->n_fes; j++) {
			const struct kt_dp_frontend *f = pd->fes[j].fe;
			if (f->kind != KT_FE_NODEPORT)
				continue;
			if (!n++)
				printf("   NodePort on node %s:", V(pd->node->node));
			if (f->ip && f->ip[0])
				printf(" %s%s%s:%d", strchr(f->ip, ':') ? "[" : "", V(f->ip), strchr(f->ip, ':') ? "]" : "", f->port);
			else
				printf(" *:%d (any local address)", f->port);
		}
		if (n)
			printf("  %s(nodePortAddresses: other addresses of the node do not accept it)%s\n", D(c), R(c));
	}
}

/* The node's frontends that do not simply forward, and the LB firewall. */
static void text_frontends(struct kt_cli *c, const struct kt_path_dp *pd)
{
	for (uint32_t j = 0; j < pd->n_fes; j++) {
		const struct kt_path_fe *pf = &pd->fes[j];
		const struct kt_dp_frontend *f = pf->fe;
		if (f->action == KT_DP_FORWARD && !f->n_source_ranges)
			continue;
		char addr[80], b[800];
		if (f->ip[0])
			snprintf(addr, sizeof(addr), "%s%s%s:%d", strchr(f->ip, ':') ? "[" : "", V(f->ip),
				 strchr(f->ip, ':') ? "]" : "", f->port);
		else
			snprintf(addr, sizeof(addr), "*:%d", f->port);
		if (f->action == KT_DP_FORWARD) {
			printf("     %s %s only from", kt_fe_kind_name(f->kind), addr);
			for (uint32_t k = 0; k < f->n_source_ranges; k++) {
				kt_vis_escape(b, sizeof(b), f->source_ranges[k]);
				printf("%s%s", k ? ", " : " ", b);
			}
			printf(" (loadBalancerSourceRanges; other sources are dropped)\n");
			continue;
		}
		printf("     %s %s -> %s%s%s%s%s%s\n", kt_fe_kind_name(f->kind), addr, kt_c(c, KT_C_RED),
		       f->action == KT_DP_REJECT ? "REJECT (connection refused)" : "DROP (clients time out)", R(c),
		       f->reason ? ": " : "", f->reason ? V(f->reason) : "", "");
		if (pf->cause.rule != KT_RULE_COUNT) {
			kt_vis_escape(b, sizeof(b), pf->cause.text);
			printf("       why: %s (%s)\n", b, kt_rules[pf->cause.rule].id);
		}
	}
}

/* A finding about what happens to a packet (source NAT, a Local policy
 * without a local endpoint, a rejected or stale backend): point at the
 * command that shows one packet's fate in the kernel. */
static void trace_hint(struct kt_cli *c, const struct kt_service *svc, const struct kt_path_result *r)
{
	bool fate = false, external = false;
	for (uint32_t i = 0; i < r->findings.n; i++) {
		const struct kt_finding *f = &r->findings.v[i];
		if (f->suppressed)
			continue;
		switch (f->rule) {
		case KT_R_KT101:
		case KT_R_KT103:
			external = true;
			/* fall through */
		case KT_R_KT502:
		case KT_R_KT503:
		case KT_R_KT601:
		case KT_R_KT602:
			fate = true;
			break;
		default:
			break;
		}
	}
	if (!fate || !svc->n_ports)
		return;
	const struct kt_svc_port *p = &svc->ports[0];
	const char *proto = p->protocol && !strcmp(p->protocol, "UDP") ? " --proto udp" : "";
	if (external && p->node_port)
		printf("   %strace one packet through a node's rules: ktrace trace --node-address NODE_IP --dst NODE_IP:%d%s%s\n",
		       D(c), p->node_port, proto, R(c));
	else if (svc->n_cluster_ips && strchr(svc->cluster_ips[0], '.'))
		printf("   %strace one packet through a node's rules: ktrace trace --dst %s:%d%s%s\n", D(c),
		       V(svc->cluster_ips[0]), p->port, proto, R(c));
}

static void text_external(struct kt_cli *c, const struct kt_service *svc, const struct kt_path_result *r)
{
	if (svc->type == KT_SVC_LOADBALANCER) {
		printf("\n%s1. Cloud load balancer%s  %s%s\n", B(c), R(c), V(r->lb_kind), r->lb_internal ? ", internal" : "");
		if (!svc->n_ingress)
			printf("   ingress: %spending (no status.loadBalancer.ingress yet)%s\n", kt_c(c, KT_C_YELLOW), R(c));
		for (uint32_t i = 0; i < svc->n_ingress; i++)
			printf("   ingress: %s%s%s%s\n", V(svc->ingress[i].ip ? svc->ingress[i].ip : svc->ingress[i].hostname),
			       svc->ingress[i].ip_mode ? " (ipMode " : "", svc->ingress[i].ip_mode ? V(svc->ingress[i].ip_mode) : "",
			       svc->ingress[i].ip_mode ? ")" : "");
		printf("   %skind from:%s %s\n", D(c), R(c), V(r->lb_kind_evidence));
		printf("   targets: %s\n", V(r->lb_target_reason));
		if (svc->n_lb_source_ranges) {
			printf("   source ranges:");
			for (uint32_t i = 0; i < svc->n_lb_source_ranges; i++)
				printf(" %s", V(svc->lb_source_ranges[i]));
			printf("\n");
		}
	} else if (svc->type == KT_SVC_NODEPORT) {
		printf("\n%s1. External entry%s  %s\n", B(c), R(c),
		       nodeport_restricted(r) ? "the NodePort, on the node addresses below only"
					       : "any node IP on the NodePort");
	} else {
		printf("\n%s1. External entry%s  none (type %s: reachable only inside the cluster)\n", B(c), R(c),
		       kt_svc_type_name(svc->type));
	}
	for (uint32_t i = 0; i < svc->n_external_ips; i++)
		printf("   externalIP: %s (nodes accept it, kube-proxy handles it)\n", V(svc->external_ips[i]));
	if (svc->type != KT_SVC_CLUSTERIP && nodeport_restricted(r))
		text_nodeport_addrs(c, r);
}

static void text_nodes(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_service *svc,
		       const struct kt_path_result *r)
{
	printf("\n%s2. Nodes%s  %u of %u are LB targets", B(c), R(c), r->n_lb_targets, r->n_nodes);
	if (svc->etp_local && svc->health_check_node_port)
		printf("  (health check :%d/healthz)", svc->health_check_node_port);
	printf("\n");
	if (c->wide && r->n_nodes)
		printf("   %s%-3s %-20s %-14s %-15s %-11s %-9s %s%s\n", D(c), "", "NODE", "ZONE", "INTERNAL-IP", "LOCAL", "STATUS",
		       "WHY", R(c));
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		const struct kt_path_node *pn = &r->nodes[i];
		const struct kt_node *n = &s->nodes[pn->node];
		const char *mark = pn->lb_target ? "->" : "x";
		const char *mcol = pn->lb_target ? kt_c(c, KT_C_GREEN) : D(c);
		if (c->wide) {
			char local[24];
			snprintf(local, sizeof(local), "%u/%u", pn->local_ready, pn->local_total);
			printf("   %s%-3s%s %-20s %-14s %-15s %-11s %-9s %s%s%s\n", mcol, mark, R(c), V(n->meta.name), VD(n->zone),
			       n->n_internal_ips ? V(n->internal_ips[0]) : "-", local,
			       !n->ready ? "NotReady" : n->unschedulable ? "Cordoned" : n->exclude_lb ? "Excluded" : "Ready", D(c),
			       pn->reason ? V(pn->reason) : "", R(c));
			continue;
		}
		printf("   %s%-3s%s %-20s %-14s local ready %u/%u  %s%s%s\n", mcol, mark, R(c), V(n->meta.name), VD(n->zone),
		       pn->local_ready, pn->local_total, D(c), pn->reason ? V(pn->reason) : "", R(c));
	}
	if (!r->n_nodes)
		printf("   %s(no Node objects available)%s\n", D(c), R(c));
	if (r->cross_node_share >= 0)
		printf("   expected extra node hop: %.0f%% of requests (LB spreads over %u nodes, each node picks any "
		       "ready endpoint)\n",
		       r->cross_node_share * 100, r->n_lb_targets);
}

/* Does the backend list hold ip:port? */
static bool be_has(const struct kt_dp_backend *b, uint32_t n, const char *ip, int32_t port)
{
	for (uint32_t i = 0; i < n; i++)
		if (b[i].port == port && !kt_strcmp0(b[i].ip, ip))
			return true;
	return false;
}

/* --nodes: per Service port, how many nodes programmed exactly the ready
 * endpoints, and what each other node does differently. Returns which
 * dp entries need no detail of their own (a node like the first one that
 * matches); malloc'd. */
static bool *fleet_summary(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r)
{
	bool *quiet = kt_xcalloc(r->n_dp + 1, sizeof(bool));
	bool *done = kt_xcalloc(r->n_dp + 1, sizeof(bool));
	char age[32];
	int64_t now = s->taken ? s->taken : (int64_t)time(NULL);
	for (uint32_t i = 0; i < r->n_dp; i++) {
		if (done[i])
			continue;
		const char *pn = r->dp[i].svc->port_name ? r->dp[i].svc->port_name : "";
		uint32_t n_ready = 0, nodes = 0, same = 0, first = UINT32_MAX;
		int64_t changed = 0;
		for (uint32_t k = 0; k < r->n_eps; k++) {
			const struct kt_endpoint *e = &s->endpoints[r->eps[k]];
			if (!kt_strcmp0(e->port_name, pn) && e->ready)
				n_ready++;
			if (!kt_strcmp0(e->port_name, pn) && e->trigger_time > changed)
				changed = e->trigger_time;
		}
		/* every node's entry for this port: matches the ready endpoints? */
		for (uint32_t j = i; j < r->n_dp; j++) {
			const struct kt_dp_service *d = r->dp[j].svc;
			if (done[j] || kt_strcmp0(d->port_name ? d->port_name : "", pn))
				continue;
			done[j] = true;
			nodes++;
			bool ok = true;
			for (uint32_t b = 0; b < d->n_be && ok; b++) {
				bool listed = false;
				for (uint32_t k = 0; k < r->n_eps && !listed; k++) {
					const struct kt_endpoint *e = &s->endpoints[r->eps[k]];
					listed = e->ready && !kt_strcmp0(e->port_name, pn) && e->port == d->be[b].port &&
						 !kt_strcmp0(e->ip, d->be[b].ip);
				}
				ok = listed;
			}
			for (uint32_t k = 0; k < r->n_eps && ok; k++) {
				const struct kt_endpoint *e = &s->endpoints[r->eps[k]];
				if (e->ready && !kt_strcmp0(e->port_name, pn))
					ok = be_has(d->be, d->n_be, e->ip, e->port);
			}
			if (ok) {
				same++;
				if (first == UINT32_MAX)
					first = j;
				else
					quiet[j] = true;
			}
		}
		printf("   %s%s%s%s %u of %u nodes programmed the current endpoints (%u ready", B(c), *pn ? "port " : "",
		       *pn ? V(pn) : "", R(c), same, nodes, n_ready);
		if (changed)
			printf("; EndpointSlice changed %s ago", kt_fmt_age(now - changed / 1000, age, sizeof(age)));
		printf(")\n");
		for (uint32_t j = i; j < r->n_dp; j++) {
			const struct kt_dp_service *d = r->dp[j].svc;
			if (kt_strcmp0(d->port_name ? d->port_name : "", pn) || quiet[j] || j == first)
				continue;
			printf("     %snode %s%s:", kt_c(c, KT_C_YELLOW), V(r->dp[j].node->node), R(c));
			for (uint32_t b = 0; b < d->n_be; b++) {
				bool listed = false;
				for (uint32_t k = 0; k < r->n_eps && !listed; k++) {
					const struct kt_endpoint *e = &s->endpoints[r->eps[k]];
					listed = e->ready && !kt_strcmp0(e->port_name, pn) && e->port == d->be[b].port &&
						 !kt_strcmp0(e->ip, d->be[b].ip);
				}
				if (!listed)
					printf(" stale %s:%d", V(d->be[b].ip), d->be[b].port);
			}
			for (uint32_t k = 0; k < r->n_eps; k++) {
				const struct kt_endpoint *e = &s->endpoints[r->eps[k]];
				if (e->ready && !kt_strcmp0(e->port_name, pn) && !be_has(d->be, d->n_be, e->ip, e->port))
					printf(" missing %s:%d", V(e->ip), e->port);
			}
			printf("\n");
		}
		if (same > 1)
			printf("     (node %s shown for the %u nodes that match)\n", V(r->dp[first].node->node), same);
	}
	free(done);
	return quiet;
}

static void text_ports(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_service *svc,
		       const struct kt_path_result *r)
{
	char buf[64];
	printf("\n%s3. Service ports -> dataplane%s  mode %s%s%s (%s: %s)\n", B(c), R(c), B(c), V(r->mode), R(c),
	       V(r->mode_source), r->mode_evidence ? V(r->mode_evidence) : "");
	for (uint32_t i = 0; i < svc->n_ports; i++) {
		const struct kt_svc_port *p = &svc->ports[i];
		printf("   %s%s%s", p->name && *p->name ? V(p->name) : "", p->name && *p->name ? "/" : "", V(p->protocol));
		for (uint32_t k = 0; k < svc->n_cluster_ips; k++)
			printf("  %s%s%s:%d", strchr(svc->cluster_ips[k], ':') ? "[" : "", V(svc->cluster_ips[k]),
			       strchr(svc->cluster_ips[k], ':') ? "]" : "", p->port);
		if (svc->headless)
			printf("  headless (no virtual IP; DNS returns Pod IPs)");
		if (p->node_port)
			printf("  NodePort %d", p->node_port);
		printf("  -> targetPort %s", V(port_target(p, buf, sizeof(buf))));
		if (p->target.name) {
			int32_t seen[8];
			unsigned ns = resolved_ports(s, svc, p, seen, 8);
			for (unsigned m = 0; m < ns; m++)
				printf("%s%d", m ? "," : " = ", seen[m]);
			if (ns > 1)
				printf(" (differs per Pod)");
			else if (!ns)
				printf(" (unresolved: no endpoint carries it)");
		}
		if (p->app_protocol)
			printf("  appProtocol %s", V(p->app_protocol));
		printf("\n");
	}
	bool *quiet = s->fleet && r->n_dp > 1 ? fleet_summary(c, s, r) : NULL;
	for (uint32_t i = 0; i < r->n_dp; i++) {
		const struct kt_path_dp *pd = &r->dp[i];
		const struct kt_dp_service *d = pd->svc;
		if (quiet && quiet[i])
			continue;
		printf("   %snode %s%s programs %s%s (%s): %u frontend%s%s%s\n", B(c), V(pd->node->node), R(c),
		       d->port_name && *d->port_name ? "port " : "", d->port_name ? V(d->port_name) : "",
		       kt_dp_mode_name(d->mode), d->n_fe, d->n_fe == 1 ? "" : "s",
		       pd->external_set && d->masquerade ? ", SNAT for external clients" : "",
		       d->affinity ? ", clientIP affinity" : "");
		if (c->wide)
			for (uint32_t j = 0; j < d->n_fe; j++)
				printf("     frontend %-12s %s%s%s:%d -> %s\n", kt_fe_kind_name(d->fe[j].kind),
				       d->fe[j].ip && strchr(d->fe[j].ip, ':') ? "[" : "",
				       d->fe[j].ip && *d->fe[j].ip ? V(d->fe[j].ip) : "*",
				       d->fe[j].ip && strchr(d->fe[j].ip, ':') ? "]" : "", d->fe[j].port,
				       d->fe[j].action != KT_DP_FORWARD ? kt_dp_action_name(d->fe[j].action)
				       : d->fe[j].external		 ? "external backends"
									 : "backends");
		text_frontends(c, pd);
		if (pd->internal_set || !pd->external_set)
			text_backends(c, "     ", "backends", d, d->be, d->n_be);
		if (pd->ext_differs)
			text_backends(c, "     ", d->local_only ? "external backends (Local policy)" : "external backends", d,
				      d->ext_be, d->n_ext_be);
	}
	free(quiet);
}

static void text_endpoints(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_service *svc,
			   const struct kt_path_result *r)
{
	char age[32];
	printf("\n%s4. Endpoints%s  %u ready", B(c), R(c), r->n_ready);
	if (r->n_serving_terminating)
		printf(", %u terminating (still serving)", r->n_serving_terminating);
	if (r->n_not_ready)
		printf(", %u not ready", r->n_not_ready);
	if (!svc->has_selector)
		printf("  (no selector: EndpointSlices are managed by hand or a controller)");
	printf("\n");
	if (c->wide && r->n_eps)
		printf("   %s%-26s %-11s %-16s %-12s %-24s %-5s %-7s %-11s %s%s\n", D(c), "ENDPOINT", "STATE", "NODE", "ZONE", "POD",
		       "AGE", "SERVING", "TERMINATING", "SLICE", R(c));
	const char *last_pn = NULL;
	for (uint32_t i = 0; i < r->n_eps; i++) {
		const struct kt_endpoint *e = &s->endpoints[r->eps[i]];
		if (svc->n_ports > 1 && (!last_pn || strcmp(last_pn, e->port_name)))
			printf("   port %s:\n", *e->port_name ? V(e->port_name) : "(unnamed)");
		last_pn = e->port_name;
		const char *state = e->ready ? "ready" : e->terminating ? (e->serving ? "terminating" : "terminated")
								   : "not-ready";
		enum kt_color col = e->ready ? KT_C_GREEN : e->terminating ? KT_C_YELLOW : KT_C_RED;
		int64_t a = ep_age(s, e);
		char addr[80];
		snprintf(addr, sizeof(addr), "%s%s%s:%d", strchr(e->ip, ':') ? "[" : "", e->ip, strchr(e->ip, ':') ? "]" : "",
			 e->port);
		if (c->wide) {
			printf("   %-26s %s%-11s%s %-16s %-12s %-24s %-5s %-7s %-11s %s\n", V(addr), kt_c(c, col), state, R(c),
			       VD(e->node), VD(ep_zone(s, e)), VD(e->target_name), a >= 0 ? kt_fmt_age(a, age, sizeof(age)) : "-",
			       e->serving ? "yes" : "no", e->terminating ? "yes" : "no", VD(e->slice));
			continue;
		}
		printf("   %-26s %s%-11s%s %-16s %-12s %s%s%s\n", V(addr), kt_c(c, col), state, R(c), VD(e->node),
		       VD(ep_zone(s, e)), VD(e->target_name), a >= 0 ? "  age " : "", a >= 0 ? kt_fmt_age(a, age, sizeof(age)) : "");
	}
	if (!r->n_eps)
		printf("   %snone%s\n", kt_c(c, KT_C_RED), R(c));
}

static int render_text(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r,
		       const struct kt_ing_result *ing)
{
	const struct kt_service *svc = &s->services[r->svc];
	printf("%sService %s/%s%s  %s", B(c), V(svc->meta.namespace), V(svc->meta.name), R(c), kt_svc_type_name(svc->type));
	if (svc->type == KT_SVC_LOADBALANCER || svc->type == KT_SVC_NODEPORT)
		printf("  externalTrafficPolicy=%s", svc->etp_local ? "Local" : "Cluster");
	if (svc->itp_local)
		printf("  internalTrafficPolicy=Local");
	printf("  sessionAffinity=%s", svc->affinity_client_ip ? "ClientIP" : "None");
	if (svc->traffic_distribution)
		printf("  trafficDistribution=%s", V(svc->traffic_distribution));
	printf("\n");
	if (s->source && strcmp(s->source, "api"))
		printf("%s(from %s%s%s)%s\n", D(c), V(s->source), s->origin && strcmp(s->origin, s->source) ? " " : "",
		       s->origin && strcmp(s->origin, s->source) ? V(s->origin) : "", R(c));
	kt_render_incomplete(c, stdout, s);

	if (svc->type == KT_SVC_EXTERNALNAME) {
		printf("  ExternalName -> %s (DNS CNAME only: no proxying, no endpoints)\n",
		       svc->external_name ? V(svc->external_name) : "?");
		return 0;
	}
	/* 0. the ingress layer: what routes to this Service */
	if (ing->n_views)
		kt_render_ingress_section_text(c, s, ing);
	text_external(c, svc, r);
	if (svc->type != KT_SVC_CLUSTERIP)
		text_nodes(c, s, svc, r);
	text_ports(c, s, svc, r);
	text_endpoints(c, s, svc, r);

	uint32_t shown = 0;
	for (uint32_t i = 0; i < r->findings.n; i++)
		shown += !r->findings.v[i].suppressed;
	printf("\n%sFindings%s (%u)\n", B(c), R(c), shown);
	if (!shown)
		printf("   none\n");
	kt_render_findings_text(c, stdout, &r->findings, "   ");
	trace_hint(c, svc, r);
	for (uint32_t i = 0; i < r->findings.n_gaps; i++)
		printf("%snot checked: %s: %s%s\n", D(c), V(r->findings.gaps[i].what), V(r->findings.gaps[i].why), R(c));
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (!s->gaps[i].recorded)
			printf("%snot collected: %s: %s%s\n", D(c), V(s->gaps[i].what), V(s->gaps[i].why), R(c));
	kt_render_recorded_gaps(c, stdout, s);
	return 0;
}

/* ---- command ---------------------------------------------------------------- */

/* ingress/NAME, httproute/NAME, grpcroute/NAME (also NS/NAME after the
 * kind): true with *kind set when arg names one. */
static bool ingress_arg(const char *arg, enum kt_ing_kind *kind, const char **rest)
{
	static const struct {
		const char *prefix;
		enum kt_ing_kind kind;
	} kinds[] = {
		{"ingress/", KT_ING_INGRESS},         {"ingresses/", KT_ING_INGRESS},
		{"ing/", KT_ING_INGRESS},             {"ingress.networking.k8s.io/", KT_ING_INGRESS},
		{"httproute/", KT_ING_HTTPROUTE},     {"httproutes/", KT_ING_HTTPROUTE},
		{"grpcroute/", KT_ING_GRPCROUTE},     {"grpcroutes/", KT_ING_GRPCROUTE},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strncasecmp(arg, kinds[i].prefix, strlen(kinds[i].prefix))) {
			*kind = kinds[i].kind;
			*rest = arg + strlen(kinds[i].prefix);
			return true;
		}
	return false;
}

static int ingress_not_found(struct kt_cli *c, const struct kt_snapshot *s, enum kt_ing_kind kind, const char *ns,
			     const char *name, struct kt_arena *a)
{
	struct kt_diag d = {0};
	const char **cands = KT_ANEW(a, const char *, s->n_ingresses + s->n_routes + 1);
	unsigned n = 0;
	for (uint32_t i = 0; kind == KT_ING_INGRESS && i < s->n_ingresses; i++)
		if (!kt_strcmp0(s->ingresses[i].meta.namespace, ns))
			cands[n++] = s->ingresses[i].meta.name;
	for (uint32_t i = 0; kind != KT_ING_INGRESS && i < s->n_routes; i++)
		if (!kt_strcmp0(s->routes[i].meta.namespace, ns) &&
		    (s->routes[i].kind == KT_ROUTE_GRPC) == (kind == KT_ING_GRPCROUTE))
			cands[n++] = s->routes[i].meta.name;
	kt_cli_not_found(&d, kind == KT_ING_INGRESS ? "ingress" : kind == KT_ING_HTTPROUTE ? "httproute" : "grpcroute", ns,
			 name, cands, n);
	return kt_cli_fail(c, &d);
}

/* path ingress/NAME: the whole cluster's objects (controllers run in their
 * own namespaces), as `check -A` reads them, without node state. */
static int run_ingress(struct kt_cli *c, enum kt_ing_kind kind, const char *rest)
{
	struct kt_diag d = {0};
	const char *slash = strchr(rest, '/');
	char nsbuf[256];
	const char *ns = kt_cli_namespace(c), *name = rest;
	if (c->argc != 1)
		return kt_cli_error(c, KT_EXIT_USAGE, "e.g. 'ktrace path ingress/shop -n shop'",
				    "path takes one ingress/NAME, httproute/NAME or grpcroute/NAME");
	if (slash) {
		snprintf(nsbuf, sizeof(nsbuf), "%.*s", (int)(slash - rest), rest);
		ns = nsbuf;
		name = slash + 1;
		if (strchr(name, '/') || slash == rest || (size_t)(slash - rest) >= sizeof(nsbuf))
			name = "";
	}
	if (!*name || strlen(name) > 253)
		return kt_cli_error(c, KT_EXIT_USAGE,
				    "write ingress/NAME, httproute/NAME or grpcroute/NAME (or KIND/NAMESPACE/NAME)",
				    "invalid %s '%s'", kt_ing_kind_name(kind), kt_cv(c, rest));
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	sc.namespace = NULL;
	sc.all_namespaces = true;
	struct kt_snapshot *s = NULL;
	c->progress = !c->quiet;
	int rc = kt_source_load(&sc, KT_WANT_OBJECTS, &s, &d);
	kt_cli_progress_done(c);
	c->progress = false;
	if (rc < 0)
		return kt_cli_fail(c, &d);
	struct kt_arena *a = kt_arena_new();
	struct kt_rules_opts ro = {.live = strcmp(s->source ? s->source : "", "manifests") != 0};
	struct kt_ing_result *r;
	if (kt_ingress_path(s, kind, ns, name, &ro, a, &r) < 0) {
		rc = ingress_not_found(c, s, kind, ns, name, a);
	} else {
		rc = kt_cli_structured(c) ? kt_render_ingress_path_json(c, s, r) : kt_render_ingress_path_text(c, s, r);
		kt_findings_release(&r->findings);
		if (rc == 0 && s->focus.missing)
			rc = KT_EXIT_PARTIAL;
	}
	kt_arena_free(a);
	kt_snapshot_free(s);
	return rc;
}

static int run(struct kt_cli *c)
{
	/* parse: SERVICE (svc/NAME, NS/NAME, `svc NAME`) or a workload
	 * (deploy/NAME, sts/NAME, ds/NAME: the Services that select it); -A
	 * looks for the name in every namespace */
	struct kt_diag d = {0};
	enum kt_ing_kind ikind;
	const char *irest;
	if (c->argc >= 1 && ingress_arg(c->argv[0], &ikind, &irest))
		return run_ingress(c, ikind, irest);
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	if (kt_cli_target(c, &sc, KT_TARGET_REQUIRED | KT_TARGET_WORKLOADS, &d) < 0)
		return kt_cli_fail(c, &d);
	if (sc.all_namespaces && (sc.svc_namespace || sc.workload_name))
		return kt_cli_error(c, KT_EXIT_USAGE, "drop -A, or give only the NAME to look in every namespace",
				    "-A looks for a Service name in every namespace; '%s' names %s", c->argv[0],
				    sc.workload_name ? "a workload" : "a namespace");
	/* load only what these Services' paths need */
	struct kt_snapshot *s = NULL;
	if (kt_cli_load(c, &sc, &s, &d) < 0)
		return kt_cli_fail(c, &d);
	/* analyze and render each Service the scope names */
	int rc = 0;
	bool many = s->focus.n_svcs > 1;
	if (many && c->out == KT_OUT_JSON)
		printf("[\n");
	for (uint32_t i = 0; i < s->focus.n_svcs && rc == 0; i++) {
		struct kt_arena *a = kt_arena_new();
		struct kt_path_query q = {.svc = s->focus.svcs[i]};
		struct kt_path_result *r;
		kt_path_analyze(s, &q, a, &r);
		/* the Ingresses and routes that send traffic to it */
		struct kt_rules_opts ro = {.live = strcmp(s->source ? s->source : "", "manifests") != 0};
		struct kt_ing_result *ing;
		kt_ingress_for_service(s, q.svc, &ro, a, &ing);
		if (i && c->out == KT_OUT_JSON)
			printf(",\n");
		else if (i)
			printf("\n");
		if (kt_cli_structured(c))
			rc = render_json(c, s, r, ing);
		else if (c->out == KT_OUT_DOT || c->out == KT_OUT_MERMAID)
			rc = kt_path_render_graph(c, s, r);
		else
			rc = render_text(c, s, r, ing);
		kt_findings_release(&ing->findings);
		kt_findings_release(&r->findings);
		kt_arena_free(a);
	}
	if (many && c->out == KT_OUT_JSON)
		printf("]\n");
	if (rc == 0 && s->focus.missing)
		rc = KT_EXIT_PARTIAL;
	kt_snapshot_free(s);
	return rc;
}

static const struct kt_option opts[] = {
	{"no-node", 0, KT_OPT_FLAG, NULL, NULL, "do not read this node's programmed rules even when running as root on a node"},
	KT_FLEET_OPTS,
	{0},
};

const struct kt_command kt_cmd_path = {
	.name = "path",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_API,
	.args = "service",
	.wants = KT_WANT_SERVICES | KT_WANT_SLICES | KT_WANT_PODS | KT_WANT_NODES | KT_WANT_PROXY | KT_WANT_INGRESSES |
		 KT_WANT_GATEWAYS | KT_WANT_DATAPLANE,
	.usage = "SERVICE | svc NAME | deploy/NAME | ingress/NAME | httproute/NAME | grpcroute/NAME",
	.summary = "the full traffic path of one Service: LB -> nodes -> NodePort -> dataplane -> Pods",
	.description =
		"SERVICE is svc/NAME, service/NAME, NAME or NAMESPACE/NAME, also as two words\n"
		"(svc NAME). deploy/NAME, sts/NAME and ds/NAME show the Services that select that\n"
		"workload; NAME with -A, the Service of that name in every namespace.\n\n"
		"The Ingresses and Gateway API routes (HTTPRoute, GRPCRoute) that send traffic\n"
		"to the Service are listed first (host, path, class, controller, and whether the\n"
		"controller balances per request or per connection). ingress/NAME,\n"
		"httproute/NAME or grpcroute/NAME (also KIND/NAMESPACE/NAME) trace that object:\n"
		"load balancer -> controller Service -> controller Pods (placement) -> backend\n"
		"Services -> Pods, whether the client address survives (externalTrafficPolicy,\n"
		"PROXY protocol, the controller's ConfigMap) and the findings about it, its\n"
		"controller and the controller's Services (KT101-KT103, KT301-KT309).\n\n"
		"Shows how external traffic enters (LB ingress, LB kind and target mode from the\n"
		"provider annotations), which nodes the LB targets and why, the NodePort, the\n"
		"dataplane mode (kube-proxy ConfigMap or Cilium kube-proxy replacement, or the\n"
		"rules programmed on this node when run as root on a node or read from a bundle),\n"
		"ClusterIP:port -> targetPort, every endpoint with readiness, node, zone, Pod and age,\n"
		"and the findings that apply (KT101 SNAT source-IP loss, KT102 cross-node hops, ...).\n\n"
		"Examples:\n"
		"  ktrace path svc/orders -n shop --from demo\n"
		"  ktrace path shop/orders -o json | jq '.endpoints[] | select(.ready)'\n"
		"  ktrace path orders --from cluster.json.gz\n"
		"  ktrace path deploy/orders -n shop\n"
		"  ktrace path ingress/shop -n shop --from demo\n"
		"  ktrace path httproute/storefront -n shop --from demo -o json",
	.outputs = "text|wide|json|yaml|dot|mermaid",
};
