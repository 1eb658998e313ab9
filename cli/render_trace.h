/*
 * Internal to cli/: rendering `ktrace trace` (cli/render_trace.c): the
 * request as resolved by cli/cmd_trace.c, the traced probes and the
 * model's prediction, as text or JSON.
 */
#ifndef KT_CLI_RENDER_TRACE_H
#define KT_CLI_RENDER_TRACE_H

#include "cli/cli.h"
#include "ktrace/trace.h"

/* What cmd_trace.c resolved: the packet and where it comes from. */
struct kt_trace_req {
	char dst[48];
	uint16_t dport;
	char src[48];
	uint16_t sport;          /* 0: the default (40000) */
	const char *proto;       /* "TCP" / "UDP" */
	unsigned count;
	const char *addrs[KT_TRACE_MAX_ADDRS];
	unsigned n_addrs;
	bool addrs_assumed;
	/* --from-pod */
	const char *pod_ns, *pod_name, *pod_node;
	bool pod_host_network;
	/* --dst svc/NAME[:PORT] */
	const char *svc_ns, *svc_name, *svc_port_name;
};

struct kt_trace_outcome {
	uint32_t agree, disagree;
	const char *why;         /* the first disagreement */
};

void kt_render_trace(struct kt_cli *c, const struct kt_trace_req *t, const struct kt_dp_node *n,
		     const struct kt_trace_result *r, const struct kt_trace_prediction *p, const char *origin,
		     const struct kt_trace_outcome *oc);

#endif
