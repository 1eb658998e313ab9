/* libFuzzer target: the netlink layer's receive processing itself
 * (kt_nl_feed: libnl's nl_recvmsgs over arbitrary bytes, with the layer's
 * callbacks: NLMSG_DONE with an error code, NLMSG_ERROR with extack TLVs,
 * NLM_F_DUMP_INTR, trailing garbage), for each protocol the collectors
 * speak; the delivered messages are walked by the inline attribute
 * iterator the hot paths use. Seeds: recorded dumps and hand-made error
 * messages. */
#include <stdint.h>

#include <linux/netlink.h>

#include "collectors/netlink/nl.h"

static int walk(struct nl_msg *msg, void *ctx)
{
	const struct nlmsghdr *h = nlmsg_hdr(msg);
	unsigned *n = ctx;
	const struct nlattr *a;
	int rem;
	/* the attributes after a 4-byte family header, as nfnetlink has */
	if (h->nlmsg_len >= NLMSG_HDRLEN + 4)
		KT_NLA_FOR(a, rem, (const char *)h + NLMSG_HDRLEN + 4, (int)h->nlmsg_len - NLMSG_HDRLEN - 4)
			*n += kt_nla_type(a) + (unsigned)kt_nla_len(a);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int protos[] = {NETLINK_NETFILTER, NETLINK_ROUTE, NETLINK_GENERIC, NETLINK_SOCK_DIAG};
	unsigned n = 0;
	uint64_t msgs = 0;
	kt_nl_feed(protos[size % 4], data, size, walk, &n, &msgs);
	return 0;
}
