/* blocks.c - ResBlock and spatial transformer: loading by name, forward on ops. */
#include "blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const iris_resblock_names iris_resblock_names_ldm_unet = {"in_layers.0", "in_layers.2", "emb_layers.1",
                                                          "out_layers.0", "out_layers.3", "skip_connection"};
const iris_resblock_names iris_resblock_names_ldm_vae = {"norm1", "conv1", NULL, "norm2", "conv2", "nin_shortcut"};

/* "<prefix><part>.<suffix>" */
static const char *nm(char *buf, size_t n, const char *prefix, const char *part, const char *suffix) {
    snprintf(buf, n, "%s%s.%s", prefix, part, suffix);
    return buf;
}

static iris_status get_pair(iris_weights *w, const char *prefix, const char *part, int ndim, const int64_t *shape,
                            iris_tensor **weight, iris_tensor **bias) {
    char base[448];
    snprintf(base, sizeof base, "%s%s", prefix, part);
    return iris_weights_get_wb(w, base, ndim, shape, weight, bias);
}

iris_status iris_resblock_load(iris_resblock *rb, iris_weights *w, const char *prefix, const iris_resblock_names *n,
                               int groups, float eps) {
    memset(rb, 0, sizeof *rb);
    rb->groups = groups;
    rb->eps = eps;
    char name[512];
    const iris_st_entry *e = iris_weights_find(w, nm(name, sizeof name, prefix, n->c1, "weight"));
    if (!e || e->ndim != 4)
        return iris_fail(IRIS_ERR_FORMAT, "%s: missing or bad ResBlock conv '%s'", iris_weights_path(w), name);
    int64_t cout = e->shape[0], cin = e->shape[1];
    if (cin % groups || cout % groups)
        return iris_fail(IRIS_ERR_SHAPE, "%s: '%s' has %lld -> %lld channels, not divisible into %d groups",
                         iris_weights_path(w), name, (long long)cin, (long long)cout, groups);
    iris_status st = get_pair(w, prefix, n->n1, 1, &cin, &rb->n1_w, &rb->n1_b);
    if (!st) st = get_pair(w, prefix, n->c1, 4, (int64_t[]){cout, cin, 3, 3}, &rb->c1_w, &rb->c1_b);
    if (!st && n->emb) {
        const iris_st_entry *ee = iris_weights_find(w, nm(name, sizeof name, prefix, n->emb, "weight"));
        int64_t E = ee && ee->ndim == 2 ? ee->shape[1] : -1;
        st = get_pair(w, prefix, n->emb, 2, (int64_t[]){cout, E}, &rb->emb_w, &rb->emb_b);
    }
    if (!st) st = get_pair(w, prefix, n->n2, 1, &cout, &rb->n2_w, &rb->n2_b);
    if (!st) st = get_pair(w, prefix, n->c2, 4, (int64_t[]){cout, cout, 3, 3}, &rb->c2_w, &rb->c2_b);
    if (!st && cin != cout) st = get_pair(w, prefix, n->skip, 4, (int64_t[]){cout, cin, 1, 1}, &rb->skip_w, &rb->skip_b);
    return st;
}

/* Each half's temporaries (the normalised input) are dropped as soon as its conv is done, so a
   block at the VAE's full resolution holds at most its input and three maps of its width. */
iris_tensor *iris_resblock_forward(iris_ctx *ctx, const iris_resblock *rb, const iris_tensor *x,
                                   const iris_tensor *emb_act) {
    iris_mark m = iris_ctx_mark(ctx);
    iris_tensor *h = iris_group_norm_act(ctx, x, rb->groups, rb->n1_w, rb->n1_b, rb->eps, IRIS_ACT_SILU);
    h = iris_conv2d(ctx, h, rb->c1_w, rb->c1_b, iris_conv(1, 1));
    if (rb->emb_w && emb_act) {
        iris_tensor *e = iris_linear(ctx, emb_act, rb->emb_w, rb->emb_b); /* [B, Cout] */
        if (e) e = iris_reshape(ctx, e, 4, (int64_t[]){e->ne[0], e->ne[1], 1, 1});
        h = iris_add(ctx, h, e);
    }
    if (!h) return NULL;
    h = iris_ctx_keep(ctx, m, h);
    const iris_tensor *skip = rb->skip_w ? iris_conv2d(ctx, x, rb->skip_w, rb->skip_b, iris_conv(1, 0)) : x;
    iris_tensor *a = iris_group_norm_act(ctx, h, rb->groups, rb->n2_w, rb->n2_b, rb->eps, IRIS_ACT_SILU);
    iris_conv2d_params p = iris_conv(1, 1);
    p.residual = skip;
    return iris_conv2d(ctx, a, rb->c2_w, rb->c2_b, p);
}

