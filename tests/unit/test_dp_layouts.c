/* Unit tests for the kube-proxy layouts ktrace reads from saved dumps:
 * v1.20 and v1.23 iptables (KUBE-XLB, KUBE-FW with KUBE-MARK-DROP,
 * masquerade rules in KUBE-SERVICES / KUBE-NODEPORTS / KUBE-SVC), a layout
 * it does not know (unknown, with the chain, never a guess), and the
 * v1.28+ iptables and v1.33 nftables dumps of the fidelity lab: rejected and
 * dropped Service ports, NodePort addresses, loadBalancerSourceRanges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectors/dataplane/dp_internal.h"
#include "harness.h"
#include "ktrace/analyze.h"
#include "ktrace/arena.h"
#include "ktrace/bundle.h"

static const struct kt_dp_service *find(const struct kt_dp_node *n, const char *name)
{
	for (uint32_t i = 0; n && i < n->n_svcs; i++)
		if (!strcmp(n->svcs[i].namespace, "shop") && !strcmp(n->svcs[i].name, name))
			return &n->svcs[i];
	return NULL;
}

static const struct kt_dp_frontend *fe(const struct kt_dp_service *s, enum kt_fe_kind k)
{
	for (uint32_t i = 0; s && i < s->n_fe; i++)
		if (s->fe[i].kind == k)
			return &s->fe[i];
	return NULL;
}

static struct kt_snapshot *load(const char *ipt, const char *nft)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_node_opts o = {.node_name = "node-a", .iptables_save = ipt, .nft_json = nft};
	struct kt_diag d = {0};
	T_CHECK_INT(kt_dp_collect(s, &o, &d), 0, ipt ? ipt : nft);
	kt_snapshot_finish(s);
	return s;
}

/* what must hold in both old layouts */
static void old_layout(const char *path, const char *ver, enum kt_fe_kind noep_lb)
{
	char m[128];
	struct kt_snapshot *s = load(path, NULL);
	const struct kt_dp_node *n = s->n_dp ? &s->dp[0] : NULL;
	const struct kt_dp_service *api = find(n, "api"), *ext = find(n, "ext"), *front = find(n, "front");
	snprintf(m, sizeof(m), "%s: NodePort with Cluster policy masquerades, NodePort frontend read", ver);
	T_CHECK(api && api->masquerade && !api->masq_unknown && fe(api, KT_FE_NODEPORT), m);
	snprintf(m, sizeof(m), "%s: externalIP with Cluster policy masquerades", ver);
	T_CHECK(ext && ext->masquerade && fe(ext, KT_FE_EXTERNALIP), m);
	snprintf(m, sizeof(m), "%s: KUBE-XLB is Local policy: no masquerade, the local endpoint only", ver);
	T_CHECK(front && front->local_only && !front->masquerade && front->n_ext_be == 1 &&
		!strcmp(front->ext_be[0].ip, "10.244.1.21") && front->ext_be[0].local && front->n_be == 2, m);
	snprintf(m, sizeof(m), "%s: LoadBalancer and NodePort frontends of the Local Service", ver);
	T_CHECK(fe(front, KT_FE_LOADBALANCER) && fe(front, KT_FE_NODEPORT) && fe(front, KT_FE_HEALTHCHECK), m);
	const struct kt_dp_service *lbsrc = find(n, "lbsrc");
	const struct kt_dp_frontend *lb = fe(lbsrc, KT_FE_LOADBALANCER);
	snprintf(m, sizeof(m), "%s: KUBE-FW source range on the LB frontend, masquerade in KUBE-FW", ver);
	T_CHECK(lb && lb->n_source_ranges == 1 && !strcmp(lb->source_ranges[0], "198.51.100.0/24") && lbsrc->masquerade &&
		lb->action == KT_DP_FORWARD, m);
	const struct kt_dp_service *nolocal = find(n, "nolocal");
	snprintf(m, sizeof(m), "%s: KUBE-XLB 'has no local endpoints' -> KUBE-MARK-DROP drops the external frontends", ver);
	T_CHECK(nolocal && fe(nolocal, KT_FE_LOADBALANCER) && fe(nolocal, KT_FE_LOADBALANCER)->action == KT_DP_DROP &&
		fe(nolocal, KT_FE_NODEPORT)->action == KT_DP_DROP && fe(nolocal, KT_FE_CLUSTERIP)->action == KT_DP_FORWARD &&
		nolocal->local_only, m);
	const struct kt_dp_service *noep = find(n, "noep");
	snprintf(m, sizeof(m), "%s: no endpoints: ClusterIP, LB IP and NodePort rejected", ver);
	T_CHECK(noep && fe(noep, KT_FE_CLUSTERIP) && fe(noep, KT_FE_CLUSTERIP)->action == KT_DP_REJECT &&
		fe(noep, noep_lb) && fe(noep, noep_lb)->action == KT_DP_REJECT && fe(noep, KT_FE_NODEPORT) &&
		fe(noep, KT_FE_NODEPORT)->action == KT_DP_REJECT && !strcmp(fe(noep, KT_FE_CLUSTERIP)->reason, "no endpoints"), m);
	const struct kt_dp_service *web = find(n, "web");
	snprintf(m, sizeof(m), "%s: ClusterIP-only Service: nothing external", ver);
	T_CHECK(web && web->n_fe == 1 && web->n_be == 2 && !web->n_ext_be, m);
	kt_snapshot_free(s);
}

