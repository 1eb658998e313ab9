#!/bin/sh
# `ktrace trace` lab: a kube-proxy node built from network namespaces (the
# fidelity lab's topology and rules, tests/lab/kpfidelity.py: ClusterIP,
# NodePort on an allowed and a disallowed address, no endpoints (REJECT),
# internalTrafficPolicy / externalTrafficPolicy Local without a local
# endpoint (DROP), an LB IP with loadBalancerSourceRanges from an allowed and
# a refused client), in each mode (iptables-nft, iptables-legacy, nftables).
# Real TCP connections from the client namespace say what the kernel does;
# `ktrace trace` on the node's saved rules (iptables-save / nft -j, loaded
# into its own scratch namespaces) must report the same fate and backend,
# agree with ktrace's model, give --count 1000 shares within statistical
# bounds, and leave no namespace behind -- after success, an error, and
# SIGINT; a killed ktrace's namespaces are swept by the next run.
# --from-pod / --dst svc/NAME: real connections from a Pod namespace and
# from the node itself (hostNetwork) next to traces from a bundle's Pods
# (hairpin masquerade, checked in the node's conntrack table). IPv6: real
# connections to tests/fixtures/dataplane/v6gen.py's Service next to
# traces through ip6tables-nft and nft ip6 rules. Session affinity and UDP
# use bench/kpgen.py's fixture rules (trace only). A bundle is answered
# from the model, labelled computed.
# Root only; everything it creates is removed by the trap (by name/PID).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lablib.sh"
SUITE=trace-lab
lab_require "network namespaces, netfilter, nftables trace events" ip iptables-restore iptables-legacy-restore \
	iptables-nft-restore nft python3
[ -f "$TOP/tests/lab/kpfidelity.py" ] || { skip all "tests/lab/kpfidelity.py (the fidelity lab's rules) is missing"; exit 0; }
lab_init kttr kttr 2
GEN="python3 $TOP/tests/lab/kpfidelity.py"
inode() { nsx $NSN "$@"; }

# ---- topology (as the fidelity lab): client 10.77.0.2 / 10.77.0.200 --
# node 10.77.0.1 + 10.78.0.1 -- Pods 10.244.1.11, 10.244.2.12; a sink
# namespace behind the default route swallows what the rules do not DNAT
NSS=${P}s
LAB_PODS="$LAB_PODS $NSS"
lab_netns || { fail topology "cannot create network namespaces"; exit 0; }
inode sysctl -qw net.ipv4.ip_forward=1
inode ip link add vc type veth peer name eth0 netns $NSC
inode ip addr add 10.77.0.1/24 dev vc
inode ip addr add 10.78.0.1/24 dev vc
inode ip link set vc up
nsx $NSC ip addr add 10.77.0.2/24 dev eth0
nsx $NSC ip addr add 10.77.0.200/24 dev eth0
nsx $NSC ip addr add 10.78.0.2/24 dev eth0
nsx $NSC ip link set eth0 up
nsx $NSC ip route add 10.96.0.0/12 via 10.77.0.1
nsx $NSC ip route add 203.0.113.0/24 via 10.77.0.1
inode ip link add kd0 type veth peer name eth0 netns $NSS
inode ip addr add 192.0.2.1/24 dev kd0
inode ip link set kd0 up
nsx $NSS sysctl -qw net.ipv4.ip_forward=0
nsx $NSS ip addr add 192.0.2.2/24 dev eth0
nsx $NSS ip link set eth0 up
inode ip route add default via 192.0.2.2
i=0
for pip in 10.244.1.11 10.244.2.12; do
	i=$((i + 1))
	p=${P}p$i
	inode ip link add vp$i type veth peer name eth0 netns $p
	inode ip addr add 169.254.1.1/32 dev vp$i
	inode ip link set vp$i up
	inode ip route add $pip/32 dev vp$i
	nsx $p ip addr add $pip/32 dev eth0
	nsx $p ip link set eth0 up
	nsx $p ip route add 169.254.1.1 dev eth0
	nsx $p ip route add default via 169.254.1.1
	ip netns exec $p timeout 300 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(64)
open(sys.argv[2], "w").write("READY")
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[1].encode()); c.close()
' $pip $WORK/ready$i &
	PIDS="$PIDS $!"
	wait_ready $WORK/ready$i || { fail topology "pod server $pip did not start"; exit 0; }
done
pass topology

$GEN iptables > $WORK/rules.ipt
$GEN hooks > $WORK/hooks.ipt
$GEN nft > $WORK/rules.nft
$GEN bundle > $WORK/bundle.json

