/*
 * Entry point: parses global options and the command's options from the
 * option tables (one parser for every command), checks preconditions,
 * generates --help from the tables, suggests close names for typos, and
 * dispatches to the command table in cli/commands.def. kt_cli_main() is
 * the whole program (cli/ktrace.c's main() calls it; the end-to-end fuzz
 * target calls it too), so it keeps no state between calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/spec.h"

#define KT_CMD(n) extern const struct kt_command kt_cmd_##n;
#include "cli/commands.def"
#undef KT_CMD

const struct kt_command *const kt_commands[] = {
#define KT_CMD(n) &kt_cmd_##n,
#include "cli/commands.def"
#undef KT_CMD
	NULL,
};

const struct kt_option kt_global_opts[] = {
	{"kubeconfig", 0, KT_OPT_STR, "FILE", "file",
	 "kubeconfig file (default $KUBECONFIG, merged like kubectl, else ~/.kube/config, else in-cluster)"},
	{"context", 0, KT_OPT_STR, "NAME", "context", "kubeconfig context to use"},
	{"namespace", 'n', KT_OPT_STR, "NS", "namespace", "namespace (default: the context's, else 'default')"},
	{"all-namespaces", 'A', KT_OPT_FLAG, NULL, NULL, "every namespace, where the command lists (path: the NAME in every namespace)"},
	{"selector", 'l', KT_OPT_STR, "SEL", NULL, "only Services whose labels match SEL (kubectl syntax), where the command lists"},
	{"from", 0, KT_OPT_STR, "SOURCE", "source",
	 "read a bundle from 'ktrace collect' (path, .gz, '-' for stdin) or 'demo' instead of the live cluster"},
	{"output", 'o', KT_OPT_STR, "FMT", "output",
	 "output format: text (default), wide, json or yaml; lint/check also sarif, junit; path also dot, mermaid"},
	{"color", 0, KT_OPT_STR, "WHEN", "auto|always|never", "colour: auto (default; honours NO_COLOR), always, never"},
	{"request-timeout", 0, KT_OPT_INT, "SECS", NULL, "timeout per API request in seconds (default 30)"},
	{"as", 0, KT_OPT_STR, "USER", NULL, "impersonate USER for API requests, as kubectl --as"},
	{"as-group", 0, KT_OPT_STR, "GROUP", NULL, "impersonate GROUP too (repeatable; needs --as), as kubectl --as-group"},
	{"verbose", 'v', KT_OPT_FLAG, NULL, NULL, "more detail on stderr; -vv logs every API request (no credentials)"},
	{"help", 'h', KT_OPT_FLAG, NULL, NULL, "show help"},
	{"version", 0, KT_OPT_FLAG, NULL, NULL, "print the version"},
	{0},
};

static const struct kt_command *find_command(const char *name)
{
	for (int i = 0; kt_commands[i]; i++)
		if (!strcmp(kt_commands[i]->name, name))
			return kt_commands[i];
	return NULL;
}

static const struct kt_option *find_opt(const struct kt_option *tab, const char *lng, char shrt)
{
	for (int i = 0; tab && tab[i].name; i++) {
		if (lng && !strcmp(tab[i].name, lng))
			return &tab[i];
		if (!lng && shrt && tab[i].short_name == shrt)
			return &tab[i];
	}
	return NULL;
}

static const char *prog = "ktrace";

const char *kt_cli_prog(void)
{
	return prog;
}

/* argv[0] as kubectl runs a plugin: ".../kubectl-ktrace" */
static void set_prog(const char *argv0)
{
	const char *b = argv0 ? strrchr(argv0, '/') : NULL;
	b = b ? b + 1 : argv0;
	if (b && !strcmp(b, "kubectl-ktrace"))
		prog = "kubectl ktrace";
}

