/* test_ops_conv.c - conv2d, pooling and nearest upsampling.

   References: PyTorch (tests/ref/gen_ops_conv.py: F.conv2d, max_pool2d, avg_pool2d, interpolate
   in float64 on the same inputs), and a float64 direct convolution written out below for shapes
   too large for a fixture (several im2col chunks, several tiles per thread). Each conv case runs
   on every SIMD path x {built-in GEMM, OpenBLAS} x {1, 2} threads.

   Tolerance: outputs are f32 sums of K = C/groups*kh*kw <= 576 products with |w| <= 1/sqrt(K),
   |x| <= 1, whose rounding error is ~1e-6; 1e-4 absolute and relative still catches any missing
   or misplaced tap (>= 1e-3). Pooling and upsampling are exact or one rounding per element. */
#include <stdlib.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/cpu/cpu.h"
#include "test.h"

#define REF "ops_conv.safetensors"

#include "gemm_ref.h"


/* Copy of a contiguous f32 tensor laid out with dims d0 and d1 swapped in memory, viewed back in
   the original shape: same values, non-contiguous strides. */
static iris_tensor *strided_copy(iris_ctx *ctx, const iris_tensor *t, int d0, int d1) {
    if (!t) return NULL;
    int64_t sh[4];
    for (int d = 0; d < t->ndim; d++) sh[d] = t->ne[d];
    sh[d0] = t->ne[d1], sh[d1] = t->ne[d0];
    iris_tensor *q = iris_ctx_tensor(ctx, IRIS_F32, t->ndim, sh);
    if (!q) return NULL;
    int64_t n = iris_nelements(t), idx[4];
    for (int64_t e = 0; e < n; e++) {
        int64_t r = e;
        for (int d = t->ndim - 1; d >= 0; d--) idx[d] = r % t->ne[d], r /= t->ne[d];
        int64_t tmp = idx[d0];
        idx[d0] = idx[d1], idx[d1] = tmp;
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * q->nb[d];
        *(float *)((char *)q->data + off) = ((const float *)t->data)[e];
    }
    return iris_transpose(ctx, q, d0, d1);
}

typedef struct {
    const char *name;
    int sh, sw, ph, pw, dil, groups;
    iris_act act;
    float alpha;
    int wdtype; /* -1: as stored */
    int res;    /* the fixture has a residual conv_<name>_r */
} conv_case;

static const conv_case conv_cases[] = {
    {"k3", 1, 1, 1, 1, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"k1", 1, 1, 0, 0, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"k1_s2", 2, 2, 0, 0, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"k5_p2", 1, 1, 2, 2, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"k7_s2_p3", 2, 2, 3, 3, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"dil2", 1, 1, 2, 2, 2, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"g2", 1, 1, 1, 1, 1, 2, IRIS_ACT_NONE, 0, -1, 0},
    {"dw", 1, 1, 1, 1, 1, 8, IRIS_ACT_NONE, 0, -1, 0},
    {"dw_s2", 2, 2, 1, 1, 1, 6, IRIS_ACT_NONE, 0, -1, 0},
    {"dw_k5", 1, 1, 2, 2, 1, 4, IRIS_ACT_NONE, 0, -1, 0},
    {"dw_mult2", 1, 1, 1, 1, 1, 3, IRIS_ACT_NONE, 0, -1, 0},
    {"c1", 1, 1, 0, 0, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"asym", 2, 1, 0, 2, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"p3", 1, 1, 3, 3, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"deepk", 1, 1, 1, 1, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"f16", 1, 1, 1, 1, 1, 1, IRIS_ACT_NONE, 0, -1, 0},
    {"bf16", 1, 1, 1, 1, 1, 1, IRIS_ACT_NONE, 0, IRIS_BF16, 0},
    {"relu", 1, 1, 1, 1, 1, 1, IRIS_ACT_RELU, 0, -1, 0},
    {"leaky", 1, 1, 0, 0, 1, 1, IRIS_ACT_LEAKY, 0.1f, -1, 0},
    {"dw_silu", 1, 1, 1, 1, 1, 6, IRIS_ACT_SILU, 0, -1, 0},
    {"res_k1", 1, 1, 0, 0, 1, 1, IRIS_ACT_RELU, 0, -1, 1},
    {"res_k1_b3", 1, 1, 0, 0, 1, 1, IRIS_ACT_RELU, 0, -1, 1},
    {"res_k3_s2", 2, 2, 1, 1, 1, 1, IRIS_ACT_NONE, 0, -1, 1},
    {"res_k3_big", 1, 1, 1, 1, 1, 1, IRIS_ACT_RELU, 0, -1, 1},
    {"res_g2", 1, 1, 1, 1, 1, 2, IRIS_ACT_LEAKY, 0.1f, -1, 1},
    {"res_dw", 1, 1, 1, 1, 1, 8, IRIS_ACT_RELU, 0, -1, 1},
};

