/*
 * Live iptables-nft state: kube-proxy's chains in the nf_tables tables
 * `ip nat` / `ip6 nat` and its filter chains (KUBE-SERVICES,
 * KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS, KUBE-PROXY-FIREWALL of `ip
 * filter` / `ip6 filter`: rejected and dropped Service ports, the LB
 * firewall, health-check node ports) as iptables-nft wrote them. Lists the chains, then
 * dumps the rules of each KUBE-* chain separately (measured faster than a
 * table-wide dump for big rule sets) and streams the decoded rules
 * (collectors/dp_nftnl.c) into the kube-proxy normaliser.
 * Must not: write to netfilter, print, judge.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <unistd.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"
#include "ktrace/env.h"
#include "ktrace/xalloc.h"

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
		ns->v = kt_xreallocarray(ns->v, ns->cap, sizeof(*ns->v));
	}
	ns->v[ns->n++] = kt_xstrdup(name);
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
	struct kt_kpnorm *kp;
	const char *table;
	const char *chain;
	pthread_mutex_t *lock;   /* guards kp (its arena) across dump threads */
};

static int feed_rule(const struct kt_nft_rule *r, void *ctx)
{
	struct feed *f = ctx;
	kt_kpnorm_rule(f->kp, f->table, f->chain, strlen(f->chain), &r->ipt);
	return 0;
}

/* Per-chain dumps cost one request and two replies each; with tens of
 * thousands of chains the time is syscall-bound, so a few threads (one
 * netlink socket each) share the chain list. Decoding runs in parallel;
 * feeding the normaliser is serialised per chain, which keeps rule order. */
#define MAX_THREADS 4
#define WORK_BATCH 32

struct worker {
	pthread_t tid;
	struct names *ns;
	uint32_t *next;          /* shared work index: chains are taken in batches */
	uint8_t family;
	struct kt_kpnorm *kp;
	pthread_mutex_t *lock;
	char err[512];
	char failed_chain[256];
	int rc;
};

struct chain_feed {
	struct worker *w;
	const char *chain;
};

/* One chain's decoded rules into the normaliser, under the lock, in order. */
static void feed_chain(const struct kt_nft_rule *v, uint32_t n, void *ctx)
{
	struct chain_feed *cf = ctx;
	size_t l = strlen(cf->chain);
	pthread_mutex_lock(cf->w->lock);
	for (uint32_t k = 0; k < n; k++)
		kt_kpnorm_rule(cf->w->kp, "nat", cf->chain, l, &v[k].ipt);
	pthread_mutex_unlock(cf->w->lock);
}

static void dump_chain(struct worker *w, struct kt_nl *nl, uint32_t i);

static void *work(void *arg)
{
	struct worker *w = arg;
	char err[512];
	struct kt_nl *nl = kt_nl_open(NETLINK_NETFILTER, NULL, err, sizeof(err));
	if (!nl) {
		snprintf(w->err, sizeof(w->err), "%s", err);
		w->rc = -1;
		return NULL;
	}
	for (;;) {
		/* dynamic sharing: a thread that gets less CPU simply takes fewer chains */
		uint32_t start = __atomic_fetch_add(w->next, WORK_BATCH, __ATOMIC_RELAXED);
		if (start >= w->ns->n)
			break;
		uint32_t end = start + WORK_BATCH < w->ns->n ? start + WORK_BATCH : w->ns->n;
		for (uint32_t i = start; i < end; i++)
			dump_chain(w, nl, i);
	}
	kt_nl_close(nl);
	return NULL;
}

static void dump_chain(struct worker *w, struct kt_nl *nl, uint32_t i)
{
	char err[512];
	const char *ch = w->ns->v[i];
	if (strcmp(ch, "KUBE-MARK-MASQ") == 0 || strstr(ch, "CANARY"))
		return;
	struct chain_feed cf = {w, ch};
	int rc = kt_nft_rules_all(nl, w->family, "nat", ch, feed_chain, &cf, err, sizeof(err));
	if (rc < 0 && rc != -ENOENT && !w->rc) {
		w->rc = rc;
		snprintf(w->err, sizeof(w->err), "%s", err);
		snprintf(w->failed_chain, sizeof(w->failed_chain), "%s", ch);
	}
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
	struct kt_kpnorm *kp = kt_kpnorm_new(snap, KT_DP_IPTABLES_NFT);
	if (family == 10)
		kt_kpnorm_table_name(kp, "ip6 nat");
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct feed f = {kp, "nat", NULL, &lock};
	for (uint32_t i = 0; i < ns.n; i++)
		kt_kpnorm_chain(kp, "nat", ns.v[i], strlen(ns.v[i]));
	/* use only CPUs that are idle: on a busy node extra dump threads mostly
	 * add lock and scheduling overhead (two spare CPUs at least, as many
	 * threads as spare CPUs, rounded, up to MAX_THREADS) */
	long spare = lround(kt_spare_cpus());
	uint32_t nt = ns.n < 512 || spare < 2 ? 1 : (uint32_t)(spare > MAX_THREADS ? MAX_THREADS : spare);
	nt = (uint32_t)kt_env_long(KT_ENV_DUMP_THREADS, 1, MAX_THREADS, nt); /* tuning and benchmarks */
	struct worker w[MAX_THREADS];
	uint32_t next = 0;
	memset(w, 0, sizeof(w));
	for (uint32_t t = 0; t < nt; t++) {
		w[t] = (struct worker){.ns = &ns, .next = &next, .family = family, .kp = kp, .lock = &lock};
		if (t > 0 && pthread_create(&w[t].tid, NULL, work, &w[t]) != 0) {
			/* fall back: this thread takes the shard */
			w[t].tid = 0;
			work(&w[t]);
		}
	}
	work(&w[0]);
	for (uint32_t t = 1; t < nt; t++)
		if (w[t].tid)
			pthread_join(w[t].tid, NULL);
	for (uint32_t t = 0; t < nt; t++) {
		if (w[t].rc)
			kt_snapshot_gap(snap, "iptables-nft rules", "%s nat %s: %s", fam, w[t].failed_chain, w[t].err);
	}
	uint32_t found = ns.n;
	names_free(&ns);
	/* the filter table: REJECT / DROP for ports without (local) endpoints,
	 * the LB source-range firewall, health-check node ports */
	bool filter = false;
	if (kt_nft_tables(nl, family, "filter", &filter, err, sizeof(err)) == 0 && filter) {
		f.table = "filter";
		for (const char *const *c = kt_kpnorm_filter_chains; *c; c++) {
			f.chain = *c;
			int frc = kt_nft_rules(nl, family, "filter", *c, feed_rule, &f, err, sizeof(err));
			if (frc < 0 && frc != -ENOENT)
				kt_snapshot_gap(snap, "iptables-nft rules", "%s filter %s: %s", fam, *c, err);
		}
	}
	kt_kpnorm_finish(kp, n, o);
	return (int)found;
}

int kt_dp_iptables_nft(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	char err[512];
	struct kt_nl *nl = kt_nl_open(NETLINK_NETFILTER, NULL, err, sizeof(err));
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
