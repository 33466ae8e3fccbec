/* yolo_head.c - darknet [yolo]: a detection head. Its input (anchors x (box, objectness,
   classes) channels per grid cell) is the network's output; the decoding into boxes happens on
   the host (yolo_boxes.c) from what this section records in iris_yolo_info.heads. Also
   [dropout], which is the identity at inference. */
#include <string.h>

#include "yolo_layers.h"

/* options darknet reads only for training */
static const char *const train_only[] = {
    "jitter", "ignore_thresh", "truth_thresh", "random", "iou_thresh", "cls_normalizer", "iou_normalizer",
    "obj_normalizer", "iou_loss", "max_delta", "objectness_smooth", "resize", "focal_loss", "label_smooth_eps",
    "counters_per_class", "uc_normalizer", "delta_normalizer", "max", "track_history_size", "sim_thresh",
    "dets_for_track", "dets_for_show", "track_ciou_norm", "embedding_layer", "map", "show_details", NULL};

static iris_status head_parse(yolo_build *b, yolo_layer *l) {
    iris_darknet_section *s = b->s;
    iris_yolo_info *info = b->info;
    iris_status st;
    if (info->n_heads == IRIS_YOLO_MAX_HEADS)
        return yolo_error(b, IRIS_ERR_UNSUPPORTED, s->line, "more than %d [yolo] layers", IRIS_YOLO_MAX_HEADS);
    int classes, num, new_coords, mask[IRIS_YOLO_MAX_MASK], n_mask = 0, n_anchor = 0;
    float scale_x_y, beta, anchors[2 * 64];
    if ((st = iris_darknet_int(s, "classes", 20, &classes)) || (st = iris_darknet_int(s, "num", 1, &num)) ||
        (st = iris_darknet_int(s, "new_coords", 0, &new_coords)) ||
        (st = iris_darknet_float(s, "scale_x_y", 1, &scale_x_y)) || (st = iris_darknet_float(s, "beta_nms", 0.6f, &beta)) ||
        (st = iris_darknet_ints(s, "mask", mask, IRIS_YOLO_MAX_MASK, &n_mask)) ||
        (st = iris_darknet_floats(s, "anchors", anchors, 2 * 64, &n_anchor)))
        return st;
    const char *nms = iris_darknet_str(s, "nms_kind", "default");
    yolo_ignore(s, train_only);
    if (classes < 1 || classes > 100000) return yolo_error(b, 0, yolo_line(b, "classes"), "classes=%d is out of range", classes);
    if (num < 1 || num > 64) return yolo_error(b, 0, yolo_line(b, "num"), "num=%d is out of range (1..64)", num);
    if (n_anchor != 2 * num)
        return yolo_error(b, 0, yolo_line(b, "anchors"), "anchors= has %d numbers, num=%d needs %d", n_anchor, num,
                          2 * num);
    if (!n_mask)
        for (; n_mask < num && n_mask < IRIS_YOLO_MAX_MASK; n_mask++) mask[n_mask] = n_mask;
    if (new_coords != 0 && new_coords != 1) return yolo_error(b, 0, yolo_line(b, "new_coords"), "new_coords must be 0 or 1");
    if (!(scale_x_y >= 1 && scale_x_y <= 10)) return yolo_error(b, 0, yolo_line(b, "scale_x_y"), "scale_x_y is out of range");
    iris_yolo_nms_kind kind;
    if (!strcmp(nms, "default") || !strcmp(nms, "greedynms")) kind = IRIS_YOLO_NMS_GREEDY;
    else if (!strcmp(nms, "diounms")) kind = IRIS_YOLO_NMS_DIOU;
    else return yolo_error(b, IRIS_ERR_UNSUPPORTED, yolo_line(b, "nms_kind"), "nms_kind=%s is not supported", nms);
    if (info->n_heads == 0) {
        info->n_classes = classes, info->nms_kind = kind, info->beta_nms = beta;
    } else if (classes != info->n_classes) {
        return yolo_error(b, 0, yolo_line(b, "classes"), "classes=%d, an earlier [yolo] has %d", classes, info->n_classes);
    }
    iris_yolo_head *h = &info->heads[info->n_heads];
    memset(h, 0, sizeof *h);
    h->layer = b->index, h->grid_w = b->in_w, h->grid_h = b->in_h, h->n_anchors = n_mask;
    h->scale_x_y = scale_x_y, h->new_coords = new_coords, h->channels = n_mask * (classes + 5);
    for (int i = 0; i < n_mask; i++) {
        if (mask[i] < 0 || mask[i] >= num)
            return yolo_error(b, 0, yolo_line(b, "mask"), "mask %d is not one of the %d anchors", mask[i], num);
        h->anchors[2 * i] = anchors[2 * mask[i]], h->anchors[2 * i + 1] = anchors[2 * mask[i] + 1];
    }
    if (b->in_c != h->channels)
        return yolo_error(b, IRIS_ERR_SHAPE, s->line, "its input has %d channels; %d anchors x (5 + %d classes) = %d",
                          b->in_c, n_mask, classes, h->channels);
    l->head = info->n_heads++;
    l->c = b->in_c, l->h = b->in_h, l->w = b->in_w;
    return IRIS_OK;
}

static iris_tensor *identity_forward(iris_ctx *ctx, const yolo_layer *l, const iris_tensor *in,
                                     iris_tensor *const *outs) {
    (void)ctx, (void)l, (void)outs;
    return (iris_tensor *)in;
}

static iris_status dropout_parse(yolo_build *b, yolo_layer *l) {
    float p;
    iris_status st = iris_darknet_float(b->s, "probability", 0.5f, &p);
    if (st) return st;
    static const char *const train[] = {"dropblock", "dropblock_size_rel", "dropblock_size_abs", NULL};
    yolo_ignore(b->s, train);
    l->c = b->in_c, l->h = b->in_h, l->w = b->in_w;
    return IRIS_OK;
}

const yolo_kind yolo_head_kind = {"yolo", head_parse, identity_forward};
const yolo_kind yolo_dropout_kind = {"dropout", dropout_parse, identity_forward};