static iris_conv2d_params params_of(const conv_case *cc) {
    iris_conv2d_params p = {cc->sh, cc->sw, cc->ph, cc->pw, cc->dil, cc->dil, cc->groups, cc->act, cc->alpha, NULL, 0, 0};
    return p;
}

static void run_conv(iris_ctx *ctx, const conv_case *cc, int strided_x, const char *what) {
    iris_tensor *x = part(ctx, "conv", cc->name, "x", -1);
    if (strided_x) x = strided_copy(ctx, x, 2, 3);
    iris_conv2d_params p = params_of(cc);
    if (cc->res) { /* strided x goes with a strided residual: its positions are then not one run */
        p.residual = part(ctx, "conv", cc->name, "r", -1);
        if (strided_x) p.residual = strided_copy(ctx, p.residual, 2, 3);
        CHECK_MSG(p.residual != NULL, "conv_%s_r missing", cc->name);
    }
    iris_tensor *y = iris_conv2d(ctx, x, part(ctx, "conv", cc->name, "w", cc->wdtype),
                                 part(ctx, "conv", cc->name, "b", -1), p);
    char msg[160];
    snprintf(msg, sizeof msg, "%s%s", what, strided_x ? " strided x" : "");
    check_y(y, "conv", cc->name, 1e-4, msg);
}

TEST(conv2d_matches_torch) {
    FOR_PATHS({
        for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++) run_conv(ctx, &conv_cases[i], 0, what);
    })
}

TEST(conv2d_strided_input_matches_torch) {
    FOR_PATHS({
        for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++) run_conv(ctx, &conv_cases[i], 1, what);
    })
}

/* ---- large shapes against a float64 direct convolution ---- */

static float frand(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static void conv_direct(const float *x, const float *w, const float *b, float *y, int64_t N, int64_t C, int64_t H,
                        int64_t W, int64_t O, int64_t kh, int64_t kw, iris_conv2d_params p, int64_t Ho, int64_t Wo) {
    int64_t Cg = C / p.groups, Og = O / p.groups;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t ho = 0; ho < Ho; ho++)
                for (int64_t wo = 0; wo < Wo; wo++) {
                    double s = b ? b[o] : 0;
                    int64_t g = o / Og;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t i = 0; i < kh; i++)
                            for (int64_t j = 0; j < kw; j++) {
                                int64_t ih = ho * p.stride_h - p.pad_h + i * p.dil_h;
                                int64_t iw = wo * p.stride_w - p.pad_w + j * p.dil_w;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += (double)w[((o * Cg + c) * kh + i) * kw + j] *
                                     x[((n * C + g * Cg + c) * H + ih) * W + iw];
                            }
                    double v = s;
                    if (p.act == IRIS_ACT_RELU && v < 0) v = 0;
                    y[((n * O + o) * Ho + ho) * Wo + wo] = (float)v;
                }
}

