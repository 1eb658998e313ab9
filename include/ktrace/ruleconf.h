/*
 * Rule configuration and suppression (.ktrace.yaml, ktrace/ignore
 * annotations) plus small rule-engine helpers the cli needs. The config
 * is read by collectors/manifest/ktconfig.c into a plain struct kt_ktconfig,
 * interpreted and applied by analyzers/suppress.c; both are pure data here.
 *
 * .ktrace.yaml:
 *   disable: [KT404, session-affinity]
 *   severity: {KT401: warning}
 *   exclude:                              # kind, namespace, name: shell globs
 *     - namespace: kube-system            # every rule, whole namespace
 *     - {kind: Service, namespace: shop, name: legacy-*, rules: [KT101]}
 *   ingressControllers:                   # more than the well-known ones
 *     - name: edge-proxy                  # shown in findings
 *       controller: example.com/edge      # IngressClass/GatewayClass controllerName
 *       image: registry.example.com/edge/proxy   # image repository (tag ignored)
 *       labels: {app: edge-proxy}         # all must match
 */
#ifndef KTRACE_RULECONF_H
#define KTRACE_RULECONF_H

#include <stdbool.h>
#include <stdint.h>

#include "ktrace/diag.h"
#include "ktrace/findings.h"
#include "ktrace/model.h"

struct kt_rules_exclude {
	const char *kind;        /* NULL = any; a shell glob (fnmatch: * ? [...]) */
	const char *namespace;   /* NULL = any; a glob */
	const char *name;        /* NULL = any; a glob */
	bool rules[KT_RULE_COUNT];
	bool has_rules;         /* rules[] given: only those rules */
	uint32_t line, col;      /* where it is written (1-based) */
};

/* A user-defined ingress controller (or gateway) family. */
struct kt_rules_ictrl {
	const char *name;
	const char *controller;  /* IngressClass/GatewayClass controllerName prefix; NULL none */
	const char *image;       /* image repository; NULL none */
	struct kt_kvlist labels; /* all must match; empty none */
	uint32_t line, col;
};

struct kt_rules_config {
	const char *path;        /* where it was loaded from; NULL = defaults */
	bool disabled[KT_RULE_COUNT];
	int severity[KT_RULE_COUNT]; /* enum kt_severity or -1 = catalog default */
	struct kt_rules_exclude *excludes;
	uint32_t n_excludes;
	struct kt_rules_ictrl *ictrls;
	uint32_t n_ictrls;
};

/* Defaults: nothing disabled, catalog severities. */
void kt_rules_config_init(struct kt_rules_config *c);

/* .ktrace.yaml as written, before interpretation: words with the position
 * they were read at. kt_ktconfig_read() (collectors/manifest/ktconfig.c)
 * fills it and checks the shape (keys, types); kt_rules_config_build()
 * (analyzers/suppress.c) checks rule ids and severities and fills the
 * struct kt_rules_config the rules use. */
struct kt_cfg_word {
	const char *text;
	uint32_t line, col;      /* 1-based; 0 unknown */
};

struct kt_cfg_rules {
	struct kt_cfg_word *v;   /* a YAML list of rule ids or names */
	uint32_t n;
	bool one_string;         /* written as one string "KT101, KT102" (v[0]): lenient */
};

struct kt_cfg_severity {
	struct kt_cfg_word rule;
	struct kt_cfg_word severity;
};

struct kt_cfg_exclude {
	const char *kind, *namespace, *name; /* shell globs, checked for syntax */
	bool has_rules;
	struct kt_cfg_rules rules;
	uint32_t line, col;      /* the entry */
};

struct kt_ktconfig {
	const char *path;
	struct kt_cfg_rules disable;
	struct kt_cfg_severity *severity;
	uint32_t n_severity;
	struct kt_cfg_exclude *excludes;
	uint32_t n_excludes;
	struct kt_rules_ictrl *ictrls; /* ingressControllers, complete as read */
	uint32_t n_ictrls;
};

/* Read a .ktrace.yaml (collectors/manifest/ktconfig.c). Errors:
 * KT_EXIT_INPUT with file:line:col for malformed YAML, unknown keys and
 * wrong types. Strings live in a. */
int kt_ktconfig_read(const char *path, struct kt_arena *a, struct kt_ktconfig *out, struct kt_diag *d);

/* Interpret it (analyzers/suppress.c). Errors: KT_EXIT_INPUT with
 * file:line:col for unknown rule ids or severities (a typo must not
 * silently re-enable a rule). */
int kt_rules_config_build(const struct kt_ktconfig *raw, struct kt_arena *a, struct kt_rules_config *out,
			  struct kt_diag *d);

/* Apply suppression to findings f->v[from..n): `ktrace/ignore` annotations
 * on the object (or its pod template), config excludes and disables mark
 * findings suppressed; severity overrides change severity. cfg may be NULL. */
void kt_suppress_apply(const struct kt_snapshot *s, const struct kt_rules_config *cfg,
		       struct kt_findings *f, uint32_t from);

/* Config entries that may be mistakes, for warnings: excludes whose kind
 * is no kind ktrace checks (with a close name, when there is one) or that
 * match no object of the snapshot. Calls fn for each, in file order. */
void kt_rules_config_unused(const struct kt_snapshot *s, const struct kt_rules_config *cfg,
			    void (*fn)(void *ctx, uint32_t line, uint32_t col, const char *msg), void *ctx);

/* Does annotation value (e.g. "KT101,KT201: reason") name rule? Accepts ids,
 * names and "all"; a reason after ':' or '#' is ignored. */
bool kt_ignore_lists(const char *value, enum kt_rule_id rule);

/* The Service a finding belongs to, for grouping: the Service itself, or
 * the first Service (same namespace) that selects the finding's workload
 * or Pod. KT_NONE when none. */
uint32_t kt_rules_finding_service(const struct kt_snapshot *s, const struct kt_finding *f);
/* The same for every finding at once (out has f->n entries). */
void kt_rules_group_services(const struct kt_snapshot *s, const struct kt_findings *f, uint32_t *out);

/* Per-rule explanation (include/ktrace/rules_explain.def). */
struct kt_rule_explain {
	const char *mechanism;   /* paragraph: the traffic mechanism */
	const char *bad;         /* YAML snippet that fires */
	const char *good;        /* YAML snippet that does not */
};
extern const struct kt_rule_explain kt_rule_explains[KT_RULE_COUNT];

#endif
