/*
 * Drawing the `ktrace imbalance` dashboard: the title and diagnosis lines,
 * the Service list and the per-Service view laid out for the terminal's
 * size (columns added in a fixed order while they fit, cli/tui/layout.c),
 * the key hints, the help overlay and the "terminal too small" screen.
 * Every string from the cluster goes through a visible-safe cell. Reads the
 * view's state, never changes it (except keeping the selection on screen).
 */
#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/tui/view.h"
#include "ktrace/util.h"

static const char *list_sorts[] = {"imbalance", "connections", "new/s", "name"};
static const char *detail_sorts[] = {"connections", "share/fair", "new/s", "endpoint"};

static const char *fmt_rate(double x, char *buf, size_t n)
{
	static const char *u[] = {"", "k", "M", "G", "T"};
	int i = 0;
	if (x < 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	while (x >= 1000 && i < 4) {
		x /= 1000;
		i++;
	}
	snprintf(buf, n, i ? "%.1f%s" : (x < 10 && x != floor(x) ? "%.1f%s" : "%.0f%s"), x, u[i]);
	return buf;
}

/* Our own text (titles, numbers, key hints): drawn as is, cut at the edge. */
static void put(int y, int x, int attr, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(int y, int x, int attr, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (y < 0 || y >= LINES || x >= COLS)
		return;
	attron(attr);
	mvaddnstr(y, x, buf, COLS - x);
	attroff(attr);
}

/* A line of text that may hold data from outside: visible-safe, cut with
 * an ellipsis to the columns left on the line. */
static void put_line(int y, int x, int attr, const char *text)
{
	char cell[4 * 512 + 8];
	int w = COLS - x;
	if (y < 0 || y >= LINES || w <= 0)
		return;
	if (w > 512)
		w = 512;
	kt_tui_cell(cell, sizeof(cell), text, w, KT_TUI_CUT_END, false);
	/* no trailing padding: the rest of the line keeps its attribute */
	size_t n = strlen(cell);
	while (n && cell[n - 1] == ' ')
		n--;
	cell[n] = 0;
	attron(attr);
	mvaddstr(y, x, cell);
	attroff(attr);
}

static void draw_bar(int y, int x, int w, double share, double fair, int attr)
{
	bool u = kt_tui_utf8();
	int filled = (int)lround(share * w);
	int fpos = fair > 0 ? (int)lround(fair * w) : -1;
	if (filled > w)
		filled = w;
	if (fpos >= w)
		fpos = w - 1;
	move(y, x);
	for (int i = 0; i < w && x + i < COLS; i++) {
		if (i == fpos) {
			attron(kt_tui_attr(KT_TP_FAIR));
			addstr(u ? (i < filled ? "┃" : "│") : "|");
			attroff(kt_tui_attr(KT_TP_FAIR));
		} else if (i < filled) {
			attron(attr);
			addstr(u ? "█" : "#");
			attroff(attr);
		} else {
			addstr(u ? "·" : ".");
		}
	}
}

static void draw_spark(int y, int x, int w, const struct kt_imb_hist *h)
{
	static const char *blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
	static const char ascii[] = "_.-:=+*#";
	bool u = kt_tui_utf8();
	move(y, x);
	if (!h || !h->n)
		return;
	int n = (int)h->n < w ? (int)h->n : w;
	for (int i = 0; i < n && x + i < COLS; i++) {
		int idx = ((int)h->head - n + i + HIST_LEN * 2) % HIST_LEN;
		float s = h->v[idx];
		int lvl = (int)(s * 7.999f);
		if (lvl < 0)
			lvl = 0;
		if (lvl > 7)
			lvl = 7;
		if (u)
			addstr(blocks[lvl]);
		else
			addch((chtype)ascii[lvl]);
	}
}

static const struct kt_imb_service *diag_svc(const struct kt_imb_view *v)
{
	if (v->mode == V_DETAIL)
		return kt_imb_cur_svc(v);
	if (v->mode == V_LIST && v->n_order && v->sel >= 0 && (uint32_t)v->sel < v->n_order) {
		const struct kt_imb_service *s = &v->r->svcs[v->order[v->sel]];
		if (s->verdict != KT_RULE_COUNT)
			return s;
	}
	for (uint32_t i = 0; v->r && i < v->r->n_svcs; i++)
		if (v->r->svcs[i].verdict != KT_RULE_COUNT)
			return &v->r->svcs[i];
	return NULL;
}

/* Title line: parts drop from the right end of this list when the line is
 * too narrow (changed, flows, dataplane); [PAUSED] always shows. */
static void draw_title(struct kt_imb_view *v)
{
	const struct kt_imb_result *r = v->r;
	char tbuf[16], every[32], node[600], dp[300], fl[300], ch[64], line[1400];
	time_t now = v->changed_at ? v->changed_at : time(NULL);
	struct tm tmv;
	localtime_r(&now, &tmv);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tmv);
	if (v->feed->live)
		snprintf(every, sizeof(every), "  every %gs", v->interval);
	else
		snprintf(every, sizeof(every), "  bundle");
	snprintf(node, sizeof(node), "  node %s", r && r->node ? r->node : "?");
	snprintf(dp, sizeof(dp), "  dataplane %s", r && r->mode ? r->mode : "unknown");
	snprintf(fl, sizeof(fl), "  flows %s", r && r->source ? r->source : "-");
	snprintf(ch, sizeof(ch), "  changed %s", tbuf);
	const char *paused = v->paused ? "  [PAUSED]" : "";
	const char *parts[] = {dp, fl, ch};
	int keep = 3;
	for (; keep >= 0; keep--) {
		snprintf(line, sizeof(line), "ktrace imbalance%s%s%s%s%s%s", node, keep > 0 ? parts[0] : "",
			 keep > 1 ? parts[1] : "", every, keep > 2 ? parts[2] : "", paused);
		char esc[4 * sizeof(line)];
		kt_vis_escape(esc, sizeof(esc), line);
		if (kt_tui_width(esc) <= COLS || keep == 0)
			break;
	}
	attron(kt_tui_attr(KT_TP_TITLE));
	mvhline(0, 0, ' ', COLS);
	attroff(kt_tui_attr(KT_TP_TITLE));
	if (v->paused && keep == 0) {
		/* keep [PAUSED] visible: cut the node name instead */
		put_line(0, 0, kt_tui_attr(KT_TP_TITLE), line);
		put(0, COLS > 10 ? COLS - 10 : 0, kt_tui_attr(KT_TP_TITLE), "  [PAUSED]");
	} else {
		put_line(0, 0, kt_tui_attr(KT_TP_TITLE), line);
	}
}

/* Text from outside at x on line y, cut at the edge; x moves past it. */
static void put_seg(int y, int *x, int attr, const char *text)
{
	char esc[4 * 1024 + 8];
	if (*x >= COLS)
		return;
	put_line(y, *x, attr, text);
	kt_vis_escape(esc, sizeof(esc), text);
	*x += kt_tui_width(esc);
}

/* --nodes: which node the view shows, the per-node counts and the nodes
 * whose agent gave no sample in the last refresh (never dropped silently). */
static void draw_nodes(struct kt_imb_view *v, int y)
{
	const struct kt_imb_nodes *nd = v->nodes;
	char buf[1024];
	int x = 0;
	if (nd->sel >= 0 && (uint32_t)nd->sel < nd->n) {
		const struct kt_imb_node *n = &nd->v[nd->sel];
		snprintf(buf, sizeof(buf), "node %s (%d of %u): ", n->name, nd->sel + 1, nd->n);
		put_seg(y, &x, A_BOLD, buf);
		if (n->gap) {
			snprintf(buf, sizeof(buf), "gap: %s", n->gap);
			put_seg(y, &x, kt_tui_attr(KT_TP_HOT), buf);
			return;
		}
		snprintf(buf, sizeof(buf), "%u of %u open connections   n/N: next/previous node", n->connections,
			 nd->connections);
		put_seg(y, &x, 0, buf);
		return;
	}
	snprintf(buf, sizeof(buf), "nodes: all, %u of %u answered", nd->n - nd->n_gaps, nd->n);
	put_seg(y, &x, A_BOLD, buf);
	if (nd->n_gaps) {
		size_t o = (size_t)snprintf(buf, sizeof(buf), "  gap%s: ", nd->n_gaps > 1 ? "s" : "");
		uint32_t shown = 0;
		for (uint32_t i = 0; i < nd->n && o < sizeof(buf) - 300; i++) {
			if (!nd->v[i].gap)
				continue;
			if (shown == 3) {
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, " +%u", nd->n_gaps - shown);
				break;
			}
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", shown ? ", " : "", nd->v[i].name);
			shown++;
		}
		put_seg(y, &x, kt_tui_attr(KT_TP_HOT), buf);
	}
	size_t o = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < nd->n && o < sizeof(buf) - 300; i++)
		if (!nd->v[i].gap)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "  %s %u", nd->v[i].name, nd->v[i].connections);
	put_seg(y, &x, 0, buf);
}

