/*
 * /metrics: the agent's Prometheus text exposition (format 0.0.4). Per
 * Service with open connections on this node: per-backend open
 * connections and share, the Service's max, mean and max/mean, and the
 * connections still open to backends this node no longer programs
 * (stale); per programmed Service port with no backend (missing, as far as
 * the node can tell without the API); dataplane and kube-proxy facts (mode,
 * last rules sync); the agent's own build, reads and requests. Computed
 * from the cached node state and the latest flow samples with the
 * imbalance analyzer; series are capped (max_series) so a node with many
 * Services cannot make a scrape unbounded. Pure: renders into a body.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/agent/agent.h"
#include "ktrace/arena.h"
#include "ktrace/imbalance.h"
#include "ktrace/xalloc.h"

struct out {
	char *p;
	size_t n, cap;
	uint32_t series, max_series;
	bool truncated;
};

static void put(struct out *o, const char *s, size_t len)
{
	if (o->n + len + 1 > o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 16384;
		while (nc < o->n + len + 1)
			nc *= 2;
		o->p = kt_xrealloc(o->p, nc);
		o->cap = nc;
	}
	memcpy(o->p + o->n, s, len);
	o->n += len;
	o->p[o->n] = 0;
}

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(struct out *o, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* A label value: backslash, double quote and newline escaped; other
 * control bytes dropped; at most 256 bytes. */
