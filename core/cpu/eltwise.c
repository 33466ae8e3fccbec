/* eltwise.c - activations and binary arithmetic on the CPU.

   iris_cpu_act is the one place activations are computed: iris_unary uses it, and the
   linear and conv kernels call it on their output tiles for fused activations. The vector
   math (expm1, tanh, sigmoid, erfc-based GELU) is in eltwise_simd.h, compiled here for
   AVX2 and AVX-512 on top of vecmath.h's exp; the error bounds are listed there. The
   portable path uses libm.

   Unary and binary kernels walk their operands as rows (rows.h), so contiguous tensors,
   bias rows and per-channel scalars run as straight vector loops and only strided views
   pay for a gather into per-thread scratch.
*/
#include <math.h>
#include <string.h>

#include "rows.h"
#include "vecmath.h"

/* ---- portable path ---- */

static inline float sigmoid1(float x) {
    float e = expf(-fabsf(x));
    return (x >= 0.f ? 1.f : e) / (1.f + e);
}

static float act1(iris_act act, float alpha, float x) {
    switch (act) {
    case IRIS_ACT_RELU: return x < 0.f ? 0.f : x;
    case IRIS_ACT_LEAKY: return x > 0.f ? x : alpha * x;
    case IRIS_ACT_SILU: return x * sigmoid1(x);
    case IRIS_ACT_GELU: {
        /* Phi(-|x|) in double: erfc's argument then carries no rounding that the tails amplify */
        float q = (float)(0.5 * erfc(fabs((double)x) * 0.70710678118654752));
        return x >= 0.f ? (q > 0.f ? x - x * q : x) : x * q;
    }
    case IRIS_ACT_GELU_TANH: return x * sigmoid1(x * (1.59576912160573071f + 0.0713548162726002527f * x * x));
    case IRIS_ACT_QUICK_GELU: return x * sigmoid1(1.702f * x);
    case IRIS_ACT_MISH: {
        float e = expf(x < 20.f ? x : 20.f), n = e * (e + 2.f);
        return x * (n / (n + 2.f));
    }
    case IRIS_ACT_SIGMOID: return sigmoid1(x);
    case IRIS_ACT_TANH: return tanhf(x);
    case IRIS_ACT_SCALE: return alpha * x;
    case IRIS_ACT_EXP: return expf(x);
    case IRIS_ACT_SQRT: return sqrtf(x);
    default: return x;
    }
}

static void act_scalar(iris_act act, float alpha, const float *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = act1(act, alpha, src[i]);
}

static void binary_vv_scalar(iris_binop op, const float *a, const float *b, float *d, int64_t n) {
    switch (op) {
    case IRIS_BIN_ADD: for (int64_t i = 0; i < n; i++) d[i] = a[i] + b[i]; break;
    case IRIS_BIN_SUB: for (int64_t i = 0; i < n; i++) d[i] = a[i] - b[i]; break;
    case IRIS_BIN_MUL: for (int64_t i = 0; i < n; i++) d[i] = a[i] * b[i]; break;
    default: for (int64_t i = 0; i < n; i++) d[i] = a[i] / b[i]; break;
    }
}

static void binary_vs_scalar(iris_binop op, const float *a, float s, float *d, int64_t n) {
    switch (op) {
    case IRIS_BIN_ADD: for (int64_t i = 0; i < n; i++) d[i] = a[i] + s; break;
    case IRIS_BIN_SUB: for (int64_t i = 0; i < n; i++) d[i] = a[i] - s; break;
    case IRIS_BIN_MUL: for (int64_t i = 0; i < n; i++) d[i] = a[i] * s; break;
    default: for (int64_t i = 0; i < n; i++) d[i] = a[i] / s; break;
    }
}

/* ---- AVX2 and AVX-512: eltwise_simd.h instantiated per width ---- */
#if defined(IRIS_X86)

#define VF __m256
#define VM __m256
#define W 8
#define TGT IRIS_AVX2
#define SFX(n) n##_avx2
#define V_LD(p) _mm256_loadu_ps(p)
#define V_ST(p, v) _mm256_storeu_ps(p, v)
#define V_SET(c) _mm256_set1_ps(c)
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_SQRT _mm256_sqrt_ps
#define V_FMA _mm256_fmadd_ps
#define V_FNMA _mm256_fnmadd_ps
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_ROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_XOR _mm256_xor_ps
#define V_ABS(x) _mm256_andnot_ps(_mm256_set1_ps(-0.f), x)
#define V_SIGNBIT(x) _mm256_and_ps(_mm256_set1_ps(-0.f), x)
#define V_GT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define V_GE(a, b) _mm256_cmp_ps(a, b, _CMP_GE_OQ)
#define V_SEL(m, t, f) _mm256_blendv_ps(f, t, m)
#define V_POW2 iris_vm_pow2_8
#define V_EXP iris_vm_exp8
#include "eltwise_simd.h"

