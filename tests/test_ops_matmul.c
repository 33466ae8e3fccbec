/* test_ops_matmul.c - linear, matmul and the GEMM under them.

   References: PyTorch (tests/ref/gen_ops_matmul.py: F.linear and torch.matmul in float64 on the
   same inputs) for the ops; a float64 triple loop for iris_cpu_sgemm on larger shapes that cross
   every blocking boundary. Each case runs on every SIMD path (scalar, avx2, best) x {1, 2} threads
   x {built-in GEMM, OpenBLAS}.

   Tolerances: f32 sums of K products of values in [-1, 1] have rounding error around
   sqrt(K) * 6e-8 * |sum of |products|| -- about 1e-6 for the K <= 513 here -- so 1e-4 absolute
   and relative leaves a wide margin while still catching any wrong element (errors of a
   missing or doubled term are >= 1e-3). */
#include <stdlib.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/cpu/cpu.h"
#include "test.h"

#define REF "ops_matmul.safetensors"

#include "gemm_ref.h"


/* ---- iris_cpu_sgemm against float64 ---- */

static float frand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

typedef struct {
    int64_t M, N, K;
    int trans_b;
    float alpha, beta;
} gemm_shape;

static void gemm_check(iris_cpu *cpu, const gemm_shape *g, int single, const char *what) {
    uint32_t seed = (uint32_t)(g->M * 131 + g->N * 7 + g->K);
    int64_t lda = g->K + 3, ldb = (g->trans_b ? g->K : g->N) + 5, ldc = g->N + 2; /* padded rows */
    int64_t brows = g->trans_b ? g->N : g->K;
    float *A = malloc(sizeof(float) * (size_t)(g->M * lda)), *B = malloc(sizeof(float) * (size_t)(brows * ldb));
    float *C = malloc(sizeof(float) * (size_t)(g->M * ldc)), *want = malloc(sizeof(float) * (size_t)(g->M * g->N));
    float *got = malloc(sizeof(float) * (size_t)(g->M * g->N));
    for (int64_t i = 0; i < g->M * lda; i++) A[i] = frand(&seed);
    for (int64_t i = 0; i < brows * ldb; i++) B[i] = frand(&seed);
    for (int64_t i = 0; i < g->M * ldc; i++) C[i] = g->beta == 0 ? NAN : frand(&seed); /* beta 0 must not read C */
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            double s = 0;
            for (int64_t k = 0; k < g->K; k++)
                s += (double)A[i * lda + k] * (g->trans_b ? B[j * ldb + k] : B[k * ldb + j]);
            want[i * g->N + j] = (float)(g->alpha * s + (g->beta == 0 ? 0 : g->beta * (double)C[i * ldc + j]));
        }
    if (single) {
        size_t wb = iris_cpu_sgemm_work_bytes(g->M, g->N, g->K);
        void *work = single == 2 ? NULL : aligned_alloc(64, (wb + 63) / 64 * 64);
        iris_cpu_sgemm_1t(g->trans_b, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta, C, ldc, work);
        free(work);
    } else {
        iris_cpu_sgemm(cpu, g->trans_b, g->M, g->N, g->K, g->alpha, A, lda, B, ldb, g->beta, C, ldc);
    }
    for (int64_t i = 0; i < g->M; i++) memcpy(got + i * g->N, C + i * ldc, sizeof(float) * (size_t)g->N);
    char msg[200];
    snprintf(msg, sizeof msg, "sgemm %lldx%lldx%lld%s a%g b%g %s%s", (long long)g->M, (long long)g->N,
             (long long)g->K, g->trans_b ? " B^T" : "", g->alpha, g->beta, what,
             single == 2 ? " (no work)" : single ? " (1t)" : "");
    double tol = 2e-6 * (double)(g->K + 10);
    test_close(got, want, g->M * g->N, tol, 1e-5, __FILE__, __LINE__, msg);
    free(A), free(B), free(C), free(want), free(got);
}

