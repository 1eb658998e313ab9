/*
 * The kube-proxy iptables normaliser (struct kt_kpnorm). The iptables-save
 * text parser and the libnftnl iptables-nft decoder stream compact rules
 * into it; only the KUBE-* chains are kept, one small record per rule,
 * never the dump text. kt_kpnorm_finish() groups chains by their 16-char
 * hash (SVC/SVL/EXT/FW share it), maps groups to Services through comments
 * and, where comments are missing (large-cluster mode drops them), through
 * hashes recomputed from API Services, multiplies out chained `statistic`
 * probabilities, and derives Local-policy backend sets and masquerade
 * evidence, appending services through the builder (dp_build.c).
 * Must not: print, judge (no findings), or touch the kernel.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

/* ---- kube-proxy iptables normaliser --------------------------------- */

enum kc_kind { KC_OTHER, KC_SVC, KC_SVL, KC_EXT, KC_FW, KC_SEP, KC_SERVICES, KC_NODEPORTS,
	       KC_FNODEPORTS, KC_POSTROUTING, KC_MARKMASQ };

struct kp_chain;

struct kp_rule {
	uint64_t handle;
	const char *comment;     /* arena, only where needed */
	const char *dst;         /* arena, SERVICES/NODEPORTS only */
	struct kp_chain *target;
	double prob;
	int32_t dport;
	int32_t recent_seconds;
	uint8_t proto;
	uint8_t verdict;
	uint8_t recent;
	bool has_prob;
	bool src_cond;           /* -s, or --src-type LOCAL */
	bool src_local;
	bool local_only_dst;     /* -d 127.0.0.0/8 twin or nfacct */
};

struct kp_chain {
	const char *name;
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
	bool in_svl;
	uint32_t group;          /* finish: group index */
};

struct kp_group {
	char hash[17];
	struct kp_chain *svc, *svl, *ext, *fw;
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
	const char *table_name;  /* "ip nat" */
};

/* FNV-1a with the seed the chain table always used: it decides the
 * table's order, so the order services are emitted in */
static uint64_t fnv(const char *s, size_t n)
{
	return kt_hash64(1469598103934665603ULL, s, n);
}

struct kt_kpnorm *kt_kpnorm_new(struct kt_snapshot *snap, enum kt_dp_mode mode)
{
	struct kt_kpnorm *kp = kt_xcalloc(1, sizeof(*kp));
	kp->snap = snap;
	kp->mode = mode;
	kp->cap_tab = 1024;
	kp->tab = kt_xcalloc(kp->cap_tab, sizeof(*kp->tab));
	kp->table_name = "nat";
	return kp;
}

void kt_kpnorm_free(struct kt_kpnorm *kp)
{
	if (!kp)
		return;
	for (uint32_t i = 0; i < kp->cap_tab; i++)
		if (kp->tab[i])
			free(kp->tab[i]->r);
	free(kp->tab);
	free(kp);
}

void kt_kpnorm_table_name(struct kt_kpnorm *kp, const char *name)
{
	kp->table_name = name;
}

uint32_t kt_kpnorm_kube_chains(const struct kt_kpnorm *kp)
{
	return kp->kube_chains;
}

static bool pfx(const char *s, size_t n, const char *p)
{
	size_t pl = strlen(p);
	return n >= pl && memcmp(s, p, pl) == 0;
}

static bool eq(const char *s, size_t n, const char *p)
{
	return strlen(p) == n && memcmp(s, p, n) == 0;
}

bool kt_kpnorm_wants_chain(const char *table, const char *chain)
{
	if (strcmp(table, "filter") == 0)
		return strcmp(chain, "KUBE-NODEPORTS") == 0;
	return strncmp(chain, "KUBE-", 5) == 0;
}

