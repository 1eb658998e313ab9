#!/usr/bin/env python3
"""fleet.py: the fleet lab's cluster, for tests/lab/fleet/fleetlib.sh.

One small cluster description (built in, or --cluster FILE with the same
JSON shape) and what the lab derives from it:
  nodes                    "NAME IP AGENT(0|1)" per node
  pods NODE                "NAME IP PORT" per workload Pod on NODE
  rules NODE               iptables-restore input: exactly what kube-proxy
                           (iptables mode) programs on NODE (bench/kpgen.py
                           writes the rules), including the node's stale
                           endpoints
  hooks                    the jumps from the built-in chains (restore them
                           with --noflush after the rules)
  objects DIR TOKEN PORT   kapi.py fixture files: Nodes, workload Pods,
                           Services, EndpointSlices, the agent Pods (one per
                           node with an agent, hostNetwork, podIP = node IP,
                           container port "ktrace" = PORT) and the token
                           Secret
  cluster                  the description as JSON (to extend it)
Cluster JSON: {"nodes":[{"name","ip","agent"}],
  "services":[{"ns","name","clusterIP","ports":[[portName,proto,port,targetPort,nodePort]],
               "type","etp","lbIP","hcnp","endpoints":[podName...],
               "stale":{"NODE":["IP",...]}}],
  "pods":[{"name","ns","node","ip","port","app"}]}
Pod IPs: the K-th Pod of node N is 10.244.N.(4K+2) on a /30 with the node
side at 10.244.N.(4K+1). Stdlib only.
"""
import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bench"))
import kpgen  # noqa: E402  (kube-proxy's iptables format)


def pod_ip(node_index, k):
    return "10.244.%d.%d" % (node_index, 4 * k + 2)


def default_cluster():
    nodes = [{"name": "n1", "ip": "192.168.77.1", "agent": True},
             {"name": "n2", "ip": "192.168.77.2", "agent": True},
             {"name": "n3", "ip": "192.168.77.3", "agent": True},
             {"name": "n4", "ip": "192.168.77.4", "agent": False}]
    pods = [
        {"name": "web-1", "ns": "shop", "node": "n1", "ip": pod_ip(1, 1), "port": 8080, "app": "web"},
        {"name": "web-2", "ns": "shop", "node": "n2", "ip": pod_ip(2, 1), "port": 8080, "app": "web"},
        {"name": "web-3", "ns": "shop", "node": "n3", "ip": pod_ip(3, 1), "port": 8080, "app": "web"},
        {"name": "api-1", "ns": "shop", "node": "n1", "ip": pod_ip(1, 2), "port": 8080, "app": "api"},
        {"name": "api-2", "ns": "shop", "node": "n2", "ip": pod_ip(2, 2), "port": 8080, "app": "api"},
        {"name": "front-1", "ns": "shop", "node": "n1", "ip": pod_ip(1, 3), "port": 8443, "app": "front"},
        {"name": "front-2", "ns": "shop", "node": "n2", "ip": pod_ip(2, 3), "port": 8443, "app": "front"},
    ]
    services = [
        {"ns": "shop", "name": "web", "clusterIP": "10.96.0.10", "ports": [["http", "TCP", 80, 8080, 0]],
         "endpoints": ["web-1", "web-2", "web-3"],
         # n3 still forwards to a Pod that was removed (its kube-proxy is stuck)
         "stale": {"n3": ["10.244.9.9"]}},
        {"ns": "shop", "name": "api", "clusterIP": "10.96.0.20", "ports": [["http", "TCP", 80, 8080, 0]],
         "endpoints": ["api-1", "api-2"]},
        {"ns": "shop", "name": "front", "clusterIP": "10.96.0.30", "ports": [["https", "TCP", 443, 8443, 30443]],
         "type": "LoadBalancer", "etp": "Local", "lbIP": "203.0.113.10", "hcnp": 32001,
         "endpoints": ["front-1", "front-2"]},
    ]
    return {"nodes": nodes, "services": services, "pods": pods}


def load(argv):
    if len(argv) > 2 and argv[1] == "--cluster":
        with open(argv[2]) as f:
            return json.load(f), argv[3:]
    env = os.environ.get("FLEET_CLUSTER")
    if env:
        with open(env) as f:
            return json.load(f), argv[1:]
    return default_cluster(), argv[1:]


def kp_services(c, node):
    pods = {p["name"]: p for p in c["pods"]}
    out = []
    for s in c["services"]:
        eps = [(pods[n]["ip"], pods[n]["node"]) for n in s["endpoints"] if n in pods]
        eps += [(ip, None) for ip in s.get("stale", {}).get(node, [])]
        out.append(kpgen.Svc(s["ns"], s["name"], [tuple(p) for p in s["ports"]], s["clusterIP"],
                             typ=s.get("type", "ClusterIP"), etp=s.get("etp", "Cluster"), lb_ip=s.get("lbIP"),
                             hcnp=s.get("hcnp", 0), endpoints=eps))
    return out


def rules(c, node):
    kpgen.NODE = node
    kpgen.iptables(kp_services(c, node), sys.stdout)


