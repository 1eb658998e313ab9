/*
 * Internal interfaces of `ktrace agent` (cli/agent/): the request parser
 * (pure, fuzzed), the node-state cache, the flow sampler, the Prometheus
 * renderer, the embedded manifests and the HTTP server that ties them
 * together. The wire format lives in include/ktrace/agent.h and
 * ktrace-agent(1).
 */
#ifndef KT_CLI_AGENT_H
#define KT_CLI_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktrace/agent.h"
#include "ktrace/node.h"

/* ---- request parsing (request.c): everything that reads request bytes */

enum kt_ag_route {
	KT_AG_NONE,              /* no route (404) */
	KT_AG_HEALTHZ,
	KT_AG_METRICS,
	KT_AG_NODE,
	KT_AG_DIGESTS,
	KT_AG_FLOWS,
};

struct kt_ag_req {
	enum kt_ag_route route;
	bool head;               /* HEAD: headers only */
	int status;              /* 0: fine so far; else the HTTP error to answer */
	const char *reason;      /* with status: "BadRequest", ... */
	char error[256];         /* with status: one line for the body */
	bool canonical;          /* digests: include the canonical text */
	bool compact;            /* flows: form=compact (rows of numbers, ktrace-agent(1)) */
	bool has_keys;           /* node: keys= given (possibly with zero keys) */
	char *keys[KT_AGENT_MAX_KEYS]; /* node: "namespace/name", decoded, unique; point into buf */
	uint32_t n_keys;
	char state[17];          /* node: state= (16 hex digits) or "" */
	char buf[KT_AGENT_MAX_TARGET + 1]; /* decoded query values */
};

/* Parse the method and the raw request target (path + query, exactly as
 * received). Fills r->route and the parameters, or r->status with the
 * error: 405 for methods other than GET/HEAD, 414 for a target over
 * KT_AGENT_MAX_TARGET, 404 for unknown paths, 400 for bad or unknown
 * query parameters. Never allocates. */
void kt_ag_parse(struct kt_ag_req *r, const char *method, const char *target, size_t len);

/* Token check in time independent of where the given token differs:
 * X-Ktrace-Token, or "Authorization: Bearer TOKEN" (for a Prometheus that
 * scrapes the agent directly). Either may be NULL. */
bool kt_ag_token_ok(const char *x_token, size_t x_len, const char *authorization, size_t a_len,
		    const char *token, size_t token_len);

/* Accept-Encoding allows gzip (q > 0 for gzip, x-gzip or *). */
bool kt_ag_accepts_gzip(const char *accept_encoding);

/* If-None-Match lists etag (or "*"); weak comparison. */
bool kt_ag_etag_match(const char *if_none_match, const char *etag);

/* ---- the agent ------------------------------------------------------ */

struct kt_ag_body;          /* a refcounted response body (state.c) */

struct kt_ag_opts {
	const char *listen;      /* ADDR:PORT */
	const char *token_file;
	const char *node;
	const char *bpffs;
	double max_age;          /* node-state cache, s */
	double flow_interval;    /* s between flow samples */
	double resync;           /* s between full conntrack dumps */
	double flow_idle;        /* stop sampling after this long without a flows/metrics request; 0 never */
	unsigned max_conns;      /* concurrent connections */
	unsigned per_ip;         /* per client address */
	bool no_metrics;         /* do not read kube-proxy's metrics */
	bool no_flows;
	int ready_fd;            /* write "READY <port>\n" here once listening; -1 none */
};

struct kt_agent;

/* Start everything (token, sampler, HTTP server); 0 or -exit code with d. */
int kt_agent_start(const struct kt_ag_opts *o, struct kt_agent **out, struct kt_diag *d);
/* The bound port (for --listen ...:0). */
int kt_agent_port(const struct kt_agent *ag);
/* Stop the server and the sampler and free everything. */
void kt_agent_stop(struct kt_agent *ag);

/* ---- internals shared by state.c, sampler.c, metrics.c, server.c ---- */

/* A response body: immutable once built, shared by every request that
 * sends it (refcounted; the last reference frees it). */
struct kt_ag_body {
	int refs;
	size_t len;
	char *data;
	bool gzip;
	char etag[24];           /* W/"16 hex digits" of the plain body */
};
void kt_ag_body_ref(struct kt_ag_body *b);
void kt_ag_body_unref(struct kt_ag_body *b);

/* JSON written by fn(w, arg) into a new body (plain). */
struct kt_jw;
struct kt_ag_body *kt_ag_json_body(void (*fn)(struct kt_jw *w, const void *arg), const void *arg);
/* Two JSON objects written by fa and fb merged into one: {a..., b...}. */
struct kt_ag_body *kt_ag_json_merge(void (*fa)(struct kt_jw *w, const void *arg), const void *a,
				    void (*fb)(struct kt_jw *w, const void *arg), const void *b);
