/* libFuzzer target: an API server's answer to a list or get, through the
 * client's page walker (collectors/kube/kube_list.c): bounded per item
 * (lib/jscan), each item sanitised and converted, continue token and
 * remainingItemCount read, paging limits counted. The first byte picks
 * the resource and list-or-get; the rest is the body. Seeds: fixture
 * Lists as kapi.py serves them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kube/kube_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct kt_kube k;
	struct kt_list_req req = {.res = (enum kt_res)(data[0] % KT_RES_NAMESPACES),
				  .name = (data[0] & 0x80) ? "x" : NULL};
	struct job j;
	struct kt_diag d = {0};
	struct kt_snapshot *snap = kt_snapshot_new();
	struct run R = {.k = &k, .snap = snap, .d = &d};
	memset(&k, 0, sizeof(k));
	memset(&j, 0, sizeof(j));
	j.k = &k;
	j.req = &req;
	j.sink = SINK_INGEST;
	j.url = (char *)"http://fuzz/api/v1/things";
	char *body = malloc(size);
	memcpy(body, data + 1, size - 1);
	char *cont = NULL;
	if (kt_list_page(&R, &j, body, size - 1, j.url, &cont) == 0 && cont)
		kt_list_token_seen(&R, &j, cont);
	free(cont);
	free(j.seen.v);
	free(j.last_key);
	free(j.skip_key);
	free(body);
	kt_snapshot_finish(snap);
	kt_snapshot_free(snap);
	return 0;
}
