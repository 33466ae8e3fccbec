/* gemm.c - C = alpha * A @ B + beta * C in f32: the time of linear and conv is spent here.

   Two implementations. OpenBLAS (make BLAS=1, the default when it is installed) is used when
   the kernels it picked for this CPU are at least as wide as ours: Debian's 0.3.21 does not
   know Sapphire/Emerald Rapids and falls back to SSE3 kernels five times slower than the
   built-in one (OPENBLAS_CORETYPE=SkylakeX fixes its choice). The built-in kernel serves
   everything else and is forced on by tests and the benchmark so both stay checked.

   The built-in kernel is the usual three-level blocking: a K block of B is packed into
   panels as wide as the register tile and stays in L2; A is packed a block of rows at a time
   as plain rows KC floats apart (a copy, not a transpose: the microkernel broadcasts row r of
   its panel from a constant offset); the microkernel keeps an mr x nr block of C in registers
   over the K block. One microkernel per SIMD level: AVX-512 12x32 (with 8- and 4-row and
   half-width variants for edges), AVX2 6x16, portable 4x8. Matrix-vector products (M <= 4,
   B transposed as in linear layers) skip packing: dot products straight over the rows of B,
   which are read once. Convolutions use the packed-operand entry points (cpu.h): weights
   packed once per call and im2col writing straight into the packed B layout.

   Threads split C into disjoint blocks and each packs its own operands: no barriers, and the
   duplicated packing of the shared operand costs about nth/N of the work. OpenBLAS is called
   the same way, one single-threaded call per block, which keeps its own spinning threads from
   competing with our pool (measurements in docs/BENCHMARKS.md).
*/
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cpu.h"
#include "vecmath.h"

#ifdef IRIS_WITH_OPENBLAS
#include <cblas.h>
#endif
#ifdef IRIS_X86
#include <immintrin.h>
#endif

#define KC 256      /* K block: one packed A panel (kc x 12 floats) is 12 KiB, within L1 */
#define GEMV_MAX_M 4

/* C[m x n] = alpha * A panel @ B panel + beta * C for any m <= mr, n <= nr; full tiles are the fast case. */
typedef void (*ukr_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                       float beta, int m, int n);
typedef void (*gemv_fn)(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

typedef struct {
    int mr, nr;     /* register tile */
    int64_t mc, nc; /* A block rows (L2), B block columns (L2) */
    ukr_fn ukr;
    gemv_fn gemv_t;
    /* B rows [0, kc) x cols [0, nc), not transposed, into nr-wide panels */
    void (*pack_b_n)(int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst);
    /* the same from B given transposed ([N, K] rows, as linear weights are) */
    void (*pack_b_t)(int nr, int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst);
} gemm_kernel;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* C = alpha * T + beta * C over an m x n block of a tile T computed with alpha 1, beta 0. */
static void store_tile(const float *t, int64_t ldt, int m, int n, float *c, int64_t ldc, float alpha,
                       float beta) {
    for (int r = 0; r < m; r++) {
        float *cr = c + r * ldc;
        const float *tr = t + r * ldt;
        if (beta == 0)
            for (int j = 0; j < n; j++) cr[j] = alpha * tr[j];
        else
            for (int j = 0; j < n; j++) cr[j] = alpha * tr[j] + beta * cr[j];
    }
}

/* ---- portable kernels ---- */

static void ukr_c(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha, float beta,
                  int m, int n) {
    float acc[4][8] = {{0}};
    for (int64_t k = 0; k < kc; k++, a++, b += 8)
        for (int r = 0; r < 4; r++)
            for (int j = 0; j < 8; j++) acc[r][j] += a[r * KC] * b[j];
    store_tile(&acc[0][0], 8, m, n, c, ldc, alpha, beta);
}

static float dot_c(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) s[j] += a[k + j] * b[k + j];
    for (; k < n; k++) s[0] += a[k] * b[k];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static void gemv_t_c(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                     int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            float v = alpha * dot_c(A + m * lda, B + n * ldb, K);
            float *c = C + m * ldc + n;
            *c = beta == 0 ? v : v + beta * *c;
        }
}