#define VF __m512
#define VM __mmask16
#define W 16
#define TGT IRIS_AVX512
#define SFX(n) n##_avx512
#define V_LD(p) _mm512_loadu_ps(p)
#define V_ST(p, v) _mm512_storeu_ps(p, v)
#define V_SET(c) _mm512_set1_ps(c)
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_SQRT _mm512_sqrt_ps
#define V_FMA _mm512_fmadd_ps
#define V_FNMA _mm512_fnmadd_ps
#define V_MIN _mm512_min_ps
#define V_MAX _mm512_max_ps
#define V_ROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_XOR _mm512_xor_ps
#define V_ABS(x) _mm512_andnot_ps(_mm512_set1_ps(-0.f), x)
#define V_SIGNBIT(x) _mm512_and_ps(_mm512_set1_ps(-0.f), x)
#define V_GT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define V_GE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)
#define V_SEL(m, t, f) _mm512_mask_blend_ps(m, f, t)
#define V_POW2 iris_vm_pow2_16
#define V_EXP iris_vm_exp16
#include "eltwise_simd.h"

#endif /* IRIS_X86 */

/* ---- dispatch ---- */

static void act_row(iris_act act, float alpha, const float *src, float *dst, int64_t n) {
#if defined(IRIS_X86)
    int simd = iris_cpu_simd();
    if (simd >= IRIS_SIMD_AVX512) { act_avx512(act, alpha, src, dst, n); return; }
    if (simd == IRIS_SIMD_AVX2) { act_avx2(act, alpha, src, dst, n); return; }
#endif
    act_scalar(act, alpha, src, dst, n);
}

void iris_cpu_act(iris_act act, float alpha, float *x, int64_t n) {
    if (act == IRIS_ACT_NONE || (act == IRIS_ACT_SCALE && alpha == 1.f) || n <= 0) return;
    act_row(act, alpha, x, x, n);
}

static void binary_vv(iris_binop op, const float *a, const float *b, float *d, int64_t n) {
#if defined(IRIS_X86)
    int simd = iris_cpu_simd();
    if (simd >= IRIS_SIMD_AVX512) { binary_vv_avx512(op, a, b, d, n); return; }
    if (simd == IRIS_SIMD_AVX2) { binary_vv_avx2(op, a, b, d, n); return; }
#endif
    binary_vv_scalar(op, a, b, d, n);
}

static void binary_vs(iris_binop op, const float *a, float s, float *d, int64_t n) {
#if defined(IRIS_X86)
    int simd = iris_cpu_simd();
    if (simd >= IRIS_SIMD_AVX512) { binary_vs_avx512(op, a, s, d, n); return; }
    if (simd == IRIS_SIMD_AVX2) { binary_vs_avx2(op, a, s, d, n); return; }
#endif
    binary_vs_scalar(op, a, s, d, n);
}

/* ---- kernels ---- */

#define PIECE 8192 /* elements per unit of work (rows.h) */

static int float_type(iris_dtype t) { return t == IRIS_F32 || t == IRIS_F16 || t == IRIS_BF16; }

/* Makes sure every thread has `bytes` of scratch before work starts. */
static iris_status reserve_scratch(iris_cpu *cpu, size_t bytes, const char *op) {
    for (int t = 0; t < cpu->n_threads; t++)
        if (!iris_cpu_scratch(cpu, t, bytes))
            return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory for %zu bytes of scratch", op, bytes);
    return IRIS_OK;
}

static int cheap_act(iris_act a) {
    return a == IRIS_ACT_NONE || a == IRIS_ACT_RELU || a == IRIS_ACT_LEAKY || a == IRIS_ACT_SCALE ||
           a == IRIS_ACT_SQRT;
}

typedef struct {
    iris_rows r;
    char *base[2];
    iris_dtype st;
    iris_act act;
    float alpha;
    iris_cpu *cpu;
} unary_job;

static void unary_range(void *arg, int64_t b, int64_t e, int tid) {
    unary_job *j = arg;
    int64_t sstride = j->r.nb[1][j->r.nd - 1];
    int direct = j->st == IRIS_F32 && sstride == 4;
    float *tmp = direct ? NULL : iris_cpu_scratch(j->cpu, tid, PIECE * sizeof(float));
    for (int64_t p = b; p < e; p++) {
        char *ptr[2];
        int64_t n = iris_rows_piece(&j->r, p, j->base, ptr);
        const float *s = (const float *)ptr[1];
        if (!direct) {
            iris_vm_load_row(j->st, ptr[1], sstride, n, tmp);
            s = tmp;
        }
        if (j->act == IRIS_ACT_NONE) memcpy(ptr[0], s, (size_t)n * 4);
        else act_row(j->act, j->alpha, s, (float *)ptr[0], n);
    }
}

