/*
 * The Kubernetes API client, open and close: a kubeconfig (kubeconfig.c)
 * or the in-cluster service account becomes a struct kt_kube: the server
 * URL (user:password@ removed: never stored, logged or sent), the request
 * base for tls-server-name, TLS material and credentials (kube_auth.c),
 * one curl multi handle. Requests live in kube_http.c and kube_list.c.
 *
 * Owns the struct kt_kube, its arena and curl handles. Never prints (only
 * kt_log / kt_warn), never logs a credential.
 */
#include "collectors/kube/curl_dl.h" /* first: libcurl is dlopen()ed on first use */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kube/kube_int.h"
#include "ktrace/xalloc.h"

#if defined(__x86_64__)
#define KT_ARCH "amd64"
#elif defined(__aarch64__)
#define KT_ARCH "arm64"
#elif defined(__i386__)
#define KT_ARCH "386"
#else
#define KT_ARCH "unknown"
#endif

/* A URL for messages: anything between "://" and '@' is not shown. */
static const char *redacted_url(struct kt_arena *a, const char *url)
{
	const char *p = strstr(url, "://");
	const char *host = p ? p + 3 : url;
	const char *end = host + strcspn(host, "/?#");
	const char *at = memchr(host, '@', (size_t)(end - host));
	if (!at)
		return url;
	return kt_arena_printf(a, "%.*s***@%s", (int)(host - url), url, at + 1);
}

/* A value that goes into a request (URL, Host header, proxy): no control
 * bytes or spaces. */
static bool url_clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int bad_field(struct kt_kube *k, const char *field, struct kt_diag *d)
{
	const struct kt_kc_cluster *cl = k->rc.cluster;
	kt_diag_set(d, KT_EXIT_INPUT, "%s: cluster '%s': '%s' holds a control character or space",
		    cl->file ? cl->file : "kubeconfig", cl->name ? cl->name : "", field);
	kt_diag_hint(d, "fix the kubeconfig entry (the value is not shown)");
	return -KT_EXIT_INPUT;
}

/* Remove user:password@ from the server URL (curl would send it as Basic
 * auth), warning once. */
static int strip_userinfo(struct kt_kube *k, CURLU *u)
{
	static bool warned;
	char *user = NULL, *pass = NULL, *clean = NULL;
	bool had = curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK;
	had |= curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK;
	curl_free(user);
	curl_free(pass);
	if (!had)
		return 0;
	if (!warned) {
		const struct kt_kc_cluster *cl = k->rc.cluster;
		kt_warn("cluster '%s': the server URL holds credentials (user:password@); ktrace ignores them "
			"(use the user's token or client certificate)",
			cl->name ? cl->name : "");
		warned = true;
	}
	curl_url_set(u, CURLUPART_USER, NULL, 0);
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &clean, 0) != CURLUE_OK)
		return -1;
	size_t n = strlen(clean);
	while (n && clean[n - 1] == '/')
		n--;
	k->server = kt_arena_strndup(k->a, clean, n);
	curl_free(clean);
	return 0;
}

