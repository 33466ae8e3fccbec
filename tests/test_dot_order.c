/* test_dot_order.c - iris_matmul_ordered / iris_linear_ordered: llama.cpp's summation orders.

   Two checks. The orders themselves, on products built so that each order lands on a different
   float, with the results worked out by hand from the order's definition (ops.h,
   core/cpu/dot_order.c). And the ops on the PyTorch fixtures of test_ops_matmul.c (float64
   references; the same 1e-4 tolerance, see there), giving identical bits on every SIMD path,
   thread count and GEMM library, which is what llama's exact mode relies on. */
#include <stdlib.h>
#include <string.h>

#define REF "ops_matmul.safetensors"

#include "gemm_ref.h"

/* Two dot products over K = 66 of f16-exact values, built so that each order gives its own float.
   Products of row 0: p[0] = 2^24, p[16] = -2^24, p[32] = p[48] = 1, p[64] = 2^24, p[65] = 1.
     TILED: lane 0 sums 2^24 - 2^24 + 1 + 1 + 2^24 = 2^24 + 2, lane 1 holds 1, and the reduction's
       2^24 + 3 rounds to even, 2^24 + 4.
     VEC: lane 0 of the four sets holds 2^24, -2^24, 1, 1: (2^24 + 1 -> 2^24) + (-2^24 + 1) = 1; the
       rest in float: 1 + 2^24 -> 2^24 (to even), + 1 -> 2^24; in double: 2^24 + 2 exactly.
   Row 1: lanes 0..3 hold 2^24, -2^24, 1, 1 (nothing else), so only the reduction's pairing decides:
     (l0 + l2) + (l1 + l3) = (2^24 + 1 -> 2^24) - 2^24 + 1 = 1, where any other pairing gives 0 or 2. */
#define K 66
static void order_operands(float *x, float *b) {
    for (int k = 0; k < K; k++) x[k] = k == 0 || k == 1 || k == 16 || k == 64 ? 4096 : 1;
    memset(b, 0, 2 * K * sizeof *b);
    b[0] = 4096, b[16] = -4096, b[32] = b[48] = 1, b[64] = 4096, b[65] = 1;
    b[K + 0] = 4096, b[K + 1] = -4096, b[K + 2] = b[K + 3] = 1;
}

static void check_pair(const iris_tensor *y, float want0, float want1, const char *what) {
    float *got = test_read_f32(y);
    CHECK_MSG(got && iris_nelements(y) == 2, "%s: no output (%s)", what, iris_last_error());
    if (got && iris_nelements(y) == 2)
        CHECK_MSG(got[0] == want0 && got[1] == want1, "%s: %.9g %.9g, want %.9g %.9g", what, got[0], got[1], want0,
                  want1);
    free(got);
}

TEST(dot_order_sums_as_llama_cpp) {
    float x[K], b[2 * K], bt[2 * K];
    order_operands(x, b);
    for (int k = 0; k < K; k++) bt[k * 2] = b[k], bt[k * 2 + 1] = b[K + k]; /* b as [K, 2] */
    const float p24 = 16777216.0f;
    FOR_PATHS({
        for (int f16 = 0; f16 <= 1; f16++) {
            iris_dtype dt = f16 ? IRIS_F16 : IRIS_F32;
            iris_tensor *xa = iris_copy(ctx, iris_ctx_upload(ctx, IRIS_F32, 2, (int64_t[]){1, K}, x), dt);
            iris_tensor *br = iris_copy(ctx, iris_ctx_upload(ctx, IRIS_F32, 2, (int64_t[]){2, K}, b), dt);
            iris_tensor *bc = iris_copy(ctx, iris_ctx_upload(ctx, IRIS_F32, 2, (int64_t[]){K, 2}, bt), dt);
            iris_tensor *xf = iris_ctx_upload(ctx, IRIS_F32, 2, (int64_t[]){1, K}, x);
            float vec0 = f16 ? p24 + 2 : p24, tiled0 = p24 + 4;
            char w[192];
            snprintf(w, sizeof w, "%s tiled matmul b^T %s", f16 ? "f16" : "f32", what);
            check_pair(iris_matmul_ordered(ctx, xa, br, 1, IRIS_DOT_GGML_TILED), tiled0, 1, w);
            snprintf(w, sizeof w, "%s tiled matmul b %s", f16 ? "f16" : "f32", what);
            check_pair(iris_matmul_ordered(ctx, xa, bc, 0, IRIS_DOT_GGML_TILED), tiled0, 1, w);
            snprintf(w, sizeof w, "%s vec matmul b^T %s", f16 ? "f16" : "f32", what);
            check_pair(iris_matmul_ordered(ctx, xa, br, 1, IRIS_DOT_GGML_VEC), vec0, 1, w);
            snprintf(w, sizeof w, "%s vec matmul b %s", f16 ? "f16" : "f32", what);
            check_pair(iris_matmul_ordered(ctx, xa, bc, 0, IRIS_DOT_GGML_VEC), vec0, 1, w);
            /* linear: the weight's type decides (F16: the rest in double) */
            snprintf(w, sizeof w, "%s tiled linear %s", f16 ? "f16" : "f32", what);
            check_pair(iris_linear_ordered(ctx, xf, br, NULL, IRIS_ACT_NONE, 0, IRIS_DOT_GGML_TILED), tiled0, 1, w);
            snprintf(w, sizeof w, "%s vec linear %s", f16 ? "f16" : "f32", what);
            check_pair(iris_linear_ordered(ctx, xf, br, NULL, IRIS_ACT_NONE, 0, IRIS_DOT_GGML_VEC), vec0, 1, w);
        }
    })
}
#undef K

