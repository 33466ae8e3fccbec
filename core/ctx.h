/* ctx.h - the execution context: one backend, its threads, and an activation arena.

   A context runs ops on one device. Activations come from an arena, a
   single bump-allocated region reset at the start of each forward pass,
   so the peak memory of a pass is a number we can print (--verbose).
   Inside a pass, a block can free its temporaries early:

       iris_mark m = iris_ctx_mark(ctx);
       iris_tensor *h = iris_conv2d(ctx, x, w1, b1, p);   // temporaries...
       h = iris_conv2d(ctx, h, w2, b2, p);
       x = iris_ctx_keep(ctx, m, h);   // everything since m is freed except h (moved down)

   Ops never fail loudly: on error they return NULL and record the first
   failure in the context ("sticky" status), and an op given a NULL input
   returns NULL at once. A forward pass therefore reads top to bottom and
   checks iris_ctx_status() once at the end.
*/
#ifndef IRIS_CTX_H
#define IRIS_CTX_H

#include <stddef.h>

#include "tensor.h"

typedef struct iris_ctx iris_ctx;

typedef struct iris_ctx_params {
    iris_device device;  /* IRIS_CPU (default) or IRIS_CUDA */
    int n_threads;       /* CPU worker threads; 0 = number of online cores */
    size_t arena_bytes;  /* 0 = backend default (CPU: reserved virtual space, pages used on demand) */
    int verbose;
} iris_ctx_params;

typedef struct iris_mark {
    size_t bytes;
    size_t headers;
} iris_mark;

iris_ctx_params iris_ctx_default_params(void);
iris_status iris_ctx_create(iris_ctx **out, const iris_ctx_params *params);
void iris_ctx_free(iris_ctx *ctx);

iris_device iris_ctx_device(const iris_ctx *ctx);
int iris_ctx_threads(const iris_ctx *ctx);

/* First error recorded since the last reset (IRIS_OK if none); the message is iris_last_error(). */
iris_status iris_ctx_status(const iris_ctx *ctx);
/* Records an error unless one is already recorded; returns NULL for use in ops. */
void *iris_ctx_fail(iris_ctx *ctx, iris_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees every activation and clears the status: call at the start of a forward pass. */
void iris_ctx_reset(iris_ctx *ctx);
iris_mark iris_ctx_mark(const iris_ctx *ctx);
void iris_ctx_release(iris_ctx *ctx, iris_mark m);
/* Releases everything allocated since `m` except `t`, which must be an
   arena tensor allocated after `m`; returns t's new header (contiguous). */
iris_tensor *iris_ctx_keep(iris_ctx *ctx, iris_mark m, iris_tensor *t);
/* A block's output without the move in iris_ctx_keep(): reserve its bytes right after the mark,
   before the temporaries, and place the op that makes it there:

       iris_mark m = iris_ctx_mark(ctx);
       void *out = iris_ctx_reserve(ctx, bytes);   // below the temporaries
       ... temporaries ...
       iris_ctx_place_next(ctx, out, bytes);       // the next tensor made takes that space
       h = iris_ctx_keep(ctx, m, iris_conv2d(...)); // nothing left to move

   iris_ctx_reserve returns NULL (error recorded) when the arena is full. The placement applies to
   the next tensor iris_ctx_tensor() makes if it needs at most `bytes` (else that tensor is made as
   usual); a release or reset cancels it. */
void *iris_ctx_reserve(iris_ctx *ctx, size_t bytes);
void iris_ctx_place_next(iris_ctx *ctx, void *space, size_t bytes);

/* Bytes in use now, and the most ever in use since creation. */
size_t iris_ctx_used_bytes(const iris_ctx *ctx);
size_t iris_ctx_peak_bytes(const iris_ctx *ctx);

/* Waits until every op issued so far has finished. */
iris_status iris_ctx_sync(iris_ctx *ctx);

/* New uninitialised contiguous activation in the arena on the context's device. */
iris_tensor *iris_ctx_tensor(iris_ctx *ctx, iris_dtype dtype, int ndim, const int64_t *shape);
/* Activation holding a copy of host data (e.g. a preprocessed image batch). */
iris_tensor *iris_ctx_upload(iris_ctx *ctx, iris_dtype dtype, int ndim, const int64_t *shape,
                             const void *host);

/* Views: new headers over the same data (no copy). */
iris_tensor *iris_reshape(iris_ctx *ctx, const iris_tensor *t, int ndim, const int64_t *shape);
iris_tensor *iris_narrow(iris_ctx *ctx, const iris_tensor *t, int dim, int64_t start, int64_t len);
iris_tensor *iris_transpose(iris_ctx *ctx, const iris_tensor *t, int d0, int d1);

/* 1 if the context's backend implements op (an iris_op of backend.h): a model checks what it needs
   at load time, so a backend still missing a kernel is refused there, not mid-pass. */
int iris_ctx_has_op(const iris_ctx *ctx, int op);

/* Used by op front ends: runs one call on the context's backend. */
struct iris_op_call;
iris_status iris_ctx_run(iris_ctx *ctx, const struct iris_op_call *call);

#endif
