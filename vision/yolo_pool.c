/* yolo_pool.c - darknet [maxpool] and [avgpool].

   darknet's maxpool pads size-1 in total by default: (size-1)/2 before and the rest after, so
   a stride-1 maxpool keeps the map size (the SPP blocks) and a size-2 stride-2 one rounds odd
   sizes up. Out-of-map positions never win. [avgpool] is a global average. */
#include "yolo_layers.h"

static iris_status maxpool_parse(yolo_build *b, yolo_layer *l) {
    iris_darknet_section *s = b->s;
    int size, stride, padding;
    iris_status st;
    if ((st = iris_darknet_int(s, "size", 1, &size)) || (st = iris_darknet_int(s, "stride", 1, &stride))) return st;
    int sx, sy;
    if ((st = iris_darknet_int(s, "stride_x", stride, &sx)) || (st = iris_darknet_int(s, "stride_y", stride, &sy)) ||
        (st = iris_darknet_int(s, "padding", size - 1, &padding)))
        return st;
    int maxpool_depth;
    if ((st = iris_darknet_int(s, "maxpool_depth", 0, &maxpool_depth))) return st;
    if (maxpool_depth)
        return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "maxpool_depth"), "maxpool_depth is not supported");
    if (size < 1 || size > 64 || sx < 1 || sy < 1 || sx > 64 || sy > 64)
        return yolo_error(b, 0, b->s->line, "size=%d stride=%d is out of range", size, stride);
    if (padding < 0 || padding > size - 1)
        return yolo_error(b, 0, yolo_line(b, "padding"), "padding=%d must be 0..size-1", padding);
    int oh = (b->in_h + padding - size) / sy + 1, ow = (b->in_w + padding - size) / sx + 1;
    if (b->in_h + padding < size || b->in_w + padding < size)
        return yolo_error(b, IRIS_ERR_SHAPE, b->s->line, "a %dx%d window does not fit the %dx%d input", size, size,
                          b->in_w, b->in_h);
    l->c = b->in_c, l->h = oh, l->w = ow;
    int before = padding / 2;
    l->pool = (iris_pool2d_params){.avg = 0, .kh = size, .kw = size, .stride_h = sy, .stride_w = sx, .pad_h = before,
                                   .pad_w = before, .pad_h_end = padding - 2 * before, .pad_w_end = padding - 2 * before};
    return IRIS_OK;
}

static iris_status avgpool_parse(yolo_build *b, yolo_layer *l) {
    l->c = b->in_c, l->h = 1, l->w = 1;
    l->global = 1;
    return IRIS_OK;
}

static iris_tensor *pool_forward(iris_ctx *ctx, const yolo_layer *l, const iris_tensor *in, iris_tensor *const *outs) {
    (void)outs;
    if (l->global) {
        iris_tensor *y = iris_global_avgpool(ctx, in);
        if (!y) return NULL;
        int64_t shape[4] = {in->ne[0], l->c, 1, 1};
        return iris_reshape(ctx, y, 4, shape);
    }
    return iris_pool2d(ctx, in, l->pool);
}

const yolo_kind yolo_maxpool_kind = {"maxpool", maxpool_parse, pool_forward};
const yolo_kind yolo_avgpool_kind = {"avgpool", avgpool_parse, pool_forward};
