/*
 * Internal to cli/tui/: the imbalance dashboard's state, shared by the view
 * (imbalance_view.c: sampling, ordering, keys, the loop) and its drawing
 * (imbalance_draw.c).
 */
#ifndef KT_CLI_TUI_VIEW_H
#define KT_CLI_TUI_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cli/tui/tui.h"

#define HIST_LEN 60
#define HIST_SLOTS 4096
#define HIST_PROBES 64           /* slots looked at before giving up (no history) */
#define FILTER_MAX 63

struct kt_imb_hist {
	char *key;               /* "node|ns/name|ip:port" (node: -1 all, else the index shown) */
	float v[HIST_LEN];       /* share, ring */
	uint32_t n, head;
	uint64_t gen;            /* last sample that touched it */
	uint64_t hash;           /* of the key */
};

enum { V_LIST, V_DETAIL };

struct kt_imb_view {
	struct kt_cli *c;
	struct kt_imb_feed *feed;
	const struct kt_imb_result *r;
	int mode;
	int sel, top;
	int dsel, dtop;
	char ns[256], name[256];
	int lsort, dsort;
	char filter[FILTER_MAX + 1];
	bool editing;
	bool paused, help;
	double interval;
	uint64_t gen;            /* samples taken */
	uint64_t data_sig;       /* signature of the current data */
	uint64_t drawn_sig;      /* signature of what is on screen */
	time_t changed_at;       /* when the data last changed */
	char err[256];
	struct kt_imb_hist *hist;       /* HIST_SLOTS, open addressing */
	uint32_t *order;         /* list / detail row order */
	uint32_t n_order, cap_order;
	int rows, cols;
	/* --nodes: the feed's node dimension (NULL: one node) and the extra
	 * header line it takes */
	const struct kt_imb_nodes *nodes;
	int hdr;
};

/* The share history of one endpoint of a Service (NULL: none, or the
 * table is full and create is false). */
struct kt_imb_hist *kt_imb_hist_get(struct kt_imb_view *v, const char *ns, const char *name, const char *ip, int port,
				    bool create);
/* The Service the per-Service view shows; NULL when not in this sample. */
const struct kt_imb_service *kt_imb_cur_svc(const struct kt_imb_view *v);
/* Draw the whole screen (the caller erases before and refreshes after). */
void kt_imb_paint(struct kt_imb_view *v);

#endif
