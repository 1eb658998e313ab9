/*
 * Unit tests for the imbalance analyzer (metrics, fair share, hot/starved
 * detectors, verdicts, rates from fingerprints), the flow-sample JSON
 * round trip and the ctnetlink parser, all on hand-built inputs.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/inet_diag.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "ktrace/analyze.h"
#include "ktrace/dataplane.h"
#include "ktrace/flows.h"
#include "ktrace/imbalance.h"
#include "ktrace/jsonw.h"
#include "collectors/codec/codec.h"

#define NOW 1700000000

/* lab() without Pod objects (EndpointSlices only), web-4's slice stamped
 * with this last-change-trigger-time (unix ms; 0 none) */
/* Decode every prefix buf[0..cut) for cut = 1, 1+step, ... < len into a
 * fresh sample: truncated dumps must never crash. */
static void parse_cuts(int (*parse)(struct kt_snapshot *, struct kt_flow_sample *, const void *, size_t,
				    struct kt_diag *),
		       const void *buf, size_t len, size_t step)
{
	for (size_t cut = 1; cut < len; cut += step) {
		struct kt_snapshot *t = kt_snapshot_new();
		struct kt_flow_sample *ft = KT_SNAP_PUSH(t, flows);
		ft->node = "x";
		struct kt_diag dd = {0};
		parse(t, ft, buf, cut, &dd);
		kt_snapshot_free(t);
	}
}

static bool lab_no_pods;
static int64_t lab_trigger_ms;

static struct kt_snapshot *lab(int n_eps, int64_t new_ready_age, bool affinity, const char *app_proto)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_arena *a = s->arena;
	struct kt_service *sv = KT_SNAP_PUSH(s, services);
	sv->meta.kind = "Service";
	sv->meta.namespace = "lab";
	sv->meta.name = "web";
	sv->cluster_ips = KT_ANEW(a, const char *, 1);
	sv->cluster_ips[0] = "10.96.0.10";
	sv->n_cluster_ips = 1;
	sv->ports = KT_ANEW(a, struct kt_svc_port, 1);
	sv->n_ports = 1;
	sv->ports[0].name = "http";
	sv->ports[0].protocol = "TCP";
	sv->ports[0].port = 80;
	sv->ports[0].target.num = 8080;
	sv->ports[0].node_port = 30080;
	sv->ports[0].app_protocol = app_proto;
	sv->type = KT_SVC_NODEPORT;
	sv->affinity_client_ip = affinity;
	for (int i = 1; i <= n_eps; i++) {
		struct kt_endpoint *e = KT_SNAP_PUSH(s, endpoints);
		e->namespace = "lab";
		e->service = "web";
		e->slice = "web-x";
		e->port_name = "http";
		e->protocol = "TCP";
		e->ip = kt_arena_printf(a, "10.244.%d.2", i);
		e->port = 8080;
		e->ready = e->serving = true;
		e->target_kind = "Pod";
		e->target_name = kt_arena_printf(a, "web-%d", i);
		e->node = "n1";
		if (lab_no_pods) {
			e->trigger_time = i == 4 ? lab_trigger_ms : 0;
			continue;
		}
		struct kt_pod *p = KT_SNAP_PUSH(s, pods);
		p->meta.kind = "Pod";
		p->meta.namespace = "lab";
		p->meta.name = e->target_name;
		p->ready = true;
		p->ready_since = i == 4 ? NOW - new_ready_age : NOW - 7200;
	}
	kt_snapshot_finish(s);
	return s;
}

static void add_agg(struct kt_flow_sample *fs, const char *vip, int vport, const char *bip, uint32_t est,
		    uint32_t total, uint64_t bytes)
{
	kt_grow(&fs->agg, &fs->n_agg, &fs->cap_agg, sizeof(*fs->agg));
	struct kt_flow_agg *x = &fs->agg[fs->n_agg - 1];
	memset(x, 0, sizeof(*x));
	x->vip = vip;
	x->vport = vport;
	x->protocol = "TCP";
	x->backend_ip = bip;
	x->backend_port = 8080;
	x->established = est;
	x->total = total;
	x->bytes_orig = bytes / 2;
	x->bytes_reply = bytes - bytes / 2;
}

static struct kt_flow_sample *sample(struct kt_snapshot *s, const uint32_t *conns, int n)
{
	struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
	fs->node = "n1";
	fs->source = "conntrack";
	fs->taken_ms = (int64_t)NOW * 1000;
	fs->acct = true;
	static const char *ips[] = {"10.244.1.2", "10.244.2.2", "10.244.3.2", "10.244.4.2", "10.244.5.2"};
	for (int i = 0; i < n; i++)
		if (conns[i])
			add_agg(fs, "10.96.0.10", 80, ips[i], conns[i], conns[i] + 1, 1000 * conns[i]);
	return fs;
}

static const struct kt_imb_backend *be(const struct kt_imb_service *sv, const char *ip)
{
	for (uint32_t i = 0; i < sv->n_be; i++)
		if (!strcmp(sv->be[i].ip, ip))
			return &sv->be[i];
	return NULL;
}

