/* mha.c - multi-head attention block (projections, heads split as strided views, merge). */
#include "mha.h"

iris_tensor *iris_mha(iris_ctx *ctx, const iris_mha_weights *w, const iris_tensor *x, const iris_tensor *kv,
                      int n_heads, int causal) {
    if (!x || n_heads < 1) return iris_ctx_fail(ctx, IRIS_ERR_ARG, "attention block: no input or %d heads", n_heads);
    if (!kv) kv = x;
    iris_tensor *q = iris_linear(ctx, x, w->q_w, w->q_b);
    iris_tensor *k = iris_linear(ctx, kv, w->k_w, w->k_b);
    iris_tensor *v = iris_linear(ctx, kv, w->v_w, w->v_b);
    if (!q || !k || !v) return NULL;
    int64_t B = x->ne[0], Lq = x->ne[1], Lk = kv->ne[1], D = q->ne[2];
    if (D % n_heads) return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "attention block: width %lld not divisible by %d heads",
                                          (long long)D, n_heads);
    int64_t hd = D / n_heads;
    q = iris_transpose(ctx, iris_reshape(ctx, q, 4, (int64_t[]){B, Lq, n_heads, hd}), 1, 2);
    k = iris_transpose(ctx, iris_reshape(ctx, k, 4, (int64_t[]){B, Lk, n_heads, hd}), 1, 2);
    v = iris_transpose(ctx, iris_reshape(ctx, v, 4, (int64_t[]){B, Lk, n_heads, hd}), 1, 2);
    iris_attn_params p = {.scale = 0, .causal = causal, .causal_offset = 0};
    iris_tensor *a = iris_attention(ctx, q, k, v, NULL, p); /* [B, H, Lq, hd] */
    a = iris_reshape(ctx, iris_permute(ctx, a, (const int[]){0, 2, 1, 3}), 3, (int64_t[]){B, Lq, D});
    return iris_linear(ctx, a, w->o_w, w->o_b);
}
