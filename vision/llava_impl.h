/* llava_impl.h - what the LLaVA vision files share: the loaded model (private to vision/llava_*.c,
   vision/minigptv2_proj.c and vision/mmproj.c). */
#ifndef IRIS_LLAVA_IMPL_H
#define IRIS_LLAVA_IMPL_H

#include "../clip/transformer.h"
#include "../core/gguf.h"
#include "llava.h"

#define IRIS_LLAVA_MAX_PINPOINTS 64

/* The projector kinds (clip.projector_type), one file each. */
typedef enum { IRIS_PROJ_MLP, IRIS_PROJ_MINIGPTV2 } iris_proj_kind;

struct iris_llava_vision {
    iris_llava_vision_info info;
    int pinpoints[IRIS_LLAVA_MAX_PINPOINTS][2]; /* (height, width) */
    char projector[32];
    iris_proj_kind kind;
    iris_clip_tower tower;                 /* only the layers up to the feature layer */
    iris_tensor *patch_w, *patch_b;        /* [D, 3, P, P], [D] or NULL */
    iris_tensor *class_embd;               /* [D] */
    iris_tensor *pos_embd;                 /* [N + 1, D] */
    iris_tensor *pre_ln_w, *pre_ln_b;      /* [D]; NULL for EVA (minigptv2), which has no pre-norm */
    iris_tensor *mm0_w, *mm0_b;            /* mlp: [H, D], [H] */
    iris_tensor *mm2_w, *mm2_b;            /* mlp: [E, H], [E] */
    iris_tensor *ln_vision_w, *ln_vision_b; /* minigptv2: [D], the LayerNorm after the tower */
    float ln_vision_eps;
    iris_tensor *proj_w, *proj_b;          /* minigptv2: llama_proj [E, 4D], [E] */
    float *newline;                        /* [E] on the host (1.6), else NULL */
    iris_device device;
    iris_gguf gguf;
    iris_tensor **owned;
    int n_owned, cap_owned;
};

/* features [T, N, D] -> [T, n_tokens, E], one per projector kind. */
iris_tensor *iris_llava_mlp_project(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *features);
iris_tensor *iris_minigptv2_project(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *features);

/* LLaVA 1.6's grid for a w x h photo: transformers' select_best_resolution over the pinpoints. */
void iris_llava_best_resolution(const iris_llava_vision *v, int w, int h, int *best_h, int *best_w);

#endif
