/* Unit tests for the netlink layer (collectors/netlink): libnl's receive
 * processing over fed buffers (multipart, NLMSG_DONE, NLMSG_ERROR with
 * extack text, NLM_F_DUMP_INTR, truncated and garbage buffers), replayed
 * requests answered from recordings, and a live rtnetlink dump (no
 * privilege needed) recorded and then replayed message for message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include "collectors/netlink/nl.h"
#include "harness.h"

struct buf {
	char b[8192];
	size_t n;
};

static struct nlmsghdr *put(struct buf *b, uint16_t type, uint16_t flags, const void *data, size_t len)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(b->b + b->n);
	memset(h, 0, NLMSG_SPACE(len));
	h->nlmsg_len = (uint32_t)NLMSG_LENGTH(len);
	h->nlmsg_type = type;
	h->nlmsg_flags = flags;
	if (len)
		memcpy(NLMSG_DATA(h), data, len);
	b->n += NLMSG_SPACE(len);
	return h;
}

/* An NLMSG_ERROR carrying err, the echoed request header (capped) and an
 * extack message. */
static void put_error(struct buf *b, int err, const char *text)
{
	char body[256];
	memset(body, 0, sizeof(body));
	struct nlmsgerr e = {.error = err};
	e.msg.nlmsg_len = NLMSG_HDRLEN;
	memcpy(body, &e, sizeof(e));
	size_t off = sizeof(e);
	struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + strlen(text) + 1), .nla_type = 1};
	memcpy(body + off, &a, sizeof(a));
	memcpy(body + off + NLA_HDRLEN, text, strlen(text) + 1);
	off += NLA_ALIGN(a.nla_len);
	put(b, NLMSG_ERROR, 0x100 | 0x200 /* NLM_F_CAPPED | NLM_F_ACK_TLVS */, body, off);
}

struct count {
	unsigned n;
	uint16_t types[64];
	int stop_after;
};

static int counter(struct nl_msg *msg, void *ctx)
{
	struct count *c = ctx;
	if (c->n < 64)
		c->types[c->n] = nlmsg_hdr(msg)->nlmsg_type;
	c->n++;
	return c->stop_after && (int)c->n >= c->stop_after ? -1 : 0;
}

static void test_feed(void)
{
	struct buf b = {.n = 0};
	uint32_t v = 7;
	for (int i = 0; i < 3; i++)
		put(&b, 0x100 + i, NLM_F_MULTI, &v, sizeof(v));
	put(&b, NLMSG_DONE, NLM_F_MULTI, &(int){0}, sizeof(int));
	put(&b, 0x200, NLM_F_MULTI, &v, sizeof(v)); /* a second dump's message */
	struct count c = {0};
	uint64_t n = 0;
	T_CHECK_INT(kt_nl_feed(NETLINK_NETFILTER, b.b, b.n, counter, &c, &n), 0, "feed: multipart buffer");
	T_CHECK_INT(c.n, 4, "feed: every data message delivered, past NLMSG_DONE");
	T_CHECK(c.types[0] == 0x100 && c.types[2] == 0x102 && c.types[3] == 0x200, "feed: in order");
	T_CHECK_INT(n, 4, "feed: message count");

	/* the reader stops: -ECANCELED, nothing more delivered */
	struct count c2 = {.stop_after = 2};
	T_CHECK_INT(kt_nl_feed(NETLINK_NETFILTER, b.b, b.n, counter, &c2, NULL), -ECANCELED, "feed: reader stops");
	T_CHECK_INT(c2.n, 2, "feed: nothing after the stop");

	/* garbage after the messages, a length beyond the buffer, a cut */
	struct buf g = b;
	memset(g.b + g.n, 0xab, 40);
	g.n += 40;
	struct count c3 = {0};
	T_CHECK_INT(kt_nl_feed(NETLINK_NETFILTER, g.b, g.n, counter, &c3, NULL), -EPROTO, "feed: trailing garbage is malformed");
	T_CHECK_INT(c3.n, 4, "feed: messages before the garbage delivered");
	struct count c4 = {0};
	T_CHECK_INT(kt_nl_feed(NETLINK_NETFILTER, b.b, b.n - 3, counter, &c4, NULL), -EPROTO, "feed: cut message is malformed");
	struct count c5 = {0};
	T_CHECK_INT(kt_nl_feed(NETLINK_NETFILTER, b.b, 0, counter, &c5, NULL), 0, "feed: empty buffer");
	for (size_t cut = 0; cut < b.n; cut += 3) {
		struct count cx = {0};
		kt_nl_feed(NETLINK_NETFILTER, b.b, cut, counter, &cx, NULL);
	}
	T_CHECK(1, "feed: every cut survives");

	/* an error message stops delivery with its code; a truncated one is malformed */
	struct buf e = {.n = 0};
	put(&e, 0x100, NLM_F_MULTI, &v, sizeof(v));
	put_error(&e, -EPERM, "not allowed here");
	put(&e, 0x101, NLM_F_MULTI, &v, sizeof(v));
	struct count c6 = {0};
	T_CHECK_INT(kt_nl_feed(NETLINK_NETFILTER, e.b, e.n, counter, &c6, NULL), -EPERM, "feed: NLMSG_ERROR code");
	T_CHECK_INT(c6.n, 1, "feed: delivery stops at the error");
	struct buf t = {.n = 0};
	put(&t, NLMSG_ERROR, 0, &v, sizeof(v));
	T_CHECK_INT(kt_nl_feed(NETLINK_NETFILTER, t.b, t.n, counter, &c6, NULL), -EPROTO, "feed: truncated NLMSG_ERROR");
}

