# Shared helpers for shell tests (sourced). Each check prints one line:
#   PASS: <suite>: <name>   FAIL: <suite>: <name>: <why>   SKIP: <suite>: <name>: <why>
# tests/run.sh counts them. $KTRACE is the binary under test.
: "${KTRACE:=$(pwd)/ktrace}"
: "${SUITE:=$(basename "$0" .sh)}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
export KTRACE TOP
export NO_COLOR=1
pass() { echo "PASS: $SUITE: $1"; }
fail() { echo "FAIL: $SUITE: $1: ${2:-}"; }
skip() { echo "SKIP: $SUITE: $1: $2"; }
# check NAME CMD... : pass when the command succeeds
check() { n=$1; shift; if "$@" >/dev/null 2>&1; then pass "$n"; else fail "$n" "command failed: $*"; fi; }
# expect_rc NAME WANT CMD... : the command exits with WANT
expect_rc() { n=$1; want=$2; shift 2; "$@" >/dev/null 2>&1; rc=$?; if [ "$rc" = "$want" ]; then pass "$n"; else fail "$n" "exit $rc, want $want: $*"; fi; }
# golden NAME FILE : compare stdin with tests/golden/FILE (KT_UPDATE_GOLDEN=1 rewrites)
golden() {
	n=$1; f="$TOP/tests/golden/$2"; tmp=$(mktemp)
	cat > "$tmp"
	if [ -n "$KT_UPDATE_GOLDEN" ]; then mkdir -p "$(dirname "$f")"; cp "$tmp" "$f"; pass "$n (updated)"; rm -f "$tmp"; return; fi
	if [ ! -f "$f" ]; then fail "$n" "missing golden $f (run with KT_UPDATE_GOLDEN=1)"; rm -f "$tmp"; return; fi
	if diff -u "$f" "$tmp" > "$tmp.diff"; then pass "$n"; else fail "$n" "differs from $2: $(head -c 600 "$tmp.diff" | tr '\n' '|')"; fi
	rm -f "$tmp" "$tmp.diff"
}
need_root() { [ "$(id -u)" = 0 ]; }
