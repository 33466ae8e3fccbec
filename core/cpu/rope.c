/* rope.c - rotary position embedding over x [..., L, H, D] with positions pos I32 [L].

   Angles follow llama.cpp's CPU kernel (ggml_rope_cache_init / rope_yarn without
   YaRN) exactly, because token-exact agreement with GGUF Llama models depends on it:
       theta_scale = powf(base, -2.0f / n_dims)          (float)
       theta = (float)pos; for each pair i: angle_i = freq_scale * theta; theta *= theta_scale
       cos/sin = cosf(angle_i), sinf(angle_i)
   and with frequency factors ff (Llama 3.1's rope_freqs) angle_i = freq_scale * (theta / ff[i]),
   as ggml calls rope_yarn(theta / ff, freq_scale, ...). The frequency is built by repeated float
   multiplication, not as pos * base^(-2i/n_dims) in double; at position 8000 the two differ by ~1e-3 rad
   (tests/ref/gen_ops_rope.py prints it), enough to move a logit's last digits. The table is built once per
   position (per thread) and shared by all heads.

   Modes: normal rotates pairs (2i, 2i+1) (GGUF Llama layout); NeoX rotates
   (i, i + n_dims/2). Dims past n_dims are copied. The SIMD paths use an
   interleaved table for normal mode (cos,cos / -sin,+sin) and a pair swap
   within each 64-bit lane, so both modes are plain multiply-adds.
*/
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "vecmath.h"

typedef struct {
    iris_cpu *cpu;
    const iris_tensor *x, *pos;
    const float *ff; /* [nd / 2] or NULL */
    float *y;
    int64_t L, H, D, nd;
    int neox, simd;
    float freq_scale, theta_scale;
    atomic_int oom;
} rope_job;

/* Table for one position: normal mode interleaved (c[2i] = c[2i+1] = cos_i, s[2i] = -sin_i,
   s[2i+1] = sin_i), NeoX mode c[i] = cos_i, s[i] = sin_i. */
static void rope_table(const rope_job *j, int32_t p, float *c, float *s) {
    float theta = (float)p;
    for (int64_t i = 0; i < j->nd / 2; i++) {
        float a = j->freq_scale * (j->ff ? theta / j->ff[i] : theta);
        float ca = cosf(a), sa = sinf(a);
        if (j->neox) c[i] = ca, s[i] = sa;
        else c[2 * i] = c[2 * i + 1] = ca, s[2 * i] = -sa, s[2 * i + 1] = sa;
        theta *= j->theta_scale;
    }
}

static void rot_normal_c(const float *x, float *y, const float *c, const float *s, int64_t i, int64_t nd) {
    for (; i < nd; i += 2) {
        float x0 = x[i], x1 = x[i + 1];
        y[i] = x0 * c[i] - x1 * s[i + 1];
        y[i + 1] = x0 * s[i + 1] + x1 * c[i];
    }
}

static void rot_neox_c(const float *x, float *y, const float *c, const float *s, int64_t i, int64_t half) {
    for (; i < half; i++) {
        float x0 = x[i], x1 = x[i + half];
        y[i] = x0 * c[i] - x1 * s[i];
        y[i + half] = x0 * s[i] + x1 * c[i];
    }
}

#if defined(IRIS_X86)
/* The vector kernels return how far they got (a multiple of the width); the caller finishes in
   plain C. (Calling the C tail from inside them let GCC tail-call it without vzeroupper, and
   every SSE instruction after that paid an AVX transition penalty: 10x slower.) */
IRIS_AVX2 static int64_t rot_avx2(const float *x, float *y, const float *c, const float *s, int64_t nd, int neox) {
    int64_t i = 0;
    if (!neox) {
        for (; i + 8 <= nd; i += 8) {
            __m256 v = _mm256_loadu_ps(x + i), sw = _mm256_permute_ps(v, 0xB1);
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(v, _mm256_loadu_ps(c + i), _mm256_mul_ps(sw, _mm256_loadu_ps(s + i))));
        }
        return i;
    }
    int64_t h = nd / 2;
    for (; i + 8 <= h; i += 8) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + h);
        __m256 vc = _mm256_loadu_ps(c + i), vs = _mm256_loadu_ps(s + i);
        _mm256_storeu_ps(y + i, _mm256_fmsub_ps(a, vc, _mm256_mul_ps(b, vs)));
        _mm256_storeu_ps(y + i + h, _mm256_fmadd_ps(a, vs, _mm256_mul_ps(b, vc)));
    }
    return i;
}

