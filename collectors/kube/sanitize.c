/*
 * What a bundle may hold: an ALLOW-LIST of the fields the converter
 * (k8s_obj.c) reads, per kind, in one table. Everything else is removed
 * from the object before it is written to a bundle or ingested, so the live
 * answer and the bundle answer are computed from the same fields.
 *
 * Values the rules need only as facts are reduced to them: a preStop exec
 * command becomes the sleep it performs (["sleep","N"]) or nothing; probes
 * keep their handler kind and port; annotations read only for their
 * presence keep the key with an empty value; the kube-proxy configuration
 * text becomes the four settings the converter reads. Kinds not in the
 * table (Secrets, ServiceAccounts, other ConfigMaps, anything new) are
 * dropped whole.
 *
 * Adding a kind: write its field list (paths as below, fragments such as
 * "@meta" and "spec.template.spec.@podspec" for the shared parts) and add a
 * row to `kinds[]`. Adding an annotation the analyzers read: a row in
 * `annotations[]`. tests/integration/bundle_leak.sh fails when a field
 * outside these lists reaches a bundle.
 *
 * Must not print; owns only the compiled allow-tree (built once, never
 * freed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/kube/k8s_obj.h"
#include "ktrace/xalloc.h"

/*
 * Path syntax, one path per string, relative to the object:
 *   a.b.c            object fields
 *   a[]              every element of array a; a[].b is field b of each
 *   a{}              a map with any keys and scalar values (labels, selectors)
 *   a{annotations}   a map filtered by annotations[] below
 *   a{proxy}         ConfigMap data reduced to the proxy settings read
 *   a{ctrl}          ConfigMap data reduced to the ingress controllers'
 *                    client-IP settings (kt_ctrl_config_keys)
 *   a!exec           a preStop exec action reduced to the sleep it performs
 *   @name            the fragment "name" at this prefix (last segment only)
 * A path naming an object or array and nothing below it keeps it empty: its
 * presence is what the converter reads (a probe's "exec", a hook's
 * "httpGet"). A scalar where an object or array belongs becomes null
 * (present, but no content); an object where a scalar belongs is emptied.
 */

static const char *const f_meta[] = {
	"apiVersion", "kind", "metadata.name", "metadata.generateName", "metadata.namespace", "metadata.uid",
	"metadata.resourceVersion", "metadata.creationTimestamp", "metadata.deletionTimestamp", "metadata.labels{}",
	"metadata.annotations{annotations}", "metadata.ownerReferences[].kind", "metadata.ownerReferences[].name",
	"metadata.ownerReferences[].uid", "metadata.ownerReferences[].controller", NULL,
};

static const char *const f_selector[] = {
	"matchLabels{}", "matchExpressions[].key", "matchExpressions[].operator", "matchExpressions[].values[]", NULL,
};

/* probes: the handler kind and its port; never paths, headers or commands */
static const char *const f_probe[] = {
	"httpGet.port", "tcpSocket.port", "grpc.port", "exec", NULL,
};

static const char *const f_container[] = {
	"name",
	"image",
	"restartPolicy",
	"ports[].name",
	"ports[].protocol",
	"ports[].containerPort",
	"readinessProbe.@probe",
	"livenessProbe.@probe",
	"startupProbe.@probe",
	"lifecycle.preStop.sleep.seconds",
	"lifecycle.preStop.exec!exec",
	"lifecycle.preStop.httpGet",
	"lifecycle.preStop.tcpSocket",
	NULL,
};

static const char *const f_podspec[] = {
	"containers[].@container",
	"initContainers[].@container",
	"terminationGracePeriodSeconds",
	"topologySpreadConstraints[].maxSkew",
	"topologySpreadConstraints[].topologyKey",
	"topologySpreadConstraints[].whenUnsatisfiable",
	"topologySpreadConstraints[].labelSelector.@selector",
	"affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].topologyKey",
	"affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].labelSelector.@selector",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].weight",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.topologyKey",
	"affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.labelSelector.@selector",
	"nodeName",
	"hostNetwork",
	"serviceAccountName",
	NULL,
};

