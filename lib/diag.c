/*
 * Diagnostics and verbosity-gated logging. Library code records errors in
 * a struct kt_diag; log lines go to stderr only when -v/-vv asked for them.
 *
 * Messages often carry text from outside (server messages, object and file
 * names, plugin names): everything stored or printed here is made
 * visible-safe with kt_vis_escape() (control characters, bidi overrides and
 * invalid UTF-8 escaped) and bounded in length; warnings are also bounded
 * in number (KT_MAX_WARN_LINES per process).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ktrace/diag.h"
#include "ktrace/util.h"

#define KT_MAX_LINE 1024         /* bytes of one message before escaping */
#define KT_MAX_WARN_LINES 64     /* warnings printed per process */

int kt_verbosity;
static unsigned n_warned;

/* Format, cut to KT_MAX_LINE and escape into out (cap > 16 bytes); a cut
 * is marked " [...]". */
static void vformat(char *out, size_t cap, const char *fmt, va_list ap)
{
	char raw[KT_MAX_LINE + 1];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);
	size_t need = kt_vis_escape(out, cap - 7, raw);
	if (n > KT_MAX_LINE || need >= cap - 7) {
		size_t l = strlen(out);
		memcpy(out + l, " [...]", 7);
	}
}

int kt_diag_set(struct kt_diag *d, int code, const char *fmt, ...)
{
	if (!d)
		return -code;
	if (d->code == 0) {
		va_list ap;
		va_start(ap, fmt);
		vformat(d->msg, sizeof(d->msg), fmt, ap);
		va_end(ap);
		d->code = code;
		d->hint[0] = 0;
	}
	return -code;
}

void kt_diag_hint(struct kt_diag *d, const char *fmt, ...)
{
	if (!d)
		return;
	va_list ap;
	va_start(ap, fmt);
	vformat(d->hint, sizeof(d->hint), fmt, ap);
	va_end(ap);
}

void kt_diag_reset(struct kt_diag *d)
{
	if (d)
		memset(d, 0, sizeof(*d));
}

void kt_log(int level, const char *fmt, ...)
{
	if (kt_verbosity < level)
		return;
	char buf[4 * KT_MAX_LINE + 16];
	va_list ap;
	va_start(ap, fmt);
	vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ktrace: %s\n", buf);
}

void kt_warn(const char *fmt, ...)
{
	if (n_warned > KT_MAX_WARN_LINES)
		return;
	if (n_warned++ == KT_MAX_WARN_LINES) {
		fprintf(stderr, "ktrace: warning: more than %d warnings; the rest are not shown\n", KT_MAX_WARN_LINES);
		return;
	}
	char buf[4 * KT_MAX_LINE + 16];
	va_list ap;
	va_start(ap, fmt);
	vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ktrace: warning: %s\n", buf);
}

int kt_diag_not_found(struct kt_diag *d, const char *what, const char *ns, const char *name, const char *const *cands,
		     unsigned n)
{
	kt_diag_set(d, KT_EXIT_NOTFOUND, "%s '%s' not found%s%s%s", what, name, ns ? " in namespace '" : "", ns ? ns : "",
		    ns ? "'" : "");
	/* the 3 closest names */
	const char *best[3] = {0};
	unsigned bd[3] = {~0u, ~0u, ~0u};
	for (unsigned i = 0; i < n; i++) {
		unsigned dist = kt_edit_distance(name, cands[i]);
		if (strstr(cands[i], name) || strstr(name, cands[i]))
			dist = dist > 2 ? 2 : dist;
		for (int k = 0; k < 3; k++) {
			if (dist < bd[k]) {
				for (int m = 2; m > k; m--) {
					bd[m] = bd[m - 1];
					best[m] = best[m - 1];
				}
				bd[k] = dist;
				best[k] = cands[i];
				break;
			}
		}
	}
	unsigned lim = (unsigned)strlen(name) / 2 + 1;
	char hint[512] = "";
	size_t len = 0;
	for (int k = 0; k < 3; k++) {
		if (!best[k] || bd[k] > lim)
			continue;
		int w = snprintf(hint + len, sizeof(hint) - len, "%s'%s'", len ? ", " : "did you mean ", best[k]);
		if (w > 0 && (size_t)w < sizeof(hint) - len)
			len += (size_t)w;
	}
	if (len)
		kt_diag_hint(d, "%s?", hint);
	else if (n)
		kt_diag_hint(d, "%u %s%s exist%s in this namespace; list them with 'kubectl get %ss%s%s'", n, what,
			     n == 1 ? "" : "s", n == 1 ? "s" : "", what, ns ? " -n " : "", ns ? ns : "");
	else
		kt_diag_hint(d, "no %ss exist in namespace '%s'; check -n or the context", what, ns ? ns : "");
	return -KT_EXIT_NOTFOUND;
}
