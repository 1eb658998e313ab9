/* Unit tests for the kube-proxy iptables readers: chain-name hashing,
 * iptables-save parsing (nft and legacy dumps of the lab fixture), chained
 * statistic probabilities, Local policy, affinity, large-cluster mode
 * (no comments: names from API Services), xtables compat payloads and
 * malformed input positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectors/dataplane/dp_internal.h"
#include "harness.h"
#include "ktrace/bundle.h"

static const struct kt_dp_service *find(const struct kt_dp_node *n, const char *ns, const char *name,
					const char *port)
{
	for (uint32_t i = 0; i < n->n_svcs; i++)
		if (!strcmp(n->svcs[i].namespace, ns) && !strcmp(n->svcs[i].name, name) &&
		    !strcmp(n->svcs[i].port_name, port))
			return &n->svcs[i];
	return NULL;
}

static void test_hash(void)
{
	char h[17];
	kt_dp_hash_b32("ns1/svc1:p80tcp", h, 16);
	T_CHECK_STR(h, "XPGD46QRK7WJZT7O", "KUBE-SVC hash vector");
	kt_dp_hash_b32("ns1/svc1:p80tcp10.180.0.1:80", h, 16);
	T_CHECK_STR(h, "SXIVWICOYRO3J4NJ", "KUBE-SEP hash vector");
	kt_dp_hash_b32("default/kubernetes:httpstcp", h, 16);
	T_CHECK_STR(h, "NPX46M4PTMTKRN6Y", "kubernetes service hash");
	kt_dp_hash_b32("ns1/svc1/tcp/p80", h, 8);
	T_CHECK_STR(h, "ULMVA6XW", "nftables name hash");
	uint8_t d[32];
	kt_sha256("abc", 3, d);
	T_CHECK(d[0] == 0xba && d[1] == 0x78 && d[31] == 0xad, "sha256(abc)");
	char a[64] = {0};
	memset(a, 'a', 56);
	kt_sha256(a, 56, d); /* two-block padding path */
	T_CHECK(d[0] == 0xb3 && d[1] == 0x54 && d[31] == 0x8a, "sha256 56-byte message");
}

static void test_helpers(void)
{
	char ns[64], name[64], port[64];
	T_CHECK(kt_dp_split_spn("shop/web:http", 13, ns, 64, name, 64, port, 64), "split spn");
	T_CHECK_STR(name, "web", "spn name");
	T_CHECK_STR(port, "http", "spn port");
	T_CHECK(kt_dp_split_spn("shop/api", 8, ns, 64, name, 64, port, 64) && port[0] == 0, "unnamed port");
	T_CHECK(!kt_dp_split_spn("noslash", 7, ns, 64, name, 64, port, 64), "malformed spn");
	T_CHECK_NEAR(kt_dp_snap_prob(0.33333333349), 1.0 / 3, 1e-15, "1/3 from iptables-save text");
	T_CHECK_NEAR(kt_dp_snap_prob(0.20000000019), 0.2, 1e-15, "1/5 from iptables-save text");
	T_CHECK_NEAR(kt_dp_snap_prob(0.3), 0.3, 1e-15, "non-reciprocal probability kept");
}

static void test_parse_line(void)
{
	char line[] = "-A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.96.0.1/32 -p tcp -m comment --comment \"a \\\"b\\\" c\" "
		      "-m tcp --dport 443 -m statistic --mode random --probability 0.25000000000 -j KUBE-SEP-Y";
	char *chain;
	struct kt_ipt_rule r;
	T_CHECK_INT(kt_ipt_parse_line(line, &chain, &r), 0, "rule parses");
	T_CHECK_STR(chain, "KUBE-SVC-X", "chain");
	T_CHECK(r.src_neg && !strcmp(r.src, "10.244.0.0/16"), "negated source");
	T_CHECK_INT(r.dport, 443, "dport");
	T_CHECK_INT(r.proto, 6, "proto");
	T_CHECK(r.has_prob && r.prob == 0.25, "probability");
	T_CHECK(r.comment_len == 7 && !memcmp(r.comment, "a \"b\" c", 7), "escaped comment");
	T_CHECK(r.verdict == KT_IPT_JUMP && r.target_len == 10, "jump target");
	char l2[] = "[12:3400] -A KUBE-SEP-Y -p udp -m recent --set --name KUBE-SEP-Y --mask 255.255.255.255 --rsource "
		    "-m udp -j DNAT --to-destination [fd00::1]:53";
	T_CHECK_INT(kt_ipt_parse_line(l2, &chain, &r), 0, "counter-prefixed rule parses");
	T_CHECK(r.verdict == KT_IPT_DNAT && !strcmp(r.dnat_ip, "fd00::1") && r.dnat_port == 53, "IPv6 DNAT target");
	T_CHECK(r.recent & KT_RECENT_SET, "recent --set");
	char l3[] = "-A KUBE-X -m comment --comment \"unterminated";
	T_CHECK(kt_ipt_parse_line(l3, &chain, &r) < 0, "unterminated quote rejected");
}

