/* quant_dot.c - the dot-product kernels behind iris_vec_dot.

   Matrix-vector products on quantized weights spend nearly all their time
   here (a Llama decode step is one dot per weight row), so Q4_0, Q8_0, Q4_K,
   Q5_K and Q6_K have AVX2 and AVX-512 VNNI kernels; the other types have a
   portable path (and Q5_0 an AVX2 one). The arithmetic is ggml's: an integer
   dot per block (exact, so every path agrees on it), scaled by the f16 block
   scales as float and accumulated in float, so results differ from
   llama.cpp's only by float summation order.
*/
#include "quant_dot.h"

#include <math.h>

#include "vecmath.h"

#if defined(IRIS_X86)
#define IRIS_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma,f16c")))
#endif

#define h2f iris_qdot_h2f

/* ============================================================ portable C */

static float dot_f32_scalar(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx;
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) s[k] += w[i + k] * x[i + k];
    for (; i < n; i++) s[0] += w[i] * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static float dot_f16_scalar(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx;
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) s[k] += h2f(w[i + k]) * h2f(x[i + k]);
    for (; i < n; i++) s[0] += h2f(w[i]) * h2f(x[i]);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static inline float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float dot_bf16_scalar(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw;
    const float *x = vx;
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) s[k] += bf2f(w[i + k]) * x[i + k];
    for (; i < n; i++) s[0] += bf2f(w[i]) * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static float dot_i32_scalar(int64_t n, const void *vw, const void *vx) {
    const int32_t *w = vw;
    const float *x = vx;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += (float)w[i] * x[i];
    return s;
}

static float dot_q4_0_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q4_0 *w = vw;
    const iris_block_q8_0 *x = vx;
    float acc = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sum = 0;
        for (int j = 0; j < 16; j++)
            sum += ((w[i].qs[j] & 15) - 8) * x[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + 16];
        acc += (float)sum * (h2f(w[i].d) * h2f(x[i].d));
    }
    return acc;
}

/* The _1 types carry a min m: sum (d*q + m) * dx*y = d*dx*sum(q*y) + m*dx*sum(y), sum(y) exact. */
static float dot_q4_1_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q4_1 *w = vw;
    const iris_block_q8_0 *x = vx;
    float acc = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sum = 0, sumy = 0;
        for (int j = 0; j < 16; j++) {
            sum += (w[i].qs[j] & 15) * x[i].qs[j] + (w[i].qs[j] >> 4) * x[i].qs[j + 16];
            sumy += x[i].qs[j] + x[i].qs[j + 16];
        }
        const float dx = h2f(x[i].d);
        acc += (float)sum * (h2f(w[i].d) * dx) + (float)sumy * (h2f(w[i].m) * dx);
    }
    return acc;
}

static float dot_q5_0_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q5_0 *w = vw;
    const iris_block_q8_0 *x = vx;
    float acc = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const uint32_t qh = iris_qdot_u32le(w[i].qh);
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            int lo = ((w[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4) - 16;
            int hi = ((w[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            sum += lo * x[i].qs[j] + hi * x[i].qs[j + 16];
        }
        acc += (float)sum * (h2f(w[i].d) * h2f(x[i].d));
    }
    return acc;
}

static float dot_q5_1_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q5_1 *w = vw;
    const iris_block_q8_0 *x = vx;
    float acc = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const uint32_t qh = iris_qdot_u32le(w[i].qh);
        int sum = 0, sumy = 0;
        for (int j = 0; j < 16; j++) {
            int lo = (w[i].qs[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (w[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sum += lo * x[i].qs[j] + hi * x[i].qs[j + 16];
            sumy += x[i].qs[j] + x[i].qs[j + 16];
        }
        const float dx = h2f(x[i].d);
        acc += (float)sum * (h2f(w[i].d) * dx) + (float)sumy * (h2f(w[i].m) * dx);
    }
    return acc;
}

static float dot_q8_0_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q8_0 *w = vw, *x = vx;
    float acc = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += w[i].qs[j] * x[i].qs[j];
        acc += (float)sum * (h2f(w[i].d) * h2f(x[i].d));
    }
    return acc;
}

/* K-quants: the portable path unpacks a super-block's integer levels, then dots them. */

static inline int dot16(const int8_t *a, const int8_t *b) {
    int s = 0;
    for (int l = 0; l < 16; l++) s += a[l] * b[l];
    return s;
}

/* The 2-bit fields of Q2_K/Q3_K: element 128h + 32s + l is bits 2s..2s+1 of qs[32h + l]. */
static inline void unpack_2bit(const uint8_t *qs, int8_t *q) {
    for (int h = 0; h < 2; h++)
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) q[128 * h + 32 * s + l] = (int8_t)((qs[32 * h + l] >> (2 * s)) & 3);
}

static float dot_q2_k_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q2_k *w = vw;
    const iris_block_q8_k *x = vx;
    int8_t q[256];
    float acc = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_2bit(w[i].qs, q);
        int isum = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            isum += (w[i].scales[j] & 15) * dot16(q + 16 * j, x[i].qs + 16 * j);
            summ += (w[i].scales[j] >> 4) * x[i].bsums[j];
        }
        acc += x[i].d * h2f(w[i].d) * (float)isum - x[i].d * h2f(w[i].dmin) * (float)summ;
    }
    return acc;
}

static float dot_q3_k_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q3_k *w = vw;
    const iris_block_q8_k *x = vx;
    int8_t q[256];
    float acc = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *s = w[i].scales;
        unpack_2bit(w[i].qs, q);
        for (int j = 0; j < 8; j++) /* bit j of hmask[l] clear: element 32j + l is 4 lower */
            for (int l = 0; l < 32; l++) q[32 * j + l] = (int8_t)(q[32 * j + l] - 4 + 4 * ((w[i].hmask[l] >> j) & 1));
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += iris_qdot_q3_k_scale(s, j) * dot16(q + 16 * j, x[i].qs + 16 * j);
        }
        acc += x[i].d * h2f(w[i].d) * (float)isum;
    }
    return acc;
}

