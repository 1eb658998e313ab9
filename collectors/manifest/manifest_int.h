/*
 * Internal to collectors/manifest/: what the manifest loaders share. The
 * loader state that turns delivered documents into the snapshot
 * (manifest.c), the file walker (manifest_walk.c) and the threaded loaders
 * (manifest_par.c).
 */
#ifndef KT_COLLECTORS_MANIFEST_INT_H
#define KT_COLLECTORS_MANIFEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collectors/manifest/yaml_tree.h"
#include "ktrace/diag.h"
#include "ktrace/manifest.h"

/* One kt_manifest_load_paths() call: where documents go. */
struct kt_mload {
	struct kt_snapshot *snap;
	struct kt_manifest_result *r;
	const struct kt_manifest_opts *o;
	uint32_t *fix;           /* file name (interned pointer) -> snap->files index, open addressing */
	size_t fcap, fn;
};

struct kt_msrc {                 /* a Helm "# Source:" comment */
	uint32_t line;           /* 1-based */
	const char *name;        /* arena */
};

/* The file whose documents are being ingested. */
struct kt_mfile {
	struct kt_mload *L;
	const char *name;        /* as given (arena) */
	uint32_t file;           /* snap->files index */
	struct kt_msrc *srcs;    /* Helm sources (stdin) */
	size_t n_srcs;
	uint32_t prev_doc_line;
};

void kt_mload_error(struct kt_mload *L, const char *file, uint32_t line, uint32_t col, const char *msg);
void kt_manifest_warn(struct kt_snapshot *snap, struct kt_manifest_result *r, const char *file, uint32_t line,
		      uint32_t col, const char *msg);
/* Objects defined more than once (kind, namespace, name): keep the last
 * one, as `kubectl apply` of the inputs in order would, and warn at each
 * earlier one (manifest_dups.c). Before kt_snapshot_finish(). */
void kt_manifest_resolve_duplicates(struct kt_snapshot *snap, struct kt_manifest_result *r);
/* Start ingesting a file of bytes length: counts it and registers the name. */
void kt_mfile_begin(struct kt_mfile *F, struct kt_mload *L, const char *name, uint64_t bytes);
/* kt_ydoc_fn: one parsed document into the snapshot (ctx: struct kt_mfile). */
int kt_mfile_doc(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line);
/* Parse and ingest a buffer in this thread (with the JSON fallback);
 * -KT_EXIT_INPUT when something was rejected. */
int kt_mload_buf(struct kt_mload *L, const char *name, const char *buf, size_t len, bool is_stdin);
/* A JSON document libyaml (YAML 1.1) rejects, e.g. for odd escapes:
 * parsed with cJSON instead when nothing was delivered; NULL otherwise. */
cJSON *kt_mjson_fallback(const char *name, const char *buf, size_t len);

/* ---- walking paths (manifest_walk.c) -------------------------------------
 * A walker visits every manifest file of a path (directories recursively,
 * in name order) and hands each file, or each error, to a sink. */
struct kt_msink {
	void (*file)(struct kt_msink *k, const char *path, const char *buf, size_t len);
	void (*error)(struct kt_msink *k, const char *path, const char *msg);
	void (*path)(struct kt_msink *k, const char *path); /* set: only collect file names */
	const struct kt_manifest_opts *o;
	int rc;
	/* directories already walked (symlink loops, the same tree twice) */
	struct kt_mdirid {
		dev_t dev;
		ino_t ino;
	} *seen;
	size_t n_seen, cap_seen;
};

void kt_mwalk(struct kt_msink *k, const char *path);
/* Read a manifest file: 0 with buf and len set (buf NULL for an empty
 * file; release with kt_munmap_file), or -1 with msg set. */
int kt_mmap_file(const struct kt_manifest_opts *o, const char *path, const char **buf, size_t *len, char *msg,
		 size_t msz);
void kt_munmap_file(const char *buf, size_t len);
/* Walk paths in this thread, parsing and ingesting every file. */
int kt_mload_sequential(struct kt_mload *L, const char *const *paths, unsigned n);

/* ---- threads (manifest_par.c) --------------------------------------------- */
/* Load the files of paths (no "-") with a second parser thread; the
 * snapshot equals a sequential load's. */
int kt_mload_parallel(struct kt_mload *L, const char *const *paths, unsigned n);

#endif
