/* tensor.h - the tensor: dtype, up to 4 dims, strides, and the device it lives on.

   Shapes are written outermost first, as in PyTorch: an image batch is
   ne = {N, C, H, W}; a weight matrix for y = x W^T is ne = {out, in}.
   Strides nb[] are in bytes. The innermost stride equals the dtype's
   type_size; for block-quantized types the innermost dim is always
   contiguous and counts elements (a multiple of the block size), so a row
   of a Q4_0 matrix with ne[1] = 4096 takes 4096/32*18 bytes.

   Tensors come from three places:
     - iris_tensor_new / iris_tensor_free: persistent memory (weights) on a device;
     - iris_tensor_wrap: a header over memory someone else owns (mmapped files);
     - the context arena (ctx.h): activations, freed all at once per forward pass.

   Model code never touches `data`: it calls ops (ops.h) and moves data
   between host and device only through iris_tensor_read / iris_tensor_write.
*/
#ifndef IRIS_TENSOR_H
#define IRIS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "error.h"

#define IRIS_MAX_DIMS 4

typedef enum iris_device { IRIS_CPU = 0, IRIS_CUDA = 1, IRIS_DEVICE_COUNT } iris_device;

enum {
    IRIS_T_OWNED = 1u << 0, /* data was allocated by iris_tensor_new and is freed with it */
    IRIS_T_ARENA = 1u << 1, /* header and data live in a context arena */
};

typedef struct iris_tensor {
    iris_dtype dtype;
    iris_device device;
    int ndim;
    int64_t ne[IRIS_MAX_DIMS]; /* shape, outermost first; unused dims are 1 */
    int64_t nb[IRIS_MAX_DIMS]; /* strides in bytes */
    void *data;
    uint32_t flags;
    char name[64];
} iris_tensor;

const char *iris_device_name(iris_device d);

/* Fills shape and contiguous strides; data stays NULL. Fails on a bad
   ndim, a negative dim, or an innermost dim that is not a whole number of blocks. */
iris_status iris_tensor_init(iris_tensor *t, iris_dtype dtype, int ndim, const int64_t *shape);

int64_t iris_nelements(const iris_tensor *t);
/* Bytes of the tensor if it were contiguous. */
size_t iris_nbytes(const iris_tensor *t);
int iris_is_contiguous(const iris_tensor *t);
int iris_same_shape(const iris_tensor *a, const iris_tensor *b);
/* "f32[2,3,4]" into buf; returns buf. */
const char *iris_shape_str(const iris_tensor *t, char *buf, size_t n);

/* Persistent tensor with uninitialised data on `dev`. */
iris_status iris_tensor_new(iris_tensor **out, iris_device dev, iris_dtype dtype, int ndim,
                            const int64_t *shape);
/* Header over existing memory (not freed by iris_tensor_free). */
iris_status iris_tensor_wrap(iris_tensor **out, iris_device dev, iris_dtype dtype, int ndim,
                             const int64_t *shape, void *data);
void iris_tensor_free(iris_tensor *t);

/* Copies a contiguous tensor's bytes to/from host memory, waiting until done.
   `n` must equal iris_nbytes(t). */
iris_status iris_tensor_read(const iris_tensor *t, void *host, size_t n);
iris_status iris_tensor_write(iris_tensor *t, const void *host, size_t n);
/* Persistent contiguous copy of `t` on `dev` (upload, download or clone). */
iris_status iris_tensor_to_device(iris_tensor **out, const iris_tensor *t, iris_device dev);

#endif
