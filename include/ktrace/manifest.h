/*
 * Manifest loader (collectors/manifest/): Kubernetes YAML/JSON from
 * files, directories (recursive *.yaml, *.yml, *.json; dot-files skipped;
 * a dangling symlink to such a file is an error, as for kubectl) and stdin
 * ("-"), multi-document streams, List kinds, anchors/aliases (bounded
 * expansion) and merge keys. Every object keeps its file and the
 * line/column of its fields (kt_meta.pos / kt_meta.fields).
 *
 * YAML semantics follow kubectl: a duplicate mapping key keeps the last
 * value (a warning); a malformed document (syntax error, NUL, invalid
 * UTF-8, reported at its own line) is an error that ends only that
 * document, the file's other documents and the remaining files are still
 * loaded; the same kind/namespace/name defined more than once is resolved
 * as `kubectl apply` of the inputs in order would: the last definition
 * wins (a warning names both positions).
 */
#ifndef KTRACE_MANIFEST_H
#define KTRACE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktrace/model.h"

struct kt_manifest_error {
	const char *file;
	uint32_t line, col;      /* 1-based; 0 when unknown */
	const char *msg;         /* lowercase, no file prefix */
};

struct kt_manifest_result {
	struct kt_manifest_error *errors; /* malloc'd; strings in the snapshot arena */
	uint32_t n_errors, cap_errors;
	struct kt_manifest_error *warnings; /* the same, for input that loads but deserves a look */
	uint32_t n_warnings, cap_warnings;
	uint64_t bytes;          /* input bytes read */
	uint32_t files;          /* files read */
	uint32_t documents;      /* non-empty YAML documents */
	uint32_t objects;        /* documents with a kind (Lists count once) */
};

struct kt_manifest_opts {
	uint64_t max_file_bytes; /* 0 -> 1 GiB */
	unsigned max_depth;      /* nesting cap; 0 -> 128 */
	bool helm_source;        /* stdin: name documents after Helm's "# Source:" comment (default on) */
	unsigned threads;        /* 0: two for several files when a CPU is idle now
				    (kt_spare_cpus()), else one; 1: load in the calling thread;
				    2+: a second thread walks and reads files ahead (parses a
				    single file) while the calling one parses and ingests
				    (output is identical either way) */
};

/* Load path ("-" = stdin) into snap (not finished), duplicates resolved.
 * Returns 0, or -KT_EXIT_INPUT when anything could not be read or parsed
 * (details in r->errors; everything else was still loaded). o may be NULL. */
int kt_manifest_load(struct kt_snapshot *snap, const char *path, const struct kt_manifest_opts *o,
		     struct kt_manifest_result *r);
/* Several paths in order ("-" at most once); with two threads files are
 * walked and read ahead on the second while the calling one parses and
 * ingests them in input order (same results as loading them one by one). */
int kt_manifest_load_paths(struct kt_snapshot *snap, const char *const *paths, unsigned n,
			   const struct kt_manifest_opts *o, struct kt_manifest_result *r);
/* The same for an in-memory buffer named name (tests, fuzzing). */
int kt_manifest_load_mem(struct kt_snapshot *snap, const char *name, const char *buf, size_t len,
			 const struct kt_manifest_opts *o, struct kt_manifest_result *r);
void kt_manifest_result_free(struct kt_manifest_result *r);

#endif
