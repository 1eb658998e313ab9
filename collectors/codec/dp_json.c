/*
 * Node dataplane state as JSON: the `ktrace dataplane -o json` per-node
 * object documented in ktrace-dataplane(1), written with the one JSON writer, and read back from
 * bundles into snap->dp. kt_dp_service_to_json() is the one writer of a
 * programmed Service (also used by `ktrace path -o json`). Both directions use the same keys so a bundle
 * round-trips exactly. Extra keys beyond the core ones: node "source", "notes",
 * "metrics"; service "mode", "scheduler", "shareBasis", "chainHash",
 * "namesGuessed", "notes"; frontend "action", "reason", "sourceRanges",
 * "kindGuessed"; backend "weightShare", "weight", "activeConns",
 * "inactiveConns", "state".
 * Diff findings (KT601-KT603 from analyzers/dpdiff.c) are written from
 * their structured evidence ("node=..; endpoint=IP:PORT; ...").
 * Must not: print, judge.
 */
#include <stdlib.h>
#include <string.h>

#include "collectors/codec/codec.h"
#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"

/* probability: the true share of new connections, or null where the
 * scheduler makes it depend on open connections or on who the clients are
 * (then weightShare says what the weights alone would give) */
static void be_json(struct kt_jw *w, const struct kt_dp_service *s, const struct kt_dp_backend *b, uint32_t n)
{
	bool known = kt_dp_share_known(s);
	kt_jw_arr(w);
	for (uint32_t i = 0; i < n; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "ip", b[i].ip);
		kt_jw_kint(w, "port", b[i].port);
		if (known)
			kt_jw_kdouble(w, "probability", b[i].probability);
		else
			kt_jw_knull(w, "probability");
		if (s->mode == KT_DP_IPVS)
			kt_jw_kdouble(w, "weightShare", b[i].probability);
		kt_jw_kbool(w, "local", b[i].local);
		if (b[i].weight)
			kt_jw_kint(w, "weight", b[i].weight);
		if (b[i].active_conns || b[i].inactive_conns) {
			kt_jw_kuint(w, "activeConns", b[i].active_conns);
			kt_jw_kuint(w, "inactiveConns", b[i].inactive_conns);
		}
		if (b[i].state)
			kt_jw_kstr(w, "state", b[i].state);
		if (b[i].affinity_clients)
			kt_jw_kuint(w, "affinityClients", b[i].affinity_clients);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
}

/* value of "key=" in a "k=v; k=v" evidence string, copied into buf */
static const char *ev_field(const char *ev, const char *key, char *buf, size_t n)
{
	if (!ev)
		return NULL;
	size_t kl = strlen(key);
	const char *p = ev;
	while ((p = strstr(p, key))) {
		if ((p == ev || p[-1] == ' ' || p[-1] == ';') && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t l = strcspn(v, ";");
			if (l >= n)
				l = n - 1;
			memcpy(buf, v, l);
			buf[l] = 0;
			return buf;
		}
		p += kl;
	}
	return NULL;
}

