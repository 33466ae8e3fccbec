/* iris.h - everything a program using the iris runtime needs.

   Load weights, make a context, run ops, read the result:

       #include "core/iris.h"

       iris_safetensors st;
       iris_tensor *w, *b;
       iris_safetensors_open(&st, "linear.safetensors");
       iris_safetensors_get(&st, "weight", &w);          // mmapped, no copy
       iris_safetensors_get(&st, "bias", &b);

       iris_ctx *ctx;
       iris_ctx_create(&ctx, NULL);                      // CPU, all cores
       int64_t shape[2] = {1, 4};
       float in[4] = {1, 2, 3, 4}, out[8];
       iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 2, shape, in);
       iris_tensor *y = iris_linear(ctx, x, w, b);       // NULL on error
       if (iris_ctx_status(ctx) || iris_tensor_read(y, out, sizeof out))
           fprintf(stderr, "%s\n", iris_last_error());
       iris_ctx_free(ctx);

   docs/ARCHITECTURE.md explains the layers.
*/
#ifndef IRIS_H
#define IRIS_H

#include "ctx.h"
#include "darknet.h"
#include "dtype.h"
#include "error.h"
#include "file.h"
#include "gguf.h"
#include "image.h"
#include "image_draw.h"
#include "ops.h"
#include "quant.h"
#include "safetensors.h"
#include "tensor.h"

#endif
