/*
 * The ktrace agents' client (`--nodes`): one node-source row of the source
 * layer. (About 1,100 lines: discovery, token, digests, deviations and
 * gaps share one request context; a split along those lines is planned
 * with the dashboard's node dimension.) It lists the selected Nodes and the agent Pods, reads the token
 * Secret through the API (the token stays in memory only, wiped after
 * use, never logged), and asks every selected agent concurrently through
 * the API server's Pod proxy (/api/v1/namespaces/NS/pods/POD:PORT/proxy/...)
 * on the API client's request engine (kt_kube_get_many: per-request time
 * limit, 429/5xx retries, body caps, no redirects).
 *
 * Scale by difference: per-Service digests from every node first, the
 * majority value of each Service, then full entries only where a node
 * differs (keys=...&state=ID, so entries match the digests), plus the
 * majority's entries once (one node's whole state). snap->fleet gets the
 * majority once and per-node deviations (ktrace/fleet.h).
 *
 * Partial answers: a node without an agent, whose agent is not ready, too
 * slow, failing or answering for another node is a gap naming the node
 * and the reason. Prints nothing (kt_log at -v); the decoders of the
 * answers are collectors/agent/agent_json.c's.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/agent/fleet_client.h"
#include "ktrace/agent.h"
#include "ktrace/fleet.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

#define FC_API_BODY (64u << 20)       /* Node and Pod lists, the Secret */
#define FC_DIGESTS_BODY (64u << 20)   /* one agent's digests */
#define FC_NODE_BODY (256u << 20)     /* one agent's node state */
#define FC_FLOWS_BODY (128u << 20)    /* one agent's flow sample */
#define FC_MAX_NODES 20000
#define FC_TARGET_MAX 15000           /* bytes of a keys= request target (agent cap 16 KiB) */

struct fnode {
	const char *name;
	/* the agent Pod */
	const char *pod, *pod_ip;
	long port;
	bool has_agent, ready;
	const char *not_ready;   /* why the Pod cannot be asked */
	/* answers */
	struct kt_agent_digests dig;
	bool ok;                 /* digests decoded */
	const char *gap;         /* why this node has no answer (arena) */
	struct kt_fleet_node *fn;
	uint32_t n_major;        /* Services where it holds the majority value */
	bool refetch;            /* 412 on entries: read its whole state again */
};

struct fc {
	struct kt_kube *k;
	const struct kt_fleet_opts *o;
	struct kt_snapshot *s;
	struct kt_diag *d;
	struct kt_arena *a;      /* scratch: digests, lists */
	struct fnode *n;
	uint32_t nn;
	char *tokhdr;            /* "X-Ktrace-Token: ..." (malloc, wiped) */
	const char *secret;      /* "NS/NAME" for messages */
	uint32_t n_401;
	struct kt_fleet *f;
};

/* ---- small helpers ---------------------------------------------------------- */

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

