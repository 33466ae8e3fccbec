/* resample.c - max/average pooling and nearest-neighbour upsampling, NCHW.

   Both are memory-bound and cheap next to the convolutions around them, so they are plain
   loops threaded over planes; inputs may be strided views.
*/
#include <math.h>

#include "cpu.h"

#ifdef IRIS_X86
#include <immintrin.h>
#endif

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- row helpers: o[i] = max(o[i], x[i*step]) (NaN wins, as in PyTorch) or o[i] += x[i*step] ---- */

typedef void (*row_fn)(float *restrict o, const float *restrict x, int64_t n, int64_t step);

static void max_row_c(float *restrict o, const float *restrict x, int64_t n, int64_t step) {
    for (int64_t i = 0; i < n; i++) {
        float e = x[i * step];
        o[i] = e > o[i] || e != e ? e : o[i];
    }
}

static void add_row_c(float *restrict o, const float *restrict x, int64_t n, int64_t step) {
    for (int64_t i = 0; i < n; i++) o[i] += x[i * step];
}

/* o[0] = max/sum of o[0] and the m elements x[q * xstep] (one window row); n and step unused */
typedef void (*win_fn)(float *o, const float *x, int64_t n, int64_t step, int64_t m, int64_t xstep);

static void max_win_c(float *o, const float *x, int64_t n, int64_t step, int64_t m, int64_t xstep) {
    (void)n, (void)step;
    for (int64_t q = 0; q < m; q++) max_row_c(o, x + q * xstep, 1, 1);
}

static void add_win_c(float *o, const float *x, int64_t n, int64_t step, int64_t m, int64_t xstep) {
    (void)n, (void)step;
    float s = 0;
    for (int64_t q = 0; q < m; q++) s += x[q * xstep];
    o[0] += s;
}

#ifdef IRIS_X86
IRIS_AVX2 static void max_row_avx2(float *restrict o, const float *restrict x, int64_t n, int64_t step) {
    int64_t i = 0;
    if (step == 1)
        for (; i + 8 <= n; i += 8) {
            __m256 a = _mm256_loadu_ps(o + i), r = _mm256_max_ps(a, _mm256_loadu_ps(x + i)); /* x if either is NaN */
            _mm256_storeu_ps(o + i, _mm256_blendv_ps(r, a, _mm256_cmp_ps(a, a, _CMP_UNORD_Q)));
        }
    max_row_c(o + i, x + i * step, n - i, step);
}

IRIS_AVX2 static void add_row_avx2(float *restrict o, const float *restrict x, int64_t n, int64_t step) {
    int64_t i = 0;
    if (step == 1)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(o + i, _mm256_add_ps(_mm256_loadu_ps(o + i), _mm256_loadu_ps(x + i)));
    add_row_c(o + i, x + i * step, n - i, step);
}

/* 16 elements of x at step 1 or 2 (even lanes of two loads); the tail is left to the caller */
IRIS_AVX512 static inline __m512 load_step(const float *x, int64_t step) {
    if (step == 1) return _mm512_loadu_ps(x);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(x), even, _mm512_loadu_ps(x + 16));
}

IRIS_AVX512 static void max_row_avx512(float *restrict o, const float *restrict x, int64_t n, int64_t step) {
    int64_t i = 0;
    if (step <= 2)
        for (; i + 16 + (step == 2) <= n; i += 16) { /* step 2 reads x[2i .. 2i + 31]: stay inside the row */
            __m512 a = _mm512_loadu_ps(o + i), r = _mm512_max_ps(a, load_step(x + i * step, step));
            _mm512_storeu_ps(o + i, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), r, a));
        }
    max_row_c(o + i, x + i * step, n - i, step);
}

IRIS_AVX512 static void add_row_avx512(float *restrict o, const float *restrict x, int64_t n, int64_t step) {
    int64_t i = 0;
    if (step <= 2)
        for (; i + 16 + (step == 2) <= n; i += 16)
            _mm512_storeu_ps(o + i, _mm512_add_ps(_mm512_loadu_ps(o + i), load_step(x + i * step, step)));
    add_row_c(o + i, x + i * step, n - i, step);
}
#endif

typedef struct {
    const iris_tensor *x;
    float *y;
    int64_t C, H, W, Ho, Wo;
    int avg, kh, kw, sh, sw, ph, pw, include_pad;
    int64_t xs[4]; /* x strides in floats */
    row_fn row;
    win_fn row_c;
} pool_job;

/* Per output row: each window row and column offset adds one shifted (strided) input row into the
   output row, so the inner loops run along the row instead of over tiny windows. */
