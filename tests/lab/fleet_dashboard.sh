#!/bin/sh
# Lab: `ktrace imbalance --nodes all` over the fleet lab (tests/lab/fleet/):
# three `ktrace agent`s read through the test API server's Pod proxy, n4
# without an agent, real TCP connections through each node's rules. The
# text output's per-node section and the live dashboard in tmux at 80x24
# and 200x50: the nodes line (per-node counts, their sum, the gap), n/N
# switching between all nodes and each node (that node's own numbers, a
# gap node's reason), the per-Service view's per-node split of every
# backend and the measured cross-node share next to KT102's model, all
# compared with which Pod answered each held connection; then the
# dashboard stays live: new connections appear at the next refresh and a
# stopped agent becomes a gap in the header. --count refreshes too.
# Root only; bounded; removes everything it created (tmux session by name).
SUITE=lab-fleet-dashboard
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"
. "$(dirname "$0")/fleet/fleetlib.sh"

lab_require "network namespaces, iptables, conntrack" ip iptables-restore conntrack python3 curl timeout
command -v tmux > /dev/null 2>&1 || { skip "lab" "tmux is not installed"; exit 0; }
fleet_init ktb kt-fleetb
SESS=ktfd$$
trap 'tmux kill-session -t "$SESS" 2>/dev/null; fleet_cleanup' EXIT
if ! fleet_up; then fail "lab setup" "namespaces, links or rules"; exit 0; fi
for n in $FLEET_NODES; do
	fleet_agent_start "$n" --flow-interval 0.5 --resync 2 --max-age 0.5 || { fail "agent on $n starts" "$(tail -3 "$WORK/agent-$n.err" | tr '\n' '|')"; exit 0; }
done
if ! fleet_kapi_start; then fail "kapi starts" "$(head -c 300 "$WORK/kapi.err")"; exit 0; fi
kt() { nsx "$CP" env HOME="$WORK" timeout 60 "$KTRACE" --kubeconfig "$KC" "$@"; }

# n1 -> web 6, n2 -> web 5 and api 3, n3 -> api 2 (n3's web rules are stale)
fleet_hold n1 10.96.0.10 80 6 "$WORK/h-n1-web"
fleet_hold n2 10.96.0.10 80 5 "$WORK/h-n2-web"
fleet_hold n2 10.96.0.20 80 3 "$WORK/h-n2-api"
fleet_hold n3 10.96.0.20 80 2 "$WORK/h-n3-api"
for f in n1-web n2-web n2-api n3-api; do wait_ready "$WORK/h-$f" || { fail "connections $f" "not ready"; exit 0; }; done
# what the screen must say, from which Pod answered each connection:
# per web Pod "n2 4  n1 2" (nodes by count, then name), the web cross-node
# count (a Pod on another node than the client's)
cat > "$WORK/expect.py" <<'PYEOF'
import sys, collections
w = sys.argv[1]
home = {"web-1": "n1", "web-2": "n2", "web-3": "n3", "api-1": "n1", "api-2": "n2"}
per = collections.defaultdict(collections.Counter)
cross = total = 0
for node, svc in (("n1", "web"), ("n2", "web")):
    for line in open("%s/h-%s-%s" % (w, node, svc)):
        pod = line.strip()
        if pod in home:
            per[pod][node] += 1
            total += 1
            cross += home[pod] != node
for pod in ("web-1", "web-2", "web-3"):
    c = per[pod]
    txt = "  ".join("%s %d" % (n, k) for n, k in sorted(c.items(), key=lambda x: (-x[1], x[0]))) or "-"
    print("%s=%s" % (pod, txt))
print("cross=%d of %d (%.0f%%)" % (cross, total, 100.0 * cross / total))
PYEOF
"$PY" "$WORK/expect.py" "$WORK" > "$WORK/expect"
pass "lab: agents on $FLEET_NODES, 16 connections held ($(grep cross "$WORK/expect"))"
sleep 1.5

