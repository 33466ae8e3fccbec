/* test_ops_eltwise.c - activations and broadcast arithmetic (iris_unary, iris_binary, iris_cpu_act).
   References: PyTorch fixtures from tests/ref/gen_ops_eltwise.py (computed in float64 from the
   float32 inputs), and double-precision libm for the error sweep of every SIMD path. */
#include <stdlib.h>
#include <string.h>

#include "ops_ref.h"

#define REF "ops_eltwise.safetensors"

static const char *simd_name(void) {
    int s = iris_cpu_simd();
    return s == IRIS_SIMD_AVX512 ? "avx512" : s == IRIS_SIMD_AVX2 ? "avx2" : "scalar";
}

/* ---- error sweep against libm in double ---- */

static double act_ref(iris_act a, double x) {
    switch (a) {
    case IRIS_ACT_SILU: return x / (1 + exp(-x));
    case IRIS_ACT_GELU: return x * 0.5 * erfc(-x / sqrt(2.0));
    case IRIS_ACT_GELU_TANH: return x / (1 + exp(-2 * sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case IRIS_ACT_QUICK_GELU: return x / (1 + exp(-1.702 * x));
    case IRIS_ACT_MISH: return x * tanh(x > 30 ? x : log1p(exp(x)));
    case IRIS_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case IRIS_ACT_TANH: return tanh(x);
    case IRIS_ACT_EXP: return exp(x);
    case IRIS_ACT_SQRT: return sqrt(x);
    default: return 0;
    }
}

/* Units in the last place of a float of magnitude |v|. */
static double ulp_of(double v) {
    int e;
    frexp(fabs(v), &e);
    return ldexp(1.0, (e - 24 < -149 ? -149 : e - 24));
}

TEST(eltwise_act_ulp_vs_libm) {
    static const struct {
        iris_act act;
        double lo, hi, ulps; /* ulps: allowed error; gelu_tanh/quick_gelu add 2.5 ulp per unit of |z| */
    } cases[] = {
        {IRIS_ACT_EXP, -103.9, 88.7, 1.0},   {IRIS_ACT_TANH, -12, 12, 3.0},    {IRIS_ACT_SIGMOID, -90, 30, 3.0},
        {IRIS_ACT_SILU, -90, 30, 4.0},       {IRIS_ACT_GELU, -14, 14, 6.0},    {IRIS_ACT_MISH, -60, 30, 5.0},
        {IRIS_ACT_GELU_TANH, -12, 12, 4.0},  {IRIS_ACT_QUICK_GELU, -50, 30, 4.0}, {IRIS_ACT_SQRT, 0, 1e30, 0.5},
    };
    enum { N = 150001 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint32_t seed = 12345;
    static const char *const names[IRIS_ACT_COUNT] = {
        [IRIS_ACT_EXP] = "exp",   [IRIS_ACT_TANH] = "tanh",         [IRIS_ACT_SIGMOID] = "sigmoid",
        [IRIS_ACT_SILU] = "silu", [IRIS_ACT_GELU] = "gelu",         [IRIS_ACT_MISH] = "mish",
        [IRIS_ACT_SQRT] = "sqrt", [IRIS_ACT_GELU_TANH] = "gelu_tanh", [IRIS_ACT_QUICK_GELU] = "quick_gelu"};
    for (int s = 0; s < 3; s++) {
        ops_set_simd(ops_simd_caps[s]);
        char summary[512];
        int len = snprintf(summary, sizeof summary, "    %-6s max ulp:", simd_name());
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            double lo = cases[c].lo, hi = cases[c].hi;
            /* a uniform sweep, random points, and small magnitudes (log-spaced) near 0 */
            for (int i = 0; i < N; i++) {
                seed = seed * 1664525u + 1013904223u;
                double u = (double)i / (N - 1), r = (seed >> 8) / 16777216.0;
                if (i % 3 == 0) x[i] = (float)(lo + (hi - lo) * u);
                else if (i % 3 == 1) x[i] = (float)(lo + (hi - lo) * r);
                else x[i] = (float)((lo < 0 && (seed & 1) ? -1 : 1) * pow(10.0, -30 + 31 * r));
            }
            memcpy(y, x, N * sizeof *x);
            iris_cpu_act(cases[c].act, 0.f, y, N);
            double worst = 0, worst_x = 0;
            int bad = 0;
            for (int i = 0; i < N; i++) {
                double want = act_ref(cases[c].act, x[i]), err = fabs(y[i] - want);
                double z = cases[c].act == IRIS_ACT_QUICK_GELU ? 1.702 * x[i]
                           : cases[c].act == IRIS_ACT_GELU_TANH
                               ? 1.5957691216057308 * (x[i] + 0.044715 * x[i] * x[i] * x[i])
                               : 0;
                /* a subnormal intermediate (sigmoid or Phi deep in a tail) holds few bits and is
                   then scaled by x: allow a few of its ulps times |x| */
                double sub = 8 * ldexp(1.0, -149) * (1 + fabs(x[i]));
                double u = fmax(err - sub, 0) / ulp_of(want), allowed = cases[c].ulps + 2.5 * fabs(z);
                if (u > allowed) bad++;
                if (u - 2.5 * fabs(z) > worst) worst = u - 2.5 * fabs(z), worst_x = x[i];
            }
            CHECK_MSG(bad == 0, "%s %s: %d points over %.1f ulp (worst %.2f at x=%.9g)", simd_name(),
                      names[cases[c].act], bad, cases[c].ulps, worst, worst_x);
            len += snprintf(summary + len, sizeof summary - (size_t)len, " %s %.2f", names[cases[c].act], worst);
        }
        printf("%s\n", summary);
    }
    ops_set_simd(NULL);
    free(x);
    free(y);
}

TEST(eltwise_act_special_values) {
    const float inf = INFINITY;
    for (int s = 0; s < 3; s++) {
        ops_set_simd(ops_simd_caps[s]);
        float v[8];
#define ACT(a, al, ...)                                                  \
    do {                                                                 \
        float in_[] = {__VA_ARGS__};                                     \
        memcpy(v, in_, sizeof in_);                                      \
        iris_cpu_act(a, al, v, (int64_t)(sizeof in_ / sizeof in_[0]));   \
    } while (0)
        ACT(IRIS_ACT_EXP, 0, -inf, inf, NAN, 0.f, 88.72f, 88.73f, -104.f);
        CHECK(v[0] == 0 && isinf(v[1]) && isnan(v[2]) && v[3] == 1 && isfinite(v[4]) && isinf(v[5]) && v[6] == 0);
        ACT(IRIS_ACT_TANH, 0, -inf, inf, NAN, -0.f, 1e-30f);
        CHECK(v[0] == -1 && v[1] == 1 && isnan(v[2]) && v[3] == 0 && signbit(v[3]) && v[4] == 1e-30f);
        ACT(IRIS_ACT_SIGMOID, 0, -inf, inf, NAN, 0.f);
        CHECK(v[0] == 0 && v[1] == 1 && isnan(v[2]) && v[3] == 0.5f);
        ACT(IRIS_ACT_GELU, 0, inf, NAN, 20.f, -20.f);
        CHECK(isinf(v[0]) && isnan(v[1]) && v[2] == 20.f && v[3] == 0);
        ACT(IRIS_ACT_MISH, 0, inf, 100.f, -200.f);
        CHECK(isinf(v[0]) && v[1] == 100.f && v[2] == 0);
        ACT(IRIS_ACT_RELU, 0, -3.f, 2.f, NAN);
        CHECK(v[0] == 0 && v[1] == 2 && isnan(v[2]));
        ACT(IRIS_ACT_LEAKY, 0.1f, -3.f, 2.f);
        CHECK_NEAR(v[0], -0.3, 1e-7);
        CHECK(v[1] == 2);
        ACT(IRIS_ACT_NONE, 7.f, -3.f, 2.f);
        CHECK(v[0] == -3.f && v[1] == 2.f);
#undef ACT
    }
    ops_set_simd(NULL);
}

/* ---- against PyTorch ---- */

static const struct {
    const char *name, *input;
    iris_act act;
    float alpha;
    double atol, rtol;
} unary_cases[] = {
    {"relu", "x", IRIS_ACT_RELU, 0, 0, 0},
    {"leaky", "x", IRIS_ACT_LEAKY, 0.1f, 0, 1.2e-7}, /* alpha is 0.1f here, 0.1 in the reference */
    {"silu", "x", IRIS_ACT_SILU, 0, 1e-12, 4e-7},
    {"gelu", "x", IRIS_ACT_GELU, 0, 1e-12, 6e-7},
    {"gelu_tanh", "x", IRIS_ACT_GELU_TANH, 0, 1e-12, 1e-5}, /* float rounding of the argument, see eltwise_simd.h */
    {"quick_gelu", "x", IRIS_ACT_QUICK_GELU, 0, 1e-12, 1e-5},
    {"mish", "x", IRIS_ACT_MISH, 0, 1e-12, 5e-7},
    {"sigmoid", "x", IRIS_ACT_SIGMOID, 0, 1e-12, 3e-7},
    {"tanh", "x", IRIS_ACT_TANH, 0, 1e-12, 3e-7},
    {"scale", "x", IRIS_ACT_SCALE, -0.37f, 0, 0},
    {"exp", "x_exp", IRIS_ACT_EXP, 0, 3e-45, 1.2e-7},
    {"sqrt", "x_sqrt", IRIS_ACT_SQRT, 0, 0, 6e-8},
};
#define N_UNARY (sizeof unary_cases / sizeof unary_cases[0])

TEST(eltwise_unary_matches_torch) {
    FOR_PATHS({
        for (size_t i = 0; i < N_UNARY; i++) {
            iris_ctx_reset(ctx);
            iris_tensor *x = ops_ref_in(ctx, REF, unary_cases[i].input);
            iris_tensor *y = iris_unary(ctx, x, unary_cases[i].act, unary_cases[i].alpha);
            char w[96];
            snprintf(w, sizeof w, "%s %s", what, unary_cases[i].name);
            ops_ref_check(REF, y, unary_cases[i].name, unary_cases[i].atol, unary_cases[i].rtol, w);
        }
        /* the named wrappers pick the same activations */
        iris_tensor *x = ops_ref_in(ctx, REF, "x");
        ops_ref_check(REF, iris_relu(ctx, x), "relu", 0, 0, what);
        ops_ref_check(REF, iris_silu(ctx, x), "silu", 1e-12, 4e-7, what);
        ops_ref_check(REF, iris_gelu(ctx, x), "gelu", 1e-12, 6e-7, what);
        ops_ref_check(REF, iris_sigmoid(ctx, x), "sigmoid", 1e-12, 3e-7, what);
        ops_ref_check(REF, iris_scale(ctx, x, -0.37f), "scale", 0, 0, what);
    });
}

/* Reference element of a [5, 3, 67] fixture at index (i0, i1, i2). */
static float at3(const float *r, int64_t i0, int64_t i1, int64_t i2) { return r[(i0 * 3 + i1) * 67 + i2]; }

TEST(eltwise_unary_strided_inputs) {
    /* x^T (dims 0,1 swapped) and a narrow of the last dim: the kernel must honour strides */
    static const iris_act acts[] = {IRIS_ACT_GELU, IRIS_ACT_SILU, IRIS_ACT_TANH, IRIS_ACT_RELU};
    static const char *names[] = {"gelu", "silu", "tanh", "relu"};
    FOR_PATHS({
        for (int a = 0; a < 4; a++) {
            iris_ctx_reset(ctx);
            float *want = test_ref_f32(REF, names[a], NULL);
            iris_tensor *x = ops_ref_in(ctx, REF, "x");
            iris_tensor *xt = iris_transpose(ctx, x, 0, 1);             /* [3, 5, 67] */
            iris_tensor *xn = iris_narrow(ctx, x, 2, 5, 60);            /* [5, 3, 60] */
            iris_tensor *yt = iris_unary(ctx, xt, acts[a], 0), *yn = iris_unary(ctx, xn, acts[a], 0);
            float *gt = test_read_f32(yt), *gn = test_read_f32(yn);
            float *wt = malloc(3 * 5 * 67 * sizeof *wt), *wn = malloc(5 * 3 * 60 * sizeof *wn);
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++)
                    for (int k = 0; k < 67; k++) wt[(i * 5 + j) * 67 + k] = at3(want, j, i, k);
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 60; k++) wn[(i * 3 + j) * 60 + k] = at3(want, i, j, k + 5);
            CHECK_MSG(yt && yt->ne[0] == 3 && yt->ne[1] == 5 && iris_is_contiguous(yt), "%s: transposed output", what);
            test_close(gt, wt, 3 * 5 * 67, 1e-12, 6e-7, __FILE__, __LINE__, what);
            test_close(gn, wn, 5 * 3 * 60, 1e-12, 6e-7, __FILE__, __LINE__, what);
            /* a single column: the rows are the strided outer dims */
            iris_tensor *y1 = iris_unary(ctx, iris_narrow(ctx, x, 2, 10, 1), acts[a], 0);
            float *g1 = test_read_f32(y1), w1[15];
            for (int i = 0; i < 15; i++) w1[i] = want[i * 67 + 10];
            test_close(g1, w1, 15, 1e-12, 6e-7, __FILE__, __LINE__, what);
            free(want), free(gt), free(gn), free(wt), free(wn), free(g1);
        }
    });
}