/* A text body (copied). */
struct kt_ag_body *kt_ag_text_body(const char *text, size_t len);
/* The gzip'd copy of a plain body (same etag). */
struct kt_ag_body *kt_ag_gzip(const struct kt_ag_body *plain);

/* One read of the node state, immutable once published. */
enum { KT_AG_B_NODE, KT_AG_B_NODE_GZ, KT_AG_B_DIG, KT_AG_B_DIG_GZ, KT_AG_B_COUNT };
struct kt_ag_state {
	int refs;
	struct kt_snapshot *snap; /* the node, its gaps; never changed after publish */
	const struct kt_dp_node *node;
	struct kt_agent_digest *dig;
	uint32_t n_dig;
	char state_id[17];
	int64_t taken_ms;
	double read_s;           /* how long the read took */
	pthread_mutex_t mu;      /* bodies below, built on first use */
	struct kt_ag_body *bodies[KT_AG_B_COUNT];
};

struct kt_ag_cache {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct kt_ag_state *cur;
	bool reading;
	uint64_t reads;          /* completed reads */
	struct kt_node_opts no;
	double max_age;
};
void kt_ag_cache_init(struct kt_ag_cache *c, const struct kt_node_opts *no, double max_age);
void kt_ag_cache_fini(struct kt_ag_cache *c);
/* The node state, read now unless the cached one is younger than max_age;
 * one read at a time, concurrent callers wait for it. Never NULL. */
struct kt_ag_state *kt_ag_state_get(struct kt_ag_cache *c);
void kt_ag_state_unref(struct kt_ag_state *st);
/* Drop the cached state once it is a second past its max-age (no request
 * can use it any more); true when one was dropped. */
bool kt_ag_cache_drop_stale(struct kt_ag_cache *c);
/* No state cached and none being read. */
bool kt_ag_cache_empty(struct kt_ag_cache *c);
/* A body of the state (which: KT_AG_B_*), built once. Caller unrefs. */
struct kt_ag_body *kt_ag_state_body(struct kt_ag_state *st, int which);
/* The node object restricted to keys (built per request). */
struct kt_ag_body *kt_ag_state_keys_body(struct kt_ag_state *st, char *const *keys, uint32_t n_keys);
/* Digests with their canonical text (built per request). */
struct kt_ag_body *kt_ag_state_canonical_body(struct kt_ag_state *st);

/* One flow sample, immutable once published. */
struct kt_ag_sample {
	int refs;
	struct kt_snapshot *snap;
	const struct kt_flow_sample *fs;   /* NULL when nothing could be read */
	int64_t interval_ms;     /* since the previous sample; 0 first */
	pthread_mutex_t mu;
	struct kt_ag_body *bodies[4];      /* object form, its gzip; compact form, its gzip */
};

struct kt_ag_sampler;
struct kt_ag_sampler *kt_ag_sampler_start(const struct kt_node_opts *no, double interval, double resync,
					  double idle);
void kt_ag_sampler_stop(struct kt_ag_sampler *s);
/* The latest sample (and the one before, for rates; may be NULL); waits
 * (bounded) for the first one after a start or an idle pause. NULL when
 * none came in time. */
struct kt_ag_sample *kt_ag_sample_get(struct kt_ag_sampler *s, struct kt_ag_sample **prev);
void kt_ag_sample_unref(struct kt_ag_sample *x);
struct kt_ag_body *kt_ag_sample_body(struct kt_ag_sample *x, bool gzip, bool compact);
/* Sampler facts for /metrics. */
void kt_ag_sampler_stats(struct kt_ag_sampler *s, uint64_t *samples, bool *paused);

/* Prometheus text of a state and a sample pair (sample may be NULL). */
struct kt_ag_metrics_in {
	const char *node;
	const struct kt_ag_state *st;
	const struct kt_ag_sample *cur, *prev;
	const uint64_t *requests;          /* per status class index, see server.c */
	const int *request_codes;
	unsigned n_codes;
	uint64_t samples;
	bool sampler_paused;
	uint32_t max_series;
};
struct kt_ag_body *kt_ag_metrics(const struct kt_ag_metrics_in *in);

/* ---- embedded manifests (manifest.c) -------------------------------- */

/* deploy/ktrace-agent.yaml + ktrace-users.yaml as embedded at build time, with the image reference and
 * namespace substituted. Returns a malloc'd string. */
char *kt_ag_manifest(const char *image, const char *ns);
/* The default image reference written in deploy/. */
extern const char kt_ag_default_image[];

#endif
