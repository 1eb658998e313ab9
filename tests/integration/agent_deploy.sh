#!/bin/sh
# The agent's deployment: `ktrace agent manifest` prints exactly deploy/
# (and substitutes image and namespace everywhere), `ktrace lint deploy/`
# is clean, the real kubectl accepts deploy/ in a client dry run against
# the test API server (discovery; it serves no OpenAPI, so kubectl's schema
# validation is off), the DaemonSet as kubectl parsed it has the security
# settings the agent relies on, the agent refuses to start without a
# usable token, and the Containerfile's package lists match tests/deps.sh
# and the binary's shared libraries. The image itself cannot be built here.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
[ -x "$KTRACE" ] || { fail binary "no ktrace binary at $KTRACE"; exit 0; }
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)

# ---- manifest == deploy/ ----------------------------------------------
{ cat "$TOP/deploy/ktrace-agent.yaml"; echo ---; cat "$TOP/deploy/ktrace-users.yaml"; } > "$WORK/deploy.yaml"
"$KTRACE" agent manifest > "$WORK/m.yaml" 2>"$WORK/err"
if cmp -s "$WORK/deploy.yaml" "$WORK/m.yaml"; then pass "agent manifest equals deploy/*.yaml"; else
	fail "agent manifest equals deploy/*.yaml" "$(diff "$WORK/deploy.yaml" "$WORK/m.yaml" | head -c 300 | tr '\n' '|')"; fi
ver=$(cat "$TOP/VERSION")
grep -q "image: localhost/ktrace:$ver\$" "$TOP/deploy/ktrace-agent.yaml" && pass "deploy/ image tag is VERSION ($ver)" ||
	fail "deploy/ image tag is VERSION ($ver)" "$(grep image: "$TOP/deploy/ktrace-agent.yaml")"
"$KTRACE" agent manifest --image registry.example.com/team/ktrace@sha256:0123 -n tools > "$WORK/m2.yaml"
# same text once the substitutions are undone
sed -e 's|registry.example.com/team/ktrace@sha256:0123|localhost/ktrace:'"$ver"'|' -e 's|namespace: tools$|namespace: ktrace|' \
	-e 's|kubectl -n tools |kubectl -n ktrace |' -e '/^kind: Namespace$/{n;n;s|  name: tools|  name: ktrace|}' "$WORK/m2.yaml" > "$WORK/m2.back"
if cmp -s "$WORK/m2.back" "$WORK/deploy.yaml" && ! grep -q 'namespace: ktrace' "$WORK/m2.yaml" && ! grep -q localhost/ktrace "$WORK/m2.yaml"; then
	pass "agent manifest --image --namespace substitutes both, nothing else"
else
	fail "agent manifest --image --namespace substitutes both, nothing else" "$(diff "$WORK/m2.back" "$WORK/deploy.yaml" | head -c 300 | tr '\n' '|')"
fi
expect_rc "agent manifest refuses a bad image" 2 "$KTRACE" agent manifest --image 'x y'
expect_rc "agent manifest refuses a bad namespace" 2 "$KTRACE" agent manifest -n 'Bad_NS'
expect_rc "agent refuses an unknown argument" 2 "$KTRACE" agent manifests

# ---- lint ---------------------------------------------------------------
out=$("$KTRACE" lint "$TOP/deploy/ktrace-agent.yaml" "$TOP/deploy/ktrace-users.yaml" 2>&1); rc=$? # deploy/krew/ is the krew index entry
if [ $rc = 0 ] && echo "$out" | grep -q '^0 errors, 0 warnings, 0 info in 7 objects from 2 files'; then pass "ktrace lint deploy/ is clean (7 objects)"; else
	fail "ktrace lint deploy/ is clean (7 objects)" "rc=$rc $(echo "$out" | tail -3 | tr '\n' '|')"; fi

# ---- kubectl dry run --------------------------------------------------
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
if [ ! -x "$KUBECTL" ]; then
	skip "kubectl apply --dry-run=client" "kubectl not installed at $KUBECTL"
elif ! have_python; then
	skip "kubectl apply --dry-run=client" "python3 not available"