TEST(eltwise_unary_f16_input) {
    /* an f16 activation is read as f16 and the result is f32 */
    FOR_PATHS({
        iris_tensor *x = ops_ref_in(ctx, REF, "x");
        iris_tensor *h = iris_copy(ctx, x, IRIS_F16);
        iris_tensor *y = iris_unary(ctx, h, IRIS_ACT_RELU, 0);
        float *xs = test_read_f32(x), *got = test_read_f32(y);
        int64_t n = x ? iris_nelements(x) : 0;
        float *want = malloc((size_t)n * sizeof *want);
        for (int64_t i = 0; i < n; i++) {
            float v = iris_f16_to_f32(iris_f32_to_f16(xs[i]));
            want[i] = v < 0 ? 0 : v;
        }
        CHECK(y && y->dtype == IRIS_F32);
        test_close(got, want, n, 0, 0, __FILE__, __LINE__, what);
        free(xs), free(got), free(want);
    });
}

TEST(eltwise_binary_matches_torch) {
    static const char *cases[] = {"nchw", "bld", "scalar", "same", "mid", "rows"};
    static const char *ops[] = {"add", "sub", "mul", "div"};
    FOR_PATHS({
        for (int c = 0; c < 6; c++)
            for (int o = 0; o < 4; o++) {
                iris_ctx_reset(ctx);
                char an[32], bn[32], yn[32], w[96];
                snprintf(an, sizeof an, "%s_a", cases[c]);
                snprintf(bn, sizeof bn, "%s_b", cases[c]);
                snprintf(yn, sizeof yn, "%s_%s", cases[c], ops[o]);
                snprintf(w, sizeof w, "%s %s", what, yn);
                iris_tensor *y = iris_binary(ctx, ops_ref_in(ctx, REF, an), ops_ref_in(ctx, REF, bn), (iris_binop)o);
                /* float results of + - * / are correctly rounded: the float64 reference rounds the same way */
                ops_ref_check(REF, y, yn, 0, 0, w);
            }
        iris_tensor *a = ops_ref_in(ctx, REF, "bld_a"), *b = ops_ref_in(ctx, REF, "bld_b");
        ops_ref_check(REF, iris_add(ctx, a, b), "bld_add", 0, 0, what);
        ops_ref_check(REF, iris_mul(ctx, a, b), "bld_mul", 0, 0, what);
        /* b with extra leading 1s: [1,1,1,33] against [3,7,33] */
        int64_t s4[4] = {1, 1, 1, 33};
        ops_ref_check(REF, iris_add(ctx, a, iris_reshape(ctx, b, 4, s4)), "bld_add", 0, 0, what);
        /* a half-precision bias */
        ops_ref_check(REF, iris_add(ctx, a, ops_ref_in(ctx, REF, "bld_b_f16")), "bld_add_f16", 0, 0, what);
    });
}

