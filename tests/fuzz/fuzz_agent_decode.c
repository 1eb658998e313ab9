/* libFuzzer target: every decoder a fleet client runs on an agent's
 * answer (collectors/agent/agent_json.c): the first byte picks digests,
 * node state, flows or an error body, and whether a node name is
 * expected; the rest is the body. */
#include <stddef.h>
#include <stdint.h>

#include "ktrace/agent.h"
#include "ktrace/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	const char *expect = (data[0] & 4) ? "node-a" : NULL;
	struct kt_diag d = {0};
	switch (data[0] & 3) {
	case 0: {
		struct kt_arena *a = kt_arena_new();
		struct kt_agent_digests out;
		kt_agent_decode_digests(body, len, expect, a, &out, &d);
		kt_arena_free(a);
		break;
	}
	case 1: {
		struct kt_snapshot *s = kt_snapshot_new();
		if (kt_agent_decode_node(s, body, len, expect, &d) == 0)
			kt_snapshot_finish(s);
		kt_snapshot_free(s);
		break;
	}
	case 2: {
		struct kt_snapshot *s = kt_snapshot_new();
		if (kt_agent_decode_flows(s, body, len, expect, &d) == 0)
			kt_snapshot_finish(s);
		kt_snapshot_free(s);
		break;
	}
	default: {
		struct kt_agent_error e;
		kt_agent_decode_error(body, len, 500 + (data[0] >> 3), &e);
		break;
	}
	}
	return 0;
}
