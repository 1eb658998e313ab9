/*
 * Unit tests of the agent's pure parts: the per-Service digest (what makes
 * two nodes' programming equal or different), the state id, the JSON
 * writers and every client decoder (round trips and bad input), the
 * request parser and header checks, response-body helpers (merge, gzip,
 * ETag) and the manifest substitution.
 */
#include <cjson/cJSON.h>
#include <zlib.h>

#include "cli/agent/agent.h"
#include "ktrace/arena.h"
#include "ktrace/jsonw.h"
#include "collectors/codec/codec.h"
#include "harness.h"

/* ---- node states built from a few knobs ------------------------------ */

struct variant {
	const char *node;
	int handle;              /* evidence handle base */
	bool swap_local;         /* the other web backend is the local one */
	const char *np_ip;       /* NodePort frontend address */
	bool reverse;            /* backends listed in the other order */
	const char *front_local; /* front's node-local external backend, NULL none */
	bool stale;              /* web still forwards to 10.244.3.9 */
	bool no_masq, affinity, nft, empty, front_not_local;
};

static char *node_json(const struct variant *v)
{
	char be[600];
	char x1[160], x2[160], x3[160];
	const char *p = v->stale ? "0.333333333" : "0.5";
	snprintf(x1, sizeof(x1), "{\"ip\":\"10.244.1.2\",\"port\":8080,\"probability\":%s,\"local\":%s}", p,
		 v->swap_local ? "false" : "true");
	snprintf(x2, sizeof(x2), "{\"ip\":\"10.244.2.2\",\"port\":8080,\"probability\":%s,\"local\":%s}", p,
		 v->swap_local ? "true" : "false");
	snprintf(x3, sizeof(x3), "{\"ip\":\"10.244.3.9\",\"port\":8080,\"probability\":%s,\"local\":false}", p);
	if (v->empty)
		snprintf(be, sizeof(be), "[]");
	else if (v->stale)
		snprintf(be, sizeof(be), "[%s,%s,%s]", v->reverse ? x3 : x1, x2, v->reverse ? x1 : x3);
	else
		snprintf(be, sizeof(be), "[%s,%s]", v->reverse ? x2 : x1, v->reverse ? x1 : x2);
	char fl[200] = "[]";
	if (v->front_local)
		snprintf(fl, sizeof(fl), "[{\"ip\":\"%s\",\"port\":8443,\"probability\":1,\"local\":true}]", v->front_local);
	char *out = NULL;
	const char *mode = v->nft ? "nftables" : "iptables-nft";
	int n = asprintf(&out,
		"{\"node\":\"%s\",\"modes\":[\"%s\"],\"source\":\"live\",\"services\":["
		"{\"namespace\":\"shop\",\"name\":\"web\",\"portName\":\"http\",\"protocol\":\"TCP\",\"mode\":\"%s\","
		"\"chainHash\":\"H%d\",\"frontends\":[{\"kind\":\"clusterIP\",\"ip\":\"10.96.0.10\",\"port\":80,"
		"\"backendSet\":\"internal\"},{\"kind\":\"nodePort\",\"ip\":\"%s\",\"port\":30080,\"backendSet\":\"external\"}],"
		"\"backends\":%s,\"externalBackends\":%s,\"affinity\":{\"mode\":\"%s\",\"timeoutSeconds\":10800},"
		"\"masquerade\":%s,\"localOnly\":false,\"evidence\":[{\"mode\":\"%s\",\"table\":\"nat\",\"chain\":\"KUBE-SVC-X\","
		"\"handle\":%d}]},"
		"{\"namespace\":\"shop\",\"name\":\"front\",\"portName\":\"https\",\"protocol\":\"TCP\",\"mode\":\"%s\","
		"\"frontends\":[{\"kind\":\"clusterIP\",\"ip\":\"10.96.0.20\",\"port\":443,\"backendSet\":\"internal\"},"
		"{\"kind\":\"loadBalancer\",\"ip\":\"203.0.113.10\",\"port\":443,\"backendSet\":\"external\"},"
		"{\"kind\":\"healthCheck\",\"ip\":\"%s\",\"port\":32001,\"backendSet\":\"external\"}],"
		"\"backends\":[{\"ip\":\"10.244.1.3\",\"port\":8443,\"probability\":0.5,\"local\":%s},"
		"{\"ip\":\"10.244.2.3\",\"port\":8443,\"probability\":0.5,\"local\":%s}],"
		"\"externalBackends\":%s,\"affinity\":{\"mode\":\"none\"},\"masquerade\":false,\"localOnly\":%s,"
		"\"evidence\":[{\"mode\":\"%s\",\"table\":\"nat\",\"chain\":\"KUBE-EXT-Y\",\"handle\":%d}]}]}",
		v->node, mode, mode, v->handle, v->np_ip ? v->np_ip : "", be, v->empty ? "[]" : be,
		v->affinity ? "clientIP" : "none", v->no_masq ? "false" : "true", mode, v->handle + 1, mode,
		v->np_ip ? v->np_ip : "", v->front_local && !strcmp(v->front_local, "10.244.1.3") ? "true" : "false",
		v->front_local && !strcmp(v->front_local, "10.244.2.3") ? "true" : "false", fl,
		v->front_not_local ? "false" : "true", mode, v->handle + 2);
	if (n < 0)
		abort();
	return out;
}