/* q/k/v without biases, output projection with one, as SD's attention layers are. */
static iris_status load_attn(iris_weights *w, const char *prefix, int64_t C, iris_mha_weights *a) {
    char name[512];
    const iris_st_entry *ke = iris_weights_find(w, nm(name, sizeof name, prefix, "to_k", "weight"));
    int64_t Dkv = ke && ke->ndim == 2 ? ke->shape[1] : -1;
    iris_status st = iris_weights_get(w, nm(name, sizeof name, prefix, "to_q", "weight"), 2, (int64_t[]){C, C}, &a->q_w);
    if (!st) st = iris_weights_get(w, nm(name, sizeof name, prefix, "to_k", "weight"), 2, (int64_t[]){C, Dkv}, &a->k_w);
    if (!st) st = iris_weights_get(w, nm(name, sizeof name, prefix, "to_v", "weight"), 2, (int64_t[]){C, Dkv}, &a->v_w);
    if (!st) st = get_pair(w, prefix, "to_out.0", 2, (int64_t[]){C, C}, &a->o_w, &a->o_b);
    return st;
}

iris_status iris_spatial_tf_load(iris_spatial_tf *t, iris_weights *w, const char *prefix, int n_heads, int groups) {
    memset(t, 0, sizeof *t);
    char name[512], sub[320];
    const iris_st_entry *pe = iris_weights_find(w, nm(name, sizeof name, prefix, "proj_in", "weight"));
    if (!pe || (pe->ndim != 2 && pe->ndim != 4))
        return iris_fail(IRIS_ERR_FORMAT, "%s: missing or bad transformer projection '%s'", iris_weights_path(w), name);
    int64_t C = pe->shape[0];
    t->linear = pe->ndim == 2;
    t->groups = groups;
    t->n_heads = n_heads;
    if (n_heads < 1 || C % n_heads)
        return iris_fail(IRIS_ERR_SHAPE, "%s: transformer '%s' width %lld does not split into %d heads",
                         iris_weights_path(w), prefix, (long long)C, n_heads);
    while (t->depth < 64) {
        snprintf(sub, sizeof sub, "%stransformer_blocks.%d.", prefix, t->depth);
        if (!iris_weights_has(w, nm(name, sizeof name, sub, "norm1", "weight"))) break;
        t->depth++;
    }
    if (t->depth == 0)
        return iris_fail(IRIS_ERR_FORMAT, "%s: transformer '%s' has no blocks", iris_weights_path(w), prefix);
    t->blocks = calloc((size_t)t->depth, sizeof *t->blocks);
    if (!t->blocks) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", iris_weights_path(w));
    iris_status st = get_pair(w, prefix, "norm", 1, &C, &t->norm_w, &t->norm_b);
    const int64_t proj_shape[4] = {C, C, 1, 1};
    if (!st) st = get_pair(w, prefix, "proj_in", t->linear ? 2 : 4, proj_shape, &t->in_w, &t->in_b);
    if (!st) st = get_pair(w, prefix, "proj_out", t->linear ? 2 : 4, proj_shape, &t->out_w, &t->out_b);
    for (int d = 0; d < t->depth && !st; d++) {
        iris_tf_block *b = &t->blocks[d];
        snprintf(sub, sizeof sub, "%stransformer_blocks.%d.", prefix, d);
        char ap[352];
        st = get_pair(w, sub, "norm1", 1, &C, &b->n1_w, &b->n1_b);
        if (!st) st = get_pair(w, sub, "norm2", 1, &C, &b->n2_w, &b->n2_b);
        if (!st) st = get_pair(w, sub, "norm3", 1, &C, &b->n3_w, &b->n3_b);
        if (!st) st = load_attn(w, (snprintf(ap, sizeof ap, "%sattn1.", sub), ap), C, &b->attn1);
        if (!st) st = load_attn(w, (snprintf(ap, sizeof ap, "%sattn2.", sub), ap), C, &b->attn2);
        const iris_st_entry *fe = iris_weights_find(w, nm(name, sizeof name, sub, "ff.net.0.proj", "weight"));
        int64_t F2 = fe && fe->ndim == 2 && fe->shape[0] % 2 == 0 ? fe->shape[0] : -1;
        if (!st) st = get_pair(w, sub, "ff.net.0.proj", 2, (int64_t[]){F2, C}, &b->ff1_w, &b->ff1_b);
        if (!st) st = get_pair(w, sub, "ff.net.2", 2, (int64_t[]){C, F2 / 2}, &b->ff2_w, &b->ff2_b);
    }
    return st;
}

