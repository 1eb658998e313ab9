/*
 * Cilium CT collector: walks the pinned conntrack maps
 * (<bpffs>/tc/globals/cilium_ct4_global, cilium_ct_any4_global and the v6
 * pair) with libbpf and folds the service entries (TUPLE_F_SERVICE) into
 * (frontend, backend) aggregates, so the imbalance view works where
 * kube-proxy is replaced. The frontend comes from the entry's
 * rev_nat_index through cilium_lb{4,6}_reverse_nat and the backend from
 * backend_id through cilium_lb{4,6}_backends_v3 (v2 fallback); this avoids
 * the CT tuple's reversed address naming. Layouts are chosen by the map's
 * key/value sizes and anything else is skipped with a gap. Read-only
 * (lookups only); never prints; every fd is closed before returning.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <limits.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "collectors/flows/flow_agg.h"
#include "ktrace/xalloc.h"

#define CIL_TUPLE_F_SERVICE 4
#define CIL_CT_VALUE 56
#define CIL_MAX_WALK (8u << 20)   /* entries per map */
#define CIL_MAX_TABLE 65536

struct cil_addr {
	uint8_t ip[16];
	uint16_t port;            /* host order */
	bool used;
};

struct cil_tables {
	struct cil_addr revnat[CIL_MAX_TABLE];   /* index: rev_nat_index (host order) */
	struct cil_addr *backends;               /* index: backend_id, grown */
	uint32_t n_backends;
};

static int open_map(const char *dir, const char *name, uint32_t *ksz, uint32_t *vsz)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, F_OK) != 0)
		return -ENOENT;
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*ksz = info.key_size;
	*vsz = info.value_size;
	return fd;
}

static void load_revnat(struct cil_tables *t, const char *dir, bool v6, struct kt_snapshot *snap)
{
	uint32_t ksz, vsz;
	const char *name = v6 ? "cilium_lb6_reverse_nat" : "cilium_lb4_reverse_nat";
	int fd = open_map(dir, name, &ksz, &vsz);
	if (fd < 0)
		return;
	size_t alen = v6 ? 16 : 4;
	if (ksz != 2 || vsz != alen + 2) {
		kt_snapshot_gap(snap, name, "unexpected layout (key %u, value %u bytes)", ksz, vsz);
		close(fd);
		return;
	}
	uint8_t key[2], next[2], val[32];
	void *prev = NULL;
	uint32_t n = 0;
	while (n++ < CIL_MAX_TABLE && bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, 2);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, val) != 0)
			continue;
		uint16_t id = (uint16_t)((key[0] << 8) | key[1]);   /* network order */
		struct cil_addr *a = &t->revnat[id];
		memset(a, 0, sizeof(*a));
		memcpy(a->ip, val, alen);
		a->port = (uint16_t)((val[alen] << 8) | val[alen + 1]);
		a->used = true;
	}
	close(fd);
}

static void load_backends(struct cil_tables *t, const char *dir, bool v6, struct kt_snapshot *snap)
{
	static const char *names4[] = {"cilium_lb4_backends_v3", "cilium_lb4_backends_v2"};
	static const char *names6[] = {"cilium_lb6_backends_v3", "cilium_lb6_backends_v2"};
	size_t alen = v6 ? 16 : 4;
	for (int k = 0; k < 2; k++) {
		const char *name = v6 ? names6[k] : names4[k];
		uint32_t ksz, vsz;
		int fd = open_map(dir, name, &ksz, &vsz);
		if (fd < 0)
			continue;
		if (ksz != 4 || vsz < alen + 4 || vsz > 64) {
			kt_snapshot_gap(snap, name, "unexpected layout (key %u, value %u bytes)", ksz, vsz);
			close(fd);
			continue;
		}
		uint32_t key, next;
		uint8_t val[64];
		void *prev = NULL;
		uint32_t n = 0;
		while (n++ < CIL_MAX_WALK && bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (key >= (1u << 24) || bpf_map_lookup_elem(fd, &key, val) != 0)
				continue;
			if (key >= t->n_backends) {
				uint32_t nn = key + 1 > t->n_backends * 2 ? key + 1 : t->n_backends * 2;
				struct cil_addr *nb = kt_xreallocarray(t->backends, nn, sizeof(*nb));
				memset(nb + t->n_backends, 0, (nn - t->n_backends) * sizeof(*nb));
				t->backends = nb;
				t->n_backends = nn;
			}
			struct cil_addr *a = &t->backends[key];
			memcpy(a->ip, val, alen);
			a->port = (uint16_t)((val[alen] << 8) | val[alen + 1]);
			a->used = true;
		}
		close(fd);
		return;   /* v3 found: do not mix in v2 */
	}
}

