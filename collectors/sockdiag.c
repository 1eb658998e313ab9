/* inet_diag collector (filled in below). */
#include "collectors/flow_agg.h"

int kt_sockdiag_collect(struct kt_snapshot *snap, struct kt_flow_sample *fs,
			const struct kt_flow_opts *fo, struct kt_diag *d)
{
	return 0;
}
