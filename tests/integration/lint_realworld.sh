#!/bin/sh
# `ktrace lint` on manifests as popular charts and tools render them
# (tests/fixtures/manifests/realworld: ingress-nginx, cert-manager,
# kube-prometheus-stack, argo-cd, an Argo Rollout, Traefik as a DaemonSet, the Istio
# gateway, CoreDNS, Kafka, Kustomize output, custom resources, anchors and
# merge keys, BOM/CRLF/tabs, a JSON List, files split across a directory).
# Golden text/json, and the exact set of findings: every one is a true
# positive per the rule catalog (ktrace rules); anything else is a false positive. The same objects
# as a live cluster (tests/fixtures/clusters/realworld) give the same
# findings from `ktrace check --from DIR`, plus the live-only ones.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
F=tests/fixtures/manifests/realworld
W=$(mktemp -d /tmp/kt_lintrw.XXXXXX); trap 'rm -rf "$W"' EXIT

for t in 1 2; do
	KTRACE_LINT_THREADS=$t "$KTRACE" lint $F > "$W/out.text.$t" 2>"$W/err"; rc=$?
	[ $rc = 0 ] && [ ! -s "$W/err" ] && pass "realworld ($t thread(s)): exit 0 (warnings only), nothing on stderr" \
		|| fail "realworld exit ($t threads)" "exit $rc: $(head -c 300 "$W/err")"
	KTRACE_LINT_THREADS=$t "$KTRACE" lint -o json $F > "$W/out.json.$t"
done
cmp -s "$W/out.text.1" "$W/out.text.2" && cmp -s "$W/out.json.1" "$W/out.json.2" \
	&& pass "output is identical with one and two parser threads" || fail "threads change the output" "$(diff "$W/out.text.1" "$W/out.text.2" | head -5 | tr '\n' '|')"
golden "realworld text" lint/realworld.text < "$W/out.text.1"
golden "realworld json" lint/realworld.json < "$W/out.json.1"

python3 - "$W/out.json.1" <<'PY' && pass "realworld: exactly the expected findings (no false positives)" || fail "realworld findings" "see above"
import json, sys
d = json.load(open(sys.argv[1]))
got = sorted((f["id"], f["object"]["kind"], f["object"]["namespace"], f["object"]["name"], f["file"].split("realworld/")[1], f["line"])
             for f in d["findings"])
want = sorted([
    # chart defaults: one controller replica, no PDB, LB with externalTrafficPolicy Cluster
    ("KT101", "Service", "ingress-nginx", "ingress-nginx-controller", "ingress-nginx.yaml", 77),
    ("KT102", "Service", "ingress-nginx", "ingress-nginx-controller", "ingress-nginx.yaml", 77),
    ("KT302", "Deployment", "ingress-nginx", "ingress-nginx-controller", "ingress-nginx.yaml", 98),
    ("KT303", "Deployment", "ingress-nginx", "ingress-nginx-controller", "ingress-nginx.yaml", 117),
    # cert-manager: no preStop anywhere, the controller (behind its metrics Service) has no readiness probe
    ("KT201", "Deployment", "cert-manager", "cert-manager", "cert-manager.yaml", 104),
    ("KT203", "Deployment", "cert-manager", "cert-manager", "cert-manager.yaml", 104),
    ("KT201", "Deployment", "cert-manager", "cert-manager-webhook", "cert-manager.yaml", 186),
    # kube-prometheus-stack: operator and node-exporter have no preStop
    ("KT201", "Deployment", "monitoring", "monitoring-kube-prometheus-operator", "kube-prometheus-stack.yaml", 203),
    ("KT201", "DaemonSet", "monitoring", "monitoring-prometheus-node-exporter", "kube-prometheus-stack.yaml", 75),
    # Kafka's per-broker LoadBalancer (one Pod selected by statefulset.kubernetes.io/pod-name)
    ("KT101", "Service", "kafka", "kafka-controller-0-external", "kafka.yaml", 78),
    ("KT102", "Service", "kafka", "kafka-controller-0-external", "kafka.yaml", 78),
    # gRPC port behind a plain Service (the grpc-web port of the native sidecar is not)
    ("KT401", "Service", "shop", "checkout", "split-app/service.yaml", 16),
    # etcd behind a ClusterIP Service without a readiness probe (its main container only, not the
    # log shipper; zookeeper's only Service publishes not-ready addresses)
    ("KT203", "StatefulSet", "data", "etcd", "statefulsets-headless.yaml", 84),
])
if got != want:
    print("unexpected:", [g for g in got if g not in want])
    print("missing:", [w for w in want if w not in got])
    sys.exit(1)
