/* attention.c - scaled dot-product attention without the full score matrix.

   out[b,h,i,:] = softmax_j(q[b,h,i,:] . k[b,h/G,j,:] * scale + mask[i,j]) v[b,h/G,j,:],
   G = H/Hk query heads per KV head, keys j > i + causal_offset dropped when causal.

   Work is cut per (batch, KV head, tile of query rows). The rows of a tile are
   all G query heads that share the KV head (row r = position r/G, head r%G), so
   each K/V tile is read once for the whole group. Keys are walked in tiles of
   KT with the usual online softmax: running max m and sum l per row, the
   accumulated output rescaled by exp(m_old - m_new) when the max grows. A row
   that never sees a finite score (fully masked) ends with l = 0 and outputs zeros.

   Two layouts, picked by the number of rows per (batch, KV head):
   - wide (prompts, images: >= 16 rows): tiles of MQ = 64 rows kept transposed,
     rows in vector lanes. Scores S^T[key][row] are rank-1 updates (a key value
     broadcast against a vector of 16 rows' q values), so K needs no transpose, and
     max/exp/sum run across lanes with no horizontal reductions.
   - narrow (decode: a handful of rows): each score is a dot product over D, the
     row softmax works along the key tile.
   Both then accumulate O += P V, V rows broadcast-multiplied into register blocks
   of 4 output rows. K and V rows are read in place (F16 converted in registers)
   unless their layout needs a packed copy. q is pre-multiplied by the scale.

   The portable kernels are written as fixed 16-wide inner loops over packed,
   padded rows so that a compiler's vectoriser (NEON, SSE) can take them.
*/
#include <stdatomic.h>
#include <stdlib.h>

#include "vecmath.h"

#define KT 64         /* keys per tile */
#define MQ 64         /* query rows per work item, wide layout */
#define NARROW_MAX 16 /* fewer rows than this per (batch, KV head) use the narrow layout */

/* Rows of K or V as the kernels read them: in place (f32, or f16 converted on the fly) or
   packed f32; `ld` elements between rows, `n` columns to use (zero-padded when packed). */
typedef struct kv_rows {
    const void *p;
    int64_t ld, n;
    int f16;
} kv_rows;

typedef struct attn_kern {
    /* wide: S[j*MQ + r] = sum_d K[j*ldk + d] * Qt[d*MQ + r] for j < nk, r < 16*ceil(nr/16) */
    void (*scores_t)(const float *K, int64_t ldk, int64_t nk, int64_t D, const float *Qt, int64_t nr, float *S);
    /* wide: -inf where key j0+j > lim[r]; then online softmax per column r < nr: P in place, m/l updated,
       alpha[r] = factor for the old output */
    void (*causal_t)(float *S, int64_t nk, int64_t j0, const int32_t *lim, int64_t nr);
    void (*softmax_t)(float *S, int64_t nk, int64_t nr, float *m, float *l, float *alpha);
    /* narrow: S[r*KT + j] = Qs[r*Dp:] . K row j over K.n columns (Qs zero-padded past D) */
    void (*scores_n)(const float *Qs, int64_t Dp, int64_t nr, kv_rows K, int64_t nk, float *S);
    float (*rowmax)(const float *x, int64_t n);
    double (*exp_sum)(float *x, int64_t n, float m); /* x = exp(x - m) in place, returns the sum */
    /* O[r*ldo + c] += sum_j P[r*pr + j*pj] * V[j][c] for r < nr, c < V.n */
    void (*pv)(const float *P, int64_t pr, int64_t pj, int64_t nr, kv_rows V, int64_t nk, float *O, int64_t ldo);
    void (*scale)(float *x, int64_t n, float s);
} attn_kern;

/* ---- portable kernels (rows packed and padded to 16: n and ld are multiples of 16) ---- */

static void scores_t_c(const float *K, int64_t ldk, int64_t nk, int64_t D, const float *Qt, int64_t nr, float *S) {
    for (int64_t j = 0; j < nk; j++)
        for (int64_t r0 = 0; r0 < nr; r0 += 16) {
            float acc[16] = {0};
            for (int64_t d = 0; d < D; d++) {
                float kv = K[j * ldk + d];
                const float *qt = Qt + d * MQ + r0;
                for (int t = 0; t < 16; t++) acc[t] += kv * qt[t];
            }
            memcpy(S + j * MQ + r0, acc, sizeof acc);
        }
}

static void causal_t_c(float *S, int64_t nk, int64_t j0, const int32_t *lim, int64_t nr) {
    for (int64_t j = 0; j < nk; j++)
        for (int64_t r = 0; r < nr; r++)
            if (j0 + j > lim[r]) S[j * MQ + r] = -INFINITY;
}

static void softmax_t_c(float *S, int64_t nk, int64_t nr, float *m, float *l, float *alpha) {
    for (int64_t r0 = 0; r0 < nr; r0 += 16) {
        float mx[16], mu[16], sum[16] = {0};
        memcpy(mx, m + r0, sizeof mx);
        for (int64_t j = 0; j < nk; j++)
            for (int t = 0; t < 16; t++) mx[t] = S[j * MQ + r0 + t] > mx[t] ? S[j * MQ + r0 + t] : mx[t];
        for (int t = 0; t < 16; t++) mu[t] = mx[t] == -INFINITY ? 0.0f : mx[t];
        for (int64_t j = 0; j < nk; j++)
            for (int t = 0; t < 16; t++) sum[t] += S[j * MQ + r0 + t] = expf(S[j * MQ + r0 + t] - mu[t]);
        for (int t = 0; t < 16; t++) {
            alpha[r0 + t] = expf(m[r0 + t] - mu[t]);
            l[r0 + t] = l[r0 + t] * alpha[r0 + t] + sum[t];
            m[r0 + t] = mx[t];
        }
    }
}

