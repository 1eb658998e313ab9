/*
 * The agent's JSON bodies, both directions: the writers the agent's server
 * uses for /v1/digests, for the keys it adds to a node object or flow
 * sample ("gaps", "sampler") and for errors, and the decoders a client
 * uses for every answer (digests, node state, flows, errors). Node objects
 * and flow samples themselves are the bundle shapes, read and written by
 * collectors/dataplane/dp_json.c and collectors/flows/flow_json.c. Every
 * count is bounded; malformed bodies are KT_EXIT_INPUT with what was
 * wrong. Must not: print, judge, do I/O.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktrace/agent.h"
#include "ktrace/arena.h"
#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"
#include "collectors/agent/agent_int.h"
#include "collectors/codec/codec.h"

#define MAX_SERVICES 2000000u
#define MAX_LOCAL    65536u
#define MAX_NOTES    1024u
#define MAX_GAPS     4096u
#define MAX_BUCKETS  4096u

static void hex64(char buf[17], uint64_t v)
{
	snprintf(buf, 17, "%016llx", (unsigned long long)v);
}

static void metrics_json(struct kt_jw *w, const struct kt_proxy_metrics *m)
{
	kt_jw_key(w, "metrics");
	kt_jw_obj(w);
	kt_jw_kdouble(w, "lastSync", m->last_sync);
	kt_jw_kdouble(w, "lastQueued", m->last_queued);
	kt_jw_kuint(w, "latencyCount", m->latency_count);
	kt_jw_kdouble(w, "latencySum", m->latency_sum);
	kt_jw_kstr(w, "proxyMode", m->proxy_mode);
	kt_jw_key(w, "buckets");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < m->n_buckets; i++) {
		kt_jw_obj(w);
		kt_jw_kdouble(w, "le", m->bucket_le[i]);
		kt_jw_kuint(w, "count", m->bucket_count[i]);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
}

void kt_agent_gaps_json(struct kt_jw *w, const struct kt_gap *gaps, uint32_t n)
{
	kt_jw_key(w, "gaps");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < n; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "what", gaps[i].what);
		kt_jw_kstr(w, "why", gaps[i].why);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
}

void kt_agent_digests_to_json(struct kt_jw *w, const struct kt_dp_node *n, const struct kt_agent_digest *dig,
			      uint32_t n_dig, const char *state_id, int64_t taken_ms, const struct kt_gap *gaps,
			      uint32_t n_gaps, bool canonical)
{
	kt_jw_obj(w);
	kt_jw_kstr(w, "node", n->node);
	kt_jw_kstr(w, "stateId", state_id);
	kt_jw_kint(w, "takenMs", taken_ms);
	kt_jw_kint(w, "digestVersion", KT_AGENT_DIGEST_VERSION);
	kt_jw_kstr(w, "agentVersion", KT_VERSION);
	kt_jw_kstr(w, "source", n->source);
	kt_jw_key(w, "modes");
	kt_jw_arr(w);
	for (int m = 0; m < KT_DP_MODE_COUNT; m++)
		if (n->modes & (1u << m))
			kt_jw_str(w, kt_dp_mode_name((enum kt_dp_mode)m));
	kt_jw_arr_end(w);
	if (n->n_notes) {
		kt_jw_key(w, "notes");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < n->n_notes; i++)
			kt_jw_str(w, n->notes[i]);
		kt_jw_arr_end(w);
	}
	if (n->metrics.present)
		metrics_json(w, &n->metrics);
	kt_agent_gaps_json(w, gaps, gaps ? n_gaps : 0);
	kt_jw_key(w, "services");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < n_dig; i++) {
		const struct kt_agent_digest *d = &dig[i];
		char key[2 * KT_AGENT_MAX_KEY_LEN], hx[17];
		snprintf(key, sizeof(key), "%s/%s", d->namespace, d->name);
		hex64(hx, d->digest);
		kt_jw_obj(w);
		kt_jw_kstr(w, "key", key);
		kt_jw_kstr(w, "digest", hx);
		kt_jw_kuint(w, "ports", d->ports);
		if (d->has_local) {
			kt_jw_key(w, "local");
			kt_jw_arr(w);
			for (uint32_t k = 0; k < d->n_local; k++) {
				kt_jw_obj(w);
				kt_jw_kstr(w, "ip", d->local[k].ip);
				kt_jw_kint(w, "port", d->local[k].port);
				kt_jw_obj_end(w);
			}
			kt_jw_arr_end(w);
		}
		if (canonical && d->canonical)
			kt_jw_kstr(w, "canonical", d->canonical);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
}

void kt_agent_extras_to_json(struct kt_jw *w, const struct kt_gap *gaps, uint32_t n_gaps,
			     const struct kt_flow_sample *fs, int64_t interval_ms)
{
	kt_jw_obj(w);
	if (gaps && n_gaps)
		kt_agent_gaps_json(w, gaps, n_gaps);
	if (fs) {
		kt_jw_key(w, "sampler");
		kt_jw_obj(w);
		kt_jw_kint(w, "intervalMs", interval_ms);
		kt_jw_kbool(w, "events", fs->events);
		kt_jw_kbool(w, "fullDump", fs->full_dump);
		kt_jw_kbool(w, "capped", fs->capped);
		kt_jw_kuint(w, "elapsedUs", fs->elapsed_us);
		if (fs->events) {
			kt_jw_key(w, "opened");
			kt_jw_arr(w);
			for (uint32_t i = 0; i < fs->n_agg; i++)
				kt_jw_uint(w, fs->agg[i].opened);
			kt_jw_arr_end(w);
			const char *keys[2] = {"rateOrig", "rateReply"};
			for (int k = 0; k < 2; k++) {
				kt_jw_key(w, keys[k]);
				kt_jw_arr(w);
				for (uint32_t i = 0; i < fs->n_agg; i++) {
					double r = k ? fs->agg[i].rate_reply : fs->agg[i].rate_orig;
					if (r >= 0)
						kt_jw_double(w, r);
					else
						kt_jw_null(w);
				}
				kt_jw_arr_end(w);
			}
		}
		kt_jw_obj_end(w);
	}
	kt_jw_obj_end(w);
}

void kt_agent_error_to_json(struct kt_jw *w, int code, const char *reason, const char *message,
			    const char *state_id)
{
	kt_jw_obj(w);
	kt_jw_key(w, "error");
	kt_jw_obj(w);
	kt_jw_kint(w, "code", code);
	kt_jw_kstr(w, "reason", reason);
	kt_jw_kstr(w, "message", message);
	if (state_id)
		kt_jw_kstr(w, "stateId", state_id);
	kt_jw_obj_end(w);
	kt_jw_obj_end(w);
}

/* ---- decoders ------------------------------------------------------- */

