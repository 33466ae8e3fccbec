/* yolo_boxes.c - from [yolo] head inputs to boxes in the photo: darknet's decoding
   (get_yolo_detections), its per-class greedy NMS (do_nms_sort, diounms_sort) and its
   correct_yolo_boxes, on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "yolo.h"

static float logistic(float x) { return 1.0f / (1.0f + expf(-x)); }

iris_status iris_yolo_decode(const iris_yolo_info *info, const float *const *heads, float thresh, iris_yolo_det **dets,
                             int *n) {
    *dets = NULL, *n = 0;
    int C = info->n_classes;
    /* first pass: how many boxes pass the objectness threshold */
    size_t count = 0;
    for (int h = 0; h < info->n_heads; h++) {
        const iris_yolo_head *hd = &info->heads[h];
        size_t plane = (size_t)hd->grid_w * hd->grid_h;
        for (int a = 0; a < hd->n_anchors; a++) {
            const float *obj = heads[h] + ((size_t)a * (5 + C) + 4) * plane;
            for (size_t i = 0; i < plane; i++)
                if ((hd->new_coords ? obj[i] : logistic(obj[i])) > thresh) count++;
        }
    }
    size_t bytes = count * (sizeof(iris_yolo_det) + (size_t)C * sizeof(float));
    iris_yolo_det *d = malloc(bytes ? bytes : 1);
    if (!d) return iris_fail(IRIS_ERR_NOMEM, "yolo: out of memory for %zu boxes", count);
    float *probs = (float *)(d + count);
    size_t k = 0;
    for (int h = 0; h < info->n_heads; h++) {
        const iris_yolo_head *hd = &info->heads[h];
        size_t plane = (size_t)hd->grid_w * hd->grid_h;
        float s = hd->scale_x_y, off = -0.5f * (s - 1);
        for (int a = 0; a < hd->n_anchors; a++) {
            const float *t = heads[h] + (size_t)a * (5 + C) * plane;
            for (size_t i = 0; i < plane; i++) {
                float obj = hd->new_coords ? t[4 * plane + i] : logistic(t[4 * plane + i]);
                if (!(obj > thresh)) continue;
                int col = (int)(i % hd->grid_w), row = (int)(i / hd->grid_w);
                iris_yolo_det *e = &d[k];
                float tx = t[i], ty = t[plane + i], tw = t[2 * plane + i], th = t[3 * plane + i];
                if (!hd->new_coords) tx = logistic(tx), ty = logistic(ty);
                e->cx = (col + tx * s + off) / hd->grid_w;
                e->cy = (row + ty * s + off) / hd->grid_h;
                if (hd->new_coords) {
                    e->w = tw * tw * 4 * hd->anchors[2 * a] / info->width;
                    e->h = th * th * 4 * hd->anchors[2 * a + 1] / info->height;
                } else {
                    e->w = expf(tw) * hd->anchors[2 * a] / info->width;
                    e->h = expf(th) * hd->anchors[2 * a + 1] / info->height;
                }
                e->objectness = obj;
                e->prob = probs + k * (size_t)C;
                for (int c = 0; c < C; c++) {
                    float cl = t[(5 + (size_t)c) * plane + i];
                    float p = obj * (hd->new_coords ? cl : logistic(cl));
                    e->prob[c] = p > thresh ? p : 0;
                }
                e->x1 = e->cx - e->w / 2, e->x2 = e->cx + e->w / 2;
                e->y1 = e->cy - e->h / 2, e->y2 = e->cy + e->h / 2;
                k++;
            }
        }
    }
    *dets = d, *n = (int)k;
    return IRIS_OK;
}

/* darknet's overlap of centre-size boxes */
static float overlap(float x1, float w1, float x2, float w2) {
    float left = fmaxf(x1 - w1 / 2, x2 - w2 / 2), right = fminf(x1 + w1 / 2, x2 + w2 / 2);
    return right - left;
}

