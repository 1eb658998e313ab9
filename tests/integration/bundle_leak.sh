#!/bin/sh
# What a bundle may hold. A fixture cluster with a unique marker in every
# string leaf of every kind ktrace collects (tests/apiserver/marker_cluster.py:
# probes, hooks, volumes, annotations, labels, ConfigMaps, Secrets, env, args,
# status messages ...) is served by kapi.py and collected; a marker may appear
# in the bundle only at the place it was put, and only when that place is in
# the explicit allow-list below. The test fails when a new field leaks, and
# when an allowed field no longer arrives (the list here and the one in
# collectors/kube/sanitize.c must agree). Then: bundles are mode 0600, and
# for every fixture cluster the answers (check, path) from the collected
# bundle equal those from the original objects (nothing the rules read is
# lost by sanitising).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
have_python || { skip "bundle leak" "python3 with ssl/http.server missing"; exit 0; }

python3 "$TOP/tests/apiserver/marker_cluster.py" "$WORK/mc" >/dev/null || { fail "marker cluster" "generator failed"; exit 0; }
kapi_start --dir "$WORK/mc" || { fail "marker cluster: kapi starts" "$(cat "$WORK/kapi.err")"; exit 0; }
K=$(kc_http "$KAPI_PORT")
umask 022
if "$KTRACE" --kubeconfig "$K" collect --no-node -f "$WORK/b.json" 2>"$WORK/err"; then
	pass "marker cluster: collect"
else
	fail "marker cluster: collect" "$(head -c 400 "$WORK/err")"
fi
"$KTRACE" --kubeconfig "$K" collect --no-node -f "$WORK/b.json.gz" 2>/dev/null
kapi_stop
mode=$(stat -c %a "$WORK/b.json" 2>/dev/null)
modegz=$(stat -c %a "$WORK/b.json.gz" 2>/dev/null)
if [ "$mode" = 600 ] && [ "$modegz" = 600 ]; then pass "bundles are written 0600 (umask 022)"; else fail "bundles are written 0600" "modes $mode $modegz"; fi

