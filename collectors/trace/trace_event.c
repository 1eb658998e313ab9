/*
 * The nftables trace-event decoder: one NFT_MSG_TRACE message (received
 * on NFNLGRP_NFTRACE through the netlink layer, or fed from a fuzz input)
 * into a struct kt_trace_event, through libnftnl's trace API
 * (nftnl_trace_nlmsg_parse and its getters). The packet headers the
 * kernel copies into the event (network and transport, as seen at that
 * hook: after DNAT in later hooks) are read here with explicit length
 * checks. Must not: allocate beyond the libnftnl object, print, or trust
 * any length in the message.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/trace.h>

#include "collectors/netlink/nl.h"
#include "collectors/trace/trace_int.h"
#include "ktrace/xalloc.h"

const char *kt_trace_verdict_name(int32_t v)
{
	switch (v) {
	case NF_ACCEPT: return "accept";
	case NF_DROP: return "drop";
	case NF_QUEUE: return "queue";
	case NF_STOLEN: return "stolen";
	case NFT_CONTINUE: return "continue";
	case NFT_BREAK: return "break";
	case NFT_JUMP: return "jump";
	case NFT_GOTO: return "goto";
	case NFT_RETURN: return "return";
	default: return "other";
	}
}

static void copy_str(const struct nftnl_trace *t, uint16_t attr, char *out, size_t n)
{
	out[0] = 0;
	if (!nftnl_trace_is_set(t, attr))
		return;
	const char *s = nftnl_trace_get_str(t, attr);
	if (s)
		snprintf(out, n, "%s", s);
}

/* IPv4 / IPv6 header: addresses and the L4 protocol. */
static void net_header(struct kt_trace_event *ev, const uint8_t *p, uint32_t len)
{
	if (len < 1)
		return;
	unsigned ver = p[0] >> 4;
	if (ver == 4 && len >= 20) {
		ev->ipver = 4;
		ev->l4proto = p[9];
		inet_ntop(AF_INET, p + 12, ev->saddr, sizeof(ev->saddr));
		inet_ntop(AF_INET, p + 16, ev->daddr, sizeof(ev->daddr));
		ev->has_net = true;
	} else if (ver == 6 && len >= 40) {
		ev->ipver = 6;
		ev->l4proto = p[6];
		inet_ntop(AF_INET6, p + 8, ev->saddr, sizeof(ev->saddr));
		inet_ntop(AF_INET6, p + 24, ev->daddr, sizeof(ev->daddr));
		ev->has_net = true;
	}
}

/* libnftnl's trace parser calls exit() on an attribute of the wrong size
 * and reads the nested verdict code without checking it is there: check
 * every attribute it validates first, with libmnl's rules (fixed-size
 * types exactly their size, strings non-empty; ours must also end in NUL
 * since libnftnl copies them with strdup). */
static bool str_ok(const struct nlattr *a)
{
	int l = kt_nla_len(a);
	return l > 0 && memchr(kt_nla_data(a), 0, (size_t)l) != NULL;
}

static bool verdict_ok(const struct nlattr *v)
{
	const struct nlattr *a;
	int rem;
	bool code = false, chain = false;
	uint32_t c = 0;
	KT_NLA_FOR_NESTED(a, rem, v) {
		if (kt_nla_type(a) == NFTA_VERDICT_CODE) {
			if (kt_nla_len(a) != 4)
				return false;
			memcpy(&c, kt_nla_data(a), 4);
			code = true;
		} else if (kt_nla_type(a) == NFTA_VERDICT_CHAIN) {
			if (!str_ok(a))
				return false;
			chain = true;
		} else if (kt_nla_type(a) == NFTA_VERDICT_CHAIN_ID && kt_nla_len(a) != 4) {
			return false;
		}
	}
	if (rem != 0)
		return false;
	if (!code)
		return false;
	int32_t verdict = (int32_t)ntohl(c);
	return !(verdict == NFT_JUMP || verdict == NFT_GOTO) || chain;
}

