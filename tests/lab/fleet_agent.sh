#!/bin/sh
# Lab: `ktrace agent` on three nodes of a namespace cluster (tests/lab/fleet/),
# read through the test API server's Pod proxy exactly as a fleet client
# does. Each node has its own kube-proxy iptables rules; n3 is stale (still
# forwards web to a removed Pod); n1 and n2 host the externalTrafficPolicy
# Local Service's Pods; real TCP connections from every node go through
# the rules. Asserts, through the proxy with curl: /healthz without a
# token, 401 with an empty body without or with a wrong token, per-node
# established connections in /v1/flows equal to `conntrack -L` in that
# node, digests equal on n1/n2 and different on n3 for exactly the stale
# Service, node-local sets, full entries, 412 on a changed state,
# Prometheus metrics against the same counts (and a fake kube-proxy's last
# sync), gzip, ETag/304, header forwarding as kube-apiserver does it,
# bounded connections per client, kubectl against the same objects and
# proxy, rules unchanged by the agents, and a clean shutdown (under ASan
# with KT_ASAN=1). Root only; bounded; removes everything it created.
SUITE=lab-fleet-agent
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"
. "$(dirname "$0")/fleet/fleetlib.sh"

lab_require "network namespaces, iptables, conntrack" ip iptables-restore iptables-save conntrack python3 curl timeout
fleet_init ktf kt-fleet
if ! fleet_up; then fail "lab setup" "namespaces, links or rules"; exit 0; fi
pass "lab: $(echo $FLEET_ALL_NODES | wc -w) nodes, Pods, kube-proxy rules (n3 stale)"

# a kube-proxy metrics endpoint on n1 (the agent reads the last rules sync)
SYNC=$(( $(date +%s) - 42 ))
cat > "$WORK/kpmetrics.py" <<EOF
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"iptables" if self.path == "/proxyMode" else (
            b"# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge\n"
            b"kubeproxy_sync_proxy_rules_last_timestamp_seconds $SYNC\n")
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 10249), H).serve_forever()
EOF
ip netns exec "${P}n1" "$PY" "$WORK/kpmetrics.py" 2>/dev/null &
PIDS="$PIDS $!"
for n in n1 n2 n3; do nsx "${P}$n" iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' > "$WORK/before-$n"; done

ok=1
for n in $FLEET_NODES; do
	if ! fleet_agent_start "$n" --flow-interval 0.5 --resync 2 --max-age 0.5; then
		fail "agent on $n starts" "$(tail -3 "$WORK/agent-$n.err" | tr '\n' '|')"
		ok=0
	fi
done
[ $ok = 1 ] && pass "an agent serves on n1, n2, n3 (node addresses, port $AGENT_PORT)" || exit 0
# an echo Pod on n1 that answers with the request it got (header forwarding)
cat > "$WORK/echo.py" <<'EOF'
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/redirect"):
            self.send_response(302); self.send_header("Location", "/elsewhere"); self.send_header("Content-Length", "0")
            self.end_headers(); return
        body = json.dumps({"path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "X-Hop"); self.send_header("X-Hop", "1"); self.send_header("Keep-Alive", "timeout=5")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.HTTPServer(("192.168.77.1", 18080), H).serve_forever()
EOF
ip netns exec "${P}n1" "$PY" "$WORK/echo.py" 2>/dev/null &
PIDS="$PIDS $!"
mkdir -p "$WORK/objects"
cat > "$WORK/objects/echo.json" <<'EOF'
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "echo", "namespace": "ktrace"},
 "spec": {"nodeName": "n1", "hostNetwork": true,
          "containers": [{"name": "echo", "ports": [{"name": "http", "containerPort": 18080}]}]},
 "status": {"phase": "Running", "podIP": "192.168.77.1", "podIPs": [{"ip": "192.168.77.1"}]}}
EOF
cat > "$WORK/objects/loop.json" <<'EOF'
{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loop", "namespace": "ktrace"},
 "spec": {"nodeName": "n1", "containers": [{"name": "x", "ports": [{"containerPort": 80}]}]},
 "status": {"phase": "Running", "podIP": "127.0.0.1"}}
