#!/bin/sh
# Shell completion, driven through the real shells: bash through
# COMP_WORDS/COMP_CWORD and the completion function (words split at '='
# and ':' as bash's COMP_WORDBREAKS does), zsh through zpty with compinit
# (recording what compadd receives and matches), fish through
# `complete -C`. Each case asserts the exact candidate list, against a
# fixture bundle (--from) and against the test API server with a
# kubeconfig: commands, options, option values (-o per command, --fail-on,
# --from with demo and files), namespaces, Services in every accepted form,
# contexts, nodes, --nodes (all, node names, the next name after a comma),
# rules; and that --from, -n, -A, --context and
# --kubeconfig reach the dynamic lookups wherever they were typed.
# Also: the committed scripts are what `ktrace completion SHELL` prints.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/apiserver/testlib.sh"

tmp=$WORK
for sh in bash zsh fish kubectl; do
	f=$TOP/completions/ktrace.$sh; [ $sh = zsh ] && f=$TOP/completions/_ktrace; [ $sh = kubectl ] && f=$TOP/completions/kubectl_complete-ktrace
	"$KTRACE" completion $sh > "$tmp/c.$sh"
	if cmp -s "$tmp/c.$sh" "$f"; then pass "completion $sh matches 'ktrace completion $sh'"; else fail "completion $sh matches 'ktrace completion $sh'" "run tools/gen-docs.sh"; fi
done

# `ktrace` on PATH is the binary under test
mkdir -p "$tmp/bin" "$tmp/zf" "$tmp/files/sub"
ln -s "$KTRACE" "$tmp/bin/ktrace"
cp "$TOP/completions/_ktrace" "$tmp/zf/_ktrace"
: > "$tmp/files/a.json"; : > "$tmp/files/b.json.gz"
PATH=$tmp/bin:$PATH
export PATH

