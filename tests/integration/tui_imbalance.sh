#!/bin/sh
# `ktrace imbalance` from a bundle (no root needed): --once text and JSON,
# then the ncurses dashboard driven through tmux send-keys / capture-pane:
# rows, navigation, sort, filter, the per-Service view, the help overlay,
# resize, quit with q, SIGINT and SIGTERM -- and the shell prompt must be
# back after each (terminal restored). Bounded; kills only its own session.
SUITE=tui-imbalance
. "$(dirname "$0")/../lib.sh"

[ -x "$KTRACE" ] || { fail "binary" "no ktrace at $KTRACE"; exit 1; }
WORK=$(mktemp -d /tmp/kt-tui.XXXXXX)
SESS=kttui$$
cleanup() {
	tmux kill-session -t "$SESS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- a bundle: lab/web skewed 7/2/1/0 with a new web-4, shop/orders even --
python3 - "$WORK/b.json" <<'EOF'
import json, sys, time
now = time.time()
def ts(t): return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
objs, flows = [], []
def svc(ns, name, ip, pods, conns, new_ix=None):
    objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                 "spec": {"clusterIP": ip, "clusterIPs": [ip], "selector": {"app": name},
                          "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})
    eps = []
    for i, p in enumerate(pods):
        pip = "10.%d.%d.2" % (len(objs), i + 1)
        ready = now - 30 if i == new_ix else now - 7200
        objs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": p, "namespace": ns, "labels": {"app": name}},
                     "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "i"}]},
                     "status": {"phase": "Running", "podIP": pip,
                                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ts(ready)}]}})
        eps.append({"addresses": [pip], "conditions": {"ready": True}, "nodeName": "node-a",
                    "targetRef": {"kind": "Pod", "namespace": ns, "name": p}})
        if conns[i]:
            flows.append({"vip": ip, "vport": 80, "protocol": "TCP", "backendIP": pip, "backendPort": 8080,
                          "established": conns[i], "total": conns[i] + 3, "bytesOrig": 1000 * conns[i],
                          "bytesReply": 9000 * conns[i], "older1m": conns[i], "older10m": 0})
    objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": name + "-x", "namespace": ns, "labels": {"kubernetes.io/service-name": name}},
                 "addressType": "IPv4", "endpoints": eps, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
svc("lab", "web", "10.96.0.10", ["web-1", "web-2", "web-3", "web-4"], [7, 2, 1, 0], new_ix=3)
svc("shop", "orders", "10.96.0.20", ["orders-a", "orders-b"], [5, 5])
# long names: abbreviated at 80 columns, whole at 200
svc("payments-production-eu-west-1", "checkout-api-grpc-gateway-internal", "10.96.0.40",
    ["checkout-api-grpc-gateway-internal-7d9f8c6b5-2xkqp", "checkout-api-grpc-gateway-internal-7d9f8c6b5-9tmzw"], [3, 3])
svc("kube-system", "dns", "10.96.0.30", ["dns-1", "dns-2"], [1, 0])
b = {"kind": "KtraceBundle", "version": 1, "created": ts(now), "source": {"generator": "test"},
     "objects": objs, "nodes": [],
     "flows": [{"node": "node-a", "source": "conntrack", "takenMs": int(now * 1000), "acct": True,
                "timestamps": True, "entriesSeen": 40, "flows": flows}], "gaps": []}
json.dump(b, open(sys.argv[1], "w"), indent=1)
EOF
B="$WORK/b.json"

# ---- --once from the bundle --------------------------------------------
out=$("$KTRACE" imbalance --from "$B" --once 2>&1); rc=$?
if [ $rc = 0 ] && printf '%s\n' "$out" | grep -q 'lab/web' && printf '%s\n' "$out" | grep -q 'web-4 .*starved' \
	&& printf '%s\n' "$out" | grep -q 'KT403'; then pass "once text from bundle"; else fail "once text from bundle" "rc $rc: $(printf '%s' "$out" | head -c 500 | tr '\n' '|')"; fi
