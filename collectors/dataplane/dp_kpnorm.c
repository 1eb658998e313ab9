/*
 * The kube-proxy iptables normaliser (struct kt_kpnorm): rule intake and
 * the chain table. The iptables-save text parser and the libnftnl
 * iptables-nft decoder stream compact rules into it; only kube-proxy's
 * chains are kept (nat KUBE-*, filter KUBE-SERVICES / KUBE-EXTERNAL-
 * SERVICES / KUBE-NODEPORTS / KUBE-PROXY-FIREWALL), one small record per
 * rule, never the dump text. kt_kpnorm_finish() groups chains by their
 * 16-char hash (SVC/SVL/EXT/FW/XLB share it), maps groups to Services
 * through comments and, where comments are missing (large-cluster mode
 * drops them), through hashes recomputed from API Services, and hands
 * each group to dp_kpwalk.c, which follows every frontend's rules and
 * appends the service through the builder (dp_build.c).
 * Layouts read: kube-proxy v1.24+ (KUBE-EXT / KUBE-SVL, filter
 * KUBE-PROXY-FIREWALL), v1.21-v1.23 (KUBE-XLB, masquerade rules in
 * KUBE-SVC) and v1.20 and earlier (masquerade rules in KUBE-SERVICES /
 * KUBE-NODEPORTS); anything else is reported as unknown with the chain.
 * Must not: print, judge (no findings), or touch the kernel.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/dataplane/dp_kpnorm.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

const char *const kt_kpnorm_filter_chains[] = {"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS",
					       "KUBE-PROXY-FIREWALL", NULL};

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
	kp->filter_name = "filter";
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
	kp->filter_name = strncmp(name, "ip6", 3) == 0 ? "ip6 filter" : "filter";
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

static bool filter_chain(const char *chain, size_t n)
{
	for (const char *const *c = kt_kpnorm_filter_chains; *c; c++)
		if (eq(chain, n, *c))
			return true;
	return false;
}

bool kt_kpnorm_wants_chain(const char *table, const char *chain)
{
	if (strcmp(table, "filter") == 0)
		return filter_chain(chain, strlen(chain));
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

static uint8_t filter_kind(const char *n, size_t nl)
{
	if (eq(n, nl, "KUBE-SERVICES"))
		return KC_F_SERVICES;
	if (eq(n, nl, "KUBE-EXTERNAL-SERVICES"))
		return KC_F_EXTSERVICES;
	if (eq(n, nl, "KUBE-NODEPORTS"))
		return KC_F_NODEPORTS;
	if (eq(n, nl, "KUBE-PROXY-FIREWALL"))
		return KC_F_FIREWALL;
	return KC_OTHER;
}

/* the kind of a nat chain, and where its service hash starts */
static uint8_t nat_kind(const char *n, size_t nl, const char **hp)
{
	static const struct {
		const char *p;
		uint8_t k;
	} hashed[] = {{"KUBE-SVC-", KC_SVC}, {"KUBE-SVL-", KC_SVL}, {"KUBE-EXT-", KC_EXT},
		      {"KUBE-FW-", KC_FW},   {"KUBE-XLB-", KC_XLB}};
	*hp = NULL;
	for (size_t i = 0; i < sizeof(hashed) / sizeof(hashed[0]); i++)
		if (pfx(n, nl, hashed[i].p)) {
			*hp = n + strlen(hashed[i].p);
			return hashed[i].k;
		}
	if (pfx(n, nl, "KUBE-SEP-"))
		return KC_SEP;
	if (eq(n, nl, "KUBE-SERVICES"))
		return KC_SERVICES;
	if (eq(n, nl, "KUBE-NODEPORTS"))
		return KC_NODEPORTS;
	if (eq(n, nl, "KUBE-POSTROUTING"))
		return KC_POSTROUTING;
	if (eq(n, nl, "KUBE-MARK-MASQ"))
		return KC_MARKMASQ;
	if (eq(n, nl, "KUBE-MARK-DROP"))
		return KC_MARKDROP;
	return KC_OTHER;
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
	const char *hp = NULL;
	if (filter) {
		c->kind = filter_kind(name, len);
		kp->filter_seen = true;
	} else {
		c->kind = nat_kind(name, len, &hp);
	}
	if (hp) {
		size_t hl = len - (size_t)(hp - name);
		if (hl > 16)
			hl = 16;
		memcpy(c->hash, hp, hl);
		c->hash[hl] = 0;
	}
	if (!filter && pfx(name, len, "KUBE-"))
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
	if (filter ? !filter_chain(chain, chain_len) : !pfx(chain, chain_len, "KUBE-"))
		return;
	chain_get(kp, filter, chain, chain_len, true);
}