static void scores_n_c(const float *Qs, int64_t Dp, int64_t nr, kv_rows K, int64_t nk, float *S) {
    const float *k = K.p;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t j = 0; j < nk; j++) {
            float acc[16] = {0}, s = 0.0f;
            for (int64_t d = 0; d < K.n; d += 16)
                for (int t = 0; t < 16; t++) acc[t] += Qs[r * Dp + d + t] * k[j * K.ld + d + t];
            for (int t = 0; t < 16; t++) s += acc[t];
            S[r * KT + j] = s;
        }
}

static void pv_c(const float *P, int64_t pr, int64_t pj, int64_t nr, kv_rows V, int64_t nk, float *O, int64_t ldo) {
    const float *v = V.p;
    for (int64_t r = 0; r < nr; r++)
        for (int64_t c = 0; c < V.n; c += 16) {
            float acc[16];
            memcpy(acc, O + r * ldo + c, sizeof acc);
            for (int64_t j = 0; j < nk; j++) {
                float p = P[r * pr + j * pj];
                for (int t = 0; t < 16; t++) acc[t] += p * v[j * V.ld + c + t];
            }
            memcpy(O + r * ldo + c, acc, sizeof acc);
        }
}

static const attn_kern kern_c = {scores_t_c, causal_t_c, softmax_t_c, scores_n_c, iris_vm_max_c, iris_vm_exp_sum_c,
                                 pv_c, iris_vm_scale_c};

/* ---- AVX2 ---- */
#if defined(IRIS_X86)
#define INLINE static inline __attribute__((always_inline))

/* 4 keys x 16 rows (2 vectors) per block */
IRIS_AVX2 static void scores_t_avx2(const float *K, int64_t ldk, int64_t nk, int64_t D, const float *Qt, int64_t nr,
                                    float *S) {
    int64_t nrp = (nr + 15) & ~(int64_t)15;
    for (int64_t r = 0; r < nrp; r += 16) {
        int64_t j = 0;
        for (; j + 4 <= nk; j += 4) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            const float *k0 = K + j * ldk;
            for (int64_t d = 0; d < D; d++) {
                __m256 q0 = _mm256_loadu_ps(Qt + d * MQ + r), q1 = _mm256_loadu_ps(Qt + d * MQ + r + 8), kb;
                kb = _mm256_broadcast_ss(k0 + d);
                a00 = _mm256_fmadd_ps(kb, q0, a00), a01 = _mm256_fmadd_ps(kb, q1, a01);
                kb = _mm256_broadcast_ss(k0 + ldk + d);
                a10 = _mm256_fmadd_ps(kb, q0, a10), a11 = _mm256_fmadd_ps(kb, q1, a11);
                kb = _mm256_broadcast_ss(k0 + 2 * ldk + d);
                a20 = _mm256_fmadd_ps(kb, q0, a20), a21 = _mm256_fmadd_ps(kb, q1, a21);
                kb = _mm256_broadcast_ss(k0 + 3 * ldk + d);
                a30 = _mm256_fmadd_ps(kb, q0, a30), a31 = _mm256_fmadd_ps(kb, q1, a31);
            }
            float *s = S + j * MQ + r;
            _mm256_storeu_ps(s, a00), _mm256_storeu_ps(s + 8, a01);
            _mm256_storeu_ps(s + MQ, a10), _mm256_storeu_ps(s + MQ + 8, a11);
            _mm256_storeu_ps(s + 2 * MQ, a20), _mm256_storeu_ps(s + 2 * MQ + 8, a21);
            _mm256_storeu_ps(s + 3 * MQ, a30), _mm256_storeu_ps(s + 3 * MQ + 8, a31);
        }
        for (; j < nk; j++) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            for (int64_t d = 0; d < D; d++) {
                __m256 kb = _mm256_broadcast_ss(K + j * ldk + d);
                a0 = _mm256_fmadd_ps(kb, _mm256_loadu_ps(Qt + d * MQ + r), a0);
                a1 = _mm256_fmadd_ps(kb, _mm256_loadu_ps(Qt + d * MQ + r + 8), a1);
            }
            _mm256_storeu_ps(S + j * MQ + r, a0), _mm256_storeu_ps(S + j * MQ + r + 8, a1);
        }
    }
}

IRIS_AVX2 static void causal_t_avx2(float *S, int64_t nk, int64_t j0, const int32_t *lim, int64_t nr) {
    __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int64_t r = 0; r < nr; r += 8) {
        __m256i lv = _mm256_loadu_si256((const __m256i *)(lim + r));
        for (int64_t j = 0; j < nk; j++) {
            __m256 drop = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(j0 + j)), lv));
            float *s = S + j * MQ + r;
            _mm256_storeu_ps(s, _mm256_blendv_ps(_mm256_loadu_ps(s), ninf, drop));
        }
    }
}

