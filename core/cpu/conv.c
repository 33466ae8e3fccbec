/* conv.c - 2-D convolution, NCHW, with fused bias, residual and activation.

   Most convolutions become GEMMs: out[O, Ho*Wo] = W[O, C*kh*kw] @ col[C*kh*kw, Ho*Wo], where
   col (im2col) holds the input patch under every output position. Per image and group the
   output positions are taken in chunks whose col block stays under COL_FLOATS, so memory is
   bounded whatever the image size; in ResNet-50 every layer is one chunk. A chunk is built by
   all threads together (rows of col in parallel), then its GEMM is cut into tiles that threads
   take in turn, each followed by bias and activation while the tile is still in cache.

   With the built-in GEMM the operands are packed once: the weights into the kernel's panel
   layout at the start of the call, and im2col writes col straight into it, so no tile packs
   anything (packing was a quarter of the time of a ResNet layer). With OpenBLAS, or when the
   packed weights would be too large, col is a plain matrix and each tile is one call of
   iris_cpu_sgemm_1t; 1x1 stride-1 convolutions then skip im2col, the input planes being the
   col matrix already.

   Depthwise convolutions (one input channel per group) have K = kh*kw, far too short for a
   GEMM; they run as a direct kernel over output rows: for every kernel tap, one scaled,
   shifted input row is added to the output row.
*/
#include <stdlib.h>
#include <string.h>

#include "../quant.h"
#include "cpu.h"
#include "vecmath.h"

#ifdef IRIS_X86
#include <immintrin.h>
#endif

#define COL_FLOATS (2 << 20)    /* col block per chunk: 8 MiB */
#define PACK_A_FLOATS (8 << 20) /* packed weights up to 32 MiB (ResNet-50's largest: 9 MiB) */
#define TILE_N 256              /* output positions per GEMM tile */
#define MAX_THREADS 256

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t m) { return ceil_div(a, m) * m; }

/* ---- small vector helpers, one per SIMD level ---- */

typedef struct {
    /* y[i] += a * x[i] */
    void (*axpy)(float *restrict y, const float *restrict x, float a, int64_t n);
    /* y[i] = relu?(y[i] + b) */
    void (*bias)(float *y, float b, int relu, int64_t n);
    /* y[i] = relu?(y[i] + b + r[i]): the residual of a ResNet block, added in the same pass */
    void (*bias_res)(float *restrict y, const float *restrict r, float b, int relu, int64_t n);
    /* n floats into a panel row of w floats (w = the GEMM kernel's nr), zero past n */
    void (*panel)(float *restrict d, const float *restrict s, int64_t n, int w);
    /* short copies (im2col runs are a few dozen floats, where memcpy's call costs more than the copy) */
    void (*copy)(float *restrict d, const float *restrict s, int64_t n);
    /* d[i] = s[2 * i]: stride-2 rows (ResNet's stem and downsampling convs) */
    void (*copy_s2)(float *restrict d, const float *restrict s, int64_t n);
} vec_ops;

static void axpy_c(float *restrict y, const float *restrict x, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void bias_c(float *y, float b, int relu, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] + b;
        y[i] = relu && v < 0 ? 0.0f : v;
    }
}

static void bias_res_c(float *restrict y, const float *restrict r, float b, int relu, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] + b + r[i];
        y[i] = relu && v < 0 ? 0.0f : v;
    }
}

static void panel_c(float *restrict d, const float *restrict s, int64_t n, int w) {
    for (int64_t i = 0; i < w; i++) d[i] = i < n ? s[i] : 0.0f;
}

static void copy_c(float *restrict d, const float *restrict s, int64_t n) { memcpy(d, s, (size_t)n * sizeof(float)); }

static void copy_s2_c(float *restrict d, const float *restrict s, int64_t n) {
    for (int64_t i = 0; i < n; i++) d[i] = s[2 * i];
}

#ifdef IRIS_X86
IRIS_AVX2 static void copy_avx2(float *restrict d, const float *restrict s, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
    for (; i < n; i++) d[i] = s[i];
}

IRIS_AVX512 static void copy_avx512(float *restrict d, const float *restrict s, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(d + i, m, _mm512_maskz_loadu_ps(m, s + i));
    }
}

IRIS_AVX512 static void copy_s2_avx512(float *restrict d, const float *restrict s, int64_t n) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(d + i, _mm512_permutex2var_ps(_mm512_loadu_ps(s + 2 * i), even, _mm512_loadu_ps(s + 2 * i + 16)));
    if (i < n) { /* the last element read is s[2 * (n - 1)]: load no further */
        int64_t cnt = 2 * (n - i) - 1;
        __mmask16 ka = cnt >= 16 ? 0xFFFF : (__mmask16)((1u << cnt) - 1);
        __mmask16 kb = cnt > 16 ? (__mmask16)((1u << (cnt - 16)) - 1) : 0;
        __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(ka, s + 2 * i), even,
                                          _mm512_maskz_loadu_ps(kb, s + 2 * i + 16));
        _mm512_mask_storeu_ps(d + i, (__mmask16)((1u << (n - i)) - 1), v);
    }
}

IRIS_AVX2 static void axpy_avx2(float *restrict y, const float *restrict x, float a, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

IRIS_AVX2 static void bias_avx2(float *y, float b, int relu, int64_t n) {
    __m256 vb = _mm256_set1_ps(b), z = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + i), vb);
        _mm256_storeu_ps(y + i, relu ? _mm256_max_ps(v, z) : v);
    }
    bias_c(y + i, b, relu, n - i);
}

