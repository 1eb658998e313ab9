#!/bin/sh
# -o yaml, -o wide, -o dot and -o mermaid on every command that takes them:
# yaml parses to exactly the -o json document (libyaml's emitter, streamed
# from the JSON writer); wide adds the columns its man page names; the path
# graph rendered by Graphviz has every vertex and edge ktrace wrote, and
# they are the ones the path's JSON implies; Mermaid is checked for
# structure (declared ids, edges, labels equal to the DOT ones); formats a
# command refuses are usage errors.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
W=$(mktemp -d /tmp/kt-fmt.XXXXXX)
trap 'rm -rf "$W"' EXIT
RULES=tests/fixtures/clusters/rules

# ---- yaml == json --------------------------------------------------------
same_doc() { # NAME ARGS...: -o yaml parses to the same document as -o json
	n=$1; shift
	"$KTRACE" "$@" -o json > "$W/a.json" 2>/dev/null; rj=$?
	"$KTRACE" "$@" -o yaml > "$W/a.yaml" 2>/dev/null; ry=$?
	if [ $rj != $ry ]; then fail "$n" "exit $ry for yaml, $rj for json"; return; fi
	if python3 - "$W/a.json" "$W/a.yaml" <<'PY'
import json, sys, yaml
j = json.load(open(sys.argv[1]))
j.pop("timing", None)
y = yaml.safe_load(open(sys.argv[2]))
if isinstance(y, dict): y.pop("timing", None)
if j != y:
    def diff(a, b, p=""):
        if type(a) != type(b) or not isinstance(a, (dict, list)):
            if a != b: print(p, repr(a)[:80], "!=", repr(b)[:80]); return True
            return False
        if isinstance(a, dict):
            for k in set(a) | set(b):
                if diff(a.get(k), b.get(k), p + "." + str(k)): return True
        else:
            if len(a) != len(b): print(p, "lengths", len(a), len(b)); return True
            for i, (x, z) in enumerate(zip(a, b)):
                if diff(x, z, p + "[%d]" % i): return True
        return False
    diff(j, y)
    sys.exit(1)
PY
	then pass "$n"; else fail "$n" "yaml differs from json"; fi
}
if python3 -c 'import yaml' 2>/dev/null; then
	same_doc "path -o yaml == -o json" path svc/orders -n shop --from demo
	same_doc "path -o yaml == -o json (ClusterIP, rules fixture)" path rules/kt201 --from $RULES
	same_doc "dataplane -o yaml == -o json" dataplane --from demo -A
	same_doc "dataplane --diff -o yaml == -o json" dataplane --from demo --diff -A
	same_doc "imbalance --once -o yaml == -o json" imbalance --from demo --once
	same_doc "check -o yaml == -o json" check --from $RULES
	same_doc "check --summary -o yaml == -o json" check --from $RULES --summary
	same_doc "lint -o yaml == -o json" lint tests/fixtures/manifests/rules
	same_doc "rules -o yaml == -o json" rules
	same_doc "rules ID -o yaml == -o json" rules KT201
	same_doc "version -o yaml == -o json" version
	same_doc "an error as yaml == as json" path svc/nope -n shop --from demo
else
	skip "yaml == json" "python3 yaml module missing"
fi
# strings YAML would read as other types stay strings
"$KTRACE" version -o yaml | grep -q "^version: '[0-9.]*'$" && pass "yaml quotes number-like strings" || fail "yaml quotes number-like strings" "$("$KTRACE" version -o yaml | head -2)"
"$KTRACE" path svc/orders -n shop --from demo -o yaml | grep -q "^  - '10.96.45.10'$" && pass "yaml quotes addresses" || fail "yaml quotes addresses" "clusterIPs"
out=$("$KTRACE" imbalance --from demo --once -o yaml --count 1 | head -1)
[ "$out" = "sampleSeconds: 0" ] && pass "imbalance yaml starts with the document" || fail "imbalance yaml" "$out"

