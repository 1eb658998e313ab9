#!/usr/bin/env python3
"""fleet_agent.py: a light fake of N ktrace agents for bench/fleet.sh.

Serves recorded answers of one real `ktrace agent` (a 5,000-Service node:
RECORD/digests.json and RECORD/node.json) as N nodes, one per local
address (192.168.90.K answers as node-K), on one port. A share of the
Services deviates: Service i (of the deviating ones) differs on node
(i % N): another digest in /v1/digests, an extra (stale) backend in its
/v1/node?keys= entries. Speaks what the client uses: the X-Ktrace-Token
header, gzip, /v1/digests, /v1/node (whole, or keys=...[&state=ID] with
412 on another state), /v1/flows, /healthz, X-Ktrace-Node /
X-Ktrace-State, ETag / If-None-Match (304) as the agent does.
/v1/flows: a flow sample in the agent's format (bundle sample plus the
sampler's opened counts and byte rates; form=compact: the compact form): node K has open connections to
FLOW_SERVICES (default 100) of the recorded Services (a different set per
node, through every backend of each, 0-6 connections per backend), a new
sample every FLOW_INTERVAL seconds (default 2, as the agent's
--flow-interval) with counts that change from sample to sample.
Usage: fleet_agent.py RECORD TOKENFILE N DEVIATING_SHARE PORT
"""
import copy
import gzip
import http.server
import json
import os
import random
import socketserver
import sys
import threading
import time
import urllib.parse