IRIS_AVX2 static void softmax_t_avx2(float *S, int64_t nk, int64_t nr, float *m, float *l, float *alpha) {
    __m256 ninf = _mm256_set1_ps(-INFINITY);
    for (int64_t r = 0; r < nr; r += 8) {
        __m256 mx = _mm256_loadu_ps(m + r);
        for (int64_t j = 0; j < nk; j++) mx = _mm256_max_ps(mx, _mm256_loadu_ps(S + j * MQ + r));
        __m256 mu = _mm256_andnot_ps(_mm256_cmp_ps(mx, ninf, _CMP_EQ_OQ), mx), sum = _mm256_setzero_ps();
        for (int64_t j = 0; j < nk; j++) {
            __m256 p = iris_vm_exp8(_mm256_sub_ps(_mm256_loadu_ps(S + j * MQ + r), mu));
            _mm256_storeu_ps(S + j * MQ + r, p);
            sum = _mm256_add_ps(sum, p);
        }
        __m256 a = iris_vm_exp8(_mm256_sub_ps(_mm256_loadu_ps(m + r), mu));
        _mm256_storeu_ps(alpha + r, a);
        _mm256_storeu_ps(l + r, _mm256_fmadd_ps(_mm256_loadu_ps(l + r), a, sum));
        _mm256_storeu_ps(m + r, mx);
    }
}

/* 8 floats at element `off` of f32 or f16 rows; MASKED: f32 lanes past the mask read as 0 */
INLINE IRIS_AVX2 __m256 ld8(const void *p, int64_t off, __m256i m, const int F16, const int MASKED) {
    if (F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + off)));
    if (MASKED) return _mm256_maskload_ps((const float *)p + off, m);
    return _mm256_loadu_ps((const float *)p + off);
}

INLINE IRIS_AVX2 void scores_n_avx2_t(const float *Qs, int64_t Dp, int64_t nr, kv_rows K, int64_t nk, float *S,
                                      const int F16) {
    int64_t full = K.n & ~(int64_t)7;
    __m256i m = iris_vm_tail8(K.n - full);
    for (int64_t r = 0; r < nr; r++) {
        const float *q = Qs + r * Dp;
        for (int64_t j = 0; j < nk; j++) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            int64_t d = 0, o = j * K.ld;
            for (; d + 16 <= full; d += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), ld8(K.p, o + d, m, F16, 0), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), ld8(K.p, o + d + 8, m, F16, 0), a1);
            }
            if (d < full) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), ld8(K.p, o + d, m, F16, 0), a0);
            if (!F16 && full < K.n) a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + full), ld8(K.p, o + full, m, 0, 1), a1);
            S[r * KT + j] = iris_vm_hsum8(_mm256_add_ps(a0, a1));
        }
    }
}

/* f16 rows reach here only when their width is a multiple of 8 (kv_tile) */
IRIS_AVX2 static void scores_n_avx2(const float *Qs, int64_t Dp, int64_t nr, kv_rows K, int64_t nk, float *S) {
    if (K.f16) scores_n_avx2_t(Qs, Dp, nr, K, nk, S, 1);
    else scores_n_avx2_t(Qs, Dp, nr, K, nk, S, 0);
}

/* R rows x 8*NV columns of O from column c; MASKED: the last vector's V lanes past m read as 0 */
INLINE IRIS_AVX2 void pv_block_avx2(const float *P, int64_t pr, int64_t pj, kv_rows V, int64_t c, int64_t nk,
                                    float *O, int64_t ldo, __m256i m, const int R, const int NV, const int F16,
                                    const int MASKED) {
    __m256 acc[4][2];
#pragma GCC unroll 4
    for (int t = 0; t < R; t++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[t][v] = _mm256_loadu_ps(O + t * ldo + c + 8 * v);
    for (int64_t j = 0; j < nk; j++) {
        __m256 vv[2];
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) vv[v] = ld8(V.p, j * V.ld + c + 8 * v, m, F16, MASKED && v == NV - 1);
#pragma GCC unroll 4
        for (int t = 0; t < R; t++) {
            __m256 p = _mm256_broadcast_ss(P + t * pr + j * pj);
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) acc[t][v] = _mm256_fmadd_ps(p, vv[v], acc[t][v]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < R; t++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) _mm256_storeu_ps(O + t * ldo + c + 8 * v, acc[t][v]);
}

INLINE IRIS_AVX2 void pv_rows_avx2(const float *P, int64_t pr, int64_t pj, kv_rows V, int64_t nk, float *O,
                                   int64_t ldo, const int R) {
    for (int64_t c = 0; c < V.n; c += 16) {
        int64_t left = V.n - c;
        int two = left > 8, masked = left < 16 && left % 8;
        __m256i m = iris_vm_tail8(left % 8);
        if (V.f16) { /* width is a multiple of 8 */
            if (two) pv_block_avx2(P, pr, pj, V, c, nk, O, ldo, m, R, 2, 1, 0);
            else pv_block_avx2(P, pr, pj, V, c, nk, O, ldo, m, R, 1, 1, 0);
        } else if (two) {
            if (masked) pv_block_avx2(P, pr, pj, V, c, nk, O, ldo, m, R, 2, 0, 1);
            else pv_block_avx2(P, pr, pj, V, c, nk, O, ldo, m, R, 2, 0, 0);
        } else {
            if (masked) pv_block_avx2(P, pr, pj, V, c, nk, O, ldo, m, R, 1, 0, 1);
            else pv_block_avx2(P, pr, pj, V, c, nk, O, ldo, m, R, 1, 0, 0);
        }
    }
}

IRIS_AVX2 static void pv_avx2(const float *P, int64_t pr, int64_t pj, int64_t nr, kv_rows V, int64_t nk, float *O,
                              int64_t ldo) {
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) pv_rows_avx2(P + r * pr, pr, pj, V, nk, O + r * ldo, ldo, 4);
    for (; r < nr; r++) pv_rows_avx2(P + r * pr, pr, pj, V, nk, O + r * ldo, ldo, 1);
}

