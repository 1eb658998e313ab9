#include "collectors/dp_internal.h"
int kt_dp_ipvs(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o) { return 0; }
int kt_dp_ipvsadm_file(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o, struct kt_diag *d) { return 0; }
int kt_dp_cilium(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o) { return 0; }
int kt_dp_metrics(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o) { return 0; }