/* the spec of a workload (Deployment, ..., a CronJob's jobTemplate.spec) */
static const char *const f_wlspec[] = {
	"replicas", "selector.@selector", "template.metadata.labels{}", "template.metadata.annotations{annotations}",
	"template.spec.@podspec", NULL,
};

static const char *const f_lbstatus[] = {
	"ingress[].ip", "ingress[].hostname", "ingress[].ipMode", NULL,
};

static const char *const f_ingbackend[] = {
	"service.name", "service.port.number", "service.port.name", NULL,
};

static const char *const k_service[] = {
	"@meta",
	"spec.type",
	"spec.clusterIP",
	"spec.clusterIPs[]",
	"spec.ipFamilies[]",
	"spec.ipFamilyPolicy",
	"spec.ports[].name",
	"spec.ports[].protocol",
	"spec.ports[].appProtocol",
	"spec.ports[].port",
	"spec.ports[].targetPort",
	"spec.ports[].nodePort",
	"spec.selector{}",
	"spec.externalTrafficPolicy",
	"spec.internalTrafficPolicy",
	"spec.healthCheckNodePort",
	"spec.sessionAffinity",
	"spec.sessionAffinityConfig.clientIP.timeoutSeconds",
	"spec.loadBalancerClass",
	"spec.loadBalancerSourceRanges[]",
	"spec.externalIPs[]",
	"spec.trafficDistribution",
	"spec.publishNotReadyAddresses",
	"spec.allocateLoadBalancerNodePorts",
	"spec.externalName",
	"status.loadBalancer.@lbstatus",
	NULL,
};

static const char *const k_endpointslice[] = {
	"@meta",
	"addressType",
	"ports[].name",
	"ports[].protocol",
	"ports[].port",
	"ports[].appProtocol",
	"endpoints[].addresses[]",
	"endpoints[].conditions.ready",
	"endpoints[].conditions.serving",
	"endpoints[].conditions.terminating",
	"endpoints[].hints.forZones[].name",
	"endpoints[].targetRef.kind",
	"endpoints[].targetRef.name",
	"endpoints[].nodeName",
	"endpoints[].zone",
	"endpoints[].hostname",
	NULL,
};

static const char *const k_pod[] = {
	"@meta",
	"spec.@podspec",
	"status.phase",
	"status.hostIP",
	"status.podIP",
	"status.podIPs[].ip",
	"status.conditions[].type",
	"status.conditions[].status",
	"status.conditions[].lastTransitionTime",
	"status.startTime",
	NULL,
};

static const char *const k_workload[] = {
	"@meta", "spec.@wlspec", "status.readyReplicas", "status.numberReady", NULL,
};

static const char *const k_cronjob[] = {
	"@meta", "spec.jobTemplate.spec.@wlspec", "status.readyReplicas", NULL,
};

static const char *const k_hpa[] = {
	"@meta", "spec.scaleTargetRef.kind", "spec.scaleTargetRef.name", "spec.minReplicas", "spec.maxReplicas", NULL,
};

static const char *const k_pdb[] = {
	"@meta", "spec.selector.@selector", "spec.minAvailable", "spec.maxUnavailable", "status.disruptionsAllowed",
	NULL,
};

static const char *const k_ingress[] = {
	"@meta",
	"spec.ingressClassName",
	"spec.defaultBackend.@ingbackend",
	"spec.rules[].host",
	"spec.rules[].http.paths[].path",
	"spec.rules[].http.paths[].pathType",
	"spec.rules[].http.paths[].backend.@ingbackend",
	"spec.tls[].hosts[]",
	"status.loadBalancer.@lbstatus",
	NULL,
};

static const char *const k_ingressclass[] = {
	"@meta", "spec.controller", NULL,
};

/* Gateway API (gateway.networking.k8s.io/v1) */
static const char *const k_gatewayclass[] = {
	"@meta", "spec.controllerName", NULL,
};

