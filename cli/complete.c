/*
 * The completion engine behind every shell's script: `ktrace __complete
 * line -- WORD... CUR` gets the words typed so far (without "ktrace") and
 * the word under the cursor, parses them with the same command and option
 * tables as the real parser (leniently: a half-typed line is no error),
 * and prints what may come at the cursor, one candidate a line
 * ("value<TAB>description"), then one directive line:
 *   ":"              nothing more
 *   ":files PREFIX"  also file names (the part of CUR after PREFIX)
 *   ":dirs PREFIX"   also directory names
 * With --cobra the directive is kubectl's plugin-completion number
 * (kubectl_complete-ktrace). Dynamic values (namespaces, Services,
 * contexts, nodes; --nodes: all, then a comma list) honour --from, -n,
 * -A, --context and --kubeconfig
 * wherever they were typed; a live lookup waits at most a few seconds and
 * an error gives no candidates. Prints only to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cli/spec.h"
#include "ktrace/source.h"
#include "ktrace/dataplane.h"
#include "ktrace/flows.h"
#include "ktrace/findings.h"
#include "ktrace/xalloc.h"

#define KT_COMPLETE_TIMEOUT_S 3

struct cstate {
	struct kt_cli *c;
	const char *cur;         /* the value being completed (after any prefix) */
	const char *prefix;      /* printed before every value ("--from=", "-n") */
	const char *directive;   /* NULL, "files" or "dirs" */
	bool no_desc;            /* names only */
	const char *exclude;     /* a comma list already typed: its names are not offered again */
	struct kt_snapshot *snap; /* --from, loaded on first use */
	bool snap_failed;
	unsigned n;              /* candidates printed */
};

static void cand(struct cstate *st, const char *value, const char *desc)
{
	/* a name with control characters cannot be typed, and a shell would
	 * print it raw in its listing: leave it out */
	if (strncmp(value, st->cur, strlen(st->cur)) || !kt_vis_clean(value))
		return;
	for (const char *p = st->exclude; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n == strlen(value) && !strncmp(p, value, n))
			return;
		p += n + (p[n] == ',');
	}
	printf("%s%s", st->prefix, value);
	if (desc && *desc && !st->no_desc) {
		putchar('\t');
		/* descriptions are one visible-safe line */
		fputs(kt_cv(st->c, desc), stdout);
	}
	putchar('\n');
	st->n++;
}

/* ---- dynamic values -------------------------------------------------------- */

static const struct kt_snapshot *bundle(struct cstate *st)
{
	if (!st->snap && !st->snap_failed) {
		struct kt_diag d = {0};
		struct kt_scope sc;
		kt_cli_scope(st->c, &sc);
		sc.namespace = NULL; /* names of every namespace; filtered by the caller */
		sc.all_namespaces = true;
		sc.node = KT_NODE_NONE;
		if (kt_source_load(&sc, KT_WANT_SERVICES | KT_WANT_PODS | KT_WANT_NODES | KT_WANT_WORKLOADS, &st->snap,
				   &d) < 0) {
			st->snap = NULL;
			st->snap_failed = true;
		}
	}
	return st->snap;
}

static struct kt_kube *live(struct cstate *st)
{
	struct kt_kube *k;
	struct kt_diag d = {0};
	st->c->quiet = true;
	if (st->c->request_timeout > KT_COMPLETE_TIMEOUT_S)
		st->c->request_timeout = KT_COMPLETE_TIMEOUT_S;
	return kt_cli_kube(st->c, &k, &d) < 0 ? NULL : k;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Print names sorted and without repeats. */
static void unique(struct cstate *st, const char **v, unsigned n, const char *desc)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), str_cmp);
	for (unsigned i = 0; i < n; i++)
		if (v[i] && *v[i] && (!i || strcmp(v[i], v[i - 1])))
			cand(st, v[i], desc);
}