IRIS_AVX2 static void bias_res_avx2(float *restrict y, const float *restrict r, float b, int relu, int64_t n) {
    __m256 vb = _mm256_set1_ps(b), z = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(y + i), vb), _mm256_loadu_ps(r + i));
        _mm256_storeu_ps(y + i, relu ? _mm256_max_ps(v, z) : v);
    }
    bias_res_c(y + i, r + i, b, relu, n - i);
}

IRIS_AVX2 static void panel_avx2(float *restrict d, const float *restrict s, int64_t n, int w) {
    if (n == 16 && w == 16) {
        _mm256_store_ps(d, _mm256_loadu_ps(s));
        _mm256_store_ps(d + 8, _mm256_loadu_ps(s + 8));
    } else {
        panel_c(d, s, n, w);
    }
}

IRIS_AVX512 static void axpy_avx512(float *restrict y, const float *restrict x, float a, int64_t n) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

IRIS_AVX512 static void bias_avx512(float *y, float b, int relu, int64_t n) {
    __m512 vb = _mm512_set1_ps(b), z = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), vb);
        _mm512_mask_storeu_ps(y + i, m, relu ? _mm512_max_ps(v, z) : v);
    }
}

IRIS_AVX512 static void bias_res_avx512(float *restrict y, const float *restrict r, float b, int relu, int64_t n) {
    __m512 vb = _mm512_set1_ps(b), z = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_add_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), vb), _mm512_maskz_loadu_ps(m, r + i));
        _mm512_mask_storeu_ps(y + i, m, relu ? _mm512_max_ps(v, z) : v);
    }
}

IRIS_AVX512 static void panel_avx512(float *restrict d, const float *restrict s, int64_t n, int w) {
    if (w != 32) {
        panel_c(d, s, n, w);
        return;
    }
    __mmask16 k0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
    __mmask16 k1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
    _mm512_store_ps(d, _mm512_maskz_loadu_ps(k0, s));
    _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(k1, s + 16));
}
#endif

static vec_ops pick_vec_ops(void) {
    vec_ops v = {axpy_c, bias_c, bias_res_c, panel_c, copy_c, copy_s2_c};
#ifdef IRIS_X86
    int s = iris_cpu_simd();
    if (s >= IRIS_SIMD_AVX512) v = (vec_ops){axpy_avx512, bias_avx512, bias_res_avx512, panel_avx512, copy_avx512, copy_s2_avx512};
    else if (s >= IRIS_SIMD_AVX2) v = (vec_ops){axpy_avx2, bias_avx2, bias_res_avx2, panel_avx2, copy_avx2, copy_s2_c};
#endif
    return v;
}

/* ---- the job ---- */

typedef struct {
    iris_cpu *cpu;
    vec_ops v;
    int64_t N, C, H, W, O, Ho, Wo, G, Cg, Og, K, P;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t xs[4]; /* x strides in floats */
    const float *x;
    const char *w; /* [O, K] rows of type wt, ldw bytes apart */
    int64_t ldw;
    iris_dtype wt;
    const float *bias;
    const float *res; /* residual [N, O, Ho, Wo] or NULL, added before the activation */
    int64_t rs[4];    /* its strides in floats */
    float *y; /* [N, O, P] */
    iris_act act;
    float alpha;
    int direct; /* 1x1 stride 1 on contiguous planes: rows of col are rows of x */
    int packed; /* built-in GEMM: col in its packed layout */
    /* the current pass: image n, group g, output positions [p0, p0 + pc) */
    int64_t n, g, p0, pc;
    float *colbuf;
    const float *col; /* plain path: [K, pc] B operand, rows ldcol floats apart */
    int64_t ldcol;
    int64_t mt, nt, n_nt;
    size_t priv, wtile_bytes, row_off; /* per-thread scratch: converted weights, GEMM work, im2col row */
    /* packed path */
    iris_gemm_dims d;
    float *apack;   /* G groups of [Mpg x K] packed */
    int64_t Mpg, Kp, Np; /* padded rows per group, padded K, padded columns of col */
    int64_t wkey[MAX_THREADS]; /* first weight row held converted by each thread, -1 none */
} conv_job;

/* Row k = (c, i, j) of col over output positions [p0, p0 + pc) of image n, group g:
   x[c, ho*sh - ph + i*dh, wo*sw - pw + j*dw] at each output position (ho, wo), zero where that falls
   in the padding. */
static void col_row(const conv_job *j, int64_t n, int64_t g, int64_t k, int64_t p0, int64_t pc, float *dst) {
    const int64_t kk = (int64_t)j->kh * j->kw, end = p0 + pc;
    int64_t c = k / kk, r = k % kk, ki = r / j->kw, kj = r % j->kw;
    const float *xc = j->x + n * j->xs[0] + (g * j->Cg + c) * j->xs[1];
    int64_t off = kj * j->dw - j->pw; /* iw = wo*sw + off */
    int64_t lo = off >= 0 ? 0 : ceil_div(-off, j->sw);
    int64_t hi = j->W - 1 - off < 0 ? 0 : (j->W - 1 - off) / j->sw + 1; /* valid wo in [lo, hi) */
    for (int64_t p = p0; p < end;) {
        int64_t ho = p / j->Wo, wo0 = p % j->Wo, wo1 = min64(j->Wo, wo0 + (end - p));
        int64_t ih = ho * j->sh - j->ph + ki * j->dh;
        float *d = dst + (p - p0) - wo0; /* d[wo] */
        if (ih < 0 || ih >= j->H) {
            memset(d + wo0, 0, (size_t)(wo1 - wo0) * sizeof(float));
        } else {
            const float *xr = xc + ih * j->xs[2];
            int64_t a = max64(lo, wo0), b = min64(hi, wo1);
            if (a > b) a = b;
            for (int64_t wo = wo0; wo < a; wo++) d[wo] = 0;
            if (j->sw == 1 && j->xs[3] == 1) {
                if (b > a) j->v.copy(d + a, xr + a + off, b - a);
            } else if (j->sw == 2 && j->xs[3] == 1) {
                if (b > a) j->v.copy_s2(d + a, xr + 2 * a + off, b - a);
            } else {
                for (int64_t wo = a; wo < b; wo++) d[wo] = xr[(wo * j->sw + off) * j->xs[3]];
            }
            for (int64_t wo = b > wo0 ? b : wo0; wo < wo1; wo++) d[wo] = 0;
        }
        p += wo1 - wo0;
    }
}

