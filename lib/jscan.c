/*
 * Bounded JSON value scanner (lib/jscan.h): finds the end of one value and
 * counts its values and nesting on the way, so callers refuse an element
 * before cJSON allocates a node per value. It checks structure only
 * (balanced brackets, strings); the parser that follows validates the rest.
 * Pure: no allocation, no I/O.
 */
#include <stdio.h>

#include "lib/jscan.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

enum kt_jscan_rc kt_jscan(struct kt_jscan *st, const char *buf, size_t len, bool eof, const struct kt_jlimits *lim,
			  size_t *end)
{
	size_t i = st->off;
	if (!st->started) {
		if (len == 0)
			return eof ? KT_JSCAN_BAD : KT_JSCAN_MORE;
		st->started = true;
		st->values = 1;
		char c = buf[0];
		if (c == '{' || c == '[') {
			st->depth = 1;
		} else if (c == '"') {
			st->in_str = true;
		} else if (c == '}' || c == ']' || c == ',' || c == ':' || is_ws(c)) {
			return KT_JSCAN_BAD;
		} else {
			st->scalar = true;
		}
		i = 1;
	}
	for (; i < len; i++) {
		char c = buf[i];
		if (i >= lim->max_bytes) {
			st->off = i;
			return KT_JSCAN_BIG;
		}
		if (st->in_str) {
			if (st->esc)
				st->esc = false;
			else if (c == '\\')
				st->esc = true;
			else if (c == '"') {
				st->in_str = false;
				if (st->depth == 0) {
					*end = i + 1;
					return KT_JSCAN_DONE;
				}
			}
			continue;
		}
		if (st->scalar) {
			if (c == ',' || c == '}' || c == ']' || is_ws(c)) {
				*end = i;
				return KT_JSCAN_DONE;
			}
			continue;
		}
		switch (c) {
		case '"':
			st->in_str = true;
			break;
		case '{':
		case '[':
			if (++st->depth > lim->max_depth) {
				st->off = i;
				return KT_JSCAN_DEEP;
			}
			/* a nested container: its first member is counted here,
			 * later ones at their ',' (nodes <= 1 + containers + commas) */
			if (++st->values > lim->max_values) {
				st->off = i;
				return KT_JSCAN_VALUES;
			}
			break;
		case '}':
		case ']':
			if (--st->depth == 0) {
				*end = i + 1;
				return KT_JSCAN_DONE;
			}
			break;
		case ',':
			/* one more member or element: at most one value each */
			if (++st->values > lim->max_values) {
				st->off = i;
				return KT_JSCAN_VALUES;
			}
			break;
		default:
			break;
		}
	}
	st->off = i;
	if (eof) {
		if (st->scalar) {
			*end = len;
			return KT_JSCAN_DONE;
		}
		return KT_JSCAN_BAD;
	}
	if (len >= lim->max_bytes)
		return KT_JSCAN_BIG;
	return KT_JSCAN_MORE;
}

const char *kt_jscan_why(enum kt_jscan_rc rc, const struct kt_jlimits *lim, char *buf, size_t len)
{
	switch (rc) {
	case KT_JSCAN_DEEP:
		snprintf(buf, len, "nested deeper than %u levels", lim->max_depth);
		break;
	case KT_JSCAN_VALUES:
		snprintf(buf, len, "more than %u JSON values in one element", lim->max_values);
		break;
	case KT_JSCAN_BIG:
		snprintf(buf, len, "one element is larger than %zu MiB", lim->max_bytes >> 20);
		break;
	case KT_JSCAN_MORE:
	case KT_JSCAN_BAD:
		snprintf(buf, len, "truncated or malformed JSON");
		break;
	default:
		snprintf(buf, len, "ok");
		break;
	}
	return buf;
}
