/*
 * Kubernetes API client (collectors/kube_*.c): kubeconfig loading and
 * merging, every auth mode kubectl supports for reading, paged lists with
 * bounded memory. Each list page is converted into the snapshot (and, when
 * a bundle writer is given, appended to the bundle) and freed at once.
 * No libcurl or cJSON type appears here.
 */
#ifndef KTRACE_KUBE_H
#define KTRACE_KUBE_H

#include <stdbool.h>

#include "ktrace/diag.h"
#include "ktrace/model.h"

struct kt_bundle_writer;

struct kt_kube_opts {
	const char *kubeconfig;  /* --kubeconfig; NULL -> $KUBECONFIG, ~/.kube/config, in-cluster */
	const char *context;     /* --context */
	int timeout_s;           /* per request; 0 -> 30 */
	int max_body_mb;         /* cap per response body; 0 -> 256 */
	const char *as_user;     /* --as: impersonate this user (overrides the kubeconfig's 'as') */
	const char *const *as_groups; /* --as-group, repeatable (overrides 'as-groups'); needs a user */
	unsigned n_as_groups;
	/* optional: called at most every 200 ms while lists stream, with the
	 * number of objects read so far (progress on long collections) */
	void (*progress)(void *ctx, unsigned long objects);
	void *progress_ctx;
};

struct kt_kube;

/* Load the kubeconfig and prepare a client. Errors: KT_EXIT_INPUT for a
 * malformed kubeconfig (file:line), KT_EXIT_CLUSTER when no config exists. */
int kt_kube_open(const struct kt_kube_opts *o, struct kt_kube **out, struct kt_diag *d);
void kt_kube_close(struct kt_kube *k);

const char *kt_kube_namespace(const struct kt_kube *k); /* context namespace or "default" */
/* The namespace of the kubeconfig context (o->context or current-context)
 * without preparing a client: "default" when there is no kubeconfig, no
 * such context or no namespace in it. Never fails (errors are logged at
 * -v). Arena-owned or static. */
const char *kt_kube_config_namespace(const struct kt_kube_opts *o, struct kt_arena *a);
const char *kt_kube_context(const struct kt_kube *k);   /* may be NULL (in-cluster) */
const char *kt_kube_server(const struct kt_kube *k);

/* Names of contexts in the merged kubeconfig (completion); arena-owned. */
int kt_kube_contexts(const struct kt_kube_opts *o, struct kt_arena *a, const char ***names,
		     unsigned *n, struct kt_diag *d);

enum kt_res {
	KT_RES_SERVICES,
	KT_RES_ENDPOINTSLICES,
	KT_RES_PODS,
	KT_RES_NODES,
	KT_RES_DEPLOYMENTS,
	KT_RES_STATEFULSETS,
	KT_RES_DAEMONSETS,
	KT_RES_REPLICASETS,
	KT_RES_HPAS,
	KT_RES_PDBS,
	KT_RES_INGRESSES,
	KT_RES_INGRESSCLASSES,
	KT_RES_CONFIGMAPS,       /* by name (kube-proxy, cilium-config) or label (ingress controllers) */
	KT_RES_NAMESPACES,       /* completion only; not stored in the model */
	KT_RES_GATEWAYCLASSES,   /* Gateway API: a 404 (CRDs not installed) is no gap */
	KT_RES_GATEWAYS,
	KT_RES_HTTPROUTES,
	KT_RES_GRPCROUTES,
	KT_RES_COUNT,
};

/* ConfigMaps of the ingress controllers whose settings ktrace reads
 * (kt_ctrl_config_keys): ingress-nginx (also RKE2's), NGINX Inc,
 * HAProxy's two controllers. */
#define KT_CTRL_CONFIGMAP_SELECTOR \
	"app.kubernetes.io/name in (ingress-nginx,rke2-ingress-nginx,nginx-ingress,haproxy-ingress,kubernetes-ingress)"

struct kt_list_req {
	enum kt_res res;
	const char *ns;          /* NULL = all namespaces (or cluster-scoped) */
	const char *name;        /* GET one object instead of a list */
	const char *label_selector;
	const char *field_selector;
	bool optional;           /* 403/404 become a snapshot gap, not an error */
	bool absent_ok;          /* GET: 404 means "does not exist" (e.g. cilium-config on a
				  * kube-proxy cluster): neither an error nor a gap */
};

/* Run the requests (independent lists concurrently, paged with limit /
 * continue, 410 restart, 429/5xx Retry-After) and ingest every object into
 * snap (and bw when not NULL). Errors: KT_EXIT_NOTFOUND for a GET of a
 * missing non-optional object, KT_EXIT_CLUSTER for transport, auth (401/403
 * naming verb, resource and namespace) and server errors, KT_EXIT_INPUT for
 * malformed responses. */
int kt_kube_fetch(struct kt_kube *k, const struct kt_list_req *reqs, unsigned n,
		  struct kt_snapshot *snap, struct kt_bundle_writer *bw, struct kt_diag *d);

/* Names only (for "did you mean" and completion): metadata.name of every
 * object of res in ns. arena-owned array. */
int kt_kube_names(struct kt_kube *k, enum kt_res res, const char *ns, struct kt_arena *a,
		  const char ***names, unsigned *n, struct kt_diag *d);

/* The server's gitVersion from GET /version ("v1.32.4"), arena-owned.
 * Errors as for kt_kube_fetch (403/404 included: callers that only want
 * it for display should ignore the error). */
int kt_kube_version(struct kt_kube *k, struct kt_arena *a, const char **out, struct kt_diag *d);

const char *kt_res_name(enum kt_res r); /* "services", ... */

/* One GET of a raw API path (e.g. a Pod proxy path), run concurrently
 * with others by kt_kube_get_many(). Every outcome is recorded here:
 * a status, a transport failure, a cap. Never follows redirects. */
struct kt_kube_get {
	const char *path;        /* below the server, escaped: "/api/v1/namespaces/NS/pods/P:PORT/proxy/..." */
	const char *header;      /* one extra request header line (e.g. a token); never logged; NULL none */
	long timeout_ms;         /* the whole request, retries included; 0: the client's timeout */
	size_t max_body;         /* decoded body cap, bytes; 0: the client's */
	int max_retries;         /* 429 and 5xx answers retried this often (Retry-After, at most 1 s) */
	/* results */
	long status;             /* HTTP status; 0: no answer (err says why) */
	char *body;              /* malloc, NUL-terminated (free()); may be NULL */
	size_t len;
	size_t wire;             /* bytes received before decoding */
	char err[256];           /* no answer: why (timeout, cap, connection refused, ...) */
	bool timed_out, too_big;
	int tries;
	long long ms;            /* elapsed, first try to answer */
	char node_hdr[128];      /* X-Ktrace-Node response header, when present */
};

/* Run the GETs concurrently (at most 32 at once) on the client's request
 * engine. Returns <0 only when no request can be made (credentials,
 * libcurl); each request's own result is in it. */
int kt_kube_get_many(struct kt_kube *k, struct kt_kube_get *g, unsigned n, struct kt_diag *d);

#endif
