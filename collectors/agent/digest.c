/*
 * Per-Service digests of one node's normalised dataplane: the canonical
 * form that decides whether two nodes program a Service the same way, and
 * its FNV-1a 64 hash. A client compares digests across nodes, finds the
 * majority per Service and fetches full entries only where they differ.
 *
 * Canonical form (version KT_AGENT_DIGEST_VERSION), one block per
 * programmed (port name, protocol, mode) entry of the Service, blocks
 * sorted, lines within a block in a fixed order:
 *   port NAME|- PROTOCOL MODE
 *   affinity none|clientIP SECONDS   masquerade 0|1   localOnly 0|1
 *   scheduler S / lbAlgorithm A      (when set)
 *   sourceRange CIDR                 (sorted)
 *   frontend KIND IP PORT internal|external   (sorted, duplicates dropped;
 *                                     IP "*" for nodePort and healthCheck)
 *   backend IP PORT PROBABILITY WEIGHT STATE  (internal set, sorted)
 *   externalBackend ... | externalBackends node-local
 * Left out on purpose, because they differ between nodes that program the
 * same thing: rule handles, map keys and other evidence, chain hashes,
 * backend "local" flags, the node addresses of NodePort and health-check
 * frontends, IPVS connection counters and Cilium affinity client counts.
 * Under externalTrafficPolicy Local the external set is by design this
 * node's own endpoints: it is replaced by "node-local" in the hash and
 * listed next to the digest instead, so a client can check each node's
 * local set against the EndpointSlices. Everything that changes where a
 * packet goes (a stale or missing backend, another Local set, another
 * action, masquerading, affinity, the proxy mode) changes the digest.
 * Pure: no I/O, no printing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktrace/agent.h"
#include "ktrace/arena.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t len)
{
	if (b->n + len + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 1024;
		while (nc < b->n + len + 1)
			nc *= 2;
		b->p = kt_xrealloc(b->p, nc);
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = 0;
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		sb_add(b, tmp, (size_t)n);
		return;
	}
	char *big = kt_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb_add(b, big, (size_t)n);
	free(big);
}

static const char *str0(const char *s)
{
	return s && s[0] ? s : "-";
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, optionally de-duplicated lines appended to b; frees them. */
static void sb_lines(struct sbuf *b, char **lines, uint32_t n, bool dedup)
{
	if (n > 1)
		qsort(lines, n, sizeof(*lines), strp_cmp);
	for (uint32_t i = 0; i < n; i++) {
		if (!(dedup && i && strcmp(lines[i], lines[i - 1]) == 0))
			sb_add(b, lines[i], strlen(lines[i]));
	}
	for (uint32_t i = 0; i < n; i++)
		free(lines[i]);
}

static char *line_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *line_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		kt_oom();
	va_end(ap);
	return s;
}

static void canon_backends(struct sbuf *b, const char *tag, const struct kt_dp_backend *be, uint32_t n)
{
	char **lines = kt_xcalloc(n ? n : 1, sizeof(*lines));
	for (uint32_t i = 0; i < n; i++)
		lines[i] = line_printf("%s %s %d %.6f %d %s\n", tag, str0(be[i].ip), be[i].port, be[i].probability,
				       be[i].weight, be[i].state && be[i].state[0] ? be[i].state : "active");
	sb_lines(b, lines, n, false);
	free(lines);
}

/* The canonical block of one programmed entry. */
static char *canon_entry(const struct kt_dp_service *s)
{
	struct sbuf b = {0};
	sb_printf(&b, "port %s %s %s\n", str0(s->port_name), str0(s->protocol), kt_dp_mode_name(s->mode));
	sb_printf(&b, "affinity %s %d\n", s->affinity ? "clientIP" : "none", s->affinity ? s->affinity_timeout : 0);
	sb_printf(&b, "masquerade %d\nlocalOnly %d\n", s->masquerade ? 1 : 0, s->local_only ? 1 : 0);
	if (s->scheduler)
		sb_printf(&b, "scheduler %s\n", s->scheduler);
	if (s->lb_algorithm)
		sb_printf(&b, "lbAlgorithm %s\n", s->lb_algorithm);
	char **lines = kt_xcalloc(s->n_source_ranges + s->n_fe + 1, sizeof(*lines));
	for (uint32_t i = 0; i < s->n_source_ranges; i++)
		lines[i] = line_printf("sourceRange %s\n", str0(s->source_ranges[i]));
	sb_lines(&b, lines, s->n_source_ranges, true);
	for (uint32_t i = 0; i < s->n_fe; i++) {
		const struct kt_dp_frontend *f = &s->fe[i];
		bool node_addr = f->kind == KT_FE_NODEPORT || f->kind == KT_FE_HEALTHCHECK;
		lines[i] = line_printf("frontend %s %s %d %s\n", kt_fe_kind_name(f->kind),
				       node_addr ? "*" : str0(f->ip), f->port, f->external ? "external" : "internal");
	}
	sb_lines(&b, lines, s->n_fe, true);
	free(lines);
	canon_backends(&b, "backend", s->be, s->n_be);
	if (s->local_only)
		sb_printf(&b, "externalBackends node-local\n");
	else
		canon_backends(&b, "externalBackend", s->ext_be, s->n_ext_be);
	return b.p;
}

static int local_cmp(const void *x, const void *y)
{
	const struct kt_agent_local *a = x, *b = y;
	int c = strcmp(a->ip, b->ip);
	if (c)
		return c;
	return (a->port > b->port) - (a->port < b->port);
}

