#!/bin/sh
# Imbalance benchmark (root). Fills a lab network namespace's conntrack table
# with N TCP connections (default 100,000) over 100 Services x 10 endpoints
# with bench/ctinject.py, in two shapes:
#   node:  20% of the entries are Service flows (DNAT'ed by the kernel, as
#          kube-proxy's rules do), 80% direct connections (pod to pod, node
#          traffic) -- a node's table;
#   worst: every entry is a Service flow (nothing can be skipped);
#   mixed: 120,000 entries (N_MIXED), 80,000 of them Service flows, a
#          quarter of those UDP (port 53) and a quarter of the TCP ones in
#          TIME_WAIT -- the table of the --once target.
# (BENCH_SHAPES="node worst mixed" picks which) and times, in the same run,
# on the same table:
#   1. `conntrack -L -o extended > /dev/null`   vs   one ktrace refresh:
#      the dashboard's steady state (conntrack events + join + aggregate:
#      samples 2-5 of `ktrace imbalance -o json --count 5 -i 0.2`), and a
#      full-dump refresh (dump + join + aggregate: the first printed sample
#      of `ktrace imbalance --count 2 -o json`, its timing.collectMs +
#      timing.analyzeMs), which the dashboard does on its first two samples
#      and every --resync seconds (default 10), and the average of the two
#      over a resync period at -i 1.
#      Target: ktrace < 0.5x. Median of 5 runs each, interleaved; also
#      with the parse forced onto the receiving thread (KTRACE_CT_THREADS=0)
#      and onto a second thread (=1): the A/B of the receive/parse pipeline
#      (by default used only when a CPU is idle).
#   1b. one `ktrace imbalance --once -o json` (a full dump, then the
#      conntrack events until the second sample): timing.collectTotalMs
#      (both samples' collection) + analyzeMs, and with KTRACE_CT_EVENTS=0
#      (two full dumps: where events cannot be joined, and the behaviour
#      before). Target: <= 0.6x `conntrack -L -o extended` on the mixed
#      table. Worst and best of the runs too.
#   2. the parse/aggregate cost alone (a recorded dump replayed through
#      KTRACE_NL_REPLAY) and the whole `--once` process (two samples 0.1 s
#      apart, objects load, JSON) with its peak RSS.
#   3. the dashboard at -i 1 on 10,000 Service flows in tmux: CPU time from
#      /proc/PID/stat over 10 s. Target: < 5% of one core.
# With KTRACE_BASE=path to an earlier build, every figure is also taken for
# it, in the same run on the same table, alternating (before/after tables).
# Usage: sh bench/imbalance.sh [ENTRIES]     (KTRACE=path to the binary)
cd "$(dirname "$0")/.." || exit 1
: "${KTRACE:=$(pwd)/ktrace}"
N=${1:-100000}
if [ "$(id -u)" != 0 ]; then echo "bench/imbalance.sh: SKIP: needs root (network namespaces, conntrack)"; exit 0; fi
for t in conntrack python3 tmux; do
	command -v $t >/dev/null 2>&1 || { echo "bench/imbalance.sh: SKIP: $t not installed"; exit 0; }
