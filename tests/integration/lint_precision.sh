#!/bin/sh
# Precision of `ktrace lint` / `ktrace check` on what stock manifests of
# popular projects look like: a fire/quiet pair for each of
#  1. Pods operators create from custom resources (Prometheus Operator's
#     podMetadata, custom resources carrying Pod labels)
#  2. mesh proxies already in the rendered manifest (native sidecars too)
#  3. ingress controllers recognised from images/labels (Kong) and from
#     .ktrace.yaml ingressControllers
#  4. YAML as kubectl reads it: duplicate keys (last wins, warning), invalid
#     bytes at their line with earlier and later documents kept, a syntax
#     error ending only its document, dangling *.yaml symlinks
#  5. absence is not evidence: missing kinds are gaps (exit 6), typed empty
#     Lists are evidence
#  6. .ktrace.yaml exclude globs, unknown and never-matching patterns
#  7. the same object in several files: the last wins, with a warning
# Fixtures: tests/fixtures/manifests/precision; the rest is generated here.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
P=tests/fixtures/manifests/precision
W=$(mktemp -d /tmp/kt_prec.XXXXXX); trap 'rm -rf "$W"' EXIT

# findings as "ID name line" lines, sorted
ids() { "$KTRACE" lint --fail-on never -o json "$@" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted("%s:%s:%s" % (f["id"], f["object"]["name"], f["line"]) for f in d["findings"])))'; }

# 1. operator Pods
[ -z "$(ids $P/cr-pods-quiet.yaml)" ] && pass "1 quiet: Prometheus/Alertmanager/ThanosRuler and a podTemplate CR satisfy their Services" \
	|| fail "1 quiet: operator Pods" "$(ids $P/cr-pods-quiet.yaml)"
out=$("$KTRACE" lint --fail-on never $P/cr-pods-fire.yaml)
case "$out" in *"KT501"*"prometheus=k8ss"*"Prometheus k8s has prometheus=k8s"*) pass "1 fire: a selector no Prometheus gives its Pods still fires KT501, naming the near miss";;
*) fail "1 fire: operator Pods" "$out";; esac

# 2. mesh proxies in the manifest
[ -z "$(ids $P/mesh-quiet.yaml)" ] && pass "2 quiet: linkerd-proxy container and istio-proxy native sidecar: no KT401" \
	|| fail "2 quiet: mesh" "$(ids $P/mesh-quiet.yaml)"
[ "$(ids $P/mesh-fire.yaml)" = "KT401:no-mesh:10" ] && pass "2 fire: the same gRPC Service without a proxy: KT401" \
	|| fail "2 fire: mesh" "$(ids $P/mesh-fire.yaml)"

# 3. ingress controllers
[ "$(ids $P/kong-fire.yaml)" = "KT103:proxy-kong-proxy:10 KT301:proxy-kong:23 KT301:proxy-kong:23 KT302:proxy-kong:15" ] \
	&& pass "3 fire: Kong's proxy (image kong) gets KT301 (hostname, zone) and KT302" || fail "3 fire: Kong" "$(ids $P/kong-fire.yaml)"
"$KTRACE" lint --fail-on never $P/kong-fire.yaml | grep -q "ingress controller (Kong, image kong:3.8)" \
	&& pass "3 fire: the finding says what recognised it" || fail "3 recognised by" "$("$KTRACE" lint $P/kong-fire.yaml | head -5)"
[ -z "$(ids $P/kong-quiet.yaml)" ] && pass "3 quiet: Kong spread and with a PDB" || fail "3 quiet: Kong" "$(ids $P/kong-quiet.yaml)"
[ -z "$(ids $P/custom-ctrl/edge.yaml)" ] && pass "3 quiet: an in-house proxy is no controller without configuration" \
	|| fail "3 quiet: custom" "$(ids $P/custom-ctrl/edge.yaml)"