TEST(eltwise_binary_strided_inputs) {
    /* same-shape operands seen through transposes, and a narrowed a with a broadcast bias */
    FOR_PATHS({
        iris_tensor *a = ops_ref_in(ctx, REF, "same_a"), *b = ops_ref_in(ctx, REF, "same_b");
        iris_tensor *y = iris_binary(ctx, iris_transpose(ctx, a, 0, 1), iris_transpose(ctx, b, 0, 1), IRIS_BIN_SUB);
        float *want = test_ref_f32(REF, "same_sub", NULL), *got = test_read_f32(y);
        float *wt = malloc(65 * 3 * sizeof *wt);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 65; j++) wt[i * 65 + j] = want[j * 3 + i];
        CHECK_MSG(y && y->ne[0] == 3 && y->ne[1] == 65, "%s: shape", what);
        test_close(got, wt, 65 * 3, 0, 0, __FILE__, __LINE__, what);
        free(want), free(got), free(wt);

        /* nchw: a narrowed along W (9 -> 4 from 3), b [5,1,1] per channel */
        iris_tensor *an = iris_narrow(ctx, ops_ref_in(ctx, REF, "nchw_a"), 3, 3, 4);
        y = iris_binary(ctx, an, ops_ref_in(ctx, REF, "nchw_b"), IRIS_BIN_MUL);
        want = test_ref_f32(REF, "nchw_mul", NULL);
        got = test_read_f32(y);
        float *wn = malloc(2 * 5 * 7 * 4 * sizeof *wn);
        for (int i = 0; i < 2 * 5 * 7; i++)
            for (int k = 0; k < 4; k++) wn[i * 4 + k] = want[i * 9 + 3 + k];
        test_close(got, wn, 2 * 5 * 7 * 4, 0, 0, __FILE__, __LINE__, what);
        free(want), free(got), free(wn);
    });
}

