#!/bin/sh
# Dataplane fidelity lab: Services the node rejects or drops, a restricted
# nodePortAddresses and a loadBalancerSourceRanges Service, programmed
# exactly as kube-proxy writes them (tests/lab/kpfidelity.py: filter and
# nat tables for iptables-nft and iptables-legacy, the `ip kube-proxy`
# table for nftables mode) into a node network namespace. Real TCP
# connections from a client namespace (two source addresses) probe every
# frontend, and the test asserts that what the kernel did -- connection
# refused, dropped (the client times out and the node's conntrack table
# never confirmed the flow), reached Pod X, reached on address A but not
# on B, accepted only from the allowed range -- is what `ktrace dataplane`
# says (action, reason, frontends, sourceRanges), in each of the three
# modes. With the API objects (a bundle) `path` and `check` name the
# cause: KT502 for the named targetPort no container declares, the
# terminating-only endpoints, the traffic policies.
# Root only; everything it creates is removed by the trap (by name/PID).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"
SUITE=dataplane-fidelity
lab_require "network namespaces, netfilter, conntrack" ip iptables-restore iptables-legacy-restore nft python3 conntrack
lab_init ktfid ktfid 2
GEN="python3 $TOP/tests/lab/kpfidelity.py"
inode() { nsx $NSN "$@"; }

# ---- topology: client 10.77.0.2 + 10.77.0.200 (and 10.78.0.2) -- node
# 10.77.0.1 + 10.78.0.1 -- Pods 10.244.1.11 (node-a, this node) and
# 10.244.2.12 (node-b's, routed through here); a default route into a sink
# namespace that forwards nothing, so packets the rules do not DNAT are
# forwarded (and vanish there), not answered by the node's routing
NSS=${P}s
LAB_PODS="$LAB_PODS $NSS"
lab_netns || { fail topology "cannot create network namespaces"; exit 0; }
inode sysctl -qw net.ipv4.ip_forward=1
inode ip link add vc type veth peer name eth0 netns $NSC
inode ip addr add 10.77.0.1/24 dev vc
inode ip addr add 10.78.0.1/24 dev vc
inode ip link set vc up
nsx $NSC ip addr add 10.77.0.2/24 dev eth0
nsx $NSC ip addr add 10.77.0.200/24 dev eth0
nsx $NSC ip addr add 10.78.0.2/24 dev eth0
nsx $NSC ip link set eth0 up
nsx $NSC ip route add 10.96.0.0/12 via 10.77.0.1
nsx $NSC ip route add 203.0.113.0/24 via 10.77.0.1
inode ip link add kd0 type veth peer name eth0 netns $NSS
inode ip addr add 192.0.2.1/24 dev kd0
inode ip link set kd0 up
nsx $NSS sysctl -qw net.ipv4.ip_forward=0
nsx $NSS ip addr add 192.0.2.2/24 dev eth0
nsx $NSS ip link set eth0 up
inode ip route add default via 192.0.2.2
i=0
for pip in 10.244.1.11 10.244.2.12; do
	i=$((i + 1))
	p=${P}p$i
	inode ip link add vp$i type veth peer name eth0 netns $p
	inode ip addr add 169.254.1.1/32 dev vp$i
	inode ip link set vp$i up
	inode ip route add $pip/32 dev vp$i
	nsx $p ip addr add $pip/32 dev eth0
	nsx $p ip link set eth0 up
	nsx $p ip route add 169.254.1.1 dev eth0
	nsx $p ip route add default via 169.254.1.1
	ip netns exec $p timeout 300 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(64)
open(sys.argv[2], "w").write("READY")
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[1].encode()); c.close()
' $pip $WORK/ready$i &
	PIDS="$PIDS $!"
	wait_ready $WORK/ready$i || { fail topology "pod server $pip did not start"; exit 0; }
done
pass topology

$GEN iptables > $WORK/rules.ipt
$GEN hooks > $WORK/hooks.ipt
$GEN nft > $WORK/rules.nft
$GEN bundle > $WORK/bundle.json

# probe DST PORT [SRC]: what the kernel did with one new connection
cat > $WORK/probe.py <<'EOF'
import errno, json, socket, sys
out = {}
for spec in sys.argv[1:]:
    parts = spec.split(":")
    dst, port, src = parts[0], int(parts[1]), parts[2] if len(parts) > 2 else None
    s = socket.socket()
    s.settimeout(1.5)
    if src:
        s.bind((src, 0))
    try:
        s.connect((dst, port))
        out[spec] = "reached " + s.recv(64).decode()
    except ConnectionRefusedError:
        out[spec] = "refused"
    except socket.timeout:
        out[spec] = "timeout"
    except OSError as e:
        out[spec] = "error " + errno.errorcode.get(e.errno, str(e.errno))
    s.close()
