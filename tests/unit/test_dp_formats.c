/* Unit tests for the other dataplane readers and the JSON shape: IPVS
 * generic netlink messages crafted to the uapi layout, ipvsadm-save text,
 * Cilium map entries (v1.19 layout, two scopes, affinity, quarantine),
 * `nft -j list ruleset` JSON, kube-proxy Prometheus metrics, the
 * dataplane JSON round trip through a bundle, and the KT601/602/603 diff. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/genetlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include "collectors/dataplane/dp_internal.h"
#include "harness.h"
#include "ktrace/analyze.h"
#include "ktrace/bundle.h"
#include "ktrace/jsonw.h"
#include "collectors/codec/codec.h"

static const struct kt_dp_service *find(const struct kt_dp_node *n, const char *ns, const char *name,
					const char *port)
{
	for (uint32_t i = 0; n && i < n->n_svcs; i++)
		if (!strcmp(n->svcs[i].namespace, ns) && !strcmp(n->svcs[i].name, name) &&
		    !strcmp(n->svcs[i].port_name, port))
			return &n->svcs[i];
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	return t_slurp(path, 1 << 22, len);
}

static struct kt_snapshot *fixture_api(void)
{
	size_t l;
	char *b = slurp("tests/fixtures/dataplane/bundle.json", &l);
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	if (!b || kt_bundle_load_mem("bundle.json", b, l, &s, &d) < 0)
		printf("# bundle: %s\n", d.msg);
	free(b);
	return s;
}

/* ---- IPVS genl ------------------------------------------------------ */

struct mb {
	uint8_t b[4096];
	size_t n;
};

static size_t attr(uint8_t *p, uint16_t type, const void *d, uint16_t len)
{
	uint16_t al = (uint16_t)(4 + len);
	memcpy(p, &al, 2);
	memcpy(p + 2, &type, 2);
	memcpy(p + 4, d, len);
	return NLA_ALIGN(al);
}

static void msg(struct mb *m, uint16_t fam, uint8_t cmd, uint16_t top, const uint8_t *nest, size_t nl)
{
	uint8_t *p = m->b + m->n;
	struct nlmsghdr h = {.nlmsg_type = fam, .nlmsg_flags = NLM_F_MULTI};
	size_t len = NLMSG_HDRLEN + GENL_HDRLEN;
	p[NLMSG_HDRLEN] = cmd;
	p[NLMSG_HDRLEN + 1] = 1;
	len += attr(p + len, top, nest, (uint16_t)nl);
	h.nlmsg_len = (uint32_t)len;
	memcpy(p, &h, sizeof(h));
	m->n += NLMSG_ALIGN(len);
}

static void svc_msg(struct mb *m, const char *ip, uint16_t port, int persistent)
{
	uint8_t n[256];
	size_t l = 0;
	uint16_t af = 2, proto = 6, be = htons(port);
	uint8_t addr[16] = {0};
	inet_pton(AF_INET, ip, addr);
	uint32_t flags[2] = {persistent ? 1u : 0u, ~0u}, timeout = 10800;
	l += attr(n + l, 1, &af, 2);
	l += attr(n + l, 2, &proto, 2);
	l += attr(n + l, 3, addr, 16);
	l += attr(n + l, 4, &be, 2);
	l += attr(n + l, 6, "rr", 3);
	l += attr(n + l, 7, flags, 8);
	l += attr(n + l, 8, &timeout, 4);
	msg(m, 0x22, 1, 1, n, l);
}

static void dest_msg(struct mb *m, const char *ip, uint16_t port, uint32_t weight, uint32_t active)
{
	uint8_t n[256];
	size_t l = 0;
	uint8_t addr[16] = {0};
	inet_pton(AF_INET, ip, addr);
	uint16_t be = htons(port), af = 2;
	uint32_t fwd = 0, inact = 2;
	l += attr(n + l, 1, addr, 16);
	l += attr(n + l, 2, &be, 2);
	l += attr(n + l, 3, &fwd, 4);
	l += attr(n + l, 4, &weight, 4);
	l += attr(n + l, 7, &active, 4);
	l += attr(n + l, 8, &inact, 4);
	l += attr(n + l, 11, &af, 2);
	msg(m, 0x22, 5, 2, n, l);
}

