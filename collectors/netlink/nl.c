/*
 * The netlink layer (collectors/netlink/nl.h) on libnl-3. One struct kt_nl
 * owns one libnl socket and one callback set; a request runs libnl's
 * nl_recvmsgs() until its reply is complete, with these callbacks:
 *   NL_CB_MSG_IN    bytes consumed (a fed buffer's trailing garbage)
 *   NL_CB_SEQ_CHECK sender is the kernel, sequence number and port id are
 *                   the request's (stale replies of an earlier request are
 *                   skipped); the recording is written here
 *   NL_CB_DUMP_INTR the dump is restarted after it completes
 *   NL_CB_VALID     the caller's message callback
 *   NL_CB_FINISH    NLMSG_DONE (its error code, when a dump failed midway)
 *   NL_CB_ACK / err NLMSG_ERROR, with extack text
 * Receiving is libnl's extension point nl_cb_overwrite_recv(): up to
 * NL_BATCH datagrams per recvmmsg() (EINTR retried), buffers sized by one
 * MSG_PEEK|MSG_TRUNC probe per socket, a datagram larger than the buffers
 * restarts the dump on a new socket with larger ones. In replay and feed
 * mode the same hook hands libnl the recorded bytes instead, so a replay
 * runs exactly the live processing. Changes (NEW requests, nfnetlink
 * batches: kt_nl_batch) are sent only for `ktrace trace`'s own scratch
 * namespaces. Must not: keep messages beyond the callback, print, send
 * anything but what callers ask.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/handlers.h>
#include <netlink/socket.h>

#include "collectors/netlink/nl.h"
#include "ktrace/fileio.h"
#include "ktrace/xalloc.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#define KT_NLMSGERR_ATTR_MSG 1

#define NL_BATCH      16             /* datagrams per recvmmsg() (events use all) */
#define NL_BATCH_REQ  4              /* requests: a dump's data and its DONE */
#define NL_MSG_FLOOR  32768          /* the kernel caps dump skbs at 32 KiB */
#define NL_RETRIES    3
#define NL_MAX_REPLAY (1u << 30)
#define NL_COPY_MAX   4096           /* datagrams up to this size are copied out */

/* The request in progress (callback state). */
struct rq {
	kt_nl_msg_fn cb;
	void *ctx;
	uint32_t seq;
	bool any_seq;            /* replay, feed and events: no sequence check */
	bool dump;
	bool feed;               /* deliver past NLMSG_DONE */
	bool events;
	bool done;
	bool intr;               /* NLM_F_DUMP_INTR seen */
	int rc;                  /* -ECANCELED: cb stopped */
	int err;                 /* NLMSG_ERROR / failed DONE code, negative errno */
	char extack[256];
	FILE *rec;               /* recording of this attempt */
	uint64_t n_msgs;
	size_t consumed;         /* bytes of the messages seen (feed) */
};

struct kt_nl {
	struct nl_sock *sk;
	struct nl_cb *cb;
	int protocol;
	struct kt_nl_opts o;
	bool replay;             /* answers come from recordings (or a fed buffer) */
	const char *replay_dir, *record_dir;
	uint32_t portid;
	size_t cap;              /* bytes per receive buffer */
	bool sized;
	unsigned batch;
	char *slot[NL_BATCH];    /* received datagrams not yet handed to libnl */
	size_t slot_len[NL_BATCH];
	struct sockaddr_nl slot_src[NL_BATCH];
	unsigned q_head, q_n;
	char *feed;              /* replay/feed: the bytes libnl gets once */
	size_t feed_len;
	bool feed_given;
	int sys_errno;           /* errno of the last failed receive */
	bool truncated;          /* a datagram did not fit: need (bytes) */
	size_t need;
	struct rq *st;
	struct nl_msg *raw;      /* kt_nl_request_raw()'s message */
	size_t raw_cap;
};

/* nl_cb_overwrite_recv() passes only the libnl socket: the kt_nl whose
 * nl_recvmsgs() runs on this thread. */
static __thread struct kt_nl *cur;

/* ---- receiving ------------------------------------------------------ */