static const char *adup(struct kt_kpnorm *kp, const char *s, size_t n)
{
	return s && n ? kt_arena_strndup(kp->snap->arena, s, n) : NULL;
}

static void sep_rule(struct kt_kpnorm *kp, struct kp_chain *c, const struct kt_ipt_rule *r)
{
	if (r->verdict == KT_IPT_DNAT && !c->dnat_ip) {
		c->dnat_ip = kt_intern(kp->snap->arena, r->dnat_ip);
		c->dnat_port = r->dnat_port;
		c->dnat_handle = r->handle;
		c->dnat_proto = r->proto;
	}
	if (!c->sep_comment && r->comment_len)
		c->sep_comment = adup(kp, r->comment, r->comment_len);
}

void kt_kpnorm_rule(struct kt_kpnorm *kp, const char *table, const char *chain, size_t chain_len,
		const struct kt_ipt_rule *r)
{
	bool filter = strcmp(table, "filter") == 0;
	if (filter ? !filter_chain(chain, chain_len) : !pfx(chain, chain_len, "KUBE-"))
		return;
	struct kp_chain *c = chain_get(kp, filter, chain, chain_len, true);
	if (!c)
		return;
	if (c->kind == KC_SEP) {
		sep_rule(kp, c, r);
		return;
	}
	if (c->kind == KC_OTHER || c->kind == KC_MARKMASQ || c->kind == KC_MARKDROP)
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
	k->src_cond = r->src[0] || r->src_local || r->iif;
	k->src_neg = (r->src[0] || r->iif) && r->src_neg;
	k->src_local = r->src_local;
	k->dst_local = r->dst_local;
	k->dst_neg = r->dst_neg;
	k->local_only_dst = r->nfacct || (r->dst[0] && !r->dst_neg &&
					  (strncmp(r->dst, "127.", 4) == 0 || strncmp(r->dst, "::1/", 4) == 0));
	if (r->target_len && (r->verdict == KT_IPT_JUMP || r->verdict == KT_IPT_GOTO))
		k->target = chain_get(kp, false, r->target, r->target_len, true);
	if (r->comment_len && c->kind != KC_POSTROUTING)
		k->comment = adup(kp, r->comment, r->comment_len);
	if (r->dst[0])
		k->dst = kt_intern(kp->snap->arena, r->dst);
	/* a positive -s in a firewall chain is an allowed source range */
	if (c->kind == KC_FW && r->src[0] && !r->src_neg && !r->iif)
		k->src = kt_intern(kp->snap->arena, r->src);
}

/* ---- groups and names ----------------------------------------------- */

uint32_t kp_group_find(struct gtab *t, const char *hash, bool create)
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
	if (t->n * 2 + 2 > t->icap) {
		/* grow the index (filter-only groups are created after sizing) */
		uint32_t nc = t->icap * 2;
		uint32_t *ni = kt_xreallocarray(NULL, nc, sizeof(*ni));
		memset(ni, 0xff, nc * sizeof(*ni));
		for (uint32_t gi = 0; gi < t->n; gi++) {
			uint32_t k = (uint32_t)fnv(t->g[gi].hash, strlen(t->g[gi].hash)) & (nc - 1);
			while (ni[k] != KT_NONE)
				k = (k + 1) & (nc - 1);
			ni[k] = gi;
		}
		free(t->ix);
		t->ix = ni;
		t->icap = nc;
		j = (uint32_t)h & (nc - 1);
		while (t->ix[j] != KT_NONE)
			j = (j + 1) & (nc - 1);
	}
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

