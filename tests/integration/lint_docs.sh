#!/bin/sh
# `ktrace rules`: the catalog table and one-rule explanations (golden),
# JSON, unknown rules; man/ktrace-rules.7 is generated from the rule table
# (`ktrace rules --man`) and must not drift; the lint/check man pages render.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
W=$(mktemp -d /tmp/kt_rules.XXXXXX); trap 'rm -rf "$W"' EXIT

"$KTRACE" rules --man > "$W/rules.7"
cmp -s "$W/rules.7" man/ktrace-rules.7 && pass "man/ktrace-rules.7 matches the rule table" \
	|| fail "man/ktrace-rules.7 matches the rule table" "regenerate: ktrace rules --man > man/ktrace-rules.7"
if command -v man >/dev/null; then
	for m in man/ktrace-rules.7 man/ktrace-lint.1 man/ktrace-check.1; do
		MANWIDTH=80 man -l "$m" > "$W/r" 2>"$W/e" && [ -s "$W/r" ] && [ ! -s "$W/e" ] && pass "$m renders without warnings" || fail "$m renders" "$(head -3 "$W/e")"
	done
else
	skip "man pages render" "man not installed"
fi
"$KTRACE" rules | golden "rules table" lint/rules-table.text
"$KTRACE" rules KT201 | golden "rules KT201 explained" lint/rules-kt201.text
"$KTRACE" rules snat-source-ip-loss | grep -q "^KT101 snat-source-ip-loss" && pass "rules by name" || fail "rules by name" ""
n=$("$KTRACE" rules -o json | python3 -c 'import json,sys; r=json.load(sys.stdin)["rules"]; print(len(r), r[0]["id"], r[-1]["id"], all(x["mitigation"] and x["summary"] for x in r))')
[ "$n" = "25 KT101 KT603 True" ] && pass "rules -o json: 25 rules with summary and mitigation" || fail "rules json" "$n"
"$KTRACE" rules KT502 -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["id"]=="KT502" and "targetPort" in d["bad"] and d["mechanism"]' \
	&& pass "rules ID -o json explains" || fail "rules ID json" ""
out=$("$KTRACE" rules KT2O1 2>&1); rc=$?
[ $rc = 3 ] && case "$out" in *KT201*) true;; *) false;; esac && pass "unknown rule: exit 3, suggests KT201" || fail "unknown rule" "exit $rc: $out"
# every rule has an explanation with both snippets
"$KTRACE" rules -o json | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)["rules"]))' | tr ' ' '\n' | while read -r id; do
	"$KTRACE" rules "$id" -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["mechanism"] and d["bad"] and d["good"]' || echo "$id" >> "$W/missing"
done
[ ! -s "$W/missing" ] && pass "every rule has mechanism, bad and good snippets" || fail "explanations" "$(cat "$W/missing")"
exit 0