static void draw_header(struct kt_imb_view *v)
{
	const struct kt_imb_result *r = v->r;
	char line[2048];
	int y = 1 + v->hdr;
	draw_title(v);
	if (v->nodes)
		draw_nodes(v, 1);
	if (!r) {
		put(y, 0, 0, "waiting for the first sample ...");
		return;
	}
	if (r->timestamps)
		put(y, 0, 0, "connections %u   age >1m %u  >10m %u  >1h %u   services %u%s", r->connections,
		    r->older_1m, r->older_10m, r->older_1h, r->n_svcs, r->acct ? "" : "   bytes: acct off");
	else
		put(y, 0, 0, "connections %u   ages unknown (sysctl net.netfilter.nf_conntrack_timestamp=1)   services %u%s",
		    r->connections, r->n_svcs, r->acct ? "" : "   bytes: acct off");
	const struct kt_imb_service *s = diag_svc(v);
	if (s && s->verdict != KT_RULE_COUNT) {
		const struct kt_rule *ru = &kt_rules[s->verdict];
		int attr = s->verdict == KT_R_KT403 ? kt_tui_attr(KT_TP_STARVED) : kt_tui_attr(KT_TP_HOT);
		snprintf(line, sizeof(line), "%s %s %s/%s: %s", ru->id, ru->name, s->namespace ? s->namespace : "",
			 s->name ? s->name : "", s->reason ? s->reason : ru->summary);
		put_line(y + 1, 0, attr, line);
		snprintf(line, sizeof(line), "fix: %s", ru->mitigation);
		put_line(y + 2, 2, kt_tui_attr(KT_TP_GOOD), line);
	} else {
		put_line(y + 1, 0, kt_tui_attr(KT_TP_GOOD), "no imbalance verdict: connection shares are within the thresholds");
	}
}

