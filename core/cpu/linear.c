/* linear.c - y = x W^T + b with a fused activation, and batched matmul.

   Both cut the output into tiles that the pool's threads take in turn; a tile is one
   single-threaded GEMM (iris_cpu_sgemm_1t) followed by bias and activation while it is
   still in cache. Weights that are not f32 are converted a tile of rows at a time into
   the thread's scratch, never as a whole matrix. Quantized weights with up to
   QDOT_MAX_M rows of x (decoding, short prompts) skip conversion: x is quantized once and
   each weight row is dotted with every x row in its own format (iris_vec_dot_mm), which
   reads the weights once at their stored size. A requested summation order (llama's exact
   mode) skips the GEMM: every output element is one dot product in that order (dot_order.c).
*/
#include <string.h>

#include "../quant.h"
#include "cpu.h"
#include "vecmath.h"

#define TILE 256                    /* output tile edge: a 256 x 256 f32 tile is 256 KiB, within L2 */
#define CONVERT_FLOATS (128 * 1024) /* a converted weight tile stays under 512 KiB */
/* Up to this many rows of x, quantized weights take the quantized path (iris_vec_dot_mm, llama.cpp's
   arithmetic). Past it the f32 GEMM on converted tiles wins: on AVX-512 without VNNI (2 threads,
   2048 x 2048) the quantized path holds ~85-100 GFLOP/s at any M, the GEMM passes it near 32 rows
   and reaches ~200 by 128. llama/forward.c's exact mode splits prompts at this size. */
#define QDOT_MAX_M 32

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Sizes every thread's scratch before the pool starts, so no worker reallocates a buffer that
   another reads: `priv` bytes each, then `shared` more after thread 0's. Returns the shared
   part (NULL when out of memory). Workers get their part with iris_cpu_scratch(cpu, tid, priv). */
static char *scratch_setup(iris_cpu *cpu, size_t priv, size_t shared) {
    for (int t = 1; t < cpu->n_threads; t++)
        if (!iris_cpu_scratch(cpu, t, priv)) return NULL;
    char *s0 = iris_cpu_scratch(cpu, 0, priv + shared + 64);
    return s0 ? s0 + priv : NULL;
}

/* Rows of t (every dim but the last, with its elements f32 and adjacent) as base + i * ld floats,
   if its strides allow that. */
static int rows_layout(const iris_tensor *t, int64_t *ld) {
    int nd = t->ndim;
    int64_t K = t->ne[nd - 1];
    if (t->dtype != IRIS_F32 || (K > 1 && t->nb[nd - 1] != 4)) return 0;
    int64_t row = -1, expect = 0;
    for (int d = nd - 2; d >= 0; d--) {
        if (t->ne[d] == 1) continue;
        if (row < 0) {
            row = t->nb[d];
            expect = row * t->ne[d];
        } else {
            if (t->nb[d] != expect) return 0;
            expect *= t->ne[d];
        }
    }
    if (row < 0) row = K * 4; /* a single row */
    if (row % 4 || row / 4 < K) return 0;
    *ld = row / 4;
    return 1;
}

/* Contiguous f32 copy of a plain-typed (f32/f16/bf16) tensor with any strides. */
static void gather_f32(const iris_tensor *t, float *dst) {
    const int64_t *ne = t->ne, *nb = t->nb;
    int nd = t->ndim;
    int64_t n = ne[nd - 1];
    int64_t dims[4] = {1, 1, 1, 1}, strides[4] = {0, 0, 0, 0};
    for (int d = 0; d < nd - 1; d++) dims[4 - nd + d] = ne[d], strides[4 - nd + d] = nb[d];
    for (int64_t i0 = 0; i0 < dims[0]; i0++)
        for (int64_t i1 = 0; i1 < dims[1]; i1++)
            for (int64_t i2 = 0; i2 < dims[2]; i2++) {
                const char *src =
                    (const char *)t->data + i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
                iris_vm_load_row(t->dtype, src, n == 1 ? iris_dtype_get(t->dtype)->type_size : nb[nd - 1], n, dst);
                dst += n;
            }
}

/* The same with each matrix (last two dims) transposed: [..., R, C] -> [..., C, R]. */
static void gather_f32_t(const iris_tensor *t, float *dst) {
    int nd = t->ndim;
    int64_t R = t->ne[nd - 2], C = t->ne[nd - 1], nbat = 1;
    for (int d = 0; d < nd - 2; d++) nbat *= t->ne[d];
    for (int64_t bi = 0; bi < nbat; bi++, dst += R * C) {
        const char *base = t->data;
        for (int64_t d = nd - 3, r = bi; d >= 0; d--) {
            base += (r % t->ne[d]) * t->nb[d];
            r /= t->ne[d];
        }
        for (int64_t i = 0; i < R; i++)
            for (int64_t k = 0; k < C; k++)
                dst[k * R + i] = iris_vm_load1(t->dtype, base + i * t->nb[nd - 2] + k * t->nb[nd - 1]);
    }
}

