/* yolo_detect.c - photos in, boxes out: the input preprocessing that each reference tool uses,
   and the forward pass followed by decoding, mapping and NMS per image. */
#include <stdlib.h>
#include <string.h>

#include "yolo.h"

iris_status iris_yolo_preprocess(const iris_yolo_info *info, const iris_image *photo, iris_yolo_resize how,
                                 float *dst) {
    int W = info->width, H = info->height;
    iris_image rgb = {0};
    const iris_image *src = photo;
    iris_status st = IRIS_OK;
    if (photo->c != 3) {
        if ((st = iris_image_convert(&rgb, photo, 3))) return st;
        src = &rgb;
    }
    float *hwc = malloc((size_t)W * H * 3 * sizeof(float));
    if (!hwc) st = iris_fail(IRIS_ERR_NOMEM, "yolo: out of memory for a %dx%d input", W, H);
    else if (how == IRIS_YOLO_STRETCH) {
        st = iris_image_resize_f32(hwc, src, W, H, IRIS_RESIZE_BILINEAR);
    } else {
        st = iris_image_letterbox_f32(hwc, src, W, H, how == IRIS_YOLO_DARKNET ? IRIS_RESIZE_DARKNET : IRIS_RESIZE_BILINEAR,
                                      0.5f, NULL);
    }
    if (!st) st = iris_hwc_to_nchw_f32(hwc, W, H, 3, dst, NULL);
    free(hwc);
    iris_image_free(&rgb);
    return st;
}

iris_yolo_detect_params iris_yolo_default_detect_params(void) {
    return (iris_yolo_detect_params){.thresh = 0.25f, .nms = 0.45f, .how = IRIS_YOLO_DARKNET};
}

static int by_score(const void *a, const void *b) {
    float x = ((const iris_detection *)a)->score, y = ((const iris_detection *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* One image's heads -> its detection list. */
static iris_status one_image(const iris_yolo_info *info, const float *const *heads, int pw, int ph,
                             const iris_yolo_detect_params *p, iris_detection **out, int *n_out) {
    iris_yolo_det *d;
    int n;
    iris_status st = iris_yolo_decode(info, heads, p->thresh, &d, &n);
    if (st) return st;
    iris_yolo_map_boxes(d, n, info->width, info->height,
                        p->how == IRIS_YOLO_STRETCH  ? IRIS_YOLO_FIT_STRETCH
                        : p->how == IRIS_YOLO_OPENCV ? IRIS_YOLO_FIT_LETTERBOX_EXACT
                                                     : IRIS_YOLO_FIT_LETTERBOX,
                        pw, ph);
    iris_yolo_nms(d, &n, info->n_classes, p->nms, info->nms_kind, info->beta_nms);
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < info->n_classes; c++) k += d[i].prob[c] > 0;
    iris_detection *r = malloc((size_t)(k ? k : 1) * sizeof *r);
    if (!r) {
        free(d);
        return iris_fail(IRIS_ERR_NOMEM, "yolo: out of memory");
    }
    k = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < info->n_classes; c++)
            if (d[i].prob[c] > 0)
                r[k++] = (iris_detection){c, d[i].prob[c], d[i].x1, d[i].y1, d[i].x2, d[i].y2};
    free(d);
    qsort(r, (size_t)k, sizeof *r, by_score);
    *out = r, *n_out = k;
    return IRIS_OK;
}

iris_status iris_yolo_detect(iris_ctx *ctx, const iris_yolo *net, const iris_tensor *x, const int *photo_w,
                             const int *photo_h, const iris_yolo_detect_params *p, iris_detection **dets, int *n_dets) {
    const iris_yolo_info *info = iris_yolo_get_info(net);
    iris_yolo_detect_params dp = p ? *p : iris_yolo_default_detect_params();
    iris_tensor *heads[IRIS_YOLO_MAX_HEADS];
    iris_status st = iris_yolo_forward(ctx, net, x, heads);
    if (st) return st;
    int N = (int)x->ne[0];
    for (int i = 0; i < N; i++) dets[i] = NULL, n_dets[i] = 0;
    float *host[IRIS_YOLO_MAX_HEADS] = {0};
    for (int h = 0; h < info->n_heads && !st; h++) {
        size_t bytes = iris_nbytes(heads[h]);
        host[h] = malloc(bytes);
        if (!host[h]) st = iris_fail(IRIS_ERR_NOMEM, "yolo: out of memory");
        else st = iris_tensor_read(heads[h], host[h], bytes);
    }
    for (int i = 0; i < N && !st; i++) {
        const float *img_heads[IRIS_YOLO_MAX_HEADS];
        for (int h = 0; h < info->n_heads; h++) {
            const iris_yolo_head *hd = &info->heads[h];
            img_heads[h] = host[h] + (size_t)i * hd->channels * hd->grid_w * hd->grid_h;
        }
        st = one_image(info, img_heads, photo_w[i], photo_h[i], &dp, &dets[i], &n_dets[i]);
    }
    for (int h = 0; h < info->n_heads; h++) free(host[h]);
    if (st)
        for (int i = 0; i < N; i++) free(dets[i]), dets[i] = NULL, n_dets[i] = 0;
    return st;
}