/* Keep the selected row among n rows and scroll top so it is visible in a
 * window of h rows. */
static void clamp_sel(int *sel, int *top, int n, int h)
{
	if (*sel >= n)
		*sel = n - 1;
	if (*sel < 0)
		*sel = 0;
	if (*sel < *top)
		*top = *sel;
	if (h > 0 && *sel >= *top + h)
		*top = *sel - h + 1;
}

static void draw_titles(int y, const struct kt_tui_col *cols, int n)
{
	char cell[4 * 256 + 8];
	attron(A_BOLD);
	for (int i = 0; i < n; i++)
		if (cols[i].w && cols[i].title)
			mvaddstr(y, cols[i].x, kt_tui_cell(cell, sizeof(cell), cols[i].title, cols[i].w, KT_TUI_CUT_END,
							    cols[i].right));
	attroff(A_BOLD);
}

static void draw_cell(int y, const struct kt_tui_col *col, int attr, const char *text, enum kt_tui_cut cut)
{
	char cell[4 * 256 + 8];
	if (!col->w)
		return;
	attron(attr);
	mvaddstr(y, col->x, kt_tui_cell(cell, sizeof(cell), text, col->w > 256 ? 256 : col->w, cut, col->right));
	attroff(attr);
}

/* The Service list. Columns in display order; LIST_STEPS is the order
 * they are added in (ktrace-imbalance(1), THE DASHBOARD, says the same). */
enum { LC_MARK, LC_SVC, LC_FE, LC_EPS, LC_CONNS, LC_NEW, LC_BYTES, LC_MAXMEAN, LC_GINI, LC_VERDICT, LC_N };
static const struct kt_tui_step list_steps[] = {
	{LC_MARK, 1}, {LC_SVC, 16}, {LC_CONNS, 6}, {LC_MAXMEAN, 8}, {LC_VERDICT, 5}, /* mandatory */
	{LC_NEW, 7}, {LC_VERDICT, 26}, {LC_SVC, 27}, {LC_GINI, 5}, {LC_BYTES, 9}, {LC_EPS, 4}, {LC_FE, 4},
	{LC_SVC, 40},
};
#define LIST_MANDATORY 5

