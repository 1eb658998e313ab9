/*
 * Internal to collectors/agent/: what the agent's JSON writers and
 * decoders (agent_json.c, agent_flows.c) share.
 */
#ifndef KT_COLLECTORS_AGENT_INT_H
#define KT_COLLECTORS_AGENT_INT_H

#include <cjson/cJSON.h>

#include "ktrace/agent.h"

/* "gaps": [{what, why}] */
void kt_agent_gaps_json(struct kt_jw *w, const struct kt_gap *gaps, uint32_t n);
/* A compact flow sample (j holds "form":"compact", its node checked)
 * appended to snap->flows (agg[].opened/rate_* from the rows; the caller
 * reads "sampler"). */
int kt_agent_flows_compact_from_json(struct kt_snapshot *snap, const cJSON *j, struct kt_diag *d);

#endif
