/*
 * Netfilter conntrack collector: one ctnetlink dump (IPCTNL_MSG_CT_GET,
 * NLM_F_DUMP, AF_UNSPEC = IPv4 and IPv6, every zone) streamed straight
 * into per-(original destination, reply source) aggregates; only entries
 * whose destination was translated (ORIG dst != REPLY src: Service DNAT,
 * IPVS) are kept. Records counters (when nf_conntrack_acct is on), TCP
 * state, ages (when nf_conntrack_timestamp is on) and one fingerprint per
 * entry. Read-only (dump requests only); never prints.
 *
 * Record / replay (as ss does with TCPDIAG_FILE): KTRACE_CT_RECORD=FILE
 * appends the raw dump buffers to FILE; KTRACE_CT_FILE=FILE parses such a
 * recording instead of asking the kernel (no root needed). The fuzz target
 * calls kt_conntrack_parse() on arbitrary bytes. The dump is received on
 * the calling thread and, when a CPU is idle, parsed on a second one
 * (KTRACE_CT_THREADS=0/1 forces one/two threads), see pipe_run().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <pthread.h>
#include <sched.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collectors/flow_agg.h"
#include "ktrace/fileio.h"

#define CT_TCP_ESTABLISHED 3
#define CT_IPS_ASSURED 0x4
#define CT_IPS_DYING 0x200
#define CT_IPS_DST_NAT 0x20
#define CT_MAX_FILE (256u << 20)   /* replay file cap */
#define CT_DUMP_RETRIES 3

struct ct_tuple {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;     /* host order */
	uint8_t proto;
	bool has_ip, has_proto;
	uint16_t zone;
};

struct ct_ctx {
	struct kt_fagg g;
	int64_t now_ns;            /* realtime */
	uint64_t seen;
	bool saw_counters;
	bool saw_ts;
	bool dump_intr;
	bool done;
	int err;                   /* NLMSG_ERROR errno (positive) */
	char extack[256];
};

/* Attribute walking, inline (this loop runs for every attribute of every
 * entry of a 100k-entry dump): each attribute is bounded by what is left
 * of its parent before it is read. */
static inline uint16_t at_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

static inline const void *at_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static inline int at_len(const struct nlattr *a)
{
	return (int)a->nla_len - NLA_HDRLEN;
}

static inline bool at_ok(const struct nlattr *a, int rem)
{
	return rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && (int)a->nla_len <= rem;
}

#define FOR_ATTRS(pos, rem, start, len)                                              \
	for (pos = (const struct nlattr *)(start), rem = (int)(len); at_ok(pos, rem); \
	     rem -= NLA_ALIGN(pos->nla_len), pos = (const struct nlattr *)((const char *)pos + NLA_ALIGN(pos->nla_len)))
#define FOR_NESTED(pos, rem, nest) FOR_ATTRS(pos, rem, at_data(nest), at_len(nest))

static inline uint8_t at_u8(const struct nlattr *a)
{
	return *(const uint8_t *)at_data(a);
}

static inline bool attr_ok_len(const struct nlattr *a, int n)
{
	return at_len(a) >= n;
}

static uint16_t be16_at(const struct nlattr *a)
{
	uint16_t v;
	memcpy(&v, at_data(a), 2);
	return ntohs(v);
}

static uint32_t be32_at(const struct nlattr *a)
{
	uint32_t v;
	memcpy(&v, at_data(a), 4);
	return ntohl(v);
}