# ---- text: the per-node section --------------------------------------------
kt imbalance --nodes all --once > "$WORK/once.txt" 2> "$WORK/once.err"; rc=$?
ok=1
for want in "^  n1  6 open$" "^  n2  8 open$" "^  n3  2 open$" "^  n4  gap: no ktrace agent Pod on this node" \
	"^per node: 3 of 4 nodes answered" "^    shop/api  3 open$" "^    shop/web  5 open$"; do
	grep -q "$want" "$WORK/once.txt" || { ok=0; miss="$want"; }
done
c=$(sed -n 's/^cross=\([0-9]*\) of 11.*/\1/p' "$WORK/expect")
# the text counts every Service: web's cross-node connections plus api's
# (api-1 on n1 and api-2 on n2: n2's to api-1 and all of n3's)
api_cross=$(( $(grep -c api-1 "$WORK/h-n2-api") + $(grep -c -e api-1 -e api-2 "$WORK/h-n3-api") ))
want_cross="cross-node: $((c + api_cross)) of 16 open connections"
grep -q "^$want_cross" "$WORK/once.txt" || { ok=0; miss="$want_cross"; }
[ $rc = 6 ] && [ $ok = 1 ] && pass "text --nodes all: per node (n1 6, n2 8, n3 2) per Service backend, n4 a gap, $want_cross, exit 6" ||
	fail "text --nodes all" "rc=$rc missing '$miss': $(head -c 900 "$WORK/once.txt" | tr '\n' '|')"
for p in web-1 web-2 web-3; do
	row=$(awk '/^  n1  /{f=1} /^  n2  /{f=0} f' "$WORK/once.txt" | grep " $p ")
	want=$(grep "^$p=" "$WORK/expect" | grep -o 'n1 [0-9]*' | cut -d' ' -f2)
	got=$(echo "$row" | awk '{print $4}')
	[ "${got:-0}" = "${want:-0}" ] || { fail "text: n1's connections to $p" "got '${got}' want '${want:-0}' ($row)"; ok=0; }
done
[ $ok = 1 ] && pass "text: n1's rows per web backend match which Pod answered"

# ---- --count refreshes through the agents -------------------------------
kt imbalance --nodes all -o json --count 2 -i 1 > "$WORK/count.json" 2>/dev/null
res=$("$PY" - "$WORK/count.json" <<'PYEOF'
import json, sys
l = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
print(len(l), [d["ages"]["connections"] for d in l], [sorted((n["node"], n["connections"]) for n in d["nodes"]) for d in l][1],
      l[1]["timing"]["collectMs"] > 0, l[1]["dataplane"]["source"])
PYEOF
)
[ "$res" = "2 [16, 16] [('n1', 6), ('n2', 8), ('n3', 2)] True agents" ] &&
	pass "--count 2 -o json: a second sample fetched from every agent (16 connections, per node n1 6 n2 8 n3 2)" ||
	fail "--count 2 -o json" "$res"

# ---- the dashboard at 80x24 ----------------------------------------------------
cap() { tmux capture-pane -p -t "$SESS" 2>/dev/null | sed 's/ *$//' > "$WORK/cap"; }
wait_for() { # TEXT [TRIES]: poll the pane until TEXT is shown
	for _ in $(seq 1 "${2:-60}"); do
		cap
		grep -qF -- "$1" "$WORK/cap" && return 0
		sleep 0.1
	done
	return 1
}
line_is() {
	got=$(sed -n "$2p" "$WORK/cap")
	if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "line $2 is '$got', want '$3'"; fi
}
keys() { tmux send-keys -t "$SESS" "$@"; }
tmux new-session -d -s "$SESS" -x 80 -y 24 "env -i PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 PS1='KTPROMPT\$ ' sh" ||
	{ fail "tmux" "cannot start a session"; exit 0; }
keys "ip netns exec $CP env HOME=$WORK $KTRACE --kubeconfig $KC imbalance --nodes all --interval 1 --color never 2> $WORK/tui.err" Enter
if wait_for "nodes: all, 3 of 4 answered" 150; then pass "dashboard --nodes all starts at 80x24"; else
	fail "dashboard --nodes all starts" "$(tr '\n' '|' < "$WORK/cap" | head -c 600) $(head -c 300 "$WORK/tui.err")"; exit 0; fi
