#!/bin/sh
# IPVS-mode node objects and netlink record/replay. In a node netns this
# test builds what kube-proxy's IPVS mode leaves besides the virtual
# services: the dummy link kube-ipvs0 holding every Service VIP and the
# ipsets (created with the ipset tool, entries as kube-proxy writes them).
# This kernel has no ip_vs, so the virtual services come from an
# `ipvsadm-save -n` file (bench/kpgen.py ipvsadm); `ktrace dataplane
# --ipvsadm FILE` run inside the netns must fold the live addresses and
# sets into the services exactly (bound VIPs, Local policy, masquerade,
# LB source ranges, health-check port, hairpin), with the set or link as
# evidence. Then the same netns gets iptables-nft, nftables (ip and ip6)
# rules too, a live read is recorded with KTRACE_NL_RECORD and replayed
# with KTRACE_NL_REPLAY as an unprivileged user: the JSON must be identical.
# Root only; everything it creates is removed by the trap.
. "$(dirname "$0")/../lib.sh"
SUITE=dataplane-ipvs
if ! need_root; then
	skip all "needs root (network namespaces, ipsets)"
	exit 0
fi
for t in ip ipset iptables-restore nft python3; do
	command -v $t >/dev/null 2>&1 || { skip all "$t not installed (apt-get install $t)"; exit 0; }