TEST(sgemm_matches_float64) {
    static const gemm_shape shapes[] = {
        {1, 1, 1, 0, 1, 0},       {7, 17, 33, 0, 1, 0},     {13, 29, 65, 1, 1, 0},   {1, 127, 300, 1, 1, 0},
        {3, 65, 17, 1, 0.5f, 2},  {4, 33, 127, 0, 1, 0},    {65, 1, 7, 0, 1, 0.5f},  {25, 37, 1, 1, -1, 1},
        {12, 32, 256, 0, 1, 0},   {24, 64, 257, 1, 2, 0.25f}, {193, 1030, 260, 0, 1, 0}, {257, 70, 513, 1, 1, 1},
        {5, 9, 0, 0, 1, 0.5f},
    };
    for (int th = 1; th <= 2; th++) {
        void *state;
        CHECK_OK(iris_cpu_backend.state_new(&state, th));
        for (int si = 0; si < 3; si++)
            for (int gi = 0; gi < 2; gi++) {
                set_path(simd_caps[si], gemm_impls[gi]);
                char what[64];
                snprintf(what, sizeof what, "%s/%s/%dt", simd_caps[si] ? simd_caps[si] : "best",
                         gi ? "openblas" : "builtin", th);
                for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
                    int small = shapes[i].M * shapes[i].N * shapes[i].K < 1000000;
                    gemm_check(state, &shapes[i], 0, what);
                    if (th == 1) gemm_check(state, &shapes[i], 1, what);
                    if (th == 1 && small && gi == 0) gemm_check(state, &shapes[i], 2, what);
                }
            }
        iris_cpu_backend.state_free(state);
    }
    restore_path();
}

/* ---- linear ---- */

static void linear_case(iris_ctx *ctx, const char *name, int wdt, iris_act act, float alpha, const char *what) {
    iris_tensor *x = part(ctx, "lin", name, "x", -1), *w = part(ctx, "lin", name, "w", wdt);
    iris_tensor *b = part(ctx, "lin", name, "b", wdt == IRIS_BF16 ? IRIS_BF16 : -1);
    if (!strcmp(name, "f16")) b = part(ctx, "lin", name, "b", -1); /* f32 bias with f16 weights */
    iris_tensor *y = iris_linear_act(ctx, x, w, b, act, alpha);
    check_y(y, "lin", name, 1e-4, what);
}

TEST(linear_matches_torch) {
    FOR_PATHS({
        linear_case(ctx, "small", -1, IRIS_ACT_NONE, 0, what);
        linear_case(ctx, "gemv", -1, IRIS_ACT_NONE, 0, what);
        linear_case(ctx, "gemv4", -1, IRIS_ACT_NONE, 0, what);
        linear_case(ctx, "tall", -1, IRIS_ACT_NONE, 0, what);
        linear_case(ctx, "deepk", -1, IRIS_ACT_NONE, 0, what);
        linear_case(ctx, "k1", -1, IRIS_ACT_NONE, 0, what);
    })
}

TEST(linear_f16_bf16_weights_match_torch) {
    FOR_PATHS({
        linear_case(ctx, "f16", -1, IRIS_ACT_NONE, 0, what);
        linear_case(ctx, "f16_gemv", -1, IRIS_ACT_NONE, 0, what);
        linear_case(ctx, "bf16", IRIS_BF16, IRIS_ACT_NONE, 0, what);
    })
}

TEST(linear_fused_activation_matches_torch) {
    FOR_PATHS({
        linear_case(ctx, "relu", -1, IRIS_ACT_RELU, 0, what);
        linear_case(ctx, "gelu", -1, IRIS_ACT_GELU, 0, what);
        linear_case(ctx, "silu", -1, IRIS_ACT_SILU, 0, what);
        linear_case(ctx, "leaky", -1, IRIS_ACT_LEAKY, 0.1f, what);
    })
}

/* Contiguous copy of t with dims d0 and d1 swapped in memory, returned as a view with t's logical
   shape: same values, non-contiguous strides. */
static iris_tensor *strided_copy(iris_ctx *ctx, const iris_tensor *t, int d0, int d1) {
    float *v = test_read_f32(t);
    if (!v) return NULL;
    iris_tensor *p = iris_ctx_tensor(ctx, IRIS_F32, t->ndim, t->ne);
    if (!p) { free(v); return NULL; }
    int64_t sh[4];
    for (int d = 0; d < t->ndim; d++) sh[d] = t->ne[d];
    sh[d0] = t->ne[d1], sh[d1] = t->ne[d0];
    iris_tensor *q = iris_reshape(ctx, p, t->ndim, sh);
    if (!q) { free(v); return NULL; }
    /* element at logical index i of t goes to the swapped index of q */
    int64_t n = iris_nelements(t), idx[4];
    for (int64_t e = 0; e < n; e++) {
        int64_t r = e;
        for (int d = t->ndim - 1; d >= 0; d--) idx[d] = r % t->ne[d], r /= t->ne[d];
        int64_t tmp = idx[d0];
        idx[d0] = idx[d1], idx[d1] = tmp;
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * q->nb[d];
        *(float *)((char *)q->data + off) = v[e];
    }
    free(v);
    return iris_transpose(ctx, q, d0, d1);
}

