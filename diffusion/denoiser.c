/* denoiser.c - the UNet as a k-diffusion denoiser: sigma -> timestep, input scaling, the eps or v
   parameterisation, and classifier-free guidance with both passes in one UNet call.

       c_in = 1 / sqrt(sigma^2 + 1),  t = sigma_to_t(sigma)
       eps:  D(x) = x - sigma * eps(c_in x, t)
       v:    D(x) = x / (sigma^2 + 1) - sigma / sqrt(sigma^2 + 1) * v(c_in x, t)
       CFG:  D = D_uncond + cfg * (D_cond - D_uncond)
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "denoiser.h"

/* One UNet call over `batch` copies of x_in with the given contexts (each n_tok x D floats). */
static iris_status unet_pass(iris_sd_denoiser *d, const float *x_in, int64_t n, float t, const float *const *ctxs,
                             int batch, int n_tok, float *out) {
    iris_sd *sd = d->sd;
    iris_ctx *ctx = sd->ctx;
    const int64_t D = sd->text.tower.dim;
    iris_ctx_reset(ctx);
    iris_tensor *x = iris_ctx_tensor(ctx, IRIS_F32, 4, (int64_t[]){batch, d->c, d->h, d->w});
    iris_tensor *c = iris_ctx_tensor(ctx, IRIS_F32, 3, (int64_t[]){batch, n_tok, D});
    if (!x || !c) return iris_ctx_status(ctx);
    for (int b = 0; b < batch; b++) {
        iris_status st = iris_tensor_write(iris_narrow(ctx, x, 0, b, 1), x_in, (size_t)n * sizeof(float));
        if (!st) st = iris_tensor_write(iris_narrow(ctx, c, 0, b, 1), ctxs[b], (size_t)(n_tok * D) * sizeof(float));
        if (st) return st;
    }
    float ts[2] = {t, t};
    iris_tensor *y = iris_unet_forward(ctx, &sd->unet, x, ts, c);
    iris_status st = iris_ctx_status(ctx);
    if (!st) st = iris_tensor_read(y, out, (size_t)(batch * n) * sizeof(float));
    return st;
}

static iris_status denoise(void *user, const float *x, float sigma, float *out, int64_t n) {
    iris_sd_denoiser *d = user;
    iris_sd *sd = d->sd;
    if (n != d->c * d->h * d->w) return iris_fail(IRIS_ERR_ARG, "denoiser: got %lld values, want %lld", (long long)n,
                                                 (long long)(d->c * d->h * d->w));
    float c_in = 1.0f / sqrtf(sigma * sigma + 1.0f);
    float t = iris_sigma_to_t(sd->train_sigmas, IRIS_SD_TRAIN_STEPS, sigma);
    for (int64_t i = 0; i < n; i++) d->x_in[i] = x[i] * c_in;
    iris_status st;
    int guided = d->cfg != 1.0f;
    if (!guided) {
        st = unet_pass(d, d->x_in, n, t, (const float *const[]){d->cond}, 1, d->n_cond, d->pred);
    } else if (d->n_cond == d->n_uncond) {
        st = unet_pass(d, d->x_in, n, t, (const float *const[]){d->uncond, d->cond}, 2, d->n_cond, d->pred);
    } else { /* different prompt lengths: two calls, as A1111 does without pad_cond_uncond */
        st = unet_pass(d, d->x_in, n, t, (const float *const[]){d->uncond}, 1, d->n_uncond, d->pred);
        if (!st) st = unet_pass(d, d->x_in, n, t, (const float *const[]){d->cond}, 1, d->n_cond, d->pred + n);
    }
    if (st) return st;
    const float *u = d->pred, *c = guided ? d->pred + n : d->pred;
    int v = sd->info.prediction == IRIS_SD_PRED_V;
    float s2 = sigma * sigma + 1.0f, c_skip = v ? 1.0f / s2 : 1.0f, c_out = v ? -sigma / sqrtf(s2) : -sigma;
    for (int64_t i = 0; i < n; i++) {
        float m = guided ? u[i] + d->cfg * (c[i] - u[i]) : c[i];
        out[i] = x[i] * c_skip + m * c_out;
    }
    d->evals++;
    return IRIS_OK;
}

iris_status iris_sd_denoiser_init(iris_sd_denoiser *d, iris_sd *sd, int64_t c, int64_t h, int64_t w, float cfg,
                                  const float *cond, int n_cond, const float *uncond, int n_uncond) {
    memset(d, 0, sizeof *d);
    d->sd = sd;
    d->c = c, d->h = h, d->w = w;
    d->cfg = cfg;
    d->cond = cond, d->n_cond = n_cond;
    d->uncond = uncond, d->n_uncond = n_uncond;
    int64_t n = c * h * w;
    d->x_in = malloc((size_t)n * sizeof(float));
    d->pred = malloc((size_t)(2 * n) * sizeof(float));
    if (!d->x_in || !d->pred) {
        iris_sd_denoiser_free(d);
        return iris_fail(IRIS_ERR_NOMEM, "denoiser: out of memory");
    }
    d->fn.fn = denoise;
    d->fn.user = d;
    return IRIS_OK;
}

void iris_sd_denoiser_free(iris_sd_denoiser *d) {
    free(d->x_in);
    free(d->pred);
    d->x_in = d->pred = NULL;
}