static void lv(struct out *o, const char *s)
{
	put(o, "\"", 1);
	size_t k = 0;
	for (; s && *s && k < 256; s++, k++) {
		if (*s == '\\')
			put(o, "\\\\", 2);
		else if (*s == '"')
			put(o, "\\\"", 2);
		else if (*s == '\n')
			put(o, "\\n", 2);
		else if ((unsigned char)*s >= 0x20 && *s != 0x7f)
			put(o, s, 1);
	}
	put(o, "\"", 1);
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void num(struct out *o, double v)
{
	char b[64];
	if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
		snprintf(b, sizeof(b), " %lld\n", (long long)v);
	else
		snprintf(b, sizeof(b), " %.9g\n", v);
	put(o, b, strlen(b));
}

/* name{namespace="..",service=".."[,k=".."]} v, within the series cap */
static bool svc_series(struct out *o, const char *name, const char *ns, const char *svc, const char *k,
		       const char *kv, double v)
{
	if (o->series >= o->max_series) {
		o->truncated = true;
		return false;
	}
	o->series++;
	put(o, name, strlen(name));
	put(o, "{namespace=", 11);
	lv(o, ns);
	put(o, ",service=", 9);
	lv(o, svc);
	if (k) {
		outf(o, ",%s=", k);
		lv(o, kv);
	}
	put(o, "}", 1);
	num(o, v);
	return true;
}

static const char *hostport(char *buf, size_t n, const char *ip, int32_t port)
{
	snprintf(buf, n, strchr(ip ? ip : "", ':') ? "[%s]:%d" : "%s:%d", ip ? ip : "", port);
	return buf;
}

static void dataplane_facts(struct out *o, const struct kt_ag_state *st)
{
	const struct kt_dp_node *n = st->node;
	family(o, "ktrace_dataplane_mode", "gauge", "Proxy backends whose Service rules this node holds (1 per mode).");
	for (int m = 0; m < KT_DP_MODE_COUNT; m++)
		if (n->modes & (1u << m)) {
			put(o, "ktrace_dataplane_mode{mode=", 27);
			lv(o, kt_dp_mode_name((enum kt_dp_mode)m));
			put(o, "} 1\n", 4);
		}
	uint32_t empty = 0, states[5] = {0};
	static const char *const sn[5] = {"active", "terminating", "draining", "quarantined", "maintenance"};
	for (uint32_t i = 0; i < n->n_svcs; i++) {
		const struct kt_dp_service *s = &n->svcs[i];
		if (!s->n_be)
			empty++;
		for (uint32_t k = 0; k < s->n_be; k++) {
			int x = 0;
			for (int j = 1; j < 5; j++)
				if (s->be[k].state && !strcmp(s->be[k].state, sn[j]))
					x = j;
			states[x]++;
		}
	}
	family(o, "ktrace_dataplane_service_ports", "gauge", "Service ports (per protocol and proxy backend) programmed on this node.");
	outf(o, "ktrace_dataplane_service_ports %u\n", n->n_svcs);
	family(o, "ktrace_dataplane_backends", "gauge", "Backends programmed for internal frontends, by state.");
	for (int j = 0; j < 5; j++)
		outf(o, "ktrace_dataplane_backends{state=\"%s\"} %u\n", sn[j], states[j]);
	family(o, "ktrace_dataplane_service_ports_without_backends", "gauge",
	       "Programmed Service ports whose internal frontends reach no backend (traffic rejected or dropped).");
	outf(o, "ktrace_dataplane_service_ports_without_backends %u\n", empty);
	family(o, "ktrace_service_no_backends", "gauge",
	       "1 per programmed Service port that reaches no backend on this node (missing endpoints as the node sees it).");
	for (uint32_t i = 0; i < n->n_svcs; i++) {
		const struct kt_dp_service *s = &n->svcs[i];
		if (!s->n_be)
			svc_series(o, "ktrace_service_no_backends", s->namespace, s->name, "port",
				   s->port_name && s->port_name[0] ? s->port_name : s->protocol, 1);
	}
	if (n->metrics.present) {
		family(o, "ktrace_kubeproxy_last_sync_timestamp_seconds", "gauge",
		       "kube-proxy's last successful rules sync on this node (unix seconds).");
		outf(o, "ktrace_kubeproxy_last_sync_timestamp_seconds %.3f\n", n->metrics.last_sync);
		family(o, "ktrace_kubeproxy_last_queued_timestamp_seconds", "gauge",
		       "When kube-proxy last queued a rules sync (unix seconds).");
		outf(o, "ktrace_kubeproxy_last_queued_timestamp_seconds %.3f\n", n->metrics.last_queued);
	}
}

static void flow_facts(struct out *o, const struct kt_ag_metrics_in *in, struct kt_arena *a)
{
	const struct kt_flow_sample *cur = in->cur ? in->cur->fs : NULL;
	if (!cur)
		return;
	family(o, "ktrace_agent_flows_timestamp_seconds", "gauge", "When the flow sample behind these metrics was taken (unix seconds).");
	outf(o, "ktrace_agent_flows_timestamp_seconds %.3f\n", (double)cur->taken_ms / 1000.0);
	family(o, "ktrace_agent_flow_sample_duration_seconds", "gauge", "How long taking that flow sample took.");
	outf(o, "ktrace_agent_flow_sample_duration_seconds %.6f\n", cur->elapsed_us / 1e6);
	struct kt_imb_opts io;
	memset(&io, 0, sizeof(io));
	io.node = cur->node;
	struct kt_imb_result *r = NULL;
	const struct kt_flow_sample *prev = in->prev ? in->prev->fs : NULL;
	kt_imbalance_analyze(in->st->snap, cur, prev, &io, a, &r);
	if (!r)
		return;
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{"ktrace_service_open_connections", "gauge", "Open connections to the Service's backends through this node."},
		{"ktrace_service_backend_max_connections", "gauge", "Most open connections on one programmed backend."},
		{"ktrace_service_backend_mean_connections", "gauge", "Mean open connections per programmed backend."},
		{"ktrace_service_max_over_mean", "gauge", "Max over mean open connections per backend (1 = even)."},
		{"ktrace_service_stale_connections", "gauge",
		 "Open connections to backends this node no longer programs for the Service."},
		{"ktrace_backend_open_connections", "gauge", "Open connections to one backend through this node."},
		{"ktrace_backend_connection_share", "gauge", "The backend's share of the Service's open connections (0-1)."},
		{"ktrace_backend_new_connections_per_second", "gauge", "Connections opened per second (when known)."},
	};
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		family(o, fam[f].name, fam[f].type, fam[f].help);
		for (uint32_t i = 0; i < r->n_svcs; i++) {
			const struct kt_imb_service *s = &r->svcs[i];
			if (!s->connections && !s->total)
				continue;
			uint32_t mx = 0, prog = 0, stale = 0;
			uint64_t sum = 0;
			for (uint32_t k = 0; k < s->n_be; k++) {
				if (s->be[k].flags & KT_IMB_UNKNOWN) {
					stale += s->be[k].connections;
					continue;
				}
				prog++;
				sum += s->be[k].connections;
				if (s->be[k].connections > mx)
					mx = s->be[k].connections;
			}
			switch (f) {
			case 0: svc_series(o, fam[f].name, s->namespace, s->name, NULL, NULL, s->connections); break;
			case 1: svc_series(o, fam[f].name, s->namespace, s->name, NULL, NULL, mx); break;
			case 2: svc_series(o, fam[f].name, s->namespace, s->name, NULL, NULL, prog ? (double)sum / prog : 0); break;
			case 3: svc_series(o, fam[f].name, s->namespace, s->name, NULL, NULL, s->max_over_mean); break;
			case 4: svc_series(o, fam[f].name, s->namespace, s->name, NULL, NULL, stale); break;
			default:
				for (uint32_t k = 0; k < s->n_be; k++) {
					const struct kt_imb_backend *b = &s->be[k];
					char hp[96];
					hostport(hp, sizeof(hp), b->ip, b->port);
					double v = f == 5 ? b->connections : f == 6 ? b->share : b->new_per_s;
					if (f == 7 && b->new_per_s < 0)
						continue;
					svc_series(o, fam[f].name, s->namespace, s->name, "backend", hp, v);
				}
			}
		}
	}
}

