/*
 * The one netlink dump loop of the dataplane collectors (nf_tables via
 * libnftnl-built requests, IPVS generic netlink). Read-only: callers only
 * send dump/get requests. Discipline as in iproute2: the receive buffers
 * are sized with a MSG_PEEK|MSG_TRUNC probe (once per socket; afterwards a
 * datagram flagged MSG_TRUNC grows the buffers and restarts the dump),
 * EINTR is retried, replies are matched on sequence number and port id,
 * NLMSG_ERROR carries extack text into the error string, and a dump
 * interrupted by NLM_F_DUMP_INTR is restarted (after the caller's reset)
 * at most three times.
 * Per-chain dumps are syscall-bound: the kernel queues a dump's NLMSG_DONE
 * while the data is being read, so recvmmsg() takes both in one call.
 * Record and replay (as `ss -D` / TCPDIAG_FILE): with KTRACE_NL_RECORD=DIR
 * every dump's reply messages (the final, uninterrupted attempt, NLMSG_DONE
 * and NLMSG_ERROR included, seq/port id zeroed) are also written to
 * DIR/nl-<protocol>-<request hash>.bin; with KTRACE_NL_REPLAY=DIR no socket
 * is opened and the same file is fed through the same reply processing, so
 * every netlink collector runs unchanged without root or the kernel state.
 * The request hash covers the message type, flags and payload (not seq or
 * port id), so parallel or reordered requests find their own answers.
 * Must not: keep replies beyond the callback, print.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/fileio.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif
#ifndef NLMSGERR_ATTR_MSG
#define NLMSGERR_ATTR_MSG 1
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif

#define NL_BATCH 4

struct kt_nl {
	bool sized;
	int fd;                  /* -1 when replaying */
	int protocol;
	const char *record;      /* KTRACE_NL_RECORD directory or NULL */
	const char *replay;      /* KTRACE_NL_REPLAY directory or NULL */
	FILE *rec;               /* open recording of the current dump */
	uint32_t portid;
	uint32_t seq;
	char *buf[NL_BATCH];
	size_t cap;
};

static void grow(struct kt_nl *nl, size_t need)
{
	size_t nc = need + 4096;
	for (int i = 0; i < NL_BATCH; i++) {
		char *nb = realloc(nl->buf[i], nc);
		if (!nb)
			abort();
		nl->buf[i] = nb;
	}
	nl->cap = nc;
}