done
GEN="python3 $TOP/bench/kpgen.py"
ID=$$
NODE=ktipvs$ID
TMP=$(mktemp -d)
chmod 755 "$TMP"
cleanup() {
	ip netns del $NODE 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
inode() { ip netns exec $NODE "$@"; }

ip netns add $NODE || { fail setup "cannot create netns"; exit 0; }
inode ip link set lo up
# kube-proxy uses a dummy link; kernels without the dummy driver get a
# bridge (the collector reads addresses by link name, whatever the type)
LINKTYPE=""
for t in dummy bridge; do
	inode ip link add kube-ipvs0 type $t 2>/dev/null && { LINKTYPE=$t; break; }
done
[ -n "$LINKTYPE" ] || { fail setup "cannot create kube-ipvs0 (no dummy or bridge driver)"; exit 0; }
for a in 10.96.0.1 10.96.0.10 10.96.50.5 10.96.60.6 198.51.100.7 10.96.200.7 203.0.113.10 10.96.120.15 10.96.99.99; do
	inode ip addr add $a/32 dev kube-ipvs0
done
cat > $TMP/ipset.restore <<'EOF'
create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
add KUBE-CLUSTER-IP 10.96.0.10,tcp:53
add KUBE-CLUSTER-IP 10.96.50.5,tcp:8080
add KUBE-CLUSTER-IP 10.96.60.6,tcp:80
add KUBE-CLUSTER-IP 10.96.200.7,tcp:443
add KUBE-CLUSTER-IP 10.96.120.15,tcp:80
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add KUBE-LOOP-BACK 10.244.1.11,tcp:8080,10.244.1.11
add KUBE-LOOP-BACK 10.244.1.21,tcp:8443,10.244.1.21
create KUBE-EXTERNAL-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-EXTERNAL-IP 198.51.100.7,tcp:80
create KUBE-EXTERNAL-IP-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER 203.0.113.10,tcp:443
create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-LOCAL 203.0.113.10,tcp:443
create KUBE-LOAD-BALANCER-FW hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-FW 203.0.113.10,tcp:443
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:443,198.51.100.0/24
add KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.10,tcp:443,192.0.2.128/25
create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip family inet hashsize 1024 maxelem 65536
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
add KUBE-NODE-PORT-TCP 31443
create KUBE-NODE-PORT-LOCAL-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-LOCAL-TCP 31443
create KUBE-NODE-PORT-UDP bitmap:port range 0-65535
create KUBE-NODE-PORT-LOCAL-UDP bitmap:port range 0-65535
create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535
add KUBE-HEALTH-CHECK-NODE-PORT 32001
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
add KUBE-IPVS-IPS 10.96.120.15
EOF
if ! inode ipset restore < $TMP/ipset.restore 2> $TMP/ipset.err; then
	fail setup "ipset restore: $(head -c 300 $TMP/ipset.err | tr '\n' '|')"
	exit 0
fi
pass "setup: kube-ipvs0 ($LINKTYPE) and kube-proxy ipsets in a netns"
$GEN ipvsadm > $TMP/ipvs.txt
$GEN bundle > $TMP/bundle.json

inode "$KTRACE" dataplane --from $TMP/bundle.json --ipvsadm $TMP/ipvs.txt --node node-a -A -o json --no-metrics \
	> $TMP/ipvs.json 2> $TMP/ipvs.err
python3 - $TMP/ipvs.json <<'EOF' > $TMP/ipvs.cmp 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
s = {(x["namespace"], x["name"], x["portName"], x["protocol"]): x for x in d["services"]}
def ev(x):
    return {(e["table"], e["chain"], e.get("mapKey")) for e in x["evidence"] if e["table"] in ("ipset", "link")}
def fe(x):
    return sorted((f["kind"], f["ip"], f["port"], f["backendSet"]) for f in x["frontends"])
bad = []
def want(cond, msg):
    if not cond:
        bad.append(msg)
front = s[("shop", "front", "https", "TCP")]
want(fe(front) == sorted([("clusterIP", "10.96.200.7", 443, "internal"), ("loadBalancer", "203.0.113.10", 443, "external"),
                          ("nodePort", "192.168.10.11", 31443, "external"), ("healthCheck", "", 32001, "external")]), "front frontends %s" % fe(front))
# IPVS has one NodePort virtual service per node address: the frontend keeps it
lbfe = [f for f in front["frontends"] if f["kind"] == "loadBalancer"]
want(lbfe and sorted(lbfe[0].get("sourceRanges", [])) == sorted(["198.51.100.0/24", "192.0.2.128/25"]),
     "front LB frontend sourceRanges %s" % (lbfe[0].get("sourceRanges") if lbfe else None))
want(front["localOnly"] is True and front["masquerade"] is False, "front Local policy, no masquerade")
want(front.get("sourceRanges") == ["198.51.100.0/24", "192.0.2.128/25"] or
     sorted(front.get("sourceRanges", [])) == sorted(["198.51.100.0/24", "192.0.2.128/25"]), "front sourceRanges %s" % front.get("sourceRanges"))
want([b["ip"] for b in front["externalBackends"]] == ["10.244.1.21"] and all(b["local"] for b in front["externalBackends"]), "front external backends")
want(ev(front) == {("link", "kube-ipvs0", "10.96.200.7/32"), ("link", "kube-ipvs0", "203.0.113.10/32"),
                   ("ipset", "KUBE-CLUSTER-IP", "10.96.200.7,tcp:443"),
                   ("ipset", "KUBE-LOAD-BALANCER", "203.0.113.10,tcp:443"),
                   ("ipset", "KUBE-LOAD-BALANCER-LOCAL", "203.0.113.10,tcp:443"),
                   ("ipset", "KUBE-LOAD-BALANCER-FW", "203.0.113.10,tcp:443"),
                   ("ipset", "KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.10,tcp:443,198.51.100.0/24"),
                   ("ipset", "KUBE-LOAD-BALANCER-SOURCE-CIDR", "203.0.113.10,tcp:443,192.0.2.128/25"),
                   ("ipset", "KUBE-NODE-PORT-TCP", "31443"), ("ipset", "KUBE-NODE-PORT-LOCAL-TCP", "31443"),
                   ("ipset", "KUBE-LOOP-BACK", "10.244.1.21,tcp:8443,10.244.1.21"),
                   ("ipset", "KUBE-HEALTH-CHECK-NODE-PORT", "32001")}, "front evidence %s" % sorted(ev(front)))
api = s[("shop", "api", "", "TCP")]
want(api["masquerade"] is True and api["localOnly"] is False, "api masquerade (NodePort, Cluster policy)")
want(ev(api) == {("link", "kube-ipvs0", "10.96.50.5/32"), ("ipset", "KUBE-CLUSTER-IP", "10.96.50.5,tcp:8080"),
                 ("ipset", "KUBE-NODE-PORT-TCP", "30080")}, "api evidence %s" % sorted(ev(api)))
want(api["affinity"] == {"mode": "clientIP", "timeoutSeconds": 10800}, "api affinity")
ext = s[("shop", "ext", "http", "TCP")]
want(ext["masquerade"] is True and ext["localOnly"] is False, "ext masquerade (externalIP, Cluster policy)")
want(("ipset", "KUBE-EXTERNAL-IP", "198.51.100.7,tcp:80") in ev(ext), "ext KUBE-EXTERNAL-IP evidence")
web = s[("shop", "web", "http", "TCP")]
want(ev(web) == {("link", "kube-ipvs0", "10.96.120.15/32"), ("ipset", "KUBE-CLUSTER-IP", "10.96.120.15,tcp:80"),
                 ("ipset", "KUBE-LOOP-BACK", "10.244.1.11,tcp:8080,10.244.1.11")}, "web evidence %s" % sorted(ev(web)))
want(web["masquerade"] is False and not web.get("sourceRanges"), "web: ClusterIP only, no masquerade")
dns = s[("kube-system", "kube-dns", "dns", "UDP")]
want(("ipset", "KUBE-CLUSTER-IP", "10.96.0.10,udp:53") in ev(dns), "kube-dns udp evidence")
want(any("10.96.99.99/32" in n and "kube-ipvs0" in n for n in d.get("notes", [])), "note for a bound VIP without virtual service")
want(len(d["services"]) == 7, "7 services, got %d" % len(d["services"]))
if bad:
    print("\n".join(bad)); sys.exit(1)
EOF
if [ $? -eq 0 ]; then
	pass "ipvs: kube-ipvs0 addresses and ipsets folded into every service (Local, masquerade, source ranges, hairpin, health check)"
else
	fail "ipvs: kube-ipvs0 addresses and ipsets folded into every service" "$(head -c 700 $TMP/ipvs.cmp $TMP/ipvs.err | tr '\n' '|')"
fi
# outside the netns (no kube-ipvs0, no KUBE-* sets) the file alone is read
"$KTRACE" dataplane --from $TMP/bundle.json --ipvsadm $TMP/ipvs.txt --node node-a -A -o json --no-metrics > $TMP/plain.json 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if not any(e["table"] in ("ipset","link") for s in d["services"] for e in s["evidence"]) else 1)' $TMP/plain.json 2>/dev/null &&
	pass "ipvs: no ipset evidence where the sets do not exist" ||
	fail "ipvs: no ipset evidence where the sets do not exist" "$(head -c 300 $TMP/plain.json | tr '\n' '|')"
