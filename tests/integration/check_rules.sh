#!/bin/sh
# `ktrace check` on the rules fixture cluster (the objects of
# tests/fixtures/manifests/rules as live objects, plus live-only cases):
# from the directory bundle and live from tests/apiserver/kapi.py, golden
# text/json, live-only rules (KT102 quantified, KT103 listing nodes and
# zones, KT304, KT501 on Pods, KT503), grouping, -n, --fail-on, config.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
cd "$TOP" || exit 1
FIX=tests/fixtures/clusters/rules

"$KTRACE" check --from $FIX > "$WORK/check.txt"; rc=$?
[ $rc = 1 ] && pass "check --from: exit 1 (errors found)" || fail "check --from exit" "exit $rc"
golden "check rules text" check/rules.text < "$WORK/check.txt"
"$KTRACE" check --from $FIX -o json > "$WORK/check.json"
golden "check rules json" check/rules.json < "$WORK/check.json"
python3 - "$WORK/check.json" <<'PY' && pass "live-only rules: KT102 67%, KT103 n2/n3/zone-b, KT304, KT501, KT503" || fail "live-only rules" "see above"
import json, sys
d = json.load(open(sys.argv[1]))
by = {}
for f in d["findings"]:
    by.setdefault(f["id"], []).append(f)
    assert f["file"] is None and f["line"] is None, f
    assert set(f["object"]) == {"kind", "namespace", "name"}
m = {f["object"]["name"]: f["message"] for f in by["KT102"]}
assert m["kt101"].startswith("67% of external requests take an extra node hop: 3 ready endpoints on 3 of 3"), m
assert "kt101-ok" not in m and "kt102-ok" not in m
k103 = by["KT103"][0]["message"]
assert "2 of 3 LB target nodes have no local endpoint (n2, n3)" in k103 and "zone-b" in k103 and "cp-1" not in k103, k103
assert [f["object"]["name"] for f in by["KT304"]] == ["kt301"]
assert [f["object"]["name"] for f in by["KT501"]] == ["kt501"] and "no running Pod" in by["KT501"][0]["message"]
assert sorted(f["object"]["name"] for f in by["KT503"]) == ["kt502", "kt503"]
assert "2 listed" in [f for f in by["KT503"] if f["object"]["name"] == "kt503"][0]["message"]
assert d["summary"]["suppressed"] == 1
for good in ("kt101-ok", "kt103-ok", "kt201-ok", "kt301-ok", "kt302-ok", "kt303-ok", "kt401-ok", "kt404-ok", "kt501-ok", "kt502-ok"):
    assert not [f for f in d["findings"] if f["object"]["name"] == good], good
PY
# text: the table by rule and severity first, then identical findings
# grouped (one finding, N objects), the rest under their Service
head -1 "$WORK/check.txt" | grep -q "^RULE   NAME                         SEVERITY  OBJECTS DISTINCT$" \
	&& grep -q "^KT102  cross-node-hop               info            2        1$" "$WORK/check.txt" \
	&& pass "text: summary table first (KT102: 2 objects, 1 distinct)" || fail "summary table" "$(head -3 "$WORK/check.txt")"
grep -q "^5 errors, 10 warnings, 3 info (1 suppressed): 17 distinct findings on 18 objects; 5 at or above --fail-on error$" "$WORK/check.txt" \
	&& pass "summary line" || fail "summary line" "$(sed -n 17p "$WORK/check.txt")"
grep -A1 "^Service rules/kt101, Service rules/kt102$" "$WORK/check.txt" | grep -q "^  info    KT102 cross-node-hop  same finding on 2 objects$" \
	&& pass "identical findings grouped: one finding, 2 objects" || fail "identical findings grouped" "$(grep -n KT102 "$WORK/check.txt")"
grep -q "^Service rules/kt202$" "$WORK/check.txt" && grep -A1 "^Service rules/kt202$" "$WORK/check.txt" | grep -q "^  error   KT202 grace-period-too-short  Deployment rules/kt202$" \
	&& pass "text: findings met once stay under their Service, most severe first" || fail "grouping" "$(sed -n 19,21p "$WORK/check.txt")"
"$KTRACE" check --from $FIX --summary > "$WORK/sum.txt"; rc=$?
[ $rc = 1 ] && [ "$(wc -l < "$WORK/sum.txt")" = 17 ] && tail -1 "$WORK/sum.txt" | grep -q "17 distinct findings" \
	&& pass "--summary prints only the table (exit 1 still)" || fail "--summary" "rc $rc: $(tr '\n' '|' < "$WORK/sum.txt")"