# check takes sarif and junit like lint (live objects: no file, a logical location)
"$KTRACE" check --from $RULES -o sarif | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["runs"][0]["results"]
assert len(r) == 18, len(r)
for x in r:
    loc = x["locations"][0]
    assert "physicalLocation" not in loc and loc["logicalLocations"][0]["kind"] == "resource", loc
' && pass "check -o sarif: one result per finding, logical locations only" || fail "check -o sarif" "see above"
"$KTRACE" check --from $RULES -o junit | python3 -c '
import sys, xml.etree.ElementTree as ET
t = ET.fromstring(sys.stdin.read())
assert t.tag == "testsuites" and int(t.get("failures")) == 5, t.attrib
' && pass "check -o junit: failures are the errors" || fail "check -o junit" "see above"

# ---- formats a command refuses ---------------------------------------------
for c in "rules -o dot" "version -o wide" "lint -o dot x.yaml" "dataplane -o sarif --from demo" "imbalance -o mermaid --from demo --once"; do
	# shellcheck disable=SC2086
	"$KTRACE" $c > /dev/null 2> "$W/err"; rc=$?
	[ $rc = 2 ] && grep -q "is not available for" "$W/err" && pass "refused: $c" || fail "refused: $c" "exit $rc: $(cat "$W/err")"
done

# ---- wide ------------------------------------------------------------------
"$KTRACE" path svc/orders -n shop --from demo -o wide > "$W/pw.txt"
grep -q "^       NODE                 ZONE           INTERNAL-IP     LOCAL       STATUS    WHY$" "$W/pw.txt" \
	&& grep -q "^   ->  node-a               eu-west-1a     10.0.1.10       2/2         Ready     Cluster policy: every schedulable node$" "$W/pw.txt" \
	&& pass "path -o wide: node internal IP and status" || fail "path -o wide nodes" "$(grep -n 'node-a' "$W/pw.txt")"
grep -q "^   10.244.3.17:8080           terminating node-c           eu-west-1b   orders-6c4b7f9d8-hq2sd   9d    yes     yes         orders-x7k2p$" "$W/pw.txt" \
	&& pass "path -o wide: endpoint serving, terminating, slice" || fail "path -o wide endpoints" "$(grep -n '10.244.3.17' "$W/pw.txt")"
grep -q "^     frontend nodePort     \*:31380 -> external backends$" "$W/pw.txt" && pass "path -o wide: programmed frontends" || fail "path -o wide frontends" "$(grep -n frontend "$W/pw.txt")"
"$KTRACE" dataplane --from demo svc/orders -n shop -o wide > "$W/dw.txt"
grep -q "^    10.244.2.21:8080              25.00%  -     orders-7d9f8c6b5-k4rlx         node-b$" "$W/dw.txt" \
	&& pass "dataplane -o wide: backend Pod and node" || fail "dataplane -o wide" "$(grep -n 10.244.2.21 "$W/dw.txt")"
"$KTRACE" imbalance --from demo --once -o wide > "$W/iw.txt"
grep -q "^  BACKEND                POD                              NODE               AGE ST  CONNS  TOTAL  NEW/S       IN      OUT  SHARE BYTES%   FAIR   SOCKS  RTT-MS  FLAGS$" "$W/iw.txt" \
	&& grep -q "^  10.244.1.12:8080       orders-7d9f8c6b5-2xkqp           node-a              3d R      14     31    0.0     9.4M   188.0M    70%    71%    25%       -       -  hot $" "$W/iw.txt" \
	&& pass "imbalance -o wide: node, age, bytes in/out, byte share" || fail "imbalance -o wide" "$(head -5 "$W/iw.txt")"
"$KTRACE" check --from $RULES -o wide > "$W/cw.txt"
grep -A6 "^  info    KT102 cross-node-hop  same finding on 2 objects$" "$W/cw.txt" | grep -q "^            Service rules/kt102$" \
	&& pass "check -o wide: every object of a grouped finding" || fail "check -o wide" "$(grep -n -A6 'same finding' "$W/cw.txt")"
