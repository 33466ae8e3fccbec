/* llava.c - one image to the rows the language model reads: preprocess, encode, project (by the
   file's projector kind), pack. */
#include <stdlib.h>

#include "llava_impl.h"

iris_tensor *iris_llava_project(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *features) {
    return v->kind == IRIS_PROJ_MINIGPTV2 ? iris_minigptv2_project(ctx, v, features)
                                          : iris_llava_mlp_project(ctx, v, features);
}

iris_status iris_llava_embed(iris_ctx *ctx, const iris_llava_vision *v, const iris_image *img, float **rows,
                             int *n_rows) {
    *rows = NULL, *n_rows = 0;
    iris_llava_pixels px;
    iris_status st = iris_llava_preprocess(v, img, &px);
    if (st) return st;
    const int64_t T = px.n_tiles, S = px.size, N = v->info.n_tokens, E = v->info.n_embd;
    int n_max = iris_llava_n_rows(v, img->w, img->h);
    float *proj = malloc((size_t)(T * N * E) * sizeof *proj), *out = malloc((size_t)n_max * E * sizeof *out);
    iris_mark m = iris_ctx_mark(ctx);
    iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 4, (int64_t[]){T, 3, S, S}, px.data);
    x = iris_llava_project(ctx, v, iris_llava_encode(ctx, v, x));
    if (!proj || !out) st = iris_fail(IRIS_ERR_NOMEM, "llava: out of memory");
    else if ((st = iris_ctx_status(ctx)) == IRIS_OK && x)
        st = iris_tensor_read(x, proj, (size_t)(T * N * E) * sizeof *proj);
    else if (!st) st = iris_fail(IRIS_ERR_ARG, "llava: the vision pass gave no output");
    iris_ctx_release(ctx, m);
    if (!st) st = iris_llava_pack(v, &px, proj, out, n_rows);
    iris_llava_pixels_free(&px);
    free(proj);
    if (st) {
        free(out);
        *n_rows = 0;
        return st;
    }
    *rows = out;
    return IRIS_OK;
}
