/* copy.c - dtype conversion and data movement on the CPU: copy (cast, dequantize, permute),
   concat and get_rows (embedding lookup).

   All three reduce to "convert a row of src to a row of dst": rows.h merges whatever is
   contiguous into long rows, a strided row is gathered into per-thread scratch first, and
   conversions between f32, f16 and bf16 use F16C / AVX2 when present (round to nearest
   even, bit-identical to iris_f32_to_f16 / iris_f32_to_bf16). Block-quantized rows are
   expanded with iris_dequantize_row (quant.c), the one definition of every block layout.
*/
#include <stdlib.h>
#include <string.h>

#include "../quant.h"
#include "cpu.h"
#include "rows.h"

#if defined(IRIS_X86)
#include <immintrin.h>
#endif

#define PIECE 8192 /* elements per unit of work; a multiple of every block size */
#define BUF 1024   /* f32 staging on the stack for two-step conversions; also a block multiple */

/* ---- contiguous row conversions ---- */

#if defined(IRIS_X86)
static IRIS_AVX2 void f16_to_f32_avx2(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) d[i] = iris_f16_to_f32(s[i]);
}

static IRIS_AVX2 void f32_to_f16_avx2(const float *s, uint16_t *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) d[i] = iris_f32_to_f16(s[i]);
}

static IRIS_AVX2 void bf16_to_f32_avx2(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(s + i)));
        _mm256_storeu_ps(d + i, _mm256_castsi256_ps(_mm256_slli_epi32(u, 16)));
    }
    for (; i < n; i++) d[i] = iris_bf16_to_f32(s[i]);
}

/* Round to nearest even on the upper 16 bits; NaN keeps its sign and top payload, made quiet. */
static IRIS_AVX2 void f32_to_bf16_avx2(const float *s, uint16_t *d, int64_t n) {
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), quiet = _mm256_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(s + i);
        __m256i u = _mm256_castps_si256(x), hi = _mm256_srli_epi32(u, 16);
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, bias), _mm256_and_si256(hi, one)), 16);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)));
        _mm_storeu_si128((__m128i *)(d + i), _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
    }
    for (; i < n; i++) d[i] = iris_f32_to_bf16(s[i]);
}
#endif

static int have_avx2(void) {
#if defined(IRIS_X86)
    return iris_cpu_simd() >= IRIS_SIMD_AVX2;
#else
    return 0;
#endif
}

void iris_cpu_to_f32(iris_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case IRIS_F32: memcpy(dst, src, (size_t)n * 4); return;
    case IRIS_F16:
#if defined(IRIS_X86)
        if (have_avx2()) { f16_to_f32_avx2(src, dst, n); return; }
#endif
        for (int64_t i = 0; i < n; i++) dst[i] = iris_f16_to_f32(((const uint16_t *)src)[i]);
        return;
    case IRIS_BF16:
#if defined(IRIS_X86)
        if (have_avx2()) { bf16_to_f32_avx2(src, dst, n); return; }
#endif
        for (int64_t i = 0; i < n; i++) dst[i] = iris_bf16_to_f32(((const uint16_t *)src)[i]);
        return;
    case IRIS_I32: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; return;
    case IRIS_I8: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i]; return;
    case IRIS_U8: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i]; return;
    case IRIS_I16: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int16_t *)src)[i]; return;
    case IRIS_I64: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const int64_t *)src)[i]; return;
    case IRIS_F64: for (int64_t i = 0; i < n; i++) dst[i] = (float)((const double *)src)[i]; return;
    default: iris_dequantize_row(t, src, dst, n); return;
    }
}

/* f32 -> dst type t (F32, F16, BF16 or I32). I32 truncates toward zero like a C cast,
   saturating at the int32 range; NaN becomes 0. */
static void from_f32(iris_dtype t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case IRIS_F16:
#if defined(IRIS_X86)
        if (have_avx2()) { f32_to_f16_avx2(src, dst, n); return; }
#endif
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = iris_f32_to_f16(src[i]);
        return;
    case IRIS_BF16:
#if defined(IRIS_X86)
        if (have_avx2()) { f32_to_bf16_avx2(src, dst, n); return; }
#endif
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = iris_f32_to_bf16(src[i]);
        return;
    case IRIS_I32:
        for (int64_t i = 0; i < n; i++) {
            float f = src[i];
            ((int32_t *)dst)[i] = f != f ? 0 : f >= 2147483648.f ? INT32_MAX : f <= -2147483648.f ? INT32_MIN : (int32_t)f;
        }
        return;
    default: memcpy(dst, src, (size_t)n * 4); return;
    }
}

static int int_type(iris_dtype t) {
    return t == IRIS_I32 || t == IRIS_I8 || t == IRIS_U8 || t == IRIS_I16 || t == IRIS_I64;
}

