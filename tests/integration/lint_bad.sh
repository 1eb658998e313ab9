#!/bin/sh
# `ktrace lint` on bad input: malformed YAML (exit 5 with file:line:col,
# other files still checked), tabs, unknown kinds/apiVersions (ignored),
# binary garbage, a 100 MB file and deeply nested / billion-laughs
# documents generated at test time: clear errors, bounded time, no crash.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
F=tests/fixtures/manifests
W=$(mktemp -d /tmp/kt_lintbad.XXXXXX); trap 'rm -rf "$W"' EXIT

out=$("$KTRACE" lint $F/bad/invalid.yaml 2>&1); rc=$?
[ $rc = 5 ] && pass "invalid YAML exits 5" || fail "invalid YAML exits 5" "exit $rc"
case "$out" in *"ktrace: lint: $F/bad/invalid.yaml:7:8: did not find expected ',' or '}' while parsing a flow mapping"*) pass "invalid YAML: file:line:col and libyaml's reason";;
*) fail "invalid YAML message" "$out";; esac
"$KTRACE" lint -o json $F/bad $F/rules/kt201-bad.yaml 2>"$W/err" > "$W/mixed.json"; rc=$?
[ $rc = 5 ] && pass "bad + good files: exit 5" || fail "bad + good files: exit 5" "exit $rc"
python3 - "$W/mixed.json" <<'PY' && pass "bad + good files: the good file is still checked, errors listed in JSON" || fail "mixed json" "$(head -c 500 "$W/mixed.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [f["id"] for f in d["findings"]] == ["KT201"], d["findings"]
errs = sorted((e["file"].split("/")[-1], e["line"], e["col"]) for e in d["errors"])
assert errs == [("invalid.yaml", 7, 8), ("tabs.yaml", 4, 1)], errs
assert d["summary"]["failed"] is True
PY
"$KTRACE" lint -o sarif $F/bad 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin); inv = d["runs"][0]["invocations"][0]
assert inv["executionSuccessful"] is False and len(inv["toolExecutionNotifications"]) == 2
' && pass "SARIF lists parse errors as toolExecutionNotifications" || fail "SARIF parse errors" ""
"$KTRACE" lint -o junit $F/bad 2>/dev/null | python3 -c '
import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.stdin.read()); assert r.get("errors") == "2" and len(r.findall(".//error")) == 2
' && pass "JUnit lists parse errors as <error>" || fail "JUnit parse errors" ""
out=$("$KTRACE" lint $F/bad/unknown-api.yaml 2>&1); rc=$?
[ $rc = 0 ] && case "$out" in *"no findings"*"0 objects"*|*"no findings"*"2 objects"*) true;; *) false;; esac \
	&& pass "unknown kinds and apiVersions are ignored (exit 0)" || fail "unknown kinds" "exit $rc: $out"
expect_rc "missing path: exit 5" 5 "$KTRACE" lint $F/does-not-exist.yaml
: > "$W/empty.yaml"
expect_rc "empty file: no objects is exit 5" 5 "$KTRACE" lint "$W/empty.yaml"
expect_rc "empty file with --allow-empty: exit 0" 0 "$KTRACE" lint --allow-empty "$W/empty.yaml"

# the threaded loader gives exactly the sequential result (order, errors, positions)
"$KTRACE" lint -o json $F/rules $F/bad $F/realistic > "$W/seq.json" 2>/dev/null
KTRACE_LINT_THREADS=2 "$KTRACE" lint -o json $F/rules $F/bad $F/realistic > "$W/thr.json" 2>/dev/null
cmp -s "$W/seq.json" "$W/thr.json" && pass "KTRACE_LINT_THREADS=2 output equals the sequential output" || fail "threaded loader" "$(diff "$W/seq.json" "$W/thr.json" | head -5 | tr '\n' '|')"

