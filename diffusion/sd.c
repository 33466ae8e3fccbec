/* sd.c - one generation: prompts to contexts, noise, the sampler over the denoiser, the VAE.
   img2img follows AUTOMATIC1111: of `steps` steps only the last int(strength * steps) + 1 run,
   starting from the encoded image noised to that step's sigma. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "denoiser.h"
#include "sd_internal.h"

iris_sd_params iris_sd_default_params(void) {
    iris_sd_params p = {0};
    p.steps = 20;
    p.cfg = 7.0f;
    p.sampler = IRIS_SAMPLER_EULER_A;
    p.schedule = IRIS_SCHEDULE_DISCRETE;
    p.rng = IRIS_RNG_CUDA;
    p.eta = 1.0f;
    p.strength = 0.75f;
    return p;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void stage(const iris_sd *sd, const iris_sd_params *p, const char *name, int index, double t0) {
    if (p->on_stage) p->on_stage(p->stage_user, name, index, now() - t0, iris_ctx_peak_bytes(sd->ctx));
}

typedef struct {
    iris_sd *sd;
    const iris_sd_params *p;
    double t_step;
    int total; /* steps this run takes (img2img: fewer than params.steps) */
} step_state;

static int on_step(void *user, int step, int n_steps, const float *x, int64_t n) {
    (void)x, (void)n, (void)n_steps;
    step_state *s = user;
    stage(s->sd, s->p, "step", step, s->t_step);
    s->t_step = now();
    return s->p->progress ? s->p->progress(s->p->progress_user, step, s->total) : 0;
}

/* RGB u8 image (w x h) -> [1, 3, h, w] in [-1, 1] */
static iris_status image_to_latent(iris_sd *sd, const iris_sd_params *p, int W, int H, float *latent) {
    iris_image rgb = {0}, sized = {0};
    iris_status st = iris_image_convert(&rgb, p->init_image, 3);
    if (!st) st = iris_image_resize(&sized, &rgb, W, H, IRIS_RESIZE_BICUBIC);
    iris_image_free(&rgb);
    if (st) return st;
    float *x = malloc((size_t)3 * W * H * sizeof *x);
    if (!x) {
        iris_image_free(&sized);
        return iris_fail(IRIS_ERR_NOMEM, "img2img: out of memory");
    }
    for (int c = 0; c < 3; c++)
        for (int64_t i = 0; i < (int64_t)W * H; i++) x[c * (int64_t)W * H + i] = sized.data[i * 3 + c] / 127.5f - 1.0f;
    iris_image_free(&sized);
    iris_ctx_reset(sd->ctx);
    iris_tensor *img = iris_ctx_upload(sd->ctx, IRIS_F32, 4, (int64_t[]){1, 3, H, W}, x);
    free(x);
    iris_tensor *z = iris_vae_encode(sd->ctx, &sd->vae, img, NULL);
    st = iris_ctx_status(sd->ctx);
    if (!st) st = iris_tensor_read(z, latent, iris_nbytes(z));
    return st;
}

/* latent -> RGB u8, (x + 1) / 2 clamped and scaled by 255, truncated, as A1111 and sd.cpp store it */
static iris_status latent_to_image(iris_sd *sd, const float *latent, int64_t c, int64_t h, int64_t w, iris_image *out) {
    iris_ctx_reset(sd->ctx);
    iris_tensor *z = iris_ctx_upload(sd->ctx, IRIS_F32, 4, (int64_t[]){1, c, h, w}, latent);
    iris_tensor *img = iris_vae_decode(sd->ctx, &sd->vae, z);
    iris_status st = iris_ctx_status(sd->ctx);
    if (st) return st;
    int64_t H = img->ne[2], W = img->ne[3], plane = H * W;
    float *px = malloc((size_t)(3 * plane) * sizeof *px);
    if (!px) return iris_fail(IRIS_ERR_NOMEM, "vae: out of memory");
    st = iris_tensor_read(img, px, (size_t)(3 * plane) * sizeof *px);
    if (!st) st = iris_image_alloc(out, (int)W, (int)H, 3);
    if (!st)
        for (int64_t i = 0; i < plane; i++)
            for (int k = 0; k < 3; k++) {
                float v = (px[k * plane + i] + 1.0f) * 0.5f;
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                out->data[i * 3 + k] = (uint8_t)(v * 255.0f);
            }
    free(px);
    return st;
}