/* Epilogue of a tile: rows [row0, row0 + m) x positions [p0, p0 + n) of image im, at y (rows ldy apart):
   bias, residual, activation, in one pass over the tile while it is in cache. */
static void bias_act(const conv_job *j, float *y, int64_t ldy, int64_t im, int64_t row0, int64_t p0, int64_t m,
                     int64_t n) {
    int relu = j->act == IRIS_ACT_RELU;
    int res_flat = j->res && j->rs[3] == 1 && j->rs[2] == j->Wo; /* positions contiguous in the residual */
    for (int64_t r = 0; r < m; r++) {
        float *yr = y + r * ldy;
        float b = j->bias ? j->bias[row0 + r] : 0.0f;
        if (j->res) {
            const float *rr = j->res + im * j->rs[0] + (row0 + r) * j->rs[1];
            if (res_flat) {
                j->v.bias_res(yr, rr + p0, b, relu, n);
            } else {
                for (int64_t q = 0; q < n; q++) {
                    int64_t p = p0 + q;
                    float v = yr[q] + b + rr[p / j->Wo * j->rs[2] + p % j->Wo * j->rs[3]];
                    yr[q] = relu && v < 0 ? 0.0f : v;
                }
            }
        } else if (j->bias || relu) {
            j->v.bias(yr, b, relu, n);
        }
        if (j->act != IRIS_ACT_NONE && !relu) iris_cpu_act(j->act, j->alpha, yr, n);
    }
}

/* Weight rows [row0, row0 + m) as f32: in place when they are, else converted into `tmp` (and kept there
   for the next tile of the same rows, remembered in wkey). */
static const float *weight_rows(conv_job *j, int tid, int64_t row0, int64_t m, float *tmp, int64_t *lda) {
    if (j->wt == IRIS_F32) {
        *lda = j->ldw / 4;
        return (const float *)(j->w + row0 * j->ldw);
    }
    if (j->wkey[tid] != row0 || row0 < 0)
        for (int64_t r = 0; r < m; r++) iris_cpu_to_f32(j->wt, j->w + (row0 + r) * j->ldw, tmp + r * j->K, j->K);
    j->wkey[tid] = row0;
    *lda = j->K;
    return tmp;
}

/* ---- fused tiles (built-in GEMM, many output positions) ----
   The weights are packed once for the call; each tile of positions builds its own packed col
   block (K x nt, in L2) just before its GEMM over all output channels of the group. */

static void pack_weights(void *arg, int64_t begin, int64_t end, int tid) {
    conv_job *j = arg;
    float *tmp = iris_cpu_scratch(j->cpu, tid, j->priv);
    int64_t per = j->Mpg / j->d.mr;
    for (int64_t it = begin; it < end; it++) {
        int64_t g = it / per, r0 = it % per * j->d.mr, m = min64(j->d.mr, j->Og - r0), lda;
        j->wkey[tid] = -1;
        const float *src = weight_rows(j, tid, g * j->Og + r0, m, tmp, &lda);
        iris_cpu_gemm_pack_a(m, j->K, src, lda, j->apack + g * j->Mpg * j->Kp, j->Mpg, r0);
    }
}

/* Row k of col over positions [t0, t0 + n) of image im, group g into packed panels at dst (np columns). */
static void col_row_packed(conv_job *j, int64_t im, int64_t g, int64_t k, int64_t t0, int64_t n, int64_t np, float *dst,
                           float *tmp) {
    const int nr = j->d.nr, kc = j->d.kc;
    const float *row = tmp;
    if (j->direct)
        row = j->x + im * j->xs[0] + (g * j->Cg + k) * j->xs[1] + t0;
    else
        col_row(j, im, g, k, t0, n, tmp);
    int64_t b = k / kc, kb = min64(kc, j->K - b * kc);
    dst += b * kc * np + (k % kc) * nr;
    for (int64_t q = 0; q < np; q += nr, dst += kb * nr) j->v.panel(dst, row + q, min64(nr, n - q), nr);
}

/* The same over positions [q0, q0 + n) of the images laid end to end (q = image * P + position). */
static void col_row_packed_cross(conv_job *j, int64_t g, int64_t k, int64_t q0, int64_t n, int64_t np, float *dst,
                                 float *tmp) {
    const int nr = j->d.nr, kc = j->d.kc;
    for (int64_t q = q0; q < q0 + n;) {
        int64_t im = q / j->P, p = q % j->P, len = min64(j->P - p, q0 + n - q);
        if (j->direct)
            j->v.copy(tmp + (q - q0), j->x + im * j->xs[0] + (g * j->Cg + k) * j->xs[1] + p, len);
        else
            col_row(j, im, g, k, p, len, tmp + (q - q0));
        q += len;
    }
    int64_t b = k / kc, kb = min64(kc, j->K - b * kc);
    dst += b * kc * np + (k % kc) * nr;
    for (int64_t q = 0; q < np; q += nr, dst += kb * nr) j->v.panel(dst, tmp + q, min64(nr, n - q), nr);
}

