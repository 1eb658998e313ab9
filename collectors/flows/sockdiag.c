/*
 * Socket collector: TCP sockets of this network namespace through
 * NETLINK_SOCK_DIAG / inet_diag (IPv4 and IPv6), with struct tcp_info for
 * byte counters (tcpi_bytes_acked / tcpi_bytes_received) and RTT. Covers
 * connections the node itself terminates or originates (hostNetwork
 * backends, hostNetwork clients, Cilium socket-LB where the socket peer is
 * already the backend). Sockets are folded into (frontend, backend)
 * aggregates as they stream: server side (local port is a listening port)
 * keyed by the local address; client side keyed by the peer, and when the
 * peer was destination-NAT'ed (a hostNetwork client of a ClusterIP), by
 * the backend the conntrack entry of that exact tuple names (one
 * ctnetlink GET per client socket, bounded). When the caller names ports,
 * the kernel filters with inet_diag bytecode (S_EQ / D_EQ). Read-only
 * dumps and lookups; never prints.
 *
 * Every dump and lookup goes through the netlink layer, so it records and
 * replays with the other netlink readers (KTRACE_NL_RECORD /
 * KTRACE_NL_REPLAY: the conntrack lookups too, so a replay resolves
 * client sockets to the same backends). kt_sockdiag_parse() decodes a
 * buffer holding listening sockets and the others (tests, fuzzing).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
/* the kernel's struct tcp_info (tcpi_bytes_acked...), not glibc's older
 * copy that libnl's <netlink/netlink.h> pulls in through <netinet/tcp.h> */
#define _NETINET_TCP_H 1
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collectors/flows/flow_agg.h"
#include "collectors/netlink/nl.h"
#include "ktrace/xalloc.h"

#define SD_TCP_ESTABLISHED 1
#define SD_TCP_LISTEN 10
#define SD_MAX_PORTS 64
#define SD_MAX_BC_PORTS 64
#define SD_MAX_LISTEN 4096
#define SD_MAX_CT_LOOKUPS 8192

struct sd_ctx {
	struct kt_fagg *g;
	uint16_t listen[SD_MAX_LISTEN];   /* local listening ports */
	uint32_t n_listen;
	bool listen_pass;
	const uint16_t *ports;
	uint32_t n_ports;
	uint64_t seen;
	/* backend of a client socket from conntrack */
	struct kt_nl *ct;                 /* NULL: no lookups */
	uint32_t ct_lookups, ct_found;
	bool ct_capped;
};

static bool has_port(const uint16_t *v, uint32_t n, uint16_t p)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] == p)
			return true;
	return false;
}

static bool is_loopback(const uint32_t *a, size_t alen)
{
	if (alen == 4)
		return (ntohl(a[0]) >> 24) == 127;
	static const uint32_t lo6[4] = {0, 0, 0, 0};
	return memcmp(a, lo6, 12) == 0 && ntohl(a[3]) == 1;
}

struct ct_hit {
	const struct inet_diag_sockid *id;
	size_t alen;
	uint8_t bip[16];
	uint16_t bport;
	bool hit;
};