/* y rows += bias (per column), then the activation; y is m rows of n with stride ldy. */
static void epilogue(float *y, int64_t ldy, int64_t m, int64_t n, const float *bias, iris_act act, float alpha) {
    for (int64_t i = 0; i < m; i++) {
        float *r = y + i * ldy;
        if (bias)
            for (int64_t j = 0; j < n; j++) r[j] += bias[j];
        if (act != IRIS_ACT_NONE) iris_cpu_act(act, alpha, r, n);
    }
}

/* ---- linear ---- */

typedef struct {
    iris_cpu *cpu;
    const float *x; /* [M, K], row stride ldx */
    int64_t ldx, M, N, K;
    const char *w; /* [N, K] rows of type wt, row stride ldw bytes */
    int64_t ldw;
    iris_dtype wt;
    const float *bias;
    float *y; /* [M, N] */
    int64_t tm, tn, n_mt; /* tile sizes; tiles along M per tile column */
    size_t priv, wtile_bytes;
    iris_act act;
    float alpha;
    /* quantized matrix-vector path */
    const char *xq;
    size_t xq_row;
    /* ordered path */
    iris_dot_fn dot;
    int rest_f64;
} linear_job;

static void linear_tiles(void *arg, int64_t begin, int64_t end, int tid) {
    linear_job *j = arg;
    char *scr = iris_cpu_scratch(j->cpu, tid, j->priv);
    float *wtile = (float *)scr;
    void *work = scr + j->wtile_bytes;
    int64_t have = -1; /* first weight row held converted in wtile */
    for (int64_t it = begin; it < end; it++) {
        int64_t n0 = it / j->n_mt * j->tn, m0 = it % j->n_mt * j->tm;
        int64_t n = min64(j->tn, j->N - n0), m = min64(j->tm, j->M - m0);
        const float *wf = wtile;
        int64_t ldw = j->K;
        if (j->wt == IRIS_F32) {
            wf = (const float *)(j->w + n0 * j->ldw);
            ldw = j->ldw / 4;
        } else if (have != n0) {
            for (int64_t r = 0; r < n; r++) iris_cpu_to_f32(j->wt, j->w + (n0 + r) * j->ldw, wtile + r * j->K, j->K);
            have = n0;
        }
        float *y = j->y + m0 * j->N + n0;
        iris_cpu_sgemm_1t(1, m, n, j->K, 1.0f, j->x + m0 * j->ldx, j->ldx, wf, ldw, 0.0f, y, j->N, work);
        epilogue(y, j->N, m, n, j->bias ? j->bias + n0 : NULL, j->act, j->alpha);
    }
}

static void linear_qdot(void *arg, int64_t begin, int64_t end, int tid) {
    linear_job *j = arg;
    (void)tid;
    float *y = j->y + begin;
    iris_vec_dot_mm(j->wt, j->K, end - begin, j->w + begin * j->ldw, (size_t)j->ldw, j->M, j->xq, j->xq_row, y, j->N);
    epilogue(y, j->N, j->M, end - begin, j->bias ? j->bias + begin : NULL, j->act, j->alpha);
}

/* Each weight row (converted to f32 if F16) dotted with every x row in the requested order. */
static void linear_ordered(void *arg, int64_t begin, int64_t end, int tid) {
    linear_job *j = arg;
    float *wr = (float *)iris_cpu_scratch(j->cpu, tid, j->priv);
    for (int64_t n = begin; n < end; n++) {
        const float *w = (const float *)(j->w + n * j->ldw);
        if (j->wt != IRIS_F32) iris_cpu_to_f32(j->wt, j->w + n * j->ldw, wr, j->K), w = wr;
        for (int64_t m = 0; m < j->M; m++) j->y[m * j->N + n] = j->dot(j->K, j->x + m * j->ldx, w, j->rest_f64);
    }
    epilogue(j->y + begin, j->N, j->M, end - begin, j->bias ? j->bias + begin : NULL, j->act, j->alpha);
}

/* Large products on OpenBLAS go as one call per thread instead of 256 x 256 tiles: called per tile
   it packs both operands again for every tile, a tenth of SD's UNet step at 256^2. The weight slice
   is converted to f32 whole then (at most BIG_TILE_FLOATS floats per thread). */
