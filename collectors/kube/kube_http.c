/*
 * The API client's request engine: independent requests run concurrently
 * on one curl multi handle (keep-alive, gzip, HTTP/1.1 or 2), each as a
 * struct job that is set up, started, completed and rescheduled: 401
 * credential refresh, 410 Expired list restarts, 429/5xx Retry-After
 * (bounded), transport errors named with the URL. 2xx bodies go to
 * kube_list.c, which pages; the next page is requested before this one is
 * parsed.
 *
 * Bounded: response bodies by size (max_body) and by gzip expansion
 * (KT_HTTP_MAX_RATIO), server Warning headers by count and length (shown
 * visible-safe, once each), error bodies parsed only when small. Never
 * follows redirects; credentials only to https:// (kube_auth.c).
 * Owns the jobs' curl easy handles and buffers.
 */
#include "collectors/kube/curl_dl.h" /* first: libcurl is dlopen()ed on first use */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collectors/kube/kube_int.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

#define KT_MAX_RETRIES 10           /* 429 / 5xx with Retry-After */
#define KT_MAX_RETRY_SLEEP 10       /* s, per retry */
#define KT_MAX_RESTARTS 3           /* 410 Expired list restarts */
#define KT_HTTP_MAX_RATIO 256       /* decoded / received bytes, above ... */
#define KT_HTTP_RATIO_FROM (16u << 20) /* ... this much decoded */
#define KT_MAX_WARNING_LEN 400      /* bytes of one Warning shown */
#define KT_MAX_ERROR_BODY (64u << 10) /* error bodies parsed for a message */
#define KT_RAW_PARALLEL 32          /* raw GETs (kt_kube_get_many) in flight at once */

long long kt_kube_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct job *j = ud;
	size_t n = sz * nm;
	size_t cap = j->raw && j->raw->max_body ? j->raw->max_body : j->k->max_body;

	if (j->len + n + 1 > cap) {
		j->too_big = true;
		return 0;
	}
	if (j->len + n > KT_HTTP_RATIO_FROM) {
		curl_off_t wire = 0;

		/* bytes received (before decoding) against bytes decoded */
		curl_easy_getinfo(j->h, CURLINFO_SIZE_DOWNLOAD_T, &wire);
		if (wire > 0 && (j->len + n) / KT_HTTP_MAX_RATIO > (size_t)wire) {
			j->bomb = true;
			return 0;
		}
	}
	if (j->len + n + 1 > j->cap) {
		size_t nc = j->cap ? j->cap : 65536;

		while (nc < j->len + n + 1)
			nc *= 2;
		j->body = kt_xrealloc(j->body, nc);
		j->cap = nc;
	}
	memcpy(j->body + j->len, p, n);
	j->len += n;
	return n;
}

/* API "Warning:" headers (299 - "text"): shown once each, at most
 * KT_MAX_WARNINGS of them, each cut to KT_MAX_WARNING_LEN bytes and
 * escaped (a server's text never reaches the terminal raw). */
static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
	struct job *j = ud;
	struct kt_kube *k = j->k;
	size_t n = sz * nm, tl;
	char line[KT_MAX_WARNING_LEN + 1], esc[4 * KT_MAX_WARNING_LEN + 16];
	const char *t, *q, *e;
	unsigned i;

	if (j->raw && n > 14 && !strncasecmp(p, "X-Ktrace-Node:", 14)) {
		/* the agent names its node (checked against the one asked) */
		t = p + 14;
		tl = n - 14;
		while (tl && (*t == ' ' || *t == '\t')) {
			t++;
			tl--;
		}
		while (tl && (t[tl - 1] == '\n' || t[tl - 1] == '\r' || t[tl - 1] == ' '))
			tl--;
		snprintf(j->raw->node_hdr, sizeof(j->raw->node_hdr), "%.*s", (int)tl, t);
		return n;
	}
	if (n < 9 || strncasecmp(p, "Warning:", 8))
		return n;
	t = p + 8;
	tl = n - 8;
	while (tl && (*t == ' ' || *t == '\t')) {
		t++;
		tl--;
	}
	while (tl && (t[tl - 1] == '\n' || t[tl - 1] == '\r' || t[tl - 1] == ' '))
		tl--;
	/* 299 - "message" [date] */
	q = memchr(t, '"', tl);
	if (q) {
		e = q + 1;
		for (const char *x = q + 1; x < t + tl; x++)
			if (*x == '"')
				e = x;
		if (e > q + 1) {
			tl = (size_t)(e - (q + 1));
			t = q + 1;
		}
	}
	snprintf(line, sizeof(line), "%.*s", (int)(tl < KT_MAX_WARNING_LEN ? tl : KT_MAX_WARNING_LEN), t);
	kt_vis_escape(esc, sizeof(esc), line);
	for (i = 0; i < k->n_warnings; i++)
		if (!strcmp(k->warnings[i], esc))
			return n;
	if (k->n_warnings >= KT_MAX_WARNINGS) {
		if (!k->warnings_capped)
			kt_warn("the API server sent more than %d different warnings; the rest are not shown",
				KT_MAX_WARNINGS);
		k->warnings_capped = true;
		return n;
	}
	k->warnings[k->n_warnings++] = kt_xstrdup(esc);
	kt_warn("%s%s", esc, tl > KT_MAX_WARNING_LEN ? " [...]" : "");
	return n;
}