/* Cluster-scoped names from the live API (namespaces, nodes). */
static void live_names(struct cstate *st, enum kt_res res)
{
	struct kt_kube *k = live(st);
	struct kt_arena *a = kt_arena_new();
	const char **names;
	unsigned n = 0;
	struct kt_diag d = {0};
	if (k && kt_kube_names(k, res, NULL, a, &names, &n, &d) == 0)
		unique(st, names, n, NULL);
	kt_arena_free(a);
}

static void namespaces(struct cstate *st)
{
	if (st->c->from) {
		const struct kt_snapshot *s = bundle(st);
		if (!s)
			return;
		unsigned cap = s->n_services + s->n_pods + s->n_workloads + 1, n = 0;
		const char **v = kt_xcalloc(cap, sizeof(*v));
		for (uint32_t i = 0; i < s->n_services; i++)
			v[n++] = s->services[i].meta.namespace;
		for (uint32_t i = 0; i < s->n_pods; i++)
			v[n++] = s->pods[i].meta.namespace;
		for (uint32_t i = 0; i < s->n_workloads; i++)
			v[n++] = s->workloads[i].meta.namespace;
		unique(st, v, n, NULL);
		free(v);
		return;
	}
	live_names(st, KT_RES_NAMESPACES);
}

static void nodes(struct cstate *st)
{
	if (st->c->from) {
		const struct kt_snapshot *s = bundle(st);
		if (!s)
			return;
		unsigned cap = s->n_nodes + s->n_dp + s->n_flows + 1, n = 0;
		const char **v = kt_xcalloc(cap, sizeof(*v));
		for (uint32_t i = 0; i < s->n_nodes; i++)
			v[n++] = s->nodes[i].meta.name;
		for (uint32_t i = 0; i < s->n_dp; i++)
			v[n++] = s->dp[i].node;
		for (uint32_t i = 0; i < s->n_flows; i++)
			v[n++] = s->flows[i].node;
		unique(st, v, n, NULL);
		free(v);
		return;
	}
	live_names(st, KT_RES_NODES);
}

/* --nodes: all, or node names; after a comma the next name of the list
 * (NAME,NAME,<TAB>), without the ones already there. */
static void node_list(struct cstate *st)
{
	static char prefix[1024];
	const char *comma = strrchr(st->cur, ',');
	if (!comma) {
		cand(st, "all", "every node (each through its ktrace agent)");
		nodes(st);
		return;
	}
	size_t pl = (size_t)(comma + 1 - st->cur);
	if (strlen(st->prefix) + pl >= sizeof(prefix))
		return;
	snprintf(prefix, sizeof(prefix), "%s%.*s", st->prefix, (int)pl, st->cur);
	st->exclude = kt_xstrdup(st->cur);
	st->prefix = prefix;
	st->cur = comma + 1;
	nodes(st);
	free((char *)st->exclude);
	st->exclude = NULL;
}

static void contexts(struct cstate *st)
{
	struct kt_kube_opts o = {.kubeconfig = st->c->kubeconfig};
	struct kt_arena *a = kt_arena_new();
	const char **names;
	unsigned n = 0;
	struct kt_diag d = {0};
	if (kt_kube_contexts(&o, a, &names, &n, &d) == 0)
		unique(st, names, n, NULL);
	kt_arena_free(a);
}

/* SERVICE: NAME in the namespace (-n, else the context's), NS/NAME, and
 * the kind-prefixed forms (svc/NAME, service/NS/NAME) when the word starts
 * with one. With -A, or when a bundle has no Service in the namespace and
 * no -n was given, every Service as NS/NAME. */
