/*
 * Label selectors as written on the command line and in options
 * (`-l app=web,tier in (a,b),!canary`, --ingress-selector): parsed into the
 * model's struct kt_selector, matched with kt_selector_match(). One parser
 * for the rules, the source layer and the commands.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "ktrace/arena.h"
#include "ktrace/model.h"

static const char *trim(struct kt_arena *a, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return kt_arena_strndup(a, s, n);
}

static bool parse_req(const char *s, size_t n, struct kt_arena *a, struct kt_selreq *r)
{
	const char *e = s + n;
	const char *p;
	memset(r, 0, sizeof(*r));
	while (s < e && isspace((unsigned char)*s))
		s++;
	if (s >= e)
		return false;
	if (*s == '!') {
		r->key = trim(a, s + 1, (size_t)(e - s - 1));
		r->op = KT_SEL_NOTEXISTS;
		return *r->key != 0;
	}
	const char *paren = memchr(s, '(', (size_t)(e - s));
	if (paren) {
		const char *close = memchr(paren, ')', (size_t)(e - paren));
		if (!close)
			return false;
		/* key (in|notin) (a,b) */
		const char *sp = s;
		while (sp < paren && !isspace((unsigned char)*sp))
			sp++;
		r->key = trim(a, s, (size_t)(sp - s));
		const char *op = trim(a, sp, (size_t)(paren - sp));
		if (!strcmp(op, "in"))
			r->op = KT_SEL_IN;
		else if (!strcmp(op, "notin"))
			r->op = KT_SEL_NOTIN;
		else
			return false;
		uint32_t cnt = 1;
		for (p = paren + 1; p < close; p++)
			if (*p == ',')
				cnt++;
		r->values = KT_ANEW(a, const char *, cnt);
		const char *v = paren + 1;
		for (p = paren + 1; p <= close; p++) {
			if (p == close || *p == ',') {
				r->values[r->n_values++] = trim(a, v, (size_t)(p - v));
				v = p + 1;
			}
		}
		return *r->key != 0;
	}
	for (p = s; p < e; p++) {
		if (*p == '=' || (*p == '!' && p + 1 < e && p[1] == '=')) {
			bool neg = *p == '!';
			r->key = trim(a, s, (size_t)(p - s));
			const char *v = p + 1 + (neg || (p + 1 < e && p[1] == '='));
			r->op = neg ? KT_SEL_NOTIN : KT_SEL_IN;
			r->values = KT_ANEW(a, const char *, 1);
			r->values[0] = trim(a, v, (size_t)(e - v));
			r->n_values = 1;
			return *r->key != 0;
		}
	}
	r->key = trim(a, s, (size_t)(e - s));
	r->op = KT_SEL_EXISTS;
	return *r->key != 0;
}

bool kt_parse_label_selector(const char *str, struct kt_arena *a, struct kt_selector *sel)
{
	memset(sel, 0, sizeof(*sel));
	uint32_t cnt = 1;
	for (const char *p = str; *p; p++)
		if (*p == ',')
			cnt++;
	sel->exprs = KT_ANEW(a, struct kt_selreq, cnt);
	const char *s = str;
	int depth = 0;
	for (const char *p = str;; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		if (*p == 0 || (*p == ',' && depth == 0)) {
			if (p > s && !parse_req(s, (size_t)(p - s), a, &sel->exprs[sel->n_exprs++]))
				return false;
			if (!*p)
				break;
			s = p + 1;
		}
	}
	sel->present = sel->n_exprs > 0;
	return sel->present;
}
