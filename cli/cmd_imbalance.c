/*
 * `ktrace imbalance [SERVICE]`: per-Pod connection and byte share from the
 * node's NAT state (conntrack, Cilium CT) and sockets. The source layer
 * gathers the API objects (live API, --from BUNDLE, or --objects FILE for
 * "objects from a file, flows live") and the node dataplane (again every
 * --reload seconds), then this file takes one flow sample per interval; the analyzer computes every row and this file only
 * renders: one sample as text or JSON (--once, or no TTY), or the ncurses
 * dashboard (cli/tui/). Never touches collector internals.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/imbalance_int.h"
#include "ktrace/analyze.h"
#include "ktrace/codec.h"
#include "ktrace/dataplane.h"
#include "ktrace/flows.h"
#include "ktrace/imbalance.h"
#include "ktrace/jsonw.h"
#include "ktrace/node.h"
#include "ktrace/env.h"
#include "ktrace/xalloc.h"

static const struct kt_option opts[] = {
	{"interval", 'i', KT_OPT_NUM, "SECS", NULL, "refresh interval (default 2; --once: the gap between its two samples, default 1)"},
	{"once", 0, KT_OPT_FLAG, NULL, NULL, "print one sample (text or -o json) and exit; implied without a TTY"},
	{"hot-factor", 0, KT_OPT_NUM, "X", NULL, "hot: connection share above X times the fair share (default 1.5)"},
	{"starved-factor", 0, KT_OPT_NUM, "X", NULL, "starved: share below X times the fair share (default 0.5)"},
	{"starved-age", 0, KT_OPT_NUM, "SECS", NULL, "starved applies to endpoints ready for less than SECS (default 600)"},
	{"min-connections", 0, KT_OPT_INT, "N", NULL, "no verdict for Services with fewer open connections (default 4)"},
	{"bpffs", 0, KT_OPT_STR, "DIR", "dir", "BPF filesystem root for the Cilium CT maps (default /sys/fs/bpf)"},
	{"node", 0, KT_OPT_STR, "NAME", "node", "node name to record (live) or to show (--from a bundle with several nodes)"},
	{"objects", 0, KT_OPT_STR, "FILE", "file", "take Services/EndpointSlices/Pods from this bundle or kubectl List JSON, flows live"},
	{"sockets", 0, KT_OPT_FLAG, NULL, NULL, "also read this node's own TCP sockets (inet_diag): per-backend socket counts and bytes, and the counts for Services no NAT state covers"},
	{"all", 0, KT_OPT_FLAG, NULL, NULL, "list Services without flows too"},
	{"reload", 0, KT_OPT_INT, "SECS", NULL, "dashboard: reload objects and the node dataplane every SECS (default 30, with --nodes 300; 0 never)"},
	{"frames", 0, KT_OPT_INT, "N", NULL, "dashboard: exit after N samples (tests, sanitizer runs)"},
	{"count", 0, KT_OPT_INT, "N", NULL, "print N samples one interval apart (text, or one JSON object per line), then exit; implies --once"},
	{"resync", 0, KT_OPT_NUM, "SECS", NULL, "live: read the whole conntrack table every SECS; between full dumps follow the kernel's conntrack events (default 10; 0: a full dump every refresh)"},
	KT_FLEET_OPTS,
	{0},
};

#define KT_IMB_MAX_SEEN (1u << 18)

static int seen_cmp(const void *x, const void *y)
{
	const struct kt_imb_seen *a = x, *b = y;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return strcmp(a->ip, b->ip);
}

static int seen_key_cmp(const void *key, const void *elem, void *ctx)
{
	return seen_cmp(key, elem);
}

/* Append ip:port unless the sorted prefix [0, n_sorted) has it. */
static void seen_add(struct feed_ctx *f, uint32_t n_sorted, const char *ip, int32_t port, int64_t now)
{
	if (!ip || port <= 0 || f->n_seen >= KT_IMB_MAX_SEEN)
		return;   /* cap: further endpoints get no first-seen time */
	struct kt_imb_seen key = {.ip = ip, .port = port};
	if (kt_bsearch_ix(f->seen, n_sorted, sizeof(*f->seen), &key, seen_key_cmp, NULL) != KT_NONE)
		return;
	if (!f->seen_arena)
		f->seen_arena = kt_arena_new();
	kt_grow(&f->seen, &f->n_seen, &f->cap_seen, sizeof(*f->seen));
	struct kt_imb_seen *x = &f->seen[f->n_seen - 1];
	x->ip = kt_intern(f->seen_arena, ip);
	x->port = port;
	x->first_seen = now;
}

/* Record every endpoint of objs (EndpointSlices, node dataplane backends)
 * not seen before, stamped now. */
