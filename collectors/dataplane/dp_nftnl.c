/*
 * nf_tables access through libnftnl, shared by the iptables-nft reader
 * (tables ip/ip6 nat and filter, rules written by iptables-nft with
 * xtables compat match/target payloads) and the nftables-mode reader
 * (kube-proxy's ip/ip6 kube-proxy tables: native expressions, sets, maps).
 *
 * Requests are dumps only (GETTABLE/GETCHAIN/GETRULE/GETSET/GETSETELEM),
 * rules are dumped per chain (the kernel re-walks the whole table on every
 * resume of a table-wide rule dump) and decoded into struct kt_nft_rule:
 * a register tracker follows payload/meta/immediate/numgen/fib loads into
 * cmp/range/lookup/nat expressions, and kt_xt_match()/kt_xt_target()
 * decode the binary xt_* structs (comment, statistic, recent, addrtype,
 * tcp/udp, mark, nfacct; DNAT, MASQUERADE, MARK) with length checks.
 * Must not: send anything but dump/get requests, print, or judge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <endian.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/xalloc.h"

#define REQ_SIZE 2048

/* ---- xtables compat payloads ---------------------------------------- */

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static void fmt_addr(const uint8_t *a, uint8_t family, char *out, size_t n)
{
	if (!inet_ntop(family == 10 ? AF_INET6 : AF_INET, a, out, (socklen_t)n))
		snprintf(out, n, "?");
}

void kt_xt_match(struct kt_ipt_rule *r, const char *name, uint32_t rev, const void *info, size_t len,
		 char *comment, size_t csz)
{
	const uint8_t *p = info;
	if (!name || !p)
		return;
	if (strcmp(name, "comment") == 0) {
		size_t n = strnlen((const char *)p, len < 256 ? len : 256);
		if (n >= csz)
			n = csz - 1;
		memcpy(comment, p, n);
		comment[n] = 0;
		r->comment = comment;
		r->comment_len = n;
	} else if (strcmp(name, "statistic") == 0 && len >= 8) {
		uint16_t mode = rd16(p), flags = rd16(p + 2);
		if (mode == 0 && !(flags & 1)) {
			r->has_prob = true;
			r->prob = (double)rd32(p + 4) / 2147483648.0;
		}
	} else if (strcmp(name, "recent") == 0 && len >= 212) {
		/* xt_recent_mtinfo(_v1): seconds, hit_count, check_set, invert, name[200], side */
		uint8_t cs = p[8];
		r->recent_seconds = (int32_t)rd32(p);
		if (cs & (0x01 | 0x04)) /* XT_RECENT_CHECK | XT_RECENT_UPDATE */
			r->recent |= KT_RECENT_CHECK;
		if (cs & 0x02)
			r->recent |= KT_RECENT_SET;
		(void)rev;
	} else if (strcmp(name, "addrtype") == 0 && len >= 8 && rev >= 1) {
		uint16_t src = rd16(p), dst = rd16(p + 2);
		uint32_t fl = rd32(p + 4);
		if ((src & 4) && !(fl & 1))
			r->src_local = true;
		if ((dst & 4) && !(fl & 2))
			r->dst_local = true;
	} else if ((strcmp(name, "tcp") == 0 || strcmp(name, "udp") == 0 || strcmp(name, "sctp") == 0) &&
		   len >= 8) {
		uint16_t d0 = rd16(p + 4), d1 = rd16(p + 6);
		if (!(d0 == 0 && d1 == 0xffff) && d0)
			r->dport = d0;
		if (!r->proto)
			r->proto = name[0] == 't' ? 6 : name[0] == 'u' ? 17 : 132;
	} else if (strcmp(name, "mark") == 0) {
		r->mark_match = true;
	} else if (strcmp(name, "nfacct") == 0) {
		r->nfacct = true;
	}
}