static struct kt_snapshot *node_of(const struct variant *v)
{
	char *js = node_json(v);
	cJSON *j = cJSON_Parse(js);
	free(js);
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_diag d = {0};
	if (!j || kt_dp_node_from_json(s, j, &d) < 0) {
		printf("FAIL: test_agent: bad test node: %s\n", d.msg);
		exit(1);
	}
	cJSON_Delete(j);
	kt_snapshot_finish(s);
	return s;
}

struct digs {
	struct kt_snapshot *s;
	struct kt_agent_digest *d;
	uint32_t n;
	char sid[17];
};

static struct digs digests_of(const struct variant *v, bool canonical)
{
	struct digs x;
	x.s = node_of(v);
	x.n = kt_agent_digest_node(&x.s->dp[0], x.s->arena, canonical, &x.d);
	kt_agent_state_id(x.d, x.n, x.s->dp[0].modes, x.sid);
	return x;
}

static const struct kt_agent_digest *find(const struct digs *x, const char *name)
{
	for (uint32_t i = 0; i < x->n; i++)
		if (!strcmp(x->d[i].name, name))
			return &x->d[i];
	return NULL;
}

static bool same(const struct digs *a, const struct digs *b, const char *name)
{
	const struct kt_agent_digest *x = find(a, name), *y = find(b, name);
	return x && y && x->digest == y->digest;
}

static void test_digests(void)
{
	struct variant base = {.node = "node-a", .handle = 10, .front_local = "10.244.1.3"};
	struct digs a = digests_of(&base, true);
	T_CHECK_INT(a.n, 2, "one digest per Service (namespace/name)");
	T_CHECK_STR(a.d[0].name, "front", "digests sorted by namespace/name");
	const struct kt_agent_digest *w = find(&a, "web");
	T_CHECK(w && w->ports == 1 && !w->has_local, "web: one port, no Local set");
	T_CHECK(w && w->canonical &&
		strstr(w->canonical, "port http TCP iptables-nft\naffinity none 0\nmasquerade 1\nlocalOnly 0\n"
				     "frontend clusterIP 10.96.0.10 80 internal\nfrontend nodePort * 30080 external\n"
				     "backend 10.244.1.2 8080 0.500000 0 active\nbackend 10.244.2.2 8080 0.500000 0 active\n"
				     "externalBackend 10.244.1.2 8080 0.500000 0 active\n") != NULL,
		"canonical form of web, exactly");
	const struct kt_agent_digest *f = find(&a, "front");
	T_CHECK(f && f->has_local && f->n_local == 1 && !strcmp(f->local[0].ip, "10.244.1.3") && f->local[0].port == 8443,
		"front: Local set listed next to the digest");
	T_CHECK(f && f->canonical && strstr(f->canonical, "externalBackends node-local\n") &&
			!strstr(f->canonical, "externalBackend 10.244.1.3") &&
			strstr(f->canonical, "frontend healthCheck * 32001 external\n"),
		"front: the Local set and the health-check address stay out of the hash");

	/* node-specific details that must not matter */
	struct variant b = {.node = "node-b", .handle = 900, .swap_local = true, .np_ip = "192.168.1.2",
			    .reverse = true, .front_local = "10.244.2.3"};
	struct digs bd = digests_of(&b, false);
	T_CHECK(same(&a, &bd, "web"), "handles, chain hash, local flags, NodePort address, backend order: same digest");
	T_CHECK(same(&a, &bd, "front"), "another node's own Local set: same digest");
	T_CHECK(strcmp(a.sid, bd.sid) != 0, "... but the state id covers the Local sets");
	const struct kt_agent_digest *fb = find(&bd, "front");
	T_CHECK(fb && fb->n_local == 1 && !strcmp(fb->local[0].ip, "10.244.2.3"), "node-b's Local set is its own");
	struct variant b2 = b;
	b2.front_local = "10.244.1.3";
	b2.swap_local = false;
	b2.handle = 77;
	struct digs b2d = digests_of(&b2, false);
	T_CHECK_STR(b2d.sid, a.sid, "same digests and Local sets on another node: same state id");

	/* differences that must show */
	struct variant c = base;
	c.stale = true;
	struct digs cd = digests_of(&c, false);
	T_CHECK(!same(&a, &cd, "web") && same(&a, &cd, "front"), "a stale backend changes exactly that Service's digest");
	struct variant e = base;
	e.empty = true;
	struct digs ed = digests_of(&e, false);
	T_CHECK(!same(&a, &ed, "web"), "no backends (reject) changes the digest");
	struct variant m = base;
	m.no_masq = true;
	struct digs md = digests_of(&m, false);
	T_CHECK(!same(&a, &md, "web"), "masquerade changes the digest");
	struct variant af = base;
	af.affinity = true;
	struct digs afd = digests_of(&af, false);
	T_CHECK(!same(&a, &afd, "web"), "session affinity changes the digest");
	struct variant nf = base;
	nf.nft = true;
	struct digs nfd = digests_of(&nf, false);
	T_CHECK(!same(&a, &nfd, "web") && strcmp(a.sid, nfd.sid) != 0, "another proxy mode changes digest and state id");
	struct variant nl = base;
	nl.front_not_local = true;
	struct digs nld = digests_of(&nl, false);
	T_CHECK(!same(&a, &nld, "front"), "external set no longer node-local changes the digest");
	struct variant none = base;
	none.front_local = NULL;
	struct digs nod = digests_of(&none, false);
	const struct kt_agent_digest *fn = find(&nod, "front");
	T_CHECK(fn && fn->has_local && fn->n_local == 0 && same(&a, &nod, "front") && strcmp(a.sid, nod.sid) != 0,
		"no local endpoint: empty Local set, same digest, other state id");

	struct digs *all[] = {&a, &bd, &b2d, &cd, &ed, &md, &afd, &nfd, &nld, &nod};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		kt_snapshot_free(all[i]->s);

	size_t nsl, nml;
	const char *nm;
	T_CHECK(kt_agent_key_split("shop/web", 8, &nsl, &nm, &nml) && nsl == 4 && nml == 3 && !strncmp(nm, "web", 3),
		"key split");
	T_CHECK(kt_agent_key_split("/10.96.0.10:53", 14, &nsl, &nm, &nml) && nsl == 0 && nml == 13,
		"key split: unknown namespace");
	T_CHECK(!kt_agent_key_split("shop", 4, &nsl, &nm, &nml) && !kt_agent_key_split("a/b/c", 5, &nsl, &nm, &nml) &&
			!kt_agent_key_split("a/", 2, &nsl, &nm, &nml),
		"key split rejects malformed keys");
}

