#!/bin/sh
# Hostile API servers, kubeconfigs and credential plugins, each bounded in
# wall time and peak RSS (measured here; limits scaled under ASan): continue
# tokens that repeat or never end, a 65 KB gzip of 64 MB of [0,0,...]
# items, items nested 100000 deep or 2 million values wide, floods of
# Warning headers with terminal control sequences; user:password@ in the
# server URL; control bytes in credentials and header values; a quoted
# "true" for insecure-skip-tls-verify; exec plugins that hang (killed with
# their process group at the request timeout), inherit no ktrace file
# descriptor, die with ktrace, and interactiveMode Always without a terminal.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
FIX="$TOP/tests/fixtures/clusters/api-basic"
if [ ! -x "$KTRACE" ]; then fail binary "no ktrace binary at $KTRACE (build first)"; exit 0; fi
if ! have_python; then skip all "python3 not available"; exit 0; fi

# limits: wall ms and peak RSS MiB (ASan: slower, and its shadow memory counts)
if [ -n "$KT_ASAN" ]; then TSCALE=4 RSS_MB=700; else TSCALE=1 RSS_MB=150; fi

# measure LIMIT_S ARGS...: run ktrace with $K, record rc, ms, rss (MiB), stderr in $WORK/err
measure() {
	lim=$1; shift
	set -- "$(( lim * TSCALE ))" "$@"
	python3 - "$KTRACE" "$K" "$WORK" "$@" > "$WORK/meas" <<'EOF'
import resource, subprocess, sys, time
kt, kc, work, lim = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t = time.time()
try:
    p = subprocess.run([kt, "--kubeconfig", kc] + sys.argv[5:], stdout=open(work + "/out", "wb"),
                       stderr=open(work + "/err", "wb"), stdin=subprocess.DEVNULL, timeout=lim * 3 + 10)
    rc = p.returncode
except subprocess.TimeoutExpired:
    rc = 124
print(rc, int((time.time() - t) * 1000), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
EOF
	read -r rc ms mb < "$WORK/meas"
	within=1
	[ "$ms" -le "$(( $1 * 1000 ))" ] && [ "$mb" -le "$RSS_MB" ] || within=0
}
err() { head -c 500 "$WORK/err" | tr '\n' '|'; }
# hostile NAME WANT_RC GREP KAPI-ARGS...: collect against a kapi.py fault
hostile() {
	n=$1 want=$2 pat=$3; shift 3
	kapi_start --dir "$FIX" "$@" || { fail "$n" "kapi.py did not start"; return; }
	K=$(kc_http "$KAPI_PORT")
	measure 15 --request-timeout 20 collect --no-node -f "$WORK/b.json"
	kapi_stop
	if [ "$rc" = "$want" ] && grep -q "$pat" "$WORK/err" && [ $within = 1 ]; then
		pass "$n: exit $want in ${ms}ms, ${mb} MiB"
	else
		fail "$n" "rc=$rc (want $want) ${ms}ms ${mb}MiB (limits $((15 * TSCALE))s ${RSS_MB}MiB): $(err)"
	fi
	[ -e "$WORK/b.json" ] && fail "$n: no bundle left behind" "$WORK/b.json exists"
}

hostile "repeating continue token" 4 "same continue token twice" --loop-continue pods
hostile "endless list past remainingItemCount" 4 "grew past the" --grow-continue pods
hostile "65 KB gzip of 64 MB [0,0,...] items" 4 "expands more than 256 times" --zero-bomb services
hostile "8 MB of [0,0,...] items" 5 "items\[0\] is not an object" --zero-items services
hostile "an item nested 100000 deep" 5 "nested deeper than 64" --deep-item pods
hostile "an item with 2 million values" 5 "more than 1048576 JSON values" --wide-item pods

# --- Warning header flood: bounded and visible-safe ---
kapi_start --dir "$FIX" --warn-flood 50 || { fail start "kapi.py"; exit 0; }
K=$(kc_http "$KAPI_PORT")
measure 15 collect --no-node -f "$WORK/b.json"
kapi_stop
if python3 - "$WORK/err" <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
bad = [c for c in b if (c < 0x20 and c not in (10,)) or c == 0x7f or 0x80 <= c < 0xa0]
lines = [l for l in b.split(b"\n") if l.startswith(b"ktrace: warning:")]
ok = not bad and 0 < len(lines) <= 33 and max(len(l) for l in lines) <= 2048 and b"\\x1b[2J" in b and \
     b"\\u202e" in b and b"\xe2\x80\xae" not in b
print(len(bad), len(lines), max((len(l) for l in lines), default=0))
sys.exit(0 if ok else 1)
EOF
then pass "Warning flood: at most 32 shown (+1 notice), each cut and escaped, no control byte on stderr (rc=$rc)"
else fail "Warning flood bounded and escaped" "rc=$rc $(head -c 300 "$WORK/err" | od -c | head -3 | tr '\n' '|')"; fi

# --- user:password@ in the server URL: not sent, not logged, not stored ---
kapi_start --dir "$FIX" --log "$WORK/req.log" || { fail start "kapi.py"; exit 0; }
SECRET="pw-$$-secret"
K=$(kc_http "$KAPI_PORT")
sed -i "s|http://127.0.0.1:|http://ada:$SECRET@127.0.0.1:|" "$K"
measure 15 -vv collect --no-node -f "$WORK/b.json"
kapi_stop
if [ "$rc" = 0 ] && ! log_has "$WORK/req.log" 'r["auth_header"]' && ! grep -q "$SECRET" "$WORK/err" "$WORK/b.json" &&
	[ "$(grep -c "holds credentials" "$WORK/err")" = 1 ] && grep -q "\"server\":\"http://127.0.0.1:$KAPI_PORT\"" "$WORK/b.json"; then
	pass "user:password@ in the server URL: stripped, warned once, never sent, logged (-vv) or stored"
else
	fail "user:password@ in the server URL" "rc=$rc $(err)"
fi

# --- control bytes in credentials and header values: exit 5 naming the field ---
kapi_start --dir "$FIX" || { fail start "kapi.py"; exit 0; }
for f in 'token|token: "tok\r\nX-Evil: injected"' 'as|as: "alice\nX-Evil: injected"' 'username|username: "ada\u0007"' \
	'as-groups|as: ok, as-groups: ["ok", "dev\rX-Evil: injected"]'; do
	field=${f%%|*} f=${f#*|}
	K="$WORK/kcctl.yaml"
	printf 'current-context: c\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:%s"}}]\nusers: [{name: u, user: {%s}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n' \
		"$KAPI_PORT" "$f" > "$K"
	measure 10 collect --no-node -f "$WORK/b.json"
	if [ "$rc" = 5 ] && grep -q "'$field' holds a control character" "$WORK/err" && ! grep -q "X-Evil\|injected" "$WORK/err"; then
		pass "control byte in $field: exit 5 naming the field, not the value"
	else
		fail "control byte in $field: exit 5" "rc=$rc $(err)"
	fi
done
kapi_stop

# --- insecure-skip-tls-verify must be a YAML boolean, as for kubectl ---
K="$WORK/kcq.yaml"
printf 'current-context: c\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: "true"\ncontexts: [{name: c, context: {cluster: c}}]\n' > "$K"
measure 10 collect --no-node -f "$WORK/b.json"
if [ "$rc" = 5 ] && grep -q "kcq.yaml:6:[0-9]*: invalid kubeconfig: 'insecure-skip-tls-verify' must be true or false" "$WORK/err"; then
	pass "quoted \"true\" for insecure-skip-tls-verify refused with file:line (exit 5)"
else
	fail "quoted \"true\" for insecure-skip-tls-verify refused" "rc=$rc $(err)"
fi
if command -v kubectl >/dev/null 2>&1; then
	if kubectl --kubeconfig "$K" config view >/dev/null 2>&1; then fail "kubectl agrees" "kubectl accepted it"
	else pass "kubectl refuses the same kubeconfig"; fi
fi

# --- exec credential plugins (need https: credentials go nowhere else) ---
if ! command -v openssl >/dev/null 2>&1 || ! make_pki "$WORK/pki"; then
	skip "exec plugins" "openssl cannot make the test certificates"
	exit 0
fi
P="$WORK/pki"
TOKEN=tok-$$-good
kapi_start --dir "$FIX" --tls-cert "$P/srv.crt" --tls-key "$P/srv.key" --token "$TOKEN" || { fail start "kapi.py"; exit 0; }
S="https://localhost:$KAPI_PORT"
cat > "$P/plugin.sh" <<EOF
#!/bin/sh
# mode in \$1
n=\$(cat "$P/count.\$1" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n > "$P/count.\$1"
cred() { echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'"\$1"'"}}'; }
case "\$1" in
hang) echo \$\$ > "$P/hang.pid"; sleep 300 & echo \$! > "$P/hang.child"; wait ;;
fds) if [ \$n -eq 1 ]; then cred stale; exit 0; fi
	ls -l /proc/\$\$/fd/ | sed -n 's/.* \([0-9]*\) -> \(.*\)/\1 \2/p' > "$P/fds.txt"; cred $TOKEN ;;
tty) echo "\$KUBERNETES_EXEC_INFO" > "$P/tty.info"; read -r ans
	if [ -t 0 ] && [ "\$ans" = the-answer ]; then cred $TOKEN; else echo "no terminal answer" >&2; exit 1; fi ;;
crlf) printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"a\\\\r\\\\nX-Evil: 1"}}\n' ;;
*) cred $TOKEN ;;
esac
EOF
chmod +x "$P/plugin.sh"
exec_kc() { # name mode interactiveMode
	printf 'current-context: c\nclusters:\n- name: c\n  cluster: {server: "%s", certificate-authority: ca.crt}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./plugin.sh\n      args: [%s]\n      interactiveMode: %s\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n' \
		"$S" "$2" "${3:-Never}" > "$P/$1.yaml"
	echo "$P/$1.yaml"
}
alive() { [ -n "$1" ] && st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; } # zombies count as dead