struct fe_ref *kp_fe_add(struct kp_finish *f)
{
	if (f->n_fes == f->cap_fes) {
		f->cap_fes = f->cap_fes ? f->cap_fes * 2 : 256;
		f->fes = kt_xreallocarray(f->fes, f->cap_fes, sizeof(*f->fes));
	}
	struct fe_ref *fe = &f->fes[f->n_fes++];
	memset(fe, 0, sizeof(*fe));
	fe->group = KT_NONE;
	return fe;
}

const char *kp_proto_name(uint8_t p)
{
	switch (p) {
	case 6: return "TCP";
	case 17: return "UDP";
	case 132: return "SCTP";
	}
	return "TCP";
}

const char *kp_proto_lc(uint8_t p)
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

size_t kp_filter_spn(const char *c, const char **reason, enum kt_dp_action *a)
{
	static const struct {
		const char *suf, *why;
	} m[] = {{" has no endpoints", "no endpoints"}, {" has no local endpoints", "no local endpoints"}};
	if (!c)
		return 0;
	size_t l = strlen(c);
	for (size_t i = 0; i < 2; i++) {
		size_t sl = strlen(m[i].suf);
		if (l > sl && strcmp(c + l - sl, m[i].suf) == 0) {
			*reason = m[i].why;
			*a = i ? KT_DP_DROP : KT_DP_REJECT;
			return l - sl;
		}
	}
	return 0;
}

void kp_group_spn(struct kt_kpnorm *kp, struct kp_group *g, const char *spn, size_t n)
{
	if (g->spn || !spn || !n)
		return;
	/* old kube-proxy comments end the unnamed-port spn with ':' ("ns/svc:") */
	if (spn[n - 1] == ':')
		n--;
	if (n)
		g->spn = kt_arena_strndup(kp->snap->arena, spn, n);
}

/* Chains into groups by hash; the special chains; SEPs reached from the
 * local-policy chains. */
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
		if (c->hash[0]) {
			uint32_t gi = kp_group_find(gt, c->hash, true);
			struct kp_group *g = &gt->g[gi];
			struct kp_chain **slot[] = {[KC_SVC] = &g->svc, [KC_SVL] = &g->svl, [KC_EXT] = &g->ext,
						    [KC_FW] = &g->fw, [KC_XLB] = &g->xlb};
			c->group = gi;
			if (c->kind < sizeof(slot) / sizeof(slot[0]) && slot[c->kind])
				*slot[c->kind] = c;
			continue;
		}
		switch (c->kind) {
		case KC_SERVICES: f->services = c; break;
		case KC_NODEPORTS: f->nodeports = c; break;
		case KC_POSTROUTING: f->postrouting = c; break;
		case KC_F_SERVICES: f->f_services = c; break;
		case KC_F_EXTSERVICES: f->f_ext = c; break;
		case KC_F_NODEPORTS: f->f_nodeports = c; break;
		case KC_F_FIREWALL: f->f_firewall = c; break;
		default: break;
		}
	}
	/* mark local SEPs */
	for (uint32_t gi = 0; gi < gt->n; gi++) {
		struct kp_chain *loc[2] = {gt->g[gi].svl, gt->g[gi].xlb};
		for (int k = 0; k < 2; k++)
			for (uint32_t i = 0; loc[k] && i < loc[k]->n_r; i++)
				if (loc[k]->r[i].target && loc[k]->r[i].target->kind == KC_SEP)
					loc[k]->r[i].target->in_local = true;
	}
	if (f->postrouting)
		for (uint32_t i = 0; i < f->postrouting->n_r; i++)
			if (f->postrouting->r[i].verdict == KT_IPT_MASQ)
				f->masq_handle = f->postrouting->r[i].handle;
}

/* Names from the rules that jump into a group (KUBE-SERVICES comments,
 * NodePort comments), then EXT / XLB / SEP / SVC-jump comments. */
