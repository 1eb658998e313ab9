/* Unit tests for the object converter (collectors/k8s_obj.c) and bundle
 * I/O (collectors/codec/bundle.c): defaults, sanitising, round trip, error positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "collectors/kube/k8s_obj.h"
#include "harness.h"
#include "ktrace/bundle.h"
#include "ktrace/dataplane.h"
#include "ktrace/util.h"
#include "lib/jscan.h"

static struct kt_snapshot *load(const char *json)
{
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	if (kt_bundle_load_mem("t.json", json, strlen(json), &s, &d) < 0) {
		printf("# load failed: %s\n", d.msg);
		return NULL;
	}
	return s;
}

static void test_converter(void)
{
	struct kt_snapshot *s = load(
		"{\"kind\":\"List\",\"items\":["
		"{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"ports\":[{\"port\":80}],"
		"\"selector\":{\"app\":\"a\"},\"sessionAffinity\":\"ClientIP\"}},"
		"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"labels\":{\"app\":\"a\"},"
		"\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},\"spec\":{\"nodeName\":\"w1\",\"containers\":[{\"name\":\"c\","
		"\"lifecycle\":{\"preStop\":{\"exec\":{\"command\":[\"/bin/sh\",\"-c\",\"echo bye; sleep 12.5 && exit\"]}}}}],"
		"\"initContainers\":[{\"name\":\"side\",\"restartPolicy\":\"Always\",\"ports\":[{\"name\":\"m\",\"containerPort\":9}]}]},"
		"\"status\":{\"podIP\":\"10.0.0.1\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"a-1\",\"namespace\":\"n\",\"labels\":{\"kubernetes.io/service-name\":\"a\"},"
		"\"annotations\":{\"endpoints.kubernetes.io/last-change-trigger-time\":\"2026-01-02T03:04:05.250Z\"}},"
		"\"addressType\":\"IPv4\",\"ports\":[{\"port\":80}],\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],\"conditions\":{},"
		"\"targetRef\":{\"kind\":\"Pod\",\"name\":\"p\"},\"nodeName\":\"w1\"},"
		"{\"addresses\":[\"10.0.0.2\"],\"conditions\":{\"ready\":false,\"terminating\":true,\"serving\":true}}]},"
		"{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kube-proxy\",\"namespace\":\"kube-system\"},"
		"\"data\":{\"config.conf\":\"kind: KubeProxyConfiguration\\niptables:\\n  masqueradeBit: 14\\nmode: \\\"nftables\\\" # new\\n\"}},"
		"{\"kind\":\"Widget\",\"metadata\":{\"name\":\"ignored\"}}]}");
	T_CHECK(s != NULL, "List with mixed kinds loads");
	if (!s)
		return;
	T_CHECK_INT(s->n_services, 1, "one Service");
	const struct kt_service *sv = &s->services[0];
	T_CHECK_STR(sv->ports[0].protocol, "TCP", "protocol defaults to TCP");
	T_CHECK_INT(sv->ports[0].target.num, 80, "targetPort defaults to port");
	T_CHECK(sv->type == KT_SVC_CLUSTERIP, "type defaults to ClusterIP");
	T_CHECK_INT(sv->affinity_timeout, 10800, "ClientIP affinity timeout defaults to 3h");
	T_CHECK_INT(s->n_endpoints, 2, "two endpoints flattened");
	T_CHECK(s->endpoints[0].ready && s->endpoints[0].serving && !s->endpoints[0].terminating, "nil conditions: ready");
	T_CHECK(!s->endpoints[1].ready && s->endpoints[1].terminating && s->endpoints[1].serving, "terminating endpoint");
	T_CHECK_INT(s->endpoints[0].trigger_time % 1000, 250, "trigger time keeps milliseconds");
	T_CHECK_INT(sv->ep_count, 2, "endpoints linked to the Service");
	T_CHECK_INT(s->endpoints[0].pod, 0, "endpoint linked to its Pod");
	const struct kt_pod *p = &s->pods[0];
	T_CHECK_INT(p->spec.n_containers, 2, "containers + init containers");
	T_CHECK_INT(p->spec.containers[0].prestop_sleep, 13, "preStop sleep found in sh -c (rounded up)");
	T_CHECK(p->spec.containers[1].sidecar, "restartPolicy Always init container is a sidecar");
	T_CHECK_INT(p->meta.created, 1767323045, "creationTimestamp parsed");
	T_CHECK(p->ready, "Pod Ready condition");
	T_CHECK_STR(s->proxy.mode, "nftables", "kube-proxy mode from config.conf");
	T_CHECK_INT(s->proxy.masquerade_bit, 14, "masqueradeBit");
	kt_snapshot_free(s);
}

static char *sanitized(const char *json, const char *hint, bool *kept)
{
	cJSON *o = cJSON_Parse(json);
	*kept = kt_obj_sanitize(o, hint);
	char *txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return txt;
}

static void test_sanitize(void)
{
	bool kept;
	char *txt = sanitized(
		"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"managedFields\":[{}],"
		"\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{secret}\",\"keep\":\"1\","
		"\"vault.hashicorp.com/agent-inject-token\":\"hunter2\",\"ktrace/ignore\":\"KT201\","
		"\"metallb.universe.tf/address-pool\":\"hunter2\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"c\",\"args\":[\"--password=hunter2\"],\"command\":[\"hunter2\"],"
		"\"env\":[{\"name\":\"DB_PASSWORD\",\"value\":\"hunter2\"}],\"envFrom\":[{\"secretRef\":{\"name\":\"hunter2\"}}],"
		"\"readinessProbe\":{\"httpGet\":{\"path\":\"/x?token=hunter2\",\"port\":8080,"
		"\"httpHeaders\":[{\"name\":\"Authorization\",\"value\":\"Bearer hunter2\"}]}},"
		"\"livenessProbe\":{\"exec\":{\"command\":[\"curl\",\"-u\",\"admin:hunter2\"]}},"
		"\"lifecycle\":{\"postStart\":{\"exec\":{\"command\":[\"hunter2\"]}},"
		"\"preStop\":{\"exec\":{\"command\":[\"sh\",\"-c\",\"curl -u a:hunter2 x; sleep 7\"]}}}}],"
		"\"volumes\":[{\"name\":\"f\",\"flexVolume\":{\"options\":{\"pw\":\"hunter2\"}}},"
		"{\"name\":\"c\",\"csi\":{\"volumeAttributes\":{\"k\":\"hunter2\"}}}]},"
		"\"status\":{\"phase\":\"Running\",\"message\":\"hunter2\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\","
		"\"message\":\"hunter2\"}]}}",
		NULL, &kept);
	T_CHECK(kept, "Pod is kept");
	T_CHECK(!strstr(txt, "hunter2"), "no credential survives (env, args, command, probe headers and paths, hooks, volumes, "
				   "annotations, status messages)");
	T_CHECK(!strstr(txt, "managedFields") && !strstr(txt, "last-applied") && !strstr(txt, "DB_PASSWORD") &&
			!strstr(txt, "\"keep\"") && !strstr(txt, "vault"),
		"fields and annotations outside the allow-list removed");
	T_CHECK(strstr(txt, "\"command\":[\"sleep\",\"7\"]") != NULL, "preStop exec reduced to the sleep it performs");
	T_CHECK(strstr(txt, "\"readinessProbe\":{\"httpGet\":{\"port\":8080}}") != NULL &&
			strstr(txt, "\"livenessProbe\":{\"exec\":{}}") != NULL,
		"probes keep kind and port only");
	T_CHECK(strstr(txt, "\"ktrace/ignore\":\"KT201\"") && strstr(txt, "\"metallb.universe.tf/address-pool\":\"\""),
		"read annotations kept, presence-only annotations blanked");
	T_CHECK(strstr(txt, "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]") != NULL, "Ready condition kept");
	free(txt);
	txt = sanitized("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"hunter2\"},\"spec\":\"hunter2\","
			"\"status\":{\"conditions\":\"hunter2\",\"phase\":{\"x\":\"hunter2\"}}}",
			NULL, &kept);
	T_CHECK(kept && !strstr(txt, "\"spec\":\"") && strstr(txt, "\"spec\":null") && strstr(txt, "\"phase\":{}") &&
			strstr(txt, "\"conditions\":null"),
		"wrong types: a scalar for an object becomes null, an object for a scalar is emptied");
	free(txt);
	txt = sanitized("{\"kind\":\"Secret\",\"data\":{\"x\":\"eQ==\"}}", NULL, &kept);
	T_CHECK(!kept, "Secrets are dropped");
	free(txt);
	txt = sanitized("{\"kind\":\"ServiceAccount\",\"secrets\":[]}", NULL, &kept);
	T_CHECK(!kept, "ServiceAccounts (and any kind outside the allow-list) are dropped");
	free(txt);
	txt = sanitized("{\"kind\":\"Widget\",\"metadata\":{\"name\":\"w\"}}", NULL, &kept);
	T_CHECK(!kept, "unknown kinds are dropped");
	free(txt);
	txt = sanitized("{\"metadata\":{\"name\":\"app-config\"},\"data\":{\"k\":\"v\"}}", "ConfigMap", &kept);
	T_CHECK(!kept, "other ConfigMaps are dropped");
	free(txt);
	txt = sanitized("{\"metadata\":{\"name\":\"cilium-config\",\"labels\":{\"a\":\"b\"}},\"data\":{\"kube-proxy-replacement\":"
			"\"true\",\"etcd-config\":\"x\"},\"binaryData\":{\"x\":\"eA==\"}}",
			"ConfigMap", &kept);
	T_CHECK(kept, "cilium-config kept");
	T_CHECK(strstr(txt, "kube-proxy-replacement") && !strstr(txt, "etcd-config") && !strstr(txt, "binaryData") &&
			!strstr(txt, "labels") && strstr(txt, "\"kind\":\"ConfigMap\""),
		"only proxy settings kept, kind filled in");
	free(txt);
	txt = sanitized("{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"kube-proxy\",\"namespace\":\"kube-system\"},"
			"\"data\":{\"kubeconfig.conf\":\"token: hunter2\",\"config.conf\":\"clientConnection:\\n  kubeconfig: "
			"/hunter2\\niptables:\\n  masqueradeBit: 14\\n  syncPeriod: hunter2\\nmode: \\\"ipvs\\\" # c\\n"
			"metricsBindAddress: hunter2\\n\"}}",
			NULL, &kept);
	T_CHECK(kept && !strstr(txt, "hunter2") &&
			strstr(txt, "\"config.conf\":\"mode: ipvs\\niptables:\\n  masqueradeBit: 14\\n\"") != NULL,
		"kube-proxy config text reduced to the settings read");
	free(txt);
}

/* The answer from a sanitised object equals the answer from the original:
 * every field the converter reads survives. */
