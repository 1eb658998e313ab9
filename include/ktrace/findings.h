/*
 * Findings and the rule catalog. A finding is data: rule index, object,
 * optional field position, and arena-owned message/evidence strings built
 * by the rule function. Wording of names/mitigations lives in rules.def.
 */
#ifndef KTRACE_FINDINGS_H
#define KTRACE_FINDINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "ktrace/model.h"

enum kt_severity { KT_SEV_INFO = 0, KT_SEV_WARNING = 1, KT_SEV_ERROR = 2 };

enum kt_rule_id {
#define KT_RULE(id, name, sev, layer, scope, summary, mitigation) KT_R_##id,
#include "ktrace/rules.def"
#undef KT_RULE
	KT_RULE_COUNT
};

struct kt_rule {
	const char *id;          /* "KT101" */
	const char *name;        /* "snat-source-ip-loss" */
	enum kt_severity severity;
	const char *layer;
	const char *scope;       /* "M", "M/L", "L" */
	const char *summary;
	const char *mitigation;
};

extern const struct kt_rule kt_rules[KT_RULE_COUNT];

struct kt_objref {
	const char *kind;
	const char *namespace;
	const char *name;
};

struct kt_finding {
	enum kt_rule_id rule;
	enum kt_severity severity;   /* after .ktrace.yaml overrides */
	struct kt_objref obj;
	const char *message;         /* one line, specific to this object */
	const char *evidence;        /* facts behind it; may be NULL */
	const char *file;            /* manifests; NULL live */
	uint32_t line, col;          /* 1-based; 0 unknown */
	bool suppressed;
};

struct kt_findings {
	struct kt_finding *v;
	uint32_t n, cap;
	/* what the rules could not check and why (what: "KT501
	 * selector-matches-nothing", why: "not checked: no Pods in the
	 * input"); in order of discovery, no duplicates */
	struct kt_gap *gaps;
	uint32_t n_gaps, cap_gaps;
};

const char *kt_severity_name(enum kt_severity s);
/* -1 when unknown */
int kt_severity_parse(const char *s);
/* Index of "KT101" or "snat-source-ip-loss"; -1 when unknown. */
int kt_rule_lookup(const char *id_or_name);

/* Append (message printf-formatted into arena). Returns the finding. */
struct kt_finding *kt_finding_add(struct kt_findings *f, struct kt_arena *a, enum kt_rule_id rule,
				  const struct kt_meta *obj, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void kt_findings_release(struct kt_findings *f);
/* Record that rule could not be checked (why printf-formatted into the
 * arena); a repeated (rule, why) is recorded once. */
void kt_findings_gap(struct kt_findings *f, struct kt_arena *a, enum kt_rule_id rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sort: severity desc, then namespace, name, rule id. */
void kt_findings_sort(struct kt_findings *f);

#endif