static uint64_t be64_at(const struct nlattr *a)
{
	const uint8_t *p = at_data(a);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void parse_tuple(const struct nlattr *nest, struct ct_tuple *t)
{
	const struct nlattr *a, *b;
	int ra, rb;
	FOR_NESTED(a, ra, nest) {
		switch (at_type(a)) {
		case CTA_TUPLE_IP:
			FOR_NESTED(b, rb, a) {
				switch (at_type(b)) {
				case CTA_IP_V4_SRC:
					if (attr_ok_len(b, 4)) {
						memcpy(t->src, at_data(b), 4);
						t->has_ip = true;
					}
					break;
				case CTA_IP_V4_DST:
					if (attr_ok_len(b, 4))
						memcpy(t->dst, at_data(b), 4);
					break;
				case CTA_IP_V6_SRC:
					if (attr_ok_len(b, 16)) {
						memcpy(t->src, at_data(b), 16);
						t->has_ip = true;
					}
					break;
				case CTA_IP_V6_DST:
					if (attr_ok_len(b, 16))
						memcpy(t->dst, at_data(b), 16);
					break;
				}
			}
			break;
		case CTA_TUPLE_PROTO:
			FOR_NESTED(b, rb, a) {
				switch (at_type(b)) {
				case CTA_PROTO_NUM:
					if (attr_ok_len(b, 1)) {
						t->proto = at_u8(b);
						t->has_proto = true;
					}
					break;
				case CTA_PROTO_SRC_PORT:
					if (attr_ok_len(b, 2))
						t->sport = be16_at(b);
					break;
				case CTA_PROTO_DST_PORT:
					if (attr_ok_len(b, 2))
						t->dport = be16_at(b);
					break;
				}
			}
			break;
		case CTA_TUPLE_ZONE:
			if (attr_ok_len(a, 2))
				t->zone = be16_at(a);
			break;
		}
	}
}

static void parse_counters(const struct nlattr *nest, uint64_t *pk, uint64_t *by)
{
	const struct nlattr *a;
	int ra;
	FOR_NESTED(a, ra, nest) {
		switch (at_type(a)) {
		case CTA_COUNTERS_PACKETS:
			if (attr_ok_len(a, 8))
				*pk = be64_at(a);
			break;
		case CTA_COUNTERS_BYTES:
			if (attr_ok_len(a, 8))
				*by = be64_at(a);
			break;
		case CTA_COUNTERS32_PACKETS:
			if (attr_ok_len(a, 4))
				*pk = be32_at(a);
			break;
		case CTA_COUNTERS32_BYTES:
			if (attr_ok_len(a, 4))
				*by = be32_at(a);
			break;
		}
	}
}

/* One CT_NEW message (one conntrack entry). */
static void parse_entry(struct ct_ctx *c, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg))
		return;
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	uint8_t family = nfg->nfgen_family;
	struct ct_tuple o = {0}, r = {0};
	uint32_t status = 0;
	int tcp_state = -1;
	uint64_t po = 0, bo = 0, pr = 0, br = 0;
	bool counters = false;
	uint64_t start_ns = 0;
	uint16_t zone = 0;
	const struct nlattr *a, *b, *cc;
	int ra, rb, rc;

	c->seen++;
	FOR_ATTRS(a, ra, (const char *)nlh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)),
		  (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)NLMSG_ALIGN(sizeof(struct nfgenmsg))) {
		switch (at_type(a)) {
		case CTA_TUPLE_ORIG:
			parse_tuple(a, &o);
			break;
		case CTA_TUPLE_REPLY:
			parse_tuple(a, &r);
			break;
		case CTA_STATUS:
			if (attr_ok_len(a, 4))
				status = be32_at(a);
			break;
		case CTA_PROTOINFO:
			FOR_NESTED(b, rb, a) {
				if (at_type(b) != CTA_PROTOINFO_TCP)
					continue;
				FOR_NESTED(cc, rc, b) {
					if (at_type(cc) == CTA_PROTOINFO_TCP_STATE && attr_ok_len(cc, 1))
						tcp_state = at_u8(cc);
				}
			}
			break;
		case CTA_COUNTERS_ORIG:
			parse_counters(a, &po, &bo);
			counters = true;
			break;
		case CTA_COUNTERS_REPLY:
			parse_counters(a, &pr, &br);
			counters = true;
			break;
		case CTA_ZONE:
			if (attr_ok_len(a, 2))
				zone = be16_at(a);
			break;
		case CTA_TIMESTAMP:
			FOR_NESTED(b, rb, a) {
				if (at_type(b) == CTA_TIMESTAMP_START && attr_ok_len(b, 8))
					start_ns = be64_at(b);
			}
			break;
		}
	}
	if (!o.has_ip || !r.has_ip || !o.has_proto)
		return;
	const char *pn = kt_proto_name(o.proto);
	if (!pn)
		return;
	size_t alen = family == AF_INET6 ? 16 : 4;
	if (family != AF_INET && family != AF_INET6)
		return;
	/* not destination-translated: not a Service flow */
	if (memcmp(o.dst, r.src, alen) == 0 && o.dport == r.sport)
		return;
	if (counters)
		c->saw_counters = true;
	if (start_ns)
		c->saw_ts = true;

	struct kt_fagg_key k;
	memset(&k, 0, sizeof(k));
	k.src = KT_FLOW_CONNTRACK;
	k.family = family;
	k.proto = o.proto;
	k.zone = zone ? zone : o.zone;
	k.vport = o.dport;
	k.bport = r.sport;
	memcpy(k.vip, o.dst, alen);
	memcpy(k.bip, r.src, alen);
	struct kt_fagg_slot *s = kt_fagg_get(&c->g, &k);
	if (!s)
		return;
	bool est;
	if (o.proto == 6)
		est = tcp_state == CT_TCP_ESTABLISHED && !(status & CT_IPS_DYING);
	else
		est = (status & CT_IPS_ASSURED) && !(status & CT_IPS_DYING);
	s->total++;
	s->bytes_orig += bo;
	s->bytes_reply += br;
	s->packets += po + pr;
	if (start_ns && c->now_ns) {
		uint64_t now = (uint64_t)c->now_ns;
		int64_t age_s = start_ns >= now ? 0 : (int64_t)((now - start_ns) / 1000000000ULL);
		if (est) {
			if (age_s >= 60)
				s->older_1m++;
			if (age_s >= 600)
				s->older_10m++;
			if (age_s >= 3600)
				s->older_1h++;
		}
		if (age_s < KT_FLOW_RECENT_S)
			s->recent++;
	}
	if (est)
		s->established++;
	uint64_t fp = KT_FNV_INIT;
	fp = kt_fnv1a(fp, o.src, alen);
	fp = kt_fnv1a(fp, o.dst, alen);
	fp = kt_fnv1a(fp, &o.sport, 2);
	fp = kt_fnv1a(fp, &o.dport, 2);
	fp = kt_fnv1a(fp, &o.proto, 1);
	fp = kt_fnv1a(fp, &k.zone, 2);
	kt_fagg_add_fp(&c->g, s, fp);
}

