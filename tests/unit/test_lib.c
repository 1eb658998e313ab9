/* Unit tests for lib/: arena and interning, the JSON writer (escaping,
 * UTF-8 repair, numbers), selectors, targetPort resolution, findings. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ktrace/arena.h"
#include "ktrace/util.h"
#include "ktrace/findings.h"
#include "ktrace/jsonw.h"
#include "ktrace/model.h"

struct buf {
	char b[4096];
	size_t n;
};

static int sink(void *ctx, const char *p, size_t n)
{
	struct buf *b = ctx;
	if (b->n + n >= sizeof(b->b))
		return -1;
	memcpy(b->b + b->n, p, n);
	b->n += n;
	b->b[b->n] = 0;
	return 0;
}

static void test_arena(void)
{
	struct kt_arena *a = kt_arena_new();
	const char *x = kt_intern(a, "shop"), *y = kt_intern(a, "shop"), *z = kt_intern(a, "shops");
	T_CHECK(x == y, "interned strings share storage");
	T_CHECK(x != z && !strcmp(z, "shops"), "distinct strings differ");
	for (int i = 0; i < 5000; i++) {
		char k[32];
		snprintf(k, sizeof(k), "key-%d", i);
		kt_intern(a, k);
	}
	T_CHECK(kt_intern(a, "shop") == x, "intern table survives growth");
	char *big = kt_arena_alloc(a, 1 << 20);
	T_CHECK(big && big[0] == 0 && big[(1 << 20) - 1] == 0, "big allocation is zeroed");
	T_CHECK_STR(kt_arena_printf(a, "%s/%d", "ns", 7), "ns/7", "arena printf");
	T_CHECK(kt_intern(a, NULL) == NULL && kt_arena_strdup(a, NULL) == NULL, "NULL passes through");
	kt_arena_free(a);
}

static void test_jsonw(void)
{
	struct buf b = {.n = 0};
	struct kt_jw *w = kt_jw_new_sink(sink, &b, false);
	kt_jw_obj(w);
	kt_jw_kstr(w, "s", "a\"b\\c\n\t\x01");
	kt_jw_kstr(w, "utf8", "caf\xc3\xa9");
	kt_jw_kstr(w, "bad", "x\xff\xc3y");
	kt_jw_kstr(w, "overlong", "\xc0\xaf");
	kt_jw_kdouble(w, "p", 0.25);
	kt_jw_kdouble(w, "third", 1.0 / 3);
	kt_jw_kdouble(w, "nan", NAN);
	kt_jw_kdouble(w, "whole", 3.0);
	kt_jw_kint(w, "neg", -42);
	kt_jw_key(w, "arr");
	kt_jw_arr(w);
	kt_jw_bool(w, true);
	kt_jw_null(w);
	kt_jw_arr(w);
	kt_jw_arr_end(w);
	kt_jw_arr_end(w);
	kt_jw_knull(w, "n");
	kt_jw_obj_end(w);
	T_CHECK_INT(kt_jw_free(w), 0, "writer flushes");
	T_CHECK_STR(b.b,
		    "{\"s\":\"a\\\"b\\\\c\\n\\t\\u0001\",\"utf8\":\"caf\xc3\xa9\",\"bad\":\"x\xef\xbf\xbd\xef\xbf\xbdy\","
		    "\"overlong\":\"\xef\xbf\xbd\xef\xbf\xbd\",\"p\":0.25,\"third\":0.3333333333,\"nan\":null,\"whole\":3,"
		    "\"neg\":-42,\"arr\":[true,null,[]],\"n\":null}",
		    "escapes, UTF-8 repair, numbers, nesting");
	struct buf p = {.n = 0};
	w = kt_jw_new_sink(sink, &p, true);
	kt_jw_obj(w);
	kt_jw_kint(w, "a", 1);
	kt_jw_key(w, "e");
	kt_jw_obj(w);
	kt_jw_obj_end(w);
	kt_jw_obj_end(w);
	kt_jw_free(w);
	T_CHECK_STR(p.b, "{\n  \"a\": 1,\n  \"e\": {}\n}\n", "pretty printing");
}

static struct kt_kvlist kv(struct kt_arena *a, int n, ...)
{
	struct kt_kvlist l = {.v = KT_ANEW(a, struct kt_kv, n), .n = (uint32_t)n};
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		l.v[i].key = va_arg(ap, const char *);
		l.v[i].value = va_arg(ap, const char *);
	}
	va_end(ap);
	return l;
}

static void test_selectors(void)
{
	struct kt_arena *a = kt_arena_new();
	struct kt_kvlist labels = kv(a, 2, "app", "web", "tier", "front");
	struct kt_kvlist sel = kv(a, 1, "app", "web");
	struct kt_kvlist other = kv(a, 1, "app", "api");
	struct kt_kvlist empty = {0};
	T_CHECK(kt_labels_match_map(&sel, &labels), "map selector matches");
	T_CHECK(!kt_labels_match_map(&other, &labels), "map selector mismatch");
	T_CHECK(!kt_labels_match_map(&empty, &labels), "empty Service selector matches nothing");
	struct kt_selector ls = {.present = true};
	T_CHECK(kt_selector_match(&ls, &labels), "present empty LabelSelector matches everything");
	ls.present = false;
	T_CHECK(!kt_selector_match(&ls, &labels), "absent LabelSelector matches nothing");
	const char *vals[] = {"front", "mid"};
	struct kt_selreq in = {.key = "tier", .op = KT_SEL_IN, .values = vals, .n_values = 2};
	struct kt_selector s2 = {.present = true, .match_labels = sel, .exprs = &in, .n_exprs = 1};
	T_CHECK(kt_selector_match(&s2, &labels), "matchLabels + In");
	in.op = KT_SEL_NOTIN;
	T_CHECK(!kt_selector_match(&s2, &labels), "NotIn excludes");
	in.op = KT_SEL_NOTEXISTS;
	T_CHECK(!kt_selector_match(&s2, &labels), "DoesNotExist excludes");
	in.key = "zone";
	T_CHECK(kt_selector_match(&s2, &labels), "DoesNotExist on a missing key");
	in.op = KT_SEL_EXISTS;
	T_CHECK(!kt_selector_match(&s2, &labels), "Exists on a missing key");
	kt_arena_free(a);
}

static void test_target_port(void)
{
	struct kt_cport p1 = {.name = "http", .protocol = "TCP", .port = 8080};
	struct kt_cport p2 = {.name = "metrics", .protocol = "TCP", .port = 9100};
	struct kt_container cs[2] = {{.name = "app", .ports = &p1, .n_ports = 1},
				     {.name = "proxy", .init = true, .sidecar = true, .ports = &p2, .n_ports = 1}};
	struct kt_podspec spec = {.containers = cs, .n_containers = 2};
	struct kt_svc_port sp = {.protocol = "TCP", .port = 80, .target = {.name = "http"}};
	T_CHECK_INT(kt_resolve_target_port(&sp, &spec), 8080, "named port resolves");
	sp.target.name = "metrics";
	T_CHECK_INT(kt_resolve_target_port(&sp, &spec), 9100, "native sidecar port resolves");
	cs[1].sidecar = false;
	T_CHECK_INT(kt_resolve_target_port(&sp, &spec), 0, "plain init container port does not count");
	sp.target.name = "nope";
	T_CHECK_INT(kt_resolve_target_port(&sp, &spec), 0, "undeclared name does not resolve");
	sp.target.name = NULL;
	sp.target.num = 7000;
	T_CHECK_INT(kt_resolve_target_port(&sp, &spec), 7000, "numeric targetPort needs no containerPort");
	sp.target.num = 0;
	T_CHECK_INT(kt_resolve_target_port(&sp, &spec), 80, "unset targetPort equals port");
	sp.target.name = "http";
	sp.protocol = "UDP";
	T_CHECK_INT(kt_resolve_target_port(&sp, &spec), 0, "protocol must match");
}

static void test_findings(void)
{
	T_CHECK_INT(kt_rule_lookup("KT101"), KT_R_KT101, "rule by id");
	T_CHECK_INT(kt_rule_lookup("kt603"), KT_R_KT603, "rule id is case-insensitive");
	T_CHECK_INT(kt_rule_lookup("missing-prestop"), KT_R_KT201, "rule by name");
	T_CHECK_INT(kt_rule_lookup("KT999"), -1, "unknown rule");
	T_CHECK_INT(kt_severity_parse("warning"), KT_SEV_WARNING, "severity parse");
	T_CHECK_INT(kt_severity_parse("fatal"), -1, "bad severity");
	struct kt_arena *a = kt_arena_new();
	struct kt_findings f = {0};
	struct kt_meta m = {.kind = "Service", .namespace = "b", .name = "x"};
	kt_finding_add(&f, a, KT_R_KT404, &m, "info one");
	kt_finding_add(&f, a, KT_R_KT202, &m, "error %d", 2);
	kt_finding_add(&f, a, KT_R_KT101, &m, "warning");
	kt_findings_sort(&f);
	T_CHECK(f.n == 3 && f.v[0].rule == KT_R_KT202 && f.v[2].rule == KT_R_KT404, "sorted most severe first");
	T_CHECK_STR(f.v[0].message, "error 2", "message formatted");
	for (int i = 0; i < KT_RULE_COUNT; i++)
		if (!kt_rules[i].mitigation || !*kt_rules[i].mitigation || strncmp(kt_rules[i].id, "KT", 2))
			T_CHECK(0, "every rule has an id and a mitigation");
	kt_findings_release(&f);
	kt_arena_free(a);
}

static void test_vis(void)
{
	struct kt_arena *a = kt_arena_new();
	const char *clean = "node-a \u00e9t\u00e9 \xe2\x9c\x93 10.0.0.1:80";
	T_CHECK(kt_vis(a, clean) == clean, "clean text (ASCII, UTF-8) is returned as is, no copy");
	T_CHECK(kt_vis(a, NULL) == NULL, "NULL stays NULL");
	T_CHECK_STR(kt_vis(a, "a\033]0;pwned\007b"), "a\\x1b]0;pwned\\x07b", "ESC and BEL escaped (OSC title)");
	T_CHECK_STR(kt_vis(a, "l1\nl2\r\tx\by"), "l1\\nl2\\r\\tx\\x08y", "newline, CR, tab, BS escaped");
	T_CHECK_STR(kt_vis(a, "x\x7f"), "x\\x7f", "DEL escaped");
	T_CHECK_STR(kt_vis(a, "c1\xc2\x9b" "2J"), "c1\\u009b2J", "C1 CSI (U+009B) escaped");
	T_CHECK_STR(kt_vis(a, "ab\xe2\x80\xae" "cba"), "ab\\u202ecba", "bidi override U+202E escaped");
	T_CHECK_STR(kt_vis(a, "\xe2\x81\xa6x\xe2\x81\xa9"), "\\u2066x\\u2069", "bidi isolates escaped");
	T_CHECK_STR(kt_vis(a, "bad\x9b\xff\xc0\xaf"), "bad\\x9b\\xff\\xc0\\xaf", "invalid UTF-8 bytes escaped");
	T_CHECK_STR(kt_vis(a, "\xed\xa0\x80"), "\\xed\\xa0\\x80", "UTF-8 surrogate escaped byte by byte");
	T_CHECK_STR(kt_vis(a, "trunc\xe2\x80"), "trunc\\xe2\\x80", "truncated sequence escaped");
	T_CHECK(!kt_vis_clean("a\tb") && kt_vis_clean("ab") && kt_vis_clean(NULL), "kt_vis_clean");
	char buf[8];
	size_t need = kt_vis_escape(buf, sizeof(buf), "ab\ncdefgh");
	T_CHECK_INT((long)need, 10, "escape returns the full length");
	T_CHECK_STR(buf, "ab\\ncde", "escape truncates, NUL-terminated");
	need = kt_vis_escape(buf, 4, "a\x01" "b");
	T_CHECK_STR(buf, "a", "an escape that does not fit is not cut in half");
	T_CHECK_INT((long)need, 6, "length of a\\x01b");
	kt_arena_free(a);
}

static int u32_key(const void *key, const void *elem, void *ctx)
{
	uint32_t a = *(const uint32_t *)key, b = *(const uint32_t *)elem;
	return a < b ? -1 : a > b;
}

/* The one binary search over sorted arrays, the model lookups on it, and
 * the label-selector parser (lib/selector.c). */
