/*
 * Bundle reader: a ktrace bundle or any Kubernetes List (`kubectl get ...
 * -o json`), plain or gzip, from a file, stdin or memory.
 *
 * The input streams through a window: decompression (zlib inflate) and
 * reads go in 1 MiB chunks, the scanner walks the top-level object, and
 * each element of "objects", "items", "nodes", "flows" and "gaps" is
 * measured first (lib/jscan: bytes, JSON values, nesting), then parsed with
 * cJSON, converted into the model and freed at once. Memory is therefore
 * bounded by one element plus the model, whatever the file size (bundles
 * over 2 GiB read fine); gzip input that expands more than
 * KT_BUNDLE_MAX_RATIO times is refused as a decompression bomb.
 *
 * Namespaced objects without a namespace take the caller's default
 * namespace (kt_bundle_load_ns), as `kubectl apply -f` would place them.
 * Owns the files it opens; prints nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "collectors/kube/k8s_obj.h"
#include "ktrace/bundle.h"
#include "ktrace/dataplane.h"
#include "ktrace/fleet.h"
#include "ktrace/flows.h"
#include "ktrace/xalloc.h"
#include "collectors/codec/codec.h"
#include "lib/jscan.h"

#define KT_BUNDLE_CHUNK (1u << 20)          /* largest read / inflate step */
#define KT_BUNDLE_INBUF (128u << 10)        /* compressed input buffer */
#define KT_BUNDLE_STEP (64u << 10)          /* smallest read step (window growth) */
#define KT_BUNDLE_MAX_RATIO 256             /* gzip output / input, above ... */
#define KT_BUNDLE_RATIO_FROM (16ull << 20)  /* ... this much output */
#define KT_BUNDLE_MAX_ELEMENTS 5000000u     /* per array */
#define KT_BUNDLE_MAX_DEFERRED (64u << 20)  /* kind-less List items read before "kind" */

/* Per element. Objects: see KT_JLIMITS_OBJECT. A node's dataplane state is
 * one element (every Service of the node). */
static const struct kt_jlimits lim_object = KT_JLIMITS_OBJECT;
static const struct kt_jlimits lim_node = {256u << 20, 8u << 20, 64};
static const struct kt_jlimits lim_flow = {64u << 20, 4u << 20, 64};
static const struct kt_jlimits lim_small = {1u << 20, 1u << 16, 64};

#define KT_BUNDLE_MAX_WINDOW ((size_t)(256u << 20) + 4 * KT_BUNDLE_CHUNK)

/* Tests and fuzzing only: read at most this many bytes per step (and start
 * with a window of that size), so the window moves inside every element. */
size_t kt_bundle_test_step;

/* ---- input: a file (plain or gzip) or a buffer ---------------------------- */

struct src {
	int fd;                  /* -1: memory input */
	bool gzip, in_eof, z_end, z_init;
	z_stream zs;
	unsigned char *in;       /* compressed (or, before detection, raw) bytes */
	size_t in_len, in_pos;   /* plain: undelivered bytes of the first read */
	uint64_t in_total;       /* bytes read from the file */
	uint64_t out_total;      /* bytes delivered (decompressed) */
};

struct scan {
	const char *name;
	const char *buf;         /* window over the input: [0, len) */
	size_t len, pos;
	char *own;               /* streaming: the window's storage */
	size_t cap;
	bool eof;
	unsigned line, col;      /* position of buf[0] */
	struct src *src;         /* NULL: the whole input is buf */
	struct kt_diag *d;
};

static int bad(struct scan *s, size_t off, const char *what);

static int read_raw(struct src *in, unsigned char *dst, size_t n, ssize_t *got)
{
	ssize_t r;
	do
		r = read(in->fd, dst, n);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	in->in_total += (uint64_t)r;
	*got = r;
	return 0;
}

