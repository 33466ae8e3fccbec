/* vae.h - Stable Diffusion's KL autoencoder: latents <-> images, structure read from the weights
   (original checkpoint names: encoder.down.N.block.M, decoder.up.N.block.M, mid.attn_1, ...).

   decode: image = decoder(post_quant_conv(latent / scale))      image in [-1, 1] (not clamped)
   encode: (mean, logvar) = split(quant_conv(encoder(image)));    returns mean * scale
*/
#ifndef IRIS_VAE_H
#define IRIS_VAE_H

#include "../unet/blocks.h"

#define IRIS_VAE_MAX_LEVELS 8
#define IRIS_VAE_MAX_RES 4

typedef struct iris_vae_level {
    iris_resblock res[IRIS_VAE_MAX_RES];
    int n_res;
    iris_tensor *sample_w, *sample_b; /* encoder: stride-2 conv padded (0, 1); decoder: x2 nearest + conv */
} iris_vae_level;

typedef struct iris_vae_coder {
    iris_tensor *in_w, *in_b;
    iris_vae_level levels[IRIS_VAE_MAX_LEVELS]; /* in the file's numbering: down.0 is full resolution, so is up.0 */
    int n_levels;
    iris_resblock mid1, mid2;
    iris_tensor *an_w, *an_b;  /* mid attention group norm */
    iris_mha_weights attn;     /* single-head self-attention over the pixels */
    iris_tensor *norm_w, *norm_b, *out_w, *out_b;
} iris_vae_coder;

typedef struct iris_vae {
    iris_vae_coder enc, dec;
    int has_encoder;
    int latent_ch, image_ch, factor; /* factor: image side / latent side (8) */
    float scale;                     /* 0.18215 for SD 1.x / 2.x */
    iris_tensor *quant_w, *quant_b, *post_w, *post_b;
} iris_vae;

/* Canonical names under w's prefix ("first_stage_model."). The encoder is optional (txt2img). */
iris_status iris_vae_load(iris_vae *v, iris_weights *w, float scale);
void iris_vae_free(iris_vae *v);

/* latent [B, 4, h, w] -> image [B, 3, 8h, 8w] */
iris_tensor *iris_vae_decode(iris_ctx *ctx, const iris_vae *v, const iris_tensor *latent);
/* image [B, 3, H, W] in [-1, 1] -> scaled posterior mean [B, 4, H/8, W/8]; logvar optional out */
iris_tensor *iris_vae_encode(iris_ctx *ctx, const iris_vae *v, const iris_tensor *image, iris_tensor **logvar);

#endif
