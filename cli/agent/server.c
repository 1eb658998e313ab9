/*
 * The agent's HTTP server on libmicrohttpd: one thread per connection,
 * at most max_conns connections and per_ip per client address, 30 s idle
 * timeout, 64 KiB for the request line and headers, strict request
 * parsing. Each request: request.c parses the raw target; /healthz answers
 * without a token; everything else needs the token (else 401 with an
 * empty body); then GET/HEAD only, no request body, and the route serves a
 * shared body from state.c or sampler.c (gzip when asked, ETag/304) or the
 * metrics. The token is re-read when its file changes (Secret rotation).
 * Nothing here writes anywhere but the socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/agent/agent.h"
#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"

static const int codes[] = {200, 304, 400, 401, 404, 405, 412, 413, 414, 500, 503};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

struct kt_agent {
	struct kt_ag_opts o;
	struct kt_node_opts no;
	char node[256];
	pthread_mutex_t tok_mu;
	char token[KT_AGENT_TOKEN_MAX + 1];
	size_t token_len;
	struct stat tok_st;
	double tok_checked;      /* monotonic s */
	struct kt_ag_cache cache;
	struct kt_ag_sampler *sampler;
	struct MHD_Daemon *mhd;
	int port;
	pthread_t janitor;
	bool janitor_on;
	pthread_mutex_t jmu;
	pthread_cond_t jcv;
	bool stopping;
	uint64_t done;           /* requests completed (the janitor trims after them) */
	uint64_t requests[N_CODES];
};

/* Per request: the raw request target as received (bounded copy). */
struct rctx {
	size_t uri_len;          /* full length */
	char uri[KT_AGENT_MAX_TARGET + 1];
	bool body;               /* upload data arrived */
	bool started;            /* the handler saw the headers */
	double t0;
	struct kt_ag_req req;
};

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- token ----------------------------------------------------------- */

/* Read and check the token file into buf; 0 or -1 with why. */
static int token_read(const char *path, char *buf, size_t *len, struct stat *st, char *why, size_t wn)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(why, wn, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), st) != 0)
		memset(st, 0, sizeof(*st));
	size_t n = fread(buf, 1, KT_AGENT_TOKEN_MAX + 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	if (n > KT_AGENT_TOKEN_MAX) {
		snprintf(why, wn, "the token in %s is longer than %d bytes", path, KT_AGENT_TOKEN_MAX);
		return -1;
	}
	if (n < KT_AGENT_TOKEN_MIN) {
		snprintf(why, wn, "the token in %s is shorter than %d bytes", path, KT_AGENT_TOKEN_MIN);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			snprintf(why, wn, "the token in %s holds a space, control or non-ASCII byte", path);
			return -1;
		}
	buf[n] = 0;
	*len = n;
	return 0;
}

/* Re-read the token when its file changed (at most every 5 s). */
static void token_refresh(struct kt_agent *ag)
{
	double now = mono_s();
	if (now - ag->tok_checked < 5)
		return;
	ag->tok_checked = now;
	struct stat st;
	if (stat(ag->o.token_file, &st) != 0)
		return;  /* keep the token we have */
	if (st.st_ino == ag->tok_st.st_ino && st.st_mtim.tv_sec == ag->tok_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == ag->tok_st.st_mtim.tv_nsec && st.st_size == ag->tok_st.st_size)
		return;
	char buf[KT_AGENT_TOKEN_MAX + 2], why[512];
	size_t len;
	if (token_read(ag->o.token_file, buf, &len, &st, why, sizeof(why)) < 0) {
		kt_warn("agent: keeping the previous token: %s", why);
		ag->tok_st = st;
		return;
	}
	memcpy(ag->token, buf, len + 1);
	ag->token_len = len;
	ag->tok_st = st;
	kt_log(1, "agent: token re-read from %s", ag->o.token_file);
	explicit_bzero(buf, sizeof(buf));
}

static bool authorized(struct kt_agent *ag, struct MHD_Connection *con)
{
	const char *x = NULL, *a = NULL;
	size_t xl = 0, al = 0;
	if (MHD_lookup_connection_value_n(con, MHD_HEADER_KIND, KT_AGENT_TOKEN_HEADER, strlen(KT_AGENT_TOKEN_HEADER), &x,
					  &xl) != MHD_YES)
		x = NULL;
	if (MHD_lookup_connection_value_n(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
					  strlen(MHD_HTTP_HEADER_AUTHORIZATION), &a, &al) != MHD_YES)
		a = NULL;
	pthread_mutex_lock(&ag->tok_mu);
	token_refresh(ag);
	bool ok = kt_ag_token_ok(x, xl, a, al, ag->token, ag->token_len);
	pthread_mutex_unlock(&ag->tok_mu);
	return ok;
}