/* Size the buffers once per socket: the first datagram's length. */
static int probe(struct kt_nl *nl, int fd)
{
	ssize_t n;
	do
		n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | (nl->o.nonblock ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		nl->sys_errno = errno;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -NLE_AGAIN : -NLE_FAILURE;
	}
	if ((size_t)n > nl->cap) {
		for (unsigned i = 0; i < NL_BATCH; i++) {
			free(nl->slot[i]);
			nl->slot[i] = NULL;
		}
		nl->cap = (size_t)n + 4096;
	}
	nl_socket_set_msg_buf_size(nl->sk, nl->cap);
	nl->sized = true;
	return 0;
}

/* Receive up to nl->batch datagrams into the queue. */
static int fill(struct kt_nl *nl)
{
	int fd = nl_socket_get_fd(nl->sk);
	if (!nl->sized) {
		int r = probe(nl, fd);
		if (r < 0)
			return r;
	}
	struct mmsghdr mm[NL_BATCH];
	struct iovec iov[NL_BATCH];
	memset(mm, 0, sizeof(mm));
	for (unsigned i = 0; i < nl->batch; i++) {
		if (!nl->slot[i])
			nl->slot[i] = kt_xmalloc(nl->cap);
		iov[i].iov_base = nl->slot[i];
		iov[i].iov_len = nl->cap;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &nl->slot_src[i];
		mm[i].msg_hdr.msg_namelen = sizeof(nl->slot_src[i]);
	}
	int got;
	int flags = MSG_WAITFORONE | MSG_TRUNC | (nl->o.nonblock ? MSG_DONTWAIT : 0);
	do
		got = recvmmsg(fd, mm, nl->batch, flags, NULL);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		nl->sys_errno = errno;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -NLE_AGAIN : -NLE_FAILURE;
	}
	/* queue what fit; a datagram larger than the buffer is dropped and
	 * remembered (the dump restarts with larger buffers, events resync) */
	unsigned w = 0;
	for (int i = 0; i < got; i++) {
		if (mm[i].msg_len > nl->cap || (mm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
			nl->truncated = true;
			if (mm[i].msg_len > nl->need)
				nl->need = mm[i].msg_len;
			continue;
		}
		if (w != (unsigned)i) {
			char *t = nl->slot[w];
			nl->slot[w] = nl->slot[i];
			nl->slot[i] = t;
			nl->slot_src[w] = nl->slot_src[i];
		}
		nl->slot_len[w++] = mm[i].msg_len;
	}
	nl->q_head = 0;
	nl->q_n = w;
	return w ? 0 : -NLE_MSG_TRUNC;
}

static int ov_recv(struct nl_sock *sk, struct sockaddr_nl *nla, unsigned char **buf, struct ucred **creds)
{
	struct kt_nl *nl = cur;
	(void)sk;
	if (creds)
		*creds = NULL;
	memset(nla, 0, sizeof(*nla));
	nla->nl_family = AF_NETLINK;
	if (nl->replay) {
		if (!nl->feed || nl->feed_given)
			return 0; /* end of the recording */
		nl->feed_given = true;
		if (!nl->feed_len) {
			/* libnl frees only what it got with a positive length */
			free(nl->feed);
			nl->feed = NULL;
			return 0;
		}
		*buf = (unsigned char *)nl->feed;
		nl->feed = NULL;
		return (int)nl->feed_len;
	}
	/* a dump with a datagram that did not fit restarts on a new socket:
	 * stop here (the lost datagram may have held NLMSG_DONE) */
	if (nl->truncated && !nl->o.nonblock)
		return -NLE_MSG_TRUNC;
	if (nl->q_head == nl->q_n) {
		int r = fill(nl);
		if (r < 0)
			return r;
	}
	if (nl->truncated && !nl->o.nonblock)
		return -NLE_MSG_TRUNC;
	unsigned i = nl->q_head++;
	size_t len = nl->slot_len[i];
	if (len <= NL_COPY_MAX) {
		/* libnl frees what it gets: a small datagram (a per-chain
		 * dump's rules, its NLMSG_DONE, an event) is copied, and the
		 * receive buffer stays for the next recvmmsg() */
		*buf = kt_xmalloc(len ? len : 1);
		memcpy(*buf, nl->slot[i], len);
	} else {
		*buf = (unsigned char *)nl->slot[i];
		nl->slot[i] = NULL; /* libnl frees it; fill() allocates another */
	}
	*nla = nl->slot_src[i];
	return (int)len;
}

