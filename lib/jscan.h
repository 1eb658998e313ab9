/*
 * Internal to lib/ and collectors/: a bounded, resumable scanner that finds
 * where one JSON value ends without building it, counting what parsing it
 * would allocate. Bundles and API list pages are split into elements with
 * it, and each element is parsed (cJSON) only when it is within limits, so
 * memory is bounded per element by values and nesting, not only by bytes.
 */
#ifndef KT_LIB_JSCAN_H
#define KT_LIB_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_jlimits {
	size_t max_bytes;        /* text of the value */
	uint32_t max_values;     /* JSON values (each becomes one parse node) */
	uint32_t max_depth;      /* nesting of objects/arrays */
};

/* Caps for one Kubernetes object (a bundle "objects" element, a List item,
 * an API response item): etcd refuses objects above 1.5 MiB, so these are
 * far above anything real. */
#define KT_JLIMITS_OBJECT ((struct kt_jlimits){16u << 20, 1u << 20, 64})

enum kt_jscan_rc {
	KT_JSCAN_DONE = 0,       /* *end is set */
	KT_JSCAN_MORE = 1,       /* the value continues past the bytes given */
	KT_JSCAN_BAD = -1,       /* malformed (unbalanced, stray character) */
	KT_JSCAN_DEEP = -2,      /* nesting above max_depth */
	KT_JSCAN_VALUES = -3,    /* more than max_values values */
	KT_JSCAN_BIG = -4,       /* longer than max_bytes */
};

/* Resumable state: zero it, then call kt_jscan() with the same buffer
 * start (the value's first byte) and a growing len until it returns DONE
 * or an error. */
struct kt_jscan {
	size_t off;              /* bytes examined so far */
	uint32_t depth, values;
	bool in_str, esc, scalar, started;
};

/* Scan the value at buf[0] (no leading whitespace); on DONE *end is the
 * offset just past it. Scalars end at the first ',', '}', ']' or
 * whitespace (they are validated when parsed). */
enum kt_jscan_rc kt_jscan(struct kt_jscan *st, const char *buf, size_t len, bool eof, const struct kt_jlimits *lim,
			  size_t *end);

/* What a failure means, for messages: "nested deeper than 64 levels". */
const char *kt_jscan_why(enum kt_jscan_rc rc, const struct kt_jlimits *lim, char *buf, size_t len);

#endif