static struct kt_snapshot *from_file(const char *path, struct kt_diag *d, int *rc)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_node_opts o = {.node_name = "node-a", .iptables_save = path};
	*rc = kt_dp_collect(s, &o, d);
	kt_snapshot_finish(s);
	return s;
}

static void check_fixture(const char *path, enum kt_dp_mode mode)
{
	struct kt_diag d = {0};
	int rc;
	struct kt_snapshot *s = from_file(path, &d, &rc);
	T_CHECK_INT(rc, 0, path);
	if (rc < 0 || s->n_dp != 1) {
		kt_snapshot_free(s);
		return;
	}
	struct kt_dp_node *n = &s->dp[0];
	T_CHECK_INT(n->n_svcs, 7, "7 service ports");
	T_CHECK(n->modes == (1u << mode), "mode from the dump header");
	const struct kt_dp_service *web = find(n, "shop", "web", "http");
	T_CHECK(web && web->n_be == 3, "shop/web: 3 backends");
	if (web) {
		T_CHECK_NEAR(web->be[0].probability, 1.0 / 3, 1e-12, "chained 1/3, 1/2, 1 multiplied out");
		T_CHECK_NEAR(web->be[2].probability, 1.0 / 3, 1e-12, "last backend gets the rest");
		T_CHECK_STR(web->chain_hash, "67NZLRHBNDSAWJRO", "chain hash");
	}
	const struct kt_dp_service *ext = find(n, "shop", "ext", "http");
	T_CHECK(ext && ext->n_be == 4 && ext->masquerade, "externalIP service, 4 backends, masquerade");
	const struct kt_dp_service *front = find(n, "shop", "front", "https");
	T_CHECK(front && front->local_only && !front->masquerade, "eTP=Local: local only, no SNAT");
	if (front) {
		T_CHECK_INT(front->n_be, 2, "internal set: all endpoints");
		T_CHECK(front->n_ext_be == 1 && !strcmp(front->ext_be[0].ip, "10.244.1.21") && front->ext_be[0].local,
			"external set: the local endpoint");
		bool hc = false, lb = false;
		for (uint32_t i = 0; i < front->n_fe; i++) {
			hc |= front->fe[i].kind == KT_FE_HEALTHCHECK && front->fe[i].port == 32001;
			lb |= front->fe[i].kind == KT_FE_LOADBALANCER && !strcmp(front->fe[i].ip, "203.0.113.10");
		}
		T_CHECK(hc && lb, "health-check and LoadBalancer frontends");
	}
	const struct kt_dp_service *api = find(n, "shop", "api", "");
	T_CHECK(api && api->affinity && api->affinity_timeout == 10800, "ClientIP affinity from recent");
	const struct kt_dp_service *dns = find(n, "kube-system", "kube-dns", "dns");
	T_CHECK(dns && !strcmp(dns->protocol, "UDP"), "UDP service");
	kt_snapshot_free(s);
}

/* large-cluster mode: strip every comment from SEP/SVC rules and KUBE-SERVICES too;
 * the names must come back from API Services through the chain hash */
static void test_no_comments(void)
{
	FILE *in = fopen("tests/fixtures/dataplane/iptables-nft.save", "r");
	char tmp[] = "/tmp/ktdp-nocomment-XXXXXX";
	int fd = mkstemp(tmp);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	T_CHECK(in && out, "fixture readable");
	if (!in || !out)
		return;
	char line[4096];
	while (fgets(line, sizeof(line), in)) {
		char *c = strstr(line, " -m comment --comment \"");
		if (c) {
			char *e = strchr(c + 23, '"');
			if (e)
				memmove(c, e + 1, strlen(e + 1) + 1);
		}
		fputs(line, out);
	}
	fclose(in);
	fclose(out);
	/* API objects first (bundle), then the comment-less dump */
	FILE *bf = fopen("tests/fixtures/dataplane/bundle.json", "r");
	char *buf = malloc(1 << 20);
	size_t bl = bf ? fread(buf, 1, (1 << 20) - 1, bf) : 0;
	if (bf)
		fclose(bf);
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	T_CHECK(bl && kt_bundle_load_mem("bundle.json", buf, bl, &s, &d) == 0, "fixture bundle loads");
	free(buf);
	if (!s) {
		unlink(tmp);
		return;
	}
	struct kt_node_opts o = {.node_name = "node-a", .iptables_save = tmp};
	T_CHECK_INT(kt_dp_collect(s, &o, &d), 0, "comment-less dump parses");
	s->finished = false;
	kt_snapshot_finish(s);
	const struct kt_dp_node *n = s->n_dp ? &s->dp[0] : NULL;
	const struct kt_dp_service *web = n ? find(n, "shop", "web", "http") : NULL;
	T_CHECK(web && web->n_be == 3 && !web->names_guessed, "names recovered from recomputed hashes");
	uint32_t guessed = 0;
	for (uint32_t i = 0; n && i < n->n_svcs; i++)
		guessed += n->svcs[i].names_guessed;
	T_CHECK_INT(guessed, 0, "every chain mapped to a Service");
	kt_snapshot_free(s);
	/* without API objects the services are still listed, by chain */
	int rc;
	s = from_file(tmp, &d, &rc);
	T_CHECK(s->n_dp == 1 && s->dp[0].n_svcs == 7 && s->dp[0].svcs[0].names_guessed, "unnamed chains listed");
	kt_snapshot_free(s);
	unlink(tmp);
}