#ifdef IRIS_X86
/* ---- AVX2: 6 x 16 tile, 12 accumulators + 2 B vectors + 1 broadcast of 16 registers ---- */

#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)

IRIS_AVX2 static void ukr_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                               float beta, int m, int n) {
#define DECL2(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
    ROWS6(DECL2)
    for (int64_t k = 0; k < kc; k++, a++, b += 16) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#define FMA2(r)                                      \
    {                                                \
        __m256 x = _mm256_broadcast_ss(a + r * KC);  \
        c##r##0 = _mm256_fmadd_ps(x, b0, c##r##0);   \
        c##r##1 = _mm256_fmadd_ps(x, b1, c##r##1);   \
    }
        ROWS6(FMA2)
    }
    if (m < 6 || n < 16) { /* edge tile: spill, then store the valid part */
        _Alignas(32) float t[6 * 16];
#define SP2(r) _mm256_store_ps(t + r * 16, c##r##0), _mm256_store_ps(t + r * 16 + 8, c##r##1);
        ROWS6(SP2)
        store_tile(t, 16, m, n, c, ldc, alpha, beta);
        return;
    }
    __m256 va = _mm256_set1_ps(alpha);
    if (beta == 0) {
#define ST2A(r)                                                         \
    _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(va, c##r##0));          \
    _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(va, c##r##1));
        ROWS6(ST2A)
    } else {
        __m256 vb = _mm256_set1_ps(beta);
#define ST2B(r)                                                                                        \
    _mm256_storeu_ps(c + r * ldc, _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + r * ldc), _mm256_mul_ps(va, c##r##0))); \
    _mm256_storeu_ps(c + r * ldc + 8,                                                                  \
                     _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + r * ldc + 8), _mm256_mul_ps(va, c##r##1)));
        ROWS6(ST2B)
    }
}

/* Full 16-wide panels with two vector copies per k; the last panel pads with zeros. */
IRIS_AVX2 static void pack_b_n_avx2(int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst) {
    for (int64_t j = 0; j < nc; j += 16, dst += kc * 16) {
        int64_t n = min64(16, nc - j);
        for (int64_t k = 0; k < kc; k++) {
            const float *s = B + k * ldb + j;
            float *d = dst + k * 16;
            if (n == 16) {
                _mm256_store_ps(d, _mm256_loadu_ps(s));
                _mm256_store_ps(d + 8, _mm256_loadu_ps(s + 8));
            } else {
                for (int c = 0; c < 16; c++) d[c] = c < n ? s[c] : 0.0f;
            }
        }
    }
}

/* B^T panels through 8x8 register transposes: a scalar transposing copy costs a third of the time of
   a linear layer with a few dozen rows of x. */
IRIS_AVX2 static void pack_b_t_avx2(int nr, int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst) {
    for (int64_t j = 0; j < nc; j += nr, dst += kc * nr) {
        int n = (int)min64(nr, nc - j), c = 0;
        for (; c + 8 <= n; c += 8) {
            const float *s = B + (j + c) * ldb;
            int64_t k = 0;
            for (; k + 8 <= kc; k += 8) {
                __m256 r0 = _mm256_loadu_ps(s + k), r1 = _mm256_loadu_ps(s + ldb + k),
                       r2 = _mm256_loadu_ps(s + 2 * ldb + k), r3 = _mm256_loadu_ps(s + 3 * ldb + k),
                       r4 = _mm256_loadu_ps(s + 4 * ldb + k), r5 = _mm256_loadu_ps(s + 5 * ldb + k),
                       r6 = _mm256_loadu_ps(s + 6 * ldb + k), r7 = _mm256_loadu_ps(s + 7 * ldb + k);
                __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
                __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
                __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
                __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
                __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
                __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
                __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
                __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
                float *d = dst + k * nr + c;
                _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
                _mm256_storeu_ps(d + nr, _mm256_permute2f128_ps(u1, u5, 0x20));
                _mm256_storeu_ps(d + 2 * nr, _mm256_permute2f128_ps(u2, u6, 0x20));
                _mm256_storeu_ps(d + 3 * nr, _mm256_permute2f128_ps(u3, u7, 0x20));
                _mm256_storeu_ps(d + 4 * nr, _mm256_permute2f128_ps(u0, u4, 0x31));
                _mm256_storeu_ps(d + 5 * nr, _mm256_permute2f128_ps(u1, u5, 0x31));
                _mm256_storeu_ps(d + 6 * nr, _mm256_permute2f128_ps(u2, u6, 0x31));
                _mm256_storeu_ps(d + 7 * nr, _mm256_permute2f128_ps(u3, u7, 0x31));
            }
            for (; k < kc; k++)
                for (int cc = 0; cc < 8; cc++) dst[k * nr + c + cc] = s[cc * ldb + k];
        }
        for (; c < n; c++) {
            const float *src = B + (j + c) * ldb;
            for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = src[k];
        }
        for (c = n; c < nr; c++)
            for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = 0;
    }
}

/* Four rows of B at a time share each load of A; B (the weights) is read once from memory. */
IRIS_AVX2 static void gemv_t_avx2(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                  const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    int64_t K8 = K & ~(int64_t)7;
    for (int64_t n = 0; n < N; n += 4) {
        int nb = (int)min64(4, N - n);
        const float *b[4];
        for (int j = 0; j < 4; j++) b[j] = B + (n + (j < nb ? j : 0)) * ldb;
        for (int64_t m = 0; m < M; m++) {
            const float *a = A + m * lda;
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (int64_t k = 0; k < K8; k += 8) {
                __m256 x = _mm256_loadu_ps(a + k);
                s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b[0] + k), s0);
                s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b[1] + k), s1);
                s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b[2] + k), s2);
                s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b[3] + k), s3);
            }
            float r[4] = {iris_vm_hsum8(s0), iris_vm_hsum8(s1), iris_vm_hsum8(s2), iris_vm_hsum8(s3)};
            for (int j = 0; j < nb; j++) {
                for (int64_t k = K8; k < K; k++) r[j] += a[k] * b[j][k];
                float *c = C + m * ldc + n + j;
                *c = beta == 0 ? alpha * r[j] : alpha * r[j] + beta * *c;
            }
        }
    }
}