/* Digest of the entries idx[0..n) (all of one namespace/name). */
static void digest_group(const struct kt_dp_node *node, const uint32_t *idx, uint32_t n, struct kt_arena *a,
			 bool canonical, struct kt_agent_digest *out)
{
	const struct kt_dp_service *first = &node->svcs[idx[0]];
	out->namespace = first->namespace ? first->namespace : "";
	out->name = first->name ? first->name : "";
	out->ports = n;
	char **blocks = kt_xcalloc(n, sizeof(*blocks));
	uint32_t n_local = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_dp_service *s = &node->svcs[idx[i]];
		blocks[i] = canon_entry(s);
		if (s->local_only) {
			out->has_local = true;
			n_local += s->n_ext_be;
		}
	}
	struct sbuf b = {0};
	sb_add(&b, "", 0);
	sb_lines(&b, blocks, n, false);
	free(blocks);
	out->digest = kt_hash64(KT_HASH_SEED, b.p, b.n);
	if (canonical)
		out->canonical = kt_arena_strndup(a, b.p, b.n);
	free(b.p);
	if (!n_local)
		return;
	out->local = KT_ANEW(a, struct kt_agent_local, n_local);
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_dp_service *s = &node->svcs[idx[i]];
		for (uint32_t k = 0; s->local_only && k < s->n_ext_be; k++) {
			out->local[out->n_local].ip = s->ext_be[k].ip ? s->ext_be[k].ip : "";
			out->local[out->n_local].port = s->ext_be[k].port;
			out->n_local++;
		}
	}
	qsort(out->local, out->n_local, sizeof(*out->local), local_cmp);
	uint32_t w = 0;
	for (uint32_t i = 0; i < out->n_local; i++)
		if (!w || local_cmp(&out->local[w - 1], &out->local[i]) != 0)
			out->local[w++] = out->local[i];
	out->n_local = w;
}

/* qsort has no context argument: the node being sorted, per thread */
static __thread const struct kt_dp_node *tls_node;

static int idx_cmp(const void *x, const void *y)
{
	const struct kt_dp_service *a = &tls_node->svcs[*(const uint32_t *)x];
	const struct kt_dp_service *b = &tls_node->svcs[*(const uint32_t *)y];
	int c = kt_strcmp0(a->namespace, b->namespace);
	if (!c)
		c = kt_strcmp0(a->name, b->name);
	if (!c)
		c = (*(const uint32_t *)x > *(const uint32_t *)y) - (*(const uint32_t *)x < *(const uint32_t *)y);
	return c;
}

static bool same_svc(const struct kt_dp_service *a, const struct kt_dp_service *b)
{
	return kt_strcmp0(a->namespace, b->namespace) == 0 && kt_strcmp0(a->name, b->name) == 0;
}

uint32_t kt_agent_digest_node(const struct kt_dp_node *n, struct kt_arena *a, bool canonical,
			      struct kt_agent_digest **out)
{
	*out = NULL;
	if (!n || !n->n_svcs)
		return 0;
	uint32_t *idx = kt_xcalloc(n->n_svcs, sizeof(*idx));
	for (uint32_t i = 0; i < n->n_svcs; i++)
		idx[i] = i;
	tls_node = n;
	qsort(idx, n->n_svcs, sizeof(*idx), idx_cmp);
	uint32_t groups = 0;
	for (uint32_t i = 0; i < n->n_svcs; i++)
		if (!i || !same_svc(&n->svcs[idx[i - 1]], &n->svcs[idx[i]]))
			groups++;
	struct kt_agent_digest *d = KT_ANEW(a, struct kt_agent_digest, groups);
	uint32_t g = 0;
	for (uint32_t i = 0; i < n->n_svcs;) {
		uint32_t j = i + 1;
		while (j < n->n_svcs && same_svc(&n->svcs[idx[i]], &n->svcs[idx[j]]))
			j++;
		digest_group(n, idx + i, j - i, a, canonical, &d[g++]);
		i = j;
	}
	free(idx);
	*out = d;
	return groups;
}

const char *kt_agent_state_id(const struct kt_agent_digest *d, uint32_t n, uint32_t modes, char buf[17])
{
	uint64_t h = kt_hash64(KT_HASH_SEED, &modes, sizeof(modes));
	for (uint32_t i = 0; i < n; i++) {
		h = kt_hash_str(h, d[i].namespace);
		h = kt_hash64(h, "/", 1);
		h = kt_hash_str(h, d[i].name);
		h = kt_hash64(h, "", 1);
		h = kt_hash64(h, &d[i].digest, sizeof(d[i].digest));
		uint8_t hl = d[i].has_local;
		h = kt_hash64(h, &hl, 1);
		for (uint32_t k = 0; k < d[i].n_local; k++) {
			h = kt_hash_str(h, d[i].local[k].ip);
			h = kt_hash64(h, &d[i].local[k].port, sizeof(d[i].local[k].port));
		}
	}
	snprintf(buf, 17, "%016llx", (unsigned long long)h);
	return buf;
}

bool kt_agent_key_split(const char *key, size_t len, size_t *ns_len, const char **name, size_t *name_len)
{
	const char *slash = key ? memchr(key, '/', len) : NULL;
	if (!slash)
		return false;
	size_t nl = (size_t)(slash - key);
	size_t rest = len - nl - 1;
	if (!rest || memchr(slash + 1, '/', rest))
		return false;
	*ns_len = nl;
	*name = slash + 1;
	*name_len = rest;
	return true;
}