/* Q4_K and Q5_K: one super-block's dot from its unpacked levels q (0..31). */
static float k4_block(const uint8_t scales[12], iris_half d, iris_half dmin, const int8_t *q,
                      const iris_block_q8_k *x) {
    int isum = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        iris_qdot_k4_scale_min(scales, j, &sc, &m);
        isum += sc * (dot16(q + 32 * j, x->qs + 32 * j) + dot16(q + 32 * j + 16, x->qs + 32 * j + 16));
        summ += m * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return x->d * h2f(d) * (float)isum - x->d * h2f(dmin) * (float)summ;
}

/* element 64c + l (l < 32) is the low nibble of qs[32c + l], 64c + 32 + l the high one */
static inline void unpack_k4(const uint8_t *qs, int8_t *q) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = (int8_t)(qs[32 * c + l] & 15);
            q[64 * c + 32 + l] = (int8_t)(qs[32 * c + l] >> 4);
        }
}

static float dot_q4_k_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q4_k *w = vw;
    const iris_block_q8_k *x = vx;
    int8_t q[256];
    float acc = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_k4(w[i].qs, q);
        acc += k4_block(w[i].scales, w[i].d, w[i].dmin, q, &x[i]);
    }
    return acc;
}

static float dot_q5_k_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q5_k *w = vw;
    const iris_block_q8_k *x = vx;
    int8_t q[256];
    float acc = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        unpack_k4(w[i].qs, q);
        for (int j = 0; j < 8; j++) /* bit j of qh[l]: fifth bit of element 32j + l */
            for (int l = 0; l < 32; l++) q[32 * j + l] = (int8_t)(q[32 * j + l] | ((w[i].qh[l] >> j) & 1) << 4);
        acc += k4_block(w[i].scales, w[i].d, w[i].dmin, q, &x[i]);
    }
    return acc;
}

static float dot_q6_k_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q6_k *w = vw;
    const iris_block_q8_k *x = vx;
    int8_t q[256];
    float acc = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h, *qh = w[i].qh + 32 * h;
            int8_t *o = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                o[l] = (int8_t)(((ql[l] & 15) | (qh[l] & 3) << 4) - 32);
                o[l + 32] = (int8_t)(((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32);
                o[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
                o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
            }
        }
        int isum = 0;
        for (int j = 0; j < 16; j++) isum += w[i].scales[j] * dot16(q + 16 * j, x[i].qs + 16 * j);
        acc += x[i].d * h2f(w[i].d) * (float)isum;
    }
    return acc;
}

static float dot_q8_k_scalar(int64_t n, const void *vw, const void *vx) {
    const iris_block_q8_k *w = vw, *x = vx;
    float acc = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int isum = 0;
        for (int j = 0; j < 256; j++) isum += w[i].qs[j] * x[i].qs[j];
        acc += w[i].d * x[i].d * (float)isum;
    }
    return acc;
}

static void quantize_q8_0_scalar(const float *x, iris_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) {
            float a = fabsf(x[j]);
            amax = a > amax ? a : amax;
        }
        const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = iris_f32_to_f16(d);
        for (int j = 0; j < 32; j++) {
            int q = iris_qdot_nearest_int(x[j] * id);
            y[i].qs[j] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        }
    }
}

/* ============================================================ AVX2 */
#if defined(IRIS_X86)

/* 8 int32 sums of 4 products each of signed bytes a and b (|b| <= 127). */
IRIS_AVX2 static inline __m256i dot_i8(__m256i a, __m256i b) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

IRIS_AVX2 static float dot_f32_avx2(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    float s = iris_vm_hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

IRIS_AVX2 static float dot_f16_avx2(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t i = 0;
#define LDH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(LDH(w + i), LDH(x + i), a0);
        a1 = _mm256_fmadd_ps(LDH(w + i + 8), LDH(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LDH(w + i), LDH(x + i), a0);
#undef LDH
    float s = iris_vm_hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += _cvtsh_ss(w[i]) * _cvtsh_ss(x[i]);
    return s;
}

IRIS_AVX2 static float dot_bf16_avx2(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw;
    const float *x = vx;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    int64_t i = 0;
#define LDB(p) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(LDB(w + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(LDB(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(LDB(w + i), _mm256_loadu_ps(x + i), a0);
#undef LDB
    float s = iris_vm_hsum8(_mm256_add_ps(a0, a1));
    for (; i < n; i++) s += bf2f(w[i]) * x[i];
    return s;
}

/* The 32 nibbles of a Q4 block as bytes in element order: low nibbles, then high. */
IRIS_AVX2 static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(15));
}

/* Byte j is 0xff where bit j of `bits` is set. */
IRIS_AVX2 static inline __m256i bits_to_bytes(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

IRIS_AVX2 static float dot_q5_0_avx2(int64_t n, const void *vw, const void *vx) {
    const iris_block_q5_0 *w = vw;
    const iris_block_q8_0 *x = vx;
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        /* q - 16 = nibble - 16 where the fifth bit is clear, nibble where it is set */
        __m256i hi = bits_to_bytes(iris_qdot_u32le(w[i].qh));
        __m256i a = _mm256_sub_epi8(nibbles32(w[i].qs), _mm256_andnot_si256(hi, sixteen));
        __m256i p = dot_i8(a, _mm256_loadu_si256((const __m256i *)x[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(w[i].d) * _cvtsh_ss(x[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return iris_vm_hsum8(acc);
}

/* The integer kernels are written once as macros and compiled twice: for AVX2, and for
   AVX-512 VNNI, where the byte and word dot products accumulate in one instruction
   (vpdpbusd, vpdpwssd). Both stay on 256 bits: 512-bit versions of these measured slower
   here (they become shuffle-bound and close a vector port). */
#define I8DOT_AVX2(a, b) \
    _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a)), _mm256_set1_epi16(1))
#define I8DOT_VNNI(a, b) _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
/* sum (u - 8) * y for nibbles u in 0..15 */
#define Q4DOT_AVX2(u, y) I8DOT_AVX2(_mm256_sub_epi8(u, _mm256_set1_epi8(8)), y)
#define Q4DOT_VNNI(u, y)                                          \
    _mm256_sub_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), u, y), \
                     _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(8), y))
