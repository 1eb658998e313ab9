#!/bin/sh
# Fleet benchmark (root): `ktrace collect --nodes all` over N simulated
# nodes (default 200), each a 5,000-Service kube-proxy node, 2% of the
# Services deviating on some node (issue 11: under 10 s, under 200 MB
# client RSS, bytes within 3x of N x digests + deviating entries).
#   1. records one real `ktrace agent` on the 5,000-Service / 25,000-endpoint
#      rule set of bench/dataplane.sh (iptables-nft): /v1/digests, /v1/node
#   2. bench/fleet_agent.py serves those answers as N nodes (one address
#      each on a dummy link, one process), deviating Services changed
#   3. tests/apiserver/kapi.py serves N Nodes, N agent Pods and the token
#      Secret, and proxies pods/POD:PORT/proxy to the fake agents
#   4. times the client, its peak RSS, and the bytes it received
#   5. the fleet dashboard (`imbalance --nodes all`, a second kapi.py that
#      also serves the 5,000 Services and their EndpointSlices): every node
#      serves a flow sample (bench/fleet_agent.py: FLOW_SERVICES Services with
#      connections per node, default 100, a new sample every 2 s), the
#      dashboard runs in tmux at --interval 2 for DASH_SECS (default 60) s in
#      the Service list, then as long in the per-Service view (per-node
#      split), and the client's CPU is read from /proc/PID/stat (utime +
#      stime); the reference in the same run: one curl process fetching the
#      same 200 samples through the same API server every 2 s
# Usage: sh bench/fleet.sh [NODES] [SERVICES] [ENDPOINTS] [SHARE]
# FLEET_BENCH=collect|dashboard|both (default both)
cd "$(dirname "$0")/.." || exit 1
: "${KTRACE:=$(pwd)/ktrace}"
N=${1:-200}
SVCS=${2:-5000}
EPS=${3:-25000}
SHARE=${4:-0.02}
if [ "$(id -u)" != 0 ]; then echo "bench/fleet.sh: SKIP: needs root (network namespaces)"; exit 0; fi
[ "$N" -le 250 ] || { echo "bench/fleet.sh: at most 250 nodes"; exit 2; }
NS=ktflb$$
TMP=$(mktemp -d)
PY=$(python3 -c 'import sys; print(sys.executable)')
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; ip netns del $NS 2>/dev/null; ip netns del ${NS}r 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$TMP/token"
TOK=$(cat "$TMP/token")
PORT=10265
# 1. one real node, recorded
ip netns add ${NS}r || exit 1
ip netns exec ${NS}r ip link set lo up
$PY bench/kpgen.py iptables --services "$SVCS" --endpoints "$EPS" > "$TMP/rules.ipt"
ip netns exec ${NS}r iptables-restore "$TMP/rules.ipt" || exit 1
ip netns exec ${NS}r "$KTRACE" agent --listen 127.0.0.1:$PORT --token-file "$TMP/token" --node node-a --no-flows \
	--no-metrics --max-age 600 2> "$TMP/agent.err" &
APID=$!
PIDS="$APID"
for _ in $(seq 1 100); do [ "$(ip netns exec ${NS}r curl -s -m 2 http://127.0.0.1:$PORT/healthz)" = ok ] && break; sleep 0.1; done
mkdir -p "$TMP/rec"
ip netns exec ${NS}r curl -sf -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/digests > "$TMP/rec/digests.json" &&
	ip netns exec ${NS}r curl -sf -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/node > "$TMP/rec/node.json" || { echo "recording failed"; exit 1; }
