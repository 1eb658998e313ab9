/*
 * Internal to the kube-proxy iptables normaliser (dp_kpnorm.c: rule
 * intake, chain table, groups and names; dp_kpwalk.c: frontends, the
 * path each frontend's packets take through the chains, and the services
 * built from them). Nothing here is visible outside these two files and
 * their unit tests.
 */
#ifndef KT_COLLECTORS_DP_KPNORM_H
#define KT_COLLECTORS_DP_KPNORM_H

#include "collectors/dataplane/dp_internal.h"

enum kc_kind {
	KC_OTHER,
	KC_SVC,                  /* KUBE-SVC-<h>: cluster-policy endpoints */
	KC_SVL,                  /* KUBE-SVL-<h>: local-policy endpoints (v1.24+) */
	KC_EXT,                  /* KUBE-EXT-<h>: external entry (v1.24+) */
	KC_FW,                   /* KUBE-FW-<h>: LB source-range firewall */
	KC_XLB,                  /* KUBE-XLB-<h>: Local policy before v1.24 */
	KC_SEP,
	KC_SERVICES,
	KC_NODEPORTS,
	KC_POSTROUTING,
	KC_MARKMASQ,
	KC_MARKDROP,             /* KUBE-MARK-DROP (kubelet; used before v1.24) */
	KC_F_SERVICES,           /* filter KUBE-SERVICES: ClusterIP REJECT / DROP */
	KC_F_EXTSERVICES,        /* filter KUBE-EXTERNAL-SERVICES */
	KC_F_NODEPORTS,          /* filter KUBE-NODEPORTS */
	KC_F_FIREWALL,           /* filter KUBE-PROXY-FIREWALL */
};

struct kp_chain;

struct kp_rule {
	uint64_t handle;
	const char *comment;     /* arena, only where needed */
	const char *dst;         /* interned "ip/len" or NULL */
	const char *src;         /* interned, positive -s of FW chains; NULL */
	struct kp_chain *target;
	double prob;
	int32_t dport;
	int32_t recent_seconds;
	uint8_t proto;
	uint8_t verdict;
	uint8_t recent;
	bool has_prob;
	bool src_cond;           /* -s / -i (either sign), or --src-type LOCAL */
	bool src_neg;            /* ! -s / ! -i: matches clients from outside */
	bool src_local;
	bool dst_neg;
	bool dst_local;          /* -m addrtype --dst-type LOCAL */
	bool local_only_dst;     /* -d 127.0.0.0/8 twin or nfacct */
};

struct kp_chain {
	const char *name;        /* "filter:" prefix for filter chains */
	uint8_t kind;
	char hash[17];
	struct kp_rule *r;       /* malloc'd */
	uint32_t n_r, cap_r;
	/* SEP */
	const char *dnat_ip;
	int32_t dnat_port;
	uint64_t dnat_handle;
	uint8_t dnat_proto;
	const char *sep_comment;
	bool in_local;           /* reached from an SVL or XLB chain */
	uint32_t group;          /* finish: group index */
};

struct kp_group {
	char hash[17];
	struct kp_chain *svc, *svl, *ext, *fw, *xlb;
	const char *spn;         /* arena */
	uint8_t proto;
	bool resolved;
};

struct kt_kpnorm {
	struct kt_snapshot *snap;
	enum kt_dp_mode mode;
	struct kp_chain **tab;   /* open addressing, malloc'd */
	uint32_t n_tab, cap_tab;
	uint32_t kube_chains;
	bool capped;
	bool filter_seen;        /* a filter-table chain of kube-proxy's was read */
	const char *table_name;  /* "nat" / "ip6 nat" */
	const char *filter_name; /* "filter" / "ip6 filter" */
};

/* group table: hash -> group */
struct gtab {
	struct kp_group *g;
	uint32_t n, cap;
	uint32_t *ix;            /* open addressing of group indices */
	uint32_t icap;
};

/* One frontend as a rule shows it: a nat jump into a group, or a filter
 * REJECT/DROP for a Service port without (local) endpoints. */
struct fe_ref {
	uint32_t group;
	enum kt_fe_kind kind;
	bool kind_guessed;
	const char *ip;          /* interned; "" for NodePorts on every address */
	int32_t port;
	uint8_t proto;
	uint64_t handle;
	const char *chain;       /* chain of the rule (evidence) */
	const char *table;       /* table of the rule (evidence) */
	struct kp_chain *front;  /* nat chain holding the rule (KUBE-SERVICES / -NODEPORTS) */
	uint32_t rix;            /* index of the rule in front */
	struct kp_chain *target; /* chain the rule jumps to; NULL for filter facts */
	enum kt_dp_action action;
	const char *reason;
};

/* State of one kt_kpnorm_finish(). */
struct kp_finish {
	struct gtab gt;
	struct kp_chain *services, *nodeports, *postrouting;
	struct kp_chain *f_services, *f_ext, *f_nodeports, *f_firewall;
	struct fe_ref *fes;
	uint32_t n_fes, cap_fes;
	uint32_t *fe_first;      /* frontends of group gi: order[fe_first[gi] .. fe_first[gi + 1]) */
	uint32_t *order;
	uint64_t masq_handle;    /* KUBE-POSTROUTING's MASQUERADE rule */
	const char **np_addrs;   /* addresses KUBE-SERVICES sends to KUBE-NODEPORTS;
				  * n_np_addrs == 0: every local address */
	uint32_t n_np_addrs;
	bool np_all;
	bool np_seen;            /* a KUBE-SERVICES -> KUBE-NODEPORTS rule was read */
};

uint32_t kp_group_find(struct gtab *t, const char *hash, bool create);
struct fe_ref *kp_fe_add(struct kp_finish *f);
void kp_group_spn(struct kt_kpnorm *kp, struct kp_group *g, const char *spn, size_t n);
const char *kp_proto_name(uint8_t p);
const char *kp_proto_lc(uint8_t p);
/* "<spn> has no endpoints" etc.: the spn's length, or 0 */
size_t kp_filter_spn(const char *comment, const char **reason, enum kt_dp_action *a);

/* dp_kpwalk.c */
void kp_collect_frontends(struct kt_kpnorm *kp, struct kp_finish *f);
void kp_index_frontends(struct kp_finish *f);
void kp_emit_group(struct kt_kpnorm *kp, struct kp_finish *f, uint32_t gi, struct kt_dp_node *n,
		   const struct kt_node_opts *o);

#endif
