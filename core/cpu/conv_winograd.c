/* conv_winograd.c - 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3).

   Every 4x4 block of output ("tile") comes from a 6x6 block of input. In the transformed
   domain a tile costs 36 multiplies per input channel instead of 144, so the GEMM work of a
   3x3 convolution drops by 4x:
       V = B^T d B   (input tile, 6x6)        U = G g G^T  (kernel, 6x6)
       M[xi] = sum over c of U[xi][o][c] V[xi][c][t]   -- 36 GEMMs [O x C] @ [C x T]
       y = A^T M A   (4x4 output tile)
   with Lavin's matrices for the points 0, 1, -1, 2, -2 and infinity. In f32 the result differs
   from the direct sum by about 1e-5 of the output's scale (the transforms multiply by up to
   ~100 before the sum and divide back after); the tests bound it.

   Layout. The tiles of a chunk of tile rows (across the images of the batch) are the GEMMs'
   columns. The input transform writes V straight into the built-in GEMM's packed B layout
   (panels of nr tiles), all threads together. Then the output channels are cut into blocks of
   a few register tiles; a thread takes a block and, in its own scratch, a K block (kc input
   channels) at a time: transforms the block's kernels into the packed A layout (36 x Mp x kc
   floats, in L2) and runs the 36 GEMMs, adding into M; then it does the output transform with
   bias, residual and activation. Two pool calls per chunk, no packing inside the GEMM.

   Kernels are transformed on every call rather than cached. U is 36/9 = 4x the kernel in f32
   (8x an f16 checkpoint's bytes): SD 1.5's UNet alone would need gigabytes, and a bounded cache
   would thrash since each layer runs once per step. The transform is O*C*36 values against
   O*C*T*72 GEMM flops: measured, 3% of the call at SD's 32x32 maps (T = 128 tiles at batch 2),
   a fifth at 16x16 (T = 32); it is also where f16 weights are converted, as the direct path does.

   The OpenBLAS GEMM is not used here: it takes plain matrices and would repack both operands
   on every call (its copies are 15% of the direct path's time in SD), while the packed built-in
   kernel reads what the transforms wrote.

   The transforms have AVX-512 versions (16 tiles or channels per vector, nr = 32 panels) and
   a portable one that serves the other SIMD levels (their GEMM kernels are used as they are).
*/
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#ifdef IRIS_X86
#include <immintrin.h>
#endif

#define V_BYTES (12 << 20) /* transformed input per chunk: in L3 with room for the kernels */
#define MAX_BLOCKS 4       /* register-tile rows (mr) per block of output channels */
#define XI 36
/* The 36 planes of U, V and M are a cache line more than a round size apart: the transforms
   touch all 36 at once, and at multiples of 4 KiB those accesses would share one L1 set. */
#define PLANE_SKEW 16

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t m) { return ceil_div(a, m) * m; }
static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* ---- choosing the path ---- */

static atomic_int conv_mode = -1; /* -1: not read from the environment yet */

static int mode_from_env(void) {
    const char *e = getenv("IRIS_CONV");
    if (e && !strcmp(e, "direct")) return IRIS_CONV_DIRECT;
    if (e && !strcmp(e, "winograd")) return IRIS_CONV_WINOGRAD;
    return IRIS_CONV_AUTO;
}

static int current_mode(void) {
    int m = atomic_load(&conv_mode);
    if (m < 0) {
        m = mode_from_env();
        atomic_store(&conv_mode, m);
    }
    return m;
}

int iris_cpu_conv_mode(void) { return current_mode(); }

int iris_cpu_conv_select(int mode) {
    int old = current_mode();
    atomic_store(&conv_mode, mode);
    return old;
}