bool kt_ct_msg_reply_src(const struct nlmsghdr *nlh, uint8_t ip[16], uint16_t *port)
{
	if (nlh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)))
		return false;
	const struct nlattr *a;
	int ra;
	FOR_ATTRS(a, ra, (const char *)nlh + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)),
		  (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)NLMSG_ALIGN(sizeof(struct nfgenmsg))) {
		if (at_type(a) != CTA_TUPLE_REPLY)
			continue;
		struct ct_tuple r;
		memset(&r, 0, sizeof(r));
		parse_tuple(a, &r);
		if (!r.has_ip)
			return false;
		memcpy(ip, r.src, 16);
		*port = r.sport;
		return true;
	}
	return false;
}

/* Walk one buffer of netlink messages. Returns 1 when NLMSG_DONE was seen,
 * 0 to continue, -1 on a malformed buffer or an error message. seq/portid
 * are checked when nonzero. */
static int walk(struct ct_ctx *c, const void *buf, size_t len, uint32_t seq, uint32_t portid)
{
	const struct nlmsghdr *nlh = buf;
	if (len > INT32_MAX)
		return -1;
	int rem = (int)len;
	/* mnl_nlmsg_ok() compares a signed length: an nlmsg_len above
	 * INT_MAX passes it, so check the unsigned bound first */
	while (rem >= (int)NLMSG_HDRLEN && nlh->nlmsg_len <= (uint32_t)rem && mnl_nlmsg_ok(nlh, rem)) {
		if (seq && nlh->nlmsg_seq != seq)
			goto next;
		if (portid && nlh->nlmsg_pid && nlh->nlmsg_pid != portid)
			goto next;
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			c->dump_intr = true;
		if (nlh->nlmsg_type == NLMSG_DONE) {
			c->done = true;
			return 1;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nlmsgerr))
				return -1;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0)
				goto next;
			c->err = e->error < 0 && e->error > -4096 ? -e->error : EPROTO;
			/* extack message (NLMSGERR_ATTR_MSG = 1) after the echoed header */
			if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
				size_t off = sizeof(*e);
				if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len > NLMSG_HDRLEN ? e->msg.nlmsg_len - NLMSG_HDRLEN : 0;
				const struct nlattr *at;
				int rat;
				off = NLMSG_ALIGN(off);
				if (off > nlh->nlmsg_len - NLMSG_HDRLEN)
					return -1;
				/* bounded by nlmsg_len itself: the last message of a
				 * buffer may be unpadded */
				FOR_ATTRS(at, rat, (const char *)nlh + NLMSG_HDRLEN + off,
					  (int)(nlh->nlmsg_len - NLMSG_HDRLEN - off)) {
					if (at_type(at) == 1 && at_len(at) > 0) {
						size_t n = (size_t)at_len(at);
						if (n >= sizeof(c->extack))
							n = sizeof(c->extack) - 1;
						memcpy(c->extack, at_data(at), n);
						c->extack[n] = 0;
					}
				}
			}
			return -1;
		}
		if ((nlh->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK &&
		    (nlh->nlmsg_type & 0xff) == IPCTNL_MSG_CT_NEW)
			parse_entry(c, nlh);
next:
		nlh = mnl_nlmsg_next(nlh, &rem);
	}
	return rem == 0 ? 0 : (rem < (int)NLMSG_HDRLEN ? 0 : -1);
}