void kt_xt_target(struct kt_ipt_rule *r, const char *name, uint32_t rev, const void *info, size_t len,
		  uint8_t family)
{
	const uint8_t *p = info;
	if (!name)
		return;
	if (strcmp(name, "DNAT") == 0) {
		r->verdict = KT_IPT_DNAT;
		if (!p)
			return;
		if (rev >= 1 && len >= 40) {
			/* nf_nat_range(2): flags, min_addr[16], max_addr[16], min_proto, max_proto */
			uint32_t fl = rd32(p);
			if (fl & 1)
				fmt_addr(p + 4, family, r->dnat_ip, sizeof(r->dnat_ip));
			if (fl & 2)
				r->dnat_port = ntohs(rd16(p + 36));
		} else if (rev == 0 && len >= 20) {
			/* nf_nat_ipv4_multi_range_compat: rangesize, {flags, min_ip, max_ip, min, max} */
			uint32_t fl = rd32(p + 4);
			if (fl & 1)
				fmt_addr(p + 8, 2, r->dnat_ip, sizeof(r->dnat_ip));
			if (fl & 2)
				r->dnat_port = ntohs(rd16(p + 16));
		}
	} else if (strcmp(name, "MASQUERADE") == 0) {
		r->verdict = KT_IPT_MASQ;
		if (p && len >= 8 && (rd32(p + 4) & 0x10))
			r->random_fully = true;
	} else if (strcmp(name, "MARK") == 0) {
		r->verdict = KT_IPT_MARK;
	} else if (strcmp(name, "REJECT") == 0) {
		r->verdict = KT_IPT_REJECT;
	} else {
		r->verdict = KT_IPT_OTHER;
	}
}

/* ---- native expression decoder -------------------------------------- */

enum rkind { R_NONE, R_PAYLOAD, R_META, R_IMM, R_NUMGEN, R_FIB };

struct reg {
	uint8_t kind;
	uint32_t base, off, len;
	uint32_t key;            /* meta key / fib result */
	uint32_t fib_flags;
	uint32_t mod;
	uint8_t data[16];
	uint32_t dlen;
	uint8_t mask[16];
	bool has_mask;
};

#define NREGS 32

static struct reg *regp(struct reg *regs, uint32_t r)
{
	return r < NREGS ? &regs[r] : NULL;
}

static int prefix_len(const uint8_t *m, uint32_t n)
{
	int bits = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t b = m[i];
		while (b & 0x80) {
			bits++;
			b = (uint8_t)(b << 1);
		}
		if (m[i] != 0xff)
			break;
	}
	return bits;
}

static void addr_cmp(struct kt_ipt_rule *r, const struct reg *g, const uint8_t *data, uint32_t dlen, bool neq,
		     uint8_t family, bool src)
{
	uint8_t full[16] = {0};
	uint32_t alen = family == 10 ? 16 : 4;
	memcpy(full, data, dlen < alen ? dlen : alen);
	int plen = g->has_mask ? prefix_len(g->mask, alen) : (int)(g->len * 8);
	char ip[INET6_ADDRSTRLEN];
	fmt_addr(full, family, ip, sizeof(ip));
	char *dst = src ? r->src : r->dst;
	snprintf(dst, sizeof(r->src), "%s/%d", ip, plen);
	if (src)
		r->src_neg = neq;
	else
		r->dst_neg = neq;
}

struct dec {
	struct kt_nft_rule *out;
	uint8_t family;
	struct reg regs[NREGS];
};

/* Attributes of one expression's data (values are big-endian u32 unless
 * noted), indexed by libnl's nla_parse() without copying. The rule, list
 * element, data and verdict levels are validated by policy; expression
 * data differs per expression type, so its readers check lengths
 * themselves (xu32, xstr, xdata). A level that fails validation is
 * ignored as a whole. */
#define XA_MAX 8

static const struct nla_policy rule_policy[NFTA_RULE_MAX + 1] = {
	[NFTA_RULE_TABLE] = {.type = NLA_STRING},
	[NFTA_RULE_CHAIN] = {.type = NLA_STRING},
	[NFTA_RULE_HANDLE] = {.type = NLA_U64},
	[NFTA_RULE_EXPRESSIONS] = {.type = NLA_NESTED},
	[NFTA_RULE_USERDATA] = {.type = NLA_UNSPEC},
};
static const struct nla_policy elem_policy[NFTA_EXPR_MAX + 1] = {
	[NFTA_EXPR_NAME] = {.type = NLA_STRING},
	[NFTA_EXPR_DATA] = {.type = NLA_NESTED},
};
static const struct nla_policy data_policy[NFTA_DATA_MAX + 1] = {
	[NFTA_DATA_VALUE] = {.type = NLA_UNSPEC},
	[NFTA_DATA_VERDICT] = {.type = NLA_NESTED},
};
static const struct nla_policy verdict_policy[NFTA_VERDICT_MAX + 1] = {
	[NFTA_VERDICT_CODE] = {.type = NLA_U32},
	[NFTA_VERDICT_CHAIN] = {.type = NLA_STRING},
};

static void xparse(const void *p, size_t len, struct nlattr **tb, int max, const struct nla_policy *pol)
{
	if (len > INT32_MAX || nla_parse(tb, max, (struct nlattr *)p, (int)len, pol) < 0)
		memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
}

