/*
 * Cilium eBPF service load balancing: the pinned LB maps under
 * <bpffs>/tc/globals (cilium_lb{4,6}_services_v2, cilium_lb{4,6}_backends_v3
 * with fallbacks to the older _v2 / unversioned backend maps), read with
 * libbpf (bpf_obj_get, get_next_key + lookup). The layout is chosen by map
 * name and checked against the key/value sizes the kernel reports; entries
 * of unexpected size are skipped and counted as a gap. The same decoder
 * (kt_cil_add_service / kt_cil_add_backend) serves tests and the fuzzer.
 * A frontend is (address, port, protocol, scope); slot 0 is the master
 * entry (count, flags, affinity timeout), slots 1..count the backend ids,
 * so a backend's share is the number of its slots over count -- unless the
 * service selects with Maglev (master bits 24-31 = 2, or node default with a
 * cilium_lb{4,6}_maglev entry): then the share is the backend's slot count
 * in the service's lookup table (outer HASH_OF_MAPS keyed by rev NAT id,
 * inner ARRAY[1] of u32 backend_id[M]) over M. Session-affinity state
 * (cilium_lb{4,6}_affinity, validated against cilium_lb_affinity_match as
 * the datapath does) becomes a per-backend count of pinned clients.
 * Must not: update or delete map entries, print, judge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"

#define SVC_F_EXTERNAL_IP 0x01
#define SVC_F_NODEPORT    0x02
#define SVC_F_EXT_LOCAL   0x04
#define SVC_F_AFFINITY    0x10
#define SVC_F_LB          0x20
#define SVC_F2_INT_LOCAL  0x10
#define SVC_F2_TWO_SCOPES 0x20
#define SVC_F2_DSR        0x80

struct cil_svc {
	bool v6;
	uint8_t addr[16];
	uint16_t dport;          /* host order */
	uint16_t slot;
	uint8_t proto;
	uint8_t scope;
	uint32_t backend_id;     /* or affinity timeout | algorithm on slot 0 */
	uint16_t count;
	uint16_t revnat;
	uint8_t flags, flags2;
	uint16_t qcount;
};

struct cil_be {
	uint32_t id;
	bool v6;
	uint8_t addr[16];
	uint16_t port;
	uint8_t proto;
	uint8_t state;
};

struct cil_lut {
	bool v6;
	uint16_t revnat;
	uint32_t m;              /* table size */
	uint32_t *id, *cnt;      /* distinct backend ids (sorted) and slot counts */
	uint32_t n;
};

struct cil_aff {
	bool v6;
	uint16_t revnat;
	uint32_t backend_id;
};

struct kt_cil_state {
	struct cil_lut *lut;
	uint32_t nlut, caplut;
	struct cil_aff *aff;
	uint32_t naff, capaff;
	struct cil_aff *match;   /* (revnat, backend) pairs; v6 unused */
	uint32_t nmatch, capmatch;
	bool have_match;
	struct cil_svc *s;
	uint32_t ns, caps;
	struct cil_be *b;
	uint32_t nb, capb;
	uint32_t bad;            /* entries of unexpected size */
	bool capped;
	bool *used;
};

static uint16_t be16(const uint8_t *p);
static uint32_t h32(const uint8_t *p);

struct kt_cil_state *kt_cil_state_new(void)
{
	struct kt_cil_state *st = calloc(1, sizeof(*st));
	if (!st)
		abort();
	return st;
}

void kt_cil_state_free(struct kt_cil_state *st)
{
	if (!st)
		return;
	for (uint32_t i = 0; i < st->nlut; i++) {
		free(st->lut[i].id);
		free(st->lut[i].cnt);
	}
	free(st->lut);
	free(st->aff);
	free(st->match);
	free(st->s);
	free(st->b);
	free(st->used);
	free(st);
}

static void *grow_arr(void *p, uint32_t *cap, size_t elem)
{
	uint32_t nc = *cap ? *cap * 2 : 64;
	void *q = realloc(p, (size_t)nc * elem);
	if (!q)
		abort();
	*cap = nc;
	return q;
}