/* Inputs large enough that the pool splits the work: 2 threads must give the 1-thread bits. */
TEST(eltwise_threads_split_large_tensors) {
    enum { R = 67, C = 1031 };
    float *x = malloc(R * C * sizeof *x), *bias = malloc(C * sizeof *bias);
    uint32_t seed = 99;
    for (int i = 0; i < R * C; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((seed >> 8) / 16777216.f - 0.5f) * 16.f;
    }
    for (int i = 0; i < C; i++) bias[i] = (float)i / C - 0.5f;
    int64_t sh[2] = {R, C}, shb[1] = {C};
    for (int s = 0; s < 3; s++) {
        ops_set_simd(ops_simd_caps[s]);
        float *res[2][3] = {{0}};
        for (int th = 1; th <= 2; th++) {
            iris_ctx *ctx = test_ctx(th);
            iris_tensor *xt = iris_ctx_upload(ctx, IRIS_F32, 2, sh, x), *bt = iris_ctx_upload(ctx, IRIS_F32, 1, shb, bias);
            res[th - 1][0] = test_read_f32(iris_gelu(ctx, xt));
            res[th - 1][1] = test_read_f32(iris_add(ctx, xt, bt));
            res[th - 1][2] = test_read_f32(iris_silu(ctx, iris_transpose(ctx, xt, 0, 1)));
            CHECK_OK(iris_ctx_status(ctx));
        }
        for (int k = 0; k < 3; k++)
            CHECK_MSG(res[0][k] && res[1][k] && !memcmp(res[0][k], res[1][k], R * C * sizeof(float)),
                      "%s: op %d differs between 1 and 2 threads", simd_name(), k);
        /* and against plain C / libm */
        int bad = 0;
        for (int i = 0; i < R * C && res[1][1]; i++) bad += res[1][1][i] != x[i] + bias[i % C];
        for (int i = 0; i < R * C && res[1][0]; i++) {
            double w = x[i] * 0.5 * erfc(-x[i] / sqrt(2.0));
            bad += fabs(res[1][0][i] - w) > 1e-12 + 6e-7 * fabs(w);
        }
        for (int i = 0; i < C && res[1][2]; i++)
            for (int r = 0; r < R; r++) {
                double v = x[r * C + i], w = v / (1 + exp(-v));
                bad += fabs(res[1][2][i * R + r] - w) > 1e-12 + 4e-7 * fabs(w);
            }
        CHECK_MSG(bad == 0, "%s: %d elements off", simd_name(), bad);
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 3; k++) free(res[t][k]);
    }
    ops_set_simd(NULL);
    free(x);
    free(bias);
}