static void draw_list(struct kt_imb_view *v)
{
	struct kt_tui_col cols[LC_N] = {
		[LC_MARK] = {NULL, false, 0, 0, 0},       [LC_SVC] = {"SERVICE", false, 16, 0, 0},
		[LC_FE] = {"FE", true, 0, 0, 0},          [LC_EPS] = {"EPS", true, 0, 0, 0},
		[LC_CONNS] = {"CONNS", true, 0, 0, 0},    [LC_NEW] = {"NEW/S", true, 0, 0, 0},
		[LC_BYTES] = {"BYTES/S", true, 0, 0, 0},  [LC_MAXMEAN] = {"MAX/MEAN", true, 0, 0, 0},
		[LC_GINI] = {"GINI", true, 0, 0, 0},      [LC_VERDICT] = {"VERDICT", false, 0, 0, 0},
	};
	/* the name column grows to the longest name shown (at most 96) */
	for (uint32_t i = 0; i < v->n_order; i++) {
		const struct kt_imb_service *s = &v->r->svcs[v->order[i]];
		char nm[600], esc[2400];
		snprintf(nm, sizeof(nm), "%s/%s", s->namespace ? s->namespace : "", s->name ? s->name : "");
		kt_vis_escape(esc, sizeof(esc), nm);
		int w = kt_tui_width(esc);
		if (w > cols[LC_SVC].flex_max)
			cols[LC_SVC].flex_max = w > 96 ? 96 : w;
	}
	kt_tui_fit(cols, LC_N, list_steps, (int)(sizeof(list_steps) / sizeof(list_steps[0])), LIST_MANDATORY, COLS);
	int y0 = 5 + v->hdr, h = LINES - y0 - 2;
	draw_titles(y0 - 1, cols, LC_N);
	clamp_sel(&v->sel, &v->top, (int)v->n_order, h);
	if (!v->n_order)
		put(y0, 1, kt_tui_attr(KT_TP_DIM), v->filter[0] ? "no Service matches the filter" : "no Service flows yet");
	for (int i = 0; i < h && v->top + i < (int)v->n_order; i++) {
		int ix = v->top + i, y = y0 + i;
		const struct kt_imb_service *s = &v->r->svcs[v->order[ix]];
		char b[32], cell[4 * 256 + 8];
		int attr = ix == v->sel ? kt_tui_attr(KT_TP_SEL) : 0;
		if (attr)
			mvchgat(y, 0, -1, attr, 0, NULL);
		draw_cell(y, &cols[LC_MARK], attr, ix == v->sel ? ">" : " ", KT_TUI_CUT_END);
		if (cols[LC_SVC].w) {
			attron(attr);
			mvaddstr(y, cols[LC_SVC].x, kt_tui_svc_cell(cell, sizeof(cell), s->namespace, s->name, cols[LC_SVC].w));
			attroff(attr);
		}
		snprintf(b, sizeof(b), "%u", s->n_frontends);
		draw_cell(y, &cols[LC_FE], attr, b, KT_TUI_CUT_END);
		snprintf(b, sizeof(b), "%u", s->n_be);
		draw_cell(y, &cols[LC_EPS], attr, b, KT_TUI_CUT_END);
		snprintf(b, sizeof(b), "%u", s->connections);
		draw_cell(y, &cols[LC_CONNS], attr, b, KT_TUI_CUT_END);
		draw_cell(y, &cols[LC_NEW], attr, fmt_rate(s->new_per_s, b, sizeof(b)), KT_TUI_CUT_END);
		draw_cell(y, &cols[LC_BYTES], attr, fmt_rate(s->bytes_per_s, b, sizeof(b)), KT_TUI_CUT_END);
		snprintf(b, sizeof(b), "%.2f", s->max_over_mean);
		draw_cell(y, &cols[LC_MAXMEAN], attr, b, KT_TUI_CUT_END);
		snprintf(b, sizeof(b), "%.2f", s->gini);
		draw_cell(y, &cols[LC_GINI], attr, b, KT_TUI_CUT_END);
		if (s->verdict != KT_RULE_COUNT) {
			int vattr = attr ? attr : (s->verdict == KT_R_KT403 ? kt_tui_attr(KT_TP_STARVED) : kt_tui_attr(KT_TP_HOT));
			char vd[96];
			/* the id alone when the name does not fit: never cut mid-name */
			if (cols[LC_VERDICT].w >= 6 + (int)strlen(kt_rules[s->verdict].name))
				snprintf(vd, sizeof(vd), "%s %s", kt_rules[s->verdict].id, kt_rules[s->verdict].name);
			else
				snprintf(vd, sizeof(vd), "%s", kt_rules[s->verdict].id);
			draw_cell(y, &cols[LC_VERDICT], vattr, vd, KT_TUI_CUT_END);
		}
	}
}

