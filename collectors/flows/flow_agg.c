/*
 * The flow aggregator shared by the conntrack, socket and Cilium CT
 * collectors, and kt_flows_collect(): one sample of this node from every
 * available source. Owns the hash table while a dump streams; emits
 * arena-owned aggregates into the snapshot. Never prints, never judges.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collectors/flows/flow_agg.h"
#include "collectors/netlink/nl.h"
#include "ktrace/xalloc.h"
#include "ktrace/dataplane.h"
#include "ktrace/node.h"

int64_t kt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *kt_proto_name(uint8_t proto)
{
	switch (proto) {
	case 6: return "TCP";
	case 17: return "UDP";
	case 132: return "SCTP";
	}
	return NULL;
}

const char *kt_flow_src_name(enum kt_flow_src s)
{
	switch (s) {
	case KT_FLOW_CONNTRACK: return "conntrack";
	case KT_FLOW_CILIUM: return "cilium-ct";
	case KT_FLOW_SOCKET: return "inet_diag";
	}
	return "conntrack";
}

void kt_sample_add_source(struct kt_snapshot *snap, struct kt_flow_sample *fs, const char *src)
{
	if (!fs->source || !*fs->source)
		fs->source = kt_intern(snap->arena, src);
	else if (!strstr(fs->source, src))
		fs->source = kt_intern(snap->arena, kt_arena_printf(snap->arena, "%s+%s", fs->source, src));
}

void kt_fagg_init(struct kt_fagg *g, uint32_t max, bool want_fp)
{
	memset(g, 0, sizeof(*g));
	g->max = max ? max : 65536;
	g->want_fp = want_fp;
	g->cap = 256;
	g->slots = kt_xcalloc(g->cap, sizeof(*g->slots));
}

void kt_fagg_release(struct kt_fagg *g)
{
	if (!g->slots)
		return;
	for (uint32_t i = 0; i < g->cap; i++)
		free(g->slots[i].fp);
	free(g->slots);
	g->slots = NULL;
	g->n = g->cap = 0;
}

/* Word-at-a-time multiply/xor hash of the 44-byte binary key (this runs
 * once per kernel entry). */
