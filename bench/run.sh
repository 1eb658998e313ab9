#!/bin/sh
# `make bench`: every comparison of BENCHMARKS.md, each against the tool a user
# would otherwise run, in the same run. Needs root for the lab benchmarks
# (network namespaces); those skip with a reason otherwise.
cd "$(dirname "$0")/.." || exit 1
: "${KTRACE:=$(pwd)/ktrace}"
export KTRACE
only=${1:-}
for b in collect path dataplane imbalance lint agent; do
	[ -n "$only" ] && [ "$only" != "$b" ] && continue
	[ -f "bench/$b.sh" ] || continue
	echo "== bench/$b.sh"
	sh "bench/$b.sh" || echo "bench/$b.sh failed (exit $?)"
	echo
done