static void services(struct cstate *st)
{
	static const char *kinds[] = {"svc/", "service/", "services/", "service.v1/", NULL};
	struct kt_cli *c = st->c;
	const char *w = st->cur;
	char kp[32] = "";
	for (int i = 0; kinds[i]; i++)
		if (!strncasecmp(w, kinds[i], strlen(kinds[i]))) {
			snprintf(kp, sizeof(kp), "%.*s", (int)strlen(kinds[i]), w);
			break;
		}
	const char *rest = w + strlen(kp);
	const char *slash = strchr(rest, '/');
	char nsbuf[256] = "";
	const char *ns = NULL;
	bool explicit_ns = c->namespace != NULL;
	if (slash) {
		snprintf(nsbuf, sizeof(nsbuf), "%.*s", (int)(slash - rest), rest);
		ns = nsbuf;
		explicit_ns = true;
	} else {
		ns = kt_cli_namespace(c);
	}
	char v[600];
	if (c->from) {
		const struct kt_snapshot *s = bundle(st);
		if (!s)
			return;
		bool any = false;
		for (uint32_t i = 0; i < s->n_services; i++)
			any |= !strcmp(s->services[i].meta.namespace, ns);
		bool all = !slash && (c->all_namespaces || (!explicit_ns && !any));
		for (uint32_t i = 0; i < s->n_services; i++) {
			const struct kt_meta *m = &s->services[i].meta;
			if (all)
				snprintf(v, sizeof(v), "%s%s/%s", kp, m->namespace, m->name);
			else if (!strcmp(m->namespace, ns))
				snprintf(v, sizeof(v), "%s%s%s%s", kp, slash ? ns : "", slash ? "/" : "", m->name);
			else
				continue;
			cand(st, v, NULL);
		}
		return;
	}
	struct kt_kube *k = live(st);
	struct kt_arena *a = kt_arena_new();
	const char **names;
	unsigned n = 0;
	struct kt_diag d = {0};
	if (k && kt_kube_names(k, KT_RES_SERVICES, ns, a, &names, &n, &d) == 0) {
		if (n > 1)
			qsort(names, n, sizeof(*names), str_cmp);
		for (unsigned i = 0; i < n; i++) {
			snprintf(v, sizeof(v), "%s%s%s%s", kp, slash ? ns : "", slash ? "/" : "", names[i]);
			cand(st, v, NULL);
		}
	}
	kt_arena_free(a);
}

static void words(struct cstate *st, const char *list)
{
	char w[64];
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, "|");
		snprintf(w, sizeof(w), "%.*s", (int)n, p);
		cand(st, w, NULL);
		p += n + (p[n] == '|');
	}
}

/* Candidates for a value of kind `kind` (an option's or a positional's). */
static void values(struct cstate *st, const struct kt_command *cmd, const char *kind)
{
	if (!kind)
		return;
	if (*kind == '*')
		kind++;
	if (!strcmp(kind, "file")) {
		st->directive = "files";
	} else if (!strcmp(kind, "dir")) {
		st->directive = "dirs";
	} else if (!strcmp(kind, "source")) {
		cand(st, "demo", "the built-in demo cluster");
		st->directive = "files";
	} else if (!strcmp(kind, "namespace")) {
		namespaces(st);
	} else if (!strcmp(kind, "service")) {
		services(st);
	} else if (!strcmp(kind, "context")) {
		contexts(st);
	} else if (!strcmp(kind, "node")) {
		nodes(st);
	} else if (!strcmp(kind, "nodes")) {
		node_list(st);
	} else if (!strcmp(kind, "rule")) {
		for (int i = 0; i < KT_RULE_COUNT; i++)
			cand(st, kt_rules[i].id, kt_rules[i].name);
	} else if (!strcmp(kind, "command")) {
		for (int i = 0; kt_commands[i]; i++)
			if (!(kt_commands[i]->flags & KT_CMD_HIDDEN))
				cand(st, kt_commands[i]->name, kt_commands[i]->summary);
	} else if (!strcmp(kind, "output")) {
		words(st, cmd ? (cmd->outputs ? cmd->outputs : "text|json") : "text|wide|json|yaml|sarif|junit|dot|mermaid");
	} else if (strchr(kind, '|')) {
		words(st, kind);
	}
}