/* n contiguous elements of type st at src -> contiguous dt at dst. */
static void convert_row(iris_dtype dt, void *dst, iris_dtype st, const void *src, int64_t n) {
    if (dt == st) {
        memcpy(dst, src, iris_row_bytes(st, n));
    } else if (dt == IRIS_F32) {
        iris_cpu_to_f32(st, src, dst, n);
    } else if (dt == IRIS_I32 && int_type(st)) { /* exact, without a detour through float */
        int32_t *d = dst;
        switch (st) {
        case IRIS_I8: for (int64_t i = 0; i < n; i++) d[i] = ((const int8_t *)src)[i]; break;
        case IRIS_U8: for (int64_t i = 0; i < n; i++) d[i] = ((const uint8_t *)src)[i]; break;
        case IRIS_I16: for (int64_t i = 0; i < n; i++) d[i] = ((const int16_t *)src)[i]; break;
        default: for (int64_t i = 0; i < n; i++) d[i] = (int32_t)((const int64_t *)src)[i]; break;
        }
    } else if (st == IRIS_F32) {
        from_f32(dt, src, dst, n);
    } else {
        float buf[BUF];
        size_t sb = iris_row_bytes(st, BUF), db = (size_t)iris_dtype_get(dt)->type_size * BUF;
        for (int64_t i = 0; i < n; i += BUF) {
            int64_t m = n - i < BUF ? n - i : BUF;
            iris_cpu_to_f32(st, (const char *)src + (size_t)(i / BUF) * sb, buf, m);
            from_f32(dt, buf, (char *)dst + (size_t)(i / BUF) * db, m);
        }
    }
}

/* n elements of es bytes, `stride` bytes apart -> packed (or the reverse with stride on dst). */
static void strided_move(void *dst, int64_t dstride, const void *src, int64_t sstride, int64_t n, int es) {
    char *d = dst;
    const char *s = src;
    switch (es) {
    case 1: for (int64_t i = 0; i < n; i++) d[i * dstride] = s[i * sstride]; break;
    case 2: for (int64_t i = 0; i < n; i++) memcpy(d + i * dstride, s + i * sstride, 2); break;
    case 4: for (int64_t i = 0; i < n; i++) memcpy(d + i * dstride, s + i * sstride, 4); break;
    default: for (int64_t i = 0; i < n; i++) memcpy(d + i * dstride, s + i * sstride, 8); break;
    }
}

/* ---- copy: dst (any strides, plain type) = src (any strides, any type) ---- */

typedef struct {
    iris_rows r;
    char *base[2];
    iris_dtype dt, st;
    iris_cpu *cpu;
} copy_job;

static void copy_range(void *arg, int64_t b, int64_t e, int tid) {
    copy_job *j = arg;
    int in = j->r.nd - 1;
    int de = iris_dtype_get(j->dt)->type_size, se = iris_dtype_get(j->st)->type_size;
    int sblock = iris_dtype_get(j->st)->block_size > 1;
    int64_t ds = j->r.nb[0][in], ss = sblock ? se : j->r.nb[1][in];
    char *scratch = iris_cpu_scratch(j->cpu, tid, (size_t)PIECE * 12);
    for (int64_t p = b; p < e; p++) {
        char *ptr[2];
        int64_t n = iris_rows_piece(&j->r, p, j->base, ptr);
        if (j->dt == j->st && (ds != de || ss != se)) { /* same type, strided: one pass */
            strided_move(ptr[0], ds, ptr[1], ss, n, de);
            continue;
        }
        const char *s = ptr[1];
        if (ss != se) {
            strided_move(scratch, se, s, ss, n, se);
            s = scratch;
        }
        if (ds == de) {
            convert_row(j->dt, ptr[0], j->st, s, n);
        } else {
            char *tmp = scratch + (size_t)PIECE * 8;
            convert_row(j->dt, tmp, j->st, s, n);
            strided_move(ptr[0], ds, tmp, de, n, de);
        }
    }
}

/* ---- transposing copies: same type, source contiguous along a dim other than the row ----
   Gathering a row whose elements are far apart touches a new cache line per element; going
   through 32 x 32 tiles reuses each line 32 times (2.7x faster on a [2,320,4096] -> [2,4096,320]
   permute, the layout change around every attention block of a UNet). */

#define TILE 32

typedef struct {
    const iris_rows *r;
    char *base[2];
    int tdim, es;           /* the source's contiguous dim; element bytes */
    int odim[2], nodims;    /* the remaining outer dims */
    int64_t ntb;            /* tiles along tdim */
} tr_job;

