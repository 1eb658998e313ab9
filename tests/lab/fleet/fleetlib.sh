# The fleet lab (sourced after tests/lib.sh and tests/lab/lablib.sh): a
# small cluster of network namespaces that the fleet tests share.
#   control plane  ${P}cp: a bridge 192.168.77.100/24 that every node joins;
#                  kapi.py runs here and reaches the agents by their node
#                  addresses, as a real API server reaches hostNetwork Pods
#   node N         ${P}<node>: eth0 192.168.77.N/24 on that bridge, routes to
#                  the other nodes' Pod ranges (10.244.M.0/24 via 192.168.77.M),
#                  forwarding on, kube-proxy iptables rules for its view of the
#                  cluster (tests/lab/fleet/fleet.py rules NODE), its Pods
#   Pod            ${P}<node>p<K>: 10.244.N.(4K+2)/30, a TCP server on its port
# The cluster (nodes, Pods, Services, stale endpoints) is tests/lab/fleet/
# fleet.py's (FLEET_CLUSTER=FILE to use another). Every namespace and
# process is named by $$ and removed by the EXIT trap (lablib's
# lab_cleanup, extended here), traffic stays inside the namespaces.
#
#   fleet_init PREFIX TMPNAME    names, work dir, token, trap
#   fleet_up                     namespaces, links, routes, Pods + servers, rules
#   fleet_agent_start NODE [ARGS...]   `ktrace agent` in the node (ASan build under
#                                KT_ASAN=1 via $KTRACE), waits for /healthz
#   fleet_agent_stop NODE        SIGTERM, wait; its stderr stays in $WORK/agent-NODE.err
#   fleet_kapi_start [ARGS...]   kapi.py in ${P}cp with the fleet's objects; KAPI_PORT,
#                                KC (a kubeconfig for it, valid inside ${P}cp)
#   fleet_get PATH [CURL ARGS...]  GET http://127.0.0.1:$KAPI_PORT/PATH from ${P}cp
#   fleet_agent_get NODE PATH [CURL ARGS...]  the same through the Pod proxy
#                                to NODE's agent, with the token
#   fleet_hold NODE VIP PORT N OUT   N persistent connections from NODE to VIP:PORT
#                                (OUT gets one answering Pod per line, then READY)
# Variables: FLEET_NODES (nodes with an agent), FLEET_ALL_NODES, CP, TOKEN,
# AGENT_PORT (10265), FLEET (fleet.py command).

# the interpreter itself, not a version-manager shim (each shim start costs
# a second or more on a loaded machine)
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || echo python3)
FLEET="$PY $TOP/tests/lab/fleet/fleet.py"
AGENT_PORT=10265

fleet_init() {
	lab_init "$1" "$2" 0
	CP=${P}cp
	FLEET_NS=""
	TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$TOKEN" > "$WORK/token"
	chmod 600 "$WORK/token"
	$FLEET nodes > "$WORK/nodes"
	FLEET_ALL_NODES=$(awk '{print $1}' "$WORK/nodes" | tr '\n' ' ')
	FLEET_NODES=$(awk '$3 == 1 {print $1}' "$WORK/nodes" | tr '\n' ' ')
	trap fleet_cleanup EXIT
}

fleet_cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	for ns in $FLEET_NS; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$WORK"
}

fleet_ns() { FLEET_NS="$FLEET_NS $1"; ip netns add "$1" && nsx "$1" ip link set lo up; }

# node index from its address (192.168.77.N)
fleet_node_ip() { awk -v n="$1" '$1 == n {print $2}' "$WORK/nodes"; }

