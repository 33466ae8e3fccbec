/* test_ops_rope.c - iris_rope against the formula written in torch (tests/ref/gen_ops_rope.py, angles
   built as llama.cpp builds them), both modes, partial rotation, strided views, every SIMD path. */
#include "ops_ref.h"

#define REF "ops_rope.safetensors"

static void rope_case(iris_ctx *ctx, const char *name, int n_dims, int neox, float base, float fs, int view,
                      const char *path) {
    iris_tensor *x = ops_case_in(ctx, REF, name, "x");
    if (view == 1) x = iris_transpose(ctx, x, 1, 2);   /* stored [B, H, L, D] -> [B, L, H, D] */
    if (view == 2) x = iris_transpose(ctx, x, -1, -2); /* stored [L, D, H] -> [L, H, D], D strided */
    iris_rope_params p = {.n_dims = n_dims, .neox = neox, .base = base, .freq_scale = fs};
    iris_tensor *y = iris_rope(ctx, x, ops_case_in(ctx, REF, name, "pos"), p);
    ops_case_check(REF, y, name, 2e-6, 2e-6, path);
}

TEST(rope_matches_torch) {
    FOR_PATHS({
        rope_case(ctx, "rope_normal", 64, 0, 10000.0f, 1.0f, 0, what);
        rope_case(ctx, "rope_neox", 80, 1, 10000.0f, 1.0f, 0, what);
        rope_case(ctx, "rope_partial", 16, 0, 500.0f, 0.25f, 0, what);
        rope_case(ctx, "rope_neox_long", 12, 1, 10000.0f, 0.5f, 0, what);
        rope_case(ctx, "rope_odd", 16, 0, 10000.0f, 1.0f, 0, what);
        rope_case(ctx, "rope_far", 128, 0, 10000.0f, 1.0f, 0, what);
        rope_case(ctx, "rope_strided", 64, 1, 10000.0f, 1.0f, 1, what);
        rope_case(ctx, "rope_inner_strided", 24, 0, 10000.0f, 1.0f, 2, what);
    });
}

/* Hand-worked: D = 4, one head, position 1, base 100, normal mode. theta_scale = 100^(-1/2) = 0.1:
   pair 0 turns by 1 rad, pair 1 by 0.1 rad. NeoX pairs (0,2) and (1,3) instead. */
TEST(rope_hand_worked) {
    FOR_PATHS({
        float xv[4] = {1, 0, 0, 2}, out[4];
        int32_t pv[1] = {1};
        int64_t sx[3] = {1, 1, 4}, sp[1] = {1};
        iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 3, sx, xv), *pos = iris_ctx_upload(ctx, IRIS_I32, 1, sp, pv);
        iris_rope_params p = {.n_dims = 4, .base = 100.0f}; /* freq_scale left 0: read as 1 */
        iris_tensor *y = iris_rope(ctx, x, pos, p);
        CHECK_MSG(y && !iris_tensor_read(y, out, sizeof out), "%s: %s", what, iris_last_error());
        CHECK_NEAR(out[0], cos(1.0), 1e-6);
        CHECK_NEAR(out[1], sin(1.0), 1e-6);
        CHECK_NEAR(out[2], -2 * sin(0.1), 1e-6);
        CHECK_NEAR(out[3], 2 * cos(0.1), 1e-6);
        p.neox = 1;
        y = iris_rope(ctx, x, pos, p);
        CHECK_MSG(y && !iris_tensor_read(y, out, sizeof out), "%s: %s", what, iris_last_error());
        CHECK_NEAR(out[0], cos(1.0), 1e-6);                 /* (x0, x2) = (1, 0) turned by 1 */
        CHECK_NEAR(out[2], sin(1.0), 1e-6);
        CHECK_NEAR(out[1], -2 * sin(0.1), 1e-6);            /* (x1, x3) = (0, 2) turned by 0.1 */
        CHECK_NEAR(out[3], 2 * cos(0.1), 1e-6);
    });
}

/* Hand-worked frequency factors (Llama 3.1's rope_freqs): the same D = 4 case at position 2, pair 0
   divided by 1 (turns 2 rad), pair 1 by 4 (2 * 0.1 / 4 = 0.05 rad); a wrong length is refused. */
