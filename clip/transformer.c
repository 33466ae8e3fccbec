/* transformer.c - the CLIP transformer block and its two weight layouts. */
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

static iris_status get(iris_weights *w, iris_tensor **out, int64_t rows, int64_t cols, const char *fmt, const char *prefix,
                       int layer, const char *part) {
    char name[256];
    snprintf(name, sizeof name, fmt, prefix, layer, part);
    int64_t shape[2] = {rows, cols};
    return iris_weights_get(w, name, cols ? 2 : 1, shape, out);
}

static iris_status alloc_layers(iris_clip_tower *t, const iris_weights *w) {
    if (t->dim < 1 || t->n_layers < 1 || t->n_heads < 1 || t->dim % t->n_heads || t->ffn < 1)
        return iris_fail(IRIS_ERR_FORMAT, "%s: bad transformer shape (width %d, %d layers, %d heads, mlp %d)",
                         iris_weights_path(w), t->dim, t->n_layers, t->n_heads, t->ffn);
    t->layers = calloc((size_t)t->n_layers, sizeof *t->layers);
    if (!t->layers) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", iris_weights_path(w));
    if (t->eps == 0) t->eps = 1e-5f;
    return IRIS_OK;
}

iris_status iris_clip_tower_load_hf(iris_clip_tower *t, iris_weights *w, const char *prefix) {
    iris_status st = alloc_layers(t, w);
    const int64_t D = t->dim, F = t->ffn;
    const char *f = "%slayers.%d.%s";
    for (int i = 0; i < t->n_layers && !st; i++) {
        iris_clip_layer *l = &t->layers[i];
        struct { iris_tensor **dst; int64_t r, c; const char *part; } parts[] = {
            {&l->ln1_w, D, 0, "layer_norm1.weight"}, {&l->ln1_b, D, 0, "layer_norm1.bias"},
            {&l->attn.q_w, D, D, "self_attn.q_proj.weight"}, {&l->attn.q_b, D, 0, "self_attn.q_proj.bias"},
            {&l->attn.k_w, D, D, "self_attn.k_proj.weight"}, {&l->attn.k_b, D, 0, "self_attn.k_proj.bias"},
            {&l->attn.v_w, D, D, "self_attn.v_proj.weight"}, {&l->attn.v_b, D, 0, "self_attn.v_proj.bias"},
            {&l->attn.o_w, D, D, "self_attn.out_proj.weight"}, {&l->attn.o_b, D, 0, "self_attn.out_proj.bias"},
            {&l->ln2_w, D, 0, "layer_norm2.weight"}, {&l->ln2_b, D, 0, "layer_norm2.bias"},
            {&l->fc1_w, F, D, "mlp.fc1.weight"}, {&l->fc1_b, F, 0, "mlp.fc1.bias"},
            {&l->fc2_w, D, F, "mlp.fc2.weight"}, {&l->fc2_b, D, 0, "mlp.fc2.bias"},
        };
        for (size_t k = 0; k < sizeof parts / sizeof parts[0] && !st; k++)
            st = get(w, parts[k].dst, parts[k].r, parts[k].c, f, prefix, i, parts[k].part);
    }
    return st;
}

iris_status iris_clip_tower_load_openclip(iris_clip_tower *t, iris_weights *w, const char *prefix) {
    iris_status st = alloc_layers(t, w);
    const int64_t D = t->dim, F = t->ffn;
    const char *f = "%sresblocks.%d.%s";
    for (int i = 0; i < t->n_layers && !st; i++) {
        iris_clip_layer *l = &t->layers[i];
        iris_tensor *qkv_w = NULL, *qkv_b = NULL;
        struct { iris_tensor **dst; int64_t r, c; const char *part; } parts[] = {
            {&l->ln1_w, D, 0, "ln_1.weight"}, {&l->ln1_b, D, 0, "ln_1.bias"},
            {&qkv_w, 3 * D, D, "attn.in_proj_weight"}, {&qkv_b, 3 * D, 0, "attn.in_proj_bias"},
            {&l->attn.o_w, D, D, "attn.out_proj.weight"}, {&l->attn.o_b, D, 0, "attn.out_proj.bias"},
            {&l->ln2_w, D, 0, "ln_2.weight"}, {&l->ln2_b, D, 0, "ln_2.bias"},
            {&l->fc1_w, F, D, "mlp.c_fc.weight"}, {&l->fc1_b, F, 0, "mlp.c_fc.bias"},
            {&l->fc2_w, D, F, "mlp.c_proj.weight"}, {&l->fc2_b, D, 0, "mlp.c_proj.bias"},
        };
        for (size_t k = 0; k < sizeof parts / sizeof parts[0] && !st; k++)
            st = get(w, parts[k].dst, parts[k].r, parts[k].c, f, prefix, i, parts[k].part);
        /* q, k, v are consecutive row blocks of the fused projection */
        iris_tensor **ws[3] = {&l->attn.q_w, &l->attn.k_w, &l->attn.v_w}, **bs[3] = {&l->attn.q_b, &l->attn.k_b, &l->attn.v_b};
        for (int j = 0; j < 3 && !st; j++) {
            st = iris_weights_rows(w, qkv_w, j * D, D, ws[j]);
            if (!st) st = iris_weights_rows(w, qkv_b, j * D, D, bs[j]);
        }
    }
    return st;
}

void iris_clip_tower_free(iris_clip_tower *t) {
    if (!t) return;
    free(t->layers);
    t->layers = NULL;
}
