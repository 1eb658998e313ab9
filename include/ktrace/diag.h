/*
 * Diagnostics: library code returns a negative exit code and fills a
 * kt_diag; only cli/ prints it ("ktrace: <msg>" then "hint: <hint>").
 */
#ifndef KTRACE_DIAG_H
#define KTRACE_DIAG_H

enum kt_exit {
	KT_EXIT_OK = 0,
	KT_EXIT_FINDINGS = 1,
	KT_EXIT_USAGE = 2,
	KT_EXIT_NOTFOUND = 3,
	KT_EXIT_CLUSTER = 4,
	KT_EXIT_INPUT = 5,
	KT_EXIT_PARTIAL = 6,     /* the answer was printed, but some input it needs could not be read or is absent (gaps) */
};

struct kt_diag {
	int code;                /* enum kt_exit; 0 = no error recorded */
	char msg[1024];          /* what failed and why; lowercase, no full stop */
	char hint[1024];         /* what to do; may be empty */
};

/* Record an error (first one wins unless overwritten explicitly with
 * kt_diag_reset). Returns -code so callers can `return kt_diag_set(...)`. */
int kt_diag_set(struct kt_diag *d, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kt_diag_hint(struct kt_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kt_diag_reset(struct kt_diag *d);

/* "not found" with did-you-mean: fill d (KT_EXIT_NOTFOUND) with
 * "<what> '<name>' not found[ in namespace '<ns>']" and a hint naming up to
 * three close names among cands (or how many exist). Returns
 * -KT_EXIT_NOTFOUND. */
int kt_diag_not_found(struct kt_diag *d, const char *what, const char *ns, const char *name,
		      const char *const *cands, unsigned n);

/* Verbosity-gated logging to the sink installed by cli (stderr by default).
 * level 1 = -v, level 2 = -vv. Never pass credentials. */
extern int kt_verbosity;
void kt_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Warnings are always shown (e.g. API Warning headers). */
void kt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
