/* norm.c - group, layer and RMS normalisation and softmax, all over rows.

   Statistics are two-pass (mean first, then the centred squares) so a
   channel with a large mean and a small spread keeps its precision. Each
   pass sums in float vector lanes over blocks of 256 values and adds the
   block sums into a double, which costs nothing measurable and keeps a
   group of four million values (a VAE group norm) accurate to float
   precision. Softmax subtracts the row maximum before exp; a row whose
   entries are all masked (-inf) comes out as zeros, not NaN.

   Group norm runs in three parallel sweeps over the N*C channels (sums,
   centred squares, normalise) so that 32 groups still keep every thread
   busy. Inputs may be strided views: a row or channel whose innermost
   stride is not one float is gathered into per-thread scratch first.
*/
#include <stdatomic.h>
#include <stdlib.h>

#include "vecmath.h"

/* ---- row primitives, one set per SIMD level ---- */

typedef struct row_fns {
    double (*sum)(const float *x, int64_t n, float c);   /* sum of (x - c) */
    double (*sumsq)(const float *x, int64_t n, float c); /* sum of (x - c)^2 */
    /* y = ((x - c) * a + d) * g + b with g and b optional vectors */
    void (*normalize)(const float *x, float *y, int64_t n, float c, float a, float d, const float *g,
                      const float *b);
    void (*scale_add)(const float *x, float s, const float *m, float *y, int64_t n); /* y = x*s + m? */
    float (*max)(const float *x, int64_t n);
    double (*exp_sum)(float *x, int64_t n, float m); /* x = exp(x - m) in place; returns the sum */
    void (*scale)(float *x, int64_t n, float s);
} row_fns;

static double sum_c(const float *x, int64_t n, float c) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] - c;
    return s;
}

static double sumsq_c(const float *x, int64_t n, float c) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - c;
        s += d * d;
    }
    return s;
}

static void normalize_c(const float *x, float *y, int64_t n, float c, float a, float d, const float *g,
                        const float *b) {
    for (int64_t i = 0; i < n; i++) {
        float v = (x[i] - c) * a + d;
        if (g) v *= g[i];
        y[i] = b ? v + b[i] : v;
    }
}

static void scale_add_c(const float *x, float s, const float *m, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * s + (m ? m[i] : 0.0f);
}

static const row_fns fns_c = {sum_c, sumsq_c, normalize_c, scale_add_c, iris_vm_max_c, iris_vm_exp_sum_c,
                              iris_vm_scale_c};

#if defined(IRIS_X86)
/* sum of (x - c), or of (x - c)^2 when SQ */
static inline __attribute__((always_inline)) IRIS_AVX2 double sums_avx2(const float *x, int64_t n, float c,
                                                                        const int SQ) {
    double total = 0;
    __m256 vc = _mm256_set1_ps(c);
    for (int64_t i = 0; i < n;) {
        int64_t e = i + IRIS_VM_BLOCK < n ? i + IRIS_VM_BLOCK : n;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (; i + 16 <= e; i += 16) {
            __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), vc);
            __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vc);
            a0 = SQ ? _mm256_fmadd_ps(d0, d0, a0) : _mm256_add_ps(a0, d0);
            a1 = SQ ? _mm256_fmadd_ps(d1, d1, a1) : _mm256_add_ps(a1, d1);
        }
        for (; i < e; i += 8) {
            __m256i m = iris_vm_tail8(e - i < 8 ? e - i : 8);
            __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vc), _mm256_castsi256_ps(m));
            a0 = SQ ? _mm256_fmadd_ps(d, d, a0) : _mm256_add_ps(a0, d);
        }
        i = e;
        total += iris_vm_hsum8(_mm256_add_ps(a0, a1));
    }
    return total;
}

IRIS_AVX2 static double sum_avx2(const float *x, int64_t n, float c) { return sums_avx2(x, n, c, 0); }
IRIS_AVX2 static double sumsq_avx2(const float *x, int64_t n, float c) { return sums_avx2(x, n, c, 1); }

IRIS_AVX2 static void normalize_avx2(const float *x, float *y, int64_t n, float c, float a, float d,
                                     const float *g, const float *b) {
    __m256 vc = _mm256_set1_ps(c), va = _mm256_set1_ps(a), vd = _mm256_set1_ps(d);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vc), va, vd);
        if (g) v = _mm256_mul_ps(v, _mm256_loadu_ps(g + i));
        if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(y + i, v);
    }
    normalize_c(x + i, y + i, n - i, c, a, d, g ? g + i : NULL, b ? b + i : NULL);
}

