/*
 * The `ktrace imbalance` dashboard: a Service list sorted by imbalance and
 * a per-Service view with one row per endpoint (bars of connection share
 * against the fair share, a sparkline of share history, hot/starved
 * markers), a header with the dataplane mode, connection ages and a
 * one-line diagnosis with the mitigation from kt_rules[]. This file owns
 * the state: sampling, share history, row order, keys and the loop; the
 * drawing is imbalance_draw.c. Only shows rows the analyzer computed;
 * keeps nothing but UI state and share history. Redraws only when the
 * data, the UI state or the terminal size changed. The terminal itself
 * belongs to term.c.
 */
#include <curses.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/tui/view.h"
#include "ktrace/xalloc.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	return kt_hash64(h, p, n);
}

/* a string and its terminator, so "ab"+"c" and "a"+"bc" differ */
static uint64_t fnv_str(uint64_t h, const char *s)
{
	return kt_hash64(kt_hash_str(h, s), "", 1);
}

struct kt_imb_hist *kt_imb_hist_get(struct kt_imb_view *v, const char *ns, const char *name, const char *ip, int port,
			     bool create)
{
	int node = v->nodes ? v->nodes->sel : -1;
	uint64_t hv = fnv(KT_HASH_SEED, &node, sizeof(node));
	hv = fnv_str(fnv_str(fnv_str(hv, ns ? ns : ""), name ? name : ""), ip ? ip : "");
	hv = fnv(hv, &port, sizeof(port));
	char key[512];
	key[0] = 0;
	uint32_t j = (uint32_t)hv & (HIST_SLOTS - 1);
	/* a bounded probe: a full table costs a few compares, not all slots;
	 * the key text is compared only when the hashes are equal */
	for (uint32_t probe = 0; probe < HIST_PROBES; probe++, j = (j + 1) & (HIST_SLOTS - 1)) {
		struct kt_imb_hist *h = &v->hist[j];
		if (h->key && h->hash != hv)
			continue;
		if (!key[0])
			snprintf(key, sizeof(key), "%d|%s/%s|%s:%d", node, ns ? ns : "", name ? name : "", ip ? ip : "", port);
		if (!h->key) {
			if (!create)
				return NULL;
			h->key = kt_xstrdup(key);
			h->hash = hv;
			return h;
		}
		if (!strcmp(h->key, key))
			return h;
	}
	return NULL;   /* table (nearly) full: no history for this row */
}

static void hist_update(struct kt_imb_view *v)
{
	for (uint32_t i = 0; i < v->r->n_svcs; i++) {
		const struct kt_imb_service *s = &v->r->svcs[i];
		if (!s->connections)
			continue;   /* shares of nothing: no history (the list may hold every Service) */
		for (uint32_t j = 0; j < s->n_be; j++) {
			struct kt_imb_hist *h = kt_imb_hist_get(v, s->namespace, s->name, s->be[j].ip, s->be[j].port, true);
			if (!h || h->gen == v->gen)
				continue;
			h->gen = v->gen;
			h->v[h->head] = (float)s->be[j].share;
			h->head = (h->head + 1) % HIST_LEN;
			if (h->n < HIST_LEN)
				h->n++;
		}
	}
}

static uint64_t data_signature(const struct kt_imb_result *r)
{
	uint64_t h = KT_HASH_SEED;
	if (!r)
		return h;
	h = fnv(h, &r->connections, sizeof(r->connections));
	for (uint32_t i = 0; i < r->n_svcs; i++) {
		const struct kt_imb_service *s = &r->svcs[i];
		h = fnv_str(h, s->namespace);
		h = fnv_str(h, s->name);
		h = fnv(h, &s->connections, sizeof(s->connections));
		h = fnv(h, &s->total, sizeof(s->total));
		h = fnv(h, &s->bytes, sizeof(s->bytes));
		h = fnv(h, &s->new_per_s, sizeof(s->new_per_s));
		h = fnv(h, &s->verdict, sizeof(s->verdict));
		for (uint32_t j = 0; j < s->n_be; j++) {
			h = fnv_str(h, s->be[j].ip);
			h = fnv(h, &s->be[j].connections, sizeof(s->be[j].connections));
			h = fnv(h, &s->be[j].new_per_s, sizeof(s->be[j].new_per_s));
			h = fnv(h, &s->be[j].bytes_in, sizeof(s->be[j].bytes_in));
			h = fnv(h, &s->be[j].flags, sizeof(s->be[j].flags));
		}
	}
	return h;
}