#define BIG_TILE_FLOATS (16 * 1024 * 1024)
static int big_tiles(const iris_cpu *cpu, int64_t M, int64_t N, int64_t K) {
    const char *e = getenv("IRIS_LINEAR_TILES");
    if (e && !strcmp(e, "small")) return 0;
    return iris_cpu_sgemm_uses_openblas() && M >= 512 && N >= 64 * cpu->n_threads &&
           (N / cpu->n_threads + 16) * K <= BIG_TILE_FLOATS;
}

iris_status iris_cpu_linear(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0], *w = c->src[1], *b = c->src[2];
    int64_t K = w->ne[1], N = w->ne[0], M = K ? iris_nelements(x) / K : 0;
    if (M == 0 || N == 0) return IRIS_OK;
    linear_job j = {.cpu = cpu, .M = M, .N = N, .K = K, .w = w->data, .ldw = w->nb[0], .wt = w->dtype,
                    .y = c->dst->data, .act = (iris_act)c->ip[0], .alpha = c->fp[0]};
    const iris_dtype_info *wi = iris_dtype_get(w->dtype);
    int qdot = wi->is_quantized && M <= QDOT_MAX_M;
    iris_dot_order order = (iris_dot_order)c->ip[1];
    int ordered = order != IRIS_DOT_ANY && (w->dtype == IRIS_F32 || w->dtype == IRIS_F16);
    int64_t ldx = 0;
    int x_direct = rows_layout(x, &ldx);
    int bias_direct = !b || (b->dtype == IRIS_F32 && (N == 1 || b->nb[0] == 4));
    iris_dtype vt = qdot ? iris_vec_dot_type(w->dtype) : IRIS_F32;
    size_t xq_row = qdot ? iris_row_bytes(vt, K) : 0;

    /* shared: x made contiguous, x quantized, bias in f32 */
    size_t sz_x = x_direct ? 0 : align64((size_t)(M * K) * sizeof(float));
    size_t sz_q = align64((size_t)M * xq_row), sz_b = bias_direct ? 0 : align64((size_t)N * sizeof(float));
    if (qdot) {
        j.tn = N;
        j.priv = 64;
    } else if (ordered) {
        j.priv = align64((size_t)K * sizeof(float));
    } else {
        j.tm = M <= 2 * TILE ? M : TILE;
        j.tn = TILE;
        if (w->dtype != IRIS_F32) {
            j.tn = CONVERT_FLOATS / (K ? K : 1) / 16 * 16;
            j.tn = j.tn < 16 ? 16 : j.tn > TILE ? TILE : j.tn;
        }
        j.tn = min64(j.tn, N);
        if (big_tiles(cpu, M, N, K)) { /* one call per thread: OpenBLAS packs each operand panel once */
            j.tm = M;
            j.tn = min64(N, (N + cpu->n_threads - 1) / cpu->n_threads / 16 * 16 + 16);
        }
        j.wtile_bytes = w->dtype == IRIS_F32 ? 0 : align64((size_t)(j.tn * K) * sizeof(float));
        j.priv = j.wtile_bytes + align64(iris_cpu_sgemm_work_bytes(j.tm, j.tn, K));
    }
    char *shared = scratch_setup(cpu, j.priv, sz_x + sz_q + sz_b);
    if (!shared) return iris_fail(IRIS_ERR_NOMEM, "linear: out of memory for scratch (%zu MiB)", (j.priv + sz_x + sz_q + sz_b) >> 20);

    if (x_direct) {
        j.x = x->data;
        j.ldx = ldx;
    } else {
        gather_f32(x, (float *)shared);
        j.x = (const float *)shared;
        j.ldx = K;
    }
    if (b) {
        if (bias_direct) {
            j.bias = b->data;
        } else {
            float *bf = (float *)(shared + sz_x + sz_q);
            gather_f32(b, bf);
            j.bias = bf;
        }
    }
    if (ordered) {
        j.dot = iris_cpu_dot_ordered(order);
        j.rest_f64 = w->dtype == IRIS_F16;
        iris_pool_for(cpu->pool, N, 16, linear_ordered, &j);
        return IRIS_OK;
    }
    if (qdot) {
        char *xq = shared + sz_x;
        for (int64_t m = 0; m < M; m++) {
            iris_status st = iris_quantize_row_dot(vt, j.x + m * j.ldx, xq + m * (int64_t)xq_row, K);
            if (st) return st;
        }
        j.xq = xq;
        j.xq_row = xq_row;
        iris_pool_for(cpu->pool, N, 16, linear_qdot, &j);
        return IRIS_OK;
    }
    j.n_mt = (M + j.tm - 1) / j.tm;
    int64_t n_nt = (N + j.tn - 1) / j.tn;
    if (j.n_mt * n_nt < 4 * cpu->n_threads && n_nt > 1) { /* few tiles: make them equal, a multiple of the threads */
        int64_t want = (n_nt + cpu->n_threads - 1) / cpu->n_threads * cpu->n_threads;
        j.tn = ((N + want - 1) / want + 15) / 16 * 16;
        n_nt = (N + j.tn - 1) / j.tn;
    }
    iris_cpu_for_each_tile(cpu, j.n_mt * n_nt, linear_tiles, &j);
    return IRIS_OK;
}