static void test_sanitize_equivalent(void)
{
	static const char *cfgs[] = {
		"mode: \"nftables\" # new\niptables:\n  masqueradeAll: true\n  masqueradeBit: 14\nclusterCIDR: 10.0.0.0/8\n",
		"kind: KubeProxyConfiguration\nmode: ''\n",
		"iptables:\n masqueradeBit: '7'\r\nmode: ipvs\r\n",
		"",
	};
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		cJSON *cm = cJSON_CreateObject();
		cJSON_AddStringToObject(cm, "kind", "ConfigMap");
		cJSON *md = cJSON_AddObjectToObject(cm, "metadata");
		cJSON_AddStringToObject(md, "name", "kube-proxy");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(cm, "data"), "config.conf", cfgs[i]);
		struct kt_snapshot *a = kt_snapshot_new(), *b = kt_snapshot_new();
		struct kt_diag d = {0};
		kt_obj_ingest(a, cm, NULL, NULL, &d);
		kt_obj_sanitize(cm, NULL);
		kt_obj_ingest(b, cm, NULL, NULL, &d);
		char name[64];
		snprintf(name, sizeof(name), "proxy config %zu: same mode and settings after sanitising", i);
		T_CHECK(!kt_strcmp0(a->proxy.mode, b->proxy.mode) && !kt_strcmp0(a->proxy.raw_mode, b->proxy.raw_mode) &&
				a->proxy.masquerade_bit == b->proxy.masquerade_bit &&
				a->proxy.masquerade_all == b->proxy.masquerade_all &&
				!kt_strcmp0(a->proxy.cluster_cidr, b->proxy.cluster_cidr),
			name);
		kt_snapshot_free(a);
		kt_snapshot_free(b);
		cJSON_Delete(cm);
	}
	static const char *cmds[] = {"[\"sleep\",\"5\"]", "[\"sh\",\"-c\",\"x; sleep 12.5 && y\"]", "[\"/bin/drain\"]",
				     "\"sleep 3\"", "[]"};
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},\"spec\":{\"containers\":[{"
			 "\"name\":\"c\",\"lifecycle\":{\"preStop\":{\"exec\":{\"command\":%s}}}}]}}",
			 cmds[i]);
		cJSON *o = cJSON_Parse(json);
		struct kt_snapshot *a = kt_snapshot_new(), *b = kt_snapshot_new();
		struct kt_diag d = {0};
		kt_obj_ingest(a, o, NULL, NULL, &d);
		kt_obj_sanitize(o, NULL);
		kt_obj_ingest(b, o, NULL, NULL, &d);
		char name[96];
		snprintf(name, sizeof(name), "preStop %s: same hook kind and sleep after sanitising", cmds[i]);
		T_CHECK(a->n_pods == 1 && b->n_pods == 1 &&
				a->pods[0].spec.containers[0].prestop == b->pods[0].spec.containers[0].prestop &&
				a->pods[0].spec.containers[0].prestop_sleep == b->pods[0].spec.containers[0].prestop_sleep,
			name);
		kt_snapshot_free(a);
		kt_snapshot_free(b);
		cJSON_Delete(o);
	}
}