/* ---- callbacks ------------------------------------------------------ */

/* The extack message after the nlmsgerr (and the echoed request unless
 * capped), bounded by nlmsg_len. */
static void extack_of(const struct nlmsghdr *h, size_t off, char *out, size_t n)
{
	out[0] = 0;
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || h->nlmsg_len < NLMSG_HDRLEN)
		return;
	size_t total = h->nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	if (off > total)
		return;
	const struct nlattr *a;
	int rem;
	KT_NLA_FOR(a, rem, (const char *)NLMSG_DATA(h) + off, total - off) {
		if (kt_nla_type(a) == KT_NLMSGERR_ATTR_MSG && kt_nla_len(a) > 0) {
			size_t l = strnlen(kt_nla_data(a), (size_t)kt_nla_len(a));
			if (l >= n)
				l = n - 1;
			memcpy(out, kt_nla_data(a), l);
			out[l] = 0;
			return;
		}
	}
}

static void rec_write(FILE *f, const struct nlmsghdr *h)
{
	struct nlmsghdr hh = *h;
	hh.nlmsg_seq = 0;
	hh.nlmsg_pid = 0;
	fwrite(&hh, sizeof(hh), 1, f);
	fwrite((const char *)h + sizeof(hh), h->nlmsg_len - sizeof(hh), 1, f);
	static const char pad[NLMSG_ALIGNTO];
	if (NLMSG_ALIGN(h->nlmsg_len) > h->nlmsg_len)
		fwrite(pad, NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len, 1, f);
}

static int on_msg_in(struct nl_msg *msg, void *arg)
{
	struct kt_nl *nl = arg;
	nl->st->consumed += NLMSG_ALIGN(nlmsg_hdr(msg)->nlmsg_len);
	return NL_OK;
}

static int on_seq(struct nl_msg *msg, void *arg)
{
	struct kt_nl *nl = arg;
	struct rq *st = nl->st;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	if (!nl->replay && nlmsg_get_src(msg)->nl_pid != 0)
		return NL_SKIP; /* not from the kernel */
	if (!st->any_seq && (h->nlmsg_seq != st->seq || (h->nlmsg_pid && h->nlmsg_pid != nl->portid)))
		return NL_SKIP; /* a late reply to an earlier request */
	if (h->nlmsg_flags & NLM_F_DUMP_INTR)
		st->intr = true;
	if (st->rec)
		rec_write(st->rec, h);
	return NL_OK;
}

static int on_dump_intr(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK; /* delivered; the dump is restarted when it is complete */
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct kt_nl *nl = arg;
	struct rq *st = nl->st;
	st->n_msgs++;
	if (st->rc == 0 && st->cb && st->cb(msg, st->ctx) < 0) {
		st->rc = -ECANCELED;
		if (st->feed)
			return NL_STOP;
	}
	if (!st->dump && !st->feed && !st->events && !(nlmsg_hdr(msg)->nlmsg_flags & NLM_F_MULTI)) {
		st->done = true; /* the one reply of a plain request */
		return NL_STOP;
	}
	return NL_OK;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct kt_nl *nl = arg;
	struct rq *st = nl->st;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	st->done = true;
	/* a dump that failed midway carries its error in NLMSG_DONE */
	if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
		int e;
		memcpy(&e, NLMSG_DATA(h), sizeof(e));
		if (e < 0 && !st->err) {
			st->err = e > -4096 ? e : -EPROTO;
			extack_of(h, sizeof(int), st->extack, sizeof(st->extack));
		}
	}
	return st->feed ? NL_OK : NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct kt_nl *nl = arg;
	(void)msg;
	if (nl->st->dump || nl->st->feed)
		return NL_OK;
	nl->st->done = true;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct kt_nl *nl = arg;
	struct rq *st = nl->st;
	(void)nla;
	/* libnl hands the nlmsgerr inside the received message: its header
	 * precedes it, and nlmsg_len was checked against the datagram */
	const struct nlmsghdr *h = (const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	st->done = true;
	st->err = e->error < 0 && e->error > -4096 ? e->error : -EPROTO;
	size_t off = sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len > NLMSG_HDRLEN)
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	extack_of(h, off, st->extack, sizeof(st->extack));
	return NL_STOP;
}

