/*
 * Manifest loader: reads Kubernetes YAML/JSON from files, directories and
 * stdin with the fast scanner (yaml_fast.c) for the simple block-style YAML
 * tools emit and libyaml's event API for every document it bails out of
 * (both feed the same event entry points), builds one cJSON tree per document
 * (YAML 1.1 scalar typing as the Kubernetes decoder does, anchors and
 * aliases with a bounded expansion budget, `<<` merge keys, nesting
 * capped without recursion) and a position map from every cJSON node to
 * the 1-based line/column of its key, then hands each document to
 * kt_obj_ingest(). Owns the parser, the trees (freed per document) and the
 * file buffers; never prints and never judges (rules do that).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "collectors/kube/k8s_obj.h"
#include "collectors/manifest/manifest.h"
#include "collectors/manifest/yaml_fast.h"
#include "ktrace/manifest.h"
#include "ktrace/env.h"

#define KT_Y_MAX_NODES (8u * 1024 * 1024)  /* per document */
#define KT_Y_ALIAS_BASE (64u * 1024)        /* alias-expanded nodes allowed beyond 2x direct */
#define KT_Y_MAX_ANCHORS 16384
#define KT_DIR_MAX_DEPTH 64
#define KT_READ_MAX (1u << 20)            /* smaller files are read, larger ones mapped */

/* ---- position map: open addressing on the node pointer ---------------- */

struct kt_ypos_ent {
	const cJSON *k;
	uint32_t line, col;
	uint32_t gen;            /* entry is live when gen == map gen */
};

struct kt_ypos {
	struct kt_ypos_ent *t;
	size_t cap, n;
	uint32_t gen;            /* bumped per document: O(1) reset */
	int32_t line_adjust;     /* subtracted from every line (Helm # Source:) */
};

#define LIVE(m, i) ((m)->t[i].k && (m)->t[i].gen == (m)->gen)

static size_t phash(const void *p, size_t cap)
{
	uintptr_t x = (uintptr_t)p;
	x ^= x >> 17;
	x *= 0x9E3779B97F4A7C15ull;
	return (size_t)(x >> 20) & (cap - 1);
}

static void ypos_put(struct kt_ypos *m, const cJSON *k, uint32_t line, uint32_t col)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 256;
		struct kt_ypos_ent *nt = calloc(nc, sizeof(*nt));
		if (!nt)
			abort();
		for (size_t i = 0; i < m->cap; i++) {
			if (!LIVE(m, i))
				continue;
			size_t h = phash(m->t[i].k, nc);
			while (nt[h].k)
				h = (h + 1) & (nc - 1);
			nt[h] = m->t[i];
		}
		free(m->t);
		m->t = nt;
		m->cap = nc;
	}
	size_t h = phash(k, m->cap);
	while (LIVE(m, h) && m->t[h].k != k)
		h = (h + 1) & (m->cap - 1);
	if (!LIVE(m, h))
		m->n++;
	m->t[h].k = k;
	m->t[h].line = line;
	m->t[h].col = col;
	m->t[h].gen = m->gen;
}

bool kt_ypos_lookup(void *ctx, const cJSON *node, uint32_t *line, uint32_t *col)
{
	struct kt_ypos *m = ctx;
	if (!m || !m->cap || !node)
		return false;
	size_t h = phash(node, m->cap);
	while (LIVE(m, h)) {
		if (m->t[h].k == node) {
			int64_t l = (int64_t)m->t[h].line - m->line_adjust;
			*line = l >= 1 ? (uint32_t)l : 1;
			*col = m->t[h].col;
			return true;
		}
		h = (h + 1) & (m->cap - 1);
	}
	return false;
}

static void ypos_reset(struct kt_ypos *m)
{
	if (m->n && ++m->gen == 0) {
		memset(m->t, 0, m->cap * sizeof(*m->t));
		m->gen = 1;
	}
	m->n = 0;
	m->line_adjust = 0;
}

/* ---- scalar typing (YAML 1.1 as go-yaml v2 / sigs.k8s.io/yaml) -------- */

static bool is_int(const char *s, size_t n, double *out)
{
	size_t i = 0;
	bool neg = false;
	if (n && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i >= n)
		return false;
	double v = 0;
	int base = 10;
	if (n - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
		base = 16;
		i += 2;
	} else if (n - i > 1 && s[i] == '0') {
		base = 8;
		i++;
	}
	size_t digits = 0;
	for (; i < n; i++) {
		int d;
		char ch = s[i];
		if (ch == '_')
			continue;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else if (base == 16 && ch >= 'A' && ch <= 'F')
			d = ch - 'A' + 10;
		else
			return false;
		if (d >= base)
			return false;
		v = v * base + d;
		digits++;
	}
	if (!digits && base != 8)
		return false;
	*out = neg ? -v : v;
	return true;
}

static bool is_float(const char *s, size_t n, double *out)
{
	if (n == 0 || n > 64)
		return false;
	size_t i = 0;
	if (s[0] == '-' || s[0] == '+')
		i++;
	bool digit = false, dot = false;
	for (; i < n && (isdigit((unsigned char)s[i]) || s[i] == '.' || s[i] == '_'); i++) {
		if (s[i] == '.') {
			if (dot)
				return false;
			dot = true;
		} else if (s[i] != '_')
			digit = true;
	}
	if (!digit)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		size_t st = i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		if (i == st)
			return false;
	}
	if (i != n)
		return false;
	char buf[72];
	size_t o = 0;
	for (size_t j = 0; j < n; j++)
		if (s[j] != '_')
			buf[o++] = s[j];
	buf[o] = 0;
	/* strtod is locale-dependent for the radix; manifests use '.', and
	 * ktrace never calls setlocale(LC_NUMERIC). */
	*out = strtod(buf, NULL);
	return true;
}

static bool word_in(const char *s, size_t n, const char *const *list)
{
	for (; *list; list++)
		if ((*list)[0] == s[0] && !strncmp(*list, s, n) && (*list)[n] == 0)
			return true;
	return false;
}

/* Could this plain scalar be anything but a string? (fast reject) */
static bool maybe_typed(const char *s, size_t n)
{
	if (n == 0 || n > 64)
		return n == 0;
	switch (s[0]) {
	case '~': case 'n': case 'N': case 't': case 'T': case 'f': case 'F': case 'y': case 'Y': case 'o': case 'O':
		return n <= 5;
	case '-': case '+': case '.':
		return true;
	default:
		return s[0] >= '0' && s[0] <= '9';
	}
}

/* Numbers beyond what any Kubernetes integer field holds are clamped, so
 * consumers may convert to int64 without undefined behaviour. */
static cJSON *number(double d)
{
	if (!(d < 9.2e18))
		d = 9.2e18;
	else if (!(d > -9.2e18))
		d = -9.2e18;
	return cJSON_CreateNumber(d);
}

static cJSON *typed_scalar(const char *s, size_t n, const char *tag, bool plain)
{
	static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON",
					    "y", "Y", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF",
					     "n", "N", NULL};
	double d;
	if (tag) {
		if (!strcmp(tag, YAML_STR_TAG))
			return NULL;
		if (!strcmp(tag, YAML_NULL_TAG))
			return cJSON_CreateNull();
		if (!strcmp(tag, YAML_BOOL_TAG))
			return cJSON_CreateBool(word_in(s, n, trues));
		if ((!strcmp(tag, YAML_INT_TAG) || !strcmp(tag, YAML_FLOAT_TAG)) &&
		    (is_int(s, n, &d) || is_float(s, n, &d)))
			return number(d);
		if (!plain)
			return NULL;
	}
	if (!plain || !maybe_typed(s, n))
		return NULL; /* a string: the caller makes it */
	if (n == 0 || word_in(s, n, nulls))
		return cJSON_CreateNull();
	if (word_in(s, n, trues))
		return cJSON_CreateTrue();
	if (word_in(s, n, falses))
		return cJSON_CreateFalse();
	if ((isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.') &&
	    (is_int(s, n, &d) || is_float(s, n, &d)))
		return number(d);
	return NULL;
}