/* ---- responses ------------------------------------------------------- */

static void count(struct kt_agent *ag, int code)
{
	for (size_t i = 0; i < N_CODES; i++)
		if (codes[i] == code) {
			__atomic_add_fetch(&ag->requests[i], 1, __ATOMIC_RELAXED);
			return;
		}
}

static void body_free(void *cls)
{
	kt_ag_body_unref(cls);
}

static enum MHD_Result send_resp(struct kt_agent *ag, struct MHD_Connection *con, struct rctx *rc, int code,
				 struct kt_ag_body *b, const char *ctype, const char *state_id)
{
	struct MHD_Response *r;
	if (b)
		r = MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, body_free, b);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		kt_ag_body_unref(b);
		return MHD_NO;
	}
	if (b) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
		if (b->gzip)
			MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
		MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
		if (code == 200)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, b->etag);
	}
	if (code != 401) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		MHD_add_response_header(r, KT_AGENT_NODE_HEADER, ag->node);
		if (state_id)
			MHD_add_response_header(r, KT_AGENT_STATE_HEADER, state_id);
	}
	if (code == 405)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	enum MHD_Result ret = MHD_queue_response(con, (unsigned)code, r);
	MHD_destroy_response(r);
	count(ag, code);
	kt_log(1, "agent: %s %.200s %d %zu bytes %.1f ms", rc->req.head ? "HEAD" : "GET", rc->uri, code, b ? b->len : 0,
	       (mono_s() - rc->t0) * 1000.0);
	return ret;
}

struct err_arg {
	int code;
	const char *reason, *msg, *state_id;
};

static void err_json(struct kt_jw *w, const void *arg)
{
	const struct err_arg *e = arg;
	kt_agent_error_to_json(w, e->code, e->reason, e->msg, e->state_id);
}

static enum MHD_Result send_err(struct kt_agent *ag, struct MHD_Connection *con, struct rctx *rc, int code,
				const char *reason, const char *msg, const char *state_id)
{
	struct err_arg e = {code, reason, msg, state_id};
	return send_resp(ag, con, rc, code, kt_ag_json_body(err_json, &e), "application/json", state_id);
}

/* A shared body, or 304 when the client has it. */
static enum MHD_Result send_cached(struct kt_agent *ag, struct MHD_Connection *con, struct rctx *rc,
				   struct kt_ag_body *b, const char *ctype, const char *state_id)
{
	const char *inm = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (inm && kt_ag_etag_match(inm, b->etag)) {
		struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!r) {
			kt_ag_body_unref(b);
			return MHD_NO;
		}
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, b->etag);
		MHD_add_response_header(r, KT_AGENT_NODE_HEADER, ag->node);
		if (state_id)
			MHD_add_response_header(r, KT_AGENT_STATE_HEADER, state_id);
		kt_ag_body_unref(b);
		enum MHD_Result ret = MHD_queue_response(con, MHD_HTTP_NOT_MODIFIED, r);
		MHD_destroy_response(r);
		count(ag, 304);
		return ret;
	}
	return send_resp(ag, con, rc, 200, b, ctype, state_id);
}

