/*
 * libFuzzer target for the fast YAML scanner (collectors/yaml_fast.c): a
 * differential test against libyaml. For arbitrary bytes, whenever the
 * fast scanner alone handles the input (did not bail out) its rendering
 * (documents, values, keys in order, every node's line:col, the error)
 * must equal the libyaml-only one; and the default mode (fast scanner
 * with libyaml as the fallback) must always equal libyaml. abort() on any
 * difference. The first byte picks a small nesting cap sometimes, so the
 * depth limit is exercised too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/manifest/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void differ(const char *what, const char *a, const char *b)
{
	fprintf(stderr, "fuzz_yamlfast: %s differs\n--- libyaml\n%s--- other\n%s", what, a, b);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned depth = size && data[0] == '#' && size > 1 ? 1 + data[1] % 8 : 0;
	const char *buf = (const char *)data;
	char *ref, *fast, *dflt;
	size_t rl, fl, dl;
	kt_yaml_dump(buf, size, depth, KT_YAML_LIBYAML, &ref, &rl);
	int bailed = kt_yaml_dump(buf, size, depth, KT_YAML_FAST, &fast, &fl);
	kt_yaml_dump(buf, size, depth, KT_YAML_DEFAULT, &dflt, &dl);
	if (!bailed && (rl != fl || memcmp(ref, fast, rl)))
		differ("fast scanner (no fallback)", ref, fast);
	if (rl != dl || memcmp(ref, dflt, rl))
		differ("fast scanner with fallback", ref, dflt);
	free(ref);
	free(fast);
	free(dflt);
	return 0;
}
