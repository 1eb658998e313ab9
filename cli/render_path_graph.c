/*
 * `ktrace path -o dot` and `-o mermaid`: the path of one Service as a
 * graph for incident documents: entry (cloud LB, NodePort or ClusterIP)
 * -> nodes -> each node's rules -> Pods, edges labelled with the share of
 * traffic, SNAT (external clients' source IP lost) and hop (the Pod runs
 * on another node). Built once from the path result (the programmed
 * dataplane's probabilities where a node's rules were read, else the
 * even split kube-proxy gives over the ready endpoints) into a small
 * vertex/edge list, then written as Graphviz DOT or Mermaid from that one
 * list, so both always hold the same graph. Labels are visible-safe and
 * quoted for each language. Writes only to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ktrace/dataplane.h"
#include "ktrace/path.h"
#include "ktrace/xalloc.h"

struct gvert {
	char id[80];             /* stable: "lb", "node/NAME", "rules/NAME", "pod/IP" */
	char label[400];         /* lines separated by '\n' */
	bool dim;                /* not on the path (e.g. a node the LB does not target) */
};

struct gedge {
	uint32_t from, to;
	char label[160];
	bool dashed;
};

struct graph {
	struct gvert *v;
	uint32_t n_v, cap_v;
	struct gedge *e;
	uint32_t n_e, cap_e;
};

static uint32_t vert(struct graph *g, const char *id, bool dim, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static uint32_t vert(struct graph *g, const char *id, bool dim, const char *fmt, ...)
{
	for (uint32_t i = 0; i < g->n_v; i++)
		if (!strcmp(g->v[i].id, id))
			return i;
	kt_grow(&g->v, &g->n_v, &g->cap_v, sizeof(*g->v));
	struct gvert *x = &g->v[g->n_v - 1];
	memset(x, 0, sizeof(*x));
	snprintf(x->id, sizeof(x->id), "%s", id);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->label, sizeof(x->label), fmt, ap);
	va_end(ap);
	x->dim = dim;
	return g->n_v - 1;
}

static void edge(struct graph *g, uint32_t from, uint32_t to, bool dashed, const char *label)
{
	kt_grow(&g->e, &g->n_e, &g->cap_e, sizeof(*g->e));
	struct gedge *x = &g->e[g->n_e - 1];
	x->from = from;
	x->to = to;
	x->dashed = dashed;
	snprintf(x->label, sizeof(x->label), "%s", label);
}

static void pct(char *buf, size_t n, double share)
{
	if (share >= 0.0995)
		snprintf(buf, n, "%.0f%%", share * 100);
	else
		snprintf(buf, n, "%.1f%%", share * 100);
}

/* The Pod vertex of an endpoint address. */
static uint32_t pod_vert(struct graph *g, const struct kt_snapshot *s, const struct kt_endpoint *e)
{
	char id[80];
	snprintf(id, sizeof(id), "pod/%s", e->ip);
	(void)s;
	return vert(g, id, false, "Pod %s\n%s%s%s", e->target_name ? e->target_name : "(no Pod)", e->ip,
		    e->node ? " on " : "", e->node ? e->node : "");
}

static const struct kt_endpoint *ep_by_addr(const struct kt_snapshot *s, const struct kt_path_result *r,
					    const char *ip)
{
	for (uint32_t i = 0; i < r->n_eps; i++)
		if (!strcmp(s->endpoints[r->eps[i]].ip, ip))
			return &s->endpoints[r->eps[i]];
	return NULL;
}

/* Edges from one node's rules to the Pods: the programmed backends when
 * the node's rules were read, else kube-proxy's even split over the ready
 * endpoints (node-local ones only under externalTrafficPolicy Local). */
static void rule_edges(struct graph *g, const struct kt_snapshot *s, const struct kt_path_result *r,
		       const struct kt_service *svc, uint32_t rules, const char *node, bool external)
{
	const struct kt_dp_service *d = NULL;
	for (uint32_t i = 0; i < r->n_dp && node; i++)
		if (!strcmp(r->dp[i].node->node, node)) {
			d = r->dp[i].svc;
			break;
		}
	bool snat = external && (d ? d->masquerade : !svc->etp_local);
	char lab[160], p[16];
	if (d) {
		const struct kt_dp_backend *be = external ? d->ext_be : d->be;
		uint32_t n = external ? d->n_ext_be : d->n_be;
		for (uint32_t i = 0; i < n; i++) {
			const struct kt_endpoint *e = ep_by_addr(s, r, be[i].ip);
			char id[80];
			uint32_t to;
			if (e) {
				to = pod_vert(g, s, e);
			} else {
				snprintf(id, sizeof(id), "pod/%s", be[i].ip);
				to = vert(g, id, false, "%s\n(no EndpointSlice lists it)", be[i].ip);
			}
			pct(p, sizeof(p), be[i].probability);
			snprintf(lab, sizeof(lab), "%s%s%s", p, snat ? " SNAT" : "", !be[i].local ? " hop" : "");
			edge(g, rules, to, false, lab);
		}
		return;
	}
	/* the even split over ready endpoint addresses (first port) */
	const char *first_pn = r->n_eps ? s->endpoints[r->eps[0]].port_name : "";
	uint32_t n = 0;
	bool local_only = external && svc->etp_local;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < r->n_eps; i++) {
			const struct kt_endpoint *e = &s->endpoints[r->eps[i]];
			if (!e->ready || strcmp(e->port_name, first_pn))
				continue;
			bool local = node && e->node && !strcmp(e->node, node);
			if (local_only && !local)
				continue;
			if (!pass) {
				n++;
				continue;
			}
			pct(p, sizeof(p), 1.0 / n);
			snprintf(lab, sizeof(lab), "%s%s%s", p, snat ? " SNAT" : "", node && !local ? " hop" : "");
			edge(g, rules, pod_vert(g, s, e), false, lab);
		}
		if (!n)
			break;
	}
}

