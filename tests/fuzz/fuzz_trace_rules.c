/* libFuzzer target: iptables-save text as `ktrace trace` loads it
 * (kt_ipt_parse), pruned to what one probe can reach (kt_ipt_prune) and
 * rendered back as iptables-restore input (kt_ipt_render); and `nft -j`
 * JSON reordered for `nft -j -f` (kt_nft_json_loadable). */
#include <stdint.h>
#include <stdlib.h>

#include "collectors/trace/trace_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	struct kt_diag d = {0};
	if (size && data[0] == '{') {
		uint32_t n;
		free(kt_nft_json_loadable((const char *)data, size, &n, &d));
		return 0;
	}
	struct kt_ipt_set s;
	if (kt_ipt_parse((const char *)data, size, &s, &d) < 0)
		return 0;
	kt_ipt_prune(&s, "10.96.0.10", 53, size & 1 ? "udp" : "tcp");
	size_t len;
	free(kt_ipt_render(&s, &len));
	kt_ipt_free(&s);
	return 0;
}
