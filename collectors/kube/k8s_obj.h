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

/* The same for bundles and Lists (no positions): namespaced objects
 * without metadata.namespace take default_ns (NULL: "default"), as
 * `kubectl apply -f` would place them. */
int kt_obj_ingest_ns(struct kt_snapshot *snap, const cJSON *obj, const char *kind_hint, const char *default_ns,
		     struct kt_diag *d);

/* Reduce obj in place to the fields the converter reads, per kind (the
 * allow-list in sanitize.c); facts replace what the rules need only as
 * facts (a preStop exec command becomes the sleep it performs). Returns
 * false when the whole object must be dropped: kinds outside the
 * allow-list (Secrets, ServiceAccounts, ...) and ConfigMaps other than
 * kube-proxy, kube-proxy-config and cilium-config. A missing "kind" is
 * filled from kind_hint. */
bool kt_obj_sanitize(cJSON *obj, const char *kind_hint);

/* Seconds a preStop exec command sleeps ("sleep 5", "sh -c 'x; sleep 5'",
 * fractions rounded up), -1 when none is recognised. */
int32_t kt_exec_sleep(const cJSON *cmd);

/* The value of a top-level (parent NULL) or one-level-nested "key: value"
 * line of a small YAML document such as a KubeProxyConfiguration: a pointer
 * into doc and its length (quotes, spaces and comments trimmed), NULL when
 * absent. */
const char *kt_yaml_scalar(const char *doc, const char *parent, const char *key, size_t *len);

/* Kind of a list item from the list's kind ("ServiceList" -> "Service"). */
const char *kt_kind_from_list(const char *list_kind, char *buf, unsigned len);

#endif
