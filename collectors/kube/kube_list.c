/*
 * What the API client asks for and what it does with the answers: the
 * resource table, request URLs (limit/continue, selectors), the public
 * kt_kube_fetch / kt_kube_names / kt_kube_version, and the pages.
 *
 * A page is never parsed whole: the body is walked, and each element of
 * "items" is measured (lib/jscan: bytes, JSON values, nesting), parsed,
 * reduced to the allow-list (sanitize.c), appended to the bundle when one
 * is written, converted into the snapshot, and freed before the next one.
 * Paging is bounded: a continue token seen before in the same list, a list
 * that grows past what the server announced (remainingItemCount), or more
 * than KT_MAX_LIST_PAGES pages / KT_MAX_LIST_ITEMS items stop it (exit 4).
 * Owns nothing beyond each job's paging state.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kube/k8s_obj.h"
#include "collectors/kube/kube_int.h"
#include "ktrace/bundle.h"
#include "ktrace/xalloc.h"
#include "lib/jscan.h"

#define KT_PAGE_LIMIT 500
#define KT_MAX_LIST_PAGES 10000
#define KT_MAX_LIST_ITEMS 2000000ul
#define KT_MAX_PAGE_ITEMS 1000000ul

static const struct kt_res_info res_tab[KT_RES_COUNT] = {
	[KT_RES_SERVICES] = { "services", "/api/v1", "", "Service", true, false },
	[KT_RES_ENDPOINTSLICES] = { "endpointslices", "/apis/discovery.k8s.io/v1", "discovery.k8s.io", "EndpointSlice", true, false },
	[KT_RES_PODS] = { "pods", "/api/v1", "", "Pod", true, false },
	[KT_RES_NODES] = { "nodes", "/api/v1", "", "Node", false, false },
	[KT_RES_DEPLOYMENTS] = { "deployments", "/apis/apps/v1", "apps", "Deployment", true, false },
	[KT_RES_STATEFULSETS] = { "statefulsets", "/apis/apps/v1", "apps", "StatefulSet", true, false },
	[KT_RES_DAEMONSETS] = { "daemonsets", "/apis/apps/v1", "apps", "DaemonSet", true, false },
	[KT_RES_REPLICASETS] = { "replicasets", "/apis/apps/v1", "apps", "ReplicaSet", true, false },
	[KT_RES_HPAS] = { "horizontalpodautoscalers", "/apis/autoscaling/v2", "autoscaling", "HorizontalPodAutoscaler", true, false },
	[KT_RES_PDBS] = { "poddisruptionbudgets", "/apis/policy/v1", "policy", "PodDisruptionBudget", true, false },
	[KT_RES_INGRESSES] = { "ingresses", "/apis/networking.k8s.io/v1", "networking.k8s.io", "Ingress", true, false },
	[KT_RES_INGRESSCLASSES] = { "ingressclasses", "/apis/networking.k8s.io/v1", "networking.k8s.io", "IngressClass", false, false },
	[KT_RES_CONFIGMAPS] = { "configmaps", "/api/v1", "", "ConfigMap", true, false },
	[KT_RES_NAMESPACES] = { "namespaces", "/api/v1", "", "Namespace", false, false },
	[KT_RES_GATEWAYCLASSES] = { "gatewayclasses", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "GatewayClass", false, true },
	[KT_RES_GATEWAYS] = { "gateways", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "Gateway", true, true },
	[KT_RES_HTTPROUTES] = { "httproutes", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "HTTPRoute", true, true },
	[KT_RES_GRPCROUTES] = { "grpcroutes", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "GRPCRoute", true, true },
};

const char *kt_res_name(enum kt_res r)
{
	return (unsigned)r < KT_RES_COUNT ? res_tab[r].plural : "unknown";
}

const struct kt_res_info *kt_res_info(enum kt_res r)
{
	return &res_tab[r];
}

/* apiVersion of the resource: "/api/v1" -> "v1", "/apis/apps/v1" -> "apps/v1" */
static const char *res_api_version(const struct kt_res_info *ri)
{
	return !strncmp(ri->prefix, "/apis/", 6) ? ri->prefix + 6 : ri->prefix + 5;
}

/* ---------- URLs and messages ---------- */

