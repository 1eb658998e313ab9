/*
 * Rendering of the ingress layer for `ktrace path`: the section listing
 * the Ingresses and Gateway API routes that send traffic to a Service, and
 * the whole path of one Ingress or route (load balancer -> controller
 * Service -> controller Pods -> backend Services -> Pods), as text or
 * JSON (keys in ktrace-path(1)). Every string from the cluster or the
 * manifests goes through kt_vis() before it reaches the terminal. Writes
 * only to stdout.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/render_ingress.h"
#include "ktrace/jsonw.h"
#include "ktrace/util.h"

#define B(c) kt_c(c, KT_C_BOLD)
#define D(c) kt_c(c, KT_C_DIM)
#define R(c) kt_c(c, KT_C_RESET)
#define V(x) kt_vis(a, (x))

static const char *port_str(struct kt_arena *a, const struct kt_portref *p)
{
	if (p->name)
		return kt_arena_printf(a, "%s", kt_vis(a, p->name));
	return p->num ? kt_arena_printf(a, "%d", p->num) : "(no port)";
}

static const char *cip_name(enum kt_ing_cip c)
{
	return c == KT_ING_CIP_KEPT ? "kept" : c == KT_ING_CIP_LOST ? "lost" : "unknown";
}

static const char *class_str(struct kt_arena *a, const struct kt_ing_view *v)
{
	if (!v->class_name && !v->controller)
		return v->kind == KT_ING_INGRESS ? "no class (and no default IngressClass)" : "no Gateway in the input";
	return kt_arena_printf(a, "%s %s (%s%s%s)", v->class_kind, v->class_name ? V(v->class_name) : "?",
			       v->controller ? V(v->controller) : "controller unknown", v->family ? ": " : "",
			       v->family ? v->family : "");
}

static const char *gw_str(struct kt_arena *a, const struct kt_snapshot *s, const struct kt_ing_view *v)
{
	if (v->gateway == KT_NONE)
		return NULL;
	const struct kt_gateway *g = &s->gateways[v->gateway];
	return kt_arena_printf(a, "%s/%s", V(g->meta.namespace ? g->meta.namespace : "default"), V(g->meta.name));
}

/* ---- the section of `path svc/NAME` ------------------------------------ */

void kt_render_ingress_section_text(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_ing_result *r)
{
	struct kt_arena *a = kt_arena_new();
	printf("\n%s0. Ingresses and Gateway routes%s  %u send%s traffic here\n", B(c), R(c), r->n_views,
	       r->n_views == 1 ? "s" : "");
	if (!r->n_views)
		printf("   %snone in the input (traffic reaches the Service directly)%s\n", D(c), R(c));
	for (uint32_t i = 0; i < r->n_views; i++) {
		const struct kt_ing_view *v = &r->views[i];
		const char *gw = gw_str(a, s, v);
		printf("   %s %s/%s  %s%s%s\n", kt_ing_kind_name(v->kind), V(v->meta->namespace ? v->meta->namespace : "default"),
		       V(v->meta->name), class_str(a, v), gw ? ", Gateway " : "", gw ? gw : "");
		for (uint32_t k = 0; k < v->n_routes; k++) {
			const struct kt_ing_route *x = &v->routes[k];
			printf("     %s%s %s -> port %s", x->host ? V(x->host) : "*", x->tls ? " (TLS)" : "", V(x->match),
			       port_str(a, &x->port));
			if (x->weight != 1 && v->kind != KT_ING_INGRESS)
				printf(" weight %d", x->weight);
			printf("\n       %s%s%s\n", D(c), V(x->balance_why), R(c));
		}
	}
	kt_arena_free(a);
}

