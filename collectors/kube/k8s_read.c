/*
 * The JSON field readers every Kubernetes kind converter shares: typed
 * accessors that tolerate malformed input (defaults, clamped numbers, port
 * ranges, RFC 3339 times), label lists, selectors, field-position notes for
 * manifests, object metadata, and the Pod template parts (containers,
 * probes, affinity, the pod spec). Strings are interned in the snapshot
 * arena. Must not print and must not judge.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collectors/kube/k8s_int.h"
#include "ktrace/xalloc.h"

/* ---- small JSON accessors ------------------------------------------ */


/* cJSON_GetObjectItemCaseSensitive without a strcmp() call per key passed
 * over: the first byte decides for almost every key (the hottest lookup
 * of a lint run). The first match wins, as there; the YAML builder keeps
 * one entry per key (the last value, as kubectl). */
const cJSON *jget(const cJSON *o, const char *k)
{
	if (!cJSON_IsObject(o))
		return NULL;
	for (const cJSON *e = o->child; e; e = e->next)
		if (e->string && e->string[0] == k[0] && !strcmp(e->string, k))
			return e;
	return NULL;
}

const cJSON *jpath(const cJSON *o, const char *p1, const char *p2)
{
	return jget(jget(o, p1), p2);
}

const char *jstr(struct ctx *c, const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsString(v) ? kt_intern(c->a, v->valuestring) : NULL;
}

bool jbool(const cJSON *o, const char *k, bool def)
{
	const cJSON *v = jget(o, k);
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v);
	if (cJSON_IsString(v))
		return strcasecmp(v->valuestring, "true") == 0;
	return def;
}

/* double -> int64 without undefined behaviour for NaN/huge values */
int64_t dbl_to_i64(double x)
{
	if (x != x)
		return 0;
	if (x >= 9.2e18)
		return INT64_MAX;
	if (x <= -9.2e18)
		return INT64_MIN;
	return (int64_t)x;
}

int64_t jint(const cJSON *o, const char *k, int64_t def)
{
	const cJSON *v = jget(o, k);
	if (cJSON_IsNumber(v))
		return dbl_to_i64(v->valuedouble);
	if (cJSON_IsString(v) && v->valuestring[0]) {
		char *end;
		long long x = strtoll(v->valuestring, &end, 10);
		if (*end == 0)
			return x;
	}
	return def;
}

int32_t clamp32(int64_t v)
{
	if (v > INT32_MAX)
		return INT32_MAX;
	if (v < INT32_MIN)
		return INT32_MIN;
	return (int32_t)v;
}

/* A port number: 0 (none) unless within 1..65535, so no port value from
 * outside can overflow comparisons or index tables. */
static int32_t port_num(int64_t v)
{
	return v >= 1 && v <= 65535 ? (int32_t)v : 0;
}

int32_t jportnum(const cJSON *o, const char *k)
{
	return port_num(jint(o, k, 0));
}

/* RFC 3339 -> unix ms; 0 when absent or unparsable. */
int64_t parse_time_ms(const char *t)
{
	if (!t || !*t)
		return 0;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *p = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return 0;
	int64_t ms = 0;
	if (*p == '.') {
		int digits = 0;
		p++;
		while (isdigit((unsigned char)*p)) {
			if (digits < 3) {
				ms = ms * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits < 3) {
			ms *= 10;
			digits++;
		}
	}
	int64_t off = 0;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) >= 1)
			off = (int64_t)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
	}
	time_t secs = timegm(&tm);
	return ((int64_t)secs - off) * 1000 + ms;
}

int64_t jtime(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsString(v) ? parse_time_ms(v->valuestring) / 1000 : 0;
}

const char **jstrs(struct ctx *c, const cJSON *arr, uint32_t *n)
{
	*n = 0;
	if (!cJSON_IsArray(arr))
		return NULL;
	int cnt = cJSON_GetArraySize(arr);
	if (cnt <= 0)
		return NULL;
	const char **v = KT_ANEW(c->a, const char *, cnt);
	const cJSON *e;
	KT_EACH(e, arr)
	{
		if (cJSON_IsString(e))
			v[(*n)++] = kt_intern(c->a, e->valuestring);
	}
	return v;
}

