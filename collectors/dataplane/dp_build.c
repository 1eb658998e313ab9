/*
 * The service builder every dataplane mode appends through
 * (kt_dpbuild_*: nodes, services, frontends, backends, evidence, notes in
 * the snapshot's arena), kube-proxy's naming helpers (servicePortName
 * split, the SHA-256/base32 chain-name hash, probability snapping) and the
 * resolution of unnamed IPVS / Cilium services to API Service ports.
 * Must not: print, judge (no findings), or touch the kernel.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

/* ---- builder -------------------------------------------------------- */

static void *agrow(struct kt_arena *a, void *arr, uint32_t n, uint32_t *cap, size_t elem)
{
	if (n < *cap)
		return arr;
	uint32_t nc = *cap ? *cap * 2 : 4;
	void *na = kt_arena_alloc(a, (size_t)nc * elem);
	if (n)
		memcpy(na, arr, (size_t)n * elem);
	*cap = nc;
	return na;
}

struct kt_dp_node *kt_dpbuild_node(struct kt_snapshot *snap, const char *name, const char *source)
{
	for (uint32_t i = 0; i < snap->n_dp; i++)
		if (snap->dp[i].node && strcmp(snap->dp[i].node, name) == 0)
			return &snap->dp[i];
	struct kt_dp_node *n = KT_SNAP_PUSH(snap, dp);
	n->node = kt_intern(snap->arena, name);
	n->source = kt_intern(snap->arena, source);
	return n;
}

/* per-service array capacities live in a side table keyed by pointer would
 * be overkill: capacity is the next power of two >= n (agrow doubles from 4). */
static uint32_t cap_of(uint32_t n)
{
	if (n == 0)
		return 0;
	uint32_t c = 4;
	while (c < n)
		c *= 2;
	return c;
}

struct kt_dp_service *kt_dpbuild_svc(struct kt_snapshot *snap, struct kt_dp_node *n, const char *ns,
				 const char *name, const char *port_name, const char *proto,
				 enum kt_dp_mode mode)
{
	struct kt_dp_service *s = kt_grow(&n->svcs, &n->n_svcs, &n->cap_svcs, sizeof(*n->svcs));
	s->namespace = kt_intern(snap->arena, ns ? ns : "");
	s->name = kt_intern(snap->arena, name ? name : "");
	s->port_name = kt_intern(snap->arena, port_name ? port_name : "");
	s->protocol = kt_intern(snap->arena, proto ? proto : "TCP");
	s->mode = mode;
	s->svc = KT_NONE;
	n->modes |= 1u << mode;
	return s;
}

struct kt_dp_frontend *kt_dpbuild_fe(struct kt_snapshot *snap, struct kt_dp_service *s, enum kt_fe_kind k,
				 const char *ip, int32_t port, bool external)
{
	for (uint32_t i = 0; i < s->n_fe; i++)
		if (s->fe[i].kind == k && s->fe[i].port == port && strcmp(s->fe[i].ip, ip ? ip : "") == 0)
			return &s->fe[i];
	uint32_t cap = cap_of(s->n_fe);
	s->fe = agrow(snap->arena, s->fe, s->n_fe, &cap, sizeof(*s->fe));
	struct kt_dp_frontend *f = &s->fe[s->n_fe++];
	f->kind = k;
	f->ip = kt_intern(snap->arena, ip ? ip : "");
	f->port = port;
	f->protocol = s->protocol;
	f->external = external;
	return f;
}

struct kt_dp_backend *kt_dpbuild_be(struct kt_snapshot *snap, struct kt_dp_service *s, bool external,
				const char *ip, int32_t port, double prob)
{
	struct kt_dp_backend **arr = external ? &s->ext_be : &s->be;
	uint32_t *n = external ? &s->n_ext_be : &s->n_be;
	for (uint32_t i = 0; i < *n; i++)
		if ((*arr)[i].port == port && strcmp((*arr)[i].ip, ip) == 0) {
			(*arr)[i].probability += prob;
			return &(*arr)[i];
		}
	uint32_t cap = cap_of(*n);
	*arr = agrow(snap->arena, *arr, *n, &cap, sizeof(**arr));
	struct kt_dp_backend *b = &(*arr)[(*n)++];
	memset(b, 0, sizeof(*b));
	b->ip = kt_intern(snap->arena, ip);
	b->port = port;
	b->probability = prob;
	return b;
}

