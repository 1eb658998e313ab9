/*
 * The path analyzer: reconstructs, for one Service, how traffic enters
 * (LB kind and target mode from class/annotations), which nodes the LB
 * targets and why (kt_lb_node_eligible / kt_lb_target_node: the one model
 * the rules share), the dataplane mode and the node's programmed rules when
 * known -- each frontend's verdict, why a rejected or dropped one is
 * (kt_dp_explain), and which backend set applies -- and every endpoint;
 * then attaches the rule findings for this Service. Pure: reads a
 * finished snapshot, allocates in the given arena.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ktrace/analyze.h"
#include "ktrace/path.h"

static const char *ann(const struct kt_service *s, const char *key)
{
	return kt_kv_get(&s->meta.annotations, key);
}

static bool has_ann_prefix(const struct kt_service *s, const char *prefix)
{
	size_t l = strlen(prefix);
	for (uint32_t i = 0; i < s->meta.annotations.n; i++)
		if (!strncmp(s->meta.annotations.v[i].key, prefix, l))
			return true;
	return false;
}

const char *kt_lb_kind(const struct kt_service *s, const char **evidence, enum kt_lb_target *target,
		       const char **target_reason, bool *internal)
{
	*evidence = NULL;
	*internal = false;
	*target = KT_LBT_NONE;
	*target_reason = NULL;
	if (s->type != KT_SVC_LOADBALANCER)
		return NULL;
	*target = KT_LBT_NODES;
	*target_reason = "the LB sends to node NodePorts (instance targets)";
	const char *awstype = ann(s, "service.beta.kubernetes.io/aws-load-balancer-type");
	const char *tt = ann(s, "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type");
	const char *scheme = ann(s, "service.beta.kubernetes.io/aws-load-balancer-scheme");
	const char *awsint = ann(s, "service.beta.kubernetes.io/aws-load-balancer-internal");
	if ((s->lb_class && !strcmp(s->lb_class, "service.k8s.aws/nlb")) || (awstype && (!strcmp(awstype, "external") ||
										       !strcmp(awstype, "nlb-ip")))) {
		*evidence = s->lb_class && !strcmp(s->lb_class, "service.k8s.aws/nlb") ?
				    "spec.loadBalancerClass: service.k8s.aws/nlb" :
				    "annotation service.beta.kubernetes.io/aws-load-balancer-type";
		*internal = !scheme || strcmp(scheme, "internet-facing") != 0;
		if ((tt && !strcmp(tt, "ip")) || (awstype && !strcmp(awstype, "nlb-ip"))) {
			*target = KT_LBT_PODS;
			*target_reason = "AWS NLB target type ip: the LB sends straight to Pod IPs, bypassing NodePort and kube-proxy";
		} else {
			*target_reason = "AWS NLB target type instance: the LB sends to every target node's NodePort";
		}
		return "aws-nlb (AWS Load Balancer Controller)";
	}
	if (awstype && !strcmp(awstype, "nlb")) {
		*evidence = "annotation service.beta.kubernetes.io/aws-load-balancer-type: nlb";
		*internal = awsint && strcmp(awsint, "false") != 0;
		*target_reason = "in-tree AWS NLB with instance targets: the LB sends to node NodePorts";
		return "aws-nlb (in-tree)";
	}
	if (has_ann_prefix(s, "service.beta.kubernetes.io/aws-load-balancer-")) {
		*evidence = "service.beta.kubernetes.io/aws-load-balancer-* annotations";
		*internal = awsint && strcmp(awsint, "false") != 0;
		*target_reason = "AWS classic ELB: the LB sends to node NodePorts";
		return "aws-classic-elb";
	}
	if (has_ann_prefix(s, "service.beta.kubernetes.io/azure-")) {
		const char *i = ann(s, "service.beta.kubernetes.io/azure-load-balancer-internal");
		*internal = i && !strcmp(i, "true");
		*evidence = "service.beta.kubernetes.io/azure-* annotations";
		const char *nofip = ann(s, "service.beta.kubernetes.io/azure-disable-load-balancer-floating-ip");
		*target_reason = nofip && !strcmp(nofip, "true") ?
					 "Azure LB without floating IP: packets arrive at node IP:NodePort" :
					 "Azure LB with floating IP: packets arrive at the nodes addressed to the LB IP";
		return "azure-lb";
	}
	const char *neg = ann(s, "cloud.google.com/neg");
	if (neg && strstr(neg, "exposed_ports")) {
		*evidence = "annotation cloud.google.com/neg";
		*target = KT_LBT_PODS;
		*target_reason = "GKE container-native load balancing (NEG): the LB sends straight to Pod IPs";
		return "gcp-neg";
	}
	const char *gt = ann(s, "networking.gke.io/load-balancer-type");
	if (gt || ann(s, "cloud.google.com/l4-rbs") || ann(s, "cloud.google.com/load-balancer-type")) {
		*evidence = gt ? "annotation networking.gke.io/load-balancer-type" : "cloud.google.com annotations";
		*internal = gt && !strcasecmp(gt, "Internal");
		*target_reason = "GCP passthrough L4 LB: packets arrive at the nodes addressed to the LB IP";
		return *internal ? "gcp-internal-l4" : "gcp-l4";
	}
	if (has_ann_prefix(s, "metallb.universe.tf/") || has_ann_prefix(s, "metallb.io/") ||
	    (s->lb_class && strstr(s->lb_class, "metallb"))) {
		*evidence = "metallb annotations or class";
		*target_reason = "MetalLB: one node (L2) or every node (BGP) attracts the LB IP";
		return "metallb";
	}
	if (s->lb_class) {
		*evidence = "spec.loadBalancerClass";
		return s->lb_class;
	}
	for (uint32_t i = 0; i < s->n_ingress; i++) {
		const char *h = s->ingress[i].hostname;
		if (h && strstr(h, ".elb.amazonaws.com")) {
			*evidence = "status.loadBalancer.ingress hostname *.elb.amazonaws.com";
			*target_reason = "AWS ELB/NLB from the in-tree provider: the LB sends to node NodePorts";
			return "aws-elb";
		}
	}
	*evidence = "no provider annotation or class";
	return "cloud default";
}

/* Count ready endpoint addresses on node_ix (or all nodes when KT_NONE),
 * for the first port name of the Service's endpoints. */