elif ! kapi_start --log "$WORK/log"; then
	fail "kubectl apply --dry-run=client" "kapi.py did not start: $(head -c 200 "$WORK/kapi.err")"
else
	K=$(kc_http "$KAPI_PORT")
	export KUBECACHEDIR="$WORK/kcache"
	"$KUBECTL" --kubeconfig "$K" apply --dry-run=client --validate=false -f "$TOP/deploy/" > "$WORK/dry" 2>&1; rc=$?
	want='namespace/ktrace created (dry run)
serviceaccount/ktrace-agent created (dry run)
daemonset.apps/ktrace-agent created (dry run)
role.rbac.authorization.k8s.io/ktrace-fleet-user created (dry run)
rolebinding.rbac.authorization.k8s.io/ktrace-fleet-users created (dry run)
clusterrole.rbac.authorization.k8s.io/ktrace-fleet-nodes created (dry run)
clusterrolebinding.rbac.authorization.k8s.io/ktrace-fleet-nodes created (dry run)'
	if [ $rc = 0 ] && [ "$(cat "$WORK/dry")" = "$want" ]; then pass "kubectl apply --dry-run=client -f deploy/ accepts all 7 objects"; else
		fail "kubectl apply --dry-run=client -f deploy/ accepts all 7 objects" "rc=$rc $(head -c 400 "$WORK/dry" | tr '\n' '|')"; fi
	if log_has "$WORK/log" 'r["path"] == "/apis/apps/v1/namespaces/ktrace/daemonsets/ktrace-agent" and r["status"] == 404' &&
		log_has "$WORK/log" 'r["path"] == "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/ktrace-fleet-nodes"'; then
		pass "kubectl mapped every kind through discovery and looked each object up"
	else
		fail "kubectl mapped every kind through discovery and looked each object up" "not in the request log"
	fi
	"$KTRACE" agent manifest -n tools | "$KUBECTL" --kubeconfig "$K" apply --dry-run=client --validate=false -f - > "$WORK/dry2" 2>&1
	if grep -q '^namespace/tools created (dry run)$' "$WORK/dry2" && [ "$(grep -c 'created (dry run)' "$WORK/dry2")" = 7 ]; then
		pass "kubectl accepts 'agent manifest -n tools'"; else fail "kubectl accepts 'agent manifest -n tools'" "$(head -c 300 "$WORK/dry2" | tr '\n' '|')"; fi
	# the objects as kubectl parsed them
	"$KUBECTL" --kubeconfig "$K" apply --dry-run=client --validate=false -o json -f "$TOP/deploy/" > "$WORK/objs.json" 2>"$WORK/objs.err"
	res=$("$PY" - "$WORK/objs.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
objs = d["items"] if d.get("kind") == "List" else [d]
by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
bad = []
def want(cond, what):
    if not cond:
        bad.append(what)
ns = by.get(("Namespace", "ktrace"))
want(ns and ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "privileged", "namespace PSA privileged")
sa = by.get(("ServiceAccount", "ktrace-agent"))
want(sa and sa.get("automountServiceAccountToken") is False, "SA automount false")
ds = by.get(("DaemonSet", "ktrace-agent"))
want(ds is not None, "daemonset")
t = ds["spec"]["template"]
ps = t["spec"]
c = ps["containers"][0]
want(t["metadata"]["labels"].get("app.kubernetes.io/name") == "ktrace-agent", "pod label")
want(ds["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "ktrace-agent"}, "selector")
want(ps.get("hostNetwork") is True, "hostNetwork")
want(ps.get("automountServiceAccountToken") is False, "pod automount false")
want(ps.get("serviceAccountName") == "ktrace-agent", "service account")
want({"operator": "Exists"} in ps.get("tolerations", []), "tolerate every taint")
want([p for p in c["ports"] if p.get("name") == "ktrace" and p.get("containerPort") == 10265], "port named ktrace")
want(c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "ktrace"}, "readiness probe /healthz")
sc = c["securityContext"]
want(sc.get("readOnlyRootFilesystem") is True, "read-only root")
want(sc.get("privileged") is False and sc.get("allowPrivilegeEscalation") is False, "not privileged")
want(sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "BPF"]}, "capabilities NET_ADMIN+BPF only")
env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c["env"]}
want(env == {"NODE_NAME": "spec.nodeName", "HOST_IP": "status.hostIP"}, "downward API env")
want("--node=$(NODE_NAME)" in c["args"] and "--token-file=/etc/ktrace/token/token" in c["args"] and
     "--listen=$(HOST_IP):10265" in c["args"] and c["args"][0] == "agent", "args")
