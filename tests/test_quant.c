/* test_quant.c - GGUF block formats: encoders, decoders, dot-product kernels.

   References: tests/ref/quant.safetensors (tests/ref/gen_quant.py), made with gguf-py's
   quantize/dequantize and with ggml's own reference quantizers, run-time activation
   quantizers and vec_dot kernels (llama.cpp vendored by llama-cpp-python 0.3.36), plus
   real tensors as llama-quantize wrote them into the stories260K GGUF files. The dot
   kernels are also checked on every SIMD path against a double-precision dot of the
   decoded operands, and on hand-built extreme blocks. */
#include <stdlib.h>
#include <string.h>

#include "../core/cpu/cpu.h"
#include "../core/cpu/quant_dot.h"
#include "../core/gguf.h"
#include "../core/quant.h"
#include "../core/safetensors.h"
#include "test.h"

#define REF "quant.safetensors"

/* ------------------------------------------------------------ helpers */

static const uint8_t *ref_bytes(const char *name, size_t *len) {
    iris_safetensors *st = test_ref(REF);
    if (!st) return NULL;
    const iris_st_entry *e = iris_safetensors_find(st, name);
    if (!CHECK_MSG(e != NULL, "reference tensor %s missing", name)) return NULL;
    *len = (size_t)(e->end - e->begin);
    return st->map.data + e->begin;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}
static float uniform(void) { return (float)((rnd() >> 8) + 0.5) / 16777216.0f; }
static float gauss(void) { return sqrtf(-2.0f * logf(uniform())) * cosf(6.2831853f * uniform()); }

/* Random row with the awkward cases: outliers, an all-zero block, a constant block. */
static void fill_row(float *x, int64_t n, int bs) {
    float scale = 0.1f + 3.0f * uniform();
    for (int64_t i = 0; i < n; i++) x[i] = gauss() * scale;
    for (int k = 0; k < 3 && n >= 8; k++) x[rnd() % n] = gauss() * scale * 40.0f;
    if (n >= 2 * bs) {
        int64_t b = (int64_t)(rnd() % (uint32_t)(n / bs)) * bs;
        memset(x + b, 0, (size_t)bs * sizeof *x);
    }
    if (n >= 3 * bs) {
        int64_t b = (int64_t)(rnd() % (uint32_t)(n / bs)) * bs;
        for (int j = 0; j < bs; j++) x[b + j] = x[b];
    }
}

static const iris_dtype BLOCK_TYPES[] = {IRIS_Q4_0, IRIS_Q4_1, IRIS_Q5_0, IRIS_Q5_1, IRIS_Q8_0, IRIS_Q2_K,
                                         IRIS_Q3_K, IRIS_Q4_K, IRIS_Q5_K, IRIS_Q6_K, IRIS_Q8_K};
#define N_BLOCK_TYPES (int)(sizeof BLOCK_TYPES / sizeof BLOCK_TYPES[0])

/* IRIS_SIMD settings the dot tests run under; NULL = no cap (the best the CPU has). */
static const char *SIMD_PATHS[] = {"scalar", "avx2", NULL};
static void use_simd(const char *cap) {
    if (cap) setenv("IRIS_SIMD", cap, 1);
    else unsetenv("IRIS_SIMD");
    iris_cpu_simd_refresh();
}
static void restore_simd(void) { use_simd(NULL); }

static int same_floats(const float *a, const float *b, int64_t n, int64_t *first_bad) {
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i] && !(isnan(a[i]) && isnan(b[i]))) {
            *first_bad = i;
            return 0;
        }
    return 1;
}

/* sum w[i]*x[i] of the decoded operands, in double, and sum |w[i]*x[i]| for the tolerance. */
static double ref_dot(iris_dtype wt, int64_t n, const void *w, const void *x, double *mag) {
    float *fw = malloc((size_t)n * sizeof *fw), *fx = malloc((size_t)n * sizeof *fx);
    iris_dequantize_row(wt, w, fw, n);
    iris_dequantize_row(iris_vec_dot_type(wt), x, fx, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)fw[i] * fx[i];
        m += fabs((double)fw[i] * fx[i]);
    }
    free(fw);
    free(fx);
    *mag = m;
    return s;
}

/* ------------------------------------------------------------ encoders */

TEST(quant_encode_bit_exact_vs_gguf_py_and_ggml) {
    int64_t nx;
    float *x = test_ref_f32(REF, "x", &nx);
    if (!x) return;
    const int64_t n = 512, rows = nx / n;
    static const iris_dtype types[] = {IRIS_Q4_0, IRIS_Q4_1, IRIS_Q5_0, IRIS_Q5_1, IRIS_Q8_0, IRIS_Q2_K, IRIS_Q3_K,
                                       IRIS_Q4_K, IRIS_Q5_K, IRIS_Q6_K, IRIS_Q8_K, IRIS_F16,  IRIS_BF16};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const iris_dtype t = types[k];
        char name[32];
        snprintf(name, sizeof name, "q_%s", iris_dtype_name(t));
        size_t len;
        const uint8_t *want = ref_bytes(name, &len);
        if (!want) continue;
        const size_t rb = iris_row_bytes(t, n);
        CHECK_INT(len, rb * (size_t)rows);
        uint8_t *got = malloc(rb);
        int bad_rows = 0, first = -1;
        for (int64_t r = 0; r < rows && len == rb * (size_t)rows; r++) {
            CHECK_OK(iris_quantize_row(t, x + r * n, got, n));
            if (memcmp(got, want + r * rb, rb)) {
                if (first < 0) first = (int)r;
                bad_rows++;
            }
        }
        CHECK_MSG(bad_rows == 0, "%s: %d of %lld rows differ from the reference (first: row %d)", iris_dtype_name(t),
                  bad_rows, (long long)rows, first);
        free(got);
    }
    free(x);
}

