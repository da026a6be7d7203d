# fedpep — build, test, run. `make` builds build/release/fedpep; `make test` builds everything
# again with AddressSanitizer + UBSan and runs every test; `make run` runs the embedded default.
# Sources are found by folder, so adding a file needs no edit here: library code lives in the
# folders of LIB_DIRS, tests are tests/test_*.c (one cmocka program each), fuzz targets are
# tests/fuzz/fuzz_*.c, benchmarks bench/bench_*.c.

LIB_DIRS  := common messages storage model fl data train actors broker simulate launch
# LIB:HEADER entries have no pkg-config file: oneDNN (bf16 products) and the OpenMP runtime it
# runs on, whose thread count model/matmul_bf16.c sets.
PKGS      := libczmq libzmq msgpack inih jansson sqlite3 openblas libutf8proc \
             dnnl:oneapi/dnnl/dnnl.h gomp:omp.h
BUILD     ?= build

# The packages' flags come from pkg-config, but only after scripts/setup.sh has installed them:
# a variable computed when make reads this file would be empty on a fresh machine. So setup
# writes them into $(BUILD)/packages.mk, which is included below; GNU make remakes an included
# makefile before anything else (also under -j) and re-reads itself when it changed. Goals that
# need no compiler (clean, format) skip it.
# The rule that makes packages.mk comes first in this file; without this line it would be the
# default goal and a plain `make` would build nothing.
.DEFAULT_GOAL := all
NO_SETUP_GOALS := clean format
ifneq ($(filter-out $(NO_SETUP_GOALS),$(or $(MAKECMDGOALS),all)),)
include $(BUILD)/packages.mk
endif
$(BUILD)/packages.mk: FORCE
	@bash scripts/setup.sh
	@bash scripts/packages-mk.sh $@ $(PKGS)
FORCE:

WARN      := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wno-unused-parameter
INC       := -I. $(PKG_CFLAGS)
# EXTRA_CFLAGS adds to both builds, e.g. `make test BUILD=build/pattern
# EXTRA_CFLAGS=-ftrivial-auto-var-init=pattern` fills every uninitialised variable with a pattern.
# -fopenmp: the model core's own loops run on OpenMP threads (model/parallel.h).
REL_FLAGS := -O3 -march=native -g -fopenmp $(WARN) $(INC) $(EXTRA_CFLAGS)
SAN_FLAGS := -O1 -g -fopenmp -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all $(WARN) $(INC) $(EXTRA_CFLAGS)

