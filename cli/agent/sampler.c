/*
 * The agent's flow sampler: one background thread takes a flow sample of
 * this node every interval with the conntrack event-mode live table
 * (collectors/flows: a full dump now and then, the kernel's conntrack
 * events in between) plus Cilium's CT maps when present, and publishes it;
 * /v1/flows and /metrics only pick up the latest sample. After `idle`
 * seconds without such a request the thread frees its table and waits;
 * the next request wakes it and waits (bounded) for a fresh sample.
 * Read-only: dumps and event subscriptions only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/agent/agent.h"
#include "ktrace/env.h"
#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"
#include "ktrace/codec.h"

struct kt_ag_sampler {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* new sample, wake-up, stop */
	bool stop, paused;
	struct kt_ag_sample *cur, *prev;
	uint64_t samples;
	uint64_t gen;            /* bumped on each published sample */
	double last_req;         /* monotonic s of the last flows/metrics request */
	struct kt_node_opts no;
	double interval, resync, idle;
};

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct timespec abs_in(double s)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double t = (double)ts.tv_sec + ts.tv_nsec / 1e9 + s;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	return ts;
}

void kt_ag_sample_unref(struct kt_ag_sample *x)
{
	if (!x || __atomic_sub_fetch(&x->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (int i = 0; i < 4; i++)
		kt_ag_body_unref(x->bodies[i]);
	pthread_mutex_destroy(&x->mu);
	kt_snapshot_free(x->snap);
	free(x);
}

static struct kt_ag_sample *take(struct kt_ag_sampler *s, struct kt_flow_opts *fo, int64_t prev_ms)
{
	struct kt_ag_sample *x = kt_xcalloc(1, sizeof(*x));
	x->refs = 1;
	pthread_mutex_init(&x->mu, NULL);
	x->snap = kt_snapshot_new();
	if (!x->snap)
		kt_oom();
	x->snap->source = "node";
	struct kt_diag d = {0};
	if (kt_flows_collect_ex(x->snap, &s->no, fo, &d) < 0)
		kt_snapshot_gap(x->snap, "flows", "%s", d.msg);
	if (x->snap->n_flows) {
		x->fs = &x->snap->flows[x->snap->n_flows - 1];
		if (prev_ms && x->fs->taken_ms > prev_ms)
			x->interval_ms = x->fs->taken_ms - prev_ms;
	}
	return x;
}

static void *run(void *arg)
{
	struct kt_ag_sampler *s = arg;
	struct kt_flow_opts fo;
	memset(&fo, 0, sizeof(fo));
	fo.no_fingerprints = true;
	int64_t prev_ms = 0;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		if (s->idle > 0 && mono_s() - s->last_req > s->idle) {
			/* nobody asked for a while: drop the table, wait for a request */
			s->paused = true;
			kt_ct_live_free(fo.live);
			fo.live = NULL;
			prev_ms = 0;
			while (!s->stop && mono_s() - s->last_req > s->idle)
				pthread_cond_wait(&s->cv, &s->mu);
			s->paused = false;
			continue;
		}
		/* event mode unless KTRACE_CT_EVENTS=0 (as the dashboard) */
		const char *ev = kt_env_get(KT_ENV_CT_EVENTS);
		if (!fo.live && !(ev && !strcmp(ev, "0")))
			fo.live = kt_ct_live_new(s->resync);
		pthread_mutex_unlock(&s->mu);
		struct kt_ag_sample *x = take(s, &fo, prev_ms);
		pthread_mutex_lock(&s->mu);
		if (x->fs)
			prev_ms = x->fs->taken_ms;
		struct kt_ag_sample *drop = s->prev;
		s->prev = s->cur;
		s->cur = x;
		s->samples++;
		s->gen++;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		kt_ag_sample_unref(drop);
		pthread_mutex_lock(&s->mu);
		struct timespec until = abs_in(s->interval);
		while (!s->stop && !(s->idle > 0 && mono_s() - s->last_req > s->idle)) {
			if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	kt_ct_live_free(fo.live);
	return NULL;
}

struct kt_ag_sampler *kt_ag_sampler_start(const struct kt_node_opts *no, double interval, double resync,
					  double idle)
{
	struct kt_ag_sampler *s = kt_xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	s->no = *no;
	s->interval = interval;
	s->resync = resync;
	s->idle = idle;
	s->last_req = mono_s();
	if (pthread_create(&s->th, NULL, run, s) != 0) {
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	return s;
}

void kt_ag_sampler_stop(struct kt_ag_sampler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	kt_ag_sample_unref(s->cur);
	kt_ag_sample_unref(s->prev);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct kt_ag_sample *kt_ag_sample_get(struct kt_ag_sampler *s, struct kt_ag_sample **prev)
{
	if (prev)
		*prev = NULL;
	if (!s)
		return NULL;
	pthread_mutex_lock(&s->mu);
	bool was_paused = s->paused;
	s->last_req = mono_s();
	pthread_cond_broadcast(&s->cv);
	uint64_t gen = s->gen;
	/* after a pause the stored sample is old: wait for the next one */
	struct timespec until = abs_in(s->interval * 2 + 10);
	while (!s->stop && (!s->cur || (was_paused && s->gen == gen)))
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
			break;
	struct kt_ag_sample *x = s->cur;
	if (x && !(was_paused && s->gen == gen)) {
		__atomic_add_fetch(&x->refs, 1, __ATOMIC_RELAXED);
		if (prev && s->prev) {
			*prev = s->prev;
			__atomic_add_fetch(&s->prev->refs, 1, __ATOMIC_RELAXED);
		}
	} else {
		x = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	return x;
}

void kt_ag_sampler_stats(struct kt_ag_sampler *s, uint64_t *samples, bool *paused)
{
	*samples = 0;
	*paused = false;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	*samples = s->samples;
	*paused = s->paused;
	pthread_mutex_unlock(&s->mu);
}

static void flows_json(struct kt_jw *w, const void *arg)
{
	const struct kt_ag_sample *x = arg;
	kt_flow_sample_to_json(w, x->fs);
}

static void extras_json(struct kt_jw *w, const void *arg)
{
	const struct kt_ag_sample *x = arg;
	kt_agent_extras_to_json(w, x->snap->gaps, x->snap->n_gaps, x->fs, x->interval_ms);
}

static void compact_json(struct kt_jw *w, const void *arg)
{
	const struct kt_ag_sample *x = arg;
	kt_agent_flows_compact_to_json(w, x->fs, x->snap->gaps, x->snap->n_gaps, x->interval_ms);
}

struct kt_ag_body *kt_ag_sample_body(struct kt_ag_sample *x, bool gzip, bool compact)
{
	int b0 = compact ? 2 : 0;
	pthread_mutex_lock(&x->mu);
	if (!x->bodies[b0])
		x->bodies[b0] = compact ? kt_ag_json_body(compact_json, x) : kt_ag_json_merge(flows_json, x, extras_json, x);
	if (gzip && !x->bodies[b0 + 1])
		x->bodies[b0 + 1] = kt_ag_gzip(x->bodies[b0]);
	struct kt_ag_body *b = x->bodies[b0 + (gzip ? 1 : 0)];
	kt_ag_body_ref(b);
	pthread_mutex_unlock(&x->mu);
	return b;
}
