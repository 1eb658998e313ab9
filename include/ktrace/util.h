/*
 * Small string helpers shared by analyzers and cli (no I/O).
 */
#ifndef KTRACE_UTIL_H
#define KTRACE_UTIL_H

/* strcmp that orders NULL before every string (NULL == NULL). */
int kt_strcmp0(const char *a, const char *b);

/* Levenshtein distance; strings longer than 64 bytes get the larger length. */
unsigned kt_edit_distance(const char *a, const char *b);

#endif