static bool want_gzip(struct MHD_Connection *con)
{
	return kt_ag_accepts_gzip(MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
}

static enum MHD_Result serve_node(struct kt_agent *ag, struct MHD_Connection *con, struct rctx *rc)
{
	const struct kt_ag_req *r = &rc->req;
	struct kt_ag_state *st = kt_ag_state_get(&ag->cache);
	enum MHD_Result ret;
	char sid[17];
	memcpy(sid, st->state_id, sizeof(sid));
	bool gz = want_gzip(con);
	if (r->state[0] && strcmp(r->state, st->state_id) != 0) {
		kt_ag_state_unref(st);
		return send_err(ag, con, rc, 412, "StateChanged",
				"the node state changed since that state id: fetch /v1/digests again", sid);
	}
	struct kt_ag_body *b;
	if (rc->req.route == KT_AG_DIGESTS) {
		if (r->canonical) {
			b = kt_ag_state_canonical_body(st);
			if (gz) {
				struct kt_ag_body *z = kt_ag_gzip(b);
				kt_ag_body_unref(b);
				b = z;
			}
		} else {
			b = kt_ag_state_body(st, gz ? KT_AG_B_DIG_GZ : KT_AG_B_DIG);
		}
	} else if (r->has_keys) {
		b = kt_ag_state_keys_body(st, r->keys, r->n_keys);
		if (gz && b->len > 512) {
			struct kt_ag_body *z = kt_ag_gzip(b);
			kt_ag_body_unref(b);
			b = z;
		}
	} else {
		b = kt_ag_state_body(st, gz ? KT_AG_B_NODE_GZ : KT_AG_B_NODE);
	}
	kt_ag_state_unref(st);
	ret = send_cached(ag, con, rc, b, "application/json", sid);
	return ret;
}

static enum MHD_Result serve_flows(struct kt_agent *ag, struct MHD_Connection *con, struct rctx *rc)
{
	if (!ag->sampler)
		return send_err(ag, con, rc, 503, "ServiceUnavailable", "flow sampling is off on this agent (--no-flows)",
				NULL);
	struct kt_ag_sample *x = kt_ag_sample_get(ag->sampler, NULL);
	if (!x || !x->fs) {
		char msg[600] = "no flow sample could be taken in time";
		if (x && x->snap->n_gaps)
			snprintf(msg, sizeof(msg), "no flow sample: %s: %s", x->snap->gaps[0].what, x->snap->gaps[0].why);
		kt_ag_sample_unref(x);
		return send_err(ag, con, rc, 503, "ServiceUnavailable", msg, NULL);
	}
	struct kt_ag_body *b = kt_ag_sample_body(x, want_gzip(con), rc->req.compact);
	kt_ag_sample_unref(x);
	return send_cached(ag, con, rc, b, "application/json", NULL);
}

static enum MHD_Result serve_metrics(struct kt_agent *ag, struct MHD_Connection *con, struct rctx *rc)
{
	struct kt_ag_state *st = kt_ag_state_get(&ag->cache);
	struct kt_ag_sample *prev = NULL, *cur = ag->sampler ? kt_ag_sample_get(ag->sampler, &prev) : NULL;
	uint64_t req[N_CODES];
	int cds[N_CODES];
	for (size_t i = 0; i < N_CODES; i++) {
		req[i] = __atomic_load_n(&ag->requests[i], __ATOMIC_RELAXED);
		cds[i] = codes[i];
	}
	struct kt_ag_metrics_in in = {
		.node = ag->node,
		.st = st,
		.cur = cur,
		.prev = prev,
		.requests = req,
		.request_codes = cds,
		.n_codes = N_CODES,
		.max_series = 10000,
	};
	kt_ag_sampler_stats(ag->sampler, &in.samples, &in.sampler_paused);
	struct kt_ag_body *b = kt_ag_metrics(&in);
	kt_ag_sample_unref(cur);
	kt_ag_sample_unref(prev);
	kt_ag_state_unref(st);
	if (want_gzip(con) && b->len > 512) {
		struct kt_ag_body *z = kt_ag_gzip(b);
		kt_ag_body_unref(b);
		b = z;
	}
	return send_resp(ag, con, rc, 200, b, "text/plain; version=0.0.4; charset=utf-8", NULL);
}

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *con)
{
	(void)cls;
	(void)con;
	struct rctx *rc = kt_xmalloc(sizeof(*rc));
	rc->body = false;
	rc->started = false;
	rc->t0 = mono_s();
	size_t n = uri ? strlen(uri) : 0;
	rc->uri_len = n;
	size_t keep = n > KT_AGENT_MAX_TARGET ? KT_AGENT_MAX_TARGET : n;
	memcpy(rc->uri, uri ? uri : "", keep);
	rc->uri[keep] = 0;
	return rc;
}

