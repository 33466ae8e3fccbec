/* yolo_shortcut.c - darknet [shortcut]: the previous layer plus layer `from`, then the
   activation (linear in every YOLO cfg). The weighted forms (weights_type=per_feature or
   per_channel, YOLOv4's "normalization") are refused rather than guessed at. */
#include <string.h>

#include "yolo_layers.h"

static iris_status shortcut_parse(yolo_build *b, yolo_layer *l) {
    int from;
    iris_status st;
    if (!iris_darknet_value(b->s, "from")) return yolo_error(b, 0, b->s->line, "needs from=");
    int v[YOLO_MAX_INPUTS], n = 0;
    if ((st = iris_darknet_ints(b->s, "from", v, YOLO_MAX_INPUTS, &n))) return st;
    if (n != 1)
        return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "from"), "from= with %d layers is not supported", n);
    from = v[0];
    const char *wt = iris_darknet_str(b->s, "weights_type", "none");
    if (strcmp(wt, "none"))
        return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "weights_type"), "weights_type=%s is not supported", wt);
    const char *norm = iris_darknet_str(b->s, "weights_normalization", "none");
    if (strcmp(norm, "none"))
        return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "weights_normalization"),
                          "weights_normalization=%s is not supported", norm);
    if ((st = yolo_activation(b, &l->act, &l->alpha))) return st;
    if ((st = yolo_layer_ref(b, "from", from, &l->in[0]))) return st;
    l->n_in = 1;
    const yolo_layer *src = &b->layers[l->in[0]];
    /* darknet adds the overlapping channels of differently shaped maps; no YOLO cfg does that */
    if (src->c != b->in_c || src->h != b->in_h || src->w != b->in_w)
        return yolo_error(b, IRIS_ERR_SHAPE, yolo_line(b, "from"),
                          "layer %d is %dx%dx%d but the previous layer is %dx%dx%d", l->in[0], src->c, src->h, src->w,
                          b->in_c, b->in_h, b->in_w);
    l->c = b->in_c, l->h = b->in_h, l->w = b->in_w;
    return IRIS_OK;
}

static iris_tensor *shortcut_forward(iris_ctx *ctx, const yolo_layer *l, const iris_tensor *in,
                                     iris_tensor *const *outs) {
    iris_tensor *y = iris_add(ctx, in, outs[l->in[0]]);
    return l->act == IRIS_ACT_NONE ? y : iris_unary(ctx, y, l->act, l->alpha);
}

const yolo_kind yolo_shortcut_kind = {"shortcut", shortcut_parse, shortcut_forward};
