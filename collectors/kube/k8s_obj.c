/*
 * Kubernetes objects -> model. One function per kind reads exactly the
 * fields the analyzers need from a cJSON object (API list item, bundle
 * entry or manifest document) and appends a model struct to the snapshot.
 * Strings are interned in the snapshot arena; the cJSON tree is not kept.
 * With a posmap (manifests) the start line/column of every field the rules
 * point at is recorded in kt_meta.fields.
 *
 * Kubernetes defaulting is applied where the API server would apply it
 * (e.g. Service type ClusterIP, protocol TCP, targetPort = port), so
 * manifests and live objects look the same to the rules.
 * Must not print and must not judge.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "collectors/kube/k8s_obj.h"

#define KT_MAX_SLICE_ROWS 100000 /* endpoint rows from one EndpointSlice */

struct ctx {
	struct kt_snapshot *s;
	struct kt_arena *a;
	const struct kt_posmap *pm;
	const char *default_ns;       /* for namespaced objects without one (bundles, Lists) */
	struct kt_fieldpos *fields;   /* malloc'd while converting one object */
	uint32_t n_fields, cap_fields;
};

/* ---- small JSON accessors ------------------------------------------ */

/* Iterate an array's elements; anything else (an object where Kubernetes
 * expects a list, a scalar) iterates nothing. Sizes are computed with the
 * same test, so malformed input can never index past an allocation. */
#define KT_EACH(e, arr) cJSON_ArrayForEach(e, (cJSON_IsArray(arr) ? (arr) : NULL))

static const cJSON *jget(const cJSON *o, const char *k)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static const cJSON *jpath(const cJSON *o, const char *p1, const char *p2)
{
	return jget(jget(o, p1), p2);
}

static const char *jstr(struct ctx *c, const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsString(v) ? kt_intern(c->a, v->valuestring) : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool def)
{
	const cJSON *v = jget(o, k);
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v);
	if (cJSON_IsString(v))
		return strcasecmp(v->valuestring, "true") == 0;
	return def;
}

/* double -> int64 without undefined behaviour for NaN/huge values */
static int64_t dbl_to_i64(double x)
{
	if (x != x)
		return 0;
	if (x >= 9.2e18)
		return INT64_MAX;
	if (x <= -9.2e18)
		return INT64_MIN;
	return (int64_t)x;
}

static int64_t jint(const cJSON *o, const char *k, int64_t def)
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

static int32_t clamp32(int64_t v)
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

static int32_t jportnum(const cJSON *o, const char *k)
{
	return port_num(jint(o, k, 0));
}

/* RFC 3339 -> unix ms; 0 when absent or unparsable. */
static int64_t parse_time_ms(const char *t)
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

static int64_t jtime(const cJSON *o, const char *k)
{
	const cJSON *v = jget(o, k);
	return cJSON_IsString(v) ? parse_time_ms(v->valuestring) / 1000 : 0;
}

static const char **jstrs(struct ctx *c, const cJSON *arr, uint32_t *n)
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

static int kv_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kt_kv *)a)->key, ((const struct kt_kv *)b)->key);
}

static struct kt_kvlist jkv(struct ctx *c, const cJSON *o)
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
static struct kt_portref jport(struct ctx *c, const cJSON *v)
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

static void note(struct ctx *c, const cJSON *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(struct ctx *c, const cJSON *node, const char *fmt, ...)
{
	if (!c->pm || !node)
		return;
	uint32_t line, col;
	if (!c->pm->lookup(c->pm->ctx, node, &line, &col))
		return;
	if (c->n_fields >= c->cap_fields) {
		c->cap_fields = c->cap_fields ? c->cap_fields * 2 : 32;
		struct kt_fieldpos *nf = realloc(c->fields, c->cap_fields * sizeof(*nf));
		if (!nf)
			abort();
		c->fields = nf;
	}
	char path[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	struct kt_fieldpos *f = &c->fields[c->n_fields++];
	f->path = kt_intern(c->a, path);
	f->line = line;
	f->col = col;
}

/* Record the field node found under o at key, as prefix.key. */
static const cJSON *notek(struct ctx *c, const cJSON *o, const char *key, const char *prefix)
{
	const cJSON *v = jget(o, key);
	if (v)
		note(c, v, "%s%s%s", prefix, *prefix ? "." : "", key);
	return v;
}

static void meta_finish(struct ctx *c, struct kt_meta *m)
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
static const char *obj_namespace(struct ctx *c, const cJSON *md, const char *kind)
{
	const char *ns = jstr(c, md, "namespace");
	if ((!ns || !*ns) && c->default_ns && !cluster_scoped(kind))
		ns = kt_intern(c->a, c->default_ns);
	return ns;
}

static void read_meta(struct ctx *c, const cJSON *obj, const char *kind, struct kt_meta *m)
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
		notek(c, obj, "metadata", "");
	} else {
		m->pos.file = KT_NONE;
	}
}

