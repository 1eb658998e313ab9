/*
 * Small string helpers: NULL-safe comparison, edit distance (for "did you
 * mean" suggestions in cli and in rule messages) and the terminal-safety
 * escaper every text renderer uses for strings from outside. Pure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ktrace/arena.h"
#include "ktrace/util.h"

int kt_strcmp0(const char *a, const char *b)
{
	if (a == b)
		return 0;
	if (!a)
		return -1;
	if (!b)
		return 1;
	return strcmp(a, b);
}

unsigned kt_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (unsigned)(la > lb ? la : lb);
	unsigned row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned prev = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cur = row[j];
			unsigned v = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < v)
				v = row[j] + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			prev = cur;
		}
	}
	return row[lb];
}

/* Length of the valid UTF-8 sequence at s (1-4), its code point in *cp;
 * 0 when the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated). s[0] >= 0x80. */
static int utf8_seq(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	int n;
	uint32_t v, min;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

static bool cp_unsafe(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* One step of the scan: the number of input bytes at s that form one unit,
 * and its escaped form in esc (empty when the unit is copied as is). */
static size_t vis_unit(const unsigned char *s, char esc[12])
{
	esc[0] = 0;
	if (*s < 0x20 || *s == 0x7f) {
		if (*s == '\n')
			snprintf(esc, 12, "\\n");
		else if (*s == '\r')
			snprintf(esc, 12, "\\r");
		else if (*s == '\t')
			snprintf(esc, 12, "\\t");
		else
			snprintf(esc, 12, "\\x%02x", *s);
		return 1;
	}
	if (*s < 0x80)
		return 1;
	uint32_t cp;
	int n = utf8_seq(s, &cp);
	if (!n) {
		snprintf(esc, 12, "\\x%02x", *s);
		return 1;
	}
	if (cp_unsafe(cp))
		snprintf(esc, 12, "\\u%04x", (unsigned)cp);
	return (size_t)n;
}

bool kt_vis_clean(const char *str)
{
	if (!str)
		return true;
	const unsigned char *s = (const unsigned char *)str;
	char esc[12];
	while (*s) {
		if (*s >= 0x20 && *s < 0x7f) {
			s++;
			continue;
		}
		s += vis_unit(s, esc);
		if (esc[0])
			return false;
	}
	return true;
}

size_t kt_vis_escape(char *dst, size_t cap, const char *str)
{
	size_t need = 0;
	bool full = false;
	if (cap)
		dst[0] = 0;
	if (!str)
		return 0;
	const unsigned char *s = (const unsigned char *)str;
	char esc[12];
	while (*s) {
		size_t n = vis_unit(s, esc);
		const char *piece = esc[0] ? esc : (const char *)s;
		size_t plen = esc[0] ? strlen(esc) : n;
		if (!full && cap && need + plen < cap) {
			memcpy(dst + need, piece, plen);
			dst[need + plen] = 0;
		} else {
			full = true;
		}
		need += plen;
		s += n;
	}
	return need;
}

const char *kt_vis(struct kt_arena *a, const char *s)
{
	if (!s || kt_vis_clean(s))
		return s;
	size_t need = kt_vis_escape(NULL, 0, s);
	char *buf = kt_arena_alloc(a, need + 1);
	kt_vis_escape(buf, need + 1, s);
	return buf;
}