/* y of one op on every path, each compared with the fixture and with the first path's bits. */
typedef iris_tensor *(*case_fn)(iris_ctx *ctx, const char *name, iris_dot_order order);

static iris_tensor *mm_case(iris_ctx *ctx, const char *name, iris_dot_order order) {
    int trans_b = !strcmp(name, "trans") || !strcmp(name, "f16");
    return iris_matmul_ordered(ctx, part(ctx, "mm", name, "a", -1), part(ctx, "mm", name, "b", -1), trans_b, order);
}

static iris_tensor *lin_case(iris_ctx *ctx, const char *name, iris_dot_order order) {
    iris_tensor *b = part(ctx, "lin", name, "b", -1);
    return iris_linear_ordered(ctx, part(ctx, "lin", name, "x", -1), part(ctx, "lin", name, "w", -1), b,
                               IRIS_ACT_NONE, 0, order);
}

static void same_everywhere(const char *pre, const char *name, case_fn fn) {
    for (int o = IRIS_DOT_GGML_VEC; o <= IRIS_DOT_GGML_TILED; o++) {
        float *first = NULL;
        int64_t n = 0;
        FOR_PATHS({
            iris_tensor *y = fn(ctx, name, (iris_dot_order)o);
            char w[64];
            snprintf(w, sizeof w, "%.40s (%s)", what, o == IRIS_DOT_GGML_VEC ? "vec" : "tiled");
            check_y(y, pre, name, 1e-4, w);
            float *got = y ? test_read_f32(y) : NULL;
            if (got && !first) first = got, n = iris_nelements(y);
            else if (got) {
                CHECK_MSG(iris_nelements(y) == n && !memcmp(got, first, (size_t)n * sizeof *got),
                          "%s_%s %s: bits differ from the first path", pre, name, w);
                free(got);
            }
        })
        free(first);
    }
}

TEST(dot_order_matmul_matches_torch_same_bits_everywhere) {
    static const char *mm[] = {"batched", "bcast", "bcast_b2d", "trans", "big", "vec", "f16"};
    for (size_t i = 0; i < sizeof mm / sizeof *mm; i++) same_everywhere("mm", mm[i], mm_case);
}

TEST(dot_order_linear_matches_torch_same_bits_everywhere) {
    static const char *lin[] = {"small", "gemv", "tall", "deepk", "k1", "f16"};
    for (size_t i = 0; i < sizeof lin / sizeof *lin; i++) same_everywhere("lin", lin[i], lin_case);
}

TEST(dot_order_rejects_unknown_order) {
    iris_ctx *ctx = test_ctx(1);
    iris_tensor *a = iris_ctx_tensor(ctx, IRIS_F32, 2, (int64_t[]){2, 3});
    CHECK(iris_matmul_ordered(ctx, a, a, 1, (iris_dot_order)7) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "summation order"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    a = iris_ctx_tensor(ctx, IRIS_F32, 2, (int64_t[]){2, 3});
    CHECK(iris_linear_ordered(ctx, a, a, NULL, IRIS_ACT_NONE, 0, (iris_dot_order)-1) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "summation order"), "message: %s", iris_last_error());
    test_ctx(1);
}
