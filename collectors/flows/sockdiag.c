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
 * Record / replay: KTRACE_SD_RECORD=FILE writes the raw dump buffers
 * (listening sockets, then the others, per family); KTRACE_SD_FILE=FILE
 * parses such a recording instead of asking the kernel (no conntrack
 * lookups then: client sockets keep the peer as backend).
 * kt_sockdiag_parse() is the replay and fuzz entry point.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collectors/flows/flow_agg.h"
#include "ktrace/fileio.h"

#define SD_TCP_ESTABLISHED 1
#define SD_TCP_LISTEN 10
#define SD_MAX_PORTS 64
#define SD_MAX_BC_PORTS 64
#define SD_MAX_LISTEN 4096
#define SD_MAX_CT_LOOKUPS 8192
#define SD_MAX_FILE (64u << 20)

struct sd_ctx {
	struct kt_fagg *g;
	uint16_t listen[SD_MAX_LISTEN];   /* local listening ports */
	uint32_t n_listen;
	bool listen_pass;
	const uint16_t *ports;
	uint32_t n_ports;
	uint64_t seen;
	int err;
	/* backend of a client socket from conntrack (live only) */
	int ct_fd;                        /* -1: no lookups */
	uint32_t ct_seq;
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

/* Ask conntrack for the entry whose original tuple is this client
 * socket's (src:sport -> dst:dport, TCP, zone 0); on a hit whose reply
 * source differs from dst, that is the backend the DNAT chose. */
static bool ct_backend(struct sd_ctx *c, uint8_t family, const struct inet_diag_sockid *id, uint8_t *bip,
		       uint16_t *bport)
{
	if (c->ct_fd < 0)
		return false;
	if (c->ct_lookups >= SD_MAX_CT_LOOKUPS) {
		c->ct_capped = true;
		return false;
	}
	c->ct_lookups++;
	size_t alen = family == AF_INET6 ? 16 : 4;
	char req[256];
	memset(req, 0, sizeof(req));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++c->ct_seq;
	struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	struct nlattr *t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put(nlh, alen == 16 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, alen, id->idiag_src);
	mnl_attr_put(nlh, alen == 16 ? CTA_IP_V6_DST : CTA_IP_V4_DST, alen, id->idiag_dst);
	mnl_attr_nest_end(nlh, ip);
	struct nlattr *pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_TCP);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, id->idiag_sport);
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, id->idiag_dport);
	mnl_attr_nest_end(nlh, pr);
	mnl_attr_nest_end(nlh, t);
	struct sockaddr_nl ksa = {.nl_family = AF_NETLINK};
	if (sendto(c->ct_fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&ksa, sizeof(ksa)) < 0)
		return false;
	char buf[8192];
	for (;;) {
		ssize_t n = recv(c->ct_fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int rem = (int)n;
		bool mine = false, hit = false;
		for (; rem >= (int)NLMSG_HDRLEN && h->nlmsg_len <= (uint32_t)rem && mnl_nlmsg_ok(h, rem);
		     h = mnl_nlmsg_next(h, &rem)) {
			if (h->nlmsg_seq != c->ct_seq)
				continue;   /* a late answer to an earlier lookup */
			mine = true;
			if ((h->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK &&
			    (h->nlmsg_type & 0xff) == IPCTNL_MSG_CT_NEW) {
				uint8_t rip[16];
				uint16_t rport;
				if (kt_ct_msg_reply_src(h, rip, &rport) &&
				    (memcmp(rip, id->idiag_dst, alen) != 0 || rport != ntohs(id->idiag_dport))) {
					memcpy(bip, rip, alen);
					*bport = rport;
					hit = true;
				}
			}
		}
		if (mine) {
			c->ct_found += hit;
			return hit;
		}
	}
}

static void one_socket(struct sd_ctx *c, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct inet_diag_msg))
		return;
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
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
	/* attributes, each bounded by what is left of nlmsg_len (not of the
	 * aligned length: the last message of a buffer may be unpadded) */
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*m));
	while (off + NLA_HDRLEN <= nlh->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)((const char *)nlh + off);
		if (a->nla_len < NLA_HDRLEN || a->nla_len > nlh->nlmsg_len - off)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == INET_DIAG_INFO) {
			size_t n = a->nla_len - NLA_HDRLEN;
			memcpy(&ti, (const char *)a + NLA_HDRLEN, n < sizeof(ti) ? n : sizeof(ti));
			have_info = n >= offsetof(struct tcp_info, tcpi_bytes_received) + 8;
		}
		off += NLA_ALIGN(a->nla_len);
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
	uint64_t fp = KT_FNV_INIT;
	fp = kt_fnv1a(fp, m->id.idiag_src, alen);
	fp = kt_fnv1a(fp, m->id.idiag_dst, alen);
	fp = kt_fnv1a(fp, &m->id.idiag_sport, 2);
	fp = kt_fnv1a(fp, &m->id.idiag_dport, 2);
	kt_fagg_add_fp(c->g, s, fp);
}