static void xnested(const struct nlattr *a, struct nlattr **tb, int max, const struct nla_policy *pol)
{
	if (!a) {
		memset(tb, 0, sizeof(*tb) * (size_t)(max + 1));
		return;
	}
	xparse(nla_data(a), (size_t)nla_len(a), tb, max, pol);
}

static uint32_t xu32(const struct nlattr *a)
{
	return a && nla_len(a) >= 4 ? ntohl(rd32(nla_data(a))) : 0;
}

/* NFTA_DATA_VALUE inside a nested data attribute */
static const uint8_t *xdata(const struct nlattr *a, uint32_t *len)
{
	struct nlattr *d[NFTA_DATA_MAX + 1];
	*len = 0;
	xnested(a, d, NFTA_DATA_MAX, data_policy);
	if (!d[NFTA_DATA_VALUE])
		return NULL;
	*len = (uint32_t)nla_len(d[NFTA_DATA_VALUE]);
	return nla_data(d[NFTA_DATA_VALUE]);
}

static void xstr(const struct nlattr *a, char *out, size_t n)
{
	out[0] = 0;
	if (!a || !n)
		return;
	size_t l = strnlen(nla_data(a), (size_t)nla_len(a));
	if (l >= n)
		l = n - 1;
	memcpy(out, nla_data(a), l);
	out[l] = 0;
}

static void on_cmp(struct dec *d, struct nlattr **x)
{
	struct kt_ipt_rule *r = &d->out->ipt;
	uint32_t op = xu32(x[NFTA_CMP_OP]);
	uint32_t dlen = 0;
	const uint8_t *data = xdata(x[NFTA_CMP_DATA], &dlen);
	struct reg *g = regp(d->regs, xu32(x[NFTA_CMP_SREG]));
	if (!g || !data)
		return;
	bool neq = op == NFT_CMP_NEQ;
	if (g->kind == R_PAYLOAD && g->base == NFT_PAYLOAD_NETWORK_HEADER) {
		if (d->family == 10) {
			if (g->off == 8)
				addr_cmp(r, g, data, dlen, neq, 10, true);
			else if (g->off == 24)
				addr_cmp(r, g, data, dlen, neq, 10, false);
			else if (g->off == 6 && dlen >= 1 && !neq)
				r->proto = data[0];
		} else {
			if (g->off == 12)
				addr_cmp(r, g, data, dlen, neq, 2, true);
			else if (g->off == 16)
				addr_cmp(r, g, data, dlen, neq, 2, false);
			else if (g->off == 9 && dlen >= 1 && !neq)
				r->proto = data[0];
		}
	} else if (g->kind == R_PAYLOAD && g->base == NFT_PAYLOAD_TRANSPORT_HEADER && g->off == 2 && dlen >= 2) {
		if (!neq)
			r->dport = ntohs(rd16(data));
	} else if (g->kind == R_META) {
		if (g->key == NFT_META_L4PROTO && dlen >= 1 && !neq)
			r->proto = data[0];
		else if (g->key == NFT_META_MARK)
			r->mark_match = true;
		else if (g->key == NFT_META_IIFNAME || g->key == NFT_META_IIF) {
			r->iif = true;
			r->src_neg = neq;
		}
	} else if (g->kind == R_FIB && g->key == NFT_FIB_RESULT_ADDRTYPE && dlen >= 4) {
		uint32_t t = rd32(data);
		if (t == 2 /* RTN_LOCAL */ && !neq) {
			if (g->fib_flags & NFTA_FIB_F_SADDR) {
				d->out->fib_saddr_local = true;
				r->src_local = true;
			} else if (g->fib_flags & NFTA_FIB_F_DADDR) {
				d->out->fib_daddr_local = true;
				r->dst_local = true;
			}
		}
	}
}

static void on_lookup(struct dec *d, struct nlattr **x)
{
	struct kt_nft_rule *o = d->out;
	struct reg *g = regp(d->regs, xu32(x[NFTA_LOOKUP_SREG]));
	xstr(x[NFTA_LOOKUP_SET], o->lookup_set, sizeof(o->lookup_set));
	o->lookup_vmap = x[NFTA_LOOKUP_DREG] && xu32(x[NFTA_LOOKUP_DREG]) == NFT_REG_VERDICT;
	o->lookup_inv = xu32(x[NFTA_LOOKUP_FLAGS]) & NFT_LOOKUP_F_INV;
	o->lookup_key = KT_NFT_KEY_OTHER;
	if (!g)
		return;
	if (g->kind == R_NUMGEN) {
		o->lookup_key = KT_NFT_KEY_NUMGEN;
		o->numgen_mod = g->mod;
	} else if (g->kind == R_PAYLOAD && g->base == NFT_PAYLOAD_NETWORK_HEADER) {
		bool daddr = d->family == 10 ? g->off == 24 : g->off == 16;
		bool saddr = d->family == 10 ? g->off == 8 : g->off == 12;
		o->lookup_key = daddr ? KT_NFT_KEY_DADDR : saddr ? KT_NFT_KEY_SADDR : KT_NFT_KEY_OTHER;
		if (daddr && !o->lookup_vmap && g->len == (d->family == 10 ? 16u : 4u))
			memcpy(o->daddr_set, o->lookup_set, sizeof(o->daddr_set));
	} else if (g->kind == R_META && g->key == NFT_META_L4PROTO) {
		o->lookup_key = KT_NFT_KEY_L4PORT;
	}
}

