/* ops_matmul.c - front ends of linear and matmul: check dtypes and shapes, make the output, hand over. */
#include "ops_util.h"

static int is_float(iris_dtype t) { return t == IRIS_F32 || t == IRIS_F16 || t == IRIS_BF16; }

iris_tensor *iris_linear_ordered(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b,
                                 iris_act act, float alpha, iris_dot_order order) {
    if (!iris_op_inputs(ctx, "linear", 2, x, w)) return NULL;
    if (x->dtype != IRIS_F32)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "linear: x %s must be f32", iris_op_shape(x));
    const iris_dtype_info *wi = iris_dtype_get(w->dtype);
    if (!is_float(w->dtype) && !wi->is_quantized)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "linear: weight %s must be f32, f16, bf16 or quantized",
                             iris_op_shape(w));
    int64_t K = x->ne[x->ndim - 1];
    if (w->ndim != 2 || w->ne[1] != K)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "linear: weight %s does not fit x %s (want [N, %lld])",
                             iris_op_shape(w), iris_op_shape(x), (long long)K);
    if (w->ne[1] > 1 && w->nb[1] != wi->type_size)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "linear: weight %s rows must be contiguous", iris_op_shape(w));
    int64_t N = w->ne[0];
    if (b && (!is_float(b->dtype) || iris_nelements(b) != N || (b->ndim != 1 && !iris_is_contiguous(b))))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "linear: bias %s does not fit weight %s (want %lld f32/f16/bf16)",
                             iris_op_shape(b), iris_op_shape(w), (long long)N);
    if ((int)act < 0 || act >= IRIS_ACT_COUNT)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "linear: unknown activation %d", (int)act);
    int64_t shape[IRIS_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->ne[d];
    shape[x->ndim - 1] = N;
    if ((int)order < 0 || order > IRIS_DOT_GGML_TILED)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "linear: unknown summation order %d", (int)order);
    iris_op_call c = {.op = IRIS_OP_LINEAR, .src = {x, w, b}, .ip = {(int32_t)act, (int32_t)order}, .fp = {alpha}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, x->ndim, shape);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_linear_act(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b,
                             iris_act act, float alpha) {
    return iris_linear_ordered(ctx, x, w, b, act, alpha, IRIS_DOT_ANY);
}

iris_tensor *iris_linear(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b) {
    return iris_linear_act(ctx, x, w, b, IRIS_ACT_NONE, 0.0f);
}

iris_tensor *iris_matmul_ordered(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, int trans_b,
                                 iris_dot_order order) {
    if (!iris_op_inputs(ctx, "matmul", 2, a, b)) return NULL;
    if (!is_float(a->dtype) || !is_float(b->dtype))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "matmul: a %s and b %s must be f32, f16 or bf16", iris_op_shape(a),
                             iris_op_shape(b));
    if (a->ndim < 2 || b->ndim < 2)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "matmul: a %s and b %s need at least 2 dims", iris_op_shape(a),
                             iris_op_shape(b));
    int na = a->ndim, nb = b->ndim, nd = na > nb ? na : nb;
    int64_t M = a->ne[na - 2], K = a->ne[na - 1];
    int64_t Kb = trans_b ? b->ne[nb - 1] : b->ne[nb - 2], N = trans_b ? b->ne[nb - 2] : b->ne[nb - 1];
    if (K != Kb)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "matmul: a %s @ b %s%s: inner dims %lld and %lld differ",
                             iris_op_shape(a), iris_op_shape(b), trans_b ? "^T" : "", (long long)K, (long long)Kb);
    int64_t shape[IRIS_MAX_DIMS];
    for (int d = 0; d < nd - 2; d++) { /* batch dims, aligned right */
        int da = d - (nd - na), db = d - (nd - nb);
        int64_t ea = da >= 0 ? a->ne[da] : 1, eb = db >= 0 ? b->ne[db] : 1;
        if (ea != eb && ea != 1 && eb != 1)
            return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "matmul: batch dims of a %s and b %s do not broadcast",
                                 iris_op_shape(a), iris_op_shape(b));
        shape[d] = ea == 1 ? eb : ea;
    }
    shape[nd - 2] = M;
    shape[nd - 1] = N;
    if ((int)order < 0 || order > IRIS_DOT_GGML_TILED)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "matmul: unknown summation order %d", (int)order);
    iris_op_call c = {.op = IRIS_OP_MATMUL, .src = {a, b}, .ip = {trans_b != 0, (int32_t)order}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, nd, shape);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_matmul(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, int trans_b) {
    return iris_matmul_ordered(ctx, a, b, trans_b, IRIS_DOT_ANY);
}
