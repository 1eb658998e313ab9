/*
 * The compact form of an agent's flow sample (/v1/flows?form=compact),
 * both directions: what a client refreshing every node every few seconds
 * asks for. The sample's header keys are the bundle shape's; the
 * aggregates are one string of unsigned decimal numbers ("rows", FIELDS
 * per aggregate, "-" for unknown) whose address, protocol and source
 * fields index a "strings" table, so a 500-aggregate sample is about a
 * fifth of the object form and decodes without a JSON node per number.
 * The sampler's per-aggregate counts (opened, byte rates) are fields of
 * the rows. The format is documented in ktrace-agent(1). Every count is
 * bounded; malformed bodies are KT_EXIT_INPUT with what was wrong. Must
 * not: print, judge, do I/O.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/agent/agent_int.h"
#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"

#define COMPACT_MAX_AGG 1000000u
#define COMPACT_MAX_STRINGS (4u * COMPACT_MAX_AGG)

/* The row layout: the order of the numbers of one aggregate. */
static const char *const fields[] = {
	"vip", "vport", "protocol", "backendIP", "backendPort", "src", "zone", "established", "total", "bytesOrig",
	"bytesReply", "packets", "older1m", "older10m", "older1h", "recent", "opened", "rateOrig", "rateReply", "rttUs",
};
enum { F_VIP, F_VPORT, F_PROTO, F_BIP, F_BPORT, F_SRC, F_ZONE, F_EST, F_TOTAL, F_BORIG, F_BREPLY, F_PKTS, F_O1M,
       F_O10M, F_O1H, F_RECENT, F_OPENED, F_RORIG, F_RREPLY, F_RTT, N_FIELDS };
#define UNKNOWN UINT64_MAX

/* ---- writer (the agent) ---------------------------------------------- */

/* Distinct strings in first-seen order, found through a small hash. */
struct strtab {
	const char **v;
	uint32_t n, cap;
	uint32_t *slot;          /* index + 1, 0 empty */
	uint32_t nslot;
};

static uint32_t str_ix(struct strtab *t, const char *s)
{
	if (!s)
		s = "";
	if ((t->n + 1) * 2 > t->nslot) {
		t->nslot = t->nslot ? t->nslot * 2 : 256;
		free(t->slot);
		t->slot = kt_xcalloc(t->nslot, sizeof(*t->slot));
		for (uint32_t i = 0; i < t->n; i++) {
			uint32_t j = (uint32_t)kt_hash_str(KT_HASH_SEED, t->v[i]) & (t->nslot - 1);
			while (t->slot[j])
				j = (j + 1) & (t->nslot - 1);
			t->slot[j] = i + 1;
		}
	}
	uint32_t j = (uint32_t)kt_hash_str(KT_HASH_SEED, s) & (t->nslot - 1);
	for (; t->slot[j]; j = (j + 1) & (t->nslot - 1))
		if (!strcmp(t->v[t->slot[j] - 1], s))
			return t->slot[j] - 1;
	kt_grow(&t->v, &t->n, &t->cap, sizeof(*t->v));
	t->v[t->n - 1] = s;
	t->slot[j] = t->n;
	return t->n - 1;
}

/* The strings, space-separated (addresses, protocol and source names have
 * none; anything else that could split one becomes '_'). */
static char *strings_text(const struct strtab *st)
{
	size_t len = 1;
	for (uint32_t i = 0; i < st->n; i++)
		len += strlen(st->v[i]) + 1;
	char *buf = kt_xmalloc(len), *p = buf;
	for (uint32_t i = 0; i < st->n; i++) {
		if (i)
			*p++ = ' ';
		const char *s = st->v[i][0] ? st->v[i] : "_";
		for (; *s; s++)
			*p++ = (unsigned char)*s <= ' ' || *s == 0x7f ? '_' : *s;
	}
	*p = 0;
	return buf;
}