static void tiles_fused(void *arg, int64_t begin, int64_t end, int tid) {
    conv_job *j = arg;
    int64_t ntp = round_up(j->nt, j->d.nr);
    float *bt = iris_cpu_scratch(j->cpu, tid, j->priv), *tmp = bt + j->K * ntp;
    int64_t per = ceil_div(j->P, j->nt); /* tiles per image and group */
    for (int64_t it = begin; it < end; it++) {
        int64_t im = it / per / j->G, g = it / per % j->G, t0 = it % per * j->nt;
        int64_t n = min64(j->nt, j->P - t0), np = round_up(n, j->d.nr);
        for (int64_t k = 0; k < j->K; k++) col_row_packed(j, im, g, k, t0, n, np, bt, tmp);
        int64_t row0 = g * j->Og;
        float *y = j->y + (im * j->O + row0) * j->P + t0;
        iris_cpu_sgemm_packed(j->Og, n, j->K, j->apack + g * j->Mpg * j->Kp, j->Mpg, 0, bt, np, 0, y, j->P);
        bias_act(j, y, j->P, im, row0, t0, j->Og, n);
    }
}

/* Tiles across image boundaries (batch > 1 over planes that are not a whole number of panels, such as
   7x7 and 14x14): per image, the last panel of every plane would be partly empty (49 positions fill 64
   columns). The GEMM writes the tile into a scratch block, whose epilogue then goes to each image's
   place in y. */
static void tiles_cross(void *arg, int64_t begin, int64_t end, int tid) {
    conv_job *j = arg;
    int64_t ntp = round_up(j->nt, j->d.nr), Q = j->N * j->P, per = ceil_div(Q, j->nt);
    float *bt = iris_cpu_scratch(j->cpu, tid, j->priv), *tmp = bt + j->K * ntp, *ct = tmp + ntp + 32;
    for (int64_t it = begin; it < end; it++) {
        int64_t g = it / per, q0 = it % per * j->nt, n = min64(j->nt, Q - q0), np = round_up(n, j->d.nr);
        for (int64_t k = 0; k < j->K; k++) col_row_packed_cross(j, g, k, q0, n, np, bt, tmp);
        int64_t row0 = g * j->Og;
        iris_cpu_sgemm_packed(j->Og, n, j->K, j->apack + g * j->Mpg * j->Kp, j->Mpg, 0, bt, np, 0, ct, ntp);
        for (int64_t q = q0; q < q0 + n;) {
            int64_t im = q / j->P, p = q % j->P, len = min64(j->P - p, q0 + n - q);
            float *c = ct + (q - q0);
            bias_act(j, c, ntp, im, row0, p, j->Og, len);
            for (int64_t r = 0; r < j->Og; r++)
                memcpy(j->y + (im * j->O + row0 + r) * j->P + p, c + r * ntp, (size_t)len * sizeof(float));
            q += len;
        }
    }
}

/* ---- shared col (few output positions, or OpenBLAS) ----
   All threads build the chunk's col together, then take tiles of it, splitting the output
   channels when there are few positions; each tile packs its weight rows on the fly, which
   reads them once instead of three times (they dominate the traffic of small late layers). */

static void im2col_rows(void *arg, int64_t k0, int64_t k1, int tid) {
    conv_job *j = arg;
    /* the row buffer sits after the tiles' converted weights, which stay valid across passes */
    float *tmp = (float *)((char *)iris_cpu_scratch(j->cpu, tid, j->priv) + j->row_off);
    for (int64_t k = k0; k < k1; k++) {
        if (j->packed)
            col_row_packed(j, j->n, j->g, k, j->p0, j->pc, j->Np, j->colbuf, tmp);
        else
            col_row(j, j->n, j->g, k, j->p0, j->pc, j->colbuf + k * j->pc);
    }
}

static void tiles_shared(void *arg, int64_t begin, int64_t end, int tid) {
    conv_job *j = arg;
    char *scr = iris_cpu_scratch(j->cpu, tid, j->priv);
    float *wtile = (float *)scr;
    void *work = scr + j->wtile_bytes;
    for (int64_t it = begin; it < end; it++) {
        int64_t m0 = it / j->n_nt * j->mt, t0 = it % j->n_nt * j->nt;
        int64_t m = min64(j->mt, j->Og - m0), n = min64(j->nt, j->pc - t0);
        int64_t row0 = j->g * j->Og + m0, lda; /* first output channel */
        const float *a = weight_rows(j, tid, row0, m, wtile, &lda);
        float *y = j->y + (j->n * j->O + row0) * j->P + j->p0 + t0;
        if (j->packed)
            iris_cpu_sgemm_packed_b(m, n, j->K, a, lda, j->colbuf, j->Np, t0, y, j->P, work);
        else
            iris_cpu_sgemm_1t(0, m, n, j->K, 1.0f, a, lda, j->col + t0, j->ldcol, 0.0f, y, j->P, work);
        bias_act(j, y, j->P, j->n, row0, j->p0 + t0, m, n);
    }
}

static char *conv_scratch(conv_job *j, size_t shared) {
    for (int t = 1; t < j->cpu->n_threads; t++)
        if (!iris_cpu_scratch(j->cpu, t, j->priv)) return NULL;
    char *s0 = iris_cpu_scratch(j->cpu, 0, j->priv + shared + 64);
    for (int t = 0; t < MAX_THREADS; t++) j->wkey[t] = -1;
    return s0 ? s0 + j->priv : NULL;
}