/* ---- ordering ------------------------------------------------------- */

static struct kt_imb_view *sort_view;   /* qsort has no context argument */

static bool svc_visible(const struct kt_imb_view *v, const struct kt_imb_service *s)
{
	if (!v->filter[0])
		return true;
	char nm[600];
	snprintf(nm, sizeof(nm), "%s/%s", s->namespace ? s->namespace : "", s->name ? s->name : "");
	return strcasestr(nm, v->filter) != NULL;
}

static bool be_visible(const struct kt_imb_view *v, const struct kt_imb_backend *b)
{
	if (!v->filter[0])
		return true;
	char nm[600];
	snprintf(nm, sizeof(nm), strchr(b->ip, ':') ? "[%s]:%d %s %s" : "%s:%d %s %s", b->ip, b->port, b->pod ? b->pod : "", b->node ? b->node : "");
	return strcasestr(nm, v->filter) != NULL;
}

/* Larger first. */
static int desc_cmp(double x, double y)
{
	return x == y ? 0 : x > y ? -1 : 1;
}

static int list_cmp(const void *a, const void *b)
{
	const struct kt_imb_service *x = &sort_view->r->svcs[*(const uint32_t *)a];
	const struct kt_imb_service *y = &sort_view->r->svcs[*(const uint32_t *)b];
	int c = 0;
	switch (sort_view->lsort) {
	case 1:
		c = desc_cmp(x->connections, y->connections);
		break;
	case 2:
		c = desc_cmp(x->new_per_s, y->new_per_s);
		break;
	case 3:
		break;
	default:
		c = desc_cmp(x->score, y->score);
	}
	if (!c)
		c = strcmp(x->namespace ? x->namespace : "", y->namespace ? y->namespace : "");
	if (!c)
		c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
	return c;
}

const struct kt_imb_service *kt_imb_cur_svc(const struct kt_imb_view *v)
{
	for (uint32_t i = 0; v->r && i < v->r->n_svcs; i++) {
		const struct kt_imb_service *s = &v->r->svcs[i];
		if (!strcmp(s->namespace ? s->namespace : "", v->ns) && !strcmp(s->name ? s->name : "", v->name))
			return s;
	}
	return NULL;
}

static const struct kt_imb_service *detail_svc;

static int detail_cmp(const void *a, const void *b)
{
	const struct kt_imb_backend *x = &detail_svc->be[*(const uint32_t *)a];
	const struct kt_imb_backend *y = &detail_svc->be[*(const uint32_t *)b];
	int c = 0;
	double rx, ry;
	switch (sort_view->dsort) {
	case 1:
		rx = x->fair_share > 0 ? x->share / x->fair_share : 0;
		ry = y->fair_share > 0 ? y->share / y->fair_share : 0;
		c = desc_cmp(rx, ry);
		break;
	case 2:
		c = desc_cmp(x->new_per_s, y->new_per_s);
		break;
	case 3:
		break;
	default:
		c = desc_cmp(x->connections, y->connections);
	}
	if (!c)
		c = strcmp(x->ip, y->ip);
	if (!c)
		c = x->port - y->port;
	return c;
}

static void build_order(struct kt_imb_view *v)
{
	v->n_order = 0;
	if (!v->r)
		return;
	uint32_t need = v->r->n_svcs;
	const struct kt_imb_service *s = NULL;
	if (v->mode == V_DETAIL) {
		s = kt_imb_cur_svc(v);
		need = s ? s->n_be : 0;
	}
	if (need > v->cap_order) {
		v->cap_order = need + 16;
		v->order = kt_xreallocarray(v->order, v->cap_order, sizeof(*v->order));
	}
	sort_view = v;
	if (v->mode == V_LIST) {
		for (uint32_t i = 0; i < v->r->n_svcs; i++)
			if (svc_visible(v, &v->r->svcs[i]))
				v->order[v->n_order++] = i;
		if (v->n_order > 1)
			qsort(v->order, v->n_order, sizeof(*v->order), list_cmp);
	} else if (s) {
		for (uint32_t i = 0; i < s->n_be; i++)
			if (be_visible(v, &s->be[i]))
				v->order[v->n_order++] = i;
		detail_svc = s;
		if (v->n_order > 1)
			qsort(v->order, v->n_order, sizeof(*v->order), detail_cmp);
	}
}

/* ---- drawing -------------------------------------------------------- */

