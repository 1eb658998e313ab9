#!/usr/bin/env python3
"""kapi.py: a small, read-only Kubernetes API server for ktrace's tests.

Serves a fixture cluster (a directory of JSON files: one List per resource,
e.g. services.json, or any List/object whose items carry "kind") or a
generated large cluster (--generate N) over HTTP or HTTPS (HTTP/1.1,
keep-alive), with enough of the real API for ktrace and kubectl:
/version, /api, /apis and legacy APIResourceList discovery (shortNames),
namespaced and all-namespace lists, GET by name, labelSelector and
fieldSelector, limit/continue paging, gzip above --gzip-min bytes,
bearer-token and client-certificate authentication, and fault injection
(expired continue tokens, 429 throttling, 403, slow and hung responses,
truncated and non-JSON bodies, a 50 MB response) and hostile servers
(continue tokens that repeat or never end, a gzip bomb of [0,0,...] items,
deeply nested or very wide items, floods of Warning headers carrying
terminal control sequences).

It also serves the Pod proxy, GET /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH
(NAME may be SCHEME:NAME:PORT), forwarding to the Pod's status.podIP the way
kube-apiserver does (pkg/registry/core/pod: ResourceLocation; apimachinery
util/proxy: UpgradeAwareHandler and Transport; Go's httputil.ReverseProxy):
the port is used as written (a container port *name* is not resolved for
Pods: the dial fails), the Pod IP must be global unicast, Authorization,
Impersonate-* and X-Remote-* request headers are removed (the authentication
and impersonation filters), hop-by-hop headers are dropped both ways,
X-Forwarded-For/-Uri/-Host/-Proto are added, the query passes unchanged, an
empty sub-path gets a 301 to ".../proxy/", a request without Accept-Encoding
is sent with "gzip" and a gzip answer is decompressed (Go's transport),
redirects pass with Location rewritten, and an unreachable Pod is a 503
Status "error trying to reach service: ...".

Python 3 standard library only. Never used outside tests.
"""
import argparse
import base64
import gc
import gzip
import http.client
import ipaddress
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# plural -> (group, version, kind, namespaced, shortNames)
RESOURCES = {
    "services": ("", "v1", "Service", True, ["svc"]),
    "endpoints": ("", "v1", "Endpoints", True, ["ep"]),
    "pods": ("", "v1", "Pod", True, ["po"]),
    "nodes": ("", "v1", "Node", False, ["no"]),
    "namespaces": ("", "v1", "Namespace", False, ["ns"]),
    "configmaps": ("", "v1", "ConfigMap", True, ["cm"]),
    "secrets": ("", "v1", "Secret", True, []),
    "serviceaccounts": ("", "v1", "ServiceAccount", True, ["sa"]),
    "endpointslices": ("discovery.k8s.io", "v1", "EndpointSlice", True, []),
    "deployments": ("apps", "v1", "Deployment", True, ["deploy"]),
    "statefulsets": ("apps", "v1", "StatefulSet", True, ["sts"]),
    "daemonsets": ("apps", "v1", "DaemonSet", True, ["ds"]),
    "replicasets": ("apps", "v1", "ReplicaSet", True, ["rs"]),
    "horizontalpodautoscalers": ("autoscaling", "v2", "HorizontalPodAutoscaler", True, ["hpa"]),
    "poddisruptionbudgets": ("policy", "v1", "PodDisruptionBudget", True, ["pdb"]),
    "ingresses": ("networking.k8s.io", "v1", "Ingress", True, ["ing"]),
    "ingressclasses": ("networking.k8s.io", "v1", "IngressClass", False, []),
    # Gateway API: CRDs, served only when the fixture holds objects of the group
    "gatewayclasses": ("gateway.networking.k8s.io", "v1", "GatewayClass", False, ["gc"]),
    "gateways": ("gateway.networking.k8s.io", "v1", "Gateway", True, ["gtw"]),
    "httproutes": ("gateway.networking.k8s.io", "v1", "HTTPRoute", True, []),
    "grpcroutes": ("gateway.networking.k8s.io", "v1", "GRPCRoute", True, []),
    "roles": ("rbac.authorization.k8s.io", "v1", "Role", True, []),
    "rolebindings": ("rbac.authorization.k8s.io", "v1", "RoleBinding", True, []),
    "clusterroles": ("rbac.authorization.k8s.io", "v1", "ClusterRole", False, []),
    "clusterrolebindings": ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", False, []),
}
CRD_GROUPS = {"gateway.networking.k8s.io"}
INSTALLED = set()   # CRD groups the fixture has objects of (filled by main)
KIND_TO_PLURAL = {v[2]: k for k, v in RESOURCES.items()}


def gv_of(plural):
    g, v = RESOURCES[plural][0], RESOURCES[plural][1]
    return v if not g else g + "/" + v


