/*
 * kt_trace_rules_prepare() and kt_trace_run(): the probe run of `ktrace
 * trace`. The rule set is parsed once and, unless --full, cut down to what
 * the probe can reach (trace_rules.c, trace_nft.c); the caller's model
 * reads the same prepared text. The run creates the scratch namespaces
 * (trace_lab.c), loads the rules into the node namespace
 * (iptables-nft-restore for iptables-save text of either backend: the same
 * rules through the nft backend; `nft -j -f` for nft JSON), adds a table
 * "ktrace-probe" that sets `meta nftrace` on the probe packets only (at
 * prerouting, or output for a client on the node, before conntrack and
 * NAT) and observes them with empty late base chains at input, forward
 * and postrouting (after SNAT), joins NFNLGRP_NFTRACE in that namespace
 * through the netlink layer, sends real TCP SYNs / UDP datagrams, and
 * turns the events into per-probe steps, NAT result and fate; the rule
 * text of each step comes from trace_text.c. Everything it created is
 * removed before it returns. Must not: print, touch the host's namespace
 * beyond creating/removing the two scratch namespaces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "collectors/netlink/nl.h"
#include "collectors/trace/trace_int.h"
#include "collectors/trace/trace_lab.h"
#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

#define MAX_EVENTS 4000000u
#define MAX_STEPS 512u
#define DEFAULT_SRC "198.18.0.2"   /* RFC 2544 benchmarking range: an off-cluster client */
#define DEFAULT_SRC6 "2001:2::2"    /* RFC 5180, the same for IPv6 */

const char *kt_trace_fate_name(enum kt_trace_fate f)
{
	static const char *const n[] = {"unknown", "forwarded", "local", "rejected", "dropped"};
	return (unsigned)f < KT_FATE_COUNT ? n[f] : "unknown";
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- events ----------------------------------------------------------- */

struct evs {
	struct kt_trace_event *v;
	int32_t *probe;          /* probe index per event, -1 none */
	uint32_t n, cap;
	bool overrun;
	/* which probe a trace id belongs to (ids are reused: the newest wins) */
	struct {
		uint32_t id;
		int32_t probe;
	} recent[512];
	uint32_t n_recent;
	const struct kt_trace_opts *o;
	const char *src;
	uint16_t base;
	unsigned count;
	/* probes whose fate is settled: forwarded out of the node (postrouting
	 * to an interface that is not loopback), delivered (input), dropped */
	uint8_t *settled;
	unsigned n_settled, if_lo;
};

/* Does this event settle its probe's fate? */
static bool settles(const struct evs *e, const struct kt_trace_event *ev)
{
	if (!strcmp(ev->table, KT_TRACE_PROBE_TABLE))
		return !strcmp(ev->chain, "kt-in") || (!strcmp(ev->chain, "kt-post") && ev->oif && ev->oif != e->if_lo);
	return (ev->type == NFT_TRACETYPE_RULE && ev->has_verdict && ev->verdict == NF_DROP) ||
	       (ev->type == NFT_TRACETYPE_POLICY && ev->has_policy && ev->policy == NF_DROP);
}

static int32_t id_probe(struct evs *e, uint32_t id)
{
	uint32_t n = e->n_recent < 512 ? e->n_recent : 512;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = (e->n_recent - 1 - i) % 512;
		if (e->recent[k].id == id)
			return e->recent[k].probe;
	}
	return -1;
}

static int on_event(struct nl_msg *msg, void *ctx)
{
	struct evs *e = ctx;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct kt_trace_event ev;
	if (kt_trace_decode(h, h->nlmsg_len, &ev) != 1)
		return 0;
	if (e->n >= MAX_EVENTS) {
		e->overrun = true;
		return 0;
	}
	int32_t p = -1;
	bool mark = !strcmp(ev.chain, "kt-pre") || !strcmp(ev.chain, "kt-out");
	if (mark && !strcmp(ev.table, KT_TRACE_PROBE_TABLE) && ev.has_ports && !strcmp(ev.saddr, e->src) &&
	    ev.sport >= e->base && ev.sport - e->base < (int)e->count) {
		p = ev.sport - e->base;
		e->recent[e->n_recent % 512].id = ev.id;
		e->recent[e->n_recent % 512].probe = p;
		e->n_recent++;
	} else {
		p = id_probe(e, ev.id);
	}
	if (p < 0)
		return 0;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 1024;
		e->v = kt_xreallocarray(e->v, e->cap, sizeof(*e->v));
		e->probe = kt_xreallocarray(e->probe, e->cap, sizeof(*e->probe));
	}
	e->v[e->n] = ev;
	e->probe[e->n] = p;
	e->n++;
	if (!e->settled[p] && settles(e, &ev)) {
		e->settled[p] = 1;
		e->n_settled++;
	}
	return 0;
}