static const char *const k_gateway[] = {
	"@meta",
	"spec.gatewayClassName",
	"spec.listeners[].name",
	"spec.listeners[].hostname",
	"spec.listeners[].protocol",
	"spec.listeners[].port",
	"spec.listeners[].tls.mode",
	"status.addresses[].value",
	NULL,
};

static const char *const f_route[] = {
	"hostnames[]",
	"parentRefs[].kind",
	"parentRefs[].namespace",
	"parentRefs[].name",
	"parentRefs[].sectionName",
	"parentRefs[].port",
	"rules[].backendRefs[].kind",
	"rules[].backendRefs[].group",
	"rules[].backendRefs[].namespace",
	"rules[].backendRefs[].name",
	"rules[].backendRefs[].port",
	"rules[].backendRefs[].weight",
	NULL,
};

static const char *const k_httproute[] = {
	"@meta", "spec.@route", "spec.rules[].matches[].path.type", "spec.rules[].matches[].path.value",
	"spec.rules[].matches[].method", NULL,
};

static const char *const k_grpcroute[] = {
	"@meta", "spec.@route", "spec.rules[].matches[].method.service", "spec.rules[].matches[].method.method", NULL,
};

static const char *const k_node[] = {
	"@meta",
	"spec.unschedulable",
	"spec.podCIDRs[]",
	"status.addresses[].type",
	"status.addresses[].address",
	"status.conditions[].type",
	"status.conditions[].status",
	NULL,
};

/* only the proxy ConfigMaps, and only their proxy settings */
static const char *const k_configmap[] = {
	"apiVersion", "kind", "metadata.name", "metadata.namespace", "data{proxy}", NULL,
};

/* ingress controllers' ConfigMaps: their labels (which controller) and
 * only the client-IP settings (kt_ctrl_config_keys) */
static const char *const k_ctrl_configmap[] = {
	"apiVersion", "kind", "metadata.name", "metadata.namespace", "metadata.labels{}", "data{ctrl}", NULL,
};

static const struct {
	const char *name;
	const char *const *paths;
} fragments[] = {
	{"meta", f_meta},         {"selector", f_selector}, {"probe", f_probe},         {"container", f_container},
	{"podspec", f_podspec},   {"wlspec", f_wlspec},     {"lbstatus", f_lbstatus},   {"ingbackend", f_ingbackend},
	{"route", f_route},
};

static bool keep_proxy_configmap(const cJSON *obj);
static bool keep_ctrl_configmap(const cJSON *obj);

static const struct kind_row {
	const char *kind;
	const char *const *paths;
	bool (*keep)(const cJSON *obj); /* optional: which objects of the kind */
} kinds[] = {
	{"Service", k_service, NULL},
	{"EndpointSlice", k_endpointslice, NULL},
	{"Pod", k_pod, NULL},
	{"Deployment", k_workload, NULL},
	{"StatefulSet", k_workload, NULL},
	{"DaemonSet", k_workload, NULL},
	{"ReplicaSet", k_workload, NULL},
	{"Job", k_workload, NULL},
	{"Rollout", k_workload, NULL},
	{"CloneSet", k_workload, NULL},
	{"CronJob", k_cronjob, NULL},
	{"HorizontalPodAutoscaler", k_hpa, NULL},
	{"PodDisruptionBudget", k_pdb, NULL},
	{"Ingress", k_ingress, NULL},
	{"IngressClass", k_ingressclass, NULL},
	{"GatewayClass", k_gatewayclass, NULL},
	{"Gateway", k_gateway, NULL},
	{"HTTPRoute", k_httproute, NULL},
	{"GRPCRoute", k_grpcroute, NULL},
	{"Node", k_node, NULL},
	{"ConfigMap", k_configmap, keep_proxy_configmap},
	{"ConfigMap", k_ctrl_configmap, keep_ctrl_configmap}, /* the first row that keeps an object wins */
};

#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

/*
 * Annotations the analyzers and the converter read. KEEP: the value is
 * read. PRESENCE: only that the key exists (the value is blanked). A key
 * ending in '*' is a prefix.
 */
