/* llava_impl.h - what the LLaVA vision files share: the loaded model (private to vision/llava_*.c
   and vision/mmproj.c). */
#ifndef IRIS_LLAVA_IMPL_H
#define IRIS_LLAVA_IMPL_H

#include "../clip/transformer.h"
#include "../core/gguf.h"
#include "llava.h"

#define IRIS_LLAVA_MAX_PINPOINTS 64

struct iris_llava_vision {
    iris_llava_vision_info info;
    int pinpoints[IRIS_LLAVA_MAX_PINPOINTS][2]; /* (height, width) */
    char projector[32];
    iris_clip_tower tower;                 /* only the layers up to the feature layer */
    iris_tensor *patch_w, *patch_b;        /* [D, 3, P, P], [D] or NULL */
    iris_tensor *class_embd;               /* [D] */
    iris_tensor *pos_embd;                 /* [N + 1, D] */
    iris_tensor *pre_ln_w, *pre_ln_b;      /* [D] */
    iris_tensor *mm0_w, *mm0_b;            /* [H, D], [H] */
    iris_tensor *mm2_w, *mm2_b;            /* [E, H], [E] */
    float *newline;                        /* [E] on the host (1.6), else NULL */
    iris_device device;
    iris_gguf gguf;
    iris_tensor **owned;
    int n_owned, cap_owned;
};

/* LLaVA 1.6's grid for a w x h photo: transformers' select_best_resolution over the pinpoints. */
void iris_llava_best_resolution(const iris_llava_vision *v, int w, int h, int *best_h, int *best_w);

#endif
