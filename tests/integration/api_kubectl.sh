#!/bin/sh
# Fidelity of the test API server: the real kubectl (/usr/bin/kubectl)
# must see the same objects through kapi.py's discovery, selectors and
# paging as the fixture holds, and ktrace's bundle must list the same
# names as kubectl. Skips when kubectl is missing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
FIX="$TOP/tests/fixtures/clusters/api-basic"
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
if [ ! -x "$KTRACE" ]; then fail binary "no ktrace binary at $KTRACE (build first)"; exit 0; fi
if ! have_python; then skip all "python3 not available"; exit 0; fi
if [ ! -x "$KUBECTL" ]; then skip all "kubectl not installed at $KUBECTL"; exit 0; fi
export KUBECACHEDIR="$WORK/kcache"

kapi_start --dir "$FIX" --generate 300 --log "$WORK/log" || { fail start "kapi.py did not start"; exit 0; }
K=$(kc_http "$KAPI_PORT")

# names per kind from kubectl JSON vs from the fixture + generator (via the server's own lists)
names_py='
import json, sys
d = json.load(open(sys.argv[1]))
items = d["items"] if "items" in d else [o for o in d["objects"]]
kinds = sys.argv[2].split(",")
out = sorted("%s/%s/%s" % (o.get("kind"), o["metadata"].get("namespace", ""), o["metadata"]["name"])
             for o in items if o.get("kind") in kinds)
print("\n".join(out))
'
if "$KUBECTL" --kubeconfig "$K" --request-timeout 20s get svc,endpointslices,pods -A -o json --chunk-size=70 \
	> "$WORK/kubectl.json" 2>"$WORK/kubectl.err"; then
	pass "kubectl get svc,endpointslices,pods -A -o json --chunk-size=70"
else
	fail "kubectl get svc,endpointslices,pods -A -o json --chunk-size=70" "$(head -c 400 "$WORK/kubectl.err" | tr '\n' '|')"
	exit 0
fi
python3 -c "$names_py" "$WORK/kubectl.json" Service,EndpointSlice,Pod > "$WORK/kubectl.names"
n_svc=$(grep -c '^Service/' "$WORK/kubectl.names")
n_eps=$(grep -c '^EndpointSlice/' "$WORK/kubectl.names")
n_pod=$(grep -c '^Pod/' "$WORK/kubectl.names")
# fixture: 4 services, 4 slices, 8 pods; generator: 300, 300, 600
if [ "$n_svc" = 304 ] && [ "$n_eps" = 304 ] && [ "$n_pod" = 608 ]; then pass "kubectl item counts match the fixture"; else fail "kubectl item counts match the fixture" "svc=$n_svc eps=$n_eps pods=$n_pod"; fi
if grep -q '^Service/shop/orders$' "$WORK/kubectl.names" && grep -q '^Pod/kube-system/kube-dns-5f7c9-1$' "$WORK/kubectl.names"; then
	pass "kubectl sees fixture names"
else
	fail "kubectl sees fixture names" "orders or kube-dns pod missing"
fi
# every fixture object, by name, as kubectl saw it (generated objects live in ns-*)
python3 - "$FIX" > "$WORK/fixture.names" <<'EOF2'
import json, os, sys
out = []
for f, kind in (("services.json", "Service"), ("endpointslices.json", "EndpointSlice"), ("pods.json", "Pod")):
    for o in json.load(open(os.path.join(sys.argv[1], f)))["items"]:
        out.append("%s/%s/%s" % (kind, o["metadata"].get("namespace", "default"), o["metadata"]["name"]))
print("\n".join(sorted(out)))
EOF2
grep -v '^[A-Za-z]*/ns-' "$WORK/kubectl.names" > "$WORK/kubectl.fixture.names"
if cmp -s "$WORK/fixture.names" "$WORK/kubectl.fixture.names"; then pass "kubectl names equal the fixture's"; else
	fail "kubectl names equal the fixture's" "$(diff "$WORK/fixture.names" "$WORK/kubectl.fixture.names" | head -c 300 | tr '\n' '|')"; fi
if grep -q 'continue=' "$WORK/log"; then pass "kubectl followed continue tokens"; else fail "kubectl followed continue tokens" "no continue in request log"; fi

# selectors through kubectl
out=$("$KUBECTL" --kubeconfig "$K" get pods -n shop -l 'app in (cart,payments),app!=cart' -o name 2>&1 | sort | tr '\n' ' ')
if [ "$out" = "pod/payments-5f7c9-0 pod/payments-5f7c9-1 " ]; then pass "kubectl label selector"; else fail "kubectl label selector" "$out"; fi
out=$("$KUBECTL" --kubeconfig "$K" get pods -n shop --field-selector spec.nodeName=node-b -o name 2>&1 | sort | tr '\n' ' ')
if [ "$out" = "pod/orders-5f7c9-1 pod/payments-5f7c9-1 " ]; then pass "kubectl field selector"; else fail "kubectl field selector" "$out"; fi
out=$("$KUBECTL" --kubeconfig "$K" get svc orders -n shop -o jsonpath='{.spec.clusterIP}' 2>&1)
if [ "$out" = "10.96.0.10" ]; then pass "kubectl get by name (svc short name)"; else fail "kubectl get by name (svc short name)" "$out"; fi
out=$("$KUBECTL" --kubeconfig "$K" get svc nope -n shop 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q 'not found'; then pass "kubectl sees Status 404"; else fail "kubectl sees Status 404" "$out"; fi

# ktrace reads the same objects
if "$KTRACE" --kubeconfig "$K" collect --no-node -f "$WORK/b.json" >/dev/null 2>"$WORK/err"; then
	python3 -c "$names_py" "$WORK/b.json" Service,EndpointSlice,Pod > "$WORK/ktrace.names"
	if cmp -s "$WORK/kubectl.names" "$WORK/ktrace.names"; then pass "ktrace and kubectl list the same objects"; else
		fail "ktrace and kubectl list the same objects" "$(diff "$WORK/kubectl.names" "$WORK/ktrace.names" | head -c 300 | tr '\n' '|')"; fi
else
	fail "ktrace collect" "$(head -c 300 "$WORK/err")"
fi
kapi_stop
exit 0
