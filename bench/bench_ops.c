/* bench_ops.c - GFLOP/s of the GEMM behind linear/conv and of iris_conv2d on ResNet-50 layers.

   Compares, on 1 and 2 threads: the built-in GEMM kernel, iris_cpu_sgemm through OpenBLAS
   (one single-threaded OpenBLAS call per thread of our pool), and OpenBLAS's own
   cblas_sgemm with its own threads, the peak reference. Results go to docs/BENCHMARKS.md.

       make CUDA=0 bin/bench_ops && nice ./bin/bench_ops [seconds per case, default 0.25] [gemm|conv]

   Debian's OpenBLAS 0.3.21 does not recognise Sapphire/Emerald Rapids and runs SSE3 kernels
   there; OPENBLAS_CORETYPE=SkylakeX in the environment gives it its AVX-512 ones.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/cpu/cpu.h"
#include "../core/iris.h"

#ifdef IRIS_WITH_OPENBLAS
#include <cblas.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double budget = 0.25; /* seconds per measurement */

static float *rand_buf(int64_t n) {
    float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (int64_t i = 0; i < n; i++) p[i] = (float)((double)rand() / RAND_MAX - 0.5);
    return p;
}

typedef struct {
    const char *name;
    int64_t M, N, K;
    int trans_b;
} gemm_case;

enum { IMPL_BUILTIN, IMPL_IRIS_BLAS, IMPL_CBLAS, N_IMPL };

/* Best-of-runs GFLOP/s for one implementation: warm up once, then repeat until the budget is spent. */
static double time_gemm(int impl, iris_cpu *cpu, const gemm_case *g, const float *A, const float *B, float *C) {
    int64_t lda = g->K, ldb = g->trans_b ? g->K : g->N, ldc = g->N;
    double best = 1e30, spent = 0;
    for (int rep = 0; rep < 1000 && (rep < 3 || spent < budget); rep++) {
        double t0 = now();
        if (impl == IMPL_CBLAS) {
#ifdef IRIS_WITH_OPENBLAS
            cblas_sgemm(CblasRowMajor, CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans, (int)g->M, (int)g->N,
                        (int)g->K, 1.0f, A, (int)lda, B, (int)ldb, 0.0f, C, (int)ldc);
#endif
        } else {
            iris_cpu_sgemm(cpu, g->trans_b, g->M, g->N, g->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        }
        double dt = now() - t0;
        if (rep > 0 && dt < best) best = dt; /* rep 0 warms caches and scratch */
        spent += dt;
    }
    return 2.0 * (double)g->M * (double)g->N * (double)g->K / best * 1e-9;
}

static void bench_gemm(int nth) {
    static const gemm_case cases[] = {
        {"square 256", 256, 256, 256, 0},
        {"square 512", 512, 512, 512, 0},
        {"square 1024", 1024, 1024, 1024, 0},
        {"square 2048", 2048, 2048, 2048, 0},
        {"linear 77x768->3072 (B^T)", 77, 3072, 768, 1},
        {"linear 4096x320->1280 (B^T)", 4096, 1280, 320, 1},
        {"gemv 1x4096->4096 (B^T)", 1, 4096, 4096, 1},
        {"conv 64x576 @ 576x3136", 64, 3136, 576, 0},
        {"conv 512x4608 @ 4608x49", 512, 49, 4608, 0},
    };
    void *state;
    if (iris_cpu_backend.state_new(&state, nth)) { fprintf(stderr, "%s\n", iris_last_error()); exit(1); }
    iris_cpu *cpu = state;
    printf("\nGEMM, %d thread%s: GFLOP/s (ratio to cblas_sgemm)\n", nth, nth > 1 ? "s" : "");
    printf("%-30s %16s %16s %10s\n", "case (M x K @ K x N)", "built-in", "iris+OpenBLAS", "cblas");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gemm_case *g = &cases[i];
        float *A = rand_buf(g->M * g->K), *B = rand_buf(g->K * g->N), *C = rand_buf(g->M * g->N);
        double r[N_IMPL] = {0};
        iris_cpu_sgemm_select(IRIS_GEMM_BUILTIN);
        r[IMPL_BUILTIN] = time_gemm(IMPL_BUILTIN, cpu, g, A, B, C);
#ifdef IRIS_WITH_OPENBLAS
        iris_cpu_sgemm_select(IRIS_GEMM_OPENBLAS);
        r[IMPL_IRIS_BLAS] = time_gemm(IMPL_IRIS_BLAS, cpu, g, A, B, C);
        openblas_set_num_threads(nth);
        r[IMPL_CBLAS] = time_gemm(IMPL_CBLAS, cpu, g, A, B, C);
        openblas_set_num_threads(1);
#endif
        double peak = r[IMPL_CBLAS] > 0 ? r[IMPL_CBLAS] : 1;
        printf("%-30s %7.1f (%5.2f) %7.1f (%5.2f) %10.1f\n", g->name, r[IMPL_BUILTIN], r[IMPL_BUILTIN] / peak,
               r[IMPL_IRIS_BLAS], r[IMPL_IRIS_BLAS] / peak, r[IMPL_CBLAS]);
        free(A), free(B), free(C);
    }
    iris_cpu_backend.state_free(state);
}

typedef struct {
    const char *name;
    int64_t C, H, W, O, k;
    int stride, pad;
} conv_case;