static void test_skew(void)
{
	struct kt_snapshot *s = lab(4, 60, false, NULL);
	uint32_t c[] = {7, 2, 1, 0};
	struct kt_flow_sample *fs = sample(s, c, 4);
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;
	struct kt_imb_opts o = {0};
	T_CHECK_INT(kt_imbalance_analyze(s, fs, NULL, &o, a, &r), 0, "skew: analyze");
	T_CHECK_INT(r->n_svcs, 1, "skew: one service");
	const struct kt_imb_service *sv = &r->svcs[0];
	T_CHECK_INT(sv->connections, 10, "skew: connections");
	T_CHECK_INT(sv->n_be, 4, "skew: four backends incl. the idle one");
	T_CHECK_NEAR(sv->max_over_mean, 2.8, 1e-9, "skew: max/mean");
	T_CHECK_NEAR(sv->cv, 1.0770329614, 1e-6, "skew: cv");
	T_CHECK_NEAR(sv->gini, 0.55, 1e-9, "skew: gini");
	T_CHECK_NEAR(be(sv, "10.244.1.2")->share, 0.7, 1e-9, "skew: share web-1");
	T_CHECK_NEAR(be(sv, "10.244.1.2")->fair_share, 0.25, 1e-9, "skew: fair share 1/n");
	T_CHECK(be(sv, "10.244.1.2")->flags & KT_IMB_HOT, "skew: web-1 hot");
	T_CHECK(!(be(sv, "10.244.2.2")->flags & (KT_IMB_HOT | KT_IMB_STARVED)), "skew: web-2 unflagged");
	T_CHECK(be(sv, "10.244.4.2")->flags & KT_IMB_STARVED, "skew: new web-4 starved");
	T_CHECK_INT(be(sv, "10.244.4.2")->ready_age, 60, "skew: ready age from the Pod");
	T_CHECK_STR(be(sv, "10.244.1.2")->pod, "web-1", "skew: pod name from the EndpointSlice");
	T_CHECK_STR(sv->be[0].ip, "10.244.1.2", "skew: rows sorted by connections");
	T_CHECK_INT(sv->verdict, KT_R_KT403, "skew: verdict KT403");
	T_CHECK(sv->imbalanced, "skew: imbalanced");
	T_CHECK(sv->reason && strstr(sv->reason, "web-4"), "skew: reason names the starved pod");
	T_CHECK(be(sv, "10.244.1.2")->new_per_s < 0, "skew: no rate without a previous sample");

	struct kt_findings f = {0};
	kt_imbalance_result_findings(s, r, a, &f);
	int n402 = 0, n403 = 0;
	for (uint32_t i = 0; i < f.n; i++) {
		n402 += f.v[i].rule == KT_R_KT402;
		n403 += f.v[i].rule == KT_R_KT403;
	}
	T_CHECK_INT(n402, 1, "skew: one KT402 finding");
	T_CHECK_INT(n403, 1, "skew: one KT403 finding");
	T_CHECK_STR(f.v[0].obj.name, "web", "skew: finding names the Service");
	kt_findings_release(&f);

	/* the same through kt_imbalance_findings (ktrace check) */
	struct kt_findings g = {0};
	kt_imbalance_findings(s, a, &g);
	T_CHECK_INT(g.n, 2, "check: KT402 + KT403 from the snapshot's flows");
	kt_findings_release(&g);

	/* thresholds are options */
	o.hot_factor = 3;
	kt_imbalance_analyze(s, fs, NULL, &o, a, &r);
	T_CHECK(!(be(&r->svcs[0], "10.244.1.2")->flags & KT_IMB_HOT), "hot-factor 3: web-1 not hot");
	T_CHECK(!r->svcs[0].imbalanced, "hot-factor 3: not imbalanced");
	o.hot_factor = 0;
	o.starved_age = 30;
	kt_imbalance_analyze(s, fs, NULL, &o, a, &r);
	T_CHECK(!(be(&r->svcs[0], "10.244.4.2")->flags & KT_IMB_STARVED), "starved-age 30: ready 60s is not new");
	T_CHECK_INT(r->svcs[0].verdict, KT_R_KT402, "starved-age 30: verdict KT402");
	kt_arena_free(a);
	kt_snapshot_free(s);
}

static void test_even(void)
{
	struct kt_snapshot *s = lab(4, 7200, false, NULL);
	uint32_t c[] = {5, 5, 5, 5};
	struct kt_flow_sample *fs = sample(s, c, 4);
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;
	kt_imbalance_analyze(s, fs, NULL, NULL, a, &r);
	const struct kt_imb_service *sv = &r->svcs[0];
	T_CHECK_NEAR(sv->max_over_mean, 1.0, 1e-9, "even: max/mean 1");
	T_CHECK_NEAR(sv->cv, 0.0, 1e-9, "even: cv 0");
	T_CHECK_NEAR(sv->gini, 0.0, 1e-9, "even: gini 0");
	T_CHECK_INT(sv->n_hot + sv->n_starved, 0, "even: no flags");
	T_CHECK_INT(sv->verdict, KT_RULE_COUNT, "even: no verdict");
	T_CHECK_NEAR(sv->score, 0.0, 1e-9, "even: score 0");

	/* too few connections: no verdict even when skewed */
	struct kt_snapshot *s2 = lab(3, 7200, false, NULL);
	uint32_t c2[] = {3, 0, 0};
	struct kt_flow_sample *fs2 = sample(s2, c2, 3);
	kt_imbalance_analyze(s2, fs2, NULL, NULL, a, &r);
	T_CHECK_INT(r->svcs[0].verdict, KT_RULE_COUNT, "min-connections: no verdict for 3");
	struct kt_imb_opts o = {.min_conns = 2};
	kt_imbalance_analyze(s2, fs2, NULL, &o, a, &r);
	T_CHECK_INT(r->svcs[0].verdict, KT_R_KT402, "min-connections 2: KT402");
	kt_arena_free(a);
	kt_snapshot_free(s);
	kt_snapshot_free(s2);
}

