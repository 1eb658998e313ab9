/*
 * Internal to the dataplane collectors (collectors/dataplane/dp_*.c):
 *   kt_dpbuild_*  the service builder every mode appends normalised
 *                 services through (dp_build.c)
 *   kt_kpnorm_*   the kube-proxy iptables normaliser: the rule IR the
 *                 iptables-save text parser and the libnftnl (iptables-nft)
 *                 decoder both stream into, and what turns it into
 *                 services (dp_kpnorm.c)
 *   kt_nft_*      nf_tables dumps over the netlink layer (dp_nftnl.c)
 * and small helpers (SHA-256 chain hashes, address formatting).
 * Nothing here is visible outside collectors/ and tests.
 */
#ifndef KT_COLLECTORS_DP_INTERNAL_H
#define KT_COLLECTORS_DP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktrace/dataplane.h"
#include "ktrace/diag.h"
#include "ktrace/model.h"
#include "ktrace/node.h"

#include "collectors/netlink/nl.h" /* every netlink reader uses the one layer */

/* Caps: a cap hit is a gap, never a crash. */
#define KT_DP_MAX_RULES_PER_CHAIN 200000u
#define KT_DP_MAX_CHAINS          400000u
#define KT_DP_MAX_MAP_ENTRIES     2000000u
#define KT_DP_MAX_LINE            65536u

/* ---- service builder ------------------------------------------------ */

/* Find or append the node named name (source recorded on creation). */
struct kt_dp_node *kt_dpbuild_node(struct kt_snapshot *snap, const char *name, const char *source);
/* Append a service to node n; strings are interned into snap's arena. */
struct kt_dp_service *kt_dpbuild_svc(struct kt_snapshot *snap, struct kt_dp_node *n, const char *ns,
				 const char *name, const char *port_name, const char *proto,
				 enum kt_dp_mode mode);
struct kt_dp_frontend *kt_dpbuild_fe(struct kt_snapshot *snap, struct kt_dp_service *s, enum kt_fe_kind k,
				 const char *ip, int32_t port, bool external);
struct kt_dp_backend *kt_dpbuild_be(struct kt_snapshot *snap, struct kt_dp_service *s, bool external,
				const char *ip, int32_t port, double prob);
void kt_dpbuild_ev(struct kt_snapshot *snap, struct kt_dp_service *s, enum kt_dp_mode m, const char *table,
	       const char *chain, uint64_t handle, const char *map_key);
