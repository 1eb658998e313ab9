#!/bin/sh
# Replays every fuzz target's corpus (regression) and fuzzes each briefly,
# under ASan/UBSan. Skips when clang's libFuzzer is not available.
. "$(dirname "$0")/../lib.sh"
out=$(sh "$TOP/tests/fuzz/build.sh" 2>&1); rc=$?
if [ $rc = 77 ]; then skip "fuzz targets" "clang not installed"; exit 0; fi
if [ $rc != 0 ]; then fail "fuzz targets build" "$(printf '%s' "$out" | tail -5 | tr '\n' '|')"; exit 0; fi
pass "fuzz targets build"
secs=${KT_FUZZ_SECONDS:-4}
for f in "$TOP"/tests/fuzz/fuzz_*.c; do
	n=$(basename "$f" .c); t=${n#fuzz_}
	corpus="$TOP/tests/fuzz/corpus/$t"
	[ -d "$corpus" ] || { fail "fuzz $t" "no seed corpus at tests/fuzz/corpus/$t"; continue; }
	work=$(mktemp -d)
	cp -r "$corpus"/. "$work"/ 2>/dev/null
	if (cd "$work" && "$TOP/build-fuzz/$n" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 "$work" > "$work.log" 2>&1); then
		pass "fuzz $t (corpus + ${secs}s)"
	else
		fail "fuzz $t" "$(grep -E 'ERROR|SUMMARY|crash-' "$work.log" | head -3 | tr '\n' '|')"
		cp "$work.log" "/tmp/kt-fuzz-$t.log" 2>/dev/null
	fi
	rm -rf "$work" "$work.log"
done
