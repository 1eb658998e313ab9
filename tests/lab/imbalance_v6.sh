#!/bin/sh
# Lab: an IPv6 Service. Network namespaces: a client, a "node" with
# kube-proxy-style ip6tables DNAT rules (ip6 nat: KUBE-SERVICES ->
# KUBE-SVC -> KUBE-SEP, statistic-mode probabilities) for lab/web6
# (ClusterIP fd00:96::10 port 80) and four IPv6 Pod namespaces
# (fd00:244:N::2 port 8080). One client holds persistent connections
# opened while the Service had fewer endpoints (5 -> web-1, 2 -> web-2,
# 1 -> web-3), short-lived ones come and go, then a 4th endpoint appears.
# The objects have no Pods (an EndpointSlices-only view, as with RBAC that
# cannot list Pods): the new endpoint's ready time comes from the slice's
# endpoints.kubernetes.io/last-change-trigger-time and the output says so.
# `ktrace imbalance --once -o json` per-backend counts must equal
# `conntrack -L -f ipv6`. Root only; bounded; cleans up after itself.
SUITE=lab-imbalance-v6
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"

lab_require "network namespaces, ip6tables, conntrack" ip ip6tables-restore conntrack python3 timeout
[ -d /proc/sys/net/ipv6 ] || { skip "lab" "IPv6 is disabled in this kernel"; exit 0; }

lab_init kt6 kt-imb6 4
VIP=fd00:96::10

cat > "$WORK/server.py" <<'EOF'
import socket, socketserver, sys
name = sys.argv[1]
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write((name + "\n").encode())
            self.wfile.flush()
class S(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
S(("::", 8080), H).serve_forever()
EOF
cat > "$WORK/hold.py" <<'EOF'
import socket, sys, time, signal
n = int(sys.argv[1]); out = sys.argv[2]
socks = []
with open(out, "w") as f:
    for i in range(n):
        s = socket.create_connection(("fd00:96::10", 80), timeout=5)
        s.sendall(b"hello\n")
        f.write(s.makefile().readline())
        socks.append(s)
    f.write("READY\n")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
EOF
cat > "$WORK/short.py" <<'EOF'
import socket, sys
ok = 0
for i in range(int(sys.argv[1])):
    try:
        s = socket.create_connection(("fd00:96::10", 80), timeout=3)
        s.sendall(b"x\n"); s.makefile().readline(); s.close(); ok += 1
    except OSError:
        pass
print(ok)
EOF
cat > "$WORK/rules.py" <<'EOF'
# kube-proxy iptables-mode rules (ip6tables) for lab/web6:http
import hashlib, base64, sys
spn, proto = "lab/web6:http", "tcp"
def h(s): return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:16]
svc = "KUBE-SVC-" + h(spn + proto)
eps = ["[fd00:244:%s::2]:8080" % i for i in sys.argv[1:]]
seps = ["KUBE-SEP-" + h(spn + proto + e) for e in eps]
print("*nat")
print(":KUBE-SERVICES - [0:0]")
print(":KUBE-MARK-MASQ - [0:0]")
print(":%s - [0:0]" % svc)
for s in seps: print(":%s - [0:0]" % s)
print('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000')
print('-A KUBE-SERVICES -d fd00:96::10/128 -p tcp -m comment --comment "%s cluster IP" -m tcp --dport 80 -j %s' % (spn, svc))
n = len(eps)
for i, (e, s) in enumerate(zip(eps, seps)):
    if n - i > 1:
        print('-A %s -m comment --comment "%s -> %s" -m statistic --mode random --probability %.11f -j %s' % (svc, spn, e, 1.0 / (n - i), s))
    else:
        print('-A %s -m comment --comment "%s -> %s" -j %s' % (svc, spn, e, s))
for e, s in zip(eps, seps):
    ip = e[1:].split("]")[0]
    print('-A %s -s %s/128 -m comment --comment "%s" -j KUBE-MARK-MASQ' % (s, ip, spn))
    print('-A %s -p tcp -m comment --comment "%s" -m tcp -j DNAT --to-destination %s' % (s, spn, e))
