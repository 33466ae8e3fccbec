/* model_load.c - hyperparameters and weights of a Llama-architecture GGUF file.
   Every size comes from the (hostile) file, so each is range-checked and every
   tensor's shape is checked against the hyperparameters before use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

iris_llama_params iris_llama_default_params(void) {
    iris_llama_params p = {IRIS_CPU};
    return p;
}

void iris_llama_free(iris_llama *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) iris_tensor_free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    iris_vocab_free(m->vocab);
    iris_gguf_close(&m->gguf);
    free(m);
}

/* {arch}.key as u32 within [lo, hi]; absent -> def (or an error when def < 0) */
static iris_status get_int(const iris_llama *m, const char *key, int64_t lo, int64_t hi, int64_t def, int32_t *out) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", m->arch, key);
    int64_t v;
    iris_status st = iris_gguf_get_i64(&m->gguf, k, &v);
    if (st == IRIS_ERR_NOT_FOUND) {
        if (def < 0) return iris_fail(IRIS_ERR_FORMAT, "%s: hyperparameter %s missing", m->gguf.map.path, k);
        v = def;
    } else if (st) {
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s is not an integer", m->gguf.map.path, k);
    }
    if (v < lo || v > hi)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s = %lld is outside [%lld, %lld]", m->gguf.map.path, k, (long long)v,
                         (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return IRIS_OK;
}

static float get_float(const iris_llama *m, const char *key, float def) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", m->arch, key);
    float v;
    return iris_gguf_get_f32(&m->gguf, k, &v) == IRIS_OK ? v : def;
}

static iris_status keep(iris_llama *m, iris_tensor *t) {
    if (m->device != IRIS_CPU) { /* weights go to the accelerator once; the mapped copy is dropped */
        iris_tensor *d;
        iris_status st = iris_tensor_to_device(&d, t, m->device);
        char name[64];
        memcpy(name, t->name, sizeof name);
        iris_tensor_free(t);
        if (st) return st;
        memcpy(d->name, name, sizeof name);
        t = d;
    }
    m->owned[m->n_owned++] = t;
    return IRIS_OK;
}

/* Tensor `name` with iris-order shape (ndim, shape); NULL without error when optional and absent. */
static iris_status load_tensor(iris_llama *m, const char *name, int ndim, const int64_t *shape, int optional,
                               iris_tensor **out) {
    *out = NULL;
    if (!iris_gguf_find_tensor(&m->gguf, name)) {
        if (optional) return IRIS_OK;
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor %s missing", m->gguf.map.path, name);
    }
    iris_tensor *t;
    iris_status st = iris_gguf_tensor_shaped(&m->gguf, name, ndim, shape, &t);
    if (st) return st;
    if (iris_dtype_get(t->dtype)->is_quantized == 0 && t->dtype != IRIS_F32 && t->dtype != IRIS_F16 &&
        t->dtype != IRIS_BF16) {
        iris_tensor_free(t);
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor %s has type %s", m->gguf.map.path, name,
                         iris_dtype_name(t->dtype));
    }
    if (ndim == 1 && t->dtype != IRIS_F32) { /* norms and biases are F32 in every converter */
        iris_fail(IRIS_ERR_UNSUPPORTED, "%s: tensor %s is %s, expected f32", m->gguf.map.path, name,
                  iris_dtype_name(t->dtype));
        iris_tensor_free(t);
        return IRIS_ERR_UNSUPPORTED;
    }
    if ((st = keep(m, t))) return st;
    *out = m->owned[m->n_owned - 1];
    return IRIS_OK;
}

/* Llama 3.1 / 3.2 RoPE: llama.cpp's converter stores one divisor per rotated pair (1 for the fast
   pairs, the scaling factor for the slow ones, a blend between) in rope_freqs.weight, and writes
   no scaling metadata for it. Each must be a positive finite number. */
