/* unet.c - the SD UNet: loader that walks the checkpoint's block names, and the forward pass. */
#include "unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUPS 32

static int has(iris_weights *w, const char *fmt, int i, const char *rest) {
    char name[256];
    snprintf(name, sizeof name, fmt, i, rest);
    return iris_weights_has(w, name);
}

static int heads_for(iris_unet_heads h, const iris_weights *w, const char *prefix) {
    char name[320];
    snprintf(name, sizeof name, "%sproj_in.weight", prefix);
    const iris_st_entry *e = iris_weights_find(w, name);
    int64_t C = e ? e->shape[0] : 0;
    if (h.count) return h.count;
    return h.width && C >= h.width ? (int)(C / h.width) : 1;
}

/* conv weight [cout, cin, k, k] and bias [cout] */
static iris_status get_conv(iris_weights *w, const char *base, int64_t cout, int64_t cin, int k, iris_tensor **wt,
                            iris_tensor **b) {
    return iris_weights_get_wb(w, base, 4, (int64_t[]){cout, cin, k, k}, wt, b);
}

/* One numbered block: parts .0 (ResBlock or downsample), .1 (transformer or upsample), .2 (upsample). */
static iris_status load_block(iris_unet_block *b, iris_weights *w, const char *kind, int i, iris_unet_heads heads,
                              int64_t *ch) {
    char p[128], name[320];
    iris_status st = IRIS_OK;
    snprintf(p, sizeof p, "%s.%d.0.op.weight", kind, i);
    if (iris_weights_has(w, p)) { /* downsample */
        snprintf(p, sizeof p, "%s.%d.0.op", kind, i);
        return get_conv(w, p, *ch, *ch, 3, &b->down_w, &b->down_b);
    }
    snprintf(p, sizeof p, "%s.%d.0.", kind, i);
    st = iris_resblock_load(&b->res, w, p, &iris_resblock_names_ldm_unet, GROUPS, 1e-5f);
    if (st) return st;
    b->has_res = 1;
    *ch = b->res.c2_w->ne[0];
    int part = 1;
    snprintf(p, sizeof p, "%s.%d.1.", kind, i);
    snprintf(name, sizeof name, "%sproj_in.weight", p);
    if (iris_weights_has(w, name)) {
        st = iris_spatial_tf_load(&b->attn, w, p, heads_for(heads, w, p), GROUPS);
        if (st) return st;
        b->has_attn = 1;
        part = 2;
    }
    snprintf(p, sizeof p, "%s.%d.%d.conv", kind, i, part);
    snprintf(name, sizeof name, "%s.weight", p);
    if (iris_weights_has(w, name)) st = get_conv(w, p, *ch, *ch, 3, &b->up_w, &b->up_b);
    return st;
}

