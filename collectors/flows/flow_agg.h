/*
 * Internal to the flow collectors (ct_*.c, sockdiag.c, cilium_ct.c):
 * the streaming aggregator. Kernel dumps are folded entry by entry into a
 * hash table keyed by (source, family, protocol, zone, frontend, backend)
 * in binary form; only kt_fagg_emit() turns slots into strings. Bounded:
 * at most max slots, further keys are counted as dropped (a gap).
 */
#ifndef KT_COLLECTORS_FLOW_AGG_H
#define KT_COLLECTORS_FLOW_AGG_H

#include <stdbool.h>
#include <stdint.h>

#include "ktrace/flows.h"

struct kt_fagg_key {
	uint8_t src;             /* enum kt_flow_src */
	uint8_t family;          /* AF_INET / AF_INET6 */
	uint8_t proto;           /* IPPROTO_* */
	uint8_t pad;
	uint16_t zone;
	uint16_t vport;          /* host order */
	uint16_t bport;
	uint16_t pad2;
	uint8_t vip[16];
	uint8_t bip[16];
};

struct kt_fagg_slot {
	struct kt_fagg_key k;
	bool used;
	uint32_t established, total;
	uint64_t bytes_orig, bytes_reply, packets;
	uint32_t older_1m, older_10m, older_1h, recent;
	uint64_t hash;
	uint64_t *fp;            /* malloc'd while streaming */
	uint32_t n_fp, cap_fp;
	double rtt_sum;          /* ms, sockets */
	uint32_t rtt_n;
	uint32_t opened;         /* conntrack event mode */
	double rate_orig, rate_reply;
};

struct kt_fagg {
	struct kt_fagg_slot *slots;
	uint32_t cap;            /* power of two */
	uint32_t n;
	uint32_t max;            /* cap on used slots */
	uint64_t dropped;        /* entries whose key did not fit */
	bool want_fp;
};

void kt_fagg_init(struct kt_fagg *g, uint32_t max, bool want_fp);
void kt_fagg_release(struct kt_fagg *g);
/* Slot for key (created zeroed); NULL when the cap is hit. */
struct kt_fagg_slot *kt_fagg_get(struct kt_fagg *g, const struct kt_fagg_key *k);
/* The aggregate key's hash (also the conntrack event-mode key table's). */
uint32_t kt_fagg_key_hash(const struct kt_fagg_key *k);
void kt_fagg_add_fp(struct kt_fagg *g, struct kt_fagg_slot *s, uint64_t fp);
/* Append every slot to fs->agg (strings interned in snap->arena, fp sorted
 * and copied to the arena). Leaves g empty. */
void kt_fagg_emit(struct kt_fagg *g, struct kt_snapshot *snap, struct kt_flow_sample *fs);

/* The reply-direction source (the backend a DNAT chose) of one ctnetlink
 * CT_NEW message: 4 or 16 bytes into ip, host-order port. False when the
 * message has no reply tuple. Bounds-checked (ct_decode.c). */
struct nlmsghdr;
bool kt_ct_msg_reply_src(const struct nlmsghdr *nlh, uint8_t ip[16], uint16_t *port);

const char *kt_proto_name(uint8_t proto);   /* "TCP", "UDP", "SCTP", NULL otherwise */
int64_t kt_now_ms(void);
void kt_sample_add_source(struct kt_snapshot *snap, struct kt_flow_sample *fs, const char *src);

#endif