void kt_dp_service_to_json(struct kt_jw *w, const struct kt_dp_service *s, const char *node,
			   enum kt_dp_svc_view view, kt_dp_fe_extra_fn fe_extra, const void *ctx)
{
	bool full = view == KT_DPJ_FULL;
	kt_jw_obj(w);
	if (node)
		kt_jw_kstr(w, "node", node);
	if (full) {
		kt_jw_kstr(w, "namespace", s->namespace);
		kt_jw_kstr(w, "name", s->name);
	} else {
		kt_jw_kstr(w, "mode", kt_dp_mode_name(s->mode));
	}
	kt_jw_kstr(w, "portName", s->port_name);
	if (full) {
		kt_jw_kstr(w, "protocol", s->protocol);
		kt_jw_kstr(w, "mode", kt_dp_mode_name(s->mode));
		if (s->chain_hash)
			kt_jw_kstr(w, "chainHash", s->chain_hash);
		if (s->names_guessed)
			kt_jw_kbool(w, "namesGuessed", true);
		if (s->scheduler)
			kt_jw_kstr(w, "scheduler", s->scheduler);
		kt_jw_kstr(w, "shareBasis", kt_share_basis_name(s->share_basis));
		if (s->lb_algorithm)
			kt_jw_kstr(w, "lbAlgorithm", s->lb_algorithm);
		if (s->n_source_ranges) {
			kt_jw_key(w, "sourceRanges");
			kt_jw_arr(w);
			for (uint32_t k = 0; k < s->n_source_ranges; k++)
				kt_jw_str(w, s->source_ranges[k]);
			kt_jw_arr_end(w);
		}
	}
	kt_jw_key(w, "frontends");
	kt_jw_arr(w);
	for (uint32_t k = 0; k < s->n_fe; k++) {
		const struct kt_dp_frontend *f = &s->fe[k];
		kt_jw_obj(w);
		kt_jw_kstr(w, "kind", kt_fe_kind_name(f->kind));
		kt_jw_kstr(w, "ip", f->ip);
		kt_jw_kint(w, "port", f->port);
		kt_jw_kstr(w, "backendSet", f->external ? "external" : "internal");
		kt_jw_kstr(w, "action", kt_dp_action_name(f->action));
		if (f->reason)
			kt_jw_kstr(w, "reason", f->reason);
		if (f->n_source_ranges) {
			kt_jw_key(w, "sourceRanges");
			kt_jw_arr(w);
			for (uint32_t r = 0; r < f->n_source_ranges; r++)
				kt_jw_str(w, f->source_ranges[r]);
			kt_jw_arr_end(w);
		}
		if (f->kind_guessed)
			kt_jw_kbool(w, "kindGuessed", true);
		if (fe_extra)
			fe_extra(w, k, ctx);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	if (!full)
		kt_jw_kstr(w, "shareBasis", kt_share_basis_name(s->share_basis));
	kt_jw_key(w, "backends");
	be_json(w, s, s->be, s->n_be);
	kt_jw_key(w, "externalBackends");
	be_json(w, s, s->ext_be, s->n_ext_be);
	if (full) {
		kt_jw_key(w, "affinity");
		kt_jw_obj(w);
		kt_jw_kstr(w, "mode", s->affinity ? "clientIP" : s->source_hash ? "sourceHash" : "none");
		if (s->affinity)
			kt_jw_kint(w, "timeoutSeconds", s->affinity_timeout);
		else
			kt_jw_knull(w, "timeoutSeconds");
		kt_jw_obj_end(w);
	}
	if (s->masq_unknown)
		kt_jw_knull(w, "masquerade");   /* the rules' layout does not say (see notes) */
	else
		kt_jw_kbool(w, "masquerade", s->masquerade);
	kt_jw_kbool(w, "localOnly", s->local_only);
	if (full && s->n_notes) {
		kt_jw_key(w, "notes");
		kt_jw_arr(w);
		for (uint32_t k = 0; k < s->n_notes; k++)
			kt_jw_str(w, s->notes[k]);
		kt_jw_arr_end(w);
	}
	if (full) {
		kt_jw_key(w, "evidence");
		kt_jw_arr(w);
		for (uint32_t k = 0; k < s->n_ev; k++) {
			const struct kt_dp_evidence *e = &s->ev[k];
			kt_jw_obj(w);
			kt_jw_kstr(w, "mode", kt_dp_mode_name(e->mode));
			kt_jw_kstr(w, "table", e->table);
			kt_jw_kstr(w, "chain", e->chain);
			if (e->map_key)
				kt_jw_kstr(w, "mapKey", e->map_key);
			else
				kt_jw_kuint(w, "handle", e->handle);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
	}
	kt_jw_obj_end(w);
}

void kt_dp_node_to_json(struct kt_jw *w, const struct kt_dp_node *n, const struct kt_findings *diff)
{
	kt_jw_obj(w);
	kt_jw_kstr(w, "node", n->node);
	kt_jw_key(w, "modes");
	kt_jw_arr(w);
	for (int m = 0; m < KT_DP_MODE_COUNT; m++)
		if (n->modes & (1u << m))
			kt_jw_str(w, kt_dp_mode_name((enum kt_dp_mode)m));
	kt_jw_arr_end(w);
	kt_jw_kstr(w, "source", n->source);
	if (n->n_notes) {
		kt_jw_key(w, "notes");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < n->n_notes; i++)
			kt_jw_str(w, n->notes[i]);
		kt_jw_arr_end(w);
	}
	if (n->metrics.present) {
		const struct kt_proxy_metrics *m = &n->metrics;
		kt_jw_key(w, "metrics");
		kt_jw_obj(w);
		kt_jw_kdouble(w, "lastSync", m->last_sync);
		kt_jw_kdouble(w, "lastQueued", m->last_queued);
		kt_jw_kuint(w, "latencyCount", m->latency_count);
		kt_jw_kdouble(w, "latencySum", m->latency_sum);
		kt_jw_kstr(w, "proxyMode", m->proxy_mode);
		kt_jw_key(w, "buckets");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < m->n_buckets; i++) {
			kt_jw_obj(w);
			kt_jw_kdouble(w, "le", m->bucket_le[i]);
			kt_jw_kuint(w, "count", m->bucket_count[i]);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
		kt_jw_obj_end(w);
	}
	kt_jw_key(w, "services");
	kt_jw_arr(w);
	for (uint32_t i = 0; i < n->n_svcs; i++)
		kt_dp_service_to_json(w, &n->svcs[i], NULL, KT_DPJ_FULL, NULL, NULL);
	kt_jw_arr_end(w);
	if (diff) {
		char want[300];
		snprintf(want, sizeof(want), "node=%s", n->node ? n->node : "");
		kt_jw_key(w, "diff");
		kt_jw_arr(w);
		for (uint32_t i = 0; i < diff->n; i++) {
			const struct kt_finding *f = &diff->v[i];
			char nb[256], ep[128];
			const char *fn = ev_field(f->evidence, "node", nb, sizeof(nb));
			if (fn && n->node && strcmp(fn, n->node) != 0)
				continue;
			kt_jw_obj(w);
			kt_jw_kstr(w, "id", kt_rules[f->rule].id);
			kt_jw_kstr(w, "namespace", f->obj.namespace);
			kt_jw_kstr(w, "name", f->obj.name);
			const char *e = ev_field(f->evidence, "endpoint", ep, sizeof(ep));
			char *colon = e ? strrchr(ep, ':') : NULL;
			if (colon) {
				*colon = 0;
				const char *ip = ep;
				if (ip[0] == '[') {
					ip++;
					char *rb = strchr(ep, ']');
					if (rb)
						*rb = 0;
				}
				kt_jw_kstr(w, "ip", ip);
				kt_jw_kint(w, "port", atoi(colon + 1));
			} else {
				kt_jw_knull(w, "ip");
				kt_jw_knull(w, "port");
			}
			kt_jw_kstr(w, "severity", kt_severity_name(f->severity));
			kt_jw_kstr(w, "message", f->message);
			kt_jw_kstr(w, "evidence", f->evidence);
			kt_jw_obj_end(w);
		}
		kt_jw_arr_end(w);
	}
	kt_jw_obj_end(w);
}

/* ---- reader --------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static bool jbool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int mode_of(const char *s)
{
	for (int m = 0; s && m < KT_DP_MODE_COUNT; m++)
		if (strcmp(s, kt_dp_mode_name((enum kt_dp_mode)m)) == 0)
			return m;
	return -1;
}

static int kind_of(const char *s)
{
	static const enum kt_fe_kind ks[] = {KT_FE_CLUSTERIP, KT_FE_NODEPORT, KT_FE_EXTERNALIP, KT_FE_LOADBALANCER,
					     KT_FE_HEALTHCHECK, KT_FE_EXTERNAL};
	for (size_t i = 0; s && i < sizeof(ks) / sizeof(ks[0]); i++)
		if (strcmp(s, kt_fe_kind_name(ks[i])) == 0)
			return (int)ks[i];
	return -1;
}

static int action_of(const char *s)
{
	for (int a = KT_DP_FORWARD; s && a <= KT_DP_DROP; a++)
		if (strcmp(s, kt_dp_action_name((enum kt_dp_action)a)) == 0)
			return a;
	return -1;
}

static int basis_of(const char *s)
{
	for (int b = KT_SHARE_PROBABILITY; s && b <= KT_SHARE_HASH; b++)
		if (strcmp(s, kt_share_basis_name((enum kt_share_basis)b)) == 0)
			return b;
	return -1;
}

static int bad(struct kt_diag *d, const char *what)
{
	return kt_diag_set(d, KT_EXIT_INPUT, "bundle node state: %s", what);
}

static int read_backends(struct kt_snapshot *snap, struct kt_dp_service *s, const cJSON *arr, bool ext,
			 struct kt_diag *d)
{
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return bad(d, "backends is not an array");
	const cJSON *b;
	cJSON_ArrayForEach(b, arr) {
		const char *ip = jstr(b, "ip");
		if (!cJSON_IsObject(b) || !ip)
			return bad(d, "backend without ip");
		/* probability null: the weight share stands in (shareBasis says so) */
		double p = jnum(b, "probability", jnum(b, "weightShare", 0));
		struct kt_dp_backend *x = kt_dpbuild_be(snap, s, ext, ip, (int32_t)jnum(b, "port", 0), p);
		x->local = jbool(b, "local");
		x->weight = (int32_t)jnum(b, "weight", 0);
		x->active_conns = (uint32_t)jnum(b, "activeConns", 0);
		x->inactive_conns = (uint32_t)jnum(b, "inactiveConns", 0);
		if (jstr(b, "state"))
			x->state = kt_intern(snap->arena, jstr(b, "state"));
		double ac = jnum(b, "affinityClients", 0);
		x->affinity_clients = ac > 0 && ac < 4e9 ? (uint32_t)ac : 0;
	}
	return 0;
}