void kt_list_build_url(struct job *j)
{
	struct kt_kube *k = j->k;
	const struct kt_list_req *r = j->req;
	const struct kt_res_info *ri = &res_tab[r->res];
	CURL *h = j->h;
	char *ns = NULL, *nm = NULL, *ls = NULL, *fs = NULL, *ct = NULL;
	size_t bl = strlen(k->base), len;
	int o;
	char *u, sep = '?';

	free(j->url);
	if (j->sink == SINK_VERSION) {
		j->url = kt_xmalloc(bl + 16);
		snprintf(j->url, bl + 16, "%s/version", k->base);
		j->path = j->url + bl;
		return;
	}
	if (r->ns && ri->namespaced)
		ns = curl_easy_escape(h, r->ns, 0);
	if (r->name)
		nm = curl_easy_escape(h, r->name, 0);
	if (r->label_selector && *r->label_selector)
		ls = curl_easy_escape(h, r->label_selector, 0);
	if (r->field_selector && *r->field_selector)
		fs = curl_easy_escape(h, r->field_selector, 0);
	if (j->cont)
		ct = curl_easy_escape(h, j->cont, 0);
	len = bl + strlen(ri->prefix) + strlen(ri->plural) + 128 + (ns ? strlen(ns) : 0) + (nm ? strlen(nm) : 0) +
	      (ls ? strlen(ls) : 0) + (fs ? strlen(fs) : 0) + (ct ? strlen(ct) : 0);
	u = kt_xmalloc(len);
	o = snprintf(u, len, "%s%s%s%s/%s%s%s", k->base, ri->prefix, ns ? "/namespaces/" : "", ns ? ns : "", ri->plural,
		     nm ? "/" : "", nm ? nm : "");
	if (!nm) {
		o += snprintf(u + o, len - (size_t)o, "%climit=%d", sep, KT_PAGE_LIMIT);
		sep = '&';
	}
	if (ls) {
		o += snprintf(u + o, len - (size_t)o, "%clabelSelector=%s", sep, ls);
		sep = '&';
	}
	if (fs) {
		o += snprintf(u + o, len - (size_t)o, "%cfieldSelector=%s", sep, fs);
		sep = '&';
	}
	if (ct)
		snprintf(u + o, len - (size_t)o, "%ccontinue=%s", sep, ct);
	j->url = u;
	j->path = u + bl;
	curl_free(ns);
	curl_free(nm);
	curl_free(ls);
	curl_free(fs);
	curl_free(ct);
}

void kt_list_describe(const struct job *j, const char *verb, char *buf, size_t n)
{
	const struct kt_list_req *r = j->req;
	const struct kt_res_info *ri = &res_tab[r->res];

	if (r->name && r->ns && ri->namespaced)
		snprintf(buf, n, "%s %s '%s' in namespace '%s'", verb, ri->plural, r->name, r->ns);
	else if (r->name)
		snprintf(buf, n, "%s %s '%s'", verb, ri->plural, r->name);
	else if (r->ns && ri->namespaced)
		snprintf(buf, n, "%s %s in namespace '%s'", verb, ri->plural, r->ns);
	else if (ri->namespaced)
		snprintf(buf, n, "%s %s in all namespaces", verb, ri->plural);
	else
		snprintf(buf, n, "%s %s", verb, ri->plural);
}

void kt_list_rbac_hint(const struct job *j, struct kt_diag *d)
{
	const struct kt_list_req *r = j->req;
	const struct kt_res_info *ri = &res_tab[r->res];
	const char *verb = r->name ? "get" : "list";
	char res[128];

	snprintf(res, sizeof(res), "%s%s%s", ri->plural, ri->group[0] ? "." : "", ri->group);
	if (r->ns && ri->namespaced)
		kt_diag_hint(d, "needs '%s' on '%s' in '%s' (a Role/RoleBinding, or 'kubectl auth can-i %s %s -n %s')",
			     verb, res, r->ns, verb, res, r->ns);
	else
		kt_diag_hint(d, "needs '%s' on '%s' cluster-wide (a ClusterRole/ClusterRoleBinding, or 'kubectl auth can-i %s %s%s')",
			     verb, res, verb, res, ri->namespaced ? " -A" : "");
}

/* ---------- paging bounds ---------- */

