#!/usr/bin/env python3
"""fleet_agent.py: a light fake of N ktrace agents for bench/fleet.sh.

Serves recorded answers of one real `ktrace agent` (a 5,000-Service node:
RECORD/digests.json and RECORD/node.json) as N nodes, one per local
address (192.168.90.K answers as node-K), on one port. A share of the
Services deviates: Service i (of the deviating ones) differs on node
(i % N): another digest in /v1/digests, an extra (stale) backend in its
/v1/node?keys= entries. Speaks what the client uses: the X-Ktrace-Token
header, gzip, /v1/digests, /v1/node (whole, or keys=...[&state=ID] with
412 on another state), /healthz, X-Ktrace-Node / X-Ktrace-State.
Usage: fleet_agent.py RECORD TOKENFILE N DEVIATING_SHARE PORT
"""
import copy
import gzip
import http.server
import json
import socketserver
import sys
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

    def send(self, code, b, ctype, gz, nodename=None, state=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        if nodename:
            self.send_header("X-Ktrace-Node", nodename)
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