int iris_cpu_winograd_wanted(const iris_op_call *c) {
    const iris_tensor *x = c->src[0], *w = c->src[1], *y = c->dst;
    int mode = current_mode();
    if (mode == IRIS_CONV_DIRECT) return 0;
    if (w->ne[2] != 3 || w->ne[3] != 3 || c->ip[0] != 1 || c->ip[1] != 1 || c->ip[4] != 1 || c->ip[5] != 1 ||
        c->ip[6] != 1)
        return 0;
    if (mode == IRIS_CONV_WINOGRAD) return 1;
    /* Measured on Zen 5 (bench/bench_conv.c, bench_ops.c's ResNet layers), CPU time per call against
       the direct path: 8 tiles (SD's 1280-channel 8x8 maps at batch 2) gain 1.5x, 16 tiles 1.2-2.3x,
       more tiles 2.5-4x; 4 tiles lose 1.2-2x (the GEMM has 4 columns, the kernel transform is not
       repaid), and so do 3 input channels (0.6x: the transforms dominate a GEMM with K = 3). The
       transforms have no AVX2 version, so AVX-512 only. */
    int64_t C = x->ne[1], tiles = x->ne[0] * ceil_div(y->ne[2], 4) * ceil_div(y->ne[3], 4);
    return iris_cpu_simd() >= IRIS_SIMD_AVX512 && C >= 4 && tiles >= 8;
}

/* ---- the 1-D transforms (the 2-D ones are these along columns, then rows) ---- */

/* B^T d for d0..d5 */
#define BT6(T, d0, d1, d2, d3, d4, d5, r)                                \
    do {                                                                 \
        T a_ = SUB(d4, MUL4(d2)), b_ = SUB(d3, MUL4(d1));                \
        T c_ = SUB(d4, d2), e_ = MUL2(SUB(d3, d1));                      \
        r[0] = ADD(SUB(MUL4(d0), MUL5(d2)), d4);                         \
        r[1] = ADD(a_, b_);                                              \
        r[2] = SUB(a_, b_);                                              \
        r[3] = ADD(c_, e_);                                              \
        r[4] = SUB(c_, e_);                                              \
        r[5] = ADD(SUB(MUL4(d1), MUL5(d3)), d5);                         \
    } while (0)

/* G g for g0..g2 */
#define G3(T, g0, g1, g2, r)                                             \
    do {                                                                 \
        T s_ = ADD(g0, g2), p_ = ADD(MULK(g0, 1.0f / 24), MULK(g2, 1.0f / 6)), q_ = MULK(g1, 1.0f / 12); \
        r[0] = MULK(g0, 0.25f);                                          \
        r[1] = MULK(ADD(s_, g1), -1.0f / 6);                             \
        r[2] = MULK(SUB(s_, g1), -1.0f / 6);                             \
        r[3] = ADD(p_, q_);                                              \
        r[4] = SUB(p_, q_);                                              \
        r[5] = g2;                                                       \
    } while (0)

/* A^T m for m0..m5 */
#define AT4(T, m0, m1, m2, m3, m4, m5, r)                                \
    do {                                                                 \
        T s12_ = ADD(m1, m2), d12_ = SUB(m1, m2), s34_ = ADD(m3, m4), d34_ = SUB(m3, m4); \
        r[0] = ADD(ADD(m0, s12_), s34_);                                 \
        r[1] = ADD(d12_, MUL2(d34_));                                    \
        r[2] = ADD(s12_, MUL4(s34_));                                    \
        r[3] = ADD(ADD(d12_, MULK(d34_, 8.0f)), m5);                     \
    } while (0)

#define ADD(a, b) ((a) + (b))
#define SUB(a, b) ((a) - (b))
#define MUL2(a) (2.0f * (a))
#define MUL4(a) (4.0f * (a))
#define MUL5(a) (5.0f * (a))
#define MULK(a, k) ((k) * (a))

static void in_tile_c(const float d[36], float v[36]) {
    float h[36];
    for (int i = 0; i < 6; i++) BT6(float, d[i * 6], d[i * 6 + 1], d[i * 6 + 2], d[i * 6 + 3], d[i * 6 + 4], d[i * 6 + 5], (h + i * 6));
    for (int k = 0; k < 6; k++) {
        float r[6];
        BT6(float, h[k], h[6 + k], h[12 + k], h[18 + k], h[24 + k], h[30 + k], r);
        for (int a = 0; a < 6; a++) v[a * 6 + k] = r[a];
    }
}