static iris_status load_rope_freqs(iris_llama *m) {
    int32_t half = m->hp.n_rot / 2;
    iris_status st = load_tensor(m, "rope_freqs.weight", 1, (int64_t[]){half}, 1, &m->rope_freqs);
    if (st || !m->rope_freqs) return st;
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", m->gguf.map.path);
    if (!(st = iris_tensor_read(m->rope_freqs, f, (size_t)half * sizeof *f)))
        for (int32_t i = 0; i < half; i++)
            if (!(f[i] > 0 && f[i] < 1e30f)) {
                st = iris_fail(IRIS_ERR_FORMAT, "%s: rope_freqs.weight[%d] = %g is no positive finite factor",
                               m->gguf.map.path, (int)i, (double)f[i]);
                break;
            }
    free(f);
    return st;
}

static iris_status load_hparams(iris_llama *m) {
    iris_llama_hparams *hp = &m->hp;
    const char *path = m->gguf.map.path;
    iris_status st;
    if ((st = get_int(m, "embedding_length", 1, 1 << 16, -1, &hp->n_embd)) ||
        (st = get_int(m, "block_count", 1, 1024, -1, &hp->n_layer)) ||
        (st = get_int(m, "attention.head_count", 1, 1024, -1, &hp->n_head)) ||
        (st = get_int(m, "attention.head_count_kv", 1, hp->n_head, hp->n_head, &hp->n_head_kv)) ||
        (st = get_int(m, "feed_forward_length", 1, 1 << 20, -1, &hp->n_ff)) ||
        (st = get_int(m, "context_length", 1, 1 << 24, 2048, &hp->n_ctx_train)))
        return st;
    if (hp->n_head % hp->n_head_kv)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %d heads do not split into %d KV groups", path, hp->n_head,
                         hp->n_head_kv);
    int32_t def_hd = hp->n_embd / hp->n_head;
    if ((st = get_int(m, "attention.key_length", 1, 4096, def_hd, &hp->head_dim))) return st;
    int32_t vdim;
    if ((st = get_int(m, "attention.value_length", 1, 4096, hp->head_dim, &vdim))) return st;
    if (vdim != hp->head_dim)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: key length %d != value length %d", path, hp->head_dim, vdim);
    if (hp->head_dim < 2 || hp->head_dim % 2)
        return iris_fail(IRIS_ERR_FORMAT, "%s: head size %d (embedding %d, %d heads)", path, hp->head_dim, hp->n_embd,
                         hp->n_head);
    if ((st = get_int(m, "rope.dimension_count", 2, hp->head_dim, hp->head_dim, &hp->n_rot))) return st;
    if (hp->n_rot % 2) return iris_fail(IRIS_ERR_FORMAT, "%s: odd rope.dimension_count %d", path, hp->n_rot);
    hp->rms_eps = get_float(m, "attention.layer_norm_rms_epsilon", 1e-5f);
    hp->rope_base = get_float(m, "rope.freq_base", 10000.0f);
    if (!(hp->rms_eps >= 0 && hp->rms_eps < 1) || !(hp->rope_base > 0 && hp->rope_base < 1e12f))
        return iris_fail(IRIS_ERR_FORMAT, "%s: rms epsilon %g / rope base %g out of range", path, (double)hp->rms_eps,
                         (double)hp->rope_base);
    /* RoPE scaling: linear is positions / factor; others change the frequencies */
    float factor = get_float(m, "rope.scale_linear", 0.0f);
    char key[160];
    const char *type = NULL;
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch);
    iris_gguf_get_str(&m->gguf, key, &type);
    if (type && strcmp(type, "none") && strcmp(type, "linear"))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: RoPE scaling '%s' is not supported (none, linear)", path, type);
    if (!type || !strcmp(type, "linear")) {
        float f = get_float(m, "rope.scaling.factor", 0.0f);
        if (f > 0) factor = f;
    }
    if (factor != 0 && !(factor >= 1e-3f && factor <= 1e3f))
        return iris_fail(IRIS_ERR_FORMAT, "%s: RoPE scaling factor %g", path, (double)factor);
    hp->rope_freq_scale = factor > 0 ? 1.0f / factor : 1.0f;
    if ((int64_t)hp->n_head * hp->head_dim > (1 << 20))
        return iris_fail(IRIS_ERR_FORMAT, "%s: %d heads of %d", path, hp->n_head, hp->head_dim);
    return IRIS_OK;
}