static int job_setup(struct job *j, struct kt_diag *d)
{
	struct kt_kube *k = j->k;
	const struct kt_kc_cluster *cl = k->rc.cluster;
	CURL *h;
	int rc;

	if ((rc = kt_auth_ensure(k, d)) < 0)
		return rc;
	if (!j->h) {
		j->h = k->n_spare ? k->spare[--k->n_spare] : curl_easy_init();
		if (!j->h)
			return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot initialise libcurl");
	}
	h = j->h;
	curl_easy_reset(h);
	j->cred_gen = k->cred_gen;
	if (j->raw) {
		size_t l = strlen(k->base) + strlen(j->raw->path) + 1;

		free(j->url);
		j->url = kt_xmalloc(l);
		snprintf(j->url, l, "%s%s", k->base, j->raw->path);
		j->path = j->url + strlen(k->base);
	} else {
		kt_list_build_url(j);
	}
	j->len = 0;
	j->too_big = j->bomb = false;
	j->errbuf[0] = '\0';
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	j->hdrs = curl_slist_append(j->hdrs, "Accept: application/json");
	j->hdrs = curl_slist_append(j->hdrs, k->ua);
	if (k->host_hdr)
		j->hdrs = curl_slist_append(j->hdrs, k->host_hdr);
	if (j->raw && j->raw->header)
		j->hdrs = curl_slist_append(j->hdrs, j->raw->header);
	curl_easy_setopt(h, CURLOPT_URL, j->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, j);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
	if (j->raw) {
		long left = (long)(j->deadline_ms - kt_kube_now_ms());

		if (left < 1)
			left = 1;
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, left < 10000 ? left : 10000L);
	} else {
		curl_easy_setopt(h, CURLOPT_TIMEOUT, k->timeout_s);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, k->timeout_s < 10 ? k->timeout_s : 10L);
	}
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (!cl->disable_compression)
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
	if (cl->proxy_url && *cl->proxy_url)
		curl_easy_setopt(h, CURLOPT_PROXY, cl->proxy_url);
	if (k->connect_to_list) {
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, k->connect_to_list);
		curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	}
	if (k->https) {
		if (cl->insecure) {
			curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
		} else if (k->ca.data) {
			struct curl_blob b = {(void *)k->ca.data, k->ca.len, CURL_BLOB_NOCOPY};

			curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
			curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
			curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		}
		kt_auth_apply(k, h, &j->hdrs);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->hdrs);
	return 0;
}

/* Status message from a (small) error body, which may be plain text. */
static void status_text(struct job *j, char *msg, size_t n)
{
	cJSON *s = NULL;
	const char *m = NULL;

	msg[0] = '\0';
	if (!j->body || !j->len)
		return;
	j->body[j->len] = '\0';
	if (j->len <= KT_MAX_ERROR_BODY) {
		s = cJSON_ParseWithLength(j->body, j->len);
		m = s ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "message")) : NULL;
	}
	if (m)
		snprintf(msg, n, "%.300s", m);
	else if (!s)
		snprintf(msg, n, "%.200s", j->body);
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	for (size_t l = strlen(msg); l && msg[l - 1] == ' ';)
		msg[--l] = '\0';
	cJSON_Delete(s);
}

static const char *reason_phrase(long code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 410: return "Gone";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "error";
	}
}

