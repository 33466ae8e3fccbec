/* test_yolo.c - darknet YOLO against the tools people compare with: the real Yolo-Fastest
   models of ../shared/data/yolo, matched to OpenCV DNN's raw head tensors and to darknet's own
   detections on the shared photos. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../vision/yolo.h"
#include "test.h"

static float *read_bin(const char *path, size_t n) {
    float *v = malloc(n * sizeof *v);
    FILE *f = fopen(path, "rb");
    size_t got = f && v ? fread(v, sizeof *v, n, f) : 0;
    if (f) fclose(f);
    if (!CHECK_MSG(got == n, "%s: read %zu of %zu floats", path, got, n)) {
        free(v);
        return NULL;
    }
    return v;
}

static iris_yolo *load_fastest(const char *name) {
    char cfg[4096], weights[4096], rel[128];
    snprintf(rel, sizeof rel, "yolo/%s.cfg", name);
    const char *p = test_data(rel);
    if (!p) return NULL;
    snprintf(cfg, sizeof cfg, "%s", p);
    snprintf(rel, sizeof rel, "yolo/%s.weights", name);
    if (!(p = test_data(rel))) return NULL;
    snprintf(weights, sizeof weights, "%s", p);
    iris_yolo *net = NULL;
    CHECK_OK(iris_yolo_load(&net, cfg, weights, NULL, IRIS_CPU));
    return net;
}

TEST(yolo_fastest_structure) {
    iris_yolo *net = load_fastest("yolo-fastest-1.1");
    if (!net) return;
    const iris_yolo_info *info = iris_yolo_get_info(net);
    CHECK_INT(info->width, 320);
    CHECK_INT(info->height, 320);
    CHECK_INT(info->n_classes, 80);
    CHECK_INT(info->n_heads, 2);
    CHECK_INT(info->heads[0].grid_w, 10);
    CHECK_INT(info->heads[1].grid_w, 20);
    CHECK_INT(info->heads[0].n_anchors, 3);
    /* mask 3,4,5 of 12,18, 37,49, 52,132, 115,73, 119,199, 242,238 */
    CHECK_NEAR(info->heads[0].anchors[0], 115, 0);
    CHECK_NEAR(info->heads[1].anchors[5], 132, 0);
    /* the README: 0.35M parameters, and the file is exactly header + floats */
    CHECK_MSG(info->n_params > 300000 && info->n_params < 400000, "params %lld", (long long)info->n_params);
    iris_yolo_free(net);
}

/* OpenCV DNN fed its own letterboxed input: the two head convs' raw outputs. OpenCV sums in
   another order (and folds batch norm with sqrt(var + eps)), so values agree to float rounding
   through ~80 layers: logits of magnitude up to ~20, seen |diff| below 1e-3. */
TEST(yolo_fastest_heads_match_opencv) {
    iris_yolo *net = load_fastest("yolo-fastest-1.1");
    const char *p = test_data("yolo/reference/tensors/yolo-fastest-1.1.opencv-letterbox.dog");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", p ? p : "");
    if (!net || !p) {
        iris_yolo_free(net);
        return;
    }
    char path[8300];
    snprintf(path, sizeof path, "%s/input_1x3x320x320_f32le.bin", dir);
    float *in = read_bin(path, 3 * 320 * 320);
    snprintf(path, sizeof path, "%s/conv_120_1x255x10x10_f32le.bin", dir);
    float *h0 = read_bin(path, 255 * 100);
    snprintf(path, sizeof path, "%s/conv_129_1x255x20x20_f32le.bin", dir);
    float *h1 = read_bin(path, 255 * 400);
    if (in && h0 && h1) {
        iris_ctx *ctx = test_ctx(2);
        int64_t shape[4] = {1, 3, 320, 320};
        iris_tensor *heads[IRIS_YOLO_MAX_HEADS];
        CHECK_OK(iris_yolo_forward(ctx, net, iris_ctx_upload(ctx, IRIS_F32, 4, shape, in), heads));
        float *g0 = heads[0] ? test_read_f32(heads[0]) : NULL, *g1 = heads[1] ? test_read_f32(heads[1]) : NULL;
        if (g0 && g1) {
            CHECK_CLOSE(g0, h0, 255 * 100, 2e-3, 1e-4);
            CHECK_CLOSE(g1, h1, 255 * 400, 2e-3, 1e-4);
        }
        free(g0), free(g1);
    }
    free(in), free(h0), free(h1);
    iris_yolo_free(net);
}

/* darknet's exact network input for dog.jpg equals ours (same resize, same margins, bit for bit
   up to float rounding of the two lerps). */
TEST(yolo_darknet_letterbox_matches_darknet) {
    const char *p = test_data("yolo/reference/tensors/yolo-fastest-1.1.darknet-letterbox.dog");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", p ? p : "");
    const char *jpg = p ? test_data("images/dog.jpg") : NULL;
    if (!jpg) return;
    char path[8300];
    snprintf(path, sizeof path, "%s/input_1x3x320x320_f32le.bin", dir);
    float *want = read_bin(path, 3 * 320 * 320);
    iris_image img;
    CHECK_OK(iris_image_load(&img, jpg, NULL));
    iris_yolo_info info = {.width = 320, .height = 320, .channels = 3};
    float *got = malloc(3 * 320 * 320 * sizeof *got);
    CHECK_OK(iris_yolo_preprocess(&info, &img, IRIS_YOLO_DARKNET, got));
    if (want) CHECK_CLOSE(got, want, 3 * 320 * 320, 1e-6, 0);
    free(got), free(want);
    iris_image_free(&img);
}