static float iou(const iris_yolo_det *a, const iris_yolo_det *b) {
    float w = overlap(a->cx, a->w, b->cx, b->w), h = overlap(a->cy, a->h, b->cy, b->h);
    float inter = w < 0 || h < 0 ? 0 : w * h;
    float uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0 ? inter / uni : 0;
}

/* AlexeyAB's box_diounms: IoU less (centre distance^2 / enclosing diagonal^2)^beta */
static float diou(const iris_yolo_det *a, const iris_yolo_det *b, float beta) {
    float l = fminf(a->cx - a->w / 2, b->cx - b->w / 2), r = fmaxf(a->cx + a->w / 2, b->cx + b->w / 2);
    float t = fminf(a->cy - a->h / 2, b->cy - b->h / 2), bo = fmaxf(a->cy + a->h / 2, b->cy + b->h / 2);
    float c = (r - l) * (r - l) + (bo - t) * (bo - t);
    float d = (a->cx - b->cx) * (a->cx - b->cx) + (a->cy - b->cy) * (a->cy - b->cy);
    float v = iou(a, b);
    return c > 0 ? v - powf(d / c, beta) : v;
}

static int by_score(const void *pa, const void *pb, void *cls) {
    int c = *(const int *)cls;
    float a = ((const iris_yolo_det *)pa)->prob[c], b = ((const iris_yolo_det *)pb)->prob[c];
    return a < b ? 1 : a > b ? -1 : 0;
}

void iris_yolo_nms(iris_yolo_det *dets, int *n, int n_classes, float thresh, iris_yolo_nms_kind kind, float beta) {
    int total = *n;
    for (int c = 0; c < n_classes; c++) {
        /* qsort is not stable; ties keep no particular order, as in darknet */
        qsort_r(dets, (size_t)total, sizeof *dets, by_score, &c);
        for (int i = 0; i < total; i++) {
            if (dets[i].prob[c] == 0) continue;
            for (int j = i + 1; j < total; j++) {
                if (dets[j].prob[c] == 0) continue;
                float o = kind == IRIS_YOLO_NMS_DIOU ? diou(&dets[i], &dets[j], beta) : iou(&dets[i], &dets[j]);
                if (o > thresh) dets[j].prob[c] = 0;
            }
        }
    }
    int k = 0;
    for (int i = 0; i < total; i++) {
        int any = 0;
        for (int c = 0; c < n_classes && !any; c++) any = dets[i].prob[c] > 0;
        if (any) dets[k++] = dets[i];
    }
    *n = k;
}

void iris_yolo_map_boxes(iris_yolo_det *dets, int n, int net_w, int net_h, iris_yolo_fit fit, int photo_w,
                         int photo_h) {
    int new_w = net_w, new_h = net_h;
    if (fit != IRIS_YOLO_FIT_STRETCH) {
        if ((float)net_w / photo_w < (float)net_h / photo_h) new_h = (photo_h * net_w) / photo_w;
        else new_w = (photo_w * net_h) / photo_h;
    }
    /* darknet offsets by half the margin as a float, though the image sits at the truncated offset */
    float dx = (net_w - new_w) / 2.0f / net_w, dy = (net_h - new_h) / 2.0f / net_h;
    if (fit == IRIS_YOLO_FIT_LETTERBOX_EXACT) dx = (float)((net_w - new_w) / 2) / net_w, dy = (float)((net_h - new_h) / 2) / net_h;
    float rx = (float)new_w / net_w, ry = (float)new_h / net_h;
    for (int i = 0; i < n; i++) {
        iris_yolo_det *d = &dets[i];
        d->cx = (d->cx - dx) / rx, d->cy = (d->cy - dy) / ry;
        d->w /= rx, d->h /= ry;
        d->x1 = (d->cx - d->w / 2) * photo_w, d->x2 = (d->cx + d->w / 2) * photo_w;
        d->y1 = (d->cy - d->h / 2) * photo_h, d->y2 = (d->cy + d->h / 2) * photo_h;
    }
}
