/*
 * `ktrace path SERVICE`: fetch only what one Service's path needs (the
 * Service, its EndpointSlices, the nodes, the selected Pods, the proxy
 * ConfigMaps; plus this node's programmed rules when readable), run the
 * path analyzer, and render the layered tree (text) or the JSON of ktrace-path(1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "ktrace/bundle.h"
#include "ktrace/dataplane.h"
#include "ktrace/jsonw.h"
#include "ktrace/node.h"
#include "ktrace/path.h"
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

static void json_backends(struct kt_jw *w, const char *key, const struct kt_dp_service *d, const struct kt_dp_backend *b,
			  uint32_t n)
{
	kt_jw_key(w, key);
	kt_jw_arr(w);
	for (uint32_t i = 0; i < n; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "ip", b[i].ip);
		kt_jw_kint(w, "port", b[i].port);
		if (kt_dp_share_known(d))
			kt_jw_kdouble(w, "probability", b[i].probability);
		else
			kt_jw_knull(w, "probability"); /* the scheduler decides by connections or by hash */
		kt_jw_kbool(w, "local", b[i].local);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
}

static int render_json(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r)
{
	const struct kt_service *svc = &s->services[r->svc];
	struct kt_jw *w = kt_jw_new(stdout, true);
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
	for (uint32_t i = 0; i < r->n_dp; i++) {
		const struct kt_dp_service *d = r->dp[i].svc;
		kt_jw_obj(w);
		kt_jw_kstr(w, "node", r->dp[i].node->node);
		kt_jw_kstr(w, "mode", kt_dp_mode_name(d->mode));
		kt_jw_kstr(w, "portName", d->port_name);
		kt_jw_key(w, "frontends");
		kt_jw_arr(w);
		for (uint32_t j = 0; j < r->dp[i].n_fes; j++) {
			const struct kt_path_fe *pf = &r->dp[i].fes[j];
			const struct kt_dp_frontend *f = pf->fe;
			kt_jw_obj(w);
			kt_jw_kstr(w, "kind", kt_fe_kind_name(f->kind));
			kt_jw_kstr(w, "ip", f->ip);
			kt_jw_kint(w, "port", f->port);
			kt_jw_kstr(w, "backendSet", f->external ? "external" : "internal");
			kt_jw_kstr(w, "action", kt_dp_action_name(f->action));
			if (f->reason)
				kt_jw_kstr(w, "reason", f->reason);
			if (f->n_source_ranges) {
				kt_jw_key(w, "sourceRanges");
				kt_jw_arr(w);
				for (uint32_t k = 0; k < f->n_source_ranges; k++)
					kt_jw_str(w, f->source_ranges[k]);
				kt_jw_arr_end(w);
			}
			if (pf->cause.rule != KT_RULE_COUNT) {
				kt_jw_key(w, "cause");
				kt_jw_obj(w);
				kt_jw_kstr(w, "rule", kt_rules[pf->cause.rule].id);
				kt_jw_kstr(w, "text", pf->cause.text);
				kt_jw_obj_end(w);
			}
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
		kt_jw_kstr(w, "shareBasis", kt_share_basis_name(d->share_basis));
		json_backends(w, "backends", d, d->be, d->n_be);
		json_backends(w, "externalBackends", d, d->ext_be, d->n_ext_be);
		if (d->masq_unknown)
			kt_jw_knull(w, "masquerade");
		else
			kt_jw_kbool(w, "masquerade", d->masquerade);
		kt_jw_kbool(w, "localOnly", d->local_only);
		kt_jw_obj_end(w);
	}
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

	kt_jw_key(w, "findings");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->findings.n; i++)
		if (!r->findings.v[i].suppressed)
			kt_render_finding_json(w, &r->findings.v[i], false);
	kt_jw_arr_end(w);
	kt_jw_key(w, "gaps");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < s->n_gaps; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "what", s->gaps[i].what);
		kt_jw_kstr(w, "why", s->gaps[i].why);
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
			printf("%s  %s:%d  %5.1f%%%s\n", ind, b[i].ip, b[i].port, b[i].probability * 100.0,
			       b[i].local ? "  (local)" : "");
		else
			printf("%s  %s:%d  weight %d%s\n", ind, b[i].ip, b[i].port, b[i].weight, b[i].local ? "  (local)" : "");
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
				printf("   NodePort on node %s:", pd->node->node);
			if (f->ip && f->ip[0])
				printf(" %s%s%s:%d", strchr(f->ip, ':') ? "[" : "", f->ip, strchr(f->ip, ':') ? "]" : "", f->port);
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
			snprintf(addr, sizeof(addr), "%s%s%s:%d", strchr(f->ip, ':') ? "[" : "", f->ip,
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
		       f->reason ? ": " : "", f->reason ? f->reason : "", "");
		if (pf->cause.rule != KT_RULE_COUNT) {
			kt_vis_escape(b, sizeof(b), pf->cause.text);
			printf("       why: %s (%s)\n", b, kt_rules[pf->cause.rule].id);
		}
	}
}

