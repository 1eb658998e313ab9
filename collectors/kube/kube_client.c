/*
 * The Kubernetes API client: turns a kubeconfig (collectors/kubeconfig.c)
 * into libcurl settings for every auth mode kubectl supports for reading
 * (client certificates from files or data, bearer token / tokenFile, exec
 * credential plugins v1 and v1beta1, basic auth, impersonation, CA pinning,
 * insecure-skip-tls-verify, tls-server-name, proxy-url), and runs paged
 * list / get requests concurrently on one curl multi handle (keep-alive,
 * gzip, limit/continue, 410 restart, 429/5xx Retry-After). Every page is
 * parsed with cJSON, each item is sanitised, appended to the bundle when
 * one is being written, ingested into the snapshot, and the tree is freed
 * at once, so memory stays bounded by one page per request.
 *
 * Owns: the curl handles, the credential cache (token, exec plugin output)
 * and the arena of struct kt_kube. Never prints (only kt_log / kt_warn),
 * never logs a credential, never sends credentials to an http:// server.
 */
#include "collectors/kube/curl_dl.h" /* first: it includes <curl/curl.h> */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collectors/kube/k8s_obj.h"
#include "collectors/kube/kubeconfig.h"
#include "ktrace/arena.h"
#include "ktrace/bundle.h"
#include "ktrace/kube.h"

#define KT_PAGE_LIMIT 500
#define KT_MAX_RETRIES 10        /* 429 / 5xx with Retry-After */
#define KT_MAX_RETRY_SLEEP 10    /* s, per retry */
#define KT_MAX_RESTARTS 3        /* 410 Expired list restarts */
#define KT_EXEC_MAX_OUT (1u << 20)
#define KT_MAX_TLS_FILE (4u << 20)
#define KT_MAX_WARNINGS 32

#if defined(__x86_64__)
#define KT_ARCH "amd64"
#elif defined(__aarch64__)
#define KT_ARCH "arm64"
#elif defined(__i386__)
#define KT_ARCH "386"
#else
#define KT_ARCH "unknown"
#endif

struct kt_res_info {
	const char *plural;
	const char *prefix;      /* "/api/v1", "/apis/apps/v1" */
	const char *group;       /* "" for core */
	const char *kind;
	bool namespaced;
	bool crd;                /* served only when its CRDs are installed: a 404 is no gap */
};

static const struct kt_res_info res_tab[KT_RES_COUNT] = {
	[KT_RES_SERVICES] = { "services", "/api/v1", "", "Service", true, false },
	[KT_RES_ENDPOINTSLICES] = { "endpointslices", "/apis/discovery.k8s.io/v1", "discovery.k8s.io", "EndpointSlice", true, false },
	[KT_RES_PODS] = { "pods", "/api/v1", "", "Pod", true, false },
	[KT_RES_NODES] = { "nodes", "/api/v1", "", "Node", false, false },
	[KT_RES_DEPLOYMENTS] = { "deployments", "/apis/apps/v1", "apps", "Deployment", true, false },
	[KT_RES_STATEFULSETS] = { "statefulsets", "/apis/apps/v1", "apps", "StatefulSet", true, false },
	[KT_RES_DAEMONSETS] = { "daemonsets", "/apis/apps/v1", "apps", "DaemonSet", true, false },
	[KT_RES_REPLICASETS] = { "replicasets", "/apis/apps/v1", "apps", "ReplicaSet", true, false },
	[KT_RES_HPAS] = { "horizontalpodautoscalers", "/apis/autoscaling/v2", "autoscaling", "HorizontalPodAutoscaler", true, false },
	[KT_RES_PDBS] = { "poddisruptionbudgets", "/apis/policy/v1", "policy", "PodDisruptionBudget", true, false },
	[KT_RES_INGRESSES] = { "ingresses", "/apis/networking.k8s.io/v1", "networking.k8s.io", "Ingress", true, false },
	[KT_RES_INGRESSCLASSES] = { "ingressclasses", "/apis/networking.k8s.io/v1", "networking.k8s.io", "IngressClass", false, false },
	[KT_RES_CONFIGMAPS] = { "configmaps", "/api/v1", "", "ConfigMap", true, false },
	[KT_RES_GATEWAYCLASSES] = { "gatewayclasses", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "GatewayClass", false, true },
	[KT_RES_GATEWAYS] = { "gateways", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "Gateway", true, true },
	[KT_RES_HTTPROUTES] = { "httproutes", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "HTTPRoute", true, true },
	[KT_RES_GRPCROUTES] = { "grpcroutes", "/apis/gateway.networking.k8s.io/v1", "gateway.networking.k8s.io", "GRPCRoute", true, true },
	[KT_RES_NAMESPACES] = { "namespaces", "/api/v1", "", "Namespace", false, false },
};

const char *kt_res_name(enum kt_res r)
{
	return (unsigned)r < KT_RES_COUNT ? res_tab[r].plural : "unknown";
}

struct kt_kube {
	struct kt_arena *a;
	struct kt_kc_resolved rc;
	const char *server;      /* as configured, no trailing slash */
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
	unsigned cred_gen;       /* bumped whenever credentials change */
	CURLM *multi;
	char ua[96];
	long timeout_s;
	size_t max_body;         /* bytes */
	char *warnings[KT_MAX_WARNINGS];
	unsigned n_warnings;
	void (*progress)(void *ctx, unsigned long objects);
	void *progress_ctx;
	unsigned long n_objects;      /* objects read by this client */
	long long progress_at;        /* ms of the last progress call */
};

/* ---------- small helpers ---------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_small_file(const char *path, char **out, size_t *len, size_t cap)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n = 0, sz = 4096;

	if (!f)
		return -errno;
	buf = malloc(sz);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	for (;;) {
		size_t r;

		if (n + 1 >= sz) {
			char *nb;

			if (sz >= cap) {
				free(buf);
				fclose(f);
				return -EFBIG;
			}
			sz *= 2;
			nb = realloc(buf, sz);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, sz - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

/* Load a PEM/token file into the arena (kubeconfig-referenced files). */
static int load_file_blob(struct kt_kube *k, const char *path, const char *what, const char *owner,
			  struct kt_kc_blob *out, struct kt_diag *d)
{
	char *buf;
	size_t len;
	int rc = read_small_file(path, &buf, &len, KT_MAX_TLS_FILE);