/* The aggregates as rows: N_FIELDS numbers each, space-separated. */
static char *rows_text(const struct kt_flow_sample *fs, struct strtab *st)
{
	size_t cap = (size_t)fs->n_agg * N_FIELDS * 21 + 1, o = 0;
	char *buf = kt_xmalloc(cap);
	buf[0] = 0;
	for (uint32_t i = 0; i < fs->n_agg; i++) {
		const struct kt_flow_agg *x = &fs->agg[i];
		uint64_t v[N_FIELDS] = {
			[F_VIP] = str_ix(st, x->vip), [F_VPORT] = (uint64_t)x->vport, [F_PROTO] = str_ix(st, x->protocol),
			[F_BIP] = str_ix(st, x->backend_ip), [F_BPORT] = (uint64_t)x->backend_port,
			[F_SRC] = str_ix(st, kt_flow_src_name(x->src)), [F_ZONE] = x->zone, [F_EST] = x->established,
			[F_TOTAL] = x->total, [F_BORIG] = x->bytes_orig, [F_BREPLY] = x->bytes_reply, [F_PKTS] = x->packets,
			[F_O1M] = x->older_1m, [F_O10M] = x->older_10m, [F_O1H] = x->older_1h, [F_RECENT] = x->recent,
			[F_OPENED] = fs->events ? x->opened : UNKNOWN,
			[F_RORIG] = fs->events && x->rate_orig >= 0 ? (uint64_t)llround(x->rate_orig) : UNKNOWN,
			[F_RREPLY] = fs->events && x->rate_reply >= 0 ? (uint64_t)llround(x->rate_reply) : UNKNOWN,
			[F_RTT] = x->rtt_ms > 0 ? (uint64_t)llround(x->rtt_ms * 1000) : UNKNOWN,
		};
		for (int f = 0; f < N_FIELDS; f++) {
			if (o)
				buf[o++] = ' ';
			if (v[f] == UNKNOWN)
				buf[o++] = '-';
			else
				o += (size_t)snprintf(buf + o, cap - o, "%llu", (unsigned long long)v[f]);
		}
	}
	buf[o] = 0;
	return buf;
}

void kt_agent_flows_compact_to_json(struct kt_jw *w, const struct kt_flow_sample *fs, const struct kt_gap *gaps,
				    uint32_t n_gaps, int64_t interval_ms)
{
	struct strtab st = {0};
	char *rows = rows_text(fs, &st);
	kt_jw_obj(w);
	kt_jw_kstr(w, "node", fs->node);
	kt_jw_kstr(w, "source", fs->source);
	kt_jw_kint(w, "takenMs", fs->taken_ms);
	kt_jw_kbool(w, "acct", fs->acct);
	kt_jw_kbool(w, "timestamps", fs->timestamps);
	kt_jw_kuint(w, "entriesSeen", fs->entries_seen);
	kt_jw_kstr(w, "form", "compact");
	kt_jw_key(w, "fields");
	kt_jw_arr(w);
	for (int f = 0; f < N_FIELDS; f++)
		kt_jw_str(w, fields[f]);
	kt_jw_arr_end(w);
	char *strs = strings_text(&st);
	kt_jw_kstr(w, "strings", strs);
	free(strs);
	kt_jw_kstr(w, "rows", rows);
	if (gaps && n_gaps)
		kt_agent_gaps_json(w, gaps, n_gaps);
	kt_jw_key(w, "sampler");
	kt_jw_obj(w);
	kt_jw_kint(w, "intervalMs", interval_ms);
	kt_jw_kbool(w, "events", fs->events);
	kt_jw_kbool(w, "fullDump", fs->full_dump);
	kt_jw_kbool(w, "capped", fs->capped);
	kt_jw_kuint(w, "elapsedUs", fs->elapsed_us);
	kt_jw_obj_end(w);
	kt_jw_obj_end(w);
	free(rows);
	free(st.v);
	free(st.slot);
}

/* ---- decoder (the client) ------------------------------------------- */

/* The next token of rows at *p: a number (up to max) or "-" (UNKNOWN).
 * False at the end or on anything else. */
static bool token(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	while (s < end && *s == ' ')
		s++;
	if (s >= end)
		return false;
	if (*s == '-') {
		*out = UNKNOWN;
		*p = s + 1;
		return s + 1 >= end || s[1] == ' ';
	}
	uint64_t v = 0;
	const char *b = s;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (s == b || (s < end && *s != ' ') || v > max)
		return false;
	*out = v;
	*p = s;
	return true;
}