static void test_ipvs_nl(void)
{
	struct mb m = {0};
	svc_msg(&m, "10.96.120.15", 80, 0);
	dest_msg(&m, "10.244.1.11", 8080, 1, 3);
	dest_msg(&m, "10.244.2.12", 8080, 3, 0);
	dest_msg(&m, "10.244.3.13", 8080, 0, 7); /* draining */
	svc_msg(&m, "10.96.50.5", 8080, 1);
	dest_msg(&m, "10.244.1.31", 8080, 1, 0);
	struct kt_ipvs_state *st = kt_ipvs_state_new();
	T_CHECK_INT(kt_ipvs_decode(st, m.b, m.n, 0x22), 0, "genl buffer decodes");
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	kt_ipvs_emit(st, s, n);
	kt_ipvs_state_free(st);
	T_CHECK_INT(n->n_svcs, 2, "two virtual services");
	const struct kt_dp_service *web = n->n_svcs ? &n->svcs[0] : NULL;
	for (uint32_t i = 0; i < n->n_svcs; i++)
		if (!strcmp(n->svcs[i].name, "10.96.120.15:80"))
			web = &n->svcs[i];
	T_CHECK(web && web->n_be == 3 && web->names_guessed, "dests attached to their service");
	if (web && web->n_be == 3) {
		/* rr takes the real servers of weight > 0 in turn: weights 1 and 3
		 * still get half each (the old weight-share claim was wrong) */
		T_CHECK_NEAR(web->be[0].probability, 0.5, 1e-12, "rr: equal share for weight 1");
		T_CHECK_NEAR(web->be[1].probability, 0.5, 1e-12, "rr: equal share for weight 3");
		T_CHECK(web->share_basis == KT_SHARE_WEIGHT && kt_dp_share_known(web), "rr: shares are true shares");
		T_CHECK(web->be[2].probability == 0 && web->be[2].state && !strcmp(web->be[2].state, "draining"),
			"weight 0 is draining");
		T_CHECK_INT(web->be[0].active_conns, 3, "active connections");
		T_CHECK_STR(web->scheduler, "rr", "scheduler");
	}
	kt_snapshot_free(s);
	/* truncated and garbage buffers never crash */
	st = kt_ipvs_state_new();
	T_CHECK(kt_ipvs_decode(st, m.b, m.n - 3, 0x22) <= 0, "truncated buffer tolerated");
	uint8_t junk[64];
	memset(junk, 0xff, sizeof(junk));
	kt_ipvs_decode(st, junk, sizeof(junk), 0x22);
	kt_ipvs_state_free(st);
	T_CHECK(1, "garbage buffer tolerated");
}

static void test_ipvsadm(void)
{
	struct kt_snapshot *s = fixture_api();
	T_CHECK(s != NULL, "fixture API objects");
	if (!s)
		return;
	struct kt_node_opts o = {.node_name = "node-a", .ipvsadm = "tests/fixtures/dataplane/ipvsadm.save"};
	struct kt_diag d = {0};
	T_CHECK_INT(kt_dp_collect(s, &o, &d), 0, "ipvsadm-save text parses");
	s->finished = false;
	kt_snapshot_finish(s);
	const struct kt_dp_node *n = s->n_dp ? &s->dp[0] : NULL;
	const struct kt_dp_service *front = find(n, "shop", "front", "https");
	T_CHECK(front && front->n_be == 2 && front->n_ext_be == 1 && front->local_only, "Local policy from VS subsets");
	const struct kt_dp_service *api = find(n, "shop", "api", "");
	T_CHECK(api && api->affinity && api->affinity_timeout == 10800, "persistence = ClientIP affinity");
	kt_snapshot_free(s);
	s = kt_snapshot_new();
	struct kt_dp_node *nn = kt_dpbuild_node(s, "x", "t");
	const char *bad = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.9:80 -r 10.1.1.1:80 -m -w 1\n";
	struct kt_diag d2 = {0};
	T_CHECK(kt_dp_ipvsadm_mem(s, nn, bad, strlen(bad), "bad.txt", &d2) < 0 && strstr(d2.msg, "bad.txt:2"),
		"real server for an unknown service is an error with a line");
	kt_snapshot_free(s);
}

