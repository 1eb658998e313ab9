/*
 * Manifest loader unit tests: YAML 1.1 scalar typing, positions of keys
 * and sequence items, anchors/aliases/merge keys, bounded alias expansion
 * (billion laughs), nesting cap without stack overflow, multi-document
 * streams with an error in the middle, JSON input, binary garbage, the
 * snapshot it fills (via kt_obj_ingest) and the .ktrace.yaml reader.
 * The fast YAML scanner is checked against libyaml (kt_yaml_dump) on every
 * fixture and on tricky snippets, and must handle the common shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <ftw.h>
#include <unistd.h>

#include "collectors/manifest/manifest.h"
#include "ktrace/manifest.h"
#include "ktrace/ruleconf.h"

#include "harness.h"

struct docs {
	int n;
	char *json[8];
	uint32_t line[8];
	uint32_t kline, kcol;    /* position of a probed node */
	const char *probe;       /* dotted path to probe in doc 0 */
};

static const cJSON *walk(const cJSON *n, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *p = buf;
	while (n && p && *p) {
		char *dot = strchr(p, '.');
		if (dot)
			*dot = 0;
		if (*p >= '0' && *p <= '9')
			n = cJSON_GetArrayItem(n, atoi(p));
		else
			n = cJSON_GetObjectItemCaseSensitive(n, p);
		p = dot ? dot + 1 : NULL;
	}
	return n;
}

static int on_doc(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line)
{
	struct docs *d = ctx;
	if (d->n >= 8)
		return 0;
	if (d->n == 0 && d->probe) {
		const cJSON *n = walk(root, d->probe);
		if (n)
			kt_ypos_lookup(pos, n, &d->kline, &d->kcol);
	}
	d->line[d->n] = first_line;
	d->json[d->n++] = cJSON_PrintUnformatted(root);
	return 0;
}

static void docs_free(struct docs *d)
{
	for (int i = 0; i < d->n; i++)
		free(d->json[i]);
}

static int parse(const char *y, struct docs *d, struct kt_yerr *e)
{
	memset(d->json, 0, sizeof(d->json));
	d->n = 0;
	return kt_yaml_parse(y, strlen(y), 0, on_doc, d, e);
}

static void test_scalars(void)
{
	struct docs d = {0};
	struct kt_yerr e;
	int rc = parse("a: 80\nb: \"80\"\nc: yes\nd: ~\ne: 0x1F\nf: 010\ng: 1.5\nh: http\ni: ''\nj: !!str 443\nk: -3\nl: 1e3\n", &d, &e);
	T_CHECK_INT(rc, 0, "scalars parse");
	T_CHECK_STR(d.json[0],
		    "{\"a\":80,\"b\":\"80\",\"c\":true,\"d\":null,\"e\":31,\"f\":8,\"g\":1.5,\"h\":\"http\",\"i\":\"\",\"j\":\"443\",\"k\":-3,\"l\":1000}",
		    "YAML 1.1 typing: numbers, quoted strings, bools, null, hex, octal, tags");
	docs_free(&d);
}

static void test_positions(void)
{
	struct docs d = {.probe = "spec.ports.1.targetPort"};
	struct kt_yerr e;
	int rc = parse("# c\napiVersion: v1\nkind: Service\nspec:\n  ports:\n  - port: 80\n  - name: x\n    targetPort: http\n",
		       &d, &e);
	T_CHECK_INT(rc, 0, "positions parse");
	T_CHECK_INT(d.kline, 8, "targetPort key line (1-based)");
	T_CHECK_INT(d.kcol, 5, "targetPort key column (1-based)");
	T_CHECK_INT(d.line[0], 2, "document first line");
	docs_free(&d);
	struct docs d2 = {.probe = "spec.ports.1"};
	parse("spec:\n  ports:\n  - port: 80\n  - name: x\n", &d2, &e);
	T_CHECK_INT(d2.kline, 4, "sequence item line");
	T_CHECK_INT(d2.kcol, 5, "sequence item column (the mapping after '- ')");
	docs_free(&d2);
}

