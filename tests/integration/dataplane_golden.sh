#!/bin/sh
# `ktrace dataplane` and `ktrace path` on saved kube-proxy dumps (golden
# text and JSON): the fidelity lab's rules (rejected and dropped Services,
# nodePortAddresses, loadBalancerSourceRanges) in iptables and nftables
# mode, and the pre-1.24 iptables layouts (v1.20, v1.23: KUBE-XLB, old
# KUBE-FW and masquerade marks). The JSON keys are the stable contract
# (action, reason, sourceRanges, kindGuessed, shareBasis, masquerade, notes).
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
DP=tests/fixtures/dataplane   # relative: "source" names the file
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

for f in fidelity.save kube-proxy-v1.20.save kube-proxy-v1.23.save; do
	b=${f%.save}
	"$KTRACE" dataplane --iptables-save $DP/$f --node node-a -A -o json | golden "dataplane $f json" dataplane/$b.json
	"$KTRACE" dataplane --iptables-save $DP/$f --node node-a -A --color never | golden "dataplane $f text" dataplane/$b.txt
done
"$KTRACE" dataplane --nft-json $DP/fidelity-nft.json --node node-a -A -o json | golden "dataplane nftables json" dataplane/fidelity-nft.json
"$KTRACE" dataplane --nft-json $DP/fidelity-nft.json --node node-a -A --color never | golden "dataplane nftables text" dataplane/fidelity-nft.txt

# a plain ClusterIP Service: one backend set, no 'external backends' line
"$KTRACE" path shop/catalog --from demo --color never > "$tmp/catalog.txt"
if grep -q "backends (4):" "$tmp/catalog.txt" && ! grep -q "external backends" "$tmp/catalog.txt"; then
	pass "path shop/catalog (ClusterIP): one backend set, no external backends line"
else
	fail "path shop/catalog (ClusterIP): one backend set, no external backends line" "$(tr '\n' '|' < "$tmp/catalog.txt" | head -c 600)"
fi

# with the API objects: the node's state as `ktrace collect` stores it in a
# bundle, then path and check read that bundle
for m in ipt nft; do
	if [ $m = ipt ]; then src="--iptables-save $DP/fidelity.save"; else src="--nft-json $DP/fidelity-nft.json"; fi
	"$KTRACE" dataplane --from $DP/fidelity-bundle.json $src --node node-a -A -o json > "$tmp/$m.node.json" ||
		{ fail "dataplane $m with objects" "exit $?"; continue; }
	python3 - $DP/fidelity-bundle.json "$tmp/$m.node.json" "$tmp/$m.bundle.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["nodes"] = [json.load(open(sys.argv[2]))]
json.dump(b, open(sys.argv[3], "w"))
PY
	"$KTRACE" dataplane shop/etp --from "$tmp/$m.bundle.json" --node node-a -o json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([(f["kind"], f["ip"], f["action"]) for s in d["services"] for f in s["frontends"]]))' |
		golden "dataplane $m with objects: exact kinds" dataplane/fidelity-$m-etp-kinds.json
	for s in web named lbsrc etp; do
		"$KTRACE" path shop/$s --from "$tmp/$m.bundle.json" --color never | sed "s|$tmp/||" |
			golden "path shop/$s ($m) text" dataplane/path-$m-$s.txt
	done
	"$KTRACE" path shop/web --from "$tmp/$m.bundle.json" -o json | golden "path shop/web ($m) json" dataplane/path-$m-web.json
	"$KTRACE" path shop/named --from "$tmp/$m.bundle.json" -o json | golden "path shop/named ($m) json" dataplane/path-$m-named.json
	"$KTRACE" check --from "$tmp/$m.bundle.json" -o json > "$tmp/$m.check.json"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("\n".join(sorted("%s %s/%s" % (f["id"], f["object"].get("namespace"), f["object"]["name"]) for f in d["findings"] if f["id"][:4] in ("KT50", "KT10", "KT60"))))' "$tmp/$m.check.json" |
		golden "check ($m): rejecting/dropping Services and their causes" dataplane/check-$m.txt
done
exit 0
