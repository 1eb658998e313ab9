/*
 * Internal to kube-proxy nftables mode (dp_nftables.c reads the table live
 * through libnftnl or from `nft -j` JSON into this IR; dp_nftmodel.c turns
 * the IR into services). Nothing here is visible outside those files.
 */
#ifndef KT_COLLECTORS_DP_NFT_H
#define KT_COLLECTORS_DP_NFT_H

#include "collectors/dataplane/dp_internal.h"

#define NFT_NO_VERDICT (1 << 30)

struct nrule {
	uint64_t handle;
	uint8_t verdict;         /* KT_IPT_* */
	const char *target;
	bool cond;               /* saddr / iif / fib saddr condition */
	bool fib_local;          /* fib saddr type local */
	bool fib_daddr_local;    /* fib daddr type local */
	const char *set;         /* lookup set (numgen map, affinity set, anonymous range set) */
	const char *daddr_set;   /* `ip daddr @set` (nodeport-ips) */
	uint8_t key;
	bool set_inv;            /* `!= @set` */
	uint32_t mod;
	const char *dnat_ip;
	int32_t dnat_port;
	bool set_mark;
};

struct nchain {
	const char *name;
	uint32_t group;          /* finish: index into the group array */
	struct nrule *r;
	uint32_t n, cap;
};

struct nelem {
	const char *ip;          /* address part of the key (interned) */
	uint8_t proto;
	int32_t port;
	uint32_t index;          /* numgen maps */
	const char *chain;       /* goto / jump target */
	int32_t verdict;         /* NF_DROP, NF_ACCEPT, NFT_GOTO...; NFT_NO_VERDICT */
	const char *comment;     /* element comment: "<ns>/<name>:<port>" in kube-proxy's maps */
	uint8_t addr[16];        /* plain address sets and interval sets */
	uint8_t alen;
	bool interval_end;
	uint8_t plen;            /* JSON prefix elements: prefix length (0: a single address) */
};

struct nset {
	const char *name;
	uint64_t timeout_ms;
	struct nelem *e;
	uint32_t n, cap;
};

struct nst {
	struct kt_snapshot *snap;
	uint8_t family;
	struct nchain *c;
	uint32_t nc, capc;
	struct nset *s;
	uint32_t ns, caps;
	uint32_t anon;
	const char *table;
};

/* element shapes by set name */
enum { NSHAPE_ADDR_PROTO_PORT, NSHAPE_PROTO_PORT, NSHAPE_INDEX, NSHAPE_ADDR };
int nft_shape(const char *set);
bool nft_wanted_set(const char *name, uint32_t flags);

struct nchain *nft_chain_add(struct nst *st, const char *name);
struct nset *nft_set_add(struct nst *st, const char *name, uint64_t timeout_ms);
struct nelem *nft_elem_add(struct nset *s);
struct nrule *nft_rule_add(struct nchain *c);
const char *nft_adup(struct nst *st, const char *s);
void nft_st_free(struct nst *st);
/* The IR of one table into services of node n (dp_nftmodel.c). */
void nft_finish(struct nst *st, struct kt_dp_node *n, const struct kt_node_opts *o, enum kt_dp_mode mode);

#endif