/* The per-Service view: one row per endpoint. DETAIL_STEPS is the order
 * columns are added in. */
enum { DC_MARK, DC_EP, DC_POD, DC_NODE, DC_AGE, DC_ST, DC_CONNS, DC_BYNODE, DC_NEW, DC_IN, DC_OUT, DC_BAR, DC_SHARE,
       DC_BYTES, DC_HIST, DC_FLAGS, DC_N };
static const struct kt_tui_step detail_steps[] = {
	{DC_MARK, 1}, {DC_EP, 21}, {DC_POD, 11}, {DC_CONNS, 6}, {DC_SHARE, 10}, {DC_FLAGS, 7}, /* mandatory */
	{DC_BAR, 16}, {DC_AGE, 5}, {DC_ST, 2}, {DC_NEW, 6}, {DC_POD, 24}, {DC_NODE, 10}, {DC_IN, 7}, {DC_OUT, 7},
	{DC_BYTES, 6}, {DC_HIST, 16}, {DC_BAR, 24}, {DC_NODE, 16},
};
/* --nodes, all nodes: the per-node split comes right after the mandatory
 * columns (it grows to what its text needs) */
static const struct kt_tui_step fleet_detail_steps[] = {
	{DC_MARK, 1}, {DC_EP, 21}, {DC_POD, 11}, {DC_CONNS, 6}, {DC_SHARE, 10}, {DC_FLAGS, 7}, /* mandatory */
	{DC_BYNODE, 12}, {DC_NODE, 10}, {DC_BAR, 16}, {DC_AGE, 5}, {DC_ST, 2}, {DC_NEW, 6}, {DC_POD, 24}, {DC_IN, 7},
	{DC_OUT, 7}, {DC_BYTES, 6}, {DC_HIST, 16}, {DC_BAR, 24}, {DC_NODE, 16},
};
#define DETAIL_MANDATORY 6

/* "n2 3  n1 2": the nodes that balanced connections to backend be, most
 * first (from the analyzer's split). */
static const char *by_node(const struct kt_imb_view *v, const struct kt_imb_split *sp, uint32_t be, char *buf,
			   size_t n)
{
	size_t o = 0;
	buf[0] = 0;
	if (!sp || be >= sp->n_be || !v->nodes || sp->n_nodes != v->nodes->n)
		return "-";
	const uint32_t *row = sp->conns + (size_t)be * sp->n_nodes;
	uint32_t last = UINT32_MAX;
	/* descending counts without sorting: at most 16 passes over the nodes */
	for (int pass = 0; pass < 16 && o < n - 300; pass++) {
		uint32_t best = 0;
		for (uint32_t i = 0; i < sp->n_nodes; i++)
			if (row[i] > best && row[i] < last)
				best = row[i];
		if (!best)
			break;
		for (uint32_t i = 0; i < sp->n_nodes && o < n - 300; i++)
			if (row[i] == best)
				o += (size_t)snprintf(buf + o, n - o, "%s%s %u", o ? "  " : "", v->nodes->v[i].name, best);
		last = best;
	}
	return o ? buf : "-";
}