/* Decompress up to n bytes into dst; *got 0 at the end. */
static int inflate_some(struct scan *s, char *dst, size_t n, size_t *got)
{
	struct src *in = s->src;
	*got = 0;
	while (*got == 0 && !in->z_end) {
		if (in->zs.avail_in == 0 && !in->in_eof) {
			ssize_t r;
			int e = read_raw(in, in->in, KT_BUNDLE_INBUF, &r);
			if (e < 0)
				return kt_diag_set(s->d, KT_EXIT_INPUT, "%s: cannot read: %s", s->name, strerror(-e));
			in->in_eof = r == 0;
			in->zs.next_in = in->in;
			in->zs.avail_in = (uInt)r;
		}
		in->zs.next_out = (Bytef *)dst;
		in->zs.avail_out = (uInt)n;
		int zr = inflate(&in->zs, Z_NO_FLUSH);
		*got = n - in->zs.avail_out;
		if (zr == Z_STREAM_END) {
			/* another gzip member follows, or the end (trailing bytes
			 * that are not gzip are ignored, as gzip(1) does) */
			if (in->zs.avail_in == 0 && !in->in_eof) {
				ssize_t r;
				int e = read_raw(in, in->in, KT_BUNDLE_INBUF, &r);
				if (e < 0)
					return kt_diag_set(s->d, KT_EXIT_INPUT, "%s: cannot read: %s", s->name, strerror(-e));
				in->in_eof = r == 0;
				in->zs.next_in = in->in;
				in->zs.avail_in = (uInt)r;
			}
			if (in->zs.avail_in >= 2 && in->zs.next_in[0] == 0x1f && in->zs.next_in[1] == 0x8b)
				inflateReset(&in->zs);
			else
				in->z_end = true;
		} else if (zr != Z_OK && !(zr == Z_BUF_ERROR && *got)) {
			if (zr == Z_BUF_ERROR && in->in_eof)
				return kt_diag_set(s->d, KT_EXIT_INPUT, "%s: cannot decompress: truncated gzip data",
						   s->name);
			if (zr != Z_BUF_ERROR)
				return kt_diag_set(s->d, KT_EXIT_INPUT, "%s: cannot decompress: %s", s->name,
						   in->zs.msg ? in->zs.msg : "invalid gzip data");
		}
	}
	return 0;
}

/* Read up to n more bytes of input into dst; *got 0 at the end. */
static int src_read(struct scan *s, char *dst, size_t n, size_t *got)
{
	struct src *in = s->src;
	*got = 0;
	if (in->gzip) {
		int rc = inflate_some(s, dst, n, got);
		if (rc < 0)
			return rc;
		in->out_total += *got;
		if (in->out_total > KT_BUNDLE_RATIO_FROM && in->out_total / KT_BUNDLE_MAX_RATIO > in->in_total) {
			kt_diag_set(s->d, KT_EXIT_INPUT,
				    "%s: refused: the gzip data expands more than %d times (%llu MiB from %llu KiB): "
				    "not a bundle ktrace wrote (decompression bomb?)",
				    s->name, KT_BUNDLE_MAX_RATIO, (unsigned long long)(in->out_total >> 20),
				    (unsigned long long)(in->in_total >> 10));
			return -KT_EXIT_INPUT;
		}
		return 0;
	}
	if (in->in_pos < in->in_len) {
		size_t k = in->in_len - in->in_pos < n ? in->in_len - in->in_pos : n;
		memcpy(dst, in->in + in->in_pos, k);
		in->in_pos += k;
		*got = k;
		return 0;
	}
	ssize_t r;
	int e = read_raw(in, (unsigned char *)dst, n, &r);
	if (e < 0)
		return kt_diag_set(s->d, KT_EXIT_INPUT, "%s: cannot read: %s", s->name, strerror(-e));
	*got = (size_t)r;
	return 0;
}

/* Open fd as a source: gzip when it starts with the gzip magic. */
static int src_open(struct scan *s, struct src *in, int fd)
{
	memset(in, 0, sizeof(*in));
	in->fd = fd;
	in->in = kt_xmalloc(KT_BUNDLE_INBUF);
	ssize_t r = 0;
	size_t have = 0;
	while (have < 2) {
		int e = read_raw(in, in->in + have, KT_BUNDLE_INBUF - have, &r);
		if (e < 0)
			return kt_diag_set(s->d, KT_EXIT_INPUT, "%s: cannot read: %s", s->name, strerror(-e));
		if (r == 0)
			break;
		have += (size_t)r;
	}
	in->in_eof = have < 2;
	if (have >= 2 && in->in[0] == 0x1f && in->in[1] == 0x8b) {
		in->gzip = true;
		if (inflateInit2(&in->zs, 15 + 16) != Z_OK)
			return kt_diag_set(s->d, KT_EXIT_INPUT, "%s: cannot start decompression", s->name);
		in->z_init = true;
		in->zs.next_in = in->in;
		in->zs.avail_in = (uInt)have;
	} else {
		in->in_len = have;
	}
	s->src = in;
	return 0;
}

