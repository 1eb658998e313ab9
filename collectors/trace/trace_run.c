/*
 * kt_trace_run(): the probe run of `ktrace trace`. Loads the rule set
 * (pruned to what the probe can reach unless --full) into the scratch
 * node namespace (iptables-nft-restore for iptables-save text, of either
 * backend: the same rules through the nft backend; `nft -j -f` for nft
 * JSON), adds a table "ktrace-probe" that sets `meta nftrace` on the probe
 * packets only (prerouting, before conntrack and NAT) and observes them
 * with empty late base chains at input, forward and postrouting (after
 * SNAT), joins NFNLGRP_NFTRACE in that namespace through the netlink
 * layer, sends real TCP SYNs / UDP datagrams from the client namespace,
 * and turns the events into per-probe steps, NAT result and fate. Rule
 * handles are mapped back to the node's rule text by their position in
 * the chain (a GETRULE dump in the scratch namespace). Everything it
 * created is removed before it returns. Must not: print, touch the host's
 * namespace beyond creating/removing the two scratch namespaces.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "collectors/netlink/nl.h"
#include "collectors/trace/trace_int.h"
#include "collectors/trace/trace_lab.h"
#include "ktrace/arena.h"
#include "ktrace/fileio.h"
#include "ktrace/xalloc.h"

#define PROBE_TABLE "ktrace-probe"
#define MAX_EVENTS 4000000u
#define MAX_STEPS 512u
#define DEFAULT_SRC "198.18.0.2"

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
};

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
	if (!strcmp(ev.table, PROBE_TABLE) && !strcmp(ev.chain, "kt-pre") && ev.has_ports &&
	    !strcmp(ev.saddr, e->src) && ev.sport >= e->base && ev.sport - e->base < (int)e->count) {
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

static int send_probe(const struct kt_trace_opts *o, const char *src, uint16_t sport)
{
	bool tcp = o->proto == IPPROTO_TCP;
	int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(sport)};
	struct sockaddr_in da = {.sin_family = AF_INET, .sin_port = htons(o->dst_port)};
	inet_pton(AF_INET, src, &sa.sin_addr);
	inet_pton(AF_INET, o->dst_ip, &da.sin_addr);
	int rc = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
	} else if (tcp) {
		if (connect(fd, (struct sockaddr *)&da, sizeof(da)) < 0 && errno != EINPROGRESS)
			rc = -errno;
		/* closing a socket in SYN-SENT sends nothing: the SYN is the probe */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		static const char payload[] = "ktrace-trace-probe";
		if (sendto(fd, payload, sizeof(payload) - 1, 0, (struct sockaddr *)&da, sizeof(da)) < 0)
			rc = -errno;
	}
	close(fd);
	return rc;
}

/* ---- rule text by handle ---------------------------------------------- */

struct handles {
	uint64_t *v;
	uint32_t n, cap;
};

static int handle_cb(struct nl_msg *msg, void *ctx)
{
	struct handles *hs = ctx;
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		kt_oom();
	if (nftnl_rule_nlmsg_parse(nlmsg_hdr(msg), r) == 0 && nftnl_rule_is_set(r, NFTNL_RULE_HANDLE)) {
		if (hs->n == hs->cap) {
			hs->cap = hs->cap ? hs->cap * 2 : 64;
			hs->v = kt_xreallocarray(hs->v, hs->cap, sizeof(*hs->v));
		}
		hs->v[hs->n++] = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	}
	nftnl_rule_free(r);
	return 0;
}

static void handle_reset(void *ctx)
{
	((struct handles *)ctx)->n = 0;
}

static int chain_handles(struct kt_nl *nl, uint8_t family, const char *table, const char *chain, struct handles *hs)
{
	char buf[1024];
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		kt_oom();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, family, NLM_F_DUMP, 0);
	nftnl_rule_nlmsg_build_payload(h, r);
	nftnl_rule_free(r);
	char err[256];
	return kt_nl_request_raw(nl, buf, h->nlmsg_len, handle_cb, handle_reset, hs, err, sizeof(err)) < 0 ? -1 : 0;
}

