/* transformer.h - the CLIP transformer block (pre-norm attention + MLP), shared by the text
   encoders of Stable Diffusion and the vision towers of the captioner.

       x = x + attn(ln_1(x))      multi-head self-attention, causal for text
       x = x + mlp(ln_2(x))       fc1 -> act (quick-GELU for OpenAI CLIP, GELU for OpenCLIP) -> fc2
*/
#ifndef IRIS_CLIP_TRANSFORMER_H
#define IRIS_CLIP_TRANSFORMER_H

#include "../core/ops.h"
#include "../core/weights.h"
#include "mha.h"

typedef struct iris_clip_layer {
    iris_tensor *ln1_w, *ln1_b;             /* [D] */
    iris_mha_weights attn;                  /* [D, D] projections with biases */
    iris_tensor *ln2_w, *ln2_b;             /* [D] */
    iris_tensor *fc1_w, *fc1_b;             /* [F, D], [F] */
    iris_tensor *fc2_w, *fc2_b;             /* [D, F], [D] */
} iris_clip_layer;

typedef struct iris_clip_tower {
    int dim, n_layers, n_heads, ffn;
    iris_act act;
    float eps;                /* layer norm epsilon, 1e-5 */
    iris_clip_layer *layers;  /* n_layers */
} iris_clip_tower;

/* Layers [0, n_run) of the tower over x [B, L, D]; causal masks future positions (text). */
iris_tensor *iris_clip_tower_forward(iris_ctx *ctx, const iris_clip_tower *t, const iris_tensor *x, int n_run,
                                     int causal);

/* Loads layer weights named in Hugging Face's CLIPEncoder layout under `prefix`
   ("<prefix>layers.N.self_attn.q_proj.weight", ...), n_layers of width dim. */
iris_status iris_clip_tower_load_hf(iris_clip_tower *t, iris_weights *w, const char *prefix);
/* The same from OpenCLIP's layout ("<prefix>resblocks.N.attn.in_proj_weight" fused q/k/v, ...). */
iris_status iris_clip_tower_load_openclip(iris_clip_tower *t, iris_weights *w, const char *prefix);
void iris_clip_tower_free(iris_clip_tower *t);

#endif