static void json_route(struct kt_jw *w, const struct kt_snapshot *s, const struct kt_ing_route *x, bool eps)
{
	kt_jw_obj(w);
	kt_jw_kstr(w, "host", x->host);
	kt_jw_kstr(w, "match", x->match);
	kt_jw_kbool(w, "tls", x->tls);
	kt_jw_key(w, "service");
	kt_jw_obj(w);
	kt_jw_kstr(w, "namespace", x->svc_ns ? x->svc_ns : "default");
	kt_jw_kstr(w, "name", x->svc_name);
	kt_jw_kbool(w, "exists", x->svc != KT_NONE);
	kt_jw_obj_end(w);
	kt_jw_key(w, "port");
	if (x->port.name)
		kt_jw_str(w, x->port.name);
	else if (x->port.num)
		kt_jw_int(w, x->port.num);
	else
		kt_jw_null(w);
	if (x->weight)
		kt_jw_kint(w, "weight", x->weight);
	kt_jw_kstr(w, "balancing", x->via_cluster_ip ? "connection" : "request");
	kt_jw_kstr(w, "balancingReason", x->balance_why);
	if (eps) {
		kt_jw_key(w, "endpoints");
		kt_jw_arr(w);
		const struct kt_service *sv = x->svc != KT_NONE ? &s->services[x->svc] : NULL;
		for (uint32_t i = 0; sv && i < sv->ep_count; i++) {
			const struct kt_endpoint *e = &s->endpoints[sv->ep_first + i];
			kt_jw_obj(w);
			kt_jw_kstr(w, "ip", e->ip);
			kt_jw_kint(w, "port", e->port);
			kt_jw_kstr(w, "portName", e->port_name);
			kt_jw_kbool(w, "ready", e->ready);
			kt_jw_kstr(w, "node", e->node);
			kt_jw_kstr(w, "pod", e->target_name);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
	}
	kt_jw_obj_end(w);
}

static void json_view_head(struct kt_jw *w, const struct kt_snapshot *s, const struct kt_ing_view *v)
{
	kt_jw_kstr(w, "kind", kt_ing_kind_name(v->kind));
	kt_jw_kstr(w, "namespace", v->meta->namespace ? v->meta->namespace : "default");
	kt_jw_kstr(w, "name", v->meta->name);
	kt_jw_key(w, "class");
	kt_jw_obj(w);
	kt_jw_kstr(w, "kind", v->class_kind);
	kt_jw_kstr(w, "name", v->class_name);
	kt_jw_kstr(w, "controller", v->controller);
	kt_jw_kstr(w, "family", v->family);
	kt_jw_obj_end(w);
	if (v->gateway != KT_NONE) {
		const struct kt_gateway *g = &s->gateways[v->gateway];
		kt_jw_key(w, "gateway");
		kt_jw_obj(w);
		kt_jw_kstr(w, "namespace", g->meta.namespace ? g->meta.namespace : "default");
		kt_jw_kstr(w, "name", g->meta.name);
		kt_jw_key(w, "addresses");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < g->n_addresses; i++)
			kt_jw_str(w, g->addresses[i]);
		kt_jw_arr_end(w);
		kt_jw_obj_end(w);
	}
	kt_jw_kstr(w, "clientIP", cip_name(v->client_ip));
	kt_jw_kstr(w, "clientIPReason", v->client_ip_why);
}

void kt_render_ingress_section_json(struct kt_jw *w, const struct kt_snapshot *s, const struct kt_ing_result *r)
{
	kt_jw_key(w, "ingress");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->n_views; i++) {
		const struct kt_ing_view *v = &r->views[i];
		kt_jw_obj(w);
		json_view_head(w, s, v);
		kt_jw_key(w, "routes");
		kt_jw_arr(w);
		for (uint32_t k = 0; k < v->n_routes; k++)
			json_route(w, s, &v->routes[k], false);
		kt_jw_arr_end(w);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
}

/* ---- `path ingress/NAME`, `path httproute/NAME` ------------------------- */

static const char *zone_of(const struct kt_snapshot *s, uint32_t node_ix)
{
	return node_ix != KT_NONE ? s->nodes[node_ix].zone : NULL;
}