static uint64_t ui_signature(const struct kt_imb_view *v)
{
	uint64_t h = v->data_sig;
	int st[] = {v->mode, v->sel, v->top, v->dsel, v->dtop, v->lsort, v->dsort, v->editing, v->paused, v->help,
		    LINES, COLS, (int)(v->interval * 10), v->nodes ? v->nodes->sel : -2, v->nodes ? (int)v->nodes->n_gaps : 0};
	h = fnv(h, st, sizeof(st));
	h = fnv_str(h, v->filter);
	h = fnv_str(h, v->err);
	h = fnv_str(h, v->ns);
	h = fnv_str(h, v->name);
	return h;
}

static void draw(struct kt_imb_view *v, bool force)
{
	build_order(v);
	uint64_t sig = ui_signature(v);
	if (!force && sig == v->drawn_sig)
		return;
	erase();
	kt_imb_paint(v);
	refresh();
	v->drawn_sig = ui_signature(v);
}

/* --nodes: the node list of the last refresh (gaps, per-node counts):
 * part of the data signature. */
static void take_nodes(struct kt_imb_view *v)
{
	v->nodes = v->feed->nodes ? v->feed->nodes(v->feed->ctx) : NULL;
	v->hdr = v->nodes ? 1 : 0;
}

static uint64_t nodes_signature(const struct kt_imb_view *v, uint64_t h)
{
	for (uint32_t i = 0; v->nodes && i < v->nodes->n; i++) {
		h = fnv_str(h, v->nodes->v[i].gap ? v->nodes->v[i].gap : "");
		h = fnv(h, &v->nodes->v[i].connections, sizeof(v->nodes->v[i].connections));
	}
	return h;
}

/* n / N: the next or previous node (all nodes, then each node in name
 * order), from the data of the last refresh. */
static void switch_node(struct kt_imb_view *v, int step)
{
	if (!v->nodes || !v->feed->select)
		return;
	int n = (int)v->nodes->n, sel = v->nodes->sel + step;
	if (sel < -1)
		sel = n - 1;
	if (sel >= n)
		sel = -1;
	const struct kt_imb_result *r = v->feed->select(v->feed->ctx, sel);
	if (r)
		v->r = r;
	take_nodes(v);
	v->data_sig = nodes_signature(v, data_signature(v->r));
	v->dsel = v->dtop = 0;
}

static void sample(struct kt_imb_view *v)
{
	char err[256] = "";
	const struct kt_imb_result *r = v->feed->next(v->feed->ctx, err, sizeof(err));
	v->gen++;
	if (!r) {
		snprintf(v->err, sizeof(v->err), "%s", err);
		return;
	}
	v->err[0] = 0;
	v->r = r;
	take_nodes(v);
	uint64_t sig = nodes_signature(v, data_signature(r));
	if (sig != v->data_sig || !v->changed_at) {
		v->changed_at = r->taken_ms ? (time_t)(r->taken_ms / 1000) : time(NULL);
		v->data_sig = sig;
	}
	hist_update(v);
}

/* --nodes: tell the feed which Service is shown (its per-node split is
 * counted while summing) and take the result that has it. */
static void set_focus(struct kt_imb_view *v, bool on)
{
	if (!v->feed->focus || !v->nodes)
		return;
	v->feed->focus(v->feed->ctx, on ? v->ns : NULL, on ? v->name : NULL);
	const struct kt_imb_result *r = v->feed->select(v->feed->ctx, v->nodes->sel);
	if (r)
		v->r = r;
}

