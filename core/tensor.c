/* tensor.c - tensor headers, persistent allocation and host<->device transfers. */
#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

const char *iris_device_name(iris_device d) {
    switch (d) {
    case IRIS_CPU: return "cpu";
    case IRIS_CUDA: return "cuda";
    default: return "?";
    }
}

const iris_backend *iris_backend_get(iris_device dev) {
    if (dev == IRIS_CPU) return &iris_cpu_backend;
#ifdef IRIS_WITH_CUDA
    if (dev == IRIS_CUDA) return &iris_cuda_backend;
#endif
    return NULL;
}

iris_status iris_tensor_init(iris_tensor *t, iris_dtype dtype, int ndim, const int64_t *shape) {
    const iris_dtype_info *info = iris_dtype_get(dtype);
    memset(t, 0, sizeof *t);
    if (!info) return iris_fail(IRIS_ERR_ARG, "tensor: unknown dtype %d", (int)dtype);
    if (ndim < 1 || ndim > IRIS_MAX_DIMS)
        return iris_fail(IRIS_ERR_ARG, "tensor: %d dims (1..%d allowed)", ndim, IRIS_MAX_DIMS);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < IRIS_MAX_DIMS; i++) t->ne[i] = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || shape[i] > ((int64_t)1 << 40))
            return iris_fail(IRIS_ERR_ARG, "tensor: dim %d has absurd size %lld", i, (long long)shape[i]);
        t->ne[i] = shape[i];
    }
    if (t->ne[ndim - 1] % info->block_size)
        return iris_fail(IRIS_ERR_SHAPE, "tensor: innermost dim %lld is not a multiple of %s block size %d",
                         (long long)t->ne[ndim - 1], info->name, info->block_size);
    /* unused dims (>= ndim) get the stride of the whole tensor so loops over 4 dims stay valid */
    int64_t stride = info->type_size;
    t->nb[ndim - 1] = stride;
    stride = (int64_t)iris_row_bytes(dtype, t->ne[ndim - 1]);
    for (int i = ndim - 2; i >= 0; i--) {
        t->nb[i] = stride;
        if (t->ne[i] && stride > INT64_MAX / t->ne[i])
            return iris_fail(IRIS_ERR_ARG, "tensor: size overflows");
        stride *= t->ne[i];
    }
    for (int i = ndim; i < IRIS_MAX_DIMS; i++) t->nb[i] = stride;
    return IRIS_OK;
}

int64_t iris_nelements(const iris_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}

size_t iris_nbytes(const iris_tensor *t) {
    size_t rows = 1;
    for (int i = 0; i < t->ndim - 1; i++) rows *= (size_t)t->ne[i];
    return rows * iris_row_bytes(t->dtype, t->ne[t->ndim - 1]);
}

int iris_is_contiguous(const iris_tensor *t) {
    const iris_dtype_info *info = iris_dtype_get(t->dtype);
    int64_t stride = info->type_size;
    if (t->ne[t->ndim - 1] > 1 && t->nb[t->ndim - 1] != stride) return 0;
    stride = (int64_t)iris_row_bytes(t->dtype, t->ne[t->ndim - 1]);
    for (int i = t->ndim - 2; i >= 0; i--) {
        if (t->ne[i] > 1 && t->nb[i] != stride) return 0;
        stride *= t->ne[i];
    }
    return 1;
}

int iris_same_shape(const iris_tensor *a, const iris_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->ne[i] != b->ne[i]) return 0;
    return 1;
}

const char *iris_shape_str(const iris_tensor *t, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "%s[", iris_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)t->ne[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

iris_status iris_tensor_new(iris_tensor **out, iris_device dev, iris_dtype dtype, int ndim,
                            const int64_t *shape) {
    *out = NULL;
    const iris_backend *be = iris_backend_get(dev);
    if (!be) return iris_fail(IRIS_ERR_UNSUPPORTED, "tensor: %s backend not built in", iris_device_name(dev));
    iris_tensor *t = malloc(sizeof *t);
    if (!t) return iris_fail(IRIS_ERR_NOMEM, "tensor: out of host memory");
    iris_status st = iris_tensor_init(t, dtype, ndim, shape);
    if (st) { free(t); return st; }
    size_t n = iris_nbytes(t);
    t->device = dev;
    t->data = be->alloc(n ? n : 1);
    if (!t->data) {
        free(t);
        return iris_fail(IRIS_ERR_NOMEM, "tensor: cannot allocate %zu bytes on %s", n, iris_device_name(dev));
    }
    t->flags = IRIS_T_OWNED;
    *out = t;
    return IRIS_OK;
}

iris_status iris_tensor_wrap(iris_tensor **out, iris_device dev, iris_dtype dtype, int ndim,
                             const int64_t *shape, void *data) {
    *out = NULL;
    iris_tensor *t = malloc(sizeof *t);
    if (!t) return iris_fail(IRIS_ERR_NOMEM, "tensor: out of host memory");
    iris_status st = iris_tensor_init(t, dtype, ndim, shape);
    if (st) { free(t); return st; }
    t->device = dev;
    t->data = data;
    *out = t;
    return IRIS_OK;
}

void iris_tensor_free(iris_tensor *t) {
    if (!t || (t->flags & IRIS_T_ARENA)) return;
    if (t->flags & IRIS_T_OWNED) {
        const iris_backend *be = iris_backend_get(t->device);
        if (be) be->free(t->data);
    }
    free(t);
}

static iris_status check_transfer(const iris_tensor *t, size_t n, const char *what) {
    if (!iris_is_contiguous(t))
        return iris_fail(IRIS_ERR_ARG, "tensor %s: %s needs a contiguous tensor", t->name, what);
    if (n != iris_nbytes(t))
        return iris_fail(IRIS_ERR_ARG, "tensor %s: %s of %zu bytes, tensor has %zu", t->name, what, n,
                         iris_nbytes(t));
    if (!iris_backend_get(t->device))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "tensor %s: %s backend not built in", t->name,
                         iris_device_name(t->device));
    return IRIS_OK;
}

iris_status iris_tensor_read(const iris_tensor *t, void *host, size_t n) {
    iris_status st = check_transfer(t, n, "read");
    if (st) return st;
    return iris_backend_get(t->device)->download(host, t->data, n);
}

iris_status iris_tensor_write(iris_tensor *t, const void *host, size_t n) {
    iris_status st = check_transfer(t, n, "write");
    if (st) return st;
    return iris_backend_get(t->device)->upload(t->data, host, n);
}

iris_status iris_tensor_to_device(iris_tensor **out, const iris_tensor *t, iris_device dev) {
    if (!iris_is_contiguous(t))
        return iris_fail(IRIS_ERR_ARG, "tensor %s: to_device needs a contiguous tensor", t->name);
    iris_status st = iris_tensor_new(out, dev, t->dtype, t->ndim, t->ne);
    if (st) return st;
    memcpy((*out)->name, t->name, sizeof t->name);
    size_t n = iris_nbytes(t);
    if (t->device == IRIS_CPU) {
        st = iris_backend_get(dev)->upload((*out)->data, t->data, n);
    } else if (dev == IRIS_CPU) {
        st = iris_backend_get(t->device)->download((*out)->data, t->data, n);
    } else if (dev == t->device) {
        st = iris_backend_get(dev)->move((*out)->data, t->data, n);
    } else {
        st = iris_fail(IRIS_ERR_UNSUPPORTED, "tensor %s: no direct copy %s -> %s", t->name,
                       iris_device_name(t->device), iris_device_name(dev));
    }
    if (st) { iris_tensor_free(*out); *out = NULL; }
    return st;
}
