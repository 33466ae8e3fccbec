/* ops_conv.c - front ends of conv2d, pooling and upsampling (NCHW): check shapes, make the output, hand over. */
#include <limits.h>

#include "ops_util.h"

static int is_float(iris_dtype t) { return t == IRIS_F32 || t == IRIS_F16 || t == IRIS_BF16; }

static int check_nchw(iris_ctx *ctx, const char *op, const iris_tensor *x) {
    if (x->dtype != IRIS_F32 || x->ndim != 4) {
        iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: x %s must be f32 [N, C, H, W]", op, iris_op_shape(x));
        return 0;
    }
    return 1;
}

iris_conv2d_params iris_conv(int stride, int pad) {
    iris_conv2d_params p = {stride, stride, pad, pad, 1, 1, 1, IRIS_ACT_NONE, 0.0f, NULL, 0, 0};
    return p;
}

iris_tensor *iris_conv2d(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b,
                         iris_conv2d_params p) {
    if (!iris_op_inputs(ctx, "conv2d", 2, x, w) || !check_nchw(ctx, "conv2d", x)) return NULL;
    if (w->ndim != 4 || (!is_float(w->dtype) && !iris_dtype_get(w->dtype)->is_quantized) || !iris_is_contiguous(w))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE,
                             "conv2d: weight %s must be a contiguous [O, C/groups, kh, kw] of f32/f16/bf16/quantized",
                             iris_op_shape(w));
    if (p.stride_h < 1 || p.stride_w < 1 || p.dil_h < 1 || p.dil_w < 1 || p.pad_h < 0 || p.pad_w < 0 || p.groups < 1 ||
        p.pad_h_end < 0 || p.pad_w_end < 0)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "conv2d: bad params stride %dx%d pad %dx%d dilation %dx%d groups %d",
                             p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w, p.groups);
    int64_t N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3], O = w->ne[0], kh = w->ne[2], kw = w->ne[3];
    if (C % p.groups || O % p.groups || w->ne[1] * p.groups != C || kh < 1 || kw < 1 || kh > INT_MAX || kw > INT_MAX)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "conv2d: weight %s does not fit x %s with %d groups", iris_op_shape(w),
                             iris_op_shape(x), p.groups);
    int64_t eh = H + 2 * (int64_t)p.pad_h + p.pad_h_end - (int64_t)p.dil_h * (kh - 1) - 1;
    int64_t ew = W + 2 * (int64_t)p.pad_w + p.pad_w_end - (int64_t)p.dil_w * (kw - 1) - 1;
    if (eh < 0 || ew < 0)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "conv2d: kernel %s (dilation %dx%d) is larger than padded x %s",
                             iris_op_shape(w), p.dil_h, p.dil_w, iris_op_shape(x));
    if (b && (!is_float(b->dtype) || iris_nelements(b) != O || (b->ndim != 1 && !iris_is_contiguous(b))))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "conv2d: bias %s does not fit weight %s (want %lld f32/f16/bf16)",
                             iris_op_shape(b), iris_op_shape(w), (long long)O);
    if ((int)p.act < 0 || p.act >= IRIS_ACT_COUNT)
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "conv2d: unknown activation %d", (int)p.act);
    int64_t shape[4] = {N, O, eh / p.stride_h + 1, ew / p.stride_w + 1};
    const iris_tensor *r = p.residual;
    if (r && (r->dtype != IRIS_F32 || r->ndim != 4 || r->ne[0] != shape[0] || r->ne[1] != shape[1] ||
              r->ne[2] != shape[2] || r->ne[3] != shape[3]))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "conv2d: residual %s does not match the output f32[%lld,%lld,%lld,%lld]",
                             iris_op_shape(r), (long long)shape[0], (long long)shape[1], (long long)shape[2],
                             (long long)shape[3]);
    iris_op_call c = {.op = IRIS_OP_CONV2D,
                      .src = {x, w, b, r},
                      .ip = {p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w, p.groups, (int32_t)p.act},
                      .fp = {p.alpha}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, 4, shape);
    return iris_op_run(ctx, &c);
}

