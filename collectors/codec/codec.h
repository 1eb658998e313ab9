/*
 * Internal to collectors/codec/: the cJSON readers of node state inside
 * bundles. Node dataplane state is stored exactly in the `ktrace dataplane
 * -o json` shape (ktrace-dataplane(1)) so one writer serves both; flow
 * samples in the `imbalance` sample shape. The writers are public and
 * cJSON-free (include/ktrace/codec.h); cJSON is allowed here because this
 * header is not public.
 */
#ifndef KT_COLLECTORS_CODEC_H
#define KT_COLLECTORS_CODEC_H

#include <cjson/cJSON.h>

#include "ktrace/codec.h"
#include "ktrace/diag.h"

/* Parse one node object back into snap->dp. KT_EXIT_INPUT on bad shape. */
int kt_dp_node_from_json(struct kt_snapshot *snap, const cJSON *obj, struct kt_diag *d);

/* Parse one flow sample back into snap->flows. KT_EXIT_INPUT on bad shape. */
int kt_flow_sample_from_json(struct kt_snapshot *snap, const cJSON *obj, struct kt_diag *d);

/* collectors/codec/bundle.c, tests and fuzzing only: when nonzero, files
 * are read this many bytes at a time through a window that starts this
 * small, so window moves happen inside every element. */
extern size_t kt_bundle_test_step;

#endif
