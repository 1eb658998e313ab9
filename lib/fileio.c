/*
 * Bounded whole-file reading: one growing buffer, capped, for every caller
 * that slurps a recording, a replay file or a config. Owns nothing past the
 * returned buffer; reports a cap hit to the caller, never prints.
 */
#include <stdlib.h>

#include "ktrace/fileio.h"
#include "ktrace/xalloc.h"

int kt_read_stream(FILE *f, size_t cap, size_t max, char **buf, size_t *len)
{
	size_t n = 0;
	char *b = kt_xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				*buf = b;
				*len = n;
				return 1;
			}
			cap *= 2;
			b = kt_xrealloc(b, cap);
		}
		size_t r = fread(b + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	*buf = b;
	*len = n;
	return 0;
}
