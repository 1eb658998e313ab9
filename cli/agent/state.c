/*
 * The agent's node state and response bodies. A node-state read is
 * kt_dp_collect() of this host (read-only dumps) plus the per-Service
 * digests; it is cached for max_age seconds and read by one request at a
 * time (single-flight: concurrent requests wait for that read and share
 * it). Bodies (the node object, the digests, their gzip copies) are built
 * once per read, on first use, and shared by reference, so repeated and
 * concurrent requests cost a memcpy at most. Never writes anywhere but
 * memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cli/agent/agent.h"
#include "ktrace/arena.h"
#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"
#include "ktrace/codec.h"

/* ---- bodies ---------------------------------------------------------- */

struct membuf {
	char *p;
	size_t n, cap;
};

static int mem_sink(void *ctx, const char *b, size_t n)
{
	struct membuf *m = ctx;
	if (m->n + n + 1 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 65536;
		while (nc < m->n + n + 1)
			nc *= 2;
		m->p = kt_xrealloc(m->p, nc);
		m->cap = nc;
	}
	memcpy(m->p + m->n, b, n);
	m->n += n;
	m->p[m->n] = 0;
	return 0;
}

static void write_to(struct membuf *m, void (*fn)(struct kt_jw *w, const void *arg), const void *arg)
{
	struct kt_jw *w = kt_jw_new_sink(mem_sink, m, false);
	fn(w, arg);
	kt_jw_free(w);
	mem_sink(m, "", 0);
}

static struct kt_ag_body *body_of(char *data, size_t len)
{
	struct kt_ag_body *b = kt_xcalloc(1, sizeof(*b));
	b->refs = 1;
	b->data = data;
	b->len = len;
	snprintf(b->etag, sizeof(b->etag), "W/\"%016llx\"", (unsigned long long)kt_hash64(KT_HASH_SEED, data, len));
	return b;
}

void kt_ag_body_ref(struct kt_ag_body *b)
{
	__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

void kt_ag_body_unref(struct kt_ag_body *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(b->data);
		free(b);
	}
}

struct kt_ag_body *kt_ag_json_body(void (*fn)(struct kt_jw *w, const void *arg), const void *arg)
{
	struct membuf m = {0};
	write_to(&m, fn, arg);
	return body_of(m.p, m.n);
}

struct kt_ag_body *kt_ag_json_merge(void (*fa)(struct kt_jw *w, const void *arg), const void *a,
				    void (*fb)(struct kt_jw *w, const void *arg), const void *b)
{
	struct membuf m = {0}, x = {0};
	write_to(&m, fa, a);
	write_to(&x, fb, b);
	/* both are compact objects: "{...}" + "{...}" -> "{...,...}" */
	if (m.n >= 2 && m.p[m.n - 1] == '}' && x.n > 2 && x.p[0] == '{') {
		m.n--;
		if (m.p[m.n - 1] != '{')
			mem_sink(&m, ",", 1);
		mem_sink(&m, x.p + 1, x.n - 1);
	}
	free(x.p);
	return body_of(m.p, m.n);
}

struct kt_ag_body *kt_ag_text_body(const char *text, size_t len)
{
	char *p = kt_xmalloc(len + 1);
	memcpy(p, text, len);
	p[len] = 0;
	return body_of(p, len);
}

struct kt_ag_body *kt_ag_gzip(const struct kt_ag_body *plain)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	/* level 1: JSON still shrinks about 8x, at a fraction of the CPU */
	if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		kt_oom();
	size_t cap = deflateBound(&z, plain->len) + 64;
	char *out = kt_xmalloc(cap);
	z.next_in = (Bytef *)plain->data;
	z.avail_in = (uInt)plain->len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	size_t len = cap - z.avail_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END)
		kt_oom();
	struct kt_ag_body *b = kt_xcalloc(1, sizeof(*b));
	b->refs = 1;
	b->data = kt_xrealloc(out, len ? len : 1);
	b->len = len;
	b->gzip = true;
	memcpy(b->etag, plain->etag, sizeof(b->etag));
	return b;
}

