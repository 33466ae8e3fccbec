/* test_yolo_opencv.c - every YOLO cfg the issue names (v3-tiny, v4-tiny, v3, v4, v4-csp, v7-tiny,
   Yolo-Fastest) with the same random weights as tests/ref/gen_yolo_random.py, against OpenCV DNN:
   the inputs of the [yolo] heads and OpenCV's decoded region outputs. */
#include <stdlib.h>
#include <string.h>

#include "../vision/yolo.h"
#include "test.h"
#include "yolo_random.h"

static void check_cfg(const char *name, const char *cfg_rel) {
    char file[128];
    snprintf(file, sizeof file, "yolo/%s.safetensors", name);
    iris_safetensors *st = test_ref(file);
    const char *p = st ? test_data(cfg_rel) : NULL;
    if (!p) return;
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s", p);
    int W = atoi(iris_safetensors_meta(st, "width")), H = atoi(iris_safetensors_meta(st, "height"));
    uint8_t *wb = NULL;
    size_t nb = 0;
    CHECK_OK(yolo_random_weights(cfg, 1, &wb, &nb));
    iris_yolo_params yp = {W, H};
    iris_yolo *net = NULL;
    if (wb) CHECK_OK(iris_yolo_load_mem(&net, cfg, wb, nb, name, &yp, IRIS_CPU));
    free(wb);
    if (!net) return;
    const iris_yolo_info *info = iris_yolo_get_info(net);
    CHECK_INT(info->n_heads, atoi(iris_safetensors_meta(st, "n_heads")));
    size_t n_in = (size_t)3 * W * H;
    float *x = malloc(n_in * sizeof *x);
    yolo_random_input(1, x, n_in);
    iris_ctx *ctx = test_ctx(2);
    int64_t shape[4] = {1, 3, H, W};
    iris_tensor *heads[IRIS_YOLO_MAX_HEADS];
    CHECK_OK(iris_yolo_forward(ctx, net, iris_ctx_upload(ctx, IRIS_F32, 4, shape, x), heads));
    const float *host[IRIS_YOLO_MAX_HEADS] = {0};
    for (int h = 0; h < info->n_heads && heads[h]; h++) {
        char key[32];
        snprintf(key, sizeof key, "head%d_layer", h);
        CHECK_INT(info->heads[h].layer - 1, atoi(iris_safetensors_meta(st, key))); /* the conv feeding the [yolo] */
        snprintf(key, sizeof key, "head%d", h);
        int64_t n;
        float *want = test_ref_f32(file, key, &n);
        float *got = test_read_f32(heads[h]);
        CHECK_INT(iris_nelements(heads[h]), n);
        /* random weights through up to 160 layers, f32 sums in another order: heads of std ~1 agree
           to ~1e-4; allow 1e-3 absolute */
        if (want && got && iris_nelements(heads[h]) == n) CHECK_CLOSE(got, want, n, 1e-3, 1e-3);
        free(want);
        host[h] = got;
    }
    /* decoding: with no threshold every (cell, anchor) comes out, in head, anchor, cell order */
    iris_yolo_det *d = NULL;
    int nd = 0;
    CHECK_OK(iris_yolo_decode(info, host, 0.0f, &d, &nd));
    int k = 0, bad = 0;
    for (int h = 0; h < info->n_heads && d; h++) {
        const iris_yolo_head *hd = &info->heads[h];
        char key[32];
        snprintf(key, sizeof key, "yolo%d", h);
        int64_t n;
        float *reg = test_ref_f32(file, key, &n);
        int plane = hd->grid_w * hd->grid_h, C = info->n_classes;
        CHECK_INT(n, (int64_t)plane * hd->n_anchors * (5 + C));
        for (int a = 0; a < hd->n_anchors && reg; a++)
            for (int i = 0; i < plane; i++, k++) {
                if (k >= nd) break;
                const float *r = reg + ((size_t)i * hd->n_anchors + a) * (5 + C);
                const iris_yolo_det *e = &d[k];
                /* OpenCV's float32 against ours: 1e-4 relative as the fixture README measured, floor 1e-4 */
                float got5[5] = {e->cx, e->cy, e->w, e->h, e->objectness};
                for (int f = 0; f < 5; f++) bad += fabsf(got5[f] - r[f]) > 1e-4f + 2e-4f * fabsf(r[f]);
                /* OpenCV zeroes class scores <= 0.2: compare where both sides are clear of that line */
                for (int c = 0; c < C; c++) {
                    float o = r[5 + c], g = e->prob[c];
                    if (o > 0.2f + 1e-4f) bad += fabsf(g - o) > 1e-4f + 2e-4f * o;
                    else if (o == 0) bad += g > 0.2f + 1e-4f;
                }
            }
        free(reg);
    }
    CHECK_INT(k, nd);
    CHECK_MSG(bad == 0, "%s: %d decoded values differ from OpenCV's", name, bad);
    free(d);
    for (int h = 0; h < info->n_heads; h++) free((void *)host[h]);
    free(x);
    iris_yolo_free(net);
}

TEST(yolo_opencv_yolov3_tiny) { check_cfg("yolov3-tiny", "yolo/cfg/yolov3-tiny.cfg"); }
TEST(yolo_opencv_yolov4_tiny) { check_cfg("yolov4-tiny", "yolo/cfg/yolov4-tiny.cfg"); }
TEST(yolo_opencv_yolov3) { check_cfg("yolov3", "yolo/cfg/yolov3.cfg"); }
TEST(yolo_opencv_yolov4) { check_cfg("yolov4", "yolo/cfg/yolov4.cfg"); }
TEST(yolo_opencv_yolov4_csp) { check_cfg("yolov4-csp", "yolo/cfg/yolov4-csp.cfg"); }
TEST(yolo_opencv_yolov7_tiny) { check_cfg("yolov7-tiny", "yolo/cfg/yolov7-tiny.cfg"); }
TEST(yolo_opencv_fastest_random) { check_cfg("yolo-fastest-1.1", "yolo/yolo-fastest-1.1.cfg"); }
