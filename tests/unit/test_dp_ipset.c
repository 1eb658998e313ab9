/* Unit tests for IPVS mode's node objects and netlink record/replay:
 * kube-proxy ipsets decoded from an IPSET_CMD_LIST dump and kube-ipvs0
 * addresses from RTM_NEWLINK/RTM_NEWADDR dumps, both recorded from a lab
 * netns (the .nl files in tests/fixtures/dataplane, KTRACE_NL_RECORD format),
 * folded into the IPVS services of the fixture cluster; malformed buffers; and
 * the same dumps read back through KTRACE_NL_REPLAY (no root needed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collectors/dataplane/dp_internal.h"
#include "harness.h"
#include "ktrace/bundle.h"

#define FX "tests/fixtures/dataplane/"

static char *slurp(const char *path, size_t *len)
{
	return t_slurp(path, 1 << 20, len);
}

static const struct kt_dp_service *find(const struct kt_dp_node *n, const char *ns, const char *name,
					const char *port)
{
	for (uint32_t i = 0; n && i < n->n_svcs; i++)
		if (!strcmp(n->svcs[i].namespace, ns) && !strcmp(n->svcs[i].name, name) &&
		    !strcmp(n->svcs[i].port_name, port))
			return &n->svcs[i];
	return NULL;
}

static bool has_ev(const struct kt_dp_service *s, const char *table, const char *chain, const char *key)
{
	for (uint32_t i = 0; s && i < s->n_ev; i++)
		if (s->ev[i].table && !strcmp(s->ev[i].table, table) && s->ev[i].chain &&
		    !strcmp(s->ev[i].chain, chain) && s->ev[i].map_key && !strcmp(s->ev[i].map_key, key))
			return true;
	return false;
}

static struct kt_ipset_db *load_db(void)
{
	struct kt_ipset_db *db = kt_ipset_db_new();
	size_t l;
	char *b = slurp(FX "ipset-list.nl", &l);
	T_CHECK(b != NULL, "recorded ipset dump present");
	if (b)
		T_CHECK_INT(kt_ipset_decode(db, b, l), 0, "ipset dump decodes");
	free(b);
	static const char *rt[2] = {FX "rtnl-link.nl", FX "rtnl-addr.nl"};
	for (int i = 0; i < 2; i++) {
		b = slurp(rt[i], &l);
		if (b)
			kt_rtaddr_decode(db, b, l, "kube-ipvs0");
		free(b);
	}
	return db;
}

static void test_decode(void)
{
	struct kt_ipset_db *db = load_db();
	T_CHECK_STR(kt_ipset_type(db, "KUBE-CLUSTER-IP"), "hash:ip,port", "set type");
	T_CHECK_STR(kt_ipset_type(db, "KUBE-NODE-PORT-TCP"), "bitmap:port", "bitmap set type");
	T_CHECK_INT(kt_ipset_count(db, "KUBE-CLUSTER-IP"), 7, "KUBE-CLUSTER-IP members");
	T_CHECK(kt_ipset_has(db, "KUBE-CLUSTER-IP", "10.96.0.10,udp:53"), "hash:ip,port entry as Entry.String()");
	T_CHECK(kt_ipset_has(db, "KUBE-LOOP-BACK", "10.244.1.11,tcp:8080,10.244.1.11"), "hash:ip,port,ip entry");
	T_CHECK(kt_ipset_has(db, "KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.10,tcp:443,198.51.100.0/24"),
		"hash:ip,port,net entry");
	T_CHECK(kt_ipset_has(db, "KUBE-NODE-PORT-TCP", "31443") && kt_ipset_has(db, "KUBE-NODE-PORT-LOCAL-TCP", "31443"),
		"bitmap:port entries");
	T_CHECK(!kt_ipset_has(db, "KUBE-NODE-PORT-LOCAL-TCP", "30080"), "no false members");
	T_CHECK(kt_ipset_has(db, "KUBE-6-CLUSTER-IP", "fd00:10:96::15,tcp:80"), "IPv6 set entry");
	T_CHECK_INT(kt_ipset_count(db, "KUBE-EXTERNAL-IP-LOCAL"), 0, "empty set");
	T_CHECK(kt_ipset_link(db), "kube-ipvs0 found by name");
	T_CHECK(kt_ipset_bound(db, "10.96.0.10") && kt_ipset_bound(db, "203.0.113.10") &&
			kt_ipset_bound(db, "fd00:10:96::15"),
		"kube-ipvs0 addresses (IPv4 and IPv6)");
	T_CHECK(!kt_ipset_bound(db, "10.96.0.1"), "unbound address");
	kt_ipset_db_free(db);
}

static void test_fold(void)
{
	size_t l;
	char *b = slurp(FX "bundle.json", &l);
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	if (!b || kt_bundle_load_mem("bundle.json", b, l, &s, &d) < 0) {
		T_SKIP("fold", "fixture bundle missing");
		free(b);
		return;
	}
	free(b);
	char *ip = slurp(FX "ipvsadm.save", &l);
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	T_CHECK_INT(kt_dp_ipvsadm_mem(s, n, ip, l, "ipvsadm.save", &d), 0, "ipvsadm fixture parses");
	free(ip);
	struct kt_ipset_db *db = load_db();
	kt_ipset_fold(s, n, 0, db);
	kt_ipset_db_free(db);
	const struct kt_dp_service *front = find(n, "shop", "front", "https");
	T_CHECK(front && front->local_only && !front->masquerade, "LB in KUBE-LOAD-BALANCER-LOCAL: Local, no SNAT");
	T_CHECK(front && front->n_source_ranges == 2, "two LB source ranges");
	T_CHECK(has_ev(front, "ipset", "KUBE-LOAD-BALANCER-FW", "203.0.113.10,tcp:443"), "firewall set evidence");
	T_CHECK(has_ev(front, "link", "kube-ipvs0", "203.0.113.10/32"), "bound LB VIP evidence");
	bool hc = false;
	for (uint32_t i = 0; front && i < front->n_fe; i++)
		hc |= front->fe[i].kind == KT_FE_HEALTHCHECK && front->fe[i].port == 32001;
	T_CHECK(hc, "health-check node port from KUBE-HEALTH-CHECK-NODE-PORT");
	const struct kt_dp_service *api = find(n, "shop", "api", "");
	T_CHECK(api && api->masquerade && !api->local_only, "NodePort in KUBE-NODE-PORT-TCP only: SNAT");
	T_CHECK(has_ev(api, "ipset", "KUBE-NODE-PORT-TCP", "30080"), "NodePort set evidence");
	const struct kt_dp_service *web = find(n, "shop", "web", "http");
	T_CHECK(has_ev(web, "ipset", "KUBE-LOOP-BACK", "10.244.1.11,tcp:8080,10.244.1.11"), "hairpin evidence");
	T_CHECK(web && !web->masquerade, "ClusterIP-only service: no external SNAT");
	bool note = false;
	for (uint32_t i = 0; i < n->n_notes; i++)
		note |= strstr(n->notes[i], "10.96.120.15:80") && strstr(n->notes[i], "not bound");
	T_CHECK(note, "ClusterIP missing from kube-ipvs0 noted");
	kt_snapshot_free(s);
}

static void test_fold_v6(void)
{
	static const char ipvs[] = "-A -t [fd00:10:96::15]:80 -s rr\n"
				   "-a -t [fd00:10:96::15]:80 -r [fd00:10:244:1::11]:8080 -m -w 1\n";
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	struct kt_diag d = {0};
	T_CHECK_INT(kt_dp_ipvsadm_mem(s, n, ipvs, sizeof(ipvs) - 1, "v6", &d), 0, "IPv6 ipvsadm text parses");
	struct kt_ipset_db *db = load_db();
	kt_ipset_fold(s, n, 0, db);
	kt_ipset_db_free(db);
	const struct kt_dp_service *v = n->n_svcs ? &n->svcs[0] : NULL;
	T_CHECK(has_ev(v, "ipset", "KUBE-6-CLUSTER-IP", "fd00:10:96::15,tcp:80"), "IPv6 service: KUBE-6- set evidence");
	T_CHECK(has_ev(v, "link", "kube-ipvs0", "fd00:10:96::15/128"), "IPv6 VIP bound to kube-ipvs0");
	kt_snapshot_free(s);
}

static void test_malformed(void)
{
	size_t l;
	char *b = slurp(FX "ipset-list.nl", &l);
	if (!b) {
		T_SKIP("malformed", "fixture missing");
		return;
	}
	for (size_t cut = 0; cut < l; cut += 7) {
		struct kt_ipset_db *db = kt_ipset_db_new();
		kt_ipset_decode(db, b, cut);
		kt_rtaddr_decode(db, b, cut, "kube-ipvs0");
		kt_ipset_db_free(db);
	}
	for (size_t i = 16; i < l; i += 13)
		b[i] ^= 0x5a;
	struct kt_ipset_db *db = kt_ipset_db_new();
	kt_ipset_decode(db, b, l);
	kt_ipset_db_free(db);
	free(b);
	T_CHECK(1, "truncated and corrupted dumps tolerated");
}

/* The recordings are named by their request: replay them by copying under
 * the names kt_ipset_read() asks for. */
