/*
 * The YAML parse driver: feeds the tree builder (yaml_tree.c) from the fast
 * scanner (yaml_fast.c) for the simple block-style YAML tools emit, and
 * from libyaml's event API for every document the scanner bails out of
 * (libyaml hands back at the next explicit "---"). Problems end only the
 * document they are in, as kubectl's per-document decoding does: after a
 * syntax error or a limit, parsing resumes at the next "---" line; bytes
 * YAML does not allow (NUL, control characters, invalid UTF-8) are found
 * before parsing and reported at their own line and column, after every
 * earlier document was delivered. Also kt_yaml_dump(), the canonical text
 * of a parse for differential tests. Never prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "collectors/manifest/yaml_tree.h"
#include "ktrace/env.h"
#include "ktrace/xalloc.h"

/* ---- lines and document markers ------------------------------------------ */

/* Is there a "---" document marker at off (the start of a line)? */
static bool doc_marker(const char *buf, size_t len, size_t off)
{
	if (off + 3 > len || memcmp(buf + off, "---", 3))
		return false;
	return off + 3 == len || buf[off + 3] == ' ' || buf[off + 3] == '\t' || buf[off + 3] == '\r' ||
	       buf[off + 3] == '\n';
}

/* A forward-only cursor: byte offset of a line start and its 0-based line. */
struct cursor {
	const char *buf;
	size_t len, off;
	uint32_t line;
};

static void cur_next_line(struct cursor *c)
{
	const char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
	c->off = nl ? (size_t)(nl - c->buf) + 1 : c->len;
	c->line++;
}

/* Move to the start of 0-based line (never backwards). */
static void cur_to_line(struct cursor *c, uint32_t line)
{
	while (c->line < line && c->off < c->len)
		cur_next_line(c);
}

/* Move to the line holding byte off (never backwards). */
static void cur_to_byte(struct cursor *c, size_t off)
{
	for (;;) {
		const char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
		size_t next = nl ? (size_t)(nl - c->buf) + 1 : c->len;
		if (next > off || next >= c->len)
			return;
		c->off = next;
		c->line++;
	}
}

/* Advance to the next document marker line after the current one (or the
 * end of the buffer). */
static void cur_next_marker(struct cursor *c)
{
	do
		cur_next_line(c);
	while (c->off < c->len && !doc_marker(c->buf, c->len, c->off));
}

/* ---- bytes YAML does not allow --------------------------------------------
 * The characters libyaml's reader accepts: tab, LF, CR, 0x20-0x7E, U+0085,
 * U+00A0-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF, as well-formed UTF-8.
 * Returns the offset of the first other byte at or after i (len if none). */
static size_t bad_byte(const char *buf, size_t len, size_t i, char *msg, size_t msz)
{
	const unsigned char *s = (const unsigned char *)buf;
	while (i < len) {
		unsigned c = s[i], n, v;
		if (c < 0x80) {
			if (c == 0x09 || c == 0x0a || c == 0x0d || (c >= 0x20 && c <= 0x7e)) {
				i++;
				continue;
			}
			if (c == 0)
				snprintf(msg, msz, "NUL byte (binary data?)");
			else
				snprintf(msg, msz, "control character U+%04X is not allowed in YAML", c);
			return i;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 2;
			v = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3;
			v = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4;
			v = c & 0x07;
		} else {
			snprintf(msg, msz, "invalid UTF-8: byte 0x%02x cannot start a character (the file must be UTF-8)", c);
			return i;
		}
		if (i + n > len) {
			snprintf(msg, msz, "invalid UTF-8: incomplete character at the end of the file");
			return i;
		}
		for (unsigned k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				snprintf(msg, msz, "invalid UTF-8: byte 0x%02x after 0x%02x (the file must be UTF-8)",
					 s[i + k], c);
				return i;
			}
			v = v << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000)) {
			snprintf(msg, msz, "invalid UTF-8: overlong encoding of U+%04X", v);
			return i;
		}
		if (!(v == 0x85 || (v >= 0xa0 && v <= 0xd7ff) || (v >= 0xe000 && v <= 0xfffd) ||
		      (v >= 0x10000 && v <= 0x10ffff))) {
			snprintf(msg, msz, "character U+%04X is not allowed in YAML", v);
			return i;
		}
		i += n;
	}
	return len;
}

/* 1-based column of byte off on the line starting at line_off: characters,
 * as libyaml counts them. */
static uint32_t char_col(const char *buf, size_t line_off, size_t off)
{
	uint32_t col = 1;
	for (size_t i = line_off; i < off; i++)
		col += ((unsigned char)buf[i] & 0xc0) != 0x80;
	return col;
}

/* ---- libyaml ---------------------------------------------------------------- */

/* One libyaml event; line_off is added to its line (a stream parsed from
 * the middle of a buffer). */
