/*
 * Pod-template rules: KT201 (no preStop hook behind a Service), KT202
 * (terminationGracePeriodSeconds not above the preStop sleep), KT203 (no
 * readiness probe behind a Service). "Behind a Service" means the
 * container serves a port some selecting Service targets; when no
 * container declares such a port, the Pod's main container counts.
 * Pure: no I/O.
 */
#include <stdio.h>
#include <string.h>

#include "analyzers/rules_int.h"

static bool serves_svc(const struct kt_container *ct, const struct kt_service *sv, const struct kt_podspec *spec)
{
	for (uint32_t i = 0; i < sv->n_ports; i++) {
		int32_t tp = kt_resolve_target_port(&sv->ports[i], spec);
		if (tp == 0)
			continue;
		for (uint32_t j = 0; j < ct->n_ports; j++)
			if (ct->ports[j].port == tp)
				return true;
	}
	return false;
}

/* Containers that receive the Service's traffic: mask[i] set. */
static void serving(const struct kt_rctx *c, const struct kt_tmpl *t, bool *mask)
{
	const struct kt_podspec *sp = t->spec;
	bool any = false;
	for (uint32_t i = 0; i < sp->n_containers; i++) {
		const struct kt_container *ct = &sp->containers[i];
		mask[i] = false;
		if (ct->init && !ct->sidecar)
			continue;
		uint32_t ns;
		const uint32_t *row = KT_ROW(c, ts, (uint32_t)(t - c->t), ns);
		for (uint32_t s = 0; s < ns && !mask[i]; s++)
			if (serves_svc(ct, &c->s->services[row[s]], sp))
				mask[i] = true;
		any = any || mask[i];
	}
	if (any)
		return;
	/* No container declares the targeted port (containerPort is
	 * optional): the one kubectl treats as the Pod's main container, named
	 * by kubectl.kubernetes.io/default-container, else the first regular
	 * container; helpers such as log shippers are not guessed at. */
	const char *def = t->tann ? kt_kv_get(t->tann, "kubectl.kubernetes.io/default-container") : NULL;
	uint32_t pick = KT_NONE;
	for (uint32_t i = 0; i < sp->n_containers && pick == KT_NONE; i++)
		if (!sp->containers[i].init && def && sp->containers[i].name && !strcmp(sp->containers[i].name, def))
			pick = i;
	for (uint32_t i = 0; i < sp->n_containers && pick == KT_NONE; i++)
		if (!sp->containers[i].init)
			pick = i;
	if (pick != KT_NONE)
		mask[pick] = true;
}

/* An Istio gateway template: the container is `image: auto` and the
 * injection webhook fills in the proxy, its readiness probe (/healthz/ready)
 * and its drain on SIGTERM, so the template is incomplete by design. */
static bool injected(const struct kt_tmpl *t, const struct kt_container *ct)
{
	if (!ct->image || strcmp(ct->image, "auto"))
		return false;
	const char *v = t->tann ? kt_kv_get(t->tann, "inject.istio.io/templates") : NULL;
	if (v)
		return true;
	v = t->labels ? kt_kv_get(t->labels, "sidecar.istio.io/inject") : NULL;
	if (!v && t->tann)
		v = kt_kv_get(t->tann, "sidecar.istio.io/inject");
	return v && !strcmp(v, "true");
}

static const char *cpath(const struct kt_rctx *c, const struct kt_tmpl *t, const struct kt_container *ct,
			 const char *suffix)
{
	const char *base = ct->fpath ? ct->fpath : (t->spec->fpath ? t->spec->fpath : "spec");
	return kt_arena_printf(c->a, "%s%s", base, suffix);
}

static const char *svc_desc(const struct kt_rctx *c, uint32_t six, uint32_t n)
{
	const struct kt_service *sv = &c->s->services[six];
	if (n > 1)
		return kt_arena_printf(c->a, "Service %s and %u more", sv->meta.name ? sv->meta.name : "?", n - 1);
	return kt_arena_printf(c->a, "Service %s", sv->meta.name ? sv->meta.name : "?");
}