"$KTRACE" check --from $FIX --summary -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert "findings" not in d and "groups" not in d, d.keys()
r = {(x["id"], x["severity"]): (x["objects"], x["distinct"]) for x in d["byRule"]}
assert r[("KT102", "info")] == (2, 1) and r[("KT503", "error")] == (2, 2), r
' && pass "--summary -o json: summary and byRule only" || fail "--summary -o json" "see above"
python3 - "$WORK/check.json" <<'PY' && pass "json: one finding per object plus groups" || fail "json groups" "see above"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["findings"]) == 18, len(d["findings"])
g = [x for x in d["groups"] if x["id"] == "KT102"]
assert len(g) == 1 and g[0]["count"] == 2 and [o["name"] for o in g[0]["objects"]] == ["kt101", "kt102"], g
assert sum(x["count"] for x in d["groups"]) == len(d["findings"])
assert len(d["groups"]) == 17
PY
expect_rc "--fail-on never: exit 0" 0 "$KTRACE" check --from $FIX --fail-on never
n=$("$KTRACE" check --from $FIX -n ingress -o json | python3 -c 'import json,sys; print(sorted({f["object"]["namespace"] for f in json.load(sys.stdin)["findings"]}))')
[ "$n" = "['ingress']" ] && pass "-n narrows to one namespace" || fail "-n" "$n"
printf 'disable: [KT503, KT501]\nexclude:\n  - namespace: ingress\n' > "$WORK/kt.yaml"
n=$("$KTRACE" check --from $FIX --config "$WORK/kt.yaml" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["summary"]["error"], d["summary"]["suppressed"], sorted({f["object"]["namespace"] for f in d["findings"]}))')
[ "$n" = "2 9 ['rules']" ] && pass "--config disable and namespace exclude" || fail "--config" "$n"
"$KTRACE" check --from demo -o json > "$WORK/demo.json"; rc=$?
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "findings" in d and "summary" in d' "$WORK/demo.json" && [ $rc -le 1 ] \
	&& pass "check --from demo: one JSON document (exit $rc)" || fail "check demo" "exit $rc"
expect_rc "check with two SERVICE arguments is a usage error" 2 "$KTRACE" check --from $FIX svc/x svc/y

# live, from the test API server: the same findings as from the directory
if ! have_python; then skip live "python3 not available"; exit 0; fi
kapi_start --dir "$TOP/$FIX" || { fail "live start" "kapi.py did not start: $(cat "$WORK/kapi.err")"; exit 0; }
kc_http "$KAPI_PORT" rules >/dev/null
"$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node -o json > "$WORK/live.json" 2>"$WORK/live.err"; rc=$?
[ $rc = 1 ] && pass "live check: exit 1" || fail "live check exit" "exit $rc: $(head -c 300 "$WORK/live.err")"
python3 - "$WORK/live.json" "$WORK/check.json" <<'PY' && pass "live check finds exactly what the directory bundle gives" || fail "live vs bundle" "see above"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
key = lambda d: sorted((f["id"], f["object"]["namespace"], f["object"]["name"], f["message"]) for f in d["findings"])
ka, kb = key(a), key(b)
for x in ka:
    if x not in kb: print("only live:", x)
for x in kb:
    if x not in ka: print("only bundle:", x)
assert ka == kb
PY
"$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node -n rules | golden "live check -n rules text" check/live-rules.text

# output that scales: 300 generated Services
kapi_stop
kapi_start --generate 300 || { fail "generated cluster" "kapi.py did not start: $(cat "$WORK/kapi.err")"; exit 0; }
kc_http "$KAPI_PORT" shop >/dev/null
"$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node > "$WORK/gen.txt" 2>&1; rc=$?
n=$(wc -l < "$WORK/gen.txt")
[ $rc = 0 ] && [ "$n" -lt 40 ] && grep -q "^  warning KT401 long-lived-connections  same finding on 300 objects (-o wide lists them)$" "$WORK/gen.txt" \
	&& grep -q "^KT401  long-lived-connections       warning       300        1$" "$WORK/gen.txt" \
	&& pass "300 Services: $n lines, 300 identical findings shown once" || fail "300 Services grouped" "rc $rc, $n lines: $(head -c 400 "$WORK/gen.txt")"
"$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node -o wide > "$WORK/genw.txt" 2>&1
m=$(grep -c "^            Service ns-[0-9]*/app-[0-9]*$" "$WORK/genw.txt")
[ "$m" = 360 ] && pass "-o wide lists every object of each group (300 + 30 + 30)" || fail "-o wide objects" "$m"
expect_rc "--fail-on warning applies to the grouped findings: exit 1" 1 "$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node --fail-on warning
"$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node --fail-on warning 2>/dev/null | grep -q ": 5 distinct findings on 360 objects; 2 at or above --fail-on warning$" \
	&& pass "--fail-on counts distinct findings" || fail "--fail-on counts distinct findings" "$(grep 'distinct' "$WORK/gen.txt")"
exit 0