/* acc + pairwise i16 products */
#define WACC_AVX2(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
#define WACC_VNNI(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)

#define BLOCK_D(w, x, i) _mm256_set1_ps(_cvtsh_ss((w)[i].d) * _cvtsh_ss((x)[i].d))

#define DEF_DOT_Q4_0(NAME, ATTR, Q4DOT)                                                                     \
    ATTR static float NAME(int64_t n, const void *vw, const void *vx) {                                     \
        const iris_block_q4_0 *w = vw;                                                                      \
        const iris_block_q8_0 *x = vx;                                                                      \
        const int64_t nb = n / 32;                                                                          \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;                                                     \
        int64_t i = 0;                                                                                      \
        for (; i + 2 <= nb; i += 2) {                                                                       \
            const __m256i p0 = Q4DOT(nibbles32(w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));     \
            const __m256i p1 = Q4DOT(nibbles32(w[i + 1].qs), _mm256_loadu_si256((const __m256i *)x[i + 1].qs)); \
            acc0 = _mm256_fmadd_ps(BLOCK_D(w, x, i), _mm256_cvtepi32_ps(p0), acc0);                         \
            acc1 = _mm256_fmadd_ps(BLOCK_D(w, x, i + 1), _mm256_cvtepi32_ps(p1), acc1);                     \
        }                                                                                                   \
        if (i < nb) {                                                                                       \
            const __m256i p = Q4DOT(nibbles32(w[i].qs), _mm256_loadu_si256((const __m256i *)x[i].qs));      \
            acc0 = _mm256_fmadd_ps(BLOCK_D(w, x, i), _mm256_cvtepi32_ps(p), acc0);                          \
        }                                                                                                   \
        return iris_vm_hsum8(_mm256_add_ps(acc0, acc1));                                                            \
    }

/* One accumulator, block after block, as ggml's AVX2 ggml_vec_dot_q8_0_q8_0 and llamafile's
   tinyBLAS_Q0 have it: Q8_0 products are llama.cpp's bit for bit. (Its Q4_0 weights are repacked
   for other kernels, whose order the two accumulators here do not follow either.) */
#define DEF_DOT_Q8_0(NAME, ATTR, I8DOT)                                                                     \
    ATTR static float NAME(int64_t n, const void *vw, const void *vx) {                                     \
        const iris_block_q8_0 *w = vw, *x = vx;                                                             \
        const int64_t nb = n / 32;                                                                          \
        __m256 acc = _mm256_setzero_ps();                                                                   \
        int64_t i = 0;                                                                                      \
        for (; i + 2 <= nb; i += 2) {                                                                       \
            const __m256i p0 = I8DOT(_mm256_loadu_si256((const __m256i *)w[i].qs),                          \
                                     _mm256_loadu_si256((const __m256i *)x[i].qs));                         \
            const __m256i p1 = I8DOT(_mm256_loadu_si256((const __m256i *)w[i + 1].qs),                      \
                                     _mm256_loadu_si256((const __m256i *)x[i + 1].qs));                     \
            acc = _mm256_fmadd_ps(BLOCK_D(w, x, i), _mm256_cvtepi32_ps(p0), acc);                           \
            acc = _mm256_fmadd_ps(BLOCK_D(w, x, i + 1), _mm256_cvtepi32_ps(p1), acc);                       \
        }                                                                                                   \
        if (i < nb) {                                                                                       \
            const __m256i p = I8DOT(_mm256_loadu_si256((const __m256i *)w[i].qs),                           \
                                    _mm256_loadu_si256((const __m256i *)x[i].qs));                          \
            acc = _mm256_fmadd_ps(BLOCK_D(w, x, i), _mm256_cvtepi32_ps(p), acc);                            \
        }                                                                                                   \
        return iris_vm_hsum8(acc);                                                                          \
    }

/* The 8 six-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K/Q5_K block, in order. */
static inline void k4_unpack(const uint8_t s[12], uint32_t out[4]) {
    uint32_t a[3];
    memcpy(a, s, 12);
    out[0] = a[0] & 0x3f3f3f3fu;
    out[1] = (a[2] & 0x0f0f0f0fu) | ((a[0] >> 6) & 0x03030303u) << 4;
    out[2] = a[1] & 0x3f3f3f3fu;
    out[3] = ((a[2] >> 4) & 0x0f0f0f0fu) | ((a[1] >> 6) & 0x03030303u) << 4;
}

/* Per Q4_K/Q5_K super-block: the scales as i16 in both 128-bit lanes, and (into acc_m) the
   min term dmin * sum_j m_j * (the two bsums of sub-block j), all in SIMD. */
#define K4_PROLOGUE()                                                                                        \
    uint32_t sm[4];                                                                                         \
    k4_unpack(w[i].scales, sm);                                                                             \
    const __m256i sm16 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sm));                        \
    const __m256i bs = _mm256_loadu_si256((const __m256i *)x[i].bsums);                                     \
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));      \
    acc_m = _mm_fmadd_ps(_mm_set1_ps(x[i].d * _cvtsh_ss(w[i].dmin)),                                        \
                         _mm_cvtepi32_ps(_mm_madd_epi16(_mm256_extracti128_si256(sm16, 1), pairs)), acc_m); \
    const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm16))

