/*
 * The one netlink dump loop of the dataplane collectors (nf_tables via
 * libnftnl-built requests, IPVS generic netlink). Read-only: callers only
 * send dump/get requests. Discipline as in iproute2: the receive buffer is
 * sized with a MSG_PEEK|MSG_TRUNC probe, EINTR is retried, replies are
 * matched on sequence number and port id, NLMSG_ERROR carries extack text
 * into the error string, and a dump interrupted by NLM_F_DUMP_INTR is
 * restarted (after the caller's reset) at most three times.
 * Must not: keep replies beyond the callback, print.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "collectors/dp_internal.h"

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

struct kt_nl {
	bool sized;
	int fd;
	uint32_t portid;
	uint32_t seq;
	char *buf;
	size_t cap;
};

struct kt_nl *kt_nl_open(int protocol, char *err, size_t errlen)
{
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
	nl->portid = sa.nl_pid;
	nl->seq = (uint32_t)getpid() << 8;
	nl->cap = 64 * 1024;
	nl->buf = malloc(nl->cap);
	if (!nl->buf)
		abort();
	return nl;
}

static void grow(struct kt_nl *nl, size_t need)
{
	size_t nc = need + 4096;
	char *nb = realloc(nl->buf, nc);
	if (!nb)
		abort();
	nl->buf = nb;
	nl->cap = nc;
}

void kt_nl_close(struct kt_nl *nl)
{
	if (!nl)
		return;
	close(nl->fd);
	free(nl->buf);
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

int kt_nl_dump(struct kt_nl *nl, void *req, size_t len, int (*cb)(const void *nlh, void *ctx),
	       void (*reset)(void *ctx), void *ctx, char *err, size_t errlen)
{
	struct nlmsghdr *rq = req;
	for (int attempt = 0; attempt < 4; attempt++) {
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
		bool done = false, intr = false;
		int rc = 0;
		bool regrow = false;
		while (!done) {
			ssize_t n;
			if (!nl->sized) {
				/* size the buffer once per socket with a peek; afterwards
				 * MSG_TRUNC reports any datagram that did not fit, and the
				 * dump is restarted with a buffer that does */
				do
					n = recv(nl->fd, nl->buf, nl->cap, MSG_PEEK | MSG_TRUNC);
				while (n < 0 && errno == EINTR);
				if (n < 0) {
					snprintf(err, errlen, "netlink recv: %s", strerror(errno));
					return -errno;
				}
				if ((size_t)n > nl->cap)
					grow(nl, (size_t)n);
				nl->sized = true;
			}
			do
				n = recv(nl->fd, nl->buf, nl->cap, MSG_TRUNC);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				snprintf(err, errlen, "netlink recv: %s", strerror(errno));
				return -errno;
			}
			if ((size_t)n > nl->cap) {
				grow(nl, (size_t)n);
				regrow = true;
				/* drain the rest of this dump, then restart it */
				intr = true;
				continue;
			}
			if (regrow) {
				/* skip messages of the broken dump until DONE */
				size_t l2 = (size_t)n;
				for (struct nlmsghdr *h = (void *)nl->buf; NLMSG_OK(h, l2); h = NLMSG_NEXT(h, l2))
					if (h->nlmsg_seq == rq->nlmsg_seq &&
					    (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR))
						done = true;
				continue;
			}
			size_t left = (size_t)n;
			for (struct nlmsghdr *h = (void *)nl->buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
				if (h->nlmsg_seq != rq->nlmsg_seq || (h->nlmsg_pid && h->nlmsg_pid != nl->portid))
					continue; /* stale reply of an earlier request */
				if (h->nlmsg_flags & NLM_F_DUMP_INTR)
					intr = true;
				if (h->nlmsg_type == NLMSG_DONE) {
					done = true;
					break;
				}
				if (h->nlmsg_type == NLMSG_ERROR) {
					if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
						snprintf(err, errlen, "truncated netlink error");
						return -EPROTO;
					}
					const struct nlmsgerr *e = NLMSG_DATA(h);
					if (e->error == 0) {
						done = true;
						break;
					}
					extack(h, err, errlen, -e->error);
					return e->error;
				}
				if (rc == 0 && cb(h, ctx) < 0)
					rc = -ECANCELED;
				if (!(h->nlmsg_flags & NLM_F_MULTI) && !(rq->nlmsg_flags & NLM_F_DUMP)) {
					done = true;
					break;
				}
			}
		}
		if (rc < 0) {
			snprintf(err, errlen, "dump aborted by the reader");
			return rc;
		}
		if (!intr)
			return 0;
		if (!reset || attempt == 3) {
			snprintf(err, errlen, regrow ? "netlink message larger than the receive buffer" :
						 "dump interrupted (NLM_F_DUMP_INTR): state changed while reading");
			return -EINTR;
		}
		if (reset)
			reset(ctx);
	}
	return 0;
}
