/*
 * Internal: (de)serialisation of node state inside bundles. Node dataplane
 * state is stored exactly in the `ktrace dataplane -o json` shape (ktrace-dataplane(1))
 * so one writer serves both; flow samples in the `imbalance` sample shape.
 * Implemented in collectors/dp_json.c and collectors/flow_json.c.
 */
#ifndef KT_LIB_BUNDLE_PARTS_H
#define KT_LIB_BUNDLE_PARTS_H

#include <cjson/cJSON.h>

#include "ktrace/dataplane.h"
#include "ktrace/diag.h"
#include "ktrace/findings.h"
#include "ktrace/flows.h"
#include "ktrace/jsonw.h"

/* One node object: {"node","modes",...,"services":[...]} ; diff may be NULL
 * (then no "diff" key is written). */
void kt_dp_node_to_json(struct kt_jw *w, const struct kt_dp_node *n, const struct kt_findings *diff);
/* Parse one node object back into snap->dp. KT_EXIT_INPUT on bad shape. */
int kt_dp_node_from_json(struct kt_snapshot *snap, const cJSON *obj, struct kt_diag *d);

/* lib/bundle.c, tests and fuzzing only: when nonzero, files are read this
 * many bytes at a time through a window that starts this small, so window
 * moves happen inside every element. */
extern size_t kt_bundle_test_step;

void kt_flow_sample_to_json(struct kt_jw *w, const struct kt_flow_sample *f);
int kt_flow_sample_from_json(struct kt_snapshot *snap, const cJSON *obj, struct kt_diag *d);

#endif