static void text_ctrl(struct kt_cli *c, struct kt_arena *a, const struct kt_snapshot *s, const struct kt_ing_view *v)
{
	printf("\n%s1. Load balancer -> controller Service%s", B(c), R(c));
	if (v->outside)
		printf("  %s: the load balancer is outside the cluster and sends to the backends itself\n", v->family);
	else if (!v->n_ctrl_svcs)
		printf("  %snone in the input%s\n", kt_c(c, KT_C_YELLOW), R(c));
	else
		printf("\n");
	for (uint32_t i = 0; i < v->n_ctrl_svcs; i++) {
		const struct kt_service *sv = &s->services[v->ctrl_svcs[i]];
		printf("   Service %s/%s  %s", V(sv->meta.namespace ? sv->meta.namespace : "default"), V(sv->meta.name),
		       kt_svc_type_name(sv->type));
		if (sv->type == KT_SVC_LOADBALANCER || sv->type == KT_SVC_NODEPORT)
			printf("  externalTrafficPolicy=%s", sv->etp_local ? "Local" : "Cluster");
		for (uint32_t k = 0; k < sv->n_ingress; k++)
			printf("  %s", V(sv->ingress[k].ip ? sv->ingress[k].ip : sv->ingress[k].hostname));
		printf("\n");
	}
	if (v->gateway != KT_NONE) {
		const struct kt_gateway *g = &s->gateways[v->gateway];
		printf("   Gateway %s/%s  listeners:", V(g->meta.namespace ? g->meta.namespace : "default"), V(g->meta.name));
		for (uint32_t k = 0; k < g->n_listeners; k++)
			printf(" %s %s:%d%s%s", V(g->listeners[k].name), V(g->listeners[k].protocol), g->listeners[k].port,
			       g->listeners[k].hostname ? " " : "", g->listeners[k].hostname ? V(g->listeners[k].hostname) : "");
		for (uint32_t k = 0; k < g->n_addresses; k++)
			printf("%s%s", k ? ", " : "  address ", V(g->addresses[k]));
		printf("\n");
	}
	printf("   client address: %s%s%s%s%s\n", v->client_ip == KT_ING_CIP_LOST ? kt_c(c, KT_C_RED) : "",
	       cip_name(v->client_ip), R(c), v->client_ip_why ? ": " : "", v->client_ip_why ? v->client_ip_why : "");
	if (v->ctrl_config) {
		printf("   %scontroller ConfigMap %s/%s:", D(c), V(v->ctrl_config->meta.namespace), V(v->ctrl_config->meta.name));
		for (uint32_t k = 0; k < v->ctrl_config->data.n; k++)
			printf(" %s=%s", V(v->ctrl_config->data.v[k].key), V(v->ctrl_config->data.v[k].value));
		printf("%s\n", R(c));
	}

	printf("\n%s2. Controller Pods%s", B(c), R(c));
	if (!v->n_ctrl_wl && !v->n_ctrl_pods)
		printf("  %snone in the input%s", kt_c(c, KT_C_YELLOW), R(c));
	printf("\n");
	for (uint32_t i = 0; i < v->n_ctrl_wl; i++) {
		char rep[32];
		if (v->ctrl_replicas[i] < 0)
			snprintf(rep, sizeof(rep), "one per node");
		else
			snprintf(rep, sizeof(rep), "%d replica%s", v->ctrl_replicas[i], v->ctrl_replicas[i] == 1 ? "" : "s");
		printf("   %s %s/%s  %s\n", V(v->ctrl_wl[i]->kind), V(v->ctrl_wl[i]->namespace ? v->ctrl_wl[i]->namespace : "default"),
		       V(v->ctrl_wl[i]->name), rep);
	}
	for (uint32_t i = 0; i < v->n_ctrl_pods; i++) {
		const struct kt_pod *p = &s->pods[v->ctrl_pods[i]];
		const char *z = zone_of(s, p->node_ix);
		printf("   %-44s %-16s %-16s %-12s %s%s%s\n", V(p->meta.name), p->n_ips ? V(p->ips[0]) : "-",
		       p->spec.node_name ? V(p->spec.node_name) : "-", z ? V(z) : "-",
		       p->ready ? kt_c(c, KT_C_GREEN) : kt_c(c, KT_C_RED), p->ready ? "ready" : "not-ready", R(c));
	}
}