static bool attrs_ok(const struct nlmsghdr *h)
{
	const struct nlattr *a;
	int rem;
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	bool id = false, type = false;
	if (h->nlmsg_len < off)
		return false;
	KT_NLA_FOR(a, rem, (const char *)h + off, h->nlmsg_len - off) {
		int l = kt_nla_len(a);
		switch (kt_nla_type(a)) {
		case NFTA_TRACE_TABLE:
		case NFTA_TRACE_CHAIN:
			if (!str_ok(a))
				return false;
			break;
		case NFTA_TRACE_RULE_HANDLE:
			if (l != 8)
				return false;
			break;
		case NFTA_TRACE_VERDICT:
			if ((l != 0 && l < NLA_HDRLEN) || !verdict_ok(a))
				return false;
			break;
		case NFTA_TRACE_IIFTYPE:
		case NFTA_TRACE_OIFTYPE:
			if (l != 2)
				return false;
			break;
		case NFTA_TRACE_TYPE:
		case NFTA_TRACE_ID:
			id = id || kt_nla_type(a) == NFTA_TRACE_ID;
			type = type || kt_nla_type(a) == NFTA_TRACE_TYPE;
			/* fall through */
		case NFTA_TRACE_IIF:
		case NFTA_TRACE_OIF:
		case NFTA_TRACE_MARK:
		case NFTA_TRACE_NFPROTO:
		case NFTA_TRACE_POLICY:
			if (l != 4)
				return false;
			break;
		default:
			break;
		}
	}
	return rem == 0 && id && type; /* libnftnl exits without either */
}

int kt_trace_decode(const void *nh, size_t nh_len, struct kt_trace_event *ev)
{
	const struct nlmsghdr *h = nh;
	memset(ev, 0, sizeof(*ev));
	if (nh_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg) || h->nlmsg_len > nh_len ||
	    h->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg))
		return -1;
	if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_NFTABLES || NFNL_MSG_TYPE(h->nlmsg_type) != NFT_MSG_TRACE)
		return 0;
	if (!attrs_ok(h))
		return -1;
	struct nftnl_trace *t = nftnl_trace_alloc();
	if (!t)
		kt_oom();
	if (nftnl_trace_nlmsg_parse(h, t) < 0) {
		nftnl_trace_free(t);
		return -1;
	}
	const struct nfgenmsg *g = NLMSG_DATA(h);
	ev->family = g->nfgen_family;
	if (nftnl_trace_is_set(t, NFTNL_TRACE_ID))
		ev->id = nftnl_trace_get_u32(t, NFTNL_TRACE_ID);
	if (nftnl_trace_is_set(t, NFTNL_TRACE_TYPE))
		ev->type = nftnl_trace_get_u32(t, NFTNL_TRACE_TYPE);
	copy_str(t, NFTNL_TRACE_TABLE, ev->table, sizeof(ev->table));
	copy_str(t, NFTNL_TRACE_CHAIN, ev->chain, sizeof(ev->chain));
	if (nftnl_trace_is_set(t, NFTNL_TRACE_RULE_HANDLE))
		ev->handle = nftnl_trace_get_u64(t, NFTNL_TRACE_RULE_HANDLE);
	if (nftnl_trace_is_set(t, NFTNL_TRACE_VERDICT)) {
		ev->has_verdict = true;
		ev->verdict = (int32_t)nftnl_trace_get_u32(t, NFTNL_TRACE_VERDICT);
	}
	if (nftnl_trace_is_set(t, NFTNL_TRACE_POLICY)) {
		ev->has_policy = true;
		ev->policy = (int32_t)nftnl_trace_get_u32(t, NFTNL_TRACE_POLICY);
	}
	copy_str(t, NFTNL_TRACE_JUMP_TARGET, ev->target, sizeof(ev->target));
	if (nftnl_trace_is_set(t, NFTNL_TRACE_IIF))
		ev->iif = nftnl_trace_get_u32(t, NFTNL_TRACE_IIF);
	if (nftnl_trace_is_set(t, NFTNL_TRACE_OIF))
		ev->oif = nftnl_trace_get_u32(t, NFTNL_TRACE_OIF);
	if (nftnl_trace_is_set(t, NFTNL_TRACE_MARK))
		ev->mark = nftnl_trace_get_u32(t, NFTNL_TRACE_MARK);
	uint32_t len = 0;
	const uint8_t *p;
	if (nftnl_trace_is_set(t, NFTNL_TRACE_NETWORK_HEADER) &&
	    (p = nftnl_trace_get_data(t, NFTNL_TRACE_NETWORK_HEADER, &len)) != NULL)
		net_header(ev, p, len);
	if (ev->has_net && (ev->l4proto == IPPROTO_TCP || ev->l4proto == IPPROTO_UDP) &&
	    nftnl_trace_is_set(t, NFTNL_TRACE_TRANSPORT_HEADER) &&
	    (p = nftnl_trace_get_data(t, NFTNL_TRACE_TRANSPORT_HEADER, &len)) != NULL && len >= 4) {
		ev->sport = (uint16_t)(p[0] << 8 | p[1]);
		ev->dport = (uint16_t)(p[2] << 8 | p[3]);
		ev->has_ports = true;
	}
	nftnl_trace_free(t);
	return 1;
}