iris_status iris_unet_load(iris_unet *u, iris_weights *w, iris_unet_heads heads) {
    memset(u, 0, sizeof *u);
    const iris_st_entry *ci = iris_weights_find(w, "input_blocks.0.0.weight");
    const iris_st_entry *te = iris_weights_find(w, "time_embed.0.weight");
    if (!ci || ci->ndim != 4 || !te || te->ndim != 2)
        return iris_fail(IRIS_ERR_FORMAT, "%s: no UNet (input_blocks.0.0 and time_embed.0 missing)", iris_weights_path(w));
    u->model_ch = (int)ci->shape[0];
    u->in_ch = (int)ci->shape[1];
    u->time_dim = (int)te->shape[0];
    int64_t M = u->model_ch, E = u->time_dim, ch = M;
    iris_status st = get_conv(w, "input_blocks.0.0", M, u->in_ch, 3, &u->in_w, &u->in_b);
    if (!st) st = iris_weights_get(w, "time_embed.0.weight", 2, (int64_t[]){E, M}, &u->t1_w);
    if (!st) st = iris_weights_get(w, "time_embed.0.bias", 1, &E, &u->t1_b);
    if (!st) st = iris_weights_get(w, "time_embed.2.weight", 2, (int64_t[]){E, E}, &u->t2_w);
    if (!st) st = iris_weights_get(w, "time_embed.2.bias", 1, &E, &u->t2_b);
    for (int i = 1; !st && (has(w, "input_blocks.%d.%s", i, "0.op.weight") || has(w, "input_blocks.%d.%s", i, "0.in_layers.0.weight")); i++) {
        if (u->n_in == IRIS_UNET_MAX_BLOCKS) return iris_fail(IRIS_ERR_FORMAT, "%s: too many UNet input blocks", iris_weights_path(w));
        st = load_block(&u->in[u->n_in++], w, "input_blocks", i, heads, &ch);
    }
    if (!st && u->n_in == 0) st = iris_fail(IRIS_ERR_FORMAT, "%s: UNet has no input blocks", iris_weights_path(w));
    if (!st) st = iris_resblock_load(&u->mid.res, w, "middle_block.0.", &iris_resblock_names_ldm_unet, GROUPS, 1e-5f);
    if (!st) st = iris_spatial_tf_load(&u->mid.attn, w, "middle_block.1.", heads_for(heads, w, "middle_block.1."), GROUPS);
    if (!st) st = iris_resblock_load(&u->mid2, w, "middle_block.2.", &iris_resblock_names_ldm_unet, GROUPS, 1e-5f);
    u->mid.has_res = u->mid.has_attn = 1;
    for (int i = 0; !st && has(w, "output_blocks.%d.%s", i, "0.in_layers.0.weight"); i++) {
        if (u->n_out == IRIS_UNET_MAX_BLOCKS) return iris_fail(IRIS_ERR_FORMAT, "%s: too many UNet output blocks", iris_weights_path(w));
        st = load_block(&u->out[u->n_out++], w, "output_blocks", i, heads, &ch);
    }
    if (!st && u->n_out != u->n_in + 1)
        st = iris_fail(IRIS_ERR_FORMAT, "%s: UNet has %d input blocks but %d output blocks (want %d)", iris_weights_path(w),
                       u->n_in, u->n_out, u->n_in + 1);
    const iris_st_entry *oe = iris_weights_find(w, "out.2.weight");
    if (!st && (!oe || oe->ndim != 4)) st = iris_fail(IRIS_ERR_FORMAT, "%s: missing UNet 'out.2.weight'", iris_weights_path(w));
    if (!st) {
        u->out_ch = (int)oe->shape[0];
        st = iris_weights_get(w, "out.0.weight", 1, &ch, &u->norm_w);
        if (!st) st = iris_weights_get(w, "out.0.bias", 1, &ch, &u->norm_b);
        if (!st) st = get_conv(w, "out.2", u->out_ch, ch, 3, &u->out_w, &u->out_b);
    }
    if (!st) {
        const iris_st_entry *k = iris_weights_find(w, "middle_block.1.transformer_blocks.0.attn2.to_k.weight");
        u->ctx_dim = k && k->ndim == 2 ? (int)k->shape[1] : 0;
    }
    /* a skip must match what the output block's ResBlock expects: checked here, not mid-pass */
    if (!st) {
        int64_t skips[IRIS_UNET_MAX_BLOCKS + 1], n = 0, h = M;
        skips[n++] = M;
        for (int i = 0; i < u->n_in; i++) {
            if (u->in[i].has_res) h = u->in[i].res.c2_w->ne[0];
            skips[n++] = h;
        }
        h = u->mid2.c2_w->ne[0];
        for (int i = 0; i < u->n_out && !st; i++) {
            int64_t want = u->out[i].res.c1_w->ne[1], got = h + skips[--n];
            if (want != got)
                st = iris_fail(IRIS_ERR_SHAPE, "%s: output_blocks.%d takes %lld channels, the skip path gives %lld",
                               iris_weights_path(w), i, (long long)want, (long long)got);
            h = u->out[i].res.c2_w->ne[0];
        }
    }
    if (st) iris_unet_free(u);
    return st;
}

void iris_unet_free(iris_unet *u) {
    if (!u) return;
    for (int i = 0; i < u->n_in; i++) iris_spatial_tf_free(&u->in[i].attn);
    for (int i = 0; i < u->n_out; i++) iris_spatial_tf_free(&u->out[i].attn);
    iris_spatial_tf_free(&u->mid.attn);
    memset(u, 0, sizeof *u);
}