void kt_cli_put_text(FILE *f, const char *t)
{
	if (!strcmp(prog, "ktrace")) {
		fputs(t, f);
		return;
	}
	for (const char *p = t; *p; p++) {
		/* "ktrace " starting a word and followed by a command or option */
		bool start = p == t || strchr(" '`(\n\"", p[-1]);
		if (start && !strncmp(p, "ktrace ", 7) && ((p[7] >= 'a' && p[7] <= 'z') || p[7] == '-' ||
							   (p[7] >= 'A' && p[7] <= 'Z'))) {
			fputs("kubectl ktrace ", f);
			p += 6;
			continue;
		}
		fputc(*p, f);
	}
}

static void usage_line(FILE *f, const struct kt_command *c)
{
	fprintf(f, "usage: %s %s%s%s [options]\n", prog, c->name, c->usage ? " " : "", c->usage ? c->usage : "");
}

static void print_opts(FILE *f, const struct kt_option *tab)
{
	for (int i = 0; tab && tab[i].name; i++) {
		char left[96];
		if (tab[i].short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", tab[i].short_name, tab[i].name, tab[i].arg ? " " : "",
				 tab[i].arg ? tab[i].arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", tab[i].name, tab[i].arg ? " " : "",
				 tab[i].arg ? tab[i].arg : "");
		if (strlen(left) > 28)
			fprintf(f, "  %s\n  %-28s  %s\n", left, "", tab[i].help);
		else
			fprintf(f, "  %-28s  %s\n", left, tab[i].help);
	}
}

void kt_cli_command_help(FILE *f, const struct kt_command *c)
{
	usage_line(f, c);
	fprintf(f, "\n%s\n", c->summary);
	if (c->description) {
		fputc('\n', f);
		kt_cli_put_text(f, c->description);
		fputc('\n', f);
	}
	if (c->opts && c->opts[0].name) {
		fprintf(f, "\nOptions:\n");
		print_opts(f, c->opts);
	}
	if (!(c->flags & KT_CMD_NO_GLOBALS)) {
		fprintf(f, "\nGlobal options:\n");
		print_opts(f, kt_global_opts);
	} else {
		fprintf(f, "\nGlobal options: -o/--output, --color, -v, -h/--help (see '%s --help')\n", prog);
	}
	if (c->man)
		fprintf(f, "\nSee man %s for details.\n", c->man);
	else
		fprintf(f, "\nSee man ktrace-%s(1) for details.\n", c->name);
}

static void main_help(FILE *f)
{
	fprintf(f, "usage: %s [global options] COMMAND [options] [args]\n\n", prog);
	kt_cli_put_text(f, "ktrace shows how Kubernetes Service traffic really flows: cloud LB -> node ->\n"
			   "NodePort -> dataplane rule -> Pod, and names what goes wrong (SNAT source-IP loss,\n"
			   "cross-node hops, connection imbalance, stale rules, rollout 502s).\n\nCommands:\n");
	for (int i = 0; kt_commands[i]; i++)
		if (!(kt_commands[i]->flags & KT_CMD_HIDDEN))
			fprintf(f, "  %-12s %s\n", kt_commands[i]->name, kt_commands[i]->summary);
	fprintf(f, "\nGlobal options:\n");
	print_opts(f, kt_global_opts);
	kt_cli_put_text(f, "\nExamples:\n"
			   "  ktrace path svc/orders -n shop --from demo   the path of a Service on the built-in demo cluster\n"
			   "  ktrace path shop/orders                       the same on the current kubeconfig context\n"
			   "  ktrace dataplane --diff                       this node's rules vs the API's EndpointSlices\n"
			   "  ktrace imbalance svc/orders -n shop           live per-Pod connection share dashboard\n"
			   "  ktrace lint k8s/ -o sarif > ktrace.sarif      CI policy checks over manifests\n"
			   "\n'ktrace help COMMAND' or 'ktrace COMMAND --help' shows a command's options.\n"
			   "Also a kubectl plugin: 'kubectl ktrace COMMAND' (kubectl-ktrace on PATH).\n"
			   "Exit codes: 0 ok, 1 findings at/above --fail-on, 2 usage, 3 not found, 4 cluster/node\n"
			   "unreachable or forbidden, 5 invalid or missing input, 6 partial answer (gaps listed).\n"
			   "See man ktrace(1).\n");
}