static const attn_kern kern_avx2 = {scores_t_avx2, causal_t_avx2, softmax_t_avx2, scores_n_avx2, iris_vm_max_avx2,
                                    iris_vm_exp_sum_avx2, pv_avx2, iris_vm_scale_avx2};

/* ---- AVX-512 ---- */

/* KB keys x NV vectors of 16 rows */
INLINE IRIS_AVX512 void scores_t_block_512(const float *K, int64_t ldk, int64_t D, const float *Qt, float *S,
                                          const int KB, const int NV) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int t = 0; t < KB; t++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[t][v] = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d++) {
        __m512 q[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) q[v] = _mm512_loadu_ps(Qt + d * MQ + 16 * v);
#pragma GCC unroll 4
        for (int t = 0; t < KB; t++) {
            __m512 kb = _mm512_set1_ps(K[t * ldk + d]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[t][v] = _mm512_fmadd_ps(kb, q[v], acc[t][v]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < KB; t++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(S + t * MQ + 16 * v, acc[t][v]);
}

INLINE IRIS_AVX512 void scores_t_nv_512(const float *K, int64_t ldk, int64_t nk, int64_t D, const float *Qt,
                                       float *S, const int NV) {
    int64_t j = 0;
    for (; j + 4 <= nk; j += 4) scores_t_block_512(K + j * ldk, ldk, D, Qt, S + j * MQ, 4, NV);
    for (; j < nk; j++) scores_t_block_512(K + j * ldk, ldk, D, Qt, S + j * MQ, 1, NV);
}

IRIS_AVX512 static void scores_t_avx512(const float *K, int64_t ldk, int64_t nk, int64_t D, const float *Qt,
                                        int64_t nr, float *S) {
    switch ((nr + 15) / 16) {
    case 1: scores_t_nv_512(K, ldk, nk, D, Qt, S, 1); break;
    case 2: scores_t_nv_512(K, ldk, nk, D, Qt, S, 2); break;
    case 3: scores_t_nv_512(K, ldk, nk, D, Qt, S, 3); break;
    default: scores_t_nv_512(K, ldk, nk, D, Qt, S, 4); break;
    }
}

IRIS_AVX512 static void causal_t_avx512(float *S, int64_t nk, int64_t j0, const int32_t *lim, int64_t nr) {
    __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int64_t r = 0; r < nr; r += 16) {
        __m512i lv = _mm512_loadu_si512(lim + r);
        for (int64_t j = 0; j < nk; j++) {
            __mmask16 drop = _mm512_cmpgt_epi32_mask(_mm512_set1_epi32((int)(j0 + j)), lv);
            float *s = S + j * MQ + r;
            _mm512_storeu_ps(s, _mm512_mask_mov_ps(_mm512_loadu_ps(s), drop, ninf));
        }
    }
}

IRIS_AVX512 static void softmax_t_avx512(float *S, int64_t nk, int64_t nr, float *m, float *l, float *alpha) {
    for (int64_t r = 0; r < nr; r += 16) {
        __m512 mx = _mm512_loadu_ps(m + r);
        for (int64_t j = 0; j < nk; j++) mx = _mm512_max_ps(mx, _mm512_loadu_ps(S + j * MQ + r));
        __mmask16 fin = _mm512_cmp_ps_mask(mx, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
        __m512 mu = _mm512_maskz_mov_ps(fin, mx), sum = _mm512_setzero_ps();
        for (int64_t j = 0; j < nk; j++) {
            __m512 p = iris_vm_exp16(_mm512_sub_ps(_mm512_loadu_ps(S + j * MQ + r), mu));
            _mm512_storeu_ps(S + j * MQ + r, p);
            sum = _mm512_add_ps(sum, p);
        }
        __m512 a = iris_vm_exp16(_mm512_sub_ps(_mm512_loadu_ps(m + r), mu));
        _mm512_storeu_ps(alpha + r, a);
        _mm512_storeu_ps(l + r, _mm512_fmadd_ps(_mm512_loadu_ps(l + r), a, sum));
        _mm512_storeu_ps(m + r, mx);
    }
}

/* 16 floats at element `off` of f32 or f16 rows, lanes outside k read as 0 */
INLINE IRIS_AVX512 __m512 ld16(const void *p, int64_t off, __mmask16 k, const int F16) {
    if (F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, (const uint16_t *)p + off));
    return _mm512_maskz_loadu_ps(k, (const float *)p + off);
}

INLINE IRIS_AVX512 void scores_n_512_t(const float *Qs, int64_t Dp, int64_t nr, kv_rows K, int64_t nk, float *S,
                                       const int F16) {
    int64_t full = K.n & ~(int64_t)15;
    __mmask16 tail = iris_vm_tail16(K.n - full);
    for (int64_t r = 0; r < nr; r++) {
        const float *q = Qs + r * Dp;
        int64_t j = 0;
        for (; j + 4 <= nk; j += 4) {
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t d = 0; d < full; d += 16) {
                __m512 qv = _mm512_loadu_ps(q + d);
                a0 = _mm512_fmadd_ps(qv, ld16(K.p, j * K.ld + d, 0xFFFF, F16), a0);
                a1 = _mm512_fmadd_ps(qv, ld16(K.p, (j + 1) * K.ld + d, 0xFFFF, F16), a1);
                a2 = _mm512_fmadd_ps(qv, ld16(K.p, (j + 2) * K.ld + d, 0xFFFF, F16), a2);
                a3 = _mm512_fmadd_ps(qv, ld16(K.p, (j + 3) * K.ld + d, 0xFFFF, F16), a3);
            }
            if (tail) {
                __m512 qv = _mm512_loadu_ps(q + full);
                a0 = _mm512_fmadd_ps(qv, ld16(K.p, j * K.ld + full, tail, F16), a0);
                a1 = _mm512_fmadd_ps(qv, ld16(K.p, (j + 1) * K.ld + full, tail, F16), a1);
                a2 = _mm512_fmadd_ps(qv, ld16(K.p, (j + 2) * K.ld + full, tail, F16), a2);
                a3 = _mm512_fmadd_ps(qv, ld16(K.p, (j + 3) * K.ld + full, tail, F16), a3);
            }
            float *s = S + r * KT + j;
            s[0] = _mm512_reduce_add_ps(a0), s[1] = _mm512_reduce_add_ps(a1);
            s[2] = _mm512_reduce_add_ps(a2), s[3] = _mm512_reduce_add_ps(a3);
        }
        for (; j < nk; j++) {
            __m512 a = _mm512_setzero_ps();
            for (int64_t d = 0; d < full; d += 16) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), ld16(K.p, j * K.ld + d, 0xFFFF, F16), a);
            if (tail) a = _mm512_fmadd_ps(_mm512_loadu_ps(q + full), ld16(K.p, j * K.ld + full, tail, F16), a);
            S[r * KT + j] = _mm512_reduce_add_ps(a);
        }
    }
}