# ---- the shell drivers: each prints the candidates for LINE, sorted -------
cat > "$tmp/bash_drive.sh" <<'EOF'
# bash bash_drive.sh SCRIPT LINE: COMP_WORDS as bash builds them (split at
# blanks, '=' and ':'), _ktrace, COMPREPLY as full words
. "$1"
line=$2
COMP_WORDS=()
read -ra blanks <<< "$line"
[[ $line == *" " ]] && blanks+=("")
for w in "${blanks[@]}"; do
	if [[ -z $w ]]; then COMP_WORDS+=(""); continue; fi
	while [[ -n $w ]]; do
		if [[ $w == [=:]* ]]; then COMP_WORDS+=("${w:0:1}"); w=${w:1}; continue; fi
		p=${w%%[=:]*}; COMP_WORDS+=("$p"); w=${w:${#p}}
	done
done
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$line; COMP_POINT=${#line}
_ktrace
# the part of the last blank-separated word before bash's own last word
full=${blanks[${#blanks[@]}-1]}
bw=${COMP_WORDS[COMP_CWORD]}; [[ $bw == [=:] ]] && bw=
pre=${full:0:${#full}-${#bw}}
for r in "${COMPREPLY[@]}"; do printf '%s%s\n' "$pre" "${r%/}"; done | LC_ALL=C sort
EOF
cat > "$tmp/zsh_drive.zsh" <<'EOF'
# zsh -f zsh_drive.zsh FPATHDIR LINE: type LINE in an interactive zsh
# (zpty) with compinit, press Tab, print each word compadd matched
zmodload zsh/zpty || exit 3
zpty kt zsh -f -i
zpty -w kt "PROMPT= RPROMPT= PS1= ; unsetopt beep; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -d $1/.zcompdump"
zpty -w kt 'compadd() { if [[ " ${(j: :)@[1,(i)(-|--)]} " == *" -"[OAD]" "* ]]; then builtin compadd "$@"; return; fi; local -a __m; builtin compadd -O __m "$@"; local __x; for __x in "${__m[@]}"; do print -r -- "KTC:$IPREFIX$__x"; done; builtin compadd "$@"; }'
zpty -w kt 'kt_end() { print -r -- KTEND; exit }; comppostfuncs=(kt_end); bindkey "^I" complete-word'
zpty -w kt 'print -r -- KTREADY'
zpty -n -w kt "$2"$'\t'
local line ready=0 t0=$SECONDS
local -a got
while (( SECONDS - t0 < 20 )); do
	if ! zpty -r -t kt line; then sleep 0.05; continue; fi
	line=${${line//$'\r'/}%$'\n'}
	if [[ $line == KTREADY* ]]; then ready=1; continue; fi
	(( ready )) || continue
	if [[ $line == *KTEND* ]]; then
		(( ${#got} )) && print -rl -- "${(@)got%/}" | LC_ALL=C sort -u
		exit 0
	fi
	# zle may redraw on the same line: the word follows the last marker
	[[ $line == *KTC:* ]] && got+=("${line##*KTC:}")
done
exit 2
EOF

# each SHELL: the candidates for LINE, one per line, sorted, no descriptions
cands() {
	case $1 in
	bash) (cd "$tmp/files" && bash --norc --noprofile "$tmp/bash_drive.sh" "$TOP/completions/ktrace.bash" "$2") ;;
	zsh) (cd "$tmp/files" && timeout 30 zsh -f "$tmp/zsh_drive.zsh" "$tmp/zf" "$2") ;;
	fish) (cd "$tmp/files" && timeout 30 fish --no-config -c "source '$TOP/completions/ktrace.fish'; complete -C \$argv[1]" "$2" | cut -f1 | sed 's,/$,,' | LC_ALL=C sort) ;;
	esac
}
SHELLS=""
for s in bash zsh fish; do
	if command -v $s >/dev/null 2>&1; then SHELLS="$SHELLS $s"; else skip "$s completion" "$s is not installed"; fi
done
# expect NAME LINE CANDIDATE...: every shell offers exactly these
expect() {
	n=$1; l=$2; shift 2
	want=$(printf '%s\n' "$@" | sed '/^$/d' | LC_ALL=C sort)
	for s in $SHELLS; do
		got=$(cands $s "$l")
		if [ "$got" = "$want" ]; then pass "$s: $n"; else fail "$s: $n" "'$l' gave [$(echo $got)], want [$(echo $want)]"; fi
	done
}

# ---- static: commands, options, option values ---------------------------------
expect "commands" "ktrace " agent path dataplane trace imbalance check lint collect rules completion version help
# the first word comes from the list in the script: no ktrace process (the
# binary is not on PATH here), the same words the engine gives; later words
# still need the engine (nothing without the binary)
if PATH=/usr/bin:/bin command -v ktrace >/dev/null 2>&1; then
	skip "first word without a process" "a ktrace is installed in /usr/bin or /bin"
else
	for s in $SHELLS; do
		got=$(PATH=/usr/bin:/bin; cands $s "ktrace im"); all=$(PATH=/usr/bin:/bin; cands $s "ktrace " | tr '\n' ' ')
		want=$(printf '%s\n' $("$KTRACE" __complete line -- "" | sed -n 's/\t.*//p') | LC_ALL=C sort | tr '\n' ' ')
		none=$(PATH=/usr/bin:/bin; cands $s "ktrace path --from ")
		[ "$got" = imbalance ] && [ "$all" = "$want" ] && [ -z "$none" ] \
			&& pass "$s: 'ktrace <TAB>' runs no process and offers the engine's commands" \
			|| fail "$s: first word without a process" "im: [$got] all: [$all] want [$want] later word: [$none]"
	done
fi
for w in "" im h x -; do
	got=$(PATH=/usr/bin:/bin sh "$TOP/completions/kubectl_complete-ktrace" "$w" 2>/dev/null)
	want=$("$KTRACE" __complete line --cobra -- "$w")
	[ "$w" = - ] && want=""   # options need the engine: not on PATH here
	[ "$got" = "$want" ] && pass "kubectl_complete-ktrace '$w' equals the engine" || fail "kubectl_complete-ktrace '$w'" "[$got] want [$want]"
done
expect "a command from its prefix" "ktrace pa" path
expect "a command's own options" "ktrace dataplane --di" --diff
expect "options for a command honouring globals (-- prefix)" "ktrace rules --" --man --output --color --verbose --help
expect "-o offers only what path takes" "ktrace path -o " text wide json yaml dot mermaid
expect "-o offers only what rules takes" "ktrace rules -o " text wide json yaml
expect "-o offers only what check takes" "ktrace check --output=" --output=text --output=wide --output=json --output=yaml --output=sarif --output=junit
expect "--fail-on offers severities, not a placeholder" "ktrace check --fail-on " error warning info never
expect "--from offers demo and files" "ktrace --from " demo a.json b.json.gz sub
expect "--from=VALUE form" "ktrace path --from=" --from=demo --from=a.json --from=b.json.gz --from=sub
expect "--from=de completes demo" "ktrace path --from=de" --from=demo
expect "lint takes files" "ktrace lint " a.json b.json.gz sub
expect "rules takes rule ids" "ktrace rules KT10" KT101 KT102 KT103
expect "help takes commands" "ktrace help im" imbalance
expect "completion takes shells" "ktrace completion " bash zsh fish kubectl
expect "no subcommands after a subcommand" "ktrace check " ""
expect "path takes one SERVICE" "ktrace --from demo path svc/orders " ""

# ---- dynamic, from bundles (--from) ---------------------------------------------
expect "demo: README form path svc/ (every Service: none in default)" "ktrace --from demo path svc/" \
	svc/envoy-gateway-system/envoy-edge-public-7f3a9c svc/ingress-nginx/ingress-nginx-controller svc/shop/catalog \
	svc/shop/orders svc/shop/payments
expect "demo: -n before the command reaches the lookup" "ktrace --from demo -n shop path " catalog orders payments
expect "demo: -n after the command" "ktrace --from demo path -n shop svc/" svc/catalog svc/orders svc/payments
expect "demo: --from after the command" "ktrace path -n shop --from demo o" orders
expect "demo: NS/NAME" "ktrace --from demo path shop/p" shop/payments
expect "demo: service/NS/ form" "ktrace --from demo path service/shop/" service/shop/catalog service/shop/orders service/shop/payments
expect "demo: namespaces (-n)" "ktrace --from demo path -n " envoy-gateway-system ingress-nginx shop
expect "demo: namespaces (--namespace=)" "ktrace --from demo --namespace=" --namespace=envoy-gateway-system \
	--namespace=ingress-nginx --namespace=shop
expect "demo: nodes (--node)" "ktrace --from demo dataplane --node " node-a node-b node-c
expect "demo: imbalance Services" "ktrace --from demo -n shop imbalance c" catalog
B=$TOP/tests/fixtures/clusters/api-basic
expect "bundle: Services in -n" "ktrace --from $B -n shop path " cart orders payments
expect "bundle: svc/ in -n" "ktrace --from $B -n shop path svc/" svc/cart svc/orders svc/payments
expect "bundle: -A gives NS/NAME" "ktrace -A --from $B dataplane " kube-system/kube-dns shop/cart shop/orders shop/payments
expect "bundle: namespaces" "ktrace --from $B -n " kube-system shop
expect "bundle: nodes" "ktrace --from $B imbalance --node " node-a node-b
expect "bundle: --nodes offers all and the node names" "ktrace --from $B imbalance --nodes " all node-a node-b

# ---- dynamic, live from the test API server ---------------------------------------
if ! have_python; then skip "live completion" "python3 not available"; exit 0; fi
kapi_start --dir "$B" || { fail "live completion" "kapi.py did not start: $(cat "$WORK/kapi.err")"; exit 0; }
cat > "$WORK/kc.yaml" <<EOF
apiVersion: v1
kind: Config
current-context: ctx
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:$KAPI_PORT"}
- name: dead
  cluster: {server: "http://127.0.0.1:1"}
contexts:
- name: ctx
  context: {cluster: c, namespace: shop}
- name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
  context: {cluster: c, namespace: kube-system}
- name: other
  context: {cluster: dead}
EOF
cat > "$WORK/kc2.yaml" <<EOF
apiVersion: v1
kind: Config
current-context: second-a
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:$KAPI_PORT"}
contexts:
- name: second-a
  context: {cluster: c}
- name: second-b
  context: {cluster: c}
EOF
K=$WORK/kc.yaml
expect "live: Services in the context's namespace" "ktrace --kubeconfig $K path " cart orders payments
expect "live: svc/ form" "ktrace --kubeconfig $K path svc/" svc/cart svc/orders svc/payments
expect "live: -n reaches the lookup" "ktrace --kubeconfig $K -n kube-system path " kube-dns
expect "live: NS/NAME form" "ktrace --kubeconfig $K path kube-system/" kube-system/kube-dns
expect "live: --context reaches the lookup" "ktrace --kubeconfig $K --context arn:aws:eks:eu-west-1:123456789012:cluster/prod path " kube-dns
expect "live: --context= with colons" "ktrace --kubeconfig=$K --context=arn:aws:eks:eu-west-1:123456789012:cluster/prod imbalance " kube-dns
expect "live: namespaces" "ktrace --kubeconfig $K path -n " default kube-system shop
expect "live: contexts (colons survive bash's word breaks)" "ktrace --kubeconfig $K --context " ctx arn:aws:eks:eu-west-1:123456789012:cluster/prod other
expect "live: context by prefix" "ktrace --kubeconfig $K --context arn:aws" arn:aws:eks:eu-west-1:123456789012:cluster/prod
expect "live: --kubeconfig reaches the context lookup" "ktrace --kubeconfig $WORK/kc2.yaml --context " second-a second-b
expect "live: nodes" "ktrace --kubeconfig $K dataplane --node " node-a node-b
expect "live: --nodes: all and the cluster's nodes" "ktrace --kubeconfig $K imbalance --nodes " all node-a node-b
expect "live: --nodes by prefix" "ktrace --kubeconfig $K check --nodes node-" node-a node-b
expect "live: --nodes NAME,<TAB>: the next node, not the one listed" "ktrace --kubeconfig $K dataplane --nodes node-a," node-a,node-b
expect "live: --nodes=NAME,N<TAB>" "ktrace --kubeconfig $K path --nodes=node-b,n" --nodes=node-b,node-a
expect "live: --nodes with every node listed: nothing more" "ktrace --kubeconfig $K collect --nodes node-b,node-a," ""
expect "live: an unreachable cluster gives nothing (fast)" "ktrace --kubeconfig $K --context other path " ""

# ---- __complete KIND: singular and plural -----------------------------------------
for k in namespace namespaces; do
	got=$("$KTRACE" --kubeconfig "$K" __complete $k | tr '\n' ' ')
	[ "$got" = "default kube-system shop " ] && pass "__complete $k" || fail "__complete $k" "$got"
done
for k in context contexts; do
	got=$("$KTRACE" --kubeconfig "$K" __complete $k | tr '\n' ' ')
	[ "$got" = "arn:aws:eks:eu-west-1:123456789012:cluster/prod ctx other " ] && pass "__complete $k" || fail "__complete $k" "$got"
done
for k in node nodes; do
	got=$("$KTRACE" --from demo __complete $k | tr '\n' ' ')
	[ "$got" = "node-a node-b node-c " ] && pass "__complete $k" || fail "__complete $k" "$got"
done
for k in service services; do
	got=$("$KTRACE" --kubeconfig "$K" __complete $k | tr '\n' ' ')
	[ "$got" = "cart orders payments " ] && pass "__complete $k" || fail "__complete $k" "$got"
done
got=$("$KTRACE" __complete line --cobra -- path -o "" | tail -n 1)
[ "$got" = ":4" ] && pass "kubectl plugin form ends with the cobra directive" || fail "cobra directive" "$got"

# kubectl ktrace <TAB>: kubectl runs kubectl_complete-ktrace from PATH
if command -v kubectl >/dev/null 2>&1; then
	ln -s "$KTRACE" "$tmp/bin/kubectl-ktrace"
	cp "$TOP/completions/kubectl_complete-ktrace" "$tmp/bin/"
	got=$(cd "$tmp" && KUBECONFIG=$K kubectl __complete ktrace --from demo path svc/ 2>/dev/null | tr '\n' ' ')
	[ "$got" = "svc/catalog svc/orders svc/payments :4 " ] \
		&& pass "kubectl: 'kubectl ktrace --from demo path svc/<TAB>' (the context namespace shop)" || fail "kubectl plugin completion" "$got"
	got=$(cd "$tmp" && KUBECONFIG=$K kubectl __complete ktrace path -o "" 2>/dev/null | tr '\n' ' ')
	[ "$got" = "text wide json yaml dot mermaid :4 " ] && pass "kubectl: 'kubectl ktrace path -o <TAB>'" || fail "kubectl plugin -o" "$got"
else
	skip "kubectl plugin completion" "kubectl is not installed"
fi
exit 0
