/* backend.h - the table a backend fills in (internal to the library).

   ops.c front ends validate shapes, allocate the output from the context
   arena and hand one iris_op_call to the backend of the context. A backend
   implements memory (persistent allocations, the arena region, copies) and
   one function per op. An op may run asynchronously: callers only rely on
   results after iris_ctx_sync or iris_tensor_read.

   Adding an op: append to iris_op, describe its params below, add the
   front end in core/ops_*.c and a kernel in each backend (core/cpu/, cuda/).
*/
#ifndef IRIS_BACKEND_H
#define IRIS_BACKEND_H

#include "tensor.h"

typedef enum iris_op {
    IRIS_OP_COPY,       /* dst = src0 converted to dst dtype, any strides (permute, dequantize, cast) */
    IRIS_OP_LINEAR,     /* dst[..,N] = src0[..,K] @ src1[N,K]^T + src2[N]?; ip[0] = iris_act fused after bias;
                           ip[1] iris_dot_order */
    IRIS_OP_MATMUL,     /* dst[b,M,N] = src0[b,M,K] @ (ip[0] ? src1[b,N,K]^T : src1[b,K,N]); batch dims broadcast;
                           ip[1] iris_dot_order */
    IRIS_OP_CONV2D,     /* src0 x[N,C,H,W], src1 w[O,C/g,kh,kw], src2 bias[O]?, src3 residual[N,O,Ho,Wo]? (f32, added before act);
                           ip: stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, act; fp[0]: act alpha */
    IRIS_OP_POOL2D,     /* ip: kind (0 max, 1 avg), kh, kw, sh, sw, ph, pw, count_include_pad */
    IRIS_OP_UPSAMPLE,   /* nearest; ip: scale_h, scale_w */
    IRIS_OP_GROUP_NORM, /* src0 x[N,C,...], src1 gamma[C]?, src2 beta[C]?; ip[0] groups, ip[1] iris_act after; fp[0] eps */
    IRIS_OP_LAYER_NORM, /* over last dim; src1 gamma?, src2 beta?; fp[0] eps */
    IRIS_OP_RMS_NORM,   /* over last dim; src1 gamma?; fp[0] eps */
    IRIS_OP_SOFTMAX,    /* over last dim of src0 * fp[0], plus src1 additive mask (broadcast)?; ip[0] causal */
    IRIS_OP_ATTENTION,  /* q src0[B,H,Lq,D], k src1[B,Hk,Lk,D], v src2[B,Hk,Lk,Dv], mask src3[Lq,Lk]?;
                           fp[0] scale; ip[0] causal; ip[1] causal offset (query i sees keys <= i + off) */
    IRIS_OP_UNARY,      /* ip[0] iris_act; fp[0] alpha */
    IRIS_OP_BINARY,     /* ip[0] iris_binop; src1 broadcast to src0's shape (numpy rules, dst shape given) */
    IRIS_OP_CONCAT,     /* src0, src1 along ip[0] */
    IRIS_OP_ROPE,       /* src0 x[..,L,H,D], src1 pos I32[L], src2 F32[n_dims/2] frequency divisors?;
                           ip: n_dims, mode (0 normal, 2 neox);
                           fp: base, freq_scale */
    IRIS_OP_GET_ROWS,   /* dst[n,D] f32 = rows src1 (I32[n]) of src0 [V,D] of any dtype */
    IRIS_OP_COUNT
} iris_op;

typedef struct iris_op_call {
    iris_op op;
    iris_tensor *dst;
    const iris_tensor *src[4];
    int32_t ip[8];
    float fp[4];
} iris_op_call;

typedef struct iris_backend {
    const char *name;
    iris_device device;
    /* persistent memory */
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    /* arena region for a context: reserve `bytes` (may be virtual), give back */
    void *(*reserve)(size_t bytes);
    void (*unreserve)(void *p, size_t bytes);
    /* copies; `upload`: host -> device, `download`: device -> host, `move`: device -> device
       (may overlap, like memmove) */
    iris_status (*upload)(void *dst, const void *src, size_t n);
    iris_status (*download)(void *dst, const void *src, size_t n);
    iris_status (*move)(void *dst, const void *src, size_t n);
    iris_status (*sync)(void *state);
    /* per-context state (thread pool, streams, handles) */
    iris_status (*state_new)(void **state, int n_threads);
    void (*state_free)(void *state);
    /* one entry per op; NULL = not implemented on this backend */
    iris_status (*ops[IRIS_OP_COUNT])(void *state, const iris_op_call *call);
} iris_backend;

/* NULL when the backend is not compiled in. */
const iris_backend *iris_backend_get(iris_device dev);

extern const iris_backend iris_cpu_backend;
#ifdef IRIS_WITH_CUDA
extern const iris_backend iris_cuda_backend;
#endif

#endif