EOF
if ! fleet_kapi_start --token user-token-1; then fail "kapi starts" "$(head -c 300 "$WORK/kapi.err")"; exit 0; fi
AUTH="Authorization: Bearer user-token-1"
pass "kapi.py serves the fleet's objects in ${CP}"

# ---- objects the client reads -------------------------------------------
out=$(fleet_get "api/v1/namespaces/ktrace/pods?labelSelector=app.kubernetes.io%2Fname%3Dktrace-agent" -H "$AUTH" |
	"$PY" -c 'import json,sys; d=json.load(sys.stdin); print(" ".join("%s@%s:%s" % (p["metadata"]["name"], p["status"]["podIP"], [c["containerPort"] for c in p["spec"]["containers"][0]["ports"] if c["name"] == "ktrace"][0]) for p in d["items"]))')
[ "$out" = "ktrace-agent-n1@192.168.77.1:10265 ktrace-agent-n2@192.168.77.2:10265 ktrace-agent-n3@192.168.77.3:10265" ] &&
	pass "agent Pods by label, with their address and 'ktrace' port" || fail "agent Pods by label, with their address and 'ktrace' port" "$out"
out=$(fleet_get api/v1/namespaces/ktrace/secrets/ktrace-agent-token -H "$AUTH" | "$PY" -c 'import json,sys,base64; print(base64.b64decode(json.load(sys.stdin)["data"]["token"]).decode())')
[ "$out" = "$TOKEN" ] && pass "the token Secret by name" || fail "the token Secret by name" "$out"
out=$(fleet_get api/v1/nodes -H "$AUTH" | "$PY" -c 'import json,sys; print(" ".join(n["metadata"]["name"] for n in json.load(sys.stdin)["items"]))')
[ "$out" = "n1 n2 n3 n4" ] && pass "Nodes (n4 has no agent)" || fail "Nodes (n4 has no agent)" "$out"

# ---- token -------------------------------------------------------------
code=$(fleet_get api/v1/namespaces/ktrace/pods/ktrace-agent-n1:$AGENT_PORT/proxy/healthz -H "$AUTH" -o "$WORK/hz" -w '%{http_code}')
[ "$code" = 200 ] && [ "$(cat "$WORK/hz")" = ok ] && pass "/healthz through the proxy without a token" || fail "/healthz through the proxy without a token" "$code $(cat "$WORK/hz")"
for p in v1/digests v1/node v1/flows metrics v1/nope; do
	for tok in "" "X-Ktrace-Token: $(echo "$TOKEN" | tr '0-9a-f' '1-9a-f0')" "X-Ktrace-Token: ${TOKEN}x" "Authorization: Bearer $TOKEN"; do
		[ -z "$tok" ] && tok="X-Other: 1"
		fleet_get "api/v1/namespaces/ktrace/pods/ktrace-agent-n1:$AGENT_PORT/proxy/$p" -H "$AUTH" -H "$tok" \
			-D "$WORK/h401" -o "$WORK/b401" -w '%{http_code}\n' >> "$WORK/codes"
		[ -s "$WORK/b401" ] && echo "BODY $p" >> "$WORK/codes"
	done
done
if [ "$(sort -u "$WORK/codes")" = 401 ]; then pass "no, a wrong, a longer or an Authorization-borne (stripped) token: 401 with an empty body, on every path"; else
	fail "no, a wrong, a longer or an Authorization-borne (stripped) token: 401 with an empty body, on every path" "$(sort "$WORK/codes" | uniq -c | tr '\n' '|')"; fi

