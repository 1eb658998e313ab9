#!/bin/sh
# Live `path` against the test API server, `collect` of the same cluster into
# a bundle, and `path --from BUNDLE`: the answers must be identical (bundle
# round trip through the real HTTP client).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
have_python || { skip "collect round trip" "python3 with ssl/http.server missing"; exit 0; }
FIX="$TOP/tests/fixtures/clusters"
strip='import json,sys
d=json.load(open(sys.argv[1]))
for e in d.get("endpoints",[]): e.pop("ageSeconds",None)
d.pop("gaps",None); d["dataplane"].pop("source",None); d["dataplane"].pop("evidence",None)
print(json.dumps(d,sort_keys=True,indent=1))'
for case in dualstack:web/web localpolicy:prod/api empty:edge/ghost empty:edge/cache; do
	c=${case%%:*}; svc=${case#*:}
	kapi_start --dir "$FIX/$c" || { fail "$c: kapi starts" "$(cat "$WORK/kapi.err")"; continue; }
	cat > "$WORK/kc" <<KC
apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: "http://127.0.0.1:$KAPI_PORT"}}]
users: [{name: u, user: {}}]
contexts: [{name: t, context: {cluster: t, user: u, namespace: default}}]
current-context: t
KC
	if "$KTRACE" --kubeconfig "$WORK/kc" path "$svc" -o json > "$WORK/live.json" 2>"$WORK/err"; then
		pass "$c: live path $svc"
	else
		fail "$c: live path $svc" "$(cat "$WORK/err")"
	fi
	if "$KTRACE" --kubeconfig "$WORK/kc" collect --no-node -f "$WORK/b.json.gz" 2>"$WORK/err"; then
		pass "$c: collect"
	else
		fail "$c: collect" "$(cat "$WORK/err")"
	fi
	"$KTRACE" path "$svc" --from "$WORK/b.json.gz" -o json > "$WORK/off.json" 2>"$WORK/err"
	python3 -c "$strip" "$WORK/live.json" > "$WORK/a" 2>/dev/null
	python3 -c "$strip" "$WORK/off.json" > "$WORK/b" 2>/dev/null
	if [ -s "$WORK/a" ] && cmp -s "$WORK/a" "$WORK/b"; then pass "$c: bundle answer equals live answer"
	else fail "$c: bundle answer equals live answer" "$(diff "$WORK/a" "$WORK/b" | head -20 | tr '\n' '|')"; fi
	"$KTRACE" path "$svc" --from "$FIX/$c" -o json > "$WORK/fix.json" 2>/dev/null
	python3 -c "$strip" "$WORK/fix.json" > "$WORK/f" 2>/dev/null
	if cmp -s "$WORK/f" "$WORK/b"; then pass "$c: bundle answer equals the fixture's"
	else fail "$c: bundle answer equals the fixture's" "$(diff "$WORK/f" "$WORK/b" | head -20 | tr '\n' '|')"; fi
	kapi_stop
done
# not found through the live API: exit 3 with suggestions from the server's names
kapi_start --dir "$FIX/dualstack"
sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$KAPI_PORT/" "$WORK/kc"
"$KTRACE" --kubeconfig "$WORK/kc" path web/wbe 2>"$WORK/err" >/dev/null; rc=$?
if [ $rc = 3 ] && grep -q "did you mean 'web'" "$WORK/err"; then pass "live unknown Service: exit 3 with suggestion"; else fail "live unknown Service: exit 3 with suggestion" "rc=$rc $(cat "$WORK/err")"; fi
"$KTRACE" --kubeconfig "$WORK/kc" path web 2>"$WORK/err" >/dev/null; rc=$?
if [ $rc = 3 ] && grep -q "exists in namespace 'web'" "$WORK/err"; then pass "live: Service in another namespace is named"; else fail "live: Service in another namespace is named" "rc=$rc $(cat "$WORK/err")"; fi
"$KTRACE" --kubeconfig "$WORK/kc" -n web path web -vv 2>"$WORK/err" >/dev/null
grep -q "GET /api/v1/namespaces/web/services/web" "$WORK/err" && pass "-vv logs API requests" || fail "-vv logs API requests" "$(head -5 "$WORK/err")"
kapi_stop
