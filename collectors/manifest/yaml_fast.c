/*
 * Fast YAML scanner for the manifest loader: turns the simple block-style
 * YAML that kubectl, Helm and Kustomize emit straight into builder events
 * (struct kt_yfast_ops), with the marks libyaml 0.2.5 would give, about
 * an order of magnitude faster than libyaml's scanner and parser. It owns
 * nothing beyond one call; it never allocates per node and keeps no static
 * state (two threads parse at once).
 *
 * The subset, line by line, with an explicit stack of open block
 * collections (no recursion: nesting comes from untrusted input):
 *   - blank lines, comments, CRLF line ends; "---" at column 0 followed by
 *     spaces/EOL (and maybe a comment) between documents;
 *   - block mappings "key: value" / "key:" + EOL, block sequences
 *     "- value" / "-" + EOL, the compact forms "- key: value" and "- - x",
 *     indentless sequences ("- " at the column of the key they belong to),
 *     a value on its own, deeper line (Helm's "resources:\n  {}");
 *   - single-line plain, single- and double-quoted scalars (simple escapes
 *     only), literal block scalars ("|", "|-", "|+") and flow collections
 *     that open and close on one line.
 * Anything else (anchors, aliases, tags, folded scalars, indentation
 * indicators, multi-line plain or quoted scalars, complex keys,
 * directives, "...", content after "---", odd indentation, a root scalar,
 * bytes other than printable ASCII and line ends) and every syntax error
 * makes it bail out of the document: the caller discards that document's
 * events and lets libyaml parse it, so libyaml stays the reference for
 * everything. Builder errors (nesting, size limits) bail out too, so that
 * libyaml reports them in its own order.
 */
#include <stdlib.h>
#include <string.h>

#include "collectors/manifest/yaml_fast.h"

#define KT_YF_MAX_KEY 1000  /* libyaml forgets a simple key after 1024 chars */
#define KT_YF_MAX_FLOW 64   /* flow nesting handled here; deeper: libyaml */

enum { BAIL = 1 };

struct blk {
	uint32_t col;
	bool seq;
	bool indentless;         /* a sequence at its parent key's column */
};

enum pend { P_NONE, P_MAPVAL, P_SEQITEM };

struct fp {
	const char *buf, *end;
	const char *ls, *le;     /* current line; le excludes "\r\n" */
	const char *next;        /* start of the next line */
	uint32_t line;           /* 0-based line of ls */
	struct blk *st;
	unsigned n, cap, max;
	enum pend pend;          /* "key:" or "-" ended the previous line */
	struct kt_ymark pend_mark;
	bool root_pending;       /* no root collection yet in this document */
	char *tmp;               /* unescaped quoted scalars */
	size_t tmp_cap;
	const struct kt_yfast_ops *ops;
	void *ctx;
};

/* Forward a callback's verdict: 1 bail, <0 stop. */
#define TRY(x)                         \
	do {                           \
		int r_ = (x);          \
		if (r_)                \
			return r_;     \
	} while (0)

/* 16 bytes at a time (GCC/clang vector extensions: SSE2, NEON, or plain
 * words); a block with a control byte other than '\n' is checked byte by
 * byte ('\r' must start "\r\n"). */
typedef unsigned char kt_v16 __attribute__((vector_size(16)));

static bool bytes_ok(const unsigned char *p, const unsigned char *q, const unsigned char *e)
{
	for (; p < q; p++) {
		unsigned char c = *p;
		if ((c >= 0x20 && c <= 0x7e) || c == '\n' || (c == '\r' && p + 1 < e && p[1] == '\n'))
			continue;
		return false;
	}
	return true;
}

bool kt_yfast_eligible(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *e = p + len;
	for (; e - p >= 16; p += 16) {
		kt_v16 v, bad;
		uint64_t w[2];
		memcpy(&v, p, 16);
		bad = (kt_v16)((v < 0x20) & (v != '\n')) | (kt_v16)(v > 0x7e);
		memcpy(w, &bad, 16);
		if ((w[0] | w[1]) && !bytes_ok(p, p + 16, e))
			return false;
	}
	return bytes_ok(p, e, e);
}

static void next_line(struct fp *f)
{
	f->ls = f->next;
	const char *nl = memchr(f->ls, '\n', (size_t)(f->end - f->ls));
	f->le = nl ? nl : f->end;
	f->next = nl ? nl + 1 : f->end;
	if (f->le > f->ls && f->le[-1] == '\r')
		f->le--;
}