mounts = {m["name"]: m for m in c["volumeMounts"]}
vols = {v["name"]: v for v in ps["volumes"]}
want(mounts["bpffs"].get("readOnly") is True and vols["bpffs"]["hostPath"]["path"] == "/sys/fs/bpf", "bpffs read-only")
want(mounts["token"].get("readOnly") is True and vols["token"]["secret"]["secretName"] == "ktrace-agent-token" and
     vols["token"]["secret"]["items"] == [{"key": "token", "path": "token"}], "token secret key token")
r = c["resources"]
want(r["requests"]["memory"] == "32Mi" and r["limits"]["memory"] == "256Mi", "resources")
role = by.get(("Role", "ktrace-fleet-user"))
rules = role["rules"] if role else []
want({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]} in rules, "role: pods get/list")
want({"apiGroups": [""], "resources": ["pods/proxy"], "verbs": ["get"]} in rules, "role: pods/proxy get")
want({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["ktrace-agent-token"], "verbs": ["get"]} in rules,
     "role: the token Secret by name")
want(len(rules) == 3, "role: nothing else")
print("ok" if not bad else "; ".join(bad))
EOF
)
	[ "$res" = ok ] && pass "the parsed DaemonSet, ServiceAccount and Role have the settings the agent relies on" ||
		fail "the parsed DaemonSet, ServiceAccount and Role have the settings the agent relies on" "$res $(head -c 200 "$WORK/objs.err")"
	kapi_stop
fi

