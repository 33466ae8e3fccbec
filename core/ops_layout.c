/* ops_layout.c - front ends of the data-movement ops: copy/cast/dequantize, permute, concat,
   embedding lookup.

   A permute is a strided view (a new header, as iris_transpose makes) copied into a
   contiguous output, so backends only implement one strided copy. Plain dtypes keep their
   type through permute and concat (an f16 KV cache stays f16); block-quantized inputs
   come out as f32.
*/
#include <stdio.h>

#include "ops_util.h"

static int plain_type(iris_dtype t) { return t == IRIS_F32 || t == IRIS_F16 || t == IRIS_BF16 || t == IRIS_I32; }

iris_tensor *iris_copy(iris_ctx *ctx, const iris_tensor *x, iris_dtype dtype) {
    if (!iris_op_inputs(ctx, "copy", 1, x)) return NULL;
    if (!plain_type(dtype))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "copy: cannot convert %s to %s (f32, f16, bf16 or i32 only)",
                             iris_op_shape(x), iris_dtype_name(dtype));
    if (!iris_dtype_get(x->dtype))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "copy: input has unknown dtype %d", (int)x->dtype);
    iris_op_call c = {.op = IRIS_OP_COPY, .src = {x}};
    c.dst = iris_ctx_tensor(ctx, dtype, x->ndim, x->ne);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_dequantize(iris_ctx *ctx, const iris_tensor *x) { return iris_copy(ctx, x, IRIS_F32); }

iris_tensor *iris_permute(iris_ctx *ctx, const iris_tensor *x, const int *perm) {
    if (!iris_op_inputs(ctx, "permute", 1, x)) return NULL;
    if (!perm) return iris_ctx_fail(ctx, IRIS_ERR_ARG, "permute: %s: no permutation given", iris_op_shape(x));
    int seen = 0, p[IRIS_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        p[i] = perm[i] < 0 ? perm[i] + x->ndim : perm[i];
        if (p[i] < 0 || p[i] >= x->ndim || (seen >> p[i] & 1)) {
            char list[64];
            int n = 0;
            for (int k = 0; k < x->ndim; k++) n += snprintf(list + n, sizeof list - (size_t)n, k ? ",%d" : "%d", perm[k]);
            return iris_ctx_fail(ctx, IRIS_ERR_ARG, "permute: (%s) is not a permutation of the %d dims of %s", list,
                                 x->ndim, iris_op_shape(x));
        }
        seen |= 1 << p[i];
    }
    const iris_dtype_info *info = iris_dtype_get(x->dtype);
    if (!info) return iris_ctx_fail(ctx, IRIS_ERR_ARG, "permute: input has unknown dtype %d", (int)x->dtype);
    /* quantized rows cannot be cut: dequantize first, then move f32 elements */
    if (info->block_size > 1 && p[x->ndim - 1] != x->ndim - 1) x = iris_copy(ctx, x, IRIS_F32);
    if (!x) return NULL;
    iris_tensor v = *x;
    for (int i = 0; i < x->ndim; i++) v.ne[i] = x->ne[p[i]], v.nb[i] = x->nb[p[i]];
    iris_op_call c = {.op = IRIS_OP_COPY, .src = {&v}};
    c.dst = iris_ctx_tensor(ctx, plain_type(x->dtype) ? x->dtype : IRIS_F32, x->ndim, v.ne);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_concat(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, int dim) {
    if (!iris_op_inputs(ctx, "concat", 2, a, b)) return NULL;
    int d = dim < 0 ? dim + a->ndim : dim;
    if (a->ndim != b->ndim || d < 0 || d >= a->ndim)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "concat: cannot join %s and %s along dim %d", iris_op_shape(a),
                             iris_op_shape(b), dim);
    for (int i = 0; i < a->ndim; i++)
        if (i != d && a->ne[i] != b->ne[i])
            return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "concat: %s and %s differ in dim %d (joining along dim %d)",
                                 iris_op_shape(a), iris_op_shape(b), i, d);
    if (!iris_dtype_get(a->dtype) || !iris_dtype_get(b->dtype))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "concat: input has unknown dtype");
    iris_dtype out = a->dtype == b->dtype && plain_type(a->dtype) ? a->dtype : IRIS_F32;
    int64_t shape[IRIS_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) shape[i] = a->ne[i];
    shape[d] += b->ne[d];
    iris_op_call c = {.op = IRIS_OP_CONCAT, .src = {a, b}, .ip = {d}};
    c.dst = iris_ctx_tensor(ctx, out, a->ndim, shape);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_get_rows(iris_ctx *ctx, const iris_tensor *table, const iris_tensor *ids) {
    if (!iris_op_inputs(ctx, "get_rows", 2, table, ids)) return NULL;
    if (table->ndim != 2 || !iris_dtype_get(table->dtype))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "get_rows: table %s must be 2-D [V, D]", iris_op_shape(table));
    if (ids->dtype != IRIS_I32 || ids->ndim > 3)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "get_rows: ids %s must be i32 with at most 3 dims",
                             iris_op_shape(ids));
    /* ids [n] -> [n, D]; more generally ids' shape + [D] */
    int64_t shape[IRIS_MAX_DIMS];
    for (int i = 0; i < ids->ndim; i++) shape[i] = ids->ne[i];
    shape[ids->ndim] = table->ne[1];
    iris_op_call c = {.op = IRIS_OP_GET_ROWS, .src = {table, ids}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, ids->ndim + 1, shape);
    return iris_op_run(ctx, &c);
}