/* i16 lane j of `scales` in every lane */
#define SCALE16(j) _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)((2 * (j) + 1) << 8 | 2 * (j))))

#define DEF_DOT_Q4_K(NAME, ATTR, WACC)                                                                      \
    ATTR static float NAME(int64_t n, const void *vw, const void *vx) {                                     \
        const iris_block_q4_k *w = vw;                                                                      \
        const iris_block_q8_k *x = vx;                                                                      \
        const __m256i m4 = _mm256_set1_epi8(15);                                                            \
        __m256 acc = _mm256_setzero_ps();                                                                   \
        __m128 acc_m = _mm_setzero_ps();                                                                    \
        for (int64_t i = 0; i < n / 256; i++) {                                                             \
            K4_PROLOGUE();                                                                                  \
            __m256i sumi = _mm256_setzero_si256();                                                          \
            for (int c = 0; c < 4; c++) {                                                                   \
                const __m256i q = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));                  \
                const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4); \
                const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c))); \
                const __m256i phi =                                                                         \
                    _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c + 32))); \
                sumi = WACC(sumi, plo, SCALE16(2 * c));                                                     \
                sumi = WACC(sumi, phi, SCALE16(2 * c + 1));                                                 \
            }                                                                                               \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * _cvtsh_ss(w[i].d)), _mm256_cvtepi32_ps(sumi), acc); \
        }                                                                                                   \
        acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));                                             \
        acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));                                                  \
        return iris_vm_hsum8(acc) - _mm_cvtss_f32(acc_m);                                                           \
    }

#define DEF_DOT_Q5_K(NAME, ATTR, WACC)                                                                      \
    ATTR static float NAME(int64_t n, const void *vw, const void *vx) {                                     \
        const iris_block_q5_k *w = vw;                                                                      \
        const iris_block_q8_k *x = vx;                                                                      \
        const __m256i m4 = _mm256_set1_epi8(15), bit4 = _mm256_set1_epi8(16);                               \
        __m256 acc = _mm256_setzero_ps();                                                                   \
        __m128 acc_m = _mm_setzero_ps();                                                                    \
        for (int64_t i = 0; i < n / 256; i++) {                                                             \
            K4_PROLOGUE();                                                                                  \
            /* bit j of qh[l] is the fifth bit of element 32j + l; chunk c takes bits 2c, 2c+1 */       \
            __m256i hb = _mm256_loadu_si256((const __m256i *)w[i].qh);                                      \
            __m256i sumi = _mm256_setzero_si256();                                                          \
            for (int c = 0; c < 4; c++) {                                                                   \
                const __m256i q = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));                  \
                __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);   \
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), bit4));                 \
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), bit4));                 \
                hb = _mm256_srli_epi16(hb, 2);                                                              \
                const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c))); \
                const __m256i phi =                                                                         \
                    _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x[i].qs + 64 * c + 32))); \
                sumi = WACC(sumi, plo, SCALE16(2 * c));                                                     \
                sumi = WACC(sumi, phi, SCALE16(2 * c + 1));                                                 \
            }                                                                                               \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * _cvtsh_ss(w[i].d)), _mm256_cvtepi32_ps(sumi), acc); \
        }                                                                                                   \
        acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));                                             \
        acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));                                                  \
        return iris_vm_hsum8(acc) - _mm_cvtss_f32(acc_m);                                                           \
    }

/* Q6_K: each half of 128 elements unpacks into four 32-element groups k (layout in quant.c);
   a group's two 16-element sub-blocks sit in the two 128-bit lanes, so one shuffle of the
   half's 8 scales gives [scale 2k x 8 | scale 2k+1 x 8]. The -32 offset is 32 * sum_j scale_j *
   bsum_j, taken out up front. */
#define DEF_DOT_Q6_K(NAME, ATTR, WACC)                                                                      \
    ATTR static float NAME(int64_t n, const void *vw, const void *vx) {                                     \
        const iris_block_q6_k *w = vw;                                                                      \
        const iris_block_q8_k *x = vx;                                                                      \
        const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);                                  \
        __m256 acc = _mm256_setzero_ps();                                                                   \
        for (int64_t i = 0; i < n / 256; i++) {                                                             \
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales));       \
            const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)x[i].bsums));   \
            __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));             \
            for (int h = 0; h < 2; h++) {                                                                   \
                const uint8_t *ql = w[i].ql + 64 * h;                                                       \
                const int8_t *y = x[i].qs + 128 * h;                                                        \
                const __m256i scales = _mm256_broadcastsi128_si256(                                         \
                    h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16));                  \
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);                                 \
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));                          \
                const __m256i hh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));                 \
                __m256i q[4];                                                                               \
                q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4)); \
                q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),                                            \
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4)); \
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),                      \
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4)); \
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),                      \
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4)); \
                for (int k = 0; k < 4; k++) {                                                               \
                    const __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(y + 32 * k))); \
                    const __m256i s = _mm256_shuffle_epi8(                                                  \
                        scales, _mm256_set_m128i(_mm_set1_epi16((short)((4 * k + 3) << 8 | (4 * k + 2))),   \
                                                 _mm_set1_epi16((short)((4 * k + 1) << 8 | 4 * k))));       \
                    sumi = WACC(sumi, p, s);                                                                \
                }                                                                                           \
            }                                                                                               \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(x[i].d * _cvtsh_ss(w[i].d)), _mm256_cvtepi32_ps(sumi), acc); \
        }                                                                                                   \
        return iris_vm_hsum8(acc);                                                                                  \
    }

/* ---- one weight row against four activation rows (iris_vec_dot_mm) ----
   Each kernel below is its single-row twin above with the weight block's unpacking hoisted
   out of a loop over four activation rows: per row the same integer sums, the same
   accumulators in the same order and the same final reduction, so every output is
   bit-identical to the single-row kernel's. x rows are xs bytes apart; out gets 4 floats. */
