#!/bin/sh
# The source layer through the binary: missing input is not a clean pass
# (a namespace that does not exist is exit 3 with did-you-mean, lint over
# no objects is exit 5 unless --allow-empty, findings computed without a
# kind the rules need say "incomplete" and exit 6), misleading diagnoses (a
# server that is not a Kubernetes API server, a host without kube-proxy
# state), kubectl habits (-l, --as/--as-group, `path svc NAME`,
# `path deploy/NAME`, -A on path, --from and the context's namespace),
# `check svc/NAME`, and bundles collected on a host that is not a node.
# Against the demo, fixture bundles and tests/apiserver/kapi.py.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
cd "$TOP" || exit 1
FIX=tests/fixtures/clusters
API="$TOP/$FIX/api-basic"
if [ ! -x "$KTRACE" ]; then fail binary "no ktrace binary at $KTRACE (build first)"; exit 0; fi
# run ARGS...: rc, stdout in $WORK/out, stderr in $WORK/err
run() { "$KTRACE" "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?; }
err() { head -c 500 "$WORK/err" | tr '\n' '|'; }
has() { grep -q -- "$1" "$WORK/$2"; }

# ---- missing input: namespaces (bundle) ----
run check -n shp --from demo
if [ $rc = 3 ] && has "namespace 'shp' not found in demo" err && has "did you mean 'shop'" err; then
	pass "check -n TYPO --from demo: exit 3 with did-you-mean"
else fail "check -n TYPO --from demo: exit 3 with did-you-mean" "rc=$rc $(err)"; fi
run check -n shop --from demo -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["findings"] and all(f["object"]["namespace"] in ("shop", None) for f in d["findings"])' "$WORK/out" 2>/dev/null &&
	[ $rc = 1 ] && pass "check -n shop --from demo: findings of shop only, exit 1" || fail "check -n shop --from demo" "rc=$rc $(err)"
run dataplane -n shp --from demo
[ $rc = 3 ] && has "did you mean 'shop'" err && pass "dataplane -n TYPO --from demo: exit 3" || fail "dataplane -n TYPO --from demo: exit 3" "rc=$rc $(err)"

# ---- lint over no objects ----
mkdir -p "$WORK/emptydir"
run lint "$WORK/emptydir"
if [ $rc = 5 ] && has "no Kubernetes objects" err && has "allow-empty" err; then pass "lint emptydir: exit 5 naming --allow-empty"; else fail "lint emptydir: exit 5" "rc=$rc $(err)"; fi
run lint --allow-empty "$WORK/emptydir"
[ $rc = 0 ] && has "0 objects from 0 files" out && pass "lint --allow-empty emptydir: exit 0" || fail "lint --allow-empty emptydir" "rc=$rc $(err)"
printf '# only a comment\n' | "$KTRACE" lint - >/dev/null 2>"$WORK/err"; rc=$?
[ $rc = 5 ] && pass "lint of a stdin with no objects: exit 5" || fail "lint of a stdin with no objects" "rc=$rc $(err)"
run lint tests/fixtures/manifests/rules/kt404-bad.yaml --fail-on never
[ $rc = 0 ] && pass "lint with objects is unaffected" || fail "lint with objects is unaffected" "rc=$rc $(err)"

# ---- kubectl Lists lack kinds: incomplete, exit 6 ----
python3 - "$TOP/tests/fixtures/demo/demo-bundle.json" "$WORK/svcs.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
items = [o for o in d["objects"] if o["kind"] in ("Service", "EndpointSlice")]
json.dump({"kind": "List", "apiVersion": "v1", "items": items}, open(sys.argv[2], "w"))
EOF
run path shop/orders --from "$WORK/svcs.json"
if [ $rc = 6 ] && sed -n 3p "$WORK/out" | grep -q "^incomplete: Pods not read (not in the input)"; then
	pass "path from a List without Pods: 'incomplete' at the top, exit 6"
else fail "path from a List without Pods" "rc=$rc $(head -4 "$WORK/out" | tr '\n' '|')"; fi
run path shop/orders --from "$WORK/svcs.json" -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["incomplete"]==[{"kind":"Pods","why":"not in the input"}]' "$WORK/out" 2>/dev/null &&
	[ $rc = 6 ] && pass "path -o json: \"incomplete\" key, exit 6" || fail "path -o json incomplete" "rc=$rc $(head -c 300 "$WORK/out")"
run check --from "$WORK/svcs.json" --fail-on never
[ $rc = 6 ] && head -1 "$WORK/out" | grep -q "^incomplete: Pods not read" && pass "check from a List without Pods: incomplete first, exit 6" ||
	fail "check from a List without Pods" "rc=$rc $(head -2 "$WORK/out" | tr '\n' '|')"
# (without Pods KT501 is a gap, not an error: the warnings decide)
run check --from "$WORK/svcs.json" --fail-on warning
[ $rc = 1 ] && pass "check: findings at --fail-on win over partial (exit 1)" || fail "check: 1 wins over 6" "rc=$rc"

# ---- kubectl habits on the demo ----
"$KTRACE" path shop/orders --from demo -o json > "$WORK/a.json"
run path svc orders -n shop --from demo -o json
cmp -s "$WORK/a.json" "$WORK/out" && [ $rc = 0 ] && pass "path svc NAME (two words) equals path svc/NAME" || fail "path svc NAME" "rc=$rc $(err)"
run path deploy/orders -n shop --from demo -o json
cmp -s "$WORK/a.json" "$WORK/out" && [ $rc = 0 ] && pass "path deploy/orders: the Service that selects it" || fail "path deploy/orders" "rc=$rc $(err)"
run path deploy orders -n shop --from demo
[ $rc = 0 ] && head -1 "$WORK/out" | grep -q "^Service shop/orders " && pass "path deploy NAME (two words)" || fail "path deploy NAME" "rc=$rc $(err)"
run path deploy/ordrs -n shop --from demo
[ $rc = 3 ] && has "deployment 'ordrs' not found in namespace 'shop'" err && has "did you mean 'orders'" err &&
	pass "path deploy/TYPO: exit 3 with did-you-mean" || fail "path deploy/TYPO" "rc=$rc $(err)"
run path orders -A --from demo -o json
cmp -s "$WORK/a.json" "$WORK/out" && [ $rc = 0 ] && pass "path NAME -A: the one Service of that name in any namespace" || fail "path NAME -A" "rc=$rc $(err)"
run path shop/orders -A --from demo
[ $rc = 2 ] && has "-A looks for a Service name in every namespace" err && pass "path NS/NAME -A is refused (exit 2)" || fail "path NS/NAME -A" "rc=$rc $(err)"
run path nosuch -A --from demo
[ $rc = 3 ] && pass "path NAME -A with no such Service: exit 3" || fail "path NAME -A missing" "rc=$rc $(err)"
run path -l app=orders svc/orders --from demo
[ $rc = 2 ] && has "does not apply to path" err && pass "-l on path is a usage error" || fail "-l on path" "rc=$rc $(err)"
run check -l app=nosuch --from demo -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["findings"]==[]' "$WORK/out" 2>/dev/null && [ $rc = 0 ] &&
	pass "check -l matching nothing: no findings" || fail "check -l nothing" "rc=$rc $(head -c 200 "$WORK/out")"
python3 - "$TOP/tests/fixtures/demo/demo-bundle.json" "$WORK/labels.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for o in d["objects"]:
    if o["kind"] == "Service" and o["metadata"]["name"] in ("orders", "payments"):
        o["metadata"].setdefault("labels", {})["tier"] = "front"
json.dump(d, open(sys.argv[2], "w"))
EOF
run check -l tier=front --from "$WORK/labels.json" -o json --fail-on never
got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(sorted({f["object"]["namespace"]+"/"+f["object"]["name"] for f in d["findings"] if f["object"]["kind"]=="Service"})))' "$WORK/out" 2>/dev/null)
[ "$got" = "shop/orders shop/payments" ] && [ $rc = 0 ] && pass "check -l tier=front: findings of the matching Services only ($got)" || fail "check -l tier=front" "got '$got' rc=$rc $(err)"
run dataplane -l tier=front --from "$WORK/labels.json" -o json
got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(sorted({s["name"] for s in d["services"]})))' "$WORK/out" 2>/dev/null)
[ "$got" = "orders payments" ] && pass "dataplane -l tier=front: only the matching Services' rules" || fail "dataplane -l" "got '$got' rc=$rc $(err)"
run check -l 'app in (orders' --from demo
[ $rc = 2 ] && has "invalid label selector" err && pass "-l syntax error: exit 2" || fail "-l syntax error" "rc=$rc $(err)"

