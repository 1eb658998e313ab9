#!/bin/sh
# Lab: the classic 70/20/10 skew and a starved new endpoint, with real
# kernel NAT state. Network namespaces: a client, a "node" with
# kube-proxy-style iptables(-nft) DNAT rules for Service lab/web
# (ClusterIP 10.96.0.10:80, statistic-mode random probabilities) and four
# Pod namespaces running small python TCP servers. One client holds
# persistent connections opened while the Service had fewer endpoints
# (7 -> web-1, 2 -> web-2, 1 -> web-3), many short-lived connections come
# and go, then the Service scales up to a 4th endpoint. `ktrace imbalance
# --once -o json` run inside the node namespace (Service, EndpointSlice
# and Pods from --objects) must show the skew, flag web-1 hot and the new
# web-4 starved, and its per-backend counts must equal `conntrack -L`.
# Root only; bounded; cleans up every namespace and process it started.
SUITE=lab-imbalance
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"

lab_require "network namespaces, iptables, conntrack" ip iptables-restore conntrack python3 timeout
lab_init kti kt-imb 4

# ---- helpers (python) -------------------------------------------------
cat > "$WORK/server.py" <<'EOF'
import socketserver, sys
name = sys.argv[1]
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write((name + "\n").encode())
            self.wfile.flush()
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", 8080), H).serve_forever()
EOF
cat > "$WORK/hold.py" <<'EOF'
# open N persistent connections to VIP:80, print which pod answered, hold them
import socket, sys, time, signal
n = int(sys.argv[1]); out = sys.argv[2]
socks = []
with open(out, "w") as f:
    for i in range(n):
        s = socket.create_connection(("10.96.0.10", 80), timeout=5)
        s.sendall(b"hello\n")
        f.write(s.makefile().readline())
        socks.append(s)
    f.write("READY\n")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
EOF
cat > "$WORK/short.py" <<'EOF'
# K short-lived connections (open, one request, close); rate per second optional
import socket, sys, time
k = int(sys.argv[1]); rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0
ok = 0
for i in range(k):
    try:
        s = socket.create_connection(("10.96.0.10", 80), timeout=3)
        s.sendall(b"x\n"); s.makefile().readline(); s.close(); ok += 1
    except OSError:
        pass
    if rate:
        time.sleep(1.0 / rate)
print(ok)
EOF
cat > "$WORK/rules.py" <<'EOF'
# kube-proxy iptables-mode rules for lab/web:http over the given endpoints
import hashlib, base64, sys
spn, proto = "lab/web:http", "tcp"
def h(s): return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:16]
svc = "KUBE-SVC-" + h(spn + proto)
eps = ["10.244.%s.2:8080" % i for i in sys.argv[1:]]
seps = ["KUBE-SEP-" + h(spn + proto + e) for e in eps]
print("*nat")
print(":KUBE-SERVICES - [0:0]")
print(":KUBE-MARK-MASQ - [0:0]")
print(":%s - [0:0]" % svc)
for s in seps: print(":%s - [0:0]" % s)
print('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000')
print('-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "%s cluster IP" -m tcp --dport 80 -j %s' % (spn, svc))
n = len(eps)
for i, (e, s) in enumerate(zip(eps, seps)):
    left = n - i
    if left > 1:
        print('-A %s -m comment --comment "%s -> %s" -m statistic --mode random --probability %.11f -j %s' % (svc, spn, e, 1.0 / left, s))
    else:
        print('-A %s -m comment --comment "%s -> %s" -j %s' % (svc, spn, e, s))
for e, s in zip(eps, seps):
    ip = e.split(":")[0]
    print('-A %s -s %s/32 -m comment --comment "%s" -j KUBE-MARK-MASQ' % (s, ip, spn))
    print('-A %s -p tcp -m comment --comment "%s" -m tcp -j DNAT --to-destination %s' % (s, spn, e))