m = {(f["id"], f["object"]["name"]): f["message"] for f in d["findings"]}
assert "single replica" in m[("KT102", "kafka-controller-0-external")], m
s = d["summary"]
assert (s["files"], s["objects"], s["error"], s["warning"], s["info"]) == (18, 89, 0, 11, 2), s
assert "container 'etcd'" in m[("KT203", "etcd")], m
PY

# what must stay quiet, named so a regression says which case broke
python3 - "$W/out.json.1" <<'PY' && pass "no finding on: CoreDNS UDP/TCP named ports, Traefik DaemonSet, traefik/whoami, nginx web app, Istio gateway (injected), argo-cd, operator-managed Pods, selector-less/ExternalName Services, CRs named Service/Deployment, BOM/CRLF, JSON List, anchors" || fail "quiet cases" "see above"
import json, sys
d = json.load(open(sys.argv[1]))
names = {f["object"]["name"] for f in d["findings"]}
for quiet in ("kube-dns", "coredns", "traefik", "whoami", "prod-nginx", "prod-orders-db", "prod-payments-api",
              "istio-ingressgateway", "argocd-server", "argocd-repo-server", "argocd-redis",
              "argocd-application-controller", "argocd-application-controller-metrics",
              "monitoring-kube-prometheus-prometheus", "monitoring-kube-prometheus-coredns", "events-kafka-metrics",
              "hello", "not-a-core-deployment", "legacy", "policy-webhook", "api", "api-canary", "kafka",
              "kafka-controller-headless", "kafka-controller", "db-backup", "zk", "zk-headless", "etcd-client",
              "rollouts-demo", "rollouts-demo-stable", "rollouts-demo-canary"):
    assert quiet not in names, quiet
PY

# Helm output with Windows paths in "# Source:" and CRLF line endings on stdin
printf -- '---\r\n# Source: web\\templates\\service.yaml\r\napiVersion: v1\r\nkind: Service\r\nmetadata:\r\n  name: web\r\nspec:\r\n  type: NodePort\r\n  selector: {app: web}\r\n  ports:\r\n  - port: 80\r\n    targetPort: http\r\n---\r\n# Source: web\\templates\\deployment.yaml\r\napiVersion: apps/v1\r\nkind: Deployment\r\nmetadata: {name: web}\r\nspec:\r\n  replicas: 2\r\n  selector: {matchLabels: {app: web}}\r\n  template:\r\n    metadata: {labels: {app: web}}\r\n    spec:\r\n      containers:\r\n      - name: web\r\n        image: nginx:1.27\r\n        ports: [{name: http, containerPort: 8080}]\r\n        readinessProbe: {httpGet: {path: /, port: http}}\r\n        lifecycle: {preStop: {sleep: {seconds: 5}}}\r\n' > "$W/win.yaml"
"$KTRACE" lint -o sarif --fail-on never - < "$W/win.yaml" > "$W/win.sarif"
python3 - "$W/win.sarif" <<'PY' && pass "Windows Source paths: SARIF URIs use '/', lines relative to the # Source: comment" || fail "windows paths" "$(head -c 300 "$W/win.sarif")"
import json, sys
d = json.load(open(sys.argv[1]))
locs = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
         r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in d["runs"][0]["results"]]
assert ("KT101", "web/templates/service.yaml", 6) in locs, locs
assert all(u.startswith("web/templates/") for _, u, _ in locs), locs
PY

# the same objects as a live cluster
FIX=tests/fixtures/clusters/realworld
"$KTRACE" check --from $FIX -o json > "$W/check.json"; rc=$?
[ $rc = 0 ] && pass "check --from realworld cluster: exit 0" || fail "check realworld exit" "exit $rc"
python3 - "$W/out.json.1" "$W/check.json" <<'PY' && pass "check --from DIR: the lint findings on the same objects, plus live-only KT102 quantified" || fail "check vs lint" "see above"
import json, sys
lint = json.load(open(sys.argv[1]))["findings"]
live = json.load(open(sys.argv[2]))["findings"]
key = lambda f: (f["id"], f["object"]["kind"], f["object"]["namespace"], f["object"]["name"])
a, b = sorted(map(key, lint)), sorted(map(key, live))
if a != b:
    print("lint only:", [x for x in a if x not in b]); print("check only:", [x for x in b if x not in a]); sys.exit(1)
k102 = {f["object"]["name"]: f["message"] for f in live if f["id"] == "KT102"}
assert k102["ingress-nginx-controller"].startswith("67% of external requests take an extra node hop: 1 ready endpoint on 1 of 3"), k102
for f in live:
    assert f["file"] is None and f["line"] is None, f
PY
