/* Unit tests for IPVS scheduler semantics, read two ways: replayed
 * generic-netlink dumps in the netlink layer's record format
 * (KTRACE_NL_REPLAY: nl-16-<hash>.bin per request, genl-IPVS.txt) and
 * `ipvsadm-save -n` text. One virtual service per scheduler (rr, wrr, fo,
 * lc, wlc, lblc, lblcr, sed, nq, ovf, twos, sh, sh with sh-port, mh with
 * mh-port as kube-proxy sets it, mh, dh), real servers of weight 1, 2 and 0
 * (draining), plus one without real servers and one with only weight 0:
 * shareBasis, source hash, true shares only where the scheduler gives them,
 * reject where no real server can take a connection. The kernel here has
 * no ip_vs, so the dumps are built to the uapi layout and named by the
 * record layer's own naming (kt_nl_rec_name) of the requests dp_ipvs
 * sends. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>

#include "collectors/dataplane/dp_internal.h"
#include "collectors/netlink/nl.h"
#include "harness.h"
#include "ktrace/jsonw.h"
#include "collectors/codec/codec.h"

#define FAM 0x23

struct sched_case {
	const char *sched;
	uint32_t flags;
	const char *save_flags;  /* ipvsadm-save -b */
	enum kt_share_basis basis;
	bool source_hash;
	double p1, p2;           /* expected shares (weights 1, 2) when known */
};

static const struct sched_case cases[] = {
	{"rr", 0, NULL, KT_SHARE_WEIGHT, false, 0.5, 0.5},
	{"wrr", 0, NULL, KT_SHARE_WEIGHT, false, 1.0 / 3, 2.0 / 3},
	{"fo", 0, NULL, KT_SHARE_WEIGHT, false, 0, 1},
	{"lc", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"wlc", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"lblc", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"lblcr", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"sed", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"nq", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"ovf", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"twos", 0, NULL, KT_SHARE_CONNECTIONS, false, -1, -1},
	{"sh", 0, NULL, KT_SHARE_HASH, true, -1, -1},
	{"sh", IP_VS_SVC_F_SCHED2, "sh-port", KT_SHARE_HASH, false, -1, -1},
	{"mh", IP_VS_SVC_F_SCHED2, "mh-port", KT_SHARE_HASH, false, -1, -1},
	{"mh", 0, NULL, KT_SHARE_HASH, true, -1, -1},
	{"dh", 0, NULL, KT_SHARE_HASH, false, -1, -1},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

struct mb {
	uint8_t b[8192];
	size_t n;
};

static size_t attr(uint8_t *p, uint16_t type, const void *d, uint16_t len)
{
	uint16_t al = (uint16_t)(4 + len);
	memcpy(p, &al, 2);
	memcpy(p + 2, &type, 2);
	memcpy(p + 4, d, len);
	memset(p + 4 + len, 0, NLA_ALIGN(al) - al);
	return NLA_ALIGN(al);
}

static void msg(struct mb *m, uint8_t cmd, uint16_t top, const uint8_t *nest, size_t nl)
{
	uint8_t *p = m->b + m->n;
	struct nlmsghdr h = {.nlmsg_type = FAM, .nlmsg_flags = NLM_F_MULTI};
	size_t len = NLMSG_HDRLEN + GENL_HDRLEN;
	memset(p + NLMSG_HDRLEN, 0, GENL_HDRLEN);
	p[NLMSG_HDRLEN] = cmd;
	p[NLMSG_HDRLEN + 1] = IPVS_GENL_VERSION;
	len += attr(p + len, top, nest, (uint16_t)nl);
	h.nlmsg_len = (uint32_t)len;
	memcpy(p, &h, sizeof(h));
	m->n += NLMSG_ALIGN(len);
}

static void done(struct mb *m)
{
	struct nlmsghdr h = {.nlmsg_len = NLMSG_HDRLEN + 4, .nlmsg_type = NLMSG_DONE, .nlmsg_flags = NLM_F_MULTI};
	memcpy(m->b + m->n, &h, sizeof(h));
	memset(m->b + m->n + NLMSG_HDRLEN, 0, 4);
	m->n += NLMSG_HDRLEN + 4;
}

static void vip(int i, char *out, size_t n)
{
	snprintf(out, n, "10.96.9.%d", i + 1);
}

static void svc_msg(struct mb *m, const char *ip, const char *sched, uint32_t sflags)
{
	uint8_t n[256];
	size_t l = 0;
	uint16_t af = AF_INET, proto = IPPROTO_TCP, be = htons(80);
	uint8_t addr[16] = {0};
	inet_pton(AF_INET, ip, addr);
	uint32_t flags[2] = {sflags | IP_VS_SVC_F_HASHED, ~0u}, timeout = 0, mask = 0xffffffff;
	l += attr(n + l, IPVS_SVC_ATTR_AF, &af, 2);
	l += attr(n + l, IPVS_SVC_ATTR_PROTOCOL, &proto, 2);
	l += attr(n + l, IPVS_SVC_ATTR_ADDR, addr, 16);
	l += attr(n + l, IPVS_SVC_ATTR_PORT, &be, 2);
	l += attr(n + l, IPVS_SVC_ATTR_SCHED_NAME, sched, (uint16_t)(strlen(sched) + 1));
	l += attr(n + l, IPVS_SVC_ATTR_FLAGS, flags, 8);
	l += attr(n + l, IPVS_SVC_ATTR_TIMEOUT, &timeout, 4);
	l += attr(n + l, IPVS_SVC_ATTR_NETMASK, &mask, 4);
	msg(m, IPVS_CMD_NEW_SERVICE, IPVS_CMD_ATTR_SERVICE, n, l);
}

static void dest_msg(struct mb *m, const char *ip, uint32_t weight)
{
	uint8_t n[256];
	size_t l = 0;
	uint8_t addr[16] = {0};
	inet_pton(AF_INET, ip, addr);
	uint16_t be = htons(8080), af = AF_INET;
	uint32_t fwd = IP_VS_CONN_F_MASQ, zero = 0;
	l += attr(n + l, IPVS_DEST_ATTR_ADDR, addr, 16);
	l += attr(n + l, IPVS_DEST_ATTR_PORT, &be, 2);
	l += attr(n + l, IPVS_DEST_ATTR_FWD_METHOD, &fwd, 4);
	l += attr(n + l, IPVS_DEST_ATTR_WEIGHT, &weight, 4);
	l += attr(n + l, IPVS_DEST_ATTR_ACTIVE_CONNS, &zero, 4);
	l += attr(n + l, IPVS_DEST_ATTR_INACT_CONNS, &zero, 4);
	l += attr(n + l, IPVS_DEST_ATTR_ADDR_FAMILY, &af, 2);
	msg(m, IPVS_CMD_NEW_DEST, IPVS_CMD_ATTR_DEST, n, l);
}

/* the real servers of virtual service i (NCASES: none, NCASES + 1: weight 0) */
static uint32_t dests_of(int i, uint32_t *w)
{
	if (i == (int)NCASES)
		return 0;
	if (i == (int)NCASES + 1) {
		w[0] = 0;
		return 1;
	}
	w[0] = 1;
	w[1] = 2;
	w[2] = 0;
	return 3;
}

static void write_file(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(b, 1, n, f);
		fclose(f);
	}
}

