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
# BENCH_RUNS runs each (default 5); the best and the worst wall time are
# printed with the load average before and after. Prints a Markdown
# section (the one in BENCHMARKS.md); BENCH_OUT=FILE also writes it there.
# Targets: >= 50 MiB/s, <= 1.0x the libyaml floor, linear in objects.
# Usage: sh bench/lint.sh   (from the repository root; `make` first)
set -u
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
KTRACE=${KTRACE:-$TOP/ktrace}
RUNS=${BENCH_RUNS:-5}
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

# runs RUNS "$@": sets BEST/WORST (wall s) and CPU (best user+sys s)
runs() {
	n=$1; shift
	set -- $(python3 - "$n" "$@" <<'PY'
import resource, subprocess, sys, time
n, cmd = int(sys.argv[1]), sys.argv[2:]
walls, cpus = [], []
for _ in range(n):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN); t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = time.perf_counter(); r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    walls.append(t1 - t0); cpus.append((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
print("%.4f %.4f %.4f" % (min(walls), max(walls), min(cpus)))
PY
)
	BEST=$1; WORST=$2; CPU=$3
}
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

# the fixed cost of each process (start-up: ktrace maps 40-odd shared
# libraries through libcurl; the floor maps two): empty input
mkdir -p "$W/none"; : > "$W/none/empty.yaml"
runs "$RUNS" env KTRACE_LINT_THREADS=1 "$KTRACE" lint --fail-on never -o json "$W/none"; KE_C=$CPU; KE_B=$BEST
runs "$RUNS" "$W/yamlparse" "$W/none/empty.yaml"; YE_C=$CPU; YE_B=$BEST

# one corpus: a table of rows
corpus() { # name layout
	name=$1; dir="$W/$1"
	set -- $(python3 bench/lintgen.py "$2" "$dir" "$OBJECTS")
	FILES=$1; OBJS=$2; BYTES=$(find "$dir" -name '*.yaml' -exec cat {} + | wc -c)
	find "$dir" -name '*.yaml' | sort > "$W/$name.list"
	cat $(cat "$W/$name.list") > /dev/null     # warm the page cache
	"$KTRACE" lint --fail-on never -o json "$dir" > "$W/$name.json"   # warm-up
	SUMMARY=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print("%d objects, %d warnings, %d info" % (s["objects"], s["warning"], s["info"]))' "$W/$name.json")
	runs "$RUNS" "$W/yamlparse" $(cat "$W/$name.list"); Y_B=$BEST; Y_W=$WORST; Y_C=$CPU
	runs "$RUNS" "$KTRACE" lint --fail-on never -o json "$dir"; K_B=$BEST; K_W=$WORST; K_C=$CPU
	runs "$RUNS" env KTRACE_LINT_THREADS=1 "$KTRACE" lint --fail-on never -o json "$dir"; K1_B=$BEST; K1_W=$WORST; K1_C=$CPU
	runs "$RUNS" env KTRACE_LINT_THREADS=2 "$KTRACE" lint --fail-on never -o json "$dir"; K2_B=$BEST; K2_W=$WORST; K2_C=$CPU
	KC="| \`kubectl create --dry-run=client\` | - | - | - | - | not run: $KC_VERSION |"
	if [ -n "$KAPI_PID" ] && ! kubectl --kubeconfig "$W/kc.yaml" create --dry-run=client --validate=false -o json -R -f "$dir" >/dev/null 2>"$W/kc.err"; then
		KC="| \`kubectl create --dry-run=client\` | - | - | - | - | failed: $(head -1 "$W/kc.err" | cut -c1-160 | tr '|' '/') |"
	elif [ -n "$KAPI_PID" ]; then
		runs 2 kubectl --kubeconfig "$W/kc.yaml" create --dry-run=client --validate=false -o json -R -f "$dir"
		KC="| \`kubectl create --dry-run=client --validate=false -o json -R -f DIR\` ($KC_VERSION) | $BEST | $WORST | $CPU | $(mbs "$BYTES" "$BEST") | $(ratio "$BEST" "$K_B")x ktrace's best wall time |"
	fi
	MB=$(printf '%.1f' "$(echo "$BYTES / 1048576" | bc -l)")
	cat >> "$W/report.corpora" <<EOF

**$name**: $OBJS objects in $FILES files, $MB MiB ($SUMMARY).

| command | best wall s | worst wall s | CPU s | MiB/s (best wall) | vs the libyaml floor (wall, CPU) |
| --- | ---: | ---: | ---: | ---: | --- |
| \`ktrace lint -o json DIR\` (threads chosen at run time) | $K_B | $K_W | $K_C | $(mbs "$BYTES" "$K_B") | $(ratio "$K_B" "$Y_B")x, $(ratio "$K_C" "$Y_C")x |
| the same, \`KTRACE_LINT_THREADS=1\` | $K1_B | $K1_W | $K1_C | $(mbs "$BYTES" "$K1_B") | $(ratio "$K1_B" "$Y_B")x, $(ratio "$K1_C" "$Y_C")x |
| the same, \`KTRACE_LINT_THREADS=2\` | $K2_B | $K2_W | $K2_C | $(mbs "$BYTES" "$K2_B") | $(ratio "$K2_B" "$Y_B")x, $(ratio "$K2_C" "$Y_C")x |
| bare libyaml event parse of the same files (bench/yamlparse.c) | $Y_B | $Y_W | $Y_C | $(mbs "$BYTES" "$Y_B") | the floor |
$KC

Without the fixed start-up cost (each command on an empty file: ktrace $KE_C s CPU, the floor $YE_C s),
one thread costs $(ratio "$(echo "$K1_C - $KE_C" | bc -l)" "$(echo "$Y_C - $YE_C" | bc -l)")x the floor's CPU for the same bytes.
EOF
	echo "$name $(mbs "$BYTES" "$K_B") $(ratio "$K_B" "$Y_B") $(ratio "$K1_C" "$Y_C")" >> "$W/targets"
}
: > "$W/report.corpora"; : > "$W/targets"
corpus few-big-files big
corpus many-small-files small

# scaling: ktrace one thread on the small-files layout
printf '| objects | files | MiB | best wall s | CPU s | us per object (CPU) | MiB/s (CPU) |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n' > "$W/report.scale"
for n in $SCALE; do
	d="$W/scale-$n"
	set -- $(python3 bench/lintgen.py small "$d" "$n")
	f=$1; o=$2; b=$(find "$d" -name '*.yaml' -exec cat {} + | wc -c)
	find "$d" -name '*.yaml' -exec cat {} + > /dev/null
	runs 3 env KTRACE_LINT_THREADS=1 "$KTRACE" lint --fail-on never -o json "$d"
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
runs 3 "$KTRACE" lint --fail-on never -o json "$W/stream.yaml"; S_K=$BEST; S_KC=$CPU
runs 3 "$W/yamlparse" "$W/stream.yaml"; S_Y=$BEST; S_YC=$CPU

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
per file, 2-3 KB, in 40 directories). Warm page cache; $RUNS runs of each
command on $(nproc) CPU(s) ($CPU_MODEL), best and worst wall time; load
average $LOAD0 before and $LOAD1 after the run (other work on the machine).
CPU = user + sys of the best run, the fairer figure on a shared machine.
$(cat "$W/report.corpora")

Scaling, \`KTRACE_LINT_THREADS=1\`, many-small-files layout (3 runs each):

$(cat "$W/report.scale")

$SCALE_NOTE.

One $(printf '%.1f' "$(echo "$STREAM / 1048576" | bc -l)") MiB stream (one file, the few-big-files objects repeated):
ktrace $S_K s wall / $S_KC s CPU ($(mbs "$STREAM" "$S_K") MiB/s), libyaml $S_Y s / $S_YC s
($(mbs "$STREAM" "$S_Y") MiB/s): $(ratio "$S_K" "$S_Y")x wall.
EOF
}
report
[ -n "${BENCH_OUT:-}" ] && report > "$BENCH_OUT"
exit 0
