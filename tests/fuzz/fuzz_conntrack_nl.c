/* libFuzzer target: ctnetlink dump buffers (IPCTNL_MSG_CT_NEW messages as
 * the kernel sends them for `conntrack -L`, then NLMSG_DONE), parsed by the
 * conntrack collector into flow aggregates, then analysed. Seeds were
 * recorded from the imbalance lab (KTRACE_NL_RECORD; the conntrack
 * dump's nl-12-*.bin file, or the older raw-buffer recordings): both are
 * sequences of netlink messages, run through the netlink layer's receive
 * processing. */
#include "tests/fuzz/flow_target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return kt_fuzz_flows(data, size, kt_conntrack_parse);
}
