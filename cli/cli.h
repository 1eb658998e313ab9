/*
 * The cli layer: global options, the command table, per-command option
 * tables and shared rendering helpers. Only cli/ writes to stdout/stderr.
 */
#ifndef KT_CLI_H
#define KT_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "ktrace/diag.h"
#include "ktrace/findings.h"
#include "ktrace/kube.h"
#include "ktrace/model.h"
#include "ktrace/source.h"
#include "ktrace/util.h"

enum kt_optkind {
	KT_OPT_FLAG,             /* --diff */
	KT_OPT_STR,              /* --node NAME */
	KT_OPT_INT,              /* -i 2 */
	KT_OPT_NUM,              /* --hot-factor 1.5 */
};

struct kt_option {
	const char *name;        /* long name without dashes */
	char short_name;         /* 0 none */
	enum kt_optkind kind;
	const char *arg;         /* metavariable for help: "FILE" */
	/* completion (cli/complete.c): "file", "dir", "source" (demo or a
	 * file), "namespace", "service", "context", "node", "rule", "command",
	 * "output" (the command's -o formats), or a '|' separated list of
	 * words; NULL: nothing to offer */
	const char *complete;
	const char *help;
};

/* The fleet options (collect, path, dataplane, imbalance, check): every
 * selected node's state through its ktrace agent (kt_cli_scope() reads
 * them into the scope). */
#define KT_FLEET_OPTS                                                                                              \
	{"nodes", 0, KT_OPT_STR, "NODES", "nodes",                                                                  \
	 "every selected node's state through its ktrace agent: all, NAME[,NAME...] or LABEL=VALUE"},             \
	{"agent-namespace", 0, KT_OPT_STR, "NS", "namespace", "with --nodes: namespace of the ktrace agents (default ktrace)"}, \
	{"agent-selector", 0, KT_OPT_STR, "SEL", NULL,                                                             \
	 "with --nodes: label selector of the agent Pods (default app.kubernetes.io/name=ktrace-agent)"},          \
	{"agent-timeout", 0, KT_OPT_INT, "SECS", NULL,                                                              \
	 "with --nodes: time for each agent request, retries included (default 10)"}

/* KT_WANT_* bits (ktrace/source.h) an option adds to its command's when
 * given, e.g. {"diff", KT_WANT_SERVICES | KT_WANT_SLICES}. */
struct kt_opt_wants {
	const char *name;
	unsigned wants;
};

/* Preconditions, checked in one place (cli/main.c) before run(). */
#define KT_CMD_API        0x01   /* needs the API unless --from is given (or its options want no
				  * API objects): the kubeconfig is read and the client opened first */
#define KT_CMD_HIDDEN     0x02   /* not listed in help */
#define KT_CMD_NO_GLOBALS 0x04   /* ignores cluster globals (lint, rules) */
#define KT_CMD_NO_FROM    0x08   /* refuses --from (collect reads the live cluster) */
#define KT_CMD_SELECTOR   0x10   /* -l/--selector narrows the Services it lists */

struct kt_cli;

struct kt_command {
	const char *name;
	int (*run)(struct kt_cli *cli);
	const struct kt_option *opts; /* terminated by {0} */
	unsigned flags;
	const char *usage;       /* "[SERVICE]" */
	const char *summary;     /* one line */
	const char *description; /* paragraphs + examples for --help */
	const char *outputs;     /* allowed -o values, "text|json" */
	const char *man;         /* the help footer's man page; NULL: "ktrace-NAME(1)" */
	const char *args;        /* completion of positional arguments: a kind as
				  * for options ("service", "file", ...) for the
				  * first one; a leading '*' for every one */
	unsigned wants;          /* KT_WANT_* bits: what the source layer reads for it */
	const struct kt_opt_wants *opt_wants; /* what options add; terminated by {0} */
};

/* -o: text and wide are both KT_OUT_TEXT (wide sets kt_cli.wide); yaml is
 * the JSON document through libyaml's emitter (see kt_cli_jw()). */
enum kt_out { KT_OUT_TEXT, KT_OUT_JSON, KT_OUT_YAML, KT_OUT_SARIF, KT_OUT_JUNIT, KT_OUT_DOT, KT_OUT_MERMAID };