static struct kt_ymark mark(const struct fp *f, const char *p)
{
	return (struct kt_ymark){f->line, (uint32_t)(p - f->ls)};
}

static const char *skip_sp(const char *p, const char *e)
{
	while (p < e && *p == ' ')
		p++;
	return p;
}

/* "-" followed by a space or the end of the line: a block entry. */
static bool is_dash(const struct fp *f, const char *p)
{
	return *p == '-' && (p + 1 == f->le || p[1] == ' ');
}

static struct blk *top(struct fp *f)
{
	return f->n ? &f->st[f->n - 1] : NULL;
}

static int push(struct fp *f, bool seq, bool indentless, const char *p)
{
	if (f->n >= f->max)
		return BAIL;
	if (f->n == f->cap) {
		unsigned nc = f->cap ? f->cap * 2 : 32;
		struct blk *ns = realloc(f->st, nc * sizeof(*ns));
		if (!ns)
			abort();
		f->st = ns;
		f->cap = nc;
	}
	struct kt_ymark m = mark(f, p);
	f->st[f->n++] = (struct blk){m.col, seq, indentless};
	f->root_pending = false;
	return f->ops->start(f->ctx, seq, &m);
}

static int pop(struct fp *f)
{
	f->n--;
	return f->ops->end(f->ctx);
}

static char *tmp_room(struct fp *f, size_t n)
{
	if (n > f->tmp_cap) {
		size_t nc = f->tmp_cap ? f->tmp_cap : 256;
		while (nc < n)
			nc *= 2;
		char *t = realloc(f->tmp, nc);
		if (!t)
			abort();
		f->tmp = t;
		f->tmp_cap = nc;
	}
	return f->tmp;
}

struct scalar {
	const char *v;
	size_t n;
	bool plain;
	const char *after;       /* first byte after the scalar (closing quote included) */
};

/* A single-line quoted scalar at p; false: not one we handle. */
static bool quoted(struct fp *f, const char *p, struct scalar *s)
{
	const char *e = f->le;
	char q = *p;
	const char *b = p + 1, *c = b;
	bool esc = false;
	for (; c < e; c++) {
		if (*c == q) {
			if (q == '\'' && c + 1 < e && c[1] == '\'') {
				esc = true;
				c++;
				continue;
			}
			break;
		}
		if (q == '"' && *c == '\\') {
			esc = true;
			c++;
			if (c == e)
				return false; /* an escaped line break */
		}
	}
	if (c >= e)
		return false; /* continues on the next line */
	s->plain = false;
	s->after = c + 1;
	if (!esc) {
		s->v = b;
		s->n = (size_t)(c - b);
		return true;
	}
	char *o = tmp_room(f, (size_t)(c - b)), *w = o;
	for (const char *r = b; r < c; r++) {
		if (q == '\'') {
			*w++ = *r;
			if (*r == '\'')
				r++;
			continue;
		}
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		switch (*++r) {
		case '0': *w++ = '\0'; break;
		case 'a': *w++ = '\a'; break;
		case 'b': *w++ = '\b'; break;
		case 't': *w++ = '\t'; break;
		case 'n': *w++ = '\n'; break;
		case 'v': *w++ = '\v'; break;
		case 'f': *w++ = '\f'; break;
		case 'r': *w++ = '\r'; break;
		case 'e': *w++ = '\x1b'; break;
		case ' ': *w++ = ' '; break;
		case '"': *w++ = '"'; break;
		case '/': *w++ = '/'; break;
		case '\\': *w++ = '\\'; break;
		default: return false; /* \x \u \U \N \_ \L \P and errors: libyaml's business */
		}
	}
	s->v = o;
	s->n = (size_t)(w - o);
	return true;
}

/* Can a plain scalar start at p? The indicators libyaml refuses, and
 * "?" / ":" (legal before a non-blank in block context, left to libyaml). */
static bool plain_start(const struct fp *f, const char *p)
{
	switch (*p) {
	case '-':
		return p + 1 < f->le && p[1] != ' ';
	case '?': case ':': case ',': case '[': case ']': case '{': case '}': case '#': case '&': case '*':
	case '!': case '|': case '>': case '\'': case '"': case '%': case '@': case '`':
		return false;
	default:
		return true;
	}
}