# the cases: DST:PORT[:SRC] -- what a real connection from the client does
CASES="10.96.120.15:80 10.77.0.1:30100 10.78.0.1:30100 10.96.10.1:80 10.77.0.1:30101 10.96.10.3:80 10.96.10.4:80
203.0.113.50:80 10.77.0.1:30104 203.0.113.60:80:10.77.0.2 203.0.113.60:80:10.77.0.200"
cat > $WORK/probe.py <<'EOF'
import errno, json, socket, sys
out = {}
for spec in sys.argv[1:]:
    parts = spec.split(":")
    dst, port, src = parts[0], int(parts[1]), parts[2] if len(parts) > 2 else None
    s = socket.socket()
    s.settimeout(1.5)
    if src:
        s.bind((src, 0))
    try:
        s.connect((dst, port))
        out[spec] = "reached " + s.recv(64).decode()
    except ConnectionRefusedError:
        out[spec] = "refused"
    except socket.timeout:
        out[spec] = "timeout"
    except OSError as e:
        out[spec] = "error " + errno.errorcode.get(e.errno, str(e.errno))
    s.close()
json.dump(out, sys.stdout)
EOF

# ns_left PID: scratch namespaces of that ktrace process still present
ns_left() { ip netns list 2>/dev/null | grep -c "^ktrace-trace-$1-"; }

# trace_case MODE DUMPOPT DUMP SPEC: one trace, JSON in $WORK/MODE-N.json
N=0
trace_case() {
	N=$((N + 1))
	dst=$(echo "$4" | cut -d: -f1-2)
	src=$(echo "$4" | cut -d: -f3)
	"$KTRACE" trace "$2" "$3" --node-address 10.77.0.1,10.78.0.1 --src "${src:-10.77.0.2}" --dst "$dst" -o json \
		> $WORK/$1-$N.json 2> $WORK/$1-$N.err &
	tp=$!
	wait $tp
	echo $? > $WORK/$1-$N.rc
	[ "$(ns_left $tp)" = 0 ] || echo "LEFT" >> $WORK/$1-$N.err
}

check_mode() { # MODE DUMPOPT DUMP
	mode=$1
	nsx $NSC python3 $WORK/probe.py $CASES > $WORK/$mode.probe 2> $WORK/$mode.probe.err
	N=0
	: > $WORK/$mode.files
	for c in $CASES; do
		trace_case $mode "$2" "$3" "$c"
		echo "$c $WORK/$mode-$N" >> $WORK/$mode.files
	done
	# does this build's model know REJECT/DROP verdicts (the dataplane fidelity work)?
	"$KTRACE" dataplane "$2" "$3" -A -o json > $WORK/$mode.model 2>&1
	grep -q '"action"' $WORK/$mode.model && acts=1 || acts=0
	python3 - $WORK/$mode.probe $WORK/$mode.files $acts <<'EOF' > $WORK/$mode.cmp 2>&1
import json, sys
probe = json.load(open(sys.argv[1]))
has_actions = sys.argv[3] == "1"
fidelity = {"10.78.0.1:30100", "10.96.10.1:80", "10.77.0.1:30101", "10.96.10.3:80", "203.0.113.50:80", "10.77.0.1:30104",
            "203.0.113.60:80:10.77.0.200"}
for line in open(sys.argv[2]):
    spec, base = line.split()
    rc = open(base + ".rc").read().strip()
    err = open(base + ".err").read()
    try:
        d = json.load(open(base + ".json"))
    except Exception:
        print("FAIL: %s: no JSON (exit %s): %s" % (spec, rc, err[:200].replace("\n", "|")))
        continue
    p = d["probes"][0]
    fate, to = p["fate"], (p["to"] or "").split(":")[0]
    traced = {"forwarded": "reached " + to, "local": "refused", "rejected": "refused", "dropped": "timeout"}.get(fate, fate)
    real = probe[spec]
    # web has two backends picked at random: any of them is the same answer
    rnd = spec in ("10.96.120.15:80", "10.77.0.1:30100")
    same = traced == real or (rnd and real.startswith("reached 10.244.") and traced.startswith("reached 10.244."))
    steps = len(p["steps"])
    print("%s: %s: traced %s (%s, %d steps), real %s" % ("PASS" if same and steps > 0 else "FAIL", spec, traced, fate, steps, real))
    if spec in fidelity and not has_actions:
        print("SKIP: %s: agreement with the model: this build's model has no REJECT/DROP verdicts, nodePortAddresses or source ranges" % spec)
    else:
        print("%s: %s: the kernel agrees with ktrace's model (exit %s)%s" % ("PASS" if d["agrees"] and rc == "0" else "FAIL", spec, rc,
              "" if d["agrees"] else ": " + str(d.get("disagreement")) + " model " + json.dumps(d["model"])[:300]))
    print("%s: %s: scratch namespaces removed" % ("FAIL" if "LEFT" in err else "PASS", spec))
EOF
	while IFS= read -r line; do
		case "$line" in
		PASS:*) pass "$mode: ${line#PASS: }" ;;
		SKIP:*) skip "$mode" "${line#SKIP: }" ;;
		FAIL:*) fail "$mode: ${line#FAIL: }" "$(head -c 300 $WORK/$mode.probe | tr '\n' ' ')" ;;
		*) fail "$mode: compare" "$line" ;;
		esac
	done < $WORK/$mode.cmp
	# the measured distribution: web's ClusterIP, two backends
	"$KTRACE" trace "$2" "$3" --node-address 10.77.0.1,10.78.0.1 --src 10.77.0.2 --dst 10.96.120.15:80 --count 1000 -o json \
		> $WORK/$mode-count.json 2> $WORK/$mode-count.err
	python3 - $WORK/$mode-count.json <<'EOF' > $WORK/$mode-count.cmp 2>&1 &&