# ---- connections ---------------------------------------------------------
fleet_hold n1 10.96.0.10 80 6 "$WORK/h-n1-web"
fleet_hold n1 10.96.0.20 80 4 "$WORK/h-n1-api"
fleet_hold n2 10.96.0.10 80 5 "$WORK/h-n2-web"
fleet_hold n2 10.96.0.20 80 3 "$WORK/h-n2-api"
fleet_hold n3 10.96.0.10 80 8 "$WORK/h-n3-web"
fleet_hold n3 10.96.0.20 80 2 "$WORK/h-n3-api"
for f in n1-web n1-api n2-web n2-api n3-web n3-api; do wait_ready "$WORK/h-$f" || { fail "connections $f" "not ready"; exit 0; }; done
t_ready=$(date +%s%3N)
okc() { grep -vc -e READY -e failed "$WORK/h-$1"; }
n1c=$(( $(okc n1-web) + $(okc n1-api) )); n2c=$(( $(okc n2-web) + $(okc n2-api) )); n3c=$(( $(okc n3-web) + $(okc n3-api) ))
[ $n1c = 10 ] && [ $n2c = 8 ] && pass "real TCP connections through each node's rules (n1 10, n2 8, n3 $n3c of 10: the stale backend drops some)" ||
	fail "real TCP connections through each node's rules" "n1=$n1c n2=$n2c n3=$n3c"
# wait for a flow sample taken after the connections were up
for n in n1 n2 n3; do
	for _ in $(seq 1 60); do
		fleet_agent_get "$n" v1/flows -H "$AUTH" > "$WORK/flows-$n.json"
		tk=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["takenMs"])' "$WORK/flows-$n.json" 2>/dev/null)
		[ -n "$tk" ] && [ "$tk" -gt "$((t_ready + 100))" ] && break
		sleep 0.2
	done
	nsx "${P}$n" conntrack -L -p tcp 2>/dev/null > "$WORK/ct-$n"
done
cat > "$WORK/cmp.py" <<'EOF'
import json, sys, collections
flows = json.load(open(sys.argv[1]))
got = collections.Counter()
for f in flows["flows"]:
    if f["established"]:
        got["%s:%d>%s:%d" % (f["vip"], f["vport"], f["backendIP"], f["backendPort"])] += f["established"]
want = collections.Counter()
for line in open(sys.argv[2]):
    if " ESTABLISHED " not in line:
        continue
    t = line.split()
    src = [x[4:] for x in t if x.startswith("src=")]
    dst = [x[4:] for x in t if x.startswith("dst=")]
    sp = [x[6:] for x in t if x.startswith("sport=")]
    dp = [x[6:] for x in t if x.startswith("dport=")]
    if not dst or not dst[0].startswith("10.96."):
        continue
    want["%s:%s>%s:%s" % (dst[0], dp[0], src[1], sp[1])] += 1
print("%d %s" % (sum(got.values()), "same" if got == want else "got %s want %s" % (dict(got), dict(want))))
EOF
for n in n1 n2 n3; do
	res=$("$PY" "$WORK/cmp.py" "$WORK/flows-$n.json" "$WORK/ct-$n" 2>&1)
	eval "want=\$${n}c"
	if [ "$res" = "$want same" ]; then pass "$n: /v1/flows established per frontend/backend == conntrack -L in $n ($want)"; else
		fail "$n: /v1/flows established per frontend/backend == conntrack -L in $n" "$res (held $want)"; fi
done
"$PY" - "$WORK/flows-n1.json" > "$WORK/flows-shape" <<'EOF'
import json, sys
f = json.load(open(sys.argv[1]))
s = f["sampler"]
ok = f["node"] == "n1" and f["source"].startswith("conntrack") and s["events"] and len(s["opened"]) == len(f["flows"]) \
    and len(s["rateOrig"]) == len(f["flows"]) and s["intervalMs"] > 0
print("ok" if ok else json.dumps(f)[:300])
EOF
[ "$(cat "$WORK/flows-shape")" = ok ] && pass "flows: the bundle sample shape plus the sampler's event counts" || fail "flows shape" "$(cat "$WORK/flows-shape")"
# the compact form: the same sample (same takenMs), the same aggregates
for _ in $(seq 1 20); do
	fleet_agent_get n1 v1/flows -H "$AUTH" > "$WORK/fl-full.json"
	fleet_agent_get n1 "v1/flows?form=compact" -H "$AUTH" -H 'Accept-Encoding: gzip' --compressed -D "$WORK/fl-ch" > "$WORK/fl-compact.json"
	a=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["takenMs"])' "$WORK/fl-full.json" 2>/dev/null)
	b=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["takenMs"])' "$WORK/fl-compact.json" 2>/dev/null)
	[ -n "$a" ] && [ "$a" = "$b" ] && break
	sleep 0.1