/* Closest name among cands (distance <= max(2, len/3)); NULL if none. */
static const char *closest(const char *s, const char *const *cands, unsigned n)
{
	const char *best = NULL;
	unsigned bd = ~0u, lim = (unsigned)strlen(s) / 3;
	if (lim < 2)
		lim = 2;
	for (unsigned i = 0; i < n; i++) {
		unsigned d = kt_edit_distance(s, cands[i]);
		if (strncmp(cands[i], s, strlen(s)) == 0 && strlen(s) >= 2)
			d = 1;
		if (d < bd) {
			bd = d;
			best = cands[i];
		}
	}
	return bd <= lim ? best : NULL;
}

static int usage_err(struct kt_cli *c, const char *hint, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int usage_err(struct kt_cli *c, const char *hint, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kt_cli_error(c, KT_EXIT_USAGE, hint, "%s", msg);
}

static int unknown_option(struct kt_cli *c, const char *arg)
{
	const char *names[128];
	unsigned n = 0;
	for (int i = 0; kt_global_opts[i].name && n < 64; i++)
		names[n++] = kt_global_opts[i].name;
	for (int i = 0; c->cmd && c->cmd->opts && c->cmd->opts[i].name && n < 128; i++)
		names[n++] = c->cmd->opts[i].name;
	const char *a = arg;
	while (*a == '-')
		a++;
	char base[64];
	snprintf(base, sizeof(base), "%.*s", (int)strcspn(a, "="), a);
	const char *best = closest(base, names, n);
	char hint[160];
	if (best)
		snprintf(hint, sizeof(hint), "did you mean '--%s'?", best);
	else
		snprintf(hint, sizeof(hint), "see 'ktrace %s --help'", c->cmd ? c->cmd->name : "");
	return usage_err(c, hint, "unknown option '%s'%s%s", arg, c->cmd ? " for " : "", c->cmd ? c->cmd->name : "");
}

static int set_global(struct kt_cli *c, const struct kt_option *o, const char *val)
{
	const char *n = o->name;
	if (!strcmp(n, "kubeconfig"))
		c->kubeconfig = val;
	else if (!strcmp(n, "context"))
		c->context = val;
	else if (!strcmp(n, "namespace"))
		c->namespace = val;
	else if (!strcmp(n, "all-namespaces"))
		c->all_namespaces = true;
	else if (!strcmp(n, "selector"))
		c->selector = val;
	else if (!strcmp(n, "as"))
		c->as_user = val;
	else if (!strcmp(n, "as-group")) {
		if (c->n_as_groups >= sizeof(c->as_groups) / sizeof(c->as_groups[0]))
			return usage_err(c, NULL, "too many --as-group options (at most %zu)",
					 sizeof(c->as_groups) / sizeof(c->as_groups[0]));
		c->as_groups[c->n_as_groups++] = val;
	}
	else if (!strcmp(n, "from"))
		c->from = val;
	else if (!strcmp(n, "output"))
		c->output_name = val;
	else if (!strcmp(n, "color")) {
		if (strcmp(val, "auto") && strcmp(val, "always") && strcmp(val, "never"))
			return usage_err(c, "use auto, always or never", "invalid --color '%s'", val);
		c->color = !strcmp(val, "always") ? 1 : !strcmp(val, "never") ? 0 : -1;
	} else if (!strcmp(n, "request-timeout")) {
		char *end;
		long t = strtol(val, &end, 10);
		if (*end == 's' && end[1] == 0)
			end++;
		if (*end || t <= 0 || t > 3600)
			return usage_err(c, "give whole seconds, 1 to 3600", "invalid --request-timeout '%s'", val);
		c->request_timeout = (int)t;
	} else if (!strcmp(n, "verbose"))
		c->verbose++;
	return 0;
}

static int add_val(struct kt_cli *c, const struct kt_option *o, const char *val)
{
	if (o->kind == KT_OPT_INT || o->kind == KT_OPT_NUM) {
		char *end;
		if (o->kind == KT_OPT_INT)
			(void)strtol(val, &end, 10);
		else
			(void)strtod(val, &end);
		if (!*val || *end)
			return usage_err(c, NULL, "option '--%s' needs a number, got '%s'", o->name, val);
	}
	for (unsigned i = 0; i < c->n_vals; i++)
		if (c->vals[i].opt == o) {
			c->vals[i].value = val;
			c->vals[i].count++;
			return 0;
		}
	struct kt_optval *nv = realloc(c->vals, (c->n_vals + 1) * sizeof(*nv));
	if (!nv)
		abort();
	c->vals = nv;
	c->vals[c->n_vals++] = (struct kt_optval){.opt = o, .value = val, .count = 1};
	return 0;
}

static int parse(struct kt_cli *c, int argc, char **argv, bool *want_help, bool *want_version)
{
	char **pos = calloc((size_t)argc + 1, sizeof(char *));
	if (!pos)
		abort();
	c->argv = pos;
	c->argc = 0;
	bool dashdash = false;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (dashdash || a[0] != '-' || !strcmp(a, "-")) {
			if (!c->cmd) {
				c->cmd = find_command(a);
				if (!c->cmd) {
					const char *names[64];
					unsigned n = 0;
					for (int k = 0; kt_commands[k] && n < 64; k++)
						if (!(kt_commands[k]->flags & KT_CMD_HIDDEN))
							names[n++] = kt_commands[k]->name;
					const char *best = closest(a, names, n);
					char hint[128];
					if (best)
						snprintf(hint, sizeof(hint), "did you mean 'ktrace %s'?", best);
					else
						snprintf(hint, sizeof(hint), "see 'ktrace --help' for the commands");
					return usage_err(c, hint, "unknown command '%s'", a);
				}
				continue;
			}
			pos[c->argc++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			dashdash = true;
			continue;
		}
		const struct kt_option *o = NULL;
		bool global = false;
		const char *val = NULL;
		char name[64];
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - (a + 2) : (long)strlen(a + 2)), a + 2);
			if (eq)
				val = eq + 1;
			if (c->cmd)
				o = find_opt(c->cmd->opts, name, 0);
			if (!o && (o = find_opt(kt_global_opts, name, 0)))
				global = true;
		} else {
			/* -vv, -A, -n NS, -nNS, -ojson */
			if (a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
				c->verbose += (int)strlen(a + 1);
				continue;
			}
			if (c->cmd)
				o = find_opt(c->cmd->opts, NULL, a[1]);
			if (!o && (o = find_opt(kt_global_opts, NULL, a[1])))
				global = true;
			if (o && a[2]) {
				if (o->kind == KT_OPT_FLAG)
					o = NULL; /* no bundling of flags */
				else
					val = a + 2;
			}
		}
		if (!o)
			return unknown_option(c, a);
		if (o->kind == KT_OPT_FLAG) {
			if (val)
				return usage_err(c, NULL, "option '--%s' takes no value", o->name);
		} else if (!val) {
			if (i + 1 >= argc)
				return usage_err(c, NULL, "option '--%s' needs a value (%s)", o->name, o->arg ? o->arg : "VALUE");
			val = argv[++i];
		}
		int rc;
		if (global) {
			if (!strcmp(o->name, "help")) {
				*want_help = true;
				continue;
			}
			if (!strcmp(o->name, "version")) {
				*want_version = true;
				continue;
			}
			rc = set_global(c, o, val);
		} else {
			rc = add_val(c, o, val);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* The command table's preconditions, checked here before every run(). */
static int preconditions(struct kt_cli *c)
{
	const struct kt_command *cmd = c->cmd;
	if (c->from && (cmd->flags & KT_CMD_NO_FROM))
		return usage_err(c, "it reads the live cluster", "--from cannot be used with %s", cmd->name);
	if (c->selector && !(cmd->flags & KT_CMD_SELECTOR))
		return usage_err(c, "-l narrows the Services that check, dataplane and imbalance list",
				 "-l/--selector does not apply to %s", cmd->name);
	if (c->n_as_groups && !c->as_user)
		return usage_err(c, "add --as USER (impersonating groups without a user is not allowed)",
				 "--as-group needs --as");
	/* a missing required argument (usage starting with an upper-case word)
	 * is a usage error the command reports, before any cluster error */
	bool arg_missing = !c->argc && cmd->usage && cmd->usage[0] >= 'A' && cmd->usage[0] <= 'Z';
	if ((cmd->flags & KT_CMD_API) && !c->from && !arg_missing && (kt_cli_wants(c) & KT_WANT_OBJECTS)) {
		/* read the kubeconfig and open the client before the command runs */
		struct kt_kube *k;
		struct kt_diag d = {0};
		if (kt_cli_kube(c, &k, &d) < 0)
			return kt_cli_fail(c, &d);
	}
	return 0;
}

static int resolve_output(struct kt_cli *c)
{
	static const struct {
		const char *name;
		enum kt_out out;
	} fmts[] = {
		{"text", KT_OUT_TEXT}, {"wide", KT_OUT_TEXT}, {"json", KT_OUT_JSON}, {"yaml", KT_OUT_YAML},
		{"sarif", KT_OUT_SARIF}, {"junit", KT_OUT_JUNIT}, {"dot", KT_OUT_DOT}, {"mermaid", KT_OUT_MERMAID},
	};
	const char *o = c->output_name ? c->output_name : "text";
	const char *allowed = c->cmd && c->cmd->outputs ? c->cmd->outputs : "text|json";
	size_t i, nf = sizeof(fmts) / sizeof(fmts[0]);
	for (i = 0; i < nf && strcmp(fmts[i].name, o); i++)
		;
	if (i == nf)
		return usage_err(c, NULL, "unknown output format '%s' (use %s)", o, allowed);
	/* is it allowed for this command? */
	const char *p = allowed;
	size_t l = strlen(o);
	while (p && *p) {
		if (!strncmp(p, o, l) && (p[l] == '|' || p[l] == 0)) {
			c->out = fmts[i].out;
			c->wide = !strcmp(o, "wide");
			return 0;
		}
		p = strchr(p, '|');
		if (p)
			p++;
	}
	c->out = KT_OUT_TEXT;
	return usage_err(c, NULL, "output format '%s' is not available for '%s' (use %s)", o, c->cmd->name, allowed);
}

int kt_cli_main(int argc, char **argv)
{
	struct kt_cli cli;
	memset(&cli, 0, sizeof(cli));
	cli.argv0 = argv[0];
	set_prog(argv[0]);
	cli.color = -1;
	cli.request_timeout = 30;
	bool want_help = false, want_version = false;
	int rc = parse(&cli, argc, argv, &want_help, &want_version);
	kt_verbosity = cli.verbose;
	kt_cli_resolve_color(&cli);
	if (rc)
		goto out;
	if (want_version && !cli.cmd) {
		printf("ktrace %s\n", KT_VERSION);
		goto out;
	}
	if (!cli.cmd) {
		main_help(want_help ? stdout : stderr);
		rc = want_help ? 0 : KT_EXIT_USAGE;
		goto out;
	}
	if (want_help) {
		kt_cli_command_help(stdout, cli.cmd);
		goto out;
	}
	rc = resolve_output(&cli);
	if (rc)
		goto out;
	rc = preconditions(&cli);
	if (rc)
		goto out;
	rc = cli.cmd->run(&cli);
out:
	kt_cli_finish(&cli);
	if (cli.kube)
		kt_kube_close(cli.kube);
	free(cli.argv);
	free(cli.vals);
	fflush(stdout);
	if (ferror(stdout) && rc == 0)
		rc = KT_EXIT_INPUT;
	return rc;
}
