/*
 * The ktrace agents' client (`--nodes`): one node-source row of the source
 * layer. It lists the selected Nodes and the agent Pods and reads the
 * token Secret through the API (fleet_discover.c), asks every selected
 * agent concurrently through the API server's Pod proxy (fleet_xfer.c),
 * and stores node states by difference: per-Service digests from every
 * node first, the majority per Service, then full entries only where a
 * node differs (fleet_majority.c); snap->fleet gets the majority once and
 * per-node deviations (ktrace/fleet.h). This file runs the whole read and
 * keeps what discovery found (agent Pods, token) for the dashboard's
 * refreshes (kt_fleet_flows).
 *
 * Partial answers: a node without an agent, whose agent is not ready, too
 * slow, failing or answering for another node is a gap naming the node
 * and the reason. Prints nothing (kt_log at -v); the decoders of the
 * answers are collectors/agent/agent_json.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/agent/fleet_int.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

static int run(struct fc *x)
{
	int rc = kt_fc_discover(x);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < x->nn; i++)
		if (!x->n[i].has_agent)
			kt_log(1, "node %s has no ktrace agent Pod", x->n[i].name);
	if ((rc = kt_fc_ask_digests(x)) < 0)
		return rc;
	uint32_t answered = 0, asked = 0;
	for (uint32_t i = 0; i < x->nn; i++) {
		answered += x->n[i].ok || (!x->o->dataplane && !x->n[i].gap);
		asked += x->n[i].has_agent && !x->n[i].not_ready;
	}
	if (x->n_401 && x->n_401 == asked) {
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "every ktrace agent (%u) rejected the token of Secret %s", asked, x->secret);
		kt_diag_hint(x->d, "the agents read the token from that Secret when they start or it changes; if it was "
				   "just rotated, wait a few seconds; otherwise check the agents' --token-file mount");
		return -KT_EXIT_CLUSTER;
	}
	x->f->n_asked = x->nn;
	if (!x->o->dataplane)
		return 0;
	return kt_fc_entries(x, answered);
}

static int agent_cmp(const void *p, const void *q)
{
	return strcmp(((const struct kt_fleet_agent *)p)->node, ((const struct kt_fleet_agent *)q)->node);
}

/* What discovery found, for kt_fleet_flows(): the token moves over. */
static struct kt_fleet_agents *keep_agents(struct fc *x)
{
	struct kt_fleet_agents *ag = kt_xcalloc(1, sizeof(*ag));
	ag->a = kt_arena_new();
	ag->ns = kt_arena_strdup(ag->a, x->o->ns);
	ag->secret = kt_arena_strdup(ag->a, x->secret);
	ag->timeout_ms = x->o->timeout_ms;
	ag->tokhdr = x->tokhdr;
	x->tokhdr = NULL;
	ag->v = KT_ANEW(ag->a, struct kt_fleet_agent, x->nn + 1);
	for (uint32_t i = 0; i < x->nn; i++) {
		const struct fnode *n = &x->n[i];
		struct kt_fleet_agent *v = &ag->v[ag->n++];
		v->node = kt_arena_strdup(ag->a, n->name);
		v->port = n->port;
		if (!n->has_agent)
			v->why = kt_arena_printf(ag->a, "no ktrace agent Pod on this node (namespace '%s', selector %s)",
						 x->o->ns, x->o->selector);
		else if (n->not_ready)
			v->why = kt_arena_strdup(ag->a, n->not_ready);
		else
			v->pod = kt_arena_strdup(ag->a, n->pod);
	}
	if (ag->n > 1)
		qsort(ag->v, ag->n, sizeof(*ag->v), agent_cmp);
	return ag;
}

void kt_fleet_agents_free(struct kt_fleet_agents *ag)
{
	if (!ag)
		return;
	if (ag->tokhdr) {
		kt_fc_wipe(ag->tokhdr, strlen(ag->tokhdr));
		free(ag->tokhdr);
	}
	kt_arena_free(ag->a);
	free(ag);
}

int kt_fleet_load(struct kt_kube *k, const struct kt_fleet_opts *o, struct kt_snapshot *snap, struct kt_diag *d)
{
	struct kt_fleet_opts oo = *o;
	if (!oo.ns)
		oo.ns = KT_AGENT_NAMESPACE;
	if (!oo.selector)
		oo.selector = KT_AGENT_SELECTOR;
	if (!oo.timeout_ms)
		oo.timeout_ms = 10000;
	if (!oo.nodes || !*oo.nodes)
		return kt_diag_set(d, KT_EXIT_USAGE, "--nodes needs all, NAME[,NAME...] or LABEL=VALUE");
	if (!kt_fc_url_safe(oo.ns, 63))
		return kt_diag_set(d, KT_EXIT_USAGE, "invalid --agent-namespace '%s'", oo.ns);
	struct fc x = {.k = k, .o = &oo, .s = snap, .d = d, .a = kt_arena_new()};
	x.secret = kt_arena_printf(x.a, "%s/%s", oo.ns, KT_AGENT_SECRET);
	x.f = kt_fleet_new(snap);
	x.f->agent_namespace = kt_intern(snap->arena, oo.ns);
	int rc = run(&x);
	if (rc == 0 && o->keep && x.tokhdr) {
		kt_fleet_agents_free(*o->keep);
		*o->keep = keep_agents(&x);
	}
	if (x.tokhdr) {
		kt_fc_wipe(x.tokhdr, strlen(x.tokhdr));
		free(x.tokhdr);
	}
	free(x.n);
	kt_arena_free(x.a);
	return rc;
}