enum ann_use { ANN_KEEP, ANN_PRESENCE };

static const struct {
	const char *key;
	enum ann_use use;
} annotations[] = {
	/* suppression */
	{"ktrace/ignore", ANN_KEEP},
	{"ktrace.io/ignore", ANN_KEEP},
	{"ignore-check.ktrace.io/*", ANN_PRESENCE},
	/* load balancer kind and target mode */
	{"service.beta.kubernetes.io/aws-load-balancer-type", ANN_KEEP},
	/* PROXY protocol towards the nodes (client IP through the ingress layer) */
	{"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol", ANN_KEEP},
	{"service.beta.kubernetes.io/azure-pls-proxy-protocol", ANN_KEEP},
	{"service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol", ANN_KEEP},
	{"service.beta.kubernetes.io/linode-loadbalancer-proxy-protocol", ANN_KEEP},
	{"service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v2", ANN_KEEP},
	{"load-balancer.hetzner.cloud/uses-proxyprotocol", ANN_KEEP},
	{"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type", ANN_KEEP},
	{"service.beta.kubernetes.io/aws-load-balancer-scheme", ANN_KEEP},
	{"service.beta.kubernetes.io/aws-load-balancer-internal", ANN_KEEP},
	{"service.beta.kubernetes.io/aws-load-balancer-*", ANN_PRESENCE},
	{"service.beta.kubernetes.io/azure-load-balancer-internal", ANN_KEEP},
	{"service.beta.kubernetes.io/azure-disable-load-balancer-floating-ip", ANN_KEEP},
	{"service.beta.kubernetes.io/azure-*", ANN_PRESENCE},
	{"cloud.google.com/neg", ANN_KEEP},
	{"cloud.google.com/l4-rbs", ANN_KEEP},
	{"cloud.google.com/load-balancer-type", ANN_KEEP},
	{"networking.gke.io/load-balancer-type", ANN_KEEP},
	{"metallb.universe.tf/*", ANN_PRESENCE},
	{"metallb.io/*", ANN_PRESENCE},
	{"alb.ingress.kubernetes.io/target-type", ANN_KEEP},
	/* ingress controllers: upstream by Service IP instead of Pod IPs */
	{"nginx.ingress.kubernetes.io/service-upstream", ANN_KEEP},
	{"nginx.org/use-cluster-ip", ANN_KEEP},
	{"ingress.kubernetes.io/service-upstream", ANN_KEEP},
	{"traefik.ingress.kubernetes.io/service.nativelb", ANN_KEEP},
	/* Ingress features that depend on the client address (KT307) */
	{"nginx.ingress.kubernetes.io/upstream-hash-by", ANN_KEEP},
	{"nginx.ingress.kubernetes.io/whitelist-source-range", ANN_PRESENCE},
	{"nginx.ingress.kubernetes.io/allowlist-source-range", ANN_PRESENCE},
	{"nginx.ingress.kubernetes.io/denylist-source-range", ANN_PRESENCE},
	{"nginx.ingress.kubernetes.io/limit-rps", ANN_PRESENCE},
	{"nginx.ingress.kubernetes.io/limit-rpm", ANN_PRESENCE},
	{"nginx.ingress.kubernetes.io/limit-connections", ANN_PRESENCE},
	{"haproxy.org/allow-list", ANN_PRESENCE},
	{"haproxy.org/deny-list", ANN_PRESENCE},
	{"haproxy.org/whitelist", ANN_PRESENCE},
	{"haproxy.org/blacklist", ANN_PRESENCE},
	{"haproxy.org/rate-limit-requests", ANN_PRESENCE},
	{"haproxy-ingress.github.io/allowlist-source-range", ANN_PRESENCE},
	{"haproxy-ingress.github.io/denylist-source-range", ANN_PRESENCE},
	{"nginx.org/server-snippets-allow", ANN_PRESENCE},
	/* ingress classes */
	{"kubernetes.io/ingress.class", ANN_KEEP},
	{"ingressclass.kubernetes.io/is-default-class", ANN_KEEP},
	/* endpoint propagation (kube-proxy / EndpointSlice trigger time) */
	{"endpoints.kubernetes.io/last-change-trigger-time", ANN_KEEP},
	/* meshes and sidecars */
	{"sidecar.istio.io/inject", ANN_KEEP},
	{"linkerd.io/inject", ANN_KEEP},
	{"inject.istio.io/templates", ANN_KEEP},
	{"kubectl.kubernetes.io/default-container", ANN_KEEP},
	/* hooks that are not long-running workloads */
	{"helm.sh/hook", ANN_KEEP},
	{"argocd.argoproj.io/hook", ANN_KEEP},
};

