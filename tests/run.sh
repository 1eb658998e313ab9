#!/bin/sh
# Runs every test: unit binaries, integration and lab scripts, the fuzz
# regression corpus. Each prints PASS:/FAIL:/SKIP: lines; this counts them
# and ends with "N passed, N failed, N skipped". Exit 1 when anything failed.
# Env: KTRACE (binary), BUILD (build dir), T_ONLY (substring filter).
cd "$(dirname "$0")/.." || exit 1
: "${BUILD:=build}"
: "${KTRACE:=$(pwd)/ktrace}"
export KTRACE BUILD
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_one() {
	name=$1; shift
	case "$name" in *"${T_ONLY:-}"*) ;; *) return ;; esac
	start=$(date +%s)
	out=$("$@" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -E '^(PASS|FAIL|SKIP): ' >> "$log"
	printf '%s\n' "$out" | grep -E '^(FAIL|SKIP): '
	if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL: '; then
		echo "FAIL: $name: exited $rc without a FAIL line: $(printf '%s' "$out" | tail -n 5 | tr '\n' '|')" | tee -a "$log"
	fi
	if ! printf '%s\n' "$out" | grep -qE '^(PASS|FAIL|SKIP): '; then
		echo "FAIL: $name: printed no result" | tee -a "$log"
	fi
	echo "  ran $name ($(( $(date +%s) - start ))s)"
}
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d) continue ;; esac
	run_one "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh tests/lab/*.sh; do
	[ -f "$t" ] || continue
	case "$t" in tests/lab/lablib.sh) continue ;; esac
	run_one "$t" sh "$t"
done
p=$(grep -c '^PASS: ' "$log"); f=$(grep -c '^FAIL: ' "$log"); s=$(grep -c '^SKIP: ' "$log")
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
