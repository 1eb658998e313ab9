#!/bin/sh
# Lab: sockets the node itself originates and terminates (inet_diag,
# `ktrace imbalance --sockets`). Network namespaces: a "node" with
# kube-proxy-style iptables DNAT rules (PREROUTING and OUTPUT) for
#   lab/web      ClusterIP 10.96.0.10:80 -> three Pod namespaces :8080
#   lab/hostnet  ClusterIP 10.96.0.20:80 -> the node's own 10.77.0.1:30080
#                (a hostNetwork backend listening in the node namespace)
# A hostNetwork-style client in the node namespace holds persistent
# connections to lab/web's ClusterIP (each sends a different amount), and
# a client namespace holds connections to lab/hostnet, served by the
# node's socket on :30080. Per backend, ktrace's inet_diag numbers
# (backends[].sockets: connections, bytesIn, bytesOut) must equal what
# `ss -tni` shows for the same sockets (client sockets mapped to their
# backend through `conntrack -L`, as the kernel's DNAT chose it).
# Root only; bounded; cleans up every namespace and process it started.
SUITE=lab-imbalance-sockets
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"

lab_require "network namespaces, iptables, conntrack" ip iptables-restore conntrack ss python3 timeout
lab_init kts kt-imbs 3

cat > "$WORK/server.py" <<'EOF'
# echo-ish server: answers every line with NAME and the line's length
import socketserver, sys
name, port = sys.argv[1], int(sys.argv[2])
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(("%s %d %s\n" % (name, len(line), "y" * (len(line) * 3))).encode())
            self.wfile.flush()
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", port), H).serve_forever()
EOF
cat > "$WORK/hold.py" <<'EOF'
# N persistent connections to VIP:PORT; connection i sends i+1 lines of
# 100*(i+1) bytes and reads the answers; then holds them open
import socket, sys, time, signal
vip, port, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
socks = []
for i in range(n):
    s = socket.create_connection((vip, port), timeout=5)
    f = s.makefile("rb")
    for _ in range(i + 1):
        s.sendall(b"x" * (100 * (i + 1)) + b"\n")
        f.readline()
    socks.append((s, f))
open(out, "w").write("READY\n")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
EOF
cat > "$WORK/rules.py" <<'EOF'
# kube-proxy iptables-mode rules for two Services
import hashlib, base64
def h(s): return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:16]
svcs = [("lab/web:http", "10.96.0.10", 80, ["10.244.%d.2:8080" % i for i in (1, 2, 3)]),
        ("lab/hostnet:http", "10.96.0.20", 80, ["10.77.0.1:30080"])]
print("*nat")
print(":KUBE-SERVICES - [0:0]")
print(":KUBE-MARK-MASQ - [0:0]")
body = ['-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000']
for spn, vip, port, eps in svcs:
    svc = "KUBE-SVC-" + h(spn + "tcp")
    seps = ["KUBE-SEP-" + h(spn + "tcp" + e) for e in eps]
    print(":%s - [0:0]" % svc)
    for s in seps: print(":%s - [0:0]" % s)
    body.append('-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment "%s cluster IP" -m tcp --dport %d -j %s' % (vip, spn, port, svc))
    n = len(eps)
    for i, (e, s) in enumerate(zip(eps, seps)):
        if n - i > 1:
            body.append('-A %s -m comment --comment "%s -> %s" -m statistic --mode random --probability %.11f -j %s' % (svc, spn, e, 1.0 / (n - i), s))
        else:
            body.append('-A %s -m comment --comment "%s -> %s" -j %s' % (svc, spn, e, s))
    for e, s in zip(eps, seps):
        body.append('-A %s -s %s/32 -m comment --comment "%s" -j KUBE-MARK-MASQ' % (s, e.split(":")[0], spn))
        body.append('-A %s -p tcp -m comment --comment "%s" -m tcp -j DNAT --to-destination %s' % (s, spn, e))
print("\n".join(body))
print("COMMIT")
EOF
cat > "$WORK/objects.py" <<'EOF'
import json, time
now = time.time()
def ts(t): return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
items = []
def svc(name, ip, tport, eps):
    items.append({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": "lab", "creationTimestamp": ts(now - 7200)},
                  "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "selector": {"app": name},
                           "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": tport}]}})
    rows = []
    for pod, addr, host in eps:
        items.append({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": pod, "namespace": "lab", "labels": {"app": name}, "creationTimestamp": ts(now - 7300)},
                      "spec": {"nodeName": "labnode", "hostNetwork": host,
                               "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": tport, "name": "http"}]}]},
                      "status": {"phase": "Running", "podIP": addr, "podIPs": [{"ip": addr}], "startTime": ts(now - 7300),
                                 "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ts(now - 7200)}]}})
        rows.append({"addresses": [addr], "conditions": {"ready": True, "serving": True, "terminating": False},
                     "nodeName": "labnode", "targetRef": {"kind": "Pod", "namespace": "lab", "name": pod}})
    items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": name + "-abcde", "namespace": "lab", "labels": {"kubernetes.io/service-name": name}},
                  "addressType": "IPv4", "endpoints": rows, "ports": [{"name": "http", "port": tport, "protocol": "TCP"}]})
