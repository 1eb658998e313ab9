#!/bin/sh
# Lab: the Cilium CT path. Builds Cilium-shaped pinned maps in a private
# bpffs (cilium_lb4_reverse_nat, cilium_lb4_backends_v3, cilium_ct4_global
# with the documented key/value sizes) filled with service (SVC) entries
# skewed 7/2/1 plus entries that must be ignored, then checks that
# `ktrace imbalance --once -o json --bpffs DIR` (in an empty network
# namespace, so conntrack adds nothing) joins them through revNAT and
# backend ids. Root only; unmounts and deletes everything it made.
SUITE=lab-imbalance-cilium
. "$(dirname "$0")/../lib.sh"

if ! need_root; then skip "lab" "needs root (bpffs, BPF maps)"; exit 0; fi
for t in bpftool ip python3 mount umount; do
	command -v "$t" >/dev/null 2>&1 || { skip "lab" "$t is not installed"; exit 0; }
done
WORK=$(mktemp -d /tmp/kt-cil.XXXXXX)
NS=ktc$$
D=$WORK/bpffs
cleanup() {
	umount "$D" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mkdir -p "$D"
if ! mount -t bpf bpf "$D" 2>"$WORK/err"; then skip "lab" "cannot mount a bpffs: $(cat "$WORK/err")"; exit 0; fi
G=$D/tc/globals
mkdir -p "$G"
mk() { bpftool map create "$G/$1" type "$2" key "$3" value "$4" entries 4096 name "$5" 2>>"$WORK/err"; }
if ! mk cilium_lb4_reverse_nat hash 2 6 cilium_lb4_rever || ! mk cilium_lb4_backends_v3 hash 4 12 cilium_lb4_backe ||
	! mk cilium_ct4_global lru_hash 14 56 cilium_ct4_globa; then
	skip "lab" "cannot create BPF maps: $(head -c 200 "$WORK/err")"
	exit 0
fi
# map contents as bpftool batch commands
python3 - "$G" > "$WORK/batch" <<'EOF'
import sys, struct, socket
g = sys.argv[1]
def hx(b): return " ".join("%02x" % x for x in b)
def up(m, k, v): print("map update pinned %s/%s key hex %s value hex %s" % (g, m, hx(k), hx(v)))
ip = lambda s: socket.inet_aton(s)
# revNAT 7 -> 10.96.0.10:80 (key and value in network order)
up("cilium_lb4_reverse_nat", struct.pack(">H", 7), ip("10.96.0.10") + struct.pack(">H", 80))
# backends 1..3 (host-order u32 id) -> 10.244.N.2:8080/TCP
for i in (1, 2, 3):
    up("cilium_lb4_backends_v3", struct.pack("<I", i), ip("10.244.%d.2" % i) + struct.pack(">HBBHBB", 8080, 6, 0, 0, 0, 0))
def ct(client_port, backend, closing=False, flags=4, nexthdr=6):
    key = ip("10.1.0.5") + ip("10.96.0.10") + struct.pack(">HH", 80, client_port) + bytes([nexthdr, flags])
    val = struct.pack("<QQQQIHH", 0, backend, 10, 1500, 100000, 3 if closing else 0x10, 0) + bytes(16)
    val = val[:38] + struct.pack(">H", 7) + val[40:]
    up("cilium_ct4_global", key, val)
p = 40000
for b, n in ((1, 7), (2, 2), (3, 1)):
    for _ in range(n):
        ct(p, b); p += 1
ct(p, 1, closing=True); p += 1           # closing: counted in total only
ct(p, 1, flags=0); p += 1                # OUT entry: not a service entry
ct(p, 9); p += 1                         # unknown backend id: a gap, not a row
EOF
if ! bpftool batch file "$WORK/batch" >/dev/null 2>"$WORK/err"; then
	fail "maps" "bpftool batch: $(head -c 300 "$WORK/err")"
	exit 1
fi
pass "maps"
python3 - > "$WORK/objects.json" <<'EOF'
import json
items = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "lab"},
          "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
                   "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}},
         {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
          "metadata": {"name": "web-x", "namespace": "lab", "labels": {"kubernetes.io/service-name": "web"}},
          "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
          "endpoints": [{"addresses": ["10.244.%d.2" % i], "conditions": {"ready": True}} for i in (1, 2, 3)]}]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
EOF
ip netns add "$NS" || { fail "netns" "cannot create"; exit 1; }
ip netns exec "$NS" timeout 20 "$KTRACE" imbalance --once -o json -i 0.1 --objects "$WORK/objects.json" --bpffs "$D" --node cil > "$WORK/o.json" 2>"$WORK/err"
rc=$?
[ $rc = 0 ] && pass "once json" || { fail "once json" "exit $rc: $(head -c 300 "$WORK/err")"; exit 1; }
msg=$(python3 - "$WORK/o.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert "cilium-ct" in j["source"], j["source"]
s = [x for x in j["services"] if x["name"] == "web"]
assert s, "no lab/web"
s = s[0]
got = {b["ip"]: (b["connections"], b["total"]) for b in s["backends"]}
want = {"10.244.1.2": (7, 8), "10.244.2.2": (2, 2), "10.244.3.2": (1, 1)}
assert got == want, got
assert abs(s["imbalance"]["maxOverMean"] - 2.1) < 0.01, s["imbalance"]
assert s["verdict"] == "KT402", s["verdict"]
assert any("revNAT or backend" in g["why"] for g in j["gaps"]), j["gaps"]
print("ok")
EOF
) && pass "service entries joined via revNAT and backend ids" || fail "service entries joined via revNAT and backend ids" "$msg"
exit 0