def status(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


class Store:
    """Objects per resource, sorted by etcd key (namespace/name)."""

    def __init__(self):
        self.items = {p: [] for p in RESOURCES}   # plural -> [(key, ns, name, obj, json_text)]

    def add(self, plural, obj):
        obj = dict(obj)
        obj.pop("kind", None)
        obj.pop("apiVersion", None)
        md = obj.setdefault("metadata", {})
        ns = md.get("namespace") if RESOURCES[plural][3] else None
        if RESOURCES[plural][3] and not ns:
            ns = md["namespace"] = "default"
        name = md.get("name", "")
        key = (ns + "/" + name) if ns else name
        self.items[plural].append((key, ns, name, obj, None))

    def finish(self):
        for p in self.items:
            self.items[p].sort(key=lambda t: t[0].encode())
            self.items[p] = [(k, ns, n, o, json.dumps(o, separators=(",", ":")))
                             for (k, ns, n, o, _) in self.items[p]]
        # implied namespaces
        have = {t[2] for t in self.items["namespaces"]}
        extra = set()
        for p, lst in self.items.items():
            for t in lst:
                if t[1] and t[1] not in have:
                    extra.add(t[1])
        for ns in sorted(extra):
            o = {"metadata": {"name": ns, "uid": "ns-" + ns, "resourceVersion": "1"},
                 "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
            self.items["namespaces"].append((ns, None, ns, o, json.dumps(o, separators=(",", ":"))))
        self.items["namespaces"].sort(key=lambda t: t[0].encode())


def load_dir(store, d):
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(d, fn)) as f:
            doc = json.load(f)
        base = fn[:-5]
        items = doc.get("items") if isinstance(doc.get("items"), list) else [doc]
        list_kind = doc.get("kind", "")
        for it in items:
            kind = it.get("kind")
            if not kind and list_kind.endswith("List") and list_kind != "List":
                kind = list_kind[:-4]
            plural = KIND_TO_PLURAL.get(kind) if kind else None
            if plural is None and base in RESOURCES:
                plural = base
            if plural is None:
                continue
            store.add(plural, it)


def gen_cluster(store, n_svc):
    """n_svc Services, one EndpointSlice each (2 endpoints) and 2 Pods per Service,
    with realistic metadata (managedFields, labels, annotations) and sizes."""
    n_ns = max(1, n_svc // 100)
    nodes = ["node-%03d" % i for i in range(max(3, n_svc // 200))]
    zones = ["zone-a", "zone-b", "zone-c"]
    for i, nd in enumerate(nodes):
        store.add("nodes", {"metadata": {"name": nd, "uid": "uid-node-%d" % i, "resourceVersion": "100",
                                         "labels": {"kubernetes.io/hostname": nd, "topology.kubernetes.io/zone": zones[i % 3],
                                                    "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "m5.large"}},
                            "spec": {"podCIDR": "10.%d.%d.0/24" % (100 + i // 256, i % 256), "providerID": "aws:///%s/i-%08x" % (zones[i % 3], i)},
                            "status": {"addresses": [{"type": "InternalIP", "address": "192.168.%d.%d" % (i // 250, i % 250 + 1)},
                                                     {"type": "Hostname", "address": nd}],
                                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                                       "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z",
                                                       "message": "kubelet is posting ready status"}],
                                       "nodeInfo": {"kubeletVersion": "v1.32.4", "kubeProxyVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12",
                                                    "containerRuntimeVersion": "containerd://1.7.24", "kernelVersion": "6.1.0-28-amd64",
                                                    "architecture": "amd64", "operatingSystem": "linux"}}})

    def mf(manager, op, fields):
        return [{"manager": manager, "operation": op, "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
                 "fieldsType": "FieldsV1", "fieldsV1": fields}]

    for i in range(n_svc):
        ns = "ns-%03d" % (i % n_ns)
        app = "app-%05d" % i
        labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": app + "-prod",
                  "app.kubernetes.io/part-of": "bench", "app.kubernetes.io/managed-by": "Helm", "team": "team-%d" % (i % 17)}
        cip = "10.96.%d.%d" % (i // 250, i % 250 + 1)
        svc = {"metadata": {"name": app, "namespace": ns, "uid": "uid-svc-%d" % i, "resourceVersion": str(1000 + i),
                            "creationTimestamp": "2026-01-01T00:00:00Z", "labels": labels,
                            "annotations": {"meta.helm.sh/release-name": app + "-prod", "meta.helm.sh/release-namespace": ns},
                            "managedFields": mf("helm", "Update", {"f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
                                                                   "f:spec": {"f:ports": {".": {}, "k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}},
                                                                              "f:selector": {}, "f:type": {}}})},
               "spec": {"type": "LoadBalancer" if i % 10 == 0 else "ClusterIP", "clusterIP": cip, "clusterIPs": [cip],
                        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
                        "sessionAffinity": "None", "selector": {"app.kubernetes.io/name": app},
                        "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                                  {"name": "grpc", "protocol": "TCP", "port": 9090, "targetPort": "grpc", "appProtocol": "kubernetes.io/h2c"}]},
               "status": {"loadBalancer": {}}}
        if i % 10 == 0:
            svc["spec"]["externalTrafficPolicy"] = "Cluster"
            svc["spec"]["ports"][0]["nodePort"] = 30000 + i % 2700
            svc["status"]["loadBalancer"] = {"ingress": [{"hostname": "a%05d.elb.example.com" % i}]}
        store.add("services", svc)
        eps = []
        for r in range(2):
            pi = 2 * i + r
            pod_name = "%s-7d9f8b6c5-%05d" % (app, pi)
            node = nodes[pi % len(nodes)]
            pip = "10.%d.%d.%d" % (100 + pi // 62500, (pi // 250) % 250, pi % 250 + 1)
            eps.append({"addresses": [pip], "conditions": {"ready": True, "serving": True, "terminating": False},
                        "nodeName": node, "zone": zones[(pi % len(nodes)) % 3],
                        "targetRef": {"kind": "Pod", "namespace": ns, "name": pod_name, "uid": "uid-pod-%d" % pi}})
            pod = {"metadata": {"name": pod_name, "generateName": app + "-7d9f8b6c5-", "namespace": ns, "uid": "uid-pod-%d" % pi,
                                "resourceVersion": str(50000 + pi), "creationTimestamp": "2026-01-01T00:00:00Z",
                                "labels": {"app.kubernetes.io/name": app, "pod-template-hash": "7d9f8b6c5", "team": "team-%d" % (i % 17)},
                                "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"},
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": app + "-7d9f8b6c5",
                                                     "uid": "uid-rs-%d" % i, "controller": True, "blockOwnerDeletion": True}],
                                "managedFields": mf("kube-controller-manager", "Update", {"f:metadata": {"f:generateName": {}, "f:labels": {}, "f:ownerReferences": {}},
                                                                                         "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:ports": {}, "f:readinessProbe": {}, "f:resources": {}}}}})
                                + mf("kubelet", "Update", {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}})},
                   "spec": {"nodeName": node, "serviceAccountName": "default", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                            "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "priority": 0,
                            "securityContext": {}, "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                                                                   {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
                            "containers": [{"name": "app", "image": "registry.example.com/bench/%s:1.%d.0" % (app, i % 9), "imagePullPolicy": "IfNotPresent",
                                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}, {"name": "grpc", "containerPort": 9090, "protocol": "TCP"}],
                                            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_PASSWORD", "value": "s3cr3t-%d" % i}],
                                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
                                            "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                                            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}],
                                            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                                                                                                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}]},
                   "status": {"phase": "Running", "hostIP": "192.168.0.1", "podIP": pip, "podIPs": [{"ip": pip}], "qosClass": "Burstable",
                              "startTime": "2026-01-01T00:00:00Z",
                              "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                                             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
                              "containerStatuses": [{"name": "app", "ready": True, "started": True, "restartCount": 0,
                                                     "image": "registry.example.com/bench/%s:1.%d.0" % (app, i % 9),
                                                     "imageID": "registry.example.com/bench/%s@sha256:%064x" % (app, i),
                                                     "containerID": "containerd://%064x" % pi,
                                                     "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}, "lastState": {}}]}}
            store.add("pods", pod)
        store.add("endpointslices", {
            "metadata": {"name": app + "-abcde", "namespace": ns, "uid": "uid-es-%d" % i, "resourceVersion": str(90000 + i),
                         "generateName": app + "-", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"kubernetes.io/service-name": app, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                                    "app.kubernetes.io/name": app},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T00:00:00Z"},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": app, "uid": "uid-svc-%d" % i, "controller": True, "blockOwnerDeletion": True}]},
            "addressType": "IPv4", "endpoints": eps,
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "grpc", "protocol": "TCP", "port": 9090, "appProtocol": "kubernetes.io/h2c"}]})


# ---------- selectors ----------

def split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return [t.strip() for t in out if t.strip()]


def parse_label_selector(s):
    reqs = []
    for t in split_top(s):
        m = re.match(r"^([^\s!=()]+)\s+(in|notin)\s+\((.*)\)$", t)
        if m:
            reqs.append((m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",") if v.strip()]))
            continue
        m = re.match(r"^([^\s!=]+)\s*(==|!=|=)\s*(.*)$", t)
        if m:
            reqs.append((m.group(1), {"==": "=", "=": "=", "!=": "!="}[m.group(2)], [m.group(3).strip()]))
            continue
        if t.startswith("!"):
            reqs.append((t[1:].strip(), "!exists", []))
            continue
        if re.match(r"^[A-Za-z0-9./_-]+$", t):
            reqs.append((t, "exists", []))
            continue
        raise ValueError("unable to parse requirement: %r" % t)
    return reqs


