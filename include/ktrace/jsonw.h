/*
 * The one streaming JSON writer: escapes and validates UTF-8 (invalid bytes
 * become U+FFFD), locale-independent numbers, optional pretty printing.
 * Writes to a FILE or to any sink callback (gzip bundles).
 */
#ifndef KTRACE_JSONW_H
#define KTRACE_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct kt_jw;

typedef int (*kt_jw_sink)(void *ctx, const char *buf, size_t len);

struct kt_jw *kt_jw_new(FILE *out, bool pretty);
struct kt_jw *kt_jw_new_sink(kt_jw_sink sink, void *ctx, bool pretty);

/* Event mode: instead of JSON text, every call becomes one event for fn
 * (another serialisation of the same document, e.g. YAML). s/n carry the
 * key, the string (valid UTF-8: invalid bytes already replaced by U+FFFD),
 * the number as JSON writes it, or "true"/"false"; NULL otherwise.
 * KT_JW_EV_END comes once, from kt_jw_free(). fn returns 0, or -1 to
 * report a failure (kt_jw_free() then returns -1). */
enum kt_jw_event {
	KT_JW_EV_OBJ, KT_JW_EV_OBJ_END, KT_JW_EV_ARR, KT_JW_EV_ARR_END, KT_JW_EV_KEY,
	KT_JW_EV_STR, KT_JW_EV_NUM, KT_JW_EV_BOOL, KT_JW_EV_NULL, KT_JW_EV_END,
};
typedef int (*kt_jw_event_fn)(void *ctx, enum kt_jw_event ev, const char *s, size_t n);
struct kt_jw *kt_jw_new_events(kt_jw_event_fn fn, void *ctx);

/* Flushes; returns 0 or -1 if any write failed. Frees the writer. */
int kt_jw_free(struct kt_jw *w);

void kt_jw_obj(struct kt_jw *w);        /* { */
void kt_jw_obj_end(struct kt_jw *w);    /* } */
void kt_jw_arr(struct kt_jw *w);        /* [ */
void kt_jw_arr_end(struct kt_jw *w);    /* ] */
void kt_jw_key(struct kt_jw *w, const char *key);
void kt_jw_str(struct kt_jw *w, const char *s);    /* NULL -> null */
void kt_jw_strn(struct kt_jw *w, const char *s, size_t n);
void kt_jw_int(struct kt_jw *w, int64_t v);
void kt_jw_uint(struct kt_jw *w, uint64_t v);
void kt_jw_double(struct kt_jw *w, double v);      /* %.6g-like, no locale; NaN/inf -> null */
void kt_jw_bool(struct kt_jw *w, bool v);
void kt_jw_null(struct kt_jw *w);
/* Insert pre-serialised JSON text verbatim as one value. */
void kt_jw_raw(struct kt_jw *w, const char *json, size_t n);
/* key + value shorthands */
void kt_jw_kstr(struct kt_jw *w, const char *key, const char *s);
void kt_jw_kint(struct kt_jw *w, const char *key, int64_t v);
void kt_jw_kuint(struct kt_jw *w, const char *key, uint64_t v);
void kt_jw_kdouble(struct kt_jw *w, const char *key, double v);
void kt_jw_kbool(struct kt_jw *w, const char *key, bool v);
void kt_jw_knull(struct kt_jw *w, const char *key);

#endif