static int paging_error(struct run *R, struct job *j, const char *why)
{
	char what[512];

	kt_list_describe(j, "list", what, sizeof(what));
	kt_diag_set(R->d, KT_EXIT_CLUSTER, "cannot %s: %s (%s)", what, why, j->url);
	kt_diag_hint(R->d, "the API server or a proxy in front of it pages wrongly; retry, or narrow the request with -n");
	return -KT_EXIT_CLUSTER;
}

int kt_list_token_seen(struct run *R, struct job *j, const char *token)
{
	struct kt_tokset *s = &j->seen;
	uint64_t h = kt_hash_str(KT_HASH_SEED, token) | 1; /* 0 marks a free slot */
	size_t i;

	if (++j->pages > KT_MAX_LIST_PAGES) {
		char why[96];

		snprintf(why, sizeof(why), "more than %d pages", KT_MAX_LIST_PAGES);
		return paging_error(R, j, why);
	}
	if (s->n * 2 >= s->cap) {
		struct kt_tokset big = {.cap = s->cap ? s->cap * 2 : 64};

		big.v = kt_xcalloc(big.cap, sizeof(*big.v));
		for (i = 0; i < s->cap; i++) {
			size_t p;

			if (!s->v[i])
				continue;
			for (p = s->v[i] & (big.cap - 1); big.v[p]; p = (p + 1) & (big.cap - 1))
				;
			big.v[p] = s->v[i];
			big.n++;
		}
		free(s->v);
		*s = big;
	}
	for (i = h & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == h)
			return paging_error(R, j, "the server handed out the same continue token twice (a paging loop)");
	s->v[i] = h;
	s->n++;
	return 0;
}

void kt_list_restart(struct job *j)
{
	free(j->seen.v);
	memset(&j->seen, 0, sizeof(j->seen));
	j->items = 0;
	j->expect = 0;
}

/* One more item in this pass of the list: within what the server
 * announced (with slack: the count is an estimate) and the hard cap. */
static int count_item(struct run *R, struct job *j)
{
	char why[160];

	j->items++;
	if (j->items > KT_MAX_LIST_ITEMS) {
		snprintf(why, sizeof(why), "more than %lu objects in one list", KT_MAX_LIST_ITEMS);
		return paging_error(R, j, why);
	}
	if (j->expect && j->items > j->expect + j->expect / 4 + 1000) {
		snprintf(why, sizeof(why),
			 "the list grew past the %lu objects the server announced (remainingItemCount)", j->expect);
		return paging_error(R, j, why);
	}
	return 0;
}

/* ---------- items ---------- */

static char *item_key(const cJSON *item)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	size_t l;
	char *key;

	if (!nm)
		nm = "";
	l = (ns ? strlen(ns) + 1 : 0) + strlen(nm) + 1;
	key = kt_xmalloc(l);
	snprintf(key, l, "%s%s%s", ns ? ns : "", ns ? "/" : "", nm);
	return key;
}

static void take_name(struct job *j, const cJSON *item)
{
	const char *nm = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "metadata"), "name"));

	if (!nm)
		return;
	if (j->n_names + 1 >= j->cap_names) {
		unsigned nc = j->cap_names ? j->cap_names * 2 : 64;
		const char **nn = KT_ANEW(j->na, const char *, nc);

		if (j->n_names)
			memcpy(nn, j->names, sizeof(*nn) * j->n_names);
		j->names = nn;
		j->cap_names = nc;
	}
	j->names[j->n_names++] = kt_arena_strdup(j->na, nm);
}

/* One object of the requested resource: kind and apiVersion are what was
 * requested, whatever the item says. */