static void text_backends(struct kt_cli *c, struct kt_arena *a, const struct kt_snapshot *s, const struct kt_ing_view *v)
{
	printf("\n%s3. Routes -> backend Services%s\n", B(c), R(c));
	for (uint32_t k = 0; k < v->n_routes; k++) {
		const struct kt_ing_route *x = &v->routes[k];
		printf("   %s%s %s -> Service %s/%s port %s", x->host ? V(x->host) : "*", x->tls ? " (TLS)" : "", V(x->match),
		       V(x->svc_ns ? x->svc_ns : "default"), V(x->svc_name), port_str(a, &x->port));
		if (x->weight != 1 && v->kind != KT_ING_INGRESS)
			printf(" weight %d", x->weight);
		if (x->svc == KT_NONE)
			printf("  %s(no such Service)%s", kt_c(c, KT_C_RED), R(c));
		printf("\n     %s%s%s\n", D(c), V(x->balance_why), R(c));
	}
	printf("\n%s4. Backend Pods%s\n", B(c), R(c));
	for (uint32_t k = 0; k < v->n_routes; k++) {
		const struct kt_ing_route *x = &v->routes[k];
		bool dup = false;
		for (uint32_t j = 0; j < k; j++)
			dup = dup || v->routes[j].svc == x->svc;
		if (dup || x->svc == KT_NONE)
			continue;
		const struct kt_service *sv = &s->services[x->svc];
		uint32_t ready = 0;
		for (uint32_t i = 0; i < sv->ep_count; i++)
			ready += s->endpoints[sv->ep_first + i].ready;
		printf("   Service %s/%s: %u endpoint%s, %u ready\n", V(sv->meta.namespace ? sv->meta.namespace : "default"),
		       V(sv->meta.name), sv->ep_count, sv->ep_count == 1 ? "" : "s", ready);
		for (uint32_t i = 0; i < sv->ep_count; i++) {
			const struct kt_endpoint *e = &s->endpoints[sv->ep_first + i];
			char addr[96];
			snprintf(addr, sizeof(addr), "%s:%d", V(e->ip), e->port);
			printf("     %-26s %s%-11s%s %-16s %s\n", addr, e->ready ? kt_c(c, KT_C_GREEN) : kt_c(c, KT_C_YELLOW),
			       e->ready ? "ready" : e->terminating ? "terminating" : "not-ready", R(c), e->node ? V(e->node) : "-",
			       e->target_name ? V(e->target_name) : "-");
		}
	}
}

int kt_render_ingress_path_text(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_ing_result *r)
{
	struct kt_arena *a = kt_arena_new();
	const struct kt_ing_view *v = &r->views[0];
	printf("%s%s %s/%s%s  %s\n", B(c), kt_ing_kind_name(v->kind), V(v->meta->namespace ? v->meta->namespace : "default"),
	       V(v->meta->name), R(c), class_str(a, v));
	if (s->source && strcmp(s->source, "api"))
		printf("%s(from %s%s%s)%s\n", D(c), V(s->source), s->origin && strcmp(s->origin, s->source) ? " " : "",
		       s->origin && strcmp(s->origin, s->source) ? V(s->origin) : "", R(c));
	kt_render_incomplete(c, stdout, s);
	text_ctrl(c, a, s, v);
	text_backends(c, a, s, v);
	uint32_t shown = 0;
	for (uint32_t i = 0; i < r->findings.n; i++)
		shown += !r->findings.v[i].suppressed;
	printf("\n%sFindings%s (%u)\n", B(c), R(c), shown);
	if (!shown)
		printf("   none\n");
	kt_render_findings_text(c, stdout, &r->findings, "   ");
	for (uint32_t i = 0; i < r->findings.n_gaps; i++)
		printf("%snot checked: %s: %s%s\n", D(c), V(r->findings.gaps[i].what), V(r->findings.gaps[i].why), R(c));
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (!s->gaps[i].recorded)
			printf("%snot collected: %s: %s%s\n", D(c), V(s->gaps[i].what), V(s->gaps[i].why), R(c));
	kt_render_recorded_gaps(c, stdout, s);
	kt_arena_free(a);
	return 0;
}