static void rehash(struct kt_kpnorm *kp)
{
	uint32_t nc = kp->cap_tab * 2;
	struct kp_chain **nt = kt_xcalloc(nc, sizeof(*nt));
	for (uint32_t i = 0; i < kp->cap_tab; i++) {
		struct kp_chain *c = kp->tab[i];
		if (!c)
			continue;
		uint64_t h = fnv(c->name, strlen(c->name));
		uint32_t j = (uint32_t)h & (nc - 1);
		while (nt[j])
			j = (j + 1) & (nc - 1);
		nt[j] = c;
	}
	free(kp->tab);
	kp->tab = nt;
	kp->cap_tab = nc;
}

/* filter-table chains are keyed with a "filter:" prefix */
static struct kp_chain *chain_get(struct kt_kpnorm *kp, bool filter, const char *name, size_t len, bool create)
{
	char key[300];
	if (len > 256)
		return NULL;
	size_t kl = 0;
	if (filter) {
		memcpy(key, "filter:", 7);
		kl = 7;
	}
	memcpy(key + kl, name, len);
	kl += len;
	key[kl] = 0;
	uint64_t h = fnv(key, kl);
	uint32_t j = (uint32_t)h & (kp->cap_tab - 1);
	while (kp->tab[j]) {
		if (strcmp(kp->tab[j]->name, key) == 0)
			return kp->tab[j];
		j = (j + 1) & (kp->cap_tab - 1);
	}
	if (!create)
		return NULL;
	if (kp->n_tab >= KT_DP_MAX_CHAINS) {
		kp->capped = true;
		return NULL;
	}
	struct kp_chain *c = KT_ANEW(kp->snap->arena, struct kp_chain, 1);
	c->name = kt_arena_strndup(kp->snap->arena, key, kl);
	c->group = KT_NONE;
	const char *n = key + (filter ? 7 : 0);
	size_t nl = len;
	const char *hp = NULL;
	if (filter)
		c->kind = eq(n, nl, "KUBE-NODEPORTS") ? KC_FNODEPORTS : KC_OTHER;
	else if (pfx(n, nl, "KUBE-SVC-"))
		c->kind = KC_SVC, hp = n + 9;
	else if (pfx(n, nl, "KUBE-SVL-"))
		c->kind = KC_SVL, hp = n + 9;
	else if (pfx(n, nl, "KUBE-EXT-"))
		c->kind = KC_EXT, hp = n + 9;
	else if (pfx(n, nl, "KUBE-FW-"))
		c->kind = KC_FW, hp = n + 8;
	else if (pfx(n, nl, "KUBE-SEP-"))
		c->kind = KC_SEP;
	else if (eq(n, nl, "KUBE-SERVICES"))
		c->kind = KC_SERVICES;
	else if (eq(n, nl, "KUBE-NODEPORTS"))
		c->kind = KC_NODEPORTS;
	else if (eq(n, nl, "KUBE-POSTROUTING"))
		c->kind = KC_POSTROUTING;
	else if (eq(n, nl, "KUBE-MARK-MASQ"))
		c->kind = KC_MARKMASQ;
	if (hp) {
		size_t hl = nl - (size_t)(hp - n);
		if (hl > 16)
			hl = 16;
		memcpy(c->hash, hp, hl);
		c->hash[hl] = 0;
	}
	if (!filter && pfx(n, nl, "KUBE-"))
		kp->kube_chains++;
	kp->tab[j] = c;
	kp->n_tab++;
	if (kp->n_tab * 2 > kp->cap_tab)
		rehash(kp);
	return c;
}

void kt_kpnorm_chain(struct kt_kpnorm *kp, const char *table, const char *chain, size_t chain_len)
{
	bool filter = strcmp(table, "filter") == 0;
	if (!filter && !pfx(chain, chain_len, "KUBE-"))
		return;
	if (filter && !eq(chain, chain_len, "KUBE-NODEPORTS"))
		return;
	chain_get(kp, filter, chain, chain_len, true);
}

static const char *adup(struct kt_kpnorm *kp, const char *s, size_t n)
{
	return s && n ? kt_arena_strndup(kp->snap->arena, s, n) : NULL;
}

