/* bench_quant.c - speed of the quantized dot-product kernels (iris_vec_dot) per SIMD level.

   One thread, a matrix-vector product over R rows of 4096 weights (the Llama
   matvec shape), each kernel called through iris_qdot_kernel so every level
   runs on one machine. Reports weight GB/s and rows/s (best pass of several, so
   that other load on the machine matters less); the weights are bigger than L2.

       make CUDA=0 bin/bench_quant && nice ./bin/bench_quant [seconds per case, default 0.3]
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/cpu/cpu.h"
#include "../core/cpu/quant_dot.h"
#include "../core/quant.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const double budget = argc > 1 ? atof(argv[1]) : 0.3;
    const int64_t n = 4096, rows = 2048;
    static const iris_dtype types[] = {IRIS_Q4_0, IRIS_Q8_0, IRIS_Q4_K, IRIS_Q5_K, IRIS_Q6_K, IRIS_F16};
    static const int levels[] = {IRIS_SIMD_SCALAR, IRIS_SIMD_AVX2, IRIS_SIMD_AVX512};
    const int best = iris_cpu_simd();
    float *src = malloc((size_t)n * sizeof *src);
    srand(1);
    for (int64_t i = 0; i < n; i++) src[i] = (float)((double)rand() / RAND_MAX) - 0.5f;

    printf("n=%lld rows=%lld, 1 thread, %.2f s per case; best SIMD level here: %d, VNNI: %s\n", (long long)n,
           (long long)rows, budget, best, iris_qdot_has_vnni() ? "yes" : "no");
    printf("%-6s %-15s %10s %12s %10s\n", "type", "path", "GB/s", "rows/s", "ns/row");
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const iris_dtype wt = types[t], xt = iris_vec_dot_type(wt);
        const size_t rb = iris_row_bytes(wt, n);
        uint8_t *w = malloc(rb * (size_t)rows), *x = malloc(iris_row_bytes(xt, n));
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < n; i++) src[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
            iris_quantize_row(wt, src, w + (size_t)r * rb, n);
        }
        iris_quantize_row_dot(xt, src, x, n);
        const char *last = "";
        for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
            if (levels[l] > best) break;
            const char *path = iris_qdot_path(wt, levels[l]);
            if (!strcmp(path, last)) continue; /* this level falls back to the previous kernel */
            last = path;
            iris_qdot_fn fn = iris_qdot_kernel(wt, levels[l]);
            /* best of 5 passes over the matrix within the budget: robust to other load */
            volatile float sink = 0;
            double best_sec = 1e30;
            const double t_end = now() + budget;
            for (int trial = 0; trial < 5 || now() < t_end; trial++) {
                const double t0 = now();
                for (int64_t r = 0; r < rows; r++) sink += fn(n, w + (size_t)r * rb, x);
                const double sec = now() - t0;
                if (sec < best_sec) best_sec = sec;
            }
            printf("%-6s %-15s %10.2f %12.0f %10.1f\n", iris_dtype_name(wt), path, (double)rows * rb / best_sec / 1e9,
                   rows / best_sec, best_sec / rows * 1e9);
            (void)sink;
        }
        free(w);
        free(x);
    }
    /* activation quantization, once per matvec */
    {
        uint8_t buf[34 * 128 + 292 * 16];
        for (int k = 0; k < 2; k++) {
            const iris_dtype xt = k ? IRIS_Q8_K : IRIS_Q8_0;
            int64_t done = 0;
            const double t0 = now();
            double t1;
            do {
                for (int i = 0; i < 1000; i++) iris_quantize_row_dot(xt, src, buf, n);
                done += 1000;
                t1 = now();
            } while (t1 - t0 < budget / 2);
            printf("quantize %d floats to %s for the dot: %.0f ns\n", (int)n, iris_dtype_name(xt), (t1 - t0) / done * 1e9);
        }
    }
    free(src);
    return 0;
}
