/*
 * Scale by difference (`--nodes`): node states are mostly identical across
 * nodes, so the client has every node's per-Service digests (round 1),
 * finds the majority value of each Service, and asks for full entries only
 * where a node differs (keys=...&state=ID, so entries match the digests),
 * plus the majority's entries once (one node's whole state; round 3 fills
 * what that node lacked from others). A node whose state changed in
 * between (412) is read whole again. snap->fleet gets the majority once
 * and per-node deviations (ktrace/fleet.h). Prints nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/agent/fleet_int.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

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
		kt_fc_node_gap(x, n, "agent Pod %s: %s", n->pod, d2.msg[0] ? d2.msg : "no node state in the answer");
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
			const char *pk = kt_fc_pct(x->a, l->v[e]);
			len = strlen(pk);
			if ((size_t)o + len + 64 > FC_TARGET_MAX && e > i)
				break;
			o += snprintf(q + o, FC_TARGET_MAX + 512 - (size_t)o, "%s%s", e > i ? "," : "", pk);
		}
		if (with_state)
			snprintf(q + o, FC_TARGET_MAX + 512 - (size_t)o, "&state=%s", n->dig.state_id);
		who[ng] = node_ix;
		kt_fc_get_init(x, &g[ng++], n, q, FC_NODE_BODY);
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
			kt_fc_get_init(x, &g[ng++], &x->n[i], KT_AGENT_PATH_NODE, FC_NODE_BODY);
		}
	kt_kube_get_many(x->k, g, ng, x->d);
	kt_fc_account(x, g, ng);
	char buf[700];
	for (uint32_t i = 0; i < ng; i++) {
		struct fnode *n = &x->n[who[i]];
		struct kt_dp_node whole;
		if (!kt_fc_answer_ok(x, n, &g[i], "node state") || take_node(x, n, &g[i], &whole) < 0)
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
	kt_fc_get_init(x, &g[ng++], R, KT_AGENT_PATH_NODE, FC_NODE_BODY);
	for (uint32_t i = 0; i < x->nn; i++)
		if (x->n[i].ok && i != P->r && P->dev[i].n)
			ng += key_batches(x, &x->n[i], &P->dev[i], g + ng, who + ng, i, true);
	int rc = kt_kube_get_many(x->k, g, ng, x->d);
	kt_fc_account(x, g, ng);
	for (uint32_t i = 0; rc == 0 && i < ng; i++) {
		uint32_t ix = who[i] & 0x7fffffffu;
		struct fnode *n = &x->n[ix];
		struct kt_dp_node got;
		if (g[i].status == 412 && !(who[i] & 0x80000000u)) {
			n->refetch = true;
			continue;
		}
		if (!kt_fc_answer_ok(x, n, &g[i], "node state") || take_node(x, n, &g[i], &got) < 0)
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
		kt_fc_get_init(x, &g1, &x->n[nr], KT_AGENT_PATH_NODE, FC_NODE_BODY);
		if ((rc = kt_kube_get_many(x->k, &g1, 1, x->d)) < 0)
			return rc;
		kt_fc_account(x, &g1, 1);
		if (kt_fc_answer_ok(x, &x->n[nr], &g1, "node state") && take_node(x, &x->n[nr], &g1, &got) == 0)
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
	kt_fc_account(x, g, ng);
	for (uint32_t i = 0; rc == 0 && i < ng; i++) {
		struct fnode *n = &x->n[who[i]];
		struct kt_dp_node got;
		if (!kt_fc_answer_ok(x, n, &g[i], "node state") || take_node(x, n, &g[i], &got) < 0)
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

static int nodecmp(const void *p, const void *q)
{
	return strcmp(((const struct kt_fleet_node *)p)->node, ((const struct kt_fleet_node *)q)->node);
}

int kt_fc_entries(struct fc *x, uint32_t answered)
{
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
	int rc = ask_entries(x, &P);
	for (uint32_t i = 0; rc == 0 && i < x->nn; i++)
		if (x->n[i].ok && !x->n[i].refetch)
			set_absent(x, &x->n[i], &P.absent[i]);
	plan_free(x, &P);
	if (rc < 0)
		return rc;
	/* nodes that became gaps while their entries were read */
	uint32_t w = 0;
	for (uint32_t i = 0; i < x->f->n_nodes; i++) {
		struct fnode *n = kt_fc_find_node(x, x->f->nodes[i].node);
		if (n && n->gap) {
			free(x->f->nodes[i].dev.svcs);
			continue;
		}
		x->f->nodes[w++] = x->f->nodes[i];
	}
	x->f->n_nodes = w;
	if (x->f->n_nodes > 1)
		qsort(x->f->nodes, x->f->n_nodes, sizeof(*x->f->nodes), nodecmp);
	return 0;
}
