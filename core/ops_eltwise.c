/* ops_eltwise.c - front ends of the elementwise ops: activations and broadcast arithmetic.

   They check dtypes and shapes, allocate the F32 output and hand one call to the backend.
   A binary op's second operand is rewritten here as a view with a's shape and stride 0 in
   its broadcast dims, so every backend sees plain strided operands of one shape.
*/
#include "ops_util.h"

static const char *act_name(iris_act a) {
    static const char *names[IRIS_ACT_COUNT] = {"identity", "relu", "leaky_relu", "silu", "gelu",
                                                "gelu_tanh", "quick_gelu", "mish", "sigmoid", "tanh",
                                                "scale", "exp", "sqrt"};
    return (unsigned)a < IRIS_ACT_COUNT ? names[a] : "unary";
}

static int float_type(iris_dtype t) { return t == IRIS_F32 || t == IRIS_F16 || t == IRIS_BF16; }

iris_tensor *iris_unary(iris_ctx *ctx, const iris_tensor *x, iris_act op, float alpha) {
    const char *name = act_name(op);
    if (!iris_op_inputs(ctx, name, 1, x)) return NULL;
    if ((unsigned)op >= IRIS_ACT_COUNT)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "unary: unknown activation %d for %s", (int)op, iris_op_shape(x));
    if (!float_type(x->dtype))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: input %s must be f32, f16 or bf16", name, iris_op_shape(x));
    iris_op_call c = {.op = IRIS_OP_UNARY, .src = {x}, .ip = {op}, .fp = {alpha}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, x->ndim, x->ne);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_relu(iris_ctx *ctx, const iris_tensor *x) { return iris_unary(ctx, x, IRIS_ACT_RELU, 0.f); }
iris_tensor *iris_silu(iris_ctx *ctx, const iris_tensor *x) { return iris_unary(ctx, x, IRIS_ACT_SILU, 0.f); }
iris_tensor *iris_gelu(iris_ctx *ctx, const iris_tensor *x) { return iris_unary(ctx, x, IRIS_ACT_GELU, 0.f); }
iris_tensor *iris_sigmoid(iris_ctx *ctx, const iris_tensor *x) { return iris_unary(ctx, x, IRIS_ACT_SIGMOID, 0.f); }
iris_tensor *iris_scale(iris_ctx *ctx, const iris_tensor *x, float s) { return iris_unary(ctx, x, IRIS_ACT_SCALE, s); }

iris_tensor *iris_binary(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, iris_binop op) {
    static const char *names[IRIS_BIN_COUNT] = {"add", "sub", "mul", "div"};
    const char *name = (unsigned)op < IRIS_BIN_COUNT ? names[op] : "binary";
    if (!iris_op_inputs(ctx, name, 2, a, b)) return NULL;
    if ((unsigned)op >= IRIS_BIN_COUNT)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "binary: unknown op %d on %s and %s", (int)op, iris_op_shape(a),
                             iris_op_shape(b));
    if (!float_type(a->dtype) || !float_type(b->dtype))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: %s and %s must be f32, f16 or bf16", name, iris_op_shape(a),
                             iris_op_shape(b));
    /* b aligned to a from the right: each dim equal or 1 (numpy broadcasting, one way) */
    iris_tensor bv = *b;
    int off = a->ndim - b->ndim;
    for (int k = 0; k < -off; k++) /* extra leading dims of b must be 1 */
        if (b->ne[k] != 1)
            return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: cannot broadcast %s to %s (more dims)", name,
                                 iris_op_shape(b), iris_op_shape(a));
    for (int i = 0; i < a->ndim; i++) {
        int k = i - off;
        if (k >= 0 && b->ne[k] != a->ne[i] && b->ne[k] != 1)
            return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: cannot broadcast %s to %s (dim %d: %lld vs %lld)", name,
                                 iris_op_shape(b), iris_op_shape(a), i, (long long)b->ne[k], (long long)a->ne[i]);
        bv.ne[i] = a->ne[i];
        bv.nb[i] = k < 0 || (b->ne[k] == 1 && a->ne[i] != 1) ? 0 : b->nb[k];
    }
    for (int i = a->ndim; i < IRIS_MAX_DIMS; i++) bv.ne[i] = 1;
    bv.ndim = a->ndim;
    iris_op_call c = {.op = IRIS_OP_BINARY, .src = {a, &bv}, .ip = {op}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, a->ndim, a->ne);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_add(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b) {
    return iris_binary(ctx, a, b, IRIS_BIN_ADD);
}

iris_tensor *iris_mul(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b) {
    return iris_binary(ctx, a, b, IRIS_BIN_MUL);
}