void kt_imb_seen_update(struct feed_ctx *f, const struct kt_snapshot *objs)
{
	int64_t now = time(NULL);
	uint32_t n0 = f->n_seen;
	for (uint32_t i = 0; i < objs->n_endpoints; i++)
		seen_add(f, n0, objs->endpoints[i].ip, objs->endpoints[i].port, now);
	for (uint32_t i = 0; i < objs->n_dp; i++)
		for (uint32_t j = 0; j < objs->dp[i].n_svcs; j++) {
			const struct kt_dp_service *ds = &objs->dp[i].svcs[j];
			for (uint32_t k = 0; k < ds->n_be; k++)
				seen_add(f, n0, ds->be[k].ip, ds->be[k].port, now);
		}
	/* sorted by (port, ip) for the analyzer's lookup; drop the batch's
	 * own duplicates (an endpoint in a slice and in the dataplane) */
	if (f->n_seen > 1)
		qsort(f->seen, f->n_seen, sizeof(*f->seen), seen_cmp);
	uint32_t w = 0;
	for (uint32_t i = 0; i < f->n_seen; i++) {
		if (w && !seen_cmp(&f->seen[w - 1], &f->seen[i])) {
			if (f->seen[i].first_seen < f->seen[w - 1].first_seen)
				f->seen[w - 1].first_seen = f->seen[i].first_seen;
			continue;
		}
		f->seen[w++] = f->seen[i];
	}
	f->n_seen = w;
	f->io.seen = f->seen;
	f->io.n_seen = f->n_seen;
}

#define KT_IMB_RELOAD_S 30
#define KT_IMB_RELOAD_FLEET_S 300

static void sampling_setup(struct feed_ctx *f, struct kt_snapshot *objs);

/* Live dashboard: Services, EndpointSlices, Pods and the node dataplane
 * change (scale-ups are what starves new endpoints): reload them every
 * KT_IMB_RELOAD_S seconds. On failure the previous objects stay. */
struct kt_snapshot *kt_imb_maybe_reload(struct feed_ctx *f)
{
	if ((!f->live && !f->fleet) || !f->reload_s || time(NULL) - f->loaded_at < f->reload_s)
		return NULL;
	f->loaded_at = time(NULL);
	struct kt_snapshot *n = NULL;
	struct kt_diag d;
	memset(&d, 0, sizeof(d));
	f->c->quiet = true; /* the dashboard owns the terminal: no progress lines on it */
	if (kt_cli_load(f->c, &f->scope, &n, &d) < 0 || !n)
		return NULL;
	if (!f->fleet) {
		sampling_setup(f, n);
		kt_imb_seen_update(f, n);
	}
	struct kt_snapshot *old = f->objs;
	f->objs = n;
	return old;
}

/* -l: only the rows of Services the selector matched */
static void keep_selected(const struct kt_snapshot *s, struct kt_imb_result *r)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < r->n_svcs; i++) {
		uint32_t ix = kt_find_service(s, r->svcs[i].namespace, r->svcs[i].name);
		bool in = false;
		for (uint32_t j = 0; j < s->focus.n_svcs && !in && ix != KT_NONE; j++)
			in = s->focus.svcs[j] == ix;
		if (in)
			r->svcs[k++] = r->svcs[i];
	}
	r->n_svcs = k;
}

