/*
 * The fleet model (include/ktrace/fleet.h): the majority node state once,
 * per-node deviations, and the expansion that gives every node its full
 * view in snap->dp for the analyzers. The view shares the majority's and
 * the deviations' arrays (shallow struct copies): memory grows with nodes
 * x Services only by one small struct per entry, and nothing here reads,
 * decides or prints anything; the agents' client (collectors/agent/
 * fleet_client.c) and the bundle reader fill it.
 */
#include <stdlib.h>
#include <string.h>

#include "ktrace/fleet.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

struct kt_fleet *kt_fleet_new(struct kt_snapshot *snap)
{
	struct kt_fleet *f = KT_ANEW(snap->arena, struct kt_fleet, 1);
	memset(f, 0, sizeof(*f));
	f->majority.node = "";
	f->majority.source = "fleet majority";
	snap->fleet = f;
	return f;
}

struct kt_fleet_node *kt_fleet_add_node(struct kt_fleet *f, struct kt_snapshot *snap, const char *node)
{
	struct kt_fleet_node *n = kt_grow(&f->nodes, &f->n_nodes, &f->cap_nodes, sizeof(*f->nodes));
	n->node = kt_intern(snap->arena, node);
	n->dev.node = n->node;
	return n;
}

void kt_fleet_free(struct kt_fleet *f)
{
	if (!f)
		return;
	free(f->majority.svcs);
	for (uint32_t i = 0; i < f->n_nodes; i++)
		free(f->nodes[i].dev.svcs);
	free(f->nodes);
	f->nodes = NULL;
	f->majority.svcs = NULL;
	f->n_nodes = f->cap_nodes = 0;
}

static bool same_svc(const struct kt_dp_service *s, const char *ns, const char *name)
{
	return !kt_strcmp0(s->namespace ? s->namespace : "", ns ? ns : "") && !kt_strcmp0(s->name, name);
}

bool kt_fleet_deviates(const struct kt_fleet_node *fn, const char *ns, const char *name)
{
	for (uint32_t i = 0; i < fn->dev.n_svcs; i++)
		if (same_svc(&fn->dev.svcs[i], ns, name))
			return true;
	for (uint32_t i = 0; i < fn->n_absent; i++) {
		const char *k = fn->absent[i], *sl = strchr(k, '/');
		if (sl && !strcmp(sl + 1, name) && (size_t)(sl - k) == strlen(ns ? ns : "") && !strncmp(k, ns ? ns : "", (size_t)(sl - k)))
			return true;
	}
	return false;
}

static int svc_cmp(const void *x, const void *y)
{
	const struct kt_dp_service *a = x, *b = y;
	int c = kt_strcmp0(a->namespace ? a->namespace : "", b->namespace ? b->namespace : "");
	if (!c)
		c = kt_strcmp0(a->name, b->name);
	if (!c)
		c = kt_strcmp0(a->port_name, b->port_name);
	if (!c)
		c = (int)a->mode - (int)b->mode;
	return c;
}

void kt_fleet_expand(struct kt_snapshot *snap)
{
	struct kt_fleet *f = snap->fleet;
	if (!f)
		return;
	const struct kt_dp_node *m = &f->majority;
	for (uint32_t i = 0; i < f->n_nodes; i++) {
		const struct kt_fleet_node *fn = &f->nodes[i];
		/* replace an entry of the same name (expanding twice) */
		for (uint32_t k = 0; k < snap->n_dp; k++)
			if (!kt_strcmp0(snap->dp[k].node, fn->node)) {
				free(snap->dp[k].svcs);
				snap->dp[k] = snap->dp[--snap->n_dp];
				break;
			}
		struct kt_dp_node *dn = KT_SNAP_PUSH(snap, dp);
		*dn = fn->dev;
		dn->svcs = NULL;
		dn->n_svcs = dn->cap_svcs = 0;
		uint32_t cap = m->n_svcs + fn->dev.n_svcs;
		dn->svcs = kt_xcalloc(cap ? cap : 1, sizeof(*dn->svcs));
		dn->cap_svcs = cap;
		for (uint32_t k = 0; k < m->n_svcs; k++) {
			const struct kt_dp_service *s = &m->svcs[k];
			/* consecutive ports of one Service: one lookup each (small n) */
			if (!kt_fleet_deviates(fn, s->namespace, s->name))
				dn->svcs[dn->n_svcs++] = *s;
		}
		for (uint32_t k = 0; k < fn->dev.n_svcs; k++)
			dn->svcs[dn->n_svcs++] = fn->dev.svcs[k];
		qsort(dn->svcs, dn->n_svcs, sizeof(*dn->svcs), svc_cmp);
		dn->modes = fn->dev.modes ? fn->dev.modes : m->modes;
	}
	snap->finished = false;
}
