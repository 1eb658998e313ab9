/*
 * Dataplane diff: compares every node's programmed forwarding state
 * (snap->dp) with the EndpointSlices of the same snapshot.
 *   KT601 a ready endpoint is not programmed on the node (propagation lag,
 *         stuck proxy), including Services the node programs not at all;
 *   KT602 the node forwards to an address no EndpointSlice lists;
 *   KT603 more than one proxy backend programs the same Service port;
 * and, for every Service port the node rejects or drops, a finding under
 * the rule that names the cause from the API objects (kt_dp_explain():
 * KT502 named targetPort, KT501 selector, KT503 no usable endpoint, KT103
 * Local traffic policy without a local endpoint).
 * Evidence is structured ("node=..; endpoint=IP:PORT; mode=..;
 * triggerTime=..; lastSync=..") so renderers can pick fields; it carries
 * the EndpointSlice last-change-trigger-time and kube-proxy's last sync.
 * Pure: no I/O; results in the caller's arena and findings vector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktrace/analyze.h"
#include "ktrace/arena.h"
#include "ktrace/dataplane.h"
#include "ktrace/util.h"
#include "ktrace/xalloc.h"

static const char *iso(struct kt_arena *a, int64_t unix_s)
{
	if (unix_s <= 0)
		return "unknown";
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	char b[32];
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return kt_arena_strdup(a, b);
}

static bool is_v6(const char *ip)
{
	return ip && strchr(ip, ':');
}

static bool seq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *ep_str(struct kt_arena *a, const char *ip, int32_t port)
{
	return is_v6(ip) ? kt_arena_printf(a, "[%s]:%d", ip, port) : kt_arena_printf(a, "%s:%d", ip, port);
}

static const char *spn(struct kt_arena *a, const char *ns, const char *name, const char *port)
{
	if (port && port[0])
		return kt_arena_printf(a, "%s/%s:%s", ns, name, port);
	return kt_arena_printf(a, "%s/%s", ns, name);
}

static const char *sync_ev(struct kt_arena *a, const struct kt_dp_node *n, int64_t now)
{
	if (!n->metrics.present || n->metrics.last_sync <= 0)
		return "lastSync=unknown";
	return kt_arena_printf(a, "lastSync=%s (%llds ago)", iso(a, (int64_t)n->metrics.last_sync),
			       (long long)(now - (int64_t)n->metrics.last_sync));
}

static const struct kt_meta *meta_for(const struct kt_snapshot *s, struct kt_arena *a, const char *ns,
				      const char *name)
{
	uint32_t si = kt_find_service(s, ns, name);
	if (si != KT_NONE)
		return &s->services[si].meta;
	struct kt_meta *m = KT_ANEW(a, struct kt_meta, 1);
	m->kind = "Service";
	m->namespace = kt_arena_strdup(a, ns);
	m->name = kt_arena_strdup(a, name);
	return m;
}

static bool programmed(const struct kt_dp_service *d, const char *ip, int32_t port)
{
	for (uint32_t i = 0; i < d->n_be; i++)
		if (d->be[i].port == port && strcmp(d->be[i].ip, ip) == 0)
			return true;
	for (uint32_t i = 0; i < d->n_ext_be; i++)
		if (d->ext_be[i].port == port && strcmp(d->ext_be[i].ip, ip) == 0)
			return true;
	return false;
}

/* does svc sv have a port named port_name with protocol proto? */
static bool svc_has_port(const struct kt_service *sv, const char *port_name, const char *proto)
{
	for (uint32_t i = 0; i < sv->n_ports; i++)
		if (seq(sv->ports[i].name, port_name) && seq(sv->ports[i].protocol ? sv->ports[i].protocol : "TCP", proto))
			return true;
	return false;
}