/* wdt: weights stored as F32 or F16 (the reference then uses the f16-rounded values) */
static void big_case_w(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, iris_conv2d_params p,
                       iris_dtype wdt) {
    uint32_t seed = (uint32_t)(N * 7 + C * 131 + H * 31 + O);
    int64_t Cg = C / p.groups, K = Cg * k * k;
    int64_t Ho = (H + 2 * p.pad_h - p.dil_h * (k - 1) - 1) / p.stride_h + 1;
    int64_t Wo = (W + 2 * p.pad_w - p.dil_w * (k - 1) - 1) / p.stride_w + 1;
    int64_t nx = N * C * H * W, nw = O * K, ny = N * O * Ho * Wo;
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)O), *want = malloc(sizeof(float) * (size_t)ny);
    for (int64_t i = 0; i < nx; i++) x[i] = frand(&seed);
    uint16_t *wh = malloc(sizeof(uint16_t) * (size_t)nw);
    for (int64_t i = 0; i < nw; i++) {
        w[i] = frand(&seed) / sqrtf((float)K);
        wh[i] = iris_f32_to_f16(w[i]);
        if (wdt == IRIS_F16) w[i] = iris_f16_to_f32(wh[i]);
    }
    for (int64_t i = 0; i < O; i++) b[i] = frand(&seed);
    conv_direct(x, w, b, want, N, C, H, W, O, k, k, p, Ho, Wo);
    for (int gi = 0; gi < 2; gi++) {
        set_path(NULL, gemm_impls[gi]);
        for (int th = 1; th <= 2; th++) {
            iris_ctx *ctx = test_ctx(th);
            int64_t xs[4] = {N, C, H, W}, ws[4] = {O, Cg, k, k}, bs[1] = {O};
            iris_tensor *wt = wdt == IRIS_F16 ? iris_ctx_upload(ctx, IRIS_F16, 4, ws, wh) : iris_ctx_upload(ctx, IRIS_F32, 4, ws, w);
            iris_tensor *y = iris_conv2d(ctx, iris_ctx_upload(ctx, IRIS_F32, 4, xs, x), wt,
                                         iris_ctx_upload(ctx, IRIS_F32, 1, bs, b), p);
            float *got = test_read_f32(y);
            char msg[160];
            snprintf(msg, sizeof msg, "conv %lldx%lldx%lldx%lld k%lld O%lld g%d %s %s/%dt", (long long)N, (long long)C,
                     (long long)H, (long long)W, (long long)k, (long long)O, p.groups, iris_dtype_name(wdt),
                     gi ? "openblas" : "builtin", th);
            CHECK_MSG(got != NULL, "%s: %s", msg, iris_last_error());
            if (got) test_close(got, want, ny, 1e-4, 1e-4, __FILE__, __LINE__, msg);
            free(got);
        }
    }
    restore_path();
    free(x), free(w), free(wh), free(b), free(want);
}

static void big_case(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t k, iris_conv2d_params p) {
    big_case_w(N, C, H, W, O, k, p, IRIS_F32);
}

TEST(conv2d_large_matches_float64) {
    /* K * Ho*Wo = 576 * 3840 floats exceeds one im2col chunk: two chunks */
    iris_conv2d_params p = iris_conv(1, 1);
    p.act = IRIS_ACT_RELU;
    big_case(1, 64, 48, 80, 40, 3, p);
    /* batch, groups, stride 2; 1x1 over a large plane (the im2col-free path, many tiles) */
    iris_conv2d_params q = iris_conv(2, 1);
    q.groups = 2;
    big_case(2, 32, 33, 31, 48, 3, q);
    big_case(1, 48, 40, 40, 36, 1, iris_conv(1, 0));
    /* stride-2 rows long enough for whole vectors plus a tail */
    big_case(1, 8, 21, 45, 16, 3, iris_conv(2, 1));
    /* f16 weights over several images and groups: converted weight rows must survive between passes */
    big_case_w(2, 32, 33, 31, 48, 3, q, IRIS_F16);
    big_case_w(3, 16, 9, 10, 24, 3, iris_conv(2, 1), IRIS_F16);
    /* batches of 7x7 planes: GEMM tiles run across image boundaries (1x1 read in place, and 3x3) */
    big_case(8, 40, 7, 7, 44, 1, iris_conv(1, 0));
    big_case(6, 64, 7, 7, 20, 3, iris_conv(1, 1));
}

/* ---- pooling and upsampling ---- */

/* SIMD caps x {1, 2} threads (no GEMM under these ops). */
#define FOR_SIMD_THREADS(...)                                                                       \
    for (int si_ = 0; si_ < 3; si_++) {                                                             \
        set_path(simd_caps[si_], IRIS_GEMM_AUTO);                                                   \
        for (int th_ = 1; th_ <= 2; th_++) {                                                        \
            iris_ctx *ctx = test_ctx(th_);                                                          \
            char what[128];                                                                         \
            snprintf(what, sizeof what, "%s/%dt", simd_caps[si_] ? simd_caps[si_] : "best", th_);   \
            __VA_ARGS__                                                                             \
        }                                                                                           \
    }                                                                                               \
    restore_path();

static void pool_case(iris_ctx *ctx, const char *name, iris_pool2d_params p, int strided, const char *what) {
    iris_tensor *x = part(ctx, "pool", name, "x", -1);
    if (strided) x = strided_copy(ctx, x, 1, 3);
    check_y(iris_pool2d(ctx, x, p), "pool", name, 1e-6, what);
}

