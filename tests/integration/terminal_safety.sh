#!/bin/sh
# Terminal escape injection: text from outside (cluster objects, bundles,
# files, servers) must reach the terminal visible-safe. A bundle made from
# the demo cluster with ESC/OSC sequences, CR, BS, BEL, newlines, a bidi
# override, a C1 control, DEL and invalid UTF-8 in every identifier and
# free-text string, the same objects served by the test API server, and
# manifests (and a file name) full of them: the text output (stdout and
# stderr, -v included) of every command holds no control byte but newline
# and tab, no C1 or bidi control and only valid UTF-8 -- and the escaped
# text (\x1b, \u202e) is visible instead. The dashboard is checked in tmux:
# its title is intact and the OSC did not retitle the pane.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"
cd "$TOP" || exit 1
have_python || { skip "terminal safety" "python3 not available"; exit 0; }
H=$WORK/h
mkdir -p "$H/man" "$H/objs"

python3 - tests/fixtures/demo/demo-bundle.json "$H" <<'EOF'
import json, os, sys
# ESC CSI, OSC title (BEL-terminated), CR, BS, BEL, newline, RLO, C1 CSI, DEL, invalid UTF-8
P = "\x1b[31mR\x1b]0;pwned\x07\rCR\bBS\x07\nNL\u202eRLO\u009bC1\x7fDEL\udcff\udcfe"
KEYS = {"name", "namespace", "nodeName", "hostname", "image", "message", "reason", "node", "chain", "table",
        "comment", "scheduler", "what", "why", "generateName", "targetPort", "portName", "ip", "backendIP", "vip"}
MAPS = {"labels", "annotations", "selector", "matchLabels", "nodeSelector"}
def f(s):   # same input, same output: references between objects hold
    return s if not s else s + P + s[:3]
def walk(o, key=None, inmap=False):
    if isinstance(o, dict):
        return {k: walk(v, k, key in MAPS) for k, v in o.items()}
    if isinstance(o, list):
        return [walk(v, key, inmap) for v in o]
    if isinstance(o, str) and (inmap or key in KEYS):
        return f(o)
    return o
src, out = sys.argv[1], sys.argv[2]
b = walk(json.load(open(src)))
b["gaps"] = [{"what": "pods in " + P, "why": "403 " + P}]
enc = lambda o: json.dumps(o, ensure_ascii=False, indent=1).encode("utf-8", "surrogateescape")
open(out + "/b.json", "wb").write(enc(b))
# the same objects for the API server (no invalid UTF-8: it speaks JSON)
clean = lambda o: json.loads(json.dumps(o).replace("\\udcff", "\\u00ff").replace("\\udcfe", "\\u00fe"))
open(out + "/objs/objects.json", "w").write(json.dumps({"kind": "List", "items": clean(b["objects"])}))
# Service names as argv bytes, one per line (escaped for the shell harness)
with open(out + "/services", "wb") as fp:
    for o in b["objects"]:
        if o["kind"] == "Service":
            fp.write(os.fsencode(o["metadata"]["namespace"] + "/" + o["metadata"]["name"]).hex().encode() + b"\n")
# manifests with control characters in names, labels, annotations, and in a file name
y = ('apiVersion: v1\nkind: Service\nmetadata:\n  name: "web\\e[31mR\\e]0;pwned\\a\\r\\b\\u202e\\x9b\\x7f"\n'
     '  namespace: "ns\\e[2J"\n  annotations: {note: "\\e[5m"}\nspec:\n  type: LoadBalancer\n'
     '  selector: {app: "a\\e[1m"}\n  ports: [{name: "grpc\\e[7m", port: 80, targetPort: "h\\e[4m", appProtocol: grpc}]\n'
     '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: "dep\\e[31m\\n", namespace: "ns\\e[2J"}\n'
     'spec:\n  selector: {matchLabels: {app: "a\\e[1m"}}\n  template:\n    metadata: {labels: {app: "a\\e[1m"}}\n'
     '    spec: {containers: [{name: "c\\e[32m\\u202e", image: "i\\e]0;t\\a"}]}\n')
open(out + "/man/ok.yaml", "w").write(y)
open(os.fsencode(out + "/man/evil\x1b[31m\u202e.yaml"), "w").write(y.replace("web", "web2"))
open(os.fsencode(out + "/man/broken\x1b]0;pwned\x07.yaml"), "w").write("a: [\n\x1b[31m")
EOF
B=$H/b.json