static const struct kt_imb_result *feed_next(void *vctx, char *err, unsigned errlen)
{
	struct feed_ctx *f = vctx;
	if (f->fleet)
		return kt_imb_fleet_next(f, err, errlen);
	struct kt_diag d;
	memset(&d, 0, sizeof(d));
	const struct kt_flow_sample *cur = NULL, *prev = NULL;
	if (f->live) {
		struct kt_snapshot *s = NULL;
		if (kt_source_flow_sample(&f->no, &f->fo, &s, &d) < 0) {
			snprintf(err, errlen, "%s", d.msg);
			return NULL;
		}
		kt_snapshot_free(f->prev);
		f->prev = f->cur;
		f->cur = s;
		cur = s->n_flows ? &s->flows[0] : NULL;
		prev = f->prev && f->prev->n_flows ? &f->prev->flows[0] : NULL;
	} else {
		if (f->res)
			return f->res;
		cur = f->sample_ix < f->objs->n_flows ? &f->objs->flows[f->sample_ix] : NULL;
	}
	struct kt_snapshot *old_objs = kt_imb_maybe_reload(f);
	kt_findings_release(&f->findings);
	memset(&f->findings, 0, sizeof(f->findings));
	if (f->ra)
		kt_arena_free(f->ra);
	f->ra = kt_arena_new();
	f->res = NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kt_imbalance_analyze(f->objs, cur, prev, &f->io, f->ra, &f->res);
	if (f->res && f->objs->focus.services_only && f->scope.selector)
		keep_selected(f->objs, f->res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	f->analyze_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	f->collect_ms = f->live && cur ? cur->elapsed_us / 1e3 : 0;
	f->collect_total_ms += f->collect_ms;
	f->refresh = !f->live || !cur ? NULL : cur->events && !cur->full_dump ? "events" : "dump";
	kt_snapshot_free(old_objs);   /* the new result no longer points into it */
	return f->res;
}

/* ---- text / JSON ---------------------------------------------------- */

static const char *fmt_bytes(double v, char *buf, size_t n)
{
	static const char *u[] = {"", "k", "M", "G", "T", "P"};
	int i = 0;
	if (v < 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	while (v >= 1000 && i < 5) {
		v /= 1000;
		i++;
	}
	snprintf(buf, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
	return buf;
}

static void json_num_or_null(struct kt_jw *w, const char *k, double v)
{
	if (v < 0 || !isfinite(v))
		kt_jw_knull(w, k);
	else
		kt_jw_kdouble(w, k, round(v * 1000) / 1000);
}

/* One `imbalance -o json` sample, keys in the order ktrace-imbalance(1)
 * documents them. Longer than 120 lines on purpose: it reads top to bottom
 * as the schema (sample, timing, Services, backends, per-node breakdown). */
static void render_json(struct kt_cli *c, struct feed_ctx *f, const struct kt_imb_result *r, bool pretty)
{
	struct kt_jw *w = kt_cli_jw(c, stdout, pretty);
	kt_jw_obj(w);
	kt_jw_kdouble(w, "sampleSeconds", round(r->sample_s * 1000) / 1000);
	kt_jw_kstr(w, "node", r->node);
	kt_jw_kstr(w, "source", r->source);
	kt_jw_key(w, "dataplane");
	kt_jw_obj(w);
	kt_jw_kstr(w, "mode", r->mode);
	kt_jw_kstr(w, "source", f->live ? "node" : f->fleet ? "agents" : "bundle");
	kt_jw_obj_end(w);
	kt_jw_kbool(w, "acct", r->acct);
	kt_jw_kbool(w, "timestamps", r->timestamps);
	kt_jw_kuint(w, "entriesSeen", r->entries_seen);
	kt_jw_key(w, "timing");
	kt_jw_obj(w);
	kt_jw_kdouble(w, "collectMs", round(f->collect_ms * 1000) / 1000);
	kt_jw_kdouble(w, "analyzeMs", round(f->analyze_ms * 1000) / 1000);
	if (f->live)
		kt_jw_kdouble(w, "collectTotalMs", round(f->collect_total_ms * 1000) / 1000);
	if (f->refresh)
		kt_jw_kstr(w, "refresh", f->refresh);
	kt_jw_obj_end(w);
	kt_jw_key(w, "ages");
	kt_jw_obj(w);
	kt_jw_kbool(w, "known", r->timestamps);
	kt_jw_kuint(w, "connections", r->connections);
	kt_jw_kuint(w, "older1m", r->older_1m);
	kt_jw_kuint(w, "older10m", r->older_10m);
	kt_jw_kuint(w, "older1h", r->older_1h);
	kt_jw_obj_end(w);
	kt_jw_key(w, "services");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < r->n_svcs; i++) {
		const struct kt_imb_service *s = &r->svcs[i];
		kt_jw_obj(w);
		kt_jw_kstr(w, "namespace", s->namespace);
		kt_jw_kstr(w, "name", s->name);
		kt_jw_kstr(w, "mode", s->mode);
		kt_jw_kuint(w, "frontends", s->n_frontends);
		kt_jw_kuint(w, "connections", s->connections);
		kt_jw_kuint(w, "total", s->total);
		json_num_or_null(w, "newPerSecond", s->new_per_s);
		kt_jw_kuint(w, "bytes", s->bytes);
		json_num_or_null(w, "bytesPerSecond", s->bytes_per_s);
		kt_jw_key(w, "imbalance");
		kt_jw_obj(w);
		kt_jw_kdouble(w, "maxOverMean", round(s->max_over_mean * 1000) / 1000);
		kt_jw_kdouble(w, "cv", round(s->cv * 1000) / 1000);
		kt_jw_kdouble(w, "gini", round(s->gini * 1000) / 1000);
		kt_jw_obj_end(w);
		kt_jw_key(w, "ages");
		kt_jw_obj(w);
		kt_jw_kbool(w, "known", s->ages_known);
		kt_jw_kuint(w, "older1m", s->older_1m);
		kt_jw_kuint(w, "older10m", s->older_10m);
		kt_jw_kuint(w, "older1h", s->older_1h);
		kt_jw_obj_end(w);
		kt_jw_kstr(w, "verdict", s->verdict != KT_RULE_COUNT ? kt_rules[s->verdict].id : NULL);
		kt_jw_kstr(w, "reason", s->reason);
		kt_jw_key(w, "backends");
		kt_jw_arr(w);
		for (uint32_t j = 0; j < s->n_be; j++) {
			const struct kt_imb_backend *b = &s->be[j];
			kt_jw_obj(w);
			kt_jw_kstr(w, "ip", b->ip);
			kt_jw_kint(w, "port", b->port);
			kt_jw_kstr(w, "pod", b->pod);
			kt_jw_kstr(w, "node", b->node);
			kt_jw_kuint(w, "connections", b->connections);
			kt_jw_kuint(w, "total", b->total);
			json_num_or_null(w, "newPerSecond", b->new_per_s);
			kt_jw_kuint(w, "bytes", b->bytes_in + b->bytes_out);
			kt_jw_kuint(w, "bytesIn", b->bytes_in);
			kt_jw_kuint(w, "bytesOut", b->bytes_out);
			json_num_or_null(w, "bytesPerSecond", b->bytes_per_s);
			json_num_or_null(w, "bytesInPerSecond", b->bytes_in_per_s);
			json_num_or_null(w, "bytesOutPerSecond", b->bytes_out_per_s);
			kt_jw_kdouble(w, "share", round(b->share * 10000) / 10000);
			kt_jw_kdouble(w, "byteShare", round(b->byte_share * 10000) / 10000);
			kt_jw_kdouble(w, "fairShare", round(b->fair_share * 10000) / 10000);
			kt_jw_kbool(w, "ready", b->ready);
			kt_jw_kbool(w, "terminating", b->terminating);
			if (b->ready_age >= 0)
				kt_jw_kint(w, "readyAgeSeconds", b->ready_age);
			else
				kt_jw_knull(w, "readyAgeSeconds");
			kt_jw_kstr(w, "readySource", kt_imb_age_src_name(b->age_src));
			if (b->sockets) {
				kt_jw_key(w, "sockets");
				kt_jw_obj(w);
				kt_jw_kuint(w, "connections", b->sk_connections);
				kt_jw_kuint(w, "total", b->sk_total);
				kt_jw_kuint(w, "bytesIn", b->sk_bytes_in);
				kt_jw_kuint(w, "bytesOut", b->sk_bytes_out);
				kt_jw_kdouble(w, "rttMs", round(b->sk_rtt_ms * 1000) / 1000);
				kt_jw_obj_end(w);
			}
			kt_jw_key(w, "flags");
			kt_jw_arr(w);
			if (b->flags & KT_IMB_HOT)
				kt_jw_str(w, "hot");
			if (b->flags & KT_IMB_STARVED)
				kt_jw_str(w, "starved");
			if (b->flags & KT_IMB_UNKNOWN)
				kt_jw_str(w, "unknown");
			if (b->flags & KT_IMB_TERMINATING)
				kt_jw_str(w, "terminating");
			kt_jw_arr_end(w);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_key(w, "findings");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < f->findings.n; i++)
		kt_render_finding_json(w, &f->findings.v[i], true);
	kt_jw_arr_end(w);
	/* the objects' gaps, then the sample's */
	const struct kt_snapshot *cs = f->fleet ? kt_imb_fleet_snap(f) : f->cur;
	uint32_t n1 = f->objs ? f->objs->n_gaps : 0, n2 = cs ? cs->n_gaps : 0;
	struct kt_gap *gaps = kt_xcalloc(n1 + n2 + 1, sizeof(*gaps));
	for (uint32_t i = 0; i < n1; i++)
		gaps[i] = f->objs->gaps[i];
	for (uint32_t i = 0; i < n2; i++)
		gaps[n1 + i] = cs->gaps[i];
	kt_jw_key(w, "gaps");
	kt_gaps_to_json(w, gaps, n1 + n2);
	free(gaps);
	if (f->fleet)
		kt_imb_fleet_json(f, w);
	kt_jw_obj_end(w);
	kt_jw_free(w);
	if (!pretty && c->out == KT_OUT_JSON)
		putchar('\n');   /* one object per line */
	(void)c;
}

/* every string from the cluster, a bundle or the node goes through V() */
#define V(x) kt_cv(c, x)
#define VD(x) ((x) ? kt_cv(c, x) : "-")

static void text_flags(const struct kt_imb_backend *b, char *flags, size_t n)
{
	flags[0] = 0;
	if (b->flags & KT_IMB_HOT)
		strncat(flags, "hot ", n - strlen(flags) - 1);
	if (b->flags & KT_IMB_STARVED)
		strncat(flags, "starved ", n - strlen(flags) - 1);
	if (b->flags & KT_IMB_UNKNOWN)
		strncat(flags, "unknown ", n - strlen(flags) - 1);
	if (b->flags & KT_IMB_TERMINATING)
		strncat(flags, "terminating ", n - strlen(flags) - 1);
}

static void text_backend_row(struct kt_cli *c, const struct kt_imb_backend *b)
{
	char ep[80], flags[64], b2[32], b3[32], b4[32], age[24] = "-";
	snprintf(ep, sizeof(ep), strchr(b->ip, ':') ? "[%s]:%d" : "%s:%d", b->ip, b->port);
	text_flags(b, flags, sizeof(flags));
	const char *col = (b->flags & KT_IMB_HOT) ? kt_c(c, KT_C_RED) : (b->flags & KT_IMB_STARVED) ? kt_c(c, KT_C_YELLOW) : "";
	const char *nps = b->new_per_s >= 0 ? (snprintf(b2, sizeof(b2), "%.1f", b->new_per_s), b2) : "-";
	if (!c->wide) {
		printf("  %-22s %-24.24s %6u %6s %8s %5.0f%% %5.0f%%  %s%s%s\n", V(ep), VD(b->pod), b->connections, nps,
		       fmt_bytes((double)(b->bytes_in + b->bytes_out), b3, sizeof(b3)), b->share * 100, b->fair_share * 100,
		       col, flags, *col ? kt_c(c, KT_C_RESET) : "");
		return;
	}
	if (b->ready_age >= 0) {
		kt_fmt_age(b->ready_age, age, sizeof(age));
		if (b->age_src == KT_IMB_AGE_SLICE || b->age_src == KT_IMB_AGE_SEEN)
			strncat(age, "~", sizeof(age) - strlen(age) - 1);
	}
	printf("  %-22s %-32s %-16s %5s %-2s %6u %6u %6s %8s %8s %5.0f%% %5.0f%% %5.0f%%", V(ep), VD(b->pod), VD(b->node),
	       age, b->terminating ? "T" : b->ready ? "R" : "NR", b->connections, b->total, nps,
	       fmt_bytes((double)b->bytes_in, b3, sizeof(b3)), fmt_bytes((double)b->bytes_out, b4, sizeof(b4)),
	       b->share * 100, b->byte_share * 100, b->fair_share * 100);
	if (b->sockets)
		printf("  %6u %7.1f", b->sk_connections, b->sk_rtt_ms);
	else
		printf("  %6s %7s", "-", "-");
	printf("  %s%s%s\n", col, flags, *col ? kt_c(c, KT_C_RESET) : "");
}

static void render_text(struct kt_cli *c, struct feed_ctx *f, const struct kt_imb_result *r)
{
	char b1[32];
	printf("%snode%s %s  %sdataplane%s %s  %sflows%s %s  %ssample%s %.1fs  %sconnections%s %u",
	       kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), r->node ? V(r->node) : "?",
	       kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), r->mode ? V(r->mode) : "unknown",
	       kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), r->source ? V(r->source) : "none",
	       kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), r->sample_s,
	       kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), r->connections);
	if (r->timestamps)
		printf("  ages >1m %u >10m %u >1h %u", r->older_1m, r->older_10m, r->older_1h);
	printf("\n");
	if (!r->n_svcs)
		printf("\nno Service flows on this node%s\n", f->live ? " (no DNAT'ed connections in conntrack)" : "");
	for (uint32_t i = 0; i < r->n_svcs; i++) {
		const struct kt_imb_service *s = &r->svcs[i];
		printf("\n%s%s/%s%s  %u open (%u total)  new/s %s  max/mean %.2f  cv %.2f  gini %.2f  [%s]\n",
		       kt_c(c, KT_C_BOLD), s->namespace ? V(s->namespace) : "", s->name ? V(s->name) : "",
		       kt_c(c, KT_C_RESET), s->connections, s->total,
		       s->new_per_s >= 0 ? (snprintf(b1, sizeof(b1), "%.1f", s->new_per_s), b1) : "-",
		       s->max_over_mean, s->cv, s->gini, VD(s->mode));
		if (c->wide)
			printf("  %-22s %-32s %-16s %5s %-2s %6s %6s %6s %8s %8s %6s %6s %6s  %6s %7s  %s\n", "BACKEND", "POD",
			       "NODE", "AGE", "ST", "CONNS", "TOTAL", "NEW/S", "IN", "OUT", "SHARE", "BYTES%", "FAIR", "SOCKS",
			       "RTT-MS", "FLAGS");
		else
			printf("  %-22s %-24s %6s %6s %8s %6s %6s  %s\n", "BACKEND", "POD", "CONNS", "NEW/S", "BYTES",
			       "SHARE", "FAIR", "FLAGS");
		for (uint32_t j = 0; j < s->n_be; j++)
			text_backend_row(c, &s->be[j]);
		if (s->age_srcs & ((1u << KT_IMB_AGE_SLICE) | (1u << KT_IMB_AGE_SEEN)))
			printf("  %snote:%s no Pod readable for some endpoints: ready ages from %s\n",
			       kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET),
			       (s->age_srcs & (1u << KT_IMB_AGE_SLICE)) && (s->age_srcs & (1u << KT_IMB_AGE_SEEN))
				       ? "the EndpointSlice's last-change-trigger-time (approximate) and when ktrace first saw them"
			       : (s->age_srcs & (1u << KT_IMB_AGE_SLICE))
				       ? "the EndpointSlice's last-change-trigger-time (approximate)"
				       : "when this ktrace session first saw them");
		if (s->verdict != KT_RULE_COUNT) {
			const struct kt_rule *ru = &kt_rules[s->verdict];
			printf("  %s%s %s%s: %s\n", kt_c(c, KT_C_YELLOW), ru->id, ru->name, kt_c(c, KT_C_RESET),
			       s->reason ? V(s->reason) : ru->summary);
			printf("  %sfix:%s %s\n", kt_c(c, KT_C_GREEN), kt_c(c, KT_C_RESET), ru->mitigation);
		}
	}
	if (f->fleet)
		kt_imb_fleet_text(c, f);
	const struct kt_snapshot *gs[] = {f->objs, f->fleet ? kt_imb_fleet_snap(f) : f->cur};
	bool first = true;
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; gs[k] && i < gs[k]->n_gaps; i++) {
			if (first)
				printf("\n%sgaps:%s\n", kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET));
			first = false;
			printf("  %s: %s\n", V(gs[k]->gaps[i].what), V(gs[k]->gaps[i].why));
		}
}

