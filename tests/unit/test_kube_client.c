/*
 * The API client against the test API server (tests/apiserver/kapi.py,
 * started here per case on a random port): concurrent lists, paging,
 * 410 restart without duplicates, 429 Retry-After, 403 (error and gap),
 * GET by name and 404, non-JSON and truncated bodies, the body cap,
 * unreachable and hung servers within the timeout, kt_kube_names.
 * Auth modes are covered end to end by tests/integration/api_auth.sh.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktrace/arena.h"
#include "ktrace/kube.h"
#include "ktrace/model.h"
#include "harness.h"

static char tmpdir[64];
static pid_t srv_pid;
static int srv_port;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Start kapi.py with extra args (NULL-terminated). Returns 0 on success. */
static int start_server(const char *const *extra)
{
	char pf[128];
	const char *argv[40];
	int n = 0, i;
	FILE *f;

	snprintf(pf, sizeof(pf), "%s/port", tmpdir);
	unlink(pf);
	argv[n++] = "python3";
	argv[n++] = "tests/apiserver/kapi.py";
	argv[n++] = "--dir";
	argv[n++] = "tests/fixtures/clusters/api-basic";
	argv[n++] = "--port-file";
	argv[n++] = pf;
	for (i = 0; extra && extra[i] && n < 38; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	fflush(NULL);
	srv_pid = fork();
	if (srv_pid < 0)
		return -1;
	if (srv_pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(126);
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		f = fopen(pf, "r");
		if (f) {
			int ok = fscanf(f, "%d", &srv_port) == 1;

			fclose(f);
			if (ok)
				return 0;
		}
		usleep(50000);
	}
	return -1;
}

static void stop_server(void)
{
	if (srv_pid > 0) {
		kill(srv_pid, SIGTERM);
		waitpid(srv_pid, NULL, 0);
		srv_pid = 0;
	}
}

static const char *kubeconfig_for(int port)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/kubeconfig", tmpdir);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
		   "clusters:\n- name: t\n  cluster:\n    server: http://127.0.0.1:%d\n"
		   "users:\n- name: t\n  user:\n    token: never-sent-over-http\n"
		   "contexts:\n- name: t\n  context: {cluster: t, user: t, namespace: shop}\n",
		port);
	fclose(f);
	return path;
}

static int open_kube(struct kt_kube **k, int timeout_s, int max_mb, struct kt_diag *d)
{
	struct kt_kube_opts o = { .kubeconfig = kubeconfig_for(srv_port), .timeout_s = timeout_s, .max_body_mb = max_mb };

	memset(d, 0, sizeof(*d));
	return kt_kube_open(&o, k, d);
}

static const struct kt_list_req core_reqs[] = {
	{ .res = KT_RES_SERVICES },
	{ .res = KT_RES_ENDPOINTSLICES },
	{ .res = KT_RES_PODS },
	{ .res = KT_RES_NODES },
};

/* Run core lists on a fresh server with extra args. */
static int fetch_with(const char *const *extra, struct kt_snapshot **snap, struct kt_diag *d, int timeout_s,
		      int max_mb, const struct kt_list_req *reqs, unsigned n)
{
	struct kt_kube *k = NULL;
	int rc;

	*snap = kt_snapshot_new();
	if (start_server(extra) < 0) {
		memset(d, 0, sizeof(*d));
		snprintf(d->msg, sizeof(d->msg), "server did not start");
		return -99;
	}
	rc = open_kube(&k, timeout_s, max_mb, d);
	if (rc == 0)
		rc = kt_kube_fetch(k, reqs ? reqs : core_reqs, reqs ? n : 4, *snap, NULL, d);
	kt_kube_close(k);
	stop_server();
	return rc;
}

static void test_basic(void)
{
	struct kt_snapshot *s;
	struct kt_diag d;
	int rc = fetch_with(NULL, &s, &d, 10, 0, NULL, 0);

	T_CHECK_INT(rc, 0, "lists services, slices, pods, nodes concurrently");
	if (rc)
		printf("# %s\n", d.msg);
	T_CHECK_INT(s->n_services, 4, "4 services");
	T_CHECK_INT(s->n_pods, 8, "8 pods");
	T_CHECK_INT(s->n_nodes, 2, "2 nodes");
	kt_snapshot_free(s);
}