static void test_causes(void)
{
	uint32_t c[] = {8, 1, 1};
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;

	struct kt_snapshot *s = lab(3, 7200, true, NULL);
	kt_imbalance_analyze(s, sample(s, c, 3), NULL, NULL, a, &r);
	T_CHECK_INT(r->svcs[0].verdict, KT_R_KT404, "affinity: verdict KT404");
	T_CHECK(r->svcs[0].affinity, "affinity: flagged");
	kt_snapshot_free(s);

	s = lab(3, 7200, false, "kubernetes.io/h2c");
	kt_imbalance_analyze(s, sample(s, c, 3), NULL, NULL, a, &r);
	T_CHECK_INT(r->svcs[0].verdict, KT_R_KT401, "h2c port: verdict KT401");
	kt_snapshot_free(s);

	/* old connections dominate: long-lived */
	s = lab(3, 7200, false, NULL);
	struct kt_flow_sample *fs = sample(s, c, 3);
	fs->timestamps = true;
	fs->agg[0].older_10m = 8;
	kt_imbalance_analyze(s, fs, NULL, NULL, a, &r);
	T_CHECK_INT(r->svcs[0].verdict, KT_R_KT401, "old connections: verdict KT401");
	T_CHECK_INT(r->older_10m, 8, "ages: older than 10m counted");
	kt_snapshot_free(s);
	kt_arena_free(a);
}

static void test_rates(void)
{
	uint64_t p[] = {1, 2, 3}, q[] = {2, 3, 4, 5};
	struct kt_flow_agg pa = {.fp = p, .n_fp = 3}, ca = {.fp = q, .n_fp = 4};
	T_CHECK_INT(kt_imb_new_conns(&ca, &pa), 2, "fingerprints: 2 new");
	T_CHECK_INT(kt_imb_new_conns(&ca, NULL), 4, "fingerprints: all new without prev");
	T_CHECK_INT(kt_imb_new_conns(&pa, &pa), 0, "fingerprints: none new");

	struct kt_snapshot *s = lab(2, 7200, false, NULL);
	uint32_t c1[] = {2, 2};
	struct kt_flow_sample *f1 = sample(s, c1, 2);
	f1->agg[0].fp = p;
	f1->agg[0].n_fp = 3;
	struct kt_flow_sample prev = *f1;
	/* prev must not move when flows grows: copy its aggregates */
	struct kt_flow_agg pagg[2];
	memcpy(pagg, f1->agg, sizeof(pagg));
	prev.agg = pagg;
	struct kt_snapshot *s2 = lab(2, 7200, false, NULL);
	uint32_t c2[] = {3, 2};
	struct kt_flow_sample *f2 = sample(s2, c2, 2);
	f2->taken_ms = prev.taken_ms + 2000;
	f2->agg[0].fp = q;
	f2->agg[0].n_fp = 4;
	f2->agg[0].bytes_orig += 500;
	f2->agg[0].bytes_reply += 500;
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;
	kt_imbalance_analyze(s2, f2, &prev, NULL, a, &r);
	T_CHECK_NEAR(r->sample_s, 2.0, 1e-9, "rates: sample seconds");
	const struct kt_imb_backend *b = be(&r->svcs[0], "10.244.1.2");
	T_CHECK_NEAR(b->new_per_s, 1.0, 1e-9, "rates: 2 new in 2 s");
	T_CHECK_NEAR(b->bytes_per_s, (4000 - 2000) / 2.0, 1e-9, "rates: bytes/s from the counter delta");
	T_CHECK_NEAR(b->bytes_in_per_s, (2000 - 1000) / 2.0, 1e-9, "rates: bytes in/s");
	T_CHECK_NEAR(b->bytes_out_per_s, (2000 - 1000) / 2.0, 1e-9, "rates: bytes out/s");
	kt_arena_free(a);
	kt_snapshot_free(s);
	kt_snapshot_free(s2);
}