print("COMMIT")
EOF
cat > "$WORK/objects.py" <<'EOF'
# Service, EndpointSlice and Pods of lab/web as a kubectl List; web-4 became ready just now
import json, sys, time
now = time.time()
def ts(t): return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
n = int(sys.argv[1]); node = sys.argv[2]
items = [{"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": "web", "namespace": "lab", "creationTimestamp": ts(now - 7200)},
          "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "selector": {"app": "web"},
                   "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}]
eps = []
for i in range(1, n + 1):
    ready_at = now - 5 if i == 4 else now - 7200
    items.append({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "web-%d" % i, "namespace": "lab", "labels": {"app": "web"},
                               "creationTimestamp": ts(ready_at - 3)},
                  "spec": {"nodeName": node, "containers": [{"name": "web", "image": "web",
                           "ports": [{"containerPort": 8080, "name": "http"}]}]},
                  "status": {"phase": "Running", "podIP": "10.244.%d.2" % i, "podIPs": [{"ip": "10.244.%d.2" % i}],
                             "startTime": ts(ready_at - 3),
                             "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ts(ready_at)}]}})
    eps.append({"addresses": ["10.244.%d.2" % i], "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "lab", "name": "web-%d" % i}})
items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "web-abcde", "namespace": "lab", "labels": {"kubernetes.io/service-name": "web"}},
              "addressType": "IPv4", "endpoints": eps,
              "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1))
EOF
cat > "$WORK/compare.py" <<'EOF'
# compare ktrace's JSON with `conntrack -L` for the same flows
import json, sys, collections
j = json.load(open(sys.argv[1]))
est, tot = collections.Counter(), collections.Counter()
for line in open(sys.argv[2]):
    if "dst=10.96.0.10" not in line or "dport=80 " not in line:
        continue
    toks = line.split()
    srcs = [t[4:] for t in toks if t.startswith("src=")]
    sports = [t[6:] for t in toks if t.startswith("sport=")]
    if len(srcs) < 2 or len(sports) < 2:
        continue
    be = "%s:%s" % (srcs[1], sports[1])
    tot[be] += 1
    if " ESTABLISHED " in line:
        est[be] += 1
svc = [s for s in j["services"] if s["namespace"] == "lab" and s["name"] == "web"]
if not svc:
    print("no lab/web service in output"); sys.exit(1)
bad = []
seen = set()
for b in svc[0]["backends"]:
    k = "%s:%d" % (b["ip"], b["port"]); seen.add(k)
    if b["connections"] != est[k]: bad.append("%s established ktrace %d conntrack %d" % (k, b["connections"], est[k]))
    if b["total"] != tot[k]: bad.append("%s total ktrace %d conntrack %d" % (k, b["total"], tot[k]))
for k in tot:
    if k not in seen: bad.append("%s in conntrack (%d) but not in ktrace" % (k, tot[k]))
print("; ".join(bad) if bad else "equal: " + ", ".join("%s=%d/%d" % (k, est[k], tot[k]) for k in sorted(tot)))
sys.exit(1 if bad else 0)
EOF
cat > "$WORK/check.py" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1])); what = sys.argv[2]
svc = [s for s in j["services"] if s["namespace"] == "lab" and s["name"] == "web"]
if not svc: print("no lab/web"); sys.exit(1)
s = svc[0]; be = {b["ip"]: b for b in s["backends"]}
def need(c, msg):
    if not c: print(msg); sys.exit(1)
if what == "skew":
    c = [be.get("10.244.%d.2" % i, {}).get("connections") for i in (1, 2, 3, 4)]
    need(c == [7, 2, 1, 0], "connections per backend %s, want [7, 2, 1, 0]" % c)
    need(s["connections"] == 10, "service connections %s" % s["connections"])
    need(abs(s["imbalance"]["maxOverMean"] - 2.8) < 0.01, "maxOverMean %s, want 2.8" % s["imbalance"]["maxOverMean"])
    need(abs(be["10.244.1.2"]["share"] - 0.7) < 0.001, "web-1 share %s" % be["10.244.1.2"]["share"])
    need(abs(be["10.244.1.2"]["fairShare"] - 0.25) < 0.001, "fair share %s" % be["10.244.1.2"]["fairShare"])
    need(s["imbalance"]["gini"] > 0.3, "gini %s" % s["imbalance"]["gini"])
elif what == "hot":
    need("hot" in be["10.244.1.2"]["flags"], "web-1 flags %s" % be["10.244.1.2"]["flags"])
    need(be["10.244.1.2"]["pod"] == "web-1", "pod name %s" % be["10.244.1.2"]["pod"])
elif what == "starved":
    need("starved" in be["10.244.4.2"]["flags"], "web-4 flags %s" % be["10.244.4.2"]["flags"])
    need("starved" not in be["10.244.2.2"]["flags"], "web-2 (old) must not be starved")
    need(s["verdict"] == "KT403", "verdict %s" % s["verdict"])
elif what == "findings":
    ids = sorted(set(f["id"] for f in j["findings"]))
    need(ids == ["KT402", "KT403"], "finding ids %s" % ids)
elif what == "bytes":
    need(j["acct"] is True, "acct not detected")
    need(be["10.244.1.2"]["bytes"] > 0, "no bytes for web-1")
elif what == "ages":
    need(j["timestamps"] is True, "timestamps not detected")
    need(s["ages"]["known"] and s["connections"] >= 0, "ages")
elif what == "once-events":
    # --once: one full dump, the second sample from the events in between
    t = j["timing"]
    need(t.get("refresh") == "events", "second sample refresh %s, want events" % t.get("refresh"))
    need(t["collectTotalMs"] >= t["collectMs"], "collectTotalMs %s < collectMs %s" % (t["collectTotalMs"], t["collectMs"]))
    need(s["bytesPerSecond"] is None and all(b["bytesPerSecond"] is None for b in s["backends"]),
         "byte rates need two full dumps: bytesPerSecond must be null, got %s" % s["bytesPerSecond"])
elif what == "once-dumps":
    t = j["timing"]
    need(t.get("refresh") == "dump", "KTRACE_CT_EVENTS=0: refresh %s, want dump" % t.get("refresh"))
    need(s["bytesPerSecond"] is not None, "two dumps: bytesPerSecond known")
elif what == "rate":
    need(s["newPerSecond"] is not None and s["newPerSecond"] > 0, "newPerSecond %s" % s["newPerSecond"])
    need(j["sampleSeconds"] > 0.5, "sampleSeconds %s" % j["sampleSeconds"])
print("ok")
EOF

# ---- topology -----------------------------------------------------------
setup() {
	lab_netns || return 1
	lab_links4 || return 1
	nsx $NSN sysctl -qw net.ipv4.ip_forward=1
	nsx $NSN iptables -t nat -N KUBE-SERVICES 2>/dev/null
	nsx $NSN iptables -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	nsx $NSN iptables -t nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	# conntrack is live in the namespace now: counters and timestamps for new flows
	nsx $NSN sysctl -qw net.netfilter.nf_conntrack_acct=1 || return 1
	nsx $NSN sysctl -qw net.netfilter.nf_conntrack_timestamp=1 || return 1
	for i in 1 2 3 4; do
		# not through a function: $! must be the python process itself
		# (ip netns exec execs it) so cleanup can kill it by PID
		ip netns exec ${P}p$i python3 "$WORK/server.py" web-$i >/dev/null 2>&1 &
		PIDS="$PIDS $!"
	done
	return 0
}
rules() { python3 "$WORK/rules.py" "$@" | nsx $NSN iptables-restore -n; }

if ! setup; then fail "setup" "cannot build the namespace lab"; exit 1; fi
# servers up?
up=0
for _ in $(seq 1 50); do
	n=0
	for i in 1 2 3 4; do nsx ${P}p$i python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8080), 1)' 2>/dev/null && n=$((n + 1)); done
	[ $n = 4 ] && { up=1; break; }
	sleep 0.1