fleet_up() {
	fleet_ns "$CP" || return 1
	nsx "$CP" ip link add br0 type bridge || return 1
	nsx "$CP" ip addr add 192.168.77.100/24 dev br0
	nsx "$CP" ip link set br0 up
	cat > "$WORK/server.py" <<'EOF'
import socketserver, sys
name, port = sys.argv[1], int(sys.argv[2])
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write((name + "\n").encode())
            self.wfile.flush()
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", port), H).serve_forever()
EOF
	cat > "$WORK/hold.py" <<'EOF'
# open N persistent connections to VIP:PORT, write which Pod answered, hold them
import socket, sys, time, signal
vip, port, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks = []
with open(out, "w") as f:
    for i in range(n):
        try:
            s = socket.create_connection((vip, port), timeout=2)
            s.sendall(b"hello\n")
            f.write(s.makefile().readline())
            socks.append(s)
        except OSError as e:
            f.write("failed %s\n" % e.__class__.__name__)
    f.write("READY\n")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
EOF
	for node in $FLEET_ALL_NODES; do
		ip=$(fleet_node_ip "$node")
		idx=${ip##*.}
		ns=${P}$node
		fleet_ns "$ns" || return 1
		nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
		nsx "$CP" ip link add "v$node" type veth peer name eth0 netns "$ns" || return 1
		nsx "$CP" ip link set "v$node" master br0 up
		nsx "$ns" ip addr add "$ip/24" dev eth0
		nsx "$ns" ip link set eth0 up
		# Service addresses need a route for the connect() that the
		# rules then DNAT (a node's default route, in a real cluster)
		nsx "$ns" ip route add 10.96.0.0/12 dev eth0
		k=0
		$FLEET pods "$node" > "$WORK/pods-$node"
		while read -r name pip port; do
			k=$((k + 1))
			pns=${P}${node}p$k
			fleet_ns "$pns" || return 1
			gw=${pip%.*}.$(( ${pip##*.} - 1 ))
			nsx "$ns" ip link add "vp$k" type veth peer name eth0 netns "$pns" || return 1
			nsx "$ns" ip addr add "$gw/30" dev "vp$k"
			nsx "$ns" ip link set "vp$k" up
			nsx "$pns" ip addr add "$pip/30" dev eth0
			nsx "$pns" ip link set eth0 up
			nsx "$pns" ip route add default via "$gw"
			ip netns exec "$pns" "$PY" "$WORK/server.py" "$name" "$port" 2>/dev/null &
			PIDS="$PIDS $!"
		done < "$WORK/pods-$node"
		$FLEET rules "$node" > "$WORK/rules-$node" || return 1
		$FLEET hooks > "$WORK/hooks"
		nsx "$ns" iptables-restore "$WORK/rules-$node" || return 1
		nsx "$ns" iptables-restore --noflush "$WORK/hooks" || return 1
	done
	# routes to the other nodes' Pod ranges
	for node in $FLEET_ALL_NODES; do
		for other in $FLEET_ALL_NODES; do
			[ "$other" = "$node" ] && continue
			oip=$(fleet_node_ip "$other")
			nsx "${P}$node" ip route add "10.244.${oip##*.}.0/24" via "$oip"
		done
	done
}

fleet_agent_start() {
	node=$1
	shift
	ip=$(fleet_node_ip "$node")
	ip netns exec "${P}$node" "$KTRACE" agent --listen "$ip:$AGENT_PORT" --token-file "$WORK/token" --node "$node" "$@" \
		> "$WORK/agent-$node.out" 2> "$WORK/agent-$node.err" &
	eval "AGENT_PID_$node=$!"
	PIDS="$PIDS $!"
	for _ in $(seq 1 100); do
		[ "$(nsx "$CP" curl -s -m 2 "http://$ip:$AGENT_PORT/healthz" 2>/dev/null)" = ok ] && return 0
		sleep 0.1
	done
	return 1
}

fleet_agent_stop() {
	eval "pid=\$AGENT_PID_$1"
	[ -n "$pid" ] || return 1
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	wait "$pid" 2>/dev/null
	rc=$?
	eval "AGENT_PID_$1="
	return $rc
}

fleet_kapi_start() {
	$FLEET objects "$WORK/objects" "$TOKEN" "$AGENT_PORT" || return 1
	rm -f "$WORK/kapi.port"
	ip netns exec "$CP" "$PY" "$TOP/tests/apiserver/kapi.py" --dir "$WORK/objects" --port-file "$WORK/kapi.port" \
		--log "$WORK/kapi.log" "$@" > /dev/null 2> "$WORK/kapi.err" &
	PIDS="$PIDS $!"
	for _ in $(seq 1 100); do [ -s "$WORK/kapi.port" ] && break; sleep 0.1; done
	KAPI_PORT=$(cat "$WORK/kapi.port" 2>/dev/null)
	[ -n "$KAPI_PORT" ] || return 1
	KC="$WORK/kubeconfig"
	cat > "$KC" <<EOF
apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: lab
  cluster: {server: "http://127.0.0.1:$KAPI_PORT"}
contexts:
- name: lab
  context: {cluster: lab, namespace: shop}
EOF
}

fleet_get() {
	path=$1
	shift
	nsx "$CP" curl -s -m 20 "$@" "http://127.0.0.1:$KAPI_PORT/${path#/}"
}

fleet_agent_get() {
	node=$1 path=$2
	shift 2
	fleet_get "api/v1/namespaces/ktrace/pods/ktrace-agent-$node:$AGENT_PORT/proxy/${path#/}" \
		-H "X-Ktrace-Token: $TOKEN" "$@"
}

fleet_hold() {
	ip netns exec "${P}$1" "$PY" "$WORK/hold.py" "$2" "$3" "$4" "$5" 2>/dev/null &
	PIDS="$PIDS $!"
}