def objects(c, d, token, port):
    os.makedirs(d, exist_ok=True)
    ts = "2026-01-01T00:00:00Z"
    nodes = [{"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": n["name"], "labels": {"kubernetes.io/hostname": n["name"],
                                                         "topology.kubernetes.io/zone": "zone-%s" % n["name"][-1]}},
              "status": {"addresses": [{"type": "InternalIP", "address": n["ip"]}, {"type": "Hostname", "address": n["name"]}],
                         "conditions": [{"type": "Ready", "status": "True"}]}} for n in c["nodes"]]
    pods = []
    for p in c["pods"]:
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": p["name"], "namespace": p["ns"], "labels": {"app": p["app"]}, "creationTimestamp": ts},
                     "spec": {"nodeName": p["node"], "containers": [{"name": p["app"], "image": p["app"],
                              "ports": [{"containerPort": p["port"], "protocol": "TCP"}],
                              "readinessProbe": {"tcpSocket": {"port": p["port"]}}}]},
                     "status": {"phase": "Running", "podIP": p["ip"], "podIPs": [{"ip": p["ip"]}], "startTime": ts,
                                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ts}]}})
    for n in c["nodes"]:
        if not n.get("agent"):
            continue
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "ktrace-agent-%s" % n["name"], "namespace": "ktrace", "creationTimestamp": ts,
                                  "labels": {"app.kubernetes.io/name": "ktrace-agent", "app.kubernetes.io/part-of": "ktrace"},
                                  "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ktrace-agent",
                                                       "uid": "uid-ds-ktrace-agent", "controller": True}]},
                     "spec": {"nodeName": n["name"], "hostNetwork": True, "serviceAccountName": "ktrace-agent",
                              "containers": [{"name": "agent", "image": "localhost/ktrace:lab",
                                              "args": ["agent", "--listen=%s:%d" % (n["ip"], port)],
                                              "ports": [{"name": "ktrace", "containerPort": port, "protocol": "TCP"}]}]},
                     "status": {"phase": "Running", "hostIP": n["ip"], "podIP": n["ip"], "podIPs": [{"ip": n["ip"]}],
                                "startTime": ts,
                                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ts}]}})
    pods_by = {p["name"]: p for p in c["pods"]}
    svcs, slices = [], []
    for s in c["services"]:
        spec = {"type": s.get("type", "ClusterIP"), "clusterIP": s["clusterIP"], "clusterIPs": [s["clusterIP"]],
                "selector": {"app": s["name"]}, "ports": []}
        for pn, proto, p, tp, np in s["ports"]:
            e = {"name": pn, "protocol": proto, "port": p, "targetPort": tp}
            if np:
                e["nodePort"] = np
            spec["ports"].append(e)
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec["externalTrafficPolicy"] = s.get("etp", "Cluster")
        if s.get("hcnp"):
            spec["healthCheckNodePort"] = s["hcnp"]
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": s["name"], "namespace": s["ns"],
                                                                   "creationTimestamp": ts}, "spec": spec}
        if s.get("lbIP"):
            svc["status"] = {"loadBalancer": {"ingress": [{"ip": s["lbIP"]}]}}
        svcs.append(svc)
        eps = [{"addresses": [pods_by[n]["ip"]], "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": pods_by[n]["node"], "targetRef": {"kind": "Pod", "namespace": s["ns"], "name": n}}
               for n in s["endpoints"] if n in pods_by]
        slices.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                       "metadata": {"name": s["name"] + "-abcde", "namespace": s["ns"],
                                    "labels": {"kubernetes.io/service-name": s["name"]},
                                    "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ts}},
                       "endpoints": eps,
                       "ports": [{"name": pn, "protocol": proto, "port": tp} for pn, proto, p, tp, np in s["ports"]]})
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "ktrace-agent-token", "namespace": "ktrace"},
              "data": {"token": base64.b64encode(token.encode()).decode()}}
    for fn, items, kind in (("nodes.json", nodes, "NodeList"), ("pods.json", pods, "PodList"),
                            ("services.json", svcs, "ServiceList"), ("endpointslices.json", slices, "EndpointSliceList"),
                            ("secrets.json", [secret], "SecretList")):
        with open(os.path.join(d, fn), "w") as f:
            json.dump({"apiVersion": "v1", "kind": kind, "items": items}, f, indent=1)


def main():
    c, args = load(sys.argv)
    if not args:
        sys.exit(__doc__)
    cmd = args[0]
    if cmd == "nodes":
        for n in c["nodes"]:
            print("%s %s %d" % (n["name"], n["ip"], 1 if n.get("agent") else 0))
    elif cmd == "pods":
        for p in c["pods"]:
            if p["node"] == args[1]:
                print("%s %s %d" % (p["name"], p["ip"], p["port"]))
    elif cmd == "rules":
        rules(c, args[1])
    elif cmd == "hooks":
        kpgen.iptables_hooks(sys.stdout)
    elif cmd == "objects":
        objects(c, args[1], args[2], int(args[3]))
    elif cmd == "cluster":
        json.dump(c, sys.stdout, indent=1)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
