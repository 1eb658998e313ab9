/*
 * kube-proxy nftables mode, the model half: one table's IR (chains with
 * summarised rules, sets and maps with decoded elements; dp_nftables.c
 * fills it live or from `nft -j`) into services. service-ips /
 * service-nodeports give the forwarding frontends (NodePorts once per
 * element of nodeport-ips when the `services` chain dispatches through
 * it, else on every local address), service-/local-/external- chains the
 * policy, numgen verdict maps the uniform endpoint choice, endpoint-
 * chains the DNAT targets, affinity- sets the ClientIP timeout.
 * no-endpoint-services / no-endpoint-nodeports give the frontends the node
 * rejects (`goto reject-chain`: no endpoints) or drops (`drop`: no local
 * endpoints), named by the elements' comments, so Service ports without
 * any chain are listed too; firewall-ips and the firewall- chains' `ip
 * saddr != { ranges } drop` give loadBalancerSourceRanges. Without API
 * objects an external- target is an externalIP or a LoadBalancer IP: the
 * frontend kind says exactly that ("external").
 * Must not: print, judge, or touch the kernel.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "collectors/dataplane/dp_nft.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

static int cmp_chain(const void *a, const void *b)
{
	return strcmp(((const struct nchain *)a)->name, ((const struct nchain *)b)->name);
}

static int cmp_set(const void *a, const void *b)
{
	return strcmp(((const struct nset *)a)->name, ((const struct nset *)b)->name);
}

static int cmp_index(const void *a, const void *b)
{
	uint32_t x = ((const struct nelem *)a)->index, y = ((const struct nelem *)b)->index;
	return x < y ? -1 : x > y;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct nelem *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, 16);
	return c ? c : (int)x->interval_end - (int)y->interval_end;
}

static struct nchain *find_chain(struct nst *st, const char *name)
{
	if (!name || !st->nc)
		return NULL;
	struct nchain k = {.name = name};
	return bsearch(&k, st->c, st->nc, sizeof(*st->c), cmp_chain);
}

static struct nset *find_set(struct nst *st, const char *name)
{
	if (!name || !st->ns)
		return NULL;
	struct nset k = {.name = name};
	return bsearch(&k, st->s, st->ns, sizeof(*st->s), cmp_set);
}

/* "service-HASH-ns/name/tcp/port" -> prefix kind, hash, base */
enum { NK_SERVICE, NK_LOCAL, NK_EXTERNAL, NK_ENDPOINT, NK_FIREWALL };

static bool parse_name(const char *n, const char **base, char hash[9], int *kind)
{
	static const char *pfx[] = {"service-", "local-", "external-", "endpoint-", "firewall-"};
	for (int i = 0; n && i < 5; i++) {
		size_t l = strlen(pfx[i]);
		if (strncmp(n, pfx[i], l) == 0 && strlen(n) > l + 9 && n[l + 8] == '-' && strchr(n, '/')) {
			memcpy(hash, n + l, 8);
			hash[8] = 0;
			*base = n + l + 9;
			*kind = i;
			return true;
		}
	}
	return false;
}

static const char *proto_uc(const char *p)
{
	if (strcmp(p, "udp") == 0)
		return "UDP";
	if (strcmp(p, "sctp") == 0)
		return "SCTP";
	return "TCP";
}

static const char *proto_lc(uint8_t p)
{
	return p == 17 ? "udp" : p == 132 ? "sctp" : "tcp";
}

struct ngroup {
	const char *base;        /* "ns/name/tcp/port" */
	char hash[9];
	struct nchain *svc, *local, *ext;
	uint32_t out;            /* index into n->svcs (the array may move) */
	bool itp_local;          /* the ClusterIP element points at local- */
};

struct model {
	struct nst *st;
	struct kt_dp_node *n;
	const struct kt_node_opts *o;
	enum kt_dp_mode mode;
	struct ngroup *g;
	uint32_t ng, capg;
	const char **np_addrs;   /* NodePort addresses (nodeport-ips); NULL: every local address */
	uint32_t n_np;
	struct nset *cluster_ips;
};

static uint32_t group_of_base(struct model *m, const char *base)
{
	for (uint32_t i = 0; i < m->ng; i++)
		if (strcmp(m->g[i].base, base) == 0)
			return i;
	return KT_NONE;
}

