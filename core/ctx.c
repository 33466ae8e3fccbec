/* ctx.c - context, activation arena, scopes and views. */
#include "ctx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

#define ARENA_ALIGN 256
#define HDR_CHUNK 512

struct iris_ctx {
    const iris_backend *be;
    void *state; /* backend's per-context state */
    iris_ctx_params params;
    iris_status status;
    /* arena: [base, base+cap), bump pointer `used` */
    char *base;
    size_t cap, used, peak;
    /* tensor headers for arena tensors, in fixed chunks so pointers stay valid */
    iris_tensor **chunks;
    size_t n_chunks, n_headers;
    /* iris_ctx_place_next: space for the next tensor made, NULL none */
    char *place;
    size_t place_bytes;
};

iris_ctx_params iris_ctx_default_params(void) {
    iris_ctx_params p = {IRIS_CPU, 0, 0, 0};
    return p;
}

iris_status iris_ctx_create(iris_ctx **out, const iris_ctx_params *params) {
    *out = NULL;
    iris_ctx_params p = params ? *params : iris_ctx_default_params();
    const iris_backend *be = iris_backend_get(p.device);
    if (!be)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s backend not built in (build with make CUDA=1)",
                         iris_device_name(p.device));
    if (p.n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = n > 0 ? (int)n : 1;
    }
    if (p.n_threads > 256) p.n_threads = 256;
    if (!p.arena_bytes) p.arena_bytes = p.device == IRIS_CPU ? ((size_t)64 << 30) : ((size_t)2 << 30);
    iris_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return iris_fail(IRIS_ERR_NOMEM, "context: out of host memory");
    ctx->be = be;
    ctx->params = p;
    iris_status st = be->state_new(&ctx->state, p.n_threads);
    if (st) { free(ctx); return st; }
    ctx->base = be->reserve(p.arena_bytes);
    if (!ctx->base) {
        be->state_free(ctx->state);
        free(ctx);
        return iris_fail(IRIS_ERR_NOMEM, "context: cannot reserve a %zu MiB arena on %s",
                         p.arena_bytes >> 20, iris_device_name(p.device));
    }
    ctx->cap = p.arena_bytes;
    *out = ctx;
    return IRIS_OK;
}

void iris_ctx_free(iris_ctx *ctx) {
    if (!ctx) return;
    iris_ctx_sync(ctx);
    ctx->be->unreserve(ctx->base, ctx->cap);
    ctx->be->state_free(ctx->state);
    for (size_t i = 0; i < ctx->n_chunks; i++) free(ctx->chunks[i]);
    free(ctx->chunks);
    free(ctx);
}

iris_device iris_ctx_device(const iris_ctx *ctx) { return ctx->params.device; }
int iris_ctx_threads(const iris_ctx *ctx) { return ctx->params.n_threads; }
iris_status iris_ctx_status(const iris_ctx *ctx) { return ctx->status; }
size_t iris_ctx_used_bytes(const iris_ctx *ctx) { return ctx->used; }
size_t iris_ctx_peak_bytes(const iris_ctx *ctx) { return ctx->peak; }

void *iris_ctx_fail(iris_ctx *ctx, iris_status st, const char *fmt, ...) {
    if (ctx->status == IRIS_OK) {
        char msg[900];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        ctx->status = iris_fail(st, "%s", msg);
    }
    return NULL;
}

void iris_ctx_reset(iris_ctx *ctx) {
    ctx->place = NULL;
    ctx->used = 0;
    ctx->n_headers = 0;
    ctx->status = IRIS_OK;
}

iris_mark iris_ctx_mark(const iris_ctx *ctx) {
    iris_mark m = {ctx->used, ctx->n_headers};
    return m;
}

void iris_ctx_release(iris_ctx *ctx, iris_mark m) {
    ctx->place = NULL;
    if (m.bytes <= ctx->used) ctx->used = m.bytes;
    if (m.headers <= ctx->n_headers) ctx->n_headers = m.headers;
}

iris_status iris_ctx_sync(iris_ctx *ctx) {
    iris_status st = ctx->be->sync ? ctx->be->sync(ctx->state) : IRIS_OK;
    if (st && !ctx->status) ctx->status = st;
    return st;
}

