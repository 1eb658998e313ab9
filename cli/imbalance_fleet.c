/*
 * `ktrace imbalance --nodes`: every selected node's flow sample through its
 * ktrace agent. The first load brings the objects, the node states and one
 * sample per node; after that every interval asks every agent for its
 * latest sample again (kt_source_fleet_flows: concurrent, through the Pod
 * proxy; node states only again at --reload), sums them into the
 * cluster-wide sample and keeps the per-node ones. Serves the node
 * dimension of the dashboard (all nodes or one node, per-node split of a
 * Service, gaps), and the per-node part of the text and JSON output. The
 * numbers come from the analyzer (kt_imbalance_analyze, kt_imb_node_split);
 * this file only arranges samples and renders.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/imbalance_int.h"
#include "ktrace/xalloc.h"

#define ALL_NODES "(all nodes)"

void kt_imb_fleet_init(struct feed_ctx *f)
{
	f->fleet = kt_xcalloc(1, sizeof(*f->fleet));
	f->fleet->view.sel = -1;
	f->scope.agents = &f->fleet->agents;
}

static void sample_clear(struct kt_flow_sample *s)
{
	free(s->agg);
	memset(s, 0, sizeof(*s));
}

/* Forget the previous refresh (after a reload its samples are gone). */
static void drop_prev(struct imb_fleet *fl)
{
	kt_snapshot_free(fl->snap_prev);
	fl->snap_prev = NULL;
	sample_clear(&fl->sum_prev);
	for (uint32_t i = 0; i < fl->n && fl->prev; i++)
		fl->prev[i] = NULL;
}

void kt_imb_fleet_free(struct feed_ctx *f)
{
	struct imb_fleet *fl = f->fleet;
	if (!fl)
		return;
	drop_prev(fl);
	kt_snapshot_free(fl->snap_cur);
	sample_clear(&fl->sum);
	free(fl->agg_node);
	free(fl->nodes);
	free(fl->names);
	free(fl->cur);
	free(fl->prev);
	if (fl->split_a)
		kt_arena_free(fl->split_a);
	kt_source_fleet_free(fl->agents);
	free(fl);
	f->fleet = NULL;
}

static int name_cmp(const void *key, const void *elem, void *ctx)
{
	(void)ctx;
	return strcmp((const char *)key, *(const char *const *)elem);
}

/* Why node name has no sample in s: its "node NAME: flows" gap, or (the
 * first load) its "node state of node NAME" gap. */
static const char *gap_of(const struct kt_snapshot *s, const char *name)
{
	char w1[300], w2[300];
	snprintf(w1, sizeof(w1), "node %s: flows", name);
	snprintf(w2, sizeof(w2), "node state of node %s", name);
	const char *why = NULL;
	for (uint32_t i = 0; i < s->n_gaps; i++) {
		if (!strcmp(s->gaps[i].what, w2))
			return s->gaps[i].why;
		if (!why && !strcmp(s->gaps[i].what, w1))
			why = s->gaps[i].why;
	}
	return why ? why : "no flow sample in the agent's answer";
}

/* The node list (from the agents, sorted) and each node's sample in s. */
static void take_samples(struct imb_fleet *fl, const struct kt_snapshot *s)
{
	uint32_t n = kt_source_fleet_count(fl->agents);
	if (n != fl->n) {
		fl->n = n;
		fl->nodes = kt_xreallocarray(fl->nodes, n + 1, sizeof(*fl->nodes));
		fl->names = kt_xreallocarray(fl->names, n + 1, sizeof(*fl->names));
		fl->cur = kt_xreallocarray(fl->cur, n + 1, sizeof(*fl->cur));
		fl->prev = kt_xreallocarray(fl->prev, n + 1, sizeof(*fl->prev));
		memset(fl->prev, 0, sizeof(*fl->prev) * (n + 1));
	}
	for (uint32_t i = 0; i < n; i++) {
		fl->names[i] = kt_source_fleet_node(fl->agents, i);
		fl->cur[i] = NULL;
	}
	for (uint32_t k = 0; k < s->n_flows; k++) {
		uint32_t i = s->flows[k].node ? kt_bsearch_ix(fl->names, n, sizeof(*fl->names), s->flows[k].node, name_cmp, NULL)
					      : KT_NONE;
		if (i != KT_NONE)
			fl->cur[i] = &s->flows[k];
	}
	fl->view.n_gaps = 0;
	for (uint32_t i = 0; i < n; i++) {
		fl->nodes[i] = (struct kt_imb_node){.name = fl->names[i]};
		if (!fl->cur[i]) {
			fl->nodes[i].gap = gap_of(s, fl->names[i]);
			fl->view.n_gaps++;
		}
	}
	fl->view.v = fl->nodes;
	fl->view.n = n;
}

