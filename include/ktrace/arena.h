/*
 * Arena allocator with string interning. One arena per snapshot and one per
 * result; everything is released at once by kt_arena_free(). Allocation
 * failure aborts (there is no sensible recovery in a CLI tool).
 */
#ifndef KTRACE_ARENA_H
#define KTRACE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct kt_arena;

struct kt_arena *kt_arena_new(void);
void kt_arena_free(struct kt_arena *a);
/* Zeroed, 16-byte aligned. */
void *kt_arena_alloc(struct kt_arena *a, size_t size);
#define KT_ANEW(a, type, n) ((type *)kt_arena_alloc((a), sizeof(type) * (size_t)(n)))
char *kt_arena_strdup(struct kt_arena *a, const char *s);           /* NULL -> NULL */
char *kt_arena_strndup(struct kt_arena *a, const char *s, size_t n);
char *kt_arena_printf(struct kt_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *kt_arena_vprintf(struct kt_arena *a, const char *fmt, va_list ap);
/* Interned copy: equal strings share one copy (pointer-comparable). */
const char *kt_intern(struct kt_arena *a, const char *s);           /* NULL -> NULL */
const char *kt_intern_n(struct kt_arena *a, const char *s, size_t n);
size_t kt_arena_bytes(const struct kt_arena *a);                     /* bytes reserved */

#endif