static struct ngroup *group_add(struct model *m, const char *base)
{
	if (m->ng == m->capg) {
		m->capg = m->capg ? m->capg * 2 : 16;
		m->g = kt_xreallocarray(m->g, m->capg, sizeof(*m->g));
	}
	struct ngroup *x = &m->g[m->ng++];
	memset(x, 0, sizeof(*x));
	x->base = base;
	x->out = KT_NONE;
	return x;
}

static void expand(struct nst *st, struct kt_dp_service *s, struct nchain *c, bool external, bool ev,
		   enum kt_dp_mode mode)
{
	if (!c)
		return;
	if (ev)
		kt_dpbuild_ev(st->snap, s, mode, st->table, c->name, c->n ? c->r[0].handle : 0, NULL);
	for (uint32_t i = 0; i < c->n; i++) {
		struct nrule *r = &c->r[i];
		if (r->key == KT_NFT_KEY_SADDR && r->set && strncmp(r->set, "affinity-", 9) == 0) {
			struct nset *as = find_set(st, r->set);
			s->affinity = true;
			s->affinity_timeout = as && as->timeout_ms ? (int32_t)(as->timeout_ms / 1000) : 10800;
			continue;
		}
		if (r->key != KT_NFT_KEY_NUMGEN || !r->set)
			continue;
		struct nset *mp = find_set(st, r->set);
		if (!mp || !r->mod)
			continue;
		if (mp->n > 1)
			qsort(mp->e, mp->n, sizeof(*mp->e), cmp_index); /* selection order */
		for (uint32_t k = 0; k < mp->n; k++) {
			struct nchain *ep = find_chain(st, mp->e[k].chain);
			const char *ip = NULL;
			int32_t port = 0;
			uint64_t h = 0;
			for (uint32_t j = 0; ep && j < ep->n && !ip; j++)
				if (ep->r[j].verdict == KT_IPT_DNAT && ep->r[j].dnat_ip) {
					ip = ep->r[j].dnat_ip;
					port = ep->r[j].dnat_port;
					h = ep->r[j].handle;
				}
			char buf[64];
			if (!ip && mp->e[k].chain) {
				const char *us = strstr(mp->e[k].chain, "__");
				if (!us)
					continue;
				snprintf(buf, sizeof(buf), "%s", us + 2);
				char *sl = strrchr(buf, '/');
				if (!sl)
					continue;
				*sl = 0;
				port = atoi(sl + 1);
				if (st->family == 10)
					for (char *p = buf; *p; p++)
						if (*p == '.')
							*p = ':';
				ip = buf;
			}
			if (!ip)
				continue;
			kt_dpbuild_be(st->snap, s, external, ip, port, 1.0 / (double)r->mod);
			if (ev && ep)
				kt_dpbuild_ev(st->snap, s, mode, st->table, ep->name, h, NULL);
		}
	}
}

/* groups: one per service-/local- chain base; sibling chains by name */
static void make_groups(struct model *m)
{
	struct nst *st = m->st;
	for (uint32_t i = 0; i < st->nc; i++) {
		const char *base;
		char hash[9];
		int kind;
		if (!parse_name(st->c[i].name, &base, hash, &kind) || (kind != NK_SERVICE && kind != NK_LOCAL))
			continue;
		char nm[600];
		if (kind == NK_LOCAL) {
			snprintf(nm, sizeof(nm), "service-%s-%s", hash, base);
			if (find_chain(st, nm))
				continue; /* grouped with its service- chain */
		}
		struct ngroup *x = group_add(m, base);
		memcpy(x->hash, hash, 9);
		if (kind == NK_SERVICE)
			x->svc = &st->c[i];
		snprintf(nm, sizeof(nm), "local-%s-%s", hash, base);
		x->local = find_chain(st, nm);
		snprintf(nm, sizeof(nm), "external-%s-%s", hash, base);
		x->ext = find_chain(st, nm);
		struct nchain *sib[4] = {x->svc, x->local, x->ext, NULL};
		snprintf(nm, sizeof(nm), "firewall-%s-%s", hash, base);
		sib[3] = find_chain(st, nm);
		for (int k = 0; k < 4; k++)
			if (sib[k])
				sib[k]->group = m->ng - 1;
	}
}