static void on_imm(struct dec *d, struct nlattr **x)
{
	uint32_t dreg = xu32(x[NFTA_IMMEDIATE_DREG]);
	struct kt_ipt_rule *r = &d->out->ipt;
	if (!x[NFTA_IMMEDIATE_DATA])
		return;
	struct nlattr *dt[NFTA_DATA_MAX + 1];
	xnested(x[NFTA_IMMEDIATE_DATA], dt, NFTA_DATA_MAX, data_policy);
	if (dreg == NFT_REG_VERDICT) {
		if (!dt[NFTA_DATA_VERDICT])
			return;
		struct nlattr *v[NFTA_VERDICT_MAX + 1];
		xnested(dt[NFTA_DATA_VERDICT], v, NFTA_VERDICT_MAX, verdict_policy);
		int32_t code = (int32_t)xu32(v[NFTA_VERDICT_CODE]);
		switch (code) {
		case NFT_JUMP: r->verdict = KT_IPT_JUMP; break;
		case NFT_GOTO: r->verdict = KT_IPT_GOTO; break;
		case NFT_RETURN: r->verdict = KT_IPT_RETURN; break;
		case NF_ACCEPT: r->verdict = KT_IPT_ACCEPT; break;
		case NF_DROP: r->verdict = KT_IPT_DROP; break;
		default: break;
		}
		if (v[NFTA_VERDICT_CHAIN]) {
			xstr(v[NFTA_VERDICT_CHAIN], d->out->target, sizeof(d->out->target));
			r->target = d->out->target;
			r->target_len = strlen(d->out->target);
		}
		return;
	}
	struct reg *g = regp(d->regs, dreg);
	if (!g)
		return;
	memset(g, 0, sizeof(*g));
	g->kind = R_IMM;
	if (dt[NFTA_DATA_VALUE]) {
		uint32_t l = (uint32_t)nla_len(dt[NFTA_DATA_VALUE]);
		g->dlen = l > 16 ? 16 : l;
		memcpy(g->data, nla_data(dt[NFTA_DATA_VALUE]), g->dlen);
	}
}

static void on_nat(struct dec *d, struct nlattr **x)
{
	struct kt_ipt_rule *r = &d->out->ipt;
	if (xu32(x[NFTA_NAT_TYPE]) != NFT_NAT_DNAT) {
		r->verdict = KT_IPT_OTHER;
		return;
	}
	r->verdict = KT_IPT_DNAT;
	uint32_t fam = x[NFTA_NAT_FAMILY] ? xu32(x[NFTA_NAT_FAMILY]) : d->family;
	if (x[NFTA_NAT_REG_ADDR_MIN]) {
		struct reg *g = regp(d->regs, xu32(x[NFTA_NAT_REG_ADDR_MIN]));
		if (g && g->kind == R_IMM && g->dlen >= (fam == 10 ? 16u : 4u))
			fmt_addr(g->data, (uint8_t)fam, r->dnat_ip, sizeof(r->dnat_ip));
	}
	if (x[NFTA_NAT_REG_PROTO_MIN]) {
		struct reg *g = regp(d->regs, xu32(x[NFTA_NAT_REG_PROTO_MIN]));
		if (g && g->kind == R_IMM && g->dlen >= 2)
			r->dnat_port = ntohs(rd16(g->data));
	}
}