static float box_iou(const float *a, const float *b) {
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    float inter = iw > 0 && ih > 0 ? iw * ih : 0;
    float u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return u > 0 ? inter / u : 0;
}

/* The whole pipeline from JPEG to boxes against darknet's own detections on the 12 photos:
   every reference box found (same class, IoU >= 0.9, score within 0.02) and no box of ours
   above the threshold that darknet does not list. */
static void check_darknet(const char *model, const char *tool, iris_yolo_resize how) {
    char rel[256];
    snprintf(rel, sizeof rel, "yolo/reference/%s.%s.json", model, tool);
    const char *p = test_data(rel);
    char ref[4096];
    snprintf(ref, sizeof ref, "%s", p ? p : "");
    iris_yolo *net = p ? load_fastest(model) : NULL;
    cJSON *root = net ? test_json(ref) : NULL;
    const char *data = root ? test_data("images") : NULL;
    if (!data) {
        cJSON_Delete(root);
        iris_yolo_free(net);
        return;
    }
    const iris_yolo_info *info = iris_yolo_get_info(net);
    const cJSON *images = cJSON_GetObjectItem(root, "images");
    CHECK_INT(cJSON_GetArraySize(images), 12);
    int n_ref = 0, n_found = 0;
    for (const cJSON *im = images ? images->child : NULL; im; im = im->next) {
        const char *name = cJSON_GetObjectItem(im, "image")->valuestring; /* "images/dog.jpg" */
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", data, strchr(name, '/') + 1);
        iris_image img;
        CHECK_OK(iris_image_load(&img, path, NULL));
        if (!img.data) continue;
        CHECK_INT(img.w, cJSON_GetObjectItem(im, "width")->valueint);
        CHECK_INT(img.h, cJSON_GetObjectItem(im, "height")->valueint);
        float *x = malloc(3 * (size_t)info->width * info->height * sizeof *x);
        CHECK_OK(iris_yolo_preprocess(info, &img, how, x));
        iris_ctx *ctx = test_ctx(2);
        int64_t shape[4] = {1, 3, info->height, info->width};
        iris_detection *dets = NULL;
        int n = 0;
        iris_yolo_detect_params p = iris_yolo_default_detect_params();
        p.how = how;
        CHECK_OK(iris_yolo_detect(ctx, net, iris_ctx_upload(ctx, IRIS_F32, 4, shape, x), &img.w, &img.h, &p, &dets, &n));
        const cJSON *want = cJSON_GetObjectItem(im, "detections");
        int *used = calloc((size_t)n + 1, sizeof *used);
        for (const cJSON *d = want ? want->child : NULL; d; d = d->next) {
            int cls = cJSON_GetObjectItem(d, "class_id")->valueint;
            float score = (float)cJSON_GetObjectItem(d, "score")->valuedouble, box[4];
            for (int k = 0; k < 4; k++) box[k] = (float)cJSON_GetArrayItem(cJSON_GetObjectItem(d, "box_xyxy"), k)->valuedouble;
            int best = -1;
            float best_iou = 0;
            for (int i = 0; i < n; i++) {
                if (dets[i].class_id != cls || used[i]) continue;
                float o = box_iou(&dets[i].x1, box);
                if (o > best_iou) best_iou = o, best = i;
            }
            n_ref++;
            int ok = best >= 0 && best_iou >= 0.9f && fabsf(dets[best].score - score) <= 0.02f;
            CHECK_MSG(ok, "%s %s: darknet's class %d score %.4f box %.1f,%.1f,%.1f,%.1f: best match IoU %.3f score %.4f",
                      model, name, cls, score, box[0], box[1], box[2], box[3], best_iou, best >= 0 ? dets[best].score : 0);
            if (best >= 0) used[best] = 1, n_found += ok;
        }
        for (int i = 0; i < n; i++)
            CHECK_MSG(used[i], "%s %s: extra box class %d score %.4f at %.1f,%.1f,%.1f,%.1f", model, name,
                      dets[i].class_id, dets[i].score, dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2);
        free(used), free(dets), free(x);
        iris_image_free(&img);
    }
    CHECK_MSG(n_ref > 30, "only %d reference boxes", n_ref);
    CHECK_INT(n_found, n_ref);
    cJSON_Delete(root);
    iris_yolo_free(net);
}

TEST(yolo_fastest_matches_darknet) { check_darknet("yolo-fastest-1.1", "darknet-letterbox", IRIS_YOLO_DARKNET); }
TEST(yolo_fastest_xl_matches_darknet) { check_darknet("yolo-fastest-1.1-xl", "darknet-letterbox", IRIS_YOLO_DARKNET); }
/* OpenCV resizes in u8 (cv2.resize INTER_LINEAR, fixed point) where we interpolate in float: inputs
   differ by under 1/255, which moves scores by far less than the 0.02 allowed. */
TEST(yolo_fastest_matches_opencv_letterbox) { check_darknet("yolo-fastest-1.1", "opencv-letterbox", IRIS_YOLO_OPENCV); }
TEST(yolo_fastest_xl_matches_opencv_resize) { check_darknet("yolo-fastest-1.1-xl", "opencv-resize", IRIS_YOLO_STRETCH); }
