/* forward.c - one pass of a Llama model over n tokens (or embeddings), written top to bottom
   on the ops of core/ops.h, so it runs unchanged on any backend. The rows are either n
   consecutive positions of one sequence or one new position of each of n sequences (a
   batch's decode step): the matmuls see all n rows, so each weight is read once for them,
   while RoPE, the cache append and attention go per sequence, each over its own cache.
   The keys and values of the rows are appended to their caches; attention reads every
   cached position of the row's sequence before it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops.h"
#include "model_impl.h"

/* The summation order of llama.cpp's CPU mul_mat (AVX-512 build) for `rows` rows of activations
   against a K-wide operand of N rows: llamafile's tinyBLAS takes batches of two or more rows when K
   is a multiple of 16 and N of 4, ggml_vec_dot the rest. */
static iris_dot_order ggml_order(int64_t rows, int64_t K, int64_t N) {
    return rows >= 2 && K % 16 == 0 && N % 4 == 0 ? IRIS_DOT_GGML_TILED : IRIS_DOT_GGML_VEC;
}

/* llama.cpp multiplies F16 weights with activations rounded to F16; doing the same, in its
   summation order, keeps greedy continuations token-exact with it (quantized weights already
   see activations quantized to the weight's dot type inside iris_linear). */
static iris_tensor *linear(iris_ctx *ctx, int exact, const iris_tensor *x, const iris_tensor *w,
                           const iris_tensor *b, iris_act act, int64_t rows) {
    if (!exact || !x || !w) return iris_linear_act(ctx, x, w, b, act, 0.0f);
    if (w->dtype == IRIS_F16) x = iris_copy(ctx, iris_copy(ctx, x, IRIS_F16), IRIS_F32);
    return iris_linear_ordered(ctx, x, w, b, act, 0.0f, ggml_order(rows, w->ne[1], w->ne[0]));
}

/* (n, Lk) additive mask: query i (position p0 + i) sees keys 0..p0 + i (Lk may run past p0 + n). */
static iris_tensor *causal_mask(iris_ctx *ctx, int n, int32_t p0, int64_t Lk) {
    iris_tensor *t = iris_ctx_tensor(ctx, IRIS_F32, 2, (int64_t[]){n, Lk});
    float *host = t ? malloc((size_t)(n * Lk) * sizeof *host) : NULL;
    if (!host) return t ? iris_ctx_fail(ctx, IRIS_ERR_NOMEM, "llama: out of memory for the mask") : NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < Lk; j++) host[i * Lk + j] = j <= p0 + i ? 0.0f : -INFINITY;
    iris_status st = iris_tensor_write(t, host, iris_nbytes(t));
    free(host);
    return st ? iris_ctx_fail(ctx, st, "%s", iris_last_error()) : t;
}

/* Attention of the batch's queries q (n, H, D) over the cached keys/values of layer l,
   positions 0..p0+n-1 -> (n, H*D). The fused op in general; in exact mode the same
   sums as llama.cpp's CPU path, spelled out as ops: scores = Q K^T, softmax with a
   causal mask, then P V, where with an F16 cache Q and P are rounded to F16 first
   (llama.cpp converts them to the cache's type for its dot products). Like llama.cpp it
   reads the cache to a multiple of 32 positions (the rows past p0+n are masked, and zero or
   finite), which places the elements of its dot products in the same vector lanes. */