/* "... no recording of this request in DIR: PATH" -> PATH */
static void check_case(const struct kt_dp_service *s, const struct sched_case *c, const char *how)
{
	char m[160];
	snprintf(m, sizeof(m), "%s %s%s%s: basis %s", how, c->sched, c->flags ? "+" : "", c->save_flags ? c->save_flags : "",
		 kt_share_basis_name(c->basis));
	T_CHECK(s && s->share_basis == c->basis && s->scheduler && !strcmp(s->scheduler, c->sched), m);
	if (!s)
		return;
	snprintf(m, sizeof(m), "%s %s: source hash %s", how, c->sched, c->source_hash ? "yes" : "no");
	T_CHECK(s->source_hash == c->source_hash, m);
	snprintf(m, sizeof(m), "%s %s: a true share only for rr/wrr/fo", how, c->sched);
	T_CHECK(kt_dp_share_known(s) == (c->p1 >= 0), m);
	if (c->p1 >= 0 && s->n_be == 3) {
		snprintf(m, sizeof(m), "%s %s: shares %.3f / %.3f / 0", how, c->sched, c->p1, c->p2);
		T_CHECK(s->be[0].probability - c->p1 < 1e-9 && c->p1 - s->be[0].probability < 1e-9 &&
			s->be[1].probability - c->p2 < 1e-9 && c->p2 - s->be[1].probability < 1e-9 &&
			s->be[2].probability == 0 && s->be[2].state && !strcmp(s->be[2].state, "draining"), m);
	}
	snprintf(m, sizeof(m), "%s %s: forwards", how, c->sched);
	T_CHECK(s->n_fe == 1 && s->fe[0].action == KT_DP_FORWARD, m);
}

