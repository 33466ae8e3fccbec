/* unet.h - Stable Diffusion 1.x / 2.x UNet: eps(x_t, t, context), structure read from the weights.

   The network is a list of input blocks (a ResBlock with an optional spatial transformer, or a
   strided-conv downsample), a middle block (ResBlock, transformer, ResBlock) and output blocks
   (a ResBlock over the concatenated skip, optional transformer, optional upsample), exactly as
   the original checkpoint numbers them (input_blocks.N, middle_block, output_blocks.N): the
   names are the model's documentation, and the loader walks them.
*/
#ifndef IRIS_UNET_H
#define IRIS_UNET_H

#include "blocks.h"

#define IRIS_UNET_MAX_BLOCKS 32

typedef struct iris_unet_block {
    iris_resblock res;
    iris_spatial_tf attn;
    int has_res, has_attn;
    iris_tensor *down_w, *down_b; /* input blocks: 3x3 stride-2 conv, or NULL */
    iris_tensor *up_w, *up_b;     /* output blocks: nearest x2 then 3x3 conv, or NULL */
} iris_unet_block;

typedef struct iris_unet {
    int in_ch, out_ch, model_ch, time_dim, ctx_dim;
    iris_tensor *t1_w, *t1_b, *t2_w, *t2_b; /* time embedding MLP [E, model_ch], [E, E] */
    iris_tensor *in_w, *in_b;               /* conv_in [model_ch, in_ch, 3, 3] */
    iris_unet_block in[IRIS_UNET_MAX_BLOCKS], mid, out[IRIS_UNET_MAX_BLOCKS];
    int n_in, n_out;
    iris_resblock mid2;
    iris_tensor *norm_w, *norm_b, *out_w, *out_b; /* final group norm, conv_out */
} iris_unet;

/* Heads of each transformer: fixed count (SD 1.x: 8) or fixed head width (SD 2.x: 64). */
typedef struct iris_unet_heads {
    int count, width;
} iris_unet_heads;

/* Canonical (original checkpoint) names under w's prefix; see weights.h for other layouts. */
iris_status iris_unet_load(iris_unet *u, iris_weights *w, iris_unet_heads heads);
void iris_unet_free(iris_unet *u);

/* x [B, in_ch, h, w], t: B timesteps (host floats, fractional allowed), context [B, L, ctx_dim]
   -> [B, out_ch, h, w]. h and w must be multiples of 2^(levels-1). */
iris_tensor *iris_unet_forward(iris_ctx *ctx, const iris_unet *u, const iris_tensor *x, const float *t,
                               const iris_tensor *context);

#endif
