/* libFuzzer target: recorded ipset (IPSET_CMD_LIST) and rtnetlink
 * (RTM_NEWLINK/RTM_NEWADDR) dump buffers, decoded and folded into one
 * IPVS virtual service built from the same bytes. */
#include <stdint.h>

#include "collectors/dataplane/dp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_ipset_db *db = kt_ipset_db_new();
	kt_ipset_decode(db, data, size);
	kt_rtaddr_decode(db, data, size, "kube-ipvs0");
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "fuzz", "fuzz");
	static const char ipvs[] = "-A -t 10.96.0.10:53 -s rr\n-a -t 10.96.0.10:53 -r 10.244.1.41:53 -m -w 1\n"
				   "-A -t 203.0.113.10:443 -s rr\n-a -t 203.0.113.10:443 -r 10.244.1.21:8443 -m -w 1\n";
	struct kt_diag d = {0};
	kt_dp_ipvsadm_mem(s, n, ipvs, sizeof(ipvs) - 1, "fuzz", &d);
	kt_ipset_fold(s, n, 0, db);
	kt_ipset_db_free(db);
	kt_snapshot_finish(s);
	kt_snapshot_free(s);
	return 0;
}