#define MM_XROWS(T)                                                                                         \
    const T *x[4];                                                                                          \
    for (int r = 0; r < 4; r++) x[r] = (const T *)((const char *)vx + (size_t)r * xs)

#define DEF_MM_Q4_0(NAME, ATTR, Q4DOT)                                                                      \
    ATTR static void NAME(int64_t n, const void *vw, const void *vx, size_t xs, float *out) {               \
        const iris_block_q4_0 *w = vw;                                                                      \
        MM_XROWS(iris_block_q8_0);                                                                          \
        const int64_t nb = n / 32;                                                                          \
        __m256 acc0[4], acc1[4];                                                                            \
        for (int r = 0; r < 4; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();                                \
        int64_t i = 0;                                                                                      \
        for (; i + 2 <= nb; i += 2) {                                                                       \
            const __m256i u0 = nibbles32(w[i].qs), u1 = nibbles32(w[i + 1].qs);                             \
            const float d0 = _cvtsh_ss(w[i].d), d1 = _cvtsh_ss(w[i + 1].d);                                 \
            for (int r = 0; r < 4; r++) {                                                                   \
                const __m256i p0 = Q4DOT(u0, _mm256_loadu_si256((const __m256i *)x[r][i].qs));              \
                const __m256i p1 = Q4DOT(u1, _mm256_loadu_si256((const __m256i *)x[r][i + 1].qs));          \
                acc0[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * _cvtsh_ss(x[r][i].d)), _mm256_cvtepi32_ps(p0), acc0[r]); \
                acc1[r] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * _cvtsh_ss(x[r][i + 1].d)), _mm256_cvtepi32_ps(p1), acc1[r]); \
            }                                                                                               \
        }                                                                                                   \
        if (i < nb) {                                                                                       \
            const __m256i u0 = nibbles32(w[i].qs);                                                          \
            const float d0 = _cvtsh_ss(w[i].d);                                                             \
            for (int r = 0; r < 4; r++) {                                                                   \
                const __m256i p = Q4DOT(u0, _mm256_loadu_si256((const __m256i *)x[r][i].qs));               \
                acc0[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * _cvtsh_ss(x[r][i].d)), _mm256_cvtepi32_ps(p), acc0[r]); \
            }                                                                                               \
        }                                                                                                   \
        for (int r = 0; r < 4; r++) out[r] = iris_vm_hsum8(_mm256_add_ps(acc0[r], acc1[r]));                \
    }

#define DEF_MM_Q8_0(NAME, ATTR, I8DOT)                                                                      \
    ATTR static void NAME(int64_t n, const void *vw, const void *vx, size_t xs, float *out) {               \
        const iris_block_q8_0 *w = vw;                                                                      \
        MM_XROWS(iris_block_q8_0);                                                                          \
        const int64_t nb = n / 32;                                                                          \
        __m256 acc[4];                                                                                      \
        for (int r = 0; r < 4; r++) acc[r] = _mm256_setzero_ps();                                           \
        int64_t i = 0;                                                                                      \
        for (; i + 2 <= nb; i += 2) {                                                                       \
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)w[i].qs);                                \
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)w[i + 1].qs);                            \
            const float d0 = _cvtsh_ss(w[i].d), d1 = _cvtsh_ss(w[i + 1].d);                                 \
            for (int r = 0; r < 4; r++) {                                                                   \
                const __m256i p0 = I8DOT(w0, _mm256_loadu_si256((const __m256i *)x[r][i].qs));              \
                const __m256i p1 = I8DOT(w1, _mm256_loadu_si256((const __m256i *)x[r][i + 1].qs));          \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * _cvtsh_ss(x[r][i].d)), _mm256_cvtepi32_ps(p0), acc[r]); \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * _cvtsh_ss(x[r][i + 1].d)), _mm256_cvtepi32_ps(p1), acc[r]); \
            }                                                                                               \
        }                                                                                                   \
        if (i < nb) {                                                                                       \
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)w[i].qs);                                \
            const float d0 = _cvtsh_ss(w[i].d);                                                             \
            for (int r = 0; r < 4; r++) {                                                                   \
                const __m256i p = I8DOT(w0, _mm256_loadu_si256((const __m256i *)x[r][i].qs));               \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * _cvtsh_ss(x[r][i].d)), _mm256_cvtepi32_ps(p), acc[r]); \
            }                                                                                               \
        }                                                                                                   \
        for (int r = 0; r < 4; r++) out[r] = iris_vm_hsum8(acc[r]);                                         \
    }