TEST(pool2d_matches_torch) {
    FOR_SIMD_THREADS({
        for (int s = 0; s < 2; s++) {
            pool_case(ctx, "max_k3_s2_p1", iris_maxpool(3, 2, 1), s, what);
            pool_case(ctx, "max_k2_s2", iris_maxpool(2, 2, 0), s, what);
            pool_case(ctx, "max_k3_s1_p1", iris_maxpool(3, 1, 1), s, what);
            pool_case(ctx, "avg_k3_s2_p1", iris_avgpool(3, 2, 1), s, what);
            iris_pool2d_params np = iris_avgpool(3, 2, 1);
            np.count_include_pad = 0;
            pool_case(ctx, "avg_k3_s2_p1_nopad", np, s, what);
            pool_case(ctx, "avg_k2_s2", iris_avgpool(2, 2, 0), s, what);
        }
        iris_tensor *g = iris_global_avgpool(ctx, part(ctx, "pool", "global", "x", -1));
        CHECK(g && g->ndim == 2 && g->ne[0] == 2 && g->ne[1] == 5);
        check_y(g, "pool", "global", 1e-6, what);
    })
}

TEST(upsample_nearest_matches_torch) {
    FOR_SIMD_THREADS({
        check_y(iris_upsample_nearest(ctx, part(ctx, "up", "x2", "x", -1), 2, 2), "up", "x2", 0, what);
        check_y(iris_upsample_nearest(ctx, part(ctx, "up", "x2x3", "x", -1), 2, 3), "up", "x2x3", 0, what);
        check_y(iris_upsample_nearest(ctx, strided_copy(ctx, part(ctx, "up", "x2x3", "x", -1), 2, 3), 2, 3), "up",
                "x2x3", 0, what);
        check_y(iris_upsample_nearest(ctx, part(ctx, "up", "x1x4", "x", -1), 1, 4), "up", "x1x4", 0, what);
    })
}