static void json_ctrl(struct kt_jw *w, const struct kt_snapshot *s, const struct kt_ing_view *v)
{
	kt_jw_key(w, "controller");
	kt_jw_obj(w);
	kt_jw_kstr(w, "family", v->family);
	kt_jw_kbool(w, "outside", v->outside);
	kt_jw_key(w, "services");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < v->n_ctrl_svcs; i++) {
		const struct kt_service *sv = &s->services[v->ctrl_svcs[i]];
		kt_jw_obj(w);
		kt_jw_kstr(w, "namespace", sv->meta.namespace);
		kt_jw_kstr(w, "name", sv->meta.name);
		kt_jw_kstr(w, "type", kt_svc_type_name(sv->type));
		kt_jw_kstr(w, "externalTrafficPolicy", sv->type == KT_SVC_LOADBALANCER || sv->type == KT_SVC_NODEPORT
								? (sv->etp_local ? "Local" : "Cluster") : NULL);
		kt_jw_key(w, "ingress");
		kt_jw_arr(w);
		for (uint32_t k = 0; k < sv->n_ingress; k++)
			kt_jw_str(w, sv->ingress[k].ip ? sv->ingress[k].ip : sv->ingress[k].hostname);
		kt_jw_arr_end(w);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_key(w, "workloads");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < v->n_ctrl_wl; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "kind", v->ctrl_wl[i]->kind);
		kt_jw_kstr(w, "namespace", v->ctrl_wl[i]->namespace);
		kt_jw_kstr(w, "name", v->ctrl_wl[i]->name);
		if (v->ctrl_replicas[i] >= 0)
			kt_jw_kint(w, "replicas", v->ctrl_replicas[i]);
		else
			kt_jw_knull(w, "replicas");
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_key(w, "pods");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < v->n_ctrl_pods; i++) {
		const struct kt_pod *p = &s->pods[v->ctrl_pods[i]];
		kt_jw_obj(w);
		kt_jw_kstr(w, "name", p->meta.name);
		kt_jw_kstr(w, "ip", p->n_ips ? p->ips[0] : NULL);
		kt_jw_kstr(w, "node", p->spec.node_name);
		kt_jw_kstr(w, "zone", zone_of(s, p->node_ix));
		kt_jw_kbool(w, "ready", p->ready);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_key(w, "config");
	if (v->ctrl_config) {
		kt_jw_obj(w);
		for (uint32_t k = 0; k < v->ctrl_config->data.n; k++)
			kt_jw_kstr(w, v->ctrl_config->data.v[k].key, v->ctrl_config->data.v[k].value);
		kt_jw_obj_end(w);
	} else {
		kt_jw_null(w);
	}
	kt_jw_obj_end(w);
}

int kt_render_ingress_path_json(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_ing_result *r)
{
	const struct kt_ing_view *v = &r->views[0];
	struct kt_jw *w = kt_cli_jw(c, stdout, true); /* JSON or YAML */
	kt_jw_obj(w);
	json_view_head(w, s, v);
	json_ctrl(w, s, v);
	kt_jw_key(w, "routes");
	kt_jw_arr(w);
	for (uint32_t k = 0; k < v->n_routes; k++)
		json_route(w, s, &v->routes[k], true);
	kt_jw_arr_end(w);
	kt_jw_key(w, "findings");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->findings.n; i++)
		if (!r->findings.v[i].suppressed)
			kt_render_finding_json(w, &r->findings.v[i], true);
	kt_jw_arr_end(w);
	kt_render_incomplete_json(w, s);
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