/* ---- the tree builder --------------------------------------------------- */

struct frame {
	cJSON *node;
	char *key;               /* pending mapping key (malloc'd) */
	uint32_t key_line, key_col;
	bool has_merge;
};

struct anchor {
	char *name;
	cJSON *node;
};

/* Per-document string storage for keys and scalar values: cJSON nodes
 * reference it (cJSON_StringIsConst / cJSON_IsReference), so parsing does
 * not malloc and free every string twice. Reset per document. */
struct sblock {
	struct sblock *next;
	size_t used, size;
	char data[];
};

/* One parsed document handed from the parser thread to the loader: the
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

struct builder {
	kt_ytake_fn take;
	kt_ydoc_fn fn;           /* when take is NULL; called with take_ctx */
	void *take_ctx;
	struct ydoc *spare;
	unsigned delivered;      /* documents handed over */
	struct sblock *sb;
	cJSON *dead;             /* detached `<<` values: anchors may point into them */
	struct frame *st;
	unsigned depth, max_depth;
	cJSON *root;
	uint32_t root_line;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	uint64_t nodes, alias_nodes;
	struct kt_ypos pos;
	struct kt_yerr *err;
};

static char *sdup(struct builder *b, const char *s, size_t n)
{
	struct sblock *k = b->sb;
	if (!k || k->used + n + 1 > k->size) {
		/* blocks grow with the document: most documents need a few KiB */
		size_t want = k ? (k->size + sizeof(*k)) * 2 : 4096;
		if (want > 65536)
			want = 65536;
		size_t sz = n + 1 > want - sizeof(*k) ? n + 1 + sizeof(*k) : want;
		k = malloc(sz);
		if (!k)
			abort();
		k->size = sz - sizeof(*k);
		k->used = 0;
		k->next = b->sb;
		b->sb = k;
	}
	char *p = k->data + k->used;
	memcpy(p, s, n);
	p[n] = 0;
	k->used += n + 1;
	return p;
}

static void sreset(struct builder *b, bool all)
{
	while (b->sb && (all || b->sb->next)) {
		struct sblock *n = b->sb->next;
		free(b->sb);
		b->sb = n;
	}
	if (b->sb)
		b->sb->used = 0;
}