# many files, more than the reader thread's window (256 files, 4 MiB) and
# its wake-up step, with every kind of trouble in between: the same
# findings, errors (in order) and exit status with and without the thread
python3 - "$W/many" $F/rules $F/realistic <<'PY'
import os, shutil, sys
out, srcs = sys.argv[1], sys.argv[2:]
files = sorted(os.path.join(d, f) for d in srcs for f in os.listdir(d) if f.endswith((".yaml", ".json")))
for i in range(700):
    d = os.path.join(out, "d%d" % (i // 250))
    os.makedirs(d, exist_ok=True)
    src = files[i % len(files)]
    shutil.copy(src, os.path.join(d, "f%04d-%s" % (i, os.path.basename(src))))
open(os.path.join(out, "d0", "f0100-empty.yaml"), "w").close()
open(os.path.join(out, "d1", "f0300-broken.yaml"), "w").write("kind: Service\nmetadata: {name: [\n")
os.symlink("nowhere.yaml", os.path.join(out, "d1", "f0400-dangling.yaml"))
doc = open(os.path.join(srcs[1], "web-app.yaml")).read()
big = lambda n: "\n---\n".join(doc.replace("name: web", "name: web%d" % k) for k in range(n))
open(os.path.join(out, "d0", "f0200-big.yaml"), "w").write(big(40))     # mapped, not read
open(os.path.join(out, "d2", "f0600-huge.yaml"), "w").write(big(2500))  # beyond the byte window
PY
"$KTRACE" lint -o json "$W/many" > "$W/many1.json" 2>"$W/many1.err"; rc1=$?
KTRACE_LINT_THREADS=2 "$KTRACE" lint -o json "$W/many" > "$W/many2.json" 2>"$W/many2.err"; rc2=$?
[ $rc1 = 5 ] && [ $rc2 = 5 ] && cmp -s "$W/many1.json" "$W/many2.json" && cmp -s "$W/many1.err" "$W/many2.err" \
	&& pass "705 paths with empty, broken, dangling and big files: threaded output equals sequential" \
	|| fail "threaded loader, many files" "exit $rc1/$rc2: $(diff "$W/many1.err" "$W/many2.err" | head -3 | tr '\n' '|') $(diff "$W/many1.json" "$W/many2.json" | head -5 | tr '\n' '|')"
python3 - "$W/many2.json" "$W/many2.err" <<'PY' && pass "many files: every file counted, errors in walk order" || fail "many files: counts" "$(head -c 400 "$W/many2.err")"
import json, sys
d = json.load(open(sys.argv[1])); err = open(sys.argv[2]).read()
assert d["summary"]["files"] == 704, d["summary"]   # the dangling symlink is an error, not a file
errs = [e["file"].rsplit("/", 1)[-1] for e in d["errors"]]
assert errs == ["f0300-broken.yaml", "f0400-dangling.yaml"], errs
assert err.index("f0300-broken.yaml") < err.index("f0400-dangling.yaml"), err
PY

# symlink loops: every directory is walked once
mkdir -p "$W/loop/a" && cp $F/rules/kt201-bad.yaml "$W/loop/a/" && ln -s .. "$W/loop/a/up1" && ln -s .. "$W/loop/a/up2" && ln -s ../a "$W/loop/a/self"
out=$(timeout 20 "$KTRACE" lint "$W/loop" 2>&1 | tail -1); rc=$?
[ "$out" = "0 errors, 1 warning, 0 info in 2 objects from 1 file" ] && pass "symlink loops: each directory once" || fail "symlink loops" "$out"

# binary garbage (deterministic pseudo-random bytes)
python3 -c 'import random,sys; r=random.Random(5); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(1<<20)))' > "$W/garbage.yaml"
"$KTRACE" lint "$W/garbage.yaml" >/dev/null 2>"$W/err"; rc=$?
[ $rc = 5 ] && grep -q "garbage.yaml:[0-9]*:[0-9]*: " "$W/err" && pass "binary garbage: exit 5 with a position" || fail "binary garbage" "exit $rc: $(head -c 300 "$W/err")"
head -c 100000 /dev/zero > "$W/zeros.json"
expect_rc "NUL bytes: exit 5" 5 "$KTRACE" lint "$W/zeros.json"

# deep nesting: flow and block, far beyond the cap
python3 -c 'print("a: " + "[" * 500000 + "]" * 500000)' > "$W/deep.yaml"
"$KTRACE" lint "$W/deep.yaml" >/dev/null 2>"$W/err"; rc=$?
[ $rc = 5 ] && grep -q "nesting deeper than 128 levels" "$W/err" && pass "500000 nested sequences: exit 5, no stack overflow" || fail "deep nesting" "exit $rc: $(head -c 300 "$W/err")"
python3 -c '
for i in range(3000): print(" " * i + "k:")' > "$W/deepblock.yaml"
"$KTRACE" lint "$W/deepblock.yaml" >/dev/null 2>&1; rc=$?
[ $rc = 5 ] && pass "3000 nested block mappings: exit 5" || fail "deep block nesting" "exit $rc"

# billion laughs
python3 - "$W/lol.yaml" <<'PY'
import sys
lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: lol}", "data:", '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for i in range(1, 10):
    lines.append("  a%d: &a%d [%s]" % (i, i, ",".join(["*a%d" % (i - 1)] * 9)))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
start=$(date +%s)
"$KTRACE" lint "$W/lol.yaml" >/dev/null 2>"$W/err"; rc=$?
[ $rc = 5 ] && grep -q "alias expansion limit" "$W/err" && [ $(( $(date +%s) - start )) -lt 10 ] \
	&& pass "billion laughs: exit 5 quickly" || fail "billion laughs" "exit $rc: $(head -c 300 "$W/err")"

# 100 MB of manifests: streamed per document, bounded memory and time
python3 - "$W/big.yaml" <<'PY'
import sys
doc = open("tests/fixtures/manifests/rules/kt201-bad.yaml").read()
out = open(sys.argv[1], "w"); size = 0; i = 0
while size < 100 * 1024 * 1024:
    d = doc.replace("kt201", "app-%d" % i); out.write(d + "---\n"); size += len(d) + 4; i += 1
PY
start=$(date +%s)
if [ -x /usr/bin/time ]; then TIMER="/usr/bin/time -f %M -o $W/mem"; else TIMER=""; fi
$TIMER "$KTRACE" lint --fail-on never -o json "$W/big.yaml" 2>"$W/err" > "$W/big.json"; rc=$?
secs=$(( $(date +%s) - start ))
out=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["summary"]["objects"], d["summary"]["warning"])' "$W/big.json" 2>&1)
case "$out" in [0-9][0-9][0-9][0-9][0-9][0-9]" "[0-9]*) pass "100 MB file: every object checked (objects, warnings: $out) in ${secs}s";;
*) fail "100 MB file" "rc $rc: $out $(head -c 200 "$W/err")";; esac
if [ -s "$W/mem" ]; then
	kb=$(tail -1 "$W/mem")
	[ "$kb" -lt 1500000 ] && pass "100 MB file: peak memory ${kb} KB (under 1.5 GB)" || fail "100 MB memory" "${kb} KB"
else
	skip "100 MB file: peak memory" "/usr/bin/time not installed"
fi
# a 100 MB single scalar document is just a string
python3 -c 'import sys; sys.stdout.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: huge}\ndata:\n  blob: " + "x" * (100*1024*1024) + "\n")' > "$W/big.yaml"
expect_rc "100 MB single scalar: exit 0" 0 "$KTRACE" lint "$W/big.yaml"
exit 0