static long drain(struct kt_nl *nl, struct evs *e)
{
	bool over = false;
	long n = kt_nl_drain(nl, on_event, e, &over);
	if (over)
		e->overrun = true;
	return n;
}

/* ---- probes ----------------------------------------------------------- */

/* addr:port into a socket address of its family; its length, 0 when not an address. */
static socklen_t sockaddr_of(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return sizeof(*a4);
	}
	if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return sizeof(*a6);
	}
	return 0;
}

static int send_probe(const struct kt_trace_opts *o, const char *src, uint16_t sport)
{
	bool tcp = o->proto == IPPROTO_TCP;
	struct sockaddr_storage sa, da;
	socklen_t sl = sockaddr_of(src, sport, &sa), dl = sockaddr_of(o->dst_ip, o->dst_port, &da);
	if (!sl || !dl || sa.ss_family != da.ss_family)
		return -EAFNOSUPPORT;
	int fd = socket(sa.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int rc = 0;
	if (bind(fd, (struct sockaddr *)&sa, sl) < 0) {
		rc = -errno;
	} else if (tcp) {
		if (connect(fd, (struct sockaddr *)&da, dl) < 0 && errno != EINPROGRESS)
			rc = -errno;
		/* closing a socket in SYN-SENT sends nothing: the SYN is the probe */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		static const char payload[] = "ktrace-trace-probe";
		if (sendto(fd, payload, sizeof(payload) - 1, 0, (struct sockaddr *)&da, dl) < 0)
			rc = -errno;
	}
	close(fd);
	return rc;
}

/* ---- the prepared rule set ------------------------------------------------ */

struct kt_trace_rules {
	enum kt_trace_fmt fmt;
	bool v6;
	struct kt_ipt_set ipt;   /* iptables-save input */
	bool have_ipt;
	char *text;              /* what is loaded (and what the model reads) */
	size_t len;
	uint32_t rules_total, rules_loaded, chains_total, chains_loaded, elems_total, elems_loaded;
	bool pruned;
	double ms;
};

static bool is_v6(const char *ip)
{
	return ip && strchr(ip, ':') != NULL;
}

int kt_trace_rules_prepare(const struct kt_trace_opts *o, struct kt_trace_rules **out, struct kt_diag *d)
{
	*out = NULL;
	double t0 = now_ms();
	struct kt_trace_rules *r = kt_xcalloc(1, sizeof(*r));
	r->fmt = o->fmt;
	r->v6 = is_v6(o->dst_ip);
	const char *proto = o->proto == IPPROTO_UDP ? "udp" : "tcp";
	if (o->fmt == KT_TRACE_IPTABLES) {
		int prc = o->rules_scratch ? kt_ipt_parse_inplace((char *)o->rules, o->rules_len, &r->ipt, d)
					   : kt_ipt_parse(o->rules, o->rules_len, &r->ipt, d);
		if (prc < 0) {
			free(r);
			return -1;
		}
		r->have_ipt = true;
		int fam = kt_ipt_family(&r->ipt);
		if (fam && fam != (r->v6 ? 6 : 4)) {
			bool v6 = r->v6;
			kt_trace_rules_free(r);
			kt_diag_set(d, KT_EXIT_USAGE, "the rule set is %s text: an %s destination is not traced through it",
				    fam == 6 ? "ip6tables-save" : "iptables-save", v6 ? "IPv6" : "IPv4");
			kt_diag_hint(d, v6 ? "give the node's ip6tables-save output for an IPv6 destination"
					   : "give the node's iptables-save output for an IPv4 destination");
			return -1;
		}
		r->chains_total = r->ipt.n_chains;
		if (!o->full)
			kt_ipt_prune(&r->ipt, o->dst_ip, o->dst_port, proto);
		r->text = kt_ipt_render(&r->ipt, &r->len);
		r->rules_total = r->ipt.rules_total;
		r->rules_loaded = r->ipt.rules_loaded;
		r->chains_loaded = r->ipt.chains_loaded;
		r->pruned = r->ipt.pruned;
	} else {
		unsigned count = o->count ? o->count : 1;
		uint16_t base = o->src_port ? o->src_port : 40000;
		struct kt_nft_probe p = {
			.v6 = r->v6,
			.full = o->full,
			.dst = o->dst_ip,
			.src = o->src_ip ? o->src_ip : r->v6 ? DEFAULT_SRC6 : DEFAULT_SRC,
			.dport = o->dst_port,
			.sport_lo = base,
			.sport_hi = (uint16_t)(base + count - 1 < 65535 ? base + count - 1 : 65535),
			.proto = (uint8_t)o->proto,
			.node_addrs = o->node_addrs,
			.n_node_addrs = o->n_node_addrs,
		};
		struct kt_nft_pruned np;
		if (kt_nft_prune(o->rules, o->rules_len, &p, &np, d) < 0) {
			free(r);
			return -1;
		}
		if (!np.tables_family) {
			free(np.text);
			free(r);
			kt_diag_set(d, KT_EXIT_USAGE, "the rule set has no %s or inet table: an %s destination is not traced through it",
				    p.v6 ? "ip6" : "ip", p.v6 ? "IPv6" : "IPv4");
			kt_diag_hint(d, "nftables sees a packet only in tables of its family");
			return -1;
		}
		r->text = np.text;
		r->len = np.len;
		r->rules_total = np.rules_total;
		r->rules_loaded = np.rules_loaded;
		r->chains_total = np.chains_total;
		r->chains_loaded = np.chains_loaded;
		r->elems_total = np.elems_total;
		r->elems_loaded = np.elems_loaded;
		r->pruned = np.pruned;
	}
	r->ms = now_ms() - t0;
	*out = r;
	return 0;
}

const char *kt_trace_rules_text(const struct kt_trace_rules *r, size_t *len)
{
	*len = r->len;
	return r->text;
}

void kt_trace_rules_free(struct kt_trace_rules *r)
{
	if (!r)
		return;
	if (r->have_ipt)
		kt_ipt_free(&r->ipt);
	free(r->text);
	free(r);
}

/* ---- the run ------------------------------------------------------------ */

struct run {
	const struct kt_trace_opts *o;
	const struct kt_trace_rules *rules;
	struct kt_trace_result *r;
	struct kt_lab lab;
	struct kt_nl *ev_nl, *dump_nl;
	struct evs evs;
	char src[48];            /* canonical text (as the events print it) */
	uint16_t base;
	unsigned count;
};

static int interrupted(struct run *x, struct kt_diag *d)
{
	if (x->o->stop && *x->o->stop)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "interrupted");
	return 0;
}

