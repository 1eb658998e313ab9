/* Shared body of the flow decoder fuzz targets (fuzz_conntrack_nl.c,
 * fuzz_sockdiag.c): decode one dump buffer into a fresh flow sample with
 * parse, then run the imbalance analyzer over it. */
#ifndef KT_FUZZ_FLOW_TARGET_H
#define KT_FUZZ_FLOW_TARGET_H

#include <stdint.h>

#include "ktrace/flows.h"
#include "ktrace/imbalance.h"

static inline int kt_fuzz_flows(const uint8_t *data, size_t size,
				int (*parse)(struct kt_snapshot *, struct kt_flow_sample *, const void *, size_t,
					     struct kt_diag *))
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
	fs->node = "fuzz";
	fs->taken_ms = 1700000000000LL;
	struct kt_diag d = {0};
	parse(s, fs, data, size, &d);
	kt_snapshot_finish(s);
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;
	struct kt_imb_opts o = {.all_services = true};
	kt_imbalance_analyze(s, &s->flows[0], NULL, &o, a, &r);
	kt_arena_free(a);
	kt_snapshot_free(s);
	return 0;
}

#endif