static iris_tensor *new_header(iris_ctx *ctx) {
    size_t ci = ctx->n_headers / HDR_CHUNK;
    if (ci >= ctx->n_chunks) {
        iris_tensor **c = realloc(ctx->chunks, (ctx->n_chunks + 1) * sizeof *c);
        if (!c) return iris_ctx_fail(ctx, IRIS_ERR_NOMEM, "context: out of host memory for tensor headers");
        ctx->chunks = c;
        c[ctx->n_chunks] = malloc(HDR_CHUNK * sizeof(iris_tensor));
        if (!c[ctx->n_chunks]) return iris_ctx_fail(ctx, IRIS_ERR_NOMEM, "context: out of host memory");
        ctx->n_chunks++;
    }
    iris_tensor *t = &ctx->chunks[ci][ctx->n_headers % HDR_CHUNK];
    ctx->n_headers++;
    return t;
}

static void *arena_alloc(iris_ctx *ctx, size_t n) {
    size_t off = (ctx->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (off > ctx->cap || n > ctx->cap - off)
        return iris_ctx_fail(ctx, IRIS_ERR_NOMEM,
                             "context: activation arena exhausted (%zu MiB in use, %zu MiB more asked, %zu MiB total)",
                             ctx->used >> 20, n >> 20, ctx->cap >> 20);
    ctx->used = off + n;
    if (ctx->used > ctx->peak) ctx->peak = ctx->used;
    return ctx->base + off;
}

iris_tensor *iris_ctx_tensor(iris_ctx *ctx, iris_dtype dtype, int ndim, const int64_t *shape) {
    iris_tensor tmp;
    if (iris_tensor_init(&tmp, dtype, ndim, shape) != IRIS_OK)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "%s", iris_last_error());
    iris_tensor *t = new_header(ctx);
    if (!t) return NULL;
    *t = tmp;
    t->device = ctx->params.device;
    t->flags = IRIS_T_ARENA;
    char *place = ctx->place;
    ctx->place = NULL;
    t->data = place && iris_nbytes(t) <= ctx->place_bytes ? place : arena_alloc(ctx, iris_nbytes(t));
    if (!t->data) { ctx->n_headers--; return NULL; }
    return t;
}

void *iris_ctx_reserve(iris_ctx *ctx, size_t bytes) { return arena_alloc(ctx, bytes); }

void iris_ctx_place_next(iris_ctx *ctx, void *space, size_t bytes) {
    char *p = space;
    /* only space inside the arena's used part: anything else would be handed out twice */
    int ok = p && p >= ctx->base && p <= ctx->base + ctx->used && bytes <= (size_t)(ctx->base + ctx->used - p);
    ctx->place = ok ? p : NULL;
    ctx->place_bytes = ok ? bytes : 0;
}

iris_tensor *iris_ctx_upload(iris_ctx *ctx, iris_dtype dtype, int ndim, const int64_t *shape,
                             const void *host) {
    iris_tensor *t = iris_ctx_tensor(ctx, dtype, ndim, shape);
    if (!t) return NULL;
    iris_status st = ctx->be->upload(t->data, host, iris_nbytes(t));
    if (st) return iris_ctx_fail(ctx, st, "%s", iris_last_error());
    return t;
}

iris_tensor *iris_ctx_keep(iris_ctx *ctx, iris_mark m, iris_tensor *t) {
    if (!t) return NULL;
    char *src = t->data;
    if (!(t->flags & IRIS_T_ARENA) || src < ctx->base + m.bytes || !iris_is_contiguous(t))
        return iris_ctx_fail(ctx, IRIS_ERR_ARG, "context: keep() needs a contiguous arena tensor made after the mark");
    iris_tensor copy = *t;
    size_t n = iris_nbytes(t);
    iris_ctx_release(ctx, m);
    iris_tensor *k = new_header(ctx);
    if (!k) return NULL;
    *k = copy;
    char *dst = arena_alloc(ctx, n);
    if (!dst) return NULL;
    /* move down in pieces that never overlap, so a plain device copy is safe */
    if (dst != src) {
        size_t step = (size_t)(src - dst), done = 0;
        while (done < n) {
            size_t len = n - done < step ? n - done : step;
            iris_status st = ctx->be->move(dst + done, src + done, len);
            if (st) return iris_ctx_fail(ctx, st, "%s", iris_last_error());
            done += len;
        }
    }
    k->data = dst;
    return k;
}

static iris_tensor *view_of(iris_ctx *ctx, const iris_tensor *t) {
    iris_tensor *v = new_header(ctx);
    if (!v) return NULL;
    *v = *t;
    v->flags = IRIS_T_ARENA; /* the header is the arena's; the data stays whose it was */
    return v;
}

