/*
 * The fleet client's discovery (`--nodes`): which nodes are selected (every
 * Node, the Nodes of a label, or the names given, each checked against the
 * Node list with close names when missing), which agent Pod serves each
 * (by the agents' label selector; a ready Pod wins, its "ktrace" container
 * port), and the token from the agents' Secret, read through the API: it
 * stays in memory only, in one header line, wiped after use and never
 * logged. Three API requests at once on the client's engine. Prints
 * nothing; errors are the caller's diag.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/agent/fleet_int.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const cJSON *jget(const cJSON *o, const char *path)
{
	char buf[64];
	const cJSON *c = o;
	while (c && *path) {
		size_t l = strcspn(path, ".");
		snprintf(buf, sizeof(buf), "%.*s", (int)l, path);
		c = cJSON_GetObjectItemCaseSensitive(c, buf);
		path += l + (path[l] == '.');
	}
	return c;
}

bool kt_fc_url_safe(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

const char *kt_fc_pct(struct kt_arena *a, const char *s)
{
	size_t l = strlen(s);
	char *o = kt_arena_alloc(a, 3 * l + 1), *p = o;
	for (const char *c = s; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || strchr("-._~", u))
			*p++ = (char)u;
		else {
			*p++ = '%';
			*p++ = "0123456789ABCDEF"[u >> 4];
			*p++ = "0123456789ABCDEF"[u & 15];
		}
	}
	*p = 0;
	return o;
}

static int b64v(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decode base64 into out (cap bytes incl. NUL); length or -1. */
static long b64_decode(const char *in, char *out, size_t cap)
{
	unsigned acc = 0, bits = 0;
	size_t o = 0;
	for (const char *p = in; *p && *p != '='; p++) {
		int v = b64v(*p);
		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	out[o] = 0;
	return (long)o;
}

void kt_fc_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

/* ---- the API half: Nodes, agent Pods, the Secret ------------------------------ */

static int api_error(struct fc *x, struct kt_kube_get *g, const char *what, const char *hint)
{
	if (!g->status) {
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "cannot %s: %s", what, g->err);
		kt_diag_hint(x->d, "check that the API server is reachable");
		return -KT_EXIT_CLUSTER;
	}
	struct kt_agent_error e;
	kt_agent_decode_error(g->body, g->len, (int)g->status, &e);
	char msg[600];
	kt_vis_escape(msg, sizeof(msg), e.message);
	kt_diag_set(x->d, KT_EXIT_CLUSTER, "cannot %s: %ld %s (%s)", what, g->status, e.reason, msg);
	if (hint)
		kt_diag_hint(x->d, "%s", hint);
	return -KT_EXIT_CLUSTER;
}

static cJSON *items_of(struct kt_kube_get *g)
{
	cJSON *j = g->body ? cJSON_ParseWithLength(g->body, g->len) : NULL;
	if (j && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "items"))) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

struct fnode *kt_fc_find_node(struct fc *x, const char *name)
{
	for (uint32_t i = 0; i < x->nn; i++)
		if (!strcmp(x->n[i].name, name))
			return &x->n[i];
	return NULL;
}

static struct fnode *add_node(struct fc *x, const char *name)
{
	if (x->nn >= FC_MAX_NODES)
		return NULL;
	if (!(x->nn & (x->nn + 1)) || !x->n)
		x->n = kt_xrealloc(x->n, sizeof(*x->n) * (size_t)((x->nn + 1) * 2));
	struct fnode *n = &x->n[x->nn++];
	memset(n, 0, sizeof(*n));
	n->name = kt_arena_strdup(x->a, name);
	return n;
}

/* The selected nodes: every Node (all), the Nodes matching LABEL=VALUE,
 * or the names given (each must be a Node). */