json.dump(out, sys.stdout)
EOF
PROBES="10.96.120.15:80 10.77.0.1:30100 10.78.0.1:30100 10.96.10.1:80 10.77.0.1:30101 10.96.10.2:80 10.96.10.3:80
10.96.10.4:80 203.0.113.50:80 10.77.0.1:30104 10.96.10.5:80 203.0.113.60:80:10.77.0.2 203.0.113.60:80:10.77.0.200"

# check MODE: probe every frontend, read ktrace's view, compare both
check() {
	mode=$1
	inode conntrack -F >/dev/null 2>&1
	nsx $NSC python3 $WORK/probe.py $PROBES > $WORK/$mode.probe 2> $WORK/$mode.probe.err
	# flows the node confirmed (a drop in the filter hooks confirms none)
	inode conntrack -L -o extended 2>/dev/null > $WORK/$mode.ct
	if ! inode timeout 60 "$KTRACE" dataplane -A -o json --no-metrics > $WORK/$mode.json 2> $WORK/$mode.err; then
		fail "$mode: dataplane -o json" "$(head -c 300 $WORK/$mode.err | tr '\n' '|')"
		return
	fi
	python3 - $WORK/$mode.probe $WORK/$mode.json $WORK/$mode.ct $mode <<'EOF' > $WORK/$mode.cmp 2>&1
import json, sys
probe = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
ct = open(sys.argv[3]).read()
mode = sys.argv[4]
svc = {s["name"]: s for s in doc["services"] if s["namespace"] == "shop"}
res = []
def ok(cond, what):
    res.append(("PASS" if cond else "FAIL") + ": " + what)
def fe(name, kind=None, ip=None, port=None):
    for f in svc.get(name, {}).get("frontends", []):
        if (kind is None or f["kind"] == kind) and (ip is None or f["ip"] == ip) and (port is None or f["port"] == port):
            return f
    return None
def act(name, **k):
    f = fe(name, **k)
    return (f["action"], f.get("reason")) if f else None
def confirmed(dst, port):
    return ("dst=%s " % dst in ct) and ("dport=%d " % port in ct)
ext = "loadBalancer" if mode != "nftables" else "external"
p = probe
# web: reached a Pod, and the restricted NodePort only on 10.77.0.1
ok(p["10.96.120.15:80"].startswith("reached 10.244."), "web ClusterIP reaches a Pod (%s)" % p["10.96.120.15:80"])
ok(act("web", kind="clusterIP") == ("forward", None), "ktrace: web ClusterIP forwards")
ok(p["10.77.0.1:30100"].startswith("reached 10.244.") and p["10.78.0.1:30100"] == "refused",
   "kernel: NodePort reached on 10.77.0.1, refused on 10.78.0.1 (%s / %s)" % (p["10.77.0.1:30100"], p["10.78.0.1:30100"]))
nps = sorted((f["ip"], f["port"]) for f in svc["web"]["frontends"] if f["kind"] == "nodePort")
ok(nps == [("10.77.0.1", 30100)], "ktrace: web NodePort on 10.77.0.1 only (nodePortAddresses), got %s" % nps)
# no endpoints: refused, on the ClusterIP and the NodePort
ok(p["10.96.10.1:80"] == "refused" and p["10.77.0.1:30101"] == "refused", "kernel: noep refused (%s / %s)" % (p["10.96.10.1:80"], p["10.77.0.1:30101"]))
ok(act("noep", kind="clusterIP", ip="10.96.10.1") == ("reject", "no endpoints") and
   act("noep", kind="nodePort", port=30101) == ("reject", "no endpoints"), "ktrace: noep ClusterIP and NodePort reject (no endpoints)")
# every endpoint terminating and not serving: the same rules
ok(p["10.96.10.2:80"] == "refused", "kernel: drain refused (%s)" % p["10.96.10.2:80"])
ok(act("drain", kind="clusterIP") == ("reject", "no endpoints"), "ktrace: drain ClusterIP reject")
# internalTrafficPolicy Local, endpoint elsewhere: dropped
ok(p["10.96.10.3:80"] == "timeout" and not confirmed("10.96.10.3", 80), "kernel: itp dropped (%s, no conntrack entry)" % p["10.96.10.3:80"])
ok(act("itp", kind="clusterIP") == ("drop", "no local endpoints"), "ktrace: itp ClusterIP drop (no local endpoints)")
# externalTrafficPolicy Local, endpoint elsewhere: external dropped, ClusterIP reaches node-b's Pod
ok(p["10.96.10.4:80"] == "reached 10.244.2.12", "kernel: etp ClusterIP reaches 10.244.2.12 (%s)" % p["10.96.10.4:80"])
ok(p["203.0.113.50:80"] == "timeout" and not confirmed("203.0.113.50", 80) and p["10.77.0.1:30104"] == "timeout",
   "kernel: etp LB IP and NodePort dropped (%s / %s)" % (p["203.0.113.50:80"], p["10.77.0.1:30104"]))
ok(act("etp", kind=ext, ip="203.0.113.50") == ("drop", "no local endpoints") and
   act("etp", kind="nodePort", port=30104) == ("drop", "no local endpoints") and
   act("etp", kind="clusterIP") == ("forward", None) and [b["ip"] for b in svc["etp"]["backends"]] == ["10.244.2.12"],
   "ktrace: etp external frontends drop, ClusterIP forwards to 10.244.2.12")
# named targetPort no container declares: no endpoints for the port
ok(p["10.96.10.5:80"] == "refused", "kernel: named refused (%s)" % p["10.96.10.5:80"])
ok(act("named", kind="clusterIP") == ("reject", "no endpoints"), "ktrace: named ClusterIP reject")
# loadBalancerSourceRanges 10.77.0.0/25
ok(p["203.0.113.60:80:10.77.0.2"] == "reached 10.244.1.11" and p["203.0.113.60:80:10.77.0.200"] == "timeout",
   "kernel: lbsrc reached from 10.77.0.2, dropped from 10.77.0.200 (%s / %s)" % (p["203.0.113.60:80:10.77.0.2"], p["203.0.113.60:80:10.77.0.200"]))
lb = fe("lbsrc", kind=ext, ip="203.0.113.60")
ok(lb and lb.get("sourceRanges") == ["10.77.0.0/25"] and lb["action"] == "forward",
   "ktrace: lbsrc LB frontend sourceRanges [10.77.0.0/25] (got %s)" % (lb.get("sourceRanges") if lb else None))
ok(fe("lbsrc", kind="nodePort") and not fe("lbsrc", kind="nodePort").get("sourceRanges"), "ktrace: NodePorts are not subject to source ranges")
print("\n".join(res))
EOF
	while IFS= read -r line; do
		case "$line" in
		PASS:*) pass "$mode: ${line#PASS: }" ;;
		FAIL:*) fail "$mode: ${line#FAIL: }" "$(head -c 300 $WORK/$mode.probe | tr '\n' ' ')" ;;
		*) fail "$mode: compare" "$line" ;;
		esac
	done < $WORK/$mode.cmp
}

