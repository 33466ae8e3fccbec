/* cuda_internal.h - shared by the CUDA backend's .cu files (not public). */
#ifndef IRIS_CUDA_INTERNAL_H
#define IRIS_CUDA_INTERNAL_H

#include <cuda_runtime.h>

extern "C" {
#include "../core/backend.h"
#include "../core/ops.h"
}
#include "cuda.h"

/* Per-context state: every op of a context runs in order on its stream. */
struct iris_cuda_state {
    int device;
    cudaStream_t stream;
};

/* Turns a CUDA error into an iris error naming the call site; used after every
   runtime call and every kernel launch. */
#define IRIS_CUDA_TRY(call)                                                                        \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return iris_fail(IRIS_ERR_DEVICE, "cuda: %s at %s:%d: %s", #call, __FILE__, __LINE__,  \
                             cudaGetErrorString(e_));                                              \
    } while (0)

/* kernels (one file per family) */
iris_status iris_cuda_unary(void *state, const iris_op_call *c); /* eltwise.cu */

#endif