out=$(python3 - "$WORK/mc/markers.json" "$WORK/b.json" <<'EOF'
import json, re, sys
markers = json.load(open(sys.argv[1]))
bundle = json.load(open(sys.argv[2]))
MK = re.compile(r"kmk\d{5}q")

META = ["metadata.name", "metadata.generateName", "metadata.namespace", "metadata.uid", "metadata.resourceVersion",
        "metadata.creationTimestamp", "metadata.deletionTimestamp", "metadata.labels.*", "metadata.labels{key}",
        "metadata.annotations.ktrace/ignore", "metadata.annotations.sidecar.istio.io/inject",
        "metadata.ownerReferences[].kind", "metadata.ownerReferences[].name", "metadata.ownerReferences[].uid"]
SEL = ["matchLabels.*", "matchLabels{key}", "matchExpressions[].key", "matchExpressions[].operator",
       "matchExpressions[].values[]"]
CONTAINER = ["name", "image", "restartPolicy", "ports[].name", "ports[].protocol", "readinessProbe.httpGet.port"]
PODSPEC = (["containers[]." + c for c in CONTAINER] + ["initContainers[]." + c for c in CONTAINER] +
           ["nodeName", "serviceAccountName", "topologySpreadConstraints[].topologyKey",
            "topologySpreadConstraints[].whenUnsatisfiable"] +
           ["topologySpreadConstraints[].labelSelector." + s for s in SEL] +
           ["affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].topologyKey"] +
           ["affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[].labelSelector." + s for s in SEL] +
           ["affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.topologyKey"] +
           ["affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.labelSelector." + s
            for s in SEL])
WL = (["spec.selector." + s for s in SEL] +
      ["spec.template.metadata.labels.*", "spec.template.metadata.labels{key}",
       "spec.template.metadata.annotations.ktrace/ignore", "spec.template.metadata.annotations.sidecar.istio.io/inject"] +
      ["spec.template.spec." + p for p in PODSPEC])
LBST = ["status.loadBalancer.ingress[].ip", "status.loadBalancer.ingress[].hostname"]
ROUTE = ["spec.hostnames[]", "spec.parentRefs[].kind", "spec.parentRefs[].namespace", "spec.parentRefs[].name",
         "spec.parentRefs[].sectionName", "spec.rules[].backendRefs[].kind", "spec.rules[].backendRefs[].group",
         "spec.rules[].backendRefs[].namespace", "spec.rules[].backendRefs[].name"]
ALLOWED = {
    "Service": META + ["metadata.annotations.service.beta.kubernetes.io/aws-load-balancer-type",
                       "metadata.annotations.service.beta.kubernetes.io/aws-load-balancer-proxy-protocol",
                       "metadata.annotations.cloud.google.com/neg",
                       "spec.type", "spec.clusterIP", "spec.clusterIPs[]", "spec.ipFamilies[]", "spec.ipFamilyPolicy",
                       "spec.ports[].name", "spec.ports[].protocol", "spec.ports[].appProtocol", "spec.ports[].targetPort",
                       "spec.selector.*", "spec.selector{key}", "spec.externalTrafficPolicy",
                       "spec.internalTrafficPolicy", "spec.sessionAffinity", "spec.loadBalancerClass",
                       "spec.loadBalancerSourceRanges[]", "spec.externalIPs[]", "spec.trafficDistribution",
                       "spec.externalName", "status.loadBalancer.ingress[].ipMode"] + LBST,
    "EndpointSlice": META + ["metadata.annotations.endpoints.kubernetes.io/last-change-trigger-time", "addressType",
                             "ports[].name", "ports[].protocol", "ports[].appProtocol", "endpoints[].addresses[]",
                             "endpoints[].hints.forZones[].name", "endpoints[].targetRef.kind",
                             "endpoints[].targetRef.name", "endpoints[].nodeName", "endpoints[].zone",
                             "endpoints[].hostname"],
    "Pod": META + ["spec." + p for p in PODSPEC] + [
        "status.phase", "status.hostIP", "status.podIP", "status.podIPs[].ip", "status.conditions[].type",
        "status.conditions[].status", "status.conditions[].lastTransitionTime", "status.startTime"],
    "Deployment": META + WL, "StatefulSet": META + WL, "DaemonSet": META + WL, "ReplicaSet": META + WL,
    "HorizontalPodAutoscaler": META + ["spec.scaleTargetRef.kind", "spec.scaleTargetRef.name"],
    "PodDisruptionBudget": META + ["spec.selector." + s for s in SEL] + ["spec.minAvailable", "spec.maxUnavailable"],
    "Ingress": META + ["metadata.annotations.kubernetes.io/ingress.class", "spec.ingressClassName",
                       "metadata.annotations.nginx.ingress.kubernetes.io/service-upstream",
                       "spec.defaultBackend.service.name", "spec.rules[].http.paths[].backend.service.name",
                       "spec.rules[].http.paths[].backend.service.port.name", "spec.rules[].host",
                       "spec.rules[].http.paths[].path", "spec.rules[].http.paths[].pathType",
                       "spec.tls[].hosts[]"] + LBST,
    "IngressClass": META + ["metadata.annotations.ingressclass.kubernetes.io/is-default-class", "spec.controller"],
    "Node": META + ["spec.podCIDRs[]", "status.addresses[].type", "status.addresses[].address",
                    "status.conditions[].type", "status.conditions[].status"],
    "GatewayClass": META + ["spec.controllerName"],
    "Gateway": META + ["spec.gatewayClassName", "spec.listeners[].name", "spec.listeners[].hostname",
                       "spec.listeners[].protocol", "spec.listeners[].tls.mode", "status.addresses[].value"],
    "HTTPRoute": META + ROUTE + ["spec.rules[].matches[].path.type", "spec.rules[].matches[].path.value",
                                 "spec.rules[].matches[].method"],
    "GRPCRoute": META + ROUTE + ["spec.rules[].matches[].method.service", "spec.rules[].matches[].method.method"],
    "ConfigMap": ["metadata.labels.*", "metadata.labels{key}", "data.use-forwarded-headers",
                  "data.config.conf#mode", "data.config.conf#clusterCIDR", "data.config.conf#iptables.masqueradeAll",
                  "data.config.conf#iptables.masqueradeBit", "data.kube-proxy-replacement"],
}
allowed = {k + ":" + p for k, ps in ALLOWED.items() for p in ps}
bad, seen = [], set()

def check(text, where, is_key=False):
    for m in MK.findall(text):
        origin = markers.get(m, "?")
        seen.add(origin)
        here = where + ("{key}" if is_key else "")
        if origin not in allowed:
            bad.append("%s (put at %s) reached %s" % (m, origin, here))
        elif origin != here and not (here.endswith("data.config.conf") and origin.startswith(here + "#")):
            bad.append("%s (put at %s) moved to %s" % (m, origin, here))

def walk(v, kind, path):
    if isinstance(v, dict):
        for k, x in v.items():
            sub = path + ("." if path else "") + k
            check(k, kind + ":" + path, is_key=True)
            if path.endswith("labels") or path.endswith("matchLabels") or (kind == "Service" and path == "spec.selector"):
                sub = path + ".*"
            walk(x, kind, sub)
    elif isinstance(v, list):
        for x in v:
            walk(x, kind, path + "[]")
    elif isinstance(v, str):
        check(v, kind + ":" + path)

for o in bundle.get("objects", []):
    walk(o, o.get("kind", "?"), "")
for key in ("source", "nodes", "flows", "gaps"):
    walk(bundle.get(key), "bundle", key)
missing = sorted(o for o in set(markers.values()) if o in allowed and o not in seen)
kinds = sorted({o.get("kind") for o in bundle.get("objects", [])})
print("kinds=" + ",".join(kinds))
for b in bad[:15]:
    print("LEAK " + b)
for m in missing[:15]:
    print("MISSING " + m)
print("leaks=%d missing=%d markers=%d" % (len(bad), len(missing), len(markers)))
EOF
)
echo "$out" | grep -q "^kinds=ConfigMap,DaemonSet,Deployment,EndpointSlice,GRPCRoute,Gateway,GatewayClass,HTTPRoute,HorizontalPodAutoscaler,Ingress,IngressClass,Node,Pod,PodDisruptionBudget,ReplicaSet,Service,StatefulSet$" &&
	pass "marker cluster: every collected kind is in the bundle, no Secret" || fail "marker cluster: kinds" "$(echo "$out" | head -1)"
