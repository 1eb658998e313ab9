/*
 * The one module that owns the terminal: initscr/endwin, colour pairs
 * (only when cli->color says so, i.e. honouring NO_COLOR and --color),
 * keyboard mode, and the signal handlers that always give the terminal
 * back: SIGINT/SIGTERM set a quit flag the view loop checks; fatal signals
 * (SIGSEGV, SIGBUS, SIGABRT, SIGFPE) call endwin() and re-raise. KEY_RESIZE
 * comes from ncurses' own SIGWINCH handling.
 */
#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/tui/tui.h"

static volatile sig_atomic_t quit_flag;
static volatile sig_atomic_t active;
static bool colors_on;
static bool utf8;
static bool atexit_done;

static void on_quit(int sig)
{
	(void)sig;
	quit_flag = 1;
}

static void on_fatal(int sig)
{
	if (active) {
		active = 0;
		endwin();   /* not async-signal-safe, but the process is dying anyway (htop does the same) */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void at_exit(void)
{
	kt_tui_end();
}

bool kt_tui_quit_requested(void)
{
	return quit_flag != 0;
}

bool kt_tui_utf8(void)
{
	return utf8;
}

int kt_tui_begin(bool use_color, struct kt_diag *d)
{
	if (!isatty(0) || !isatty(1))
		return kt_diag_set(d, KT_EXIT_USAGE, "the dashboard needs a terminal");
	setlocale(LC_ALL, "");
	const char *cs = nl_langinfo(CODESET);
	utf8 = cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
	if (!newterm(NULL, stdout, stdin)) {
		const char *t = getenv("TERM");
		kt_diag_set(d, KT_EXIT_USAGE, "cannot initialise the terminal (TERM=%s)", t ? t : "unset");
		kt_diag_hint(d, "set TERM to a known terminal type, or use --once");
		return -KT_EXIT_USAGE;
	}
	active = 1;
	if (!atexit_done) {
		atexit(at_exit);
		atexit_done = true;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_quit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	colors_on = false;
	if (use_color && has_colors()) {
		start_color();
		use_default_colors();
		init_pair(KT_TP_TITLE, COLOR_CYAN, -1);
		init_pair(KT_TP_HOT, COLOR_RED, -1);
		init_pair(KT_TP_STARVED, COLOR_YELLOW, -1);
		init_pair(KT_TP_GOOD, COLOR_GREEN, -1);
		init_pair(KT_TP_DIM, COLOR_BLUE, -1);
		init_pair(KT_TP_SEL, COLOR_BLACK, COLOR_CYAN);
		init_pair(KT_TP_BAR, COLOR_CYAN, -1);
		init_pair(KT_TP_FAIR, COLOR_MAGENTA, -1);
		colors_on = true;
	}
	return 0;
}

void kt_tui_end(void)
{
	if (!active)
		return;
	active = 0;
	curs_set(1);
	endwin();
	fflush(stdout);
}

int kt_tui_attr(enum kt_tui_pair p)
{
	if (colors_on) {
		switch (p) {
		case KT_TP_NORMAL: return A_NORMAL;
		case KT_TP_TITLE: return COLOR_PAIR(KT_TP_TITLE) | A_BOLD;
		case KT_TP_HOT: return COLOR_PAIR(KT_TP_HOT) | A_BOLD;
		case KT_TP_SEL: return COLOR_PAIR(KT_TP_SEL);
		case KT_TP_DIM: return A_DIM;
		default: return COLOR_PAIR(p);
		}
	}
	switch (p) {
	case KT_TP_TITLE: return A_BOLD;
	case KT_TP_HOT: return A_BOLD;
	case KT_TP_STARVED: return A_UNDERLINE;
	case KT_TP_SEL: return A_REVERSE;
	case KT_TP_DIM: return A_DIM;
	default: return A_NORMAL;
	}
}

int kt_tui_getkey(int ms)
{
	if (ms < 0)
		ms = 0;
	timeout(ms);
	int ch = getch();
	return ch == ERR ? -1 : ch;
}
