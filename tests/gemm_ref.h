/* gemm_ref.h - scaffolding shared by the GEMM-backed op tests (test_ops_matmul.c, test_ops_conv.c):
   run a body on every SIMD path x GEMM implementation x {1, 2} threads, load fixture tensors
   (by name or "<prefix>_<case>_<part>"), compare an output with "<prefix>_<case>_y".
   The including file defines REF (its fixture file) first. */
#ifndef IRIS_TEST_GEMM_REF_H
#define IRIS_TEST_GEMM_REF_H

#include <stdlib.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/cpu/cpu.h"
#include "test.h"

static const char *simd_caps[] = {"scalar", "avx2", NULL}; /* NULL: the best this CPU has */
static const int gemm_impls[] = {IRIS_GEMM_BUILTIN, IRIS_GEMM_OPENBLAS};

static void set_path(const char *cap, int gemm) {
    if (cap) setenv("IRIS_SIMD", cap, 1);
    else unsetenv("IRIS_SIMD");
    iris_cpu_simd_refresh();
    iris_cpu_sgemm_select(gemm);
}

static void restore_path(void) {
    unsetenv("IRIS_SIMD");
    iris_cpu_simd_refresh();
    iris_cpu_sgemm_select(IRIS_GEMM_AUTO);
}

/* Every case on every SIMD path x GEMM implementation x {1, 2} threads; `ctx` and `what` in scope. */
#define FOR_PATHS(...)                                                                              \
    for (int si_ = 0; si_ < 3; si_++)                                                               \
        for (int gi_ = 0; gi_ < 2; gi_++) {                                                         \
            set_path(simd_caps[si_], gemm_impls[gi_]);                                              \
            for (int th_ = 1; th_ <= 2; th_++) {                                                    \
                iris_ctx *ctx = test_ctx(th_);                                                      \
                char what[128];                                                                     \
                snprintf(what, sizeof what, "%s/%s/%dt", simd_caps[si_] ? simd_caps[si_] : "best",  \
                         gi_ ? "openblas" : "builtin", th_);                                        \
                __VA_ARGS__                                                                         \
            }                                                                                       \
        }                                                                                           \
    restore_path();

/* Reference tensor copied into the arena, as `as` (raw bits reinterpreted: I16 -> BF16), or its
   own dtype when `as` < 0; NULL when the fixture lacks it. */
static iris_tensor *ref_as(iris_ctx *ctx, const char *name, int as) {
    iris_safetensors *st = test_ref(REF);
    iris_tensor *t, *u;
    if (!st || !iris_safetensors_find(st, name)) return NULL;
    if (iris_safetensors_get(st, name, &t)) return NULL;
    u = iris_ctx_upload(ctx, as < 0 ? t->dtype : (iris_dtype)as, t->ndim, t->ne, t->data);
    iris_tensor_free(t);
    return u;
}

static iris_tensor *part(iris_ctx *ctx, const char *pre, const char *name, const char *p, int as) {
    char key[96];
    snprintf(key, sizeof key, "%s_%s_%s", pre, name, p);
    return ref_as(ctx, key, as);
}

static void check_y(const iris_tensor *y, const char *pre, const char *name, double tol, const char *what) {
    int64_t n = 0;
    char key[96], msg[192];
    snprintf(key, sizeof key, "%s_%s_y", pre, name);
    snprintf(msg, sizeof msg, "%s %s", key, what);
    float *want = test_ref_f32(REF, key, &n);
    float *got = test_read_f32(y);
    CHECK_MSG(y && got && iris_nelements(y) == n, "%s: no output (%s)", msg, iris_last_error());
    if (y && got && want && iris_nelements(y) == n) test_close(got, want, n, tol, tol, __FILE__, __LINE__, msg);
    free(want);
    free(got);
}

#endif