static void src_close(struct src *in)
{
	if (in->z_init)
		inflateEnd(&in->zs);
	free(in->in);
	if (in->fd >= 0)
		close(in->fd);
}

/* ---- the window ------------------------------------------------------------- */

static void advance_linecol(struct scan *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s->buf[i] == '\n') {
			s->line++;
			s->col = 1;
		} else {
			s->col++;
		}
	}
}

/* Make at least need bytes available at pos (fewer only at the end). */
static int fill(struct scan *s, size_t need)
{
	while (!s->eof && s->len - s->pos < need) {
		if (!s->src) {
			s->eof = true;
			break;
		}
		if (s->pos) {
			/* drop what was consumed */
			advance_linecol(s, s->pos);
			memmove(s->own, s->own + s->pos, s->len - s->pos);
			s->len -= s->pos;
			s->pos = 0;
		}
		size_t step = kt_bundle_test_step ? kt_bundle_test_step : KT_BUNDLE_STEP;
		if (s->cap - s->len < step) {
			/* the window grows with the largest element seen */
			size_t nc = s->cap ? s->cap * 2 : 4 * step;
			if (nc > KT_BUNDLE_MAX_WINDOW)
				nc = KT_BUNDLE_MAX_WINDOW;
			if (nc - s->len < step)
				return bad(s, s->pos, "one element is larger than 256 MiB");
			s->own = kt_xrealloc(s->own, nc);
			s->cap = nc;
		}
		size_t got, want = s->cap - s->len;
		if (want > (kt_bundle_test_step ? kt_bundle_test_step : KT_BUNDLE_CHUNK))
			want = kt_bundle_test_step ? kt_bundle_test_step : KT_BUNDLE_CHUNK;
		int rc = src_read(s, s->own + s->len, want, &got);
		s->buf = s->own;
		if (rc < 0)
			return rc;
		if (got == 0)
			s->eof = true;
		s->len += got;
	}
	return 0;
}

static unsigned line_of(const struct scan *s, size_t off, unsigned *col)
{
	unsigned line = s->line, c = s->col;
	for (size_t i = 0; i < off && i < s->len; i++) {
		if (s->buf[i] == '\n') {
			line++;
			c = 1;
		} else {
			c++;
		}
	}
	if (col)
		*col = c;
	return line;
}

static int bad(struct scan *s, size_t off, const char *what)
{
	unsigned col;
	unsigned line = line_of(s, off, &col);
	kt_diag_set(s->d, KT_EXIT_INPUT, "%s:%u:%u: invalid bundle: %s", s->name, line, col, what);
	kt_diag_hint(s->d, "write bundles with 'ktrace collect -f FILE'; any 'kubectl get ... -o json' List also works");
	return -KT_EXIT_INPUT;
}

/* An error about the input as a whole. */
static int bad_file(struct scan *s, const char *what)
{
	kt_diag_set(s->d, KT_EXIT_INPUT, "%s: invalid bundle: %s", s->name, what);
	kt_diag_hint(s->d, "write bundles with 'ktrace collect -f FILE'; any 'kubectl get ... -o json' List also works");
	return -KT_EXIT_INPUT;
}

/* The next byte (after whitespace), or -1 at the end. */
static int peek(struct scan *s)
{
	for (;;) {
		if (s->pos >= s->len && fill(s, 1) < 0)
			return -2;
		if (s->pos >= s->len)
			return -1;
		char c = s->buf[s->pos];
		if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
			return (unsigned char)c;
		s->pos++;
	}
}

/* Extent of the value at pos, within lim: [pos, *end) is in the window.
 * Reading more may move the window: offsets taken before are stale, pos
 * is not. */