/* ---- matmul ---- */

typedef struct {
    iris_cpu *cpu;
    int trans_b;
    int64_t M, N, K;
    /* batch: dst has nbat = bd[0]*bd[1] matrices; a/b step by these byte strides per batch index (0 = broadcast) */
    int64_t bd[2], sa[2], sb[2];
    const char *a, *b;
    int64_t lda, ldb;
    float *y;
    int64_t tm, tn, n_mt, n_nt;
    size_t priv;
    iris_dot_fn dot; /* a summation order was asked for: b is [N, K] rows (trans_b) */
    int rest_f64;
} matmul_job;

static void matmul_tiles(void *arg, int64_t begin, int64_t end, int tid) {
    matmul_job *j = arg;
    void *work = iris_cpu_scratch(j->cpu, tid, j->priv);
    int64_t per = j->n_mt * j->n_nt;
    for (int64_t it = begin; it < end; it++) {
        int64_t bi = it / per, t = it % per;
        int64_t b0 = bi / j->bd[1], b1 = bi % j->bd[1];
        int64_t m0 = t / j->n_nt * j->tm, n0 = t % j->n_nt * j->tn;
        int64_t m = min64(j->tm, j->M - m0), n = min64(j->tn, j->N - n0);
        const float *a = (const float *)(j->a + b0 * j->sa[0] + b1 * j->sa[1]) + m0 * j->lda;
        const float *b = (const float *)(j->b + b0 * j->sb[0] + b1 * j->sb[1]);
        b += j->trans_b ? n0 * j->ldb : n0;
        float *y = j->y + bi * j->M * j->N + m0 * j->N + n0;
        if (j->dot) {
            for (int64_t r = 0; r < m; r++)
                for (int64_t q = 0; q < n; q++) y[r * j->N + q] = j->dot(j->K, a + r * j->lda, b + q * j->ldb, j->rest_f64);
            continue;
        }
        iris_cpu_sgemm_1t(j->trans_b, m, n, j->K, 1.0f, a, j->lda, b, j->ldb, 0.0f, y, j->N, work);
    }
}

/* Matrix (last two dims) of t usable in place: f32 with one of its two strides 1 element. Sets the
   leading dimension and whether the layout is transposed relative to row-major. */
static int matrix_direct(const iris_tensor *t, int64_t *ld, int *transposed) {
    int nd = t->ndim;
    int64_t r = t->ne[nd - 2], cdim = t->ne[nd - 1], sr = t->nb[nd - 2], sc = t->nb[nd - 1];
    if (t->dtype != IRIS_F32) return 0;
    if ((sc == 4 || cdim == 1) && sr % 4 == 0 && (r == 1 || sr / 4 >= cdim)) {
        *ld = r == 1 ? (cdim > 0 ? cdim : 1) : sr / 4;
        *transposed = 0;
        return 1;
    }
    if ((sr == 4 || r == 1) && sc % 4 == 0 && (cdim == 1 || sc / 4 >= r)) {
        *ld = cdim == 1 ? (r > 0 ? r : 1) : sc / 4;
        *transposed = 1;
        return 1;
    }
    return 0;
}

/* Byte strides of t's batch dims, aligned right to the 2 batch dims of dst (0 where t broadcasts). */
static void batch_strides(const iris_tensor *t, const int64_t *contig, int64_t *s) {
    int nbat = t->ndim - 2;
    s[0] = s[1] = 0;
    for (int d = 0; d < nbat; d++) {
        int o = 2 - nbat + d;
        s[o] = t->ne[d] == 1 ? 0 : contig ? contig[d] : t->nb[d];
    }
}

