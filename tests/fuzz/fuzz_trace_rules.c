/* libFuzzer target: iptables-save text as `ktrace trace` loads it
 * (kt_ipt_parse), pruned to what one probe can reach (kt_ipt_prune) and
 * rendered back as iptables-restore input (kt_ipt_render); and `nft -j`
 * JSON pruned to what one probe can reach and ordered for `nft -j -f`
 * (kt_nft_prune), also whole (--full); and `nft -a list table` output
 * as the rule-text lookup reads it (kt_nft_listing_parse). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/trace/trace_int.h"
#include "ktrace/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	struct kt_diag d = {0};
	if (size && data[0] == '{') {
		const char *addrs[] = {"10.77.0.1"};
		struct kt_nft_probe p = {.dst = "10.96.0.10", .src = "198.18.0.2", .dport = 53, .sport_lo = 40000,
					 .sport_hi = 40010, .proto = size & 1 ? 17 : 6, .node_addrs = addrs, .n_node_addrs = 1,
					 .full = (size & 2) != 0};
		struct kt_nft_pruned r;
		if (kt_nft_prune((const char *)data, size, &p, &r, &d) == 0)
			free(r.text);
		return 0;
	}
	if (size > 6 && !memcmp(data, "table ", 6)) {
		char *buf = malloc(size + 1);
		memcpy(buf, data, size);
		buf[size] = 0;
		struct kt_arena *a = kt_arena_new();
		struct kt_nft_listing ls = {0};
		kt_nft_listing_parse(a, "ip", "t", buf, &ls);
		free(ls.v);
		kt_arena_free(a);
		free(buf);
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
