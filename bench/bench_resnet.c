/* bench_resnet.c - time iris_resnet_forward on random input (driven by bench/bench_resnet.py).

   bin/bench_resnet model.safetensors [--batch 8] [--threads 2] [--iters 10]
   prints: best_s=<best seconds per batch> mean_s=<mean> img_per_s=<batch/best> peak_mib=<arena peak> */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../vision/resnet.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s model.safetensors [--batch N] [--threads N] [--iters N]\n", argv[0]);
        return 2;
    }
    int batch = 1, threads = 0, iters = 10;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iters")) iters = atoi(argv[i + 1]);
    }
    iris_resnet *net;
    if (iris_resnet_load(&net, argv[1], IRIS_CPU)) {
        fprintf(stderr, "error: %s\n", iris_last_error());
        return 3;
    }
    const iris_resnet_info *info = iris_resnet_get_info(net);
    iris_ctx_params p = iris_ctx_default_params();
    p.n_threads = threads;
    iris_ctx *ctx;
    if (iris_ctx_create(&ctx, &p)) {
        fprintf(stderr, "error: %s\n", iris_last_error());
        return 1;
    }
    int s = info->input_size;
    size_t n = (size_t)batch * 3 * s * s;
    float *x = malloc(n * sizeof *x);
    srand(1);
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX * 4.f - 2.f;
    int64_t shape[4] = {batch, 3, s, s};
    double best = 1e30, total = 0;
    for (int it = -1; it < iters; it++) { /* it = -1 is the warm-up */
        double t0 = now();
        iris_ctx_reset(ctx);
        iris_tensor *in = iris_ctx_upload(ctx, IRIS_F32, 4, shape, x), *logits;
        if (iris_resnet_forward(ctx, net, in, &logits, NULL) || iris_ctx_sync(ctx)) {
            fprintf(stderr, "error: %s\n", iris_last_error());
            return 1;
        }
        double dt = now() - t0;
        if (it >= 0) {
            total += dt;
            if (dt < best) best = dt;
        }
    }
    printf("%s batch=%d threads=%d best_s=%.6f mean_s=%.6f img_per_s=%.3f peak_mib=%.1f\n", info->arch, batch,
           iris_ctx_threads(ctx), best, total / iters, batch / best, iris_ctx_peak_bytes(ctx) / 1048576.0);
    free(x);
    iris_ctx_free(ctx);
    iris_resnet_free(net);
    return 0;
}
