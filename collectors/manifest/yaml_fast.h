/*
 * Internal to collectors/: a fast scanner for the simple block-style YAML
 * that kubectl, Helm and Kustomize emit. It produces the same events (and
 * marks) as libyaml 0.2.5 for that subset, document by document, and bails
 * out on anything else so the caller can hand the document to libyaml.
 * The subset and its rules are listed at the top of yaml_fast.c.
 */
#ifndef KT_COLLECTORS_YAML_FAST_H
#define KT_COLLECTORS_YAML_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kt_ymark {
	uint32_t line, col;      /* 0-based, as yaml_mark_t */
};

/* Event sink. Every callback returns 0 to go on, 1 to bail out (the
 * scanner stops and reports the document as not handled), or a negative
 * value to stop parsing altogether (returned as is). */
struct kt_yfast_ops {
	int (*doc_start)(void *ctx);
	int (*doc_end)(void *ctx);
	/* plain: plain style (plain scalars and empty ones) */
	int (*scalar)(void *ctx, const char *v, size_t n, bool plain, const struct kt_ymark *m);
	int (*start)(void *ctx, bool seq, const struct kt_ymark *m);
	int (*end)(void *ctx);
};

/* True when buf only holds bytes the scanner can count columns in as
 * libyaml does: '\n', 0x20-0x7e and "\r\n". */
bool kt_yfast_eligible(const char *buf, size_t len);

/* Scan buf from off (the start of a line, line number line, 0-based) to
 * the end, delivering documents through ops. Returns 0 when the whole
 * buffer was handled, 1 when a document is not in the subset (*bail_off /
 * *bail_line: where that document starts; documents before it were
 * delivered, the events of the bad one must be discarded), or a callback's
 * negative value. max_nest bounds the collection stack (bail beyond it). */
int kt_yfast_parse(const char *buf, size_t len, size_t off, uint32_t line, unsigned max_nest,
		   const struct kt_yfast_ops *ops, void *ctx, size_t *bail_off, uint32_t *bail_line);

#endif
