/* libFuzzer target: recorded IPVS generic netlink dump buffers (service
 * messages each followed by their destination messages, family id 0x22). */
#include <stdint.h>

#include "collectors/dataplane/dp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_ipvs_state *st = kt_ipvs_state_new();
	kt_ipvs_decode(st, data, size, 0x22);
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "fuzz", "fuzz");
	kt_ipvs_emit(st, s, n);
	kt_ipvs_state_free(st);
	kt_snapshot_finish(s);
	kt_snapshot_free(s);
	return 0;
}