static int value_end(struct scan *s, const struct kt_jlimits *lim, size_t *end)
{
	struct kt_jscan st;
	memset(&st, 0, sizeof(st));
	for (;;) {
		size_t e;
		enum kt_jscan_rc rc = kt_jscan(&st, s->buf + s->pos, s->len - s->pos, s->eof, lim, &e);
		if (rc == KT_JSCAN_DONE) {
			*end = s->pos + e;
			return 0;
		}
		if (rc == KT_JSCAN_MORE) {
			if (fill(s, s->len - s->pos + 1) < 0)
				return -KT_EXIT_INPUT;
			continue;
		}
		char why[96];
		return bad(s, s->pos + st.off, rc == KT_JSCAN_BAD && s->eof ? "truncated (unexpected end of file)"
									     : kt_jscan_why(rc, lim, why, sizeof(why)));
	}
}

static int parse_at(struct scan *s, size_t start, size_t end, cJSON **out)
{
	*out = cJSON_ParseWithLength(s->buf + start, end - start);
	if (!*out) {
		const char *ep = cJSON_GetErrorPtr();
		size_t off = start;
		if (ep && ep >= s->buf + start && ep <= s->buf + end)
			off = (size_t)(ep - s->buf);
		return bad(s, off, "malformed JSON");
	}
	return 0;
}

/* Parse the value at pos (within lim) and move past it. */
static int next_value(struct scan *s, const struct kt_jlimits *lim, cJSON **out, size_t *start)
{
	size_t end;
	int rc = value_end(s, lim, &end);
	if (rc < 0)
		return rc;
	*start = s->pos; /* after value_end: the window may have moved */
	rc = parse_at(s, s->pos, end, out);
	s->pos = end;
	return rc;
}

static int read_key(struct scan *s, char *key, size_t klen)
{
	if (peek(s) != '"')
		return s->d->code ? -s->d->code : bad(s, s->pos, "expected a key");
	size_t end;
	int rc = value_end(s, &lim_small, &end);
	if (rc < 0)
		return rc;
	size_t n = end - s->pos - 2;
	if (n >= klen)
		n = klen - 1;
	memcpy(key, s->buf + s->pos + 1, n);
	key[n] = 0;
	s->pos = end;
	if (peek(s) != ':')
		return s->d->code ? -s->d->code : bad(s, s->pos, "expected ':'");
	s->pos++;
	if (peek(s) < 0)
		return s->d->code ? -s->d->code : bad(s, s->pos, "truncated (unexpected end of file)");
	return 0;
}

/* ---- loading ----------------------------------------------------------------- */

struct load {
	struct scan s;
	struct kt_snapshot *snap;
	const char *default_ns;
	const char *hint;        /* kind of List items without one */
	bool defer;              /* List items before the List's "kind": keep kind-less ones */
	char *deferred;          /* [u32 length][text]... */
	size_t n_deferred, cap_deferred;
};

typedef int (*elem_fn)(struct load *L, const cJSON *o, size_t start, size_t end);

static int ingest_obj(struct load *L, const cJSON *o, size_t start, size_t end)
{
	if (L->defer && cJSON_IsObject(o) && !cJSON_GetObjectItemCaseSensitive(o, "kind")) {
		uint32_t n = (uint32_t)(end - start);
		if (L->n_deferred + n + 4 > KT_BUNDLE_MAX_DEFERRED)
			return kt_diag_set(L->s.d, KT_EXIT_INPUT,
					   "List items without \"kind\" before the List's \"kind\" exceed %u MiB",
					   KT_BUNDLE_MAX_DEFERRED >> 20);
		if (L->n_deferred + n + 4 > L->cap_deferred) {
			L->cap_deferred = (L->n_deferred + n + 4) * 2;
			L->deferred = kt_xrealloc(L->deferred, L->cap_deferred);
		}
		memcpy(L->deferred + L->n_deferred, &n, 4);
		memcpy(L->deferred + L->n_deferred + 4, L->s.buf + start, n);
		L->n_deferred += n + 4;
		return 0;
	}
	return kt_obj_ingest_ns(L->snap, o, L->hint, L->default_ns, L->s.d);
}

static int ingest_node(struct load *L, const cJSON *o, size_t start, size_t end)
{
	return kt_dp_node_from_json(L->snap, o, L->s.d);
}

/* A fleet element's "state": one node object, taken out of snap->dp. */
static int fleet_state(struct load *L, const cJSON *o, struct kt_dp_node *out)
{
	struct kt_snapshot *snap = L->snap;
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");
	uint32_t before = snap->n_dp;
	if (!cJSON_IsObject(st))
		return kt_diag_set(L->s.d, KT_EXIT_INPUT, "fleet element without a \"state\" object");
	int rc = kt_dp_node_from_json(snap, st, L->s.d);
	if (rc < 0)
		return rc;
	if (snap->n_dp != before + 1)
		return kt_diag_set(L->s.d, KT_EXIT_INPUT, "fleet element: \"state\" is not a node object");
	*out = snap->dp[--snap->n_dp];
	return 0;
}

