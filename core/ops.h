/* ops.h - the tensor ops every model is written against.

   Each op takes a context and input tensors on the context's device,
   allocates its output in the context arena and returns it. On error it
   returns NULL and records the failure in the context (see ctx.h); an op
   given a NULL input returns NULL. Outputs are F32 and contiguous unless
   stated. Inputs may be strided views unless stated. Weights may be F32,
   F16, BF16 or a quantized type wherever "weight" is written.

       iris_tensor *h = iris_conv2d(ctx, x, w, b, iris_conv(1, 1));    // 3x3, stride 1, pad 1
       h = iris_relu(ctx, h);
       h = iris_pool2d(ctx, h, iris_maxpool(3, 2, 1));
       if (iris_ctx_status(ctx)) return iris_ctx_status(ctx);
*/
#ifndef IRIS_OPS_H
#define IRIS_OPS_H

#include "ctx.h"

/* Activations that can be fused into linear/conv2d, and applied alone by iris_unary(). */
typedef enum iris_act {
    IRIS_ACT_NONE = 0,
    IRIS_ACT_RELU,
    IRIS_ACT_LEAKY,      /* x > 0 ? x : alpha*x */
    IRIS_ACT_SILU,       /* x * sigmoid(x) */
    IRIS_ACT_GELU,       /* exact, erf */
    IRIS_ACT_GELU_TANH,  /* tanh approximation */
    IRIS_ACT_QUICK_GELU, /* x * sigmoid(1.702 x) */
    IRIS_ACT_MISH,       /* x * tanh(softplus(x)) */
    IRIS_ACT_SIGMOID,
    IRIS_ACT_TANH,
    IRIS_ACT_SCALE,      /* alpha * x */
    IRIS_ACT_EXP,
    IRIS_ACT_SQRT,
    IRIS_ACT_COUNT
} iris_act;

typedef enum iris_binop { IRIS_BIN_ADD = 0, IRIS_BIN_SUB, IRIS_BIN_MUL, IRIS_BIN_DIV, IRIS_BIN_COUNT } iris_binop;

/* ---- copies and layout ---- */
/* Contiguous copy converted to `dtype` (F32, F16, BF16 from any type; dequantizes). */
iris_tensor *iris_copy(iris_ctx *ctx, const iris_tensor *x, iris_dtype dtype);
iris_tensor *iris_dequantize(iris_ctx *ctx, const iris_tensor *x); /* = iris_copy(x, F32) */
/* Materialised permutation: out dim i = x dim perm[i]. */
iris_tensor *iris_permute(iris_ctx *ctx, const iris_tensor *x, const int *perm);
iris_tensor *iris_concat(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, int dim);
/* Rows ids (I32 [n]) of table [V, D] (any dtype, also quantized) -> F32 [n, D]. */
iris_tensor *iris_get_rows(iris_ctx *ctx, const iris_tensor *table, const iris_tensor *ids);
/* Writes src (converted) into the existing contiguous tensor dst of the same shape, e.g. a
   narrowed view of a KV cache; returns dst. dst is F32, F16 or BF16. */
iris_tensor *iris_copy_into(iris_ctx *ctx, iris_tensor *dst, const iris_tensor *src);

/* ---- matrix products ---- */
/* x [..., K], weight [N, K], bias [N] or NULL -> [..., N], then act (alpha for leaky). */
iris_tensor *iris_linear_act(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b,
                             iris_act act, float alpha);
iris_tensor *iris_linear(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b);
/* a [..., M, K] @ b [..., K, N] (or b [..., N, K] with trans_b) -> [..., M, N]; leading dims broadcast. */
iris_tensor *iris_matmul(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, int trans_b);

/* Summation orders of llama.cpp's CPU matrix products (its AVX-512 build), for reproducing its
   results bit for bit on any machine: each output element is one dot product over K, the same on
   every SIMD level, thread count and GEMM library (core/cpu/dot_order.c spells them out). */
typedef enum iris_dot_order {
    IRIS_DOT_ANY = 0,    /* whatever is fastest */
    IRIS_DOT_GGML_VEC,   /* ggml_vec_dot_f32 / _f16: 4 x 16 FMA lanes per 64 elements, then the rest one by one */
    IRIS_DOT_GGML_TILED, /* llamafile's tinyBLAS: element k into FMA lane k % 16 */
} iris_dot_order;
/* iris_linear_act / iris_matmul in that order (F32 and F16 weights / operands; others ignore it). */
iris_tensor *iris_linear_ordered(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b,
                                 iris_act act, float alpha, iris_dot_order order);
iris_tensor *iris_matmul_ordered(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, int trans_b,
                                 iris_dot_order order);

/* ---- convolution and resampling (NCHW) ---- */
typedef struct iris_conv2d_params {
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    iris_act act; /* fused after bias */
    float alpha;    /* for IRIS_ACT_LEAKY */
    const iris_tensor *residual; /* f32, the output's shape, or NULL: y = act(conv(x) + bias + residual) */
    int pad_h_end, pad_w_end;    /* extra zero rows/columns after (bottom/right), as the SD VAE's (0, 1) padding */
} iris_conv2d_params;
/* stride s, padding p, dilation 1, groups 1, no activation */
iris_conv2d_params iris_conv(int stride, int pad);
/* x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or NULL -> [N, O, Ho, Wo] */
iris_tensor *iris_conv2d(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *w, const iris_tensor *b,
                         iris_conv2d_params p);

