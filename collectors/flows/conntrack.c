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

#include "collectors/flows/flow_agg.h"
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

struct ct_entry;
struct ct_ctx {
	struct kt_fagg g;
	struct kt_ct_live *live;   /* event mode: entries go to the live table, not g */
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

/* One decoded Service flow (a destination-translated conntrack entry). */
struct ct_entry {
	struct kt_fagg_key k;
	uint64_t fp;               /* fingerprint of the original tuple + zone, never 0 */
	uint64_t bo, br, pk;       /* counters (0 when acct is off) */
	uint64_t start_ns;         /* CTA_TIMESTAMP start, 0 unknown */
	uint32_t status;
	bool has_status;
	int tcp_state;             /* -1 not in the message */
	bool est;
};

/* Decode one CT_NEW / CT_DELETE message (dump entry or event). False when
 * it is not a destination-translated flow of a known protocol. */
static bool ct_decode(struct ct_ctx *c, const struct nlmsghdr *nlh, struct ct_entry *e)
{
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg))
		return false;
	const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	uint8_t family = nfg->nfgen_family;
	struct ct_tuple o = {0}, r = {0};
	uint32_t status = 0;
	bool has_status = false;
	int tcp_state = -1;
	uint64_t po = 0, bo = 0, pr = 0, br = 0;
	bool counters = false;
	uint64_t start_ns = 0;
	uint16_t zone = 0;
	const struct nlattr *a, *b, *cc;
	int ra, rb, rc;

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
			if (attr_ok_len(a, 4)) {
				status = be32_at(a);
				has_status = true;
			}
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
		return false;
	if (!kt_proto_name(o.proto))
		return false;
	size_t alen = family == AF_INET6 ? 16 : 4;
	if (family != AF_INET && family != AF_INET6)
		return false;
	/* not destination-translated: not a Service flow */
	if (memcmp(o.dst, r.src, alen) == 0 && o.dport == r.sport)
		return false;
	if (counters)
		c->saw_counters = true;
	if (start_ns)
		c->saw_ts = true;
	memset(e, 0, sizeof(*e));
	struct kt_fagg_key *k = &e->k;
	k->src = KT_FLOW_CONNTRACK;
	k->family = family;
	k->proto = o.proto;
	k->zone = zone ? zone : o.zone;
	k->vport = o.dport;
	k->bport = r.sport;
	memcpy(k->vip, o.dst, alen);
	memcpy(k->bip, r.src, alen);
	if (o.proto == 6)
		e->est = tcp_state == CT_TCP_ESTABLISHED && !(status & CT_IPS_DYING);
	else
		e->est = (status & CT_IPS_ASSURED) && !(status & CT_IPS_DYING);
	e->bo = bo;
	e->br = br;
	e->pk = po + pr;
	e->start_ns = start_ns;
	e->status = status;
	e->has_status = has_status;
	e->tcp_state = tcp_state;
	uint64_t fp = KT_FNV_INIT;
	fp = kt_fnv1a(fp, o.src, alen);
	fp = kt_fnv1a(fp, o.dst, alen);
	fp = kt_fnv1a(fp, &o.sport, 2);
	fp = kt_fnv1a(fp, &o.dport, 2);
	fp = kt_fnv1a(fp, &o.proto, 1);
	fp = kt_fnv1a(fp, &k->zone, 2);
	e->fp = fp ? fp : 1;
	return true;
}

static void live_dump_entry(struct kt_ct_live *l, const struct ct_entry *e);
static void live_emit(struct kt_ct_live *l, struct ct_ctx *c, bool ages);
static void finish(struct ct_ctx *c, struct kt_snapshot *snap, struct kt_flow_sample *fs);

/* Fold one entry's age into an aggregate's buckets. */
static void add_age(uint32_t *o1m, uint32_t *o10m, uint32_t *o1h, uint32_t *recent, bool est, int64_t age_s)
{
	if (est) {
		if (age_s >= 60)
			(*o1m)++;
		if (age_s >= 600)
			(*o10m)++;
		if (age_s >= 3600)
			(*o1h)++;
	}
	if (age_s < KT_FLOW_RECENT_S)
		(*recent)++;
}