void kt_kpnorm_rule(struct kt_kpnorm *kp, const char *table, const char *chain, size_t chain_len,
		const struct kt_ipt_rule *r)
{
	bool filter = strcmp(table, "filter") == 0;
	if (filter ? !eq(chain, chain_len, "KUBE-NODEPORTS") : !pfx(chain, chain_len, "KUBE-"))
		return;
	struct kp_chain *c = chain_get(kp, filter, chain, chain_len, true);
	if (!c)
		return;
	if (c->kind == KC_SEP) {
		if (r->verdict == KT_IPT_DNAT && !c->dnat_ip) {
			c->dnat_ip = kt_intern(kp->snap->arena, r->dnat_ip);
			c->dnat_port = r->dnat_port;
			c->dnat_handle = r->handle;
			c->dnat_proto = r->proto;
		}
		if (!c->sep_comment && r->comment_len)
			c->sep_comment = adup(kp, r->comment, r->comment_len);
		return;
	}
	if (c->kind == KC_OTHER || c->kind == KC_MARKMASQ)
		return;
	if (c->n_r >= KT_DP_MAX_RULES_PER_CHAIN) {
		kp->capped = true;
		return;
	}
	if (c->n_r == c->cap_r) {
		c->cap_r = c->cap_r ? c->cap_r * 2 : 4;
		c->r = kt_xrealloc(c->r, c->cap_r * sizeof(*c->r));
	}
	struct kp_rule *k = &c->r[c->n_r++];
	memset(k, 0, sizeof(*k));
	k->handle = r->handle;
	k->verdict = (uint8_t)r->verdict;
	k->proto = r->proto;
	k->dport = r->dport;
	k->has_prob = r->has_prob;
	k->prob = r->prob;
	k->recent = r->recent;
	k->recent_seconds = r->recent_seconds;
	k->src_cond = r->src[0] || r->src_local;
	k->src_local = r->src_local;
	k->local_only_dst = r->nfacct || (r->dst[0] && (strncmp(r->dst, "127.", 4) == 0 ||
							 strncmp(r->dst, "::1/", 4) == 0));
	if (r->target_len && (r->verdict == KT_IPT_JUMP || r->verdict == KT_IPT_GOTO))
		k->target = chain_get(kp, false, r->target, r->target_len, true);
	bool want_comment = c->kind != KC_POSTROUTING;
	if (want_comment && r->comment_len)
		k->comment = adup(kp, r->comment, r->comment_len);
	if ((c->kind == KC_SERVICES || c->kind == KC_NODEPORTS) && r->dst[0])
		k->dst = kt_arena_strdup(kp->snap->arena, r->dst);
}

/* group table: hash -> group */
struct gtab {
	struct kp_group *g;
	uint32_t n, cap;
	uint32_t *ix;            /* open addressing of group indices */
	uint32_t icap;
};

static uint32_t g_find(struct gtab *t, const char *hash, bool create)
{
	uint64_t h = fnv(hash, strlen(hash));
	uint32_t j = (uint32_t)h & (t->icap - 1);
	while (t->ix[j] != KT_NONE) {
		if (strcmp(t->g[t->ix[j]].hash, hash) == 0)
			return t->ix[j];
		j = (j + 1) & (t->icap - 1);
	}
	if (!create)
		return KT_NONE;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->g = kt_xreallocarray(t->g, t->cap, sizeof(*t->g));
	}
	uint32_t gi = t->n++;
	memset(&t->g[gi], 0, sizeof(t->g[gi]));
	snprintf(t->g[gi].hash, sizeof(t->g[gi].hash), "%s", hash);
	t->ix[j] = gi;
	return gi;
}

static const char *proto_name(uint8_t p)
{
	switch (p) {
	case 6: return "TCP";
	case 17: return "UDP";
	case 132: return "SCTP";
	}
	return "TCP";
}

static const char *proto_lc(uint8_t p)
{
	switch (p) {
	case 17: return "udp";
	case 132: return "sctp";
	}
	return "tcp";
}

