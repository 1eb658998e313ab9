/*
 * The streaming JSON writer. Buffers output in 64 KiB chunks and hands them
 * to a sink (a FILE or a callback). Tracks nesting to place commas and, in
 * pretty mode, newlines and two-space indentation. Strings are escaped and
 * validated as UTF-8; invalid sequences become U+FFFD. Numbers never depend
 * on the locale.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"

#define KT_JW_BUF 65536
#define KT_JW_DEPTH 128

struct kt_jw {
	kt_jw_sink sink;
	void *ctx;
	FILE *fp;
	bool pretty;
	bool after_key;
	bool err;
	int depth;
	bool first[KT_JW_DEPTH];
	size_t len;
	char buf[KT_JW_BUF];
};

static int file_sink(void *ctx, const char *b, size_t n)
{
	return fwrite(b, 1, n, (FILE *)ctx) == n ? 0 : -1;
}

struct kt_jw *kt_jw_new_sink(kt_jw_sink sink, void *ctx, bool pretty)
{
	struct kt_jw *w = kt_xmalloc(sizeof(*w));
	memset(w, 0, offsetof(struct kt_jw, buf));
	w->sink = sink;
	w->ctx = ctx;
	w->pretty = pretty;
	w->first[0] = true;
	return w;
}

struct kt_jw *kt_jw_new(FILE *out, bool pretty)
{
	struct kt_jw *w = kt_jw_new_sink(file_sink, out, pretty);
	w->fp = out;
	return w;
}

static void flush(struct kt_jw *w)
{
	if (w->len && !w->err && w->sink(w->ctx, w->buf, w->len) != 0)
		w->err = true;
	w->len = 0;
}

static void put(struct kt_jw *w, const char *s, size_t n)
{
	while (n) {
		size_t room = KT_JW_BUF - w->len;
		size_t k = n < room ? n : room;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
		if (w->len == KT_JW_BUF)
			flush(w);
	}
}

static void putc_(struct kt_jw *w, char c)
{
	if (w->len == KT_JW_BUF)
		flush(w);
	w->buf[w->len++] = c;
}

static void indent(struct kt_jw *w)
{
	putc_(w, '\n');
	for (int i = 0; i < w->depth; i++)
		put(w, "  ", 2);
}

/* Before any value: comma/newline unless it follows a key. */
static void pre_value(struct kt_jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (!w->first[w->depth])
			putc_(w, ',');
		w->first[w->depth] = false;
		if (w->pretty)
			indent(w);
	}
}

static void open_(struct kt_jw *w, char c)
{
	pre_value(w);
	putc_(w, c);
	if (w->depth < KT_JW_DEPTH - 1)
		w->depth++;
	w->first[w->depth] = true;
}

static void close_(struct kt_jw *w, char c)
{
	bool empty = w->first[w->depth];
	if (w->depth > 0)
		w->depth--;
	if (w->pretty && !empty)
		indent(w);
	putc_(w, c);
	if (w->depth == 0 && w->pretty)
		putc_(w, '\n');
}

void kt_jw_obj(struct kt_jw *w) { open_(w, '{'); }
void kt_jw_obj_end(struct kt_jw *w) { close_(w, '}'); }
void kt_jw_arr(struct kt_jw *w) { open_(w, '['); }
void kt_jw_arr_end(struct kt_jw *w) { close_(w, ']'); }

static void put_escaped(struct kt_jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	putc_(w, '"');
	while (p < end) {
		unsigned char c = *p;
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			const unsigned char *q = p;
			while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
				q++;
			put(w, (const char *)p, (size_t)(q - p));
			p = q;
			continue;
		}
		if (c < 0x80) {
			switch (c) {
			case '"': put(w, "\\\"", 2); break;
			case '\\': put(w, "\\\\", 2); break;
			case '\n': put(w, "\\n", 2); break;
			case '\r': put(w, "\\r", 2); break;
			case '\t': put(w, "\\t", 2); break;
			default: {
				char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				put(w, e, 6);
			}
			}
			p++;
			continue;
		}
		/* UTF-8 validation */
		int len = 0;
		uint32_t cp = 0;
		if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		}
		bool ok = len > 0 && end - p >= len;
		for (int i = 1; ok && i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				ok = false;
			else
				cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
			   cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
			ok = false;
		if (ok) {
			put(w, (const char *)p, (size_t)len);
			p += len;
		} else {
			put(w, "\xef\xbf\xbd", 3);
			p++;
		}
	}
	putc_(w, '"');
}

void kt_jw_key(struct kt_jw *w, const char *key)
{
	pre_value(w);
	put_escaped(w, key, strlen(key));
	putc_(w, ':');
	if (w->pretty)
		putc_(w, ' ');
	w->after_key = true;
}

void kt_jw_strn(struct kt_jw *w, const char *s, size_t n)
{
	pre_value(w);
	put_escaped(w, s, n);
}

void kt_jw_str(struct kt_jw *w, const char *s)
{
	if (!s) {
		kt_jw_null(w);
		return;
	}
	kt_jw_strn(w, s, strlen(s));
}

void kt_jw_int(struct kt_jw *w, int64_t v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%lld", (long long)v);
	pre_value(w);
	put(w, b, (size_t)n);
}

void kt_jw_uint(struct kt_jw *w, uint64_t v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	pre_value(w);
	put(w, b, (size_t)n);
}

void kt_jw_double(struct kt_jw *w, double v)
{
	if (!isfinite(v)) {
		kt_jw_null(w);
		return;
	}
	char b[64];
	if (v == (double)(int64_t)v && fabs(v) < 1e15) {
		kt_jw_int(w, (int64_t)v);
		return;
	}
	int n = snprintf(b, sizeof(b), "%.10g", v);
	for (int i = 0; i < n; i++)
		if (b[i] == ',')
			b[i] = '.';
	pre_value(w);
	put(w, b, (size_t)n);
}

void kt_jw_bool(struct kt_jw *w, bool v)
{
	pre_value(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void kt_jw_null(struct kt_jw *w)
{
	pre_value(w);
	put(w, "null", 4);
}

void kt_jw_raw(struct kt_jw *w, const char *json, size_t n)
{
	pre_value(w);
	put(w, json, n);
}

void kt_jw_kstr(struct kt_jw *w, const char *k, const char *s) { kt_jw_key(w, k); kt_jw_str(w, s); }
void kt_jw_kint(struct kt_jw *w, const char *k, int64_t v) { kt_jw_key(w, k); kt_jw_int(w, v); }
void kt_jw_kuint(struct kt_jw *w, const char *k, uint64_t v) { kt_jw_key(w, k); kt_jw_uint(w, v); }
void kt_jw_kdouble(struct kt_jw *w, const char *k, double v) { kt_jw_key(w, k); kt_jw_double(w, v); }
void kt_jw_kbool(struct kt_jw *w, const char *k, bool v) { kt_jw_key(w, k); kt_jw_bool(w, v); }
void kt_jw_knull(struct kt_jw *w, const char *k) { kt_jw_key(w, k); kt_jw_null(w); }

int kt_jw_free(struct kt_jw *w)
{
	if (!w)
		return 0;
	flush(w);
	int rc = w->err ? -1 : 0;
	if (w->fp && fflush(w->fp) != 0)
		rc = -1;
	free(w);
	return rc;
}