void iris_spatial_tf_free(iris_spatial_tf *t) {
    if (!t) return;
    free(t->blocks);
    t->blocks = NULL;
}

/* GEGLU feed-forward: (a * gelu(g)) W2^T + b2 where [a, g] = x W1^T + b1. */
static iris_tensor *geglu_ff(iris_ctx *ctx, const iris_tf_block *b, const iris_tensor *x) {
    iris_tensor *p = iris_linear(ctx, x, b->ff1_w, b->ff1_b);
    if (!p) return NULL;
    int64_t F = p->ne[p->ndim - 1] / 2;
    iris_tensor *a = iris_narrow(ctx, p, p->ndim - 1, 0, F), *g = iris_narrow(ctx, p, p->ndim - 1, F, F);
    return iris_linear(ctx, iris_mul(ctx, iris_gelu(ctx, g), a), b->ff2_w, b->ff2_b);
}

iris_tensor *iris_spatial_tf_forward(iris_ctx *ctx, const iris_spatial_tf *t, const iris_tensor *x,
                                     const iris_tensor *context) {
    if (!x) return NULL;
    int64_t B = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    const int to_seq[4] = {0, 2, 3, 1}, to_map[4] = {0, 3, 1, 2};
    iris_tensor *h = iris_group_norm(ctx, x, t->groups, t->norm_w, t->norm_b, 1e-6f);
    if (!t->linear) h = iris_conv2d(ctx, h, t->in_w, t->in_b, iris_conv(1, 0));
    h = iris_reshape(ctx, iris_permute(ctx, h, to_seq), 3, (int64_t[]){B, H * W, C}); /* [B, HW, C] */
    if (t->linear) h = iris_linear(ctx, h, t->in_w, t->in_b);
    for (int d = 0; d < t->depth; d++) {
        const iris_tf_block *b = &t->blocks[d];
        h = iris_add(ctx, h, iris_mha(ctx, &b->attn1, iris_layer_norm(ctx, h, b->n1_w, b->n1_b, 1e-5f), NULL, t->n_heads, 0));
        h = iris_add(ctx, h, iris_mha(ctx, &b->attn2, iris_layer_norm(ctx, h, b->n2_w, b->n2_b, 1e-5f), context, t->n_heads, 0));
        h = iris_add(ctx, h, geglu_ff(ctx, b, iris_layer_norm(ctx, h, b->n3_w, b->n3_b, 1e-5f)));
    }
    if (t->linear) {
        h = iris_linear(ctx, h, t->out_w, t->out_b);
        h = iris_permute(ctx, iris_reshape(ctx, h, 4, (int64_t[]){B, H, W, C}), to_map);
        return iris_add(ctx, h, x);
    }
    h = iris_permute(ctx, iris_reshape(ctx, h, 4, (int64_t[]){B, H, W, C}), to_map);
    iris_conv2d_params p = iris_conv(1, 0);
    p.residual = x;
    return iris_conv2d(ctx, h, t->out_w, t->out_b, p);
}
