/*
 * Service-level rules: KT101-KT103 (externalTrafficPolicy and what it does
 * to source IPs, node hops and LB coverage), KT401 (HTTP/2 and gRPC behind
 * per-connection balancing), KT404 (ClientIP affinity), KT501-KT503
 * (selector, named targetPort, ready endpoints). One function per rule.
 * Pure functions over the rule context; no I/O.
 */
#include <stdio.h>
#include <string.h>

#include "ktrace/util.h"
#include <strings.h>

#include "analyzers/rules_int.h"
#include "ktrace/imbalance.h"
#include "ktrace/path.h"

static bool in_scope(const struct kt_rctx *c, uint32_t i)
{
	return c->only_svc == KT_NONE || c->only_svc == i;
}

static bool external(const struct kt_service *sv)
{
	return sv->type == KT_SVC_LOADBALANCER || sv->type == KT_SVC_NODEPORT;
}

static const char *ann(const struct kt_meta *m, const char *k)
{
	return kt_kv_get(&m->annotations, k);
}

/* Why the load balancer sends straight to Pod IPs (no NodePort hop, no
 * SNAT), or NULL. */
const char *kt_lb_targets_pods(const struct kt_rctx *c, const struct kt_service *sv)
{
	const char *v;
	v = ann(&sv->meta, "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type");
	if (v && !strcasecmp(v, "ip"))
		return "AWS NLB target type ip";
	v = ann(&sv->meta, "service.beta.kubernetes.io/aws-load-balancer-type");
	if (v && !strcasecmp(v, "nlb-ip"))
		return "AWS NLB (nlb-ip)";
	v = ann(&sv->meta, "alb.ingress.kubernetes.io/target-type");
	if (v && !strcasecmp(v, "ip"))
		return "AWS ALB target type ip";
	v = ann(&sv->meta, "cloud.google.com/neg");
	if (v && (strstr(v, "true") || strstr(v, "exposed_ports")))
		return "GKE network endpoint group (cloud.google.com/neg)";
	/* An ALB Ingress in ip mode reaches the Pods of its backends directly. */
	for (uint32_t i = 0; i < c->n_alb_ip; i++)
		if (kt_ns_eq(c->alb_ip[i].ns, sv->meta.namespace) && sv->meta.name &&
		    !strcmp(c->alb_ip[i].svc, sv->meta.name))
			return kt_arena_printf(c->a, "AWS ALB target type ip (Ingress %s)", c->alb_ip[i].ingress);
	return NULL;
}

static const char *etp_path(const struct kt_service *sv)
{
	return sv->etp_set ? "spec.externalTrafficPolicy" : "spec.type";
}

static uint32_t six(const struct kt_rctx *c, const struct kt_service *sv)
{
	return (uint32_t)(sv - c->s->services);
}

/* Selected templates: total replicas (DaemonSet -> *ds), count. */
static uint32_t selected(const struct kt_rctx *c, const struct kt_service *sv, int32_t *replicas, bool *ds)
{
	uint32_t n;
	const uint32_t *row = KT_ROW(c, st, six(c, sv), n);
	*replicas = 0;
	*ds = false;
	bool one_pod = false; /* the selector names a single StatefulSet Pod */
	for (uint32_t k = 0; k < sv->selector.n; k++)
		if (sv->selector.v[k].key && (!strcmp(sv->selector.v[k].key, "statefulset.kubernetes.io/pod-name") ||
					      !strcmp(sv->selector.v[k].key, "apps.kubernetes.io/pod-index")))
			one_pod = true;
	for (uint32_t i = 0; i < n; i++) {
		const struct kt_tmpl *t = &c->t[row[i]];
		if (t->kind == KT_WL_DAEMONSET)
			*ds = true;
		else if (t->replicas > 0)
			*replicas += one_pod ? 1 : t->replicas;
	}
	return n;
}

static void kt101(struct kt_rctx *c, const struct kt_service *sv)
{
	if (!external(sv) || sv->etp_local || kt_lb_targets_pods(c, sv))
		return;
	kt_radd(c, KT_R_KT101, &sv->meta, etp_path(sv),
		"%s Service uses externalTrafficPolicy: Cluster%s: client traffic is SNATed to a node IP, so Pods see node addresses instead of client IPs",
		kt_svc_type_name(sv->type), sv->etp_set ? "" : " (the default)");
}