/* The F32 originals from stories260K-f32.gguf re-quantized must give exactly the blocks
   llama-quantize stored in the q4_0 / q8_0 / q4_k_m files (copied by gen_quant.py). */
TEST(quant_encode_real_tensors_like_llama_quantize) {
    static const struct { const char *f32, *q; iris_dtype t; } cases[] = {
        {"real0_f32", "real0_q4_0", IRIS_Q4_0}, {"real1_f32", "real1_q8_0", IRIS_Q8_0},
        {"real2_f32", "real2_q4_0", IRIS_Q4_0}, {"real3_f32", "real3_q8_0", IRIS_Q8_0},
        {"real4_f32", "real4_q5_0", IRIS_Q5_0}, {"real5_f32", "real5_q5_0", IRIS_Q5_0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t n;
        float *x = test_ref_f32(REF, cases[k].f32, &n);
        size_t len;
        const uint8_t *want = ref_bytes(cases[k].q, &len);
        if (!x || !want) {
            free(x);
            continue;
        }
        CHECK_INT(len, iris_row_bytes(cases[k].t, n));
        uint8_t *got = malloc(len);
        CHECK_OK(iris_quantize_row(cases[k].t, x, got, n));
        CHECK_MSG(!memcmp(got, want, len), "%s: re-quantized %s differs from the file", cases[k].q,
                  iris_dtype_name(cases[k].t));
        free(got);
        free(x);
    }
}

TEST(quant_encode_rejects_bad_requests) {
    float x[64] = {0};
    uint8_t buf[512];
    CHECK_INT(iris_quantize_row(IRIS_Q4_0, x, buf, 33), IRIS_ERR_SHAPE);
    CHECK(strstr(iris_last_error(), "q4_0") != NULL);
    CHECK_INT(iris_quantize_row(IRIS_Q4_K, x, buf, 64), IRIS_ERR_SHAPE);
    CHECK_INT(iris_quantize_row(IRIS_U8, x, buf, 64), IRIS_ERR_UNSUPPORTED);
    CHECK_INT(iris_quantize_row(IRIS_I32, x, buf, 64), IRIS_ERR_UNSUPPORTED);
    CHECK_INT(iris_quantize_row((iris_dtype)99, x, buf, 64), IRIS_ERR_ARG);
    CHECK_INT(iris_quantize_row_dot(IRIS_Q8_0, x, buf, 48), IRIS_ERR_SHAPE);
    CHECK_OK(iris_quantize_row(IRIS_Q8_0, x, buf, 0));
}

/* Q8_0 activations: the run-time encoder matches ggml's CPU backend byte for byte on every
   SIMD path, the reference encoder matches quantize_row_q8_0_ref, and the fixture has rows
   (exact .5 ties) where the two differ, so the two are really told apart. */
TEST(quant_activation_encoders_match_ggml) {
    int64_t na;
    float *a = test_ref_f32(REF, "a", &na);
    size_t l8, l8r, l8k;
    const uint8_t *q8 = ref_bytes("a_q8_0", &l8), *q8r = ref_bytes("a_q8_0_ref", &l8r), *q8k = ref_bytes("a_q8_k", &l8k);
    if (!a || !q8 || !q8r || !q8k) {
        free(a);
        return;
    }
    CHECK_INT(l8, iris_row_bytes(IRIS_Q8_0, na));
    CHECK_INT(l8k, iris_row_bytes(IRIS_Q8_K, na));
    CHECK(memcmp(q8, q8r, l8) != 0);
    uint8_t *got = malloc(l8k > l8 ? l8k : l8);
    for (int p = 0; p < 3; p++) {
        use_simd(SIMD_PATHS[p]);
        CHECK_OK(iris_quantize_row_dot(IRIS_Q8_0, a, got, na));
        CHECK_MSG(!memcmp(got, q8, l8), "run-time q8_0 differs from ggml (IRIS_SIMD=%s)",
                  SIMD_PATHS[p] ? SIMD_PATHS[p] : "default");
        CHECK_OK(iris_quantize_row_dot(IRIS_Q8_K, a, got, na));
        CHECK_MSG(!memcmp(got, q8k, l8k), "q8_k differs from ggml (IRIS_SIMD=%s)", SIMD_PATHS[p] ? SIMD_PATHS[p] : "default");
    }
    restore_simd();
    CHECK_OK(iris_quantize_row(IRIS_Q8_0, a, got, na));
    CHECK(!memcmp(got, q8r, l8));
    /* and the run-time encoder agrees on random data across paths, including odd block counts */
    for (int64_t n = 32; n <= 32 * 9; n += 64) {
        float x[32 * 9];
        uint8_t b0[34 * 9], b1[34 * 9];
        fill_row(x, n, 32);
        use_simd("scalar");
        CHECK_OK(iris_quantize_row_dot(IRIS_Q8_0, x, b0, n));
        restore_simd();
        CHECK_OK(iris_quantize_row_dot(IRIS_Q8_0, x, b1, n));
        CHECK(!memcmp(b0, b1, iris_row_bytes(IRIS_Q8_0, n)));
    }
    /* Q8_K: the SIMD encoder against the portable reference one, ties of |max| included */
    for (int64_t n = 256; n <= 256 * 3; n += 256) {
        float x[256 * 3];
        uint8_t b0[292 * 3], b1[292 * 3];
        fill_row(x, n, 32);
        x[5] = -50.0f; /* equal magnitudes, opposite signs: the first decides the scale's sign */
        x[100] = 50.0f;
        if (n > 256) x[256 + 9] = 60.0f, x[256 + 10] = -60.0f;
        CHECK_OK(iris_quantize_row(IRIS_Q8_K, x, b0, n));
        CHECK_OK(iris_quantize_row_dot(IRIS_Q8_K, x, b1, n));
        CHECK(!memcmp(b0, b1, iris_row_bytes(IRIS_Q8_K, n)));
    }
    free(got);
    free(a);
}

/* ------------------------------------------------------------ decoders */

TEST(quant_decode_exact_vs_gguf_py) {
    for (int k = 0; k < N_BLOCK_TYPES; k++) {
        const iris_dtype t = BLOCK_TYPES[k];
        const int bs = iris_dtype_get(t)->block_size;
        /* blocks from the encoders, then arbitrary bit patterns (gguf-py has no q8_k decoder) */
        for (int set = 0; set < 2; set++) {
            if (set == 1 && t == IRIS_Q8_K) continue;
            char qn[32], dn[32];
            snprintf(qn, sizeof qn, set ? "rb_%s" : "q_%s", iris_dtype_name(t));
            snprintf(dn, sizeof dn, set ? "rbdq_%s" : "dq_%s", iris_dtype_name(t));
            size_t len;
            const uint8_t *q = ref_bytes(qn, &len);
            int64_t n;
            float *want = test_ref_f32(REF, dn, &n);
            if (!q || !want) {
                free(want);
                continue;
            }
            CHECK_INT(len, iris_row_bytes(t, n));
            CHECK(n % bs == 0);
            float *got = malloc((size_t)n * sizeof *got);
            iris_dequantize_row(t, q, got, n);
            int64_t bad = -1;
            CHECK_MSG(same_floats(got, want, n, &bad), "%s: element %lld is %.9g, gguf-py says %.9g", dn,
                      (long long)bad, bad >= 0 ? got[bad] : 0.0, bad >= 0 ? want[bad] : 0.0);
            free(got);
            free(want);
        }
    }
}

/* Hand-worked blocks: one value per type whose bits are written out here. */
TEST(quant_decode_hand_worked_blocks) {
    float y[256];
    iris_block_q4_0 b40 = {0};
    b40.d = iris_f32_to_f16(0.5f);
    b40.qs[0] = 0x1f; /* elem 0: 15 -> 3.5; elem 16: 1 -> -3.5 */
    iris_dequantize_row(IRIS_Q4_0, &b40, y, 32);
    CHECK_NEAR(y[0], 3.5, 0);
    CHECK_NEAR(y[16], -3.5, 0);
    CHECK_NEAR(y[1], -4.0, 0);

    iris_block_q5_0 b50 = {0};
    b50.d = iris_f32_to_f16(0.25f);
    b50.qh[2] = 0x01;  /* bit 16: elem 16 gets the fifth bit */
    b50.qs[0] = 0x3f;  /* elem 0: 15 -> -0.25; elem 16: 3 | 16 = 19 -> 0.75 */
    iris_dequantize_row(IRIS_Q5_0, &b50, y, 32);
    CHECK_NEAR(y[0], -0.25, 0);
    CHECK_NEAR(y[16], 0.75, 0);

    iris_block_q4_k b4k = {0};
    b4k.d = iris_f32_to_f16(1.0f);
    b4k.dmin = iris_f32_to_f16(0.5f);
    b4k.scales[1] = 3;           /* sub-block 1: scale 3 */
    b4k.scales[5] = 2;           /* sub-block 1: min 2 */
    b4k.scales[11] = 0x21;       /* sub-block 7: scale low 1, min low 2 ... */
    b4k.scales[3] = 0x40;        /* ... scale high bits 01 -> 17 */
    b4k.scales[7] = 0x80;        /* ... min high bits 10 -> 34 */
    b4k.qs[0] = 0x50;            /* elem 32 (sub-block 1, high nibble of qs[0]) = 5 */
    b4k.qs[96 + 31] = 0xa0;      /* elem 255 (sub-block 7) = 10 */
    iris_dequantize_row(IRIS_Q4_K, &b4k, y, 256);
    CHECK_NEAR(y[32], 3 * 5 - 0.5 * 2, 0);
    CHECK_NEAR(y[33], -1.0, 0);
    CHECK_NEAR(y[255], 17 * 10 - 0.5 * 34, 0);
    CHECK_NEAR(y[0], 0.0, 0);

    iris_block_q6_k b6 = {0};
    b6.d = iris_f32_to_f16(0.5f);
    b6.scales[5] = -3;  /* elems 80..95 */
    b6.scales[15] = 2;  /* elems 240..255 */
    b6.ql[16] = 0x70;   /* elem 64 + 16 = 80: low 4 bits 7 */
    b6.qh[16] = 0x30;   /* bits 4..5 -> elem 80 high bits 3: q = 7 | 48 = 55 -> 23 */
    b6.ql[64 + 63] = 0xf0; /* half 1, elem 128 + 64 + 63 = 255: low bits 15 */
    b6.qh[32 + 31] = 0xc0; /* bits 6..7 of qh[63] -> elem 255 high bits 3: q = 63 -> 31 */
    iris_dequantize_row(IRIS_Q6_K, &b6, y, 256);
    CHECK_NEAR(y[80], 0.5 * -3 * 23, 0);
    CHECK_NEAR(y[255], 0.5 * 2 * 31, 0);
    CHECK_NEAR(y[81], 0.5 * -3 * -32, 0);

    int32_t iv[3] = {-7, 0, 16777217};
    iris_dequantize_row(IRIS_I32, iv, y, 3);
    CHECK_NEAR(y[0], -7, 0);
    CHECK_NEAR(y[2], 16777216.0, 0);
    uint16_t bf[2] = {0x3f80, 0xc0a0};
    iris_dequantize_row(IRIS_BF16, bf, y, 2);
    CHECK_NEAR(y[1], -5.0, 0);

    /* a ragged length decodes the whole blocks and zero-fills the rest */
    y[40] = 123;
    iris_dequantize_row(IRIS_Q4_0, &b40, y, 41);
    CHECK_NEAR(y[40], 0, 0);
    CHECK_NEAR(y[0], 3.5, 0);
}

TEST(quant_h2f_fast_path_matches_dtype) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float a = iris_qdot_h2f((uint16_t)h), b = iris_f16_to_f32((uint16_t)h);
        if (isnan(b) ? !isnan(a) : (a != b || signbit(a) != signbit(b))) bad++;
    }
    CHECK_INT(bad, 0);
}