line_is "80x24 title: all nodes, flows from the agents" 1 "ktrace imbalance  node (all nodes)  dataplane unknown  flows agents  every 1s"
line_is "80x24 nodes line: 3 of 4 answered, the gap, each node's count" 2 "nodes: all, 3 of 4 answered  gap: n4  n1 6  n2 8  n3 2"
grep -q '^connections 16 ' "$WORK/cap" && pass "80x24: the sum, 16 open connections" || fail "80x24: the sum" "$(sed -n 3p "$WORK/cap")"
grep -Eq '^[> ] shop/web +11 ' "$WORK/cap" && grep -Eq '^[> ] shop/api +5 ' "$WORK/cap" && pass "80x24: shop/web 11 and shop/api 5 over every node" ||
	fail "80x24: Service rows" "$(grep shop/ "$WORK/cap" | tr '\n' '|')"
grep -q 'n/N node' "$WORK/cap" && pass "80x24: the footer names n/N" || fail "80x24 footer" "$(tail -1 "$WORK/cap")"
keys n
wait_for "node n1 (1 of 4): 6 of 16 open connections" && grep -q '^connections 6 ' "$WORK/cap" && grep -q 'node n1  dataplane iptables-nft' "$WORK/cap" &&
	pass "n: node n1 alone (6 of 16, its own dataplane)" || fail "n: node n1" "$(head -4 "$WORK/cap" | tr '\n' '|')"
grep -Eq '^[> ] shop/web +6 ' "$WORK/cap" && pass "n1: shop/web 6" || fail "n1: shop/web 6" "$(grep shop/ "$WORK/cap" | tr '\n' '|')"
keys n
wait_for "node n2 (2 of 4): 8 of 16 open connections" && grep -Eq '^[> ] shop/web +5 ' "$WORK/cap" && grep -Eq '^[> ] shop/api +3 ' "$WORK/cap" &&
	pass "n: node n2 (web 5, api 3)" || fail "n: node n2" "$(head -9 "$WORK/cap" | tr '\n' '|')"
keys n n
wait_for "node n4 (4 of 4): gap: no ktrace agent Pod on this node" && pass "n: node n4 is a gap with the reason" ||
	fail "n: node n4 gap" "$(sed -n 2p "$WORK/cap")"
keys N
wait_for "node n3 (3 of 4): 2 of 16 open connections" && pass "N: back to node n3 (2 of 16)" || fail "N: node n3" "$(sed -n 2p "$WORK/cap")"
keys n n
wait_for "nodes: all, 3 of 4 answered" && pass "n after the last node: all nodes again" || fail "n wraps to all nodes" "$(sed -n 2p "$WORK/cap")"
# the per-Service view of shop/web over all nodes
keys / w e b Enter Enter
if wait_for "cross-node: " && wait_for "BY NODE"; then pass "shop/web opened: the per-node split"; else fail "shop/web opened" "$(tr '\n' '|' < "$WORK/cap")"; fi
cx=$(sed -n 's/^cross=//p' "$WORK/expect")
grep -q "^cross-node: $cx to a backend on another node; KT102 model: 67%$" "$WORK/cap" &&
	pass "80x24: measured cross-node share ($cx) next to KT102's model (67%: 1 of 3 endpoints local on n1 and n2)" ||
	fail "80x24: cross-node share" "want '$cx', $(grep cross-node "$WORK/cap")"
ok=1
for p in web-1 web-2 web-3; do
	want=$(sed -n "s/^$p=//p" "$WORK/expect")
	row=$(grep " $p " "$WORK/cap")
	case "$row" in *" $want "*|*" $want") ;; *) ok=0; fail "80x24: per-node split of $p" "want '$want' in '$row'" ;; esac