/* ---- setup ----------------------------------------------------------- */

static void add_port(struct feed_ctx *f, uint32_t *cap, int32_t p)
{
	if (p <= 0 || p > 65535)
		return;
	for (uint32_t i = 0; i < f->fo.n_ports; i++)
		if (f->ports[i] == (uint16_t)p)
			return;
	if (f->fo.n_ports >= *cap) {
		*cap = *cap ? *cap * 2 : 16;
		f->ports = realloc(f->ports, *cap * sizeof(*f->ports));
		if (!f->ports)
			abort();
	}
	f->ports[f->fo.n_ports++] = (uint16_t)p;
}

/* Socket filter: the Services' ports (node clients of a ClusterIP), backend
 * ports and NodePorts (the kernel filters by them; above 64 ports
 * everything is read). */
static void socket_ports(struct feed_ctx *f, const char *ns, const char *name)
{
	uint32_t cap = 0;
	const struct kt_snapshot *s = f->objs;
	for (uint32_t i = 0; i < s->n_services; i++) {
		const struct kt_service *sv = &s->services[i];
		if (name && (strcmp(sv->meta.namespace, ns) || strcmp(sv->meta.name, name)))
			continue;
		for (uint32_t p = 0; p < sv->n_ports; p++) {
			add_port(f, &cap, sv->ports[p].node_port);
			add_port(f, &cap, sv->ports[p].port);   /* node clients of the ClusterIP */
		}
		for (uint32_t e = sv->ep_first; e < sv->ep_first + sv->ep_count; e++)
			add_port(f, &cap, s->endpoints[e].port);
	}
	for (uint32_t i = 0; i < s->n_dp; i++)
		for (uint32_t j = 0; j < s->dp[i].n_svcs; j++) {
			const struct kt_dp_service *ds = &s->dp[i].svcs[j];
			if (name && (strcmp(ds->namespace, ns) || strcmp(ds->name, name)))
				continue;
			for (uint32_t k = 0; k < ds->n_be; k++)
				add_port(f, &cap, ds->be[k].port);
			for (uint32_t k = 0; k < ds->n_fe; k++)
				add_port(f, &cap, ds->fe[k].port);
		}
	f->fo.ports = f->ports;
	if (f->fo.n_ports > 64) {
		f->fo.ports = NULL;
		f->fo.n_ports = 0;
	}
}