/* ------------------------------------------------------------ round trips */

/* Worst element error of quantize -> dequantize against a bound derived per block from the
   format (legacy types, Q8_K, F16, BF16), and relative RMS error for the K-quants, whose
   scale search has no closed-form bound. */
TEST(quant_roundtrip_error_bounds) {
    static const struct { iris_dtype t; double rms; } kq[] = {
        /* measured on Gaussian rows: 0.31, 0.16, 0.072, 0.036, 0.018 (about halving per bit) */
        {IRIS_Q2_K, 0.34}, {IRIS_Q3_K, 0.175}, {IRIS_Q4_K, 0.08}, {IRIS_Q5_K, 0.04}, {IRIS_Q6_K, 0.02},
    };
    const int64_t sizes[] = {256, 768, 2816};
    for (int si = 0; si < 3; si++) {
        const int64_t n = sizes[si];
        float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
        uint8_t *q = malloc(iris_row_bytes(IRIS_F32, n));
        for (int k = 0; k < N_BLOCK_TYPES; k++) {
            const iris_dtype t = BLOCK_TYPES[k];
            const int bs = iris_dtype_get(t)->block_size;
            fill_row(x, n, bs);
            CHECK_OK(iris_quantize_row(t, x, q, n));
            iris_dequantize_row(t, q, y, n);
            int bad = 0;
            for (int64_t b = 0; b < n; b += bs) {
                float amax = 0, mn = x[b], mx = x[b];
                for (int j = 0; j < bs; j++) {
                    amax = fmaxf(amax, fabsf(x[b + j]));
                    mn = fminf(mn, x[b + j]);
                    mx = fmaxf(mx, x[b + j]);
                }
                double bound;
                switch (t) {
                case IRIS_Q8_0: bound = amax / 127.0 * 0.51 + amax * 1e-3; break;
                case IRIS_Q4_0: bound = amax / 8.0 * 1.002; break;   /* -max maps to 8, clamped to 7 */
                case IRIS_Q5_0: bound = amax / 16.0 * 1.002; break;
                case IRIS_Q4_1: bound = (mx - mn) / 15.0 * 0.51 + fabsf(mn) * 1e-3 + (mx - mn) * 1e-2; break;
                case IRIS_Q5_1: bound = (mx - mn) / 31.0 * 0.51 + fabsf(mn) * 1e-3 + (mx - mn) * 1e-2; break;
                case IRIS_Q8_K: bound = amax / 127.0 * 0.5001; break;
                default: bound = INFINITY; break;
                }
                for (int j = 0; j < bs; j++) {
                    double e = fabs((double)y[b + j] - x[b + j]);
                    if (e > bound) bad++;
                }
            }
            CHECK_MSG(bad == 0, "%s n=%lld: %d elements beyond the per-block bound", iris_dtype_name(t), (long long)n, bad);
        }
        /* K-quants on plain Gaussian rows (outliers above make the error whatever the outlier allows) */
        for (size_t j = 0; j < sizeof kq / sizeof kq[0]; j++) {
            for (int64_t i = 0; i < n; i++) x[i] = gauss();
            CHECK_OK(iris_quantize_row(kq[j].t, x, q, n));
            iris_dequantize_row(kq[j].t, q, y, n);
            double e2 = 0, x2 = 0;
            for (int64_t i = 0; i < n; i++) {
                e2 += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
                x2 += (double)x[i] * x[i];
            }
            CHECK_MSG(sqrt(e2 / x2) < kq[j].rms, "%s n=%lld: relative rms error %.4f >= %.3f", iris_dtype_name(kq[j].t),
                      (long long)n, sqrt(e2 / x2), kq[j].rms);
        }
        /* F16 and BF16: round to nearest, so half an ulp */
        fill_row(x, n, 1);
        CHECK_OK(iris_quantize_row(IRIS_F16, x, q, n));
        iris_dequantize_row(IRIS_F16, q, y, n);
        int bad16 = 0, bad_bf = 0;
        for (int64_t i = 0; i < n; i++)
            if (fabsf(y[i] - x[i]) > fabsf(x[i]) * 0x1p-11f + 0x1p-25f) bad16++;
        CHECK_OK(iris_quantize_row(IRIS_BF16, x, q, n));
        iris_dequantize_row(IRIS_BF16, q, y, n);
        for (int64_t i = 0; i < n; i++)
            if (fabsf(y[i] - x[i]) > fabsf(x[i]) * 0x1p-8f) bad_bf++;
        CHECK_INT(bad16, 0);
        CHECK_INT(bad_bf, 0);
        free(x);
        free(y);
        free(q);
    }
}

