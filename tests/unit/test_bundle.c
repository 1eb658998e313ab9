/* Unit tests for the object converter (collectors/k8s_obj.c) and bundle
 * I/O (collectors/codec/bundle.c): defaults, sanitising, round trip, error positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "collectors/kube/k8s_obj.h"
#include "harness.h"
#include "ktrace/bundle.h"
#include "ktrace/dataplane.h"

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

static void test_sanitize(void)
{
	cJSON *pod = cJSON_Parse("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"managedFields\":[{}],"
				 "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{secret}\",\"keep\":\"1\"}},"
				 "\"spec\":{\"containers\":[{\"name\":\"c\",\"args\":[\"--password=hunter2\"],"
				 "\"env\":[{\"name\":\"DB_PASSWORD\",\"value\":\"hunter2\"}],"
				 "\"lifecycle\":{\"preStop\":{\"exec\":{\"command\":[\"sleep\",\"5\"]}}}}]}}");
	T_CHECK(kt_obj_sanitize(pod, NULL), "Pod is kept");
	char *txt = cJSON_PrintUnformatted(pod);
	T_CHECK(!strstr(txt, "hunter2"), "env values and args are removed");
	T_CHECK(!strstr(txt, "managedFields") && !strstr(txt, "last-applied"), "managedFields and last-applied removed");
	T_CHECK(strstr(txt, "DB_PASSWORD") && strstr(txt, "\"sleep\""), "env names and preStop kept");
	free(txt);
	cJSON_Delete(pod);
	cJSON *sec = cJSON_Parse("{\"kind\":\"Secret\",\"data\":{\"x\":\"eQ==\"}}");
	T_CHECK(!kt_obj_sanitize(sec, NULL), "Secrets are dropped");
	cJSON_Delete(sec);
	cJSON *cm = cJSON_Parse("{\"metadata\":{\"name\":\"app-config\"},\"data\":{\"k\":\"v\"}}");
	T_CHECK(!kt_obj_sanitize(cm, "ConfigMap"), "other ConfigMaps are dropped");
	cJSON_Delete(cm);
	cm = cJSON_Parse("{\"metadata\":{\"name\":\"cilium-config\"},\"data\":{\"kube-proxy-replacement\":\"true\",\"etcd-config\":\"x\"}}");
	T_CHECK(kt_obj_sanitize(cm, "ConfigMap"), "cilium-config kept");
	txt = cJSON_PrintUnformatted(cm);
	T_CHECK(strstr(txt, "kube-proxy-replacement") && !strstr(txt, "etcd-config") && strstr(txt, "\"kind\":\"ConfigMap\""),
		"only proxy settings kept, kind filled in");
	free(txt);
	cJSON_Delete(cm);
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

static void run(void)
{
	test_converter();
	test_sanitize();
	test_roundtrip();
	test_errors();
}

T_MAIN("test_bundle")