static int take_item(struct run *R, struct job *j, cJSON *item)
{
	const struct kt_res_info *ri = &res_tab[j->req->res];
	struct kt_kube *k = R->k;
	char *key;
	int rc;

	key = item_key(item);
	if (j->skip_key && strcmp(key, j->skip_key) <= 0) {
		free(key);
		return 0;
	}
	free(j->last_key);
	j->last_key = key;
	if ((rc = count_item(R, j)) < 0)
		return rc;
	if (j->sink == SINK_NAMES) {
		take_name(j, item);
		return 0;
	}
	if (j->req->res == KT_RES_NAMESPACES)
		return 0;
	cJSON_DeleteItemFromObjectCaseSensitive(item, "kind");
	cJSON_DeleteItemFromObjectCaseSensitive(item, "apiVersion");
	cJSON_AddStringToObject(item, "kind", ri->kind);
	cJSON_AddStringToObject(item, "apiVersion", res_api_version(ri));
	if (!kt_obj_sanitize(item, ri->kind))
		return 0;
	if (R->bw) {
		char *txt = cJSON_PrintUnformatted(item);

		if (!txt)
			kt_oom();
		rc = kt_bundle_add_raw(R->bw, txt, strlen(txt));
		cJSON_free(txt);
		if (rc < 0) {
			kt_diag_set(R->d, KT_EXIT_INPUT, "cannot write the bundle: %s", strerror(kt_bundle_errno(R->bw)));
			kt_diag_hint(R->d, "the file named with -f is left as it was");
			return -KT_EXIT_INPUT;
		}
	}
	if (R->snap && (rc = kt_obj_ingest(R->snap, item, ri->kind, NULL, R->d)) < 0)
		return rc;
	k->n_objects++;
	if (k->progress) {
		long long t = kt_kube_now_ms();

		if (t - k->progress_at >= 200) {
			k->progress_at = t;
			k->progress(k->progress_ctx, k->n_objects);
		}
	}
	return 0;
}

/*
 * cJSON allocations of one item come from a bump allocator that is reset
 * after the item: a Pod is hundreds of small nodes, and malloc/free of each
 * (plus glibc's fastbin consolidation on the large print buffers) was most
 * of the client's CPU. The hooks are installed only while a page is
 * processed (single-threaded) and restored before returning.
 */
#define KT_PAGE_CHUNK (4u << 20)

struct pa_chunk {
	struct pa_chunk *next;
	size_t used, cap;
	char data[];
};

static struct pa_chunk *pa_head;

static void *pa_malloc(size_t n)
{
	struct pa_chunk *c = pa_head;

	n = (n + 15) & ~(size_t)15;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > KT_PAGE_CHUNK ? n : KT_PAGE_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = pa_head;
		pa_head = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

static void pa_free(void *p)
{
	(void)p;
}

/* Release every chunk but one (kept for the next item). */
static void pa_reset(void)
{
	struct pa_chunk *c = pa_head, *keep = NULL;

	while (c) {
		struct pa_chunk *n = c->next;

		if (!keep && c->cap == KT_PAGE_CHUNK) {
			keep = c;
			keep->used = 0;
			keep->next = NULL;
		} else {
			free(c);
		}
		c = n;
	}
	pa_head = keep;
}

/* ---------- pages ---------- */

struct page {
	const char *b;
	size_t len, pos;
	const char *url;
	char *cont;              /* metadata.continue (malloc) */
	long long remaining;     /* metadata.remainingItemCount; -1 absent */
};

static void page_ws(struct page *p)
{
	while (p->pos < p->len && (p->b[p->pos] == ' ' || p->b[p->pos] == '\n' || p->b[p->pos] == '\r' ||
				   p->b[p->pos] == '\t'))
		p->pos++;
}

static int malformed(struct run *R, const struct page *p, const char *why)
{
	kt_diag_set(R->d, KT_EXIT_INPUT, "malformed response from %s: %s (%zu bytes)", p->url, why, p->len);
	kt_diag_hint(R->d, "the server or a proxy in between returned something other than the Kubernetes API");
	return -KT_EXIT_INPUT;
}

/* The value at pos within lim, parsed (bump allocator); pos moves past it. */
static int page_value(struct run *R, struct page *p, const struct kt_jlimits *lim, cJSON **out)
{
	struct kt_jscan st;
	size_t end;
	enum kt_jscan_rc rc;
	char why[96];

	memset(&st, 0, sizeof(st));
	page_ws(p);
	rc = kt_jscan(&st, p->b + p->pos, p->len - p->pos, true, lim, &end);
	if (rc != KT_JSCAN_DONE)
		return malformed(R, p, kt_jscan_why(rc, lim, why, sizeof(why)));
	*out = cJSON_ParseWithLength(p->b + p->pos, end);
	if (!*out)
		return malformed(R, p, "not valid JSON");
	p->pos += end;
	page_ws(p);
	return 0;
}

static void page_metadata(struct page *p, const cJSON *md)
{
	const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "continue"));
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(md, "remainingItemCount");

	free(p->cont);
	p->cont = c && *c ? kt_xstrdup(c) : NULL;
	if (cJSON_IsNumber(r) && r->valuedouble >= 0 && r->valuedouble < 1e15)
		p->remaining = (long long)r->valuedouble;
}

