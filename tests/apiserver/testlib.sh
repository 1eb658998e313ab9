# Helpers for tests that run ktrace against tests/apiserver/kapi.py
# (sourced after tests/lib.sh). Every server started here is stopped by
# the EXIT trap, by its own pid; nothing is killed by name.
#   kapi_start ARGS...   start a server; sets KAPI_PORT, KAPI_PID
#   kapi_stop            stop the last server
#   make_pki DIR         CA, server cert (DNS:kapi.test, DNS:localhost; no IP SAN),
#                        client cert CN=jane, and a second unrelated CA
#   bundle_count FILE KIND   number of objects of KIND in a bundle
#   kc_http PORT [NS]    write $WORK/kc.yaml (plain http to 127.0.0.1:PORT,
#                        namespace NS, default shop) and print its path
KAPI="$TOP/tests/apiserver/kapi.py"
KAPI_PIDS=""
WORK=$(mktemp -d /tmp/kt_api.XXXXXX)
cleanup_api() {
	for p in $KAPI_PIDS; do kill "$p" 2>/dev/null; done
	for p in $KAPI_PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup_api EXIT
unset KUBECONFIG KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT POD_NAMESPACE KTRACE_SA_DIR
export HOME="$WORK/home"
mkdir -p "$HOME"

have_python() { command -v python3 >/dev/null 2>&1 && python3 -c 'import ssl, http.server' 2>/dev/null; }

kapi_start() {
	rm -f "$WORK/port"
	python3 "$KAPI" --port-file "$WORK/port" "$@" >/dev/null 2>"$WORK/kapi.err" &
	KAPI_PID=$!
	KAPI_PIDS="$KAPI_PIDS $KAPI_PID"
	i=0
	while [ ! -s "$WORK/port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	KAPI_PORT=$(cat "$WORK/port" 2>/dev/null)
	[ -n "$KAPI_PORT" ]
}
kapi_stop() {
	[ -n "$KAPI_PID" ] && kill "$KAPI_PID" 2>/dev/null && wait "$KAPI_PID" 2>/dev/null
	KAPI_PID=""
}

kc_http() {
	cat > "$WORK/kc.yaml" <<EOF
apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:$1"}
contexts:
- name: ctx
  context: {cluster: c, namespace: ${2:-shop}}
EOF
	echo "$WORK/kc.yaml"
}

make_pki() {
	d=$1
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt \
			-days 2 -subj /CN=kt-test-ca
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other-ca.key \
			-out other-ca.crt -days 2 -subj /CN=kt-other-ca
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out srv.csr -subj /CN=kapi
		printf 'subjectAltName=DNS:kapi.test,DNS:localhost\n' > srv.ext
		openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile srv.ext
		openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj "/CN=jane/O=dev"
		openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2
	) >/dev/null 2>&1
	[ -s "$d/cli.crt" ] && [ -s "$d/srv.crt" ]
}

bundle_count() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(sum(1 for o in d.get("objects", []) if o.get("kind") == sys.argv[2]))
except Exception:
    print(-1)
EOF
}

# log_has FILE PYEXPR: true when some request-log record r satisfies PYEXPR
log_has() {
	python3 - "$1" "$2" <<'EOF'
import json, sys
ok = False
for line in open(sys.argv[1]):
    r = json.loads(line)
    if eval(sys.argv[2]):
        ok = True
sys.exit(0 if ok else 1)
EOF
}