IRIS_AVX2 static void scale_add_avx2(const float *x, float s, const float *m, float *y, int64_t n) {
    __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    if (m)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(x + i), vs, _mm256_loadu_ps(m + i)));
    else
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    scale_add_c(x + i, s, m ? m + i : NULL, y + i, n - i);
}

static const row_fns fns_avx2 = {sum_avx2, sumsq_avx2, normalize_avx2, scale_add_avx2, iris_vm_max_avx2,
                                 iris_vm_exp_sum_avx2, iris_vm_scale_avx2};

static inline __attribute__((always_inline)) IRIS_AVX512 double sums_avx512(const float *x, int64_t n, float c,
                                                                            const int SQ) {
    double total = 0;
    __m512 vc = _mm512_set1_ps(c);
    for (int64_t i = 0; i < n;) {
        int64_t e = i + IRIS_VM_BLOCK < n ? i + IRIS_VM_BLOCK : n;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        for (; i + 32 <= e; i += 32) {
            __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), vc);
            __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vc);
            a0 = SQ ? _mm512_fmadd_ps(d0, d0, a0) : _mm512_add_ps(a0, d0);
            a1 = SQ ? _mm512_fmadd_ps(d1, d1, a1) : _mm512_add_ps(a1, d1);
        }
        for (; i < e; i += 16) {
            __mmask16 k = iris_vm_tail16(e - i < 16 ? e - i : 16);
            __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), vc);
            a0 = SQ ? _mm512_fmadd_ps(d, d, a0) : _mm512_add_ps(a0, d);
        }
        i = e;
        total += _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    }
    return total;
}

IRIS_AVX512 static double sum_avx512(const float *x, int64_t n, float c) { return sums_avx512(x, n, c, 0); }
IRIS_AVX512 static double sumsq_avx512(const float *x, int64_t n, float c) { return sums_avx512(x, n, c, 1); }

IRIS_AVX512 static void normalize_avx512(const float *x, float *y, int64_t n, float c, float a, float d,
                                         const float *g, const float *b) {
    __m512 vc = _mm512_set1_ps(c), va = _mm512_set1_ps(a), vd = _mm512_set1_ps(d);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = iris_vm_tail16(n - i < 16 ? n - i : 16);
        __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vc), va, vd);
        if (g) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, g + i));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}

IRIS_AVX512 static void scale_add_avx512(const float *x, float s, const float *m, float *y, int64_t n) {
    __m512 vs = _mm512_set1_ps(s);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = iris_vm_tail16(n - i < 16 ? n - i : 16);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vs);
        if (m) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, m + i));
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}

static const row_fns fns_avx512 = {sum_avx512, sumsq_avx512, normalize_avx512, scale_add_avx512, iris_vm_max_avx512,
                                   iris_vm_exp_sum_avx512, iris_vm_scale_avx512};
#endif

static const row_fns *pick_fns(void) {
#if defined(IRIS_X86)
    int s = iris_cpu_simd();
    if (s >= IRIS_SIMD_AVX512) return &fns_avx512;
    if (s >= IRIS_SIMD_AVX2) return &fns_avx2;
#endif
    return &fns_c;
}

/* ---- shared helpers ---- */

/* gamma/beta as contiguous floats: the tensor's own data when it already is, else a malloc'd copy in *owned. */
static iris_status weight_f32(const iris_tensor *w, int64_t n, const float **out, float **owned) {
    *out = NULL;
    *owned = NULL;
    if (!w) return IRIS_OK;
    int64_t stride = w->ndim == 1 ? w->nb[0] : (int64_t)iris_dtype_get(w->dtype)->type_size;
    if (w->dtype == IRIS_F32 && stride == 4) {
        *out = w->data;
        return IRIS_OK;
    }
    float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
    if (!f) return iris_fail(IRIS_ERR_NOMEM, "norm: out of memory for %lld weights", (long long)n);
    iris_vm_load_row(w->dtype, w->data, stride, n, f);
    *out = *owned = f;
    return IRIS_OK;
}