/* Nodes the load balancer can send to: the model `path` shows
 * (kt_lb_node_eligible: not excluded, not cordoned, Ready). */
static bool lb_target(const struct kt_snapshot *s, uint32_t i)
{
	const char *why;
	return kt_lb_node_eligible(s, i, &why);
}

/* Ready endpoints of sv, deduplicated by address (first port only). */
struct epset {
	uint32_t *ep;            /* endpoint indices */
	uint32_t n;
};

static void ready_eps(const struct kt_rctx *c, const struct kt_service *sv, struct epset *e)
{
	const struct kt_snapshot *s = c->s;
	e->ep = KT_ANEW(c->a, uint32_t, sv->ep_count + 1);
	e->n = 0;
	const char *pname = NULL;
	const char *last_ip = NULL;
	for (uint32_t i = sv->ep_first; i < sv->ep_first + sv->ep_count && i < s->n_endpoints; i++) {
		const struct kt_endpoint *ep = &s->endpoints[i];
		if (!pname)
			pname = ep->port_name ? ep->port_name : "";
		if (strcmp(pname, ep->port_name ? ep->port_name : ""))
			continue;
		if (!ep->ready)
			continue;
		if (last_ip && ep->ip && !strcmp(last_ip, ep->ip))
			continue;
		last_ip = ep->ip;
		e->ep[e->n++] = i;
	}
}

/* Ready endpoints per node index (arena array of n_nodes). */
static uint32_t *per_node(const struct kt_rctx *c, const struct epset *e)
{
	uint32_t *cnt = KT_ANEW(c->a, uint32_t, c->s->n_nodes + 1);
	for (uint32_t i = 0; i < e->n; i++) {
		uint32_t n = c->s->endpoints[e->ep[i]].node_ix;
		if (n != KT_NONE && n < c->s->n_nodes)
			cnt[n]++;
	}
	return cnt;
}

/* Expected share of requests that take an extra node hop when the LB
 * spreads evenly over the target nodes and each node spreads evenly over
 * all endpoints: mean over target nodes of (endpoints not on it / all)
 * (the model imbalance --nodes shows next to the measured share). */
static void kt102_live(struct kt_rctx *c, const struct kt_service *sv)
{
	const struct kt_snapshot *s = c->s;
	uint32_t *cnt = KT_ANEW(c->a, uint32_t, s->n_nodes + 1);
	double *w = KT_ANEW(c->a, double, s->n_nodes + 1);
	uint32_t n = kt_ready_per_node(s, six(c, sv), cnt);
	if (n == 0)
		return;
	uint32_t targets = 0, with_ep = 0;
	char ev[1024];
	size_t off = 0;
	ev[0] = 0;
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		if (!lb_target(s, i))
			continue;
		uint32_t k = cnt[i];
		targets++;
		w[i] = 1;
		if (k)
			with_ep++;
		if (off < sizeof(ev) - 64) {
			int wr = snprintf(ev + off, sizeof(ev) - off, "%s%s=%u", off ? " " : "",
					  s->nodes[i].meta.name ? s->nodes[i].meta.name : "?", k);
			if (wr > 0)
				off += (size_t)wr;
		}
	}
	double share = kt_hop_share(cnt, n, w, s->n_nodes);
	if (targets < 2 || share <= 0)
		return;
	struct kt_finding *f = kt_radd(c, KT_R_KT102, &sv->meta, etp_path(sv),
		"%.0f%% of external requests take an extra node hop: %u ready endpoint%s on %u of %u LB target nodes (externalTrafficPolicy: Cluster)",
		share * 100.0, n, n == 1 ? "" : "s", with_ep, targets);
	f->evidence = kt_arena_printf(c->a, "local endpoints per target node: %s", ev);
}

