/* transformer.c - the CLIP transformer block and the weight layouts it is loaded from (Hugging Face,
   OpenCLIP, llama.cpp's mmproj GGUF, MiniGPT-v2's EVA ViT in the same GGUF naming), one table each. */
#include "transformer.h"

#include <stdio.h>
#include <stdlib.h>

iris_tensor *iris_clip_tower_forward(iris_ctx *ctx, const iris_clip_tower *t, const iris_tensor *x, int n_run,
                                     int causal) {
    iris_tensor *h = (iris_tensor *)x;
    for (int i = 0; i < n_run && i < t->n_layers; i++) {
        const iris_clip_layer *l = &t->layers[i];
        iris_mark m = iris_ctx_mark(ctx);
        iris_tensor *a = iris_mha(ctx, &l->attn, iris_layer_norm(ctx, h, l->ln1_w, l->ln1_b, t->eps), NULL, t->n_heads, causal);
        h = iris_add(ctx, h, a);
        iris_tensor *f = iris_linear_act(ctx, iris_layer_norm(ctx, h, l->ln2_w, l->ln2_b, t->eps), l->fc1_w, l->fc1_b,
                                         t->act, 0);
        h = iris_add(ctx, h, iris_linear(ctx, f, l->fc2_w, l->fc2_b));
        if (h) h = iris_ctx_keep(ctx, m, h);
    }
    return h;
}

const iris_clip_layout iris_clip_layout_hf = {
    "%slayers.%d.%s", "layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight", "layer_norm2.bias",
    "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
    "self_attn.v_proj.weight", "self_attn.v_proj.bias", NULL, NULL,
    "self_attn.out_proj.weight", "self_attn.out_proj.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
    "mlp.fc2.bias"};
const iris_clip_layout iris_clip_layout_openclip = {
    "%sresblocks.%d.%s", "ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias",
    NULL, NULL, NULL, NULL, NULL, NULL, "attn.in_proj_weight", "attn.in_proj_bias",
    "attn.out_proj.weight", "attn.out_proj.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
    "mlp.c_proj.bias"};
const iris_clip_layout iris_clip_layout_gguf = {
    "%sblk.%d.%s", "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias",
    "attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias", "attn_v.weight", "attn_v.bias", NULL, NULL,
    "attn_out.weight", "attn_out.bias", "ffn_up.weight", "ffn_up.bias", "ffn_down.weight", "ffn_down.bias"};
const iris_clip_layout iris_clip_layout_gguf_swapped = {
    "%sblk.%d.%s", "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias",
    "attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias", "attn_v.weight", "attn_v.bias", NULL, NULL,
    "attn_out.weight", "attn_out.bias", "ffn_down.weight", "ffn_down.bias", "ffn_up.weight", "ffn_up.bias"};
/* EVA's attention adds a q and a v bias and none to k (eva_vit.py: cat(q_bias, zeros, v_bias)) */
const iris_clip_layout iris_clip_layout_gguf_eva = {
    "%sblk.%d.%s", "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias",
    "attn_q.weight", "attn_q.bias", "attn_k.weight", NULL, "attn_v.weight", "attn_v.bias", NULL, NULL,
    "attn_out.weight", "attn_out.bias", "ffn_up.weight", "ffn_up.bias", "ffn_down.weight", "ffn_down.bias"};

static iris_status alloc_layers(iris_clip_tower *t, const char *path) {
    if (t->dim < 1 || t->n_layers < 1 || t->n_heads < 1 || t->dim % t->n_heads || t->ffn < 1)
        return iris_fail(IRIS_ERR_FORMAT, "%s: bad transformer shape (width %d, %d layers, %d heads, mlp %d)", path,
                         t->dim, t->n_layers, t->n_heads, t->ffn);
    t->layers = calloc((size_t)t->n_layers, sizeof *t->layers);
    if (!t->layers) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    if (t->eps == 0) t->eps = 1e-5f;
    return IRIS_OK;
}

