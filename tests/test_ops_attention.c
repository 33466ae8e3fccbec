/* test_ops_attention.c - iris_attention against softmax(q k^T scale + mask) v written in torch
   (tests/ref/gen_ops_attention.py, float64): grouped-query, causal with offsets, F16 k/v, masks,
   head views split out of a fused projection, 1100-token sequences; every SIMD path, 1 and 2 threads. */
#include <stdint.h>

#include "ops_ref.h"

#define REF "ops_attention.safetensors"

static void attn_case(iris_ctx *ctx, const char *name, float scale, int causal, int offset, const char *path) {
    iris_attn_params p = {.scale = scale, .causal = causal, .causal_offset = offset};
    iris_tensor *y = iris_attention(ctx, ops_case_in(ctx, REF, name, "q"), ops_case_in(ctx, REF, name, "k"),
                                    ops_case_in(ctx, REF, name, "v"), ops_case_in(ctx, REF, name, "mask"), p);
    ops_case_check(REF, y, name, 2e-5, 1e-4, path);
}

TEST(attention_matches_torch) {
    FOR_PATHS({
        attn_case(ctx, "mha_small", 0.0f, 0, 0, what);
        attn_case(ctx, "gqa_prefill", 0.0f, 1, 0, what);
        attn_case(ctx, "decode_f16", 0.0f, 1, 256, what);
        attn_case(ctx, "chunk_narrow", 0.0f, 1, 15, what);
        attn_case(ctx, "chunk_wide", 0.05f, 1, 60, what);
        attn_case(ctx, "mask_wide", 0.3f, 0, 0, what);
        attn_case(ctx, "mask_narrow_f16", 0.0f, 0, 0, what);
        attn_case(ctx, "mask_bcast", 0.0f, 0, 0, what);
        attn_case(ctx, "causal_negative", 0.0f, 1, -2, what);
    });
}

/* Heads as views: q, k, v narrowed out of one [B, L, 3H, D] tensor and transposed to [B, H, L, D]. */
TEST(attention_head_views) {
    FOR_PATHS({
        iris_tensor *qkv = ops_ref_in(ctx, REF, "split_qkv");
        iris_tensor *q = iris_transpose(ctx, iris_narrow(ctx, qkv, 2, 0, 4), 1, 2);
        iris_tensor *k = iris_transpose(ctx, iris_narrow(ctx, qkv, 2, 4, 4), 1, 2);
        iris_tensor *v = iris_transpose(ctx, iris_narrow(ctx, qkv, 2, 8, 4), 1, 2);
        iris_attn_params p = {.causal = 1};
        CHECK(q && !iris_is_contiguous(q));
        char w[96];
        snprintf(w, sizeof w, "split %s", what);
        ops_ref_check(REF, iris_attention(ctx, q, k, v, NULL, p), "split_y", 2e-5, 1e-4, w);
    });
}

/* Same integer mix as hashval() in the generator. */
static iris_tensor *hash_tensor(iris_ctx *ctx, int64_t b, int64_t h, int64_t l, int64_t d, uint32_t seed, float mul) {
    int64_t n = b * h * l * d, shape[4] = {b, h, l, d};
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)i * 0x9E3779B1u + seed * 0x85EBCA77u;
        x ^= x >> 15;
        x *= 0x2C1B3C6Du;
        x ^= x >> 13;
        v[i] = (float)((double)x / 4294967296.0 * 2.0 - 1.0) * mul;
    }
    iris_tensor *t = iris_ctx_upload(ctx, IRIS_F32, 4, shape, v);
    free(v);
    return t;
}

/* 1100 x 1100 self-attention: many key tiles, 18 query tiles per head (plus the F16 K/V route). */
TEST(attention_long_sequences) {
    FOR_PATHS({
        iris_tensor *q = hash_tensor(ctx, 1, 2, 1100, 16, 1, 2.0f), *k = hash_tensor(ctx, 1, 1, 1100, 16, 2, 2.0f);
        iris_tensor *v = hash_tensor(ctx, 1, 1, 1100, 8, 3, 1.0f);
        iris_attn_params p = {0};
        char w[96];
        snprintf(w, sizeof w, "long %s", what);
        ops_ref_check(REF, iris_attention(ctx, q, k, v, NULL, p), "long_y", 2e-5, 1e-4, w);
        p.causal = 1;
        snprintf(w, sizeof w, "long_causal %s", what);
        ops_ref_check(REF, iris_attention(ctx, q, k, v, NULL, p), "long_causal_y", 2e-5, 1e-4, w);
    });
}

/* Decode rows taken out of the long case: one query position (2 heads sharing a KV head) against
   1100 keys. With 2 threads there is one work item for two threads, so the keys are split across
   threads and the pieces merged; with 1 thread they are not: both must give the reference rows. */
