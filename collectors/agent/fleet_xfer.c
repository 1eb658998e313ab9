/*
 * The fleet client's transfers (`--nodes`): one GET per node to its agent
 * through the API server's Pod proxy (/api/v1/namespaces/NS/pods/
 * POD:PORT/proxy/...) on the API client's request engine
 * (kt_kube_get_many: concurrent, per-request time limit, 429/5xx
 * retries, body caps, no redirects), the answers checked (status,
 * redirect, token refused, RBAC, the agent's own errors) and turned into
 * gaps naming the node and the reason. Round 1 (digests and flows) and
 * the dashboard's flow refresh live here. Prints nothing (kt_log at -v).
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/agent/fleet_int.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

void kt_fc_node_gap(struct fc *x, struct fnode *n, const char *fmt, ...)
{
	char why[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (n->gap)
		return;
	n->gap = kt_arena_strdup(x->s->arena, why);
	n->ok = false;
	char what[300];
	snprintf(what, sizeof(what), "node state of node %s", n->name);
	kt_snapshot_gap(x->s, what, "%s", why);
	kt_log(1, "gap: %s: %s", what, why);
}

void kt_fc_why(const struct kt_kube_get *g, const char *pod, const char *what, const char *secret, const char *ns,
	       char *why, size_t n, bool *is_401)
{
	*is_401 = false;
	if (!g->status) {
		snprintf(why, n, "agent Pod %s: %s%s", pod, g->err, g->timed_out ? " (slow or unreachable agent)" : "");
		return;
	}
	if (g->status >= 300 && g->status < 400) {
		snprintf(why, n, "agent Pod %s answered %s with a %ld redirect (not followed)", pod, what, g->status);
		return;
	}
	struct kt_agent_error e;
	kt_agent_decode_error(g->body, g->len, (int)g->status, &e);
	char msg[600];
	kt_vis_escape(msg, sizeof(msg), e.message);
	if (g->status == 401 && !e.from_apiserver) {
		*is_401 = true;
		snprintf(why, n, "agent Pod %s rejected the token of Secret %s (401)", pod, secret);
	} else if (g->status == 403 && e.from_apiserver) {
		snprintf(why, n, "403 Forbidden: needs get pods/proxy in namespace '%s' (%s)", ns, msg);
	} else {
		snprintf(why, n, "agent Pod %s: %s: %ld %s%s%s%s", pod, what, g->status, e.reason, msg[0] ? " (" : "", msg,
			 msg[0] ? ")" : "");
	}
}

bool kt_fc_answer_ok(struct fc *x, struct fnode *n, struct kt_kube_get *g, const char *what)
{
	if (g->status == 200)
		return true;
	char why[1200];
	bool is_401;
	kt_fc_why(g, n->pod, what, x->secret, x->o->ns, why, sizeof(why), &is_401);
	x->n_401 += is_401;
	kt_fc_node_gap(x, n, "%s", why);
	return false;
}

void kt_fc_get_init(struct fc *x, struct kt_kube_get *g, const struct fnode *n, const char *path_query, size_t cap)
{
	memset(g, 0, sizeof(*g));
	g->path = kt_arena_printf(x->a, "/api/v1/namespaces/%s/pods/%s:%ld/proxy%s", x->o->ns, n->pod, n->port,
				  path_query);
	g->header = x->tokhdr;
	g->timeout_ms = x->o->timeout_ms;
	g->max_body = cap;
	g->max_retries = 2;
}

void kt_fc_account(struct fc *x, const struct kt_kube_get *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		x->f->bytes += g[i].wire;
		x->f->requests += (uint32_t)g[i].tries;
	}
}

/* One flow answer of node into s: a sample, or a gap "node NAME: flows". */
void kt_fc_take_flows(struct kt_snapshot *s, const struct kt_kube_get *g, const char *node, const char *pod,
		      const char *secret, const char *ns)
{
	char what[300], why[1200];
	bool is_401;
	struct kt_diag d2 = {0};
	snprintf(what, sizeof(what), "node %s: flows", node);
	if (g->status != 200) {
		kt_fc_why(g, pod, "flows", secret, ns, why, sizeof(why), &is_401);
		kt_snapshot_gap(s, what, "%s", why);
	} else if (kt_agent_decode_flows(s, g->body, g->len, node, &d2) < 0) {
		kt_snapshot_gap(s, what, "agent Pod %s: %s", pod, d2.msg);
	}
}

/* Agents older than the compact form answer form=compact with 400: ask
 * them again for the object form (the same sample). */
void kt_fc_flows_fallback(struct kt_kube *k, struct kt_kube_get *g, unsigned n, struct kt_arena *a, struct kt_diag *d)
{
	unsigned cnt = 0;
	for (unsigned i = 0; i < n; i++)
		cnt += g[i].status == 400 && g[i].path && strstr(g[i].path, KT_AGENT_FLOWS_COMPACT);
	if (!cnt)
		return;
	struct kt_kube_get *r = kt_xcalloc(cnt, sizeof(*r));
	unsigned *ix = kt_xcalloc(cnt, sizeof(*ix)), m = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!(g[i].status == 400 && g[i].path && strstr(g[i].path, KT_AGENT_FLOWS_COMPACT)))
			continue;
		r[m] = g[i];
		r[m].body = NULL;
		size_t l = strlen(g[i].path) - strlen("?form=compact");
		r[m].path = kt_arena_printf(a, "%.*s", (int)l, g[i].path);
		ix[m++] = i;
	}
	if (kt_kube_get_many(k, r, m, d) == 0)
		for (unsigned i = 0; i < m; i++) {
			kt_log(1, "%s: an agent without the compact flow form: asked for the object form", r[i].path);
			free(g[ix[i]].body);
			g[ix[i]] = r[i];
			r[i].body = NULL;
		}
	for (unsigned i = 0; i < m; i++)
		free(r[i].body);
	free(r);
	free(ix);
}

