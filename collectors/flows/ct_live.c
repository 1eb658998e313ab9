/*
 * Conntrack event mode: the connection table a refreshing caller (the
 * imbalance dashboard, imbalance --once) keeps between samples. A full
 * dump (ct_dump.c) on the first two samples (the first only, for --once:
 * kt_ct_live_first_dumps), every resync_s seconds and after an event
 * overrun; in between, the kernel's conntrack events (NEW, UPDATE,
 * DESTROY multicast, received through the netlink layer's event socket)
 * update the per-connection state, so a refresh costs what changed, not
 * the table size. Per connection: a 64-bit fingerprint, its aggregate,
 * TCP state, start and last counters (~48 bytes), at most
 * CT_LIVE_MAX_CONNS (KTRACE_CT_LIVE_MAX lowers it); beyond that every
 * sample is a full dump again and the memory goes back. Never prints.
 */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "collectors/flows/ct_internal.h"
#include "ktrace/env.h"
#include "ktrace/xalloc.h"

static void live_emit(struct kt_ct_live *l, struct kt_ct_sample *c, bool ages);
#define CT_LIVE_MAX_CONNS (1u << 19)   /* beyond: full dumps every refresh */

struct ct_conn {
	uint64_t fp;               /* 0: empty slot */
	uint64_t bo, br, pk;       /* counters at the last full dump (baseline for rates) */
	int64_t start_s;           /* realtime seconds; 0 unknown */
	uint32_t key;              /* index into keys */
	uint32_t gen;              /* the last full dump that returned it */
	uint8_t est;
};

static void table_free(struct ct_conn *t, size_t n);

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
	struct kt_nl *ev;          /* event socket (conntrack NEW/UPDATE/DESTROY groups), NULL not open */
	bool ev_failed;            /* could not subscribe: plain dumps */
	int ev_err;                /* why (errno) */
	uint32_t max_conns;        /* CT_LIVE_MAX_CONNS, or KTRACE_CT_LIVE_MAX (tests) */
	unsigned first_dumps;      /* full dumps before events take over (2: byte rates; 1: --once) */
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
};

struct kt_ct_live *kt_ct_live_new(double resync_s)
{
	struct kt_ct_live *l = kt_xcalloc(1, sizeof(*l));
	l->resync_s = resync_s;
	l->first_dumps = 2;
	l->max_keys = 65536;
	l->max_conns = (uint32_t)kt_env_long(KT_ENV_CT_LIVE_MAX, 1, CT_LIVE_MAX_CONNS, CT_LIVE_MAX_CONNS);
	return l;
}

void kt_ct_live_first_dumps(struct kt_ct_live *l, unsigned n)
{
	l->first_dumps = n ? n : 1;
}

