/* mha.h - multi-head attention with input and output projections: the one attention block that
   the CLIP transformers, the UNet's spatial transformers and the VAE's mid block share.

       q = x W_q^T + b_q,  k = kv W_k^T + b_k,  v = kv W_v^T + b_v     (biases may be NULL)
       y = concat_heads(softmax(q_h k_h^T / sqrt(d)) v_h) W_o^T + b_o
*/
#ifndef IRIS_MHA_H
#define IRIS_MHA_H

#include "../core/ops.h"

typedef struct iris_mha_weights {
    iris_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* [D, Din], [D] */
    iris_tensor *o_w, *o_b;                         /* [Dout, D], [Dout] */
} iris_mha_weights;

/* x [B, Lq, Din]; kv [B, Lk, Dkv] for cross-attention or NULL for self-attention -> [B, Lq, Dout].
   Tiled by iris_attention: no [Lq, Lk] score matrix for all heads at once. */
iris_tensor *iris_mha(iris_ctx *ctx, const iris_mha_weights *w, const iris_tensor *x, const iris_tensor *kv,
                      int n_heads, int causal);

#endif
