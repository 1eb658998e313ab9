#!/bin/sh
# Lint throughput on two layouts of the same kind of manifests
# (bench/lintgen.py): a few big multi-document files, and many small files
# (one component per file, 2-3 KB each: BENCH_OBJECTS objects, default
# 14,000, in ~3,200 files in 40 directories). On each, on the same warm
# files, in the same run:
#   ktrace lint -o json DIR     (threads chosen at run time, forced 1, forced 2)
#   bench/yamlparse FILES...    (bare libyaml event parse of the same files: the floor)
#   kubectl create --dry-run=client -o json -R -f DIR   (against tests/apiserver/kapi.py)
# then the scaling curve of ktrace (one thread) on the many-small-files
# layout from 1,000 to 50,000 objects, and one ~100 MiB single stream.
# BENCH_RUNS rounds (default 7), each running every command in turn
# (bench/interleave.py); best, worst and median times and the median of the
# per-round ratios are printed with the load average before and after. Prints a Markdown
# section (the one in BENCHMARKS.md); BENCH_OUT=FILE also writes it there.
# Targets: >= 50 MiB/s, <= 1.0x the libyaml floor, linear in objects.
# Usage: sh bench/lint.sh   (from the repository root; `make` first)
set -u
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
KTRACE=${KTRACE:-$TOP/ktrace}
RUNS=${BENCH_RUNS:-7}
OBJECTS=${BENCH_OBJECTS:-14000}
SCALE=${BENCH_SCALE:-1000 2000 5000 10000 20000 50000}
W=$(mktemp -d /tmp/kt_bench_lint.XXXXXX)
KAPI_PID=""
cleanup() { [ -n "$KAPI_PID" ] && kill "$KAPI_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
[ -x "$KTRACE" ] || { echo "bench/lint: build ktrace first ($KTRACE)" >&2; exit 1; }
command -v bc >/dev/null || { echo "bench/lint: needs bc (apt-get install bc)" >&2; exit 1; }
cc -O2 -o "$W/yamlparse" bench/yamlparse.c $(pkg-config --cflags --libs yaml-0.1) || exit 1
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

mbs() { printf '%.1f' "$(echo "$1 / 1048576 / $2" | bc -l)"; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

start_kapi() {
	command -v kubectl >/dev/null 2>&1 || return 1
	mkdir -p "$W/empty"
	python3 tests/apiserver/kapi.py --dir "$W/empty" --port-file "$W/port" >/dev/null 2>&1 &
	KAPI_PID=$!
	i=0; while [ ! -s "$W/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	cat > "$W/kc.yaml" <<Y
apiVersion: v1
kind: Config
current-context: b
clusters: [{name: b, cluster: {server: "http://127.0.0.1:$(cat "$W/port")"}}]
contexts: [{name: b, context: {cluster: b}}]
Y
	export KUBECACHEDIR="$W/kcache"
	KC_VERSION=$(kubectl version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' 2>/dev/null)
}
KC_VERSION="not installed"
start_kapi

# the fixed cost of each process (start-up), measured in the same rounds
mkdir -p "$W/none"; : > "$W/none/empty.yaml"

# field N (1-based) of the line of NAME in $W/r
f() { awk -v n="$1" -v k="$2" '$1 == n { print $k }' "$W/r"; }

# one corpus: every command round-robin, RUNS rounds (bench/interleave.py)
corpus() { # name layout
	name=$1; dir="$W/$1"
	set -- $(python3 bench/lintgen.py "$2" "$dir" "$OBJECTS")
	FILES=$1; OBJS=$2; BYTES=$(find "$dir" -name '*.yaml' -exec cat {} + | wc -c)
	find "$dir" -name '*.yaml' | sort > "$W/$name.list"
	cat $(cat "$W/$name.list") > /dev/null     # warm the page cache
	"$KTRACE" lint --fail-on never -o json "$dir" > "$W/$name.json"   # warm-up
	SUMMARY=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print("%d objects, %d warnings, %d info" % (s["objects"], s["warning"], s["info"]))' "$W/$name.json")
	python3 bench/interleave.py "$RUNS" \
		floor "$W/yamlparse" $(cat "$W/$name.list") -- \
		kt "$KTRACE" lint --fail-on never -o json "$dir" -- \
		kt1 KTRACE_LINT_THREADS=1 "$KTRACE" lint --fail-on never -o json "$dir" -- \
		kt2 KTRACE_LINT_THREADS=2 "$KTRACE" lint --fail-on never -o json "$dir" -- \
		floor0 "$W/yamlparse" "$W/none/empty.yaml" -- \
		kt0 KTRACE_LINT_THREADS=1 "$KTRACE" lint --fail-on never -o json "$W/none" > "$W/r"
	row() { # label name
		echo "| $1 | $(f "$2" 2) | $(f "$2" 3) | $(f "$2" 5) | $(mbs "$BYTES" "$(f "$2" 4)") | $(f "$2" 6)x, $(f "$2" 7)x |"
	}
	KC="| \`kubectl create --dry-run=client\` | - | - | - | - | not run: $KC_VERSION |"
	if [ -n "$KAPI_PID" ] && ! kubectl --kubeconfig "$W/kc.yaml" create --dry-run=client --validate=false -o json -R -f "$dir" >/dev/null 2>"$W/kc.err"; then
		KC="| \`kubectl create --dry-run=client\` | - | - | - | - | failed: $(head -1 "$W/kc.err" | cut -c1-160 | tr '|' '/') |"
	elif [ -n "$KAPI_PID" ]; then
		python3 bench/interleave.py 2 kt1 KTRACE_LINT_THREADS=1 "$KTRACE" lint --fail-on never -o json "$dir" -- \
			kubectl kubectl --kubeconfig "$W/kc.yaml" create --dry-run=client --validate=false -o json -R -f "$dir" > "$W/rk"
		KC="| \`kubectl create --dry-run=client --validate=false -o json -R -f DIR\` ($KC_VERSION) | $(awk '$1=="kubectl"{print $2}' "$W/rk") | $(awk '$1=="kubectl"{print $3}' "$W/rk") | $(awk '$1=="kubectl"{print $5}' "$W/rk") | $(mbs "$BYTES" "$(awk '$1=="kubectl"{print $4}' "$W/rk")") | $(awk '$1=="kubectl"{print $6}' "$W/rk")x ktrace's (one thread) wall time |"
	fi
	MB=$(printf '%.1f' "$(echo "$BYTES / 1048576" | bc -l)")
	EX=$(ratio "$(echo "$(f kt1 5) - $(f kt0 5)" | bc -l)" "$(echo "$(f floor 5) - $(f floor0 5)" | bc -l)")
	cat >> "$W/report.corpora" <<EOF

**$name**: $OBJS objects in $FILES files, $MB MiB ($SUMMARY).

| command | best wall s | worst wall s | median CPU s | MiB/s (median wall) | vs the libyaml floor: median of per-round ratios (wall, CPU) |
| --- | ---: | ---: | ---: | ---: | --- |
$(row "\`ktrace lint -o json DIR\` (threads chosen at run time)" kt)
$(row "the same, \`KTRACE_LINT_THREADS=1\`" kt1)
$(row "the same, \`KTRACE_LINT_THREADS=2\`" kt2)
$(row "bare libyaml event parse of the same files (bench/yamlparse.c)" floor)
$KC

Fixed cost of a process (one empty file, same rounds): ktrace $(f kt0 5) s CPU, the floor $(f floor0 5) s.
Without it, one ktrace thread costs ${EX}x the floor's CPU for the same bytes.
EOF
	echo "$name $(mbs "$BYTES" "$(f kt 4)") $(f kt 6) $(f kt1 7) $EX" >> "$W/targets"
}
: > "$W/report.corpora"; : > "$W/targets"
corpus few-big-files big
corpus many-small-files small

# scaling: ktrace one thread on the small-files layout
printf '| objects | files | MiB | best wall s | median CPU s | us per object (CPU) | MiB/s (CPU) |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n' > "$W/report.scale"
for n in $SCALE; do
	d="$W/scale-$n"
	set -- $(python3 bench/lintgen.py small "$d" "$n")
	f=$1; o=$2; b=$(find "$d" -name '*.yaml' -exec cat {} + | wc -c)
	find "$d" -name '*.yaml' -exec cat {} + > /dev/null
	python3 bench/interleave.py 5 kt1 KTRACE_LINT_THREADS=1 "$KTRACE" lint --fail-on never -o json "$d" > "$W/rs"
	BEST=$(awk '{print $2}' "$W/rs"); CPU=$(awk '{print $5}' "$W/rs")
	printf '| %d | %d | %.1f | %s | %s | %.1f | %s |\n' "$o" "$f" "$(echo "$b / 1048576" | bc -l)" "$BEST" "$CPU" \
		"$(echo "$CPU * 1000000 / $o" | bc -l)" "$(mbs "$b" "$CPU")" >> "$W/report.scale"
	echo "$o $CPU" >> "$W/scale.pts"
	rm -rf "$d"
done
SCALE_NOTE=$(python3 - "$W/scale.pts" <<'PY'
import sys
pts = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
(n0, t0), (n1, t1) = pts[0], pts[-1]
# least-squares fit t = a + b*n: the fixed cost (start-up) and the cost per object
n = len(pts); sx = sum(p[0] for p in pts); sy = sum(p[1] for p in pts)
sxx = sum(p[0] ** 2 for p in pts); sxy = sum(p[0] * p[1] for p in pts)
b = (n * sxy - sx * sy) / (n * sxx - sx * sx); a = (sy - b * sx) / n
worst = max(abs(t - (a + b * x)) / t for x, t in pts)
print("a straight line fits the CPU time: %.1f ms fixed (start-up) + %.2f us per object; the largest deviation "
      "from the line is %.0f%%; %dx the objects cost %.1fx the time" % (a * 1000, b * 1e6, worst * 100, n1 / n0, t1 / t0))
PY
)

# one ~100 MiB stream (helm template of a big chart)
python3 - "$W/few-big-files" "$W/stream.yaml" <<'PY'
import glob, sys
docs = "".join(open(f).read() for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")))
out = open(sys.argv[2], "w"); size = 0; i = 0
while size < 100 * 1024 * 1024:
    d = docs.replace("name: app-", "name: r%d-app-" % i); out.write(d); size += len(d); i += 1
PY
STREAM=$(wc -c < "$W/stream.yaml")
python3 bench/interleave.py 3 floor "$W/yamlparse" "$W/stream.yaml" -- kt "$KTRACE" lint --fail-on never -o json "$W/stream.yaml" > "$W/r"
S_K=$(f kt 4); S_KC=$(f kt 5); S_Y=$(f floor 4); S_YC=$(f floor 5); S_R="$(f kt 6)x wall, $(f kt 7)x CPU"

LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
CPU_MODEL=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
report() {
	cat <<EOF
## ktrace lint throughput

Reproduce: \`make && sh bench/lint.sh\` (prints this section; \`BENCH_OUT=FILE\`
writes it; \`BENCH_RUNS\`, \`BENCH_OBJECTS\`, \`BENCH_SCALE\` change the run).
Corpora from \`bench/lintgen.py\` (Deployments with probes, preStop and
spread, Services, PDBs, HPAs, Ingresses, ConfigMaps, ServiceAccounts in 20
namespaces, as kubectl/Helm/Kustomize write them): the same $OBJECTS objects
as a few big multi-document files and as many small files (one component
per file, 2-3 KB, in 40 directories). Warm page cache; $RUNS rounds, each
running every command of a table once in turn (bench/interleave.py), so
ktrace and the floor see the same load; on $(nproc) CPU(s) ($CPU_MODEL); load
average $LOAD0 before and $LOAD1 after the run (other work on the machine).
CPU = user + sys of the process; the ratios are the median over the rounds
of ktrace's time divided by the floor's in the same round.
$(cat "$W/report.corpora")

Scaling, \`KTRACE_LINT_THREADS=1\`, many-small-files layout (5 runs each, median CPU):

$(cat "$W/report.scale")

$SCALE_NOTE.

One $(printf '%.1f' "$(echo "$STREAM / 1048576" | bc -l)") MiB stream (one file, the few-big-files objects repeated):
ktrace $S_K s wall / $S_KC s CPU ($(mbs "$STREAM" "$S_K") MiB/s), libyaml $S_Y s / $S_YC s
($(mbs "$STREAM" "$S_Y") MiB/s) (medians of 3 rounds): $S_R.

Targets (>= 50 MiB/s; <= 1.0x the floor): $(awk '{printf "%s%s %s MiB/s (median wall, threads chosen at run time), %sx the floor'"'"'s wall, one thread %sx its CPU (%sx without start-up)", (NR > 1 ? "; " : ""), $1, $2, $3, $4, $5}' "$W/targets").
EOF
}
report
[ -n "${BENCH_OUT:-}" ] && report > "$BENCH_OUT"
exit 0
