/* text_encoder.c - CLIP text encoder: embeddings, causal tower, final layer norm. */
#include "text_encoder.h"

#include <stdio.h>
#include <string.h>

/* Shapes come from the embedding tables; the layer count from the highest numbered layer. */
static iris_status read_shape(iris_clip_text *m, iris_weights *w, const char *tok, const char *pos,
                              const char *layer_fmt, const char *prefix, const char *fc1) {
    const iris_st_entry *te = iris_weights_find(w, tok), *pe = iris_weights_find(w, pos);
    if (!te || te->ndim != 2) return iris_fail(IRIS_ERR_FORMAT, "%s: no text token embedding '%s'", iris_weights_path(w), tok);
    if (!pe || pe->ndim != 2 || pe->shape[1] != te->shape[1])
        return iris_fail(IRIS_ERR_FORMAT, "%s: no text position embedding '%s' of width %lld", iris_weights_path(w), pos,
                         (long long)te->shape[1]);
    m->vocab = (int)te->shape[0];
    m->n_ctx = (int)pe->shape[0];
    m->tower.dim = (int)te->shape[1];
    char name[256];
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, layer_fmt, prefix, n, fc1);
        if (!iris_weights_has(w, name)) break;
        if (n > 1000) break;
    }
    if (n == 0) return iris_fail(IRIS_ERR_FORMAT, "%s: text encoder has no layers ('%s' missing)", iris_weights_path(w), name);
    snprintf(name, sizeof name, layer_fmt, prefix, 0, fc1);
    const iris_st_entry *fe = iris_weights_find(w, name);
    if (!fe || fe->ndim != 2) return iris_fail(IRIS_ERR_FORMAT, "%s: bad text MLP '%s'", iris_weights_path(w), name);
    m->tower.n_layers = n;
    m->tower.ffn = (int)fe->shape[0];
    if (m->vocab < 1 || m->n_ctx < 1) return iris_fail(IRIS_ERR_FORMAT, "%s: empty text embedding", iris_weights_path(w));
    return IRIS_OK;
}

static int default_heads(int dim) { return dim >= 64 ? dim / 64 : 1; } /* CLIP's heads are 64 wide */

static iris_status load_common(iris_clip_text *m, iris_weights *w, const char *tok, const char *pos, const char *lnw,
                               const char *lnb) {
    int64_t D = m->tower.dim;
    iris_status st = iris_weights_get(w, tok, 2, (int64_t[]){m->vocab, D}, &m->tok_emb);
    if (!st) st = iris_weights_get(w, pos, 2, (int64_t[]){m->n_ctx, D}, &m->pos_emb);
    if (!st) st = iris_weights_get(w, lnw, 1, &D, &m->final_ln_w);
    if (!st) st = iris_weights_get(w, lnb, 1, &D, &m->final_ln_b);
    return st;
}

iris_status iris_clip_text_load_hf(iris_clip_text *m, iris_weights *w, const char *prefix, iris_act act, int n_heads) {
    memset(m, 0, sizeof *m);
    char tok[256], pos[256], lnw[256], lnb[256], enc[256];
    snprintf(tok, sizeof tok, "%sembeddings.token_embedding.weight", prefix);
    snprintf(pos, sizeof pos, "%sembeddings.position_embedding.weight", prefix);
    snprintf(lnw, sizeof lnw, "%sfinal_layer_norm.weight", prefix);
    snprintf(lnb, sizeof lnb, "%sfinal_layer_norm.bias", prefix);
    snprintf(enc, sizeof enc, "%sencoder.", prefix);
    iris_status st = read_shape(m, w, tok, pos, "%slayers.%d.%s", enc, "mlp.fc1.weight");
    if (st) return st;
    m->tower.act = act;
    m->tower.n_heads = n_heads ? n_heads : default_heads(m->tower.dim);
    st = load_common(m, w, tok, pos, lnw, lnb);
    if (!st) st = iris_clip_tower_load_hf(&m->tower, w, enc);
    return st;
}

iris_status iris_clip_text_load_openclip(iris_clip_text *m, iris_weights *w, const char *prefix, int n_heads) {
    memset(m, 0, sizeof *m);
    char tok[256], pos[256], lnw[256], lnb[256], tr[256];
    snprintf(tok, sizeof tok, "%stoken_embedding.weight", prefix);
    snprintf(pos, sizeof pos, "%spositional_embedding", prefix);
    snprintf(lnw, sizeof lnw, "%sln_final.weight", prefix);
    snprintf(lnb, sizeof lnb, "%sln_final.bias", prefix);
    snprintf(tr, sizeof tr, "%stransformer.", prefix);
    iris_status st = read_shape(m, w, tok, pos, "%sresblocks.%d.%s", tr, "mlp.c_fc.weight");
    if (st) return st;
    m->tower.act = IRIS_ACT_GELU;
    m->tower.n_heads = n_heads ? n_heads : default_heads(m->tower.dim);
    st = load_common(m, w, tok, pos, lnw, lnb);
    if (!st) st = iris_clip_tower_load_openclip(&m->tower, w, tr);
    return st;
}

void iris_clip_text_free(iris_clip_text *m) {
    if (m) iris_clip_tower_free(&m->tower);
}

iris_tensor *iris_clip_text_forward(iris_ctx *ctx, const iris_clip_text *m, const iris_tensor *ids, int n_layers) {
    if (!ids) return NULL;
    if (ids->dtype != IRIS_I32 || ids->ndim != 2 || ids->ne[1] != m->n_ctx)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "clip text: ids must be i32 [B, %d]", m->n_ctx);
    int64_t B = ids->ne[0], L = ids->ne[1], D = m->tower.dim;
    iris_tensor *flat = iris_reshape(ctx, ids, 1, (int64_t[]){B * L});
    iris_tensor *x = iris_reshape(ctx, iris_get_rows(ctx, m->tok_emb, flat), 3, (int64_t[]){B, L, D});
    x = iris_add(ctx, x, m->pos_emb);
    x = iris_clip_tower_forward(ctx, &m->tower, x, n_layers, 1);
    return iris_layer_norm(ctx, x, m->final_ln_w, m->final_ln_b, m->tower.eps);
}