static void kernel_c(const float g[9], float u[36]) {
    float t[18]; /* t[a * 3 + j] = (G g)[a][j] */
    for (int j = 0; j < 3; j++) {
        float r[6];
        G3(float, g[j], g[3 + j], g[6 + j], r);
        for (int a = 0; a < 6; a++) t[a * 3 + j] = r[a];
    }
    for (int a = 0; a < 6; a++) G3(float, t[a * 3], t[a * 3 + 1], t[a * 3 + 2], (u + a * 6));
}

static void out_tile_c(const float m[36], float o[16]) {
    float s[24]; /* s[j * 6 + b] = (A^T M)[j][b] */
    for (int b = 0; b < 6; b++) {
        float r[4];
        AT4(float, m[b], m[6 + b], m[12 + b], m[18 + b], m[24 + b], m[30 + b], r);
        for (int j = 0; j < 4; j++) s[j * 6 + b] = r[j];
    }
    for (int j = 0; j < 4; j++) AT4(float, s[j * 6], s[j * 6 + 1], s[j * 6 + 2], s[j * 6 + 3], s[j * 6 + 4], s[j * 6 + 5], (o + j * 4));
}

#undef ADD
#undef SUB
#undef MUL2
#undef MUL4
#undef MUL5
#undef MULK

/* ---- the job ---- */

typedef struct {
    iris_cpu *cpu;
    int64_t N, C, H, W, O, Ho, Wo, th, tw; /* th x tw tiles per image */
    int ph, pw;
    int64_t xs[4], rs[4]; /* strides in floats */
    const float *x;
    const char *w; /* [O, C*9] rows of type wt, ldw bytes apart */
    int64_t ldw;
    iris_dtype wt;
    const float *bias, *res;
    float *y; /* [N, O, Ho, Wo] */
    iris_act act;
    float alpha;
    int avx512;
    iris_gemm_dims d;
    int64_t mo, Mp; /* output channels per block, that rounded up to mr */
    int64_t ldm;    /* row stride of a thread's M blocks */
    int64_t ustride, mstride; /* floats between the 36 planes of U and of M */
    int64_t lb;     /* row buffer of the input transform */
    size_t u_bytes, m_bytes, priv;
    /* the current chunk: tile rows [R0, R0 + nR) of all images (R = n * th + ty) */
    int64_t R0, nR, Tc, Np;
    float *V; /* 36 planes vstride floats apart, each C x Np in the packed B layout */
    int64_t vstride;
} wino_job;

/* Offset in a V block of (channel c, tile t of the chunk): the packed-B layout of cpu.h. */
static inline int64_t v_off(const wino_job *j, int64_t c, int64_t t) {
    int64_t kc = j->d.kc, nr = j->d.nr, b = c / kc, kb = min64(kc, j->C - b * kc);
    return b * kc * j->Np + t / nr * kb * nr + c % kc * nr + t % nr;
}

/* Offset in a U block (one K block: channels [c0, c0 + kb), c0 a multiple of kc) of block row r,
   channel c0 + cl: the packed-A layout, rows kc apart. */
static inline int64_t u_off(const wino_job *j, int64_t r, int64_t cl) { return r * j->d.kc + cl; }

/* Rows 4*ty - ph + i (i < 6) of channel c of image n into rb (6 rows of lb floats), shifted by pw
   so that tile tx finds its 6 columns at rb[4*tx ...]; zero outside the image. */
static void load_rows(const wino_job *j, int64_t n, int64_t c, int64_t ty, float *rb) {
    const float *xc = j->x + n * j->xs[0] + c * j->xs[1];
    const int64_t lb = j->lb, n_in = min64(j->W, lb - j->pw);
    for (int i = 0; i < 6; i++) {
        float *r = rb + i * lb;
        int64_t ih = 4 * ty - j->ph + i;
        if (ih < 0 || ih >= j->H || n_in <= 0) {
            memset(r, 0, (size_t)lb * sizeof(float));
            continue;
        }
        const float *xr = xc + ih * j->xs[2];
        memset(r, 0, (size_t)j->pw * sizeof(float));
        if (j->xs[3] == 1)
            memcpy(r + j->pw, xr, (size_t)n_in * sizeof(float));
        else
            for (int64_t q = 0; q < n_in; q++) r[j->pw + q] = xr[q * j->xs[3]];
        memset(r + j->pw + n_in, 0, (size_t)(lb - j->pw - n_in) * sizeof(float));
    }
}