/* What the flow sampling needs from the objects and node state: whether
 * the kernel may filter conntrack for DNAT'ed entries, and the socket ports. */
static void sampling_setup(struct feed_ctx *f, struct kt_snapshot *objs)
{
	/* IPVS-made conntrack entries may lack IPS_DST_NAT: no kernel filter */
	bool ipvs = objs->proxy.mode && !strcmp(objs->proxy.mode, "ipvs");
	for (uint32_t i = 0; i < objs->n_dp; i++)
		if (objs->dp[i].modes & (1u << KT_DP_IPVS))
			ipvs = true;
	f->fo.all_entries = ipvs;
	if (f->fo.sockets) {
		struct kt_snapshot *keep = f->objs;
		f->objs = objs;
		f->fo.n_ports = 0;
		socket_ports(f, f->sns, f->sname);
		f->objs = keep;
	}
}

/* The verdict thresholds (--hot-factor, --starved-factor, --starved-age,
 * --min-connections). */
static int thresholds(struct kt_cli *c, struct kt_imb_opts *io)
{
	io->hot_factor = kt_opt_num(c, "hot-factor", 1.5);
	io->starved_factor = kt_opt_num(c, "starved-factor", 0.5);
	io->starved_age = (int64_t)kt_opt_num(c, "starved-age", 600);
	long mc = kt_opt_int(c, "min-connections", 4);
	if (!(io->hot_factor > 1 && io->hot_factor < 1000) || !(io->starved_factor > 0 && io->starved_factor < 1) ||
	    io->starved_age <= 0 || mc < 1 || mc > 1000000)
		return kt_cli_error(c, KT_EXIT_USAGE,
				    "--hot-factor > 1, 0 < --starved-factor < 1, --starved-age > 0, --min-connections >= 1",
				    "invalid threshold");
	io->min_conns = (uint32_t)mc;
	return 0;
}

