#!/bin/sh
# `ktrace dataplane` on saved dumps (no root needed): every reader against
# the fixture cluster (tests/fixtures/dataplane, written by bench/kpgen.py
# and captured from the lab), text output, --diff from a bundle, exit codes
# and error messages for bad input, and the not-root refusal.
. "$(dirname "$0")/../lib.sh"
SUITE=dataplane-files
F=$TOP/tests/fixtures/dataplane
CMP="python3 $F/compare.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for m in iptables-nft:iptables-save:iptables iptables-legacy:iptables-save:iptables; do
	name=${m%%:*}; rest=${m#*:}; opt=${rest%%:*}; mode=${rest#*:}
	if "$KTRACE" dataplane -A -o json --$opt "$F/$name.save" > "$tmp/$name.json" 2> "$tmp/err" &&
		$CMP "$F/expect.json" "$tmp/$name.json" $mode > "$tmp/cmp" 2>&1; then
		pass "$name dump: every service reconstructed"
	else
		fail "$name dump: every service reconstructed" "$(head -c 400 "$tmp/cmp" "$tmp/err" | tr '\n' '|')"
	fi
	grep -q "\"$name\"" "$tmp/$name.json" && pass "$name dump: mode from the header" || fail "$name dump: mode from the header" "modes wrong"
done
"$KTRACE" dataplane -A -o json --nft-json "$F/nft-ruleset.json" > "$tmp/nft.json" 2> "$tmp/err" &&
	$CMP "$F/expect.json" "$tmp/nft.json" nftables > "$tmp/cmp" 2>&1 &&
	pass "nft -j ruleset: every service reconstructed" ||
	fail "nft -j ruleset: every service reconstructed" "$(head -c 400 "$tmp/cmp" "$tmp/err" | tr '\n' '|')"
# kube-proxy's own restore input parses too (same grammar)
"$KTRACE" dataplane -A -o json --iptables-save "$F/kube-proxy-restore.txt" > "$tmp/kp.json" 2>&1 &&
	$CMP "$F/expect.json" "$tmp/kp.json" iptables > "$tmp/cmp" 2>&1 &&
	pass "iptables-restore input parses" || fail "iptables-restore input parses" "$(head -c 300 "$tmp/cmp" | tr '\n' '|')"

out=$("$KTRACE" dataplane --iptables-save "$F/iptables-nft.save" --from "$F/bundle.json" --node node-a shop/front 2>&1)
case "$out" in
*"loadBalancer  203.0.113.10:443"*"externalBackends (node-local endpoints only"*"10.244.1.21:8443             100.00%  local"*"masquerade   no"*)
	pass "text: Local-policy service tree" ;;
*) fail "text: Local-policy service tree" "$(printf '%s' "$out" | head -c 400 | tr '\n' '|')" ;;
esac
out=$("$KTRACE" dataplane --ipvsadm "$F/ipvsadm.save" --from "$F/bundle.json" shop/api 2>&1)
case "$out" in *"[ipvs]  scheduler rr"*"affinity     clientIP, 10800s"*) pass "text: IPVS names resolved through the bundle" ;;
*) fail "text: IPVS names resolved through the bundle" "$(printf '%s' "$out" | head -c 300 | tr '\n' '|')" ;; esac

python3 "$TOP/bench/kpgen.py" bundle --drop-endpoint 10.244.2.12 > "$tmp/drop.json"
"$KTRACE" dataplane --iptables-save "$F/iptables-nft.save" --from "$tmp/drop.json" --node node-a --diff -A -o json > "$tmp/d.json" 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); ids=[(x["id"],x["ip"]) for x in d["diff"]]; sys.exit(0 if ids==[("KT602","10.244.2.12")] else 1)' "$tmp/d.json" 2>/dev/null &&
	pass "--diff on a dump + bundle: KT602" || fail "--diff on a dump + bundle: KT602" "$(head -c 300 "$tmp/d.json" | tr '\n' '|')"

printf '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m comment --comment "unterminated\nCOMMIT\n' > "$tmp/bad.save"
expect_rc "malformed dump exits 5" 5 "$KTRACE" dataplane --iptables-save "$tmp/bad.save"
err=$("$KTRACE" dataplane --iptables-save "$tmp/bad.save" 2>&1)
case "$err" in *"bad.save:3"*) pass "error names file:line" ;; *) fail "error names file:line" "$err" ;; esac
expect_rc "missing dump exits 5 (invalid input: missing file)" 5 "$KTRACE" dataplane --iptables-save "$tmp/none.save"
expect_rc "unknown service exits 3" 3 "$KTRACE" dataplane --iptables-save "$F/iptables-nft.save" shop/nope
expect_rc "--diff on dumps without a bundle is a usage error" 2 "$KTRACE" dataplane --iptables-save "$F/iptables-nft.save" --diff
out=$("$KTRACE" dataplane --iptables-save "$tmp/bad.save" -o json 2>/dev/null)
python3 -c 'import json,sys; json.loads(sys.argv[1])' "$out" 2>/dev/null && pass "-o json errors are one JSON document" ||
	fail "-o json errors are one JSON document" "$out"
if need_root && command -v setpriv >/dev/null 2>&1; then
	err=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$KTRACE" dataplane 2>&1); rc=$?
	[ $rc = 4 ] && case "$err" in *"root"*) true ;; *) false ;; esac && pass "not root: exit 4 with a hint" ||
		fail "not root: exit 4 with a hint" "rc=$rc $err"
else
	skip "not root: exit 4 with a hint" "needs root and setpriv to drop privileges"
fi
exit 0