import json, sys
d = json.load(open(sys.argv[1]))
sh = {s["to"]: s for s in d["shares"]}
assert d["count"] == 1000 and d["lost"] == 0, (d["count"], d["lost"])
assert set(sh) == {"10.244.1.11:8080", "10.244.2.12:8080"}, sh
assert all(s["withinBounds"] and abs(s["computed"] - 0.5) < 1e-6 for s in sh.values()), sh
assert sum(s["count"] for s in sh.values()) == 1000
print(" / ".join("%s %d" % (k, v["count"]) for k, v in sorted(sh.items())), "in %.0f ms" % d["load"]["totalMs"])
EOF
		pass "$mode: --count 1000 shares within bounds of 50/50 ($(cat $WORK/$mode-count.cmp))" ||
		fail "$mode: --count 1000 shares within bounds" "$(head -c 400 $WORK/$mode-count.cmp $WORK/$mode-count.err | tr '\n' '|')"
}

# ---- --from-pod and --dst svc/NAME: a Pod's packets, real and traced ------
# the bundle's Pods plus a hostNetwork Pod on node-a (its IP is the node's)
python3 - $WORK/bundle.json $WORK/pods.bundle <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
b["objects"].append({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "kube-system", "name": "agent-a"},
                     "spec": {"nodeName": "node-a", "hostNetwork": True, "containers": [{"name": "a", "image": "a:1"}]},
                     "status": {"phase": "Running", "podIP": "10.77.0.1", "podIPs": [{"ip": "10.77.0.1"}]}})
json.dump(b, open(sys.argv[2], "w"))
EOF
cat > $WORK/connect.py <<'EOF'
import socket, sys
src, dst, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
got = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(1.5)
    if src != "-":
        s.bind((src, 0))
    try:
        s.connect((dst, port))
        got.append(s.recv(64).decode())
    except OSError as e:
        got.append("error " + str(e))
    s.close()
print(" ".join(got))
EOF
# the node's conntrack entries from SRC to web's ClusterIP: "BACKEND TRANSLATED-SOURCE" per line
ct_pairs() {
	inode conntrack -L -p tcp --orig-src "$1" --orig-dst 10.96.120.15 2>/dev/null |
		sed -n 's/.*src=[^ ]* dst=[^ ]* sport=[^ ]* dport=[^ ]* .*src=\([^ ]*\) dst=\([^ ]*\) sport=.*/\1 \2/p'
}

from_pod_checks() { # MODE DUMPOPT DUMP
	mode=$1
	have_ct=1
	command -v conntrack >/dev/null 2>&1 || have_ct=0
	[ $have_ct = 1 ] && inode conntrack -F >/dev/null 2>&1
	# real: Pod web-0 (10.244.1.11) to web's ClusterIP, 30 connections
	real=$(nsx ${P}p1 python3 $WORK/connect.py - 10.96.120.15 80 30)
	case "$real" in *10.244.1.11*10.244.2.12* | *10.244.2.12*10.244.1.11*)
		pass "$mode: real Pod web-0 -> web's ClusterIP reaches both backends" ;;
	*) fail "$mode: real Pod web-0 -> web's ClusterIP" "$real" ;; esac
	if [ $have_ct = 1 ]; then
		ct_pairs 10.244.1.11 > $WORK/$mode-ct.txt
		# hairpin: back to itself masqueraded (the reply goes to another address), else the source kept
		if [ -s $WORK/$mode-ct.txt ] && awk '($1 == "10.244.1.11") != ($2 != "10.244.1.11") { bad = 1 } END { exit bad }' $WORK/$mode-ct.txt &&
			grep -q '^10.244.1.11 ' $WORK/$mode-ct.txt && grep -q '^10.244.2.12 10.244.1.11$' $WORK/$mode-ct.txt; then
			pass "$mode: real conntrack: masqueraded exactly when the Pod reached itself"
		else
			fail "$mode: real conntrack: hairpin masquerade" "$(tr '\n' '|' < $WORK/$mode-ct.txt)"
		fi
	else
		skip "$mode: real conntrack" "conntrack (the tool) is not installed"
	fi
	"$KTRACE" trace "$2" "$3" --from $WORK/pods.bundle --from-pod shop/web-0 --dst svc/web -n shop \
		--node-address 10.77.0.1,10.78.0.1 --count 200 -o json > $WORK/$mode-pod.json 2> $WORK/$mode-pod.err
	rc=$?
	python3 - $WORK/$mode-pod.json $rc <<'EOF' > $WORK/$mode-pod.cmp 2>&1 &&