done
res=$("$PY" - "$WORK/fl-full.json" "$WORK/fl-compact.json" <<'EOF2'
import json, sys
f, c = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
st = c["strings"].split(" ")
nf = len(c["fields"])
tok = c["rows"].split(" ")
rows = [tok[i:i + nf] for i in range(0, len(tok), nf)]
got = sorted((st[int(r[0])], int(r[1]), st[int(r[3])], int(r[4]), st[int(r[5])], int(r[7]), int(r[8]), r[16]) for r in rows)
sm = f["sampler"]
want = sorted((x["vip"], x["vport"], x["backendIP"], x["backendPort"], x["src"], x["established"], x["total"],
               str(sm["opened"][i]) if sm.get("events") else "-") for i, x in enumerate(f["flows"]))
ok = c["form"] == "compact" and len(tok) % nf == 0 and got == want and "opened" not in c["sampler"] and c["node"] == "n1"
print("ok %d" % len(rows) if ok else "got %s want %s" % (got, want))
EOF2
)
case "$res" in "ok "*) grep -qi '^content-encoding: gzip' "$WORK/fl-ch" && pass "flows?form=compact: the same sample as the object form, gzip'd ($res aggregates)" ||
	fail "flows?form=compact gzip" "$(tr '\r\n' '||' < "$WORK/fl-ch")" ;;
*) fail "flows?form=compact equals the object form" "$res" ;; esac
code=$(fleet_agent_get n1 "v1/flows?form=tiny" -H "$AUTH" -o "$WORK/fl-bad" -w '%{http_code}')
[ "$code" = 400 ] && grep -q 'not compact or full' "$WORK/fl-bad" && pass "flows?form=tiny: 400" || fail "flows?form=tiny" "$code $(cat "$WORK/fl-bad")"

# ---- digests ---------------------------------------------------------------
for n in n1 n2 n3; do fleet_agent_get "$n" v1/digests -H "$AUTH" -D "$WORK/dh-$n" > "$WORK/dig-$n.json"; done
res=$("$PY" - "$WORK" <<'EOF'
import json, sys
w = sys.argv[1]
d = {n: json.load(open("%s/dig-%s.json" % (w, n))) for n in ("n1", "n2", "n3")}
dig = {n: {s["key"]: s["digest"] for s in d[n]["services"]} for n in d}
loc = {n: {s["key"]: [(x["ip"], x["port"]) for x in s["local"]] for s in d[n]["services"] if "local" in s} for n in d}
bad = []
if set(dig["n1"]) != {"shop/web", "shop/api", "shop/front"}:
    bad.append("keys %s" % sorted(dig["n1"]))
if dig["n1"] != dig["n2"]:
    bad.append("n1 != n2")
diff = sorted(k for k in dig["n1"] if dig["n1"][k] != dig["n3"].get(k))
if diff != ["shop/web"]:
    bad.append("n3 differs in %s" % diff)
if loc["n1"] != {"shop/front": [("10.244.1.14", 8443)]} or loc["n2"] != {"shop/front": [("10.244.2.14", 8443)]} \
        or loc["n3"] != {"shop/front": []}:
    bad.append("local %s" % loc)
if len({d[n]["stateId"] for n in d}) != 3:
    bad.append("state ids not distinct")
for n in d:
    if d[n]["node"] != n or d[n]["digestVersion"] != 1 or d[n]["modes"] != ["iptables-nft"]:
        bad.append("header of %s" % n)
print("ok" if not bad else "; ".join(bad))
EOF
)
[ "$res" = ok ] && pass "digests: equal on n1/n2, n3 differs in exactly shop/web; each node's Local set of shop/front (n3 none)" ||
	fail "digests: equal on n1/n2, n3 differs in exactly shop/web" "$res"
sid3=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["stateId"])' "$WORK/dig-n3.json")
sid1=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["stateId"])' "$WORK/dig-n1.json")
grep -qi "^x-ktrace-state: $sid3" "$WORK/dh-n3" && grep -qi '^x-ktrace-node: n3' "$WORK/dh-n3" && pass "X-Ktrace-State / X-Ktrace-Node headers pass the proxy" ||
	fail "X-Ktrace-State / X-Ktrace-Node headers pass the proxy" "$(tr '\r\n' '||' < "$WORK/dh-n3")"