static const char *family_name(uint8_t f)
{
	return f == NFPROTO_IPV4 ? "ip" : f == NFPROTO_IPV6 ? "ip6" : f == NFPROTO_INET ? "inet" : "unknown";
}

/* nft mode: `nft -a list chain FAMILY TABLE CHAIN` in the scratch namespace;
 * the rule lines end in "# handle N". */
static const char *nft_rule_text(struct kt_arena *a, int nsfd, uint8_t family, const char *table, const char *chain,
				 uint64_t handle, uint32_t *pos)
{
	const char *argv[] = {"nft", "-a", "list", "chain", family_name(family), table, chain, NULL};
	struct kt_lab_buf out = {0};
	char err[256];
	const char *text = NULL;
	if (kt_lab_exec(nsfd, argv, NULL, 0, &out, err, sizeof(err)) == 0 && out.p) {
		uint32_t k = 0;
		char *l = out.p;
		while (l && *l) {
			char *nl = strchr(l, '\n');
			if (nl)
				*nl = 0;
			char *hm = strstr(l, " # handle ");
			char *t = l + strspn(l, "\t ");
			l = nl ? nl + 1 : NULL;
			if (!hm || !strncmp(t, "chain ", 6) || !strncmp(t, "table ", 6))
				continue;
			k++;
			if (strtoull(hm + 10, NULL, 10) != handle)
				continue;
			*hm = 0;
			text = kt_arena_strdup(a, t);
			*pos = k;
			break;
		}
	}
	kt_lab_buf_free(&out);
	return text;
}

/* ---- the run ------------------------------------------------------------ */

struct run {
	const struct kt_trace_opts *o;
	struct kt_trace_result *r;
	struct kt_lab lab;
	struct kt_nl *ev_nl, *dump_nl;
	struct kt_ipt_set ipt;
	bool have_ipt;
	struct evs evs;
	const char *src;
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
	char err[512] = "";
	char *text;
	size_t len;
	const char *ipt_argv[] = {"iptables-nft-restore", NULL};
	const char *nft_argv[] = {"nft", "-j", "-f", "-", NULL};
	const char *const *argv;
	const char *proto = o->proto == IPPROTO_UDP ? "udp" : "tcp";
	if (o->fmt == KT_TRACE_IPTABLES) {
		if (kt_ipt_parse(o->rules, o->rules_len, &x->ipt, d) < 0)
			return -1;
		x->have_ipt = true;
		if (!o->full)
			kt_ipt_prune(&x->ipt, o->dst_ip, o->dst_port, proto);
		text = kt_ipt_render(&x->ipt, &len);
		x->r->rules_total = x->ipt.rules_total;
		x->r->rules_loaded = x->ipt.rules_loaded;
		x->r->chains_loaded = x->ipt.chains_loaded;
		x->r->pruned = x->ipt.pruned;
		x->r->loader = "iptables-nft-restore";
		argv = ipt_argv;
	} else {
		uint32_t n = 0;
		text = kt_nft_json_loadable(o->rules, o->rules_len, &n, d);
		if (!text)
			return -1;
		len = strlen(text);
		x->r->rules_total = x->r->rules_loaded = n;
		x->r->loader = "nft -j -f";
		argv = nft_argv;
	}
	int rc = kt_lab_exec(x->lab.fd_node, argv, text, len, NULL, err, sizeof(err));
	free(text);
	if (rc == 127)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "%s", err);
	if (rc != 0) {
		kt_diag_set(d, KT_EXIT_INPUT, "the kernel refused the rule set of %s: %s",
			    o->rules_origin ? o->rules_origin : "the input", err);
		kt_diag_hint(d, "it was loaded into a scratch namespace only; try --full if the pruned set is at fault");
		return -1;
	}
	/* the probe table: trace only the probe packets, observe their fate */
	char probe[1024];
	snprintf(probe, sizeof(probe),
		 "table ip " PROBE_TABLE " {\n"
		 " chain kt-pre { type filter hook prerouting priority -500; policy accept;"
		 " ip saddr %s ip daddr %s %s dport %u meta nftrace set 1; }\n"
		 " chain kt-in { type filter hook input priority 500; policy accept; }\n"
		 " chain kt-fwd { type filter hook forward priority 500; policy accept; }\n"
		 " chain kt-post { type filter hook postrouting priority 500; policy accept; }\n"
		 "}\n",
		 x->src, o->dst_ip, proto, o->dst_port);
	const char *pargv[] = {"nft", "-f", "-", NULL};
	if (kt_lab_exec(x->lab.fd_node, pargv, probe, strlen(probe), NULL, err, sizeof(err)) != 0)
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
	if (kt_lab_enter(&x->lab, KT_LAB_CLIENT) < 0)
		return kt_diag_set(d, KT_EXIT_CLUSTER, "setns: %s", strerror(errno));
	int rc = 0;
	for (unsigned i = 0; i < x->count && !rc; i++) {
		if (o->stop && *o->stop)
			break;
		int e = send_probe(o, x->src, (uint16_t)(x->base + i));
		if (e < 0 && e != -ECONNREFUSED && e != -EHOSTUNREACH && e != -ENETUNREACH)
			rc = kt_diag_set(d, KT_EXIT_CLUSTER, "probe from port %u: %s", x->base + i, strerror(-e));
		if ((i & 31) == 31)
			drain(x->ev_nl, &x->evs);
	}
	kt_lab_enter(&x->lab, KT_LAB_SELF);
	if (rc < 0)
		return rc;
	/* events are queued by the time the probes are processed; wait for quiet */
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
		if (t >= end || t - last >= 40)
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