/* ---- input transform: one item is (channel, tile row of the chunk) ---- */

static void input_c(const wino_job *j, int64_t c, int64_t rl, float *rb) {
    const int64_t lb = j->lb;
    for (int64_t tx = 0; tx < j->tw; tx++) {
        float dt[36], v[36];
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 6; k++) dt[i * 6 + k] = rb[i * lb + 4 * tx + k];
        in_tile_c(dt, v);
        int64_t off = v_off(j, c, rl * j->tw + tx);
        for (int xi = 0; xi < XI; xi++) j->V[xi * j->vstride + off] = v[xi];
    }
}

#ifdef IRIS_X86
#define ADD(a, b) _mm512_add_ps(a, b)
#define SUB(a, b) _mm512_sub_ps(a, b)
#define MUL2(a) _mm512_add_ps(a, a)
#define MUL4(a) _mm512_mul_ps(_mm512_set1_ps(4.0f), a)
#define MUL5(a) _mm512_mul_ps(_mm512_set1_ps(5.0f), a)
#define MULK(a, k) _mm512_mul_ps(_mm512_set1_ps(k), a)

static inline __mmask16 lanes(int64_t n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* Lanes m of v, tiles t.. of one V row at p (panels kb * 32 floats apart): one masked store, or two
   when the 16 lanes run into the next panel. */
IRIS_AVX512 static inline void store_v(float *p, int64_t t, int64_t kb, __m512 v, __mmask16 m) {
    int64_t off = t % 32;
    float *q = p + t / 32 * kb * 32;
    if (off <= 16) {
        _mm512_mask_storeu_ps(q + off, m, v);
        return;
    }
    int s = (int)(32 - off); /* lanes left in this panel; lane s starts the next one */
    __mmask16 lo = (__mmask16)((1u << s) - 1);
    _mm512_mask_storeu_ps(q + off, m & lo, v);
    _mm512_mask_storeu_ps(q + kb * 32 - s, m & (__mmask16)~lo, v);
}

/* 16 tiles at a time: six rows of 66 input columns are split into the stride-4 columns d0..d5 of
   the 16 tiles by permutes, B^T runs along the rows, then down the columns. */
IRIS_AVX512 static void input_avx512(const wino_job *j, int64_t c, int64_t rl, const float *rb) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const int64_t kc = j->d.kc, kb = min64(kc, j->C - c / kc * kc), lb = j->lb;
    float *vrow = j->V + c / kc * kc * j->Np + c % kc * 32;
    for (int64_t tx0 = 0; tx0 < j->tw; tx0 += 16) {
        __m512 h[36]; /* h[i * 6 + k]: row i of the 16 tiles after B^T along it */
        _Pragma("GCC unroll 9")
        for (int i = 0; i < 6; i++) {
            const float *s = rb + i * lb + 4 * tx0;
            __m512 a = _mm512_loadu_ps(s), b = _mm512_loadu_ps(s + 16), cc = _mm512_loadu_ps(s + 32),
                   dd = _mm512_loadu_ps(s + 48);
            __m512i e = _mm512_castps_si512(_mm512_loadu_ps(s + 64));
            __m512 ab0 = _mm512_permutex2var_ps(a, ev, b), ab1 = _mm512_permutex2var_ps(a, od, b);
            __m512 cd0 = _mm512_permutex2var_ps(cc, ev, dd), cd1 = _mm512_permutex2var_ps(cc, od, dd);
            __m512 d0 = _mm512_permutex2var_ps(ab0, ev, cd0), d2 = _mm512_permutex2var_ps(ab0, od, cd0);
            __m512 d1 = _mm512_permutex2var_ps(ab1, ev, cd1), d3 = _mm512_permutex2var_ps(ab1, od, cd1);
            /* d4, d5: d0, d1 one tile on, their last lanes being columns 64 and 65 */
            __m512 d4 = _mm512_castsi512_ps(_mm512_alignr_epi32(e, _mm512_castps_si512(d0), 1));
            __m512 d5 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_alignr_epi32(e, e, 1), _mm512_castps_si512(d1), 1));
            BT6(__m512, d0, d1, d2, d3, d4, d5, (h + i * 6));
        }
        __mmask16 m = lanes(j->tw - tx0);
        int64_t t = rl * j->tw + tx0;
        _Pragma("GCC unroll 9")
        for (int k = 0; k < 6; k++) {
            __m512 r[6];
            BT6(__m512, h[k], h[6 + k], h[12 + k], h[18 + k], h[24 + k], h[30 + k], r);
            _Pragma("GCC unroll 9")
            for (int a = 0; a < 6; a++) store_v(vrow + (a * 6 + k) * j->vstride, t, kb, r[a], m);
        }
    }
}

