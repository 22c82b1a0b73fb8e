# Thin wrapper over CMake/CTest. The two README commands: `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
# Seconds per libFuzzer target for `make fuzz` (two targets run at a time).
FUZZ_SECONDS ?= 300
JOBS       ?= 2
PORT       ?= 8080
# Directories holding a package-lock.json whose packages the tests need.
NPM_DIRS   := $(wildcard public tests/js bench bench/peers/node)

CMAKE_FLAGS := -DSC_WERROR=ON -Wno-dev --log-level=WARNING

.PHONY: all deps build run test test-c test-asan test-tsan test-fuzz fuzz fuzz-build bench bench-load bench-load-quick soak clean

all: build

deps:
	@.ci/deps $(NPM_DIRS)

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@env -u MAKEFLAGS -u MAKELEVEL cmake --build $(BUILD) -j$(JOBS) | grep -v -E '^\[ *[0-9]+%\] (Building|Linking|Built)' || true
	@$(MAKE) --no-print-directory demos

# The JS client's demos (Vite) into public/dist, which the server serves at /. Rebuilt only when
# a source is newer than the last build's stamp.
DEMO_STAMP := public/dist/.built
demos:
	@if [ -f public/package-lock.json ] && { [ ! -f $(DEMO_STAMP) ] || \
	    [ -n "$$(find public/src public/demos public/vite.config.js public/package-lock.json -newer $(DEMO_STAMP) 2>/dev/null | head -1)" ]; }; then \
	  echo "demos: building public/dist"; \
	  (cd public && npm run --silent build) && touch $(DEMO_STAMP); \
	fi

run: build
	@mkdir -p data
	@if [ -x $(BUILD)/statechannel ]; then \
	  exec $(BUILD)/statechannel --port $(PORT) --data ./data --handlers $(BUILD)/handlers --public public/dist; \
	else \
	  echo "sc-patch diff patch/examples/before.json patch/examples/after.json:"; \
	  $(BUILD)/sc-patch diff patch/examples/before.json patch/examples/after.json; \
	fi

# Everything: the normal build's whole suite, then the C suites again under ASan+UBSan.
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan
	@$(MAKE) --no-print-directory test-fuzz

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DSC_ASAN=ON -DSC_UBSAN=ON >/dev/null
	@env -u MAKEFLAGS -u MAKELEVEL cmake --build $(ASAN_BUILD) -j$(JOBS) | grep -v -E '^\[ *[0-9]+%\] (Building|Linking|Built)' || true
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS) -L unit

# sc-patch vs the npm JSON Patch libraries on a generated corpus: one table, about 3 minutes.
bench: build
	node bench/compare.mjs

# The WebSocket load matrix: ours vs the Node peer vs the civetweb echo ceiling, one table with
# issue 7's targets (bench/run.mjs). About 10-15 minutes; the quick variant about 3.
bench-load: build
	bench/run

bench-load-quick: build
	bench/run --quick

# 10 minutes of mixed load at half capacity: zero errors, stable RSS (bench/soak.mjs).
soak: build
	bench/soak

# The server's Check suites and node tests again with ThreadSanitizer (the binary too): about
# two minutes once built on a quiet box, four when loaded (only the server's targets are built
# there); 35-60 s of it are the hostile clients (tests/js/hostile.test.mjs: civetweb's timeout
# and error paths), which SC_TEST_TSAN=1 tells to stretch their time bounds, skip their RSS
# bounds and use 250 half-open sockets instead of 1,000. One test at a
# time (-j1): the instrumented server is slow, and a report must not be lost among two suites'
# output. The store's suite is left out (slow under TSan; single-threaded API). A server that
# dies prints its own output (tests/js/lib/server.mjs), so a sanitizer report reaches the CI log.
test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) $(CMAKE_FLAGS) -DSC_TSAN=ON >/dev/null
	@env -u MAKEFLAGS -u MAKELEVEL cmake --build $(TSAN_BUILD) -j$(JOBS) --target server_tests | grep -v -E '^\[ *[0-9]+%\] (Building|Linking|Built)' || true
	cd $(TSAN_BUILD) && SC_TEST_TSAN=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" ctest --output-on-failure -j1 -R '^(server/|js/server_|js/hostile$$)' -E 'server/test_store'

# libFuzzer targets (tests/fuzz, docs/fuzzing.md) in their own clang tree, everything
# instrumented with ASan+UBSan. `make fuzz` runs each FUZZ_SECONDS; `make test-fuzz` is the 20 s
# smoke run of each that `make test` ends with (about 45 s once built). Both fail on any finding.
fuzz-build: deps
	@cmake -S . -B $(FUZZ_BUILD) $(CMAKE_FLAGS) -DCMAKE_C_COMPILER=clang -DSC_FUZZ=ON >/dev/null
	@env -u MAKEFLAGS -u MAKELEVEL cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_targets \
	  >$(FUZZ_BUILD)/build.log 2>&1 || { cat $(FUZZ_BUILD)/build.log; exit 1; }

fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

test-fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_BUILD) 20

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
