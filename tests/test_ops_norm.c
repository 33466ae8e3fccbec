/* test_ops_norm.c - group/layer/RMS norm and softmax against PyTorch (tests/ref/gen_ops_norm.py,
   computed in float64), on every SIMD path and with 1 and 2 threads; plus error messages. */
#include "../core/backend.h"
#include "ops_ref.h"

#define REF "ops_norm.safetensors"

static void group_case(iris_ctx *ctx, const char *name, int groups, float eps, int transposed, const char *path) {
    iris_tensor *x = ops_case_in(ctx, REF, name, "x");
    iris_tensor *g = ops_case_in(ctx, REF, name, "gamma"), *b = ops_case_in(ctx, REF, name, "beta");
    if (transposed) x = iris_transpose(ctx, x, -1, -2);
    iris_tensor *y = iris_group_norm(ctx, x, groups, g, b, eps);
    ops_case_check(REF, y, name, 2e-5, 2e-5, path);
}

TEST(group_norm_matches_torch) {
    FOR_PATHS({
        group_case(ctx, "gn_sd", 32, 1e-5f, 0, what);
        group_case(ctx, "gn_3d_f16", 4, 1e-6f, 0, what);
        group_case(ctx, "gn_2d", 3, 1e-5f, 0, what);
        group_case(ctx, "gn_offset", 8, 1e-6f, 0, what);
        group_case(ctx, "gn_strided", 4, 1e-5f, 1, what);
    });
}

static void layer_case(iris_ctx *ctx, const char *name, float eps, int transposed, int rms, const char *path) {
    iris_tensor *x = ops_case_in(ctx, REF, name, "x"), *g = ops_case_in(ctx, REF, name, "gamma");
    if (transposed) x = iris_transpose(ctx, x, -1, -2);
    iris_tensor *y = rms ? iris_rms_norm(ctx, x, g, eps) : iris_layer_norm(ctx, x, g, ops_case_in(ctx, REF, name, "beta"), eps);
    ops_case_check(REF, y, name, 2e-5, 2e-5, path);
}

TEST(layer_norm_matches_torch) {
    FOR_PATHS({
        layer_case(ctx, "ln_clip", 1e-5f, 0, 0, what);
        layer_case(ctx, "ln_f16", 1e-5f, 0, 0, what);
        layer_case(ctx, "ln_d1", 1e-5f, 0, 0, what);
        layer_case(ctx, "ln_nogamma", 1e-6f, 0, 0, what);
        layer_case(ctx, "ln_strided", 1e-5f, 1, 0, what);
        layer_case(ctx, "ln_offset", 1e-6f, 0, 0, what);
    });
}

TEST(rms_norm_matches_torch) {
    FOR_PATHS({
        layer_case(ctx, "rms_small", 1e-6f, 0, 1, what);
        layer_case(ctx, "rms_llama", 1e-5f, 0, 1, what);
        layer_case(ctx, "rms_nogamma", 1e-5f, 0, 1, what);
    });
}

static void softmax_case(iris_ctx *ctx, const char *name, float scale, const char *path) {
    iris_tensor *y = iris_softmax(ctx, ops_case_in(ctx, REF, name, "x"), scale, ops_case_in(ctx, REF, name, "mask"));
    ops_case_check(REF, y, name, 1e-6, 2e-6, path);
}

TEST(softmax_matches_torch) {
    FOR_PATHS({
        softmax_case(ctx, "sm_plain", 0.125f, what);
        softmax_case(ctx, "sm_mask", 1.0f, what);
        softmax_case(ctx, "sm_bcast", 0.5f, what);
        softmax_case(ctx, "sm_f16mask", 2.0f, what);
        softmax_case(ctx, "sm_long", 1.0f, what);
        softmax_case(ctx, "sm_one", 1.0f, what);
        /* causal is a backend option (ip[0]) used by fused callers: run the call directly */
        iris_tensor *x = ops_case_in(ctx, REF, "sm_causal", "x");
        iris_op_call c = {.op = IRIS_OP_SOFTMAX, .src = {x}, .ip = {1}, .fp = {0.7f}};
        c.dst = x ? iris_ctx_tensor(ctx, IRIS_F32, x->ndim, x->ne) : NULL;
        CHECK_OK(c.dst ? iris_ctx_run(ctx, &c) : IRIS_ERR_ARG);
        ops_case_check(REF, c.dst, "sm_causal", 1e-6, 2e-6, what);
    });
}