static iris_status conv_gemm(conv_job *j) {
    iris_cpu *cpu = j->cpu;
    int nth = cpu->n_threads;
    j->d = iris_cpu_gemm_dims();
    j->Mpg = round_up(j->Og, j->d.mr);
    j->packed = !iris_cpu_sgemm_uses_openblas();
    j->direct = j->kh == 1 && j->kw == 1 && j->sh == 1 && j->sw == 1 && j->ph == 0 && j->pw == 0 && j->Ho == j->H &&
                j->xs[3] == 1 && j->xs[2] == j->W && j->xs[1] >= j->P;

    /* fused tiles (over all images and groups at once) when there are at least two per thread and the
       packed weights fit; a small output plane (7x7) is one tile */
    int64_t ntf = min64(TILE_N, max64(j->d.nr, (256 << 10) / j->K / j->d.nr * j->d.nr));
    if (j->P <= 64) ntf = j->P;
    j->Kp = round_up(j->K, j->d.kc);
    /* batch over planes that leave part of a panel empty: tiles run across images (at least two
       panels wide, so that the weights, streamed once per tile, are not read for a few columns) */
    int64_t ntc = min64(TILE_N, max64(2 * j->d.nr, (256 << 10) / j->K / j->d.nr * j->d.nr));
    int64_t Q = j->N * j->P;
    int waste = round_up(j->P, j->d.nr) * 5 > j->P * 6; /* over 20% of the columns per image empty (7x7) */
    if (j->packed && j->N > 1 && waste && j->G * ceil_div(Q, ntc) >= nth &&
        j->G * j->Mpg * j->Kp <= PACK_A_FLOATS) {
        int64_t tiles = round_up(ceil_div(Q, ntc), j->G >= nth ? 1 : nth);
        j->nt = min64(ntc, round_up(ceil_div(Q, tiles), j->d.nr));
        j->priv = align64((size_t)((j->K + 1 + j->Og) * j->nt + 32) * sizeof(float));
        j->priv = (size_t)max64((int64_t)j->priv, (int64_t)align64((size_t)(j->d.mr * j->K) * sizeof(float)));
        char *shared = conv_scratch(j, align64((size_t)(j->G * j->Mpg * j->Kp) * sizeof(float)));
        if (!shared) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory for scratch");
        j->apack = (float *)shared;
        iris_pool_for(cpu->pool, j->G * (j->Mpg / j->d.mr), 1, pack_weights, j);
        iris_cpu_for_each_tile(cpu, j->G * ceil_div(Q, j->nt), tiles_cross, j);
        return IRIS_OK;
    }
    if (j->packed && j->N * j->G * ceil_div(j->P, ntf) >= 2 * nth && j->G * j->Mpg * j->Kp <= PACK_A_FLOATS) {
        /* equal tiles, as many as a multiple of the threads, so no thread is left with a short one */
        int64_t tiles = round_up(ceil_div(j->P, ntf), j->N * j->G >= nth ? 1 : nth);
        j->nt = min64(ntf, round_up(ceil_div(j->P, tiles), j->d.nr));
        j->priv = align64((size_t)(j->K * round_up(ntf, j->d.nr) + ntf + 32) * sizeof(float));
        j->priv = (size_t)max64((int64_t)j->priv, (int64_t)align64((size_t)(j->d.mr * j->K) * sizeof(float)));
        char *shared = conv_scratch(j, align64((size_t)(j->G * j->Mpg * j->Kp) * sizeof(float)));
        if (!shared) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory for scratch");
        j->apack = (float *)shared;
        iris_pool_for(cpu->pool, j->G * (j->Mpg / j->d.mr), 1, pack_weights, j);
        iris_cpu_for_each_tile(cpu, j->N * j->G * ceil_div(j->P, j->nt), tiles_fused, j);
        return IRIS_OK;
    }

    /* shared col in chunks of positions under COL_FLOATS */
    int plain_direct = j->direct && !j->packed; /* OpenBLAS reads 1x1 inputs in place */
    int64_t chunk = plain_direct ? j->P : min64(j->P, max64(TILE_N, COL_FLOATS / j->K / TILE_N * TILE_N));
    int64_t n_chunks = ceil_div(j->P, chunk);
    chunk = min64(j->P, round_up(ceil_div(j->P, n_chunks), TILE_N)); /* tiles stay aligned to panels */
    j->nt = min64(TILE_N, chunk);
    int64_t n_nt = ceil_div(chunk, j->nt);
    j->mt = j->Og;
    if (n_nt < 2 * nth) { /* a pass is one pool call: split the channels so every thread gets tiles */
        int64_t want = round_up(ceil_div(2 * nth, n_nt), nth);
        j->mt = min64(j->Og, max64(16, round_up(ceil_div(j->Og, want), 4)));
    }
    j->wtile_bytes = j->wt == IRIS_F32 ? 0 : align64((size_t)(j->mt * j->K) * sizeof(float));
    size_t work = j->packed ? iris_cpu_sgemm_packed_b_work_bytes(j->K) : iris_cpu_sgemm_work_bytes(j->mt, j->nt, j->K);
    j->row_off = j->wtile_bytes + align64(work);
    j->priv = j->row_off + align64((size_t)(chunk + 32) * sizeof(float));
    j->Np = round_up(chunk, j->d.nr);
    size_t sz_col = plain_direct ? 0 : align64((size_t)(j->K * (j->packed ? j->Np : chunk)) * sizeof(float));
    char *shared = conv_scratch(j, sz_col);
    if (!shared) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory for scratch (%zu MiB)", sz_col >> 20);
    j->colbuf = (float *)shared;
    for (j->n = 0; j->n < j->N; j->n++)
        for (j->g = 0; j->g < j->G; j->g++)
            for (j->p0 = 0; j->p0 < j->P; j->p0 += chunk) {
                j->pc = min64(chunk, j->P - j->p0);
                j->Np = round_up(j->pc, j->d.nr);
                j->n_nt = ceil_div(j->pc, j->nt);
                if (plain_direct) {
                    j->col = j->x + j->n * j->xs[0] + j->g * j->Cg * j->xs[1] + j->p0;
                    j->ldcol = j->xs[1];
                } else {
                    iris_pool_for(cpu->pool, j->K, 8, im2col_rows, j);
                    j->col = j->colbuf;
                    j->ldcol = j->pc;
                }
                iris_cpu_for_each_tile(cpu, ceil_div(j->Og, j->mt) * j->n_nt, tiles_shared, j);
            }
    return IRIS_OK;
}