static void kt102(struct kt_rctx *c, const struct kt_service *sv)
{
	if (!external(sv) || sv->etp_local || kt_lb_targets_pods(c, sv))
		return;
	if (c->live && c->nodes_known && !c->eps_gap) {
		kt102_live(c, sv);
		return;
	}
	int32_t r;
	bool ds;
	uint32_t n = selected(c, sv, &r, &ds);
	if (ds) {
		kt_radd(c, KT_R_KT102, &sv->meta, etp_path(sv),
			"externalTrafficPolicy: Cluster spreads each node's traffic over the endpoints on every node: with one Pod per node (DaemonSet) and N nodes, (N-1)/N of requests take an extra node hop");
	} else if (r >= 2) {
		kt_radd(c, KT_R_KT102, &sv->meta, etp_path(sv),
			"externalTrafficPolicy: Cluster with %d replicas: at least %.0f%% of requests take an extra node hop (1 - 1/%d when each replica runs on its own node; more when the LB also targets nodes without a replica)",
			r, (1.0 - 1.0 / r) * 100.0, r);
	} else if (n > 0) {
		kt_radd(c, KT_R_KT102, &sv->meta, etp_path(sv),
			"externalTrafficPolicy: Cluster with a single replica: every request the LB sends to any other node takes an extra node hop to the one node running it");
	} else {
		kt_radd(c, KT_R_KT102, &sv->meta, etp_path(sv),
			"externalTrafficPolicy: Cluster: requests arriving at a node are spread over endpoints on all nodes, so most take an extra node hop");
	}
}

static void append_name(char *buf, size_t len, size_t *off, uint32_t *shown, const char *name)
{
	if (*shown >= 8) {
		if (*shown == 8 && *off < len - 8) {
			int w = snprintf(buf + *off, len - *off, ", ...");
			if (w > 0)
				*off += (size_t)w;
		}
		(*shown)++;
		return;
	}
	if (*off >= len - 2)
		return;
	int w = snprintf(buf + *off, len - *off, "%s%s", *shown ? ", " : "", name ? name : "?");
	if (w > 0)
		*off = (*off + (size_t)w < len) ? *off + (size_t)w : len - 1;
	(*shown)++;
}

static void kt103_live(struct kt_rctx *c, const struct kt_service *sv)
{
	const struct kt_snapshot *s = c->s;
	struct epset e;
	ready_eps(c, sv, &e);
	char nodes[512], zones[512];
	size_t noff = 0, zoff = 0;
	uint32_t nshown = 0, zshown = 0, targets = 0, missing = 0;
	nodes[0] = zones[0] = 0;
	uint32_t *cnt = per_node(c, &e);
	bool *zcov = KT_ANEW(c->a, bool, c->n_zones + 1);
	bool *ztarget = KT_ANEW(c->a, bool, c->n_zones + 1);
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		if (c->zone_of[i] != KT_NONE && cnt[i])
			zcov[c->zone_of[i]] = true;
		if (!lb_target(s, i))
			continue;
		targets++;
		if (c->zone_of[i] != KT_NONE)
			ztarget[c->zone_of[i]] = true;
		if (cnt[i] == 0) {
			missing++;
			append_name(nodes, sizeof(nodes), &noff, &nshown, s->nodes[i].meta.name);
		}
	}
	/* zones of target nodes with no ready endpoint anywhere in the zone,
	 * named in node order */
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		uint32_t z = c->zone_of[i];
		if (z == KT_NONE || !ztarget[z] || zcov[z])
			continue;
		append_name(zones, sizeof(zones), &zoff, &zshown, s->nodes[i].zone);
		zcov[z] = true; /* once */
	}
	if (missing == 0 && zshown == 0)
		return;
	struct kt_finding *f;
	if (zshown)
		f = kt_radd(c, KT_R_KT103, &sv->meta, etp_path(sv),
			    "externalTrafficPolicy: Local: %u of %u LB target nodes have no local endpoint (%s) and fail the LB health check; zones without a local endpoint: %s",
			    missing, targets, missing ? nodes : "none", zones);
	else
		f = kt_radd(c, KT_R_KT103, &sv->meta, etp_path(sv),
			    "externalTrafficPolicy: Local: %u of %u LB target nodes have no local endpoint (%s) and fail the LB health check",
			    missing, targets, nodes);
	f->evidence = kt_arena_printf(c->a, "%u ready endpoint%s", e.n, e.n == 1 ? "" : "s");
}

bool kt_spec_spreads(const struct kt_podspec *sp, const struct kt_kvlist *labels, bool zone)
{
	for (uint32_t i = 0; i < sp->n_spread; i++) {
		const char *k = sp->spread[i].topology_key;
		if (!k)
			continue;
		bool key = zone ? (!strcmp(k, "topology.kubernetes.io/zone") ||
				   !strcmp(k, "failure-domain.beta.kubernetes.io/zone"))
				: !strcmp(k, "kubernetes.io/hostname");
		if (key && (!sp->spread[i].selector.present || kt_selector_match(&sp->spread[i].selector, labels)))
			return true;
	}
	for (uint32_t i = 0; i < sp->n_anti_required; i++) {
		const char *k = sp->anti_required[i].topology_key;
		if (!k)
			continue;
		bool key = zone ? (!strcmp(k, "topology.kubernetes.io/zone") ||
				   !strcmp(k, "failure-domain.beta.kubernetes.io/zone"))
				: !strcmp(k, "kubernetes.io/hostname");
		if (key && (!sp->anti_required[i].selector.present ||
			    kt_selector_match(&sp->anti_required[i].selector, labels)))
			return true;
	}
	return false;
}

