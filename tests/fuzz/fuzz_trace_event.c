/* libFuzzer target: nftables trace events (NFT_MSG_TRACE on
 * NFNLGRP_NFTRACE, as `ktrace trace` receives them) through the netlink
 * layer's receive processing (kt_nl_feed) and the libnftnl-based decoder
 * (kt_trace_decode): attributes, nested verdicts, the packet headers the
 * kernel copies. A lone message is also decoded directly. */
#include <linux/netlink.h>
#include <stdint.h>
#include <string.h>

#include "collectors/netlink/nl.h"
#include "collectors/trace/trace_int.h"

static int on_msg(struct nl_msg *msg, void *ctx)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct kt_trace_event ev;
	if (kt_trace_decode(h, h->nlmsg_len, &ev) == 1)
		(*(unsigned *)ctx) += (unsigned)strlen(ev.table) + ev.has_ports;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	unsigned sink = 0;
	kt_nl_feed(NETLINK_NETFILTER, data, size, on_msg, &sink, NULL);
	if (size >= sizeof(struct nlmsghdr) && size <= 65536) {
		static uint8_t buf[65536];
		memcpy(buf, data, size);
		struct kt_trace_event ev;
		kt_trace_decode(buf, size, &ev);
	}
	return 0;
}