/* "ns/name:port" (comment) + protocol -> "ns/name/proto/port" */
static const char *base_of_comment(struct nst *st, const char *comment, uint8_t proto)
{
	if (!comment || !strchr(comment, '/'))
		return NULL;
	const char *colon = strchr(comment, ':');
	size_t nl = colon ? (size_t)(colon - comment) : strlen(comment);
	return kt_arena_printf(st->snap->arena, "%.*s/%s/%s", (int)nl, comment, proto_lc(proto), colon ? colon + 1 : "");
}

/* groups for Service ports that only appear in the no-endpoint maps */
static void groups_from_no_endpoint_maps(struct model *m)
{
	static const char *const maps[2] = {"no-endpoint-services", "no-endpoint-nodeports"};
	for (int mi = 0; mi < 2; mi++) {
		struct nset *mp = find_set(m->st, maps[mi]);
		for (uint32_t k = 0; mp && k < mp->n; k++) {
			const char *base = base_of_comment(m->st, mp->e[k].comment, mp->e[k].proto);
			if (base && group_of_base(m, base) == KT_NONE) {
				struct ngroup *x = group_add(m, base);
				char h[9];
				kt_dp_hash_b32(base, h, 8);
				memcpy(x->hash, h, 9);
			}
		}
	}
}

static struct kt_dp_service *out_svc(struct model *m, const struct ngroup *x)
{
	return x->out == KT_NONE ? NULL : &m->n->svcs[x->out];
}