/* ---- depthwise path ---- */

/* Fast path: the input plane is first copied into a zero-padded buffer, so every output row is a
   sum of kh*kw shifted loads of padded rows, accumulated in registers and stored once (instead
   of kh*kw read-modify-write passes over the row). Stride 2 takes the even lanes of two loads. */
static int dw_fast(const conv_job *j) {
    return j->dh == 1 && j->dw == 1 && j->xs[3] == 1 && (j->sw == 1 || j->sw == 2) && j->kh * j->kw <= 49 &&
           iris_cpu_simd() >= IRIS_SIMD_AVX512;
}

static int64_t dw_pad_w(const conv_job *j) { return (j->Wo - 1) * j->sw + j->kw; }
static int64_t dw_pad_h(const conv_job *j) { return (j->Ho - 1) * j->sh + j->kh; }

/* The padded copy of plane xc: row r, column q hold x[r - ph, q - pw] (0 outside). */
static void dw_pad_plane(const conv_job *j, const float *xc, float *pad) {
    int64_t Wp = dw_pad_w(j), Hp = dw_pad_h(j);
    for (int64_t r = 0; r < Hp; r++) {
        float *d = pad + r * Wp;
        int64_t ih = r - j->ph;
        if (ih < 0 || ih >= j->H) {
            memset(d, 0, (size_t)Wp * sizeof(float));
            continue;
        }
        int64_t left = min64(j->pw, Wp), n = max64(0, min64(j->W, Wp - j->pw));
        memset(d, 0, (size_t)left * sizeof(float));
        memcpy(d + left, xc + ih * j->xs[2], (size_t)n * sizeof(float));
        if (left + n < Wp) memset(d + left + n, 0, (size_t)(Wp - left - n) * sizeof(float));
    }
    memset(pad + Hp * Wp, 0, 64 * sizeof(float)); /* what the last stride-2 loads may read past the end */
}

#ifdef IRIS_X86
/* Returns 1 when bias and activation were applied here too (no residual; none, ReLU or leaky). */
IRIS_AVX512 static int dw_rows_avx512(const conv_job *j, const float *pad, const float *wk, float bias, float *yp) {
    const int64_t Wp = dw_pad_w(j);
    const int fuse = !j->res && (j->act == IRIS_ACT_NONE || j->act == IRIS_ACT_RELU || j->act == IRIS_ACT_LEAKY);
    const __m512 vb = _mm512_set1_ps(fuse ? bias : 0.0f), slope = _mm512_set1_ps(j->act == IRIS_ACT_LEAKY ? j->alpha : 0.0f);
    const int kk = j->kh * j->kw;
    __m512 w[49];
    for (int t = 0; t < kk; t++) w[t] = _mm512_set1_ps(wk[t]);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t ho = 0; ho < j->Ho; ho++) {
        const float *r0 = pad + ho * j->sh * Wp;
        float *yr = yp + ho * j->Wo;
        for (int64_t wo = 0; wo < j->Wo; wo += 16) {
            __mmask16 m = j->Wo - wo >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (j->Wo - wo)) - 1);
            __m512 acc = vb;
            for (int ki = 0; ki < j->kh; ki++) {
                const float *r = r0 + ki * Wp;
                for (int kj = 0; kj < j->kw; kj++) {
                    __m512 v;
                    if (j->sw == 1) {
                        v = _mm512_maskz_loadu_ps(m, r + wo + kj);
                    } else {
                        const float *q = r + 2 * wo + kj;
                        v = _mm512_permutex2var_ps(_mm512_loadu_ps(q), even, _mm512_loadu_ps(q + 16));
                    }
                    acc = _mm512_fmadd_ps(w[ki * j->kw + kj], v, acc);
                }
            }
            if (fuse && j->act != IRIS_ACT_NONE) /* max(x, slope x) is ReLU for slope 0 and leaky for 0 < slope < 1 */
                acc = j->alpha < 1 || j->act == IRIS_ACT_RELU ? _mm512_max_ps(acc, _mm512_mul_ps(acc, slope))
                                                               : _mm512_min_ps(acc, _mm512_mul_ps(acc, slope));
            _mm512_mask_storeu_ps(yr + wo, m, acc);
        }
    }
    return fuse;
}
#endif

