/*
 * kubeconfig parsing, merging ($KUBECONFIG: first definition wins, whole
 * entries), relative path resolution, base64 data fields, validation and
 * file:line:col errors, in-cluster detection via KTRACE_SA_DIR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collectors/kube/kubeconfig.h"
#include "harness.h"

static char tmpdir[64];

static const char *wfile(const char *name, const char *text)
{
	static char path[4][256];
	static int ix;
	char *p = path[ix++ % 4];
	FILE *f;

	snprintf(p, 256, "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

static const char cfg1[] =
	"apiVersion: v1\n"
	"kind: Config\n"
	"current-context: one\n"
	"clusters:\n"
	"- name: c1\n"
	"  cluster:\n"
	"    server: https://one.example:6443\n"
	"    certificate-authority: certs/ca.pem\n"
	"    tls-server-name: api.internal\n"
	"- name: shared\n"
	"  cluster:\n"
	"    server: https://first.example\n"
	"users:\n"
	"- name: u1\n"
	"  user:\n"
	"    client-certificate-data: aGVsbG8=\n"   /* "hello" */
	"    client-key: /abs/key.pem\n"
	"    as: jane\n"
	"    as-groups: [dev, ops]\n"
	"- name: red\n"
	"  user:\n"
	"    token: first-token\n"
	"contexts:\n"
	"- name: one\n"
	"  context: {cluster: c1, user: u1, namespace: shop}\n"
	"- name: dup\n"
	"  context: {cluster: shared, user: red}\n";

static const char cfg2[] =
	"current-context: two\n"
	"clusters:\n"
	"- name: shared\n"
	"  cluster:\n"
	"    server: https://second.example\n"
	"    insecure-skip-tls-verify: true\n"
	"- name: c2\n"
	"  cluster:\n"
	"    server: http://127.0.0.1:8080\n"
	"users:\n"
	"- name: red\n"
	"  user:\n"
	"    tokenFile: tok\n"
	"    username: extra\n"
	"- name: ex\n"
	"  user:\n"
	"    exec:\n"
	"      apiVersion: client.authentication.k8s.io/v1\n"
	"      command: ./bin/plugin\n"
	"      args: [get-token, --x]\n"
	"      env: [{name: A, value: b}]\n"
	"      interactiveMode: Never\n"
	"contexts:\n"
	"- name: two\n"
	"  context: {cluster: c2, user: ex}\n"
	"- name: dup\n"
	"  context: {cluster: c2, user: ex}\n";

static void test_parse(void)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_kubeconfig kc;
	struct kt_kc_resolved r;
	struct kt_diag d = { 0 };
	int rc;

	rc = kt_kubeconfig_parse(a, "/etc/k/config", cfg1, strlen(cfg1), &kc, &d);
	T_CHECK_INT(rc, 0, "parse ok");
	T_CHECK_INT(kc.n_clusters, 2, "two clusters");
	T_CHECK_INT(kc.n_users, 2, "two users");
	T_CHECK_INT(kc.n_contexts, 2, "two contexts");
	T_CHECK_STR(kc.current_context, "one", "current-context");
	T_CHECK_STR(kc.clusters[0].ca_file, "/etc/k/certs/ca.pem", "relative CA path resolves against file dir");
	T_CHECK_STR(kc.clusters[0].tls_server_name, "api.internal", "tls-server-name");
	T_CHECK_STR(kc.users[0].cert_data.data, "hello", "client-certificate-data decoded");
	T_CHECK_INT(kc.users[0].cert_data.len, 5, "decoded length");
	T_CHECK_STR(kc.users[0].key_file, "/abs/key.pem", "absolute path kept");
	T_CHECK_INT(kc.users[0].n_as_groups, 2, "as-groups");
	rc = kt_kubeconfig_resolve(a, &kc, NULL, &r, &d);
	T_CHECK_INT(rc, 0, "resolve current context");
	T_CHECK_STR(r.ns, "shop", "context namespace");
	T_CHECK_STR(r.cluster->server, "https://one.example:6443", "server");
	rc = kt_kubeconfig_resolve(a, &kc, "nope", &r, &d);
	T_CHECK_INT(rc, -KT_EXIT_CLUSTER, "unknown context");
	kt_arena_free(a);
}