done
NS=ktib$$
NS2=ktic$$
SESS=ktib$$
TMP=$(mktemp -d)
cleanup() {
	tmux kill-session -t "$SESS" 2>/dev/null
	ip netns del $NS 2>/dev/null
	ip netns del $NS2 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cat > "$TMP/bench.py" <<'PY'
import json, os, subprocess, sys, time
ns, objs, tmp = sys.argv[1:4]
# builds: "after" = $KTRACE; with $KTRACE_BASE also "before", timed in the
# same run on the same table, alternating which goes first
builds = [("after", sys.argv[4])] + ([("before", sys.argv[5])] if len(sys.argv) > 5 and sys.argv[5] else [])
runs = 5
load = lambda: open("/proc/loadavg").read().split()[0]
F = {b: {k: [] for k in ("kt", "ktc", "kta", "once", "rss", "kt1", "kt2", "ke", "rp", "load", "o1", "o2")}
     for b, _ in builds}
ct = []
def refresh(ktrace, env=None):
    # a full-dump refresh: the first printed sample of --count 2 (the
    # second collection: the dashboard's first two are full dumps)
    p = subprocess.run(["ip", "netns", "exec", ns] + (["env"] + env if env else []) + [ktrace, "imbalance", "--count", "2",
                        "-o", "json", "-i", "0.1", "--objects", objs], capture_output=True, text=True, check=True)
    j = json.loads(p.stdout.strip().splitlines()[0])
    if j["timing"].get("refresh") != "dump":
        print("note: the full-dump refresh was a %s refresh" % j["timing"].get("refresh"))
    return j["timing"]["collectMs"] / 1000.0, j["timing"]["analyzeMs"] / 1000.0
def once(ktrace, env=None):
    # one --once: collection of both samples + the analysis of the printed one
    p = subprocess.run(["ip", "netns", "exec", ns] + (["env"] + env if env else []) + [ktrace, "imbalance", "--once",
                        "-o", "json", "-i", "0.1", "--objects", objs], capture_output=True, text=True, check=True)
    j = json.loads(p.stdout)
    t = j["timing"]
    return (t.get("collectTotalMs", t["collectMs"]) + t["analyzeMs"]) / 1000.0, t.get("refresh")
def conntrack_l():
    t = time.monotonic()
    subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-L", "-o", "extended"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    ct.append(time.monotonic() - t)
seen = 0
for i in range(runs):
    order = builds if i % 2 == 0 else builds[::-1]
    for b, ktrace in order:
        f = F[b]
        f["load"].append(float(load()))
        v, kind = once(ktrace)
        f["o1"].append(v)
        if kind != "events" and b == "after":
            print("note: --once's second sample was a %s refresh (events could not be joined?)" % kind)
        f["o2"].append(once(ktrace, ["KTRACE_CT_EVENTS=0"])[0])      # two full dumps
        c, a = refresh(ktrace)
        f["ktc"].append(c); f["kta"].append(a); f["kt"].append(c + a)
        f["kt1"].append(sum(refresh(ktrace, ["KTRACE_CT_THREADS=0"])))   # A/B: parse on the receiving thread
        f["kt2"].append(sum(refresh(ktrace, ["KTRACE_CT_THREADS=1"])))   # parse thread forced on
        t = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "ip", "netns", "exec", ns, ktrace, "imbalance", "--once",
                            "-o", "json", "-i", "0.1", "--objects", objs], capture_output=True, text=True, check=True)
        f["once"].append(time.monotonic() - t)
        f["rss"].append(int(p.stderr.strip().splitlines()[-1]) / 1024.0)
        seen = json.loads(p.stdout)["entriesSeen"]
    conntrack_l()