static void test_anchors(void)
{
	struct docs d = {.probe = "c.x"};
	struct kt_yerr e;
	int rc = parse("a: &l {app: web, tier: fe}\nb: *l\nbase: &base {x: 1, y: 2}\nc:\n  <<: *base\n  y: 3\n  z: 4\n"
		       "d:\n  <<: [{p: 1}, {p: 2, q: 2}]\n",
		       &d, &e);
	T_CHECK_INT(rc, 0, "anchors parse");
	T_CHECK_STR(d.json[0],
		    "{\"a\":{\"app\":\"web\",\"tier\":\"fe\"},\"b\":{\"app\":\"web\",\"tier\":\"fe\"},\"base\":{\"x\":1,\"y\":2},"
		    "\"c\":{\"y\":3,\"z\":4,\"x\":1},\"d\":{\"p\":1,\"q\":2}}",
		    "aliases copied; merge keys do not override explicit keys; first source wins");
	T_CHECK(d.kline == 3, "merged key keeps its anchor's position");
	docs_free(&d);

	/* billion laughs: 9 levels of 9 aliases */
	char y[4096];
	size_t o = (size_t)snprintf(y, sizeof(y), "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
	for (int i = 1; i < 10; i++) {
		o += (size_t)snprintf(y + o, sizeof(y) - o, "a%d: &a%d [", i, i);
		for (int j = 0; j < 9; j++)
			o += (size_t)snprintf(y + o, sizeof(y) - o, "%s*a%d", j ? ", " : "", i - 1);
		o += (size_t)snprintf(y + o, sizeof(y) - o, "]\n");
	}
	rc = parse(y, &d, &e);
	T_CHECK_INT(rc, -1, "billion laughs rejected");
	T_CHECK(strstr(e.msg, "alias expansion limit") != NULL, "billion laughs: alias expansion limit message");
	docs_free(&d);

	rc = parse("a: *nope\n", &d, &e);
	T_CHECK(rc == -1 && strstr(e.msg, "unknown alias") && e.line == 1 && e.col == 4, "unknown alias at 1:4");
	docs_free(&d);
}

static void test_limits(void)
{
	struct docs d = {0};
	struct kt_yerr e;
	size_t n = 200000;
	char *y = malloc(2 * n + 2);
	memset(y, '[', n);
	memset(y + n, ']', n);
	y[2 * n] = 0;
	int rc = parse(y, &d, &e);
	T_CHECK_INT(rc, -1, "200000 nested flow sequences rejected");
	T_CHECK(strstr(e.msg, "nesting deeper than 128") != NULL, "nesting cap message");
	docs_free(&d);
	/* block mappings nested deeply */
	size_t cap = 300 * 300, off = 0;
	char *b = malloc(cap + 64);
	for (int i = 0; i < 200 && off < cap; i++) {
		for (int j = 0; j < i; j++)
			b[off++] = ' ';
		off += (size_t)snprintf(b + off, cap + 64 - off, "k:\n");
	}
	b[off] = 0;
	rc = parse(b, &d, &e);
	T_CHECK_INT(rc, -1, "deep block nesting rejected, no crash");
	docs_free(&d);
	free(b);
	free(y);

	const char garbage[] = "\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\xff\xfe\x00\x01binary\x00\x00";
	rc = kt_yaml_parse(garbage, sizeof(garbage) - 1, 0, on_doc, &d, &e);
	T_CHECK_INT(rc, -1, "binary garbage rejected");
	T_CHECK(e.line >= 1 && e.msg[0], "binary garbage has a position and message");
	docs_free(&d);
}

static void test_multidoc(void)
{
	struct docs d = {0};
	struct kt_yerr e;
	int rc = parse("---\n---\na: 1\n---\n# only a comment\n---\nb: [1, 2\nc: 3\n---\nd: 4\n", &d, &e);
	T_CHECK_INT(rc, -1, "error in the third document");
	T_CHECK_INT(d.n, 2, "documents before and after the error are delivered, empty ones skipped");
	T_CHECK_STR(d.n == 2 ? d.json[1] : "", "{\"d\":4}", "the document after the broken one (kubectl decodes per document)");
	T_CHECK_INT(e.line, 8, "error line");
	T_CHECK(strstr(e.msg, "flow sequence") != NULL, "libyaml problem and context in the message");
	docs_free(&d);

	rc = parse("{\"kind\": \"Service\", \"spec\": {\"ports\": [{\"port\": 80, \"targetPort\": \"http\"}]}, \"x\": \"caf\\u00e9\\/\"}", &d, &e);
	T_CHECK_INT(rc, 0, "JSON parses as YAML");
	T_CHECK_STR(d.json[0], "{\"kind\":\"Service\",\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":\"http\"}]},\"x\":\"caf\xc3\xa9/\"}",
		    "JSON escapes");
	docs_free(&d);
}

static void test_snapshot(void)
{
	const char *y =
		"apiVersion: v1\nkind: List\nitems:\n"
		"- apiVersion: v1\n  kind: Service\n  metadata: {name: web, namespace: shop}\n"
		"  spec:\n    type: LoadBalancer\n    selector: {app: web}\n    ports:\n    - port: 80\n      targetPort: http\n"
		"---\n"
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
		"spec:\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
		"      - name: app\n        ports: [{name: http, containerPort: 8080}]\n"
		"---\n"
		"apiVersion: v1\nkind: Service\nmetadata: {name: bad\n";
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_manifest_result r = {0};
	int rc = kt_manifest_load_mem(s, "mem.yaml", y, strlen(y), NULL, &r);
	kt_snapshot_finish(s);
	T_CHECK_INT(rc, -5, "malformed third document: -KT_EXIT_INPUT");
	T_CHECK_INT(r.n_errors, 1, "one error");
	T_CHECK(r.n_errors && !strcmp(r.errors[0].file, "mem.yaml") && r.errors[0].line == 28, "error names file and line");
	T_CHECK_INT(s->n_services, 1, "List item Service loaded");
	T_CHECK_INT(s->n_workloads, 1, "Deployment loaded");
	T_CHECK_INT(s->n_files, 1, "one file recorded");
	if (s->n_services) {
		const struct kt_service *sv = &s->services[0];
		T_CHECK_INT(sv->meta.pos.line, 4, "List item position");
		const struct kt_fieldpos *fp = kt_meta_field(&sv->meta, "spec.ports[0].targetPort");
		T_CHECK(fp && fp->line == 12 && fp->col == 7, "targetPort field position 12:7");
		fp = kt_meta_field(&sv->meta, "spec.type");
		T_CHECK(fp && fp->line == 8 && fp->col == 5, "spec.type field position 8:5");
	}
	kt_manifest_result_free(&r);
	kt_snapshot_free(s);
}

static void test_config(void)
{
	char path[] = "/tmp/kt_cfg_XXXXXX";
	int fd = mkstemp(path);
	const char *good = "# rule config\ndisable: [KT404, long-lived-connections]\nseverity:\n  KT101: error\n"
			   "exclude:\n  - namespace: kube-system\n  - {kind: Service, name: legacy-*, rules: [KT101]}\n";
	T_CHECK(write(fd, good, strlen(good)) == (ssize_t)strlen(good), "write config");
	close(fd);
	struct kt_arena *a = kt_arena_new();
	struct kt_rules_config c;
	struct kt_diag d = {0};
	struct kt_ktconfig raw;
	int rc = kt_ktconfig_read(path, a, &raw, &d);
	if (rc == 0)
		rc = kt_rules_config_build(&raw, a, &c, &d);
	T_CHECK_INT(rc, 0, "config loads");
	T_CHECK(c.disabled[KT_R_KT404] && c.disabled[KT_R_KT401] && !c.disabled[KT_R_KT101], "disable by id and name");
	T_CHECK_INT(c.severity[KT_R_KT101], KT_SEV_ERROR, "severity override");
	T_CHECK_INT(c.n_excludes, 2, "two excludes");
	T_CHECK(c.n_excludes == 2 && c.excludes[1].has_rules && c.excludes[1].rules[KT_R_KT101] &&
		!strcmp(c.excludes[1].name, "legacy-*"), "exclude with rules");
	fd = open(path, O_WRONLY | O_TRUNC);
	const char *bad = "disable: [KT404]\nseverity:\n  KT999: error\n";
	T_CHECK(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad), "write bad config");
	close(fd);
	rc = kt_ktconfig_read(path, a, &raw, &d);
	if (rc == 0)
		rc = kt_rules_config_build(&raw, a, &c, &d);
	T_CHECK_INT(rc, -5, "unknown rule is an input error");
	T_CHECK(strstr(d.msg, ":3:3: unknown rule: KT999") != NULL, "error has line:col");
	unlink(path);
	kt_arena_free(a);
}

