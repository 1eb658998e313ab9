/*
 * The "gaps" array, written once for every document that carries it
 * (bundles, `path -o json`, `imbalance -o json`, `check -o json`): what could
 * not be collected and why, in order of discovery. Must not: print, judge.
 */
#include "ktrace/codec.h"

void kt_gaps_to_json(struct kt_jw *w, const struct kt_gap *g, uint32_t n)
{
	kt_jw_arr(w);
	for (uint32_t i = 0; i < n; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "what", g[i].what);
		kt_jw_kstr(w, "why", g[i].why);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
}