static void test_roundtrip(void)
{
	struct kt_snapshot *demo = NULL;
	struct kt_diag d = {0};
	T_CHECK(kt_bundle_load("demo", &demo, &d) == 0, "demo loads");
	if (!demo)
		return;
	char path[] = "/tmp/kt-bundle-XXXXXX.json.gz";
	int fd = mkstemps(path, 8);
	close(fd);
	struct kt_bundle_writer *bw;
	T_CHECK(kt_bundle_create(path, demo, &bw, &d) == 0, "bundle writer opens .gz");
	/* write the demo's objects back through the raw path */
	FILE *f = fopen("tests/fixtures/demo/demo-bundle.json", "r");
	cJSON *all = NULL;
	if (f) {
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		fseek(f, 0, SEEK_SET);
		char *b = malloc((size_t)n + 1);
		if (fread(b, 1, (size_t)n, f) == (size_t)n) {
			b[n] = 0;
			all = cJSON_Parse(b);
		}
		free(b);
		fclose(f);
	}
	const cJSON *o;
	cJSON_ArrayForEach(o, cJSON_GetObjectItem(all, "objects"))
	{
		char *t = cJSON_PrintUnformatted(o);
		kt_bundle_add_raw(bw, t, strlen(t));
		free(t);
	}
	cJSON_Delete(all);
	kt_snapshot_gap(demo, "poddisruptionbudgets", "403 Forbidden");
	T_CHECK(kt_bundle_finish(bw, demo, &d) == 0, "bundle written");
	struct kt_snapshot *back = NULL;
	T_CHECK(kt_bundle_load(path, &back, &d) == 0, "bundle reads back");
	if (back) {
		T_CHECK_INT(back->n_services, demo->n_services, "same Services");
		T_CHECK_INT(back->n_endpoints, demo->n_endpoints, "same endpoints");
		T_CHECK_INT(back->n_pods, demo->n_pods, "same Pods");
		T_CHECK_INT(back->n_workloads, demo->n_workloads, "same workloads");
		T_CHECK_INT(back->n_dp, demo->n_dp, "same node dataplane count");
		T_CHECK(back->n_dp && back->dp[0].n_svcs == demo->dp[0].n_svcs &&
				back->dp[0].svcs[0].n_be == demo->dp[0].svcs[0].n_be,
			"node state round-trips");
		T_CHECK_INT(back->taken, demo->taken, "collection time kept (ages reproducible)");
		T_CHECK(back->n_gaps == 1 && !strcmp(back->gaps[0].why, "403 Forbidden"), "gaps round-trip");
		bool same = true;
		for (uint32_t i = 0; i < back->n_endpoints; i++)
			same &= !strcmp(back->endpoints[i].ip, demo->endpoints[i].ip) &&
				back->endpoints[i].ready == demo->endpoints[i].ready &&
				back->endpoints[i].port == demo->endpoints[i].port;
		T_CHECK(same, "endpoint fields identical");
		kt_snapshot_free(back);
	}
	unlink(path);
	kt_snapshot_free(demo);
}