/* strip " cluster IP" etc.; returns the frontend kind or -1 */
static int fe_kind_of_comment(const char *c, size_t *spn_len)
{
	static const struct {
		const char *suf;
		int kind;
	} m[] = {{" cluster IP", KT_FE_CLUSTERIP}, {" external IP", KT_FE_EXTERNALIP},
		 {" loadbalancer IP", KT_FE_LOADBALANCER}};
	size_t l = strlen(c);
	for (size_t i = 0; i < 3; i++) {
		size_t sl = strlen(m[i].suf);
		if (l > sl && strcmp(c + l - sl, m[i].suf) == 0) {
			*spn_len = l - sl;
			return m[i].kind;
		}
	}
	return -1;
}

static void group_spn(struct kt_kpnorm *kp, struct kp_group *g, const char *spn, size_t n)
{
	if (g->spn || !spn || !n)
		return;
	g->spn = kt_arena_strndup(kp->snap->arena, spn, n);
}

static const char *strip_prefix_len(const char *ip)
{
	static __thread char buf[64];
	const char *sl = strchr(ip, '/');
	if (!sl)
		return ip;
	size_t n = (size_t)(sl - ip);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, ip, n);
	buf[n] = 0;
	return buf;
}

struct fe_ref {
	uint32_t group;
	enum kt_fe_kind kind;
	const char *ip;
	int32_t port;
	uint64_t handle;
	const char *chain;       /* chain of the rule */
	struct kp_chain *target; /* chain the rule jumps to */
};

static bool want_service(const struct kt_node_opts *o, const char *ns, const char *name)
{
	if (!o || !o->want_svc_filter)
		return true;
	if (o->svc_namespace && strcmp(o->svc_namespace, ns) != 0)
		return false;
	if (o->svc_name && strcmp(o->svc_name, name) != 0)
		return false;
	return true;
}

/* Expand a SVC/SVL chain into backends. */
static void expand(struct kt_kpnorm *kp, struct kt_dp_service *s, struct kp_chain *c, bool external,
		   bool evidence)
{
	double remaining = 1.0;
	if (evidence && c->n_r)
		kt_dpbuild_ev(kp->snap, s, kp->mode, kp->table_name, c->name, c->r[0].handle, NULL);
	for (uint32_t i = 0; i < c->n_r; i++) {
		struct kp_rule *r = &c->r[i];
		if (!r->target || r->target->kind != KC_SEP)
			continue;
		if (r->recent & KT_RECENT_CHECK) {
			s->affinity = true;
			s->affinity_timeout = r->recent_seconds;
			continue;
		}
		if (remaining <= 0)
			continue;
		double p = r->has_prob ? remaining * kt_dp_snap_prob(r->prob) : remaining;
		remaining -= p;
		if (remaining < 1e-12)
			remaining = 0;
		struct kp_chain *sep = r->target;
		char ipbuf[64];
		const char *ip = sep->dnat_ip;
		int32_t port = sep->dnat_port;
		if (!ip) {
			/* SEP chain missing or without DNAT: fall back to the jump comment */
			const char *arrow = r->comment ? strstr(r->comment, " -> ") : NULL;
			if (!arrow)
				continue;
			snprintf(ipbuf, sizeof(ipbuf), "%s", arrow + 4);
			char *colon = strrchr(ipbuf, ':');
			if (!colon)
				continue;
			*colon = 0;
			port = atoi(colon + 1);
			ip = ipbuf;
			if (ip[0] == '[') {
				ip++;
				char *rb = strchr(ipbuf, ']');
				if (rb)
					*rb = 0;
			}
		}
		struct kt_dp_backend *b = kt_dpbuild_be(kp->snap, s, external, ip, port, p);
		if (sep->in_svl)
			b->local = true;
		if (evidence && sep->dnat_handle)
			kt_dpbuild_ev(kp->snap, s, kp->mode, kp->table_name, sep->name, sep->dnat_handle, NULL);
	}
}