static struct kt_selector read_selector(struct ctx *c, const cJSON *sel)
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
	note(c, o, "%s", fpath);
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
			note(c, e, "%s.ports[%d]", fpath, i);
			i++;
		}
	}
	k->readiness = read_probe(c, notek(c, o, "readinessProbe", fpath));
	k->liveness = read_probe(c, notek(c, o, "livenessProbe", fpath));
	k->startup = read_probe(c, notek(c, o, "startupProbe", fpath));
	const cJSON *lc = jget(o, "lifecycle");
	char lcpath[300];
	snprintf(lcpath, sizeof(lcpath), "%s.lifecycle", fpath);
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

static void read_podspec(struct ctx *c, const cJSON *spec, struct kt_podspec *ps, const char *fpath)
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
			snprintf(p, sizeof(p), "%s.containers[%d]", fpath, i++);
			read_container(c, e, &ps->containers[ps->n_containers++], p, false);
		}
		i = 0;
		KT_EACH(e, is)
		{
			snprintf(p, sizeof(p), "%s.initContainers[%d]", fpath, i++);
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

static void read_lb_ingress(struct ctx *c, const cJSON *arr, struct kt_lb_ingress **out, uint32_t *n)
{
	*n = 0;
	int cnt = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
	if (cnt <= 0)
		return;
	*out = KT_ANEW(c->a, struct kt_lb_ingress, cnt);
	const cJSON *e;
	KT_EACH(e, arr)
	{
		struct kt_lb_ingress *x = &(*out)[(*n)++];
		x->ip = jstr(c, e, "ip");
		x->hostname = jstr(c, e, "hostname");
		x->ip_mode = jstr(c, e, "ipMode");
	}
}

/* ---- kinds ---------------------------------------------------------------- */

static void do_service(struct ctx *c, const cJSON *o)
{
	struct kt_service *s = KT_SNAP_PUSH(c->s, services);
	read_meta(c, o, "Service", &s->meta);
	const cJSON *sp = notek(c, o, "spec", "");
	const char *type = jstr(c, sp, "type");
	notek(c, sp, "type", "spec");
	s->type = KT_SVC_CLUSTERIP;
	if (type && !strcmp(type, "NodePort"))
		s->type = KT_SVC_NODEPORT;
	else if (type && !strcmp(type, "LoadBalancer"))
		s->type = KT_SVC_LOADBALANCER;
	else if (type && !strcmp(type, "ExternalName"))
		s->type = KT_SVC_EXTERNALNAME;
	s->cluster_ips = jstrs(c, jget(sp, "clusterIPs"), &s->n_cluster_ips);
	const char *cip = jstr(c, sp, "clusterIP");
	if (!s->n_cluster_ips && cip) {
		s->cluster_ips = KT_ANEW(c->a, const char *, 1);
		s->cluster_ips[0] = cip;
		s->n_cluster_ips = 1;
	}
	if (cip && !strcmp(cip, "None")) {
		s->headless = true;
		s->n_cluster_ips = 0;
	}
	s->ip_families = jstrs(c, jget(sp, "ipFamilies"), &s->n_ip_families);
	s->ip_family_policy = jstr(c, sp, "ipFamilyPolicy");
	const cJSON *ports = notek(c, sp, "ports", "spec");
	int n = cJSON_IsArray(ports) ? cJSON_GetArraySize(ports) : 0;
	if (n > 0) {
		s->ports = KT_ANEW(c->a, struct kt_svc_port, n);
		const cJSON *e;
		int i = 0;
		KT_EACH(e, ports)
		{
			struct kt_svc_port *p = &s->ports[s->n_ports++];
			char pfx[64];
			snprintf(pfx, sizeof(pfx), "spec.ports[%d]", i);
			note(c, e, "%s", pfx);
			p->name = jstr(c, e, "name");
			if (!p->name)
				p->name = kt_intern(c->a, "");
			notek(c, e, "name", pfx);
			p->protocol = jstr(c, e, "protocol");
			if (!p->protocol)
				p->protocol = kt_intern(c->a, "TCP");
			p->app_protocol = jstr(c, e, "appProtocol");
			notek(c, e, "appProtocol", pfx);
			p->port = jportnum(e, "port");
			p->target = jport(c, notek(c, e, "targetPort", pfx));
			if (!p->target.name && !p->target.num)
				p->target.num = p->port;
			p->node_port = jportnum(e, "nodePort");
			i++;
		}
	}
	const cJSON *sel = notek(c, sp, "selector", "spec");
	s->has_selector = cJSON_IsObject(sel) && cJSON_GetArraySize(sel) > 0;
	s->selector = jkv(c, sel);
	const char *etp = jstr(c, sp, "externalTrafficPolicy");
	s->etp_set = notek(c, sp, "externalTrafficPolicy", "spec") != NULL;
	s->etp_local = etp && !strcmp(etp, "Local");
	const char *itp = jstr(c, sp, "internalTrafficPolicy");
	s->itp_local = itp && !strcmp(itp, "Local");
	s->health_check_node_port = jportnum(sp, "healthCheckNodePort");
	const char *aff = jstr(c, sp, "sessionAffinity");
	notek(c, sp, "sessionAffinity", "spec");
	s->affinity_client_ip = aff && !strcmp(aff, "ClientIP");
	const cJSON *acfg = jpath(sp, "sessionAffinityConfig", "clientIP");
	s->affinity_timeout = clamp32(jint(acfg, "timeoutSeconds", s->affinity_client_ip ? 10800 : 0));
	s->lb_class = jstr(c, sp, "loadBalancerClass");
	s->lb_source_ranges = jstrs(c, jget(sp, "loadBalancerSourceRanges"), &s->n_lb_source_ranges);
	s->external_ips = jstrs(c, jget(sp, "externalIPs"), &s->n_external_ips);
	s->traffic_distribution = jstr(c, sp, "trafficDistribution");
	s->publish_not_ready = jbool(sp, "publishNotReadyAddresses", false);
	s->alloc_lb_node_ports = jbool(sp, "allocateLoadBalancerNodePorts", true);
	s->external_name = jstr(c, sp, "externalName");
	read_lb_ingress(c, jpath(jget(o, "status"), "loadBalancer", "ingress"), &s->ingress, &s->n_ingress);
	meta_finish(c, &s->meta);
}

static void do_endpointslice(struct ctx *c, const cJSON *o)
{
	const cJSON *md = jget(o, "metadata");
	const cJSON *labels = jget(md, "labels");
	const char *svc = jstr(c, labels, "kubernetes.io/service-name");
	const char *ns = obj_namespace(c, md, "EndpointSlice");
	const char *slice = jstr(c, md, "name");
	const char *atype = jstr(c, o, "addressType");
	int64_t trig = 0;
	const cJSON *tt = jpath(md, "annotations", "endpoints.kubernetes.io/last-change-trigger-time");
	if (cJSON_IsString(tt))
		trig = parse_time_ms(tt->valuestring);
	const cJSON *ports = jget(o, "ports");
	const cJSON *eps = jget(o, "endpoints");
	if (!svc)
		svc = kt_intern(c->a, "");
	int np = cJSON_IsArray(ports) ? cJSON_GetArraySize(ports) : 0;
	const cJSON *e;
	long rows = 0;
	if (!cJSON_IsArray(eps))
		eps = NULL;
	KT_EACH(e, eps)
	{
		const cJSON *cond = jget(e, "conditions");
		const cJSON *r = jget(cond, "ready"), *sv = jget(cond, "serving"), *te = jget(cond, "terminating");
		bool ready = cJSON_IsBool(r) ? cJSON_IsTrue(r) : true;
		bool serving = cJSON_IsBool(sv) ? cJSON_IsTrue(sv) : ready;
		bool term = cJSON_IsBool(te) ? cJSON_IsTrue(te) : false;
		uint32_t nz = 0;
		const char **zones = NULL;
		const cJSON *fz = jpath(e, "hints", "forZones");
		if (cJSON_IsArray(fz)) {
			int k = cJSON_GetArraySize(fz);
			if (k > 0) {
				zones = KT_ANEW(c->a, const char *, k);
				const cJSON *z;
				KT_EACH(z, fz)
				{
					const char *zn = jstr(c, z, "name");
					if (zn)
						zones[nz++] = zn;
				}
			}
		}
		const cJSON *tr = jget(e, "targetRef");
		const cJSON *addr;
		KT_EACH(addr, jget(e, "addresses"))
		{
			if (!cJSON_IsString(addr))
				continue;
			const cJSON *p = np > 0 ? ports->child : NULL;
			for (int pi = 0; pi < (np > 0 ? np : 1); pi++, p = p ? p->next : NULL) {
				/* one row per address and port: bounded, as the API
				 * bounds a slice (1000 endpoints, 100 ports) */
				if (++rows > KT_MAX_SLICE_ROWS) {
					kt_snapshot_gap(c->s, "endpoints",
							"EndpointSlice %s/%s has more than %d address/port pairs; the rest are ignored",
							ns ? ns : "", slice ? slice : "", KT_MAX_SLICE_ROWS);
					return;
				}
				struct kt_endpoint *x = KT_SNAP_PUSH(c->s, endpoints);
				x->namespace = ns;
				x->service = svc;
				x->slice = slice;
				x->address_type = atype;
				x->ip = kt_intern(c->a, addr->valuestring);
				x->port_name = jstr(c, p, "name");
				if (!x->port_name)
					x->port_name = kt_intern(c->a, "");
				x->protocol = jstr(c, p, "protocol");
				if (!x->protocol)
					x->protocol = kt_intern(c->a, "TCP");
				x->port = jportnum(p, "port");
				x->app_protocol = jstr(c, p, "appProtocol");
				x->ready = ready;
				x->serving = serving;
				x->terminating = term;
				x->node = jstr(c, e, "nodeName");
				x->zone = jstr(c, e, "zone");
				x->hostname = jstr(c, e, "hostname");
				x->target_kind = jstr(c, tr, "kind");
				x->target_name = jstr(c, tr, "name");
				x->hint_zones = zones;
				x->n_hint_zones = nz;
				x->trigger_time = trig;
				x->svc = x->pod = x->node_ix = KT_NONE;
			}
		}
	}
}

static void do_pod(struct ctx *c, const cJSON *o, bool manifest_workload)
{
	if (manifest_workload && c->pm) {
		/* a bare Pod in manifests is also a "workload" for the rules */
		struct kt_workload *w = KT_SNAP_PUSH(c->s, workloads);
		read_meta(c, o, "Pod", &w->meta);
		w->kind = KT_WL_POD;
		w->replicas = 1;
		w->selector.present = false;
		w->template_labels = w->meta.labels;
		w->template_annotations = w->meta.annotations;
		read_podspec(c, notek(c, o, "spec", ""), &w->spec, "spec");
		w->owner = KT_NONE;
		meta_finish(c, &w->meta);
		return;
	}
	struct kt_pod *p = KT_SNAP_PUSH(c->s, pods);
	read_meta(c, o, "Pod", &p->meta);
	read_podspec(c, notek(c, o, "spec", ""), &p->spec, "spec");
	const cJSON *st = jget(o, "status");
	p->phase = jstr(c, st, "phase");
	p->host_ip = jstr(c, st, "hostIP");
	const cJSON *ips = jget(st, "podIPs");
	int n = cJSON_IsArray(ips) ? cJSON_GetArraySize(ips) : 0;
	if (n > 0) {
		p->ips = KT_ANEW(c->a, const char *, n);
		const cJSON *e;
		KT_EACH(e, ips)
		{
			const char *ip = jstr(c, e, "ip");
			if (ip)
				p->ips[p->n_ips++] = ip;
		}
	} else if (jstr(c, st, "podIP")) {
		p->ips = KT_ANEW(c->a, const char *, 1);
		p->ips[0] = jstr(c, st, "podIP");
		p->n_ips = 1;
	}
	const cJSON *e;
	KT_EACH(e, jget(st, "conditions"))
	{
		const char *t = jstr(c, e, "type");
		if (t && !strcmp(t, "Ready")) {
			const char *v = jstr(c, e, "status");
			p->ready = v && !strcmp(v, "True");
			p->ready_since = jtime(e, "lastTransitionTime");
		}
	}
	p->start_time = jtime(st, "startTime");
	p->node_ix = p->workload = KT_NONE;
	meta_finish(c, &p->meta);
}

static void do_workload(struct ctx *c, const cJSON *o, const char *kind)
{
	struct kt_workload *w = KT_SNAP_PUSH(c->s, workloads);
	read_meta(c, o, kind, &w->meta);
	w->owner = KT_NONE;
	if (!strcmp(kind, "Deployment") || !strcmp(kind, "Rollout") || !strcmp(kind, "CloneSet"))
		w->kind = KT_WL_DEPLOYMENT;
	else if (!strcmp(kind, "StatefulSet"))
		w->kind = KT_WL_STATEFULSET;
	else if (!strcmp(kind, "DaemonSet"))
		w->kind = KT_WL_DAEMONSET;
	else if (!strcmp(kind, "ReplicaSet"))
		w->kind = KT_WL_REPLICASET;
	else if (!strcmp(kind, "Job"))
		w->kind = KT_WL_JOB;
	else
		w->kind = KT_WL_CRONJOB;
	const cJSON *sp = notek(c, o, "spec", "");
	const char *tp = "spec.template";
	if (w->kind == KT_WL_CRONJOB) {
		sp = jget(jget(sp, "jobTemplate"), "spec");
		tp = "spec.jobTemplate.spec.template";
	}
	w->replicas = -1;
	if (w->kind != KT_WL_DAEMONSET && notek(c, sp, "replicas", "spec"))
		w->replicas = clamp32(jint(sp, "replicas", -1));
	w->ready_replicas = clamp32(jint(jget(o, "status"), w->kind == KT_WL_DAEMONSET ? "numberReady" : "readyReplicas", 0));
	w->selector = read_selector(c, notek(c, sp, "selector", "spec"));
	const cJSON *tpl = jget(sp, "template");
	note(c, tpl, "%s", tp);
	const cJSON *tmd = jget(tpl, "metadata");
	w->template_labels = jkv(c, jget(tmd, "labels"));
	w->template_annotations = jkv(c, jget(tmd, "annotations"));
	char fp[128];
	snprintf(fp, sizeof(fp), "%s.spec", tp);
	read_podspec(c, jget(tpl, "spec"), &w->spec, fp);
	meta_finish(c, &w->meta);
}

static void do_hpa(struct ctx *c, const cJSON *o)
{
	struct kt_hpa *h = KT_SNAP_PUSH(c->s, hpas);
	read_meta(c, o, "HorizontalPodAutoscaler", &h->meta);
	const cJSON *sp = notek(c, o, "spec", "");
	const cJSON *ref = jget(sp, "scaleTargetRef");
	h->target_kind = jstr(c, ref, "kind");
	h->target_name = jstr(c, ref, "name");
	notek(c, sp, "minReplicas", "spec");
	h->min_replicas = clamp32(jint(sp, "minReplicas", 1));
	h->max_replicas = clamp32(jint(sp, "maxReplicas", 0));
	meta_finish(c, &h->meta);
}

static const char *intorstr(struct ctx *c, const cJSON *v)
{
	if (cJSON_IsString(v))
		return kt_intern(c->a, v->valuestring);
	if (cJSON_IsNumber(v)) {
		char b[32];
		snprintf(b, sizeof(b), "%lld", (long long)dbl_to_i64(v->valuedouble));
		return kt_intern(c->a, b);
	}
	return NULL;
}

static void do_pdb(struct ctx *c, const cJSON *o)
{
	struct kt_pdb *p = KT_SNAP_PUSH(c->s, pdbs);
	read_meta(c, o, "PodDisruptionBudget", &p->meta);
	const cJSON *sp = notek(c, o, "spec", "");
	p->selector = read_selector(c, notek(c, sp, "selector", "spec"));
	p->min_available = intorstr(c, jget(sp, "minAvailable"));
	p->max_unavailable = intorstr(c, jget(sp, "maxUnavailable"));
	p->disruptions_allowed = clamp32(jint(jget(o, "status"), "disruptionsAllowed", -1));
	meta_finish(c, &p->meta);
}

static void ing_backend(struct ctx *c, const cJSON *b, struct kt_ingress *g, int cap)
{
	const cJSON *svc = jget(b, "service");
	if (!svc || (int)g->n_backends >= cap)
		return;
	struct kt_ingress_backend *x = &g->backends[g->n_backends++];
	x->service = jstr(c, svc, "name");
	const cJSON *port = jget(svc, "port");
	if (jget(port, "number"))
		x->port.num = jportnum(port, "number");
	else
		x->port.name = jstr(c, port, "name");
}

static void do_ingress(struct ctx *c, const cJSON *o)
{
	struct kt_ingress *g = KT_SNAP_PUSH(c->s, ingresses);
	read_meta(c, o, "Ingress", &g->meta);
	const cJSON *sp = notek(c, o, "spec", "");
	g->class_name = jstr(c, sp, "ingressClassName");
	if (!g->class_name)
		g->class_name = kt_kv_get(&g->meta.annotations, "kubernetes.io/ingress.class");
	int cap = 1;
	const cJSON *r, *p;
	KT_EACH(r, jget(sp, "rules"))
	{
		cap += cJSON_GetArraySize(jget(jget(r, "http"), "paths"));
	}
	g->backends = KT_ANEW(c->a, struct kt_ingress_backend, cap);
	if (jget(sp, "defaultBackend"))
		ing_backend(c, jget(sp, "defaultBackend"), g, cap);
	KT_EACH(r, jget(sp, "rules"))
	{
		KT_EACH(p, jget(jget(r, "http"), "paths"))
		{
			ing_backend(c, jget(p, "backend"), g, cap);
		}
	}
	read_lb_ingress(c, jpath(jget(o, "status"), "loadBalancer", "ingress"), &g->lb, &g->n_lb);
	meta_finish(c, &g->meta);
}

static void do_ingress_class(struct ctx *c, const cJSON *o)
{
	struct kt_ingress_class *ic = KT_SNAP_PUSH(c->s, ingress_classes);
	read_meta(c, o, "IngressClass", &ic->meta);
	ic->controller = jstr(c, jget(o, "spec"), "controller");
	const char *d = kt_kv_get(&ic->meta.annotations, "ingressclass.kubernetes.io/is-default-class");
	ic->is_default = d && !strcmp(d, "true");
	meta_finish(c, &ic->meta);
}

static void do_node(struct ctx *c, const cJSON *o)
{
	struct kt_node *n = KT_SNAP_PUSH(c->s, nodes);
	read_meta(c, o, "Node", &n->meta);
	const cJSON *st = jget(o, "status");
	const cJSON *addrs = jget(st, "addresses");
	int cnt = cJSON_IsArray(addrs) ? cJSON_GetArraySize(addrs) : 0;
	if (cnt > 0) {
		n->internal_ips = KT_ANEW(c->a, const char *, cnt);
		n->external_ips = KT_ANEW(c->a, const char *, cnt);
	}
	const cJSON *e;
	KT_EACH(e, addrs)
	{
		const char *t = jstr(c, e, "type"), *a = jstr(c, e, "address");
		if (!t || !a)
			continue;
		if (!strcmp(t, "InternalIP"))
			n->internal_ips[n->n_internal_ips++] = a;
		else if (!strcmp(t, "ExternalIP"))
			n->external_ips[n->n_external_ips++] = a;
		else if (!strcmp(t, "Hostname"))
			n->hostname = a;
	}
	const struct kt_kvlist *l = &n->meta.labels;
	n->zone = kt_kv_get(l, "topology.kubernetes.io/zone");
	if (!n->zone)
		n->zone = kt_kv_get(l, "failure-domain.beta.kubernetes.io/zone");
	n->region = kt_kv_get(l, "topology.kubernetes.io/region");
	n->exclude_lb = kt_kv_get(l, "node.kubernetes.io/exclude-from-external-load-balancers") != NULL;
	n->control_plane = kt_kv_get(l, "node-role.kubernetes.io/control-plane") != NULL ||
			   kt_kv_get(l, "node-role.kubernetes.io/master") != NULL;
	const cJSON *sp = jget(o, "spec");
	n->unschedulable = jbool(sp, "unschedulable", false);
	n->pod_cidrs = jstrs(c, jget(sp, "podCIDRs"), &n->n_pod_cidrs);
	KT_EACH(e, jget(st, "conditions"))
	{
		const char *t = jstr(c, e, "type");
		if (t && !strcmp(t, "Ready")) {
			const char *v = jstr(c, e, "status");
			n->ready = v && !strcmp(v, "True");
		}
	}
	meta_finish(c, &n->meta);
}

const char *kt_yaml_scalar(const char *doc, const char *parent, const char *key, size_t *vlen)
{
	const char *p = doc;
	bool in_parent = parent == NULL;
	size_t kl = strlen(key);
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		size_t ind = 0;
		while (ind < len && p[ind] == ' ')
			ind++;
		const char *t = p + ind;
		if (parent && ind == 0 && len > 0) {
			size_t pl = strlen(parent);
			in_parent = len > pl && !strncmp(t, parent, pl) && t[pl] == ':';
		}
		bool level_ok = parent ? (in_parent && ind > 0) : ind == 0;
		if (level_ok && len - ind > kl && !strncmp(t, key, kl) && t[kl] == ':') {
			const char *v = t + kl + 1;
			const char *end = p + len;
			while (v < end && (*v == ' ' || *v == '"' || *v == '\''))
				v++;
			for (const char *h = v; h < end; h++)
				if (*h == '#') {
					end = h;
					break;
				}
			while (end > v && (end[-1] == ' ' || end[-1] == '"' || end[-1] == '\'' || end[-1] == '\r'))
				end--;
			*vlen = (size_t)(end - v);
			return v;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

static const char *yaml_scalar(struct ctx *c, const char *doc, const char *parent, const char *key)
{
	size_t len;
	const char *v = kt_yaml_scalar(doc, parent, key, &len);
	return v ? kt_intern_n(c->a, v, len) : NULL;
}

static void do_configmap(struct ctx *c, const cJSON *o)
{
	const cJSON *md = jget(o, "metadata");
	const char *name = jstr(c, md, "name"), *ns = jstr(c, md, "namespace");
	const cJSON *data = jget(o, "data");
	struct kt_proxy_config *px = &c->s->proxy;
	if (!name)
		return;
	if (!strcmp(name, "kube-proxy") || !strcmp(name, "kube-proxy-config")) {
		const cJSON *conf = jget(data, "config.conf");
		if (!cJSON_IsString(conf))
			conf = jget(data, "config");
		if (!cJSON_IsString(conf))
			return;
		const char *mode = yaml_scalar(c, conf->valuestring, NULL, "mode");
		px->raw_mode = mode ? mode : kt_intern(c->a, "");
		if (!px->cilium_kpr || (strcmp(px->cilium_kpr, "true") && strcmp(px->cilium_kpr, "strict")))
			px->mode = (!mode || !*mode) ? kt_intern(c->a, "iptables") : mode;
		px->source = kt_arena_printf(c->a, "configmap %s/%s", ns ? ns : "kube-system", name);
		const char *mb = yaml_scalar(c, conf->valuestring, "iptables", "masqueradeBit");
		if (mb && *mb)
			px->masquerade_bit = atoi(mb);
		const char *ma = yaml_scalar(c, conf->valuestring, "iptables", "masqueradeAll");
		px->masquerade_all = ma && !strcmp(ma, "true");
		const char *cc = yaml_scalar(c, conf->valuestring, NULL, "clusterCIDR");
		if (cc && *cc)
			px->cluster_cidr = cc;
	} else if (!strcmp(name, "cilium-config")) {
		const char *kpr = jstr(c, data, "kube-proxy-replacement");
		px->cilium_kpr = kpr ? kpr : kt_intern(c->a, "false");
		if (kpr && (!strcmp(kpr, "true") || !strcmp(kpr, "strict"))) {
			px->mode = kt_intern(c->a, "cilium");
			px->source = kt_arena_printf(c->a, "configmap %s/cilium-config (kube-proxy-replacement: %s)",
						     ns ? ns : "kube-system", kpr);
		}
	}
}

const char *kt_kind_from_list(const char *list_kind, char *buf, unsigned len)
{
	if (!list_kind)
		return NULL;
	size_t l = strlen(list_kind);
	if (l <= 4 || strcmp(list_kind + l - 4, "List") != 0)
		return NULL;
	snprintf(buf, len, "%.*s", (int)(l - 4), list_kind);
	return buf;
}

/* Is obj's apiVersion (when it has one) the API group of the built-in
 * kind? Custom resources reuse kind names (Knative's serving.knative.dev
 * Service, operators' Deployment-like kinds) and must not be read as the
 * built-in objects. */
static bool builtin_group(const cJSON *obj, const char *kind)
{
	const cJSON *av = jget(obj, "apiVersion");
	if (!cJSON_IsString(av) || !av->valuestring)
		return true;
	const char *v = av->valuestring;
	const char *slash = strchr(v, '/');
	size_t gl = slash ? (size_t)(slash - v) : 0;
#define GROUP_IS(g) (gl == sizeof(g) - 1 && !memcmp(v, g, gl))
	if (!strcmp(kind, "Service") || !strcmp(kind, "Pod") || !strcmp(kind, "Node") || !strcmp(kind, "ConfigMap"))
		return gl == 0;
	if (!strcmp(kind, "Deployment") || !strcmp(kind, "StatefulSet") || !strcmp(kind, "DaemonSet") ||
	    !strcmp(kind, "ReplicaSet"))
		return GROUP_IS("apps") || GROUP_IS("extensions") ||
		       (GROUP_IS("apps.kruise.io") && strcmp(kind, "Deployment") && strcmp(kind, "ReplicaSet"));
	/* Deployment-shaped custom workloads: Argo Rollouts, OpenKruise CloneSet */
	if (!strcmp(kind, "Rollout"))
		return GROUP_IS("argoproj.io");
	if (!strcmp(kind, "CloneSet"))
		return GROUP_IS("apps.kruise.io");
	if (!strcmp(kind, "Job") || !strcmp(kind, "CronJob"))
		return GROUP_IS("batch");
	if (!strcmp(kind, "HorizontalPodAutoscaler"))
		return GROUP_IS("autoscaling");
	if (!strcmp(kind, "PodDisruptionBudget"))
		return GROUP_IS("policy");
	if (!strcmp(kind, "Ingress"))
		return GROUP_IS("networking.k8s.io") || GROUP_IS("extensions");
	if (!strcmp(kind, "IngressClass"))
		return GROUP_IS("networking.k8s.io");
	if (!strcmp(kind, "EndpointSlice"))
		return GROUP_IS("discovery.k8s.io");
#undef GROUP_IS
	return true;
}

static int ingest(struct ctx *c, const cJSON *obj, const char *kind_hint, int depth, struct kt_diag *d)
{
	if (!cJSON_IsObject(obj))
		return kt_diag_set(d, KT_EXIT_INPUT, "object is not a JSON/YAML mapping");
	const char *kind = NULL;
	const cJSON *k = jget(obj, "kind");
	if (cJSON_IsString(k))
		kind = k->valuestring;
	else
		kind = kind_hint;
	if (!kind)
		return 0;
	const cJSON *items = jget(obj, "items");
	if (cJSON_IsArray(items) && (!strcmp(kind, "List") || strlen(kind) > 4)) {
		char buf[128];
		const char *ik = kt_kind_from_list(kind, buf, sizeof(buf));
		if (ik || !strcmp(kind, "List")) {
			if (depth > 4)
				return kt_diag_set(d, KT_EXIT_INPUT, "lists nested too deeply");
			const cJSON *e;
			KT_EACH(e, items)
			{
				int rc = ingest(c, e, ik && *ik ? ik : NULL, depth + 1, d);
				if (rc < 0)
					return rc;
			}
			return 0;
		}
	}
	bool manifest = c->pm != NULL;
	if (!builtin_group(obj, kind))
		return 0;
	if (!strcmp(kind, "Service"))
		do_service(c, obj);
	else if (!strcmp(kind, "EndpointSlice"))
		do_endpointslice(c, obj);
	else if (!strcmp(kind, "Pod"))
		do_pod(c, obj, manifest);
	else if (!strcmp(kind, "Deployment") || !strcmp(kind, "StatefulSet") || !strcmp(kind, "DaemonSet") ||
		 !strcmp(kind, "ReplicaSet") || !strcmp(kind, "Job") || !strcmp(kind, "CronJob"))
		do_workload(c, obj, kind);
	else if ((!strcmp(kind, "Rollout") || !strcmp(kind, "CloneSet")) && jget(obj, "apiVersion"))
		do_workload(c, obj, kind); /* only with the group checked above */
	else if (!strcmp(kind, "HorizontalPodAutoscaler"))
		do_hpa(c, obj);
	else if (!strcmp(kind, "PodDisruptionBudget"))
		do_pdb(c, obj);
	else if (!strcmp(kind, "Ingress"))
		do_ingress(c, obj);
	else if (!strcmp(kind, "IngressClass"))
		do_ingress_class(c, obj);
	else if (!strcmp(kind, "Node"))
		do_node(c, obj);
	else if (!strcmp(kind, "ConfigMap"))
		do_configmap(c, obj);
	c->n_fields = 0;
	return 0;
}

int kt_obj_ingest(struct kt_snapshot *snap, const cJSON *obj, const char *kind_hint, const struct kt_posmap *pm,
		  struct kt_diag *d)
{
	struct ctx c = {.s = snap, .a = snap->arena, .pm = pm};
	int rc = ingest(&c, obj, kind_hint, 0, d);
	free(c.fields);
	return rc;
}

int kt_obj_ingest_ns(struct kt_snapshot *snap, const cJSON *obj, const char *kind_hint, const char *default_ns,
		     struct kt_diag *d)
{
	struct ctx c = {.s = snap, .a = snap->arena, .default_ns = default_ns ? default_ns : "default"};
	int rc = ingest(&c, obj, kind_hint, 0, d);
	free(c.fields);
	return rc;
}