static void kt103(struct kt_rctx *c, const struct kt_service *sv)
{
	if (sv->type != KT_SVC_LOADBALANCER && sv->type != KT_SVC_NODEPORT)
		return;
	if (!sv->etp_local)
		return;
	if (c->live && c->nodes_known && !c->eps_gap) {
		kt103_live(c, sv);
		return;
	}
	int32_t r;
	bool ds;
	if (selected(c, sv, &r, &ds) == 0 || ds)
		return;
	bool host = true, zone = true;
	uint32_t nt;
	const uint32_t *row = KT_ROW(c, st, six(c, sv), nt);
	for (uint32_t i = 0; i < nt; i++) {
		const struct kt_tmpl *t = &c->t[row[i]];
		if (t->opaque)
			return; /* an operator decides the Pods' placement */
		host = host && kt_spec_spreads(t->spec, t->labels, false);
		zone = zone && kt_spec_spreads(t->spec, t->labels, true);
	}
	if (r >= 2 && host && zone)
		return;
	char why[256];
	if (r < 2)
		snprintf(why, sizeof(why), "only %d replica%s: every other LB target node has no local endpoint", r,
			 r == 1 ? "" : "s");
	else if (!host)
		snprintf(why, sizeof(why), "%d replicas without a hostname spread (topologySpreadConstraints or required anti-affinity): replicas can share nodes, leaving others without a local endpoint%s",
			 r, zone ? "" : ", and no zone spread");
	else
		snprintf(why, sizeof(why), "%d replicas without a zone spread: a zone can end up with no local endpoint", r);
	kt_radd(c, KT_R_KT103, &sv->meta, "spec.externalTrafficPolicy",
		"externalTrafficPolicy: Local with %s; nodes without one fail the LB health check and take no traffic", why);
}

static bool is_h2(const struct kt_svc_port *p)
{
	const char *ap = p->app_protocol;
	if (ap && (!strcasecmp(ap, "grpc") || !strcasecmp(ap, "kubernetes.io/h2c") || !strcasecmp(ap, "http2") ||
		   !strcasecmp(ap, "h2c") || !strcasecmp(ap, "kubernetes.io/grpc")))
		return true;
	if (ap && *ap)
		return false; /* an explicit other protocol wins over the name */
	const char *n = p->name;
	if (!n)
		return false;
	/* Istio-style port names, <protocol>[-<suffix>]; grpc-web is
	 * request/response over HTTP/1.1 as often as not */
	if (!strcasecmp(n, "grpc-web") || !strncasecmp(n, "grpc-web-", 9))
		return false;
	return !strcasecmp(n, "grpc") || !strncasecmp(n, "grpc-", 5) || !strcasecmp(n, "h2c") ||
	       !strncasecmp(n, "h2c-", 4) || !strcasecmp(n, "http2") || !strncasecmp(n, "http2-", 6);
}

static bool mesh_labels(const struct kt_kvlist *l)
{
	const char *v;
	if (!l)
		return false;
	v = kt_kv_get(l, "sidecar.istio.io/inject");
	if (v && !strcasecmp(v, "true"))
		return true;
	v = kt_kv_get(l, "linkerd.io/inject");
	if (v && !strcasecmp(v, "enabled"))
		return true;
	return false;
}

/* A mesh proxy already in the template (rendered by istioctl kube-inject
 * or linkerd inject, or a native sidecar): a regular container or an init
 * container with restartPolicy Always named like the proxy. */
static bool mesh_container(const struct kt_container *ct)
{
	if (ct->init && !ct->sidecar)
		return false;
	return ct->name && (!strcmp(ct->name, "istio-proxy") || !strcmp(ct->name, "linkerd-proxy"));
}