cp $P/custom-ctrl/ktrace.yaml.in "$W/kt.yaml"
n=$("$KTRACE" lint --fail-on never --config "$W/kt.yaml" -o json $P/custom-ctrl/edge.yaml | python3 -c '
import json, sys; d = json.load(sys.stdin); print(sorted({(f["id"], f["message"].split(")")[0]) for f in d["findings"]}))')
case "$n" in *"('KT302', 'no PodDisruptionBudget selects ingress controller (in-house edge proxy, image registry.example.com/platform/edge-proxy:4.2.0')"*"KT303"*) pass "3 fire: .ktrace.yaml ingressControllers makes it one (KT302, KT303)";;
*) fail "3 fire: ingressControllers" "$n";; esac
printf 'ingressControllers:\n  - {name: x}\n' > "$W/bad.yaml"
"$KTRACE" lint --config "$W/bad.yaml" $P/custom-ctrl/edge.yaml >/dev/null 2>"$W/err"; rc=$?
[ $rc = 5 ] && grep -q "bad.yaml:2:5: an ingress controller needs a controller, an image or labels" "$W/err" \
	&& pass "3: an ingressControllers entry without a way to recognise it: exit 5 at file:line:col" || fail "3 bad config" "exit $rc: $(cat "$W/err")"

# 4. YAML semantics
"$KTRACE" lint --fail-on never -o json $P/dupkey-fire.yaml > "$W/d.json" 2>"$W/err"
python3 - "$W/d.json" <<'PY' && grep -q "dupkey-fire.yaml:11:3: duplicate key 'type': this value replaces the one at line 9" "$W/err" \
	&& pass "4 fire: duplicate type: LoadBalancer last wins (KT101), warned on stderr and in JSON" || fail "4 dupkey fire" "$(cat "$W/err")"
import json, sys
d = json.load(open(sys.argv[1]))
assert {f["id"] for f in d["findings"]} == {"KT101", "KT102"}, d["findings"]
assert [(w["line"], w["col"]) for w in d["warnings"]] == [(11, 3)], d["warnings"]
PY
[ -z "$(ids $P/dupkey-quiet.yaml)" ] && pass "4 quiet: duplicate type ending in ClusterIP: no KT101" || fail "4 dupkey quiet" "$(ids $P/dupkey-quiet.yaml)"
KTRACE_YAML=libyaml "$KTRACE" lint --fail-on never -o json $P/dupkey-fire.yaml 2>/dev/null | cmp -s - "$W/d.json" \
	&& pass "4: libyaml and the fast scanner resolve duplicates alike" || fail "4 dupkey libyaml" ""
svc() { printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: yaml}\nspec:\n  type: NodePort\n  ports: [{port: 80}]\n' "$1"; }
{ svc one; printf -- '---\n# caf\351 (Latin-1)\n'; svc two; printf -- '---\n'; svc three; } > "$W/latin1.yaml"
"$KTRACE" lint --fail-on never -o json "$W/latin1.yaml" > "$W/l.json" 2>"$W/err"; rc=$?
python3 - "$W/l.json" <<'PY' && [ $rc = 5 ] && pass "4: invalid UTF-8 at its own line (8:6); the documents before and after still checked; exit 5" \
	|| fail "4 invalid UTF-8" "exit $rc: $(cat "$W/err")"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted({f["object"]["name"] for f in d["findings"]}) == ["one", "three"], d["findings"]