static void build(struct graph *g, const struct kt_snapshot *s, const struct kt_path_result *r)
{
	const struct kt_service *svc = &s->services[r->svc];
	const struct kt_svc_port *p0 = svc->n_ports ? &svc->ports[0] : NULL;
	char lab[160];
	uint32_t entry;
	if (svc->type == KT_SVC_EXTERNALNAME) {
		entry = vert(g, "entry", false, "ExternalName Service\nDNS only, no proxying");
		edge(g, entry, vert(g, "dns", false, "%s", svc->external_name ? svc->external_name : "?"), false, "CNAME");
		return;
	}
	if (svc->type == KT_SVC_LOADBALANCER) {
		const char *ing = svc->n_ingress ? (svc->ingress[0].ip ? svc->ingress[0].ip : svc->ingress[0].hostname)
						 : "(pending)";
		entry = vert(g, "lb", false, "Load balancer %s%s\n%s", r->lb_kind ? r->lb_kind : "",
			     r->lb_internal ? ", internal" : "", ing ? ing : "");
	} else if (svc->type == KT_SVC_NODEPORT) {
		entry = vert(g, "entry", false, "NodePort %d\nany node address", p0 ? p0->node_port : 0);
	} else {
		entry = vert(g, "entry", false, "ClusterIP %s:%d\nclients in the cluster",
			     svc->n_cluster_ips ? svc->cluster_ips[0] : "None", p0 ? p0->port : 0);
	}
	bool lb_pods = svc->type == KT_SVC_LOADBALANCER && r->lb_target == KT_LBT_PODS;
	bool via_nodes = (svc->type == KT_SVC_LOADBALANCER && !lb_pods) || svc->type == KT_SVC_NODEPORT;
	if (lb_pods) {
		/* the LB sends to Pod IPs itself: no node, no rules */
		uint32_t n = 0;
		for (uint32_t i = 0; i < r->n_eps; i++)
			n += s->endpoints[r->eps[i]].ready;
		for (uint32_t i = 0; i < r->n_eps; i++) {
			const struct kt_endpoint *e = &s->endpoints[r->eps[i]];
			if (!e->ready)
				continue;
			pct(lab, sizeof(lab), 1.0 / n);
			edge(g, entry, pod_vert(g, s, e), false, lab);
		}
		return;
	}
	if (!via_nodes) {
		/* ClusterIP: each node's rules send its own clients' connections;
		 * with no node state read, one box stands for every node */
		if (!r->n_dp) {
			uint32_t rules = vert(g, "rules", false, "Service rules (%s)\nany node", r->mode ? r->mode : "unknown");
			edge(g, entry, rules, false, "");
			rule_edges(g, s, r, svc, rules, NULL, false);
			return;
		}
		for (uint32_t i = 0; i < r->n_dp; i++) {
			char id[80];
			snprintf(id, sizeof(id), "rules/%s", r->dp[i].node->node);
			uint32_t rules = vert(g, id, false, "node %s rules\n%s", r->dp[i].node->node,
					      kt_dp_mode_name(r->dp[i].svc->mode));
			edge(g, entry, rules, false, "");
			rule_edges(g, s, r, svc, rules, r->dp[i].node->node, false);
		}
		return;
	}
	for (uint32_t i = 0; i < r->n_nodes; i++) {
		const struct kt_path_node *pn = &r->nodes[i];
		const struct kt_node *n = &s->nodes[pn->node];
		char id[80];
		snprintf(id, sizeof(id), "node/%s", n->meta.name);
		uint32_t nv = vert(g, id, !pn->lb_target, "node %s\n%s", n->meta.name, n->zone ? n->zone : "");
		if (!pn->lb_target) {
			edge(g, entry, nv, true, "not a target");
			continue;
		}
		pct(lab, sizeof(lab), r->n_lb_targets ? 1.0 / r->n_lb_targets : 0);
		edge(g, entry, nv, false, lab);
		bool programmed = false;
		for (uint32_t k = 0; k < r->n_dp; k++)
			programmed |= !strcmp(r->dp[k].node->node, n->meta.name);
		snprintf(id, sizeof(id), "rules/%s", n->meta.name);
		uint32_t rules = vert(g, id, false, "%s rules\n%s", r->mode ? r->mode : "unknown",
				      programmed ? "read on the node" : "expected (not read)");
		snprintf(lab, sizeof(lab), "NodePort %d", p0 ? p0->node_port : 0);
		edge(g, nv, rules, false, lab);
		rule_edges(g, s, r, svc, rules, n->meta.name, true);
	}
}