void kt_ct_live_free(struct kt_ct_live *l)
{
	if (!l)
		return;
	kt_nl_close(l->ev);
	table_free(l->t, l->cap);
	free(l->keys);
	free(l->kidx);
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
		uint32_t *ni = kt_xcalloc(nc, sizeof(*ni));
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
		l->keys = kt_xreallocarray(l->keys, nc, sizeof(*l->keys));
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

/* The connection table's memory: populated zero pages from one mmap. A
 * calloc'd table is faulted in page by page, and its first probe maps the
 * zero page that its first write then copies (two faults and a TLB flush
 * per page; on a 100,000-entry first dump that was a third of the time,
 * measured under a paravirtualised kernel). */
static struct ct_conn *table_alloc(size_t n)
{
	size_t sz = n * sizeof(struct ct_conn);
	if (n && sz / n != sizeof(struct ct_conn))
		kt_oom();
	void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		kt_oom();
	return p;
}

static void table_free(struct ct_conn *t, size_t n)
{
	if (t)
		munmap(t, n * sizeof(*t));
}

/* Size the table for the first dump from the kernel's entry count (at
 * most max_conns), so that it is not rehashed five times on the way. */
static void live_presize(struct kt_ct_live *l)
{
	int n = kt_ct_sysctl("nf_conntrack_count");
	if (n <= 0)
		return;
	size_t want = (size_t)(n < (int)l->max_conns ? n : (int)l->max_conns) + 1, nc = 4096;
	while (want * 4 > nc * 3)
		nc *= 2;
	l->t = table_alloc(nc);
	l->cap = nc;
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
		struct ct_conn *nt = table_alloc(nc);
		for (size_t i = 0; i < l->cap; i++) {
			if (!l->t[i].fp)
				continue;
			size_t j = fp_slot(l->t[i].fp, nc);
			while (nt[j].fp)
				j = (j + 1) & (nc - 1);
			nt[j] = l->t[i];
		}
		table_free(l->t, l->cap);
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
void kt_ct_live_dump_entry(struct kt_ct_live *l, const struct kt_ct_entry *e)
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
static void live_event(struct kt_ct_live *l, struct kt_ct_sample *scratch, const struct nlmsghdr *nlh, bool dnat_only,
		       int64_t now_s)
{
	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_CTNETLINK)
		return;
	uint8_t t = nlh->nlmsg_type & 0xff;
	if (t != IPCTNL_MSG_CT_NEW && t != IPCTNL_MSG_CT_DELETE)
		return;
	struct kt_ct_entry e;
	if (!kt_ct_decode(scratch, nlh, &e))
		return;
	if (dnat_only && e.has_status && !(e.status & KT_CT_IPS_DST_NAT))
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
	if (e.k.proto != 6 || e.tcp_state >= 0 || (e.has_status && (e.status & KT_CT_IPS_DYING)))
		c->est = e.est;
}

struct ev_ctx {
	struct kt_ct_live *l;
	struct kt_ct_sample scratch;
	bool dnat_only;
	int64_t now_s;
};

static int on_event(struct nl_msg *msg, void *arg)
{
	struct ev_ctx *e = arg;
	live_event(e->l, &e->scratch, nlmsg_hdr(msg), e->dnat_only, e->now_s);
	return 0;
}

void kt_ct_live_apply(struct kt_ct_live *l, const void *buf, size_t len, int64_t now_s)
{
	struct ev_ctx e = {.l = l, .dnat_only = true, .now_s = now_s};
	kt_nl_feed(NETLINK_NETFILTER, buf, len, on_event, &e, NULL); /* untrusted bytes in the fuzz target */
	if (e.scratch.saw_counters)
		l->acct = true;
}

void kt_ct_live_sample(struct kt_ct_live *l, struct kt_snapshot *snap, struct kt_flow_sample *fs)
{
	struct kt_ct_sample c;
	memset(&c, 0, sizeof(c));
	kt_fagg_init(&c.g, l->max_keys, false);
	c.now_ns = fs->taken_ms ? fs->taken_ms * 1000000LL : kt_ct_now_ns();
	live_emit(l, &c, l->ts);
	fs->events = true;
	c.saw_counters = l->acct;
	c.saw_ts = l->ts;
	kt_ct_finish(&c, snap, fs);
	kt_fagg_release(&c.g);
}

/* Subscribe to conntrack NEW, UPDATE and DESTROY events. A burst of short
 * connections must not overrun us between refreshes (an overrun costs one
 * full dump, nothing else): a 32 MiB receive buffer. */
static int live_open(struct kt_ct_live *l)
{
	struct kt_nl_opts o = {.groups = {NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_UPDATE, NFNLGRP_CONNTRACK_DESTROY},
			       .rcvbuf = 32 << 20,
			       .nonblock = true,
			       .msg_buf = 65536};
	char err[256];
	l->ev = kt_nl_open(NETLINK_NETFILTER, &o, err, sizeof(err));
	return l->ev ? 0 : -EPERM;
}

/* Apply every queued event. An overrun (ENOBUFS) asks for a full dump. */
static void live_drain(struct kt_ct_live *l, bool dnat_only)
{
	struct ev_ctx e = {.l = l, .dnat_only = dnat_only, .now_s = kt_ct_now_ns() / 1000000000LL};
	bool overrun = false;
	kt_nl_drain(l->ev, on_event, &e, &overrun);
	if (overrun)
		l->need_dump = true;
	if (e.scratch.saw_counters)
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
static void live_emit(struct kt_ct_live *l, struct kt_ct_sample *c, bool ages)
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
			kt_ct_add_age(&x->o1m, &x->o10m, &x->o1h, &x->recent, cn->est,
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
int kt_ct_live_collect(struct kt_ct_live *l, struct kt_snapshot *snap, struct kt_flow_sample *fs,
			const struct kt_flow_opts *fo, int acct, int tstamp, struct kt_diag *d)
{
	if (l->ev_failed || l->too_big)
		return 1;
	bool dnat_only = !fo->all_entries;
	if (!l->ev) {
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
	struct kt_ct_sample c;
	memset(&c, 0, sizeof(c));
	kt_fagg_init(&c.g, l->max_keys, false);
	c.now_ns = kt_ct_now_ns();
	live_drain(l, dnat_only);
	bool dump = l->dumps < l->first_dumps || l->need_dump || l->resync_s <= 0 ||
		    (double)(c.now_ns - l->last_dump_ns) >= l->resync_s * 1e9;
	if (dump) {
		c.live = l;
		l->gen++;
		if (!l->cap)
			live_presize(l);
		struct kt_diag td = {0};
		int kerr;
		int rc = kt_ct_dump(&c, dnat_only, false, &kerr, &td);
		if (rc < 0 && dnat_only && (kerr == EINVAL || kerr == EOPNOTSUPP)) {
			dnat_only = false; /* no status filter in this kernel: filter here */
			memset(&td, 0, sizeof(td));
			rc = kt_ct_dump(&c, false, false, &kerr, &td);
		}
		if (rc < 0) {
			kt_fagg_release(&c.g);
			if (kerr == EPERM) {
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
		table_free(l->t, l->cap);
		l->t = NULL;
		l->cap = l->n = 0;
		kt_nl_close(l->ev);
		l->ev = NULL;
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
	kt_ct_finish(&c, snap, fs);
	kt_fagg_release(&c.g);
	kt_ct_sysctl_gaps(snap, fs, acct, tstamp, c.saw_counters, c.saw_ts);
	return 0;
}

/* Why this sample is a full dump although events were asked for. */
void kt_ct_live_gap(const struct kt_ct_live *l, struct kt_snapshot *snap)
{
	if (l->too_big)
		kt_snapshot_gap(snap, "conntrack events",
				"more than %u Service connections: a full dump every refresh", l->max_conns);
	else if (l->ev_failed)
		kt_snapshot_gap(snap, "conntrack events",
				"cannot join the conntrack event groups (%s): a full dump every refresh",
				strerror(l->ev_err));
}
