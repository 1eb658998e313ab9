/*
 * libFuzzer target for the manifest loader: arbitrary bytes as a YAML or
 * JSON manifest stream (anchors, merge keys, Lists, every kind), loaded
 * into a snapshot, finished, and run through the whole rule engine
 * (manifest and live mode) and suppression. Must never crash, leak, read
 * out of bounds or hang; bad input must come back as -KT_EXIT_INPUT.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktrace/analyze.h"
#include "ktrace/manifest.h"
#include "ktrace/ruleconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_manifest_result r;
	memset(&r, 0, sizeof(r));
	int rc = kt_manifest_load_mem(s, "fuzz.yaml", (const char *)data, size, NULL, &r);
	if (rc != 0 && rc != -KT_EXIT_INPUT)
		__builtin_trap();
	kt_snapshot_finish(s);
	struct kt_findings f;
	memset(&f, 0, sizeof(f));
	struct kt_rules_config cfg;
	kt_rules_config_init(&cfg);
	struct kt_rules_opts o = {.live = (size & 1) != 0, .ingress_selector = "app in (edge),!legacy", .config = &cfg};
	kt_rules_run(s, &o, s->arena, &f);
	for (uint32_t i = 0; i < f.n; i++)
		if (!f.v[i].message || f.v[i].rule >= KT_RULE_COUNT)
			__builtin_trap();
	if (s->n_services) {
		struct kt_findings g;
		memset(&g, 0, sizeof(g));
		kt_rules_for_service(s, 0, &o, s->arena, &g);
		kt_findings_release(&g);
	}
	uint32_t *grp = f.n ? calloc(f.n, sizeof(*grp)) : NULL;
	if (grp) {
		kt_rules_group_services(s, &f, grp);
		free(grp);
	}
	kt_findings_release(&f);
	kt_manifest_result_free(&r);
	kt_snapshot_free(s);
	return 0;
}