TEST(eltwise_errors_name_op_and_shapes) {
    iris_ctx *ctx = test_ctx(1);
    int64_t sa[3] = {2, 4, 5}, sb[2] = {3, 5}, si[1] = {4};
    iris_tensor *a = iris_ctx_tensor(ctx, IRIS_F32, 3, sa), *b = iris_ctx_tensor(ctx, IRIS_F32, 2, sb);
    CHECK(ops_failed_with(ctx, iris_add(ctx, a, b), "add: cannot broadcast f32[3,5] to f32[2,4,5] (dim 1: 3 vs 4)"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, sa);
    CHECK(ops_failed_with(ctx, iris_mul(ctx, iris_ctx_tensor(ctx, IRIS_F32, 2, sb), a), "mul: cannot broadcast"));
    iris_ctx_reset(ctx);
    iris_tensor *ids = iris_ctx_tensor(ctx, IRIS_I32, 1, si);
    CHECK(ops_failed_with(ctx, iris_gelu(ctx, ids), "gelu: input i32[4] must be f32"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, sa);
    CHECK(ops_failed_with(ctx, iris_unary(ctx, a, IRIS_ACT_COUNT, 0), "unknown activation"));
    iris_ctx_reset(ctx);
    CHECK(ops_failed_with(ctx, iris_silu(ctx, NULL), "silu: missing input"));
    /* once an error is recorded, later ops return NULL and keep the first message */
    CHECK(iris_relu(ctx, iris_ctx_tensor(ctx, IRIS_F32, 3, sa)) == NULL);
    CHECK(strstr(iris_last_error(), "silu: missing input") != NULL);
    iris_ctx_reset(ctx);
}
