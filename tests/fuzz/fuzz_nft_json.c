/* libFuzzer target: `nft -j list ruleset` JSON (kube-proxy nftables mode)
 * through the IR builder and the service normaliser. */
#include <stdint.h>

#include "collectors/dataplane/dp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "fuzz", "fuzz");
	struct kt_diag d = {0};
	kt_dp_nft_json_mem(s, n, (const char *)data, size, "fuzz", &d);
	kt_snapshot_finish(s);
	kt_snapshot_free(s);
	return 0;
}
