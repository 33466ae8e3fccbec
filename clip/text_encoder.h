/* text_encoder.h - CLIP text encoders: OpenAI ViT-L/14 (SD 1.x, Hugging Face names) and
   OpenCLIP ViT-H/14 (SD 2.x, OpenCLIP names). Token + position embeddings, a causal CLIP
   tower, the final layer norm. */
#ifndef IRIS_CLIP_TEXT_ENCODER_H
#define IRIS_CLIP_TEXT_ENCODER_H

#include "transformer.h"

typedef struct iris_clip_text {
    iris_clip_tower tower;
    int n_ctx, vocab;
    iris_tensor *tok_emb;            /* [vocab, D] */
    iris_tensor *pos_emb;            /* [n_ctx, D] */
    iris_tensor *final_ln_w, *final_ln_b;
} iris_clip_text;

/* Hugging Face CLIPTextModel names under prefix ("cond_stage_model.transformer.text_model." in
   SD 1.x checkpoints, "text_model." in diffusers' text_encoder/). act: quick-GELU for OpenAI CLIP;
   n_heads 0 = width / 64. */
iris_status iris_clip_text_load_hf(iris_clip_text *m, iris_weights *w, const char *prefix, iris_act act, int n_heads);
/* OpenCLIP names under prefix ("cond_stage_model.model."), GELU. */
iris_status iris_clip_text_load_openclip(iris_clip_text *m, iris_weights *w, const char *prefix, int n_heads);
void iris_clip_text_free(iris_clip_text *m);

/* ids I32 [B, n_ctx] -> hidden states [B, n_ctx, D] after `n_layers` layers (the last layer for
   SD 1.x, one fewer for SD 2.x and for clip skip 2), then the final layer norm. */
iris_tensor *iris_clip_text_forward(iris_ctx *ctx, const iris_clip_text *m, const iris_tensor *ids, int n_layers);

#endif