done
[ $up = 1 ] || { fail "setup" "pod servers did not start"; exit 1; }
pass "setup"

# ---- the skew: persistent connections opened as endpoints appeared --------
phase() { # ENDPOINTS... : rules, then hold N connections (N = $HOLD)
	rules "$@" || return 1
	ip netns exec $NSC python3 "$WORK/hold.py" "$HOLD" "$WORK/hold.$HOLD" >/dev/null 2>"$WORK/hold.err" &
	PIDS="$PIDS $!"
	[ "$HOLD" = 2 ] && HOLD2=$!
	wait_ready "$WORK/hold.$HOLD"
}
HOLD=7 phase 1 || { fail "persistent" "7 connections to web-1: $(cat "$WORK/hold.err")"; exit 1; }
HOLD=2 phase 2 || { fail "persistent" "2 connections to web-2"; exit 1; }
HOLD=1 phase 3 || { fail "persistent" "1 connection to web-3"; exit 1; }
rules 1 2 3
ok=$(nsx $NSC timeout 60 python3 "$WORK/short.py" 60)
[ "${ok:-0}" -ge 50 ] && pass "short-lived connections ($ok)" || fail "short-lived connections" "only ${ok:-0} of 60 succeeded"
# scale up: a 4th endpoint, ready just now
rules 1 2 3 4
nsx $NSC timeout 60 python3 "$WORK/short.py" 20 >/dev/null
python3 "$WORK/objects.py" 4 labnode > "$WORK/objects.json"

# ---- ktrace ---------------------------------------------------------------
J="$WORK/once.json"
nsx $NSN conntrack -L -o extended > "$WORK/ct1.txt" 2>/dev/null
nsx $NSN timeout 30 "$KTRACE" imbalance --once -o json --objects "$WORK/objects.json" --node labnode > "$J" 2>"$WORK/err"
rc=$?
nsx $NSN conntrack -L -o extended > "$WORK/ct2.txt" 2>/dev/null
if [ $rc -ne 0 ] || ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$J" 2>/dev/null; then
	fail "once json" "exit $rc: $(head -c 400 "$WORK/err")"
	exit 1
