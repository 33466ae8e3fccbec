/* bench_conv.c - 3x3 stride-1 convolutions of Stable Diffusion's UNet and VAE: the direct
   (im2col-free GEMM) path against Winograd F(4x4, 3x3), in the same process, interleaved.

       make CUDA=0 bin/bench_conv && nice -n 10 ./bin/bench_conv [reps, default 7] [threads, default 2] [filter]

   filter: run only the shapes whose name contains it (e.g. "vae", "@16"); a fourth argument
   "winograd" or "direct" times that path alone (for profiling; the other column reads 0).

   F16 weights as in the checkpoints, bias, padding 1. GFLOP/s count the direct convolution's
   2*O*C*9*Ho*Wo*N for both paths, so their ratio is the speed-up; each figure is the median of
   `reps` calls after a warm-up call (the machine is shared: read the ratio, not the absolute
   figures). The direct path's GEMM is the machine's choice (IRIS_GEMM=builtin|openblas overrides).
   "rel err" is the largest |winograd - direct| over the largest |direct|.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/cpu/cpu.h"
#include "../core/iris.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    const char *name;
    int64_t N, C, H, W, O;
} conv_case;

static const conv_case cases[] = {
    {"unet 320 @32 (b2)", 2, 320, 32, 32, 320},
    {"unet 640->320 @32 (b2)", 2, 640, 32, 32, 320},
    {"unet 640 @16 (b2)", 2, 640, 16, 16, 640},
    {"unet 1280 @16 (b2)", 2, 1280, 16, 16, 1280},
    {"unet 1280 @8 (b2)", 2, 1280, 8, 8, 1280},
    {"unet 1280 @4 (b2)", 2, 1280, 4, 4, 1280},
    {"unet 640 @16 (b1)", 1, 640, 16, 16, 640},
    {"unet 1280 @8 (b1)", 1, 1280, 8, 8, 1280},
    {"vae 512 @64", 1, 512, 64, 64, 512},
    {"vae 256 @128", 1, 256, 128, 128, 256},
    {"vae 128 @256", 1, 128, 256, 256, 128},
    {"unet in 4->320 @32 (b2)", 2, 4, 32, 32, 320},
    {"unet out 320->4 @32 (b2)", 2, 320, 32, 32, 4},
    {"vae in 4->512 @32", 1, 4, 32, 32, 512},
    {"vae out 128->3 @256", 1, 128, 256, 256, 3},
    {"vae enc in 3->128 @256", 1, 3, 256, 256, 128},
};

/* One call of conv2d under `mode`; its seconds. The output stays in y_out when asked. */
static double run(iris_ctx *ctx, int mode, iris_tensor *x, iris_tensor *w, iris_tensor *b, float *y_out, int64_t ny) {
    iris_cpu_conv_select(mode);
    iris_mark m = iris_ctx_mark(ctx);
    double t0 = now();
    iris_tensor *y = iris_conv2d(ctx, x, w, b, iris_conv(1, 1));
    double dt = now() - t0;
    if (!y) { fprintf(stderr, "conv2d: %s\n", iris_last_error()); exit(1); }
    if (y_out) memcpy(y_out, y->data, (size_t)ny * sizeof(float));
    iris_ctx_release(ctx, m);
    return dt;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7, nth = argc > 2 ? atoi(argv[2]) : 2;
    if (reps < 1) reps = 7;
    if (nth < 1) nth = 2;
    const char *filter = argc > 3 ? argv[3] : NULL, *only = argc > 4 ? argv[4] : "";
    int do_direct = strcmp(only, "winograd") != 0, do_wino = strcmp(only, "direct") != 0;
    iris_ctx_params cp = iris_ctx_default_params();
    cp.n_threads = nth;
    iris_ctx *ctx;
    if (iris_ctx_create(&ctx, &cp)) { fprintf(stderr, "%s\n", iris_last_error()); return 1; }
    const char *simd[] = {"scalar", "avx2", "avx512"};
    printf("SIMD %s, %d threads, direct path GEMM: %s; median of %d calls\n", simd[iris_cpu_simd()], nth,
           iris_cpu_sgemm_uses_openblas() ? "OpenBLAS" : "built-in", reps);
    printf("%-24s %8s %10s %10s %7s %9s\n", "shape (f16 weights)", "GFLOP", "direct", "winograd", "ratio", "rel err");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const conv_case *cc = &cases[i];
        if (filter && !strstr(cc->name, filter)) continue;
        iris_ctx_reset(ctx);
        int64_t xs[4] = {cc->N, cc->C, cc->H, cc->W}, ws[4] = {cc->O, cc->C, 3, 3}, bs[1] = {cc->O};
        int64_t nx = cc->N * cc->C * cc->H * cc->W, nw = cc->O * cc->C * 9, ny = cc->N * cc->O * cc->H * cc->W;
        float *xd = malloc(sizeof(float) * (size_t)nx), *bd = malloc(sizeof(float) * (size_t)cc->O);
        uint16_t *wd = malloc(sizeof(uint16_t) * (size_t)nw);
        float *y0 = malloc(sizeof(float) * (size_t)ny), *y1 = malloc(sizeof(float) * (size_t)ny);
        double *t0 = malloc(sizeof(double) * (size_t)reps), *t1 = malloc(sizeof(double) * (size_t)reps);
        if (!xd || !bd || !wd || !y0 || !y1 || !t0 || !t1) { fprintf(stderr, "out of memory\n"); return 1; }
        srand(1);
        for (int64_t k = 0; k < nx; k++) xd[k] = (float)rand() / RAND_MAX * 2 - 1;
        for (int64_t k = 0; k < nw; k++) wd[k] = iris_f32_to_f16(((float)rand() / RAND_MAX * 2 - 1) / sqrtf(9.0f * cc->C));
        for (int64_t k = 0; k < cc->O; k++) bd[k] = (float)rand() / RAND_MAX - 0.5f;
        iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 4, xs, xd), *w = iris_ctx_upload(ctx, IRIS_F16, 4, ws, wd);
        iris_tensor *b = iris_ctx_upload(ctx, IRIS_F32, 1, bs, bd);
        run(ctx, IRIS_CONV_DIRECT, x, w, b, y0, ny); /* warm-up, and the outputs compared */
        run(ctx, IRIS_CONV_WINOGRAD, x, w, b, y1, ny);
        for (int r = 0; r < reps; r++) {
            t0[r] = do_direct ? run(ctx, IRIS_CONV_DIRECT, x, w, b, NULL, 0) : INFINITY;
            t1[r] = do_wino ? run(ctx, IRIS_CONV_WINOGRAD, x, w, b, NULL, 0) : INFINITY;
        }
        qsort(t0, (size_t)reps, sizeof *t0, cmp_double);
        qsort(t1, (size_t)reps, sizeof *t1, cmp_double);
        double gf = 2.0 * (double)cc->O * (double)cc->C * 9.0 * (double)(cc->H * cc->W * cc->N) * 1e-9;
        double d0 = t0[reps / 2], d1 = t1[reps / 2], emax = 0, ymax = 0;
        for (int64_t k = 0; k < ny; k++) {
            emax = fmax(emax, fabs((double)y1[k] - y0[k]));
            ymax = fmax(ymax, fabs((double)y0[k]));
        }
        printf("%-24s %8.2f %10.1f %10.1f %7.2f %9.1e\n", cc->name, gf, gf / d0, gf / d1, d0 / d1, emax / ymax);
        fflush(stdout);
        free(xd), free(bd), free(wd), free(y0), free(y1), free(t0), free(t1);
    }
    iris_cpu_conv_select(IRIS_CONV_AUTO);
    iris_ctx_free(ctx);
    return 0;
}