static void draw_detail_row(struct kt_imb_view *v, const struct kt_imb_service *s, const struct kt_imb_split *sp,
			    const struct kt_tui_col *cols, int y, int ix)
{
	const struct kt_imb_backend *b = &s->be[v->order[ix]];
	char ep[80], age[16] = "-", t[48], bn[1024];
	snprintf(ep, sizeof(ep), strchr(b->ip, ':') ? "[%s]:%d" : "%s:%d", b->ip, b->port);
	if (b->ready_age >= 0) {
		kt_fmt_age(b->ready_age, age, sizeof(age));
		/* "~": no Pod readable, the age is the EndpointSlice's last
		 * change or when this session first saw the endpoint */
		if (b->age_src == KT_IMB_AGE_SLICE || b->age_src == KT_IMB_AGE_SEEN)
			strncat(age, "~", sizeof(age) - strlen(age) - 1);
	}
	int rowattr = ix == v->dsel ? kt_tui_attr(KT_TP_SEL) : 0;
	if (rowattr)
		mvchgat(y, 0, -1, rowattr, 0, NULL);
	draw_cell(y, &cols[DC_MARK], rowattr, ix == v->dsel ? ">" : " ", KT_TUI_CUT_END);
	draw_cell(y, &cols[DC_EP], rowattr, ep, KT_TUI_CUT_MIDDLE);
	draw_cell(y, &cols[DC_POD], rowattr, b->pod ? b->pod : "-", KT_TUI_CUT_MIDDLE);
	draw_cell(y, &cols[DC_NODE], rowattr, b->node ? b->node : "-", KT_TUI_CUT_MIDDLE);
	draw_cell(y, &cols[DC_AGE], rowattr, age, KT_TUI_CUT_END);
	draw_cell(y, &cols[DC_ST], rowattr, b->terminating ? "T" : b->ready ? "R" : "NR", KT_TUI_CUT_END);
	snprintf(t, sizeof(t), "%u", b->connections);
	draw_cell(y, &cols[DC_CONNS], rowattr, t, KT_TUI_CUT_END);
	if (cols[DC_BYNODE].w)
		draw_cell(y, &cols[DC_BYNODE], rowattr, by_node(v, sp, v->order[ix], bn, sizeof(bn)), KT_TUI_CUT_END);
	draw_cell(y, &cols[DC_NEW], rowattr, fmt_rate(b->new_per_s, t, sizeof(t)), KT_TUI_CUT_END);
	draw_cell(y, &cols[DC_IN], rowattr, fmt_rate(b->bytes_in_per_s, t, sizeof(t)), KT_TUI_CUT_END);
	draw_cell(y, &cols[DC_OUT], rowattr, fmt_rate(b->bytes_out_per_s, t, sizeof(t)), KT_TUI_CUT_END);
	if (cols[DC_BAR].w) {
		int battr = (b->flags & KT_IMB_HOT) ? kt_tui_attr(KT_TP_HOT)
			  : (b->flags & KT_IMB_STARVED) ? kt_tui_attr(KT_TP_STARVED) : kt_tui_attr(KT_TP_BAR);
		draw_bar(y, cols[DC_BAR].x, cols[DC_BAR].w, b->share, b->fair_share, battr);
	}
	snprintf(t, sizeof(t), "%3.0f%%/%3.0f%%", b->share * 100, b->fair_share * 100);
	draw_cell(y, &cols[DC_SHARE], rowattr, t, KT_TUI_CUT_END);
	snprintf(t, sizeof(t), "%.0f%%", b->byte_share * 100);
	draw_cell(y, &cols[DC_BYTES], rowattr, t, KT_TUI_CUT_END);
	if (cols[DC_HIST].w)
		draw_spark(y, cols[DC_HIST].x, cols[DC_HIST].w, kt_imb_hist_get(v, s->namespace, s->name, b->ip, b->port, false));
	const char *flag = (b->flags & KT_IMB_HOT) ? "HOT" : (b->flags & KT_IMB_STARVED) ? "STARVED"
			 : (b->flags & KT_IMB_UNKNOWN) ? "unknown" : "";
	int fattr = (b->flags & KT_IMB_HOT) ? kt_tui_attr(KT_TP_HOT)
		  : (b->flags & KT_IMB_STARVED) ? kt_tui_attr(KT_TP_STARVED) : rowattr;
	draw_cell(y, &cols[DC_FLAGS], fattr, flag, KT_TUI_CUT_END);
}

/* --nodes: measured cross-node share next to KT102's model. */
static void draw_cross(struct kt_imb_view *v, const struct kt_imb_split *sp, int y)
{
	char line[600], ex[64] = "";
	const char *where = "";
	char wb[300];
	if (v->nodes->sel >= 0 && (uint32_t)v->nodes->sel < v->nodes->n) {
		snprintf(wb, sizeof(wb), " on %s", v->nodes->v[v->nodes->sel].name);
		where = wb;
	}
	if (!sp || sp->measured < 0) {
		snprintf(line, sizeof(line), "cross-node%s: no connection with a known backend node", where);
		put_line(y, 0, kt_tui_attr(KT_TP_DIM), line);
		return;
	}
	if (sp->expected >= 0)
		snprintf(ex, sizeof(ex), "; KT102 model: %.0f%%", sp->expected * 100);
	snprintf(line, sizeof(line), "cross-node%s: %u of %u (%.0f%%) to a backend on another node%s", where, sp->cross,
		 sp->known, sp->measured * 100, ex);
	put_line(y, 0, 0, line);
}