static void kt201(struct kt_rctx *c, const struct kt_tmpl *t, const bool *mask, uint32_t six, uint32_t nsvc)
{
	for (uint32_t i = 0; i < t->spec->n_containers; i++) {
		const struct kt_container *ct = &t->spec->containers[i];
		/* native sidecars are stopped after the regular containers, so
		 * they keep serving through the drain without a hook */
		if (!mask[i] || ct->prestop != KT_HOOK_NONE || ct->sidecar || injected(t, ct))
			continue;
		kt_radd(c, KT_R_KT201, t->meta, cpath(c, t, ct, ".lifecycle.preStop"),
			"container '%s' (behind %s) has no preStop hook: it gets SIGTERM while nodes still route new connections to it",
			ct->name ? ct->name : "?", svc_desc(c, six, nsvc));
	}
}

static void kt202(struct kt_rctx *c, const struct kt_tmpl *t)
{
	int64_t grace = t->spec->grace_period >= 0 ? t->spec->grace_period : 30;
	for (uint32_t i = 0; i < t->spec->n_containers; i++) {
		const struct kt_container *ct = &t->spec->containers[i];
		if (ct->prestop == KT_HOOK_NONE || ct->prestop_sleep <= 0)
			continue;
		if (grace > ct->prestop_sleep)
			continue;
		const char *path = t->spec->grace_period >= 0
			? kt_arena_printf(c->a, "%s.terminationGracePeriodSeconds", t->spec->fpath ? t->spec->fpath : "spec")
			: cpath(c, t, ct, ".lifecycle.preStop");
		kt_radd(c, KT_R_KT202, t->meta, path,
			"terminationGracePeriodSeconds %lld%s is not larger than container '%s' preStop sleep of %d s: the kubelet kills it before it drains",
			(long long)grace, t->spec->grace_period >= 0 ? "" : " (default)", ct->name ? ct->name : "?",
			ct->prestop_sleep);
	}
}

static void kt203(struct kt_rctx *c, const struct kt_tmpl *t, const bool *mask, uint32_t six, uint32_t nsvc)
{
	for (uint32_t i = 0; i < t->spec->n_containers; i++) {
		const struct kt_container *ct = &t->spec->containers[i];
		if (!mask[i] || ct->readiness.kind != KT_PROBE_NONE || injected(t, ct))
			continue;
		kt_radd(c, KT_R_KT203, t->meta, cpath(c, t, ct, ".readinessProbe"),
			"container '%s' (behind %s) has no readinessProbe: new Pods get traffic as soon as the container starts",
			ct->name ? ct->name : "?", svc_desc(c, six, nsvc));
	}
}

void kt_rules_pods(struct kt_rctx *c)
{
	for (uint32_t i = 0; i < c->n_t; i++) {
		const struct kt_tmpl *t = &c->t[i];
		if (t->opaque || !kt_tmpl_in_scope(c, t))
			continue;
		kt202(c, t);
		uint32_t nsvc = 0;
		uint32_t six = kt_tmpl_service(c, t, &nsvc);
		if (six == KT_NONE || t->kind == KT_WL_JOB || t->kind == KT_WL_CRONJOB)
			continue;
		bool *mask = KT_ANEW(c->a, bool, t->spec->n_containers + 1);
		serving(c, t, mask);
		kt201(c, t, mask, six, nsvc);
		/* readiness gates no endpoint of a Service that publishes
		 * not-ready addresses (StatefulSet peer discovery) */
		uint32_t ns;
		const uint32_t *row = KT_ROW(c, ts, i, ns);
		bool gated = false;
		for (uint32_t k = 0; k < ns && !gated; k++)
			gated = !c->s->services[row[k]].publish_not_ready;
		if (gated)
			kt203(c, t, mask, six, nsvc);
	}
}
