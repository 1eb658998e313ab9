#!/bin/sh
# The fast YAML scanner (collectors/manifest/yaml_fast.c) against libyaml end to
# end: `ktrace lint` over every manifest fixture directory, files and
# stdin, one and two parser threads, gives byte-identical output (text,
# json, sarif) and exit codes with KTRACE_YAML=libyaml and by default.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 1
W=$(mktemp -d /tmp/kt_yamlfast.XXXXXX); trap 'rm -rf "$W"' EXIT
F=tests/fixtures/manifests

same() { # NAME ARGS... : run lint both ways (stdin from $IN), compare output and exit code
	n=$1; shift
	KTRACE_YAML=libyaml "$KTRACE" lint "$@" < "${IN:-/dev/null}" > "$W/a" 2>"$W/ae"; ra=$?
	"$KTRACE" lint "$@" < "${IN:-/dev/null}" > "$W/b" 2>"$W/be"; rb=$?
	if [ "$ra" = "$rb" ] && cmp -s "$W/a" "$W/b" && cmp -s "$W/ae" "$W/be"; then
		pass "$n: identical with KTRACE_YAML=libyaml (exit $ra)"
	else
		fail "$n" "exit $ra vs $rb: $(diff "$W/a" "$W/b" | head -5 | tr '\n' '|')$(diff "$W/ae" "$W/be" | head -3 | tr '\n' '|')"
	fi
}

for d in "$F"/*/ "$F"/realworld/split-app/; do
	d=${d%/}
	for o in json sarif; do
		same "$d -o $o" --fail-on never -o $o "$d"
	done
done
for t in 1 2; do
	KTRACE_LINT_THREADS=$t same "all manifest fixtures, $t thread(s), text" "$F"
	KTRACE_LINT_THREADS=$t same "all manifest fixtures, $t thread(s), json" -o json "$F"
done
IN=$F/helm/rendered.yaml same "helm output on stdin, sarif" -o sarif -
IN=$F/helm/rendered.yaml same "helm output on stdin, json" -o json -
IN=$F/realworld/kustomize-build.yaml same "kustomize output on stdin, sarif" -o sarif -

# libyaml hands back to the fast scanner at the next "---": an error in a
# later document keeps its line
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nx: &a 1\ny: *a\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\nz: [1, 2\nw: 3\n' > "$W/mid.yaml"
same "fallback mid-stream, json" -o json "$W/mid.yaml"
"$KTRACE" lint -o json "$W/mid.yaml" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [(e["line"], e["col"]) for e in d["errors"]] == [(13, 2)], d["errors"]
assert d["summary"]["objects"] == 2, d["summary"]
' && pass "fallback mid-stream: error at 13:2, objects around it loaded" || fail "fallback mid-stream" "$("$KTRACE" lint -o json "$W/mid.yaml" 2>&1 | head -c 300)"
