/*
 * The probe table of `ktrace trace`, built in-process with libnftnl and
 * sent as one nfnetlink batch through the netlink layer into the scratch
 * node namespace (no `nft` process):
 *
 *   table ip|ip6 ktrace-probe {
 *     chain kt-pre  { type filter hook prerouting priority -500; policy accept;
 *                     ip saddr SRC ip daddr DST meta l4proto P th dport PORT meta nftrace set 1 }
 *     chain kt-out  { type filter hook output priority -500; ... the same rule ... }
 *     chain kt-in   { type filter hook input priority 500; policy accept; }
 *     chain kt-fwd  { type filter hook forward priority 500; policy accept; }
 *     chain kt-post { type filter hook postrouting priority 500; policy accept; }
 *   }
 *
 * The early chains (before conntrack and NAT) mark only the probe packets
 * for tracing, from a client namespace (prerouting) or from the node
 * itself (output); the late empty chains show where a traced packet went
 * and its addresses after NAT. Must not: touch any other table, print.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "collectors/netlink/nl.h"
#include "collectors/trace/trace_int.h"
#include "ktrace/xalloc.h"

#define BUF_SIZE 8192

struct batch {
	char buf[BUF_SIZE];
	size_t off;
};

static struct nlmsghdr *hdr(struct batch *b, uint16_t type, uint16_t family, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(b->buf + b->off, type, family, flags, 0);
}

static void done(struct batch *b, struct nlmsghdr *h)
{
	b->off += NLMSG_ALIGN(h->nlmsg_len);
}

static void expr(struct nftnl_rule *r, const char *name, void (*fill)(struct nftnl_expr *, const void *),
		 const void *arg)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);
	if (!e)
		kt_oom();
	fill(e, arg);
	nftnl_rule_add_expr(r, e);
}

struct pl {
	uint32_t base, off, len;
};

static void fill_payload(struct nftnl_expr *e, const void *arg)
{
	const struct pl *p = arg;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, p->base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, p->off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, p->len);
}

struct cmpv {
	const void *data;
	uint32_t len;
};

static void fill_cmp(struct nftnl_expr *e, const void *arg)
{
	const struct cmpv *c = arg;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, c->data, c->len);
}

static void fill_l4proto(struct nftnl_expr *e, const void *arg)
{
	(void)arg;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
}

static void fill_one(struct nftnl_expr *e, const void *arg)
{
	(void)arg;
	uint8_t one = 1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &one, sizeof(one));
}

static void fill_nftrace(struct nftnl_expr *e, const void *arg)
{
	(void)arg;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_NFTRACE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
}

static void add_chain(struct batch *b, uint16_t fam, const char *name, uint32_t hook, int32_t prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c)
		kt_oom();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, KT_TRACE_PROBE_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	struct nlmsghdr *h = hdr(b, NFT_MSG_NEWCHAIN, fam, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(h, c);
	nftnl_chain_free(c);
	done(b, h);
}

/* ip saddr SRC ip daddr DST meta l4proto P th dport PORT meta nftrace set 1 */
static void add_mark_rule(struct batch *b, uint16_t fam, const char *chain, const unsigned char *src,
			  const unsigned char *dst, uint8_t proto, uint16_t dport)
{
	bool v6 = fam == NFPROTO_IPV6;
	uint32_t alen = v6 ? 16 : 4;
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		kt_oom();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, KT_TRACE_PROBE_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	struct pl saddr = {NFT_PAYLOAD_NETWORK_HEADER, v6 ? 8 : 12, alen};
	struct pl daddr = {NFT_PAYLOAD_NETWORK_HEADER, v6 ? 24 : 16, alen};
	struct pl port = {NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2};
	uint16_t nport = htons(dport);
	struct cmpv cs = {src, alen}, cd = {dst, alen}, cp = {&proto, 1}, cpo = {&nport, 2};
	expr(r, "payload", fill_payload, &saddr);
	expr(r, "cmp", fill_cmp, &cs);
	expr(r, "payload", fill_payload, &daddr);
	expr(r, "cmp", fill_cmp, &cd);
	expr(r, "meta", fill_l4proto, NULL);
	expr(r, "cmp", fill_cmp, &cp);
	expr(r, "payload", fill_payload, &port);
	expr(r, "cmp", fill_cmp, &cpo);
	expr(r, "immediate", fill_one, NULL);
	expr(r, "meta", fill_nftrace, NULL);
	struct nlmsghdr *h = hdr(b, NFT_MSG_NEWRULE, fam, NLM_F_CREATE | NLM_F_APPEND);
	nftnl_rule_nlmsg_build_payload(h, r);
	nftnl_rule_free(r);
	done(b, h);
}

int kt_trace_probe_table(struct kt_nl *nl, const char *src, const char *dst, uint8_t proto, uint16_t dport,
			 char *err, size_t errlen)
{
	bool v6 = strchr(dst, ':') != NULL;
	uint16_t fam = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	unsigned char s[16], d[16];
	if (inet_pton(v6 ? AF_INET6 : AF_INET, src, s) != 1 || inet_pton(v6 ? AF_INET6 : AF_INET, dst, d) != 1) {
		snprintf(err, errlen, "probe addresses %s -> %s are not of one family", src, dst);
		return -1;
	}
	struct batch *b = kt_xcalloc(1, sizeof(*b));
	done(b, nftnl_batch_begin(b->buf, 0));
	struct nftnl_table *t = nftnl_table_alloc();
	if (!t)
		kt_oom();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, KT_TRACE_PROBE_TABLE);
	struct nlmsghdr *h = hdr(b, NFT_MSG_NEWTABLE, fam, NLM_F_CREATE);
	nftnl_table_nlmsg_build_payload(h, t);
	nftnl_table_free(t);
	done(b, h);
	add_chain(b, fam, "kt-pre", NF_INET_PRE_ROUTING, -500);
	add_chain(b, fam, "kt-out", NF_INET_LOCAL_OUT, -500);
	add_chain(b, fam, "kt-in", NF_INET_LOCAL_IN, 500);
	add_chain(b, fam, "kt-fwd", NF_INET_FORWARD, 500);
	add_chain(b, fam, "kt-post", NF_INET_POST_ROUTING, 500);
	add_mark_rule(b, fam, "kt-pre", s, d, proto, dport);
	add_mark_rule(b, fam, "kt-out", s, d, proto, dport);
	done(b, nftnl_batch_end(b->buf + b->off, 0));
	int rc = kt_nl_batch(nl, b->buf, b->off, err, errlen);
	free(b);
	return rc < 0 ? -1 : 0;
}
