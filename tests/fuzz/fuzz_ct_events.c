/* libFuzzer target: ctnetlink event buffers (CT_NEW with and without
 * NLM_F_CREATE, CT_DELETE, as the kernel multicasts them to conntrack event
 * listeners) applied to the event-mode connection table, the first half
 * and then the whole buffer (deletes and updates meet existing entries),
 * emitted as a sample and analysed. */
#include "tests/fuzz/flow_target.h"

static int apply_events(struct kt_snapshot *s, struct kt_flow_sample *fs, const void *buf, size_t len,
			struct kt_diag *d)
{
	(void)d;
	struct kt_ct_live *l = kt_ct_live_new(10);
	kt_ct_live_apply(l, buf, len / 2 & ~(size_t)3, 1700000000);
	kt_ct_live_apply(l, buf, len, 1700000001);
	kt_ct_live_sample(l, s, fs);
	kt_ct_live_free(l);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return kt_fuzz_flows(data, size, apply_events);
}