/* State of one kt_kpnorm_finish(): groups, the special chains, frontends
 * indexed by group. */
struct kp_finish {
	struct gtab gt;
	struct kp_chain *services, *nodeports, *fnodeports, *postrouting;
	struct fe_ref *fes;
	uint32_t n_fes, cap_fes;
	uint32_t *fe_first;      /* frontends of group gi: order[fe_first[gi] .. fe_first[gi + 1]) */
	uint32_t *order;
	uint64_t masq_handle;    /* KUBE-POSTROUTING's MASQUERADE rule */
};

/* Chains into groups by hash; the special chains; SEPs reached from SVL. */
static void group_chains(struct kt_kpnorm *kp, struct kp_finish *f)
{
	struct gtab *gt = &f->gt;
	gt->icap = 1024;
	while (gt->icap < kp->n_tab * 2)
		gt->icap *= 2;
	gt->ix = kt_xreallocarray(NULL, gt->icap, sizeof(*gt->ix));
	memset(gt->ix, 0xff, gt->icap * sizeof(*gt->ix));
	for (uint32_t i = 0; i < kp->cap_tab; i++) {
		struct kp_chain *c = kp->tab[i];
		if (!c)
			continue;
		switch (c->kind) {
		case KC_SVC:
		case KC_SVL:
		case KC_EXT:
		case KC_FW: {
			if (!c->hash[0])
				break;
			uint32_t gi = g_find(gt, c->hash, true);
			struct kp_group *g = &gt->g[gi];
			c->group = gi;
			if (c->kind == KC_SVC)
				g->svc = c;
			else if (c->kind == KC_SVL)
				g->svl = c;
			else if (c->kind == KC_EXT)
				g->ext = c;
			else
				g->fw = c;
			break;
		}
		case KC_SERVICES: f->services = c; break;
		case KC_NODEPORTS: f->nodeports = c; break;
		case KC_FNODEPORTS: f->fnodeports = c; break;
		case KC_POSTROUTING: f->postrouting = c; break;
		default: break;
		}
	}
	/* mark local SEPs */
	for (uint32_t gi = 0; gi < gt->n; gi++) {
		struct kp_chain *svl = gt->g[gi].svl;
		if (!svl)
			continue;
		for (uint32_t i = 0; i < svl->n_r; i++)
			if (svl->r[i].target && svl->r[i].target->kind == KC_SEP)
				svl->r[i].target->in_svl = true;
	}
	if (f->postrouting)
		for (uint32_t i = 0; i < f->postrouting->n_r; i++)
			if (f->postrouting->r[i].verdict == KT_IPT_MASQ)
				f->masq_handle = f->postrouting->r[i].handle;
}

/* Frontends: KUBE-SERVICES rules (ClusterIP, external and LB IPs, by
 * comment) and KUBE-NODEPORTS rules, each jumping into a group. */