void kt_nla_parse(const uint8_t *p, size_t len, struct kt_nla *out, unsigned max, bool first_wins)
{
	memset(out, 0, sizeof(*out) * (max + 1));
	while (len >= 4) {
		uint16_t al, at;
		memcpy(&al, p, 2);
		memcpy(&at, p + 2, 2);
		if (al < 4 || al > len)
			break;
		at &= NLA_TYPE_MASK;
		if (at <= max && !(first_wins && out[at].present)) {
			out[at].p = p + 4;
			out[at].len = (uint16_t)(al - 4);
			out[at].present = true;
		}
		size_t step = NLA_ALIGN(al);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
}

const char *kt_nl_replay_dir(void)
{
	const char *d = getenv("KTRACE_NL_REPLAY");
	return d && *d ? d : NULL;
}

const char *kt_nl_record_dir(void)
{
	if (kt_nl_replay_dir())
		return NULL;
	const char *d = getenv("KTRACE_NL_RECORD");
	return d && *d ? d : NULL;
}

int kt_nl_rec_path(char *out, size_t n, const char *dir, const char *name)
{
	int w = snprintf(out, n, "%s/%s", dir, name);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static uint64_t req_hash(int protocol, const void *req, size_t len)
{
	const uint8_t *p = req;
	uint64_t h = 1469598103934665603ull;
	uint8_t pre[8];
	uint32_t pr = (uint32_t)protocol;
	memcpy(pre, &pr, 4);
	memcpy(pre + 4, p + 4, 4); /* nlmsg_type, nlmsg_flags */
	for (size_t i = 0; i < 8; i++)
		h = (h ^ pre[i]) * 1099511628211ull;
	for (size_t i = NLMSG_HDRLEN; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void rec_name(char *out, size_t n, const char *dir, int protocol, const void *req, size_t len)
{
	snprintf(out, n, "%s/nl-%d-%016llx.bin", dir, protocol, (unsigned long long)req_hash(protocol, req, len));
}

struct kt_nl *kt_nl_open(int protocol, char *err, size_t errlen)
{
	const char *rp = kt_nl_replay_dir();
	if (rp) {
		struct kt_nl *nl = calloc(1, sizeof(*nl));
		if (!nl)
			abort();
		nl->fd = -1;
		nl->protocol = protocol;
		nl->replay = rp;
		return nl;
	}
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
	if (fd < 0) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return NULL;
	}
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	socklen_t sl = sizeof(sa);
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	int rcv = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		snprintf(err, errlen, "netlink bind: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	struct kt_nl *nl = calloc(1, sizeof(*nl));
	if (!nl)
		abort();
	nl->fd = fd;
	nl->protocol = protocol;
	nl->record = kt_nl_record_dir();
	if (nl->record)
		mkdir(nl->record, 0755);
	nl->portid = sa.nl_pid;
	nl->seq = (uint32_t)getpid() << 8;
	grow(nl, 32768 - 4096);
	return nl;
}

void kt_nl_close(struct kt_nl *nl)
{
	if (!nl)
		return;
	if (nl->rec)
		fclose(nl->rec);
	if (nl->fd >= 0)
		close(nl->fd);
	for (int i = 0; i < NL_BATCH; i++)
		free(nl->buf[i]);
	free(nl);
}

static void extack(const struct nlmsghdr *h, char *err, size_t errlen, int code)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	snprintf(err, errlen, "%s", strerror(code));
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	size_t off = sizeof(*e);
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	size_t total = h->nlmsg_len - NLMSG_HDRLEN;
	const char *p = (const char *)e;
	while (off + sizeof(struct nlattr) <= total) {
		const struct nlattr *a = (const void *)(p + off);
		if (a->nla_len < sizeof(*a) || off + a->nla_len > total)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a->nla_len > sizeof(*a)) {
			size_t l = a->nla_len - sizeof(*a);
			const char *s = (const char *)(a + 1);
			snprintf(err, errlen, "%s: %.*s", strerror(code), (int)strnlen(s, l), s);
			break;
		}
		off += NLA_ALIGN(a->nla_len);
	}
}

struct dstate {
	uint32_t seq;
	bool request_is_dump;
	bool done, intr, regrow;
	int rc;                  /* callback abort */
	int err;                 /* NLMSG_ERROR code (negative) */
};

/* One datagram: messages of our request go to cb until DONE or an error. */
static void process(struct kt_nl *nl, struct dstate *st, char *buf, size_t len, int (*cb)(const void *, void *),
		    void *ctx, char *err, size_t errlen)
{
	size_t left = len;
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
		if (h->nlmsg_seq != st->seq || (h->nlmsg_pid && h->nlmsg_pid != nl->portid))
			continue; /* stale reply of an earlier request */
		if (nl->rec && !st->regrow) {
			struct nlmsghdr hh = *h;
			hh.nlmsg_seq = 0;
			hh.nlmsg_pid = 0;
			fwrite(&hh, sizeof(hh), 1, nl->rec);
			fwrite((const char *)h + sizeof(hh), h->nlmsg_len - sizeof(hh), 1, nl->rec);
			if (NLMSG_ALIGN(h->nlmsg_len) > h->nlmsg_len) {
				static const char pad[NLMSG_ALIGNTO];
				fwrite(pad, NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len, 1, nl->rec);
			}
		}
		if (h->nlmsg_flags & NLM_F_DUMP_INTR)
			st->intr = true;
		if (h->nlmsg_type == NLMSG_DONE) {
			st->done = true;
			return;
		}
		if (h->nlmsg_type == NLMSG_ERROR) {
			st->done = true;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
				snprintf(err, errlen, "truncated netlink error");
				st->err = -EPROTO;
				return;
			}
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error) {
				extack(h, err, errlen, -e->error);
				st->err = e->error;
			}
			return;
		}
		if (st->regrow)
			continue; /* draining a dump that will be restarted */
		if (st->rc == 0 && cb(h, ctx) < 0)
			st->rc = -ECANCELED;
		if (!(h->nlmsg_flags & NLM_F_MULTI) && !st->request_is_dump) {
			st->done = true;
			return;
		}
	}
}

static int dump_once(struct kt_nl *nl, void *req, size_t len, int (*cb)(const void *nlh, void *ctx), void *ctx,
		     char *err, size_t errlen);

/* Feed a recording through process() exactly as the socket replies were. */
static int replay(struct kt_nl *nl, void *req, size_t len, int (*cb)(const void *nlh, void *ctx), void *ctx,
		  char *err, size_t errlen)
{
	char path[4096];
	rec_name(path, sizeof(path), nl->replay, nl->protocol, req, len);
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "no recording of this request in %s (KTRACE_NL_REPLAY): %s", nl->replay,
			 strerror(errno));
		return -ENOENT;
	}
	char *buf;
	size_t n;
	/* bounded: a recording this large is truncated */
	kt_read_stream(f, 65536, 1u << 30, &buf, &n);
	fclose(f);
	struct nlmsghdr *rq = req;
	struct dstate st = {.seq = 0, .request_is_dump = rq->nlmsg_flags & NLM_F_DUMP};
	/* process() walks aligned messages in place: keep the buffer aligned */
	process(nl, &st, buf, n, cb, ctx, err, errlen);
	free(buf);
	if (st.err)
		return st.err;
	if (st.rc < 0) {
		snprintf(err, errlen, "dump aborted by the reader");
		return st.rc;
	}
	if (!st.done) {
		snprintf(err, errlen, "recording %s ends before NLMSG_DONE", path);
		return -EPROTO;
	}
	if (st.intr) {
		snprintf(err, errlen, "dump interrupted (NLM_F_DUMP_INTR) in the recording");
		return -EINTR;
	}
	return 0;
}