/* ---- AVX-512: 12 x 32 tile, 24 accumulators + 2 B vectors of 32 registers; A is
   broadcast straight from memory ---- */

#define ROWS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define ROWS4(X) X(0) X(1) X(2) X(3)

/* One kernel per row count (12, 8, 4) so an edge tile of few rows does not pay for 12; A panels are
   always packed 12 wide. Columns past n are masked off at the store. */
#define DECL5(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define FMA5(r)                                      \
    {                                                \
        __m512 x = _mm512_set1_ps(a[r * KC]);        \
        c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);   \
        c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);   \
    }
#define ST5(r)                                                                                    \
    if (r < m) {                                                                                  \
        float *cr = c + r * ldc;                                                                  \
        __m512 v0 = _mm512_mul_ps(va, c##r##0), v1 = _mm512_mul_ps(va, c##r##1);                  \
        if (beta != 0) {                                                                          \
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, cr), v0);                          \
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, cr + 16), v1);                     \
        }                                                                                         \
        _mm512_mask_storeu_ps(cr, k0, v0);                                                        \
        _mm512_mask_storeu_ps(cr + 16, k1, v1);                                                   \
    }
#define UKR512(NAME, ROWS)                                                                            \
    IRIS_AVX512 static void NAME(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,     \
                                 float alpha, float beta, int m, int n) {                              \
        ROWS(DECL5)                                                                                   \
        for (int64_t k = 0; k < kc; k++, a++, b += 32) {                                              \
            __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);                               \
            ROWS(FMA5)                                                                                \
        }                                                                                             \
        __mmask16 k0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);                                 \
        __mmask16 k1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;             \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                 \
        ROWS(ST5)                                                                                     \
    }
UKR512(ukr_avx512_12, ROWS12)
UKR512(ukr_avx512_8, ROWS8)
UKR512(ukr_avx512_4, ROWS4)

/* Half-width variants for a last panel of at most 16 columns (outputs of 7x7, 14x14 and 28x28 maps
   end in one), so it costs half a panel. */