/* A scalar at p (not a flow collection). Plain ones end at ": ", ":"+EOL,
 * " #" and the end of the line, and in flow context also at ",[]{}";
 * trailing spaces are not part of them. */
static bool scalar(struct fp *f, const char *p, bool flow, struct scalar *s)
{
	if (*p == '"' || *p == '\'')
		return quoted(f, p, s);
	if (!plain_start(f, p))
		return false;
	/* bytes that may end a plain scalar (read-only: shared by threads) */
	static const bool stop_block[256] = {[':'] = true, [' '] = true};
	static const bool stop_flow[256] = {[':'] = true, [' '] = true, [','] = true, ['['] = true,
					    [']'] = true, ['{'] = true, ['}'] = true, ['?'] = true};
	const bool *stop = flow ? stop_flow : stop_block;
	const char *e = f->le, *c = p, *vend = p;
	for (;;) {
		const char *r = c;
		while (c < e && !stop[(unsigned char)*c])
			c++;
		if (c > r)
			vend = c;
		if (c == e)
			break;
		if (*c == ':') {
			if (c + 1 == e || c[1] == ' ')
				break;
			if (flow)
				return false; /* "a:b" in flow context: libyaml's rules are subtle */
			vend = ++c;
		} else if (*c == ' ') {
			r = skip_sp(c, e);
			if (r == e || *r == '#')
				break;
			c = r;
		} else if (*c == '?') {
			return false;
		} else {
			break; /* ",[]{}" in flow context */
		}
	}
	s->v = p;
	s->n = (size_t)(vend - p);
	s->plain = true;
	s->after = vend;
	return true;
}

static int emit(struct fp *f, const struct scalar *s, const char *at)
{
	struct kt_ymark m = mark(f, at);
	return f->ops->scalar(f->ctx, s->v, s->n, s->plain, &m);
}

static int flow_open(struct fp *f, bool *kinds, unsigned *d, const char *p)
{
	if (*d == KT_YF_MAX_FLOW)
		return BAIL;
	kinds[(*d)++] = *p == '[';
	struct kt_ymark m = mark(f, p);
	return f->ops->start(f->ctx, *p == '[', &m);
}

/* A flow collection opening at *pp and closing on this line; *pp is moved
 * past its closing bracket. */
static int flow(struct fp *f, const char **pp)
{
	bool kinds[KT_YF_MAX_FLOW]; /* true: sequence */
	unsigned d = 0;
	enum { FIRST, ITEM, AFTER } st = FIRST;
	const char *p = *pp, *e = f->le;
	struct scalar s;
	TRY(flow_open(f, kinds, &d, p++));
	while (d) {
		p = skip_sp(p, e);
		if (p == e)
			return BAIL; /* spans lines */
		bool seq = kinds[d - 1];
		char close = seq ? ']' : '}';
		if (*p == close && st != ITEM) {
			p++;
			TRY(f->ops->end(f->ctx));
			d--;
			st = AFTER;
			continue;
		}
		if (st == AFTER) {
			if (*p != ',')
				return BAIL;
			p++;
			st = ITEM;
			continue;
		}
		if (!seq) {
			/* key ": " value */
			if (*p == '[' || *p == '{' || !scalar(f, p, true, &s))
				return BAIL;
			const char *c = skip_sp(s.after, e);
			if (c == e || *c != ':' || c + 1 == e || c[1] != ' ' || c - p > KT_YF_MAX_KEY)
				return BAIL;
			TRY(emit(f, &s, p));
			p = skip_sp(c + 1, e);
			if (p == e)
				return BAIL;
		}
		if (*p == '[' || *p == '{') {
			TRY(flow_open(f, kinds, &d, p++));
			st = FIRST;
			continue;
		}
		if (!scalar(f, p, true, &s))
			return BAIL;
		const char *c = skip_sp(s.after, e);
		if (c < e && *c == ':')
			return BAIL; /* a single-pair mapping in a sequence, or "{a: b: c}" */
		TRY(emit(f, &s, p));
		p = s.after;
		st = AFTER;
	}
	*pp = p;
	return 0;
}

/* After a value: only spaces, then the end of the line or a comment. */
static bool line_done(const struct fp *f, const char *p)
{
	const char *c = skip_sp(p, f->le);
	return c == f->le || (*c == '#' && c > p);
}