fleet_agent_get n3 "v1/digests?canonical=1" -H "$AUTH" | "$PY" -c '
import json,sys
d = json.load(sys.stdin)
w = [s for s in d["services"] if s["key"] == "shop/web"][0]
print("ok" if "backend 10.244.9.9 8080 0.250000 0 active" in w["canonical"] else w["canonical"])' > "$WORK/canon"
[ "$(cat "$WORK/canon")" = ok ] && pass "canonical form shows n3's stale backend" || fail "canonical form shows n3's stale backend" "$(head -c 300 "$WORK/canon")"

# ---- full entries ------------------------------------------------------
fleet_agent_get n3 "v1/node?keys=shop/web&state=$sid3" -H "$AUTH" > "$WORK/e3.json"
fleet_agent_get n1 "v1/node?keys=shop/web,shop/api" -H "$AUTH" > "$WORK/e1.json"
res=$("$PY" - "$WORK/e3.json" "$WORK/e1.json" <<'EOF'
import json, sys
e3, e1 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
b3 = sorted("%s:%d" % (b["ip"], b["port"]) for s in e3["services"] for b in s["backends"])
ok = e3["node"] == "n3" and [s["name"] for s in e3["services"]] == ["web"] and "10.244.9.9:8080" in b3 and len(b3) == 4 \
    and [s["name"] for s in e1["services"]] == ["api", "web"] and e1["node"] == "n1" \
    and "10.244.9.9" not in json.dumps(e1) and all(s["evidence"] for s in e1["services"])
print("ok" if ok else "%s | %s" % (json.dumps(e3)[:200], json.dumps(e1)[:200]))
EOF
)
[ "$res" = ok ] && pass "full entries for listed keys: n3's web with the stale 10.244.9.9, n1's web and api with evidence" ||
	fail "full entries for listed keys" "$res"
code=$(fleet_agent_get n3 "v1/node?keys=shop/web&state=$sid1" -H "$AUTH" -o "$WORK/e412" -w '%{http_code}')
"$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; sys.exit(0 if e["reason"] == "StateChanged" and e["stateId"] == sys.argv[2] else 1)' "$WORK/e412" "$sid3" 2>/dev/null &&
	[ "$code" = 412 ] && pass "entries for another state id: 412 StateChanged with the current id" || fail "entries for another state id: 412" "$code $(cat "$WORK/e412")"
code=$(fleet_agent_get n1 "v1/node?keys=Bad/Key" -H "$AUTH" -o "$WORK/e400" -w '%{http_code}')
[ "$code" = 400 ] && grep -q '"reason":"BadRequest"' "$WORK/e400" && pass "a malformed key: 400 BadRequest" || fail "a malformed key: 400" "$code $(cat "$WORK/e400")"
fleet_agent_get n1 v1/node -H "$AUTH" > "$WORK/node-n1.json"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["node"] == "n1" and len(d["services"]) == 3 else 1)' "$WORK/node-n1.json" &&
	pass "the whole node object (3 Service ports)" || fail "the whole node object" "$(head -c 200 "$WORK/node-n1.json")"

# ---- gzip, ETag ------------------------------------------------------------
fleet_agent_get n1 v1/node -H "$AUTH" -H 'Accept-Encoding: gzip' -D "$WORK/gzh" -o "$WORK/node.gz"
if grep -qi '^content-encoding: gzip' "$WORK/gzh" && zcat "$WORK/node.gz" | cmp -s - "$WORK/node-n1.json"; then
	pass "Accept-Encoding: gzip: a gzip body equal to the plain one"; else fail "Accept-Encoding: gzip" "$(tr '\r\n' '||' < "$WORK/gzh")"; fi