static const cJSON *item(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = item(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A finite number in [lo, hi]; def when absent or null; false when bad. */
static bool jnum(const cJSON *o, const char *k, double lo, double hi, double def, double *out)
{
	const cJSON *v = item(o, k);
	*out = def;
	if (!v || cJSON_IsNull(v))
		return true;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
		return false;
	*out = v->valuedouble;
	return true;
}

static bool hex16(const char *s, uint64_t *out)
{
	if (!s || strlen(s) != 16)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = s[i];
		int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (x < 0)
			return false;
		v = v << 4 | (uint64_t)x;
	}
	*out = v;
	return true;
}

static cJSON *parse_obj(const char *body, size_t len, const char *what, struct kt_diag *d)
{
	if (!body || !len) {
		kt_diag_set(d, KT_EXIT_INPUT, "agent %s: empty body", what);
		return NULL;
	}
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, false);
	if (!j) {
		size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
		kt_diag_set(d, KT_EXIT_INPUT, "agent %s: not JSON (at byte %zu)", what, at);
		return NULL;
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		kt_diag_set(d, KT_EXIT_INPUT, "agent %s: not a JSON object", what);
		return NULL;
	}
	return j;
}

/* The "node" key must be a string and (when asked) the expected node. */
static int check_node(const cJSON *j, const char *what, const char *expect, struct kt_diag *d)
{
	const char *node = jstr(j, "node");
	if (!node || !node[0] || strlen(node) > 253)
		return kt_diag_set(d, KT_EXIT_INPUT, "agent %s: no valid \"node\"", what);
	if (expect && strcmp(node, expect) != 0)
		return kt_diag_set(d, KT_EXIT_INPUT, "agent %s: the answer is about node '%.253s', not '%.253s'", what,
				   node, expect);
	return 0;
}

static int mode_of(const char *s)
{
	for (int m = 0; s && m < KT_DP_MODE_COUNT; m++)
		if (strcmp(s, kt_dp_mode_name((enum kt_dp_mode)m)) == 0)
			return m;
	return -1;
}