iris_status iris_clip_tower_load(iris_clip_tower *t, const iris_clip_layout *lay, const iris_clip_source *src,
                                 const char *prefix) {
    iris_status st = alloc_layers(t, src->path);
    const int64_t D = t->dim, F = t->ffn;
    for (int i = 0; i < t->n_layers && !st; i++) {
        iris_clip_layer *l = &t->layers[i];
        iris_tensor *qkv_w = NULL, *qkv_b = NULL;
        int fused = lay->q_w == NULL;
        struct { iris_tensor **dst; int64_t r, c; const char *part; } parts[] = {
            {&l->ln1_w, D, 0, lay->ln1_w}, {&l->ln1_b, D, 0, lay->ln1_b},
            {&l->attn.q_w, D, D, lay->q_w}, {&l->attn.q_b, D, 0, lay->q_b},
            {&l->attn.k_w, D, D, lay->k_w}, {&l->attn.k_b, D, 0, lay->k_b},
            {&l->attn.v_w, D, D, lay->v_w}, {&l->attn.v_b, D, 0, lay->v_b},
            {&qkv_w, 3 * D, D, lay->qkv_w}, {&qkv_b, 3 * D, 0, lay->qkv_b},
            {&l->attn.o_w, D, D, lay->o_w}, {&l->attn.o_b, D, 0, lay->o_b},
            {&l->ln2_w, D, 0, lay->ln2_w}, {&l->ln2_b, D, 0, lay->ln2_b},
            {&l->fc1_w, F, D, lay->fc1_w}, {&l->fc1_b, F, 0, lay->fc1_b},
            {&l->fc2_w, D, F, lay->fc2_w}, {&l->fc2_b, D, 0, lay->fc2_b},
        };
        for (size_t k = 0; k < sizeof parts / sizeof parts[0] && !st; k++) {
            if (!parts[k].part) continue; /* the other attention form, or a bias the layout lacks */
            char name[256];
            snprintf(name, sizeof name, lay->layer_fmt, prefix, i, parts[k].part);
            int64_t shape[2] = {parts[k].r, parts[k].c};
            st = src->get(src->user, name, parts[k].c ? 2 : 1, shape, parts[k].dst);
        }
        if (!fused || st) continue;
        if (!src->rows) return iris_fail(IRIS_ERR_ARG, "%s: fused q/k/v need a row view", src->path);
        /* q, k, v are consecutive row blocks of the fused projection */
        iris_tensor **ws[3] = {&l->attn.q_w, &l->attn.k_w, &l->attn.v_w}, **bs[3] = {&l->attn.q_b, &l->attn.k_b, &l->attn.v_b};
        for (int j = 0; j < 3 && !st; j++) {
            st = src->rows(src->user, qkv_w, j * D, D, ws[j]);
            if (!st) st = src->rows(src->user, qkv_b, j * D, D, bs[j]);
        }
    }
    return st;
}

static iris_status weights_get(void *user, const char *name, int ndim, const int64_t *shape, iris_tensor **out) {
    return iris_weights_get(user, name, ndim, shape, out);
}

static iris_status weights_rows(void *user, const iris_tensor *t, int64_t row0, int64_t rows, iris_tensor **out) {
    return iris_weights_rows(user, t, row0, rows, out);
}

static iris_status load_weights(iris_clip_tower *t, iris_weights *w, const char *prefix, const iris_clip_layout *l) {
    iris_clip_source src = {w, weights_get, weights_rows, iris_weights_path(w)};
    return iris_clip_tower_load(t, l, &src, prefix);
}

iris_status iris_clip_tower_load_hf(iris_clip_tower *t, iris_weights *w, const char *prefix) {
    return load_weights(t, w, prefix, &iris_clip_layout_hf);
}

iris_status iris_clip_tower_load_openclip(iris_clip_tower *t, iris_weights *w, const char *prefix) {
    return load_weights(t, w, prefix, &iris_clip_layout_openclip);
}

void iris_clip_tower_free(iris_clip_tower *t) {
    if (!t) return;
    free(t->layers);
    t->layers = NULL;
}