if [ -e /proc/net/ip_vs ]; then
	inode "$KTRACE" dataplane -A -o json --no-metrics > /dev/null 2>&1 && pass "live IPVS read" || fail "live IPVS read" "ktrace failed"
else
	skip "live IPVS" "kernel has no ip_vs (no /proc/net/ip_vs): virtual services read from ipvsadm-save text only"
fi

# ---- record and replay ------------------------------------------------------
$GEN iptables > $TMP/rules.ipt
$GEN hooks > $TMP/hooks.ipt
$GEN nft > $TMP/rules.nft
python3 $TOP/tests/fixtures/dataplane/v6gen.py nft > $TMP/rules6.nft
python3 $TOP/tests/fixtures/dataplane/v6gen.py ip6tables > $TMP/rules6.ipt
if inode iptables-restore $TMP/rules.ipt && inode iptables-restore --noflush $TMP/hooks.ipt &&
	inode ip6tables-restore $TMP/rules6.ipt && inode nft -f $TMP/rules.nft && inode nft -f $TMP/rules6.nft; then
	mkdir -p $TMP/rec
	inode env KTRACE_NL_RECORD=$TMP/rec "$KTRACE" dataplane -A -o json --no-metrics > $TMP/live.json 2> $TMP/live.err
	chmod -R a+rX $TMP/rec
	nrec=$(ls $TMP/rec | wc -l)
	# replay: no root, no netns, no capabilities
	if command -v setpriv >/dev/null 2>&1; then
		RUN="setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all"
	else
		RUN=""
	fi
	(cd $TMP && $RUN env KTRACE_NL_REPLAY=$TMP/rec "$KTRACE" dataplane -A -o json --no-metrics) > $TMP/replay.json 2> $TMP/replay.err
	if [ -s $TMP/live.json ] && cmp -s $TMP/live.json $TMP/replay.json &&
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=set(d["modes"]); sys.exit(0 if {"iptables-nft","nftables"} <= m and len(d["services"]) >= 14 else 1)' $TMP/live.json; then
		pass "record ($nrec dumps) and unprivileged replay give identical dataplane -o json (iptables-nft, nftables ip/ip6, ipsets, rtnetlink)"
	else
		fail "record and unprivileged replay give identical dataplane -o json" \
			"$(diff $TMP/live.json $TMP/replay.json | head -c 400 | tr '\n' '|') $(head -c 200 $TMP/replay.err $TMP/live.err | tr '\n' '|')"
	fi
	# a replay without the recording is a gap, not a crash
	(cd $TMP && env KTRACE_NL_REPLAY=$TMP/none "$KTRACE" dataplane -A -o json --no-metrics) > $TMP/none.json 2> $TMP/none.err
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["services"]==[] else 1)' $TMP/none.json 2>/dev/null &&
		pass "replay of a missing recording: empty node, no crash" ||
		fail "replay of a missing recording: empty node, no crash" "$(head -c 300 $TMP/none.json | tr '\n' '|')"
else
	fail "record/replay setup" "loading rules failed"
fi
exit 0
