/* dot_order.c - dot products summed in the orders of llama.cpp's CPU matrix products.

   Any GEMM sums in an order set by its blocking, and the last bits follow: OpenBLAS' kernels
   for one CPU, another CPU's and ours all differ there, and greedy decoding can turn one bit
   into another token many steps later. Llama's exact mode therefore asks for the order of
   llama.cpp's AVX-512 build (ggml at c392e509), which every SIMD level here reproduces lane
   for lane, so the result does not depend on the machine, the threads or the GEMM library.
   F16 data arrive as their exact f32 values; K elements x[k], y[k]:

   VEC (ggml_vec_dot_f32, ggml_vec_dot_f16): the first K & ~63 elements are fused-multiply-added
   into 4 sets of 16 lanes, element k into set (k / 16) % 4, lane k % 16; set 2 is added to set 0
   and set 3 to set 1, then set 1 to set 0, whose lanes are reduced (below). The remaining
   elements follow one at a time: for F16 data each product (exact in float) is added in double
   and the sum rounded to float at the end; for F32 data the product is rounded, then added in
   float (no FMA there: the reference build's rounding, checked against its logits; the Makefile's
   -std=c11 keeps GCC from contracting it).

   TILED (llamafile's tinyBLAS): element k is fused-multiply-added into lane k % 16 over all of
   K, then the lanes are reduced.

   Reduction of 16 lanes l[], as _mm512_reduce_add_ps: a[i] = l[i] + l[i+8], b[i] = a[i] + a[i+4],
   then (b[0] + b[2]) + (b[1] + b[3]). */
#include <math.h>

#include "cpu.h"

#ifdef IRIS_X86
#include <immintrin.h>
#endif

static float reduce16(const float *l) {
    float a[8], b[4];
    for (int i = 0; i < 8; i++) a[i] = l[i] + l[i + 8];
    for (int i = 0; i < 4; i++) b[i] = a[i] + a[i + 4];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

/* VEC after its vector part: sets s[4][16] of the first np elements, then the rest */
static float vec_finish(float s[4][16], int64_t np, int64_t n, const float *x, const float *y, int rest_f64) {
    for (int l = 0; l < 16; l++) s[0][l] += s[2][l], s[1][l] += s[3][l];
    for (int l = 0; l < 16; l++) s[0][l] += s[1][l];
    float r = reduce16(s[0]);
    if (rest_f64) {
        double d = r;
        for (int64_t k = np; k < n; k++) d += (double)(x[k] * y[k]);
        return (float)d;
    }
    for (int64_t k = np; k < n; k++) {
        float p = x[k] * y[k];
        r += p;
    }
    return r;
}

/* ---- portable ---- */

static float tiled_c(int64_t n, const float *x, const float *y, int rest_f64) {
    (void)rest_f64;
    float l[16] = {0};
    for (int64_t k = 0; k < n; k++) l[k % 16] = fmaf(x[k], y[k], l[k % 16]);
    return reduce16(l);
}

static float vec_c(int64_t n, const float *x, const float *y, int rest_f64) {
    float s[4][16] = {{0}};
    int64_t np = n & ~(int64_t)63;
    for (int64_t k = 0; k < np; k++) s[(k / 16) % 4][k % 16] = fmaf(x[k], y[k], s[(k / 16) % 4][k % 16]);
    return vec_finish(s, np, n, x, y, rest_f64);
}

#ifdef IRIS_X86
/* ---- AVX2: 16 lanes as two 8-lane halves ---- */

IRIS_AVX2 static float tiled_avx2(int64_t n, const float *x, const float *y, int rest_f64) {
    (void)rest_f64;
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_loadu_ps(y + k + 8), hi);
    }
    float l[16];
    _mm256_storeu_ps(l, lo);
    _mm256_storeu_ps(l + 8, hi);
    for (; k < n; k++) l[k % 16] = fmaf(x[k], y[k], l[k % 16]);
    return reduce16(l);
}

IRIS_AVX2 static float vec_avx2(int64_t n, const float *x, const float *y, int rest_f64) {
    __m256 v[8];
    for (int i = 0; i < 8; i++) v[i] = _mm256_setzero_ps();
    int64_t np = n & ~(int64_t)63;
    for (int64_t k = 0; k < np; k += 64)
        for (int i = 0; i < 8; i++) v[i] = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8 * i), _mm256_loadu_ps(y + k + 8 * i), v[i]);
    float s[4][16];
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(&s[i / 2][(i % 2) * 8], v[i]);
    return vec_finish(s, np, n, x, y, rest_f64);
}

/* ---- AVX-512 ---- */

IRIS_AVX512 static float tiled_avx512(int64_t n, const float *x, const float *y, int rest_f64) {
    (void)rest_f64;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k += 16) {
        __mmask16 m = n - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - k)) - 1);
        acc = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, y + k), acc, m);
    }
    float l[16];
    _mm512_storeu_ps(l, acc);
    return reduce16(l);
}

IRIS_AVX512 static float vec_avx512(int64_t n, const float *x, const float *y, int rest_f64) {
    __m512 v[4];
    for (int i = 0; i < 4; i++) v[i] = _mm512_setzero_ps();
    int64_t np = n & ~(int64_t)63;
    for (int64_t k = 0; k < np; k += 64)
        for (int i = 0; i < 4; i++) v[i] = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16 * i), _mm512_loadu_ps(y + k + 16 * i), v[i]);
    float s[4][16];
    for (int i = 0; i < 4; i++) _mm512_storeu_ps(s[i], v[i]);
    return vec_finish(s, np, n, x, y, rest_f64);
}
#endif

iris_dot_fn iris_cpu_dot_ordered(iris_dot_order order) {
    int tiled = order == IRIS_DOT_GGML_TILED, simd = iris_cpu_simd();
#ifdef IRIS_X86
    if (simd >= IRIS_SIMD_AVX512) return tiled ? tiled_avx512 : vec_avx512;
    if (simd >= IRIS_SIMD_AVX2) return tiled ? tiled_avx2 : vec_avx2;
#endif
    (void)simd;
    return tiled ? tiled_c : vec_c;
}