done
[ $ok = 1 ] && pass "80x24: BY NODE of every web backend matches which Pod answered"
w=$("$PY" -c 'import sys; print(max(len(l.rstrip("\n")) for l in open(sys.argv[1], encoding="utf-8")))' "$WORK/cap")
[ "$w" -le 80 ] && pass "80x24: nothing wider than the terminal" || fail "80x24 width" "$w"

# ---- 200x50 ---------------------------------------------------------------------
tmux resize-window -t "$SESS" -x 200 -y 50 2>/dev/null
wait_for "  ENDPOINT              POD      NODE" 50
grep -q "BY NODE" "$WORK/cap" && grep -q "NODE.*AGE ST  CONNS BY NODE" "$WORK/cap" && pass "200x50: NODE, AGE and the per-node split side by side" ||
	fail "200x50 columns" "$(grep ENDPOINT "$WORK/cap")"
row=$(grep " web-2 " "$WORK/cap")
want=$(sed -n "s/^web-2=//p" "$WORK/expect")
case "$row" in *" n2 "*"$want"*) pass "200x50: web-2's row: node n2, split '$want'" ;; *) fail "200x50 web-2 row" "$row" ;; esac
keys n
wait_for "cross-node on n1: " && pass "200x50: n in the per-Service view: n1's own cross-node share" || fail "cross-node on n1" "$(grep cross-node "$WORK/cap")"
keys N Escape

# ---- live: new connections at the next refresh, a stopped agent -----------
fleet_hold n1 10.96.0.20 80 3 "$WORK/h-n1-api"
wait_ready "$WORK/h-n1-api" || fail "connections n1-api" "not ready"
if wait_for "nodes: all, 3 of 4 answered  gap: n4  n1 9  n2 8  n3 2" 100 && grep -q '^connections 19 ' "$WORK/cap"; then
	pass "live: 3 new connections from n1 appear at a refresh (n1 9, sum 19)"; else
	fail "live refresh" "$(head -3 "$WORK/cap" | tr '\n' '|')"; fi
fleet_agent_stop n3
if wait_for "nodes: all, 2 of 4 answered  gaps: n3, n4  n1 9  n2 8" 100 && grep -q '^connections 17 ' "$WORK/cap"; then
	pass "live: a stopped agent is a gap in the header (n3), the sum without it (17)"; else
	fail "stopped agent" "$(head -3 "$WORK/cap" | tr '\n' '|')"; fi
keys n n n
wait_for "node n3 (3 of 4): gap: agent Pod ktrace-agent-n3" && pass "n3's gap names its agent Pod" || fail "n3 gap reason" "$(sed -n 2p "$WORK/cap")"
keys q
for _ in $(seq 1 50); do cap; [ "$(grep -v '^$' "$WORK/cap" | tail -1)" = 'KTPROMPT$' ] && break; sleep 0.1; done
[ "$(grep -v '^$' "$WORK/cap" | tail -1)" = 'KTPROMPT$' ] && pass "q quits and restores the terminal" || fail "q quits" "$(tail -3 "$WORK/cap" | tr '\n' '|')"
# --reload: objects, node states and the agents read again while it runs
keys "ip netns exec $CP env HOME=$WORK $KTRACE --kubeconfig $KC imbalance --nodes all --reload 1 -i 0.5 --frames 12 --color never 2>> $WORK/tui.err; echo rc=\$?" Enter
if wait_for "nodes: all, 2 of 4 answered  gaps: n3, n4  n1 9  n2 8" 150 && wait_for "rc=0" 150; then
	pass "--reload 1: node states and agents reloaded while refreshing (the same nodes line), exit 0"; else
	fail "--reload 1" "$(tr '\n' '|' < "$WORK/cap" | head -c 600) $(tail -3 "$WORK/tui.err")"; fi
bad=$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error' "$WORK/tui.err" 2>/dev/null)
[ -z "$bad" ] && pass "no sanitizer report from the dashboard" || fail "sanitizer" "$(head -20 "$WORK/tui.err" | tr '\n' '|')"
exit 0