#define DECLH(r) __m512 c##r##0 = _mm512_setzero_ps();
#define FMAH(r) c##r##0 = _mm512_fmadd_ps(_mm512_set1_ps(a[r * KC]), b0, c##r##0);
#define STH(r)                                                                                    \
    if (r < m) {                                                                                  \
        float *cr = c + r * ldc;                                                                  \
        __m512 v0 = _mm512_mul_ps(va, c##r##0);                                                   \
        if (beta != 0) v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, cr), v0);              \
        _mm512_mask_storeu_ps(cr, k0, v0);                                                        \
    }
#define UKR512H(NAME, ROWS)                                                                           \
    IRIS_AVX512 static void NAME(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,     \
                                 float alpha, float beta, int m, int n) {                              \
        ROWS(DECLH)                                                                                   \
        for (int64_t k = 0; k < kc; k++, a++, b += 32) {                                              \
            __m512 b0 = _mm512_load_ps(b);                                                            \
            ROWS(FMAH)                                                                                \
        }                                                                                             \
        __mmask16 k0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);                                 \
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                                 \
        ROWS(STH)                                                                                     \
    }
UKR512H(ukr_avx512_12h, ROWS12)
UKR512H(ukr_avx512_8h, ROWS8)
UKR512H(ukr_avx512_4h, ROWS4)

IRIS_AVX512 static void ukr_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                                   float alpha, float beta, int m, int n) {
    if (n <= 16) {
        if (m > 8) ukr_avx512_12h(kc, a, b, c, ldc, alpha, beta, m, n);
        else if (m > 4) ukr_avx512_8h(kc, a, b, c, ldc, alpha, beta, m, n);
        else ukr_avx512_4h(kc, a, b, c, ldc, alpha, beta, m, n);
    } else if (m > 8) {
        ukr_avx512_12(kc, a, b, c, ldc, alpha, beta, m, n);
    } else if (m > 4) {
        ukr_avx512_8(kc, a, b, c, ldc, alpha, beta, m, n);
    } else {
        ukr_avx512_4(kc, a, b, c, ldc, alpha, beta, m, n);
    }
}

IRIS_AVX512 static void pack_b_n_avx512(int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst) {
    for (int64_t j = 0; j < nc; j += 32, dst += kc * 32) {
        int64_t n = min64(32, nc - j);
        __mmask16 k0 = n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
        __mmask16 k1 = n >= 32 ? 0xFFFF : n > 16 ? (__mmask16)((1u << (n - 16)) - 1) : 0;
        for (int64_t k = 0; k < kc; k++) {
            const float *s = B + k * ldb + j;
            _mm512_store_ps(dst + k * 32, _mm512_maskz_loadu_ps(k0, s));
            _mm512_store_ps(dst + k * 32 + 16, _mm512_maskz_loadu_ps(k1, s + 16));
        }
    }
}

IRIS_AVX512 static void gemv_t_avx512(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                                      const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    int64_t K16 = K & ~(int64_t)15;
    __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1);
    for (int64_t n = 0; n < N; n += 4) {
        int nb = (int)min64(4, N - n);
        const float *b[4];
        for (int j = 0; j < 4; j++) b[j] = B + (n + (j < nb ? j : 0)) * ldb;
        for (int64_t m = 0; m < M; m++) {
            const float *a = A + m * lda;
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (int64_t k = 0; k < K16; k += 16) {
                __m512 x = _mm512_loadu_ps(a + k);
                s0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b[0] + k), s0);
                s1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b[1] + k), s1);
                s2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b[2] + k), s2);
                s3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b[3] + k), s3);
            }
            if (tail) {
                __m512 x = _mm512_maskz_loadu_ps(tail, a + K16);
                s0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tail, b[0] + K16), s0);
                s1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tail, b[1] + K16), s1);
                s2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tail, b[2] + K16), s2);
                s3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(tail, b[3] + K16), s3);
            }
            float r[4] = {_mm512_reduce_add_ps(s0), _mm512_reduce_add_ps(s1), _mm512_reduce_add_ps(s2),
                          _mm512_reduce_add_ps(s3)};
            for (int j = 0; j < nb; j++) {
                float *c = C + m * ldc + n + j;
                *c = beta == 0 ? alpha * r[j] : alpha * r[j] + beta * *c;
            }
        }
    }
}
#endif