#define DEF_MM_Q4_K(NAME, ATTR, WACC)                                                                       \
    ATTR static void NAME(int64_t n, const void *vw, const void *vx, size_t xs, float *out) {               \
        const iris_block_q4_k *w = vw;                                                                      \
        MM_XROWS(iris_block_q8_k);                                                                          \
        const __m256i m4 = _mm256_set1_epi8(15);                                                            \
        __m256 acc[4];                                                                                      \
        __m128 acc_m[4];                                                                                    \
        for (int r = 0; r < 4; r++) acc[r] = _mm256_setzero_ps(), acc_m[r] = _mm_setzero_ps();              \
        for (int64_t i = 0; i < n / 256; i++) {                                                             \
            uint32_t sm[4];                                                                                 \
            k4_unpack(w[i].scales, sm);                                                                     \
            const __m256i sm16 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)sm));                \
            const __m128i mins = _mm256_extracti128_si256(sm16, 1);                                         \
            const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sm16));               \
            const float dmin = _cvtsh_ss(w[i].dmin), d = _cvtsh_ss(w[i].d);                                 \
            __m256i sumi[4];                                                                                \
            for (int r = 0; r < 4; r++) {                                                                   \
                const __m256i bs = _mm256_loadu_si256((const __m256i *)x[r][i].bsums);                      \
                const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1)); \
                acc_m[r] = _mm_fmadd_ps(_mm_set1_ps(x[r][i].d * dmin), _mm_cvtepi32_ps(_mm_madd_epi16(mins, pairs)), \
                                        acc_m[r]);                                                          \
                sumi[r] = _mm256_setzero_si256();                                                           \
            }                                                                                               \
            for (int c = 0; c < 4; c++) {                                                                   \
                const __m256i q = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));                  \
                const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4); \
                const __m256i slo = SCALE16(2 * c), shi = SCALE16(2 * c + 1);                               \
                for (int r = 0; r < 4; r++) {                                                               \
                    const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(x[r][i].qs + 64 * c))); \
                    const __m256i phi =                                                                     \
                        _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(x[r][i].qs + 64 * c + 32))); \
                    sumi[r] = WACC(sumi[r], plo, slo);                                                      \
                    sumi[r] = WACC(sumi[r], phi, shi);                                                      \
                }                                                                                           \
            }                                                                                               \
            for (int r = 0; r < 4; r++)                                                                     \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(x[r][i].d * d), _mm256_cvtepi32_ps(sumi[r]), acc[r]); \
        }                                                                                                   \
        for (int r = 0; r < 4; r++) {                                                                       \
            __m128 m = _mm_add_ps(acc_m[r], _mm_movehl_ps(acc_m[r], acc_m[r]));                             \
            m = _mm_add_ss(m, _mm_movehdup_ps(m));                                                          \
            out[r] = iris_vm_hsum8(acc[r]) - _mm_cvtss_f32(m);                                              \
        }                                                                                                   \
    }

#define DEF_MM_Q6_K(NAME, ATTR, WACC)                                                                       \
    ATTR static void NAME(int64_t n, const void *vw, const void *vx, size_t xs, float *out) {               \
        const iris_block_q6_k *w = vw;                                                                      \
        MM_XROWS(iris_block_q8_k);                                                                          \
        const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);                                  \
        __m256 acc[4];                                                                                      \
        for (int r = 0; r < 4; r++) acc[r] = _mm256_setzero_ps();                                           \
        for (int64_t i = 0; i < n / 256; i++) {                                                             \
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].scales));       \
            const float d = _cvtsh_ss(w[i].d);                                                              \
            __m256i sumi[4];                                                                                \
            for (int r = 0; r < 4; r++) {                                                                   \
                const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)x[r][i].bsums)); \
                sumi[r] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));              \
            }                                                                                               \
            for (int h = 0; h < 2; h++) {                                                                   \
                const uint8_t *ql = w[i].ql + 64 * h;                                                       \
                const __m256i scales = _mm256_broadcastsi128_si256(                                         \
                    h ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16));                  \
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);                                 \
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));                          \
                const __m256i hh = _mm256_loadu_si256((const __m256i *)(w[i].qh + 32 * h));                 \
                __m256i q[4];                                                                               \
                q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4)); \
                q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),                                            \
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4)); \
                q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),                      \
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4)); \
                q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),                      \
                                       _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4)); \
                for (int k = 0; k < 4; k++) {                                                               \
                    const __m256i s = _mm256_shuffle_epi8(                                                  \
                        scales, _mm256_set_m128i(_mm_set1_epi16((short)((4 * k + 3) << 8 | (4 * k + 2))),   \
                                                 _mm_set1_epi16((short)((4 * k + 1) << 8 | 4 * k))));       \
                    for (int r = 0; r < 4; r++) {                                                           \
                        const int8_t *y = x[r][i].qs + 128 * h + 32 * k;                                    \
                        sumi[r] = WACC(sumi[r], _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)y)), s); \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
            for (int r = 0; r < 4; r++)                                                                     \
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(x[r][i].d * d), _mm256_cvtepi32_ps(sumi[r]), acc[r]); \
        }                                                                                                   \
        for (int r = 0; r < 4; r++) out[r] = iris_vm_hsum8(acc[r]);                                         \
    }

DEF_MM_Q4_0(mm_q4_0_avx2, IRIS_AVX2, Q4DOT_AVX2)
DEF_MM_Q8_0(mm_q8_0_avx2, IRIS_AVX2, I8DOT_AVX2)
DEF_MM_Q4_K(mm_q4_k_avx2, IRIS_AVX2, WACC_AVX2)
DEF_MM_Q6_K(mm_q6_k_avx2, IRIS_AVX2, WACC_AVX2)

DEF_DOT_Q4_0(dot_q4_0_avx2, IRIS_AVX2, Q4DOT_AVX2)
DEF_DOT_Q8_0(dot_q8_0_avx2, IRIS_AVX2, I8DOT_AVX2)
DEF_DOT_Q4_K(dot_q4_k_avx2, IRIS_AVX2, WACC_AVX2)
DEF_DOT_Q5_K(dot_q5_k_avx2, IRIS_AVX2, WACC_AVX2)
DEF_DOT_Q6_K(dot_q6_k_avx2, IRIS_AVX2, WACC_AVX2)

IRIS_AVX2 static void quantize_q8_0_avx2(const float *x, iris_block_q8_0 *y, int64_t nb) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < nb; i++, x += 32) {
        __m256 v[4];
        for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                 _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        const float amax = iris_vm_hmax8(m);
        y[i].d = iris_f32_to_f16(amax / 127.f);
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        __m256i q[4];
        for (int k = 0; k < 4; k++)
            q[k] = _mm256_cvtps_epi32(
                _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        /* packs work per 128-bit lane: the dword permute restores element order */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, p);
    }
}

/* Q8_K as the reference encoder makes it (iscale = -127/max of the first largest |x|, round
   to nearest even, clamp to 127), 8 floats at a time; bsums from the packed bytes. */