static double time_conv(iris_ctx *ctx, iris_tensor *x, iris_tensor *w, iris_tensor *b, iris_conv2d_params p,
                        double flops) {
    double best = 1e30, spent = 0;
    for (int rep = 0; rep < 1000 && (rep < 3 || spent < budget); rep++) {
        iris_mark m = iris_ctx_mark(ctx);
        double t0 = now();
        iris_tensor *y = iris_conv2d(ctx, x, w, b, p);
        double dt = now() - t0;
        if (!y) { fprintf(stderr, "conv2d: %s\n", iris_last_error()); exit(1); }
        iris_ctx_release(ctx, m);
        if (rep > 0 && dt < best) best = dt;
        spent += dt;
    }
    return flops / best * 1e-9;
}

static void bench_conv(int nth) {
    static const conv_case cases[] = {
        {"stem 7x7/2 3->64 @224", 3, 224, 224, 64, 7, 2, 3},
        {"3x3 64->64 @56", 64, 56, 56, 64, 3, 1, 1},
        {"1x1 256->64 @56", 256, 56, 56, 64, 1, 1, 0},
        {"1x1 64->256 @56", 64, 56, 56, 256, 1, 1, 0},
        {"1x1/2 256->512 @56", 256, 56, 56, 512, 1, 2, 0},
        {"3x3 128->128 @28", 128, 28, 28, 128, 3, 1, 1},
        {"3x3 256->256 @14", 256, 14, 14, 256, 3, 1, 1},
        {"3x3 512->512 @7", 512, 7, 7, 512, 3, 1, 1},
        {"1x1 2048->512 @7", 2048, 7, 7, 512, 1, 1, 0},
    };
    iris_ctx_params cp = iris_ctx_default_params();
    cp.n_threads = nth;
    iris_ctx *ctx;
    if (iris_ctx_create(&ctx, &cp)) { fprintf(stderr, "%s\n", iris_last_error()); exit(1); }
    printf("\nconv2d (ResNet-50 layers, batch 1, bias + ReLU fused), %d thread%s: GFLOP/s (ratio to cblas_sgemm "
           "on the same GEMM shape)\n", nth, nth > 1 ? "s" : "");
    printf("%-26s %8s %16s %16s %10s\n", "layer", "MFLOP", "built-in", "iris+OpenBLAS", "cblas GEMM");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *cc = &cases[i];
        iris_ctx_reset(ctx);
        int64_t xs[4] = {1, cc->C, cc->H, cc->W}, ws[4] = {cc->O, cc->C, cc->k, cc->k}, bs[1] = {cc->O};
        int64_t Ho = (cc->H + 2 * cc->pad - cc->k) / cc->stride + 1, Wo = (cc->W + 2 * cc->pad - cc->k) / cc->stride + 1;
        int64_t K = cc->C * cc->k * cc->k, P = Ho * Wo;
        float *xd = rand_buf(cc->C * cc->H * cc->W), *wd = rand_buf(cc->O * K), *bd = rand_buf(cc->O);
        iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 4, xs, xd), *w = iris_ctx_upload(ctx, IRIS_F32, 4, ws, wd);
        iris_tensor *b = iris_ctx_upload(ctx, IRIS_F32, 1, bs, bd);
        iris_conv2d_params p = iris_conv(cc->stride, cc->pad);
        p.act = IRIS_ACT_RELU;
        double flops = 2.0 * (double)cc->O * (double)K * (double)P, r[N_IMPL] = {0};
        iris_cpu_sgemm_select(IRIS_GEMM_BUILTIN);
        r[IMPL_BUILTIN] = time_conv(ctx, x, w, b, p, flops);
#ifdef IRIS_WITH_OPENBLAS
        iris_cpu_sgemm_select(IRIS_GEMM_OPENBLAS);
        r[IMPL_IRIS_BLAS] = time_conv(ctx, x, w, b, p, flops);
        gemm_case g = {"", cc->O, P, K, 0};
        float *A = rand_buf(cc->O * K), *B = rand_buf(K * P), *C = rand_buf(cc->O * P);
        openblas_set_num_threads(nth);
        r[IMPL_CBLAS] = time_gemm(IMPL_CBLAS, NULL, &g, A, B, C);
        openblas_set_num_threads(1);
        free(A), free(B), free(C);
#endif
        iris_cpu_sgemm_select(IRIS_GEMM_AUTO);
        double peak = r[IMPL_CBLAS] > 0 ? r[IMPL_CBLAS] : 1;
        printf("%-26s %8.0f %7.1f (%5.2f) %7.1f (%5.2f) %10.1f\n", cc->name, flops * 1e-6, r[IMPL_BUILTIN],
               r[IMPL_BUILTIN] / peak, r[IMPL_IRIS_BLAS], r[IMPL_IRIS_BLAS] / peak, r[IMPL_CBLAS]);
        free(xd), free(wd), free(bd);
    }
    iris_ctx_free(ctx);
}

int main(int argc, char **argv) {
    if (argc > 1) budget = atof(argv[1]);
    if (budget <= 0) budget = 0.25;
#ifdef IRIS_WITH_OPENBLAS
    printf("OpenBLAS: %s (core %s)\n", openblas_get_config(), openblas_get_corename());
#else
    printf("built without OpenBLAS: only the built-in kernel is measured\n");
#endif
    const char *simd[] = {"scalar", "avx2", "avx512"};
    printf("SIMD level: %s\n", simd[iris_cpu_simd()]);
    int only_conv = argc > 2 && !strcmp(argv[2], "conv"), only_gemm = argc > 2 && !strcmp(argv[2], "gemm");
    for (int nth = 1; nth <= 2; nth++) {
        if (!only_conv) bench_gemm(nth);
        if (!only_gemm) bench_conv(nth);
    }
    return 0;
}