static int on_ct_reply(struct nl_msg *msg, void *ctx)
{
	struct ct_hit *h = ctx;
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	uint8_t rip[16];
	uint16_t rport;
	if ((nlh->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK && (nlh->nlmsg_type & 0xff) == IPCTNL_MSG_CT_NEW &&
	    kt_ct_msg_reply_src(nlh, rip, &rport) &&
	    (memcmp(rip, h->id->idiag_dst, h->alen) != 0 || rport != ntohs(h->id->idiag_dport))) {
		memcpy(h->bip, rip, h->alen);
		h->bport = rport;
		h->hit = true;
	}
	return 0;
}

/* Ask conntrack for the entry whose original tuple is this client
 * socket's (src:sport -> dst:dport, TCP, zone 0); on a hit whose reply
 * source differs from dst, that is the backend the DNAT chose. */
static bool ct_backend(struct sd_ctx *c, uint8_t family, const struct inet_diag_sockid *id, uint8_t *bip,
		       uint16_t *bport)
{
	if (!c->ct)
		return false;
	if (c->ct_lookups >= SD_MAX_CT_LOOKUPS) {
		c->ct_capped = true;
		return false;
	}
	c->ct_lookups++;
	size_t alen = family == AF_INET6 ? 16 : 4;
	struct nl_msg *m = nlmsg_alloc_simple((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST);
	struct nfgenmsg g = {.nfgen_family = family, .version = NFNETLINK_V0};
	if (!m || nlmsg_append(m, &g, sizeof(g), NLMSG_ALIGNTO) < 0)
		kt_oom();
	struct nlattr *t = nla_nest_start(m, CTA_TUPLE_ORIG | NLA_F_NESTED);
	struct nlattr *ip = nla_nest_start(m, CTA_TUPLE_IP | NLA_F_NESTED);
	int r = nla_put(m, alen == 16 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, (int)alen, id->idiag_src);
	r |= nla_put(m, alen == 16 ? CTA_IP_V6_DST : CTA_IP_V4_DST, (int)alen, id->idiag_dst);
	nla_nest_end(m, ip);
	struct nlattr *pr = nla_nest_start(m, CTA_TUPLE_PROTO | NLA_F_NESTED);
	r |= nla_put_u8(m, CTA_PROTO_NUM, IPPROTO_TCP);
	r |= nla_put_u16(m, CTA_PROTO_SRC_PORT, id->idiag_sport);
	r |= nla_put_u16(m, CTA_PROTO_DST_PORT, id->idiag_dport);
	nla_nest_end(m, pr);
	nla_nest_end(m, t);
	if (!t || !ip || !pr || r < 0)
		kt_oom();
	struct ct_hit h = {.id = id, .alen = alen};
	char err[256];
	kt_nl_request(c->ct, m, on_ct_reply, NULL, &h, err, sizeof(err)); /* ENOENT: not NAT'ed */
	nlmsg_free(m);
	if (h.hit) {
		memcpy(bip, h.bip, alen);
		*bport = h.bport;
		c->ct_found++;
	}
	return h.hit;
}

static void one_socket(struct sd_ctx *c, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct inet_diag_msg))
		return;
	const struct inet_diag_msg *m = NLMSG_DATA(nlh);
	uint16_t sport = ntohs(m->id.idiag_sport), dport = ntohs(m->id.idiag_dport);
	if (c->listen_pass) {
		if (m->idiag_state == SD_TCP_LISTEN && c->n_listen < SD_MAX_LISTEN &&
		    !has_port(c->listen, c->n_listen, sport))
			c->listen[c->n_listen++] = sport;
		return;
	}
	if (m->idiag_state == SD_TCP_LISTEN)
		return;
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return;
	c->seen++;
	size_t alen = m->idiag_family == AF_INET6 ? 16 : 4;
	struct tcp_info ti;
	memset(&ti, 0, sizeof(ti));
	bool have_info = false;
	/* attributes, each bounded by what is left of nlmsg_len (inline, as
	 * conntrack's: one walk per socket of a dump) */
	const struct nlattr *a;
	int rem;
	KT_NLA_FOR(a, rem, (const char *)nlh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*m)),
		   (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)NLMSG_ALIGN(sizeof(*m))) {
		if (kt_nla_type(a) == INET_DIAG_INFO) {
			size_t n = (size_t)kt_nla_len(a);
			memcpy(&ti, kt_nla_data(a), n < sizeof(ti) ? n : sizeof(ti));
			have_info = n >= offsetof(struct tcp_info, tcpi_bytes_received) + 8;
		}
	}
	if (c->ports && c->n_ports && !has_port(c->ports, c->n_ports, sport) &&
	    !has_port(c->ports, c->n_ports, dport))
		return;   /* the kernel filter was skipped (too many ports) */
	bool server = has_port(c->listen, c->n_listen, sport);
	/* a client socket to a listener of this namespace: the server side
	 * counts that connection already */
	if (!server && has_port(c->listen, c->n_listen, dport) &&
	    (memcmp(m->id.idiag_src, m->id.idiag_dst, alen) == 0 || is_loopback(m->id.idiag_dst, alen)))
		return;
	struct kt_fagg_key k;
	memset(&k, 0, sizeof(k));
	k.src = KT_FLOW_SOCKET;
	k.family = m->idiag_family;
	k.proto = IPPROTO_TCP;
	if (server) {
		memcpy(k.vip, m->id.idiag_src, alen);
		k.vport = sport;
	} else {
		memcpy(k.vip, m->id.idiag_dst, alen);
		k.vport = dport;
	}
	memcpy(k.bip, k.vip, alen);
	k.bport = k.vport;
	if (!server && !is_loopback(m->id.idiag_dst, alen))
		ct_backend(c, m->idiag_family, &m->id, k.bip, &k.bport);
	struct kt_fagg_slot *s = kt_fagg_get(c->g, &k);
	if (!s)
		return;
	s->total++;
	if (m->idiag_state == SD_TCP_ESTABLISHED)
		s->established++;
	if (have_info) {
		/* bytes_orig: client -> server; bytes_reply: server -> client */
		uint64_t in = server ? ti.tcpi_bytes_received : ti.tcpi_bytes_acked;
		uint64_t out = server ? ti.tcpi_bytes_acked : ti.tcpi_bytes_received;
		s->bytes_orig += in;
		s->bytes_reply += out;
		s->packets += (uint64_t)ti.tcpi_segs_in + ti.tcpi_segs_out;
		if (ti.tcpi_rtt) {
			s->rtt_sum += ti.tcpi_rtt / 1000.0;
			s->rtt_n++;
		}
	}
	uint64_t fp = kt_hash64(KT_HASH_SEED, m->id.idiag_src, alen);
	fp = kt_hash64(fp, m->id.idiag_dst, alen);
	fp = kt_hash64(fp, &m->id.idiag_sport, 2);
	fp = kt_hash64(fp, &m->id.idiag_dport, 2);
	kt_fagg_add_fp(c->g, s, fp);
}

