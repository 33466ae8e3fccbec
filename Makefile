# iris - build the runtime library, the tools, the tests.
#
#   make              library + tools into bin/ (CUDA when nvcc is found, OpenBLAS when installed)
#   make test         build and run the test suite
#   make asan         the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz-smoke   every libFuzzer target for FUZZ_SECONDS each (clang)
#   make CUDA=0       force a CPU-only build;  make BLAS=0  use the built-in GEMM only
#   make CC=clang     any C11 compiler
#
# Sources are found by convention, so adding a file needs no edit here:
#   <dir>/*.c              library code (core/, core/cpu/, cli/, models)
#   <dir>/main_<tool>.c    a command-line tool -> bin/<tool>
#   tests/*.c              the test binary bin/test_iris
#   bench/bench_<x>.c      a benchmark -> bin/bench_<x>
#   fuzz/fuzz_<x>.c        a libFuzzer target -> bin/fuzz_<x>
#   samples/<x>.c          a sample program of the API -> bin/sample_<x>
#   cuda/*.cu              the CUDA backend (CUDA=1)

CC ?= cc
NVCC ?= nvcc
VARIANT ?= release

ifeq ($(origin CUDA), undefined)
  CUDA := $(if $(shell command -v $(NVCC) 2>/dev/null),1,0)
endif
ifeq ($(origin BLAS), undefined)
  BLAS := $(if $(wildcard /usr/include/x86_64-linux-gnu/cblas.h /usr/include/cblas.h /usr/include/openblas/cblas.h),1,0)
endif

# objects of differently configured builds never mix
BUILD := build/$(VARIANT)-cuda$(CUDA)-blas$(BLAS)

OPT ?= -O2
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -pthread -I.
CFLAGS += $(OPT) -g $(CFLAGS_BASE) -MMD -MP
LDLIBS += -lpng -ljpeg -lwebp -lwebpdemux -ltiff -lcjson -lz -lm -pthread

ifeq ($(BLAS),1)
  CFLAGS += -DIRIS_WITH_OPENBLAS
  LDLIBS += -lopenblas
endif

ifeq ($(VARIANT),asan)
  CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

MODEL_DIRS := core core/cpu cli clip unet vae diffusion vision llama
ALL_C := $(foreach d,$(MODEL_DIRS),$(wildcard $(d)/*.c))
TOOL_C := $(foreach d,$(MODEL_DIRS),$(wildcard $(d)/main_*.c))
LIB_C := $(filter-out $(TOOL_C),$(ALL_C))
TEST_C := $(wildcard tests/*.c)
BENCH_C := $(wildcard bench/bench_*.c)
SAMPLE_C := $(wildcard samples/*.c)
FUZZ_C := $(wildcard fuzz/fuzz_*.c)
CUDA_CU := $(wildcard cuda/*.cu)

LIB_O := $(LIB_C:%.c=$(BUILD)/%.o)
ifeq ($(CUDA),1)
  CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(shell command -v $(NVCC))))
  CFLAGS += -DIRIS_WITH_CUDA
  NVCCFLAGS ?= -O2 -std=c++17 -I. -DIRIS_WITH_CUDA -Xcompiler -Wall \
      -gencode arch=compute_80,code=sm_80 -gencode arch=compute_89,code=sm_89 \
      -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
  LIB_O += $(CUDA_CU:%.cu=$(BUILD)/%.o)
  LDLIBS += -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/targets/x86_64-linux/lib -lcublas -lcudart -lstdc++
endif

LIB := $(BUILD)/libiris.a
TOOLS := $(foreach f,$(TOOL_C),bin/$(patsubst main_%.c,%,$(notdir $(f))))
BENCHES := $(BENCH_C:bench/%.c=bin/%)
SAMPLES := $(SAMPLE_C:samples/%.c=bin/sample_%)

.PHONY: all tools test asan fuzz fuzz-smoke bench clean
all: $(LIB) $(TOOLS) bin/test_iris $(BENCHES) $(SAMPLES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# data the assembler embeds with .incbin (clip/vocab_data.c)
$(BUILD)/clip/vocab_data.o: clip/vocab/merges.txt

$(BUILD)/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(LIB): $(LIB_O)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

define tool_rule
bin/$(patsubst main_%.c,%,$(notdir $(1))): $(BUILD)/$(1:.c=.o) $(LIB)
	@mkdir -p bin
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach f,$(TOOL_C),$(eval $(call tool_rule,$(f))))

bin/test_iris$(TEST_SUFFIX): $(TEST_C:%.c=$(BUILD)/%.o) $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/bench_%: $(BUILD)/bench/bench_%.o $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bin/sample_%: $(BUILD)/samples/%.o $(LIB)
	@mkdir -p bin
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test: bin/test_iris$(TEST_SUFFIX) $(TOOLS)
	./bin/test_iris$(TEST_SUFFIX) $(T)

# The sanitizer build lives in build/asan and its own test binary.
asan:
	$(MAKE) VARIANT=asan OPT=-O1 CUDA=0 TEST_SUFFIX=_asan bin/test_iris_asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 ./bin/test_iris_asan $(T)

# libFuzzer targets: clang, sanitizers, library built for fuzzing in build/fuzz.
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined $(CFLAGS_BASE) -DIRIS_FUZZ
fuzz: $(FUZZ_C:fuzz/%.c=bin/%)
bin/fuzz_%: fuzz/fuzz_%.c $(filter-out core/cpu/%,$(filter core/%,$(LIB_C))) $(wildcard core/cpu/*.c)
	@mkdir -p bin
	clang $(FUZZ_CFLAGS) -o $@ $^ -lpng -ljpeg -lwebp -lwebpdemux -ltiff -lcjson -lz -lm
# the CLIP prompt target also needs clip/ and the Unicode tables in llama/
bin/fuzz_clip_prompt: $(wildcard clip/*.c) llama/unicode.c llama/unicode_tables.c | clip/vocab/merges.txt
bin/fuzz_sd_weights: $(wildcard clip/*.c unet/*.c vae/*.c) $(filter-out diffusion/main_%,$(wildcard diffusion/*.c)) llama/unicode.c llama/unicode_tables.c | clip/vocab/merges.txt
bin/fuzz_yolo: $(wildcard vision/yolo_*.c)
bin/fuzz_mmproj: clip/transformer.c clip/mha.c $(wildcard vision/llava*.c vision/minigptv2*.c vision/mmproj.c)
fuzz-smoke: fuzz
	@set -e; for f in $(FUZZ_C:fuzz/%.c=%); do \
	  mkdir -p build/fuzz-corpus/$$f; \
	  echo "fuzz $$f for $(FUZZ_SECONDS)s"; \
	  ./bin/$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
	     build/fuzz-corpus/$$f fuzz/seeds/$$f 2>&1 | tail -n 3; \
	done

bench: $(BENCHES)

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