	if (rc < 0) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: cannot read %s %s: %s", owner, what, path, strerror(-rc));
		kt_diag_hint(d, "relative paths resolve against the kubeconfig file's directory");
		return -KT_EXIT_INPUT;
	}
	out->data = kt_arena_strndup(k->a, buf, len);
	out->len = len;
	free(buf);
	return 0;
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* (Re-)read tokenFile. Keeps the last good value on failure. */
static int reload_token_file(struct kt_kube *k, bool force, struct kt_diag *d)
{
	const struct kt_kc_user *u = k->rc.user;
	char *buf;
	int rc;

	if (!u->token_file || !k->https)
		return 0;
	if (!force && k->token && time(NULL) - k->token_read_at < 60)
		return 0;
	rc = read_small_file(u->token_file, &buf, NULL, 1u << 20);
	if (rc < 0) {
		if (k->token)
			return 0;
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot read token file %s: %s", u->token_file, strerror(-rc));
		kt_diag_hint(d, "check 'tokenFile' of user '%s' in %s", u->name ? u->name : "",
			     u->file ? u->file : "the kubeconfig");
		return -KT_EXIT_CLUSTER;
	}
	trim(buf);
	if (!k->token || strcmp(k->token, buf))
		k->cred_gen++;
	free(k->token);
	k->token = buf;
	k->token_read_at = time(NULL);
	return 0;
}

/* Server-controlled text goes to a terminal: no control characters. */
static void scrub(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static time_t parse_rfc3339(const char *s)
{
	struct tm tm;
	int y, mo, da, h, mi, se;
	const char *p;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &y, &mo, &da, &h, &mi, &se) != 6)
		return (time_t)-1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = da;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	p = s + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		int oh = 0, om = 0;

		if (sscanf(p + 1, "%d:%d", &oh, &om) >= 1)
			t += (*p == '+' ? -1 : 1) * (oh * 3600 + om * 60);
	}
	return t;
}

/* ---------- exec credential plugins ---------- */

static char *exec_info_json(struct kt_kube *k)
{
	const struct kt_kc_exec *e = k->rc.user->exec;
	cJSON *o = cJSON_CreateObject(), *spec;
	char *txt;

	cJSON_AddStringToObject(o, "kind", "ExecCredential");
	cJSON_AddStringToObject(o, "apiVersion", e->api_version);
	spec = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddBoolToObject(spec, "interactive", false);
	if (e->provide_cluster_info) {
		const struct kt_kc_cluster *cl = k->rc.cluster;
		cJSON *c = cJSON_AddObjectToObject(spec, "cluster");

		cJSON_AddStringToObject(c, "server", cl->server);
		if (cl->tls_server_name)
			cJSON_AddStringToObject(c, "tls-server-name", cl->tls_server_name);
		if (cl->insecure)
			cJSON_AddBoolToObject(c, "insecure-skip-tls-verify", true);
		if (k->ca.data) {
			/* base64 of the PEM, as client-go sends it */
			static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
			size_t n = k->ca.len, i, o2 = 0;
			char *b = malloc(n / 3 * 4 + 5);

			if (b) {
				const unsigned char *s = (const unsigned char *)k->ca.data;

				for (i = 0; i + 2 < n; i += 3) {
					b[o2++] = tab[s[i] >> 2];
					b[o2++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
					b[o2++] = tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
					b[o2++] = tab[s[i + 2] & 63];
				}
				if (n - i == 1) {
					b[o2++] = tab[s[i] >> 2];
					b[o2++] = tab[(s[i] & 3) << 4];
					b[o2++] = '=';
					b[o2++] = '=';
				} else if (n - i == 2) {
					b[o2++] = tab[s[i] >> 2];
					b[o2++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
					b[o2++] = tab[(s[i + 1] & 15) << 2];
					b[o2++] = '=';
				}
				b[o2] = '\0';
				cJSON_AddStringToObject(c, "certificate-authority-data", b);
				free(b);
			}
		}
		if (cl->proxy_url)
			cJSON_AddStringToObject(c, "proxy-url", cl->proxy_url);
		if (cl->disable_compression)
			cJSON_AddBoolToObject(c, "disable-compression", true);
		if (cl->exec_config) {
			cJSON *cfg = cJSON_Parse(cl->exec_config);

			cJSON_AddItemToObject(c, "config", cfg ? cfg : cJSON_CreateObject());
		}
	}
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

static void free_env(char **envp)
{
	char **p;

	for (p = envp; p && *p; p++)
		free(*p);
	free(envp);
}

/* The plugin's environment: ours, plus env[] and KUBERNETES_EXEC_INFO
 * (later entries replace earlier ones of the same name). */
static char **exec_env(const struct kt_kc_exec *e, const char *info)
{
	extern char **environ;
	size_t n = 0, o = 0, i, j;
	char **envp;

	while (environ[n])
		n++;
	envp = calloc(n + e->n_env + 2, sizeof(*envp));
	if (!envp || !info) {
		free(envp);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		size_t kl = strcspn(environ[i], "=");
		bool replaced = kl == 20 && !strncmp(environ[i], "KUBERNETES_EXEC_INFO", 20);

		for (j = 0; j < e->n_env && !replaced; j++)
			replaced = strlen(e->env[j].name) == kl && !strncmp(environ[i], e->env[j].name, kl);
		if (!replaced && !(envp[o++] = strdup(environ[i])))
			goto oom;
	}
	for (j = 0; j < e->n_env; j++) {
		size_t l = strlen(e->env[j].name) + strlen(e->env[j].value) + 2;

		if (!(envp[o] = malloc(l)))
			goto oom;
		snprintf(envp[o++], l, "%s=%s", e->env[j].name, e->env[j].value);
	}
	{
		size_t l = strlen(info) + 32;

		if (!(envp[o] = malloc(l)))
			goto oom;
		snprintf(envp[o++], l, "KUBERNETES_EXEC_INFO=%s", info);
	}
	return envp;
oom:
	free_env(envp);
	return NULL;
}

static int run_exec_plugin(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_exec *e = k->rc.user->exec;
	int pfd[2], status = 0, rc = -KT_EXIT_CLUSTER;
	pid_t pid;
	char *info, *out = NULL, **envp;
	const char **argv;
	unsigned i;
	size_t n = 0, cap = 0;
	long long deadline;
	cJSON *j = NULL, *st, *v;
	const char *av, *tok, *crt, *key;
	bool overflow = false;

	if (!e->api_version || (strcmp(e->api_version, "client.authentication.k8s.io/v1") &&
				strcmp(e->api_version, "client.authentication.k8s.io/v1beta1"))) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': exec plugin apiVersion '%s' is not supported",
			    k->rc.user->file ? k->rc.user->file : "kubeconfig", k->rc.user->name,
			    e->api_version ? e->api_version : "");
		kt_diag_hint(d, "use client.authentication.k8s.io/v1 or v1beta1");
		return -KT_EXIT_INPUT;
	}
	if (!strcmp(e->api_version, "client.authentication.k8s.io/v1") && !e->interactive_mode) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': exec plugin v1 needs 'interactiveMode'",
			    k->rc.user->file ? k->rc.user->file : "kubeconfig", k->rc.user->name);
		return -KT_EXIT_INPUT;
	}
	info = exec_info_json(k);
	envp = exec_env(e, info);
	argv = calloc(e->n_args + 2, sizeof(*argv));
	if (!info || !envp || !argv || pipe2(pfd, O_CLOEXEC) < 0) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot run exec plugin '%s': %s", e->command, strerror(errno ? errno : ENOMEM));
		free(info);
		free_env(envp);
		free(argv);
		return -KT_EXIT_CLUSTER;
	}
	argv[0] = e->command;
	for (i = 0; i < e->n_args; i++)
		argv[i + 1] = e->args[i];
	fflush(NULL);
	/* everything the child needs is built before fork: only
	 * async-signal-safe calls between fork and exec */
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		free(info);
		free_env(envp);
		free(argv);
		return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot run exec plugin '%s': %s", e->command, strerror(errno));
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (nul >= 0)
			dup2(nul, 0);
		dup2(pfd[1], 1);
		signal(SIGPIPE, SIG_DFL);
		execvpe(e->command, (char *const *)argv, envp);
		_exit(errno == ENOENT ? 127 : 126);
	}
	free_env(envp);
	free(argv);
	close(pfd[1]);
	free(info);
	deadline = now_ms() + (k->timeout_s > 0 ? k->timeout_s : 30) * 1000LL * 2;
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t r;

		if (left <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n + 4096 + 1 > cap) {
			char *nb;

			if (cap >= KT_EXEC_MAX_OUT) {
				overflow = true;
				kill(pid, SIGKILL);
				break;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(out, cap);
			if (!nb)
				break;
			out = nb;
		}
		r = read(pfd[0], out + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (out)
		out[n] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' not found", e->command);
		if (e->install_hint)
			kt_diag_hint(d, "%.900s", e->install_hint);
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || overflow) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' failed (%s %d)", e->command,
			    WIFEXITED(status) ? "exit status" : "signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		kt_diag_hint(d, "run the plugin by hand to see its error; its stderr is shown above");
		goto out;
	}
	j = out ? cJSON_ParseWithLength(out, n) : NULL;
	if (!cJSON_IsObject(j)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' printed no ExecCredential JSON", e->command);
		goto out;
	}
	av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "apiVersion"));
	if (!av || strcmp(av, e->api_version)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned apiVersion '%s', want '%s'",
			    e->command, av ? av : "", e->api_version);
		goto out;
	}
	st = cJSON_GetObjectItemCaseSensitive(j, "status");
	if (!cJSON_IsObject(st)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned no status", e->command);
		goto out;
	}
	tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "token"));
	crt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "clientCertificateData"));
	key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "clientKeyData"));
	if ((crt && *crt) != (key && *key)) {
		kt_diag_set(d, KT_EXIT_CLUSTER,
			    "exec credential plugin '%s' returned a client certificate without a key (or the reverse)",
			    e->command);
		goto out;
	}
	if (!(tok && *tok) && !(crt && *crt)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned neither a token nor a certificate",
			    e->command);
		goto out;
	}
	free(k->exec_token);
	free(k->exec_cert);
	free(k->exec_key);
	k->exec_token = tok && *tok ? strdup(tok) : NULL;
	k->exec_cert = crt && *crt ? strdup(crt) : NULL;
	k->exec_key = key && *key ? strdup(key) : NULL;
	k->exec_cert_len = k->exec_cert ? strlen(k->exec_cert) : 0;
	k->exec_key_len = k->exec_key ? strlen(k->exec_key) : 0;
	k->exec_expiry = 0;
	v = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
	if (cJSON_IsString(v) && v->valuestring[0]) {
		time_t t = parse_rfc3339(v->valuestring);

		if (t == (time_t)-1) {
			kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned a bad expirationTimestamp",
				    e->command);
			goto out;
		}
		k->exec_expiry = t;
	}
	k->exec_done = true;
	k->cred_gen++;
	kt_log(2, "exec credential plugin %s: ok", e->command);
	rc = 0;