static struct kt_fleet *fleet_of(struct kt_snapshot *snap)
{
	return snap->fleet ? snap->fleet : kt_fleet_new(snap);
}

static int ingest_fleet_majority(struct load *L, const cJSON *o)
{
	struct kt_fleet *f = fleet_of(L->snap);
	if (f->majority.svcs)
		return kt_diag_set(L->s.d, KT_EXIT_INPUT, "\"fleetMajority\" given twice");
	int rc = fleet_state(L, o, &f->majority);
	if (rc < 0)
		return rc;
	f->majority.node = "";
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "agentNamespace"));
	f->agent_namespace = ns ? kt_intern(L->snap->arena, ns) : NULL;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "services");
	f->n_keys = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 4e9 ? (uint32_t)v->valuedouble : 0;
	v = cJSON_GetObjectItemCaseSensitive(o, "deviating");
	f->n_deviating = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 4e9 ? (uint32_t)v->valuedouble : 0;
	v = cJSON_GetObjectItemCaseSensitive(o, "nodesAsked");
	f->n_asked = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 4e9 ? (uint32_t)v->valuedouble : 0;
	return 0;
}

static int ingest_fleet_node(struct load *L, const cJSON *o, size_t start, size_t end)
{
	struct kt_snapshot *snap = L->snap;
	struct kt_fleet *f = fleet_of(snap);
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "node"));
	if (!name || !*name || strlen(name) > 253)
		return kt_diag_set(L->s.d, KT_EXIT_INPUT, "fleet node without a \"node\" name");
	if (f->n_nodes >= 100000)
		return kt_diag_set(L->s.d, KT_EXIT_INPUT, "more than 100000 fleet nodes");
	struct kt_dp_node st;
	int rc = fleet_state(L, o, &st);
	if (rc < 0)
		return rc;
	struct kt_fleet_node *n = kt_fleet_add_node(f, snap, name);
	n->dev = st;
	n->dev.node = n->node;
	n->pod = kt_intern(snap->arena, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "pod")));
	n->state_id = kt_intern(snap->arena, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "stateId")));
	n->agent_version = kt_intern(snap->arena, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "agentVersion")));
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "takenMs");
	n->taken_ms = cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 1e16 ? (int64_t)t->valuedouble : 0;
	const cJSON *ab = cJSON_GetObjectItemCaseSensitive(o, "absent"), *k;
	int na = cJSON_IsArray(ab) ? cJSON_GetArraySize(ab) : 0;
	n->absent = KT_ANEW(snap->arena, const char *, na + 1);
	cJSON_ArrayForEach(k, ab)
		if (cJSON_IsString(k) && strchr(k->valuestring, '/'))
			n->absent[n->n_absent++] = kt_intern(snap->arena, k->valuestring);
	return 0;
}

static int ingest_flow(struct load *L, const cJSON *o, size_t start, size_t end)
{
	return kt_flow_sample_from_json(L->snap, o, L->s.d);
}

static int ingest_gap(struct load *L, const cJSON *o, size_t start, size_t end)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "what");
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(o, "why");
	if (cJSON_IsString(w) && cJSON_IsString(y))
		kt_snapshot_gap(L->snap, w->valuestring, "%s", y->valuestring);
	return 0;
}