uint32_t kt_fagg_key_hash(const struct kt_fagg_key *k)
{
	_Static_assert(sizeof(*k) == 44, "key layout");
	const unsigned char *p = (const unsigned char *)k;
	uint64_t h = 0x9e3779b97f4a7c15ULL, w;
	for (int i = 0; i < 5; i++) {
		memcpy(&w, p + 8 * i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	uint32_t t;
	memcpy(&t, p + 40, 4);
	h = (h ^ t) * 0xc4ceb9fe1a85ec53ULL;
	return (uint32_t)(h ^ (h >> 29));
}

static void grow(struct kt_fagg *g)
{
	uint32_t nc = g->cap * 2;
	struct kt_fagg_slot *ns = kt_xcalloc(nc, sizeof(*ns));
	for (uint32_t i = 0; i < g->cap; i++) {
		if (!g->slots[i].used)
			continue;
		uint32_t j = kt_fagg_key_hash(&g->slots[i].k) & (nc - 1);
		while (ns[j].used)
			j = (j + 1) & (nc - 1);
		ns[j] = g->slots[i];
	}
	free(g->slots);
	g->slots = ns;
	g->cap = nc;
}

struct kt_fagg_slot *kt_fagg_get(struct kt_fagg *g, const struct kt_fagg_key *k)
{
	uint32_t j = kt_fagg_key_hash(k) & (g->cap - 1);
	while (g->slots[j].used) {
		if (memcmp(&g->slots[j].k, k, sizeof(*k)) == 0)
			return &g->slots[j];
		j = (j + 1) & (g->cap - 1);
	}
	if (g->n >= g->max) {
		g->dropped++;
		return NULL;
	}
	if ((g->n + 1) * 4 > g->cap * 3) {
		grow(g);
		return kt_fagg_get(g, k);
	}
	struct kt_fagg_slot *s = &g->slots[j];
	memset(s, 0, sizeof(*s));
	s->k = *k;
	s->used = true;
	g->n++;
	return s;
}

void kt_fagg_add_fp(struct kt_fagg *g, struct kt_fagg_slot *s, uint64_t fp)
{
	s->hash ^= fp;
	if (!g->want_fp)
		return;
	if (s->n_fp >= s->cap_fp) {
		uint32_t nc = s->cap_fp ? s->cap_fp * 2 : 16;
		s->fp = kt_xreallocarray(s->fp, nc, sizeof(*s->fp));
		s->cap_fp = nc;
	}
	s->fp[s->n_fp++] = fp;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static const char *ip_str(struct kt_arena *a, uint8_t family, const uint8_t *ip)
{
	char buf[INET6_ADDRSTRLEN];
	if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, ip, buf, sizeof(buf)))
		return kt_intern(a, "?");
	return kt_intern(a, buf);
}

void kt_fagg_emit(struct kt_fagg *g, struct kt_snapshot *snap, struct kt_flow_sample *fs)
{
	struct kt_arena *a = snap->arena;
	for (uint32_t i = 0; i < g->cap; i++) {
		struct kt_fagg_slot *s = &g->slots[i];
		if (!s->used)
			continue;
		struct kt_flow_agg *x = kt_grow(&fs->agg, &fs->n_agg, &fs->cap_agg, sizeof(*fs->agg));
		x = &fs->agg[fs->n_agg - 1];
		memset(x, 0, sizeof(*x));
		x->vip = ip_str(a, s->k.family, s->k.vip);
		x->vport = s->k.vport;
		const char *pn = kt_proto_name(s->k.proto);
		x->protocol = kt_intern(a, pn ? pn : "TCP");
		x->backend_ip = ip_str(a, s->k.family, s->k.bip);
		x->backend_port = s->k.bport;
		x->src = (enum kt_flow_src)s->k.src;
		x->zone = s->k.zone;
		x->established = s->established;
		x->total = s->total;
		x->bytes_orig = s->bytes_orig;
		x->bytes_reply = s->bytes_reply;
		x->packets = s->packets;
		x->older_1m = s->older_1m;
		x->older_10m = s->older_10m;
		x->older_1h = s->older_1h;
		x->recent = s->recent;
		x->hash = s->hash;
		x->rtt_ms = s->rtt_n ? s->rtt_sum / s->rtt_n : 0;
		x->opened = s->opened;
		x->rate_orig = s->rate_orig;
		x->rate_reply = s->rate_reply;
		if (s->n_fp) {
			qsort(s->fp, s->n_fp, sizeof(*s->fp), u64_cmp);
			x->fp = KT_ANEW(a, uint64_t, s->n_fp);
			memcpy(x->fp, s->fp, (size_t)s->n_fp * sizeof(*s->fp));
			x->n_fp = s->n_fp;
		}
		free(s->fp);
		memset(s, 0, sizeof(*s));
	}
	g->n = 0;
}

int kt_flows_collect_ex(struct kt_snapshot *snap, const struct kt_node_opts *o,
			const struct kt_flow_opts *fo, struct kt_diag *d)
{
	static const struct kt_flow_opts defaults;
	if (!fo)
		fo = &defaults;
	int64_t t0 = kt_now_ms();
	struct timespec m0, m1;
	clock_gettime(CLOCK_MONOTONIC, &m0);
	struct kt_flow_sample *fs = KT_SNAP_PUSH(snap, flows);
	char hn[256];
	/* the recorded node name in a replay, as the dataplane's */
	fs->node = kt_intern(snap->arena, o && o->node_name ? o->node_name : kt_nl_host_name(hn, sizeof(hn)));
	fs->taken_ms = t0;
	fs->source = "";
	int rc = 0;
	if (!fo->no_conntrack) {
		rc = kt_conntrack_collect(snap, fs, fo, d);
		if (rc < 0)
			return rc;
	}
	if (!fo->no_cilium) {
		rc = kt_cilium_ct_collect(snap, fs, o ? o->bpffs : NULL, fo, d);
		if (rc < 0)
			return rc;
	}
	if (fo->sockets) {
		rc = kt_sockdiag_collect(snap, fs, fo, d);
		if (rc < 0)
			return rc;
	}
	if (!*fs->source)
		fs->source = kt_intern(snap->arena, "none");
	clock_gettime(CLOCK_MONOTONIC, &m1);
	int64_t us = (int64_t)(m1.tv_sec - m0.tv_sec) * 1000000 + (m1.tv_nsec - m0.tv_nsec) / 1000;
	fs->elapsed_us = us > 0 ? (uint32_t)us : 0;
	return 0;
}

int kt_flows_collect(struct kt_snapshot *snap, const struct kt_node_opts *o, struct kt_diag *d)
{
	struct kt_flow_opts fo = {.sockets = false, .no_fingerprints = true};
	/* IPVS-made conntrack entries may lack IPS_DST_NAT: no kernel filter */
	if (snap->proxy.mode && !strcmp(snap->proxy.mode, "ipvs"))
		fo.all_entries = true;
	for (uint32_t i = 0; i < snap->n_dp; i++)
		if (snap->dp[i].modes & (1u << KT_DP_IPVS))
			fo.all_entries = true;
	return kt_flows_collect_ex(snap, o, &fo, d);
}
