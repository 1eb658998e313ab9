/*
 * The one netlink layer of the node collectors (internal to collectors/
 * and tests), on libnl-3. Every netlink conversation of ktrace goes
 * through it: nf_tables (libnftnl-built requests), IPVS generic netlink,
 * ipsets, rtnetlink, conntrack dumps, lookups and events, sock_diag.
 *
 * libnl owns the socket (nl_socket_alloc/nl_connect), the receive loop
 * (nl_recvmsgs with one callback set per request: sequence and port id
 * checks, NLMSG_DONE/ERROR/ACK, multipart, NLM_F_DUMP_INTR), and the
 * attribute parsing of the collectors (nla_parse/nlmsg_parse with
 * policies). This layer adds what every caller needs on top: EINTR retry
 * on send, one MSG_PEEK|MSG_TRUNC probe that sizes the receive buffers
 * (nl_socket_set_msg_buf_size), a batched receive (recvmmsg behind
 * nl_cb_overwrite_recv: a dump's data and its NLMSG_DONE in one syscall),
 * extack text in error strings, a bounded restart of interrupted dumps,
 * and record/replay (nl_record.c).
 *
 * Hot paths (conntrack and sock_diag dumps, conntrack events) get libnl's
 * raw message (NL_CB_VALID with struct nl_msg) and decode the attributes
 * themselves; nothing allocates a libnl object per entry.
 */
#ifndef KT_COLLECTORS_NETLINK_NL_H
#define KT_COLLECTORS_NETLINK_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

struct kt_nl;                /* one netlink socket, or the replay of one */

struct kt_nl_opts {
	uint32_t groups[4];      /* multicast groups to join (event sockets), 0-terminated */
	int rcvbuf;              /* receive buffer, bytes; 0: 4 MiB (forced when root) */
	int timeout_ms;          /* receive timeout; 0: block */
	bool nonblock;           /* event sockets: kt_nl_drain() never waits */
	size_t msg_buf;          /* receive buffer per datagram, bytes; 0: probe (32 KiB floor) */
};

/* Open a socket of protocol (NETLINK_*). In replay mode (KTRACE_NL_REPLAY)
 * no socket is opened: requests are answered from the recording. An event
 * socket (o->groups) cannot be replayed: NULL with err "replay". NULL and
 * err filled on failure. */
struct kt_nl *kt_nl_open(int protocol, const struct kt_nl_opts *o, char *err, size_t errlen);
void kt_nl_close(struct kt_nl *nl);
/* The socket's descriptor, for poll() on an event socket; -1 in replay. */
int kt_nl_fd(const struct kt_nl *nl);
/* True when nl answers from a recording. */
bool kt_nl_is_replay(const struct kt_nl *nl);

/* One reply message of a request (libnl's raw message: nlmsg_hdr(msg)).
 * Return < 0 to stop delivering (the reply is still read to its end). */
typedef int (*kt_nl_msg_fn)(struct nl_msg *msg, void *ctx);

/* Dump finished, but every attempt was interrupted (NLM_F_DUMP_INTR):
 * the last attempt's messages were delivered. */
#define KT_NL_INTR 1

/* Send req (seq/port id set here, NLM_F_REQUEST added) and deliver every
 * reply message of it to cb until NLMSG_DONE (dumps), the reply (plain
 * requests) or an error. A dump interrupted by NLM_F_DUMP_INTR, or whose
 * datagram did not fit the buffers, is restarted after reset(ctx) at most
 * three times; without reset it is not restarted. Returns 0, KT_NL_INTR,
 * or -errno with err filled (extack text when the kernel sent one;
 * -ECANCELED when cb stopped, -ENOENT "no recording" in replay mode). */
int kt_nl_request(struct kt_nl *nl, struct nl_msg *req, kt_nl_msg_fn cb, void (*reset)(void *ctx), void *ctx,
		  char *err, size_t errlen);
/* The same for a request built elsewhere (libnftnl): len bytes at req. */
int kt_nl_request_raw(struct kt_nl *nl, const void *req, size_t len, kt_nl_msg_fn cb, void (*reset)(void *ctx),
		      void *ctx, char *err, size_t errlen);