static int64_t now_real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int read_sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int v = -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void finish(struct ct_ctx *c, struct kt_snapshot *snap, struct kt_flow_sample *fs)
{
	fs->entries_seen += c->seen;
	if (c->saw_counters)
		fs->acct = true;
	if (c->saw_ts)
		fs->timestamps = true;
	if (c->g.dropped) {
		fs->capped = true;
		kt_snapshot_gap(snap, "conntrack aggregates",
				"more than %u (frontend, backend) pairs: %llu entries not counted", c->g.max,
				(unsigned long long)c->g.dropped);
	}
	kt_fagg_emit(&c->g, snap, fs);
	kt_sample_add_source(snap, fs, "conntrack");
}

int kt_conntrack_parse(struct kt_snapshot *snap, struct kt_flow_sample *fs, const void *buf,
		       size_t len, struct kt_diag *d)
{
	struct ct_ctx c;
	memset(&c, 0, sizeof(c));
	kt_fagg_init(&c.g, 65536, true);
	c.now_ns = fs->taken_ms ? fs->taken_ms * 1000000LL : now_real_ns();
	int rc = walk(&c, buf, len, 0, 0);
	finish(&c, snap, fs);
	kt_fagg_release(&c.g);
	if (rc < 0 && !c.err)
		return kt_diag_set(d, KT_EXIT_INPUT, "conntrack dump: malformed netlink message after %llu entries",
				   (unsigned long long)c.seen);
	return 0;
}

static int replay(struct kt_snapshot *snap, struct kt_flow_sample *fs, const char *path,
		  struct kt_diag *d)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return kt_diag_set(d, KT_EXIT_NOTFOUND, "cannot open conntrack recording %s: %s", path,
				   strerror(errno));
	char *buf;
	size_t n;
	int big = kt_read_stream(f, 1 << 20, CT_MAX_FILE, &buf, &n);
	fclose(f);
	if (big) {
		free(buf);
		return kt_diag_set(d, KT_EXIT_INPUT, "%s: conntrack recording larger than %u MiB", path,
				   CT_MAX_FILE >> 20);
	}
	int rc = kt_conntrack_parse(snap, fs, buf, n, d);
	free(buf);
	if (rc < 0)
		kt_diag_hint(d, "the file must hold raw ctnetlink dump buffers as written by KTRACE_CT_RECORD");
	fs->acct = fs->acct || read_sysctl("/proc/sys/net/netfilter/nf_conntrack_acct") == 1;
	return rc;
}