/* Every node's sample summed: the cluster-wide picture. A node whose
 * sample did not change since the last refresh opened nothing since. */
static void sum_build(struct imb_fleet *fl)
{
	struct kt_flow_sample *m = &fl->sum;
	uint32_t total = 0, with = 0;
	for (uint32_t i = 0; i < fl->n; i++)
		total += fl->cur[i] ? fl->cur[i]->n_agg : 0;
	/* the buffer of two refreshes ago is reused: no fresh pages each time */
	struct kt_flow_agg *buf = m->agg;
	uint32_t cap = m->cap_agg;
	memset(m, 0, sizeof(*m));
	if (cap < total + 1) {
		free(buf);
		cap = total + 1;
		buf = kt_xreallocarray(NULL, cap, sizeof(*buf));
	}
	m->agg = buf;
	m->cap_agg = cap;
	m->node = ALL_NODES;
	m->source = "agents";
	fl->agg_node = kt_xreallocarray(fl->agg_node, total + 1, sizeof(*fl->agg_node));
	m->acct = m->timestamps = m->events = true;
	for (uint32_t i = 0; i < fl->n; i++) {
		const struct kt_flow_sample *x = fl->cur[i];
		if (!x)
			continue;
		with++;
		bool same = fl->prev[i] && fl->prev[i]->taken_ms == x->taken_ms;
		for (uint32_t k = 0; k < x->n_agg; k++) {
			fl->agg_node[m->n_agg] = i;
			m->agg[m->n_agg] = x->agg[k];
			m->agg[m->n_agg].fp = NULL;
			m->agg[m->n_agg].n_fp = 0;
			if (same)
				m->agg[m->n_agg].opened = 0;
			m->n_agg++;
		}
		m->entries_seen += x->entries_seen;
		m->acct &= x->acct;
		m->timestamps &= x->timestamps;
		m->events &= x->events;
		m->taken_ms = x->taken_ms > m->taken_ms ? x->taken_ms : m->taken_ms;
	}
	if (!with)
		m->acct = m->timestamps = m->events = false;
}

/* The result the view shows: the sum (all nodes) or one node's sample
 * against that node's state. */
static const struct kt_imb_result *analyze(struct feed_ctx *f)
{
	struct imb_fleet *fl = f->fleet;
	struct kt_imb_opts io = f->io;
	const struct kt_flow_sample *cur, *prev;
	if (f->ra)
		kt_arena_free(f->ra);
	f->ra = kt_arena_new();
	f->res = NULL;
	if (fl->view.sel < 0 || (uint32_t)fl->view.sel >= fl->n) {
		fl->view.sel = -1;
		io.node = ALL_NODES;
		io.agg_node = fl->agg_node;
		io.n_nodes = fl->n;
		if (fl->focus) {
			io.split_ns = fl->focus_ns;
			io.split_name = fl->focus_name;
		}
		cur = &fl->sum;
		prev = fl->sum_prev.taken_ms && fl->sum_prev.taken_ms < fl->sum.taken_ms ? &fl->sum_prev : NULL;
	} else {
		io.node = fl->names[fl->view.sel];
		cur = fl->cur[fl->view.sel];
		prev = fl->prev[fl->view.sel];
	}
	kt_imbalance_analyze(f->objs, cur, prev, &io, f->ra, &f->res);
	if (f->res && fl->view.sel < 0) {
		fl->view.connections = f->res->connections;
		for (uint32_t i = 0; i < fl->n && i < f->res->n_nodes; i++)
			fl->nodes[i].connections = f->res->node_conns[i];
	}
	fl->split_key[0] = 0;
	return f->res;
}

/* Per-node counts need the sum: analyzed once per refresh even when the
 * view shows one node. */
static void count_nodes(struct feed_ctx *f)
{
	struct imb_fleet *fl = f->fleet;
	int sel = fl->view.sel;
	fl->view.sel = -1;
	analyze(f);
	fl->view.sel = sel;
}