static int setup_server(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_cluster *cl = k->rc.cluster;
	const char *owner = cl->file ? cl->file : "kubeconfig";
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	const char *srv = cl->server;
	size_t n;
	int rc = 0;

	n = strlen(srv);
	while (n && srv[n - 1] == '/')
		n--;
	k->server = kt_arena_strndup(k->a, srv, n);
	if (!url_clean(k->server))
		return bad_field(k, "server", d);
	if ((cl->tls_server_name && !url_clean(cl->tls_server_name)))
		return bad_field(k, "tls-server-name", d);
	if (cl->proxy_url && !url_clean(cl->proxy_url))
		return bad_field(k, "proxy-url", d);
	if (!u || curl_url_set(u, CURLUPART_URL, k->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "%s: cluster '%s': invalid server URL '%s'", owner, cl->name,
				 redacted_url(k->a, cl->server));
		goto out;
	}
	if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "%s: cluster '%s': server URL scheme must be https or http", owner,
				 cl->name);
		goto out;
	}
	if (strip_userinfo(k, u) < 0) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "%s: cluster '%s': invalid server URL", owner, cl->name);
		goto out;
	}
	k->https = !strcmp(scheme, "https");
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	k->base = k->server;
	if (cl->tls_server_name && *cl->tls_server_name && k->https) {
		size_t pl = path ? strlen(path) : 0;

		while (pl && path[pl - 1] == '/')
			pl--;
		k->base = kt_arena_printf(k->a, "https://%s:%s%.*s", cl->tls_server_name, port, (int)pl,
					  path ? path : "");
		k->connect_to = kt_arena_printf(k->a, "%s:%s:%s:%s", cl->tls_server_name, port, host, port);
		k->host_hdr = kt_arena_printf(k->a, "Host: %s:%s", host, port);
		k->connect_to_list = curl_slist_append(NULL, k->connect_to);
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

/* Pick the connection: the kubeconfig context, or in-cluster. */
static int resolve(struct kt_kube *k, const struct kt_kube_opts *o, struct kt_diag *d)
{
	struct kt_kubeconfig kc;
	bool found = false, use_kc;
	int rc = kt_kubeconfig_load(k->a, o ? o->kubeconfig : NULL, &kc, &found, d);

	if (rc < 0)
		return rc;
	use_kc = found && (kc.n_contexts || kc.current_context || (o && o->context) || (o && o->kubeconfig));
	if (!use_kc && kt_kubeconfig_in_cluster(k->a, &k->rc) == 1) {
		if (o && o->context && *o->context)
			return kt_diag_set(d, KT_EXIT_CLUSTER, "context '%s' not found: no kubeconfig, running in-cluster",
					   o->context);
		return 0;
	}
	if (!found) {
		kt_diag_set(d, KT_EXIT_CLUSTER,
			    "no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not running in a cluster");
		kt_diag_hint(d, "pass --kubeconfig FILE, or analyse a bundle with --from FILE (--from demo for the demo)");
		return -KT_EXIT_CLUSTER;
	}
	return kt_kubeconfig_resolve(k->a, &kc, o ? o->context : NULL, &k->rc, d);
}

/* --as / --as-group override the kubeconfig's impersonation, field by
 * field, as kubectl does. */
static int impersonate(struct kt_kube *k, const struct kt_kube_opts *o, struct kt_diag *d)
{
	if (!o || (!o->as_user && !o->n_as_groups))
		return 0;
	struct kt_kc_user *u = KT_ANEW(k->a, struct kt_kc_user, 1);
	if (k->rc.user)
		*u = *k->rc.user;
	if (o->as_user)
		u->as = kt_arena_strdup(k->a, o->as_user);
	if (o->n_as_groups) {
		u->as_groups = KT_ANEW(k->a, const char *, o->n_as_groups);
		for (unsigned g = 0; g < o->n_as_groups; g++)
			u->as_groups[g] = kt_arena_strdup(k->a, o->as_groups[g]);
		u->n_as_groups = o->n_as_groups;
	}
	if (!u->as) {
		kt_diag_set(d, KT_EXIT_USAGE, "--as-group needs a user to impersonate");
		kt_diag_hint(d, "add --as USER (impersonating groups without a user is not allowed)");
		return -KT_EXIT_USAGE;
	}
	k->rc.user = u;
	return 0;
}

int kt_kube_open(const struct kt_kube_opts *o, struct kt_kube **out, struct kt_diag *d)
{
	static bool curl_ready;
	struct kt_kube *k;
	int rc;

	*out = NULL;
	if (!curl_ready) {
		const char *why = NULL;
		if (!kt_curl_load(&why)) {
			kt_diag_set(d, KT_EXIT_CLUSTER, "cannot load libcurl: %s", why);
			kt_diag_hint(d, "install libcurl (Debian: apt-get install libcurl4)");
			return -KT_EXIT_CLUSTER;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot initialise libcurl");
		curl_ready = true;
	}
	k = kt_xcalloc(1, sizeof(*k));
	k->a = kt_arena_new();
	k->timeout_s = o && o->timeout_s > 0 ? o->timeout_s : 30;
	if (o) {
		k->progress = o->progress;
		k->progress_ctx = o->progress_ctx;
	}
	k->max_body = (size_t)(o && o->max_body_mb > 0 ? o->max_body_mb : 256) << 20;
	snprintf(k->ua, sizeof(k->ua), "User-Agent: ktrace/%s (linux/%s)", KT_VERSION, KT_ARCH);
	if ((rc = resolve(k, o, d)) < 0 || (rc = impersonate(k, o, d)) < 0 || (rc = setup_server(k, d)) < 0 || (rc = kt_auth_setup(k, d)) < 0)
		goto fail;
	k->multi = curl_multi_init();
	if (!k->multi) {
		rc = kt_diag_set(d, KT_EXIT_CLUSTER, "cannot initialise libcurl");
		goto fail;
	}
	curl_multi_setopt(k->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	curl_multi_setopt(k->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 8L);
	kt_log(1, "kube: server %s, context %s, namespace %s", k->server,
	       k->rc.context ? k->rc.context : "(in-cluster)", k->rc.ns);
	*out = k;
	return 0;
fail:
	kt_kube_close(k);
	return rc < 0 ? rc : -KT_EXIT_CLUSTER;
}

void kt_kube_close(struct kt_kube *k)
{
	unsigned i;

	if (!k)
		return;
	for (i = 0; i < k->n_spare; i++)
		curl_easy_cleanup(k->spare[i]);
	if (k->multi)
		curl_multi_cleanup(k->multi);
	curl_slist_free_all(k->connect_to_list);
	kt_auth_free(k);
	for (i = 0; i < k->n_warnings; i++)
		free(k->warnings[i]);
	kt_arena_free(k->a);
	free(k);
}

const char *kt_kube_namespace(const struct kt_kube *k)
{
	return k && k->rc.ns ? k->rc.ns : "default";
}

const char *kt_kube_config_namespace(const struct kt_kube_opts *o, struct kt_arena *a)
{
	struct kt_kubeconfig kc;
	struct kt_kc_resolved r;
	struct kt_diag d;
	bool found = false;

	memset(&d, 0, sizeof(d));
	if (kt_kubeconfig_load(a, o ? o->kubeconfig : NULL, &kc, &found, &d) < 0 || !found ||
	    kt_kubeconfig_resolve(a, &kc, o ? o->context : NULL, &r, &d) < 0) {
		if (d.code)
			kt_log(1, "kubeconfig not used for the default namespace: %s", d.msg);
		return "default";
	}
	return r.ns && *r.ns ? r.ns : "default";
}

const char *kt_kube_context(const struct kt_kube *k)
{
	return k ? k->rc.context : NULL;
}

const char *kt_kube_server(const struct kt_kube *k)
{
	return k ? k->server : NULL;
}

int kt_kube_contexts(const struct kt_kube_opts *o, struct kt_arena *a, const char ***names, unsigned *n,
		     struct kt_diag *d)
{
	struct kt_kubeconfig kc;
	bool found;
	unsigned i;
	int rc;

	*names = NULL;
	*n = 0;
	rc = kt_kubeconfig_load(a, o ? o->kubeconfig : NULL, &kc, &found, d);
	if (rc < 0)
		return rc;
	*names = KT_ANEW(a, const char *, kc.n_contexts + 1);
	for (i = 0; i < kc.n_contexts; i++)
		(*names)[i] = kc.contexts[i].name;
	*n = kc.n_contexts;
	return 0;
}