IRIS_AVX2 static void quantize_q8_k_avx2(const float *x, iris_block_q8_k *y, int64_t nb) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < nb; i++, x += 256) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * k)));
        const float amax = iris_vm_hmax8(m);
        memset(&y[i], 0, sizeof y[i]);
        if (amax == 0) continue;
        float max = 0;
        for (int k = 0; k < 32; k++) { /* the first element of largest magnitude sets the sign */
            const __m256 v = _mm256_loadu_ps(x + 8 * k);
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) {
                max = x[8 * k + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        __m256i sums[8];
        for (int k = 0; k < 8; k++) {
            __m256i q[4];
            for (int j = 0; j < 4; j++)
                q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 32 * k + 8 * j), is),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * k), p);
            /* lanes 0-3: quads of group 2k, lanes 4-7: of group 2k+1 */
            sums[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, p), ones16);
        }
        /* two rounds of hadd: [g0 g2 g4 g6 | g1 g3 g5 g7] and the same for groups 8-15 */
        const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(sums[0], sums[1]), _mm256_hadd_epi32(sums[2], sums[3]));
        const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(sums[4], sums[5]), _mm256_hadd_epi32(sums[6], sums[7]));
        const __m256i ab = _mm256_packs_epi32(a, b); /* [g0 g2 .. g14 | g1 g3 .. g15] */
        const __m128i even = _mm256_castsi256_si128(ab), odd = _mm256_extracti128_si256(ab, 1);
        _mm_storeu_si128((__m128i *)y[i].bsums, _mm_unpacklo_epi16(even, odd));
        _mm_storeu_si128((__m128i *)(y[i].bsums + 8), _mm_unpackhi_epi16(even, odd));
        y[i].d = 1 / iscale;
    }
}

/* ============================================================ AVX-512 */

IRIS_AVX512 static float dot_f32_avx512(int64_t n, const void *vw, const void *vx) {
    const float *w = vw, *x = vx;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
    }
    if (i < n) { /* masked tail: up to 31 elements */
        for (int k = 0; k < 2 && i < n; k++, i += 16) {
            const __mmask16 mk = iris_vm_tail16(n - i < 16 ? n - i : 16);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, w + i), _mm512_maskz_loadu_ps(mk, x + i), a0);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

IRIS_AVX512 static float dot_f16_avx512(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw, *x = vx;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0;
    int64_t i = 0;
#define LDH(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(LDH(w + i), LDH(x + i), a0);
        a1 = _mm512_fmadd_ps(LDH(w + i + 16), LDH(x + i + 16), a1);
    }
#undef LDH
    for (; i < n; i += 16) {
        const __mmask16 mk = iris_vm_tail16(n - i < 16 ? n - i : 16);
        a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, w + i)),
                             _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, x + i)), a0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

IRIS_AVX512 static float dot_bf16_avx512(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw;
    const float *x = vx;
    __m512 a0 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 mk = iris_vm_tail16(n - i < 16 ? n - i : 16);
        __m512 wf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, w + i)), 16));
        a0 = _mm512_fmadd_ps(wf, _mm512_maskz_loadu_ps(mk, x + i), a0);
    }
    return _mm512_reduce_add_ps(a0);
}

DEF_DOT_Q4_0(dot_q4_0_vnni, IRIS_AVX512VNNI, Q4DOT_VNNI)
DEF_DOT_Q8_0(dot_q8_0_vnni, IRIS_AVX512VNNI, I8DOT_VNNI)
DEF_DOT_Q4_K(dot_q4_k_vnni, IRIS_AVX512VNNI, WACC_VNNI)
DEF_DOT_Q5_K(dot_q5_k_vnni, IRIS_AVX512VNNI, WACC_VNNI)
DEF_DOT_Q6_K(dot_q6_k_vnni, IRIS_AVX512VNNI, WACC_VNNI)
DEF_MM_Q4_0(mm_q4_0_vnni, IRIS_AVX512VNNI, Q4DOT_VNNI)
DEF_MM_Q8_0(mm_q8_0_vnni, IRIS_AVX512VNNI, I8DOT_VNNI)
DEF_MM_Q4_K(mm_q4_k_vnni, IRIS_AVX512VNNI, WACC_VNNI)
DEF_MM_Q6_K(mm_q6_k_vnni, IRIS_AVX512VNNI, WACC_VNNI)

#endif /* IRIS_X86 */

/* ============================================================ dispatch */

typedef struct {
    iris_qdot_fn scalar, avx2, avx512;
    int avx512_vnni; /* the avx512 kernel needs VNNI */
} qdot_entry;

#if defined(IRIS_X86)
#define K(s, a2, a5, v) {s, a2, a5, v}
#else
#define K(s, a2, a5, v) {s, NULL, NULL, 0}
#endif

static const qdot_entry table[IRIS_DTYPE_COUNT] = {
    [IRIS_F32] = K(dot_f32_scalar, dot_f32_avx2, dot_f32_avx512, 0),
    [IRIS_F16] = K(dot_f16_scalar, dot_f16_avx2, dot_f16_avx512, 0),
    [IRIS_BF16] = K(dot_bf16_scalar, dot_bf16_avx2, dot_bf16_avx512, 0),
    [IRIS_I32] = K(dot_i32_scalar, NULL, NULL, 0),
    [IRIS_Q4_0] = K(dot_q4_0_scalar, dot_q4_0_avx2, dot_q4_0_vnni, 1),
    [IRIS_Q4_1] = K(dot_q4_1_scalar, NULL, NULL, 0),
    [IRIS_Q5_0] = K(dot_q5_0_scalar, dot_q5_0_avx2, NULL, 0),
    [IRIS_Q5_1] = K(dot_q5_1_scalar, NULL, NULL, 0),
    [IRIS_Q8_0] = K(dot_q8_0_scalar, dot_q8_0_avx2, dot_q8_0_vnni, 1),
    [IRIS_Q2_K] = K(dot_q2_k_scalar, NULL, NULL, 0),
    [IRIS_Q3_K] = K(dot_q3_k_scalar, NULL, NULL, 0),
    [IRIS_Q4_K] = K(dot_q4_k_scalar, dot_q4_k_avx2, dot_q4_k_vnni, 1),
    [IRIS_Q5_K] = K(dot_q5_k_scalar, dot_q5_k_avx2, dot_q5_k_vnni, 1),
    [IRIS_Q6_K] = K(dot_q6_k_scalar, dot_q6_k_avx2, dot_q6_k_vnni, 1),
    [IRIS_Q8_K] = K(dot_q8_k_scalar, NULL, NULL, 0),
};