/* Address of row r of t, where rows run over every dim but the last. */
static const char *row_addr(const iris_tensor *t, int64_t r) {
    const char *p = t->data;
    for (int d = t->ndim - 2; d >= 0; d--) {
        int64_t ne = t->ne[d];
        p += (r % ne) * t->nb[d];
        r /= ne;
    }
    return p;
}

static int64_t count_rows(const iris_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim - 1; d++) n *= t->ne[d];
    return n;
}

/* Row r as contiguous floats: in place when the innermost stride is one float, else gathered into buf. */
static const float *row_f32(const iris_tensor *t, int64_t r, float *buf) {
    const char *p = row_addr(t, r);
    int64_t n = t->ne[t->ndim - 1], s = t->nb[t->ndim - 1];
    if (s == 4 || n <= 1) return (const float *)p;
    iris_vm_load_row(IRIS_F32, p, s, n, buf);
    return buf;
}

static int64_t grain_for(int64_t n) { return n >= 16384 ? 1 : 16384 / (n ? n : 1); }

/* ---- layer norm and RMS norm ---- */

typedef struct {
    iris_cpu *cpu;
    const row_fns *f;
    const iris_tensor *x;
    float *y;
    const float *g, *b;
    int64_t n;
    float eps;
    int rms;
    atomic_int oom;
} rownorm_job;

static void rownorm_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    rownorm_job *j = arg;
    int64_t n = j->n;
    float *buf = NULL;
    if (j->x->nb[j->x->ndim - 1] != 4 && n > 1 && !(buf = iris_cpu_scratch(j->cpu, tid, (size_t)n * 4))) {
        atomic_store(&j->oom, 1);
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *x = row_f32(j->x, r, buf);
        float *y = j->y + r * n;
        if (j->rms) {
            double ms = j->f->sumsq(x, n, 0.0f) / (double)n;
            j->f->normalize(x, y, n, 0.0f, (float)(1.0 / sqrt(ms + j->eps)), 0.0f, j->g, NULL);
        } else {
            /* sums about the first value, and the mean kept as hi + lo, so a large common
               offset costs no precision; x - hi is exact for values near the mean */
            double mean = x[0] + j->f->sum(x, n, x[0]) / (double)n;
            float hi = (float)mean;
            double lo = mean - hi, var = j->f->sumsq(x, n, hi) / (double)n - lo * lo;
            float a = (float)(1.0 / sqrt((var > 0 ? var : 0) + j->eps));
            j->f->normalize(x, y, n, hi, a, (float)(-lo * a), j->g, j->b);
        }
    }
}

static iris_status rownorm(void *state, const iris_op_call *c, int rms) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    int64_t n = x->ne[x->ndim - 1], rows = count_rows(x);
    rownorm_job j = {.cpu = cpu, .f = pick_fns(), .x = x, .y = c->dst->data, .n = n, .eps = c->fp[0], .rms = rms};
    float *g_owned, *b_owned = NULL;
    iris_status st = weight_f32(c->src[1], n, &j.g, &g_owned);
    if (!st && !rms) st = weight_f32(c->src[2], n, &j.b, &b_owned);
    if (!st && n > 0) iris_pool_for(cpu->pool, rows, grain_for(n), rownorm_rows, &j);
    free(g_owned);
    free(b_owned);
    if (st) return st;
    if (atomic_load(&j.oom)) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory for scratch", rms ? "rms_norm" : "layer_norm");
    return IRIS_OK;
}

iris_status iris_cpu_layer_norm(void *state, const iris_op_call *c) { return rownorm(state, c, 0); }
iris_status iris_cpu_rms_norm(void *state, const iris_op_call *c) { return rownorm(state, c, 1); }

/* ---- group norm ---- */

typedef struct {
    iris_cpu *cpu;
    const row_fns *f;
    const iris_tensor *x;
    float *y;
    const float *g, *b;
    int64_t C, S, cpg;
    /* the spatial part of a channel: `outer` segments of `inner` values */
    int64_t outer, inner, ostride, istride;
    double *csum; /* per channel: sum about the group's shift, then squares about its mean */
    float *gstat; /* per (n, group), 4 arrays of NG: shift, mean hi, mean lo, rstd */
    int64_t NG;
    int phase;
    iris_act act; /* applied to each normalised row while it is in cache */
    atomic_int oom;
} gn_job;