# check_out NAME CMD...: run, both streams must be visible-safe
: > "$H/all"
check_out() {
	n=$1; shift
	"$@" > "$H/out" 2> "$H/err"
	cat "$H/out" "$H/err" >> "$H/all"
	if python3 - "$H/out" "$H/err" <<'EOF'
import re, sys
for p in sys.argv[1:]:
    data = open(p, "rb").read()
    bad = [b for b in data if (b < 0x20 and b not in (9, 10)) or b == 0x7f]
    assert not bad, "%s: control bytes %s" % (p, sorted(set(bad)))
    t = data.decode("utf-8")      # raises on invalid UTF-8
    assert not re.search("[\u0080-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", t), "%s: C1/bidi" % p
EOF
	then pass "$n"; else fail "$n" "$(head -c 200 "$H/out" | od -c | head -3 | tr '\n' '|')"; fi
}
K="$KTRACE --color never"
while read -r hex; do
	svc=$(printf '%s' "$hex" | xxd -r -p 2>/dev/null || python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$hex")
	i=$((${i:-0} + 1))
	check_out "path, Service $i (text)" $K path "$svc" --from "$B"
	check_out "path, Service $i (wide)" $K path "$svc" --from "$B" -o wide
	check_out "path, Service $i (dot)" $K path "$svc" --from "$B" -o dot
	check_out "path, Service $i (mermaid)" $K path "$svc" --from "$B" -o mermaid
done < "$H/services"
check_out "path: did-you-mean hint" $K path svc/nope -n "$(head -1 "$H/services" | python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()).split(b"/")[0])')" --from "$B"
check_out "path: invalid SERVICE argument" $K path "$(printf 'svc/a/b/\033[31m')" --from "$B"
check_out "path: missing --from file" $K path svc/x --from "$(printf '/nonexistent/\033]0;pwned\007\r.json')"
check_out "dataplane -A" $K dataplane -A --from "$B"
check_out "dataplane -A --diff" $K dataplane -A --diff --from "$B"
check_out "dataplane -A -o wide -v" $K dataplane -A -o wide -v --from "$B"
check_out "dataplane --node (not found: hint)" $K dataplane --node nope --from "$B"
check_out "imbalance --once" $K imbalance --once --from "$B"
check_out "imbalance --once -o wide" $K imbalance --once -o wide --from "$B"
check_out "check" $K check --from "$B"
check_out "check -o wide" $K check -o wide --from "$B"
check_out "check --summary -vv" $K check --summary -vv --from "$B"
check_out "lint (names, annotations, file names, a broken file)" $K lint "$H/man"
check_out "lint -o wide" $K lint -o wide "$H/man"
check_out "rules" $K rules
check_out "rules: did-you-mean" $K rules "$(printf 'KT\033[31m')"
check_out "unknown command" $K "$(printf 'pa\033[2Jth')"
check_out "completion candidates" $K --from "$B" __complete line -- path ""
# the escaped forms are what the user sees
grep -qF '\x1b[31mR\x1b]0;pwned\x07\rCR\x08BS\x07\nNL\u202eRLO\u009bC1\x7fDEL\xff\xfe' "$H/all" \
	&& pass "the escaped text is visible (\\x1b, \\r, \\n, \\u202e, \\u009b, \\xff)" || fail "escaped text visible" "not found"
grep -qF 'evil\x1b[31m\u202e.yaml' "$H/all" && pass "file names are escaped and visible" || fail "file names escaped" "not found"
# JSON keeps the exact strings (escaped as JSON)
$K path "$(head -1 "$H/services" | python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))')" --from "$B" -o json \
	| python3 -c 'import json,sys; d=json.load(sys.stdin); assert "\x1b]0;pwned\x07\r" in d["service"]["name"], d["service"]["name"]' \
	&& pass "JSON keeps the raw string (JSON-escaped)" || fail "JSON raw strings" "see above"

# warnings are bounded in count and length
python3 - "$B" "$H/many.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1], encoding="utf-8", errors="surrogateescape"))
b["gaps"] = [{"what": "list %d" % i, "why": "x" * 5000} for i in range(300)]
open(sys.argv[2], "wb").write(json.dumps(b, ensure_ascii=False).encode("utf-8", "surrogateescape"))
EOF
# (gaps a bundle recorded are listed once under "gaps", bounded the same way)
$K check --from "$H/many.json" > "$H/warn" 2>&1
n=$(grep -c '^  list [0-9]*: x' "$H/warn"); long=$(grep '^  list [0-9]*: x' "$H/warn" | awk 'length > 500' | wc -l)
tail -1 "$H/warn" | grep -q "^  280 more gaps not shown (-v shows more)$" && [ "$n" = 20 ] && [ "$long" = 0 ] \
	&& pass "recorded gaps: at most 20 (then a count), each cut at 400 bytes" || fail "gaps bounded" "$n gap lines, $long long lines, last: $(tail -1 "$H/warn" | head -c 200)"

# live: the same objects from the test API server
if kapi_start --dir "$H/objs"; then
	kc_http "$KAPI_PORT" shop > /dev/null
	ns=$(head -1 "$H/services" | python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()).split(b"/")[0])')
	check_out "live: check" $K --kubeconfig "$WORK/kc.yaml" check --no-node
	check_out "live: path not found (hint from the server's names)" $K --kubeconfig "$WORK/kc.yaml" -n "$ns" path svc/nope --no-node
	check_out "live: completion" $K --kubeconfig "$WORK/kc.yaml" -n "$ns" __complete line -- path ""
else
	fail "live" "kapi.py did not start: $(cat "$WORK/kapi.err")"
fi

# the dashboard in tmux: the title line stays, the OSC did not retitle the pane
if command -v tmux >/dev/null 2>&1; then
	S=ktsafe$$
	tmux new-session -d -s "$S" -x 120 -y 30 "env -i PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 $KTRACE imbalance --from $B --color never --frames 0; sleep 30"
	for _ in $(seq 1 50); do tmux capture-pane -p -t "$S" > "$H/pane" 2>/dev/null; grep -q 'ktrace imbalance' "$H/pane" && break; sleep 0.1; done
	tmux send-keys -t "$S" Enter; sleep 0.5
	tmux capture-pane -p -t "$S" > "$H/pane2"
	title=$(tmux display-message -p -t "$S" '#{pane_title}')
	tmux kill-session -t "$S" 2>/dev/null
	head -1 "$H/pane" | grep -q '^ktrace imbalance  node node-a\\x1b\[31mR' && pass "dashboard: title line intact, escapes visible" || fail "dashboard title" "$(head -2 "$H/pane")"
	grep -qF '\x1b' "$H/pane2" && pass "dashboard detail: escapes visible" || fail "dashboard detail" "$(head -8 "$H/pane2")"
	[ "$title" != "pwned" ] && pass "dashboard: OSC did not retitle the terminal ($title)" || fail "dashboard OSC" "pane title is '$title'"
else
	skip "dashboard" "tmux is not installed"
fi
exit 0
