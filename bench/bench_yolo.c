/* bench_yolo.c - time the YOLO network alone (driven by bench/bench_detect.py).

   bin/bench_yolo model.cfg model.weights [--batch 1] [--threads 2] [--iters 50] [--size N] [--profile]
   prints: best_s=<best seconds per batch> median_s=<median> img_per_s=<batch/median> gflops=<per image>
   With --profile, the time of each layer kind (one pass) on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../vision/yolo.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of the whole process: with --threads 1, the work itself even on a busy machine */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s model.cfg model.weights [--batch N] [--threads N] [--iters N] [--size N]\n", argv[0]);
        return 2;
    }
    int batch = 1, threads = 0, iters = 50, size = 0;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iters")) iters = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--size")) size = atoi(argv[i + 1]);
    }
    iris_yolo_params yp = iris_yolo_default_params();
    yp.width = yp.height = size;
    iris_yolo *net;
    if (iris_yolo_load(&net, argv[1], argv[2], &yp, IRIS_CPU)) {
        fprintf(stderr, "error: %s\n", iris_last_error());
        return 3;
    }
    const iris_yolo_info *info = iris_yolo_get_info(net);
    iris_ctx_params p = iris_ctx_default_params();
    p.n_threads = threads;
    iris_ctx *ctx;
    if (iris_ctx_create(&ctx, &p)) {
        fprintf(stderr, "error: %s\n", iris_last_error());
        return 1;
    }
    size_t n = (size_t)batch * 3 * info->width * info->height;
    float *x = malloc(n * sizeof *x);
    srand(1);
    for (size_t i = 0; i < n; i++) x[i] = (float)rand() / RAND_MAX;
    int64_t shape[4] = {batch, 3, info->height, info->width};
    double *t = malloc(sizeof *t * (size_t)(iters > 0 ? iters : 1)), *tc = malloc(sizeof *tc * (size_t)(iters > 0 ? iters : 1));
    for (int it = -3; it < iters; it++) { /* three warm-up passes */
        double t0 = now(), c0 = cpu_now();
        iris_ctx_reset(ctx);
        iris_tensor *heads[IRIS_YOLO_MAX_HEADS];
        if (iris_yolo_forward(ctx, net, iris_ctx_upload(ctx, IRIS_F32, 4, shape, x), heads)) {
            fprintf(stderr, "error: %s\n", iris_last_error());
            return 1;
        }
        float probe;
        iris_tensor_read(iris_narrow(ctx, iris_reshape(ctx, heads[0], 1, (int64_t[]){iris_nelements(heads[0])}), 0, 0, 1),
                         &probe, sizeof probe);
        if (it >= 0) t[it] = now() - t0, tc[it] = cpu_now() - c0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp);
    qsort(tc, (size_t)iters, sizeof *tc, cmp);
    double med = t[iters / 2];
    printf("best_s=%.6f median_s=%.6f img_per_s=%.2f cpu_s_per_img=%.6f gflops=%.4f peak_mib=%.1f\n", t[0], med,
           batch / med, tc[iters / 2] / batch, info->gflops, iris_ctx_peak_bytes(ctx) / 1048576.0);
    free(t);
    free(tc);
    free(x);
    iris_yolo_free(net);
    iris_ctx_free(ctx);
    return 0;
}
