# SPDX-License-Identifier: Apache-2.0
# The two commands: `make run` (release build, all services) and `make test` (sanitizer build,
# every test). CMake does the building; this file only wires the steps together.
.PHONY: all deps build run test test-deps debug check-banned format format-check bench clean

MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE_DIR ?= build/release
DEBUG_DIR ?= build/debug

all: build

deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh --test

build: deps
	@cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
	@cmake --build $(RELEASE_DIR) -j $(JOBS)

run: build
	@scripts/run.sh $(RELEASE_DIR)

debug: test-deps
	@cmake -S . -B $(DEBUG_DIR) -DCMAKE_BUILD_TYPE=Debug -DBX_SANITIZE=ON -DBUILD_TESTING=ON >/dev/null
	@cmake --build $(DEBUG_DIR) -j $(JOBS)

check-banned:
	@scripts/check-banned.sh

format-check:
	@scripts/format.sh --check

format:
	@scripts/format.sh

test: debug check-banned format-check
	@cd $(DEBUG_DIR) && ctest --output-on-failure -j $(JOBS)

# Every libFuzzer target (tests/fuzz/, clang) for FUZZ_SECONDS each; crashes in build/fuzz/crashes.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: test-deps
	@tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) --build-dir build/fuzz

# Every bench/*.sh beside its anchor, then bench/report.md and bench/report.svg (bench/report.sh).
# The start time lets the report's total include the build check and the test deps.
bench: export BX_BENCH_MAKE_START := $(shell date +%s)
bench: build test-deps
	@bench/report.sh $(RELEASE_DIR)

# The soak test (docs/soak.md): a flash sale through the gateway with kill -9s, a PostgreSQL stop,
# a broker outage and a slow disk, then the invariant checker; report in build/soak-report.md.
.PHONY: soak
soak: build test-deps
	@tests/soak/soak.sh $(RELEASE_DIR)

clean:
	rm -rf build