static void decode_expr(struct dec *d, const char *n, const uint8_t *data, size_t dlen)
{
	struct kt_nft_rule *o = d->out;
	struct kt_ipt_rule *r = &o->ipt;
	struct nlattr *x[XA_MAX + 1];
	xparse(data, dlen, x, XA_MAX, NULL);
	if (strcmp(n, "payload") == 0) {
		if (!x[NFTA_PAYLOAD_DREG])
			return;
		struct reg *g = regp(d->regs, xu32(x[NFTA_PAYLOAD_DREG]));
		if (!g)
			return;
		memset(g, 0, sizeof(*g));
		g->kind = R_PAYLOAD;
		g->base = xu32(x[NFTA_PAYLOAD_BASE]);
		g->off = xu32(x[NFTA_PAYLOAD_OFFSET]);
		g->len = xu32(x[NFTA_PAYLOAD_LEN]);
	} else if (strcmp(n, "meta") == 0) {
		uint32_t key = xu32(x[NFTA_META_KEY]);
		if (x[NFTA_META_SREG]) {
			if (key == NFT_META_MARK) {
				o->set_mark = true;
				r->verdict = KT_IPT_MARK;
			}
			return;
		}
		struct reg *g = regp(d->regs, xu32(x[NFTA_META_DREG]));
		if (!g)
			return;
		memset(g, 0, sizeof(*g));
		g->kind = R_META;
		g->key = key;
	} else if (strcmp(n, "bitwise") == 0) {
		struct reg *s = regp(d->regs, xu32(x[NFTA_BITWISE_SREG]));
		struct reg *g = regp(d->regs, xu32(x[NFTA_BITWISE_DREG]));
		if (!s || !g)
			return;
		if (g != s)
			*g = *s;
		uint32_t ml = 0;
		const uint8_t *m = xdata(x[NFTA_BITWISE_MASK], &ml);
		if (m && ml <= 16) {
			memcpy(g->mask, m, ml);
			g->has_mask = true;
		}
	} else if (strcmp(n, "cmp") == 0) {
		on_cmp(d, x);
	} else if (strcmp(n, "range") == 0) {
		struct reg *g = regp(d->regs, xu32(x[NFTA_RANGE_SREG]));
		uint32_t l = 0;
		const uint8_t *from = xdata(x[NFTA_RANGE_FROM_DATA], &l);
		if (g && from && l >= 2 && g->kind == R_PAYLOAD && g->base == NFT_PAYLOAD_TRANSPORT_HEADER &&
		    g->off == 2)
			r->dport = ntohs(rd16(from));
	} else if (strcmp(n, "numgen") == 0) {
		struct reg *g = regp(d->regs, xu32(x[NFTA_NG_DREG]));
		if (!g)
			return;
		memset(g, 0, sizeof(*g));
		g->kind = R_NUMGEN;
		g->mod = xu32(x[NFTA_NG_MODULUS]);
	} else if (strcmp(n, "fib") == 0) {
		struct reg *g = regp(d->regs, xu32(x[NFTA_FIB_DREG]));
		if (!g)
			return;
		memset(g, 0, sizeof(*g));
		g->kind = R_FIB;
		g->key = xu32(x[NFTA_FIB_RESULT]);
		g->fib_flags = xu32(x[NFTA_FIB_FLAGS]);
	} else if (strcmp(n, "lookup") == 0) {
		on_lookup(d, x);
	} else if (strcmp(n, "immediate") == 0) {
		on_imm(d, x);
	} else if (strcmp(n, "nat") == 0) {
		on_nat(d, x);
	} else if (strcmp(n, "masq") == 0) {
		r->verdict = KT_IPT_MASQ;
		if (xu32(x[NFTA_MASQ_FLAGS]) & 0x10)
			r->random_fully = true;
	} else if (strcmp(n, "dynset") == 0) {
		o->dynset = true;
		r->recent |= KT_RECENT_SET;
	} else if (strcmp(n, "reject") == 0) {
		r->verdict = KT_IPT_REJECT;
	} else if (strcmp(n, "match") == 0 || strcmp(n, "target") == 0) {
		char name[32];
		xstr(x[NFTA_MATCH_NAME], name, sizeof(name));
		const struct nlattr *info = x[NFTA_MATCH_INFO];
		const void *ip = info ? nla_data(info) : NULL;
		size_t il = info ? (size_t)nla_len(info) : 0;
		uint32_t rev = xu32(x[NFTA_MATCH_REV]);
		if (n[0] == 'm')
			kt_xt_match(r, name, rev, ip, il, o->comment, sizeof(o->comment));
		else
			kt_xt_target(r, name, rev, ip, il, d->family);
	}
}

/* userdata TLVs (nftnl_udata: u8 type, u8 len, value); type 0 = comment */
static void rule_comment(struct kt_nft_rule *o, const uint8_t *p, size_t len)
{
	while (len >= 2) {
		uint8_t t = p[0], l = p[1];
		if ((size_t)l + 2 > len)
			return;
		if (t == NFTNL_UDATA_RULE_COMMENT && l) {
			size_t n = strnlen((const char *)p + 2, l);
			if (n >= sizeof(o->comment))
				n = sizeof(o->comment) - 1;
			memcpy(o->comment, p + 2, n);
			o->comment[n] = 0;
			o->ipt.comment = o->comment;
			o->ipt.comment_len = n;
			return;
		}
		p += 2 + l;
		len -= 2 + (size_t)l;
	}
}