"$KTRACE" imbalance --from "$B" -o json > "$WORK/o.json" 2>/dev/null
if python3 - "$WORK/o.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("sampleSeconds", "services", "findings"): assert k in j, k
s = j["services"][0]
assert (s["namespace"], s["name"]) == ("lab", "web"), s["name"]   # most imbalanced first
for k in ("namespace", "name", "connections", "imbalance", "backends"): assert k in s, k
for k in ("maxOverMean", "cv", "gini"): assert k in s["imbalance"], k
b = s["backends"][0]
for k in ("ip", "port", "pod", "node", "connections", "newPerSecond", "bytes", "share", "fairShare", "flags"): assert k in b, k
assert b["pod"] == "web-1" and b["flags"] == ["hot"], b
assert abs(s["imbalance"]["maxOverMean"] - 2.8) < 1e-6
ids = sorted(f["id"] for f in j["findings"])
assert ids == ["KT402", "KT403"], ids
EOF
then pass "once json keys (SPEC)"; else fail "once json keys (SPEC)" "$(head -c 300 "$WORK/o.json")"; fi
expect_rc "unknown service exits 3" 3 "$KTRACE" imbalance --from "$B" --once svc/nope -n lab
expect_rc "bad threshold exits 2" 2 "$KTRACE" imbalance --from "$B" --once --hot-factor 0.5
"$KTRACE" imbalance --from "$B" --once svc/orders -n shop > "$WORK/one.txt" 2>&1
if grep -q 'shop/orders' "$WORK/one.txt" && ! grep -q 'lab/web' "$WORK/one.txt"; then pass "SERVICE filter"; else fail "SERVICE filter" "$(head -c 300 "$WORK/one.txt")"; fi
# no TTY behaves as --once
"$KTRACE" imbalance --from "$B" < /dev/null > "$WORK/notty.txt" 2>&1
grep -q 'lab/web' "$WORK/notty.txt" && pass "no TTY behaves as --once" || fail "no TTY behaves as --once" "$(head -c 300 "$WORK/notty.txt")"

# ---- the dashboard in tmux ------------------------------------------------
# Layout contract (ktrace-imbalance(1), THE DASHBOARD): designed for 80x24,
# columns added in a fixed order while they fit, cells cut with an
# ellipsis, nothing overlaps; below 60x10 the screen says so.
if ! command -v tmux >/dev/null 2>&1; then skip "tui" "tmux is not installed"; exit 0; fi
cap() { tmux capture-pane -p -t "$SESS" 2>/dev/null | sed 's/ *$//' > "$WORK/cap"; }
# wait_for TEXT: poll the pane (bounded, 5 s) until TEXT is shown
wait_for() {
	for _ in $(seq 1 50); do
		cap
		if grep -qF -- "$1" "$WORK/cap"; then return 0; fi
		sleep 0.1
	done
	return 1
}
keys() { tmux send-keys -t "$SESS" "$@"; }
prompt_back() { # the shell prompt is the last non-empty line again
	for _ in $(seq 1 50); do
		cap
		last=$(grep -v '^[[:space:]]*$' "$WORK/cap" | tail -n 1)
		case "$last" in KTPROMPT*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
# line_is NAME N TEXT: line N of the capture is exactly TEXT
line_is() {
	got=$(sed -n "$2p" "$WORK/cap")
	if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "line $2 is '$got', want '$3'"; fi
}
# fits NAME COLS: no captured line is wider than COLS display columns
fits() {
	if python3 - "$WORK/cap" "$2" <<'PY'
import sys, unicodedata
w = int(sys.argv[2])
for line in open(sys.argv[1], encoding="utf-8"):
    n = sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line.rstrip("\n"))
    if n > w:
        sys.exit(1)
PY
	then pass "$1"; else fail "$1" "a line is wider than $2 columns"; fi
}
resize() { tmux resize-window -t "$SESS" -x "$1" -y "$2" 2>/dev/null; sleep 0.3; }
tmux new-session -d -s "$SESS" -x 80 -y 24 "env -i PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 PS1='KTPROMPT\$ ' sh" || { fail "tmux" "cannot start a session"; exit 1; }
prompt_back || { fail "tmux" "no shell prompt"; exit 1; }
keys "$KTRACE imbalance --from $B --color never" Enter
if wait_for "ktrace imbalance  node node-a" && wait_for "lab/web"; then pass "dashboard starts at 80x24"; else fail "dashboard starts at 80x24" "$(head -c 600 "$WORK/cap" | tr '\n' '|')"; fi

# ---- 80x24: the layout, cell by cell ----------------------------------
line_is "80x24 title (changed/flows dropped before node)" 1 "ktrace imbalance  node node-a  dataplane unknown  flows conntrack  bundle"
line_is "80x24 diagnosis cut with an ellipsis" 3 "KT403 new-endpoint-starved lab/web: 10.4.4.2:8080 (web-4) ready 30s ago has 0% …"
line_is "80x24 list columns (FE, EPS, BYTES/S, GINI dropped)" 5 "  SERVICE                      CONNS   NEW/S MAX/MEAN VERDICT"
line_is "80x24 first row: marker, name, verdict in its own column" 6 "> lab/web                         10       0     2.80 KT403 new-endpoint-starved"
line_is "80x24 long Service name: both parts cut" 8 "  payments…/checkout…internal      6       0     1.00"
fits "80x24 nothing wider than the terminal" 80
grep -q 'services  sort:imbalance  ? help  q quit$' "$WORK/cap" && pass "80x24 footer keeps ? help and q quit" || fail "80x24 footer keeps ? help and q quit" "$(tail -n 1 "$WORK/cap")"