static int on_socket(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *h = nlmsg_hdr(msg);
	if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
		one_socket(ctx, h);
	return 0;
}

/* Bytecode: accept when sport or dport equals one of ports. As ss does
 * for "a or b": each 8-byte condition jumps on success to a JMP op that
 * leaves for the end (accept) and on failure to the next condition (the
 * last one past the end: reject); the JMP's yes (4) keeps every op on the
 * audit's yes-chain, which the kernel requires of jump targets. */
static size_t build_filter(char *buf, size_t cap, const uint16_t *ports, uint32_t n)
{
	uint32_t conds = n * 2;
	size_t len = (size_t)conds * 12 - 4;
	if (!n || len > cap || len > 65000)
		return 0;
	size_t off = 0;
	for (uint32_t i = 0; i < conds; i++) {
		struct inet_diag_bc_op *op = (struct inet_diag_bc_op *)(buf + off);
		op[0].code = (i & 1) ? INET_DIAG_BC_D_EQ : INET_DIAG_BC_S_EQ;
		op[0].yes = 8;
		op[0].no = 12;
		op[1].code = 0;
		op[1].yes = 0;
		op[1].no = ports[i / 2];
		off += 8;
		if (i + 1 < conds) {
			struct inet_diag_bc_op *j = (struct inet_diag_bc_op *)(buf + off);
			j->code = INET_DIAG_BC_JMP;
			j->yes = 4;
			j->no = (unsigned short)(len - off);
			off += 4;
		}
	}
	return len;
}

/* One inet_diag dump of family in states into c. */
static int dump(struct sd_ctx *c, struct kt_nl *nl, uint8_t family, uint32_t states, struct kt_diag *d)
{
	struct nl_msg *m = nlmsg_alloc_simple(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP);
	struct inet_diag_req_v2 r = {
		.sdiag_family = family,
		.sdiag_protocol = IPPROTO_TCP,
		.idiag_states = states,
		.idiag_ext = c->listen_pass ? 0 : (1 << (INET_DIAG_INFO - 1)),
	};
	if (!m || nlmsg_append(m, &r, sizeof(r), NLMSG_ALIGNTO) < 0)
		kt_oom();
	if (!c->listen_pass && c->ports && c->n_ports && c->n_ports <= SD_MAX_BC_PORTS) {
		char bc[SD_MAX_BC_PORTS * 24];
		size_t bl = build_filter(bc, sizeof(bc), c->ports, c->n_ports);
		if (bl && nla_put(m, INET_DIAG_REQ_BYTECODE, (int)bl, bc) < 0)
			kt_oom();
	}
	char err[512];
	int rc = kt_nl_request(nl, m, on_socket, NULL, c, err, sizeof(err));
	nlmsg_free(m);
	if (rc < 0)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "sock_diag dump: %s", err);
	return 0;
}