TEST(conv_pool_errors) {
    iris_ctx *ctx = test_ctx(1);
    int64_t xs[4] = {1, 6, 5, 5}, ws[4] = {4, 3, 3, 3}, w7[4] = {4, 6, 7, 7}, bs[1] = {5}, x3[3] = {6, 5, 5};
    iris_tensor *x = iris_ctx_tensor(ctx, IRIS_F32, 4, xs), *w = iris_ctx_tensor(ctx, IRIS_F32, 4, ws);
    CHECK(iris_conv2d(ctx, x, w, NULL, iris_conv(1, 1)) == NULL); /* C/groups = 6 != 3 */
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_SHAPE);
    CHECK_MSG(strstr(iris_last_error(), "conv2d") && strstr(iris_last_error(), "f32[4,3,3,3]"), "message: %s",
              iris_last_error());
    ctx = test_ctx(1);
    x = iris_ctx_tensor(ctx, IRIS_F32, 4, xs);
    iris_conv2d_params p = iris_conv(1, 1);
    p.groups = 2;
    CHECK(iris_conv2d(ctx, x, iris_ctx_tensor(ctx, IRIS_F32, 4, ws), iris_ctx_tensor(ctx, IRIS_F32, 1, bs), p) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "bias"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    x = iris_ctx_tensor(ctx, IRIS_F32, 4, xs);
    CHECK(iris_conv2d(ctx, x, iris_ctx_tensor(ctx, IRIS_F32, 4, w7), NULL, iris_conv(1, 0)) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "larger than"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    x = iris_ctx_tensor(ctx, IRIS_F32, 4, xs);
    CHECK(iris_conv2d(ctx, x, iris_ctx_tensor(ctx, IRIS_F32, 4, ws), NULL, iris_conv(0, 1)) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_ARG);
    ctx = test_ctx(1);
    CHECK(iris_pool2d(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, xs), iris_maxpool(3, 2, 2)) == NULL); /* pad > k/2 */
    CHECK_MSG(strstr(iris_last_error(), "max_pool2d"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    CHECK(iris_pool2d(ctx, iris_ctx_tensor(ctx, IRIS_F32, 3, x3), iris_maxpool(2, 2, 0)) == NULL);
    CHECK_MSG(strstr(iris_last_error(), "[N, C, H, W]"), "message: %s", iris_last_error());
    ctx = test_ctx(1);
    CHECK(iris_upsample_nearest(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, xs), 0, 2) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_ARG);
    ctx = test_ctx(1);
    x = iris_ctx_tensor(ctx, IRIS_F32, 4, xs);
    int64_t w1[4] = {4, 6, 1, 1};
    p = iris_conv(1, 0);
    p.residual = iris_ctx_tensor(ctx, IRIS_F32, 4, xs); /* [1, 6, 5, 5], the output is [1, 4, 5, 5] */
    CHECK(iris_conv2d(ctx, x, iris_ctx_tensor(ctx, IRIS_F32, 4, w1), NULL, p) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_SHAPE);
    CHECK_MSG(strstr(iris_last_error(), "residual") && strstr(iris_last_error(), "f32[1,4,5,5]"), "message: %s",
              iris_last_error());
    ctx = test_ctx(1);
    CHECK(iris_conv2d(ctx, NULL, NULL, NULL, iris_conv(1, 1)) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_ARG);
    test_ctx(1);
}

/* NaN inside a window makes that window's maximum NaN, as in PyTorch; windows without it are
   unaffected. Reference: the window maxima worked out by a direct loop. Rows of 40 and 80 reach
   the vector paths (stride 1 and 2). */
TEST(maxpool_propagates_nan) {
    FOR_SIMD_THREADS({
        for (int stride = 1; stride <= 2; stride++) {
            int64_t W = 40 * stride, shape[4] = {1, 1, 3, W};
            float x[3 * 80];
            for (int i = 0; i < 3 * W; i++) x[i] = (float)((i * 37) % 101) - 50.0f;
            x[1 * W + 21] = NAN;
            iris_tensor *y = iris_pool2d(ctx, iris_ctx_upload(ctx, IRIS_F32, 4, shape, x), iris_maxpool(3, stride, 1));
            float *got = test_read_f32(y);
            CHECK_MSG(got != NULL, "%s: %s", what, iris_last_error());
            int bad = 0;
            int Ho = 2 / stride + 1;
            CHECK(y && y->ne[2] == Ho && y->ne[3] == 40);
            for (int ho = 0; got && ho < Ho; ho++)
                for (int wo = 0; wo < 40; wo++) {
                    float m = -INFINITY;
                    int nan = 0;
                    for (int h = ho * stride - 1; h <= ho * stride + 1; h++)
                        for (int w = wo * stride - 1; w <= wo * stride + 1; w++) {
                            if (h < 0 || h >= 3 || w < 0 || w >= W) continue;
                            float e = x[h * W + w];
                            nan |= isnan(e);
                            if (e > m) m = e;
                        }
                    float g = got[ho * 40 + wo];
                    bad += nan ? !isnan(g) : g != m;
                }
            CHECK_MSG(got && !bad, "maxpool NaN stride %d %s: %d outputs wrong", stride, what, bad);
            free(got);
        }
    })
}

/* A map as large as the SD VAE's (over 16k positions, odd sides) against a plain loop, on both
   GEMMs: f16 weights, bias and residual. The sums have 36 terms of O(1) values, so f32 rounding
   stays below 1e-5. */
TEST(conv_large_map_matches_plain_loop) {
    const int C = 4, O = 5, H = 131, W = 129;
    int64_t xs[4] = {1, C, H, W}, ws[4] = {O, C, 3, 3}, bs[1] = {O}, ys[4] = {1, O, H, W};
    float *x = malloc(sizeof(float) * C * H * W), *w = malloc(sizeof(float) * O * C * 9), b[5],
          *r = malloc(sizeof(float) * O * H * W), *want = malloc(sizeof(float) * O * H * W);
    uint16_t *wh = malloc(sizeof(uint16_t) * O * C * 9);
    uint32_t s = 12345;
    for (int i = 0; i < C * H * W; i++) x[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / (1 << 24) - 0.5f;
    for (int i = 0; i < O * C * 9; i++) {
        wh[i] = iris_f32_to_f16((float)((s = s * 1664525u + 1013904223u) >> 8) / (1 << 24) - 0.5f);
        w[i] = iris_f16_to_f32(wh[i]);
    }
    for (int i = 0; i < O; i++) b[i] = 0.1f * (float)i;
    for (int i = 0; i < O * H * W; i++) r[i] = (float)(i % 7) * 0.01f;
    for (int o = 0; o < O; o++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double acc = b[o] + r[(o * H + y) * W + xx];
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < 3; j++) {
                            int iy = y + i - 1, ix = xx + j - 1;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                acc += (double)w[((o * C + c) * 3 + i) * 3 + j] * x[(c * H + iy) * W + ix];
                        }
                want[(o * H + y) * W + xx] = (float)acc;
            }
    iris_ctx *ctx = test_ctx(2);
    iris_tensor *wt, *bt;
    CHECK_OK(iris_tensor_wrap(&wt, IRIS_CPU, IRIS_F16, 4, ws, wh));
    CHECK_OK(iris_tensor_wrap(&bt, IRIS_CPU, IRIS_F32, 1, bs, b));
    for (int impl = IRIS_GEMM_BUILTIN; impl <= IRIS_GEMM_OPENBLAS; impl++) {
        int old = iris_cpu_sgemm_select(impl);
        iris_ctx_reset(ctx);
        iris_conv2d_params p = iris_conv(1, 1);
        p.residual = iris_ctx_upload(ctx, IRIS_F32, 4, ys, r);
        iris_tensor *y = iris_conv2d(ctx, iris_ctx_upload(ctx, IRIS_F32, 4, xs, x), wt, bt, p);
        CHECK_OK(iris_ctx_status(ctx));
        float *got = test_read_f32(y);
        if (got) CHECK_CLOSE(got, want, O * H * W, 1e-5, 1e-5);
        free(got);
        iris_cpu_sgemm_select(old);
    }
    free(x), free(w), free(wh), free(r), free(want);
    iris_tensor_free(wt);
    iris_tensor_free(bt);
}

/* ---- Winograd F(4x4, 3x3) (conv_winograd.c), forced with iris_cpu_conv_select ----
   Tolerance: the transforms scale a tile by up to ~100 before the channel sum and back after, so
   f32 Winograd is off by about 1e-5 of the output's scale (bench_conv measures 7e-6..1.1e-5 of
   max |y| on SD's shapes up to C = 1280; 1e-6 here), against ~1e-6 for the direct sum. The outputs here are
   O(1), so 1e-4 absolute and relative still fails on any dropped or misplaced tap (>= 1e-3). */

TEST(conv2d_winograd_matches_torch) {
    int old = iris_cpu_conv_select(IRIS_CONV_WINOGRAD);
    FOR_PATHS({
        for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++) {
            run_conv(ctx, &conv_cases[i], 0, what);
            run_conv(ctx, &conv_cases[i], 1, what);
        }
    })
    iris_cpu_conv_select(old);
}

