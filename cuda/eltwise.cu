/* eltwise.cu - elementwise activations on the GPU (same formulas as core/cpu/eltwise.c). */
#include <math.h>

#include "cuda_internal.h"

__device__ static inline float act_f(int op, float x, float alpha) {
    switch (op) {
    case IRIS_ACT_RELU: return x > 0.f ? x : 0.f;
    case IRIS_ACT_LEAKY: return x > 0.f ? x : alpha * x;
    case IRIS_ACT_SILU: return x / (1.f + expf(-x));
    case IRIS_ACT_GELU: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case IRIS_ACT_GELU_TANH:
        return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case IRIS_ACT_QUICK_GELU: return x / (1.f + expf(-1.702f * x));
    case IRIS_ACT_MISH: return x * tanhf(log1pf(expf(x)));
    case IRIS_ACT_SIGMOID: return 1.f / (1.f + expf(-x));
    case IRIS_ACT_TANH: return tanhf(x);
    case IRIS_ACT_SCALE: return alpha * x;
    case IRIS_ACT_EXP: return expf(x);
    case IRIS_ACT_SQRT: return sqrtf(x);
    default: return x;
    }
}

/* Strided 4-D source (byte strides), contiguous destination. */
__global__ static void unary_kernel(float *dst, const char *src, int64_t n, int64_t ne1, int64_t ne2,
                                    int64_t ne3, int64_t nb0, int64_t nb1, int64_t nb2, int64_t nb3, int op,
                                    float alpha) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t i3 = i % ne3, r = i / ne3;
        int64_t i2 = r % ne2;
        r /= ne2;
        int64_t i1 = r % ne1, i0 = r / ne1;
        float x = *(const float *)(src + i0 * nb0 + i1 * nb1 + i2 * nb2 + i3 * nb3);
        dst[i] = act_f(op, x, alpha);
    }
}

iris_status iris_cuda_unary(void *state, const iris_op_call *c) {
    iris_cuda_state *s = (iris_cuda_state *)state;
    const iris_tensor *x = c->src[0];
    iris_tensor *y = c->dst;
    if (x->dtype != IRIS_F32 || y->dtype != IRIS_F32)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "unary: cuda backend handles f32 only (got %s)", iris_dtype_name(x->dtype));
    int64_t n = iris_nelements(y);
    if (!n) return IRIS_OK;
    /* view x as 4-D outermost-first; missing leading dims have size 1 */
    int64_t ne[4] = {1, 1, 1, 1}, nb[4] = {0, 0, 0, 0};
    int off = 4 - x->ndim;
    for (int d = 0; d < x->ndim; d++) ne[off + d] = x->ne[d], nb[off + d] = x->nb[d];
    int threads = 256;
    int64_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535) blocks = 65535;
    unary_kernel<<<(unsigned)blocks, threads, 0, s->stream>>>((float *)y->data, (const char *)x->data, n, ne[1],
                                                               ne[2], ne[3], nb[0], nb[1], nb[2], nb[3], c->ip[0],
                                                               c->fp[0]);
    IRIS_CUDA_TRY(cudaGetLastError());
    return IRIS_OK;
}