static void done_cb(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct kt_agent *ag = cls;
	(void)con;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
	__atomic_add_fetch(&ag->done, 1, __ATOMIC_RELAXED);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	(void)url;
	(void)version;
	(void)upload_data;
	struct kt_agent *ag = cls;
	struct rctx *rc = *con_cls;
	if (!rc)
		return MHD_NO;
	if (*upload_size) {
		/* not reached (a body is refused on the first call); discard */
		rc->body = true;
		*upload_size = 0;
		return MHD_YES;
	}
	const char *cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	bool has_body = rc->body || te || (cl && strcmp(cl, "0") != 0);
	/* first call (headers only): answer a request that announces a body
	 * at once (MHD then closes the connection instead of reading it);
	 * others are answered on the next call, once the request is complete,
	 * so the connection can be kept alive */
	if (!rc->started) {
		rc->started = true;
		if (!has_body)
			return MHD_YES;
	}
	struct kt_ag_req *r = &rc->req;
	kt_ag_parse(r, method, rc->uri, rc->uri_len);
	if (r->route == KT_AG_HEALTHZ && !r->status && !has_body) {
		struct kt_ag_body *b = kt_ag_text_body("ok\n", 3);
		return send_resp(ag, con, rc, 200, b, "text/plain; charset=utf-8", NULL);
	}
	if (!authorized(ag, con))
		return send_resp(ag, con, rc, 401, NULL, NULL, NULL);
	if (r->status)
		return send_err(ag, con, rc, r->status, r->reason, r->error, NULL);
	if (has_body)
		return send_err(ag, con, rc, 413, "RequestEntityTooLarge", "requests to the agent carry no body", NULL);
	switch (r->route) {
	case KT_AG_NODE:
	case KT_AG_DIGESTS:
		return serve_node(ag, con, rc);
	case KT_AG_FLOWS:
		return serve_flows(ag, con, rc);
	case KT_AG_METRICS:
		return serve_metrics(ag, con, rc);
	default:
		return send_err(ag, con, rc, 404, "NotFound", "no such path", NULL);
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = 0;
	kt_log(1, "agent: http: %s", buf);
}

/* ---- listening socket ------------------------------------------------ */

static int listen_on(const char *spec, int *port_out, struct kt_diag *d)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	if (!colon || !colon[1])
		return kt_diag_set(d, KT_EXIT_USAGE, "--listen '%s': give ADDR:PORT, [ADDR6]:PORT or :PORT", spec);
	size_t hl = (size_t)(colon - spec);
	if (hl >= sizeof(host))
		return kt_diag_set(d, KT_EXIT_USAGE, "--listen '%s': address too long", spec);
	memcpy(host, spec, hl);
	host[hl] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return kt_diag_set(d, KT_EXIT_USAGE, "--listen '%s': bad port", spec);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	socklen_t sl;
	int fam;
	char *h = host;
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
		h[hl - 1] = 0;
		h++;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (!h[0] || inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
		fam = AF_INET;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
		fam = AF_INET6;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		return kt_diag_set(d, KT_EXIT_USAGE, "--listen '%s': '%s' is not an IP address", spec, h);
	}
	int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot create a socket: %s", strerror(errno));
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
		int e = errno;
		close(fd);
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot listen on %s: %s", spec, strerror(e));
		if (e == EADDRINUSE)
			kt_diag_hint(d, "another process (an agent already running?) holds that port; pick another with --listen");
		return -KT_EXIT_CLUSTER;
	}
	socklen_t bl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &bl);
	*port_out = ntohs(fam == AF_INET ? s4->sin_port : s6->sin6_port);
	return fd;
}

/* ---- idle memory ------------------------------------------------------ */

/* Once the cached node state is past its max-age nobody can use it (the
 * next request reads again): drop it and give the memory back, so an idle
 * agent stays small whatever the size of the last read. */
static void *janitor(void *arg)
{
	struct kt_agent *ag = arg;
	uint64_t trimmed_at = 0;
	pthread_mutex_lock(&ag->jmu);
	while (!ag->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&ag->jcv, &ag->jmu, &ts);
		if (ag->stopping)
			break;
		/* after dropping a state, and again once the requests that were
		 * still sending its bodies have completed */
		uint64_t done = __atomic_load_n(&ag->done, __ATOMIC_RELAXED);
		bool dropped = kt_ag_cache_drop_stale(&ag->cache);
		if (dropped || (done != trimmed_at && kt_ag_cache_empty(&ag->cache))) {
			malloc_trim(0);
			trimmed_at = done;
		}
	}
	pthread_mutex_unlock(&ag->jmu);
	return NULL;
}

/* ---- start / stop ---------------------------------------------------- */