static void test_dataplane_weights_and_frontends(void)
{
	struct kt_snapshot *s = lab(3, 7200, false, NULL);
	struct kt_arena *a = s->arena;
	struct kt_dp_node *dn = KT_SNAP_PUSH(s, dp);
	dn->node = "n1";
	dn->modes = 1u << KT_DP_IPVS;
	dn->svcs = calloc(1, sizeof(*dn->svcs));
	dn->n_svcs = dn->cap_svcs = 1;
	struct kt_dp_service *ds = &dn->svcs[0];
	ds->namespace = "lab";
	ds->name = "web";
	ds->port_name = "http";
	ds->protocol = "TCP";
	ds->mode = KT_DP_IPVS;
	ds->fe = KT_ANEW(a, struct kt_dp_frontend, 2);
	ds->n_fe = 2;
	ds->fe[0] = (struct kt_dp_frontend){.kind = KT_FE_CLUSTERIP, .ip = "10.96.0.10", .port = 80, .protocol = "TCP"};
	ds->fe[1] = (struct kt_dp_frontend){.kind = KT_FE_NODEPORT, .ip = "", .port = 30080, .protocol = "TCP", .external = true};
	ds->be = KT_ANEW(a, struct kt_dp_backend, 3);
	ds->n_be = 3;
	ds->be[0] = (struct kt_dp_backend){.ip = "10.244.1.2", .port = 8080, .probability = 0.5};
	ds->be[1] = (struct kt_dp_backend){.ip = "10.244.2.2", .port = 8080, .probability = 0.25};
	ds->be[2] = (struct kt_dp_backend){.ip = "10.244.3.2", .port = 8080, .probability = 0.25};
	kt_snapshot_finish(s);
	struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
	fs->node = "n1";
	fs->source = "conntrack";
	fs->taken_ms = (int64_t)NOW * 1000;
	add_agg(fs, "10.96.0.10", 80, "10.244.1.2", 4, 4, 0);
	add_agg(fs, "192.168.1.5", 30080, "10.244.2.2", 2, 2, 0);   /* NodePort on a node IP */
	add_agg(fs, "10.96.0.10", 80, "10.244.3.2", 2, 2, 0);
	add_agg(fs, "10.96.0.10", 80, "10.244.9.9", 1, 1, 0);       /* stale backend */
	add_agg(fs, "10.96.0.99", 80, "10.244.1.2", 5, 5, 0);       /* not a Service frontend */
	struct kt_arena *ra = kt_arena_new();
	struct kt_imb_result *r = NULL;
	kt_imbalance_analyze(s, fs, NULL, NULL, ra, &r);
	T_CHECK_STR(r->mode, "ipvs", "dp: mode from the node");
	T_CHECK_INT(r->n_svcs, 1, "dp: one service");
	const struct kt_imb_service *sv = &r->svcs[0];
	T_CHECK_STR(sv->mode, "ipvs", "dp: service joined through the dataplane");
	T_CHECK_INT(sv->connections, 9, "dp: nodeport + clusterIP joined, foreign VIP ignored");
	T_CHECK_NEAR(be(sv, "10.244.1.2")->fair_share, 0.5, 1e-9, "dp: fair share from weights");
	T_CHECK_NEAR(be(sv, "10.244.2.2")->fair_share, 0.25, 1e-9, "dp: fair share from weights (2)");
	T_CHECK(be(sv, "10.244.9.9") && (be(sv, "10.244.9.9")->flags & KT_IMB_UNKNOWN), "dp: stale backend flagged unknown");
	T_CHECK_NEAR(be(sv, "10.244.9.9")->fair_share, 0.0, 1e-9, "dp: stale backend has no fair share");
	T_CHECK(!sv->imbalanced, "dp: weighted shares are fair");
	kt_arena_free(ra);
	kt_snapshot_free(s);
}

static int sink(void *ctx, const char *buf, size_t len)
{
	char **p = ctx;
	size_t n = *p ? strlen(*p) : 0;
	char *q = realloc(*p, n + len + 1);
	if (!q)
		return -1;
	memcpy(q + n, buf, len);
	q[n + len] = 0;
	*p = q;
	return 0;
}

static void test_json_roundtrip(void)
{
	struct kt_snapshot *s = lab(2, 7200, false, NULL);
	uint32_t c[] = {3, 1};
	struct kt_flow_sample *fs = sample(s, c, 2);
	fs->timestamps = true;
	fs->entries_seen = 1234;
	fs->agg[1].older_1m = 1;
	fs->agg[1].zone = 7;
	fs->agg[1].src = KT_FLOW_CILIUM;
	char *text = NULL;
	struct kt_jw *w = kt_jw_new_sink(sink, &text, false);
	kt_flow_sample_to_json(w, fs);
	kt_jw_free(w);
	T_CHECK(text && strstr(text, "\"backendIP\":\"10.244.1.2\""), "json: written");
	cJSON *j = cJSON_Parse(text);
	struct kt_snapshot *t = kt_snapshot_new();
	struct kt_diag d = {0};
	T_CHECK_INT(kt_flow_sample_from_json(t, j, &d), 0, "json: read back");
	T_CHECK_INT(t->n_flows, 1, "json: one sample");
	const struct kt_flow_sample *g = &t->flows[0];
	T_CHECK_STR(g->node, "n1", "json: node");
	T_CHECK(g->acct && g->timestamps, "json: flags");
	T_CHECK_INT(g->entries_seen, 1234, "json: entries");
	T_CHECK_INT(g->n_agg, 2, "json: aggregates");
	T_CHECK_INT(g->agg[0].established, 3, "json: established");
	T_CHECK_INT(g->agg[0].bytes_orig + g->agg[0].bytes_reply, 3000, "json: bytes");
	T_CHECK_INT(g->agg[1].zone, 7, "json: zone");
	T_CHECK_INT(g->agg[1].src, KT_FLOW_CILIUM, "json: source");
	T_CHECK_INT(g->agg[1].older_1m, 1, "json: ages");
	cJSON_Delete(j);
	/* bad shapes */
	const char *bad[] = {"[]", "{\"flows\":[]}", "{\"node\":\"x\",\"flows\":{}}",
			     "{\"node\":\"x\",\"flows\":[{\"vip\":\"1.2.3.4\"}]}",
			     "{\"node\":\"x\",\"flows\":[{\"vip\":\"a\",\"backendIP\":\"b\",\"vport\":-1}]}",
			     "{\"node\":\"x\",\"flows\":[{\"vip\":\"a\",\"backendIP\":\"b\",\"total\":\"7\"}]}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *b = cJSON_Parse(bad[i]);
		struct kt_diag bd = {0};
		int rc = kt_flow_sample_from_json(t, b, &bd);
		T_CHECK(rc == -KT_EXIT_INPUT && bd.code == KT_EXIT_INPUT, bad[i]);
		cJSON_Delete(b);
	}
	free(text);
	kt_snapshot_free(t);
	kt_snapshot_free(s);
}

