/* libFuzzer target: iptables-save / iptables-legacy-save text through the
 * line parser and the kube-proxy normaliser (chain grouping, probability
 * chains, Local-policy and masquerade derivation). */
#include <stdint.h>
#include <stdio.h>

#include "collectors/dataplane/dp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	struct kt_snapshot *s = kt_snapshot_new();
	struct kt_dp_node *n = kt_dpbuild_node(s, "fuzz", "fuzz");
	struct kt_kpnorm *kp = kt_kpnorm_new(s, KT_DP_IPTABLES_NFT);
	struct kt_diag d = {0};
	if (kt_ipt_save_parse(kp, f, "fuzz", NULL, &d) == 0)
		kt_kpnorm_finish(kp, n, NULL);
	else
		kt_kpnorm_free(kp);
	fclose(f);
	kt_snapshot_finish(s);
	kt_snapshot_free(s);
	return 0;
}
