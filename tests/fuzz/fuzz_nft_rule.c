/* libFuzzer target: raw NFT_MSG_NEWRULE messages (as the kernel sends them
 * in rule dumps) through the allocation-free rule decoder: expression
 * lists, register tracking, xtables compat payloads, verdicts, userdata. */
#include <stdint.h>
#include <string.h>

#include "collectors/dataplane/dp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4 || size > 65536)
		return 0;
	uint8_t buf[65536 + 4];
	memcpy(buf, data, size);
	/* the message length must not exceed the buffer the kernel gave us */
	uint32_t len;
	memcpy(&len, buf, 4);
	if (len > size) {
		len = (uint32_t)size;
		memcpy(buf, &len, 4);
	}
	struct kt_nft_rule r;
	kt_nft_decode_rule_msg(buf, data[size - 1] & 1 ? 10 : 2, &r);
	return 0;
}