out:
	cJSON_Delete(j);
	if (out) {
		memset(out, 0, n);
		free(out);
	}
	return rc;
}

/* Make sure credentials are fresh before a request. */
static int ensure_creds(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_user *u = k->rc.user;

	if (!k->https)
		return 0;
	if (u->token_file && reload_token_file(k, false, d) < 0)
		return -KT_EXIT_CLUSTER;
	if (u->exec && !k->token) {
		if (!k->exec_done || (k->exec_expiry && time(NULL) >= k->exec_expiry))
			return run_exec_plugin(k, d);
	}
	return 0;
}

/* After a 401: re-read tokenFile / re-run the plugin. Returns 1 when a
 * retry makes sense. */
static int refresh_creds(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_user *u = k->rc.user;

	if (!k->https)
		return 0;
	if (u->token_file) {
		char *old = k->token ? strdup(k->token) : NULL;
		int changed;

		if (reload_token_file(k, true, d) < 0) {
			free(old);
			return -KT_EXIT_CLUSTER;
		}
		changed = !old || !k->token || strcmp(old, k->token);
		free(old);
		return changed;
	}
	if (u->exec && !k->token) {
		if (run_exec_plugin(k, d) < 0)
			return -KT_EXIT_CLUSTER;
		return 1;
	}
	return 0;
}

/* ---------- open / close ---------- */

static int setup_server(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_cluster *cl = k->rc.cluster;
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	const char *srv = cl->server;
	size_t n;
	int rc = 0;

	n = strlen(srv);
	while (n && srv[n - 1] == '/')
		n--;
	k->server = kt_arena_strndup(k->a, srv, n);
	if (!u || curl_url_set(u, CURLUPART_URL, k->server, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "%s: cluster '%s': invalid server URL '%s'",
				 cl->file ? cl->file : "kubeconfig", cl->name, cl->server);
		goto out;
	}
	if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
		rc = kt_diag_set(d, KT_EXIT_INPUT, "%s: cluster '%s': server URL scheme must be https or http",
				 cl->file ? cl->file : "kubeconfig", cl->name);
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

static int setup_tls_and_auth(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_cluster *cl = k->rc.cluster;
	const struct kt_kc_user *u = k->rc.user;
	const char *owner = u->file ? u->file : "kubeconfig";
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);

	if (cl->ca_data.data) {
		k->ca = cl->ca_data;
	} else if (cl->ca_file) {
		if (load_file_blob(k, cl->ca_file, "certificate-authority", cl->file ? cl->file : "kubeconfig",
				   &k->ca, d) < 0)
			return -KT_EXIT_INPUT;
	}
	if (!k->https)
		return 0;    /* no credentials for http:// servers */
	if (u->cert_data.data)
		k->cert = u->cert_data;
	else if (u->cert_file && load_file_blob(k, u->cert_file, "client-certificate", owner, &k->cert, d) < 0)
		return -KT_EXIT_INPUT;
	if (u->key_data.data)
		k->key = u->key_data;
	else if (u->key_file && load_file_blob(k, u->key_file, "client-key", owner, &k->key, d) < 0)
		return -KT_EXIT_INPUT;
	if ((k->ca.data || k->cert.data || u->exec) &&
	    (!vi || !vi->ssl_version || strncmp(vi->ssl_version, "OpenSSL", 7))) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "libcurl uses %s, which cannot take certificates from memory",
			    vi && vi->ssl_version ? vi->ssl_version : "no TLS library");
		kt_diag_hint(d, "build ktrace against libcurl4-openssl-dev");
		return -KT_EXIT_CLUSTER;
	}
	if (u->token && *u->token)
		k->token = strdup(u->token);
	if (u->token_file && reload_token_file(k, true, d) < 0)
		return -KT_EXIT_CLUSTER;
	if (u->auth_provider) {
		if (!strcmp(u->auth_provider, "oidc") && u->oidc_id_token && !k->token) {
			k->token = strdup(u->oidc_id_token);
		} else if (strcmp(u->auth_provider, "oidc")) {
			kt_diag_set(d, KT_EXIT_CLUSTER, "user '%s': the '%s' auth-provider is no longer supported",
				    u->name ? u->name : "", u->auth_provider);
			if (!strcmp(u->auth_provider, "gcp"))
				kt_diag_hint(d, "install gke-gcloud-auth-plugin and re-run 'gcloud container clusters get-credentials'");
			else if (!strcmp(u->auth_provider, "azure"))
				kt_diag_hint(d, "install kubelogin and run 'kubelogin convert-kubeconfig'");
			return -KT_EXIT_CLUSTER;
		}
	}
	return 0;
}