# ---- check svc/NAME: one Service and what it depends on ----
run check svc/orders -n shop --from demo -o json --fail-on warning
python3 - "$WORK/out" <<'EOF' && [ $rc = 1 ] && pass "check svc/orders: only orders' findings (and its workloads')" || fail "check svc/orders" "rc=$rc $(err)"
import json, sys
d = json.load(open(sys.argv[1]))
objs = {(f["object"]["kind"], f["object"]["name"]) for f in d["findings"]}
assert ("Service", "orders") in objs, objs
assert not [o for o in objs if o[0] == "Service" and o[1] != "orders"], objs
EOF
"$KTRACE" path shop/orders --from demo -o json | python3 -c 'import json,sys; print(sorted(f["id"] for f in json.load(sys.stdin)["findings"]))' > "$WORK/pids"
python3 -c 'import json,sys; print(sorted(f["id"] for f in json.load(open(sys.argv[1]))["findings"]))' "$WORK/out" > "$WORK/cids"
cmp -s "$WORK/pids" "$WORK/cids" && pass "check svc/orders reports what path reports ($(cat "$WORK/cids"))" || fail "check svc/NAME vs path" "path $(cat "$WORK/pids") check $(cat "$WORK/cids")"
run check shop/ordrs --from demo
[ $rc = 3 ] && has "did you mean 'orders'" err && pass "check svc/TYPO: exit 3 with did-you-mean" || fail "check svc/TYPO" "rc=$rc $(err)"
run check deploy/orders --from demo
[ $rc = 2 ] && pass "check deploy/NAME is refused (check takes a Service)" || fail "check deploy/NAME" "rc=$rc $(err)"

