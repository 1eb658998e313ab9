#!/usr/bin/env python3
"""kube-proxy rule-set generator (stdlib only) for ktrace's dataplane lab and bench.

Writes, for one cluster (the small lab fixture or a synthetic N-service one),
exactly what kube-proxy would program on node "node-a":
  iptables   iptables-restore input (*nat and *filter), kube-proxy iptables mode
  nft        nft -f input for the `ip kube-proxy` table (nftables mode, v1.33 layout)
  ipvsadm    ipvsadm-save -n text (IPVS mode)
  cilium     bpftool batch commands filling Cilium-layout LB maps (pin dir arg)
  bundle     a ktrace bundle with the Service and EndpointSlice objects
  expect     the normalised view ktrace must reconstruct (JSON)
Chain names use kube-proxy's hashing: base32(sha256(...))[:16] (iptables),
[:8] (nftables). Usage: kpgen.py FORMAT [--services N --endpoints M] [--pin DIR]
[--drop-endpoint IP] (bundle: omit an endpoint) [--extra-endpoint IP] (bundle: add one).
"""
import argparse
import base64
import hashlib
import json
import struct
import socket
import sys

NODE = "node-a"
NODE_IP = "192.168.10.11"
POD_CIDR = "10.244.0.0/16"


def h(s, n):
    return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:n]


class Svc:
    def __init__(self, ns, name, ports, cluster_ip, typ="ClusterIP", etp="Cluster", lb_ip=None,
                 ext_ips=(), hcnp=0, affinity=0, endpoints=()):
        self.ns, self.name, self.ports, self.cluster_ip = ns, name, ports, cluster_ip
        self.type, self.etp, self.lb_ip, self.ext_ips, self.hcnp = typ, etp, lb_ip, list(ext_ips), hcnp
        self.affinity = affinity
        self.endpoints = list(endpoints)  # (ip, node)


def fixture():
    # ports: (portName, proto, port, targetPort, nodePort)
    return [
        Svc("default", "kubernetes", [("https", "TCP", 443, 6443, 0)], "10.96.0.1",
            endpoints=[("192.168.10.1", None)]),
        Svc("kube-system", "kube-dns", [("dns", "UDP", 53, 53, 0), ("dns-tcp", "TCP", 53, 53, 0)], "10.96.0.10",
            endpoints=[("10.244.1.41", "node-a"), ("10.244.2.42", "node-b")]),
        Svc("shop", "api", [("", "TCP", 8080, 8080, 30080)], "10.96.50.5", typ="NodePort", affinity=10800,
            endpoints=[("10.244.1.31", "node-a"), ("10.244.3.32", "node-c")]),
        Svc("shop", "ext", [("http", "TCP", 80, 8080, 0)], "10.96.60.6", ext_ips=["198.51.100.7"],
            endpoints=[("10.244.1.53", "node-a"), ("10.244.2.51", "node-b"), ("10.244.2.54", "node-b"),
                       ("10.244.3.52", "node-c")]),
        Svc("shop", "front", [("https", "TCP", 443, 8443, 31443)], "10.96.200.7", typ="LoadBalancer", etp="Local",
            lb_ip="203.0.113.10", hcnp=32001,
            endpoints=[("10.244.1.21", "node-a"), ("10.244.2.22", "node-b")]),
        Svc("shop", "web", [("http", "TCP", 80, 8080, 0)], "10.96.120.15",
            endpoints=[("10.244.1.11", "node-a"), ("10.244.2.12", "node-b"), ("10.244.3.13", "node-c")]),
    ]


