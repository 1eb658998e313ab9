#!/bin/sh
# Every kubeconfig auth mode end to end: `ktrace collect` against the test
# API server (tests/apiserver/kapi.py) over HTTPS with a CA made here by
# openssl. Token, tokenFile (and re-read on 401), client certificate from
# files and from -data, exec plugins v1 and v1beta1 (token and certificate,
# re-run on 401, apiVersion mismatch), CA pinning, insecure-skip-tls-verify,
# tls-server-name, impersonation headers, basic auth, in-cluster config,
# no credentials over http, API Warning headers, -vv never shows secrets.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
FIX="$TOP/tests/fixtures/clusters/api-basic"
if [ ! -x "$KTRACE" ]; then fail binary "no ktrace binary at $KTRACE (build first)"; exit 0; fi
if ! have_python; then skip all "python3 with ssl not available"; exit 0; fi
if ! command -v openssl >/dev/null 2>&1; then skip all "openssl not available"; exit 0; fi
if ! make_pki "$WORK/pki"; then skip all "cannot create test certificates with openssl"; exit 0; fi
P="$WORK/pki"
LOG="$WORK/req.log"
TOKEN=tok-$$-good

# kc NAME SERVER USER_YAML [CLUSTER_EXTRA_YAML]: kubeconfig in $P (relative paths work)
kc() {
	cat > "$P/$1.yaml" <<EOF
apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c
  cluster:
    server: $2
$4
users:
- name: u
  user:
$3
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: shop}
EOF
	echo "$P/$1.yaml"
}

# collect_ok NAME KUBECONFIG [extra args]: collect succeeds and has the 4 services
collect_ok() {
	n=$1; k=$2; shift 2
	rm -f "$WORK/out.json"
	"$KTRACE" --kubeconfig "$k" --request-timeout 10 "$@" collect --no-node -f "$WORK/out.json" >"$WORK/stdout" 2>"$WORK/stderr"
	rc=$?
	c=$(bundle_count "$WORK/out.json" Service)
	if [ $rc -eq 0 ] && [ "$c" = 4 ]; then pass "$n"; else fail "$n" "rc=$rc services=$c: $(head -c 400 "$WORK/stderr" | tr '\n' '|')"; fi
}
# collect_rc NAME WANT KUBECONFIG [extra]
collect_rc() {
	n=$1; want=$2; k=$3; shift 3
	"$KTRACE" --kubeconfig "$k" --request-timeout 10 "$@" collect --no-node -f "$WORK/out.json" >"$WORK/stdout" 2>"$WORK/stderr"
	rc=$?
	if [ $rc -eq "$want" ]; then pass "$n"; else fail "$n" "rc=$rc want $want: $(head -c 400 "$WORK/stderr" | tr '\n' '|')"; fi
}

CA_FILE="    certificate-authority: ca.crt"
CA_DATA="    certificate-authority-data: $(base64 -w0 < "$P/ca.crt")"

if ! kapi_start --dir "$FIX" --tls-cert "$P/srv.crt" --tls-key "$P/srv.key" --client-ca "$P/ca.crt" \
	--token "$TOKEN" --token-file "$P/server-token2" --basic "ada:pw-$$" --log "$LOG" --warn "kapi test warning"; then
	fail start "kapi.py did not start: $(head -c 300 "$WORK/kapi.err")"; exit 0
fi
S="https://localhost:$KAPI_PORT"

# --- bearer token + CA file (relative path) ---
K=$(kc token "$S" "    token: $TOKEN" "$CA_FILE")
collect_ok "token with CA file" "$K"
if log_has "$LOG" 'r["who"] == "token:0"'; then pass "server saw the bearer token"; else fail "server saw the bearer token" "no token:0 in log"; fi
if grep -q "kapi test warning" "$WORK/stderr"; then pass "API Warning header printed"; else fail "API Warning header printed" "not on stderr"; fi
if log_has "$LOG" 'r["ua"].startswith("ktrace/") and "(linux/" in r["ua"]'; then pass "user agent"; else fail "user agent" "no ktrace/ UA"; fi
if log_has "$LOG" 'r["ae"] and "gzip" in r["ae"]'; then pass "asks for gzip"; else fail "asks for gzip" "no Accept-Encoding gzip"; fi