typedef struct {
    int64_t N, C, H, W, O;
    int ph, pw, ph_end, pw_end;
    iris_act act;
    int res, f16, strided;
} wino_case;

/* float64 reference with end padding, bias, residual and ReLU */
static void conv3_ref(const float *x, const float *w, const float *b, const float *r, double *y, const wino_case *wc,
                      int64_t Ho, int64_t Wo) {
    for (int64_t n = 0; n < wc->N; n++)
        for (int64_t o = 0; o < wc->O; o++)
            for (int64_t ho = 0; ho < Ho; ho++)
                for (int64_t wo = 0; wo < Wo; wo++) {
                    int64_t yi = ((n * wc->O + o) * Ho + ho) * Wo + wo;
                    double s = b[o] + (r ? r[yi] : 0);
                    for (int64_t c = 0; c < wc->C; c++)
                        for (int i = 0; i < 3; i++) {
                            int64_t ih = ho - wc->ph + i;
                            if (ih < 0 || ih >= wc->H) continue;
                            for (int k = 0; k < 3; k++) {
                                int64_t iw = wo - wc->pw + k;
                                if (iw < 0 || iw >= wc->W) continue;
                                s += (double)w[((o * wc->C + c) * 3 + i) * 3 + k] * x[((n * wc->C + c) * wc->H + ih) * wc->W + iw];
                            }
                        }
                    y[yi] = wc->act == IRIS_ACT_RELU && s < 0 ? 0 : s;
                }
}

/* One case on every SIMD path x {1, 2} threads: Winograd against the float64 reference, and for
   activations the reference has not, against the direct path (same tolerance). */