kill $APID; wait $APID 2>/dev/null
ip netns del ${NS}r
# 2. N fake agents
ip netns add $NS || exit 1
ip netns exec $NS ip link set lo up
# one address per node on a veth (no dummy links on every kernel)
ip netns exec $NS ip link add fa0 type veth peer name fa1
ip netns exec $NS ip link set fa0 up
ip netns exec $NS ip link set fa1 up
for k in $(seq 1 "$N"); do echo "address add 192.168.90.$k/24 dev fa0"; done > "$TMP/addrs"
ip netns exec $NS ip -batch "$TMP/addrs" || exit 1
ip netns exec $NS $PY bench/fleet_agent.py "$TMP/rec" "$TMP/token" "$N" "$SHARE" $PORT > "$TMP/fake.out" 2> "$TMP/fake.err" &
PIDS="$PIDS $!"
for _ in $(seq 1 1200); do grep -q ready "$TMP/fake.out" && break; sleep 0.1; done
grep -q ready "$TMP/fake.out" || { echo "fake agents did not start: $(tail -3 "$TMP/fake.err")"; exit 1; }
# 3. the API server
mkdir -p "$TMP/objects"
$PY - "$TMP/objects" "$N" "$TOK" $PORT <<'PYEOF'
import base64, json, os, sys
d, n, tok, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ts = "2026-01-01T00:00:00Z"
nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-%d" % k, "creationTimestamp": ts},
          "status": {"addresses": [{"type": "InternalIP", "address": "192.168.90.%d" % k}]}} for k in range(1, n + 1)]
pods = [{"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "ktrace-agent-%d" % k, "namespace": "ktrace", "creationTimestamp": ts,
                      "labels": {"app.kubernetes.io/name": "ktrace-agent"}},
         "spec": {"nodeName": "node-%d" % k, "hostNetwork": True,
                  "containers": [{"name": "agent", "ports": [{"name": "ktrace", "containerPort": port}]}]},
         "status": {"phase": "Running", "podIP": "192.168.90.%d" % k,
                    "conditions": [{"type": "Ready", "status": "True"}]}} for k in range(1, n + 1)]
secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ktrace-agent-token", "namespace": "ktrace"},
          "data": {"token": base64.b64encode(tok.encode()).decode()}}
for fn, items, kind in (("nodes.json", nodes, "NodeList"), ("pods.json", pods, "PodList"), ("secrets.json", [secret], "SecretList")):
    json.dump({"apiVersion": "v1", "kind": kind, "items": items}, open(os.path.join(d, fn), "w"))