static int load_rules(struct run *x, struct kt_diag *d)
{
	const struct kt_trace_opts *o = x->o;
	const struct kt_trace_rules *rs = x->rules;
	char err[512] = "";
	const char *ipt_argv[] = {rs->v6 ? "ip6tables-nft-restore" : "iptables-nft-restore", NULL};
	const char *nft_argv[] = {"nft", "-j", "-f", "-", NULL};
	const char *const *argv = rs->fmt == KT_TRACE_IPTABLES ? ipt_argv : nft_argv;
	x->r->loader = rs->fmt == KT_TRACE_IPTABLES ? argv[0] : "nft -j -f";
	int rc = kt_lab_exec(x->lab.fd_node, argv, rs->text, rs->len, NULL, err, sizeof(err));
	if (rc == 127)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "%s", err);
	if (rc != 0) {
		kt_diag_set(d, KT_EXIT_INPUT, "the kernel refused the rule set of %s: %s",
			    o->rules_origin ? o->rules_origin : "the input", err);
		kt_diag_hint(d, rs->pruned ? "it was loaded into a scratch namespace only; try --full if the pruned set is at fault"
					   : "it was loaded into a scratch namespace only");
		return -1;
	}
	if (kt_trace_probe_table(x->dump_nl, x->src, o->dst_ip, (uint8_t)o->proto, o->dst_port, err, sizeof(err)) < 0)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "cannot add the trace rule in the scratch namespace: %s", err);
	return 0;
}

