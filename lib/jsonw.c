/*
 * The streaming JSON writer. Buffers output in 64 KiB chunks and hands them
 * to a sink (a FILE or a callback). Tracks nesting to place commas and, in
 * pretty mode, newlines and two-space indentation. Strings are escaped and
 * validated as UTF-8; invalid sequences become U+FFFD. Numbers never depend
 * on the locale. In event mode (kt_jw_new_events) the same calls become
 * events for another serialiser (the YAML output) instead of text; nothing
 * is buffered beyond one string.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"

#define KT_JW_BUF 65536
#define KT_JW_DEPTH 128

struct kt_jw {
	kt_jw_sink sink;
	kt_jw_event_fn ev;       /* event mode when set */
	void *ctx;
	char *scratch;           /* event mode: a string made valid UTF-8 */
	size_t scratch_cap;
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

struct kt_jw *kt_jw_new_events(kt_jw_event_fn fn, void *ctx)
{
	struct kt_jw *w = kt_xmalloc(offsetof(struct kt_jw, buf));
	memset(w, 0, offsetof(struct kt_jw, buf));
	w->ev = fn;
	w->ctx = ctx;
	return w;
}

static void event(struct kt_jw *w, enum kt_jw_event e, const char *s, size_t n)
{
	if (!w->err && w->ev(w->ctx, e, s, n) != 0)
		w->err = true;
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

void kt_jw_obj(struct kt_jw *w)
{
	if (w->ev)
		event(w, KT_JW_EV_OBJ, NULL, 0);
	else
		open_(w, '{');
}

void kt_jw_obj_end(struct kt_jw *w)
{
	if (w->ev)
		event(w, KT_JW_EV_OBJ_END, NULL, 0);
	else
		close_(w, '}');
}

void kt_jw_arr(struct kt_jw *w)
{
	if (w->ev)
		event(w, KT_JW_EV_ARR, NULL, 0);
	else
		open_(w, '[');
}

void kt_jw_arr_end(struct kt_jw *w)
{
	if (w->ev)
		event(w, KT_JW_EV_ARR_END, NULL, 0);
	else
		close_(w, ']');
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when invalid. */
static int utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = *p;
	int len = 0;
	uint32_t cp = 0;
	if (c < 0x80)
		return 1;
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
	if (!len || end - p < len)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Event mode: s as valid UTF-8 (itself when it is; else a copy in the
 * scratch buffer with U+FFFD for each invalid byte). */
static const char *valid_utf8(struct kt_jw *w, const char *s, size_t n, size_t *out_n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	size_t ok = 0;
	while (p + ok < end) {
		int l = utf8_len(p + ok, end);
		if (!l)
			break;
		ok += (size_t)l;
	}
	*out_n = n;
	if (p + ok == end)
		return s;
	if (w->scratch_cap < 3 * n + 1) {
		w->scratch_cap = 3 * n + 1;
		w->scratch = kt_xrealloc(w->scratch, w->scratch_cap);
	}
	size_t o = 0;
	while (p < end) {
		int l = utf8_len(p, end);
		if (l) {
			memcpy(w->scratch + o, p, (size_t)l);
			o += (size_t)l;
			p += l;
		} else {
			memcpy(w->scratch + o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	w->scratch[o] = 0;
	*out_n = o;
	return w->scratch;
}

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
		int len = utf8_len(p, end);
		if (len) {
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
	if (w->ev) {
		size_t n;
		const char *k = valid_utf8(w, key, strlen(key), &n);
		event(w, KT_JW_EV_KEY, k, n);
		return;
	}
	pre_value(w);
	put_escaped(w, key, strlen(key));
	putc_(w, ':');
	if (w->pretty)
		putc_(w, ' ');
	w->after_key = true;
}

void kt_jw_strn(struct kt_jw *w, const char *s, size_t n)
{
	if (w->ev) {
		size_t vn;
		const char *v = valid_utf8(w, s, n, &vn);
		event(w, KT_JW_EV_STR, v, vn);
		return;
	}
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
	if (w->ev) {
		event(w, KT_JW_EV_NUM, b, (size_t)n);
		return;
	}
	pre_value(w);
	put(w, b, (size_t)n);
}

void kt_jw_uint(struct kt_jw *w, uint64_t v)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	if (w->ev) {
		event(w, KT_JW_EV_NUM, b, (size_t)n);
		return;
	}
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
	if (w->ev) {
		event(w, KT_JW_EV_NUM, b, (size_t)n);
		return;
	}
	pre_value(w);
	put(w, b, (size_t)n);
}

void kt_jw_bool(struct kt_jw *w, bool v)
{
	if (w->ev) {
		event(w, KT_JW_EV_BOOL, v ? "true" : "false", v ? 4 : 5);
		return;
	}
	pre_value(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void kt_jw_null(struct kt_jw *w)
{
	if (w->ev) {
		event(w, KT_JW_EV_NULL, NULL, 0);
		return;
	}
	pre_value(w);
	put(w, "null", 4);
}

/* Event mode: replay a parsed JSON value as events. */
static void replay(struct kt_jw *w, const cJSON *v, int depth)
{
	if (depth > KT_JW_DEPTH) {
		w->err = true;
		return;
	}
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		bool obj = cJSON_IsObject(v);
		obj ? kt_jw_obj(w) : kt_jw_arr(w);
		for (const cJSON *c = v->child; c; c = c->next) {
			if (obj)
				kt_jw_key(w, c->string ? c->string : "");
			replay(w, c, depth + 1);
		}
		obj ? kt_jw_obj_end(w) : kt_jw_arr_end(w);
	} else if (cJSON_IsString(v)) {
		kt_jw_str(w, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		kt_jw_double(w, v->valuedouble);
	} else if (cJSON_IsBool(v)) {
		kt_jw_bool(w, cJSON_IsTrue(v));
	} else {
		kt_jw_null(w);
	}
}

void kt_jw_raw(struct kt_jw *w, const char *json, size_t n)
{
	if (w->ev) {
		cJSON *v = cJSON_ParseWithLength(json, n);
		if (!v)
			w->err = true;
		else
			replay(w, v, 0);
		cJSON_Delete(v);
		return;
	}
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
	if (w->ev) {
		/* always delivered: the receiver releases itself on END */
		if (w->ev(w->ctx, KT_JW_EV_END, NULL, 0) != 0)
			w->err = true;
		int rc = w->err ? -1 : 0;
		free(w->scratch);
		free(w);
		return rc;
	}
	flush(w);
	int rc = w->err ? -1 : 0;
	if (w->fp && fflush(w->fp) != 0)
		rc = -1;
	free(w);
	return rc;
}