static const struct kt_dp_service *by_vip(const struct kt_dp_node *n, const char *ip)
{
	for (uint32_t i = 0; n && i < n->n_svcs; i++)
		for (uint32_t k = 0; k < n->svcs[i].n_fe; k++)
			if (!strcmp(n->svcs[i].fe[k].ip, ip))
				return &n->svcs[i];
	return NULL;
}

static void check_all(const struct kt_dp_node *n, const char *how)
{
	char ip[32];
	for (int i = 0; i < (int)NCASES; i++) {
		vip(i, ip, sizeof(ip));
		check_case(by_vip(n, ip), &cases[i], how);
	}
	vip((int)NCASES, ip, sizeof(ip));
	const struct kt_dp_service *e = by_vip(n, ip);
	T_CHECK(e && e->fe[0].action == KT_DP_REJECT && !strcmp(e->fe[0].reason, "no real servers"),
		how[0] == 'n' ? "netlink: no real servers: reject" : "ipvsadm: no real servers: reject");
	vip((int)NCASES + 1, ip, sizeof(ip));
	e = by_vip(n, ip);
	T_CHECK(e && e->fe[0].action == KT_DP_REJECT && strstr(e->fe[0].reason, "weight 0"),
		how[0] == 'n' ? "netlink: only weight 0: reject" : "ipvsadm: only weight 0: reject");
}

struct jbuf {
	char *b;
	size_t n;
};

static int jsink(void *ctx, const char *buf, size_t len)
{
	struct jbuf *j = ctx;
	char *nb = realloc(j->b, j->n + len + 1);
	if (!nb)
		return -1;
	j->b = nb;
	memcpy(j->b + j->n, buf, len);
	j->n += len;
	j->b[j->n] = 0;
	return 0;
}

/* The recording name of a request as dp_ipvs sends it: the header's type
 * and flags, the genetlink header and, for GET_DEST, the service key. */
static void req_name(char *out, size_t n, const char *dir, uint8_t cmd, const char *ip)
{
	uint8_t b[256] = {0};
	size_t len = NLMSG_HDRLEN + GENL_HDRLEN;
	b[NLMSG_HDRLEN] = cmd;
	b[NLMSG_HDRLEN + 1] = IPVS_GENL_VERSION;
	if (ip) {
		uint8_t k[128];
		size_t l = 0;
		uint16_t af = AF_INET, proto = IPPROTO_TCP, be = htons(80);
		uint8_t addr[16] = {0};
		inet_pton(AF_INET, ip, addr);
		l += attr(k + l, IPVS_SVC_ATTR_AF, &af, 2);
		l += attr(k + l, IPVS_SVC_ATTR_PROTOCOL, &proto, 2);
		l += attr(k + l, IPVS_SVC_ATTR_ADDR, addr, 16);
		l += attr(k + l, IPVS_SVC_ATTR_PORT, &be, 2);
		len += attr(b + len, IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, k, (uint16_t)l);
	}
	struct nlmsghdr h = {.nlmsg_len = (uint32_t)len, .nlmsg_type = FAM, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP};
	memcpy(b, &h, sizeof(h));
	kt_nl_rec_name(out, n, dir, NETLINK_GENERIC, b, len);
}

static void test_netlink_replay(void)
{
	char dir[] = "/tmp/kt-ipvs-XXXXXX";
	if (!mkdtemp(dir)) {
		T_SKIP("netlink replay", "mkdtemp failed");
		return;
	}
	char path[512], ip[32];
	snprintf(path, sizeof(path), "%s/genl-IPVS.txt", dir);
	write_file(path, "35\n", 3);
	struct mb m = {0};
	for (int i = 0; i < (int)NCASES + 2; i++) {
		vip(i, ip, sizeof(ip));
		svc_msg(&m, ip, i < (int)NCASES ? cases[i].sched : "rr", i < (int)NCASES ? cases[i].flags : 0);
	}
	done(&m);
	req_name(path, sizeof(path), dir, IPVS_CMD_GET_SERVICE, NULL);
	write_file(path, m.b, m.n);
	for (int i = 0; i < (int)NCASES + 2; i++) {
		vip(i, ip, sizeof(ip));
		uint32_t w[3];
		uint32_t nd = dests_of(i, w);
		m.n = 0;
		for (uint32_t d = 0; d < nd; d++) {
			char rip[32];
			snprintf(rip, sizeof(rip), "10.244.%d.%u", i + 1, d + 1);
			dest_msg(&m, rip, w[d]);
		}
		done(&m);
		req_name(path, sizeof(path), dir, IPVS_CMD_GET_DEST, ip);
		write_file(path, m.b, m.n);
	}
	setenv("KTRACE_NL_REPLAY", dir, 1);
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	kt_dp_ipvs(s, n, NULL);
	unsetenv("KTRACE_NL_REPLAY");
	for (uint32_t g = 0; g < s->n_gaps; g++)
		printf("# gap: %s: %s\n", s->gaps[g].what, s->gaps[g].why);
	T_CHECK_INT(s->n_gaps, 0, "netlink: every recorded dump replayed");
	check_all(s->n_dp ? &s->dp[0] : NULL, "netlink");
	/* JSON: no probability where the scheduler decides by connections */
	struct jbuf jb = {0};
	struct kt_jw *w = kt_jw_new_sink(jsink, &jb, false);
	kt_dp_node_to_json(w, &s->dp[0], NULL);
	kt_jw_free(w);
	const char *js = jb.b;
	T_CHECK(js && strstr(js, "\"shareBasis\":\"connections\"") && strstr(js, "\"probability\":null") &&
		strstr(js, "\"weightShare\"") && strstr(js, "\"mode\":\"sourceHash\""),
		"JSON: shareBasis, probability null, weightShare, affinity sourceHash");
	free(jb.b);
	kt_snapshot_free(s);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
}