# ---- --from and the kubeconfig context's namespace ----
cat > "$WORK/kc-demo.yaml" <<'EOF'
apiVersion: v1
kind: Config
current-context: other
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
contexts:
- {name: demo, context: {cluster: c, namespace: shop}}
- {name: other, context: {cluster: c, namespace: web}}
EOF
run --kubeconfig "$WORK/kc-demo.yaml" path orders --from demo
[ $rc = 0 ] && head -1 "$WORK/out" | grep -q "^Service shop/orders" && pass "--from: the namespace of the bundle's context in the kubeconfig (demo -> shop)" ||
	fail "--from uses the bundle context's namespace" "rc=$rc $(err)"
run path orders --from demo
[ $rc = 3 ] && has "exists in namespace 'shop'" err && pass "--from without that context: 'default', and where the name exists" || fail "--from default namespace" "rc=$rc $(err)"
run --kubeconfig "$WORK/kc-demo.yaml" --context other path orders --from demo
[ $rc = 3 ] && has "not found in namespace 'web'" err && pass "--context picks the namespace with --from" || fail "--context with --from" "rc=$rc $(err)"
run --kubeconfig "$WORK/kc-demo.yaml" -v path orders --from demo
has "namespace 'shop': the namespace of context 'demo'" err && pass "-v says where the namespace came from" || fail "-v namespace source" "$(err)"

# ---- bundles: recorded gaps are facts of the bundle, shown once, quietly ----
python3 - "$TOP/tests/fixtures/demo/demo-bundle.json" "$WORK/gaps.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["gaps"] = [{"what": "nftables ruleset", "why": "not root"}, {"what": "bpf map cilium_lb4_services_v2", "why": "no bpffs"}]
json.dump(d, open(sys.argv[2], "w"))
EOF
run check --from "$WORK/gaps.json" --fail-on never
if [ $rc = 0 ] && ! grep -q "warning" "$WORK/err" && [ "$(grep -c "nftables ruleset: not root" "$WORK/out")" = 1 ] && grep -q "^gaps (recorded when the bundle was collected):" "$WORK/out"; then
	pass "check --from a bundle with gaps: no warnings, listed once under gaps"
else fail "check --from bundle gaps" "rc=$rc err=$(err) out=$(tail -4 "$WORK/out" | tr '\n' '|')"; fi
run check --from "$WORK/gaps.json" --fail-on never -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [g["what"] for g in d["gaps"]]==["nftables ruleset","bpf map cilium_lb4_services_v2"]' "$WORK/out" 2>/dev/null &&
	pass "check -o json carries the bundle's gaps" || fail "check -o json gaps" "$(head -c 300 "$WORK/out")"