static void open_selected(struct kt_imb_view *v)
{
	if (v->mode != V_LIST || !v->n_order)
		return;
	const struct kt_imb_service *s = &v->r->svcs[v->order[v->sel]];
	snprintf(v->ns, sizeof(v->ns), "%s", s->namespace ? s->namespace : "");
	snprintf(v->name, sizeof(v->name), "%s", s->name ? s->name : "");
	v->mode = V_DETAIL;
	v->dsel = v->dtop = 0;
	v->filter[0] = 0;
	set_focus(v, true);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Returns false to quit. */
static bool handle_key(struct kt_imb_view *v, int ch)
{
	if (v->help) {
		v->help = false;
		return ch != 'q' ? true : false;
	}
	if (v->editing) {
		size_t n = strlen(v->filter);
		if (ch == 27) {
			v->filter[0] = 0;
			v->editing = false;
		} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
			v->editing = false;
		} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
			if (n)
				v->filter[n - 1] = 0;
		} else if (ch >= 32 && ch < 127 && n < FILTER_MAX) {
			v->filter[n] = (char)ch;
			v->filter[n + 1] = 0;
		}
		v->sel = v->top = v->dsel = v->dtop = 0;
		return true;
	}
	int *sel = v->mode == V_LIST ? &v->sel : &v->dsel;
	int page = LINES - 8 - v->hdr > 1 ? LINES - 8 - v->hdr : 1;
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case KEY_UP:
	case 'k':
		if (*sel > 0)
			(*sel)--;
		break;
	case KEY_DOWN:
	case 'j':
		if (*sel + 1 < (int)v->n_order)
			(*sel)++;
		break;
	case KEY_PPAGE:
		*sel = *sel > page ? *sel - page : 0;
		break;
	case KEY_NPAGE:
		*sel = *sel + page < (int)v->n_order ? *sel + page : (int)v->n_order - 1;
		break;
	case KEY_HOME:
	case 'g':
		*sel = 0;
		break;
	case KEY_END:
	case 'G':
		*sel = (int)v->n_order - 1;
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
	case KEY_RIGHT:
		open_selected(v);
		break;
	case 27:
	case KEY_BACKSPACE:
	case 127:
	case KEY_LEFT:
	case 'h':
		if (v->filter[0]) {
			v->filter[0] = 0;
		} else if (v->mode == V_DETAIL) {
			v->mode = V_LIST;
			set_focus(v, false);
		}
		break;
	case 's':
		if (v->mode == V_LIST)
			v->lsort = (v->lsort + 1) % 4;
		else
			v->dsort = (v->dsort + 1) % 4;
		break;
	case '/':
		v->editing = true;
		v->filter[0] = 0;
		break;
	case 'p':
	case ' ':
		v->paused = !v->paused;
		break;
	case '+':
	case '=':
		v->interval = v->interval < 1 ? v->interval + 0.5 : v->interval + 1;
		if (v->interval > 60)
			v->interval = 60;
		break;
	case '-':
		v->interval = v->interval > 1 ? v->interval - 1 : v->interval - 0.5;
		if (v->interval < 0.5)
			v->interval = 0.5;
		break;
	case '?':
		v->help = true;
		break;
	case 'n':
		switch_node(v, 1);
		break;
	case 'N':
		switch_node(v, -1);
		break;
	case KEY_RESIZE:
		break;
	}
	return true;
}

int kt_tui_imbalance(struct kt_cli *c, struct kt_imb_feed *feed, const struct kt_imb_view_opts *o)
{
	struct kt_imb_view v;
	memset(&v, 0, sizeof(v));
	v.c = c;
	v.feed = feed;
	v.interval = o->interval > 0 ? o->interval : 2;
	v.hist = kt_xcalloc(HIST_SLOTS, sizeof(*v.hist));
	struct kt_diag d;
	memset(&d, 0, sizeof(d));
	if (kt_tui_begin(o->use_color, &d) < 0) {
		free(v.hist);
		return kt_cli_fail(c, &d);
	}
	sample(&v);
	if (o->start_name) {
		snprintf(v.ns, sizeof(v.ns), "%s", o->start_ns ? o->start_ns : "");
		snprintf(v.name, sizeof(v.name), "%s", o->start_name);
		v.mode = V_DETAIL;
		set_focus(&v, true);
	}
	long frames = 1;
	double next = now_s() + v.interval;
	draw(&v, true);
	while (!kt_tui_quit_requested()) {
		if (o->frames && frames >= o->frames)
			break;
		double t = now_s();
		if (!v.paused && feed->live && t >= next) {
			sample(&v);
			frames++;
			next = t + v.interval;
		} else if (!feed->live && o->frames && t >= next) {
			frames++;   /* static data: frames still count time */
			next = t + v.interval;
		}
		draw(&v, false);
		int wait = v.paused || (!feed->live && !o->frames) ? 1000 : (int)((next - now_s()) * 1000);
		if (wait > 1000)
			wait = 1000;
		if (wait < 10)
			wait = 10;
		int ch = kt_tui_getkey(wait);
		if (ch == KEY_RESIZE) {
			v.drawn_sig = 0;
			continue;
		}
		if (ch >= 0 && !handle_key(&v, ch))
			break;
		if (ch == '+' || ch == '=' || ch == '-')
			next = now_s() + v.interval;
	}
	kt_tui_end();
	for (uint32_t i = 0; i < HIST_SLOTS; i++)
		free(v.hist[i].key);
	free(v.hist);
	free(v.order);
	return 0;
}