static int fail_at(struct builder *b, const struct kt_ymark *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct builder *b, const struct kt_ymark *m, const char *fmt, ...)
{
	va_list ap;
	b->err->line = (uint32_t)m->line + 1;
	b->err->col = (uint32_t)m->col + 1;
	va_start(ap, fmt);
	vsnprintf(b->err->msg, sizeof(b->err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

static int add_anchor(struct builder *b, const char *name, cJSON *node, const struct kt_ymark *m)
{
	if (!name)
		return 0;
	if (b->n_anchors >= KT_Y_MAX_ANCHORS)
		return fail_at(b, m, "too many anchors in one document");
	if (b->n_anchors == b->cap_anchors) {
		size_t nc = b->cap_anchors ? b->cap_anchors * 2 : 16;
		struct anchor *na = realloc(b->anchors, nc * sizeof(*na));
		if (!na)
			abort();
		b->anchors = na;
		b->cap_anchors = nc;
	}
	b->anchors[b->n_anchors].name = strdup(name);
	b->anchors[b->n_anchors].node = node;
	b->n_anchors++;
	return 0;
}

static cJSON *find_anchor(struct builder *b, const char *name)
{
	for (size_t i = b->n_anchors; i-- > 0;)
		if (!strcmp(b->anchors[i].name, name))
			return b->anchors[i].node;
	return NULL;
}

static void clear_doc(struct builder *b)
{
	b->depth = 0;
	for (size_t i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	b->n_anchors = 0;
	cJSON_Delete(b->root);
	b->root = NULL;
	cJSON_Delete(b->dead);
	b->dead = NULL;
	b->nodes = b->alias_nodes = 0;
	ypos_reset(&b->pos);
	sreset(b, false);
}

/* Copy an anchored subtree without recursion (explicit stack). Positions
 * of copies are the anchor's (as libyaml reports aliases). */
static cJSON *dup_tree(struct builder *b, const cJSON *src, unsigned base_depth, const struct kt_ymark *m)
{
	struct dframe {
		const cJSON *s;
		cJSON *d;
		const cJSON *next_child;
	};
	unsigned cap = b->max_depth + 2;
	struct dframe *st = malloc(cap * sizeof(*st));
	if (!st)
		abort();
	uint32_t l, c;
	cJSON *root = cJSON_Duplicate(src, false);
	if (!root)
		abort();
	if (kt_ypos_lookup(&b->pos, src, &l, &c))
		ypos_put(&b->pos, root, l + (uint32_t)b->pos.line_adjust, c);
	unsigned sp = 0;
	st[sp++] = (struct dframe){src, root, src->child};
	uint64_t budget = KT_Y_ALIAS_BASE + 2 * b->nodes;
	while (sp) {
		struct dframe *f = &st[sp - 1];
		if (!f->next_child) {
			sp--;
			continue;
		}
		const cJSON *ch = f->next_child;
		f->next_child = ch->next;
		if (++b->alias_nodes > budget) {
			cJSON_Delete(root);
			free(st);
			fail_at(b, m, "alias expansion limit exceeded (billion-laughs style document?)");
			return NULL;
		}
		cJSON *nc = cJSON_Duplicate(ch, false);
		if (!nc)
			abort();
		if (cJSON_IsArray(f->d))
			cJSON_AddItemToArray(f->d, nc);
		else /* keys live in the document's string storage or its tree */
			cJSON_AddItemToObjectCS(f->d, ch->string ? ch->string : "", nc);
		if (kt_ypos_lookup(&b->pos, ch, &l, &c))
			ypos_put(&b->pos, nc, l + (uint32_t)b->pos.line_adjust, c);
		if (ch->child) {
			if (base_depth + sp >= b->max_depth) {
				cJSON_Delete(root);
				free(st);
				fail_at(b, m, "alias expands deeper than the nesting limit");
				return NULL;
			}
			st[sp++] = (struct dframe){ch, nc, ch->child};
		}
	}
	free(st);
	return root;
}

/* Attach a finished node to the current container (or make it the root). */
static int attach(struct builder *b, cJSON *node, const struct kt_ymark *m)
{
	if (++b->nodes > KT_Y_MAX_NODES) {
		cJSON_Delete(node);
		return fail_at(b, m, "document too large (more than 8M nodes)");
	}
	if (b->depth == 0) {
		if (b->root) { /* cannot happen in a well-formed event stream */
			cJSON_Delete(node);
			return fail_at(b, m, "unexpected second root node");
		}
		b->root = node;
		b->root_line = (uint32_t)m->line + 1;
		ypos_put(&b->pos, node, (uint32_t)m->line + 1, (uint32_t)m->col + 1);
		return 0;
	}
	struct frame *f = &b->st[b->depth - 1];
	if (cJSON_IsArray(f->node)) {
		cJSON_AddItemToArray(f->node, node);
		ypos_put(&b->pos, node, (uint32_t)m->line + 1, (uint32_t)m->col + 1);
		return 0;
	}
	/* mapping value */
	char *key = f->key;
	f->key = NULL;
	if (key[0] == '<' && !strcmp(key, "<<") && (cJSON_IsObject(node) || cJSON_IsArray(node)))
		f->has_merge = true;
	cJSON_AddItemToObjectCS(f->node, key, node);
	ypos_put(&b->pos, node, f->key_line, f->key_col);
	return 0;
}

/* Apply `<<` merge keys of a finished mapping: merged keys never override
 * keys written in the mapping itself; earlier sources win over later. */
/* Copy positions from src to its duplicate dst (same shape); depth is
 * bounded by the nesting cap. */
static void copy_pos(struct kt_ypos *pos, const cJSON *src, const cJSON *dst, unsigned depth)
{
	uint32_t l, c;
	if (depth > 256)
		return;
	if (kt_ypos_lookup(pos, src, &l, &c))
		ypos_put(pos, dst, l + (uint32_t)pos->line_adjust, c);
	for (src = src->child, dst = dst->child; src && dst; src = src->next, dst = dst->next)
		copy_pos(pos, src, dst, depth + 1);
}

static void apply_merge(struct builder *b, cJSON *map)
{
	cJSON *m = map->child;
	while (m) {
		cJSON *next = m->next;
		if (m->string && !strcmp(m->string, "<<")) {
			cJSON_DetachItemViaPointer(map, m);
			cJSON *src = cJSON_IsArray(m) ? m->child : m;
			for (; src; src = cJSON_IsArray(m) ? src->next : NULL) {
				if (!cJSON_IsObject(src))
					continue;
				for (cJSON *kv = src->child; kv; kv = kv->next)
					if (kv->string && !cJSON_GetObjectItemCaseSensitive(map, kv->string)) {
						cJSON *cp = cJSON_Duplicate(kv, true);
						if (!cp)
							abort();
						cJSON_AddItemToObject(map, kv->string, cp);
						copy_pos(&b->pos, kv, cp, 0);
					}
			}
			/* keep it until the document ends: an anchor may live in it */
			if (!b->dead)
				b->dead = cJSON_CreateArray();
			if (!b->dead)
				abort();
			cJSON_AddItemToArray(b->dead, m);
		}
		m = next;
	}
}

static int push(struct builder *b, cJSON *node, const struct kt_ymark *m)
{
	if (b->depth >= b->max_depth) {
		cJSON_Delete(node);
		return fail_at(b, m, "nesting deeper than %u levels", b->max_depth);
	}
	if (attach(b, node, m) < 0)
		return -1;
	b->st[b->depth++] = (struct frame){.node = node};
	return 0;
}

/* A mapping key: scalars only (Kubernetes objects never use complex keys). */
static int set_key(struct builder *b, const char *k, size_t n, const struct kt_ymark *m)
{
	struct frame *f = &b->st[b->depth - 1];
	f->key = sdup(b, k, n);
	f->key_line = (uint32_t)m->line + 1;
	f->key_col = (uint32_t)m->col + 1;
	return 0;
}

static bool want_key(const struct builder *b)
{
	return b->depth && cJSON_IsObject(b->st[b->depth - 1].node) && !b->st[b->depth - 1].key;
}

/* The builder's entry points: one per event kind, with plain values and
 * our own marks, called by the libyaml loop and by the fast scanner
 * (yaml_fast.c) alike. tag and anchor may be NULL. */
static int on_scalar(struct builder *b, const char *v, size_t len, bool plain, const char *tag, const char *anchor,
		     const struct kt_ymark *m)
{
	if (want_key(b)) /* anchors on keys are not kept */
		return set_key(b, v, len, m);
	cJSON *n = typed_scalar(v, len, tag, plain);
	if (!n)
		n = cJSON_CreateStringReference(sdup(b, v, len));
	if (!n)
		abort();
	if (attach(b, n, m) < 0)
		return -1;
	return add_anchor(b, anchor, n, m);
}

static int on_alias(struct builder *b, const char *anchor, const struct kt_ymark *m)
{
	cJSON *src = find_anchor(b, anchor);
	if (!src)
		return fail_at(b, m, "unknown alias *%s", anchor);
	if (want_key(b)) {
		if (!cJSON_IsString(src))
			return fail_at(b, m, "alias used as a mapping key is not a string");
		return set_key(b, src->valuestring, strlen(src->valuestring), m);
	}
	cJSON *n = dup_tree(b, src, b->depth, m);
	if (!n)
		return -1;
	return attach(b, n, m);
}

static int on_start(struct builder *b, bool seq, const char *anchor, const struct kt_ymark *m)
{
	if (want_key(b))
		return fail_at(b, m, "complex mapping keys are not supported");
	cJSON *n = seq ? cJSON_CreateArray() : cJSON_CreateObject();
	if (!n)
		abort();
	if (push(b, n, m) < 0)
		return -1;
	return add_anchor(b, anchor, n, m);
}

static int on_end(struct builder *b, const struct kt_ymark *m)
{
	if (!b->depth)
		return fail_at(b, m, "unbalanced collection end");
	b->depth--;
	b->st[b->depth].key = NULL;
	if (b->st[b->depth].has_merge)
		apply_merge(b, b->st[b->depth].node);
	return 0;
}

/* One libyaml event; line_off is added to its line (a stream parsed from
 * the middle of a buffer). */
static int on_event(struct builder *b, const yaml_event_t *e, uint32_t line_off)
{
	const struct kt_ymark m = {(uint32_t)e->start_mark.line + line_off, (uint32_t)e->start_mark.column};
	switch (e->type) {
	case YAML_SCALAR_EVENT:
		return on_scalar(b, (const char *)e->data.scalar.value, e->data.scalar.length,
				 e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, (const char *)e->data.scalar.tag,
				 (const char *)e->data.scalar.anchor, &m);
	case YAML_ALIAS_EVENT:
		return on_alias(b, (const char *)e->data.alias.anchor, &m);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(b, true, (const char *)e->data.sequence_start.anchor, &m);
	case YAML_MAPPING_START_EVENT:
		return on_start(b, false, (const char *)e->data.mapping_start.anchor, &m);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return on_end(b, &m);
	default:
		return 0;
	}
}

static void ydoc_release(struct ydoc *d)
{
	cJSON_Delete(d->root);
	cJSON_Delete(d->dead);
	d->root = d->dead = NULL;
}

static void ydoc_free(struct ydoc *d)
{
	if (!d)
		return;
	ydoc_release(d);
	free(d->pos.t);
	while (d->sb) {
		struct sblock *n = d->sb->next;
		free(d->sb);
		d->sb = n;
	}
	free(d);
}

/* Move the finished document out of the builder (handoff mode). */
static void handoff(struct builder *b)
{
	struct ydoc *d = b->spare ? b->spare : calloc(1, sizeof(*d));
	if (!d)
		abort();
	b->spare = NULL;
	struct kt_ypos oldpos = d->pos;
	struct sblock *oldsb = d->sb;
	d->root = b->root;
	d->pos = b->pos;
	d->sb = b->sb;
	d->dead = b->dead;
	d->first_line = b->root_line;
	d->next = NULL;
	b->root = NULL;
	b->dead = NULL;
	b->pos = oldpos;
	b->sb = oldsb;
	b->delivered++;
	b->spare = b->take(b->take_ctx, d);
}

/* A document ended: hand it over when it is not empty, then reset. */
static int finish_doc(struct builder *b)
{
	int rc = 0;
	if (b->root && !cJSON_IsNull(b->root)) {
		if (b->take) {
			handoff(b);
		} else {
			b->delivered++;
			rc = b->fn(b->take_ctx, b->root, &b->pos, b->root_line);
		}
	}
	clear_doc(b);
	return rc;
}

/* libyaml over buf[off..len), its lines offset by line_off (off is the
 * start of a line). one_doc: after the first document, stop at the next
 * explicit "---" at the start of a line and return 1 with *resume /
 * *resume_line set to it (the fast scanner takes over there). Returns 0 at
 * the end of the stream, -1 on an error (b->err set) or the callback's
 * negative value. */
static int yaml_run(struct builder *b, const char *buf, size_t len, size_t off, uint32_t line_off, bool one_doc,
		    size_t *resume, uint32_t *resume_line)
{
	yaml_parser_t p;
	yaml_event_t e;
	struct kt_yerr *err = b->err;
	bool ended = false;
	int rc = 0;
	if (!yaml_parser_initialize(&p))
		abort();
	yaml_parser_set_input_string(&p, (const unsigned char *)buf + off, len - off);
	for (;;) {
		if (!yaml_parser_parse(&p, &e)) {
			err->line = (uint32_t)p.problem_mark.line + line_off + 1;
			err->col = (uint32_t)p.problem_mark.column + 1;
			if (p.context)
				snprintf(err->msg, sizeof(err->msg), "%s %s", p.problem ? p.problem : "syntax error",
					 p.context);
			else
				snprintf(err->msg, sizeof(err->msg), "%s", p.problem ? p.problem : "syntax error");
			if (p.error == YAML_MEMORY_ERROR)
				snprintf(err->msg, sizeof(err->msg), "out of memory while parsing");
			rc = -1;
			break;
		}
		yaml_event_type_t t = e.type;
		if (t == YAML_DOCUMENT_START_EVENT) {
			size_t at = e.start_mark.index; /* a byte offset: the buffer is ASCII here */
			if (ended && !e.data.document_start.implicit && e.start_mark.column == 0 && at > 0 &&
			    at + 3 <= len - off && !memcmp(buf + off + at, "---", 3)) {
				*resume = off + at;
				*resume_line = (uint32_t)e.start_mark.line + line_off;
				yaml_event_delete(&e);
				rc = 1;
				break;
			}
			clear_doc(b);
		} else if (t == YAML_DOCUMENT_END_EVENT) {
			rc = finish_doc(b);
			if (rc < 0) {
				yaml_event_delete(&e);
				break;
			}
			ended = one_doc;
		} else if (on_event(b, &e, line_off) < 0) {
			yaml_event_delete(&e);
			rc = -1;
			break;
		}
		yaml_event_delete(&e);
		if (t == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return rc;
}

/* ---- the fast scanner's sink: builder errors make it bail out, so that
 * libyaml reports them (or the syntax error it meets first) exactly as a
 * libyaml-only parse would. */

static int fo_doc_start(void *ctx)
{
	clear_doc(ctx);
	return 0;
}

static int fo_doc_end(void *ctx)
{
	int rc = finish_doc(ctx);
	return rc < 0 ? rc : 0;
}

static int fo_scalar(void *ctx, const char *v, size_t n, bool plain, const struct kt_ymark *m)
{
	return on_scalar(ctx, v, n, plain, NULL, NULL, m) < 0 ? 1 : 0;
}

static int fo_start(void *ctx, bool seq, const struct kt_ymark *m)
{
	return on_start(ctx, seq, NULL, m) < 0 ? 1 : 0;
}

static int fo_end(void *ctx)
{
	static const struct kt_ymark none;
	return on_end(ctx, &none) < 0 ? 1 : 0;
}

static const struct kt_yfast_ops fast_ops = {fo_doc_start, fo_doc_end, fo_scalar, fo_start, fo_end};

/* KTRACE_YAML=libyaml forces libyaml (debugging, A/B runs). */
static int yaml_mode(void)
{
	const char *v = kt_env_get(KT_ENV_YAML);
	return v && !strcmp(v, "libyaml") ? KT_YAML_LIBYAML : KT_YAML_DEFAULT;
}

/* The fast scanner document by document; a document it does not handle
 * goes to libyaml, which hands back at the next explicit "---". */
static int parse_run(struct builder *b, const char *buf, size_t len, int mode, bool *bailed)
{
	size_t off = 0;
	uint32_t line = 0;
	if (mode == KT_YAML_LIBYAML || !kt_yfast_eligible(buf, len)) {
		if (mode == KT_YAML_FAST) {
			*bailed = true;
			return 0;
		}
		return yaml_run(b, buf, len, 0, 0, false, NULL, NULL);
	}
	for (;;) {
		size_t boff;
		uint32_t bline;
		int r = kt_yfast_parse(buf, len, off, line, b->max_depth + 2, &fast_ops, b, &boff, &bline);
		if (r <= 0)
			return r;
		clear_doc(b);
		memset(b->err, 0, sizeof(*b->err));
		if (mode == KT_YAML_FAST) {
			*bailed = true;
			return 0;
		}
		r = yaml_run(b, buf, len, boff, bline, true, &off, &line);
		if (r != 1)
			return r;
	}
}

static int parse_impl(const char *buf, size_t len, unsigned max_depth, int mode, kt_ydoc_fn fn, kt_ytake_fn take,
		      void *ctx, struct kt_yerr *err, unsigned *delivered, bool *bailed)
{
	struct builder b = {.max_depth = max_depth ? max_depth : 128, .err = err, .take = take, .take_ctx = ctx,
			    .fn = fn};
	bool bail = false;
	memset(err, 0, sizeof(*err));
	b.st = calloc(b.max_depth + 1, sizeof(*b.st));
	if (!b.st)
		abort();
	int rc = parse_run(&b, buf, len, mode ? mode : yaml_mode(), &bail);
	clear_doc(&b);
	sreset(&b, true);
	free(b.anchors);
	free(b.pos.t);
	free(b.st);
	ydoc_free(b.spare);
	if (delivered)
		*delivered = b.delivered;
	if (bailed)
		*bailed = bail;
	return rc;
}

int kt_yaml_parse(const char *buf, size_t len, unsigned max_depth, kt_ydoc_fn fn, void *ctx, struct kt_yerr *err)
{
	return parse_impl(buf, len, max_depth, 0, fn, NULL, ctx, err, NULL, NULL);
}

/* ---- kt_yaml_dump: canonical text of what a parse delivers -------------- */

static void dump_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void dump_node(FILE *f, const cJSON *n, struct kt_ypos *pos, unsigned depth)
{
	uint32_t l = 0, c = 0;
	fprintf(f, "%*s", (int)(2 * depth), "");
	if (n->string) {
		dump_str(f, n->string);
		fputs(": ", f);
	}
	if (!kt_ypos_lookup(pos, n, &l, &c))
		l = c = 0;
	if (cJSON_IsObject(n) || cJSON_IsArray(n)) {
		fprintf(f, "%s @%u:%u\n", cJSON_IsObject(n) ? "map" : "seq", l, c);
		for (const cJSON *ch = n->child; ch; ch = ch->next)
			dump_node(f, ch, pos, depth + 1);
		return;
	}
	if (cJSON_IsString(n))
		dump_str(f, n->valuestring);
	else if (cJSON_IsNumber(n))
		fprintf(f, "%.17g", n->valuedouble);
	else if (cJSON_IsBool(n))
		fputs(cJSON_IsTrue(n) ? "true" : "false", f);
	else
		fputs("null", f);
	fprintf(f, " @%u:%u\n", l, c);
}

static int dump_doc(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line)
{
	FILE *f = ctx;
	fprintf(f, "--- document, line %u\n", first_line);
	dump_node(f, root, pos, 0);
	return 0;
}

int kt_yaml_dump(const char *buf, size_t len, unsigned max_depth, enum kt_yaml_mode mode, char **out,
		 size_t *outlen)
{
	struct kt_yerr err;
	bool bailed = false;
	FILE *f = open_memstream(out, outlen);
	if (!f)
		abort();
	int rc = parse_impl(buf, len, max_depth, mode, dump_doc, NULL, f, &err, NULL, &bailed);
	if (bailed)
		fputs("bailed\n", f);
	else if (rc < 0)
		fprintf(f, "error %d %u:%u: %s\n", rc, err.line, err.col, err.msg);
	fclose(f);
	return bailed ? 1 : 0;
}

/* ---- loading into the snapshot ----------------------------------------- */

struct src_mark {
	uint32_t line;           /* 1-based line of the "# Source:" comment */
	const char *name;        /* arena */
};

struct load {
	struct kt_snapshot *snap;
	struct kt_manifest_result *r;
	const struct kt_manifest_opts *o;
	const char *name;        /* as given */
	uint32_t file;           /* snap->files index */
	struct src_mark *srcs;   /* Helm sources (stdin) */
	size_t n_srcs;
	uint32_t prev_doc_line;
};

static void add_error(struct kt_manifest_result *r, struct kt_snapshot *snap, const char *file, uint32_t line,
		      uint32_t col, const char *msg)
{
	if (r->n_errors == r->cap_errors) {
		uint32_t nc = r->cap_errors ? r->cap_errors * 2 : 8;
		struct kt_manifest_error *ne = realloc(r->errors, nc * sizeof(*ne));
		if (!ne)
			abort();
		r->errors = ne;
		r->cap_errors = nc;
	}
	struct kt_manifest_error *e = &r->errors[r->n_errors++];
	e->file = kt_intern(snap->arena, file);
	e->line = line;
	e->col = col;
	e->msg = kt_arena_strdup(snap->arena, msg);
}

static uint32_t add_file(struct kt_snapshot *snap, const char *name)
{
	const char *in = kt_intern(snap->arena, name);
	for (uint32_t i = snap->n_files; i-- > 0;)
		if (snap->files[i] == in)
			return i;
	const char **slot = KT_SNAP_PUSH(snap, files);
	*slot = in;
	return snap->n_files - 1;
}

static int on_doc(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line)
{
	struct load *L = ctx;
	L->r->documents++;
	uint32_t file = L->file;
	/* Helm: the last "# Source:" between the previous document and this one */
	for (size_t i = L->n_srcs; i-- > 0;) {
		if (L->srcs[i].line < first_line && L->srcs[i].line >= L->prev_doc_line) {
			file = add_file(L->snap, L->srcs[i].name);
			pos->line_adjust = (int32_t)L->srcs[i].line;
			break;
		}
	}
	L->prev_doc_line = first_line;
	if (!cJSON_IsObject(root)) {
		kt_log(1, "%s:%u: skipping a document that is not a mapping", L->name, first_line);
		return 0;
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	if (!cJSON_IsString(kind) || !cJSON_GetObjectItemCaseSensitive(root, "apiVersion")) {
		kt_log(1, "%s:%u: skipping a document without kind/apiVersion", L->name, first_line);
		return 0;
	}
	L->r->objects++;
	struct kt_posmap pm = {.lookup = kt_ypos_lookup, .ctx = pos, .file = file};
	struct kt_diag d = {0};
	if (kt_obj_ingest(L->snap, root, NULL, &pm, &d) < 0) {
		uint32_t l = 0, c = 0;
		kt_ypos_lookup(pos, root, &l, &c);
		add_error(L->r, L->snap, L->snap->files[file], l, c, d.msg[0] ? d.msg : "invalid object");
	}
	return 0;
}

/* Helm's `# Source: chart/templates/x.yaml` comments (stdin only). */
static void scan_sources(struct load *L, const char *buf, size_t len)
{
	static const char tag[] = "# Source: ";
	size_t cap = 0;
	uint32_t line = 1;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) > sizeof(tag) - 1 && !memcmp(p, tag, sizeof(tag) - 1)) {
			if (L->n_srcs == cap) {
				cap = cap ? cap * 2 : 16;
				struct src_mark *ns = realloc(L->srcs, cap * sizeof(*ns));
				if (!ns)
					abort();
				L->srcs = ns;
			}
			const char *s = p + sizeof(tag) - 1;
			size_t n = (size_t)(le - s);
			while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
				n--;
			L->srcs[L->n_srcs].line = line;
			L->srcs[L->n_srcs].name = kt_intern_n(L->snap->arena, s, n);
			L->n_srcs++;
		}
		line++;
		p = nl ? nl + 1 : end;
	}
}

static bool looks_json(const char *name, const char *buf, size_t len)
{
	size_t n = strlen(name);
	if (n > 5 && !strcmp(name + n - 5, ".json"))
		return true;
	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)buf[i]))
			continue;
		return buf[i] == '{' || buf[i] == '[';
	}
	return false;
}