/* Every element of the array at pos, each within lim, through fn. */
static int each_element(struct load *L, const struct kt_jlimits *lim, elem_fn fn)
{
	struct scan *s = &L->s;
	int c = peek(s);
	if (c != '[')
		return s->d->code ? -s->d->code : bad(s, s->pos, "expected an array");
	s->pos++;
	for (uint32_t n = 0;; n++) {
		c = peek(s);
		if (c == ']') {
			s->pos++;
			return 0;
		}
		if (c < 0)
			return s->d->code ? -s->d->code : bad(s, s->pos, "truncated array (unexpected end of file)");
		if (n >= KT_BUNDLE_MAX_ELEMENTS)
			return bad(s, s->pos, "more than 5000000 elements in one array");
		size_t start, end;
		int rc = value_end(s, lim, &end);
		if (rc < 0)
			return rc;
		start = s->pos; /* the window may have moved: pos is where the value starts */
		cJSON *e;
		rc = parse_at(s, start, end, &e);
		if (rc < 0)
			return rc;
		rc = fn(L, e, start, end);
		cJSON_Delete(e);
		if (rc < 0) {
			char msg[sizeof(s->d->msg)];
			memcpy(msg, s->d->msg, sizeof(msg));
			kt_diag_reset(s->d);
			return bad(s, start, msg);
		}
		s->pos = end;
		c = peek(s);
		if (c == ',') {
			s->pos++;
			continue;
		}
		if (c == ']') {
			s->pos++;
			return 0;
		}
		return s->d->code ? -s->d->code : bad(s, s->pos, "expected ',' or ']' in array");
	}
}

static int replay_deferred(struct load *L)
{
	for (size_t off = 0; off < L->n_deferred;) {
		uint32_t n;
		memcpy(&n, L->deferred + off, 4);
		cJSON *o = cJSON_ParseWithLength(L->deferred + off + 4, n);
		int rc = o ? kt_obj_ingest_ns(L->snap, o, L->hint, L->default_ns, L->s.d) : 0;
		cJSON_Delete(o);
		if (rc < 0)
			return rc;
		off += 4 + (size_t)n;
	}
	return 0;
}

struct top {
	char kind[128];
	long version;
	bool is_bundle, saw_items;
};

/* A top-level scalar or small object: kind, version, created, source. */
static int top_value(struct load *L, struct top *t, const char *key)
{
	struct scan *s = &L->s;
	cJSON *v;
	size_t start;
	int rc = next_value(s, &lim_small, &v, &start);
	if (rc < 0)
		return rc;
	if (!strcmp(key, "kind") && cJSON_IsString(v)) {
		snprintf(t->kind, sizeof(t->kind), "%s", v->valuestring);
		size_t kl = strlen(t->kind);
		t->is_bundle = !strcmp(t->kind, "KtraceBundle");
		L->snap->bundle_header |= t->is_bundle;
		if (!t->is_bundle && strcmp(t->kind, "List") && !(kl > 4 && !strcmp(t->kind + kl - 4, "List")))
			rc = bad(s, start, "kind is neither KtraceBundle nor a Kubernetes List");
	} else if (!strcmp(key, "version")) {
		if (!cJSON_IsNumber(v)) {
			rc = bad(s, start, "\"version\" is not a number");
		} else {
			t->version = v->valuedouble >= 0 && v->valuedouble < 1e9 ? (long)v->valuedouble : 999999999;
			if (t->version != KT_BUNDLE_VERSION) {
				unsigned col;
				unsigned line = line_of(s, start, &col);
				kt_diag_set(s->d, KT_EXIT_INPUT,
					    "%s:%u:%u: bundle version %ld is not supported (this ktrace reads version %d)",
					    s->name, line, col, t->version, KT_BUNDLE_VERSION);
				kt_diag_hint(s->d, "collect the bundle again with this ktrace version");
				rc = -KT_EXIT_INPUT;
			}
		}
	} else if (!strcmp(key, "listed") && cJSON_IsArray(v)) {
		/* the kinds the collector listed completely: absence is evidence */
		const cJSON *e;
		cJSON_ArrayForEach(e, v)
		{
			if (cJSON_IsString(e))
				L->snap->listed |= kt_listed_bit(e->valuestring);
		}
	} else if (!strcmp(key, "created") && cJSON_IsString(v)) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		if (strptime(v->valuestring, "%Y-%m-%dT%H:%M:%S", &tm))
			L->snap->taken = (int64_t)timegm(&tm);
	} else if (!strcmp(key, "source") && cJSON_IsObject(v)) {
		struct kt_snapshot *snap = L->snap;
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, "context");
		if (cJSON_IsString(x))
			snap->context = kt_intern(snap->arena, x->valuestring);
		x = cJSON_GetObjectItemCaseSensitive(v, "server");
		if (cJSON_IsString(x))
			snap->origin = kt_intern(snap->arena, x->valuestring);
		x = cJSON_GetObjectItemCaseSensitive(v, "clusterVersion");
		if (cJSON_IsString(x))
			snap->cluster_version = kt_intern(snap->arena, x->valuestring);
	}
	cJSON_Delete(v);
	return rc;
}

