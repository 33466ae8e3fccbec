/* fuzz_yolo.c - libFuzzer target: a YOLO network built from a hostile cfg and weights, then run
   on a tiny input when it loads. Input: 3 bytes of float count (little endian, below 2^20), then
   the cfg text; the weights are a valid header and that many floats. */
#include <stdlib.h>
#include <string.h>

#include "../vision/yolo.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t n_floats = (size_t)(data[0] | data[1] << 8 | data[2] << 16) & ((1u << 20) - 1);
    size_t n = 20 + 4 * n_floats;
    uint8_t *w = calloc(1, n);
    if (!w) return 0;
    int32_t hdr[3] = {0, 2, 5};
    memcpy(w, hdr, sizeof hdr);
    for (size_t i = 0; i < n_floats; i++) {
        float v = 0.25f + (float)(i % 7) * 0.125f;
        memcpy(w + 20 + 4 * i, &v, 4);
    }
    iris_yolo *net = NULL;
    if (!iris_yolo_load_text(&net, (const char *)data + 3, size - 3, "fuzz.cfg", w, n, "fuzz.weights", NULL, IRIS_CPU)) {
        const iris_yolo_info *info = iris_yolo_get_info(net);
        if (info->n_heads < 1 || info->n_heads > IRIS_YOLO_MAX_HEADS) __builtin_trap();
        if ((long long)info->width * info->height <= 64 * 64 && info->gflops < 0.05) {
            iris_ctx_params cp = iris_ctx_default_params();
            cp.n_threads = 1;
            cp.arena_bytes = 256u << 20;
            iris_ctx *ctx;
            if (!iris_ctx_create(&ctx, &cp)) {
                int64_t shape[4] = {1, 3, info->height, info->width};
                float *x = calloc((size_t)3 * info->width * info->height, sizeof *x);
                iris_tensor *in = x ? iris_ctx_upload(ctx, IRIS_F32, 4, shape, x) : NULL;
                if (in) {
                    int pw = 100, ph = 80;
                    iris_detection *d[1] = {0};
                    int nd[1] = {0};
                    iris_yolo_detect_params p = iris_yolo_default_detect_params();
                    p.thresh = 0.01f;
                    if (!iris_yolo_detect(ctx, net, in, &pw, &ph, &p, d, nd)) free(d[0]);
                }
                free(x);
                iris_ctx_free(ctx);
            }
        }
        iris_yolo_free(net);
    }
    free(w);
    return 0;
}