/* The dump is synchronous: each recv() makes the kernel format the next
 * buffer of entries (ctnetlink_dump_table, most of a refresh's cost) in
 * the caller's context. So one thread only receives and a second parses
 * the previous buffers: with a spare CPU the parse (10-20% of a refresh)
 * overlaps the kernel's work. A small ring of buffers between them. */
#define CT_RING 8

struct ct_pipe {
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	char *buf[CT_RING];
	size_t len[CT_RING];
	unsigned head, tail;       /* filled / parsed counts */
	bool eof, stop;
	int wres;                  /* walk(): 0 more, 1 done, -1 error */
	struct ct_ctx *c;
	uint32_t seq, portid;
};

static void *pipe_parse(void *arg)
{
	struct ct_pipe *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->head == p->tail && !p->eof)
			pthread_cond_wait(&p->more, &p->mu);
		if (p->head == p->tail)
			break;
		unsigned slot = p->tail % CT_RING;
		pthread_mutex_unlock(&p->mu);
		int w = walk(p->c, p->buf[slot], p->len[slot], p->seq, p->portid);
		pthread_mutex_lock(&p->mu);
		p->tail++;
		pthread_cond_signal(&p->room);
		if (w != 0) {
			p->wres = w;
			p->stop = true;
			break;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* A parse thread only pays when a CPU is idle: on a saturated node the
 * hand-offs cost more than the overlap wins (measured: 0.41 s threaded vs
 * 0.32 s inline for 100k entries at load 5 on 2 CPUs). Runnable tasks
 * (ours included) from /proc/loadavg against the CPUs we may use.
 * KTRACE_CT_THREADS=0 / =1 forces it off / on. */
static bool want_thread(void)
{
	const char *e = getenv("KTRACE_CT_THREADS");
	if (e && *e)
		return strcmp(e, "0") != 0;
	cpu_set_t set;
	int ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
	if (ncpu < 2)
		return false;
	FILE *f = fopen("/proc/loadavg", "r");
	if (!f)
		return false;
	double l1, l5, l15;
	int running = 0, total = 0;
	int n = fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total);
	fclose(f);
	return n == 5 && running < ncpu;
}

/* Does this buffer end the dump (NLMSG_DONE or an error for our seq)? */
static bool ends_dump(const char *buf, size_t len, uint32_t seq)
{
	const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
	int rem = len > INT32_MAX ? 0 : (int)len;
	for (; rem >= (int)NLMSG_HDRLEN && h->nlmsg_len <= (uint32_t)rem && mnl_nlmsg_ok(h, rem);
	     h = mnl_nlmsg_next(h, &rem))
		if (h->nlmsg_seq == seq && (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR))
			return true;
	return false;
}

/* Receive the dump into the ring while pipe_parse() walks it (inline
 * when no thread can be started). Returns the walk result (1 done, 0
 * ended without DONE, -1 error: *ret/d set for socket errors); *ret = 1
 * asks for a new dump (overrun or a truncated read). */