static void dw_planes(void *arg, int64_t begin, int64_t end, int tid) {
    conv_job *j = arg;
    const int64_t kk = (int64_t)j->kh * j->kw;
    float *wconv = (float *)iris_cpu_scratch(j->cpu, tid, j->priv);
    float *pad = wconv + align64((size_t)(kk + 16) * sizeof(float)) / sizeof(float);
    int fast = dw_fast(j);
    int64_t last_c = -1;
    for (int64_t pl = begin; pl < end; pl++) {
        int64_t n = pl / j->O, o = pl % j->O, c = o / j->Og; /* input channel of output channel o */
        const float *xc = j->x + n * j->xs[0] + c * j->xs[1];
        const float *wk = wconv;
        if (j->wt == IRIS_F32)
            wk = (const float *)(j->w + o * j->ldw);
        else
            iris_cpu_to_f32(j->wt, j->w + o * j->ldw, wconv, kk);
        float *yp = j->y + pl * j->P;
#ifdef IRIS_X86
        if (fast) {
            if (n * j->C + c != last_c) dw_pad_plane(j, xc, pad); /* channel multipliers share the plane */
            last_c = n * j->C + c;
            if (!dw_rows_avx512(j, pad, wk, j->bias ? j->bias[o] : 0.0f, yp)) bias_act(j, yp, j->P, n, o, 0, 1, j->P);
            continue;
        }
#endif
        (void)fast, (void)pad, (void)last_c;
        memset(yp, 0, (size_t)j->P * sizeof(float));
        for (int64_t ho = 0; ho < j->Ho; ho++) {
            float *yr = yp + ho * j->Wo;
            for (int ki = 0; ki < j->kh; ki++) {
                int64_t ih = ho * j->sh - j->ph + ki * j->dh;
                if (ih < 0 || ih >= j->H) continue;
                const float *xr = xc + ih * j->xs[2];
                for (int kj = 0; kj < j->kw; kj++) {
                    float a = wk[ki * j->kw + kj];
                    int64_t off = kj * j->dw - j->pw;
                    int64_t lo = off >= 0 ? 0 : ceil_div(-off, j->sw);
                    int64_t hi = j->W - 1 - off < 0 ? 0 : min64(j->Wo, (j->W - 1 - off) / j->sw + 1);
                    if (lo >= hi) continue;
                    if (j->sw == 1 && j->xs[3] == 1)
                        j->v.axpy(yr + lo, xr + lo + off, a, hi - lo);
                    else
                        for (int64_t wo = lo; wo < hi; wo++) yr[wo] += a * xr[(wo * j->sw + off) * j->xs[3]];
                }
            }
        }
        bias_act(j, yp, j->P, n, o, 0, 1, j->P);
    }
}

static iris_status conv_depthwise(conv_job *j) {
    j->priv = align64((size_t)(j->K + 16) * sizeof(float));
    if (dw_fast(j)) j->priv += align64((size_t)(dw_pad_w(j) * dw_pad_h(j) + 64) * sizeof(float));
    for (int t = 0; t < j->cpu->n_threads; t++)
        if (!iris_cpu_scratch(j->cpu, t, j->priv)) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory for scratch");
    iris_pool_for(j->cpu->pool, j->N * j->O, 1, dw_planes, j);
    return IRIS_OK;
}

/* ---- 1x1 path for thin layers ----
   A 1x1 conv with few input channels is a GEMM too thin for packing to pay (YOLO-Fastest's
   8..96-channel maps of 20^2..160^2 positions): each output tile of R channels x 32 positions is
   summed in registers over the input channels, weights broadcast from their rows, and stored once
   with bias and activation. */
/* Where it beats the GEMM (measured on Zen 5 in YOLO-Fastest's and YOLOv4-tiny's layers): up to 128
   input channels. IRIS_CONV=direct keeps every conv on the GEMM, for comparison. */
static int pw_fast(const conv_job *j) {
    return j->kh == 1 && j->kw == 1 && j->sh == 1 && j->sw == 1 && j->ph == 0 && j->pw == 0 && j->G == 1 &&
           !j->res && j->wt == IRIS_F32 && j->C <= 128 && j->xs[3] == 1 && j->xs[2] == j->W &&
           j->Ho == j->H && j->Wo == j->W && iris_cpu_simd() >= IRIS_SIMD_AVX512 &&
           iris_cpu_conv_mode() != IRIS_CONV_DIRECT;
}

#ifdef IRIS_X86
/* R rows of output channels from o0, positions [p, p + 32) (lanes past n masked), image n. */
#define PW_TILE(R)                                                                                            \
    IRIS_AVX512 static void pw_tile_##R(const conv_job *j, int64_t n, int64_t o0, int64_t p, int64_t np) {    \
        __mmask16 m0 = np >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << np) - 1);                            \
        __mmask16 m1 = np >= 32 ? (__mmask16)0xffff : np <= 16 ? 0 : (__mmask16)((1u << (np - 16)) - 1);      \
        __m512 a0[R], a1[R];                                                                                  \
        _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                                                \
            a0[r] = a1[r] = _mm512_set1_ps(j->bias ? j->bias[o0 + r] : 0.0f);                                 \
        }                                                                                                     \
        const float *x = j->x + n * j->xs[0] + p;                                                             \
        const float *w = (const float *)j->w + o0 * j->C;                                                     \
        const int64_t C = j->C, xs = j->xs[1];                                                                \
        for (int64_t c = 0; c < C; c++) {                                                                     \
            __m512 x0 = _mm512_maskz_loadu_ps(m0, x + c * xs), x1 = _mm512_maskz_loadu_ps(m1, x + c * xs + 16); \
            _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                                            \
                __m512 wv = _mm512_set1_ps(w[r * C + c]);                                                     \
                a0[r] = _mm512_fmadd_ps(wv, x0, a0[r]);                                                       \
                a1[r] = _mm512_fmadd_ps(wv, x1, a1[r]);                                                       \
            }                                                                                                 \
        }                                                                                                     \
        const int leaky = j->act == IRIS_ACT_LEAKY, relu = j->act == IRIS_ACT_RELU;                           \
        const __m512 slope = _mm512_set1_ps(leaky ? j->alpha : 0.0f), zero = _mm512_setzero_ps();             \
        _Pragma("GCC unroll 12") for (int r = 0; r < R; r++) {                                                \
            if (relu) a0[r] = _mm512_max_ps(a0[r], zero), a1[r] = _mm512_max_ps(a1[r], zero);                 \
            if (leaky) {                                                                                      \
                __mmask16 n0 = _mm512_cmp_ps_mask(a0[r], zero, _CMP_LT_OQ), n1 = _mm512_cmp_ps_mask(a1[r], zero, _CMP_LT_OQ); \
                a0[r] = _mm512_mask_mul_ps(a0[r], n0, a0[r], slope);                                          \
                a1[r] = _mm512_mask_mul_ps(a1[r], n1, a1[r], slope);                                          \
            }                                                                                                 \
            float *y = j->y + (n * j->O + o0 + r) * j->P + p;                                                 \
            _mm512_mask_storeu_ps(y, m0, a0[r]);                                                              \
            if (m1) _mm512_mask_storeu_ps(y + 16, m1, a1[r]);                                                 \
        }                                                                                                     \
    }