/* One CT_NEW message of a dump (one conntrack entry). */
static void parse_entry(struct ct_ctx *c, const struct nlmsghdr *nlh)
{
	struct ct_entry e;
	c->seen++;
	if (!ct_decode(c, nlh, &e))
		return;
	if (c->live) {
		live_dump_entry(c->live, &e);
		return;
	}
	struct kt_fagg_slot *s = kt_fagg_get(&c->g, &e.k);
	if (!s)
		return;
	s->total++;
	s->bytes_orig += e.bo;
	s->bytes_reply += e.br;
	s->packets += e.pk;
	if (e.start_ns && c->now_ns) {
		uint64_t now = (uint64_t)c->now_ns;
		int64_t age_s = e.start_ns >= now ? 0 : (int64_t)((now - e.start_ns) / 1000000000ULL);
		add_age(&s->older_1m, &s->older_10m, &s->older_1h, &s->recent, e.est, age_s);
	}
	if (e.est)
		s->established++;
	kt_fagg_add_fp(&c->g, s, e.fp);
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

static void sysctl_gaps(struct kt_snapshot *snap, struct kt_flow_sample *fs, int acct, int tstamp, bool saw_counters,
			bool saw_ts);
static int live_collect(struct kt_ct_live *l, struct kt_snapshot *snap, struct kt_flow_sample *fs,
			const struct kt_flow_opts *fo, int acct, int tstamp, struct kt_diag *d);
static void live_gap(const struct kt_ct_live *l, struct kt_snapshot *snap);

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
	if (fo && fo->live && !(recp && *recp)) {
		int lr = live_collect(fo->live, snap, fs, fo, acct, tstamp, d);
		if (lr != 1)
			return lr;
		/* events unavailable: one full dump per sample from now on */
		live_gap(fo->live, snap);
	}
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
	sysctl_gaps(snap, fs, acct, tstamp, c.saw_counters, c.saw_ts);
	return 0;
}

/* What nf_conntrack_acct / nf_conntrack_timestamp mean for this sample. */
static void sysctl_gaps(struct kt_snapshot *snap, struct kt_flow_sample *fs, int acct, int tstamp, bool saw_counters,
			bool saw_ts)
{
	if (acct == 0 && !saw_counters)
		kt_snapshot_gap(snap, "conntrack byte counters",
				"net.netfilter.nf_conntrack_acct is 0: enable it with 'sysctl -w net.netfilter.nf_conntrack_acct=1' (counts only connections opened afterwards)");
	else if (acct == 1)
		fs->acct = true;
	if (tstamp == 1)
		fs->timestamps = true;
	else if (!saw_ts)
		kt_snapshot_gap(snap, "connection ages",
				"net.netfilter.nf_conntrack_timestamp is 0: enable it with 'sysctl -w net.netfilter.nf_conntrack_timestamp=1' to see connection ages");
}

/* ---- event mode ------------------------------------------------------ */

#define CT_LIVE_MAX_CONNS (1u << 19)   /* beyond: full dumps every refresh */
#define CT_EV_BUF 65536

struct ct_conn {
	uint64_t fp;               /* 0: empty slot */
	uint64_t bo, br, pk;       /* counters at the last full dump (baseline for rates) */
	int64_t start_s;           /* realtime seconds; 0 unknown */
	uint32_t key;              /* index into keys */
	uint32_t gen;              /* the last full dump that returned it */
	uint8_t est;
};

struct ct_lkey {
	struct kt_fagg_key k;
	uint32_t opened;           /* NEW events since the last sample */
	double dsum_o, dsum_r;     /* bytes moved since the last full dump */
	double rate_o, rate_r;     /* bytes/s between the last two full dumps; < 0 unknown */
	/* per-sample accumulators */
	uint32_t est, total, o1m, o10m, o1h, recent;
	uint64_t bo, br, pk, hash;
};

struct kt_ct_live {
	double resync_s;
	int evfd;                  /* event socket, -1 not open */
	bool ev_failed;            /* could not subscribe: plain dumps */
	int ev_err;                /* why (errno) */
	uint32_t max_conns;        /* CT_LIVE_MAX_CONNS, or KTRACE_CT_LIVE_MAX (tests) */
	bool need_dump;            /* event overrun */
	bool too_big;
	unsigned dumps;            /* full dumps so far */
	int64_t last_dump_ns;
	uint32_t gen;
	struct ct_conn *t;
	size_t cap, n;             /* cap: power of two */
	struct ct_lkey *keys;
	uint32_t n_keys, cap_keys;
	uint32_t *kidx;            /* open addressing over keys: index + 1, 0 empty */
	uint32_t kcap;
	uint32_t max_keys;
	uint64_t dropped;          /* connections whose key did not fit */
	uint64_t events;           /* event messages applied */
	bool acct, ts;
	char *evbuf;
};