static int open_sockets(struct run *x, struct kt_diag *d)
{
	char err[256];
	if (kt_lab_enter(&x->lab, KT_LAB_NODE) < 0)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "setns: %s", strerror(errno));
	struct kt_nl_opts eo = {.groups = {NFNLGRP_NFTRACE}, .nonblock = true, .rcvbuf = 32 << 20};
	x->ev_nl = kt_nl_open(NETLINK_NETFILTER, &eo, err, sizeof(err));
	struct kt_nl_opts dopt = {.timeout_ms = 2000};
	x->dump_nl = x->ev_nl ? kt_nl_open(NETLINK_NETFILTER, &dopt, err, sizeof(err)) : NULL;
	kt_lab_enter(&x->lab, KT_LAB_SELF);
	if (!x->ev_nl || !x->dump_nl)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "nftables trace events: %s", err);
	return 0;
}

static int probe_all(struct run *x, struct kt_diag *d)
{
	const struct kt_trace_opts *o = x->o;
	if (kt_lab_enter(&x->lab, o->src_on_node ? KT_LAB_NODE : KT_LAB_CLIENT) < 0)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "setns: %s", strerror(errno));
	int rc = 0;
	for (unsigned i = 0; i < x->count && !rc; i++) {
		if (o->stop && *o->stop)
			break;
		int e = send_probe(o, x->src, (uint16_t)(x->base + i));
		if (e < 0 && e != -ECONNREFUSED && e != -EHOSTUNREACH && e != -ENETUNREACH && e != -EPERM)
			rc = kt_diag_set(d, KT_EXIT_CLUSTER, "probe from port %u: %s", x->base + i, strerror(-e));
		if ((i & 31) == 31)
			drain(x->ev_nl, &x->evs);
	}
	kt_lab_enter(&x->lab, KT_LAB_SELF);
	if (rc < 0)
		return rc;
	/* events are queued by the time the probes are processed: done when
	 * every probe's fate is settled, else after a quiet spell */
	int fd = kt_nl_fd(x->ev_nl);
	int timeout = o->timeout_ms > 0 ? o->timeout_ms : 300;
	double end = now_ms() + timeout, last = now_ms();
	for (;;) {
		if (interrupted(x, d) < 0)
			return -1;
		long n = drain(x->ev_nl, &x->evs);
		double t = now_ms();
		if (n > 0)
			last = t;
		if (x->evs.n_settled >= x->count || t >= end || t - last >= 40)
			break;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		poll(&pf, 1, 10);
	}
	return interrupted(x, d);
}

static struct kt_trace_step *add_step(struct kt_arena *a, struct kt_trace_probe *p, uint32_t *cap)
{
	if (p->n_steps >= MAX_STEPS) {
		p->steps_cut = true;
		return NULL;
	}
	if (p->n_steps == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 16;
		struct kt_trace_step *v = KT_ANEW(a, struct kt_trace_step, nc);
		if (p->n_steps)
			memcpy(v, p->steps, p->n_steps * sizeof(*v));
		p->steps = v;
		*cap = nc;
	}
	struct kt_trace_step *s = &p->steps[p->n_steps++];
	memset(s, 0, sizeof(*s));
	return s;
}

static const char *family_name(uint8_t f)
{
	return f == NFPROTO_IPV4 ? "ip" : f == NFPROTO_IPV6 ? "ip6" : f == NFPROTO_INET ? "inet" : "unknown";
}

/* An event of the probe table: where the packet went, its addresses. */
static void probe_event(struct run *x, const struct kt_trace_event *ev, struct kt_trace_probe *p, bool *in_seen)
{
	if (!ev->has_net)
		return;
	if (!strcmp(ev->chain, "kt-in")) {
		*in_seen = true;
		snprintf(p->to_ip, sizeof(p->to_ip), "%s", ev->daddr);
		p->to_port = ev->dport;
	} else if (!strcmp(ev->chain, "kt-post")) {
		snprintf(p->to_ip, sizeof(p->to_ip), "%s", ev->daddr);
		p->to_port = ev->dport;
		snprintf(p->from_ip, sizeof(p->from_ip), "%s", ev->saddr);
		p->from_port = ev->sport;
		p->out_if = ev->oif == x->lab.if_pods		     ? "pod network"
			    : x->lab.if_cli && ev->oif == x->lab.if_cli ? "client"
			    : ev->oif == x->lab.if_node		     ? "node"
									     : "other";
	}
}

