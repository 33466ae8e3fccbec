/* test_cuda.c - the CUDA backend against the CPU backend (skipped without a GPU).
   Reference: the same op on the CPU backend, itself checked against PyTorch in test_ops_eltwise.c. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#ifdef IRIS_WITH_CUDA
#include "../cuda/cuda.h"
#endif

TEST(cuda_context_without_gpu_fails_cleanly) {
    iris_ctx *ctx = NULL;
    iris_ctx_params p = iris_ctx_default_params();
    p.device = IRIS_CUDA;
#ifdef IRIS_WITH_CUDA
    if (iris_cuda_device_count() > 0) SKIP("a GPU is present (covered by cuda_unary_matches_cpu)");
    CHECK(iris_ctx_create(&ctx, &p) == IRIS_ERR_DEVICE);
    CHECK(strstr(iris_last_error(), "no CUDA device") != NULL);
#else
    CHECK(iris_ctx_create(&ctx, &p) == IRIS_ERR_UNSUPPORTED);
    CHECK(strstr(iris_last_error(), "CUDA=1") != NULL);
#endif
    CHECK(ctx == NULL);
}

TEST(cuda_unary_matches_cpu) {
#ifndef IRIS_WITH_CUDA
    SKIP("built without CUDA");
#else
    if (iris_cuda_device_count() == 0) SKIP("no CUDA device");
    iris_cuda_device_info info;
    CHECK_OK(iris_cuda_device_query(0, &info));
    printf("    device: %s, %d SMs, cc %d.%d, %zu MiB\n", info.name, info.sm_count, info.cc_major, info.cc_minor,
           info.total_mem >> 20);
    iris_ctx *gpu;
    iris_ctx_params p = iris_ctx_default_params();
    p.device = IRIS_CUDA;
    p.arena_bytes = (size_t)256 << 20;
    CHECK_OK(iris_ctx_create(&gpu, &p));
    iris_ctx *cpu = test_ctx(2);
    int64_t sh[3] = {3, 17, 129};
    int64_t n = 3 * 17 * 129;
    float *x = malloc((size_t)n * sizeof *x);
    srand(7);
    for (int64_t i = 0; i < n; i++) x[i] = ((float)rand() / RAND_MAX - 0.5f) * 12.f;
    static const iris_act acts[] = {IRIS_ACT_RELU, IRIS_ACT_SILU, IRIS_ACT_GELU, IRIS_ACT_GELU_TANH,
                                    IRIS_ACT_SIGMOID, IRIS_ACT_MISH, IRIS_ACT_LEAKY};
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        iris_ctx_reset(gpu);
        iris_ctx_reset(cpu);
        iris_tensor *xg = iris_ctx_upload(gpu, IRIS_F32, 3, sh, x);
        iris_tensor *xc = iris_ctx_upload(cpu, IRIS_F32, 3, sh, x);
        /* a strided view too: the kernel must honour strides */
        iris_tensor *yg = iris_unary(gpu, iris_transpose(gpu, xg, 0, 1), acts[a], 0.1f);
        iris_tensor *yc = iris_unary(cpu, iris_transpose(cpu, xc, 0, 1), acts[a], 0.1f);
        CHECK_OK(iris_ctx_sync(gpu));
        CHECK_OK(iris_ctx_status(gpu));
        float *g = test_read_f32(yg), *c = test_read_f32(yc);
        CHECK_CLOSE(g, c, n, 1e-5, 1e-5);
        free(g);
        free(c);
    }
    free(x);
    iris_ctx_free(gpu);
#endif
}