/* A ctnetlink CT_NEW message as the kernel sends it. */
static size_t ct_msg(char *buf, const char *osrc, const char *odst, uint16_t sport, uint16_t dport,
		     const char *rsrc, uint16_t rsport, uint8_t state, uint64_t bytes)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	nlh->nlmsg_flags = NLM_F_MULTI;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	bool v6 = strchr(osrc, ':') != NULL;
	int fam = v6 ? AF_INET6 : AF_INET, alen = v6 ? 16 : 4;
	int asrc = v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, adst = v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST;
	g->nfgen_family = (uint8_t)fam;
	unsigned char x[16];
	struct nlattr *t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	inet_pton(fam, osrc, x);
	mnl_attr_put(nlh, asrc, alen, x);
	inet_pton(fam, odst, x);
	mnl_attr_put(nlh, adst, alen, x);
	mnl_attr_nest_end(nlh, ip);
	struct nlattr *pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, 6);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, pr);
	mnl_attr_nest_end(nlh, t);
	t = mnl_attr_nest_start(nlh, CTA_TUPLE_REPLY);
	ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	inet_pton(fam, rsrc, x);
	mnl_attr_put(nlh, asrc, alen, x);
	inet_pton(fam, osrc, x);
	mnl_attr_put(nlh, adst, alen, x);
	mnl_attr_nest_end(nlh, ip);
	pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, 6);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(rsport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(sport));
	mnl_attr_nest_end(nlh, pr);
	mnl_attr_nest_end(nlh, t);
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(0x1ae));
	struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
	struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
	mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, state);
	mnl_attr_nest_end(nlh, tcp);
	mnl_attr_nest_end(nlh, pi);
	struct nlattr *cn = mnl_attr_nest_start(nlh, CTA_COUNTERS_ORIG);
	mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(bytes));
	mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(3));
	mnl_attr_nest_end(nlh, cn);
	return nlh->nlmsg_len;
}

static void test_conntrack_parse(void)
{
	char *buf = calloc(1, 16384);
	size_t off = 0;
	off += ct_msg(buf + off, "10.1.0.5", "10.96.0.10", 40000, 80, "10.244.1.2", 8080, 3, 100);
	off += ct_msg(buf + off, "10.1.0.5", "10.96.0.10", 40001, 80, "10.244.1.2", 8080, 7, 50);
	off += ct_msg(buf + off, "10.1.0.6", "10.96.0.10", 40002, 80, "10.244.2.2", 8080, 3, 10);
	off += ct_msg(buf + off, "10.1.0.6", "8.8.8.8", 40003, 53, "8.8.8.8", 53, 3, 10);  /* not DNAT'ed */
	off += ct_msg(buf + off, "fd00::5", "fd00:96::10", 40004, 80, "fd00:244::2", 8080, 3, 10);
	struct nlmsghdr *done = mnl_nlmsg_put_header(buf + off);
	done->nlmsg_type = NLMSG_DONE;
	off += done->nlmsg_len;
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
	fs->node = "n1";
	struct kt_diag d = {0};
	T_CHECK_INT(kt_conntrack_parse(s, fs, buf, off, &d), 0, "ct: parse");
	T_CHECK_INT(fs->entries_seen, 5, "ct: every entry walked");
	T_CHECK_INT(fs->n_agg, 3, "ct: three (frontend, backend) aggregates, one IPv6");
	bool v6ok = false;
	for (uint32_t i = 0; i < fs->n_agg; i++)
		if (!strcmp(fs->agg[i].vip, "fd00:96::10") && !strcmp(fs->agg[i].backend_ip, "fd00:244::2") &&
		    fs->agg[i].established == 1 && fs->agg[i].vport == 80)
			v6ok = true;
	T_CHECK(v6ok, "ct: IPv6 entry aggregated");
	T_CHECK(fs->acct, "ct: counters seen");
	const struct kt_flow_agg *a1 = NULL;
	for (uint32_t i = 0; i < fs->n_agg; i++)
		if (!strcmp(fs->agg[i].backend_ip, "10.244.1.2"))
			a1 = &fs->agg[i];
	T_CHECK(a1 != NULL, "ct: backend from the reply source");
	if (a1) {
		T_CHECK_STR(a1->vip, "10.96.0.10", "ct: VIP from the original destination");
		T_CHECK_INT(a1->vport, 80, "ct: VIP port");
		T_CHECK_INT(a1->backend_port, 8080, "ct: backend port");
		T_CHECK_INT(a1->established, 1, "ct: one established");
		T_CHECK_INT(a1->total, 2, "ct: two in any state");
		T_CHECK_INT(a1->bytes_orig, 150, "ct: bytes summed");
		T_CHECK_INT(a1->n_fp, 2, "ct: one fingerprint per entry");
	}
	/* truncation and garbage never crash; a short buffer is an input error */
	parse_cuts(kt_conntrack_parse, buf, off, 7);
	T_CHECK(1, "ct: truncated buffers survive");
	free(buf);
	kt_snapshot_free(s);
}

/* No Pods readable: ready ages from the EndpointSlice trigger time, else
 * from when the session first saw the endpoint; the source is reported. */