iris_status iris_llama_load(iris_llama **out, const char *path, const iris_llama_params *params) {
    *out = NULL;
    iris_llama *m = calloc(1, sizeof *m);
    if (!m) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    m->device = params ? params->device : IRIS_CPU;
    iris_status st = iris_gguf_open(&m->gguf, path);
    if (st) { free(m); return st; }
    const char *arch;
    if (iris_gguf_get_str(&m->gguf, "general.architecture", &arch)) {
        st = iris_fail(IRIS_ERR_FORMAT, "%s: general.architecture missing", path);
        goto fail;
    }
    if (strcmp(arch, "llama") && strcmp(arch, "mistral")) {
        st = iris_fail(IRIS_ERR_UNSUPPORTED, "%s: architecture '%s' is not a Llama (llama, mistral)", path, arch);
        goto fail;
    }
    snprintf(m->arch, sizeof m->arch, "%s", arch);
    const char *name;
    if (iris_gguf_get_str(&m->gguf, "general.name", &name) == IRIS_OK) snprintf(m->name, sizeof m->name, "%s", name);
    if ((st = load_hparams(m))) goto fail;
    if ((st = iris_vocab_from_gguf(&m->vocab, &m->gguf))) goto fail;

    iris_llama_hparams *hp = &m->hp;
    const iris_gguf_tensor_info *te = iris_gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!te || te->n_dims != 2) {
        st = iris_fail(IRIS_ERR_FORMAT, "%s: token_embd.weight missing or not 2-D", path);
        goto fail;
    }
    hp->n_vocab = (int32_t)te->ne[1];
    if (hp->n_vocab != iris_vocab_size(m->vocab)) {
        st = iris_fail(IRIS_ERR_FORMAT, "%s: %d embedding rows for %d tokens", path, hp->n_vocab,
                       iris_vocab_size(m->vocab));
        goto fail;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    m->owned = calloc((size_t)hp->n_layer * 13 + 4, sizeof *m->owned);
    if (!m->layers || !m->owned) {
        st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    int64_t E = hp->n_embd, V = hp->n_vocab, F = hp->n_ff, Q = (int64_t)hp->n_head * hp->head_dim,
            KV = (int64_t)hp->n_head_kv * hp->head_dim;
    if ((st = load_tensor(m, "token_embd.weight", 2, (int64_t[]){V, E}, 0, &m->tok_embd)) ||
        (st = load_tensor(m, "output_norm.weight", 1, (int64_t[]){E}, 0, &m->out_norm)) ||
        (st = load_tensor(m, "output.weight", 2, (int64_t[]){V, E}, 1, &m->output)))
        goto fail;
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */
    if ((st = load_rope_freqs(m))) goto fail;
    for (int l = 0; l < hp->n_layer; l++) {
        iris_llama_layer *L = &m->layers[l];
        char n[96];
#define T(field, suffix, opt, ...)                                                                     \
        snprintf(n, sizeof n, "blk.%d.%s", l, suffix);                                                 \
        if ((st = load_tensor(m, n, sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__}, \
                              opt, &L->field)))                                                        \
            goto fail;
        T(attn_norm, "attn_norm.weight", 0, E)
        T(wq, "attn_q.weight", 0, Q, E)
        T(wk, "attn_k.weight", 0, KV, E)
        T(wv, "attn_v.weight", 0, KV, E)
        T(wo, "attn_output.weight", 0, E, Q)
        T(bq, "attn_q.bias", 1, Q)
        T(bk, "attn_k.bias", 1, KV)
        T(bv, "attn_v.bias", 1, KV)
        T(bo, "attn_output.bias", 1, E)
        T(ffn_norm, "ffn_norm.weight", 0, E)
        T(w_gate, "ffn_gate.weight", 0, F, E)
        T(w_up, "ffn_up.weight", 0, F, E)
        T(w_down, "ffn_down.weight", 0, E, F)
#undef T
    }
    *out = m;
    return IRIS_OK;
fail:
    iris_llama_free(m);
    return st;
}