/* Custom resources reusing built-in kind names are not built-in objects. */
static void test_groups(void)
{
	static const char y[] =
		"apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: hello}\n"
		"spec: {template: {spec: {containers: [{image: x}]}}}\n"
		"---\napiVersion: apps.example.com/v1\nkind: Deployment\nmetadata: {name: d}\n"
		"---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\n"
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: core}\n"
		"---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: canary}\n"
		"spec: {replicas: 3, template: {metadata: {labels: {app: c}}, spec: {containers: [{name: c}]}}}\n";
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_manifest_result r = {0};
	int rc = kt_manifest_load_mem(s, "groups.yaml", y, strlen(y), NULL, &r);
	kt_snapshot_finish(s);
	T_CHECK_INT(rc, 0, "custom resources load without error");
	T_CHECK_INT(r.objects, 5, "every document with kind/apiVersion counts as an object");
	T_CHECK_INT(s->n_services, 1, "Knative Service is not a core Service");
	T_CHECK(s->n_services == 1 && !strcmp(s->services[0].meta.name, "core"), "the core Service is loaded");
	T_CHECK_INT(s->n_workloads, 2, "the apps/extensions Deployment and the Argo Rollout are workloads");
	bool rollout = false;
	for (uint32_t i = 0; i < s->n_workloads; i++)
		if (!strcmp(s->workloads[i].meta.name, "canary"))
			rollout = s->workloads[i].kind == KT_WL_DEPLOYMENT && s->workloads[i].replicas == 3 &&
				  !strcmp(s->workloads[i].meta.kind, "Rollout");
	T_CHECK(rollout, "a Rollout is read as a Deployment-shaped workload, kind kept");
	kt_manifest_result_free(&r);
	kt_snapshot_free(s);
}