static void test_errors(void)
{
	char tmp[] = "/tmp/ktdp-bad-XXXXXX";
	int fd = mkstemp(tmp);
	FILE *f = fdopen(fd, "w");
	fputs("*nat\n:KUBE-SERVICES - [0:0]\nthis is not a rule\nCOMMIT\n", f);
	fclose(f);
	struct kt_diag d = {0};
	int rc;
	struct kt_snapshot *s = from_file(tmp, &d, &rc);
	T_CHECK_INT(rc, -KT_EXIT_INPUT, "malformed dump is an input error");
	T_CHECK(strstr(d.msg, ":3:") != NULL, "error names the line");
	kt_snapshot_free(s);
	unlink(tmp);
	struct kt_diag d2 = {0};
	s = from_file("/nonexistent/nat.txt", &d2, &rc);
	T_CHECK_INT(rc, -KT_EXIT_INPUT, "missing file is invalid input (5), like a missing kubeconfig");
	kt_snapshot_free(s);
}

static void test_xt(void)
{
	struct kt_ipt_rule r;
	memset(&r, 0, sizeof(r));
	uint8_t stat[16] = {0};
	uint32_t p = 715827883; /* lround(2^31 / 3) */
	memcpy(stat + 4, &p, 4);
	char c[256];
	kt_xt_match(&r, "statistic", 0, stat, sizeof(stat), c, sizeof(c));
	T_CHECK(r.has_prob && kt_dp_snap_prob(r.prob) == 1.0 / 3, "xt statistic probability");
	uint8_t rec[228] = {0};
	uint32_t secs = 600;
	memcpy(rec, &secs, 4);
	rec[8] = 0x01 | 0x20; /* check | reap */
	kt_xt_match(&r, "recent", 1, rec, sizeof(rec), c, sizeof(c));
	T_CHECK((r.recent & KT_RECENT_CHECK) && r.recent_seconds == 600, "xt recent rcheck");
	uint8_t at[8] = {0};
	at[0] = 4; /* source LOCAL */
	kt_xt_match(&r, "addrtype", 1, at, sizeof(at), c, sizeof(c));
	T_CHECK(r.src_local, "xt addrtype src LOCAL");
	kt_xt_match(&r, "comment", 0, "hello", 6, c, sizeof(c));
	T_CHECK(r.comment_len == 5 && !strcmp(c, "hello"), "xt comment");
	uint8_t nat[44] = {0};
	uint32_t fl = 3;
	memcpy(nat, &fl, 4);
	nat[4] = 10, nat[5] = 244, nat[6] = 1, nat[7] = 11;
	nat[36] = 0x1f, nat[37] = 0x90;
	kt_xt_target(&r, "DNAT", 2, nat, sizeof(nat), 2);
	T_CHECK(r.verdict == KT_IPT_DNAT && !strcmp(r.dnat_ip, "10.244.1.11") && r.dnat_port == 8080, "xt DNAT rev 2");
	kt_xt_target(&r, "DNAT", 2, nat, 10, 2); /* short payload: no crash, no address */
	T_CHECK(r.verdict == KT_IPT_DNAT, "short DNAT payload tolerated");
	uint8_t masq[20] = {0};
	masq[4] = 0x10;
	kt_xt_target(&r, "MASQUERADE", 0, masq, sizeof(masq), 2);
	T_CHECK(r.verdict == KT_IPT_MASQ && r.random_fully, "xt MASQUERADE --random-fully");
}

static void run(void)
{
	test_hash();
	test_helpers();
	test_parse_line();
	check_fixture("tests/fixtures/dataplane/iptables-nft.save", KT_DP_IPTABLES_NFT);
	check_fixture("tests/fixtures/dataplane/iptables-legacy.save", KT_DP_IPTABLES_LEGACY);
	test_no_comments();
	test_errors();
	test_xt();
}

T_MAIN("test_dp_iptables")