static void diff_service(const struct kt_snapshot *s, struct kt_arena *a, struct kt_findings *out,
			 const struct kt_dp_node *n, const struct kt_dp_service *d, bool fam4, bool fam6,
			 int64_t now)
{
	uint32_t si = kt_find_service(s, d->namespace, d->name);
	const struct kt_service *sv = si != KT_NONE ? &s->services[si] : NULL;
	const char *name = spn(a, d->namespace, d->name, d->port_name);
	const char *mode = kt_dp_mode_name(d->mode);
	/* KT602: programmed backends nobody lists */
	const struct kt_dp_backend *sets[2] = {d->be, d->ext_be};
	uint32_t ns[2] = {d->n_be, d->n_ext_be};
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; i < ns[k]; i++) {
			const struct kt_dp_backend *b = &sets[k][i];
			if (k == 1 && programmed(&(struct kt_dp_service){.be = d->be, .n_be = d->n_be}, b->ip, b->port))
				continue; /* already checked in the internal set */
			bool listed = false;
			for (uint32_t e = 0; sv && e < sv->ep_count && !listed; e++) {
				const struct kt_endpoint *ep = &s->endpoints[sv->ep_first + e];
				listed = seq(ep->port_name, d->port_name) && ep->port == b->port && seq(ep->ip, b->ip);
			}
			if (listed)
				continue;
			struct kt_finding *f = kt_finding_add(out, a, KT_R_KT602, meta_for(s, a, d->namespace, d->name),
							      "node %s still forwards %s to %s, which no EndpointSlice lists",
							      n->node, name, ep_str(a, b->ip, b->port));
			f->evidence = kt_arena_printf(a, "node=%s; endpoint=%s; mode=%s; %s", n->node,
						      ep_str(a, b->ip, b->port), mode, sync_ev(a, n, now));
		}
	/* KT601: ready endpoints not programmed */
	if (!sv || sv->headless || sv->type == KT_SVC_EXTERNALNAME)
		return;
	/* topology hints: when every ready endpoint carries zone hints, kube-proxy
	 * programs only the endpoints hinted for this node's zone */
	uint32_t ni = kt_find_node(s, n->node);
	const char *zone = ni != KT_NONE ? s->nodes[ni].zone : NULL;
	bool all_hinted = zone != NULL;
	for (uint32_t e = 0; e < sv->ep_count && all_hinted; e++) {
		const struct kt_endpoint *ep = &s->endpoints[sv->ep_first + e];
		if (ep->ready && seq(ep->port_name, d->port_name) && !ep->n_hint_zones)
			all_hinted = false;
	}
	for (uint32_t e = 0; e < sv->ep_count; e++) {
		const struct kt_endpoint *ep = &s->endpoints[sv->ep_first + e];
		if (!ep->ready || !ep->port || !seq(ep->port_name, d->port_name) ||
		    !seq(ep->protocol ? ep->protocol : "TCP", d->protocol))
			continue; /* port 0: a slice without the port lists the Pod, no endpoint */
		if (all_hinted) {
			bool mine = false;
			for (uint32_t z = 0; z < ep->n_hint_zones && !mine; z++)
				mine = seq(ep->hint_zones[z], zone);
			if (!mine)
				continue;
		}
		if (!ep->ip || (is_v6(ep->ip) ? !fam6 : !fam4))
			continue;
		if (sv->itp_local && !seq(ep->node, n->node) && !sv->n_external_ips && sv->type == KT_SVC_CLUSTERIP)
			continue; /* internalTrafficPolicy: Local programs node-local endpoints only */
		if (programmed(d, ep->ip, ep->port))
			continue;
		struct kt_finding *f = kt_finding_add(out, a, KT_R_KT601, &sv->meta,
						      "ready endpoint %s of %s is not programmed on node %s (%s)",
						      ep_str(a, ep->ip, ep->port), name, n->node, mode);
		f->evidence = kt_arena_printf(a, "node=%s; endpoint=%s; slice=%s; mode=%s; triggerTime=%s; %s", n->node,
					      ep_str(a, ep->ip, ep->port), ep->slice ? ep->slice : "?", mode,
					      iso(a, ep->trigger_time / 1000), sync_ev(a, n, now));
	}
}

static int key_cmp(const struct kt_dp_service *d, const char *ns, const char *name, const char *port)
{
	int c = strcmp(d->namespace ? d->namespace : "", ns ? ns : "");
	if (!c)
		c = strcmp(d->name ? d->name : "", name ? name : "");
	if (!c)
		c = strcmp(d->port_name ? d->port_name : "", port ? port : "");
	return c;
}

/* node services are sorted by (namespace, name, port_name, ...) */
static int dp_key_cmp(const void *key, const void *elem, void *ctx)
{
	const char *const *k = key;
	return -key_cmp(elem, k[0], k[1], k[2]);
}