import json, sys
d = json.load(open(sys.argv[1]))
assert sys.argv[2] == "0" and d["agrees"], (sys.argv[2], d.get("disagreement"))
assert d["source"] == "10.244.1.11:40000" and d["destination"] == "10.96.120.15:80", (d["source"], d["destination"])
assert d["fromPod"] == {"namespace": "shop", "name": "web-0", "ip": "10.244.1.11", "node": "node-a", "hostNetwork": False}, d["fromPod"]
assert d["toService"]["name"] == "web" and d["count"] == 200 and d["lost"] == 0
sh = {s["to"]: s for s in d["shares"]}
assert set(sh) == {"10.244.1.11:8080", "10.244.2.12:8080"} and all(s["withinBounds"] for s in sh.values()), sh
for p in d["probes"]:
    assert p["fate"] == "forwarded" and p["masquerade"] == p["to"].startswith("10.244.1.11:"), p
chains = [s["chain"] for s in d["probes"][0]["steps"]]
assert ("PREROUTING" in chains or "nat-prerouting" in chains) and "OUTPUT" not in chains, chains
print("%d/%d, masqueraded exactly the %d probes that reached web-0 itself" % (sh["10.244.1.11:8080"]["count"],
      sh["10.244.2.12:8080"]["count"], sh["10.244.1.11:8080"]["count"]))
EOF
		pass "$mode: --from-pod shop/web-0 --dst svc/web --count 200 (PREROUTING): $(cat $WORK/$mode-pod.cmp)" ||
		fail "$mode: --from-pod shop/web-0 --dst svc/web" "$(head -c 500 $WORK/$mode-pod.cmp $WORK/$mode-pod.err | tr '\n' '|')"
	# hostNetwork: a socket on the node itself, through OUTPUT
	[ $have_ct = 1 ] && inode conntrack -F >/dev/null 2>&1
	real=$(inode python3 $WORK/connect.py 10.77.0.1 10.96.120.15 80 10)
	case "$real" in *10.244.*) pass "$mode: real hostNetwork socket on the node reaches web" ;;
	*) fail "$mode: real hostNetwork socket on the node" "$real" ;; esac
	if [ $have_ct = 1 ]; then
		ct_pairs 10.77.0.1 > $WORK/$mode-cth.txt
		[ -s $WORK/$mode-cth.txt ] && ! grep -q ' 10.77.0.1$' $WORK/$mode-cth.txt &&
			pass "$mode: real conntrack: the node's own connection is masqueraded" ||
			fail "$mode: real conntrack: the node's own connection" "$(tr '\n' '|' < $WORK/$mode-cth.txt)"
	fi
	"$KTRACE" trace "$2" "$3" --from $WORK/pods.bundle --from-pod kube-system/agent-a --dst svc/web:80 -n shop \
		--node-address 10.77.0.1,10.78.0.1 -o json > $WORK/$mode-host.json 2> $WORK/$mode-host.err
	rc=$?
	python3 - $WORK/$mode-host.json $rc <<'EOF' > $WORK/$mode-host.cmp 2>&1 &&
import json, sys
d = json.load(open(sys.argv[1]))
p = d["probes"][0]
assert sys.argv[2] == "0" and d["agrees"] and d["fromPod"]["hostNetwork"], (sys.argv[2], d.get("disagreement"))
assert p["fate"] == "forwarded" and p["to"] in ("10.244.1.11:8080", "10.244.2.12:8080") and p["masquerade"], p
chains = [s["chain"] for s in p["steps"]]
assert chains[0] in ("OUTPUT", "nat-output", "filter-output") and "PREROUTING" not in chains, chains
print(p["to"], "first step", p["steps"][0]["table"], chains[0])
EOF
		pass "$mode: --from-pod hostNetwork: through OUTPUT to $(cat $WORK/$mode-host.cmp), masqueraded" ||
		fail "$mode: --from-pod hostNetwork" "$(head -c 500 $WORK/$mode-host.cmp $WORK/$mode-host.err | tr '\n' '|')"
}