static void gn_channels(void *arg, int64_t c0, int64_t c1, int tid) {
    gn_job *j = arg;
    float *buf = NULL;
    if (j->istride != 4 && j->inner > 1 && !(buf = iris_cpu_scratch(j->cpu, tid, (size_t)j->inner * 4))) {
        atomic_store(&j->oom, 1);
        return;
    }
    for (int64_t nc = c0; nc < c1; nc++) {
        int64_t n = nc / j->C, c = nc % j->C, grp = nc / j->cpg; /* grp indexes (n, group) */
        const char *base = (const char *)j->x->data + n * j->x->nb[0] + c * j->x->nb[1];
        const float *gs = j->gstat + grp;
        int64_t ng = j->NG;
        float a = j->phase == 2 ? gs[3 * ng] * (j->g ? j->g[c] : 1.0f) : 0.0f;
        float d = j->phase == 2 ? (j->b ? j->b[c] : 0.0f) - gs[2 * ng] * a : 0.0f;
        double acc = 0;
        for (int64_t o = 0; o < j->outer; o++) {
            const float *p = (const float *)(base + o * j->ostride);
            if (buf) {
                iris_vm_load_row(IRIS_F32, p, j->istride, j->inner, buf);
                p = buf;
            }
            if (j->phase == 0) acc += j->f->sum(p, j->inner, gs[0]);
            else if (j->phase == 1) acc += j->f->sumsq(p, j->inner, gs[ng]);
            else {
                float *y = j->y + nc * j->S + o * j->inner;
                j->f->normalize(p, y, j->inner, gs[ng], a, d, NULL, NULL);
                if (j->act) iris_cpu_act(j->act, 0.0f, y, j->inner);
            }
        }
        if (j->phase < 2) j->csum[nc] = acc;
    }
}

iris_status iris_cpu_group_norm(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    int groups = c->ip[0];
    int64_t N = x->ne[0], C = x->ne[1], S = 1;
    for (int d = 2; d < x->ndim; d++) S *= x->ne[d];
    gn_job j = {.cpu = cpu, .f = pick_fns(), .x = x, .y = c->dst->data, .C = C, .S = S, .cpg = C / groups,
                .act = (iris_act)c->ip[1]};
    /* spatial layout: merge the two spatial dims of a 4-d tensor when their strides allow */
    j.outer = 1, j.inner = S, j.ostride = 0, j.istride = 4;
    if (x->ndim == 3) j.istride = x->nb[2];
    if (x->ndim == 4) {
        if (x->ne[3] == 1 || x->nb[2] == x->nb[3] * x->ne[3]) j.istride = x->ne[3] == 1 ? x->nb[2] : x->nb[3];
        else j.outer = x->ne[2], j.inner = x->ne[3], j.ostride = x->nb[2], j.istride = x->nb[3];
    }
    int64_t NC = N * C, NG = N * groups;
    double *csum = malloc((size_t)(NC ? NC : 1) * sizeof *csum);
    float *gstat = malloc((size_t)(NG ? NG : 1) * 4 * sizeof *gstat);
    float *g_owned = NULL, *b_owned = NULL;
    iris_status st = csum && gstat ? IRIS_OK : iris_fail(IRIS_ERR_NOMEM, "group_norm: out of memory");
    if (!st) st = weight_f32(c->src[1], C, &j.g, &g_owned);
    if (!st) st = weight_f32(c->src[2], C, &j.b, &b_owned);
    if (!st && NC > 0 && S > 0) {
        int64_t grain = grain_for(S);
        double cnt = (double)j.cpg * (double)S;
        j.csum = csum;
        j.gstat = gstat;
        j.NG = NG;
        /* shift: the group's first value, so the sums see only the spread (see layer norm) */
        for (int64_t g = 0; g < NG; g++) {
            const char *p = (const char *)x->data + (g / groups) * x->nb[0] + (g % groups) * j.cpg * x->nb[1];
            memcpy(&gstat[g], p, sizeof(float));
        }
        j.phase = 0;
        iris_pool_for(cpu->pool, NC, grain, gn_channels, &j);
        for (int64_t g = 0; g < NG; g++) {
            double s = 0;
            for (int64_t k = 0; k < j.cpg; k++) s += csum[g * j.cpg + k];
            double mean = gstat[g] + s / cnt;
            gstat[NG + g] = (float)mean;
            gstat[2 * NG + g] = (float)(mean - gstat[NG + g]);
        }
        j.phase = 1;
        iris_pool_for(cpu->pool, NC, grain, gn_channels, &j);
        for (int64_t g = 0; g < NG; g++) {
            double s = 0, lo = gstat[2 * NG + g];
            for (int64_t k = 0; k < j.cpg; k++) s += csum[g * j.cpg + k];
            double var = s / cnt - lo * lo;
            gstat[3 * NG + g] = (float)(1.0 / sqrt((var > 0 ? var : 0) + c->fp[0]));
        }
        j.phase = 2;
        iris_pool_for(cpu->pool, NC, grain, gn_channels, &j);
    }
    free(csum);
    free(gstat);
    free(g_owned);
    free(b_owned);
    if (st) return st;
    if (atomic_load(&j.oom)) return iris_fail(IRIS_ERR_NOMEM, "group_norm: out of memory for scratch");
    return IRIS_OK;
}

