/*
 * Internal to collectors/ (API client, manifests, codec/bundle.c): turning one Kubernetes object
 * (API JSON, bundle entry, or a manifest converted to cJSON) into the
 * model. cJSON is allowed here because this header is not public.
 */
#ifndef KT_COLLECTORS_K8S_OBJ_H
#define KT_COLLECTORS_K8S_OBJ_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "ktrace/diag.h"
#include "ktrace/model.h"

/* Optional source positions (manifests): lookup returns the 1-based
 * line/column where a cJSON node started in its file. */
struct kt_posmap {
	bool (*lookup)(void *ctx, const cJSON *node, uint32_t *line, uint32_t *col);
	void *ctx;
	uint32_t file;           /* index into snap->files */
};

/* Convert one object into snap. kind_hint is used when the object carries
 * no "kind" (list items). Unknown kinds are ignored (return 0). Malformed
 * fields of known kinds are tolerated where Kubernetes would default them;
 * a non-object input returns -KT_EXIT_INPUT. */
int kt_obj_ingest(struct kt_snapshot *snap, const cJSON *obj, const char *kind_hint,
		  const struct kt_posmap *pm, struct kt_diag *d);

/* Remove what a bundle must never hold: metadata.managedFields, the
 * kubectl last-applied annotation, container env values, and the data of
 * ConfigMaps other than kube-proxy / cilium-config proxy settings.
 * Returns false when the whole object must be dropped (Secrets, other
 * ConfigMaps, ServiceAccount tokens). kind as for kt_obj_ingest. */
bool kt_obj_sanitize(cJSON *obj, const char *kind_hint);

/* Kind of a list item from the list's kind ("ServiceList" -> "Service"). */
const char *kt_kind_from_list(const char *list_kind, char *buf, unsigned len);

#endif
