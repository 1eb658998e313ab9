/*
 * Helpers shared by every command: option access, error reporting (text
 * or one JSON document), colours, SERVICE argument parsing, snapshot
 * loading (--from or the live API), "did you mean", age formatting and
 * the findings renderers. The only place besides commands that prints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/spec.h"
#include "ktrace/jsonw.h"
#include "ktrace/source.h"

static const struct kt_optval *val(const struct kt_cli *c, const char *name)
{
	for (unsigned i = 0; i < c->n_vals; i++)
		if (!strcmp(c->vals[i].opt->name, name))
			return &c->vals[i];
	return NULL;
}

bool kt_opt_flag(const struct kt_cli *c, const char *name)
{
	return val(c, name) != NULL;
}

const char *kt_opt_str(const struct kt_cli *c, const char *name)
{
	const char *v = NULL;
	for (unsigned i = 0; i < c->n_vals; i++)
		if (!strcmp(c->vals[i].opt->name, name))
			v = c->vals[i].value;
	return v;
}

long kt_opt_int(const struct kt_cli *c, const char *name, long def)
{
	const char *v = kt_opt_str(c, name);
	return v ? strtol(v, NULL, 10) : def;
}

double kt_opt_num(const struct kt_cli *c, const char *name, double def)
{
	const char *v = kt_opt_str(c, name);
	return v ? strtod(v, NULL) : def;
}

void kt_cli_resolve_color(struct kt_cli *c)
{
	const char *nc = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	bool env_ok = !(nc && *nc) && !(term && !strcmp(term, "dumb"));
	if (c->color == 1) {
		c->color_err = 1;
		return;
	}
	if (c->color == 0) {
		c->color_err = 0;
		return;
	}
	c->color = env_ok && isatty(1);
	c->color_err = env_ok && isatty(2);
}

const char *kt_cv(struct kt_cli *c, const char *s)
{
	if (!s || kt_vis_clean(s))
		return s;
	if (!c->vis)
		c->vis = kt_arena_new();
	return kt_vis(c->vis, s);
}

void kt_cli_vis_reset(struct kt_cli *c)
{
	if (c->vis)
		kt_arena_free(c->vis);
	c->vis = NULL;
}

/* Escape s into buf, cut at max bytes (at a character boundary, "..."). */
static const char *vis_line(char *buf, size_t cap, const char *s, size_t max)
{
	if (max + 4 > cap)
		max = cap - 4;
	size_t need = kt_vis_escape(buf, max + 1, s);
	if (need > max) {
		size_t n = strlen(buf);
		memcpy(buf + n, "...", 4);
	}
	return buf;
}

int kt_cli_fail(struct kt_cli *c, const struct kt_diag *d)
{
	int code = d->code ? d->code : KT_EXIT_CLUSTER;
	const char *cmd = c->cmd ? c->cmd->name : NULL;
	const char *red = c->color_err ? "\033[31m" : "", *rst = c->color_err ? "\033[0m" : "";
	char msg[4 * sizeof(d->msg) + 8];
	fprintf(stderr, "%sktrace:%s %s%s%s\n", red, rst, cmd ? cmd : "", cmd ? ": " : "",
		vis_line(msg, sizeof(msg), d->msg, sizeof(msg) - 8));
	if (d->hint[0]) {
		fputs("hint: ", stderr);
		kt_cli_put_text(stderr, vis_line(msg, sizeof(msg), d->hint, sizeof(msg) - 8));
		fputc('\n', stderr);
	}
	if (kt_cli_structured(c)) {
		struct kt_jw *w = kt_cli_jw(c, stdout, true);
		kt_jw_obj(w);
		kt_jw_key(w, "error");
		kt_jw_obj(w);
		kt_jw_kint(w, "code", code);
		kt_jw_kstr(w, "message", d->msg);
		kt_jw_kstr(w, "hint", d->hint[0] ? d->hint : NULL);
		kt_jw_obj_end(w);
		kt_jw_obj_end(w);
		kt_jw_free(w);
	}
	return code;
}