static void test_search(void)
{
	static const uint32_t v[] = {2, 4, 4, 4, 9};
	uint32_t k = 4;
	T_CHECK_INT(kt_lower_bound(v, 5, sizeof(v[0]), &k, u32_key, NULL), 1, "lower bound: the first equal element");
	k = 5;
	T_CHECK_INT(kt_lower_bound(v, 5, sizeof(v[0]), &k, u32_key, NULL), 4, "lower bound between elements");
	k = 10;
	T_CHECK_INT(kt_lower_bound(v, 5, sizeof(v[0]), &k, u32_key, NULL), 5, "lower bound past the end");
	T_CHECK_INT(kt_bsearch_ix(v, 5, sizeof(v[0]), &k, u32_key, NULL), (long)KT_NONE, "missing key: KT_NONE");
	k = 9;
	T_CHECK_INT(kt_bsearch_ix(v, 5, sizeof(v[0]), &k, u32_key, NULL), 4, "exact match");
	T_CHECK_INT(kt_bsearch_ix(v, 0, sizeof(v[0]), &k, u32_key, NULL), (long)KT_NONE, "empty array");
	struct kt_snapshot *s = kt_snapshot_new();
	const char *names[] = {"web", "api", "db"};
	for (int i = 0; i < 3; i++) {
		struct kt_workload *w = KT_SNAP_PUSH(s, workloads);
		w->kind = i == 2 ? KT_WL_STATEFULSET : KT_WL_DEPLOYMENT;
		w->meta.namespace = "shop";
		w->meta.name = names[i];
		struct kt_service *sv = KT_SNAP_PUSH(s, services);
		sv->meta.namespace = i ? "shop" : "other";
		sv->meta.name = names[i];
	}
	kt_snapshot_finish(s);
	uint32_t ix = kt_find_workload(s, "shop", KT_WL_STATEFULSET, "db");
	T_CHECK(ix != KT_NONE && !strcmp(s->workloads[ix].meta.name, "db"), "find a workload by (namespace, kind, name)");
	T_CHECK_INT(kt_find_workload(s, "shop", KT_WL_DEPLOYMENT, "db"), (long)KT_NONE, "the kind is part of the key");
	T_CHECK(kt_find_service(s, "other", "web") != KT_NONE && kt_find_service(s, "shop", "web") == KT_NONE,
		"find a Service by (namespace, name)");
	kt_snapshot_free(s);
	struct kt_arena *a = kt_arena_new();
	struct kt_selector sel;
	T_CHECK(kt_parse_label_selector("tier=front,env in (a,b),!canary", a, &sel) && sel.n_exprs == 3,
		"selector with =, in and !");
	struct kt_kv kv[] = {{"env", "a"}, {"tier", "front"}};
	struct kt_kvlist l = {kv, 2};
	T_CHECK(kt_selector_match(&sel, &l), "selector matches");
	kv[0].value = "c";
	T_CHECK(!kt_selector_match(&sel, &l), "selector does not match another value");
	kt_arena_free(a);
}

static void run(void)
{
	test_search();
	test_vis();
	test_arena();
	test_jsonw();
	test_selectors();
	test_target_port();
	test_findings();
}

T_MAIN("test_lib")