static int read_gaps(const cJSON *arr, struct kt_arena *a, struct kt_gap **out, uint32_t *n, const char *what,
		     struct kt_diag *d)
{
	*out = NULL;
	*n = 0;
	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent %s: \"gaps\" is not an array", what);
	int cnt = cJSON_GetArraySize(arr);
	if (cnt < 0 || (unsigned)cnt > MAX_GAPS)
		return kt_diag_set(d, KT_EXIT_INPUT, "agent %s: more than %u gaps", what, MAX_GAPS);
	*out = KT_ANEW(a, struct kt_gap, cnt ? cnt : 1);
	const cJSON *g;
	cJSON_ArrayForEach(g, arr) {
		const char *gw = jstr(g, "what"), *gy = jstr(g, "why");
		if (!gw)
			return kt_diag_set(d, KT_EXIT_INPUT, "agent %s: a gap without \"what\"", what);
		(*out)[*n].what = kt_arena_strdup(a, gw);
		(*out)[*n].why = kt_arena_strdup(a, gy ? gy : "");
		(*n)++;
	}
	return 0;
}

static int read_metrics(const cJSON *met, struct kt_arena *a, struct kt_proxy_metrics *pm, struct kt_diag *d)
{
	if (!met || cJSON_IsNull(met))
		return 0;
	if (!cJSON_IsObject(met))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: \"metrics\" is not an object");
	double v;
	pm->present = true;
	if (!jnum(met, "lastSync", 0, 1e12, 0, &pm->last_sync) || !jnum(met, "lastQueued", 0, 1e12, 0, &pm->last_queued) ||
	    !jnum(met, "latencySum", 0, 1e15, 0, &pm->latency_sum) || !jnum(met, "latencyCount", 0, 1.8e19, 0, &v))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: bad kube-proxy metrics");
	pm->latency_count = (uint64_t)v;
	pm->proxy_mode = kt_arena_strdup(a, jstr(met, "proxyMode"));
	const cJSON *bk = item(met, "buckets");
	int nb = cJSON_IsArray(bk) ? cJSON_GetArraySize(bk) : 0;
	if (nb < 0 || (unsigned)nb > MAX_BUCKETS)
		return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: too many metrics buckets");
	if (!nb)
		return 0;
	pm->bucket_le = KT_ANEW(a, double, nb);
	pm->bucket_count = KT_ANEW(a, uint64_t, nb);
	const cJSON *b;
	cJSON_ArrayForEach(b, bk) {
		double le, cnt;
		if (!jnum(b, "le", -1e300, 1e300, 0, &le) || !jnum(b, "count", 0, 1.8e19, 0, &cnt))
			return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: bad metrics bucket");
		pm->bucket_le[pm->n_buckets] = le;
		pm->bucket_count[pm->n_buckets] = (uint64_t)cnt;
		pm->n_buckets++;
	}
	return 0;
}

static int digest_cmp(const void *x, const void *y)
{
	const struct kt_agent_digest *a = x, *b = y;
	int c = strcmp(a->namespace, b->namespace);
	return c ? c : strcmp(a->name, b->name);
}

static int read_service(const cJSON *sj, struct kt_arena *a, struct kt_agent_digest *x, uint32_t i,
			struct kt_diag *d)
{
	const char *key = jstr(sj, "key");
	size_t nsl, nml;
	const char *nm;
	if (!cJSON_IsObject(sj) || !key || strlen(key) > KT_AGENT_MAX_KEY_LEN ||
	    !kt_agent_key_split(key, strlen(key), &nsl, &nm, &nml))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: services[%u] has no valid \"key\"", i);
	x->namespace = kt_intern_n(a, key, nsl);
	x->name = kt_intern_n(a, nm, nml);
	if (!hex16(jstr(sj, "digest"), &x->digest))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: services[%u] (%s) has no valid \"digest\"", i, key);
	double v;
	if (!jnum(sj, "ports", 0, 1e6, 0, &v))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: services[%u] (%s): bad \"ports\"", i, key);
	x->ports = (uint32_t)v;
	const cJSON *loc = item(sj, "local");
	if (loc && !cJSON_IsNull(loc)) {
		int nl = cJSON_IsArray(loc) ? cJSON_GetArraySize(loc) : -1;
		if (nl < 0 || (unsigned)nl > MAX_LOCAL)
			return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: services[%u] (%s): bad \"local\"", i, key);
		x->has_local = true;
		x->local = KT_ANEW(a, struct kt_agent_local, nl ? nl : 1);
		const cJSON *l;
		cJSON_ArrayForEach(l, loc) {
			const char *ip = jstr(l, "ip");
			double port;
			if (!ip || !jnum(l, "port", 0, 65535, 0, &port))
				return kt_diag_set(d, KT_EXIT_INPUT, "agent digests: services[%u] (%s): bad local endpoint",
						   i, key);
			x->local[x->n_local].ip = kt_intern(a, ip);
			x->local[x->n_local].port = (int32_t)port;
			x->n_local++;
		}
	}
	const char *canon = jstr(sj, "canonical");
	if (canon)
		x->canonical = kt_arena_strdup(a, canon);
	return 0;
}