# ---- iptables-nft ---------------------------------------------------------
if inode iptables-nft-restore $WORK/rules.ipt && inode iptables-nft-restore --noflush $WORK/hooks.ipt; then
	inode iptables-nft-save > $WORK/nft.save
	check_mode iptables-nft --iptables-save $WORK/nft.save
	# the text: rules in order with their text, NAT and fate, the verdict
	"$KTRACE" trace --iptables-save $WORK/nft.save --node-address 10.77.0.1 --src 10.77.0.2 --dst 10.96.10.1:80 \
		> $WORK/text.out 2>&1
	if grep -q 'KUBE-SERVICES .*REJECT' $WORK/text.out && grep -q '^fate: rejected' $WORK/text.out &&
		grep -q 'kernel \(agrees\|disagrees\) with the model' $WORK/text.out && grep -q 'has no endpoints' $WORK/text.out; then
		pass "text: the REJECT rule, the fate and the verdict"
	else
		fail "text: the REJECT rule, the fate and the verdict" "$(head -c 600 $WORK/text.out | tr '\n' '|')"
	fi
	"$KTRACE" trace --iptables-save $WORK/nft.save --node-address 10.77.0.1 --dst 10.77.0.1:30100 -o json > $WORK/masq.json 2>&1
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["probes"][0]; sys.exit(0 if p["masquerade"] and p["from"].startswith("10.77.0.1:") and p["dnat"] else 1)' $WORK/masq.json &&
		pass "NodePort with Cluster policy: DNAT and masquerade to the node address" ||
		fail "NodePort masquerade" "$(head -c 400 $WORK/masq.json | tr '\n' '|')"
	from_pod_checks iptables-nft --iptables-save $WORK/nft.save
	# the same from the live API (tests/apiserver/kapi.py serving the bundle's objects)
	mkdir -p $WORK/api
	python3 - $WORK/pods.bundle $WORK/api <<'EOF'
import json, os, sys
b = json.load(open(sys.argv[1]))
kinds = {"Service": "services", "Pod": "pods", "Node": "nodes", "EndpointSlice": "endpointslices"}
lists = {v: [] for v in kinds.values()}
for o in b["objects"]:
    if o["kind"] in kinds:
        lists[kinds[o["kind"]]].append(o)
for name, items in lists.items():
    json.dump({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items},
              open(os.path.join(sys.argv[2], name + ".json"), "w"))
json.dump({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
           "items": [{"metadata": {"name": n}} for n in ("default", "kube-system", "shop")]},
          open(os.path.join(sys.argv[2], "namespaces.json"), "w"))