static void test_ipvsadm_save(void)
{
	char text[8192], ip[32];
	size_t off = 0;
	for (int i = 0; i < (int)NCASES + 2; i++) {
		vip(i, ip, sizeof(ip));
		const struct sched_case *c = i < (int)NCASES ? &cases[i] : NULL;
		off += (size_t)snprintf(text + off, sizeof(text) - off, "-A -t %s:80 -s %s%s%s\n", ip, c ? c->sched : "rr",
					c && c->save_flags ? " -b " : "", c && c->save_flags ? c->save_flags : "");
		uint32_t w[3];
		uint32_t nd = dests_of(i, w);
		for (uint32_t d = 0; d < nd; d++)
			off += (size_t)snprintf(text + off, sizeof(text) - off, "-a -t %s:80 -r 10.244.%d.%u:8080 -m -w %u\n", ip,
						i + 1, d + 1, w[d]);
	}
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	struct kt_diag d = {0};
	T_CHECK_INT(kt_dp_ipvsadm_mem(s, n, text, off, "ipvsadm.save", &d), 0, "ipvsadm-save text parses");
	check_all(n, "ipvsadm");
	kt_snapshot_free(s);
}

/* Without kube-proxy's ipsets or API objects the rules cannot say which
 * kind an IPVS address is: a NodePort on a node address keeps its own
 * address and port (never merged into the ClusterIP frontend) and every
 * such kind is marked guessed. */
static void test_unnamed_kinds(void)
{
	static const char text[] = "-A -t 10.96.0.50:80 -s rr\n"
				   "-a -t 10.96.0.50:80 -r 10.244.1.5:8080 -m -w 1\n"
				   "-a -t 10.96.0.50:80 -r 10.244.2.6:8080 -m -w 1\n"
				   "-A -t 192.168.1.5:30080 -s rr\n"
				   "-a -t 192.168.1.5:30080 -r 10.244.1.5:8080 -m -w 1\n"
				   "-a -t 192.168.1.5:30080 -r 10.244.2.6:8080 -m -w 1\n";
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "node-a", "test");
	struct kt_diag d = {0};
	T_CHECK_INT(kt_dp_ipvsadm_mem(s, n, text, sizeof(text) - 1, "ipvsadm.save", &d), 0, "unnamed: parses");
	const struct kt_dp_frontend *cip = NULL, *np = NULL;
	unsigned guessed = 0, total = 0;
	for (uint32_t i = 0; i < n->n_svcs; i++)
		for (uint32_t k = 0; k < n->svcs[i].n_fe; k++) {
			const struct kt_dp_frontend *f = &n->svcs[i].fe[k];
			total++;
			guessed += f->kind_guessed;
			if (!strcmp(f->ip, "10.96.0.50"))
				cip = f;
			if (!strcmp(f->ip, "192.168.1.5"))
				np = f;
		}
	T_CHECK(cip && cip->port == 80 && np && np->port == 30080, "unnamed: the node-address frontend keeps its address and port");
	T_CHECK(total == 2 && guessed == 2, "unnamed: both kinds are marked guessed (no ipsets, no API objects)");
	kt_snapshot_free(s);
}

static void run(void)
{
	test_netlink_replay();
	test_ipvsadm_save();
	test_unnamed_kinds();
}

T_MAIN("test_dp_ipvs")