static void test_fallback_ages(void)
{
	lab_no_pods = true;
	lab_trigger_ms = (int64_t)(NOW - 45) * 1000;
	struct kt_snapshot *s = lab(4, 0, false, NULL);
	lab_no_pods = false;
	lab_trigger_ms = 0;
	T_CHECK_INT(s->n_pods, 0, "fallback: no pods");
	uint32_t c[] = {7, 2, 1, 0};
	struct kt_flow_sample *fs = sample(s, c, 4);
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;
	kt_imbalance_analyze(s, fs, NULL, NULL, a, &r);
	const struct kt_imb_service *sv = &r->svcs[0];
	const struct kt_imb_backend *w4 = be(sv, "10.244.4.2"), *w1 = be(sv, "10.244.1.2");
	T_CHECK_INT(w4->ready_age, 45, "fallback: web-4 age from the slice trigger time");
	T_CHECK_INT(w4->age_src, KT_IMB_AGE_SLICE, "fallback: source endpointslice");
	T_CHECK_STR(kt_imb_age_src_name(w4->age_src), "endpointslice-trigger-time", "fallback: source name");
	T_CHECK(w4->flags & KT_IMB_STARVED, "fallback: web-4 starved");
	T_CHECK_INT(w1->ready_age, -1, "fallback: web-1 age unknown");
	T_CHECK_INT(w1->age_src, KT_IMB_AGE_NONE, "fallback: web-1 no source");
	T_CHECK(sv->reason && strstr(sv->reason, "last-change-trigger-time"), "fallback: the verdict says where the age came from");
	T_CHECK(sv->age_srcs & (1u << KT_IMB_AGE_SLICE), "fallback: service records the sources");
	struct kt_findings f = {0};
	kt_imbalance_result_findings(s, r, a, &f);
	bool said = false;
	for (uint32_t i = 0; i < f.n; i++)
		if (f.v[i].rule == KT_R_KT403 && strstr(f.v[i].message, "last-change-trigger-time"))
			said = true;
	T_CHECK(said, "fallback: the KT403 finding says so");
	kt_findings_release(&f);

	/* the session saw web-4 before the slice changed: the change was
	 * someone else's, and web-4 was there at the start: unknown */
	struct kt_imb_seen seen[] = {
		{"10.244.1.2", 8080, NOW - 600}, {"10.244.2.2", 8080, NOW - 600},
		{"10.244.3.2", 8080, NOW - 20}, {"10.244.4.2", 8080, NOW - 600},
	};
	/* sorted by (port, ip) */
	struct kt_imb_opts o = {.seen = seen, .n_seen = 4, .session_start = NOW - 600};
	kt_imbalance_analyze(s, fs, NULL, &o, a, &r);
	sv = &r->svcs[0];
	T_CHECK_INT(be(sv, "10.244.4.2")->ready_age, -1, "first-seen: present at the start, older than the trigger: unknown");
	T_CHECK(!(be(sv, "10.244.4.2")->flags & KT_IMB_STARVED), "first-seen: not starved without an age");
	/* web-3 appeared 20 s ago during the session: first-seen age */
	T_CHECK_INT(be(sv, "10.244.3.2")->ready_age, 20, "first-seen: web-3 age");
	T_CHECK_INT(be(sv, "10.244.3.2")->age_src, KT_IMB_AGE_SEEN, "first-seen: source");
	T_CHECK(be(sv, "10.244.3.2")->flags & KT_IMB_STARVED, "first-seen: web-3 (1 of 10, fair 25%) starved");
	T_CHECK(sv->reason && strstr(sv->reason, "first seen by ktrace"), "first-seen: the verdict says so");
	T_CHECK_INT(be(sv, "10.244.1.2")->ready_age, -1, "first-seen: web-1 present at the start: unknown");
	/* web-4 first seen 30 s ago (after the session began), slice trigger 45 s ago: the trigger */
	seen[3].first_seen = NOW - 30;
	kt_imbalance_analyze(s, fs, NULL, &o, a, &r);
	T_CHECK_INT(be(&r->svcs[0], "10.244.4.2")->ready_age, 45, "first-seen after the trigger: the trigger wins");
	kt_arena_free(a);
	kt_snapshot_free(s);
}

/* One SOCK_DIAG_BY_FAMILY message: IPv4 TCP socket in state st, with a
 * tcp_info carrying bytes_acked / bytes_received; info_len 0: no INFO. */
static size_t sd_msg(char *buf, uint8_t st, const char *src, int sport, const char *dst, int dport,
		     uint64_t acked, uint64_t received, size_t info_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	struct inet_diag_msg *m = mnl_nlmsg_put_extra_header(nlh, sizeof(*m));
	m->idiag_family = AF_INET;
	m->idiag_state = st;
	m->id.idiag_sport = htons((uint16_t)sport);
	m->id.idiag_dport = htons((uint16_t)dport);
	inet_pton(AF_INET, src, m->id.idiag_src);
	inet_pton(AF_INET, dst, m->id.idiag_dst);
	if (info_len) {
		struct tcp_info ti;
		memset(&ti, 0, sizeof(ti));
		ti.tcpi_bytes_acked = acked;
		ti.tcpi_bytes_received = received;
		ti.tcpi_rtt = 2000;
		mnl_attr_put(nlh, INET_DIAG_INFO, info_len < sizeof(ti) ? info_len : sizeof(ti), &ti);
	}
	return nlh->nlmsg_len;
}