static bool has_dp(const struct kt_dp_node *n, const char *ns, const char *name, const char *port)
{
	const char *key[3] = {ns, name, port};
	return kt_bsearch_ix(n->svcs, n->n_svcs, sizeof(*n->svcs), key, dp_key_cmp, NULL) != KT_NONE;
}

/* ---- why a frontend rejects or drops ---------------------------------- */

static const struct kt_svc_port *svc_port(const struct kt_service *sv, const struct kt_dp_service *d)
{
	for (uint32_t i = 0; i < sv->n_ports; i++)
		if (seq(sv->ports[i].name, d->port_name) &&
		    seq(sv->ports[i].protocol ? sv->ports[i].protocol : "TCP", d->protocol))
			return &sv->ports[i];
	return NULL;
}

struct ep_tally {
	uint32_t listed, ready, serving_term, local_ready;
	char nodes[160];         /* nodes with a ready endpoint */
};

static void tally(const struct kt_snapshot *s, const struct kt_service *sv, const char *pname, const char *node,
		  struct ep_tally *t)
{
	memset(t, 0, sizeof(*t));
	size_t off = 0;
	for (uint32_t e = 0; e < sv->ep_count; e++) {
		const struct kt_endpoint *ep = &s->endpoints[sv->ep_first + e];
		if (!seq(ep->port_name, pname) || !ep->port)
			continue; /* a slice without the port lists the Pod, not an endpoint */
		t->listed++;
		if (ep->ready) {
			t->ready++;
			if (seq(ep->node, node))
				t->local_ready++;
			else if (ep->node && !strstr(t->nodes, ep->node) && off + strlen(ep->node) + 3 < sizeof(t->nodes))
				off += (size_t)snprintf(t->nodes + off, sizeof(t->nodes) - off, "%s%s", off ? ", " : "", ep->node);
		} else if (ep->serving && ep->terminating) {
			t->serving_term++;
		}
	}
}

/* The selected Pods declare no container port named like the targetPort:
 * the number of Pods looked at (0: none to look at) and one example. */
static uint32_t named_port_missing(const struct kt_snapshot *s, const struct kt_service *sv,
				   const struct kt_svc_port *sp, const char **example)
{
	uint32_t pods = 0;
	*example = NULL;
	if (!sp->target.name || !sp->target.name[0])
		return 0;
	for (uint32_t i = 0; i < s->n_pods; i++) {
		const struct kt_pod *p = &s->pods[i];
		if (!seq(p->meta.namespace, sv->meta.namespace) || !sv->has_selector ||
		    !kt_labels_match_map(&sv->selector, &p->meta.labels))
			continue;
		if (kt_resolve_target_port(sp, &p->spec) != 0)
			return 0; /* one Pod declares it */
		pods++;
		if (!*example)
			*example = p->meta.name;
	}
	return pods;
}

static bool explain_reject(const struct kt_snapshot *s, const struct kt_service *sv, const struct kt_svc_port *sp,
			   const struct ep_tally *t, struct kt_arena *a, struct kt_dp_cause *out)
{
	const char *ex;
	uint32_t np = named_port_missing(s, sv, sp, &ex);
	if (np) {
		out->rule = KT_R_KT502;
		out->text = kt_arena_printf(a, "targetPort '%s' of port %d is declared by no container of the %u selected Pod%s "
					       "(e.g. %s): the EndpointSlices list them without the port, so there is no endpoint to send to",
					    sp->target.name, sp->port, np, np == 1 ? "" : "s", ex ? ex : "?");
		return true;
	}
	if (!t->listed && sv->has_selector) {
		bool any = false;
		for (uint32_t i = 0; i < s->n_pods && !any; i++)
			any = seq(s->pods[i].meta.namespace, sv->meta.namespace) &&
			      kt_labels_match_map(&sv->selector, &s->pods[i].meta.labels);
		out->rule = any ? KT_R_KT503 : KT_R_KT501;
		out->text = any ? "the EndpointSlices list no endpoint for this port"
				: "the selector matches no Pod: the Service has no endpoints";
		return true;
	}
	if (!t->ready && !t->serving_term) {
		out->rule = KT_R_KT503;
		out->text = kt_arena_printf(a, "no usable endpoint: %u listed, none ready and none still serving while "
					       "terminating", t->listed);
		return true;
	}
	if (t->ready || t->serving_term) {
		out->rule = KT_R_KT601;
		out->text = kt_arena_printf(a, "the EndpointSlices list %u usable endpoint%s: the node's rules lag behind them",
					    t->ready + t->serving_term, t->ready + t->serving_term == 1 ? "" : "s");
		return true;
	}
	return false;
}