/* ---- Cilium --------------------------------------------------------- */

static void svc_entry(struct kt_cil_state *st, const char *ip, uint16_t port, uint16_t slot, uint8_t scope,
		      uint32_t id, uint16_t count, uint16_t rev, uint8_t flags, uint8_t flags2)
{
	uint8_t k[12] = {0}, v[12] = {0};
	inet_pton(AF_INET, ip, k);
	k[4] = (uint8_t)(port >> 8), k[5] = (uint8_t)port;
	memcpy(k + 6, &slot, 2);
	k[8] = 6;
	k[9] = scope;
	memcpy(v, &id, 4);
	memcpy(v + 4, &count, 2);
	v[6] = (uint8_t)(rev >> 8), v[7] = (uint8_t)rev;
	v[8] = flags;
	v[9] = flags2;
	kt_cil_add_service(st, false, k, 12, v, 12);
}

static void be_entry(struct kt_cil_state *st, uint32_t id, const char *ip, uint16_t port, uint8_t state)
{
	uint8_t v[12] = {0};
	inet_pton(AF_INET, ip, v);
	v[4] = (uint8_t)(port >> 8), v[5] = (uint8_t)port;
	v[6] = 6;
	v[7] = state;
	kt_cil_add_backend(st, false, &id, 4, v, 12);
}

static void test_cilium(void)
{
	struct kt_cil_state *st = kt_cil_state_new();
	be_entry(st, 1, "10.244.1.21", 8443, 0);
	be_entry(st, 2, "10.244.2.22", 8443, 0);
	be_entry(st, 3, "10.244.2.23", 8443, 2);
	/* ClusterIP: 2 active slots (+ a quarantined one after them) */
	svc_entry(st, "10.96.200.7", 443, 0, 0, 0, 2, 9, 0, 0);
	svc_entry(st, "10.96.200.7", 443, 1, 0, 1, 0, 9, 0, 0);
	svc_entry(st, "10.96.200.7", 443, 2, 0, 2, 0, 9, 0, 0);
	svc_entry(st, "10.96.200.7", 443, 3, 0, 3, 0, 9, 0, 0);
	/* LB IP, eTP=Local, two scopes: scope 0 local only, scope 1 all */
	svc_entry(st, "203.0.113.10", 443, 0, 0, 0, 1, 10, 0x20 | 0x40 | 0x04, 0x20);
	svc_entry(st, "203.0.113.10", 443, 1, 0, 1, 0, 10, 0, 0);
	svc_entry(st, "203.0.113.10", 443, 0, 1, 0, 2, 10, 0x20 | 0x40 | 0x04, 0x20);
	svc_entry(st, "203.0.113.10", 443, 1, 1, 1, 0, 10, 0, 0);
	svc_entry(st, "203.0.113.10", 443, 2, 1, 2, 0, 10, 0, 0);
	/* affinity service, unrelated backends */
	svc_entry(st, "10.96.0.5", 80, 0, 0, 300, 1, 11, 0x10, 0);
	svc_entry(st, "10.96.0.5", 80, 1, 0, 2, 0, 11, 0, 0);
	uint8_t bad[5] = {0};
	kt_cil_add_service(st, false, bad, 5, bad, 5);
	struct kt_snapshot *s = fixture_api();
	if (!s)
		s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	kt_cil_emit(st, s, n, "cilium_lb4_services_v2");
	kt_cil_state_free(st);
	const struct kt_dp_service *front = find(n, "shop", "front", "https");
	T_CHECK(front != NULL, "frontends resolved to shop/front through the API");
	if (front) {
		T_CHECK_INT(front->n_fe, 2, "ClusterIP and LB frontends grouped");
		T_CHECK_INT(front->n_be, 2, "internal set: active slots only");
		T_CHECK(front->n_ext_be == 1 && front->local_only && !front->masquerade, "external set: local only");
		T_CHECK_NEAR(front->be[0].probability, 0.5, 1e-12, "slot share");
	}
	bool aff = false;
	for (uint32_t i = 0; i < n->n_svcs; i++)
		if (n->svcs[i].affinity && n->svcs[i].affinity_timeout == 300)
			aff = true;
	T_CHECK(aff, "affinity timeout from the master entry");
	T_CHECK(n->n_notes == 1, "bad-size entry noted");
	kt_snapshot_free(s);
}