static void test_sockdiag_parse(void)
{
	char *buf = calloc(1, 16384);
	size_t off = 0;
	/* a listener on :30080, two server sockets, one client of a ClusterIP
	 * (no conntrack lookups in replay: the peer is its backend), one
	 * socket with a short tcp_info (an old kernel: no byte counters) */
	off += sd_msg(buf + off, 10, "0.0.0.0", 30080, "0.0.0.0", 0, 0, 0, 0);
	off += sd_msg(buf + off, 1, "10.77.0.1", 30080, "10.77.0.2", 40000, 900, 300, 232);
	off += sd_msg(buf + off, 1, "10.77.0.1", 30080, "10.77.0.2", 40001, 100, 30, 232);
	off += sd_msg(buf + off, 1, "10.77.0.1", 41000, "10.96.0.10", 80, 55, 77, 232);
	off += sd_msg(buf + off, 6, "10.77.0.1", 30080, "10.77.0.2", 40002, 0, 0, 100);
	struct nlmsghdr *done = mnl_nlmsg_put_header(buf + off);
	done->nlmsg_type = NLMSG_DONE;
	off += done->nlmsg_len;
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
	fs->node = "n1";
	struct kt_diag d = {0};
	T_CHECK_INT(kt_sockdiag_parse(s, fs, buf, off, &d), 0, "sd: parse");
	T_CHECK_INT(fs->entries_seen, 4, "sd: four non-listening sockets");
	T_CHECK_INT(fs->n_agg, 2, "sd: server and client aggregates");
	const struct kt_flow_agg *srv = NULL, *cli = NULL;
	for (uint32_t i = 0; i < fs->n_agg; i++) {
		if (fs->agg[i].vport == 30080)
			srv = &fs->agg[i];
		if (fs->agg[i].vport == 80)
			cli = &fs->agg[i];
	}
	T_CHECK(srv && cli, "sd: both found");
	if (srv && cli) {
		T_CHECK_STR(srv->vip, "10.77.0.1", "sd: server keyed by the local address");
		T_CHECK_INT(srv->established, 2, "sd: two established server sockets");
		T_CHECK_INT(srv->total, 3, "sd: TIME_WAIT counted in total");
		T_CHECK_INT(srv->bytes_orig, 330, "sd: server bytes in = bytes_received");
		T_CHECK_INT(srv->bytes_reply, 1000, "sd: server bytes out = bytes_acked");
		T_CHECK_NEAR(srv->rtt_ms, 2.0, 1e-9, "sd: rtt in ms");
		T_CHECK_STR(cli->vip, "10.96.0.10", "sd: client keyed by its peer");
		T_CHECK_INT(cli->bytes_orig, 55, "sd: client bytes in = bytes_acked");
		T_CHECK_INT(cli->bytes_reply, 77, "sd: client bytes out = bytes_received");
		T_CHECK_INT(cli->src, KT_FLOW_SOCKET, "sd: source inet_diag");
	}
	T_CHECK_STR(fs->source, "inet_diag", "sd: sample source");
	/* truncations and an error message never crash */
	parse_cuts(kt_sockdiag_parse, buf, off, 5);
	T_CHECK(1, "sd: truncated buffers survive");
	free(buf);
	kt_snapshot_free(s);
}

/* Event mode: new connections from NEW-event counts (also those already
 * closed: an aggregate with no open entry), byte rates from the collector's
 * dumps, not from counter deltas between samples. */
static void test_event_rates(void)
{
	struct kt_snapshot *s = lab(2, 7200, false, NULL);
	uint32_t c1[] = {2, 2};
	struct kt_flow_sample *f1 = sample(s, c1, 2);
	f1->events = true;
	struct kt_flow_sample prev = *f1;
	struct kt_flow_agg pagg[2];
	memcpy(pagg, f1->agg, sizeof(pagg));
	prev.agg = pagg;
	struct kt_snapshot *s2 = lab(2, 7200, false, NULL);
	uint32_t c2[] = {2, 0};
	struct kt_flow_sample *f2 = sample(s2, c2, 2);
	f2->events = true;
	f2->taken_ms = prev.taken_ms + 4000;
	f2->agg[0].opened = 6;
	f2->agg[0].rate_orig = 100;
	f2->agg[0].rate_reply = 300;
	/* unchanged counters: the sample-to-sample delta would say 0 B/s */
	f2->agg[0].bytes_orig = pagg[0].bytes_orig;
	f2->agg[0].bytes_reply = pagg[0].bytes_reply;
	add_agg(f2, "10.96.0.10", 80, "10.244.2.2", 0, 0, 0);   /* opened and closed in between */
	f2->agg[1].opened = 2;
	f2->agg[1].rate_orig = f2->agg[1].rate_reply = -1;      /* not measured yet */
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;
	kt_imbalance_analyze(s2, f2, &prev, NULL, a, &r);
	const struct kt_imb_backend *b1 = be(&r->svcs[0], "10.244.1.2"), *b2 = be(&r->svcs[0], "10.244.2.2");
	T_CHECK(b1 && b2, "events: both backends present");
	if (b1 && b2) {
		T_CHECK_NEAR(b1->new_per_s, 1.5, 1e-9, "events: 6 opened in 4 s");
		T_CHECK_NEAR(b2->new_per_s, 0.5, 1e-9, "events: opened and closed still count");
		T_CHECK_NEAR(b1->bytes_in_per_s, 100, 1e-9, "events: bytes in/s from the collector");
		T_CHECK_NEAR(b1->bytes_out_per_s, 300, 1e-9, "events: bytes out/s from the collector");
		T_CHECK_NEAR(b2->bytes_per_s, -1, 1e-9, "events: a rate not measured yet is unknown (null), not 0");
		T_CHECK_NEAR(r->svcs[0].bytes_per_s, 400, 1e-9, "events: the Service's rate from the backends that have one");
	}
	/* one full dump so far (imbalance --once): no byte rate is known */
	f2->agg[0].rate_orig = f2->agg[0].rate_reply = -1;
	r = NULL;
	kt_imbalance_analyze(s2, f2, &prev, NULL, a, &r);
	b1 = be(&r->svcs[0], "10.244.1.2");
	T_CHECK(b1 && b1->bytes_per_s < 0 && b1->bytes_in_per_s < 0 && r->svcs[0].bytes_per_s < 0 &&
		b1->new_per_s > 1.4, "events after one dump: bytes/s unknown, new/s from NEW events");
	kt_arena_free(a);
	kt_snapshot_free(s);
	kt_snapshot_free(s2);
}