/* --once / --count N: text or JSON, one sample at a time (a live host
 * first takes one more: rates need a gap). */
static int run_once(struct kt_cli *c, struct feed_ctx *f, long count, double interval)
{
	const struct kt_imb_result *r;
	bool refreshes = f->live || f->fleet;
	if (count > 1 && !refreshes)
		kt_cli_warn(c, "--count: a bundle holds one flow sample per node; printing it once");
	char err[1024] = "";
	struct timespec ts = {(time_t)interval, (long)((interval - floor(interval)) * 1e9)};
	if (f->live) {
		if (!feed_next(f, err, sizeof(err)))
			goto feed_err;
		nanosleep(&ts, NULL);
	}
	for (long k = 0; k < count; k++) {
		if (k) {
			if (!refreshes)
				break;   /* a bundle holds one sample per node */
			nanosleep(&ts, NULL);
			if (!kt_cli_structured(c))
				printf("\n");
		}
		r = feed_next(f, err, sizeof(err));
		if (!r)
			goto feed_err;
		kt_findings_release(&f->findings);
		memset(&f->findings, 0, sizeof(f->findings));
		kt_imbalance_result_findings(f->objs, r, f->ra, &f->findings);
		kt_findings_sort(&f->findings);
		if (kt_cli_structured(c))
			render_json(c, f, r, count == 1);
		else
			render_text(c, f, r);
		fflush(stdout);
		kt_cli_vis_reset(c);
	}
	return 0;
feed_err:
	return kt_cli_error(c, KT_EXIT_CLUSTER, NULL, "flow sample: %s", err);
}

