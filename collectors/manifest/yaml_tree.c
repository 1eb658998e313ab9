/*
 * The YAML tree builder: turns parse events (from the fast scanner or
 * libyaml; collectors/manifest/yaml_parse.c drives both) into one cJSON
 * tree per document with YAML 1.1 scalar typing as the Kubernetes decoder
 * does, anchors and aliases with a bounded expansion budget, `<<` merge
 * keys, nesting capped without recursion, duplicate mapping keys resolved
 * as kubectl does (the last value wins, with a warning), and a position
 * map from every node to the 1-based line/column of its key. Owns the
 * document's tree, strings and positions until it is delivered. Never
 * prints and never judges.
 */
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "collectors/manifest/yaml_tree.h"
#include "ktrace/xalloc.h"

/* ---- position map: in the node, else open addressing on its pointer ---- */

#define LIVE(m, i) ((m)->t[i].k && (m)->t[i].gen == (m)->gen)

static size_t phash(const void *p, size_t cap)
{
	uintptr_t x = (uintptr_t)p;
	x ^= x >> 17;
	x *= 0x9E3779B97F4A7C15ull;
	return (size_t)(x >> 20) & (cap - 1);
}

/* A node of the document's storage (KT_YNODE) carries its own position:
 * no table entry to write while parsing or to probe while ingesting, and
 * the position sits next to the node the reader has just loaded. */
struct ynode {
	cJSON j;
	uint32_t line, col;      /* 1-based; line 0: none recorded */
};