/* ---- the words typed so far ------------------------------------------------ */

static const struct kt_command *command(const char *name)
{
	for (int i = 0; kt_commands[i]; i++)
		if (!strcmp(kt_commands[i]->name, name) && !(kt_commands[i]->flags & KT_CMD_HIDDEN))
			return kt_commands[i];
	return NULL;
}

/* The globals a KT_CMD_NO_GLOBALS command honours. */
static bool global_applies(const struct kt_command *cmd, const struct kt_option *o)
{
	if (!cmd || !(cmd->flags & KT_CMD_NO_GLOBALS))
		return true;
	return !strcmp(o->name, "output") || !strcmp(o->name, "color") || !strcmp(o->name, "verbose") ||
	       !strcmp(o->name, "help");
}

static const struct kt_option *lookup(const struct kt_command *cmd, const char *lng, size_t len, char shrt)
{
	const struct kt_option *tabs[2] = {cmd ? cmd->opts : NULL, kt_global_opts};
	for (int t = 0; t < 2; t++)
		for (int i = 0; tabs[t] && tabs[t][i].name; i++) {
			const struct kt_option *o = &tabs[t][i];
			if (lng ? strlen(o->name) == len && !strncmp(o->name, lng, len) : o->short_name == shrt)
				return o;
		}
	return NULL;
}

/* The globals that change what dynamic values are offered. */
static void apply(struct kt_cli *c, const struct kt_option *o, const char *v)
{
	if (o->kind == KT_OPT_FLAG) {
		if (!strcmp(o->name, "all-namespaces"))
			c->all_namespaces = true;
		return;
	}
	if (!strcmp(o->name, "from"))
		c->from = v;
	else if (!strcmp(o->name, "namespace"))
		c->namespace = v;
	else if (!strcmp(o->name, "context"))
		c->context = v;
	else if (!strcmp(o->name, "kubeconfig"))
		c->kubeconfig = v;
}

struct parsed {
	const struct kt_command *cmd;
	bool unknown_cmd;        /* the first word is not a command */
	unsigned npos;           /* positionals after the command */
	bool dashdash;
	const struct kt_option *pending; /* the last word wants a value */
	const struct kt_option *seen[64];
	unsigned n_seen;
};

static void parse_words(struct kt_cli *c, char **w, int n, struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < n; i++) {
		const char *a = w[i];
		if (p->pending) {
			apply(c, p->pending, a);
			p->pending = NULL;
			continue;
		}
		if (p->dashdash || a[0] != '-' || !a[1]) {
			if (!p->cmd && !p->unknown_cmd) {
				p->cmd = command(a);
				p->unknown_cmd = !p->cmd;
			} else {
				p->npos++;
			}
			continue;
		}
		if (!strcmp(a, "--")) {
			p->dashdash = true;
			continue;
		}
		const struct kt_option *o;
		const char *val = NULL;
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			o = lookup(p->cmd, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2), 0);
			if (eq)
				val = eq + 1;
		} else {
			o = lookup(p->cmd, NULL, 0, a[1]);
			if (o && o->kind != KT_OPT_FLAG && a[2])
				val = a + 2;
		}
		if (!o)
			continue;
		if (p->n_seen < 64)
			p->seen[p->n_seen++] = o;
		if (o->kind == KT_OPT_FLAG)
			apply(c, o, NULL);
		else if (val)
			apply(c, o, val);
		else
			p->pending = o;
	}
}

static bool seen(const struct parsed *p, const struct kt_option *o)
{
	for (unsigned i = 0; i < p->n_seen; i++)
		if (p->seen[i] == o)
			return true;
	return false;
}