static void finish(struct sd_ctx *c, struct kt_fagg *g, struct kt_snapshot *snap, struct kt_flow_sample *fs)
{
	if (g->dropped)
		kt_snapshot_gap(snap, "socket aggregates", "cap of %u hit: %llu sockets not counted", g->max,
				(unsigned long long)g->dropped);
	if (c->ct_capped)
		kt_snapshot_gap(snap, "socket backends",
				"more than %u client sockets: the rest are counted against the Service address, not a backend",
				SD_MAX_CT_LOOKUPS);
	fs->entries_seen += c->seen;
	kt_fagg_emit(g, snap, fs);
	kt_sample_add_source(snap, fs, "inet_diag");
}

int kt_sockdiag_parse(struct kt_snapshot *snap, struct kt_flow_sample *fs, const void *buf, size_t len,
		      struct kt_diag *d)
{
	struct kt_fagg g;
	kt_fagg_init(&g, 65536, true);
	struct sd_ctx *c = kt_xcalloc(1, sizeof(*c));
	c->g = &g;
	/* the buffer holds listening sockets and the others: find the
	 * listeners first, then fold the rest */
	c->listen_pass = true;
	int rc = kt_nl_feed(NETLINK_SOCK_DIAG, buf, len, on_socket, c, NULL);
	if (rc != -EPROTO) {
		c->listen_pass = false;
		rc = kt_nl_feed(NETLINK_SOCK_DIAG, buf, len, on_socket, c, NULL);
	}
	finish(c, &g, snap, fs);
	kt_fagg_release(&g);
	free(c);
	if (rc == -EPROTO)
		return kt_diag_set(d, KT_EXIT_INPUT, "sock_diag dump: malformed netlink message");
	return 0;
}

int kt_sockdiag_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs, const struct kt_flow_opts *fo,
			struct kt_diag *d)
{
	(void)d;
	char err[512];
	struct kt_diag td = {0};
	struct kt_nl *nl = kt_nl_open(NETLINK_SOCK_DIAG, NULL, err, sizeof(err));
	if (!nl) {
		/* sockets are extra evidence: a failure is a gap, not an error */
		kt_snapshot_gap(snap, "sockets (inet_diag)", "cannot open a sock_diag netlink socket: %s", err);
		return 0;
	}
	struct kt_fagg g;
	kt_fagg_init(&g, fo ? fo->max_agg : 0, !(fo && fo->no_fingerprints));
	struct sd_ctx *c = kt_xcalloc(1, sizeof(*c));
	c->g = &g;
	if (kt_nl_is_replay(nl) || access("/proc/sys/net/netfilter", F_OK) == 0) {
		struct kt_nl_opts co = {.timeout_ms = 1000};
		c->ct = kt_nl_open(NETLINK_NETFILTER, &co, err, sizeof(err));
	}
	if (fo && fo->ports && fo->n_ports && fo->n_ports <= SD_MAX_PORTS) {
		c->ports = fo->ports;
		c->n_ports = fo->n_ports;
	}
	static const uint8_t fams[] = {AF_INET, AF_INET6};
	int rc = 0;
	/* listeners of both families first: an IPv6 wildcard listener also
	 * serves IPv4 (mapped) connections */
	c->listen_pass = true;
	for (int f = 0; f < 2 && rc == 0; f++)
		rc = dump(c, nl, fams[f], 1u << SD_TCP_LISTEN, &td);
	c->listen_pass = false;
	for (int f = 0; f < 2 && rc == 0; f++)
		rc = dump(c, nl, fams[f], 0xffffffffu & ~(1u << SD_TCP_LISTEN), &td);
	kt_nl_close(c->ct);
	kt_nl_close(nl);
	if (rc < 0)
		kt_snapshot_gap(snap, "sockets (inet_diag)", "%s", td.msg);
	else
		finish(c, &g, snap, fs);
	kt_fagg_release(&g);
	free(c);
	return 0;
}