TEST(rope_freq_factors_hand_worked) {
    FOR_PATHS({
        float xv[4] = {1, 0, 0, 2}, ffv[2] = {1, 4}, out[4];
        int32_t pv[1] = {2};
        int64_t sx[3] = {1, 1, 4}, sp[1] = {1}, sf[1] = {2};
        iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 3, sx, xv), *pos = iris_ctx_upload(ctx, IRIS_I32, 1, sp, pv);
        iris_tensor *ff = iris_ctx_upload(ctx, IRIS_F32, 1, sf, ffv);
        iris_rope_params p = {.n_dims = 4, .base = 100.0f};
        iris_tensor *y = iris_rope_ff(ctx, x, pos, ff, p);
        CHECK_MSG(y && !iris_tensor_read(y, out, sizeof out), "%s: %s", what, iris_last_error());
        CHECK_NEAR(out[0], cos(2.0), 1e-6);
        CHECK_NEAR(out[1], sin(2.0), 1e-6);
        CHECK_NEAR(out[2], -2 * sin(0.05), 1e-6);
        CHECK_NEAR(out[3], 2 * cos(0.05), 1e-6);
    });
    iris_ctx *ctx = test_ctx(1);
    int64_t sx[3] = {1, 1, 4}, sp[1] = {1}, sf[1] = {3};
    iris_rope_params p = {.n_dims = 4, .base = 100.0f};
    iris_tensor *y = iris_rope_ff(ctx, iris_ctx_tensor(ctx, IRIS_F32, 3, sx), iris_ctx_tensor(ctx, IRIS_I32, 1, sp),
                                  iris_ctx_tensor(ctx, IRIS_F32, 1, sf), p);
    CHECK(ops_failed_with(ctx, y, "rope: frequency factors f32[3] must be f32[2]"));
}

TEST(rope_errors_name_op_and_shapes) {
    int64_t sx[4] = {1, 5, 2, 8}, sp[1] = {4}, sp5[1] = {5};
    iris_rope_params p = {.n_dims = 8, .base = 10000.0f, .freq_scale = 1.0f};
    iris_ctx *ctx = test_ctx(1);
    iris_tensor *y = iris_rope(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sx), iris_ctx_tensor(ctx, IRIS_I32, 1, sp), p);
    CHECK(ops_failed_with(ctx, y, "rope: pos i32[4] must be i32[5] for x f32[1,5,2,8]"));
    ctx = test_ctx(1);
    y = iris_rope(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sx), iris_ctx_tensor(ctx, IRIS_F32, 1, sp5), p);
    CHECK(ops_failed_with(ctx, y, "rope: pos f32[5] must be i32[5]"));
    ctx = test_ctx(1);
    p.n_dims = 7;
    y = iris_rope(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sx), iris_ctx_tensor(ctx, IRIS_I32, 1, sp5), p);
    CHECK(ops_failed_with(ctx, y, "rope: n_dims 7 must be even and in [2, 8]"));
    ctx = test_ctx(1);
    p.n_dims = 10;
    y = iris_rope(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sx), iris_ctx_tensor(ctx, IRIS_I32, 1, sp5), p);
    CHECK(ops_failed_with(ctx, y, "rope: n_dims 10 must be even"));
    ctx = test_ctx(1);
    p.n_dims = 8, p.base = 0;
    y = iris_rope(ctx, iris_ctx_tensor(ctx, IRIS_F32, 4, sx), iris_ctx_tensor(ctx, IRIS_I32, 1, sp5), p);
    CHECK(ops_failed_with(ctx, y, "rope: base 0"));
    ctx = test_ctx(1);
    int64_t s2[2] = {5, 8};
    p.base = 10000.0f;
    y = iris_rope(ctx, iris_ctx_tensor(ctx, IRIS_F32, 2, s2), iris_ctx_tensor(ctx, IRIS_I32, 1, sp5), p);
    CHECK(ops_failed_with(ctx, y, "rope: x f32[5,8] must be f32 [..., L, H, D]"));
}