/* Steps, NAT and fate of every probe from the events. */
static void assemble(struct run *x)
{
	struct kt_trace_result *r = x->r;
	struct kt_arena *a = r->arena;
	uint32_t *caps = kt_xcalloc(x->count + 1, sizeof(*caps));
	bool *dropped = kt_xcalloc(x->count + 1, sizeof(*dropped));
	bool *seen = kt_xcalloc(x->count + 1, sizeof(*seen));
	bool *in_seen = kt_xcalloc(x->count + 1, sizeof(*in_seen));
	struct {
		uint8_t family;
		const char *table, *label;
	} lab[8];
	unsigned n_lab = 0;
	for (uint32_t i = 0; i < x->evs.n; i++) {
		const struct kt_trace_event *ev = &x->evs.v[i];
		int32_t pi = x->evs.probe[i];
		struct kt_trace_probe *p = &r->probes[pi];
		seen[pi] = true;
		if (!strcmp(ev->table, KT_TRACE_PROBE_TABLE)) {
			probe_event(x, ev, p, &in_seen[pi]);
			continue;
		}
		struct kt_trace_step *s = add_step(a, p, &caps[pi]);
		if (!s)
			continue;
		/* "ip nat": the few tables' labels are made once */
		const char *label = NULL;
		for (unsigned k = 0; k < n_lab && !label; k++)
			if (lab[k].family == ev->family && !strcmp(lab[k].table, ev->table))
				label = lab[k].label;
		if (!label) {
			label = kt_arena_printf(a, "%s %s", family_name(ev->family), ev->table);
			if (n_lab < 8)
				lab[n_lab++] = (typeof(lab[0])){ev->family, label + strlen(family_name(ev->family)) + 1, label};
		}
		s->table = label;
		s->chain = kt_arena_strdup(a, ev->chain);
		s->handle = ev->handle;
		s->kind = ev->type == NFT_TRACETYPE_RULE ? "rule" : ev->type == NFT_TRACETYPE_RETURN ? "return" : "policy";
		if (ev->type == NFT_TRACETYPE_RULE && !ev->handle) {
			/* the end of a chain: back to the caller, or on to the policy */
			s->kind = "end";
			s->verdict = "return";
		} else if (ev->type == NFT_TRACETYPE_POLICY && ev->has_policy)
			s->verdict = kt_trace_verdict_name(ev->policy);
		else if (ev->has_verdict)
			s->verdict = kt_trace_verdict_name(ev->verdict);
		else
			s->verdict = ev->type == NFT_TRACETYPE_RETURN ? "return" : "continue";
		if (ev->target[0])
			s->target = kt_arena_strdup(a, ev->target);
		if (!strcmp(s->verdict, "drop"))
			dropped[pi] = true;
	}
	for (uint32_t i = 0; i < x->count; i++) {
		struct kt_trace_probe *p = &r->probes[i];
		if (!seen[i])
			r->lost++;
		if (dropped[i])
			p->fate = KT_FATE_DROPPED;
		else if (in_seen[i])
			p->fate = KT_FATE_LOCAL; /* (a node client's packet to itself passes postrouting first) */
		else if (p->out_if)
			p->fate = KT_FATE_FORWARDED;
		if (p->to_ip[0]) {
			p->dnat = strcmp(p->to_ip, x->o->dst_ip) || p->to_port != x->o->dst_port;
			if (p->from_ip[0])
				p->masquerade = strcmp(p->from_ip, x->src) != 0;
		}
	}
	free(caps);
	free(dropped);
	free(seen);
	free(in_seen);
}

/* The checks before anything is created. */
static int check_opts(const struct kt_trace_opts *o, struct run *x, struct kt_diag *d)
{
	unsigned char tmp[16];
	int af = is_v6(o->dst_ip) ? AF_INET6 : AF_INET;
	if (!o->dst_ip || inet_pton(af, o->dst_ip, tmp) != 1)
		return kt_diag_set(d, KT_EXIT_USAGE, "the destination must be an IPv4 or IPv6 address");
	const char *src = o->src_ip ? o->src_ip : af == AF_INET6 ? DEFAULT_SRC6 : DEFAULT_SRC;
	if (inet_pton(af, src, tmp) != 1)
		return kt_diag_set(d, KT_EXIT_USAGE, "the source must be an %s address like the destination",
				   af == AF_INET6 ? "IPv6" : "IPv4");
	inet_ntop(af, tmp, x->src, sizeof(x->src));
	if (geteuid() != 0) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "tracing needs root (network namespaces, nftables trace events)");
		kt_diag_hint(d, "run as root, or with CAP_NET_ADMIN and CAP_SYS_ADMIN; nothing on the node is changed");
		return -1;
	}
	x->count = o->count ? o->count : 1;
	if (x->count > KT_TRACE_MAX_COUNT)
		x->count = KT_TRACE_MAX_COUNT;
	x->base = o->src_port ? o->src_port : 40000;
	if ((unsigned)x->base + x->count > 65536)
		return kt_diag_set(d, KT_EXIT_USAGE, "source ports %u..%u do not fit below 65536", x->base,
				   x->base + x->count - 1);
	return 0;
}