bool kt_dp_explain(const struct kt_snapshot *s, const struct kt_dp_node *n, const struct kt_dp_service *d,
		   const struct kt_dp_frontend *f, struct kt_arena *a, struct kt_dp_cause *out)
{
	out->rule = KT_RULE_COUNT;
	out->text = NULL;
	if (!f || f->action == KT_DP_FORWARD || d->names_guessed)
		return false;
	uint32_t si = kt_find_service(s, d->namespace, d->name);
	const struct kt_service *sv = si != KT_NONE ? &s->services[si] : NULL;
	const struct kt_svc_port *sp = sv ? svc_port(sv, d) : NULL;
	if (!sp)
		return false;
	struct ep_tally t;
	tally(s, sv, d->port_name, n->node, &t);
	if (f->action == KT_DP_REJECT)
		return explain_reject(s, sv, sp, &t, a, out);
	bool external = f->external;
	if ((external && sv->etp_local) || (!external && sv->itp_local)) {
		if (t.local_ready)
			return false;
		out->rule = KT_R_KT103;
		out->text = kt_arena_printf(a, "%s: Local and no ready endpoint on node %s%s%s%s", external ?
						    "externalTrafficPolicy" : "internalTrafficPolicy", n->node,
					    t.nodes[0] ? " (ready endpoints on " : "", t.nodes, t.nodes[0] ? ")" : "");
		if (external)
			out->text = kt_arena_printf(a, "%s: clients from outside are dropped here; Pods and the node "
						       "itself still reach the endpoints elsewhere", out->text);
		return true;
	}
	return false;
}

/* One finding per Service port a node rejects or drops, under the rule
 * that names the cause (KT601 causes are already per endpoint). */
static void verdict_findings(const struct kt_snapshot *s, struct kt_arena *a, struct kt_findings *out,
			     const struct kt_dp_node *n, const struct kt_dp_service *d, int64_t now)
{
	char fes[512];
	size_t off = 0;
	const struct kt_dp_frontend *first = NULL;
	fes[0] = 0;
	for (uint32_t k = 0; k < d->n_fe; k++) {
		const struct kt_dp_frontend *f = &d->fe[k];
		if (f->action == KT_DP_FORWARD)
			continue;
		if (!first)
			first = f;
		if (off < sizeof(fes) - 64)
			off += (size_t)snprintf(fes + off, sizeof(fes) - off, "%s%s %s", off ? ", " : "",
						kt_fe_kind_name(f->kind), f->ip[0] ? ep_str(a, f->ip, f->port)
										   : kt_arena_printf(a, "*:%d", f->port));
	}
	struct kt_dp_cause c;
	if (!first || !kt_dp_explain(s, n, d, first, a, &c) || c.rule == KT_R_KT601)
		return;
	const char *name = spn(a, d->namespace, d->name, d->port_name);
	struct kt_finding *f = kt_finding_add(out, a, c.rule, meta_for(s, a, d->namespace, d->name), "node %s %s %s (%s): %s",
					      n->node, first->action == KT_DP_REJECT ? "rejects" : "drops", name, fes, c.text);
	f->evidence = kt_arena_printf(a, "node=%s; frontends=%s; action=%s; reason=%s; mode=%s; %s", n->node, fes,
				      kt_dp_action_name(first->action), first->reason ? first->reason : "-",
				      kt_dp_mode_name(d->mode), sync_ev(a, n, now));
}