iris_pool2d_params iris_maxpool(int k, int stride, int pad) {
    iris_pool2d_params p = {0, k, k, stride, stride, pad, pad, 1, 0, 0};
    return p;
}

iris_pool2d_params iris_avgpool(int k, int stride, int pad) {
    iris_pool2d_params p = {1, k, k, stride, stride, pad, pad, 1, 0, 0};
    return p;
}

iris_tensor *iris_pool2d(iris_ctx *ctx, const iris_tensor *x, iris_pool2d_params p) {
    const char *op = p.avg ? "avg_pool2d" : "max_pool2d";
    if (!iris_op_inputs(ctx, op, 1, x) || !check_nchw(ctx, op, x)) return NULL;
    /* PyTorch's rule: padding at most half the window, so every window covers some input */
    if (p.kh < 1 || p.kw < 1 || p.stride_h < 1 || p.stride_w < 1 || p.pad_h < 0 || p.pad_w < 0 || p.pad_h > p.kh / 2 ||
        p.pad_w > p.kw / 2 || p.pad_h_end < 0 || p.pad_w_end < 0 || p.pad_h + p.pad_h_end > p.kh - 1 ||
        p.pad_w + p.pad_w_end > p.kw - 1 || (p.avg && (p.pad_h_end || p.pad_w_end)))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "%s: bad params kernel %dx%d stride %dx%d pad %dx%d (+%dx%d after)", op,
                             p.kh, p.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.pad_h_end, p.pad_w_end);
    /* the extra end padding only lengthens the output: the kernels clip every window to x */
    int64_t eh = x->ne[2] + 2 * (int64_t)p.pad_h + p.pad_h_end - p.kh,
            ew = x->ne[3] + 2 * (int64_t)p.pad_w + p.pad_w_end - p.kw;
    if (eh < 0 || ew < 0)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s: window %dx%d is larger than padded x %s", op, p.kh, p.kw,
                             iris_op_shape(x));
    int64_t shape[4] = {x->ne[0], x->ne[1], eh / p.stride_h + 1, ew / p.stride_w + 1};
    iris_op_call c = {.op = IRIS_OP_POOL2D,
                      .src = {x},
                      .ip = {p.avg ? 1 : 0, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.count_include_pad != 0}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, 4, shape);
    return iris_op_run(ctx, &c);
}

iris_tensor *iris_global_avgpool(iris_ctx *ctx, const iris_tensor *x) {
    if (!iris_op_inputs(ctx, "global_avgpool", 1, x) || !check_nchw(ctx, "global_avgpool", x)) return NULL;
    int64_t H = x->ne[2], W = x->ne[3];
    if (H < 1 || W < 1 || H > INT_MAX || W > INT_MAX)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "global_avgpool: x %s has no pixels", iris_op_shape(x));
    iris_pool2d_params p = {1, (int)H, (int)W, (int)H, (int)W, 0, 0, 1, 0, 0};
    iris_tensor *y = iris_pool2d(ctx, x, p);
    if (!y) return NULL;
    int64_t shape[2] = {x->ne[0], x->ne[1]};
    return iris_reshape(ctx, y, 2, shape);
}

iris_tensor *iris_upsample_nearest(iris_ctx *ctx, const iris_tensor *x, int scale_h, int scale_w) {
    if (!iris_op_inputs(ctx, "upsample_nearest", 1, x) || !check_nchw(ctx, "upsample_nearest", x)) return NULL;
    if (scale_h < 1 || scale_w < 1 || x->ne[2] * scale_h > ((int64_t)1 << 31) || x->ne[3] * scale_w > ((int64_t)1 << 31))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "upsample_nearest: bad scale %dx%d for x %s", scale_h, scale_w,
                             iris_op_shape(x));
    int64_t shape[4] = {x->ne[0], x->ne[1], x->ne[2] * scale_h, x->ne[3] * scale_w};
    iris_op_call c = {.op = IRIS_OP_UPSAMPLE, .src = {x}, .ip = {scale_h, scale_w}};
    c.dst = iris_ctx_tensor(ctx, IRIS_F32, 4, shape);
    return iris_op_run(ctx, &c);
}