static int page_items(struct run *R, struct job *j, struct page *p)
{
	static const struct kt_jlimits lim = KT_JLIMITS_OBJECT;
	unsigned long n = 0;
	int rc;

	page_ws(p);
	if (p->pos >= p->len || p->b[p->pos] == 'n') /* "items": null */
		return p->len - p->pos >= 4 && !memcmp(p->b + p->pos, "null", 4) ? (p->pos += 4, 0)
										  : malformed(R, p, "'items' is not a list");
	if (p->b[p->pos] != '[')
		return malformed(R, p, "'items' is not a list");
	p->pos++;
	page_ws(p);
	if (p->pos < p->len && p->b[p->pos] == ']') {
		p->pos++;
		return 0;
	}
	for (;; n++) {
		cJSON *it;

		if (n >= KT_MAX_PAGE_ITEMS)
			return malformed(R, p, "more than 1000000 items in one page");
		page_ws(p);
		if (p->pos >= p->len || p->b[p->pos] != '{') {
			char why[64];

			snprintf(why, sizeof(why), "items[%lu] is not an object", n);
			return malformed(R, p, why);
		}
		if ((rc = page_value(R, p, &lim, &it)) < 0)
			return rc;
		rc = take_item(R, j, it);
		pa_reset();
		if (rc < 0)
			return rc;
		if (p->pos < p->len && p->b[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->b[p->pos] == ']') {
			p->pos++;
			return 0;
		}
		return malformed(R, p, "expected ',' or ']' in 'items'");
	}
}

/* Walk a list response: {"kind":..,"metadata":{..},"items":[..]} in any order. */
static int page_walk(struct run *R, struct job *j, struct page *p)
{
	static const struct kt_jlimits small = {1u << 20, 1u << 16, 32};
	static const struct kt_jlimits skip = KT_JLIMITS_OBJECT;
	int rc;

	page_ws(p);
	if (p->pos >= p->len || p->b[p->pos] != '{')
		return malformed(R, p, "not a JSON object");
	p->pos++;
	page_ws(p);
	if (p->pos < p->len && p->b[p->pos] == '}')
		return 0;
	for (;;) {
		cJSON *key, *v = NULL;

		if ((rc = page_value(R, p, &small, &key)) < 0)
			return rc;
		if (!cJSON_IsString(key) || p->pos >= p->len || p->b[p->pos] != ':')
			return malformed(R, p, "expected a key");
		p->pos++;
		if (!strcmp(key->valuestring, "items")) {
			rc = page_items(R, j, p);
		} else {
			rc = page_value(R, p, !strcmp(key->valuestring, "metadata") ? &small : &skip, &v);
			if (rc == 0 && !strcmp(key->valuestring, "metadata"))
				page_metadata(p, v);
		}
		pa_reset();
		if (rc < 0)
			return rc;
		page_ws(p);
		if (p->pos < p->len && p->b[p->pos] == ',') {
			p->pos++;
			page_ws(p);
			continue;
		}
		if (p->pos < p->len && p->b[p->pos] == '}')
			break;
		return malformed(R, p, "expected ',' or '}'");
	}
	p->pos++;
	page_ws(p);
	return p->pos == p->len ? 0 : malformed(R, p, "data after the JSON object");
}

int kt_list_page(struct run *R, struct job *j, char *body, size_t len, const char *url, char **cont_out)
{
	static const struct kt_jlimits lim = KT_JLIMITS_OBJECT;
	struct page p = {.b = body, .len = len, .url = url, .remaining = -1};
	cJSON_Hooks h = {pa_malloc, pa_free};
	int rc;

	*cont_out = NULL;
	if (!body || !len)
		return kt_diag_set(R->d, KT_EXIT_INPUT, "empty response from %s", url);
	cJSON_InitHooks(&h);
	if (j->req->name) {
		cJSON *root;

		rc = page_value(R, &p, &lim, &root);
		if (rc == 0 && (!cJSON_IsObject(root) || p.pos != p.len))
			rc = malformed(R, &p, "not a JSON object");
		if (rc == 0)
			rc = take_item(R, j, root);
	} else {
		rc = page_walk(R, j, &p);
	}
	cJSON_InitHooks(NULL);
	pa_reset();
	if (rc == 0 && p.remaining >= 0 && !j->req->name) {
		unsigned long announced = j->items + (unsigned long)p.remaining;

		if (!j->expect || announced < j->expect)
			j->expect = announced;
	}
	if (rc == 0)
		*cont_out = p.cont;
	else
		free(p.cont);
	return rc;
}

char *kt_list_peek_continue(const char *body, size_t len)
{
	size_t lim = len < 8192 ? len : 8192;
	const char *md = memmem(body, lim, "\"metadata\":{", 12), *end, *c, *q;

	if (!md || memmem(body, (size_t)(md - body), "\"items\"", 7))
		return NULL;
	end = memchr(md, '}', lim - (size_t)(md - body));
	if (!end)
		return NULL;
	c = memmem(md, (size_t)(end - md), "\"continue\":\"", 12);
	if (!c)
		return NULL;
	c += 12;
	q = memchr(c, '"', (size_t)(end - c));
	if (!q || q == c || memchr(c, '\\', (size_t)(q - c)))
		return NULL;
	return strndup(c, (size_t)(q - c));
}

/* ---------- the public requests ---------- */

int kt_kube_fetch(struct kt_kube *k, const struct kt_list_req *reqs, unsigned n, struct kt_snapshot *snap,
		  struct kt_bundle_writer *bw, struct kt_diag *d)
{
	struct run R = { .k = k, .snap = snap, .bw = bw, .d = d };
	struct job *jobs;
	unsigned i;
	int rc;

	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned)reqs[i].res >= KT_RES_COUNT)
			return kt_diag_set(d, KT_EXIT_USAGE, "unknown resource %d", (int)reqs[i].res);
	jobs = kt_xcalloc(n, sizeof(*jobs));
	for (i = 0; i < n; i++) {
		jobs[i].k = k;
		jobs[i].req = &reqs[i];
		jobs[i].sink = SINK_INGEST;
	}
	rc = kt_jobs_run(&R, jobs, n);
	for (i = 0; i < n; i++)
		kt_job_free(k, &jobs[i]);
	free(jobs);
	return rc;
}

