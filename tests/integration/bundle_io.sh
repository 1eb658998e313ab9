#!/bin/sh
# Bundle files, both directions, with wall-time and peak-RSS limits.
# Writing (`collect -f`): the target is replaced only when the bundle is
# complete; on failure (API unreachable, disk full) it is left as it was and
# no temporary file remains; symbolic links, devices, FIFOs and directories
# are refused (exit 2), "-" is stdout; strace shows the named path is never
# opened for writing or removed.
# Reading (`--from`): a gzip bomb is refused early; elements too large, too
# deep or with too many values are refused with file:line; a valid bundle
# over 2 GiB reads in bounded memory; namespace-less objects take the
# context's namespace (the old `path svc/NAME --from LIST` crash); ports out
# of range are ignored.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
FIX="$TOP/tests/fixtures/clusters/api-basic"
if [ ! -x "$KTRACE" ]; then fail binary "no ktrace binary at $KTRACE (build first)"; exit 0; fi
if ! have_python; then skip all "python3 not available"; exit 0; fi
if [ -n "$KT_ASAN" ]; then TSCALE=4 RSS_MB=700; else TSCALE=1 RSS_MB=150; fi

# measure LIMIT_S ARGS...: rc, ms, mb (peak RSS MiB); stdout/stderr in $WORK/out, $WORK/err
measure() {
	lim=$(( $1 * TSCALE )); shift
	python3 - "$lim" "$WORK" "$KTRACE" "$@" > "$WORK/meas" <<'EOF'
import resource, subprocess, sys, time
lim, work = int(sys.argv[1]), sys.argv[2]
t = time.time()
try:
    p = subprocess.run(sys.argv[3:], stdout=open(work + "/out", "wb"), stderr=open(work + "/err", "wb"),
                       stdin=subprocess.DEVNULL, timeout=lim * 3 + 10)
    rc = p.returncode
except subprocess.TimeoutExpired:
    rc = 124
print(rc, int((time.time() - t) * 1000), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
EOF
	read -r rc ms mb < "$WORK/meas"
	within=1
	[ "$ms" -le $(( lim * 1000 )) ] && [ "$mb" -le "$RSS_MB" ] || within=0
}
err() { head -c 400 "$WORK/err" | tr '\n' '|'; }
no_temp() { [ -z "$(find "$1" -maxdepth 1 -name '.*.??????' 2>/dev/null)" ]; }

kapi_start --dir "$FIX" || { fail start "kapi.py did not start"; exit 0; }
K=$(kc_http "$KAPI_PORT")
D="$WORK/tgt"; mkdir -p "$D/dir"
# --- a successful collect replaces a regular file, mode 0600 ---
echo old > "$D/b.json"; chmod 644 "$D/b.json"
if "$KTRACE" --kubeconfig "$K" collect --no-node -f "$D/b.json" 2>/dev/null && [ "$(bundle_count "$D/b.json" Service)" = 4 ] &&
	[ "$(stat -c %a "$D/b.json")" = 600 ] && no_temp "$D"; then
	pass "collect replaces an existing file with a complete bundle, mode 0600"
else
	fail "collect replaces an existing file" "mode $(stat -c %a "$D/b.json") $(head -c 100 "$D/b.json")"
fi
# --- non-regular targets are refused and left alone ---
echo keep > "$D/real"; ln -s "$D/real" "$D/link"; mkfifo "$D/fifo"
for t in "$D/link:a symbolic link" "$D/fifo:a FIFO" "$D/dir:a directory" "/dev/null:a character device"; do
	path=${t%%:*} what=${t#*:}
	"$KTRACE" --kubeconfig "$K" collect --no-node -f "$path" >/dev/null 2>"$WORK/err"; rc=$?
	if [ $rc = 2 ] && grep -q "refusing to write bundle '$path': it is $what" "$WORK/err"; then pass "collect -f $what: refused (exit 2)"
	else fail "collect -f $what: refused (exit 2)" "rc=$rc $(err)"; fi
done
[ -L "$D/link" ] && [ "$(cat "$D/real")" = keep ] && [ -p "$D/fifo" ] && [ -c /dev/null ] && no_temp "$D" &&
	pass "refused targets untouched (symlink, its file, FIFO, /dev/null), nothing created" ||
	fail "refused targets untouched" "$(ls -la "$D" | tr '\n' '|')"
"$KTRACE" --kubeconfig "$K" collect --no-node -f - 2>/dev/null > "$WORK/stdout.json"
[ "$(bundle_count "$WORK/stdout.json" Service)" = 4 ] && pass "collect -f - writes to stdout" || fail "collect -f - writes to stdout" "no bundle"
kapi_stop
# --- API unreachable after the target was named: it is left as it was ---
echo "previous bundle" > "$D/keep.json"
K=$(kc_http "$KAPI_PORT")
"$KTRACE" --kubeconfig "$K" --request-timeout 3 collect --no-node -f "$D/keep.json" >/dev/null 2>"$WORK/err"; rc=$?
if [ $rc = 4 ] && [ "$(cat "$D/keep.json")" = "previous bundle" ] && no_temp "$D"; then
	pass "API unreachable: exit 4, the named file is untouched, no temporary file left"
else
	fail "API unreachable: the named file is untouched" "rc=$rc content=$(head -c 40 "$D/keep.json") $(ls -a "$D" | tr '\n' ' ')"
fi
# --- strace: the named path is never opened for writing, truncated or removed ---
if command -v strace >/dev/null 2>&1 && kapi_start --dir "$FIX"; then
	K=$(kc_http "$KAPI_PORT")
	echo old > "$D/s.json"
	strace -f -qq -e trace=open,openat,creat,truncate,unlink,unlinkat,rename,renameat,renameat2 -o "$WORK/strace" \
		"$KTRACE" --kubeconfig "$K" collect --no-node -f "$D/s.json" >/dev/null 2>&1
	if ! grep -E "\"$D/s.json\"" "$WORK/strace" | grep -vE "rename" | grep -qE "O_WRONLY|O_RDWR|O_TRUNC|O_CREAT|unlink|truncate|creat\(" &&
		grep -qE "rename\(\"$D/\.s\.json\.[A-Za-z0-9]{6}\", \"$D/s.json\"\) = 0" "$WORK/strace" &&
		grep -qE "openat\(.*\"$D/\.s\.json\.[A-Za-z0-9]{6}\", O_RDWR\|O_CREAT\|O_EXCL\|O_CLOEXEC, 0600\)" "$WORK/strace"; then
		pass "strace: temporary file O_EXCL|O_CLOEXEC 0600, renamed over the target; the target never opened for writing"
	else
		fail "strace: the target is only replaced by rename" "$(grep "$D" "$WORK/strace" | head -5 | tr '\n' '|')"
	fi
	kapi_stop
else
	skip "strace of collect" "strace not installed"
fi
# --- disk full: the named file is untouched ---
if need_root && command -v unshare >/dev/null 2>&1 && kapi_start --dir "$FIX" --generate 400; then
	K=$(kc_http "$KAPI_PORT")
	mkdir -p "$WORK/small"
	unshare -m sh -c "mount -t tmpfs -o size=256k kt-bundle-test '$WORK/small' && echo 'previous bundle' > '$WORK/small/b.json' &&
		'$KTRACE' --kubeconfig '$K' collect --no-node -f '$WORK/small/b.json' >/dev/null 2>'$WORK/err'; echo \$? > '$WORK/rc';
		cat '$WORK/small/b.json' > '$WORK/after'; ls -a '$WORK/small' > '$WORK/ls'"
	rc=$(cat "$WORK/rc" 2>/dev/null)
	if [ "$rc" = 5 ] && [ "$(cat "$WORK/after")" = "previous bundle" ] && [ "$(wc -l < "$WORK/ls")" = 3 ] &&
		grep -q "No space left on device" "$WORK/err"; then
		pass "disk full: exit 5, the named file is untouched, the temporary file removed"
	else
		fail "disk full: the named file is untouched" "rc=$rc after=$(head -c 40 "$WORK/after") $(cat "$WORK/ls" | tr '\n' ' ') $(err)"
	fi
	kapi_stop
else
	skip "disk full" "needs root and unshare (a private tmpfs)"
fi

# --- reading: crafted bundles ---
B="$WORK/r"; mkdir -p "$B"
python3 - "$B" <<'EOF'
import gzip, json, os, sys, zlib
d = sys.argv[1]
head = b'{"kind":"KtraceBundle","version":1,"objects":['
def gz(name, chunks):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(os.path.join(d, name), "wb") as f:
        for ch in chunks:
            f.write(c.compress(ch))
        f.write(c.flush())
# 1 GiB of whitespace inside a valid bundle: about 1 MB of gzip
gz("bomb.json.gz", [head] + [b" " * (1 << 20)] * 1024 + [b"]}"])
# the issue's case: 64 MB of [0,0,...] as bundle objects, about 65 KB of gzip
gz("zeros.json.gz", [head] + [b"0," * (1 << 19)] * 64 + [b"0]}"])
svc = '{"kind":"Service","apiVersion":"v1","metadata":{"name":"s%d","namespace":"n"%s},"spec":{"ports":[{"port":80}]}}'
open(os.path.join(d, "big-elem.json"), "w").write('{"kind":"List","items":[\n' + svc % (1, ',"annotations":{"a":"' + "x" * (17 << 20) + '"}') + "]}")
open(os.path.join(d, "deep.json"), "w").write('{"kind":"List","items":[\n{"kind":"Service","spec":' + "[" * 200 + "]" * 200 + "}]}")
open(os.path.join(d, "wide.json"), "w").write('{"kind":"List","items":[\n{"kind":"Service","spec":[' + ",".join(["0"] * 1100000) + "]}]}")
items = [{"kind": "Service", "apiVersion": "v1", "metadata": {"name": "a"}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 70000, "targetPort": 99999999999, "nodePort": -5}]}},
         {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "a-1", "labels": {"app": "a"}}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"containerPort": 2147483648}]}]}, "status": {"podIP": "10.0.0.9", "conditions": [{"type": "Ready", "status": "True"}]}},
         {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "metadata": {"name": "a-x", "labels": {"kubernetes.io/service-name": "a"}}, "addressType": "IPv4", "ports": [{"port": -2147483648}, {"port": 2147483647}], "endpoints": [{"addresses": ["10.0.0.9"], "targetRef": {"kind": "Pod", "name": "a-1"}}]}]
