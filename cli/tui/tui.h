/*
 * The terminal UI layer (cli/tui/): term.c owns the terminal (initscr /
 * endwin, colours, KEY_RESIZE, signal handlers that restore the terminal);
 * imbalance_view.c draws the rows the imbalance analyzer computed and
 * handles keys. Nothing here computes a metric.
 */
#ifndef KT_CLI_TUI_H
#define KT_CLI_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "ktrace/imbalance.h"

/* Colour pairs (term.c). */
enum kt_tui_pair {
	KT_TP_NORMAL = 0,
	KT_TP_TITLE = 1,
	KT_TP_HOT,
	KT_TP_STARVED,
	KT_TP_GOOD,
	KT_TP_DIM,
	KT_TP_SEL,
	KT_TP_BAR,
	KT_TP_FAIR,
	KT_TP_COUNT,
};

/* Enter curses mode: honours use_color (cli->color); installs SIGINT,
 * SIGTERM (quit flag), SIGSEGV/SIGBUS/SIGABRT/SIGFPE (restore terminal,
 * re-raise) and an atexit hook. Returns -1 when the terminal cannot be
 * used (d says why). */
int kt_tui_begin(bool use_color, struct kt_diag *d);
/* Leave curses mode (idempotent, safe from atexit). */
void kt_tui_end(void);
/* A quit signal arrived. */
bool kt_tui_quit_requested(void);
/* Attribute for a colour pair (A_NORMAL-based fallbacks without colour). */
int kt_tui_attr(enum kt_tui_pair p);
/* UTF-8 drawing available (bars and sparklines with block characters). */
bool kt_tui_utf8(void);
/* Wait up to ms for a key; returns the key, or -1 on timeout. */
int kt_tui_getkey(int ms);

/* Column layout (layout.c). A view lists its columns in display order;
 * kt_tui_fit() applies steps in order (a step sets a column to a width:
 * adds it, or widens it; a flexible column widens at most to flex_max),
 * the first n_mandatory always, the rest while they fit in width (one
 * space between columns; the first step that does not fit ends it), then
 * gives what is left to columns with flex_max. A column with w == 0 is
 * not shown. */
struct kt_tui_col {
	const char *title;
	bool right;              /* right-aligned */
	int flex_max;            /* 0: fixed; else may grow to this width (what its data needs) */
	int w, x;                /* computed: width (0 dropped), start column */
};
struct kt_tui_step {
	int col;
	int width;
};
void kt_tui_fit(struct kt_tui_col *cols, int n, const struct kt_tui_step *steps, int n_steps, int n_mandatory,
		int width);
enum kt_tui_cut { KT_TUI_CUT_END, KT_TUI_CUT_MIDDLE, KT_TUI_CUT_HEAD };
/* s made visible-safe and fitted to exactly w display columns (cut with
 * an ellipsis where cut says, padded); dst needs 4 * w + 8 bytes. */
const char *kt_tui_cell(char *dst, size_t cap, const char *s, int w, enum kt_tui_cut cut, bool right);
/* "namespace/name" in w columns: the namespace is cut first. */
const char *kt_tui_svc_cell(char *dst, size_t cap, const char *ns, const char *name, int w);
/* Display columns of visible-safe text. */
int kt_tui_width(const char *s);

/* --nodes: the node dimension a feed offers. */
struct kt_imb_node {
	const char *name;
	const char *gap;         /* why the last refresh has no sample of it; NULL: it answered */
	uint32_t connections;    /* open connections in its last sample */
};

struct kt_imb_nodes {
	const struct kt_imb_node *v;  /* every selected node, sorted by name */
	uint32_t n, n_gaps;
	uint32_t connections;    /* their sum */
	int sel;                 /* -1: all nodes (the sum), else the node shown */
};

/* One refresh of the data: the view calls it every interval. It returns a
 * new result (owned by the feed until the next call or kt_imb_feed end);
 * NULL with err filled on failure. */
struct kt_imb_feed {
	const struct kt_imb_result *(*next)(void *ctx, char *err, unsigned errlen);
	void *ctx;
	bool live;               /* false: a bundle, one static sample */
	const char *dp_mode;
	/* --nodes (NULL otherwise): the nodes of the last refresh; show node
	 * sel (-1 all) from the data of the last refresh (no new request);
	 * how Service ns/name splits over the nodes in the current view
	 * (NULL: not in it). Results and splits are the feed's until its next
	 * next() or select(). */
	const struct kt_imb_nodes *(*nodes)(void *ctx);
	const struct kt_imb_result *(*select)(void *ctx, int sel);
	const struct kt_imb_split *(*split)(void *ctx, const char *ns, const char *name);
	/* the Service the view shows (NULL: the list), so that every refresh
	 * counts its split while summing; takes effect at the next next() or
	 * select() */
	void (*focus)(void *ctx, const char *ns, const char *name);
};

struct kt_imb_view_opts {
	double interval;         /* s */
	const char *start_ns;    /* open this Service first */
	const char *start_name;
	long frames;             /* stop after this many samples; 0 = until q */
	bool use_color;
};

/* Smallest terminal the dashboard draws in; below it says so on screen
 * (ktrace-imbalance(1) states the same). */
#define KT_TUI_MIN_COLS 60
#define KT_TUI_MIN_ROWS 10

/* Run the dashboard until q / a signal / frames. Returns an exit code. */
int kt_tui_imbalance(struct kt_cli *c, struct kt_imb_feed *feed, const struct kt_imb_view_opts *o);

#endif
