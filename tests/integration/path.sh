#!/bin/sh
# `ktrace path` end to end on the demo cluster and the fixture clusters
# (golden text and JSON), exit codes and one-line errors for bad input.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
FIX=tests/fixtures/clusters   # relative: the origin line in text output must not depend on the checkout path
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

"$KTRACE" path svc/orders -n shop --from demo --color never | golden "demo orders text" path/demo-orders.txt
"$KTRACE" path shop/orders --from demo -o json | golden "demo orders json" path/demo-orders.json
"$KTRACE" path shop/payments --from demo | golden "demo payments (Local policy) text" path/demo-payments.txt
"$KTRACE" path ingress-nginx/ingress-nginx-controller --from demo -o json | golden "demo ingress json" path/demo-ingress.json
"$KTRACE" path web/web --from "$FIX/dualstack" | golden "dual-stack named targetPort text" path/dualstack-web.txt
"$KTRACE" path web/web --from "$FIX/dualstack" -o json | golden "dual-stack json" path/dualstack-web.json
"$KTRACE" path prod/api --from "$FIX/localpolicy" | golden "local policy + cilium text" path/localpolicy-api.txt
"$KTRACE" path prod/api --from "$FIX/localpolicy" -o json | golden "local policy json" path/localpolicy-api.json
"$KTRACE" path edge/ghost --from "$FIX/empty" | golden "no endpoints, NLB ip targets" path/empty-ghost.txt
"$KTRACE" path edge/cache --from "$FIX/empty" -o json | golden "headless IPv6 json" path/empty-cache.json
"$KTRACE" path edge/docs --from "$FIX/empty" | golden "ExternalName" path/empty-docs.txt

# semantic checks on JSON (not only golden): SPEC keys and values
"$KTRACE" path shop/orders --from demo -o json > "$tmp/o.json"
if python3 - "$tmp/o.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("service", "ports", "external", "nodes", "dataplane", "endpoints", "findings"):
    assert k in d, k
s = d["service"]
assert s["type"] == "LoadBalancer" and s["externalTrafficPolicy"] == "Cluster", s
assert d["ports"][0]["nodePort"] == 31380 and d["ports"][0]["targetPort"] == "http"
assert d["external"]["lbKind"].startswith("aws-nlb")
assert [n["lbTarget"] for n in d["nodes"]] == [True, True, True]
assert d["dataplane"]["mode"] == "iptables-nft" and d["dataplane"]["source"] == "bundle"
eps = d["endpoints"]
assert sum(e["ready"] for e in eps) == 4 and sum(e["terminating"] for e in eps) == 1
ids = sorted(f["id"] for f in d["findings"])
assert "KT101" in ids and "KT102" in ids, ids
assert abs(d["crossNodeShare"] - 2/3) < 0.001, d["crossNodeShare"]
PY
then pass "path json keys and values (SPEC)"; else fail "path json keys and values (SPEC)"; fi

# exit codes and errors
expect_rc "unknown service exits 3" 3 "$KTRACE" path svc/order -n shop --from demo
"$KTRACE" path svc/order -n shop --from demo 2>"$tmp/err" >/dev/null
if grep -q "did you mean 'orders'" "$tmp/err" && [ "$(grep -c '^ktrace' "$tmp/err")" = 1 ]; then pass "not-found suggests close names"; else fail "not-found suggests close names" "$(cat "$tmp/err")"; fi
"$KTRACE" path orders --from demo 2>"$tmp/err" >/dev/null
grep -q "exists in namespace 'shop': try 'ktrace path shop/orders'" "$tmp/err" && pass "not-found names the namespace that has it" || fail "not-found names the namespace that has it" "$(cat "$tmp/err")"
expect_rc "missing SERVICE exits 2" 2 "$KTRACE" path --from demo
expect_rc "unknown flag exits 2" 2 "$KTRACE" path svc/orders --frmo demo
"$KTRACE" path svc/orders --frmo demo 2>"$tmp/err"
grep -q "did you mean '--from'" "$tmp/err" && pass "unknown flag suggests --from" || fail "unknown flag suggests --from" "$(cat "$tmp/err")"
expect_rc "unknown command exits 2" 2 "$KTRACE" pth
"$KTRACE" pth 2>"$tmp/err"; grep -q "did you mean 'ktrace path'" "$tmp/err" && pass "unknown command suggests path" || fail "unknown command suggests path" "$(cat "$tmp/err")"
expect_rc "bad -o exits 2" 2 "$KTRACE" path svc/orders -n shop --from demo -o sarif
expect_rc "missing bundle exits 5 (invalid input: missing file)" 5 "$KTRACE" path svc/orders --from "$tmp/nope.json"
printf '{"kind":"KtraceBundle","version":99,"objects":[]}' > "$tmp/v99.json"
expect_rc "wrong bundle version exits 5" 5 "$KTRACE" path svc/orders --from "$tmp/v99.json"
"$KTRACE" path svc/orders --from "$tmp/v99.json" 2>"$tmp/err"
grep -q "v99.json:1:.*version 99 is not supported" "$tmp/err" && pass "wrong version error names file:line" || fail "wrong version error names file:line" "$(cat "$tmp/err")"
head -c 3000 "$TOP/tests/fixtures/demo/demo-bundle.json" > "$tmp/trunc.json"
expect_rc "truncated bundle exits 5" 5 "$KTRACE" path svc/orders -n shop --from "$tmp/trunc.json"
head -c 5000 /dev/urandom > "$tmp/garbage.json"
expect_rc "binary garbage bundle exits 5" 5 "$KTRACE" path svc/orders -n shop --from "$tmp/garbage.json"
gzip -c "$TOP/tests/fixtures/demo/demo-bundle.json" > "$tmp/demo.json.gz"
"$KTRACE" path svc/orders -n shop --from "$tmp/demo.json.gz" -o json > "$tmp/gz.json" && \
	"$KTRACE" path svc/orders -n shop --from demo -o json > "$tmp/demo.json" && \
	python3 -c "import json,sys;a=json.load(open(sys.argv[1]));b=json.load(open(sys.argv[2]));a['gaps']=b['gaps'];assert a==b" "$tmp/gz.json" "$tmp/demo.json" \
	&& pass "gzip bundle gives the same answer" || fail "gzip bundle gives the same answer"
cat "$TOP/tests/fixtures/demo/demo-bundle.json" | "$KTRACE" path shop/orders --from - -o json > "$tmp/stdin.json" && \
	python3 -c "import json,sys;a=json.load(open(sys.argv[1]));assert a['service']['name']=='orders'" "$tmp/stdin.json" \
	&& pass "bundle from stdin" || fail "bundle from stdin"
# -o json errors are one JSON document on stdout
out=$("$KTRACE" path svc/nope -n shop --from demo -o json 2>/dev/null)
printf '%s' "$out" | python3 -c "import json,sys;d=json.load(sys.stdin);assert d['error']['code']==3" && pass "json mode error document" || fail "json mode error document" "$out"
# help and version
"$KTRACE" help path | grep -q "SERVICE is svc/NAME" && pass "help path" || fail "help path"
"$KTRACE" path --help | cmp -s - "$(sh -c "\"$KTRACE\" help path > $tmp/h; echo $tmp/h")" && pass "help CMD equals CMD --help" || fail "help CMD equals CMD --help"
"$KTRACE" --version | grep -q '^ktrace [0-9]' && pass "--version" || fail "--version"