static void collect_frontends(struct kt_kpnorm *kp, struct kp_finish *f)
{
	struct kp_chain *fe_chains[2] = {f->services, f->nodeports};
	for (int pass = 0; pass < 2; pass++) {
		struct kp_chain *c = fe_chains[pass];
		if (!c)
			continue;
		for (uint32_t i = 0; i < c->n_r; i++) {
			struct kp_rule *r = &c->r[i];
			if (!r->target || r->target->group == KT_NONE)
				continue;
			if (pass == 1 && r->local_only_dst)
				continue;
			struct kp_group *g = &f->gt.g[r->target->group];
			if (r->proto && !g->proto)
				g->proto = r->proto;
			int kind;
			size_t sl = 0;
			if (pass == 1) {
				kind = KT_FE_NODEPORT;
				if (r->comment)
					group_spn(kp, g, r->comment, strlen(r->comment));
			} else {
				kind = r->comment ? fe_kind_of_comment(r->comment, &sl) : -1;
				if (kind >= 0)
					group_spn(kp, g, r->comment, sl);
				else if (r->target->kind == KC_SVC || r->target->kind == KC_SVL)
					kind = KT_FE_CLUSTERIP;
				else
					kind = KT_FE_EXTERNALIP;
			}
			if (f->n_fes == f->cap_fes) {
				f->cap_fes = f->cap_fes ? f->cap_fes * 2 : 256;
				f->fes = kt_xreallocarray(f->fes, f->cap_fes, sizeof(*f->fes));
			}
			struct fe_ref *fe = &f->fes[f->n_fes++];
			fe->group = r->target->group;
			fe->kind = (enum kt_fe_kind)kind;
			fe->ip = kt_intern(kp->snap->arena, r->dst ? strip_prefix_len(r->dst) : "");
			fe->port = r->dport;
			fe->handle = r->handle;
			fe->chain = c->name;
			fe->target = r->target;
		}
	}
	/* index by group: counting sort */
	uint32_t ng = f->gt.n;
	f->fe_first = kt_xcalloc(ng + 1, sizeof(uint32_t));
	f->order = kt_xcalloc(f->n_fes ? f->n_fes : 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < f->n_fes; i++)
		f->fe_first[f->fes[i].group + 1]++;
	for (uint32_t gi = 0; gi < ng; gi++)
		f->fe_first[gi + 1] += f->fe_first[gi];
	uint32_t *pos = kt_xcalloc(ng + 1, sizeof(uint32_t));
	memcpy(pos, f->fe_first, (ng + 1) * sizeof(uint32_t));
	for (uint32_t i = 0; i < f->n_fes; i++)
		f->order[pos[f->fes[i].group]++] = i;
	free(pos);
}

/* Names from EXT / SEP / SVC-jump comments when the frontend rules had none. */
static void names_from_chains(struct kt_kpnorm *kp, struct kp_finish *f)
{
	for (uint32_t gi = 0; gi < f->gt.n; gi++) {
		struct kp_group *g = &f->gt.g[gi];
		if (g->spn)
			continue;
		if (g->ext) {
			for (uint32_t i = 0; i < g->ext->n_r && !g->spn; i++) {
				const char *cm = g->ext->r[i].comment;
				const char *fo = cm ? strstr(cm, " for ") : NULL;
				/* " for  external destinations" (no name): the two
				 * markers overlap, no name to take */
				const char *ed = fo ? strstr(fo + 4, " external destinations") : NULL;
				if (fo && ed && ed > fo + 5)
					group_spn(kp, g, fo + 5, (size_t)(ed - fo - 5));
			}
		}
		struct kp_chain *ch = g->svc ? g->svc : g->svl;
		for (uint32_t i = 0; ch && i < ch->n_r && !g->spn; i++) {
			struct kp_rule *r = &ch->r[i];
			if (r->comment) {
				const char *ar = strstr(r->comment, " -> ");
				size_t l = ar ? (size_t)(ar - r->comment) : 0;
				if (!ar) {
					size_t sl;
					if (fe_kind_of_comment(r->comment, &sl) >= 0)
						l = sl;
				}
				if (l)
					group_spn(kp, g, r->comment, l);
			}
			if (!g->spn && r->target && r->target->kind == KC_SEP && r->target->sep_comment)
				group_spn(kp, g, r->target->sep_comment, strlen(r->target->sep_comment));
			if (!g->proto && r->target && r->target->kind == KC_SEP && r->target->dnat_proto)
				g->proto = r->target->dnat_proto;
		}
	}
}

/* Verify names through recomputed hashes; in large-cluster mode (no
 * usable comments) find them from the API Services' recomputed hashes. */