bool kt_tmpl_meshed(const struct kt_tmpl *t)
{
	if (mesh_labels(t->labels) || mesh_labels(t->tann))
		return true;
	for (uint32_t i = 0; i < t->spec->n_containers; i++)
		if (mesh_container(&t->spec->containers[i]))
			return true;
	return false;
}

static void kt401(struct kt_rctx *c, const struct kt_service *sv)
{
	if (sv->headless || sv->type == KT_SVC_EXTERNALNAME)
		return;
	uint32_t nt;
	const uint32_t *row = KT_ROW(c, st, six(c, sv), nt);
	uint32_t proxies = 0;
	for (uint32_t i = 0; i < nt; i++) {
		const struct kt_tmpl *t = &c->t[row[i]];
		if (kt_tmpl_meshed(t))
			return; /* a mesh proxy balances per request */
		proxies += t->ingress;
	}
	/* An ingress controller or gateway terminates the clients' HTTP/2 and
	 * balances each request to its backends itself; its own clients are
	 * many independent connections from the outside. */
	if (nt && proxies == nt)
		return;
	for (uint32_t i = 0; i < sv->n_ports; i++) {
		const struct kt_svc_port *p = &sv->ports[i];
		if (!is_h2(p))
			continue;
		char path[64];
		snprintf(path, sizeof(path), p->app_protocol ? "spec.ports[%u].appProtocol" : "spec.ports[%u].name", i);
		kt_radd(c, KT_R_KT401, &sv->meta, path,
			"port %s%s%d is %s: HTTP/2 multiplexes requests over long-lived connections, and the Service balances connections, not requests",
			p->name ? p->name : "", p->name ? "/" : "", p->port,
			p->app_protocol ? kt_arena_printf(c->a, "appProtocol %s", p->app_protocol)
					: "named for gRPC/HTTP/2");
	}
}

static void kt404(struct kt_rctx *c, const struct kt_service *sv)
{
	if (!sv->affinity_client_ip)
		return;
	kt_radd(c, KT_R_KT404, &sv->meta, "spec.sessionAffinity",
		"sessionAffinity: ClientIP pins each client IP to one Pod for %d s; clients behind NAT or SNAT share an IP and land on the same Pod",
		sv->affinity_timeout > 0 ? sv->affinity_timeout : 10800);
}

static void sel_str(const struct kt_service *sv, char *buf, size_t len)
{
	size_t off = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < sv->selector.n && off < len - 1; i++) {
		int w = snprintf(buf + off, len - off, "%s%s=%s", i ? "," : "", sv->selector.v[i].key,
				 sv->selector.v[i].value ? sv->selector.v[i].value : "");
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* A near miss for KT501's message: a template in the namespace whose value
 * for a selector key is a prefix/substring of the selector's (a typo or a
 * renamed app), or differs in one selector key only. */
static bool similar(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la >= 3 && lb >= 3 && (strstr(a, b) || strstr(b, a)))
		return true;
	if (kt_edit_distance(a, b) <= (la > 6 ? 2u : 1u) + (la >= 3))
		return true;
	size_t p = 0;
	while (a[p] && a[p] == b[p])
		p++;
	return p >= 4;
}

static const char *near_miss(const struct kt_rctx *c, const struct kt_service *sv)
{
	for (uint32_t i = 0; i < c->n_t && i < 20000; i++) { /* bounded: only for the message */
		const struct kt_tmpl *t = &c->t[i];
		if (!kt_ns_eq(t->meta->namespace, sv->meta.namespace))
			continue;
		uint32_t same = 0, diff = 0, k_diff = 0;
		const char *v_diff = NULL;
		for (uint32_t k = 0; k < sv->selector.n; k++) {
			const char *v = kt_kv_get(t->labels, sv->selector.v[k].key);
			const char *want = sv->selector.v[k].value ? sv->selector.v[k].value : "";
			if (v && !strcmp(v, want)) {
				same++;
			} else {
				diff++;
				k_diff = k;
				v_diff = v;
			}
		}
		if (diff != 1)
			continue;
		const char *want = sv->selector.v[k_diff].value ? sv->selector.v[k_diff].value : "";
		if ((v_diff && similar(v_diff, want)) || (same > 0 && v_diff))
			return kt_arena_printf(c->a, "; %s %s has %s=%s", t->meta->kind ? t->meta->kind : "Pod",
					       t->meta->name ? t->meta->name : "?", sv->selector.v[k_diff].key, v_diff);
		if (!v_diff && same > 0)
			return kt_arena_printf(c->a, "; %s %s lacks the label %s", t->meta->kind ? t->meta->kind : "Pod",
					       t->meta->name ? t->meta->name : "?", sv->selector.v[k_diff].key);
	}
	return "";
}

