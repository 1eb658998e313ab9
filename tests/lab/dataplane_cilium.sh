#!/bin/sh
# Cilium Maglev and session-affinity state in a bpffs this test mounts.
# The fixture cluster's Cilium-layout LB maps (bench/kpgen.py cilium) get
# a Maglev outer map (cilium_lb4_maglev, HASH_OF_MAPS keyed by rev NAT id)
# whose inner ARRAY holds shop/web's lookup table (M = 251 slots split
# 126/84/41 over its three backends), and the affinity maps
# (cilium_lb4_affinity, cilium_lb_affinity_match) hold client pins for
# shop/api, one of them unmatched (the datapath ignores it). All created
# with bpftool. `ktrace dataplane --bpffs DIR` must report Maglev with
# the table's shares instead of equal shares, and the pinned clients per
# backend. Root only; the mount and netns are removed by the trap.
. "$(dirname "$0")/../lib.sh"
SUITE=dataplane-cilium
if ! need_root; then
	skip all "needs root (bpffs, BPF maps)"
	exit 0
fi
for t in bpftool python3 ip; do
	command -v $t >/dev/null 2>&1 || { skip all "$t not installed"; exit 0; }
done
GEN="python3 $TOP/bench/kpgen.py"
TMP=$(mktemp -d)
BPF=$TMP/bpffs
NODE=ktcil$$
cleanup() {
	ip netns del $NODE 2>/dev/null
	mountpoint -q "$BPF" 2>/dev/null && umount "$BPF"
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
mkdir -p $BPF
if ! mount -t bpf bpf $BPF 2>/dev/null; then
	skip all "cannot mount bpffs"
	exit 0
fi
ip netns add $NODE || { fail setup "cannot create netns"; exit 0; }
PIN=$BPF/tc/globals
mkdir -p $PIN
$GEN cilium --pin $PIN > $TMP/base.batch
$GEN bundle > $TMP/bundle.json
python3 - $TMP/base.batch $PIN > $TMP/extra.batch <<'PY'
import struct, sys
batch, pin = sys.argv[1], sys.argv[2]
svc = {}
for line in open(batch):
    w = line.split()
    if len(w) > 4 and w[3].endswith("cilium_lb4_services_v2") and w[0] == "map" and w[1] == "update":
        k = bytes(int(x, 16) for x in w[6:18]); v = bytes(int(x, 16) for x in w[20:32])
        svc[k] = v
def fe(ip, port, proto=6):
    a = bytes(int(x) for x in ip.split("."))
    master = svc[a + struct.pack(">HHBB", port, 0, proto, 0) + b"\0\0"]
    rev = master[6:8]
    ids = [struct.unpack("<I", svc[a + struct.pack(">H", port) + struct.pack("<H", s) + bytes([proto, 0]) + b"\0\0"][:4])[0]
           for s in range(1, struct.unpack("<H", master[4:6])[0] + 1)]
    return rev, ids
hx = lambda b: " ".join("%02x" % c for c in b)
rev, ids = fe("10.96.120.15", 80)
counts = [126, 84, 41]
lut = []
for i, c in zip(ids, counts):
    lut += [i] * c
lut = lut[0::2] + lut[1::2]  # interleave a little: order must not matter
M = len(lut)
print("map create %s/ktmaglev_inner type array key 4 value %d entries 1 name ktmaglev_in" % (pin, 4 * M))
print("map update pinned %s/ktmaglev_inner key hex 00 00 00 00 value hex %s" % (pin, hx(b"".join(struct.pack("<I", x) for x in lut))))
print("map create %s/cilium_lb4_maglev type hash_of_maps key 2 value 4 entries 64 name cilium_lb4_maglev inner_map pinned %s/ktmaglev_inner" % (pin, pin))
print("map update pinned %s/cilium_lb4_maglev key hex %s value pinned %s/ktmaglev_inner" % (pin, hx(rev), pin))
arev, aids = fe("10.96.50.5", 8080)
print("map create %s/cilium_lb4_affinity type lru_hash key 16 value 16 entries 1024 name cilium_lb4_affinity" % pin)
print("map create %s/cilium_lb_affinity_match type hash key 8 value 1 entries 1024 name cilium_lb_affinity_match" % pin)
for client, b in (("192.168.10.100", aids[0]), ("192.168.10.101", aids[0]), ("192.168.10.102", aids[1])):
    k = bytes(int(x) for x in client.split(".")) + b"\0" * 4 + arev + b"\0\0" + b"\0" * 4
    v = struct.pack("<QII", 12345, b, 0)
    print("map update pinned %s/cilium_lb4_affinity key hex %s value hex %s" % (pin, hx(k), hx(v)))
print("map update pinned %s/cilium_lb_affinity_match key hex %s value hex 00" % (pin, hx(struct.pack("<I", aids[0]) + arev + b"\0\0")))
PY
if ! bpftool batch file $TMP/base.batch > $TMP/bpftool.out 2>&1 || ! bpftool batch file $TMP/extra.batch >> $TMP/bpftool.out 2>&1; then
	fail "cilium maps" "bpftool batch failed: $(tail -n 3 $TMP/bpftool.out | tr '\n' '|')"
	exit 0
fi
pass "setup: Cilium LB, Maglev (hash_of_maps + inner array) and affinity maps pinned"
ip netns exec $NODE "$KTRACE" dataplane --from $TMP/bundle.json --live --node node-a --bpffs $BPF -A -o json --no-metrics \
	> $TMP/cilium.json 2> $TMP/cilium.err
python3 - $TMP/cilium.json <<'PY' > $TMP/cmp 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
s = {(x["namespace"], x["name"], x["portName"]): x for x in d["services"] if x["mode"] == "cilium"}
web = s[("shop", "web", "http")]
assert web.get("lbAlgorithm") == "maglev", web.get("lbAlgorithm")
got = {b["ip"]: (b["probability"], b.get("weight")) for b in web["backends"]}
want = {"10.244.1.11": (126 / 251, 126), "10.244.2.12": (84 / 251, 84), "10.244.3.13": (41 / 251, 41)}
assert set(got) == set(want) and all(abs(got[k][0] - want[k][0]) < 1e-6 and got[k][1] == want[k][1] for k in want), (got, want)
api = s[("shop", "api", "")]
assert api.get("lbAlgorithm") == "random", api.get("lbAlgorithm")
assert [b["probability"] for b in api["backends"]] == [0.5, 0.5], api["backends"]
pins = {b["ip"]: b.get("affinityClients", 0) for b in api["backends"]}
assert pins == {"10.244.1.31": 2, "10.244.3.32": 0}, pins
assert api["affinity"] == {"mode": "clientIP", "timeoutSeconds": 10800}, api["affinity"]
PY
if [ $? -eq 0 ]; then
	pass "cilium: Maglev lookup-table shares (126/84/41 of 251) and pinned affinity clients"
else
	fail "cilium: Maglev lookup-table shares and pinned affinity clients" "$(head -c 600 $TMP/cmp $TMP/cilium.err | tr '\n' '|')"
fi
exit 0
