/*
 * Bounded whole-file reading shared by collectors and lib (recordings,
 * replays, config files, `-` for stdin).
 */
#ifndef KTRACE_FILEIO_H
#define KTRACE_FILEIO_H

#include <stddef.h>
#include <stdio.h>

/* Read f to EOF into a malloc'd buffer (*buf, caller frees; never NULL on
 * return), starting with cap bytes and doubling up to max bytes (max a
 * power-of-two multiple of cap). Does not close f. Returns 1 when the input
 * holds max bytes or more (*len == max, the rest unread: the caller reports
 * it as too large or uses the truncated prefix), else 0. Aborts on OOM. */
int kt_read_stream(FILE *f, size_t cap, size_t max, char **buf, size_t *len);

#endif
