/* ops_copy_into.c - front end of iris_copy_into: write a tensor into an existing one.

   The only op whose output is not a fresh arena tensor: a model appends keys and
   values to its cache by narrowing the cache to the new rows and copying into
   that view. It reuses the copy kernel (IRIS_OP_COPY converts to dst's dtype). */
#include "ops_util.h"

iris_tensor *iris_copy_into(iris_ctx *ctx, iris_tensor *dst, const iris_tensor *src) {
    if (!iris_op_inputs(ctx, "copy_into", 2, dst, src)) return NULL;
    if (iris_nelements(dst) != iris_nelements(src) || dst->ndim != src->ndim || !iris_same_shape(dst, src))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "copy_into: %s into %s", iris_op_shape(src), iris_op_shape(dst));
    if (dst->dtype != IRIS_F32 && dst->dtype != IRIS_F16 && dst->dtype != IRIS_BF16)
        return iris_ctx_fail(ctx, IRIS_ERR_UNSUPPORTED, "copy_into: destination %s must be f32, f16 or bf16",
                             iris_op_shape(dst));
    if (!iris_is_contiguous(dst))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "copy_into: destination %s must be contiguous", iris_op_shape(dst));
    if (dst->device != iris_ctx_device(ctx))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "copy_into: destination is on %s", iris_device_name(dst->device));
    iris_op_call c = {.op = IRIS_OP_COPY, .dst = dst, .src = {src}};
    return iris_op_run(ctx, &c);
}