# ---- keys (at 80x24) ------------------------------------------------------
grep -q '^> lab/web' "$WORK/cap" && pass "list sorted by imbalance, first row selected" || fail "list sorted by imbalance, first row selected" "$(grep -n 'web\|orders\|dns' "$WORK/cap" | tr '\n' '|')"
grep -q 'fix: bound connection lifetime' "$WORK/cap" && pass "header mitigation" || fail "header mitigation" "no fix line"
keys j
wait_for "> kube-system/dns" || wait_for "> shop/orders"
if grep -q '^> ' "$WORK/cap" && ! grep -q '^> lab/web' "$WORK/cap"; then pass "j moves down"; else fail "j moves down" "$(grep '^>' "$WORK/cap")"; fi
keys k
wait_for "> lab/web" && pass "k moves up" || fail "k moves up" "$(grep '^>' "$WORK/cap")"
keys s
wait_for "sort:connections" && pass "s cycles the sort" || fail "s cycles the sort" "$(tail -n 1 "$WORK/cap")"
keys s s s
wait_for "sort:imbalance" && pass "sort wraps around" || fail "sort wraps around" "$(tail -n 1 "$WORK/cap")"
keys / o r d
wait_for "filter: ord" && pass "/ opens the filter prompt" || fail "/ opens the filter prompt" "$(tail -n 1 "$WORK/cap")"
keys Enter
wait_for "filter:ord"
if grep -q '^> shop/orders' "$WORK/cap" && ! grep -q 'lab/web  ' "$WORK/cap" && ! grep -q '^  lab/web\|^> lab/web' "$WORK/cap"; then pass "filter keeps matching rows"; else fail "filter keeps matching rows" "$(grep -n 'web\|orders' "$WORK/cap" | tr '\n' '|')"; fi
keys Escape
wait_for "> lab/web" && pass "Esc clears the filter" || fail "Esc clears the filter" "$(grep '^>' "$WORK/cap")"
keys Enter
if wait_for "ENDPOINT" && wait_for "web-1"; then pass "Enter opens the Service"; else fail "Enter opens the Service" "$(head -c 600 "$WORK/cap" | tr '\n' '|')"; fi
line_is "80x24 detail columns (bar kept, AGE and later dropped)" 6 "  ENDPOINT              POD          CONNS SHARE (| fair)   SHARE/FAIR FLAGS"
line_is "80x24 hot row: share, fair share, HOT" 7 "> 10.1.1.2:8080         web-1            7 ████┃██████·····   70%/ 25% HOT"
line_is "80x24 starved row: STARVED" 10 "  10.4.4.2:8080         web-4            0 ····│···········    0%/ 25% STARVED"
fits "80x24 detail nothing wider than the terminal" 80
keys '?'
wait_for "ktrace imbalance - keys" && pass "? shows help" || fail "? shows help" "$(head -c 300 "$WORK/cap" | tr '\n' '|')"
keys x
for _ in $(seq 1 30); do cap; grep -q 'ktrace imbalance - keys' "$WORK/cap" || break; sleep 0.1; done
grep -q 'ktrace imbalance - keys' "$WORK/cap" && fail "help closes" "still shown" || pass "help closes"