int kt_dp_node_from_json(struct kt_snapshot *snap, const cJSON *obj, struct kt_diag *d)
{
	if (!cJSON_IsObject(obj))
		return bad(d, "node entry is not an object");
	const char *name = jstr(obj, "node");
	if (!name)
		return bad(d, "node entry without \"node\"");
	struct kt_dp_node *n = kt_dpbuild_node(snap, name, jstr(obj, "source") ? jstr(obj, "source") : "bundle");
	const cJSON *modes = cJSON_GetObjectItemCaseSensitive(obj, "modes");
	int first_mode = -1;
	const cJSON *m;
	cJSON_ArrayForEach(m, modes) {
		int mi = cJSON_IsString(m) ? mode_of(m->valuestring) : -1;
		if (mi >= 0) {
			n->modes |= 1u << mi;
			if (first_mode < 0)
				first_mode = mi;
		}
	}
	const cJSON *notes = cJSON_GetObjectItemCaseSensitive(obj, "notes");
	cJSON_ArrayForEach(m, notes)
		if (cJSON_IsString(m))
			kt_dpbuild_note(snap, n, "%s", m->valuestring);
	const cJSON *met = cJSON_GetObjectItemCaseSensitive(obj, "metrics");
	if (cJSON_IsObject(met)) {
		struct kt_proxy_metrics *pm = &n->metrics;
		pm->present = true;
		pm->last_sync = jnum(met, "lastSync", 0);
		pm->last_queued = jnum(met, "lastQueued", 0);
		pm->latency_count = (uint64_t)jnum(met, "latencyCount", 0);
		pm->latency_sum = jnum(met, "latencySum", 0);
		pm->proxy_mode = kt_intern(snap->arena, jstr(met, "proxyMode"));
		const cJSON *bk = cJSON_GetObjectItemCaseSensitive(met, "buckets");
		int nb = cJSON_IsArray(bk) ? cJSON_GetArraySize(bk) : 0;
		if (nb > 0 && nb < 4096) {
			pm->bucket_le = KT_ANEW(snap->arena, double, nb);
			pm->bucket_count = KT_ANEW(snap->arena, uint64_t, nb);
			cJSON_ArrayForEach(m, bk) {
				pm->bucket_le[pm->n_buckets] = jnum(m, "le", 0);
				pm->bucket_count[pm->n_buckets] = (uint64_t)jnum(m, "count", 0);
				pm->n_buckets++;
			}
		}
	}
	const cJSON *svcs = cJSON_GetObjectItemCaseSensitive(obj, "services");
	if (svcs && !cJSON_IsArray(svcs))
		return bad(d, "\"services\" is not an array");
	const cJSON *sj;
	cJSON_ArrayForEach(sj, svcs) {
		if (!cJSON_IsObject(sj))
			return bad(d, "service entry is not an object");
		int mode = mode_of(jstr(sj, "mode"));
		if (mode < 0)
			mode = first_mode >= 0 ? first_mode : KT_DP_IPTABLES_NFT;
		uint32_t saved_modes = n->modes;
		struct kt_dp_service *s = kt_dpbuild_svc(snap, n, jstr(sj, "namespace"), jstr(sj, "name"),
						     jstr(sj, "portName"), jstr(sj, "protocol"), (enum kt_dp_mode)mode);
		if (modes)
			n->modes = saved_modes | (1u << mode);
		if (jstr(sj, "chainHash"))
			s->chain_hash = kt_intern(snap->arena, jstr(sj, "chainHash"));
		s->names_guessed = jbool(sj, "namesGuessed");
		if (jstr(sj, "scheduler"))
			s->scheduler = kt_intern(snap->arena, jstr(sj, "scheduler"));
		if (jstr(sj, "lbAlgorithm"))
			s->lb_algorithm = kt_intern(snap->arena, jstr(sj, "lbAlgorithm"));
		int sb = basis_of(jstr(sj, "shareBasis"));
		if (sb >= 0)
			s->share_basis = (enum kt_share_basis)sb;
		const cJSON *srj = cJSON_GetObjectItemCaseSensitive(sj, "sourceRanges");
		const cJSON *r;
		if (cJSON_IsArray(srj) && cJSON_GetArraySize(srj) < 65536)
			cJSON_ArrayForEach(r, srj)
				if (cJSON_IsString(r))
					kt_dpbuild_fe_range(snap, s, NULL, r->valuestring);
		const cJSON *f;
		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(sj, "frontends")) {
			int k = kind_of(jstr(f, "kind"));
			if (k < 0)
				return bad(d, "frontend with unknown kind");
			const char *set = jstr(f, "backendSet");
			int32_t port = (int32_t)jnum(f, "port", 0);
			kt_dpbuild_fe(snap, s, (enum kt_fe_kind)k, jstr(f, "ip"), port,
				  set ? strcmp(set, "external") == 0 : k != KT_FE_CLUSTERIP);
			struct kt_dp_frontend *x = kt_dpbuild_fe_find(s, (enum kt_fe_kind)k, jstr(f, "ip"), port);
			int act = action_of(jstr(f, "action"));
			if (act > 0)
				kt_dpbuild_fe_action(snap, x, (enum kt_dp_action)act, jstr(f, "reason"));
			x->kind_guessed = jbool(f, "kindGuessed");
			const cJSON *fr = cJSON_GetObjectItemCaseSensitive(f, "sourceRanges");
			if (cJSON_IsArray(fr) && cJSON_GetArraySize(fr) < 65536)
				cJSON_ArrayForEach(r, fr)
					if (cJSON_IsString(r))
						kt_dpbuild_fe_range(snap, s, x, r->valuestring);
		}
		if (read_backends(snap, s, cJSON_GetObjectItemCaseSensitive(sj, "backends"), false, d) < 0 ||
		    read_backends(snap, s, cJSON_GetObjectItemCaseSensitive(sj, "externalBackends"), true, d) < 0)
			return -KT_EXIT_INPUT;
		const cJSON *aff = cJSON_GetObjectItemCaseSensitive(sj, "affinity");
		const char *am = aff ? jstr(aff, "mode") : NULL;
		if (am && strcmp(am, "clientIP") == 0) {
			s->affinity = true;
			s->affinity_timeout = (int32_t)jnum(aff, "timeoutSeconds", 10800);
		}
		s->source_hash = am && strcmp(am, "sourceHash") == 0;
		s->masquerade = jbool(sj, "masquerade");
		s->masq_unknown = cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(sj, "masquerade"));
		s->local_only = jbool(sj, "localOnly");
		const cJSON *nt;
		cJSON_ArrayForEach(nt, cJSON_GetObjectItemCaseSensitive(sj, "notes"))
			if (cJSON_IsString(nt))
				kt_dpbuild_svc_note(snap, s, "%s", nt->valuestring);
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(sj, "evidence")) {
			int em = mode_of(jstr(e, "mode"));
			kt_dpbuild_ev(snap, s, em < 0 ? (enum kt_dp_mode)mode : (enum kt_dp_mode)em,
				  jstr(e, "table") ? jstr(e, "table") : "", jstr(e, "chain"),
				  (uint64_t)jnum(e, "handle", 0), jstr(e, "mapKey"));
		}
	}
	return 0;
}