int kt_agent_start(const struct kt_ag_opts *o, struct kt_agent **out, struct kt_diag *d)
{
	*out = NULL;
	/* one thread per connection: bound glibc's per-thread heaps */
	mallopt(M_ARENA_MAX, 2);
	struct kt_agent *ag = kt_xcalloc(1, sizeof(*ag));
	ag->o = *o;
	pthread_mutex_init(&ag->tok_mu, NULL);
	char why[512];
	if (!o->token_file) {
		kt_diag_set(d, KT_EXIT_USAGE, "no token: the agent does not start without --token-file");
		kt_diag_hint(d, "create one: kubectl -n %s create secret generic %s --from-literal=%s=$(openssl rand -hex 32)",
			     KT_AGENT_NAMESPACE, KT_AGENT_SECRET, KT_AGENT_SECRET_KEY);
		goto fail;
	}
	if (token_read(o->token_file, ag->token, &ag->token_len, &ag->tok_st, why, sizeof(why)) < 0) {
		kt_diag_set(d, KT_EXIT_USAGE, "no usable token: %s", why);
		kt_diag_hint(d, "the token file must hold %d to %d printable ASCII bytes, e.g. from 'openssl rand -hex 32'",
			     KT_AGENT_TOKEN_MIN, KT_AGENT_TOKEN_MAX);
		goto fail;
	}
	ag->tok_checked = mono_s();
	if (!kt_node_readable()) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot read this node's dataplane: needs root or CAP_NET_ADMIN");
		kt_diag_hint(d, "run it as root, or with CAP_NET_ADMIN (and CAP_BPF for Cilium), as the DaemonSet in deploy/ does");
		goto fail;
	}
	if (o->node)
		snprintf(ag->node, sizeof(ag->node), "%s", o->node);
	else if (gethostname(ag->node, sizeof(ag->node) - 1) != 0 || !ag->node[0])
		snprintf(ag->node, sizeof(ag->node), "localhost");
	ag->no.node_name = ag->node;
	ag->no.bpffs = o->bpffs;
	ag->no.no_metrics = o->no_metrics;
	kt_ag_cache_init(&ag->cache, &ag->no, o->max_age);
	int lfd = listen_on(o->listen, &ag->port, d);
	if (lfd < 0) {
		kt_ag_cache_fini(&ag->cache);
		goto fail;
	}
	if (!o->no_flows)
		ag->sampler = kt_ag_sampler_start(&ag->no, o->flow_interval, o->resync, o->flow_idle);
	ag->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0,
		NULL, NULL, handle, ag, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, ag, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)o->max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)o->per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)(64 * 1024), MHD_OPTION_STRICT_FOR_CLIENT, (int)1, MHD_OPTION_URI_LOG_CALLBACK, uri_cb, ag,
		MHD_OPTION_NOTIFY_COMPLETED, done_cb, ag, MHD_OPTION_END);
	if (!ag->mhd) {
		close(lfd);
		kt_ag_sampler_stop(ag->sampler);
		kt_ag_cache_fini(&ag->cache);
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot start the HTTP server on %s", o->listen);
		goto fail;
	}
	pthread_mutex_init(&ag->jmu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ag->jcv, &ca);
	pthread_condattr_destroy(&ca);
	ag->janitor_on = pthread_create(&ag->janitor, NULL, janitor, ag) == 0;
	*out = ag;
	return 0;
fail:
	pthread_mutex_destroy(&ag->tok_mu);
	explicit_bzero(ag->token, sizeof(ag->token));
	free(ag);
	return -d->code;
}

int kt_agent_port(const struct kt_agent *ag)
{
	return ag->port;
}

void kt_agent_stop(struct kt_agent *ag)
{
	if (!ag)
		return;
	MHD_stop_daemon(ag->mhd);
	pthread_mutex_lock(&ag->jmu);
	ag->stopping = true;
	pthread_cond_broadcast(&ag->jcv);
	pthread_mutex_unlock(&ag->jmu);
	if (ag->janitor_on)
		pthread_join(ag->janitor, NULL);
	pthread_cond_destroy(&ag->jcv);
	pthread_mutex_destroy(&ag->jmu);
	kt_ag_sampler_stop(ag->sampler);
	kt_ag_cache_fini(&ag->cache);
	pthread_mutex_destroy(&ag->tok_mu);
	explicit_bzero(ag->token, sizeof(ag->token));
	free(ag);
}