static iris_tensor *attend(iris_llama_core *c, const iris_llama_seq *seq, int l, const iris_tensor *q, int n,
                           int32_t p0, iris_tensor *mask) {
    const iris_llama_hparams *hp = &c->m->hp;
    iris_ctx *ctx = c->ctx;
    const int64_t H = hp->n_head, Hk = hp->n_head_kv, G = H / Hk, D = hp->head_dim, Lk = p0 + n;
    const float scale = 1.0f / sqrtf((float)D);
    if (!mask) {
        iris_tensor *kc = iris_narrow(ctx, seq->k[l], 0, 0, Lk), *vc = iris_narrow(ctx, seq->v[l], 0, 0, Lk); /* (Lk, Hk, D) */
        /* (1, H, n, D) queries over (1, Hk, Lk, D) keys/values: views, no copies */
        iris_tensor *Q = iris_transpose(ctx, iris_reshape(ctx, q, 4, (int64_t[]){1, n, H, D}), 1, 2);
        iris_tensor *K = iris_transpose(ctx, iris_reshape(ctx, kc, 4, (int64_t[]){1, Lk, Hk, D}), 1, 2);
        iris_tensor *V = iris_transpose(ctx, iris_reshape(ctx, vc, 4, (int64_t[]){1, Lk, Hk, D}), 1, 2);
        iris_attn_params p = {.scale = scale, .causal = 1, .causal_offset = p0};
        iris_tensor *a = iris_attention(ctx, Q, K, V, NULL, p);    /* (1, H, n, D) */
        a = iris_permute(ctx, a, (const int[]){0, 2, 1, 3});        /* (1, n, H, D) */
        return iris_reshape(ctx, a, 2, (int64_t[]){n, H * D});
    }
    /* query heads j*G .. j*G+G-1 share KV head j: (Hk, G, n, D) against (Hk, 1, Lp, D) */
    const int64_t Lp = mask->ne[1];
    iris_tensor *Q = iris_permute(ctx, iris_reshape(ctx, q, 4, (int64_t[]){n, Hk, G, D}), (const int[]){1, 2, 0, 3});
    Q = iris_copy(ctx, Q, c->kv_type);
    iris_tensor *K = iris_reshape(ctx, iris_narrow(ctx, seq->k[l], 0, 0, Lp), 4, (int64_t[]){Lp, Hk, 1, D});
    iris_tensor *V = iris_reshape(ctx, iris_narrow(ctx, seq->v[l], 0, 0, Lp), 4, (int64_t[]){Lp, Hk, 1, D});
    K = iris_transpose(ctx, iris_transpose(ctx, K, 0, 1), 1, 2); /* (Hk, 1, Lp, D) */
    V = iris_transpose(ctx, iris_transpose(ctx, V, 0, 1), 1, 2);
    /* llama.cpp's query rows are a strided view, which its tinyBLAS path takes only after
       converting them to an F16 cache's type */
    iris_dot_order qk = c->kv_type == IRIS_F16 ? ggml_order(n, D, Lp) : IRIS_DOT_GGML_VEC;
    iris_tensor *S = iris_matmul_ordered(ctx, Q, K, 1, qk); /* (Hk, G, n, Lp) */
    iris_tensor *P = iris_softmax(ctx, S, scale, mask);
    if (c->kv_type == IRIS_F16) P = iris_copy(ctx, P, IRIS_F16);
    iris_tensor *O = iris_matmul_ordered(ctx, P, V, 0, ggml_order(n, Lp, D)); /* (Hk, G, n, D) */
    O = iris_permute(ctx, iris_reshape(ctx, O, 3, (int64_t[]){H, n, D}), (const int[]){1, 0, 2}); /* (n, H, D) */
    return iris_reshape(ctx, O, 2, (int64_t[]){n, H * D});
}

iris_status iris_llama_check_ids(const iris_llama *m, const int32_t *tokens, int n) {
    for (int i = 0; tokens && i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab)
            return iris_fail(IRIS_ERR_ARG, "llama: token id %d outside the vocabulary of %d", (int)tokens[i],
                             (int)m->hp.n_vocab);
    return IRIS_OK;
}

