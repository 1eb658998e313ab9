#!/bin/sh
# Trace benchmark (root): a kube-proxy rule set of 5,000 Services / 25,000
# endpoints (bench/kpgen.py, kube-proxy's format), loaded into a lab
# namespace and saved with iptables-save (and nft -j list ruleset) exactly
# as a user would hand it to ktrace, then timed in the same run:
#   `ktrace trace --iptables-save FILE --dst CLUSTERIP:PORT`     (one probe; target < 1 s for the
#                                                                 whole command: read, parse, prune,
#                                                                 model, namespaces, rule load, probe)
#   the same with --count 1000                                  (target < 3 s)
#   the same with --full (every rule loaded)
#   reference: `iptables-nft-restore` of the whole set into a fresh namespace
#   nftables mode: `ktrace trace --nft-json FILE`, one probe and --count 1000 (the same targets)
#   the same with --full (every rule and map element through `nft -j -f`; one run, it is slow)
#   reference: `nft -f` of the whole set
# Median of 5 runs (wall, best, worst, peak RSS); the load average is printed next to every figure.
# Usage: sh bench/trace.sh [SERVICES] [ENDPOINTS]   (KTRACE=path to the binary)
cd "$(dirname "$0")/.." || exit 1
: "${KTRACE:=$(pwd)/ktrace}"
SVCS=${1:-5000}
EPS=${2:-25000}
if [ "$(id -u)" != 0 ]; then echo "bench/trace.sh: SKIP: needs root (network namespaces)"; exit 0; fi
NS=kttbench$$
TMP=$(mktemp -d)
trap 'ip netns del $NS 2>/dev/null; ip netns del ${NS}r 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
ip netns add $NS || exit 1
echo "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); median of 5 runs"
python3 bench/kpgen.py iptables --services "$SVCS" --endpoints "$EPS" > "$TMP/rules.ipt"
python3 bench/kpgen.py hooks > "$TMP/hooks.ipt"
python3 bench/kpgen.py nft --services "$SVCS" --endpoints "$EPS" > "$TMP/rules.nft"
ip netns exec $NS iptables-nft-restore "$TMP/rules.ipt" && ip netns exec $NS iptables-nft-restore --noflush "$TMP/hooks.ipt" &&
	ip netns exec $NS iptables-nft-save > "$TMP/save.txt" || exit 1
ip netns exec $NS nft flush ruleset
ip netns exec $NS nft -f "$TMP/rules.nft" && ip netns exec $NS nft -j list ruleset > "$TMP/ruleset.json" || exit 1
# a ClusterIP of the middle Service, from the rules
DST=$(grep -m1 -o -- '-A KUBE-SERVICES -d [0-9.]*/32 -p tcp .*--dport [0-9]*' "$TMP/save.txt" | tail -n1 |
	sed 's/.*-d \([0-9.]*\)\/32.*--dport \([0-9]*\).*/\1:\2/')
MID=$(grep -- '-A KUBE-SERVICES -d .* -p tcp .*cluster IP' "$TMP/save.txt" | sed -n "$((SVCS / 2))p" |
	sed 's/.*-d \([0-9.]*\)\/32.*--dport \([0-9]*\).*/\1:\2/')
[ -n "$MID" ] && DST=$MID
echo "rules: $(grep -c '^-A' "$TMP/save.txt") iptables rules, $(wc -c < "$TMP/ruleset.json") bytes of nft JSON; probe to $DST"
cat > "$TMP/timeit.py" <<'PY'
import resource, subprocess, sys, time
runs = int(sys.argv[1]); stdin = sys.argv[2]; cmd = sys.argv[3:]
if runs > 1:  # warm the page cache
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stdin=open(stdin) if stdin != "-" else None)
ts = []
for _ in range(runs):
    t = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stdin=open(stdin) if stdin != "-" else None, check=True)
    ts.append(time.monotonic() - t)
ts.sort()
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
print("%.3f %.3f %.3f %.1f" % (ts[len(ts) // 2], ts[0], ts[-1], rss))
PY
row() { # label target result
	set -- "$1" "$2" $3
	ok=$(python3 -c "print('PASS' if $3 < $2 else 'FAIL')")
	printf '%-58s median %6.3fs (best %.3f, worst %.3f) peak RSS %5.1f MB  %s (< %ss)  load %s\n' \
		"$1" "$3" "$4" "$5" "$6" "$ok" "$2" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
T="python3 $TMP/timeit.py 5"
row "ktrace trace --iptables-save (one probe)" 1 "$($T - "$KTRACE" trace --iptables-save "$TMP/save.txt" --dst "$DST")"
row "ktrace trace --iptables-save --count 1000" 3 "$($T - "$KTRACE" trace --iptables-save "$TMP/save.txt" --dst "$DST" --count 1000)"
row "ktrace trace --iptables-save --full (every rule)" 99 "$($T - "$KTRACE" trace --iptables-save "$TMP/save.txt" --dst "$DST" --full)"
ip netns add ${NS}r
row "reference: iptables-nft-restore of the whole set" 99 "$($T "$TMP/save.txt" ip netns exec ${NS}r iptables-nft-restore)"
row "ktrace trace --nft-json (one probe)" 1 "$($T - "$KTRACE" trace --nft-json "$TMP/ruleset.json" --dst "$DST")"
row "ktrace trace --nft-json --count 1000" 3 "$($T - "$KTRACE" trace --nft-json "$TMP/ruleset.json" --dst "$DST" --count 1000)"
row "ktrace trace --nft-json --full (every rule, 1 run)" 999 "$(python3 $TMP/timeit.py 1 - "$KTRACE" trace --nft-json "$TMP/ruleset.json" --dst "$DST" --full)"
ip netns exec ${NS}r nft flush ruleset
row "reference: nft -f of the whole set" 99 "$($T - ip netns exec ${NS}r sh -c "nft flush ruleset; nft -f $TMP/rules.nft")"
"$KTRACE" trace --iptables-save "$TMP/save.txt" --dst "$DST" | sed -n 2p
"$KTRACE" trace --nft-json "$TMP/ruleset.json" --dst "$DST" | sed -n 2p
"$KTRACE" trace --iptables-save "$TMP/save.txt" --dst "$DST" -o json | python3 -c 'import json, sys; l = json.load(sys.stdin)["load"]; print("iptables phases: prepare (read is before) %.0f ms, namespaces %.0f ms, load %.0f ms, probe %.0f ms" % (l["prepareMs"], l["setupMs"], l["loadMs"], l["probeMs"]))'
"$KTRACE" trace --nft-json "$TMP/ruleset.json" --dst "$DST" -o json | python3 -c 'import json, sys; l = json.load(sys.stdin)["load"]; print("nftables phases: prepare %.0f ms, namespaces %.0f ms, load %.0f ms, probe %.0f ms" % (l["prepareMs"], l["setupMs"], l["loadMs"], l["probeMs"]))'