static void pack_b_n_c(int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst) {
    for (int64_t j = 0; j < nc; j += 8, dst += kc * 8) {
        int64_t n = min64(8, nc - j);
        for (int64_t k = 0; k < kc; k++)
            for (int c = 0; c < 8; c++) dst[k * 8 + c] = c < n ? B[k * ldb + j + c] : 0.0f;
    }
}

static void pack_b_t(int nr, int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst);

static const gemm_kernel kernel_c = {4, 8, 64, 512, ukr_c, gemv_t_c, pack_b_n_c, pack_b_t};
#ifdef IRIS_X86
static const gemm_kernel kernel_avx2 = {6, 16, 96, 1024, ukr_avx2, gemv_t_avx2, pack_b_n_avx2, pack_b_t_avx2};
static const gemm_kernel kernel_avx512 = {12, 32, 192, 1024, ukr_avx512, gemv_t_avx512, pack_b_n_avx512, pack_b_t_avx2};
#endif

static const gemm_kernel *pick_kernel(void) {
#ifdef IRIS_X86
    int s = iris_cpu_simd();
    if (s >= IRIS_SIMD_AVX512) return &kernel_avx512;
    if (s >= IRIS_SIMD_AVX2) return &kernel_avx2;
#endif
    return &kernel_c;
}

/* ---- packing ---- */

/* Rows [0, mc) x cols [0, kc) of A as a row-major block with rows KC floats apart, rows past mc (to the
   next multiple of mr) zero. The fixed row stride lets the microkernel broadcast row r of the panel
   from a constant offset, so packing A is a row copy rather than a transpose. */
static void pack_a(int mr, int64_t mc, int64_t kc, const float *A, int64_t lda, float *dst) {
    for (int64_t r = 0; r < mc; r++) memcpy(dst + r * KC, A + r * lda, (size_t)kc * sizeof(float));
    for (int64_t r = mc; r < round_up(mc, mr); r++) memset(dst + r * KC, 0, (size_t)kc * sizeof(float));
}

/* Rows [0, kc) x cols [0, nc) of B^T (B given as [N, K], ldb) into panels of nr columns, k-major
   inside a panel; columns past nc are zero. */
static void pack_b_t(int nr, int64_t kc, int64_t nc, const float *B, int64_t ldb, float *dst) {
    for (int64_t j = 0; j < nc; j += nr, dst += kc * nr) {
        int n = (int)min64(nr, nc - j);
        for (int c = 0; c < n; c++) {
            const float *src = B + (j + c) * ldb;
            for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = src[k];
        }
        for (int c = n; c < nr; c++)
            for (int64_t k = 0; k < kc; k++) dst[k * nr + c] = 0;
    }
}

static size_t work_floats(const gemm_kernel *kr, int64_t M, int64_t N, int64_t K) {
    int64_t kc = min64(KC, K), mc = min64(kr->mc, round_up(M, kr->mr)), nc = min64(kr->nc, round_up(N, kr->nr));
    return (size_t)(mc * KC + nc * kc);
}

size_t iris_cpu_sgemm_work_bytes(int64_t M, int64_t N, int64_t K) {
    if (M <= 0 || N <= 0 || K <= 0) return 64;
    size_t f = work_floats(&kernel_c, M, N, K);
#ifdef IRIS_X86
    size_t f2 = work_floats(&kernel_avx2, M, N, K), f5 = work_floats(&kernel_avx512, M, N, K);
    if (f2 > f) f = f2;
    if (f5 > f) f = f5;
#endif
    return f * sizeof(float) + 64;
}