static void test_paging(void)
{
	static const char *const gen[] = { "--generate", "700", NULL };
	static const char *const exp[] = { "--generate", "700", "--expire-continue", "1", NULL };
	static const char *const thr[] = { "--throttle", "2", NULL };
	static const char *const unav[] = { "--unavailable", "1", NULL };
	struct kt_snapshot *s;
	struct kt_diag d;
	double t0;
	int rc;

	rc = fetch_with(gen, &s, &d, 30, 0, NULL, 0);
	T_CHECK_INT(rc, 0, "paged lists (700 services, 1400 pods)");
	T_CHECK_INT(s->n_services, 704, "every service across pages");
	T_CHECK_INT(s->n_pods, 1408, "every pod across pages");
	kt_snapshot_free(s);

	rc = fetch_with(exp, &s, &d, 30, 0, NULL, 0);
	T_CHECK_INT(rc, 0, "410 Expired continue token: list restarts");
	if (rc)
		printf("# %s\n", d.msg);
	T_CHECK_INT(s->n_services, 704, "no duplicates after restart");
	T_CHECK_INT(s->n_pods, 1408, "no pod duplicates after restart");
	kt_snapshot_free(s);

	t0 = now_s();
	rc = fetch_with(thr, &s, &d, 30, 0, NULL, 0);
	T_CHECK_INT(rc, 0, "429 with Retry-After is retried");
	T_CHECK(now_s() - t0 >= 0.9, "retry waited for Retry-After");
	T_CHECK_INT(s->n_services, 4, "all services after throttling");
	kt_snapshot_free(s);

	rc = fetch_with(unav, &s, &d, 30, 0, NULL, 0);
	T_CHECK_INT(rc, 0, "503 with Retry-After is retried");
	T_CHECK_INT(s->n_pods, 8, "all pods after a 503");
	kt_snapshot_free(s);
}

static void test_errors(void)
{
	static const char *const forbid[] = { "--forbid", "pods", NULL };
	static const char *const garbage[] = { "--garbage", "services", NULL };
	static const char *const trunc[] = { "--truncate", "services", NULL };
	static const char *const huge[] = { "--huge", "services", NULL };
	static const char *const hang[] = { "--hang", NULL };
	static const struct kt_list_req pods_shop[] = { { .res = KT_RES_PODS, .ns = "shop" } };
	static const struct kt_list_req opt[] = { { .res = KT_RES_SERVICES },
						  { .res = KT_RES_PODS, .ns = "shop", .optional = true } };
	static const struct kt_list_req get_cm[] = {
		{ .res = KT_RES_CONFIGMAPS, .ns = "kube-system", .name = "kube-proxy" } };
	static const struct kt_list_req get_missing[] = { { .res = KT_RES_SERVICES, .ns = "shop", .name = "nope" } };
	static const struct kt_list_req get_missing_opt[] = {
		{ .res = KT_RES_CONFIGMAPS, .ns = "kube-system", .name = "cilium-config", .optional = true } };
	struct kt_snapshot *s;
	struct kt_diag d;
	double t0;
	int rc;

	rc = fetch_with(forbid, &s, &d, 10, 0, pods_shop, 1);
	T_CHECK_INT(rc, -KT_EXIT_CLUSTER, "403 is KT_EXIT_CLUSTER");
	T_CHECK(strstr(d.msg, "cannot list pods in namespace 'shop': 403 Forbidden") != NULL, "403 message names verb, resource, namespace");
	T_CHECK(strstr(d.hint, "needs 'list' on 'pods' in 'shop'") != NULL, "403 hint names the permission");
	kt_snapshot_free(s);

	rc = fetch_with(forbid, &s, &d, 10, 0, opt, 2);
	T_CHECK_INT(rc, 0, "optional 403 is not an error");
	T_CHECK_INT(s->n_gaps, 1, "optional 403 becomes a gap");
	T_CHECK_INT(s->n_services, 4, "other lists still ingested");
	kt_snapshot_free(s);

	rc = fetch_with(NULL, &s, &d, 10, 0, get_cm, 1);
	T_CHECK_INT(rc, 0, "GET configmap by name");
	kt_snapshot_free(s);
	rc = fetch_with(NULL, &s, &d, 10, 0, get_missing, 1);
	T_CHECK_INT(rc, -KT_EXIT_NOTFOUND, "GET missing object is KT_EXIT_NOTFOUND");
	kt_snapshot_free(s);
	rc = fetch_with(NULL, &s, &d, 10, 0, get_missing_opt, 1);
	T_CHECK_INT(rc, 0, "optional missing object is a gap");
	T_CHECK_INT(s->n_gaps, 1, "gap recorded for missing optional object");
	kt_snapshot_free(s);

	rc = fetch_with(garbage, &s, &d, 10, 0, NULL, 0);
	T_CHECK_INT(rc, -KT_EXIT_INPUT, "non-JSON body is KT_EXIT_INPUT");
	T_CHECK(strstr(d.msg, "/api/v1/services") != NULL, "non-JSON error names the URL");
	kt_snapshot_free(s);
	rc = fetch_with(trunc, &s, &d, 10, 0, NULL, 0);
	T_CHECK_INT(rc, -KT_EXIT_INPUT, "truncated body is KT_EXIT_INPUT");
	T_CHECK(strstr(d.msg, "/api/v1/services") != NULL, "truncation error names the URL");
	kt_snapshot_free(s);

	rc = fetch_with(huge, &s, &d, 60, 0, NULL, 0);
	T_CHECK_INT(rc, 0, "50 MB response within the default cap");
	T_CHECK_INT(s->n_services, 5000, "50 MB response ingested");
	kt_snapshot_free(s);
	rc = fetch_with(huge, &s, &d, 60, 8, NULL, 0);
	T_CHECK_INT(rc, -KT_EXIT_CLUSTER, "response over the cap is an error, not a crash");
	T_CHECK(strstr(d.msg, "exceeds the 8 MiB cap") && strstr(d.msg, "/api/v1/services"), "cap error names URL and cap");
	kt_snapshot_free(s);

	t0 = now_s();
	rc = fetch_with(hang, &s, &d, 2, 0, NULL, 0);
	T_CHECK_INT(rc, -KT_EXIT_CLUSTER, "hung server: KT_EXIT_CLUSTER");
	T_CHECK(now_s() - t0 < 6, "hung server fails within the timeout");
	T_CHECK(strstr(d.msg, "timed out") != NULL && strstr(d.msg, "http://127.0.0.1:") != NULL, "timeout message names URL");
	kt_snapshot_free(s);
}