int kt_agent_decode_digests(const char *body, size_t len, const char *expect_node, struct kt_arena *a,
			    struct kt_agent_digests *out, struct kt_diag *d)
{
	memset(out, 0, sizeof(*out));
	cJSON *j = parse_obj(body, len, "digests", d);
	if (!j)
		return -KT_EXIT_INPUT;
	int rc = check_node(j, "digests", expect_node, d);
	uint64_t sid;
	double v;
	if (rc < 0)
		goto out;
	out->node = kt_arena_strdup(a, jstr(j, "node"));
	if (!hex16(jstr(j, "stateId"), &sid)) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "agent digests: no valid \"stateId\"");
		goto out;
	}
	out->state_id = kt_arena_strdup(a, jstr(j, "stateId"));
	if (!jnum(j, "takenMs", 0, 1e16, 0, &v)) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "agent digests: bad \"takenMs\"");
		goto out;
	}
	out->taken_ms = (int64_t)v;
	if (!jnum(j, "digestVersion", 0, 1e6, 0, &v) || v < 1) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "agent digests: no valid \"digestVersion\"");
		goto out;
	}
	out->digest_version = (int)v;
	out->agent_version = kt_arena_strdup(a, jstr(j, "agentVersion"));
	out->source = kt_arena_strdup(a, jstr(j, "source"));
	const cJSON *m;
	cJSON_ArrayForEach(m, item(j, "modes")) {
		int mi = cJSON_IsString(m) ? mode_of(m->valuestring) : -1;
		if (mi >= 0)
			out->modes |= 1u << mi;
	}
	const cJSON *notes = item(j, "notes");
	int nn = cJSON_IsArray(notes) ? cJSON_GetArraySize(notes) : 0;
	if (nn > 0 && (unsigned)nn <= MAX_NOTES) {
		out->notes = KT_ANEW(a, const char *, nn);
		cJSON_ArrayForEach(m, notes)
			if (cJSON_IsString(m))
				out->notes[out->n_notes++] = kt_arena_strdup(a, m->valuestring);
	}
	if ((rc = read_metrics(item(j, "metrics"), a, &out->metrics, d)) < 0 ||
	    (rc = read_gaps(item(j, "gaps"), a, &out->gaps, &out->n_gaps, "digests", d)) < 0)
		goto out;
	const cJSON *svcs = item(j, "services");
	int ns = cJSON_IsArray(svcs) ? cJSON_GetArraySize(svcs) : -1;
	if (ns < 0 || (unsigned)ns > MAX_SERVICES) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "agent digests: \"services\" is %s",
				 ns < 0 ? "missing or not an array" : "too long");
		goto out;
	}
	out->svcs = KT_ANEW(a, struct kt_agent_digest, ns ? ns : 1);
	const cJSON *sj;
	cJSON_ArrayForEach(sj, svcs) {
		if ((rc = read_service(sj, a, &out->svcs[out->n_svcs], out->n_svcs, d)) < 0)
			goto out;
		out->n_svcs++;
	}
	qsort(out->svcs, out->n_svcs, sizeof(*out->svcs), digest_cmp);
	for (uint32_t i = 1; i < out->n_svcs; i++)
		if (!digest_cmp(&out->svcs[i - 1], &out->svcs[i])) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "agent digests: service %s/%s listed twice",
					 out->svcs[i].namespace, out->svcs[i].name);
			goto out;
		}
	rc = 0;
out:
	cJSON_Delete(j);
	return rc;
}

/* The agent's gaps of one answer into snap->gaps, named after the node. */
static int add_gaps(struct kt_snapshot *snap, const cJSON *j, const char *node, const char *what, struct kt_diag *d)
{
	struct kt_gap *g;
	uint32_t n;
	struct kt_arena *tmp = kt_arena_new();
	int rc = read_gaps(item(j, "gaps"), tmp, &g, &n, what, d);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		char w[600];
		snprintf(w, sizeof(w), "node %.253s: %s", node, g[i].what);
		kt_snapshot_gap(snap, w, "%s", g[i].why);
	}
	kt_arena_free(tmp);
	return rc;
}