TEST(attention_decode_split_keys) {
    int64_t n = 0;
    float *want = test_ref_f32(REF, "long_y", &n), *want_c = test_ref_f32(REF, "long_causal_y", NULL);
    CHECK(want && want_c && n == 2 * 1100 * 8);
    FOR_PATHS({
        iris_tensor *q = hash_tensor(ctx, 1, 2, 1100, 16, 1, 2.0f), *k = hash_tensor(ctx, 1, 1, 1100, 16, 2, 2.0f);
        iris_tensor *v = hash_tensor(ctx, 1, 1, 1100, 8, 3, 1.0f);
        static const int rows[3] = {0, 517, 1099};
        for (int t = 0; t < 3 && want && want_c; t++) {
            int i = rows[t];
            iris_tensor *qi = iris_narrow(ctx, q, 2, i, 1);
            iris_attn_params p = {.causal = 1, .causal_offset = i};
            float *got_c = test_read_f32(iris_attention(ctx, qi, k, v, NULL, p));
            p.causal = 0;
            float *got = test_read_f32(iris_attention(ctx, qi, k, v, NULL, p));
            float wc[16], w[16];
            for (int h = 0; h < 2; h++)
                for (int c = 0; c < 8; c++)
                    wc[h * 8 + c] = want_c[(h * 1100 + i) * 8 + c], w[h * 8 + c] = want[(h * 1100 + i) * 8 + c];
            char what2[96];
            snprintf(what2, sizeof what2, "decode row %d causal %s", i, what);
            test_close(got_c, wc, 16, 2e-5, 1e-4, __FILE__, __LINE__, what2);
            snprintf(what2, sizeof what2, "decode row %d %s", i, what);
            test_close(got, w, 16, 2e-5, 1e-4, __FILE__, __LINE__, what2);
            free(got_c);
            free(got);
        }
    });
    free(want);
    free(want_c);
}

/* Hand-worked: one query, two keys with equal scores -> the mean of the two values; with a causal
   offset of 0 and the query first, only key 0 is visible; with no keys at all, zeros. */
TEST(attention_hand_worked) {
    FOR_PATHS({
        int64_t sq[4] = {1, 1, 1, 2}, sk[4] = {1, 1, 2, 2}, s0[4] = {1, 1, 0, 2};
        float qv[2] = {1, 0}, kv[4] = {3, 5, 3, -7}, vv[4] = {2, 4, 6, 10}, out[2];
        iris_tensor *q = iris_ctx_upload(ctx, IRIS_F32, 4, sq, qv), *k = iris_ctx_upload(ctx, IRIS_F32, 4, sk, kv);
        iris_tensor *v = iris_ctx_upload(ctx, IRIS_F32, 4, sk, vv);
        iris_attn_params p = {.scale = 1.0f};
        iris_tensor *y = iris_attention(ctx, q, k, v, NULL, p);
        CHECK_MSG(y && !iris_tensor_read(y, out, sizeof out), "%s: %s", what, iris_last_error());
        CHECK_NEAR(out[0], 4.0, 1e-6);
        CHECK_NEAR(out[1], 7.0, 1e-6);
        p.causal = 1;
        y = iris_attention(ctx, q, k, v, NULL, p);
        CHECK_MSG(y && !iris_tensor_read(y, out, sizeof out), "%s: %s", what, iris_last_error());
        CHECK_NEAR(out[0], 2.0, 1e-6);
        CHECK_NEAR(out[1], 4.0, 1e-6);
        p.causal = 0;
        iris_tensor *k0 = iris_ctx_tensor(ctx, IRIS_F32, 4, s0), *v0 = iris_ctx_tensor(ctx, IRIS_F32, 4, s0);
        y = iris_attention(ctx, q, k0, v0, NULL, p);
        CHECK_MSG(y && !iris_tensor_read(y, out, sizeof out), "%s: %s", what, iris_last_error());
        CHECK(out[0] == 0.0f && out[1] == 0.0f);
    });
}

TEST(attention_errors_name_op_and_shapes) {
    int64_t sq[4] = {1, 6, 5, 8}, sk[4] = {1, 4, 7, 8}, sk2[4] = {1, 3, 7, 8}, sv[4] = {1, 3, 6, 8}, sm[2] = {5, 6};
    iris_attn_params p = {0};
    iris_ctx *ctx = test_ctx(1);
    iris_tensor *y = iris_attention(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sq), iris_ctx_tensor(ctx, IRIS_F32, 4, sk),
                                    iris_ctx_tensor(ctx, IRIS_F32, 4, sk), NULL, p);
    CHECK(ops_failed_with(ctx, y, "attention: q f32[1,6,5,8] has 6 heads, not a multiple of k f32[1,4,7,8]'s 4"));
    ctx = test_ctx(1);
    y = iris_attention(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sq), iris_ctx_tensor(ctx, IRIS_F32, 4, sk2),
                       iris_ctx_tensor(ctx, IRIS_F32, 4, sv), NULL, p);
    CHECK(ops_failed_with(ctx, y, "attention: q f32[1,6,5,8], k f32[1,3,7,8], v f32[1,3,6,8] disagree"));
    ctx = test_ctx(1);
    y = iris_attention(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sq), iris_ctx_tensor(ctx, IRIS_F32, 4, sk2),
                       iris_ctx_tensor(ctx, IRIS_F32, 4, sk2), iris_ctx_tensor(ctx, IRIS_F32, 2, sm), p);
    CHECK(ops_failed_with(ctx, y, "attention: mask f32[5,6] must be f32/f16 [Lq=5, Lk=7]"));
    ctx = test_ctx(1);
    y = iris_attention(ctx, iris_ctx_tensor(ctx, IRIS_F16, 4, sq), iris_ctx_tensor(ctx, IRIS_F32, 4, sk2),
                       iris_ctx_tensor(ctx, IRIS_F32, 4, sk2), NULL, p);
    CHECK(ops_failed_with(ctx, y, "attention: q f16[1,6,5,8] must be f32"));
    ctx = test_ctx(1);
    y = iris_attention(ctx, iris_ctx_tensor(ctx, IRIS_F32, 2, sm), iris_ctx_tensor(ctx, IRIS_F32, 4, sk2),
                       iris_ctx_tensor(ctx, IRIS_F32, 4, sk2), NULL, p);
    CHECK(ops_failed_with(ctx, y, "must be 4-d [B, heads, L, D]"));
}
