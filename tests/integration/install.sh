#!/bin/sh
# `make install PREFIX= DESTDIR=` puts the binary, man pages and completions
# where packagers expect them, and the installed binary runs.
. "$(dirname "$0")/../lib.sh"
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
if make -C "$TOP" --no-print-directory install PREFIX=/usr DESTDIR="$d" >"$d.log" 2>&1; then
	pass "make install"
else
	fail "make install" "$(tail -3 "$d.log" | tr '\n' '|')"; rm -f "$d.log"; exit 0
fi
rm -f "$d.log"
for f in usr/bin/ktrace usr/bin/kubectl_complete-ktrace usr/share/man/man1/ktrace.1 usr/share/man/man1/ktrace-path.1 \
	usr/share/man/man1/ktrace-completion.1 usr/share/man/man5/ktrace-bundle.5 usr/share/man/man7/ktrace-rules.7 \
	usr/share/bash-completion/completions/ktrace usr/share/zsh/site-functions/_ktrace \
	usr/share/fish/vendor_completions.d/ktrace.fish; do
	[ -f "$d/$f" ] && pass "installed /$f" || fail "installed /$f" "missing"
done
"$d/usr/bin/ktrace" path svc/orders -n shop --from demo >/dev/null && pass "installed binary runs the demo" || fail "installed binary runs the demo"
# kubectl plugin: a kubectl-ktrace link to the binary, and plugin completion
[ -L "$d/usr/bin/kubectl-ktrace" ] && [ "$(readlink "$d/usr/bin/kubectl-ktrace")" = ktrace ] \
	&& pass "installed /usr/bin/kubectl-ktrace -> ktrace" || fail "installed kubectl-ktrace link" "$(ls -l "$d/usr/bin")"
"$d/usr/bin/kubectl-ktrace" --help | head -1 | grep -q '^usage: kubectl ktrace ' && pass "kubectl-ktrace says 'kubectl ktrace'" || fail "kubectl-ktrace usage" "$("$d/usr/bin/kubectl-ktrace" --help | head -1)"
[ -x "$d/usr/bin/kubectl_complete-ktrace" ] && pass "kubectl_complete-ktrace is executable" || fail "kubectl_complete-ktrace" "not executable"
