#!/bin/sh
# `ktrace lint` on the rule fixtures: golden text/json/sarif/junit, every
# rule fires on its *-bad.yaml and stays quiet on its *-good.yaml,
# realistic chart-style manifests give no findings, --fail-on, Helm
# stdin with # Source: names, suppression via .ktrace.yaml, and structural
# validation of SARIF (python) and JUnit (python's xml parser).
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
F=tests/fixtures/manifests
W=$(mktemp -d /tmp/kt_lint.XXXXXX); trap 'rm -rf "$W"' EXIT

for fmt in text json sarif junit; do
	"$KTRACE" lint -o $fmt $F/rules > "$W/out.$fmt" 2>"$W/err"; rc=$?
	[ "$rc" = 1 ] && pass "rules $fmt exits 1 (errors present)" || fail "rules $fmt exits 1" "exit $rc: $(cat "$W/err")"
	golden "rules $fmt golden" lint/rules.$fmt < "$W/out.$fmt"
done

for f in $F/rules/*-good.yaml; do
	out=$("$KTRACE" lint "$f" 2>&1); rc=$?
	case "$out" in *"no findings"*) [ $rc = 0 ] && pass "true negative $(basename "$f")" || fail "true negative $(basename "$f")" "exit $rc";;
	*) fail "true negative $(basename "$f")" "$(printf '%s' "$out" | head -3 | tr '\n' '|')";; esac
done
for f in $F/rules/*-bad.yaml; do
	id=$(basename "$f" | cut -c1-5 | tr a-z A-Z)
	ids=$("$KTRACE" lint --fail-on never -o json "$f" | python3 -c 'import json,sys; print(" ".join(sorted({x["id"] for x in json.load(sys.stdin)["findings"]})))')
	case " $ids " in *" $id "*) pass "$id fires on $(basename "$f")";; *) fail "$id fires on $(basename "$f")" "got: $ids";; esac
done

out=$("$KTRACE" lint --fail-on info $F/realistic 2>&1); rc=$?
[ $rc = 0 ] && pass "realistic manifests: no findings at all (exit 0 with --fail-on info)" || fail "realistic manifests clean" "$(printf '%s' "$out" | head -8 | tr '\n' '|')"
"$KTRACE" lint $F/realistic | golden "realistic text" lint/realistic.text
n=$("$KTRACE" lint -o json $F/realistic | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["summary"]["objects"], d["summary"]["files"], len(d["findings"]))')
[ "$n" = "22 5 0" ] && pass "realistic: 22 objects from 5 files (List expanded, non-objects skipped)" || fail "realistic counts" "$n"

# --fail-on
expect_rc "warnings only: exit 0 at default --fail-on error" 0 "$KTRACE" lint $F/rules/kt201-bad.yaml
expect_rc "warnings only: exit 1 with --fail-on warning" 1 "$KTRACE" lint --fail-on warning $F/rules/kt201-bad.yaml
expect_rc "info only: exit 0 with --fail-on warning" 0 "$KTRACE" lint --fail-on warning $F/rules/kt404-bad.yaml
expect_rc "info only: exit 1 with --fail-on info" 1 "$KTRACE" lint --fail-on info $F/rules/kt404-bad.yaml
expect_rc "errors: exit 0 with --fail-on never" 0 "$KTRACE" lint --fail-on never $F/rules
expect_rc "bad --fail-on is a usage error" 2 "$KTRACE" lint --fail-on fatal $F/rules
expect_rc "no PATH is a usage error" 2 "$KTRACE" lint
expect_rc "-o xml is a usage error" 2 "$KTRACE" lint -o xml $F/rules

# Helm output on stdin: documents named after "# Source:"
"$KTRACE" lint - < $F/helm/rendered.yaml | golden "helm stdin text" lint/helm-stdin.text
"$KTRACE" lint -o json - < $F/helm/rendered.yaml | golden "helm stdin json" lint/helm-stdin.json
cat $F/rules/kt404-bad.yaml | "$KTRACE" lint --fail-on info -o json - > "$W/stdin.json"
python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["findings"]; assert f and f[0]["file"]=="-" and f[0]["line"]==35, f' "$W/stdin.json" \
	&& pass "plain stdin reports file - and the real line" || fail "plain stdin position" "$(head -c 300 "$W/stdin.json")"

# suppression: .ktrace.yaml picked up from the current directory, annotations
mkdir -p "$W/cfg" && cp $F/rules/kt201-bad.yaml $F/rules/kt404-bad.yaml $F/rules/kt101-bad.yaml "$W/cfg/"
cat > "$W/cfg/.ktrace.yaml" <<'Y'
# ktrace rule configuration
disable: [KT404]
severity: {KT201: error}
exclude:
  - {kind: Service, name: kt101, rules: [KT102]}
Y
(cd "$W/cfg" && "$KTRACE" lint -o json . > "$W/cfg.json"); rc=$?
[ $rc = 1 ] && pass ".ktrace.yaml severity override makes KT201 an error (exit 1)" || fail ".ktrace.yaml severity" "exit $rc"
python3 - "$W/cfg.json" <<'PY' && pass ".ktrace.yaml disable/exclude suppress and are counted" || fail ".ktrace.yaml suppression" "$(head -c 400 "$W/cfg.json")"
import json, sys
d = json.load(open(sys.argv[1]))
ids = sorted(f["id"] for f in d["findings"])
assert ids == ["KT101", "KT201"], ids
assert d["summary"]["suppressed"] == 2, d["summary"]
assert [f["severity"] for f in d["findings"] if f["id"] == "KT201"] == ["error"]
PY
(cd "$W/cfg" && "$KTRACE" lint . 2>&1 | tail -1) | golden "suppressed count in the summary line" lint/suppressed-summary.text
printf 'disable: [KT999]\n' > "$W/bad.yaml"
out=$("$KTRACE" lint --config "$W/bad.yaml" $F/rules 2>&1); rc=$?
[ $rc = 5 ] && case "$out" in *"bad.yaml:1:"*"unknown rule: KT999"*) true;; *) false;; esac \
	&& pass "--config with an unknown rule: exit 5 with file:line:col" || fail "--config unknown rule" "exit $rc: $out"
# KT102-bad carries ktrace/ignore: "KT101: ..." -> suppressed, counted
n=$("$KTRACE" lint -o json $F/rules/kt102-bad.yaml | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["summary"]["suppressed"], ",".join(f["id"] for f in d["findings"]))')
[ "$n" = "1 KT102" ] && pass "ktrace/ignore annotation with a reason" || fail "ktrace/ignore annotation" "$n"

# SARIF: structure GitHub code scanning requires, regions pointing at the field
python3 - "$W/out.sarif" <<'PY' && pass "SARIF 2.1.0 structure, ruleIndex and regions" || fail "SARIF validation" "see above"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == "2.1.0" and d["$schema"].endswith("sarif-2.1.0.json")
run = d["runs"][0]
drv = run["tool"]["driver"]
assert drv["name"] == "ktrace" and drv["version"]
rules = drv["rules"]
ids = [r["id"] for r in rules]
assert len(ids) == len(set(ids)) == 25, ids
for r in rules:
    for k in ("id", "name"):
        assert r[k], r
    assert r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"] and r["help"]["markdown"]
    assert r["defaultConfiguration"]["level"] in ("note", "warning", "error")
want = {"KT101": ("type:", "externalTrafficPolicy:"), "KT102": ("type:", "externalTrafficPolicy:"),
        "KT103": ("externalTrafficPolicy:",), "KT201": ("- name:",), "KT203": ("- name:",),
        "KT202": ("terminationGracePeriodSeconds:",), "KT303": ("replicas:",), "KT301": ("topologySpreadConstraints:", "affinity:", "template:"),
        "KT302": ("apiVersion:",), "KT401": ("appProtocol:", "name:"), "KT404": ("sessionAffinity:",),
        "KT501": ("selector:",), "KT502": ("targetPort:",), "KT305": ("backend:",), "KT306": ("port:",),
        "KT307": ("annotations:",), "KT308": ("name:", "{name:", "ingressClassName:"), "KT309": ("backend:",)}
res = run["results"]
assert len(res) >= 14, len(res)
for r in res:
    assert rules[r["ruleIndex"]]["id"] == r["ruleId"], r
    assert r["level"] in ("note", "warning", "error") and r["message"]["text"]
    loc = r["locations"][0]["physicalLocation"]
    uri = loc["artifactLocation"]["uri"]
    reg = loc["region"]
    assert uri and not uri.startswith("/") and reg["startLine"] >= 1 and reg["startColumn"] >= 1, r
    line = open(uri).read().split("\n")[reg["startLine"] - 1]
    assert line[reg["startColumn"] - 1:].lstrip("- ").startswith(tuple(w.lstrip("- ") for w in want[r["ruleId"]])) or \
        line.strip().startswith(want[r["ruleId"]]), (r["ruleId"], uri, reg, line)
    assert r["partialFingerprints"]
    assert r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
PY

# JUnit: parses, counts match the findings
python3 - "$W/out.junit" "$W/out.json" <<'PY' && pass "JUnit XML parses and counts failures" || fail "JUnit validation" "see above"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
j = json.load(open(sys.argv[2]))
assert root.tag == "testsuites"
fails = root.findall(".//failure")
assert int(root.get("failures")) == len(fails) == j["summary"]["error"], (root.get("failures"), len(fails))
assert int(root.get("tests")) == len(root.findall(".//testcase"))
for ts in root.findall("testsuite"):
    assert int(ts.get("tests")) == len(ts.findall("testcase")), ts.get("name")
    assert int(ts.get("failures")) == len(ts.findall("testcase/failure"))
PY
exit 0
