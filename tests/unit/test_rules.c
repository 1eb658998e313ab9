/*
 * Rule engine unit tests on hand-built snapshots: every rule fires on its
 * bad case and stays quiet on the near-identical good case; KT102/KT103
 * live quantification; suppression (annotations and .ktrace.yaml config);
 * label selector parsing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzers/rules_int.h"
#include "ktrace/analyze.h"
#include "ktrace/ruleconf.h"

#include "harness.h"

static struct kt_kvlist kv(struct kt_arena *a, const char *spec)
{
	struct kt_kvlist l = {0};
	if (!spec || !*spec)
		return l;
	l.v = KT_ANEW(a, struct kt_kv, 16);
	const char *p = spec;
	while (*p && l.n < 16) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		l.v[l.n].key = kt_arena_strndup(a, p, eq ? (size_t)(eq - p) : n);
		l.v[l.n].value = eq ? kt_arena_strndup(a, eq + 1, n - (size_t)(eq - p) - 1) : "";
		l.n++;
		p += n;
		if (*p == ',')
			p++;
	}
	/* insertion sort by key */
	for (uint32_t i = 1; i < l.n; i++)
		for (uint32_t j = i; j > 0 && strcmp(l.v[j - 1].key, l.v[j].key) > 0; j--) {
			struct kt_kv t = l.v[j];
			l.v[j] = l.v[j - 1];
			l.v[j - 1] = t;
		}
	return l;
}

static struct kt_service *svc(struct kt_snapshot *s, const char *name, enum kt_svc_type type, const char *sel)
{
	struct kt_service *v = KT_SNAP_PUSH(s, services);
	v->meta.kind = "Service";
	v->meta.namespace = "shop";
	v->meta.name = name;
	v->meta.pos.file = KT_NONE;
	v->type = type;
	v->selector = kv(s->arena, sel);
	v->has_selector = v->selector.n > 0;
	v->ports = KT_ANEW(s->arena, struct kt_svc_port, 4);
	v->n_ports = 1;
	v->ports[0].name = "http";
	v->ports[0].protocol = "TCP";
	v->ports[0].port = 80;
	v->ports[0].target.num = 8080;
	return v;
}

static struct kt_container *ctr(struct kt_snapshot *s, struct kt_podspec *sp, const char *name, int port,
				const char *pname)
{
	if (!sp->containers)
		sp->containers = KT_ANEW(s->arena, struct kt_container, 8);
	struct kt_container *c = &sp->containers[sp->n_containers++];
	c->name = name;
	c->prestop_sleep = -1;
	if (port) {
		c->ports = KT_ANEW(s->arena, struct kt_cport, 1);
		c->ports[0].port = port;
		c->ports[0].name = pname;
		c->ports[0].protocol = "TCP";
		c->n_ports = 1;
	}
	return c;
}

/* A "good" deployment: readiness, preStop sleep 5, grace 30. */
static struct kt_workload *deploy(struct kt_snapshot *s, const char *name, const char *labels, int replicas)
{
	struct kt_workload *w = KT_SNAP_PUSH(s, workloads);
	w->meta.kind = "Deployment";
	w->meta.namespace = "shop";
	w->meta.name = name;
	w->meta.pos.file = KT_NONE;
	w->kind = KT_WL_DEPLOYMENT;
	w->replicas = replicas;
	w->template_labels = kv(s->arena, labels);
	w->selector.present = true;
	w->selector.match_labels = kv(s->arena, labels);
	w->spec.grace_period = -1;
	w->spec.fpath = "spec.template.spec";
	struct kt_container *c = ctr(s, &w->spec, "app", 8080, "http");
	c->readiness.kind = KT_PROBE_HTTP;
	c->prestop = KT_HOOK_SLEEP;
	c->prestop_sleep = 5;
	return w;
}

static void node(struct kt_snapshot *s, const char *name, const char *zone)
{
	struct kt_node *n = KT_SNAP_PUSH(s, nodes);
	n->meta.kind = "Node";
	n->meta.name = name;
	n->meta.pos.file = KT_NONE;
	n->zone = zone;
	n->ready = true;
}