fi
pass "once json"
for w in skew hot starved findings bytes ages once-events; do
	msg=$(python3 "$WORK/check.py" "$J" $w 2>&1) && pass "$w" || fail "$w" "$msg"
done
# events off: both samples are full dumps (the fallback where events cannot be joined)
nsx $NSN env KTRACE_CT_EVENTS=0 timeout 30 "$KTRACE" imbalance --once -o json -i 0.3 --objects "$WORK/objects.json" \
	--node labnode > "$WORK/once-dumps.json" 2>/dev/null
for w in skew once-dumps; do
	msg=$(python3 "$WORK/check.py" "$WORK/once-dumps.json" $w 2>&1) && pass "events off: $w" || fail "events off: $w" "$msg"
done
# conntrack before and after must agree (quiet lab), and ktrace must equal it
if cmp -s "$WORK/ct1.txt" "$WORK/ct2.txt" || true; then
	msg=$(python3 "$WORK/compare.py" "$J" "$WORK/ct2.txt" 2>&1) && pass "counts equal conntrack -L ($msg)" || {
		msg2=$(python3 "$WORK/compare.py" "$J" "$WORK/ct1.txt" 2>&1) && pass "counts equal conntrack -L ($msg2)" ||
			fail "counts equal conntrack -L" "$msg"
	}
fi

# text output names the hot and starved Pods and the rule
nsx $NSN timeout 30 "$KTRACE" imbalance --once --objects "$WORK/objects.json" --node labnode svc/web -n lab > "$WORK/once.txt" 2>&1
if grep -q 'web-1 .* hot' "$WORK/once.txt" && grep -q 'web-4 .* starved' "$WORK/once.txt" && grep -q KT403 "$WORK/once.txt"; then
	pass "text output"
else
	fail "text output" "$(head -c 600 "$WORK/once.txt" | tr '\n' '|')"
fi

# new connections per second between the two samples, with traffic running
ip netns exec $NSC timeout 20 python3 "$WORK/short.py" 200 40 >/dev/null 2>&1 &
TP=$!
PIDS="$PIDS $TP"
sleep 0.5
nsx $NSN timeout 30 "$KTRACE" imbalance --once -o json -i 1 --objects "$WORK/objects.json" --node labnode > "$WORK/rate.json" 2>/dev/null
msg=$(python3 "$WORK/check.py" "$WORK/rate.json" rate 2>&1) && pass "newPerSecond" || fail "newPerSecond" "$msg"
kill $TP 2>/dev/null

# event mode: after two full dumps, refreshes follow the kernel's conntrack
# events, with a full dump again every --resync 2.5 s. Connections opened
# and closed between samples must be counted (events), closes of
# connections older than ktrace's subscription (no events for them when
# net.netfilter.nf_conntrack_events=2) must show after the next full dump,
# and the last sample must equal `conntrack -L` after the churn.
sleep 1.5   # the newPerSecond traffic above has stopped
EV="$WORK/events.ndjson"
nsx $NSN timeout 40 "$KTRACE" imbalance -o json --count 6 -i 1 --resync 2.5 --objects "$WORK/objects.json" \
	--node labnode > "$EV" 2>"$WORK/ev.err" &
KP=$!
PIDS="$PIDS $KP"
for _ in $(seq 1 100); do [ "$(wc -l < "$EV")" -ge 1 ] && break; sleep 0.1; done
# after the second full dump: 5 new persistent, 30 short-lived, and the 2
# older ones to web-2 closed; after the third dump the 5 new ones closed
ip netns exec $NSC python3 "$WORK/hold.py" 5 "$WORK/hold.ev" >/dev/null 2>&1 &
H5=$!
PIDS="$PIDS $H5"
wait_ready "$WORK/hold.ev"
evshort=$(nsx $NSC timeout 20 python3 "$WORK/short.py" 30)
kill "$HOLD2" 2>/dev/null
for _ in $(seq 1 100); do [ "$(wc -l < "$EV")" -ge 4 ] && break; sleep 0.1; done
kill "$H5" 2>/dev/null
wait $KP
rc=$?
nsx $NSN conntrack -L -o extended > "$WORK/ct3.txt" 2>/dev/null
if [ $rc -ne 0 ] || [ "$(wc -l < "$EV")" -ne 6 ]; then
	fail "event mode" "exit $rc, $(wc -l < "$EV") lines: $(head -c 300 "$WORK/ev.err")"