int kt_cli_error(struct kt_cli *c, int code, const char *hint, const char *fmt, ...)
{
	struct kt_diag d;
	memset(&d, 0, sizeof(d));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d.msg, sizeof(d.msg), fmt, ap);
	va_end(ap);
	d.code = code;
	if (hint)
		snprintf(d.hint, sizeof(d.hint), "%s", hint);
	return kt_cli_fail(c, &d);
}

void kt_cli_warn(struct kt_cli *c, const char *fmt, ...)
{
	unsigned max = c->verbose ? KT_WARN_MAX_VERBOSE : KT_WARN_MAX;
	if (c->warnings++ >= max)
		return;
	char buf[1024], vis[KT_WARN_MAX_LEN + 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%sktrace: warning:%s %s\n", c->color_err ? "\033[33m" : "", c->color_err ? "\033[0m" : "",
		vis_line(vis, sizeof(vis), buf, KT_WARN_MAX_LEN));
}

void kt_cli_finish(struct kt_cli *c)
{
	kt_cli_vis_reset(c);
	unsigned max = c->verbose ? KT_WARN_MAX_VERBOSE : KT_WARN_MAX;
	if (c->warnings > max)
		fprintf(stderr, "ktrace: warning: %u more warning%s not shown%s\n", c->warnings - max,
			c->warnings - max == 1 ? "" : "s", c->verbose ? "" : " (-v shows more)");
}

static bool progress_shown;

void kt_cli_progress(struct kt_cli *c, const char *fmt, ...)
{
	if (c->quiet || (!isatty(2) && c->verbose < 1))
		return;
	char raw[256], buf[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	vis_line(buf, sizeof(buf), raw, sizeof(buf) - 8);
	if (isatty(2)) {
		fprintf(stderr, "\r\033[K%s", buf);
		progress_shown = true;
	} else {
		fprintf(stderr, "ktrace: %s\n", buf);
	}
}

void kt_cli_progress_done(struct kt_cli *c)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		progress_shown = false;
	}
}

static void fetch_progress(void *ctx, unsigned long objects)
{
	struct kt_cli *c = ctx;
	if (!c->progress)
		return;
	kt_cli_progress(c, "reading from %s: %lu objects ...", c->kube ? kt_kube_server(c->kube) : "the API server",
			objects);
}

static struct kt_kube_opts kube_opts(struct kt_cli *c)
{
	struct kt_kube_opts o = {
		.kubeconfig = c->kubeconfig,
		.context = c->context,
		.timeout_s = c->request_timeout,
		.progress = isatty(2) ? fetch_progress : NULL,
		.progress_ctx = c,
		.as_user = c->as_user,
		.as_groups = c->as_groups,
		.n_as_groups = c->n_as_groups,
	};
	return o;
}

int kt_cli_kube(struct kt_cli *c, struct kt_kube **out, struct kt_diag *d)
{
	if (!c->kube) {
		struct kt_kube_opts o = kube_opts(c);
		int rc = kt_kube_open(&o, &c->kube, d);
		if (rc < 0)
			return rc;
	}
	*out = c->kube;
	return 0;
}

const char *kt_cli_namespace(struct kt_cli *c)
{
	struct kt_scope sc;
	kt_cli_scope(c, &sc);
	return kt_source_namespace(&sc, NULL);
}

int kt_cli_service_arg(struct kt_cli *c, const char *arg, const char **ns, const char **name, struct kt_diag *d)
{
	static const char *prefixes[] = {"svc/", "service/", "services/", "service.v1/", NULL};
	const char *a = arg;
	for (int i = 0; prefixes[i]; i++)
		if (!strncasecmp(a, prefixes[i], strlen(prefixes[i]))) {
			a += strlen(prefixes[i]);
			break;
		}
	const char *slash = strchr(a, '/');
	*ns = NULL;
	if (slash) {
		if (strchr(slash + 1, '/') || slash == a || !slash[1])
			goto bad;
		static char nsbuf[256];
		if ((size_t)(slash - a) >= sizeof(nsbuf))
			goto bad;
		snprintf(nsbuf, sizeof(nsbuf), "%.*s", (int)(slash - a), a);
		*ns = nsbuf;
		*name = slash + 1;
		if (c->namespace && strcmp(c->namespace, *ns))
			kt_log(1, "SERVICE names namespace '%s'; it overrides -n %s", *ns, c->namespace);
	} else {
		if (!*a)
			goto bad;
		if (strchr(arg, '/') && a == arg)
			goto bad;
		*name = a;
	}
	if (strlen(*name) > 253)
		goto bad;
	return 0;
bad:
	kt_diag_set(d, KT_EXIT_USAGE, "invalid SERVICE '%s'", arg);
	kt_diag_hint(d, "write svc/NAME, service/NAME, NAME or NAMESPACE/NAME");
	return -KT_EXIT_USAGE;
}

/* ---- the scope ------------------------------------------------------------ */

void kt_cli_scope(struct kt_cli *c, struct kt_scope *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->from = c->from;
	sc->kube = kube_opts(c);
	sc->client = &c->kube;
	sc->namespace = c->namespace;
	sc->all_namespaces = c->all_namespaces;
	sc->selector = c->selector;
	sc->command = c->cmd ? c->cmd->name : NULL;
	/* the node options commands share by name */
	sc->node = KT_NODE_AUTO;
	if (kt_opt_flag(c, "no-node"))
		sc->node = KT_NODE_NONE;
	if (kt_opt_flag(c, "live"))
		sc->node = KT_NODE_HOST;       /* dataplane --from B --live: the bundle supplies objects */
	const char *objects = kt_opt_str(c, "objects");
	if (objects) {
		sc->from = objects;            /* imbalance --objects F: objects from F, flows live */
		sc->node = KT_NODE_HOST;
	}
	sc->node_name = kt_opt_str(c, "node-name") ? kt_opt_str(c, "node-name") : kt_opt_str(c, "node");
	sc->node_opts.iptables_save = kt_opt_str(c, "iptables-save");
	sc->node_opts.nft_json = kt_opt_str(c, "nft-json");
	sc->node_opts.ipvsadm = kt_opt_str(c, "ipvsadm");
	sc->node_opts.bpffs = kt_opt_str(c, "bpffs");
	sc->node_opts.no_metrics = kt_opt_flag(c, "no-metrics");
	sc->record = kt_opt_str(c, "file");
	sc->nodes = kt_opt_str(c, "nodes");
	sc->agent_namespace = kt_opt_str(c, "agent-namespace");
	sc->agent_selector = kt_opt_str(c, "agent-selector");
	sc->agent_timeout_s = kt_opt_int(c, "agent-timeout", 0);
}

unsigned kt_cli_wants(const struct kt_cli *c)
{
	unsigned w = c->cmd ? c->cmd->wants : 0;
	for (unsigned i = 0; c->cmd && c->cmd->opt_wants && i < c->n_vals; i++)
		for (const struct kt_opt_wants *o = c->cmd->opt_wants; o->name; o++)
			if (!strcmp(o->name, c->vals[i].opt->name))
				w |= o->wants;
	if (c->selector)
		w |= KT_WANT_SERVICES; /* -l matches Service labels */
	if (w & KT_WANT_NO_OBJECTS)
		w &= ~(unsigned)KT_WANT_OBJECTS;
	return w;
}

int kt_cli_load(struct kt_cli *c, const struct kt_scope *sc, struct kt_snapshot **out, struct kt_diag *d)
{
	c->progress = !c->quiet;
	int rc = kt_source_load(sc, kt_cli_wants(c), out, d);
	kt_cli_progress_done(c);
	c->progress = false;
	return rc;
}

static const struct {
	const char *word;        /* kubectl's names and short names */
	const char *kind;        /* NULL: a Service */
} target_kinds[] = {
	{"svc", NULL}, {"service", NULL}, {"services", NULL},
	{"deploy", "Deployment"}, {"deployment", "Deployment"}, {"deployments", "Deployment"},
	{"sts", "StatefulSet"}, {"statefulset", "StatefulSet"}, {"statefulsets", "StatefulSet"},
	{"ds", "DaemonSet"}, {"daemonset", "DaemonSet"}, {"daemonsets", "DaemonSet"},
};

int kt_cli_target(struct kt_cli *c, struct kt_scope *sc, unsigned flags, struct kt_diag *d)
{
	static char buf[600]; /* the two-word form joined; the scope points into it */
	const char *arg = c->argc ? c->argv[0] : NULL;
	if (!arg) {
		if (!(flags & KT_TARGET_REQUIRED))
			return 0;
		kt_diag_set(d, KT_EXIT_USAGE, "%s needs a SERVICE", c->cmd->name);
		kt_diag_hint(d, "e.g. 'ktrace %s svc/orders -n shop'", c->cmd->name);
		return -KT_EXIT_USAGE;
	}
	if (c->argc == 2 && !strchr(arg, '/')) {
		/* kubectl's two-word form: `svc orders`, `deploy orders` */
		snprintf(buf, sizeof(buf), "%s/%s", arg, c->argv[1]);
		arg = buf;
	} else if (c->argc > 1) {
		kt_diag_set(d, KT_EXIT_USAGE, "%s takes one %s (got %d arguments)", c->cmd->name,
			    flags & KT_TARGET_WORKLOADS ? "SERVICE or workload" : "SERVICE", c->argc);
		kt_diag_hint(d, "write svc/NAME, NAMESPACE/NAME or 'svc NAME'");
		return -KT_EXIT_USAGE;
	}
	const char *slash = strchr(arg, '/');
	for (size_t i = 0; slash && i < sizeof(target_kinds) / sizeof(target_kinds[0]); i++) {
		size_t l = strlen(target_kinds[i].word);
		if ((size_t)(slash - arg) != l || strncasecmp(arg, target_kinds[i].word, l) || !target_kinds[i].kind)
			continue;
		if (!(flags & KT_TARGET_WORKLOADS)) {
			kt_diag_set(d, KT_EXIT_USAGE, "%s takes a Service, not a %s", c->cmd->name, target_kinds[i].kind);
			kt_diag_hint(d, "'ktrace path %s' shows the Services that select it", arg);
			return -KT_EXIT_USAGE;
		}
		const char *name = slash + 1;
		if (!*name || strchr(name, '/') || strlen(name) > 253) {
			kt_diag_set(d, KT_EXIT_USAGE, "invalid %s '%s'", target_kinds[i].kind, arg);
			return -KT_EXIT_USAGE;
		}
		sc->workload_kind = target_kinds[i].kind;
		sc->workload_name = name;
		return 0;
	}
	const char *ns, *name;
	if (kt_cli_service_arg(c, arg, &ns, &name, d) < 0)
		return -KT_EXIT_USAGE;
	sc->svc_namespace = ns ? ns : NULL;
	sc->svc_name = name;
	return 0;
}

/* ---- partial answers and gaps -------------------------------------------- */

static const struct {
	unsigned want;
	const char *name;
} kind_names[] = {
	{KT_WANT_SERVICES, "Services"}, {KT_WANT_SLICES, "EndpointSlices"}, {KT_WANT_PODS, "Pods"},
	{KT_WANT_NODES, "Nodes"}, {KT_WANT_WORKLOADS, "workloads"}, {KT_WANT_PDBS, "PodDisruptionBudgets"},
	{KT_WANT_INGRESSES, "Ingresses"}, {KT_WANT_GATEWAYS, "Gateway API routes"},
	{KT_WANT_PROXY, "proxy ConfigMaps"}, {KT_WANT_DATAPLANE, "node state"},
};

/* Why kind is missing: the first gap about it, else "not in the input". */
static const char *missing_why(const struct kt_snapshot *s, unsigned want)
{
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (kt_source_gap_kind(s->gaps[i].what) == want)
			return s->gaps[i].why;
	return "not in the input";
}

void kt_render_incomplete(struct kt_cli *c, FILE *out, const struct kt_snapshot *s)
{
	if (!s->focus.missing)
		return;
	struct kt_arena *a = kt_arena_new();
	fprintf(out, "%sincomplete:%s", kt_c(c, KT_C_YELLOW), kt_c(c, KT_C_RESET));
	bool first = true;
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (s->focus.missing & kind_names[i].want) {
			fprintf(out, "%s %s not read (%s)", first ? "" : ";", kind_names[i].name,
				kt_vis(a, missing_why(s, kind_names[i].want)));
			first = false;
		}
	fprintf(out, ": findings that need them are missing\n");
	kt_arena_free(a);
}

void kt_render_incomplete_json(struct kt_jw *w, const struct kt_snapshot *s)
{
	if (!s->focus.missing)
		return;
	kt_jw_key(w, "incomplete");
	kt_jw_arr(w);
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (s->focus.missing & kind_names[i].want) {
			kt_jw_obj(w);
			kt_jw_kstr(w, "kind", kind_names[i].name);
			kt_jw_kstr(w, "why", missing_why(s, kind_names[i].want));
			kt_jw_obj_end(w);
		}
	kt_jw_arr_end(w);
}

void kt_warn_gaps(struct kt_cli *c, const struct kt_snapshot *s)
{
	struct kt_arena *a = kt_arena_new();
	for (uint32_t i = 0; i < s->n_gaps; i++)
		if (!s->gaps[i].recorded)
			kt_cli_warn(c, "could not read %s: %s", kt_vis(a, s->gaps[i].what), kt_vis(a, s->gaps[i].why));
	kt_arena_free(a);
}

bool kt_cli_fleet_gaps(struct kt_cli *c, const struct kt_snapshot *s)
{
	if (!s->fleet)
		return false;
	struct kt_arena *a = kt_arena_new();
	bool partial = false;
	for (uint32_t i = 0; i < s->n_gaps; i++) {
		const struct kt_gap *g = &s->gaps[i];
		if (kt_source_gap_kind(g->what) != KT_WANT_DATAPLANE)
			continue;
		partial = true;
		if (!g->recorded)
			kt_cli_warn(c, "%s: %s", kt_vis(a, g->what + 14), kt_vis(a, g->why));
	}
	kt_arena_free(a);
	return partial;
}

void kt_render_recorded_gaps(struct kt_cli *c, FILE *out, const struct kt_snapshot *s)
{
	/* bounded like warnings: a crafted bundle must not flood the terminal */
	unsigned max = c->verbose ? KT_WARN_MAX_VERBOSE : KT_WARN_MAX, shown = 0, more = 0;
	for (uint32_t i = 0; i < s->n_gaps; i++) {
		const struct kt_gap *g = &s->gaps[i];
		if (!g->recorded)
			continue;
		if (shown == max) {
			more++;
			continue;
		}
		if (!shown)
			fprintf(out, "\n%sgaps (recorded when the bundle was collected):%s\n", kt_c(c, KT_C_DIM),
				kt_c(c, KT_C_RESET));
		shown++;
		char buf[1024], vis[KT_WARN_MAX_LEN + 8];
		snprintf(buf, sizeof(buf), "%s: %s", g->what ? g->what : "", g->why ? g->why : "");
		fprintf(out, "%s  %s%s\n", kt_c(c, KT_C_DIM), vis_line(vis, sizeof(vis), buf, KT_WARN_MAX_LEN),
			kt_c(c, KT_C_RESET));
	}
	if (more)
		fprintf(out, "%s  %u more gap%s not shown%s%s\n", kt_c(c, KT_C_DIM), more, more == 1 ? "" : "s",
			c->verbose ? "" : " (-v shows more)", kt_c(c, KT_C_RESET));
}

int kt_cli_not_found(struct kt_diag *d, const char *what, const char *ns, const char *name, const char *const *cands,
		     unsigned n)
{
	return kt_diag_not_found(d, what, ns, name, cands, n);
}

const char *kt_c(const struct kt_cli *c, enum kt_color col)
{
	static const char *codes[] = {"\033[0m", "\033[1m", "\033[2m", "\033[31m", "\033[32m",
				      "\033[33m", "\033[34m", "\033[35m", "\033[36m"};
	if (c->color != 1)
		return "";
	return codes[col];
}

const char *kt_sev_color(const struct kt_cli *c, enum kt_severity s)
{
	switch (s) {
	case KT_SEV_ERROR: return kt_c(c, KT_C_RED);
	case KT_SEV_WARNING: return kt_c(c, KT_C_YELLOW);
	case KT_SEV_INFO: return kt_c(c, KT_C_CYAN);
	}
	return "";
}

const char *kt_fmt_age(int64_t s, char *buf, unsigned len)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else if (s < 2 * 86400)
		snprintf(buf, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(s / 86400));
	return buf;
}