struct kt_ct_live *kt_ct_live_new(double resync_s)
{
	struct kt_ct_live *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->resync_s = resync_s;
	l->evfd = -1;
	l->max_keys = 65536;
	l->max_conns = CT_LIVE_MAX_CONNS;
	const char *e = getenv("KTRACE_CT_LIVE_MAX");
	if (e && *e) {
		unsigned long v = strtoul(e, NULL, 10);
		if (v >= 1 && v <= CT_LIVE_MAX_CONNS)
			l->max_conns = (uint32_t)v;
	}
	return l;
}

void kt_ct_live_free(struct kt_ct_live *l)
{
	if (!l)
		return;
	if (l->evfd >= 0)
		close(l->evfd);
	free(l->t);
	free(l->keys);
	free(l->kidx);
	free(l->evbuf);
	free(l);
}

static inline size_t fp_slot(uint64_t fp, size_t cap)
{
	fp ^= fp >> 29;
	fp *= 0xbf58476d1ce4e5b9ULL;
	fp ^= fp >> 32;
	return (size_t)fp & (cap - 1);
}

/* Index of key k in l->keys (created), or UINT32_MAX when full. */
static uint32_t live_key(struct kt_ct_live *l, const struct kt_fagg_key *k)
{
	if ((l->n_keys + 1) * 2 > l->kcap) {
		uint32_t nc = l->kcap ? l->kcap * 2 : 256;
		uint32_t *ni = calloc(nc, sizeof(*ni));
		if (!ni)
			abort();
		for (uint32_t i = 0; i < l->n_keys; i++) {
			uint32_t h = kt_fagg_key_hash(&l->keys[i].k) & (nc - 1);
			while (ni[h])
				h = (h + 1) & (nc - 1);
			ni[h] = i + 1;
		}
		free(l->kidx);
		l->kidx = ni;
		l->kcap = nc;
	}
	uint32_t h = kt_fagg_key_hash(k) & (l->kcap - 1);
	while (l->kidx[h]) {
		uint32_t i = l->kidx[h] - 1;
		if (!memcmp(&l->keys[i].k, k, sizeof(*k)))
			return i;
		h = (h + 1) & (l->kcap - 1);
	}
	if (l->n_keys >= l->max_keys)
		return UINT32_MAX;
	if (l->n_keys == l->cap_keys) {
		uint32_t nc = l->cap_keys ? l->cap_keys * 2 : 64;
		struct ct_lkey *nk = realloc(l->keys, (size_t)nc * sizeof(*nk));
		if (!nk)
			abort();
		l->keys = nk;
		l->cap_keys = nc;
	}
	struct ct_lkey *x = &l->keys[l->n_keys];
	memset(x, 0, sizeof(*x));
	x->k = *k;
	x->rate_o = x->rate_r = -1;
	l->kidx[h] = ++l->n_keys;
	return l->n_keys - 1;
}

static struct ct_conn *conn_find(struct kt_ct_live *l, uint64_t fp)
{
	if (!l->cap)
		return NULL;
	for (size_t i = fp_slot(fp, l->cap);; i = (i + 1) & (l->cap - 1)) {
		if (!l->t[i].fp)
			return NULL;
		if (l->t[i].fp == fp)
			return &l->t[i];
	}
}

/* Insert (zeroed but for fp) or find; NULL when the table is at its cap. */
static struct ct_conn *conn_get(struct kt_ct_live *l, uint64_t fp, bool *fresh)
{
	*fresh = false;
	if (l->n >= l->max_conns) {
		struct ct_conn *c = conn_find(l, fp);
		if (!c)
			l->too_big = true;
		return c;
	}
	if ((l->n + 1) * 4 > l->cap * 3) {
		size_t nc = l->cap ? l->cap * 2 : 4096;
		struct ct_conn *nt = calloc(nc, sizeof(*nt));
		if (!nt)
			abort();
		for (size_t i = 0; i < l->cap; i++) {
			if (!l->t[i].fp)
				continue;
			size_t j = fp_slot(l->t[i].fp, nc);
			while (nt[j].fp)
				j = (j + 1) & (nc - 1);
			nt[j] = l->t[i];
		}
		free(l->t);
		l->t = nt;
		l->cap = nc;
	}
	size_t i = fp_slot(fp, l->cap);
	while (l->t[i].fp) {
		if (l->t[i].fp == fp)
			return &l->t[i];
		i = (i + 1) & (l->cap - 1);
	}
	memset(&l->t[i], 0, sizeof(l->t[i]));
	l->t[i].fp = fp;
	l->n++;
	*fresh = true;
	return &l->t[i];
}