/* Walk one buffer of netlink messages. Returns 1 at NLMSG_DONE (when
 * stop_at_done), 0 to continue, -1 on an error message (c->err) or a
 * malformed buffer. seq/portid are checked when nonzero. */
static int sd_walk(struct sd_ctx *c, const void *buf, size_t len, uint32_t seq, uint32_t portid,
		   bool stop_at_done)
{
	if (len > INT32_MAX)
		return -1;
	const struct nlmsghdr *h = buf;
	int rem = (int)len;
	for (; rem >= (int)NLMSG_HDRLEN && h->nlmsg_len <= (uint32_t)rem && mnl_nlmsg_ok(h, rem);
	     h = mnl_nlmsg_next(h, &rem)) {
		if ((seq && h->nlmsg_seq != seq) || (portid && h->nlmsg_pid && h->nlmsg_pid != portid))
			continue;
		if (h->nlmsg_type == NLMSG_DONE) {
			if (stop_at_done)
				return 1;
			continue;
		}
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
				return -1;
			if (e->error) {
				/* errno values are small negatives; anything else is garbage */
				c->err = e->error < 0 && e->error > -4096 ? -e->error : EPROTO;
				return -1;
			}
			continue;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
			one_socket(c, h);
	}
	return rem == 0 || rem < (int)NLMSG_HDRLEN ? 0 : -1;
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

static int dump(struct sd_ctx *c, uint8_t family, uint32_t states, FILE *rec, struct kt_diag *d)
{
	int ret = -1;
	char *buf = NULL;
	size_t cap = 65536;
	struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	if (!nl)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot open a sock_diag netlink socket: %s", strerror(errno));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = kt_diag_set(d, KT_EXIT_CLUSTER, "cannot bind a sock_diag socket: %s", strerror(errno));
		goto out;
	}
	char req[2048];
	memset(req, 0, sizeof(req));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	uint32_t seq = ((uint32_t)time(NULL) ^ family) | 1;
	nlh->nlmsg_seq = seq;
	struct inet_diag_req_v2 *r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
	r->sdiag_family = family;
	r->sdiag_protocol = IPPROTO_TCP;
	r->idiag_states = states;
	r->idiag_ext = c->listen_pass ? 0 : (1 << (INET_DIAG_INFO - 1));
	if (!c->listen_pass && c->ports && c->n_ports && c->n_ports <= SD_MAX_BC_PORTS) {
		char bc[SD_MAX_BC_PORTS * 24];
		size_t bl = build_filter(bc, sizeof(bc), c->ports, c->n_ports);
		if (bl)
			mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, bl, bc);
	}
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = kt_diag_set(d, KT_EXIT_CLUSTER, "sock_diag request: %s", strerror(errno));
		goto out;
	}
	uint32_t portid = mnl_socket_get_portid(nl);
	int fd = mnl_socket_get_fd(nl);
	buf = malloc(cap);
	if (!buf)
		abort();
	for (;;) {
		ssize_t peek = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
		if (peek < 0 && errno == EINTR)
			continue;
		if (peek > 0 && (size_t)peek > cap) {
			cap = (size_t)peek;
			char *nb = realloc(buf, cap);
			if (!nb)
				abort();
			buf = nb;
		}
		ssize_t n = recv(fd, buf, cap, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = kt_diag_set(d, KT_EXIT_CLUSTER, "sock_diag dump: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (rec)
			fwrite(buf, 1, (size_t)n, rec);
		int w = sd_walk(c, buf, (size_t)n, seq, portid, true);
		if (w < 0) {
			ret = c->err ? kt_diag_set(d, KT_EXIT_CLUSTER, "sock_diag dump refused: %s", strerror(c->err))
				     : kt_diag_set(d, KT_EXIT_CLUSTER, "sock_diag dump: malformed netlink message");
			goto out;
		}
		if (w == 1)
			break;
	}
	ret = 0;
out:
	free(buf);
	mnl_socket_close(nl);
	return ret;
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
	struct sd_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->g = &g;
	c->ct_fd = -1;
	/* the recording holds listening sockets and the others: find the
	 * listeners first, then fold the rest */
	c->listen_pass = true;
	int rc = sd_walk(c, buf, len, 0, 0, false);
	if (rc == 0) {
		c->listen_pass = false;
		rc = sd_walk(c, buf, len, 0, 0, false);
	}
	finish(c, &g, snap, fs);
	kt_fagg_release(&g);
	int err = c->err;
	free(c);
	if (rc < 0 && !err)
		return kt_diag_set(d, KT_EXIT_INPUT, "sock_diag dump: malformed netlink message");
	return 0;
}

static int replay(struct kt_snapshot *snap, struct kt_flow_sample *fs, const char *path, struct kt_diag *d)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return kt_diag_set(d, KT_EXIT_NOTFOUND, "cannot open socket recording %s: %s", path, strerror(errno));
	char *buf;
	size_t n;
	int big = kt_read_stream(f, 1 << 16, SD_MAX_FILE, &buf, &n);
	fclose(f);
	if (big) {
		free(buf);
		return kt_diag_set(d, KT_EXIT_INPUT, "%s: socket recording larger than %u MiB", path, SD_MAX_FILE >> 20);
	}
	int rc = kt_sockdiag_parse(snap, fs, buf, n, d);
	free(buf);
	if (rc < 0)
		kt_diag_hint(d, "the file must hold raw sock_diag dump buffers as written by KTRACE_SD_RECORD");
	return rc;
}