/* ------------------------------------------------------------ dot products */

/* Every weight type, every SIMD path, block counts that leave tails for 2-block unrolls:
   the kernel must agree with the double dot of the decoded operands to float rounding. */
TEST(quant_dot_every_type_every_path_vs_double) {
    static const iris_dtype types[] = {IRIS_Q4_0, IRIS_Q4_1, IRIS_Q5_0, IRIS_Q5_1, IRIS_Q8_0, IRIS_Q2_K, IRIS_Q3_K,
                                       IRIS_Q4_K, IRIS_Q5_K, IRIS_Q6_K, IRIS_Q8_K, IRIS_F32,  IRIS_F16,  IRIS_BF16};
    const int64_t legacy_n[] = {32, 64, 96, 224, 544, 4128}, k_n[] = {256, 512, 768, 1280, 4096},
                  plain_n[] = {1, 7, 17, 33, 65, 127, 1000};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const iris_dtype wt = types[ti], xt = iris_vec_dot_type(wt);
        const int bs = iris_dtype_get(wt)->block_size;
        const int64_t *ns = bs == 1 ? plain_n : bs == 32 ? legacy_n : k_n;
        const int nn = bs == 1 ? 7 : bs == 32 ? 6 : 5;
        for (int k = 0; k < nn; k++) {
            const int64_t n = ns[k];
            float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4);
            uint8_t *wq = malloc((size_t)n * 4 + 64), *xq = malloc((size_t)n * 4 + 64);
            fill_row(w, n, bs);
            fill_row(x, n, bs);
            CHECK_OK(iris_quantize_row(wt, w, wq, n));
            CHECK_OK(iris_quantize_row_dot(xt, x, xq, n));
            double mag;
            const double want = ref_dot(wt, n, wq, xq, &mag);
            float first = 0;
            for (int p = 0; p < 3; p++) {
                use_simd(SIMD_PATHS[p]);
                const float got = iris_vec_dot(wt, n, wq, xq);
                CHECK_MSG(fabs(got - want) <= 1e-5 * mag + 1e-30,
                          "%s n=%lld %s: %.9g vs %.9g (scale %.3g)", iris_dtype_name(wt), (long long)n,
                          iris_qdot_path(wt, iris_cpu_simd()), got, want, mag);
                if (p == 0) first = got;
                else
                    CHECK_MSG(fabs(got - first) <= 1e-5 * mag + 1e-30, "%s n=%lld: paths disagree", iris_dtype_name(wt),
                              (long long)n);
            }
            restore_simd();
            free(w);
            free(x);
            free(wq);
            free(xq);
        }
    }
}