/* Kernels of kb input channels, 16 at a time (gathered at stride 9), into U row r. */
IRIS_AVX512 static void kernel_row_avx512(const wino_job *j, const float *g, int64_t kb, int64_t r, float *U) {
    const __m512i idx = _mm512_setr_epi32(0, 9, 18, 27, 36, 45, 54, 63, 72, 81, 90, 99, 108, 117, 126, 135);
    const int64_t us = j->ustride;
    for (int64_t c0 = 0; c0 < kb; c0 += 16) {
        __mmask16 m = lanes(kb - c0);
        __m512 gv[9], t[18], u[6];
        _Pragma("GCC unroll 9")
        for (int k = 0; k < 9; k++) gv[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, g + 9 * c0 + k, 4);
        _Pragma("GCC unroll 9")
        for (int jj = 0; jj < 3; jj++) {
            __m512 q[6];
            G3(__m512, gv[jj], gv[3 + jj], gv[6 + jj], q);
            _Pragma("GCC unroll 9")
            for (int a = 0; a < 6; a++) t[a * 3 + jj] = q[a];
        }
        float *dst = U + u_off(j, r, c0);
        _Pragma("GCC unroll 9")
        for (int a = 0; a < 6; a++) {
            G3(__m512, t[a * 3], t[a * 3 + 1], t[a * 3 + 2], u);
            if (m == 0xFFFF)
                _Pragma("GCC unroll 9")
                for (int b = 0; b < 6; b++) _mm512_store_ps(dst + (a * 6 + b) * us, u[b]);
            else
                _Pragma("GCC unroll 9")
                for (int b = 0; b < 6; b++) _mm512_mask_storeu_ps(dst + (a * 6 + b) * us, m, u[b]);
        }
    }
}

/* Output channel o (row r of the block's M) over tile row rl of the chunk, 16 tiles at a time: A^T
   down the columns, then along the rows, the four columns of the 16 tiles interleaved by permutes
   into 64 output pixels; bias and residual added before the store. */
