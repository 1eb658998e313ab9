#!/bin/sh
# API failure modes through the binary (`ktrace collect`, `ktrace path`)
# against tests/apiserver/kapi.py over plain http: 403 with the RBAC
# permission in the message, 410 Expired restart without duplicates, 429
# Retry-After, unreachable and hung servers within --request-timeout,
# truncated and non-JSON bodies (exit 5), a 50 MB response, malformed
# kubeconfig (exit 5 with file:line), missing Service (exit 3).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
FIX="$TOP/tests/fixtures/clusters/api-basic"
if [ ! -x "$KTRACE" ]; then fail binary "no ktrace binary at $KTRACE (build first)"; exit 0; fi
if ! have_python; then skip all "python3 not available"; exit 0; fi

# run_kt TIMEOUT ARGS...: runs ktrace, sets rc, elapsed (s), stderr in $WORK/err
run_kt() {
	t=$1; shift
	s=$(date +%s%N)
	"$KTRACE" --kubeconfig "$K" --request-timeout "$t" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	elapsed=$(( ($(date +%s%N) - s) / 1000000 ))
}
collect() { run_kt "$1" collect --no-node -f "$WORK/b.json"; }
err() { head -c 400 "$WORK/err" | tr '\n' '|'; }

# --- 403 ---
kapi_start --dir "$FIX" --forbid pods || { fail start "kapi.py did not start"; exit 0; }
K=$(kc_http "$KAPI_PORT")
collect 10
if [ $rc -eq 4 ] && grep -q "cannot list pods in all namespaces: 403 Forbidden" "$WORK/err" &&
	grep -q "needs 'list' on 'pods'" "$WORK/err"; then pass "403: exit 4 naming the permission"; else fail "403: exit 4 naming the permission" "rc=$rc $(err)"; fi
kapi_stop

# --- 410 Expired continue token, 429 throttling (large generated cluster) ---
kapi_start --dir "$FIX" --generate 1200 --expire-continue 1 --throttle 3 || { fail start "kapi.py"; exit 0; }
K=$(kc_http "$KAPI_PORT")
collect 30
svc=$(bundle_count "$WORK/b.json" Service)
pods=$(bundle_count "$WORK/b.json" Pod)
if [ $rc -eq 0 ] && [ "$svc" = 1204 ] && [ "$pods" = 2408 ]; then
	pass "410 restart and 429 retry: every object exactly once"
else
	fail "410 restart and 429 retry: every object exactly once" "rc=$rc services=$svc pods=$pods $(err)"
fi
if python3 - "$WORK/b.json" <<'EOF'
import json, sys
objs = json.load(open(sys.argv[1]))["objects"]
for o in objs:
    if o.get("kind") == "Pod":
        for c in o.get("spec", {}).get("containers", []):
            for e in c.get("env", []):
                if "value" in e:
                    sys.exit(1)
    if "managedFields" in o.get("metadata", {}):
        sys.exit(1)
EOF
then pass "bundle objects are sanitised (no env values, no managedFields)"; else fail "bundle objects are sanitised" "env value or managedFields found"; fi
kapi_stop

# --- unreachable: a port nobody listens on ---
kapi_start --dir "$FIX" || { fail start "kapi.py"; exit 0; }
DEAD=$KAPI_PORT
kapi_stop
K=$(kc_http "$DEAD")
collect 3
if [ $rc -eq 4 ] && [ $elapsed -lt 4000 ] && grep -q "http://127.0.0.1:$DEAD" "$WORK/err"; then
	pass "unreachable server: exit 4 naming the URL"
else
	fail "unreachable server: exit 4 naming the URL" "rc=$rc ${elapsed}ms $(err)"
fi

# --- hung server: fails within --request-timeout ---
kapi_start --dir "$FIX" --hang || { fail start "kapi.py"; exit 0; }
K=$(kc_http "$KAPI_PORT")
collect 2
if [ $rc -eq 4 ] && [ $elapsed -lt 5000 ] && grep -q "timed out" "$WORK/err"; then
	pass "hung server: exit 4 within --request-timeout"
else
	fail "hung server: exit 4 within --request-timeout" "rc=$rc ${elapsed}ms $(err)"
fi
kapi_stop

# --- non-JSON and truncated bodies: exit 5 naming the URL ---
kapi_start --dir "$FIX" --garbage services || { fail start "kapi.py"; exit 0; }
K=$(kc_http "$KAPI_PORT")
collect 10
if [ $rc -eq 5 ] && grep -q "/api/v1/services" "$WORK/err"; then pass "non-JSON body: exit 5"; else fail "non-JSON body: exit 5" "rc=$rc $(err)"; fi
kapi_stop
kapi_start --dir "$FIX" --truncate pods || { fail start "kapi.py"; exit 0; }
K=$(kc_http "$KAPI_PORT")
collect 10
if [ $rc -eq 5 ] && grep -q "truncated response from http://127.0.0.1:$KAPI_PORT/api/v1/pods" "$WORK/err"; then
	pass "truncated body: exit 5"
else
	fail "truncated body: exit 5" "rc=$rc $(err)"
fi
kapi_stop

# --- a 50 MB response ---
kapi_start --dir "$FIX" --huge services || { fail start "kapi.py"; exit 0; }
K=$(kc_http "$KAPI_PORT")
collect 60
svc=$(bundle_count "$WORK/b.json" Service)
if [ $rc -eq 0 ] && [ "$svc" = 5000 ]; then pass "50 MB response handled"; else fail "50 MB response handled" "rc=$rc services=$svc $(err)"; fi