PYEOF
ip netns exec $NS $PY tests/apiserver/kapi.py --dir "$TMP/objects" --port-file "$TMP/kapi.port" > /dev/null 2> "$TMP/kapi.err" &
PIDS="$PIDS $!"
for _ in $(seq 1 100); do [ -s "$TMP/kapi.port" ] && break; sleep 0.1; done
cat > "$TMP/kc" <<EOF2
apiVersion: v1
kind: Config
current-context: b
clusters: [{name: b, cluster: {server: "http://127.0.0.1:$(cat "$TMP/kapi.port")"}}]
contexts: [{name: b, context: {cluster: b}}]
EOF2
# 4. the client
dig1=$(ip netns exec $NS curl -s -H "X-Ktrace-Token: $TOK" -H 'Accept-Encoding: gzip' http://192.168.90.1:$PORT/v1/digests | wc -c)
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "host: $(nproc) CPUs, load average $load"
echo "fleet: $N nodes x $SVCS Services ($EPS endpoints each), share $SHARE of the Services deviating on one node each"
if [ "${FLEET_BENCH:-both}" != dashboard ]; then
for run in 1 2 3; do
	rm -f "$TMP/out.json.gz"
	ip netns exec $NS /usr/bin/time -f "%e s (cpu %U user %S sys) %M KB" "$KTRACE" -v --kubeconfig "$TMP/kc" collect --nodes all \
		--agent-timeout 60 -f "$TMP/out.json.gz" > /dev/null 2> "$TMP/client.err"
	t=$(tail -1 "$TMP/client.err")
	bytes=$(grep -o '[0-9]* bytes from the agents in [0-9]* requests' "$TMP/client.err")
	b=${bytes%% *}
	grep -m3 -e warning -e error -e signal "$TMP/client.err"
	echo "run $run: collect --nodes all: $t (wall, client peak RSS); $bytes; bundle $(wc -c < "$TMP/out.json.gz") bytes"
done
grep -o 'fleet: .*' "$TMP/client.err" | head -1
# the reference in the same run: curl fetching the same 200 digests through
# the same API server, 32 at a time (what the proxy path alone costs)
KP=$(cat "$TMP/kapi.port")
for k in $(seq 1 "$N"); do echo "http://127.0.0.1:$KP/api/v1/namespaces/ktrace/pods/ktrace-agent-$k:$PORT/proxy/v1/digests"; done > "$TMP/urls"
t0=$(date +%s.%N)
ip netns exec $NS xargs -P 32 -n 1 curl -s -o /dev/null -H "X-Ktrace-Token: $TOK" -H 'Accept-Encoding: gzip' < "$TMP/urls"
t1=$(date +%s.%N)
echo "reference: curl, the $N digests only through the same API server (32 parallel): $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}') s"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
devb=$(grep -o 'deviating entries [0-9]*' "$TMP/fake.out" | tail -1)
base=$((N * dig1))
echo "reference: $N x digests ($dig1 bytes gzip each) = $base bytes; received/reference = $(awk -v b="$b" -v r="$base" 'BEGIN{printf "%.2f", b / r}')"
fi

[ "${FLEET_BENCH:-both}" = collect ] && exit 0
# ---- 5. the fleet dashboard ---------------------------------------------
command -v tmux > /dev/null || { echo "dashboard: SKIP: tmux is not installed"; exit 0; }
DASH=${DASH_SECS:-60}
mkdir -p "$TMP/objects2"
cp "$TMP"/objects/*.json "$TMP/objects2/"
$PY bench/kpgen.py bundle --services "$SVCS" --endpoints "$EPS" > "$TMP/objs.json"
$PY - "$TMP/objs.json" "$TMP/objects2" "$N" <<'PYEOF'
import json, os, sys, zlib
b, d, n = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
svcs = [o for o in b["objects"] if o["kind"] == "Service"]
slices = [o for o in b["objects"] if o["kind"] == "EndpointSlice"]
for s in slices:   # the synthetic endpoints' nodes become the bench's nodes
    for e in s["endpoints"]:
        e["nodeName"] = "node-%d" % (zlib.crc32(e["addresses"][0].encode()) % n + 1)
json.dump({"apiVersion": "v1", "kind": "ServiceList", "items": svcs}, open(os.path.join(d, "services.json"), "w"))
json.dump({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "items": slices},
          open(os.path.join(d, "endpointslices.json"), "w"))
PYEOF
ip netns exec $NS $PY tests/apiserver/kapi.py --dir "$TMP/objects2" --port-file "$TMP/kapi2.port" > /dev/null 2> "$TMP/kapi2.err" &
PIDS="$PIDS $!"
for _ in $(seq 1 300); do [ -s "$TMP/kapi2.port" ] && break; sleep 0.1; done
KP2=$(cat "$TMP/kapi2.port")
sed "s/127.0.0.1:[0-9]*/127.0.0.1:$KP2/" "$TMP/kc" > "$TMP/kc2"
flows1=$(ip netns exec $NS curl -s -H "X-Ktrace-Token: $TOK" http://192.168.90.1:$PORT/v1/flows | wc -c)
flows1z=$(ip netns exec $NS curl -s -H "X-Ktrace-Token: $TOK" -H 'Accept-Encoding: gzip' http://192.168.90.1:$PORT/v1/flows | wc -c)
aggs=$(ip netns exec $NS curl -s -H "X-Ktrace-Token: $TOK" http://192.168.90.1:$PORT/v1/flows | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["flows"]))')
echo "dashboard: $N nodes, each a flow sample of $aggs aggregates ($flows1 bytes JSON, $flows1z gzip'd), a new one every 2 s; $SVCS Services in the API"
SESS=ktflb$$
trap 'tmux kill-session -t $SESS 2>/dev/null; for p in $PIDS; do kill $p 2>/dev/null; done; ip netns del $NS 2>/dev/null; ip netns del ${NS}r 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
tmux new-session -d -s "$SESS" -x 120 -y 40 "ip netns exec $NS sh -c 'echo \$\$ > $TMP/dash.pid; exec env TERM=xterm-256color LANG=C.UTF-8 $KTRACE --kubeconfig $TMP/kc2 imbalance --nodes all --interval 2 --agent-timeout 30 --color never 2> $TMP/dash.err'"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
up=""
for _ in $(seq 1 1200); do
	tmux capture-pane -p -t "$SESS" > "$TMP/cap" 2>/dev/null
	grep -q "nodes: all, $N of $N answered" "$TMP/cap" && up=1 && break
	sleep 0.1
done
DPID=$(cat "$TMP/dash.pid" 2>/dev/null)
[ -n "$up" ] && [ -n "$DPID" ] || { echo "dashboard did not start: $(head -c 400 "$TMP/dash.err") $(head -5 "$TMP/cap")"; exit 1; }
HZ=$(getconf CLK_TCK)
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
echo "dashboard up after the first load: $(( $(ticks "$DPID") * 1000 / HZ )) ms CPU so far, $rss0 kB RSS"
sleep 4
measure() {
	what=$1
	l0=$(cut -d' ' -f1 /proc/loadavg)
	c0=$(ticks "$DPID"); t0=$(date +%s.%N)
	sleep "$DASH"
	c1=$(ticks "$DPID"); t1=$(date +%s.%N)
	l1=$(cut -d' ' -f1 /proc/loadavg)
	tmux capture-pane -p -t "$SESS" > "$TMP/cap"
	awk -v c="$((c1 - c0))" -v hz="$HZ" -v a="$t0" -v b="$t1" -v w="$what" -v l0="$l0" -v l1="$l1" -v r="$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")" \
		'BEGIN { printf "dashboard (%s): %.1f%% of one core over %.0f s (%d ticks); RSS %d kB; load %s -> %s\n", w, 100 * c / hz / (b - a), b - a, c, r, l0, l1 }'
	sed -n 2p "$TMP/cap" | cut -c1-110
}
measure "Service list, --interval 2"
tmux send-keys -t "$SESS" Enter
sleep 3
measure "per-Service view with the per-node split"
grep -m1 'cross-node' "$TMP/cap"
tmux send-keys -t "$SESS" q
# the reference: one curl fetching (and gunzipping) the same compact samples through the same API server every 2 s
for k in $(seq 1 "$N"); do printf 'url = "http://127.0.0.1:%s/api/v1/namespaces/ktrace/pods/ktrace-agent-%s:%s/proxy/v1/flows?form=compact"\noutput = "/dev/null"\n' "$KP2" "$k" "$PORT"; done > "$TMP/curl.cfg"
rounds=$(( DASH / 2 ))
cat > "$TMP/ref.sh" <<EOF2
for i in \$(seq 1 $rounds); do
	t0=\$(date +%s%N)
	curl -s -m 20 --no-progress-meter --compressed --parallel --parallel-max 32 -H "X-Ktrace-Token: $TOK" -K "$TMP/curl.cfg"
	dt=\$(( (\$(date +%s%N) - t0) / 1000000 ))
	[ \$dt -lt 2000 ] && sleep \$(awk -v d=\$dt 'BEGIN { printf "%.3f", (2000 - d) / 1000 }')
done
EOF2
ip netns exec $NS /usr/bin/time -o "$TMP/ref.time" -f "%U %S" sh "$TMP/ref.sh" > /dev/null 2>&1
tail -n 1 "$TMP/ref.time" | awk -v r="$rounds" '{ printf "reference: curl (one process per round, 32 parallel, gunzip), the same %s samples every 2 s: %.1f%% of one core (%.2f s user+sys over %d rounds)\n", "'"$N"'", 100 * ($1 + $2) / (r * 2), $1 + $2, r }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
