/*
 * Internal to collectors/: libyaml event stream -> one cJSON tree per
 * document plus a position map (cJSON node -> 1-based line/col of its key,
 * or of the node itself for sequence items and roots). Used by the
 * manifest loader and the .ktrace.yaml reader.
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
	char msg[256];
};

/* Parse buf (YAML or JSON). Returns 0, -1 on a syntax/limit error (err
 * filled; documents before it were delivered), or the callback's negative
 * value. */
int kt_yaml_parse(const char *buf, size_t len, unsigned max_depth, kt_ydoc_fn fn, void *ctx,
		  struct kt_yerr *err);

#endif