/* Maglev lookup table (slot counts) and affinity pins validated by the
 * match map, as read from cilium_lb4_maglev / _affinity / _affinity_match. */
static void test_cilium_maglev(void)
{
	struct kt_cil_state *st = kt_cil_state_new();
	be_entry(st, 1, "10.244.1.11", 8080, 0);
	be_entry(st, 2, "10.244.2.12", 8080, 0);
	svc_entry(st, "10.96.120.15", 80, 0, 0, 0, 2, 7, 0, 0);
	svc_entry(st, "10.96.120.15", 80, 1, 0, 1, 0, 7, 0, 0);
	svc_entry(st, "10.96.120.15", 80, 2, 0, 2, 0, 7, 0, 0);
	/* random per service (algorithm byte 1) despite a table */
	svc_entry(st, "10.96.0.9", 80, 0, 0, 1u << 24 | 60, 1, 8, 0x10, 0);
	svc_entry(st, "10.96.0.9", 80, 1, 0, 1, 0, 8, 0, 0);
	uint32_t lut[7] = {1, 2, 1, 1, 2, 1, 1}; /* 5 : 2 */
	T_CHECK_INT(kt_cil_add_maglev(st, false, 7, lut, sizeof(lut)), 0, "maglev table accepted");
	T_CHECK(kt_cil_add_maglev(st, false, 8, lut, 3) < 0, "table of odd size refused");
	kt_cil_add_maglev(st, false, 8, lut, sizeof(lut));
	uint8_t k[16] = {192, 168, 0, 1}, v[16] = {0};
	k[8] = 0, k[9] = 8; /* rev NAT 8, network order */
	v[8] = 1;           /* backend 1 */
	T_CHECK_INT(kt_cil_add_affinity(st, false, k, 16, v, 16), 0, "affinity entry");
	k[3] = 2;
	kt_cil_add_affinity(st, false, k, 16, v, 16);
	uint8_t mk[8] = {1, 0, 0, 0, 0, 8, 0, 0};
	T_CHECK_INT(kt_cil_add_affinity_match(st, mk, 8), 0, "affinity match key");
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	kt_cil_emit(st, s, n, "cilium_lb4_services_v2");
	kt_cil_state_free(st);
	const struct kt_dp_service *web = NULL, *rnd = NULL;
	for (uint32_t i = 0; i < n->n_svcs; i++) {
		if (!strcmp(n->svcs[i].name, "10.96.120.15:80"))
			web = &n->svcs[i];
		if (!strcmp(n->svcs[i].name, "10.96.0.9:80"))
			rnd = &n->svcs[i];
	}
	T_CHECK(web && web->lb_algorithm && !strcmp(web->lb_algorithm, "maglev") && web->n_be == 2, "maglev service");
	if (web && web->n_be == 2) {
		T_CHECK_NEAR(web->be[0].probability, 5.0 / 7.0, 1e-12, "share = table slots / M");
		T_CHECK_NEAR(web->be[1].probability, 2.0 / 7.0, 1e-12, "second backend share");
		T_CHECK_INT(web->be[0].weight, 5, "slot count as weight");
	}
	T_CHECK(rnd && rnd->lb_algorithm && !strcmp(rnd->lb_algorithm, "random") && rnd->n_be == 1 &&
			rnd->be[0].probability == 1.0,
		"per-service random algorithm wins over a table");
	T_CHECK(rnd && rnd->n_be == 1 && rnd->be[0].affinity_clients == 2 && rnd->affinity_timeout == 60,
		"pinned clients counted, timeout from the low 24 bits");
	kt_snapshot_free(s);
}

/* ---- nft JSON ------------------------------------------------------- */