/* Does the input hold any pod template in namespace ns? */
static bool ns_has_templates(const struct kt_rctx *c, const char *ns)
{
	for (uint32_t i = 0; i < c->n_t; i++)
		if (kt_ns_eq(c->t[i].meta->namespace, ns))
			return true;
	return false;
}

/* Does the input hold a custom resource of a known operator in the
 * Service's namespace? Then its Pods' labels are known, and a selector
 * that matches none of them is a real miss, not an operator's Pod. */
static bool ns_has_operator_pods(const struct kt_rctx *c, const struct kt_service *sv)
{
	for (uint32_t i = c->n_tmpl_real; i < c->n_t; i++)
		if (c->t[i].cr_pods->exact && kt_ns_eq(c->t[i].meta->namespace, sv->meta.namespace))
			return true;
	return false;
}

/* Selector keys of Pods that operators create from custom resources
 * (Prometheus, Alertmanager, Strimzi Kafka, ECK, CloudNativePG, ...): the
 * manifests hold the custom resource, never a pod template. */
static bool operator_selector(const struct kt_service *sv)
{
	static const char *const keys[] = {
		"prometheus", "alertmanager", "thanos-ruler", "cluster-name", "application", "spilo-role",
		"app.kubernetes.io/managed-by", NULL,
	};
	static const char *const domains[] = {
		"strimzi.io", "k8s.elastic.co", "cnpg.io", "crunchydata.com", "knative.dev", "rabbitmq.com",
		"percona.com", "mongodb.com", "pingcap.com", "vitess.io", "ray.io", "kubeflow.org", "zalan.do",
		"opstreelabs.in", "min.io", "clickhouse.altinity.com", NULL,
	};
	for (uint32_t i = 0; i < sv->selector.n; i++) {
		const char *k = sv->selector.v[i].key ? sv->selector.v[i].key : "";
		const char *v = sv->selector.v[i].value ? sv->selector.v[i].value : "";
		const char *slash = strchr(k, '/');
		if (slash) {
			size_t dl = (size_t)(slash - k);
			if (memmem(k, dl, "operator", 8))
				return true;
			for (const char *const *d = domains; *d; d++) {
				size_t l = strlen(*d);
				if (dl >= l && !memcmp(k + dl - l, *d, l) && (dl == l || k[dl - l - 1] == '.'))
					return true;
			}
		}
		for (const char *const *kk = keys; *kk; kk++) {
			if (strcmp(k, *kk))
				continue;
			if (!strcmp(k, "app.kubernetes.io/managed-by") && !strstr(v, "operator"))
				continue;
			if (!strcmp(k, "application") && strcmp(v, "spilo"))
				continue;
			return true;
		}
	}
	return false;
}

static bool kt501(struct kt_rctx *c, const struct kt_service *sv)
{
	if (!sv->has_selector || sv->selector.n == 0 || sv->type == KT_SVC_EXTERNALNAME)
		return false;
	char sel[256];
	sel_str(sv, sel, sizeof(sel));
	if (c->live) {
		uint32_t np;
		if (!c->have_pods) {
			kt_rgap(c, KT_R_KT501, "%s", c->pods_why);
			return false;
		}
		KT_ROW(c, sp, six(c, sv), np);
		if (np)
			return false;
		kt_radd(c, KT_R_KT501, &sv->meta, "spec.selector",
			"selector %s matches no running Pod in namespace %s: the Service has no endpoints", sel,
			sv->meta.namespace ? sv->meta.namespace : "default");
		return true;
	}
	uint32_t nt;
	KT_ROW(c, st, six(c, sv), nt);
	if (nt)
		return false;
	if (!c->n_t) {
		kt_rgap(c, KT_R_KT501, "not checked: no workloads or Pods in the input");
		return false;
	}
	/* Nothing to compare: the input has no workload in the Service's
	 * namespace (a chart adding a Service for Pods it does not own, e.g.
	 * monitoring Services in kube-system), or the Pods come from an
	 * operator's custom resource. */
	if (!ns_has_templates(c, sv->meta.namespace) || (operator_selector(sv) && !ns_has_operator_pods(c, sv)))
		return false;
	kt_radd(c, KT_R_KT501, &sv->meta, "spec.selector",
		"selector %s matches no workload template in namespace %s: the Service will have no endpoints%s", sel,
		sv->meta.namespace ? sv->meta.namespace : "default", near_miss(c, sv));
	return true;
}

