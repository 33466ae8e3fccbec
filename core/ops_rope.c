/* ops_rope.c - front end of iris_rope: check shapes and parameters, make the output, hand over.
   freq_scale 0 is read as 1 (no scaling), so a params struct that leaves it unset still works.
   Frequency factors, when given, are the op's third input. */
#include <math.h>

#include "ops_util.h"

iris_tensor *iris_rope(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *pos, iris_rope_params p) {
    return iris_rope_ff(ctx, x, pos, NULL, p);
}

iris_tensor *iris_rope_ff(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *pos, const iris_tensor *ff,
                          iris_rope_params p) {
    if (!iris_op_inputs(ctx, "rope", 2, x, pos)) return NULL;
    if (x->dtype != IRIS_F32 || x->ndim < 3)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "rope: x %s must be f32 [..., L, H, D]", iris_op_shape(x));
    int64_t L = x->ne[x->ndim - 3], D = x->ne[x->ndim - 1];
    if (pos->dtype != IRIS_I32 || pos->ndim != 1 || pos->ne[0] != L)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "rope: pos %s must be i32[%lld] for x %s", iris_op_shape(pos),
                             (long long)L, iris_op_shape(x));
    if (p.n_dims < 2 || p.n_dims % 2 || p.n_dims > D)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "rope: n_dims %d must be even and in [2, %lld] for x %s", p.n_dims,
                             (long long)D, iris_op_shape(x));
    if (!(p.base > 0) || !isfinite(p.base) || !isfinite(p.freq_scale) || p.freq_scale < 0)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "rope: base %g / freq_scale %g out of range", (double)p.base,
                             (double)p.freq_scale);
    if (ff && (ff->dtype != IRIS_F32 || ff->ndim != 1 || ff->ne[0] != p.n_dims / 2 || !iris_is_contiguous(ff) ||
               ff->device != iris_ctx_device(ctx)))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "rope: frequency factors %s must be f32[%d] on the context's device",
                             iris_op_shape(ff), p.n_dims / 2);
    iris_op_call c = {.op = IRIS_OP_ROPE, .src = {x, pos, ff}, .ip = {p.n_dims, p.neox ? 2 : 0},
                      .fp = {p.base, p.freq_scale == 0 ? 1.0f : p.freq_scale}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, x->ndim, x->ne);
    return iris_op_run(ctx, &c);
}