# -vv shows method, path, status, ms and never the token
"$KTRACE" --kubeconfig "$K" -vv collect --no-node -f "$WORK/out.json" >/dev/null 2>"$WORK/vv"
if grep -q "GET /api/v1/services?limit=500 200 [0-9]*ms" "$WORK/vv" && ! grep -q "$TOKEN" "$WORK/vv"; then
	pass "-vv logs requests without credentials"
else
	fail "-vv logs requests without credentials" "$(head -c 300 "$WORK/vv" | tr '\n' '|')"
fi

# --- CA data; wrong CA; no CA (system roots do not know the test CA) ---
K=$(kc cadata "$S" "    token: $TOKEN" "$CA_DATA")
collect_ok "token with certificate-authority-data" "$K"
K=$(kc wrongca "$S" "    token: $TOKEN" "    certificate-authority: other-ca.crt")
collect_rc "wrong CA fails with exit 4" 4 "$K"
if grep -q "$S" "$WORK/stderr"; then pass "TLS error names the URL"; else fail "TLS error names the URL" "$(head -c 300 "$WORK/stderr")"; fi
K=$(kc noca "$S" "    token: $TOKEN")
collect_rc "no CA: system roots reject the test CA (exit 4)" 4 "$K"

# --- insecure-skip-tls-verify; combined with a CA it is rejected ---
K=$(kc insecure "$S" "    token: $TOKEN" "    insecure-skip-tls-verify: true")
collect_ok "insecure-skip-tls-verify" "$K"
K=$(kc insecure_ca "$S" "    token: $TOKEN" "$CA_FILE
    insecure-skip-tls-verify: true")
collect_rc "CA plus insecure-skip-tls-verify rejected (exit 5)" 5 "$K"

# --- tls-server-name: the cert has no IP SAN ---
K=$(kc ipnotsn "https://127.0.0.1:$KAPI_PORT" "    token: $TOKEN" "$CA_FILE")
collect_rc "IP without tls-server-name fails verification (exit 4)" 4 "$K"
: > "$LOG"
K=$(kc tsn "https://127.0.0.1:$KAPI_PORT" "    token: $TOKEN" "$CA_FILE
    tls-server-name: kapi.test")
collect_ok "tls-server-name" "$K"
if python3 - "$LOG" "$KAPI_PORT" <<'EOF'
import json, sys
sys.exit(0 if any(json.loads(l)["host"] == "127.0.0.1:" + sys.argv[2] for l in open(sys.argv[1])) else 1)
EOF
then pass "tls-server-name keeps the Host header"; else fail "tls-server-name keeps the Host header" "no Host 127.0.0.1:port"; fi

# --- client certificates: files (relative) and -data ---
: > "$LOG"
K=$(kc cert "$S" "    client-certificate: cli.crt
    client-key: cli.key" "$CA_FILE")
collect_ok "client certificate files" "$K"
if log_has "$LOG" 'r["who"] == "cert:jane"'; then pass "server saw the client certificate"; else fail "server saw the client certificate" "no cert:jane"; fi
K=$(kc certdata "$S" "    client-certificate-data: $(base64 -w0 < "$P/cli.crt")
    client-key-data: $(base64 -w0 < "$P/cli.key")" "$CA_FILE")
collect_ok "client certificate data" "$K"
K=$(kc certmissing "$S" "    client-certificate: nope.crt
    client-key: cli.key" "$CA_FILE")
collect_rc "missing client certificate file (exit 5)" 5 "$K"

# --- tokenFile, and re-read on 401 ---
echo "$TOKEN" > "$P/tokfile"
K=$(kc tokenfile "$S" "    tokenFile: tokfile" "$CA_FILE")
collect_ok "tokenFile" "$K"
kapi_stop
echo "stale-token" > "$P/rot"
kapi_start --dir "$FIX" --tls-cert "$P/srv.crt" --tls-key "$P/srv.key" --token "$TOKEN" \
	--rotate-token-file "$P/rot" --log "$LOG" || { fail start "kapi restart"; exit 0; }
S="https://localhost:$KAPI_PORT"
K=$(kc tokenrot "$S" "    tokenFile: rot" "$CA_FILE")
collect_ok "tokenFile re-read after 401" "$K"
K=$(kc badtoken "$S" "    token: wrong" "$CA_FILE")
collect_rc "401 gives exit 4" 4 "$K"
if grep -q "401 Unauthorized" "$WORK/stderr"; then pass "401 message"; else fail "401 message" "$(head -c 300 "$WORK/stderr")"; fi

# --- exec credential plugins ---
cat > "$P/plugin.sh" <<EOF
#!/bin/sh
# test exec credential plugin: mode in \$1
echo "\$KUBERNETES_EXEC_INFO" > "$P/exec-info.\$1"
n=\$(cat "$P/count.\$1" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n > "$P/count.\$1"
case "\$1" in
v1) echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"$TOKEN","expirationTimestamp":"2099-01-01T00:00:00Z"}}' ;;
v1beta1) echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"$TOKEN"}}' ;;
stale) if [ \$n -eq 1 ]; then t=stale; else t=$TOKEN; fi
	echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'\$t'"}}' ;;
