# The two commands of README.md: `make demo` (the main job on built-in
# defaults) and `make test` (release + ASan/UBSan builds, every test).
# Everything else is CMake; this file only sequences it.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local

.PHONY: all deps build asan test test-release test-asan demo fuzz bench clean install

all: build

deps:
	@bash scripts/setup.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWF_SANITIZE=ON -DWF_DEBUG=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) -- --no-print-directory

test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: asan
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    WF_TEST_QUICK=1 ctest --output-on-failure -j $(JOBS)

test: test-release test-asan

demo: build
	@bash scripts/demo.sh

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DWF_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_safetensors fuzz_torchbin fuzz_tokenizer \
	    fuzz_tokfiles fuzz_shards fuzz_optstate fuzz_sparsemask fuzz_defects fuzz_request fuzz_snapshot fuzz_debug

bench: build
	@bash bench/run.sh

# The SDK for kernels built outside this repository (docs/sdk.md): headers
# under $(PREFIX)/include/wafer, static libraries, lib/pkgconfig/wafer-sdk.pc.
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX) --component Unspecified

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