static struct nl_cb *make_cb(struct kt_nl *nl, bool feed)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		kt_oom();
	if (feed)
		nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, on_msg_in, nl);
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_seq, nl);
	nl_cb_set(cb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, on_dump_intr, nl);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, nl);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, nl);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, nl);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, nl);
	nl_cb_overwrite_recv(cb, ov_recv);
	return cb;
}

/* ---- sockets -------------------------------------------------------- */

static int sock_setup(struct kt_nl *nl, char *err, size_t errlen)
{
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		kt_oom();
	nl_socket_disable_auto_ack(nl->sk);
	int r = nl_connect(nl->sk, nl->protocol);
	if (r < 0) {
		snprintf(err, errlen, "netlink socket: %s", nl_geterror(r));
		return -EPERM;
	}
	int fd = nl_socket_get_fd(nl->sk);
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	int rcv = nl->o.rcvbuf ? nl->o.rcvbuf : 4 << 20;
	if (!nl->o.rcvbuf || setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (nl->o.timeout_ms > 0) {
		struct timeval tv = {.tv_sec = nl->o.timeout_ms / 1000, .tv_usec = (nl->o.timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	for (int i = 0; i < 4 && nl->o.groups[i]; i++) {
		r = nl_socket_add_membership(nl->sk, (int)nl->o.groups[i]);
		if (r < 0) {
			snprintf(err, errlen, "cannot join netlink group %u: %s", nl->o.groups[i], nl_geterror(r));
			return -EPERM;
		}
	}
	if (nl->o.nonblock)
		nl_socket_set_nonblocking(nl->sk);
	nl->portid = nl_socket_get_local_port(nl->sk);
	nl->sized = nl->o.msg_buf != 0;
	if (nl->sized)
		nl_socket_set_msg_buf_size(nl->sk, nl->cap);
	return 0;
}

static void drop_queue(struct kt_nl *nl)
{
	for (unsigned i = 0; i < NL_BATCH; i++) {
		free(nl->slot[i]);
		nl->slot[i] = NULL;
	}
	nl->q_head = nl->q_n = 0;
}

struct kt_nl *kt_nl_open(int protocol, const struct kt_nl_opts *o, char *err, size_t errlen)
{
	struct kt_nl *nl = kt_xcalloc(1, sizeof(*nl));
	if (o)
		nl->o = *o;
	nl->protocol = protocol;
	nl->cb = make_cb(nl, false);
	nl->cap = nl->o.msg_buf ? nl->o.msg_buf : NL_MSG_FLOOR;
	nl->batch = nl->o.groups[0] ? NL_BATCH : NL_BATCH_REQ;
	nl->replay_dir = kt_nl_replay_dir();
	if (nl->replay_dir) {
		if (nl->o.groups[0]) {
			snprintf(err, errlen, "replay (KTRACE_NL_REPLAY): no live events");
			kt_nl_close(nl);
			return NULL;
		}
		nl->replay = true;
		nl->sk = nl_socket_alloc(); /* never connected: libnl's receive loop only */
		if (!nl->sk)
			kt_oom();
		return nl;
	}
	nl->record_dir = kt_nl_record_dir();
	if (nl->record_dir)
		mkdir(nl->record_dir, 0755);
	if (sock_setup(nl, err, errlen) < 0) {
		kt_nl_close(nl);
		return NULL;
	}
	return nl;
}

void kt_nl_close(struct kt_nl *nl)
{
	if (!nl)
		return;
	drop_queue(nl);
	free(nl->feed);
	if (nl->raw)
		nlmsg_free(nl->raw);
	if (nl->sk)
		nl_socket_free(nl->sk);
	if (nl->cb)
		nl_cb_put(nl->cb);
	free(nl);
}

int kt_nl_fd(const struct kt_nl *nl)
{
	return nl->replay || !nl->sk ? -1 : nl_socket_get_fd(nl->sk);
}

bool kt_nl_is_replay(const struct kt_nl *nl)
{
	return nl->replay;
}

/* ---- requests ------------------------------------------------------- */

static int finish_rq(struct rq *st, char *err, size_t errlen)
{
	if (st->err) {
		snprintf(err, errlen, "%s%s%s", strerror(-st->err), st->extack[0] ? ": " : "", st->extack);
		return st->err;
	}
	if (st->rc < 0) {
		snprintf(err, errlen, "dump aborted by the reader");
		return st->rc;
	}
	if (st->intr) {
		snprintf(err, errlen, "dump interrupted (NLM_F_DUMP_INTR): state changed while reading");
		return KT_NL_INTR;
	}
	return 0;
}

/* Feed the recording of this request through libnl's receive loop. */
static int request_replay(struct kt_nl *nl, struct rq *st, const struct nlmsghdr *h, char *err, size_t errlen)
{
	char path[4096];
	kt_nl_rec_name(path, sizeof(path), nl->replay_dir, nl->protocol, h, h->nlmsg_len);
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "no recording of this request in %s (KTRACE_NL_REPLAY): %s", nl->replay_dir,
			 strerror(errno));
		return -ENOENT;
	}
	char *buf;
	size_t n;
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
		/* one read of the known size: a 24 MB conntrack recording is
		 * not grown and copied chunk by chunk */
		size_t want = (size_t)sb.st_size < NL_MAX_REPLAY ? (size_t)sb.st_size : NL_MAX_REPLAY;
		buf = kt_xmalloc(want);
		n = fread(buf, 1, want, f);
	} else {
		kt_read_stream(f, 65536, NL_MAX_REPLAY, &buf, &n); /* bounded: a larger recording is truncated */
	}
	fclose(f);
	free(nl->feed);
	nl->feed = buf;
	nl->feed_len = n;
	nl->feed_given = false;
	st->any_seq = true;
	struct kt_nl *prev = cur; /* a callback may run a request of its own */
	cur = nl;
	nl->st = st;
	int r = nl_recvmsgs(nl->sk, nl->cb);
	nl->st = NULL;
	cur = prev;
	if (!st->err && r < 0) {
		snprintf(err, errlen, "recording %s: %s", path, nl_geterror(r));
		return -EPROTO;
	}
	if (!st->done && !st->err) {
		snprintf(err, errlen, "recording %s ends before the reply does", path);
		return -EPROTO;
	}
	return finish_rq(st, err, errlen);
}

/* One attempt on the socket: 0, KT_NL_INTR, -EMSGSIZE (restart with
 * larger buffers) or -errno. */
/* Receive until the request of st is answered (or fails). */
static int await_reply(struct kt_nl *nl, struct rq *st, char *err, size_t errlen)
{
	struct kt_nl *prev = cur; /* a callback may run a request of its own (sock_diag's lookups) */
	cur = nl;
	nl->st = st;
	int rc = 0;
	while (!st->done) {
		nl->sys_errno = 0;
		int r = nl_recvmsgs(nl->sk, nl->cb);
		cur = nl;
		if (st->err)
			break;
		if (r == -NLE_MSG_TRUNC && nl->truncated)
			break;
		if (r < 0) {
			int e = nl->sys_errno ? nl->sys_errno : EPROTO;
			snprintf(err, errlen, "netlink receive: %s", e == EPROTO ? nl_geterror(r) : strerror(e));
			rc = -e;
			break;
		}
	}
	nl->st = NULL;
	cur = prev;
	if (rc)
		return rc;
	if (nl->truncated) {
		snprintf(err, errlen, "netlink message larger than the receive buffer (%zu bytes)", nl->cap);
		return -EMSGSIZE;
	}
	return finish_rq(st, err, errlen);
}

static int request_once(struct kt_nl *nl, struct rq *st, struct nl_msg *req, char *err, size_t errlen)
{
	struct nlmsghdr *h = nlmsg_hdr(req);
	h->nlmsg_seq = nl_socket_use_seq(nl->sk);
	h->nlmsg_pid = 0;
	st->seq = h->nlmsg_seq;
	int s;
	do {
		errno = 0;
		s = nl_send(nl->sk, req);
	} while (s < 0 && errno == EINTR);
	if (s < 0) {
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "netlink send: %s", strerror(e));
		return -e;
	}
	return await_reply(nl, st, err, errlen);
}