static void make_services(struct model *m)
{
	for (uint32_t gi = 0; gi < m->ng; gi++) {
		struct ngroup *x = &m->g[gi];
		char ns[256], name[256], proto[16], port[256];
		const char *b = x->base;
		const char *s1 = strchr(b, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL, *s3 = s2 ? strchr(s2 + 1, '/') : NULL;
		if (!s3 || (size_t)(s1 - b) >= sizeof(ns) || (size_t)(s2 - s1 - 1) >= sizeof(name) ||
		    (size_t)(s3 - s2 - 1) >= sizeof(proto) || strlen(s3 + 1) >= sizeof(port))
			continue;
		snprintf(ns, sizeof(ns), "%.*s", (int)(s1 - b), b);
		snprintf(name, sizeof(name), "%.*s", (int)(s2 - s1 - 1), s1 + 1);
		snprintf(proto, sizeof(proto), "%.*s", (int)(s3 - s2 - 1), s2 + 1);
		snprintf(port, sizeof(port), "%s", s3 + 1);
		const struct kt_node_opts *o = m->o;
		if (o && o->want_svc_filter &&
		    ((o->svc_namespace && strcmp(o->svc_namespace, ns) != 0) || (o->svc_name && strcmp(o->svc_name, name) != 0)))
			continue;
		struct kt_dp_service *s = kt_dpbuild_svc(m->st->snap, m->n, ns, name, port, proto_uc(proto), m->mode);
		s->chain_hash = kt_intern(m->st->snap->arena, x->hash);
		s->scheduler = "random";
		s->share_basis = KT_SHARE_PROBABILITY;
		x->out = (uint32_t)(s - m->n->svcs);
	}
}

/* The addresses NodePorts are accepted on: the `services` chain matches
 * `fib daddr type local` (every local address) or `ip daddr @nodeport-ips`. */
static void nodeport_addresses(struct model *m)
{
	struct nchain *sc = find_chain(m->st, "services");
	const char *set = NULL;
	for (uint32_t i = 0; sc && i < sc->n; i++)
		if (sc->r[i].set && strcmp(sc->r[i].set, "service-nodeports") == 0 && sc->r[i].daddr_set)
			set = sc->r[i].daddr_set;
	struct nset *ips = set ? find_set(m->st, set) : NULL;
	if (!ips)
		return;
	m->np_addrs = KT_ANEW(m->st->snap->arena, const char *, ips->n + 1);
	for (uint32_t k = 0; k < ips->n; k++)
		if (ips->e[k].ip)
			m->np_addrs[m->n_np++] = ips->e[k].ip;
	if (!m->n_np)
		m->np_addrs = NULL; /* an empty set accepts nothing; keep "every address" off the record */
}

static bool is_cluster_ip(struct model *m, const char *ip)
{
	for (uint32_t k = 0; m->cluster_ips && ip && k < m->cluster_ips->n; k++)
		if (m->cluster_ips->e[k].ip && strcmp(m->cluster_ips->e[k].ip, ip) == 0)
			return true;
	return false;
}

/* A NodePort frontend once per accepted address. */
static void nodeport_fes(struct model *m, struct kt_dp_service *s, int32_t port, enum kt_dp_action a,
			 const char *why)
{
	uint32_t n = m->np_addrs ? m->n_np : 1;
	for (uint32_t k = 0; k < n; k++) {
		struct kt_dp_frontend *f =
			kt_dpbuild_fe(m->st->snap, s, KT_FE_NODEPORT, m->np_addrs ? m->np_addrs[k] : "", port, true);
		kt_dpbuild_fe_action(m->st->snap, f, a, why);
	}
}

static void map_frontends(struct model *m)
{
	struct nst *st = m->st;
	struct nset *maps[2] = {find_set(st, "service-ips"), find_set(st, "service-nodeports")};
	for (int mi = 0; mi < 2; mi++) {
		struct nset *mp = maps[mi];
		for (uint32_t k = 0; mp && k < mp->n; k++) {
			const char *base;
			char hash[9];
			int kind;
			if (!mp->e[k].chain || !parse_name(mp->e[k].chain, &base, hash, &kind))
				continue;
			struct nchain *tc = find_chain(st, mp->e[k].chain);
			uint32_t gi = tc ? tc->group : KT_NONE;
			struct kt_dp_service *s = gi < m->ng ? out_svc(m, &m->g[gi]) : NULL;
			if (!s)
				continue;
			bool ext = kind == NK_EXTERNAL || kind == NK_FIREWALL;
			if (mi == 0 && kind == NK_LOCAL)
				m->g[gi].itp_local = true;
			if (mi == 1)
				nodeport_fes(m, s, mp->e[k].port, KT_DP_FORWARD, NULL);
			else
				kt_dpbuild_fe(st->snap, s, ext && !is_cluster_ip(m, mp->e[k].ip) ? KT_FE_EXTERNAL : KT_FE_CLUSTERIP,
					      mp->e[k].ip, mp->e[k].port, ext);
			kt_dpbuild_ev(st->snap, s, m->mode, st->table, mp->name, 0,
				      mi == 1 ? kt_arena_printf(st->snap->arena, "%u . %d", mp->e[k].proto, mp->e[k].port)
					      : kt_arena_printf(st->snap->arena, "%s . %u . %d", mp->e[k].ip, mp->e[k].proto,
								mp->e[k].port));
		}
	}
}

/* no-endpoint-services / no-endpoint-nodeports: `goto reject-chain`
 * rejects (no endpoints at all), `drop` drops (Local policy and no local
 * endpoint). */
static void no_endpoint_frontends(struct model *m)
{
	struct nst *st = m->st;
	static const char *const maps[2] = {"no-endpoint-services", "no-endpoint-nodeports"};
	for (int mi = 0; mi < 2; mi++) {
		struct nset *mp = find_set(st, maps[mi]);
		for (uint32_t k = 0; mp && k < mp->n; k++) {
			const struct nelem *e = &mp->e[k];
			const char *base = base_of_comment(st, e->comment, e->proto);
			uint32_t gi = base ? group_of_base(m, base) : KT_NONE;
			struct kt_dp_service *s = gi != KT_NONE ? out_svc(m, &m->g[gi]) : NULL;
			if (!s)
				continue;
			bool drop = e->verdict == NF_DROP;
			bool reject = e->chain && strcmp(e->chain, "reject-chain") == 0;
			if (!drop && !reject)
				continue;
			enum kt_dp_action a = drop ? KT_DP_DROP : KT_DP_REJECT;
			const char *why = drop ? "no local endpoints" : "no endpoints";
			if (mi == 1) {
				nodeport_fes(m, s, e->port, a, why);
			} else {
				bool cip = is_cluster_ip(m, e->ip);
				struct kt_dp_frontend *f = kt_dpbuild_fe_find(s, cip ? KT_FE_CLUSTERIP : KT_FE_EXTERNAL, e->ip, e->port);
				if (!f)
					f = kt_dpbuild_fe(st->snap, s, cip ? KT_FE_CLUSTERIP : KT_FE_EXTERNAL, e->ip, e->port, !cip);
				kt_dpbuild_fe_action(st->snap, f, a, why);
			}
			kt_dpbuild_ev(st->snap, s, m->mode, st->table, mp->name, 0,
				      mi == 1 ? kt_arena_printf(st->snap->arena, "%u . %d", e->proto, e->port)
					      : kt_arena_printf(st->snap->arena, "%s . %u . %d", e->ip, e->proto, e->port));
		}
	}
}

/* ---- source ranges ---------------------------------------------------- */

typedef unsigned __int128 u128;

static u128 addr_val(const uint8_t *a, uint8_t alen)
{
	u128 v = 0;
	for (uint8_t i = 0; i < alen; i++)
		v = (v << 8) | a[i];
	return v;
}

static u128 max_of(int bits)
{
	return bits == 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

/* [lo, hi] (inclusive) into CIDR blocks; f's own address alone is not a
 * range (kube-proxy adds the LB IP for node-originated traffic) */
static void range_cidrs(struct nst *st, struct kt_dp_service *s, struct kt_dp_frontend *f, u128 lo, u128 hi,
			uint8_t alen)
{
	int bits = alen * 8;
	u128 maxv = max_of(bits);
	for (int guard = 0; guard < 2 * 128 + 2 && lo <= hi; guard++) {
		int k = 0; /* the largest block aligned at lo inside [lo, hi] has 2^k addresses */
		while (k < bits) {
			int nk = k + 1;
			if (nk == bits) {
				if (lo == 0 && hi == maxv)
					k = nk;
				break;
			}
			u128 mask = ((u128)1 << nk) - 1;
			if ((lo & mask) || lo + mask > hi)
				break;
			k = nk;
		}
		uint8_t b[16];
		u128 v = lo;
		for (int i = alen - 1; i >= 0; i--) {
			b[i] = (uint8_t)(v & 0xff);
			v >>= 8;
		}
		char ip[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 8];
		inet_ntop(alen == 16 ? AF_INET6 : AF_INET, b, ip, sizeof(ip));
		snprintf(cidr, sizeof(cidr), "%s/%d", ip, bits - k);
		if (!f || k != 0 || strcmp(ip, f->ip) != 0)
			kt_dpbuild_fe_range(st->snap, s, f, cidr);
		if (k == bits)
			break;
		u128 last = lo + (((u128)1 << k) - 1);
		if (last >= hi)
			break;
		lo = last + 1;
	}
}

/* The allowed ranges of `ip saddr != @set drop` (an interval set: an
 * element starts a range, the next one flagged INTERVAL_END ends it,
 * exclusive). */
static void set_ranges(struct nst *st, struct kt_dp_service *s, struct kt_dp_frontend *f, struct nset *rs)
{
	if (rs->n > 1)
		qsort(rs->e, rs->n, sizeof(*rs->e), cmp_addr);
	bool open = false;
	u128 lo = 0;
	uint8_t alen = st->family == 10 ? 16 : 4;
	for (uint32_t k = 0; k < rs->n; k++) {
		const struct nelem *e = &rs->e[k];
		u128 v = addr_val(e->addr, alen);
		if (!e->interval_end) {
			if (!open) {
				lo = v;
				open = true;
			}
		} else if (open) {
			if (v > lo)
				range_cidrs(st, s, f, lo, v - 1, alen);
			open = false;
		}
	}
	if (open)
		range_cidrs(st, s, f, lo, max_of(alen * 8), alen);
}

static void firewall_ranges(struct model *m)
{
	struct nst *st = m->st;
	struct nset *fw = find_set(st, "firewall-ips");
	for (uint32_t k = 0; fw && k < fw->n; k++) {
		struct nchain *c = find_chain(st, fw->e[k].chain);
		uint32_t gi = c ? c->group : KT_NONE;
		struct kt_dp_service *s = gi < m->ng ? out_svc(m, &m->g[gi]) : NULL;
		if (!s)
			continue;
		struct kt_dp_frontend *f = NULL;
		for (uint32_t i = 0; i < s->n_fe && !f; i++)
			if (s->fe[i].port == fw->e[k].port && strcmp(s->fe[i].ip, fw->e[k].ip) == 0)
				f = &s->fe[i];
		kt_dpbuild_ev(st->snap, s, m->mode, st->table, fw->name, 0,
			      kt_arena_printf(st->snap->arena, "%s . %u . %d", fw->e[k].ip, fw->e[k].proto, fw->e[k].port));
		kt_dpbuild_ev(st->snap, s, m->mode, st->table, c->name, c->n ? c->r[0].handle : 0, NULL);
		for (uint32_t i = 0; i < c->n; i++) {
			const struct nrule *r = &c->r[i];
			if (r->verdict != KT_IPT_DROP || !r->set_inv)
				continue;
			struct nset *rs = r->set ? find_set(st, r->set) : NULL;
			if (rs)
				set_ranges(st, s, f, rs);
		}
	}
}

/* The internal set, the external chain (policy, masquerade) and the
 * external set of one service. */
static void policies(struct model *m, struct ngroup *x)
{
	struct nst *st = m->st;
	struct kt_dp_service *s = out_svc(m, x);
	if (!s)
		return;
	/* the internal chain: what the ClusterIP element points to (service- or local-) */
	struct nchain *internal = x->itp_local ? x->local : x->svc ? x->svc : x->local;
	bool has_ext = false, cip_forward = false;
	for (uint32_t k = 0; k < s->n_fe; k++) {
		has_ext |= s->fe[k].external;
		cip_forward |= s->fe[k].kind == KT_FE_CLUSTERIP && s->fe[k].action == KT_DP_FORWARD;
	}
	if (cip_forward)
		expand(st, s, internal, false, true, m->mode);
	if (!x->ext)
		return;
	struct nchain *target = NULL;
	bool local_rules = false;
	kt_dpbuild_ev(st->snap, s, m->mode, st->table, x->ext->name, x->ext->n ? x->ext->r[0].handle : 0, NULL);
	for (uint32_t i = 0; i < x->ext->n; i++) {
		struct nrule *r = &x->ext->r[i];
		if (r->fib_local)
			local_rules = true;
		if (!r->cond && r->set_mark)
			s->masquerade = true; /* v1.36+: the mark is set inline */
		if (r->cond || !r->target)
			continue;
		if (strcmp(r->target, "mark-for-masquerade") == 0)
			s->masquerade = true;
		else if (strncmp(r->target, "service-", 8) == 0 || strncmp(r->target, "local-", 6) == 0)
			target = find_chain(st, r->target);
	}
	if (target && strncmp(target->name, "local-", 6) == 0)
		s->local_only = true;
	if (!target && local_rules)
		s->local_only = true;
	if (has_ext && target)
		expand(st, s, target, true, target != internal, m->mode);
	if (target && strncmp(target->name, "local-", 6) == 0)
		for (uint32_t i = 0; i < s->n_ext_be; i++)
			for (uint32_t j = 0; j < s->n_be; j++)
				if (s->be[j].port == s->ext_be[i].port && strcmp(s->be[j].ip, s->ext_be[i].ip) == 0) {
					s->be[j].local = true;
					s->ext_be[i].local = true;
				}
}

void nft_finish(struct nst *st, struct kt_dp_node *n, const struct kt_node_opts *o, enum kt_dp_mode mode)
{
	if (st->nc > 1)
		qsort(st->c, st->nc, sizeof(*st->c), cmp_chain);
	if (st->ns > 1)
		qsort(st->s, st->ns, sizeof(*st->s), cmp_set);
	struct model m = {.st = st, .n = n, .o = o, .mode = mode};
	m.cluster_ips = find_set(st, "cluster-ips");
	make_groups(&m);
	groups_from_no_endpoint_maps(&m);
	make_services(&m);
	nodeport_addresses(&m);
	map_frontends(&m);
	no_endpoint_frontends(&m);
	firewall_ranges(&m);
	for (uint32_t gi = 0; gi < m.ng; gi++)
		policies(&m, &m.g[gi]);
	free(m.g);
}
