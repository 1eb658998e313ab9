/*
 * kt_dp_collect(): one node's dataplane, whatever programmed it. Either the
 * saved dumps named in the options (iptables-save text, `nft -j list
 * ruleset`, `ipvsadm-save -n`), or the live kernel of this host: iptables
 * (nft and legacy backends), nftables mode, IPVS, Cilium's pinned BPF maps
 * and kube-proxy's metrics. Every reader records what it could not read as
 * a snapshot gap; only malformed dump files are errors.
 * Must not: print, judge, or write to the kernel.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"

/* With API objects at hand (a finished snapshot from the API or a bundle),
 * a backend is local when its EndpointSlice endpoint names this node. */
static void mark_local(struct kt_snapshot *snap, struct kt_dp_node *n)
{
	if (!snap->finished || !snap->n_endpoints)
		return;
	for (uint32_t i = 0; i < n->n_svcs; i++) {
		struct kt_dp_service *s = &n->svcs[i];
		uint32_t si = kt_find_service(snap, s->namespace, s->name);
		if (si == KT_NONE)
			continue;
		const struct kt_service *sv = &snap->services[si];
		struct kt_dp_backend *sets[2] = {s->be, s->ext_be};
		uint32_t cnt[2] = {s->n_be, s->n_ext_be};
		for (int k = 0; k < 2; k++)
			for (uint32_t b = 0; b < cnt[k]; b++)
				for (uint32_t e = 0; e < sv->ep_count; e++) {
					const struct kt_endpoint *ep = &snap->endpoints[sv->ep_first + e];
					if (ep->port == sets[k][b].port && ep->ip && !strcmp(ep->ip, sets[k][b].ip)) {
						if (ep->node && !strcmp(ep->node, n->node))
							sets[k][b].local = true;
						break;
					}
				}
	}
}

/* nftables mode sends LoadBalancer IPs and externalIPs through the same
 * map entry, filter rules name neither, and IPVS virtual services carry no
 * kind at all: the API objects tell them apart exactly. */
static void exact_kinds(struct kt_snapshot *snap, struct kt_dp_node *n)
{
	if (!snap->n_services || !snap->finished)
		return;
	for (uint32_t i = 0; i < n->n_svcs; i++) {
		struct kt_dp_service *s = &n->svcs[i];
		uint32_t si = kt_find_service(snap, s->namespace, s->name);
		if (si == KT_NONE)
			continue;
		const struct kt_service *sv = &snap->services[si];
		for (uint32_t k = 0; k < s->n_fe; k++) {
			struct kt_dp_frontend *f = &s->fe[k];
			if (f->kind != KT_FE_EXTERNAL && !f->kind_guessed)
				continue;
			int kind = -1;
			for (uint32_t g = 0; g < sv->n_cluster_ips && kind < 0; g++)
				if (!strcmp(sv->cluster_ips[g], f->ip))
					kind = KT_FE_CLUSTERIP;
			for (uint32_t g = 0; g < sv->n_external_ips && kind < 0; g++)
				if (!strcmp(sv->external_ips[g], f->ip))
					kind = KT_FE_EXTERNALIP;
			for (uint32_t g = 0; g < sv->n_ingress && kind < 0; g++)
				if (sv->ingress[g].ip && !strcmp(sv->ingress[g].ip, f->ip))
					kind = KT_FE_LOADBALANCER;
			if (kind < 0)
				continue;
			f->kind = (enum kt_fe_kind)kind;
			f->kind_guessed = false;
		}
	}
}

static void ipvs_node_objects(struct kt_snapshot *snap, struct kt_dp_node *n, uint32_t first)
{
	struct kt_ipset_db *db = kt_ipset_db_new();
	bool ipvs = false;
	for (uint32_t i = first; i < n->n_svcs && !ipvs; i++)
		ipvs = n->svcs[i].mode == KT_DP_IPVS;
	kt_ipset_read(snap, db, ipvs);
	kt_ipset_fold(snap, n, first, db);
	kt_ipset_db_free(db);
}

int kt_dp_collect(struct kt_snapshot *snap, const struct kt_node_opts *o, struct kt_diag *d)
{
	char hn[256];
	const char *name = o->node_name ? o->node_name : kt_nl_host_name(hn, sizeof(hn));
	bool files = o->iptables_save || o->nft_json || o->ipvsadm;
	if (files) {
		char src[1024] = "";
		size_t off = 0;
		if (o->iptables_save)
			off += (size_t)snprintf(src + off, sizeof(src) - off, "iptables-save %s ", o->iptables_save);
		if (o->nft_json && off < sizeof(src))
			off += (size_t)snprintf(src + off, sizeof(src) - off, "nft-json %s ", o->nft_json);
		if (o->ipvsadm && off < sizeof(src))
			off += (size_t)snprintf(src + off, sizeof(src) - off, "ipvsadm %s ", o->ipvsadm);
		if (off && off <= sizeof(src) && src[off - 1] == ' ')
			src[off - 1] = 0;
		struct kt_dp_node *n = kt_dpbuild_node(snap, name, src);
		uint32_t first = n->n_svcs;
		int rc = 0;
		if (o->iptables_save && (rc = kt_dp_iptables_file(snap, n, o, d)) < 0)
			return rc;
		/* kt_dpbuild_node may move when other nodes were appended; re-find */
		n = kt_dpbuild_node(snap, name, src);
		if (o->nft_json && (rc = kt_dp_nft_json_file(snap, n, o, d)) < 0)
			return rc;
		uint32_t first_ipvs = n->n_svcs;
		if (o->ipvsadm && (rc = kt_dp_ipvsadm_file(snap, n, o, d)) < 0)
			return rc;
		/* the IPVS table may come from a file; kube-ipvs0 and the ipsets
		 * are read from this host's kernel (or a recording) when readable */
		if (o->ipvsadm && kt_node_readable())
			ipvs_node_objects(snap, n, first_ipvs);
		kt_dp_resolve_names(snap, n, first);
		mark_local(snap, n);
		exact_kinds(snap, n);
		return 0;
	}
	struct kt_dp_node *n = kt_dpbuild_node(snap, name, "live");
	if (!kt_node_readable()) {
		kt_snapshot_gap(snap, "node dataplane", "not root and no CAP_NET_ADMIN: cannot read netfilter, IPVS or BPF maps");
		return 0;
	}
	int legacy = kt_dp_iptables_legacy(snap, n, o);
	int nft = kt_dp_iptables_nft(snap, n, o);
	if (legacy > 0 && nft > 0)
		kt_dpbuild_note(snap, n,
			    "kube-proxy chains exist in both iptables-nft and iptables-legacy: both are evaluated; "
			    "the stale set may forward to old endpoints");
	kt_dp_nftables(snap, n, o);
	uint32_t first = n->n_svcs;
	kt_dp_ipvs(snap, n, o);
	ipvs_node_objects(snap, n, first);
	/* a replay reads only the recording: BPF maps only from an explicit
	 * --bpffs, no kube-proxy metrics */
	bool rp = kt_nl_replay_dir() != NULL;
	if (!rp || o->bpffs)
		kt_dp_cilium(snap, n, o);
	kt_dp_resolve_names(snap, n, first);
	mark_local(snap, n);
	exact_kinds(snap, n);
	if (!o->no_metrics && !rp)
		kt_dp_metrics(snap, n, o);
	return 0;
}