cert) python3 -c 'import json,sys; print(json.dumps({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"clientCertificateData":open("$P/cli.crt").read(),"clientKeyData":open("$P/cli.key").read()}}))' ;;
mismatch) echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"$TOKEN"}}' ;;
fail) echo "plugin: login required" >&2; exit 3 ;;
esac
EOF
chmod +x "$P/plugin.sh"
kapi_stop
kapi_start --dir "$FIX" --tls-cert "$P/srv.crt" --tls-key "$P/srv.key" --client-ca "$P/ca.crt" --token "$TOKEN" \
	--log "$LOG" || { fail start "kapi restart"; exit 0; }
S="https://localhost:$KAPI_PORT"
exec_user() { # apiVersion mode
	printf '    exec:\n      apiVersion: client.authentication.k8s.io/%s\n      command: ./plugin.sh\n      args: [%s]\n      interactiveMode: Never\n      provideClusterInfo: true\n      env: [{name: KT_TEST, value: "1"}]\n' "$1" "$2"
}
K=$(kc execv1 "$S" "$(exec_user v1 v1)" "$CA_FILE")
collect_ok "exec plugin v1 (token)" "$K"
if grep -q '"apiVersion":"client.authentication.k8s.io/v1"' "$P/exec-info.v1" 2>/dev/null &&
	grep -q '"interactive":false' "$P/exec-info.v1" && grep -q '"server":"https://localhost' "$P/exec-info.v1"; then
	pass "KUBERNETES_EXEC_INFO carries apiVersion, interactive and cluster info"
else
	fail "KUBERNETES_EXEC_INFO carries apiVersion, interactive and cluster info" "$(head -c 300 "$P/exec-info.v1" 2>/dev/null)"
fi
if [ "$(cat "$P/count.v1")" = 1 ]; then pass "exec credential cached per run"; else fail "exec credential cached per run" "ran $(cat "$P/count.v1") times"; fi
K=$(kc execv1beta1 "$S" "$(exec_user v1beta1 v1beta1)" "$CA_FILE")
collect_ok "exec plugin v1beta1 (token)" "$K"
: > "$LOG"
K=$(kc execcert "$S" "$(exec_user v1beta1 cert)" "$CA_FILE")
collect_ok "exec plugin returning a client certificate" "$K"
if log_has "$LOG" 'r["who"] == "cert:jane"'; then pass "exec certificate used for TLS"; else fail "exec certificate used for TLS" "no cert:jane"; fi
K=$(kc execstale "$S" "$(exec_user v1 stale)" "$CA_FILE")
collect_ok "exec plugin re-run once after 401" "$K"
if [ "$(cat "$P/count.stale")" = 2 ]; then pass "exec plugin ran exactly twice"; else fail "exec plugin ran exactly twice" "ran $(cat "$P/count.stale")"; fi
K=$(kc execmis "$S" "$(exec_user v1 mismatch)" "$CA_FILE")
collect_rc "exec apiVersion mismatch (exit 4)" 4 "$K"
K=$(kc execfail "$S" "$(exec_user v1 fail)" "$CA_FILE")
collect_rc "exec plugin failure (exit 4)" 4 "$K"
if grep -q "exec credential plugin" "$WORK/stderr"; then pass "exec failure message"; else fail "exec failure message" "$(head -c 300 "$WORK/stderr")"; fi

