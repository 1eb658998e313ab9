/*
 * Scratch namespaces and tool execution for collectors/trace/ (internal).
 */
#ifndef KT_COLLECTORS_TRACE_LAB_H
#define KT_COLLECTORS_TRACE_LAB_H

#include <stdbool.h>
#include <stddef.h>

#define KT_LAB_IF_CLI  "kt-client"   /* node side of the veth to the client namespace */
#define KT_LAB_IF_PODS "kt-pods"     /* veth: the Pod network (default route) */
#define KT_LAB_GW      "169.254.77.1" /* the node's address towards the client */
#define KT_LAB_GW6     "fdff:6b74:7261:6365::1"

enum { KT_LAB_SELF, KT_LAB_NODE, KT_LAB_CLIENT };

struct kt_lab {
	char ns_node[64], ns_cli[64];
	bool made_node, made_cli;
	int fd_node, fd_cli, fd_self;
	unsigned if_pods, if_cli, if_node;
};

struct kt_lab_cfg {
	const char *src;         /* the probes' source address (IPv4 or IPv6: the lab's family) */
	bool src_on_node;        /* a hostNetwork client: the probes leave the node namespace
				  * (src must be one of addrs); no client veth */
	const char *const *addrs; /* the node's addresses (on the node namespace's loopback) */
	unsigned n_addrs;
};

struct kt_lab_buf {
	char *p;
	size_t n, cap;
	bool cut;
};
void kt_lab_buf_free(struct kt_lab_buf *b);

/* Create both namespaces, the interfaces, addresses, routes and sysctls.
 * -1 with err; kt_lab_destroy() must be called in every case. Any thread
 * may call it (it returns in the namespace it was called in). */
int kt_lab_create(struct kt_lab *l, const struct kt_lab_cfg *c, char *err, size_t errlen);
void kt_lab_destroy(struct kt_lab *l);
/* Move this thread into the node, client or own namespace (setns). */
int kt_lab_enter(struct kt_lab *l, int which);

/* Run argv (PATH lookup) in namespace nsfd (-1: this one) with stdin in,
 * stdout into out (NULL: discarded). The exit code (127 not installed,
 * 128+N killed by signal N), -1 when it could not be started; err gets the
 * last line of stderr when it is not 0. */
int kt_lab_exec(int nsfd, const char *const argv[], const char *in, size_t inlen, struct kt_lab_buf *out,
		char *err, size_t errlen);

#endif
