/*
 * Internal to the Kubernetes API client (collectors/kube/kube_*.c), split
 * along its concerns:
 *   kube_client.c  open/close: kubeconfig -> server URL, TLS material
 *   kube_auth.c    credentials: tokens, token files, exec plugins, the
 *                  per-request auth headers, credential validation
 *   kube_http.c    the request engine: curl multi, bodies, headers,
 *                  retries, status handling
 *   kube_list.c    what is requested and what is done with the answers:
 *                  resources, URLs, paging, pages -> sanitiser -> model
 * libcurl types are fine here (not a public header).
 */
#ifndef KT_COLLECTORS_KUBE_INT_H
#define KT_COLLECTORS_KUBE_INT_H

#include "collectors/kube/curl_dl.h" /* first: libcurl is dlopen()ed on first use */
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "collectors/kube/kubeconfig.h"
#include "ktrace/arena.h"
#include "ktrace/kube.h"

#define KT_MAX_WARNINGS 32       /* distinct API Warning headers shown */

#define KT_SPARE_HANDLES 64

struct kt_kube {
	struct kt_arena *a;
	struct kt_kc_resolved rc;
	const char *server;      /* as configured, credentials removed, no trailing slash */
	const char *base;        /* request base (host replaced by tls-server-name) */
	const char *connect_to;  /* CURLOPT_CONNECT_TO entry for tls-server-name */
	const char *host_hdr;    /* "Host: ..." with tls-server-name */
	struct curl_slist *connect_to_list;
	bool https;
	struct kt_kc_blob ca;    /* pinned CA (PEM) */
	struct kt_kc_blob cert, key;  /* kubeconfig client certificate */
	char *token;             /* malloc: current bearer from token / tokenFile / oidc */
	time_t token_read_at;
	/* exec credential plugin cache */
	bool exec_done;
	time_t exec_expiry;      /* 0 = until a 401 */
	char *exec_token, *exec_cert, *exec_key;  /* malloc */
	size_t exec_cert_len, exec_key_len;
	struct kt_diag exec_fail; /* why the plugin failed: not run again */
	unsigned cred_gen;       /* bumped whenever credentials change */
	CURLM *multi;
	CURL *spare[KT_SPARE_HANDLES]; /* easy handles of finished requests, reused (curl_easy_reset
				  * at each start): a dashboard asking hundreds of agents every
				  * few seconds allocates none */
	unsigned n_spare;
	char ua[96];
	long timeout_s;
	size_t max_body;         /* bytes */
	char *warnings[KT_MAX_WARNINGS];
	unsigned n_warnings;
	bool warnings_capped;
	void (*progress)(void *ctx, unsigned long objects);
	void *progress_ctx;
	unsigned long n_objects;      /* objects read by this client */
	long long progress_at;        /* ms of the last progress call */
};

/* ---- kube_auth.c ---- */

/* Load TLS material and static credentials of the resolved user; validate
 * every credential and header value (no control bytes: KT_EXIT_INPUT). */
int kt_auth_setup(struct kt_kube *k, struct kt_diag *d);
/* Fresh credentials before a request (token file re-read, exec plugin). */
int kt_auth_ensure(struct kt_kube *k, struct kt_diag *d);
/* After a 401: 1 when new credentials make a retry worthwhile. */
int kt_auth_refresh(struct kt_kube *k, struct kt_diag *d);
/* Client certificate, bearer / basic auth and impersonation for one
 * request (https only). */
void kt_auth_apply(struct kt_kube *k, CURL *h, struct curl_slist **hdrs);
void kt_auth_free(struct kt_kube *k);

/* ---- kube_list.c: resources ---- */

struct kt_res_info {
	const char *plural;
	const char *prefix;      /* "/api/v1", "/apis/apps/v1" */
	const char *group;       /* "" for core */
	const char *kind;
	bool namespaced;
	bool crd;                /* served only when its CRDs are installed: a 404 is no gap */
};
const struct kt_res_info *kt_res_info(enum kt_res r);

/* ---- kube_http.c: the request engine ---- */

enum job_sink { SINK_INGEST, SINK_NAMES, SINK_VERSION, SINK_RAW };

struct kt_tokset {               /* continue tokens seen (hashes) */
	uint64_t *v;
	size_t n, cap;
};

struct job {
	struct kt_kube *k;
	const struct kt_list_req *req;
	enum job_sink sink;
	CURL *h;
	struct curl_slist *hdrs;
	char *url;               /* malloc */
	const char *path;        /* into url, for logs */
	char *cont;              /* continue token, malloc */
	char *skip_key;          /* after a 410 restart: skip items <= this key */
	char *last_key;          /* key of the last item taken */
	char *body;
	size_t len, cap;
	bool too_big, bomb, active, done;
	int retries, restarts, auth_retries;
	unsigned cred_gen;       /* k->cred_gen when the request was set up */
	long long due_ms, start_ms;
	char errbuf[CURL_ERROR_SIZE];
	/* paging: loops and lists that outgrow what the server announced */
	struct kt_tokset seen;
	unsigned long pages;
	unsigned long items;     /* taken in this pass of the list */
	unsigned long expect;    /* least items + remainingItemCount announced; 0 none */
	/* names and version sinks */
	const char *version;
	struct kt_arena *na;
	const char **names;
	unsigned n_names, cap_names;
	/* SINK_RAW: one GET of a raw path (kt_kube_get_many) */
	struct kt_kube_get *raw;
	long long deadline_ms;   /* the whole request, retries included */
};

struct run {
	struct kt_kube *k;
	struct kt_snapshot *snap;
	struct kt_bundle_writer *bw;
	struct kt_diag *d;
};

long long kt_kube_now_ms(void);
/* Run the jobs to completion (or the first fatal error). */
int kt_jobs_run(struct run *R, struct job *jobs, unsigned n);
void kt_job_free(struct kt_kube *k, struct job *j);

/* ---- kube_list.c: what the engine calls ---- */

/* Build j->url for the job's request and continue token. */
void kt_list_build_url(struct job *j);
/* "list pods in namespace 'shop'" */
void kt_list_describe(const struct job *j, const char *verb, char *buf, size_t n);
void kt_list_rbac_hint(const struct job *j, struct kt_diag *d);
/* A 2xx body of a list or get: take every item; *cont_out gets the
 * continue token (malloc) or NULL at the end of the list. Checks paging
 * loops and growth. */
int kt_list_page(struct run *R, struct job *j, char *body, size_t len, const char *url, char **cont_out);
/* The continue token at the start of a page, without parsing it (prefetch);
 * NULL when not found there. */
char *kt_list_peek_continue(const char *body, size_t len);
/* Record a continue token about to be requested: error (exit 4) when the
 * server handed it out before in this list. */
int kt_list_token_seen(struct run *R, struct job *j, const char *token);
/* A 410 restart: forget the tokens of the expired pass. */
void kt_list_restart(struct job *j);

#endif
