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

/* Where one weight layout keeps the embeddings, the final norm and the tower. */
typedef struct {
    const char *tok, *pos, *ln, *tower, *layer_fmt, *fc1;
    iris_status (*load_tower)(iris_clip_tower *t, iris_weights *w, const char *prefix);
} text_layout;

static const text_layout layout_hf = {"embeddings.token_embedding.weight", "embeddings.position_embedding.weight",
                                      "final_layer_norm", "encoder.", "%slayers.%d.%s", "mlp.fc1.weight",
                                      iris_clip_tower_load_hf};
static const text_layout layout_openclip = {"token_embedding.weight", "positional_embedding", "ln_final", "transformer.",
                                            "%sresblocks.%d.%s", "mlp.c_fc.weight", iris_clip_tower_load_openclip};

static iris_status load_layout(iris_clip_text *m, iris_weights *w, const char *prefix, const text_layout *l, iris_act act,
                               int n_heads) {
    memset(m, 0, sizeof *m);
    char tok[256], pos[256], lnw[256], lnb[256], tr[256];
    snprintf(tok, sizeof tok, "%s%s", prefix, l->tok);
    snprintf(pos, sizeof pos, "%s%s", prefix, l->pos);
    snprintf(lnw, sizeof lnw, "%s%s.weight", prefix, l->ln);
    snprintf(lnb, sizeof lnb, "%s%s.bias", prefix, l->ln);
    snprintf(tr, sizeof tr, "%s%s", prefix, l->tower);
    iris_status st = read_shape(m, w, tok, pos, l->layer_fmt, tr, l->fc1);
    if (st) return st;
    m->tower.act = act;
    m->tower.n_heads = n_heads ? n_heads : default_heads(m->tower.dim);
    st = load_common(m, w, tok, pos, lnw, lnb);
    if (!st) st = l->load_tower(&m->tower, w, tr);
    return st;
}

iris_status iris_clip_text_load_hf(iris_clip_text *m, iris_weights *w, const char *prefix, iris_act act, int n_heads) {
    return load_layout(m, w, prefix, &layout_hf, act, n_heads);
}

iris_status iris_clip_text_load_openclip(iris_clip_text *m, iris_weights *w, const char *prefix, int n_heads) {
    return load_layout(m, w, prefix, &layout_openclip, IRIS_ACT_GELU, n_heads);
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