void kt_dpbuild_ev(struct kt_snapshot *snap, struct kt_dp_service *s, enum kt_dp_mode m, const char *table,
	       const char *chain, uint64_t handle, const char *map_key)
{
	uint32_t cap = cap_of(s->n_ev);
	s->ev = agrow(snap->arena, s->ev, s->n_ev, &cap, sizeof(*s->ev));
	struct kt_dp_evidence *e = &s->ev[s->n_ev++];
	e->mode = m;
	e->table = kt_intern(snap->arena, table);
	e->chain = chain ? kt_arena_strdup(snap->arena, chain) : NULL;
	e->handle = handle;
	e->map_key = map_key ? kt_arena_strdup(snap->arena, map_key) : NULL;
}

void kt_dpbuild_note(struct kt_snapshot *snap, struct kt_dp_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = kt_arena_vprintf(snap->arena, fmt, ap);
	va_end(ap);
	for (uint32_t i = 0; i < n->n_notes; i++)
		if (strcmp(n->notes[i], msg) == 0)
			return;
	n->notes = agrow(snap->arena, n->notes, n->n_notes, &n->cap_notes, sizeof(*n->notes));
	n->notes[n->n_notes++] = msg;
}

void kt_dpbuild_svc_note(struct kt_snapshot *snap, struct kt_dp_service *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = kt_arena_vprintf(snap->arena, fmt, ap);
	va_end(ap);
	for (uint32_t i = 0; i < s->n_notes; i++)
		if (strcmp(s->notes[i], msg) == 0)
			return;
	uint32_t cap = cap_of(s->n_notes);
	s->notes = agrow(snap->arena, s->notes, s->n_notes, &cap, sizeof(*s->notes));
	s->notes[s->n_notes++] = msg;
}

struct kt_dp_frontend *kt_dpbuild_fe_find(struct kt_dp_service *s, enum kt_fe_kind k, const char *ip, int32_t port)
{
	for (uint32_t i = 0; i < s->n_fe; i++)
		if (s->fe[i].kind == k && s->fe[i].port == port && strcmp(s->fe[i].ip, ip ? ip : "") == 0)
			return &s->fe[i];
	return NULL;
}

void kt_dpbuild_fe_action(struct kt_snapshot *snap, struct kt_dp_frontend *f, enum kt_dp_action a,
			  const char *reason)
{
	if (!f || a == KT_DP_FORWARD || f->action != KT_DP_FORWARD)
		return;
	f->action = a;
	f->reason = reason ? kt_intern(snap->arena, reason) : NULL;
}

static void range_add(struct kt_snapshot *snap, const char ***v, uint32_t *n, const char *cidr)
{
	for (uint32_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], cidr) == 0)
			return;
	uint32_t cap = cap_of(*n);
	*v = agrow(snap->arena, *v, *n, &cap, sizeof(**v));
	(*v)[(*n)++] = kt_intern(snap->arena, cidr);
}

void kt_dpbuild_fe_range(struct kt_snapshot *snap, struct kt_dp_service *s, struct kt_dp_frontend *f,
			 const char *cidr)
{
	if (f)
		range_add(snap, &f->source_ranges, &f->n_source_ranges, cidr);
	range_add(snap, &s->source_ranges, &s->n_source_ranges, cidr);
}

struct kt_dp_service *kt_dpbuild_find(struct kt_dp_node *n, const char *ns, const char *name, const char *port_name,
				      const char *proto, enum kt_dp_mode mode)
{
	for (uint32_t i = 0; i < n->n_svcs; i++) {
		struct kt_dp_service *s = &n->svcs[i];
		if (s->mode == mode && strcmp(s->namespace, ns) == 0 && strcmp(s->name, name) == 0 &&
		    strcmp(s->port_name, port_name ? port_name : "") == 0 && strcmp(s->protocol, proto) == 0)
			return s;
	}
	return NULL;
}

bool kt_dp_split_spn(const char *spn, size_t len, char *ns, size_t nsz, char *name, size_t namesz,
		     char *port, size_t portsz)
{
	const char *slash = memchr(spn, '/', len);
	if (!slash || slash == spn)
		return false;
	const char *rest = slash + 1;
	size_t rlen = len - (size_t)(rest - spn);
	const char *colon = memchr(rest, ':', rlen);
	size_t nlen = colon ? (size_t)(colon - rest) : rlen;
	size_t plen = colon ? rlen - nlen - 1 : 0;
	size_t nslen = (size_t)(slash - spn);
	if (nlen == 0 || nslen >= nsz || nlen >= namesz || plen >= portsz)
		return false;
	if (memchr(rest, ' ', rlen) || memchr(rest, '/', rlen))
		return false;
	memcpy(ns, spn, nslen);
	ns[nslen] = 0;
	memcpy(name, rest, nlen);
	name[nlen] = 0;
	if (colon)
		memcpy(port, colon + 1, plen);
	port[plen] = 0;
	return true;
}