static void test_errors(void)
{
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	const char *bad = "{\"kind\":\"KtraceBundle\",\"version\":1,\n\"objects\":[\n{\"kind\":\"Service\"},\n{\"kind\": tru}\n]}";
	T_CHECK(kt_bundle_load_mem("b.json", bad, strlen(bad), &s, &d) == -KT_EXIT_INPUT, "malformed element is exit 5");
	T_CHECK(strstr(d.msg, "b.json:4:") != NULL, "error names file:line of the element");
	memset(&d, 0, sizeof(d));
	const char *ver = "{\"kind\":\"KtraceBundle\",\"version\":2,\"objects\":[]}";
	T_CHECK(kt_bundle_load_mem("v.json", ver, strlen(ver), &s, &d) == -KT_EXIT_INPUT && strstr(d.msg, "version 2"),
		"other version refused");
	memset(&d, 0, sizeof(d));
	const char *k = "{\"kind\":\"Pod\",\"metadata\":{}}";
	T_CHECK(kt_bundle_load_mem("k.json", k, strlen(k), &s, &d) == -KT_EXIT_INPUT, "a single object is not a bundle");
	memset(&d, 0, sizeof(d));
	const char *list_after = "{\"items\":[{\"metadata\":{\"name\":\"x\",\"namespace\":\"y\"},\"spec\":{}}],\"kind\":\"ServiceList\"}";
	T_CHECK(kt_bundle_load_mem("l.json", list_after, strlen(list_after), &s, &d) == 0 && s->n_services == 1,
		"items before kind (kubectl order) get the list's kind");
	kt_snapshot_free(s);
	s = NULL;
	memset(&d, 0, sizeof(d));
	char deep[20000];
	size_t n = 0;
	n += (size_t)snprintf(deep, sizeof(deep), "{\"kind\":\"List\",\"items\":[");
	for (int i = 0; i < 6000; i++)
		deep[n++] = '[';
	deep[n] = 0;
	T_CHECK(kt_bundle_load_mem("d.json", deep, n, &s, &d) == -KT_EXIT_INPUT, "deeply nested truncated input rejected");
}