static int u32cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int kt_cil_add_maglev(struct kt_cil_state *st, bool v6, uint16_t revnat, const void *lut, size_t len)
{
	uint32_t m = (uint32_t)(len / 4);
	if (m == 0 || m > (1u << 20) || len % 4) {
		st->bad++;
		return -1;
	}
	if (st->nlut >= KT_DP_MAX_MAP_ENTRIES) {
		st->capped = true;
		return -1;
	}
	uint32_t *ids = malloc((size_t)m * 4);
	if (!ids)
		abort();
	memcpy(ids, lut, (size_t)m * 4);
	qsort(ids, m, 4, u32cmp);
	uint32_t *cnt = malloc((size_t)m * 4);
	if (!cnt)
		abort();
	uint32_t n = 0;
	for (uint32_t i = 0; i < m; i++) {
		if (n && ids[n - 1] == ids[i]) {
			cnt[n - 1]++;
			continue;
		}
		ids[n] = ids[i];
		cnt[n++] = 1;
	}
	if (st->nlut == st->caplut)
		st->lut = grow_arr(st->lut, &st->caplut, sizeof(*st->lut));
	st->lut[st->nlut++] = (struct cil_lut){.v6 = v6, .revnat = revnat, .m = m, .id = ids, .cnt = cnt, .n = n};
	return 0;
}

int kt_cil_add_affinity(struct kt_cil_state *st, bool v6, const void *key, size_t klen, const void *val,
			size_t vlen)
{
	const uint8_t *k = key, *v = val;
	size_t off = v6 ? 16 : 8; /* rev_nat_id after the client union */
	if (klen != (v6 ? 24u : 16u) || vlen != 16) {
		st->bad++;
		return -1;
	}
	if (st->naff >= KT_DP_MAX_MAP_ENTRIES) {
		st->capped = true;
		return -1;
	}
	if (st->naff == st->capaff)
		st->aff = grow_arr(st->aff, &st->capaff, sizeof(*st->aff));
	st->aff[st->naff++] = (struct cil_aff){.v6 = v6, .revnat = be16(k + off), .backend_id = h32(v + 8)};
	return 0;
}

int kt_cil_add_affinity_match(struct kt_cil_state *st, const void *key, size_t klen)
{
	const uint8_t *k = key;
	st->have_match = true;
	if (klen != 8) {
		st->bad++;
		return -1;
	}
	if (st->nmatch >= KT_DP_MAX_MAP_ENTRIES) {
		st->capped = true;
		return -1;
	}
	if (st->nmatch == st->capmatch)
		st->match = grow_arr(st->match, &st->capmatch, sizeof(*st->match));
	st->match[st->nmatch++] = (struct cil_aff){.revnat = be16(k + 4), .backend_id = h32(k)};
	return 0;
}

static const struct cil_lut *find_lut(const struct kt_cil_state *st, bool v6, uint16_t revnat)
{
	for (uint32_t i = 0; i < st->nlut; i++)
		if (st->lut[i].v6 == v6 && st->lut[i].revnat == revnat)
			return &st->lut[i];
	return NULL;
}

static uint32_t lut_slots(const struct cil_lut *l, uint32_t id)
{
	const uint32_t *p = bsearch(&id, l->id, l->n, 4, u32cmp);
	return p ? l->cnt[p - l->id] : 0;
}

