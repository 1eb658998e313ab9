#!/bin/sh
# Install the Debian packages ktrace builds and tests with, when missing.
# Called by `make deps` (and so by `make demo` / `make check`).
PKGS="libcurl4-openssl-dev libcjson-dev libyaml-dev libnftnl-dev libmnl-dev libnl-3-dev
libnl-genl-3-dev libnl-nf-3-dev libnl-idiag-3-dev libnl-route-3-dev libbpf-dev libncurses-dev
libmicrohttpd-dev zlib1g-dev pkg-config gcc make iptables nftables conntrack ipvsadm bpftool iproute2 tmux openssl
python3 clang libclang-rt-14-dev zsh fish man-db time ipset graphviz"
missing=""
if ! command -v dpkg >/dev/null 2>&1; then
	for p in libcurl libcjson yaml-0.1 libnftnl libmnl libnl-3.0 libbpf ncursesw zlib; do
		pkg-config --exists $p 2>/dev/null || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "ktrace: deps: not a Debian/Ubuntu system and pkg-config cannot find:$missing" >&2
		echo "hint: install the development packages for these libraries with your package manager" >&2
		exit 1
	fi
	exit 0
fi
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
	echo "ktrace: deps: apt-get install failed for:$missing" >&2
	echo "hint: run 'sudo apt-get install$missing' and retry" >&2
	exit 1
}
