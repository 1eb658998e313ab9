#!/bin/sh
# API collection benchmark: `ktrace collect` vs `kubectl get svc,endpointslices,pods -A -o json`
# against the same generated cluster (tests/apiserver/kapi.py --generate:
# 10,000 Services, 10,000 EndpointSlices, 20,000 Pods of realistic size)
# in the same run, plus `ktrace path` on that cluster. Prints a markdown
# table (median wall time and peak RSS of BENCH_RUNS runs, default 3).
#   sh bench/collect.sh            (KTRACE=path/to/ktrace, KUBECTL=/usr/bin/kubectl, BENCH_SVC=10000)
# Targets: collect >= 10x faster than kubectl and <= 1/4 of its peak RSS; path < 200 ms.
cd "$(dirname "$0")/.." || exit 1
KTRACE=${KTRACE:-$(pwd)/ktrace}
KUBECTL=${KUBECTL:-/usr/bin/kubectl}
RUNS=${BENCH_RUNS:-3}
NSVC=${BENCH_SVC:-10000}
TIME=${TIME:-/usr/bin/time}
[ -x "$KTRACE" ] || { echo "bench: build ktrace first (make)" >&2; exit 1; }
W=$(mktemp -d /tmp/kt_bench.XXXXXX)
SRV=""
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT

t0=$(date +%s)
python3 tests/apiserver/kapi.py --generate "$NSVC" --cache-pages --port-file "$W/port" >/dev/null 2>"$W/kapi.err" &
SRV=$!
i=0
while [ ! -s "$W/port" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat "$W/port" 2>/dev/null)
[ -n "$PORT" ] || { echo "bench: kapi.py did not start: $(cat "$W/kapi.err")" >&2; exit 1; }
echo "bench: generated $NSVC services, $NSVC endpointslices, $((2 * NSVC)) pods in $(( $(date +%s) - t0 ))s (server port $PORT)" >&2
cat > "$W/kc.yaml" <<EOF
apiVersion: v1
kind: Config
current-context: bench
clusters:
- name: bench
  cluster: {server: "http://127.0.0.1:$PORT"}
contexts:
- name: bench
  context: {cluster: bench, namespace: ns-042}
EOF
export KUBECACHEDIR="$W/kcache"

# timed OUTFILE CMD...: writes "wall_s maxrss_kb" (GNU time, else a getrusage wrapper)
timed() {
	o=$1; shift
	if [ -x "$TIME" ]; then
		$TIME -f '%e %M' -o "$o" "$@"
	else
		python3 -c '
import resource, subprocess, sys, time
t = time.time()
rc = subprocess.call(sys.argv[2:])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.2f %d\n" % (time.time() - t, ru.ru_maxrss))
sys.exit(rc)' "$o" "$@"
	fi
}

# measure NAME CMD...: runs RUNS times; prints "median_s max_rss_kb" (median of each)
measure() {
	name=$1; shift
	: > "$W/$name.t"
	r=0
	while [ $r -lt "$RUNS" ]; do
		if ! timed "$W/$name.one" "$@" >"$W/$name.out" 2>"$W/$name.err"; then
			echo "bench: $name failed: $(tail -c 300 "$W/$name.err")" >&2
		fi
		tail -n 1 "$W/$name.one" >> "$W/$name.t"
		r=$((r + 1))
	done
	s=$(awk '{print $1}' "$W/$name.t" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	m=$(awk '{print $2}' "$W/$name.t" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	echo "$s $m"
}

# warm up kubectl's discovery cache and the server's page cache (--cache-pages
# keeps every list page, so the Python server's own cost stays out of the figures)
"$KUBECTL" --kubeconfig "$W/kc.yaml" get ns >/dev/null 2>&1
"$KTRACE" --kubeconfig "$W/kc.yaml" collect --no-node -f "$W/warm.json" >/dev/null 2>&1

have_kubectl=1
[ -x "$KUBECTL" ] || have_kubectl=0
if [ $have_kubectl = 1 ]; then
	set -- $(measure kubectl "$KUBECTL" --kubeconfig "$W/kc.yaml" get svc,endpointslices,pods -A -o json)
	k_s=$1; k_rss=$2
	k_items=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$W/kubectl.out" 2>/dev/null)
fi
set -- $(measure collect "$KTRACE" --kubeconfig "$W/kc.yaml" collect --no-node -f "$W/x.json")
c_s=$1; c_rss=$2
c_items=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["objects"]))' "$W/x.json" 2>/dev/null)
NNS=$((NSVC / 100)); [ $NNS -lt 1 ] && NNS=1
PNS=$(printf 'ns-%03d' $((42 % NNS)))
set -- $(measure path "$KTRACE" --kubeconfig "$W/kc.yaml" path svc/app-00042 -n "$PNS")
p_s=$1; p_rss=$2

echo "| command | objects | wall (median of $RUNS) | peak RSS |"
echo "| --- | --- | --- | --- |"
[ $have_kubectl = 1 ] && echo "| \`kubectl get svc,endpointslices,pods -A -o json\` | $k_items | ${k_s} s | $((k_rss / 1024)) MiB |"
echo "| \`ktrace collect --no-node -f x.json\` (all API kinds) | $c_items | ${c_s} s | $((c_rss / 1024)) MiB |"
echo "| \`ktrace path svc/app-00042 -n $PNS\` | 1 Service | ${p_s} s | $((p_rss / 1024)) MiB |"
if [ $have_kubectl = 1 ]; then
	awk -v k="$k_s" -v c="$c_s" -v kr="$k_rss" -v cr="$c_rss" -v p="$p_s" 'BEGIN {
		sp = (c > 0) ? k / c : 0; mr = (cr > 0) ? kr / cr : 0;
		printf "\ncollect: %.1fx faster than kubectl (target >= 10x), %.1fx less peak RSS (target >= 4x); path %.0f ms (target < 200 ms)\n", sp, mr, p * 1000 }'
fi