static void resolve_names(struct kt_kpnorm *kp, struct kp_finish *f)
{
	struct kt_snapshot *snap = kp->snap;
	uint32_t unresolved = 0;
	for (uint32_t gi = 0; gi < f->gt.n; gi++) {
		struct kp_group *g = &f->gt.g[gi];
		if (!g->spn) {
			unresolved++;
			continue;
		}
		char buf[600], h[17];
		const char *ps[3] = {proto_lc(g->proto), "tcp", "udp"};
		for (int k = 0; k < 3 && !g->resolved; k++) {
			snprintf(buf, sizeof(buf), "%s%s", g->spn, ps[k]);
			kt_dp_hash_b32(buf, h, 16);
			if (strcmp(h, g->hash) == 0) {
				g->resolved = true;
				if (!g->proto)
					g->proto = k == 0 ? g->proto : (k == 1 ? 6 : 17);
			}
		}
		if (!g->resolved)
			g->resolved = true; /* trust the comment */
	}
	for (uint32_t si = 0; si < snap->n_services && unresolved; si++) {
		const struct kt_service *sv = &snap->services[si];
		for (uint32_t pi = 0; pi < sv->n_ports; pi++) {
			const struct kt_svc_port *sp = &sv->ports[pi];
			char spn[600], buf[620], h[17];
			if (sp->name && sp->name[0])
				snprintf(spn, sizeof(spn), "%s/%s:%s", sv->meta.namespace, sv->meta.name, sp->name);
			else
				snprintf(spn, sizeof(spn), "%s/%s", sv->meta.namespace, sv->meta.name);
			char lc[8] = "tcp";
			if (sp->protocol) {
				size_t k = 0;
				for (; sp->protocol[k] && k < 7; k++)
					lc[k] = (char)(sp->protocol[k] | 0x20);
				lc[k] = 0;
			}
			snprintf(buf, sizeof(buf), "%s%s", spn, lc);
			kt_dp_hash_b32(buf, h, 16);
			uint32_t gi = g_find(&f->gt, h, false);
			if (gi != KT_NONE && !f->gt.g[gi].spn) {
				struct kp_group *g = &f->gt.g[gi];
				group_spn(kp, g, spn, strlen(spn));
				g->resolved = true;
				if (!g->proto)
					g->proto = strcmp(lc, "udp") == 0 ? 17 : strcmp(lc, "sctp") == 0 ? 132 : 6;
				unresolved--;
			}
		}
	}
}

/* The health-check node port of a group's Service (filter KUBE-NODEPORTS). */
static void health_check(struct kt_kpnorm *kp, struct kp_finish *f, struct kp_group *g, struct kt_dp_service *s)
{
	if (!f->fnodeports || !g->spn)
		return;
	char want[600];
	snprintf(want, sizeof(want), "%s health check node port", g->spn);
	for (uint32_t i = 0; i < f->fnodeports->n_r; i++) {
		struct kp_rule *r = &f->fnodeports->r[i];
		if (r->comment && strcmp(r->comment, want) == 0 && r->dport) {
			kt_dpbuild_fe(kp->snap, s, KT_FE_HEALTHCHECK, "", r->dport, true);
			kt_dpbuild_ev(kp->snap, s, kp->mode, "filter", "KUBE-NODEPORTS", r->handle, NULL);
		}
	}
}

/* External traffic: the EXT chain's masquerade mark, its target (SVC, or
 * SVL under externalTrafficPolicy Local) and the external backend set. */
static void external(struct kt_kpnorm *kp, struct kp_finish *f, struct kp_group *g, struct kt_dp_service *s,
		     struct kp_chain *internal, bool has_ext)
{
	struct kp_chain *ext = g->ext;
	if (!ext) {
		if (has_ext)
			expand(kp, s, internal, true, false); /* NodePort straight to SVC (pre-1.24 layouts) */
		return;
	}
	struct kp_chain *ext_target = NULL;
	bool local_rules = false;
	kt_dpbuild_ev(kp->snap, s, kp->mode, kp->table_name, ext->name, ext->n_r ? ext->r[0].handle : 0, NULL);
	for (uint32_t i = 0; i < ext->n_r; i++) {
		struct kp_rule *r = &ext->r[i];
		if (!r->target)
			continue;
		if (r->src_local)
			local_rules = true;
		if (r->src_cond)
			continue;
		if (r->target->kind == KC_MARKMASQ)
			s->masquerade = true;
		else if (r->target->kind == KC_SVC || r->target->kind == KC_SVL)
			ext_target = r->target;
	}
	if (ext_target && ext_target->kind == KC_SVL)
		s->local_only = true;
	if (!ext_target && local_rules)
		s->local_only = true; /* eTP=Local and no local endpoint: external traffic dropped */
	if (has_ext && ext_target)
		expand(kp, s, ext_target, true, ext_target != internal);
	if (s->masquerade && f->masq_handle)
		kt_dpbuild_ev(kp->snap, s, kp->mode, kp->table_name, "KUBE-POSTROUTING", f->masq_handle, NULL);
}

