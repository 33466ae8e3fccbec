/* model_impl.h - the inference state's insides, shared by kv_cache.c and forward.c. */
#ifndef IRIS_LLAMA_MODEL_IMPL_H
#define IRIS_LLAMA_MODEL_IMPL_H

#include "model.h"

struct iris_llama_state {
    const iris_llama *m;
    iris_ctx *ctx;
    int32_t n_ctx;
    int32_t pos;         /* next position = tokens in the cache */
    iris_dtype kv_type;   /* precision of cached keys/values: F16 (default) or F32 */
    iris_dtype kv_store;  /* type of the cache tensors: kv_type, or F32 holding F16-rounded values in exact mode */
    iris_tensor **k, **v; /* per layer (n_ctx, n_head_kv, head_dim) */
    int32_t *ids, *posv;  /* host staging for one batch */
    int exact;            /* llama.cpp's arithmetic (see iris_llama_state_params) */
    int quantized;        /* some layer weight is block-quantized */
};

#endif