/* ---- the compiled allow-tree -------------------------------------------- */

enum an_special { SP_NONE, SP_MAP_ANY, SP_MAP_ANN, SP_PROXY, SP_CTRL, SP_EXEC };

struct an {
	char *key;               /* field name; "[]" = each element */
	enum an_special sp;
	struct an *kid, *next;
};

static struct an *an_child(struct an *parent, const char *key, size_t len)
{
	struct an **pp = &parent->kid;
	for (; *pp; pp = &(*pp)->next)
		if (strlen((*pp)->key) == len && !memcmp((*pp)->key, key, len))
			return *pp;
	struct an *n = kt_xcalloc(1, sizeof(*n));
	n->key = kt_xmalloc(len + 1);
	memcpy(n->key, key, len);
	n->key[len] = 0;
	*pp = n;
	return n;
}

static const char *const *fragment(const char *name)
{
	for (size_t i = 0; i < sizeof(fragments) / sizeof(fragments[0]); i++)
		if (!strcmp(fragments[i].name, name))
			return fragments[i].paths;
	fprintf(stderr, "ktrace: internal error: unknown allow-list fragment @%s\n", name);
	abort();
}

static void add_paths(struct an *root, const char *const *paths, int depth);

/* Insert one path below root. */
static void add_path(struct an *root, const char *path, int depth)
{
	struct an *n = root;
	const char *p = path;
	while (*p) {
		if (*p == '@') {
			add_paths(n, fragment(p + 1), depth + 1);
			return;
		}
		size_t seg = strcspn(p, ".");
		size_t name = strcspn(p, ".[{!");
		if (name > seg)
			name = seg;
		n = an_child(n, p, name);
		const char *suf = p + name, *end = p + seg;
		if (suf < end) {
			if (!strncmp(suf, "[]", 2) && suf + 2 == end)
				n = an_child(n, "[]", 2);
			else if (!strncmp(suf, "{}", 2) && suf + 2 == end)
				n->sp = SP_MAP_ANY;
			else if (!strncmp(suf, "{annotations}", 13) && suf + 13 == end)
				n->sp = SP_MAP_ANN;
			else if (!strncmp(suf, "{proxy}", 7) && suf + 7 == end)
				n->sp = SP_PROXY;
			else if (!strncmp(suf, "{ctrl}", 6) && suf + 6 == end)
				n->sp = SP_CTRL;
			else if (!strncmp(suf, "!exec", 5) && suf + 5 == end)
				n->sp = SP_EXEC;
			else {
				fprintf(stderr, "ktrace: internal error: bad allow-list path '%s'\n", path);
				abort();
			}
		}
		p = *end ? end + 1 : end;
	}
}

static void add_paths(struct an *root, const char *const *paths, int depth)
{
	if (depth > 8) {
		fprintf(stderr, "ktrace: internal error: allow-list fragments nest too deeply\n");
		abort();
	}
	for (; *paths; paths++)
		add_path(root, *paths, depth);
}

static struct an *roots[N_KINDS];

static const struct an *kind_tree(size_t i)
{
	if (!roots[i]) {
		struct an *r = kt_xcalloc(1, sizeof(*r));
		r->key = kt_xstrdup("");
		add_paths(r, kinds[i].paths, 0);
		roots[i] = r;
	}
	return roots[i];
}

/* ---- pruning -------------------------------------------------------------- */