static const char *table_label(struct kt_arena *a, uint8_t family, const char *t)
{
	return kt_arena_printf(a, "%s %s", family_name(family), t);
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
	for (uint32_t i = 0; i < x->evs.n; i++) {
		const struct kt_trace_event *ev = &x->evs.v[i];
		struct kt_trace_probe *p = &r->probes[x->evs.probe[i]];
		seen[x->evs.probe[i]] = true;
		if (!strcmp(ev->table, PROBE_TABLE)) {
			if (!ev->has_net)
				continue;
			if (!strcmp(ev->chain, "kt-in")) {
				in_seen[x->evs.probe[i]] = true;
				snprintf(p->to_ip, sizeof(p->to_ip), "%s", ev->daddr);
				p->to_port = ev->dport;
			} else if (!strcmp(ev->chain, "kt-post")) {
				snprintf(p->to_ip, sizeof(p->to_ip), "%s", ev->daddr);
				p->to_port = ev->dport;
				snprintf(p->from_ip, sizeof(p->from_ip), "%s", ev->saddr);
				p->from_port = ev->sport;
				p->out_if = ev->oif == x->lab.if_pods ? "pod network"
					    : ev->oif == x->lab.if_cli ? "client"
					    : ev->oif == x->lab.if_node ? "node"
									 : "other";
			}
			continue;
		}
		struct kt_trace_step *s = add_step(a, p, &caps[x->evs.probe[i]]);
		if (!s)
			continue;
		s->table = table_label(a, ev->family, ev->table);
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
			dropped[x->evs.probe[i]] = true;
		/* remember the family for the text lookup */
		s->line = ev->family; /* replaced below */
	}
	for (uint32_t i = 0; i < x->count; i++) {
		struct kt_trace_probe *p = &r->probes[i];
		if (!seen[i])
			r->lost++;
		if (dropped[i])
			p->fate = KT_FATE_DROPPED;
		else if (p->out_if)
			p->fate = KT_FATE_FORWARDED;
		else if (in_seen[i])
			p->fate = KT_FATE_LOCAL;
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

/* Rule text for every step that names a rule: the chain's handles in the
 * scratch namespace, in order, give the position; with iptables text the
 * rule at that position (of what was loaded) is the node's rule. */
struct chain_key {
	const char *table;       /* as traced ("nat") */
	const char *chain;
	uint8_t family;
	struct handles hs;
};

static void texts(struct run *x)
{
	struct kt_trace_result *r = x->r;
	struct chain_key *keys = NULL;
	uint32_t nk = 0, ck = 0;
	for (uint32_t pi = 0; pi < r->n_probes; pi++) {
		struct kt_trace_probe *p = &r->probes[pi];
		for (uint32_t si = 0; si < p->n_steps; si++) {
			struct kt_trace_step *s = &p->steps[si];
			uint8_t family = (uint8_t)s->line;
			s->line = 0;
			if (!s->handle)
				continue;
			const char *tname = strchr(s->table, ' ') ? strchr(s->table, ' ') + 1 : s->table;
			struct chain_key *k = NULL;
			for (uint32_t j = 0; j < nk && !k; j++)
				if (keys[j].family == family && !strcmp(keys[j].table, tname) && !strcmp(keys[j].chain, s->chain))
					k = &keys[j];
			if (!k) {
				if (nk == ck) {
					ck = ck ? ck * 2 : 16;
					keys = kt_xreallocarray(keys, ck, sizeof(*keys));
				}
				k = &keys[nk++];
				memset(k, 0, sizeof(*k));
				k->table = tname;
				k->chain = s->chain;
				k->family = family;
				chain_handles(x->dump_nl, family, tname, s->chain, &k->hs);
			}
			uint32_t ix = 0;
			while (ix < k->hs.n && k->hs.v[ix] != s->handle)
				ix++;
			if (ix == k->hs.n)
				continue;
			if (x->have_ipt) {
				const struct kt_ipt_chain *c = kt_ipt_find(&x->ipt, tname, s->chain);
				if (c && ix < c->n_rules) {
					s->text = kt_arena_strdup(r->arena, c->rules[ix].text);
					s->pos = c->rules[ix].pos;
					s->line = c->rules[ix].line;
				}
			} else {
				s->text = nft_rule_text(r->arena, x->lab.fd_node, family, tname, s->chain, s->handle, &s->pos);
			}
		}
	}
	for (uint32_t j = 0; j < nk; j++)
		free(keys[j].hs.v);
	free(keys);
	/* a drop by a REJECT rule is a rejection */
	for (uint32_t pi = 0; pi < r->n_probes; pi++) {
		struct kt_trace_probe *p = &r->probes[pi];
		if (p->fate != KT_FATE_DROPPED)
			continue;
		for (uint32_t si = 0; si < p->n_steps; si++) {
			const struct kt_trace_step *s = &p->steps[si];
			if (!strcmp(s->verdict, "drop") && s->text && (strstr(s->text, "REJECT") || strstr(s->text, "reject")))
				p->fate = KT_FATE_REJECTED;
		}
	}
}

int kt_trace_run(const struct kt_trace_opts *o, struct kt_trace_result **out, struct kt_diag *d)
{
	*out = NULL;
	struct in_addr tmp;
	if (!o->dst_ip || inet_pton(AF_INET, o->dst_ip, &tmp) != 1)
		return kt_diag_set(d, KT_EXIT_USAGE, "the destination must be an IPv4 address (IPv6 is not traced yet)");
	if (o->src_ip && inet_pton(AF_INET, o->src_ip, &tmp) != 1)
		return kt_diag_set(d, KT_EXIT_USAGE, "the source must be an IPv4 address");
	if (geteuid() != 0) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "tracing needs root (network namespaces, nftables trace events)");
		kt_diag_hint(d, "run as root, or with CAP_NET_ADMIN and CAP_SYS_ADMIN; nothing on the node is changed");
		return -1;
	}
	struct run x = {.o = o};
	x.src = o->src_ip ? o->src_ip : DEFAULT_SRC;
	x.count = o->count ? o->count : 1;
	if (x.count > KT_TRACE_MAX_COUNT)
		x.count = KT_TRACE_MAX_COUNT;
	x.base = o->src_port ? o->src_port : 40000;
	if ((unsigned)x.base + x.count > 65536)
		return kt_diag_set(d, KT_EXIT_USAGE, "source ports %u..%u do not fit below 65536", x.base,
				   x.base + x.count - 1);
	struct kt_trace_result *r = kt_xcalloc(1, sizeof(*r));
	r->arena = kt_arena_new();
	x.r = r;
	r->n_probes = x.count;
	r->probes = KT_ANEW(r->arena, struct kt_trace_probe, x.count);
	memset(r->probes, 0, sizeof(*r->probes) * x.count);
	for (unsigned i = 0; i < x.count; i++)
		r->probes[i].sport = (uint16_t)(x.base + i);
	r->src_ip = kt_arena_strdup(r->arena, x.src);
	x.evs.o = o;
	x.evs.src = x.src;
	x.evs.base = x.base;
	x.evs.count = x.count;
	double t0 = now_ms();
	char err[512] = "";
	int rc = 0;
	if (kt_lab_create(&x.lab, x.src, o->node_addrs, o->n_node_addrs, err, sizeof(err)) < 0)
		rc = kt_diag_set(d, KT_EXIT_CLUSTER, "scratch namespace: %s", err);
	r->ns_node = kt_arena_strdup(r->arena, x.lab.ns_node);
	r->ns_client = kt_arena_strdup(r->arena, x.lab.ns_cli);
	double t1 = now_ms();
	if (!rc)
		rc = interrupted(&x, d);
	if (!rc)
		rc = load_rules(&x, d);
	double t2 = now_ms();
	if (!rc)
		rc = interrupted(&x, d);
	if (!rc)
		rc = open_sockets(&x, d);
	if (!rc)
		rc = probe_all(&x, d);
	if (!rc) {
		assemble(&x);
		texts(&x);
		r->overrun = x.evs.overrun;
	}
	double t3 = now_ms();
	kt_nl_close(x.ev_nl);
	kt_nl_close(x.dump_nl);
	kt_lab_destroy(&x.lab);
	if (x.have_ipt)
		kt_ipt_free(&x.ipt);
	free(x.evs.v);
	free(x.evs.probe);
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

char *kt_trace_host_rules(enum kt_dp_mode mode, size_t *len, enum kt_trace_fmt *fmt, struct kt_diag *d)
{
	const char *ipt_nft[] = {"iptables-nft-save", NULL};
	const char *ipt_leg[] = {"iptables-legacy-save", NULL};
	const char *nft[] = {"nft", "-j", "list", "table", "ip", "kube-proxy", NULL};
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

char *kt_trace_read_rules(const char *path, size_t *len, struct kt_diag *d)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t max = (size_t)1 << 30;
	int rc = kt_read_stream(f, 1 << 20, max, &buf, len);
	fclose(f);
	if (rc < 0 || *len >= max) {
		free(buf);
		kt_diag_set(d, KT_EXIT_INPUT, "%s: %s", path, rc < 0 ? "cannot read" : "larger than 1 GiB");
		return NULL;
	}
	return buf;
}

unsigned kt_trace_host_addrs(char (*out)[48], unsigned max)
{
	struct ifaddrs *ifa = NULL;
	unsigned n = 0;
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (struct ifaddrs *i = ifa; i && n < max; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		const struct sockaddr_in *sa = (const struct sockaddr_in *)i->ifa_addr;
		uint32_t a = ntohl(sa->sin_addr.s_addr);
		if ((a >> 24) == 127 || (a >> 16) == 0xa9fe)
			continue;
		inet_ntop(AF_INET, &sa->sin_addr, out[n], 48);
		bool dup = false;
		for (unsigned k = 0; k < n && !dup; k++)
			dup = !strcmp(out[k], out[n]);
		if (!dup)
			n++;
	}
	freeifaddrs(ifa);
	return n;
}
