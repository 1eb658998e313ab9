/*
 * Bundles: what `ktrace collect` writes and `--from` reads. Versioned JSON
 * (gzip when the name ends in .gz): API objects reduced to the fields ktrace
 * reads (an allow-list per kind, collectors/kube/sanitize.c: no Secrets,
 * env, command lines, probe headers, arbitrary annotations or ConfigMap
 * text), node dataplane state and flow samples in the same shape as
 * `ktrace dataplane -o json`, and the collection gaps. The format is
 * documented in man/ktrace-bundle.5.
 */
#ifndef KTRACE_BUNDLE_H
#define KTRACE_BUNDLE_H

#include "ktrace/diag.h"
#include "ktrace/model.h"

#define KT_BUNDLE_VERSION 1

struct kt_bundle_writer;

/* path "-" is stdout; ".gz" suffix compresses. The bundle goes to a new
 * temporary file beside path (mode 0600) that replaces path only when
 * kt_bundle_finish succeeds; path must not exist or be a regular file
 * (KT_EXIT_USAGE otherwise). */
int kt_bundle_create(const char *path, const struct kt_snapshot *meta_from,
		     struct kt_bundle_writer **out, struct kt_diag *d);
/* The check kt_bundle_create makes first, for callers that want to refuse
 * a bad target before collecting: 0, or KT_EXIT_USAGE when path exists and
 * is not a regular file ("-" is fine). */
int kt_bundle_check_target(const char *path, struct kt_diag *d);
/* Append one API object given as JSON text (already sanitised). */
int kt_bundle_add_raw(struct kt_bundle_writer *bw, const char *json, size_t n);
/* errno of the first failed write (0 when none). */
int kt_bundle_errno(const struct kt_bundle_writer *bw);
/* Write node state, flows and gaps of snap, the trailer, and close. */
int kt_bundle_finish(struct kt_bundle_writer *bw, const struct kt_snapshot *snap, struct kt_diag *d);
/* Abort: close and remove the temporary file (path is left as it was). */
void kt_bundle_abort(struct kt_bundle_writer *bw);

/* Load a bundle file (path, .gz, "-" stdin), a directory of them, or "demo"
 * into a new finished snapshot, streaming (memory bounded per element; see
 * ktrace-bundle(5) for the limits). Namespaced objects without a namespace
 * take default_ns (NULL: "default"). Errors: KT_EXIT_INPUT (file:line),
 * KT_EXIT_NOTFOUND (no file). */
int kt_bundle_load_ns(const char *from, const char *default_ns, struct kt_snapshot **out, struct kt_diag *d);
/* The same with default_ns NULL. */
int kt_bundle_load(const char *from, struct kt_snapshot **out, struct kt_diag *d);

/* Load from memory (used by the embedded demo and fuzzing). */
int kt_bundle_load_mem(const char *name, const char *buf, size_t len, struct kt_snapshot **out,
		       struct kt_diag *d);

#endif
