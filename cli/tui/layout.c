/*
 * Column layout and cell text for the dashboard (cli/tui/): which columns
 * fit the terminal width (added in a fixed, documented order, so a narrow
 * terminal drops the last ones first), and each cell's text made
 * visible-safe (kt_vis_escape: no control byte, bidi control or invalid
 * UTF-8 reaches the terminal), measured in display columns (wcwidth) and
 * cut with an ellipsis to exactly its width, so cells never overlap. No
 * curses calls and no data: the view decides what goes in each cell.
 */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "cli/tui/tui.h"
#include "ktrace/util.h"

void kt_tui_fit(struct kt_tui_col *cols, int n, const struct kt_tui_step *steps, int n_steps, int n_mandatory,
		int width)
{
	int used = 0;
	for (int i = 0; i < n; i++)
		cols[i].w = 0;
	for (int s = 0; s < n_steps; s++) {
		struct kt_tui_col *c = &cols[steps[s].col];
		int want = steps[s].width;
		/* a flexible column never widens past what its data needs */
		if (c->w && c->flex_max && want > c->flex_max)
			want = c->flex_max;
		if (want <= c->w)
			continue;
		int grow = want - c->w + (c->w ? 0 : (used ? 1 : 0)); /* a new column needs a separator */
		if (used + grow > width && s >= n_mandatory)
			break;
		c->w = want;
		used += grow;
	}
	/* what is left widens the flexible column, up to its maximum */
	for (int i = 0; i < n; i++)
		if (cols[i].flex_max && cols[i].w && used < width) {
			int add = width - used;
			if (cols[i].w + add > cols[i].flex_max)
				add = cols[i].flex_max - cols[i].w;
			if (add > 0) {
				cols[i].w += add;
				used += add;
			}
		}
	int x = 0;
	for (int i = 0; i < n; i++) {
		cols[i].x = x;
		if (cols[i].w)
			x += cols[i].w + 1;
	}
}

/* Display width of one character at s (n bytes); 1 for anything odd. */
static int char_width(const char *s, size_t *n)
{
	mbstate_t st;
	wchar_t wc;
	memset(&st, 0, sizeof(st));
	size_t k = mbrtowc(&wc, s, MB_CUR_MAX, &st);
	if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
		*n = 1;
		return 1;
	}
	*n = k;
	int w = wcwidth(wc);
	return w < 0 ? 1 : w;
}

int kt_tui_width(const char *s)
{
	int w = 0;
	while (*s) {
		size_t n;
		w += char_width(s, &n);
		s += n;
	}
	return w;
}

/* Escaped, visible-safe s into dst; outside a UTF-8 locale every
 * non-ASCII byte becomes '?' (one column each). */
static void safe_text(char *dst, size_t cap, const char *s, bool utf8)
{
	kt_vis_escape(dst, cap, s ? s : "");
	if (!utf8)
		for (char *p = dst; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
}

/* Byte length of the longest prefix of s at most w columns wide. */
static size_t prefix_cols(const char *s, int w, int *got)
{
	size_t off = 0;
	int cw = 0;
	while (s[off]) {
		size_t n;
		int k = char_width(s + off, &n);
		if (cw + k > w)
			break;
		cw += k;
		off += n;
	}
	*got = cw;
	return off;
}

/* Byte offset of the longest suffix of s at most w columns wide (looks at
 * the first 512 characters: cells are short). */
static size_t suffix_cols(const char *s, int w, int *got)
{
	size_t len = strlen(s), best = len;
	int cw = 0;
	/* walk forward, remembering character starts */
	size_t starts[512];
	int widths[512];
	unsigned ns = 0;
	for (size_t off = 0; s[off] && ns < 512;) {
		size_t n;
		widths[ns] = char_width(s + off, &n);
		starts[ns++] = off;
		off += n;
	}
	for (unsigned i = ns; i-- > 0;) {
		if (cw + widths[i] > w)
			break;
		cw += widths[i];
		best = starts[i];
	}
	*got = cw;
	return best;
}

const char *kt_tui_cell(char *dst, size_t cap, const char *s, int w, enum kt_tui_cut cut, bool right)
{
	bool utf8 = kt_tui_utf8();
	const char *ell = utf8 ? "\u2026" : "~";
	char txt[1024];
	safe_text(txt, sizeof(txt), s, utf8);
	if (cap)
		dst[0] = 0;
	if (w <= 0 || cap < (size_t)w * 4 + 8)
		return dst;
	char body[1024];
	int tw = kt_tui_width(txt);
	if (tw <= w) {
		snprintf(body, sizeof(body), "%s", txt);
	} else if (w == 1) {
		snprintf(body, sizeof(body), "%s", ell);
		tw = 1;
	} else {
		int got, got2;
		size_t pre, suf;
		switch (cut) {
		case KT_TUI_CUT_HEAD: /* keep the end: "…-2xkqp" */
			suf = suffix_cols(txt, w - 1, &got);
			snprintf(body, sizeof(body), "%s%s", ell, txt + suf);
			tw = got + 1;
			break;
		case KT_TUI_CUT_MIDDLE: /* "orders-7…-2xkqp" */
			pre = prefix_cols(txt, (w - 1) / 2, &got);
			suf = suffix_cols(txt, w - 1 - got, &got2);
			snprintf(body, sizeof(body), "%.*s%s%s", (int)pre, txt, ell, txt + suf);
			tw = got + 1 + got2;
			break;
		default: /* KT_TUI_CUT_END: "ingress-ngin…" */
			pre = prefix_cols(txt, w - 1, &got);
			snprintf(body, sizeof(body), "%.*s%s", (int)pre, txt, ell);
			tw = got + 1;
			break;
		}
	}
	int pad = w - tw;
	if (pad < 0)
		pad = 0;
	snprintf(dst, cap, "%*s%s%*s", right ? pad : 0, "", body, right ? 0 : pad, "");
	return dst;
}

const char *kt_tui_svc_cell(char *dst, size_t cap, const char *ns, const char *name, int w)
{
	char full[600], tmp[2400], esc_name[1024];
	snprintf(full, sizeof(full), "%s/%s", ns ? ns : "", name ? name : "");
	kt_vis_escape(tmp, sizeof(tmp), full);
	if (kt_tui_width(tmp) <= w)
		return kt_tui_cell(dst, cap, full, w, KT_TUI_CUT_END, false);
	kt_vis_escape(esc_name, sizeof(esc_name), name ? name : "");
	/* both parts shown: the namespace gets up to a third (at least 4
	 * columns) unless the name needs less; each part cut on its own */
	char esc_ns[1024];
	kt_vis_escape(esc_ns, sizeof(esc_ns), ns ? ns : "");
	int nw = kt_tui_width(esc_name), sw = kt_tui_width(esc_ns);
	int ns_w = w / 3 > 4 ? w / 3 : 4;
	if (ns_w > sw)
		ns_w = sw;
	if (w - 1 - ns_w > nw)
		ns_w = w - 1 - nw;
	int name_w = w - 1 - ns_w;
	if (name_w < 3)
		return kt_tui_cell(dst, cap, name, w, KT_TUI_CUT_MIDDLE, false);
	char a[1024], b[1024], both[2100];
	kt_tui_cell(a, sizeof(a), esc_ns, ns_w, KT_TUI_CUT_END, false);
	kt_tui_cell(b, sizeof(b), esc_name, name_w, KT_TUI_CUT_MIDDLE, false);
	snprintf(both, sizeof(both), "%s/%s", a, b);
	return kt_tui_cell(dst, cap, both, w, KT_TUI_CUT_END, false);
}