/* ---- writers and decoders ------------------------------------------ */

struct mbuf {
	char *p;
	size_t n;
};

static int msink(void *ctx, const char *b, size_t n)
{
	struct mbuf *m = ctx;
	m->p = realloc(m->p, m->n + n + 1);
	memcpy(m->p + m->n, b, n);
	m->n += n;
	m->p[m->n] = 0;
	return 0;
}

static void test_decoders(void)
{
	struct variant base = {.node = "node-a", .handle = 10, .front_local = "10.244.1.3"};
	struct digs a = digests_of(&base, true);
	struct kt_dp_node *n = &a.s->dp[0];
	n->metrics.present = true;
	n->metrics.last_sync = 1700000000;
	n->metrics.proxy_mode = "iptables";
	struct kt_gap g = {.what = "nftables ruleset", .why = "EPERM"};
	struct mbuf m = {0};
	struct kt_jw *w = kt_jw_new_sink(msink, &m, false);
	kt_agent_digests_to_json(w, n, a.d, a.n, a.sid, 1700000001234LL, &g, 1, true);
	kt_jw_free(w);
	struct kt_arena *ar = kt_arena_new();
	struct kt_agent_digests out;
	struct kt_diag d = {0};
	T_CHECK_INT(kt_agent_decode_digests(m.p, m.n, "node-a", ar, &out, &d), 0, "digests decode");
	T_CHECK(out.n_svcs == 2 && out.svcs[1].digest == find(&a, "web")->digest && out.svcs[0].n_local == 1 &&
			!strcmp(out.svcs[0].local[0].ip, "10.244.1.3") && out.svcs[0].local[0].port == 8443,
		"digests round trip: digests and Local sets");
	T_CHECK(!strcmp(out.state_id, a.sid) && out.taken_ms == 1700000001234LL && out.digest_version == KT_AGENT_DIGEST_VERSION &&
			out.modes == (1u << KT_DP_IPTABLES_NFT) && out.metrics.present && out.metrics.last_sync == 1700000000 &&
			out.n_gaps == 1 && !strcmp(out.gaps[0].why, "EPERM"),
		"digests round trip: state id, time, version, modes, kube-proxy metrics, gaps");
	T_CHECK(out.svcs[1].canonical && !strcmp(out.svcs[1].canonical, find(&a, "web")->canonical),
		"digests round trip: canonical text");
	struct kt_diag d2 = {0};
	T_CHECK(kt_agent_decode_digests(m.p, m.n, "node-b", ar, &out, &d2) == -KT_EXIT_INPUT &&
			strstr(d2.msg, "about node 'node-a', not 'node-b'"),
		"digests claiming another node are refused");
	static const struct {
		const char *body, *why;
	} bad[] = {
		{"", "empty body"},
		{"[1,2]", "not a JSON object"},
		{"{\"node\":\"node-a\",\"stateId\":\"xyz\",\"digestVersion\":1,\"services\":[]}", "no valid \"stateId\""},
		{"{\"node\":\"node-a\",\"stateId\":\"0123456789abcdef\",\"digestVersion\":1}", "\"services\" is missing"},
		{"{\"node\":\"node-a\",\"stateId\":\"0123456789abcdef\",\"digestVersion\":1,\"services\":[{\"key\":\"a\",\"digest\":\"0123456789abcdef\"}]}",
		 "has no valid \"key\""},
		{"{\"node\":\"node-a\",\"stateId\":\"0123456789abcdef\",\"digestVersion\":1,\"services\":[{\"key\":\"a/b\",\"digest\":\"0123\"}]}",
		 "has no valid \"digest\""},
		{"{\"node\":\"node-a\",\"stateId\":\"0123456789abcdef\",\"digestVersion\":1,\"services\":[{\"key\":\"a/b\",\"digest\":\"0123456789abcdef\"},{\"key\":\"a/b\",\"digest\":\"0123456789abcdef\"}]}",
		 "listed twice"},
		{"{\"node\":\"node-a\",\"stateId\":\"0123456789abcdef\",\"digestVersion\":1,\"services\":[{\"key\":\"a/b\",\"digest\":\"0123456789abcdef\",\"local\":[{\"ip\":\"1.2.3.4\",\"port\":70000}]}]}",
		 "bad local endpoint"},
		{"{\"node\":\"node-a\",\"stateId\":\"0123456789abcdef\",\"services\":[]}", "digestVersion"},
		{"{\"node\":\"node-a\" ", "not JSON"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kt_diag db = {0};
		char name[160];
		snprintf(name, sizeof(name), "bad digests rejected: %s", bad[i].why);
		T_CHECK(kt_agent_decode_digests(bad[i].body, strlen(bad[i].body), NULL, ar, &out, &db) == -KT_EXIT_INPUT &&
				strstr(db.msg, bad[i].why),
			name);
	}
	free(m.p);

	/* node object + gaps, as the agent merges them */
	struct mbuf nb = {0}, eb = {0};
	w = kt_jw_new_sink(msink, &nb, false);
	kt_dp_node_to_json(w, n, NULL);
	kt_jw_free(w);
	w = kt_jw_new_sink(msink, &eb, false);
	kt_agent_extras_to_json(w, &g, 1, NULL, 0);
	kt_jw_free(w);
	char *merged = NULL;
	T_CHECK(asprintf(&merged, "%.*s,%s", (int)nb.n - 1, nb.p, eb.p + 1) > 0, "merge");
	struct kt_snapshot *s2 = kt_snapshot_new();
	struct kt_diag d3 = {0};
	T_CHECK_INT(kt_agent_decode_node(s2, merged, strlen(merged), "node-a", &d3), 0, "node decode");
	T_CHECK(s2->n_dp == 1 && s2->dp[0].n_svcs == 2 && s2->n_gaps == 1 &&
			!strcmp(s2->gaps[0].what, "node node-a: nftables ruleset"),
		"node decode: services and the agent's gaps, named after the node");
	struct kt_diag d4 = {0};
	T_CHECK(kt_agent_decode_node(s2, merged, strlen(merged), "node-x", &d4) == -KT_EXIT_INPUT, "node claiming another node refused");
	struct kt_diag d5 = {0};
	const char *nos = "{\"node\":\"node-a\",\"services\":{}}";
	T_CHECK(kt_agent_decode_node(s2, nos, strlen(nos), NULL, &d5) == -KT_EXIT_INPUT, "node without a services array refused");
	const char *huge = "{\"node\":\"node-a\",\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"frontends\":"
			   "[{\"kind\":\"clusterIP\",\"ip\":\"1.2.3.4\",\"port\":1e100}]}]}";
	struct kt_diag d8 = {0};
	T_CHECK(kt_agent_decode_node(s2, huge, strlen(huge), NULL, &d8) == -KT_EXIT_INPUT && strstr(d8.msg, "\"port\" out of range"),
		"node with an out-of-range number refused before conversion");
	const char *neg = "{\"node\":\"node-a\",\"services\":[{\"namespace\":\"a\",\"name\":\"b\",\"backends\":"
			  "[{\"ip\":\"1.2.3.4\",\"port\":80,\"activeConns\":-1}]}]}";
	struct kt_diag d9 = {0};
	T_CHECK(kt_agent_decode_node(s2, neg, strlen(neg), NULL, &d9) == -KT_EXIT_INPUT, "node with a negative count refused");
	kt_snapshot_free(s2);
	free(merged);
	free(nb.p);
	free(eb.p);

	/* flows with the sampler's event counts */
	struct kt_snapshot *fsnap = kt_snapshot_new();
	struct kt_flow_sample *fs = KT_SNAP_PUSH(fsnap, flows);
	fs->node = "node-a";
	fs->source = "conntrack";
	fs->taken_ms = 1700000002000LL;
	fs->events = true;
	fs->full_dump = true;
	struct kt_flow_agg ag[2] = {
		{.vip = "10.96.0.10", .vport = 80, .protocol = "TCP", .backend_ip = "10.244.1.2", .backend_port = 8080,
		 .established = 7, .total = 8, .opened = 3, .rate_orig = 100.5, .rate_reply = -1},
		{.vip = "10.96.0.10", .vport = 80, .protocol = "TCP", .backend_ip = "10.244.2.2", .backend_port = 8080,
		 .established = 2, .total = 2, .opened = 0, .rate_orig = -1, .rate_reply = 5},
	};
	fs->agg = ag;
	fs->n_agg = 2;
	struct mbuf fb = {0}, xb = {0};
	w = kt_jw_new_sink(msink, &fb, false);
	kt_flow_sample_to_json(w, fs);
	kt_jw_free(w);
	w = kt_jw_new_sink(msink, &xb, false);
	kt_agent_extras_to_json(w, NULL, 0, fs, 2000);
	kt_jw_free(w);
	/* the compact form of the same sample decodes to the same aggregates */
	struct mbuf cb = {0};
	struct kt_gap cgap = {.what = "connection ages", .why = "timestamps off"};
	w = kt_jw_new_sink(msink, &cb, false);
	kt_agent_flows_compact_to_json(w, fs, &cgap, 1, 2000);
	kt_jw_free(w);
	fs->agg = NULL;
	fs->n_agg = 0;
	kt_snapshot_free(fsnap);
	T_CHECK(strstr(cb.p, "\"form\":\"compact\"") && strstr(cb.p, "\"strings\":\"10.96.0.10 TCP 10.244.1.2 conntrack 10.244.2.2\"") &&
			strstr(cb.p, "\"rows\":\"0 80 1 2 8080 3 0 7 8 0 0 0 0 0 0 0 3 101 - - 0 80 1 4 8080 3 0 2 2 0 0 0 0 0 0 0 0 - 5 -\""),
		"compact flows: one string table, one string of rows (rates rounded, - unknown)");
	struct kt_snapshot *sc = kt_snapshot_new();
	struct kt_diag dc = {0};
	T_CHECK_INT(kt_agent_decode_flows(sc, cb.p, cb.n, "node-a", &dc), 0, "compact flows decode");
	const struct kt_flow_sample *gc = sc->n_flows ? &sc->flows[0] : NULL;
	T_CHECK(gc && gc->n_agg == 2 && !strcmp(gc->agg[1].backend_ip, "10.244.2.2") && gc->agg[0].vport == 80 &&
			gc->agg[0].established == 7 && gc->agg[0].total == 8 && gc->agg[0].opened == 3 &&
			gc->agg[0].rate_orig == 101 && gc->agg[0].rate_reply == -1 && gc->agg[1].rate_reply == 5 &&
			gc->agg[0].src == KT_FLOW_CONNTRACK && gc->events && gc->full_dump && gc->taken_ms == 1700000002000LL &&
			sc->n_gaps == 1 && !strcmp(sc->gaps[0].what, "node node-a: connection ages"),
		"compact flows decode: addresses, counts, opened, rates, event mode, the agent's gaps");
	kt_snapshot_free(sc);
	/* malformed compact bodies: each refused with what was wrong */
	static const char *const badc[][2] = {
		{"\"rows\":\"0 80 1 2 8080 3 0 7 8 0 0 0 0 0 0 0 3 101 - -", "\"rows\":\"0 80 1 9 8080 3 0 7 8 0 0 0 0 0 0 0 3 101 - -"},
		{"\"rows\":\"0 80 1 2 8080 3 0 7 8 0 0 0 0 0 0 0 3 101 - -", "\"rows\":\"0 99999 1 2 8080 3 0 7 8 0 0 0 0 0 0 0 3 101 - -"},
		{"\"rows\":\"0 80 1 2 8080 3 0 7 8 0 0 0 0 0 0 0 3 101 - -", "\"rows\":\"0 80 1 2 8080 3 0 - 8 0 0 0 0 0 0 0 3 101 - -"},
		{"\"rows\":\"0 80 1 2 8080 3 0 7 8 0 0 0 0 0 0 0 3 101 - -", "\"rows\":\"0 80 1 2 8080 3 0 7x 8 0 0 0 0 0 0 0 3 101 - -"},
		{" 5 -\"", " 5\""},
		{"\"fields\":[\"vip\"", "\"fields\":[\"pvi\""},
		{"\"strings\":\"", "\"strings\":1,\"x\":\""},
	};
	for (size_t i = 0; i < sizeof(badc) / sizeof(badc[0]); i++) {
		char *at = strstr(cb.p, badc[i][0]);
		size_t ol = strlen(badc[i][0]), nl = strlen(badc[i][1]);
		char *b = malloc(cb.n + nl + 1);
		if (at) {
			size_t pre = (size_t)(at - cb.p);
			memcpy(b, cb.p, pre);
			memcpy(b + pre, badc[i][1], nl);
			strcpy(b + pre + nl, at + ol);
		}
		struct kt_snapshot *sb = kt_snapshot_new();
		struct kt_diag db = {0};
		T_CHECK(at && kt_agent_decode_flows(sb, b, strlen(b), NULL, &db) == -KT_EXIT_INPUT && sb->n_flows == 0 &&
				strstr(db.msg, "agent flows"),
			"compact flows refused: bad string index, port, unknown count, junk, short row, fields, strings");
		kt_snapshot_free(sb);
		free(b);
	}
	free(cb.p);
	T_CHECK(asprintf(&merged, "%.*s,%s", (int)fb.n - 1, fb.p, xb.p + 1) > 0, "merge flows");
	struct kt_snapshot *s3 = kt_snapshot_new();
	struct kt_diag d6 = {0};
	T_CHECK_INT(kt_agent_decode_flows(s3, merged, strlen(merged), "node-a", &d6), 0, "flows decode");
	const struct kt_flow_sample *got = s3->n_flows ? &s3->flows[0] : NULL;
	T_CHECK(got && got->n_agg == 2 && got->agg[0].established == 7 && got->agg[0].opened == 3 &&
			got->agg[0].rate_orig == 100.5 && got->agg[0].rate_reply == -1 && got->agg[1].rate_reply == 5 &&
			got->events && got->full_dump,
		"flows decode: counts, opened, byte rates (null = unknown), event mode");
	kt_snapshot_free(s3);
	/* opened array of the wrong length */
	char *bad_f = strdup(merged);
	char *op = strstr(bad_f, "\"opened\":[3,0]");
	if (op)
		memcpy(op, "\"opened\":[3]  ", 14);
	struct kt_snapshot *s4 = kt_snapshot_new();
	struct kt_diag d7 = {0};
	T_CHECK(op && kt_agent_decode_flows(s4, bad_f, strlen(bad_f), NULL, &d7) == -KT_EXIT_INPUT &&
			strstr(d7.msg, "do not match"),
		"flows whose sampler arrays do not match are refused");
	kt_snapshot_free(s4);
	free(bad_f);
	free(merged);
	free(fb.p);
	free(xb.p);

	/* errors */
	struct kt_agent_error e;
	struct mbuf er = {0};
	w = kt_jw_new_sink(msink, &er, false);
	kt_agent_error_to_json(w, 412, "StateChanged", "state moved", "00000000000000aa");
	kt_jw_free(w);
	kt_agent_decode_error(er.p, er.n, 412, &e);
	T_CHECK(e.from_agent && e.code == 412 && !strcmp(e.reason, "StateChanged") && !strcmp(e.state_id, "00000000000000aa"),
		"agent error decoded with its state id");
	free(er.p);
	const char *st = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"error trying to reach "
			 "service: dial tcp 10.0.0.1:10265: connect: connection refused\",\"reason\":\"ServiceUnavailable\",\"code\":503}";
	kt_agent_decode_error(st, strlen(st), 503, &e);
	T_CHECK(e.from_apiserver && e.code == 503 && strstr(e.message, "connection refused"), "API server Status decoded");
	kt_agent_decode_error("", 0, 401, &e);
	T_CHECK(!e.from_agent && e.code == 401 && !strcmp(e.reason, "Unauthorized") && strstr(e.message, "token"),
		"empty 401 from the agent");
	const char *html = "<html>\n\x1b[31mbad gateway</html>";
	kt_agent_decode_error(html, strlen(html), 502, &e);
	T_CHECK(!strcmp(e.message, "<html>") && !strcmp(e.reason, "BadGateway"), "text error: first line, no control bytes");
	kt_arena_free(ar);
	kt_snapshot_free(a.s);
}

/* ---- request parsing ------------------------------------------------- */

static struct kt_ag_req R;

static void parse(const char *method, const char *target)
{
	kt_ag_parse(&R, method, target, strlen(target));
}

static void test_requests(void)
{
	parse("GET", "/healthz");
	T_CHECK(R.route == KT_AG_HEALTHZ && !R.status, "GET /healthz");
	parse("HEAD", "/v1/digests");
	T_CHECK(R.route == KT_AG_DIGESTS && R.head && !R.status, "HEAD /v1/digests");
	parse("POST", "/v1/node");
	T_CHECK(R.route == KT_AG_NODE && R.status == 405, "POST: 405");
	parse("GET", "/v1/nodes");
	T_CHECK(R.status == 404, "unknown path: 404");
	parse("GET", "/v1/node/");
	T_CHECK(R.status == 404, "trailing slash: 404");
	parse("GET", "http://x/v1/node");
	T_CHECK(R.status == 400, "absolute-form target: 400");
	parse("GET", "/v1/%6eode");
	T_CHECK(R.route == KT_AG_NODE && !R.status, "percent-encoded path");
	parse("GET", "/v1/node?keys=shop/web,kube-system/kube-dns,shop/web,,/10.96.0.10:53");
	T_CHECK(!R.status && R.has_keys && R.n_keys == 3 && !strcmp(R.keys[0], "shop/web") &&
			!strcmp(R.keys[1], "kube-system/kube-dns") && !strcmp(R.keys[2], "/10.96.0.10:53"),
		"keys: split, de-duplicated, empty ones skipped");
	parse("GET", "/v1/node?keys=shop%2Fweb&state=0123456789abcdef");
	T_CHECK(!R.status && R.n_keys == 1 && !strcmp(R.keys[0], "shop/web") && !strcmp(R.state, "0123456789abcdef"),
		"percent-encoded key and state id");
	parse("GET", "/v1/node?keys=");
	T_CHECK(!R.status && R.has_keys && R.n_keys == 0, "keys= with no key");
	parse("GET", "/v1/node?keys=Shop/web");
	T_CHECK(R.status == 400, "namespace with upper case: 400");
	parse("GET", "/v1/node?keys=shop/we%20b");
	T_CHECK(R.status == 400, "key with a space: 400");
	parse("GET", "/v1/node?keys=shop/web%0a");
	T_CHECK(R.status == 400, "key with a control byte: 400");
	parse("GET", "/v1/node?keys=shop/web%zz");
	T_CHECK(R.status == 400, "bad escape: 400");
	parse("GET", "/v1/node?keys=shop/web%4");
	T_CHECK(R.status == 400, "truncated escape: 400");
	parse("GET", "/v1/node?keys=a/b&keys=c/d");
	T_CHECK(R.status == 400 && strstr(R.error, "twice"), "a parameter twice: 400");
	parse("GET", "/v1/node?state=XYZ");
	T_CHECK(R.status == 400, "bad state id: 400");
	parse("GET", "/v1/node?canonical=1");
	T_CHECK(R.status == 400 && strstr(R.error, "unknown query parameter 'canonical'"), "parameter of another path: 400");
	parse("GET", "/v1/digests?canonical=1");
	T_CHECK(!R.status && R.canonical, "digests?canonical=1");
	parse("GET", "/v1/digests?canonical=maybe");
	T_CHECK(R.status == 400, "canonical=maybe: 400");
	parse("GET", "/v1/flows?x=1");
	T_CHECK(R.status == 400, "flows take no other parameters");
	parse("GET", "/v1/flows?form=compact");
	T_CHECK(!R.status && R.compact, "flows?form=compact");
	parse("GET", "/v1/flows?form=full");
	T_CHECK(!R.status && !R.compact, "flows?form=full");
	parse("GET", "/v1/flows?form=tiny");
	T_CHECK(R.status == 400 && strstr(R.error, "not compact or full"), "form=tiny: 400");
	parse("GET", "/v1/node?form=compact");
	T_CHECK(R.status == 400, "form is a flows parameter only");
	parse("GET", "/healthz?probe=1");
	T_CHECK(R.route == KT_AG_HEALTHZ && !R.status, "healthz ignores its query");
	/* caps */
	size_t cap = 300 * 8 + 16;
	char *big = malloc(cap);
	size_t o = (size_t)snprintf(big, cap, "/v1/node?keys=");
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(big + o, cap - o, "a/s%03d,", i);
	kt_ag_parse(&R, "GET", big, o);
	T_CHECK(R.status == 400 && strstr(R.error, "more than 256"), "more than 256 keys: 400");
	free(big);
	char *huge = malloc(KT_AGENT_MAX_TARGET + 10);
	memset(huge, 'a', KT_AGENT_MAX_TARGET + 9);
	huge[0] = '/';
	kt_ag_parse(&R, "GET", huge, KT_AGENT_MAX_TARGET + 9);
	T_CHECK(R.status == 414, "target over the cap: 414");
	free(huge);
	char longkey[400] = "/v1/node?keys=a/";
	memset(longkey + strlen(longkey), 'x', 330);
	longkey[16 + 330] = 0;
	parse("GET", longkey);
	T_CHECK(R.status == 400, "key over 320 bytes: 400");

	const char *tok = "0123456789abcdef0123456789abcdef";
	size_t tl = strlen(tok);
	T_CHECK(kt_ag_token_ok(tok, tl, NULL, 0, tok, tl), "token in X-Ktrace-Token");
	T_CHECK(!kt_ag_token_ok("0123456789abcdef0123456789abcdeX", tl, NULL, 0, tok, tl), "wrong last byte refused");
	T_CHECK(!kt_ag_token_ok(tok, tl - 1, NULL, 0, tok, tl), "prefix of the token refused");
	T_CHECK(!kt_ag_token_ok("0123456789abcdef0123456789abcdef0", tl + 1, NULL, 0, tok, tl), "token plus a byte refused");
	T_CHECK(!kt_ag_token_ok("", 0, NULL, 0, tok, tl) && !kt_ag_token_ok(NULL, 0, NULL, 0, tok, tl), "no token refused");
	char bearer[80];
	snprintf(bearer, sizeof(bearer), "bearer  %s ", tok);
	T_CHECK(kt_ag_token_ok(NULL, 0, bearer, strlen(bearer), tok, tl), "Authorization: Bearer (Prometheus)");
	T_CHECK(!kt_ag_token_ok(NULL, 0, "Basic abc", 9, tok, tl), "Basic auth refused");
	T_CHECK(!kt_ag_token_ok("short", 5, NULL, 0, "short", 5), "a token under 16 bytes is never accepted");

	T_CHECK(kt_ag_accepts_gzip("gzip"), "gzip");
	T_CHECK(kt_ag_accepts_gzip("deflate, gzip;q=0.5"), "gzip;q=0.5");
	T_CHECK(!kt_ag_accepts_gzip("gzip;q=0"), "gzip;q=0");
	T_CHECK(!kt_ag_accepts_gzip("identity"), "identity only");
	T_CHECK(kt_ag_accepts_gzip("*"), "*");
	T_CHECK(!kt_ag_accepts_gzip("*, gzip;q=0"), "gzip refused explicitly");
	T_CHECK(kt_ag_accepts_gzip("br;q=1.0, X-GZIP ; q=0.8"), "x-gzip, spaces, case");
	T_CHECK(!kt_ag_accepts_gzip(NULL) && !kt_ag_accepts_gzip(""), "no header");

	T_CHECK(kt_ag_etag_match("W/\"00ff\"", "W/\"00ff\"") && kt_ag_etag_match("\"a\", \"00ff\"", "W/\"00ff\"") &&
			kt_ag_etag_match("*", "W/\"x\"") && !kt_ag_etag_match("\"00fe\"", "W/\"00ff\""),
		"If-None-Match");
}

/* ---- bodies and manifests -------------------------------------------- */

static void w_obj_a(struct kt_jw *w, const void *arg)
{
	(void)arg;
	kt_jw_obj(w);
	kt_jw_kint(w, "a", 1);
	kt_jw_obj_end(w);
}

static void w_obj_b(struct kt_jw *w, const void *arg)
{
	kt_jw_obj(w);
	if (arg)
		kt_jw_kstr(w, "b", arg);
	kt_jw_obj_end(w);
}

static void test_bodies(void)
{
	struct kt_ag_body *b = kt_ag_json_merge(w_obj_a, NULL, w_obj_b, "x");
	T_CHECK_STR(b->data, "{\"a\":1,\"b\":\"x\"}", "merge two objects");
	struct kt_ag_body *c = kt_ag_json_merge(w_obj_a, NULL, w_obj_b, NULL);
	T_CHECK_STR(c->data, "{\"a\":1}", "merge with an empty object");
	T_CHECK(strcmp(b->etag, c->etag) != 0 && !strncmp(b->etag, "W/\"", 3) && strlen(b->etag) == 20, "weak ETag per body");
	struct kt_ag_body *t = kt_ag_text_body("hello hello hello hello hello hello hello hello\n", 48);
	struct kt_ag_body *z = kt_ag_gzip(t);
	char out[128];
	uLongf ol = sizeof(out);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	inflateInit2(&zs, 31);
	zs.next_in = (Bytef *)z->data;
	zs.avail_in = (uInt)z->len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)ol;
	int zr = inflate(&zs, Z_FINISH);
	size_t got = ol - zs.avail_out;
	inflateEnd(&zs);
	T_CHECK(zr == Z_STREAM_END && got == 48 && !memcmp(out, t->data, 48) && z->gzip && !strcmp(z->etag, t->etag),
		"gzip body inflates to the plain one, same ETag");
	kt_ag_body_unref(b);
	kt_ag_body_unref(c);
	kt_ag_body_unref(t);
	kt_ag_body_unref(z);

	char *m = kt_ag_manifest(kt_ag_default_image, KT_AGENT_NAMESPACE);
	size_t la = 0, lu = 0;
	char *fa = t_slurp("deploy/ktrace-agent.yaml", 1 << 20, &la), *fu = t_slurp("deploy/ktrace-users.yaml", 1 << 20, &lu);
	char *want = NULL;
	T_CHECK(fa && fu && asprintf(&want, "%s---\n%s", fa, fu) > 0 && !strcmp(m, want),
		"default manifest is deploy/ktrace-agent.yaml + --- + deploy/ktrace-users.yaml");
	free(want);
	free(m);
	m = kt_ag_manifest("registry.example.com/t/ktrace@sha256:abc", "tools");
	T_CHECK(!strstr(m, "namespace: ktrace") && !strstr(m, "metadata:\n  name: ktrace\n") && !strstr(m, "localhost/ktrace") &&
			strstr(m, "kind: Namespace\nmetadata:\n  name: tools\n") &&
			strstr(m, "image: registry.example.com/t/ktrace@sha256:abc\n") &&
			strstr(m, "kubectl -n tools create secret generic ktrace-agent-token") &&
			strstr(m, "secretName: ktrace-agent-token"),
		"manifest with another image and namespace");
	free(m);
	free(fa);
	free(fu);
	T_CHECK(strstr(kt_ag_default_image, KT_VERSION) != NULL, "default image tag is the version");
}

static void run(void)
{
	test_digests();
	test_decoders();
	test_requests();
	test_bodies();
}

T_MAIN("test_agent")