static void tmp_put(struct fp *f, size_t *used, const char *s, size_t n)
{
	char *t = tmp_room(f, *used + n + 1);
	memcpy(t + *used, s, n);
	*used += n;
}

static void tmp_breaks(struct fp *f, size_t *used, size_t n)
{
	char *t = tmp_room(f, *used + n + 1);
	memset(t + *used, '\n', n);
	*used += n;
}

/* A literal block scalar ("|", "|-", "|+"; no indentation indicator) at
 * p, a value position. Reads its lines as libyaml does: leading empty
 * lines kept, the indentation of the first content line, a line with
 * less (and not only spaces) ends it; clip, strip or keep the final line
 * breaks. The line loop goes on at the line that ended it. */
static int literal(struct fp *f, const char *p)
{
	const char *h = p + 1;
	int chomp = 0;
	if (h < f->le && (*h == '-' || *h == '+'))
		chomp = *h++ == '-' ? -1 : 1;
	if ((h < f->le && *h != ' ') || !line_done(f, h))
		return BAIL; /* an indentation indicator, "|#", content */
	struct kt_ymark m = mark(f, p);
	uint32_t min = f->n ? top(f)->col + 1 : 1; /* libyaml: parser->indent + 1, at least 1 */
	size_t indent = 0, used = 0, empty = 0;
	bool content = false, last_break = false;
	const char *q = f->next;
	uint32_t ln = f->line;
	while (q < f->end) {
		const char *nl = memchr(q, '\n', (size_t)(f->end - q));
		const char *le = nl ? nl : f->end, *next = nl ? nl + 1 : f->end;
		if (le > q && le[-1] == '\r')
			le--;
		size_t sp = (size_t)(skip_sp(q, le) - q);
		bool blank = q + sp == le;
		if (!content && blank) {
			if (sp > indent)
				indent = sp; /* the deepest leading empty line */
		} else if (!content) {
			if (sp < min || indent > sp)
				return BAIL; /* an empty scalar, or over-indented leading lines */
			indent = sp;
		} else if (!blank && sp < indent) {
			break; /* the end */
		}
		if (blank && (!content || sp <= indent)) {
			empty += nl != NULL; /* an empty line */
		} else {
			tmp_breaks(f, &used, (content && last_break) + empty);
			tmp_put(f, &used, q + indent, (size_t)(le - q) - indent);
			content = true;
			empty = 0;
			last_break = nl != NULL;
		}
		q = next;
		ln++;
	}
	if (!content)
		return BAIL;
	if (chomp >= 0 && last_break)
		tmp_breaks(f, &used, 1);
	if (chomp > 0)
		tmp_breaks(f, &used, empty);
	TRY(f->ops->scalar(f->ctx, f->tmp, used, false, &m));
	f->next = q; /* the line that ended it comes next */
	f->line = ln;
	return 0;
}

/* A node on the rest of the line after "- " or "key: " (no block
 * collection can start here except through the compact forms handled by
 * the caller). */
static int value(struct fp *f, const char *p)
{
	if (*p == '|')
		return literal(f, p);
	if (*p == '[' || *p == '{') {
		TRY(flow(f, &p));
		return line_done(f, p) ? 0 : BAIL;
	}
	struct scalar s;
	if (is_dash(f, p) || !scalar(f, p, false, &s))
		return BAIL;
	TRY(emit(f, &s, p));
	return line_done(f, s.after) ? 0 : BAIL;
}

