#!/bin/sh
# Lab: the fleet client (`--nodes`) against three `ktrace agent`s of the
# fleet lab (tests/lab/fleet/), read through the test API server's Pod
# proxy exactly as from a laptop: ktrace runs in the control-plane
# namespace with only a kubeconfig. n3 is stale (still forwards web to a
# removed Pod), n4 has no agent. Asserts: every node's state through its
# agent (n4 a gap, exit 6), the stale node found by digests and only its
# differing Service fetched, per-node KT602 grouped in one finding,
# `path` "N of M nodes", exact per-node and summed connection counts in
# imbalance, a bundle with every node that gives the same answers
# offline, one agent stopped mid-test (gap + exit 6), a wrong token (an
# error naming the Secret), and bad agents (garbage, a huge body, a slow
# agent, a redirect, a body claiming another node): each a bounded gap.
# Root only; bounded; removes everything it created.
SUITE=lab-fleet-client
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"
. "$(dirname "$0")/fleet/fleetlib.sh"

lab_require "network namespaces, iptables, conntrack" ip iptables-restore conntrack python3 curl timeout
fleet_init ktc kt-fleetc
if ! fleet_up; then fail "lab setup" "namespaces, links or rules"; exit 0; fi
for n in $FLEET_NODES; do
	fleet_agent_start "$n" --flow-interval 0.5 --resync 2 --max-age 0.5 || { fail "agent on $n starts" "$(tail -3 "$WORK/agent-$n.err" | tr '\n' '|')"; exit 0; }
done
if ! fleet_kapi_start; then fail "kapi starts" "$(head -c 300 "$WORK/kapi.err")"; exit 0; fi
pass "lab: agents on $FLEET_NODES, kapi.py in ${CP}"
# ktrace in the control-plane namespace, a kubeconfig and nothing else
kt() { nsx "$CP" env HOME="$WORK" timeout 60 "$KTRACE" --kubeconfig "$KC" "$@"; }

# ---- dataplane --nodes all --------------------------------------------------
kt dataplane --nodes all -o json > "$WORK/dp.json" 2> "$WORK/dp.err"; rc=$?
res=$("$PY" - "$WORK/dp.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
nodes = d if isinstance(d, list) else d.get("nodes", [d])
names = sorted(n["node"] for n in nodes)
web = {n["node"]: sorted("%s:%d" % (b["ip"], b["port"]) for s in n["services"] if s["name"] == "web" for b in s["backends"]) for n in nodes}
print("%s|%s|%s" % (",".join(names), " ".join(web.get("n1", [])), " ".join(web.get("n3", []))))
PYEOF
)
[ "$rc" = 6 ] && [ "$res" = "n1,n2,n3|10.244.1.6:8080 10.244.2.6:8080 10.244.3.6:8080|10.244.1.6:8080 10.244.2.6:8080 10.244.3.6:8080 10.244.9.9:8080" ] &&
	pass "dataplane --nodes all: n1 n2 n3 through their agents (n3 with the stale 10.244.9.9), n4 a gap, exit 6" ||
	fail "dataplane --nodes all" "rc=$rc $res $(head -c 400 "$WORK/dp.err")"
grep -q "n4" "$WORK/dp.err" && pass "the node without an agent is named on stderr" || fail "the node without an agent is named" "$(cat "$WORK/dp.err")"

# ---- scale by difference -----------------------------------------------------
kt -vv dataplane --nodes all -o json > /dev/null 2> "$WORK/vv.err"
keys=$(grep -o 'proxy/v1/node[^ ]*' "$WORK/vv.err" | sort | tr '\n' ' ')
case "$keys" in
"proxy/v1/node proxy/v1/node?keys="*)
	n=$(echo "$keys" | wc -w)
	echo "$keys" | grep -q 'shop%2Fweb' && ! echo "$keys" | grep -q 'shop%2Fapi' && [ "$n" -le 4 ] &&
		pass "digests first; one whole node state for the majority, then only differing Services' entries ($n entry requests)" ||
		fail "scale by difference" "$keys" ;;
*) fail "scale by difference" "$keys $(grep GET "$WORK/vv.err" | head -5 | tr '\n' '|')" ;;
esac

