/*
 * Bundles: what `ktrace collect` writes and `--from` reads. Versioned JSON
 * (gzip when the name ends in .gz): raw API objects (sanitised: no
 * managedFields, Secrets, env values or ConfigMap data other than proxy
 * settings), node dataplane state and flow samples in the same shape as
 * `ktrace dataplane -o json`, and the collection gaps. The format is
 * documented in man/ktrace-bundle.5.
 */
#ifndef KTRACE_BUNDLE_H
#define KTRACE_BUNDLE_H

#include "ktrace/diag.h"
#include "ktrace/model.h"

#define KT_BUNDLE_VERSION 1

struct kt_bundle_writer;

/* path "-" is stdout; ".gz" suffix compresses. */
int kt_bundle_create(const char *path, const struct kt_snapshot *meta_from,
		     struct kt_bundle_writer **out, struct kt_diag *d);
/* Append one API object given as JSON text (already sanitised). */
int kt_bundle_add_raw(struct kt_bundle_writer *bw, const char *json, size_t n);
/* Write node state, flows and gaps of snap, the trailer, and close. */
int kt_bundle_finish(struct kt_bundle_writer *bw, const struct kt_snapshot *snap, struct kt_diag *d);
/* Abort: close and remove the partial file. */
void kt_bundle_abort(struct kt_bundle_writer *bw);

/* Load a bundle file (path, .gz, "-" stdin) or "demo" into a new finished
 * snapshot. Errors: KT_EXIT_INPUT (file:line), KT_EXIT_NOTFOUND (no file). */
int kt_bundle_load(const char *from, struct kt_snapshot **out, struct kt_diag *d);

/* Load from memory (used by the embedded demo and fuzzing). */
int kt_bundle_load_mem(const char *name, const char *buf, size_t len, struct kt_snapshot **out,
		       struct kt_diag *d);

#endif