/* Decode one NFT_MSG_NEWRULE message without allocating. Returns the rule's
 * chain attribute (pointing into nlh, not NUL-terminated: *chain_len) so the
 * caller can filter; -1 on a malformed message. */
static int decode_raw(const void *nlh, size_t msglen, uint8_t family, struct kt_nft_rule *out, const char **chain,
		      size_t *chain_len)
{
	const uint8_t *m = nlh;
	memset(out, 0, sizeof(*out));
	if (msglen < NLMSG_HDRLEN + 4)
		return -1;
	uint32_t total;
	memcpy(&total, m, 4);
	if (total < NLMSG_HDRLEN + 4 || total > msglen)
		return -1;
	struct nlattr *ra[NFTA_RULE_MAX + 1];
	xparse(m + NLMSG_HDRLEN + 4, total - NLMSG_HDRLEN - 4, ra, NFTA_RULE_MAX, rule_policy);
	if (chain) {
		*chain = ra[NFTA_RULE_CHAIN] ? nla_data(ra[NFTA_RULE_CHAIN]) : NULL;
		*chain_len = ra[NFTA_RULE_CHAIN] ? strnlen(*chain, (size_t)nla_len(ra[NFTA_RULE_CHAIN])) : 0;
	}
	if (ra[NFTA_RULE_HANDLE])
		out->ipt.handle = be64toh(nla_get_u64(ra[NFTA_RULE_HANDLE]));
	if (ra[NFTA_RULE_USERDATA])
		rule_comment(out, nla_data(ra[NFTA_RULE_USERDATA]), (size_t)nla_len(ra[NFTA_RULE_USERDATA]));
	if (!ra[NFTA_RULE_EXPRESSIONS])
		return 0;
	struct dec d = {.out = out, .family = family};
	struct nlattr *e;
	int rem;
	nla_for_each_nested(e, ra[NFTA_RULE_EXPRESSIONS], rem) {
		if (nla_type(e) != NFTA_LIST_ELEM)
			continue;
		struct nlattr *el[NFTA_EXPR_MAX + 1];
		xnested(e, el, NFTA_EXPR_MAX, elem_policy);
		char name[32];
		xstr(el[NFTA_EXPR_NAME], name, sizeof(name));
		if (name[0] && el[NFTA_EXPR_DATA])
			decode_expr(&d, name, nla_data(el[NFTA_EXPR_DATA]), (size_t)nla_len(el[NFTA_EXPR_DATA]));
	}
	return 0;
}

int kt_nft_decode_rule_msg(const void *nlh, uint8_t family, struct kt_nft_rule *out)
{
	uint32_t total;
	memcpy(&total, nlh, 4);
	return decode_raw(nlh, total, family, out, NULL, NULL);
}

/* ---- dumps ---------------------------------------------------------- */

/* One nf_tables dump over the netlink layer; an interrupted dump that
 * could not be restarted cleanly is an error here (-EINTR). */
static int nft_dump(struct kt_nl *nl, const struct nlmsghdr *h, kt_nl_msg_fn cb, void (*reset)(void *ctx), void *ctx,
		    char *err, size_t el)
{
	int rc = kt_nl_request_raw(nl, h, h->nlmsg_len, cb, reset, ctx, err, el);
	return rc == KT_NL_INTR ? -EINTR : rc;
}

static int nft_type(int msg)
{
	return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

struct tctx {
	const char *table;
	bool *exists;
};

static int table_cb(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct tctx *t = ctx;
	const struct nlmsghdr *h = nlh;
	if (h->nlmsg_type != nft_type(NFT_MSG_NEWTABLE))
		return 0;
	struct nftnl_table *tb = nftnl_table_alloc();
	if (!tb)
		kt_oom();
	if (nftnl_table_nlmsg_parse(nlh, tb) >= 0) {
		const char *n = nftnl_table_get_str(tb, NFTNL_TABLE_NAME);
		if (n && strcmp(n, t->table) == 0)
			*t->exists = true;
	}
	nftnl_table_free(tb);
	return 0;
}

int kt_nft_tables(struct kt_nl *nl, uint8_t family, const char *table, bool *exists, char *err, size_t el)
{
	char buf[REQ_SIZE] = {0}; /* zeroed: attribute padding is sent (and hashed for recordings) */
	*exists = false;
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, family, NLM_F_DUMP, 0);
	struct tctx t = {table, exists};
	return nft_dump(nl, h, table_cb, NULL, &t, err, el);
}