static void test_replay(void)
{
	char dir[] = "/tmp/kt-replay-XXXXXX";
	if (!mkdtemp(dir)) {
		T_SKIP("replay", "mkdtemp failed");
		return;
	}
	/* first a record-free replay of nothing: every dump is a gap */
	setenv("KTRACE_NL_REPLAY", dir, 1);
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_ipset_db *db = kt_ipset_db_new();
	kt_ipset_read(s, db, true);
	T_CHECK(!kt_ipset_link(db) && kt_ipset_count(db, "KUBE-CLUSTER-IP") == 0, "empty recording: nothing read");
	kt_ipset_db_free(db);
	kt_snapshot_free(s);
	static const char *map[3][2] = {{FX "rtnl-link.nl", "nl-0-0db48099faacb1e1.bin"},
					{FX "rtnl-addr.nl", "nl-0-db06d370592ad285.bin"},
					{FX "ipset-list.nl", "nl-12-6342654c1745e0de.bin"}};
	for (int i = 0; i < 3; i++) {
		size_t l;
		char *b = slurp(map[i][0], &l);
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", dir, map[i][1]);
		FILE *f = fopen(p, "wb");
		if (f && b)
			fwrite(b, 1, l, f);
		if (f)
			fclose(f);
		free(b);
	}
	s = kt_snapshot_new();
	db = kt_ipset_db_new();
	T_CHECK_INT(kt_ipset_read(s, db, true), 0, "replayed dumps read");
	T_CHECK(kt_ipset_link(db) && kt_ipset_bound(db, "10.96.0.10"), "kube-ipvs0 replayed");
	T_CHECK_INT(kt_ipset_count(db, "KUBE-CLUSTER-IP"), 7, "ipsets replayed");
	kt_ipset_db_free(db);
	kt_snapshot_free(s);
	unsetenv("KTRACE_NL_REPLAY");
	for (int i = 0; i < 3; i++) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", dir, map[i][1]);
		unlink(p);
	}
	rmdir(dir);
}

static void run(void)
{
	test_decode();
	test_fold();
	test_fold_v6();
	test_malformed();
	test_replay();
}

T_MAIN("test_dp_ipset")