assert [(e["line"], e["col"]) for e in d["errors"]] == [(8, 6)], d["errors"]
assert "invalid UTF-8" in d["errors"][0]["message"], d["errors"]
PY
{ svc one; printf -- '---\n'; svc two | sed 's/80}]/80}/'; printf -- '---\n'; svc three; } > "$W/syntax.yaml"
"$KTRACE" lint --fail-on never -o json "$W/syntax.yaml" > "$W/s.json" 2>/dev/null; rc=$?
python3 - "$W/s.json" <<'PY' && [ $rc = 5 ] && pass "4: a syntax error ends only its document; later documents checked" || fail "4 syntax" "exit $rc"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted({f["object"]["name"] for f in d["findings"]}) == ["one", "three"], d["findings"]
assert len(d["errors"]) == 1 and d["errors"][0]["line"] == 14, d["errors"]
PY
{ svc one; printf -- '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: nul}\ndata: {a: "x\000y"}\n---\n'; svc three; } > "$W/nul.yaml"
"$KTRACE" lint --fail-on never -o json "$W/nul.yaml" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert sorted({f["object"]["name"] for f in d["findings"]}) == ["one", "three"], d["findings"]
assert [(e["line"], e["col"], e["message"]) for e in d["errors"]] == [(11, 13, "NUL byte (binary data?)")], d["errors"]
' && pass "4: a NUL byte at its line:col (11:13), not 1:1" || fail "4 NUL" ""
mkdir -p "$W/dir" && cp $P/mesh-fire.yaml "$W/dir/" && ln -s gone.yaml "$W/dir/dangling.yaml"
"$KTRACE" lint --fail-on never "$W/dir" >/dev/null 2>"$W/err"; rc=$?
[ $rc = 5 ] && grep -q "dangling.yaml: cannot read: No such file or directory (dangling symlink)" "$W/err" \
	&& pass "4: a dangling *.yaml symlink in a directory is an error (exit 5), as for kubectl" || fail "4 dangling" "exit $rc: $(cat "$W/err")"
ln -s gone.txt "$W/dir/dangling.txt" && rm "$W/dir/dangling.yaml"
expect_rc "4: a dangling symlink that is no manifest is ignored" 0 "$KTRACE" lint --fail-on never "$W/dir"

# 5. absence is not evidence
python3 - "$W" <<'PY'
import json, os, sys
w = sys.argv[1]
svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
       "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
       "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}}}
os.makedirs(w + "/plain"); os.makedirs(w + "/typed")
json.dump({"apiVersion": "v1", "kind": "List", "items": [svc, dep]}, open(w + "/plain/objects.json", "w"))
json.dump({"apiVersion": "v1", "kind": "List", "items": [svc, dep]}, open(w + "/typed/objects.json", "w"))
for k in ("PodList", "EndpointSliceList"):
    json.dump({"apiVersion": "v1", "kind": k, "items": []}, open(w + "/typed/%s.json" % k, "w"))
PY
"$KTRACE" check --from "$W/plain" -o json > "$W/plain.json"; rc=$?
python3 - "$W/plain.json" <<'PY' && [ $rc = 6 ] && pass "5: check --from a List without Pods/EndpointSlices: no KT501/KT503, gaps say why, exit 6" \
	|| fail "5 absence" "exit $rc: $(head -c 400 "$W/plain.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert not [f for f in d["findings"] if f["id"] in ("KT501", "KT503")], d["findings"]
g = {(x["what"], x["why"]) for x in d["gaps"]}
assert ("KT501 selector-matches-nothing", "not checked: no Pods in the input") in g, g
assert ("KT503 no-ready-endpoints", "not checked: no EndpointSlices in the input") in g, g
PY
"$KTRACE" check --from "$W/plain" | grep -q "^KT501 selector-matches-nothing: not checked: no Pods in the input" \
	&& pass "5: text output lists the gap" || fail "5 gap text" "$("$KTRACE" check --from "$W/plain" | tail -3)"
