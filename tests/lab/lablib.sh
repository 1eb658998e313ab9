# Shared by the namespace labs (sourced after tests/lib.sh): preconditions,
# the lab's names and work directory, cleanup of every process and
# namespace it started, and small helpers. Not a test itself: tests/run.sh
# passes over it.

# lab_require WHY TOOL...: skip (exit 0) unless root and every TOOL is
# installed; fail (exit 1) without the ktrace binary.
lab_require() {
	_why=$1
	shift
	if ! need_root; then skip "lab" "needs root ($_why)"; exit 0; fi
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || { skip "lab" "$t is not installed"; exit 0; }
	done
	[ -x "$KTRACE" ] || { fail "lab" "no ktrace binary at $KTRACE"; exit 1; }
}

# lab_init PREFIX TMPNAME NPODS: P (unique namespace prefix), NSN (node),
# NSC (client), pod namespaces ${P}p1..${P}pNPODS, WORK (a fresh directory
# /tmp/TMPNAME.XXXXXX), PIDS (background processes to stop) and the trap
# that removes them all.
lab_init() {
	P=$1$$
	NSN=${P}n NSC=${P}c
	WORK=$(mktemp -d "/tmp/$2.XXXXXX")
	PIDS=""
	LAB_NPODS=$3
	LAB_PODS=$(seq 1 "$3" | sed "s/^/${P}p/" | tr '\n' ' ')
	trap lab_cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

lab_cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	for ns in $NSN $NSC $LAB_PODS; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$WORK"
}

# nsx NS CMD...: run CMD in namespace NS
nsx() { _nsx=$1; shift; ip netns exec "$_nsx" "$@"; }

# lab_netns: create the node, client and pod namespaces, loopback up
lab_netns() {
	for ns in $NSN $NSC $LAB_PODS; do
		ip netns add "$ns" || return 1
		nsx "$ns" ip link set lo up
	done
}

# lab_links4: IPv4 veths: client 10.77.0.2 routes the Service range
# 10.96.0.0/12 via the node (10.77.0.1); pod i is 10.244.i.2 with the node
# (10.244.i.1) as default gateway
lab_links4() {
	nsx $NSN ip link add vc type veth peer name eth0 netns $NSC || return 1
	nsx $NSN ip addr add 10.77.0.1/24 dev vc
	nsx $NSN ip link set vc up
	nsx $NSC ip addr add 10.77.0.2/24 dev eth0
	nsx $NSC ip link set eth0 up
	nsx $NSC ip route add 10.96.0.0/12 via 10.77.0.1
	for i in $(seq 1 "$LAB_NPODS"); do
		nsx $NSN ip link add vp$i type veth peer name eth0 netns ${P}p$i || return 1
		nsx $NSN ip addr add 10.244.$i.1/24 dev vp$i
		nsx $NSN ip link set vp$i up
		nsx ${P}p$i ip addr add 10.244.$i.2/24 dev eth0
		nsx ${P}p$i ip link set eth0 up
		nsx ${P}p$i ip route add default via 10.244.$i.1
	done
}

# wait_ready FILE: wait for READY in FILE, bounded (10 s)
wait_ready() {
	for _ in $(seq 1 100); do grep -q READY "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

