/* conv.c - 2-D convolution, NCHW, with fused bias and activation.

   Most convolutions become GEMMs: out[O, Ho*Wo] = W[O, C*kh*kw] @ col[C*kh*kw, Ho*Wo], where
   col (im2col) holds the input patch under every output position. Per image and group the
   output positions are taken in chunks whose col block stays under COL_FLOATS, so memory is
   bounded whatever the image size; in ResNet-50 every layer is one chunk. A chunk is built
   by all threads together (rows of col in parallel), then its GEMM is cut into tiles that
   threads take in turn, each a single-threaded GEMM followed by bias and activation while
   the tile is still in cache. 1x1 stride-1 convolutions skip im2col: the input planes
   already are the col matrix.

   Depthwise convolutions (one input channel per group) have K = kh*kw, far too short for a
   GEMM; they run as a direct kernel over output rows: for every kernel tap, one scaled,
   shifted input row is added to the output row (vectorised along the row).
*/
#include <stdlib.h>
#include <string.h>

#include "../quant.h"
#include "cpu.h"

#ifdef IRIS_X86
#include <immintrin.h>
#endif

#define COL_FLOATS (2 << 20) /* col block per chunk: 8 MiB */
#define TILE_N 256           /* output positions per GEMM tile */
#define MAX_THREADS 256

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

typedef struct {
    iris_cpu *cpu;
    int64_t N, C, H, W, O, Ho, Wo, G, Cg, Og, K, P;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t xs[4]; /* x strides in floats */
    const float *x;
    const char *w; /* [O, K] rows of type wt, ldw bytes apart */
    int64_t ldw;
    iris_dtype wt;
    const float *bias;
    float *y; /* [N, O, P] */
    iris_act act;
    float alpha;
    /* the current pass: image n, group g, output positions [p0, p0 + pc) */
    int64_t n, g, p0, pc;
    const float *col; /* [K, pc] B operand, rows ldcol floats apart */
    int64_t ldcol;
    float *colbuf;
    int64_t mt, nt, n_nt;
    size_t priv, wtile_bytes;
    int64_t wkey[MAX_THREADS]; /* first weight row held converted by each thread, -1 none */
} conv_job;

/* ---- GEMM path ---- */

/* col rows [k0, k1) for the current pass: row k = (c, i, j) holds x[c, ho*sh - ph + i*dh, wo*sw - pw + j*dw]
   at each output position (ho, wo), zero where that falls in the padding. */
static void im2col_rows(void *arg, int64_t k0, int64_t k1, int tid) {
    conv_job *j = arg;
    (void)tid;
    const int64_t kk = (int64_t)j->kh * j->kw, end = j->p0 + j->pc;
    for (int64_t k = k0; k < k1; k++) {
        int64_t c = k / kk, r = k % kk, ki = r / j->kw, kj = r % j->kw;
        const float *xc = j->x + j->n * j->xs[0] + (j->g * j->Cg + c) * j->xs[1];
        float *dst = j->colbuf + k * j->pc;
        int64_t off = kj * j->dw - j->pw; /* iw = wo*sw + off */
        int64_t lo = off >= 0 ? 0 : ceil_div(-off, j->sw);
        int64_t hi = j->W - 1 - off < 0 ? 0 : (j->W - 1 - off) / j->sw + 1; /* valid wo in [lo, hi) */
        for (int64_t p = j->p0; p < end;) {
            int64_t ho = p / j->Wo, wo0 = p % j->Wo, wo1 = min64(j->Wo, wo0 + (end - p));
            int64_t ih = ho * j->sh - j->ph + ki * j->dh;
            float *d = dst + (p - j->p0) - wo0; /* d[wo] */
            if (ih < 0 || ih >= j->H) {
                memset(d + wo0, 0, (size_t)(wo1 - wo0) * sizeof(float));
            } else {
                const float *xr = xc + ih * j->xs[2];
                int64_t a = max64(lo, wo0), b = min64(hi, wo1);
                if (a > b) a = b;
                for (int64_t wo = wo0; wo < a; wo++) d[wo] = 0;
                if (j->sw == 1 && j->xs[3] == 1) {
                    if (b > a) memcpy(d + a, xr + a + off, (size_t)(b - a) * sizeof(float));
                } else {
                    for (int64_t wo = a; wo < b; wo++) d[wo] = xr[(wo * j->sw + off) * j->xs[3]];
                }
                for (int64_t wo = b > wo0 ? b : wo0; wo < wo1; wo++) d[wo] = 0;
            }
            p += wo1 - wo0;
        }
    }
}