EOF
	python3 "$TOP/tests/apiserver/kapi.py" --dir $WORK/api --port-file $WORK/api.port > /dev/null 2> $WORK/api.err &
	PIDS="$PIDS $!"
	i=0
	while [ ! -s $WORK/api.port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	printf 'apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster: {server: "http://127.0.0.1:%s"}\ncontexts:\n- name: c\n  context: {cluster: c, namespace: default}\n' \
		"$(cat $WORK/api.port)" > $WORK/kc.yaml
	"$KTRACE" trace --kubeconfig $WORK/kc.yaml --iptables-save $WORK/nft.save --from-pod web-0 --dst svc/web:80 -n shop \
		--node-address 10.77.0.1,10.78.0.1 -o json > $WORK/api.json 2> $WORK/api.trace.err
	rc=$?
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["probes"][0]; sys.exit(0 if sys.argv[2] == "0" and d["agrees"] and d["fromPod"]["ip"] == "10.244.1.11" and d["destination"] == "10.96.120.15:80" and p["fate"] == "forwarded" else 1)' \
		$WORK/api.json $rc 2>/dev/null &&
		pass "--from-pod web-0 --dst svc/web:80 -n shop with the objects from the live API" ||
		fail "--from-pod with the live API" "exit $rc $(head -c 400 $WORK/api.json $WORK/api.trace.err $WORK/api.err | tr '\n' '|')"
	# what --from-pod and --dst svc/ refuse
	"$KTRACE" trace --iptables-save $WORK/nft.save --from $WORK/pods.bundle --from-pod shop/web-9 --dst svc/web -n shop \
		> $WORK/e1.out 2>&1
	rc1=$?
	"$KTRACE" trace --iptables-save $WORK/nft.save --from $WORK/pods.bundle --from-pod shop/web-0 --dst svc/web:http -n shop \
		> $WORK/e2.out 2>&1
	rc2=$?
	"$KTRACE" trace --iptables-save $WORK/nft.save --from-pod shop/web-0 --src 10.1.1.1 --dst 10.96.120.15:80 > $WORK/e3.out 2>&1
	rc3=$?
	[ $rc1 = 3 ] && grep -q "web-0\|web-1" $WORK/e1.out && [ $rc2 = 3 ] && grep -q "ports: 80" $WORK/e2.out && [ $rc3 = 2 ] &&
		pass "an unknown Pod (exit 3, close names), a Service port it lacks (exit 3, its ports), --src with --from-pod (exit 2)" ||
		fail "--from-pod / svc errors" "$rc1 $rc2 $rc3 $(cat $WORK/e1.out $WORK/e2.out $WORK/e3.out | tr '\n' '|')"
	inode iptables-nft -t nat -F; inode iptables-nft -t nat -X; inode iptables-nft -t filter -F; inode iptables-nft -t filter -X
	inode nft flush ruleset
else
	fail iptables-nft "iptables-nft-restore failed in the lab node"
fi

# ---- iptables-legacy ------------------------------------------------------
if inode iptables-legacy-restore $WORK/rules.ipt 2>$WORK/leg.err && inode iptables-legacy-restore --noflush $WORK/hooks.ipt; then
	inode iptables-legacy-save > $WORK/legacy.save
	check_mode iptables-legacy --iptables-save $WORK/legacy.save
	inode iptables-legacy -t nat -F; inode iptables-legacy -t nat -X
	inode iptables-legacy -t filter -F; inode iptables-legacy -t filter -X
else
	skip iptables-legacy "iptables-legacy-restore failed: $(head -c 200 $WORK/leg.err)"
fi

# ---- nftables -------------------------------------------------------------
inode nft flush ruleset
if inode nft -f $WORK/rules.nft 2>$WORK/nft.err; then
	inode nft -j list ruleset > $WORK/ruleset.json
	check_mode nftables --nft-json $WORK/ruleset.json
	from_pod_checks nftables --nft-json $WORK/ruleset.json
else
	fail nftables "nft -f failed: $(head -c 300 $WORK/nft.err | tr '\n' '|')"
fi
inode nft flush ruleset

# ---- IPv6: shop/web6 (tests/fixtures/dataplane/v6gen.py) in ip6tables-nft and nftables mode ----
# client fd00:77::2 -- node fd00:77::1 -- Pods fd00:10:244:1::11, fd00:10:244:2::12 (servers on [::]:8080)
v6_setup() {
	inode ip -6 addr add fd00:77::1/64 dev vc nodad || return 1
	nsx $NSC ip -6 addr add fd00:77::2/64 dev eth0 nodad || return 1
	nsx $NSC ip -6 route add fd00:10:96::/64 via fd00:77::1 || return 1
	inode sysctl -qw net.ipv6.conf.all.forwarding=1 || return 1
	for i in 1 2; do
		pip=fd00:10:244:$i::1$i
		inode ip -6 addr add fd00:169::1/128 dev vp$i nodad || return 1
		inode ip -6 route add $pip/128 dev vp$i || return 1
		nsx ${P}p$i ip -6 addr add $pip/128 dev eth0 nodad || return 1
		nsx ${P}p$i ip -6 route add fd00:169::1/128 dev eth0 || return 1
		nsx ${P}p$i ip -6 route add default via fd00:169::1 dev eth0 || return 1
		ip netns exec ${P}p$i timeout 300 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::", 8080)); s.listen(64)
open(sys.argv[2], "w").write("READY")
while True:
    c, _ = s.accept()
    c.sendall(sys.argv[1].encode()); c.close()
' $pip $WORK/ready6$i &
		PIDS="$PIDS $!"
		wait_ready $WORK/ready6$i || return 1
	done
}

v6_checks() { # MODE DUMPOPT DUMP
	mode=$1
	real=$(nsx $NSC python3 - <<'EOF'
import socket
out = []
for dst, port in (("fd00:10:96::15", 80), ("fd00:77::1", 30880)):
    s = socket.socket(socket.AF_INET6)
    s.settimeout(1.5)
    try:
        s.connect((dst, port))
        out.append(s.recv(64).decode())
    except OSError as e:
        out.append("error-" + str(e).replace(" ", "_"))
    s.close()
print(" ".join(out))
EOF
)
	"$KTRACE" trace "$2" "$3" --node-address fd00:77::1 --src fd00:77::2 --dst '[fd00:10:96::15]:80' --count 200 -o json \
		> $WORK/$mode-v6c.json 2> $WORK/$mode-v6c.err
	rc1=$?
	"$KTRACE" trace "$2" "$3" --node-address fd00:77::1 --src '[fd00:77::2]:41000' --dst '[fd00:77::1]:30880' -o json \
		> $WORK/$mode-v6n.json 2> $WORK/$mode-v6n.err
	rc2=$?
	python3 - "$real" $WORK/$mode-v6c.json $rc1 $WORK/$mode-v6n.json $rc2 <<'EOF' > $WORK/$mode-v6.cmp 2>&1 &&
import json, sys
real = sys.argv[1].split()
eps = {"fd00:10:244:1::11", "fd00:10:244:2::12"}
assert len(real) == 2 and all(r in eps for r in real), ("real", real)
c = json.load(open(sys.argv[2]))
assert sys.argv[3] == "0" and c["agrees"] and c["lost"] == 0 and c["load"]["pruned"], (sys.argv[3], c.get("disagreement"))
sh = {s["to"]: s for s in c["shares"]}
assert set(sh) == {"[%s]:8080" % e for e in eps} and all(s["withinBounds"] for s in sh.values()), sh
n = json.load(open(sys.argv[4]))
p = n["probes"][0]
assert sys.argv[5] == "0" and n["agrees"] and n["source"] == "[fd00:77::2]:41000", (sys.argv[5], n.get("disagreement"))
assert p["fate"] == "forwarded" and p["to"].strip("[").split("]")[0] in eps and p["dnat"] and p["masquerade"], p
print("real %s; ClusterIP %s; NodePort to %s, masqueraded" % (" ".join(real), " / ".join("%s %d" % (k, v["count"])
      for k, v in sorted(sh.items())), p["to"]))
EOF
		pass "$mode IPv6: $(cat $WORK/$mode-v6.cmp)" ||
		fail "$mode IPv6" "$(head -c 600 $WORK/$mode-v6.cmp $WORK/$mode-v6c.err $WORK/$mode-v6n.err | tr '\n' '|')"
}

V6GEN="python3 $TOP/tests/fixtures/dataplane/v6gen.py"
if [ ! -f "$TOP/tests/fixtures/dataplane/v6gen.py" ] || ! command -v ip6tables-nft-restore >/dev/null 2>&1; then
	skip IPv6 "tests/fixtures/dataplane/v6gen.py or ip6tables-nft-restore missing"
elif ! v6_setup; then
	fail IPv6 "cannot set up the IPv6 lab (addresses, routes, servers)"
else
	$V6GEN ip6tables > $WORK/rules6.ipt
	$V6GEN nft > $WORK/rules6.nft
	if inode ip6tables-nft-restore $WORK/rules6.ipt; then
		inode ip6tables-nft-save > $WORK/v6.save
		v6_checks ip6tables-nft --iptables-save $WORK/v6.save
		inode ip6tables-nft -t nat -F; inode ip6tables-nft -t nat -X
	else
		fail "ip6tables-nft" "ip6tables-nft-restore failed in the lab node"
	fi
	inode nft flush ruleset
	if inode nft -f $WORK/rules6.nft; then
		inode nft -j list ruleset > $WORK/v6.json
		v6_checks nftables --nft-json $WORK/v6.json
	else
		fail "nftables IPv6" "nft -f failed in the lab node"
	fi
	inode nft flush ruleset
	# a family the rule set does not have: a clear error, exit 2
	"$KTRACE" trace --iptables-save $WORK/v6.save --dst 10.96.0.1:80 > $WORK/v6e1.out 2>&1
	r1=$?
	"$KTRACE" trace --nft-json $WORK/v6.json --dst 10.96.0.1:80 > $WORK/v6e2.out 2>&1
	r2=$?
	"$KTRACE" trace --iptables-save $WORK/nft.save --dst '[fd00::1]:80' > $WORK/v6e3.out 2>&1
	r3=$?
	[ $r1 = 2 ] && [ $r2 = 2 ] && [ $r3 = 2 ] && grep -q "ip6tables-save text: an IPv4 destination" $WORK/v6e1.out &&
		grep -q "no ip or inet table" $WORK/v6e2.out && grep -q "iptables-save text: an IPv6 destination" $WORK/v6e3.out &&
		pass "a destination of a family the rule set lacks: a clear error, exit 2" ||
		fail "family mismatch errors" "$r1 $r2 $r3 $(cat $WORK/v6e1.out $WORK/v6e2.out $WORK/v6e3.out | tr '\n' '|')"
fi

# ---- session affinity and UDP (bench/kpgen.py's fixture; trace only) -------
python3 "$TOP/bench/kpgen.py" iptables > $WORK/kp.ipt
python3 "$TOP/bench/kpgen.py" hooks > $WORK/kp-hooks.ipt
inode iptables-nft-restore $WORK/kp.ipt && inode iptables-nft-restore --noflush $WORK/kp-hooks.ipt &&
	inode iptables-nft-save > $WORK/kp.save
inode nft flush ruleset
"$KTRACE" trace --iptables-save $WORK/kp.save --node-address 192.168.10.11 --dst 192.168.10.11:30080 --count 200 -o json \
	> $WORK/aff.json 2> $WORK/aff.err
python3 - $WORK/aff.json <<'EOF' > $WORK/aff.cmp 2>&1 &&
import json, sys
d = json.load(open(sys.argv[1]))
got = [s for s in d["shares"] if s["count"]]
assert d["model"]["affinity"] and len(got) == 1 and got[0]["count"] == 200, d["shares"]
assert d["agrees"], d.get("disagreement")
steps = [s["rule"] or "" for s in d["probes"][0]["steps"]]
assert any("--set" in r and "recent" in r for r in steps), steps
print(got[0]["to"])
EOF
	pass "session affinity: 200 probes from one client all reach $(cat $WORK/aff.cmp), the recent --set rule traced" ||
	fail "session affinity" "$(head -c 400 $WORK/aff.cmp $WORK/aff.err | tr '\n' '|')"
"$KTRACE" trace --iptables-save $WORK/kp.save --dst 10.96.0.10:53 --proto udp -o json > $WORK/udp.json 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); p=d["probes"][0]; sys.exit(0 if d["agrees"] and p["fate"]=="forwarded" and p["to"] in ("10.244.1.41:53","10.244.2.42:53") else 1)' $WORK/udp.json &&
	pass "UDP: a datagram to kube-dns reaches one of its endpoints" ||
	fail "UDP" "$(head -c 400 $WORK/udp.json | tr '\n' '|')"
