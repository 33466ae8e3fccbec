/* vae.c - the KL autoencoder: loader walking encoder.down.N / decoder.up.N, encode and decode. */
#include "vae.h"

#include <stdio.h>
#include <string.h>

#define GROUPS 32
#define EPS 1e-6f

/* conv weight [cout, cin, k, k] and bias [cout] */
static iris_status get_conv(iris_weights *w, const char *base, int64_t cout, int64_t cin, int k, iris_tensor **wt,
                            iris_tensor **b) {
    return iris_weights_get_wb(w, base, 4, (int64_t[]){cout, cin, k, k}, wt, b);
}

static const iris_st_entry *find(iris_weights *w, const char *fmt, const char *a, int i, int j) {
    char name[320];
    snprintf(name, sizeof name, fmt, a, i, j);
    return iris_weights_find(w, name);
}

/* mid.block_1, mid.attn_1, mid.block_2 of the coder at prefix; ch from the ResBlocks. */
static iris_status load_mid(iris_vae_coder *c, iris_weights *w, const char *pre) {
    char p[160];
    snprintf(p, sizeof p, "%smid.block_1.", pre);
    iris_status st = iris_resblock_load(&c->mid1, w, p, &iris_resblock_names_ldm_vae, GROUPS, EPS);
    snprintf(p, sizeof p, "%smid.block_2.", pre);
    if (!st) st = iris_resblock_load(&c->mid2, w, p, &iris_resblock_names_ldm_vae, GROUPS, EPS);
    if (st) return st;
    int64_t C = c->mid1.c2_w->ne[0], sq[2] = {C, C};
    struct { iris_tensor **w, **b; const char *part; } proj[] = {{&c->attn.q_w, &c->attn.q_b, "q"},
                                                              {&c->attn.k_w, &c->attn.k_b, "k"},
                                                              {&c->attn.v_w, &c->attn.v_b, "v"},
                                                              {&c->attn.o_w, &c->attn.o_b, "proj_out"}};
    char name[320];
    snprintf(name, sizeof name, "%smid.attn_1.norm.weight", pre);
    st = iris_weights_get(w, name, 1, &C, &c->an_w);
    snprintf(name, sizeof name, "%smid.attn_1.norm.bias", pre);
    if (!st) st = iris_weights_get(w, name, 1, &C, &c->an_b);
    for (int i = 0; i < 4 && !st; i++) {
        snprintf(name, sizeof name, "%smid.attn_1.%s.weight", pre, proj[i].part);
        st = iris_weights_get_as(w, name, 2, sq, proj[i].w); /* 1x1 conv or linear: the same matrix */
        snprintf(name, sizeof name, "%smid.attn_1.%s.bias", pre, proj[i].part);
        if (!st) st = iris_weights_get(w, name, 1, &C, proj[i].b);
    }
    return st;
}

/* Levels "<pre><lv>.N.block.M" with their "<sample>.conv"; in_ch is conv_in's width. */
static iris_status load_levels(iris_vae_coder *c, iris_weights *w, const char *pre, const char *lv, const char *sample) {
    char p[160];
    iris_status st = IRIS_OK;
    for (int i = 0; !st && find(w, "%s.%d.block.%d.conv1.weight", (snprintf(p, sizeof p, "%s%s", pre, lv), p), i, 0); i++) {
        if (c->n_levels == IRIS_VAE_MAX_LEVELS) return iris_fail(IRIS_ERR_FORMAT, "%s: too many VAE levels", iris_weights_path(w));
        iris_vae_level *L = &c->levels[c->n_levels++];
        for (int j = 0; !st && find(w, "%s.%d.block.%d.conv1.weight", p, i, j); j++) {
            if (L->n_res == IRIS_VAE_MAX_RES) return iris_fail(IRIS_ERR_FORMAT, "%s: too many VAE ResBlocks", iris_weights_path(w));
            char rp[192];
            snprintf(rp, sizeof rp, "%s.%d.block.%d.", p, i, j);
            st = iris_resblock_load(&L->res[L->n_res++], w, rp, &iris_resblock_names_ldm_vae, GROUPS, EPS);
        }
        char sp[192];
        snprintf(sp, sizeof sp, "%s.%d.%s.conv", p, i, sample);
        char sw[200];
        snprintf(sw, sizeof sw, "%s.weight", sp);
        if (!st && iris_weights_has(w, sw)) {
            int64_t C = L->res[L->n_res - 1].c2_w->ne[0];
            st = get_conv(w, sp, C, C, 3, &L->sample_w, &L->sample_b);
        }
    }
    if (!st && c->n_levels == 0) st = iris_fail(IRIS_ERR_FORMAT, "%s: VAE has no %s%s.0 blocks", iris_weights_path(w), pre, lv);
    return st;
}

