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
 * This file: core kinds (Services, EndpointSlices, Pods, workloads, HPAs,
 * PDBs, Nodes, ConfigMaps, operator custom resources) and the dispatcher;
 * the shared field readers are in k8s_read.c (k8s_int.h), the ingress
 * layer in k8s_ingress.c. Must not print and must not judge.
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

void read_lb_ingress(struct ctx *c, const cJSON *arr, struct kt_lb_ingress **out, uint32_t *n)
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
			note_at(c, e, pfx, kpath(pfx, sizeof(pfx), "spec", ".ports", i));
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
	note_at(c, tpl, tp, strlen(tp));
	const cJSON *tmd = jget(tpl, "metadata");
	w->template_labels = jkv(c, jget(tmd, "labels"));
	w->template_annotations = jkv(c, jget(tmd, "annotations"));
	char fp[128];
	kpath(fp, sizeof(fp), tp, ".spec", -1);
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

/* ---- Pods that operators create from custom resources -------------------- */

/* Prometheus Operator: the labels it gives the Pods of each kind, besides
 * spec.podMetadata.labels (pkg/prometheus, pkg/alertmanager, pkg/thanos). */
static const struct {
	const char *kind, *name_label, *app;
} prom_kinds[] = {
	{"Prometheus", "prometheus", "prometheus"},
	{"PrometheusAgent", NULL, "prometheus-agent"},
	{"Alertmanager", "alertmanager", "alertmanager"},
	{"ThanosRuler", "thanos-ruler", "thanos-ruler"},
};

static void kv_put(struct ctx *c, struct kt_kvlist *l, uint32_t cap, const char *k, const char *v)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, k)) {
			l->v[i].value = kt_intern(c->a, v);
			return;
		}
	if (l->n < cap) {
		l->v[l->n].key = kt_intern(c->a, k);
		l->v[l->n].value = kt_intern(c->a, v);
		l->n++;
	}
}

/* A custom resource whose spec carries the labels of the Pods an operator
 * creates from it; group is its API group (a CRD's always has a dot). */
static void do_cr_pods(struct ctx *c, const cJSON *o, const char *kind, const char *group)
{
	static const char *const paths[][3] = {
		{"podMetadata", "labels", NULL},
		{"podTemplate", "metadata", "labels"},
		{"template", "metadata", "labels"},
	};
	const cJSON *sp = jget(o, "spec"), *labels = NULL;
	const char *fp = NULL;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && !labels; i++) {
		const cJSON *v = jget(jget(sp, paths[i][0]), paths[i][1]);
		if (paths[i][2])
			v = jget(v, paths[i][2]);
		if (cJSON_IsObject(v)) {
			labels = v;
			fp = i == 0 ? "spec.podMetadata.labels" : i == 1 ? "spec.podTemplate.metadata.labels"
								   : "spec.template.metadata.labels";
		}
	}
	int pk = -1;
	if (!strcmp(group, "monitoring.coreos.com"))
		for (size_t i = 0; i < sizeof(prom_kinds) / sizeof(prom_kinds[0]); i++)
			if (!strcmp(kind, prom_kinds[i].kind))
				pk = (int)i;
	if (!labels && pk < 0)
		return;
	struct kt_cr_pods *p = KT_SNAP_PUSH(c->s, cr_pods);
	read_meta(c, o, kind, &p->meta);
	const char *name = p->meta.name;
	struct kt_kvlist l = jkv(c, labels);
	uint32_t cap = l.n + 8;
	p->labels.v = KT_ANEW(c->a, struct kt_kv, cap);
	if (l.n)
		memcpy(p->labels.v, l.v, l.n * sizeof(*l.v));
	p->labels.n = l.n;
	p->exact = pk >= 0;
	p->fpath = fp ? kt_intern(c->a, fp) : kt_intern(c->a, "spec");
	if (fp)
		note_at(c, labels, fp, strlen(fp));
	if (pk >= 0) { /* the operator's labels win over podMetadata */
		kv_put(c, &p->labels, cap, "app.kubernetes.io/name", prom_kinds[pk].app);
		kv_put(c, &p->labels, cap, "app.kubernetes.io/managed-by", "prometheus-operator");
		kv_put(c, &p->labels, cap, "app.kubernetes.io/instance", name);
		if (prom_kinds[pk].name_label)
			kv_put(c, &p->labels, cap, prom_kinds[pk].name_label, name);
		if (pk <= 1)
			kv_put(c, &p->labels, cap, "operator.prometheus.io/name", name);
		if (pk == 2)
			kv_put(c, &p->labels, cap, "app", "alertmanager"); /* operators before v0.60 */
	}
	if (p->labels.n > 1)
		qsort(p->labels.v, p->labels.n, sizeof(*p->labels.v), kv_cmp);
	p->replicas = notek(c, sp, "replicas", "spec") ? clamp32(jint(sp, "replicas", -1)) : -1;
	meta_finish(c, &p->meta);
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
	ctrl_configmap(c, o, data);
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
	if (!strcmp(kind, "Gateway") || !strcmp(kind, "GatewayClass") || !strcmp(kind, "HTTPRoute") ||
	    !strcmp(kind, "GRPCRoute"))
		return GROUP_IS("gateway.networking.k8s.io");
#undef GROUP_IS
	return true;
}

/* An object of a custom resource kind (its API group has a dot and is not
 * one of Kubernetes' own): it may describe Pods an operator creates. */
static void cr_object(struct ctx *c, const cJSON *obj, const char *kind)
{
	const cJSON *av = jget(obj, "apiVersion");
	if (!cJSON_IsString(av))
		return;
	const char *slash = strchr(av->valuestring, '/');
	if (!slash)
		return;
	char group[256];
	size_t gl = (size_t)(slash - av->valuestring);
	if (gl >= sizeof(group) || !memchr(av->valuestring, '.', gl))
		return;
	memcpy(group, av->valuestring, gl);
	group[gl] = 0;
	size_t l = strlen(group);
	if (l >= 7 && !strcmp(group + l - 7, ".k8s.io") && strcmp(group, "gateway.networking.k8s.io"))
		return; /* Kubernetes' own groups */
	if (!strcmp(group, "gateway.networking.k8s.io"))
		return;
	do_cr_pods(c, obj, kind, group);
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
	if (!builtin_group(obj, kind)) {
		cr_object(c, obj, kind);
		c->n_fields = 0;
		return 0;
	}
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
	else if (!strcmp(kind, "GatewayClass"))
		do_gateway_class(c, obj);
	else if (!strcmp(kind, "Gateway"))
		do_gateway(c, obj);
	else if (!strcmp(kind, "HTTPRoute") || !strcmp(kind, "GRPCRoute"))
		do_route(c, obj, kind[0] == 'G');
	else if (!strcmp(kind, "Node"))
		do_node(c, obj);
	else if (!strcmp(kind, "ConfigMap"))
		do_configmap(c, obj);
	else
		cr_object(c, obj, kind);
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