static int job_fail_transport(struct run *R, struct job *j, CURLcode cc)
{
	struct kt_diag *d = R->d;
	const char *eb = j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc);
	const char *ctx = j->k->rc.context ? j->k->rc.context : "in-cluster";

	if (j->too_big) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "response from %s exceeds the %zu MiB cap", j->url, j->k->max_body >> 20);
		kt_diag_hint(d, "narrow the request (-n NAMESPACE) or raise the response cap");
		return -KT_EXIT_CLUSTER;
	}
	if (j->bomb) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "response from %s expands more than %d times when decompressed: refused",
			    j->url, KT_HTTP_MAX_RATIO);
		kt_diag_hint(d, "that is not a Kubernetes API response; check the server address of context '%s'", ctx);
		return -KT_EXIT_CLUSTER;
	}
	switch (cc) {
	case CURLE_PARTIAL_FILE:
	case CURLE_BAD_CONTENT_ENCODING:
		kt_diag_set(d, KT_EXIT_INPUT, "truncated response from %s: %s", j->url, eb);
		kt_diag_hint(d, "the connection broke mid-response; retry, or check proxies between you and the API server");
		return -KT_EXIT_INPUT;
	case CURLE_OPERATION_TIMEDOUT:
		kt_diag_set(d, KT_EXIT_CLUSTER, "request to %s timed out after %lds", j->url, j->k->timeout_s);
		kt_diag_hint(d, "check that the API server is reachable, or raise --request-timeout");
		return -KT_EXIT_CLUSTER;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
		kt_diag_set(d, KT_EXIT_CLUSTER, "TLS with %s failed: %s", j->url, eb);
		kt_diag_hint(d, "check certificate-authority, tls-server-name and the client certificate of context '%s'",
			     ctx);
		return -KT_EXIT_CLUSTER;
	default:
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot reach %s: %s", j->url, eb);
		kt_diag_hint(d, "check the server address of context '%s' and that the API server is reachable", ctx);
		return -KT_EXIT_CLUSTER;
	}
}

static int job_start(struct run *R, struct job *j)
{
	int rc = job_setup(j, R->d);

	if (rc < 0)
		return R->d->code ? -R->d->code : rc;
	j->start_ms = kt_kube_now_ms();
	if (curl_multi_add_handle(R->k->multi, j->h) != CURLM_OK)
		return kt_diag_set(R->d, KT_EXIT_CLUSTER, "cannot start a request to %s", j->url);
	j->active = true;
	return 0;
}

/* A 2xx answer: the version, or a page (requesting the next page first
 * when its continue token is visible up front). */
static int complete_ok(struct run *R, struct job *j)
{
	char *body = j->body, *pre = NULL, *cont = NULL, *page_url;
	size_t len = j->len;
	int rc;

	j->retries = 0;
	if (j->sink == SINK_VERSION) {
		cJSON *v = body && len <= KT_MAX_ERROR_BODY ? cJSON_ParseWithLength(body, len) : NULL;
		const char *gv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "gitVersion"));

		if (gv)
			j->version = kt_arena_strdup(j->na, gv);
		cJSON_Delete(v);
		j->done = true;
		return 0;
	}
	if (!j->req->name && body && len)
		pre = kt_list_peek_continue(body, len);
	if (!pre) {
		rc = kt_list_page(R, j, j->body, j->len, j->url, &cont);
		if (rc == 0 && cont)
			rc = kt_list_token_seen(R, j, cont);
		free(j->cont);
		j->cont = cont;
		if (rc < 0)
			return rc;
		if (j->cont) {
			j->due_ms = 0;
		} else {
			j->done = true;
			if (R->snap && !j->req->name) /* absence of this kind is now evidence */
				R->snap->listed |= kt_listed_bit(kt_res_info(j->req->res)->plural);
		}
		return 0;
	}
	if ((rc = kt_list_token_seen(R, j, pre)) < 0) {
		free(pre);
		return rc;
	}
	/* request the next page first, then parse this one */
	page_url = kt_xstrdup(j->url);
	j->body = NULL;
	j->len = j->cap = 0;
	free(j->cont);
	j->cont = pre;
	rc = job_start(R, j);
	if (rc == 0)
		rc = kt_list_page(R, j, body, len, page_url, &cont);
	if (rc == 0 && (!cont || strcmp(cont, pre)))
		kt_log(1, "%s: continue token in metadata differs from the parsed one", j->path);
	free(cont);
	free(body);
	free(page_url);
	return rc;
}

