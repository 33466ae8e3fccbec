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

/* Where one weight layout keeps a layer's tensors: "<prefix><layer_fmt>" with the layer number and a
   part name below (fc1 is the MLP's [F, D] input matrix, fc2 its [D, F] output). q/k/v are either three
   tensors or, where q_w is NULL, consecutive row blocks of one fused [3D, D] qkv_w. A NULL bias name
   means the layout has no such bias (EVA's key projection). */
typedef struct iris_clip_layout {
    const char *layer_fmt; /* "%slayers.%d.%s": prefix, layer, part */
    const char *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const char *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
    const char *qkv_w, *qkv_b;
    const char *o_w, *o_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} iris_clip_layout;

extern const iris_clip_layout iris_clip_layout_hf;        /* Hugging Face CLIPEncoder: layers.N.self_attn.q_proj.weight */
extern const iris_clip_layout iris_clip_layout_openclip;  /* OpenCLIP: resblocks.N.attn.in_proj_weight (fused) */
extern const iris_clip_layout iris_clip_layout_gguf;      /* llama.cpp's mmproj: blk.N.attn_q.weight, ffn_up = fc1 */
extern const iris_clip_layout iris_clip_layout_gguf_swapped; /* its legacy converter: fc1 stored as ffn_down */
extern const iris_clip_layout iris_clip_layout_gguf_eva;  /* EVA ViT (MiniGPT-v2's mmproj): no attn_k.bias */

/* Where a tower's tensors come from (a safetensors weight set, a GGUF file): `get` hands out the
   tensor of a full name with the given shape (a one-line error naming the file otherwise), `rows` a
   view of rows of one it handed out (only needed by fused layouts). */
typedef struct iris_clip_source {
    void *user;
    iris_status (*get)(void *user, const char *name, int ndim, const int64_t *shape, iris_tensor **out);
    iris_status (*rows)(void *user, const iris_tensor *t, int64_t row0, int64_t rows, iris_tensor **out);
    const char *path; /* for messages */
} iris_clip_source;

/* n_layers layers of width dim (dim, n_layers, n_heads, ffn set by the caller) in layout l under prefix. */
iris_status iris_clip_tower_load(iris_clip_tower *t, const iris_clip_layout *l, const iris_clip_source *src,
                                 const char *prefix);
/* The same from a safetensors weight set in Hugging Face's or OpenCLIP's layout. */
iris_status iris_clip_tower_load_hf(iris_clip_tower *t, iris_weights *w, const char *prefix);
iris_status iris_clip_tower_load_openclip(iris_clip_tower *t, iris_weights *w, const char *prefix);
void iris_clip_tower_free(iris_clip_tower *t);

#endif
