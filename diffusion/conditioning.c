/* conditioning.c - a prompt to the UNet's context: A1111 chunks through the text encoder, each
   chunk's emphasis applied to its hidden states with the chunk's mean restored (A1111 keeps the
   overall magnitude so that emphasis shifts attention rather than scaling everything). */
#include <stdlib.h>
#include <string.h>

#include "sd_internal.h"

iris_status iris_sd_encode_prompt(iris_sd *sd, const char *prompt, int clip_skip, float **out, int *n_tokens) {
    *out = NULL;
    *n_tokens = 0;
    iris_clip_chunks c;
    iris_status st = iris_clip_prompt_chunks(sd->tok, prompt ? prompt : "", sd->pad_id, &c);
    if (st) return st;
    st = iris_sd_encode_chunks(sd, &c, clip_skip, out, n_tokens);
    iris_clip_chunks_free(&c);
    return st;
}

iris_status iris_sd_encode_chunks(iris_sd *sd, const iris_clip_chunks *cp, int clip_skip, float **out, int *n_tokens) {
    const iris_clip_chunks c = *cp;
    iris_status st = IRIS_OK;
    *out = NULL;
    *n_tokens = 0;
    /* clip skip counts from the end of the original tower, which a file may have cut short */
    int skip = clip_skip > 0 ? clip_skip : sd->clip_skip_default;
    int layers = sd->text.tower.n_layers + sd->text_dropped - (skip - 1);
    if (layers > sd->text.tower.n_layers) layers = sd->text.tower.n_layers;
    if (layers < 1) layers = 1;
    const int64_t L = IRIS_CLIP_CTX, D = sd->text.tower.dim;
    float *h = malloc((size_t)(c.n_chunks * L * D) * sizeof *h);
    if (!h) return iris_fail(IRIS_ERR_NOMEM, "prompt: out of memory");
    for (int k = 0; k < c.n_chunks && !st; k++) {
        iris_ctx_reset(sd->ctx);
        iris_tensor *ids = iris_ctx_upload(sd->ctx, IRIS_I32, 2, (int64_t[]){1, L}, c.ids + k * L);
        iris_tensor *y = iris_clip_text_forward(sd->ctx, &sd->text, ids, layers);
        float *z = h + k * L * D;
        st = iris_ctx_status(sd->ctx);
        if (!st) st = iris_tensor_read(y, z, (size_t)(L * D) * sizeof *z);
        if (st) break;
        double before = 0, after = 0;
        for (int64_t i = 0; i < L * D; i++) before += z[i];
        for (int64_t t = 0; t < L; t++)
            for (int64_t d = 0; d < D; d++) z[t * D + d] *= c.weights[k * L + t];
        for (int64_t i = 0; i < L * D; i++) after += z[i];
        if (after != 0 && before != after) {
            float r = (float)(before / after);
            for (int64_t i = 0; i < L * D; i++) z[i] *= r;
        }
    }
    if (!st) {
        *out = h;
        *n_tokens = (int)(c.n_chunks * L);
    } else {
        free(h);
    }
    return st;
}