int kt_kube_open(const struct kt_kube_opts *o, struct kt_kube **out, struct kt_diag *d)
{
	static bool curl_ready;
	struct kt_kube *k;
	struct kt_kubeconfig kc;
	bool found = false, use_kc = false;
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
	k = calloc(1, sizeof(*k));
	if (!k)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "out of memory");
	k->a = kt_arena_new();
	k->timeout_s = o && o->timeout_s > 0 ? o->timeout_s : 30;
	if (o) {
		k->progress = o->progress;
		k->progress_ctx = o->progress_ctx;
	}
	k->max_body = (size_t)(o && o->max_body_mb > 0 ? o->max_body_mb : 256) << 20;
	snprintf(k->ua, sizeof(k->ua), "User-Agent: ktrace/%s (linux/%s)", KT_VERSION, KT_ARCH);
	rc = kt_kubeconfig_load(k->a, o ? o->kubeconfig : NULL, &kc, &found, d);
	if (rc < 0)
		goto fail;
	use_kc = found && (kc.n_contexts || kc.current_context || (o && o->context) || (o && o->kubeconfig));
	if (!use_kc && kt_kubeconfig_in_cluster(k->a, &k->rc) == 1) {
		if (o && o->context && *o->context) {
			rc = kt_diag_set(d, KT_EXIT_CLUSTER, "context '%s' not found: no kubeconfig, running in-cluster",
					 o->context);
			goto fail;
		}
	} else if (!found) {
		rc = kt_diag_set(d, KT_EXIT_CLUSTER,
				 "no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not running in a cluster");
		kt_diag_hint(d, "pass --kubeconfig FILE, or analyse a bundle with --from FILE (--from demo for the demo)");
		goto fail;
	} else if ((rc = kt_kubeconfig_resolve(k->a, &kc, o ? o->context : NULL, &k->rc, d)) < 0) {
		goto fail;
	}
	if ((rc = setup_server(k, d)) < 0 || (rc = setup_tls_and_auth(k, d)) < 0)
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
	if (k->multi)
		curl_multi_cleanup(k->multi);
	curl_slist_free_all(k->connect_to_list);
	if (k->token) {
		memset(k->token, 0, strlen(k->token));
		free(k->token);
	}
	free(k->exec_token);
	free(k->exec_cert);
	if (k->exec_key) {
		memset(k->exec_key, 0, k->exec_key_len);
		free(k->exec_key);
	}
	for (i = 0; i < k->n_warnings; i++)
		free(k->warnings[i]);
	kt_arena_free(k->a);
	free(k);
}

const char *kt_kube_namespace(const struct kt_kube *k)
{
	return k && k->rc.ns ? k->rc.ns : "default";
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

/* ---------- requests ---------- */

enum job_sink { SINK_INGEST, SINK_NAMES, SINK_VERSION };

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
	bool too_big, active, done;
	int retries, restarts, auth_retries;
	unsigned cred_gen;       /* k->cred_gen when the request was set up */
	long long due_ms, start_ms;
	long retry_after;        /* s, from the last response */
	char errbuf[CURL_ERROR_SIZE];
	/* names and version sinks */
	const char *version;
	struct kt_arena *na;
	const char **names;
	unsigned n_names, cap_names;
};

struct run {
	struct kt_kube *k;
	struct kt_snapshot *snap;
	struct kt_bundle_writer *bw;
	struct kt_diag *d;
	int err;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
	struct job *j = ud;
	size_t n = sz * nm;

	if (j->len + n + 1 > j->k->max_body) {
		j->too_big = true;
		return 0;
	}
	if (j->len + n + 1 > j->cap) {
		size_t nc = j->cap ? j->cap : 65536;
		char *nb;

		while (nc < j->len + n + 1)
			nc *= 2;
		nb = realloc(j->body, nc);
		if (!nb)
			return 0;
		j->body = nb;
		j->cap = nc;
	}
	memcpy(j->body + j->len, p, n);
	j->len += n;
	return n;
}

/* Print API "Warning:" headers (299 - "text") once each. */
static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
	struct job *j = ud;
	struct kt_kube *k = j->k;
	size_t n = sz * nm;
	char line[1024], *t, *q;
	unsigned i;

	if (n < 9 || strncasecmp(p, "Warning:", 8))
		return n;
	snprintf(line, sizeof(line), "%.*s", (int)(n - 8 < sizeof(line) - 1 ? n - 8 : sizeof(line) - 1), p + 8);
	trim(line);
	t = line;
	while (*t == ' ')
		t++;
	/* 299 - "message" */
	q = strchr(t, '"');
	if (q) {
		char *e = strrchr(q + 1, '"');

		t = q + 1;
		if (e)
			*e = '\0';
	}
	scrub(t);
	for (i = 0; i < k->n_warnings; i++)
		if (!strcmp(k->warnings[i], t))
			return n;
	if (k->n_warnings < KT_MAX_WARNINGS)
		k->warnings[k->n_warnings++] = strdup(t);
	kt_warn("%s", t);
	return n;
}

