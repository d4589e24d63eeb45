# Thin wrapper over CMake/ctest for the README commands.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build build-asan test test-unit test-asan demo bench clean fuzz-build fuzz fuzz-smoke \
	install deb

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DDF_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The whole suite, then the whole suite again under ASan+UBSan, then every fuzz harness briefly
# (a smoke: the long runs are `make fuzz`, docs/fuzzing.md).
test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j 2
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2
	@$(MAKE) --no-print-directory fuzz-smoke

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

test-asan: build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j 2

demo: build
	@bash scripts/demo.sh $(BUILD)/bin

bench: build
	@bash bench/cdn_vs_curl.sh $(BUILD)/bin

# `make install [PREFIX=/usr] [DESTDIR=/tmp/root]`: binaries, man pages, systemd units, sysusers.d,
# docs under PREFIX; configs in /etc/dragonfly, /etc/dragonfly.conf, /etc/default (never
# replaced when present). `make deb`: $(BUILD)/damselfly_<version>_<arch>.deb (scripts/mkdeb.sh).
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

deb: build
	@bash scripts/mkdeb.sh $(BUILD) $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# libFuzzer harnesses (tests/fuzz, docs/fuzzing.md): clang-14, ASan+UBSan, in $(FUZZ_BUILD).
# `make fuzz FUZZ_SECONDS=N` runs every harness N seconds, one at a time; `make fuzz-smoke`
# builds and runs each for FUZZ_SMOKE_SECONDS.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 4
FUZZ_CC ?= clang-14

fuzz-build: deps
	@CC=$(FUZZ_CC) cmake -S . -B $(FUZZ_BUILD) -DDF_FUZZ=ON \
	  -DCMAKE_PROJECT_INCLUDE=$(CURDIR)/cmake/fuzz.cmake -DCMAKE_BUILD_TYPE=None >/dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzz_all -j $(JOBS)

fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)