int kt_dpdiff_findings(const struct kt_snapshot *s, struct kt_arena *a, struct kt_findings *out)
{
	int64_t now = s->taken ? s->taken : (int64_t)time(NULL);
	bool have_api = s->n_services > 0 || s->n_endpoints > 0;
	for (uint32_t ni = 0; ni < s->n_dp; ni++) {
		const struct kt_dp_node *n = &s->dp[ni];
		bool fam4 = false, fam6 = false, kube_proxy = false;
		for (uint32_t i = 0; i < n->n_svcs; i++) {
			const struct kt_dp_service *d = &n->svcs[i];
			for (uint32_t k = 0; k < d->n_fe; k++) {
				if (!d->fe[k].ip[0])
					continue;
				if (is_v6(d->fe[k].ip))
					fam6 = true;
				else
					fam4 = true;
			}
			for (uint32_t k = 0; k < d->n_be; k++) {
				if (is_v6(d->be[k].ip))
					fam6 = true;
				else
					fam4 = true;
			}
			if (d->mode == KT_DP_IPTABLES_NFT || d->mode == KT_DP_IPTABLES_LEGACY || d->mode == KT_DP_NFTABLES)
				kube_proxy = true;
		}
		/* KT603: same service port from several modes (svcs sorted with mode last) */
		for (uint32_t i = 0; i + 1 < n->n_svcs; i++) {
			const struct kt_dp_service *x = &n->svcs[i];
			if (x->names_guessed)
				continue;
			uint32_t j = i + 1;
			char modes[128];
			size_t off = (size_t)snprintf(modes, sizeof(modes), "%s", kt_dp_mode_name(x->mode));
			while (j < n->n_svcs && seq(n->svcs[j].namespace, x->namespace) && seq(n->svcs[j].name, x->name) &&
			       seq(n->svcs[j].port_name, x->port_name) && seq(n->svcs[j].protocol, x->protocol)) {
				if (n->svcs[j].mode != n->svcs[j - 1].mode && off < sizeof(modes))
					off += (size_t)snprintf(modes + off, sizeof(modes) - off, " and %s",
								kt_dp_mode_name(n->svcs[j].mode));
				j++;
			}
			if (j - i > 1 && strstr(modes, " and ")) {
				const char *name = spn(a, x->namespace, x->name, x->port_name);
				struct kt_finding *f = kt_finding_add(out, a, KT_R_KT603, meta_for(s, a, x->namespace, x->name),
								      "%s is programmed by %s on node %s", name, modes, n->node);
				f->evidence = kt_arena_printf(a, "node=%s; modes=%s; %s", n->node, modes, sync_ev(a, n, now));
			}
			i = j - 1;
		}
		if (!have_api)
			continue;
		for (uint32_t i = 0; i < n->n_svcs; i++) {
			const struct kt_dp_service *d = &n->svcs[i];
			if (d->names_guessed)
				continue;
			diff_service(s, a, out, n, d, fam4 || !fam6, fam6, now);
			verdict_findings(s, a, out, n, d, now);
		}
		if (!kube_proxy)
			continue;
		/* Services with ready endpoints that this node does not program at all */
		for (uint32_t si = 0; si < s->n_services; si++) {
			const struct kt_service *sv = &s->services[si];
			if (sv->headless || sv->type == KT_SVC_EXTERNALNAME || !sv->n_cluster_ips)
				continue;
			for (uint32_t e = 0; e < sv->ep_count; e++) {
				const struct kt_endpoint *ep = &s->endpoints[sv->ep_first + e];
				if (!ep->ready || !ep->port || !ep->ip || (is_v6(ep->ip) ? !fam6 : !(fam4 || !fam6)))
					continue;
				if (!svc_has_port(sv, ep->port_name, ep->protocol ? ep->protocol : "TCP"))
					continue;
				if (has_dp(n, sv->meta.namespace, sv->meta.name, ep->port_name))
					continue;
				const char *name = spn(a, sv->meta.namespace, sv->meta.name, ep->port_name);
				struct kt_finding *f = kt_finding_add(out, a, KT_R_KT601, &sv->meta,
								      "ready endpoint %s of %s is not programmed on node %s (the node has no rules for this Service port)",
								      ep_str(a, ep->ip, ep->port), name, n->node);
				f->evidence = kt_arena_printf(a, "node=%s; endpoint=%s; slice=%s; triggerTime=%s; %s", n->node,
							      ep_str(a, ep->ip, ep->port), ep->slice ? ep->slice : "?",
							      iso(a, ep->trigger_time / 1000), sync_ev(a, n, now));
			}
		}
	}
	return 0;
}

/* ---- grouping across nodes ---------------------------------------------- */

#define KT_GROUP_NAMES 8     /* node names spelled out in a grouped message */

