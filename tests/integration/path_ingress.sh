#!/bin/sh
# The ingress layer of `ktrace path`: the Ingresses and Gateway API routes
# of a Service, and `path ingress/NAME`, `httproute/NAME`, `grpcroute/NAME`
# through the controller (LB -> controller Service -> controller Pods ->
# backend Services -> Pods), on the demo and on the ingress fixture cluster
# (tests/fixtures/clusters/ingress), from a bundle directory and live from
# tests/apiserver/kapi.py (same answers). Golden text and JSON, exact
# findings of `check` on the fixture, errors and exit codes.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
cd "$TOP" || exit 1
FIX=tests/fixtures/clusters/ingress

# demo: the Ingress (ingress-nginx), the HTTPRoute and GRPCRoute (Envoy Gateway)
"$KTRACE" path ingress/shop -n shop --from demo --color never | golden "demo ingress/shop text" path/demo-ingress-shop.txt
"$KTRACE" path ingress/shop -n shop --from demo -o json | golden "demo ingress/shop json" path/demo-ingress-shop.json
"$KTRACE" path httproute/shop/storefront --from demo | golden "demo httproute/storefront text" path/demo-httproute.txt
"$KTRACE" path httproute/storefront -n shop --from demo -o json | golden "demo httproute/storefront json" path/demo-httproute.json
"$KTRACE" path grpcroute/catalog -n shop --from demo | golden "demo grpcroute/catalog text" path/demo-grpcroute.txt

"$KTRACE" path httproute/storefront -n shop --from demo -o json > "$WORK/h.json"
python3 - "$WORK/h.json" <<'PY' && pass "demo HTTPRoute: Envoy Gateway, client address lost (Cluster policy), KT306 on the targetPort" || fail "demo httproute json" "see above"
import json, sys
d = json.load(open(sys.argv[1]))
assert (d["kind"], d["namespace"], d["name"]) == ("HTTPRoute", "shop", "storefront")
assert d["class"] == {"kind": "GatewayClass", "name": "eg", "controller": "gateway.envoyproxy.io/gatewayclass-controller",
                      "family": "Envoy Gateway"}, d["class"]
assert d["gateway"]["addresses"] == ["203.0.113.50"], d["gateway"]
assert d["clientIP"] == "lost" and "externalTrafficPolicy: Cluster" in d["clientIPReason"], d
c = d["controller"]
assert [s["name"] for s in c["services"]] == ["envoy-edge-public-7f3a9c"] and c["services"][0]["ingress"] == ["203.0.113.50"]
assert sorted((p["node"], p["zone"]) for p in c["pods"]) == [("node-a", "eu-west-1a"), ("node-c", "eu-west-1b")], c["pods"]
r = d["routes"]
assert [(x["match"], x["service"]["name"], x["port"], x["balancing"]) for x in r] == [
    ("PathPrefix /api/orders", "orders", 80, "request"), ("PathPrefix /api/payments", "payments", 443, "request"),
    ("PathPrefix /api/legacy-orders", "orders", 8080, "request")], r
assert sum(e["ready"] for e in r[0]["endpoints"]) == 4, r[0]["endpoints"]
ids = sorted((f["id"], f["object"]["kind"]) for f in d["findings"])
assert ("KT306", "HTTPRoute") in ids and ("KT301", "Deployment") in ids and ("KT101", "Service") in ids, ids
PY
"$KTRACE" path ingress/shop -n shop --from demo -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["clientIP"] == "kept" and d["controller"]["family"] == "ingress-nginx", d
assert d["controller"]["config"] == {"compute-full-forwarded-for": "true", "use-forwarded-headers": "false", "use-proxy-protocol": "false"}
assert [p["name"] for p in d["controller"]["pods"]] == ["ingress-nginx-controller-5d8c9b7f6-zz9yx"]
assert sorted(f["id"] for f in d["findings"]) == ["KT103", "KT302", "KT303"], d["findings"]
' && pass "demo Ingress: ingress-nginx keeps the client address (Local), its ConfigMap settings, KT302/KT303 on the controller" \
	|| fail "demo ingress json" ""
