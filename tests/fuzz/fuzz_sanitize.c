/* libFuzzer target, differential: the bundle sanitiser (allow-list,
 * collectors/kube/sanitize.c) on API objects as a server could send them.
 * Every object is converted twice, as sent and as sanitised, and the rule
 * engine must give the same findings for both snapshots (the sanitiser
 * keeps everything the rules read), with the same proxy mode and endpoint
 * count. Crashes and leaks are caught by ASan/UBSan. Input: one object or
 * a List. Seeds: fixture Lists and the marker cluster. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "collectors/kube/k8s_obj.h"
#include "ktrace/analyze.h"
#include "ktrace/util.h"

static void add(struct kt_snapshot *a, struct kt_snapshot *b, const cJSON *o)
{
	struct kt_diag d = {0};
	cJSON *copy = cJSON_Duplicate(o, 1);
	kt_obj_ingest(a, o, NULL, NULL, &d);
	memset(&d, 0, sizeof(d));
	if (copy && kt_obj_sanitize(copy, NULL))
		kt_obj_ingest(b, copy, NULL, NULL, &d);
	cJSON_Delete(copy);
}

static bool same_finding(const struct kt_finding *x, const struct kt_finding *y)
{
	return x->rule == y->rule && x->severity == y->severity && x->suppressed == y->suppressed &&
	       !kt_strcmp0(x->obj.kind, y->obj.kind) && !kt_strcmp0(x->obj.namespace, y->obj.namespace) &&
	       !kt_strcmp0(x->obj.name, y->obj.name) && !kt_strcmp0(x->message, y->message) &&
	       !kt_strcmp0(x->evidence, y->evidence);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return 0;
	}
	struct kt_snapshot *a = kt_snapshot_new(), *b = kt_snapshot_new();
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items"), *o;
	if (cJSON_IsArray(items)) {
		cJSON_ArrayForEach(o, items)
		{
			if (cJSON_IsObject(o))
				add(a, b, o);
		}
	} else {
		add(a, b, root);
	}
	kt_snapshot_finish(a);
	kt_snapshot_finish(b);
	struct kt_arena *ar = kt_arena_new();
	struct kt_findings fa = {0}, fb = {0};
	struct kt_rules_opts ro = {.live = true};
	kt_rules_run(a, &ro, ar, &fa);
	kt_rules_run(b, &ro, ar, &fb);
	kt_findings_sort(&fa);
	kt_findings_sort(&fb);
	if (fa.n != fb.n || a->n_endpoints != b->n_endpoints || kt_strcmp0(a->proxy.mode, b->proxy.mode) ||
	    a->proxy.masquerade_bit != b->proxy.masquerade_bit) {
		fprintf(stderr, "sanitised objects give other answers: findings %u vs %u, endpoints %u vs %u, mode %s vs %s\n",
			fa.n, fb.n, a->n_endpoints, b->n_endpoints, a->proxy.mode ? a->proxy.mode : "-",
			b->proxy.mode ? b->proxy.mode : "-");
		abort();
	}
	for (uint32_t i = 0; i < fa.n; i++)
		if (!same_finding(&fa.v[i], &fb.v[i])) {
			fprintf(stderr, "finding %u differs after sanitising: %s | %s\n", i,
				fa.v[i].message ? fa.v[i].message : "", fb.v[i].message ? fb.v[i].message : "");
			abort();
		}
	kt_findings_release(&fa);
	kt_findings_release(&fb);
	kt_arena_free(ar);
	kt_snapshot_free(a);
	kt_snapshot_free(b);
	cJSON_Delete(root);
	return 0;
}