/* A masked-out row must be exactly zero and every other row must sum to one (no NaN anywhere). */
TEST(softmax_masked_rows_are_zero) {
    FOR_PATHS({
        int64_t sh[2] = {3, 19};
        float xv[57], mv[57];
        for (int i = 0; i < 57; i++) xv[i] = (float)((i * 37) % 11) - 5.0f, mv[i] = 0.0f;
        for (int i = 19; i < 38; i++) mv[i] = -INFINITY;
        mv[40] = -INFINITY;
        iris_tensor *y = iris_softmax(ctx, iris_ctx_upload(ctx, IRIS_F32, 2, sh, xv), 1.0f,
                                      iris_ctx_upload(ctx, IRIS_F32, 2, sh, mv));
        float *got = test_read_f32(y);
        CHECK_MSG(got != NULL, "%s: %s", what, iris_last_error());
        if (got) {
            double s0 = 0, s2 = 0;
            int zeros = 0;
            for (int i = 0; i < 19; i++) s0 += got[i], zeros += got[19 + i] == 0.0f, s2 += got[38 + i];
            CHECK_NEAR(s0, 1.0, 1e-5);
            CHECK_NEAR(s2, 1.0, 1e-5);
            CHECK_INT(zeros, 19);
            CHECK(got[40] == 0.0f);
        }
        free(got);
    });
}

/* Two-pass statistics: a row of 1e6 + tiny noise keeps its spread (one-pass float would lose it). */
TEST(layer_norm_large_offset_hand) {
    FOR_PATHS({
        float xv[4] = {1e6f - 1, 1e6f + 1, 1e6f - 1, 1e6f + 1}, out[4];
        int64_t sh[1] = {4};
        iris_tensor *y = iris_layer_norm(ctx, iris_ctx_upload(ctx, IRIS_F32, 1, sh, xv), NULL, NULL, 0.0f);
        CHECK_MSG(y && iris_tensor_read(y, out, sizeof out) == IRIS_OK, "%s: %s", what, iris_last_error());
        for (int i = 0; y && i < 4; i++) CHECK_NEAR(out[i], i % 2 ? 1.0 : -1.0, 1e-6);
    });
}

TEST(norm_errors_name_op_and_shapes) {
    iris_ctx *ctx = test_ctx(1);
    int64_t s4[4] = {1, 6, 2, 2}, s1[1] = {5}, s2[2] = {3, 4}, s3[2] = {2, 4};
    iris_tensor *x = iris_ctx_tensor(ctx, IRIS_F32, 4, s4);
    iris_tensor *g5 = iris_ctx_tensor(ctx, IRIS_F32, 1, s1);
    CHECK(ops_failed_with(ctx, iris_group_norm(ctx, x, 4, NULL, NULL, 1e-5f), "group_norm: x f32[1,6,2,2] has 6 channels"));
    ctx = test_ctx(1);
    x = iris_ctx_tensor(ctx, IRIS_F32, 4, s4);
    g5 = iris_ctx_tensor(ctx, IRIS_F32, 1, s1);
    CHECK(ops_failed_with(ctx, iris_group_norm(ctx, x, 3, g5, NULL, 1e-5f), "group_norm: gamma f32[5]"));
    ctx = test_ctx(1);
    iris_tensor *a = iris_ctx_tensor(ctx, IRIS_F32, 2, s2);
    g5 = iris_ctx_tensor(ctx, IRIS_F32, 1, s1);
    CHECK(ops_failed_with(ctx, iris_layer_norm(ctx, a, g5, NULL, 1e-5f), "layer_norm: gamma f32[5] does not match x f32[3,4]"));
    ctx = test_ctx(1);
    a = iris_ctx_tensor(ctx, IRIS_F32, 2, s2);
    iris_tensor *m = iris_ctx_tensor(ctx, IRIS_F32, 2, s3);
    CHECK(ops_failed_with(ctx, iris_softmax(ctx, a, 1.0f, m), "softmax: mask f32[2,4] does not broadcast to x f32[3,4]"));
    ctx = test_ctx(1);
    a = iris_ctx_tensor(ctx, IRIS_F16, 2, s2);
    CHECK(ops_failed_with(ctx, iris_rms_norm(ctx, a, NULL, 1e-5f), "rms_norm: x f16[3,4] must be f32"));
    ctx = test_ctx(1);
    CHECK(iris_rms_norm(ctx, NULL, NULL, 1e-5f) == NULL && strstr(iris_last_error(), "rms_norm: missing input"));
}
