/* cuda.h - what the CUDA backend exposes beyond the backend table.

   The backend itself is reached like any other, through a context:

       iris_ctx_params p = iris_ctx_default_params();
       p.device = IRIS_CUDA;
       if (iris_ctx_create(&ctx, &p)) ...      // fails cleanly without a GPU

   These helpers answer "is there a GPU, and which" for tools (--device auto)
   and tests. They exist only in builds with IRIS_WITH_CUDA.
*/
#ifndef IRIS_CUDA_H
#define IRIS_CUDA_H

#include <stddef.h>

#include "../core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices (0 when there is no driver or GPU). */
int iris_cuda_device_count(void);

typedef struct iris_cuda_device_info {
    char name[256];
    size_t total_mem, free_mem;
    int cc_major, cc_minor, sm_count;
} iris_cuda_device_info;

iris_status iris_cuda_device_query(int dev, iris_cuda_device_info *info);

/* Bytes held by the persistent-allocation pool (in use + cached for reuse). */
size_t iris_cuda_pool_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