/* 401: retry once with fresh credentials, else fail naming the context. */
static int complete_401(struct run *R, struct job *j, const char *what, const char *msg)
{
	struct kt_kube *k = R->k;
	struct kt_diag *d = R->d;
	int rc;

	if (j->auth_retries < 1) {
		/* another request already refreshed: just retry */
		rc = j->cred_gen != k->cred_gen ? 1 : kt_auth_refresh(k, d);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			j->auth_retries++;
			j->due_ms = 0;
			return 0;
		}
	}
	kt_diag_set(d, KT_EXIT_CLUSTER, "cannot %s: 401 Unauthorized%s%s%s", what, msg[0] ? " (" : "", msg,
		    msg[0] ? ")" : "");
	if (!k->https)
		kt_diag_hint(d, "the server %s is plain http: ktrace never sends credentials there", k->server);
	else
		kt_diag_hint(d, "the credentials of context '%s' were rejected (expired token? run 'kubectl get ns' once to refresh them)",
			     k->rc.context ? k->rc.context : "in-cluster");
	return -KT_EXIT_CLUSTER;
}

/* 403/404: a gap for optional requests, "not found" for a GET, else an
 * error with the permission needed. */
static int complete_403_404(struct run *R, struct job *j, long code, const char *what, const char *msg)
{
	const struct kt_list_req *r = j->req;
	const struct kt_res_info *ri = kt_res_info(r->res);
	struct kt_diag *d = R->d;

	if (code == 404 && r->absent_ok) {
		kt_log(1, "%s: 404: does not exist", what);
		j->done = true;
		return 0;
	}
	if (code == 404 && ri->crd) {
		/* the CRDs are not installed (Gateway API): nothing to collect */
		kt_log(1, "%s: not served (CRDs not installed)", what);
		j->done = true;
		return 0;
	}
	if (r->optional || (j->sink == SINK_NAMES && !R->snap)) {
		char gw[300];

		j->done = true;
		if (!R->snap)
			return 0;
		kt_list_describe(j, "", gw, sizeof(gw));
		kt_snapshot_gap(R->snap, gw + 1, "%ld %s%s%s%s", code, reason_phrase(code), code == 403 ? ": needs " : "",
				code == 403 ? (r->name ? "get " : "list ") : "", code == 403 ? ri->plural : "");
		kt_log(1, "gap: %s: %ld %s", gw + 1, code, reason_phrase(code));
		return 0;
	}
	if (code == 404 && r->name) {
		if (r->ns && ri->namespaced)
			kt_diag_set(d, KT_EXIT_NOTFOUND, "%s '%s' not found in namespace '%s'", ri->plural, r->name, r->ns);
		else
			kt_diag_set(d, KT_EXIT_NOTFOUND, "%s '%s' not found", ri->plural, r->name);
		return -KT_EXIT_NOTFOUND;
	}
	kt_diag_set(d, KT_EXIT_CLUSTER, "cannot %s: %ld %s%s%s%s", what, code, reason_phrase(code), msg[0] ? " (" : "",
		    msg, msg[0] ? ")" : "");
	if (code == 403)
		kt_list_rbac_hint(j, d);
	else
		kt_diag_hint(d, "the server %s does not serve %s%s", R->k->server, ri->prefix,
			     "; is it a Kubernetes API server of a supported version?");
	return -KT_EXIT_CLUSTER;
}

/* A raw GET ended: record the answer (or why there is none), or retry a
 * 429/5xx while the request's time allows. Never fatal for the run. */
