/* libFuzzer target: sock_diag / inet_diag dump buffers (listening sockets,
 * then SOCK_DIAG_BY_FAMILY messages with INET_DIAG_INFO tcp_info, DONE and
 * ERROR messages, as the kernel sends them for `ss -tni`), decoded by the
 * socket collector into flow aggregates, then analysed. Seeds were
 * recorded from the sockets lab (raw dump buffers, listeners then
 * the others; KTRACE_NL_RECORD now writes one file per dump). */
#include "tests/fuzz/flow_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return kt_fuzz_flows(data, size, kt_sockdiag_parse);
}