TEST(linear_strided_inputs) {
    FOR_PATHS({
        /* rows padded (one stride) and outer dims swapped (needs a gather) */
        iris_tensor *x = part(ctx, "lin", "small", "x", -1), *w = part(ctx, "lin", "small", "w", -1);
        iris_tensor *b = part(ctx, "lin", "small", "b", -1);
        iris_tensor *xs = strided_copy(ctx, x, 0, 1);
        CHECK(xs && !iris_is_contiguous(xs));
        check_y(iris_linear(ctx, xs, w, b), "lin", "small", 1e-4, what);
        iris_tensor *x2 = part(ctx, "lin", "tall", "x", -1);
        int64_t wide[2] = {x2->ne[0], x2->ne[1] + 9};
        iris_tensor *pad = iris_ctx_tensor(ctx, IRIS_F32, 2, wide);
        for (int64_t r = 0; r < x2->ne[0]; r++)
            memcpy((char *)pad->data + r * pad->nb[0], (char *)x2->data + r * x2->nb[0], (size_t)x2->nb[0]);
        iris_tensor *xp = iris_narrow(ctx, pad, 1, 0, x2->ne[1]);
        CHECK(xp && !iris_is_contiguous(xp));
        check_y(iris_linear(ctx, xp, part(ctx, "lin", "tall", "w", -1), part(ctx, "lin", "tall", "b", -1)), "lin",
                "tall", 1e-4, what);
    })
}

/* ---- matmul ---- */

static void matmul_case(iris_ctx *ctx, const char *name, int trans_b, const char *what) {
    iris_tensor *y = iris_matmul(ctx, part(ctx, "mm", name, "a", -1), part(ctx, "mm", name, "b", -1), trans_b);
    check_y(y, "mm", name, 1e-4, what);
}

TEST(matmul_matches_torch) {
    FOR_PATHS({
        matmul_case(ctx, "batched", 0, what);
        matmul_case(ctx, "bcast", 0, what);
        matmul_case(ctx, "bcast_b2d", 0, what);
        matmul_case(ctx, "trans", 1, what);
        matmul_case(ctx, "big", 0, what);
        matmul_case(ctx, "vec", 0, what);
    })
}

TEST(matmul_f16_and_strided) {
    FOR_PATHS({
        matmul_case(ctx, "f16", 1, what);
        /* b^T stored transposed: the kernel flips trans_b instead of copying */
        iris_tensor *a = part(ctx, "mm", "trans", "a", -1), *b = part(ctx, "mm", "trans", "b", -1);
        iris_tensor *bs = strided_copy(ctx, b, 1, 2);
        CHECK(bs && !iris_is_contiguous(bs));
        check_y(iris_matmul(ctx, a, bs, 1), "mm", "trans", 1e-4, what);
        /* a transposed in memory: gathered */
        iris_tensor *a2 = part(ctx, "mm", "batched", "a", -1), *b2 = part(ctx, "mm", "batched", "b", -1);
        iris_tensor *as = strided_copy(ctx, a2, 2, 3), *bs2 = strided_copy(ctx, b2, 0, 1);
        CHECK(as && !iris_is_contiguous(as) && bs2 && !iris_is_contiguous(bs2));
        check_y(iris_matmul(ctx, as, bs2, 0), "mm", "batched", 1e-4, what);
        /* one b for all batches, a strided: batches gathered, then stacked into one product */
        iris_tensor *a3 = strided_copy(ctx, part(ctx, "mm", "bcast_b2d", "a", -1), 1, 2);
        check_y(iris_matmul(ctx, a3, part(ctx, "mm", "bcast_b2d", "b", -1), 0), "mm", "bcast_b2d", 1e-4, what);
    })
}