print("COMMIT")
EOF
cat > "$WORK/objects.py" <<'EOF'
# Service and EndpointSlice of lab/web6, no Pods (EndpointSlices-only
# view); the slice last changed when web-4 became ready, 5 s ago
import json, sys, time
now = time.time()
def ts(t): return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
n = int(sys.argv[1])
items = [{"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": "web6", "namespace": "lab", "creationTimestamp": ts(now - 7200)},
          "spec": {"type": "ClusterIP", "clusterIP": "fd00:96::10", "clusterIPs": ["fd00:96::10"],
                   "ipFamilies": ["IPv6"], "selector": {"app": "web6"},
                   "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}]
eps = [{"addresses": ["fd00:244:%d::2" % i], "conditions": {"ready": True, "serving": True, "terminating": False},
        "nodeName": "labnode", "targetRef": {"kind": "Pod", "namespace": "lab", "name": "web6-%d" % i}}
       for i in range(1, n + 1)]
items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "web6-abcde", "namespace": "lab", "labels": {"kubernetes.io/service-name": "web6"},
                           "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ts(now - 5)}},
              "addressType": "IPv6", "endpoints": eps,
              "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1))
EOF
cat > "$WORK/compare.py" <<'EOF'
# ktrace's JSON against `conntrack -L -f ipv6` for the Service's flows
import json, sys, collections, ipaddress
j = json.load(open(sys.argv[1]))
vip = ipaddress.ip_address("fd00:96::10")
est, tot = collections.Counter(), collections.Counter()
for line in open(sys.argv[2]):
    toks = line.split()
    kv = [t.split("=", 1) for t in toks if "=" in t]
    dsts = [v for k, v in kv if k == "dst"]; srcs = [v for k, v in kv if k == "src"]
    dports = [v for k, v in kv if k == "dport"]; sports = [v for k, v in kv if k == "sport"]
    if len(dsts) < 2 or len(sports) < 2 or ipaddress.ip_address(dsts[0]) != vip or dports[0] != "80":
        continue
    be = "%s:%s" % (ipaddress.ip_address(srcs[1]), sports[1])
    tot[be] += 1
    if "ESTABLISHED" in toks:
        est[be] += 1
svc = [s for s in j["services"] if s["namespace"] == "lab" and s["name"] == "web6"]
if not svc:
    print("no lab/web6 service in output"); sys.exit(1)
bad, seen = [], set()
for b in svc[0]["backends"]:
    k = "%s:%d" % (ipaddress.ip_address(b["ip"]), b["port"]); seen.add(k)
    if b["connections"] != est[k]: bad.append("%s established ktrace %d conntrack %d" % (k, b["connections"], est[k]))
    if b["total"] != tot[k]: bad.append("%s total ktrace %d conntrack %d" % (k, b["total"], tot[k]))
for k in tot:
    if k not in seen: bad.append("%s in conntrack (%d) but not in ktrace" % (k, tot[k]))
if not tot: bad.append("conntrack -L -f ipv6 shows no lab/web6 flows")
print("; ".join(bad) if bad else "equal: " + ", ".join("%s=%d/%d" % (k, est[k], tot[k]) for k in sorted(tot)))
sys.exit(1 if bad else 0)
EOF
cat > "$WORK/check.py" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); what = sys.argv[2]
svc = [s for s in j["services"] if s["namespace"] == "lab" and s["name"] == "web6"]
if not svc: print("no lab/web6"); sys.exit(1)
s = svc[0]; be = {b["ip"]: b for b in s["backends"]}
def need(c, msg):
    if not c: print(msg); sys.exit(1)
if what == "skew":
    c = [be.get("fd00:244:%d::2" % i, {}).get("connections") for i in (1, 2, 3, 4)]
    need(c == [5, 2, 1, 0], "connections per backend %s, want [5, 2, 1, 0]" % c)
    need(abs(s["imbalance"]["maxOverMean"] - 2.5) < 0.01, "maxOverMean %s, want 2.5" % s["imbalance"]["maxOverMean"])
    need("hot" in be["fd00:244:1::2"]["flags"], "web6-1 flags %s" % be["fd00:244:1::2"]["flags"])
    need(be["fd00:244:1::2"]["pod"] == "web6-1", "pod name from the slice's targetRef: %s" % be["fd00:244:1::2"]["pod"])
elif what == "starved":
    b4 = be["fd00:244:4::2"]
    need("starved" in b4["flags"], "web6-4 flags %s" % b4["flags"])
    need(b4["readySource"] == "endpointslice-trigger-time", "readySource %s" % b4["readySource"])
    need(b4["readyAgeSeconds"] is not None and 0 <= b4["readyAgeSeconds"] < 120, "readyAgeSeconds %s" % b4["readyAgeSeconds"])
    need(s["verdict"] == "KT403" and "last-change-trigger-time" in s["reason"], "verdict %s: %s" % (s["verdict"], s["reason"]))
    need(any(f["id"] == "KT403" and "last-change-trigger-time" in f["message"] for f in j["findings"]), "KT403 finding does not name the age source")
print("ok")
EOF

setup() {
	lab_netns || return 1
	nsx $NSN ip link add vc type veth peer name eth0 netns $NSC || return 1
	nsx $NSN ip -6 addr add fd00:77::1/64 dev vc nodad
	nsx $NSN ip link set vc up
	nsx $NSC ip -6 addr add fd00:77::2/64 dev eth0 nodad
	nsx $NSC ip link set eth0 up
	nsx $NSC ip -6 route add fd00:96::/112 via fd00:77::1
	for i in 1 2 3 4; do
		nsx $NSN ip link add vp$i type veth peer name eth0 netns ${P}p$i || return 1
		nsx $NSN ip -6 addr add fd00:244:$i::1/64 dev vp$i nodad
		nsx $NSN ip link set vp$i up
		nsx ${P}p$i ip -6 addr add fd00:244:$i::2/64 dev eth0 nodad
		nsx ${P}p$i ip link set eth0 up
		nsx ${P}p$i ip -6 route add default via fd00:244:$i::1
	done
	nsx $NSN sysctl -qw net.ipv6.conf.all.forwarding=1
	nsx $NSN ip6tables -t nat -N KUBE-SERVICES 2>/dev/null
	nsx $NSN ip6tables -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES || return 1
	nsx $NSN ip6tables -t nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	nsx $NSN sysctl -qw net.netfilter.nf_conntrack_acct=1 || return 1
	nsx $NSN sysctl -qw net.netfilter.nf_conntrack_timestamp=1 || return 1
	for i in 1 2 3 4; do
		ip netns exec ${P}p$i python3 "$WORK/server.py" web6-$i >/dev/null 2>&1 &
		PIDS="$PIDS $!"
	done
	return 0
}
rules() { python3 "$WORK/rules.py" "$@" | nsx $NSN ip6tables-restore -n; }

if ! setup; then fail "setup" "cannot build the IPv6 namespace lab"; exit 1; fi
up=0
for _ in $(seq 1 50); do
	n=0
	for i in 1 2 3 4; do nsx ${P}p$i python3 -c 'import socket; socket.create_connection(("::1", 8080), 1)' 2>/dev/null && n=$((n + 1)); done
	[ $n = 4 ] && { up=1; break; }
	sleep 0.1
done
[ $up = 1 ] || { fail "setup" "pod servers did not start"; exit 1; }
pass "setup"

phase() {
	rules "$@" || return 1
	ip netns exec $NSC python3 "$WORK/hold.py" "$HOLD" "$WORK/hold.$HOLD" >/dev/null 2>"$WORK/hold.err" &
	PIDS="$PIDS $!"
	wait_ready "$WORK/hold.$HOLD"
}
HOLD=5 phase 1 || { fail "persistent" "5 connections to web6-1: $(cat "$WORK/hold.err")"; exit 1; }
HOLD=2 phase 2 || { fail "persistent" "2 connections to web6-2"; exit 1; }
HOLD=1 phase 3 || { fail "persistent" "1 connection to web6-3"; exit 1; }
rules 1 2 3
ok=$(nsx $NSC timeout 60 python3 "$WORK/short.py" 30)
[ "${ok:-0}" -ge 25 ] && pass "short-lived IPv6 connections ($ok)" || fail "short-lived IPv6 connections" "only ${ok:-0} of 30 succeeded"
rules 1 2 3 4
nsx $NSC timeout 60 python3 "$WORK/short.py" 10 >/dev/null
python3 "$WORK/objects.py" 4 > "$WORK/objects.json"

J="$WORK/once.json"
nsx $NSN conntrack -L -f ipv6 > "$WORK/ct1.txt" 2>/dev/null
nsx $NSN timeout 30 "$KTRACE" imbalance --once -o json -i 0.2 --objects "$WORK/objects.json" --node labnode > "$J" 2>"$WORK/err"
rc=$?
nsx $NSN conntrack -L -f ipv6 > "$WORK/ct2.txt" 2>/dev/null
if [ $rc -ne 0 ] || ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$J" 2>/dev/null; then
	fail "once json" "exit $rc: $(head -c 400 "$WORK/err")"
	exit 1
fi
pass "once json"
if msg=$(python3 "$WORK/compare.py" "$J" "$WORK/ct2.txt" 2>&1); then
	pass "IPv6 counts equal conntrack -L -f ipv6 ($msg)"
elif msg1=$(python3 "$WORK/compare.py" "$J" "$WORK/ct1.txt" 2>&1); then
	pass "IPv6 counts equal conntrack -L -f ipv6 ($msg1)"
else
	fail "IPv6 counts equal conntrack -L -f ipv6" "$msg"
fi
for w in skew starved; do
	msg=$(python3 "$WORK/check.py" "$J" $w 2>&1) && pass "$w" || fail "$w" "$msg"
done
nsx $NSN timeout 30 "$KTRACE" imbalance --once -i 0.2 --objects "$WORK/objects.json" --node labnode svc/web6 -n lab > "$WORK/once.txt" 2>&1
if grep -q "\[fd00:244:4::2\]:8080 .* starved" "$WORK/once.txt" && grep -q "note: .*last-change-trigger-time" "$WORK/once.txt"; then
	pass "text output names the IPv6 backend and the ready-time source"
else
	fail "text output names the IPv6 backend and the ready-time source" "$(head -c 800 "$WORK/once.txt" | tr '\n' '|')"
fi
[ -n "$KT_LAB_OUT" ] && mkdir -p "$KT_LAB_OUT" && cp "$J" "$WORK/once.txt" "$WORK/ct2.txt" "$KT_LAB_OUT/"

# ---- IPv6 node sockets: a hostNetwork-style client in the node namespace
nsx $NSN ip -6 route add fd00:96::/112 dev vc
ip netns exec $NSN python3 "$WORK/hold.py" 3 "$WORK/node.hold" >/dev/null 2>"$WORK/hold.err" &
PIDS="$PIDS $!"
wait_ready "$WORK/node.hold" || { fail "IPv6 node client" "$(cat "$WORK/hold.err")"; exit 1; }
sleep 0.3
nsx $NSN ss -tni > "$WORK/ss.txt"
nsx $NSN conntrack -L -f ipv6 > "$WORK/ct3.txt" 2>/dev/null
nsx $NSN env KTRACE_NL_RECORD="$WORK/sd6.rec" timeout 30 "$KTRACE" imbalance --once -o json -i 0.2 --sockets \
	--objects "$WORK/objects.json" --node labnode > "$WORK/sk.json" 2>"$WORK/err"
if msg=$(python3 - "$WORK/sk.json" "$WORK/ss.txt" "$WORK/ct3.txt" <<'EOF2'
import json, re, sys, ipaddress, collections
j = json.load(open(sys.argv[1])); ss = open(sys.argv[2]).read().splitlines(); ct = open(sys.argv[3]).read()
be_of = {}
for line in ct.splitlines():
    src = re.findall(r"src=(\S+)", line); sp = re.findall(r"sport=(\d+)", line)
    if "dst=fd00:96::10 " in line and len(src) >= 2 and len(sp) >= 2:
        be_of[sp[0]] = (str(ipaddress.ip_address(src[1])), int(sp[1]))
want = collections.defaultdict(lambda: [0, 0, 0])
for i, l in enumerate(ss):
    f = l.split()
    if len(f) < 5 or f[0] != "ESTAB" or f[4] != "[fd00:96::10]:80":
        continue
    info = ss[i + 1] if i + 1 < len(ss) else ""
    acked = int((re.search(r"bytes_acked:(\d+)", info) or [0, 0])[1])
    recv = int((re.search(r"bytes_received:(\d+)", info) or [0, 0])[1])
    w = want[be_of[f[3].rsplit(":", 1)[1]]]; w[0] += 1; w[1] += acked; w[2] += recv
got = {}
for s in j["services"]:
    for b in s["backends"]:
        if b.get("sockets"):
            got[(str(ipaddress.ip_address(b["ip"])), b["port"])] = [b["sockets"]["connections"], b["sockets"]["bytesIn"], b["sockets"]["bytesOut"]]
ok = dict(want) == got and sum(v[0] for v in want.values()) == 3
print(("equal: " if ok else "differ: ktrace %s ss %s; " % (got, dict(want))) + ", ".join("[%s]:%d %s" % (k[0], k[1], v) for k, v in sorted(want.items())))
sys.exit(0 if ok else 1)
EOF2
); then pass "IPv6 node sockets equal ss -tni ($msg)"; else fail "IPv6 node sockets equal ss -tni" "$msg $(head -c 300 "$WORK/err")"; fi
[ -n "$KT_RECORD_SD" ] && cp -r "$WORK/sd6.rec" "$KT_RECORD_SD" && echo "recorded $KT_RECORD_SD"
exit 0