static void transpose_range(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    tr_job *j = arg;
    const iris_rows *r = j->r;
    int in = r->nd - 1, es = j->es;
    int64_t J = r->ne[in], dnt = r->nb[0][j->tdim], dnj = r->nb[0][in], snj = r->nb[1][in];
    for (int64_t p = b; p < e; p++) {
        int64_t o = p / j->ntb, t0 = (p % j->ntb) * TILE, t1 = t0 + TILE < r->ne[j->tdim] ? t0 + TILE : r->ne[j->tdim];
        char *d = j->base[0];
        const char *s = j->base[1];
        for (int k = j->nodims - 1; k >= 0; k--) {
            int dim = j->odim[k];
            int64_t i = o % r->ne[dim];
            o /= r->ne[dim];
            d += i * r->nb[0][dim];
            s += i * r->nb[1][dim];
        }
        for (int64_t j0 = 0; j0 < J; j0 += TILE) {
            int64_t jn = J - j0 < TILE ? J - j0 : TILE;
            for (int64_t t = t0; t < t1; t++) {
                char *dp = d + t * dnt + j0 * dnj;
                const char *sp = s + t * es + j0 * snj;
                switch (es) {
                case 2: for (int64_t q = 0; q < jn; q++) memcpy(dp + q * dnj, sp + q * snj, 2); break;
                case 4: for (int64_t q = 0; q < jn; q++) memcpy(dp + q * dnj, sp + q * snj, 4); break;
                default: strided_move(dp, dnj, sp, snj, jn, es); break;
                }
            }
        }
    }
}

/* 1 (and done) if the copy was a transpose this path handles. */
static int try_transpose(iris_cpu *cpu, const iris_rows *r, char *dst, char *src, iris_dtype t) {
    int in = r->nd - 1, es = iris_dtype_get(t)->type_size;
    if (r->nd < 2 || r->nb[1][in] == es) return 0;
    tr_job j = {.r = r, .base = {dst, src}, .tdim = -1, .es = es};
    for (int d = 0; d < in; d++)
        if (r->nb[1][d] == es) j.tdim = d;
    if (j.tdim < 0) return 0;
    int64_t outer = 1;
    for (int d = 0; d < in; d++)
        if (d != j.tdim) j.odim[j.nodims++] = d, outer *= r->ne[d];
    j.ntb = (r->ne[j.tdim] + TILE - 1) / TILE;
    int64_t per_piece = TILE * r->ne[in];
    iris_pool_for(cpu->pool, outer * j.ntb, (32768 + per_piece - 1) / per_piece, transpose_range, &j);
    return 1;
}

static int dst_type(iris_dtype t) { return t == IRIS_F32 || t == IRIS_F16 || t == IRIS_BF16 || t == IRIS_I32; }

/* Runs dst = src for two headers of the same shape. */
static iris_status copy_run(iris_cpu *cpu, const iris_tensor *dst, const iris_tensor *src, const char *op) {
    const iris_dtype_info *si = iris_dtype_get(src->dtype);
    if (!dst_type(dst->dtype) || !si || src->ndim != dst->ndim)
        return iris_fail(IRIS_ERR_ARG, "%s: cannot copy %s to %s", op, iris_dtype_name(src->dtype),
                         iris_dtype_name(dst->dtype));
    for (int i = 0; i < dst->ndim; i++)
        if (src->ne[i] != dst->ne[i])
            return iris_fail(IRIS_ERR_SHAPE, "%s: shapes differ at dim %d (%lld vs %lld)", op, i,
                             (long long)src->ne[i], (long long)dst->ne[i]);
    if (si->block_size > 1 && src->nb[src->ndim - 1] != si->type_size)
        return iris_fail(IRIS_ERR_ARG, "%s: %s rows must be contiguous", op, si->name);
    if (!iris_nelements(dst)) return IRIS_OK;
    copy_job j = {.dt = dst->dtype, .st = src->dtype, .cpu = cpu};
    int64_t nb[2][4];
    memcpy(nb[0], dst->nb, sizeof nb[0]);
    memcpy(nb[1], src->nb, sizeof nb[1]);
    iris_dtype dts[2] = {dst->dtype, src->dtype};
    iris_rows_plan(&j.r, dst->ndim, dst->ne, 2, (const int64_t(*)[4])nb, dts, PIECE);
    j.base[0] = dst->data;
    j.base[1] = src->data;
    if (dst->dtype == src->dtype && si->block_size == 1 && try_transpose(cpu, &j.r, dst->data, src->data, src->dtype))
        return IRIS_OK;
    for (int t = 0; t < cpu->n_threads; t++)
        if (!iris_cpu_scratch(cpu, t, (size_t)PIECE * 12))
            return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory for scratch", op);
    iris_pool_for(cpu->pool, j.r.npieces, iris_rows_grain(&j.r, 32768), copy_range, &j);
    return IRIS_OK;
}

iris_status iris_cpu_copy(void *state, const iris_op_call *c) {
    return copy_run(state, c->dst, c->src[0], "copy");
}

