#!/bin/sh
# Docs must not drift from the command table; every command has a man
# page; banned functions stay banned.
. "$(dirname "$0")/../lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# completions: tests/integration/completion.sh (real shells, exact candidates)
for cmd in $("$KTRACE" __complete commands); do
	case $cmd in help|version|completion|rules) continue ;; esac
	m=$TOP/man/ktrace-$cmd.1
	if [ ! -f "$m" ]; then fail "man page for $cmd" "missing $m"; continue; fi
	"$KTRACE" __complete man-options "$cmd" > "$tmp/island"
	awk '/BEGIN GENERATED OPTIONS/{on=1;next}/END GENERATED OPTIONS/{on=0}on' "$m" > "$tmp/have"
	if cmp -s "$tmp/island" "$tmp/have"; then pass "man ktrace-$cmd.1 options match the table"; else fail "man ktrace-$cmd.1 options match the table" "run tools/gen-docs.sh"; fi
	if command -v man >/dev/null; then
		MANWIDTH=80 man -l "$m" > "$tmp/render" 2>"$tmp/manerr" && [ -s "$tmp/render" ] && pass "man ktrace-$cmd.1 renders" || fail "man ktrace-$cmd.1 renders" "$(head -3 "$tmp/manerr")"
	fi
done
"$KTRACE" __complete man-options global > "$tmp/island"
awk '/BEGIN GENERATED OPTIONS/{on=1;next}/END GENERATED OPTIONS/{on=0}on' "$TOP/man/ktrace.1" > "$tmp/have"
cmp -s "$tmp/island" "$tmp/have" && pass "man ktrace.1 global options match the table" || fail "man ktrace.1 global options match the table" "run tools/gen-docs.sh"
bad=$(grep -nE '(^|[^_a-z])(strcpy|strcat|sprintf|vsprintf|strtok|gets)[[:space:]]*\(' "$TOP"/lib/*.c "$TOP"/collectors/*.c "$TOP"/collectors/*/*.c "$TOP"/analyzers/*.c "$TOP"/cli/*.c "$TOP"/cli/tui/*.c 2>/dev/null | grep -v '^\s*/\*' | head -5)
[ -z "$bad" ] && pass "no banned functions (strcpy, strcat, sprintf, strtok, gets)" || fail "no banned functions" "$bad"