void kt_dpbuild_note(struct kt_snapshot *snap, struct kt_dp_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A note on one service: what its rules leave unknown, with the evidence. */
void kt_dpbuild_svc_note(struct kt_snapshot *snap, struct kt_dp_service *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The frontend of s with this kind, address and port (NULL none). A
 * pointer into s->fe: valid until the next kt_dpbuild_fe() on s. */
struct kt_dp_frontend *kt_dpbuild_fe_find(struct kt_dp_service *s, enum kt_fe_kind k, const char *ip, int32_t port);
/* Reject / drop on a frontend (the first non-forward verdict stays). */
void kt_dpbuild_fe_action(struct kt_snapshot *snap, struct kt_dp_frontend *f, enum kt_dp_action a,
			  const char *reason);
/* An allowed source range on frontend f of s (also into s's union). */
void kt_dpbuild_fe_range(struct kt_snapshot *snap, struct kt_dp_service *s, struct kt_dp_frontend *f,
			 const char *cidr);
/* The service of node n with this identity and mode (NULL none). */
struct kt_dp_service *kt_dpbuild_find(struct kt_dp_node *n, const char *ns, const char *name, const char *port_name,
				      const char *proto, enum kt_dp_mode mode);
/* Split "ns/name:port" (kube-proxy servicePortName). false when malformed. */
bool kt_dp_split_spn(const char *spn, size_t len, char *ns, size_t nsz, char *name, size_t namesz,
		     char *port, size_t portsz);
/* Snap the chained-statistic probability to 1/k when it is within the
 * kernel's rounding of one. */
double kt_dp_snap_prob(double p);
/* Group services without names (IPVS, Cilium) by backend set and resolve
 * names from snap->services when present (works before finish). */
void kt_dp_resolve_names(struct kt_snapshot *snap, struct kt_dp_node *n, uint32_t first_svc);
/* The API Service port a frontend belongs to (by ClusterIP/externalIP/LB IP
 * and port, or NodePort / health-check port). */
bool kt_dp_resolve_fe(const struct kt_snapshot *snap, const struct kt_dp_frontend *f, const char *proto,
		      uint32_t *svc, uint32_t *port);

/* ---- hashing -------------------------------------------------------- */

void kt_sha256(const void *data, size_t len, uint8_t out[32]);
/* kube-proxy h16: first n chars of base32(SHA-256(s)); out has n+1 bytes. */
void kt_dp_hash_b32(const char *s, char *out, size_t n);

/* ---- kube-proxy iptables rule IR ------------------------------------ */

enum kt_ipt_verdict {
	KT_IPT_NONE,
	KT_IPT_JUMP,
	KT_IPT_GOTO,
	KT_IPT_RETURN,
	KT_IPT_ACCEPT,
	KT_IPT_DROP,
	KT_IPT_REJECT,
	KT_IPT_DNAT,
	KT_IPT_MASQ,
	KT_IPT_MARK,
	KT_IPT_OTHER,
};

#define KT_RECENT_CHECK 1
#define KT_RECENT_SET   2

struct kt_ipt_rule {
	uint64_t handle;         /* nft rule handle, or 1-based line number for text */
	const char *comment;     /* points into the caller's buffer (valid for the call) */
	size_t comment_len;
	char src[48];            /* "10.0.0.0/16" or "" */
	bool src_neg;
	char dst[48];
	bool dst_neg;
	uint8_t proto;           /* 0 any */
	int32_t dport;           /* 0 none */
	bool has_prob;
	double prob;
	uint8_t recent;          /* KT_RECENT_* */
	int32_t recent_seconds;
	bool src_local;          /* -m addrtype --src-type LOCAL */
	bool dst_local;          /* -m addrtype --dst-type LOCAL */
	bool iif;                /* -i IFACE (src_neg: ! -i): a local-traffic detector */
	bool nfacct;
	bool mark_match;
	enum kt_ipt_verdict verdict;
	const char *target;      /* jump/goto chain; caller's buffer */
	size_t target_len;
	char dnat_ip[48];
	int32_t dnat_port;
	bool random_fully;
};

struct kt_kpnorm;                /* the kube-proxy iptables normaliser */

struct kt_kpnorm *kt_kpnorm_new(struct kt_snapshot *snap, enum kt_dp_mode mode);
/* table "nat" or "filter"; family 4 or 6; chain name (not NUL-terminated). */
void kt_kpnorm_rule(struct kt_kpnorm *kp, const char *table, const char *chain, size_t chain_len,
		const struct kt_ipt_rule *r);
void kt_kpnorm_chain(struct kt_kpnorm *kp, const char *table, const char *chain, size_t chain_len);
/* Table name recorded in evidence ("nat" default, "ip6 nat" for IPv6;
 * the filter table's follows: "filter" / "ip6 filter"). */
void kt_kpnorm_table_name(struct kt_kpnorm *kp, const char *name);
/* Number of KUBE-* nat chains seen so far. */
uint32_t kt_kpnorm_kube_chains(const struct kt_kpnorm *kp);
/* Build services into node n; frees kp. */
void kt_kpnorm_finish(struct kt_kpnorm *kp, struct kt_dp_node *n, const struct kt_node_opts *o);
void kt_kpnorm_free(struct kt_kpnorm *kp);
/* Is this chain one the normaliser needs (filtering the live dump)? */
bool kt_kpnorm_wants_chain(const char *table, const char *chain);
/* The filter-table chains kube-proxy writes its REJECT / DROP / ACCEPT
 * rules into (NULL-terminated). */
extern const char *const kt_kpnorm_filter_chains[];

/* iptables-save text: stream lines from f into kp. Errors are KT_EXIT_INPUT
 * with file:line. */
struct kt_kpnorm_file_stats {
	uint32_t lines;
	bool legacy_header;      /* "(legacy)" seen in the header comment */
	bool nft_header;
};
int kt_ipt_save_parse(struct kt_kpnorm *kp, void *file /* FILE * */, const char *fname,
		      struct kt_kpnorm_file_stats *st, struct kt_diag *d);
/* Parse one "-A CHAIN ..." line (exposed for unit tests and fuzzing). */
int kt_ipt_parse_line(char *line, char **chain, struct kt_ipt_rule *r);

/* ---- collectors ----------------------------------------------------- */

/* Live iptables-nft (libnftnl per chain). Returns the number of KUBE-*
 * chains found (0 none), negative on hard error (gap recorded). */
int kt_dp_iptables_nft(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o);
/* Live iptables-legacy (runs iptables-legacy-save -t nat). */
int kt_dp_iptables_legacy(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o);
int kt_dp_iptables_file(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o,
			struct kt_diag *d);
/* nftables mode: live (libnftnl) and `nft -j list ruleset` file. */
int kt_dp_nftables(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o);
int kt_dp_nft_json_file(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o,
			struct kt_diag *d);
int kt_dp_nft_json_mem(struct kt_snapshot *snap, struct kt_dp_node *n, const char *buf, size_t len,
		       const char *name, struct kt_diag *d);
/* IPVS: live generic netlink, `ipvsadm-save -n` text. */
int kt_dp_ipvs(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o);
int kt_dp_ipvsadm_file(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o,
		       struct kt_diag *d);
int kt_dp_ipvsadm_mem(struct kt_snapshot *snap, struct kt_dp_node *n, const char *buf, size_t len,
		      const char *name, struct kt_diag *d);
/* Decode a buffer of IPVS genl messages (services then dests, as recorded
 * from a dump). Used by the live path, tests and fuzzing. */
struct kt_ipvs_state;
struct kt_ipvs_state *kt_ipvs_state_new(void);
int kt_ipvs_decode(struct kt_ipvs_state *st, const void *buf, size_t len, uint16_t family_id);
void kt_ipvs_emit(struct kt_ipvs_state *st, struct kt_snapshot *snap, struct kt_dp_node *n);
void kt_ipvs_state_free(struct kt_ipvs_state *st);
/* IPVS mode's kube-ipvs0 addresses and kube-proxy ipsets
 * (collectors/dp_ipset.c). */
struct kt_ipset_db;
struct kt_ipset_db *kt_ipset_db_new(void);
void kt_ipset_db_free(struct kt_ipset_db *db);
/* Decode raw IPSET_CMD_LIST replies / RTM_NEWLINK+RTM_NEWADDR messages
 * (a buffer of nlmsghdr-framed messages). -1 on a malformed frame. */
int kt_ipset_decode(struct kt_ipset_db *db, const void *buf, size_t len);
int kt_rtaddr_decode(struct kt_ipset_db *db, const void *buf, size_t len, const char *ifname);
/* Live (or replayed) dumps; gaps recorded in snap. The ipsets (KUBE-*
 * only) are dumped when sets is true or kube-ipvs0 exists. */
int kt_ipset_read(struct kt_snapshot *snap, struct kt_ipset_db *db, bool sets);
bool kt_ipset_has(const struct kt_ipset_db *db, const char *set, const char *key);
uint32_t kt_ipset_count(const struct kt_ipset_db *db, const char *set);
uint32_t kt_ipset_members(const struct kt_ipset_db *db, const char *set, const char **out, uint32_t max);
const char *kt_ipset_type(const struct kt_ipset_db *db, const char *set);
bool kt_ipset_bound(const struct kt_ipset_db *db, const char *ip);
bool kt_ipset_link(const struct kt_ipset_db *db);
/* Fold bound VIPs, Local policy, masquerade, LB source ranges and
 * health-check ports into the IPVS services n->svcs[first..]. */
void kt_ipset_fold(struct kt_snapshot *snap, struct kt_dp_node *n, uint32_t first, const struct kt_ipset_db *db);
/* Cilium pinned maps under bpffs (o->bpffs). */
int kt_dp_cilium(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o);
/* Decode Cilium map entries (tests/fuzzing): services map key/value pairs
 * and backends; sizes select the layout. */
struct kt_cil_state;
struct kt_cil_state *kt_cil_state_new(void);
int kt_cil_add_service(struct kt_cil_state *st, bool v6, const void *key, size_t klen, const void *val,
		       size_t vlen);
int kt_cil_add_backend(struct kt_cil_state *st, bool v6, const void *key, size_t klen, const void *val,
		       size_t vlen);
/* Maglev lookup table of one service (inner array value of
 * cilium_lb{4,6}_maglev; revnat in host order): u32 backend ids. */
int kt_cil_add_maglev(struct kt_cil_state *st, bool v6, uint16_t revnat, const void *lut, size_t len);
/* cilium_lb{4,6}_affinity entries and cilium_lb_affinity_match keys. */
int kt_cil_add_affinity(struct kt_cil_state *st, bool v6, const void *key, size_t klen, const void *val,
			size_t vlen);
int kt_cil_add_affinity_match(struct kt_cil_state *st, const void *key, size_t klen);
void kt_cil_emit(struct kt_cil_state *st, struct kt_snapshot *snap, struct kt_dp_node *n, const char *svc_map);
void kt_cil_state_free(struct kt_cil_state *st);
/* kube-proxy metrics (Prometheus text). */
int kt_dp_metrics(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o);
int kt_dp_metrics_parse(struct kt_snapshot *snap, struct kt_proxy_metrics *m, const char *buf, size_t len);

/* ---- nf_tables access shared by iptables-nft and nftables mode ------- */
/* (collectors/dp_nftnl.c; libnftnl types stay inside that file) */

struct kt_nft_rule {
	struct kt_ipt_rule ipt;  /* matches, verdict, DNAT: the iptables view */
	char comment[256];
	char target[256];
	char lookup_set[128];    /* set/map a lookup expression used (the last one) */
	char daddr_set[128];     /* a plain `ip daddr @set` lookup (e.g. nodeport-ips) */
	uint8_t lookup_key;      /* KT_NFT_KEY_* */
	bool lookup_vmap;        /* verdict map */
	bool lookup_inv;
	uint32_t numgen_mod;
	bool fib_saddr_local;
	bool fib_daddr_local;
	bool set_mark;           /* meta mark set ... (mark-for-masquerade) */
	bool dynset;             /* update @set { ip saddr } (affinity) */
};

#define KT_NFT_KEY_OTHER   0
#define KT_NFT_KEY_DADDR   1 /* ip daddr [. l4proto . dport] */
#define KT_NFT_KEY_SADDR   2
#define KT_NFT_KEY_NUMGEN  3
#define KT_NFT_KEY_L4PORT  4 /* meta l4proto . th dport */

struct kt_nft_elem {
	const uint8_t *key;
	uint32_t key_len;
	int32_t verdict;         /* NFT_JUMP/NFT_GOTO/NF_ACCEPT/...; 1<<30 when none */
	const char *chain;       /* verdict chain or NULL */
	uint32_t flags;          /* NFT_SET_ELEM_* (INTERVAL_END) */
	char comment[256];       /* element comment (userdata), "" none */
};

struct kt_nft_set_info {
	const char *name;
	uint32_t flags;          /* NFT_SET_* */
	uint32_t key_len;
	uint64_t timeout_ms;
};

int kt_nft_tables(struct kt_nl *nl, uint8_t family, const char *table, bool *exists, char *err, size_t el);
int kt_nft_chains(struct kt_nl *nl, uint8_t family, const char *table,
		  int (*cb)(const char *name, bool base, void *ctx), void *ctx, char *err, size_t el);
/* Rules of one chain, decoded; cb gets each rule after the dump completed
 * (a DUMP_INTR restart never delivers a rule twice). */
int kt_nft_rules(struct kt_nl *nl, uint8_t family, const char *table, const char *chain,
		 int (*cb)(const struct kt_nft_rule *r, void *ctx), void *ctx, char *err, size_t el);
/* The same, every rule of the chain in one call (no copy per rule). */
int kt_nft_rules_all(struct kt_nl *nl, uint8_t family, const char *table, const char *chain,
		     void (*cb)(const struct kt_nft_rule *v, uint32_t n, void *ctx), void *ctx, char *err, size_t el);
int kt_nft_sets(struct kt_nl *nl, uint8_t family, const char *table,
		int (*cb)(const struct kt_nft_set_info *s, void *ctx), void *ctx, char *err, size_t el);
int kt_nft_elems(struct kt_nl *nl, uint8_t family, const char *table, const char *set,
		 int (*cb)(const struct kt_nft_elem *e, void *ctx), void *ctx, char *err, size_t el);
/* Decode a raw NFT_MSG_NEWRULE message (tests/fuzzing); family 2 or 10. */
int kt_nft_decode_rule_msg(const void *nlh, uint8_t family, struct kt_nft_rule *out);
/* Decode xtables compat match/target payloads into r. */
void kt_xt_match(struct kt_ipt_rule *r, const char *name, uint32_t rev, const void *info, size_t len,
		 char *comment, size_t csz);
void kt_xt_target(struct kt_ipt_rule *r, const char *name, uint32_t rev, const void *info, size_t len,
		  uint8_t family);

#endif