"$KTRACE" rules -o wide > "$W/rw.txt"
head -1 "$W/rw.txt" | grep -q "SUMMARY" && grep -q "^KT201 " "$W/rw.txt" && pass "rules -o wide: summary column" || fail "rules -o wide" "$(head -2 "$W/rw.txt")"
"$KTRACE" lint tests/fixtures/manifests/rules -o wide > "$W/lw.txt"
grep -q "^  warning KT201 missing-prestop  .*\.yaml:[0-9]*:[0-9]*  Deployment rules/kt201$" "$W/lw.txt" \
	&& pass "lint -o wide: file:line and object on each finding" || fail "lint -o wide" "$(grep -n KT201 "$W/lw.txt" | head -3)"

# ---- path -o dot / -o mermaid ------------------------------------------------
if ! command -v dot >/dev/null 2>&1; then skip "path -o dot" "graphviz (dot) is not installed"; exit 0; fi
graph_check() { # NAME PATH-ARGS...: DOT renders; SVG == DOT; DOT == what the JSON implies; mermaid == DOT
	n=$1; shift
	"$KTRACE" path "$@" -o dot > "$W/g.dot" 2>"$W/g.err" || { fail "$n: -o dot" "$(cat "$W/g.err")"; return; }
	"$KTRACE" path "$@" -o mermaid > "$W/g.mmd" 2>"$W/g.err" || { fail "$n: -o mermaid" "$(cat "$W/g.err")"; return; }
	"$KTRACE" path "$@" -o json > "$W/g.json" 2>/dev/null
	dot -Tsvg "$W/g.dot" > "$W/g.svg" 2>"$W/dot.err" && [ ! -s "$W/dot.err" ] || { fail "$n: dot -Tsvg" "$(head -3 "$W/dot.err")"; return; }
	if python3 - "$W/g.dot" "$W/g.svg" "$W/g.json" "$W/g.mmd" <<'PY'
import html, json, re, sys
import xml.etree.ElementTree as ET
dot, svg, js, mmd = (open(p, encoding="utf-8").read() for p in sys.argv[1:])
unq = lambda s: s.replace('\\"', '"').replace("\\\\", "\\")
verts = {unq(m.group(1)): unq(m.group(2)) for m in re.finditer(r'^\t"((?:[^"\\]|\\.)*)" \[label="((?:[^"\\]|\\.)*)"', dot, re.M)}
edges = [(unq(a), unq(b), unq(l)) for a, b, l in re.findall(r'^\t"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)" \[label="((?:[^"\\]|\\.)*)"', dot, re.M)]
assert verts and edges, "empty graph"
# every DOT vertex and edge is in the SVG Graphviz drew
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.fromstring(svg)
svg_nodes, svg_edges = set(), []
for g in root.iter("{http://www.w3.org/2000/svg}g"):
    cls, title = g.get("class"), g.find("s:title", ns)
    if title is None: continue
    t = title.text
    if cls == "node": svg_nodes.add(t)
    if cls == "edge": svg_edges.append(t)
assert svg_nodes == set(verts), (sorted(set(verts) ^ svg_nodes))
assert sorted(svg_edges) == sorted(a + "->" + b for a, b, _ in edges), "edges differ"
texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
for _, _, l in edges:
    for word in l.split():
        assert word in texts, ("edge label not drawn", word)
# the graph is the path: every ready endpoint is a Pod vertex, every LB
# target node has an edge from the entry, shares out of a rules box add up
j = json.loads(js)
ready = {e["ip"] for e in j["endpoints"] if e["ready"]}
pods = {v[4:] for v in verts if v.startswith("pod/")}
assert ready <= pods, ("ready endpoints missing", ready - pods)
t = j["service"]["type"]
if t in ("LoadBalancer", "NodePort") and j["external"].get("lbTarget") != "pods":
    targets = {n["name"] for n in j["nodes"] if n["lbTarget"]}
    entry = "lb" if t == "LoadBalancer" else "entry"
    got = {b[5:] for a, b, _ in edges if a == entry and b.startswith("node/") and _ != "not a target"}
    assert got == targets, (got, targets)
    for n in targets:
        assert ("node/" + n, "rules/" + n) in {(a, b) for a, b, _ in edges}, n
share = {}
for a, b, l in edges:
    if a.startswith("rules"):
        share[a] = share.get(a, 0) + float(l.split("%")[0])
for a, s in share.items():
    assert abs(s - 100) < 1.5, (a, s)
for a, b, l in edges:
    if a.startswith("rules/") and b.startswith("pod/"):
        node = a[6:]
        pod_node = [e["node"] for e in j["endpoints"] if e["ip"] == b[4:]]
        if pod_node:   # an address no EndpointSlice lists: the rules alone say local or not
            assert ("hop" in l.split()) == (pod_node[0] != node), (a, b, l)
        if t in ("LoadBalancer", "NodePort"):
            assert ("SNAT" in l.split()) == (j["service"]["externalTrafficPolicy"] == "Cluster"), (a, b, l)
# mermaid: the same vertices and edges, structurally valid
lines = mmd.split("\n")
assert lines[0] == "---" and lines[2] == "---" and lines[3] == "flowchart LR", lines[:4]
decl, medges = {}, []
for ln in lines[4:]:
    if not ln: continue
    m = re.fullmatch(r'  n(\d+)\["([^"]*)"\]', ln)
    if m:
        assert m.group(1) not in decl; decl[m.group(1)] = m.group(2); continue
    m = re.fullmatch(r'  n(\d+) (-->|-\.->)(?:\|"([^"|]*)"\|)? n(\d+)', ln)
    if m:
        assert m.group(1) in decl and m.group(4) in decl, ln
        medges.append((m.group(1), m.group(4), html.unescape((m.group(3) or "").replace("#quot;", '"'))))
        continue
    m = re.fullmatch(r'  style n(\d+) [-a-z: 0-9,#]+', ln)
    assert m and m.group(1) in decl, ("bad mermaid line", ln)
assert len(decl) == len(verts) and len(medges) == len(edges), (len(decl), len(verts), len(medges), len(edges))
for (a, b, l), (x, y, z) in zip(edges, medges):
    assert l == z, (l, z)
for v in verts.values():
    assert v.replace("\\n", "<br/>") in decl.values(), v
PY
	then pass "$n: DOT renders with Graphviz, SVG has every vertex and edge, mermaid matches"
	else fail "$n" "see above"
	fi
}
graph_check "LoadBalancer, Cluster policy, programmed rules" svc/orders -n shop --from demo
graph_check "gRPC ClusterIP" svc/catalog -n shop --from demo
graph_check "LoadBalancer, Local policy" prod/api --from tests/fixtures/clusters/localpolicy
graph_check "NodePort dual-stack" web/web --from tests/fixtures/clusters/dualstack
graph_check "ClusterIP" rules/kt201 --from $RULES
graph_check "LB targeting Pod IPs" rules/kt101-ok --from $RULES
# the LB -> node edge carries the share; a node's rules -> Pod edge SNAT and hop
grep -q '^	"lb" -> "node/node-a" \[label="33%"\];$' "$W/g.dot" 2>/dev/null || "$KTRACE" path svc/orders -n shop --from demo -o dot > "$W/g.dot"
grep -q '^	"rules/node-a" -> "pod/10.244.2.21" \[label="25% SNAT hop"\];$' "$W/g.dot" \
	&& grep -q '^	"lb" -> "node/node-a" \[label="33%"\];$' "$W/g.dot" \
	&& pass "edge labels: share, SNAT, hop" || fail "edge labels" "$(grep -- '->' "$W/g.dot" | head -4)"
exit 0
