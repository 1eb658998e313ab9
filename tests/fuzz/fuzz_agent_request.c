/* libFuzzer target: everything of the agent that reads request bytes
 * (cli/agent/request.c), as the server calls it: the input is split at
 * newlines into method, raw request target, X-Ktrace-Token,
 * Authorization, Accept-Encoding and If-None-Match. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/agent/agent.h"

static struct kt_ag_req req;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	char *f[6] = {NULL};
	size_t fl[6] = {0};
	char *p = buf;
	for (int i = 0; i < 6 && p <= buf + size; i++) {
		char *nl = memchr(p, '\n', (size_t)(buf + size - p));
		f[i] = p;
		fl[i] = nl ? (size_t)(nl - p) : (size_t)(buf + size - p);
		if (!nl)
			break;
		*nl = 0;
		p = nl + 1;
	}
	/* the target may hold NUL bytes: pass its length */
	kt_ag_parse(&req, f[0], f[1] ? f[1] : "", f[1] ? fl[1] : 0);
	if (req.route == KT_AG_NODE)
		for (uint32_t i = 0; i < req.n_keys; i++) {
			size_t nsl, nml;
			const char *nm;
			if (!kt_agent_key_split(req.keys[i], strlen(req.keys[i]), &nsl, &nm, &nml))
				abort(); /* the parser only accepts splittable keys */
		}
	static const char tok[] = "0123456789abcdef0123456789abcdef";
	kt_ag_token_ok(f[2], fl[2], f[3], fl[3], tok, sizeof(tok) - 1);
	kt_ag_accepts_gzip(f[4]);
	kt_ag_etag_match(f[5], "W/\"0123456789abcdef\"");
	free(buf);
	return 0;
}