static struct kt_trace_result *result_new(struct run *x)
{
	struct kt_trace_result *r = kt_xcalloc(1, sizeof(*r));
	const struct kt_trace_rules *rs = x->rules;
	r->arena = kt_arena_new();
	r->n_probes = x->count;
	r->probes = KT_ANEW(r->arena, struct kt_trace_probe, x->count);
	memset(r->probes, 0, sizeof(*r->probes) * x->count);
	for (unsigned i = 0; i < x->count; i++)
		r->probes[i].sport = (uint16_t)(x->base + i);
	r->src_ip = kt_arena_strdup(r->arena, x->src);
	r->rules_total = rs->rules_total;
	r->rules_loaded = rs->rules_loaded;
	r->chains_total = rs->chains_total;
	r->chains_loaded = rs->chains_loaded;
	r->elems_total = rs->elems_total;
	r->elems_loaded = rs->elems_loaded;
	r->pruned = rs->pruned;
	r->prepare_ms = rs->ms;
	return r;
}

int kt_trace_run(const struct kt_trace_opts *o, const struct kt_trace_rules *rules, struct kt_trace_result **out,
		 struct kt_diag *d)
{
	*out = NULL;
	struct run x = {.o = o, .rules = rules};
	if (check_opts(o, &x, d) < 0)
		return -1;
	struct kt_trace_result *r = result_new(&x);
	x.r = r;
	x.evs.o = o;
	x.evs.src = x.src;
	x.evs.base = x.base;
	x.evs.count = x.count;
	x.evs.settled = kt_xcalloc(x.count + 1, 1);
	double t0 = now_ms();
	char err[512] = "";
	int rc = 0;
	struct kt_lab_cfg cfg = {.src = x.src, .src_on_node = o->src_on_node, .addrs = o->node_addrs,
				 .n_addrs = o->n_node_addrs};
	if (kt_lab_create(&x.lab, &cfg, err, sizeof(err)) < 0)
		rc = kt_diag_set(d, KT_EXIT_CLUSTER, "scratch namespace: %s", err);
	x.evs.if_lo = x.lab.if_node;
	r->ns_node = kt_arena_strdup(r->arena, x.lab.ns_node);
	r->ns_client = kt_arena_strdup(r->arena, x.lab.ns_cli);
	double t1 = now_ms();
	if (!rc)
		rc = interrupted(&x, d);
	if (!rc)
		rc = open_sockets(&x, d);
	if (!rc)
		rc = load_rules(&x, d);
	double t2 = now_ms();
	if (!rc)
		rc = interrupted(&x, d);
	if (!rc)
		rc = probe_all(&x, d);
	if (!rc) {
		assemble(&x);
		kt_trace_texts(r, rules->have_ipt ? &rules->ipt : NULL, x.dump_nl, x.lab.fd_node, rules->pruned);
		r->overrun = x.evs.overrun;
	}
	double t3 = now_ms();
	kt_nl_close(x.ev_nl);
	kt_nl_close(x.dump_nl);
	kt_lab_destroy(&x.lab);
	free(x.evs.v);
	free(x.evs.probe);
	free(x.evs.settled);
	r->setup_ms = t1 - t0;
	r->load_ms = t2 - t1;
	r->probe_ms = t3 - t2;
	r->total_ms = now_ms() - t0;
	if (rc < 0) {
		kt_trace_result_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

void kt_trace_result_free(struct kt_trace_result *r)
{
	if (!r)
		return;
	kt_arena_free(r->arena);
	free(r);
}

char *kt_trace_host_rules(enum kt_dp_mode mode, bool v6, size_t *len, enum kt_trace_fmt *fmt, struct kt_diag *d)
{
	const char *ipt_nft[] = {v6 ? "ip6tables-nft-save" : "iptables-nft-save", NULL};
	const char *ipt_leg[] = {v6 ? "ip6tables-legacy-save" : "iptables-legacy-save", NULL};
	const char *nft[] = {"nft", "-j", "list", "table", v6 ? "ip6" : "ip", "kube-proxy", NULL};
	const char *const *argv;
	switch (mode) {
	case KT_DP_IPTABLES_NFT: argv = ipt_nft, *fmt = KT_TRACE_IPTABLES; break;
	case KT_DP_IPTABLES_LEGACY: argv = ipt_leg, *fmt = KT_TRACE_IPTABLES; break;
	case KT_DP_NFTABLES: argv = nft, *fmt = KT_TRACE_NFT_JSON; break;
	default:
		kt_diag_set(d, KT_EXIT_USAGE, "%s rules are not netfilter rules: they cannot be traced", kt_dp_mode_name(mode));
		return NULL;
	}
	struct kt_lab_buf out = {0};
	char err[512];
	int rc = kt_lab_exec(-1, argv, NULL, 0, &out, err, sizeof(err));
	if (rc != 0 || !out.p || out.cut) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot read this host's rules: %s", rc ? err : "empty or too large");
		kt_lab_buf_free(&out);
		return NULL;
	}
	*len = out.n;
	return out.p;
}

/* Room for len + 1 bytes: an anonymous mapping aligned to 2 MiB with
 * transparent huge pages asked for (a 25 MB dump is then a dozen page
 * faults, not six thousand), or NULL. */
static char *dump_room(size_t len, struct kt_trace_dump *t)
{
	const size_t huge = (size_t)2 << 20;
	size_t want = (len + 1 + huge - 1) / huge * huge;
	char *m = mmap(NULL, want + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
	madvise(a, want, MADV_HUGEPAGE); /* a hint: small pages when none are free */
	t->map = m;
	t->map_len = want + huge;
	return a;
}

int kt_trace_read_rules(const char *path, struct kt_trace_dump *t, struct kt_diag *d)
{
	const size_t max = (size_t)1 << 30;
	memset(t, 0, sizeof(*t));
	bool std_in = !strcmp(path, "-");
	int fd = std_in ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: %s", path, strerror(errno));
		if (fd > 0)
			close(fd);
		return -1;
	}
	/* a file is read in one go into room of its size; a stream grows */
	bool sized = S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size < max;
	size_t cap = sized ? (size_t)st.st_size + 1 : 1 << 20;
	char *buf = sized ? dump_room(cap, t) : NULL;
	if (!buf)
		buf = kt_xmalloc(cap);
	size_t n = 0;
	int err = 0;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= max || t->map)
				break; /* a file that grew while read: what fit */
			cap *= 2;
			buf = kt_xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? errno : 0;
			break;
		}
		n += (size_t)r;
	}
	if (!std_in)
		close(fd);
	buf[n] = 0;
	t->p = buf;
	t->len = n;
	if (err || (!t->map && n + 1 >= max)) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: %s", path, err ? strerror(err) : "larger than 1 GiB");
		kt_trace_dump_free(t);
		return -1;
	}
	return 0;
}