/* Field f's upper bound (string fields: below the table's size). */
static uint64_t field_max(int f, uint32_t n_strings)
{
	switch (f) {
	case F_VIP: case F_PROTO: case F_BIP: case F_SRC:
		return n_strings ? n_strings - 1 : 0;   /* no strings: no row (checked) */
	case F_VPORT: case F_BPORT: case F_ZONE:
		return 65535;
	case F_BORIG: case F_BREPLY: case F_PKTS: case F_RORIG: case F_RREPLY:
		return 18000000000000000000ull;
	case F_RTT:
		return 3600000000ull;
	default:
		return 4000000000ull;
	}
}

static bool is_str(int f)
{
	return f == F_VIP || f == F_PROTO || f == F_BIP || f == F_SRC;
}

static bool unknown_ok(int f)
{
	return f == F_OPENED || f == F_RORIG || f == F_RREPLY || f == F_RTT;
}

/* One aggregate (kt_grow zeroed it) from a row's numbers. */
static void fill(struct kt_flow_agg *a, const uint64_t *v, const char *const *str, const uint8_t *src)
{
	a->vip = str[v[F_VIP]];
	a->vport = (int32_t)v[F_VPORT];
	a->protocol = str[v[F_PROTO]][0] ? str[v[F_PROTO]] : "TCP";
	a->backend_ip = str[v[F_BIP]];
	a->backend_port = (int32_t)v[F_BPORT];
	a->src = (enum kt_flow_src)src[v[F_SRC]];
	a->zone = (uint16_t)v[F_ZONE];
	a->established = (uint32_t)v[F_EST];
	a->total = (uint32_t)v[F_TOTAL];
	a->bytes_orig = v[F_BORIG];
	a->bytes_reply = v[F_BREPLY];
	a->packets = v[F_PKTS];
	a->older_1m = (uint32_t)v[F_O1M];
	a->older_10m = (uint32_t)v[F_O10M];
	a->older_1h = (uint32_t)v[F_O1H];
	a->recent = (uint32_t)v[F_RECENT];
	a->opened = v[F_OPENED] == UNKNOWN ? 0 : (uint32_t)v[F_OPENED];
	a->rate_orig = v[F_RORIG] == UNKNOWN ? -1 : (double)v[F_RORIG];
	a->rate_reply = v[F_RREPLY] == UNKNOWN ? -1 : (double)v[F_RREPLY];
	a->rtt_ms = v[F_RTT] == UNKNOWN ? 0 : (double)v[F_RTT] / 1000.0;
}

/* "fields" must name exactly this version's row layout. */
static int check_fields(const cJSON *fl, struct kt_diag *d)
{
	int i = 0;
	const cJSON *x;
	if (!cJSON_IsArray(fl) || cJSON_GetArraySize(fl) != N_FIELDS)
		return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: compact \"fields\" is not the %d-field row layout",
				   N_FIELDS);
	cJSON_ArrayForEach(x, fl) {
		if (!cJSON_IsString(x) || strcmp(x->valuestring, fields[i]))
			return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: compact field %d is not \"%s\"", i, fields[i]);
		i++;
	}
	return 0;
}

static const char **read_strings(struct kt_snapshot *snap, const char *text, uint32_t *n, struct kt_diag *d)
{
	*n = 0;
	if (!text) {
		kt_diag_set(d, KT_EXIT_INPUT, "agent flows: compact \"strings\" is not a string");
		return NULL;
	}
	uint32_t cap = 16;
	const char **v = kt_xreallocarray(NULL, cap, sizeof(*v));
	for (const char *p = text; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		size_t l = strcspn(p, " ");
		if (l > 255 || *n >= COMPACT_MAX_STRINGS) {
			kt_diag_set(d, KT_EXIT_INPUT, "agent flows: compact strings: more than %u or one longer than 255 bytes",
				    COMPACT_MAX_STRINGS);
			free(v);
			return NULL;
		}
		if (*n == cap) {
			cap *= 2;
			v = kt_xreallocarray(v, cap, sizeof(*v));
		}
		v[(*n)++] = kt_arena_strndup(snap->arena, p, l);
		p += l;
	}
	return v;
}