static void test_merge(void)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_kubeconfig kc;
	struct kt_kc_resolved r;
	struct kt_diag d = { 0 };
	bool found = false;
	char env[600];
	const char *f1 = wfile("one.yaml", cfg1);
	char f1c[256];
	const char *f2;
	int rc;

	snprintf(f1c, sizeof(f1c), "%s", f1);
	f2 = wfile("two.yaml", cfg2);
	snprintf(env, sizeof(env), "%s/missing.yaml::%s:%s:%s", tmpdir, f1c, f2, f1c);
	setenv("KUBECONFIG", env, 1);
	rc = kt_kubeconfig_load(a, NULL, &kc, &found, &d);
	T_CHECK_INT(rc, 0, "KUBECONFIG list loads (missing file skipped)");
	T_CHECK(found, "found");
	T_CHECK_INT(kc.n_files, 2, "duplicates read once");
	T_CHECK_STR(kc.current_context, "one", "first current-context wins");
	T_CHECK_INT(kc.n_clusters, 3, "clusters merged by name");
	rc = kt_kubeconfig_resolve(a, &kc, "dup", &r, &d);
	T_CHECK_INT(rc, 0, "resolve dup");
	T_CHECK_STR(r.cluster->server, "https://first.example", "first cluster definition wins");
	T_CHECK(!r.cluster->insecure, "entries are whole (no field merge)");
	T_CHECK_STR(r.user->token, "first-token", "first user wins");
	T_CHECK(r.user->token_file == NULL, "no field merge for users");
	rc = kt_kubeconfig_resolve(a, &kc, "two", &r, &d);
	T_CHECK_INT(rc, 0, "resolve two");
	T_CHECK_STR(r.ns, "default", "namespace default");
	T_CHECK(r.user->exec != NULL, "exec parsed");
	if (r.user->exec) {
		char want[300];

		snprintf(want, sizeof(want), "%s/./bin/plugin", tmpdir);
		T_CHECK_STR(r.user->exec->command, want, "exec command with / resolves against file dir");
		T_CHECK_INT(r.user->exec->n_args, 2, "exec args");
		T_CHECK_STR(r.user->exec->env[0].value, "b", "exec env");
	}
	/* explicit missing file is an error */
	memset(&d, 0, sizeof(d));
	rc = kt_kubeconfig_load(a, "/nonexistent/kc", &kc, &found, &d);
	T_CHECK(rc < 0 && d.code == KT_EXIT_INPUT, "--kubeconfig missing file is an error");
	/* explicit file: no merge */
	rc = kt_kubeconfig_load(a, f2, &kc, &found, &d);
	T_CHECK_STR(kc.current_context, "two", "--kubeconfig reads one file");
	unsetenv("KUBECONFIG");
	kt_arena_free(a);
}

static void test_errors(void)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_kubeconfig kc;
	struct kt_kc_resolved r;
	struct kt_diag d = { 0 };
	static const char bad_yaml[] = "clusters:\n- name: x\n  cluster:\n    server: [unclosed\n";
	static const char bad_type[] = "clusters:\n  name: x\n";
	static const char bad_b64[] = "users:\n- name: u\n  user:\n    client-key-data: '@@@'\n";
	static const char ca_insecure[] =
		"clusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority-data: aGk=, insecure-skip-tls-verify: true}\n"
		"contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n";
	static const char cert_no_key[] =
		"clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		"users:\n- name: u\n  user: {client-certificate: /a}\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
	int rc;

	rc = kt_kubeconfig_parse(a, "/k/bad", bad_yaml, strlen(bad_yaml), &kc, &d);
	T_CHECK_INT(rc, -KT_EXIT_INPUT, "syntax error is KT_EXIT_INPUT");
	T_CHECK(strncmp(d.msg, "/k/bad:", 7) == 0 && strchr(d.msg + 7, ':'), "error names file:line:col");
	memset(&d, 0, sizeof(d));
	rc = kt_kubeconfig_parse(a, "/k/t", bad_type, strlen(bad_type), &kc, &d);
	T_CHECK_INT(rc, -KT_EXIT_INPUT, "clusters not a list");
	T_CHECK(strstr(d.msg, "/k/t:2:") != NULL, "type error names line 2");
	memset(&d, 0, sizeof(d));
	rc = kt_kubeconfig_parse(a, "/k/b", bad_b64, strlen(bad_b64), &kc, &d);
	T_CHECK_INT(rc, -KT_EXIT_INPUT, "bad base64");
	T_CHECK(strstr(d.msg, "/k/b:4:") != NULL && strstr(d.msg, "base64"), "base64 error position");
	memset(&d, 0, sizeof(d));
	rc = kt_kubeconfig_parse(a, "/k/e", "", 0, &kc, &d);
	T_CHECK_INT(rc, 0, "empty file is an empty config");
	rc = kt_kubeconfig_parse(a, "/k/ci", ca_insecure, strlen(ca_insecure), &kc, &d);
	T_CHECK_INT(kt_kubeconfig_resolve(a, &kc, NULL, &r, &d), -KT_EXIT_INPUT, "CA plus insecure rejected");
	memset(&d, 0, sizeof(d));
	rc = kt_kubeconfig_parse(a, "/k/ck", cert_no_key, strlen(cert_no_key), &kc, &d);
	T_CHECK_INT(kt_kubeconfig_resolve(a, &kc, NULL, &r, &d), -KT_EXIT_INPUT, "cert without key rejected");
	kt_arena_free(a);
}