struct kt_optval {
	const struct kt_option *opt;
	const char *value;       /* NULL for flags */
	int count;
};

struct kt_cli {
	/* global options */
	const char *kubeconfig;
	const char *context;
	const char *namespace;   /* NULL unless -n given; see kt_cli_namespace() */
	bool all_namespaces;
	const char *from;
	enum kt_out out;
	bool wide;               /* -o wide: text with more columns */
	const char *output_name;
	int color;               /* resolved: 1 colour stdout, 0 plain */
	int color_err;
	int request_timeout;     /* s */
	const char *as_user;     /* --as */
	const char *as_groups[32]; /* --as-group, repeatable */
	unsigned n_as_groups;
	const char *selector;    /* -l/--selector */
	int verbose;
	const char *argv0;
	/* the command */
	const struct kt_command *cmd;
	int argc;                /* positionals */
	char **argv;
	struct kt_optval *vals;
	unsigned n_vals;
	/* lazily opened client */
	struct kt_kube *kube;
	bool quiet;              /* no progress lines at all (a full-screen UI owns the terminal) */
	bool progress;           /* show object counts while lists stream (stderr TTY only);
				  * the command must end it with kt_cli_progress_done() */
	struct kt_arena *vis;    /* escaped copies made by kt_cv() */
	unsigned warnings;       /* kt_cli_warn() calls so far (bounded) */
};

/* The program: parse argv, run the command, return the exit code
 * (cli/main.c). Keeps no state between calls. */
int kt_cli_main(int argc, char **argv);

/* Visible-safe text from outside (cluster objects, bundles, files,
 * servers) for text renderers: s itself when it holds no control byte,
 * bidi control or invalid UTF-8, else an escaped copy (kt_vis_escape())
 * that lives until kt_cli_vis_reset() or exit. NULL stays NULL. Every
 * string a text renderer did not write itself goes through it; JSON,
 * YAML, SARIF and JUnit escape on their own. */
const char *kt_cv(struct kt_cli *c, const char *s);
/* Release kt_cv() copies (a loop that renders many samples). */
void kt_cli_vis_reset(struct kt_cli *c);

/* The writer for a command's document: JSON text, or with -o yaml the
 * same events as YAML (cli/render_yaml.c). pretty false: one document of
 * several (JSON on one line; YAML starting with ---). kt_jw_free() ends it. */
struct kt_jw *kt_cli_jw(struct kt_cli *c, FILE *out, bool pretty);
/* -o json or -o yaml: stdout is one machine-readable document. */
static inline bool kt_cli_structured(const struct kt_cli *c)
{
	return c->out == KT_OUT_JSON || c->out == KT_OUT_YAML;
}

/* Command option access (names are long names). */
bool kt_opt_flag(const struct kt_cli *c, const char *name);
const char *kt_opt_str(const struct kt_cli *c, const char *name);   /* last given; NULL */
long kt_opt_int(const struct kt_cli *c, const char *name, long def);
double kt_opt_num(const struct kt_cli *c, const char *name, double def);

/* Errors: print "ktrace: <cmd>: msg" (+ "hint: ...") on stderr, or one JSON
 * error document on stdout in -o json mode; return the exit code. */
