/*
 * Internal to collectors/manifest/: the YAML tree builder shared by the
 * parse driver (yaml_parse.c) and the loaders (manifest*.c). The builder
 * turns events (from the fast scanner or libyaml) into one cJSON tree per
 * document plus its position map; a finished document is either handed to
 * a callback (kt_yaml_parse) or moved into a struct ydoc for another
 * thread (handoff mode).
 */
#ifndef KT_COLLECTORS_YAML_TREE_H
#define KT_COLLECTORS_YAML_TREE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collectors/manifest/manifest.h"
#include "collectors/manifest/yaml_fast.h"

#define KT_Y_MAX_NODES (8u * 1024 * 1024)  /* per document */
#define KT_Y_ALIAS_BASE (64u * 1024)        /* alias-expanded nodes allowed beyond 2x direct */
#define KT_Y_MAX_ANCHORS 16384
#define KT_Y_MAX_WARNINGS 32                /* per document */

struct kt_ypos_ent {
	const cJSON *k;
	uint32_t line, col;
	uint32_t gen;            /* entry is live when gen == map gen */
};

/* The position map of one document and its warnings (duplicate keys).
 * Nodes of the document's storage (KT_YNODE) carry their position
 * themselves; the table (open addressing on the node pointer) holds the
 * others' (a JSON fallback's root). */
struct kt_ypos {
	struct kt_ypos_ent *t;
	size_t cap, n;
	uint32_t gen;            /* bumped per document: O(1) reset */
	int32_t line_adjust;     /* subtracted from every line (Helm # Source:) */
	struct kt_yerr *warns;   /* malloc'd */
	unsigned n_warns, cap_warns;
};

void kt_ypos_put(struct kt_ypos *m, const cJSON *k, uint32_t line, uint32_t col);
void kt_ypos_reset(struct kt_ypos *m);
void kt_ypos_release(struct kt_ypos *m); /* frees the table and warnings */

/* Per-document storage for the tree: the cJSON nodes themselves (marked
 * KT_YNODE in their type, each followed by its position) and the keys and
 * scalar values they reference (cJSON_StringIsConst / cJSON_IsReference),
 * so parsing does not malloc and free every node and string. Reset per
 * document. A document's tree is freed with kt_ytree_free(), never
 * cJSON_Delete() (a tree of KT_YNODE nodes goes with its storage; other
 * trees, e.g. the JSON fallback's, node by node): consumers read it, may
 * detach parts for the document's lifetime only and attach nothing. */
#define KT_YNODE 0x4000 /* beyond cJSON's type bits (0xFF, 256, 512) */
void kt_ytree_free(cJSON *n);
struct sblock {
	struct sblock *next;
	size_t used, size;
	char data[];
};

/* One parsed document handed from a parser thread to the loader: the
 * tree and everything it references (positions, strings, merge leftovers). */
struct ydoc {
	cJSON *root;
	struct kt_ypos pos;
	struct sblock *sb;
	cJSON *dead;
	uint32_t first_line;
	unsigned owner;          /* parallel loader: the thread that parsed it */
	struct ydoc *next;       /* queue / pool link */
};

/* Handoff mode: takes ownership of d, returns a recycled shell (or NULL). */
typedef struct ydoc *(*kt_ytake_fn)(void *ctx, struct ydoc *d);

/* Pending keys of a big mapping, for duplicate detection in O(1). */
struct kt_ykeys_ent {
	const cJSON *map;
	const char *key;
	uint64_t h;
	uint32_t gen;
};

struct frame {
	cJSON *node;
	char *key;               /* pending mapping key (in the string storage) */
	uint32_t key_line, key_col;
	uint32_t n_keys;         /* mapping: keys so far */
	bool has_merge;
};

struct anchor {
	char *name;
	cJSON *node;
};

struct builder {
	kt_ytake_fn take;
	kt_ydoc_fn fn;           /* when take is NULL; called with take_ctx */
	void *take_ctx;
	struct ydoc *spare;
	unsigned delivered;      /* documents handed over */
	struct sblock *sb;
	cJSON *dead;             /* detached values: `<<` sources, replaced duplicates */
	struct frame *st;
	unsigned depth, max_depth;
	cJSON *root;
	uint32_t root_line;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	uint64_t nodes, alias_nodes;
	struct kt_ypos pos;
	struct kt_ykeys_ent *keys; /* keys of mappings with many keys */
	size_t cap_keys, n_keys;
	uint32_t keys_gen;
	struct kt_yerr *err;
};

/* Event entry points (yaml_tree.c); tag and anchor may be NULL. Return 0
 * or -1 with b->err set. */
int kt_yb_scalar(struct builder *b, const char *v, size_t len, bool plain, const char *tag, const char *anchor,
		 const struct kt_ymark *m);
int kt_yb_alias(struct builder *b, const char *anchor, const struct kt_ymark *m);
int kt_yb_start(struct builder *b, bool seq, const char *anchor, const struct kt_ymark *m);
int kt_yb_end(struct builder *b, const struct kt_ymark *m);
/* Document boundaries: clear before a document; finish delivers a
 * non-empty one (callback or handoff) and clears. */
void kt_yb_clear_doc(struct builder *b);
int kt_yb_finish_doc(struct builder *b);
/* Release everything the builder owns (not b itself). */
void kt_yb_release(struct builder *b);
/* Set b->st, b->pos and b->sb up from memory an earlier builder left
 * (b->max_depth set first); kt_yb_done() leaves it for the next one and
 * releases the rest. */
void kt_yb_init(struct builder *b);
void kt_yb_done(struct builder *b);

void kt_ydoc_release(struct ydoc *d); /* the tree only; the shell is reused */
void kt_ydoc_free(struct ydoc *d);

/* Parse buf like kt_yaml_parse, in handoff mode when take is set (fn
 * unused) or through fn. Every error is appended to errs (at most
 * KT_Y_MAX_ERRORS); parsing resumes at the next document after one.
 * *delivered: documents handed over. mode: enum kt_yaml_mode (0 = from
 * KTRACE_YAML). Returns 0, -1 when an error was recorded, or a callback's
 * negative value. bailed: KT_YAML_FAST only. */
struct kt_yerrs {
	struct kt_yerr *v;       /* malloc'd */
	unsigned n, cap;
};
#define KT_Y_MAX_ERRORS 16
int kt_yparse(const char *buf, size_t len, unsigned max_depth, int mode, kt_ydoc_fn fn, kt_ytake_fn take, void *ctx,
	      struct kt_yerrs *errs, unsigned *delivered, bool *bailed);
void kt_yerrs_free(struct kt_yerrs *e);

/* A document holding root alone (a JSON file libyaml rejected; 1:1). */
struct ydoc *kt_ydoc_json(cJSON *root);

#endif