TEST(matmul_linear_errors) {
    iris_ctx *ctx = test_ctx(1);
    int64_t s23[2] = {2, 3}, s43[2] = {4, 3}, s44[2] = {4, 4}, s5[1] = {5}, s234[3] = {2, 3, 4}, s344[3] = {3, 4, 4};
    iris_tensor *x = iris_ctx_tensor(ctx, IRIS_F32, 2, s23), *w = iris_ctx_tensor(ctx, IRIS_F32, 2, s44);
    CHECK(iris_linear(ctx, x, w, NULL) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_SHAPE);
    CHECK_MSG(strstr(iris_last_error(), "linear") && strstr(iris_last_error(), "f32[4,4]"), "message: %s",
              iris_last_error());
    ctx = test_ctx(1);
    x = iris_ctx_tensor(ctx, IRIS_F32, 2, s23);
    w = iris_ctx_tensor(ctx, IRIS_F32, 2, s43);
    CHECK(iris_linear(ctx, x, w, iris_ctx_tensor(ctx, IRIS_F32, 1, s5)) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "bias"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    CHECK(iris_linear(ctx, NULL, NULL, NULL) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_ARG);
    ctx = test_ctx(1);
    iris_tensor *a = iris_ctx_tensor(ctx, IRIS_F32, 3, s234), *b = iris_ctx_tensor(ctx, IRIS_F32, 3, s344);
    CHECK(iris_matmul(ctx, a, b, 0) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "batch dims"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    a = iris_ctx_tensor(ctx, IRIS_F32, 2, s23);
    b = iris_ctx_tensor(ctx, IRIS_F32, 2, s44);
    CHECK(iris_matmul(ctx, a, b, 0) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "inner dims 3 and 4"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    iris_tensor *xi = iris_ctx_tensor(ctx, IRIS_I32, 2, s23);
    CHECK(iris_linear(ctx, xi, iris_ctx_tensor(ctx, IRIS_F32, 2, s43), NULL) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "must be f32"), "message: %s", iris_last_error());
    test_ctx(1);
}

/* ---- quantized weights ----
   Reference: the weights as iris_dequantize_row decodes them, times x, in float64. With more than
   QDOT_ROWS rows x is used as is (the kernel dequantizes tiles of W), so only f32 rounding separates
   the two; with up to QDOT_ROWS rows x is quantized to 8 bits per block (Q8_0 or Q8_K), each element
   off by at most half a step, amax/254 of its block, and the bound below adds that up per output.
   There every output must also be, bit for bit, iris_vec_dot of its weight row and quantized x row
   (llama's exact mode relies on it). QDOT_ROWS is core/cpu/linear.c's QDOT_MAX_M. */
#define QDOT_ROWS 32

static void quant_case(iris_ctx *ctx, iris_dtype wt, int64_t M, int64_t N, int64_t K, const char *what) {
    uint32_t seed = (uint32_t)(wt * 1000 + M * 31 + K);
    float *x = malloc(sizeof(float) * (size_t)(M * K)), *w = malloc(sizeof(float) * (size_t)(N * K));
    float *wd = malloc(sizeof(float) * (size_t)(N * K)), *want = malloc(sizeof(float) * (size_t)(M * N));
    double *tol = malloc(sizeof(double) * (size_t)(M * N));
    size_t rb = iris_row_bytes(wt, K);
    char *wq = malloc(rb * (size_t)N);
    for (int64_t i = 0; i < M * K; i++) x[i] = frand(&seed);
    for (int64_t i = 0; i < N * K; i++) w[i] = frand(&seed) * 0.1f;
    int ok = 1;
    for (int64_t n = 0; n < N; n++) {
        ok &= iris_quantize_row(wt, w + n * K, wq + n * rb, K) == IRIS_OK;
        iris_dequantize_row(wt, wq + n * rb, wd + n * K, K);
    }
    CHECK_MSG(ok, "quantize %s: %s", iris_dtype_name(wt), iris_last_error());
    int64_t blk = 256;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, t = 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)x[m * K + k] * wd[n * K + k];
                if (M <= QDOT_ROWS) {
                    double amax = 0;
                    int64_t b0 = k / blk * blk;
                    for (int64_t q = b0; q < b0 + blk && q < K; q++) amax = fmax(amax, fabs(x[m * K + q]));
                    t += fabs(wd[n * K + k]) * amax / 254.0;
                }
            }
            want[m * N + n] = (float)s;
            tol[m * N + n] = 1.01 * t + 1e-5 * (1 + fabs(s));
        }
    int64_t xs[2] = {M, K}, ws[2] = {N, K};
    iris_tensor *xt = iris_ctx_upload(ctx, IRIS_F32, 2, xs, x), *wt_ = iris_ctx_upload(ctx, wt, 2, ws, wq);
    iris_tensor *y = iris_linear(ctx, xt, wt_, NULL);
    float *got = test_read_f32(y);
    CHECK_MSG(got != NULL, "linear %s: %s", iris_dtype_name(wt), iris_last_error());
    int64_t bad = 0, worst = -1;
    for (int64_t i = 0; got && i < M * N; i++)
        if (!(fabs(got[i] - want[i]) <= tol[i])) {
            if (worst < 0) worst = i;
            bad++;
        }
    CHECK_MSG(got && !bad, "linear %s M=%lld N=%lld K=%lld %s: %lld off, first [%lld] got %g want %g tol %g",
              iris_dtype_name(wt), (long long)M, (long long)N, (long long)K, what, (long long)bad, (long long)worst,
              worst >= 0 ? got[worst] : 0, worst >= 0 ? want[worst] : 0, worst >= 0 ? tol[worst] : 0);
    if (got && M <= QDOT_ROWS) {
        const iris_dtype vt = iris_vec_dot_type(wt);
        char *xq = malloc(iris_row_bytes(vt, K));
        int64_t differ = 0;
        for (int64_t m = 0; m < M; m++) {
            CHECK_OK(iris_quantize_row_dot(vt, x + m * K, xq, K));
            for (int64_t n = 0; n < N; n++) {
                const float one = iris_vec_dot(wt, K, wq + n * rb, xq);
                differ += memcmp(&one, &got[m * N + n], sizeof one) != 0;
            }
        }
        CHECK_MSG(!differ, "linear %s M=%lld %s: %lld outputs differ from iris_vec_dot", iris_dtype_name(wt),
                  (long long)M, what, (long long)differ);
        free(xq);
    }
    free(x), free(w), free(wd), free(want), free(tol), free(wq), free(got);
}