static void option_names(struct cstate *st, const struct parsed *p)
{
	const struct kt_option *tabs[2] = {p->cmd ? p->cmd->opts : NULL, kt_global_opts};
	char name[80];
	for (int t = 0; t < 2; t++)
		for (int i = 0; tabs[t] && tabs[t][i].name; i++) {
			const struct kt_option *o = &tabs[t][i];
			if ((t == 1 && !global_applies(p->cmd, o)) || (seen(p, o) && strcmp(o->name, "verbose")))
				continue;
			snprintf(name, sizeof(name), "--%s", o->name);
			cand(st, name, o->help);
			if (o->short_name && !strncmp(st->cur, "-", strlen(st->cur)) && strlen(st->cur) <= 1) {
				snprintf(name, sizeof(name), "-%c", o->short_name);
				cand(st, name, o->help);
			}
		}
}

int kt_complete_line(struct kt_cli *c, char **w, int n, bool cobra)
{
	struct cstate st = {.c = c, .cur = n ? w[n - 1] : "", .prefix = ""};
	struct parsed p;
	parse_words(c, w, n ? n - 1 : 0, &p);
	const char *cur = st.cur;
	char prefix[80];
	if (p.pending) {
		values(&st, p.cmd, p.pending->complete);
	} else if (!p.dashdash && cur[0] == '-' && cur[1] == '-' && strchr(cur, '=')) {
		/* --opt=VALUE */
		const char *eq = strchr(cur, '=');
		const struct kt_option *o = lookup(p.cmd, cur + 2, (size_t)(eq - cur - 2), 0);
		if (o && o->kind != KT_OPT_FLAG) {
			snprintf(prefix, sizeof(prefix), "%.*s", (int)(eq + 1 - cur), cur);
			st.prefix = prefix;
			st.cur = eq + 1;
			values(&st, p.cmd, o->complete);
		}
	} else if (!p.dashdash && cur[0] == '-' && cur[1] && cur[1] != '-' && cur[2] &&
		   lookup(p.cmd, NULL, 0, cur[1]) && lookup(p.cmd, NULL, 0, cur[1])->kind != KT_OPT_FLAG) {
		/* -nVALUE */
		const struct kt_option *o = lookup(p.cmd, NULL, 0, cur[1]);
		snprintf(prefix, sizeof(prefix), "-%c", cur[1]);
		st.prefix = prefix;
		st.cur = cur + 2;
		values(&st, p.cmd, o->complete);
	} else if (!p.dashdash && cur[0] == '-') {
		option_names(&st, &p);
	} else if (!p.cmd && !p.unknown_cmd) {
		values(&st, NULL, "command");
	} else if (p.cmd && p.cmd->args && (p.cmd->args[0] == '*' || p.npos == 0)) {
		values(&st, p.cmd, p.cmd->args);
	}
	if (cobra) {
		/* kubectl plugin completion: 4 no file completion, 0 files */
		printf(":%d\n", st.directive && !strcmp(st.directive, "files") && !*st.prefix ? 0
				: st.directive && !strcmp(st.directive, "dirs") && !*st.prefix ? 16 : 4);
	} else if (st.directive) {
		printf(":%s %s\n", st.directive, st.prefix);
	} else {
		printf(":\n");
	}
	kt_snapshot_free(st.snap);
	return 0;
}

/* `__complete KIND` with the globals given to ktrace itself: the dynamic
 * values alone (for scripts). Singular and plural kinds both work. */
int kt_complete_kind(struct kt_cli *c, const char *kind)
{
	static const char *const kinds[][2] = {
		{"namespaces", "namespace"}, {"services", "service"}, {"contexts", "context"}, {"nodes", "node"},
		{"rules", "rule"}, {"commands", "command"},
	};
	const char *k = NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && !k; i++)
		if (!strcmp(kind, kinds[i][0]) || !strcmp(kind, kinds[i][1]))
			k = kinds[i][1];
	if (!k)
		return -1;
	struct cstate st = {.c = c, .cur = "", .prefix = "", .no_desc = true};
	values(&st, NULL, k);
	kt_snapshot_free(st.snap);
	return 0;
}
