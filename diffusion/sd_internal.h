/* sd_internal.h - what an iris_sd holds; shared by the files of diffusion/ only. */
#ifndef IRIS_SD_INTERNAL_H
#define IRIS_SD_INTERNAL_H

#include "../clip/text_encoder.h"
#include "../clip/tokenizer.h"
#include "../unet/unet.h"
#include "../vae/vae.h"
#include "sd.h"

#define IRIS_SD_TRAIN_STEPS 1000

struct iris_sd {
    iris_sd_info info;
    char name[256];
    iris_device device;
    iris_ctx *ctx;
    iris_weights w_text, w_unet, w_vae;
    iris_clip_text text;
    int clip_skip_default;   /* A1111's "Clip skip": 1 (last layer) for SD 1.x, 2 (penultimate) for SD 2.x */
    int text_dropped;        /* layers the file left out: diffusers' SD 2.x text encoders keep 23 of 24 */
    int32_t pad_id;          /* after the first EOS: EOS (SD 1.x) or 0 (OpenCLIP) */
    iris_clip_tokenizer *tok;
    iris_unet unet;
    iris_vae vae;
    float train_sigmas[IRIS_SD_TRAIN_STEPS]; /* ascending */
    int verbose;
    float vae_scale;
    int df_layers, df_vae_levels; /* diffusers folders: what their renames need */
    char tok_path[1024];          /* diffusers folders: their tokenizer/ */
};

/* Conditioning of a prompt: [1, 77 * chunks, D] on the host (malloc'd). */
iris_status iris_sd_encode_prompt(iris_sd *sd, const char *prompt, int clip_skip, float **out, int *n_tokens);
/* The same from tokenized chunks (ids and emphasis weights). */
iris_status iris_sd_encode_chunks(iris_sd *sd, const iris_clip_chunks *c, int clip_skip, float **out, int *n_tokens);
/* Prompts, noise and the sampler: the final latent into x ([C, H/8, W/8]); z0 the encoded init
   image for img2img, or NULL. */
iris_status iris_sd_sample_latent(iris_sd *sd, const iris_sd_params *p, int W, int H, const float *z0, float *x);
/* Diffusers folder names for the canonical (original checkpoint) ones. */
const char *iris_sd_diffusers_unet_name(void *layers_per_block, const char *name, char *buf, size_t n);
const char *iris_sd_diffusers_vae_name(void *n_levels, const char *name, char *buf, size_t n);

#endif
