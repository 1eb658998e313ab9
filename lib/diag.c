/*
 * Diagnostics and verbosity-gated logging. Library code records errors in
 * a struct kt_diag; log lines go to stderr only when -v/-vv asked for them,
 * visible-safe (they quote names from the cluster and files: kt_vis_escape).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ktrace/diag.h"
#include "ktrace/util.h"

int kt_verbosity;

int kt_diag_set(struct kt_diag *d, int code, const char *fmt, ...)
{
	if (!d)
		return -code;
	if (d->code == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
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
	vsnprintf(d->hint, sizeof(d->hint), fmt, ap);
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
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char vis[2048];
	kt_vis_escape(vis, sizeof(vis), buf);
	fprintf(stderr, "ktrace: %s\n", vis);
}

void kt_warn(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	char vis[2048];
	kt_vis_escape(vis, sizeof(vis), buf);
	fprintf(stderr, "ktrace: warning: %s\n", vis);
}
