/*
 * A small JSON event walker for collectors/trace/ (the nft pruner):
 * values are visited in order without building anything; strings are
 * handed over as raw spans (escapes resolved only on request), nesting is
 * bounded (KT_JWALK_MAX_DEPTH). Input is untrusted: every read is bounded
 * by the end pointer; malformed input sets w->bad. Must not: allocate
 * (but kt_jwalk_dup's arena copy), print.
 */
#include <stdlib.h>
#include <string.h>

#include "collectors/trace/trace_int.h"
#include "ktrace/arena.h"

void kt_jwalk_ws(struct kt_jw_walk *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r'))
		w->p++;
}

/* A string at w->p (the opening quote): its raw span. Control
 * characters are not rejected here (cJSON rejects them in sets and maps;
 * nft in what is loaded). */
bool kt_jwalk_str(struct kt_jw_walk *w, const char **s, size_t *n, bool *esc)
{
	const char *p = w->p + 1;
	*s = p;
	*esc = false;
	for (;;) {
		const char *q = memchr(p, '"', (size_t)(w->end - p));
		if (!q)
			return false;
		/* escaped when an odd number of backslashes precede it */
		const char *b = q;
		while (b > *s && b[-1] == '\\')
			b--;
		if (b != q)
			*esc = true;
		if (((q - b) & 1) == 0) {
			*n = (size_t)(q - *s);
			w->p = q + 1;
			if (!*esc && memchr(*s, '\\', *n))
				*esc = true;
			return true;
		}
		p = q + 1;
	}
}

void kt_jwalk_value(struct kt_jw_walk *w, const char *key, size_t klen, int depth)
{
	kt_jwalk_ws(w);
	if (w->bad || w->p >= w->end) {
		w->bad = true;
		return;
	}
	char c = *w->p;
	if (c == '{' || c == '[') {
		if (depth >= KT_JWALK_MAX_DEPTH) {
			w->bad = true;
			return;
		}
		bool obj = c == '{';
		w->p++;
		if (w->open)
			w->open(w, key, klen, depth, obj);
		kt_jwalk_ws(w);
		if (w->p < w->end && *w->p == (obj ? '}' : ']')) {
			w->p++;
		} else {
			for (;;) {
				const char *k = key;
				size_t kl = klen;
				if (obj) {
					bool esc;
					kt_jwalk_ws(w);
					if (w->p >= w->end || *w->p != '"' || !kt_jwalk_str(w, &k, &kl, &esc)) {
						w->bad = true;
						return;
					}
					kt_jwalk_ws(w);
					if (w->p >= w->end || *w->p != ':') {
						w->bad = true;
						return;
					}
					w->p++;
				}
				kt_jwalk_value(w, k, kl, depth + 1);
				if (w->bad)
					return;
				kt_jwalk_ws(w);
				if (w->p < w->end && *w->p == ',') {
					w->p++;
					continue;
				}
				if (w->p < w->end && *w->p == (obj ? '}' : ']')) {
					w->p++;
					break;
				}
				w->bad = true;
				return;
			}
		}
		if (w->close)
			w->close(w, depth);
		return;
	}
	if (c == '"') {
		const char *s;
		size_t n;
		bool esc;
		if (!kt_jwalk_str(w, &s, &n, &esc)) {
			w->bad = true;
			return;
		}
		if (w->scalar)
			w->scalar(w, key, klen, depth, s, n, true, esc);
		return;
	}
	const char *s = w->p;
	while (w->p < w->end && (strchr("+-.0123456789eE", *w->p) || (*w->p >= 'a' && *w->p <= 'z')))
		w->p++;
	if (w->p == s) {
		w->bad = true;
		return;
	}
	if (w->scalar)
		w->scalar(w, key, klen, depth, s, (size_t)(w->p - s), false, false);
}

bool kt_jwalk_keyis(const char *k, size_t kl, const char *lit)
{
	size_t l = strlen(lit);
	return k && kl == l && !memcmp(k, lit, l);
}

/* A JSON string's text (escapes resolved; \u to UTF-8) in the arena. */
const char *kt_jwalk_dup(struct kt_arena *a, const char *s, size_t n, bool esc)
{
	if (!esc)
		return kt_arena_strndup(a, s, n);
	char *o = kt_arena_alloc(a, n * 3 + 1), *q = o;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 >= n) {
			*q++ = s[i];
			continue;
		}
		char e = s[++i];
		if (e == 'u' && i + 4 < n) {
			unsigned v = 0;
			for (int k = 1; k <= 4; k++) {
				char h = s[i + k];
				v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
										   : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
			}
			i += 4;
			if (v < 0x80) {
				*q++ = (char)v;
			} else if (v < 0x800) {
				*q++ = (char)(0xc0 | v >> 6);
				*q++ = (char)(0x80 | (v & 0x3f));
			} else {
				*q++ = (char)(0xe0 | v >> 12);
				*q++ = (char)(0x80 | ((v >> 6) & 0x3f));
				*q++ = (char)(0x80 | (v & 0x3f));
			}
			continue;
		}
		*q++ = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
	}
	*q = 0;
	return o;
}