static void test_jscan(void)
{
	const struct kt_jlimits lim = {1000, 10, 3};
	static const struct {
		const char *in;
		enum kt_jscan_rc rc;
		size_t end;
	} cases[] = {
		{"{\"a\":[1,2]} x", KT_JSCAN_DONE, 11},
		{"\"s\\\"}]\" ,", KT_JSCAN_DONE, 7},
		{"123,", KT_JSCAN_DONE, 3},
		{"[[[]]]", KT_JSCAN_DONE, 6},
		{"[[[[]]]]", KT_JSCAN_DEEP, 0},
		{"[1,2,3,4,5,6,7,8,9,10,11]", KT_JSCAN_VALUES, 0},
		{"[[],[],[],[],[],[]]", KT_JSCAN_VALUES, 0},
		{"{\"a\":1", KT_JSCAN_BAD, 0},
		{"]", KT_JSCAN_BAD, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_jscan st = {0};
		size_t end = 0;
		enum kt_jscan_rc rc = kt_jscan(&st, cases[i].in, strlen(cases[i].in), true, &lim, &end);
		char name[96];
		snprintf(name, sizeof(name), "jscan '%s'", cases[i].in);
		T_CHECK(rc == cases[i].rc && (rc != KT_JSCAN_DONE || end == cases[i].end), name);
	}
	/* resumable: the same answer fed one byte at a time */
	const char *v = "{\"k\":[\"a]\",{\"b\":2}]}   ";
	struct kt_jscan st = {0};
	size_t end = 0, n;
	enum kt_jscan_rc rc = KT_JSCAN_MORE;
	for (n = 1; n <= strlen(v) && rc == KT_JSCAN_MORE; n++)
		rc = kt_jscan(&st, v, n, false, &lim, &end);
	T_CHECK(rc == KT_JSCAN_DONE && end == 20, "jscan resumes across partial input");
	const struct kt_jlimits big = {8, 100, 10};
	memset(&st, 0, sizeof(st));
	T_CHECK(kt_jscan(&st, "\"0123456789\"", 12, true, &big, &end) == KT_JSCAN_BIG, "jscan: bytes cap");
}

/* A file streams through a small window: the same snapshot as from memory,
 * plain and gzip, and error positions stay right after the window moved. */
static void test_stream(void)
{
	size_t cap = 3u << 20, n = 0;
	char *buf = malloc(cap);
	n += (size_t)snprintf(buf + n, cap - n, "{\"kind\":\"KtraceBundle\",\"version\":1,\"objects\":[\n");
	int i;
	for (i = 0; n < cap - 4096; i++)
		n += (size_t)snprintf(buf + n, cap - n,
				      "%s{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s%d\",\"namespace\":\"n%d\","
				      "\"annotations\":{\"pad\":\"%0*d\"}},\"spec\":{\"ports\":[{\"port\":%d}]}}\n",
				      i ? "," : "", i, i % 7, 1 + (i * 37) % 900, i, 1 + i % 60000);
	n += (size_t)snprintf(buf + n, cap - n, "]}\n");
	char path[] = "/tmp/kt-stream-XXXXXX", gzpath[64];
	int fd = mkstemp(path);
	T_CHECK(fd >= 0 && write(fd, buf, n) == (ssize_t)n, "stream fixture written");
	close(fd);
	snprintf(gzpath, sizeof(gzpath), "%s.gz", path);
	gzFile gz = gzopen(gzpath, "wb1");
	gzwrite(gz, buf, (unsigned)n);
	gzclose(gz);
	struct kt_snapshot *m = NULL, *f = NULL, *g = NULL;
	struct kt_diag d = {0};
	T_CHECK(kt_bundle_load_mem("m", buf, n, &m, &d) == 0, "from memory");
	T_CHECK(kt_bundle_load(path, &f, &d) == 0, "streamed from a file");
	T_CHECK(kt_bundle_load(gzpath, &g, &d) == 0, "streamed from gzip");
	bool same = m && f && g && m->n_services == (uint32_t)i && f->n_services == m->n_services &&
		    g->n_services == m->n_services;
	for (uint32_t k = 0; same && k < m->n_services; k++)
		same = !strcmp(m->services[k].meta.name, f->services[k].meta.name) &&
		       !strcmp(m->services[k].meta.name, g->services[k].meta.name) &&
		       m->services[k].ports[0].port == g->services[k].ports[0].port &&
		       !strcmp(kt_kv_get(&m->services[k].meta.annotations, "pad"),
			       kt_kv_get(&g->services[k].meta.annotations, "pad"));
	T_CHECK(same, "every object identical whatever the window boundaries");
	kt_snapshot_free(m);
	kt_snapshot_free(f);
	kt_snapshot_free(g);
	/* an error in the last element: line and column survive the window moves */
	char *last = memrchr(buf, '\n', n - 4); /* ends the line before the last object's ",{...}" */
	last[2] = 'x';
	gz = gzopen(gzpath, "wb1");
	gzwrite(gz, buf, (unsigned)n);
	gzclose(gz);
	memset(&d, 0, sizeof(d));
	char want[96];
	snprintf(want, sizeof(want), ":%d:2: invalid bundle:", i + 1);
	int erc = kt_bundle_load(gzpath, &g, &d);
	if (!strstr(d.msg, want))
		printf("# %s (want %s)\n", d.msg, want);
	T_CHECK(erc == -KT_EXIT_INPUT && strstr(d.msg, want) != NULL, "an error after 3 MiB names its line and column");
	unlink(path);
	unlink(gzpath);
	free(buf);
}

static void test_namespace_default(void)
{
	const char *l = "{\"kind\":\"List\",\"items\":[{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\"}},"
			"{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}},{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":"
			"\"a-1\",\"namespace\":\"\",\"labels\":{\"kubernetes.io/service-name\":\"a\"}},\"endpoints\":[{\"addresses\":"
			"[\"10.0.0.1\"]}],\"ports\":[{\"port\":99999}]}]}";
	struct kt_snapshot *s = load(l);
	T_CHECK(s && s->n_services == 1 && !strcmp(s->services[0].meta.namespace, "default") && s->n_nodes == 1 &&
			s->nodes[0].meta.namespace == NULL && s->n_endpoints == 1 &&
			!strcmp(s->endpoints[0].namespace, "default") && s->endpoints[0].port == 0,
		"namespaced objects without a namespace get 'default', Nodes none; a port of 99999 reads as 0");
	T_CHECK(s && s->services[0].ep_count == 1, "and they link up");
	kt_snapshot_free(s);
	char path[] = "/tmp/kt-ns-XXXXXX";
	int fd = mkstemp(path);
	T_CHECK(fd >= 0 && write(fd, l, strlen(l)) == (ssize_t)strlen(l), "List written");
	close(fd);
	struct kt_diag d = {0};
	T_CHECK(kt_bundle_load_ns(path, "team", &s, &d) == 0 && !strcmp(s->services[0].meta.namespace, "team"),
		"the caller's default namespace");
	kt_snapshot_free(s);
	unlink(path);
}

static void test_writer_target(void)
{
	char dir[] = "/tmp/kt-bw-XXXXXX", p[128], l[128];
	struct kt_diag d = {0};
	struct kt_bundle_writer *bw;
	T_CHECK(mkdtemp(dir) != NULL, "temp dir");
	snprintf(p, sizeof(p), "%s/b.json", dir);
	snprintf(l, sizeof(l), "%s/link", dir);
	FILE *f = fopen(p, "w");
	fputs("old", f);
	fclose(f);
	T_CHECK(symlink(p, l) == 0, "symlink made");
	T_CHECK(kt_bundle_create(l, NULL, &bw, &d) == -KT_EXIT_USAGE && strstr(d.msg, "symbolic link"), "symlink refused");
	memset(&d, 0, sizeof(d));
	T_CHECK(kt_bundle_create(dir, NULL, &bw, &d) == -KT_EXIT_USAGE, "directory refused");
	memset(&d, 0, sizeof(d));
	T_CHECK(kt_bundle_create(p, NULL, &bw, &d) == 0, "regular file accepted");
	kt_bundle_add_raw(bw, "{}", 2);
	kt_bundle_abort(bw);
	f = fopen(p, "r");
	char got[8] = "";
	T_CHECK(f && fgets(got, sizeof(got), f) && !strcmp(got, "old"), "abort leaves the target as it was");
	if (f)
		fclose(f);
	T_CHECK(kt_bundle_create(p, NULL, &bw, &d) == 0 && kt_bundle_finish(bw, NULL, &d) == 0, "finish");
	struct stat st;
	T_CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size > 20, "finish replaces it, mode 0600");
	unlink(l);
	unlink(p);
	rmdir(dir);
}

static void run(void)
{
	test_jscan();
	test_stream();
	test_namespace_default();
	test_writer_target();
	test_converter();
	test_sanitize();
	test_sanitize_equivalent();
	test_roundtrip();
	test_errors();
}

T_MAIN("test_bundle")