svc("web", "10.96.0.10", 8080, [("web-%d" % i, "10.244.%d.2" % i, False) for i in (1, 2, 3)])
svc("hostnet", "10.96.0.20", 30080, [("hostnet-1", "10.77.0.1", True)])
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1))
EOF
cat > "$WORK/compare.py" <<'EOF'
# ktrace's backends[].sockets against `ss -tni` (+ `conntrack -L` for the
# backend a node client's ClusterIP connection was DNAT'ed to)
import json, re, sys, collections
j = json.load(open(sys.argv[1])); ss = open(sys.argv[2]).read(); ct = open(sys.argv[3]).read()
# backend of each node-originated connection: orig sport -> reply src:sport
be_of = {}
for line in ct.splitlines():
    if "dst=10.96.0.10 " not in line:
        continue
    src = re.findall(r"src=(\S+)", line); sp = re.findall(r"sport=(\d+)", line)
    if len(src) >= 2 and len(sp) >= 2:
        be_of[sp[0]] = "%s:%s" % (src[1], sp[1])
want = collections.defaultdict(lambda: [0, 0, 0])   # (service, backend) -> [conns, in, out]
lines = ss.splitlines()
for i, l in enumerate(lines):
    f = l.split()
    if len(f) < 5 or f[0] != "ESTAB":
        continue
    local, peer = f[3], f[4]
    info = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith(("\t", " ")) else ""
    acked = int((re.search(r"bytes_acked:(\d+)", info) or [0, 0])[1])
    recv = int((re.search(r"bytes_received:(\d+)", info) or [0, 0])[1])
    lport = local.rsplit(":", 1)[1]
    if peer == "10.96.0.10:80":               # node client of lab/web
        be = be_of.get(lport)
        if not be:
            print("no conntrack entry for local port %s" % lport); sys.exit(1)
        w = want[("web", be)]; w[0] += 1; w[1] += acked; w[2] += recv
    elif lport == "30080":                    # node server of lab/hostnet
        w = want[("hostnet", "10.77.0.1:30080")]; w[0] += 1; w[1] += recv; w[2] += acked
got = {}
for s in j["services"]:
    for b in s["backends"]:
        sk = b.get("sockets")
        if sk:
            got[(s["name"], "%s:%d" % (b["ip"], b["port"]))] = [sk["connections"], sk["bytesIn"], sk["bytesOut"]]
bad = ["%s/%s ktrace %s ss %s" % (k[0], k[1], got.get(k), v) for k, v in want.items() if got.get(k) != v]
bad += ["%s/%s ktrace %s, not in ss" % (k[0], k[1], v) for k, v in got.items() if k not in want and v[0]]
webs = [k for k in want if k[0] == "web"]
if not webs or ("hostnet", "10.77.0.1:30080") not in want:
    bad.append("ss shows too few lab sockets: %s" % dict(want))
if len(sys.argv) > 4:
    print(";".join("%s/%s=%d/%d/%d" % (k[0], k[1], v[0], v[1], v[2]) for k, v in sorted(want.items())))
    sys.exit(0)
print("; ".join(bad) if bad else "equal: " + ", ".join("%s/%s conns %d in %d out %d" % (k[0], k[1], v[0], v[1], v[2]) for k, v in sorted(want.items())))
sys.exit(1 if bad else 0)
EOF

setup() {
	lab_netns || return 1
	lab_links4 || return 1
	# the node's own route to Service addresses (OUTPUT DNAT re-routes)
	nsx $NSN ip route add 10.96.0.0/12 dev vc
	nsx $NSN sysctl -qw net.ipv4.ip_forward=1
	python3 "$WORK/rules.py" | nsx $NSN iptables-restore -n || return 1
	nsx $NSN iptables -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	nsx $NSN iptables -t nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	for i in 1 2 3; do
		ip netns exec ${P}p$i python3 "$WORK/server.py" web-$i 8080 >/dev/null 2>&1 &
		PIDS="$PIDS $!"
	done
	ip netns exec $NSN python3 "$WORK/server.py" hostnet-1 30080 >/dev/null 2>&1 &
	PIDS="$PIDS $!"
	return 0
}