IRIS_AVX512 static void output_avx512(const wino_job *j, const float *M, int64_t r, int64_t o, int64_t rl) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    int64_t R = j->R0 + rl, n = R / j->th, ty = R % j->th, xs = j->mstride;
    const float *mrow = M + r * j->ldm + rl * j->tw;
    __m512 bias = _mm512_set1_ps(j->bias ? j->bias[o] : 0.0f);
    int res_flat = j->res && j->rs[3] == 1;
    for (int64_t tx0 = 0; tx0 < j->tw; tx0 += 16) {
        __mmask16 m = lanes(j->tw - tx0);
        __m512 s[24];
        _Pragma("GCC unroll 9")
        for (int b = 0; b < 6; b++) {
            __m512 v[6], q[4];
            _Pragma("GCC unroll 9")
            for (int a = 0; a < 6; a++) v[a] = _mm512_maskz_loadu_ps(m, mrow + (a * 6 + b) * xs + tx0);
            AT4(__m512, v[0], v[1], v[2], v[3], v[4], v[5], q);
            _Pragma("GCC unroll 9")
            for (int jj = 0; jj < 4; jj++) s[jj * 6 + b] = q[jj];
        }
        int64_t wo0 = 4 * tx0, nv = min64(64, j->Wo - wo0);
        _Pragma("GCC unroll 9")
        for (int jj = 0; jj < 4; jj++) {
            int64_t ho = 4 * ty + jj;
            if (ho >= j->Ho) break;
            __m512 q[4];
            AT4(__m512, s[jj * 6], s[jj * 6 + 1], s[jj * 6 + 2], s[jj * 6 + 3], s[jj * 6 + 4], s[jj * 6 + 5], q);
            __m512 u02l = _mm512_permutex2var_ps(q[0], lo, q[2]), u02h = _mm512_permutex2var_ps(q[0], hi, q[2]);
            __m512 u13l = _mm512_permutex2var_ps(q[1], lo, q[3]), u13h = _mm512_permutex2var_ps(q[1], hi, q[3]);
            __m512 out[4] = {_mm512_permutex2var_ps(u02l, lo, u13l), _mm512_permutex2var_ps(u02l, hi, u13l),
                             _mm512_permutex2var_ps(u02h, lo, u13h), _mm512_permutex2var_ps(u02h, hi, u13h)};
            float *yr = j->y + ((n * j->O + o) * j->Ho + ho) * j->Wo + wo0;
            const float *rr = j->res ? j->res + n * j->rs[0] + o * j->rs[1] + ho * j->rs[2] + wo0 * j->rs[3] : NULL;
            for (int q4 = 0; q4 < 4 && 16 * q4 < nv; q4++) {
                __mmask16 k = lanes(nv - 16 * q4);
                __m512 v = _mm512_add_ps(out[q4], bias);
                if (res_flat) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, rr + 16 * q4));
                _mm512_mask_storeu_ps(yr + 16 * q4, k, v);
            }
            if (rr && !res_flat)
                for (int64_t q = 0; q < nv; q++) yr[q] += rr[q * j->rs[3]];
        }
    }
}

#undef ADD
#undef SUB
#undef MUL2
#undef MUL4
#undef MUL5
#undef MULK
#endif

static void input_rows(void *arg, int64_t begin, int64_t end, int tid) {
    wino_job *j = arg;
    float *rb = iris_cpu_scratch(j->cpu, tid, j->priv);
    for (int64_t it = begin; it < end; it++) {
        int64_t c = it / j->nR, rl = it % j->nR, R = j->R0 + rl;
        load_rows(j, R / j->th, c, R % j->th, rb);
#ifdef IRIS_X86
        if (j->avx512)
            input_avx512(j, c, rl, rb);
        else
#endif
            input_c(j, c, rl, rb);
        if (rl == j->nR - 1 && j->Np > j->Tc) /* the unused columns of the last panel: keep them zero */
            for (int xi = 0; xi < XI; xi++)
                for (int64_t t = j->Tc; t < j->Np; t++) j->V[xi * j->vstride + v_off(j, c, t)] = 0.0f;
    }
}

/* ---- a block of output channels: its kernels, 36 GEMMs, the output transform ---- */

/* Kernels of output channels [o0, o0 + m) over input channels [c0, c0 + kb) into U (36 packed A
   blocks of Mp x kc); rows past m zero. */
static void kernels(const wino_job *j, int64_t o0, int64_t m, int64_t c0, int64_t kb, float *U, float *wrow) {
    const int64_t us = j->ustride;
    for (int64_t r = 0; r < j->Mp; r++) {
        if (r >= m) { /* padding rows of the last register tile */
            for (int xi = 0; xi < XI; xi++) memset(U + xi * us + u_off(j, r, 0), 0, (size_t)kb * sizeof(float));
            continue;
        }
        const char *src = j->w + (o0 + r) * j->ldw + iris_row_bytes(j->wt, 9 * c0);
        const float *g = (const float *)src;
        if (j->wt != IRIS_F32) {
            iris_cpu_to_f32(j->wt, src, wrow, 9 * kb);
            g = wrow;
        }
#ifdef IRIS_X86
        if (j->avx512) {
            kernel_row_avx512(j, g, kb, r, U);
            continue;
        }
#endif
        for (int64_t c = 0; c < kb; c++) {
            float u[36];
            kernel_c(g + 9 * c, u);
            for (int xi = 0; xi < XI; xi++) U[xi * us + u_off(j, r, c)] = u[xi];
        }
    }
}

