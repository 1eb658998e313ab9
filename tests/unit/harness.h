/*
 * The unit-test harness: T_CHECK / T_CHECK_STR / T_CHECK_INT / T_SKIP print
 * one "PASS:"/"FAIL:"/"SKIP:" line per check (tests/run.sh counts them).
 * A test file defines `static void run(void)` and includes this header last
 * via T_MAIN.
 */
#ifndef KT_TEST_HARNESS_H
#define KT_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed;
static const char *t_file;

#define T_CHECK(cond, name) do { \
	if (cond) printf("PASS: %s: %s\n", t_file, name); \
	else { printf("FAIL: %s: %s (%s:%d: %s)\n", t_file, name, __FILE__, __LINE__, #cond); t_failed++; } \
} while (0)

#define T_CHECK_STR(got, want, name) do { \
	const char *g_ = (got), *w_ = (want); \
	if ((g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0)) printf("PASS: %s: %s\n", t_file, name); \
	else { printf("FAIL: %s: %s (%s:%d: got \"%s\", want \"%s\")\n", t_file, name, __FILE__, __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); t_failed++; } \
} while (0)

#define T_CHECK_INT(got, want, name) do { \
	long long g_ = (long long)(got), w_ = (long long)(want); \
	if (g_ == w_) printf("PASS: %s: %s\n", t_file, name); \
	else { printf("FAIL: %s: %s (%s:%d: got %lld, want %lld)\n", t_file, name, __FILE__, __LINE__, g_, w_); t_failed++; } \
} while (0)

#define T_CHECK_NEAR(got, want, eps, name) do { \
	double g_ = (got), w_ = (want); \
	if (g_ - w_ <= (eps) && w_ - g_ <= (eps)) printf("PASS: %s: %s\n", t_file, name); \
	else { printf("FAIL: %s: %s (%s:%d: got %g, want %g)\n", t_file, name, __FILE__, __LINE__, g_, w_); t_failed++; } \
} while (0)

/* The first cap-1 bytes of a file, NUL-terminated (malloc'd, caller
 * frees); NULL when it cannot be opened. */
static inline char *t_slurp(const char *path, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = malloc(cap);
	*len = fread(b, 1, cap - 1, f);
	b[*len] = 0;
	fclose(f);
	return b;
}

#define T_SKIP(name, reason) printf("SKIP: %s: %s: %s\n", t_file, name, reason)

#define T_MAIN(fname) \
	int main(void) { t_file = fname; setvbuf(stdout, NULL, _IOLBF, 0); run(); return t_failed ? 1 : 0; }

#endif