# --full loads everything: the same answer
"$KTRACE" trace --iptables-save $WORK/kp.save --dst 10.96.120.15:80 --full -o json > $WORK/full.json 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); l=d["load"]; sys.exit(0 if d["agrees"] and not l["pruned"] and l["rulesLoaded"]==l["rulesTotal"] else 1)' $WORK/full.json &&
	pass "--full loads every rule and agrees" || fail "--full" "$(head -c 400 $WORK/full.json | tr '\n' '|')"

# ---- a bundle: the model only, labelled computed ----------------------------
"$KTRACE" dataplane --iptables-save $WORK/kp.save --node node-a -A -o json > $WORK/kp-node.json 2>&1
python3 - $WORK/bundle.json $WORK/kp-node.json $WORK/node.bundle <<'EOF'
import json, sys
b = json.load(open(sys.argv[1]))
b["nodes"] = [json.load(open(sys.argv[2]))]
json.dump(b, open(sys.argv[3], "w"))
EOF
"$KTRACE" trace --from $WORK/node.bundle --node node-a --dst 10.96.120.15:80 -o json > $WORK/bundle.out 2> $WORK/bundle.err
rc=$?
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if not d["traced"] and d["model"]["computedOnly"] and len(d["model"]["backends"]) == 3 else 1)' $WORK/bundle.out 2>/dev/null &&
	grep -q "not traced" $WORK/bundle.err && [ $rc = 0 ] &&
	pass "bundle: answered from the model, labelled computed" ||
	fail "bundle: answered from the model, labelled computed" "exit $rc $(head -c 300 $WORK/bundle.out $WORK/bundle.err | tr '\n' '|')"