void kt_ypos_put(struct kt_ypos *m, const cJSON *k, uint32_t line, uint32_t col)
{
	if (k->type & KT_YNODE) {
		struct ynode *y = (struct ynode *)k;
		y->line = line;
		y->col = col;
		return;
	}
	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 256;
		struct kt_ypos_ent *nt = kt_xcalloc(nc, sizeof(*nt));
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
	if (!m || !node)
		return false;
	if (node->type & KT_YNODE) {
		const struct ynode *y = (const struct ynode *)node;
		if (!y->line)
			return false;
		int64_t l = (int64_t)y->line - m->line_adjust;
		*line = l >= 1 ? (uint32_t)l : 1;
		*col = y->col;
		return true;
	}
	if (!m->cap)
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

unsigned kt_ypos_warnings(const struct kt_ypos *pos, const struct kt_yerr **out)
{
	*out = pos ? pos->warns : NULL;
	return pos ? pos->n_warns : 0;
}

void kt_ypos_reset(struct kt_ypos *m)
{
	if (m->n && ++m->gen == 0) {
		memset(m->t, 0, m->cap * sizeof(*m->t));
		m->gen = 1;
	}
	m->n = 0;
	m->line_adjust = 0;
	m->n_warns = 0;
}

void kt_ypos_release(struct kt_ypos *m)
{
	free(m->t);
	free(m->warns);
	memset(m, 0, sizeof(*m));
}

static void ypos_warn(struct kt_ypos *m, uint32_t line, uint32_t col, uint32_t line2, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void ypos_warn(struct kt_ypos *m, uint32_t line, uint32_t col, uint32_t line2, const char *fmt, ...)
{
	if (m->n_warns >= KT_Y_MAX_WARNINGS)
		return;
	if (m->n_warns == m->cap_warns) {
		m->cap_warns = m->cap_warns ? m->cap_warns * 2 : 4;
		m->warns = kt_xreallocarray(m->warns, m->cap_warns, sizeof(*m->warns));
	}
	struct kt_yerr *w = &m->warns[m->n_warns++];
	w->line = line;
	w->col = col;
	w->line2 = line2;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

/* ---- document storage: strings and nodes ------------------------------- */

/* n bytes (aligned to align, a power of two) from the document's blocks. */
static void *salloc(struct builder *b, size_t n, size_t align)
{
	struct sblock *k = b->sb;
	size_t off = k ? (k->used + align - 1) & ~(align - 1) : 0;
	if (!k || off + n > k->size) {
		/* blocks grow with the document: most documents need a few KiB */
		size_t want = k ? (k->size + sizeof(*k)) * 2 : 4096;
		if (want > 65536)
			want = 65536;
		size_t sz = n + align > want - sizeof(*k) ? n + align + sizeof(*k) : want;
		k = kt_xmalloc(sz);
		k->size = sz - sizeof(*k);
		k->used = 0;
		k->next = b->sb;
		b->sb = k;
		off = 0; /* data[] follows two size_t and a pointer: 8-aligned */
	}
	k->used = off + n;
	return k->data + off;
}

static char *sdup(struct builder *b, const char *s, size_t n)
{
	char *p = salloc(b, n + 1, 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/* A cJSON node in the document's blocks (KT_YNODE, with room for its
 * position): no malloc per node, and freeing a document is freeing its
 * blocks. */
static cJSON *ynode(struct builder *b, int type)
{
	struct ynode *y = salloc(b, sizeof(*y), _Alignof(struct ynode));
	memset(y, 0, sizeof(*y));
	y->j.type = type | KT_YNODE;
	return &y->j;
}

/* A string node referencing s (document storage). */
static cJSON *ystring(struct builder *b, char *s)
{
	cJSON *n = ynode(b, cJSON_String | cJSON_IsReference);
	n->valuestring = s;
	return n;
}

/* One node's value (not its key, children or siblings). Strings are
 * referenced: they live in the same document's storage. */
static cJSON *ycopy(struct builder *b, const cJSON *src)
{
	cJSON *n = ynode(b, src->type & 0xFF);
	n->valueint = src->valueint;
	n->valuedouble = src->valuedouble;
	if (src->valuestring) {
		n->valuestring = src->valuestring;
		n->type |= cJSON_IsReference;
	}
	return n;
}

/* cJSON's type tests and appends, inline for the builder's own nodes (the
 * hottest calls of a parse): the same list layout as cJSON's (the tail in
 * child->prev), keys always const. */
static bool is_map(const cJSON *n)
{
	return (n->type & 0xFF) == cJSON_Object;
}

static bool is_seq(const cJSON *n)
{
	return (n->type & 0xFF) == cJSON_Array;
}

static void seq_add(cJSON *seq, cJSON *item)
{
	cJSON *head = seq->child;
	item->next = NULL;
	if (!head) {
		seq->child = item;
		item->prev = item;
	} else {
		head->prev->next = item;
		item->prev = head->prev;
		head->prev = item;
	}
}

static void map_put(cJSON *map, const char *key, cJSON *item)
{
	item->string = (char *)key;
	item->type |= cJSON_StringIsConst;
	seq_add(map, item);
}

void kt_ytree_free(cJSON *n)
{
	/* the builder makes KT_YNODE nodes only, with every string in the
	 * document's storage: nothing to free node by node (and no walk over
	 * a tree another thread just read) */
	if (n && (n->type & KT_YNODE))
		return;
	while (n) {
		cJSON *next = n->next;
		if (!(n->type & cJSON_IsReference) && n->child)
			kt_ytree_free(n->child);
		if (!(n->type & cJSON_IsReference) && n->valuestring)
			cJSON_free(n->valuestring);
		if (!(n->type & cJSON_StringIsConst) && n->string)
			cJSON_free(n->string);
		if (!(n->type & KT_YNODE))
			cJSON_free(n);
		n = next;
	}
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
static cJSON *number(struct builder *b, double d)
{
	if (!(d < 9.2e18))
		d = 9.2e18;
	else if (!(d > -9.2e18))
		d = -9.2e18;
	cJSON *n = ynode(b, cJSON_Number);
	n->valuedouble = d; /* valueint as cJSON_CreateNumber sets it */
	n->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
	return n;
}

static cJSON *typed_scalar(struct builder *b, const char *s, size_t n, const char *tag, bool plain)
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
			return ynode(b, cJSON_NULL);
		if (!strcmp(tag, YAML_BOOL_TAG))
			return ynode(b, word_in(s, n, trues) ? cJSON_True : cJSON_False);
		if ((!strcmp(tag, YAML_INT_TAG) || !strcmp(tag, YAML_FLOAT_TAG)) &&
		    (is_int(s, n, &d) || is_float(s, n, &d)))
			return number(b, d);
		if (!plain)
			return NULL;
	}
	if (!plain || !maybe_typed(s, n))
		return NULL; /* a string: the caller makes it */
	if (n == 0 || word_in(s, n, nulls))
		return ynode(b, cJSON_NULL);
	if (word_in(s, n, trues))
		return ynode(b, cJSON_True);
	if (word_in(s, n, falses))
		return ynode(b, cJSON_False);
	if ((isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.') &&
	    (is_int(s, n, &d) || is_float(s, n, &d)))
		return number(b, d);
	return NULL;
}

/* ---- the tree builder --------------------------------------------------- */

static int fail_at(struct builder *b, const struct kt_ymark *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct builder *b, const struct kt_ymark *m, const char *fmt, ...)
{
	va_list ap;
	b->err->line = (uint32_t)m->line + 1;
	b->err->col = (uint32_t)m->col + 1;
	b->err->line2 = 0;
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
		b->cap_anchors = b->cap_anchors ? b->cap_anchors * 2 : 16;
		b->anchors = kt_xreallocarray(b->anchors, b->cap_anchors, sizeof(*b->anchors));
	}
	b->anchors[b->n_anchors].name = kt_xstrdup(name);
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

static void keep_dead(struct builder *b, cJSON *n)
{
	if (!b->dead)
		b->dead = ynode(b, cJSON_Array);
	seq_add(b->dead, n);
}

void kt_yb_clear_doc(struct builder *b)
{
	b->depth = 0;
	for (size_t i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	b->n_anchors = 0;
	kt_ytree_free(b->root);
	b->root = NULL;
	kt_ytree_free(b->dead);
	b->dead = NULL;
	b->nodes = b->alias_nodes = 0;
	if (b->n_keys && ++b->keys_gen == 0) {
		memset(b->keys, 0, b->cap_keys * sizeof(*b->keys));
		b->keys_gen = 1;
	}
	b->n_keys = 0;
	kt_ypos_reset(&b->pos);
	sreset(b, false);
}

void kt_yb_release(struct builder *b)
{
	kt_yb_clear_doc(b);
	sreset(b, true);
	free(b->anchors);
	kt_ypos_release(&b->pos);
	free(b->keys);
	free(b->st);
	kt_ydoc_free(b->spare);
}

/* ---- builder memory kept between files ----------------------------------
 * A directory of small files parses one or two documents per file: the
 * frame stack, the position table and the first storage block are kept
 * in a shared free list (a few per thread) instead of being allocated
 * and zeroed again for every file. Reachable from a static: not a leak. */
struct ycache {
	struct ycache *next;
	struct frame *st;
	unsigned st_n;
	struct kt_ypos pos;
	struct sblock *sb;
};
static pthread_mutex_t ycache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ycache *ycache_free;
static unsigned ycache_n;

void kt_yb_init(struct builder *b)
{
	pthread_mutex_lock(&ycache_mu);
	struct ycache *y = ycache_free;
	if (y) {
		ycache_free = y->next;
		ycache_n--;
	}
	pthread_mutex_unlock(&ycache_mu);
	if (y && y->st_n >= b->max_depth + 1) {
		b->st = y->st; /* frames are written whole on push */
	} else {
		if (y)
			free(y->st);
		b->st = kt_xmalloc((b->max_depth + 1) * sizeof(*b->st));
	}
	if (y) {
		b->pos = y->pos; /* reset: no live entry, no warnings */
		b->sb = y->sb;
		free(y);
	}
}

void kt_yb_done(struct builder *b)
{
	kt_yb_clear_doc(b);
	sreset(b, false); /* keeps the head block, emptied */
	struct ycache *y = kt_xmalloc(sizeof(*y));
	*y = (struct ycache){.st = b->st, .st_n = b->max_depth + 1, .pos = b->pos, .sb = b->sb};
	b->st = NULL;
	b->sb = NULL;
	memset(&b->pos, 0, sizeof(b->pos));
	pthread_mutex_lock(&ycache_mu);
	if (ycache_n < 8) {
		y->next = ycache_free;
		ycache_free = y;
		ycache_n++;
		y = NULL;
	}
	pthread_mutex_unlock(&ycache_mu);
	if (y) {
		free(y->st);
		kt_ypos_release(&y->pos);
		free(y->sb);
		free(y);
	}
	kt_yb_release(b);
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
	struct dframe *st = kt_xmalloc((b->max_depth + 2) * sizeof(*st));
	uint32_t l, c;
	cJSON *root = ycopy(b, src);
	if (kt_ypos_lookup(&b->pos, src, &l, &c))
		kt_ypos_put(&b->pos, root, l + (uint32_t)b->pos.line_adjust, c);
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
			kt_ytree_free(root);
			free(st);
			fail_at(b, m, "alias expansion limit exceeded (billion-laughs style document?)");
			return NULL;
		}
		cJSON *nc = ycopy(b, ch);
		if (is_seq(f->d))
			seq_add(f->d, nc);
		else /* keys live in the document's string storage or its tree */
			map_put(f->d, ch->string ? ch->string : "", nc);
		if (kt_ypos_lookup(&b->pos, ch, &l, &c))
			kt_ypos_put(&b->pos, nc, l + (uint32_t)b->pos.line_adjust, c);
		if (ch->child) {
			if (base_depth + sp >= b->max_depth) {
				kt_ytree_free(root);
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

/* ---- duplicate keys: kubectl (sigs.k8s.io/yaml) keeps the last value.
 * Small mappings are scanned; from KEYS_SCAN keys on, the mapping's keys
 * go into a per-document hash table so a mapping with many keys stays
 * linear. */

#define KEYS_SCAN 8

static size_t keys_slot(const struct builder *b, const cJSON *map, const char *key, uint64_t h)
{
	size_t i = (size_t)(h ^ ((uintptr_t)map >> 4) * 0x9E3779B97F4A7C15ull) & (b->cap_keys - 1);
	while (b->keys[i].gen == b->keys_gen && b->keys[i].key &&
	       (b->keys[i].map != map || b->keys[i].h != h || strcmp(b->keys[i].key, key)))
		i = (i + 1) & (b->cap_keys - 1);
	return i;
}

static bool keys_live(const struct builder *b, size_t i)
{
	return b->keys[i].gen == b->keys_gen && b->keys[i].key;
}

static void keys_add(struct builder *b, const cJSON *map, const char *key)
{
	if ((b->n_keys + 1) * 2 > b->cap_keys) {
		size_t oc = b->cap_keys;
		struct kt_ykeys_ent *old = b->keys;
		b->cap_keys = oc ? oc * 2 : 256;
		b->keys = kt_xcalloc(b->cap_keys, sizeof(*b->keys));
		uint32_t g = b->keys_gen;
		b->keys_gen = 1;
		b->n_keys = 0;
		for (size_t i = 0; i < oc; i++)
			if (old[i].gen == g && old[i].key) {
				size_t s = keys_slot(b, old[i].map, old[i].key, old[i].h);
				b->keys[s] = old[i];
				b->keys[s].gen = 1;
				b->n_keys++;
			}
		free(old);
	}
	uint64_t h = kt_hash_str(KT_HASH_SEED, key);
	size_t s = keys_slot(b, map, key, h);
	if (!keys_live(b, s))
		b->n_keys++;
	b->keys[s] = (struct kt_ykeys_ent){map, key, h, b->keys_gen};
}

/* The item of map with key, or NULL. f->n_keys counts the keys so far. */
static cJSON *dup_key(struct builder *b, struct frame *f, const char *key)
{
	if (f->n_keys < KEYS_SCAN) { /* the first byte settles almost every key */
		for (cJSON *c = f->node->child; c; c = c->next)
			if (c->string && c->string[0] == key[0] && !strcmp(c->string, key))
				return c;
		return NULL;
	}
	if (f->n_keys == KEYS_SCAN) /* index the keys seen so far */
		for (cJSON *c = f->node->child; c; c = c->next)
			if (c->string)
				keys_add(b, f->node, c->string);
	uint64_t h = kt_hash_str(KT_HASH_SEED, key);
	size_t s = keys_slot(b, f->node, key, h);
	if (!keys_live(b, s))
		return NULL;
	for (cJSON *c = f->node->child; c; c = c->next) /* rare: a duplicate */
		if (c->string && !strcmp(c->string, key))
			return c;
	return NULL;
}

/* Add node under key to the mapping of frame f: a repeated key replaces
 * the earlier value (kept until the document ends: anchors may point into
 * it) and is reported as a warning. `<<` merge keys may repeat. */
static void map_add(struct builder *b, struct frame *f, char *key, cJSON *node)
{
	bool merge = key[0] == '<' && !strcmp(key, "<<");
	cJSON *old = merge ? NULL : dup_key(b, f, key);
	if (old) {
		uint32_t ol = 0, oc = 0;
		kt_ypos_lookup(&b->pos, old, &ol, &oc);
		cJSON_DetachItemViaPointer(f->node, old);
		keep_dead(b, old);
		ypos_warn(&b->pos, f->key_line, f->key_col, ol, "duplicate key '%.160s'", key);
	} else {
		f->n_keys++;
		if (f->n_keys > KEYS_SCAN)
			keys_add(b, f->node, key);
	}
	map_put(f->node, key, node);
}

/* Attach a finished node to the current container (or make it the root). */
static int attach(struct builder *b, cJSON *node, const struct kt_ymark *m)
{
	if (++b->nodes > KT_Y_MAX_NODES) {
		kt_ytree_free(node);
		return fail_at(b, m, "document too large (more than 8M nodes)");
	}
	if (b->depth == 0) {
		if (b->root) { /* cannot happen in a well-formed event stream */
			kt_ytree_free(node);
			return fail_at(b, m, "unexpected second root node");
		}
		b->root = node;
		b->root_line = (uint32_t)m->line + 1;
		kt_ypos_put(&b->pos, node, (uint32_t)m->line + 1, (uint32_t)m->col + 1);
		return 0;
	}
	struct frame *f = &b->st[b->depth - 1];
	if (is_seq(f->node)) {
		seq_add(f->node, node);
		kt_ypos_put(&b->pos, node, (uint32_t)m->line + 1, (uint32_t)m->col + 1);
		return 0;
	}
	/* mapping value */
	char *key = f->key;
	f->key = NULL;
	if (key[0] == '<' && !strcmp(key, "<<") && (is_map(node) || is_seq(node)))
		f->has_merge = true;
	map_add(b, f, key, node);
	kt_ypos_put(&b->pos, node, f->key_line, f->key_col);
	return 0;
}

/* Copy positions from src to its duplicate dst (same shape); depth is
 * bounded by the nesting cap. */
/* A subtree (merge keys): the nesting of a finished document bounds the
 * recursion. Keys live in the document's storage. */
static cJSON *ycopy_deep(struct builder *b, const cJSON *src, unsigned depth)
{
	cJSON *n = ycopy(b, src);
	if (depth > 256)
		return n;
	cJSON *last = NULL;
	for (const cJSON *c = src->child; c; c = c->next) {
		cJSON *cc = ycopy_deep(b, c, depth + 1);
		if (c->string) {
			cc->string = c->string;
			cc->type |= cJSON_StringIsConst;
		}
		if (last) {
			last->next = cc;
			cc->prev = last;
		} else {
			n->child = cc;
		}
		last = cc;
	}
	if (n->child)
		n->child->prev = last; /* cJSON keeps the tail in child->prev */
	return n;
}

static void copy_pos(struct kt_ypos *pos, const cJSON *src, const cJSON *dst, unsigned depth)
{
	uint32_t l, c;
	if (depth > 256)
		return;
	if (kt_ypos_lookup(pos, src, &l, &c))
		kt_ypos_put(pos, dst, l + (uint32_t)pos->line_adjust, c);
	for (src = src->child, dst = dst->child; src && dst; src = src->next, dst = dst->next)
		copy_pos(pos, src, dst, depth + 1);
}

/* Apply `<<` merge keys of a finished mapping: merged keys never override
 * keys written in the mapping itself; earlier sources win over later. */
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
						cJSON *cp = ycopy_deep(b, kv, 0);
						map_put(map, kv->string, cp);
						copy_pos(&b->pos, kv, cp, 0);
					}
			}
			/* keep it until the document ends: an anchor may live in it */
			keep_dead(b, m);
		}
		m = next;
	}
}

static int push(struct builder *b, cJSON *node, const struct kt_ymark *m)
{
	if (b->depth >= b->max_depth) {
		kt_ytree_free(node);
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
	return b->depth && is_map(b->st[b->depth - 1].node) && !b->st[b->depth - 1].key;
}

int kt_yb_scalar(struct builder *b, const char *v, size_t len, bool plain, const char *tag, const char *anchor,
		 const struct kt_ymark *m)
{
	if (want_key(b)) /* anchors on keys are not kept */
		return set_key(b, v, len, m);
	cJSON *n = typed_scalar(b, v, len, tag, plain);
	if (!n)
		n = ystring(b, sdup(b, v, len));
	if (attach(b, n, m) < 0)
		return -1;
	return add_anchor(b, anchor, n, m);
}

int kt_yb_alias(struct builder *b, const char *anchor, const struct kt_ymark *m)
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

int kt_yb_start(struct builder *b, bool seq, const char *anchor, const struct kt_ymark *m)
{
	if (want_key(b))
		return fail_at(b, m, "complex mapping keys are not supported");
	cJSON *n = ynode(b, seq ? cJSON_Array : cJSON_Object);
	if (push(b, n, m) < 0)
		return -1;
	return add_anchor(b, anchor, n, m);
}

int kt_yb_end(struct builder *b, const struct kt_ymark *m)
{
	if (!b->depth)
		return fail_at(b, m, "unbalanced collection end");
	b->depth--;
	b->st[b->depth].key = NULL;
	if (b->st[b->depth].has_merge)
		apply_merge(b, b->st[b->depth].node);
	return 0;
}

/* ---- delivering documents ----------------------------------------------- */

void kt_ydoc_release(struct ydoc *d)
{
	kt_ytree_free(d->root);
	kt_ytree_free(d->dead);
	d->root = d->dead = NULL;
}

void kt_ydoc_free(struct ydoc *d)
{
	if (!d)
		return;
	kt_ydoc_release(d);
	kt_ypos_release(&d->pos);
	while (d->sb) {
		struct sblock *n = d->sb->next;
		free(d->sb);
		d->sb = n;
	}
	free(d);
}

struct ydoc *kt_ydoc_json(cJSON *root)
{
	struct ydoc *d = kt_xcalloc(1, sizeof(*d));
	d->root = root;
	d->first_line = 1;
	kt_ypos_put(&d->pos, root, 1, 1);
	return d;
}

/* Move the finished document out of the builder (handoff mode). */
static void handoff(struct builder *b)
{
	struct ydoc *d = b->spare ? b->spare : kt_xcalloc(1, sizeof(*d));
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

int kt_yb_finish_doc(struct builder *b)
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
	kt_yb_clear_doc(b);
	return rc;
}