/* ---- the fast scanner against libyaml ---------------------------------- */

/* 1: the fast scanner handled buf (no bail) and equals libyaml; 0: it
 * bailed out, and the default mode still equals libyaml; -1: a mismatch
 * (printed). */
static int yaml_same(const char *what, const char *buf, size_t len)
{
	char *ref, *fast, *dflt;
	size_t rl, fl, dl;
	kt_yaml_dump(buf, len, 0, KT_YAML_LIBYAML, &ref, &rl);
	int bailed = kt_yaml_dump(buf, len, 0, KT_YAML_FAST, &fast, &fl);
	kt_yaml_dump(buf, len, 0, KT_YAML_DEFAULT, &dflt, &dl);
	int rc = bailed ? 0 : 1;
	if ((!bailed && strcmp(ref, fast)) || strcmp(ref, dflt)) {
		printf("# %s: libyaml:\n%s# fast:\n%s# default:\n%s", what, ref, fast, dflt);
		rc = -1;
	}
	free(ref);
	free(fast);
	free(dflt);
	return rc;
}

static int yf_files, yf_handled, yf_bad;

static int yf_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t n = strlen(path), len;
	if (type != FTW_F || !((n > 5 && (!strcmp(path + n - 5, ".yaml") || !strcmp(path + n - 5, ".json"))) ||
			       (n > 4 && !strcmp(path + n - 4, ".yml"))))
		return 0;
	char *b = t_slurp(path, (size_t)st->st_size + 1, &len);
	if (!b)
		return 0;
	int r = yaml_same(path, b, len);
	yf_files++;
	yf_handled += r == 1;
	if (r < 0 && yf_bad++ == 0)
		printf("# first mismatch: %s\n", path);
	free(b);
	return 0;
}

static void test_fast_fixtures(void)
{
	nftw("tests/fixtures", yf_visit, 16, FTW_PHYS);
	nftw("tests/golden", yf_visit, 16, FTW_PHYS);
	T_CHECK(yf_files > 50, "fixtures found for the fast scanner comparison");
	T_CHECK_INT(yf_bad, 0, "fast scanner (alone and with fallback) equals libyaml on every fixture");
	T_CHECK(yf_handled > 30, "the fast scanner handles most YAML fixtures without libyaml");
}