static void wino_run(const wino_case *wc) {
    int64_t Ho = wc->H + 2 * wc->ph + wc->ph_end - 2, Wo = wc->W + 2 * wc->pw + wc->pw_end - 2;
    int64_t nx = wc->N * wc->C * wc->H * wc->W, nw = wc->O * wc->C * 9, ny = wc->N * wc->O * Ho * Wo;
    uint32_t seed = (uint32_t)(wc->N * 977 + wc->C * 131 + wc->H * 31 + wc->W * 7 + wc->O);
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)wc->O), *r = wc->res ? malloc(sizeof(float) * (size_t)ny) : NULL;
    float *want = malloc(sizeof(float) * (size_t)ny);
    double *yd = malloc(sizeof(double) * (size_t)ny);
    uint16_t *wh = malloc(sizeof(uint16_t) * (size_t)nw);
    for (int64_t i = 0; i < nx; i++) x[i] = frand(&seed);
    for (int64_t i = 0; i < nw; i++) {
        w[i] = frand(&seed) / sqrtf(9.0f * (float)wc->C);
        wh[i] = iris_f32_to_f16(w[i]);
        if (wc->f16) w[i] = iris_f16_to_f32(wh[i]);
    }
    for (int64_t i = 0; i < wc->O; i++) b[i] = frand(&seed);
    for (int64_t i = 0; r && i < ny; i++) r[i] = frand(&seed);
    conv3_ref(x, w, b, r, yd, wc, Ho, Wo);
    for (int64_t i = 0; i < ny; i++) want[i] = (float)yd[i];
    int exact_ref = wc->act == IRIS_ACT_NONE || wc->act == IRIS_ACT_RELU;
    int old = iris_cpu_conv_select(IRIS_CONV_WINOGRAD);
    for (int si = 0; si < 3; si++) {
        set_path(simd_caps[si], IRIS_GEMM_AUTO);
        for (int th = 1; th <= 2; th++) {
            iris_ctx *ctx = test_ctx(th);
            int64_t xs[4] = {wc->N, wc->C, wc->H, wc->W}, ws[4] = {wc->O, wc->C, 3, 3}, bs[1] = {wc->O};
            int64_t ys[4] = {wc->N, wc->O, Ho, Wo};
            iris_tensor *xt = iris_ctx_upload(ctx, IRIS_F32, 4, xs, x);
            iris_tensor *wt = wc->f16 ? iris_ctx_upload(ctx, IRIS_F16, 4, ws, wh) : iris_ctx_upload(ctx, IRIS_F32, 4, ws, w);
            iris_conv2d_params p = {1, 1, wc->ph, wc->pw, 1, 1, 1, wc->act, 0.1f, NULL, wc->ph_end, wc->pw_end};
            if (r) p.residual = iris_ctx_upload(ctx, IRIS_F32, 4, ys, r);
            if (wc->strided) {
                xt = strided_copy(ctx, xt, 2, 3);
                if (r) p.residual = strided_copy(ctx, p.residual, 2, 3);
            }
            iris_tensor *bt = iris_ctx_upload(ctx, IRIS_F32, 1, bs, b);
            iris_tensor *y = iris_conv2d(ctx, xt, wt, bt, p);
            float *got = test_read_f32(y), *direct = NULL;
            if (!exact_ref) {
                iris_cpu_conv_select(IRIS_CONV_DIRECT);
                direct = test_read_f32(iris_conv2d(ctx, xt, wt, bt, p));
                iris_cpu_conv_select(IRIS_CONV_WINOGRAD);
            }
            char msg[192];
            snprintf(msg, sizeof msg, "winograd %lldx%lldx%lldx%lld O%lld pad %d,%d end %d,%d act %d%s%s%s %s/%dt",
                     (long long)wc->N, (long long)wc->C, (long long)wc->H, (long long)wc->W, (long long)wc->O, wc->ph,
                     wc->pw, wc->ph_end, wc->pw_end, (int)wc->act, wc->res ? " res" : "", wc->f16 ? " f16" : "",
                     wc->strided ? " strided" : "", simd_caps[si] ? simd_caps[si] : "best", th);
            CHECK_MSG(got && y->ne[2] == Ho && y->ne[3] == Wo, "%s: %s", msg, iris_last_error());
            if (got && exact_ref) test_close(got, want, ny, 1e-4, 1e-4, __FILE__, __LINE__, msg);
            if (got && !exact_ref) {
                CHECK_MSG(direct != NULL, "%s: direct path: %s", msg, iris_last_error());
                if (direct) test_close(got, direct, ny, 1e-4, 1e-4, __FILE__, __LINE__, msg);
            }
            free(got), free(direct);
        }
    }
    restore_path();
    iris_cpu_conv_select(old);
    free(x), free(w), free(b), free(r), free(want), free(yd), free(wh);
}