/* ---- writers ------------------------------------------------------------- */

/* DOT string body: visible-safe, quotes and backslashes escaped, '\n' as
 * the DOT line break. */
static void dot_str(struct kt_cli *c, const char *s)
{
	const char *v = kt_cv(c, s);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			putchar('\\');
		putchar(*v);
	}
}

static void dot_label(struct kt_cli *c, const char *label)
{
	/* split at our own '\n' first: kt_cv() would escape it */
	const char *p = label;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char part[400];
		snprintf(part, sizeof(part), "%.*s", (int)n, p);
		dot_str(c, part);
		if (!nl)
			break;
		fputs("\\n", stdout);
		p = nl + 1;
	}
}

static void write_dot(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r,
		      const struct graph *g)
{
	const struct kt_service *svc = &s->services[r->svc];
	fputs("digraph \"", stdout);
	dot_str(c, svc->meta.namespace);
	putchar('/');
	dot_str(c, svc->meta.name);
	fputs("\" {\n\trankdir=LR;\n\tnode [shape=box, fontname=\"Helvetica\"];\n"
	      "\tedge [fontname=\"Helvetica\", fontsize=10];\n", stdout);
	for (uint32_t i = 0; i < g->n_v; i++) {
		fputs("\t\"", stdout);
		dot_str(c, g->v[i].id);
		fputs("\" [label=\"", stdout);
		dot_label(c, g->v[i].label);
		printf("\"%s];\n", g->v[i].dim ? ", style=dashed, fontcolor=gray40" : "");
	}
	for (uint32_t i = 0; i < g->n_e; i++) {
		fputs("\t\"", stdout);
		dot_str(c, g->v[g->e[i].from].id);
		fputs("\" -> \"", stdout);
		dot_str(c, g->v[g->e[i].to].id);
		fputs("\" [label=\"", stdout);
		dot_label(c, g->e[i].label);
		printf("\"%s];\n", g->e[i].dashed ? ", style=dashed" : "");
	}
	fputs("}\n", stdout);
}

/* Mermaid text: visible-safe; characters that end a label or start
 * markup become entity codes (#quot; #124; #lt; #gt; #35;). */
static void mm_str(struct kt_cli *c, const char *s)
{
	const char *v = kt_cv(c, s);
	for (; *v; v++) {
		switch (*v) {
		case '"': fputs("#quot;", stdout); break;
		case '|': fputs("#124;", stdout); break;
		case '<': fputs("#lt;", stdout); break;
		case '>': fputs("#gt;", stdout); break;
		case '#': fputs("#35;", stdout); break;
		default: putchar(*v);
		}
	}
}

static void mm_label(struct kt_cli *c, const char *label)
{
	const char *p = label;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char part[400];
		snprintf(part, sizeof(part), "%.*s", (int)n, p);
		mm_str(c, part);
		if (!nl)
			break;
		fputs("<br/>", stdout);
		p = nl + 1;
	}
}

static void write_mermaid(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r,
			  const struct graph *g)
{
	const struct kt_service *svc = &s->services[r->svc];
	fputs("---\ntitle: \"Service ", stdout);
	mm_str(c, svc->meta.namespace);
	putchar('/');
	mm_str(c, svc->meta.name);
	fputs("\"\n---\nflowchart LR\n", stdout);
	for (uint32_t i = 0; i < g->n_v; i++) {
		printf("  n%u[\"", i);
		mm_label(c, g->v[i].label);
		fputs("\"]\n", stdout);
	}
	for (uint32_t i = 0; i < g->n_e; i++) {
		printf("  n%u %s", g->e[i].from, g->e[i].dashed ? "-.->" : "-->");
		if (g->e[i].label[0]) {
			fputs("|\"", stdout);
			mm_label(c, g->e[i].label);
			fputs("\"|", stdout);
		}
		printf(" n%u\n", g->e[i].to);
	}
	for (uint32_t i = 0; i < g->n_v; i++)
		if (g->v[i].dim)
			printf("  style n%u stroke-dasharray: 4 4,color:#888\n", i);
}

int kt_path_render_graph(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r)
{
	struct graph g;
	memset(&g, 0, sizeof(g));
	build(&g, s, r);
	if (c->out == KT_OUT_MERMAID)
		write_mermaid(c, s, r, &g);
	else
		write_dot(c, s, r, &g);
	free(g.v);
	free(g.e);
	return 0;
}