iris_status iris_llama_pass(iris_llama_core *c, iris_llama_seq *const *seqs, int n_seq, const int32_t *tokens,
                            const float *embd, int n, float *logits, int all) {
    const iris_llama *m = c->m;
    const iris_llama_hparams *hp = &m->hp;
    iris_ctx *ctx = c->ctx;
    const int64_t E = hp->n_embd, H = hp->n_head, Hk = hp->n_head_kv, D = hp->head_dim;
    /* one: a step, row i the next position of seqs[i]; else n positions of seqs[0]. ni is the rows
       per sequence, those a pass of that sequence alone has, which choose exact mode's summation
       orders */
    const int one = n_seq > 1;
    const int ni = one ? 1 : n;
    for (int i = 0; i < n; i++) c->posv[i] = seqs[one ? i : 0]->pos + (one ? 0 : i);

    iris_ctx_reset(ctx);
    const int64_t n1[1] = {n};
    iris_tensor *pos = iris_ctx_upload(ctx, IRIS_I32, 1, n1, c->posv);
    iris_tensor *x; /* (n, E) residual stream */
    if (tokens) x = iris_get_rows(ctx, m->tok_embd, iris_ctx_upload(ctx, IRIS_I32, 1, n1, tokens));
    else x = iris_ctx_upload(ctx, IRIS_F32, 2, (int64_t[]){n, E}, embd);

    const iris_rope_params rope = {.n_dims = hp->n_rot, .neox = 0, .base = hp->rope_base,
                                   .freq_scale = hp->rope_freq_scale};
    /* exact mode: llama.cpp's n_kv, the keys read padded to a multiple of 32 (kv_cache.c has the
       rows), one mask per sequence */
    iris_tensor **mask = calloc((size_t)n_seq, sizeof *mask);
    if (!mask) return iris_fail(IRIS_ERR_NOMEM, "llama: out of memory for the masks");
    for (int i = 0; c->exact && i < n_seq; i++) {
        int32_t p0 = seqs[i]->pos;
        mask[i] = causal_mask(ctx, ni, p0, (p0 + ni + 31) / 32 * 32);
    }

    for (int l = 0; l < hp->n_layer; l++) {
        const iris_llama_layer *L = &m->layers[l];
        iris_mark mark = iris_ctx_mark(ctx);

        /* attention */
        iris_tensor *h = iris_rms_norm(ctx, x, L->attn_norm, hp->rms_eps);
        iris_tensor *q = linear(ctx, c->exact, h, L->wq, L->bq, IRIS_ACT_NONE, ni);   /* (n, H*D) */
        iris_tensor *k = linear(ctx, c->exact, h, L->wk, L->bk, IRIS_ACT_NONE, ni);   /* (n, Hk*D) */
        iris_tensor *v = linear(ctx, c->exact, h, L->wv, L->bv, IRIS_ACT_NONE, ni);   /* (n, Hk*D) */
        q = iris_rope_ff(ctx, iris_reshape(ctx, q, 3, (int64_t[]){n, H, D}), pos, m->rope_freqs, rope);
        k = iris_rope_ff(ctx, iris_reshape(ctx, k, 3, (int64_t[]){n, Hk, D}), pos, m->rope_freqs, rope);
        v = iris_reshape(ctx, v, 3, (int64_t[]){n, Hk, D});
        if (c->kv_store != c->kv_type) /* F16 values kept in an F32 cache (exact mode) */
            k = iris_copy(ctx, k, c->kv_type), v = iris_copy(ctx, v, c->kv_type);
        iris_tensor *a = one ? iris_ctx_tensor(ctx, IRIS_F32, 2, (int64_t[]){n, H * D}) : NULL; /* (n, H*D) */
        for (int i = 0; i < n_seq; i++) {
            const iris_llama_seq *sq = seqs[i];
            const int r0 = one ? i : 0; /* its first row */
            iris_copy_into(ctx, iris_narrow(ctx, sq->k[l], 0, sq->pos, ni), iris_narrow(ctx, k, 0, r0, ni));
            iris_copy_into(ctx, iris_narrow(ctx, sq->v[l], 0, sq->pos, ni), iris_narrow(ctx, v, 0, r0, ni));
            iris_tensor *ai = attend(c, sq, l, one ? iris_narrow(ctx, q, 0, i, 1) : q, ni, sq->pos, mask[i]);
            if (one) iris_copy_into(ctx, iris_narrow(ctx, a, 0, i, 1), ai);
            else a = ai;
        }
        x = iris_add(ctx, x, linear(ctx, c->exact, a, L->wo, L->bo, IRIS_ACT_NONE, ni));

        /* feed-forward: down(silu(gate(h)) * up(h)) */
        h = iris_rms_norm(ctx, x, L->ffn_norm, hp->rms_eps);
        iris_tensor *g = linear(ctx, c->exact, h, L->w_gate, NULL, IRIS_ACT_SILU, ni); /* (n, F) */
        iris_tensor *u = linear(ctx, c->exact, h, L->w_up, NULL, IRIS_ACT_NONE, ni);   /* (n, F) */
        x = iris_add(ctx, x, linear(ctx, c->exact, iris_mul(ctx, g, u), L->w_down, NULL, IRIS_ACT_NONE, ni));

        x = iris_ctx_keep(ctx, mark, x);
    }
    free(mask);

    /* logits of each sequence's last row, unless every row was asked for */
    if (!all && !one && n > 1) x = iris_narrow(ctx, x, 0, n - 1, 1);
    x = iris_rms_norm(ctx, x, m->out_norm, hp->rms_eps);
    iris_tensor *out = linear(ctx, c->exact, x, m->output, NULL, IRIS_ACT_NONE, all ? ni : 1); /* (rows, V) */

    iris_status st = iris_ctx_status(ctx);
    if (!st && logits) st = iris_tensor_read(out, logits, iris_nbytes(out));
    if (st) return st;
    for (int i = 0; i < n_seq; i++) seqs[i]->pos += ni;
    return IRIS_OK;
}