/* The node a KT60x finding is about (evidence "node=NAME; ..."). */
static size_t node_of(const struct kt_finding *f, const char **name)
{
	if ((f->rule != KT_R_KT601 && f->rule != KT_R_KT602 && f->rule != KT_R_KT603) || !f->evidence ||
	    strncmp(f->evidence, "node=", 5))
		return 0;
	*name = f->evidence + 5;
	return strcspn(*name, ";");
}

/* The message with " node NAME" cut out: what nodes share. */
static char *shape(struct kt_arena *a, const char *msg, const char *node, size_t nl)
{
	char pat[300];
	snprintf(pat, sizeof(pat), "node %.*s", (int)(nl < 250 ? nl : 250), node);
	const char *hit = strstr(msg, pat);
	if (!hit)
		return kt_arena_strdup(a, msg);
	return kt_arena_printf(a, "%.*s\001%s", (int)(hit - msg), msg, hit + strlen(pat));
}

void kt_dpdiff_group(struct kt_findings *f, struct kt_arena *a)
{
	uint32_t n = f->n;
	char **sh = kt_xcalloc(n + 1, sizeof(*sh));
	bool *gone = kt_xcalloc(n + 1, sizeof(*gone));
	for (uint32_t i = 0; i < n; i++) {
		const char *nm;
		size_t nl = node_of(&f->v[i], &nm);
		sh[i] = nl ? shape(a, f->v[i].message, nm, nl) : NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!sh[i] || gone[i] || !strchr(sh[i], '\001'))
			continue;
		const struct kt_finding *x = &f->v[i];
		uint32_t cnt = 1;
		for (uint32_t j = i + 1; j < n; j++)
			if (!gone[j] && sh[j] && x->rule == f->v[j].rule && !kt_strcmp0(x->obj.namespace, f->v[j].obj.namespace) &&
			    !kt_strcmp0(x->obj.name, f->v[j].obj.name) && !strcmp(sh[i], sh[j]))
				cnt++;
		if (cnt < 2)
			continue;
		/* the node list, in finding order */
		size_t cap = 64 + 80 * KT_GROUP_NAMES;
		char *list = kt_arena_alloc(a, cap), *ev = kt_arena_alloc(a, cap + 16);
		size_t o = 0, eo = (size_t)snprintf(ev, cap, "nodes=");
		uint32_t shown = 0;
		for (uint32_t j = i; j < n; j++) {
			if (j > i && (gone[j] || !sh[j] || x->rule != f->v[j].rule || kt_strcmp0(x->obj.namespace, f->v[j].obj.namespace) ||
				      kt_strcmp0(x->obj.name, f->v[j].obj.name) || strcmp(sh[i], sh[j])))
				continue;
			const char *nm;
			size_t nl = node_of(&f->v[j], &nm);
			if (shown < KT_GROUP_NAMES) {
				o += (size_t)snprintf(list + o, cap - o, "%s%.*s", shown ? ", " : "", (int)(nl < 63 ? nl : 63), nm);
				eo += (size_t)snprintf(ev + eo, cap + 16 - eo, "%s%.*s", shown ? "," : "", (int)(nl < 63 ? nl : 63), nm);
			}
			shown++;
			if (j > i)
				gone[j] = true;
		}
		if (shown > KT_GROUP_NAMES) {
			snprintf(list + o, cap - o, " and %u more", shown - KT_GROUP_NAMES);
			snprintf(ev + eo, cap + 16 - eo, ",+%u", shown - KT_GROUP_NAMES);
		}
		const char *cut = strchr(sh[i], '\001');
		const char *rest = cut + 1;
		/* grammar: "still forwards" -> "still forward" after a plural subject */
		const char *verb = strncmp(rest, " still forwards", 15) ? NULL : rest + 15;
		f->v[i].message = kt_arena_printf(a, "%.*s%u nodes (%s)%s%s", (int)(cut - sh[i]), sh[i], cnt, list,
						  verb ? " still forward" : "", verb ? verb : rest);
		const char *semi = strchr(x->evidence, ';');
		f->v[i].evidence = kt_arena_printf(a, "%s%s", ev, semi ? semi : "");
	}
	uint32_t w = 0;
	for (uint32_t i = 0; i < n; i++)
		if (!gone[i])
			f->v[w++] = f->v[i];
	f->n = w;
	free(sh);
	free(gone);
}