static void ep(struct kt_snapshot *s, const char *svcname, const char *ip, const char *nodename, bool ready)
{
	struct kt_endpoint *e = KT_SNAP_PUSH(s, endpoints);
	e->namespace = "shop";
	e->service = svcname;
	e->ip = ip;
	e->port = 8080;
	e->port_name = "http";
	e->node = nodename;
	e->ready = ready;
	e->serving = ready;
}

static struct kt_findings run_rules(struct kt_snapshot *s, bool live, const struct kt_rules_config *cfg)
{
	struct kt_findings f = {0};
	struct kt_rules_opts o = {.live = live, .config = cfg};
	kt_snapshot_finish(s);
	kt_rules_run(s, &o, s->arena, &f);
	return f;
}

static int count(const struct kt_findings *f, enum kt_rule_id r, bool with_suppressed)
{
	int n = 0;
	for (uint32_t i = 0; i < f->n; i++)
		if (f->v[i].rule == r && (with_suppressed || !f->v[i].suppressed))
			n++;
	return n;
}

static const struct kt_finding *first(const struct kt_findings *f, enum kt_rule_id r)
{
	for (uint32_t i = 0; i < f->n; i++)
		if (f->v[i].rule == r)
			return &f->v[i];
	return NULL;
}

static void test_kt101(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	deploy(s, "web", "app=web", 3);
	svc(s, "lb", KT_SVC_LOADBALANCER, "app=web");
	struct kt_service *ip = svc(s, "lb-ip", KT_SVC_LOADBALANCER, "app=web");
	ip->meta.annotations = kv(s->arena, "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type=ip");
	struct kt_service *neg = svc(s, "np-neg", KT_SVC_NODEPORT, "app=web");
	neg->meta.annotations = kv(s->arena, "cloud.google.com/neg={\"ingress\": true}");
	struct kt_service *loc = svc(s, "lb-local", KT_SVC_LOADBALANCER, "app=web");
	loc->etp_local = loc->etp_set = true;
	svc(s, "np", KT_SVC_NODEPORT, "app=web");
	svc(s, "cip", KT_SVC_CLUSTERIP, "app=web");
	struct kt_findings f = run_rules(s, false, NULL);
	T_CHECK_INT(count(&f, KT_R_KT101, true), 2, "KT101 fires for LB and NodePort with Cluster policy only");
	int lb = 0, np = 0;
	for (uint32_t i = 0; i < f.n; i++)
		if (f.v[i].rule == KT_R_KT101) {
			lb += !strcmp(f.v[i].obj.name, "lb");
			np += !strcmp(f.v[i].obj.name, "np");
		}
	T_CHECK(lb == 1 && np == 1, "KT101 objects are lb and np (not nlb ip, NEG, Local, ClusterIP)");
	const struct kt_finding *k = first(&f, KT_R_KT102);
	T_CHECK(k != NULL, "KT102 fires on manifests with Cluster policy");
	T_CHECK(k && strstr(k->message, "67%") != NULL, "KT102 manifest share for 3 replicas is 67%");
	T_CHECK_INT(count(&f, KT_R_KT102, true), 2, "KT102 not for Pod-IP LBs");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static void test_kt102_live(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	deploy(s, "web", "app=web", 3);
	svc(s, "lb", KT_SVC_LOADBALANCER, "app=web");
	node(s, "n1", "a");
	node(s, "n2", "a");
	node(s, "n3", "b");
	ep(s, "lb", "10.0.0.1", "n1", true);
	ep(s, "lb", "10.0.0.2", "n1", true);
	ep(s, "lb", "10.0.0.3", "n2", true);
	ep(s, "lb", "10.0.0.4", "n3", false);
	struct kt_findings f = run_rules(s, true, NULL);
	const struct kt_finding *k = first(&f, KT_R_KT102);
	T_CHECK(k != NULL, "KT102 live fires");
	/* mean over n1,n2,n3 of (1-2/3, 1-1/3, 1) = 2/3 */
	T_CHECK(k && strstr(k->message, "67% of external requests") != NULL, "KT102 live share 67%");
	T_CHECK(k && strstr(k->message, "3 ready endpoints on 2 of 3") != NULL, "KT102 live counts");
	T_CHECK(k && k->evidence && strstr(k->evidence, "n1=2 n2=1 n3=0"), "KT102 evidence per node");
	T_CHECK_INT(count(&f, KT_R_KT503, true), 0, "KT503 quiet with ready endpoints");
	kt_findings_release(&f);
	kt_snapshot_free(s);

	/* one target node with all endpoints: no hop */
	s = kt_snapshot_new();
	deploy(s, "web", "app=web", 1);
	svc(s, "lb", KT_SVC_LOADBALANCER, "app=web");
	node(s, "n1", "a");
	ep(s, "lb", "10.0.0.1", "n1", true);
	f = run_rules(s, true, NULL);
	T_CHECK_INT(count(&f, KT_R_KT102, true), 0, "KT102 live quiet on a single node");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static void test_kt103(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	deploy(s, "one", "app=one", 1);
	struct kt_workload *w = deploy(s, "spread", "app=spread", 3);
	w->spec.spread = KT_ANEW(s->arena, struct kt_spread, 2);
	w->spec.spread[0].topology_key = "kubernetes.io/hostname";
	w->spec.spread[1].topology_key = "topology.kubernetes.io/zone";
	w->spec.n_spread = 2;
	struct kt_workload *h = deploy(s, "hostonly", "app=hostonly", 3);
	h->spec.anti_required = KT_ANEW(s->arena, struct kt_affinity_term, 1);
	h->spec.anti_required[0].topology_key = "kubernetes.io/hostname";
	h->spec.n_anti_required = 1;
	const char *names[] = {"one", "spread", "hostonly"};
	for (int i = 0; i < 3; i++) {
		struct kt_service *v = svc(s, names[i], KT_SVC_LOADBALANCER, kt_arena_printf(s->arena, "app=%s", names[i]));
		v->etp_local = v->etp_set = true;
	}
	struct kt_findings f = run_rules(s, false, NULL);
	T_CHECK_INT(count(&f, KT_R_KT103, true), 2, "KT103 manifests: 1 replica and no zone spread fire, full spread quiet");
	for (uint32_t i = 0; i < f.n; i++) {
		if (f.v[i].rule != KT_R_KT103)
			continue;
		if (!strcmp(f.v[i].obj.name, "one"))
			T_CHECK(strstr(f.v[i].message, "only 1 replica") != NULL, "KT103 names the replica count");
		if (!strcmp(f.v[i].obj.name, "hostonly"))
			T_CHECK(strstr(f.v[i].message, "zone") != NULL, "KT103 reports the missing zone spread");
		T_CHECK(strcmp(f.v[i].obj.name, "spread") != 0, "KT103 quiet with hostname+zone spread");
	}
	T_CHECK_INT(count(&f, KT_R_KT101, true), 0, "KT101 quiet with Local policy");
	kt_findings_release(&f);
	kt_snapshot_free(s);

	/* live: list nodes and zones without a local endpoint */
	s = kt_snapshot_new();
	deploy(s, "web", "app=web", 2);
	struct kt_service *v = svc(s, "lb", KT_SVC_LOADBALANCER, "app=web");
	v->etp_local = true;
	node(s, "n1", "a");
	node(s, "n2", "a");
	node(s, "n3", "b");
	struct kt_node *cp = KT_SNAP_PUSH(s, nodes);
	cp->meta.name = "cp";
	cp->zone = "c";
	cp->ready = true;
	cp->exclude_lb = true;
	ep(s, "lb", "10.0.0.1", "n1", true);
	ep(s, "lb", "10.0.0.2", "n1", true);
	f = run_rules(s, true, NULL);
	const struct kt_finding *k = first(&f, KT_R_KT103);
	T_CHECK(k != NULL, "KT103 live fires");
	T_CHECK(k && strstr(k->message, "2 of 3 LB target nodes have no local endpoint (n2, n3)"), "KT103 live lists nodes");
	T_CHECK(k && strstr(k->message, "zones without a local endpoint: b"), "KT103 live lists zones (excluded node ignored)");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static void test_pod_rules(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	deploy(s, "good", "app=good", 2);
	struct kt_workload *b = deploy(s, "bad", "app=bad", 2);
	b->spec.containers[0].prestop = KT_HOOK_NONE;
	b->spec.containers[0].prestop_sleep = -1;
	b->spec.containers[0].readiness.kind = KT_PROBE_NONE;
	/* a log shipper without ports: not behind the Service */
	ctr(s, &b->spec, "logs", 0, NULL);
	struct kt_workload *g = deploy(s, "grace", "app=grace", 2);
	g->spec.grace_period = 10;
	g->spec.containers[0].prestop_sleep = 10;
	struct kt_workload *g2 = deploy(s, "grace-default", "app=gd", 2);
	g2->spec.containers[0].prestop = KT_HOOK_EXEC;
	g2->spec.containers[0].prestop_sleep = 30;
	struct kt_workload *ok2 = deploy(s, "grace-ok", "app=gok", 2);
	ok2->spec.grace_period = 45;
	ok2->spec.containers[0].prestop_sleep = 30;
	deploy(s, "unselected", "app=nobody", 1)->spec.containers[0].readiness.kind = KT_PROBE_NONE;
	svc(s, "good", KT_SVC_CLUSTERIP, "app=good");
	svc(s, "bad", KT_SVC_CLUSTERIP, "app=bad");
	svc(s, "grace", KT_SVC_CLUSTERIP, "app=grace");
	svc(s, "gd", KT_SVC_CLUSTERIP, "app=gd");
	svc(s, "gok", KT_SVC_CLUSTERIP, "app=gok");
	struct kt_findings f = run_rules(s, false, NULL);
	T_CHECK_INT(count(&f, KT_R_KT201, true), 1, "KT201 once (serving container of bad only)");
	T_CHECK_INT(count(&f, KT_R_KT203, true), 1, "KT203 once (not the unselected Deployment)");
	const struct kt_finding *k = first(&f, KT_R_KT201);
	T_CHECK(k && !strcmp(k->obj.name, "bad") && strstr(k->message, "'app'") && strstr(k->message, "Service bad"),
		"KT201 names container and Service");
	T_CHECK_INT(count(&f, KT_R_KT202, true), 2, "KT202: grace 10 vs sleep 10, default 30 vs sleep 30");
	for (uint32_t i = 0; i < f.n; i++)
		if (f.v[i].rule == KT_R_KT202)
			T_CHECK(strcmp(f.v[i].obj.name, "grace-ok") != 0, "KT202 quiet for grace 45 > sleep 30");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static void test_kt401_404(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	deploy(s, "api", "app=api", 2);
	struct kt_workload *m = deploy(s, "meshed", "app=meshed", 2);
	m->template_annotations = kv(s->arena, "linkerd.io/inject=enabled");
	struct kt_service *a = svc(s, "grpc-ap", KT_SVC_CLUSTERIP, "app=api");
	a->ports[0].app_protocol = "kubernetes.io/h2c";
	struct kt_service *n = svc(s, "grpc-name", KT_SVC_CLUSTERIP, "app=api");
	n->ports[0].name = "grpc-api";
	struct kt_service *h = svc(s, "grpc-headless", KT_SVC_CLUSTERIP, "app=api");
	h->ports[0].name = "grpc";
	h->headless = true;
	struct kt_service *x = svc(s, "grpc-http", KT_SVC_CLUSTERIP, "app=api");
	x->ports[0].name = "grpc";
	x->ports[0].app_protocol = "http";
	struct kt_service *me = svc(s, "grpc-mesh", KT_SVC_CLUSTERIP, "app=meshed");
	me->ports[0].name = "grpc";
	struct kt_service *af = svc(s, "sticky", KT_SVC_CLUSTERIP, "app=api");
	af->affinity_client_ip = true;
	struct kt_findings f = run_rules(s, false, NULL);
	T_CHECK_INT(count(&f, KT_R_KT401, true), 2, "KT401: appProtocol h2c and grpc-* name; not headless/explicit http/meshed");
	T_CHECK_INT(count(&f, KT_R_KT404, true), 1, "KT404 for ClientIP affinity");
	const struct kt_finding *k = first(&f, KT_R_KT404);
	T_CHECK(k && strstr(k->message, "10800 s"), "KT404 default timeout");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static void test_kt50x(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_workload *w = deploy(s, "web", "app=web,tier=fe", 2);
	/* a native sidecar declares "metrics" */
	struct kt_container *sc = ctr(s, &w->spec, "proxy", 9090, "metrics");
	sc->init = sc->sidecar = true;
	struct kt_container *ic = ctr(s, &w->spec, "init", 7070, "initport");
	ic->init = true;
	svc(s, "ok", KT_SVC_CLUSTERIP, "app=web");
	svc(s, "typo", KT_SVC_CLUSTERIP, "app=wbe");
	struct kt_service *named = svc(s, "named", KT_SVC_CLUSTERIP, "app=web");
	named->ports[0].target.num = 0;
	named->ports[0].target.name = "http";
	struct kt_service *bad = svc(s, "named-bad", KT_SVC_CLUSTERIP, "app=web");
	bad->ports[0].target.num = 0;
	bad->ports[0].target.name = "htpp";
	struct kt_service *side = svc(s, "sidecar", KT_SVC_CLUSTERIP, "app=web");
	side->ports[0].target.num = 0;
	side->ports[0].target.name = "metrics";
	struct kt_service *initp = svc(s, "initport", KT_SVC_CLUSTERIP, "app=web");
	initp->ports[0].target.num = 0;
	initp->ports[0].target.name = "initport";
	struct kt_service *num = svc(s, "numeric", KT_SVC_CLUSTERIP, "app=web");
	num->ports[0].target.num = 9999; /* no containerPort 9999: must not fire */
	struct kt_service *nosel = svc(s, "external", KT_SVC_CLUSTERIP, "");
	(void)nosel;
	struct kt_findings f = run_rules(s, false, NULL);
	T_CHECK_INT(count(&f, KT_R_KT501, true), 1, "KT501 once (typo selector)");
	const struct kt_finding *k = first(&f, KT_R_KT501);
	T_CHECK(k && !strcmp(k->obj.name, "typo") && strstr(k->message, "Deployment web has app=web"),
		"KT501 names the near miss");
	T_CHECK_INT(count(&f, KT_R_KT502, true), 2, "KT502: typo'd name and init-only port; not numeric, not sidecar");
	for (uint32_t i = 0; i < f.n; i++)
		if (f.v[i].rule == KT_R_KT502)
			T_CHECK(!strcmp(f.v[i].obj.name, "named-bad") || !strcmp(f.v[i].obj.name, "initport"),
				"KT502 objects");
	T_CHECK_INT(count(&f, KT_R_KT503, true), 0, "KT503 is live only");
	kt_findings_release(&f);
	kt_snapshot_free(s);

	/* live: selector matches no Pod, no ready endpoints */
	s = kt_snapshot_new();
	deploy(s, "web", "app=web", 2);
	svc(s, "web", KT_SVC_CLUSTERIP, "app=web");
	svc(s, "down", KT_SVC_CLUSTERIP, "app=down");
	struct kt_pod *p = KT_SNAP_PUSH(s, pods);
	p->meta.kind = "Pod";
	p->meta.namespace = "shop";
	p->meta.name = "down-1";
	p->meta.labels = kv(s->arena, "app=down");
	p->phase = "Running";
	ctr(s, &p->spec, "app", 8080, "http");
	ep(s, "down", "10.0.0.9", "n1", false);
	f = run_rules(s, true, NULL);
	k = first(&f, KT_R_KT501);
	T_CHECK(k && !strcmp(k->obj.name, "web") && strstr(k->message, "no running Pod"), "KT501 live: no Pod for web");
	k = first(&f, KT_R_KT503);
	T_CHECK(k && !strcmp(k->obj.name, "down") && strstr(k->message, "1 listed"), "KT503 live: down has no ready endpoint");
	T_CHECK_INT(count(&f, KT_R_KT503, true), 1, "KT503 not repeated when KT501 fired");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static struct kt_workload *ingress_ctl(struct kt_snapshot *s, const char *name, int replicas)
{
	struct kt_workload *w = deploy(s, name, "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller,app.kubernetes.io/instance=x", replicas);
	w->meta.namespace = "ingress";
	return w;
}

static void test_ingress(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	ingress_ctl(s, "bare", 1);
	struct kt_workload *g = ingress_ctl(s, "good", 3);
	g->meta.name = "good";
	g->template_labels = kv(s->arena, "app.kubernetes.io/name=traefik,app=good");
	g->spec.spread = KT_ANEW(s->arena, struct kt_spread, 2);
	g->spec.spread[0].topology_key = "kubernetes.io/hostname";
	g->spec.spread[1].topology_key = "topology.kubernetes.io/zone";
	g->spec.n_spread = 2;
	struct kt_pdb *pdb = KT_SNAP_PUSH(s, pdbs);
	pdb->meta.kind = "PodDisruptionBudget";
	pdb->meta.namespace = "ingress";
	pdb->meta.name = "good";
	pdb->selector.present = true;
	pdb->selector.match_labels = kv(s->arena, "app=good");
	struct kt_workload *backend = deploy(s, "default-backend",
		"app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=default-backend", 1);
	backend->meta.namespace = "ingress";
	struct kt_workload *custom = deploy(s, "edge", "team=edge,role=proxy", 2);
	custom->meta.namespace = "ingress";
	struct kt_findings f = run_rules(s, false, NULL);
	T_CHECK_INT(count(&f, KT_R_KT303, true), 1, "KT303 for the 1-replica controller only");
	T_CHECK_INT(count(&f, KT_R_KT302, true), 1, "KT302 for the controller without PDB (not default-backend)");
	T_CHECK_INT(count(&f, KT_R_KT301, true), 0, "KT301 skipped for 1 replica and quiet with spread");
	kt_findings_release(&f);

	/* --ingress-selector marks "edge"; hostname via required anti-affinity, zone missing */
	for (uint32_t i = 0; i < s->n_workloads; i++) /* finish sorted the array */
		if (!strcmp(s->workloads[i].meta.name, "edge"))
			custom = &s->workloads[i];
	custom->spec.anti_required = KT_ANEW(s->arena, struct kt_affinity_term, 1);
	custom->spec.anti_required[0].topology_key = "kubernetes.io/hostname";
	custom->spec.n_anti_required = 1;
	struct kt_findings f2 = {0};
	struct kt_rules_opts o = {.ingress_selector = "role in (proxy, lb),team=edge"};
	kt_rules_run(s, &o, s->arena, &f2);
	int edge301 = 0;
	for (uint32_t i = 0; i < f2.n; i++)
		if (f2.v[i].rule == KT_R_KT301 && !strcmp(f2.v[i].obj.name, "edge")) {
			edge301++;
			T_CHECK(strstr(f2.v[i].message, "zone") != NULL, "KT301 reports zone separately");
		}
	T_CHECK_INT(edge301, 1, "KT301 once for edge (hostname satisfied by anti-affinity)");
	kt_findings_release(&f2);
	kt_snapshot_free(s);

	/* live KT304: two controller Pods on one node */
	s = kt_snapshot_new();
	ingress_ctl(s, "ctl", 2);
	node(s, "n1", "a");
	node(s, "n2", "b");
	for (int i = 0; i < 2; i++) {
		struct kt_pod *p = KT_SNAP_PUSH(s, pods);
		p->meta.kind = "Pod";
		p->meta.namespace = "ingress";
		p->meta.name = i ? "ctl-b" : "ctl-a";
		p->meta.labels = kv(s->arena, "app.kubernetes.io/name=ingress-nginx");
		p->meta.owners = KT_ANEW(s->arena, struct kt_ownerref, 1);
		p->meta.owners[0] = (struct kt_ownerref){.kind = "Deployment", .name = "ctl", .controller = true};
		p->meta.n_owners = 1;
		p->phase = "Running";
		p->spec.node_name = "n1";
	}
	f = run_rules(s, true, NULL);
	const struct kt_finding *k = first(&f, KT_R_KT304);
	T_CHECK(k && strstr(k->message, "node n1"), "KT304 live: co-located controller Pods");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static void test_suppress(void)
{
	T_CHECK(kt_ignore_lists("KT101,KT201: behind a proxy", KT_R_KT201), "ignore list with reason");
	T_CHECK(!kt_ignore_lists("KT101 # reason KT201", KT_R_KT201), "reason after # is not a rule");
	T_CHECK(kt_ignore_lists("missing-prestop", KT_R_KT201), "ignore by rule name");
	T_CHECK(kt_ignore_lists("all", KT_R_KT404), "ignore all");

	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_workload *w = deploy(s, "web", "app=web", 2);
	w->spec.containers[0].prestop = KT_HOOK_NONE;
	w->template_annotations = kv(s->arena, "ktrace/ignore=KT201: drains itself");
	struct kt_service *v = svc(s, "web", KT_SVC_LOADBALANCER, "app=web");
	v->affinity_client_ip = true;
	v->meta.annotations = kv(s->arena, "ignore-check.ktrace.io/KT404=needed");
	struct kt_rules_config cfg;
	kt_rules_config_init(&cfg);
	cfg.severity[KT_R_KT101] = KT_SEV_ERROR;
	cfg.disabled[KT_R_KT102] = true;
	struct kt_findings f = run_rules(s, false, &cfg);
	T_CHECK_INT(count(&f, KT_R_KT201, true), 1, "KT201 kept in the list");
	T_CHECK_INT(count(&f, KT_R_KT201, false), 0, "KT201 suppressed by the template annotation");
	T_CHECK_INT(count(&f, KT_R_KT404, false), 0, "KT404 suppressed by ignore-check.ktrace.io");
	T_CHECK_INT(count(&f, KT_R_KT102, false), 0, "KT102 disabled by config");
	const struct kt_finding *k = first(&f, KT_R_KT101);
	T_CHECK(k && k->severity == KT_SEV_ERROR && !k->suppressed, "KT101 severity override");
	T_CHECK(f.n && f.v[0].rule == KT_R_KT101, "sorted most severe first");
	kt_findings_release(&f);

	struct kt_rules_exclude ex = {.namespace = "shop", .kind = "Service"};
	cfg.excludes = &ex;
	cfg.n_excludes = 1;
	f = run_rules(s, false, &cfg);
	T_CHECK_INT(count(&f, KT_R_KT101, false), 0, "namespace+kind exclude");
	T_CHECK_INT(count(&f, KT_R_KT203, false) + count(&f, KT_R_KT201, true), 1, "exclude leaves the Deployment alone");
	kt_findings_release(&f);

	/* kt_rules_for_service: only web's findings */
	deploy(s, "other", "app=other", 1)->spec.containers[0].readiness.kind = KT_PROBE_NONE;
	svc(s, "other", KT_SVC_CLUSTERIP, "app=other");
	kt_snapshot_finish(s);
	struct kt_findings g = {0};
	kt_rules_for_service(s, kt_find_service(s, "shop", "web"), NULL, s->arena, &g);
	bool only = g.n > 0;
	for (uint32_t i = 0; i < g.n; i++)
		only = only && !strcmp(g.v[i].obj.name, "web");
	T_CHECK(only, "kt_rules_for_service returns only the Service's findings");
	T_CHECK_INT(count(&g, KT_R_KT101, true), 1, "kt_rules_for_service includes KT101");
	kt_findings_release(&g);
	kt_snapshot_free(s);
}

static void test_selector_parse(void)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_selector sel;
	T_CHECK(kt_parse_label_selector("app=x,tier!=db,env in (a, b),!legacy,role", a, &sel), "parse selector");
	T_CHECK_INT(sel.n_exprs, 5, "five requirements");
	struct kt_kvlist l = kv(a, "app=x,env=b,role=r");
	T_CHECK(kt_selector_match(&sel, &l), "selector matches");
	l = kv(a, "app=x,env=c,role=r");
	T_CHECK(!kt_selector_match(&sel, &l), "selector rejects env=c");
	T_CHECK(!kt_parse_label_selector("", a, &sel), "empty selector rejected");
	kt_arena_free(a);
}

/* False positives seen on real charts (tests/integration/lint_realworld.sh
 * has them end to end). */
static void test_realworld_fp(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	/* per-broker Service selecting one StatefulSet Pod by the label the
	 * StatefulSet controller adds (not in the template) */
	struct kt_workload *sts = deploy(s, "kafka", "app=kafka", 3);
	sts->kind = KT_WL_STATEFULSET;
	sts->meta.kind = "StatefulSet";
	struct kt_service *b0 = svc(s, "kafka-0-external", KT_SVC_LOADBALANCER,
				    "app=kafka,statefulset.kubernetes.io/pod-name=kafka-0");
	b0->etp_local = true;
	svc(s, "kafka-7-typo", KT_SVC_CLUSTERIP, "app=kafka,statefulset.kubernetes.io/pod-name=kafkaa-0");
	/* Pods an operator creates from a custom resource; a Service for Pods
	 * of a namespace without workloads in the input */
	svc(s, "prometheus", KT_SVC_CLUSTERIP, "app.kubernetes.io/name=prometheus,operator.prometheus.io/name=main");
	svc(s, "strimzi", KT_SVC_CLUSTERIP, "strimzi.io/cluster=events");
	struct kt_service *ks = svc(s, "kube-dns-metrics", KT_SVC_CLUSTERIP, "k8s-app=kube-dns");
	ks->meta.namespace = "kube-system";
	/* a web app whose image lives under the traefik/ organisation */
	struct kt_workload *who = deploy(s, "whoami", "app=whoami", 2);
	who->spec.containers[0].image = "docker.io/traefik/whoami:v1.10";
	struct kt_workload *tr = deploy(s, "edge", "app=edge", 2);
	tr->spec.containers[0].image = "docker.io/library/traefik:v3.1@sha256:0123";
	/* Contour's control plane is not in the traffic path (its Envoys are) */
	deploy(s, "contour", "app.kubernetes.io/name=contour,app.kubernetes.io/component=contour", 2);
	/* port names: grpc-web is not HTTP/2-only */
	struct kt_service *gw = svc(s, "web", KT_SVC_CLUSTERIP, "app=whoami");
	gw->ports[0].name = "grpc-web";
	struct kt_findings f = run_rules(s, false, NULL);
	int k501 = 0, k401 = 0, k103 = 0, ing_whoami = 0, ing_edge = 0;
	for (uint32_t i = 0; i < f.n; i++) {
		const struct kt_finding *x = &f.v[i];
		k501 += x->rule == KT_R_KT501;
		k401 += x->rule == KT_R_KT401;
		if (x->rule == KT_R_KT103 && !strcmp(x->obj.name, "kafka-0-external")) {
			k103++;
			T_CHECK(strstr(x->message, "only 1 replica") != NULL, "KT103 counts the one selected Pod");
		}
		if (x->rule == KT_R_KT501)
			T_CHECK_STR(x->obj.name, "kafka-7-typo", "KT501 only for the misspelt Pod name");
		if (x->rule >= KT_R_KT301 && x->rule <= KT_R_KT303) {
			ing_whoami += !strcmp(x->obj.name, "whoami");
			ing_edge += !strcmp(x->obj.name, "edge");
			T_CHECK(strcmp(x->obj.name, "contour") != 0, "no ingress finding for Contour's control plane");
		}
	}
	T_CHECK_INT(k501, 1, "KT501: controller-added labels, operator Pods, foreign namespaces");
	T_CHECK_INT(k103, 1, "pod-name selector resolves to the StatefulSet");
	T_CHECK_INT(k401, 0, "KT401 not for a grpc-web port");
	T_CHECK_INT(ing_whoami, 0, "traefik/whoami is not an ingress controller");
	T_CHECK(ing_edge > 0, "a traefik image (registry, tag, digest) is recognised");
	kt_findings_release(&f);
	kt_snapshot_free(s);
}

static void run(void)
{
	test_kt101();
	test_kt102_live();
	test_kt103();
	test_pod_rules();
	test_kt401_404();
	test_kt50x();
	test_ingress();
	test_suppress();
	test_selector_parse();
	test_realworld_fp();
}

T_MAIN("test_rules")
