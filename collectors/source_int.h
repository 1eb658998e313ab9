/*
 * Internal to the source layer (collectors/source.c: API objects and the
 * scope; collectors/source_node.c: node state and capability checks).
 */
#ifndef KT_COLLECTORS_SOURCE_INT_H
#define KT_COLLECTORS_SOURCE_INT_H

#include "ktrace/source.h"

struct kt_src {
	const struct kt_scope *sc;
	unsigned wants;
	struct kt_kube *k;            /* the API client when one was opened */
	bool own_client;              /* opened here: closed at the end */
	struct kt_bundle_writer *bw;  /* collecting: the bundle being written */
	struct kt_diag *d;
};

/* Open the API client (scope's slot, else private). */
int kt_src_client(struct kt_src *x);

/* Node state for the scope into s (source_node.c): the node-source table. */
int kt_src_node_state(struct kt_src *x, struct kt_snapshot *s);

/* Does node state hold Service ns/name (ns NULL: any namespace)? */
bool kt_src_node_has(const struct kt_snapshot *s, const char *ns, const char *name);

/* This host was read and has no kube-proxy or Cilium state at all: fills
 * x->d (exit 4: what was checked and how to reach node state) and returns
 * true. */
bool kt_src_node_empty(struct kt_src *x, const struct kt_snapshot *s);


#endif