static uint32_t pinned(const struct kt_cil_state *st, bool v6, uint16_t revnat, uint32_t id)
{
	if (st->have_match) {
		bool ok = false;
		for (uint32_t i = 0; i < st->nmatch && !ok; i++)
			ok = st->match[i].revnat == revnat && st->match[i].backend_id == id;
		if (!ok)
			return 0; /* the datapath ignores (and deletes) an unmatched pin */
	}
	uint32_t c = 0;
	for (uint32_t i = 0; i < st->naff; i++)
		c += st->aff[i].v6 == v6 && st->aff[i].revnat == revnat && st->aff[i].backend_id == id;
	return c;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t h16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t h32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

int kt_cil_add_service(struct kt_cil_state *st, bool v6, const void *key, size_t klen, const void *val,
		       size_t vlen)
{
	const uint8_t *k = key, *v = val;
	size_t al = v6 ? 16 : 4;
	if (klen != (v6 ? 24u : 12u) || vlen != 12) {
		st->bad++;
		return -1;
	}
	if (st->ns >= KT_DP_MAX_MAP_ENTRIES) {
		st->capped = true;
		return -1;
	}
	if (st->ns == st->caps) {
		st->caps = st->caps ? st->caps * 2 : 256;
		st->s = realloc(st->s, st->caps * sizeof(*st->s));
		if (!st->s)
			abort();
	}
	struct cil_svc *s = &st->s[st->ns++];
	memset(s, 0, sizeof(*s));
	s->v6 = v6;
	memcpy(s->addr, k, al);
	s->dport = be16(k + al);
	s->slot = h16(k + al + 2);
	s->proto = k[al + 4];
	s->scope = k[al + 5];
	s->backend_id = h32(v);
	s->count = h16(v + 4);
	s->revnat = be16(v + 6);
	s->flags = v[8];
	s->flags2 = v[9];
	s->qcount = h16(v + 10);
	return 0;
}

int kt_cil_add_backend(struct kt_cil_state *st, bool v6, const void *key, size_t klen, const void *val,
		       size_t vlen)
{
	const uint8_t *k = key, *v = val;
	size_t al = v6 ? 16 : 4;
	if ((klen != 4 && klen != 2) || vlen < al + 4) {
		st->bad++;
		return -1;
	}
	if (st->nb >= KT_DP_MAX_MAP_ENTRIES) {
		st->capped = true;
		return -1;
	}
	if (st->nb == st->capb) {
		st->capb = st->capb ? st->capb * 2 : 256;
		st->b = realloc(st->b, st->capb * sizeof(*st->b));
		if (!st->b)
			abort();
	}
	struct cil_be *b = &st->b[st->nb++];
	memset(b, 0, sizeof(*b));
	b->id = klen == 4 ? h32(k) : h16(k);
	b->v6 = v6;
	memcpy(b->addr, v, al);
	b->port = be16(v + al);
	b->proto = v[al + 2];
	b->state = v[al + 3];
	return 0;
}

static int be_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct cil_be *)a)->id, y = ((const struct cil_be *)b)->id;
	return x < y ? -1 : x > y;
}

static int fe_cmp(const void *a, const void *b)
{
	const struct cil_svc *x = a, *y = b;
	int c = (int)x->v6 - (int)y->v6;
	if (!c)
		c = memcmp(x->addr, y->addr, 16);
	if (!c)
		c = (int)x->dport - (int)y->dport;
	if (!c)
		c = (int)x->proto - (int)y->proto;
	if (!c)
		c = (int)x->scope - (int)y->scope;
	if (!c)
		c = (int)x->slot - (int)y->slot;
	return c;
}

static const struct cil_be *find_be(const struct kt_cil_state *st, uint32_t id)
{
	if (!st->nb)
		return NULL;
	struct cil_be k = {.id = id};
	return bsearch(&k, st->b, st->nb, sizeof(*st->b), be_cmp);
}

static const char *pname(uint8_t p)
{
	return p == 17 ? "UDP" : p == 132 ? "SCTP" : "TCP";
}

static const char *state_name(uint8_t s)
{
	switch (s) {
	case 1: return "terminating";
	case 2: return "quarantined";
	case 3: return "maintenance";
	}
	return NULL;
}

static enum kt_fe_kind fe_kind(uint8_t flags)
{
	if (flags & SVC_F_EXTERNAL_IP)
		return KT_FE_EXTERNALIP;
	if (flags & SVC_F_NODEPORT)
		return KT_FE_NODEPORT;
	if (flags & SVC_F_LB)
		return KT_FE_LOADBALANCER;
	return KT_FE_CLUSTERIP;
}

/* index range [first, end) of one frontend's entries (sorted) */
static uint32_t fe_end(const struct kt_cil_state *st, uint32_t i)
{
	uint32_t j = i + 1;
	while (j < st->ns && st->s[j].v6 == st->s[i].v6 && memcmp(st->s[j].addr, st->s[i].addr, 16) == 0 &&
	       st->s[j].dport == st->s[i].dport && st->s[j].proto == st->s[i].proto && st->s[j].scope == st->s[i].scope)
		j++;
	return j;
}

