/*
 * Netfilter conntrack collector, full dumps: one ctnetlink dump
 * (IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC = IPv4 and IPv6, every zone)
 * through the netlink layer, each entry streamed into per-(original
 * destination, reply source) aggregates (ct_decode.c); only entries whose
 * destination was translated (Service DNAT, IPVS) are kept, and the kernel
 * is asked to skip the others (CTA_STATUS + CTA_STATUS_MASK = IPS_DST_NAT).
 * A dump interrupted by table changes is restarted (the layer's bounded
 * retry); one that never completes cleanly is kept with a gap.
 * kt_conntrack_collect() is the flows entry point: event mode
 * (ct_live.c) when the caller keeps state, else one dump per sample.
 * Record / replay go through the netlink layer (KTRACE_NL_RECORD /
 * KTRACE_NL_REPLAY), the sysctls with them; a replay never joins the
 * event groups. Read-only (dump requests only); never prints.
 *
 * The dump is synchronous: each receive makes the kernel format the next
 * buffer of entries (ctnetlink_dump_table, most of a refresh's cost) in
 * the caller's context. With an idle CPU the messages libnl delivers are
 * handed in batches to a second thread that decodes them, so the decode
 * (10-20% of a refresh) overlaps the kernel's work (KTRACE_CT_THREADS
 * forces it off or on).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collectors/flows/ct_internal.h"
#include "ktrace/env.h"
#include "ktrace/xalloc.h"

#define CT_RING 8
#define CT_SLOT (128u << 10)   /* bytes of messages per hand-off */

/* Batches of messages from the receiving thread to the decoding one. */
struct ct_pipe {
	pthread_mutex_t mu;
	pthread_cond_t more, room;
	char *buf[CT_RING];
	size_t len[CT_RING];
	unsigned head, tail;       /* published / decoded batches */
	size_t fill;               /* bytes in buf[head % CT_RING] */
	bool eof;
	bool threaded;
	pthread_t th;
	struct kt_ct_sample *c;
	uint32_t max_agg;          /* to restart the sample */
	bool want_fp;
};

static bool is_ct_new(const struct nlmsghdr *h)
{
	return (h->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK && (h->nlmsg_type & 0xff) == IPCTNL_MSG_CT_NEW;
}

/* A batch holds whole messages, each padded to NLMSG_ALIGN, as libnl
 * delivered them (already framed and checked). */
static void decode_batch(struct kt_ct_sample *c, const char *b, size_t len)
{
	size_t off = 0;
	while (off + NLMSG_HDRLEN <= len) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)(b + off);
		if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len - off)
			break;
		kt_ct_fold(c, h);
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
}

static void *pipe_decode(void *arg)
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
		decode_batch(p->c, p->buf[slot], p->len[slot]);
		pthread_mutex_lock(&p->mu);
		p->tail++;
		pthread_cond_signal(&p->room);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* A decoding thread only pays when a CPU is idle: on a saturated node the
 * hand-offs cost more than the overlap wins (measured: 0.41 s threaded vs
 * 0.32 s inline for 100k entries at load 5 on 2 CPUs). The threshold is
 * an idle CPU besides ours. KTRACE_CT_THREADS=0 / =1 forces it off / on. */
static bool want_thread(void)
{
	const char *e = kt_env_get(KT_ENV_CT_THREADS);
	if (e)
		return strcmp(e, "0") != 0;
	return kt_usable_cpus() >= 2 && kt_spare_cpus() >= 2.0;
}