static void gemm_blocked(const gemm_kernel *kr, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                         int64_t ldc, float *work) {
    const int mr = kr->mr, nr = kr->nr;
    int64_t mcmax = min64(kr->mc, round_up(M, mr));
    float *Ap = work, *Bp = work + mcmax * KC;
    for (int64_t jc = 0; jc < N; jc += kr->nc) {
        int64_t nc = min64(kr->nc, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = min64(KC, K - pc);
            float bk = pc ? 1.0f : beta; /* later K blocks accumulate */
            if (trans_b)
                kr->pack_b_t(nr, kc, nc, B + jc * ldb + pc, ldb, Bp);
            else
                kr->pack_b_n(kc, nc, B + pc * ldb + jc, ldb, Bp);
            for (int64_t ic = 0; ic < M; ic += kr->mc) {
                int64_t mc = min64(kr->mc, M - ic);
                pack_a(mr, mc, kc, A + ic * lda + pc, lda, Ap);
                for (int64_t ir = 0; ir < mc; ir += mr) {
                    int m = (int)min64(mr, mc - ir);
                    const float *ap = Ap + ir * KC;
                    for (int64_t jr = 0; jr < nc; jr += nr)
                        kr->ukr(kc, ap, Bp + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, alpha, bk, m,
                                (int)min64(nr, nc - jr));
                }
            }
        }
    }
}

/* No scratch to pack into: correct, slow. */
static void gemm_naive(int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++) s += A[i * lda + k] * (trans_b ? B[j * ldb + k] : B[k * ldb + j]);
            float *c = C + i * ldc + j;
            *c = beta == 0 ? alpha * s : alpha * s + beta * *c;
        }
}

/* ---- choosing the implementation ---- */

static atomic_int gemm_impl = -1; /* -1: not read from the environment yet */

static int impl_from_env(void) {
    const char *e = getenv("IRIS_GEMM");
    if (e && !strcmp(e, "builtin")) return IRIS_GEMM_BUILTIN;
    if (e && !strcmp(e, "openblas")) return IRIS_GEMM_OPENBLAS;
    return IRIS_GEMM_AUTO;
}

int iris_cpu_sgemm_select(int impl) {
    int old = atomic_load(&gemm_impl);
    if (old < 0) old = impl_from_env();
    atomic_store(&gemm_impl, impl);
    return old;
}

#ifdef IRIS_WITH_OPENBLAS
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_simd; /* SIMD level of the kernels OpenBLAS picked for this CPU */

/* Our pool supplies the threads; each call into OpenBLAS runs on the thread that makes it. A
   DYNAMIC_ARCH OpenBLAS that does not know the CPU (0.3.21 on Sapphire/Emerald Rapids) falls back
   to SSE3 "Prescott" kernels; OPENBLAS_CORETYPE=SkylakeX overrides its choice. */
static void blas_init(void) {
    openblas_set_num_threads(1);
    const char *core = openblas_get_corename();
    static const char *avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *avx2[] = {"haswell", "zen", "skylake", "cannonlake", "icelake"};
    blas_simd = IRIS_SIMD_SCALAR;
    for (size_t i = 0; core && i < sizeof avx2 / sizeof *avx2; i++)
        if (!strcasecmp(core, avx2[i])) blas_simd = IRIS_SIMD_AVX2;
    for (size_t i = 0; core && i < sizeof avx512 / sizeof *avx512; i++)
        if (!strcasecmp(core, avx512[i])) blas_simd = IRIS_SIMD_AVX512;
}

static int blas_fits(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
    return M < INT_MAX && N < INT_MAX && K < INT_MAX && lda < INT_MAX && ldb < INT_MAX && ldc < INT_MAX;
}
#endif

int iris_cpu_sgemm_uses_openblas(void) {
#ifdef IRIS_WITH_OPENBLAS
    int impl = atomic_load(&gemm_impl);
    if (impl < 0) {
        impl = impl_from_env();
        atomic_store(&gemm_impl, impl);
    }
    pthread_once(&blas_once, blas_init);
    if (impl == IRIS_GEMM_OPENBLAS) return 1;
    return impl == IRIS_GEMM_AUTO && blas_simd >= iris_cpu_simd();
#else
    return 0;
#endif
}

static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0)
            memset(c, 0, (size_t)N * sizeof(float));
        else
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

