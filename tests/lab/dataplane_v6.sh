#!/bin/sh
# IPv6 Services in the lab: kube-proxy's ip6 rules for one IPv6 Service
# (tests/fixtures/dataplane/v6gen.py) loaded into a node netns with
# ip6tables-restore (nft backend, `ip6 nat`) and with nft -f (nftables mode,
# `ip6 kube-proxy`); `ktrace dataplane` must reconstruct the Service exactly
# in both modes, live and from the saved dumps (ip6tables-save, nft -j).
# Root only; the netns is removed by the trap.
. "$(dirname "$0")/../lib.sh"
SUITE=dataplane-v6
if ! need_root; then
	skip all "needs root (network namespaces, netfilter)"
	exit 0
fi
for t in ip ip6tables-restore ip6tables-save nft python3; do
	command -v $t >/dev/null 2>&1 || { skip all "$t not installed"; exit 0; }
done
V6="python3 $TOP/tests/fixtures/dataplane/v6gen.py"
NODE=ktv6n$$
TMP=$(mktemp -d)
cleanup() {
	ip netns del $NODE 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
inode() { ip netns exec $NODE "$@"; }
ip netns add $NODE || { fail setup "cannot create netns"; exit 0; }
$V6 ip6tables > $TMP/rules6.ipt
$V6 nft > $TMP/rules6.nft
$V6 expect > $TMP/expect.json

cmp6() { # NAME JSON MODE TABLE
	python3 - "$TMP/expect.json" "$2" "$3" "$4" <<'PY' > $TMP/$1.cmp 2>&1
import json, sys
want = json.load(open(sys.argv[1]))
d = json.load(open(sys.argv[2]))
mode, table = sys.argv[3], sys.argv[4]
svcs = [s for s in d["services"] if s["name"] == "web6"]
assert len(svcs) == 1, "want one shop/web6, got %d" % len(svcs)
s = svcs[0]
assert s["mode"] == mode, s["mode"]
for k in ("namespace", "portName", "protocol", "masquerade", "localOnly"):
    assert s[k] == want[k], (k, s[k], want[k])
fe = lambda l: sorted((f["kind"], f["ip"], f["port"], f["backendSet"]) for f in l)
assert fe(s["frontends"]) == fe(want["frontends"]), s["frontends"]
be = lambda l: [(b["ip"], b["port"], round(b["probability"], 6)) for b in l]
assert be(s["backends"]) == be(want["backends"]), s["backends"]
assert be(s["externalBackends"]) == be(want["externalBackends"]), s["externalBackends"]
assert s["affinity"]["mode"] == "none"
assert s["evidence"] and all(e["table"] == table for e in s["evidence"]), s["evidence"]
PY
}
check6() { # NAME MODE TABLE [ktrace args...]
	name=$1; mode=$2; table=$3; shift 3
	if "$@" > $TMP/$name.json 2> $TMP/$name.err && cmp6 $name $TMP/$name.json $mode "$table"; then
		pass "$name: IPv6 Service reconstructed exactly"
	else
		fail "$name: IPv6 Service reconstructed exactly" "$(head -c 500 $TMP/$name.cmp $TMP/$name.err | tr '\n' '|')"
	fi
}

if inode ip6tables-restore $TMP/rules6.ipt 2> $TMP/ipt.err; then
	check6 ip6tables-nft iptables-nft "ip6 nat" inode "$KTRACE" dataplane -A -o json --no-metrics
	inode ip6tables-save -t nat > $TMP/save6.txt
	check6 ip6tables-save iptables-nft "nat" "$KTRACE" dataplane -A -o json --iptables-save $TMP/save6.txt
else
	fail ip6tables-nft "ip6tables-restore failed: $(head -c 200 $TMP/ipt.err | tr '\n' '|')"
fi
inode nft flush ruleset
if inode nft -f $TMP/rules6.nft 2> $TMP/nft.err; then
	check6 nftables-ip6 nftables "ip6 kube-proxy" inode "$KTRACE" dataplane -A -o json --no-metrics
	inode nft -j list ruleset > $TMP/ruleset6.json
	check6 nft-json-ip6 nftables "ip6 kube-proxy" "$KTRACE" dataplane -A -o json --nft-json $TMP/ruleset6.json
else
	fail nftables-ip6 "nft -f failed: $(head -c 300 $TMP/nft.err | tr '\n' '|')"
fi
exit 0
