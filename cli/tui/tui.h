/*
 * The terminal UI layer (cli/tui/): term.c owns the terminal (initscr /
 * endwin, colours, KEY_RESIZE, signal handlers that restore the terminal);
 * imbalance_view.c draws the rows the imbalance analyzer computed and
 * handles keys. Nothing here computes a metric.
 */
#ifndef KT_CLI_TUI_H
#define KT_CLI_TUI_H

#include <stdbool.h>
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

/* One refresh of the data: the view calls it every interval. It returns a
 * new result (owned by the feed until the next call or kt_imb_feed end);
 * NULL with err filled on failure. */
struct kt_imb_feed {
	const struct kt_imb_result *(*next)(void *ctx, char *err, unsigned errlen);
	void *ctx;
	bool live;               /* false: a bundle, one static sample */
	const char *dp_mode;
};

struct kt_imb_view_opts {
	double interval;         /* s */
	const char *start_ns;    /* open this Service first */
	const char *start_name;
	long frames;             /* stop after this many samples; 0 = until q */
	bool use_color;
};

/* Run the dashboard until q / a signal / frames. Returns an exit code. */
int kt_tui_imbalance(struct kt_cli *c, struct kt_imb_feed *feed, const struct kt_imb_view_opts *o);

#endif
