# troupe - thin wrapper over CMake/ctest. The two commands a newcomer needs:
#   make run    install what is missing, build, start, serve on localhost
#   make test   install what is missing, build, run every test
BUILD      ?= build
ASAN_BUILD ?= build-asan
COV_BUILD  ?= build-cov
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 30

.PHONY: all deps build run test asan coverage fuzz bench lint clean format

all: build

deps:
	@tools/deps.sh

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

run: deps build
	@tools/run.sh $(BUILD)/troupe

test: deps build
	@tools/test.sh $(BUILD)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTROUPE_SANITIZE=ON -DTROUPE_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tools/test.sh $(ASAN_BUILD)

coverage: deps
	cmake -S . -B $(COV_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTROUPE_COVERAGE=ON -DTROUPE_BENCH=OFF
	cmake --build $(COV_BUILD) -j $(JOBS)
	tools/test.sh $(COV_BUILD)
	gcovr -r . --object-directory $(COV_BUILD) --filter 'runtime/' --filter 'actors/' --filter 'tools/' \
	  --print-summary --txt $(COV_BUILD)/coverage.txt --exclude-unreachable-branches --gcov-ignore-parse-errors
	@tail -n 3 $(COV_BUILD)/coverage.txt

lint: deps
	@tools/lint.sh

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTROUPE_FUZZ=ON -DTROUPE_TESTS=OFF -DTROUPE_BENCH=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@mkdir -p $(FUZZ_BUILD)/logs
	@for f in $(FUZZ_BUILD)/fuzz_*; do \
	  [ -f "$$f" ] && [ -x "$$f" ] || continue; \
	  name=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 $(FUZZ_BUILD)/corpus/$$name tests/fuzz/seeds/$$name \
	    > $(FUZZ_BUILD)/logs/$$name.log 2>&1 || { tail -n 30 $(FUZZ_BUILD)/logs/$$name.log; exit 1; }; \
	  tail -n 2 $(FUZZ_BUILD)/logs/$$name.log; \
	done

bench: build
	@tools/deps.sh --bench
	@bench/all.sh $(BUILD)

format:
	clang-format -i runtime/*.[ch] actors/*/*.[ch] tools/cli/*.[ch] tests/*.c bench/*.c examples/*.c

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(COV_BUILD) $(FUZZ_BUILD)