static int select_nodes(struct fc *x, struct kt_kube_get *g, bool by_label)
{
	const char *sel = x->o->nodes;
	if (g->status != 200 && by_label)
		return api_error(x, g, "list nodes", "--nodes LABEL=VALUE needs list on nodes (deploy/ktrace-users.yaml grants it)");
	cJSON *j = g->status == 200 ? items_of(g) : NULL;
	if (g->status == 200 && !j)
		return kt_diag_set(x->d, KT_EXIT_INPUT, "the Node list from the API server is not a list");
	const char **all = NULL;
	unsigned n_all = 0;
	if (j) {
		const cJSON *it;
		cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
		all = KT_ANEW(x->a, const char *, cJSON_GetArraySize(items) + 1);
		cJSON_ArrayForEach(it, items) {
			const char *nm = jstr(jget(it, "metadata"), "name");
			if (nm && kt_fc_url_safe(nm, 253))
				all[n_all++] = kt_arena_strdup(x->a, nm);
		}
		cJSON_Delete(j);
	} else {
		kt_log(1, "cannot list Nodes (%ld): nodes without an agent cannot be named", g->status);
		kt_snapshot_gap(x->s, "nodes", "%ld: nodes without a ktrace agent cannot be named", g->status);
	}
	if (!strcmp(sel, "all") || by_label) {
		for (unsigned i = 0; i < n_all; i++)
			if (!add_node(x, all[i]))
				return kt_diag_set(x->d, KT_EXIT_CLUSTER, "more than %d nodes", FC_MAX_NODES);
		if (by_label && !n_all) {
			kt_diag_set(x->d, KT_EXIT_NOTFOUND, "no Node has the label %s", sel);
			kt_diag_hint(x->d, "list the labels with 'kubectl get nodes --show-labels'");
			return -KT_EXIT_NOTFOUND;
		}
		return 0;
	}
	char *list = kt_arena_strdup(x->a, sel);
	for (char *t = list, *next; t; t = next) {
		next = strchr(t, ',');
		if (next)
			*next++ = '\0';
		if (!*t)
			continue;
		if (kt_fc_find_node(x, t))
			continue;
		bool known = !j && !n_all;
		for (unsigned i = 0; i < n_all && !known; i++)
			known = !strcmp(all[i], t);
		if (!known)
			return kt_diag_not_found(x->d, "node", NULL, t, all, n_all);
		if (!kt_fc_url_safe(t, 253) || !add_node(x, t)) {
			kt_diag_set(x->d, KT_EXIT_USAGE, "invalid node name '%s'", t);
			return -KT_EXIT_USAGE;
		}
	}
	return 0;
}

static bool pod_ready(const cJSON *p)
{
	const cJSON *c;
	if (kt_strcmp0(jstr(jget(p, "status"), "phase"), "Running"))
		return false;
	cJSON_ArrayForEach(c, jget(p, "status.conditions"))
		if (!kt_strcmp0(jstr(c, "type"), "Ready"))
			return !kt_strcmp0(jstr(c, "status"), "True");
	return false;
}

static long pod_port(const cJSON *p)
{
	const cJSON *c, *pt;
	cJSON_ArrayForEach(c, jget(p, "spec.containers"))
		cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(c, "ports"))
			if (!kt_strcmp0(jstr(pt, "name"), KT_AGENT_PORT_NAME)) {
				const cJSON *cp = cJSON_GetObjectItemCaseSensitive(pt, "containerPort");
				if (cJSON_IsNumber(cp) && cp->valuedouble >= 1 && cp->valuedouble <= 65535)
					return (long)cp->valuedouble;
			}
	return KT_AGENT_PORT;
}

/* Match agent Pods to nodes: a ready Pod wins over one that is not. */
static int match_pods(struct fc *x, struct kt_kube_get *g, bool all)
{
	if (g->status != 200) {
		char w[300];
		snprintf(w, sizeof(w), "list pods in namespace '%s' (the ktrace agents)", x->o->ns);
		return api_error(x, g, w,
				 "--nodes needs list on pods and get on pods/proxy in the agent namespace "
				 "(deploy/ktrace-users.yaml grants them; 'ktrace agent manifest' prints it)");
	}
	cJSON *j = items_of(g);
	if (!j)
		return kt_diag_set(x->d, KT_EXIT_INPUT, "the Pod list from the API server is not a list");
	const cJSON *p;
	unsigned n_pods = 0;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(j, "items")) {
		const char *node = jstr(jget(p, "spec"), "nodeName"), *name = jstr(jget(p, "metadata"), "name");
		if (!node || !name)
			continue;
		n_pods++;
		struct fnode *n = kt_fc_find_node(x, node);
		if (!n && all && kt_fc_url_safe(node, 253) && !x->s->n_gaps)
			n = add_node(x, node); /* Nodes not listable: the agents name them */
		if (!n || !kt_fc_url_safe(name, 253))
			continue;
		bool ready = pod_ready(p);
		if (n->has_agent && (n->ready || !ready))
			continue;
		n->has_agent = true;
		n->ready = ready;
		n->pod = kt_arena_strdup(x->a, name);
		n->port = pod_port(p);
		n->pod_ip = kt_arena_strdup(x->a, jstr(jget(p, "status"), "podIP"));
		n->not_ready = NULL;
		if (!ready)
			n->not_ready = kt_arena_printf(x->a, "agent Pod %s is not ready (phase %s)", name,
						       jstr(jget(p, "status"), "phase") ? jstr(jget(p, "status"), "phase") : "unknown");
		else if (!n->pod_ip)
			n->not_ready = kt_arena_printf(x->a, "agent Pod %s has no address yet", name);
	}
	cJSON_Delete(j);
	if (!n_pods) {
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "no ktrace agent Pods in namespace '%s' (selector %s)", x->o->ns,
			    x->o->selector);
		kt_diag_hint(x->d, "deploy the agents: 'ktrace agent manifest | kubectl apply -f -' (see ktrace-agent(1)); "
				   "or point --agent-namespace / --agent-selector at them");
		return -KT_EXIT_CLUSTER;
	}
	return 0;
}