/* ---- node state ------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct kt_ag_state *read_state(const struct kt_node_opts *no)
{
	struct kt_ag_state *st = kt_xcalloc(1, sizeof(*st));
	st->refs = 1;
	pthread_mutex_init(&st->mu, NULL);
	double t0 = mono_s();
	st->taken_ms = now_ms();
	st->snap = kt_snapshot_new();
	if (!st->snap)
		kt_oom();
	st->snap->source = "node";
	struct kt_diag d = {0};
	if (kt_dp_collect(st->snap, no, &d) < 0)
		kt_snapshot_gap(st->snap, "node dataplane", "%s", d.msg);
	kt_snapshot_finish(st->snap);
	static const struct kt_dp_node empty = {.node = "", .source = "live"};
	st->node = st->snap->n_dp ? &st->snap->dp[0] : &empty;
	st->n_dig = kt_agent_digest_node(st->node, st->snap->arena, false, &st->dig);
	kt_agent_state_id(st->dig, st->n_dig, st->node->modes, st->state_id);
	st->read_s = mono_s() - t0;
	kt_log(1, "agent: node state read in %.3fs: %u service ports, %u services, state %s", st->read_s,
	       st->node->n_svcs, st->n_dig, st->state_id);
	return st;
}

void kt_ag_state_unref(struct kt_ag_state *st)
{
	if (!st || __atomic_sub_fetch(&st->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (int i = 0; i < KT_AG_B_COUNT; i++)
		kt_ag_body_unref(st->bodies[i]);
	pthread_mutex_destroy(&st->mu);
	kt_snapshot_free(st->snap);
	free(st);
}

void kt_ag_cache_init(struct kt_ag_cache *c, const struct kt_node_opts *no, double max_age)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->no = *no;
	c->max_age = max_age;
}

void kt_ag_cache_fini(struct kt_ag_cache *c)
{
	kt_ag_state_unref(c->cur);
	c->cur = NULL;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

struct kt_ag_state *kt_ag_state_get(struct kt_ag_cache *c)
{
	pthread_mutex_lock(&c->mu);
	for (;;) {
		if (c->cur && (double)(now_ms() - c->cur->taken_ms) < c->max_age * 1000.0) {
			struct kt_ag_state *st = c->cur;
			__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&c->mu);
			return st;
		}
		if (!c->reading)
			break;
		/* another request is reading: take what it reads, fresh or not */
		uint64_t seen = c->reads;
		while (c->reading && c->reads == seen)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->reads != seen && c->cur) {
			struct kt_ag_state *st = c->cur;
			__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&c->mu);
			return st;
		}
	}
	c->reading = true;
	pthread_mutex_unlock(&c->mu);
	struct kt_ag_state *st = read_state(&c->no);
	pthread_mutex_lock(&c->mu);
	struct kt_ag_state *old = c->cur;
	c->cur = st;
	__atomic_add_fetch(&st->refs, 1, __ATOMIC_RELAXED);
	c->reading = false;
	c->reads++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	kt_ag_state_unref(old);
	return st;
}