run dataplane --from demo
grep -q "source: bundle demo" "$WORK/out" && ! grep -q "source: live" "$WORK/out" && pass "dataplane --from: source is the bundle, not live" ||
	fail "dataplane --from source label" "$(head -2 "$WORK/out" | tr '\n' '|')"

# ---- node state on a host that is not a node ----
if need_root; then
	if ip netns add "ktsrc$$" 2>/dev/null; then
		run_ns() { ip netns exec "ktsrc$$" "$KTRACE" "$@" >"$WORK/out" 2>"$WORK/err"; rc=$?; }
		run_ns dataplane svc/orders -n shop --no-metrics
		if [ $rc = 4 ] && has "has no kube-proxy or Cilium state" err && has "saved dumps" err && has "--from FILE" err; then
			pass "dataplane SERVICE on a host without proxy state: exit 4, how to reach node state"
		else fail "dataplane on a host without proxy state" "rc=$rc $(err)"; fi
		run_ns -v dataplane svc/orders -n shop --no-metrics
		has "checked on this host: iptables nat tables" err && pass "-v lists what was checked" || fail "-v lists what was checked" "$(err)"
		run_ns --from demo dataplane svc/orders -n shop --live --no-metrics
		[ $rc = 4 ] && has "no kube-proxy or Cilium state" err && pass "dataplane --from demo --live on such a host: exit 4" || fail "dataplane --live no state" "rc=$rc $(err)"
		ip netns del "ktsrc$$" 2>/dev/null
	else
		skip "host without proxy state" "cannot create a network namespace"
	fi
else
	skip "host without proxy state" "needs root (a network namespace without rules)"
fi

# ---- collect as root on a host that is not one of the cluster's Nodes ----
# (this test host is none of the fixture's node-a/b/c: name, hostname label
# and addresses differ)
if need_root && have_python && kapi_start --dir "$API"; then
	K=$(kc_http "$KAPI_PORT")
	run --kubeconfig "$K" collect -f "$WORK/b.json"
	n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["nodes"]))' "$WORK/b.json" 2>/dev/null)
	if [ $rc = 0 ] && [ "$n" = 0 ] && has "node state: this host's node state not read: '.*' is not one of the cluster's 2 Nodes" err; then
		pass "collect as root on a non-node: no node recorded, and it says so"
	else fail "collect on a non-node" "rc=$rc nodes=$n $(err)"; fi
	run --kubeconfig "$K" collect -f "$WORK/b2.json" --node-name node-a
	n=$(python3 -c 'import json,sys; print([x["node"] for x in json.load(open(sys.argv[1]))["nodes"]])' "$WORK/b2.json" 2>/dev/null)
	[ $rc = 0 ] && [ "$n" = "['node-a']" ] && has "node state: this host as node 'node-a'" err &&
		pass "collect --node-name NAME records this host as NAME, and says so" || fail "collect --node-name" "rc=$rc nodes=$n $(err)"
	run check --from "$WORK/b2.json" --fail-on never
	! grep -q "warning: could not read" "$WORK/err" && pass "later --from runs print no warnings about the collecting host" || fail "--from warnings" "$(err)"
	n=$(python3 -c 'import json,sys; print(sum(1 for g in json.load(open(sys.argv[1]))["gaps"] if "cilium-config" in g["what"]))' "$WORK/b.json" 2>/dev/null)
	[ "$n" = 0 ] && pass "no gap for a cilium-config that does not exist (404)" || fail "cilium-config 404 gap" "$n gaps"
	kapi_stop
else
	skip "collect on a non-node" "needs root and python3 (kapi.py)"
fi

# ---- live, against the test API server ----
if ! have_python; then skip live "python3 not available"; exit 0; fi
kapi_start --dir "$API" --forbid pods --log "$WORK/log" || { fail "kapi starts" "$(cat "$WORK/kapi.err")"; exit 0; }
K=$(kc_http "$KAPI_PORT")
run --kubeconfig "$K" path svc/orders
if [ $rc = 6 ] && sed -n 2p "$WORK/out" | grep -q "^incomplete: Pods not read (403 Forbidden: needs list pods)"; then
	pass "path with Pods forbidden: 'incomplete' at the top, exit 6"