/* One content line; p is its first non-space byte. */
static int line(struct fp *f, const char *p)
{
	uint32_t col = (uint32_t)(p - f->ls);
	bool fresh = f->root_pending; /* a new block collection may start at p */
	bool item = false;            /* a scalar or flow node may stand at p */
	struct blk *t = top(f);
	if (f->pend == P_MAPVAL) {
		if (col > t->col) {
			fresh = item = true; /* the value on its own line ("key:\n  {}") */
		} else if (col == t->col && is_dash(f, p)) {
			TRY(push(f, true, true, p));
		} else {
			TRY(f->ops->scalar(f->ctx, "", 0, true, &f->pend_mark));
		}
		f->pend = P_NONE;
	} else if (f->pend == P_SEQITEM) {
		if (col > t->col)
			fresh = item = true;
		else
			TRY(f->ops->scalar(f->ctx, "", 0, true, &f->pend_mark));
		f->pend = P_NONE;
	}
	if (!fresh) {
		while ((t = top(f)) && col < t->col)
			TRY(pop(f));
		if (t && t->indentless && col == t->col && !is_dash(f, p)) {
			TRY(pop(f));
			t = top(f);
		}
		if (!t || col != t->col)
			return BAIL;
	}
	for (;;) {
		t = top(f);
		if (is_dash(f, p)) {
			if (fresh)
				TRY(push(f, true, false, p));
			else if (!t || !t->seq || t->col != (uint32_t)(p - f->ls))
				return BAIL;
			const char *q = skip_sp(p + 1, f->le);
			if (q == f->le || *q == '#') {
				f->pend = P_SEQITEM;
				f->pend_mark = mark(f, p + 1);
				return 0;
			}
			p = q;
			fresh = item = true;
			continue;
		}
		if (*p == '[' || *p == '{' || *p == '|')
			return item ? value(f, p) : BAIL; /* flow keys and root nodes: libyaml */
		struct scalar s;
		if (!scalar(f, p, false, &s))
			return BAIL;
		const char *c = skip_sp(s.after, f->le);
		if (c < f->le && *c == ':' && (c + 1 == f->le || c[1] == ' ')) {
			if (c - p > KT_YF_MAX_KEY)
				return BAIL;
			if (fresh)
				TRY(push(f, false, false, p));
			else if (!t || t->seq || t->col != (uint32_t)(p - f->ls))
				return BAIL;
			TRY(emit(f, &s, p));
			const char *v = skip_sp(c + 1, f->le);
			if (v == f->le || *v == '#') {
				f->pend = P_MAPVAL;
				f->pend_mark = mark(f, c + 1);
				return 0;
			}
			return value(f, v);
		}
		if (!item)
			return BAIL; /* a root scalar, or a continuation line */
		TRY(emit(f, &s, p));
		return line_done(f, s.after) ? 0 : BAIL;
	}
}

/* Close the document: a pending empty value, open collections, deliver. */
static int doc_end(struct fp *f)
{
	if (f->pend != P_NONE)
		TRY(f->ops->scalar(f->ctx, "", 0, true, &f->pend_mark));
	f->pend = P_NONE;
	while (f->n)
		TRY(pop(f));
	return f->ops->doc_end(f->ctx);
}

static int run(struct fp *f, size_t off, uint32_t line0, size_t *doc_off, uint32_t *doc_line)
{
	bool in_doc = false;
	f->next = f->buf + off;
	f->line = line0 - 1; /* next_line() counts the first one (unsigned wrap) */
	*doc_off = off;
	*doc_line = line0;
	while (f->next < f->end) {
		next_line(f);
		f->line++;
		const char *p = skip_sp(f->ls, f->le);
		if (p == f->le || *p == '#')
			continue; /* blank or comment */
		if (p == f->ls && f->le - p >= 3 && (!memcmp(p, "---", 3) || !memcmp(p, "...", 3)) &&
		    (f->le - p == 3 || p[3] == ' ')) {
			if (*p == '.')
				return BAIL; /* ends the current document: libyaml's */
			if (in_doc)
				TRY(doc_end(f));
			*doc_off = (size_t)(f->ls - f->buf);
			*doc_line = f->line;
			const char *c = skip_sp(p + 3, f->le);
			if (c != f->le && *c != '#')
				return BAIL; /* content after "---" */
			in_doc = true;
			f->root_pending = true;
			TRY(f->ops->doc_start(f->ctx));
			continue;
		}
		if (!in_doc) {
			if (off != 0)
				return BAIL; /* only the first document may be implicit */
			in_doc = true;
			f->root_pending = true;
			TRY(f->ops->doc_start(f->ctx));
		}
		if (p == f->ls && *p == '%')
			return BAIL;
		TRY(line(f, p));
	}
	if (in_doc)
		TRY(doc_end(f));
	return 0;
}

int kt_yfast_parse(const char *buf, size_t len, size_t off, uint32_t line, unsigned max_nest,
		   const struct kt_yfast_ops *ops, void *ctx, size_t *bail_off, uint32_t *bail_line)
{
	struct fp f = {.buf = buf, .end = buf + len, .max = max_nest, .ops = ops, .ctx = ctx};
	int rc = run(&f, off, line, bail_off, bail_line);
	free(f.st);
	free(f.tmp);
	return rc;
}
