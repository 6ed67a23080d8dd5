# mts — build, test, bench.
#   make deps     install the Debian packages (apt-get; run as root or with sudo)
#   make          build bin/mts and lib/libmts.so
#   make test     C (cmocka), Lua (busted) and end-to-end tests
#   make asan     the whole test suite under AddressSanitizer + UBSan
#   make bench    performance figures, one line each: bench NAME VALUE UNIT
#   make soak     several writers on one database for ~3 min (not in check): lost results must be 0
#   make install  PREFIX=/usr/local DESTDIR=: bin/mts + share/mts (scripts, config, data)
#   V=1           show the full compiler command lines

CC      ?= cc
BUILD   ?= build
BINDIR  ?= bin
LIBDIR  ?= lib
PKGS    := luajit sqlite3 libcjson libcurl libwebsockets hiredis libcrypto zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
OPT     ?= -O2 -g
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -MMD -MP $(OPT) \
           -Iruntime $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS += $(EXTRA_LDFLAGS)
LIBS    := $(PKG_LIBS) -lreadline -lm -lpthread -ldl

ifeq ($(V),1)
Q :=
else
Q := @
endif

REDOCLY_VERSION := 2.77.0
DEPS_APT := build-essential pkg-config libluajit-5.1-dev luajit libsqlite3-dev libcjson-dev \
            libcmocka-dev lua-cjson lua-busted libcurl4-openssl-dev libwebsockets-dev \
            libhiredis-dev redis-server libssl-dev zlib1g-dev libreadline-dev python3 python3-yaml sqlite3 chromium systemd