/* DNS-label-ish names only go into URLs (no escaping needed). */
static bool url_safe(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* Percent-encode s into the arena (query values). */
static const char *pct(struct kt_arena *a, const char *s)
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

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

static void node_gap(struct fc *x, struct fnode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void node_gap(struct fc *x, struct fnode *n, const char *fmt, ...)
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

/* Why an answer is not usable: transport failure or an error status. */
static bool answer_ok(struct fc *x, struct fnode *n, struct kt_kube_get *g, const char *what)
{
	if (!g->status) {
		node_gap(x, n, "agent Pod %s: %s%s", n->pod, g->err, g->timed_out ? " (slow or unreachable agent)" : "");
		return false;
	}
	if (g->status == 200)
		return true;
	if (g->status >= 300 && g->status < 400) {
		node_gap(x, n, "agent Pod %s answered %s with a %ld redirect (not followed)", n->pod, what, g->status);
		return false;
	}
	struct kt_agent_error e;
	kt_agent_decode_error(g->body, g->len, (int)g->status, &e);
	char msg[600];
	kt_vis_escape(msg, sizeof(msg), e.message);
	if (g->status == 401 && !e.from_apiserver) {
		x->n_401++;
		node_gap(x, n, "agent Pod %s rejected the token of Secret %s (401)", n->pod, x->secret);
		return false;
	}
	if (g->status == 403 && e.from_apiserver) {
		node_gap(x, n, "403 Forbidden: needs get pods/proxy in namespace '%s' (%s)", x->o->ns, msg);
		return false;
	}
	node_gap(x, n, "agent Pod %s: %s: %ld %s%s%s%s", n->pod, what, g->status, e.reason, msg[0] ? " (" : "", msg,
		 msg[0] ? ")" : "");
	return false;
}

static void get_init(struct fc *x, struct kt_kube_get *g, const struct fnode *n, const char *path_query, size_t cap)
{
	memset(g, 0, sizeof(*g));
	g->path = kt_arena_printf(x->a, "/api/v1/namespaces/%s/pods/%s:%ld/proxy%s", x->o->ns, n->pod, n->port,
				  path_query);
	g->header = x->tokhdr;
	g->timeout_ms = x->o->timeout_ms;
	g->max_body = cap;
	g->max_retries = 2;
}

static void account(struct fc *x, const struct kt_kube_get *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		x->f->bytes += g[i].wire;
		x->f->requests += (uint32_t)g[i].tries;
	}
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

static struct fnode *find_node(struct fc *x, const char *name)
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
			if (nm && url_safe(nm, 253))
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
		if (find_node(x, t))
			continue;
		bool known = !j && !n_all;
		for (unsigned i = 0; i < n_all && !known; i++)
			known = !strcmp(all[i], t);
		if (!known)
			return kt_diag_not_found(x->d, "node", NULL, t, all, n_all);
		if (!url_safe(t, 253) || !add_node(x, t)) {
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
		struct fnode *n = find_node(x, node);
		if (!n && all && url_safe(node, 253) && !x->s->n_gaps)
			n = add_node(x, node); /* Nodes not listable: the agents name them */
		if (!n || !url_safe(name, 253))
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
	wipe(g->body, g->len);
	bool printable = tl >= KT_AGENT_TOKEN_MIN;
	for (long i = 0; printable && i < tl; i++)
		printable = tok[i] > 0x20 && tok[i] < 0x7f;
	while (tl > 0 && (tok[tl - 1] == '\n' || tok[tl - 1] == '\r'))
		tok[--tl] = 0;
	if (!printable) {
		wipe(tok, sizeof(tok));
		kt_diag_set(x->d, KT_EXIT_CLUSTER, "Secret %s has no usable key '%s' (%d to %d printable bytes)", x->secret,
			    KT_AGENT_SECRET_KEY, KT_AGENT_TOKEN_MIN, KT_AGENT_TOKEN_MAX);
		kt_diag_hint(x->d, "recreate it as ktrace-agent(1) shows (the agents read the same Secret)");
		return -KT_EXIT_CLUSTER;
	}
	size_t hl = strlen(KT_AGENT_TOKEN_HEADER) + 2 + (size_t)tl + 1;
	x->tokhdr = kt_xmalloc(hl);
	snprintf(x->tokhdr, hl, "%s: %s", KT_AGENT_TOKEN_HEADER, tok);
	wipe(tok, sizeof(tok));
	return 0;
}

static int discover(struct fc *x)
{
	const char *sel = x->o->nodes;
	bool by_label = strchr(sel, '=') != NULL;
	struct kt_kube_get g[3];
	memset(g, 0, sizeof(g));
	g[0].path = by_label ? kt_arena_printf(x->a, "/api/v1/nodes?labelSelector=%s", pct(x->a, sel)) : "/api/v1/nodes";
	g[1].path = kt_arena_printf(x->a, "/api/v1/namespaces/%s/pods?labelSelector=%s", x->o->ns, pct(x->a, x->o->selector));
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

/* ---- round 1: digests (and flows) ------------------------------------------------ */

static int ask_digests(struct fc *x)
{
	bool fl = x->o->flows, dp = x->o->dataplane;
	unsigned per = (unsigned)dp + (unsigned)fl, ng = 0;
	struct kt_kube_get *g = kt_xcalloc((size_t)x->nn * per + 1, sizeof(*g));
	uint32_t *who = kt_xcalloc((size_t)x->nn * per + 1, sizeof(*who));
	for (uint32_t i = 0; i < x->nn; i++) {
		struct fnode *n = &x->n[i];
		if (!n->has_agent) {
			node_gap(x, n, "no ktrace agent Pod on this node (namespace '%s', selector %s)", x->o->ns, x->o->selector);
			continue;
		}
		if (n->not_ready) {
			node_gap(x, n, "%s", n->not_ready);
			continue;
		}
		if (dp) {
			who[ng] = i;
			get_init(x, &g[ng++], n, KT_AGENT_PATH_DIGESTS, FC_DIGESTS_BODY);
		}
		if (fl) {
			who[ng] = i | 0x80000000u;
			get_init(x, &g[ng++], n, KT_AGENT_PATH_FLOWS, FC_FLOWS_BODY);
		}
	}
	int rc = kt_kube_get_many(x->k, g, ng, x->d);
	account(x, g, ng);
	for (unsigned i = 0; rc == 0 && i < ng; i++) {
		struct fnode *n = &x->n[who[i] & 0x7fffffffu];
		bool is_flows = who[i] & 0x80000000u;
		struct kt_diag d2 = {0};
		if (is_flows) {
			/* flows are a gap of their own: the node's rules still count */
			char what[300];
			snprintf(what, sizeof(what), "node %s: flows", n->name);
			if (g[i].status != 200) {
				struct kt_agent_error e;
				kt_agent_decode_error(g[i].body, g[i].len, (int)g[i].status, &e);
				kt_snapshot_gap(x->s, what, "agent Pod %s: %s", n->pod,
						g[i].status ? e.message : g[i].err);
			} else if (kt_agent_decode_flows(x->s, g[i].body, g[i].len, n->name, &d2) < 0) {
				kt_snapshot_gap(x->s, what, "agent Pod %s: %s", n->pod, d2.msg);
			}
			continue;
		}
		if (!answer_ok(x, n, &g[i], "digests"))
			continue;
		if (kt_agent_decode_digests(g[i].body, g[i].len, n->name, x->a, &n->dig, &d2) < 0) {
			node_gap(x, n, "agent Pod %s: %s", n->pod, d2.msg);
			continue;
		}
		if (n->dig.digest_version != KT_AGENT_DIGEST_VERSION) {
			node_gap(x, n, "agent Pod %s speaks digest version %d, this ktrace %d (upgrade one of them)", n->pod,
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

/* ---- majority per Service ---------------------------------------------------------- */

struct kv {
	const char *ns, *name;
	uint64_t val;            /* digest, mixed with the Local set */
	uint32_t node;
};

static int kv_cmp(const void *p, const void *q)
{
	const struct kv *a = p, *b = q;
	int c = strcmp(a->ns, b->ns);
	if (!c)
		c = strcmp(a->name, b->name);
	if (!c)
		c = a->val < b->val ? -1 : a->val > b->val;
	if (!c)
		c = a->node < b->node ? -1 : a->node > b->node;
	return c;
}

static uint64_t value_of(const struct kt_agent_digest *dg)
{
	uint64_t v = dg->digest;
	if (dg->has_local) {
		char buf[80];
		v = kt_hash64(v, "local", 5);
		for (uint32_t i = 0; i < dg->n_local; i++) {
			int l = snprintf(buf, sizeof(buf), "%s:%d;", dg->local[i].ip, dg->local[i].port);
			v = kt_hash64(v, buf, (size_t)l);
		}
	}
	return v;
}

/* Per-node lists of Service keys to fetch (deviations) or that are absent. */
struct keylist {
	const char **v;
	uint32_t n, cap;
};

static void keys_push(struct keylist *l, const char *k)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = kt_xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = k;
}

struct plan {
	struct keylist *dev;     /* per node: keys whose entries to fetch from it */
	struct keylist *absent;  /* per node: majority keys it does not program */
	struct keylist *maj;     /* per node: majority keys to fetch from it (not R) */
	const char **maj_keys;   /* every majority-present key, with its value */
	uint64_t *maj_val;
	uint32_t n_maj;
	uint32_t r;              /* the node whose whole state gives the majority */
};

static const char *key_of(struct fc *x, const char *ns, const char *name)
{
	return kt_arena_printf(x->a, "%s/%s", ns, name);
}

static void majority(struct fc *x, struct plan *P)
{
	size_t total = 0;
	for (uint32_t i = 0; i < x->nn; i++)
		if (x->n[i].ok)
			total += x->n[i].dig.n_svcs;
	struct kv *v = kt_xcalloc(total + 1, sizeof(*v));
	size_t nv = 0;
	uint32_t answered = 0;
	for (uint32_t i = 0; i < x->nn; i++) {
		if (!x->n[i].ok)
			continue;
		answered++;
		for (uint32_t k = 0; k < x->n[i].dig.n_svcs; k++) {
			const struct kt_agent_digest *dg = &x->n[i].dig.svcs[k];
			v[nv++] = (struct kv){dg->namespace ? dg->namespace : "", dg->name ? dg->name : "", value_of(dg), i};
		}
	}
	qsort(v, nv, sizeof(*v), kv_cmp);
	P->dev = kt_xcalloc(x->nn + 1, sizeof(*P->dev));
	P->absent = kt_xcalloc(x->nn + 1, sizeof(*P->absent));
	P->maj = kt_xcalloc(x->nn + 1, sizeof(*P->maj));
	P->maj_keys = kt_xcalloc(nv + 1, sizeof(*P->maj_keys));
	P->maj_val = kt_xcalloc(nv + 1, sizeof(*P->maj_val));
	uint32_t *stamp = kt_xcalloc(x->nn + 1, sizeof(*stamp));
	uint32_t gen = 0;
	for (size_t i = 0; i < nv;) {
		size_t e = i;
		while (e < nv && !strcmp(v[e].ns, v[i].ns) && !strcmp(v[e].name, v[i].name))
			e++;
		x->f->n_keys++;
		/* the largest group of equal values */
		size_t best = i, best_n = 0;
		for (size_t g = i; g < e;) {
			size_t ge = g;
			while (ge < e && v[ge].val == v[g].val)
				ge++;
			if (ge - g > best_n) {
				best = g;
				best_n = ge - g;
			}
			g = ge;
		}
		const char *key = key_of(x, v[i].ns, v[i].name);
		/* the majority may be "not programmed" (more nodes lack it) */
		bool present = best_n >= answered - (e - i);
		gen++;
		bool differs = false;
		for (size_t k = i; k < e; k++) {
			stamp[v[k].node] = gen;
			if (!present || v[k].val != v[best].val) {
				keys_push(&P->dev[v[k].node], key);
				differs = true;
			} else {
				x->n[v[k].node].n_major++;
			}
		}
		if (present) {
			P->maj_keys[P->n_maj] = key;
			P->maj_val[P->n_maj++] = v[best].val;
			for (uint32_t nd = 0; nd < x->nn; nd++)
				if (x->n[nd].ok && stamp[nd] != gen) {
					keys_push(&P->absent[nd], key);
					differs = true;
				}
		}
		x->f->n_deviating += differs;
		i = e;
	}
	P->r = UINT32_MAX;
	for (uint32_t i = 0; i < x->nn; i++)
		if (x->n[i].ok && (P->r == UINT32_MAX || x->n[i].n_major > x->n[P->r].n_major))
			P->r = i;
	free(stamp);
	free(v);
}

static void plan_free(struct fc *x, struct plan *P)
{
	for (uint32_t i = 0; i < x->nn && P->dev; i++) {
		free(P->dev[i].v);
		free(P->absent[i].v);
		free(P->maj[i].v);
	}
	free(P->dev);
	free(P->absent);
	free(P->maj);
	free(P->maj_keys);
	free(P->maj_val);
}

/* ---- rounds 2 and 3: entries ----------------------------------------------------------- */

/* A decoded node state: taken out of snap->dp (the decoder appends it). */
static int take_node(struct fc *x, struct fnode *n, struct kt_kube_get *g, struct kt_dp_node *out)
{
	struct kt_diag d2 = {0};
	uint32_t before = x->s->n_dp, gaps = x->s->n_gaps;
	int rc = kt_agent_decode_node(x->s, g->body, g->len, n->name, &d2);
	x->s->n_gaps = gaps; /* the agent's gaps came with its digests */
	if (rc < 0 || x->s->n_dp != before + 1) {
		node_gap(x, n, "agent Pod %s: %s", n->pod, d2.msg[0] ? d2.msg : "no node state in the answer");
		return -1;
	}
	*out = x->s->dp[--x->s->n_dp];
	return 0;
}

static void push_svc(struct kt_dp_node *to, const struct kt_dp_service *s)
{
	if (to->n_svcs == to->cap_svcs) {
		to->cap_svcs = to->cap_svcs ? to->cap_svcs * 2 : 16;
		to->svcs = kt_xreallocarray(to->svcs, to->cap_svcs, sizeof(*to->svcs));
	}
	to->svcs[to->n_svcs++] = *s;
}

static int keycmp(const void *p, const void *q)
{
	return strcmp(*(const char *const *)p, *(const char *const *)q);
}

/* Sort / search a key list (empty lists have no array). */
static void keys_sort(struct keylist *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), keycmp);
}

static bool keys_has(const struct keylist *l, const char *key)
{
	return l->n && bsearch(&key, l->v, l->n, sizeof(*l->v), keycmp);
}

static bool in_keys(const char **sorted, uint32_t n, const char *ns, const char *name, char *buf, size_t bl)
{
	snprintf(buf, bl, "%s/%s", ns ? ns : "", name ? name : "");
	const char *k = buf;
	return n && bsearch(&k, sorted, n, sizeof(*sorted), keycmp);
}

/* Requests for keys of one node: batches within the agent's caps. */
static unsigned key_batches(struct fc *x, struct fnode *n, const struct keylist *l, struct kt_kube_get *g,
			    uint32_t *who, uint32_t node_ix, bool with_state)
{
	unsigned ng = 0;
	for (uint32_t i = 0; i < l->n;) {
		size_t len = 0;
		uint32_t e = i;
		char *q = kt_arena_alloc(x->a, FC_TARGET_MAX + 512);
		int o = snprintf(q, FC_TARGET_MAX + 512, "%s?keys=", KT_AGENT_PATH_NODE);
		for (; e < l->n && e - i < KT_AGENT_MAX_KEYS; e++) {
			const char *pk = pct(x->a, l->v[e]);
			len = strlen(pk);
			if ((size_t)o + len + 64 > FC_TARGET_MAX && e > i)
				break;
			o += snprintf(q + o, FC_TARGET_MAX + 512 - (size_t)o, "%s%s", e > i ? "," : "", pk);
		}
		if (with_state)
			snprintf(q + o, FC_TARGET_MAX + 512 - (size_t)o, "&state=%s", n->dig.state_id);
		who[ng] = node_ix;
		get_init(x, &g[ng++], n, q, FC_NODE_BODY);
		i = e;
	}
	return ng;
}

/* Keep the entries of keys in sorted from a decoded node into to. */
static void keep_entries(struct kt_dp_node *from, const char **sorted, uint32_t n, struct kt_dp_node *to)
{
	char buf[700];
	for (uint32_t i = 0; i < from->n_svcs; i++)
		if (in_keys(sorted, n, from->svcs[i].namespace, from->svcs[i].name, buf, sizeof(buf)))
			push_svc(to, &from->svcs[i]);
}

static void node_meta(struct fc *x, struct fnode *n)
{
	struct kt_fleet_node *fn = n->fn;
	fn->pod = kt_intern(x->s->arena, n->pod);
	fn->state_id = kt_intern(x->s->arena, n->dig.state_id);
	fn->agent_version = kt_intern(x->s->arena, n->dig.agent_version);
	fn->taken_ms = n->dig.taken_ms;
	fn->dev.modes = n->dig.modes;
	fn->dev.source = kt_arena_printf(x->s->arena, "agent %s", n->pod);
	fn->dev.metrics = n->dig.metrics;
	if (n->dig.metrics.proxy_mode)
		fn->dev.metrics.proxy_mode = kt_intern(x->s->arena, n->dig.metrics.proxy_mode);
	if (n->dig.metrics.n_buckets) {
		fn->dev.metrics.bucket_le = KT_ANEW(x->s->arena, double, n->dig.metrics.n_buckets);
		fn->dev.metrics.bucket_count = KT_ANEW(x->s->arena, uint64_t, n->dig.metrics.n_buckets);
		memcpy(fn->dev.metrics.bucket_le, n->dig.metrics.bucket_le, sizeof(double) * n->dig.metrics.n_buckets);
		memcpy(fn->dev.metrics.bucket_count, n->dig.metrics.bucket_count,
		       sizeof(uint64_t) * n->dig.metrics.n_buckets);
	}
	fn->dev.notes = KT_ANEW(x->s->arena, const char *, n->dig.n_notes + 1);
	for (uint32_t i = 0; i < n->dig.n_notes; i++)
		fn->dev.notes[i] = kt_intern(x->s->arena, n->dig.notes[i]);
	fn->dev.n_notes = fn->dev.cap_notes = n->dig.n_notes;
	for (uint32_t i = 0; i < n->dig.n_gaps; i++) {
		char w[600];
		snprintf(w, sizeof(w), "node %.253s: %s", n->name, n->dig.gaps[i].what);
		kt_snapshot_gap(x->s, w, "%s", n->dig.gaps[i].why);
	}
}

static void set_absent(struct fc *x, struct fnode *n, const struct keylist *l)
{
	struct kt_fleet_node *fn = n->fn;
	fn->absent = KT_ANEW(x->s->arena, const char *, l->n + 1);
	for (uint32_t i = 0; i < l->n; i++)
		fn->absent[i] = kt_intern(x->s->arena, l->v[i]);
	fn->n_absent = l->n;
}

/* A node whose state changed between digests and entries: its whole
 * state, digested here, compared with the majority again. */
static void refetch_whole(struct fc *x, struct plan *P)
{
	uint32_t cnt = 0;
	for (uint32_t i = 0; i < x->nn; i++)
		cnt += x->n[i].refetch && !x->n[i].gap;
	if (!cnt)
		return;
	struct kt_kube_get *g = kt_xcalloc(cnt, sizeof(*g));
	uint32_t *who = kt_xcalloc(cnt, sizeof(*who)), ng = 0;
	for (uint32_t i = 0; i < x->nn; i++)
		if (x->n[i].refetch && !x->n[i].gap) {
			who[ng] = i;
			get_init(x, &g[ng++], &x->n[i], KT_AGENT_PATH_NODE, FC_NODE_BODY);
		}
	kt_kube_get_many(x->k, g, ng, x->d);
	account(x, g, ng);
	char buf[700];
	for (uint32_t i = 0; i < ng; i++) {
		struct fnode *n = &x->n[who[i]];
		struct kt_dp_node whole;
		if (!answer_ok(x, n, &g[i], "node state") || take_node(x, n, &g[i], &whole) < 0)
			continue;
		struct kt_agent_digest *dg;
		uint32_t nd = kt_agent_digest_node(&whole, x->a, false, &dg);
		struct kt_fleet_node *fn = n->fn;
		free(fn->dev.svcs);
		fn->dev.svcs = NULL;
		fn->dev.n_svcs = fn->dev.cap_svcs = 0;
		struct keylist dev = {0}, absent = {0};
		for (uint32_t k = 0; k < nd; k++) {
			const char *key = key_of(x, dg[k].namespace ? dg[k].namespace : "", dg[k].name);
			const char **hit = bsearch(&key, P->maj_keys, P->n_maj, sizeof(*P->maj_keys), keycmp);
			if (!hit || P->maj_val[hit - P->maj_keys] != value_of(&dg[k]))
				keys_push(&dev, key);
		}
		for (uint32_t k = 0; k < P->n_maj; k++) {
			bool has = false;
			for (uint32_t m = 0; m < nd && !has; m++)
				has = !strcmp(P->maj_keys[k], key_of(x, dg[m].namespace ? dg[m].namespace : "", dg[m].name));
			if (!has)
				keys_push(&absent, P->maj_keys[k]);
		}
		keys_sort(&dev);
		for (uint32_t k = 0; k < whole.n_svcs; k++)
			if (in_keys(dev.v, dev.n, whole.svcs[k].namespace, whole.svcs[k].name, buf, sizeof(buf)))
				push_svc(&fn->dev, &whole.svcs[k]);
		set_absent(x, n, &absent);
		fn->dev.modes = whole.modes;
		kt_log(1, "node %s changed while being read: its whole state read again (%u Services differ)", n->name, dev.n);
		free(whole.svcs);
		free(dev.v);
		free(absent.v);
	}
	for (uint32_t i = 0; i < ng; i++)
		free(g[i].body);
	free(g);
	free(who);
}

/* The majority node's whole state: its entries are the majority where its
 * current digest has the majority value; the rest are its own deviations
 * (kept when mine), or majority entries to fetch from another node. */
static void take_majority(struct fc *x, struct plan *P, uint32_t ix, struct kt_dp_node *got, bool mine_too)
{
	struct fnode *n = &x->n[ix];
	struct kt_agent_digest *dg;
	uint32_t nd = kt_agent_digest_node(got, x->a, false, &dg);
	struct keylist mine = {0}, okmaj = {0};
	for (uint32_t k = 0; k < nd; k++) {
		const char *key = key_of(x, dg[k].namespace ? dg[k].namespace : "", dg[k].name);
		const char **hit = bsearch(&key, P->maj_keys, P->n_maj, sizeof(*P->maj_keys), keycmp);
		if (hit && P->maj_val[hit - P->maj_keys] == value_of(&dg[k]))
			keys_push(&okmaj, key);
		else
			keys_push(&mine, key);
	}
	keys_sort(&mine);
	keys_sort(&okmaj);
	keep_entries(got, okmaj.v, okmaj.n, &x->f->majority);
	if (mine_too)
		keep_entries(got, mine.v, mine.n, &n->fn->dev);
	x->f->majority.modes = got->modes;
	for (uint32_t k = 0; k < P->n_maj; k++) {
		const char *key = P->maj_keys[k];
		if (keys_has(&okmaj, key))
			continue;
		if (mine_too && !keys_has(&mine, key))
			keys_push(&P->absent[ix], key);
		/* a node holding the majority value: in neither its dev nor absent list */
		for (uint32_t m = 0; m < x->nn; m++) {
			if (m == ix || !x->n[m].ok || x->n[m].gap)
				continue;
			bool dev = false;
			for (uint32_t q = 0; q < P->dev[m].n && !dev; q++)
				dev = !strcmp(P->dev[m].v[q], key);
			for (uint32_t q = 0; q < P->absent[m].n && !dev; q++)
				dev = !strcmp(P->absent[m].v[q], key);
			if (!dev) {
				keys_push(&P->maj[m], key);
				break;
			}
		}
	}
	free(got->svcs);
	free(mine.v);
	free(okmaj.v);
}

/* Round 2: the majority's node (whole state) and every node's deviating
 * entries; round 3: majority entries the majority node lacked, and nodes
 * that changed in between. */
static int ask_entries(struct fc *x, struct plan *P)
{
	uint32_t cap = 1;
	for (uint32_t i = 0; i < x->nn; i++)
		cap += P->dev[i].n / 64 + 2;
	struct kt_kube_get *g = kt_xcalloc(cap, sizeof(*g));
	uint32_t *who = kt_xcalloc(cap, sizeof(*who)), ng = 0;
	struct fnode *R = &x->n[P->r];
	who[ng] = P->r | 0x80000000u;
	get_init(x, &g[ng++], R, KT_AGENT_PATH_NODE, FC_NODE_BODY);
	for (uint32_t i = 0; i < x->nn; i++)
		if (x->n[i].ok && i != P->r && P->dev[i].n)
			ng += key_batches(x, &x->n[i], &P->dev[i], g + ng, who + ng, i, true);
	int rc = kt_kube_get_many(x->k, g, ng, x->d);
	account(x, g, ng);
	for (uint32_t i = 0; rc == 0 && i < ng; i++) {
		uint32_t ix = who[i] & 0x7fffffffu;
		struct fnode *n = &x->n[ix];
		struct kt_dp_node got;
		if (g[i].status == 412 && !(who[i] & 0x80000000u)) {
			n->refetch = true;
			continue;
		}
		if (!answer_ok(x, n, &g[i], "node state") || take_node(x, n, &g[i], &got) < 0)
			continue;
		if (!(who[i] & 0x80000000u)) {
			for (uint32_t k = 0; k < got.n_svcs; k++)
				push_svc(&n->fn->dev, &got.svcs[k]);
			free(got.svcs);
			continue;
		}
		take_majority(x, P, ix, &got, true);
	}
	for (uint32_t i = 0; i < ng; i++)
		free(g[i].body);
	free(g);
	free(who);
	if (rc < 0)
		return rc;
	/* the majority node failed: the next best one's whole state (its own
	 * deviations were read with the others) */
	for (int tries = 0; x->n[P->r].gap && tries < 3; tries++) {
		uint32_t nr = UINT32_MAX;
		for (uint32_t i = 0; i < x->nn; i++)
			if (x->n[i].ok && !x->n[i].gap && (nr == UINT32_MAX || x->n[i].n_major > x->n[nr].n_major))
				nr = i;
		if (nr == UINT32_MAX)
			return 0;
		P->r = nr;
		struct kt_kube_get g1;
		struct kt_dp_node got;
		get_init(x, &g1, &x->n[nr], KT_AGENT_PATH_NODE, FC_NODE_BODY);
		if ((rc = kt_kube_get_many(x->k, &g1, 1, x->d)) < 0)
			return rc;
		account(x, &g1, 1);
		if (answer_ok(x, &x->n[nr], &g1, "node state") && take_node(x, &x->n[nr], &g1, &got) == 0)
			take_majority(x, P, nr, &got, false);
		free(g1.body);
	}
	/* round 3: majority entries from other nodes */
	cap = 1;
	for (uint32_t i = 0; i < x->nn; i++)
		cap += P->maj[i].n / 64 + 2;
	g = kt_xcalloc(cap, sizeof(*g));
	who = kt_xcalloc(cap, sizeof(*who));
	ng = 0;
	for (uint32_t i = 0; i < x->nn; i++)
		if (P->maj[i].n && !x->n[i].gap)
			ng += key_batches(x, &x->n[i], &P->maj[i], g + ng, who + ng, i, false);
	rc = kt_kube_get_many(x->k, g, ng, x->d);
	account(x, g, ng);
	for (uint32_t i = 0; rc == 0 && i < ng; i++) {
		struct fnode *n = &x->n[who[i]];
		struct kt_dp_node got;
		if (!answer_ok(x, n, &g[i], "node state") || take_node(x, n, &g[i], &got) < 0)
			continue;
		for (uint32_t k = 0; k < got.n_svcs; k++)
			push_svc(&x->f->majority, &got.svcs[k]);
		free(got.svcs);
	}
	for (uint32_t i = 0; i < ng; i++)
		free(g[i].body);
	free(g);
	free(who);
	if (rc == 0)
		refetch_whole(x, P);
	return rc;
}

/* ---- the whole read ---------------------------------------------------------------- */

static int nodecmp(const void *p, const void *q)
{
	return strcmp(((const struct kt_fleet_node *)p)->node, ((const struct kt_fleet_node *)q)->node);
}

static int run(struct fc *x)
{
	int rc = discover(x);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < x->nn; i++)
		if (!x->n[i].has_agent)
			kt_log(1, "node %s has no ktrace agent Pod", x->n[i].name);
	if ((rc = ask_digests(x)) < 0)
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
	/* every node first: the array moves while it grows */
	for (uint32_t i = 0; i < x->nn; i++)
		if (x->n[i].ok)
			kt_fleet_add_node(x->f, x->s, x->n[i].name);
	for (uint32_t i = 0, k = 0; i < x->nn; i++)
		if (x->n[i].ok) {
			x->n[i].fn = &x->f->nodes[k++];
			node_meta(x, &x->n[i]);
		}
	if (!answered)
		return 0;
	struct plan P = {0};
	majority(x, &P);
	kt_log(1, "fleet: %u of %u nodes answered; %u Services, %u differ on some node; majority from node %s", answered,
	       x->nn, x->f->n_keys, x->f->n_deviating, x->n[P.r].name);
	rc = ask_entries(x, &P);
	for (uint32_t i = 0; rc == 0 && i < x->nn; i++)
		if (x->n[i].ok && !x->n[i].refetch)
			set_absent(x, &x->n[i], &P.absent[i]);
	plan_free(x, &P);
	if (rc < 0)
		return rc;
	/* nodes that became gaps while their entries were read */
	uint32_t w = 0;
	for (uint32_t i = 0; i < x->f->n_nodes; i++) {
		struct fnode *n = find_node(x, x->f->nodes[i].node);
		if (n && n->gap) {
			free(x->f->nodes[i].dev.svcs);
			continue;
		}
		x->f->nodes[w++] = x->f->nodes[i];
	}
	x->f->n_nodes = w;
	if (x->f->n_nodes > 1)
		qsort(x->f->nodes, x->f->n_nodes, sizeof(*x->f->nodes), nodecmp);
	/* every other node's entries point into these arrays: sort each */
	return 0;
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
	if (!url_safe(oo.ns, 63))
		return kt_diag_set(d, KT_EXIT_USAGE, "invalid --agent-namespace '%s'", oo.ns);
	struct fc x = {.k = k, .o = &oo, .s = snap, .d = d, .a = kt_arena_new()};
	x.secret = kt_arena_printf(x.a, "%s/%s", oo.ns, KT_AGENT_SECRET);
	x.f = kt_fleet_new(snap);
	x.f->agent_namespace = kt_intern(snap->arena, oo.ns);
	int rc = run(&x);
	if (x.tokhdr) {
		wipe(x.tokhdr, strlen(x.tokhdr));
		free(x.tokhdr);
	}
	free(x.n);
	kt_arena_free(x.a);
	return rc;
}