void iris_cpu_sgemm_1t(int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                       const float *B, int64_t ldb, float beta, float *C, int64_t ldc, void *work) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
#ifdef IRIS_WITH_OPENBLAS
    if (iris_cpu_sgemm_uses_openblas() && blas_fits(M, N, K, lda, ldb, ldc)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                    alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    const gemm_kernel *kr = pick_kernel();
    if (trans_b && M <= GEMV_MAX_M) {
        kr->gemv_t(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (!work) {
        gemm_naive(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    float *w = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    gemm_blocked(kr, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, w);
}

/* ---- packed operands (convolutions) ---- */

iris_gemm_dims iris_cpu_gemm_dims(void) {
    const gemm_kernel *kr = pick_kernel();
    iris_gemm_dims d = {kr->mr, kr->nr, KC};
    return d;
}

void iris_cpu_gemm_pack_a(int64_t M, int64_t K, const float *A, int64_t lda, float *Ap, int64_t Mp, int64_t m0) {
    const gemm_kernel *kr = pick_kernel();
    for (int64_t pc = 0; pc < K; pc += KC) {
        int64_t kc = min64(KC, K - pc);
        pack_a(kr->mr, M, kc, A + pc, lda, Ap + pc * Mp + m0 * KC);
    }
}

static void sgemm_packed(int64_t m, int64_t n, int64_t K, const float *Ap, int64_t Mp, int64_t m0, const float *Bp,
                         int64_t Np, int64_t n0, float *C, int64_t ldc, float beta0) {
    const gemm_kernel *kr = pick_kernel();
    const int mr = kr->mr, nr = kr->nr;
    if (m <= 0 || n <= 0) return;
    if (K <= 0) {
        scale_c(m, n, beta0, C, ldc);
        return;
    }
    for (int64_t pc = 0; pc < K; pc += KC) {
        int64_t kc = min64(KC, K - pc);
        const float *a = Ap + pc * Mp + m0 * KC, *b = Bp + pc * Np + n0 * kc;
        float beta = pc ? 1.0f : beta0;
        for (int64_t ir = 0; ir < m; ir += mr) {
            int mm = (int)min64(mr, m - ir);
            for (int64_t jr = 0; jr < n; jr += nr)
                kr->ukr(kc, a + ir * KC, b + jr * kc, C + ir * ldc + jr, ldc, 1.0f, beta, mm, (int)min64(nr, n - jr));
        }
    }
}

void iris_cpu_sgemm_packed(int64_t m, int64_t n, int64_t K, const float *Ap, int64_t Mp, int64_t m0,
                           const float *Bp, int64_t Np, int64_t n0, float *C, int64_t ldc) {
    sgemm_packed(m, n, K, Ap, Mp, m0, Bp, Np, n0, C, ldc, 0.0f);
}

void iris_cpu_sgemm_packed_add(int64_t m, int64_t n, int64_t K, const float *Ap, int64_t Mp, int64_t m0,
                               const float *Bp, int64_t Np, int64_t n0, float *C, int64_t ldc) {
    sgemm_packed(m, n, K, Ap, Mp, m0, Bp, Np, n0, C, ldc, 1.0f);
}

size_t iris_cpu_sgemm_packed_b_work_bytes(int64_t K) {
    return (size_t)(12 * round_up(K > 0 ? K : 1, KC)) * sizeof(float) + 64; /* 12 = the largest mr */
}

void iris_cpu_sgemm_packed_b(int64_t m, int64_t n, int64_t K, const float *A, int64_t lda, const float *Bp,
                             int64_t Np, int64_t n0, float *C, int64_t ldc, void *work) {
    const gemm_kernel *kr = pick_kernel();
    const int mr = kr->mr, nr = kr->nr;
    if (m <= 0 || n <= 0) return;
    if (K <= 0) {
        scale_c(m, n, 0.0f, C, ldc);
        return;
    }
    /* One panel of mr rows of A over the whole of K at a time: its rows are read start to end, a few
       long sequential streams, where packing a tall block per K block would hop between hundreds of
       rows -- which for weights coming from memory costs more than the arithmetic. */
    float *Ap = (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
    for (int64_t ir = 0; ir < m; ir += mr) {
        int mm = (int)min64(mr, m - ir);
        for (int64_t pc = 0; pc < K; pc += KC) pack_a(mr, mm, min64(KC, K - pc), A + ir * lda + pc, lda, Ap + pc * mr);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int64_t kc = min64(KC, K - pc);
            const float *b = Bp + pc * Np + n0 * kc;
            for (int64_t jr = 0; jr < n; jr += nr)
                kr->ukr(kc, Ap + pc * mr, b + jr * kc, C + ir * ldc + jr, ldc, 1.0f, pc ? 1.0f : 0.0f, mm,
                        (int)min64(nr, n - jr));
        }
    }
}

/* ---- one tile at a time ---- */

typedef struct {
    iris_range_fn fn;
    void *arg;
    int64_t n;
    atomic_llong next;
} each_job;

static void each_worker(void *a, int tid, int nth) {
    each_job *e = a;
    (void)nth;
    for (int64_t i; (i = atomic_fetch_add(&e->next, 1)) < e->n;) e->fn(e->arg, i, i + 1, tid);
}

void iris_cpu_for_each_tile(iris_cpu *cpu, int64_t n, iris_range_fn fn, void *arg) {
    if (n <= 1 || cpu->n_threads == 1) {
        if (n > 0) fn(arg, 0, n, 0);
        return;
    }
    each_job e = {fn, arg, n, 0};
    iris_pool_run(cpu->pool, each_worker, &e);
}

/* ---- threaded driver ---- */

typedef struct {
    iris_cpu *cpu;
    int trans_b, pm, pn; /* C split into pm x pn blocks, one per thread */
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

/* Boundary t of p near-equal parts of [0, n), on multiples of `align` where possible. */
static int64_t split_at(int64_t n, int p, int t, int64_t align) {
    if (t >= p) return n;
    int64_t b = round_up(n * t / p, align);
    return b < n ? b : n;
}

static void gemm_part(void *arg, int tid, int nth) {
    gemm_job *j = arg;
    if (tid >= j->pm * j->pn) return;
    (void)nth;
    int ti = tid / j->pn, tj = tid % j->pn;
    int64_t i0 = split_at(j->M, j->pm, ti, 12), i1 = split_at(j->M, j->pm, ti + 1, 12);
    int64_t j0 = split_at(j->N, j->pn, tj, 32), j1 = split_at(j->N, j->pn, tj + 1, 32);
    if (i0 >= i1 || j0 >= j1) return;
    int64_t m = i1 - i0, n = j1 - j0;
    void *work = iris_cpu_scratch(j->cpu, tid, iris_cpu_sgemm_work_bytes(m, n, j->K));
    const float *b = j->trans_b ? j->B + j0 * j->ldb : j->B + j0;
    iris_cpu_sgemm_1t(j->trans_b, m, n, j->K, j->alpha, j->A + i0 * j->lda, j->lda, b, j->ldb, j->beta,
                      j->C + i0 * j->ldc + j0, j->ldc, work);
}

void iris_cpu_sgemm(iris_cpu *cpu, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
#ifdef IRIS_WITH_OPENBLAS
    /* someone may have given OpenBLAS threads of its own since blas_init */
    if (iris_cpu_sgemm_uses_openblas() && openblas_get_num_threads() != 1) openblas_set_num_threads(1);
#endif
    int nth = cpu->n_threads;
    double flops = 2.0 * (double)M * (double)N * (double)K;
    /* below ~100k flops a thread handoff costs more than it saves */
    if (nth > 1 && flops > 1e5) {
        /* pm x pn = threads used; each of the pn column groups packs all its rows of A and each of
           the pm row groups packs its columns of B: pick the grid that packs least. */
        int best_pm = 1, best_pn = nth;
        double best = -1;
        for (int pm = 1; pm <= nth; pm++) {
            if (nth % pm) continue;
            int pn = nth / pm;
            if ((pm > 1 && M < 2 * pm) || (pn > 1 && N < 2 * pn)) continue;
            double cost = (double)pn * (double)M + (double)pm * (double)N;
            if (best < 0 || cost < best) best = cost, best_pm = pm, best_pn = pn;
        }
        if (best >= 0) {
            gemm_job j = {cpu, trans_b, best_pm, best_pn, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C};
            iris_pool_run(cpu->pool, gemm_part, &j);
            return;
        }
    }
    void *work = iris_cpu_scratch(cpu, 0, iris_cpu_sgemm_work_bytes(M, N, K));
    iris_cpu_sgemm_1t(trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, work);
}
