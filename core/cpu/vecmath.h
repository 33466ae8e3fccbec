/* vecmath.h - vector exp, softmax row primitives, reductions and strided
   half-to-float row loads shared by the normalisation, softmax, attention and
   element-wise kernels (norm.c, attention.c, eltwise.c).

   The exp is the one every vector path uses: x = n ln2 + r, |r| <= ln2/2
   (Cody-Waite with a 2-part ln2; the first FMA is exact), exp(r) by its
   Taylor series to r^7 (truncation < 2^-27), then 2^n applied in two halves
   so subnormal results round once: at most 0.9 ulp against double-precision
   exp (eltwise_simd.h lists the sweep). NaN propagates; -inf and anything
   below -103.97 give exactly 0, which is what masked softmax entries need,
   and libm's expf (the scalar paths) underflows at the same point.
   Everything here is static inline so each kernel file gets its own copy
   compiled for the target attribute of its caller.
*/
#ifndef IRIS_CPU_VECMATH_H
#define IRIS_CPU_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"

#if defined(IRIS_X86)
#include <immintrin.h>
#endif

/* range reduction, shared with eltwise_simd.h's expm1 */
#define IRIS_EXP_LOG2E 1.44269504088896341f
#define IRIS_EXP_LN2_HI 0.693147182464599609375f
#define IRIS_EXP_LN2_LO (-1.904654323148236e-09f)

#if defined(IRIS_X86)
/* 2^n for integral n in [-126, 127] (eltwise_simd.h's expm1) */
IRIS_AVX2 static inline __m256 iris_vm_pow2_8(__m256 n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}

IRIS_AVX2 static inline __m256 iris_vm_exp8(__m256 x) {
    /* below -104 (masked softmax entries) the result is 0: those lanes compute exp(0) and are
       cleared at the end, since an underflowing multiply costs a microcode assist (prefill
       attention, half of whose scores are masked, ran 30% slower) */
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-104.f), _CMP_LT_OQ);
    /* constant first: on NaN, min returns its second operand, so NaN stays NaN */
    x = _mm256_min_ps(_mm256_set1_ps(89.f), _mm256_andnot_ps(under, x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(IRIS_EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(IRIS_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(IRIS_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(1.f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
    /* 2^n in two halves h = floor(n/2) and n - h, n in [-150, 128]: both stay normal numbers */
    __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1), bias = _mm256_set1_epi32(127);
    __m256 s0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
    return _mm256_andnot_ps(under, _mm256_mul_ps(_mm256_mul_ps(p, s0), s1));
}

IRIS_AVX2 static inline float iris_vm_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

IRIS_AVX2 static inline float iris_vm_hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* First n (< 8) lanes set, for masked loads/stores of row tails. */
IRIS_AVX2 static inline __m256i iris_vm_tail8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

IRIS_AVX512 static inline __m512 iris_vm_pow2_16(__m512 n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
}

/* the same steps and results as iris_vm_exp8; lanes below -104 are masked off */
IRIS_AVX512 static inline __m512 iris_vm_exp16(__m512 x) {
    __mmask16 ok = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-104.f), _CMP_NLT_UQ);
    x = _mm512_min_ps(_mm512_set1_ps(89.f), _mm512_maskz_mov_ps(ok, x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(IRIS_EXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(IRIS_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(IRIS_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(1.f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    return _mm512_maskz_scalef_ps(ok, p, n); /* p 2^n rounded once, as the two halves of iris_vm_exp8 */
}

static inline __mmask16 iris_vm_tail16(int64_t n) { return (__mmask16)((1u << n) - 1); }
#endif

/* One element of type t (F32, F16 or BF16) at p, as a float. */
static inline float iris_vm_load1(iris_dtype t, const void *p) {
    uint16_t h;
    switch (t) {
    case IRIS_F32: { float f; memcpy(&f, p, 4); return f; }
    case IRIS_F16: memcpy(&h, p, 2); return iris_f16_to_f32(h);
    default: memcpy(&h, p, 2); return iris_bf16_to_f32(h);
    }
}

/* Elements of type t (F32, F16 or BF16) at src, `stride` bytes apart, to n floats; a
   contiguous row goes through copy.c's SIMD conversion. */
static inline void iris_vm_load_row(iris_dtype t, const void *src, int64_t stride, int64_t n, float *dst) {
    if (stride == (t == IRIS_F32 ? 4 : 2)) {
        iris_cpu_to_f32(t, src, dst, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) dst[i] = iris_vm_load1(t, (const char *)src + i * stride);
}

/* ---- softmax row primitives, one per SIMD level (norm.c's softmax, attention.c's narrow
   layout): max, x = exp(x - m) in place returning the sum, x *= s. Sums run in float vector
   lanes over blocks of IRIS_VM_BLOCK values and the block sums add into a double. ---- */

#define IRIS_VM_BLOCK 256

static inline float iris_vm_max_c(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static inline double iris_vm_exp_sum_c(float *x, int64_t n, float m) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] = expf(x[i] - m);
    return s;
}

static inline void iris_vm_scale_c(float *x, int64_t n, float s) {
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

#if defined(IRIS_X86)
IRIS_AVX2 static inline float iris_vm_max_avx2(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float r = iris_vm_hmax8(m);
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

IRIS_AVX2 static inline double iris_vm_exp_sum_avx2(float *x, int64_t n, float m) {
    double total = 0;
    __m256 vm = _mm256_set1_ps(m);
    for (int64_t i = 0; i < n;) {
        int64_t e = i + IRIS_VM_BLOCK < n ? i + IRIS_VM_BLOCK : n;
        __m256 acc = _mm256_setzero_ps();
        for (; i + 8 <= e; i += 8) {
            __m256 v = iris_vm_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
            _mm256_storeu_ps(x + i, v);
            acc = _mm256_add_ps(acc, v);
        }
        float s = iris_vm_hsum8(acc);
        for (; i < e; i++) s += x[i] = expf(x[i] - m);
        total += s;
    }
    return total;
}

IRIS_AVX2 static inline void iris_vm_scale_avx2(float *x, int64_t n, float s) {
    __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; i++) x[i] *= s;
}

IRIS_AVX512 static inline float iris_vm_max_avx512(const float *x, int64_t n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = iris_vm_tail16(n - i < 16 ? n - i : 16);
        m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, x + i));
    }
    return _mm512_reduce_max_ps(m);
}

IRIS_AVX512 static inline double iris_vm_exp_sum_avx512(float *x, int64_t n, float m) {
    double total = 0;
    __m512 vm = _mm512_set1_ps(m);
    for (int64_t i = 0; i < n;) {
        int64_t e = i + IRIS_VM_BLOCK < n ? i + IRIS_VM_BLOCK : n;
        __m512 acc = _mm512_setzero_ps();
        for (; i < e; i += 16) {
            __mmask16 k = iris_vm_tail16(e - i < 16 ? e - i : 16);
            __m512 v = iris_vm_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm));
            _mm512_mask_storeu_ps(x + i, k, v);
            acc = _mm512_mask_add_ps(acc, k, acc, v);
        }
        i = e;
        total += _mm512_reduce_add_ps(acc);
    }
    return total;
}

IRIS_AVX512 static inline void iris_vm_scale_avx512(float *x, int64_t n, float s) {
    __m512 vs = _mm512_set1_ps(s);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = iris_vm_tail16(n - i < 16 ? n - i : 16);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vs));
    }
}
#endif

#endif
