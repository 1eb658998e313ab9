/*
 * The per-rule explanation table (mechanism, bad and good snippet),
 * generated from include/ktrace/rules_explain.def in catalog order. Data only.
 */
#include "ktrace/ruleconf.h"

const struct kt_rule_explain kt_rule_explains[KT_RULE_COUNT] = {
#define KT_EXPLAIN(id, mech, bad, good) [KT_R_##id] = {mech, bad, good},
#include "ktrace/rules_explain.def"
#undef KT_EXPLAIN
};
