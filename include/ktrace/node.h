/*
 * Node-local collectors: the dataplane (iptables-nft via libnftnl,
 * iptables-legacy, nftables, IPVS via generic netlink, Cilium BPF maps,
 * kube-proxy metrics) and flows (conntrack, inet_diag, Cilium CT map).
 * Each appends one struct kt_dp_node / kt_flow_sample to the snapshot and
 * records gaps for what it could not read. Read-only: dump requests only.
 */
#ifndef KTRACE_NODE_H
#define KTRACE_NODE_H

#include <stdbool.h>

#include "ktrace/diag.h"
#include "ktrace/model.h"

struct kt_node_opts {
	const char *node_name;        /* name to record; NULL -> this host's name */
	const char *bpffs;            /* BPF filesystem root; NULL -> /sys/fs/bpf */
	const char *iptables_save;    /* read this iptables-save text instead of the kernel */
	const char *nft_json;         /* read this `nft -j list ruleset` instead */
	/* the text of those dumps already in memory (the names above still
	 * label them): read instead of the files (trace: the rules it loads) */
	const char *iptables_save_text;
	size_t iptables_save_len;
	const char *nft_json_text;
	size_t nft_json_len;
	const char *ipvsadm;          /* read this `ipvsadm-save -n` text instead */
	const char *metrics_url;      /* kube-proxy metrics; NULL -> http://127.0.0.1:10249 */
	bool no_metrics;
	bool want_svc_filter;         /* only Services below (speed) */
	const char *svc_namespace;
	const char *svc_name;
};

/* Dataplane of this node (or the given dumps). Appends to snap->dp.
 * Returns 0 even when nothing was readable (gaps say why); negative with d
 * for malformed dump files (KT_EXIT_INPUT) or unreadable files. */
int kt_dp_collect(struct kt_snapshot *snap, const struct kt_node_opts *o, struct kt_diag *d);

/* True when this process can read node state (root or CAP_NET_ADMIN, or a
 * recording is being replayed). The one capability check: defined by the
 * source layer (collectors/source_node.c). */
bool kt_node_readable(void);

/* One flow sample of this node. Appends to snap->flows. */
int kt_flows_collect(struct kt_snapshot *snap, const struct kt_node_opts *o, struct kt_diag *d);

#endif
