/*
 * Live iptables-nft state: kube-proxy's chains in the nf_tables tables
 * `ip nat` / `ip6 nat` (and the health-check rules of `filter
 * KUBE-NODEPORTS`) as iptables-nft wrote them. Lists the chains, then
 * dumps the rules of each KUBE-* chain separately (measured faster than a
 * table-wide dump for big rule sets) and streams the decoded rules
 * (collectors/dp_nftnl.c) into the kube-proxy normaliser.
 * Must not: write to netfilter, print, judge.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>

#include "collectors/dp_internal.h"
#include "ktrace/arena.h"

struct names {
	char **v;
	uint32_t n, cap;
};

static int collect_chain(const char *name, bool base, void *ctx)
{
	struct names *ns = ctx;
	if (strncmp(name, "KUBE-", 5) != 0)
		return 0;
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 256;
		ns->v = realloc(ns->v, ns->cap * sizeof(*ns->v));
		if (!ns->v)
			abort();
	}
	ns->v[ns->n] = strdup(name);
	if (!ns->v[ns->n])
		abort();
	ns->n++;
	return 0;
}

static void names_free(struct names *ns)
{
	for (uint32_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
	memset(ns, 0, sizeof(*ns));
}

struct feed {
	struct kt_kp *kp;
	const char *table;
	const char *chain;
};

static int feed_rule(const struct kt_nft_rule *r, void *ctx)
{
	struct feed *f = ctx;
	kt_kp_rule(f->kp, f->table, f->chain, strlen(f->chain), &r->ipt);
	return 0;
}

static int read_family(struct kt_nl *nl, struct kt_snapshot *snap, struct kt_dp_node *n,
		       const struct kt_node_opts *o, uint8_t family)
{
	char err[512];
	bool exists = false;
	const char *fam = family == 10 ? "ip6" : "ip";
	if (kt_nft_tables(nl, family, "nat", &exists, err, sizeof(err)) < 0) {
		kt_snapshot_gap(snap, "iptables-nft nat table", "%s", err);
		return -1;
	}
	if (!exists)
		return 0;
	struct names ns = {0};
	int rc = kt_nft_chains(nl, family, "nat", collect_chain, &ns, err, sizeof(err));
	if (rc < 0) {
		kt_snapshot_gap(snap, "iptables-nft chains", "%s nat: %s", fam, err);
		names_free(&ns);
		return -1;
	}
	if (ns.n == 0) {
		names_free(&ns);
		return 0;
	}
	struct kt_kp *kp = kt_kp_new(snap, KT_DP_IPTABLES_NFT);
	struct feed f = {kp, "nat", NULL};
	for (uint32_t i = 0; i < ns.n; i++) {
		kt_kp_chain(kp, "nat", ns.v[i], strlen(ns.v[i]));
		/* KUBE-MARK-MASQ and canaries carry nothing the normaliser needs */
		if (strcmp(ns.v[i], "KUBE-MARK-MASQ") == 0 || strstr(ns.v[i], "CANARY"))
			continue;
		f.chain = ns.v[i];
		rc = kt_nft_rules(nl, family, "nat", ns.v[i], feed_rule, &f, err, sizeof(err));
		if (rc < 0 && rc != -ENOENT) {
			kt_snapshot_gap(snap, "iptables-nft rules", "%s nat %s: %s", fam, ns.v[i], err);
		} else if (rc > 0) {
			kt_snapshot_gap(snap, "iptables-nft rules", "%s nat: %s", fam, err);
		}
	}
	uint32_t found = ns.n;
	names_free(&ns);
	/* health-check node ports live in filter KUBE-NODEPORTS */
	f.table = "filter";
	f.chain = "KUBE-NODEPORTS";
	kt_nft_rules(nl, family, "filter", "KUBE-NODEPORTS", feed_rule, &f, err, sizeof(err));
	kt_kp_finish(kp, n, o);
	return (int)found;
}

int kt_dp_iptables_nft(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	char err[512];
	struct kt_nl *nl = kt_nl_open(NETLINK_NETFILTER, err, sizeof(err));
	if (!nl) {
		kt_snapshot_gap(snap, "iptables-nft rules", "%s", err);
		return -1;
	}
	int total = 0;
	int r4 = read_family(nl, snap, n, o, 2);
	int r6 = read_family(nl, snap, n, o, 10);
	if (r4 > 0)
		total += r4;
	if (r6 > 0)
		total += r6;
	kt_nl_close(nl);
	return total;
}