static void test_fast_snippets(void)
{
	static const struct {
		const char *name, *y;
		bool fast; /* must be handled without libyaml */
	} c[] = {
		{"CRLF line ends", "apiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: web\r\nspec:\r\n  ports:\r\n"
				   "  - port: 80\r\n    targetPort: http\r\n", true},
		{"comments everywhere", "# head\n---   # doc\n# c\na: 1 # c\n  # indented\nb:   # c\n  # c\n  c: d # c\n"
					"  e: [x, y] # c\n# c\nf:\n# c\n- g # c\n-   # empty\n- \"h\" # c\n", true},
		{"indentless sequences", "a:\n- b\n- c: d\n  e: f\n- - g\n  - h\ni:\n- \nj:\n-\nk: l\n", true},
		{"empty values", "a:\nb:\nc:\n  d:\n  e:\nf:\n  -\n  -\n  - x\ng:", true},
		{"- - x", "- - x\n  - - y\n    - z\n- - - w\n-\n  - v\n-\n  k: v\n", true},
		{"nested flow", "a: {b: [c, {d: e, f: [g, h, []]}], i: {}}\nl: [[1, 2], [3, [4, [5]]], {x: \"y\"}, 'z']\n"
				"m: [a b, \"e: f\"]\n", true},
		{"quotes with escapes", "a: \"x\\\"y\\\\z\\/w\\n\\t\\r\\0\\a\\b\\e\\f\\v\\ \"\nb: 'it''s'\n\"c d\": 'e'\n'f': \"g\" # c\n",
		 true},
		{"literal block scalars", "a: |\n  x\n   y\n\n  z\n\nb: |-\n    p\n    q\n\n\nc: |+\n  r\n\n\nd:\n- |\n  s\n"
					  "  # not a comment\n- |-\n    t\n  # comment\ne: 1\n", true},
		{"values on their own line (Helm)", "a:\n  {}\nb:\n  [x, y]\nc:\n  \"q\" # c\n  # c\nd:\n  plain\ne:\n- \n  {}\n"
						    "-\n  |\n   lit\n", true},
		{"typed scalars", "a: 80\nb: \"80\"\nc: yes\nd: ~\ne: 0x1F\nf: 010\ng: 1.5\nh: -3\ni: 1e3\nj: .5\nk: Off\n", true},
		{"plain scalars with indicators inside", "a b: 1\n-x: 2\n---x: 3\nk:v: 4\nurl: http://a:b/c\nt: a#b\nu: a :b\n"
							 "v: x, [y] {z}\n", true},
		{"duplicate keys (last wins, warned)", "a: 1\nb:\n  c: 2\n  c: 3\na: 4\nd: {e: 1, e: 2}\n", true},
		{"bad bytes between documents", "a: 1\n---\nb: \"\x01\"\n---\nc: \xc3\x28\n---\nd: 4\n", false},
		{"escapes libyaml decodes", "h: \"\\x41\"\ni: \"\\u00e9\"\n", false},
		{"multi-line plain and quoted scalars", "a: b\n  c\nd: \"e\n  f\"\ng: h\n", false},
		{"multi-line plain scalar on its own line", "a:\n  b\n  c\n", false},
		{"anchors, tags, folded scalars", "a: &x 1\nb: *x\nc: !!str 2\nd: >\n  e\n", false},
		{"syntax errors", "a: b: c\n", false},
		{"bad indentation", "a:\n  - b\n  c: d\n", false},
		{"document end marker", "a: 1\n...\n---\nb: 2\n", false},
		{"root scalar and flow documents", "hello\n---\n[a, b]\n---\n{a: 1}\n", false},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		char name[160];
		int r = yaml_same(c[i].name, c[i].y, strlen(c[i].y));
		snprintf(name, sizeof(name), "fast scanner equals libyaml: %s", c[i].name);
		T_CHECK(r >= 0, name);
		if (c[i].fast) {
			snprintf(name, sizeof(name), "fast scanner handles: %s", c[i].name);
			T_CHECK(r == 1, name);
		}
	}

	/* libyaml takes over in the third document and hands back at the next
	 * "---"; an error two documents later keeps its absolute line */
	static const char mid[] = "a: 1\n---\nb: 2\n---\nc: &x 3\nd: *x\n---\ne: 5\n---\nf: [1, 2\ng: 3\n";
	char *out;
	size_t ol;
	T_CHECK(yaml_same("fallback mid-stream", mid, sizeof(mid) - 1) == 0, "fallback mid-stream equals libyaml");
	kt_yaml_dump(mid, sizeof(mid) - 1, 0, KT_YAML_DEFAULT, &out, &ol);
	T_CHECK(strstr(out, "--- document, line 5\n") && strstr(out, "--- document, line 8\n") &&
		strstr(out, "error -1 11:2: did not find expected ',' or ']'"),
		"fallback mid-stream: documents and the later error keep their lines");
	free(out);
	struct docs d = {.probe = "e"};
	struct kt_yerr e;
	int rc = parse(strstr(mid, "---\ne:"), &d, &e); /* the same tail alone */
	T_CHECK(rc == -1 && d.n == 1 && e.line == 5 && e.col == 2, "error position relative to the buffer start");
	docs_free(&d);
	kt_yaml_dump(mid, sizeof(mid) - 1, 0, KT_YAML_FAST, &out, &ol);
	T_CHECK(strstr(out, "--- document, line 3\n") && !strstr(out, "line 5") && strstr(out, "bailed"),
		"fast alone: documents before the bail-out delivered, then it stops");
	free(out);

	/* the depth limit: reported as libyaml reports it */
	static const char deep[] = "a:\n  b:\n    c:\n      d: [x, [y]]\n";
	char *ref;
	size_t rl;
	kt_yaml_dump(deep, sizeof(deep) - 1, 3, KT_YAML_LIBYAML, &ref, &rl);
	kt_yaml_dump(deep, sizeof(deep) - 1, 3, KT_YAML_DEFAULT, &out, &ol);
	T_CHECK(!strcmp(ref, out) && strstr(out, "nesting deeper than 3 levels"), "depth limit error as with libyaml");
	free(ref);
	free(out);
}

/* The shapes of bench/lint.sh's corpus (kubectl/Helm style) must not
 * need libyaml: a regression to "always bail out" fails here. */
