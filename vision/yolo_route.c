/* yolo_route.c - darknet [route]: the named layers' outputs joined along channels; with
   groups/group_id only the group_id-th of `groups` equal channel slices of each (the CSP
   blocks of YOLOv4-tiny take half of a layer this way). */
#include "yolo_layers.h"

static iris_status route_parse(yolo_build *b, yolo_layer *l) {
    int v[YOLO_MAX_INPUTS], n = 0;
    iris_status st;
    if (!iris_darknet_value(b->s, "layers"))
        return yolo_error(b, 0, b->s->line, "needs layers=");
    if ((st = iris_darknet_ints(b->s, "layers", v, YOLO_MAX_INPUTS, &n))) return st;
    if (n < 1) return yolo_error(b, 0, yolo_line(b, "layers"), "layers= is empty");
    if ((st = iris_darknet_int(b->s, "groups", 1, &l->groups)) ||
        (st = iris_darknet_int(b->s, "group_id", 0, &l->group_id)))
        return st;
    if (l->groups < 1 || l->group_id < 0 || l->group_id >= l->groups)
        return yolo_error(b, 0, yolo_line(b, "groups"), "groups=%d group_id=%d: need 0 <= group_id < groups",
                          l->groups, l->group_id);
    l->n_in = n;
    l->c = 0;
    for (int i = 0; i < n; i++) {
        if ((st = yolo_layer_ref(b, "layers", v[i], &l->in[i]))) return st;
        const yolo_layer *src = &b->layers[l->in[i]];
        if (i == 0) l->h = src->h, l->w = src->w;
        if (src->h != l->h || src->w != l->w)
            return yolo_error(b, IRIS_ERR_SHAPE, yolo_line(b, "layers"),
                              "layers %d (%dx%d) and %d (%dx%d) differ in size", l->in[0], l->w, l->h, l->in[i],
                              src->w, src->h);
        if (src->c % l->groups)
            return yolo_error(b, IRIS_ERR_SHAPE, yolo_line(b, "groups"), "layer %d's %d channels do not split in %d groups",
                              l->in[i], src->c, l->groups);
        l->c += src->c / l->groups;
    }
    return IRIS_OK;
}

static iris_tensor *route_forward(iris_ctx *ctx, const yolo_layer *l, const iris_tensor *in, iris_tensor *const *outs) {
    (void)in;
    iris_tensor *y = NULL;
    for (int i = 0; i < l->n_in; i++) {
        const iris_tensor *x = outs[l->in[i]];
        if (l->groups > 1 && x) {
            int64_t part = x->ne[1] / l->groups;
            x = iris_narrow(ctx, x, 1, part * l->group_id, part);
        }
        if (!x) return NULL;
        /* a lone input passes through; a slice is made contiguous for the convs after */
        if (i == 0) y = l->n_in == 1 && l->groups > 1 ? iris_copy(ctx, x, IRIS_F32) : (iris_tensor *)x;
        else y = iris_concat(ctx, y, x, 1);
    }
    return y;
}

const yolo_kind yolo_route_kind = {"route", route_parse, route_forward};