# with the API objects: path and check name the causes. The node's state
# (read live with the objects) goes into a copy of the bundle, as `ktrace
# collect` stores it, and path / check / dataplane read that bundle.
explain() {
	mode=$1
	inode "$KTRACE" dataplane --from $WORK/bundle.json --live --node node-a -A -o json --no-metrics > $WORK/$mode.dpobj 2>&1
	python3 - $WORK/bundle.json $WORK/$mode.dpobj $WORK/$mode.bundle <<'EOF2'
import json, sys
b = json.load(open(sys.argv[1]))
b["nodes"] = [json.load(open(sys.argv[2]))]
json.dump(b, open(sys.argv[3], "w"))
EOF2
	"$KTRACE" path shop/named --from $WORK/$mode.bundle > $WORK/$mode.path 2>&1
	grep -q "REJECT" $WORK/$mode.path && grep -q "KT502" $WORK/$mode.path &&
		pass "$mode: path shop/named shows the reject and KT502" ||
		fail "$mode: path shop/named shows the reject and KT502" "$(head -c 600 $WORK/$mode.path | tr '\n' '|')"
	# the restricted NodePort: path names the one address the kernel accepted it on
	"$KTRACE" path shop/web --from $WORK/$mode.bundle > $WORK/$mode.pathweb 2>&1
	grep -q "NodePort on node node-a: 10.77.0.1:30100 " $WORK/$mode.pathweb && ! grep -q "any node IP" $WORK/$mode.pathweb &&
		! grep -q "10.78.0.1" $WORK/$mode.pathweb &&
		pass "$mode: path shop/web shows the NodePort on 10.77.0.1 only" ||
		fail "$mode: path shop/web shows the NodePort on 10.77.0.1 only" "$(head -c 600 $WORK/$mode.pathweb | tr '\n' '|')"
	"$KTRACE" dataplane shop/drain --from $WORK/$mode.bundle --node node-a > $WORK/$mode.drain 2>&1
	grep -q "terminating" $WORK/$mode.drain &&
		pass "$mode: dataplane shop/drain explains the terminating endpoints" ||
		fail "$mode: dataplane shop/drain explains the terminating endpoints" "$(head -c 400 $WORK/$mode.drain | tr '\n' '|')"
	"$KTRACE" check --from $WORK/$mode.bundle -o json > $WORK/$mode.check 2>&1
	python3 - $WORK/$mode.check <<'EOF2' > $WORK/$mode.checkcmp 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
f = [(x["id"], x["object"]["name"]) for x in d["findings"]]
assert ("KT502", "named") in f, f
EOF2
	[ $? -eq 0 ] && pass "$mode: check reports KT502 for shop/named" ||
		fail "$mode: check reports KT502 for shop/named" "$(head -c 400 $WORK/$mode.checkcmp | tr '\n' '|')"
}

