/* yolo_upsample.c - darknet [upsample]: nearest neighbour by `stride` (negative strides, which
   darknet reads as downsampling, are refused), times `scale` (default 1). */
#include "yolo_layers.h"

static iris_status upsample_parse(yolo_build *b, yolo_layer *l) {
    iris_status st;
    float scale;
    if ((st = iris_darknet_int(b->s, "stride", 2, &l->stride)) || (st = iris_darknet_float(b->s, "scale", 1, &scale)))
        return st;
    if (l->stride < 1 || l->stride > 64)
        return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "stride"), "stride=%d is not supported (1..64)",
                          l->stride);
    l->alpha = scale;
    l->c = b->in_c, l->h = b->in_h * l->stride, l->w = b->in_w * l->stride;
    return IRIS_OK;
}

static iris_tensor *upsample_forward(iris_ctx *ctx, const yolo_layer *l, const iris_tensor *in,
                                     iris_tensor *const *outs) {
    (void)outs;
    iris_tensor *y = iris_upsample_nearest(ctx, in, l->stride, l->stride);
    return l->alpha == 1.0f ? y : iris_scale(ctx, y, l->alpha);
}

const yolo_kind yolo_upsample_kind = {"upsample", upsample_parse, upsample_forward};