/* A recording in dir answering req. */
static void record(const char *dir, int proto, struct nl_msg *req, const struct buf *b)
{
	char path[512];
	struct nlmsghdr *h = nlmsg_hdr(req);
	h->nlmsg_flags |= NLM_F_REQUEST;
	kt_nl_rec_name(path, sizeof(path), dir, proto, h, h->nlmsg_len);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(b->b, 1, b->n, f);
		fclose(f);
	}
}

static struct nl_msg *link_dump(void)
{
	struct nl_msg *m = nlmsg_alloc_simple(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP);
	struct ifinfomsg ifi = {0};
	nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO);
	return m;
}

static void test_replay(void)
{
	char dir[] = "/tmp/kt-nltest-XXXXXX";
	if (!mkdtemp(dir)) {
		T_SKIP("replay", "mkdtemp failed");
		return;
	}
	setenv("KTRACE_NL_REPLAY", dir, 1);
	char err[256];
	struct kt_nl *nl = kt_nl_open(NETLINK_ROUTE, NULL, err, sizeof(err));
	T_CHECK(nl && kt_nl_is_replay(nl), "replay: no socket needed");
	struct nl_msg *req = link_dump();
	struct count c = {0};
	T_CHECK_INT(kt_nl_request(nl, req, counter, NULL, &c, err, sizeof(err)), -ENOENT, "replay: missing recording");
	T_CHECK(strstr(err, "no recording") != NULL, "replay: says so");

	/* a dump with NLM_F_DUMP_INTR on one message */
	struct buf b = {.n = 0};
	uint32_t v = 1;
	put(&b, RTM_NEWLINK, NLM_F_MULTI, &v, sizeof(v));
	put(&b, RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, &v, sizeof(v));
	put(&b, NLMSG_DONE, NLM_F_MULTI, &(int){0}, sizeof(int));
	record(dir, NETLINK_ROUTE, req, &b);
	struct count c1 = {0};
	T_CHECK_INT(kt_nl_request(nl, req, counter, NULL, &c1, err, sizeof(err)), KT_NL_INTR, "replay: DUMP_INTR reported");
	T_CHECK_INT(c1.n, 2, "replay: interrupted dump still delivered");

	/* an error with extack text */
	struct buf e = {.n = 0};
	put_error(&e, -EOPNOTSUPP, "family not supported here");
	record(dir, NETLINK_ROUTE, req, &e);
	struct count c2 = {0};
	T_CHECK_INT(kt_nl_request(nl, req, counter, NULL, &c2, err, sizeof(err)), -EOPNOTSUPP, "replay: NLMSG_ERROR code");
	T_CHECK(strstr(err, "family not supported here") != NULL, "replay: extack text in the error");
	T_CHECK_INT(c2.n, 0, "replay: nothing delivered");

	/* a recording that ends before NLMSG_DONE */
	struct buf cut = {.n = 0};
	put(&cut, RTM_NEWLINK, NLM_F_MULTI, &v, sizeof(v));
	record(dir, NETLINK_ROUTE, req, &cut);
	struct count c3 = {0};
	T_CHECK_INT(kt_nl_request(nl, req, counter, NULL, &c3, err, sizeof(err)), -EPROTO, "replay: cut recording");
	T_CHECK(strstr(err, "ends before") != NULL, "replay: says where");
	nlmsg_free(req);
	kt_nl_close(nl);

	/* side inputs */
	T_CHECK(kt_nl_rec_get("absent.txt", 64, NULL) == NULL, "replay: absent side input");
	unsetenv("KTRACE_NL_REPLAY");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	T_CHECK(system(cmd) == 0, "replay: cleanup");
}

/* A live RTM_GETLINK dump (no privilege needed) recorded, then replayed:
 * the same messages, byte for byte. */