/* parse -> scope -> load -> analyze -> render, for the three ways the
 * command runs (--once, --count N, the dashboard) and the fleet: about 130
 * lines because the option parsing of the thresholds and the feed set-up
 * each keep to one screen and are shared by all three. */
static int run(struct kt_cli *c)
{
	struct kt_diag d;
	memset(&d, 0, sizeof(d));
	struct feed_ctx f;
	memset(&f, 0, sizeof(f));
	f.c = c;
	int rc = 0;
	long count = kt_opt_int(c, "count", 1);
	if (count < 1 || count > 1000000)
		return kt_cli_error(c, KT_EXIT_USAGE, "give a number of samples, 1 or more", "invalid --count");
	bool once = kt_opt_flag(c, "once") || count > 1 || !isatty(0) || !isatty(1) || kt_cli_structured(c);
	double resync = kt_opt_num(c, "resync", 10);
	if (!(resync >= 0 && resync <= 86400))
		return kt_cli_error(c, KT_EXIT_USAGE, "give seconds, 0 to 86400", "invalid --resync");
	double interval = kt_opt_num(c, "interval", once ? 1.0 : 2.0);
	if (!(interval >= 0.1 && interval <= 3600))
		return kt_cli_error(c, KT_EXIT_USAGE, "give seconds between 0.1 and 3600", "invalid --interval");
	if ((rc = thresholds(c, &f.io)) != 0)
		return rc;
	f.io.all_services = kt_opt_flag(c, "all") || !once;
	if (c->argc > 1)
		return kt_cli_error(c, KT_EXIT_USAGE, "give at most one SERVICE", "too many arguments");
	/* --nodes: every node's state is a round of digests through every
	 * agent, so node states reload less often (flows every interval) */
	long reload = kt_opt_int(c, "reload", kt_opt_str(c, "nodes") ? KT_IMB_RELOAD_FLEET_S : KT_IMB_RELOAD_S);
	if (reload < 0 || reload > 86400)
		return kt_cli_error(c, KT_EXIT_USAGE, "give seconds, 0 to 86400", "invalid --reload");
	/* scope: every Service (SERVICE is where the view starts); objects from
	 * the API, --objects FILE or --from BUNDLE; this host's node state live */
	kt_cli_scope(c, &f.scope);
	if (kt_cli_target(c, &f.scope, 0, &d) < 0)
		return kt_cli_fail(c, &d);
	f.scope.svc_view = true;
	if (f.scope.nodes)
		kt_imb_fleet_init(&f);   /* keeps the agents for the refreshes */
	/* load */
	rc = kt_cli_load(c, &f.scope, &f.objs, &d);
	if (rc < 0) {
		kt_imb_fleet_free(&f);
		return kt_cli_fail(c, &d);
	}
	const char *sns = f.scope.svc_name ? f.objs->focus.ns : NULL, *sname = f.scope.svc_name;
	f.sns = sns;
	f.sname = sname;
	f.loaded_at = time(NULL);
	f.live = !c->from && !f.scope.nodes;
	bool partial = kt_cli_fleet_gaps(c, f.objs);
	f.no.node_name = f.objs->n_dp == 1 ? f.objs->dp[0].node : kt_opt_str(c, "node");
	f.no.bpffs = kt_opt_str(c, "bpffs");
	f.no.no_metrics = true;
	f.fo.sockets = kt_opt_flag(c, "sockets");
	f.reload_s = once ? 0 : (int)reload;
	if (f.live) {
		sampling_setup(&f, f.objs);
		f.io.session_start = time(NULL);
		/* conntrack events between full dumps (KTRACE_CT_EVENTS=0: dumps only) */
		const char *ev = kt_env_get(KT_ENV_CT_EVENTS);
		if (!(ev && !strcmp(ev, "0")))
			f.fo.live = kt_ct_live_new(resync);
		/* --once: one full dump, then the events until the second sample
		 * (a second dump only where events cannot be joined) */
		if (f.fo.live && once && count == 1)
			kt_ct_live_first_dumps(f.fo.live, 1);
		kt_imb_seen_update(&f, f.objs);
	} else if (f.fleet) {
		/* every node's sample through its agent (cli/imbalance_fleet.c) */
	} else if (f.scope.node_name) {
		f.io.node = f.scope.node_name;   /* the source kept only this node's sample */
		f.sample_ix = 0;
	} else if (!f.objs->n_flows) {
		kt_cli_warn(c, "the bundle holds no flow samples (collect them on a node with 'ktrace collect' as root)");
	}
	if (sname && once) {
		f.io.ns = sns;
		f.io.name = sname;
	}

	if (once) {
		rc = run_once(c, &f, count, interval);
		if (rc == 0 && partial)
			rc = KT_EXIT_PARTIAL;
		goto out;
	}

	struct kt_imb_feed feed = {.next = feed_next, .ctx = &f, .live = f.live || f.fleet};
	if (f.fleet)
		kt_imb_fleet_feed(&f, &feed);
	struct kt_imb_view_opts vo = {
		.interval = interval,
		.start_ns = sns,
		.start_name = sname,
		.frames = kt_opt_int(c, "frames", 0),
		.use_color = c->color == 1,
	};
	rc = kt_tui_imbalance(c, &feed, &vo);
out:
	kt_imb_fleet_free(&f);
	kt_findings_release(&f.findings);
	if (f.ra)
		kt_arena_free(f.ra);
	kt_snapshot_free(f.cur);
	kt_snapshot_free(f.prev);
	kt_snapshot_free(f.objs);
	free(f.ports);
	kt_ct_live_free(f.fo.live);
	free(f.seen);
	if (f.seen_arena)
		kt_arena_free(f.seen_arena);
	return rc;
}