IRIS_AVX512 static void scores_n_avx512(const float *Qs, int64_t Dp, int64_t nr, kv_rows K, int64_t nk, float *S) {
    if (K.f16) scores_n_512_t(Qs, Dp, nr, K, nk, S, 1);
    else scores_n_512_t(Qs, Dp, nr, K, nk, S, 0);
}

/* R rows x NV vectors (16 floats each) of O per block; the last vector's V loads masked by `last` */
INLINE IRIS_AVX512 void pv_block_512(const float *P, int64_t pr, int64_t pj, kv_rows V, int64_t c, int64_t nk,
                                    float *O, int64_t ldo, __mmask16 last, const int R, const int NV,
                                    const int F16) {
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int t = 0; t < R; t++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[t][v] = _mm512_loadu_ps(O + t * ldo + c + 16 * v);
    for (int64_t j = 0; j < nk; j++) {
        __m512 vv[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) vv[v] = ld16(V.p, j * V.ld + c + 16 * v, v == NV - 1 ? last : 0xFFFF, F16);
#pragma GCC unroll 4
        for (int t = 0; t < R; t++) {
            __m512 p = _mm512_set1_ps(P[t * pr + j * pj]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[t][v] = _mm512_fmadd_ps(p, vv[v], acc[t][v]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < R; t++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) _mm512_storeu_ps(O + t * ldo + c + 16 * v, acc[t][v]);
}

INLINE IRIS_AVX512 void pv_rows_512(const float *P, int64_t pr, int64_t pj, kv_rows V, int64_t nk, float *O,
                                   int64_t ldo, const int R, const int F16) {
    for (int64_t c = 0; c < V.n;) {
        int64_t left = V.n - c, nv = left >= 64 ? 4 : (left + 15) / 16;
        __mmask16 last = left >= 64 || left % 16 == 0 ? 0xFFFF : iris_vm_tail16(left % 16);
        switch (nv) {
        case 1: pv_block_512(P, pr, pj, V, c, nk, O, ldo, last, R, 1, F16); break;
        case 2: pv_block_512(P, pr, pj, V, c, nk, O, ldo, last, R, 2, F16); break;
        case 3: pv_block_512(P, pr, pj, V, c, nk, O, ldo, last, R, 3, F16); break;
        default: pv_block_512(P, pr, pj, V, c, nk, O, ldo, last, R, 4, F16); break;
        }
        c += 16 * nv;
    }
}

IRIS_AVX512 static void pv_avx512(const float *P, int64_t pr, int64_t pj, int64_t nr, kv_rows V, int64_t nk,
                                  float *O, int64_t ldo) {
    int64_t r = 0;
    if (V.f16) {
        for (; r + 4 <= nr; r += 4) pv_rows_512(P + r * pr, pr, pj, V, nk, O + r * ldo, ldo, 4, 1);
        for (; r < nr; r++) pv_rows_512(P + r * pr, pr, pj, V, nk, O + r * ldo, ldo, 1, 1);
    } else {
        for (; r + 4 <= nr; r += 4) pv_rows_512(P + r * pr, pr, pj, V, nk, O + r * ldo, ldo, 4, 0);
        for (; r < nr; r++) pv_rows_512(P + r * pr, pr, pj, V, nk, O + r * ldo, ldo, 1, 0);
    }
}

static const attn_kern kern_avx512 = {scores_t_avx512, causal_t_avx512, softmax_t_avx512, scores_n_avx512,
                                      iris_vm_max_avx512, iris_vm_exp_sum_avx512, pv_avx512, iris_vm_scale_avx512};
#endif

/* ---- driver ---- */

typedef struct {
    iris_cpu *cpu;
    const attn_kern *kern;
    const iris_tensor *q, *k, *v, *mask;
    float *out;
    int64_t Hk, G, Lq, Lk, D, Dv, Dp, Dvp;
    float scale;
    int causal, wide, simd;
    int64_t off;
    int64_t rows, mq, tiles; /* rows per (b, kv head), rows per work item, items per (b, kv head) */
    int64_t splits, span;    /* key range cut in `splits` pieces of `span` keys (decode with few heads) */
    float *part;             /* per (item, split, row): m, l, unnormalised output [Dv] */
    int64_t mnb[4];          /* mask strides over [B, H, Lq, Lk], 0 where broadcast */
    size_t scratch_bytes;
    atomic_int oom;
} attn_job;

static float *carve(char **p, int64_t n) {
    float *r = (float *)*p;
    *p += ((size_t)n * sizeof(float) + 63) & ~(size_t)63;
    return r;
}

static size_t scratch_need(const attn_job *j) {
    int64_t mq = j->wide ? MQ : j->mq;
    int64_t dmax = j->Dp > j->Dvp ? j->Dp : j->Dvp;
    int64_t n[] = {j->wide ? j->D * MQ : mq * j->Dp, /* Q */
                   KT * j->Dp,                        /* K tile */
                   KT * j->Dvp,                       /* V tile */
                   j->wide ? KT * MQ : mq * KT,       /* scores */
                   mq * j->Dvp,                       /* O */
                   MQ, MQ, MQ, MQ,                    /* m, l, alpha, lim */
                   2 * mq,                            /* mask row pointers */
                   dmax};                             /* a converted row */
    size_t total = 0;
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) total += ((size_t)n[i] * sizeof(float) + 63) & ~(size_t)63;
    return total;
}

/* Rows j0..j0+nk of k or v for (b, hk) as floats, `ld` apart, zero-padded from n to ld. */
static void pack_rows(const iris_tensor *t, int64_t b, int64_t hk, int64_t j0, int64_t nk, int64_t n, int64_t ld,
                      float *dst) {
    const char *base = (const char *)t->data + b * t->nb[0] + hk * t->nb[1];
    for (int64_t j = 0; j < nk; j++) {
        float *d = dst + j * ld;
        iris_vm_load_row(t->dtype, base + (j0 + j) * t->nb[2], t->nb[3], n, d);
        for (int64_t c = n; c < ld; c++) d[c] = 0.0f;
    }
}

/* Rows j0..j0+nk of k or v for (b, hk), `n` columns: in place when the kernels can read the
   layout directly, else packed into buf as f32 rows of `npad` (zero-padded). */
static kv_rows kv_tile(const attn_job *j, const iris_tensor *t, int64_t b, int64_t hk, int64_t j0, int64_t nk,
                       int64_t n, int64_t npad, float *buf) {
    int64_t es = t->dtype == IRIS_F16 ? 2 : 4;
    int direct = (t->nb[3] == es || n <= 1) && t->nb[2] % es == 0 && j->simd >= IRIS_SIMD_AVX2 &&
                 (t->dtype == IRIS_F32 || j->simd >= IRIS_SIMD_AVX512 || n % 8 == 0);
    if (direct) {
        kv_rows r = {(const char *)t->data + b * t->nb[0] + hk * t->nb[1] + j0 * t->nb[2], t->nb[2] / es, n,
                     t->dtype == IRIS_F16};
        return r;
    }
    pack_rows(t, b, hk, j0, nk, n, npad, buf);
    kv_rows r = {buf, npad, npad, 0};
    return r;
}

/* Output row rr of work item `item`. */
static float *out_row(const attn_job *j, int64_t item, int64_t rr) {
    int64_t bh = item / j->tiles, r = (item % j->tiles) * j->mq + rr, b = bh / j->Hk, hk = bh % j->Hk;
    int64_t i = r / j->G, h = hk * j->G + r % j->G;
    return j->out + ((b * j->Hk * j->G + h) * j->Lq + i) * j->Dv;
}

static void attn_item(attn_job *j, int64_t w, char *scratch) {
    const attn_kern *kn = j->kern;
    int64_t item = w / j->splits, split = w % j->splits;
    int64_t bh = item / j->tiles, t = item % j->tiles, b = bh / j->Hk, hk = bh % j->Hk;
    int64_t r0 = t * j->mq, nr = j->rows - r0 < j->mq ? j->rows - r0 : j->mq;
    int64_t D = j->D, Dv = j->Dv, Dp = j->Dp, Dvp = j->Dvp, wide = j->wide;
    int64_t mq = wide ? MQ : j->mq;
    char *p = scratch;
    float *Q = carve(&p, wide ? D * MQ : mq * Dp), *Kp = carve(&p, KT * Dp), *Vp = carve(&p, KT * Dvp);
    float *S = carve(&p, wide ? KT * MQ : mq * KT), *O = carve(&p, mq * Dvp);
    float *m = carve(&p, MQ), *l = carve(&p, MQ), *alpha = carve(&p, MQ);
    int32_t *lim = (int32_t *)carve(&p, MQ);
    const char **mrow = (const char **)carve(&p, 2 * mq);
    float *row = carve(&p, Dp > Dvp ? Dp : Dvp);

    /* gather the tile's q rows (scaled), their causal limits and mask rows */
    const iris_tensor *q = j->q;
    if (wide) memset(Q, 0, (size_t)D * MQ * sizeof *Q);
    int64_t lim_min = INT32_MAX, lim_max = -1;
    for (int64_t rr = 0; rr < MQ; rr++) m[rr] = -INFINITY, l[rr] = 0.0f, lim[rr] = (int32_t)(j->Lk - 1);
    for (int64_t rr = 0; rr < nr; rr++) {
        int64_t r = r0 + rr, i = r / j->G, h = hk * j->G + r % j->G;
        iris_vm_load_row(IRIS_F32, (const char *)q->data + b * q->nb[0] + h * q->nb[1] + i * q->nb[2], q->nb[3], D, row);
        if (wide)
            for (int64_t d = 0; d < D; d++) Q[d * MQ + rr] = row[d] * j->scale;
        else {
            for (int64_t d = 0; d < D; d++) Q[rr * Dp + d] = row[d] * j->scale;
            for (int64_t d = D; d < Dp; d++) Q[rr * Dp + d] = 0.0f;
        }
        int64_t lm = j->causal ? i + j->off : j->Lk - 1;
        lm = lm < -1 ? -1 : lm > j->Lk - 1 ? j->Lk - 1 : lm;
        lim[rr] = (int32_t)lm;
        lim_min = lm < lim_min ? lm : lim_min;
        lim_max = lm > lim_max ? lm : lim_max;
        mrow[rr] = j->mask ? (const char *)j->mask->data + b * j->mnb[0] + h * j->mnb[1] + i * j->mnb[2] : NULL;
    }
    memset(O, 0, (size_t)mq * Dvp * sizeof *O);

    int64_t kend = lim_max + 1; /* keys past every row's limit are never visited */
    if (kend > (split + 1) * j->span) kend = (split + 1) * j->span;
    for (int64_t j0 = split * j->span; j0 < kend; j0 += KT) {
        int64_t nk = kend - j0 < KT ? kend - j0 : KT;
        int cut = j0 + nk - 1 > lim_min; /* some row stops inside this tile */
        kv_rows V = kv_tile(j, j->v, b, hk, j0, nk, Dv, Dvp, Vp);
        if (wide) {
            const float *K = Kp;
            int64_t ldk = D;
            const iris_tensor *k = j->k;
            if (k->dtype == IRIS_F32 && k->nb[3] == 4 && k->nb[2] % 4 == 0) { /* use k in place */
                K = (const float *)((const char *)k->data + b * k->nb[0] + hk * k->nb[1] + j0 * k->nb[2]);
                ldk = k->nb[2] / 4;
            } else {
                pack_rows(k, b, hk, j0, nk, D, D, Kp);
            }
            kn->scores_t(K, ldk, nk, D, Q, nr, S);
            if (j->mask)
                for (int64_t rr = 0; rr < nr; rr++)
                    for (int64_t jj = 0; jj < nk; jj++)
                        S[jj * MQ + rr] += iris_vm_load1(j->mask->dtype, mrow[rr] + (j0 + jj) * j->mnb[3]);
            if (cut) kn->causal_t(S, nk, j0, lim, nr);
            kn->softmax_t(S, nk, nr, m, l, alpha);
            for (int64_t rr = 0; rr < nr; rr++)
                if (alpha[rr] != 1.0f) kn->scale(O + rr * Dvp, Dvp, alpha[rr]);
            kn->pv(S, 1, MQ, nr, V, nk, O, Dvp);
        } else {
            kn->scores_n(Q, Dp, nr, kv_tile(j, j->k, b, hk, j0, nk, D, Dp, Kp), nk, S);
            for (int64_t rr = 0; rr < nr; rr++) {
                float *s = S + rr * KT;
                if (j->mask)
                    for (int64_t jj = 0; jj < nk; jj++) s[jj] += iris_vm_load1(j->mask->dtype, mrow[rr] + (j0 + jj) * j->mnb[3]);
                for (int64_t jj = lim[rr] + 1 - j0 < 0 ? 0 : lim[rr] + 1 - j0; jj < nk; jj++) s[jj] = -INFINITY;
                float mx = kn->rowmax(s, nk);
                mx = mx > m[rr] ? mx : m[rr];
                float mu = mx == -INFINITY ? 0.0f : mx;
                float sum = (float)kn->exp_sum(s, nk, mu), a = expf(m[rr] - mu);
                l[rr] = l[rr] * a + sum;
                m[rr] = mx;
                if (a != 1.0f) kn->scale(O + rr * Dvp, Dvp, a);
            }
            kn->pv(S, KT, 1, nr, V, nk, O, Dvp);
        }
    }

    for (int64_t rr = 0; rr < nr; rr++) {
        if (j->splits > 1) { /* partial result, combined by the caller */
            float *pp = j->part + ((item * j->splits + split) * j->mq + rr) * (Dv + 2);
            pp[0] = m[rr], pp[1] = l[rr];
            memcpy(pp + 2, O + rr * Dvp, (size_t)Dv * sizeof *O);
            continue;
        }
        float *dst = out_row(j, item, rr), inv = l[rr] > 0.0f ? 1.0f / l[rr] : 0.0f;
        for (int64_t c = 0; c < Dv; c++) dst[c] = O[rr * Dvp + c] * inv;
    }
}

/* Merges the split partials: each piece's sum and output rescaled to the overall max. */
static void combine_splits(const attn_job *j, int64_t items) {
    int64_t Dv = j->Dv;
    for (int64_t item = 0; item < items; item++) {
        int64_t nr = j->rows - (item % j->tiles) * j->mq < j->mq ? j->rows - (item % j->tiles) * j->mq : j->mq;
        for (int64_t rr = 0; rr < nr; rr++) {
            const float *pp = j->part + (item * j->splits * j->mq + rr) * (Dv + 2);
            int64_t step = j->mq * (Dv + 2);
            float mx = -INFINITY, *dst = out_row(j, item, rr);
            for (int64_t s = 0; s < j->splits; s++) mx = pp[s * step] > mx ? pp[s * step] : mx;
            memset(dst, 0, (size_t)Dv * sizeof *dst);
            if (mx == -INFINITY) continue;
            double l = 0;
            for (int64_t s = 0; s < j->splits; s++) {
                const float *ps = pp + s * step;
                float a = expf(ps[0] - mx);
                if (a == 0.0f) continue;
                l += (double)ps[1] * a;
                for (int64_t c = 0; c < Dv; c++) dst[c] += ps[2 + c] * a;
            }
            float inv = l > 0 ? (float)(1.0 / l) : 0.0f;
            for (int64_t c = 0; c < Dv; c++) dst[c] *= inv;
        }
    }
}

static void attn_items(void *arg, int64_t i0, int64_t i1, int tid) {
    attn_job *j = arg;
    char *scratch = iris_cpu_scratch(j->cpu, tid, j->scratch_bytes);
    if (!scratch) {
        atomic_store(&j->oom, 1);
        return;
    }
    for (int64_t i = i0; i < i1; i++) attn_item(j, i, scratch);
}

iris_status iris_cpu_attention(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *q = c->src[0], *k = c->src[1], *v = c->src[2], *mask = c->src[3];
    attn_job j = {.cpu = cpu, .q = q, .k = k, .v = v, .mask = mask, .out = c->dst->data};
    int64_t B = q->ne[0], H = q->ne[1];
    j.Hk = k->ne[1], j.G = H / j.Hk, j.Lq = q->ne[2], j.Lk = k->ne[2], j.D = q->ne[3], j.Dv = v->ne[3];
    j.Dp = (j.D + 15) & ~(int64_t)15, j.Dvp = (j.Dv + 15) & ~(int64_t)15;
    j.scale = c->fp[0] != 0.0f ? c->fp[0] : (float)(1.0 / sqrt((double)j.D));
    j.causal = c->ip[0], j.off = c->ip[1];
    j.rows = j.G * j.Lq;
    j.wide = j.rows >= NARROW_MAX;
    j.mq = j.wide ? MQ : j.rows;
    j.tiles = j.rows ? (j.rows + j.mq - 1) / j.mq : 0;
    j.kern = &kern_c;
    j.simd = IRIS_SIMD_SCALAR;
#if defined(IRIS_X86)
    j.simd = iris_cpu_simd();
    if (j.simd >= IRIS_SIMD_AVX512) j.kern = &kern_avx512;
    else if (j.simd >= IRIS_SIMD_AVX2) j.kern = &kern_avx2;
#endif
    if (mask) { /* mask broadcast against [B, H, Lq, Lk], aligned right */
        for (int d = 0; d < 4; d++) {
            int md = d - (4 - mask->ndim);
            j.mnb[d] = md >= 0 && mask->ne[md] != 1 ? mask->nb[md] : 0;
        }
    }
    j.scratch_bytes = scratch_need(&j);
    int64_t items = B * j.Hk * j.tiles;
    /* decode with fewer (batch, kv head) items than threads: cut the keys too, at least 4 tiles a piece */
    j.splits = 1, j.span = j.Lk > 0 ? j.Lk : 1;
    if (!j.wide && items > 0 && items < cpu->n_threads && j.Lk >= 8 * KT) {
        int64_t want = (2 * (int64_t)cpu->n_threads + items - 1) / items, most = j.Lk / (4 * KT);
        int64_t n = want < most ? want : most;
        j.span = ((j.Lk + n - 1) / n + KT - 1) / KT * KT;
        j.splits = (j.Lk + j.span - 1) / j.span;
    }
    if (j.splits > 1) {
        j.part = malloc((size_t)(items * j.splits * j.mq * (j.Dv + 2)) * sizeof *j.part);
        if (!j.part) return iris_fail(IRIS_ERR_NOMEM, "attention: out of memory for %lld key splits", (long long)j.splits);
    }
    if (j.Dv > 0 && items > 0) iris_pool_for(cpu->pool, items * j.splits, 1, attn_items, &j);
    if (j.splits > 1 && !atomic_load(&j.oom)) combine_splits(&j, items);
    free(j.part);
    if (atomic_load(&j.oom)) return iris_fail(IRIS_ERR_NOMEM, "attention: out of memory for scratch");
    return IRIS_OK;
}
