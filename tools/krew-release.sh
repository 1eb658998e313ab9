#!/bin/sh
# Release archives for the krew plugin manifest. Builds (or takes) the
# ktrace binary, packs it with README.md and the man pages into
# DIST/ktrace-vVERSION-OS-ARCH.tar.gz (reproducible: sorted names, fixed
# mtime and owner, gzip -n), and writes the krew manifest with each
# archive's download URL and sha256 (deploy/krew/ktrace.yaml by default).
# It cannot publish anything: upload the archives to BASE_URL/vVERSION/.
#   tools/krew-release.sh [-o MANIFEST] [-b BINARY] [-u BASE_URL] DIST
# Several OS/ARCH builds: run once per binary with KTRACE_ARCH=arm64 etc.;
# the manifest lists every archive found in DIST.
set -eu
cd "$(dirname "$0")/.."
out=deploy/krew/ktrace.yaml
bin=./ktrace
base=${KTRACE_RELEASE_URL:-https://github.com/ktrace/ktrace/releases/download}
while getopts o:b:u: f; do
	case $f in
	o) out=$OPTARG ;;
	b) bin=$OPTARG ;;
	u) base=$OPTARG ;;
	*) echo "usage: $0 [-o MANIFEST] [-b BINARY] [-u BASE_URL] DIST" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# = 1 ] || { echo "usage: $0 [-o MANIFEST] [-b BINARY] [-u BASE_URL] DIST" >&2; exit 2; }
dist=$1
ver=v$(cat VERSION)
os=linux
arch=${KTRACE_ARCH:-$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')}
[ -x "$bin" ] || { echo "krew-release: no binary at $bin (run make)" >&2; exit 1; }
mkdir -p "$dist"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/man"
cp "$bin" "$stage/ktrace"
cp README.md "$stage/"
cp man/*.[1-9] "$stage/man/"
archive=$dist/ktrace-$ver-$os-$arch.tar.gz
tar -C "$stage" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - ktrace README.md man | gzip -n -9 > "$archive"

{
	cat <<HEAD
# krew plugin manifest for 'kubectl ktrace' (written by tools/krew-release.sh;
# the archives must be uploaded to $base/$ver/ before this is submitted).
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: ktrace
spec:
  version: $ver
  homepage: https://github.com/ktrace/ktrace
  shortDescription: Show how Service traffic really flows and why it goes wrong
  description: |
    ktrace reads every layer a Kubernetes Service's traffic passes (cloud load
    balancer, node, NodePort, the dataplane rules of kube-proxy or Cilium, the
    Pods), reconstructs the path, and names the failure mode with evidence and
    a fix: SNAT source-IP loss, cross-node hops, connection imbalance, stale
    rules, rollout 502s. Also a CI linter for manifests.
  caveats: |
    Node-level commands (dataplane, imbalance, collect --node) read the node's
    kernel state and need root on a node; everything else needs only read access
    to the API. Try it without a cluster: kubectl ktrace path svc/orders -n shop --from demo
  platforms:
HEAD
	for a in "$dist"/ktrace-"$ver"-*.tar.gz; do
		name=$(basename "$a")
		pa=${name#ktrace-$ver-}
		pa=${pa%.tar.gz}
		pos=${pa%-*}
		parch=${pa##*-}
		sum=$(sha256sum "$a" | cut -d' ' -f1)
		cat <<PLAT
  - selector:
      matchLabels:
        os: $pos
        arch: $parch
    uri: $base/$ver/$name
    sha256: $sum
    files:
    - from: ktrace
      to: .
    - from: README.md
      to: .
    bin: ktrace
PLAT
	done
} > "$out"
echo "krew-release: wrote $archive and $out"