static void test_nft_json(void)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_node_opts o = {.node_name = "node-a", .nft_json = "tests/fixtures/dataplane/nft-ruleset.json"};
	struct kt_diag d = {0};
	T_CHECK_INT(kt_dp_collect(s, &o, &d), 0, "nft -j ruleset parses");
	kt_snapshot_finish(s);
	const struct kt_dp_node *n = s->n_dp ? &s->dp[0] : NULL;
	T_CHECK(n && n->n_svcs == 7, "7 service ports from nftables mode");
	const struct kt_dp_service *web = find(n, "shop", "web", "http");
	T_CHECK(web && web->n_be == 3 && web->be[0].probability > 0.33 && web->be[0].probability < 0.34,
		"numgen map: uniform 1/3");
	const struct kt_dp_service *front = find(n, "shop", "front", "https");
	T_CHECK(front && front->local_only && front->n_ext_be == 1, "external- chain goto local-");
	const struct kt_dp_service *api = find(n, "shop", "api", "");
	T_CHECK(api && api->affinity && api->affinity_timeout == 10800 && api->masquerade, "affinity set timeout");
	kt_snapshot_free(s);
	s = kt_snapshot_new();
	struct kt_dp_node *nn = kt_dpbuild_node(s, "x", "t");
	struct kt_diag d2 = {0};
	const char *bad = "{\"nftables\": [\n{\"chain\": }]}";
	T_CHECK(kt_dp_nft_json_mem(s, nn, bad, strlen(bad), "r.json", &d2) < 0 && strstr(d2.msg, "r.json:2"),
		"malformed JSON names the line");
	kt_snapshot_free(s);
}

/* ---- metrics -------------------------------------------------------- */

static void test_metrics(void)
{
	const char *txt = "# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds x\n"
			   "kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7640768e+09\n"
			   "kubeproxy_network_programming_duration_seconds_bucket{le=\"0.25\"} 3\n"
			   "kubeproxy_network_programming_duration_seconds_bucket{le=\"+Inf\"} 5\n"
			   "kubeproxy_network_programming_duration_seconds_sum 2.5\n"
			   "kubeproxy_network_programming_duration_seconds_count 5\n";
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_proxy_metrics m = {0};
	T_CHECK_INT(kt_dp_metrics_parse(s, &m, txt, strlen(txt)), 0, "prometheus text parses");
	T_CHECK(m.present && m.last_sync > 1.76e9 && m.latency_count == 5 && m.n_buckets == 2, "metrics values");
	struct kt_proxy_metrics m2 = {0};
	T_CHECK(kt_dp_metrics_parse(s, &m2, "foo 1\n", 6) < 0 && !m2.present, "no kube-proxy metrics");
	kt_snapshot_free(s);
}

/* ---- JSON round trip and diff --------------------------------------- */

struct sbuf {
	char *b;
	size_t n, cap;
};

static int sink(void *ctx, const char *buf, size_t len)
{
	struct sbuf *s = ctx;
	if (s->n + len + 1 > s->cap) {
		s->cap = (s->n + len + 1) * 2;
		s->b = realloc(s->b, s->cap);
	}
	memcpy(s->b + s->n, buf, len);
	s->n += len;
	s->b[s->n] = 0;
	return 0;
}

