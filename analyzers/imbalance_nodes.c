/*
 * Connection imbalance over several nodes (`imbalance --nodes`): how the
 * connections of one Service split over the nodes that balanced them (per
 * backend, each node's open connections: counted by the summed analysis
 * when it was asked to, else from each node's own sample and node state
 * through kt_imbalance_analyze), the measured cross-node share
 * (connections whose backend runs on another node than the one that
 * balanced them) and the share the model of KT102 expects (each node
 * spreads evenly over every ready endpoint). The expected-hop model is
 * shared with KT102 (analyzers/rules_svc.c). Pure: no I/O; results in the
 * caller's arena.
 */
#include <stdlib.h>
#include <string.h>

#include "ktrace/imbalance.h"
#include "ktrace/xalloc.h"

uint32_t kt_ready_per_node(const struct kt_snapshot *s, uint32_t svc, uint32_t *cnt)
{
	if (svc == KT_NONE || svc >= s->n_services)
		return 0;
	const struct kt_service *sv = &s->services[svc];
	const char *pname = NULL, *last_ip = NULL;
	uint32_t n = 0;
	for (uint32_t i = sv->ep_first; i < sv->ep_first + sv->ep_count && i < s->n_endpoints; i++) {
		const struct kt_endpoint *ep = &s->endpoints[i];
		if (!pname)
			pname = ep->port_name ? ep->port_name : "";
		if (strcmp(pname, ep->port_name ? ep->port_name : ""))
			continue;   /* the first port only */
		if (!ep->ready)
			continue;
		if (last_ip && ep->ip && !strcmp(last_ip, ep->ip))
			continue;   /* one address, several ports */
		last_ip = ep->ip;
		n++;
		if (ep->node_ix != KT_NONE && ep->node_ix < s->n_nodes)
			cnt[ep->node_ix]++;
	}
	return n;
}

double kt_hop_share(const uint32_t *cnt, uint32_t total, const double *weight, uint32_t n_nodes)
{
	double sum = 0, w = 0;
	if (!total)
		return -1;
	for (uint32_t i = 0; i < n_nodes; i++) {
		if (weight[i] <= 0)
			continue;
		sum += weight[i] * (1.0 - (double)cnt[i] / (double)total);
		w += weight[i];
	}
	return w > 0 ? sum / w : -1;
}

/* sv's backends sorted by (port, ip) for matching the nodes' rows */
struct be_ix {
	const char *ip;
	int32_t port;
	uint32_t ix;
};

static int be_ix_cmp(const void *a, const void *b)
{
	const struct be_ix *x = a, *y = b;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->ip, y->ip);
}

/* Expected cross-node share for sv given how many connections each node
 * balanced (the weights): KT102's model. */
static double expected_share(const struct kt_snapshot *objs, const struct kt_imb_service *sv,
			     const char *const *nodes, const uint32_t *per_node, uint32_t n_nodes, struct kt_arena *a)
{
	if (sv->svc == KT_NONE || !objs->n_nodes)
		return -1;
	uint32_t *cnt = KT_ANEW(a, uint32_t, objs->n_nodes + 1);
	double *w = KT_ANEW(a, double, objs->n_nodes + 1);
	uint32_t total = kt_ready_per_node(objs, sv->svc, cnt);
	for (uint32_t i = 0; i < n_nodes; i++) {
		uint32_t ni = nodes[i] ? kt_find_node(objs, nodes[i]) : KT_NONE;
		if (ni != KT_NONE)
			w[ni] += per_node[i];
	}
	return kt_hop_share(cnt, total, w, objs->n_nodes);
}

int kt_imb_node_split(const struct kt_snapshot *objs, const struct kt_flow_sample *const *samples,
		      const char *const *nodes, uint32_t n_nodes, const struct kt_imb_service *sv,
		      const struct kt_imb_opts *o, struct kt_arena *a, struct kt_imb_split *out)
{
	memset(out, 0, sizeof(*out));
	out->n_be = sv->n_be;
	out->n_nodes = n_nodes;
	out->conns = KT_ANEW(a, uint32_t, (size_t)sv->n_be * n_nodes + 1);
	out->per_node = KT_ANEW(a, uint32_t, n_nodes + 1);
	out->expected = -1;
	struct be_ix *ix = kt_xcalloc(sv->n_be + 1, sizeof(*ix));
	for (uint32_t b = 0; b < sv->n_be; b++)
		ix[b] = (struct be_ix){sv->be[b].ip, sv->be[b].port, b};
	if (sv->n_be > 1)
		qsort(ix, sv->n_be, sizeof(*ix), be_ix_cmp);
	struct kt_imb_opts no = *o;
	no.ns = sv->namespace ? sv->namespace : "";
	no.name = sv->name;
	no.all_services = false;
	bool counted = !sv->connections;   /* nothing to split */
	for (uint32_t b = 0; b < sv->n_be; b++)
		counted |= sv->be[b].node_conns != NULL;
	for (uint32_t b = 0; counted && b < sv->n_be; b++) {
		/* the summed analysis counted per node: the same frontends as
		 * the row, so each backend's nodes add up to its connections */
		const uint32_t *nc = sv->be[b].node_conns;
		for (uint32_t i = 0; nc && i < n_nodes; i++) {
			out->conns[(size_t)b * n_nodes + i] = nc[i];
			out->per_node[i] += nc[i];
			if (sv->be[b].node && nodes[i] && nc[i]) {
				out->known += nc[i];
				out->cross += strcmp(sv->be[b].node, nodes[i]) ? nc[i] : 0;
			}
		}
	}
	for (uint32_t i = 0; !counted && i < n_nodes; i++) {
		if (!samples[i])
			continue;
		struct kt_arena *t = kt_arena_new();
		struct kt_imb_result *r = NULL;
		no.node = nodes[i];
		kt_imbalance_analyze(objs, samples[i], NULL, &no, t, &r);
		for (uint32_t k = 0; r && k < r->n_svcs; k++)
			for (uint32_t b = 0; b < r->svcs[k].n_be; b++) {
				const struct kt_imb_backend *be = &r->svcs[k].be[b];
				if (!be->connections)
					continue;
				struct be_ix key = {be->ip, be->port, 0};
				const struct be_ix *hit = bsearch(&key, ix, sv->n_be, sizeof(*ix), be_ix_cmp);
				out->per_node[i] += be->connections;
				if (!hit)
					continue;   /* a backend the summed row does not have */
				out->conns[(size_t)hit->ix * n_nodes + i] += be->connections;
				const char *bn = sv->be[hit->ix].node;
				if (bn && nodes[i]) {
					out->known += be->connections;
					out->cross += strcmp(bn, nodes[i]) ? be->connections : 0;
				}
			}
		kt_arena_free(t);
	}
	free(ix);
	out->measured = out->known ? (double)out->cross / out->known : -1;
	out->expected = expected_share(objs, sv, nodes, out->per_node, n_nodes, a);
	return 0;
}
