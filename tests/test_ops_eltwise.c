/* test_ops_eltwise.c - activations and broadcast arithmetic (iris_unary, iris_binary, iris_cpu_act).
   References: PyTorch fixtures from tests/ref/gen_ops_eltwise.py (computed in float64 from the
   float32 inputs), and double-precision libm for the error sweep of every SIMD path. */
#include <stdlib.h>
#include <string.h>

#include "../core/cpu/cpu.h"
#include "test.h"

/* Each SIMD path the machine has: capped through IRIS_SIMD, restored by simd_done(). */
static const char *const simd_caps[] = {"scalar", "avx2", NULL};
#define N_SIMD 3

static void simd_set(const char *cap) {
    if (cap) setenv("IRIS_SIMD", cap, 1);
    else unsetenv("IRIS_SIMD");
    iris_cpu_simd_refresh();
}

static void simd_done(void) { simd_set(NULL); }

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
    for (int s = 0; s < N_SIMD; s++) {
        simd_set(simd_caps[s]);
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
    simd_done();
    free(x);
    free(y);
}

TEST(eltwise_act_special_values) {
    const float inf = INFINITY;
    for (int s = 0; s < N_SIMD; s++) {
        simd_set(simd_caps[s]);
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
    simd_done();
}