int kt_nl_batch(struct kt_nl *nl, void *buf, size_t len, char *err, size_t errlen)
{
	if (nl->replay) {
		snprintf(err, errlen, "a batch of changes cannot be replayed");
		return -ENOTSUP;
	}
	/* one sequence number for every message; only the last asks for an
	 * ACK: the first NLMSG_ERROR (a failure, or that ACK) ends the batch */
	uint32_t seq = nl_socket_use_seq(nl->sk);
	struct nlmsghdr *last = NULL;
	size_t off = 0;
	while (off + NLMSG_HDRLEN <= len) {
		struct nlmsghdr *h = (struct nlmsghdr *)((char *)buf + off);
		if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len - off)
			break;
		h->nlmsg_seq = seq;
		h->nlmsg_pid = 0;
		h->nlmsg_flags = (uint16_t)((h->nlmsg_flags | NLM_F_REQUEST) & ~NLM_F_ACK);
		last = h;
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	if (!last || off != NLMSG_ALIGN(len)) {
		snprintf(err, errlen, "malformed netlink batch");
		return -EINVAL;
	}
	last->nlmsg_flags |= NLM_F_ACK;
	int s;
	do {
		errno = 0;
		s = nl_sendto(nl->sk, buf, len);
	} while (s < 0 && errno == EINTR);
	if (s < 0) {
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "netlink send: %s", strerror(e));
		return -e;
	}
	struct rq st = {.seq = seq};
	return await_reply(nl, &st, err, errlen);
}