static int raw_complete(struct job *j, CURLcode cc, long code)
{
	struct kt_kube_get *g = j->raw;
	long long now = kt_kube_now_ms();
	curl_off_t wire = 0, ra = -1;

	g->tries++;
	curl_easy_getinfo(j->h, CURLINFO_SIZE_DOWNLOAD_T, &wire);
	g->wire += wire > 0 ? (size_t)wire : 0;
	if (cc != CURLE_OK) {
		g->status = 0;
		g->too_big = j->too_big;
		if (j->too_big)
			snprintf(g->err, sizeof(g->err), "answer larger than %zu MiB: refused",
				 (g->max_body ? g->max_body : j->k->max_body) >> 20);
		else if (j->bomb)
			snprintf(g->err, sizeof(g->err), "answer expands more than %d times when decompressed: refused",
				 KT_HTTP_MAX_RATIO);
		else if (cc == CURLE_OPERATION_TIMEDOUT) {
			g->timed_out = true;
			snprintf(g->err, sizeof(g->err), "no answer within %.1fs", (double)g->timeout_ms / 1000);
		} else
			snprintf(g->err, sizeof(g->err), "%s", j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc));
		for (char *c = g->err; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = ' ';
		g->ms = now - j->start_ms;
		j->done = true;
		return 0;
	}
	if ((code == 429 || code >= 500) && g->tries <= g->max_retries) {
		long wait = 200L * g->tries;

		curl_easy_getinfo(j->h, CURLINFO_RETRY_AFTER, &ra);
		if (ra > 0)
			wait = ra > 1 ? 1000 : (long)ra * 1000;
		if (now + wait + 100 < j->deadline_ms) {
			kt_log(1, "%s: %ld %s, retrying in %ldms (%d/%d)", j->path, code, reason_phrase(code), wait, g->tries,
			       g->max_retries);
			j->due_ms = now + wait;
			return 0;
		}
	}
	g->status = code;
	g->ms = now - j->start_ms;
	free(g->body);
	g->body = j->body ? j->body : kt_xstrdup("");
	g->len = j->body ? j->len : 0;
	g->body[g->len] = '\0';
	j->body = NULL;
	j->len = j->cap = 0;
	j->done = true;
	return 0;
}

/* A transfer ended. Returns <0 on a fatal error; otherwise the job is
 * either done or rescheduled (due_ms). */
static int job_complete(struct run *R, struct job *j, CURLcode cc)
{
	struct kt_diag *d = R->d;
	long code = 0;
	curl_off_t ra = -1;
	char what[512], msg[400];
	long long ms = kt_kube_now_ms() - j->start_ms;

	j->active = false;
	curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &code);
	kt_log(2, "GET %s %ld %lldms", j->path, code, ms);
	if (j->raw)
		return raw_complete(j, cc, code);
	if (cc != CURLE_OK)
		return job_fail_transport(R, j, cc);
	if (code >= 200 && code < 300)
		return complete_ok(R, j);
	status_text(j, msg, sizeof(msg));
	kt_list_describe(j, j->req->name ? "get" : "list", what, sizeof(what));
	if (code == 401)
		return complete_401(R, j, what, msg);
	if (code == 403 || code == 404)
		return complete_403_404(R, j, code, what, msg);
	if (code == 410 && j->cont && j->restarts < KT_MAX_RESTARTS) {
		/* continue token expired: restart the list, skipping what was
		 * already taken (lists are key-ordered) */
		j->restarts++;
		free(j->cont);
		j->cont = NULL;
		if (j->last_key) {
			free(j->skip_key);
			j->skip_key = kt_xstrdup(j->last_key);
		}
		kt_list_restart(j);
		kt_log(1, "%s: continue token expired, restarting the list", j->path);
		j->due_ms = 0;
		return 0;
	}
	if (code == 429 || code >= 500) {
		curl_easy_getinfo(j->h, CURLINFO_RETRY_AFTER, &ra);
		if ((ra >= 0 || code == 429) && j->retries < KT_MAX_RETRIES) {
			long s = ra > 0 ? (long)ra : 1;

			if (s > KT_MAX_RETRY_SLEEP)
				s = KT_MAX_RETRY_SLEEP;
			j->retries++;
			kt_log(1, "%s: %ld %s, retrying in %lds (%d/%d)", j->path, code, reason_phrase(code), s, j->retries,
			       KT_MAX_RETRIES);
			j->due_ms = kt_kube_now_ms() + s * 1000;
			return 0;
		}
	}
	kt_diag_set(d, KT_EXIT_CLUSTER, "cannot %s: %ld %s%s%s%s (%s)", what, code, reason_phrase(code),
		    msg[0] ? " (" : "", msg, msg[0] ? ")" : "", j->url);
	if (code == 429 || code >= 500)
		kt_diag_hint(d, "the API server is overloaded or failing; retry later");
	return -KT_EXIT_CLUSTER;
}