static void fe_ip(const struct cil_svc *m, char *out, size_t n)
{
	inet_ntop(m->v6 ? AF_INET6 : AF_INET, m->addr, out, (socklen_t)n);
}

/* signature of a frontend's active backend slots, for grouping without names */
static uint64_t sig(const struct kt_cil_state *st, uint32_t i, uint32_t end)
{
	uint64_t h = 1469598103934665603ull ^ st->s[i].proto;
	/* order-independent: sum of mixed ids */
	uint64_t sum = 0;
	for (uint32_t k = i; k < end; k++)
		if (st->s[k].slot >= 1 && st->s[k].slot <= st->s[i].count)
			sum += (st->s[k].backend_id + 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
	return h ^ sum;
}

static void add_slots(const struct kt_cil_state *st, struct kt_snapshot *snap, struct kt_dp_service *s, uint32_t i,
		      uint32_t end, bool ext)
{
	const struct cil_svc *m = &st->s[i];
	if (!m->count)
		return;
	uint8_t algo = (uint8_t)(m->backend_id >> 24);
	const struct cil_lut *l = algo == 1 ? NULL : find_lut(st, m->v6, m->revnat);
	/* Maglev: a backend's share is its LUT slots among this set's backends */
	uint64_t lsum = 0;
	for (uint32_t k = i; l && k < end; k++)
		if (st->s[k].slot >= 1 && st->s[k].slot <= m->count && find_be(st, st->s[k].backend_id))
			lsum += lut_slots(l, st->s[k].backend_id);
	if (l)
		s->lb_algorithm = "maglev";
	else if (algo == 1 || (algo == 0 && st->nlut))
		s->lb_algorithm = "random";
	for (uint32_t k = i; k < end; k++) {
		const struct cil_svc *e = &st->s[k];
		if (e->slot < 1 || e->slot > m->count)
			continue;
		const struct cil_be *b = find_be(st, e->backend_id);
		char ip[INET6_ADDRSTRLEN];
		if (!b)
			continue;
		inet_ntop(b->v6 ? AF_INET6 : AF_INET, b->addr, ip, sizeof(ip));
		double p = lsum ? (double)lut_slots(l, e->backend_id) / (double)lsum : 1.0 / (double)m->count;
		struct kt_dp_backend *x = kt_dpbuild_be(snap, s, ext, ip, b->port, p);
		x->state = state_name(b->state);
		x->weight = l ? (int32_t)lut_slots(l, e->backend_id) : x->weight + 1;
	}
}

static void emit_fe(const struct kt_cil_state *st, struct kt_snapshot *snap, struct kt_dp_service *s, uint32_t i,
		    uint32_t end, const char *map)
{
	const struct cil_svc *m = &st->s[i];
	enum kt_fe_kind k = fe_kind(m->flags);
	bool ext = k != KT_FE_CLUSTERIP;
	char ip[INET6_ADDRSTRLEN];
	fe_ip(m, ip, sizeof(ip));
	if (m->scope == 0)
		kt_dpbuild_fe(snap, s, k, k == KT_FE_NODEPORT ? "" : ip, m->dport, ext);
	char key[128];
	snprintf(key, sizeof(key), "%s%s%s:%u/%s%s (revnat %u)", m->v6 ? "[" : "", ip, m->v6 ? "]" : "", m->dport,
		 pname(m->proto), m->scope ? "/i" : "", m->revnat);
	kt_dpbuild_ev(snap, s, KT_DP_CILIUM, map, NULL, 0, key);
	/* two scopes: scope 0 is the external set, scope 1 the internal one */
	bool internal_set = !ext || m->scope == 1;
	bool two = m->flags2 & SVC_F2_TWO_SCOPES;
	if (internal_set ? s->n_be == 0 : s->n_ext_be == 0)
		add_slots(st, snap, s, i, end, !internal_set);
	if (ext && !two && s->n_be == 0 && !(m->flags & SVC_F_EXT_LOCAL))
		add_slots(st, snap, s, i, end, false);
	/* pins are keyed by the frontend's rev NAT id: add each frontend's */
	for (uint32_t q = i; st->naff && q < end; q++) {
		const struct cil_svc *e = &st->s[q];
		const struct cil_be *b = e->slot >= 1 && e->slot <= m->count ? find_be(st, e->backend_id) : NULL;
		uint32_t c = b ? pinned(st, m->v6, m->revnat, e->backend_id) : 0;
		if (!c)
			continue;
		char bip[INET6_ADDRSTRLEN];
		inet_ntop(b->v6 ? AF_INET6 : AF_INET, b->addr, bip, sizeof(bip));
		struct kt_dp_backend *sets[2] = {s->be, s->ext_be};
		uint32_t cnt[2] = {s->n_be, s->n_ext_be};
		for (int w = 0; w < 2; w++)
			for (uint32_t x = 0; x < cnt[w]; x++)
				if (sets[w][x].port == b->port && strcmp(sets[w][x].ip, bip) == 0)
					sets[w][x].affinity_clients += c;
	}
	if (m->flags & SVC_F_AFFINITY) {
		s->affinity = true;
		s->affinity_timeout = (int32_t)(m->backend_id & 0xffffff);
	}
	/* no backend slot: the datapath answers ICMP unreachable
	 * (--service-no-backend-response=reject, the default since v1.15)
	 * or drops (=drop, older releases, kernels before 5.2) */
	if (!m->count && m->scope == 0) {
		struct kt_dp_frontend *f = kt_dpbuild_fe_find(s, k, k == KT_FE_NODEPORT ? "" : ip, m->dport);
		kt_dpbuild_fe_action(snap, f, KT_DP_REJECT,
				     m->qcount ? "no active backends (only quarantined ones)" : "no backends");
	}
	if (s->lb_algorithm) {
		s->scheduler = s->lb_algorithm;
		s->share_basis = strcmp(s->lb_algorithm, "maglev") == 0 ? KT_SHARE_HASH : KT_SHARE_PROBABILITY;
	}
	if (ext && (m->flags & SVC_F_EXT_LOCAL))
		s->local_only = true;
	if (ext && !(m->flags & SVC_F_EXT_LOCAL) && !(m->flags2 & SVC_F2_DSR))
		s->masquerade = true;
}

void kt_cil_emit(struct kt_cil_state *st, struct kt_snapshot *snap, struct kt_dp_node *n, const char *svc_map)
{
	if (st->nb > 1)
		qsort(st->b, st->nb, sizeof(*st->b), be_cmp);
	if (st->ns > 1)
		qsort(st->s, st->ns, sizeof(*st->s), fe_cmp);
	if (st->bad)
		kt_dpbuild_note(snap, n, "cilium: %u map entries of unexpected size skipped (unknown Cilium version?)", st->bad);
	if (st->capped)
		kt_dpbuild_note(snap, n, "cilium: map entry cap hit; state is incomplete");
	free(st->used);
	st->used = calloc(st->ns + 1, sizeof(bool));
	if (!st->used)
		abort();
	/* masters only: entries with slot 0 start a frontend (sorted first) */
	for (uint32_t i = 0; i < st->ns; i = fe_end(st, i)) {
		const struct cil_svc *m = &st->s[i];
		if (st->used[i] || m->slot != 0 || (m->dport == 0 && m->proto == 0))
			continue; /* wildcard drop entries carry no service */
		uint32_t end = fe_end(st, i);
		char ip[INET6_ADDRSTRLEN];
		fe_ip(m, ip, sizeof(ip));
		enum kt_fe_kind k = fe_kind(m->flags);
		struct kt_dp_frontend probe = {.kind = k, .ip = ip, .port = m->dport};
		uint32_t si, pi;
		bool named = snap->n_services && kt_dp_resolve_fe(snap, &probe, pname(m->proto), &si, &pi);
		struct kt_dp_service *s;
		if (named) {
			const struct kt_service *sv = &snap->services[si];
			s = kt_dpbuild_svc(snap, n, sv->meta.namespace, sv->meta.name,
				       sv->ports[pi].name ? sv->ports[pi].name : "", pname(m->proto), KT_DP_CILIUM);
		} else {
			char nm[96];
			snprintf(nm, sizeof(nm), "%s:%u", ip, m->dport);
			s = kt_dpbuild_svc(snap, n, "", nm, "", pname(m->proto), KT_DP_CILIUM);
			s->names_guessed = true;
		}
		uint64_t my_sig = sig(st, i, end);
		/* every frontend of the same Service port (or, unnamed, the same backends) */
		for (uint32_t j = i; j < st->ns; j = fe_end(st, j)) {
			const struct cil_svc *x = &st->s[j];
			if (st->used[j] || x->slot != 0 || x->proto != m->proto || (x->dport == 0 && x->proto == 0))
				continue;
			uint32_t xe = fe_end(st, j);
			bool same;
			if (named) {
				char xip[INET6_ADDRSTRLEN];
				fe_ip(x, xip, sizeof(xip));
				struct kt_dp_frontend p2 = {.kind = fe_kind(x->flags), .ip = xip, .port = x->dport};
				uint32_t s2, p2i;
				same = kt_dp_resolve_fe(snap, &p2, pname(x->proto), &s2, &p2i) && s2 == si && p2i == pi;
			} else {
				/* a frontend without backends groups with nothing: every
				 * empty frontend has the same signature */
				same = sig(st, j, xe) == my_sig && (x->flags & (SVC_F_EXT_LOCAL)) == (m->flags & SVC_F_EXT_LOCAL) &&
				       (m->count || j == i);
			}
			if (!same)
				continue;
			st->used[j] = true;
			emit_fe(st, snap, s, j, xe, svc_map);
		}
		/* Local policy: the external set holds node-local backends */
		if (s->local_only)
			for (uint32_t a = 0; a < s->n_ext_be; a++) {
				s->ext_be[a].local = true;
				for (uint32_t b = 0; b < s->n_be; b++)
					if (s->be[b].port == s->ext_be[a].port && strcmp(s->be[b].ip, s->ext_be[a].ip) == 0)
						s->be[b].local = true;
			}
	}
}

/* ---- live ----------------------------------------------------------- */

static int open_map(const char *dir, const char *name, struct bpf_map_info *info)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	memset(info, 0, sizeof(*info));
	uint32_t il = sizeof(*info);
	if (bpf_obj_get_info_by_fd(fd, info, &il) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

enum walk_kind { W_SVC, W_BE, W_AFF, W_MATCH };

static int walk(int fd, const struct bpf_map_info *info, struct kt_cil_state *st, bool v6, enum walk_kind svc)
{
	uint8_t key[64], next[64], val[256];
	if (info->key_size > sizeof(key) || info->value_size > sizeof(val))
		return -EINVAL;
	void *prev = NULL;
	uint32_t n = 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		if (++n > KT_DP_MAX_MAP_ENTRIES) {
			st->capped = true;
			break;
		}
		memcpy(key, next, info->key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, val) != 0)
			continue; /* deleted meanwhile */
		if (svc == W_SVC)
			kt_cil_add_service(st, v6, key, info->key_size, val, info->value_size);
		else if (svc == W_BE)
			kt_cil_add_backend(st, v6, key, info->key_size, val, info->value_size);
		else if (svc == W_AFF)
			kt_cil_add_affinity(st, v6, key, info->key_size, val, info->value_size);
		else
			kt_cil_add_affinity_match(st, key, info->key_size);
	}
	return 0;
}