iris_status iris_cpu_unary(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    iris_tensor *y = c->dst;
    if (!float_type(x->dtype) || y->dtype != IRIS_F32 || !iris_is_contiguous(y) || !iris_same_shape(x, y) ||
        (unsigned)c->ip[0] >= IRIS_ACT_COUNT)
        return iris_fail(IRIS_ERR_ARG, "unary: bad call (%s -> %s, act %d)", iris_dtype_name(x->dtype),
                         iris_dtype_name(y->dtype), c->ip[0]);
    if (!iris_nelements(y)) return IRIS_OK;
    unary_job j = {.st = x->dtype, .act = (iris_act)c->ip[0], .alpha = c->fp[0], .cpu = cpu};
    int64_t nb[2][4];
    memcpy(nb[0], y->nb, sizeof nb[0]);
    memcpy(nb[1], x->nb, sizeof nb[1]);
    iris_dtype dt[2] = {IRIS_F32, x->dtype};
    iris_rows_plan(&j.r, y->ndim, y->ne, 2, (const int64_t(*)[4])nb, dt, PIECE);
    j.base[0] = y->data;
    j.base[1] = x->data;
    if (!(x->dtype == IRIS_F32 && j.r.nb[1][j.r.nd - 1] == 4)) {
        iris_status st = reserve_scratch(cpu, PIECE * sizeof(float), "unary");
        if (st) return st;
    }
    iris_pool_for(cpu->pool, j.r.npieces, iris_rows_grain(&j.r, cheap_act(j.act) ? 32768 : 8192), unary_range, &j);
    return IRIS_OK;
}

typedef struct {
    iris_rows r;
    char *base[3];
    iris_dtype t0, t1;
    iris_binop op;
    iris_cpu *cpu;
} binary_job;

static void binary_range(void *arg, int64_t b, int64_t e, int tid) {
    binary_job *j = arg;
    int in = j->r.nd - 1;
    int64_t s0 = j->r.nb[1][in], s1 = j->r.nb[2][in];
    int direct0 = j->t0 == IRIS_F32 && s0 == 4, direct1 = j->t1 == IRIS_F32 && s1 == 4;
    float *tmp = direct0 && (direct1 || !s1) ? NULL : iris_cpu_scratch(j->cpu, tid, 2 * PIECE * sizeof(float));
    for (int64_t p = b; p < e; p++) {
        char *ptr[3];
        int64_t n = iris_rows_piece(&j->r, p, j->base, ptr);
        const float *a = (const float *)ptr[1];
        if (!direct0) {
            iris_vm_load_row(j->t0, ptr[1], s0, n, tmp);
            a = tmp;
        }
        if (!s1) { /* b is one number along the row: a bias per channel, or a scalar */
            binary_vs(j->op, a, iris_vm_load1(j->t1, ptr[2]), (float *)ptr[0], n);
            continue;
        }
        const float *bb = (const float *)ptr[2];
        if (!direct1) {
            iris_vm_load_row(j->t1, ptr[2], s1, n, tmp + PIECE);
            bb = tmp + PIECE;
        }
        binary_vv(j->op, a, bb, (float *)ptr[0], n);
    }
}

iris_status iris_cpu_binary(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *a = c->src[0], *b = c->src[1];
    iris_tensor *d = c->dst;
    if (!float_type(a->dtype) || !float_type(b->dtype) || d->dtype != IRIS_F32 || !iris_is_contiguous(d) ||
        !iris_same_shape(a, d) || (unsigned)c->ip[0] >= IRIS_BIN_COUNT || b->ndim > d->ndim)
        return iris_fail(IRIS_ERR_ARG, "binary: bad call (%s op %s -> %s)", iris_dtype_name(a->dtype),
                         iris_dtype_name(b->dtype), iris_dtype_name(d->dtype));
    if (!iris_nelements(d)) return IRIS_OK;
    int64_t nb[3][4];
    memcpy(nb[0], d->nb, sizeof nb[0]);
    memcpy(nb[1], a->nb, sizeof nb[1]);
    /* b's dims align with d's from the right; a size-1 dim of b repeats (stride 0) */
    for (int i = 0; i < d->ndim; i++) {
        int k = i - (d->ndim - b->ndim);
        if (k < 0 || (b->ne[k] == 1 && d->ne[i] != 1)) nb[2][i] = 0;
        else if (b->ne[k] == d->ne[i]) nb[2][i] = b->nb[k];
        else
            return iris_fail(IRIS_ERR_SHAPE, "binary: dim %d of b (%lld) does not broadcast to %lld", k,
                             (long long)b->ne[k], (long long)d->ne[i]);
    }
    binary_job j = {.t0 = a->dtype, .t1 = b->dtype, .op = (iris_binop)c->ip[0], .cpu = cpu};
    iris_dtype dt[3] = {IRIS_F32, a->dtype, b->dtype};
    iris_rows_plan(&j.r, d->ndim, d->ne, 3, (const int64_t(*)[4])nb, dt, PIECE);
    j.base[0] = d->data;
    j.base[1] = a->data;
    j.base[2] = b->data;
    iris_status st = reserve_scratch(cpu, 2 * PIECE * sizeof(float), "binary");
    if (st) return st;
    iris_pool_for(cpu->pool, j.r.npieces, iris_rows_grain(&j.r, 32768), binary_range, &j);
    return IRIS_OK;
}