int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kt_kv *)a)->key, ((const struct kt_kv *)b)->key);
}

struct kt_kvlist jkv(struct ctx *c, const cJSON *o)
{
	struct kt_kvlist l = {0};
	if (!cJSON_IsObject(o))
		return l;
	int cnt = cJSON_GetArraySize(o);
	if (cnt <= 0)
		return l;
	l.v = KT_ANEW(c->a, struct kt_kv, cnt);
	const cJSON *e;
	cJSON_ArrayForEach(e, o)
	{
		if (!e->string)
			continue;
		char num[32];
		const char *val = NULL;
		if (cJSON_IsString(e))
			val = e->valuestring;
		else if (cJSON_IsNumber(e)) {
			snprintf(num, sizeof(num), "%g", e->valuedouble);
			val = num;
		} else if (cJSON_IsBool(e))
			val = cJSON_IsTrue(e) ? "true" : "false";
		else
			val = "";
		l.v[l.n].key = kt_intern(c->a, e->string);
		l.v[l.n].value = kt_intern(c->a, val);
		l.n++;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), kv_cmp);
	return l;
}

/* int-or-string */
struct kt_portref jport(struct ctx *c, const cJSON *v)
{
	struct kt_portref r = {0};
	if (cJSON_IsNumber(v))
		r.num = port_num(dbl_to_i64(v->valuedouble));
	else if (cJSON_IsString(v)) {
		char *end;
		long x = strtol(v->valuestring, &end, 10);
		if (*v->valuestring && *end == 0)
			r.num = port_num(x);
		else
			r.name = kt_intern(c->a, v->valuestring);
	}
	return r;
}

/* ---- positions -------------------------------------------------------- */

/* a + b, then "[i]" when i >= 0, into buf without printf (the field
 * paths of every container, port and probe). Returns the length; a path
 * that does not fit comes back empty. */
size_t kpath(char *buf, size_t cap, const char *a, const char *b, int i)
{
	size_t al = strlen(a), bl = strlen(b);
	if (al + bl + 16 > cap) {
		buf[0] = 0;
		return 0;
	}
	memcpy(buf, a, al);
	memcpy(buf + al, b, bl);
	size_t n = al + bl;
	if (i >= 0) {
		char d[12];
		int k = 0;
		unsigned u = (unsigned)i;
		do
			d[k++] = (char)('0' + u % 10);
		while ((u /= 10) && k < 11);
		buf[n++] = '[';
		while (k)
			buf[n++] = d[--k];
		buf[n++] = ']';
	}
	buf[n] = 0;
	return n;
}

/* Record where node starts under field path (len bytes; interned). */
void note_at(struct ctx *c, const cJSON *node, const char *path, size_t len)
{
	if (!c->pm || !node)
		return;
	uint32_t line, col;
	if (!c->pm->lookup(c->pm->ctx, node, &line, &col))
		return;
	if (c->n_fields >= c->cap_fields) {
		c->cap_fields = c->cap_fields ? c->cap_fields * 2 : 32;
		c->fields = kt_xreallocarray(c->fields, c->cap_fields, sizeof(*c->fields));
	}
	struct kt_fieldpos *f = &c->fields[c->n_fields++];
	f->path = kt_intern_n(c->a, path, len);
	f->line = line;
	f->col = col;
}