static void output_c(const wino_job *j, const float *M, int64_t r, int64_t o, int64_t rl) {
    int64_t R = j->R0 + rl, n = R / j->th, ty = R % j->th, xs = j->mstride;
    float b = j->bias ? j->bias[o] : 0.0f;
    for (int64_t tx = 0; tx < j->tw; tx++) {
        float mt[36], ot[16];
        for (int xi = 0; xi < XI; xi++) mt[xi] = M[xi * xs + r * j->ldm + rl * j->tw + tx];
        out_tile_c(mt, ot);
        for (int jj = 0; jj < 4 && 4 * ty + jj < j->Ho; jj++) {
            int64_t ho = 4 * ty + jj;
            float *yr = j->y + ((n * j->O + o) * j->Ho + ho) * j->Wo;
            const float *rr = j->res ? j->res + n * j->rs[0] + o * j->rs[1] + ho * j->rs[2] : NULL;
            for (int jx = 0; jx < 4 && 4 * tx + jx < j->Wo; jx++) {
                int64_t wo = 4 * tx + jx;
                yr[wo] = ot[jj * 4 + jx] + b + (rr ? rr[wo * j->rs[3]] : 0.0f);
            }
        }
    }
}

static void blocks(void *arg, int64_t begin, int64_t end, int tid) {
    wino_job *j = arg;
    char *s = iris_cpu_scratch(j->cpu, tid, j->priv);
    float *U = (float *)s, *M = (float *)(s + j->u_bytes), *wrow = (float *)(s + j->u_bytes + j->m_bytes);
    for (int64_t it = begin; it < end; it++) {
        int64_t o0 = it * j->mo, m = min64(j->mo, j->O - o0);
        /* a K block at a time, so that the transformed kernels (36 x Mp x kc) are used from L2 */
        for (int64_t c0 = 0; c0 < j->C; c0 += j->d.kc) {
            int64_t kb = min64(j->d.kc, j->C - c0);
            kernels(j, o0, m, c0, kb, U, wrow);
            for (int xi = 0; xi < XI; xi++)
                (c0 ? iris_cpu_sgemm_packed_add : iris_cpu_sgemm_packed)(
                    m, j->Tc, kb, U + xi * j->ustride, j->Mp, 0, j->V + xi * j->vstride + c0 * j->Np, j->Np, 0,
                    M + xi * j->mstride, j->ldm);
        }
        for (int64_t r = 0; r < m; r++) {
            int64_t o = o0 + r;
            for (int64_t rl = 0; rl < j->nR; rl++) {
#ifdef IRIS_X86
                if (j->avx512)
                    output_avx512(j, M, r, o, rl);
                else
#endif
                    output_c(j, M, r, o, rl);
                if (j->act != IRIS_ACT_NONE) { /* the tile row's output rows, still in cache */
                    int64_t R = j->R0 + rl, n = R / j->th, ho0 = R % j->th * 4, nh = min64(4, j->Ho - ho0);
                    for (int64_t h = 0; h < nh; h++)
                        iris_cpu_act(j->act, j->alpha, j->y + ((n * j->O + o) * j->Ho + ho0 + h) * j->Wo, j->Wo);
                }
            }
        }
    }
}

/* Register tiles (mr rows) per block of output channels. Threads take blocks in turn, so the call
   lasts as long as the most loaded thread's rows (simulated here); bigger blocks read V from L3 less
   often (every block reads all of it), worth a few per cent. */
static int64_t pick_block(int64_t O, int mr, int nth) {
    int64_t best = 1, n_tiles = ceil_div(O, mr);
    double best_cost = 0;
    for (int64_t per = 1; per <= MAX_BLOCKS && per <= n_tiles; per++) {
        int64_t load[16] = {0}, span = 0;
        int nt = nth < 16 ? nth : 16;
        for (int64_t o0 = 0; o0 < O; o0 += per * mr) { /* the next block to the least loaded thread */
            int t = 0;
            for (int u = 1; u < nt; u++) t = load[u] < load[t] ? u : t;
            load[t] += min64(per * mr, O - o0);
            span = load[t] > span ? load[t] : span;
        }
        double cost = (double)span * (1.0 + 0.05 / (double)per);
        if (per == 1 || cost < best_cost) best = per, best_cost = cost;
    }
    return best;
}