/* ---- round 1: digests (and flows) ------------------------------------------------ */

int kt_fc_ask_digests(struct fc *x)
{
	bool fl = x->o->flows, dp = x->o->dataplane;
	unsigned per = (unsigned)dp + (unsigned)fl, ng = 0;
	struct kt_kube_get *g = kt_xcalloc((size_t)x->nn * per + 1, sizeof(*g));
	uint32_t *who = kt_xcalloc((size_t)x->nn * per + 1, sizeof(*who));
	for (uint32_t i = 0; i < x->nn; i++) {
		struct fnode *n = &x->n[i];
		if (!n->has_agent) {
			kt_fc_node_gap(x, n, "no ktrace agent Pod on this node (namespace '%s', selector %s)", x->o->ns, x->o->selector);
			continue;
		}
		if (n->not_ready) {
			kt_fc_node_gap(x, n, "%s", n->not_ready);
			continue;
		}
		if (dp) {
			who[ng] = i;
			kt_fc_get_init(x, &g[ng++], n, KT_AGENT_PATH_DIGESTS, FC_DIGESTS_BODY);
		}
		if (fl) {
			who[ng] = i | 0x80000000u;
			kt_fc_get_init(x, &g[ng++], n, KT_AGENT_FLOWS_COMPACT, FC_FLOWS_BODY);
		}
	}
	int rc = kt_kube_get_many(x->k, g, ng, x->d);
	if (rc == 0 && fl)
		kt_fc_flows_fallback(x->k, g, ng, x->a, x->d);
	kt_fc_account(x, g, ng);
	for (unsigned i = 0; rc == 0 && i < ng; i++) {
		struct fnode *n = &x->n[who[i] & 0x7fffffffu];
		bool is_flows = who[i] & 0x80000000u;
		struct kt_diag d2 = {0};
		if (is_flows) {
			/* flows are a gap of their own: the node's rules still count */
			kt_fc_take_flows(x->s, &g[i], n->name, n->pod, x->secret, x->o->ns);
			continue;
		}
		if (!kt_fc_answer_ok(x, n, &g[i], "digests"))
			continue;
		if (kt_agent_decode_digests(g[i].body, g[i].len, n->name, x->a, &n->dig, &d2) < 0) {
			kt_fc_node_gap(x, n, "agent Pod %s: %s", n->pod, d2.msg);
			continue;
		}
		if (n->dig.digest_version != KT_AGENT_DIGEST_VERSION) {
			kt_fc_node_gap(x, n, "agent Pod %s speaks digest version %d, this ktrace %d (upgrade one of them)", n->pod,
				 n->dig.digest_version, KT_AGENT_DIGEST_VERSION);
			continue;
		}
		n->ok = !n->gap;
	}
	for (unsigned i = 0; i < ng; i++)
		free(g[i].body);
	free(g);
	free(who);
	return rc;
}

/* ---- the dashboard's refresh: every agent's latest flow sample ---------------------- */

int kt_fleet_flows(struct kt_kube *k, struct kt_fleet_agents *ag, struct kt_snapshot *snap, struct kt_diag *d)
{
	struct kt_kube_get *g = kt_xcalloc(ag->n + 1, sizeof(*g));
	uint32_t *who = kt_xcalloc(ag->n + 1, sizeof(*who)), ng = 0;
	struct kt_arena *a = kt_arena_new();
	for (uint32_t i = 0; i < ag->n; i++) {
		const struct kt_fleet_agent *n = &ag->v[i];
		if (!n->pod) {
			char what[300];
			snprintf(what, sizeof(what), "node %s: flows", n->node);
			kt_snapshot_gap(snap, what, "%s", n->why);
			continue;
		}
		struct kt_kube_get *q = &g[ng];
		who[ng++] = i;
		q->path = kt_arena_printf(a, "/api/v1/namespaces/%s/pods/%s:%ld/proxy%s", ag->ns, n->pod, n->port,
					  KT_AGENT_FLOWS_COMPACT);
		q->header = ag->tokhdr;
		q->timeout_ms = ag->timeout_ms;
		q->max_body = FC_FLOWS_BODY;
		q->max_retries = 1;
	}
	int rc = kt_kube_get_many(k, g, ng, d);
	if (rc == 0)
		kt_fc_flows_fallback(k, g, ng, a, d);
	for (uint32_t i = 0; rc == 0 && i < ng; i++) {
		const struct kt_fleet_agent *n = &ag->v[who[i]];
		kt_fc_take_flows(snap, &g[i], n->node, n->pod, ag->secret, ag->ns);
	}
	for (uint32_t i = 0; i < ng; i++)
		free(g[i].body);
	free(g);
	free(who);
	kt_arena_free(a);
	return rc;
}