struct kt_ag_body *kt_ag_metrics(const struct kt_ag_metrics_in *in)
{
	struct out o = {0};
	o.max_series = in->max_series ? in->max_series : 10000;
	const struct kt_ag_state *st = in->st;
	family(&o, "ktrace_agent_info", "gauge", "The ktrace agent's version and node.");
	put(&o, "ktrace_agent_info{version=", 26);
	lv(&o, KT_VERSION);
	put(&o, ",gitsha=", 8);
	lv(&o, KT_GITSHA);
	put(&o, ",node=", 6);
	lv(&o, in->node);
	put(&o, "} 1\n", 4);
	family(&o, "ktrace_agent_state_timestamp_seconds", "gauge", "When the node state behind these metrics was read (unix seconds).");
	outf(&o, "ktrace_agent_state_timestamp_seconds %.3f\n", (double)st->taken_ms / 1000.0);
	family(&o, "ktrace_agent_state_read_duration_seconds", "gauge", "How long reading that node state took.");
	outf(&o, "ktrace_agent_state_read_duration_seconds %.6f\n", st->read_s);
	family(&o, "ktrace_agent_gaps", "gauge", "Things the agent could not read in that node state.");
	outf(&o, "ktrace_agent_gaps %u\n", st->snap->n_gaps);
	family(&o, "ktrace_agent_flow_samples_total", "counter", "Flow samples taken since the agent started.");
	outf(&o, "ktrace_agent_flow_samples_total %llu\n", (unsigned long long)in->samples);
	family(&o, "ktrace_agent_flow_sampler_paused", "gauge", "1 while the flow sampler waits for a request (idle).");
	outf(&o, "ktrace_agent_flow_sampler_paused %d\n", in->sampler_paused ? 1 : 0);
	family(&o, "ktrace_agent_requests_total", "counter", "HTTP requests answered, by status code.");
	for (unsigned i = 0; i < in->n_codes; i++)
		outf(&o, "ktrace_agent_requests_total{code=\"%d\"} %llu\n", in->request_codes[i],
		     (unsigned long long)in->requests[i]);
	dataplane_facts(&o, st);
	struct kt_arena *a = kt_arena_new();
	flow_facts(&o, in, a);
	kt_arena_free(a);
	family(&o, "ktrace_agent_metrics_truncated", "gauge", "1 when per-Service series were left out (series cap).");
	outf(&o, "ktrace_agent_metrics_truncated %d\n", o.truncated ? 1 : 0);
	struct kt_ag_body *b = kt_ag_text_body(o.p ? o.p : "", o.n);
	free(o.p);
	return b;
}