/* Publish the batch being filled and wait for a free one. */
static void publish(struct ct_pipe *p)
{
	pthread_mutex_lock(&p->mu);
	if (p->fill) {
		p->len[p->head % CT_RING] = p->fill;
		p->head++;
		p->fill = 0;
		pthread_cond_signal(&p->more);
	}
	while (p->head - p->tail == CT_RING)
		pthread_cond_wait(&p->room, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

/* Every published batch decoded. */
static void flush(struct ct_pipe *p)
{
	if (!p->threaded)
		return;
	publish(p);
	pthread_mutex_lock(&p->mu);
	while (p->tail != p->head)
		pthread_cond_wait(&p->room, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static int on_msg(struct nl_msg *msg, void *ctx)
{
	struct ct_pipe *p = ctx;
	const struct nlmsghdr *h = nlmsg_hdr(msg);
	if (!is_ct_new(h))
		return 0;
	if (!p->threaded) {
		kt_ct_fold(p->c, h);
		return 0;
	}
	size_t l = NLMSG_ALIGN(h->nlmsg_len);
	if (l > CT_SLOT)
		return 0; /* cannot happen: entries are under 1 KiB */
	if (p->fill + l > CT_SLOT)
		publish(p);
	char *dst = p->buf[p->head % CT_RING] + p->fill;
	memcpy(dst, h, h->nlmsg_len);
	memset(dst + h->nlmsg_len, 0, l - h->nlmsg_len);
	p->fill += l;
	return 0;
}

/* Before a restarted dump: the sample starts again. */
static void on_reset(void *ctx)
{
	struct ct_pipe *p = ctx;
	flush(p);
	struct kt_ct_sample *c = p->c;
	kt_log(1, "conntrack: dump interrupted by table changes, retrying");
	kt_fagg_release(&c->g);
	kt_fagg_init(&c->g, p->max_agg, p->want_fp);
	c->seen = 0;
	c->saw_counters = c->saw_ts = false;
	c->now_ns = kt_ct_now_ns();
}

static void pipe_start(struct ct_pipe *p, struct kt_ct_sample *c)
{
	memset(p, 0, sizeof(*p));
	p->c = c;
	p->max_agg = c->g.max;
	p->want_fp = c->g.want_fp;
	if (c->live || !want_thread())
		return; /* event-mode dumps update the live table on this thread */
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->more, NULL);
	pthread_cond_init(&p->room, NULL);
	for (int i = 0; i < CT_RING; i++)
		p->buf[i] = kt_xmalloc(CT_SLOT);
	p->threaded = pthread_create(&p->th, NULL, pipe_decode, p) == 0;
	if (!p->threaded) {
		for (int i = 0; i < CT_RING; i++)
			free(p->buf[i]);
	}
}

static void pipe_stop(struct ct_pipe *p)
{
	if (!p->threaded)
		return;
	flush(p);
	pthread_mutex_lock(&p->mu);
	p->eof = true;
	pthread_cond_signal(&p->more);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	for (int i = 0; i < CT_RING; i++)
		free(p->buf[i]);
	pthread_cond_destroy(&p->more);
	pthread_cond_destroy(&p->room);
	pthread_mutex_destroy(&p->mu);
}

static struct nl_msg *dump_request(bool dnat_only)
{
	struct nl_msg *m = nlmsg_alloc_simple((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP);
	struct nfgenmsg g = {.nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0};
	if (!m || nlmsg_append(m, &g, sizeof(g), NLMSG_ALIGNTO) < 0)
		kt_oom();
	/* only entries with IPS_DST_NAT: the kernel then skips formatting
	 * every other entry, most of the dump's cost on a busy node */
	if (dnat_only && (nla_put_u32(m, CTA_STATUS, htonl(KT_CT_IPS_DST_NAT)) < 0 ||
			  nla_put_u32(m, CTA_STATUS_MASK, htonl(KT_CT_IPS_DST_NAT)) < 0))
		kt_oom();
	return m;
}

int kt_ct_dump(struct kt_ct_sample *c, bool dnat_only, bool restarts, int *kerr, struct kt_diag *d)
{
	char err[512];
	*kerr = 0;
	struct kt_nl *nl = kt_nl_open(NETLINK_NETFILTER, NULL, err, sizeof(err));
	if (!nl)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot open a netfilter netlink socket: %s", err);
	struct nl_msg *req = dump_request(dnat_only);
	struct ct_pipe p;
	pipe_start(&p, c);
	int rc = kt_nl_request(nl, req, on_msg, restarts ? on_reset : NULL, &p, err, sizeof(err));
	pipe_stop(&p);
	nlmsg_free(req);
	kt_nl_close(nl);
	if (rc >= 0)
		return rc == KT_NL_INTR ? 1 : 0;
	*kerr = -rc;
	kt_diag_set(d, KT_EXIT_CLUSTER, "conntrack dump: %s", err);
	if (rc == -EPERM)
		kt_diag_hint(d, "run as root or with CAP_NET_ADMIN in the node's network namespace");
	else if (rc == -EOPNOTSUPP || rc == -ENOENT)
		kt_diag_hint(d, "load nf_conntrack_netlink (modprobe nf_conntrack_netlink), or record with KTRACE_NL_RECORD");
	return -KT_EXIT_CLUSTER;
}

int kt_conntrack_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs, const struct kt_flow_opts *fo,
			 struct kt_diag *d)
{
	bool replay = kt_nl_replay_dir() != NULL, record = kt_nl_record_dir() != NULL;
	int acct = kt_ct_sysctl("nf_conntrack_acct");
	int tstamp = kt_ct_sysctl("nf_conntrack_timestamp");
	if (acct < 0 && tstamp < 0 && (replay || access("/proc/sys/net/netfilter", F_OK) != 0)) {
		kt_snapshot_gap(snap, "conntrack", "nf_conntrack is not loaded in this network namespace");
		return 0;
	}
	/* recording and replaying take full dumps: the events are not recorded */
	if (fo && fo->live && !record && !replay) {
		int lr = kt_ct_live_collect(fo->live, snap, fs, fo, acct, tstamp, d);
		if (lr != 1)
			return lr;
		/* events unavailable: one full dump per sample from now on */
		kt_ct_live_gap(fo->live, snap);
	}
	struct kt_ct_sample c;
	memset(&c, 0, sizeof(c));
	kt_fagg_init(&c.g, fo ? fo->max_agg : 0, !(fo && fo->no_fingerprints));
	c.now_ns = kt_ct_now_ns();
	bool dnat_only = !(fo && fo->all_entries);
	struct kt_diag td = {0};
	int kerr;
	int rc = kt_ct_dump(&c, dnat_only, true, &kerr, &td);
	if (rc < 0 && dnat_only && (kerr == EINVAL || kerr == EOPNOTSUPP)) {
		/* an older kernel without status filtering: filter here */
		kt_log(1, "conntrack: kernel refused the status filter (%s), dumping everything", td.msg);
		kt_fagg_release(&c.g);
		memset(&c, 0, sizeof(c));
		kt_fagg_init(&c.g, fo ? fo->max_agg : 0, !(fo && fo->no_fingerprints));
		c.now_ns = kt_ct_now_ns();
		memset(&td, 0, sizeof(td));
		rc = kt_ct_dump(&c, false, true, &kerr, &td);
	}
	if (rc < 0) {
		kt_fagg_release(&c.g);
		if (kerr == EPERM || replay) {
			/* no right to read it, or not in the recording: a gap */
			kt_snapshot_gap(snap, "conntrack", "%s", td.msg);
			return 0;
		}
		if (d)
			*d = td;
		return rc;
	}
	if (rc == 1)
		kt_snapshot_gap(snap, "conntrack", "the table changed during every dump attempt: counts may be off by the churn");
	kt_ct_finish(&c, snap, fs);
	kt_fagg_release(&c.g);
	kt_ct_sysctl_gaps(snap, fs, acct, tstamp, c.saw_counters, c.saw_ts);
	return 0;
}