/* One group as one Service port of node n. */
static void emit_group(struct kt_kpnorm *kp, struct kp_finish *f, uint32_t gi, struct kt_dp_node *n,
		       const struct kt_node_opts *o)
{
	struct kt_snapshot *snap = kp->snap;
	struct kp_group *g = &f->gt.g[gi];
	if (!g->svc && !g->svl)
		return; /* an EXT/FW chain alone forwards nowhere */
	char ns[256] = "", name[256] = "", port[256] = "";
	bool guessed = false;
	if (!g->spn ||
	    !kt_dp_split_spn(g->spn, strlen(g->spn), ns, sizeof(ns), name, sizeof(name), port, sizeof(port))) {
		snprintf(name, sizeof(name), "KUBE-SVC-%s", g->hash);
		ns[0] = 0;
		port[0] = 0;
		guessed = true;
	}
	if (!want_service(o, ns, name))
		return;
	struct kt_dp_service *s = kt_dpbuild_svc(snap, n, ns, name, port, proto_name(g->proto), kp->mode);
	s->chain_hash = kt_intern(snap->arena, g->hash);
	s->names_guessed = guessed;
	struct kp_chain *internal = NULL;
	bool has_ext = false;
	for (uint32_t k = f->fe_first[gi]; k < f->fe_first[gi + 1]; k++) {
		struct fe_ref *fe = &f->fes[f->order[k]];
		bool ext = fe->kind != KT_FE_CLUSTERIP;
		has_ext |= ext;
		kt_dpbuild_fe(snap, s, fe->kind, fe->ip, fe->port, ext);
		kt_dpbuild_ev(snap, s, kp->mode, kp->table_name, fe->chain, fe->handle, NULL);
		/* the chain the ClusterIP rule jumps to: SVC (Cluster) or SVL (iTP=Local) */
		if (!internal && fe->kind == KT_FE_CLUSTERIP)
			internal = fe->target;
	}
	if (!internal)
		internal = g->svc ? g->svc : g->svl;
	expand(kp, s, internal, false, true);
	health_check(kp, f, g, s);
	external(kp, f, g, s, internal, has_ext);
	/* local marks for the internal set too */
	for (uint32_t i = 0; i < s->n_ext_be && s->local_only; i++)
		for (uint32_t j = 0; j < s->n_be; j++)
			if (s->be[j].port == s->ext_be[i].port && strcmp(s->be[j].ip, s->ext_be[i].ip) == 0)
				s->be[j].local = true;
}

void kt_kpnorm_finish(struct kt_kpnorm *kp, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	struct kp_finish f;
	memset(&f, 0, sizeof(f));
	if (kp->capped)
		kt_dpbuild_note(kp->snap, n, "%s: rule or chain cap hit; some services may be incomplete",
				kt_dp_mode_name(kp->mode));
	group_chains(kp, &f);
	collect_frontends(kp, &f);
	names_from_chains(kp, &f);
	resolve_names(kp, &f);
	for (uint32_t gi = 0; gi < f.gt.n; gi++)
		emit_group(kp, &f, gi, n, o);
	free(f.fe_first);
	free(f.order);
	free(f.fes);
	free(f.gt.g);
	free(f.gt.ix);
	kt_kpnorm_free(kp);
}