static void write_file(char *tmp, const char *text)
{
	int fd = mkstemp(tmp);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A chain the reader does not know between the LB rule and the
 * endpoints: masquerade is unknown (JSON null), with the chain as evidence. */
static void test_unknown_layout(void)
{
	char tmp[] = "/tmp/ktdp-unknown-XXXXXX";
	write_file(tmp, "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n:KUBE-EXT-AAAAAAAAAAAAAAAA - [0:0]\n"
			":KUBE-FOO-BAR - [0:0]\n:KUBE-SEP-BBBBBBBBBBBBBBBB - [0:0]\n"
			"-A KUBE-SERVICES -d 10.96.1.1/32 -p tcp -m comment --comment \"shop/odd cluster IP\" -m tcp --dport 80 -j KUBE-SVC-AAAAAAAAAAAAAAAA\n"
			"-A KUBE-SERVICES -d 203.0.113.9/32 -p tcp -m comment --comment \"shop/odd loadbalancer IP\" -m tcp --dport 80 -j KUBE-EXT-AAAAAAAAAAAAAAAA\n"
			"-A KUBE-EXT-AAAAAAAAAAAAAAAA -j KUBE-FOO-BAR\n"
			"-A KUBE-FOO-BAR -j KUBE-SVC-AAAAAAAAAAAAAAAA\n"
			"-A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment \"shop/odd -> 10.244.1.5:80\" -j KUBE-SEP-BBBBBBBBBBBBBBBB\n"
			"-A KUBE-SEP-BBBBBBBBBBBBBBBB -p tcp -m comment --comment shop/odd -m tcp -j DNAT --to-destination 10.244.1.5:80\n"
			"COMMIT\n");
	struct kt_snapshot *s = load(tmp, NULL);
	const struct kt_dp_service *odd = find(s->n_dp ? &s->dp[0] : NULL, "odd");
	T_CHECK(odd && odd->masq_unknown && !odd->masquerade, "unknown chain: masquerade unknown, not 'no'");
	T_CHECK(odd && odd->n_notes && strstr(odd->notes[0], "KUBE-FOO-BAR"), "the note names the chain");
	T_CHECK(odd && odd->n_be == 1, "the internal set is still read");
	kt_snapshot_free(s);
	unlink(tmp);
}

/* v1.28+ iptables (filter + nat) and v1.33 nftables dumps of the lab */
static void fidelity(const char *ipt, const char *nft, const char *what)
{
	char m[160];
	struct kt_snapshot *s = load(ipt, nft);
	const struct kt_dp_node *n = s->n_dp ? &s->dp[0] : NULL;
	enum kt_fe_kind lbk = nft ? KT_FE_EXTERNAL : KT_FE_LOADBALANCER;
	const struct kt_dp_service *web = find(n, "web");
	const struct kt_dp_frontend *np = fe(web, KT_FE_NODEPORT);
	snprintf(m, sizeof(m), "%s: NodePort only on the nodePortAddresses address", what);
	T_CHECK(np && !strcmp(np->ip, "10.77.0.1") && web->n_fe == 2, m);
	const struct kt_dp_service *noep = find(n, "noep"), *drain = find(n, "drain"), *itp = find(n, "itp");
	snprintf(m, sizeof(m), "%s: no endpoints: ClusterIP and NodePort reject", what);
	T_CHECK(noep && fe(noep, KT_FE_CLUSTERIP)->action == KT_DP_REJECT && fe(noep, KT_FE_NODEPORT) &&
		fe(noep, KT_FE_NODEPORT)->action == KT_DP_REJECT && !strcmp(fe(noep, KT_FE_NODEPORT)->ip, "10.77.0.1"), m);
	snprintf(m, sizeof(m), "%s: terminating, not serving: reject", what);
	T_CHECK(drain && fe(drain, KT_FE_CLUSTERIP) && fe(drain, KT_FE_CLUSTERIP)->action == KT_DP_REJECT, m);
	snprintf(m, sizeof(m), "%s: internalTrafficPolicy Local without a local endpoint: drop", what);
	T_CHECK(itp && itp->n_fe == 1 && fe(itp, KT_FE_CLUSTERIP)->action == KT_DP_DROP &&
		!strcmp(fe(itp, KT_FE_CLUSTERIP)->reason, "no local endpoints") && !itp->n_be, m);
	const struct kt_dp_service *etp = find(n, "etp");
	snprintf(m, sizeof(m), "%s: externalTrafficPolicy Local without a local endpoint: external drop, ClusterIP forwards", what);
	T_CHECK(etp && fe(etp, lbk) && fe(etp, lbk)->action == KT_DP_DROP && fe(etp, KT_FE_NODEPORT)->action == KT_DP_DROP &&
		fe(etp, KT_FE_CLUSTERIP)->action == KT_DP_FORWARD && etp->n_be == 1 && etp->local_only, m);
	const struct kt_dp_service *lbsrc = find(n, "lbsrc");
	const struct kt_dp_frontend *lb = fe(lbsrc, lbk);
	snprintf(m, sizeof(m), "%s: LB source range (the LB IP kube-proxy adds for the node is no range)", what);
	T_CHECK(lb && lb->n_source_ranges == 1 && !strcmp(lb->source_ranges[0], "10.77.0.0/25") &&
		!fe(lbsrc, KT_FE_NODEPORT)->n_source_ranges, m);
	kt_snapshot_free(s);
}

/* with the API objects: the causes */
static void test_causes(void)
{
	FILE *bf = fopen("tests/fixtures/dataplane/fidelity-bundle.json", "r");
	char *buf = malloc(1 << 20);
	size_t bl = bf ? fread(buf, 1, (1 << 20) - 1, bf) : 0;
	if (bf)
		fclose(bf);
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	T_CHECK(bl && kt_bundle_load_mem("fidelity-bundle.json", buf, bl, &s, &d) == 0, "fidelity bundle loads");
	free(buf);
	if (!s)
		return;
	struct kt_node_opts o = {.node_name = "node-a", .iptables_save = "tests/fixtures/dataplane/fidelity.save"};
	T_CHECK_INT(kt_dp_collect(s, &o, &d), 0, "dump with API objects");
	s->finished = false;
	kt_snapshot_finish(s);
	const struct kt_dp_node *n = &s->dp[0];
	struct kt_arena *a = kt_arena_new();
	struct kt_dp_cause c;
	const struct kt_dp_service *named = find(n, "named");
	T_CHECK(named && kt_dp_explain(s, n, named, fe(named, KT_FE_CLUSTERIP), a, &c) && c.rule == KT_R_KT502 &&
		strstr(c.text, "http-alt"), "named targetPort nobody declares: KT502");
	const struct kt_dp_service *drain = find(n, "drain");
	T_CHECK(drain && kt_dp_explain(s, n, drain, fe(drain, KT_FE_CLUSTERIP), a, &c) && c.rule == KT_R_KT503 &&
		strstr(c.text, "terminating"), "every endpoint terminating, none serving: KT503");
	const struct kt_dp_service *noep = find(n, "noep");
	T_CHECK(noep && kt_dp_explain(s, n, noep, fe(noep, KT_FE_CLUSTERIP), a, &c) && c.rule == KT_R_KT501,
		"selector matches nothing: KT501");
	const struct kt_dp_service *itp = find(n, "itp"), *etp = find(n, "etp");
	T_CHECK(itp && kt_dp_explain(s, n, itp, fe(itp, KT_FE_CLUSTERIP), a, &c) && c.rule == KT_R_KT103 &&
		strstr(c.text, "internalTrafficPolicy") && strstr(c.text, "node-b"), "iTP Local: KT103, endpoints on node-b");
	T_CHECK(etp && kt_dp_explain(s, n, etp, fe(etp, KT_FE_LOADBALANCER), a, &c) && c.rule == KT_R_KT103 &&
		strstr(c.text, "externalTrafficPolicy"), "eTP Local: KT103 (and the LB frontend labelled exactly)");
	T_CHECK(!kt_dp_explain(s, n, etp, fe(etp, KT_FE_CLUSTERIP), a, &c), "a forwarding frontend needs no cause");
	struct kt_findings f = {0};
	kt_dpdiff_findings(s, a, &f);
	bool kt502 = false, kt601 = false;
	for (uint32_t i = 0; i < f.n; i++) {
		kt502 |= f.v[i].rule == KT_R_KT502 && strstr(f.v[i].message, "node node-a rejects shop/named");
		kt601 |= f.v[i].rule == KT_R_KT601;
	}
	T_CHECK(kt502, "diff findings: the node rejects shop/named (KT502)");
	T_CHECK(!kt601, "no KT601 for a slice that lists Pods without the port");
	kt_findings_release(&f);
	kt_arena_free(a);
	kt_snapshot_free(s);
}

static void run(void)
{
	old_layout("tests/fixtures/dataplane/kube-proxy-v1.20.save", "v1.20", KT_FE_LOADBALANCER);
	old_layout("tests/fixtures/dataplane/kube-proxy-v1.23.save", "v1.23", KT_FE_EXTERNAL);
	test_unknown_layout();
	fidelity("tests/fixtures/dataplane/fidelity.save", NULL, "iptables v1.28+");
	fidelity(NULL, "tests/fixtures/dataplane/fidelity-nft.json", "nftables v1.33");
	test_causes();
}

T_MAIN("test_dp_layouts")