static int ct_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return -1;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int kt_sockdiag_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs,
			const struct kt_flow_opts *fo, struct kt_diag *d)
{
	(void)d;
	const char *rp = getenv("KTRACE_SD_FILE");
	if (rp && *rp) {
		struct kt_diag td = {0};
		if (replay(snap, fs, rp, &td) < 0)
			kt_snapshot_gap(snap, "sockets (inet_diag)", "%s", td.msg);
		return 0;
	}
	struct kt_fagg g;
	kt_fagg_init(&g, fo ? fo->max_agg : 0, !(fo && fo->no_fingerprints));
	struct sd_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->g = &g;
	c->ct_fd = access("/proc/sys/net/netfilter", F_OK) == 0 ? ct_open() : -1;
	c->ct_seq = (uint32_t)time(NULL);
	if (fo && fo->ports && fo->n_ports && fo->n_ports <= SD_MAX_PORTS) {
		c->ports = fo->ports;
		c->n_ports = fo->n_ports;
	}
	const char *recp = getenv("KTRACE_SD_RECORD");
	FILE *rec = recp && *recp ? fopen(recp, "wb") : NULL;
	static const uint8_t fams[] = {AF_INET, AF_INET6};
	int rc = 0;
	struct kt_diag td;
	memset(&td, 0, sizeof(td));
	/* listeners of both families first: an IPv6 wildcard listener also
	 * serves IPv4 (mapped) connections */
	c->listen_pass = true;
	for (int f = 0; f < 2 && rc == 0; f++)
		rc = dump(c, fams[f], 1u << SD_TCP_LISTEN, rec, &td);
	c->listen_pass = false;
	for (int f = 0; f < 2 && rc == 0; f++)
		rc = dump(c, fams[f], 0xffffffffu & ~(1u << SD_TCP_LISTEN), rec, &td);
	if (rec)
		fclose(rec);
	if (c->ct_fd >= 0)
		close(c->ct_fd);
	if (rc < 0) {
		/* sockets are extra evidence: a failure is a gap, not an error */
		kt_snapshot_gap(snap, "sockets (inet_diag)", "%s", td.msg);
		kt_fagg_release(&g);
		free(c);
		return 0;
	}
	finish(c, &g, snap, fs);
	kt_fagg_release(&g);
	free(c);
	return 0;
}