struct keep {
	struct buf b;
};

static int keep(struct nl_msg *msg, void *ctx)
{
	struct keep *k = ctx;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	if (k->b.n + NLMSG_ALIGN(h->nlmsg_len) <= sizeof(k->b.b)) {
		memcpy(k->b.b + k->b.n, NLMSG_DATA(h), h->nlmsg_len - NLMSG_HDRLEN);
		k->b.n += NLMSG_ALIGN(h->nlmsg_len);
	}
	return 0;
}

static void test_record_replay(void)
{
	char dir[] = "/tmp/kt-nlrec-XXXXXX";
	if (!mkdtemp(dir)) {
		T_SKIP("record", "mkdtemp failed");
		return;
	}
	setenv("KTRACE_NL_RECORD", dir, 1);
	char err[256];
	struct kt_nl *nl = kt_nl_open(NETLINK_ROUTE, NULL, err, sizeof(err));
	if (!nl) {
		T_SKIP("record", err);
		unsetenv("KTRACE_NL_RECORD");
		return;
	}
	struct nl_msg *req = link_dump();
	struct keep *live = calloc(1, sizeof(*live)), *back = calloc(1, sizeof(*back));
	int rc = kt_nl_request(nl, req, keep, NULL, live, err, sizeof(err));
	T_CHECK_INT(rc, 0, "record: live link dump");
	T_CHECK(live->b.n > 0, "record: the loopback link at least");
	/* a second request on the same socket: sequence numbers move on */
	struct keep *again = calloc(1, sizeof(*again));
	T_CHECK_INT(kt_nl_request(nl, req, keep, NULL, again, err, sizeof(err)), 0, "record: second dump, same socket");
	kt_nl_close(nl);
	unsetenv("KTRACE_NL_RECORD");
	setenv("KTRACE_NL_REPLAY", dir, 1);
	nl = kt_nl_open(NETLINK_ROUTE, NULL, err, sizeof(err));
	rc = nl ? kt_nl_request(nl, req, keep, NULL, back, err, sizeof(err)) : -1;
	T_CHECK_INT(rc, 0, "replay: recorded dump");
	T_CHECK(back->b.n == again->b.n && memcmp(back->b.b, again->b.b, back->b.n) == 0,
		"replay: the same messages as the recorded run");
	kt_nl_close(nl);
	unsetenv("KTRACE_NL_REPLAY");
	nlmsg_free(req);
	free(live);
	free(back);
	free(again);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	T_CHECK(system(cmd) == 0, "record: cleanup");
}

/* A restarted dump: receive buffers smaller than the first datagram make
 * the layer drop the dump, open a new socket with buffers that fit, call
 * the caller's reset and dump again (the path NLM_F_DUMP_INTR takes too). */
static int resets;
static void on_reset(void *ctx)
{
	struct count *c = ctx;
	c->n = 0;
	resets++;
}

static void test_restart(void)
{
	char err[256];
	struct kt_nl *nl = kt_nl_open(NETLINK_ROUTE, NULL, err, sizeof(err));
	if (!nl) {
		T_SKIP("restart", err);
		return;
	}
	struct nl_msg *req = link_dump();
	struct count want = {0};
	T_CHECK_INT(kt_nl_request(nl, req, counter, NULL, &want, err, sizeof(err)), 0, "restart: plain link dump");
	kt_nl_close(nl);
	struct kt_nl_opts o = {.msg_buf = 64}; /* smaller than any link message */
	nl = kt_nl_open(NETLINK_ROUTE, &o, err, sizeof(err));
	struct count got = {0};
	resets = 0;
	int rc = nl ? kt_nl_request(nl, req, counter, on_reset, &got, err, sizeof(err)) : -1;
	T_CHECK_INT(rc, 0, "restart: dump completes after growing the buffers");
	T_CHECK(resets >= 1, "restart: the caller's reset ran before the new attempt");
	T_CHECK_INT(got.n, want.n, "restart: every message exactly once");
	kt_nl_close(nl);
	/* without reset there is no restart: the error says why */
	nl = kt_nl_open(NETLINK_ROUTE, &o, err, sizeof(err));
	struct count none = {0};
	rc = nl ? kt_nl_request(nl, req, counter, NULL, &none, err, sizeof(err)) : 0;
	T_CHECK_INT(rc, -EMSGSIZE, "restart: no reset, no restart");
	T_CHECK(strstr(err, "larger than the receive buffer") != NULL, "restart: says so");
	kt_nl_close(nl);
	nlmsg_free(req);
}

static void run(void)
{
	test_feed();
	test_replay();
	test_record_replay();
	test_restart();
}

T_MAIN("test_netlink")
