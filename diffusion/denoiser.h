/* denoiser.h - wraps the SD UNet as the denoiser the samplers call (see denoiser.c). */
#ifndef IRIS_SD_DENOISER_H
#define IRIS_SD_DENOISER_H

#include "sd_internal.h"

typedef struct iris_sd_denoiser {
    iris_denoiser fn;               /* what iris_sample takes */
    iris_sd *sd;
    int64_t c, h, w;                /* latent shape */
    float cfg;                      /* 1: conditional pass only */
    const float *cond, *uncond;     /* contexts on the host, n_cond / n_uncond tokens */
    int n_cond, n_uncond;
    float *x_in, *pred;             /* scratch */
    int evals;
} iris_sd_denoiser;

iris_status iris_sd_denoiser_init(iris_sd_denoiser *d, iris_sd *sd, int64_t c, int64_t h, int64_t w, float cfg,
                                  const float *cond, int n_cond, const float *uncond, int n_uncond);
void iris_sd_denoiser_free(iris_sd_denoiser *d);

#endif
