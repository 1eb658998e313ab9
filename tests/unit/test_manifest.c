/*
 * Manifest loader unit tests: YAML 1.1 scalar typing, positions of keys
 * and sequence items, anchors/aliases/merge keys, bounded alias expansion
 * (billion laughs), nesting cap without stack overflow, multi-document
 * streams with an error in the middle, JSON input, binary garbage, the
 * snapshot it fills (via kt_obj_ingest) and the .ktrace.yaml reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "collectors/manifest.h"
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
	T_CHECK_INT(d.n, 1, "documents before the error are delivered, empty ones skipped");
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
	int rc = kt_rules_config_load(path, a, &c, &d);
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
	rc = kt_rules_config_load(path, a, &c, &d);
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

static void run(void)
{
	test_scalars();
	test_positions();
	test_anchors();
	test_limits();
	test_multidoc();
	test_snapshot();
	test_config();
	test_groups();
}

T_MAIN("test_manifest")