# ---- namespaces a killed ktrace left behind are swept by the next one ------
sh -c 'exit 0' &
dead=$!
wait $dead
ip netns add ktrace-trace-$dead-node && ip netns add ktrace-trace-$dead-client && ip netns add ktrace-trace-$$-node
"$KTRACE" trace --iptables-save $WORK/kp.save --dst 10.96.120.15:80 > $WORK/sweep.out 2>&1
rc=$?
[ $rc = 0 ] && [ "$(ns_left $dead)" = 0 ] && [ "$(ns_left $$)" = 1 ] &&
	pass "the namespaces of a killed ktrace (PID gone) are removed by the next run; a live PID's are kept" ||
	fail "stale namespaces" "exit $rc, left $(ns_left $dead) of the dead PID, $(ns_left $$) of the live one"
ip netns del ktrace-trace-$dead-node 2>/dev/null
ip netns del ktrace-trace-$dead-client 2>/dev/null
ip netns del ktrace-trace-$$-node 2>/dev/null

# ---- cleanup on errors and on SIGINT -------------------------------------
printf '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m nosuchmatch -j ACCEPT\nCOMMIT\n' > $WORK/bad.save
"$KTRACE" trace --iptables-save $WORK/bad.save --dst 10.96.0.1:443 > $WORK/bad.out 2>&1 &
tp=$!
wait $tp
rc=$?
[ $rc = 5 ] && [ "$(ns_left $tp)" = 0 ] && grep -q "refused the rule set" $WORK/bad.out &&
	pass "a rule set the kernel refuses: exit 5, namespaces removed" ||
	fail "a rule set the kernel refuses" "exit $rc, left $(ns_left $tp): $(head -c 300 $WORK/bad.out | tr '\n' '|')"
"$KTRACE" trace --iptables-save $WORK/kp.save --dst 10.96.120.15:80 --count 60000 --src 10.1.2.3:2000 > $WORK/int.out 2>&1 &
tp=$!
i=0
while [ "$(ns_left $tp)" = 0 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.2
kill -INT $tp 2>/dev/null
i=0
while kill -0 $tp 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
wait $tp
rc=$?
[ $rc = 130 ] && [ "$(ns_left $tp)" = 0 ] &&
	pass "SIGINT: exit 130, namespaces removed" ||
	fail "SIGINT" "exit $rc, left $(ns_left $tp): $(head -c 300 $WORK/int.out | tr '\n' '|')"
exit 0