/* Linear-probing delete with backward shift (no tombstones). */
static void conn_del(struct kt_ct_live *l, struct ct_conn *c)
{
	size_t mask = l->cap - 1, i = (size_t)(c - l->t), j = i;
	l->n--;
	for (;;) {
		l->t[i].fp = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!l->t[j].fp)
				return;
			size_t h = fp_slot(l->t[j].fp, l->cap);
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;   /* its home lies after the hole: stays */
			break;
		}
		l->t[i] = l->t[j];
		i = j;
	}
}

/* A full dump's entry: upsert, bytes since the previous dump into its key. */
static void live_dump_entry(struct kt_ct_live *l, const struct ct_entry *e)
{
	uint32_t k = live_key(l, &e->k);
	if (k == UINT32_MAX) {
		l->dropped++;
		return;
	}
	bool fresh;
	struct ct_conn *c = conn_get(l, e->fp, &fresh);
	if (!c)
		return;
	struct ct_lkey *x = &l->keys[k];
	if (!fresh && c->key == k) {
		x->dsum_o += (double)(e->bo >= c->bo ? e->bo - c->bo : e->bo);
		x->dsum_r += (double)(e->br >= c->br ? e->br - c->br : e->br);
	} else {
		x->dsum_o += (double)e->bo;
		x->dsum_r += (double)e->br;
	}
	c->key = k;
	c->bo = e->bo;
	c->br = e->br;
	c->pk = e->pk;
	c->est = e->est;
	c->gen = l->gen;
	if (e->start_ns)
		c->start_s = (int64_t)(e->start_ns / 1000000000ULL);
	else if (fresh)
		c->start_s = 0;
}

/* One event message: NEW (CT_NEW with NLM_F_CREATE), UPDATE (CT_NEW), DESTROY (CT_DELETE). */
static void live_event(struct kt_ct_live *l, struct ct_ctx *scratch, const struct nlmsghdr *nlh, bool dnat_only,
		       int64_t now_s)
{
	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
		return;
	uint8_t t = nlh->nlmsg_type & 0xff;
	if (t != IPCTNL_MSG_CT_NEW && t != IPCTNL_MSG_CT_DELETE)
		return;
	struct ct_entry e;
	if (!ct_decode(scratch, nlh, &e))
		return;
	if (dnat_only && e.has_status && !(e.status & CT_IPS_DST_NAT))
		return;
	l->events++;
	if (t == IPCTNL_MSG_CT_DELETE) {
		struct ct_conn *c = conn_find(l, e.fp);
		if (!c)
			return;
		struct ct_lkey *x = &l->keys[c->key];
		/* final counters: what moved since the last dump */
		if (e.bo >= c->bo)
			x->dsum_o += (double)(e.bo - c->bo);
		if (e.br >= c->br)
			x->dsum_r += (double)(e.br - c->br);
		conn_del(l, c);
		return;
	}
	uint32_t k = live_key(l, &e.k);
	if (k == UINT32_MAX) {
		l->dropped++;
		return;
	}
	bool isnew = (nlh->nlmsg_flags & NLM_F_CREATE) != 0;
	if (isnew)
		l->keys[k].opened++;
	bool fresh;
	struct ct_conn *c = conn_get(l, e.fp, &fresh);
	if (!c)
		return;
	if (fresh) {
		c->key = k;
		c->start_s = now_s;
		c->gen = l->gen;
	}
	/* an UPDATE without TCP state (status change only) keeps the state */
	if (e.k.proto != 6 || e.tcp_state >= 0 || (e.has_status && (e.status & CT_IPS_DYING)))
		c->est = e.est;
}

/* Apply one buffer of event messages (bounds-checked: untrusted bytes in
 * the fuzz target). */
static void live_apply(struct kt_ct_live *l, struct ct_ctx *scratch, const void *buf, size_t len, bool dnat_only,
		       int64_t now_s)
{
	const struct nlmsghdr *nlh = buf;
	int rem = len > INT32_MAX ? 0 : (int)len;
	while (rem >= (int)NLMSG_HDRLEN && nlh->nlmsg_len <= (uint32_t)rem && mnl_nlmsg_ok(nlh, rem)) {
		live_event(l, scratch, nlh, dnat_only, now_s);
		nlh = mnl_nlmsg_next(nlh, &rem);
	}
}