struct cctx {
	const char *table;
	int (*cb)(const char *name, bool base, void *ctx);
	void *ctx;
	uint32_t n;
};

static int chain_cb(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct cctx *c = ctx;
	const struct nlmsghdr *h = nlh;
	if (h->nlmsg_type != nft_type(NFT_MSG_NEWCHAIN))
		return 0;
	struct nftnl_chain *ch = nftnl_chain_alloc();
	if (!ch)
		kt_oom();
	int rc = 0;
	if (nftnl_chain_nlmsg_parse(nlh, ch) >= 0) {
		const char *t = nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE);
		const char *n = nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME);
		if (t && n && strcmp(t, c->table) == 0) {
			if (++c->n > KT_DP_MAX_CHAINS)
				rc = -1;
			else
				rc = c->cb(n, nftnl_chain_is_set(ch, NFTNL_CHAIN_HOOKNUM), c->ctx);
		}
	}
	nftnl_chain_free(ch);
	return rc;
}

int kt_nft_chains(struct kt_nl *nl, uint8_t family, const char *table,
		  int (*cb)(const char *name, bool base, void *ctx), void *ctx, char *err, size_t el)
{
	char buf[REQ_SIZE] = {0}; /* zeroed: attribute padding is sent (and hashed for recordings) */
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, family, NLM_F_DUMP, 0);
	struct nftnl_chain *ch = nftnl_chain_alloc();
	if (!ch)
		kt_oom();
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_nlmsg_build_payload(h, ch);
	nftnl_chain_free(ch);
	struct cctx c = {table, cb, ctx, 0};
	return nft_dump(nl, h, chain_cb, NULL, &c, err, el);
}

struct rctx {
	uint8_t family;
	const char *chain;
	struct kt_nft_rule *v;
	uint32_t n, cap;
	bool capped;
};

static int rule_cb(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct rctx *c = ctx;
	const struct nlmsghdr *h = nlh;
	if (h->nlmsg_type != nft_type(NFT_MSG_NEWRULE))
		return 0;
	if (c->n >= KT_DP_MAX_RULES_PER_CHAIN) {
		c->capped = true;
		return 0;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = kt_xreallocarray(c->v, c->cap, sizeof(*c->v));
	}
	const char *ch;
	size_t chl;
	if (decode_raw(nlh, h->nlmsg_len, c->family, &c->v[c->n], &ch, &chl) == 0 && ch &&
	    chl == strlen(c->chain) && memcmp(ch, c->chain, chl) == 0)
		c->n++;
	return 0;
}

static void rule_reset(void *ctx)
{
	((struct rctx *)ctx)->n = 0;
}

/* The rules of one chain into c (a DUMP_INTR restart starts it again). */
static int rules_dump(struct kt_nl *nl, uint8_t family, const char *table, const char *chain, struct rctx *c,
		      char *err, size_t el)
{
	char buf[REQ_SIZE] = {0}; /* zeroed: attribute padding is sent (and hashed for recordings) */
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, family, NLM_F_DUMP, 0);
	struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r)
		kt_oom();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_nlmsg_build_payload(h, r);
	nftnl_rule_free(r);
	c->family = family;
	c->chain = chain;
	int rc = nft_dump(nl, h, rule_cb, rule_reset, c, err, el);
	/* pointers inside the struct refer to its own arrays: fix after realloc */
	for (uint32_t i = 0; rc == 0 && i < c->n; i++) {
		struct kt_nft_rule *x = &c->v[i];
		if (x->ipt.comment)
			x->ipt.comment = x->comment;
		if (x->ipt.target)
			x->ipt.target = x->target;
	}
	if (c->capped && rc == 0) {
		snprintf(err, el, "chain %s: more than %u rules", chain, KT_DP_MAX_RULES_PER_CHAIN);
		rc = 1;
	}
	return rc;
}

int kt_nft_rules(struct kt_nl *nl, uint8_t family, const char *table, const char *chain,
		 int (*cb)(const struct kt_nft_rule *r, void *ctx), void *ctx, char *err, size_t el)
{
	struct rctx c = {0};
	int rc = rules_dump(nl, family, table, chain, &c, err, el);
	for (uint32_t i = 0; rc >= 0 && i < c.n; i++)
		if (cb(&c.v[i], ctx) < 0)
			break;
	free(c.v);
	return rc;
}