/* The paths the dot test above runs really are different kernels on this machine. */
TEST(quant_dot_paths_are_distinct) {
    CHECK(!strcmp(iris_qdot_path(IRIS_Q4_0, IRIS_SIMD_SCALAR), "scalar"));
    CHECK(!strcmp(iris_qdot_path(IRIS_Q4_1, IRIS_SIMD_AVX512), "scalar"));
    CHECK(!strcmp(iris_qdot_path(IRIS_U8, IRIS_SIMD_AVX512), "none"));
    CHECK(iris_qdot_kernel(IRIS_U8, IRIS_SIMD_AVX512) == NULL);
    use_simd(NULL);
    const int best = iris_cpu_simd();
    restore_simd();
    if (best < IRIS_SIMD_AVX2) SKIP("no AVX2 on this CPU: only the portable path runs");
    CHECK(!strcmp(iris_qdot_path(IRIS_Q4_K, IRIS_SIMD_AVX2), "avx2"));
    if (best >= IRIS_SIMD_AVX512) {
        CHECK(!strcmp(iris_qdot_path(IRIS_F16, IRIS_SIMD_AVX512), "avx512"));
        CHECK(!strcmp(iris_qdot_path(IRIS_Q6_K, IRIS_SIMD_AVX512), iris_qdot_has_vnni() ? "avx512vnni" : "avx2"));
    }
}

/* Against ggml's own kernels on its own activations: ours may differ only by float summation
   order, except Q4_1/Q5_1, where ggml pairs them with Q8_1 whose stored sum is rounded to f16. */
TEST(quant_dot_vs_ggml_vec_dot) {
    static const iris_dtype types[] = {IRIS_Q4_0, IRIS_Q4_1, IRIS_Q5_0, IRIS_Q5_1, IRIS_Q8_0, IRIS_Q2_K,
                                       IRIS_Q3_K, IRIS_Q4_K, IRIS_Q5_K, IRIS_Q6_K, IRIS_F16,  IRIS_F32};
    const int64_t n = 512;
    int64_t na;
    float *a = test_ref_f32(REF, "a", &na), *x = test_ref_f32(REF, "x", NULL);
    size_t l8, l8k;
    const uint8_t *a8 = ref_bytes("a_q8_0", &l8), *a8k = ref_bytes("a_q8_k", &l8k);
    if (!a || !x || !a8 || !a8k) goto out;
    const int64_t rows = na / n;
    uint8_t abuf[2048];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const iris_dtype wt = types[ti];
        char name[32];
        snprintf(name, sizeof name, "dot_%s", iris_dtype_name(wt));
        int64_t nd;
        float *want = test_ref_f32(REF, name, &nd);
        if (!want) continue;
        CHECK_INT(nd, rows);
        size_t lw = 0;
        snprintf(name, sizeof name, "q_%s", iris_dtype_name(wt));
        const uint8_t *wq = wt == IRIS_F32 ? NULL : ref_bytes(name, &lw);
        const size_t rbw = iris_row_bytes(wt, n);
        const double tol = wt == IRIS_Q4_1 || wt == IRIS_Q5_1 ? 2e-3 : 2e-6;
        for (int p = 0; p < 3; p++) {
            use_simd(SIMD_PATHS[p]);
            for (int64_t r = 0; r < rows && r < nd; r++) {
                const void *w = wt == IRIS_F32 ? (const void *)(x + r * n) : (const void *)(wq + r * rbw);
                const void *act;
                if (wt == IRIS_F32) act = a + r * n;
                else if (wt == IRIS_F16) {
                    CHECK_OK(iris_quantize_row(IRIS_F16, a + r * n, abuf, n));
                    act = abuf;
                } else if (iris_vec_dot_type(wt) == IRIS_Q8_K) act = a8k + r * iris_row_bytes(IRIS_Q8_K, n);
                else act = a8 + r * iris_row_bytes(IRIS_Q8_0, n);
                double mag;
                ref_dot(wt, n, w, act, &mag);
                const float got = iris_vec_dot(wt, n, w, act);
                CHECK_MSG(fabs(got - want[r]) <= tol * mag + 1e-30, "%s row %lld (%s): %.9g, ggml %.9g (scale %.3g)",
                          iris_dtype_name(wt), (long long)r, iris_qdot_path(wt, iris_cpu_simd()), got, want[r], mag);
            }
        }
        restore_simd();
        free(want);
    }