iris_status iris_cpu_conv2d_winograd(iris_cpu *cpu, const iris_op_call *c, const float *bias) {
    const iris_tensor *x = c->src[0], *w = c->src[1], *res = c->src[3];
    iris_tensor *y = c->dst;
    wino_job job = {.cpu = cpu, .N = x->ne[0], .C = x->ne[1], .H = x->ne[2], .W = x->ne[3], .O = w->ne[0],
                    .Ho = y->ne[2], .Wo = y->ne[3], .ph = c->ip[2], .pw = c->ip[3], .x = x->data, .w = w->data,
                    .wt = w->dtype, .bias = bias, .y = y->data, .act = (iris_act)c->ip[7], .alpha = c->fp[0]};
    wino_job *j = &job;
    j->ldw = (int64_t)iris_row_bytes(w->dtype, 9 * j->C);
    for (int d = 0; d < 4; d++) j->xs[d] = x->nb[d] / 4;
    if (res) {
        j->res = res->data;
        for (int d = 0; d < 4; d++) j->rs[d] = res->nb[d] / 4;
    }
    if (j->N * j->O * j->Ho * j->Wo == 0) return IRIS_OK;
    j->th = ceil_div(j->Ho, 4);
    j->tw = ceil_div(j->Wo, 4);
    j->d = iris_cpu_gemm_dims();
    j->avx512 = iris_cpu_simd() >= IRIS_SIMD_AVX512 && j->d.nr == 32;
    int nth = cpu->n_threads;
    int64_t n_tiles = ceil_div(j->O, j->d.mr), per = pick_block(j->O, j->d.mr, nth), n_blocks = ceil_div(n_tiles, per);
    j->mo = min64(j->O, per * j->d.mr);
    j->Mp = round_up(j->mo, j->d.mr);

    /* chunks of whole tile rows whose V fits V_BYTES */
    int64_t NR = j->N * j->th;
    int64_t rows = max64(1, (int64_t)V_BYTES / (XI * 4 * j->C * j->tw));
    int64_t n_chunks = ceil_div(NR, min64(rows, NR));
    rows = ceil_div(NR, n_chunks);
    int64_t np_max = round_up(rows * j->tw, j->d.nr);
    j->vstride = j->C * np_max + PLANE_SKEW;
    j->ldm = round_up(rows * j->tw, 16);
    j->lb = 4 * round_up(j->tw, 16) + 80;
    j->ustride = j->Mp * j->d.kc + PLANE_SKEW;
    j->mstride = j->mo * j->ldm + PLANE_SKEW;
    j->u_bytes = align64((size_t)(XI * j->ustride) * sizeof(float));
    j->m_bytes = align64((size_t)(XI * j->mstride) * sizeof(float));
    size_t blk = j->u_bytes + j->m_bytes + align64((size_t)(9 * j->d.kc + 16) * sizeof(float));
    size_t in = align64((size_t)(6 * j->lb) * sizeof(float));
    j->priv = blk > in ? blk : in;
    size_t v_bytes = (size_t)(XI * j->vstride) * sizeof(float);
    for (int t = 1; t < nth; t++)
        if (!iris_cpu_scratch(cpu, t, j->priv)) return iris_fail(IRIS_ERR_NOMEM, "conv2d (winograd): out of memory for scratch");
    char *s0 = iris_cpu_scratch(cpu, 0, j->priv + v_bytes + 64);
    if (!s0)
        return iris_fail(IRIS_ERR_NOMEM, "conv2d (winograd): out of memory for scratch (%zu MiB)", v_bytes >> 20);
    j->V = (float *)(s0 + j->priv);

    for (j->R0 = 0; j->R0 < NR; j->R0 += rows) {
        j->nR = min64(rows, NR - j->R0);
        j->Tc = j->nR * j->tw;
        j->Np = round_up(j->Tc, j->d.nr);
        iris_pool_for(cpu->pool, j->C * j->nR, max64(1, 64 / j->tw), input_rows, j);
        iris_cpu_for_each_tile(cpu, n_blocks, blocks, j);
    }
    return IRIS_OK;
}
