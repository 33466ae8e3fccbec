/* minigptv2_proj.c - MiniGPT-v2's projector (projector type "minigptv2"): the tower's patch tokens,
   after ln_vision and without the class token, taken four at a time in raster order and concatenated
   (minigpt_v2.py: image_embeds.view(bs, pn / 4, hs * 4)), then one linear layer, llama_proj, to the
   language model's width. Four neighbours along a row of the patch grid, not a 2x2 square. */
#include "llava_impl.h"

iris_tensor *iris_minigptv2_project(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *features) {
    if (!features) return NULL;
    const int64_t D = v->info.width, N = v->info.n_patches;
    if (features->ndim != 3 || features->ne[1] != N || features->ne[2] != D)
        return iris_ctx_fail(ctx, IRIS_ERR_SHAPE, "minigptv2 projector: features must be [T, %lld, %lld]", (long long)N,
                             (long long)D);
    const int64_t T = features->ne[0];
    iris_tensor *x = iris_is_contiguous(features) ? (iris_tensor *)features : iris_copy(ctx, features, IRIS_F32);
    x = iris_reshape(ctx, x, 3, (int64_t[]){T, N / 4, 4 * D}); /* row r = tokens 4r .. 4r + 3 side by side */
    return iris_linear(ctx, x, v->proj_w, v->proj_b);
}
