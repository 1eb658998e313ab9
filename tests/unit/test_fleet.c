/*
 * Unit tests of the fleet model (lib/fleet.c) and the grouping of per-node
 * dataplane findings (analyzers/dpdiff.c kt_dpdiff_group): the majority
 * plus deviations expand into each node's full view; the same stale
 * endpoint on several nodes reads as one finding listing the nodes.
 */
#include <stdlib.h>
#include <string.h>

#include "ktrace/analyze.h"
#include "ktrace/fleet.h"
#include "ktrace/xalloc.h"
#include "harness.h"

static struct kt_dp_service svc(const char *ns, const char *name, const char *ip)
{
	struct kt_dp_service s = {.namespace = ns, .name = name, .port_name = "http", .protocol = "TCP"};
	s.be = kt_xcalloc(1, sizeof(*s.be));
	s.be[0].ip = ip;
	s.be[0].port = 8080;
	s.n_be = 1;
	return s;
}

static void push(struct kt_dp_node *n, struct kt_dp_service s)
{
	n->svcs = kt_xreallocarray(n->svcs, n->n_svcs + 1, sizeof(*n->svcs));
	n->svcs[n->n_svcs++] = s;
	n->cap_svcs = n->n_svcs;
}

static void test_expand(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_fleet *f = kt_fleet_new(s);
	push(&f->majority, svc("shop", "api", "10.0.0.1"));
	push(&f->majority, svc("shop", "web", "10.0.0.2"));
	struct kt_fleet_node *a = kt_fleet_add_node(f, s, "n1");
	struct kt_fleet_node *b = kt_fleet_add_node(f, s, "n2");
	(void)a;
	push(&b->dev, svc("shop", "web", "10.0.0.9"));  /* n2: web differs */
	b->absent = KT_ANEW(s->arena, const char *, 1);
	b->absent[0] = "shop/api";                         /* n2: no api */
	b->n_absent = 1;
	struct kt_fleet_node *c = &f->nodes[1];
	T_CHECK(kt_fleet_deviates(c, "shop", "web") && kt_fleet_deviates(c, "shop", "api") &&
		!kt_fleet_deviates(&f->nodes[0], "shop", "web"), "deviations by Service");
	kt_fleet_expand(s);
	kt_snapshot_finish(s);
	T_CHECK_INT(s->n_dp, 2, "one view per node");
	T_CHECK_INT(s->dp[0].n_svcs, 2, "n1: the majority");
	T_CHECK_STR(s->dp[0].svcs[1].be[0].ip, "10.0.0.2", "n1: majority web");
	T_CHECK_INT(s->dp[1].n_svcs, 1, "n2: majority minus absent, its own web");
	T_CHECK_STR(s->dp[1].svcs[0].be[0].ip, "10.0.0.9", "n2: its web");
	kt_fleet_expand(s); /* again: replaces, does not duplicate */
	T_CHECK_INT(s->n_dp, 2, "expanding twice keeps one view per node");
	free(f->majority.svcs[0].be);
	free(f->majority.svcs[1].be);
	free(b->dev.svcs[0].be);
	kt_snapshot_free(s);
}

static void test_group(void)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_findings f = {0};
	const char *nodes[] = {"n3", "n5", "n7"};
	for (int i = 0; i < 3; i++) {
		struct kt_finding *x = kt_finding_add(&f, a, KT_R_KT602, &(struct kt_meta){.namespace = "shop", .name = "web"},
						      "node %s still forwards shop/web:http to 10.244.9.9:8080, which no EndpointSlice lists",
						      nodes[i]);
		x->evidence = kt_arena_printf(a, "node=%s; endpoint=10.244.9.9:8080; mode=iptables-nft; lastSync=%d", nodes[i], i);
	}
	struct kt_finding *o = kt_finding_add(&f, a, KT_R_KT602, &(struct kt_meta){.namespace = "shop", .name = "web"},
					      "node n4 still forwards shop/web:http to 10.244.8.8:8080, which no EndpointSlice lists");
	o->evidence = "node=n4; endpoint=10.244.8.8:8080";
	kt_dpdiff_group(&f, a);
	T_CHECK_INT(f.n, 2, "three nodes with the same stale endpoint: one finding; another endpoint stays");
	T_CHECK_STR(f.v[0].message,
		    "3 nodes (n3, n5, n7) still forward shop/web:http to 10.244.9.9:8080, which no EndpointSlice lists",
		    "grouped message names the nodes");
	T_CHECK(!strncmp(f.v[0].evidence, "nodes=n3,n5,n7; endpoint=10.244.9.9:8080", 40), "grouped evidence");
	T_CHECK_STR(f.v[1].message, "node n4 still forwards shop/web:http to 10.244.8.8:8080, which no EndpointSlice lists",
		    "a finding of its own is unchanged");
	kt_findings_release(&f);
	kt_arena_free(a);
}

static void run(void)
{
	test_expand();
	test_group();
}

T_MAIN("test_fleet")
