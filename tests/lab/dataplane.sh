#!/bin/sh
# Dataplane lab: builds a kube-proxy node out of network namespaces (a node
# netns holding the rules, three Pod netns behind veth pairs running tiny
# TCP servers, a client netns), loads the fixture cluster's rules exactly as
# kube-proxy writes them (bench/kpgen.py) with iptables-restore (nft
# backend), iptables-legacy-restore and nft -f, and checks that
# `ktrace dataplane` reconstructs every Service, that real connections
# spread as ktrace's probabilities say, and that --diff finds KT601/KT602/
# KT603. Cilium-layout BPF maps go into a bpffs this test mounts; IPVS is
# checked through ipvsadm-save text (live IPVS skips when ip_vs is absent).
# Root only; everything it creates is removed by the trap (by name/PID).
. "$(dirname "$0")/../lib.sh"
SUITE=dataplane-lab
if ! need_root; then
	skip all "needs root (network namespaces, netfilter, bpffs)"
	exit 0
fi
for t in ip iptables-restore iptables-legacy-restore nft python3 bpftool; do
	command -v $t >/dev/null 2>&1 || { skip all "$t not installed"; exit 0; }
done
GEN="python3 $TOP/bench/kpgen.py"
CMP="python3 $TOP/tests/fixtures/dataplane/compare.py"
ID=$$
NODE=ktdn$ID
CLI=ktdc$ID
PODS="ktdp1$ID ktdp2$ID ktdp3$ID"
TMP=$(mktemp -d)
BPF=$TMP/bpffs
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for n in $NODE $CLI $PODS; do ip netns del "$n" 2>/dev/null; done
	mountpoint -q "$BPF" 2>/dev/null && umount "$BPF"
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
inode() { ip netns exec $NODE "$@"; }

# ---- topology ------------------------------------------------------------
ip netns add $NODE && ip netns add $CLI || { fail topology "cannot create netns"; exit 0; }
inode ip link set lo up
inode sysctl -qw net.ipv4.ip_forward=1
ip link add kc$ID type veth peer name eth0 netns $CLI
ip link set kc$ID netns $NODE
inode ip addr add 192.168.10.11/24 dev kc$ID
inode ip link set kc$ID up
ip netns exec $CLI ip addr add 192.168.10.100/24 dev eth0
ip netns exec $CLI ip link set eth0 up
ip netns exec $CLI ip link set lo up
ip netns exec $CLI ip route add default via 192.168.10.11
i=0
for pip in 10.244.1.11 10.244.2.12 10.244.3.13; do
	i=$((i + 1))
	p=ktdp$i$ID
	ip netns add $p
	ip link add kp$i$ID type veth peer name eth0 netns $p
	ip link set kp$i$ID netns $NODE
	inode ip addr add 169.254.1.1/32 dev kp$i$ID
	inode ip link set kp$i$ID up
	inode ip route add $pip/32 dev kp$i$ID
	ip netns exec $p ip link set lo up
	ip netns exec $p ip addr add $pip/32 dev eth0
	ip netns exec $p ip link set eth0 up
	ip netns exec $p ip route add 169.254.1.1 dev eth0
	ip netns exec $p ip route add default via 169.254.1.1
	ip netns exec $p python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(512)
s.settimeout(120)
while True:
    try:
        c, _ = s.accept()
    except Exception:
        break
    c.sendall(sys.argv[1].encode()); c.close()
' $pip &
	PIDS="$PIDS $!"
done
pass topology

$GEN iptables > $TMP/rules.ipt
$GEN hooks > $TMP/hooks.ipt
$GEN nft > $TMP/rules.nft
$GEN expect > $TMP/expect.json
$GEN bundle > $TMP/bundle.json
$GEN bundle --drop-endpoint 10.244.3.13 > $TMP/bundle-drop.json
$GEN bundle --extra-endpoint 10.244.2.99 > $TMP/bundle-extra.json

