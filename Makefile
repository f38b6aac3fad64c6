# ctrain — the friendly front. Two commands do all set-up on a fresh machine:
#   make demo   installs what it needs, builds, runs the main job
#   make test   installs what it needs, builds, runs every test
# Both are idempotent; a second run installs nothing and rebuilds nothing.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_SECONDS ?= 20

.PHONY: all setup build demo test test-c test-asan test-install test-fuzz test-python bench clean

all: build

setup:
	@scripts/setup-deb.sh
	@scripts/setup-python.sh >/dev/null

build: setup
	@scripts/build.sh $(BUILD) Release

demo: build
	@$(BUILD)/tools/ctrain train configs/digits_cnn.yaml

test: setup test-c test-asan test-install test-fuzz test-python

test-c: build
	@cd $(BUILD) && ctest --output-on-failure

test-asan: setup
	@scripts/build.sh $(BUILD_ASAN) Debug -DCTRAIN_SANITIZE=ON
	@cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure

test-install: build
	@scripts/test-install.sh $(BUILD)

test-fuzz: setup
	@CC=clang scripts/build.sh $(BUILD_FUZZ) Debug -DCTRAIN_FUZZ=ON -DCTRAIN_TESTS=OFF
	@scripts/run-fuzzers.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

test-python: setup
	@scripts/test-python.sh

# The optimizer benchmark against torch.optim (docs/benchmarks/optim.{json,md,png}),
# ctrain.optim from Python (python.{json,md}), SWA/EMA weight averaging against
# torch.optim.swa_utils (average.{json,md}), training throughput (train_results.md) and
# the data pipeline against dlio-benchmark's readers and a raw read loop (data.{json,md});
# BENCH_ARGS=--quick for the under-a-minute version (written to build/bench-quick).
bench: build
	@scripts/test-python.sh --install-only
	@"$$(scripts/setup-python.sh)/bin/python" bench/optim_bench.py --bin $(BUILD)/bench/ctrain_bench $(BENCH_ARGS)
	@"$$(scripts/setup-python.sh)/bin/python" bench/python_bench.py $(BENCH_ARGS)
	@"$$(scripts/setup-python.sh)/bin/python" bench/average_bench.py --bin $(BUILD)/bench/ctrain_bench $(BENCH_ARGS)
	@"$$(scripts/setup-python.sh)/bin/python" bench/bfo_bench.py --cbin $(BUILD)/bench/ctrain_bfo_bench $(BENCH_ARGS)
	@"$$(scripts/setup-python.sh)/bin/python" bench/train_bench.py $(BUILD) 1 > docs/benchmarks/train_results.md
	@cat docs/benchmarks/train_results.md
	@"$$(scripts/setup-python.sh)/bin/python" bench/data_bench.py --build $(BUILD) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) build-python