int kt_kube_version(struct kt_kube *k, struct kt_arena *a, const char **out, struct kt_diag *d)
{
	struct kt_list_req req = { .res = KT_RES_NAMESPACES, .optional = true };
	struct run R = { .k = k, .d = d };
	struct job j;
	int rc;

	*out = NULL;
	memset(&j, 0, sizeof(j));
	j.k = k;
	j.req = &req;
	j.sink = SINK_VERSION;
	j.na = a;
	rc = kt_jobs_run(&R, &j, 1);
	if (rc == 0 && !j.version) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "%s/version: no gitVersion in the response", k->base);
		rc = -KT_EXIT_CLUSTER;
	}
	if (rc == 0)
		*out = j.version;
	kt_job_free(k, &j);
	return rc;
}

int kt_kube_names(struct kt_kube *k, enum kt_res res, const char *ns, struct kt_arena *a, const char ***names,
		  unsigned *n, struct kt_diag *d)
{
	struct kt_list_req req = { .res = res, .ns = ns };
	struct run R = { .k = k, .d = d };
	struct job j;
	int rc;

	*names = NULL;
	*n = 0;
	if ((unsigned)res >= KT_RES_COUNT)
		return kt_diag_set(d, KT_EXIT_USAGE, "unknown resource %d", (int)res);
	memset(&j, 0, sizeof(j));
	j.k = k;
	j.req = &req;
	j.sink = SINK_NAMES;
	j.na = a;
	rc = kt_jobs_run(&R, &j, 1);
	if (rc == 0) {
		*names = j.names ? j.names : KT_ANEW(a, const char *, 1);
		*n = j.n_names;
	}
	kt_job_free(k, &j);
	return rc;
}