/* A document holding root, a JSON file libyaml rejected (positions: 1:1). */
static struct ydoc *json_ydoc(cJSON *root)
{
	struct ydoc *d = calloc(1, sizeof(*d));
	if (!d)
		abort();
	d->root = root;
	d->first_line = 1;
	ypos_put(&d->pos, root, 1, 1);
	return d;
}

static int load_buf(struct kt_snapshot *snap, const char *name, const char *buf, size_t len,
		    const struct kt_manifest_opts *o, struct kt_manifest_result *r, bool is_stdin)
{
	struct load L = {.snap = snap, .r = r, .o = o, .name = name};
	L.file = add_file(snap, name);
	r->files++;
	r->bytes += len;
	if (is_stdin && o->helm_source)
		scan_sources(&L, buf, len);
	struct kt_yerr err;
	uint32_t docs_before = r->documents;
	int rc = kt_yaml_parse(buf, len, o->max_depth, on_doc, &L, &err);
	free(L.srcs);
	if (rc == 0)
		return 0;
	/* JSON that libyaml (YAML 1.1) rejects, e.g. odd escapes: retry with
	 * cJSON when nothing was delivered yet; positions fall back to 1:1. */
	if (r->documents == docs_before && looks_json(name, buf, len)) {
		cJSON *root = cJSON_ParseWithLength(buf, len);
		if (root) {
			struct kt_ypos pos = {0};
			ypos_put(&pos, root, 1, 1);
			struct load J = {.snap = snap, .r = r, .o = o, .name = name, .file = L.file};
			on_doc(&J, root, &pos, 1);
			free(pos.t);
			cJSON_Delete(root);
			return 0;
		}
	}
	add_error(r, snap, name, err.line, err.col, err.msg);
	return -KT_EXIT_INPUT;
}