# The core: every .c under runtime/ except main.c and the commands.
CORE_SRC := $(sort $(filter-out runtime/main.c runtime/cmd/%,$(shell find runtime -name '*.c')))
CMD_SRC  := $(sort $(wildcard runtime/cmd/*.c)) runtime/main.c
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/c/test_*.c))
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all check deps test test-c test-lua test-e2e asan fuzz bench soak clean install uninstall
all: $(BINDIR)/mts $(LIBDIR)/libmts.so

# check = everything CI runs: the suite, the mutation fuzzers (ASan/UBSan
# builds), then the whole suite again under ASan/UBSan (its total line is last).
check: test fuzz asan

deps:
	@if command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  missing=$$(for p in $(DEPS_APT); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  else echo "deps: all Debian packages present"; fi; \
	else echo "deps: apt-get not found; install: $(DEPS_APT)"; exit 1; fi
	@# the OpenAPI 3.1 linter of tests/e2e/test_openapi.py (docs/openapi.json), from npm, pinned
	@if [ "$$(redocly --version 2>/dev/null | head -1)" = "$(REDOCLY_VERSION)" ]; then \
	  echo "deps: @redocly/cli $(REDOCLY_VERSION) present"; \
	elif command -v npm >/dev/null 2>&1; then \
	  echo "deps: npm install -g @redocly/cli@$(REDOCLY_VERSION)"; \
	  npm install -g --no-fund --no-audit @redocly/cli@$(REDOCLY_VERSION) >/dev/null || exit 1; \
	else echo "deps: npm not found (Node.js >= 20.19 with npm): needed for @redocly/cli@$(REDOCLY_VERSION)"; exit 1; fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# GET /openapi.json serves docs/openapi.json built into the binary (runtime/api/openapi_doc.c)
$(BUILD)/runtime/api/openapi_doc.o: docs/openapi.json

$(BUILD)/libmts.a: $(CORE_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(LIBDIR)/libmts.so: $(CORE_OBJ)
	@mkdir -p $(LIBDIR)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $^ $(LDFLAGS) $(LIBS)

# -rdynamic: LuaJIT's ffi.C must see the engine's primitives inside the binary.
$(BINDIR)/mts: $(CMD_OBJ) $(BUILD)/libmts.a
	@mkdir -p $(BINDIR)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -rdynamic -o $@ $(CMD_OBJ) -Wl,--whole-archive $(BUILD)/libmts.a -Wl,--no-whole-archive $(LDFLAGS) $(LIBS)

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libmts.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CFLAGS) -rdynamic -o $@ $< -Wl,--whole-archive $(BUILD)/libmts.a -Wl,--no-whole-archive $(LDFLAGS) $(LIBS) -lcmocka

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libmts.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -rdynamic -o $@ $< -Wl,--whole-archive $(BUILD)/libmts.a -Wl,--no-whole-archive $(LDFLAGS) $(LIBS)

test: all $(TEST_BIN)
	@MTS_BIN=$(BINDIR)/mts MTS_LIB=$(LIBDIR)/libmts.so tests/run_all.sh $(TEST_BIN)

test-c: $(TEST_BIN)
	@tests/run_c.sh $(TEST_BIN)

test-lua: all
	@MTS_BIN=$(BINDIR)/mts MTS_LIB=$(LIBDIR)/libmts.so tests/run_lua.sh

test-e2e: all
	@MTS_BIN=$(BINDIR)/mts MTS_LIB=$(LIBDIR)/libmts.so tests/run_e2e.sh

asan:
	$(MAKE) BUILD=build-asan BINDIR=build-asan/bin LIBDIR=build-asan/lib OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test

# Mutation fuzzers (tests/fuzz/*.c), built with ASan/UBSan against the asan core.
FUZZ_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_ITERS ?= 20000
fuzz:
	$(MAKE) BUILD=build-asan BINDIR=build-asan/bin LIBDIR=build-asan/lib OPT="$(FUZZ_FLAGS)" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" build-asan/libmts.a
	@mkdir -p build-asan/fuzz
	@for f in tests/fuzz/*.c; do \
	  $(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(FUZZ_FLAGS) -Iruntime $(PKG_CFLAGS) -o build-asan/fuzz/$$(basename $$f .c) $$f \
	    -Wl,--whole-archive build-asan/libmts.a -Wl,--no-whole-archive -fsanitize=address,undefined $(LIBS) || exit 1; \
	done
	build-asan/fuzz/fuzz_ws_parse $(FUZZ_ITERS) tests/fixtures/exchanges/*/*.json
	build-asan/fuzz/fuzz_csv_import 1500 data/crypto/BTCUSDT_1d_binance_spot.csv
	build-asan/fuzz/fuzz_csv_import 1500 data/macro/VIX_History_cboe.csv
	build-asan/fuzz/fuzz_funding_csv 1500 data/crypto/funding/BTCUSDT_funding_binance_usdm.csv
	build-asan/fuzz/fuzz_jwt $(FUZZ_ITERS)
	build-asan/fuzz/fuzz_api_request $(FUZZ_ITERS) .
	build-asan/fuzz/fuzz_pattern 10000
	build-asan/fuzz/fuzz_colblob $(FUZZ_ITERS)

# Soak (bounded, not part of check/CI): big backtests, mts stream and mts run
# on one database, with a writer holding the lock past the busy timeout;
# reports lost backtest results (must be 0) and session failures
# (tests/soak/db_contention.py; SOAK_ARGS="--duration 60 --rows 300000").
SOAK_ARGS ?=
soak: all
	@timeout 900 python3 tests/soak/db_contention.py --mts $(BINDIR)/mts $(SOAK_ARGS)

bench: all $(BENCH_BIN)
	@MTS_BIN=$(BINDIR)/mts MTS_LIB=$(LIBDIR)/libmts.so tests/bench/run.sh $(BENCH_BIN)

clean:
	rm -rf build build-asan bin lib

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary to $(PREFIX)/bin, and
# scripts/, config/, data/ (bundled CSVs, no databases) and the FFI header to
# $(PREFIX)/share/mts, where an installed mts finds them (util/config.c mts_root).
PREFIX  ?= /usr/local
DESTDIR ?=
SHAREDIR = $(DESTDIR)$(PREFIX)/share/mts
install: $(BINDIR)/mts
	install -d $(DESTDIR)$(PREFIX)/bin $(SHAREDIR)
	install -m 755 $(BINDIR)/mts $(DESTDIR)$(PREFIX)/bin/mts
	rm -rf $(SHAREDIR)/scripts $(SHAREDIR)/config
	tar -cf - --exclude='*.db' --exclude='*.db-wal' --exclude='*.db-shm' scripts config data \
	  | tar -C $(SHAREDIR) -xf -
	install -m 644 runtime/lua/mts_ffi.h $(SHAREDIR)/scripts/lib/mts_ffi.h
	@echo "installed $(DESTDIR)$(PREFIX)/bin/mts and $(SHAREDIR)"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/mts
	rm -rf $(SHAREDIR)/scripts $(SHAREDIR)/config $(SHAREDIR)/data/crypto $(SHAREDIR)/data/macro \
	  $(SHAREDIR)/data/README.md

-include $(CORE_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