void kt_ct_live_apply(struct kt_ct_live *l, const void *buf, size_t len, int64_t now_s)
{
	struct ct_ctx scratch;
	memset(&scratch, 0, sizeof(scratch));
	live_apply(l, &scratch, buf, len, true, now_s);
	if (scratch.saw_counters)
		l->acct = true;
}

void kt_ct_live_sample(struct kt_ct_live *l, struct kt_snapshot *snap, struct kt_flow_sample *fs)
{
	struct ct_ctx c;
	memset(&c, 0, sizeof(c));
	kt_fagg_init(&c.g, l->max_keys, false);
	c.now_ns = fs->taken_ms ? fs->taken_ms * 1000000LL : now_real_ns();
	live_emit(l, &c, l->ts);
	fs->events = true;
	c.saw_counters = l->acct;
	c.saw_ts = l->ts;
	finish(&c, snap, fs);
	kt_fagg_release(&c.g);
}

/* Subscribe to conntrack NEW, UPDATE and DESTROY events. */
static int live_open(struct kt_ct_live *l)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
	if (fd < 0)
		return -errno;
	/* a burst of short connections must not overrun us between
	 * refreshes (an overrun costs one full dump, nothing else) */
	int sz = 32 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	sa.nl_groups = (1u << (NFNLGRP_CONNTRACK_NEW - 1)) | (1u << (NFNLGRP_CONNTRACK_UPDATE - 1)) |
		       (1u << (NFNLGRP_CONNTRACK_DESTROY - 1));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	l->evfd = fd;
	if (!l->evbuf && !(l->evbuf = malloc(CT_EV_BUF)))
		abort();
	return 0;
}

/* Apply every queued event. An overrun (ENOBUFS) asks for a full dump. */
static void live_drain(struct kt_ct_live *l, bool dnat_only)
{
	struct ct_ctx scratch;
	memset(&scratch, 0, sizeof(scratch));
	int64_t now_s = now_real_ns() / 1000000000LL;
	for (;;) {
		ssize_t n = recv(l->evfd, l->evbuf, CT_EV_BUF, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == ENOBUFS) {
				l->need_dump = true;
				continue;   /* keep draining: the dump rebuilds the table anyway */
			}
			break;          /* EAGAIN: nothing more */
		}
		if (n == 0)
			break;
		live_apply(l, &scratch, l->evbuf, (size_t)n, dnat_only, now_s);
	}
	if (scratch.saw_counters)
		l->acct = true;
}

/* Drop connections the last full dump did not return (their DESTROY was
 * lost or is still queued; a late one then finds nothing). */
static void live_sweep(struct kt_ct_live *l)
{
	for (size_t i = 0; i < l->cap;) {
		if (l->t[i].fp && l->t[i].gen != l->gen) {
			conn_del(l, &l->t[i]);
			continue;   /* the backward shift may have moved another entry here */
		}
		i++;
	}
}

/* Fold the table into c->g for one sample. */
static void live_emit(struct kt_ct_live *l, struct ct_ctx *c, bool ages)
{
	int64_t now_s = c->now_ns / 1000000000LL;
	for (uint32_t i = 0; i < l->n_keys; i++) {
		struct ct_lkey *x = &l->keys[i];
		x->est = x->total = x->o1m = x->o10m = x->o1h = x->recent = 0;
		x->bo = x->br = x->pk = x->hash = 0;
	}
	for (size_t i = 0; i < l->cap; i++) {
		const struct ct_conn *cn = &l->t[i];
		if (!cn->fp)
			continue;
		struct ct_lkey *x = &l->keys[cn->key];
		x->total++;
		x->est += cn->est;
		x->bo += cn->bo;
		x->br += cn->br;
		x->pk += cn->pk;
		x->hash ^= cn->fp;
		if (ages && cn->start_s)
			add_age(&x->o1m, &x->o10m, &x->o1h, &x->recent, cn->est,
				now_s > cn->start_s ? now_s - cn->start_s : 0);
	}
	c->seen = l->n;
	for (uint32_t i = 0; i < l->n_keys; i++) {
		struct ct_lkey *x = &l->keys[i];
		if (!x->total && !x->opened)
			continue;
		struct kt_fagg_slot *s = kt_fagg_get(&c->g, &x->k);
		if (!s)
			continue;
		s->established = x->est;
		s->total = x->total;
		s->bytes_orig = x->bo;
		s->bytes_reply = x->br;
		s->packets = x->pk;
		s->older_1m = x->o1m;
		s->older_10m = x->o10m;
		s->older_1h = x->o1h;
		s->recent = x->recent;
		s->hash = x->hash;
		s->opened = x->opened;
		s->rate_orig = x->rate_o;
		s->rate_reply = x->rate_r;
		x->opened = 0;
	}
}

