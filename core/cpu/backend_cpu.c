/* backend_cpu.c - the CPU backend table: host memory, the arena region, SIMD choice. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu.h"

static int simd_level = -1;

void iris_cpu_simd_refresh(void) {
    int best = IRIS_SIMD_SCALAR;
#if defined(IRIS_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = IRIS_SIMD_AVX2;
    if (best == IRIS_SIMD_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        best = IRIS_SIMD_AVX512;
#endif
    const char *cap = getenv("IRIS_SIMD");
    if (cap) {
        int want = !strcmp(cap, "scalar") ? IRIS_SIMD_SCALAR : !strcmp(cap, "avx2") ? IRIS_SIMD_AVX2 : best;
        if (want < best) best = want;
    }
    simd_level = best;
}

int iris_cpu_simd(void) {
    if (simd_level < 0) iris_cpu_simd_refresh();
    return simd_level;
}

static void *cpu_alloc(size_t n) {
    /* 64-byte alignment for AVX-512 loads; round size up as aligned_alloc requires */
    return aligned_alloc(64, (n + 63) & ~(size_t)63);
}

static void cpu_free(void *p) { free(p); }

/* The arena is reserved address space: pages are only backed when touched,
   so a generous reservation costs nothing until a pass needs it. */
static void *cpu_reserve(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void cpu_unreserve(void *p, size_t n) {
    if (p) munmap(p, n);
}

static iris_status cpu_copy(void *dst, const void *src, size_t n) {
    if (n) memmove(dst, src, n);
    return IRIS_OK;
}

static iris_status cpu_sync(void *state) {
    (void)state;
    return IRIS_OK; /* CPU ops finish before they return */
}

static iris_status cpu_state_new(void **out, int n_threads) {
    iris_cpu *cpu = calloc(1, sizeof *cpu);
    if (!cpu) return iris_fail(IRIS_ERR_NOMEM, "cpu backend: out of memory");
    iris_status st = iris_pool_new(&cpu->pool, n_threads);
    if (st) { free(cpu); return st; }
    cpu->n_threads = iris_pool_size(cpu->pool);
    cpu->scratch = calloc((size_t)cpu->n_threads, sizeof *cpu->scratch);
    cpu->scratch_size = calloc((size_t)cpu->n_threads, sizeof *cpu->scratch_size);
    if (!cpu->scratch || !cpu->scratch_size) {
        iris_pool_free(cpu->pool);
        free(cpu->scratch);
        free(cpu->scratch_size);
        free(cpu);
        return iris_fail(IRIS_ERR_NOMEM, "cpu backend: out of memory");
    }
    *out = cpu;
    return IRIS_OK;
}

static void cpu_state_free(void *state) {
    iris_cpu *cpu = state;
    if (!cpu) return;
    iris_pool_free(cpu->pool);
    for (int i = 0; i < cpu->n_threads; i++) free(cpu->scratch[i]);
    free(cpu->scratch);
    free(cpu->scratch_size);
    free(cpu);
}

void *iris_cpu_scratch(iris_cpu *cpu, int tid, size_t bytes) {
    if (cpu->scratch_size[tid] >= bytes) return cpu->scratch[tid];
    free(cpu->scratch[tid]);
    cpu->scratch[tid] = cpu_alloc(bytes);
    cpu->scratch_size[tid] = cpu->scratch[tid] ? bytes : 0;
    return cpu->scratch[tid];
}

const iris_backend iris_cpu_backend = {
    .name = "cpu",
    .device = IRIS_CPU,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .reserve = cpu_reserve,
    .unreserve = cpu_unreserve,
    .upload = cpu_copy,
    .download = cpu_copy,
    .move = cpu_copy,
    .sync = cpu_sync,
    .state_new = cpu_state_new,
    .state_free = cpu_state_free,
    .ops =
        {
            [IRIS_OP_COPY] = iris_cpu_copy,
            [IRIS_OP_LINEAR] = iris_cpu_linear,
            [IRIS_OP_MATMUL] = iris_cpu_matmul,
            [IRIS_OP_CONV2D] = iris_cpu_conv2d,
            [IRIS_OP_POOL2D] = iris_cpu_pool2d,
            [IRIS_OP_UPSAMPLE] = iris_cpu_upsample,
            [IRIS_OP_GROUP_NORM] = iris_cpu_group_norm,
            [IRIS_OP_LAYER_NORM] = iris_cpu_layer_norm,
            [IRIS_OP_RMS_NORM] = iris_cpu_rms_norm,
            [IRIS_OP_SOFTMAX] = iris_cpu_softmax,
            [IRIS_OP_ATTENTION] = iris_cpu_attention,
            [IRIS_OP_UNARY] = iris_cpu_unary,
            [IRIS_OP_BINARY] = iris_cpu_binary,
            [IRIS_OP_CONCAT] = iris_cpu_concat,
            [IRIS_OP_ROPE] = iris_cpu_rope,
            [IRIS_OP_GET_ROWS] = iris_cpu_get_rows,
        },
};