/* Bool fields as kubectl reads them: plain YAML 1.1 booleans only. */
static void test_bools(void)
{
	static const struct {
		const char *v;
		int want; /* 1 true, 0 false, -1 error */
	} cases[] = {
		{"true", 1}, {"True", 1}, {"TRUE", 1}, {"yes", 1}, {"on", 1}, {"y", 1}, {"false", 0}, {"No", 0},
		{"OFF", 0}, {"n", 0}, {"\"true\"", -1}, {"'true'", -1}, {"tRuE", -1}, {"1", -1}, {"[true]", -1},
		{"~", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_arena *a = kt_arena_new();
		struct kt_kubeconfig kc;
		struct kt_diag d = {0};
		char doc[256], name[96];
		snprintf(doc, sizeof(doc), "clusters:\n- name: c\n  cluster:\n    server: https://x\n    insecure-skip-tls-verify: %s\n",
			 cases[i].v);
		int rc = kt_kubeconfig_parse(a, "/k/b", doc, strlen(doc), &kc, &d);
		snprintf(name, sizeof(name), "insecure-skip-tls-verify: %s -> %s", cases[i].v,
			 cases[i].want < 0 ? "error with line" : cases[i].want ? "true" : "false");
		if (cases[i].want < 0)
			T_CHECK(rc == -KT_EXIT_INPUT && strstr(d.msg, "/k/b:5:") && strstr(d.msg, "must be true or false"), name);
		else
			T_CHECK(rc == 0 && kc.n_clusters == 1 && kc.clusters[0].insecure == (cases[i].want == 1), name);
		kt_arena_free(a);
	}
}

static void test_in_cluster(void)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_kc_resolved r;
	char sa[128];

	snprintf(sa, sizeof(sa), "%s/sa", tmpdir);
	mkdir(sa, 0700);
	setenv("KTRACE_SA_DIR", sa, 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	unsetenv("POD_NAMESPACE");
	T_CHECK_INT(kt_kubeconfig_in_cluster(a, &r), 0, "no token file: not in-cluster");
	wfile("sa/token", "tok\n");
	wfile("sa/namespace", "shop\n");
	T_CHECK_INT(kt_kubeconfig_in_cluster(a, &r), 1, "in-cluster with token");
	T_CHECK_STR(r.cluster->server, "https://10.0.0.1:443", "in-cluster server");
	T_CHECK_STR(r.ns, "shop", "namespace file");
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	kt_kubeconfig_in_cluster(a, &r);
	T_CHECK_STR(r.cluster->server, "https://[fd00::1]:443", "IPv6 host bracketed");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KTRACE_SA_DIR");
	kt_arena_free(a);
}

static void run(void)
{
	test_bools();
	char cmd[128];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kt_kc_XXXXXX");
	if (!mkdtemp(tmpdir)) {
		T_SKIP("kubeconfig", "cannot create a temp dir");
		return;
	}
	test_parse();
	test_merge();
	test_errors();
	test_in_cluster();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	rc = system(cmd);
	(void)rc;
}

T_MAIN("test_kubeconfig")
