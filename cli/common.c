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
#include "ktrace/bundle.h"
#include "ktrace/jsonw.h"

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

int kt_cli_fail(struct kt_cli *c, const struct kt_diag *d)
{
	int code = d->code ? d->code : KT_EXIT_CLUSTER;
	const char *cmd = c->cmd ? c->cmd->name : NULL;
	const char *red = c->color_err ? "\033[31m" : "", *rst = c->color_err ? "\033[0m" : "";
	fprintf(stderr, "%sktrace:%s %s%s%s\n", red, rst, cmd ? cmd : "", cmd ? ": " : "", d->msg);
	if (d->hint[0])
		fprintf(stderr, "hint: %s\n", d->hint);
	if (c->out == KT_OUT_JSON) {
		struct kt_jw *w = kt_jw_new(stdout, true);
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
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%sktrace: warning:%s %s\n", c->color_err ? "\033[33m" : "", c->color_err ? "\033[0m" : "", buf);
}

static bool progress_shown;

void kt_cli_progress(struct kt_cli *c, const char *fmt, ...)
{
	if (c->quiet || (!isatty(2) && c->verbose < 1))
		return;
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
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
	kt_cli_progress(c, "reading from %s: %lu objects ...", c->kube ? kt_kube_server(c->kube) : "the API server",
			objects);
}

int kt_cli_kube(struct kt_cli *c, struct kt_kube **out, struct kt_diag *d)
{
	if (!c->kube) {
		struct kt_kube_opts o = {
			.kubeconfig = c->kubeconfig,
			.context = c->context,
			.timeout_s = c->request_timeout,
			.progress = c->progress && isatty(2) ? fetch_progress : NULL,
			.progress_ctx = c,
		};
		int rc = kt_kube_open(&o, &c->kube, d);
		if (rc < 0)
			return rc;
	}
	*out = c->kube;
	return 0;
}

const char *kt_cli_namespace(struct kt_cli *c)
{
	if (c->namespace)
		return c->namespace;
	if (!c->from) {
		struct kt_kube *k;
		struct kt_diag d;
		memset(&d, 0, sizeof(d));
		if (kt_cli_kube(c, &k, &d) == 0)
			return kt_kube_namespace(k);
	}
	return "default";
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
		*ns = kt_cli_namespace(c);
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

const struct kt_list_req *kt_cli_cluster_reqs(const char *ns, unsigned *n)
{
	static struct kt_list_req reqs[] = {
		{.res = KT_RES_SERVICES},
		{.res = KT_RES_ENDPOINTSLICES},
		{.res = KT_RES_PODS},
		{.res = KT_RES_NODES, .optional = true},
		{.res = KT_RES_DEPLOYMENTS, .optional = true},
		{.res = KT_RES_STATEFULSETS, .optional = true},
		{.res = KT_RES_DAEMONSETS, .optional = true},
		{.res = KT_RES_REPLICASETS, .optional = true},
		{.res = KT_RES_HPAS, .optional = true},
		{.res = KT_RES_PDBS, .optional = true},
		{.res = KT_RES_INGRESSES, .optional = true},
		{.res = KT_RES_INGRESSCLASSES, .optional = true},
		{.res = KT_RES_GATEWAYCLASSES, .optional = true},
		{.res = KT_RES_GATEWAYS, .optional = true},
		{.res = KT_RES_HTTPROUTES, .optional = true},
		{.res = KT_RES_GRPCROUTES, .optional = true},
		/* ingress controllers' client-IP settings (only those keys are kept) */
		{.res = KT_RES_CONFIGMAPS, .label_selector = KT_CTRL_CONFIGMAP_SELECTOR, .optional = true},
		{.res = KT_RES_CONFIGMAPS, .ns = "kube-system", .name = "kube-proxy", .optional = true},
		{.res = KT_RES_CONFIGMAPS, .ns = "kube-system", .name = "kube-proxy-config", .optional = true},
		{.res = KT_RES_CONFIGMAPS, .ns = "kube-system", .name = "cilium-config", .optional = true},
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (reqs[i].res != KT_RES_NODES && reqs[i].res != KT_RES_INGRESSCLASSES &&
		    reqs[i].res != KT_RES_GATEWAYCLASSES && reqs[i].res != KT_RES_CONFIGMAPS)
			reqs[i].ns = ns;
	*n = sizeof(reqs) / sizeof(reqs[0]);
	return reqs;
}

int kt_cli_snapshot(struct kt_cli *c, const struct kt_list_req *reqs, unsigned n, struct kt_snapshot **out,
		    struct kt_diag *d)
{
	if (c->from)
		return kt_bundle_load(c->from, out, d);
	struct kt_kube *k;
	c->progress = true; /* ended below */
	int rc = kt_cli_kube(c, &k, d);
	if (rc < 0)
		return rc;
	struct kt_snapshot *s = kt_snapshot_new();
	s->source = kt_intern(s->arena, "api");
	s->origin = kt_intern(s->arena, kt_kube_server(k));
	s->context = kt_intern(s->arena, kt_kube_context(k));
	kt_cli_progress(c, "reading %u resource list%s from %s ...", n, n == 1 ? "" : "s", kt_kube_server(k));
	rc = kt_kube_fetch(k, reqs, n, s, NULL, d);
	kt_cli_progress_done(c);
	if (rc < 0) {
		kt_snapshot_free(s);
		return rc;
	}
	kt_snapshot_finish(s);
	*out = s;
	return 0;
}

int kt_cli_not_found(struct kt_diag *d, const char *what, const char *ns, const char *name, const char *const *cands,
		     unsigned n)
{
	kt_diag_set(d, KT_EXIT_NOTFOUND, "%s '%s' not found%s%s%s", what, name, ns ? " in namespace '" : "", ns ? ns : "",
		    ns ? "'" : "");
	/* the 3 closest names */
	const char *best[3] = {0};
	unsigned bd[3] = {~0u, ~0u, ~0u};
	for (unsigned i = 0; i < n; i++) {
		unsigned dist = kt_edit_distance(name, cands[i]);
		if (strstr(cands[i], name) || strstr(name, cands[i]))
			dist = dist > 2 ? 2 : dist;
		for (int k = 0; k < 3; k++) {
			if (dist < bd[k]) {
				for (int m = 2; m > k; m--) {
					bd[m] = bd[m - 1];
					best[m] = best[m - 1];
				}
				bd[k] = dist;
				best[k] = cands[i];
				break;
			}
		}
	}
	unsigned lim = (unsigned)strlen(name) / 2 + 1;
	char hint[512] = "";
	size_t len = 0;
	for (int k = 0; k < 3; k++) {
		if (!best[k] || bd[k] > lim)
			continue;
		int w = snprintf(hint + len, sizeof(hint) - len, "%s'%s'", len ? ", " : "did you mean ", best[k]);
		if (w > 0 && (size_t)w < sizeof(hint) - len)
			len += (size_t)w;
	}
	if (len)
		kt_diag_hint(d, "%s?", hint);
	else if (n)
		kt_diag_hint(d, "%u %s%s exist%s in this namespace; list them with 'kubectl get %ss%s%s'", n, what,
			     n == 1 ? "" : "s", n == 1 ? "s" : "", what, ns ? " -n " : "", ns ? ns : "");
	else
		kt_diag_hint(d, "no %ss exist in namespace '%s'; check -n or the context", what, ns ? ns : "");
	return -KT_EXIT_NOTFOUND;
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
			fprintf(out, "  %s:%u:%u", x->file, x->line, x->col);
		else if (x->obj.name)
			fprintf(out, "  %s %s%s%s", x->obj.kind ? x->obj.kind : "", x->obj.namespace ? x->obj.namespace : "",
				x->obj.namespace ? "/" : "", x->obj.name);
		fprintf(out, "\n%s        %s\n", ind, x->message);
		if (x->evidence)
			fprintf(out, "%s        %sevidence:%s %s\n", ind, kt_c(c, KT_C_DIM), kt_c(c, KT_C_RESET), x->evidence);
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