/* One CT map: returns entries walked. */
static uint64_t walk_ct(struct kt_fagg *g, struct cil_tables *t, const char *dir, const char *name, bool v6,
			struct kt_snapshot *snap, uint64_t *unresolved)
{
	uint32_t ksz, vsz;
	int fd = open_map(dir, name, &ksz, &vsz);
	if (fd < 0) {
		if (fd != -ENOENT)
			kt_snapshot_gap(snap, name, "cannot open: %s", strerror(-fd));
		return 0;
	}
	size_t alen = v6 ? 16 : 4;
	size_t want_k = 2 * alen + 6;
	if (ksz != want_k || vsz != CIL_CT_VALUE) {
		kt_snapshot_gap(snap, name, "unexpected layout (key %u, value %u bytes; want %zu/%u)", ksz, vsz, want_k,
				CIL_CT_VALUE);
		close(fd);
		return 0;
	}
	uint8_t key[40], next[40], val[CIL_CT_VALUE];
	void *prev = NULL;
	uint64_t n = 0;
	while (n < CIL_MAX_WALK && bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, ksz);
		prev = key;
		n++;
		uint8_t flags = key[2 * alen + 5];
		uint8_t proto = key[2 * alen + 4];
		if (!(flags & CIL_TUPLE_F_SERVICE) || !kt_proto_name(proto))
			continue;
		if (bpf_map_lookup_elem(fd, key, val) != 0)
			continue;   /* expired between the two calls */
		uint64_t backend_id, packets, bytes;
		uint16_t bits;
		memcpy(&backend_id, val + 8, 8);
		memcpy(&packets, val + 16, 8);
		memcpy(&bytes, val + 24, 8);
		memcpy(&bits, val + 36, 2);
		uint16_t revnat = (uint16_t)((val[38] << 8) | val[39]);   /* network order */
		const struct cil_addr *fe = t->revnat[revnat].used ? &t->revnat[revnat] : NULL;
		const struct cil_addr *be = backend_id < t->n_backends && t->backends[backend_id].used
						    ? &t->backends[backend_id] : NULL;
		if (!fe || !be) {
			(*unresolved)++;
			continue;
		}
		struct kt_fagg_key k;
		memset(&k, 0, sizeof(k));
		k.src = KT_FLOW_CILIUM;
		k.family = v6 ? AF_INET6 : AF_INET;
		k.proto = proto;
		memcpy(k.vip, fe->ip, alen);
		k.vport = fe->port;
		memcpy(k.bip, be->ip, alen);
		k.bport = be->port;
		struct kt_fagg_slot *s = kt_fagg_get(g, &k);
		if (!s)
			continue;
		bool closing = bits & 0x3;
		s->total++;
		if (!closing)
			s->established++;
		s->packets += packets;
		s->bytes_orig += bytes;
		kt_fagg_add_fp(g, s, kt_hash64(KT_HASH_SEED, key, ksz));
	}
	close(fd);
	return n;
}

int kt_cilium_ct_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs, const char *bpffs,
			 const struct kt_flow_opts *fo, struct kt_diag *d)
{
	char dir[PATH_MAX / 2];
	bool explicit = bpffs && *bpffs;
	if (snprintf(dir, sizeof(dir), "%s/tc/globals", explicit ? bpffs : "/sys/fs/bpf") >= (int)sizeof(dir)) {
		kt_snapshot_gap(snap, "cilium conntrack", "--bpffs path too long");
		return 0;
	}
	static const char *maps[] = {"cilium_ct4_global", "cilium_ct_any4_global", "cilium_ct6_global",
				     "cilium_ct_any6_global"};
	bool any = false;
	for (int i = 0; i < 4; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, maps[i]);
		if (access(p, F_OK) == 0)
			any = true;
	}
	if (!any) {
		if (explicit)
			kt_snapshot_gap(snap, "cilium conntrack", "no cilium_ct*_global map under %s", dir);
		return 0;
	}
	struct cil_tables *t = kt_xcalloc(1, sizeof(*t));
	struct kt_fagg g;
	kt_fagg_init(&g, fo ? fo->max_agg : 0, !(fo && fo->no_fingerprints));
	uint64_t seen = 0, unresolved = 0;
	for (int v6 = 0; v6 < 2; v6++) {
		memset(t->revnat, 0, sizeof(t->revnat));
		t->n_backends = 0;
		free(t->backends);
		t->backends = NULL;
		load_revnat(t, dir, v6, snap);
		load_backends(t, dir, v6, snap);
		seen += walk_ct(&g, t, dir, maps[v6 * 2], v6, snap, &unresolved);
		seen += walk_ct(&g, t, dir, maps[v6 * 2 + 1], v6, snap, &unresolved);
	}
	if (unresolved)
		kt_snapshot_gap(snap, "cilium conntrack",
				"%llu service entries name a revNAT or backend id missing from the LB maps",
				(unsigned long long)unresolved);
	if (g.dropped)
		kt_snapshot_gap(snap, "cilium aggregates", "cap of %u hit: %llu entries not counted", g.max,
				(unsigned long long)g.dropped);
	fs->entries_seen += seen;
	kt_fagg_emit(&g, snap, fs);
	kt_fagg_release(&g);
	free(t->backends);
	free(t);
	kt_sample_add_source(snap, fs, "cilium-ct");
	fs->acct = true;   /* the CT map always counts */
	(void)d;
	return 0;
}