def synthetic(n_svc, n_ep):
    out = []
    per = max(1, n_ep // n_svc)
    k = 0
    for i in range(n_svc):
        eps = []
        for j in range(per):
            k += 1
            node = ["node-a", "node-b", "node-c"][k % 3]
            eps.append(("10.%d.%d.%d" % (128 + (k >> 16) % 64, (k >> 8) & 255, k & 255), node))
        ip = "10.96.%d.%d" % ((i >> 8) & 255, i & 255) if i < 65000 else "10.97.0.1"
        if i % 10 == 0:
            out.append(Svc("ns%d" % (i % 50), "svc%d" % i, [("http", "TCP", 80, 8080, 30000 + i // 10)], ip,
                           typ="NodePort", endpoints=eps))
        else:
            out.append(Svc("ns%d" % (i % 50), "svc%d" % i, [("http", "TCP", 80, 8080, 0)], ip, endpoints=eps))
    return out


def spn(s, pname):
    return "%s/%s:%s" % (s.ns, s.name, pname) if pname else "%s/%s" % (s.ns, s.name)


def eps_of(s, tport):
    return sorted(["%s:%d" % (ip, tport) for ip, _ in s.endpoints])


def local_eps(s, tport):
    return sorted(["%s:%d" % (ip, tport) for ip, node in s.endpoints if node == NODE])


def has_ext(s, np):
    return bool(np or s.ext_ips or s.lb_ip)


# ---------------------------------------------------------------- iptables
def iptables(svcs, out):
    total = sum(len(s.endpoints) * len(s.ports) for s in svcs)
    large = total > 1000
    natc, natr, filr = [], [], []
    natc += ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    svcrules, nprules = [], []
    for s in svcs:
        for pname, proto, port, tport, np in s.ports:
            p = proto.lower()
            name = spn(s, pname)
            hh = h(name + p, 16)
            svc, svl, ext = "KUBE-SVC-" + hh, "KUBE-SVL-" + hh, "KUBE-EXT-" + hh
            eps = eps_of(s, tport)
            leps = local_eps(s, tport)
            sep = {e: "KUBE-SEP-" + h(name + p + e, 16) for e in eps}
            if not eps:
                continue
            natc.append(svc)
            external = has_ext(s, np)
            if external:
                natc.append(ext)
            if s.etp == "Local" and external and leps:
                natc.append(svl)
            svcrules.append('-A KUBE-SERVICES -d %s/32 -p %s -m comment --comment "%s cluster IP" -m %s --dport %d -j %s'
                            % (s.cluster_ip, p, name, p, port, svc))
            for eip in s.ext_ips:
                svcrules.append('-A KUBE-SERVICES -d %s/32 -p %s -m comment --comment "%s external IP" -m %s --dport %d -j %s'
                                % (eip, p, name, p, port, ext))
            if s.lb_ip:
                svcrules.append('-A KUBE-SERVICES -d %s/32 -p %s -m comment --comment "%s loadbalancer IP" -m %s --dport %d -j %s'
                                % (s.lb_ip, p, name, p, port, ext))
            if np:
                nprules.append('-A KUBE-NODEPORTS -p %s -m comment --comment "%s" -m %s --dport %d -j %s'
                               % (p, name, p, np, ext))
            if external:
                if s.etp == "Local":
                    natr.append('-A %s -s %s -m comment --comment "pod traffic for %s external destinations" -j %s' % (ext, POD_CIDR, name, svc))
                    natr.append('-A %s -m comment --comment "masquerade LOCAL traffic for %s external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ' % (ext, name))
                    natr.append('-A %s -m comment --comment "route LOCAL traffic for %s external destinations" -m addrtype --src-type LOCAL -j %s' % (ext, name, svc))
                    if leps:
                        natr.append('-A %s -j %s' % (ext, svl))
                else:
                    natr.append('-A %s -m comment --comment "masquerade traffic for %s external destinations" -j KUBE-MARK-MASQ' % (ext, name))
                    natr.append('-A %s -j %s' % (ext, svc))
            if s.hcnp:
                filr.append('-A KUBE-NODEPORTS -m comment --comment "%s health check node port" -m tcp -p tcp --dport %d -j ACCEPT' % (name, s.hcnp))

            def chain_rules(chain, lst, masq):
                if masq:
                    natr.append('-A %s ! -s %s -d %s/32 -p %s -m comment --comment "%s cluster IP" -m %s --dport %d -j KUBE-MARK-MASQ'
                                % (chain, POD_CIDR, s.cluster_ip, p, name, p, port))
                if s.affinity:
                    for e in lst:
                        c = '' if large else ' -m comment --comment "%s -> %s"' % (name, e)
                        natr.append('-A %s%s -m recent --name %s --rcheck --seconds %d --reap -j %s' % (chain, c, sep[e], s.affinity, sep[e]))
                n = len(lst)
                for i, e in enumerate(lst):
                    c = '' if large else ' -m comment --comment "%s -> %s"' % (name, e)
                    st = ' -m statistic --mode random --probability %0.10f' % (1.0 / (n - i)) if i < n - 1 else ''
                    natr.append('-A %s%s%s -j %s' % (chain, c, st, sep[e]))
            chain_rules(svc, eps, True)
            if svl in natc:
                chain_rules(svl, leps, False)
            for e in eps:
                natc.append(sep[e])
                ip = e.rsplit(":", 1)[0]
                c = '' if large else ' -m comment --comment "%s"' % name
                natr.append('-A %s -s %s/32%s -j KUBE-MARK-MASQ' % (sep[e], ip, c))
                rec = ' -m recent --name %s --set' % sep[e] if s.affinity else ''
                natr.append('-A %s -p %s%s%s -m %s -j DNAT --to-destination %s' % (sep[e], p, c, rec, p, e))
    w = out.write
    w("*filter\n:KUBE-NODEPORTS - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n")
    for r in filr:
        w(r + "\n")
    w("COMMIT\n*nat\n")
    for c in natc:
        w(":%s - [0:0]\n" % c)
    w('-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n')
    w('-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n')
    w('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully\n')
    w('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n')
    for r in svcrules:
        w(r + "\n")
    w('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n')
    for r in nprules:
        w(r + "\n")
    for r in natr:
        w(r + "\n")
    w("COMMIT\n")


def iptables_hooks(out):
    """jump rules from the built-in chains (kube-proxy installs them separately)"""
    out.write("*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
              '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
              '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
              '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\nCOMMIT\n')


# ---------------------------------------------------------------- nftables
def nft(svcs, out):
    w = out.write
    chains, svc_ips, nps, cluster_ips = [], [], [], []
    for s in svcs:
        for pname, proto, port, tport, np in s.ports:
            p = proto.lower()
            base = "%s/%s/%s/%s" % (s.ns, s.name, p, pname)
            hb = h(base, 8)
            sc, lc, xc = "service-%s-%s" % (hb, base), "local-%s-%s" % (hb, base), "external-%s-%s" % (hb, base)
            eps = eps_of(s, tport)
            if not eps:
                continue
            leps = local_eps(s, tport)
            cluster_ips.append(s.cluster_ip)
            svc_ips.append("%s . %s . %d : goto %s" % (s.cluster_ip, p, port, sc))
            external = has_ext(s, np)
            for eip in s.ext_ips + ([s.lb_ip] if s.lb_ip else []):
                svc_ips.append("%s . %s . %d : goto %s" % (eip, p, port, xc))
            if np:
                nps.append("%s . %d : goto %s" % (p, np, xc))

            def epc(e):
                ip, ep = e.rsplit(":", 1)
                eb = "%s__%s/%s" % (base, ip, ep)
                return "endpoint-%s-%s" % (h(eb, 8), eb)

            def aff(e):
                ip, ep = e.rsplit(":", 1)
                eb = "%s__%s/%s" % (base, ip, ep)
                return "affinity-%s-%s" % (h(eb, 8), eb)
            body = ["ip daddr %s %s dport %d ip saddr != %s jump mark-for-masquerade" % (s.cluster_ip, p, port, POD_CIDR)]
            if s.affinity:
                body += ["ip saddr @%s goto %s" % (aff(e), epc(e)) for e in eps]
            body.append("numgen random mod %d vmap { %s }" % (len(eps), ", ".join("%d : goto %s" % (i, epc(e)) for i, e in enumerate(eps))))
            chains.append((sc, body))
            if external:
                if s.etp == "Local":
                    xb = ["ip saddr %s goto %s" % (POD_CIDR, sc), "fib saddr type local jump mark-for-masquerade",
                          "fib saddr type local goto %s" % sc]
                    if leps:
                        xb.append("goto %s" % lc)
                        chains.append((lc, ["numgen random mod %d vmap { %s }" % (len(leps), ", ".join("%d : goto %s" % (i, epc(e)) for i, e in enumerate(leps)))]))
                else:
                    xb = ["jump mark-for-masquerade", "goto %s" % sc]
                chains.append((xc, xb))
            for e in eps:
                ip, ep = e.rsplit(":", 1)
                b = ["ip saddr %s jump mark-for-masquerade" % ip]
                if s.affinity:
                    w_ = "set %s {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout %ds\n\t}\n" % (aff(e), s.affinity)
                    chains.append(("__set__", w_))
                    b.append("update @%s { ip saddr }" % aff(e))
                b.append("meta l4proto %s dnat to %s:%s" % (p, ip, ep))
                chains.append((epc(e), b))
    w("table ip kube-proxy {\n\tcomment \"rules for kube-proxy\"\n")
    w("\tset cluster-ips {\n\t\ttype ipv4_addr\n\t\tcomment \"Active ClusterIPs\"\n")
    if cluster_ips:
        w("\t\telements = { %s }\n" % ", ".join(sorted(set(cluster_ips))))
    w("\t}\n")
    for body in [b for n, b in chains if n == "__set__"]:
        w("\t" + body)
    w("\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict\n\t\tcomment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\"\n")
    w("\t}\n\tmap service-nodeports {\n\t\ttype inet_proto . inet_service : verdict\n\t\tcomment \"NodePort traffic\"\n\t}\n")
    w("\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tjump services\n\t}\n")
    w("\tchain nat-output {\n\t\ttype nat hook output priority -100; policy accept;\n\t\tjump services\n\t}\n")
    w("\tchain nat-postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t\tjump masquerading\n\t}\n")
    w("\tchain mark-for-masquerade {\n\t\tmeta mark set meta mark | 0x00004000\n\t}\n")
    w("\tchain masquerading {\n\t\tmeta mark & 0x00004000 == 0x00000000 return\n\t\tmeta mark set meta mark ^ 0x00004000\n\t\tmasquerade fully-random\n\t}\n")
    # declare all chains first so forward references resolve
    for n, b in chains:
        if n != "__set__":
            w("\tchain %s {\n\t}\n" % n)
    w("\tchain services {\n\t\tip daddr . meta l4proto . th dport vmap @service-ips\n"
      "\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports\n\t}\n")
    w("}\n")
    for n, b in chains:
        if n == "__set__":
            continue
        for r in b:
            w("add rule ip kube-proxy %s %s\n" % (n, r))
    for e in svc_ips:
        w("add element ip kube-proxy service-ips { %s }\n" % e)
    for e in nps:
        w("add element ip kube-proxy service-nodeports { %s }\n" % e)


# ---------------------------------------------------------------- ipvs
def ipvsadm(svcs, out):
    for s in svcs:
        for pname, proto, port, tport, np in s.ports:
            f = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}[proto]
            eps = eps_of(s, tport)
            leps = local_eps(s, tport)
            per = " -p %d" % s.affinity if s.affinity else ""
            vs = [("%s:%d" % (s.cluster_ip, port), eps)]
            ext = leps if s.etp == "Local" else eps
            vs += [("%s:%d" % (e, port), ext) for e in s.ext_ips + ([s.lb_ip] if s.lb_ip else [])]
            if np:
                vs.append(("%s:%d" % (NODE_IP, np), ext))
            for v, lst in vs:
                out.write("-A %s %s -s rr%s\n" % (f, v, per))
                for e in lst:
                    out.write("-a %s %s -r %s -m -w 1\n" % (f, v, e))


# ---------------------------------------------------------------- cilium
def cilium(svcs, out, pin):
    d = pin.rstrip("/")
    out.write("map create %s/cilium_lb4_services_v2 type hash key 12 value 12 entries 65536 name cilium_lb4_services_v2\n" % d)
    out.write("map create %s/cilium_lb4_backends_v3 type hash key 4 value 12 entries 65536 name cilium_lb4_backends_v3\n" % d)
    out.write("map create %s/cilium_lb4_reverse_nat type hash key 2 value 6 entries 65536 name cilium_lb4_reverse_nat\n" % d)
    bid = {}
    rev = 0

    def hx(b):
        return " ".join("%02x" % x for x in b)
    for s in svcs:
        for pname, proto, port, tport, np in s.ports:
            pn = {"TCP": 6, "UDP": 17, "SCTP": 132}[proto]
            eps = eps_of(s, tport)
            leps = local_eps(s, tport)
            for e in eps:
                if e not in bid:
                    bid[e] = len(bid) + 1
                    ip, ep = e.rsplit(":", 1)
                    out.write("map update pinned %s/cilium_lb4_backends_v3 key hex %s value hex %s\n" % (
                        d, hx(struct.pack("<I", bid[e])), hx(socket.inet_aton(ip) + struct.pack(">H", int(ep)) + bytes([pn, 0]) + struct.pack("<H", 0) + bytes([0, 0]))))
            fes = [(s.cluster_ip, port, 0, False)]
            for eip in s.ext_ips:
                fes.append((eip, port, 0x01 | 0x40, True))
            if s.lb_ip:
                fes.append((s.lb_ip, port, 0x20 | 0x40, True))
            if np:
                fes.append(("0.0.0.0", np, 0x02, True))
                fes.append((NODE_IP, np, 0x02 | 0x40, True))
            for ip, p, flags, ext in fes:
                rev += 1
                lst = leps if (ext and s.etp == "Local") else eps
                fl = flags
                if ext and s.etp == "Local":
                    fl |= 0x04
                if s.affinity:
                    fl |= 0x10
                master_id = s.affinity if s.affinity else 0
                key = socket.inet_aton(ip) + struct.pack(">H", p) + struct.pack("<H", 0) + bytes([pn, 0, 0, 0])
                val = struct.pack("<I", master_id) + struct.pack("<H", len(lst)) + struct.pack(">H", rev) + bytes([fl, 0]) + b"\0\0"
                out.write("map update pinned %s/cilium_lb4_services_v2 key hex %s value hex %s\n" % (d, hx(key), hx(val)))
                for i, e in enumerate(lst):
                    key = socket.inet_aton(ip) + struct.pack(">H", p) + struct.pack("<H", i + 1) + bytes([pn, 0, 0, 0])
                    val = struct.pack("<I", bid[e]) + struct.pack("<H", 0) + struct.pack(">H", rev) + bytes([0, 0]) + b"\0\0"
                    out.write("map update pinned %s/cilium_lb4_services_v2 key hex %s value hex %s\n" % (d, hx(key), hx(val)))
                out.write("map update pinned %s/cilium_lb4_reverse_nat key hex %s value hex %s\n" % (
                    d, hx(struct.pack(">H", rev)), hx(socket.inet_aton(ip) + struct.pack(">H", p))))


# ---------------------------------------------------------------- bundle / expect
def bundle(svcs, out, drop=(), extra=()):
    objs = []
    for s in svcs:
        spec = {"type": s.type, "clusterIP": s.cluster_ip, "clusterIPs": [s.cluster_ip], "selector": {"app": s.name},
                "ports": [], "sessionAffinity": "ClientIP" if s.affinity else "None"}
        for pname, proto, port, tport, np in s.ports:
            pp = {"protocol": proto, "port": port, "targetPort": tport}
            if pname:
                pp["name"] = pname
            if np:
                pp["nodePort"] = np
            spec["ports"].append(pp)
        if s.type in ("NodePort", "LoadBalancer"):
            spec["externalTrafficPolicy"] = s.etp
        if s.hcnp:
            spec["healthCheckNodePort"] = s.hcnp
        if s.ext_ips:
            spec["externalIPs"] = s.ext_ips
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": s.ns, "name": s.name}, "spec": spec}
        if s.lb_ip:
            svc["status"] = {"loadBalancer": {"ingress": [{"ip": s.lb_ip}]}}
        objs.append(svc)
        eps = [{"addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False},
                **({"nodeName": node} if node else {})} for ip, node in s.endpoints if ip not in drop]
        for ip in extra:
            if s.name == "web":
                eps.append({"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-b"})
        objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                     "metadata": {"namespace": s.ns, "name": s.name + "-abc12",
                                  "labels": {"kubernetes.io/service-name": s.name},
                                  "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T10:00:00Z"}},
                     "endpoints": eps,
                     "ports": [{"name": pn, "protocol": pr, "port": tp} for pn, pr, _, tp, _ in s.ports]})
    json.dump({"kind": "KtraceBundle", "version": 1, "objects": objs, "nodes": [], "flows": [], "gaps": []}, out, indent=1)