rec, tokf, N, share, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
TOKEN = open(tokf).read().strip()
dig = json.load(open(rec + "/digests.json"))
node = json.load(open(rec + "/node.json"))
keys = [s["key"] for s in dig["services"]]
ndev = int(len(keys) * share)
dev_keys = keys[:: max(1, len(keys) // max(ndev, 1))][:ndev]
dev_on = {k: i % N + 1 for i, k in enumerate(dev_keys)}
entries = {}
for s in node["services"]:
    entries.setdefault("%s/%s" % (s.get("namespace", ""), s["name"]), []).append(s)


FLOW_SERVICES = int(os.environ.get("FLOW_SERVICES", "100"))
FLOW_INTERVAL = float(os.environ.get("FLOW_INTERVAL", "2"))
# the ClusterIP frontend and the backends of each recorded Service port
flow_svcs = []
for s in node["services"]:
    fe = [f for f in s.get("frontends", []) if f.get("kind") == "clusterIP" and f.get("ip")]
    be = [(b["ip"], b["port"]) for b in s.get("backends", [])]
    if fe and be:
        flow_svcs.append((fe[0]["ip"], fe[0]["port"], s.get("protocol", "TCP"), be))
flow_cache = {}
flow_lock = threading.Lock()


FIELDS = ["vip", "vport", "protocol", "backendIP", "backendPort", "src", "zone", "established", "total", "bytesOrig",
          "bytesReply", "packets", "older1m", "older10m", "older1h", "recent", "opened", "rateOrig", "rateReply", "rttUs"]


def compact(obj):
    """The agent's compact form (ktrace-agent(1)) of a flow sample object."""
    strings, ix, rows = [], {}, []

    def si(x):
        if x not in ix:
            ix[x] = len(strings)
            strings.append(x)
        return ix[x]
    sm = obj["sampler"]
    for i, f in enumerate(obj["flows"]):
        rows += [si(f["vip"]), f["vport"], si(f["protocol"]), si(f["backendIP"]), f["backendPort"], si(f["src"]),
                 f["zone"], f["established"], f["total"], f["bytesOrig"], f["bytesReply"], f["packets"], f["older1m"],
                 f["older10m"], f["older1h"], f["recent"], sm["opened"][i], round(sm["rateOrig"][i]),
                 round(sm["rateReply"][i]), "-"]
    out = {k: v for k, v in obj.items() if k not in ("flows", "sampler")}
    out.update({"form": "compact", "fields": FIELDS, "strings": " ".join(strings), "rows": " ".join(map(str, rows)),
                "sampler": {k: v for k, v in sm.items() if k not in ("opened", "rateOrig", "rateReply")}})
    return out


def flows_body(k, gz, form):
    """Node K's sample of the current FLOW_INTERVAL bucket (built once per bucket)."""
    bucket = int(time.time() / FLOW_INTERVAL)
    ck = (k, bucket, gz, form)
    with flow_lock:
        if ck in flow_cache:
            return flow_cache[ck]
    rnd = random.Random(k * 1000003 + bucket)
    flows, opened, ro, rr = [], [], [], []
    n = len(flow_svcs)
    for j in range(min(FLOW_SERVICES, n)):
        vip, vport, proto, be = flow_svcs[(k * 37 + j * 11) % n]
        for ip, port in be:
            est = rnd.randint(0, 6)
            flows.append({"vip": vip, "vport": vport, "protocol": proto, "backendIP": ip, "backendPort": port,
                          "src": "conntrack", "zone": 0, "established": est, "total": est + rnd.randint(0, 2),
                          "bytesOrig": est * 1200, "bytesReply": est * 48000, "packets": est * 40,
                          "older1m": est, "older10m": 0, "older1h": 0, "recent": 0})
            opened.append(rnd.randint(0, 2))
            ro.append(float(est * 30))
            rr.append(float(est * 1200))
    taken = int(bucket * FLOW_INTERVAL * 1000)
    obj = {"node": "node-%d" % k, "source": "conntrack", "takenMs": taken, "acct": True, "timestamps": True,
           "entriesSeen": len(flows) * 3, "flows": flows,
           "sampler": {"elapsedUs": 1500, "capped": False, "fullDump": False, "events": True,
                       "intervalMs": int(FLOW_INTERVAL * 1000), "opened": opened, "rateOrig": ro, "rateReply": rr},
           "gaps": []}
    if form == "compact":
        obj = compact(obj)
    b = json.dumps(obj, separators=(",", ":")).encode()
    etag = 'W/"%016x"' % (hash(b) & 0xffffffffffffffff)
    if gz:
        b = gzip.compress(b, 1)
    with flow_lock:
        for old in [x for x in flow_cache if x[0] == k and x[1] < bucket - 1]:
            del flow_cache[old]
        flow_cache[ck] = (b, etag)
    return b, etag


def sid(k):
    return "%016x" % (0x1234567800000000 + k)


def body_for(k, path, q):
    name = "node-%d" % k
    if path == "/v1/digests":
        d = dict(dig)
        d["node"], d["stateId"] = name, sid(k)
        svcs = []
        for s in dig["services"]:
            if dev_on.get(s["key"]) == k:
                s = dict(s)
                s["digest"] = "%016x" % (int(s["digest"], 16) ^ 0xdeadbeef)
            svcs.append(s)
        d["services"] = svcs
        return 200, d
    if path == "/v1/node":
        if "state" in q and q["state"][0] != sid(k):
            return 412, {"error": {"code": 412, "reason": "StateChanged", "message": "state changed", "stateId": sid(k)}}
        n = dict(node)
        n["node"] = name
        if "keys" in q:
            out = []
            for key in q["keys"][0].split(","):
                for e in entries.get(key, []):
                    if dev_on.get(key) == k and e.get("backends"):
                        e = copy.deepcopy(e)
                        b = dict(e["backends"][0])
                        b["ip"] = "10.255.%d.%d" % (k // 250, k % 250 + 1)
                        e["backends"].append(b)
                    out.append(e)
            n["services"] = out
        return 200, n
    return 404, {"error": {"code": 404, "reason": "NotFound", "message": "no such path"}}


cache = {}


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/healthz":
            return self.send(200, b"ok", "text/plain", False)
        if self.headers.get("X-Ktrace-Token") != TOKEN:
            return self.send(401, b"", "text/plain", False)
        k = int(self.connection.getsockname()[0].rsplit(".", 1)[1])
        q = urllib.parse.parse_qs(u.query)
        gz = "gzip" in (self.headers.get("Accept-Encoding") or "")
        if u.path == "/v1/flows":
            b, etag = flows_body(k, gz, q.get("form", ["full"])[0])
            if self.headers.get("If-None-Match") == etag:
                return self.send(304, b"", "application/json", False, "node-%d" % k, None, etag)
            return self.send(200, b, "application/json", gz, "node-%d" % k, None, etag)
        ck = (k, self.path, gz)
        if ck not in cache or "keys" in q:
            code, obj = body_for(k, u.path, q)
            b = json.dumps(obj, separators=(",", ":")).encode()
            if gz:
                b = gzip.compress(b, 1 if len(b) > (1 << 20) else 6)
            cache[ck] = (code, b)
            if "keys" in q:
                cache.pop(ck)
        code, b = cache.get(ck) or (code, b)
        self.send(code, b, "application/json", gz, "node-%d" % k, sid(k))

    def send(self, code, b, ctype, gz, nodename=None, state=None, etag=None):
        self.send_response(code)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        if nodename:
            self.send_header("X-Ktrace-Node", nodename)
        if state:
            self.send_header("X-Ktrace-State", state)
        self.end_headers()
        self.wfile.write(b)


class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


# the digests of every node, built before the clock starts (an agent has
# its answer cached too)
for k in range(1, N + 1):
    code, obj = body_for(k, "/v1/digests", {})
    cache[(k, "/v1/digests", True)] = (code, gzip.compress(json.dumps(obj, separators=(",", ":")).encode(), 6))
print("ready", flush=True)
S(("0.0.0.0", port), H).serve_forever()
