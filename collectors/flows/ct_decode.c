/*
 * Conntrack entries from ctnetlink messages: one CT_NEW / CT_DELETE message
 * (a dump entry, an event, a lookup reply) decoded into a Service flow
 * (original destination, reply source, counters, TCP state, start time,
 * fingerprint) when its destination was translated, folded into a
 * sample's (frontend, backend) aggregates; the sysctls that say what the
 * counters and ages mean; kt_conntrack_parse(), the fuzz and test entry
 * point, which runs a buffer through the netlink layer's receive
 * processing. The attribute walk is inline (KT_NLA_FOR, with each
 * attribute's length checked where it is read, as a policy would): it
 * runs for every attribute of every entry of a 100k-entry dump, where
 * nla_parse() per nest costs several times more. Never prints.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collectors/flows/ct_internal.h"
#include "ktrace/xalloc.h"

struct ct_tuple {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;     /* host order */
	uint8_t proto;
	bool has_ip, has_proto;
	uint16_t zone;
};

#define at_type kt_nla_type
#define at_data kt_nla_data
#define at_len kt_nla_len
#define FOR_ATTRS KT_NLA_FOR
#define FOR_NESTED KT_NLA_FOR_NESTED

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

/* Decode one CT_NEW / CT_DELETE message (dump entry or event). False when
 * it is not a destination-translated flow of a known protocol. */
bool kt_ct_decode(struct kt_ct_sample *c, const struct nlmsghdr *nlh, struct kt_ct_entry *e)
{
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg))
		return false;
	const struct nfgenmsg *nfg = NLMSG_DATA(nlh);
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
		e->est = tcp_state == KT_CT_TCP_ESTABLISHED && !(status & KT_CT_IPS_DYING);
	else
		e->est = (status & KT_CT_IPS_ASSURED) && !(status & KT_CT_IPS_DYING);
	e->bo = bo;
	e->br = br;
	e->pk = po + pr;
	e->start_ns = start_ns;
	e->status = status;
	e->has_status = has_status;
	e->tcp_state = tcp_state;
	uint64_t fp = kt_hash64(KT_HASH_SEED, o.src, alen);
	fp = kt_hash64(fp, o.dst, alen);
	fp = kt_hash64(fp, &o.sport, 2);
	fp = kt_hash64(fp, &o.dport, 2);
	fp = kt_hash64(fp, &o.proto, 1);
	fp = kt_hash64(fp, &k->zone, 2);
	e->fp = fp ? fp : 1;
	return true;
}

/* Fold one entry's age into an aggregate's buckets. */
void kt_ct_add_age(uint32_t *o1m, uint32_t *o10m, uint32_t *o1h, uint32_t *recent, bool est, int64_t age_s)
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
void kt_ct_fold(struct kt_ct_sample *c, const struct nlmsghdr *nlh)
{
	struct kt_ct_entry e;
	c->seen++;
	if (!kt_ct_decode(c, nlh, &e))
		return;
	if (c->live) {
		kt_ct_live_dump_entry(c->live, &e);
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
		kt_ct_add_age(&s->older_1m, &s->older_10m, &s->older_1h, &s->recent, e.est, age_s);
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

void kt_ct_finish(struct kt_ct_sample *c, struct kt_snapshot *snap, struct kt_flow_sample *fs)
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

/* What nf_conntrack_acct / nf_conntrack_timestamp mean for this sample. */
void kt_ct_sysctl_gaps(struct kt_snapshot *snap, struct kt_flow_sample *fs, int acct, int tstamp, bool saw_counters,
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


int64_t kt_ct_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int kt_ct_sysctl(const char *name)
{
	char rec[96], path[160];
	snprintf(rec, sizeof(rec), "sysctl-%s.txt", name);
	int v = -1;
	if (kt_nl_replay_dir()) {
		char *t = kt_nl_rec_get(rec, 64, NULL);
		if (t && sscanf(t, "%d", &v) != 1)
			v = -1;
		free(t);
		return v;
	}
	snprintf(path, sizeof(path), "/proc/sys/net/netfilter/%s", name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	if (v >= 0 && kt_nl_record_dir()) {
		char t[16];
		int w = snprintf(t, sizeof(t), "%d\n", v);
		kt_nl_rec_put(rec, t, (size_t)w);
	}
	return v;
}

static int parse_msg(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *h = nlmsg_hdr(msg);
	if ((h->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK && (h->nlmsg_type & 0xff) == IPCTNL_MSG_CT_NEW)
		kt_ct_fold(ctx, h);
	return 0;
}

int kt_conntrack_parse(struct kt_snapshot *snap, struct kt_flow_sample *fs, const void *buf, size_t len,
		       struct kt_diag *d)
{
	struct kt_ct_sample c;
	memset(&c, 0, sizeof(c));
	kt_fagg_init(&c.g, 65536, true);
	c.now_ns = fs->taken_ms ? fs->taken_ms * 1000000LL : kt_ct_now_ns();
	int rc = kt_nl_feed(NETLINK_NETFILTER, buf, len, parse_msg, &c, NULL);
	kt_ct_finish(&c, snap, fs);
	kt_fagg_release(&c.g);
	if (rc == -EPROTO)
		return kt_diag_set(d, KT_EXIT_INPUT, "conntrack dump: malformed netlink message after %llu entries",
				   (unsigned long long)c.seen);
	return 0;
}