static void test_fast_bench_shapes(void)
{
	static const char *const docs[] = {
		"---\n# deploy\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-1\n  namespace: ns-1\n"
		"  labels: {app.kubernetes.io/name: app-1, app.kubernetes.io/part-of: shop, team: t1}\n  annotations:\n"
		"    deployment.kubernetes.io/revision: \"2\"\nspec:\n  replicas: 2\n  revisionHistoryLimit: 5\n  selector:\n"
		"    matchLabels: {app.kubernetes.io/name: app-1}\n  strategy:\n    type: RollingUpdate\n"
		"    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}\n  template:\n    metadata:\n"
		"      labels: {app.kubernetes.io/name: app-1, app.kubernetes.io/part-of: shop, team: t1}\n"
		"      annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"9090\"}\n    spec:\n"
		"      serviceAccountName: app-1\n      terminationGracePeriodSeconds: 45\n      containers:\n"
		"      - name: app\n        image: registry.example.com/shop/app-1:1.1.1\n        imagePullPolicy: IfNotPresent\n"
		"        args: [\"--port=8080\", \"--metrics-port=9090\", \"--log-level=info\"]\n        ports:\n"
		"        - {name: http, containerPort: 8080, protocol: TCP}\n"
		"        - {name: metrics, containerPort: 9090, protocol: TCP}\n        env:\n"
		"        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n"
		"        - {name: LOG_FORMAT, value: json}\n        readinessProbe:\n          httpGet: {path: /ready, port: http}\n"
		"          periodSeconds: 5\n        livenessProbe:\n          httpGet: {path: /healthz, port: http}\n"
		"        lifecycle:\n          preStop:\n            exec: {command: [\"sh\", \"-c\", \"sleep 10\"]}\n"
		"        resources:\n          requests: {cpu: 100m, memory: 128Mi}\n          limits: {memory: 256Mi}\n"
		"      topologySpreadConstraints:\n      - maxSkew: 1\n        topologyKey: topology.kubernetes.io/zone\n"
		"        whenUnsatisfiable: ScheduleAnyway\n        labelSelector:\n"
		"          matchLabels: {app.kubernetes.io/name: app-1}\n",
		"---\n# service\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-1\n  namespace: ns-1\n"
		"  labels: {app.kubernetes.io/name: app-1}\nspec:\n  type: ClusterIP\n  selector: {app.kubernetes.io/name: app-1}\n"
		"  ports:\n  - name: http\n    port: 80\n    targetPort: http\n    protocol: TCP\n  - name: metrics\n"
		"    port: 9090\n    targetPort: metrics\n",
		"---\n# hpa\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: app-1, namespace: ns-1}\n"
		"spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: app-1}\n  minReplicas: 2\n"
		"  maxReplicas: 10\n  metrics:\n  - type: Resource\n"
		"    resource: {name: cpu, target: {type: Utilization, averageUtilization: 75}}\n",
		"---\n# pdb\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: app-1, namespace: ns-1}\n"
		"spec:\n  maxUnavailable: 1\n  selector: {matchLabels: {app.kubernetes.io/name: app-1}}\n",
		"---\n# ingress\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app-1\n  namespace: ns-1\n"
		"  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 8m}\nspec:\n  ingressClassName: nginx\n"
		"  rules:\n  - host: app-1.example.com\n    http:\n      paths:\n"
		"      - {path: /, pathType: Prefix, backend: {service: {name: app-1, port: {name: http}}}}\n",
		"---\n# configmap\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-1-config, namespace: ns-1}\ndata:\n"
		"  config.yaml: |\n    server:\n      port: 8080\n      readTimeout: 30s\n    features: [a, b, c]\n",
	};
	char all[8192];
	size_t o = 0;
	bool each = true;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		each &= yaml_same(docs[i], docs[i], strlen(docs[i])) == 1;
		o += (size_t)snprintf(all + o, sizeof(all) - o, "%s", docs[i]);
	}
	T_CHECK(each, "fast scanner handles every bench corpus kind (Deployment .. ConfigMap) and equals libyaml");
	T_CHECK(o < sizeof(all) && yaml_same("bench stream", all, o) == 1, "fast scanner handles the multi-document stream");
}


/* kubectl's YAML semantics: a duplicate key keeps the last value (with a
 * warning naming both lines); a NUL or invalid UTF-8 byte is an error at its
 * own line that ends only its document; documents before and after an
 * error are delivered. */
struct warns {
	struct docs d;
	unsigned n;
	struct kt_yerr w[4];
};

static int on_doc_warn(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line)
{
	struct warns *w = ctx;
	const struct kt_yerr *v;
	unsigned n = kt_ypos_warnings(pos, &v);
	for (unsigned i = 0; i < n && w->n < 4; i++)
		w->w[w->n++] = v[i];
	return on_doc(&w->d, root, pos, first_line);
}

