/* quant.h - the GGUF block-quantized formats, described once.

   A quantized row of n elements is n/QK blocks laid end to end. Each
   struct below is one block exactly as stored in GGUF files (little-endian,
   no padding). `iris_half` is an IEEE binary16 bit pattern.

   What a block means (x = reconstructed value, q = stored integer):
     Q4_0  32 elems  x = d * (q - 8),       q 4-bit: qs[j] low nibble = elem j, high nibble = elem j+16
     Q4_1  32 elems  x = d * q + m,         q 4-bit, same nibble order
     Q5_0  32 elems  x = d * (q - 16),      q 5-bit: low 4 bits as Q4_0, bit 4 of elem j = bit j of qh (u32 LE)
     Q5_1  32 elems  x = d * q + m,         q 5-bit as Q5_0
     Q8_0  32 elems  x = d * q,             q int8
     Q2_K 256 elems  16 sub-blocks of 16:   x = d*sc*q - dmin*m, sc/m 4-bit each in scales[i] (lo/hi), q 2-bit
     Q3_K 256 elems  16 sub-blocks of 16:   x = d*(sc-32)*(q - (hmask bit ? 0 : 4)), sc 6-bit packed in 12 bytes
     Q4_K 256 elems   8 sub-blocks of 32:   x = d*sc*q - dmin*m, sc/m 6-bit packed in 12 bytes, q 4-bit
     Q5_K 256 elems   8 sub-blocks of 32:   as Q4_K with a 5th bit from qh
     Q6_K 256 elems  16 sub-blocks of 16:   x = d*sc*(q - 32), sc int8, q 6-bit (4 low in ql, 2 high in qh)
     Q8_K 256 elems  x = d * q (d is f32); bsums[i] = sum of q in group i of 16. Only used for
                     activations in K-quant dot products, never stored in files.
   The exact bit order of every type is in quant.c (iris_dequantize_row), which
   is the one place that defines it.
*/
#ifndef IRIS_QUANT_H
#define IRIS_QUANT_H

#include <stdint.h>

#include "dtype.h"
#include "error.h"

#define IRIS_QK 32
#define IRIS_QK_K 256

typedef uint16_t iris_half;

typedef struct { iris_half d; uint8_t qs[16]; } iris_block_q4_0;
typedef struct { iris_half d, m; uint8_t qs[16]; } iris_block_q4_1;
typedef struct { iris_half d; uint8_t qh[4]; uint8_t qs[16]; } iris_block_q5_0;
typedef struct { iris_half d, m; uint8_t qh[4]; uint8_t qs[16]; } iris_block_q5_1;
typedef struct { iris_half d; int8_t qs[32]; } iris_block_q8_0;
typedef struct { uint8_t scales[16]; uint8_t qs[64]; iris_half d, dmin; } iris_block_q2_k;
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; iris_half d; } iris_block_q3_k;
typedef struct { iris_half d, dmin; uint8_t scales[12]; uint8_t qs[128]; } iris_block_q4_k;
typedef struct { iris_half d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } iris_block_q5_k;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; iris_half d; } iris_block_q6_k;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } iris_block_q8_k;

/* Converts n elements (a whole number of blocks) of any dtype to f32:
   F32, F16, BF16, I32 and every block type above. */
void iris_dequantize_row(iris_dtype t, const void *src, float *dst, int64_t n);

/* Quantizes n floats (a whole number of blocks) into type t (F16, BF16, Q4_0, Q4_1, Q5_0,
   Q5_1, Q8_0, Q2_K..Q6_K, Q8_K), rounding as the GGUF reference quantizers do.
   IRIS_ERR_UNSUPPORTED for other types, IRIS_ERR_SHAPE if n is not a multiple of the block. */
iris_status iris_quantize_row(iris_dtype t, const float *src, void *dst, int64_t n);

/* Matrix-vector work straight on quantized blocks: activations are quantized
   once to iris_vec_dot_type(w) (Q8_0 or Q8_K; F16 for F16 weights, F32 otherwise) and
   each weight row is dotted with them without dequantizing the row. */
iris_dtype iris_vec_dot_type(iris_dtype w);
/* sum_i w[i] * x[i] over n elements; w is one row of type `wt`, x is in iris_vec_dot_type(wt).
   Uses AVX2/AVX-512 when the CPU has them (core/cpu/quant_dot.c). */
float iris_vec_dot(iris_dtype wt, int64_t n, const void *w, const void *x);

/* ---- additions (quant.c) ---- */

/* Quantizes activations for iris_vec_dot: t is iris_vec_dot_type(w). Same as iris_quantize_row
   except for Q8_0, which rounds as ggml's x86 CPU backend does at run time (q = x * (127/amax),
   ties to even) rather than as the file reference (q = x * (1/d), ties away from zero); they
   differ in rare last-bit cases. Use this for activations, iris_quantize_row for weights. */
iris_status iris_quantize_row_dot(iris_dtype t, const float *src, void *dst, int64_t n);

/* out[r] = iris_vec_dot(wt, n, w + r*w_stride bytes, x) for r < nrows: the matrix-vector
   form (the kernel is chosen once). All zeros if n is not a whole number of blocks. */
void iris_vec_dot_rows(iris_dtype wt, int64_t n, int64_t nrows, const void *w, size_t w_stride, const void *x,
                       float *out);

/* out[i*ldo + r] = iris_vec_dot(wt, n, w + r*w_stride bytes, x + i*x_stride bytes) for r < nw,
   i < nx: the matrix-matrix form (a prompt's rows against a weight matrix). Every output is
   bit-identical to iris_vec_dot's for the same pair at the same SIMD level; the speed comes from
   unpacking each weight block once for several activation rows. All zeros if n is not a
   whole number of blocks or the type has no dot product. (core/cpu/quant_dot.c) */
void iris_vec_dot_mm(iris_dtype wt, int64_t n, int64_t nw, const void *w, size_t w_stride, int64_t nx, const void *x,
                     size_t x_stride, float *out, int64_t ldo);

#endif