static void count_local(const struct kt_snapshot *s, const struct kt_service *svc, uint32_t node_ix, uint32_t *ready,
			uint32_t *total)
{
	*ready = *total = 0;
	if (!svc->ep_count)
		return;
	/* one port and one address family: dual-stack Pods count once */
	const char *pn = s->endpoints[svc->ep_first].port_name;
	const char *fam = s->endpoints[svc->ep_first].address_type;
	for (uint32_t i = svc->ep_first; i < svc->ep_first + svc->ep_count; i++) {
		const struct kt_endpoint *e = &s->endpoints[i];
		if (strcmp(e->port_name, pn) || (fam && e->address_type && strcmp(fam, e->address_type)))
			continue;
		if (node_ix != KT_NONE && e->node_ix != node_ix)
			continue;
		(*total)++;
		if (e->ready)
			(*ready)++;
	}
}

bool kt_lb_node_eligible(const struct kt_snapshot *s, uint32_t node_ix, const char **reason)
{
	const struct kt_node *n = &s->nodes[node_ix];
	if (n->exclude_lb) {
		*reason = "labelled node.kubernetes.io/exclude-from-external-load-balancers";
		return false;
	}
	if (n->unschedulable) {
		*reason = "cordoned (unschedulable)";
		return false;
	}
	if (!n->ready) {
		*reason = "the node is NotReady";
		return false;
	}
	*reason = "every schedulable node";
	return true;
}

bool kt_lb_target_node(const struct kt_snapshot *s, uint32_t svc_ix, uint32_t node_ix, const char **reason)
{
	const struct kt_service *svc = &s->services[svc_ix];
	if (!kt_lb_node_eligible(s, node_ix, reason)) {
		if (!svc->etp_local && !s->nodes[node_ix].ready && !s->nodes[node_ix].exclude_lb &&
		    !s->nodes[node_ix].unschedulable)
			*reason = "Cluster policy, but the node is NotReady";
		return false;
	}
	if (!svc->etp_local) {
		*reason = "Cluster policy: every schedulable node";
		return true;
	}
	uint32_t r, t;
	count_local(s, svc, node_ix, &r, &t);
	if (r > 0) {
		*reason = "Local policy: has a ready local endpoint (health check passes)";
		return true;
	}
	*reason = "Local policy: no ready local endpoint, health check fails";
	return false;
}