/* In exact mode with quantized weights a batch runs as passes of at most EXACT_PASS rows:
   iris_linear quantizes the activations (as llama.cpp always does) only up to 32 rows (past
   that its f32 GEMM is faster), and rows are independent, so the split changes nothing but
   the arithmetic of those products. The quantized path's speed is flat in the row count,
   so 32-row passes run a prompt as fast as one pass would. */
#define EXACT_PASS 32
int iris_llama_pass_rows(const iris_llama_core *c) { return c->exact && c->quantized ? EXACT_PASS : 1 << 30; }

iris_status iris_llama_run(iris_llama_core *c, iris_llama_seq *q, const int32_t *tokens, const float *embd, int n,
                           float *logits, int all) {
    if (!tokens && !embd) return iris_fail(IRIS_ERR_ARG, "llama: no tokens");
    if (n <= 0) return iris_fail(IRIS_ERR_ARG, "llama: empty batch");
    if (n > c->n_ctx - q->pos)
        return iris_fail(IRIS_ERR_ARG, "llama: %d more positions do not fit the %d-position context (%d used)", n,
                         (int)c->n_ctx, (int)q->pos);
    iris_status st = iris_llama_check_ids(c->m, tokens, n);
    if (st) return st;
    int step = iris_llama_pass_rows(c);
    if (step > c->n_stage) step = c->n_stage;
    const int64_t V = c->m->hp.n_vocab, E = c->m->hp.n_embd;
    for (int i = 0; i < n; i += step) {
        int k = n - i < step ? n - i : step;
        float *out = !logits ? NULL : all ? logits + (size_t)i * V : i + k == n ? logits : NULL;
        if ((st = iris_llama_pass(c, &q, 1, tokens ? tokens + i : NULL, tokens ? NULL : embd + (size_t)i * E, k, out, all)))
            return st;
    }
    return IRIS_OK;
}

iris_status iris_llama_eval(iris_llama_state *s, const int32_t *tokens, int n, float *logits) {
    return iris_llama_run(&s->c, &s->seq, tokens, NULL, n, logits, 0);
}

iris_status iris_llama_eval_embd(iris_llama_state *s, const float *embd, int n, float *logits) {
    return iris_llama_run(&s->c, &s->seq, NULL, embd, n, logits, 0);
}

iris_status iris_llama_eval_all(iris_llama_state *s, const int32_t *tokens, int n, float *logits) {
    return iris_llama_run(&s->c, &s->seq, tokens, NULL, n, logits, 1);
}