static void test_kubectl_semantics(void)
{
	struct warns w;
	struct kt_yerr e;
	memset(&w, 0, sizeof(w));
	const char *y = "kind: Service\nmetadata:\n  name: a\n  name: b\nspec: {ports: [{port: 1, port: 2}]}\n";
	int rc = kt_yaml_parse(y, strlen(y), 0, on_doc_warn, &w, &e);
	T_CHECK_INT(rc, 0, "duplicate keys are not an error");
	T_CHECK_STR(w.d.n ? w.d.json[0] : "", "{\"kind\":\"Service\",\"metadata\":{\"name\":\"b\"},\"spec\":{\"ports\":[{\"port\":2}]}}",
		    "the last value wins (block and flow mappings)");
	T_CHECK_INT(w.n, 2, "one warning per duplicate");
	T_CHECK(w.n >= 1 && w.w[0].line == 4 && w.w[0].line2 == 3 && strstr(w.w[0].msg, "duplicate key 'name'"),
		"warning at the later key, naming the earlier line");
	docs_free(&w.d);

	/* the same through the libyaml path (not in the fast scanner's subset) */
	memset(&w, 0, sizeof(w));
	y = "a: &x 1\nb: *x\na: 3\n";
	rc = kt_yaml_parse(y, strlen(y), 0, on_doc_warn, &w, &e);
	T_CHECK_STR(w.d.n ? w.d.json[0] : "", "{\"b\":1,\"a\":3}", "libyaml path: last wins (at the later key's place), alias kept");
	T_CHECK(rc == 0 && w.n == 1 && w.w[0].line == 3 && w.w[0].line2 == 1, "libyaml path warns too");
	docs_free(&w.d);

	static const char bad[] = "a: 1\n---\nb: x\nc: \"\x00\"\n---\nd: 4\n---\ne: \xc3\x28\n---\nf: 6\n";
	struct docs d = {0};
	rc = kt_yaml_parse(bad, sizeof(bad) - 1, 0, on_doc, &d, &e);
	T_CHECK_INT(rc, -1, "NUL and invalid UTF-8 are errors");
	T_CHECK_INT(d.n, 3, "the valid documents before, between and after are delivered");
	T_CHECK(d.n == 3 && !strcmp(d.json[0], "{\"a\":1}") && !strcmp(d.json[1], "{\"d\":4}") && !strcmp(d.json[2], "{\"f\":6}"),
		"documents a, d and f");
	T_CHECK(e.line == 4 && e.col == 5, "the first bad byte at its real line:col (4:5)");
	docs_free(&d);
	memset(&d, 0, sizeof(d));

	/* a syntax error does not stop later documents of the same stream */
	y = "a: [1\n---\nb: 2\n---\nc: {\n---\nd: 4\n";
	rc = kt_yaml_parse(y, strlen(y), 0, on_doc, &d, &e);
	T_CHECK(rc == -1 && d.n == 2 && !strcmp(d.json[0], "{\"b\":2}") && !strcmp(d.json[1], "{\"d\":4}"),
		"two broken documents, two delivered");
	docs_free(&d);
}

static char *mkfile(const char *dir, const char *name, const char *text)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

/* The same kind/namespace/name in two files: the last (in kubectl's
 * order) wins, with a warning naming both positions. A dangling *.yaml
 * symlink in a directory is an error (kubectl fails on it); other files
 * still load. */
