/* libFuzzer target: Cilium LB map entries. The input is a sequence of
 * records: type byte (0 svc v4, 1 svc v6, 2 backend v4, 3 backend v6,
 * 4 svc v4 with arbitrary sizes, 5 backend with arbitrary sizes, 6 maglev
 * table (key = u16 rev NAT id), 7 affinity entry, 8 affinity-match key),
 * then for 4..8 a key-size and a value-size byte, then key and value
 * bytes. */
#include <stdint.h>

#include "collectors/dataplane/dp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_cil_state *st = kt_cil_state_new();
	size_t off = 0;
	while (off < size) {
		uint8_t t = data[off++] % 9;
		size_t kl, vl;
		static const uint8_t ks[4] = {12, 24, 4, 4}, vs[4] = {12, 12, 12, 24};
		if (t < 4) {
			kl = ks[t];
			vl = vs[t];
		} else {
			if (off + 2 > size)
				break;
			kl = data[off] % 40;
			vl = t == 6 ? data[off + 1] * 4u : data[off + 1] % 40u;
			off += 2;
		}
		if (off + kl + vl > size)
			break;
		const uint8_t *k = data + off, *v = data + off + kl;
		off += kl + vl;
		if (t == 6) {
			uint16_t rn = kl >= 2 ? (uint16_t)(k[0] << 8 | k[1]) : 0;
			kt_cil_add_maglev(st, kl & 1, rn, v, vl);
		} else if (t == 7) {
			kt_cil_add_affinity(st, kl == 24, k, kl, v, vl);
		} else if (t == 8) {
			kt_cil_add_affinity_match(st, k, kl);
		} else if (t == 0 || t == 1 || t == 4)
			kt_cil_add_service(st, t == 1, k, kl, v, vl);
		else
			kt_cil_add_backend(st, t == 3, k, kl, v, vl);
	}
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "fuzz", "fuzz");
	kt_cil_emit(st, s, n, "cilium_lb4_services_v2");
	kt_cil_state_free(st);
	kt_snapshot_finish(s);
	kt_snapshot_free(s);
	return 0;
}