static int read_token(struct fc *x, struct kt_kube_get *g)
{
	char w[300];
	snprintf(w, sizeof(w), "read Secret %s (the agents' token)", x->secret);
	if (g->status == 404) {
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "Secret %s (the agents' token) not found", x->secret);
		kt_diag_hint(x->d, "create it: kubectl -n %s create secret generic %s --from-literal=%s=$(openssl rand -hex 32)",
			     x->o->ns, KT_AGENT_SECRET, KT_AGENT_SECRET_KEY);
		return -KT_EXIT_CLUSTER;
	}
	if (g->status != 200)
		return api_error(x, g, w, "--nodes needs get on that Secret (deploy/ktrace-users.yaml grants it)");
	cJSON *j = g->body ? cJSON_ParseWithLength(g->body, g->len) : NULL;
	const char *b64 = jstr(jget(j, "data"), KT_AGENT_SECRET_KEY);
	char tok[KT_AGENT_TOKEN_MAX + 8];
	long tl = b64 ? b64_decode(b64, tok, sizeof(tok)) : -1;
	cJSON_Delete(j);
	kt_fc_wipe(g->body, g->len);
	bool printable = tl >= KT_AGENT_TOKEN_MIN;
	for (long i = 0; printable && i < tl; i++)
		printable = tok[i] > 0x20 && tok[i] < 0x7f;
	while (tl > 0 && (tok[tl - 1] == '\n' || tok[tl - 1] == '\r'))
		tok[--tl] = 0;
	if (!printable) {
		kt_fc_wipe(tok, sizeof(tok));
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "Secret %s has no usable key '%s' (%d to %d printable bytes)", x->secret,
			    KT_AGENT_SECRET_KEY, KT_AGENT_TOKEN_MIN, KT_AGENT_TOKEN_MAX);
		kt_diag_hint(x->d, "recreate it as ktrace-agent(1) shows (the agents read the same Secret)");
		return -KT_EXIT_CLUSTER;
	}
	size_t hl = strlen(KT_AGENT_TOKEN_HEADER) + 2 + (size_t)tl + 1;
	x->tokhdr = kt_xmalloc(hl);
	snprintf(x->tokhdr, hl, "%s: %s", KT_AGENT_TOKEN_HEADER, tok);
	kt_fc_wipe(tok, sizeof(tok));
	return 0;
}

int kt_fc_discover(struct fc *x)
{
	const char *sel = x->o->nodes;
	bool by_label = strchr(sel, '=') != NULL;
	struct kt_kube_get g[3];
	memset(g, 0, sizeof(g));
	g[0].path = by_label ? kt_arena_printf(x->a, "/api/v1/nodes?labelSelector=%s", kt_fc_pct(x->a, sel)) : "/api/v1/nodes";
	g[1].path = kt_arena_printf(x->a, "/api/v1/namespaces/%s/pods?labelSelector=%s", x->o->ns, kt_fc_pct(x->a, x->o->selector));
	g[2].path = kt_arena_printf(x->a, "/api/v1/namespaces/%s/secrets/%s", x->o->ns, KT_AGENT_SECRET);
	for (int i = 0; i < 3; i++) {
		g[i].max_body = FC_API_BODY;
		g[i].max_retries = 3;
	}
	int rc = kt_kube_get_many(x->k, g, 3, x->d);
	if (rc == 0)
		rc = select_nodes(x, &g[0], by_label);
	if (rc == 0)
		rc = match_pods(x, &g[1], !strcmp(sel, "all"));
	if (rc == 0)
		rc = read_token(x, &g[2]);
	for (int i = 0; i < 3; i++)
		free(g[i].body);
	return rc;
}
