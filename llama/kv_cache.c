/* kv_cache.c - the inference state: per-layer key/value caches and the context.

   Layout per layer: k, v (n_ctx, n_head_kv, head_dim), F16 by default as in
   llama.cpp. Position p of the sequence is row p, so appending a batch writes
   one contiguous block of rows and attention reads a strided view of rows
   [0, pos + n). Exact mode stores the F16-rounded values as F32: the same numbers,
   which its matmuls then read in place instead of converting the whole cache
   every step (twice the memory), and has rows up to a multiple of 32 positions, zeroed: its
   attention reads them as llama.cpp reads its padded cache (forward.c). The core and the
   caches are separate pieces because a batch (batch.c) has one core and many caches. */
#include <stdlib.h>

#include "model_impl.h"

iris_llama_state_params iris_llama_state_default_params(void) {
    iris_llama_state_params p;
    p.ctx = iris_ctx_default_params();
    p.kv_f32 = 0;
    p.exact = 1;
    return p;
}

void iris_llama_core_free(iris_llama_core *c) {
    free(c->posv);
    iris_ctx_free(c->ctx);
    c->posv = NULL, c->ctx = NULL;
}

iris_status iris_llama_core_init(iris_llama_core *c, const iris_llama *m, int32_t n_ctx, int32_t n_stage,
                                 const iris_llama_state_params *params) {
    iris_llama_state_params p = params ? *params : iris_llama_state_default_params();
    *c = (iris_llama_core){0};
    if (n_ctx <= 0) n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    if (n_ctx > (1 << 20)) return iris_fail(IRIS_ERR_ARG, "llama: context of %d positions", (int)n_ctx);
    c->m = m;
    c->n_ctx = n_ctx;
    c->kv_type = p.kv_f32 ? IRIS_F32 : IRIS_F16;
    c->exact = p.exact;
    c->kv_store = p.exact ? IRIS_F32 : c->kv_type;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const iris_llama_layer *L = &m->layers[l];
        const iris_tensor *w[] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
        for (int i = 0; i < 7; i++) c->quantized |= iris_dtype_get(w[i]->dtype)->is_quantized;
    }
    c->quantized |= iris_dtype_get(m->output->dtype)->is_quantized;
    c->n_stage = n_stage > 0 ? n_stage : n_ctx;
    c->posv = malloc((size_t)c->n_stage * sizeof *c->posv);
    if (!c->posv) return iris_fail(IRIS_ERR_NOMEM, "llama: out of memory");
    p.ctx.device = m->device;
    iris_status st = iris_ctx_create(&c->ctx, &p.ctx);
    if (st) iris_llama_core_free(c);
    return st;
}

void iris_llama_seq_free(iris_llama_seq *q, const iris_llama_core *c) {
    for (int l = 0; q->k && l < c->m->hp.n_layer; l++) {
        iris_tensor_free(q->k[l]);
        iris_tensor_free(q->v[l]);
    }
    free(q->k), free(q->v);
    q->k = q->v = NULL;
}

iris_status iris_llama_seq_init(iris_llama_seq *q, const iris_llama_core *c) {
    const iris_llama *m = c->m;
    int L = m->hp.n_layer;
    *q = (iris_llama_seq){0};
    q->k = calloc((size_t)L, sizeof *q->k);
    q->v = calloc((size_t)L, sizeof *q->v);
    if (!q->k || !q->v) {
        iris_llama_seq_free(q, c);
        return iris_fail(IRIS_ERR_NOMEM, "llama: out of memory");
    }
    int64_t shape[3] = {c->exact ? (c->n_ctx + 31) / 32 * 32 : c->n_ctx, m->hp.n_head_kv, m->hp.head_dim};
    size_t bytes = (size_t)(shape[0] * shape[1] * shape[2]) * iris_dtype_get(c->kv_store)->type_size;
    void *zeros = c->exact ? calloc(1, bytes) : NULL;
    iris_status st = c->exact && !zeros ? iris_fail(IRIS_ERR_NOMEM, "llama: out of memory") : IRIS_OK;
    for (int l = 0; !st && l < L; l++) {
        if ((st = iris_tensor_new(&q->k[l], m->device, c->kv_store, 3, shape)) ||
            (st = iris_tensor_new(&q->v[l], m->device, c->kv_store, 3, shape)))
            break;
        if (zeros && ((st = iris_tensor_write(q->k[l], zeros, bytes)) || (st = iris_tensor_write(q->v[l], zeros, bytes))))
            break;
    }
    free(zeros);
    if (st) iris_llama_seq_free(q, c);
    return st;
}

void iris_llama_state_free(iris_llama_state *s) {
    if (!s) return;
    iris_llama_seq_free(&s->seq, &s->c);
    iris_llama_core_free(&s->c);
    free(s);
}

iris_status iris_llama_state_new(iris_llama_state **out, const iris_llama *m, int32_t n_ctx,
                                 const iris_llama_state_params *params) {
    *out = NULL;
    iris_llama_state *s = calloc(1, sizeof *s);
    if (!s) return iris_fail(IRIS_ERR_NOMEM, "llama: out of memory");
    iris_status st = iris_llama_core_init(&s->c, m, n_ctx, 0, params);
    if (st) { free(s); return st; }
    if ((st = iris_llama_seq_init(&s->seq, &s->c))) {
        iris_llama_state_free(s);
        return st;
    }
    *out = s;
    return IRIS_OK;
}

int32_t iris_llama_n_ctx(const iris_llama_state *s) { return s->c.n_ctx; }
int32_t iris_llama_pos(const iris_llama_state *s) { return s->seq.pos; }
iris_ctx *iris_llama_ctx(iris_llama_state *s) { return s->c.ctx; }

iris_status iris_llama_set_pos(iris_llama_state *s, int32_t pos) {
    if (pos < 0 || pos > s->seq.pos)
        return iris_fail(IRIS_ERR_ARG, "llama: cannot move to position %d (the cache holds %d)", (int)pos, (int)s->seq.pos);
    s->seq.pos = pos; /* rows past pos are simply overwritten later */
    return IRIS_OK;
}
