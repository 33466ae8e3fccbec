/* bench_llava.c - vision encode time of a LLaVA mmproj (bin/bench_llava): iris_llava_embed
   (preprocess, CLIP tower, projector, packing) on already decoded images, so the time is the
   encoder's and not the JPEG decoder's; llama.cpp's side (bench/caption_peers/run_llamacpp.py)
   times the same span (mtmd_tokenize + mtmd_encode_chunk on a decoded bitmap).

       bench_llava --mmproj mmproj.gguf [-t threads] [-r rounds] [--warmup 1] IMAGE...

   Each round encodes every image once. Prints one JSON line: median and min milliseconds per
   image over all timed encodes, rows per image, threads, arena peak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/iris.h"
#include "../vision/llava.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int usage(void) {
    fprintf(stderr, "usage: bench_llava --mmproj mmproj.gguf [-t N] [-r N] [--warmup N] IMAGE...\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *mmproj = NULL;
    int threads = 2, rounds = 3, warmup = 1, n_img = 0;
    const char **paths = calloc((size_t)argc, sizeof *paths);
    if (!paths) return 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--mmproj") && v) mmproj = v, i++;
        else if (!strcmp(a, "-t") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "-r") && v) rounds = atoi(v), i++;
        else if (!strcmp(a, "--warmup") && v) warmup = atoi(v), i++;
        else if (a[0] == '-') return usage();
        else paths[n_img++] = a;
    }
    if (!mmproj || !n_img || threads < 1 || rounds < 1 || rounds > 1000 || warmup < 0) return usage();

    iris_llava_vision *v;
    if (iris_llava_vision_load(&v, mmproj, NULL)) {
        fprintf(stderr, "bench_llava: %s\n", iris_last_error());
        return 3;
    }
    iris_image *imgs = calloc((size_t)n_img, sizeof *imgs);
    iris_image_read_params rp = iris_image_default_read_params();
    rp.channels = 3;
    for (int i = 0; i < n_img; i++)
        if (iris_image_load(&imgs[i], paths[i], &rp)) {
            fprintf(stderr, "bench_llava: %s\n", iris_last_error());
            return 3;
        }
    iris_ctx_params cp = iris_ctx_default_params();
    cp.n_threads = threads;
    iris_ctx *ctx;
    if (iris_ctx_create(&ctx, &cp)) {
        fprintf(stderr, "bench_llava: %s\n", iris_last_error());
        return 3;
    }
    int n_times = rounds * n_img, k = 0, rows_per_image = 0;
    double *t = malloc((size_t)n_times * sizeof *t);
    for (int r = -warmup; r < rounds; r++)
        for (int i = 0; i < n_img; i++) {
            float *rows = NULL;
            int n_rows = 0;
            double t0 = now_s();
            iris_status st = iris_llava_embed(ctx, v, &imgs[i], &rows, &n_rows);
            double dt = now_s() - t0;
            free(rows);
            if (st) {
                fprintf(stderr, "bench_llava: %s: %s\n", paths[i], iris_last_error());
                return 1;
            }
            rows_per_image = n_rows;
            if (r >= 0) t[k++] = dt;
        }
    qsort(t, (size_t)n_times, sizeof *t, cmp_d);
    const iris_llava_vision_info *in = iris_llava_vision_get_info(v);
    printf("{\"tool\": \"iris\", \"mmproj\": \"%s\", \"threads\": %d, \"images\": %d, \"encodes\": %d, "
           "\"encode_ms_median\": %.2f, \"encode_ms_min\": %.2f, \"rows_per_image\": %d, \"image_size\": %d, "
           "\"blocks\": %d, \"peak_mb\": %.1f}\n",
           mmproj, threads, n_img, n_times, 1e3 * t[n_times / 2], 1e3 * t[0], rows_per_image, in->image_size,
           in->n_layers_run, (double)iris_ctx_peak_bytes(ctx) / 1e6);
    free(t);
    for (int i = 0; i < n_img; i++) iris_image_free(&imgs[i]);
    free(imgs);
    free(paths);
    iris_ctx_free(ctx);
    iris_llava_vision_free(v);
    return 0;
}