static void test_json_and_diff(void)
{
	struct kt_snapshot *s = fixture_api();
	if (!s)
		return;
	struct kt_node_opts o = {.node_name = "node-a", .iptables_save = "tests/fixtures/dataplane/iptables-nft.save"};
	struct kt_diag d = {0};
	kt_dp_collect(s, &o, &d);
	s->finished = false;
	kt_snapshot_finish(s);
	struct sbuf a = {0}, b = {0};
	struct kt_jw *w = kt_jw_new_sink(sink, &a, false);
	kt_dp_node_to_json(w, &s->dp[0], NULL);
	kt_jw_free(w);
	cJSON *j = cJSON_Parse(a.b);
	T_CHECK(j != NULL, "writer output is JSON");
	struct kt_snapshot *s2 = kt_snapshot_new();
	struct kt_diag d2 = {0};
	T_CHECK_INT(kt_dp_node_from_json(s2, j, &d2), 0, "reader accepts the writer's output");
	kt_snapshot_finish(s2);
	w = kt_jw_new_sink(sink, &b, false);
	kt_dp_node_to_json(w, &s2->dp[0], NULL);
	kt_jw_free(w);
	T_CHECK(a.b && b.b && strcmp(a.b, b.b) == 0, "round trip is exact");
	cJSON_Delete(j);
	kt_snapshot_free(s2);
	free(a.b);
	free(b.b);
	cJSON *arr = cJSON_Parse("[]");
	struct kt_snapshot *s3 = kt_snapshot_new();
	T_CHECK(arr && kt_dp_node_from_json(s3, arr, &d2) < 0, "bad node shape is an input error");
	cJSON_Delete(arr);
	kt_snapshot_free(s3);

	struct kt_findings f = {0};
	struct kt_arena *ar = kt_arena_new();
	kt_dpdiff_findings(s, ar, &f);
	T_CHECK_INT(f.n, 0, "rules match the EndpointSlices: no findings");
	/* make one endpoint stale (not in slices) and one ready endpoint unprogrammed */
	struct kt_dp_service *web = NULL;
	for (uint32_t i = 0; i < s->dp[0].n_svcs; i++)
		if (!strcmp(s->dp[0].svcs[i].name, "web"))
			web = &s->dp[0].svcs[i];
	if (web) {
		web->be[0].ip = "10.244.9.9";
		kt_dpdiff_findings(s, ar, &f);
		bool k601 = false, k602 = false;
		for (uint32_t i = 0; i < f.n; i++) {
			k601 |= f.v[i].rule == KT_R_KT601 && strstr(f.v[i].evidence, "endpoint=10.244.1.11:8080") &&
				strstr(f.v[i].evidence, "triggerTime=2026-01-01T10:00:00Z");
			k602 |= f.v[i].rule == KT_R_KT602 && strstr(f.v[i].message, "10.244.9.9:8080");
		}
		T_CHECK(k601, "KT601 with the slice trigger time");
		T_CHECK(k602, "KT602 names the stale address");
	}
	kt_findings_release(&f);
	/* KT603: same service from two modes */
	struct kt_dp_service *x = kt_dpbuild_svc(s, &s->dp[0], "shop", "web", "http", "TCP", KT_DP_NFTABLES);
	kt_dpbuild_be(s, x, false, "10.244.1.11", 8080, 1);
	s->finished = false;
	kt_snapshot_finish(s);
	kt_dpdiff_findings(s, ar, &f);
	bool k603 = false;
	for (uint32_t i = 0; i < f.n; i++)
		k603 |= f.v[i].rule == KT_R_KT603;
	T_CHECK(k603, "KT603 for two proxy backends");
	kt_findings_release(&f);
	kt_arena_free(ar);
	kt_snapshot_free(s);
}

/* ---- nf_tables rule messages (encoded by libnftnl, decoded raw) ---- */

static void test_nft_rule_msg(void)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "nat");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "KUBE-SERVICES");
	nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, 42);
	struct nftnl_expr *e = nftnl_expr_alloc("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 16);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 4);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("cmp");
	uint8_t ip[4] = {10, 96, 0, 1};
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, ip, 4);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("match");
	nftnl_expr_set_str(e, NFTNL_EXPR_MT_NAME, "comment");
	nftnl_expr_set_u32(e, NFTNL_EXPR_MT_REV, 0);
	char *cm = calloc(1, 256); /* libnftnl takes ownership of match info */
	snprintf(cm, 256, "default/kubernetes:https cluster IP");
	nftnl_expr_set(e, NFTNL_EXPR_MT_INFO, cm, 256);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 2);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("cmp");
	uint8_t port[2] = {0x01, 0xbb};
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, port, 2);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)NFT_JUMP);
	nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, "KUBE-SVC-NPX46M4PTMTKRN6Y");
	nftnl_rule_add_expr(r, e);
	char buf[4096];
	struct nlmsghdr *h = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_IPV4, 0, 1);
	nftnl_rule_nlmsg_build_payload(h, r);
	nftnl_rule_free(r);
	struct kt_nft_rule out;
	T_CHECK_INT(kt_nft_decode_rule_msg(h, 2, &out), 0, "NEWRULE message decodes");
	T_CHECK(out.ipt.handle == 42, "rule handle");
	T_CHECK_STR(out.ipt.dst, "10.96.0.1/32", "payload+cmp: ip daddr");
	T_CHECK_INT(out.ipt.dport, 443, "payload+cmp: th dport");
	T_CHECK(out.ipt.comment && !strcmp(out.ipt.comment, "default/kubernetes:https cluster IP"), "xt comment");
	T_CHECK(out.ipt.verdict == KT_IPT_JUMP && !strcmp(out.target, "KUBE-SVC-NPX46M4PTMTKRN6Y"), "jump verdict");
	/* every truncation of the message is rejected or decoded without overrun */
	for (uint32_t cut = 0; cut < h->nlmsg_len; cut += 3) {
		char tb[4096];
		memcpy(tb, buf, h->nlmsg_len);
		struct nlmsghdr *th = (void *)tb;
		th->nlmsg_len = cut;
		kt_nft_decode_rule_msg(th, 2, &out);
	}
	T_CHECK(1, "truncated rule messages tolerated");
}

