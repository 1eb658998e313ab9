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