static void build_url(struct job *j)
{
	struct kt_kube *k = j->k;
	const struct kt_list_req *r = j->req;
	const struct kt_res_info *ri = &res_tab[r->res];
	CURL *h = j->h;
	char *ns = NULL, *nm = NULL, *ls = NULL, *fs = NULL, *ct = NULL;
	size_t bl = strlen(k->base);
	int len;
	char *u;

	if (j->sink == SINK_VERSION) {
		free(j->url);
		j->url = malloc(bl + 16);
		if (j->url)
			snprintf(j->url, bl + 16, "%s/version", k->base);
		j->path = j->url ? j->url + bl : "";
		return;
	}
	if (r->ns && ri->namespaced)
		ns = curl_easy_escape(h, r->ns, 0);
	if (r->name)
		nm = curl_easy_escape(h, r->name, 0);
	if (r->label_selector && *r->label_selector)
		ls = curl_easy_escape(h, r->label_selector, 0);
	if (r->field_selector && *r->field_selector)
		fs = curl_easy_escape(h, r->field_selector, 0);
	if (j->cont)
		ct = curl_easy_escape(h, j->cont, 0);
	len = snprintf(NULL, 0, "%s%s%s%s/%s%s%s", k->base, ri->prefix, ns ? "/namespaces/" : "", ns ? ns : "",
		       ri->plural, nm ? "/" : "", nm ? nm : "");
	len += 256 + (ls ? (int)strlen(ls) : 0) + (fs ? (int)strlen(fs) : 0) + (ct ? (int)strlen(ct) : 0);
	free(j->url);
	u = malloc((size_t)len + 1);
	if (u) {
		int o = snprintf(u, (size_t)len + 1, "%s%s%s%s/%s%s%s", k->base, ri->prefix,
				 ns ? "/namespaces/" : "", ns ? ns : "", ri->plural, nm ? "/" : "", nm ? nm : "");
		char sep = '?';

		if (!nm) {
			o += snprintf(u + o, (size_t)(len + 1 - o), "%climit=%d", sep, KT_PAGE_LIMIT);
			sep = '&';
		}
		if (ls) {
			o += snprintf(u + o, (size_t)(len + 1 - o), "%clabelSelector=%s", sep, ls);
			sep = '&';
		}
		if (fs) {
			o += snprintf(u + o, (size_t)(len + 1 - o), "%cfieldSelector=%s", sep, fs);
			sep = '&';
		}
		if (ct)
			snprintf(u + o, (size_t)(len + 1 - o), "%ccontinue=%s", sep, ct);
	}
	j->url = u;
	j->path = u ? u + bl : "";
	curl_free(ns);
	curl_free(nm);
	curl_free(ls);
	curl_free(fs);
	curl_free(ct);
}

static int job_setup(struct job *j, struct kt_diag *d)
{
	struct kt_kube *k = j->k;
	const struct kt_kc_cluster *cl = k->rc.cluster;
	const struct kt_kc_user *u = k->rc.user;
	CURL *h;
	unsigned i;

	if (ensure_creds(k, d) < 0)
		return -1;
	if (!j->h) {
		j->h = curl_easy_init();
		if (!j->h)
			return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot initialise libcurl");
	}
	h = j->h;
	curl_easy_reset(h);
	j->cred_gen = k->cred_gen;
	build_url(j);
	if (!j->url)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "out of memory");
	j->len = 0;
	j->too_big = false;
	j->errbuf[0] = '\0';
	curl_slist_free_all(j->hdrs);
	j->hdrs = NULL;
	j->hdrs = curl_slist_append(j->hdrs, "Accept: application/json");
	j->hdrs = curl_slist_append(j->hdrs, k->ua);
	if (k->host_hdr)
		j->hdrs = curl_slist_append(j->hdrs, k->host_hdr);
	curl_easy_setopt(h, CURLOPT_URL, j->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, j);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, k->timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, k->timeout_s < 10 ? k->timeout_s : 10L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
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
			struct curl_blob b = { (void *)k->ca.data, k->ca.len, CURL_BLOB_NOCOPY };

			curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
			curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
			curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		}
		if (k->exec_cert || k->cert.data) {
			struct curl_blob c = { k->exec_cert ? (void *)k->exec_cert : (void *)k->cert.data,
					       k->exec_cert ? k->exec_cert_len : k->cert.len, CURL_BLOB_COPY };
			struct curl_blob ky = { k->exec_cert ? (void *)k->exec_key : (void *)k->key.data,
						k->exec_cert ? k->exec_key_len : k->key.len, CURL_BLOB_COPY };

			curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &c);
			curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
			curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &ky);
			curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
		}
		{
			const char *bearer = k->token ? k->token : k->exec_token;

			if (bearer && *bearer) {
				size_t bl = strlen(bearer) + 32;
				char *hv = malloc(bl);

				if (hv) {
					snprintf(hv, bl, "Authorization: Bearer %s", bearer);
					j->hdrs = curl_slist_append(j->hdrs, hv);
					memset(hv, 0, bl);
					free(hv);
				}
			} else if (u->username) {
				curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
				curl_easy_setopt(h, CURLOPT_USERNAME, u->username);
				curl_easy_setopt(h, CURLOPT_PASSWORD, u->password ? u->password : "");
			}
		}
		if (u->as) {
			char buf[1024];

			snprintf(buf, sizeof(buf), "Impersonate-User: %s", u->as);
			j->hdrs = curl_slist_append(j->hdrs, buf);
			if (u->as_uid) {
				snprintf(buf, sizeof(buf), "Impersonate-Uid: %s", u->as_uid);
				j->hdrs = curl_slist_append(j->hdrs, buf);
			}
			for (i = 0; i < u->n_as_groups; i++) {
				snprintf(buf, sizeof(buf), "Impersonate-Group: %s", u->as_groups[i]);
				j->hdrs = curl_slist_append(j->hdrs, buf);
			}
			for (i = 0; i < u->n_as_extra; i++) {
				unsigned v;

				for (v = 0; v < u->as_extra[i].n_values; v++) {
					snprintf(buf, sizeof(buf), "Impersonate-Extra-%s: %s", u->as_extra[i].key,
						 u->as_extra[i].values[v]);
					j->hdrs = curl_slist_append(j->hdrs, buf);
				}
			}
		}
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->hdrs);
	return 0;
}

/* "pods in namespace 'shop'" / "pods in all namespaces" / "nodes" */
static void describe(const struct job *j, const char *verb, char *buf, size_t n)
{
	const struct kt_list_req *r = j->req;
	const struct kt_res_info *ri = &res_tab[r->res];

	if (r->name && r->ns && ri->namespaced)
		snprintf(buf, n, "%s %s '%s' in namespace '%s'", verb, ri->plural, r->name, r->ns);
	else if (r->name)
		snprintf(buf, n, "%s %s '%s'", verb, ri->plural, r->name);
	else if (r->ns && ri->namespaced)
		snprintf(buf, n, "%s %s in namespace '%s'", verb, ri->plural, r->ns);
	else if (ri->namespaced)
		snprintf(buf, n, "%s %s in all namespaces", verb, ri->plural);
	else
		snprintf(buf, n, "%s %s", verb, ri->plural);
}