# ---- path: N of M nodes ------------------------------------------------------------------
kt path svc/web -n shop --nodes all > "$WORK/path.txt" 2> "$WORK/path.err"; rc=$?
if [ "$rc" = 6 ] && grep -q 'port http 2 of 3 nodes programmed the current endpoints (3 ready' "$WORK/path.txt" &&
	grep -q 'node n3: stale 10.244.9.9:8080$' "$WORK/path.txt" && [ "$(grep -c 'programs port http' "$WORK/path.txt")" = 2 ]; then
	pass "path --nodes all: '2 of 3 nodes programmed the current endpoints', n3's stale backend, one shown for the matching nodes"
else fail "path --nodes all: N of M" "rc=$rc $(grep -A3 'programmed the current' "$WORK/path.txt" | tr '\n' '|')"; fi

# ---- check: per-node KT602 ---------------------------------------------------------
kt check --nodes all -o json > "$WORK/check.json" 2> "$WORK/check.err"; rc=$?
res=$("$PY" - "$WORK/check.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
f = [x for x in d["findings"] if x["id"] == "KT602"]
print(len(f), " ".join(x["evidence"].split(";")[0] for x in f), "10.244.9.9" in json.dumps(f))
PYEOF
)
[ "$res" = "1 node=n3 True" ] && ok=1 || ok=0
[ "$rc" = 1 ] && [ $ok = 1 ] && grep -q 'n3' "$WORK/check.json" && pass "check --nodes all: one KT602 (n3 still forwards to 10.244.9.9), exit 1" ||
	fail "check --nodes all: KT602 on n3" "rc=$rc $res"

# ---- imbalance: exact per-node and summed connection counts -----------------------------
fleet_hold n1 10.96.0.10 80 6 "$WORK/h-n1-web"
fleet_hold n2 10.96.0.10 80 5 "$WORK/h-n2-web"
fleet_hold n2 10.96.0.20 80 3 "$WORK/h-n2-api"
fleet_hold n3 10.96.0.20 80 2 "$WORK/h-n3-api"
for f in n1-web n2-web n2-api n3-api; do wait_ready "$WORK/h-$f" || { fail "connections $f" "not ready"; exit 0; }; done
sleep 2
kt imbalance --nodes all -o json > "$WORK/imb.json" 2> "$WORK/imb.err"; rc=$?
res=$("$PY" - "$WORK/imb.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
per = {n["node"]: n["connections"] for n in d["nodes"]}
tot = {s["name"]: s["connections"] for s in d["services"]}
print("%s web=%s api=%s cross=%s/%s" % (" ".join("%s=%d" % kv for kv in sorted(per.items())), tot.get("web"), tot.get("api"),
      d["crossNode"]["connections"], d["crossNode"]["ofKnown"]))
PYEOF
)
# web on n1: 6 across 3 Pods (1 local), n2: 5; api n2: 3 (2 Pods, n1/n2), n3: 2
case "$res" in
"n1=6 n2=8 n3=2 web=11 api=5 cross="*/16) pass "imbalance --nodes all: per-node (n1 6, n2 8, n3 2) and summed (web 11, api 5) open connections, cross-node share measured ($res)" ;;
*) fail "imbalance --nodes all: per-node and summed counts" "rc=$rc $res $(head -c 300 "$WORK/imb.err")" ;;
esac

# ---- bundle: every node, the same answers offline ----------------------------------------
kt collect --nodes all -f "$WORK/b.json" 2> "$WORK/collect.err"; rc=$?
kt dataplane --nodes all --diff -A -o json > "$WORK/live.json" 2>/dev/null
kt --from "$WORK/b.json" dataplane --diff -A -o json > "$WORK/off.json" 2> "$WORK/off.err"; rc2=$?
strip() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); [n.pop("source",None) for n in d]; print(json.dumps(d, sort_keys=True))' "$1"; }
[ "$rc" = 6 ] && grep -q '"fleetMajority"' "$WORK/b.json" && [ "$(strip "$WORK/live.json")" = "$(strip "$WORK/off.json")" ] && [ "$rc2" = 6 ] &&
	pass "collect --nodes all: a bundle with the majority once and per-node deviations; --from gives the same dataplane --diff (and exit 6 for n4)" ||
	fail "collect --nodes / --from" "rc=$rc rc2=$rc2 $(head -c 300 "$WORK/off.err")"