static void draw_detail(struct kt_imb_view *v)
{
	const struct kt_imb_service *s = kt_imb_cur_svc(v);
	char line[2048];
	int y = 4 + v->hdr;
	if (!s) {
		snprintf(line, sizeof(line), "%s/%s: no data in this sample (Esc: back)", v->ns, v->name);
		put_line(y, 0, kt_tui_attr(KT_TP_DIM), line);
		return;
	}
	snprintf(line, sizeof(line), "%s/%s  %s  frontends %u  connections %u (%u total)  max/mean %.2f  cv %.2f  gini %.2f%s",
		 s->namespace ? s->namespace : "", s->name ? s->name : "", s->mode ? s->mode : "", s->n_frontends,
		 s->connections, s->total, s->max_over_mean, s->cv, s->gini, s->affinity ? "  affinity:ClientIP" : "");
	put_line(y, 0, A_BOLD, line);
	const struct kt_imb_split *sp = NULL;
	bool all = false;
	if (v->nodes) {
		sp = v->feed->split ? v->feed->split(v->feed->ctx, s->namespace, s->name) : NULL;
		all = v->nodes->sel < 0;
		draw_cross(v, sp, ++y);
	}
	struct kt_tui_col cols[DC_N] = {
		[DC_MARK] = {NULL, false, 0, 0, 0},          [DC_EP] = {"ENDPOINT", false, 0, 0, 0},
		[DC_POD] = {"POD", false, 11, 0, 0},         [DC_NODE] = {"NODE", false, 0, 0, 0},
		[DC_AGE] = {"AGE", true, 0, 0, 0},           [DC_ST] = {"ST", false, 0, 0, 0},
		[DC_CONNS] = {"CONNS", true, 0, 0, 0},       [DC_BYNODE] = {"BY NODE", false, 12, 0, 0},
		[DC_NEW] = {"NEW/S", true, 0, 0, 0},
		[DC_IN] = {"IN/S", true, 0, 0, 0},           [DC_OUT] = {"OUT/S", true, 0, 0, 0},
		[DC_BAR] = {"SHARE (| fair)", false, 0, 0, 0}, [DC_SHARE] = {"SHARE/FAIR", true, 0, 0, 0},
		[DC_BYTES] = {"BYTES%", true, 0, 0, 0},      [DC_HIST] = {"HISTORY", false, 0, 0, 0},
		[DC_FLAGS] = {"FLAGS", false, 0, 0, 0},
	};
	/* the Pod column grows to the longest Pod name shown (at most 64),
	 * the per-node split to its longest text (at most 48) */
	for (uint32_t i = 0; i < v->n_order; i++) {
		char esc[1024], bn[1024];
		kt_vis_escape(esc, sizeof(esc), s->be[v->order[i]].pod ? s->be[v->order[i]].pod : "-");
		int w = kt_tui_width(esc);
		if (w > cols[DC_POD].flex_max)
			cols[DC_POD].flex_max = w > 64 ? 64 : w;
		if (all) {
			kt_vis_escape(esc, sizeof(esc), by_node(v, sp, v->order[i], bn, sizeof(bn)));
			w = kt_tui_width(esc);
			if (w > cols[DC_BYNODE].flex_max)
				cols[DC_BYNODE].flex_max = w > 48 ? 48 : w;
		}
	}
	if (all)
		kt_tui_fit(cols, DC_N, fleet_detail_steps, (int)(sizeof(fleet_detail_steps) / sizeof(fleet_detail_steps[0])),
			   DETAIL_MANDATORY, COLS);
	else
		kt_tui_fit(cols, DC_N, detail_steps, (int)(sizeof(detail_steps) / sizeof(detail_steps[0])),
			   DETAIL_MANDATORY, COLS);
	int y0 = y + 2, h = LINES - y0 - 2;
	draw_titles(y0 - 1, cols, DC_N);
	clamp_sel(&v->dsel, &v->dtop, (int)v->n_order, h);
	if (!v->n_order)
		put(y0, 1, kt_tui_attr(KT_TP_DIM), v->filter[0] ? "no endpoint matches the filter" : "no endpoints");
	for (int i = 0; i < h && v->dtop + i < (int)v->n_order; i++)
		draw_detail_row(v, s, sp, cols, y0 + i, v->dtop + i);
}