# ---- the agent refuses to start without a usable token ------------------
out=$("$KTRACE" agent --listen 127.0.0.1:0 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'does not start without --token-file' && echo "$out" | grep -q 'openssl rand -hex 32' &&
	pass "agent without --token-file: exit 2 with the Secret recipe" || fail "agent without --token-file: exit 2 with the Secret recipe" "rc=$rc $out"
printf 'short\n' > "$WORK/tok"
out=$("$KTRACE" agent --listen 127.0.0.1:0 --token-file "$WORK/tok" 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'shorter than 16 bytes' && pass "agent with a short token: exit 2" || fail "agent with a short token: exit 2" "rc=$rc $out"
out=$("$KTRACE" agent --listen 127.0.0.1:0 --token-file "$WORK/nope" 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'cannot open' && pass "agent with a missing token file: exit 2" || fail "agent with a missing token file: exit 2" "rc=$rc $out"

# ---- Containerfile ------------------------------------------------------
CF="$TOP/deploy/Containerfile"
# the -dev packages tests/deps.sh installs (but clang's fuzzer runtime), and the runtime packages each depends on (exact version)
devs=$(sed -n '/^PKGS="/,/"$/p' "$TOP/tests/deps.sh" | tr ' "' '\n\n' | grep -- '-dev$' | grep -v '^libclang-rt' | sort -u)
stage() { awk -v n="$1" '/^FROM /{s++} s==n' "$CF" | sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -v -E '^(apt-get|install|rm|update)$' | sort -u; }
build_pk=$(stage 1)
run_pk=$(stage 2)
missing=$(for p in $devs; do echo "$build_pk" | grep -qx "$p" || echo "$p"; done)
[ -z "$missing" ] && pass "build stage installs every -dev package of tests/deps.sh" || fail "build stage installs every -dev package of tests/deps.sh" "missing: $missing"
if command -v dpkg-query >/dev/null 2>&1; then
	want_rt=$(for p in $devs; do dpkg-query -W -f='${Depends}\n' "$p" 2>/dev/null; done | tr ',' '\n' |
		grep '(= ' | sed 's/^ *//; s/ .*//' | grep -v -- '-dev$' | sort -u)
	got_rt=$(echo "$run_pk" | grep -vx iptables)
	if [ -n "$want_rt" ] && [ "$want_rt" = "$got_rt" ]; then pass "runtime stage installs exactly the runtime libraries of those -dev packages (+ iptables)"; else
		fail "runtime stage installs exactly the runtime libraries of those -dev packages (+ iptables)" "want: $(echo $want_rt) got: $(echo $got_rt)"; fi
	# every shared library of the built binary comes from a listed package, a
	# dependency of one, or a package every Debian image has (priority required)
	closure=$(dpkg-query -W -f='${Package}\t${Depends}, ${Pre-Depends}\n' 2>/dev/null | "$PY" -c '
import re, sys
deps = {}
for line in sys.stdin:
    name, _, d = line.rstrip("\n").partition("\t")
    deps[name.split(":")[0]] = [re.split(r"[ :(]", alt.split("|")[0].strip())[0] for alt in d.split(",") if alt.strip()]
todo, seen = sys.argv[1:], set()
while todo:
    p = todo.pop()
    if p in seen:
        continue
    seen.add(p)
    todo += deps.get(p, [])
print("\n".join(sorted(seen)))' $run_pk)
	# one dpkg -S over every library path and its merged-/usr twin
	# (a sanitizer build links its runtime: check the plain build then)
	LIBBIN=$KTRACE
	[ -n "$KT_ASAN" ] && LIBBIN=$TOP/ktrace
	ldd "$LIBBIN" 2>/dev/null | awk '$3 ~ /^\// {print $3}' > "$WORK/libs"
	while read -r lib; do
		echo "$lib"; readlink -f "$lib"
		case $lib in /usr/*) echo "${lib#/usr}" ;; *) echo "/usr$lib" ;; esac
	done < "$WORK/libs" | sort -u > "$WORK/libpaths"
	dpkg -S $(cat "$WORK/libpaths") 2>/dev/null > "$WORK/owners"
	unmet=""
	while read -r lib; do
		pk=""
		for cand in "$lib" "$(readlink -f "$lib")" "${lib#/usr}" "/usr$lib"; do
			pk=$(awk -v p="$cand" '{ path = $0; sub(/^[^:]*(:[a-z0-9]+)?: /, "", path) } path == p { split($1, a, ":"); print a[1]; exit }' "$WORK/owners")
			[ -n "$pk" ] && break
		done
		[ -z "$pk" ] && { unmet="$unmet $lib(no package)"; continue; }
		echo "$closure" | grep -qx "$pk" && continue
		[ "$(dpkg-query -W -f='${Priority}' "$pk" 2>/dev/null)" = required ] && continue
		unmet="$unmet $lib($pk)"
	done < "$WORK/libs"
	[ -s "$WORK/libs" ] || unmet="no binary at $LIBBIN"
	[ -z "$unmet" ] && pass "every shared library of the binary comes with the runtime stage's packages" ||
		fail "every shared library of the binary comes with the runtime stage's packages" "$unmet"
else
	skip "Containerfile runtime packages" "no dpkg here"
fi
# the binary it copies is the one `make` builds (BIN is ./ktrace for the default BUILD)
if grep -q '^WORKDIR /src$' "$CF" && grep -q '^RUN make clean && make -j"$(nproc)" all$' "$CF" &&
	grep -q '^COPY --from=build /src/ktrace /usr/local/bin/ktrace$' "$CF" && grep -q '^BIN := ktrace$' "$TOP/Makefile" &&
	grep -q '^ENTRYPOINT \["/usr/local/bin/ktrace"\]$' "$CF"; then
	pass "Containerfile copies the binary 'make' builds and runs it as the entrypoint"
else
	fail "Containerfile copies the binary 'make' builds and runs it as the entrypoint" "WORKDIR/RUN make/COPY/ENTRYPOINT lines changed"
fi
grep -q 'args:' "$TOP/deploy/ktrace-agent.yaml" && grep -q '^        - agent$' "$TOP/deploy/ktrace-agent.yaml" &&
	pass "the DaemonSet passes 'agent' to that entrypoint" || fail "the DaemonSet passes 'agent' to that entrypoint" "args"
exit 0