int iris_qdot_has_vnni(void) {
    static int cached = -1;
    if (cached < 0) {
#if defined(IRIS_X86)
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vnni");
#else
        cached = 0;
#endif
    }
    return cached;
}

/* 0 scalar, 1 avx2, 2 avx512, 3 avx512 with VNNI; -1 none */
static int pick(iris_dtype wt, int simd) {
    if ((unsigned)wt >= IRIS_DTYPE_COUNT || !table[wt].scalar) return -1;
    const qdot_entry *e = &table[wt];
    if (simd >= IRIS_SIMD_AVX512 && e->avx512 && (!e->avx512_vnni || iris_qdot_has_vnni())) return e->avx512_vnni ? 3 : 2;
    if (simd >= IRIS_SIMD_AVX2 && e->avx2) return 1;
    return 0;
}

iris_qdot_fn iris_qdot_kernel(iris_dtype wt, int simd) {
    switch (pick(wt, simd)) {
    case 0: return table[wt].scalar;
    case 1: return table[wt].avx2;
    case 2:
    case 3: return table[wt].avx512;
    default: return NULL;
    }
}

const char *iris_qdot_path(iris_dtype wt, int simd) {
    static const char *names[] = {"none", "scalar", "avx2", "avx512", "avx512vnni"};
    return names[pick(wt, simd) + 1];
}

int iris_qdot_quantize_q8_k(const float *x, void *dst, int64_t n, int simd) {
#if defined(IRIS_X86)
    if (simd >= IRIS_SIMD_AVX2) {
        quantize_q8_k_avx2(x, dst, n / 256);
        return 1;
    }
#else
    (void)x, (void)dst, (void)n, (void)simd;
#endif
    return 0;
}

void iris_qdot_quantize_q8_0(const float *x, void *dst, int64_t n, int simd) {
#if defined(IRIS_X86)
    if (simd >= IRIS_SIMD_AVX2) {
        quantize_q8_0_avx2(x, dst, n / 32);
        return;
    }
#else
    (void)simd;
#endif
    quantize_q8_0_scalar(x, dst, n / 32);
}

/* ============================================================ many rows */

typedef void (*qdot4_fn)(int64_t n, const void *w, const void *x, size_t xs, float *out);

static qdot4_fn mm_kernel(iris_dtype wt, int simd) {
#if defined(IRIS_X86)
    const int level = pick(wt, simd);
    switch (wt) {
    case IRIS_Q4_0: return level == 3 ? mm_q4_0_vnni : level == 1 ? mm_q4_0_avx2 : NULL;
    case IRIS_Q8_0: return level == 3 ? mm_q8_0_vnni : level == 1 ? mm_q8_0_avx2 : NULL;
    case IRIS_Q4_K: return level == 3 ? mm_q4_k_vnni : level == 1 ? mm_q4_k_avx2 : NULL;
    case IRIS_Q6_K: return level == 3 ? mm_q6_k_vnni : level == 1 ? mm_q6_k_avx2 : NULL;
    default: return NULL;
    }
#else
    (void)wt, (void)simd;
    return NULL;
#endif
}

int iris_qdot_mm_has_kernel(iris_dtype wt, int simd) { return mm_kernel(wt, simd) != NULL; }

#define MM_WTILE 16 /* weight rows kept in L1 while groups of 4 activation rows pass over them */

void iris_qdot_mm(iris_dtype wt, int simd, int64_t n, int64_t nw, const void *w, size_t w_stride, int64_t nx,
                  const void *x, size_t x_stride, float *out, int64_t ldo) {
    const iris_qdot_fn fn = iris_qdot_kernel(wt, simd);
    if (!fn || n <= 0 || n % iris_dtype_get(wt)->block_size) {
        for (int64_t i = 0; i < nx; i++)
            for (int64_t r = 0; r < nw; r++) out[i * ldo + r] = 0.0f;
        return;
    }
    const qdot4_fn fn4 = mm_kernel(wt, simd);
    const char *wb = w, *xb = x;
    for (int64_t r0 = 0; r0 < nw; r0 += MM_WTILE) {
        const int64_t rn = nw - r0 < MM_WTILE ? nw - r0 : MM_WTILE;
        int64_t i = 0;
        if (fn4)
            for (; i + 4 <= nx; i += 4)
                for (int64_t r = r0; r < r0 + rn; r++) {
                    float o[4];
                    fn4(n, wb + r * w_stride, xb + i * x_stride, x_stride, o);
                    for (int k = 0; k < 4; k++) out[(i + k) * ldo + r] = o[k];
                }
        for (; i < nx; i++)
            for (int64_t r = r0; r < r0 + rn; r++) out[i * ldo + r] = fn(n, wb + r * w_stride, xb + i * x_stride);
    }
}

void iris_vec_dot_mm(iris_dtype wt, int64_t n, int64_t nw, const void *w, size_t w_stride, int64_t nx, const void *x,
                     size_t x_stride, float *out, int64_t ldo) {
    iris_qdot_mm(wt, iris_cpu_simd(), n, nw, w, w_stride, nx, x, x_stride, out, ldo);
}