const struct kt_imb_result *kt_imb_fleet_next(struct feed_ctx *f, char *err, unsigned errlen)
{
	struct imb_fleet *fl = f->fleet;
	struct kt_snapshot *old_objs = fl->loaded ? kt_imb_maybe_reload(f) : NULL;
	struct timespec t0, t1;
	if (old_objs) {
		/* reloaded: the new objects carry every node's fresh sample */
		drop_prev(fl);
		kt_snapshot_free(fl->snap_cur);
		fl->snap_cur = NULL;
		sample_clear(&fl->sum);
		fl->loaded = false;
	}
	if (!fl->loaded) {
		take_samples(fl, f->objs);
		fl->loaded = true;
		f->collect_ms = 0;
	} else {
		struct kt_snapshot *s = NULL;
		struct kt_diag d = {0};
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (kt_source_fleet_flows(&f->scope, &s, &d) < 0) {
			snprintf(err, errlen, "%s", d.msg);
			return NULL;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		f->collect_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
		kt_snapshot_free(fl->snap_prev);
		fl->snap_prev = fl->snap_cur;
		fl->snap_cur = s;
		const struct kt_flow_sample **tmp = fl->prev;
		fl->prev = fl->cur;
		fl->cur = tmp;
		struct kt_flow_sample older = fl->sum_prev;
		fl->sum_prev = fl->sum;
		fl->sum = older;   /* its buffer is reused by sum_build */
		take_samples(fl, s);
	}
	f->collect_total_ms += f->collect_ms;
	sum_build(fl);
	fl->gen++;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fl->view.sel >= 0)
		count_nodes(f);
	const struct kt_imb_result *r = analyze(f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	f->analyze_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	kt_snapshot_free(old_objs);
	return r;
}

const struct kt_snapshot *kt_imb_fleet_snap(const struct feed_ctx *f)
{
	return f->fleet ? f->fleet->snap_cur : NULL;
}

/* ---- the dashboard's node dimension ----------------------------------- */

static const struct kt_imb_nodes *cb_nodes(void *ctx)
{
	struct feed_ctx *f = ctx;
	return &f->fleet->view;
}

static const struct kt_imb_result *cb_select(void *ctx, int sel)
{
	struct feed_ctx *f = ctx;
	f->fleet->view.sel = sel;
	return analyze(f);
}

static const struct kt_imb_split *cb_split(void *ctx, const char *ns, const char *name)
{
	struct feed_ctx *f = ctx;
	struct imb_fleet *fl = f->fleet;
	char key[600];
	snprintf(key, sizeof(key), "%d|%s/%s", fl->view.sel, ns ? ns : "", name ? name : "");
	if (fl->split_key[0] && fl->split_gen == fl->gen && !strcmp(key, fl->split_key))
		return &fl->split;
	const struct kt_imb_service *sv = NULL;
	for (uint32_t i = 0; f->res && i < f->res->n_svcs && !sv; i++)
		if (!strcmp(f->res->svcs[i].namespace ? f->res->svcs[i].namespace : "", ns ? ns : "") &&
		    !strcmp(f->res->svcs[i].name ? f->res->svcs[i].name : "", name ? name : ""))
			sv = &f->res->svcs[i];
	if (!sv)
		return NULL;
	if (fl->split_a)
		kt_arena_free(fl->split_a);
	fl->split_a = kt_arena_new();
	bool all = fl->view.sel < 0;
	uint32_t off = all ? 0 : (uint32_t)fl->view.sel;
	kt_imb_node_split(f->objs, fl->cur + off, fl->names + off, all ? fl->n : 1, sv, &f->io, fl->split_a, &fl->split);
	snprintf(fl->split_key, sizeof(fl->split_key), "%s", key);
	fl->split_gen = fl->gen;
	return &fl->split;
}

static void cb_focus(void *ctx, const char *ns, const char *name)
{
	struct feed_ctx *f = ctx;
	struct imb_fleet *fl = f->fleet;
	fl->focus = name != NULL;
	snprintf(fl->focus_ns, sizeof(fl->focus_ns), "%s", ns ? ns : "");
	snprintf(fl->focus_name, sizeof(fl->focus_name), "%s", name ? name : "");
}

void kt_imb_fleet_feed(struct feed_ctx *f, struct kt_imb_feed *feed)
{
	feed->focus = cb_focus;
	feed->nodes = cb_nodes;
	feed->select = cb_select;
	feed->split = cb_split;
}

/* ---- text and JSON: per node ------------------------------------------- */

/* Node i's own analysis (its sample against its node state), in a. */
static const struct kt_imb_result *node_result(struct feed_ctx *f, uint32_t i, struct kt_arena *a)
{
	struct kt_imb_result *r = NULL;
	struct kt_imb_opts io = f->io;
	io.node = f->fleet->names[i];
	io.all_services = false;
	io.agg_node = NULL;
	kt_imbalance_analyze(f->objs, f->fleet->cur[i], NULL, &io, a, &r);
	return r;
}

void kt_imb_fleet_json(struct feed_ctx *f, struct kt_jw *w)
{
	struct imb_fleet *fl = f->fleet;
	uint64_t all = 0, cross = 0;
	kt_jw_key(w, "nodes");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < fl->n; i++) {
		if (!fl->cur[i])
			continue;   /* a gap (listed in "gaps") */
		struct kt_arena *a = kt_arena_new();
		const struct kt_imb_result *r = node_result(f, i, a);
		kt_jw_obj(w);
		kt_jw_kstr(w, "node", fl->names[i]);
		uint64_t conns = 0;
		kt_jw_key(w, "services");
		kt_jw_arr(w);
		for (uint32_t k = 0; r && k < r->n_svcs; k++) {
			const struct kt_imb_service *sv = &r->svcs[k];
			if (!sv->connections)
				continue;
			kt_jw_obj(w);
			kt_jw_kstr(w, "namespace", sv->namespace);
			kt_jw_kstr(w, "name", sv->name);
			kt_jw_kuint(w, "connections", sv->connections);
			kt_jw_key(w, "backends");
			kt_jw_arr(w);
			for (uint32_t b = 0; b < sv->n_be; b++) {
				const struct kt_imb_backend *be = &sv->be[b];
				if (!be->connections)
					continue;
				kt_jw_obj(w);
				kt_jw_kstr(w, "ip", be->ip);
				kt_jw_kuint(w, "port", (uint64_t)be->port);
				kt_jw_kstr(w, "pod", be->pod);
				kt_jw_kstr(w, "backendNode", be->node);
				kt_jw_kuint(w, "connections", be->connections);
				kt_jw_obj_end(w);
				if (be->node) {
					all += be->connections;
					cross += strcmp(be->node, fl->names[i]) ? be->connections : 0;
				}
			}
			kt_jw_arr_end(w);
			kt_jw_obj_end(w);
			conns += sv->connections;
		}
		kt_jw_arr_end(w);
		kt_jw_kuint(w, "connections", conns);
		kt_jw_obj_end(w);
		kt_arena_free(a);
	}
	kt_jw_arr_end(w);
	kt_jw_key(w, "crossNode");
	kt_jw_obj(w);
	kt_jw_kuint(w, "connections", cross);
	kt_jw_kuint(w, "ofKnown", all);
	kt_jw_kdouble(w, "share", all ? round((double)cross / (double)all * 10000) / 10000 : 0);
	kt_jw_obj_end(w);
}