if echo "$out" | grep -q "^leaks=0 "; then pass "marker cluster: no marker outside the allow-list ($(echo "$out" | tail -1))"
else fail "marker cluster: no marker outside the allow-list" "$(echo "$out" | grep '^LEAK' | head -8 | tr '\n' '|')"; fi
if echo "$out" | grep -q " missing=0 "; then pass "marker cluster: every allowed field arrives"
else fail "marker cluster: every allowed field arrives" "$(echo "$out" | grep '^MISSING' | head -8 | tr '\n' '|')"; fi
if gzip -dc "$WORK/b.json.gz" 2>/dev/null | cmp -s - "$WORK/b.json" ||
	[ "$(gzip -dc "$WORK/b.json.gz" | grep -o 'kmk[0-9]*q' | sort -u | md5sum)" = "$(grep -o 'kmk[0-9]*q' "$WORK/b.json" | sort -u | md5sum)" ]; then
	pass "marker cluster: the .gz bundle holds the same markers"
else
	fail "marker cluster: the .gz bundle holds the same markers" "differs"
fi
# the preStop exec command became the fact the rules need
if grep -q '"preStop":{"exec":{"command":\["sleep","5"\]}}' "$WORK/b.json"; then pass "preStop exec reduced to [\"sleep\",\"5\"]"
else fail "preStop exec reduced to [\"sleep\",\"5\"]" "$(grep -o '"preStop":{[^}]*}[^}]*}' "$WORK/b.json" | head -2 | tr '\n' '|')"; fi

