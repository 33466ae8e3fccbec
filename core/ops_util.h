/* ops_util.h - shared by the op front ends (core/ops_*.c); not public. */
#ifndef IRIS_OPS_UTIL_H
#define IRIS_OPS_UTIL_H

#include <stdarg.h>

#include "backend.h"
#include "ops.h"

/* 1 if every one of the n required inputs is non-NULL and the context has no
   error yet; otherwise records "<op>: missing input" (unless an error is already
   recorded) and returns 0. */
static inline int iris_op_inputs(iris_ctx *ctx, const char *op, int n, ...) {
    va_list ap;
    int ok = 1;
    va_start(ap, n);
    for (int i = 0; i < n; i++) ok &= va_arg(ap, const iris_tensor *) != NULL;
    va_end(ap);
    if (iris_ctx_status(ctx)) return 0;
    if (!ok) iris_ctx_fail(ctx, IRIS_ERR_ARG, "%s: missing input", op);
    return ok;
}

/* Runs the call and returns its output, or NULL after recording the failure. */
static inline iris_tensor *iris_op_run(iris_ctx *ctx, iris_op_call *c) {
    if (!c->dst) return NULL;
    return iris_ctx_run(ctx, c) == IRIS_OK ? c->dst : NULL;
}

/* "f32[2,3]" for messages: a small rotating set of buffers so several fit in one printf. */
static inline const char *iris_op_shape(const iris_tensor *t) {
    static _Thread_local char bufs[4][96];
    static _Thread_local int k;
    char *b = bufs[k++ & 3];
    return t ? iris_shape_str(t, b, 96) : "null";
}

#endif
