# ktrace — non-recursive Makefile. Sources are discovered by directory, so
# adding a file under lib/, collectors/ (and its subfolders), analyzers/, cli/
# (and cli/tui/, cli/agent/) needs no edit here.
#   make            build ./ktrace
#   make deps       install missing Debian packages (apt-get)
#   make demo       deps + build + the main job on the built-in demo cluster
#   make check      deps + build + every test; last line "N passed, N failed, N skipped"
#   make asan-check the same tests against an ASan+UBSan build
#   make bench      performance comparisons recorded in BENCHMARKS.md
#   make install PREFIX=/usr/local DESTDIR=
#   make compdb     compile_commands.json (needs bear)
# V=1 shows full command lines.

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
BUILD   ?= build
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)
GITSHA  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

PKGS := libcurl libcjson yaml-0.1 libnftnl libmnl libnl-3.0 libnl-genl-3.0 \
	libnl-nf-3.0 libnl-idiag-3.0 libnl-route-3.0 libbpf ncursesw zlib libmicrohttpd

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is dlopen()ed on first use (collectors/kube/curl_dl.h): its thirty
# dependent libraries cost every start 15-25 ms of CPU, lint included.
PKG_LIBS   := $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null) -ldl

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow=local -Wformat=2 -Wvla
OPT     ?= -O2 -g
SAN     ?=
KT_CFLAGS := -std=gnu11 $(OPT) $(WARN) $(SAN) -Iinclude -I. -D_GNU_SOURCE \
	-DKT_VERSION='"$(VERSION)"' -DKT_GITSHA='"$(GITSHA)"' $(PKG_CFLAGS) $(CFLAGS)
KT_LDFLAGS := $(SAN) $(LDFLAGS)
KT_LIBS := $(PKG_LIBS) -lm -lpthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC := $(wildcard lib/*.c collectors/*.c collectors/*/*.c analyzers/*.c) \
	$(filter-out cli/ktrace.c,$(wildcard cli/*.c cli/tui/*.c cli/agent/*.c))
LIB_ASM := lib/demo_blob.S cli/agent/manifest_blob.S
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_ASM:%.S=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/cli/ktrace.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
DEPS := $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_BIN:=.d)

BIN := ktrace
ifneq ($(BUILD),build)
BIN := $(BUILD)/ktrace
endif

all: $(BIN)

# Rebuild everything when flags change.
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(KT_CFLAGS) $(KT_LDFLAGS) $(KT_LIBS)' | cmp -s - $@ || echo '$(CC) $(KT_CFLAGS) $(KT_LDFLAGS) $(KT_LIBS)' > $@

$(BUILD)/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  CC      $<')
	$(Q)$(CC) $(KT_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/lib/demo_blob.o: lib/demo_blob.S tests/fixtures/demo/demo-bundle.json $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  AS      $<')
	$(Q)$(CC) -c $< -o $@

$(BUILD)/cli/agent/manifest_blob.o: cli/agent/manifest_blob.S deploy/ktrace-agent.yaml deploy/ktrace-users.yaml $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  AS      $<')
	$(Q)$(CC) -c $< -o $@

$(BUILD)/libktrace.a: $(LIB_OBJ)
	@$(if $(Q),echo '  AR      $@')
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(BUILD)/libktrace.a
	@$(if $(Q),echo '  LD      $@')
	$(Q)$(CC) $(KT_LDFLAGS) -o $@ $(MAIN_OBJ) $(BUILD)/libktrace.a $(KT_LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/harness.h $(BUILD)/libktrace.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo '  TEST-CC $<')
	$(Q)$(CC) $(KT_CFLAGS) -MMD -MP -Itests/unit $(KT_LDFLAGS) -o $@ $< $(BUILD)/libktrace.a $(KT_LIBS)

units: $(UNIT_BIN)

deps:
	@sh tests/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	./ktrace path svc/orders -n shop --from demo

check: deps
	@$(MAKE) --no-print-directory all units
	@KTRACE=$(CURDIR)/ktrace BUILD=$(BUILD) sh tests/run.sh

asan-check: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT='-O1 -g -fno-omit-frame-pointer' \
		SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' all units
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		KTRACE=$(CURDIR)/build-asan/ktrace BUILD=build-asan KT_ASAN=1 sh tests/run.sh

fuzz:
	@sh tests/fuzz/build.sh

bench: all
	@sh bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 755 ktrace $(DESTDIR)$(PREFIX)/bin/ktrace
	ln -sf ktrace $(DESTDIR)$(PREFIX)/bin/kubectl-ktrace
	install -m 755 completions/kubectl_complete-ktrace $(DESTDIR)$(PREFIX)/bin/kubectl_complete-ktrace
	for f in man/*.1; do install -m 644 $$f $(DESTDIR)$(PREFIX)/share/man/man1/; done
	for f in man/*.5; do [ -f $$f ] && install -m 644 $$f $(DESTDIR)$(PREFIX)/share/man/man5/ || true; done
	for f in man/*.7; do [ -f $$f ] && install -m 644 $$f $(DESTDIR)$(PREFIX)/share/man/man7/ || true; done
	install -m 644 completions/ktrace.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ktrace
	install -m 644 completions/_ktrace $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_ktrace
	install -m 644 completions/ktrace.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/ktrace.fish

compdb:
	bear -- $(MAKE) -B all units

clean:
	rm -rf build build-asan build-fuzz ktrace

-include $(DEPS)

.PHONY: all units deps demo check asan-check fuzz bench install compdb clean FORCE
