/* libFuzzer target: sock_diag / inet_diag dump buffers (listening sockets,
 * then SOCK_DIAG_BY_FAMILY messages with INET_DIAG_INFO tcp_info, DONE and
 * ERROR messages, as the kernel sends them for `ss -tni`), decoded by the
 * socket collector into flow aggregates, then analysed. Seeds were
 * recorded from the sockets lab with KTRACE_SD_RECORD. */
#include <stdint.h>

#include "ktrace/flows.h"
#include "ktrace/imbalance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_flow_sample *fs = KT_SNAP_PUSH(s, flows);
	fs->node = "fuzz";
	fs->taken_ms = 1700000000000LL;
	struct kt_diag d = {0};
	kt_sockdiag_parse(s, fs, data, size, &d);
	kt_snapshot_finish(s);
	struct kt_arena *a = kt_arena_new();
	struct kt_imb_result *r = NULL;
	struct kt_imb_opts o = {.all_services = true};
	kt_imbalance_analyze(s, &s->flows[0], NULL, &o, a, &r);
	kt_arena_free(a);
	kt_snapshot_free(s);
	return 0;
}
