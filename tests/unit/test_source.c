/* Unit tests of the source layer (collectors/source*.c) on the built-in
 * demo bundle: what a scope resolves to (snap->focus), not-found diagnoses
 * with close names, the kinds an answer lacks, node-state selection from a
 * bundle, and the gap -> kind mapping. No cluster, no root needed. */
#include <string.h>

#include "ktrace/dataplane.h"
#include "ktrace/source.h"
#include "harness.h"

static struct kt_scope demo(void)
{
	struct kt_scope sc;
	memset(&sc, 0, sizeof(sc));
	sc.from = "demo";
	sc.command = "path";
	return sc;
}

static void test_scope(void)
{
	struct kt_scope sc = demo();
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	sc.svc_namespace = "shop";
	sc.svc_name = "orders";
	unsigned w = KT_WANT_SERVICES | KT_WANT_SLICES | KT_WANT_PODS | KT_WANT_DATAPLANE;
	T_CHECK_INT(kt_source_load(&sc, w, &s, &d), 0, "one Service from the demo");
	T_CHECK(s && s->focus.services_only && s->focus.n_svcs == 1 &&
			!strcmp(s->services[s->focus.svcs[0]].meta.name, "orders"),
		"focus: the named Service");
	T_CHECK_STR(s ? s->focus.ns : NULL, "shop", "focus: its namespace");
	T_CHECK_INT(s ? s->focus.missing : 1, 0, "the demo lacks nothing");
	T_CHECK(s && s->n_dp == 1 && !strcmp(s->dp[0].source, "bundle"), "node state from the bundle, labelled bundle");
	kt_snapshot_free(s);

	sc = demo();
	sc.workload_kind = "Deployment";
	sc.workload_name = "orders";
	sc.namespace = "shop";
	d = (struct kt_diag){0};
	T_CHECK_INT(kt_source_load(&sc, w, &s, &d), 0, "deploy/orders");
	T_CHECK(s && s->focus.n_svcs == 1 && !strcmp(s->services[s->focus.svcs[0]].meta.name, "orders"),
		"deploy/orders resolves to the Service that selects it");
	kt_snapshot_free(s);

	sc = demo();
	sc.svc_name = "orders";
	sc.all_namespaces = true;
	d = (struct kt_diag){0};
	T_CHECK_INT(kt_source_load(&sc, w, &s, &d), 0, "NAME -A");
	T_CHECK(s && s->focus.n_svcs == 1 && !s->focus.ns, "NAME -A: every namespace, one match");
	kt_snapshot_free(s);
}

static void test_not_found(void)
{
	struct kt_scope sc = demo();
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	sc.namespace = "shp";
	T_CHECK_INT(kt_source_load(&sc, KT_WANT_OBJECTS, &s, &d), -KT_EXIT_NOTFOUND, "a namespace with nothing in it: 3");
	T_CHECK(strstr(d.msg, "namespace 'shp' not found") && strstr(d.hint, "'shop'"), "did you mean the namespace");
	T_CHECK(s == NULL, "nothing to free on error");

	sc = demo();
	sc.svc_namespace = "shop";
	sc.svc_name = "ordrs";
	d = (struct kt_diag){0};
	T_CHECK_INT(kt_source_load(&sc, KT_WANT_SERVICES, &s, &d), -KT_EXIT_NOTFOUND, "a Service typo: 3");
	T_CHECK(strstr(d.hint, "did you mean 'orders'") != NULL, "did you mean the Service");

	sc = demo();
	sc.namespace = "default";
	sc.svc_name = "orders";
	d = (struct kt_diag){0};
	T_CHECK_INT(kt_source_load(&sc, KT_WANT_SERVICES, &s, &d), -KT_EXIT_NOTFOUND, "the right name, wrong namespace");
	T_CHECK(strstr(d.hint, "exists in namespace 'shop': try 'ktrace path shop/orders'") != NULL,
		"names the namespace that has it");

	sc = demo();
	sc.node_name = "node-z";
	d = (struct kt_diag){0};
	T_CHECK_INT(kt_source_load(&sc, KT_WANT_DATAPLANE, &s, &d), -KT_EXIT_NOTFOUND, "--node of a bundle without it");
	T_CHECK(strstr(d.hint, "'node-a'") != NULL, "suggests the stored node");
}

static void test_missing(void)
{
	T_CHECK_INT(kt_source_gap_kind("pods in all namespaces"), KT_WANT_PODS, "gap about pods");
	T_CHECK_INT(kt_source_gap_kind("endpointslices in namespace 'shop'"), KT_WANT_SLICES, "gap about slices");
	T_CHECK_INT(kt_source_gap_kind("configmaps 'kube-proxy' in namespace 'kube-system'"), KT_WANT_PROXY,
		    "gap about a proxy ConfigMap");
	T_CHECK_INT(kt_source_gap_kind("nftables ruleset"), 0, "node state gaps are no API kind");
	T_CHECK_INT(kt_source_gap_kind("podsx"), 0, "whole words only");
}

static void run(void)
{
	test_scope();
	test_not_found();
	test_missing();
}

T_MAIN("test_source")