med = lambda v: sorted(v)[len(v) // 2] if v else float("nan")
# the dashboard's steady state: after two full dumps, refreshes follow the
# kernel's conntrack events (--count 5 -i 0.2: the last four are event refreshes)
for i in range(runs):
    order = builds if i % 2 == 0 else builds[::-1]
    for b, ktrace in order:
        p = subprocess.run(["ip", "netns", "exec", ns, ktrace, "imbalance", "-o", "json", "--count", "5", "-i", "0.2",
                            "--objects", objs], capture_output=True, text=True, check=True)
        ls = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        F[b]["ke"] += [l["timing"]["collectMs"] / 1000.0 + l["timing"]["analyzeMs"] / 1000.0
                       for l in ls if l["timing"].get("refresh") == "events"]
    conntrack_l()
# the parse alone: a recorded dump replayed (before: KTRACE_CT_RECORD/FILE,
# one file; after: KTRACE_NL_RECORD/REPLAY, a directory)
recsize = {}
for b, ktrace in builds:
    rec = os.path.join(tmp, "ct-" + b + ".rec")
    renv = ["KTRACE_CT_RECORD=" + rec] if b == "before" else ["KTRACE_NL_RECORD=" + rec]
    subprocess.run(["ip", "netns", "exec", ns, "env"] + renv + [ktrace, "imbalance", "--once", "-o", "json",
                    "-i", "0.1", "--objects", objs], stdout=subprocess.DEVNULL, check=True)
    penv = ["KTRACE_CT_FILE=" + rec] if b == "before" else ["KTRACE_NL_REPLAY=" + rec]
    recsize[b] = os.path.getsize(rec) if os.path.isfile(rec) else sum(
        os.path.getsize(os.path.join(rec, x)) for x in os.listdir(rec) if x.startswith("nl-12-"))
    for _ in range(runs):
        p = subprocess.run(["env"] + penv + [ktrace, "imbalance", "--once", "-o", "json", "-i", "0.1",
                            "--objects", objs], capture_output=True, text=True, check=True)
        F[b]["rp"].append(json.loads(p.stdout)["timing"]["collectMs"] / 1000.0)
c = med(ct)
print("conntrack -L -o extended > /dev/null      %7.3f s  (median of %d; load %s)" % (c, len(ct), load()))
for b, _ in builds:
    f = F[b]
    tag = "" if len(builds) == 1 else "[%s] " % b
    ev = med(f["ke"])
    amort = (med(f["kt"]) + 9 * ev) / 10
    print("%sktrace refresh, conntrack events          %7.3f s  (dashboard steady state; median of %d)  -> %.3fx  %s (target < 0.5x); load %.1f-%.1f"
          % (tag, ev, len(f["ke"]), ev / c, "PASS" if ev / c < 0.5 else "FAIL", min(f["load"]), max(f["load"])))
    print("%sktrace refresh, full dump                 %7.3f s  = collect %.3f + analyze %.3f; %d Service entries  -> %.2fx  (worst %.3f, best %.3f)"
          % (tag, med(f["kt"]), med(f["ktc"]), med(f["kta"]), seen, med(f["kt"]) / c, max(f["kt"]), min(f["kt"])))
    print("%s  dashboard at -i 1, per refresh averaged over a resync period (1 dump + 9 event refreshes) %7.3f s  -> %.2fx  %s (target < 0.5x)"
          % (tag, amort, amort / c, "PASS" if amort / c < 0.5 else "FAIL"))
    print("%s  same, parse on the receiving thread     %7.3f s  (KTRACE_CT_THREADS=0)  -> %.2fx" % (tag, med(f["kt1"]), med(f["kt1"]) / c))
    print("%s  same, parse thread forced on            %7.3f s  (KTRACE_CT_THREADS=1)  -> %.2fx" % (tag, med(f["kt2"]), med(f["kt2"]) / c))
    o1, o2 = med(f["o1"]), med(f["o2"])
    print("%sktrace imbalance --once (dump + events)   %7.3f s  = both samples' collection + analysis  -> %.2fx  %s (target <= 0.6x); worst %.3f (%.2fx), best %.3f (%.2fx); load %.1f-%.1f"
          % (tag, o1, o1 / c, "PASS" if o1 / c <= 0.6 else "FAIL", max(f["o1"]), max(f["o1"]) / c,
             min(f["o1"]), min(f["o1"]) / c, min(f["load"]), max(f["load"])))
    print("%s  same with two full dumps (KTRACE_CT_EVENTS=0: the fallback, and --once before) %7.3f s  -> %.2fx; worst %.3f, best %.3f"
          % (tag, o2, o2 / c, max(f["o2"]), min(f["o2"])))
    print("%s  conntrack -L -o extended: worst %.3f s, best %.3f s" % (tag, max(ct), min(ct)))
    print("%s  of which parse+aggregate in user space  %7.3f s  (replay of the recorded %.1f MB dump)"
          % (tag, med(f["rp"]), recsize[b] / 1e6))
    print("%sktrace imbalance --once (whole process)   %7.3f s  (dump, 0.1 s of events, objects + JSON), peak RSS %.1f MB"
          % (tag, med(f["once"]), max(f["rss"])))
PY
# ---- dashboard CPU ----------------------------------------------------
# dash_cpu NS OBJECTS LABEL BINARY: the dashboard at -i 1 in tmux, CPU time
# from /proc/PID/stat over 10 s after a 2 s warm-up.
dash_cpu() {
	bin=${4:-$KTRACE}
	rm -f "$TMP/pid"
	tmux new-session -d -s "$SESS" -x 200 -y 50 \
		"ip netns exec $1 sh -c 'echo \$\$ > $TMP/pid; exec $bin imbalance -i 1 --objects $2'" || return 1
	for _ in $(seq 1 50); do [ -s "$TMP/pid" ] && break; sleep 0.1; done
	pid=$(cat "$TMP/pid" 2>/dev/null)
	sleep 2   # warm-up: objects load, first samples
	ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
	if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
		a=$(ticks "$pid"); ta=$(date +%s.%N)
		sleep 10
		b=$(ticks "$pid"); tb=$(date +%s.%N)
		hz=$(getconf CLK_TCK)
		tmux capture-pane -p -t "$SESS" > "$TMP/screen"
		python3 - "$a" "$b" "$ta" "$tb" "$hz" "$TMP/screen" "$3" <<'PY'
import sys
a, b, ta, tb, hz = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
pct = (b - a) / hz / (tb - ta) * 100
rows = sum(1 for l in open(sys.argv[6]) if "bench/svc-" in l)
print("dashboard -i 1, %s  %5.2f%% of one core over %.1f s (%d ticks)  %s (target < 5%%); %d rows on screen; load %s"
      % (sys.argv[7], pct, tb - ta, b - a, "PASS" if pct < 5 else "FAIL", rows, open("/proc/loadavg").read().split()[0]))
PY
		tmux send-keys -t "$SESS" q
		sleep 0.5
	else
		echo "dashboard: could not start (see tmux)"
	fi
	tmux kill-session -t "$SESS" 2>/dev/null
}

for shape in ${BENCH_SHAPES:-node worst mixed}; do
	n=$N; tw=0; udp=0
	case $shape in
	node) share=0.2 ;;
	worst) share=1 ;;
	mixed) n=${N_MIXED:-120000}; share=2/3; tw=0.25; udp=0.25 ;;
	*) echo "unknown shape $shape"; continue ;;
	esac
	ip netns add $NS || exit 1
	t0=$(date +%s.%N)
	ip netns exec $NS python3 bench/ctinject.py "$n" 100 10 $share $tw $udp > "$TMP/objects.json" || exit 1
	t1=$(date +%s.%N)
	have=$(ip netns exec $NS conntrack -C)
	nsvc=$(ip netns exec $NS conntrack -L --dst-nat 2>/dev/null | wc -l)
	nudp=$(ip netns exec $NS conntrack -L --dst-nat -p udp 2>/dev/null | wc -l)
	ntw=$(ip netns exec $NS conntrack -L --dst-nat -p tcp --state TIME_WAIT 2>/dev/null | wc -l)
	echo "-- $shape table: $have entries, $nsvc Service flows ($nudp UDP, $ntw TCP in TIME_WAIT; injected in $(python3 -c "print('%.1f' % ($t1 - $t0))") s); $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	python3 "$TMP/bench.py" $NS "$TMP/objects.json" "$TMP" "$KTRACE" "$KTRACE_BASE" || echo "bench: refresh comparison failed"
	if [ $shape = worst ]; then
		dash_cpu $NS "$TMP/objects.json" "$have flows (every one a Service flow), 100 Services, --resync 10 (not a target; for scale)" "$KTRACE"
		[ -n "$KTRACE_BASE" ] && dash_cpu $NS "$TMP/objects.json" "[before] same" "$KTRACE_BASE"
	fi
	ip netns del $NS
	sleep 1   # the shared conntrack table drops the namespace's entries
done

echo "-- dashboard"
ip netns add $NS2 || exit 1
ip netns exec $NS2 python3 bench/ctinject.py 10000 20 5 > "$TMP/objects2.json" || exit 1
dash_cpu $NS2 "$TMP/objects2.json" "10000 flows, 20 Services" "$KTRACE"
[ -n "$KTRACE_BASE" ] && dash_cpu $NS2 "$TMP/objects2.json" "[before] 10000 flows, 20 Services" "$KTRACE_BASE"