json.dump({"kind": "List", "apiVersion": "v1", "items": items}, open(os.path.join(d, "nons.json"), "w"))
EOF
measure 20 check --from "$B/bomb.json.gz"
[ "$rc" = 5 ] && grep -q "expands more than 256 times" "$WORK/err" && [ $within = 1 ] &&
	pass "gzip bomb bundle (1 GiB from ~1 MB): refused in ${ms}ms, ${mb} MiB" || fail "gzip bomb bundle refused" "rc=$rc ${ms}ms ${mb}MiB $(err)"
measure 20 check --from "$B/zeros.json.gz"
[ "$rc" = 5 ] && [ $within = 1 ] && pass "65 KB gzip of [0,0,...] objects: refused in ${ms}ms, ${mb} MiB" ||
	fail "65 KB gzip of [0,0,...] objects refused" "rc=$rc ${ms}ms ${mb}MiB $(err)"
measure 20 check --from "$B/big-elem.json"
[ "$rc" = 5 ] && grep -q "big-elem.json:2:[0-9]*: invalid bundle: one element is larger than 16 MiB" "$WORK/err" && [ $within = 1 ] &&
	pass "an element over 16 MiB: file:line, ${mb} MiB" || fail "an element over 16 MiB refused" "rc=$rc ${mb}MiB $(err)"