et=$(grep -i '^etag:' "$WORK/gzh" | cut -d' ' -f2 | tr -d '\r')
code=$(fleet_agent_get n1 v1/node -H "$AUTH" -H "If-None-Match: $et" -o /dev/null -w '%{http_code}')
[ -n "$et" ] && [ "$code" = 304 ] && pass "If-None-Match with the ETag: 304" || fail "If-None-Match: 304" "etag=$et code=$code"

# ---- metrics ---------------------------------------------------------------
fleet_agent_get n1 metrics -H "$AUTH" > "$WORK/metrics-n1"
res=$("$PY" - "$WORK/metrics-n1" "$WORK/flows-n1.json" "$SYNC" <<'EOF'
import json, re, sys, collections
m = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    k, v = line.rsplit(" ", 1)
    m[k] = float(v)
f = json.load(open(sys.argv[2]))
per = collections.Counter()
svc = {"10.96.0.10": "web", "10.96.0.20": "api"}
for x in f["flows"]:
    if x["established"] and x["vip"] in svc:
        per[(svc[x["vip"]], "%s:%d" % (x["backendIP"], x["backendPort"]))] += x["established"]
bad = []
for (s, be), n in per.items():
    k = 'ktrace_backend_open_connections{namespace="shop",service="%s",backend="%s"}' % (s, be)
    if m.get(k) != n:
        bad.append("%s=%s want %d" % (k, m.get(k), n))
for s, want in (("web", 6), ("api", 4)):
    if m.get('ktrace_service_open_connections{namespace="shop",service="%s"}' % s) != want:
        bad.append("open %s" % s)
    shares = [v for k, v in m.items() if k.startswith('ktrace_backend_connection_share{namespace="shop",service="%s"' % s)]
    if abs(sum(shares) - 1) > 1e-5:
        bad.append("shares %s" % shares)
    mx = max(n for (x, b), n in per.items() if x == s)
    if m.get('ktrace_service_backend_max_connections{namespace="shop",service="%s"}' % s) != mx:
        bad.append("max %s" % s)
if m.get("ktrace_dataplane_service_ports") != 3 or m.get('ktrace_dataplane_mode{mode="iptables-nft"}') != 1:
    bad.append("dataplane")
if m.get("ktrace_kubeproxy_last_sync_timestamp_seconds") != float(sys.argv[3]):
    bad.append("last sync %s" % m.get("ktrace_kubeproxy_last_sync_timestamp_seconds"))
if not any(k.startswith('ktrace_agent_info{') and 'node="n1"' in k for k in m):
    bad.append("info")
if m.get('ktrace_service_stale_connections{namespace="shop",service="web"}') != 0:
    bad.append("stale")
print("ok" if not bad else "; ".join(bad))
EOF
)
[ "$res" = ok ] && pass "metrics on n1: per-backend open connections and shares as in its flows, Service max/mean, dataplane, kube-proxy last sync" ||
	fail "metrics on n1" "$res"
grep -q '^ktrace_dataplane_backends{state="active"} 7$' "$WORK/metrics-n1" && pass "metrics: programmed backends (n1: web 3, api 2, front 2)" || fail "metrics: programmed backends" "$(grep dataplane_backends "$WORK/metrics-n1" | tr '\n' '|')"

# ---- the proxy as kube-apiserver does it ---------------------------------
fleet_get "api/v1/namespaces/ktrace/pods/echo:18080/proxy/some/path?a=1&b=%2F" -H "$AUTH" -H "X-Ktrace-Token: abc" \
	-H "Impersonate-User: eve" -H "X-Remote-User: eve" -H "Connection: X-Drop" -H "X-Drop: 1" -H "Proxy-Authorization: x" \
	-D "$WORK/eh" > "$WORK/echo.json"