typedef struct iris_pool2d_params {
    int avg; /* 0 max, 1 average */
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    int count_include_pad; /* average: divide by the full window (PyTorch default 1) */
    int pad_h_end, pad_w_end; /* max pooling only: extra rows/columns after (darknet's maxpool, padding size-1 split
                                 as (size-1)/2 before and the rest after); windows never read outside x */
} iris_pool2d_params;
iris_pool2d_params iris_maxpool(int k, int stride, int pad);
iris_pool2d_params iris_avgpool(int k, int stride, int pad);
iris_tensor *iris_pool2d(iris_ctx *ctx, const iris_tensor *x, iris_pool2d_params p);
/* [N, C, H, W] -> [N, C] mean over H, W */
iris_tensor *iris_global_avgpool(iris_ctx *ctx, const iris_tensor *x);
/* nearest-neighbour upsample by integer factors */
iris_tensor *iris_upsample_nearest(iris_ctx *ctx, const iris_tensor *x, int scale_h, int scale_w);

/* ---- normalisation ---- */
/* x [N, C, ...], gamma/beta [C] or NULL */
iris_tensor *iris_group_norm(iris_ctx *ctx, const iris_tensor *x, int groups, const iris_tensor *gamma,
                             const iris_tensor *beta, float eps);
/* group norm followed by an activation in the same pass (SD's ResBlocks: norm then SiLU) */
iris_tensor *iris_group_norm_act(iris_ctx *ctx, const iris_tensor *x, int groups, const iris_tensor *gamma,
                                 const iris_tensor *beta, float eps, iris_act act);
/* over the last dim; gamma/beta [D] or NULL */
iris_tensor *iris_layer_norm(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *gamma,
                             const iris_tensor *beta, float eps);
iris_tensor *iris_rms_norm(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *gamma, float eps);
/* softmax over the last dim of x*scale + mask (mask broadcast to x, or NULL) */
iris_tensor *iris_softmax(iris_ctx *ctx, const iris_tensor *x, float scale, const iris_tensor *mask);

/* ---- attention ---- */
typedef struct iris_attn_params {
    float scale;     /* 0 = 1/sqrt(D) */
    int causal;      /* query i attends to keys j <= i + causal_offset */
    int causal_offset; /* usually Lk - Lq (cached keys before this chunk) */
} iris_attn_params;
/* q [B, H, Lq, D], k [B, Hk, Lk, D], v [B, Hk, Lk, Dv] with H % Hk == 0 (grouped-query),
   mask [Lq, Lk] additive (or NULL) -> [B, H, Lq, Dv]. k/v may be F16 (a KV cache).
   Tiled: never materialises all heads' score matrices at once. */
iris_tensor *iris_attention(iris_ctx *ctx, const iris_tensor *q, const iris_tensor *k, const iris_tensor *v,
                            const iris_tensor *mask, iris_attn_params p);

/* ---- elementwise ---- */
iris_tensor *iris_unary(iris_ctx *ctx, const iris_tensor *x, iris_act op, float alpha);
iris_tensor *iris_relu(iris_ctx *ctx, const iris_tensor *x);
iris_tensor *iris_silu(iris_ctx *ctx, const iris_tensor *x);
iris_tensor *iris_gelu(iris_ctx *ctx, const iris_tensor *x);
iris_tensor *iris_sigmoid(iris_ctx *ctx, const iris_tensor *x);
iris_tensor *iris_scale(iris_ctx *ctx, const iris_tensor *x, float s);
/* a op b with b broadcast to a's shape (b may have fewer dims, aligned right) */
iris_tensor *iris_binary(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b, iris_binop op);
iris_tensor *iris_add(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b);
iris_tensor *iris_mul(iris_ctx *ctx, const iris_tensor *a, const iris_tensor *b);

/* ---- positions ---- */
typedef struct iris_rope_params {
    int n_dims;       /* rotated dims per head (<= D), usually D */
    int neox;         /* 0: rotate pairs (2i, 2i+1) (Llama/GGUF "normal"); 1: halves (i, i+D/2) (NeoX) */
    float base;       /* theta base, e.g. 10000 */
    float freq_scale; /* linear RoPE scaling: positions multiplied by this (1 = none) */
} iris_rope_params;
/* x [..., L, H, D], pos I32 [L] -> same shape */
iris_tensor *iris_rope(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *pos, iris_rope_params p);
/* As iris_rope with per-pair frequency factors ff F32 [n_dims / 2] (or NULL): pair i turns at
   angle freq_scale * (pos * base^(-2i/n_dims) / ff[i]), as llama.cpp's rope_freqs (Llama 3.1+). */
iris_tensor *iris_rope_ff(iris_ctx *ctx, const iris_tensor *x, const iris_tensor *pos, const iris_tensor *ff,
                          iris_rope_params p);

#endif