/* Send len bytes of netlink messages at buf as one datagram (an
 * nfnetlink batch: BATCH_BEGIN, changes, BATCH_END, built by libnftnl)
 * and wait for the kernel's verdict on them: 0, or -errno with err filled
 * (extack text when the kernel sent one). Sequence numbers and flags are
 * set here. Changes only what the caller built (trace: its own scratch
 * namespace); not in replay mode. */
int kt_nl_batch(struct kt_nl *nl, void *buf, size_t len, char *err, size_t errlen);

/* Event sockets: deliver every queued multicast message to cb, without
 * waiting. *overrun is set when the kernel dropped events (ENOBUFS) or a
 * datagram did not fit. Returns the number of messages delivered, or
 * -errno on a socket error. */
long kt_nl_drain(struct kt_nl *nl, kt_nl_msg_fn cb, void *ctx, bool *overrun);

/* Run a buffer of netlink messages (a recording, a fuzz input) through the
 * same libnl receive processing, without sequence checks, past NLMSG_DONE.
 * Returns 0; -EPROTO for a malformed buffer (bytes left that are not a
 * message, a truncated error message); the NLMSG_ERROR code (negative) of
 * an error message, where delivery stops; -ECANCELED when cb stopped.
 * *n_msgs (optional) counts the messages delivered. */
int kt_nl_feed(int protocol, const void *buf, size_t len, kt_nl_msg_fn cb, void *ctx, uint64_t *n_msgs);

/* The id of generic netlink family name (libnl-genl's genl_ctrl_resolve),
 * recorded and replayed like a dump. 0 when the family does not exist. */
int kt_nl_genl_family(struct kt_nl *nl, const char *name);

/* ---- record and replay (nl_record.c) ------------------------------- */

/* KTRACE_NL_RECORD / KTRACE_NL_REPLAY directories (replay wins when both
 * are set), NULL when unset. */
const char *kt_nl_record_dir(void);
const char *kt_nl_replay_dir(void);
/* dir/name into out; -ENAMETOOLONG when it does not fit. */
int kt_nl_rec_path(char *out, size_t n, const char *dir, const char *name);
/* The recording file of one request: DIR/nl-<protocol>-<hash>.bin, the
 * hash (FNV-1a 64) over protocol, message type, flags and payload (not
 * sequence number, port id or length). */
void kt_nl_rec_name(char *out, size_t n, const char *dir, int protocol, const void *req, size_t len);
/* Side inputs of a live read that a replay needs too (the node name,
 * iptables-legacy-save text, sysctls, a genl family id): store len bytes
 * as DIR/name when recording (0, or -errno); read DIR/name (at most max
 * bytes, malloc'd, NUL-terminated) when replaying (NULL when absent). */
int kt_nl_rec_put(const char *name, const void *buf, size_t len);
char *kt_nl_rec_get(const char *name, size_t max, size_t *len);

/* This host's name for a live read, or the recorded one (DIR/node.txt) in
 * a replay, so that the replay names the same node; recorded when
 * recording. */
const char *kt_nl_host_name(char *buf, size_t n);

/* ---- attribute helpers for the hot paths --------------------------- */

/* Walk the attributes in [start, start + len) (libnl's nla_ok/nla_next
 * rules, inlined: these loops run for every attribute of every entry of a
 * 100k-entry conntrack dump). Each attribute is bounded by what is left of
 * its parent before it is read. */
static inline bool kt_nla_ok(const struct nlattr *a, int rem)
{
	return rem >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) && (int)a->nla_len <= rem;
}
#define KT_NLA_FOR(pos, rem, start, len)                                                              \
	for (pos = (const struct nlattr *)(start), rem = (int)(len); kt_nla_ok(pos, rem);            \
	     rem -= NLA_ALIGN(pos->nla_len), pos = (const struct nlattr *)((const char *)pos + NLA_ALIGN(pos->nla_len)))
#define KT_NLA_FOR_NESTED(pos, rem, nest) KT_NLA_FOR(pos, rem, kt_nla_data(nest), kt_nla_len(nest))

static inline const void *kt_nla_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}
static inline int kt_nla_len(const struct nlattr *a)
{
	return (int)a->nla_len - NLA_HDRLEN;
}
static inline uint16_t kt_nla_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

#endif
