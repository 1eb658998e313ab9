/*
 * The environment variables ktrace reads, in one table (lib/env.c): each
 * has a name, what it does and its default. Nothing else in the tree calls
 * getenv() for a KTRACE_* name; callers ask here. The same table is the
 * ENVIRONMENT section of `man ktrace` and README (a test fails on drift).
 */
#ifndef KTRACE_ENV_H
#define KTRACE_ENV_H

#include <stdbool.h>

enum kt_env {
	KT_ENV_NL_RECORD,        /* DIR: record every netlink dump and side input */
	KT_ENV_NL_REPLAY,        /* DIR: answer every netlink request from a recording */
	KT_ENV_CT_EVENTS,        /* 0: dashboard without conntrack events */
	KT_ENV_CT_LIVE_MAX,      /* event-mode connection table cap */
	KT_ENV_CT_THREADS,       /* 0/1: conntrack parse thread off/on */
	KT_ENV_DUMP_THREADS,     /* 1-4: iptables-nft dump threads */
	KT_ENV_LINT_THREADS,     /* 1/2: threads loading manifests */
	KT_ENV_YAML,             /* libyaml: force libyaml */
	KT_ENV_SA_DIR,           /* in-cluster service account directory */
	KT_ENV_COUNT
};

struct kt_env_var {
	const char *name;        /* "KTRACE_NL_RECORD" */
	const char *value;       /* what it takes: "DIR", "0|1" */
	const char *meaning;     /* one sentence */
	const char *dflt;        /* what happens when unset */
};

/* The table, KT_ENV_COUNT entries in enum order. */
const struct kt_env_var *kt_env_table(void);
/* The value, or NULL when unset or empty. */
const char *kt_env_get(enum kt_env e);
/* The value as a number in [min, max]; dflt when unset, empty, not a
 * number or out of range. */
long kt_env_long(enum kt_env e, long min, long max, long dflt);

#endif
