/* ops_ref.h - helpers for op tests against reference fixtures: run a body on every SIMD path
   with 1 and 2 threads, load fixture tensors into the context (singly or by case name), compare
   an output to a fixture.

       FOR_PATHS({ iris_tensor *y = iris_rms_norm(ctx, ops_ref_in(ctx, REF, "x"), NULL, 1e-5f);
                   ops_ref_check(REF, y, "y", 1e-5, 1e-5, what); })

   Inside the body `ctx` is a fresh context and `what` names the path ("avx2/2t"). */
#ifndef IRIS_TEST_OPS_REF_H
#define IRIS_TEST_OPS_REF_H

#include <stdlib.h>
#include <string.h>

#include "../core/cpu/cpu.h"
#include "test.h"

static const char *ops_simd_caps[3] = {"scalar", "avx2", NULL}; /* NULL: no cap, the best this CPU has */

static inline void ops_set_simd(const char *cap) {
    if (cap) setenv("IRIS_SIMD", cap, 1);
    else unsetenv("IRIS_SIMD");
    iris_cpu_simd_refresh();
}

#define FOR_PATHS(...)                                                                               \
    do {                                                                                             \
        for (int si_ = 0; si_ < 3; si_++) {                                                          \
            ops_set_simd(ops_simd_caps[si_]);                                                        \
            for (int th_ = 1; th_ <= 2; th_++) {                                                     \
                iris_ctx *ctx = test_ctx(th_);                                                       \
                char what[64];                                                                       \
                snprintf(what, sizeof what, "%s/%dt", ops_simd_caps[si_] ? ops_simd_caps[si_] : "best", th_); \
                __VA_ARGS__                                                                          \
            }                                                                                        \
        }                                                                                            \
        ops_set_simd(NULL);                                                                          \
    } while (0)

/* Fixture tensor `name` copied into the context arena; NULL when the fixture lacks it. */
static inline iris_tensor *ops_ref_in(iris_ctx *ctx, const char *file, const char *name) {
    iris_safetensors *st = test_ref(file);
    iris_tensor *t, *u;
    if (!st || !iris_safetensors_find(st, name) || iris_safetensors_get(st, name, &t)) return NULL;
    u = iris_ctx_upload(ctx, t->dtype, t->ndim, t->ne, t->data);
    iris_tensor_free(t);
    return u;
}

/* Compares y with fixture tensor `name` elementwise (|got - want| <= atol + rtol |want|). */
static inline void ops_ref_check(const char *file, const iris_tensor *y, const char *name, double atol, double rtol,
                                 const char *what) {
    int64_t n = 0;
    float *want = test_ref_f32(file, name, &n);
    float *got = test_read_f32(y);
    int ok = got && want && y && iris_nelements(y) == n;
    CHECK_MSG(ok, "%s: output missing (%s) or %lld elements, want %lld", what, iris_last_error(),
              y ? (long long)iris_nelements(y) : -1LL, (long long)n);
    if (ok) test_close(got, want, n, atol, rtol, __FILE__, __LINE__, what);
    free(want);
    free(got);
}

/* A named case as the generators write it: inputs "<case>_<part>", the expected output "<case>_y". */
static inline iris_tensor *ops_case_in(iris_ctx *ctx, const char *file, const char *name, const char *part) {
    char key[96];
    snprintf(key, sizeof key, "%s_%s", name, part);
    return ops_ref_in(ctx, file, key);
}

/* ops_ref_check of y against "<case>_y"; a failure names the case and the path. */
static inline void ops_case_check(const char *file, const iris_tensor *y, const char *name, double atol,
                                  double rtol, const char *path) {
    char key[96], what[160];
    snprintf(key, sizeof key, "%s_y", name);
    snprintf(what, sizeof what, "%s %s", name, path);
    ops_ref_check(file, y, key, atol, rtol, what);
}

/* 1 if the op returned NULL with a recorded error containing `needle` (prints the message otherwise). */
static inline int ops_failed_with(iris_ctx *ctx, const iris_tensor *y, const char *needle) {
    int ok = y == NULL && iris_ctx_status(ctx) != IRIS_OK && strstr(iris_last_error(), needle) != NULL;
    if (!ok) printf("    got: %s\n", y ? "a result" : iris_last_error());
    return ok;
}

#endif