out:
    free(a);
    free(x);
}

/* Extreme blocks where 16-bit intermediate sums would saturate if a kernel got them wrong;
   the expected values are worked out by hand. */
TEST(quant_dot_extreme_blocks) {
    enum { NB = 3 };
    iris_block_q8_0 w8[NB], x8[NB];
    for (int i = 0; i < NB; i++) {
        w8[i].d = iris_f32_to_f16(0.5f);
        x8[i].d = iris_f32_to_f16(0.25f);
        for (int j = 0; j < 32; j++) {
            w8[i].qs[j] = -128;                  /* possible in files, never from the encoder */
            x8[i].qs[j] = (int8_t)(j & 1 ? -127 : 127);
        }
        x8[i].qs[0] = -127;
    }
    /* per block: -128 * (15*127 - 17*127) = 32512; times 0.125, 3 blocks */
    iris_block_q4_0 w4[NB];
    for (int i = 0; i < NB; i++) {
        w4[i].d = iris_f32_to_f16(2.0f);
        memset(w4[i].qs, 0x00, 16); /* all -8 */
    }
    iris_block_q8_0 y8[NB];
    for (int i = 0; i < NB; i++) {
        y8[i].d = iris_f32_to_f16(1.0f);
        memset(y8[i].qs, 0x81, 32); /* all -127 */
    }
    iris_block_q6_k w6 = {0};
    w6.d = iris_f32_to_f16(1.0f);
    memset(w6.scales, 0x80, 16); /* -128 */
    /* all q = 0 -> value -32 */
    iris_block_q8_k y6 = {0};
    y6.d = 1.0f;
    memset(y6.qs, 0x81, 256);
    for (int g = 0; g < 16; g++) y6.bsums[g] = -127 * 16;
    iris_block_q4_k w4k = {0};
    w4k.d = iris_f32_to_f16(1.0f);
    memset(w4k.scales, 0xff, 12); /* all scales and mins 63 */
    memset(w4k.qs, 0xff, 128);    /* all 15 */
    iris_block_q8_k y4k = {0};
    y4k.d = 1.0f;
    memset(y4k.qs, 127, 256);
    for (int g = 0; g < 16; g++) y4k.bsums[g] = 127 * 16;
    for (int p = 0; p < 3; p++) {
        use_simd(SIMD_PATHS[p]);
        CHECK_NEAR(iris_vec_dot(IRIS_Q8_0, 32 * NB, w8, x8), 3 * 0.125 * 32512, 0);
        float rows[5];
        iris_vec_dot_rows(IRIS_Q8_0, 32 * NB, 5, w8, 0, x8, rows); /* stride 0: five times the same row */
        for (int r = 0; r < 5; r++) CHECK_NEAR(rows[r], 3 * 0.125 * 32512, 0);
        iris_vec_dot_rows(IRIS_Q4_0, 32 * NB, 5, w4, 0, y8, rows);
        for (int r = 0; r < 5; r++) CHECK_NEAR(rows[r], 3 * 2.0 * 32 * 8 * 127, 0);
        CHECK_NEAR(iris_vec_dot(IRIS_Q4_0, 32 * NB, w4, y8), 3 * 2.0 * 32 * 8 * 127, 0);
        CHECK_NEAR(iris_vec_dot(IRIS_Q6_K, 256, &w6, &y6), 256.0 * -128 * -32 * -127, 0);
        CHECK_NEAR(iris_vec_dot(IRIS_Q4_K, 256, &w4k, &y4k), 256.0 * 63 * 15 * 127, 0); /* dmin = 0 */
    }
    restore_simd();
}

/* The matrix-vector entry point on every path: 4-row kernels plus leftover rows, padded strides. */
TEST(quant_dot_rows_every_path) {
    static const iris_dtype types[] = {IRIS_Q4_0, IRIS_Q8_0, IRIS_Q5_0, IRIS_Q4_K, IRIS_Q6_K, IRIS_F16};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const iris_dtype wt = types[ti], xt = iris_vec_dot_type(wt);
        const int64_t n = iris_dtype_get(wt)->block_size == 256 ? 512 : 96;
        const size_t rb = iris_row_bytes(wt, n), stride = rb + 16;
        for (int64_t nrows = 1; nrows <= 9; nrows += 2) {
            uint8_t *w = calloc((size_t)nrows, stride), *xq = malloc((size_t)n * 4);
            float f[512], out[9];
            for (int64_t r = 0; r < nrows; r++) {
                fill_row(f, n, 32);
                CHECK_OK(iris_quantize_row(wt, f, w + r * stride, n));
            }
            fill_row(f, n, 32);
            CHECK_OK(iris_quantize_row_dot(xt, f, xq, n));
            for (int p = 0; p < 3; p++) {
                use_simd(SIMD_PATHS[p]);
                iris_vec_dot_rows(wt, n, nrows, w, stride, xq, out);
                int far = 0;
                for (int64_t r = 0; r < nrows; r++) {
                    double mag, ref = ref_dot(wt, n, w + r * stride, xq, &mag);
                    if (fabs(out[r] - ref) > 1e-5 * mag + 1e-30) far++;
                }
                CHECK_MSG(far == 0, "%s rows=%lld %s: %d rows off", iris_dtype_name(wt), (long long)nrows,
                          SIMD_PATHS[p] ? SIMD_PATHS[p] : "default", far);
            }
            restore_simd();
            free(w);
            free(xq);
        }
    }
}

