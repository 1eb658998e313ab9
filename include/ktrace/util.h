/*
 * Small string helpers shared by analyzers and cli (no I/O).
 */
#ifndef KTRACE_UTIL_H
#define KTRACE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

struct kt_arena;

/* strcmp that orders NULL before every string (NULL == NULL). */
int kt_strcmp0(const char *a, const char *b);

/* Levenshtein distance; strings longer than 64 bytes get the larger length. */
unsigned kt_edit_distance(const char *a, const char *b);

/* Terminal safety for text that comes from outside (cluster objects, files,
 * servers). A string is "visible-safe" when it holds no C0 control (0x00-
 * 0x1f, including newline and tab), no DEL, no C1 control (U+0080-U+009F),
 * no bidi control (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069)
 * and only valid UTF-8. kt_vis_escape() writes the escaped form: \n \r \t
 * for those three, \xHH for other bytes (C0, DEL, invalid UTF-8) and \uHHHH
 * for C1 and bidi code points; everything else is copied. */
bool kt_vis_clean(const char *s);
/* Escape s into dst (cap bytes, always NUL-terminated when cap > 0; output
 * truncated at a character boundary). Returns the length the full escaped
 * string needs, excluding the NUL (like snprintf). NULL s writes "". */
size_t kt_vis_escape(char *dst, size_t cap, const char *s);
/* s itself when it is clean (no copy), else an escaped copy in arena a.
 * NULL stays NULL. */
const char *kt_vis(struct kt_arena *a, const char *s);

#endif