# ---- traffic: 300 connections through the rules ----------------------------
traffic() { # MODE-name JSON
	ip netns exec $CLI python3 - "$2" <<'EOF' > $TMP/traffic.out 2>&1
import json, socket, sys, math
doc = json.load(open(sys.argv[1]))
svc = [s for s in doc["services"] if s["namespace"] == "shop" and s["name"] == "web"][0]
want = {b["ip"]: b["probability"] for b in svc["backends"]}
seen = {}
N = 300
for i in range(N):
    c = socket.create_connection(("10.96.120.15", 80), timeout=3)
    name = c.recv(64).decode(); c.close()
    seen[name] = seen.get(name, 0) + 1
bad = []
for ip, p in want.items():
    exp = p * N; sd = math.sqrt(N * p * (1 - p))
    got = seen.get(ip, 0)
    if abs(got - exp) > 5 * sd:
        bad.append("%s: %d connections, ktrace says %.1f%% (expect %.0f +- %.0f)" % (ip, got, p * 100, exp, 5 * sd))
extra = set(seen) - set(want)
print("seen", seen, "want", want)
if bad or extra:
    print("MISMATCH", bad, extra); sys.exit(1)
EOF
}

check_mode() { # name mode-for-compare
	name=$1; mode=$2
	if inode timeout 60 "$KTRACE" dataplane -A -o json --no-metrics > $TMP/$name.json 2> $TMP/$name.err; then
		if $CMP $TMP/expect.json $TMP/$name.json $mode > $TMP/$name.cmp 2>&1; then
			pass "$name: every service reconstructed"
		else
			fail "$name: every service reconstructed" "$(head -c 600 $TMP/$name.cmp | tr '\n' '|')"
		fi
	else
		fail "$name: dataplane -A -o json" "$(head -c 300 $TMP/$name.err | tr '\n' '|')"
		return
	fi
	if timeout 60 sh -c "true" && traffic $name $TMP/$name.json; then
		pass "$name: 300 connections match ktrace's probabilities ($(head -n1 $TMP/traffic.out | cut -c1-120))"
	else
		fail "$name: 300 connections match ktrace's probabilities" "$(tail -n 3 $TMP/traffic.out | tr '\n' '|')"
	fi
}

# ---- iptables-nft ---------------------------------------------------------
if inode iptables-restore $TMP/rules.ipt && inode iptables-restore --noflush $TMP/hooks.ipt; then
	check_mode iptables-nft iptables
	grep -q '"iptables-nft"' $TMP/iptables-nft.json && pass "iptables-nft: mode detected" || fail "iptables-nft: mode detected" "no iptables-nft in modes"
	# text output sanity
	out=$(inode "$KTRACE" dataplane shop/web --no-metrics 2>&1)
	case "$out" in *"10.244.2.12:8080"*"33.33%"*) pass "text: shop/web backends with probabilities" ;;
		*) fail "text: shop/web backends with probabilities" "$(printf '%s' "$out" | head -c 300 | tr '\n' '|')" ;; esac
	# saved dump gives the same answer
	inode iptables-save > $TMP/save.txt
	"$KTRACE" dataplane -A -o json --iptables-save $TMP/save.txt > $TMP/file.json 2>&1 &&
		$CMP $TMP/expect.json $TMP/file.json iptables > $TMP/file.cmp 2>&1 &&
		pass "--iptables-save file reconstructs every service" ||
		fail "--iptables-save file reconstructs every service" "$(head -c 400 $TMP/file.cmp | tr '\n' '|')"
	# diff against EndpointSlices: endpoint removed from the slices but not from the rules
	inode "$KTRACE" dataplane --from $TMP/bundle-drop.json --live --node node-a --diff -A -o json --no-metrics > $TMP/d1.json 2> $TMP/d1.err
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(x["id"]=="KT602" and x["ip"]=="10.244.3.13" for x in d["diff"]) and not any(x["id"]=="KT601" for x in d["diff"]) else 1)' $TMP/d1.json 2>/dev/null; then
		pass "diff: stale programmed endpoint reported as KT602"
	else
		fail "diff: stale programmed endpoint reported as KT602" "$(head -c 400 $TMP/d1.json $TMP/d1.err | tr '\n' '|')"
	fi
	inode "$KTRACE" dataplane --from $TMP/bundle-extra.json --live --node node-a --diff -A -o json --no-metrics > $TMP/d2.json 2> $TMP/d2.err
	if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(x["id"]=="KT601" and x["ip"]=="10.244.2.99" for x in d["diff"]) and not any(x["id"]=="KT602" for x in d["diff"]) else 1)' $TMP/d2.json 2>/dev/null; then
		pass "diff: unprogrammed ready endpoint reported as KT601"
	else
		fail "diff: unprogrammed ready endpoint reported as KT601" "$(head -c 400 $TMP/d2.json $TMP/d2.err | tr '\n' '|')"
	fi
	inode "$KTRACE" dataplane --from $TMP/bundle.json --live --node node-a --diff -A -o json --no-metrics > $TMP/d0.json 2>&1
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["diff"]==[] else 1)' $TMP/d0.json 2>/dev/null &&
		pass "diff: matching EndpointSlices give no findings" ||
		fail "diff: matching EndpointSlices give no findings" "$(head -c 400 $TMP/d0.json | tr '\n' '|')"
	# --diff against a live API server (tests/apiserver/kapi.py inside the node netns)
	mkdir -p $TMP/api
	python3 - $TMP/bundle-drop.json $TMP/api <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