static const struct kt_manifest_opts *opts_or_default(const struct kt_manifest_opts *o,
						      struct kt_manifest_opts *tmp)
{
	if (o) {
		*tmp = *o;
	} else {
		memset(tmp, 0, sizeof(*tmp));
		tmp->helm_source = true;
	}
	if (!tmp->max_file_bytes)
		tmp->max_file_bytes = 1ull << 30;
	if (!tmp->max_depth)
		tmp->max_depth = 128;
	return tmp;
}

int kt_manifest_load_mem(struct kt_snapshot *snap, const char *name, const char *buf, size_t len,
			 const struct kt_manifest_opts *o, struct kt_manifest_result *r)
{
	struct kt_manifest_opts tmp;
	o = opts_or_default(o, &tmp);
	return load_buf(snap, name, buf, len, o, r, false);
}

static int load_stdin(struct kt_snapshot *snap, const struct kt_manifest_opts *o, struct kt_manifest_result *r)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		abort();
	for (;;) {
		if (len == cap) {
			if (cap >= o->max_file_bytes) {
				free(buf);
				add_error(r, snap, "-", 0, 0, "standard input is larger than the input size limit");
				return -KT_EXIT_INPUT;
			}
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				abort();
			buf = nb;
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			char m[160];
			snprintf(m, sizeof(m), "cannot read standard input: %s", strerror(errno));
			free(buf);
			add_error(r, snap, "-", 0, 0, m);
			return -KT_EXIT_INPUT;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	int rc = load_buf(snap, "-", buf, len, o, r, true);
	free(buf);
	return rc;
}

/* ---- files and directories ----------------------------------------------
 * A walker visits every manifest file of a path (directories recursively,
 * in name order) and hands each mapped file, or each error, to a sink: the
 * sequential loader below, or the parser thread of the pipeline. */

struct sink {
	void (*file)(struct sink *k, const char *path, const char *buf, size_t len);
	void (*error)(struct sink *k, const char *path, const char *msg);
	void (*path)(struct sink *k, const char *path); /* set: only collect file names */
	const struct kt_manifest_opts *o;
	int rc;
	/* directories already walked (symlink loops, the same tree twice) */
	struct dirid {
		dev_t dev;
		ino_t ino;
	} *seen;
	size_t n_seen, cap_seen;
};

static bool seen_dir(struct sink *k, const struct stat *st)
{
	for (size_t i = 0; i < k->n_seen; i++)
		if (k->seen[i].dev == st->st_dev && k->seen[i].ino == st->st_ino)
			return true;
	if (k->n_seen == k->cap_seen) {
		k->cap_seen = k->cap_seen ? k->cap_seen * 2 : 16;
		struct dirid *n = realloc(k->seen, k->cap_seen * sizeof(*n));
		if (!n)
			abort();
		k->seen = n;
	}
	k->seen[k->n_seen++] = (struct dirid){st->st_dev, st->st_ino};
	return false;
}

static void sink_error(struct sink *k, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sink_error(struct sink *k, const char *path, const char *fmt, ...)
{
	char m[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	k->error(k, path, m);
	k->rc = -KT_EXIT_INPUT;
}

/* Map (or, when small, read) a manifest file: 0 with buf and len set (buf
 * NULL for an empty file; release with unmap_file), or -1 with msg set. */
static int map_file(const struct kt_manifest_opts *o, const char *path, const char **buf, size_t *len, char *msg,
		    size_t msz)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msz, "cannot open: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(msg, msz, "%s", "not a regular file");
		return -1;
	}
	if ((uint64_t)st.st_size > o->max_file_bytes) {
		close(fd);
		snprintf(msg, msz, "file is larger than the %llu MiB input limit",
			 (unsigned long long)(o->max_file_bytes >> 20));
		return -1;
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	size_t n = (size_t)st.st_size;
	if (n <= KT_READ_MAX) {
		/* a copy into the heap is cheaper than mapping a small file
		 * (no page faults, no munmap) */
		char *b = malloc(n);
		size_t got = 0;
		if (!b)
			abort();
		while (got < n) {
			ssize_t r = read(fd, b + got, n - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				snprintf(msg, msz, "cannot read: %s", strerror(errno));
				close(fd);
				free(b);
				return -1;
			}
			if (r == 0)
				break;
			got += (size_t)r;
		}
		close(fd);
		if (!got)
			free(b);
		else
			*buf = b;
		*len = got;
		return 0;
	}
	void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(msg, msz, "cannot map: %s", strerror(errno));
		return -1;
	}
	madvise(map, n, MADV_SEQUENTIAL);
	*buf = map;
	*len = n;
	return 0;
}

static void unmap_file(const char *buf, size_t len)
{
	if (buf && len <= KT_READ_MAX)
		free((void *)buf);
	else if (buf)
		munmap((void *)buf, len);
}

static void walk_file(struct sink *k, const char *path)
{
	if (k->path) { /* collecting: map later */
		k->path(k, path);
		return;
	}
	const char *buf;
	size_t len;
	char msg[256];
	if (map_file(k->o, path, &buf, &len, msg, sizeof(msg)) < 0) {
		sink_error(k, path, "%s", msg);
		return;
	}
	k->file(k, path, buf, len);
	unmap_file(buf, len);
}

static bool manifest_name(const char *n)
{
	size_t l = strlen(n);
	return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")) ||
	       (l > 5 && !strcmp(n + l - 5, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(struct sink *k, const char *path, unsigned depth)
{
	if (depth > KT_DIR_MAX_DEPTH) {
		sink_error(k, path, "%s", "directory nesting too deep (symlink loop?)");
		return;
	}
	struct stat dst;
	if (stat(path, &dst) == 0 && seen_dir(k, &dst))
		return; /* a symlink back into the tree */
	DIR *d = opendir(path);
	if (!d) {
		sink_error(k, path, "cannot open directory: %s", strerror(errno));
		return;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				abort();
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			abort();
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	size_t pl = strlen(path);
	while (pl > 1 && path[pl - 1] == '/')
		pl--;
	for (size_t i = 0; i < n; i++) {
		size_t full_len = pl + strlen(names[i]) + 2;
		char *full = malloc(full_len);
		if (!full)
			abort();
		snprintf(full, full_len, "%.*s/%s", (int)pl, path, names[i]);
		struct stat st;
		if (stat(full, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				walk_dir(k, full, depth + 1);
			else if (S_ISREG(st.st_mode) && manifest_name(names[i]))
				walk_file(k, full);
		}
		free(full);
		free(names[i]);
	}
	free(names);
}

static void walk(struct sink *k, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		sink_error(k, path, "cannot read: %s", strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode))
		walk_dir(k, path, 0);
	else
		walk_file(k, path);
}

/* Sequential: parse and ingest in this thread. */
struct seq_sink {
	struct sink k;
	struct kt_snapshot *snap;
	struct kt_manifest_result *r;
};

static void seq_file(struct sink *k, const char *path, const char *buf, size_t len)
{
	struct seq_sink *q = (struct seq_sink *)k;
	if (!buf) {
		add_file(q->snap, path);
		q->r->files++;
		return;
	}
	if (load_buf(q->snap, path, buf, len, k->o, q->r, false) < 0)
		k->rc = -KT_EXIT_INPUT;
}

static void seq_error(struct sink *k, const char *path, const char *msg)
{
	struct seq_sink *q = (struct seq_sink *)k;
	add_error(q->r, q->snap, path, 0, 0, msg);
}

/* ---- the pipeline: a parser thread feeds documents to the loader ------- */

enum qtype { Q_FILE, Q_DOC, Q_ERR, Q_END };

struct qitem {
	enum qtype type;
	char *file;              /* Q_FILE, Q_ERR (malloc'd) */
	uint64_t bytes;          /* Q_FILE */
	struct ydoc *doc;        /* Q_DOC */
	struct kt_yerr err;      /* Q_ERR; line 0 = no position */
	struct qitem *next;
};

struct pipe {
	struct sink k;           /* the parser thread's sink */
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	struct qitem *head, *tail;
	unsigned count;
	/* used document shells, trees still attached: the parser thread
	 * frees a tree when it reuses the shell (freeing into another
	 * thread's malloc arena is slow) */
	struct ydoc *pool;
	unsigned pooled;
	struct ydoc *batch, *batch_tail; /* parser thread: documents not queued yet */
	unsigned batch_n;
	const char *const *paths;
	unsigned n_paths;
};

#define KT_PIPE_DEPTH 256
#define KT_PIPE_BATCH 16 /* documents per queue item (fewer wake-ups) */
#define KT_PIPE_POOL 64

static void q_push(struct pipe *p, struct qitem *it)
{
	pthread_mutex_lock(&p->mu);
	while (p->count >= KT_PIPE_DEPTH)
		pthread_cond_wait(&p->not_full, &p->mu);
	it->next = NULL;
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	p->count++;
	pthread_cond_signal(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
}

static struct qitem *q_pop(struct pipe *p)
{
	pthread_mutex_lock(&p->mu);
	while (!p->head)
		pthread_cond_wait(&p->not_empty, &p->mu);
	struct qitem *it = p->head;
	p->head = it->next;
	if (!p->head)
		p->tail = NULL;
	p->count--;
	pthread_cond_signal(&p->not_full);
	pthread_mutex_unlock(&p->mu);
	return it;
}

static struct qitem *qnew(enum qtype t, const char *file)
{
	struct qitem *it = calloc(1, sizeof(*it));
	if (!it)
		abort();
	it->type = t;
	if (file) {
		it->file = strdup(file);
		if (!it->file)
			abort();
	}
	return it;
}

static void pipe_flush(struct pipe *p)
{
	if (!p->batch)
		return;
	struct qitem *it = qnew(Q_DOC, NULL);
	it->doc = p->batch; /* a chain through ->next */
	p->batch = p->batch_tail = NULL;
	p->batch_n = 0;
	q_push(p, it);
}

static struct ydoc *pipe_take(void *ctx, struct ydoc *d)
{
	struct pipe *p = ctx;
	d->next = NULL;
	if (p->batch_tail)
		p->batch_tail->next = d;
	else
		p->batch = d;
	p->batch_tail = d;
	if (++p->batch_n >= KT_PIPE_BATCH)
		pipe_flush(p);
	pthread_mutex_lock(&p->mu);
	struct ydoc *shell = p->pool;
	if (shell) {
		p->pool = shell->next;
		p->pooled--;
	}
	pthread_mutex_unlock(&p->mu);
	if (shell)
		ydoc_release(shell);
	return shell;
}

/* Back to the pool, tree and all (see struct pipe). */
static void pipe_recycle(struct pipe *p, struct ydoc *d)
{
	pthread_mutex_lock(&p->mu);
	if (p->pooled < KT_PIPE_POOL) {
		d->next = p->pool;
		p->pool = d;
		p->pooled++;
		d = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	ydoc_free(d);
}

static void pipe_file(struct sink *k, const char *path, const char *buf, size_t len)
{
	struct pipe *p = (struct pipe *)k;
	struct qitem *it = qnew(Q_FILE, path);
	it->bytes = len;
	q_push(p, it);
	if (!buf)
		return;
	struct kt_yerr err;
	unsigned delivered = 0;
	int rc = parse_impl(buf, len, k->o->max_depth, 0, NULL, pipe_take, p, &err, &delivered, NULL);
	if (rc < 0 && delivered == 0 && looks_json(path, buf, len)) {
		cJSON *root = cJSON_ParseWithLength(buf, len);
		if (root) {
			ydoc_free(pipe_take(p, json_ydoc(root)));
			rc = 0;
		}
	}
	pipe_flush(p);
	if (rc == 0)
		return;
	it = qnew(Q_ERR, path);
	it->err = err;
	q_push(p, it);
}

static void pipe_error(struct sink *k, const char *path, const char *msg)
{
	struct qitem *it = qnew(Q_ERR, path);
	snprintf(it->err.msg, sizeof(it->err.msg), "%s", msg);
	q_push((struct pipe *)k, it);
}

static void *pipe_main(void *arg)
{
	struct pipe *p = arg;
	for (unsigned i = 0; i < p->n_paths; i++)
		walk(&p->k, p->paths[i]);
	q_push(p, qnew(Q_END, NULL));
	return NULL;
}

/* Load paths (no "-") with the parser in a second thread; documents are
 * ingested here, in input order. Falls back to sequential loading when no
 * thread can be started. */
static int load_pipelined(struct kt_snapshot *snap, const char *const *paths, unsigned n,
			  const struct kt_manifest_opts *o, struct kt_manifest_result *r)
{
	struct pipe p;
	memset(&p, 0, sizeof(p));
	p.k = (struct sink){.file = pipe_file, .error = pipe_error, .o = o};
	p.paths = paths;
	p.n_paths = n;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.not_empty, NULL);
	pthread_cond_init(&p.not_full, NULL);
	pthread_t th;
	int rc = 0;
	if (pthread_create(&th, NULL, pipe_main, &p) != 0) {
		struct seq_sink q = {{.file = seq_file, .error = seq_error, .o = o}, snap, r};
		for (unsigned i = 0; i < n; i++)
			walk(&q.k, paths[i]);
		free(q.k.seen);
		rc = q.k.rc;
		goto out;
	}
	struct load L = {.snap = snap, .r = r, .o = o};
	for (;;) {
		struct qitem *it = q_pop(&p);
		enum qtype t = it->type;
		switch (t) {
		case Q_FILE:
			L.name = kt_intern(snap->arena, it->file);
			L.file = add_file(snap, it->file);
			L.prev_doc_line = 0;
			r->files++;
			r->bytes += it->bytes;
			break;
		case Q_DOC:
			for (struct ydoc *d = it->doc, *next; d; d = next) {
				next = d->next;
				on_doc(&L, d->root, &d->pos, d->first_line);
				pipe_recycle(&p, d);
			}
			break;
		case Q_ERR:
			add_error(r, snap, it->file, it->err.line, it->err.col, it->err.msg);
			rc = -KT_EXIT_INPUT;
			break;
		case Q_END:
			break;
		}
		free(it->file);
		free(it);
		if (t == Q_END)
			break;
	}
	pthread_join(th, NULL);
	free(p.k.seen);
	while (p.pool) {
		struct ydoc *d = p.pool;
		p.pool = d->next;
		ydoc_free(d);
	}
out:
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.not_empty);
	pthread_cond_destroy(&p.not_full);
	return rc;
}

/* ---- parallel files: two threads parse, this one ingests in order -----
 * The file list is collected first. A worker thread claims the next
 * unclaimed file (at most KT_PAR_AHEAD files ahead of the loader) and
 * parses it into a document list; the loader walks the list in order,
 * parses any file nobody claimed yet itself, and ingests every document in
 * input order, so the snapshot (and the output) is the same as a
 * sequential run's. */

#define KT_PAR_AHEAD 4

enum pstate { P_FREE, P_WORKER, P_MAIN, P_DONE };

struct pfile {
	char *path;              /* malloc'd */
	char *walk_err;          /* malloc'd; the walker's error (no file) */
	enum pstate state;
	struct ydoc *docs, *tail;
	bool failed, map_failed;
	struct kt_yerr err;      /* parse or map error (map: line 0) */
	uint64_t bytes;
};

struct par {
	struct sink k;           /* collecting sink */
	struct pfile *f;
	size_t n, cap;
	size_t claim, main_pos;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* used document shells per parsing thread (0 loader, 1 worker): trees
	 * are freed by the thread that allocated them, when it reuses the
	 * shell (freeing into another thread's malloc arena is slow) */
	struct ydoc *pool[2];
	unsigned pooled[2];
};

struct par_cur {                 /* take callback context: one per parse */
	struct par *p;
	struct pfile *f;
	unsigned who;            /* 0 loader, 1 worker */
};

static struct pfile *par_add(struct par *p, const char *path)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		struct pfile *nf = realloc(p->f, p->cap * sizeof(*nf));
		if (!nf)
			abort();
		p->f = nf;
	}
	struct pfile *f = &p->f[p->n++];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (!f->path)
		abort();
	return f;
}

static void par_path(struct sink *k, const char *path)
{
	par_add((struct par *)k, path);
}

static void par_walk_error(struct sink *k, const char *path, const char *msg)
{
	struct pfile *f = par_add((struct par *)k, path);
	f->walk_err = strdup(msg);
	if (!f->walk_err)
		abort();
}

static struct ydoc *par_take(void *ctx, struct ydoc *d)
{
	struct par_cur *c = ctx;
	struct par *p = c->p;
	struct pfile *f = c->f;
	d->next = NULL;
	d->owner = c->who;
	if (f->tail)
		f->tail->next = d;
	else
		f->docs = d;
	f->tail = d;
	pthread_mutex_lock(&p->mu);
	struct ydoc *shell = p->pool[c->who];
	if (shell) {
		p->pool[c->who] = shell->next;
		p->pooled[c->who]--;
	}
	pthread_mutex_unlock(&p->mu);
	if (shell)
		ydoc_release(shell);
	return shell;
}

/* Back to its parser's pool, tree and all (see struct par). */
static void par_recycle(struct par *p, struct ydoc *d)
{
	unsigned w = d->owner & 1;
	pthread_mutex_lock(&p->mu);
	if (p->pooled[w] < 4 * KT_PAR_AHEAD) {
		d->next = p->pool[w];
		p->pool[w] = d;
		p->pooled[w]++;
		d = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	ydoc_free(d);
}

/* Parse f into its document list (the JSON fallback as in load_buf). */
static void par_parse(struct par *p, struct pfile *f, unsigned who)
{
	const char *buf;
	size_t len;
	if (map_file(p->k.o, f->path, &buf, &len, f->err.msg, sizeof(f->err.msg)) < 0) {
		f->failed = f->map_failed = true;
		return;
	}
	f->bytes = len;
	if (!buf)
		return;
	unsigned delivered = 0;
	struct par_cur cur = {p, f, who};
	if (parse_impl(buf, len, p->k.o->max_depth, 0, NULL, par_take, &cur, &f->err, &delivered, NULL) < 0) {
		cJSON *root = delivered == 0 && looks_json(f->path, buf, len) ? cJSON_ParseWithLength(buf, len) : NULL;
		if (root) {
			struct ydoc *spare = par_take(&cur, json_ydoc(root));
			ydoc_free(spare);
		} else {
			f->failed = true;
		}
	}
	unmap_file(buf, len);
}

static void *par_main(void *arg)
{
	struct par *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->claim < p->n && (p->f[p->claim].walk_err || p->f[p->claim].state != P_FREE))
			p->claim++;
		if (p->claim >= p->n)
			break;
		if (p->claim > p->main_pos + KT_PAR_AHEAD) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		struct pfile *f = &p->f[p->claim++];
		f->state = P_WORKER;
		pthread_mutex_unlock(&p->mu);
		par_parse(p, f, 1);
		pthread_mutex_lock(&p->mu);
		f->state = P_DONE;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Loader side for a file the worker parsed: what seq_file/load_buf do. */
static int par_ingest(struct par *p, struct pfile *f, struct kt_snapshot *snap, struct kt_manifest_result *r,
		      const struct kt_manifest_opts *o)
{
	if (f->map_failed) {
		add_error(r, snap, f->path, 0, 0, f->err.msg);
		return -KT_EXIT_INPUT;
	}
	struct load L = {.snap = snap, .r = r, .o = o, .name = f->path};
	L.file = add_file(snap, f->path);
	r->files++;
	r->bytes += f->bytes;
	while (f->docs) {
		struct ydoc *d = f->docs;
		f->docs = d->next;
		on_doc(&L, d->root, &d->pos, d->first_line);
		par_recycle(p, d);
	}
	f->tail = NULL;
	if (f->failed) {
		add_error(r, snap, f->path, f->err.line, f->err.col, f->err.msg);
		return -KT_EXIT_INPUT;
	}
	return 0;
}

/* Load the files of paths (no "-") on two threads; returns 1 when there
 * was too little to share (the caller loads them sequentially). */
static int load_parallel(struct kt_snapshot *snap, const char *const *paths, unsigned n,
			 const struct kt_manifest_opts *o, struct kt_manifest_result *r)
{
	struct par p;
	memset(&p, 0, sizeof(p));
	p.k = (struct sink){.error = par_walk_error, .path = par_path, .o = o};
	for (unsigned i = 0; i < n; i++)
		walk(&p.k, paths[i]);
	free(p.k.seen);
	int rc = 0;
	size_t files = 0;
	for (size_t i = 0; i < p.n; i++)
		files += !p.f[i].walk_err;
	pthread_t th;
	bool started = false;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	if (files >= 2 && pthread_create(&th, NULL, par_main, &p) == 0)
		started = true;
	if (!started && files < 2) {
		/* one file: overlap its parse with ingesting instead */
		for (size_t i = 0; i < p.n; i++) {
			if (p.f[i].walk_err) {
				add_error(r, snap, p.f[i].path, 0, 0, p.f[i].walk_err);
				rc = -KT_EXIT_INPUT;
			} else if (load_pipelined(snap, (const char *const *)&p.f[i].path, 1, o, r) < 0) {
				rc = -KT_EXIT_INPUT;
			}
		}
		goto out;
	}
	struct seq_sink q = {{.file = seq_file, .error = seq_error, .o = o}, snap, r};
	for (size_t i = 0; i < p.n; i++) {
		struct pfile *f = &p.f[i];
		if (f->walk_err) {
			add_error(r, snap, f->path, 0, 0, f->walk_err);
			rc = -KT_EXIT_INPUT;
			continue;
		}
		/* ingest file i; while the worker still parses it, parse a
		 * later free file instead of waiting */
		pthread_mutex_lock(&p.mu);
		p.main_pos = i;
		pthread_cond_broadcast(&p.cv);
		bool mine = false;
		for (;;) {
			if (f->state == P_FREE) {
				f->state = P_MAIN;
				mine = true;
				break;
			}
			if (f->state == P_DONE)
				break;
			size_t j = i + 1;
			while (j < p.n && j <= i + KT_PAR_AHEAD && (p.f[j].walk_err || p.f[j].state != P_FREE))
				j++;
			if (j < p.n && j <= i + KT_PAR_AHEAD) {
				p.f[j].state = P_MAIN;
				pthread_mutex_unlock(&p.mu);
				par_parse(&p, &p.f[j], 0);
				pthread_mutex_lock(&p.mu);
				p.f[j].state = P_DONE;
				continue;
			}
			pthread_cond_wait(&p.cv, &p.mu);
		}
		pthread_mutex_unlock(&p.mu);
		if (mine) {
			q.k.rc = 0;
			walk_file(&q.k, f->path);
			if (q.k.rc < 0)
				rc = q.k.rc;
		} else if (par_ingest(&p, f, snap, r, o) < 0) {
			rc = -KT_EXIT_INPUT;
		}
	}
	if (started)
		pthread_join(th, NULL);
out:
	for (size_t i = 0; i < p.n; i++) {
		free(p.f[i].path);
		free(p.f[i].walk_err);
		while (p.f[i].docs) {
			struct ydoc *d = p.f[i].docs;
			p.f[i].docs = d->next;
			ydoc_free(d);
		}
	}
	free(p.f);
	for (unsigned w = 0; w < 2; w++)
		while (p.pool[w]) {
			struct ydoc *d = p.pool[w];
			p.pool[w] = d->next;
			ydoc_free(d);
		}
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	return rc;
}

/* Threads for loading files: o->threads, or when 0 two if this machine
 * has an idle CPU now: CPUs online minus what else wants a CPU, the lower
 * of the 1-minute load average (lags by a minute) and the tasks runnable
 * right now other than this one (/proc/loadavg's 4th field). */
static unsigned pick_threads(const struct kt_manifest_opts *o)
{
	if (o->threads)
		return o->threads;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus < 2)
		return 1;
	double load = 0;
	int running = 0, total = 0;
	FILE *f = fopen("/proc/loadavg", "r");
	if (!f)
		return 1;
	int n = fscanf(f, "%lf %*f %*f %d/%d", &load, &running, &total);
	fclose(f);
	if (n < 1)
		return 1;
	double busy = load;
	if (n == 3 && running >= 1 && (double)(running - 1) < busy)
		busy = running - 1;
	return (double)cpus - busy >= 1.25 ? 2 : 1;
}

int kt_manifest_load_paths(struct kt_snapshot *snap, const char *const *paths, unsigned n,
			   const struct kt_manifest_opts *o, struct kt_manifest_result *r)
{
	struct kt_manifest_opts tmp;
	o = opts_or_default(o, &tmp);
	int rc = 0;
	bool stdin_done = false;
	unsigned threads = pick_threads(o);
	for (unsigned i = 0; i < n;) {
		if (!strcmp(paths[i], "-")) {
			if (!stdin_done && load_stdin(snap, o, r) < 0)
				rc = -KT_EXIT_INPUT;
			stdin_done = true;
			i++;
			continue;
		}
		unsigned j = i;
		while (j < n && strcmp(paths[j], "-"))
			j++;
		int r1;
		if (threads >= 2) {
			r1 = load_parallel(snap, paths + i, j - i, o, r);
		} else {
			struct seq_sink q = {{.file = seq_file, .error = seq_error, .o = o}, snap, r};
			for (unsigned k = i; k < j; k++)
				walk(&q.k, paths[k]);
			free(q.k.seen);
			r1 = q.k.rc;
		}
		if (r1 < 0)
			rc = r1;
		i = j;
	}
	return rc;
}

int kt_manifest_load(struct kt_snapshot *snap, const char *path, const struct kt_manifest_opts *o,
		     struct kt_manifest_result *r)
{
	return kt_manifest_load_paths(snap, &path, 1, o, r);
}

void kt_manifest_result_free(struct kt_manifest_result *r)
{
	free(r->errors);
	memset(r, 0, sizeof(*r));
}