static void conv_tiles(void *arg, int64_t begin, int64_t end, int tid) {
    conv_job *j = arg;
    char *scr = iris_cpu_scratch(j->cpu, tid, j->priv);
    float *wtile = (float *)scr;
    void *work = scr + j->wtile_bytes;
    for (int64_t it = begin; it < end; it++) {
        int64_t m0 = it / j->n_nt * j->mt, t0 = it % j->n_nt * j->nt;
        int64_t m = min64(j->mt, j->Og - m0), n = min64(j->nt, j->pc - t0);
        int64_t row0 = j->g * j->Og + m0; /* first output channel */
        const float *a = wtile;
        int64_t lda = j->K;
        if (j->wt == IRIS_F32) {
            a = (const float *)(j->w + row0 * j->ldw);
            lda = j->ldw / 4;
        } else if (j->wkey[tid] != row0) {
            for (int64_t r = 0; r < m; r++) iris_dequantize_row(j->wt, j->w + (row0 + r) * j->ldw, wtile + r * j->K, j->K);
            j->wkey[tid] = row0;
        }
        float *y = j->y + (j->n * j->O + row0) * j->P + j->p0 + t0;
        iris_cpu_sgemm_1t(0, m, n, j->K, 1.0f, a, lda, j->col + t0, j->ldcol, 0.0f, y, j->P, work);
        for (int64_t r = 0; r < m; r++) {
            float *yr = y + r * j->P;
            if (j->bias) {
                float b = j->bias[row0 + r];
                for (int64_t q = 0; q < n; q++) yr[q] += b;
            }
            if (j->act != IRIS_ACT_NONE) iris_cpu_act(j->act, j->alpha, yr, n);
        }
    }
}

static iris_status conv_gemm(conv_job *j) {
    iris_cpu *cpu = j->cpu;
    int nth = cpu->n_threads;
    int direct = j->kh == 1 && j->kw == 1 && j->sh == 1 && j->sw == 1 && j->ph == 0 && j->pw == 0 && j->xs[3] == 1 &&
                 j->xs[2] == j->W && j->xs[1] >= j->P;
    int64_t chunk = direct ? j->P : min64(j->P, max64(TILE_N, COL_FLOATS / j->K / TILE_N * TILE_N));
    int64_t n_chunks = ceil_div(j->P, chunk);
    chunk = ceil_div(j->P, n_chunks); /* balanced */

    /* tiles: TILE_N output positions by all output channels of the group, or fewer channels when
       that leaves threads idle */
    j->nt = min64(TILE_N, chunk);
    int64_t n_nt = ceil_div(chunk, j->nt);
    j->mt = j->Og;
    if (n_nt < 2 * nth) {
        int64_t want = ceil_div(2 * nth, n_nt);
        j->mt = max64(16, ceil_div(ceil_div(j->Og, want), 16) * 16);
        j->mt = min64(j->mt, j->Og);
    }
    j->wtile_bytes = j->wt == IRIS_F32 ? 0 : align64((size_t)(j->mt * j->K) * sizeof(float));
    j->priv = j->wtile_bytes + align64(iris_cpu_sgemm_work_bytes(j->mt, j->nt, j->K));
    size_t shared = direct ? 0 : align64((size_t)(j->K * chunk) * sizeof(float));
    for (int t = 1; t < nth; t++)
        if (!iris_cpu_scratch(cpu, t, j->priv)) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory for scratch");
    char *s0 = iris_cpu_scratch(cpu, 0, j->priv + shared + 64);
    if (!s0) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory for scratch (%zu MiB)", (j->priv + shared) >> 20);
    j->colbuf = (float *)(s0 + j->priv);
    for (int t = 0; t < MAX_THREADS; t++) j->wkey[t] = -1;

    for (j->n = 0; j->n < j->N; j->n++)
        for (j->g = 0; j->g < j->G; j->g++)
            for (j->p0 = 0; j->p0 < j->P; j->p0 += chunk) {
                j->pc = min64(chunk, j->P - j->p0);
                if (direct) {
                    j->col = j->x + j->n * j->xs[0] + j->g * j->Cg * j->xs[1] + j->p0;
                    j->ldcol = j->xs[1];
                } else {
                    iris_pool_for(cpu->pool, j->K, 8, im2col_rows, j);
                    j->col = j->colbuf;
                    j->ldcol = j->pc;
                }
                j->n_nt = ceil_div(j->pc, j->nt);
                iris_pool_for(cpu->pool, ceil_div(j->Og, j->mt) * j->n_nt, 1, conv_tiles, j);
            }
    return IRIS_OK;
}

/* ---- depthwise path ---- */

