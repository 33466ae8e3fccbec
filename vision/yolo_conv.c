/* yolo_conv.c - darknet [convolutional]: groups (depthwise when groups = channels), batch norm
   folded into the weights at load time, and the activation fused into the conv op.

   The .weights stores, per layer: biases[n], then with batch_normalize scales[n],
   rolling_mean[n], rolling_variance[n], then weights[n][c/groups][size][size]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "yolo_layers.h"

static iris_status conv_parse(yolo_build *b, yolo_layer *l) {
    iris_darknet_section *s = b->s;
    int n, size, stride, pad, padding, groups, bn, dilation;
    iris_status st;
    if ((st = iris_darknet_int(s, "filters", 1, &n)) || (st = iris_darknet_int(s, "size", 1, &size)) ||
        (st = iris_darknet_int(s, "stride", 1, &stride)) || (st = iris_darknet_int(s, "pad", 0, &pad)) ||
        (st = iris_darknet_int(s, "padding", 0, &padding)) || (st = iris_darknet_int(s, "groups", 1, &groups)) ||
        (st = iris_darknet_int(s, "batch_normalize", 0, &bn)) || (st = iris_darknet_int(s, "dilation", 1, &dilation)))
        return st;
    int sx, sy;
    if ((st = iris_darknet_int(s, "stride_x", stride, &sx)) || (st = iris_darknet_int(s, "stride_y", stride, &sy)))
        return st;
    if ((st = yolo_activation(b, &l->act, &l->alpha))) return st;
    if (n < 1 || n > 65536) return yolo_error(b, 0, yolo_line(b, "filters"), "filters=%d is out of range", n);
    if (size < 1 || size > 64) return yolo_error(b, 0, yolo_line(b, "size"), "size=%d is out of range", size);
    if (sx < 1 || sy < 1 || sx > 64 || sy > 64) return yolo_error(b, 0, yolo_line(b, "stride"), "stride must be 1..64");
    if (dilation != 1)
        return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "dilation"), "dilation=%d is not supported", dilation);
    if (groups < 1 || b->in_c % groups || n % groups)
        return yolo_error(b, 0, yolo_line(b, "groups"), "groups=%d does not divide %d input channels and %d filters",
                          groups, b->in_c, n);
    if (pad) padding = size / 2;
    if (padding < 0 || padding > 64) return yolo_error(b, 0, yolo_line(b, "padding"), "padding=%d is out of range", padding);
    int oh = (b->in_h + 2 * padding - size) / sy + 1, ow = (b->in_w + 2 * padding - size) / sx + 1;
    if (b->in_h + 2 * padding < size || b->in_w + 2 * padding < size || oh < 1 || ow < 1)
        return yolo_error(b, IRIS_ERR_SHAPE, b->s->line, "a %dx%d kernel does not fit the %dx%d input", size, size,
                          b->in_w, b->in_h);
    l->c = n, l->h = oh, l->w = ow;
    l->conv = (iris_conv2d_params){.stride_h = sy, .stride_w = sx, .pad_h = padding, .pad_w = padding, .dil_h = 1,
                                   .dil_w = 1, .groups = groups, .act = l->act, .alpha = l->alpha};

    int cg = b->in_c / groups;
    size_t nw = (size_t)n * cg * size * size;
    float *bias = malloc(4 * (size_t)n * sizeof(float)), *w = malloc(nw * sizeof(float));
    if (!bias || !w) {
        free(bias), free(w);
        return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", b->cfg_path);
    }
    float *scale = bias + n, *mean = bias + 2 * n, *var = bias + 3 * n;
    char what[96];
    snprintf(what, sizeof what, "layer %d ([convolutional] at %s:%d)", b->index, b->cfg_path, b->s->line);
    st = iris_darknet_weights_read(b->weights, bias, (size_t)n, what);
    if (!st && bn) st = iris_darknet_weights_read(b->weights, scale, 3 * (size_t)n, what);
    if (!st) st = iris_darknet_weights_read(b->weights, w, nw, what);
    if (!st && bn) {
        /* darknet's normalize_cpu: (x - mean) / (sqrt(var) + 1e-6), then * scale + bias */
        size_t per = nw / (size_t)n;
        for (int o = 0; o < n; o++) {
            float k = scale[o] / (sqrtf(var[o]) + .000001f);
            for (size_t i = 0; i < per; i++) w[o * per + i] *= k;
            bias[o] -= mean[o] * k;
        }
    }
    if (!st) {
        int64_t ws[4] = {n, cg, size, size}, bs[1] = {n};
        st = iris_tensor_new(&l->weight, b->dev, IRIS_F32, 4, ws);
        if (!st) st = iris_tensor_write(l->weight, w, nw * sizeof(float));
        if (!st) st = iris_tensor_new(&l->bias, b->dev, IRIS_F32, 1, bs);
        if (!st) st = iris_tensor_write(l->bias, bias, (size_t)n * sizeof(float));
        b->info->gflops += 2e-9 * (double)nw * oh * ow;
        b->info->n_params += (int64_t)nw + n;
    }
    free(bias), free(w);
    return st;
}

static iris_tensor *conv_forward(iris_ctx *ctx, const yolo_layer *l, const iris_tensor *in, iris_tensor *const *outs) {
    (void)outs;
    return iris_conv2d(ctx, in, l->weight, l->bias, l->conv);
}

const yolo_kind yolo_conv_kind = {"convolutional", conv_parse, conv_forward};
