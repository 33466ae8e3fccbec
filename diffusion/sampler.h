/* sampler.h - noise schedules and the k-diffusion samplers.

   A sampler sees only a denoiser: given the noisy latent x at noise level sigma it returns the
   model's estimate of the clean latent. Guidance, epsilon/v parameterisation and the UNet live
   in the denoiser (diffusion/denoiser.c); the samplers never know which model they drive.

       float ac[1000], train[1000], sigmas[21];
       iris_sd_alphas_cumprod(ac, 1000);                 // SD 1.x / 2.x training schedule
       iris_sigmas_from_alphas(ac, 1000, train);         // ascending, train[0] ~ 0.029
       iris_schedule_sigmas(IRIS_SCHEDULE_DISCRETE, train, 1000, 20, sigmas); // 20 + final 0
       iris_rng_randn(&rng, x, n);                       // the initial latent, first draw
       for (i...) x[i] *= sigmas[0];
       iris_sample(IRIS_SAMPLER_EULER_A, &den, x, n, sigmas, 20, &rng, 1.0f, &cb);

   The update rules are k-diffusion's (k_diffusion/sampling.py, s_churn 0, s_noise 1), in
   float32 and in the same order of operations, so AUTOMATIC1111, which runs those functions,
   reaches the same latent for the same seed, steps and schedule (stable-diffusion.cpp's ports
   regroup a few expressions: the same to float rounding). Two samplers are not in k-diffusion:
     DDIM  stable-diffusion.cpp's "ddim_trailing": x <- D + sigma_next / sigma * (x - D), which is
           DDIM with eta 0 written in k-diffusion's variables (x = x0 + sigma * eps). Always
           deterministic: eta is ignored. sd.cpp defaults DDIM to its "simple" schedule, which
           iris does not have; with the same --scheduler the images agree. A1111's "DDIM" is
           this update on its own timesteps (1 + i * (1000 / steps), one evaluation fewer than
           steps, ending at t = 1 in the unscaled latent): not expressible as a schedule here.
     LCM   A1111's and sd.cpp's sample_lcm: x <- D(x, sigma), then + sigma_next * fresh noise.
           Both tools pair it with LCM's own 50-timestep schedule (sd.cpp's "lcm" scheduler,
           A1111's LCM denoiser); with the schedules below an LCM model still works but the
           image differs from theirs.
   A1111 defaults to remember when reproducing its images: "DPM2" drops the second-to-last
   sigma (it computes steps + 1 sigmas and removes the penultimate), and its "Automatic"
   schedule type is discrete (k-diffusion's get_sigmas) for these samplers, except that
   A1111 >= 1.9 picks karras for DPM++ 2M, DPM++ 2S a and DPM2.
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
/* either form, or the aliases A1111 (k_euler_a, ...) and sd.cpp (dpm++2m, ddim_trailing, ...)
   accept; case-insensitive. Old A1111 labels with the schedule in them ("DPM++ 2M Karras") are
   not sampler names: split off the schedule first. */
int iris_sampler_from_name(const char *name);
const char *iris_schedule_cli_name(iris_schedule_kind k);   /* "discrete", "karras", "exponential" */
const char *iris_schedule_a1111_name(iris_schedule_kind k); /* "Uniform", "Karras", "Exponential" */
int iris_schedule_from_name(const char *name); /* either form, case-insensitive; -1 if unknown */

/* SD 1.x / 2.x training schedule (ldm's "linear" betas 0.00085 .. 0.012, squared-linspace, in
   float64, cumulative product of 1 - beta), rounded to float as ldm stores it. n = 1000. */
void iris_sd_alphas_cumprod(float *out, int n);

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
   sigmas[0 .. steps-1] must be positive, sigmas[steps] >= 0. Ancestral samplers (Euler a,
   DPM++ 2S a, and LCM's renoising) draw one iris_rng_randn(rng, noise, n) per step whose
   sigmas[i+1] > 0 (also when eta is 0, as k-diffusion does), so the stream stays where A1111 /
   stable-diffusion.cpp have it; the others never touch rng (it may be NULL for them).
   eta: ancestral eta for Euler a and DPM++ 2S a (1 default), ignored by the others.
   Scratch is malloc'd per call (IRIS_ERR_NOMEM if that fails, x untouched). A denoiser error is
   returned as is; a callback that returns nonzero ends the run with IRIS_ERR_CANCELLED. */
iris_status iris_sample(iris_sampler_kind k, const iris_denoiser *d, float *x, int64_t n, const float *sigmas,
                        int steps, iris_rng *rng, float eta, const iris_sample_callback *cb);

/* Denoiser evaluations a sampler makes for `steps` steps of a schedule ending in 0 (Heun, DPM2,
   DPM++ 2S a: two per step except the last; eta <= 1), for progress bars. */
int iris_sampler_evals(iris_sampler_kind k, int steps);

#endif