"$KTRACE" check --from "$W/typed" -o json > "$W/typed.json"; rc=$?
python3 - "$W/typed.json" <<'PY' && [ $rc = 1 ] && pass "5: an empty PodList is evidence: KT501 fires (exit 1), no gaps" || fail "5 typed" "exit $rc"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(f["id"] for f in d["findings"] if f["object"]["name"] == "web") == ["KT501"], d["findings"]
assert d["gaps"] == [], d["gaps"]
PY
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: lonely, namespace: shop}\nspec:\n  selector: {app: lonely}\n  ports: [{port: 80, targetPort: http}]\n' > "$W/svc-only.yaml"
"$KTRACE" lint -o json "$W/svc-only.yaml" > "$W/so.json"; rc=$?
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert not d["findings"] and [g["what"] for g in d["gaps"]] == ["KT501 selector-matches-nothing", "KT502 target-port-mismatch"], d' "$W/so.json" \
	&& [ $rc = 6 ] && pass "5: lint of Services alone: KT501/KT502 not checked (gaps, exit 6)" || fail "5 lint gaps" "exit $rc: $(head -c 300 "$W/so.json")"

# 6. .ktrace.yaml patterns
cat > "$W/glob.yaml" <<'Y'
exclude:
  - {kind: Service, name: "*-kong-proxy", rules: [KT103]}
  - {kind: "Deploy*", namespace: "k?ng", name: "proxy-*"}
  - {kind: Deploymnet, name: proxy-kong}
  - {name: "nothing-[0-9]*"}
Y
"$KTRACE" lint --config "$W/glob.yaml" -o json $P/kong-fire.yaml > "$W/g.json" 2>"$W/err"; rc=$?
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["findings"] == [] and d["summary"]["suppressed"] == 4, d' "$W/g.json" \
	&& [ $rc = 0 ] && pass "6: full glob patterns (prefix*, *suffix, ?, kind globs) suppress" || fail "6 globs" "exit $rc: $(head -c 300 "$W/g.json")"
grep -q "glob.yaml:4:5: exclude kind 'Deploymnet' is not a kind ktrace reports on (did you mean Deployment?)" "$W/err" \
	&& pass "6: an unknown kind is reported with a suggestion" || fail "6 unknown kind" "$(cat "$W/err")"
grep -q "glob.yaml:5:5: exclude {name: nothing-\[0-9\]\*} matches no object in the input" "$W/err" \
	&& pass "6: a pattern that matches nothing is reported" || fail "6 unused pattern" "$(cat "$W/err")"
[ "$(grep -c warning "$W/err")" = 2 ] && pass "6: the patterns that match say nothing" || fail "6 quiet patterns" "$(cat "$W/err")"
printf 'exclude:\n  - {name: "proxy-[kong"}\n' > "$W/badglob.yaml"
"$KTRACE" lint --config "$W/badglob.yaml" $P/kong-fire.yaml >/dev/null 2>"$W/err"; rc=$?
[ $rc = 5 ] && grep -q "badglob.yaml:2:6: malformed pattern" "$W/err" && pass "6: a malformed pattern is an error with its position" \
	|| fail "6 malformed" "exit $rc: $(cat "$W/err")"

# 7. the same object in several files
[ -z "$(ids $P/dups-quiet)" ] && pass "7 quiet: the overlay's 3 replicas win over the base's 1 (no KT303)" || fail "7 quiet" "$(ids $P/dups-quiet)"
"$KTRACE" lint --fail-on never -o json $P/dups-fire > "$W/dups.json" 2>"$W/err"
python3 - "$W/dups.json" <<'PY' && grep -q "a-base.yaml:2:1: Deployment dups/traefik is defined again at $P/dups-fire/b-overlay.yaml:2" "$W/err" \
	&& pass "7 fire: the overlay's 1 replica wins (KT303 at the overlay); warning names both positions" || fail "7 fire" "$(cat "$W/err")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [(f["id"], f["file"].split("/")[-1], f["line"]) for f in d["findings"]] == [("KT303", "b-overlay.yaml", 8)], d["findings"]
assert d["summary"]["objects"] == 4 and len(d["warnings"]) == 2, d
PY
KTRACE_LINT_THREADS=2 "$KTRACE" lint --fail-on never -o json $P/dups-fire 2>/dev/null | cmp -s - "$W/dups.json" \
	&& pass "7: two parser threads resolve duplicates the same way" || fail "7 threads" ""
exit 0