res=$("$PY" - "$WORK/echo.json" "$WORK/eh" "$KAPI_PORT" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
h = {k.lower(): v for k, v in e["headers"]}
bad = []
if e["path"] != "/some/path?a=1&b=%2F": bad.append("path " + e["path"])
for gone in ("authorization", "impersonate-user", "x-remote-user", "x-drop", "proxy-authorization", "connection"):
    if gone in h: bad.append("forwarded " + gone)
if h.get("x-ktrace-token") != "abc": bad.append("token header not forwarded")
if h.get("x-forwarded-for") != "127.0.0.1": bad.append("xff %s" % h.get("x-forwarded-for"))
if h.get("x-forwarded-uri") != "/api/v1/namespaces/ktrace/pods/echo:18080/proxy/some/path": bad.append("xfu %s" % h.get("x-forwarded-uri"))
if h.get("x-forwarded-host") != "127.0.0.1:%s" % sys.argv[3]: bad.append("xfh %s" % h.get("x-forwarded-host"))
if h.get("accept-encoding") != "gzip": bad.append("ae %s" % h.get("accept-encoding"))
resp = open(sys.argv[2]).read().lower()
if "x-hop:" in resp or "keep-alive:" in resp: bad.append("hop-by-hop response header passed")
print("ok" if not bad else "; ".join(bad))
EOF
)
[ "$res" = ok ] && pass "proxy: Authorization/Impersonate-*/X-Remote-*/hop-by-hop stripped, X-Ktrace-Token and the query passed, X-Forwarded-* added" ||
	fail "proxy header handling" "$res"
code=$(fleet_get "api/v1/namespaces/ktrace/pods/echo:http/proxy/x" -H "$AUTH" -o "$WORK/named" -w '%{http_code}')
[ "$code" = 503 ] && grep -q 'unknown port' "$WORK/named" && pass "proxy: a container port name is not resolved for Pods (503; clients use the number)" ||
	fail "proxy: named port" "$code $(cat "$WORK/named")"
out=$(fleet_get "api/v1/namespaces/ktrace/pods/echo/proxy/x" -H "$AUTH" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["path"])')
[ "$out" = /x ] && pass "proxy: no port means the first container port" || fail "proxy: no port" "$out"
code=$(fleet_get "api/v1/namespaces/ktrace/pods/echo:18080/proxy" -H "$AUTH" -D "$WORK/rh" -o /dev/null -w '%{http_code}')
[ "$code" = 301 ] && grep -qi '^location: /api/v1/namespaces/ktrace/pods/echo:18080/proxy/' "$WORK/rh" && pass "proxy: no sub-path: 301 to .../proxy/" || fail "proxy: 301" "$code"
code=$(fleet_get "api/v1/namespaces/ktrace/pods/echo:18080/proxy/redirect" -H "$AUTH" -D "$WORK/rh2" -o /dev/null -w '%{http_code}')
[ "$code" = 302 ] && grep -qi '^location: /api/v1/namespaces/ktrace/pods/echo:18080/proxy/elsewhere' "$WORK/rh2" && pass "proxy: a Pod's redirect passes with Location rewritten" || fail "proxy: redirect" "$code $(tr '\r\n' '||' < "$WORK/rh2")"
code=$(fleet_get "api/v1/namespaces/ktrace/pods/loop:80/proxy/x" -H "$AUTH" -o "$WORK/loop" -w '%{http_code}')
[ "$code" = 400 ] && grep -q 'address not allowed' "$WORK/loop" && pass "proxy: a Pod IP that is not global unicast: 400" || fail "proxy: loopback Pod" "$code"
code=$(fleet_get "api/v1/namespaces/ktrace/pods/nope:1/proxy/x" -H "$AUTH" -o /dev/null -w '%{http_code}')
[ "$code" = 404 ] && pass "proxy: unknown Pod: 404" || fail "proxy: unknown Pod" "$code"
code=$(fleet_get "api/v1/namespaces/ktrace/pods/ktrace-agent-n1:$AGENT_PORT/proxy/healthz" -o /dev/null -w '%{http_code}')
[ "$code" = 401 ] && pass "proxy: the API server's own authentication comes first" || fail "proxy: unauthenticated" "$code"

