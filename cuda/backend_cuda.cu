/* backend_cuda.cu - the CUDA backend table: device query, memory pool, copies, streams.

   Persistent allocations go through a small pool that keeps freed blocks
   for reuse (model reloads and per-request buffers would otherwise pay
   cudaMalloc/cudaFree each time, and cudaFree synchronises the device).
   Copies use the legacy default stream, which waits for the contexts'
   (blocking) streams, so a download always sees finished results.
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

/* ---- device query ---- */

extern "C" int iris_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error */
        return 0;
    }
    return n;
}

extern "C" iris_status iris_cuda_device_query(int dev, iris_cuda_device_info *info) {
    memset(info, 0, sizeof *info);
    cudaDeviceProp p;
    IRIS_CUDA_TRY(cudaGetDeviceProperties(&p, dev));
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    IRIS_CUDA_TRY(cudaSetDevice(dev));
    IRIS_CUDA_TRY(cudaMemGetInfo(&info->free_mem, &info->total_mem));
    return IRIS_OK;
}

/* ---- persistent memory pool ---- */

struct pool_block {
    void *ptr;
    size_t size;
    int in_use;
    pool_block *next;
};

static pool_block *pool_head;
static size_t pool_total;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;

/* Sizes are rounded so that freed blocks fit later requests of similar size. */
static size_t round_size(size_t n) {
    size_t r = 256;
    while (r < n && r < ((size_t)1 << 20)) r <<= 1;
    return r >= n ? r : (n + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
}

static void *cuda_alloc(size_t n) {
    size_t want = round_size(n);
    pthread_mutex_lock(&pool_mu);
    for (pool_block *b = pool_head; b; b = b->next)
        if (!b->in_use && b->size == want) {
            b->in_use = 1;
            pthread_mutex_unlock(&pool_mu);
            return b->ptr;
        }
    pthread_mutex_unlock(&pool_mu);
    void *p = NULL;
    if (cudaMalloc(&p, want) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    pool_block *b = (pool_block *)malloc(sizeof *b);
    if (!b) {
        cudaFree(p);
        return NULL;
    }
    b->ptr = p, b->size = want, b->in_use = 1;
    pthread_mutex_lock(&pool_mu);
    b->next = pool_head, pool_head = b;
    pool_total += want;
    pthread_mutex_unlock(&pool_mu);
    return p;
}

static void cuda_free(void *p) {
    if (!p) return;
    pthread_mutex_lock(&pool_mu);
    for (pool_block *b = pool_head; b; b = b->next)
        if (b->ptr == p) b->in_use = 0;
    pthread_mutex_unlock(&pool_mu);
}

extern "C" size_t iris_cuda_pool_bytes(void) {
    pthread_mutex_lock(&pool_mu);
    size_t n = pool_total;
    pthread_mutex_unlock(&pool_mu);
    return n;
}

/* The arena is one plain allocation, outside the pool. */
static void *cuda_reserve(size_t n) {
    void *p = NULL;
    if (cudaMalloc(&p, n) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return p;
}

static void cuda_unreserve(void *p, size_t n) {
    (void)n;
    if (p) cudaFree(p);
}

static iris_status cuda_upload(void *dst, const void *src, size_t n) {
    if (n) IRIS_CUDA_TRY(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
    return IRIS_OK;
}

static iris_status cuda_download(void *dst, const void *src, size_t n) {
    if (n) IRIS_CUDA_TRY(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
    return IRIS_OK;
}

static iris_status cuda_move(void *dst, const void *src, size_t n) {
    if (n) IRIS_CUDA_TRY(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice));
    return IRIS_OK;
}

static iris_status cuda_sync(void *state) {
    iris_cuda_state *s = (iris_cuda_state *)state;
    IRIS_CUDA_TRY(cudaStreamSynchronize(s->stream));
    return IRIS_OK;
}

static iris_status cuda_state_new(void **out, int n_threads) {
    (void)n_threads;
    *out = NULL;
    if (iris_cuda_device_count() == 0) return iris_fail(IRIS_ERR_DEVICE, "cuda: no CUDA device found");
    iris_cuda_state *s = (iris_cuda_state *)calloc(1, sizeof *s);
    if (!s) return iris_fail(IRIS_ERR_NOMEM, "cuda: out of host memory");
    s->device = 0;
    cudaError_t e = cudaSetDevice(0);
    if (e == cudaSuccess) e = cudaStreamCreate(&s->stream);
    if (e != cudaSuccess) {
        free(s);
        return iris_fail(IRIS_ERR_DEVICE, "cuda: cannot start device 0: %s", cudaGetErrorString(e));
    }
    *out = s;
    return IRIS_OK;
}

static void cuda_state_free(void *state) {
    iris_cuda_state *s = (iris_cuda_state *)state;
    if (!s) return;
    cudaStreamDestroy(s->stream);
    free(s);
}

static iris_backend make_cuda_backend(void) {
    iris_backend b;
    memset(&b, 0, sizeof b);
    b.name = "cuda";
    b.device = IRIS_CUDA;
    b.alloc = cuda_alloc;
    b.free = cuda_free;
    b.reserve = cuda_reserve;
    b.unreserve = cuda_unreserve;
    b.upload = cuda_upload;
    b.download = cuda_download;
    b.move = cuda_move;
    b.sync = cuda_sync;
    b.state_new = cuda_state_new;
    b.state_free = cuda_state_free;
    b.ops[IRIS_OP_UNARY] = iris_cuda_unary;
    return b;
}

extern "C" const iris_backend iris_cuda_backend = make_cuda_backend();