IRIS_AVX512 static int64_t rot_avx512(const float *x, float *y, const float *c, const float *s, int64_t nd, int neox) {
    int64_t i = 0;
    if (!neox) {
        for (; i + 16 <= nd; i += 16) {
            __m512 v = _mm512_loadu_ps(x + i), sw = _mm512_permute_ps(v, 0xB1);
            _mm512_storeu_ps(y + i, _mm512_fmadd_ps(v, _mm512_loadu_ps(c + i), _mm512_mul_ps(sw, _mm512_loadu_ps(s + i))));
        }
        return i;
    }
    int64_t h = nd / 2;
    for (; i + 16 <= h; i += 16) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + h);
        __m512 vc = _mm512_loadu_ps(c + i), vs = _mm512_loadu_ps(s + i);
        _mm512_storeu_ps(y + i, _mm512_fmsub_ps(a, vc, _mm512_mul_ps(b, vs)));
        _mm512_storeu_ps(y + i + h, _mm512_fmadd_ps(a, vs, _mm512_mul_ps(b, vc)));
    }
    return i;
}
#endif

static void rope_rows(void *arg, int64_t r0, int64_t r1, int tid) {
    rope_job *j = arg;
    const iris_tensor *x = j->x;
    int nd4 = x->ndim; /* dims: [B,] L, H, D */
    int64_t D = j->D, nbL = x->nb[nd4 - 3], nbH = x->nb[nd4 - 2], nbD = x->nb[nd4 - 1];
    int64_t nbB = nd4 == 4 ? x->nb[0] : 0;
    float *c = iris_cpu_scratch(j->cpu, tid, (size_t)(2 * j->nd + D) * sizeof(float));
    if (!c) {
        atomic_store(&j->oom, 1);
        return;
    }
    float *s = c + j->nd, *buf = s + j->nd;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / j->L, l = r % j->L;
        int32_t p;
        memcpy(&p, (const char *)j->pos->data + l * j->pos->nb[0], sizeof p);
        rope_table(j, p, c, s);
        for (int64_t h = 0; h < j->H; h++) {
            const char *src = (const char *)x->data + b * nbB + l * nbL + h * nbH;
            const float *xs = (const float *)src;
            float *y = j->y + (r * j->H + h) * D;
            if (nbD != 4) {
                iris_vm_load_row(IRIS_F32, src, nbD, D, buf);
                xs = buf;
            }
            int64_t done = 0;
#if defined(IRIS_X86)
            if (j->simd >= IRIS_SIMD_AVX512) done = rot_avx512(xs, y, c, s, j->nd, j->neox);
            else if (j->simd >= IRIS_SIMD_AVX2) done = rot_avx2(xs, y, c, s, j->nd, j->neox);
#endif
            if (j->neox) rot_neox_c(xs, y, c, s, done, j->nd / 2);
            else rot_normal_c(xs, y, c, s, done, j->nd);
            if (D > j->nd) memcpy(y + j->nd, xs + j->nd, (size_t)(D - j->nd) * sizeof(float));
        }
    }
}

/* src0 x [..., L, H, D] f32, src1 pos I32 [L], src2 frequency factors F32 [n_dims / 2] or NULL; ip[0] n_dims, ip[1] mode (0 normal, 2 neox);
   fp[0] base, fp[1] freq_scale. Output contiguous. */
iris_status iris_cpu_rope(void *state, const iris_op_call *c) {
    iris_cpu *cpu = state;
    const iris_tensor *x = c->src[0];
    int nd = x->ndim;
    rope_job j = {.cpu = cpu, .x = x, .pos = c->src[1],
                  .ff = c->src[2] ? (const float *)c->src[2]->data : NULL, .y = c->dst->data, .L = x->ne[nd - 3], .H = x->ne[nd - 2],
                  .D = x->ne[nd - 1], .nd = c->ip[0], .neox = c->ip[1] == 2, .simd = iris_cpu_simd(),
                  .freq_scale = c->fp[1], .theta_scale = powf(c->fp[0], -2.0f / (float)c->ip[0])};
    int64_t rows = (nd == 4 ? x->ne[0] : 1) * j.L, per_row = j.H * j.D;
    if (rows > 0 && per_row > 0)
        iris_pool_for(cpu->pool, rows, per_row >= 4096 ? 1 : 4096 / per_row, rope_rows, &j);
    if (atomic_load(&j.oom)) return iris_fail(IRIS_ERR_NOMEM, "rope: out of memory for scratch");
    return IRIS_OK;
}