static void test_dups_and_walk(void)
{
	char dir[] = "/tmp/kt_mdir_XXXXXX";
	T_CHECK(mkdtemp(dir) != NULL, "temp dir");
	mkfile(dir, "a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
			      "spec: {selector: {app: old}, ports: [{port: 80}]}\n");
	mkfile(dir, "b.yaml", "# comment\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
			      "spec: {selector: {app: new}, ports: [{port: 80}]}\n");
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_manifest_result r = {0};
	struct kt_manifest_opts o = {.threads = 1};
	const char *paths[] = {dir};
	int rc = kt_manifest_load_paths(s, paths, 1, &o, &r);
	kt_snapshot_finish(s);
	T_CHECK_INT(rc, 0, "a redefinition is not an error");
	T_CHECK_INT(s->n_services, 1, "one Service");
	T_CHECK(s->n_services == 1 && !strcmp(kt_kv_get(&s->services[0].selector, "app"), "new"), "the later file wins");
	T_CHECK(s->n_services == 1 && s->services[0].meta.pos.line == 2 && s->services[0].meta.pos.file < s->n_files &&
			strstr(s->files[s->services[0].meta.pos.file], "b.yaml"),
		"its position is the winner's");
	T_CHECK_INT(r.n_warnings, 1, "one warning");
	T_CHECK(r.n_warnings == 1 && strstr(r.warnings[0].file, "a.yaml") && strstr(r.warnings[0].msg, "b.yaml:2"),
		"the warning is at the ignored definition and names the winner");
	kt_manifest_result_free(&r);
	kt_snapshot_free(s);

	char link[600];
	snprintf(link, sizeof(link), "%s/gone.yaml", dir);
	T_CHECK(symlink("/nonexistent/kt-gone.yaml", link) == 0, "dangling symlink");
	s = kt_snapshot_new();
	memset(&r, 0, sizeof(r));
	rc = kt_manifest_load_paths(s, paths, 1, &o, &r);
	kt_snapshot_finish(s);
	T_CHECK_INT(rc, -5, "a dangling *.yaml symlink is an input error");
	T_CHECK(r.n_errors == 1 && strstr(r.errors[0].file, "gone.yaml"), "named");
	T_CHECK_INT(s->n_services, 1, "the other files still load");
	kt_manifest_result_free(&r);
	kt_snapshot_free(s);
	unlink(link);
	snprintf(link, sizeof(link), "%s/a.yaml", dir);
	unlink(link);
	snprintf(link, sizeof(link), "%s/b.yaml", dir);
	unlink(link);
	rmdir(dir);
}

/* Gateway API objects and Pods created by operators from custom resources
 * land in the model. */
static void test_gateway_and_cr(void)
{
	const char *y =
		"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: web, namespace: shop}\n"
		"spec:\n  parentRefs: [{name: edge, namespace: infra, sectionName: https}]\n  hostnames: [shop.example.com]\n"
		"  rules:\n  - matches: [{path: {type: PathPrefix, value: /api}}]\n"
		"    backendRefs: [{name: api, port: 8080, weight: 90}, {name: api-canary, port: 8080, weight: 10}]\n"
		"---\n"
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: edge, namespace: infra}\n"
		"spec:\n  gatewayClassName: eg\n  listeners: [{name: https, protocol: HTTPS, port: 443, tls: {mode: Terminate}}]\n"
		"---\n"
		"apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: k8s, namespace: monitoring}\n"
		"spec:\n  replicas: 2\n  podMetadata:\n    labels: {team: obs}\n";
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_manifest_result r = {0};
	int rc = kt_manifest_load_mem(s, "gw.yaml", y, strlen(y), NULL, &r);
	kt_snapshot_finish(s);
	T_CHECK_INT(rc, 0, "loads");
	T_CHECK_INT(s->n_routes, 1, "one route");
	if (s->n_routes == 1) {
		const struct kt_route *rt = &s->routes[0];
		T_CHECK(rt->kind == KT_ROUTE_HTTP && rt->n_backends == 2 && rt->backends[1].weight == 10 &&
				rt->backends[0].port == 8080 && !strcmp(rt->backends[1].fpath, "spec.rules[0].backendRefs[1]"),
			"backendRefs with weight, port and field path");
		T_CHECK(rt->n_parents == 1 && rt->parents[0].gateway != KT_NONE && !strcmp(rt->parents[0].section, "https"),
			"parentRef linked to the Gateway");
		T_CHECK(rt->n_matches == 1 && !strcmp(rt->matches[0].path, "/api") && rt->n_hostnames == 1, "match and host");
	}
	T_CHECK(s->n_gateways == 1 && s->gateways[0].n_listeners == 1 && s->gateways[0].listeners[0].port == 443 &&
			!strcmp(s->gateways[0].listeners[0].tls_mode, "Terminate"),
		"Gateway listener");
	T_CHECK_INT(s->n_cr_pods, 1, "Prometheus CR: its Pods");
	if (s->n_cr_pods == 1) {
		const struct kt_cr_pods *c = &s->cr_pods[0];
		T_CHECK(c->exact && c->replicas == 2 && !strcmp(kt_kv_get(&c->labels, "team"), "obs") &&
				kt_kv_get(&c->labels, "app.kubernetes.io/name") &&
				!strcmp(kt_kv_get(&c->labels, "app.kubernetes.io/name"), "prometheus"),
			"podMetadata labels plus the operator's own");
	}
	kt_manifest_result_free(&r);
	kt_snapshot_free(s);
}

static void run(void)
{
	test_scalars();
	test_positions();
	test_anchors();
	test_limits();
	test_multidoc();
	test_kubectl_semantics();
	test_dups_and_walk();
	test_gateway_and_cr();
	test_snapshot();
	test_config();
	test_groups();
	test_fast_fixtures();
	test_fast_snippets();
	test_fast_bench_shapes();
}

T_MAIN("test_manifest")