static void test_unreachable_and_names(void)
{
	struct kt_kube *k = NULL;
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_arena *a = kt_arena_new();
	struct kt_diag d;
	const char **names;
	unsigned n = 0;
	int rc, port;
	double t0;

	/* a port that was just free: connection refused */
	if (start_server(NULL) == 0) {
		port = srv_port;
		stop_server();
		srv_port = port;
		t0 = now_s();
		rc = open_kube(&k, 3, 0, &d);
		if (rc == 0)
			rc = kt_kube_fetch(k, core_reqs, 4, s, NULL, &d);
		T_CHECK_INT(rc, -KT_EXIT_CLUSTER, "unreachable server: KT_EXIT_CLUSTER");
		T_CHECK(strstr(d.msg, "cannot reach http://127.0.0.1:") != NULL, "unreachable message names the URL");
		T_CHECK(now_s() - t0 < 4, "unreachable fails fast");
		kt_kube_close(k);
		k = NULL;
	}
	if (start_server(NULL) == 0) {
		rc = open_kube(&k, 10, 0, &d);
		T_CHECK_STR(kt_kube_namespace(k), "shop", "context namespace");
		T_CHECK_STR(kt_kube_context(k), "t", "context name");
		rc = kt_kube_names(k, KT_RES_NAMESPACES, NULL, a, &names, &n, &d);
		T_CHECK_INT(rc, 0, "names of namespaces");
		T_CHECK_INT(n, 3, "3 namespaces");
		rc = kt_kube_names(k, KT_RES_SERVICES, "shop", a, &names, &n, &d);
		T_CHECK_INT(n, 3, "3 services in shop");
		T_CHECK(n == 3 && !strcmp(names[0], "cart"), "names in key order");
		{
			const char *ver = NULL;

			rc = kt_kube_version(k, a, &ver, &d);
			T_CHECK(rc == 0 && ver && !strcmp(ver, "v1.32.4"), "kt_kube_version");
		}
		/* second use of the same client (keep-alive, reused handles) */
		rc = kt_kube_fetch(k, core_reqs, 4, s, NULL, &d);
		T_CHECK_INT(rc, 0, "client reusable after names");
		kt_kube_close(k);
		stop_server();
	}
	{
		const char **ctx;
		struct kt_kube_opts o = { .kubeconfig = kubeconfig_for(1) };

		rc = kt_kube_contexts(&o, a, &ctx, &n, &d);
		T_CHECK(rc == 0 && n == 1 && !strcmp(ctx[0], "t"), "kt_kube_contexts");
	}
	T_CHECK_STR(kt_res_name(KT_RES_ENDPOINTSLICES), "endpointslices", "kt_res_name");
	kt_arena_free(a);
	kt_snapshot_free(s);
}

static void run(void)
{
	char cmd[128];
	int rc;

	if (system("python3 -c 'import ssl, http.server' >/dev/null 2>&1") != 0 ||
	    access("tests/apiserver/kapi.py", R_OK) != 0) {
		T_SKIP("kube client", "python3 or tests/apiserver/kapi.py not available (run from the repo root)");
		return;
	}
	signal(SIGPIPE, SIG_IGN);
	unsetenv("KUBECONFIG");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kt_kcl_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		T_SKIP("kube client", "cannot create a temp dir");
		return;
	}
	test_basic();
	test_paging();
	test_errors();
	test_unreachable_and_names();
	stop_server();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	rc = system(cmd);
	(void)rc;
}

T_MAIN("test_kube_client")
