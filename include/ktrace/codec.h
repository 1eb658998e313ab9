/*
 * JSON emitters for node state and gaps (collectors/codec/): the one place
 * that writes the per-node dataplane object of ktrace-dataplane(1), one
 * programmed Service (also inside `ktrace path -o json`), a flow sample
 * and the "gaps" array. Bundles and cli renderers call the same functions,
 * so a bundle holds exactly what `-o json` prints. They write through the
 * one JSON writer (include/ktrace/jsonw.h); no cJSON type appears here
 * (the readers are internal to collectors/codec/).
 */
#ifndef KTRACE_CODEC_H
#define KTRACE_CODEC_H

#include "ktrace/dataplane.h"
#include "ktrace/findings.h"
#include "ktrace/flows.h"
#include "ktrace/jsonw.h"
#include "ktrace/model.h"

/* One node object: {"node","modes",...,"services":[...]}; diff may be NULL
 * (then no "diff" key is written). */
void kt_dp_node_to_json(struct kt_jw *w, const struct kt_dp_node *n, const struct kt_findings *diff);

/* How much of one programmed Service to write. */
enum kt_dp_svc_view {
	KT_DPJ_FULL,             /* ktrace-dataplane(1): identity, frontends, backends, affinity, evidence */
	KT_DPJ_PATH,             /* inside `path -o json` "programmed": node, mode, portName, frontends,
				  * shareBasis, backends, externalBackends, masquerade, localOnly */
};
/* Extra keys a caller adds inside frontend k's object (path: the cause). */
typedef void (*kt_dp_fe_extra_fn)(struct kt_jw *w, uint32_t k, const void *ctx);
/* One programmed Service port; node is written first when not NULL (path).
 * fe_extra may be NULL. */
void kt_dp_service_to_json(struct kt_jw *w, const struct kt_dp_service *s, const char *node,
			   enum kt_dp_svc_view view, kt_dp_fe_extra_fn fe_extra, const void *ctx);

/* One flow sample (aggregates only, never raw connections). */
void kt_flow_sample_to_json(struct kt_jw *w, const struct kt_flow_sample *f);

/* The value of a "gaps" key: [{"what","why"},...] for n gaps. */
void kt_gaps_to_json(struct kt_jw *w, const struct kt_gap *g, uint32_t n);

#endif