/* ---- softmax ---- */

typedef struct {
    iris_cpu *cpu;
    const row_fns *f;
    const iris_tensor *x, *mask;
    float *y;
    int64_t n;
    float scale;
    int causal;
    int64_t mnb[IRIS_MAX_DIMS]; /* mask strides per dim of x (0 where broadcast) */
    atomic_int oom;
} softmax_job;

static void softmax_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    softmax_job *j = arg;
    const iris_tensor *x = j->x;
    int nd = x->ndim;
    int64_t n = j->n;
    float *buf = iris_cpu_scratch(j->cpu, tid, (size_t)n * 8);
    if (!buf) {
        atomic_store(&j->oom, 1);
        return;
    }
    float *mrow = buf + n;
    int64_t lq = nd >= 2 ? x->ne[nd - 2] : 1, mstride = j->mnb[nd - 1];
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = row_f32(x, r, buf);
        float *y = j->y + r * n;
        const float *m = NULL;
        float madd = 0.0f;
        if (j->mask) {
            const char *mp = j->mask->data;
            for (int64_t d = nd - 2, k = r; d >= 0; d--) {
                mp += (k % x->ne[d]) * j->mnb[d];
                k /= x->ne[d];
            }
            if (mstride) iris_vm_load_row(j->mask->dtype, mp, mstride, n, mrow), m = mrow;
            else madd = iris_vm_load1(j->mask->dtype, mp);
        }
        j->f->scale_add(xr, j->scale, m, y, n);
        if (madd != 0.0f) for (int64_t i = 0; i < n; i++) y[i] += madd;
        int64_t valid = n;
        if (j->causal) {
            int64_t i = nd >= 2 ? r % lq : 0, lim = i + n - lq; /* keys j <= lim are visible */
            valid = lim < 0 ? 0 : lim + 1 < n ? lim + 1 : n;
        }
        float mx = valid ? j->f->max(y, valid) : -INFINITY;
        if (mx == -INFINITY) {
            memset(y, 0, (size_t)n * sizeof *y);
            continue;
        }
        double s = j->f->exp_sum(y, valid, mx);
        j->f->scale(y, valid, (float)(1.0 / s));
        if (valid < n) memset(y + valid, 0, (size_t)(n - valid) * sizeof *y);
    }
}

/* src0 x, src1 mask broadcast to x (or NULL); fp[0] scale; ip[0] causal: row i of the
   second-to-last dim (Lq rows) sees entries j <= i + n - Lq, as in attention with a KV cache. */
iris_status iris_cpu_softmax(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0], *mask = c->src[1];
    softmax_job j = {.cpu = cpu, .f = pick_fns(), .x = x, .mask = mask, .y = c->dst->data,
                     .n = x->ne[x->ndim - 1], .scale = c->fp[0], .causal = c->ip[0]};
    if (mask)
        for (int d = 0; d < x->ndim; d++) {
            int md = d - (x->ndim - mask->ndim);
            j.mnb[d] = md >= 0 && mask->ne[md] != 1 ? mask->nb[md] : 0;
        }
    if (j.n > 0) iris_pool_for(cpu->pool, count_rows(x), grain_for(j.n), softmax_rows, &j);
    if (atomic_load(&j.oom)) return iris_fail(IRIS_ERR_NOMEM, "softmax: out of memory for scratch");
    return IRIS_OK;
}
