#!/bin/sh
# `kubectl ktrace`: the krew plugin manifest (deploy/krew/ktrace.yaml) cannot
# be published from here, so its schema is checked (krew v1alpha2 Plugin:
# required fields, version = VERSION, selector syntax, https archive URLs
# named by version, sha256 format); tools/krew-release.sh is run to build an
# archive and a manifest whose sha256 matches it; the archive is installed as
# krew would (extract, link kubectl-ktrace to its bin) and run through a real
# kubectl, whose usage text then says "kubectl ktrace".
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
W=$(mktemp -d /tmp/kt-krew.XXXXXX)
trap 'rm -rf "$W"' EXIT
python3 -c 'import yaml' 2>/dev/null || { skip "krew manifest" "python3 yaml module missing"; exit 0; }

cat > "$W/check.py" <<'EOF'
# check.py MANIFEST VERSION [DIST]: validate a krew v1alpha2 Plugin manifest
import hashlib, os, re, sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
ver = "v" + sys.argv[2]
dist = sys.argv[3] if len(sys.argv) > 3 else None
def need(c, what):
    if not c:
        print("manifest:", what); sys.exit(1)
need(m.get("apiVersion") == "krew.googlecontainertools.github.com/v1alpha2", "apiVersion")
need(m.get("kind") == "Plugin", "kind Plugin")
need(re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", m.get("metadata", {}).get("name", "")), "metadata.name")
need(m["metadata"]["name"] == "ktrace", "metadata.name is ktrace (kubectl ktrace)")
s = m.get("spec") or {}
need(s.get("version") == ver, "spec.version %r is not %r" % (s.get("version"), ver))
need(re.fullmatch(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", s["version"]), "spec.version is semver with v")
need(isinstance(s.get("shortDescription"), str) and 0 < len(s["shortDescription"]) <= 100, "shortDescription")
need(str(s.get("homepage", "https://")).startswith("https://"), "homepage is https")
plats = s.get("platforms")
need(isinstance(plats, list) and plats, "platforms")
allowed = {"selector", "uri", "sha256", "files", "bin"}
for p in plats:
    need(set(p) <= allowed, "unknown platform keys %s" % (set(p) - allowed))
    sel = p.get("selector")
    need(isinstance(sel, dict) and set(sel) <= {"matchLabels", "matchExpressions"} and sel, "selector")
    labels = {}
    for k, v in (sel.get("matchLabels") or {}).items():
        need(re.fullmatch(r"([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", k), "label key %r" % k)
        need(isinstance(v, str) and re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", v), "label value %r" % v)
        labels[k] = v
    for e in sel.get("matchExpressions") or []:
        need(e.get("operator") in ("In", "NotIn", "Exists", "DoesNotExist"), "operator")
        need(bool(e.get("values")) == (e["operator"] in ("In", "NotIn")), "values with In/NotIn only")
    need(labels.get("os") in ("linux", "darwin", "windows"), "selector os")
    need(labels.get("arch") in ("amd64", "arm64", "386", "arm", "ppc64le", "s390x"), "selector arch")
    need(p.get("uri", "").startswith("https://"), "uri is https")
    base = os.path.basename(p["uri"])
    need(base == "ktrace-%s-%s-%s.tar.gz" % (ver, labels["os"], labels["arch"]), "archive %r named by version/os/arch" % base)
    need("/" + ver + "/" in p["uri"], "uri in the release of this version")
    need(re.fullmatch(r"[0-9a-f]{64}", str(p.get("sha256", ""))), "sha256 is 64 lowercase hex digits")
    need(p.get("bin") == "ktrace", "bin")
    for f in p.get("files") or []:
        need(set(f) == {"from", "to"} and f["from"] and f["to"], "files entries")
    need(any(f["from"] in (p["bin"], "*") for f in p.get("files") or [{"from": "*", "to": "."}]), "bin is copied")
    if dist:
        a = os.path.join(dist, base)
        need(os.path.exists(a), "archive %s" % a)
        need(hashlib.sha256(open(a, "rb").read()).hexdigest() == p["sha256"], "sha256 of %s" % base)
print("ok")
EOF
V=$(cat VERSION)
python3 "$W/check.py" deploy/krew/ktrace.yaml "$V" > "$W/out" 2>&1 && pass "deploy/krew/ktrace.yaml: krew schema, version $V, sha256 format" || fail "deploy/krew/ktrace.yaml" "$(cat "$W/out")"
# the checker fails on a broken manifest
sed 's/sha256: \([0-9a-f]*\)/sha256: \1x/' deploy/krew/ktrace.yaml > "$W/bad.yaml"
python3 "$W/check.py" "$W/bad.yaml" "$V" > /dev/null 2>&1 && fail "schema check rejects a bad sha256" "accepted" || pass "schema check rejects a bad sha256"
sed "s/version: v$V/version: v9.9.9/" deploy/krew/ktrace.yaml > "$W/bad.yaml"
python3 "$W/check.py" "$W/bad.yaml" "$V" > /dev/null 2>&1 && fail "schema check rejects a version other than VERSION" "accepted" || pass "schema check rejects a version other than VERSION"

# the release script: archive + manifest whose sha256 matches it
if sh tools/krew-release.sh -b "$KTRACE" -o "$W/m.yaml" "$W/dist" > "$W/rel.log" 2>&1; then
	python3 "$W/check.py" "$W/m.yaml" "$V" "$W/dist" > "$W/out" 2>&1 && pass "krew-release: manifest valid, sha256 = the archive's" || fail "krew-release manifest" "$(cat "$W/out")"
else
	fail "krew-release" "$(cat "$W/rel.log")"
fi
# installed as krew does it: extract, link kubectl-ktrace -> bin
mkdir -p "$W/store" "$W/krewbin"
tar -C "$W/store" -xzf "$W"/dist/ktrace-v"$V"-linux-*.tar.gz
ln -s "$W/store/ktrace" "$W/krewbin/kubectl-ktrace"
"$W/krewbin/kubectl-ktrace" --help | head -1 | grep -q '^usage: kubectl ktrace \[global options\] COMMAND' \
	&& pass "run as kubectl-ktrace, usage says 'kubectl ktrace'" || fail "kubectl-ktrace usage" "$("$W/krewbin/kubectl-ktrace" --help | head -1)"
"$W/krewbin/kubectl-ktrace" path 2>&1 | grep -q "^hint: e.g. 'kubectl ktrace path svc/orders -n shop'$" \
	&& pass "hints say 'kubectl ktrace'" || fail "kubectl-ktrace hints" "$("$W/krewbin/kubectl-ktrace" path 2>&1)"
"$KTRACE" --help | head -1 | grep -q '^usage: ktrace \[global options\]' && pass "run as ktrace, usage says 'ktrace'" || fail "ktrace usage" "$("$KTRACE" --help | head -1)"
if command -v kubectl >/dev/null 2>&1; then
	out=$(cd "$W" && PATH=$W/krewbin:$PATH KUBECONFIG=/nonexistent kubectl ktrace path svc/orders -n shop --from demo 2>&1 | head -1)
	[ "$out" = "Service shop/orders  LoadBalancer  externalTrafficPolicy=Cluster  sessionAffinity=None" ] \
		&& pass "kubectl ktrace path ... runs the plugin" || fail "kubectl ktrace" "$out"
	out=$(cd "$W" && PATH=$W/krewbin:$PATH kubectl plugin list 2>/dev/null | grep -c 'kubectl-ktrace')
	[ "$out" = 1 ] && pass "kubectl plugin list finds kubectl-ktrace" || fail "kubectl plugin list" "$out"
else
	skip "kubectl ktrace" "kubectl is not installed"
fi
exit 0
