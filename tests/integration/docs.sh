#!/bin/sh
# Docs and completions must not drift from the command table; every command
# has a man page; completion scripts parse; banned functions stay banned.
. "$(dirname "$0")/../lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for sh in bash zsh fish; do
	f=$TOP/completions/ktrace.$sh; [ $sh = zsh ] && f=$TOP/completions/_ktrace
	"$KTRACE" completion $sh > "$tmp/c"
	if cmp -s "$tmp/c" "$f"; then pass "completion $sh matches the command table"; else fail "completion $sh matches the command table" "run tools/gen-docs.sh"; fi
done
bash -n "$TOP/completions/ktrace.bash" && pass "bash completion parses" || fail "bash completion parses"
if command -v zsh >/dev/null; then zsh -n "$TOP/completions/_ktrace" && pass "zsh completion parses" || fail "zsh completion parses"; else skip "zsh completion parses" "zsh not installed"; fi
if command -v fish >/dev/null; then fish -n "$TOP/completions/ktrace.fish" && pass "fish completion parses" || fail "fish completion parses"; else skip "fish completion parses" "fish not installed"; fi
# bash completion really completes: commands, flags, services from a bundle
out=$(bash -c ". '$TOP/completions/ktrace.bash'; ktrace() { '$KTRACE' \"\$@\"; }; COMP_WORDS=(ktrace pa); COMP_CWORD=1; _ktrace; echo \"\${COMPREPLY[*]}\"")
[ "$out" = "path" ] && pass "bash completes commands" || fail "bash completes commands" "$out"
out=$(bash -c ". '$TOP/completions/ktrace.bash'; ktrace() { '$KTRACE' \"\$@\"; }; COMP_WORDS=(ktrace path --from demo -n shop or); COMP_CWORD=6; _ktrace; echo \"\${COMPREPLY[*]}\"")
[ "$out" = "orders" ] && pass "bash completes Service names through the binary" || fail "bash completes Service names through the binary" "$out"
out=$(bash -c ". '$TOP/completions/ktrace.bash'; COMP_WORDS=(ktrace dataplane --di); COMP_CWORD=2; _ktrace; echo \"\${COMPREPLY[*]}\"")
[ "$out" = "--diff" ] && pass "bash completes command flags" || fail "bash completes command flags" "$out"
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