TEST(linear_quantized_weights) {
    static const iris_dtype types[] = {IRIS_Q4_0, IRIS_Q5_1, IRIS_Q8_0, IRIS_Q4_K, IRIS_Q6_K, IRIS_Q2_K};
    FOR_PATHS({
        for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
            int64_t K = iris_dtype_get(types[t])->block_size == 256 ? 512 : 96;
            quant_case(ctx, types[t], 1, 37, K, what);
            quant_case(ctx, types[t], 3, 37, K, what);
            quant_case(ctx, types[t], 7, 37, K, what);
            quant_case(ctx, types[t], 32, 37, K, what);
            quant_case(ctx, types[t], 33, 37, K, what);
        }
    })
}

/* Products large enough for one GEMM call per thread (linear.c big_tiles: M >= 512 on OpenBLAS),
   with F32 and F16 weights, bias and an activation, against a float64 loop; and the same with the
   256 x 256 tiles forced, which must agree with it to rounding. */
TEST(linear_large_products_match_float64) {
    const int64_t M = 600, N = 272, K = 96;
    uint32_t seed = 3;
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
    iris_half *wh = malloc(sizeof(iris_half) * N * K);
    float *want = malloc(sizeof(float) * M * N);
    for (int64_t i = 0; i < M * K; i++) x[i] = frand(&seed);
    for (int64_t i = 0; i < N * K; i++) wh[i] = iris_f32_to_f16(frand(&seed)), w[i] = iris_f16_to_f32(wh[i]);
    for (int64_t i = 0; i < N; i++) b[i] = frand(&seed);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = b[n];
            for (int64_t k = 0; k < K; k++) s += (double)x[m * K + k] * w[n * K + k];
            want[m * N + n] = s > 0 ? (float)s : (float)(0.1 * s);
        }
    for (int tiles = 0; tiles < 2; tiles++) {
        if (tiles) setenv("IRIS_LINEAR_TILES", "small", 1);
        for (int f16 = 0; f16 < 2; f16++) {
            iris_ctx *ctx = test_ctx(2);
            int64_t xs[2] = {M, K}, ws[2] = {N, K}, bs[1] = {N};
            iris_tensor *wt = f16 ? iris_ctx_upload(ctx, IRIS_F16, 2, ws, wh) : iris_ctx_upload(ctx, IRIS_F32, 2, ws, w);
            float *got = test_read_f32(iris_linear_act(ctx, iris_ctx_upload(ctx, IRIS_F32, 2, xs, x), wt,
                                                       iris_ctx_upload(ctx, IRIS_F32, 1, bs, b), IRIS_ACT_LEAKY, 0.1f));
            /* f32 sums of 96 products of values in [-1, 1] */
            if (got) CHECK_CLOSE(got, want, M * N, 1e-4, 1e-4);
            else CHECK_MSG(0, "%s", iris_last_error());
            free(got);
        }
    }
    unsetenv("IRIS_LINEAR_TILES");
    free(x), free(w), free(b), free(wh), free(want);
}