const struct kt_command kt_cmd_imbalance = {
	.name = "imbalance",
	.run = run,
	.opts = opts,
	.args = "service",
	.flags = KT_CMD_SELECTOR,
	.wants = KT_WANT_SERVICES | KT_WANT_SLICES | KT_WANT_PODS | KT_WANT_NODES | KT_WANT_PROXY | KT_WANT_DATAPLANE |
		 KT_WANT_FLOW_FEED | KT_WANT_THIS_HOST | KT_WANT_API_OPTIONAL,
	.usage = "[SERVICE]",
	.summary = "live dashboard of per-Pod connection and byte share on this node (or every node)",
	.description =
		"Reads this node's NAT state (conntrack; Cilium's CT map when present) and joins every\n"
		"Service connection to its frontend and backend, from the node dataplane when readable\n"
		"and from the API's Services and EndpointSlices otherwise. Shows per endpoint the open\n"
		"connections, new connections/s, bytes, the share of connections against the fair share\n"
		"(1/n or the dataplane's weights), hot and starved markers, and a diagnosis keyed to\n"
		"KT402 connection-imbalance, KT403 new-endpoint-starved, KT401 long-lived connections\n"
		"and KT404 session affinity. Needs root on the node for live flows. With --nodes, every\n"
		"node's flows through its ktrace agent, summed, with a per-node breakdown (no root).\n"
		"\n"
		"Dashboard keys: arrows/j/k move, Enter open, Esc back, s sort, / filter, p pause,\n"
		"+/- interval, n/N next/previous node (--nodes: all nodes, then each), ? help, q quit.\n"
		"\n"
		"Examples:\n"
		"  ktrace imbalance                        dashboard of every Service with flows\n"
		"  ktrace imbalance svc/orders -n shop     start on one Service\n"
		"  ktrace imbalance --once -o json         one sample as JSON (also without a TTY)\n"
		"  ktrace imbalance -o json --count 60     a JSON line per second for a minute\n"
		"  ktrace imbalance --from bundle.json     the flows stored in a bundle\n"
		"  ktrace imbalance --nodes all            every node through its ktrace agent, live\n"
		"  ktrace imbalance --objects objs.json    objects from a file, flows from this node",
	.outputs = "text|wide|json|yaml",
};
