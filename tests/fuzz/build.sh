#!/bin/sh
# Builds every libFuzzer target tests/fuzz/fuzz_*.c with clang, ASan and
# UBSan into build-fuzz/. Run one: build-fuzz/fuzz_bundle tests/fuzz/corpus/bundle
set -e
cd "$(dirname "$0")/../.."
command -v clang >/dev/null || { echo "fuzz: clang not installed" >&2; exit 77; }
make --no-print-directory BUILD=build-fuzz CC=clang OPT='-O1 -g' \
	SAN='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined' \
	WARN='-Wall -Wextra -Werror -Wno-unused-parameter' build-fuzz/libktrace.a >/dev/null
FLAGS=$(cat build-fuzz/.flags | sed 's/^clang //')
for f in tests/fuzz/fuzz_*.c; do
	[ -f "$f" ] || continue
	n=$(basename "$f" .c)
	if [ ! -x "build-fuzz/$n" ] || [ "$f" -nt "build-fuzz/$n" ] || [ build-fuzz/libktrace.a -nt "build-fuzz/$n" ]; then
		clang -std=gnu11 -O1 -g -Iinclude -I. -D_GNU_SOURCE $(pkg-config --cflags libcjson yaml-0.1 libnl-3.0) \
			-fsanitize=fuzzer,address,undefined -o "build-fuzz/$n" "$f" build-fuzz/libktrace.a \
			$(pkg-config --libs libcurl libcjson yaml-0.1 libnftnl libmnl libnl-3.0 libnl-genl-3.0 libnl-nf-3.0 libnl-idiag-3.0 libnl-route-3.0 libbpf ncursesw zlib libmicrohttpd) -lm -lpthread
	fi
done