int kt_agent_flows_compact_from_json(struct kt_snapshot *snap, const cJSON *j, struct kt_diag *d)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "takenMs"), *es = cJSON_GetObjectItemCaseSensitive(j, "entriesSeen");
	const char *rows = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "rows"));
	if (check_fields(cJSON_GetObjectItemCaseSensitive(j, "fields"), d) < 0)
		return -KT_EXIT_INPUT;
	if (!rows)
		return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: compact \"rows\" is not a string");
	if ((es && !cJSON_IsNull(es) && (!cJSON_IsNumber(es) || !(es->valuedouble >= 0 && es->valuedouble <= 1e15))))
		return kt_diag_set(d, KT_EXIT_INPUT, "agent flows: bad \"entriesSeen\"");
	uint32_t ns = 0;
	const char **str = read_strings(snap, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "strings")), &ns, d);
	if (!str)
		return -KT_EXIT_INPUT;
	struct kt_flow_sample tmp = {0};
	tmp.node = kt_intern(snap->arena, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "node")));
	const char *source = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "source"));
	tmp.source = source ? kt_intern(snap->arena, source) : "bundle";
	if (cJSON_IsNumber(t) && isfinite(t->valuedouble) && t->valuedouble > 0 && t->valuedouble < 1e16)
		tmp.taken_ms = (int64_t)t->valuedouble;
	tmp.acct = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "acct"));
	tmp.timestamps = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "timestamps"));
	tmp.entries_seen = cJSON_IsNumber(es) ? (uint64_t)es->valuedouble : 0;
	const char *p = rows, *end = rows + strlen(rows);
	uint64_t v[N_FIELDS], maxv[N_FIELDS];
	int rc = 0;
	for (int f = 0; f < N_FIELDS; f++)
		maxv[f] = field_max(f, ns);
	/* each string's flow source, for the rows' src field */
	uint8_t *src = kt_xcalloc(ns + 1, 1);
	for (uint32_t i = 0; i < ns; i++)
		src[i] = !strcmp(str[i], "cilium-ct") ? KT_FLOW_CILIUM : !strcmp(str[i], "inet_diag") ? KT_FLOW_SOCKET
											   : KT_FLOW_CONNTRACK;
	/* a row takes at least 2 * N_FIELDS bytes: one allocation, not a doubling series */
	size_t guess = (size_t)(end - p) / (2 * N_FIELDS) + 1;
	tmp.cap_agg = guess < COMPACT_MAX_AGG ? (uint32_t)guess : COMPACT_MAX_AGG;
	tmp.agg = kt_xreallocarray(NULL, tmp.cap_agg, sizeof(*tmp.agg));
	while (rc == 0) {
		const char *q = p;
		while (q < end && *q == ' ')
			q++;
		if (q >= end)
			break;
		if (tmp.n_agg >= COMPACT_MAX_AGG) {
			rc = kt_diag_set(d, KT_EXIT_INPUT, "agent flows: more than %u aggregates", COMPACT_MAX_AGG);
			break;
		}
		for (int f = 0; f < N_FIELDS && rc == 0; f++)
			if (!token(&p, end, maxv[f], &v[f]) || (v[f] == UNKNOWN && !unknown_ok(f)) || (is_str(f) && !ns))
				rc = kt_diag_set(d, KT_EXIT_INPUT, "agent flows: compact row %u, field \"%s\": not a number "
						 "within bounds", tmp.n_agg, fields[f]);
		if (rc == 0)
			fill(kt_grow(&tmp.agg, &tmp.n_agg, &tmp.cap_agg, sizeof(*tmp.agg)), v, str, src);
	}
	free(str);
	free(src);
	if (rc < 0) {
		free(tmp.agg);
		return rc;
	}
	*KT_SNAP_PUSH(snap, flows) = tmp;
	return 0;
}
