#!/usr/bin/env python3
"""kube-proxy rules for the dataplane fidelity lab (stdlib only).

Writes what kube-proxy programs on node "node-a" (node IP 10.77.0.1, Pod
CIDR 10.244.0.0/16, --nodeport-addresses 10.77.0.1/32) for Services it
rejects or drops, a LoadBalancer with loadBalancerSourceRanges and a
restricted NodePort:
  iptables  iptables-restore input, *filter and *nat, v1.28+ layout
            (pkg/proxy/iptables/proxier.go syncProxyRules; rule text as in
            proxier_test.go TestOverallIPTablesRules: "-m comment
            --comment ... -m tcp -p tcp -d IP --dport N", no /32)
  hooks     the jump rules from the built-in chains (kube-proxy's
            iptablesJumpChains, installed with EnsureRule)
  nft       nft -f input for `table ip kube-proxy`, v1.33 layout
            (pkg/proxy/nftables/proxier.go setupNFTables / syncProxyRules)
  bundle    a ktrace bundle: Services, EndpointSlices, Pods, Nodes
Names use kube-proxy's hashing (base32(sha256)[:16] / [:8]).
Usage: kpfidelity.py iptables|hooks|nft|bundle
"""
import base64
import hashlib
import json
import sys

NODE, NODE_IP, POD_CIDR, NP_ADDR = "node-a", "10.77.0.1", "10.244.0.0/16", "10.77.0.1"
P1, P2 = "10.244.1.11", "10.244.2.12"   # Pods on node-a (this node) and node-b


def h(s, n):
    return base64.b32encode(hashlib.sha256(s.encode()).digest()).decode()[:n]


class Svc:
    def __init__(self, name, cip, typ="ClusterIP", np=0, eps=(), etp="Cluster", itp="Cluster", lb=None,
                 ranges=(), hcnp=0, tport=8080, serving=True):
        self.name, self.cip, self.type, self.np = name, cip, typ, np
        self.eps = list(eps)            # (ip, node, ready, serving, terminating)
        self.etp, self.itp, self.lb, self.ranges, self.hcnp, self.tport = etp, itp, lb, list(ranges), hcnp, tport


def cluster():
    ep = lambda ip, node: (ip, node, True, True, False)
    return [
        Svc("web", "10.96.120.15", "NodePort", 30100, [ep(P1, "node-a"), ep(P2, "node-b")]),
        Svc("noep", "10.96.10.1", "NodePort", 30101),
        Svc("drain", "10.96.10.2", eps=[("10.244.1.99", "node-a", False, False, True)]),
        Svc("itp", "10.96.10.3", eps=[ep(P2, "node-b")], itp="Local"),
        Svc("etp", "10.96.10.4", "LoadBalancer", 30104, [ep(P2, "node-b")], etp="Local", lb="203.0.113.50",
            hcnp=32104),
        Svc("named", "10.96.10.5", tport="http-alt"),
        Svc("lbsrc", "10.96.10.6", "LoadBalancer", 30106, [ep(P1, "node-a")], lb="203.0.113.60",
            ranges=["10.77.0.0/25"]),
    ]


def usable(s):
    """kube-proxy's CategorizeEndpoints: ready ones, else serving+terminating"""
    ready = [e for e in s.eps if e[2]]
    return ready or [e for e in s.eps if e[3] and e[4]]


def spn(s):
    return "shop/" + s.name


