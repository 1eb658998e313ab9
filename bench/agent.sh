#!/bin/sh
# Agent benchmark (root): loads the 5,000-Service / 25,000-endpoint
# kube-proxy rule set of bench/dataplane.sh (iptables-nft) into a lab
# network namespace, starts `ktrace agent` there, and times in the same run
#   `ktrace dataplane -A -o json`            (process start, read, JSON)
#   GET /v1/node (plain and gzip) with curl  (a fresh read per request:
#                                             --max-age 0.05 and a pause)
#   GET /v1/digests                          (fresh read + digests)
#   GET /v1/node again within max-age        (the cached body)
# Median of 5 runs each, and the agent's RSS idle before any request, at its
# peak, and idle again once the cached state expired. Targets (issue 11):
# a node-state request within 1.2x of `dataplane -o json`, idle RSS < 20 MB.
# Usage: sh bench/agent.sh [SERVICES] [ENDPOINTS]   (KTRACE=path to the binary)
cd "$(dirname "$0")/.." || exit 1
: "${KTRACE:=$(pwd)/ktrace}"
SVCS=${1:-5000}
EPS=${2:-25000}
if [ "$(id -u)" != 0 ]; then echo "bench/agent.sh: SKIP: needs root (network namespaces)"; exit 0; fi
NS=ktagb$$
TMP=$(mktemp -d)
PY=$(python3 -c 'import sys; print(sys.executable)')
APID=""
trap '[ -n "$APID" ] && kill $APID 2>/dev/null; ip netns del $NS 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM
ip netns add $NS || exit 1
ip netns exec $NS ip link set lo up
$PY bench/kpgen.py iptables --services "$SVCS" --endpoints "$EPS" > "$TMP/rules.ipt"
ip netns exec $NS iptables-restore "$TMP/rules.ipt" || exit 1
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$TMP/token"
TOK=$(cat "$TMP/token")
PORT=10265
ip netns exec $NS "$KTRACE" agent --listen 127.0.0.1:$PORT --token-file "$TMP/token" --node node-a --no-flows \
	--no-metrics --max-age 0.05 2> "$TMP/agent.err" &
APID=$!
for _ in $(seq 1 100); do
	[ "$(ip netns exec $NS curl -s -m 2 http://127.0.0.1:$PORT/healthz)" = ok ] && break
	sleep 0.1
done
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' /proc/$APID/status; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' /proc/$APID/status; }
sleep 1
rss_idle0=$(rss)
cat > "$TMP/timeit.py" <<'PY'
import subprocess, sys, time
runs, pause = int(sys.argv[1]), float(sys.argv[2])
cmd = sys.argv[3:]
ts = []
for _ in range(runs):
    time.sleep(pause)
    t = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    ts.append(time.monotonic() - t)
ts.sort()
print("%.3f %.3f %.3f" % (ts[len(ts) // 2], ts[0], ts[-1]))
PY
T="$PY $TMP/timeit.py 5"
X="ip netns exec $NS"
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "host: $(nproc) CPUs, load average $load; median (best, worst) of 5 runs"
echo "rule set: $SVCS services, $EPS endpoints, $(ip netns exec $NS iptables-save -t nat | grep -c '^-A') nat rules (iptables-nft)"
dp=$($T 0.2 $X "$KTRACE" dataplane -A -o json --no-metrics)
node=$($T 0.2 $X curl -sf -o /dev/null -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/node)
nodegz=$($T 0.2 $X curl -sf -o /dev/null -H "X-Ktrace-Token: $TOK" -H 'Accept-Encoding: gzip' http://127.0.0.1:$PORT/v1/node)
dig=$($T 0.2 $X curl -sf -o /dev/null -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/digests)
ip netns exec $NS "$KTRACE" agent --help > /dev/null
peak=$(hwm)
size=$(ip netns exec $NS curl -sf -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/node | wc -c)
gzsize=$(ip netns exec $NS curl -sf -H "X-Ktrace-Token: $TOK" -H 'Accept-Encoding: gzip' http://127.0.0.1:$PORT/v1/node | wc -c)
digsize=$(ip netns exec $NS curl -sf -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/digests | wc -c)
sleep 5
rss_idle1=$(rss)
kill $APID
wait $APID 2>/dev/null
APID=""
# the same agent with a long max-age: repeated requests hit the cached body
ip netns exec $NS "$KTRACE" agent --listen 127.0.0.1:$PORT --token-file "$TMP/token" --node node-a --no-flows \
	--no-metrics --max-age 600 2>> "$TMP/agent.err" &
APID=$!
for _ in $(seq 1 100); do
	[ "$(ip netns exec $NS curl -s -m 2 http://127.0.0.1:$PORT/healthz)" = ok ] && break
	sleep 0.1
done
ip netns exec $NS curl -sf -o /dev/null -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/node
cached=$($T 0 $X curl -sf -o /dev/null -H "X-Ktrace-Token: $TOK" http://127.0.0.1:$PORT/v1/node)
ratio=$($PY -c "print('%.2f' % (${node%% *} / ${dp%% *}))")
ratiogz=$($PY -c "print('%.2f' % (${nodegz%% *} / ${dp%% *}))")
ok=$($PY -c "print('PASS' if ${node%% *} <= 1.2 * ${dp%% *} and $rss_idle0 < 20 and $rss_idle1 < 20 else 'FAIL')")
printf 'ktrace dataplane -A -o json           %s s   (median best worst)\n' "$dp"
printf 'GET /v1/node (fresh read, %s bytes)   %s s   = %sx  %s\n' "$size" "$node" "$ratio" "$ok"
printf 'GET /v1/node gzip (%s bytes)          %s s   = %sx\n' "$gzsize" "$nodegz" "$ratiogz"
printf 'GET /v1/digests (fresh read, %s bytes) %s s\n' "$digsize" "$dig"
printf 'GET /v1/node within max-age (cached)   %s s\n' "$cached"
printf 'agent RSS: idle at start %s MB, peak %s MB, idle after the cached state expired %s MB (target < 20)\n' \
	"$rss_idle0" "$peak" "$rss_idle1"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
