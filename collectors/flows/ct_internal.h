/*
 * Internal to the conntrack collector (collectors/flows/ct_*.c): one
 * decoded entry, the per-sample state every path folds entries into, and
 * the calls between the decoder (ct_decode.c), the dump (ct_dump.c) and
 * the event-mode connection table (ct_live.c).
 */
#ifndef KT_COLLECTORS_FLOWS_CT_INTERNAL_H
#define KT_COLLECTORS_FLOWS_CT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/netlink.h>

#include "collectors/flows/flow_agg.h"
#include "collectors/netlink/nl.h"

#define KT_CT_TCP_ESTABLISHED 3
#define KT_CT_IPS_ASSURED 0x4
#define KT_CT_IPS_DST_NAT 0x20
#define KT_CT_IPS_DYING 0x200

/* One decoded Service flow (a destination-translated conntrack entry). */
struct kt_ct_entry {
	struct kt_fagg_key k;
	uint64_t fp;               /* fingerprint of the original tuple + zone, never 0 */
	uint64_t bo, br, pk;       /* counters (0 when acct is off) */
	uint64_t start_ns;         /* CTA_TIMESTAMP start, 0 unknown */
	uint32_t status;
	bool has_status;
	int tcp_state;             /* -1 not in the message */
	bool est;
};

/* One sample being built: entries of a dump go into g (or, in event mode,
 * into the live table). */
struct kt_ct_sample {
	struct kt_fagg g;
	struct kt_ct_live *live;   /* event mode: entries go to the live table, not g */
	int64_t now_ns;            /* realtime */
	uint64_t seen;
	bool saw_counters;
	bool saw_ts;
};

/* Decode one CT_NEW / CT_DELETE message (dump entry or event). False when
 * it is not a destination-translated flow of a known protocol. */
bool kt_ct_decode(struct kt_ct_sample *c, const struct nlmsghdr *nlh, struct kt_ct_entry *e);
/* One CT_NEW message of a dump: into c->g, or the live table. */
void kt_ct_fold(struct kt_ct_sample *c, const struct nlmsghdr *nlh);
/* Fold one entry's age into an aggregate's buckets. */
void kt_ct_add_age(uint32_t *o1m, uint32_t *o10m, uint32_t *o1h, uint32_t *recent, bool est, int64_t age_s);
/* Emit c->g into fs (and a gap when the aggregate cap was hit). */
void kt_ct_finish(struct kt_ct_sample *c, struct kt_snapshot *snap, struct kt_flow_sample *fs);
int64_t kt_ct_now_ns(void);
/* net.netfilter.<name> (nf_conntrack_acct, nf_conntrack_timestamp), -1
 * when unreadable; recorded and replayed with the netlink dumps. */
int kt_ct_sysctl(const char *name);
/* What nf_conntrack_acct / nf_conntrack_timestamp mean for this sample. */
void kt_ct_sysctl_gaps(struct kt_snapshot *snap, struct kt_flow_sample *fs, int acct, int tstamp,
		       bool saw_counters, bool saw_ts);

/* One ctnetlink dump into c. restarts: retry a dump interrupted by table
 * changes (a full sample) or not (event mode keeps what it got). Returns
 * 0, 1 (interrupted: counts may be off by the churn) or negative with d;
 * *kerr is the kernel's errno when it refused (EPERM, EINVAL...). */
int kt_ct_dump(struct kt_ct_sample *c, bool dnat_only, bool restarts, int *kerr, struct kt_diag *d);

/* Event mode (ct_live.c). */
void kt_ct_live_dump_entry(struct kt_ct_live *l, const struct kt_ct_entry *e);
/* One sample from the event-mode table: 0, negative on a dump failure, or
 * 1 when events cannot be used (the caller dumps as usual). */
int kt_ct_live_collect(struct kt_ct_live *l, struct kt_snapshot *snap, struct kt_flow_sample *fs,
		       const struct kt_flow_opts *fo, int acct, int tstamp, struct kt_diag *d);
/* Why this sample is a full dump although events were asked for. */
void kt_ct_live_gap(const struct kt_ct_live *l, struct kt_snapshot *snap);

#endif
