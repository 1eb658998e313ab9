/*
 * libFuzzer target for the kubeconfig parser: parse arbitrary bytes from
 * memory, merge the result into an earlier config (first wins), resolve
 * the current context. Must never crash, leak or read out of bounds; bad
 * input must come back as KT_EXIT_INPUT / KT_EXIT_CLUSTER.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "collectors/kube/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char base[] = "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
				   "contexts:\n- name: b\n  context: {cluster: c}\n";
	struct kt_arena *a = kt_arena_new();
	struct kt_kubeconfig one, merged;
	struct kt_kc_resolved r;
	struct kt_diag d;
	struct kt_kc_blob b;

	memset(&d, 0, sizeof(d));
	if (kt_kubeconfig_parse(a, "/fuzz/dir/config", (const char *)data, size, &one, &d) == 0) {
		memset(&d, 0, sizeof(d));
		kt_kubeconfig_resolve(a, &one, NULL, &r, &d);
		if (kt_kubeconfig_parse(a, "/fuzz/base", base, sizeof(base) - 1, &merged, &d) == 0) {
			kt_kubeconfig_merge(a, &merged, &one);
			memset(&d, 0, sizeof(d));
			kt_kubeconfig_resolve(a, &merged, "b", &r, &d);
		}
	}
	kt_base64_decode(a, (const char *)data, size, &b);
	kt_arena_free(a);
	return 0;
}