static iris_status check_params(const iris_sd *sd, const iris_sd_params *p, int W, int H) {
    int down = sd->vae.factor;
    for (int i = 0; i < sd->unet.n_in; i++) down *= sd->unet.in[i].down_w ? 2 : 1;
    if (W < 8 || H < 8 || W % 8 || H % 8 || W > 8192 || H > 8192)
        return iris_fail(IRIS_ERR_ARG, "size %dx%d: width and height must be multiples of 8 between 8 and 8192", W, H);
    if (W % down || H % down)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "size %dx%d: this model needs multiples of %d", W, H, down);
    if (p->steps < 1 || p->steps > 10000) return iris_fail(IRIS_ERR_ARG, "steps %d: must be 1..10000", p->steps);
    if (!isfinite(p->cfg) || p->cfg < 0 || p->cfg > 100) return iris_fail(IRIS_ERR_ARG, "cfg %g: must be 0..100", (double)p->cfg);
    if ((int)p->sampler < 0 || p->sampler >= IRIS_SAMPLER_COUNT) return iris_fail(IRIS_ERR_ARG, "unknown sampler %d", (int)p->sampler);
    if ((int)p->schedule < 0 || p->schedule >= IRIS_SCHEDULE_COUNT)
        return iris_fail(IRIS_ERR_ARG, "unknown schedule %d", (int)p->schedule);
    if (p->init_image && (!(p->strength > 0) || p->strength > 1))
        return iris_fail(IRIS_ERR_ARG, "strength %g: must be in (0, 1]", (double)p->strength);
    if (p->clip_skip < 0 || p->clip_skip > sd->text.tower.n_layers)
        return iris_fail(IRIS_ERR_ARG, "clip skip %d: this text encoder has %d layers", p->clip_skip, sd->text.tower.n_layers);
    return IRIS_OK;
}

/* The sampling part of a generation: prompts, noise, sampler; z0 (the encoded init image) for
   img2img or NULL. x gets the final latent [C, H/8, W/8]. */
iris_status iris_sd_sample_latent(iris_sd *sd, const iris_sd_params *p, int W, int H, const float *z0, float *x) {
    iris_status st = check_params(sd, p, W, H);
    if (st) return st;
    const int64_t C = sd->unet.in_ch, h = H / sd->vae.factor, w = W / sd->vae.factor, n = C * h * w;
    double t0 = now();
    float *cond = NULL, *uncond = NULL, *sigmas = NULL;
    int n_cond = 0, n_uncond = 0;
    st = iris_sd_encode_prompt(sd, p->prompt, p->clip_skip, &cond, &n_cond);
    if (!st && p->cfg != 1.0f) st = iris_sd_encode_prompt(sd, p->negative, p->clip_skip, &uncond, &n_uncond);
    iris_weights_release_pages(&sd->w_text);
    stage(sd, p, "text", 0, t0);
    sigmas = malloc((size_t)(p->steps + 1) * sizeof *sigmas);
    if (!st && !sigmas) st = iris_fail(IRIS_ERR_NOMEM, "generate: out of memory");
    if (!st) st = iris_schedule_sigmas(p->schedule, sd->train_sigmas, IRIS_SD_TRAIN_STEPS, p->steps, sigmas);
    int first = 0, steps = p->steps;
    if (z0) {
        int t_enc = (int)(fminf(p->strength, 0.999f) * (float)p->steps);
        first = p->steps - t_enc - 1;
        steps = t_enc + 1;
    }
    iris_rng rng;
    iris_rng_init(&rng, p->rng, p->seed);
    if (!st) {
        iris_rng_randn(&rng, x, n);
        for (int64_t i = 0; i < n; i++) x[i] = (z0 ? z0[i] : 0.0f) + x[i] * sigmas[first];
    }
    iris_sd_denoiser den;
    int have_den = 0;
    if (!st) have_den = !(st = iris_sd_denoiser_init(&den, sd, C, h, w, p->cfg, cond, n_cond, uncond, n_uncond));
    if (!st) {
        step_state ss = {sd, p, now(), steps};
        iris_sample_callback cb = {on_step, &ss};
        st = iris_sample(p->sampler, &den.fn, x, n, sigmas + first, steps, &rng, p->eta, &cb);
    }
    if (have_den) iris_sd_denoiser_free(&den);
    free(cond);
    free(uncond);
    free(sigmas);
    return st;
}

iris_status iris_sd_generate(iris_sd *sd, const iris_sd_params *p, iris_image *out) {
    memset(out, 0, sizeof *out);
    int W = p->width ? p->width : sd->info.native_size, H = p->height ? p->height : sd->info.native_size;
    iris_status st = check_params(sd, p, W, H);
    if (st) return st;
    const int64_t C = sd->unet.in_ch, h = H / sd->vae.factor, w = W / sd->vae.factor, n = C * h * w;
    float *x = malloc((size_t)n * sizeof *x), *z0 = NULL;
    if (!x) return iris_fail(IRIS_ERR_NOMEM, "generate: out of memory");
    if (p->init_image) {
        double t0 = now();
        z0 = malloc((size_t)n * sizeof *z0);
        st = z0 ? image_to_latent(sd, p, W, H, z0) : iris_fail(IRIS_ERR_NOMEM, "img2img: out of memory");
        stage(sd, p, "vae-encode", 0, t0);
    }
    if (!st) st = iris_sd_sample_latent(sd, p, W, H, z0, x);
    iris_weights_release_pages(&sd->w_unet); /* the VAE's activations take their place */
    if (!st) {
        double t0 = now();
        st = latent_to_image(sd, x, C, h, w, out);
        stage(sd, p, "vae-decode", 0, t0);
    }
    free(x);
    free(z0);
    iris_ctx_reset(sd->ctx);
    return st;
}