void kt_trace_dump_free(struct kt_trace_dump *t)
{
	if (t->map)
		munmap(t->map, t->map_len);
	else
		free(t->p);
	memset(t, 0, sizeof(*t));
}

unsigned kt_trace_host_addrs(int af, char (*out)[48], unsigned max)
{
	struct ifaddrs *ifa = NULL;
	unsigned n = 0;
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (struct ifaddrs *i = ifa; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != af)
			continue;
		if (af == AF_INET) {
			const struct sockaddr_in *sa = (const struct sockaddr_in *)i->ifa_addr;
			uint32_t a = ntohl(sa->sin_addr.s_addr);
			if ((a >> 24) == 127 || (a >> 16) == 0xa9fe)
				continue;
			inet_ntop(AF_INET, &sa->sin_addr, out[n], 48);
		} else {
			const struct sockaddr_in6 *sa = (const struct sockaddr_in6 *)i->ifa_addr;
			if (IN6_IS_ADDR_LOOPBACK(&sa->sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&sa->sin6_addr))
				continue;
			inet_ntop(AF_INET6, &sa->sin6_addr, out[n], 48);
		}
		bool dup = false;
		for (unsigned k = 0; k < n && !dup; k++)
			dup = !strcmp(out[k], out[n]);
		if (!dup)
			n++;
	}
	freeifaddrs(ifa);
	return n;
}