static void pool_planes(void *arg, int64_t begin, int64_t end, int tid) {
    pool_job *j = arg;
    (void)tid;
    for (int64_t pl = begin; pl < end; pl++) {
        int64_t n = pl / j->C, c = pl % j->C;
        const float *xp = (const float *)j->x->data + n * j->xs[0] + c * j->xs[1];
        float *yp = j->y + pl * j->Ho * j->Wo;
        for (int64_t ho = 0; ho < j->Ho; ho++) {
            float *yr = yp + ho * j->Wo;
            int64_t h0 = ho * j->sh - j->ph, h1 = min64(h0 + j->kh, j->H), hs = max64(h0, 0);
            if (j->Wo < 8) { /* narrow outputs (global pooling): window by window */
                for (int64_t wo = 0; wo < j->Wo; wo++) {
                    int64_t w0 = wo * j->sw - j->pw, w1 = min64(w0 + j->kw, j->W), ws = max64(w0, 0);
                    yr[wo] = j->avg ? 0.0f : -INFINITY;
                    for (int64_t h = hs; h < h1; h++)
                        j->row_c(yr + wo, xp + h * j->xs[2] + ws * j->xs[3], 1, 0, w1 - ws, j->xs[3]);
                }
            } else {
                for (int64_t wo = 0; wo < j->Wo; wo++) yr[wo] = j->avg ? 0.0f : -INFINITY;
            for (int64_t h = hs; h < h1; h++) {
                const float *xr = xp + h * j->xs[2];
                for (int kj = 0; kj < j->kw; kj++) {
                    int64_t off = kj - j->pw; /* iw = wo*sw + off */
                    int64_t lo = off >= 0 ? 0 : (-off + j->sw - 1) / j->sw;
                    int64_t hi = j->W - 1 - off < 0 ? 0 : min64(j->Wo, (j->W - 1 - off) / j->sw + 1);
                    if (lo < hi) j->row(yr + lo, xr + (lo * j->sw + off) * j->xs[3], hi - lo, j->sw * j->xs[3]);
                }
            }
            }
            if (j->avg) {
                /* without ceil mode a window never reaches past the padding, so the padded window is
                   always kh x kw; without count_include_pad only the part inside x counts */
                for (int64_t wo = 0; wo < j->Wo; wo++) {
                    int64_t w0 = wo * j->sw - j->pw, w1 = min64(w0 + j->kw, j->W);
                    int64_t cnt = j->include_pad ? (int64_t)j->kh * j->kw : (h1 - hs) * (w1 - max64(w0, 0));
                    yr[wo] = cnt > 0 ? yr[wo] / (float)cnt : 0.0f;
                }
            }
        }
    }
}

iris_status iris_cpu_pool2d(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    pool_job j = {.x = x, .y = c->dst->data, .C = x->ne[1], .H = x->ne[2], .W = x->ne[3], .Ho = c->dst->ne[2],
                  .Wo = c->dst->ne[3], .avg = c->ip[0], .kh = c->ip[1], .kw = c->ip[2], .sh = c->ip[3], .sw = c->ip[4],
                  .ph = c->ip[5], .pw = c->ip[6], .include_pad = c->ip[7]};
    for (int d = 0; d < 4; d++) j.xs[d] = x->nb[d] / 4;
    j.row = j.avg ? add_row_c : max_row_c;
    j.row_c = j.avg ? add_win_c : max_win_c;
#ifdef IRIS_X86
    int s = iris_cpu_simd();
    if (s >= IRIS_SIMD_AVX512) j.row = j.avg ? add_row_avx512 : max_row_avx512;
    else if (s >= IRIS_SIMD_AVX2) j.row = j.avg ? add_row_avx2 : max_row_avx2;
#endif
    int64_t planes = x->ne[0] * j.C, per = j.Ho * j.Wo * (int64_t)j.kh * j.kw;
    iris_pool_for(cpu->pool, planes, per >= 4096 ? 1 : 4096 / (per + 1) + 1, pool_planes, &j);
    return IRIS_OK;
}

typedef struct {
    const iris_tensor *x;
    float *y;
    int64_t C, H, W, sh, sw;
    int64_t xs[4];
} up_job;

/* One item per input row: it becomes sh identical output rows, each input element sw times. */
static void up_rows(void *arg, int64_t begin, int64_t end, int tid) {
    up_job *j = arg;
    (void)tid;
    int64_t Wo = j->W * j->sw;
    for (int64_t r = begin; r < end; r++) {
        int64_t h = r % j->H, pl = r / j->H, n = pl / j->C, c = pl % j->C;
        const float *xr = (const float *)j->x->data + n * j->xs[0] + c * j->xs[1] + h * j->xs[2];
        float *y0 = j->y + (pl * j->H + h) * j->sh * Wo;
        for (int64_t w = 0; w < j->W; w++) {
            float v = xr[w * j->xs[3]];
            for (int64_t s = 0; s < j->sw; s++) y0[w * j->sw + s] = v;
        }
        for (int64_t s = 1; s < j->sh; s++)
            for (int64_t q = 0; q < Wo; q++) y0[s * Wo + q] = y0[q];
    }
}

iris_status iris_cpu_upsample(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    up_job j = {.x = x, .y = c->dst->data, .C = x->ne[1], .H = x->ne[2], .W = x->ne[3], .sh = c->ip[0], .sw = c->ip[1]};
    for (int d = 0; d < 4; d++) j.xs[d] = x->nb[d] / 4;
    int64_t rows = x->ne[0] * j.C * j.H, per = j.W * j.sw * j.sh;
    iris_pool_for(cpu->pool, rows, per >= 4096 ? 1 : 4096 / (per + 1) + 1, up_rows, &j);
    return IRIS_OK;
}
