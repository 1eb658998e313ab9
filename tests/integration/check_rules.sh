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
head -1 "$WORK/check.txt" | grep -q "^Service rules/kt202" && grep -q "^  error   KT202 grace-period-too-short  Deployment rules/kt202" "$WORK/check.txt" \
	&& pass "text: grouped by Service, workload findings under the Service, most severe first" || fail "grouping" "$(head -3 "$WORK/check.txt")"
tail -1 "$WORK/check.txt" | grep -q "^5 errors, 10 warnings, 3 info (1 suppressed) in 14 groups$" && pass "summary line" || fail "summary line" "$(tail -1 "$WORK/check.txt")"
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
exit 0
