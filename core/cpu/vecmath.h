/* vecmath.h - vector exp, reductions and half-to-float row loads shared by
   the normalisation, softmax and attention kernels (norm.c, attention.c).

   The exp is the usual range reduction x = n ln2 + r, |r| <= ln2/2, with a
   degree-6 polynomial for e^r (Cephes coefficients) and 2^n built in the
   exponent bits: about 1 ulp over the normal range. Inputs below -87.33
   (including -inf) give exactly 0, which is what masked softmax entries need.
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

#define IRIS_EXP_HI 88.3762626647949f
#define IRIS_EXP_LO (-87.3365447504f)
#define IRIS_EXP_LOG2E 1.44269504088896341f
#define IRIS_EXP_LN2_HI 0.693359375f
#define IRIS_EXP_LN2_LO (-2.12194440e-4f)
#define IRIS_EXP_P0 1.9875691500e-4f
#define IRIS_EXP_P1 1.3981999507e-3f
#define IRIS_EXP_P2 8.3334519073e-3f
#define IRIS_EXP_P3 4.1665795894e-2f
#define IRIS_EXP_P4 1.6666665459e-1f
#define IRIS_EXP_P5 5.0000001201e-1f

#if defined(IRIS_X86)
IRIS_AVX2 static inline __m256 iris_vm_exp8(__m256 x) {
    __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(IRIS_EXP_LO), _CMP_LT_OQ);
    x = _mm256_min_ps(x, _mm256_set1_ps(IRIS_EXP_HI));
    x = _mm256_max_ps(x, _mm256_set1_ps(IRIS_EXP_LO));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(IRIS_EXP_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(IRIS_EXP_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(IRIS_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(IRIS_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IRIS_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IRIS_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IRIS_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IRIS_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(IRIS_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
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

IRIS_AVX512 static inline __m512 iris_vm_exp16(__m512 x) {
    __mmask16 ok = _mm512_cmp_ps_mask(x, _mm512_set1_ps(IRIS_EXP_LO), _CMP_GE_OQ);
    x = _mm512_min_ps(x, _mm512_set1_ps(IRIS_EXP_HI));
    x = _mm512_max_ps(x, _mm512_set1_ps(IRIS_EXP_LO));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(IRIS_EXP_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(IRIS_EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(IRIS_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(IRIS_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IRIS_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IRIS_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IRIS_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IRIS_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(IRIS_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mul_ps(ok, p, _mm512_castsi512_ps(e));
}

static inline __mmask16 iris_vm_tail16(int64_t n) { return (__mmask16)((1u << n) - 1); }
#endif

#if defined(IRIS_X86)
IRIS_AVX2 static inline void iris_vm_f16_row_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(src[i]);
}
#endif

/* Elements of type t (F32, F16 or BF16) at src, `stride` bytes apart, to n floats. */
static inline void iris_vm_load_row(iris_dtype t, const void *src, int64_t stride, int64_t n, float *dst) {
    const char *p = src;
    if (t == IRIS_F32) {
        if (stride == 4) memcpy(dst, src, (size_t)n * 4);
        else for (int64_t i = 0; i < n; i++) memcpy(&dst[i], p + i * stride, 4);
    } else if (t == IRIS_F16) {
        int64_t i = 0;
#if defined(IRIS_X86)
        if (stride == 2 && iris_cpu_simd() >= IRIS_SIMD_AVX2) {
            iris_vm_f16_row_avx2((const uint16_t *)src, dst, n);
            return;
        }
#endif
        for (; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + i * stride, 2);
            dst[i] = iris_f16_to_f32(h);
        }
    } else { /* BF16 */
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + i * stride, 2);
            dst[i] = iris_bf16_to_f32(h);
        }
    }
}

/* Scalar twin of the vector exp (same underflow rule); the portable paths use libm. */
static inline float iris_vm_expf(float x) { return x < IRIS_EXP_LO ? 0.0f : expf(x); }

#endif
