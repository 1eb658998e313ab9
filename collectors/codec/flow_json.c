/*
 * Flow samples in bundles: kt_flow_sample_to_json() writes one sample
 * (its aggregates, never raw connections or fingerprints) and
 * kt_flow_sample_from_json() reads it back into snap->flows, so
 * `ktrace imbalance --from BUNDLE` and `ktrace check` see what the node
 * saw. Shape (stable keys, more may be added):
 *   {"node","source","takenMs","acct","timestamps","entriesSeen",
 *    "flows":[{"vip","vport","protocol","backendIP","backendPort","src",
 *              "zone","established","total","bytesOrig","bytesReply",
 *              "packets","older1m","older10m","older1h","recent"}]}
 * Bad shapes fail with KT_EXIT_INPUT; unknown keys are ignored.
 */
#include <math.h>
#include <string.h>

#include "collectors/codec/codec.h"

#define FLOW_MAX_AGG 1000000u

void kt_flow_sample_to_json(struct kt_jw *w, const struct kt_flow_sample *f)
{
	kt_jw_obj(w);
	kt_jw_kstr(w, "node", f->node);
	kt_jw_kstr(w, "source", f->source);
	kt_jw_kint(w, "takenMs", f->taken_ms);
	kt_jw_kbool(w, "acct", f->acct);
	kt_jw_kbool(w, "timestamps", f->timestamps);
	kt_jw_kuint(w, "entriesSeen", f->entries_seen);
	kt_jw_key(w, "flows");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < f->n_agg; i++) {
		const struct kt_flow_agg *x = &f->agg[i];
		kt_jw_obj(w);
		kt_jw_kstr(w, "vip", x->vip);
		kt_jw_kint(w, "vport", x->vport);
		kt_jw_kstr(w, "protocol", x->protocol);
		kt_jw_kstr(w, "backendIP", x->backend_ip);
		kt_jw_kint(w, "backendPort", x->backend_port);
		kt_jw_kstr(w, "src", kt_flow_src_name(x->src));
		kt_jw_kuint(w, "zone", x->zone);
		kt_jw_kuint(w, "established", x->established);
		kt_jw_kuint(w, "total", x->total);
		kt_jw_kuint(w, "bytesOrig", x->bytes_orig);
		kt_jw_kuint(w, "bytesReply", x->bytes_reply);
		kt_jw_kuint(w, "packets", x->packets);
		kt_jw_kuint(w, "older1m", x->older_1m);
		kt_jw_kuint(w, "older10m", x->older_10m);
		kt_jw_kuint(w, "older1h", x->older_1h);
		kt_jw_kuint(w, "recent", x->recent);
		if (x->rtt_ms > 0)
			kt_jw_kdouble(w, "rttMs", x->rtt_ms);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_obj_end(w);
}

static const char *jstr(struct kt_snapshot *snap, const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) && v->valuestring ? kt_intern(snap->arena, v->valuestring) : NULL;
}

/* Non-negative integer field no larger than max; def when absent; -1 bad. */
static int jnum(const cJSON *o, const char *k, double max, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	*out = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > max)
		return -1;
	*out = (uint64_t)v->valuedouble;
	return 0;
}

static bool jbool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

int kt_flow_sample_from_json(struct kt_snapshot *snap, const cJSON *obj, struct kt_diag *d)
{
	if (!cJSON_IsObject(obj))
		return kt_diag_set(d, KT_EXIT_INPUT, "bundle: a flow sample is not an object");
	const cJSON *flows = cJSON_GetObjectItemCaseSensitive(obj, "flows");
	if (flows && !cJSON_IsArray(flows))
		return kt_diag_set(d, KT_EXIT_INPUT, "bundle: flow sample \"flows\" is not an array");
	uint64_t v;
	struct kt_flow_sample tmp;
	memset(&tmp, 0, sizeof(tmp));
	tmp.node = jstr(snap, obj, "node");
	if (!tmp.node)
		return kt_diag_set(d, KT_EXIT_INPUT, "bundle: flow sample without \"node\"");
	tmp.source = jstr(snap, obj, "source");
	if (!tmp.source)
		tmp.source = "bundle";
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "takenMs");
	if (cJSON_IsNumber(t) && isfinite(t->valuedouble) && t->valuedouble > 0 && t->valuedouble < 1e16)
		tmp.taken_ms = (int64_t)t->valuedouble;
	tmp.acct = jbool(obj, "acct");
	tmp.timestamps = jbool(obj, "timestamps");
	if (jnum(obj, "entriesSeen", 1e15, &v) < 0)
		return kt_diag_set(d, KT_EXIT_INPUT, "bundle: flow sample of %s: bad \"entriesSeen\"", tmp.node);
	tmp.entries_seen = v;

	int n = flows ? cJSON_GetArraySize(flows) : 0;
	if ((unsigned)n > FLOW_MAX_AGG)
		return kt_diag_set(d, KT_EXIT_INPUT, "bundle: flow sample of %s has more than %u aggregates",
				   tmp.node, FLOW_MAX_AGG);
	struct kt_flow_sample *fs = KT_SNAP_PUSH(snap, flows);
	*fs = tmp;
	int i = 0;
	const cJSON *x;
	cJSON_ArrayForEach(x, flows) {
		if (!cJSON_IsObject(x))
			return kt_diag_set(d, KT_EXIT_INPUT, "bundle: flows[%d] of %s is not an object", i, tmp.node);
		struct kt_flow_agg a;
		memset(&a, 0, sizeof(a));
		a.vip = jstr(snap, x, "vip");
		a.backend_ip = jstr(snap, x, "backendIP");
		a.protocol = jstr(snap, x, "protocol");
		if (!a.vip || !a.backend_ip)
			return kt_diag_set(d, KT_EXIT_INPUT, "bundle: flows[%d] of %s needs \"vip\" and \"backendIP\"",
					   i, tmp.node);
		if (!a.protocol)
			a.protocol = "TCP";
		const char *src = jstr(snap, x, "src");
		a.src = src && !strcmp(src, "cilium-ct") ? KT_FLOW_CILIUM
			: src && !strcmp(src, "inet_diag") ? KT_FLOW_SOCKET : KT_FLOW_CONNTRACK;
#define NUM(key, field, max)                                                                     \
	do {                                                                                        \
		if (jnum(x, key, max, &v) < 0)                                                      \
			return kt_diag_set(d, KT_EXIT_INPUT, "bundle: flows[%d] of %s: bad \"%s\"", i, \
					   tmp.node, key);                                              \
		a.field = (__typeof__(a.field))v;                                                   \
	} while (0)
		NUM("vport", vport, 65535);
		NUM("backendPort", backend_port, 65535);
		NUM("zone", zone, 65535);
		NUM("established", established, 4e9);
		NUM("total", total, 4e9);
		NUM("bytesOrig", bytes_orig, 1.8e19);
		NUM("bytesReply", bytes_reply, 1.8e19);
		NUM("packets", packets, 1.8e19);
		NUM("older1m", older_1m, 4e9);
		NUM("older10m", older_10m, 4e9);
		NUM("older1h", older_1h, 4e9);
		NUM("recent", recent, 4e9);
#undef NUM
		const cJSON *rtt = cJSON_GetObjectItemCaseSensitive(x, "rttMs");
		if (cJSON_IsNumber(rtt) && isfinite(rtt->valuedouble) && rtt->valuedouble > 0)
			a.rtt_ms = rtt->valuedouble;
		kt_grow(&fs->agg, &fs->n_agg, &fs->cap_agg, sizeof(*fs->agg));
		fs->agg[fs->n_agg - 1] = a;
		i++;
	}
	return 0;
}
