/* kv_cache.c - the inference state: per-layer key/value caches and the context.

   Layout per layer: k, v (n_ctx, n_head_kv, head_dim), F16 by default as in
   llama.cpp. Position p of the sequence is row p, so appending a batch writes
   one contiguous block of rows and attention reads a strided view of rows
   [0, pos + n). Exact mode stores the F16-rounded values as F32: the same numbers,
   which its matmuls then read in place instead of converting the whole cache
   every step (twice the memory), and has rows up to a multiple of 32 positions, zeroed: its
   attention reads them as llama.cpp reads its padded cache (forward.c). */
#include <stdlib.h>

#include "model_impl.h"

iris_llama_state_params iris_llama_state_default_params(void) {
    iris_llama_state_params p;
    p.ctx = iris_ctx_default_params();
    p.kv_f32 = 0;
    p.exact = 1;
    return p;
}

void iris_llama_state_free(iris_llama_state *s) {
    if (!s) return;
    for (int l = 0; s->k && l < s->m->hp.n_layer; l++) {
        iris_tensor_free(s->k[l]);
        iris_tensor_free(s->v[l]);
    }
    free(s->k), free(s->v), free(s->ids), free(s->posv);
    iris_ctx_free(s->ctx);
    free(s);
}

iris_status iris_llama_state_new(iris_llama_state **out, const iris_llama *m, int32_t n_ctx,
                                 const iris_llama_state_params *params) {
    *out = NULL;
    iris_llama_state_params p = params ? *params : iris_llama_state_default_params();
    if (n_ctx <= 0) n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    if (n_ctx > (1 << 20)) return iris_fail(IRIS_ERR_ARG, "llama: context of %d positions", (int)n_ctx);
    iris_llama_state *s = calloc(1, sizeof *s);
    if (!s) return iris_fail(IRIS_ERR_NOMEM, "llama: out of memory");
    s->m = m;
    s->n_ctx = n_ctx;
    s->kv_type = p.kv_f32 ? IRIS_F32 : IRIS_F16;
    s->exact = p.exact;
    s->kv_store = p.exact ? IRIS_F32 : s->kv_type;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const iris_llama_layer *L = &m->layers[l];
        const iris_tensor *w[] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
        for (int i = 0; i < 7; i++) s->quantized |= iris_dtype_get(w[i]->dtype)->is_quantized;
    }
    s->quantized |= iris_dtype_get(m->output->dtype)->is_quantized;
    p.ctx.device = m->device;
    iris_status st = iris_ctx_create(&s->ctx, &p.ctx);
    if (st) { free(s); return st; }
    int L = m->hp.n_layer;
    s->k = calloc((size_t)L, sizeof *s->k);
    s->v = calloc((size_t)L, sizeof *s->v);
    s->ids = malloc((size_t)n_ctx * sizeof *s->ids);
    s->posv = malloc((size_t)n_ctx * sizeof *s->posv);
    if (!s->k || !s->v || !s->ids || !s->posv) {
        iris_llama_state_free(s);
        return iris_fail(IRIS_ERR_NOMEM, "llama: out of memory");
    }
    int64_t shape[3] = {p.exact ? (n_ctx + 31) / 32 * 32 : n_ctx, m->hp.n_head_kv, m->hp.head_dim};
    size_t bytes = (size_t)(shape[0] * shape[1] * shape[2]) * iris_dtype_get(s->kv_store)->type_size;
    void *zeros = p.exact ? calloc(1, bytes) : NULL;
    if (p.exact && !zeros) st = iris_fail(IRIS_ERR_NOMEM, "llama: out of memory");
    for (int l = 0; !st && l < L; l++) {
        if ((st = iris_tensor_new(&s->k[l], m->device, s->kv_store, 3, shape)) ||
            (st = iris_tensor_new(&s->v[l], m->device, s->kv_store, 3, shape)))
            break;
        if (zeros && ((st = iris_tensor_write(s->k[l], zeros, bytes)) || (st = iris_tensor_write(s->v[l], zeros, bytes))))
            break;
    }
    free(zeros);
    if (st) {
        iris_llama_state_free(s);
        return st;
    }
    *out = s;
    return IRIS_OK;
}

int32_t iris_llama_n_ctx(const iris_llama_state *s) { return s->n_ctx; }
int32_t iris_llama_pos(const iris_llama_state *s) { return s->pos; }
iris_ctx *iris_llama_ctx(iris_llama_state *s) { return s->ctx; }

iris_status iris_llama_set_pos(iris_llama_state *s, int32_t pos) {
    if (pos < 0 || pos > s->pos)
        return iris_fail(IRIS_ERR_ARG, "llama: cannot move to position %d (the cache holds %d)", (int)pos, (int)s->pos);
    s->pos = pos; /* rows past pos are simply overwritten later */
    return IRIS_OK;
}