if ! setup; then fail "setup" "cannot build the namespace lab"; exit 1; fi
up=0
for _ in $(seq 1 50); do
	n=0
	for i in 1 2 3; do nsx ${P}p$i python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8080), 1)' 2>/dev/null && n=$((n + 1)); done
	nsx $NSN python3 -c 'import socket; socket.create_connection(("127.0.0.1", 30080), 1)' 2>/dev/null && n=$((n + 1))
	[ $n = 4 ] && { up=1; break; }
	sleep 0.1
done
[ $up = 1 ] || { fail "setup" "servers did not start"; exit 1; }
pass "setup"

# node-originated: hostNetwork-style client in the node namespace -> lab/web
ip netns exec $NSN python3 "$WORK/hold.py" 10.96.0.10 80 9 "$WORK/node.ready" >/dev/null 2>"$WORK/hold1.err" &
PIDS="$PIDS $!"
# node-terminated: client namespace -> lab/hostnet -> the node's :30080
ip netns exec $NSC python3 "$WORK/hold.py" 10.96.0.20 80 4 "$WORK/ext.ready" >/dev/null 2>"$WORK/hold2.err" &
PIDS="$PIDS $!"
if ! wait_ready "$WORK/node.ready" || ! wait_ready "$WORK/ext.ready"; then
	fail "connections" "clients did not connect: $(cat "$WORK/hold1.err" "$WORK/hold2.err" | tail -3 | tr '\n' '|')"
	exit 1
fi
pass "connections (9 node -> ClusterIP, 4 -> node :30080)"
python3 "$WORK/objects.py" > "$WORK/objects.json"
sleep 0.5   # let the last ACKs land: byte counters are then still

# ss and conntrack before and after ktrace: an idle lab gives the same
# answer, and ktrace must equal it
snap() { nsx $NSN ss -tni > "$WORK/ss$1.txt"; nsx $NSN conntrack -L > "$WORK/ct$1.txt" 2>/dev/null; }
J="$WORK/once.json"
snap 1
nsx $NSN env KTRACE_NL_RECORD="$WORK/sd.rec" timeout 30 "$KTRACE" imbalance --once -o json -i 0.2 --sockets \
	--objects "$WORK/objects.json" --node labnode > "$J" 2>"$WORK/err"
rc=$?
snap 2
if [ $rc -ne 0 ] || ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$J" 2>/dev/null; then
	fail "once json --sockets" "exit $rc: $(head -c 400 "$WORK/err")"
	exit 1
fi
pass "once json --sockets"
if msg=$(python3 "$WORK/compare.py" "$J" "$WORK/ss2.txt" "$WORK/ct2.txt" 2>&1); then
	pass "per-backend sockets equal ss -tni ($msg)"
elif msg1=$(python3 "$WORK/compare.py" "$J" "$WORK/ss1.txt" "$WORK/ct1.txt" 2>&1); then
	pass "per-backend sockets equal ss -tni ($msg1)"
else
	fail "per-backend sockets equal ss -tni" "$msg"
fi
# node clients were resolved to Pod backends, not counted against the ClusterIP
if python3 - "$J" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
web = [s for s in j["services"] if s["name"] == "web"][0]
ips = [b["ip"] for b in web["backends"] if b.get("sockets")]
bad = [ip for ip in ips if not ip.startswith("10.244.")] + [b["ip"] for b in web["backends"] if "unknown" in b["flags"]]
n = sum(b["sockets"]["connections"] for b in web["backends"] if b.get("sockets"))
sys.exit(1 if bad or n != 9 else 0)
EOF
then pass "node clients resolved to their backends through conntrack"; else fail "node clients resolved to their backends through conntrack" "$(head -c 600 "$J")"; fi

# the recording replays to the same socket numbers without root
KTRACE_NL_REPLAY="$WORK/sd.rec" "$KTRACE" imbalance --once -o json -i 0.1 --sockets \
	--objects "$WORK/objects.json" --node labnode > "$WORK/replay.json" 2>"$WORK/err2"
if python3 - "$J" "$WORK/replay.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def hostnet(j):
    s = [s for s in j["services"] if s["name"] == "hostnet"]
    return [(x["ip"], x["port"], x.get("sockets", {}).get("connections"), x.get("sockets", {}).get("bytesIn")) for x in s[0]["backends"]] if s else None
sys.exit(0 if hostnet(a) and hostnet(a) == hostnet(b) else 1)
EOF
then pass "sock_diag record/replay"; else fail "sock_diag record/replay" "$(head -c 300 "$WORK/err2") $(head -c 300 "$WORK/replay.json")"; fi
[ -n "$KT_RECORD_SD" ] && cp -r "$WORK/sd.rec" "$KT_RECORD_SD" && echo "recorded $KT_RECORD_SD"
exit 0