# ---- one agent stopped mid-test ---------------------------------------------------------
fleet_agent_stop n3
kt dataplane --nodes all -o json > "$WORK/stop.json" 2> "$WORK/stop.err"; rc=$?
names=$("$PY" -c 'import json,sys; print(",".join(sorted(n["node"] for n in json.load(open(sys.argv[1])))))' "$WORK/stop.json")
[ "$rc" = 6 ] && [ "$names" = "n1,n2" ] && grep -q 'n3: agent Pod ktrace-agent-n3' "$WORK/stop.err" &&
	pass "an agent stopped: its node is a gap with the reason, the others answer, exit 6" ||
	fail "an agent stopped" "rc=$rc $names $(cat "$WORK/stop.err" | tr '\n' '|')"

# ---- bad agents on n2 (n1 answers) ------------------------------------------------------
fleet_agent_stop n2
cat > "$WORK/bad.py" <<'PYEOF'
import http.server, sys, time
mode = sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/healthz":
            b = b"ok"
        elif mode == "slow":
            time.sleep(30); b = b"{}"
        elif mode == "redirect":
            self.send_response(302); self.send_header("Location", "/elsewhere"); self.send_header("Content-Length", "0"); self.end_headers(); return
        elif mode == "garbage":
            b = b"\x00\x01garbage{{{"
        elif mode == "othernode":
            b = b'{"node":"n1","stateId":"0123456789abcdef","takenMs":1,"digestVersion":1,"services":[]}'
        elif mode == "huge":
            self.send_response(200); self.send_header("Content-Type", "application/json"); self.end_headers()
            try:
                self.wfile.write(b'{"node":"n2","services":["')
                chunk = b"x" * 1048576
                for _ in range(200): self.wfile.write(chunk)
            except OSError: pass
            return
        self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PYEOF
for mode in garbage huge slow redirect othernode; do
	ip netns exec "${P}n2" "$PY" "$WORK/bad.py" 192.168.77.2 $AGENT_PORT $mode 2>/dev/null &
	bp=$!
	PIDS="$PIDS $bp"
	for _ in $(seq 1 50); do [ "$(nsx "$CP" curl -s -m 1 http://192.168.77.2:$AGENT_PORT/healthz)" = ok ] && break; sleep 0.1; done
	t0=$(date +%s)
	kt dataplane --nodes n1,n2 --agent-timeout 3 -o json > "$WORK/bad-$mode.json" 2> "$WORK/bad-$mode.err"; rc=$?
	dt=$(( $(date +%s) - t0 ))
	names=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d if isinstance(d,list) else [d]; print(",".join(n["node"] for n in d))' "$WORK/bad-$mode.json" 2>/dev/null)
	why=$(grep 'n2:' "$WORK/bad-$mode.err" | head -1)
	if [ "$rc" = 6 ] && [ "$names" = n1 ] && [ -n "$why" ] && [ "$dt" -le 12 ]; then pass "bad agent ($mode): a gap for n2 in ${dt}s: ${why#ktrace: warning: }"; else
		fail "bad agent ($mode)" "rc=$rc nodes=$names ${dt}s $(tr '\n' '|' < "$WORK/bad-$mode.err" | head -c 400)"; fi
	kill $bp 2>/dev/null; wait $bp 2>/dev/null
done

# ---- a wrong token ---------------------------------------------------------------------
fleet_agent_start n2 --max-age 0.5 || fail "agent on n2 restarts" ""
printf 'a-different-token-0123456789\n' > "$WORK/token"
sleep 6
kt dataplane --nodes n1,n2 > /dev/null 2> "$WORK/tok.err"; rc=$?
[ "$rc" = 4 ] && grep -q 'rejected the token of Secret ktrace/ktrace-agent-token' "$WORK/tok.err" && ! grep -q "$TOKEN" "$WORK/tok.err" &&
	pass "a token the agents reject: exit 4 naming Secret ktrace/ktrace-agent-token (token not printed)" ||
	fail "a wrong token" "rc=$rc $(tr '\n' '|' < "$WORK/tok.err")"
exit 0