double kt_cross_node_share(const struct kt_snapshot *s, uint32_t svc_ix)
{
	const struct kt_service *svc = &s->services[svc_ix];
	uint32_t all_ready, all_total;
	count_local(s, svc, KT_NONE, &all_ready, &all_total);
	if (!all_ready)
		return -1;
	double sum = 0;
	uint32_t targets = 0;
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		const char *why;
		if (!kt_lb_target_node(s, svc_ix, i, &why))
			continue;
		uint32_t r, t;
		count_local(s, svc, i, &r, &t);
		sum += 1.0 - (double)r / all_ready;
		targets++;
	}
	return targets ? sum / targets : -1;
}

static const struct kt_snapshot *g_snap; /* qsort context (single-threaded) */

static int ep_order(const void *a, const void *b)
{
	const struct kt_endpoint *x = &g_snap->endpoints[*(const uint32_t *)a];
	const struct kt_endpoint *y = &g_snap->endpoints[*(const uint32_t *)b];
	int c = strcmp(x->port_name, y->port_name);
	if (c)
		return c;
	int rx = x->ready ? 0 : x->serving ? 1 : 2, ry = y->ready ? 0 : y->serving ? 1 : 2;
	if (rx != ry)
		return rx - ry;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static bool same_backends(const struct kt_dp_service *d)
{
	if (d->n_be != d->n_ext_be)
		return false;
	for (uint32_t i = 0; i < d->n_be; i++)
		if (d->be[i].port != d->ext_be[i].port || strcmp(d->be[i].ip, d->ext_be[i].ip) != 0 ||
		    d->be[i].probability - d->ext_be[i].probability > 1e-9 ||
		    d->ext_be[i].probability - d->be[i].probability > 1e-9)
			return false;
	return true;
}

/* One Service port as node dn programs it: each frontend's verdict and
 * cause, and which backend sets apply. */
static void programmed(const struct kt_snapshot *s, const struct kt_dp_node *dn, const struct kt_dp_service *d,
		       struct kt_arena *a, struct kt_path_dp *out)
{
	out->node = dn;
	out->svc = d;
	out->fes = KT_ANEW(a, struct kt_path_fe, d->n_fe ? d->n_fe : 1);
	for (uint32_t k = 0; k < d->n_fe; k++) {
		struct kt_path_fe *pf = &out->fes[out->n_fes++];
		pf->fe = &d->fe[k];
		if (!kt_dp_explain(s, dn, d, pf->fe, a, &pf->cause))
			pf->cause.rule = KT_RULE_COUNT;
		if (pf->fe->action != KT_DP_FORWARD || pf->fe->kind == KT_FE_HEALTHCHECK)
			continue;
		if (pf->fe->external)
			out->external_set = true;
		else
			out->internal_set = true;
	}
	/* no frontend at all (large-cluster dumps, old bundles): the sets themselves */
	if (!d->n_fe) {
		out->internal_set = d->n_be > 0;
		out->external_set = d->n_ext_be > 0;
	}
	out->ext_differs = out->external_set && (d->local_only || !same_backends(d));
}

int kt_path_analyze(const struct kt_snapshot *s, const struct kt_path_query *q, struct kt_arena *a,
		    struct kt_path_result **out)
{
	struct kt_path_result *r = KT_ANEW(a, struct kt_path_result, 1);
	const struct kt_service *svc = &s->services[q->svc];
	r->svc = q->svc;
	r->lb_kind = kt_lb_kind(svc, &r->lb_kind_evidence, &r->lb_target, &r->lb_target_reason, &r->lb_internal);

	/* nodes */
	r->nodes = KT_ANEW(a, struct kt_path_node, s->n_nodes ? s->n_nodes : 1);
	for (uint32_t i = 0; i < s->n_nodes; i++) {
		struct kt_path_node *pn = &r->nodes[r->n_nodes++];
		pn->node = i;
		count_local(s, svc, i, &pn->local_ready, &pn->local_total);
		if (svc->type == KT_SVC_LOADBALANCER && r->lb_target == KT_LBT_NODES) {
			pn->lb_target = kt_lb_target_node(s, q->svc, i, &pn->reason);
		} else if (svc->type == KT_SVC_LOADBALANCER) {
			pn->reason = "LB targets Pod IPs directly";
		} else if (svc->type == KT_SVC_NODEPORT) {
			pn->lb_target = kt_lb_target_node(s, q->svc, i, &pn->reason);
		}
		if (pn->lb_target)
			r->n_lb_targets++;
	}

	/* endpoints */
	r->eps = KT_ANEW(a, uint32_t, svc->ep_count ? svc->ep_count : 1);
	const char *first_pn = svc->ep_count ? s->endpoints[svc->ep_first].port_name : NULL;
	const char *first_fam = svc->ep_count ? s->endpoints[svc->ep_first].address_type : NULL;
	for (uint32_t i = svc->ep_first; i < svc->ep_first + svc->ep_count; i++) {
		const struct kt_endpoint *e = &s->endpoints[i];
		r->eps[r->n_eps++] = i;
		if (strcmp(e->port_name, first_pn) ||
		    (first_fam && e->address_type && strcmp(first_fam, e->address_type)))
			continue;
		r->n_addresses++;
		if (e->ready)
			r->n_ready++;
		else if (e->serving && e->terminating)
			r->n_serving_terminating++;
		else
			r->n_not_ready++;
	}
	g_snap = s;
	if (r->n_eps > 1)
		qsort(r->eps, r->n_eps, sizeof(*r->eps), ep_order);

	bool via_nodes = (svc->type == KT_SVC_LOADBALANCER && r->lb_target == KT_LBT_NODES) ||
			 svc->type == KT_SVC_NODEPORT;
	r->cross_node_share = via_nodes && !svc->etp_local ? kt_cross_node_share(s, q->svc) : -1;

	/* dataplane: programmed state on nodes */
	bool bundle = s->source && (!strcmp(s->source, "bundle") || !strcmp(s->source, "demo"));
	uint32_t cap = 0;
	for (uint32_t i = 0; i < s->n_dp; i++)
		cap += s->dp[i].n_svcs;
	r->dp = KT_ANEW(a, struct kt_path_dp, cap ? cap : 1);
	uint32_t modes = 0;
	for (uint32_t i = 0; i < s->n_dp; i++) {
		const struct kt_dp_node *dn = &s->dp[i];
		modes |= dn->modes;
		for (uint32_t j = 0; j < dn->n_svcs; j++)
			if (dn->svcs[j].svc == q->svc)
				programmed(s, dn, &dn->svcs[j], a, &r->dp[r->n_dp++]);
	}
	if (modes) {
		int m = 0;
		while (m < KT_DP_MODE_COUNT && !(modes & (1u << m)))
			m++;
		r->mode = kt_dp_mode_name((enum kt_dp_mode)m);
		r->mode_source = bundle ? "bundle" : "node";
		r->mode_evidence = "programmed rules read on the node";
	} else if (s->proxy.mode) {
		r->mode = s->proxy.mode;
		r->mode_source = bundle ? "bundle" : "api";
		r->mode_evidence = s->proxy.source;
	} else {
		r->mode = "unknown";
		r->mode_source = bundle ? "bundle" : "api";
		r->mode_evidence = "no kube-proxy or cilium-config ConfigMap readable";
	}

	if (!q->no_findings) {
		/* the rules for this Service, plus node state: stale or missing
		 * rules, and measured imbalance (the same composition as check) */
		struct kt_check_query cq = {
			.rules = {.live = strcmp(s->source ? s->source : "", "manifests") != 0},
			.svc = q->svc,
		};
		kt_check_analyze(s, &cq, a, &r->findings);
	}
	*out = r;
	return 0;
}