json.dump({"kind": "ServiceList", "apiVersion": "v1", "items": [o for o in b["objects"] if o["kind"] == "Service"]},
          open(sys.argv[2] + "/services.json", "w"))
json.dump({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
           "items": [o for o in b["objects"] if o["kind"] == "EndpointSlice"]}, open(sys.argv[2] + "/endpointslices.json", "w"))
EOF
	ip netns exec $NODE timeout 60 python3 "$TOP/tests/apiserver/kapi.py" --dir $TMP/api --port-file $TMP/api.port > $TMP/kapi.log 2>&1 &
	PIDS="$PIDS $!"
	i=0
	while [ ! -s $TMP/api.port ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	cat > $TMP/kubeconfig <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:$(cat $TMP/api.port)"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
EOF
	inode "$KTRACE" dataplane --kubeconfig $TMP/kubeconfig --diff -A --node node-a --no-metrics -o json > $TMP/dapi.json 2> $TMP/dapi.err
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if [(x["id"],x["ip"]) for x in d["diff"]]==[("KT602","10.244.3.13")] else 1)' $TMP/dapi.json 2>/dev/null &&
		pass "diff against a live API server: KT602" ||
		fail "diff against a live API server: KT602" "$(head -c 400 $TMP/dapi.json $TMP/dapi.err | tr '\n' '|')"
else
	fail iptables-nft "iptables-restore failed"
fi

# ---- iptables-legacy (and both at once: KT603) -----------------------------
if inode iptables-legacy-restore $TMP/rules.ipt 2>$TMP/leg.err && inode iptables-legacy-restore --noflush $TMP/hooks.ipt; then
	inode "$KTRACE" dataplane --from $TMP/bundle.json --live --node node-a --diff -A -o json --no-metrics > $TMP/mixed.json 2>&1
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(x["id"]=="KT603" for x in d["diff"]) and d.get("notes") else 1)' $TMP/mixed.json 2>/dev/null &&
		pass "both iptables backends: KT603 and a warning" ||
		fail "both iptables backends: KT603 and a warning" "$(head -c 400 $TMP/mixed.json | tr '\n' '|')"
	inode nft flush ruleset
	check_mode iptables-legacy iptables
	grep -q '"iptables-legacy"' $TMP/iptables-legacy.json && pass "iptables-legacy: mode detected" || fail "iptables-legacy: mode detected" "no iptables-legacy in modes"
	inode iptables-legacy -t nat -F; inode iptables-legacy -t nat -X
	inode iptables-legacy -t filter -F; inode iptables-legacy -t filter -X