def expect(svcs, out):
    res = {}
    for s in svcs:
        for pname, proto, port, tport, np in s.ports:
            eps = eps_of(s, tport)
            leps = local_eps(s, tport)
            if not eps:
                continue
            fes = [["clusterIP", s.cluster_ip, port, "internal"]]
            fes += [["externalIP", e, port, "external"] for e in s.ext_ips]
            if s.lb_ip:
                fes.append(["loadBalancer", s.lb_ip, port, "external"])
            if np:
                fes.append(["nodePort", "", np, "external"])
            if s.hcnp:
                fes.append(["healthCheck", "", s.hcnp, "external"])
            ext = has_ext(s, np)
            xl = leps if s.etp == "Local" else eps
            res[spn(s, pname)] = {
                "protocol": proto,
                "frontends": sorted(fes),
                "backends": sorted([[e.rsplit(":", 1)[0], int(e.rsplit(":", 1)[1]), round(1.0 / len(eps), 6)] for e in eps]),
                "externalBackends": sorted([[e.rsplit(":", 1)[0], int(e.rsplit(":", 1)[1]), round(1.0 / len(xl), 6)] for e in xl]) if ext else [],
                "affinity": s.affinity,
                "masquerade": ext and s.etp != "Local",
                "localOnly": ext and s.etp == "Local",
            }
    json.dump(res, out, indent=1, sort_keys=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("format", choices=["iptables", "hooks", "nft", "ipvsadm", "cilium", "bundle", "expect"])
    ap.add_argument("--services", type=int, default=0)
    ap.add_argument("--endpoints", type=int, default=0)
    ap.add_argument("--pin", default="/sys/fs/bpf/tc/globals")
    ap.add_argument("--drop-endpoint", action="append", default=[])
    ap.add_argument("--extra-endpoint", action="append", default=[])
    a = ap.parse_args()
    svcs = synthetic(a.services, a.endpoints or a.services * 5) if a.services else fixture()
    o = sys.stdout
    if a.format == "iptables":
        iptables(svcs, o)
    elif a.format == "hooks":
        iptables_hooks(o)
    elif a.format == "nft":
        nft(svcs, o)
    elif a.format == "ipvsadm":
        ipvsadm(svcs, o)
    elif a.format == "cilium":
        cilium(svcs, o, a.pin)
    elif a.format == "bundle":
        bundle(svcs, o, a.drop_endpoint, a.extra_endpoint)
    else:
        expect(svcs, o)


if __name__ == "__main__":
    main()
