/* test_resnet.c - ResNet loading and forward pass.
   References: torchvision 0.14 forward of tiny random ResNet-18/50 (tests/ref/gen_resnet.py), and the
   PyTorch logits of the real CIFAR ResNet-20..56 in shared/data/resnet/reference (akamaster's resnet.py). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../vision/resnet.h"
#include "test.h"

static void check_tiny(const char *file, int depth, int bottleneck, int classes, int feat_dim, int threads) {
    char path[256];
    snprintf(path, sizeof path, "tests/ref/%s", file);
    iris_resnet *net = NULL;
    CHECK_OK(iris_resnet_load(&net, path, IRIS_CPU));
    if (!net) return;
    const iris_resnet_info *info = iris_resnet_get_info(net);
    CHECK_INT(info->depth, depth);
    CHECK_INT(info->bottleneck, bottleneck);
    CHECK_INT(info->cifar, 0);
    CHECK_INT(info->n_classes, classes);
    CHECK_INT(info->feature_dim, feat_dim);
    CHECK_INT(info->input_size, 224);
    int64_t n_in, n_logits, n_feat;
    float *in = test_ref_f32(file, "ref.input", &n_in);
    float *want = test_ref_f32(file, "ref.logits", &n_logits);
    float *want_f = test_ref_f32(file, "ref.features", &n_feat);
    iris_ctx *ctx = test_ctx(threads);
    int64_t shape[4] = {2, 3, 64, 64};
    iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 4, shape, in);
    iris_tensor *logits = NULL, *feats = NULL;
    CHECK_OK(iris_resnet_forward(ctx, net, x, &logits, &feats));
    if (logits && feats) {
        CHECK_INT(logits->ne[0], 2);
        CHECK_INT(logits->ne[1], classes);
        CHECK_INT(feats->ne[1], feat_dim);
        float *got = test_read_f32(logits), *got_f = test_read_f32(feats);
        CHECK_CLOSE(got, want, n_logits, 2e-4, 1e-3);
        CHECK_CLOSE(got_f, want_f, n_feat, 2e-4, 1e-3);
        free(got);
        free(got_f);
    }
    free(in);
    free(want);
    free(want_f);
    iris_resnet_free(net);
}

TEST(resnet18_tiny_matches_torchvision) { check_tiny("resnet18_tiny.safetensors", 18, 0, 10, 64, 1); }
TEST(resnet50_tiny_f16_matches_torchvision) { check_tiny("resnet50_tiny.safetensors", 50, 1, 12, 256, 2); }

/* Real trained CIFAR nets: the 8 photos' exact 32x32 pixels are in the reference JSON. */
static void check_cifar(int depth) {
    char rel[128];
    snprintf(rel, sizeof rel, "resnet/resnet%d.safetensors", depth);
    const char *p = test_data(rel);
    if (!p) return;
    char model[4096];
    snprintf(model, sizeof model, "%s", p);
    snprintf(rel, sizeof rel, "resnet/reference/resnet%d_logits.json", depth);
    p = test_data(rel);
    if (!p) return;
    cJSON *root = test_json(p);
    iris_resnet *net = NULL;
    CHECK_OK(iris_resnet_load(&net, model, IRIS_CPU));
    if (!net || !root) { cJSON_Delete(root); iris_resnet_free(net); return; }
    const iris_resnet_info *info = iris_resnet_get_info(net);
    CHECK_INT(info->cifar, 1);
    CHECK_INT(info->depth, depth);
    CHECK_INT(info->n_classes, 10);
    CHECK_INT(info->input_size, 32);
    const cJSON *results = cJSON_GetObjectItem(root, "results");
    int n = cJSON_GetArraySize(results);
    CHECK_INT(n, 8);
    /* run all 8 photos as one batch */
    float *in = malloc(sizeof(float) * 8 * 3 * 32 * 32), want[8][10];
    int i = 0;
    for (const cJSON *r = results ? results->child : NULL; r && i < 8; r = r->next, i++) {
        const cJSON *px = cJSON_GetObjectItem(r, "input_rgb_u8_hwc_32x32"), *lg = cJSON_GetObjectItem(r, "logits");
        for (int k = 0; k < 32 * 32; k++)
            for (int c = 0; c < 3; c++) {
                float v = (float)cJSON_GetArrayItem(px, k * 3 + c)->valuedouble / 255.f;
                in[((size_t)i * 3 + c) * 1024 + k] = (v - info->mean[c]) / info->std[c];
            }
        for (int c = 0; c < 10; c++) want[i][c] = (float)cJSON_GetArrayItem(lg, c)->valuedouble;
    }
    iris_ctx *ctx = test_ctx(2);
    int64_t shape[4] = {8, 3, 32, 32};
    iris_tensor *logits = NULL;
    CHECK_OK(iris_resnet_forward(ctx, net, iris_ctx_upload(ctx, IRIS_F32, 4, shape, in), &logits, NULL));
    float *got = test_read_f32(logits);
    CHECK_CLOSE(got, &want[0][0], 80, 1e-4, 1e-4);
    free(got);
    free(in);
    cJSON_Delete(root);
    iris_resnet_free(net);
}

TEST(resnet20_cifar_matches_pytorch) { check_cifar(20); }
TEST(resnet32_cifar_matches_pytorch) { check_cifar(32); }
TEST(resnet44_cifar_matches_pytorch) { check_cifar(44); }
TEST(resnet56_cifar_matches_pytorch) { check_cifar(56); }

TEST(resnet_rejects_non_resnet_files) {
    iris_resnet *net = (iris_resnet *)1;
    /* a safetensors file without ResNet tensors */
    CHECK(iris_resnet_load(&net, "tests/ref/does-not-exist.safetensors", IRIS_CPU) == IRIS_ERR_IO);
    CHECK(net == NULL);
    CHECK(strstr(iris_last_error(), "does-not-exist") != NULL);
    const char *tmp = "build/test_resnet_bad.safetensors";
    static const char hdr[] = "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}    ";
    uint8_t buf[8 + sizeof hdr - 1 + 4];
    uint64_t n = sizeof hdr - 1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    memset(buf + 8 + n, 0, 4);
    CHECK_OK(iris_write_atomic(tmp, buf, sizeof buf));
    CHECK(iris_resnet_load(&net, tmp, IRIS_CPU) == IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "not a ResNet") != NULL);
}