static int top_member(struct load *L, struct top *t, const char *key)
{
	struct scan *s = &L->s;
	if (!strcmp(key, "objects")) {
		if (!t->is_bundle || t->version < 0)
			return bad(s, s->pos, "\"kind\": \"KtraceBundle\" and \"version\" must come before \"objects\"");
		L->hint = NULL;
		L->defer = false;
		return each_element(L, &lim_object, ingest_obj);
	}
	if (!strcmp(key, "items")) {
		/* kubectl writes "items" before "kind": items without a kind
		 * of their own wait for the List's */
		char hb[128];
		const char *h = kt_kind_from_list(t->kind, hb, sizeof(hb));
		L->hint = h && *h ? kt_intern(L->snap->arena, h) : NULL;
		L->defer = !t->kind[0];
		t->saw_items = true;
		int rc = each_element(L, &lim_object, ingest_obj);
		L->defer = false;
		return rc;
	}
	if (!strcmp(key, "nodes") && t->is_bundle)
		return each_element(L, &lim_node, ingest_node);
	if (!strcmp(key, "flows") && t->is_bundle)
		return each_element(L, &lim_flow, ingest_flow);
	if (!strcmp(key, "gaps") && t->is_bundle)
		return each_element(L, &lim_small, ingest_gap);
	if (!strcmp(key, "fleetNodes") && t->is_bundle)
		return each_element(L, &lim_node, ingest_fleet_node);
	if (!strcmp(key, "fleetMajority") && t->is_bundle) {
		cJSON *v = NULL;
		size_t start;
		int rc = next_value(s, &lim_node, &v, &start);
		if (rc == 0 && !cJSON_IsObject(v))
			rc = bad(s, start, "\"fleetMajority\" is not an object");
		if (rc == 0 && (rc = ingest_fleet_majority(L, v)) < 0) {
			char msg[sizeof(s->d->msg)];
			memcpy(msg, s->d->msg, sizeof(msg));
			kt_diag_reset(s->d);
			rc = bad(s, start, msg);
		}
		cJSON_Delete(v);
		return rc;
	}
	if (!strcmp(key, "metadata") || !strcmp(key, "apiVersion") || !strcmp(key, "kind") || !strcmp(key, "version") ||
	    !strcmp(key, "created") || !strcmp(key, "source") || (!strcmp(key, "listed") && t->is_bundle))
		return top_value(L, t, key);
	/* anything else: skipped unparsed (bounded like an object) */
	size_t end;
	int rc = value_end(s, &lim_object, &end);
	if (rc == 0)
		s->pos = end;
	return rc;
}

static int load_scan(struct load *L)
{
	struct scan *s = &L->s;
	struct top t = {.version = -1};
	int c = peek(s);
	if (c == -1)
		return bad(s, s->pos, "empty file");
	if (c < 0)
		return -s->d->code;
	if (c != '{')
		return bad(s, s->pos, "not a JSON object");
	s->pos++;
	for (;;) {
		c = peek(s);
		if (c == '}')
			break;
		char key[64];
		int rc = read_key(s, key, sizeof(key));
		if (rc == 0)
			rc = top_member(L, &t, key);
		if (rc < 0)
			return rc;
		c = peek(s);
		if (c == ',') {
			s->pos++;
			continue;
		}
		if (c == '}')
			break;
		if (c == -2)
			return -s->d->code;
		return bad(s, s->pos, c == -1 ? "truncated (unexpected end of file)" : "expected ',' or '}'");
	}
	if (!t.kind[0])
		return bad_file(s, "no \"kind\" (expected KtraceBundle or a Kubernetes List)");
	if (t.is_bundle && t.version < 0)
		return bad_file(s, "no \"version\"");
	if (!t.saw_items && !t.is_bundle)
		return bad_file(s, "a List without \"items\"");
	if (!t.is_bundle) {
		/* a typed list (PodList) holds every object of its kind that was
		 * asked for; a plain List only what someone put in it */
		char hb[128];
		const char *h = kt_kind_from_list(t.kind, hb, sizeof(hb));
		if (h && *h)
			L->snap->listed |= kt_listed_bit(h);
	}
	if (L->n_deferred) {
		char hb[128];
		const char *h = kt_kind_from_list(t.kind, hb, sizeof(hb));
		L->hint = h && *h ? kt_intern(L->snap->arena, h) : NULL;
		return replay_deferred(L);
	}
	return 0;
}