measure 20 check --from "$B/deep.json"
[ "$rc" = 5 ] && grep -q "deep.json:2:[0-9]*: invalid bundle: nested deeper than 64 levels" "$WORK/err" &&
	pass "an element nested 200 deep: file:line" || fail "an element nested 200 deep refused" "rc=$rc $(err)"
measure 20 check --from "$B/wide.json"
[ "$rc" = 5 ] && grep -q "wide.json:2:[0-9]*: invalid bundle: more than 1048576 JSON values" "$WORK/err" && [ $within = 1 ] &&
	pass "an element with 1.1 million values: file:line, ${mb} MiB" || fail "an element with 1.1 million values refused" "rc=$rc ${mb}MiB $(err)"

# --- objects without a namespace: -n, else the context's namespace, else
# "default", as kubectl apply -f would place them (crash regression) ---
K="$WORK/kcns.yaml"
printf 'current-context: c\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\ncontexts: [{name: c, context: {cluster: c, namespace: team}}]\n' > "$K"
for c in "path svc/zzz:3" "path svc/a -n other:0" "imbalance svc/zz --once:3" "path svc/a:0"; do
	args=${c%:*} want=${c##*:}
	# shellcheck disable=SC2086
	"$KTRACE" $args --from "$B/nons.json" >/dev/null 2>"$WORK/err"; rc=$?
	[ $rc = "$want" ] && pass "no kubeconfig: '$args --from LIST' exits $want" || fail "no kubeconfig: '$args --from LIST' exits $want" "rc=$rc $(err)"
done
"$KTRACE" path svc/a -o json --from "$B/nons.json" > "$WORK/p.json" 2>/dev/null
python3 - "$WORK/p.json" <<'EOF' && pass "namespace-less objects take 'default'; ports out of range read as 0" || fail "namespace-less objects and out-of-range ports" "$(head -c 300 "$WORK/p.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["service"]["namespace"] == "default", d["service"]
p = d["ports"][0]
assert p["port"] == 0 and p["nodePort"] in (0, None) and p["targetPort"] == 0, p
assert all(e["port"] in (0, 2147483647) or 0 <= e["port"] <= 65535 for e in d["endpoints"]), d["endpoints"]
EOF
"$KTRACE" --kubeconfig "$K" path svc/a --from "$B/nons.json" > "$WORK/out" 2>"$WORK/err"; rc=$?
[ $rc = 0 ] && grep -q "Service team/a" "$WORK/out" && pass "with a kubeconfig: namespace-less objects take the context's namespace" ||
	fail "with a kubeconfig: the context's namespace" "rc=$rc $(head -2 "$WORK/out" | tr '\n' '|') $(err)"
cat "$TOP/tests/fixtures/demo/demo-bundle.json" | "$KTRACE" path svc/orders -n shop --from - > /dev/null 2>&1 &&
	pass "a bundle streams from stdin" || fail "a bundle streams from stdin" "failed"

# --- a valid bundle over 2 GiB (plain JSON) reads in bounded memory ---
free_kb=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt 6000000 ]; then
	skip "bundle over 2 GiB" "less than 6 GB free in $WORK"