else
	skip iptables-legacy "iptables-legacy-restore failed: $(head -c 200 $TMP/leg.err)"
fi

# ---- nftables mode --------------------------------------------------------
inode nft flush ruleset
if inode nft -f $TMP/rules.nft 2>$TMP/nft.err; then
	check_mode nftables nftables
	inode nft -j list ruleset > $TMP/ruleset.json
	"$KTRACE" dataplane -A -o json --nft-json $TMP/ruleset.json > $TMP/nftfile.json 2>&1 &&
		$CMP $TMP/expect.json $TMP/nftfile.json nftables > $TMP/nftfile.cmp 2>&1 &&
		pass "--nft-json file reconstructs every service" ||
		fail "--nft-json file reconstructs every service" "$(head -c 400 $TMP/nftfile.cmp $TMP/nftfile.json | tr '\n' '|')"
else
	fail nftables "nft -f failed: $(head -c 300 $TMP/nft.err | tr '\n' '|')"
fi
inode nft flush ruleset

# ---- Cilium BPF maps in a bpffs this test mounts ---------------------------
mkdir -p $BPF
if mount -t bpf bpf $BPF 2>/dev/null; then
	mkdir -p $BPF/tc/globals
	$GEN cilium --pin $BPF/tc/globals > $TMP/cilium.batch
	if bpftool batch file $TMP/cilium.batch > $TMP/bpftool.out 2>&1; then
		inode "$KTRACE" dataplane --from $TMP/bundle.json --live --node node-a --bpffs $BPF -A -o json --no-metrics > $TMP/cilium.json 2>$TMP/cilium.err
		$CMP $TMP/expect.json $TMP/cilium.json cilium > $TMP/cilium.cmp 2>&1 &&
			pass "cilium maps: every service reconstructed" ||
			fail "cilium maps: every service reconstructed" "$(head -c 500 $TMP/cilium.cmp $TMP/cilium.err | tr '\n' '|')"
	else
		fail "cilium maps" "bpftool batch failed: $(tail -n 3 $TMP/bpftool.out | tr '\n' '|')"
	fi
else
	skip cilium "cannot mount bpffs"
fi

# ---- IPVS -----------------------------------------------------------------
$GEN ipvsadm > $TMP/ipvs.txt
"$KTRACE" dataplane --from $TMP/bundle.json --ipvsadm $TMP/ipvs.txt --node node-a -A -o json --no-metrics > $TMP/ipvs.json 2>$TMP/ipvs.err
python3 - $TMP/ipvs.json <<'EOF' > $TMP/ipvs.cmp 2>&1 && pass "ipvsadm-save text: services, weights, persistence" || fail "ipvsadm-save text" "$(head -c 400 $TMP/ipvs.cmp $TMP/ipvs.err | tr '\n' '|')"
import json, sys
d = json.load(open(sys.argv[1]))
s = {(x["namespace"], x["name"], x["portName"]): x for x in d["services"]}
web = s[("shop", "web", "http")]
assert sorted(b["ip"] for b in web["backends"]) == ["10.244.1.11", "10.244.2.12", "10.244.3.13"], web
assert all(abs(b["probability"] - 1 / 3) < 1e-6 for b in web["backends"]), web
api = s[("shop", "api", "")]
assert api["affinity"]["timeoutSeconds"] == 10800, api
front = s[("shop", "front", "https")]
assert [b["ip"] for b in front["externalBackends"]] == ["10.244.1.21"], front
EOF
if [ -e /proc/net/ip_vs ]; then
	inode "$KTRACE" dataplane -A -o json --no-metrics > /dev/null 2>&1 && pass "live IPVS read" || fail "live IPVS read" "ktrace failed"
else
	skip "live IPVS" "kernel has no ip_vs (no /proc/net/ip_vs)"
fi
exit 0