/* One sample in event mode. Returns 0, negative on a dump failure, or 1
 * when events cannot be used (the caller then dumps as usual). */
static int live_collect(struct kt_ct_live *l, struct kt_snapshot *snap, struct kt_flow_sample *fs,
			const struct kt_flow_opts *fo, int acct, int tstamp, struct kt_diag *d)
{
	if (l->ev_failed || l->too_big)
		return 1;
	bool dnat_only = !fo->all_entries;
	if (l->evfd < 0) {
		int e = live_open(l);
		if (e < 0) {
			kt_log(1, "conntrack events unavailable (%s): a full dump every refresh", strerror(-e));
			l->ev_failed = true;
			l->ev_err = -e;
			return 1;
		}
		if (fo->max_agg)
			l->max_keys = fo->max_agg;
	}
	struct ct_ctx c;
	memset(&c, 0, sizeof(c));
	kt_fagg_init(&c.g, l->max_keys, false);
	c.now_ns = now_real_ns();
	live_drain(l, dnat_only);
	bool dump = l->dumps < 2 || l->need_dump || l->resync_s <= 0 ||
		    (double)(c.now_ns - l->last_dump_ns) >= l->resync_s * 1e9;
	if (dump) {
		c.live = l;
		l->gen++;
		int rc = -1;
		struct kt_diag td = {0};
		for (int attempt = 0; attempt < 2; attempt++) {
			memset(&td, 0, sizeof(td));
			c.err = 0;
			c.done = c.dump_intr = false;
			rc = dump_once(&c, NULL, dnat_only, &td);
			if (rc < 0 && dnat_only && (c.err == EINVAL || c.err == EOPNOTSUPP)) {
				dnat_only = false;   /* no status filter in this kernel: filter here */
				continue;
			}
			break;
		}
		if (rc < 0) {
			kt_fagg_release(&c.g);
			if (td.code == KT_EXIT_CLUSTER && c.err == EPERM) {
				kt_snapshot_gap(snap, "conntrack", "%s", td.msg);
				return 0;
			}
			if (d)
				*d = td;
			return rc;
		}
		if (rc == 0)
			live_sweep(l);   /* an interrupted dump may have missed entries: keep them */
		l->need_dump = rc == 1;
		live_drain(l, dnat_only);
		double dt = (c.now_ns - l->last_dump_ns) / 1e9;
		for (uint32_t i = 0; i < l->n_keys; i++) {
			struct ct_lkey *x = &l->keys[i];
			if (l->dumps && dt > 0) {
				x->rate_o = x->dsum_o / dt;
				x->rate_r = x->dsum_r / dt;
			}
			x->dsum_o = x->dsum_r = 0;
		}
		l->dumps++;
		l->last_dump_ns = c.now_ns;
		if (c.saw_counters)
			l->acct = true;
		if (c.saw_ts)
			l->ts = true;
		c.live = NULL;
	}
	if (l->too_big) {
		/* the table stopped taking connections: this sample and every
		 * later one from full dumps, and the memory goes back */
		kt_fagg_release(&c.g);
		free(l->t);
		l->t = NULL;
		l->cap = l->n = 0;
		close(l->evfd);
		l->evfd = -1;
		return 1;
	}
	live_emit(l, &c, l->ts || tstamp == 1);
	if (l->dropped) {
		c.g.dropped += l->dropped;
		l->dropped = 0;
	}
	fs->events = true;
	fs->full_dump = dump;
	c.saw_counters = l->acct;
	c.saw_ts = l->ts;
	finish(&c, snap, fs);
	kt_fagg_release(&c.g);
	sysctl_gaps(snap, fs, acct, tstamp, c.saw_counters, c.saw_ts);
	return 0;
}

/* Why this sample is a full dump although events were asked for. */
static void live_gap(const struct kt_ct_live *l, struct kt_snapshot *snap)
{
	if (l->too_big)
		kt_snapshot_gap(snap, "conntrack events",
				"more than %u Service connections: a full dump every refresh", l->max_conns);
	else if (l->ev_failed)
		kt_snapshot_gap(snap, "conntrack events",
				"cannot join the conntrack event groups (%s): a full dump every refresh",
				strerror(l->ev_err));
}
