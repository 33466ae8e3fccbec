/* llava_tower.c - the CLIP vision tower of LLaVA, as transformers' CLIPVisionModel runs it:
   patch embedding (a stride-P convolution), the class token in front, position embeddings,
   pre-layernorm, then the CLIP blocks up to the feature layer; the class token is dropped.
   MiniGPT-v2's EVA ViT-g is the same with two switches (eva_vit.py, minigpt_v2.py encode_img): no
   pre-layernorm, and ln_vision (a LayerNorm) over the last block's output. */
#include <stdlib.h>

#include "llava_impl.h"

iris_tensor *iris_llava_encode(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *pixels) {
    const iris_llava_vision_info *in = &v->info;
    const int64_t S = in->image_size, P = in->patch_size, D = in->width, N = in->n_patches;
    if (!pixels) return NULL;
    if (pixels->dtype != IRIS_F32 || pixels->ndim != 4 || pixels->ne[1] != 3 || pixels->ne[2] != S || pixels->ne[3] != S)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "llava vision: pixels must be f32 [T, 3, %lld, %lld]", (long long)S,
                             (long long)S);
    const int64_t T = pixels->ne[0];
    iris_tensor *x = iris_conv2d(ctx, pixels, v->patch_w, v->patch_b, iris_conv((int)P, 0)); /* [T, D, S/P, S/P] */
    x = iris_permute(ctx, iris_reshape(ctx, x, 3, (int64_t[]){T, D, N}), (const int[]){0, 2, 1}); /* [T, N, D] */
    /* position 0 is the class token: a zero row in front, then cls + pos[0], pos[1..N] added */
    float *zeros = calloc((size_t)(T * D), sizeof *zeros);
    if (!zeros) return iris_ctx_fail(ctx, IRIS_ERR_NOMEM, "llava vision: out of memory");
    iris_tensor *z = iris_ctx_upload(ctx, IRIS_F32, 3, (int64_t[]){T, 1, D}, zeros);
    free(zeros);
    iris_tensor *pos = iris_copy(ctx, v->pos_embd, IRIS_F32);
    iris_tensor *cls = iris_add(ctx, iris_reshape(ctx, v->class_embd, 2, (int64_t[]){1, D}), iris_narrow(ctx, pos, 0, 0, 1));
    iris_tensor *table = iris_concat(ctx, cls, iris_narrow(ctx, pos, 0, 1, N), 0); /* [N + 1, D] */
    x = iris_add(ctx, iris_concat(ctx, z, x, 1), table);
    if (v->pre_ln_w) x = iris_layer_norm(ctx, x, v->pre_ln_w, v->pre_ln_b, v->tower.eps);
    x = iris_clip_tower_forward(ctx, &v->tower, x, v->tower.n_layers, 0);
    if (v->ln_vision_w) x = iris_layer_norm(ctx, x, v->ln_vision_w, v->ln_vision_b, v->ln_vision_eps);
    return iris_copy(ctx, iris_narrow(ctx, x, 1, 1, N), IRIS_F32); /* [T, N, D] without the class token */
}