static const char *help_lines[] = {
	"ktrace imbalance - keys",
	"",
	"  Up/Down, j/k   move the selection",
	"  PgUp/PgDn      page",
	"  Enter          open the selected Service",
	"  Esc, Backspace back to the Service list",
	"  s              cycle the sort order",
	"  /              filter by name (Enter keeps it, Esc clears)",
	"  p              pause / resume sampling",
	"  + / -          longer / shorter refresh interval",
	"  n / N          --nodes: next / previous node (all nodes first)",
	"  ? / q          this help / quit",
	"",
	"Bars: connection share; | marks the fair share (1/n or weights).",
	"HOT: share > hot-factor x fair.  STARVED: recently ready and",
	"share < starved-factor x fair (persistent connections not",
	"rebalanced, KT403).  ST: R ready, NR not ready, T terminating.",
	"AGE~: no Pod readable: from the EndpointSlice's last change",
	"(last-change-trigger-time) or when ktrace first saw it.",
	"Narrow terminals drop columns (man ktrace-imbalance).",
	"",
	"press any key to close",
};

static void draw_help(void)
{
	int n = (int)(sizeof(help_lines) / sizeof(help_lines[0]));
	int w = 68, h = n + 2;
	if (w > COLS)
		w = COLS;
	int y0 = (LINES - h) / 2, x0 = (COLS - w) / 2;
	if (y0 < 0)
		y0 = 0;
	if (x0 < 0)
		x0 = 0;
	for (int i = 0; i < h && y0 + i < LINES; i++) {
		move(y0 + i, x0);
		for (int k = 0; k < w && x0 + k < COLS; k++)
			addch(' ' | A_REVERSE);
	}
	for (int i = 0; i < n; i++)
		put(y0 + 1 + i, x0 + 2, A_REVERSE | (i == 0 ? A_BOLD : 0), "%.*s", w > 4 ? w - 4 : 0, help_lines[i]);
}

static void draw_footer(struct kt_imb_view *v)
{
	int y = LINES - 1;
	move(y, 0);
	clrtoeol();
	if (v->editing) {
		put(y, 0, A_BOLD, "filter: %s", v->filter);
		curs_set(1);
		return;
	}
	curs_set(0);
	if (v->err[0]) {
		char line[300];
		snprintf(line, sizeof(line), "error: %s", v->err);
		put_line(y, 0, kt_tui_attr(KT_TP_HOT), line);
		return;
	}
	/* the longest key list that fits */
	static const char *one[] = {
		"  |  Enter open  Esc back  s sort  / filter  p pause  +/- interval  ? help  q quit",
		"  |  Enter open  Esc back  s sort  / filter  ? help  q quit",
		"  ? help  q quit",
		"",
	};
	static const char *many[] = {
		"  |  Enter open  Esc back  n/N node  s sort  / filter  p pause  +/- interval  ? help  q quit",
		"  |  Enter open  Esc back  n/N node  s sort  / filter  ? help  q quit",
		"  |  n/N node  ? help  q quit",
		"  ? help  q quit",
		"",
	};
	const char **keys = v->nodes ? many : one;
	char state[128];
	snprintf(state, sizeof(state), "%s  sort:%s%s%s", v->mode == V_LIST ? "services" : "endpoints",
		 v->mode == V_LIST ? list_sorts[v->lsort] : detail_sorts[v->dsort], v->filter[0] ? "  filter:" : "",
		 v->filter);
	int k = 0;
	while (keys[k][0] && (int)(strlen(state) + strlen(keys[k])) > COLS)
		k++;
	put(y, 0, kt_tui_attr(KT_TP_DIM), "%s%s", state, keys[k]);
}

/* Below KT_TUI_MIN_COLS x KT_TUI_MIN_ROWS nothing fits without overlap: say so. */
static void draw_too_small(void)
{
	char a[64], b[64];
	snprintf(a, sizeof(a), "terminal too small: %dx%d", COLS, LINES);
	snprintf(b, sizeof(b), "need %dx%d; q quits", KT_TUI_MIN_COLS, KT_TUI_MIN_ROWS);
	int y = LINES / 2 - 1;
	if (y < 0)
		y = 0;
	put(y, 0, A_BOLD, "%s", a);
	put(y + 1, 0, 0, "%s", b);
}

void kt_imb_paint(struct kt_imb_view *v)
{
	if (COLS < KT_TUI_MIN_COLS || LINES < KT_TUI_MIN_ROWS) {
		draw_too_small();
		return;
	}
	draw_header(v);
	if (v->r) {
		if (v->mode == V_LIST)
			draw_list(v);
		else
			draw_detail(v);
	}
	draw_footer(v);
	if (v->help)
		draw_help();
	if (v->editing)
		move(LINES - 1, 8 + (int)strlen(v->filter));
}