PW_TILE(12)
PW_TILE(4)
PW_TILE(1)
#undef PW_TILE
#endif

/* one item: image n, positions [32 i, 32 i + 32), every output channel */
static void pw_cols(void *arg, int64_t begin, int64_t end, int tid) {
    conv_job *j = arg;
    (void)tid;
#ifdef IRIS_X86
    int64_t per = ceil_div(j->P, 32);
    for (int64_t it = begin; it < end; it++) {
        int64_t n = it / per, p = it % per * 32, np = min64(32, j->P - p), o = 0;
        for (; o + 12 <= j->O; o += 12) pw_tile_12(j, n, o, p, np);
        for (; o + 4 <= j->O; o += 4) pw_tile_4(j, n, o, p, np);
        for (; o < j->O; o++) pw_tile_1(j, n, o, p, np);
        /* activations other than ReLU and leaky: over the tile just written, still in cache */
        if (j->act != IRIS_ACT_NONE && j->act != IRIS_ACT_RELU && j->act != IRIS_ACT_LEAKY)
            for (int64_t oo = 0; oo < j->O; oo++) iris_cpu_act(j->act, j->alpha, j->y + (n * j->O + oo) * j->P + p, np);
    }
#else
    (void)arg, (void)begin, (void)end;
#endif
}

static iris_status conv_pointwise(conv_job *j) {
    iris_pool_for(j->cpu->pool, j->N * ceil_div(j->P, 32), 4, pw_cols, j);
    return IRIS_OK;
}

/* Bias as f32: the tensor's own data when it already is, else converted into `buf`. */
static const float *bias_f32(const iris_tensor *b, float *buf) {
    if (!b) return NULL;
    int64_t n = iris_nelements(b);
    if (b->dtype == IRIS_F32 && (n == 1 || iris_is_contiguous(b))) return b->data;
    int64_t es = iris_dtype_get(b->dtype)->type_size; /* 1-d: its stride; otherwise contiguous */
    iris_vm_load_row(b->dtype, b->data, b->ndim == 1 && n > 1 ? b->nb[0] : es, n, buf);
    return buf;
}

iris_status iris_cpu_conv2d(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0], *w = c->src[1], *b = c->src[2], *res = c->src[3];
    iris_tensor *y = c->dst;
    conv_job job, *j = &job;
    *j = (conv_job){.cpu = cpu, .v = pick_vec_ops(), .N = x->ne[0], .C = x->ne[1], .H = x->ne[2], .W = x->ne[3],
                    .O = w->ne[0], .Ho = y->ne[2], .Wo = y->ne[3], .kh = (int)w->ne[2], .kw = (int)w->ne[3],
                    .sh = c->ip[0], .sw = c->ip[1], .ph = c->ip[2], .pw = c->ip[3], .dh = c->ip[4], .dw = c->ip[5],
                    .G = c->ip[6], .x = x->data, .w = w->data, .wt = w->dtype, .y = y->data,
                    .act = (iris_act)c->ip[7], .alpha = c->fp[0]};
    j->Cg = j->C / j->G;
    j->Og = j->O / j->G;
    j->K = j->Cg * j->kh * j->kw;
    j->P = j->Ho * j->Wo;
    j->ldw = (int64_t)iris_row_bytes(w->dtype, j->K);
    for (int d = 0; d < 4; d++) j->xs[d] = x->nb[d] / 4;
    if (res) {
        j->res = res->data;
        for (int d = 0; d < 4; d++) j->rs[d] = res->nb[d] / 4;
    }
    if (j->N * j->O * j->P == 0) return IRIS_OK;
    if (j->K == 0) return iris_fail(IRIS_ERR_SHAPE, "conv2d: empty kernel");
    float *bbuf = NULL;
    if (b && !(b->dtype == IRIS_F32 && iris_is_contiguous(b))) {
        bbuf = malloc((size_t)j->O * sizeof(float));
        if (!bbuf) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory");
    }
    j->bias = bias_f32(b, bbuf);
    iris_status st;
    if (iris_cpu_winograd_wanted(c))
        st = iris_cpu_conv2d_winograd(cpu, c, j->bias); /* 3x3 stride 1: conv_winograd.c */
    else if (j->Cg == 1)
        st = conv_depthwise(j);
    else if (pw_fast(j))
        st = conv_pointwise(j);
    else
        st = conv_gemm(j);
    free(bbuf);
    return st;
}
