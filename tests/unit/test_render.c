/*
 * Unit tests for renderer helpers: the dashboard's column fitting and
 * cells (cli/tui/layout.c; ASCII mode: no terminal is opened, so the
 * ellipsis is '~'), the JSON writer's event mode that -o yaml is built on
 * (lib/jsonw.c), and -o yaml itself (cli/render_yaml.c) on a document with
 * strings YAML would misread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "cli/cli.h"
#include "cli/tui/tui.h"
#include "ktrace/jsonw.h"

/* ---- layout ---------------------------------------------------------- */

static void test_fit(void)
{
	enum { A, B, C, D, N };
	struct kt_tui_col cols[N] = {{"A", false, 0, 0, 0}, {"B", false, 30, 0, 0}, {"C", true, 0, 0, 0},
				     {"D", true, 0, 0, 0}};
	const struct kt_tui_step steps[] = {{A, 5}, {B, 10}, {C, 6}, {B, 20}, {D, 8}};
	kt_tui_fit(cols, N, steps, 5, 2, 80);
	T_CHECK_INT(cols[A].w, 5, "fit: mandatory A");
	T_CHECK_INT(cols[C].w, 6, "fit: C added");
	T_CHECK_INT(cols[D].w, 8, "fit: D added");
	/* 5+1+20+1+6+1+8 = 42; 38 left, B may grow to 30 */
	T_CHECK_INT(cols[B].w, 30, "fit: flexible B grows to its maximum");
	T_CHECK_INT(cols[C].x, 5 + 1 + 30 + 1, "fit: x follows widths and separators");
	kt_tui_fit(cols, N, steps, 5, 2, 30);
	/* 5+1+10=16, +C 7=23, B->20 needs 10: 33 > 30 ends the list */
	T_CHECK_INT(cols[B].w, 10 + 7, "fit: narrow: B not widened by the step, leftover given");
	T_CHECK_INT(cols[D].w, 0, "fit: narrow: D after the first misfit is dropped");
	T_CHECK_INT(cols[C].w, 6, "fit: narrow: C kept");
	kt_tui_fit(cols, N, steps, 5, 2, 4);
	T_CHECK(cols[A].w == 5 && cols[B].w == 10 && cols[C].w == 0, "fit: mandatory columns even when too narrow");
}

static void test_cells(void)
{
	char b[256];
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "orders", 8, KT_TUI_CUT_END, false), "orders  ", "cell: padded left");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "42", 5, KT_TUI_CUT_END, true), "   42", "cell: padded right");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "ingress-nginx", 8, KT_TUI_CUT_END, false), "ingress~", "cell: cut at the end");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "orders-7d9f8c6b5-2xkqp", 13, KT_TUI_CUT_MIDDLE, false), "orders~-2xkqp",
		    "cell: cut in the middle");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "orders-7d9f8c6b5-2xkqp", 7, KT_TUI_CUT_HEAD, false), "~-2xkqp",
		    "cell: cut at the head");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "a\x1b[31mb", 10, KT_TUI_CUT_END, false), "a\\x1b[31mb",
		    "cell: control bytes escaped, then measured");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "x\ny", 3, KT_TUI_CUT_END, false), "x\\~", "cell: escape cut to width");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "caf\xc3\xa9", 6, KT_TUI_CUT_END, false), "caf?? ",
		    "cell: non-ASCII shown as ? without a UTF-8 locale");
	T_CHECK_STR(kt_tui_cell(b, sizeof(b), "abc", 1, KT_TUI_CUT_END, false), "~", "cell: width 1");
	T_CHECK_STR(kt_tui_svc_cell(b, sizeof(b), "kube-system", "coredns", 20), "kube-system/coredns ", "svc cell: whole");
	T_CHECK_STR(kt_tui_svc_cell(b, sizeof(b), "payments-production-eu-west-1", "checkout-api-grpc-gateway-internal", 27),
		    "payments~/checkout~internal", "svc cell: both parts cut");
	T_CHECK_STR(kt_tui_svc_cell(b, sizeof(b), "kube-system", "coredns", 15), "kube-s~/coredns",
		    "svc cell: the namespace cut first");
}

/* ---- JSON writer events and YAML ----------------------------------------- */

struct evlog {
	char buf[1024];
	size_t n;
};

static int on_ev(void *ctx, enum kt_jw_event e, const char *s, size_t n)
{
	struct evlog *l = ctx;
	static const char *names[] = {"{", "}", "[", "]", "K", "S", "N", "B", "0", "."};
	l->n += (size_t)snprintf(l->buf + l->n, sizeof(l->buf) - l->n, "%s%s%.*s ", names[e], s ? ":" : "", (int)n,
				 s ? s : "");
	return 0;
}

static void test_events(void)
{
	struct evlog l = {.n = 0};
	struct kt_jw *w = kt_jw_new_events(on_ev, &l);
	kt_jw_obj(w);
	kt_jw_kstr(w, "a", "x\xff");
	kt_jw_key(w, "n");
	kt_jw_arr(w);
	kt_jw_int(w, -3);
	kt_jw_double(w, 0.25);
	kt_jw_bool(w, true);
	kt_jw_null(w);
	kt_jw_raw(w, "{\"r\":[1]}", 9);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	T_CHECK_INT(kt_jw_free(w), 0, "events: writer ends cleanly");
	T_CHECK_STR(l.buf, "{ K:a S:x\xef\xbf\xbd K:n [ N:-3 N:0.25 B:true 0 { K:r [ N:1 ] } ] } . ",
		    "events: every call one event, invalid UTF-8 replaced, raw JSON replayed");
}

static void test_yaml(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct kt_cli c = {.out = KT_OUT_YAML};
	struct kt_jw *w = kt_cli_jw(&c, f, true);
	kt_jw_obj(w);
	kt_jw_kstr(w, "name", "orders");
	kt_jw_kstr(w, "yes", "true");
	kt_jw_kstr(w, "ip", "10.0.0.1");
	kt_jw_kstr(w, "num", "80");
	kt_jw_kstr(w, "empty", "");
	kt_jw_kstr(w, "nl", "a\nb");
	kt_jw_kint(w, "port", 80);
	kt_jw_kbool(w, "ready", false);
	kt_jw_knull(w, "node");
	kt_jw_key(w, "none");
	kt_jw_arr(w);
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
	T_CHECK_INT(kt_jw_free(w), 0, "yaml: emitter ends cleanly");
	fclose(f);
	T_CHECK_STR(buf,
		    "name: orders\n'yes': 'true'\nip: '10.0.0.1'\nnum: '80'\nempty: ''\nnl: \"a\\nb\"\nport: 80\n"
		    "ready: false\nnode: null\nnone: []\n",
		    "yaml: strings YAML would misread are quoted, other values plain");
	free(buf);
}

static void run(void)
{
	test_fit();
	test_cells();
	test_events();
	test_yaml();
}

T_MAIN("test_render")