/* A datagram did not fit: a new socket (the rest of the dump is dropped
 * with the old one) with buffers that hold it. */
static int regrow(struct kt_nl *nl, char *err, size_t errlen)
{
	size_t need = nl->need > nl->cap ? nl->need : nl->cap * 2;
	drop_queue(nl);
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	nl->cap = need + 4096;
	nl->truncated = false;
	nl->need = 0;
	nl->o.msg_buf = nl->cap;
	return sock_setup(nl, err, errlen);
}

int kt_nl_request(struct kt_nl *nl, struct nl_msg *req, kt_nl_msg_fn cb, void (*reset)(void *ctx), void *ctx,
		  char *err, size_t errlen)
{
	struct nlmsghdr *h = nlmsg_hdr(req);
	h->nlmsg_flags |= NLM_F_REQUEST;
	/* both bits: NLM_F_MATCH alone is NLM_F_EXCL of a NEW request */
	bool dump = (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	if (nl->replay) {
		struct rq st = {.cb = cb, .ctx = ctx, .dump = dump};
		return request_replay(nl, &st, h, err, errlen);
	}
	char rpath[4096];
	if (nl->record_dir)
		kt_nl_rec_name(rpath, sizeof(rpath), nl->record_dir, nl->protocol, h, h->nlmsg_len);
	int rc = 0;
	for (int attempt = 0; attempt <= NL_RETRIES; attempt++) {
		struct rq st = {.cb = cb, .ctx = ctx, .dump = dump};
		if (nl->record_dir)
			st.rec = fopen(rpath, "wb"); /* a restarted dump rewrites its recording */
		rc = request_once(nl, &st, req, err, errlen);
		if (st.rec)
			fclose(st.rec);
		if (rc == -EMSGSIZE) {
			char e2[256];
			if (regrow(nl, e2, sizeof(e2)) < 0) {
				snprintf(err, errlen, "%s", e2);
				return -EPERM;
			}
		}
		if ((rc != -EMSGSIZE && rc != KT_NL_INTR) || !reset || attempt == NL_RETRIES)
			break;
		reset(ctx);
	}
	return rc;
}

int kt_nl_request_raw(struct kt_nl *nl, const void *req, size_t len, kt_nl_msg_fn cb, void (*reset)(void *ctx),
		      void *ctx, char *err, size_t errlen)
{
	if (len < NLMSG_HDRLEN || len > INT32_MAX) {
		snprintf(err, errlen, "malformed netlink request");
		return -EINVAL;
	}
	/* one libnl message per socket, reused: per-chain dumps send tens of
	 * thousands of these */
	if (!nl->raw || nl->raw_cap < NLMSG_ALIGN(len)) {
		if (nl->raw)
			nlmsg_free(nl->raw);
		nl->raw_cap = NLMSG_ALIGN(len) > 4096 ? NLMSG_ALIGN(len) : 4096;
		nl->raw = nlmsg_alloc_size(nl->raw_cap);
		if (!nl->raw)
			kt_oom();
	}
	struct nlmsghdr *h = nlmsg_hdr(nl->raw);
	memcpy(h, req, len);
	h->nlmsg_len = (uint32_t)len;
	return kt_nl_request(nl, nl->raw, cb, reset, ctx, err, errlen);
}

long kt_nl_drain(struct kt_nl *nl, kt_nl_msg_fn cb, void *ctx, bool *overrun)
{
	struct rq st = {.cb = cb, .ctx = ctx, .any_seq = true, .events = true};
	struct kt_nl *prev = cur;
	cur = nl;
	nl->st = &st;
	long rc = 0;
	for (;;) {
		nl->sys_errno = 0;
		int r = nl_recvmsgs(nl->sk, nl->cb);
		if (nl->truncated) {
			*overrun = true;
			nl->truncated = false;
		}
		if (r >= 0 || r == -NLE_MSG_TRUNC)
			continue;
		if (r == -NLE_AGAIN)
			break;
		if (nl->sys_errno == ENOBUFS) {
			*overrun = true; /* keep draining: the resync dump rebuilds the state anyway */
			continue;
		}
		rc = -(nl->sys_errno ? nl->sys_errno : EPROTO);
		break;
	}
	nl->st = NULL;
	cur = prev;
	return rc < 0 ? rc : (long)st.n_msgs;
}

int kt_nl_feed(int protocol, const void *buf, size_t len, kt_nl_msg_fn cb, void *ctx, uint64_t *n_msgs)
{
	if (len > NL_MAX_REPLAY)
		len = NL_MAX_REPLAY;
	struct kt_nl nl;
	memset(&nl, 0, sizeof(nl));
	nl.protocol = protocol;
	nl.replay = true;
	nl.sk = nl_socket_alloc();
	if (!nl.sk)
		kt_oom();
	nl.cb = make_cb(&nl, true);
	nl.feed = kt_xmalloc(len ? len : 1);
	if (len)
		memcpy(nl.feed, buf, len);
	nl.feed_len = len;
	struct rq st = {.cb = cb, .ctx = ctx, .any_seq = true, .feed = true};
	struct kt_nl *prev = cur;
	cur = &nl;
	nl.st = &st;
	int r = nl_recvmsgs(nl.sk, nl.cb);
	cur = prev;
	free(nl.feed);
	nl_socket_free(nl.sk);
	nl_cb_put(nl.cb);
	if (n_msgs)
		*n_msgs = st.n_msgs;
	if (st.err)
		return st.err;
	if (st.rc)
		return st.rc;
	if (r < 0)
		return -EPROTO; /* a truncated error message */
	if (st.consumed < len && len - st.consumed >= NLMSG_HDRLEN)
		return -EPROTO; /* bytes that are not a message */
	return 0;
}

int kt_nl_genl_family(struct kt_nl *nl, const char *name)
{
	char fname[96];
	snprintf(fname, sizeof(fname), "genl-%s.txt", name);
	if (nl->replay) {
		char *t = kt_nl_rec_get(fname, 64, NULL);
		int id = t ? atoi(t) : 0;
		free(t);
		return id > 0 && id < 65536 ? id : 0;
	}
	/* a socket of its own: genl_ctrl_resolve() runs libnl's default
	 * callbacks and sequence accounting */
	struct nl_sock *sk = nl_socket_alloc();
	if (!sk)
		kt_oom();
	int id = genl_connect(sk) == 0 ? genl_ctrl_resolve(sk, name) : -NLE_FAILURE;
	nl_socket_free(sk);
	if (id < 0)
		id = 0;
	if (nl->record_dir) {
		char t[16];
		int n = snprintf(t, sizeof(t), "%d\n", id);
		kt_nl_rec_put(fname, t, (size_t)n);
	}
	return id;
}