static iris_status load_coder(iris_vae_coder *c, iris_weights *w, const char *pre, int encoder) {
    char name[160];
    snprintf(name, sizeof name, "%sconv_in.weight", pre);
    const iris_st_entry *ci = iris_weights_find(w, name);
    snprintf(name, sizeof name, "%sconv_out.weight", pre);
    const iris_st_entry *co = iris_weights_find(w, name);
    if (!ci || ci->ndim != 4 || !co || co->ndim != 4)
        return iris_fail(IRIS_ERR_FORMAT, "%s: missing VAE '%sconv_in' / '%sconv_out'", iris_weights_path(w), pre, pre);
    snprintf(name, sizeof name, "%sconv_in", pre);
    iris_status st = get_conv(w, name, ci->shape[0], ci->shape[1], 3, &c->in_w, &c->in_b);
    if (!st) st = load_levels(c, w, pre, encoder ? "down" : "up", encoder ? "downsample" : "upsample");
    if (!st) st = load_mid(c, w, pre);
    if (st) return st;
    int64_t C = co->shape[1];
    snprintf(name, sizeof name, "%snorm_out.weight", pre);
    st = iris_weights_get(w, name, 1, &C, &c->norm_w);
    snprintf(name, sizeof name, "%snorm_out.bias", pre);
    if (!st) st = iris_weights_get(w, name, 1, &C, &c->norm_b);
    snprintf(name, sizeof name, "%sconv_out", pre);
    if (!st) st = get_conv(w, name, co->shape[0], C, 3, &c->out_w, &c->out_b);
    return st;
}

iris_status iris_vae_load(iris_vae *v, iris_weights *w, float scale) {
    memset(v, 0, sizeof *v);
    v->scale = scale;
    iris_status st = load_coder(&v->dec, w, "decoder.", 0);
    if (st) return st;
    v->latent_ch = (int)v->dec.in_w->ne[1];
    v->image_ch = (int)v->dec.out_w->ne[0];
    v->factor = 1;
    for (int i = 0; i < v->dec.n_levels; i++) v->factor *= v->dec.levels[i].sample_w ? 2 : 1;
    int64_t L = v->latent_ch;
    st = get_conv(w, "post_quant_conv", L, L, 1, &v->post_w, &v->post_b);
    if (st) return st;
    if (iris_weights_has(w, "encoder.conv_in.weight")) {
        st = load_coder(&v->enc, w, "encoder.", 1);
        if (!st) st = get_conv(w, "quant_conv", 2 * L, 2 * L, 1, &v->quant_w, &v->quant_b);
        if (!st && v->enc.out_w->ne[0] != 2 * L)
            st = iris_fail(IRIS_ERR_SHAPE, "%s: VAE encoder gives %lld channels, want %lld", iris_weights_path(w),
                           (long long)v->enc.out_w->ne[0], (long long)(2 * L));
        v->has_encoder = !st;
    }
    return st;
}

void iris_vae_free(iris_vae *v) {
    if (v) memset(v, 0, sizeof *v);
}

static iris_tensor *mid_attention(iris_ctx *ctx, const iris_vae_coder *c, const iris_tensor *x) {
    if (!x) return NULL;
    int64_t B = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    iris_tensor *h = iris_group_norm(ctx, x, GROUPS, c->an_w, c->an_b, EPS);
    h = iris_reshape(ctx, iris_permute(ctx, h, (const int[]){0, 2, 3, 1}), 3, (int64_t[]){B, H * W, C});
    h = iris_mha(ctx, &c->attn, h, NULL, 1, 0);
    h = iris_permute(ctx, iris_reshape(ctx, h, 4, (int64_t[]){B, H, W, C}), (const int[]){0, 3, 1, 2});
    return iris_add(ctx, h, x);
}