# ---- 100x30 and 200x50: more columns, same rows ---------------------------
resize 100 30
wait_for "AGE ST" && pass "resize to 100x30 redraws" || fail "resize to 100x30 redraws" "$(sed -n 6p "$WORK/cap")"
line_is "100x30 detail columns (AGE, ST, NEW/S added)" 6 "  ENDPOINT              POD           AGE ST  CONNS  NEW/S SHARE (| fair)   SHARE/FAIR FLAGS"
line_is "100x30 hot row" 7 "> 10.1.1.2:8080         web-1          2h R       7      0 ████┃██████·····   70%/ 25% HOT"
line_is "100x30 starved row (ready 30s ago)" 10 "  10.4.4.2:8080         web-4         30s R       0      0 ····│···········    0%/ 25% STARVED"
fits "100x30 nothing wider than the terminal" 100
keys Escape
wait_for "> lab/web" && pass "Esc goes back to the list" || fail "Esc goes back to the list" "$(head -c 300 "$WORK/cap" | tr '\n' '|')"
line_is "100x30 list columns (GINI, BYTES/S added)" 5 "  SERVICE                          CONNS   NEW/S   BYTES/S MAX/MEAN  GINI VERDICT"
line_is "100x30 long Service name" 8 "  payments-…/checkout-…y-internal      6       0         -     1.00  0.00"
line_is "100x30 first row" 6 "> lab/web                             10       0         -     2.80  0.55 KT403 new-endpoint-starved"
resize 200 50
wait_for " FE  EPS" && pass "resize to 200x50 redraws" || fail "resize to 200x50 redraws" "$(sed -n 5p "$WORK/cap")"
line_is "200x50 list columns (all)" 5 "  SERVICE                                                            FE  EPS  CONNS   NEW/S   BYTES/S MAX/MEAN  GINI VERDICT"
line_is "200x50 long Service name whole" 8 "  payments-production-eu-west-1/checkout-api-grpc-gateway-internal    1    2      6       0         -     1.00  0.00"
keys Enter
wait_for "HISTORY" && pass "200x50 detail" || fail "200x50 detail" "$(sed -n 6p "$WORK/cap")"
line_is "200x50 detail columns (all)" 6 "  ENDPOINT              POD         NODE               AGE ST  CONNS  NEW/S    IN/S   OUT/S SHARE (| fair)           SHARE/FAIR BYTES% HISTORY          FLAGS"
grep -q '^> 10.1.1.2:8080         web-1       node-a              2h R       7      0       -       - ██████┃██████████·······   70%/ 25%    70% . *HOT$' "$WORK/cap" \
	&& pass "200x50 hot row with history and HOT" || fail "200x50 hot row with history and HOT" "$(sed -n 7p "$WORK/cap")"
keys Escape
wait_for "> lab/web" >/dev/null
keys j j Enter
wait_for "checkout-api-grpc-gateway-internal-7d9f8c6b5-2xkqp" && pass "200x50 long Pod name whole" || fail "200x50 long Pod name whole" "$(sed -n 7p "$WORK/cap")"
resize 80 24
wait_for "checko…-2xkqp" && line_is "80x24 long Pod name cut in the middle" 7 "> 10.11.1.2:8080        checko…-2xkqp      3 ████████│·······   50%/ 50%" || fail "80x24 long Pod name cut in the middle" "$(sed -n 7p "$WORK/cap")"
keys Escape g

# ---- below the minimum size ---------------------------------------------
resize 50 8
wait_for "terminal too small" && pass "below 60x10 the screen says so" || fail "below 60x10 the screen says so" "$(tr '\n' '|' < "$WORK/cap")"
grep -q '^need 60x10; q quits$' "$WORK/cap" && pass "the minimum is named" || fail "the minimum is named" "$(tr '\n' '|' < "$WORK/cap")"
resize 80 24
wait_for "> lab/web" && pass "back above the minimum" || fail "back above the minimum" "$(head -c 300 "$WORK/cap" | tr '\n' '|')"
keys q
prompt_back && pass "q quits and restores the terminal" || fail "q quits and restores the terminal" "$(tail -n 3 "$WORK/cap" | tr '\n' '|')"

# SIGINT (Ctrl-C) and SIGTERM restore the terminal too
keys "$KTRACE imbalance --from $B svc/web -n lab" Enter
wait_for "ENDPOINT" && pass "SERVICE argument opens that Service" || fail "SERVICE argument opens that Service" "$(head -c 300 "$WORK/cap" | tr '\n' '|')"
keys C-c
prompt_back && pass "SIGINT restores the terminal" || fail "SIGINT restores the terminal" "$(tail -n 3 "$WORK/cap" | tr '\n' '|')"
keys "sh -c 'echo \$\$ > $WORK/pid; exec $KTRACE imbalance --from $B'" Enter
wait_for "ktrace imbalance  node" >/dev/null
pid=$(cat "$WORK/pid" 2>/dev/null)
[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
prompt_back && pass "SIGTERM restores the terminal" || fail "SIGTERM restores the terminal" "$(tail -n 3 "$WORK/cap" | tr '\n' '|')"
# the terminal still echoes and takes lines (stty sane state)
keys "echo still-ok" Enter
wait_for "still-ok" && pass "terminal usable after quit" || fail "terminal usable after quit" "$(tail -n 3 "$WORK/cap" | tr '\n' '|')"
exit 0