/* iris_vec_dot_mm must give each pair exactly iris_vec_dot's float (llama's exact mode runs whole
   prompts through it): compared bit for bit at every SIMD level, odd row counts on both sides
   so the 4-row kernels meet their single-row remainders, odd block counts for the 2-block loops. */
TEST(quant_dot_mm_bit_identical_every_path) {
    static const iris_dtype types[] = {IRIS_Q4_0, IRIS_Q8_0, IRIS_Q4_K, IRIS_Q6_K, IRIS_Q5_K, IRIS_Q4_1};
    static const int levels[] = {IRIS_SIMD_SCALAR, IRIS_SIMD_AVX2, IRIS_SIMD_AVX512};
    static const int64_t nws[] = {1, 7, 17, 33}, nxs[] = {1, 3, 4, 9, 13};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const iris_dtype wt = types[ti], xt = iris_vec_dot_type(wt);
        const int big = iris_dtype_get(wt)->block_size == 256;
        for (int nk = 0; nk < 2; nk++) {
            const int64_t n = big ? 256 * (1 + 2 * nk) : 32 * (7 + nk);
            const size_t ws = iris_row_bytes(wt, n) + 8, xs = iris_row_bytes(xt, n) + 24;
            uint8_t *w = calloc(33, ws), *x = calloc(13, xs);
            float *f = malloc((size_t)n * sizeof(float)), out[13 * 40], want;
            for (int64_t r = 0; r < 33; r++) {
                fill_row(f, n, 32);
                CHECK_OK(iris_quantize_row(wt, f, w + r * ws, n));
            }
            for (int64_t i = 0; i < 13; i++) {
                fill_row(f, n, 32);
                CHECK_OK(iris_quantize_row_dot(xt, f, x + i * xs, n));
            }
            for (size_t li = 0; li < 3; li++) {
                const int simd = levels[li];
                if (simd > iris_cpu_simd()) continue;
                const iris_qdot_fn one = iris_qdot_kernel(wt, simd);
                for (size_t a = 0; a < 4; a++)
                    for (size_t b = 0; b < 5; b++) {
                        const int64_t nw = nws[a], nx = nxs[b];
                        iris_qdot_mm(wt, simd, n, nw, w, ws, nx, x, xs, out, 40);
                        int diff = 0, zero = 0;
                        for (int64_t i = 0; i < nx; i++)
                            for (int64_t r = 0; r < nw; r++) {
                                want = one(n, w + r * ws, x + i * xs);
                                diff += memcmp(&want, &out[i * 40 + r], sizeof want) != 0;
                                zero += want == 0.0f;
                            }
                        CHECK_MSG(diff == 0 && zero == 0, "%s n=%lld %s %lldx%lld: %d differ, %d zero",
                                  iris_dtype_name(wt), (long long)n, iris_qdot_path(wt, simd), (long long)nx,
                                  (long long)nw, diff, zero);
                    }
            }
            /* the public form at the capped levels against iris_vec_dot */
            for (int p = 0; p < 3; p++) {
                use_simd(SIMD_PATHS[p]);
                iris_vec_dot_mm(wt, n, 17, w, ws, 9, x, xs, out, 17);
                int diff = 0;
                for (int64_t i = 0; i < 9; i++)
                    for (int64_t r = 0; r < 17; r++) {
                        want = iris_vec_dot(wt, n, w + r * ws, x + i * xs);
                        diff += memcmp(&want, &out[i * 17 + r], sizeof want) != 0;
                    }
                CHECK_MSG(diff == 0, "%s public %s: %d differ", iris_dtype_name(wt),
                          SIMD_PATHS[p] ? SIMD_PATHS[p] : "default", diff);
            }
            restore_simd();
            free(w);
            free(x);
            free(f);
        }
    }
#if defined(IRIS_X86)
    if (iris_cpu_simd() >= IRIS_SIMD_AVX2) { /* the 4-row kernels exist, so the comparison above tested them */
        CHECK(iris_qdot_mm_has_kernel(IRIS_Q4_0, IRIS_SIMD_AVX2) && iris_qdot_mm_has_kernel(IRIS_Q6_K, IRIS_SIMD_AVX2));
        CHECK(iris_qdot_mm_has_kernel(IRIS_Q8_0, IRIS_SIMD_AVX2) && iris_qdot_mm_has_kernel(IRIS_Q4_K, IRIS_SIMD_AVX2));
    }
#endif
    CHECK(!iris_qdot_mm_has_kernel(IRIS_Q4_0, IRIS_SIMD_SCALAR) && !iris_qdot_mm_has_kernel(IRIS_Q4_1, IRIS_SIMD_AVX2));
    /* bad sizes: zeros, like iris_vec_dot */
    float o[4] = {1, 1, 1, 1};
    uint8_t junk[64] = {0};
    iris_vec_dot_mm(IRIS_Q4_K, 100, 2, junk, 0, 2, junk, 0, o, 2);
    CHECK(o[0] == 0 && o[1] == 0 && o[2] == 0 && o[3] == 0);
}

