/*
 * Socket collector: TCP sockets of this network namespace through
 * NETLINK_SOCK_DIAG / inet_diag (IPv4 and IPv6), with struct tcp_info for
 * byte counters (tcpi_bytes_acked / tcpi_bytes_received) and RTT. Covers
 * connections the node itself terminates or originates (hostNetwork
 * backends, hostNetwork clients, Cilium socket-LB where the socket peer is
 * already the backend). Sockets are folded into (frontend, backend)
 * aggregates as they stream: server side (local port is a listening port)
 * keyed by the local address, client side keyed by the peer. When the
 * caller names ports, the kernel filters with inet_diag bytecode
 * (S_EQ / D_EQ). Read-only dumps; never prints.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collectors/flow_agg.h"

#define SD_TCP_ESTABLISHED 1
#define SD_TCP_LISTEN 10
#define SD_MAX_PORTS 64
#define SD_MAX_BC_PORTS 64
#define SD_MAX_LISTEN 4096

struct sd_ctx {
	struct kt_fagg *g;
	uint16_t listen[SD_MAX_LISTEN];   /* local listening ports (sorted) */
	uint32_t n_listen;
	bool listen_pass;
	const uint16_t *ports;
	uint32_t n_ports;
	uint64_t seen;
	int err;
};

static bool has_port(const uint16_t *v, uint32_t n, uint16_t p)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i] == p)
			return true;
	return false;
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
	c->seen++;
	size_t alen = m->idiag_family == AF_INET6 ? 16 : 4;
	if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
		return;
	struct tcp_info ti;
	memset(&ti, 0, sizeof(ti));
	bool have_info = false;
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(*m)) {
		if (mnl_attr_get_type(a) == INET_DIAG_INFO) {
			size_t n = mnl_attr_get_payload_len(a);
			memcpy(&ti, mnl_attr_get_payload(a), n < sizeof(ti) ? n : sizeof(ti));
			have_info = n >= offsetof(struct tcp_info, tcpi_bytes_received) + 8;
		}
	}
	bool server;
	if (c->ports && c->n_ports) {
		server = has_port(c->ports, c->n_ports, sport);
		if (!server && !has_port(c->ports, c->n_ports, dport))
			return;   /* the kernel filter was skipped (too many ports) */
	} else {
		server = has_port(c->listen, c->n_listen, sport);
	}
	/* a client socket to a listener of this namespace: the server side
	 * counts that connection already */
	if (!server && has_port(c->listen, c->n_listen, dport) &&
	    (memcmp(m->id.idiag_src, m->id.idiag_dst, alen) == 0 || (alen == 4 && (ntohl(m->id.idiag_dst[0]) >> 24) == 127)))
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
	struct kt_fagg_slot *s = kt_fagg_get(c->g, &k);
	if (!s)
		return;
	s->total++;
	if (m->idiag_state == SD_TCP_ESTABLISHED)
		s->established++;
	if (have_info) {
		uint64_t in = server ? ti.tcpi_bytes_received : ti.tcpi_bytes_acked;
		uint64_t out = server ? ti.tcpi_bytes_acked : ti.tcpi_bytes_received;
		s->bytes_orig += in;
		s->bytes_reply += out;
		s->packets += ti.tcpi_segs_in + ti.tcpi_segs_out;
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

static int dump(struct sd_ctx *c, uint8_t family, uint32_t states, struct kt_diag *d)
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
	char req[1024];
	memset(req, 0, sizeof(req));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	uint32_t seq = (uint32_t)time(NULL) ^ family;
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
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int rem = (int)n;
		for (; rem >= (int)NLMSG_HDRLEN && h->nlmsg_len <= (uint32_t)rem && mnl_nlmsg_ok(h, rem);
		     h = mnl_nlmsg_next(h, &rem)) {
			if (h->nlmsg_seq != seq || (h->nlmsg_pid && h->nlmsg_pid != portid))
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				ret = 0;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(*e) && e->error) {
					c->err = -e->error;
					ret = kt_diag_set(d, KT_EXIT_CLUSTER, "sock_diag dump refused: %s",
							  strerror(-e->error));
					goto out;
				}
				continue;
			}
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				one_socket(c, h);
		}
	}
	ret = 0;
out:
	free(buf);
	mnl_socket_close(nl);
	return ret;
}

int kt_sockdiag_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs,
			const struct kt_flow_opts *fo, struct kt_diag *d)
{
	struct kt_fagg g;
	kt_fagg_init(&g, fo ? fo->max_agg : 0, !(fo && fo->no_fingerprints));
	struct sd_ctx c;
	memset(&c, 0, sizeof(c));
	c.g = &g;
	if (fo && fo->ports && fo->n_ports && fo->n_ports <= SD_MAX_PORTS) {
		c.ports = fo->ports;
		c.n_ports = fo->n_ports;
	}
	static const uint8_t fams[] = {AF_INET, AF_INET6};
	int rc = 0;
	struct kt_diag td;
	for (int f = 0; f < 2 && rc == 0; f++) {
		c.listen_pass = true;
		memset(&td, 0, sizeof(td));
		rc = dump(&c, fams[f], 1u << SD_TCP_LISTEN, &td);
		c.listen_pass = false;
		if (rc == 0) {
			memset(&td, 0, sizeof(td));
			rc = dump(&c, fams[f], 0xffffffffu & ~(1u << SD_TCP_LISTEN), &td);
		}
	}
	if (rc < 0) {
		/* sockets are extra evidence: a failure is a gap, not an error */
		kt_snapshot_gap(snap, "sockets (inet_diag)", "%s", td.msg);
		kt_fagg_release(&g);
		return 0;
	}
	if (g.dropped)
		kt_snapshot_gap(snap, "socket aggregates", "cap of %u hit: %llu sockets not counted", g.max,
				(unsigned long long)g.dropped);
	fs->entries_seen += c.seen;
	kt_fagg_emit(&g, snap, fs);
	kt_fagg_release(&g);
	kt_sample_add_source(snap, fs, "inet_diag");
	(void)d;
	return 0;
}