iris_status iris_cpu_concat(void *state, const iris_op_call *c) {
    const iris_tensor *in[2] = {c->src[0], c->src[1]};
    iris_tensor *d = c->dst;
    int dim = c->ip[0];
    if (dim < 0 || dim >= d->ndim || in[0]->ne[dim] + in[1]->ne[dim] != d->ne[dim])
        return iris_fail(IRIS_ERR_ARG, "concat: bad call (dim %d)", dim);
    int64_t start = 0;
    for (int k = 0; k < 2; k++) {
        iris_tensor part = *d; /* the slice of dst that input k fills */
        memcpy(part.ne, in[k]->ne, sizeof part.ne);
        part.data = (char *)d->data + start * d->nb[dim];
        start += in[k]->ne[dim];
        iris_status st = copy_run(state, &part, in[k], "concat");
        if (st) return st;
    }
    return IRIS_OK;
}

/* ---- get_rows: dst[k] = f32(table[ids[k]]) ---- */

typedef struct {
    const iris_tensor *table;
    const int32_t *ids; /* packed copy */
    float *dst;
    iris_cpu *cpu;
} rows_job;

static void get_rows_range(void *arg, int64_t b, int64_t e, int tid) {
    rows_job *j = arg;
    const iris_tensor *t = j->table;
    const iris_dtype_info *info = iris_dtype_get(t->dtype);
    int64_t D = t->ne[1];
    int packed = info->block_size > 1 || t->nb[1] == info->type_size;
    char *scratch = packed ? NULL : iris_cpu_scratch(j->cpu, tid, (size_t)D * 8);
    for (int64_t k = b; k < e; k++) {
        const char *row = (const char *)t->data + j->ids[k] * t->nb[0];
        if (!packed) {
            strided_move(scratch, info->type_size, row, t->nb[1], D, info->type_size);
            row = scratch;
        }
        iris_cpu_to_f32(t->dtype, row, j->dst + k * D, D);
    }
}

iris_status iris_cpu_get_rows(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *t = c->src[0], *ids = c->src[1];
    iris_tensor *d = c->dst;
    int64_t n = iris_nelements(ids), V = t->ne[0], D = t->ne[1];
    if (t->ndim != 2 || ids->dtype != IRIS_I32 || d->dtype != IRIS_F32 || !iris_is_contiguous(d) ||
        iris_nelements(d) != n * D)
        return iris_fail(IRIS_ERR_ARG, "get_rows: bad call (table %s, ids %s)", iris_dtype_name(t->dtype),
                         iris_dtype_name(ids->dtype));
    if (!n || !D) return IRIS_OK;
    /* the ids, packed: they may be a strided view, and each is checked once, here */
    int32_t *idv = malloc((size_t)n * sizeof *idv);
    if (!idv) return iris_fail(IRIS_ERR_NOMEM, "get_rows: out of memory for %lld ids", (long long)n);
    int64_t ne[4] = {1, 1, 1, 1}, nb[4] = {0, 0, 0, 0};
    for (int i = 0; i < ids->ndim; i++) ne[4 - ids->ndim + i] = ids->ne[i], nb[4 - ids->ndim + i] = ids->nb[i];
    int64_t k = 0;
    for (int64_t i0 = 0; i0 < ne[0]; i0++)
        for (int64_t i1 = 0; i1 < ne[1]; i1++)
            for (int64_t i2 = 0; i2 < ne[2]; i2++)
                for (int64_t i3 = 0; i3 < ne[3]; i3++, k++) {
                    int32_t id;
                    memcpy(&id, (const char *)ids->data + i0 * nb[0] + i1 * nb[1] + i2 * nb[2] + i3 * nb[3], 4);
                    if (id < 0 || id >= V) {
                        free(idv);
                        return iris_fail(IRIS_ERR_ARG,
                                         "get_rows: id %d at position %lld is out of range for %s%s%s with %lld rows",
                                         (int)id, (long long)k, t->name[0] ? "table '" : "a table", t->name,
                                         t->name[0] ? "'" : "", (long long)V);
                    }
                    idv[k] = id;
                }
    const iris_dtype_info *info = iris_dtype_get(t->dtype);
    if (info->block_size == 1 && t->nb[1] != info->type_size)
        for (int th = 0; th < cpu->n_threads; th++)
            if (!iris_cpu_scratch(cpu, th, (size_t)D * 8)) {
                free(idv);
                return iris_fail(IRIS_ERR_NOMEM, "get_rows: out of memory for scratch");
            }
    rows_job j = {t, idv, d->data, cpu};
    int64_t grain = (32768 + D - 1) / D;
    iris_pool_for(cpu->pool, n, grain, get_rows_range, &j);
    free(idv);
    return IRIS_OK;
}