TEST(quant_dot_rows_and_bad_sizes) {
    const int64_t n = 512, rows = 5;
    float x[512], w[512];
    uint8_t wq[5 * 288], xq[292 * 2];
    for (int64_t r = 0; r < rows; r++) {
        fill_row(w, n, 32);
        CHECK_OK(iris_quantize_row(IRIS_Q4_K, w, wq + r * 288, n));
    }
    fill_row(x, n, 32);
    CHECK_OK(iris_quantize_row_dot(IRIS_Q8_K, x, xq, n));
    float out[5];
    iris_vec_dot_rows(IRIS_Q4_K, n, rows, wq, 288, xq, out);
    for (int64_t r = 0; r < rows; r++) CHECK_NEAR(out[r], iris_vec_dot(IRIS_Q4_K, n, wq + r * 288, xq), 0);
    CHECK(out[0] != 0);
    /* not a whole number of blocks, or a type without a kernel: 0, no read */
    CHECK_NEAR(iris_vec_dot(IRIS_Q4_K, 300, wq, xq), 0, 0);
    CHECK_NEAR(iris_vec_dot(IRIS_U8, 16, wq, xq), 0, 0);
    iris_vec_dot_rows(IRIS_Q4_K, 100, 2, wq, 288, xq, out);
    CHECK_NEAR(out[0], 0, 0);
    CHECK_NEAR(out[1], 0, 0);
}

TEST(quant_vec_dot_types) {
    CHECK_INT(iris_vec_dot_type(IRIS_Q4_0), IRIS_Q8_0);
    CHECK_INT(iris_vec_dot_type(IRIS_Q5_1), IRIS_Q8_0);
    CHECK_INT(iris_vec_dot_type(IRIS_Q2_K), IRIS_Q8_K);
    CHECK_INT(iris_vec_dot_type(IRIS_Q6_K), IRIS_Q8_K);
    CHECK_INT(iris_vec_dot_type(IRIS_F16), IRIS_F16);
    CHECK_INT(iris_vec_dot_type(IRIS_BF16), IRIS_F32);
    CHECK_INT(iris_vec_dot_type(IRIS_F32), IRIS_F32);
    CHECK_INT(sizeof(iris_block_q4_k), 144);
    CHECK_INT(sizeof(iris_block_q6_k), 210);
    CHECK_INT(sizeof(iris_block_q8_k), 292);
}

/* ------------------------------------------------------------ real GGUF files */

/* Every non-F32 tensor of the stories260K GGUF files, re-made from the F32 file by our encoders,
   is byte-identical to what llama-quantize wrote (Q4_0, Q5_0, Q8_0 and F16 occur there); and the
   dot kernels on those real rows agree with the double dot of the decoded rows. */
TEST(quant_real_gguf_tensors) {
    static const char *files[] = {"llm/stories260K-q4_0.gguf", "llm/stories260K-q8_0.gguf",
                                  "llm/stories260K-q4_k_m.gguf", "llm/stories260K-f16.gguf"};
    const char *p = test_data("llm/stories260K-f32.gguf");
    if (!p) return;
    char f32path[4096];
    snprintf(f32path, sizeof f32path, "%s", p);
    iris_gguf src;
    const iris_status st = iris_gguf_open(&src, f32path);
    CHECK_OK(st);
    if (st) return;
    int seen[IRIS_DTYPE_COUNT] = {0};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        const char *path = test_data(files[f]);
        if (!path) continue;
        iris_gguf g;
        const iris_status sg = iris_gguf_open(&g, path);
        CHECK_OK(sg);
        if (sg) continue;
        for (int64_t k = 0; k < g.n_tensors; k++) {
            const iris_gguf_tensor_info *t = &g.tensors[k];
            if (t->dtype == IRIS_F32) continue;
            const iris_gguf_tensor_info *s = iris_gguf_find_tensor(&src, t->name);
            if (!CHECK_MSG(s && s->dtype == IRIS_F32 && s->ne[0] == t->ne[0] && s->ne[1] == t->ne[1],
                           "%s: %s has no F32 twin of the same shape", files[f], t->name))
                continue;
            const int64_t n = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
            const size_t rb = iris_row_bytes(t->dtype, n);
            CHECK_INT(rb * (size_t)rows, t->nbytes);
            const float *x = (const float *)(src.data + s->offset);
            const uint8_t *want = g.data + t->offset;
            uint8_t *buf = malloc(rb);
            int bad = 0;
            for (int64_t r = 0; r < rows; r++) {
                CHECK_OK(iris_quantize_row(t->dtype, x + r * n, buf, n));
                if (memcmp(buf, want + r * rb, rb)) bad++;
            }
            CHECK_MSG(bad == 0, "%s: %s (%s): %d of %lld rows differ", files[f], t->name, iris_dtype_name(t->dtype), bad,
                      (long long)rows);
            seen[t->dtype]++;
            /* W x on the real rows, through the matrix-vector entry point */
            const iris_dtype xt = iris_vec_dot_type(t->dtype);
            float *act = malloc((size_t)n * sizeof *act), *out = malloc((size_t)rows * sizeof *out);
            uint8_t *xq = malloc((size_t)n * 4);
            fill_row(act, n, 1);
            CHECK_OK(iris_quantize_row_dot(xt, act, xq, n));
            iris_vec_dot_rows(t->dtype, n, rows, want, rb, xq, out);
            int far = 0;
            for (int64_t r = 0; r < rows; r++) {
                double mag, ref = ref_dot(t->dtype, n, want + r * rb, xq, &mag);
                if (fabs(out[r] - ref) > 1e-5 * mag + 1e-30) far++;
            }
            CHECK_MSG(far == 0, "%s: %s: %d rows of W x off the double reference", files[f], t->name, far);
            free(act);
            free(out);
            free(xq);
            free(buf);
        }
        iris_gguf_close(&g);
    }
    iris_gguf_close(&src);
    CHECK(seen[IRIS_Q4_0] > 0 && seen[IRIS_Q8_0] > 0 && seen[IRIS_Q5_0] > 0 && seen[IRIS_F16] > 0);
}