/* Keeps only y of everything made since m: a level's earlier block outputs go as the next is made. */
static iris_tensor *keep(iris_ctx *ctx, iris_mark m, iris_tensor *y) { return y ? iris_ctx_keep(ctx, m, y) : NULL; }

static iris_tensor *mid_block(iris_ctx *ctx, const iris_vae_coder *c, iris_tensor *h) {
    h = iris_resblock_forward(ctx, &c->mid1, h, NULL);
    h = mid_attention(ctx, c, h);
    return iris_resblock_forward(ctx, &c->mid2, h, NULL);
}

static iris_tensor *head(iris_ctx *ctx, const iris_vae_coder *c, iris_tensor *h) {
    h = iris_group_norm_act(ctx, h, GROUPS, c->norm_w, c->norm_b, EPS, IRIS_ACT_SILU);
    return iris_conv2d(ctx, h, c->out_w, c->out_b, iris_conv(1, 1));
}

iris_tensor *iris_vae_decode(iris_ctx *ctx, const iris_vae *v, const iris_tensor *latent) {
    if (!latent) return NULL;
    if (latent->ndim != 4 || latent->ne[1] != v->latent_ch)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "vae: latent must be [B, %d, h, w]", v->latent_ch);
    iris_tensor *h = iris_scale(ctx, latent, 1.0f / v->scale);
    h = iris_conv2d(ctx, h, v->post_w, v->post_b, iris_conv(1, 0));
    h = iris_conv2d(ctx, h, v->dec.in_w, v->dec.in_b, iris_conv(1, 1));
    iris_mark m = iris_ctx_mark(ctx);
    h = mid_block(ctx, &v->dec, h);
    if (h) h = iris_ctx_keep(ctx, m, h);
    for (int i = v->dec.n_levels - 1; i >= 0 && h; i--) { /* up.N-1 (lowest resolution) first */
        const iris_vae_level *L = &v->dec.levels[i];
        m = iris_ctx_mark(ctx);
        for (int j = 0; j < L->n_res && h; j++) h = keep(ctx, m, iris_resblock_forward(ctx, &L->res[j], h, NULL));
        if (L->sample_w && h)
            h = keep(ctx, m, iris_conv2d(ctx, iris_upsample_nearest(ctx, h, 2, 2), L->sample_w, L->sample_b, iris_conv(1, 1)));
    }
    return head(ctx, &v->dec, h);
}

iris_tensor *iris_vae_encode(iris_ctx *ctx, const iris_vae *v, const iris_tensor *image, iris_tensor **logvar) {
    if (!image) return NULL;
    if (!v->has_encoder) return iris_ctx_fail(ctx, IRIS_ERR_UNSUPPORTED, "vae: this checkpoint has no VAE encoder");
    if (image->ndim != 4 || image->ne[1] != v->image_ch || image->ne[2] % v->factor || image->ne[3] % v->factor)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "vae: image must be [B, %d, H, W] with H, W multiples of %d",
                             v->image_ch, v->factor);
    iris_tensor *h = iris_conv2d(ctx, image, v->enc.in_w, v->enc.in_b, iris_conv(1, 1));
    for (int i = 0; i < v->enc.n_levels && h; i++) {
        const iris_vae_level *L = &v->enc.levels[i];
        iris_mark m = iris_ctx_mark(ctx);
        for (int j = 0; j < L->n_res && h; j++) h = keep(ctx, m, iris_resblock_forward(ctx, &L->res[j], h, NULL));
        if (L->sample_w && h) {
            iris_conv2d_params p = iris_conv(2, 0);
            p.pad_h_end = p.pad_w_end = 1;
            h = keep(ctx, m, iris_conv2d(ctx, h, L->sample_w, L->sample_b, p));
        }
    }
    h = head(ctx, &v->enc, mid_block(ctx, &v->enc, h));
    h = iris_conv2d(ctx, h, v->quant_w, v->quant_b, iris_conv(1, 0));
    if (!h) return NULL;
    int64_t L = v->latent_ch;
    if (logvar) *logvar = iris_narrow(ctx, h, 1, L, L);
    return iris_scale(ctx, iris_narrow(ctx, h, 1, 0, L), v->scale);
}