iris_status iris_cpu_matmul(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *a = c->src[0], *b = c->src[1];
    iris_tensor *dst = c->dst;
    int trans_b = c->ip[0] != 0;
    int na = a->ndim, nbd = b->ndim, nd = dst->ndim;
    matmul_job j = {.cpu = cpu, .M = a->ne[na - 2], .K = a->ne[na - 1], .N = dst->ne[nd - 1], .y = dst->data};
    j.bd[0] = nd >= 4 ? dst->ne[nd - 4] : 1;
    j.bd[1] = nd >= 3 ? dst->ne[nd - 3] : 1;
    int64_t nbat = j.bd[0] * j.bd[1];
    if (j.M == 0 || j.N == 0 || nbat == 0) return IRIS_OK;

    iris_dot_order order = (iris_dot_order)c->ip[1];
    int a_tr = 0, b_tr = 0;
    int64_t lda = 0, ldb = 0;
    int a_direct = matrix_direct(a, &lda, &a_tr) && !a_tr;
    int b_direct = matrix_direct(b, &ldb, &b_tr) && (order == IRIS_DOT_ANY || (trans_b ^ b_tr));
    size_t sz_a = a_direct ? 0 : align64((size_t)iris_nelements(a) * sizeof(float));
    size_t sz_b = b_direct ? 0 : align64((size_t)iris_nelements(b) * sizeof(float));

    /* b shared by every batch and a's batches stacked row after row: one GEMM of nbat*M rows, so b is
       packed once instead of once per batch */
    int b_shared = 1, fold = 0;
    for (int d = 0; d < nbd - 2; d++) b_shared &= b->ne[d] == 1;
    if (b_shared && nbat > 1 && iris_nelements(a) == nbat * j.M * j.K) {
        fold = 1;
        if (a_direct) {
            int64_t expect = j.M * lda * 4;
            for (int d = na - 3; d >= 0; d--) {
                if (a->ne[d] == 1) continue;
                fold &= a->nb[d] == expect;
                expect *= a->ne[d];
            }
        }
    }
    if (fold) {
        j.M *= nbat;
        nbat = 1;
        j.bd[0] = j.bd[1] = 1;
    }
    /* few large products: tile each one; many small ones: one per item */
    double flops = 2.0 * (double)j.M * (double)j.N * (double)j.K;
    if (nbat >= 2 * cpu->n_threads || flops < 4e6) {
        j.tm = j.M, j.tn = j.N;
    } else {
        j.tm = j.M <= 2 * TILE ? j.M : TILE;
        j.tn = min64(TILE, j.N);
    }
    j.n_mt = (j.M + j.tm - 1) / j.tm;
    j.n_nt = (j.N + j.tn - 1) / j.tn;
    j.priv = align64(iris_cpu_sgemm_work_bytes(j.tm, j.tn, j.K));
    char *shared = scratch_setup(cpu, j.priv, sz_a + sz_b);
    if (!shared) return iris_fail(IRIS_ERR_NOMEM, "matmul: out of memory for scratch");

    int64_t ca[2], cb[2]; /* batch strides of the contiguous copies */
    if (a_direct) {
        j.a = a->data;
        j.lda = lda;
        batch_strides(a, NULL, j.sa);
    } else if (fold) {
        gather_f32(a, (float *)shared);
        j.a = shared;
        j.lda = j.K;
    } else {
        gather_f32(a, (float *)shared);
        j.a = shared;
        j.lda = j.K;
        int64_t s = j.M * j.K * 4;
        for (int d = na - 3; d >= 0; d--) ca[d] = s, s *= a->ne[d];
        batch_strides(a, ca, j.sa);
    }
    if (b_direct) {
        j.b = b->data;
        j.ldb = ldb;
        j.trans_b = trans_b ^ b_tr;
        batch_strides(b, NULL, j.sb);
    } else {
        int flip = order != IRIS_DOT_ANY && !trans_b; /* ordered dots read b as [N, K] rows */
        if (flip) gather_f32_t(b, (float *)(shared + sz_a));
        else gather_f32(b, (float *)(shared + sz_a));
        j.b = shared + sz_a;
        j.trans_b = trans_b || flip;
        j.ldb = b->ne[nbd - (flip ? 2 : 1)];
        int64_t s = b->ne[nbd - 2] * b->ne[nbd - 1] * 4;
        for (int d = nbd - 3; d >= 0; d--) cb[d] = s, s *= b->ne[d];
        batch_strides(b, cb, j.sb);
    }
    if (j.K == 0) {
        memset(j.y, 0, (size_t)(nbat * j.M * j.N) * sizeof(float));
        return IRIS_OK;
    }
    if (order != IRIS_DOT_ANY) {
        j.dot = iris_cpu_dot_ordered(order);
        j.rest_f64 = a->dtype == IRIS_F16 || b->dtype == IRIS_F16;
    }
    iris_cpu_for_each_tile(cpu, nbat * j.n_mt * j.n_nt, matmul_tiles, &j);
    return IRIS_OK;
}