# ---- iptables-nft ----------------------------------------------------------
if inode iptables-restore $WORK/rules.ipt 2> $WORK/ipt.err && inode iptables-restore --noflush $WORK/hooks.ipt 2>> $WORK/ipt.err; then
	check iptables-nft
	explain iptables-nft
	inode iptables-save > $WORK/save.txt
	"$KTRACE" dataplane -A -o json --iptables-save $WORK/save.txt > $WORK/file.json 2>&1 &&
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s={x["name"]: x for x in d["services"]}; sys.exit(0 if [f["action"] for f in s["itp"]["frontends"]] == ["drop"] and s["lbsrc"]["sourceRanges"] == ["10.77.0.0/25"] else 1)' $WORK/file.json &&
		pass "iptables-save file (filter + nat): same actions and ranges" ||
		fail "iptables-save file (filter + nat): same actions and ranges" "$(head -c 300 $WORK/file.json | tr '\n' '|')"
else
	fail iptables-nft "iptables-restore failed: $(head -c 300 $WORK/ipt.err | tr '\n' '|')"
fi
inode nft flush ruleset

# ---- iptables-legacy -------------------------------------------------------
if inode iptables-legacy-restore $WORK/rules.ipt 2> $WORK/leg.err && inode iptables-legacy-restore --noflush $WORK/hooks.ipt 2>> $WORK/leg.err; then
	check iptables-legacy
	explain iptables-legacy
	grep -q '"iptables-legacy"' $WORK/iptables-legacy.json && pass "iptables-legacy: mode detected" ||
		fail "iptables-legacy: mode detected" "$(head -c 200 $WORK/iptables-legacy.json)"
	for t in nat filter; do inode iptables-legacy -t $t -F; inode iptables-legacy -t $t -X; done
else
	skip iptables-legacy "iptables-legacy-restore failed: $(head -c 200 $WORK/leg.err)"
fi

# ---- nftables mode ---------------------------------------------------------
inode nft flush ruleset
if inode nft -f $WORK/rules.nft 2> $WORK/nft.err; then
	check nftables
	explain nftables
	inode nft -j list ruleset > $WORK/ruleset.json
	"$KTRACE" dataplane -A -o json --nft-json $WORK/ruleset.json > $WORK/nftfile.json 2>&1 &&
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s={x["name"]: x for x in d["services"]}; lb=[f for f in s["lbsrc"]["frontends"] if f["kind"]=="external"]; sys.exit(0 if lb and lb[0]["sourceRanges"] == ["10.77.0.0/25"] and [f["action"] for f in s["itp"]["frontends"]] == ["drop"] and [f["ip"] for f in s["web"]["frontends"] if f["kind"]=="nodePort"] == ["10.77.0.1"] else 1)' $WORK/nftfile.json &&
		pass "nft -j file: same actions, ranges and NodePort addresses" ||
		fail "nft -j file: same actions, ranges and NodePort addresses" "$(head -c 400 $WORK/nftfile.json | tr '\n' '|')"
	# with the API objects the external address is labelled exactly
	inode "$KTRACE" dataplane shop/etp --from $WORK/bundle.json --live --node node-a -o json --no-metrics > $WORK/nftobj.json 2>&1
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); k=[f["kind"] for s in d["services"] for f in s["frontends"] if f["ip"]=="203.0.113.50"]; sys.exit(0 if k == ["loadBalancer"] else 1)' $WORK/nftobj.json &&
		pass "nftables: with API objects the external address is a loadBalancer frontend" ||
		fail "nftables: with API objects the external address is a loadBalancer frontend" "$(head -c 300 $WORK/nftobj.json | tr '\n' '|')"
else
	fail nftables "nft -f failed: $(head -c 300 $WORK/nft.err | tr '\n' '|')"
fi
inode nft flush ruleset
exit 0