"$KTRACE" path svc/orders -n shop --from demo -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
ing = [(x["kind"], x["name"], x["class"]["family"], [(r["host"], r["match"], r["port"]) for r in x["routes"]]) for x in d["ingress"]]
assert ing == [("Ingress", "shop", "ingress-nginx", [("shop.example.com", "Prefix /", 80)]),
               ("HTTPRoute", "storefront", "Envoy Gateway", [("shop.example.com", "PathPrefix /api/orders", 80),
                                                              ("shop.example.com", "PathPrefix /api/legacy-orders", 8080)])], ing
' && pass "path svc/orders lists the Ingress and the HTTPRoute that send it traffic (host, match, port, family)" || fail "svc ingress section" ""

# errors
expect_rc "unknown Ingress exits 3" 3 "$KTRACE" path ingress/shp -n shop --from demo
"$KTRACE" path ingress/shp -n shop --from demo 2>"$WORK/err" >/dev/null
grep -q "ingress 'shp' not found in namespace 'shop'" "$WORK/err" && grep -q "did you mean 'shop'" "$WORK/err" \
	&& pass "unknown Ingress: did you mean" || fail "ingress not found" "$(cat "$WORK/err")"
expect_rc "httproute/ without a name is a usage error" 2 "$KTRACE" path httproute/ --from demo
expect_rc "a GRPCRoute name asked as an HTTPRoute is not found" 3 "$KTRACE" path httproute/catalog -n shop --from demo

# the fixture cluster: every finding of the layer, nothing else
"$KTRACE" check --from $FIX -o json > "$WORK/check.json"; rc=$?
python3 - "$WORK/check.json" <<'PY' && [ $rc = 1 ] && pass "check --from the ingress fixture: exactly the expected findings, no gaps (exit 1)" || fail "ingress check" "exit $rc"
import json, sys
d = json.load(open(sys.argv[1]))
got = sorted((f["id"], f["object"]["kind"], f["object"]["namespace"], f["object"]["name"]) for f in d["findings"])
want = sorted([
    ("KT101", "Service", "ingress-nginx", "ingress-nginx-controller"),      # Cluster policy
    ("KT102", "Service", "ingress-nginx", "ingress-nginx-controller"),
    ("KT301", "Deployment", "ingress-nginx", "ingress-nginx-controller"),   # hostname spread, no zone spread
    ("KT304", "Deployment", "ingress-nginx", "ingress-nginx-controller"),   # both Pods in zone-a
    ("KT302", "Deployment", "kong", "proxy-kong"),                          # Kong from its image, no PDB
    ("KT304", "Deployment", "kong", "proxy-kong"),                          # both Pods on n3
    ("KT103", "Service", "kong", "kong-proxy"),
    ("KT103", "Service", "envoy-gateway-system", "envoy-web-public"),
    ("KT305", "Ingress", "web", "typo"),                                    # web-frontnd
    ("KT306", "GRPCRoute", "web", "rpc"),                                   # no port
    ("KT307", "Ingress", "web", "site"),                                    # allowlist behind SNAT
    ("KT308", "HTTPRoute", "web", "orphan"),                                # Gateway publc
    ("KT309", "Ingress", "web", "api"),                                     # Kong service-upstream
])
if got != want:
    print("unexpected:", [g for g in got if g not in want]); print("missing:", [w for w in want if w not in got]); sys.exit(1)
