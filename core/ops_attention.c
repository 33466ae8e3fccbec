/* ops_attention.c - front end of iris_attention: check shapes, make the output, hand over.
   q/k/v may be strided views (heads split out of [B, L, H, D] with iris_transpose/iris_narrow). */
#include <math.h>

#include "ops_util.h"

iris_tensor *iris_attention(iris_ctx *ctx, const iris_tensor *q, const iris_tensor *k, const iris_tensor *v,
                            const iris_tensor *mask, iris_attn_params p) {
    if (!iris_op_inputs(ctx, "attention", 3, q, k, v)) return NULL;
    if (q->dtype != IRIS_F32 || (k->dtype != IRIS_F32 && k->dtype != IRIS_F16) ||
        (v->dtype != IRIS_F32 && v->dtype != IRIS_F16))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "attention: q %s must be f32, k %s and v %s f32 or f16",
                             iris_op_shape(q), iris_op_shape(k), iris_op_shape(v));
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "attention: q %s, k %s, v %s must be 4-d [B, heads, L, D]",
                             iris_op_shape(q), iris_op_shape(k), iris_op_shape(v));
    int64_t B = q->ne[0], H = q->ne[1], Lq = q->ne[2], D = q->ne[3], Hk = k->ne[1], Lk = k->ne[2];
    if (k->ne[0] != B || v->ne[0] != B || v->ne[1] != Hk || v->ne[2] != Lk || k->ne[3] != D)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE,
                             "attention: q %s, k %s, v %s disagree (want k [B, Hk, Lk, D], v [B, Hk, Lk, Dv])",
                             iris_op_shape(q), iris_op_shape(k), iris_op_shape(v));
    if (Hk == 0 || H % Hk)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "attention: q %s has %lld heads, not a multiple of k %s's %lld",
                             iris_op_shape(q), (long long)H, iris_op_shape(k), (long long)Hk);
    if (D == 0)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "attention: q %s has head size 0", iris_op_shape(q));
    if (Lk > INT32_MAX || Lq > INT32_MAX)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "attention: sequence of q %s / k %s too long", iris_op_shape(q),
                             iris_op_shape(k));
    if (mask) {
        int64_t want[4] = {B, H, Lq, Lk};
        int ok = mask->dtype == IRIS_F32 || mask->dtype == IRIS_F16;
        for (int d = 0; ok && d < mask->ndim; d++) {
            int64_t m = mask->ne[d], n = want[d + 4 - mask->ndim];
            ok = m == n || m == 1;
        }
        if (!ok)
            return iris_ctx_fail(ctx, IRIS_ERR_SHAPE,
                                 "attention: mask %s must be f32/f16 [Lq=%lld, Lk=%lld] (or broadcast to [B, H, Lq, Lk])",
                                 iris_op_shape(mask), (long long)Lq, (long long)Lk);
    }
    if (!isfinite(p.scale))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "attention: scale %g is not finite", (double)p.scale);
    iris_op_call c = {.op = IRIS_OP_ATTENTION, .src = {q, k, v, mask}, .ip = {p.causal != 0, p.causal_offset},
                      .fp = {p.scale}};
    int64_t shape[4] = {B, H, Lq, v->ne[3]};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, 4, shape);
    return iris_op_run(ctx, &c);
}