int kt_cli_fail(struct kt_cli *c, const struct kt_diag *d);
int kt_cli_error(struct kt_cli *c, int code, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Warnings / progress on stderr (progress only when stderr is a TTY or -v).
 * Both print visible-safe text; a warning is cut at KT_WARN_MAX_LEN
 * bytes and only the first KT_WARN_MAX warnings (KT_WARN_MAX_VERBOSE with
 * -v) are printed, then one line says how many more there were. */
#define KT_WARN_MAX 20
#define KT_WARN_MAX_VERBOSE 1000
#define KT_WARN_MAX_LEN 400
void kt_cli_warn(struct kt_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kt_cli_progress(struct kt_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kt_cli_progress_done(struct kt_cli *c);

/* Effective namespace: -n, else the kubeconfig context's (live; with
 * --from the bundle context's, see kt_source_namespace), else "default". */
const char *kt_cli_namespace(struct kt_cli *c);
/* Open the API client on first use. */
int kt_cli_kube(struct kt_cli *c, struct kt_kube **out, struct kt_diag *d);

/* The five steps of a command: parse -> scope -> load -> analyze -> render.
 * kt_cli_scope() fills a scope from the globals and the options commands
 * share by name (--node, --no-node, --live, --objects, --iptables-save,
 * --nft-json, --ipvsadm, --bpffs, --no-metrics, --file); kt_cli_target()
 * parses the positional target into it; kt_cli_load() reads what the
 * command and its options want (kt_cli_wants). */
void kt_cli_scope(struct kt_cli *c, struct kt_scope *sc);
unsigned kt_cli_wants(const struct kt_cli *c);
int kt_cli_load(struct kt_cli *c, const struct kt_scope *sc, struct kt_snapshot **out, struct kt_diag *d);

/* The positional target: SERVICE is svc/NAME, service/NAME, NAME or
 * NS/NAME, also as two words (`svc orders`); with workloads, also
 * deploy/NAME, sts/NAME, ds/NAME (the Services that select it). Consumes
 * every positional; required: none is a usage error. */
#define KT_TARGET_REQUIRED  0x1
#define KT_TARGET_WORKLOADS 0x2
int kt_cli_target(struct kt_cli *c, struct kt_scope *sc, unsigned flags, struct kt_diag *d);

/* Parse SERVICE: svc/NAME, service/NAME, services/NAME, NAME or NS/NAME
 * (*ns NULL when not given). */
int kt_cli_service_arg(struct kt_cli *c, const char *arg, const char **ns, const char **name,
		       struct kt_diag *d);

/* Partial answers: "incomplete: ..." naming the kinds the answer lacks and
 * why (snap->focus.missing); nothing when complete. */
void kt_render_incomplete(struct kt_cli *c, FILE *out, const struct kt_snapshot *s);
/* The same as a JSON key "incomplete":[{"kind","why"}] (only when partial). */
struct kt_jw;
void kt_render_incomplete_json(struct kt_jw *w, const struct kt_snapshot *s);
/* Gaps of this run (not those recorded in a bundle) as warnings on stderr. */
void kt_warn_gaps(struct kt_cli *c, const struct kt_snapshot *s);
/* --nodes: warn once per selected node that did not answer (live gaps;
 * recorded ones are rendered with the bundle's gaps). Returns true when
 * the answer lacks some node (exit 6 unless something worse). */
bool kt_cli_fleet_gaps(struct kt_cli *c, const struct kt_snapshot *s);
/* The gaps a bundle recorded (facts of the bundle, not of this run): once,
 * quietly, under "gaps (recorded when the bundle was collected):" on out. */
void kt_render_recorded_gaps(struct kt_cli *c, FILE *out, const struct kt_snapshot *s);

/* "did you mean": fill d (KT_EXIT_NOTFOUND) naming up to 3 close names. */
int kt_cli_not_found(struct kt_diag *d, const char *what, const char *ns, const char *name,
		     const char *const *cands, unsigned n);

/* Colours: return the escape when colour is on for stdout, else "". */
enum kt_color { KT_C_RESET, KT_C_BOLD, KT_C_DIM, KT_C_RED, KT_C_GREEN, KT_C_YELLOW, KT_C_BLUE,
		KT_C_MAGENTA, KT_C_CYAN };
const char *kt_c(const struct kt_cli *c, enum kt_color col);
const char *kt_sev_color(const struct kt_cli *c, enum kt_severity s);

/* Age as kubectl prints it: 45s, 12m, 3h, 5d. */
const char *kt_fmt_age(int64_t seconds, char *buf, unsigned len);

/* path -o dot / -o mermaid (cli/render_path_graph.c). */
struct kt_path_result;
int kt_path_render_graph(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_path_result *r);

/* Shared findings renderers. */
void kt_render_findings_text(struct kt_cli *c, FILE *out, const struct kt_findings *f, const char *indent);
struct kt_jw;
void kt_render_finding_json(struct kt_jw *w, const struct kt_finding *f, bool with_object);

#endif
