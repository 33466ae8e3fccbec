/* ops_norm.c - front ends of group/layer/RMS norm and softmax: check shapes, make the output, hand over. */
#include <math.h>

#include "ops_util.h"

/* gamma or beta: NULL, or `n` values of F32/F16/BF16 in a 1-d tensor (or any contiguous one). */
static int check_weight(iris_ctx *ctx, const char *op, const char *what, const iris_tensor *w, int64_t n,
                        const iris_tensor *x) {
    if (!w) return 1;
    if (w->dtype != IRIS_F32 && w->dtype != IRIS_F16 && w->dtype != IRIS_BF16) {
        iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: %s %s must be f32, f16 or bf16", op, what, iris_op_shape(w));
        return 0;
    }
    if (iris_nelements(w) != n || (w->ndim != 1 && !iris_is_contiguous(w))) {
        iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: %s %s does not match x %s (%lld values wanted)", op, what,
                      iris_op_shape(w), iris_op_shape(x), (long long)n);
        return 0;
    }
    return 1;
}

static int check_f32_input(iris_ctx *ctx, const char *op, const iris_tensor *x) {
    if (x->dtype == IRIS_F32) return 1;
    iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: x %s must be f32", op, iris_op_shape(x));
    return 0;
}

static iris_tensor *run_like(iris_ctx *ctx, iris_op op, const iris_tensor *x, const iris_tensor *s1,
                             const iris_tensor *s2, int32_t ip0, float fp0) {
    iris_op_call c = {.op = op, .src = {x, s1, s2}, .ip = {ip0, IRIS_ACT_NONE}, .fp = {fp0}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, x->ndim, x->ne);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_group_norm(iris_ctx *ctx, const iris_tensor *x, int groups, const iris_tensor *gamma,
                             const iris_tensor *beta, float eps) {
    return iris_group_norm_act(ctx, x, groups, gamma, beta, eps, IRIS_ACT_NONE);
}

iris_tensor *iris_group_norm_act(iris_ctx *ctx, const iris_tensor *x, int groups, const iris_tensor *gamma,
                                 const iris_tensor *beta, float eps, iris_act act) {
    if (!iris_op_inputs(ctx, "group_norm", 1, x) || !check_f32_input(ctx, "group_norm", x)) return NULL;
    if (x->ndim < 2)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "group_norm: x %s needs [N, C, ...]", iris_op_shape(x));
    if (groups <= 0 || x->ne[1] % groups)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "group_norm: x %s has %lld channels, not a multiple of %d groups",
                             iris_op_shape(x), (long long)x->ne[1], groups);
    if (!(eps >= 0))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "group_norm: eps %g is negative or NaN", (double)eps);
    if (!check_weight(ctx, "group_norm", "gamma", gamma, x->ne[1], x) ||
        !check_weight(ctx, "group_norm", "beta", beta, x->ne[1], x))
        return NULL;
    if ((int)act < 0 || act >= IRIS_ACT_COUNT)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "group_norm: unknown activation %d", (int)act);
    iris_op_call c = {.op = IRIS_OP_GROUP_NORM, .src = {x, gamma, beta}, .ip = {groups, (int32_t)act}, .fp = {eps}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, x->ndim, x->ne);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_layer_norm(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *gamma,
                             const iris_tensor *beta, float eps) {
    if (!iris_op_inputs(ctx, "layer_norm", 1, x) || !check_f32_input(ctx, "layer_norm", x)) return NULL;
    if (!(eps >= 0))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "layer_norm: eps %g is negative or NaN", (double)eps);
    int64_t d = x->ne[x->ndim - 1];
    if (!check_weight(ctx, "layer_norm", "gamma", gamma, d, x) || !check_weight(ctx, "layer_norm", "beta", beta, d, x))
        return NULL;
    return run_like(ctx, IRIS_OP_LAYER_NORM, x, gamma, beta, 0, eps);
}

iris_tensor *iris_rms_norm(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *gamma, float eps) {
    if (!iris_op_inputs(ctx, "rms_norm", 1, x) || !check_f32_input(ctx, "rms_norm", x)) return NULL;
    if (!(eps >= 0))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "rms_norm: eps %g is negative or NaN", (double)eps);
    if (!check_weight(ctx, "rms_norm", "gamma", gamma, x->ne[x->ndim - 1], x)) return NULL;
    return run_like(ctx, IRIS_OP_RMS_NORM, x, gamma, NULL, 0, eps);
}

iris_tensor *iris_softmax(iris_ctx *ctx, const iris_tensor *x, float scale, const iris_tensor *mask) {
    if (!iris_op_inputs(ctx, "softmax", 1, x) || !check_f32_input(ctx, "softmax", x)) return NULL;
    if (!isfinite(scale))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "softmax: scale %g is not finite", (double)scale);
    if (mask) {
        int ok = (mask->dtype == IRIS_F32 || mask->dtype == IRIS_F16) && mask->ndim <= x->ndim;
        for (int d = 0; ok && d < mask->ndim; d++) {
            int64_t m = mask->ne[d], n = x->ne[d + x->ndim - mask->ndim];
            ok = m == n || m == 1;
        }
        if (!ok)
            return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "softmax: mask %s does not broadcast to x %s (f32 or f16)",
                                 iris_op_shape(mask), iris_op_shape(x));
    }
    return run_like(ctx, IRIS_OP_SOFTMAX, x, mask, NULL, 0, scale);
}
