/* libFuzzer target: the bundle loader and, through it, the Kubernetes
 * object converter (every kind) and the node-state/flow readers. */
#include <stddef.h>
#include <stdint.h>

#include "ktrace/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	if (kt_bundle_load_mem("fuzz", (const char *)data, size, &s, &d) == 0)
		kt_snapshot_free(s);
	return 0;
}