static void axpy_c(float *restrict y, const float *restrict x, float a, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

#ifdef IRIS_X86
IRIS_AVX2 static void axpy_avx2(float *restrict y, const float *restrict x, float a, int64_t n) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
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
#endif

typedef struct {
    conv_job *j;
    void (*axpy)(float *restrict, const float *restrict, float, int64_t);
} dw_job;

static void dw_planes(void *arg, int64_t begin, int64_t end, int tid) {
    dw_job *d = arg;
    conv_job *j = d->j;
    const int64_t kk = (int64_t)j->kh * j->kw;
    float *wconv = (float *)iris_cpu_scratch(j->cpu, tid, j->priv);
    for (int64_t pl = begin; pl < end; pl++) {
        int64_t n = pl / j->O, o = pl % j->O, c = o / j->Og; /* input channel of output channel o */
        const float *xc = j->x + n * j->xs[0] + c * j->xs[1];
        const float *wk = wconv;
        if (j->wt == IRIS_F32)
            wk = (const float *)(j->w + o * j->ldw);
        else
            iris_dequantize_row(j->wt, j->w + o * j->ldw, wconv, kk);
        float b = j->bias ? j->bias[o] : 0.0f;
        float *yp = j->y + pl * j->P;
        for (int64_t ho = 0; ho < j->Ho; ho++) {
            float *yr = yp + ho * j->Wo;
            for (int64_t wo = 0; wo < j->Wo; wo++) yr[wo] = b;
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
                        d->axpy(yr + lo, xr + lo + off, a, hi - lo);
                    else
                        for (int64_t wo = lo; wo < hi; wo++) yr[wo] += a * xr[(wo * j->sw + off) * j->xs[3]];
                }
            }
        }
        if (j->act != IRIS_ACT_NONE) iris_cpu_act(j->act, j->alpha, yp, j->P);
    }
}

static iris_status conv_depthwise(conv_job *j) {
    dw_job d = {j, axpy_c};
#ifdef IRIS_X86
    int s = iris_cpu_simd();
    if (s >= IRIS_SIMD_AVX512) d.axpy = axpy_avx512;
    else if (s >= IRIS_SIMD_AVX2) d.axpy = axpy_avx2;
#endif
    j->priv = align64((size_t)(j->K + 16) * sizeof(float));
    for (int t = 0; t < j->cpu->n_threads; t++)
        if (!iris_cpu_scratch(j->cpu, t, j->priv)) return iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory for scratch");
    iris_pool_for(j->cpu->pool, j->N * j->O, 1, dw_planes, &d);
    return IRIS_OK;
}

/* Bias as f32: the tensor's own data when it already is, else converted into `buf`. */
static const float *bias_f32(const iris_tensor *b, float *buf) {
    if (!b) return NULL;
    int64_t n = iris_nelements(b);
    if (b->dtype == IRIS_F32 && (n == 1 || iris_is_contiguous(b))) return b->data;
    for (int64_t i = 0; i < n; i++) {
        const char *p = (const char *)b->data + (b->ndim == 1 ? i * b->nb[0] : i * iris_dtype_get(b->dtype)->type_size);
        buf[i] = b->dtype == IRIS_F32 ? *(const float *)p
                 : b->dtype == IRIS_F16 ? iris_f16_to_f32(*(const uint16_t *)p)
                                        : iris_bf16_to_f32(*(const uint16_t *)p);
    }
    return buf;
}

iris_status iris_cpu_conv2d(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0], *w = c->src[1], *b = c->src[2];
    iris_tensor *y = c->dst;
    conv_job job, *j = &job;
    *j = (conv_job){.cpu = cpu, .N = x->ne[0], .C = x->ne[1], .H = x->ne[2], .W = x->ne[3], .O = w->ne[0],
                    .Ho = y->ne[2], .Wo = y->ne[3], .kh = (int)w->ne[2], .kw = (int)w->ne[3], .sh = c->ip[0],
                    .sw = c->ip[1], .ph = c->ip[2], .pw = c->ip[3], .dh = c->ip[4], .dw = c->ip[5], .G = c->ip[6],
                    .x = x->data, .w = w->data, .wt = w->dtype, .y = y->data, .act = (iris_act)c->ip[7],
                    .alpha = c->fp[0]};
    j->Cg = j->C / j->G;
    j->Og = j->O / j->G;
    j->K = j->Cg * j->kh * j->kw;
    j->P = j->Ho * j->Wo;
    j->ldw = (int64_t)iris_row_bytes(w->dtype, j->K);
    for (int d = 0; d < 4; d++) j->xs[d] = x->nb[d] / 4;
    iris_status st = IRIS_OK;
    float *bbuf = NULL;
    if (b && !(b->dtype == IRIS_F32 && iris_is_contiguous(b))) {
        bbuf = malloc((size_t)j->O * sizeof(float));
        if (!bbuf) st = iris_fail(IRIS_ERR_NOMEM, "conv2d: out of memory");
    }
    j->bias = bias_f32(b, bbuf);
    if (!st && j->N * j->O * j->P > 0) {
        if (j->Cg == 1 && j->K > 0)
            st = conv_depthwise(j);
        else if (j->K > 0)
            st = conv_gemm(j);
    }
    if (!st && j->K == 0 && j->N * j->O * j->P > 0) st = iris_fail(IRIS_ERR_SHAPE, "conv2d: empty kernel");
    free(bbuf);
    return st;
}
