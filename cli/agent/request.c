/*
 * Everything of the agent that reads request bytes, as pure functions: the
 * method and raw request target (path, query parameters, percent
 * decoding, Service keys), the token headers (compared in constant time),
 * Accept-Encoding and If-None-Match. No allocation, no I/O, bounded by
 * KT_AGENT_MAX_TARGET and KT_AGENT_MAX_KEYS; tests/fuzz/fuzz_agent_request.c
 * drives it with arbitrary bytes. The server (server.c) only routes on the
 * result.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/agent/agent.h"

static void fail(struct kt_ag_req *r, int status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(struct kt_ag_req *r, int status, const char *reason, const char *fmt, ...)
{
	if (r->status)
		return;
	r->status = status;
	r->reason = reason;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into dst (cap bytes incl. NUL). Returns the
 * decoded length, or -1 for a bad escape, a control byte or no room. */
static long pct_decode(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -1;
			int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
			if (h < 0 || l < 0)
				return -1;
			c = (unsigned char)(h << 4 | l);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (o + 1 >= cap)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = 0;
	return (long)o;
}

static bool ns_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']';
}

/* One decoded key "namespace/name": the shapes kt_dp_service names take. */
static bool key_ok(const char *k, size_t len)
{
	size_t nsl, nml;
	const char *nm;
	if (len > KT_AGENT_MAX_KEY_LEN || !kt_agent_key_split(k, len, &nsl, &nm, &nml))
		return false;
	if (nsl > 63 || nml > 253)
		return false;
	for (size_t i = 0; i < nsl; i++)
		if (!ns_char(k[i]))
			return false;
	for (size_t i = 0; i < nml; i++)
		if (!name_char(nm[i]))
			return false;
	return true;
}

static void parse_keys(struct kt_ag_req *r, char *v)
{
	r->has_keys = true;
	char *p = v;
	while (*p) {
		char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (comma)
			*comma = 0;
		if (len) {
			if (!key_ok(p, len)) {
				fail(r, 400, "BadRequest", "keys: '%.200s' is not a Service key (namespace/name)", p);
				return;
			}
			bool dup = false;
			for (uint32_t i = 0; i < r->n_keys && !dup; i++)
				dup = strcmp(r->keys[i], p) == 0;
			if (!dup) {
				if (r->n_keys == KT_AGENT_MAX_KEYS) {
					fail(r, 400, "BadRequest", "keys: more than %d keys in one request", KT_AGENT_MAX_KEYS);
					return;
				}
				r->keys[r->n_keys++] = p;
			}
		}
		if (!comma)
			break;
		p = comma + 1;
	}
}

static bool bool_val(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "true") || !v[0]) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "0") || !strcmp(v, "false")) {
		*out = false;
		return true;
	}
	return false;
}

/* One "name=value" of the query (raw bytes q[0..n)). *used is the space
 * taken in r->buf so far. */
static void parse_param(struct kt_ag_req *r, const char *q, size_t n, size_t *used, unsigned *seen)
{
	const char *eq = memchr(q, '=', n);
	size_t nl = eq ? (size_t)(eq - q) : n;
	char name[32];
	long l = nl < sizeof(name) ? pct_decode(name, sizeof(name), q, nl) : -1;
	if (l < 0) {
		fail(r, 400, "BadRequest", "unknown query parameter");
		return;
	}
	char *v = r->buf + *used;
	long vl = pct_decode(v, sizeof(r->buf) - *used, eq ? eq + 1 : q + n, eq ? n - nl - 1 : 0);
	if (vl < 0) {
		fail(r, 400, "BadRequest", "query parameter '%.40s': bad percent-encoding or control characters", name);
		return;
	}
	*used += (size_t)vl + 1;
	static const char *const names[] = {"keys", "state", "canonical", "form"};
	static const enum kt_ag_route owner[] = {KT_AG_NODE, KT_AG_NODE, KT_AG_DIGESTS, KT_AG_FLOWS};
	int which = -1;
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, names[i]) && owner[i] == r->route)
			which = i;
	if (which < 0) {
		fail(r, 400, "BadRequest", "unknown query parameter '%.40s' for this path", name);
		return;
	}
	if (*seen & (1u << which)) {
		fail(r, 400, "BadRequest", "query parameter '%s' given twice", name);
		return;
	}
	*seen |= 1u << which;
	if (which == 0) {
		parse_keys(r, v);
	} else if (which == 1) {
		bool ok = vl == 16;
		for (int i = 0; ok && i < 16; i++)
			ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f');
		if (!ok)
			fail(r, 400, "BadRequest", "state: '%.40s' is not a state id (16 hex digits)", v);
		else
			memcpy(r->state, v, 17);
	} else if (which == 2) {
		if (!bool_val(v, &r->canonical))
			fail(r, 400, "BadRequest", "canonical: '%.40s' is not 0 or 1", v);
	} else if (!strcmp(v, "compact") || !strcmp(v, "full")) {
		r->compact = !strcmp(v, "compact");
	} else {
		fail(r, 400, "BadRequest", "form: '%.40s' is not compact or full", v);
	}
}

static enum kt_ag_route route_of(const char *p)
{
	static const struct {
		const char *path;
		enum kt_ag_route route;
	} routes[] = {
		{KT_AGENT_PATH_HEALTHZ, KT_AG_HEALTHZ}, {KT_AGENT_PATH_METRICS, KT_AG_METRICS},
		{KT_AGENT_PATH_NODE, KT_AG_NODE},       {KT_AGENT_PATH_DIGESTS, KT_AG_DIGESTS},
		{KT_AGENT_PATH_FLOWS, KT_AG_FLOWS},
	};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(p, routes[i].path))
			return routes[i].route;
	return KT_AG_NONE;
}