void kt_render_findings_text(struct kt_cli *c, FILE *out, const struct kt_findings *f, const char *indent)
{
	const char *ind = indent ? indent : "";
	for (uint32_t i = 0; i < f->n; i++) {
		const struct kt_finding *x = &f->v[i];
		if (x->suppressed)
			continue;
		const struct kt_rule *r = &kt_rules[x->rule];
		fprintf(out, "%s%s%-7s%s %s%s%s %s", ind, kt_sev_color(c, x->severity), kt_severity_name(x->severity),
			kt_c(c, KT_C_RESET), kt_c(c, KT_C_BOLD), r->id, kt_c(c, KT_C_RESET), r->name);
		if (x->file)
			fprintf(out, "  %s:%u:%u", kt_cv(c, x->file), x->line, x->col);
		if (x->obj.name && (!x->file || c->wide))
			fprintf(out, "  %s %s%s%s", x->obj.kind ? kt_cv(c, x->obj.kind) : "",
				x->obj.namespace ? kt_cv(c, x->obj.namespace) : "", x->obj.namespace ? "/" : "",
				kt_cv(c, x->obj.name));
		fprintf(out, "\n%s        %s\n", ind, kt_cv(c, x->message));
		if (x->evidence)
			fprintf(out, "%s        %sevidence:%s %s\n", ind, kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET),
				kt_cv(c, x->evidence));
		fprintf(out, "%s        %sfix:%s %s\n", ind, kt_c(c, KT_C_GREEN), kt_c(c, KT_C_RESET), r->mitigation);
	}
}

void kt_render_finding_json(struct kt_jw *w, const struct kt_finding *f, bool with_object)
{
	const struct kt_rule *r = &kt_rules[f->rule];
	kt_jw_obj(w);
	kt_jw_kstr(w, "id", r->id);
	kt_jw_kstr(w, "name", r->name);
	kt_jw_kstr(w, "severity", kt_severity_name(f->severity));
	if (with_object) {
		kt_jw_key(w, "object");
		kt_jw_obj(w);
		kt_jw_kstr(w, "kind", f->obj.kind);
		kt_jw_kstr(w, "namespace", f->obj.namespace);
		kt_jw_kstr(w, "name", f->obj.name);
		kt_jw_obj_end(w);
		kt_jw_kstr(w, "file", f->file);
		if (f->file) {
			kt_jw_kint(w, "line", f->line);
			kt_jw_kint(w, "col", f->col);
		} else {
			kt_jw_knull(w, "line");
		}
	}
	kt_jw_kstr(w, "message", f->message);
	kt_jw_kstr(w, "evidence", f->evidence);
	kt_jw_kstr(w, "mitigation", r->mitigation);
	if (f->suppressed)
		kt_jw_kbool(w, "suppressed", true);
	kt_jw_obj_end(w);
}