int kt_nl_dump(struct kt_nl *nl, void *req, size_t len, int (*cb)(const void *nlh, void *ctx),
	       void (*reset)(void *ctx), void *ctx, char *err, size_t errlen)
{
	if (nl->replay)
		return replay(nl, req, len, cb, ctx, err, errlen);
	char rpath[4096];
	if (nl->record)
		rec_name(rpath, sizeof(rpath), nl->record, nl->protocol, req, len);
	int rc = 0;
	for (int attempt = 0; attempt < 4; attempt++) {
		if (nl->record) {
			if (nl->rec)
				fclose(nl->rec);
			nl->rec = fopen(rpath, "wb"); /* a restarted dump rewrites its recording */
		}
		rc = dump_once(nl, req, len, cb, ctx, err, errlen);
		if (rc != -EAGAIN)
			break;
		if (!reset || attempt == 3) {
			rc = -EINTR;
			break;
		}
		reset(ctx);
	}
	if (nl->rec) {
		fclose(nl->rec);
		nl->rec = NULL;
	}
	return rc;
}

/* One attempt: 0, a negative errno, or -EAGAIN when the dump must restart. */
static int dump_once(struct kt_nl *nl, void *req, size_t len, int (*cb)(const void *nlh, void *ctx), void *ctx,
		     char *err, size_t errlen)
{
	struct nlmsghdr *rq = req;
	{
		rq->nlmsg_seq = ++nl->seq;
		rq->nlmsg_pid = 0;
		rq->nlmsg_len = (uint32_t)len;
		struct sockaddr_nl to = {.nl_family = AF_NETLINK};
		ssize_t s;
		do
			s = sendto(nl->fd, req, len, 0, (struct sockaddr *)&to, sizeof(to));
		while (s < 0 && errno == EINTR);
		if (s < 0) {
			snprintf(err, errlen, "netlink send: %s", strerror(errno));
			return -errno;
		}
		struct dstate st = {.seq = rq->nlmsg_seq, .request_is_dump = rq->nlmsg_flags & NLM_F_DUMP};
		while (!st.done) {
			if (!nl->sized) {
				ssize_t n;
				do
					n = recv(nl->fd, nl->buf[0], nl->cap, MSG_PEEK | MSG_TRUNC);
				while (n < 0 && errno == EINTR);
				if (n < 0) {
					snprintf(err, errlen, "netlink recv: %s", strerror(errno));
					return -errno;
				}
				if ((size_t)n > nl->cap)
					grow(nl, (size_t)n);
				nl->sized = true;
			}
			struct mmsghdr mm[NL_BATCH];
			struct iovec iov[NL_BATCH];
			memset(mm, 0, sizeof(mm));
			for (int i = 0; i < NL_BATCH; i++) {
				iov[i].iov_base = nl->buf[i];
				iov[i].iov_len = nl->cap;
				mm[i].msg_hdr.msg_iov = &iov[i];
				mm[i].msg_hdr.msg_iovlen = 1;
			}
			if (st.regrow) {
				/* the truncated datagram may have carried DONE: never wait forever */
				struct pollfd pf = {.fd = nl->fd, .events = POLLIN};
				if (poll(&pf, 1, 500) <= 0)
					break;
			}
			int got;
			do
				got = recvmmsg(nl->fd, mm, NL_BATCH, MSG_WAITFORONE, NULL);
			while (got < 0 && errno == EINTR);
			if (got < 0) {
				snprintf(err, errlen, "netlink recv: %s", strerror(errno));
				return -errno;
			}
			size_t need = 0;
			for (int i = 0; i < got && !st.done; i++) {
				if (mm[i].msg_hdr.msg_flags & MSG_TRUNC) {
					/* did not fit: finish reading this dump, then restart it */
					st.regrow = true;
					st.intr = true;
					need = nl->cap * 2;
					continue;
				}
				process(nl, &st, nl->buf[i], mm[i].msg_len, cb, ctx, err, errlen);
			}
			if (need)
				grow(nl, need);
		}
		if (st.err)
			return st.err;
		if (st.rc < 0) {
			snprintf(err, errlen, "dump aborted by the reader");
			return st.rc;
		}
		if (!st.intr)
			return 0;
		snprintf(err, errlen, st.regrow ? "netlink message larger than the receive buffer" :
					 "dump interrupted (NLM_F_DUMP_INTR): state changed while reading");
		return -EAGAIN;
	}
}