assert d["gaps"] == [], d["gaps"]
m = {(f["id"], f["object"]["name"]): f for f in d["findings"]}
assert "did you mean web-frontend?" in m[("KT305", "typo")]["message"]
assert "node IP" in m[("KT307", "site")]["message"] and "externalTrafficPolicy: Cluster" in m[("KT307", "site")]["evidence"]
PY
"$KTRACE" path ingress/site -n web --from $FIX | golden "fixture ingress/site text" path/ingress-site.txt
"$KTRACE" path ingress/api -n web --from $FIX -o json | golden "fixture ingress/api json" path/ingress-api.json
"$KTRACE" path ingress/api -n web --from $FIX -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["routes"][0]
assert r["balancing"] == "connection" and "ingress.kubernetes.io/service-upstream" in r["balancingReason"], r
assert d["controller"]["family"] == "Kong" and d["clientIP"] == "kept", d
' && pass "Ingress to Kong with service-upstream: per connection through the ClusterIP" || fail "kong per connection" ""
"$KTRACE" path httproute/shop -n web --from $FIX -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [(r["service"]["name"], r["weight"]) for r in d["routes"]] == [("web-frontend", 90), ("api", 10)], d["routes"]
assert d["controller"]["workloads"][0]["name"] == "envoy-web-public" and d["clientIP"] == "kept", d["controller"]
' && pass "HTTPRoute with weights: both backends, the Gateway's data plane found by its labels" || fail "httproute weights" ""

# live: the same answers from the API (Gateway API served as CRDs)
if ! have_python; then skip live "python3 not available"; exit 0; fi
kapi_start --dir "$TOP/$FIX" || { fail "live start" "kapi.py did not start: $(cat "$WORK/kapi.err")"; exit 0; }
kc_http "$KAPI_PORT" web >/dev/null
for obj in ingress/site ingress/api httproute/shop grpcroute/rpc httproute/orphan; do
	"$KTRACE" --kubeconfig "$WORK/kc.yaml" path $obj -n web -o json > "$WORK/live.json" 2>"$WORK/live.err"
	"$KTRACE" path $obj -n web --from $FIX -o json > "$WORK/dir.json"
	python3 - "$WORK/live.json" "$WORK/dir.json" <<'PY' && pass "live path $obj equals the bundle's answer" || fail "live path $obj" "$(head -c 300 "$WORK/live.err")"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
strip = lambda d: {k: v for k, v in d.items() if k != "gaps"}
for f in a["findings"] + b["findings"]:
    f.pop("file", None); f.pop("line", None); f.pop("col", None)
assert strip(a) == strip(b), (strip(a), strip(b))
PY
done
"$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node -o json > "$WORK/lcheck.json" 2>"$WORK/lcheck.err"
python3 - "$WORK/lcheck.json" "$WORK/check.json" <<'PY' && pass "live check: the same findings as the bundle directory" || fail "live check" "$(head -c 300 "$WORK/lcheck.err")"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
key = lambda d: sorted((f["id"], f["object"]["namespace"], f["object"]["name"]) for f in d["findings"])
assert key(a) == key(b), (key(a), key(b))
PY
"$KTRACE" --kubeconfig "$WORK/kc.yaml" path svc/web-frontend -n web -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert sorted((x["kind"], x["name"]) for x in d["ingress"]) == [("HTTPRoute", "orphan"), ("HTTPRoute", "shop"), ("Ingress", "site")], d["ingress"]
' && pass "live path svc: the Ingresses and routes of its namespace" || fail "live svc ingress" ""
kapi_stop
# a cluster without the Gateway API CRDs: 404s are no gap
kapi_start --dir "$TOP/tests/fixtures/clusters/rules" || { fail "live start (rules)" "$(cat "$WORK/kapi.err")"; exit 0; }
kc_http "$KAPI_PORT" rules >/dev/null
"$KTRACE" --kubeconfig "$WORK/kc.yaml" check --no-node -o json > "$WORK/nogw.json" 2>"$WORK/nogw.err"
! grep -q -i "gateway\|httproute\|grpcroute" "$WORK/nogw.err" && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["gaps"] == [], d["gaps"]' "$WORK/nogw.json" \
	&& pass "no Gateway API CRDs (404): no gap, no warning" || fail "404 gateway" "$(cat "$WORK/nogw.err")"
exit 0
