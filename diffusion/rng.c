/* rng.c - the two noise sources people reproduce seeds with, bit for bit.

   The arithmetic below is written one rounding per statement (with explicit fmaf where torch's
   compiler fused a multiply-add), so no compiler contraction can change a bit: the build uses
   -std=c11, where GCC does not contract across statements, and clang only contracts within one. */
#include "rng.h"

#include <math.h>
#include <string.h>

/* ---- mt19937, seeded as torch seeds it (only the low 32 bits of the seed count) ---- */

enum { MT_N = 624, MT_M = 397 };

static void mt_seed(iris_rng *r, uint64_t seed) {
    r->mt[0] = (uint32_t)seed;
    for (int i = 1; i < MT_N; i++) r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->mti = MT_N;
}

static uint32_t mt_next(iris_rng *r) {
    if (r->mti >= MT_N) {
        for (int i = 0; i < MT_N; i++) {
            uint32_t y = (r->mt[i] & 0x80000000u) | (r->mt[(i + 1) % MT_N] & 0x7fffffffu);
            r->mt[i] = r->mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        r->mti = 0;
    }
    uint32_t y = r->mt[r->mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* torch's uniform_real_distribution: the low 24 (float) or 53 (double) bits, scaled to [0, 1) */
static float uniform_f(iris_rng *r) { return (float)(mt_next(r) & 0xffffffu) * 0x1p-24f; }

static double uniform_d(iris_rng *r) {
    uint64_t hi = mt_next(r), lo = mt_next(r);
    return (double)(((hi << 32) | lo) & ((1ull << 53) - 1)) * 0x1p-53;
}

/* torch's normal_distribution<double>, used for tensors of fewer than 16 elements: one
   Box-Muller pair per two values, the sine half cached in the generator between calls. */
static float normal_scalar(iris_rng *r) {
    if (r->has_next_normal) {
        r->has_next_normal = 0;
        return (float)r->next_normal;
    }
    double u1 = uniform_d(r);
    double u2 = uniform_d(r);
    double radius = sqrt(-2.0 * log(1.0 - u2));
    double theta = 2.0 * M_PI * u1;
    r->next_normal = radius * sin(theta);
    r->has_next_normal = 1;
    return (float)(radius * cos(theta));
}

/* For 16 elements and more torch runs normal_fill_16_AVX2 on x86, whose log and sincos are the
   Cephes polynomials of avx_mathfun.h (not libm); these are the same steps one lane at a time,
   with fmaf exactly where GCC fused the intrinsics' multiply-adds in torch's build. */
static float cephes_logf(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    float e = (float)((int32_t)(bits >> 23) - 0x7f) + 1.0f; /* x in (0, 1]: always normal here */
    bits = (bits & ~0x7f800000u) | 0x3f000000u;             /* mantissa scaled into [0.5, 1) */
    float m;
    memcpy(&m, &bits, 4);
    float tmp = 0.0f;
    if (m < 0.707106781186547524f) {
        tmp = m;
        e -= 1.0f;
    }
    m = m - 1.0f;
    m = m + tmp;
    float z = m * m;
    float y = 7.0376836292e-2f;
    y = fmaf(y, m, -1.1514610310e-1f);
    y = fmaf(y, m, 1.1676998740e-1f);
    y = fmaf(y, m, -1.2420140846e-1f);
    y = fmaf(y, m, 1.4249322787e-1f);
    y = fmaf(y, m, -1.6668057665e-1f);
    y = fmaf(y, m, 2.0000714765e-1f);
    y = fmaf(y, m, -2.4999993993e-1f);
    y = fmaf(y, m, 3.3333331174e-1f);
    y = y * m;
    y = fmaf(y, z, e * -2.12194440e-4f);
    y = fmaf(-z, 0.5f, y);
    m = m + y;
    return fmaf(e, 0.693359375f, m);
}

static void cephes_sincosf(float x, float *s, float *c) {
    uint32_t sign_sin, bits;
    memcpy(&bits, &x, 4);
    sign_sin = bits & 0x80000000u;
    x = fabsf(x);
    float scaled = x * 1.27323954473516f; /* 4 / pi */
    int32_t j = ((int32_t)scaled + 1) & ~1;
    float y = (float)j;
    sign_sin ^= (uint32_t)(j & 4) << 29;
    int use_sin_poly = (j & 2) == 0;
    uint32_t sign_cos = (uint32_t)(~(j - 2) & 4) << 29;
    x = fmaf(y, -0.78515625f, x); /* extended-precision reduction by pi/4 */
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    float z = x * x;
    float yc = 2.443315711809948e-5f;
    yc = fmaf(yc, z, -1.388731625493765e-3f);
    yc = fmaf(yc, z, 4.166664568298827e-2f);
    yc = yc * z;
    yc = fmaf(yc, z, -(z * 0.5f));
    yc = yc + 1.0f;
    float ys = -1.9515295891e-4f;
    ys = fmaf(ys, z, 8.3321608736e-3f);
    ys = fmaf(ys, z, -1.6666654611e-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    float sv = use_sin_poly ? ys : yc, cv = use_sin_poly ? yc : ys;
    memcpy(&bits, &sv, 4);
    bits ^= sign_sin;
    memcpy(s, &bits, 4);
    memcpy(&bits, &cv, 4);
    bits ^= sign_cos;
    memcpy(c, &bits, 4);
}

/* data[0..16) holds uniforms; pairs (j, j+8) become cos and sin halves of one Box-Muller draw */
static void normal_fill_16(float *data) {
    const float two_pi = (float)(2.0 * M_PI);
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - data[j];
        float u2 = data[j + 8];
        float radius = sqrtf(-2.0f * cephes_logf(u1));
        float sn, cs;
        cephes_sincosf(two_pi * u2, &sn, &cs);
        data[j] = radius * cs + 0.0f; /* torch ends with fmadd(v, std 1, mean 0): -0 becomes +0 */
        data[j + 8] = radius * sn + 0.0f;
    }
}

static void randn_cpu(iris_rng *r, float *out, int64_t n) {
    if (n < 16) {
        for (int64_t i = 0; i < n; i++) out[i] = normal_scalar(r);
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = uniform_f(r);
    for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill_16(out + i);
    if (n % 16) { /* torch redraws the last 16 values from fresh uniforms */
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f(r);
        normal_fill_16(tail);
    }
}

/* ---- Philox4x32-10: element i of call k is block (counter k, 0, i, 0) under key = seed ---- */

static void philox(uint32_t ctr[4], uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)ctr[0] * 0xD2511F53u, p1 = (uint64_t)ctr[2] * 0xCD9E8D57u;
        uint32_t c0 = (uint32_t)(p1 >> 32) ^ ctr[1] ^ k0;
        uint32_t c2 = (uint32_t)(p0 >> 32) ^ ctr[3] ^ k1;
        ctr[0] = c0, ctr[1] = (uint32_t)p1, ctr[2] = c2, ctr[3] = (uint32_t)p0;
        k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
    }
}

/* A1111's Box-Muller: the sine half only, in double (numpy promotes uint32 * float32 to
   float64), with its float32 constants, rounded to float at the end. */
static float philox_normal(uint32_t a, uint32_t b) {
    const double inv32 = (double)2.3283064e-10f, half = (double)(2.3283064e-10f / 2);
    const double inv32_2pi = (double)(float)(2.3283064e-10 * 6.2831855), half_2pi = (double)((float)(2.3283064e-10 * 6.2831855) / 2);
    double u = (double)a * inv32;
    u = u + half;
    double v = (double)b * inv32_2pi;
    v = v + half_2pi;
    double s = sqrt(-2.0 * log(u));
    return (float)(s * sin(v));
}

static void randn_cuda(iris_rng *r, float *out, int64_t n) {
    uint32_t k0 = (uint32_t)r->seed, k1 = (uint32_t)(r->seed >> 32);
    for (int64_t i = 0; i < n; i++) {
        uint32_t ctr[4] = {(uint32_t)r->offset, 0, (uint32_t)i, 0};
        philox(ctr, k0, k1);
        out[i] = philox_normal(ctr[0], ctr[1]);
    }
    r->offset++;
}

void iris_rng_init(iris_rng *r, iris_rng_kind kind, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->kind = kind == IRIS_RNG_CPU ? IRIS_RNG_CPU : IRIS_RNG_CUDA;
    r->seed = seed;
    if (r->kind == IRIS_RNG_CPU) mt_seed(r, seed);
}

void iris_rng_randn(iris_rng *r, float *out, int64_t n) {
    if (!r || !out || n <= 0) return;
    if (r->kind == IRIS_RNG_CPU)
        randn_cpu(r, out, n);
    else
        randn_cuda(r, out, n);
}

const char *iris_rng_name(iris_rng_kind k) {
    switch (k) {
    case IRIS_RNG_CUDA: return "cuda";
    case IRIS_RNG_CPU: return "cpu";
    }
    return "?";
}