else fail "path with Pods forbidden" "rc=$rc $(head -3 "$WORK/out" | tr '\n' '|') $(err)"; fi
run --kubeconfig "$K" check -n shop --no-node --fail-on never
[ $rc = 6 ] && head -1 "$WORK/out" | grep -q "^incomplete: Pods not read" && has "could not read pods" err &&
	pass "check with Pods forbidden: incomplete, exit 6" || fail "check with Pods forbidden" "rc=$rc $(head -2 "$WORK/out" | tr '\n' '|') $(err)"
run --kubeconfig "$K" check -n nosuchns --no-node
[ $rc = 3 ] && has "namespace 'nosuchns' not found on http://127.0.0.1:$KAPI_PORT" err && pass "live check -n NOSUCH: exit 3" || fail "live check -n NOSUCH" "rc=$rc $(err)"
run --kubeconfig "$K" check -n shp --no-node
[ $rc = 3 ] && has "did you mean 'shop'" err && pass "live check -n TYPO: did-you-mean from the server's namespaces" || fail "live check -n TYPO" "rc=$rc $(err)"
run --kubeconfig "$K" --as-group dev check -n shop --no-node
[ $rc = 2 ] && has "--as-group needs --as" err && pass "--as-group without --as: exit 2" || fail "--as-group alone" "rc=$rc $(err)"
run --kubeconfig "$K" check -l app=orders -n shop --no-node --fail-on never
log_has "$WORK/log" '"/services" in r["path"] and "labelSelector=app%3Dorders" in r["path"]' &&
	pass "check -l passes the selector to the Services list" || fail "check -l live" "$(grep services "$WORK/log" | tail -n 1)"
run --kubeconfig "$K" path deploy/orders
[ $rc = 6 ] && head -1 "$WORK/out" | grep -q "^Service shop/orders " && log_has "$WORK/log" '"/deployments/orders" in r["path"]' &&
	pass "live path deploy/orders: GET the Deployment, path of its Service" || fail "live path deploy/orders" "rc=$rc $(err)"
kapi_stop

# --as / --as-group: impersonation headers (sent over https only, with credentials)
if command -v openssl >/dev/null 2>&1 && make_pki "$WORK/pki" &&
	kapi_start --dir "$API" --tls-cert "$WORK/pki/srv.crt" --tls-key "$WORK/pki/srv.key" --token "tok-$$" --log "$WORK/log2"; then
	cat > "$WORK/kc-tls.yaml" <<EOF
apiVersion: v1
kind: Config
current-context: ctx
clusters: [{name: c, cluster: {server: "https://localhost:$KAPI_PORT", certificate-authority: $WORK/pki/ca.crt}}]
users: [{name: u, user: {token: tok-$$}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: shop}}]
EOF
	run --kubeconfig "$WORK/kc-tls.yaml" --as alice --as-group dev --as-group ops check -n shop --no-node --fail-on never
	log_has "$WORK/log2" 'r.get("Impersonate-User") == "alice" and r.get("Impersonate-Group") == ["dev", "ops"]' && [ $rc = 0 ] &&
		pass "--as/--as-group send impersonation headers, like kubectl" || fail "--as/--as-group" "rc=$rc $(err) $(tail -n 1 "$WORK/log2")"
	kapi_stop
else
	skip "--as/--as-group" "openssl or kapi.py with TLS not available"
fi

# a server that answers 404 to everything is not a Kubernetes API server
cat > "$WORK/notk8s.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"404 page not found\n"
        self.send_response(404); self.send_header("Content-Type", "text/plain"); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1])); __import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
EOF
python3 "$WORK/notk8s.py" "$WORK/n404.port" & NP=$!
KAPI_PIDS="$KAPI_PIDS $NP"
i=0; while [ ! -s "$WORK/n404.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
K=$(kc_http "$(cat "$WORK/n404.port")")
run --kubeconfig "$K" path svc/orders
if [ $rc = 4 ] && has "is not a Kubernetes API server" err && ! has "no services exist" err; then
	pass "404 server: path says it is not a Kubernetes API server (exit 4)"
else fail "404 server: path" "rc=$rc $(err)"; fi
run --kubeconfig "$K" check -n shop --no-node
[ $rc = 4 ] && has "is not a Kubernetes API server" err && pass "404 server: check says so too" || fail "404 server: check" "rc=$rc $(err)"
run --kubeconfig "$K" -v path svc/orders
has "checked: GET service 'orders'" err && has "/version" err && pass "-v lists what was checked" || fail "404 server -v" "$(err)"
exit 0