# ---- kubectl against the same server -----------------------------------
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
# (kubectl sends no bearer token to a plain-http server: a second kapi.py
# on the same objects, without authentication)
KAPI1=$KAPI_PORT
if [ -x "$KUBECTL" ] && fleet_kapi_start; then
	kc() { nsx "$CP" env KUBECACHEDIR="$WORK/kcache" HOME="$WORK" "$KUBECTL" --kubeconfig "$KC" --request-timeout 20s "$@"; }
	out=$(kc get --raw "/api/v1/namespaces/ktrace/pods/ktrace-agent-n2:$AGENT_PORT/proxy/healthz" 2>&1)
	[ "$out" = ok ] && pass "kubectl get --raw through the Pod proxy" || fail "kubectl get --raw through the Pod proxy" "$out"
	out=$(kc get pods -n ktrace -l app.kubernetes.io/name=ktrace-agent -o name 2>&1 | tr '\n' ' ')
	[ "$out" = "pod/ktrace-agent-n1 pod/ktrace-agent-n2 pod/ktrace-agent-n3 " ] && pass "kubectl lists the agent Pods by label" || fail "kubectl lists the agent Pods" "$out"
	out=$(kc get secret ktrace-agent-token -n ktrace -o 'jsonpath={.data.token}' 2>&1 | base64 -d 2>/dev/null)
	[ "$out" = "$TOKEN" ] && pass "kubectl reads the token Secret" || fail "kubectl reads the token Secret" "$out"
else
	skip "kubectl through the Pod proxy" "kubectl not installed at $KUBECTL (or a second kapi.py did not start)"
fi
KAPI_PORT=$KAPI1

# ---- bounded work -------------------------------------------------------
cat > "$WORK/par.py" <<'EOF'
import sys, threading, urllib.request
url, tok, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
codes = []
def one():
    r = urllib.request.Request(url, headers={"X-Ktrace-Token": tok})
    try:
        codes.append(urllib.request.urlopen(r, timeout=20).status)
    except Exception as e:
        codes.append(str(e))
ts = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in ts]
[t.join() for t in ts]
print(" ".join(sorted(set(map(str, codes)))))
EOF
out=$(nsx "$CP" "$PY" "$WORK/par.py" "http://192.168.77.2:$AGENT_PORT/v1/digests" "$TOKEN" 12)
[ "$out" = 200 ] && pass "12 concurrent digests requests: all 200 (one node-state read shared)" || fail "concurrent requests" "$out"
cat > "$WORK/idle.py" <<'EOF'
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = [socket.create_connection((host, port)) for _ in range(n)]
time.sleep(0.5)
s = socket.create_connection((host, port))
s.settimeout(3)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
try:
    blocked = s.recv(100) == b""
except OSError:
    blocked = True
for h in held:
    h.close()
time.sleep(0.5)
s2 = socket.create_connection((host, port))
s2.settimeout(3)
s2.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
ok = b"200 OK" in s2.recv(200)
print("ok" if blocked and ok else "blocked=%s ok_after=%s" % (blocked, ok))
EOF
out=$(nsx "$CP" "$PY" "$WORK/idle.py" 192.168.77.2 $AGENT_PORT 16)
[ "$out" = ok ] && pass "16 idle connections from one address fill the per-address limit; served again once they close" || fail "per-address connection limit" "$out"

# ---- read-only, shutdown ------------------------------------------------
same=1
for n in n1 n2 n3; do
	nsx "${P}$n" iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' > "$WORK/after-$n"
	cmp -s "$WORK/before-$n" "$WORK/after-$n" || same=0
done
[ $same = 1 ] && pass "every node's rules are unchanged after all requests" || fail "rules unchanged" "iptables-save differs"
fleet_agent_stop n3; rc=$?
code=$(fleet_agent_get n3 v1/digests -H "$AUTH" -o "$WORK/gone" -w '%{http_code}')
[ "$code" = 503 ] && grep -q 'error trying to reach service' "$WORK/gone" && pass "a stopped agent: 503 Status from the API server" ||
	fail "a stopped agent: 503" "$code $(head -c 200 "$WORK/gone")"
for n in n1 n2; do fleet_agent_stop "$n" || rc=1; done
bad=$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error' "$WORK"/agent-*.err 2>/dev/null)
if [ $rc = 0 ] && [ -z "$bad" ]; then pass "agents stop cleanly on SIGTERM${KT_ASAN:+ (ASan/LSan: no report)}"; else
	fail "agents stop cleanly" "rc=$rc $(cat $bad 2>/dev/null | head -20 | tr '\n' '|')"; fi
exit 0