static void names_from_chains(struct kt_kpnorm *kp, struct kp_finish *f)
{
	for (uint32_t i = 0; i < f->n_fes; i++) {
		struct fe_ref *fe = &f->fes[i];
		struct kp_group *g = &f->gt.g[fe->group];
		const struct kp_rule *r = fe->front && fe->rix < fe->front->n_r ? &fe->front->r[fe->rix] : NULL;
		if (g->spn || !r || !r->comment)
			continue;
		size_t sl = strlen(r->comment);
		if (fe->front->kind == KC_SERVICES && fe_kind_of_comment(r->comment, &sl) < 0)
			continue;
		kp_group_spn(kp, g, r->comment, sl);
	}
	for (uint32_t gi = 0; gi < f->gt.n; gi++) {
		struct kp_group *g = &f->gt.g[gi];
		struct kp_chain *ext = g->ext ? g->ext : g->xlb;
		for (uint32_t i = 0; ext && !g->spn && i < ext->n_r; i++) {
			const char *cm = ext->r[i].comment;
			const char *fo = cm ? strstr(cm, " for ") : NULL;
			/* "... for <spn> external destinations" (v1.24+), "... for <spn> LB IP" (XLB) */
			const char *ed = fo ? strstr(fo + 4, " external destinations") : NULL;
			if (!ed && fo)
				ed = strstr(fo + 4, " LB IP");
			if (fo && ed && ed > fo + 5)
				kp_group_spn(kp, g, fo + 5, (size_t)(ed - fo - 5));
		}
		struct kp_chain *ch = g->svc ? g->svc : g->svl ? g->svl : g->xlb;
		for (uint32_t i = 0; ch && i < ch->n_r && !g->spn; i++) {
			struct kp_rule *r = &ch->r[i];
			if (r->comment && !strstr(r->comment, "Redirect pods") && strncmp(r->comment, "Balancing rule", 14)) {
				/* "<spn> -> ip:port", "<spn> cluster IP", or a bare "<spn>" (before v1.23) */
				const char *ar = strstr(r->comment, " -> ");
				size_t l = ar ? (size_t)(ar - r->comment) : 0, sl;
				if (!ar && fe_kind_of_comment(r->comment, &sl) >= 0)
					l = sl;
				else if (!ar && !strchr(r->comment, ' '))
					l = strlen(r->comment);
				if (l)
					kp_group_spn(kp, g, r->comment, l);
			}
			if (!g->spn && r->target && r->target->kind == KC_SEP && r->target->sep_comment)
				kp_group_spn(kp, g, r->target->sep_comment, strlen(r->target->sep_comment));
		}
		for (uint32_t i = 0; ch && i < ch->n_r && !g->proto; i++)
			if (ch->r[i].target && ch->r[i].target->kind == KC_SEP && ch->r[i].target->dnat_proto)
				g->proto = ch->r[i].target->dnat_proto;
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
		const char *ps[3] = {kp_proto_lc(g->proto), "udp", "sctp"};
		for (int k = 0; k < 3 && !g->resolved; k++) {
			snprintf(buf, sizeof(buf), "%s%s", g->spn, ps[k]);
			kt_dp_hash_b32(buf, h, 16);
			if (strcmp(h, g->hash) == 0) {
				g->resolved = true;
				if (k > 0)
					g->proto = k == 1 ? 17 : 132;
			}
		}
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
			uint32_t gi = kp_group_find(&f->gt, h, false);
			if (gi != KT_NONE && !f->gt.g[gi].spn) {
				struct kp_group *g = &f->gt.g[gi];
				kp_group_spn(kp, g, spn, strlen(spn));
				g->resolved = true;
				if (!g->proto)
					g->proto = strcmp(lc, "udp") == 0 ? 17 : strcmp(lc, "sctp") == 0 ? 132 : 6;
				unresolved--;
			}
		}
	}
}

void kt_kpnorm_finish(struct kt_kpnorm *kp, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	struct kp_finish f;
	memset(&f, 0, sizeof(f));
	if (kp->capped)
		kt_dpbuild_note(kp->snap, n, "%s: rule or chain cap hit; some services may be incomplete",
				kt_dp_mode_name(kp->mode));
	group_chains(kp, &f);
	kp_collect_frontends(kp, &f);
	names_from_chains(kp, &f);
	resolve_names(kp, &f);
	kp_index_frontends(&f);
	for (uint32_t gi = 0; gi < f.gt.n; gi++)
		kp_emit_group(kp, &f, gi, n, o);
	free(f.fe_first);
	free(f.order);
	free(f.fes);
	free(f.gt.g);
	free(f.gt.ix);
	kt_kpnorm_free(kp);
}
