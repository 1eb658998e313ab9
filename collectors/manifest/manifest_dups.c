/*
 * Objects defined more than once in the manifests (a directory holding
 * overlays or copies, the same file given twice): `kubectl apply` of the
 * inputs in order leaves the last definition of each kind/namespace/name,
 * so the loader keeps the last one and drops the earlier ones, with a
 * warning at each dropped definition naming the one that wins. Namespaced
 * objects without metadata.namespace are in "default", as kubectl applies
 * them without -n. Runs over the unfinished snapshot (arrays in input
 * order); never prints.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/manifest/manifest_int.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

/* One top-level array of API objects in the snapshot. */
struct objarr {
	void *base;              /* elements */
	uint32_t *n;
	size_t elem;             /* element size */
	size_t meta;             /* offsetof the struct kt_meta */
	bool cluster;            /* cluster-scoped kind */
};

static const struct kt_meta *meta_at(const struct objarr *a, uint32_t i)
{
	return (const struct kt_meta *)((const char *)a->base + (size_t)i * a->elem + a->meta);
}

static const char *ns_of(const struct objarr *a, const struct kt_meta *m)
{
	if (a->cluster)
		return "";
	return m->namespace && *m->namespace ? m->namespace : "default";
}

static uint64_t key_hash(const struct objarr *a, const struct kt_meta *m)
{
	uint64_t h = kt_hash_str(KT_HASH_SEED, m->kind);
	h = kt_hash64(h, "/", 1);
	h = kt_hash_str(h, ns_of(a, m));
	h = kt_hash64(h, "/", 1);
	return kt_hash_str(h, m->name);
}

static bool same(const struct objarr *a, const struct kt_meta *x, const struct kt_meta *y)
{
	return !kt_strcmp0(x->kind, y->kind) && !strcmp(ns_of(a, x), ns_of(a, y)) && !kt_strcmp0(x->name, y->name);
}

static const char *file_of(const struct kt_snapshot *s, const struct kt_meta *m)
{
	return m->pos.file < s->n_files ? s->files[m->pos.file] : "?";
}

/* Resolve one array: *n shrinks, survivors keep their order. */
static void resolve(struct kt_snapshot *snap, struct kt_manifest_result *r, const struct objarr *a)
{
	uint32_t n = *a->n;
	if (n < 2)
		return;
	size_t cap = 16;
	while (cap < 2 * (size_t)n)
		cap *= 2;
	uint32_t *slot = kt_xmalloc(cap * sizeof(*slot));
	memset(slot, 0xff, cap * sizeof(*slot));
	uint32_t *later = kt_xmalloc(n * sizeof(*later)); /* the next definition of the same object */
	bool any = false;
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_meta *m = meta_at(a, i);
		size_t h = (size_t)key_hash(a, m) & (cap - 1);
		later[i] = KT_NONE;
		while (slot[h] != KT_NONE && !same(a, meta_at(a, slot[h]), m))
			h = (h + 1) & (cap - 1);
		if (slot[h] != KT_NONE) {
			later[slot[h]] = i;
			any = true;
		}
		slot[h] = i;
	}
	free(slot);
	if (!any) {
		free(later);
		return;
	}
	uint32_t out = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_meta *m = meta_at(a, i);
		if (later[i] == KT_NONE) {
			if (out != i)
				memmove((char *)a->base + (size_t)out * a->elem, (char *)a->base + (size_t)i * a->elem,
					a->elem);
			out++;
			continue;
		}
		uint32_t w = later[i]; /* the winner: the last of the chain */
		while (later[w] != KT_NONE)
			w = later[w];
		const struct kt_meta *win = meta_at(a, w);
		char msg[512];
		snprintf(msg, sizeof(msg),
			 "%s %s%s%s is defined again at %s:%u: the last definition wins (as kubectl apply of these inputs in order); this one is ignored",
			 m->kind ? m->kind : "object", a->cluster ? "" : ns_of(a, m), a->cluster ? "" : "/",
			 m->name ? m->name : "", file_of(snap, win), win->pos.line);
		kt_manifest_warn(snap, r, file_of(snap, m), m->pos.line, m->pos.col, msg);
	}
	*a->n = out;
	free(later);
}

#define ARR(field, type, clus) \
	{ snap->field, &snap->n_##field, sizeof(type), offsetof(type, meta), clus }

void kt_manifest_resolve_duplicates(struct kt_snapshot *snap, struct kt_manifest_result *r)
{
	const struct objarr arrs[] = {
		ARR(services, struct kt_service, false),
		ARR(workloads, struct kt_workload, false),
		ARR(hpas, struct kt_hpa, false),
		ARR(pdbs, struct kt_pdb, false),
		ARR(ingresses, struct kt_ingress, false),
		ARR(ingress_classes, struct kt_ingress_class, true),
		ARR(pods, struct kt_pod, false),
		ARR(nodes, struct kt_node, true),
	};
	for (size_t i = 0; i < sizeof(arrs) / sizeof(arrs[0]); i++)
		resolve(snap, r, &arrs[i]);
}
