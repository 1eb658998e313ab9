#!/bin/sh
# Regenerates what is generated from the command/option tables:
# completions/ktrace.bash, completions/_ktrace, completions/ktrace.fish,
# completions/kubectl_complete-ktrace and
# the OPTIONS islands of man/ktrace*.1 (between the GENERATED markers).
# tests/integration/docs.sh fails when the committed files drift.
set -e
cd "$(dirname "$0")/.."
K=${KTRACE:-./ktrace}
$K completion bash > completions/ktrace.bash
$K completion zsh > completions/_ktrace
$K completion fish > completions/ktrace.fish
$K completion kubectl > completions/kubectl_complete-ktrace
chmod 755 completions/kubectl_complete-ktrace
for m in man/ktrace*.1; do
	cmd=$(basename "$m" .1 | sed 's/^ktrace-\{0,1\}//')
	[ -z "$cmd" ] && cmd=global
	grep -q 'BEGIN GENERATED OPTIONS' "$m" || continue
	$K __complete man-options "$cmd" > /tmp/kt-island.$$
	awk -v island=/tmp/kt-island.$$ '
		/BEGIN GENERATED OPTIONS/ { print; while ((getline l < island) > 0) print l; skip = 1; next }
		/END GENERATED OPTIONS/ { skip = 0 }
		!skip { print }' "$m" > "$m.new" && mv "$m.new" "$m"
	rm -f /tmp/kt-island.$$
done