static void empty_container(cJSON *v)
{
	if (v->child) {
		cJSON_Delete(v->child);
		v->child = NULL;
	}
}

/* Present, without content: containers are emptied, scalars become null. */
static void make_null(cJSON *v)
{
	empty_container(v);
	if (cJSON_IsString(v) || cJSON_IsRaw(v)) {
		cJSON_free(v->valuestring);
		v->valuestring = NULL;
	}
	v->type = cJSON_NULL | (v->type & cJSON_StringIsConst);
	v->valueint = 0;
	v->valuedouble = 0;
}

static bool is_scalar(const cJSON *v)
{
	return !cJSON_IsObject(v) && !cJSON_IsArray(v);
}

static void remove_child(cJSON *parent, cJSON *child)
{
	cJSON_Delete(cJSON_DetachItemViaPointer(parent, child));
}

/* Turn item (any type) into the string s, keeping its key. */
static void set_string(cJSON *item, const char *s)
{
	size_t l = strlen(s) + 1;
	char *copy = cJSON_malloc(l);
	if (!copy)
		kt_oom();
	memcpy(copy, s, l);
	make_null(item);
	item->valuestring = copy;
	item->type = cJSON_String | (item->type & cJSON_StringIsConst);
}

static int ann_lookup(const char *key)
{
	for (size_t i = 0; i < sizeof(annotations) / sizeof(annotations[0]); i++) {
		const char *a = annotations[i].key;
		size_t l = strlen(a);
		if (l && a[l - 1] == '*' ? !strncmp(key, a, l - 1) : !strcmp(key, a))
			return (int)i;
	}
	return -1;
}

static void prune_map(cJSON *v, bool annotations_only)
{
	if (!cJSON_IsObject(v)) {
		make_null(v);
		return;
	}
	cJSON *e = v->child;
	while (e) {
		cJSON *next = e->next;
		int ix = annotations_only ? ann_lookup(e->string ? e->string : "") : 0;
		if (!e->string || ix < 0)
			remove_child(v, e);
		else if (annotations_only && annotations[ix].use == ANN_PRESENCE)
			set_string(e, "");
		else if (!is_scalar(e))
			make_null(e);
		e = next;
	}
}

/* preStop exec: the sleep it performs (as the converter reads it), never
 * the command line. */
static void prune_exec(cJSON *v)
{
	if (!cJSON_IsObject(v)) {
		make_null(v);
		return;
	}
	int32_t secs = kt_exec_sleep(cJSON_GetObjectItemCaseSensitive(v, "command"));
	empty_container(v);
	if (secs >= 0) {
		char num[16];
		snprintf(num, sizeof(num), "%d", (int)secs);
		const char *argv[2] = {"sleep", num};
		cJSON *cmd = cJSON_CreateStringArray(argv, 2);
		if (!cmd)
			kt_oom();
		cJSON_AddItemToObject(v, "command", cmd);
	}
}

/* The KubeProxyConfiguration text reduced to the settings the converter
 * reads, in a form it reads back identically. malloc'd. */
static char *reduce_proxy_config(const char *doc)
{
	static const struct {
		const char *parent, *key;
	} keys[] = {{NULL, "mode"}, {NULL, "clusterCIDR"}, {"iptables", "masqueradeAll"}, {"iptables", "masqueradeBit"}};
	size_t cap = 64, n = 0;
	char *out = kt_xmalloc(cap);
	bool in_iptables = false;
	out[0] = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t vl;
		const char *v = kt_yaml_scalar(doc, keys[i].parent, keys[i].key, &vl);
		if (!v)
			continue;
		size_t need = vl + strlen(keys[i].key) + 32;
		if (n + need > cap) {
			cap = (n + need) * 2;
			out = kt_xrealloc(out, cap);
		}
		if (keys[i].parent && !in_iptables) {
			n += (size_t)snprintf(out + n, cap - n, "%s:\n", keys[i].parent);
			in_iptables = true;
		}
		n += (size_t)snprintf(out + n, cap - n, "%s%s: %.*s\n", keys[i].parent ? "  " : "", keys[i].key, (int)vl,
				      v);
	}
	return out;
}