static void rbac_hint(const struct job *j, struct kt_diag *d)
{
	const struct kt_list_req *r = j->req;
	const struct kt_res_info *ri = &res_tab[r->res];
	const char *verb = r->name ? "get" : "list";
	char res[128];

	snprintf(res, sizeof(res), "%s%s%s", ri->plural, ri->group[0] ? "." : "", ri->group);
	if (r->ns && ri->namespaced)
		kt_diag_hint(d, "needs '%s' on '%s' in '%s' (a Role/RoleBinding, or 'kubectl auth can-i %s %s -n %s')",
			     verb, res, r->ns, verb, res, r->ns);
	else
		kt_diag_hint(d, "needs '%s' on '%s' cluster-wide (a ClusterRole/ClusterRoleBinding, or 'kubectl auth can-i %s %s%s')",
			     verb, res, verb, res, ri->namespaced ? " -A" : "");
}

/* Status message and reason from an error body (may be plain text). */
static void status_text(struct job *j, char *msg, size_t n)
{
	cJSON *s;
	const char *m;

	msg[0] = '\0';
	if (!j->body || !j->len)
		return;
	j->body[j->len] = '\0';
	s = cJSON_ParseWithLength(j->body, j->len);
	m = s ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "message")) : NULL;
	if (m)
		snprintf(msg, n, "%.300s", m);
	else if (!s)
		snprintf(msg, n, "%.200s", j->body);
	scrub(msg);
	trim(msg);
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

static char *item_key(const cJSON *item)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	size_t l;
	char *key;

	if (!nm)
		nm = "";
	l = (ns ? strlen(ns) + 1 : 0) + strlen(nm) + 1;
	key = malloc(l);
	if (key)
		snprintf(key, l, "%s%s%s", ns ? ns : "", ns ? "/" : "", nm);
	return key;
}

static int take_item(struct run *R, struct job *j, cJSON *item, const char *kind, const char *api_version)
{
	struct kt_kube *k = R->k;
	char *key;
	int rc = 0;

	if (!cJSON_IsObject(item))
		return 0;
	key = item_key(item);
	if (!key)
		return kt_diag_set(R->d, KT_EXIT_CLUSTER, "out of memory");
	if (j->skip_key && strcmp(key, j->skip_key) <= 0) {
		free(key);
		return 0;
	}
	free(j->last_key);
	j->last_key = key;
	if (j->sink == SINK_NAMES) {
		const char *nm = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "metadata"), "name"));

		if (!nm)
			return 0;
		if (j->n_names + 1 >= j->cap_names) {
			unsigned nc = j->cap_names ? j->cap_names * 2 : 64;
			const char **nn = KT_ANEW(j->na, const char *, nc);

			if (j->n_names)
				memcpy(nn, j->names, sizeof(*nn) * j->n_names);
			j->names = nn;
			j->cap_names = nc;
		}
		j->names[j->n_names++] = kt_arena_strdup(j->na, nm);
		return 0;
	}
	if (j->req->res == KT_RES_NAMESPACES)
		return 0;
	if (!cJSON_GetObjectItemCaseSensitive(item, "kind"))
		cJSON_AddStringToObject(item, "kind", kind);
	if (!cJSON_GetObjectItemCaseSensitive(item, "apiVersion") && api_version)
		cJSON_AddStringToObject(item, "apiVersion", api_version);
	if (!kt_obj_sanitize(item, kind))
		return 0;
	if (R->bw) {
		char *txt = cJSON_PrintUnformatted(item);

		if (!txt)
			return kt_diag_set(R->d, KT_EXIT_CLUSTER, "out of memory");
		rc = kt_bundle_add_raw(R->bw, txt, strlen(txt));
		cJSON_free(txt);
		if (rc < 0) {
			if (!R->d->code)
				kt_diag_set(R->d, KT_EXIT_INPUT, "cannot write the bundle");
			return rc;
		}
	}
	if (R->snap) {
		rc = kt_obj_ingest(R->snap, item, kind, NULL, R->d);
		if (rc < 0)
			return rc;
	}
	k->n_objects++;
	if (k->progress) {
		long long t = now_ms();
		if (t - k->progress_at >= 200) {
			k->progress_at = t;
			k->progress(k->progress_ctx, k->n_objects);
		}
	}
	return 0;
}

/*
 * cJSON allocations of one page come from a bump allocator that is reset
 * after the page: a 500-Pod page is ~100k small nodes, and malloc/free of
 * each (plus glibc's fastbin consolidation on the large print buffers)
 * was most of the client's CPU. The hooks are installed only while a page
 * is processed (single-threaded) and restored before returning.
 */
#define KT_PAGE_CHUNK (4u << 20)

struct pa_chunk {
	struct pa_chunk *next;
	size_t used, cap;
	char data[];
};

static struct pa_chunk *pa_head;

static void *pa_malloc(size_t n)
{
	struct pa_chunk *c = pa_head;

	n = (n + 15) & ~(size_t)15;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > KT_PAGE_CHUNK ? n : KT_PAGE_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = pa_head;
		pa_head = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

static void pa_free(void *p)
{
	(void)p;
}

/* Release every chunk but one (kept for the next page). */
static void pa_reset(void)
{
	struct pa_chunk *c = pa_head, *keep = NULL;

	while (c) {
		struct pa_chunk *n = c->next;

		if (!keep && c->cap == KT_PAGE_CHUNK) {
			keep = c;
			keep->used = 0;
			keep->next = NULL;
		} else {
			free(c);
		}
		c = n;
	}
	pa_head = keep;
}

static void pa_begin(void)
{
	cJSON_Hooks h = { pa_malloc, pa_free };

	cJSON_InitHooks(&h);
}

static void pa_end(void)
{
	cJSON_InitHooks(NULL);
	pa_reset();
}

/* A 200 page (body, len; NUL-terminated): parse, take every item, return
 * the continue token (malloc) in *cont_out. */
static int take_page_arena(struct run *R, struct job *j, char *body, size_t len, const char *url,
			   char **cont_out);

static int take_page(struct run *R, struct job *j, char *body, size_t len, const char *url, char **cont_out)
{
	int rc;

	*cont_out = NULL;
	pa_begin();
	rc = take_page_arena(R, j, body, len, url, cont_out);
	pa_end();
	return rc;
}

static int take_page_arena(struct run *R, struct job *j, char *body, size_t len, const char *url,
			   char **cont_out)
{
	const struct kt_res_info *ri = &res_tab[j->req->res];
	cJSON *root, *items, *it;
	const char *lk, *av, *cont;
	char kind[128];
	int rc = 0;

	if (!body || !len) {
		kt_diag_set(R->d, KT_EXIT_INPUT, "empty response from %s", url);
		return -KT_EXIT_INPUT;
	}
	body[len] = '\0';
	root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root)) {
		/* freed by pa_end() */
		kt_diag_set(R->d, KT_EXIT_INPUT, "malformed response from %s: not a JSON object (%zu bytes)", url,
			    len);
		kt_diag_hint(R->d, "the server or a proxy in between returned something other than the Kubernetes API");
		return -KT_EXIT_INPUT;
	}
	av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "apiVersion"));
	lk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "kind"));
	if (j->req->name) {
		snprintf(kind, sizeof(kind), "%s", lk ? lk : ri->kind);
		rc = take_item(R, j, root, kind, av);
		/* freed by pa_end() */
		return rc;
	}
	if (lk && strlen(lk) > 4 && strlen(lk) < sizeof(kind) && !strcmp(lk + strlen(lk) - 4, "List"))
		snprintf(kind, sizeof(kind), "%.*s", (int)(strlen(lk) - 4), lk);
	else
		snprintf(kind, sizeof(kind), "%s", ri->kind);
	items = cJSON_GetObjectItemCaseSensitive(root, "items");
	if (items && !cJSON_IsArray(items) && !cJSON_IsNull(items)) {
		/* freed by pa_end() */
		kt_diag_set(R->d, KT_EXIT_INPUT, "malformed response from %s: 'items' is not a list", url);
		return -KT_EXIT_INPUT;
	}
	if (!cJSON_IsArray(items))
		items = NULL;
	cJSON_ArrayForEach(it, items) {
		if ((rc = take_item(R, j, it, kind, av)) < 0)
			break;
	}
	cont = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "metadata"),
								     "continue"));
	*cont_out = cont && *cont ? strdup(cont) : NULL;
	/* freed by pa_end() */
	return rc;
}