/* Load one input (memory when src is NULL) into snap. */
static int load_into(const char *name, const char *buf, size_t len, struct src *src, struct kt_snapshot *snap,
		     const char *default_ns, struct kt_diag *d)
{
	struct load L;
	memset(&L, 0, sizeof(L));
	L.s.name = name;
	L.s.buf = buf;
	L.s.len = len;
	L.s.eof = src == NULL;
	L.s.line = L.s.col = 1;
	L.s.d = d;
	L.s.src = src;
	L.snap = snap;
	L.default_ns = default_ns;
	int rc = load_scan(&L);
	free(L.s.own);
	free(L.deferred);
	return rc;
}

static struct kt_snapshot *new_snap(const char *origin)
{
	struct kt_snapshot *snap = kt_snapshot_new();
	snap->source = kt_intern(snap->arena, "bundle");
	snap->origin = kt_intern(snap->arena, origin);
	return snap;
}

static int done(struct kt_snapshot *snap, int rc, struct kt_snapshot **out)
{
	if (rc < 0) {
		kt_snapshot_free(snap);
		return rc;
	}
	kt_snapshot_finish(snap);
	*out = snap;
	return 0;
}

int kt_bundle_load_mem(const char *name, const char *buf, size_t len, struct kt_snapshot **out, struct kt_diag *d)
{
	struct kt_snapshot *snap = new_snap(name);
	return done(snap, load_into(name, buf, len, NULL, snap, NULL, d), out);
}

/* Stream one file ("-" is stdin) into snap. */
static int load_file(const char *path, struct kt_snapshot *snap, const char *default_ns, struct kt_diag *d)
{
	int fd = !strcmp(path, "-") ? fcntl(0, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		kt_diag_set(d, KT_EXIT_INPUT, "cannot read bundle '%s': %s", path,
			    strerror(e));
		kt_diag_hint(d, "write one with 'ktrace collect -f FILE', or use '--from demo'");
		return -d->code;
	}
	struct scan tmp = {.name = path, .d = d};
	struct src in;
	int rc = src_open(&tmp, &in, fd);
	if (rc == 0)
		rc = load_into(path, NULL, 0, &in, snap, default_ns, d);
	else
		in.fd = fd;
	src_close(&in);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* A directory of bundles and/or Kubernetes List files (*.json, *.json.gz),
 * merged into one snapshot in name order: the fixture-cluster layout. */
static int load_dir(const char *dir, const char *default_ns, struct kt_snapshot **out, struct kt_diag *d)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot read directory '%s': %s", dir, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (!ends_with(de->d_name, ".json") && !ends_with(de->d_name, ".json.gz"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = kt_xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = kt_xstrdup(de->d_name);
	}
	closedir(dh);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	struct kt_snapshot *snap = new_snap(dir);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		rc = load_file(path, snap, default_ns, d);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc == 0 && n == 0)
		rc = kt_diag_set(d, KT_EXIT_INPUT, "directory '%s' has no *.json bundle or List files", dir);
	return done(snap, rc, out);
}

extern const char kt_demo_bundle[];
extern const char kt_demo_bundle_end[];

int kt_bundle_load_ns(const char *from, const char *default_ns, struct kt_snapshot **out, struct kt_diag *d)
{
	if (!strcmp(from, "demo")) {
		int rc = kt_bundle_load_mem("demo", kt_demo_bundle, (size_t)(kt_demo_bundle_end - kt_demo_bundle),
					    out, d);
		if (rc == 0)
			(*out)->source = kt_intern((*out)->arena, "demo");
		return rc;
	}
	struct stat st;
	if (strcmp(from, "-") && stat(from, &st) == 0 && S_ISDIR(st.st_mode))
		return load_dir(from, default_ns, out, d);
	struct kt_snapshot *snap = new_snap(from);
	return done(snap, load_file(from, snap, default_ns, d), out);
}

int kt_bundle_load(const char *from, struct kt_snapshot **out, struct kt_diag *d)
{
	return kt_bundle_load_ns(from, NULL, out, d);
}