bool kt_ag_cache_drop_stale(struct kt_ag_cache *c)
{
	struct kt_ag_state *old = NULL;
	pthread_mutex_lock(&c->mu);
	if (c->cur && !c->reading && (double)(now_ms() - c->cur->taken_ms) >= c->max_age * 1000.0 + 1000.0) {
		old = c->cur;
		c->cur = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	kt_ag_state_unref(old);
	return old != NULL;
}

bool kt_ag_cache_empty(struct kt_ag_cache *c)
{
	pthread_mutex_lock(&c->mu);
	bool e = !c->cur && !c->reading;
	pthread_mutex_unlock(&c->mu);
	return e;
}

/* ---- state bodies ---------------------------------------------------- */

struct node_arg {
	const struct kt_dp_node *node;
	const struct kt_snapshot *snap;
};

static void node_json(struct kt_jw *w, const void *arg)
{
	const struct node_arg *a = arg;
	kt_dp_node_to_json(w, a->node, NULL);
}

static void gaps_json(struct kt_jw *w, const void *arg)
{
	const struct kt_snapshot *s = arg;
	kt_agent_extras_to_json(w, s->gaps, s->n_gaps, NULL, 0);
}

struct dig_arg {
	const struct kt_ag_state *st;
	const struct kt_agent_digest *dig;
	uint32_t n;
	bool canonical;
};

static void digests_json(struct kt_jw *w, const void *arg)
{
	const struct dig_arg *a = arg;
	kt_agent_digests_to_json(w, a->st->node, a->dig, a->n, a->st->state_id, a->st->taken_ms, a->st->snap->gaps,
				 a->st->snap->n_gaps, a->canonical);
}

struct kt_ag_body *kt_ag_state_body(struct kt_ag_state *st, int which)
{
	pthread_mutex_lock(&st->mu);
	struct kt_ag_body *b = st->bodies[which];
	if (!b) {
		int plain = which == KT_AG_B_NODE_GZ ? KT_AG_B_NODE : which == KT_AG_B_DIG_GZ ? KT_AG_B_DIG : which;
		if (!st->bodies[plain]) {
			if (plain == KT_AG_B_NODE) {
				struct node_arg na = {st->node, st->snap};
				st->bodies[plain] = kt_ag_json_merge(node_json, &na, gaps_json, st->snap);
			} else {
				struct dig_arg da = {st, st->dig, st->n_dig, false};
				st->bodies[plain] = kt_ag_json_body(digests_json, &da);
			}
		}
		if (which != plain)
			st->bodies[which] = kt_ag_gzip(st->bodies[plain]);
		b = st->bodies[which];
	}
	kt_ag_body_ref(b);
	pthread_mutex_unlock(&st->mu);
	return b;
}

/* First entry of namespace/name in the sorted services, or n_svcs. */
static uint32_t lower_bound(const struct kt_dp_node *n, const char *ns, size_t nsl, const char *name, size_t nml)
{
	uint32_t lo = 0, hi = n->n_svcs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct kt_dp_service *s = &n->svcs[mid];
		const char *sns = s->namespace ? s->namespace : "", *snm = s->name ? s->name : "";
		int c = strncmp(sns, ns, nsl);
		if (!c && strlen(sns) != nsl)
			c = 1;
		if (!c) {
			c = strncmp(snm, name, nml);
			if (!c && strlen(snm) != nml)
				c = 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool is_svc(const struct kt_dp_service *s, const char *ns, size_t nsl, const char *name, size_t nml)
{
	const char *sns = s->namespace ? s->namespace : "", *snm = s->name ? s->name : "";
	return strlen(sns) == nsl && !memcmp(sns, ns, nsl) && strlen(snm) == nml && !memcmp(snm, name, nml);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

struct kt_ag_body *kt_ag_state_keys_body(struct kt_ag_state *st, char *const *keys, uint32_t n_keys)
{
	const struct kt_dp_node *n = st->node;
	uint32_t *pick = NULL, n_pick = 0, cap = 0;
	for (uint32_t k = 0; k < n_keys; k++) {
		size_t nsl, nml;
		const char *nm;
		if (!kt_agent_key_split(keys[k], strlen(keys[k]), &nsl, &nm, &nml))
			continue;
		for (uint32_t i = lower_bound(n, keys[k], nsl, nm, nml); i < n->n_svcs; i++) {
			if (!is_svc(&n->svcs[i], keys[k], nsl, nm, nml))
				break;
			kt_grow(&pick, &n_pick, &cap, sizeof(*pick));
			pick[n_pick - 1] = i;
		}
	}
	/* keys are unique, so entries are too; keep the node's order */
	if (n_pick > 1)
		qsort(pick, n_pick, sizeof(*pick), u32_cmp);
	struct kt_dp_node sub = *n;
	sub.svcs = kt_xcalloc(n_pick ? n_pick : 1, sizeof(*sub.svcs));
	for (uint32_t i = 0; i < n_pick; i++)
		sub.svcs[i] = n->svcs[pick[i]];
	sub.n_svcs = sub.cap_svcs = n_pick;
	free(pick);
	struct node_arg na = {&sub, st->snap};
	struct kt_ag_body *b = kt_ag_json_merge(node_json, &na, gaps_json, st->snap);
	free(sub.svcs);
	return b;
}

struct kt_ag_body *kt_ag_state_canonical_body(struct kt_ag_state *st)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_agent_digest *dig;
	uint32_t n = kt_agent_digest_node(st->node, a, true, &dig);
	struct dig_arg da = {st, dig, n, true};
	struct kt_ag_body *b = kt_ag_json_body(digests_json, &da);
	kt_arena_free(a);
	return b;
}