static int on_event(struct builder *b, const yaml_event_t *e, uint32_t line_off)
{
	const struct kt_ymark m = {(uint32_t)e->start_mark.line + line_off, (uint32_t)e->start_mark.column};
	switch (e->type) {
	case YAML_SCALAR_EVENT:
		return kt_yb_scalar(b, (const char *)e->data.scalar.value, e->data.scalar.length,
				    e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, (const char *)e->data.scalar.tag,
				    (const char *)e->data.scalar.anchor, &m);
	case YAML_ALIAS_EVENT:
		return kt_yb_alias(b, (const char *)e->data.alias.anchor, &m);
	case YAML_SEQUENCE_START_EVENT:
		return kt_yb_start(b, true, (const char *)e->data.sequence_start.anchor, &m);
	case YAML_MAPPING_START_EVENT:
		return kt_yb_start(b, false, (const char *)e->data.mapping_start.anchor, &m);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return kt_yb_end(b, &m);
	default:
		return 0;
	}
}

static void libyaml_error(struct builder *b, const yaml_parser_t *p, uint32_t line_off)
{
	struct kt_yerr *err = b->err;
	err->line = (uint32_t)p->problem_mark.line + line_off + 1;
	err->col = (uint32_t)p->problem_mark.column + 1;
	err->line2 = 0;
	if (p->error == YAML_MEMORY_ERROR)
		snprintf(err->msg, sizeof(err->msg), "out of memory while parsing");
	else if (p->context)
		snprintf(err->msg, sizeof(err->msg), "%s %s", p->problem ? p->problem : "syntax error", p->context);
	else
		snprintf(err->msg, sizeof(err->msg), "%s", p->problem ? p->problem : "syntax error");
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
	bool ended = false;
	int rc = 0;
	if (!yaml_parser_initialize(&p))
		kt_oom();
	yaml_parser_set_input_string(&p, (const unsigned char *)buf + off, len - off);
	for (;;) {
		if (!yaml_parser_parse(&p, &e)) {
			libyaml_error(b, &p, line_off);
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
			kt_yb_clear_doc(b);
		} else if (t == YAML_DOCUMENT_END_EVENT) {
			rc = kt_yb_finish_doc(b);
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
	kt_yb_clear_doc(ctx);
	return 0;
}

static int fo_doc_end(void *ctx)
{
	int rc = kt_yb_finish_doc(ctx);
	return rc < 0 ? rc : 0;
}

static int fo_scalar(void *ctx, const char *v, size_t n, bool plain, const struct kt_ymark *m)
{
	return kt_yb_scalar(ctx, v, n, plain, NULL, NULL, m) < 0 ? 1 : 0;
}

static int fo_start(void *ctx, bool seq, const struct kt_ymark *m)
{
	return kt_yb_start(ctx, seq, NULL, m) < 0 ? 1 : 0;
}

static int fo_end(void *ctx)
{
	static const struct kt_ymark none;
	return kt_yb_end(ctx, &none) < 0 ? 1 : 0;
}

static const struct kt_yfast_ops fast_ops = {fo_doc_start, fo_doc_end, fo_scalar, fo_start, fo_end};

/* KTRACE_YAML=libyaml forces libyaml (debugging, A/B runs). */
static int yaml_mode(void)
{
	const char *v = kt_env_get(KT_ENV_YAML);
	return v && !strcmp(v, "libyaml") ? KT_YAML_LIBYAML : KT_YAML_DEFAULT;
}

/* buf[off..len) from 0-based line: the fast scanner document by document
 * when fast; a document it does not handle goes to libyaml, which hands
 * back at the next explicit "---". */
static int parse_run(struct builder *b, const char *buf, size_t len, size_t off, uint32_t line, bool fast, int mode,
		     bool *bailed)
{
	if (!fast) {
		if (mode == KT_YAML_FAST) {
			*bailed = true;
			return 0;
		}
		return yaml_run(b, buf, len, off, line, false, NULL, NULL);
	}
	for (;;) {
		size_t boff;
		uint32_t bline;
		int r = kt_yfast_parse(buf, len, off, line, b->max_depth + 2, &fast_ops, b, &boff, &bline);
		if (r <= 0)
			return r;
		kt_yb_clear_doc(b);
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

static void errs_add(struct kt_yerrs *e, const struct kt_yerr *x)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 4;
		e->v = kt_xreallocarray(e->v, e->cap, sizeof(*e->v));
	}
	e->v[e->n++] = *x;
}

void kt_yerrs_free(struct kt_yerrs *e)
{
	free(e->v);
	memset(e, 0, sizeof(*e));
}

/* The segment loop of kt_yparse: parse up to the document holding the next
 * invalid byte, report whatever went wrong, resume at the next document. */
static int parse_segments(struct builder *b, const char *buf, size_t len, int mode, struct kt_yerrs *errs,
			  bool *bailed)
{
	struct cursor cur = {buf, len, 0, 0};
	bool utf16 = len >= 2 && (((unsigned char)buf[0] == 0xff && (unsigned char)buf[1] == 0xfe) ||
				  ((unsigned char)buf[0] == 0xfe && (unsigned char)buf[1] == 0xff));
	bool fast = mode != KT_YAML_LIBYAML && kt_yfast_eligible(buf, len);
	bool check = !fast && !utf16; /* the scanner's subset is ASCII */
	int rc = 0;
	while (cur.off < len) {
		if (errs->n >= KT_Y_MAX_ERRORS - 1) {
			struct kt_yerr stop = {.line = cur.line + 1, .col = 1};
			snprintf(stop.msg, sizeof(stop.msg), "too many errors: the rest of the file was not read");
			errs_add(errs, &stop);
			return -1;
		}
		char bmsg[200];
		size_t bad = check ? bad_byte(buf, len, cur.off, bmsg, sizeof(bmsg)) : len;
		size_t end = len;
		if (bad < len) { /* parse the documents before the one holding it */
			struct cursor scan = cur;
			end = cur.off;
			while (scan.off <= bad && scan.off < len) {
				if (scan.off > cur.off && doc_marker(buf, len, scan.off))
					end = scan.off;
				cur_next_line(&scan);
			}
		}
		int r = 0;
		if (end > cur.off)
			r = parse_run(b, buf, end, cur.off, cur.line, fast, mode, bailed);
		if (r < -1 || *bailed)
			return r;
		if (r == -1) {
			errs_add(errs, b->err);
			rc = -1;
			kt_yb_clear_doc(b);
			/* the next document after the error's line (a marker on
			 * that very line starts the next document, unless it is
			 * where this parse began) */
			uint32_t from = b->err->line ? b->err->line - 1 : cur.line;
			struct cursor at = cur;
			cur_to_line(&at, from);
			if (at.off <= cur.off || !doc_marker(buf, len, at.off))
				cur_next_marker(&at);
			cur = at;
			continue;
		}
		if (bad >= len)
			break;
		struct kt_yerr e = {0};
		cur_to_byte(&cur, bad);
		e.line = cur.line + 1;
		e.col = char_col(buf, cur.off, bad);
		snprintf(e.msg, sizeof(e.msg), "%s", bmsg);
		errs_add(errs, &e);
		rc = -1;
		kt_yb_clear_doc(b);
		cur_next_marker(&cur);
	}
	return rc;
}

int kt_yparse(const char *buf, size_t len, unsigned max_depth, int mode, kt_ydoc_fn fn, kt_ytake_fn take, void *ctx,
	      struct kt_yerrs *errs, unsigned *delivered, bool *bailed)
{
	struct kt_yerr err = {0};
	struct builder b = {.max_depth = max_depth ? max_depth : 128, .err = &err, .take = take, .take_ctx = ctx,
			    .fn = fn};
	bool bail = false;
	kt_yb_init(&b);
	int rc = parse_segments(&b, buf, len, mode ? mode : yaml_mode(), errs, &bail);
	kt_yb_done(&b);
	if (delivered)
		*delivered = b.delivered;
	if (bailed)
		*bailed = bail;
	return rc;
}

int kt_yaml_parse(const char *buf, size_t len, unsigned max_depth, kt_ydoc_fn fn, void *ctx, struct kt_yerr *err)
{
	struct kt_yerrs errs = {0};
	int rc = kt_yparse(buf, len, max_depth, 0, fn, NULL, ctx, &errs, NULL, NULL);
	memset(err, 0, sizeof(*err));
	if (errs.n)
		*err = errs.v[0];
	kt_yerrs_free(&errs);
	return rc;
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
	const struct kt_yerr *w;
	unsigned n = kt_ypos_warnings(pos, &w);
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "warning %u:%u (%u): %s\n", w[i].line, w[i].col, w[i].line2, w[i].msg);
	return 0;
}

int kt_yaml_dump(const char *buf, size_t len, unsigned max_depth, enum kt_yaml_mode mode, char **out,
		 size_t *outlen)
{
	struct kt_yerrs errs = {0};
	bool bailed = false;
	FILE *f = open_memstream(out, outlen);
	if (!f)
		kt_oom();
	int rc = kt_yparse(buf, len, max_depth, mode, dump_doc, NULL, f, &errs, NULL, &bailed);
	if (bailed)
		fputs("bailed\n", f);
	else
		for (unsigned i = 0; i < errs.n; i++)
			fprintf(f, "error %d %u:%u: %s\n", rc, errs.v[i].line, errs.v[i].col, errs.v[i].msg);
	kt_yerrs_free(&errs);
	fclose(f);
	return bailed ? 1 : 0;
}
