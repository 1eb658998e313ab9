/*
 * Analyzer entry points. Pure functions over a finished snapshot; results
 * and findings are allocated in the caller's arena (strings) and the
 * findings vector.
 */
#ifndef KTRACE_ANALYZE_H
#define KTRACE_ANALYZE_H

#include "ktrace/dataplane.h"
#include "ktrace/findings.h"
#include "ktrace/model.h"

/* Rule engine (analyzers/rules*.c). The same functions serve manifests,
 * bundles and live snapshots. */
struct kt_rules_opts {
	bool live;                    /* run live-only rules (KT102 live, KT103 live, KT304, KT501 live, KT503) */
	const char *ingress_selector; /* --ingress-selector: label selector marking ingress controllers */
	const struct kt_rules_config *config; /* .ktrace.yaml; may be NULL */
};
struct kt_rules_config;
int kt_rules_run(const struct kt_snapshot *s, const struct kt_rules_opts *o, struct kt_arena *a,
		 struct kt_findings *out);
/* Only the findings about one Service (and the workloads it selects),
 * used by `ktrace path`. */
int kt_rules_for_service(const struct kt_snapshot *s, uint32_t svc_ix, const struct kt_rules_opts *o,
			 struct kt_arena *a, struct kt_findings *out);

/* Dataplane diff (analyzers/dpdiff.c): KT601/KT602/KT603 for every node in
 * snap->dp against the EndpointSlices, and for every Service port a node
 * rejects or drops a finding under the rule that names the cause (see
 * kt_dp_explain). */
int kt_dpdiff_findings(const struct kt_snapshot *s, struct kt_arena *a, struct kt_findings *out);
/* Many nodes (--nodes): KT601/KT602/KT603 findings that say the same
 * thing about different nodes become one finding listing the nodes
 * ("2 nodes (n3, n5) still forward ..."; evidence "nodes=n3,n5; ...").
 * Other findings are kept as they are, in order. */
void kt_dpdiff_group(struct kt_findings *f, struct kt_arena *a);

/* Why a frontend the node rejects or drops does so, from the API objects
 * (analyzers/dpdiff.c): a sentence in a, and the rule naming the cause --
 * KT502 (a named targetPort no selected container declares), KT501 (the
 * selector matches no Pod), KT503 (no usable endpoint: none ready, every
 * one terminating and not serving), KT103 (Local traffic policy without a
 * local endpoint), KT601 (the EndpointSlices list ready endpoints: the
 * node's rules lag behind). False when the objects say nothing. */
struct kt_dp_cause {
	enum kt_rule_id rule;
	const char *text;
};
bool kt_dp_explain(const struct kt_snapshot *s, const struct kt_dp_node *n, const struct kt_dp_service *d,
		   const struct kt_dp_frontend *f, struct kt_arena *a, struct kt_dp_cause *out);

/* Flow imbalance (analyzers/imbalance.c): KT402/KT403 from snap->flows. */
int kt_imbalance_findings(const struct kt_snapshot *s, struct kt_arena *a, struct kt_findings *out);

/* Everything `check` and `path` report (analyzers/check.c): the rules, the
 * dataplane diff and measured imbalance when node state is present, and
 * suppression, for one Service or the snapshot's focus. */
struct kt_check_query {
	struct kt_rules_opts rules;   /* live, --ingress-selector, .ktrace.yaml */
	uint32_t svc;                 /* one Service (path); KT_NONE: see use_focus */
	bool use_focus;               /* the scope the source layer resolved (snap->focus):
				       * its Services and namespace; false: every finding */
};
int kt_check_analyze(const struct kt_snapshot *s, const struct kt_check_query *q, struct kt_arena *a,
		     struct kt_findings *out);

#endif