static void prune_proxy(cJSON *v)
{
	if (!cJSON_IsObject(v)) {
		make_null(v);
		return;
	}
	cJSON *e = v->child;
	while (e) {
		cJSON *next = e->next;
		const char *k = e->string ? e->string : "";
		if (!strcmp(k, "kube-proxy-replacement")) {
			if (!is_scalar(e))
				make_null(e);
		} else if (!strcmp(k, "config.conf") || !strcmp(k, "config")) {
			if (cJSON_IsString(e)) {
				char *r = reduce_proxy_config(e->valuestring);
				set_string(e, r);
				free(r);
			} else {
				make_null(e);
			}
		} else {
			remove_child(v, e);
		}
		e = next;
	}
}

static bool ctrl_key(const char *k)
{
	for (unsigned i = 0; kt_ctrl_config_keys[i]; i++)
		if (!strcmp(k, kt_ctrl_config_keys[i]))
			return true;
	return false;
}

static void prune_ctrl(cJSON *v)
{
	if (!cJSON_IsObject(v)) {
		make_null(v);
		return;
	}
	cJSON *e = v->child;
	while (e) {
		cJSON *next = e->next;
		if (!e->string || !ctrl_key(e->string))
			remove_child(v, e);
		else if (!is_scalar(e))
			make_null(e);
		e = next;
	}
}

static void prune(cJSON *v, const struct an *n)
{
	switch (n->sp) {
	case SP_MAP_ANY:
		prune_map(v, false);
		return;
	case SP_MAP_ANN:
		prune_map(v, true);
		return;
	case SP_PROXY:
		prune_proxy(v);
		return;
	case SP_CTRL:
		prune_ctrl(v);
		return;
	case SP_EXEC:
		prune_exec(v);
		return;
	case SP_NONE:
		break;
	}
	if (!n->kid) {
		if (!is_scalar(v))
			empty_container(v);
		return;
	}
	if (!strcmp(n->kid->key, "[]")) {
		if (!cJSON_IsArray(v)) {
			make_null(v);
			return;
		}
		cJSON *e;
		cJSON_ArrayForEach(e, v)
		{
			prune(e, n->kid);
		}
		return;
	}
	if (!cJSON_IsObject(v)) {
		make_null(v);
		return;
	}
	cJSON *e = v->child;
	while (e) {
		cJSON *next = e->next;
		const struct an *k = NULL;
		for (k = n->kid; k && e->string; k = k->next)
			if (!strcmp(k->key, e->string))
				break;
		if (!e->string || !k)
			remove_child(v, e);
		else
			prune(e, k);
		e = next;
	}
}

static bool keep_proxy_configmap(const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	return name && (!strcmp(name, "kube-proxy") || !strcmp(name, "kube-proxy-config") || !strcmp(name, "cilium-config"));
}

/* An ingress controller's ConfigMap: one that sets a client-IP key. */
static bool keep_ctrl_configmap(const cJSON *obj)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(obj, "data"), *e;
	if (!cJSON_IsObject(data))
		return false;
	cJSON_ArrayForEach(e, data)
	{
		if (e->string && cJSON_IsString(e) && ctrl_key(e->string))
			return true;
	}
	return false;
}

bool kt_obj_sanitize(cJSON *obj, const char *kind_hint)
{
	if (!cJSON_IsObject(obj))
		return false;
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(obj, "kind");
	const char *kind = cJSON_IsString(k) ? k->valuestring : kind_hint;
	if (!kind)
		return false;
	size_t i;
	for (i = 0; i < N_KINDS; i++)
		if (!strcmp(kinds[i].kind, kind) && (!kinds[i].keep || kinds[i].keep(obj)))
			break;
	if (i == N_KINDS)
		return false;
	if (!cJSON_IsString(k)) {
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "kind");
		cJSON_AddStringToObject(obj, "kind", kinds[i].kind);
	}
	prune(obj, kind_tree(i));
	return true;
}