# --- path: missing Service is exit 3; existing is 0 ---
kapi_stop
kapi_start --dir "$FIX" || { fail start "kapi.py"; exit 0; }
K=$(kc_http "$KAPI_PORT")
run_kt 10 path svc/orders -n shop
if [ $rc -eq 0 ] && grep -q "10.244.0.10" "$WORK/out"; then pass "path on the live API"; else fail "path on the live API" "rc=$rc $(err)"; fi
run_kt 10 path svc/ordrs -n shop
if [ $rc -eq 3 ] && grep -q "orders" "$WORK/err"; then pass "missing Service: exit 3 suggesting a close name"; else fail "missing Service: exit 3 suggesting a close name" "rc=$rc $(err)"; fi
kapi_stop

# --- malformed kubeconfig: exit 5 with file:line:col ---
printf 'apiVersion: v1\nclusters:\n- name: c\n  cluster:\n    server: [oops\ncontexts: []\n' > "$WORK/bad.yaml"
K="$WORK/bad.yaml"
collect 5
if [ $rc -eq 5 ] && grep -q "$WORK/bad.yaml:[0-9]*:[0-9]*" "$WORK/err"; then pass "malformed kubeconfig: exit 5 with file:line:col"; else fail "malformed kubeconfig: exit 5 with file:line:col" "rc=$rc $(err)"; fi
K="$WORK/does-not-exist.yaml"
collect 5
if [ $rc -ne 0 ] && grep -q "does-not-exist.yaml" "$WORK/err"; then pass "--kubeconfig missing file is an error"; else fail "--kubeconfig missing file is an error" "rc=$rc $(err)"; fi

# --- $KUBECONFIG merge through the binary: first file wins ---
kapi_start --dir "$FIX" || { fail start "kapi.py"; exit 0; }
printf 'current-context: a\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:%s"}\ncontexts:\n- name: a\n  context: {cluster: c, namespace: shop}\n' "$KAPI_PORT" > "$WORK/k1.yaml"
printf 'current-context: b\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:1"}\ncontexts:\n- name: b\n  context: {cluster: c}\n' > "$WORK/k2.yaml"
if KUBECONFIG="$WORK/missing.yaml:$WORK/k1.yaml:$WORK/k2.yaml" "$KTRACE" --request-timeout 5 collect --no-node -f "$WORK/b.json" >/dev/null 2>"$WORK/err" &&
	[ "$(bundle_count "$WORK/b.json" Service)" = 4 ]; then
	pass "\$KUBECONFIG list merged (first wins, missing skipped)"
else
	fail "\$KUBECONFIG list merged (first wins, missing skipped)" "$(err)"
fi
kapi_stop

# --- libcurl is dlopen()ed on first use: without it, API commands are exit 4
# with an install hint, file commands still work. The libraries are hidden in a
# private mount namespace (bind mounts of an empty file, gone when it exits). ---
if need_root && command -v unshare >/dev/null 2>&1; then
	printf 'current-context: a\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:1"}\ncontexts:\n- name: a\n  context: {cluster: c}\n' > "$WORK/nocurl.yaml"
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selector: {app: a}, ports: [{port: 80}]}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec: {containers: [{name: a, image: a}]}\n' > "$WORK/nocurl-svc.yaml"
	: > "$WORK/empty.so"
	hide=""
	for f in /usr/lib/*/libcurl.so.4 /usr/lib/*/libcurl-gnutls.so.4 /usr/lib/*/libcurl.so; do
		[ -e "$f" ] && hide="$hide mount --bind $WORK/empty.so $(readlink -f "$f") &&"
	done
	unshare -m sh -c "$hide \"\$0\" --kubeconfig \"\$1\" --request-timeout 3 check >/dev/null 2>\"\$2\"; echo \$? > \"\$2.rc\";
		\"\$0\" lint --fail-on never \"\$3\" >/dev/null 2>&1; echo \$? > \"\$2.lint\";
		\"\$0\" version > \"\$2.ver\" 2>&1; echo \$? >> \"\$2.ver\"" \
		"$KTRACE" "$WORK/nocurl.yaml" "$WORK/nocurl.err" "$WORK/nocurl-svc.yaml" 2>/dev/null
	if [ "$(cat "$WORK/nocurl.err.rc" 2>/dev/null)" = 4 ] && grep -q "cannot load libcurl" "$WORK/nocurl.err" &&
		grep -q "^hint: install libcurl" "$WORK/nocurl.err"; then
		pass "no libcurl: an API command is exit 4 with an install hint"
	else
		fail "no libcurl: an API command is exit 4 with an install hint" "rc=$(cat "$WORK/nocurl.err.rc" 2>/dev/null) $(head -c 300 "$WORK/nocurl.err" | tr '\n' '|')"
	fi
	if [ "$(cat "$WORK/nocurl.err.lint" 2>/dev/null)" = 0 ] && [ "$(tail -1 "$WORK/nocurl.err.ver")" = 0 ] &&
		! grep -q "^libcurl " "$WORK/nocurl.err.ver"; then
		pass "no libcurl: lint and version still run (version lists no libcurl)"
	else
		fail "no libcurl: lint and version still run" "lint=$(cat "$WORK/nocurl.err.lint" 2>/dev/null) $(tr '\n' '|' < "$WORK/nocurl.err.ver" | head -c 300)"
	fi
else
	skip "no libcurl: API commands exit 4" "needs root and unshare(1) for a private mount namespace"
fi
exit 0