/* Outer HASH_OF_MAPS keyed by the rev NAT id (network order, as the
 * datapath looks it up with svc->rev_nat_index); a user-space lookup gives
 * the inner map's id, whose element 0 is the u32 backend_id[M] table. */
static void read_maglev(struct kt_snapshot *snap, const char *dir, const char *name, struct kt_cil_state *st, bool v6)
{
	struct bpf_map_info oi;
	int ofd = open_map(dir, name, &oi);
	if (ofd < 0) {
		if (ofd != -ENOENT)
			kt_snapshot_gap(snap, name, "cannot open pinned map in %s: %s", dir, strerror(-ofd));
		return;
	}
	if (oi.key_size != 2 || oi.value_size != 4) {
		kt_snapshot_gap(snap, name, "unexpected key/value size %u/%u", oi.key_size, oi.value_size);
		close(ofd);
		return;
	}
	uint8_t key[2], next[2];
	void *prev = NULL;
	uint32_t cnt = 0;
	uint8_t *lut = NULL;
	size_t lut_cap = 0;
	while (bpf_map_get_next_key(ofd, prev, next) == 0) {
		if (++cnt > KT_DP_MAX_MAP_ENTRIES) {
			st->capped = true;
			break;
		}
		memcpy(key, next, 2);
		prev = key;
		uint32_t inner_id;
		if (bpf_map_lookup_elem(ofd, key, &inner_id) != 0)
			continue;
		int ifd = bpf_map_get_fd_by_id(inner_id);
		if (ifd < 0)
			continue;
		struct bpf_map_info ii;
		uint32_t il = sizeof(ii);
		memset(&ii, 0, sizeof(ii));
		uint32_t zero = 0;
		if (bpf_obj_get_info_by_fd(ifd, &ii, &il) == 0 && ii.key_size == 4 && ii.value_size >= 4 &&
		    ii.value_size <= (4u << 20)) {
			if (lut_cap < ii.value_size) {
				free(lut);
				lut_cap = ii.value_size;
				lut = malloc(lut_cap);
				if (!lut)
					abort();
			}
			if (bpf_map_lookup_elem(ifd, &zero, lut) == 0)
				kt_cil_add_maglev(st, v6, be16(key), lut, ii.value_size);
		}
		close(ifd);
	}
	free(lut);
	close(ofd);
}