static int pipe_run(struct ct_ctx *c, int fd, size_t cap, uint32_t seq, uint32_t portid, FILE *rec,
		    int *ret, struct kt_diag *d)
{
	struct ct_pipe p;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.more, NULL);
	pthread_cond_init(&p.room, NULL);
	p.c = c;
	p.seq = seq;
	p.portid = portid;
	for (int i = 0; i < CT_RING; i++) {
		p.buf[i] = malloc(cap);
		if (!p.buf[i])
			abort();
	}
	pthread_t th;
	bool threaded = want_thread() && pthread_create(&th, NULL, pipe_parse, &p) == 0;
	for (;;) {
		pthread_mutex_lock(&p.mu);
		while (p.head - p.tail == CT_RING && !p.stop)
			pthread_cond_wait(&p.room, &p.mu);
		bool stop = p.stop;
		unsigned slot = p.head % CT_RING;
		pthread_mutex_unlock(&p.mu);
		if (stop)
			break;
		ssize_t n = recv(fd, p.buf[slot], cap, MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && (size_t)n > cap) {
			*ret = 1;   /* a message did not fit: dump again */
			break;
		}
		if (n < 0) {
			if (errno == ENOBUFS)
				*ret = 1;   /* overrun: start again */
			else
				*ret = kt_diag_set(d, KT_EXIT_CLUSTER, "conntrack dump: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (rec)
			fwrite(p.buf[slot], 1, (size_t)n, rec);
		bool last = ends_dump(p.buf[slot], (size_t)n, seq);
		pthread_mutex_lock(&p.mu);
		p.len[slot] = (size_t)n;
		p.head++;
		pthread_cond_signal(&p.more);
		pthread_mutex_unlock(&p.mu);
		if (!threaded) {
			int w = walk(c, p.buf[slot], (size_t)n, seq, portid);
			p.tail++;
			if (w != 0) {
				p.wres = w;
				break;
			}
		}
		if (last)
			break;
	}
	pthread_mutex_lock(&p.mu);
	p.eof = true;
	pthread_cond_signal(&p.more);
	pthread_mutex_unlock(&p.mu);
	if (threaded)
		pthread_join(th, NULL);
	for (int i = 0; i < CT_RING; i++)
		free(p.buf[i]);
	pthread_cond_destroy(&p.more);
	pthread_cond_destroy(&p.room);
	pthread_mutex_destroy(&p.mu);
	if (*ret < 0)
		return -1;
	if (p.wres < 0)
		*ret = -1;
	return p.wres;
}

/* One dump attempt. Returns 0, 1 (interrupted: retry), or negative.
 * dnat_only asks the kernel (CTA_STATUS + CTA_STATUS_MASK) for entries
 * with IPS_DST_NAT only: it then skips formatting every other entry,
 * which is most of the dump's cost on a busy node. */
static int dump_once(struct ct_ctx *c, FILE *rec, bool dnat_only, struct kt_diag *d)
{
	int ret = -1;
	char *buf = NULL;
	size_t cap = 65536;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0) {
		ret = kt_diag_set(d, KT_EXIT_CLUSTER, "cannot open a netfilter netlink socket: %s", strerror(errno));
		goto out;
	}
	int one = 1;
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	int rcvbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = kt_diag_set(d, KT_EXIT_CLUSTER, "cannot bind a netfilter netlink socket: %s", strerror(errno));
		goto out;
	}
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	uint32_t portid = sa.nl_pid;

	char req[128];
	memset(req, 0, sizeof(req));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	uint32_t seq = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	if (!seq)
		seq = 1;
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (dnat_only) {
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(CT_IPS_DST_NAT));
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(CT_IPS_DST_NAT));
	}
	struct sockaddr_nl ksa = {.nl_family = AF_NETLINK};
	if (sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&ksa, sizeof(ksa)) < 0) {
		ret = kt_diag_set(d, KT_EXIT_CLUSTER, "cannot send the conntrack dump request: %s", strerror(errno));
		goto out;
	}
	/* size the buffers with one MSG_PEEK|MSG_TRUNC probe: dump messages
	 * do not grow (the kernel caps them at 32 KiB); a later read that
	 * reports truncation restarts the dump */
	for (;;) {
		ssize_t peek = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
		if (peek < 0 && errno == EINTR)
			continue;
		if (peek < 0) {
			ret = kt_diag_set(d, KT_EXIT_CLUSTER, "conntrack dump: %s", strerror(errno));
			goto out;
		}
		if ((size_t)peek > cap)
			cap = (size_t)peek * 2;
		break;
	}
	ret = 0;
	int w = pipe_run(c, fd, cap, seq, portid, rec, &ret, d);
	if (w < 0 && ret < 0 && !d->code) {
		if (c->err) {
			ret = kt_diag_set(d, KT_EXIT_CLUSTER, "conntrack dump refused: %s%s%s", strerror(c->err),
					  c->extack[0] ? ": " : "", c->extack);
			if (c->err == EPERM)
				kt_diag_hint(d, "run as root or with CAP_NET_ADMIN in the node's network namespace");
			else if (c->err == EOPNOTSUPP || c->err == ENOENT)
				kt_diag_hint(d, "load nf_conntrack_netlink (modprobe nf_conntrack_netlink)");
		} else {
			ret = kt_diag_set(d, KT_EXIT_CLUSTER, "conntrack dump: malformed netlink message");
		}
	}
	if (w < 0 || ret == 1)
		goto out;
	ret = c->dump_intr ? 1 : 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}