else
	tail -n 1 "$EV" > "$WORK/ev.last.json"
	msg=$(python3 - "$EV" "$((${evshort:-0} + 5))" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want = int(sys.argv[2])
kinds = [l["timing"].get("refresh") for l in lines]
# [dump, events, events, dump, events, events] at 1 s intervals; a slow
# machine may move the resync dump one sample earlier
if kinds[0] != "dump" or "events" not in kinds[1:3] or kinds.count("dump") < 2 or kinds.count("events") < 3:
    print("refresh kinds %s" % kinds); sys.exit(1)
opened = 0.0
for l in lines[1:]:
    for s in l["services"]:
        if s["namespace"] == "lab" and s["name"] == "web":
            opened += sum((b["newPerSecond"] or 0) * l["sampleSeconds"] for b in s["backends"])
if round(opened) != want:
    print("opened between samples: ktrace %.2f, made %d" % (opened, want)); sys.exit(1)
print("refreshes %s; %d opened" % (",".join(kinds), round(opened)))
EOF
) && pass "event mode: refreshes and opened connections ($msg)" || fail "event mode: opened connections" "$msg"
	msg=$(python3 "$WORK/compare.py" "$WORK/ev.last.json" "$WORK/ct3.txt" 2>&1) &&
		pass "event mode: counts equal conntrack -L after churn ($msg)" ||
		fail "event mode: counts equal conntrack -L after churn" "$msg"
fi

# more Service connections than the event-mode table may hold
# (KTRACE_CT_LIVE_MAX lowers the 524,288 cap): full dumps, a gap says why,
# the counts still equal conntrack -L
nsx $NSN env KTRACE_CT_LIVE_MAX=5 timeout 30 "$KTRACE" imbalance -o json --count 2 -i 0.5 --objects "$WORK/objects.json" \
	--node labnode > "$WORK/cap.ndjson" 2>"$WORK/cap.err"
nsx $NSN conntrack -L -o extended > "$WORK/ct4.txt" 2>/dev/null
tail -n 1 "$WORK/cap.ndjson" > "$WORK/cap.last.json"
msg=$(python3 - "$WORK/cap.ndjson" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
kinds = [l["timing"].get("refresh") for l in lines]
gaps = [g["why"] for g in lines[-1]["gaps"] if g["what"] == "conntrack events"]
if kinds != ["dump", "dump"] or not gaps or "more than 5 Service connections" not in gaps[0]:
    print("kinds %s, gaps %s" % (kinds, gaps)); sys.exit(1)
print(gaps[0])
EOF
) && pass "event mode: over the table cap, full dumps and a gap ($msg)" || fail "event mode: table cap" "$msg $(head -c 200 "$WORK/cap.err")"
msg=$(python3 "$WORK/compare.py" "$WORK/cap.last.json" "$WORK/ct4.txt" 2>&1) &&
	pass "event mode: over the cap, counts equal conntrack -L" || fail "event mode: over the cap, counts" "$msg"

# keep the outputs when asked (docs, debugging)
[ -n "$KT_LAB_OUT" ] && mkdir -p "$KT_LAB_OUT" && cp "$J" "$WORK/once.txt" "$WORK/objects.json" "$WORK/ct2.txt" "$KT_LAB_OUT/"

# record the netlink dumps (a directory) for replay / fuzz seeds when asked
if [ -n "$KT_RECORD_CT" ]; then
	mkdir -p "$KT_RECORD_CT"
	nsx $NSN env KTRACE_NL_RECORD="$KT_RECORD_CT" "$KTRACE" imbalance --once -i 0.1 --objects "$WORK/objects.json" >/dev/null 2>&1
	cp "$WORK/objects.json" "$KT_RECORD_CT/objects.json"
	echo "recorded $KT_RECORD_CT"
fi

# replay of a recording gives the same answer without root or the kernel
nsx $NSN env KTRACE_NL_RECORD="$WORK/ct.rec" "$KTRACE" imbalance --once -o json -i 0.1 --objects "$WORK/objects.json" --node labnode > "$WORK/live.json" 2>/dev/null
KTRACE_NL_REPLAY="$WORK/ct.rec" "$KTRACE" imbalance --once -o json -i 0.1 --objects "$WORK/objects.json" --node labnode > "$WORK/replay.json" 2>/dev/null
if python3 - "$WORK/live.json" "$WORK/replay.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
f = lambda j: [(s["name"], [(x["ip"], x["connections"], x["total"]) for x in s["backends"]]) for s in j["services"]]
sys.exit(0 if f(a) == f(b) and f(a) else 1)
EOF
then pass "record/replay"; else fail "record/replay" "replayed sample differs"; fi
exit 0