# --- impersonation ---
: > "$LOG"
K=$(kc imp "$S" "    token: $TOKEN
    as: alice
    as-uid: u-1
    as-groups: [dev, ops]" "$CA_FILE")
collect_ok "impersonation" "$K"
if log_has "$LOG" 'r.get("Impersonate-User") == "alice" and r.get("Impersonate-Group") == ["dev", "ops"] and r.get("Impersonate-Uid") == "u-1"'; then
	pass "impersonation headers observed by the server"
else
	fail "impersonation headers observed by the server" "$(tail -n 1 "$LOG")"
fi

# --- basic auth (token-less user) ---
kapi_stop
kapi_start --dir "$FIX" --tls-cert "$P/srv.crt" --tls-key "$P/srv.key" --basic "ada:pw-$$" --log "$LOG" ||
	{ fail start "kapi restart"; exit 0; }
S="https://localhost:$KAPI_PORT"
K=$(kc basic "$S" "    username: ada
    password: pw-$$" "$CA_FILE")
collect_ok "basic auth" "$K"

# --- in-cluster service account ---
kapi_stop
kapi_start --dir "$FIX" --tls-cert "$P/srv.crt" --tls-key "$P/srv.key" --token "$TOKEN" --log "$LOG" ||
	{ fail start "kapi restart"; exit 0; }
mkdir -p "$WORK/sa"
echo "$TOKEN" > "$WORK/sa/token"
cp "$P/ca.crt" "$WORK/sa/ca.crt"
echo shop > "$WORK/sa/namespace"
if KTRACE_SA_DIR="$WORK/sa" KUBERNETES_SERVICE_HOST=localhost KUBERNETES_SERVICE_PORT=$KAPI_PORT \
	"$KTRACE" collect --no-node -f "$WORK/out.json" >/dev/null 2>"$WORK/stderr" && [ "$(bundle_count "$WORK/out.json" Service)" = 4 ]; then
	pass "in-cluster service account"
else
	fail "in-cluster service account" "$(head -c 300 "$WORK/stderr" | tr '\n' '|')"
fi
rc=0; "$KTRACE" collect --no-node -f "$WORK/out.json" >/dev/null 2>"$WORK/stderr" || rc=$?
if [ $rc -eq 4 ] && grep -q "no kubeconfig" "$WORK/stderr"; then pass "no kubeconfig and not in-cluster: exit 4"; else fail "no kubeconfig and not in-cluster: exit 4" "rc=$rc"; fi

# --- http server: credentials are never sent ---
kapi_stop
kapi_start --dir "$FIX" --log "$LOG" || { fail start "kapi restart"; exit 0; }
: > "$LOG"
K=$(kc http "http://127.0.0.1:$KAPI_PORT" "    token: $TOKEN
    as: alice")
collect_ok "plain http server" "$K"
if log_has "$LOG" 'r["auth_header"] or "Impersonate-User" in r'; then fail "no credentials over http" "Authorization sent"; else pass "no credentials over http"; fi

# --- disable-compression: no Accept-Encoding ---
: > "$LOG"
K=$(kc nogzip "http://127.0.0.1:$KAPI_PORT" "" "    disable-compression: true")
collect_ok "disable-compression" "$K"
if log_has "$LOG" 'r["ae"]'; then fail "no gzip asked with disable-compression" "$(tail -n 1 "$LOG")"; else pass "no gzip asked with disable-compression"; fi

# --- proxy-url: kapi.py also answers absolute-URI (forward proxy) requests ---
: > "$LOG"
K=$(kc proxy "http://kapi.invalid:1" "    token: $TOKEN" "    proxy-url: http://127.0.0.1:$KAPI_PORT")
collect_ok "proxy-url" "$K"
if log_has "$LOG" 'r["path"].startswith("http://kapi.invalid:1/api/v1/")'; then pass "requests went through the proxy"; else fail "requests went through the proxy" "$(tail -n 1 "$LOG")"; fi
kapi_stop
exit 0