int kt_dp_cilium(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/tc/globals", o->bpffs ? o->bpffs : "/sys/fs/bpf");
	int found = 0;
	for (int fam = 0; fam < 2; fam++) {
		bool v6 = fam == 1;
		const char *svc_map = v6 ? "cilium_lb6_services_v2" : "cilium_lb4_services_v2";
		struct bpf_map_info si;
		int sfd = open_map(dir, svc_map, &si);
		if (sfd < 0) {
			if (sfd != -ENOENT)
				kt_snapshot_gap(snap, svc_map, "cannot open pinned map in %s: %s", dir, strerror(-sfd));
			continue;
		}
		static const char *be4[] = {"cilium_lb4_backends_v3", "cilium_lb4_backends_v2", "cilium_lb4_backends"};
		static const char *be6[] = {"cilium_lb6_backends_v3", "cilium_lb6_backends_v2", "cilium_lb6_backends"};
		struct kt_cil_state *st = kt_cil_state_new();
		walk(sfd, &si, st, v6, W_SVC);
		close(sfd);
		bool have_be = false;
		for (int k = 0; k < 3 && !have_be; k++) {
			struct bpf_map_info bi;
			int bfd = open_map(dir, v6 ? be6[k] : be4[k], &bi);
			if (bfd < 0)
				continue;
			walk(bfd, &bi, st, v6, W_BE);
			close(bfd);
			have_be = true;
		}
		if (!have_be)
			kt_snapshot_gap(snap, "cilium backends map", "no cilium_lb%c_backends{_v3,_v2,} map in %s", v6 ? '6' : '4',
					dir);
		read_maglev(snap, dir, v6 ? "cilium_lb6_maglev" : "cilium_lb4_maglev", st, v6);
		struct bpf_map_info ai;
		int afd = open_map(dir, v6 ? "cilium_lb6_affinity" : "cilium_lb4_affinity", &ai);
		if (afd >= 0) {
			walk(afd, &ai, st, v6, W_AFF);
			close(afd);
			afd = open_map(dir, "cilium_lb_affinity_match", &ai);
			if (afd >= 0) {
				walk(afd, &ai, st, v6, W_MATCH);
				close(afd);
			}
		}
		kt_cil_emit(st, snap, n, svc_map);
		kt_cil_state_free(st);
		found++;
	}
	return found;
}