# --- the answers from a collected bundle equal those from the original objects ---
# Each fixture cluster's objects of the kinds collect reads (00-bundle.json's
# objects included) go to a directory that kapi serves and --from reads.
for c in api-basic dualstack localpolicy realworld rules ingress; do
	src="$TOP/tests/fixtures/clusters/$c" dir="$WORK/eq-$c"
	python3 - "$src" "$dir" <<'EOF'
import glob, json, os, sys
KINDS = {"Service", "EndpointSlice", "Pod", "Node", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
         "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "IngressClass", "ConfigMap",
         "GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute"}
CTRL_KEYS = {"use-proxy-protocol", "use-forwarded-headers", "compute-full-forwarded-for", "enable-real-ip",
             "forwarded-for-header", "proxy-real-ip-cidr", "real-ip-header", "forwarded-for", "proxy-protocol",
             "real-ip"}
def ctrl_cm(o):
    return bool(CTRL_KEYS & set((o.get("data") or {}).keys()))
items = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    d = json.load(open(f))
    lk = d.get("kind", "")
    for o in d.get("items", d.get("objects", [])):
        k = o.get("kind") or (lk[:-4] if lk.endswith("List") and lk != "List" else None)
        if k in KINDS and not (k == "ConfigMap" and o.get("metadata", {}).get("name") not in
                               ("kube-proxy", "kube-proxy-config", "cilium-config") and not ctrl_cm(o)):
            o = dict(o, kind=k)
            items.append(o)
os.makedirs(sys.argv[2], exist_ok=True)
json.dump({"kind": "List", "apiVersion": "v1", "items": items}, open(os.path.join(sys.argv[2], "objects.json"), "w"))
EOF
	kapi_start --dir "$dir" || { fail "$c: kapi starts" "$(cat "$WORK/kapi.err")"; continue; }
	K=$(kc_http "$KAPI_PORT" default)
	"$KTRACE" --kubeconfig "$K" collect --no-node -f "$WORK/eq.json" 2>"$WORK/err" || fail "$c: collect" "$(head -c 300 "$WORK/err")"
	kapi_stop
	"$KTRACE" check -A -o json --from "$dir" > "$WORK/c1" 2>/dev/null
	"$KTRACE" check -A -o json --from "$WORK/eq.json" > "$WORK/c2" 2>/dev/null
	if [ -s "$WORK/c1" ] && grep -q '"findings"' "$WORK/c1" && cmp -s "$WORK/c1" "$WORK/c2"; then pass "$c: check from the bundle equals check from the objects"
	else fail "$c: check from the bundle equals check from the objects" "$(diff "$WORK/c1" "$WORK/c2" | head -6 | tr '\n' '|')"; fi
	mkdir -p "$WORK/p-$c"
	python3 -c 'import json,sys
for o in json.load(open(sys.argv[1]))["items"]:
    if o["kind"] == "Service": print("%s/%s" % (o["metadata"].get("namespace", "default"), o["metadata"]["name"]))' "$dir/objects.json" > "$WORK/svcs"
	i=0
	while read -r svc; do
		i=$((i + 1))
		"$KTRACE" path "$svc" -o json --from "$dir" > "$WORK/p-$c/$i.a" 2>/dev/null
		"$KTRACE" path "$svc" -o json --from "$WORK/eq.json" > "$WORK/p-$c/$i.b" 2>/dev/null
	done < "$WORK/svcs"
	# ages are relative to the collection time; gaps name what a bundle lacks
	res=$(python3 - "$WORK/p-$c" "$i" <<'EOF2'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
def norm(f):
    j = json.load(open(f))
    for e in j.get("endpoints", []):
        e.pop("ageSeconds", None)
    j.pop("gaps", None)
    return j
same = sum(1 for i in range(1, n + 1) if norm("%s/%d.a" % (d, i)) == norm("%s/%d.b" % (d, i)))
print(same, n)
EOF2
)
	set -- $res
	[ "${2:-0}" -gt 0 ] && [ "$1" = "$2" ] && pass "$c: path of all $2 Services equal from the bundle" ||
		fail "$c: path of every Service equal from the bundle" "${1:-?} of ${2:-?} equal"
done
exit 0