TEST(conv2d_winograd_matches_float64) {
    static const wino_case cases[] = {
        {1, 1, 5, 5, 1, 1, 1, 0, 0, IRIS_ACT_NONE, 0, 0, 0},     /* one channel */
        {2, 3, 1, 1, 4, 1, 1, 0, 0, IRIS_ACT_NONE, 0, 0, 0},     /* 1x1 maps, batch 2 */
        {2, 5, 7, 9, 6, 1, 1, 0, 0, IRIS_ACT_RELU, 0, 1, 0},     /* odd sizes, partial tiles */
        {1, 8, 13, 6, 13, 0, 0, 0, 0, IRIS_ACT_NONE, 0, 0, 0},   /* no padding; 13 rows: edge register tile */
        {1, 17, 9, 37, 30, 2, 2, 0, 0, IRIS_ACT_NONE, 1, 0, 0},  /* pad 2, residual */
        {1, 6, 10, 11, 7, 0, 0, 1, 1, IRIS_ACT_NONE, 0, 0, 0},   /* end padding only (the VAE's (0, 1)) */
        {2, 4, 6, 8, 5, 1, 0, 0, 2, IRIS_ACT_LEAKY, 0, 0, 0},    /* uneven pads, leaky vs direct */
        {2, 16, 10, 70, 20, 1, 1, 0, 0, IRIS_ACT_SILU, 1, 1, 0}, /* 18 tiles a row: lanes across panels */
        {1, 300, 6, 6, 40, 1, 1, 0, 0, IRIS_ACT_NONE, 0, 1, 0},  /* C over one K block, not a multiple of 16 */
        {2, 24, 12, 12, 30, 1, 1, 0, 0, IRIS_ACT_RELU, 1, 1, 1}, /* strided x and residual */
        {2, 40, 16, 16, 100, 1, 1, 0, 0, IRIS_ACT_NONE, 0, 1, 0}, /* several blocks of output channels */
        {3, 64, 40, 256, 8, 1, 1, 0, 0, IRIS_ACT_NONE, 1, 0, 0}, /* two chunks of tile rows across images */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) wino_run(&cases[i]);
}

/* The register-tiled 1x1 path for thin layers (conv.c, pw_*) against a double-precision loop:
   channel counts that leave every tail (12-, 4- and 1-row tiles; positions not a multiple of 32),
   two images, each activation the tile applies itself and one it leaves to iris_cpu_act. */
TEST(conv2d_pointwise_tiles_match_float64) {
    static const struct { int64_t N, C, H, W, O; iris_act act; int bias; } cs[] = {
        {1, 8, 5, 7, 16, IRIS_ACT_LEAKY, 1}, {2, 3, 9, 11, 29, IRIS_ACT_NONE, 0}, {1, 48, 20, 20, 13, IRIS_ACT_RELU, 1},
        {2, 17, 1, 33, 1, IRIS_ACT_MISH, 1},  {1, 128, 6, 6, 37, IRIS_ACT_LEAKY, 1},
    };
    uint32_t seed = 11; /* every shape here has C <= 128: the tiled path where AVX-512 is there */
    for (size_t k = 0; k < sizeof cs / sizeof *cs; k++) {
        int64_t N = cs[k].N, C = cs[k].C, H = cs[k].H, W = cs[k].W, O = cs[k].O, P = H * W;
        float *x = malloc(sizeof(float) * N * C * P), *w = malloc(sizeof(float) * O * C), *b = malloc(sizeof(float) * O);
        float *want = malloc(sizeof(float) * N * O * P);
        for (int64_t i = 0; i < N * C * P; i++) x[i] = frand(&seed);
        for (int64_t i = 0; i < O * C; i++) w[i] = frand(&seed);
        for (int64_t i = 0; i < O; i++) b[i] = frand(&seed);
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < O; o++)
                for (int64_t p = 0; p < P; p++) {
                    double s = cs[k].bias ? b[o] : 0;
                    for (int64_t c = 0; c < C; c++) s += (double)w[o * C + c] * x[(n * C + c) * P + p];
                    if (cs[k].act == IRIS_ACT_LEAKY && s < 0) s *= 0.1;
                    if (cs[k].act == IRIS_ACT_RELU && s < 0) s = 0;
                    if (cs[k].act == IRIS_ACT_MISH) s = s * tanh(log1p(exp(s)));
                    want[(n * O + o) * P + p] = (float)s;
                }
        iris_ctx *ctx = test_ctx(2);
        int64_t xs[4] = {N, C, H, W}, ws[4] = {O, C, 1, 1}, bs[1] = {O};
        iris_conv2d_params p = iris_conv(1, 0);
        p.act = cs[k].act, p.alpha = 0.1f;
        iris_tensor *y = iris_conv2d(ctx, iris_ctx_upload(ctx, IRIS_F32, 4, xs, x), iris_ctx_upload(ctx, IRIS_F32, 4, ws, w),
                                     cs[k].bias ? iris_ctx_upload(ctx, IRIS_F32, 1, bs, b) : NULL, p);
        float *got = test_read_f32(y);
        /* f32 sums of C <= 128 products of values in [-1, 1]: well inside 1e-4 */
        if (got) CHECK_CLOSE(got, want, N * O * P, 1e-4, 1e-4);
        else CHECK_MSG(0, "case %zu: %s", k, iris_last_error());
        free(got), free(x), free(w), free(b), free(want);
    }
}