void kt_job_free(struct kt_kube *k, struct job *j)
{
	if (j->h) {
		if (j->active)
			curl_multi_remove_handle(k->multi, j->h);
		if (k->n_spare < KT_SPARE_HANDLES)
			k->spare[k->n_spare++] = j->h;
		else
			curl_easy_cleanup(j->h);
	}
	curl_slist_free_all(j->hdrs);
	free(j->url);
	free(j->cont);
	free(j->skip_key);
	free(j->last_key);
	free(j->body);
	free(j->seen.v);
}

/* How long to wait for sockets before the next due job (ms). */
static int wait_ms(struct job *jobs, unsigned n, long long next)
{
	int wait = 1000;
	unsigned i, active = 0;

	if (next >= 0) {
		long long dl = next - kt_kube_now_ms();

		wait = dl < 0 ? 0 : dl > 1000 ? 1000 : (int)dl;
	}
	for (i = 0; i < n; i++)
		active += jobs[i].active;
	for (i = 0; i < n; i++)
		if (!jobs[i].done && !jobs[i].active && jobs[i].due_ms <= kt_kube_now_ms() &&
		    !(jobs[i].raw && active >= KT_RAW_PARALLEL))
			wait = 0;
	return wait;
}

/* Start the jobs that are due; *next gets the earliest later due time. */
static int start_due(struct run *R, struct job *jobs, unsigned n, long long *next)
{
	long long now = kt_kube_now_ms();
	unsigned i, active = 0;
	int rc;

	*next = -1;
	for (i = 0; i < n; i++)
		active += jobs[i].active;
	for (i = 0; i < n; i++) {
		struct job *j = &jobs[i];

		if (j->done || j->active)
			continue;
		if (j->raw && active >= KT_RAW_PARALLEL)
			continue; /* started when one in flight ends */
		if (j->due_ms <= now) {
			active++;
			if ((rc = job_start(R, j)) < 0)
				return rc;
		} else if (*next < 0 || j->due_ms < *next) {
			*next = j->due_ms;
		}
	}
	return 0;
}

int kt_jobs_run(struct run *R, struct job *jobs, unsigned n)
{
	struct kt_kube *k = R->k;
	unsigned i, left = n;
	int rc = 0;

	while (left && rc == 0) {
		long long next;
		int running = 0, nm;
		bool any_active = false;
		CURLMsg *m;

		if ((rc = start_due(R, jobs, n, &next)) < 0)
			break;
		if (curl_multi_perform(k->multi, &running) != CURLM_OK) {
			rc = kt_diag_set(R->d, KT_EXIT_CLUSTER, "libcurl multi interface failed");
			break;
		}
		while ((m = curl_multi_info_read(k->multi, &nm))) {
			struct job *j = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			if (!j)
				continue;
			{
				CURLcode cc = m->data.result;

				curl_multi_remove_handle(k->multi, j->h);
				j->active = false;
				rc = job_complete(R, j, cc);
			}
			if (rc < 0)
				break;
			if (j->done)
				left--;
		}
		if (rc || !left)
			break;
		for (i = 0; i < n; i++)
			any_active |= jobs[i].active;
		{
			int w = wait_ms(jobs, n, next);

			if (any_active || w > 0)
				curl_multi_poll(k->multi, NULL, 0, w, NULL);
		}
	}
	return rc;
}

int kt_kube_get_many(struct kt_kube *k, struct kt_kube_get *g, unsigned n, struct kt_diag *d)
{
	struct run R = {.k = k, .d = d};
	struct job *jobs;
	long long now = kt_kube_now_ms();
	int rc;

	if (!n)
		return 0;
	jobs = kt_xcalloc(n, sizeof(*jobs));
	for (unsigned i = 0; i < n; i++) {
		if (!g[i].timeout_ms)
			g[i].timeout_ms = k->timeout_s * 1000;
		g[i].status = 0;
		g[i].err[0] = g[i].node_hdr[0] = '\0';
		g[i].tries = 0;
		g[i].wire = 0;
		jobs[i].k = k;
		jobs[i].sink = SINK_RAW;
		jobs[i].raw = &g[i];
		jobs[i].deadline_ms = now + g[i].timeout_ms;
	}
	rc = kt_jobs_run(&R, jobs, n);
	for (unsigned i = 0; i < n; i++)
		kt_job_free(k, &jobs[i]);
	free(jobs);
	return rc;
}