void note(struct ctx *c, const cJSON *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void note(struct ctx *c, const cJSON *node, const char *fmt, ...)
{
	if (!c->pm || !node)
		return;
	char path[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (n > 0)
		note_at(c, node, path, (size_t)n < sizeof(path) ? (size_t)n : sizeof(path) - 1);
}

/* Record the field node found under o at key, as prefix.key (the hot
 * path of every converter: no printf). */
const cJSON *notek(struct ctx *c, const cJSON *o, const char *key, const char *prefix)
{
	const cJSON *v = jget(o, key);
	if (!v || !c->pm)
		return v;
	char path[256];
	size_t pl = strlen(prefix), kl = strlen(key);
	if (pl + kl + 2 > sizeof(path))
		return v;
	memcpy(path, prefix, pl);
	if (pl)
		path[pl++] = '.';
	memcpy(path + pl, key, kl);
	note_at(c, v, path, pl + kl);
	return v;
}

void meta_finish(struct ctx *c, struct kt_meta *m)
{
	if (c->n_fields) {
		m->fields = KT_ANEW(c->a, struct kt_fieldpos, c->n_fields);
		memcpy(m->fields, c->fields, c->n_fields * sizeof(*m->fields));
		m->n_fields = c->n_fields;
	}
	c->n_fields = 0;
}

/* ---- shared pieces ------------------------------------------------------ */

/* Kinds without a namespace; every other kind is namespaced. */
static bool cluster_scoped(const char *kind)
{
	static const char *const kinds[] = {"Node", "IngressClass", "GatewayClass", "Namespace", NULL};
	for (int i = 0; kinds[i]; i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

/* metadata.namespace; a namespaced object without one (or with "") takes
 * the default namespace when the caller gave one, as `kubectl apply -f`
 * would place it. */
const char *obj_namespace(struct ctx *c, const cJSON *md, const char *kind)
{
	const char *ns = jstr(c, md, "namespace");
	if ((!ns || !*ns) && c->default_ns && !cluster_scoped(kind))
		ns = kt_intern(c->a, c->default_ns);
	return ns;
}

void read_meta(struct ctx *c, const cJSON *obj, const char *kind, struct kt_meta *m)
{
	const cJSON *md = jget(obj, "metadata");
	m->kind = kt_intern(c->a, kind);
	m->api_version = jstr(c, obj, "apiVersion");
	m->namespace = obj_namespace(c, md, kind);
	m->name = jstr(c, md, "name");
	if (!m->name)
		m->name = jstr(c, md, "generateName");
	if (!m->name)
		m->name = kt_intern(c->a, "");
	m->uid = jstr(c, md, "uid");
	m->resource_version = jstr(c, md, "resourceVersion");
	m->created = jtime(md, "creationTimestamp");
	m->deleted = jtime(md, "deletionTimestamp");
	m->labels = jkv(c, jget(md, "labels"));
	m->annotations = jkv(c, jget(md, "annotations"));
	const cJSON *own = jget(md, "ownerReferences");
	int n = cJSON_IsArray(own) ? cJSON_GetArraySize(own) : 0;
	if (n > 0) {
		m->owners = KT_ANEW(c->a, struct kt_ownerref, n);
		const cJSON *e;
		KT_EACH(e, own)
		{
			struct kt_ownerref *o = &m->owners[m->n_owners++];
			o->kind = jstr(c, e, "kind");
			o->name = jstr(c, e, "name");
			o->uid = jstr(c, e, "uid");
			o->controller = jbool(e, "controller", false);
		}
	}
	if (c->pm) {
		uint32_t line = 0, col = 0;
		m->pos.file = c->pm->file;
		if (c->pm->lookup(c->pm->ctx, obj, &line, &col)) {
			m->pos.line = line;
			m->pos.col = col;
		}
		const cJSON *mdn = notek(c, obj, "metadata", "");
		notek(c, mdn, "annotations", "metadata");
	} else {
		m->pos.file = KT_NONE;
	}
}

struct kt_selector read_selector(struct ctx *c, const cJSON *sel)
{
	struct kt_selector s = {0};
	if (!cJSON_IsObject(sel))
		return s;
	s.present = true;
	s.match_labels = jkv(c, jget(sel, "matchLabels"));
	const cJSON *ex = jget(sel, "matchExpressions");
	int n = cJSON_IsArray(ex) ? cJSON_GetArraySize(ex) : 0;
	if (n > 0) {
		s.exprs = KT_ANEW(c->a, struct kt_selreq, n);
		const cJSON *e;
		KT_EACH(e, ex)
		{
			const char *op = jstr(c, e, "operator");
			struct kt_selreq *r = &s.exprs[s.n_exprs];
			r->key = jstr(c, e, "key");
			if (!r->key || !op)
				continue;
			if (!strcmp(op, "In"))
				r->op = KT_SEL_IN;
			else if (!strcmp(op, "NotIn"))
				r->op = KT_SEL_NOTIN;
			else if (!strcmp(op, "Exists"))
				r->op = KT_SEL_EXISTS;
			else if (!strcmp(op, "DoesNotExist"))
				r->op = KT_SEL_NOTEXISTS;
			else
				continue;
			r->values = jstrs(c, jget(e, "values"), &r->n_values);
			s.n_exprs++;
		}
	}
	return s;
}

static struct kt_probe read_probe(struct ctx *c, const cJSON *p)
{
	struct kt_probe r = {0};
	if (!cJSON_IsObject(p))
		return r;
	const cJSON *h;
	if ((h = jget(p, "httpGet"))) {
		r.kind = KT_PROBE_HTTP;
		r.port = jport(c, jget(h, "port"));
	} else if ((h = jget(p, "tcpSocket"))) {
		r.kind = KT_PROBE_TCP;
		r.port = jport(c, jget(h, "port"));
	} else if ((h = jget(p, "grpc"))) {
		r.kind = KT_PROBE_GRPC;
		r.port = jport(c, jget(h, "port"));
	} else if (jget(p, "exec")) {
		r.kind = KT_PROBE_EXEC;
	} else {
		r.kind = KT_PROBE_EXEC; /* present but of an unknown handler */
	}
	return r;
}

/* Find "sleep N" in an exec command (["sleep","5"], ["sh","-c","sleep 5 && x"]). */
int32_t kt_exec_sleep(const cJSON *cmd)
{
	if (!cJSON_IsArray(cmd))
		return -1;
	char buf[512];
	size_t len = 0;
	const cJSON *e;
	buf[0] = 0;
	KT_EACH(e, cmd)
	{
		if (!cJSON_IsString(e))
			continue;
		int n = snprintf(buf + len, sizeof(buf) - len, "%s ", e->valuestring);
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			break;
		len += (size_t)n;
	}
	const char *p = buf;
	while ((p = strstr(p, "sleep"))) {
		bool word_start = p == buf || !isalnum((unsigned char)p[-1]);
		const char *q = p + 5;
		if (word_start && (*q == ' ' || *q == '\t')) {
			while (*q == ' ' || *q == '\t')
				q++;
			if (isdigit((unsigned char)*q)) {
				double v = strtod(q, NULL);
				if (!(v < 2147483647.0)) /* huge, inf or NaN: cast would be undefined */
					return INT32_MAX;
				return clamp32((int64_t)(v + 0.999));
			}
		}
		p += 5;
	}
	return -1;
}

static void read_container(struct ctx *c, const cJSON *o, struct kt_container *k, const char *fpath, bool init)
{
	k->name = jstr(c, o, "name");
	k->image = jstr(c, o, "image");
	k->init = init;
	const char *rp = jstr(c, o, "restartPolicy");
	k->sidecar = init && rp && !strcmp(rp, "Always");
	k->fpath = kt_intern(c->a, fpath);
	note_at(c, o, fpath, strlen(fpath));
	const cJSON *ports = notek(c, o, "ports", fpath);
	int n = cJSON_IsArray(ports) ? cJSON_GetArraySize(ports) : 0;
	if (n > 0) {
		k->ports = KT_ANEW(c->a, struct kt_cport, n);
		const cJSON *e;
		int i = 0;
		KT_EACH(e, ports)
		{
			struct kt_cport *p = &k->ports[k->n_ports++];
			p->name = jstr(c, e, "name");
			p->protocol = jstr(c, e, "protocol");
			if (!p->protocol)
				p->protocol = kt_intern(c->a, "TCP");
			p->port = jportnum(e, "containerPort");
			char pp[300];
			note_at(c, e, pp, kpath(pp, sizeof(pp), fpath, ".ports", i));
			i++;
		}
	}
	k->readiness = read_probe(c, notek(c, o, "readinessProbe", fpath));
	k->liveness = read_probe(c, notek(c, o, "livenessProbe", fpath));
	k->startup = read_probe(c, notek(c, o, "startupProbe", fpath));
	const cJSON *lc = jget(o, "lifecycle");
	char lcpath[300];
	kpath(lcpath, sizeof(lcpath), fpath, ".lifecycle", -1);
	const cJSON *ps = notek(c, lc, "preStop", lcpath);
	k->prestop = KT_HOOK_NONE;
	k->prestop_sleep = -1;
	if (cJSON_IsObject(ps)) {
		const cJSON *h;
		if ((h = jget(ps, "sleep"))) {
			k->prestop = KT_HOOK_SLEEP;
			k->prestop_sleep = clamp32(jint(h, "seconds", -1));
		} else if ((h = jget(ps, "exec"))) {
			k->prestop = KT_HOOK_EXEC;
			k->prestop_sleep = kt_exec_sleep(jget(h, "command"));
		} else if (jget(ps, "httpGet")) {
			k->prestop = KT_HOOK_HTTP;
		} else if (jget(ps, "tcpSocket")) {
			k->prestop = KT_HOOK_TCP;
		} else {
			k->prestop = KT_HOOK_EXEC;
		}
	}
}

static void read_terms(struct ctx *c, const cJSON *arr, bool weighted, struct kt_affinity_term **out, uint32_t *n)
{
	*n = 0;
	int cnt = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
	if (cnt <= 0)
		return;
	*out = KT_ANEW(c->a, struct kt_affinity_term, cnt);
	const cJSON *e;
	KT_EACH(e, arr)
	{
		const cJSON *t = weighted ? jget(e, "podAffinityTerm") : e;
		struct kt_affinity_term *x = &(*out)[(*n)++];
		x->topology_key = jstr(c, t, "topologyKey");
		x->selector = read_selector(c, jget(t, "labelSelector"));
		x->weight = weighted ? clamp32(jint(e, "weight", 0)) : 0;
	}
}

void read_podspec(struct ctx *c, const cJSON *spec, struct kt_podspec *ps, const char *fpath)
{
	ps->fpath = kt_intern(c->a, fpath);
	ps->grace_period = -1;
	if (!cJSON_IsObject(spec))
		return;
	const cJSON *cs = notek(c, spec, "containers", fpath);
	const cJSON *is = notek(c, spec, "initContainers", fpath);
	int n = (cJSON_IsArray(cs) ? cJSON_GetArraySize(cs) : 0) + (cJSON_IsArray(is) ? cJSON_GetArraySize(is) : 0);
	if (n > 0) {
		ps->containers = KT_ANEW(c->a, struct kt_container, n);
		const cJSON *e;
		int i = 0;
		char p[300];
		KT_EACH(e, cs)
		{
			kpath(p, sizeof(p), fpath, ".containers", i++);
			read_container(c, e, &ps->containers[ps->n_containers++], p, false);
		}
		i = 0;
		KT_EACH(e, is)
		{
			kpath(p, sizeof(p), fpath, ".initContainers", i++);
			read_container(c, e, &ps->containers[ps->n_containers++], p, true);
		}
	}
	if (notek(c, spec, "terminationGracePeriodSeconds", fpath))
		ps->grace_period = jint(spec, "terminationGracePeriodSeconds", -1);
	const cJSON *tsc = notek(c, spec, "topologySpreadConstraints", fpath);
	int nt = cJSON_IsArray(tsc) ? cJSON_GetArraySize(tsc) : 0;
	if (nt > 0) {
		ps->spread = KT_ANEW(c->a, struct kt_spread, nt);
		const cJSON *e;
		KT_EACH(e, tsc)
		{
			struct kt_spread *t = &ps->spread[ps->n_spread++];
			t->max_skew = clamp32(jint(e, "maxSkew", 1));
			t->topology_key = jstr(c, e, "topologyKey");
			t->when_unsatisfiable = jstr(c, e, "whenUnsatisfiable");
			t->selector = read_selector(c, jget(e, "labelSelector"));
		}
	}
	const cJSON *aff = notek(c, spec, "affinity", fpath);
	const cJSON *anti = jget(aff, "podAntiAffinity");
	read_terms(c, jget(anti, "requiredDuringSchedulingIgnoredDuringExecution"), false, &ps->anti_required,
		   &ps->n_anti_required);
	read_terms(c, jget(anti, "preferredDuringSchedulingIgnoredDuringExecution"), true, &ps->anti_preferred,
		   &ps->n_anti_preferred);
	ps->node_name = jstr(c, spec, "nodeName");
	ps->host_network = jbool(spec, "hostNetwork", false);
	ps->service_account = jstr(c, spec, "serviceAccountName");
}

