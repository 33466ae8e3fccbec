/* sampler.h - noise schedules and the k-diffusion samplers.

   A sampler sees only a denoiser: given the noisy latent x at noise level sigma it returns the
   model's estimate of the clean latent. Guidance, epsilon/v parameterisation and the UNet live
   in the denoiser (diffusion/denoiser.c); the samplers never know which model they drive.

       float sigmas[21];
       iris_sd_schedule_sigmas(IRIS_SCHEDULE_DISCRETE, alphas_cumprod, 1000, 20, sigmas); // 20 + final 0
       for (i...) x[i] = noise[i] * sigmas[0];
       iris_sample(IRIS_SAMPLER_EULER_A, &den, x, n, sigmas, 20, &rng, &cb);
*/
#ifndef IRIS_SAMPLER_H
#define IRIS_SAMPLER_H

#include <stdint.h>

#include "../core/error.h"
#include "rng.h"

typedef enum iris_sampler_kind {
    IRIS_SAMPLER_EULER = 0,
    IRIS_SAMPLER_EULER_A,
    IRIS_SAMPLER_HEUN,
    IRIS_SAMPLER_DPM2,
    IRIS_SAMPLER_DPMPP_2S_A,
    IRIS_SAMPLER_DPMPP_2M,
    IRIS_SAMPLER_DDIM,
    IRIS_SAMPLER_LCM,
    IRIS_SAMPLER_COUNT
} iris_sampler_kind;

typedef enum iris_schedule_kind {
    IRIS_SCHEDULE_DISCRETE = 0,
    IRIS_SCHEDULE_KARRAS,
    IRIS_SCHEDULE_EXPONENTIAL,
    IRIS_SCHEDULE_COUNT
} iris_schedule_kind;

/* The denoiser: denoised = D(x, sigma) over n floats. Returns a status (a model error, or
   IRIS_ERR_CANCELLED when an abort was requested). */
typedef struct iris_denoiser {
    iris_status (*fn)(void *user, const float *x, float sigma, float *denoised, int64_t n);
    void *user;
} iris_denoiser;

/* Called after each step i (0-based) of n_steps with the current x; nonzero return cancels. */
typedef struct iris_sample_callback {
    int (*fn)(void *user, int step, int n_steps, const float *x, int64_t n);
    void *user;
} iris_sample_callback;

/* Names as AUTOMATIC1111 writes them in PNG parameters ("Euler a", "DPM++ 2M", ...), and the
   short CLI names ("euler_a", "dpmpp_2m", ...). Parsers return -1 for an unknown name. */
const char *iris_sampler_a1111_name(iris_sampler_kind k);
const char *iris_sampler_cli_name(iris_sampler_kind k);
int iris_sampler_from_name(const char *name); /* accepts either form, case-insensitive */
const char *iris_schedule_cli_name(iris_schedule_kind k); /* "discrete", "karras", "exponential" */
int iris_schedule_from_name(const char *name);

/* The model's discrete sigmas from its alphas_cumprod: sigma_t = sqrt((1 - a_t) / a_t). */
void iris_sigmas_from_alphas(const float *alphas_cumprod, int n_train, float *sigmas_out);
/* Sigma to a fractional timestep by interpolation in log-sigma space (k-diffusion's
   DiscreteSchedule.sigma_to_t); train_sigmas ascending, n_train values. */
float iris_sigma_to_t(const float *train_sigmas, int n_train, float sigma);
float iris_t_to_sigma(const float *train_sigmas, int n_train, float t);
/* steps + 1 sigmas, descending, the last 0. discrete: timesteps evenly spaced from n_train-1 to
   0 (k-diffusion get_sigmas); karras/exponential between the model's sigma_min and sigma_max. */
iris_status iris_schedule_sigmas(iris_schedule_kind k, const float *train_sigmas, int n_train, int steps,
                                 float *sigmas_out);

/* Runs `steps` steps from x (already scaled to sigmas[0]) down to sigmas[steps] (0), in place.
   Ancestral samplers (Euler a, DPM++ 2S a, and LCM's renoising) draw per-step noise from rng
   with iris_rng_randn(n), as A1111 / stable-diffusion.cpp do. eta: ancestral eta (1 default). */
iris_status iris_sample(iris_sampler_kind k, const iris_denoiser *d, float *x, int64_t n, const float *sigmas,
                        int steps, iris_rng *rng, float eta, const iris_sample_callback *cb);

/* Denoiser evaluations a sampler makes for `steps` steps (Heun/DPM2/2S: two per step except
   the last), for progress bars. */
int iris_sampler_evals(iris_sampler_kind k, int steps);

#endif