/* Every number of a node object is a count, port, weight, probability,
 * time or handle: finite and not negative, and the integer fields fit
 * their types. Checked before the bundle reader converts them. */
static const char *bad_number(const cJSON *j, const char *key, int depth)
{
	if (depth > 64)
		return "nesting";
	if (cJSON_IsNumber(j)) {
		double v = j->valuedouble, max = 1.8e19;
		if (key && (!strcmp(key, "port") || !strcmp(key, "weight") || !strcmp(key, "timeoutSeconds")))
			max = 2147483647.0;
		else if (key && (!strcmp(key, "activeConns") || !strcmp(key, "inactiveConns") ||
				 !strcmp(key, "affinityClients")))
			max = 4294967295.0;
		return isfinite(v) && v >= 0 && v <= max ? NULL : key ? key : "a number";
	}
	const cJSON *c;
	cJSON_ArrayForEach(c, j) {
		const char *b = bad_number(c, cJSON_IsObject(j) ? c->string : key, depth + 1);
		if (b)
			return b;
	}
	return NULL;
}

int kt_agent_decode_node(struct kt_snapshot *snap, const char *body, size_t len, const char *expect_node,
			 struct kt_diag *d)
{
	cJSON *j = parse_obj(body, len, "node state", d);
	if (!j)
		return -KT_EXIT_INPUT;
	int rc = check_node(j, "node state", expect_node, d);
	if (rc == 0 && !cJSON_IsArray(item(j, "services")))
		rc = kt_diag_set(d, KT_EXIT_INPUT, "agent node state: \"services\" is missing or not an array");
	const char *bn = rc == 0 ? bad_number(j, NULL, 0) : NULL;
	if (bn)
		rc = kt_diag_set(d, KT_EXIT_INPUT, "agent node state: \"%.40s\" out of range", bn);
	if (rc == 0)
		rc = add_gaps(snap, j, jstr(j, "node"), "node state", d);
	if (rc == 0)
		rc = kt_dp_node_from_json(snap, j, d) < 0 ? -KT_EXIT_INPUT : 0;
	cJSON_Delete(j);
	return rc;
}

static int read_sampler(struct kt_flow_sample *fs, const cJSON *sm, bool compact, struct kt_diag *d)
{
	if (!sm || cJSON_IsNull(sm))
		return 0;
	if (!cJSON_IsObject(sm))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: \"sampler\" is not an object");
	double v;
	if (!jnum(sm, "elapsedUs", 0, 4e9, 0, &v))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: bad sampler \"elapsedUs\"");
	fs->elapsed_us = (uint32_t)v;
	fs->capped = cJSON_IsTrue(item(sm, "capped"));
	fs->full_dump = cJSON_IsTrue(item(sm, "fullDump"));
	if (!cJSON_IsTrue(item(sm, "events")))
		return 0;
	if (compact) {
		fs->events = true;   /* opened counts and byte rates came in the rows */
		return 0;
	}
	const cJSON *op = item(sm, "opened"), *ro = item(sm, "rateOrig"), *rr = item(sm, "rateReply");
	if (!cJSON_IsArray(op) || !cJSON_IsArray(ro) || !cJSON_IsArray(rr) ||
	    (uint32_t)cJSON_GetArraySize(op) != fs->n_agg || (uint32_t)cJSON_GetArraySize(ro) != fs->n_agg ||
	    (uint32_t)cJSON_GetArraySize(rr) != fs->n_agg)
		return kt_diag_set(d, KT_EXIT_INPUT,
				   "agent flows: sampler \"opened\"/\"rateOrig\"/\"rateReply\" do not match \"flows\"");
	const cJSON *x = op->child, *y = ro->child, *z = rr->child;
	for (uint32_t i = 0; i < fs->n_agg; i++, x = x->next, y = y->next, z = z->next) {
		if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble < 0 || x->valuedouble > 4e9)
			return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: bad sampler \"opened\"[%u]", i);
		fs->agg[i].opened = (uint32_t)x->valuedouble;
		const cJSON *r[2] = {y, z};
		double *dst[2] = {&fs->agg[i].rate_orig, &fs->agg[i].rate_reply};
		for (int k = 0; k < 2; k++) {
			if (cJSON_IsNull(r[k]))
				*dst[k] = -1;
			else if (cJSON_IsNumber(r[k]) && isfinite(r[k]->valuedouble) && r[k]->valuedouble >= 0)
				*dst[k] = r[k]->valuedouble;
			else
				return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: bad sampler byte rate [%u]", i);
		}
	}
	fs->events = true;
	return 0;
}