#define V(x) kt_cv(c, x)
#define VD(x) ((x) ? kt_cv(c, x) : "-")

/* One node of the text's per-node section; adds to the cross-node counts. */
static void text_node(struct kt_cli *c, struct feed_ctx *f, uint32_t i, uint64_t *all, uint64_t *cross)
{
	struct imb_fleet *fl = f->fleet;
	if (!fl->cur[i]) {
		printf("  %s%s%s  %sgap:%s %s\n", kt_c(c, KT_C_BOLD), V(fl->names[i]), kt_c(c, KT_C_RESET),
		       kt_c(c, KT_C_YELLOW), kt_c(c, KT_C_RESET), V(fl->nodes[i].gap));
		return;
	}
	struct kt_arena *a = kt_arena_new();
	const struct kt_imb_result *r = node_result(f, i, a);
	printf("  %s%s%s  %u open\n", kt_c(c, KT_C_BOLD), V(fl->names[i]), kt_c(c, KT_C_RESET), r ? r->connections : 0);
	for (uint32_t k = 0; r && k < r->n_svcs; k++) {
		const struct kt_imb_service *sv = &r->svcs[k];
		if (!sv->connections)
			continue;
		printf("    %s/%s  %u open\n", sv->namespace ? V(sv->namespace) : "", sv->name ? V(sv->name) : "",
		       sv->connections);
		for (uint32_t b = 0; b < sv->n_be; b++) {
			const struct kt_imb_backend *be = &sv->be[b];
			char ep[80];
			if (!be->connections)
				continue;
			snprintf(ep, sizeof(ep), strchr(be->ip, ':') ? "[%s]:%d" : "%s:%d", be->ip, be->port);
			bool other = be->node && strcmp(be->node, fl->names[i]);
			printf("      %-22s %-24.24s %-16.16s %6u%s\n", V(ep), VD(be->pod), VD(be->node), be->connections,
			       other ? "  cross-node" : "");
			if (be->node) {
				*all += be->connections;
				*cross += other ? be->connections : 0;
			}
		}
	}
	kt_arena_free(a);
}

void kt_imb_fleet_text(struct kt_cli *c, struct feed_ctx *f)
{
	struct imb_fleet *fl = f->fleet;
	uint64_t all = 0, cross = 0;
	printf("\n%sper node:%s %u of %u nodes answered", kt_c(c, KT_C_BOLD), kt_c(c, KT_C_RESET), fl->n - fl->view.n_gaps,
	       fl->n);
	printf("  (each node's open connections per Service backend; POD's node after it)\n");
	for (uint32_t i = 0; i < fl->n; i++)
		text_node(c, f, i, &all, &cross);
	if (all)
		printf("%scross-node:%s %llu of %llu open connections (%.0f%%) went to a backend on another node than "
		       "the one that balanced them\n",
		       kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), (unsigned long long)cross, (unsigned long long)all,
		       100.0 * (double)cross / (double)all);
}