void kt_ag_parse(struct kt_ag_req *r, const char *method, const char *target, size_t len)
{
	r->route = KT_AG_NONE;
	r->head = false;
	r->status = 0;
	r->reason = NULL;
	r->error[0] = 0;
	r->canonical = r->has_keys = r->compact = false;
	r->n_keys = 0;
	r->state[0] = 0;
	r->buf[0] = 0;
	if (!target || len > KT_AGENT_MAX_TARGET) {
		fail(r, 414, "RequestURITooLong", "the request target is longer than %d bytes", KT_AGENT_MAX_TARGET);
		return;
	}
	if (!len || target[0] != '/') {
		fail(r, 400, "BadRequest", "the request target is not an absolute path");
		return;
	}
	const char *q = memchr(target, '?', len);
	size_t pl = q ? (size_t)(q - target) : len;
	char path[64];
	long l = pl < sizeof(path) ? pct_decode(path, sizeof(path), target, pl) : -1;
	r->route = l < 0 ? KT_AG_NONE : route_of(path);
	if (method && !strcmp(method, "HEAD"))
		r->head = true;
	else if (!method || strcmp(method, "GET") != 0)
		fail(r, 405, "MethodNotAllowed", "only GET and HEAD are served");
	if (r->route == KT_AG_NONE) {
		fail(r, 404, "NotFound", "no such path; see ktrace-agent(1)");
		return;
	}
	if (!q || r->route == KT_AG_HEALTHZ)
		return;
	size_t used = 0;
	unsigned seen = 0;
	const char *p = q + 1, *end = target + len;
	while (p < end && !r->status) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t n = amp ? (size_t)(amp - p) : (size_t)(end - p);
		if (n)
			parse_param(r, p, n, &used, &seen);
		p += n + 1;
	}
}

/* Compare given[0..glen) with the secret in time that depends only on
 * the secret's length. */
static bool ct_equal(const char *given, size_t glen, const char *secret, size_t slen)
{
	volatile unsigned char acc = (unsigned char)(glen != slen);
	for (size_t i = 0; i < slen; i++) {
		unsigned char g = i < glen ? (unsigned char)given[i] : 0;
		acc |= (unsigned char)(g ^ (unsigned char)secret[i]);
	}
	return acc == 0;
}

bool kt_ag_token_ok(const char *x_token, size_t x_len, const char *authorization, size_t a_len,
		    const char *token, size_t token_len)
{
	if (!token || token_len < KT_AGENT_TOKEN_MIN)
		return false;
	bool ok = false;
	if (x_token)
		ok |= ct_equal(x_token, x_len, token, token_len);
	if (authorization && a_len > 7 && strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *t = authorization + 7;
		size_t tl = a_len - 7;
		while (tl && *t == ' ')
			t++, tl--;
		while (tl && t[tl - 1] == ' ')
			tl--;
		ok |= ct_equal(t, tl, token, token_len);
	}
	return ok;
}

/* Next comma-separated element of a header list: [*s, *e) trimmed;
 * advances *p. False at the end. */
static bool next_elem(const char **p, const char **s, const char **e)
{
	const char *c = *p;
	while (*c == ',' || *c == ' ' || *c == '\t')
		c++;
	if (!*c)
		return false;
	const char *end = c;
	bool quoted = false;
	while (*end && (quoted || *end != ',')) {
		if (*end == '"')
			quoted = !quoted;
		end++;
	}
	*s = c;
	*e = end;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
	*p = end;
	return true;
}

bool kt_ag_accepts_gzip(const char *ae)
{
	if (!ae)
		return false;
	double gz = -1, star = -1;
	const char *p = ae, *s, *e;
	while (next_elem(&p, &s, &e)) {
		size_t tl = 0;
		while (s + tl < e && s[tl] != ';' && s[tl] != ' ' && s[tl] != '\t')
			tl++;
		double q = 1;
		const char *semi = memchr(s, ';', (size_t)(e - s));
		while (semi) {
			const char *a = semi + 1;
			while (a < e && (*a == ' ' || *a == '\t'))
				a++;
			if (e - a >= 2 && (a[0] == 'q' || a[0] == 'Q') && a[1] == '=') {
				char num[16];
				size_t nl = (size_t)(e - a - 2) < sizeof(num) - 1 ? (size_t)(e - a - 2) : sizeof(num) - 1;
				memcpy(num, a + 2, nl);
				num[nl] = 0;
				char *stop;
				q = strtod(num, &stop);
				if (stop == num || q < 0 || q > 1)
					q = 0;
			}
			semi = memchr(a, ';', (size_t)(e - a));
		}
		if ((tl == 4 && !strncasecmp(s, "gzip", 4)) || (tl == 6 && !strncasecmp(s, "x-gzip", 6)))
			gz = q > gz ? q : gz;
		else if (tl == 1 && s[0] == '*')
			star = q;
	}
	return (gz >= 0 ? gz : star) > 0;
}

bool kt_ag_etag_match(const char *inm, const char *etag)
{
	if (!inm || !etag)
		return false;
	/* opaque part of ours: without W/ */
	if (!strncmp(etag, "W/", 2))
		etag += 2;
	size_t el = strlen(etag);
	const char *p = inm, *s, *e;
	while (next_elem(&p, &s, &e)) {
		if (e - s == 1 && *s == '*')
			return true;
		if (e - s > 2 && !strncmp(s, "W/", 2))
			s += 2;
		if ((size_t)(e - s) == el && !memcmp(s, etag, el))
			return true;
	}
	return false;
}