/* The event-mode table: 20,000 NEW events over 4 backends, UPDATEs to
 * ESTABLISHED for some, DESTROYs for a shuffled two thirds (the hash
 * table's deletes with backward shift), then the sample must count exactly
 * the model's survivors; NEW counts are per sample. */
static void test_live_table(void)
{
	enum { N = 20000 };
	static const char *bes[] = {"10.244.1.2", "10.244.2.2", "10.244.3.2", "10.244.4.2"};
	char *buf = malloc((size_t)N * 256);
	uint32_t *order = malloc(N * sizeof(*order));
	bool *alive = calloc(N, 1), *est = calloc(N, 1);
	struct kt_ct_live *l = kt_ct_live_new(10);
	char ip[32];
	size_t off = 0;
	for (int i = 0; i < N; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250 + 1);
		size_t n = ct_msg(buf + off, ip, "10.96.0.10", (uint16_t)(20000 + i % 30000), 80, bes[i % 4], 8080, 1, 0);
		((struct nlmsghdr *)(buf + off))->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
		off += n;
		alive[i] = true;
	}
	kt_ct_live_apply(l, buf, off, NOW);
	off = 0;
	for (int i = 0; i < N; i += 3) {   /* UPDATE: now ESTABLISHED */
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250 + 1);
		off += ct_msg(buf + off, ip, "10.96.0.10", (uint16_t)(20000 + i % 30000), 80, bes[i % 4], 8080, 3, 0);
		est[i] = true;
	}
	kt_ct_live_apply(l, buf, off, NOW);
	for (uint32_t i = 0; i < N; i++)
		order[i] = i;
	uint32_t seed = 12345;
	for (uint32_t i = N - 1; i > 0; i--) {
		seed = seed * 1103515245u + 12345u;
		uint32_t j = (seed >> 8) % (i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	off = 0;
	for (uint32_t k = 0; k < N * 2 / 3; k++) {
		uint32_t i = order[k];
		snprintf(ip, sizeof(ip), "10.1.%u.%u", i / 250, i % 250 + 1);
		size_t n = ct_msg(buf + off, ip, "10.96.0.10", (uint16_t)(20000 + i % 30000), 80, bes[i % 4], 8080, 7, 0);
		((struct nlmsghdr *)(buf + off))->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
		off += n;
		alive[i] = false;
	}
	kt_ct_live_apply(l, buf, off, NOW);
	uint32_t want_tot[4] = {0}, want_est[4] = {0};
	for (int i = 0; i < N; i++)
		if (alive[i]) {
			want_tot[i % 4]++;
			want_est[i % 4] += est[i];
		}
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
	fs->node = "n1";
	fs->taken_ms = (int64_t)NOW * 1000;
	kt_ct_live_sample(l, s, fs);
	T_CHECK(fs->events, "live: sample marked as event mode");
	T_CHECK_INT(fs->n_agg, 4, "live: four aggregates");
	bool ok = fs->n_agg == 4;
	for (uint32_t a = 0; a < fs->n_agg; a++) {
		int b = -1;
		for (int k = 0; k < 4; k++)
			if (!strcmp(fs->agg[a].backend_ip, bes[k]))
				b = k;
		if (b < 0 || fs->agg[a].total != want_tot[b] || fs->agg[a].established != want_est[b] ||
		    fs->agg[a].opened != N / 4)
			ok = false;
	}
	T_CHECK(ok, "live: survivors, established and opened per backend equal the model after 13,333 deletes");
	struct kt_flow_sample *fs2 = KT_SNAP_PUSH(s, flows);
	fs2->node = "n1";
	kt_ct_live_sample(l, s, fs2);
	uint32_t opened = 0;
	for (uint32_t a = 0; a < fs2->n_agg; a++)
		opened += fs2->agg[a].opened;
	T_CHECK_INT(opened, 0, "live: opened counts restart per sample");
	/* garbage and truncation never crash */
	/* truncated buffers of DESTROYs already applied: no crash, no change */
	for (size_t cut = 1; cut < 4096 && cut < off; cut += 13)
		kt_ct_live_apply(l, buf, cut, NOW);
	struct kt_flow_sample *fs3 = KT_SNAP_PUSH(s, flows);
	fs3->node = "n1";
	kt_ct_live_sample(l, s, fs3);
	uint32_t tot3 = 0, want3 = 0;
	for (uint32_t a = 0; a < fs3->n_agg; a++)
		tot3 += fs3->agg[a].total;
	for (int k = 0; k < 4; k++)
		want3 += want_tot[k];
	T_CHECK_INT(tot3, want3, "live: truncated event buffers change nothing");
	kt_snapshot_free(s);
	kt_ct_live_free(l);
	free(buf);
	free(order);
	free(alive);
	free(est);
}

static void run(void)
{
	test_live_table();
	test_event_rates();
	test_sockdiag_parse();
	test_fallback_ages();
	test_skew();
	test_even();
	test_causes();
	test_rates();
	test_dataplane_weights_and_frontends();
	test_json_roundtrip();
	test_conntrack_parse();
}

T_MAIN("test_imbalance")