static void kt502_port(struct kt_rctx *c, const struct kt_service *sv, uint32_t pi)
{
	const struct kt_svc_port *p = &sv->ports[pi];
	char path[64];
	snprintf(path, sizeof(path), "spec.ports[%u].targetPort", pi);
	if (c->live && c->have_pods) {
		uint32_t sel = 0, bad = 0, np;
		const char *example = NULL;
		const uint32_t *prow = KT_ROW(c, sp, six(c, sv), np);
		for (uint32_t i = 0; i < np; i++) {
			const struct kt_pod *pod = &c->s->pods[prow[i]];
			sel++;
			if (kt_resolve_target_port(p, &pod->spec) == 0) {
				bad++;
				if (!example)
					example = pod->meta.name;
			}
		}
		if (sel > 0) {
			if (bad)
				kt_radd(c, KT_R_KT502, &sv->meta, path,
					"targetPort '%s' of port %d: %u of %u selected Pods declare no container port named '%s' (e.g. %s); they get no traffic on this port",
					p->target.name, p->port, bad, sel, p->target.name, example ? example : "?");
			return;
		}
	}
	char names[512];
	size_t off = 0;
	uint32_t shown = 0;
	names[0] = 0;
	uint32_t nt;
	const uint32_t *row = KT_ROW(c, st, six(c, sv), nt);
	if (!c->n_t) {
		kt_rgap(c, KT_R_KT502, "not checked: no workloads or Pods in the input");
		return;
	}
	for (uint32_t i = 0; i < nt; i++) {
		const struct kt_tmpl *t = &c->t[row[i]];
		if (t->opaque || kt_resolve_target_port(p, t->spec) != 0)
			continue; /* an operator's Pods: their ports are not in the input */
		append_name(names, sizeof(names), &off, &shown,
			    kt_arena_printf(c->a, "%s %s", t->meta->kind ? t->meta->kind : "Pod",
					    t->meta->name ? t->meta->name : "?"));
	}
	if (!shown)
		return;
	kt_radd(c, KT_R_KT502, &sv->meta, path,
		"targetPort '%s' of port %d is not declared as a %s container port by %s: the Service cannot resolve it, those Pods get no traffic",
		p->target.name, p->port, p->protocol ? p->protocol : "TCP", names);
}

static void kt502(struct kt_rctx *c, const struct kt_service *sv)
{
	if (!sv->has_selector || sv->selector.n == 0 || sv->type == KT_SVC_EXTERNALNAME)
		return;
	for (uint32_t i = 0; i < sv->n_ports; i++)
		if (sv->ports[i].target.name && *sv->ports[i].target.name)
			kt502_port(c, sv, i);
}

static void kt503(struct kt_rctx *c, const struct kt_service *sv)
{
	if (!c->live)
		return;
	if (!sv->has_selector || sv->selector.n == 0 || sv->type == KT_SVC_EXTERNALNAME)
		return;
	if (!c->have_eps) {
		kt_rgap(c, KT_R_KT503, "%s", c->eps_why);
		return;
	}
	uint32_t ready = 0, term = 0, total = 0;
	for (uint32_t i = sv->ep_first; i < sv->ep_first + sv->ep_count && i < c->s->n_endpoints; i++) {
		const struct kt_endpoint *e = &c->s->endpoints[i];
		total++;
		if (e->ready)
			ready++;
		if (e->terminating)
			term++;
	}
	if (ready)
		return;
	kt_radd(c, KT_R_KT503, &sv->meta, "spec.selector",
		"no ready endpoint (%u listed, %u terminating): connections to the Service are refused or time out",
		total, term);
}

void kt_rules_services(struct kt_rctx *c)
{
	for (uint32_t i = 0; i < c->s->n_services; i++) {
		if (!in_scope(c, i))
			continue;
		const struct kt_service *sv = &c->s->services[i];
		kt101(c, sv);
		kt102(c, sv);
		kt103(c, sv);
		kt401(c, sv);
		kt404(c, sv);
		bool none = kt501(c, sv);
		kt502(c, sv);
		if (!none)
			kt503(c, sv);
	}
}