K=$(exec_kc hang hang)
measure 10 --request-timeout 2 collect --no-node -f "$WORK/b.json"
sleep 0.3
hp=$(cat "$P/hang.pid" 2>/dev/null) hc=$(cat "$P/hang.child" 2>/dev/null)
if [ "$rc" = 4 ] && grep -q "did not finish within 2s" "$WORK/err" && [ "$ms" -lt $((5000 * TSCALE)) ] && ! alive "$hp" && ! alive "$hc"; then
	pass "hanging plugin: killed with its process group at the request timeout (${ms}ms), reaped"
else
	fail "hanging plugin killed at the request timeout" "rc=$rc ${ms}ms plugin alive: $(alive "$hp" && echo yes) child alive: $(alive "$hc" && echo yes) $(err)"
fi
alive "$hp" && kill -9 "$hp"; alive "$hc" && kill -9 "$hc"

# ktrace SIGKILLed while the plugin runs: the plugin dies too
rm -f "$P/hang.pid" "$P/hang.child"
"$KTRACE" --kubeconfig "$K" --request-timeout 60 collect --no-node -f "$WORK/b.json" >/dev/null 2>&1 &
ktp=$!
i=0; while [ ! -s "$P/hang.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
hp=$(cat "$P/hang.pid" 2>/dev/null)
kill -9 $ktp 2>/dev/null; wait $ktp 2>/dev/null
i=0; while alive "$hp" && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
if [ -n "$hp" ] && ! alive "$hp"; then pass "plugin dies with a SIGKILLed ktrace (PR_SET_PDEATHSIG)"
else fail "plugin dies with a SIGKILLed ktrace" "plugin pid '$hp' still alive"; fi
alive "$hp" && kill -9 "$hp"
hc=$(cat "$P/hang.child" 2>/dev/null); alive "$hc" && kill -9 "$hc"

# no ktrace file descriptor in the plugin (second run: after a 401, with
# the API connection open), collecting to a bundle
K=$(exec_kc fds fds)
measure 15 collect --no-node -f "$WORK/b.json"
extra=$(grep -v -E "^[012] |plugin.sh$" "$P/fds.txt" 2>/dev/null | tr '\n' '|')
if [ "$rc" = 0 ] && [ -s "$P/fds.txt" ] && [ -z "$extra" ]; then pass "plugin inherits only stdin/stdout/stderr"
else fail "plugin inherits only stdin/stdout/stderr" "rc=$rc extra fds: $extra $(err)"; fi

K=$(exec_kc crlf crlf)
measure 10 collect --no-node -f "$WORK/b.json"
if [ "$rc" = 5 ] && grep -q "status.token with a control character" "$WORK/err" && ! grep -q "X-Evil" "$WORK/err"; then
	pass "plugin token with CR/LF: exit 5"
else
	fail "plugin token with CR/LF: exit 5" "rc=$rc $(err)"
fi

K=$(exec_kc always always Always)
measure 10 collect --no-node -f "$WORK/b.json"
if [ "$rc" = 4 ] && grep -q "needs a terminal (interactiveMode: Always)" "$WORK/err" && [ ! -e "$P/count.always" ]; then
	pass "interactiveMode Always without a terminal: refused, plugin not run"
else
	fail "interactiveMode Always without a terminal: refused" "rc=$rc $(err)"
fi
# with a terminal (script(1) gives one), Always runs the plugin interactively:
# it owns the terminal (foreground process group) and reads the answer
if command -v script >/dev/null 2>&1; then
	K=$(exec_kc tty tty Always)
	printf 'the-answer\n' | timeout $((30 * TSCALE)) script -qec "'$KTRACE' --kubeconfig '$K' --request-timeout $((10 * TSCALE)) collect --no-node -f '$WORK/tty.json'" /dev/null > "$WORK/tty.out" 2>&1
	rc=$?
	if [ $rc = 0 ] && grep -q '"interactive":true' "$P/tty.info" 2>/dev/null && [ "$(bundle_count "$WORK/tty.json" Service)" = 4 ]; then
		pass "interactiveMode Always with a terminal: the plugin reads it, then ktrace goes on"
	else
		fail "interactiveMode Always with a terminal" "rc=$rc $(tr -d '\r' < "$WORK/tty.out" | head -c 300 | tr '\n' '|')"
	fi
else
	skip "interactive exec plugin" "script(1) not installed"
fi
K=$(exec_kc ifavail ifavail IfAvailable)
measure 10 collect --no-node -f "$WORK/b.json"
[ "$rc" = 0 ] && pass "interactiveMode IfAvailable without a terminal runs non-interactively" ||
	fail "interactiveMode IfAvailable without a terminal" "rc=$rc $(err)"

# tokenFile with a second line: a header injection attempt
printf 'tok\r\nX-Evil: 1\n' > "$P/badtok"
printf 'current-context: c\nclusters: [{name: c, cluster: {server: "%s", certificate-authority: ca.crt}}]\nusers: [{name: u, user: {tokenFile: badtok}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n' "$S" > "$P/tf.yaml"
K="$P/tf.yaml"
measure 10 collect --no-node -f "$WORK/b.json"
if [ "$rc" = 5 ] && grep -q "holds a control character" "$WORK/err" && ! grep -q "X-Evil" "$WORK/err"; then
	pass "tokenFile with CR/LF inside: exit 5"
else
	fail "tokenFile with CR/LF inside: exit 5" "rc=$rc $(err)"
fi
kapi_stop
exit 0
