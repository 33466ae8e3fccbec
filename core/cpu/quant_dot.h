/* quant_dot.h - dot products on quantized blocks: one kernel per weight type and SIMD level.

   Internal to quant.c (which holds the public API) and to the quant tests and
   benchmark, which call each SIMD level directly. Every kernel follows ggml's
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

#endif