/* topology hints: an endpoint hinted for another zone is not expected here */
static void test_diff_hints(void)
{
#define TMPL \
		"{\"kind\":\"KtraceBundle\",\"version\":1,\"objects\":[" \
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"node-a\",\"labels\":{\"topology.kubernetes.io/zone\":\"a\"}}}," \
		"{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"n\",\"name\":\"s\"},\"spec\":{\"clusterIP\":\"10.96.0.9\"," \
		"\"clusterIPs\":[\"10.96.0.9\"],\"selector\":{\"app\":\"s\"},\"ports\":[{\"port\":80,\"targetPort\":8080}]}}," \
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"namespace\":\"n\",\"name\":\"s-1\",\"labels\":" \
		"{\"kubernetes.io/service-name\":\"s\"}},\"addressType\":\"IPv4\",\"ports\":[{\"port\":8080}],\"endpoints\":[" \
		"{\"addresses\":[\"10.0.0.1\"],\"conditions\":{\"ready\":true}%s}," \
		"{\"addresses\":[\"10.0.0.2\"],\"conditions\":{\"ready\":true}%s}]}]," \
		"\"nodes\":[{\"node\":\"node-a\",\"modes\":[\"iptables-nft\"],\"services\":[{\"namespace\":\"n\",\"name\":\"s\"," \
		"\"portName\":\"\",\"protocol\":\"TCP\",\"frontends\":[{\"kind\":\"clusterIP\",\"ip\":\"10.96.0.9\",\"port\":80}]," \
		"\"backends\":[{\"ip\":\"10.0.0.1\",\"port\":8080,\"probability\":1}]}]}],\"flows\":[],\"gaps\":[]}"
	for (int hinted = 0; hinted < 2; hinted++) {
		char buf[4096];
		snprintf(buf, sizeof(buf), TMPL, hinted ? ",\"hints\":{\"forZones\":[{\"name\":\"a\"}]}" : "",
			 hinted ? ",\"hints\":{\"forZones\":[{\"name\":\"b\"}]}" : "");
		struct kt_snapshot *s = NULL;
		struct kt_diag d = {0};
		if (kt_bundle_load_mem("hints.json", buf, strlen(buf), &s, &d) < 0) {
			T_CHECK(0, d.msg);
			return;
		}
		struct kt_findings f = {0};
		struct kt_arena *a = kt_arena_new();
		kt_dpdiff_findings(s, a, &f);
		bool k601 = false;
		for (uint32_t i = 0; i < f.n; i++)
			k601 |= f.v[i].rule == KT_R_KT601 && strstr(f.v[i].message, "10.0.0.2:8080");
		if (hinted)
			T_CHECK(!k601, "endpoint hinted for another zone is not expected on this node");
		else
			T_CHECK(k601, "without hints every ready endpoint is expected");
		kt_findings_release(&f);
		kt_arena_free(a);
		kt_snapshot_free(s);
	}
#undef TMPL
}

static void run(void)
{
	test_diff_hints();
	test_nft_rule_msg();
	test_ipvs_nl();
	test_ipvsadm();
	test_cilium();
	test_cilium_maglev();
	test_nft_json();
	test_metrics();
	test_json_and_diff();
}

T_MAIN("test_dp_formats")