int kt_conntrack_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs,
			 const struct kt_flow_opts *fo, struct kt_diag *d)
{
	const char *rp = getenv("KTRACE_CT_FILE");
	if (rp && *rp)
		return replay(snap, fs, rp, d);

	int acct = read_sysctl("/proc/sys/net/netfilter/nf_conntrack_acct");
	int tstamp = read_sysctl("/proc/sys/net/netfilter/nf_conntrack_timestamp");
	if (acct < 0 && tstamp < 0 && access("/proc/sys/net/netfilter", F_OK) != 0) {
		kt_snapshot_gap(snap, "conntrack", "nf_conntrack is not loaded in this network namespace");
		return 0;
	}
	const char *recp = getenv("KTRACE_CT_RECORD");
	FILE *rec = recp && *recp ? fopen(recp, "wb") : NULL;
	struct ct_ctx c;
	int rc = 0;
	bool dnat_only = !(fo && fo->all_entries);
	for (int attempt = 0; attempt <= CT_DUMP_RETRIES; attempt++) {
		struct kt_diag td = {0};
		memset(&c, 0, sizeof(c));
		kt_fagg_init(&c.g, fo ? fo->max_agg : 0, !(fo && fo->no_fingerprints));
		c.now_ns = now_real_ns();
		if (rec) {
			rewind(rec);
			if (ftruncate(fileno(rec), 0) != 0)
				kt_log(1, "conntrack: cannot truncate the recording");
		}
		rc = dump_once(&c, rec, dnat_only, &td);
		if (rc < 0 && dnat_only && (c.err == EINVAL || c.err == EOPNOTSUPP)) {
			/* an older kernel without status filtering: filter here */
			kt_log(1, "conntrack: kernel refused the status filter (%s), dumping everything", td.msg);
			dnat_only = false;
			kt_fagg_release(&c.g);
			attempt--;
			continue;
		}
		if (rc < 0) {
			kt_fagg_release(&c.g);
			if (rec)
				fclose(rec);
			if (td.code == KT_EXIT_CLUSTER && c.err == EPERM) {
				kt_snapshot_gap(snap, "conntrack", "%s", td.msg);
				return 0;
			}
			if (d)
				*d = td;
			return rc;
		}
		if (rc == 0 || attempt == CT_DUMP_RETRIES)
			break;
		kt_log(1, "conntrack: dump interrupted by table changes, retrying (%d)", attempt + 1);
		kt_fagg_release(&c.g);
	}
	if (rc == 1)
		kt_snapshot_gap(snap, "conntrack", "the table changed during every dump attempt: counts may be off by the churn");
	if (rec)
		fclose(rec);
	finish(&c, snap, fs);
	kt_fagg_release(&c.g);
	if (acct == 0 && !c.saw_counters)
		kt_snapshot_gap(snap, "conntrack byte counters",
				"net.netfilter.nf_conntrack_acct is 0: enable it with 'sysctl -w net.netfilter.nf_conntrack_acct=1' (counts only connections opened afterwards)");
	else if (acct == 1)
		fs->acct = true;
	if (tstamp == 1)
		fs->timestamps = true;
	else if (!c.saw_ts)
		kt_snapshot_gap(snap, "connection ages",
				"net.netfilter.nf_conntrack_timestamp is 0: enable it with 'sysctl -w net.netfilter.nf_conntrack_timestamp=1' to see connection ages");
	return 0;
}