double kt_dp_snap_prob(double p)
{
	if (p <= 0)
		return 0;
	if (p >= 1)
		return 1;
	double k = 1.0 / p;
	double r = (double)(long)(k + 0.5);
	if (r >= 1 && (p - 1.0 / r) < 1e-8 && (1.0 / r - p) < 1e-8)
		return 1.0 / r;
	return p;
}

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------- */

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t S1 = ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + S1 + ch + K256[i] + w[i];
		uint32_t S0 = ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22);
		uint32_t mj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + mj;
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

void kt_sha256(const void *data, size_t len, uint8_t out[32])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	const uint8_t *p = data;
	size_t left = len;
	while (left >= 64) {
		sha_block(h, p);
		p += 64;
		left -= 64;
	}
	uint8_t tail[128] = {0};
	memcpy(tail, p, left);
	tail[left] = 0x80;
	size_t tl = left + 1 + 8 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha_block(h, tail);
	if (tl == 128)
		sha_block(h, tail + 64);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

void kt_dp_hash_b32(const char *s, char *out, size_t n)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t d[32];
	kt_sha256(s, strlen(s), d);
	if (n > 51)
		n = 51;
	for (size_t i = 0; i < n; i++) {
		size_t bit = i * 5, byte = bit / 8, off = bit % 8;
		unsigned v = (unsigned)d[byte] << 8 | (byte + 1 < 32 ? d[byte + 1] : 0);
		out[i] = alpha[(v >> (11 - off)) & 31];
	}
	out[n] = 0;
}

/* ---- IPVS / Cilium name resolution --------------------------------- */

static bool ip_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Find the Service port a frontend belongs to. */
bool kt_dp_resolve_fe(const struct kt_snapshot *snap, const struct kt_dp_frontend *f, const char *proto,
		      uint32_t *svc, uint32_t *port)
{
	for (uint32_t si = 0; si < snap->n_services; si++) {
		const struct kt_service *sv = &snap->services[si];
		for (uint32_t pi = 0; pi < sv->n_ports; pi++) {
			const struct kt_svc_port *sp = &sv->ports[pi];
			if (strcmp(sp->protocol ? sp->protocol : "TCP", proto) != 0)
				continue;
			bool hit = false;
			if (f->kind == KT_FE_NODEPORT || f->kind == KT_FE_HEALTHCHECK) {
				hit = f->kind == KT_FE_NODEPORT ? sp->node_port == f->port :
								  sv->health_check_node_port == f->port;
			} else if (sp->port == f->port) {
				for (uint32_t k = 0; k < sv->n_cluster_ips && !hit; k++)
					hit = ip_eq(sv->cluster_ips[k], f->ip);
				for (uint32_t k = 0; k < sv->n_external_ips && !hit; k++)
					hit = ip_eq(sv->external_ips[k], f->ip);
				for (uint32_t k = 0; k < sv->n_ingress && !hit; k++)
					hit = ip_eq(sv->ingress[k].ip, f->ip);
			}
			if (hit) {
				*svc = si;
				*port = pi;
				return true;
			}
		}
	}
	return false;
}

void kt_dp_resolve_names(struct kt_snapshot *snap, struct kt_dp_node *n, uint32_t first_svc)
{
	if (!snap->n_services)
		return;
	for (uint32_t i = first_svc; i < n->n_svcs; i++) {
		struct kt_dp_service *s = &n->svcs[i];
		if (!s->names_guessed)
			continue;
		for (uint32_t k = 0; k < s->n_fe; k++) {
			uint32_t si, pi;
			if (kt_dp_resolve_fe(snap, &s->fe[k], s->protocol, &si, &pi)) {
				const struct kt_service *sv = &snap->services[si];
				s->namespace = sv->meta.namespace;
				s->name = sv->meta.name;
				s->port_name = kt_intern(snap->arena, sv->ports[pi].name ? sv->ports[pi].name : "");
				s->names_guessed = false;
				break;
			}
		}
	}
}