static int render_text(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r)
{
	const struct kt_service *svc = &s->services[r->svc];
	char buf[64], age[32];
	printf("%sService %s/%s%s  %s", B(c), svc->meta.namespace, svc->meta.name, R(c), kt_svc_type_name(svc->type));
	if (svc->type == KT_SVC_LOADBALANCER || svc->type == KT_SVC_NODEPORT)
		printf("  externalTrafficPolicy=%s", svc->etp_local ? "Local" : "Cluster");
	if (svc->itp_local)
		printf("  internalTrafficPolicy=Local");
	printf("  sessionAffinity=%s", svc->affinity_client_ip ? "ClientIP" : "None");
	if (svc->traffic_distribution)
		printf("  trafficDistribution=%s", svc->traffic_distribution);
	printf("\n");
	if (s->source && strcmp(s->source, "api"))
		printf("%s(from %s%s%s)%s\n", D(c), s->source, s->origin && strcmp(s->origin, s->source) ? " " : "",
		       s->origin && strcmp(s->origin, s->source) ? s->origin : "", R(c));

	if (svc->type == KT_SVC_EXTERNALNAME) {
		printf("  ExternalName -> %s (DNS CNAME only: no proxying, no endpoints)\n",
		       svc->external_name ? svc->external_name : "?");
		return 0;
	}

	/* 1. external entry */
	if (svc->type == KT_SVC_LOADBALANCER) {
		printf("\n%s1. Cloud load balancer%s  %s%s%s\n", B(c), R(c), r->lb_kind, r->lb_internal ? ", internal" : "",
		       "");
		if (!svc->n_ingress)
			printf("   ingress: %spending (no status.loadBalancer.ingress yet)%s\n", kt_c(c, KT_C_YELLOW), R(c));
		for (uint32_t i = 0; i < svc->n_ingress; i++)
			printf("   ingress: %s%s%s%s\n", svc->ingress[i].ip ? svc->ingress[i].ip : svc->ingress[i].hostname,
			       svc->ingress[i].ip_mode ? " (ipMode " : "", svc->ingress[i].ip_mode ? svc->ingress[i].ip_mode : "",
			       svc->ingress[i].ip_mode ? ")" : "");
		printf("   %skind from:%s %s\n", D(c), R(c), r->lb_kind_evidence);
		printf("   targets: %s\n", r->lb_target_reason);
		if (svc->n_lb_source_ranges) {
			printf("   source ranges:");
			for (uint32_t i = 0; i < svc->n_lb_source_ranges; i++)
				printf(" %s", svc->lb_source_ranges[i]);
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
		printf("   externalIP: %s (nodes accept it, kube-proxy handles it)\n", svc->external_ips[i]);
	if (svc->type != KT_SVC_CLUSTERIP && nodeport_restricted(r))
		text_nodeport_addrs(c, r);

	/* 2. nodes */
	if (svc->type != KT_SVC_CLUSTERIP) {
		printf("\n%s2. Nodes%s  %u of %u are LB targets", B(c), R(c), r->n_lb_targets, r->n_nodes);
		if (svc->etp_local && svc->health_check_node_port)
			printf("  (health check :%d/healthz)", svc->health_check_node_port);
		printf("\n");
		for (uint32_t i = 0; i < r->n_nodes; i++) {
			const struct kt_path_node *pn = &r->nodes[i];
			const struct kt_node *n = &s->nodes[pn->node];
			printf("   %s%-3s%s %-20s %-14s local ready %u/%u  %s%s%s\n",
			       pn->lb_target ? kt_c(c, KT_C_GREEN) : D(c), pn->lb_target ? "->" : "x", R(c), n->meta.name,
			       n->zone ? n->zone : "-", pn->local_ready, pn->local_total, D(c), pn->reason ? pn->reason : "", R(c));
		}
		if (!r->n_nodes)
			printf("   %s(no Node objects available)%s\n", D(c), R(c));
		if (r->cross_node_share >= 0)
			printf("   expected extra node hop: %.0f%% of requests (LB spreads over %u nodes, each node picks any "
			       "ready endpoint)\n",
			       r->cross_node_share * 100, r->n_lb_targets);
	}

	/* 3. ports and dataplane */
	printf("\n%s3. Service ports -> dataplane%s  mode %s%s%s (%s: %s)\n", B(c), R(c), B(c), r->mode, R(c),
	       r->mode_source, r->mode_evidence ? r->mode_evidence : "");
	for (uint32_t i = 0; i < svc->n_ports; i++) {
		const struct kt_svc_port *p = &svc->ports[i];
		printf("   %s%s%s", p->name && *p->name ? p->name : "", p->name && *p->name ? "/" : "", p->protocol);
		for (uint32_t k = 0; k < svc->n_cluster_ips; k++)
			printf("  %s%s%s:%d", strchr(svc->cluster_ips[k], ':') ? "[" : "", svc->cluster_ips[k],
			       strchr(svc->cluster_ips[k], ':') ? "]" : "", p->port);
		if (svc->headless)
			printf("  headless (no virtual IP; DNS returns Pod IPs)");
		if (p->node_port)
			printf("  NodePort %d", p->node_port);
		printf("  -> targetPort %s", port_target(p, buf, sizeof(buf)));
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
			printf("  appProtocol %s", p->app_protocol);
		printf("\n");
	}
	for (uint32_t i = 0; i < r->n_dp; i++) {
		const struct kt_path_dp *pd = &r->dp[i];
		const struct kt_dp_service *d = pd->svc;
		printf("   %snode %s%s programs %s%s%s (%s): %u frontend%s%s%s\n", B(c), pd->node->node, R(c),
		       d->port_name && *d->port_name ? "port " : "", d->port_name ? d->port_name : "",
		       d->port_name && *d->port_name ? "" : "", kt_dp_mode_name(d->mode), d->n_fe, d->n_fe == 1 ? "" : "s",
		       pd->external_set && d->masquerade ? ", SNAT for external clients" : "",
		       d->affinity ? ", clientIP affinity" : "");
		text_frontends(c, pd);
		if (pd->internal_set || !pd->external_set)
			text_backends(c, "     ", "backends", d, d->be, d->n_be);
		if (pd->ext_differs)
			text_backends(c, "     ", d->local_only ? "external backends (Local policy)" : "external backends", d,
				      d->ext_be, d->n_ext_be);
	}

	/* 4. endpoints */
	printf("\n%s4. Endpoints%s  %u ready", B(c), R(c), r->n_ready);
	if (r->n_serving_terminating)
		printf(", %u terminating (still serving)", r->n_serving_terminating);
	if (r->n_not_ready)
		printf(", %u not ready", r->n_not_ready);
	if (!svc->has_selector)
		printf("  (no selector: EndpointSlices are managed by hand or a controller)");
	printf("\n");
	const char *last_pn = NULL;
	for (uint32_t i = 0; i < r->n_eps; i++) {
		const struct kt_endpoint *e = &s->endpoints[r->eps[i]];
		if (svc->n_ports > 1 && (!last_pn || strcmp(last_pn, e->port_name)))
			printf("   port %s:\n", *e->port_name ? e->port_name : "(unnamed)");
		last_pn = e->port_name;
		const char *state = e->ready ? "ready" : e->terminating ? (e->serving ? "terminating" : "terminated")
								   : "not-ready";
		enum kt_color col = e->ready ? KT_C_GREEN : e->terminating ? KT_C_YELLOW : KT_C_RED;
		int64_t a = ep_age(s, e);
		char addr[80];
		snprintf(addr, sizeof(addr), "%s%s%s:%d", strchr(e->ip, ':') ? "[" : "", e->ip, strchr(e->ip, ':') ? "]" : "",
			 e->port);
		printf("   %-26s %s%-11s%s %-16s %-12s %s%s%s\n", addr, kt_c(c, col), state, R(c), e->node ? e->node : "-",
		       ep_zone(s, e) ? ep_zone(s, e) : "-", e->target_name ? e->target_name : "-", a >= 0 ? "  age " : "",
		       a >= 0 ? kt_fmt_age(a, age, sizeof(age)) : "");
	}
	if (!r->n_eps)
		printf("   %snone%s\n", kt_c(c, KT_C_RED), R(c));

	uint32_t shown = 0;
	for (uint32_t i = 0; i < r->findings.n; i++)
		shown += !r->findings.v[i].suppressed;
	printf("\n%sFindings%s (%u)\n", B(c), R(c), shown);
	if (!shown)
		printf("   none\n");
	kt_render_findings_text(c, stdout, &r->findings, "   ");
	for (uint32_t i = 0; i < s->n_gaps; i++)
		printf("%snot collected: %s: %s%s\n", D(c), s->gaps[i].what, s->gaps[i].why, R(c));
	return 0;
}

/* ---- command ---------------------------------------------------------------- */

static int not_found(struct kt_cli *c, struct kt_snapshot *s, const char *ns, const char *name)
{
	struct kt_diag d;
	memset(&d, 0, sizeof(d));
	const char **cands = NULL;
	unsigned n = 0;
	struct kt_arena *a = kt_arena_new();
	if (s) {
		cands = KT_ANEW(a, const char *, s->n_services + 1);
		for (uint32_t i = 0; i < s->n_services; i++)
			if (!strcmp(s->services[i].meta.namespace, ns))
				cands[n++] = s->services[i].meta.name;
	} else if (c->kube) {
		struct kt_diag d2;
		memset(&d2, 0, sizeof(d2));
		kt_kube_names(c->kube, KT_RES_SERVICES, ns, a, &cands, &n, &d2);
	}
	kt_cli_not_found(&d, "service", ns, name, cands, n);
	/* the exact name in other namespaces is the most likely mistake (-n) */
	const char *other[4];
	unsigned no = 0;
	if (s) {
		for (uint32_t i = 0; i < s->n_services && no < 4; i++)
			if (!strcmp(s->services[i].meta.name, name) && strcmp(s->services[i].meta.namespace, ns))
				other[no++] = s->services[i].meta.namespace;
	} else if (c->kube) {
		struct kt_snapshot *t = kt_snapshot_new();
		char fs[300];
		snprintf(fs, sizeof(fs), "metadata.name=%s", name);
		struct kt_list_req r = {.res = KT_RES_SERVICES, .field_selector = fs, .optional = true};
		struct kt_diag d2;
		memset(&d2, 0, sizeof(d2));
		if (kt_kube_fetch(c->kube, &r, 1, t, NULL, &d2) == 0)
			for (uint32_t i = 0; i < t->n_services && no < 4; i++)
				other[no++] = kt_intern(a, t->services[i].meta.namespace);
		kt_snapshot_free(t);
	}
	if (no) {
		char hint[sizeof(d.hint)];
		size_t len = (size_t)snprintf(hint, sizeof(hint), "service '%s' exists in namespace", name);
		for (unsigned i = 0; i < no && len < sizeof(hint); i++)
			len += (size_t)snprintf(hint + len, sizeof(hint) - len, "%s '%s'", i ? "," : "", other[i]);
		if (len < sizeof(hint))
			snprintf(hint + len, sizeof(hint) - len, ": try 'ktrace path %s/%s'", other[0], name);
		kt_diag_hint(&d, "%s", hint);
	}
	kt_arena_free(a);
	return kt_cli_fail(c, &d);
}

static int run(struct kt_cli *c)
{
	struct kt_diag d;
	memset(&d, 0, sizeof(d));
	if (c->argc != 1)
		return kt_cli_error(c, KT_EXIT_USAGE, "e.g. 'ktrace path svc/orders -n shop'",
				    c->argc ? "path takes one SERVICE" : "path needs a SERVICE");
	const char *ns, *name;
	if (kt_cli_service_arg(c, c->argv[0], &ns, &name, &d) < 0)
		return kt_cli_fail(c, &d);
	char nsbuf[256];
	snprintf(nsbuf, sizeof(nsbuf), "%s", ns);
	ns = nsbuf;

	struct kt_snapshot *s = NULL;
	int rc;
	if (c->from) {
		rc = kt_bundle_load(c->from, &s, &d);
		if (rc < 0)
			return kt_cli_fail(c, &d);
	} else {
		char sel[320];
		snprintf(sel, sizeof(sel), "kubernetes.io/service-name=%s", name);
		struct kt_list_req reqs[] = {
			{.res = KT_RES_SERVICES, .ns = ns, .name = name},
			{.res = KT_RES_ENDPOINTSLICES, .ns = ns, .label_selector = sel},
			{.res = KT_RES_NODES, .optional = true},
			{.res = KT_RES_CONFIGMAPS, .ns = "kube-system", .name = "kube-proxy", .optional = true},
			{.res = KT_RES_CONFIGMAPS, .ns = "kube-system", .name = "cilium-config", .optional = true},
		};
		struct kt_kube *k;
		if (kt_cli_kube(c, &k, &d) < 0)
			return kt_cli_fail(c, &d);
		s = kt_snapshot_new();
		s->source = kt_intern(s->arena, "api");
		s->origin = kt_intern(s->arena, kt_kube_server(k));
		s->context = kt_intern(s->arena, kt_kube_context(k));
		rc = kt_kube_fetch(k, reqs, sizeof(reqs) / sizeof(reqs[0]), s, NULL, &d);
		if (rc == -KT_EXIT_NOTFOUND) {
			kt_snapshot_free(s);
			return not_found(c, NULL, ns, name);
		}
		if (rc < 0) {
			kt_snapshot_free(s);
			return kt_cli_fail(c, &d);
		}
		/* second round: the Pods the selector picks (named ports, ages, specs) */
		uint32_t six = KT_NONE;
		for (uint32_t i = 0; i < s->n_services; i++)
			if (!strcmp(s->services[i].meta.name, name))
				six = i;
		if (six != KT_NONE && s->services[six].has_selector) {
			char psel[2048];
			size_t len = 0;
			const struct kt_kvlist *l = &s->services[six].selector;
			for (uint32_t i = 0; i < l->n && len < sizeof(psel); i++) {
				int w = snprintf(psel + len, sizeof(psel) - len, "%s%s=%s", i ? "," : "", l->v[i].key,
						 l->v[i].value);
				if (w < 0 || (size_t)w >= sizeof(psel) - len)
					break;
				len += (size_t)w;
			}
			struct kt_list_req pr = {.res = KT_RES_PODS, .ns = ns, .label_selector = psel, .optional = true};
			rc = kt_kube_fetch(k, &pr, 1, s, NULL, &d);
			if (rc < 0) {
				kt_snapshot_free(s);
				return kt_cli_fail(c, &d);
			}
		}
		if (!kt_opt_flag(c, "no-node") && kt_node_readable()) {
			struct kt_node_opts no = {.want_svc_filter = true, .svc_namespace = ns, .svc_name = name,
						  .no_metrics = true};
			struct kt_diag d2;
			memset(&d2, 0, sizeof(d2));
			if (kt_dp_collect(s, &no, &d2) < 0)
				kt_snapshot_gap(s, "this node's dataplane", "%s", d2.msg);
		}
		kt_snapshot_finish(s);
	}
	uint32_t six = kt_find_service(s, ns, name);
	if (six == KT_NONE) {
		rc = not_found(c, s, ns, name);
		kt_snapshot_free(s);
		return rc;
	}
	struct kt_arena *a = kt_arena_new();
	struct kt_path_query q = {.svc = six};
	struct kt_path_result *r;
	kt_path_analyze(s, &q, a, &r);
	rc = c->out == KT_OUT_JSON ? render_json(c, s, r) : render_text(c, s, r);
	kt_findings_release(&r->findings);
	kt_arena_free(a);
	kt_snapshot_free(s);
	return rc;
}

static const struct kt_option opts[] = {
	{"no-node", 0, KT_OPT_FLAG, NULL, NULL, "do not read this node's programmed rules even when running as root on a node"},
	{0},
};

const struct kt_command kt_cmd_path = {
	.name = "path",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_API,
	.usage = "SERVICE",
	.summary = "the full traffic path of one Service: LB -> nodes -> NodePort -> dataplane -> Pods",
	.description =
		"SERVICE is svc/NAME, service/NAME, NAME or NAMESPACE/NAME.\n\n"
		"Shows how external traffic enters (LB ingress, LB kind and target mode from the\n"
		"provider annotations), which nodes the LB targets and why, the NodePort, the\n"
		"dataplane mode (kube-proxy ConfigMap or Cilium kube-proxy replacement, or the\n"
		"rules programmed on this node when run as root on a node or read from a bundle),\n"
		"ClusterIP:port -> targetPort, every endpoint with readiness, node, zone, Pod and age,\n"
		"and the findings that apply (KT101 SNAT source-IP loss, KT102 cross-node hops, ...).\n\n"
		"Examples:\n"
		"  ktrace path svc/orders -n shop --from demo\n"
		"  ktrace path shop/orders -o json | jq '.endpoints[] | select(.ready)'\n"
		"  ktrace path orders --from cluster.json.gz",
	.outputs = "text|json",
};