iris_tensor *iris_reshape(iris_ctx *ctx, const iris_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return NULL;
    if (!iris_is_contiguous(t))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "reshape: tensor %s is not contiguous", t->name);
    iris_tensor tmp;
    int64_t sh[IRIS_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    if (ndim < 1 || ndim > IRIS_MAX_DIMS) return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "reshape: %d dims", ndim);
    for (int i = 0; i < ndim; i++) {
        sh[i] = shape[i];
        if (sh[i] == -1 && infer < 0) infer = i;
        else known *= sh[i];
    }
    if (infer >= 0) sh[infer] = known ? iris_nelements(t) / known : 0;
    if (iris_tensor_init(&tmp, t->dtype, ndim, sh) != IRIS_OK || iris_nelements(&tmp) != iris_nelements(t)) {
        char b[96];
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "reshape: %s cannot become %d dims of %lld elements",
                             iris_shape_str(t, b, sizeof b), ndim, (long long)iris_nelements(&tmp));
    }
    iris_tensor *v = view_of(ctx, t);
    if (!v) return NULL;
    memcpy(v->ne, tmp.ne, sizeof v->ne);
    memcpy(v->nb, tmp.nb, sizeof v->nb);
    v->ndim = ndim;
    return v;
}

iris_tensor *iris_narrow(iris_ctx *ctx, const iris_tensor *t, int dim, int64_t start, int64_t len) {
    if (!t) return NULL;
    if (dim < 0) dim += t->ndim;
    if (dim < 0 || dim >= t->ndim || start < 0 || len < 0 || start + len > t->ne[dim])
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "narrow: dim %d [%lld, +%lld) out of range", dim,
                             (long long)start, (long long)len);
    const iris_dtype_info *info = iris_dtype_get(t->dtype);
    if (dim == t->ndim - 1 && info->block_size > 1 && (start % info->block_size || len % info->block_size))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "narrow: cuts %s blocks", info->name);
    iris_tensor *v = view_of(ctx, t);
    if (!v) return NULL;
    int64_t off = dim == t->ndim - 1 ? (int64_t)iris_row_bytes(t->dtype, start) : start * t->nb[dim];
    v->data = (char *)t->data + off;
    v->ne[dim] = len;
    return v;
}

iris_tensor *iris_transpose(iris_ctx *ctx, const iris_tensor *t, int d0, int d1) {
    if (!t) return NULL;
    if (d0 < 0) d0 += t->ndim;
    if (d1 < 0) d1 += t->ndim;
    if (d0 < 0 || d1 < 0 || d0 >= t->ndim || d1 >= t->ndim)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "transpose: dims %d,%d of a %d-dim tensor", d0, d1, t->ndim);
    if (iris_dtype_get(t->dtype)->block_size > 1 && (d0 == t->ndim - 1 || d1 == t->ndim - 1))
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "transpose: cannot move the block dim of %s",
                             iris_dtype_name(t->dtype));
    iris_tensor *v = view_of(ctx, t);
    if (!v) return NULL;
    int64_t ne = v->ne[d0], nb = v->nb[d0];
    v->ne[d0] = v->ne[d1], v->nb[d0] = v->nb[d1];
    v->ne[d1] = ne, v->nb[d1] = nb;
    return v;
}

iris_status iris_ctx_run(iris_ctx *ctx, const struct iris_op_call *call) {
    static const char *names[IRIS_OP_COUNT] = {
        "copy",      "linear",     "matmul",  "conv2d", "pool2d", "upsample", "group_norm", "layer_norm",
        "rms_norm",  "softmax",    "attention", "unary", "binary", "concat",  "rope",       "get_rows"};
    if (ctx->status) return ctx->status;
    for (int i = 0; i < 4; i++) {
        const iris_tensor *s = call->src[i];
        if (s && s->device != ctx->params.device)
            return ctx->status = iris_fail(IRIS_ERR_ARG, "%s: input '%s' is on %s but the context runs on %s",
                                           names[call->op], s->name, iris_device_name(s->device),
                                           iris_device_name(ctx->params.device));
    }
    iris_status (*fn)(void *, const iris_op_call *) = ctx->be->ops[call->op];
    if (!fn)
        return ctx->status = iris_fail(IRIS_ERR_UNSUPPORTED, "%s: not implemented on the %s backend",
                                       names[call->op], ctx->be->name);
    iris_status st = fn(ctx->state, call);
    if (st) ctx->status = st;
    return st;
}

int iris_ctx_has_op(const iris_ctx *ctx, int op) {
    return op >= 0 && op < IRIS_OP_COUNT && ctx->be->ops[op] != NULL;
}