/* The continue token from the list metadata at the start of a page, found
 * without parsing the page, so the next page can be requested while this
 * one is parsed. NULL when not found there or escaped (then the parsed
 * value is used after the page). */
static char *peek_continue(const char *body, size_t len)
{
	size_t lim = len < 8192 ? len : 8192;
	const char *md = memmem(body, lim, "\"metadata\":{", 12), *end, *c, *q;

	if (!md || memmem(body, (size_t)(md - body), "\"items\"", 7))
		return NULL;
	end = memchr(md, '}', lim - (size_t)(md - body));
	if (!end)
		return NULL;
	c = memmem(md, (size_t)(end - md), "\"continue\":\"", 12);
	if (!c)
		return NULL;
	c += 12;
	q = memchr(c, '"', (size_t)(end - c));
	if (!q || q == c || memchr(c, '\\', (size_t)(q - c)))
		return NULL;
	return strndup(c, (size_t)(q - c));
}

static int job_fail_transport(struct run *R, struct job *j, CURLcode cc)
{
	struct kt_diag *d = R->d;
	const char *eb = j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc);

	if (j->too_big) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "response from %s exceeds the %zu MiB cap", j->url, j->k->max_body >> 20);
		kt_diag_hint(d, "narrow the request (-n NAMESPACE) or raise the response cap");
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
			     j->k->rc.context ? j->k->rc.context : "in-cluster");
		return -KT_EXIT_CLUSTER;
	default:
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot reach %s: %s", j->url, eb);
		kt_diag_hint(d, "check the server address of context '%s' and that the API server is reachable",
			     j->k->rc.context ? j->k->rc.context : "in-cluster");
		return -KT_EXIT_CLUSTER;
	}
}

static int job_start(struct run *R, struct job *j)
{
	if (job_setup(j, R->d) < 0)
		return R->d->code ? -R->d->code : -KT_EXIT_CLUSTER;
	j->start_ms = now_ms();
	if (curl_multi_add_handle(R->k->multi, j->h) != CURLM_OK)
		return kt_diag_set(R->d, KT_EXIT_CLUSTER, "cannot start a request to %s", j->url);
	j->active = true;
	return 0;
}

/* A transfer ended. Returns <0 on a fatal error; otherwise the job is
 * either done or rescheduled (due_ms). */
static int job_complete(struct run *R, struct job *j, CURLcode cc)
{
	struct kt_kube *k = R->k;
	struct kt_diag *d = R->d;
	long code = 0;
	curl_off_t ra = -1;
	char what[512], msg[400];
	long long ms = now_ms() - j->start_ms;
	int rc;

	j->active = false;
	curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &code);
	kt_log(2, "GET %s %ld %lldms", j->path, code, ms);
	if (cc != CURLE_OK)
		return job_fail_transport(R, j, cc);
	if (code >= 200 && code < 300) {
		char *body = j->body, *pre = NULL, *cont = NULL, *page_url;
		size_t len = j->len;

		j->retries = 0;
		if (j->sink == SINK_VERSION) {
			cJSON *v = body ? cJSON_ParseWithLength(body, len) : NULL;
			const char *gv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "gitVersion"));

			if (gv)
				j->version = kt_arena_strdup(j->na, gv);
			cJSON_Delete(v);
			j->done = true;
			return 0;
		}
		if (!j->req->name && body && len)
			pre = peek_continue(body, len);
		if (!pre) {
			rc = take_page(R, j, j->body, j->len, j->url, &cont);
			free(j->cont);
			j->cont = cont;
			if (rc < 0)
				return rc;
			if (j->cont) {
				j->due_ms = 0;
			} else {
				j->done = true;
				if (R->snap && !j->req->name) /* absence of this kind is now evidence */
					R->snap->listed |= kt_listed_bit(res_tab[j->req->res].plural);
			}
			return 0;
		}
		/* request the next page first, then parse this one */
		page_url = strdup(j->url);
		j->body = NULL;
		j->len = j->cap = 0;
		free(j->cont);
		j->cont = pre;
		rc = job_start(R, j);
		if (rc == 0)
			rc = take_page(R, j, body, len, page_url ? page_url : "the API server", &cont);
		if (rc == 0 && (!cont || strcmp(cont, pre)))
			kt_log(1, "%s: continue token in metadata differs from the parsed one", j->path);
		free(cont);
		free(body);
		free(page_url);
		return rc;
	}
	status_text(j, msg, sizeof(msg));
	describe(j, j->req->name ? "get" : "list", what, sizeof(what));
	switch (code) {
	case 401:
		if (j->auth_retries < 1) {
			/* another request already refreshed: just retry */
			rc = j->cred_gen != k->cred_gen ? 1 : refresh_creds(k, d);
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
	case 403:
	case 404:
		if (j->req->optional || (j->sink == SINK_NAMES && !R->snap)) {
			char gw[300];

			if (!R->snap) {
				j->done = true;
				return 0;
			}

			describe(j, "", gw, sizeof(gw));
			if (code == 404 && res_tab[j->req->res].crd) {
				/* the CRDs are not installed: nothing to collect */
				kt_log(1, "%s: not served (CRDs not installed)", gw + 1);
				j->done = true;
				return 0;
			}
			kt_snapshot_gap(R->snap, gw + 1, "%ld %s%s%s%s", code, reason_phrase(code),
					code == 403 ? ": needs " : "", code == 403 ? (j->req->name ? "get " : "list ") : "",
					code == 403 ? res_tab[j->req->res].plural : "");
			kt_log(1, "gap: %s: %ld %s", gw + 1, code, reason_phrase(code));
			j->done = true;
			return 0;
		}
		if (code == 404 && j->req->name) {
			const struct kt_list_req *r = j->req;

			if (r->ns && res_tab[r->res].namespaced)
				kt_diag_set(d, KT_EXIT_NOTFOUND, "%s '%s' not found in namespace '%s'",
					    res_tab[r->res].plural, r->name, r->ns);
			else
				kt_diag_set(d, KT_EXIT_NOTFOUND, "%s '%s' not found", res_tab[r->res].plural, r->name);
			return -KT_EXIT_NOTFOUND;
		}
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot %s: %ld %s%s%s%s", what, code, reason_phrase(code),
			    msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
		if (code == 403)
			rbac_hint(j, d);
		else
			kt_diag_hint(d, "the server %s does not serve %s%s", k->server, res_tab[j->req->res].prefix,
				     "; is it a Kubernetes API server of a supported version?");
		return -KT_EXIT_CLUSTER;
	case 410:
		if (j->cont && j->restarts < KT_MAX_RESTARTS) {
			/* continue token expired: restart the list, skipping
			 * what was already taken (lists are key-ordered) */
			j->restarts++;
			free(j->cont);
			j->cont = NULL;
			if (j->last_key) {
				free(j->skip_key);
				j->skip_key = strdup(j->last_key);
			}
			kt_log(1, "%s: continue token expired, restarting the list", j->path);
			j->due_ms = 0;
			return 0;
		}
		break;
	default:
		break;
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
			j->due_ms = now_ms() + s * 1000;
			return 0;
		}
	}
	kt_diag_set(d, KT_EXIT_CLUSTER, "cannot %s: %ld %s%s%s%s (%s)", what, code, reason_phrase(code),
		    msg[0] ? " (" : "", msg, msg[0] ? ")" : "", j->url);
	if (code == 429 || code >= 500)
		kt_diag_hint(d, "the API server is overloaded or failing; retry later");
	return -KT_EXIT_CLUSTER;
}

