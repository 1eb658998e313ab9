/*
 * The one table of environment variables (include/ktrace/env.h) and the
 * one place that reads them. Tuning knobs, test hooks and record/replay:
 * nothing here changes what a command reports about a healthy cluster
 * except through the documented effect. Calls nothing above lib/.
 */
#include <stdlib.h>

#include "ktrace/env.h"

static const struct kt_env_var table[KT_ENV_COUNT] = {
	[KT_ENV_NL_RECORD] = {"KTRACE_NL_RECORD", "DIR",
			      "record every netlink conversation of the node readers (dataplane, conntrack, sockets) "
			      "and their side inputs into DIR",
			      "nothing is recorded"},
	[KT_ENV_NL_REPLAY] = {"KTRACE_NL_REPLAY", "DIR",
			      "answer every netlink request from a recording made with KTRACE_NL_RECORD; no socket "
			      "is opened and no privilege is needed",
			      "the kernel is asked"},
	[KT_ENV_CT_EVENTS] = {"KTRACE_CT_EVENTS", "0",
			      "0: the imbalance dashboard takes a full conntrack dump every refresh instead of "
			      "following conntrack events",
			      "events between full dumps"},
	[KT_ENV_CT_LIVE_MAX] = {"KTRACE_CT_LIVE_MAX", "N",
				"lower the event-mode connection table cap (1 to 524288 connections)", "524288"},
	[KT_ENV_CT_THREADS] = {"KTRACE_CT_THREADS", "0|1",
			       "0: parse the conntrack dump on the receiving thread; 1: always on a second thread",
			       "a second thread when about one CPU is idle"},
	[KT_ENV_DUMP_THREADS] = {"KTRACE_DUMP_THREADS", "1-4",
				 "number of threads (one netlink socket each) dumping iptables-nft chains",
				 "up to 4, only on idle CPUs, 1 below 512 chains"},
	[KT_ENV_LINT_THREADS] = {"KTRACE_LINT_THREADS", "1|2",
				 "threads loading manifest files (2: a second one walks and reads files ahead)",
				 "2 for several files when a CPU is idle"},
	[KT_ENV_YAML] = {"KTRACE_YAML", "libyaml", "parse every YAML document with libyaml (A/B runs)",
			 "ktrace's scanner for kubectl/Helm-style YAML, libyaml for the rest"},
	[KT_ENV_SA_DIR] = {"KTRACE_SA_DIR", "DIR",
			   "the in-cluster service account directory (token, ca.crt, namespace)",
			   "/var/run/secrets/kubernetes.io/serviceaccount"},
};

const struct kt_env_var *kt_env_table(void)
{
	return table;
}

const char *kt_env_get(enum kt_env e)
{
	if ((unsigned)e >= KT_ENV_COUNT)
		return NULL;
	const char *v = getenv(table[e].name);
	return v && *v ? v : NULL;
}

long kt_env_long(enum kt_env e, long min, long max, long dflt)
{
	const char *v = kt_env_get(e);
	if (!v)
		return dflt;
	char *end;
	long n = strtol(v, &end, 10);
	if (end == v || *end || n < min || n > max)
		return dflt;
	return n;
}
