#!/bin/sh
# Dataplane benchmark (root): loads a kube-proxy rule set of 5,000 Services /
# 25,000 endpoints (bench/kpgen.py, exactly kube-proxy's format) into a lab
# network namespace and times, in the same run,
#   iptables-nft backend: `iptables-save -t nat`  vs `ktrace dataplane -A -o json`
#   nftables mode:        `nft -j list table ip kube-proxy` vs `ktrace dataplane -A -o json`
# Median of 5 runs each; peak RSS of ktrace. Target: ktrace <= 0.8x, RSS < 100 MB.
# With KTRACE_BASE=path to an earlier build, that build is timed too, in
# the same run and on the same rules, alternating with KTRACE over
# BENCH_ROUNDS rounds (default 2): the before/after table of BENCHMARKS.md.
# The load average is printed next to every figure.
# Usage: sh bench/dataplane.sh [SERVICES] [ENDPOINTS]   (KTRACE=path to the binary)
cd "$(dirname "$0")/.." || exit 1
: "${KTRACE:=$(pwd)/ktrace}"
SVCS=${1:-5000}
EPS=${2:-25000}
if [ "$(id -u)" != 0 ]; then echo "bench/dataplane.sh: SKIP: needs root (network namespaces)"; exit 0; fi
NS=ktbench$$
TMP=$(mktemp -d)
trap 'ip netns del $NS 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
ip netns add $NS || exit 1
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); median of 5 runs"
python3 bench/kpgen.py iptables --services "$SVCS" --endpoints "$EPS" > "$TMP/rules.ipt"
python3 bench/kpgen.py nft --services "$SVCS" --endpoints "$EPS" > "$TMP/rules.nft"
cat > "$TMP/timeit.py" <<'PY'
import resource, subprocess, sys, time
runs = int(sys.argv[1]); cmd = sys.argv[2:]
ts = []
cpu = []
for _ in range(runs):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    ts.append(time.monotonic() - t)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
ts.sort(); cpu.sort()
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
print("%.3f %.1f %.3f" % (ts[len(ts) // 2], rss, cpu[len(cpu) // 2]))
PY
T="python3 $TMP/timeit.py 5 ip netns exec $NS"
report() { # label base_result ktrace_result base_cmd [who]   (result = "wall rss cpu")
	set -- "$1" $2 $3 "$4" "${5:-ktrace}"
	b=$2; bcpu=$4; k=$5; rss=$6; kcpu=$7; what=$8; who=$9
	ratio=$(python3 -c "print('%.2f' % ($k / $b))")
	ok=$(python3 -c "print('PASS' if $k <= 0.8 * $b and $rss < 100 else 'FAIL')")
	printf '%-13s %-32s wall %6.3fs cpu %6.3fs | %s dataplane -A -o json wall %6.3fs cpu %6.3fs = %sx, peak RSS %s MB  %s  (load %s)\n' \
		"$1" "$what" "$b" "$bcpu" "$who" "$k" "$kcpu" "$ratio" "$rss" "$ok" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
# one round: the reference tool, then ktrace (and the earlier build),
# alternating the two builds' order from round to round
round() { # label round reference-command...
	label=$1; r=$2; shift 2
	base=$($T "$@")
	if [ -n "$KTRACE_BASE" ] && [ $((r % 2)) -eq 0 ]; then
		kb=$($T "$KTRACE_BASE" dataplane -A -o json --no-metrics)
		report "$label" "$base" "$kb" "$*" "before"
	fi
	kt=$($T "$KTRACE" dataplane -A -o json --no-metrics)
	report "$label" "$base" "$kt" "$*" "${KTRACE_BASE:+after}"
	if [ -n "$KTRACE_BASE" ] && [ $((r % 2)) -eq 1 ]; then
		kb=$($T "$KTRACE_BASE" dataplane -A -o json --no-metrics)
		report "$label" "$base" "$kb" "$*" "before"
	fi
}
# user space alone (no kernel, no other load on the netlink sockets): one
# recording of this rule set (KTRACE_NL_RECORD, made by $KTRACE), replayed
# by both builds alternately; both read the same file names
replay_ab() { # label
	[ -n "$KTRACE_BASE" ] || return 0
	rm -rf "$TMP/rec" && mkdir "$TMP/rec"
	ip netns exec $NS env KTRACE_NL_RECORD="$TMP/rec" "$KTRACE" dataplane -A -o json --no-metrics > "$TMP/live.json"
	for r in $(seq 1 "$ROUNDS"); do
		for who in after before; do
			[ $((r % 2)) -eq 0 ] && who=$([ $who = after ] && echo before || echo after)
			bin=$KTRACE; [ $who = before ] && bin=$KTRACE_BASE
			res=$(python3 "$TMP/timeit.py" 5 env KTRACE_NL_REPLAY="$TMP/rec" "$bin" dataplane -A -o json --no-metrics)
			printf '%-13s replay of one recording (user space only)  %-6s wall %6.3fs cpu %6.3fs  (load %s)\n' \
				"$label" "$who" "$(echo $res | cut -d' ' -f1)" "$(echo $res | cut -d' ' -f3)" \
				"$(cut -d' ' -f1-3 /proc/loadavg)"
		done
	done
}
ROUNDS=${BENCH_ROUNDS:-1}
[ -n "$KTRACE_BASE" ] && ROUNDS=${BENCH_ROUNDS:-2}
ip netns exec $NS iptables-restore "$TMP/rules.ipt" || exit 1
rules=$(ip netns exec $NS iptables-save -t nat | grep -c '^-A')
echo "rule set: $SVCS services, $EPS endpoints, $rules nat rules (iptables-nft)"
for r in $(seq 1 "$ROUNDS"); do round iptables-nft "$r" iptables-save -t nat; done
label=iptables-nft replay_ab
ip netns exec $NS nft flush ruleset
ip netns exec $NS nft -f "$TMP/rules.nft" || exit 1
for r in $(seq 1 "$ROUNDS"); do round nftables "$r" nft -j list table ip kube-proxy; done
label=nftables replay_ab