/* Sinusoidal embedding of the timesteps as the original code builds it: [cos(t f_i), sin(t f_i)],
   f_i = 10000^(-i / (dim/2)). */
static iris_tensor *timestep_embedding(iris_ctx *ctx, const float *t, int64_t B, int dim) {
    int half = dim / 2;
    float *e = malloc((size_t)B * dim * sizeof *e);
    if (!e) return iris_ctx_fail(ctx, IRIS_ERR_NOMEM, "unet: out of memory");
    for (int64_t b = 0; b < B; b++)
        for (int i = 0; i < half; i++) {
            float f = expf(-logf(10000.0f) * (float)i / (float)half);
            float a = t[b] * f;
            e[b * dim + i] = cosf(a);
            e[b * dim + half + i] = sinf(a);
        }
    iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 2, (int64_t[]){B, dim}, e);
    free(e);
    return x;
}

static iris_tensor *run_block(iris_ctx *ctx, const iris_unet_block *b, iris_tensor *h, const iris_tensor *emb,
                              const iris_tensor *context) {
    if (b->down_w) return iris_conv2d(ctx, h, b->down_w, b->down_b, iris_conv(2, 1));
    h = iris_resblock_forward(ctx, &b->res, h, emb);
    if (b->has_attn) h = iris_spatial_tf_forward(ctx, &b->attn, h, context);
    if (b->up_w) h = iris_conv2d(ctx, iris_upsample_nearest(ctx, h, 2, 2), b->up_w, b->up_b, iris_conv(1, 1));
    return h;
}

iris_tensor *iris_unet_forward(iris_ctx *ctx, const iris_unet *u, const iris_tensor *x, const float *t,
                               const iris_tensor *context) {
    if (!x || !context) return NULL;
    int64_t B = x->ne[0];
    if (x->ndim != 4 || x->ne[1] != u->in_ch || context->ndim != 3 || context->ne[0] != B || context->ne[2] != u->ctx_dim)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "unet: x must be [B, %d, h, w] and context [B, L, %d]", u->in_ch, u->ctx_dim);
    int64_t down = 1;
    for (int i = 0; i < u->n_in; i++) down *= u->in[i].down_w ? 2 : 1;
    if (x->ne[2] % down || x->ne[3] % down)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "unet: latent %lldx%lld is not a multiple of %lld",
                             (long long)x->ne[3], (long long)x->ne[2], (long long)down);
    iris_tensor *emb = timestep_embedding(ctx, t, B, u->model_ch);
    emb = iris_linear_act(ctx, emb, u->t1_w, u->t1_b, IRIS_ACT_SILU, 0);
    emb = iris_silu(ctx, iris_linear(ctx, emb, u->t2_w, u->t2_b)); /* every ResBlock starts with SiLU */

    iris_tensor *skip[IRIS_UNET_MAX_BLOCKS + 1];
    int n = 0;
    iris_tensor *h = iris_conv2d(ctx, x, u->in_w, u->in_b, iris_conv(1, 1));
    skip[n++] = h;
    for (int i = 0; i < u->n_in; i++) {
        iris_mark m = iris_ctx_mark(ctx);
        h = run_block(ctx, &u->in[i], h, emb, context);
        if (!h) return NULL;
        skip[n++] = h = iris_ctx_keep(ctx, m, h);
    }
    iris_mark m = iris_ctx_mark(ctx);
    h = run_block(ctx, &u->mid, h, emb, context);
    h = iris_resblock_forward(ctx, &u->mid2, h, emb);
    if (!h) return NULL;
    h = iris_ctx_keep(ctx, m, h);
    for (int i = 0; i < u->n_out; i++) {
        m = iris_ctx_mark(ctx);
        h = run_block(ctx, &u->out[i], iris_concat(ctx, h, skip[--n], 1), emb, context);
        if (!h) return NULL;
        h = iris_ctx_keep(ctx, m, h);
    }
    h = iris_group_norm_act(ctx, h, GROUPS, u->norm_w, u->norm_b, 1e-5f, IRIS_ACT_SILU);
    return iris_conv2d(ctx, h, u->out_w, u->out_b, iris_conv(1, 1));
}