def ipt(out):
    filt, nat, natc = [], [], ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    svcrules, nprules = [], []
    for s in cluster():
        name, hh = spn(s), h(spn(s) + "tcp", 16)
        svc, svl, ext, fw = ("KUBE-%s-%s" % (k, hh) for k in ("SVC", "SVL", "EXT", "FW"))
        eps = sorted("%s:%d" % (e[0], 8080) for e in usable(s)) if isinstance(s.tport, int) else []
        local = sorted("%s:%d" % (e[0], 8080) for e in usable(s) if e[1] == NODE) if eps else []
        has_eps = bool(eps)
        external = bool(s.np or s.lb)
        has_int = has_eps and (s.itp != "Local" or local)
        has_ext = has_eps and (s.etp != "Local" or local)
        cmt = '-m comment --comment "%s' % name
        if s.hcnp:
            filt.append('-A KUBE-NODEPORTS %s health check node port" -m tcp -p tcp --dport %d -j ACCEPT' % (cmt, s.hcnp))
        if not has_eps:
            filt.append('-A KUBE-SERVICES %s has no endpoints" -m tcp -p tcp -d %s --dport 80 -j REJECT' % (cmt, s.cip))
        elif not has_int:
            filt.append('-A KUBE-SERVICES %s has no local endpoints" -m tcp -p tcp -d %s --dport 80 -j DROP' % (cmt, s.cip))
        why, tgt = ("has no endpoints", "REJECT") if not has_eps else ("has no local endpoints", "DROP")
        if external and not has_ext:
            if s.lb:
                filt.append('-A KUBE-EXTERNAL-SERVICES %s %s" -m tcp -p tcp -d %s --dport 80 -j %s' % (cmt, why, s.lb, tgt))
            if s.np:
                filt.append('-A KUBE-EXTERNAL-SERVICES %s %s" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport %d -j %s'
                            % (cmt, why, s.np, tgt))
        if s.ranges and s.lb and has_eps:
            filt.append('-A KUBE-PROXY-FIREWALL %s traffic not accepted by %s" -m tcp -p tcp -d %s --dport 80 -j DROP'
                        % (cmt, fw, s.lb))
        if not has_eps:
            continue
        seps = {e: "KUBE-SEP-" + h(name + "tcp" + e, 16) for e in eps}
        uses_cluster = s.itp != "Local" or (external and s.etp != "Local")
        if uses_cluster:
            natc.append(svc)
        if local and (s.itp == "Local" or s.etp == "Local"):
            natc.append(svl)
        if external:
            natc.append(ext)
        if s.ranges and s.lb:
            natc.append(fw)
        used = (eps if svc in natc else []) + (local if svl in natc else [])
        natc += [seps[e] for e in eps if e in used]
        internal = svl if s.itp == "Local" else svc
        if has_int:
            svcrules.append('-A KUBE-SERVICES %s cluster IP" -m tcp -p tcp -d %s --dport 80 -j %s' % (cmt, s.cip, internal))
        if s.lb:
            svcrules.append('-A KUBE-SERVICES %s loadbalancer IP" -m tcp -p tcp -d %s --dport 80 -j %s'
                            % (cmt, s.lb, fw if s.ranges else ext))
        if s.np:
            nprules.append('-A KUBE-NODEPORTS -m comment --comment %s -m tcp -p tcp --dport %d -j %s' % (name, s.np, ext))
        if external:
            if s.etp == "Local":
                nat.append('-A %s -m comment --comment "pod traffic for %s external destinations" -s %s -j %s' % (ext, name, POD_CIDR, svc))
                nat.append('-A %s -m comment --comment "masquerade LOCAL traffic for %s external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ' % (ext, name))
                nat.append('-A %s -m comment --comment "route LOCAL traffic for %s external destinations" -m addrtype --src-type LOCAL -j %s' % (ext, name, svc))
                if local:
                    nat.append('-A %s -j %s' % (ext, svl))
            else:
                nat.append('-A %s -m comment --comment "masquerade traffic for %s external destinations" -j KUBE-MARK-MASQ' % (ext, name))
                nat.append('-A %s -j %s' % (ext, svc))
        if s.ranges and s.lb:
            for r in s.ranges:
                nat.append('-A %s %s loadbalancer IP" -s %s -j %s' % (fw, cmt, r, ext))
            # a range holds the node IP: node-originated traffic to the VIP
            nat.append('-A %s %s loadbalancer IP" -s %s -j %s' % (fw, cmt, s.lb, ext))
            nat.append('-A %s -m comment --comment "other traffic to %s will be dropped by KUBE-PROXY-FIREWALL"' % (fw, name))

        def chain(c, lst, masq):
            if masq:
                nat.append('-A %s %s cluster IP" -m tcp -p tcp -d %s --dport 80 ! -s %s -j KUBE-MARK-MASQ'
                           % (c, cmt, s.cip, POD_CIDR))
            for i, e in enumerate(lst):
                st = ' -m statistic --mode random --probability %0.10f' % (1.0 / (len(lst) - i)) if i < len(lst) - 1 else ''
                nat.append('-A %s -m comment --comment "%s -> %s"%s -j %s' % (c, name, e, st, seps[e]))
        if svc in natc:
            chain(svc, eps, s.itp != "Local")
        if svl in natc:
            chain(svl, local, s.itp == "Local")
        for e in sorted(set(used)):
            ip = e.rsplit(":", 1)[0]
            nat.append('-A %s -m comment --comment %s -s %s -j KUBE-MARK-MASQ' % (seps[e], name, ip))
            nat.append('-A %s -m comment --comment %s -m tcp -p tcp -j DNAT --to-destination %s' % (seps[e], name, e))
    w = out.write
    w("*filter\n")
    for c in ("KUBE-NODEPORTS", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL"):
        w(":%s - [0:0]\n" % c)
    for r in filt:
        w(r + "\n")
    w('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n')
    w('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT\n')
    w('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n')
    w("COMMIT\n*nat\n")
    for c in natc:
        w(":%s - [0:0]\n" % c)
    w('-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n')
    w('-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n')
    w('-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully\n')
    w('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n')
    for r in svcrules:
        w(r + "\n")
    # --nodeport-addresses: one rule per matching node address
    w('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d %s -j KUBE-NODEPORTS\n' % NP_ADDR)
    for r in nprules + nat:
        w(r + "\n")
    w("COMMIT\n")


def hooks(out):
    new = "-m conntrack --ctstate NEW "
    out.write("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
              '-A INPUT %s-m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL\n'
              '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS\n'
              '-A INPUT %s-m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES\n'
              '-A FORWARD %s-m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL\n'
              '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD\n'
              '-A FORWARD %s-m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
              '-A FORWARD %s-m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES\n'
              '-A OUTPUT %s-m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL\n'
              '-A OUTPUT %s-m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
              "COMMIT\n" % ((new,) * 7))
    out.write("*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
              '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
              '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
              '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING\nCOMMIT\n')


def nft(out):
    chains, svc_ips, nps, no_svc, no_np, fw_ips, cips = [], [], [], [], [], [], []
    for s in cluster():
        base = "shop/%s/tcp/" % s.name
        hb = h(base, 8)
        sc, lc, xc, fc = ("%s-%s-%s" % (k, hb, base) for k in ("service", "local", "external", "firewall"))
        eps = sorted("%s:%d" % (e[0], 8080) for e in usable(s)) if isinstance(s.tport, int) else []
        local = [e for e in eps if any(x[0] == e.rsplit(":", 1)[0] and x[1] == NODE for x in s.eps)]
        external = bool(s.np or s.lb)
        has_int = bool(eps) and (s.itp != "Local" or local)
        has_ext = bool(eps) and (s.etp != "Local" or local)
        cips.append(s.cip)
        verdict = "goto reject-chain" if not eps else "drop"
        if has_int:
            svc_ips.append("%s . tcp . 80 : goto %s" % (s.cip, lc if s.itp == "Local" else sc))
        else:
            no_svc.append('%s . tcp . 80 comment "%s" : %s' % (s.cip, spn(s), verdict))
        if s.lb:
            if eps:
                svc_ips.append("%s . tcp . 80 : goto %s" % (s.lb, xc))
            if s.ranges and eps:
                fw_ips.append("%s . tcp . 80 : goto %s" % (s.lb, fc))
            if not has_ext:
                no_svc.append('%s . tcp . 80 comment "%s" : %s' % (s.lb, spn(s), verdict))
        if s.np:
            if eps:
                nps.append("tcp . %d : goto %s" % (s.np, xc))
            if not has_ext:
                no_np.append('tcp . %d comment "%s" : %s' % (s.np, spn(s), verdict))
        if not eps:
            continue

        def epc(e):
            ip, p = e.rsplit(":", 1)
            eb = "%s__%s/%s" % (base, ip, p)
            return "endpoint-%s-%s" % (h(eb, 8), eb)

        def vm(lst):
            return "numgen random mod %d vmap { %s }" % (len(lst), ", ".join("%d : goto %s" % (i, epc(e)) for i, e in enumerate(lst)))
        masq = "ip daddr %s tcp dport 80 ip saddr != %s jump mark-for-masquerade" % (s.cip, POD_CIDR)
        if s.itp != "Local" or (external and s.etp != "Local"):
            chains.append((sc, ([masq] if s.itp != "Local" else []) + [vm(eps)]))
        if local and (s.itp == "Local" or s.etp == "Local"):
            chains.append((lc, ([masq] if s.itp == "Local" else []) + [vm(local)]))
        if external:
            if s.etp == "Local":
                xb = ['ip saddr %s goto %s comment "short-circuit pod traffic"' % (POD_CIDR, sc),
                      'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
                      'fib saddr type local goto %s comment "short-circuit local traffic"' % sc]
                if local:
                    xb.append("goto %s" % lc)
            else:
                xb = ["jump mark-for-masquerade", "goto %s" % sc]
            chains.append((xc, xb))
        if s.ranges and s.lb:
            # the range holds the node IP: the LB IP joins the allowed sources
            chains.append((fc, ["ip saddr != { %s, %s } drop" % (", ".join(s.ranges), s.lb)]))
        reach = set(eps if (s.itp != "Local" or (external and s.etp != "Local")) else []) | set(local)
        for e in sorted(reach):
            ip, p = e.rsplit(":", 1)
            chains.append((epc(e), ["ip saddr %s jump mark-for-masquerade" % ip, "meta l4proto tcp dnat to %s" % e]))
    w = out.write
    w('table ip kube-proxy {\n\tcomment "rules for kube-proxy"\n')
    w('\tset cluster-ips {\n\t\ttype ipv4_addr\n\t\tcomment "Active ClusterIPs"\n\t\telements = { %s }\n\t}\n' % ", ".join(cips))
    w('\tset nodeport-ips {\n\t\ttype ipv4_addr\n\t\tcomment "IPs that accept NodePort traffic"\n\t\telements = { %s }\n\t}\n' % NP_ADDR)
    for name, typ, cm in (("no-endpoint-services", "ipv4_addr . inet_proto . inet_service", "vmap to drop or reject packets to services with no endpoints"),
                          ("no-endpoint-nodeports", "inet_proto . inet_service", "vmap to drop or reject packets to service nodeports with no endpoints"),
                          ("firewall-ips", "ipv4_addr . inet_proto . inet_service", "destinations that are subject to LoadBalancerSourceRanges"),
                          ("service-ips", "ipv4_addr . inet_proto . inet_service", "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
                          ("service-nodeports", "inet_proto . inet_service", "NodePort traffic")):
        w('\tmap %s {\n\t\ttype %s : verdict\n\t\tcomment "%s"\n\t}\n' % (name, typ, cm))
    base = [("filter-prerouting", "filter", "prerouting", "dstnat - 10", ["ct state new jump firewall-check"]),
            ("filter-input", "filter", "input", "-110", ["ct state new jump nodeport-endpoints-check", "ct state new jump service-endpoints-check"]),
            ("filter-forward", "filter", "forward", "-110", ["ct state new jump service-endpoints-check", "ct state new jump cluster-ips-check"]),
            ("filter-output", "filter", "output", "-110", ["ct state new jump service-endpoints-check", "ct state new jump firewall-check"]),
            ("filter-output-post-dnat", "filter", "output", "-90", ["ct state new jump cluster-ips-check"]),
            ("nat-prerouting", "nat", "prerouting", "dstnat", ["jump services"]),
            ("nat-output", "nat", "output", "-100", ["jump services"]),
            ("nat-postrouting", "nat", "postrouting", "srcnat", ["jump masquerading"])]
    helpers = [("mark-for-masquerade", ["meta mark set meta mark | 0x00004000"]),
               ("masquerading", ["meta mark & 0x00004000 == 0x00000000 return", "meta mark set meta mark ^ 0x00004000",
                                 "masquerade fully-random"]),
               ("reject-chain", ["reject"]),
               ("cluster-ips-check", ['ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"']),
               ("service-endpoints-check", ["ip daddr . meta l4proto . th dport vmap @no-endpoint-services"]),
               ("nodeport-endpoints-check", ["ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"]),
               ("firewall-check", ["ip daddr . meta l4proto . th dport vmap @firewall-ips"]),
               ("services", ["ip daddr . meta l4proto . th dport vmap @service-ips",
                             "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"])]
    for n, _ in helpers + chains:
        w("\tchain %s {\n\t}\n" % n)
    for n, t, hk, pr, _ in base:
        w("\tchain %s {\n\t\ttype %s hook %s priority %s; policy accept;\n\t}\n" % (n, t, hk, pr))
    w("}\n")
    for n, body in helpers + chains + [(b[0], b[4]) for b in base]:
        for r in body:
            w("add rule ip kube-proxy %s %s\n" % (n, r))
    for m, lst in (("service-ips", svc_ips), ("service-nodeports", nps), ("no-endpoint-services", no_svc),
                   ("no-endpoint-nodeports", no_np), ("firewall-ips", fw_ips)):
        for e in lst:
            w("add element ip kube-proxy %s { %s }\n" % (m, e))


def bundle(out):
    objs = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}},
             "status": {"conditions": [{"type": "Ready", "status": "True"}],
                        "addresses": [{"type": "InternalIP", "address": ip}]}}
            for n, ip in (("node-a", NODE_IP), ("node-b", "10.77.0.9"))]
    for s in cluster():
        spec = {"type": s.type, "clusterIP": s.cip, "clusterIPs": [s.cip], "selector": {"app": s.name},
                "ports": [{"protocol": "TCP", "port": 80, "targetPort": s.tport, **({"nodePort": s.np} if s.np else {})}]}
        if s.type != "ClusterIP":
            spec["externalTrafficPolicy"] = s.etp
        if s.itp == "Local":
            spec["internalTrafficPolicy"] = "Local"
        if s.hcnp:
            spec["healthCheckNodePort"] = s.hcnp
        if s.ranges:
            spec["loadBalancerSourceRanges"] = s.ranges
        svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "shop", "name": s.name}, "spec": spec}
        if s.lb:
            svc["status"] = {"loadBalancer": {"ingress": [{"ip": s.lb}]}}
        objs.append(svc)
        eps, pods = [], list(s.eps)
        if s.name == "named":
            pods = [(P1, "node-a", True, True, False)]   # runs, but declares no port "http-alt"
        for i, (ip, node, ready, serving, term) in enumerate(pods):
            pod = "%s-%d" % (s.name, i)
            eps.append({"addresses": [ip], "conditions": {"ready": ready, "serving": serving, "terminating": term},
                        "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "shop", "name": pod}})
            meta = {"namespace": "shop", "name": pod, "labels": {"app": s.name}}
            if term:
                meta["deletionTimestamp"] = "2026-01-01T10:00:00Z"
            objs.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                         "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1",
                                                                    "ports": [{"name": "http", "containerPort": 8080}]}]},
                         "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}})
        # a named targetPort no container declares: the controller lists the Pods with no ports
        ports = [] if s.name == "named" else [{"protocol": "TCP", "port": 8080, "name": ""}]
        objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                     "metadata": {"namespace": "shop", "name": s.name + "-x1", "labels": {"kubernetes.io/service-name": s.name}},
                     "endpoints": eps, "ports": ports})
    json.dump({"kind": "KtraceBundle", "version": 1, "objects": objs, "nodes": [], "flows": [], "gaps": []}, out, indent=1)


if __name__ == "__main__":
    {"iptables": ipt, "hooks": hooks, "nft": nft, "bundle": bundle}[sys.argv[1]](sys.stdout)