static void job_free(struct kt_kube *k, struct job *j)
{
	if (j->h) {
		if (j->active)
			curl_multi_remove_handle(k->multi, j->h);
		curl_easy_cleanup(j->h);
	}
	curl_slist_free_all(j->hdrs);
	free(j->url);
	free(j->cont);
	free(j->skip_key);
	free(j->last_key);
	free(j->body);
}

static int run_jobs(struct run *R, struct job *jobs, unsigned n)
{
	struct kt_kube *k = R->k;
	unsigned i, left = n;
	int rc = 0;

	while (left && rc == 0) {
		long long now = now_ms(), next = -1;
		int running = 0, nm;
		CURLMsg *m;

		for (i = 0; i < n; i++) {
			struct job *j = &jobs[i];

			if (j->done || j->active)
				continue;
			if (j->due_ms <= now) {
				if ((rc = job_start(R, j)) < 0)
					break;
			} else if (next < 0 || j->due_ms < next) {
				next = j->due_ms;
			}
		}
		if (rc)
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
		{
			int wait = 1000;
			bool any_active = false;

			for (i = 0; i < n; i++)
				any_active |= jobs[i].active;
			if (next >= 0) {
				long long dl = next - now_ms();

				wait = dl < 0 ? 0 : dl > 1000 ? 1000 : (int)dl;
			}
			for (i = 0; i < n; i++)
				if (!jobs[i].done && !jobs[i].active && jobs[i].due_ms <= now_ms())
					wait = 0;
			if (any_active || wait > 0)
				curl_multi_poll(k->multi, NULL, 0, wait, NULL);
		}
	}
	return rc;
}

int kt_kube_fetch(struct kt_kube *k, const struct kt_list_req *reqs, unsigned n, struct kt_snapshot *snap,
		  struct kt_bundle_writer *bw, struct kt_diag *d)
{
	struct run R = { .k = k, .snap = snap, .bw = bw, .d = d };
	struct job *jobs;
	unsigned i;
	int rc;

	if (!n)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned)reqs[i].res >= KT_RES_COUNT)
			return kt_diag_set(d, KT_EXIT_USAGE, "unknown resource %d", (int)reqs[i].res);
	jobs = calloc(n, sizeof(*jobs));
	if (!jobs)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "out of memory");
	for (i = 0; i < n; i++) {
		jobs[i].k = k;
		jobs[i].req = &reqs[i];
		jobs[i].sink = SINK_INGEST;
	}
	rc = run_jobs(&R, jobs, n);
	for (i = 0; i < n; i++)
		job_free(k, &jobs[i]);
	free(jobs);
	return rc;
}

int kt_kube_version(struct kt_kube *k, struct kt_arena *a, const char **out, struct kt_diag *d)
{
	struct kt_list_req req = { .res = KT_RES_NAMESPACES, .optional = true };
	struct run R = { .k = k, .d = d };
	struct job j;
	int rc;

	*out = NULL;
	memset(&j, 0, sizeof(j));
	j.k = k;
	j.req = &req;
	j.sink = SINK_VERSION;
	j.na = a;
	rc = run_jobs(&R, &j, 1);
	if (rc == 0 && !j.version) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "%s/version: no gitVersion in the response", k->base);
		rc = -KT_EXIT_CLUSTER;
	}
	if (rc == 0)
		*out = j.version;
	job_free(k, &j);
	return rc;
}

int kt_kube_names(struct kt_kube *k, enum kt_res res, const char *ns, struct kt_arena *a, const char ***names,
		  unsigned *n, struct kt_diag *d)
{
	struct kt_list_req req = { .res = res, .ns = ns };
	struct kt_snapshot *dummy = NULL;
	struct run R = { .k = k, .snap = dummy, .d = d };
	struct job j;
	int rc;

	*names = NULL;
	*n = 0;
	if ((unsigned)res >= KT_RES_COUNT)
		return kt_diag_set(d, KT_EXIT_USAGE, "unknown resource %d", (int)res);
	memset(&j, 0, sizeof(j));
	j.k = k;
	j.req = &req;
	j.sink = SINK_NAMES;
	j.na = a;
	rc = run_jobs(&R, &j, 1);
	if (rc == 0) {
		*names = j.names ? j.names : KT_ANEW(a, const char *, 1);
		*n = j.n_names;
	}
	job_free(k, &j);
	return rc;
}
