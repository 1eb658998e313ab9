#!/usr/bin/env python3
"""Inject N DNAT'ed TCP conntrack entries through ctnetlink (what
`conntrack -I` does one process at a time), for the imbalance benchmark.
Run inside a lab network namespace as root:

    ip netns exec NS python3 bench/ctinject.py N [SERVICES] [BACKENDS] [NAT_SHARE] [TIME_WAIT] [UDP] > objects.json

Entry i: client 10.1.x.y:port -> VIP 10.96.(s/250).(s%250):80 of Service
bench/svc-s, DNAT'ed to backend 10.244.s.b:8080 with a skewed choice of b
(b=0 gets 3x its share), ESTABLISHED, timeout 1 h. With NAT_SHARE < 1 only
that share of the entries are Service flows; the rest are direct
connections client -> backend (pod to pod, node traffic). NAT_SHARE may be
a fraction ("2/3": exactly that many of N). Of the Service flows, a UDP
share (UDP, 0-1) goes to port 53 of the VIP, DNAT'ed to 5353 (assured
streams, timeout 120 s: every Service then also has a dns/UDP port), and a
TIME_WAIT share (0-1) of the TCP ones is in TIME_WAIT (timeout 120 s).
Prints a kubectl List JSON with the Services and EndpointSlices on stdout
(the --objects file).
"""
import json
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NLA_F_NESTED = 0x8000


def nla(t, payload):
    ln = 4 + len(payload)
    return struct.pack("=HH", ln, t) + payload + b"\0" * ((4 - ln % 4) % 4)


def nest(t, *parts):
    return nla(t | NLA_F_NESTED, b"".join(parts))


def tuple_(src, dst, sport, dport, proto=6):
    return nest(1, nla(1, socket.inet_aton(src)) + nla(2, socket.inet_aton(dst))) + \
        nest(2, nla(1, bytes([proto])) + nla(2, struct.pack(">H", sport)) + nla(3, struct.pack(">H", dport)))


def msg(seq, cli, cport, vip, be, nat=True, udp=False, time_wait=False):
    proto, vport, bport = (17, 53, 5353) if udp else (6, 80, 8080)
    if nat:
        # as kube-proxy's DNAT does: the kernel NATs the reply tuple and sets IPS_DST_NAT
        body = struct.pack("=BBH", socket.AF_INET, 0, 0)
        body += nest(1, tuple_(cli, vip, cport, vport, proto))
        body += nest(2, tuple_(vip, cli, vport, cport, proto))
        body += nest(13, nla(1, socket.inet_aton(be)) + nla(2, socket.inet_aton(be)) +
                     nest(3, nla(1, struct.pack(">H", bport)) + nla(2, struct.pack(">H", bport))))
    else:
        # not a Service flow: a direct connection (pod to pod, node traffic)
        body = struct.pack("=BBH", socket.AF_INET, 0, 0)
        body += nest(1, tuple_(cli, be, cport, 8080))
        body += nest(2, tuple_(be, cli, 8080, cport))
    short = udp or time_wait
    body += nla(7, struct.pack(">I", 120 if short else 3600))   # CTA_TIMEOUT
    body += nla(3, struct.pack(">I", 0xe))           # CTA_STATUS SEEN_REPLY|ASSURED|CONFIRMED
    if not udp:                                      # PROTOINFO TCP STATE ESTABLISHED / TIME_WAIT
        body += nest(4, nest(1, nla(1, b"\x07" if time_wait else b"\x03")))
    flags = 0x1 | 0x400 | 0x200                      # REQUEST | CREATE | EXCL
    return struct.pack("=IHHII", 16 + len(body), (1 << 8) | 0, flags, seq, 0) + body


def main():
    n = int(sys.argv[1])
    nsvc = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    nbe = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    share = sys.argv[4] if len(sys.argv) > 4 else "1"
    if "/" in share:
        a, b = share.split("/")
        share = float(a) / float(b)
    else:
        share = float(share)
    tw = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    udp = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    nsvc_flows = ntcp_flows = 0
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((0, 0))
    s.setblocking(False)
    batch, errors = [], 0
    weights = [3] + [1] * (nbe - 1)
    cum = []
    t = 0
    for w in weights:
        t += w
        cum.append(t)
    for i in range(n):
        sv = i % nsvc
        k = (i // nsvc) % t
        b = next(j for j, c in enumerate(cum) if k < c)
        cli = "10.1.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255)
        cport = 1024 + (i & 255) * 200 + (i >> 24)
        vip = "10.96.%d.%d" % (sv // 250, sv % 250 + 1)
        be = "10.244.%d.%d" % (sv % 250, b + 2)
        # exactly round(n * share) Service flows, spread evenly
        nat = int((i + 1) * share + 1e-9) > int(i * share + 1e-9)
        is_udp = is_tw = False
        if nat:
            k2 = nsvc_flows
            nsvc_flows += 1
            is_udp = int((k2 + 1) * udp + 1e-9) > int(k2 * udp + 1e-9)
            if not is_udp:     # a share of the TCP ones (own counter: not in step with UDP)
                k3 = ntcp_flows
                ntcp_flows += 1
                is_tw = int((k3 + 1) * tw + 1e-9) > int(k3 * tw + 1e-9)
        batch.append(msg(i + 1, cli, cport, vip, be, nat=nat, udp=is_udp, time_wait=is_tw))
        if len(batch) == 200 or i == n - 1:
            data = b"".join(batch)
            while True:
                try:
                    s.send(data)
                    break
                except BlockingIOError:
                    pass
            batch = []
            try:
                while True:
                    r = s.recv(65536)
                    off = 0
                    while off + 20 <= len(r):
                        ln, typ = struct.unpack_from("=IH", r, off)
                        if typ == 2 and struct.unpack_from("=i", r, off + 16)[0] != 0:
                            errors += 1
                        off += (ln + 3) & ~3
            except (BlockingIOError, OSError):
                pass
    if errors:
        print("ctinject: %d entries refused" % errors, file=sys.stderr)
    items = []
    for sv in range(nsvc):
        vip = "10.96.%d.%d" % (sv // 250, sv % 250 + 1)
        name = "svc-%d" % sv
        ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
        eports = [{"name": "http", "port": 8080, "protocol": "TCP"}]
        if udp > 0:
            ports.append({"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353})
            eports.append({"name": "dns", "port": 5353, "protocol": "UDP"})
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "bench"},
                      "spec": {"clusterIP": vip, "clusterIPs": [vip], "selector": {"app": name},
                               "ports": ports}})
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": name + "-x", "namespace": "bench",
                                   "labels": {"kubernetes.io/service-name": name}},
                      "addressType": "IPv4", "ports": eports,
                      "endpoints": [{"addresses": ["10.244.%d.%d" % (sv % 250, b + 2)], "conditions": {"ready": True}}
                                    for b in range(nbe)]})
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)


if __name__ == "__main__":
    main()
