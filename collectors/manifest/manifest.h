/*
 * Internal to collectors/: YAML (the fast scanner, libyaml as its
 * fallback) -> one cJSON tree per document plus a position map (cJSON
 * node -> 1-based line/col of its key, or of the node itself for sequence
 * items and roots). Used by the manifest loader and the .ktrace.yaml
 * reader.
 */
#ifndef KT_COLLECTORS_MANIFEST_H
#define KT_COLLECTORS_MANIFEST_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_ypos;              /* position map of the current document */

/* lookup for struct kt_posmap: ctx is the struct kt_ypos. */
bool kt_ypos_lookup(void *ctx, const cJSON *node, uint32_t *line, uint32_t *col);

/* Called per non-empty document; root is freed after the call returns
 * (detach what you keep). Return <0 to stop parsing. first_line: 1-based
 * line of the document's first node. */
typedef int (*kt_ydoc_fn)(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line);

struct kt_yerr {
	uint32_t line, col;      /* 1-based */
	uint32_t line2;          /* warnings: the other line involved (0 none) */
	char msg[256];
};

/* Warnings of the document a kt_ydoc_fn is called with (duplicate keys:
 * msg "duplicate key 'k'", line/col of the later key, line2 of the
 * earlier one, both before the Helm "# Source:" adjustment). */
unsigned kt_ypos_warnings(const struct kt_ypos *pos, const struct kt_yerr **out);

/* Parse buf (YAML or JSON). A syntax error, an invalid byte (NUL, control
 * character, invalid UTF-8; reported at its own line and column) or a
 * limit ends only the document it is in: parsing resumes at the next
 * "---" line. Returns 0, -1 when something was rejected (err: the first
 * problem; every document without one was delivered), or the callback's
 * negative value. */
int kt_yaml_parse(const char *buf, size_t len, unsigned max_depth, kt_ydoc_fn fn, void *ctx,
		  struct kt_yerr *err);

/* Parser modes for kt_yaml_dump (and KTRACE_YAML): the fast scanner with
 * libyaml as the fallback for documents outside its subset (the default),
 * libyaml only (KTRACE_YAML=libyaml), or the fast scanner alone, which
 * stops at the first document it cannot handle. */
enum kt_yaml_mode {
	KT_YAML_AUTO = 0,        /* KT_YAML_LIBYAML when KTRACE_YAML=libyaml, else KT_YAML_DEFAULT */
	KT_YAML_DEFAULT,
	KT_YAML_LIBYAML,
	KT_YAML_FAST,
};

/* Debugging and differential tests: parse buf as kt_yaml_parse does with
 * mode and render every delivered document as canonical text (the tree
 * with types, values and keys in order, and the 1-based line:col of every
 * node from the position map), then the error (line:col: message) if
 * any. *out is malloc'd (NUL-terminated, *outlen bytes). Returns 1 when
 * mode is KT_YAML_FAST and the fast scanner bailed out (the text then
 * holds the documents delivered before), else 0. max_depth 0 = 128. */
int kt_yaml_dump(const char *buf, size_t len, unsigned max_depth, enum kt_yaml_mode mode, char **out,
		 size_t *outlen);

#endif