LIB_SRC   := $(sort $(wildcard $(addsuffix /*.c,$(LIB_DIRS))))
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_HELP := $(sort $(wildcard tests/support/*.c))
TEST_HELP_OBJ := $(TEST_HELP:tests/support/%.c=$(BUILD)/asan/test-support/%.o)
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
SHELL_TESTS := $(sort $(wildcard tests/shell/test_*.sh))
HDRS      := $(wildcard $(addsuffix /*.h,$(LIB_DIRS) cli tests tests/support))

REL_OBJ   := $(LIB_SRC:%.c=$(BUILD)/release/%.o)
SAN_OBJ   := $(LIB_SRC:%.c=$(BUILD)/asan/%.o)
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/asan/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/release/bench/%)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/asan/fuzz-replay/%)

# `make V=1` shows the compiler command lines.
Q := $(if $(V),,@)

.PHONY: all setup test run fuzz bench clean check-reference model model-deep format FORCE
all: $(BUILD)/release/fedpep

# setup itself happens through the include of $(BUILD)/packages.mk above.
setup:

# Object rules: every object depends on every header, which is crude but always right and the
# whole project compiles in seconds.
$(BUILD)/release/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(REL_FLAGS) -c $< -o $@
$(BUILD)/asan/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/release/libfedpep.a: $(REL_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^
$(BUILD)/asan/libfedpep.a: $(SAN_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/release/fedpep: cli/main.c $(wildcard cli/*.c) $(BUILD)/release/libfedpep.a
	@echo "  LD      $@"
	$(Q)$(CC) $(REL_FLAGS) $(wildcard cli/*.c) $(BUILD)/release/libfedpep.a $(PKG_LIBS) -o $@
$(BUILD)/asan/fedpep: cli/main.c $(wildcard cli/*.c) $(BUILD)/asan/libfedpep.a
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN_FLAGS) $(wildcard cli/*.c) $(BUILD)/asan/libfedpep.a $(PKG_LIBS) -o $@

# The helpers every test links (tests/support/: paths, files, clock and processes, example
# messages), compiled once.
$(TEST_HELP_OBJ): $(BUILD)/asan/test-support/%.o: tests/support/%.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(SAN_FLAGS) -c $< -o $@

$(BUILD)/asan/tests/%: tests/%.c $(TEST_HELP_OBJ) $(BUILD)/asan/libfedpep.a $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN_FLAGS) $< $(TEST_HELP_OBJ) $(BUILD)/asan/libfedpep.a $(PKG_LIBS) -lcmocka -o $@

$(BUILD)/release/bench/%: bench/%.c $(BUILD)/release/libfedpep.a $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(REL_FLAGS) $< $(BUILD)/release/libfedpep.a $(PKG_LIBS) -o $@

# libFuzzer targets: clang, sanitizers, and the library sources compiled in (not the gcc archive).
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang -O1 -g -fsanitize=fuzzer,address,undefined $(INC) -std=c11 -D_GNU_SOURCE \
	    $< $(LIB_SRC) $(PKG_LIBS) -o $@

# Each fuzz target without libFuzzer, replaying its seeds in the test suite (tests/fuzz/replay_main.c).
$(BUILD)/asan/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(BUILD)/asan/libfedpep.a $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(SAN_FLAGS) $< tests/fuzz/replay_main.c $(BUILD)/asan/libfedpep.a $(PKG_LIBS) -o $@

# The test suite: sanitizer builds of the library, the binary and every test program.
# The release build is part of the test: -O3 finds warnings (-Werror) that -O1 does not.
test: $(BUILD)/release/fedpep $(BUILD)/asan/fedpep $(TEST_BIN) $(FUZZ_REPLAY)
	@BUILD=$(BUILD) bash tests/run.sh $(TEST_BIN) $(SHELL_TESTS)

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do echo "built $$f (run: mkdir -p $(BUILD)/fuzz/corpus-$$(basename $$f) \&\& $$f -max_total_time=600 $(BUILD)/fuzz/corpus-$$(basename $$f) tests/fuzz/seeds/$$(basename $$f))"; done

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# The embedded default run through `fedpep launch` (docs/launch.md). Until a pretrained
# models/default is installed, an UNTRAINED random placeholder (models/placeholder) stands in.
run: all
	@if [ -e models/default/config.json ]; then model=models/default; else \
	    model=models/placeholder; \
	    echo "run: models/default is missing; using an UNTRAINED random placeholder model" \
	         "($$model): the run works end to end, its accuracy is chance"; \
	    [ -e $$model/config.json ] || $(BUILD)/release/fedpep init-model $$model || exit 1; \
	fi; \
	$(BUILD)/release/fedpep launch configs/default.ini --fresh model.path=$$model \
	    $(if $(CURVE),broker.curve_dir=$(CURVE))

# The default model: USE-lite's TF.js package (fetched by setup.sh) converted to models/default
# (docs/use_lite.md). Deterministic, so it reproduces the committed model byte for byte.
model: all
	$(BUILD)/release/fedpep import-use-lite --to models/default

# The deeper model (models/deep/MODEL.md): distilled from models/default by the shipped recipe,
# 6.2 CPU-hours as shipped with OpenBLAS's AVX-512 kernels (OPENBLAS_CORETYPE=COOPERLAKE on AMD
# Zen 4; about 1.6x more with its Haswell ones; docs/distill.md "Cost"). It writes DEEP_OUT
# (default .cache/deep, so that a rerun never overwrites the committed models/deep with an early
# checkpoint; DEEP_OUT=models/deep to replace it). Resumable: stop it at will (Ctrl-C checkpoints
# first), run it again to continue; DISTILL_FOR=SECONDS stops it after that much CPU time.
DEEP_OUT ?= .cache/deep
model-deep: all
	OPENBLAS_NUM_THREADS=1 $(BUILD)/release/fedpep distill $(DEEP_OUT) \
	    $(if $(DISTILL_FOR),--for $(DISTILL_FOR))

check-reference: all
	@bash scripts/setup.sh --reference
	@bash tests/reference/run.sh

clean:
	rm -rf $(BUILD)
