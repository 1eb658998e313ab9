/* Cilium CT collector (filled in below). */
#include "collectors/flow_agg.h"

int kt_cilium_ct_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs, const char *bpffs,
			 const struct kt_flow_opts *fo, struct kt_diag *d)
{
	return 0;
}
