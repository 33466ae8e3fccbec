/* quant_dot.h - dot products on quantized blocks: one kernel per weight type and SIMD level.

   Internal to quant.c (which holds the public API) and to the quant tests and
   benchmark, which call each SIMD level directly. The block-layout helpers at the
   end serve both quant.c and the kernels. Every kernel follows ggml's
   scheme: an exact integer dot per block, then scaled by the block's f16
   scales converted to float and summed in float.
*/
#ifndef IRIS_QUANT_DOT_H
#define IRIS_QUANT_DOT_H

#include <stdint.h>
#include <string.h>

#include "../quant.h"

/* sum_i w[i]*x[i] over n elements (a whole number of blocks); x in iris_vec_dot_type(wt). */
typedef float (*iris_qdot_fn)(int64_t n, const void *w, const void *x);

/* The kernel for weight type wt using at most SIMD level `simd` (IRIS_SIMD_*); NULL if the type
   has no dot product. The AVX-512 integer kernels need VNNI; without it the AVX2 ones serve. */
iris_qdot_fn iris_qdot_kernel(iris_dtype wt, int simd);
/* Which implementation iris_qdot_kernel(wt, simd) is: "scalar", "avx2", "avx512" or "avx512vnni". */
const char *iris_qdot_path(iris_dtype wt, int simd);
/* 1 if the CPU has AVX512-VNNI (and the other AVX-512 parts iris uses). */
int iris_qdot_has_vnni(void);

/* iris_vec_dot_mm at SIMD level `simd`: out[i*ldo + r] = iris_qdot_kernel(wt, simd)(n, w row r,
   x row i), bit for bit. Q4_0, Q8_0, Q4_K and Q6_K have AVX2 / AVX-512 VNNI kernels that
   reuse each unpacked weight block for 4 activation rows; other types and levels run the
   single-row kernel per pair. */
void iris_qdot_mm(iris_dtype wt, int simd, int64_t n, int64_t nw, const void *w, size_t w_stride, int64_t nx,
                  const void *x, size_t x_stride, float *out, int64_t ldo);
/* 1 if iris_qdot_mm has a multi-row kernel for wt at level simd. */
int iris_qdot_mm_has_kernel(iris_dtype wt, int simd);

/* Q8_0 activations as ggml's x86 CPU backend makes them: d = amax/127, q = x*(127/amax) rounded
   to nearest even. Every SIMD level gives the same bytes. */
void iris_qdot_quantize_q8_0(const float *x, void *dst, int64_t n, int simd);
/* Q8_K (the reference encoding) with SIMD; returns 0, writing nothing, where there is no SIMD
   path and the caller's portable encoder must run. */
int iris_qdot_quantize_q8_k(const float *x, void *dst, int64_t n, int simd);

/* Exact f16 -> f32 for the kernels' scalar parts (the same values as iris_f16_to_f32). */
static inline float iris_qdot_h2f(uint16_t h) {
    uint32_t o = (uint32_t)(h & 0x7fff) << 13, s = (uint32_t)(h & 0x8000) << 16;
    float f;
    memcpy(&f, &o, 4);
    f *= 0x1p112f; /* rebias the exponent; also scales subnormals exactly */
    memcpy(&o, &f, 4);
    if ((h & 0x7c00) == 0x7c00) o = 0x7f800000u | (uint32_t)(h & 0x3ff) << 13;
    o |= s;
    memcpy(&f, &o, 4);
    return f;
}

/* ---- block layouts shared with quant.c's decoders and encoders ---- */

/* The little-endian u32 at p (the fifth bits of Q5_0/Q5_1). */
static inline uint32_t iris_qdot_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Round to nearest, ties to even, for |v| < 2^22 (the K-quant reference's trick, as
   _mm256_round_ps does; no UB on NaN). */
static inline int iris_qdot_nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Q3_K scale j of 16 (six bits, offset removed): low nibbles in bytes 0..7 (lo then hi
   half), top 2 bits in bytes 8..11. */
static inline int iris_qdot_q3_k_scale(const uint8_t s[12], int j) {
    int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
    int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* Q4_K/Q5_K scale j and min j (6 bits each) from the 12 packed bytes. */
static inline void iris_qdot_k4_scale_min(const uint8_t s[12], int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

#endif
