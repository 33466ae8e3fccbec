/* blocks.h - the convolutional blocks Stable Diffusion's UNet and VAE share: the ResBlock
   (group norm, SiLU, 3x3 conv, twice, plus a shortcut; the UNet adds its time embedding in the
   middle) and the spatial transformer (self-attention, cross-attention, GEGLU feed-forward over
   the pixels of a feature map). */
#ifndef IRIS_UNET_BLOCKS_H
#define IRIS_UNET_BLOCKS_H

#include "../clip/mha.h"
#include "../core/weights.h"

typedef struct iris_resblock {
    iris_tensor *n1_w, *n1_b, *c1_w, *c1_b; /* group norm [Cin]; conv [Cout, Cin, 3, 3] */
    iris_tensor *emb_w, *emb_b;             /* time embedding projection [Cout, E], or NULL (VAE) */
    iris_tensor *n2_w, *n2_b, *c2_w, *c2_b; /* [Cout]; [Cout, Cout, 3, 3] */
    iris_tensor *skip_w, *skip_b;           /* 1x1 conv [Cout, Cin, 1, 1] when Cin != Cout, else NULL */
    int groups;                             /* 32 */
    float eps;                              /* 1e-5 in the UNet, 1e-6 in the VAE */
} iris_resblock;

/* Canonical part names of a ResBlock under its prefix. */
typedef struct iris_resblock_names {
    const char *n1, *c1, *emb, *n2, *c2, *skip; /* emb NULL: no time embedding */
} iris_resblock_names;
extern const iris_resblock_names iris_resblock_names_ldm_unet; /* in_layers.0, in_layers.2, emb_layers.1, ... */
extern const iris_resblock_names iris_resblock_names_ldm_vae;  /* norm1, conv1, norm2, conv2, nin_shortcut */

/* Loads the block at `prefix` (e.g. "input_blocks.1.0."); cin and cout come from the weights. */
iris_status iris_resblock_load(iris_resblock *rb, iris_weights *w, const char *prefix, const iris_resblock_names *n,
                               int groups, float eps);
/* x [B, Cin, H, W]; emb_act = silu(time embedding) [B, E] or NULL -> [B, Cout, H, W] */
iris_tensor *iris_resblock_forward(iris_ctx *ctx, const iris_resblock *rb, const iris_tensor *x,
                                   const iris_tensor *emb_act);

typedef struct iris_tf_block {
    iris_tensor *n1_w, *n1_b, *n2_w, *n2_b, *n3_w, *n3_b; /* layer norms [C] */
    iris_mha_weights attn1, attn2;                        /* self, cross (k/v from the context) */
    iris_tensor *ff1_w, *ff1_b;                           /* GEGLU projection [2F, C] */
    iris_tensor *ff2_w, *ff2_b;                           /* [C, F] */
} iris_tf_block;

typedef struct iris_spatial_tf {
    iris_tensor *norm_w, *norm_b;       /* group norm [C], eps 1e-6 */
    iris_tensor *in_w, *in_b, *out_w, *out_b; /* proj_in/out: 1x1 conv [C, C, 1, 1] (SD 1.x) or linear [C, C] (SD 2.x) */
    int linear;                          /* projections are linear (applied on [B, HW, C]) */
    int n_heads, depth, groups;
    iris_tf_block *blocks;               /* depth */
} iris_spatial_tf;

/* Loads the transformer at `prefix` ("input_blocks.1.1."); heads from the caller's rule. */
iris_status iris_spatial_tf_load(iris_spatial_tf *t, iris_weights *w, const char *prefix, int n_heads, int groups);
void iris_spatial_tf_free(iris_spatial_tf *t);
/* x [B, C, H, W], context [B, L, Dctx] -> [B, C, H, W] (x + transformer(x)) */
iris_tensor *iris_spatial_tf_forward(iris_ctx *ctx, const iris_spatial_tf *t, const iris_tensor *x,
                                     const iris_tensor *context);

#endif