else
	python3 - "$WORK/huge.json" <<'EOF'
import sys
svc = '{"kind":"Service","apiVersion":"v1","metadata":{"name":"%s","namespace":"big"},"spec":{"selector":{"app":"x"},"ports":[{"port":80}]}}'
with open(sys.argv[1], "w") as f:
    f.write('{"kind":"KtraceBundle","version":1,"objects":[\n' + svc % "first")
    pad = "\n" + " " * ((8 << 20) - 1)
    for _ in range(280):   # 2.2 GiB of whitespace between two objects
        f.write(pad)
    f.write(",\n" + svc % "last" + '\n],"nodes":[],"flows":[],"gaps":[]}\n')
EOF
	size=$(stat -c %s "$WORK/huge.json")
	measure 120 path svc/last -n big --from "$WORK/huge.json"
	if [ "$rc" = 0 ] && [ "$size" -gt 2200000000 ] && grep -q "Service big/last" "$WORK/out" && [ $within = 1 ]; then
		pass "a $((size >> 20)) MiB bundle reads in ${ms}ms, ${mb} MiB"
	else
		fail "a bundle over 2 GiB reads" "rc=$rc size=$size ${ms}ms ${mb}MiB $(err)"
	fi
	rm -f "$WORK/huge.json"
fi
exit 0