int kt_nft_rules_all(struct kt_nl *nl, uint8_t family, const char *table, const char *chain,
		     void (*cb)(const struct kt_nft_rule *v, uint32_t n, void *ctx), void *ctx, char *err, size_t el)
{
	struct rctx c = {0};
	int rc = rules_dump(nl, family, table, chain, &c, err, el);
	if (rc >= 0 && c.n)
		cb(c.v, c.n, ctx);
	free(c.v);
	return rc;
}

struct sctx {
	const char *table;
	int (*cb)(const struct kt_nft_set_info *s, void *ctx);
	void *ctx;
};

static int set_cb(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct sctx *c = ctx;
	const struct nlmsghdr *h = nlh;
	if (h->nlmsg_type != nft_type(NFT_MSG_NEWSET))
		return 0;
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		kt_oom();
	int rc = 0;
	if (nftnl_set_nlmsg_parse(nlh, s) >= 0) {
		const char *t = nftnl_set_get_str(s, NFTNL_SET_TABLE);
		struct kt_nft_set_info si = {0};
		si.name = nftnl_set_get_str(s, NFTNL_SET_NAME);
		si.flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
		si.key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN);
		if (nftnl_set_is_set(s, NFTNL_SET_TIMEOUT))
			si.timeout_ms = nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT);
		if (t && si.name && strcmp(t, c->table) == 0)
			rc = c->cb(&si, c->ctx);
	}
	nftnl_set_free(s);
	return rc;
}

int kt_nft_sets(struct kt_nl *nl, uint8_t family, const char *table,
		int (*cb)(const struct kt_nft_set_info *s, void *ctx), void *ctx, char *err, size_t el)
{
	char buf[REQ_SIZE] = {0}; /* zeroed: attribute padding is sent (and hashed for recordings) */
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, family, NLM_F_DUMP, 0);
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		kt_oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_nlmsg_build_payload(h, s);
	nftnl_set_free(s);
	struct sctx c = {table, cb, ctx};
	return nft_dump(nl, h, set_cb, NULL, &c, err, el);
}

struct ectx {
	int (*cb)(const struct kt_nft_elem *e, void *ctx);
	void *ctx;
	uint32_t n;
};

/* userdata TLVs of a set element; type NFTNL_UDATA_SET_ELEM_COMMENT */
static void elem_comment(struct kt_nft_elem *e, const uint8_t *p, size_t len)
{
	while (len >= 2) {
		uint8_t t = p[0], l = p[1];
		if ((size_t)l + 2 > len)
			return;
		if (t == NFTNL_UDATA_SET_ELEM_COMMENT && l) {
			size_t n = strnlen((const char *)p + 2, l);
			if (n >= sizeof(e->comment))
				n = sizeof(e->comment) - 1;
			memcpy(e->comment, p + 2, n);
			e->comment[n] = 0;
			return;
		}
		p += 2 + l;
		len -= 2 + (size_t)l;
	}
}

static int elem_cb(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct ectx *c = ctx;
	const struct nlmsghdr *h = nlh;
	if (h->nlmsg_type != nft_type(NFT_MSG_NEWSETELEM))
		return 0;
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		kt_oom();
	int rc = 0;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) >= 0) {
		struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(s);
		struct nftnl_set_elem *e;
		/* iter_next returns the current element, then advances */
		while (it && rc == 0 && (e = nftnl_set_elems_iter_next(it))) {
			if (++c->n > KT_DP_MAX_MAP_ENTRIES) {
				rc = -1;
				break;
			}
			struct kt_nft_elem ke = {0};
			uint32_t kl = 0;
			ke.key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &kl);
			ke.key_len = kl;
			ke.verdict = 1 << 30;
			if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
				ke.verdict = (int32_t)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
			if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
				ke.chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
			if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
				ke.flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
			uint32_t ul = 0;
			const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &ul);
			if (ud && ul)
				elem_comment(&ke, ud, ul);
			if (ke.key)
				rc = c->cb(&ke, c->ctx);
		}
		if (it)
			nftnl_set_elems_iter_destroy(it);
	}
	nftnl_set_free(s);
	return rc;
}

int kt_nft_elems(struct kt_nl *nl, uint8_t family, const char *table, const char *set,
		 int (*cb)(const struct kt_nft_elem *e, void *ctx), void *ctx, char *err, size_t el)
{
	char buf[REQ_SIZE] = {0}; /* zeroed: attribute padding is sent (and hashed for recordings) */
	struct nlmsghdr *h = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP, 0);
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		kt_oom();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_elems_nlmsg_build_payload(h, s);
	nftnl_set_free(s);
	struct ectx c = {cb, ctx, 0};
	return nft_dump(nl, h, elem_cb, NULL, &c, err, el);
}
