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
# Usage: sh bench/fleet.sh [NODES] [SERVICES] [ENDPOINTS] [SHARE]
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
for run in 1 2 3; do
	rm -f "$TMP/out.json.gz"
	ip netns exec $NS /usr/bin/time -f "%e s (cpu %U user %S sys) %M KB" "$KTRACE" -v --kubeconfig "$TMP/kc" collect --nodes all \
		--agent-timeout 60 -f "$TMP/out.json.gz" > /dev/null 2> "$TMP/client.err"
	t=$(tail -1 "$TMP/client.err"); cp "$TMP/client.err" /tmp/fleetbench/client.err
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