def label_match(reqs, labels):
    for k, op, vals in reqs:
        has = k in labels
        v = labels.get(k)
        if op == "=" and not (has and v == vals[0]):
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and not (has and v in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!exists" and has:
            return False
    return True


FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.type",
          "spec.clusterIP", "status.podIP", "spec.restartPolicy", "spec.schedulerName",
          "spec.serviceAccountName", "spec.unschedulable"}


def parse_field_selector(s):
    reqs = []
    for t in split_top(s):
        m = re.match(r"^([^\s!=]+)\s*(==|!=|=)\s*(.*)$", t)
        if not m or m.group(1) not in FIELDS:
            raise ValueError('field label not supported: %s' % (m.group(1) if m else t))
        reqs.append((m.group(1), m.group(2) != "!=", m.group(3)))
    return reqs


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def field_match(reqs, obj):
    for path, eq, v in reqs:
        if (field_value(obj, path) == v) != eq:
            return False
    return True


# ---------- server ----------

class State:
    def __init__(self, args, store):
        self.args = args
        self.store = store
        self.lock = threading.Lock()
        self.counts = {}
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.rv = "123456"
        self.cache = {}          # (path+query, gzip) -> (body, gzipped); --cache-pages
        self.cache_bytes = 0

    def zero_body(self, kind, plural, gz):
        """A list whose items are 0,0,0,...: 64 MB, gzip'd to about 65 KB
        (cached)."""
        key = (plural, gz)
        if key not in self.cache:
            import zlib
            n = (64 << 20) // 2 if gz else (8 << 20) // 2
            head = ('{"kind":"%sList","apiVersion":"%s","metadata":{},"items":[' % (kind, gv_of(plural))).encode()
            if gz:
                c = zlib.compressobj(9, zlib.DEFLATED, 31)
                parts = [c.compress(head)]
                chunk = b"0," * (1 << 20)
                for _ in range(n // (1 << 20)):
                    parts.append(c.compress(chunk))
                parts.append(c.compress(b"0]}"))
                parts.append(c.flush())
                self.cache[key] = b"".join(parts)
            else:
                self.cache[key] = head + b"0," * n + b"0]}"
        return self.cache[key]

    def bump(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            return self.counts[name]

    def write_log(self, rec):
        if self.log:
            with self.lock:
                self.log.write(json.dumps(rec) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kapi/1"
    sys_version = ""

    def log_message(self, fmt, *a):
        pass

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(30)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.handshake_failed = True
        super().setup()

    def handle(self):
        if getattr(self, "handshake_failed", False):
            return
        try:
            super().handle()
        except (ConnectionError, ssl.SSLError, TimeoutError):
            pass

    # -- helpers --
    def send_body(self, code, body, ctype="application/json", extra=None, allow_gzip=True, cache_key=None):
        st = self.server.state
        want_gz = allow_gzip and "gzip" in (self.headers.get("Accept-Encoding") or "")
        cached = st.cache.get((cache_key, want_gz)) if cache_key else None
        if cached is not None:
            body, gz = cached
        else:
            if isinstance(body, (dict, list)):
                body = json.dumps(body, separators=(",", ":"))
            if isinstance(body, str):
                body = body.encode()
            gz = want_gz and len(body) > st.args.gzip_min
            if gz:
                body = gzip.compress(body, compresslevel=1)
            if cache_key and st.cache_bytes + len(body) < 1 << 30:
                with st.lock:
                    st.cache[(cache_key, want_gz)] = (body, gz)
                    st.cache_bytes += len(body)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for w in st.args.warn or []:
            self.send_header("Warning", '299 - "%s"' % w)
        for i in range(st.args.warn_flood):
            # distinct texts with ESC/BEL/BS, a C1 CSI byte and a bidi override (raw UTF-8 bytes)
            txt = "flood %d \x1b[2J\x1b]0;pwned\x07\x08\x9b31m %s %s" % (i, "\u202e".encode().decode("latin-1"), "x" * 3000)
            self.send_header("Warning", '299 - "%s"' % txt)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.code = code

    def send_status(self, code, reason, msg, extra=None, details=None):
        self.send_body(code, status(code, reason, msg, details), extra=extra)

    def authenticate(self):
        """Returns (ok, who)."""
        a = self.server.state.args
        who = None
        if isinstance(self.request, ssl.SSLSocket):
            try:
                cert = self.request.getpeercert()
            except ValueError:
                cert = None
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            who = "cert:" + v
                if not who:
                    who = "cert:"
        auth = self.headers.get("Authorization") or ""
        tokens = list(a.token or [])
        if a.token_file:
            try:
                with open(a.token_file) as f:
                    tokens.append(f.read().strip())
            except OSError:
                pass
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            if tok in tokens:
                return True, "token:%d" % tokens.index(tok)
            return False, "badtoken"
        if auth.startswith("Basic "):
            try:
                up = base64.b64decode(auth[6:]).decode()
            except Exception:
                up = ""
            if a.basic and up == a.basic:
                return True, "basic:" + up.split(":")[0]
            return False, "badbasic"
        if who:
            return True, who
        if not a.token and not a.token_file and not a.client_ca and not a.basic:
            return True, "anonymous"
        return False, "none"

    def do_GET(self):
        st = self.server.state
        a = st.args
        t0 = time.time()
        self.code = 0
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        path = u.path.rstrip("/") or "/"
        ok, who = self.authenticate()
        rec = {"method": "GET", "path": self.path, "who": who,
               "ua": self.headers.get("User-Agent"), "ae": self.headers.get("Accept-Encoding"),
               "auth_header": bool(self.headers.get("Authorization")),
               "host": self.headers.get("Host")}
        for h in ("Impersonate-User", "Impersonate-Uid"):
            if self.headers.get(h):
                rec[h] = self.headers.get(h)
        if self.headers.get_all("Impersonate-Group"):
            rec["Impersonate-Group"] = self.headers.get_all("Impersonate-Group")
        try:
            self.route(path, q, ok, who)
        finally:
            rec["status"] = self.code
            rec["ms"] = int((time.time() - t0) * 1000)
            rec.update(getattr(self, "proxy_rec", {}))
            st.write_log(rec)

    def route(self, path, q, ok, who):
        st = self.server.state
        a = st.args
        if a.hang:
            time.sleep(3600)
            return
        if a.slow:
            time.sleep(a.slow)
        if not ok:
            if a.rotate_token_file and st.bump("rotate") == 1:
                with open(a.rotate_token_file, "w") as f:
                    f.write((a.token or ["rotated"])[0] + "\n")
            self.send_status(401, "Unauthorized", "Unauthorized")
            return
        if a.throttle and st.bump("throttle") <= a.throttle:
            self.send_body(429, "Too many requests, please try again later.\n", ctype="text/plain; charset=utf-8",
                           extra={"Retry-After": "1", "X-Kubernetes-PF-FlowSchema-UID": "fs-1",
                                  "X-Kubernetes-PF-PriorityLevel-UID": "pl-1"})
            return
        if a.unavailable and st.bump("unavailable") <= a.unavailable:
            self.send_status(503, "ServiceUnavailable", "the server is currently unable to handle the request",
                             extra={"Retry-After": "1"}, details={"retryAfterSeconds": 1})
            return
        if self.try_pod_proxy():
            return
        if path == "/version":
            self.send_body(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.4", "gitCommit": "kapi",
                                 "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                                 "compiler": "gc", "platform": "linux/amd64"})
            return
        if path == "/api":
            self.send_body(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
            return
        if path == "/apis":
            groups = {}
            for p, (g, v, _, _, _) in RESOURCES.items():
                if g and (g not in CRD_GROUPS or g in INSTALLED):
                    groups.setdefault(g, v)
            self.send_body(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": g + "/" + v, "version": v}],
                 "preferredVersion": {"groupVersion": g + "/" + v, "version": v}} for g, v in sorted(groups.items())]})
            return
        m = re.match(r"^/(?:api/(v1)|apis/([^/]+)/([^/]+))(/.*)?$", path)
        if not m:
            self.not_found(path)
            return
        group = m.group(2) or ""
        if group in CRD_GROUPS and group not in INSTALLED:
            self.not_found(path)   # the CRDs are not installed
            return
        version = m.group(1) or m.group(3)
        rest = m.group(4) or ""
        gv = version if not group else group + "/" + version
        if rest == "":
            res = [{"name": p, "singularName": RESOURCES[p][2].lower(), "namespaced": RESOURCES[p][3],
                    "kind": RESOURCES[p][2], "verbs": ["get", "list", "watch"], "shortNames": RESOURCES[p][4]}
                   for p in RESOURCES if gv_of(p) == gv]
            if not res:
                self.not_found(path)
                return
            self.send_body(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res})
            return
        parts = rest.strip("/").split("/")
        ns = None
        if parts[0] == "namespaces" and len(parts) >= 3:
            ns = urllib.parse.unquote(parts[1])
            parts = parts[2:]
        if len(parts) not in (1, 2) or parts[0] not in RESOURCES or gv_of(parts[0]) != gv:
            if parts[0] == "namespaces" and len(parts) == 2 and gv == "v1":
                pass
            else:
                self.not_found(path)
                return
        plural = parts[0]
        name = urllib.parse.unquote(parts[1]) if len(parts) == 2 else None
        if ns is not None and not RESOURCES[plural][3]:
            self.not_found(path)
            return
        self.serve_resource(plural, ns, name, q)

    def send_paging_fault(self, plural, kind, q):
        """--loop-continue: the same page and continue token for ever;
        --grow-continue: new items and a new token on every page while
        claiming one item remains."""
        st = self.server.state
        a = st.args
        n = st.bump("page-" + plural)
        limit = int(q.get("limit", ["500"])[0] or 500)
        grow = plural in (a.grow_continue or [])
        base = (n - 1) * limit if grow else 0
        items = ['{"metadata":{"name":"gen-%07d","namespace":"default","uid":"u%d"},"spec":{"ports":[{"port":80}]}}'
                 % (base + i, base + i) for i in range(limit)]
        tok = base64.urlsafe_b64encode(("page-%d" % n if grow else "loop").encode()).decode()
        md = '"resourceVersion":"1","continue":"%s"' % tok
        if grow:
            md += ',"remainingItemCount":1'
        body = '{"kind":"%sList","apiVersion":"%s","metadata":{%s},"items":[%s]}' % (kind, gv_of(plural), md, ",".join(items))
        self.send_body(200, body)

    # ---------- Pod proxy ----------
    HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                  "te", "trailer", "transfer-encoding", "upgrade"}
    STRIPPED = {"authorization"}  # removed by the authentication filter once the caller is known

    def try_pod_proxy(self):
        u = urllib.parse.urlsplit(self.path)
        m = re.match(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/proxy(/.*)?$", u.path)
        if not m:
            return False
        st = self.server.state
        a = st.args
        ns, ident, sub = urllib.parse.unquote(m.group(1)), urllib.parse.unquote(m.group(2)), m.group(3)
        if "pods/proxy" in (a.forbid or []) or ("%s/pods/proxy" % ns) in (a.forbid or []):
            self.send_status(403, "Forbidden", 'pods "%s" is forbidden: User "system:serviceaccount:default:ktrace" '
                             'cannot get resource "pods/proxy" in API group "" in the namespace "%s"'
                             % (ident.split(":")[0], ns), details={"name": ident, "kind": "pods"})
            return True
        # utilnet.SplitSchemeNamePort: NAME, NAME:PORT or SCHEME:NAME:PORT (scheme http or https)
        parts = ident.split(":")
        scheme, name, port = "", "", ""
        if len(parts) == 1:
            name = parts[0]
        elif len(parts) == 2:
            name, port = parts
        elif len(parts) == 3:
            scheme, name, port = parts
        if not name or len(parts) > 3 or scheme not in ("", "http", "https"):
            self.send_status(400, "BadRequest", 'invalid pod request "%s"' % ident)
            return True
        pod = None
        for key, ins, nm, obj, txt in st.store.items["pods"]:
            if ins == ns and nm == name:
                pod = obj
        if pod is None:
            self.send_status(404, "NotFound", 'pods "%s" not found' % name,
                             details={"name": name, "kind": "pods"})
            return True
        if not port:
            for c in pod.get("spec", {}).get("containers") or []:
                if c.get("ports"):
                    port = str(c["ports"][0].get("containerPort", ""))
                    break
        status_ = pod.get("status") or {}
        pod_ip = ((status_.get("podIPs") or [{}])[0].get("ip")) or status_.get("podIP") or ""
        try:
            ipa = ipaddress.ip_address(pod_ip)
            allowed = not (ipa.is_unspecified or ipa.is_loopback or ipa.is_multicast or ipa.is_link_local
                           or (ipa.version == 4 and int(ipa) == 0xffffffff))
        except ValueError:
            allowed = False
        if not allowed:
            self.send_status(400, "BadRequest", "address not allowed")
            return True
        if sub is None:
            # proxyRedirectsforRootPath: an empty path goes to ".../proxy/"
            loc = u.path + "/" + ("?" + u.query if u.query else "")
            self.send_response(301)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.code = 301
            return True
        target_path = sub
        if u.query:
            target_path += "?" + u.query
        host = "[%s]" % pod_ip if ":" in pod_ip else pod_ip
        self.proxy_rec = {"proxy": "%s://%s:%s%s" % (scheme or "http", host, port, target_path)}
        if not port.isdigit():
            self.send_status(503, "ServiceUnavailable",
                             "error trying to reach service: dial tcp: lookup tcp/%s: unknown port" % port)
            return True
        # request headers as the Pod sees them
        drop = set(self.HOP_BY_HOP) | self.STRIPPED
        for c in (self.headers.get_all("Connection") or []):
            drop |= {t.strip().lower() for t in c.split(",")}
        fwd = []
        for k, v in self.headers.items():
            kl = k.lower()
            if kl in drop or kl.startswith("impersonate-") or kl.startswith("x-remote-"):
                continue
            fwd.append((k, v))
        peer = self.client_address[0]
        prior = [v for k, v in fwd if k.lower() == "x-forwarded-for"]
        fwd = [(k, v) for k, v in fwd if k.lower() not in ("x-forwarded-for", "x-forwarded-uri", "x-forwarded-host",
                                                            "x-forwarded-proto")]
        fwd.append(("X-Forwarded-For", ", ".join(prior + [peer])))
        fwd.append(("X-Forwarded-Uri", u.path))
        fwd.append(("X-Forwarded-Host", self.headers.get("Host") or ""))
        fwd.append(("X-Forwarded-Proto", "https" if isinstance(self.request, ssl.SSLSocket) else "http"))
        transparent_gzip = not any(k.lower() == "accept-encoding" for k, v in fwd)
        if transparent_gzip:
            fwd.append(("Accept-Encoding", "gzip"))
        self.proxy_rec["fwd_headers"] = sorted(k.lower() for k, v in fwd)
        try:
            if scheme == "https":
                conn = http.client.HTTPSConnection(pod_ip, int(port), timeout=a.proxy_timeout,
                                                   context=ssl._create_unverified_context())
            else:
                conn = http.client.HTTPConnection(pod_ip, int(port), timeout=a.proxy_timeout)
            conn.putrequest("GET", target_path, skip_host=True, skip_accept_encoding=True)
            for k, v in fwd:
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
        except TimeoutError:
            self.send_status(504, "Timeout", "Timeout: request did not complete within requested timeout - "
                             "context deadline exceeded")
            return True
        except (OSError, http.client.HTTPException) as e:
            why = getattr(e, "strerror", None) or str(e) or type(e).__name__
            if isinstance(e, ConnectionRefusedError):
                why = "connect: connection refused"
            self.send_status(503, "ServiceUnavailable", "error trying to reach service: dial tcp %s:%s: %s"
                             % (host, port, why))
            return True
        self.proxy_rec["pod_status"] = resp.status
        body_gz = transparent_gzip and (resp.getheader("Content-Encoding") or "").lower() == "gzip"
        self.send_response(resp.status)
        rdrop = set(self.HOP_BY_HOP)
        for c in (resp.headers.get_all("Connection") or []):
            rdrop |= {t.strip().lower() for t in c.split(",")}
        for k, v in resp.headers.items():
            kl = k.lower()
            if kl in rdrop or kl in ("date", "server") or (body_gz and kl in ("content-encoding", "content-length")):
                continue
            if kl == "location" and v.startswith("/"):
                v = u.path[: len(u.path) - len(sub)] + v
            self.send_header(k, v)
        length = resp.getheader("Content-Length")
        chunked = body_gz or length is None
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.code = resp.status
        dec = zlib.decompressobj(31) if body_gz else None
        try:
            while True:
                buf = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not buf:
                    break
                if dec:
                    buf = dec.decompress(buf)
                if chunked:
                    if buf:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(buf), buf))
                else:
                    self.wfile.write(buf)
            if dec:
                tail = dec.flush()
                if tail:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(tail), tail))
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException, zlib.error):
            self.close_connection = True
        finally:
            conn.close()
        return True

    def not_found(self, path):
        self.send_status(404, "NotFound", "the server could not find the requested resource",
                         details={"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})

    def serve_resource(self, plural, ns, name, q):
        st = self.server.state
        a = st.args
        g, v, kind, namespaced, _ = RESOURCES[plural]
        if plural in (a.forbid or []) or ("%s/%s" % (ns, plural)) in (a.forbid or []):
            user = "system:serviceaccount:default:ktrace"
            where = ("in the namespace \"%s\"" % ns) if ns else "at the cluster scope"
            self.send_status(403, "Forbidden", 'User "%s" cannot list resource "%s" in API group "%s" %s'
                             % (user, plural, g, where),
                             details={"kind": plural, "group": g})
            return
        if plural in (a.garbage or []):
            self.send_body(200, "<html><body>502 Bad Gateway from a proxy</body></html>\n", ctype="text/html")
            return
        if plural in (a.truncate or []):
            body = b'{"kind":"%sList","apiVersion":"%s","metadata":{"resourceVersion":"1"},"items":[' % (
                kind.encode(), gv_of(plural).encode()) + b'{"metadata":{"name":"x"}},' * 2000 + b'{}]}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.code = 200
            self.close_connection = True
            try:
                self.request.shutdown(2)
            except OSError:
                pass
            return
        if plural in (a.huge or []):
            pad = "x" * 10000
            items = ",".join('{"metadata":{"name":"huge-%05d","namespace":"default","annotations":{"pad":"%s"}},"spec":{"selector":{"app":"huge"},"ports":[{"port":80}]}}'
                             % (i, pad) for i in range(5000))
            body = '{"kind":"%sList","apiVersion":"%s","metadata":{"resourceVersion":"1"},"items":[%s]}' % (kind, gv_of(plural), items)
            self.send_body(200, body, allow_gzip=False)
            return
        if plural in (a.loop_continue or []) or plural in (a.grow_continue or []):
            self.send_paging_fault(plural, kind, q)
            return
        if plural in (a.zero_bomb or []) or plural in (a.zero_items or []):
            body = st.zero_body(kind, plural, gz=plural in (a.zero_bomb or []))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if plural in (a.zero_bomb or []):
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(body)
            self.code = 200
            return
        if plural in (a.deep_item or []) or plural in (a.wide_item or []):
            if plural in (a.deep_item or []):
                x = "[" * 100000 + "]" * 100000
            else:
                x = "[" + ",".join(["0"] * 2000000) + "]"
            body = '{"kind":"%sList","apiVersion":"%s","metadata":{},"items":[{"metadata":{"name":"x","namespace":"default"},"spec":{"x":%s}}]}' % (
                kind, gv_of(plural), x)
            self.send_body(200, body)
            return
        try:
            lsel = parse_label_selector(q.get("labelSelector", [""])[0])
            fsel = parse_field_selector(q.get("fieldSelector", [""])[0])
        except ValueError as e:
            self.send_status(400, "BadRequest", str(e))
            return
        items = st.store.items[plural]
        if name is not None:
            for key, ins, nm, obj, txt in items:
                if nm == name and (ns is None or ins == ns):
                    if namespaced and ns is None:
                        break
                    self.send_body(200, '{"kind":"%s","apiVersion":"%s",%s' % (kind, gv_of(plural), txt[1:]))
                    return
            self.send_status(404, "NotFound", '%s "%s" not found' % (plural + ("." + g if g else ""), name),
                             details={"name": name, "group": g, "kind": plural})
            return
        ckey = None
        if a.cache_pages and not a.expire_continue:
            u = urllib.parse.urlsplit(self.path)
            ckey = u.path + "?" + "&".join(sorted(p for p in u.query.split("&") if not p.startswith("timeout=")))
            want_gz = "gzip" in (self.headers.get("Accept-Encoding") or "")
            if (ckey, want_gz) in st.cache:
                self.send_body(200, None, cache_key=ckey)
                return
        limit = int(q.get("limit", ["0"])[0] or 0)
        cont = q.get("continue", [""])[0]
        start = None
        if cont:
            if a.expire_continue and st.bump("expire") <= a.expire_continue:
                self.send_status(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
                return
            try:
                start = json.loads(base64.urlsafe_b64decode(cont.encode()).decode())["start"]
            except Exception:
                self.send_status(400, "BadRequest", "continue key is not valid: illegal base64 data")
                return
        out, last, more = [], None, False
        for key, ins, nm, obj, txt in items:
            if start is not None and key.encode() <= start.encode():
                continue
            if ns is not None and ins != ns:
                continue
            if lsel and not label_match(lsel, obj.get("metadata", {}).get("labels") or {}):
                continue
            if fsel and not field_match(fsel, obj):
                continue
            if limit and len(out) >= limit:
                more = True
                break
            out.append(txt)
            last = key
        md = '"resourceVersion":"%s"' % st.rv
        if more:
            tok = base64.urlsafe_b64encode(json.dumps({"start": last, "rv": st.rv}).encode()).decode()
            md += ',"continue":"%s"' % tok
        body = '{"kind":"%sList","apiVersion":"%s","metadata":{%s},"items":[%s]}' % (kind, gv_of(plural), md, ",".join(out))
        self.send_body(200, body, cache_key=ckey)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", help="fixture cluster directory (JSON Lists)")
    ap.add_argument("--generate", type=int, default=0, help="generate N services, N slices, 2N pods")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the chosen port here")
    ap.add_argument("--tls-cert"), ap.add_argument("--tls-key")
    ap.add_argument("--client-ca", help="verify client certificates against this CA (optional cert)")
    ap.add_argument("--token", action="append", help="accepted bearer token (repeatable)")
    ap.add_argument("--token-file", help="accepted bearer token, re-read on every request")
    ap.add_argument("--basic", help="accepted basic auth user:password")
    ap.add_argument("--rotate-token-file", help="on the first 401, write the first --token into this file")
    ap.add_argument("--log", help="append one JSON line per request")
    ap.add_argument("--gzip-min", type=int, default=128 * 1024)
    ap.add_argument("--expire-continue", type=int, default=0, help="first N continue requests get 410 Expired")
    ap.add_argument("--throttle", type=int, default=0, help="first N requests get 429 Retry-After: 1")
    ap.add_argument("--unavailable", type=int, default=0, help="first N requests get 503 Retry-After: 1")
    ap.add_argument("--forbid", action="append", help="resource (or ns/resource) answered with 403")
    ap.add_argument("--garbage", action="append", help="resource answered with a non-JSON 200 body")
    ap.add_argument("--truncate", action="append", help="resource whose body is cut in half")
    ap.add_argument("--huge", action="append", help="resource answered with a 50 MB list")
    ap.add_argument("--warn", action="append", help="add a Warning header to every response")
    ap.add_argument("--warn-flood", type=int, default=0,
                    help="add N distinct 3 KB Warning headers with terminal control sequences to every response")
    ap.add_argument("--loop-continue", action="append", help="resource whose list repeats one continue token for ever")
    ap.add_argument("--grow-continue", action="append",
                    help="resource whose list never ends (new items and tokens, remainingItemCount 1)")
    ap.add_argument("--zero-bomb", action="append", help="resource answered with a 65 KB gzip of items [0,0,...] (64 MB)")
    ap.add_argument("--zero-items", action="append", help="resource answered with 8 MB of items [0,0,...] (plain)")
    ap.add_argument("--deep-item", action="append", help="resource whose one item nests 100000 levels deep")
    ap.add_argument("--wide-item", action="append", help="resource whose one item holds 2000000 values")
    ap.add_argument("--cache-pages", action="store_true",
                    help="keep every list response (benchmarks: the server's own cost out of the measurement)")
    ap.add_argument("--slow", type=float, default=0, help="delay every response by SECS")
    ap.add_argument("--hang", action="store_true", help="accept and never answer")
    ap.add_argument("--proxy-timeout", type=float, default=60,
                    help="Pod proxy: seconds to wait for the Pod (then 504, like the request timeout)")
    a = ap.parse_args()

    store = Store()
    if a.dir:
        load_dir(store, a.dir)
    if a.generate:
        gen_cluster(store, a.generate)
    store.finish()
    INSTALLED.update(RESOURCES[p][0] for p, lst in store.items.items() if lst and RESOURCES[p][0] in CRD_GROUPS)
    gc.collect()
    gc.freeze()  # the fixture never changes: keep the collector off it

    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    srv.state = State(a, store)
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.client_ca:
            ctx.load_verify_locations(a.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    print("PORT %d" % port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