int kt_agent_decode_flows(struct kt_snapshot *snap, const char *body, size_t len, const char *expect_node,
			  struct kt_diag *d)
{
	cJSON *j = parse_obj(body, len, "flows", d);
	if (!j)
		return -KT_EXIT_INPUT;
	int rc = check_node(j, "flows", expect_node, d);
	if (rc == 0)
		rc = add_gaps(snap, j, jstr(j, "node"), "flows", d);
	uint32_t before = snap->n_flows;
	bool compact = jstr(j, "form") && !strcmp(jstr(j, "form"), "compact");
	if (rc == 0 && compact)
		rc = kt_agent_flows_compact_from_json(snap, j, d);
	else if (rc == 0)
		rc = kt_flow_sample_from_json(snap, j, d) < 0 ? -KT_EXIT_INPUT : 0;
	if (rc == 0 && snap->n_flows == before + 1) {
		struct kt_flow_sample *fs = &snap->flows[snap->n_flows - 1];
		for (uint32_t i = 0; i < fs->n_agg && !compact; i++)
			fs->agg[i].rate_orig = fs->agg[i].rate_reply = -1;
		rc = read_sampler(fs, item(j, "sampler"), compact, d);
	}
	cJSON_Delete(j);
	return rc;
}

static const char *reason_of(int code)
{
	switch (code) {
	case 400: return "BadRequest";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "NotFound";
	case 405: return "MethodNotAllowed";
	case 412: return "StateChanged";
	case 413: return "RequestEntityTooLarge";
	case 414: return "RequestURITooLong";
	case 429: return "TooManyRequests";
	case 500: return "InternalError";
	case 502: return "BadGateway";
	case 503: return "ServiceUnavailable";
	case 504: return "GatewayTimeout";
	default: return code >= 500 ? "ServerError" : code >= 400 ? "ClientError" : "Unexpected";
	}
}

/* Copy s into dst as one line: control characters become spaces. */
static void one_line(char *dst, size_t cap, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	while (o && dst[o - 1] == ' ')
		o--;
	dst[o] = 0;
}

void kt_agent_decode_error(const char *body, size_t len, int http_status, struct kt_agent_error *out)
{
	memset(out, 0, sizeof(*out));
	out->code = http_status;
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *e = j ? item(j, "error") : NULL;
	const char *reason = NULL, *msg = NULL;
	if (cJSON_IsObject(e)) {
		out->from_agent = true;
		reason = jstr(e, "reason");
		msg = jstr(e, "message");
		const char *sid = jstr(e, "stateId");
		uint64_t tmp;
		if (sid && hex16(sid, &tmp))
			memcpy(out->state_id, sid, 17);
		const cJSON *c = item(e, "code");
		if (cJSON_IsNumber(c) && c->valuedouble >= 100 && c->valuedouble < 600)
			out->code = (int)c->valuedouble;
	} else if (cJSON_IsObject(j) && jstr(j, "kind") && strcmp(jstr(j, "kind"), "Status") == 0) {
		out->from_apiserver = true;
		reason = jstr(j, "reason");
		msg = jstr(j, "message");
		const cJSON *c = item(j, "code");
		if (cJSON_IsNumber(c) && c->valuedouble >= 100 && c->valuedouble < 600)
			out->code = (int)c->valuedouble;
	}
	one_line(out->reason, sizeof(out->reason), reason ? reason : reason_of(out->code),
		 strlen(reason ? reason : reason_of(out->code)));
	if (msg) {
		one_line(out->message, sizeof(out->message), msg, strlen(msg));
	} else if (!j && body && len) {
		size_t l = len < 200 ? len : 200;
		const char *nl = memchr(body, '\n', l);
		one_line(out->message, sizeof(out->message), body, nl ? (size_t)(nl - body) : l);
	}
	if (!out->message[0] && out->code == 401)
		snprintf(out->message, sizeof(out->message), "the agent did not accept the token");
	else if (!out->message[0])
		snprintf(out->message, sizeof(out->message), "HTTP %d", out->code);
	cJSON_Delete(j);
}
