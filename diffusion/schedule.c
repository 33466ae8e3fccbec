/* schedule.c - the noise levels a sampler walks through, from the model's training schedule.

   Computed in double and rounded once: the references (k-diffusion in torch float32,
   stable-diffusion.cpp in float) round at every step, so they agree with these to a few float
   ulps, not bit for bit; nothing downstream depends on the last bit of a sigma. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sampler.h"

/* ldm's make_beta_schedule("linear") for SD 1.x / 2.x: betas = linspace(sqrt(b0), sqrt(b1), n)^2
   in float64 (torch.linspace's two-sided formula), cumulative product of 1 - beta, then float32
   as ldm registers the buffer. */
void iris_sd_alphas_cumprod(float *out, int n) {
    if (!out || n <= 0) return;
    const double start = sqrt(0.00085), end = sqrt(0.012);
    const double step = n > 1 ? (end - start) / (n - 1) : 0.0;
    double prod = 1.0;
    for (int i = 0; i < n; i++) {
        double b = i < n / 2 ? start + step * i : end - step * (n - 1 - i);
        prod *= 1.0 - b * b;
        out[i] = (float)prod;
    }
}

/* in float, as k-diffusion's DiscreteEpsDDPMDenoiser does: ((1 - a) / a) ** 0.5 */
void iris_sigmas_from_alphas(const float *alphas_cumprod, int n_train, float *sigmas_out) {
    if (!alphas_cumprod || !sigmas_out) return;
    for (int i = 0; i < n_train; i++) sigmas_out[i] = sqrtf((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
}

/* k-diffusion's DiscreteSchedule.sigma_to_t: the last training level at or below sigma (clamped
   to the second-to-last), then linear interpolation of log sigma, clamped to the table. */
float iris_sigma_to_t(const float *train_sigmas, int n_train, float sigma) {
    if (!train_sigmas || n_train < 2 || !(sigma > 0)) return 0.0f;
    double ls = log((double)sigma);
    int low = 0;
    for (int i = 0; i < n_train; i++)
        if (ls - log((double)train_sigmas[i]) >= 0) low = i;
    if (low > n_train - 2) low = n_train - 2;
    double lo = log((double)train_sigmas[low]), hi = log((double)train_sigmas[low + 1]);
    double w = (lo - ls) / (lo - hi);
    w = w < 0 ? 0 : w > 1 ? 1 : w;
    return (float)((1 - w) * low + w * (low + 1));
}

/* k-diffusion's DiscreteSchedule.t_to_sigma: log-linear between the neighbouring levels */
static double t_to_sigma(const float *train_sigmas, int n_train, double t) {
    t = t > 0 ? t : 0; /* NaN lands here too */
    if (t > n_train - 1) t = n_train - 1;
    int low = (int)floor(t), high = (int)ceil(t);
    double w = t - low;
    return exp((1 - w) * log((double)train_sigmas[low]) + w * log((double)train_sigmas[high]));
}

float iris_t_to_sigma(const float *train_sigmas, int n_train, float t) {
    return train_sigmas && n_train >= 1 ? (float)t_to_sigma(train_sigmas, n_train, t) : 0.0f;
}

iris_status iris_schedule_sigmas(iris_schedule_kind k, const float *train_sigmas, int n_train, int steps,
                                 float *sigmas_out) {
    if (!train_sigmas || !sigmas_out || n_train < 2 || steps < 1)
        return iris_fail(IRIS_ERR_ARG, "iris_schedule_sigmas: need a training table of >= 2 sigmas and steps >= 1 "
                                       "(got %d, %d)", n_train, steps);
    for (int i = 0; i < n_train; i++)
        if (!(train_sigmas[i] > 0) || !isfinite(train_sigmas[i]) || (i && train_sigmas[i] < train_sigmas[i - 1]))
            return iris_fail(IRIS_ERR_ARG, "iris_schedule_sigmas: training sigma %d (%g) is not positive, finite "
                                           "and ascending", i, train_sigmas[i]);
    const double smin = train_sigmas[0], smax = train_sigmas[n_train - 1];
    const double rho = 7.0, min_inv_rho = pow(smin, 1 / rho), max_inv_rho = pow(smax, 1 / rho);
    for (int i = 0; i < steps; i++) {
        double ramp = steps > 1 ? (double)i / (steps - 1) : 0.0; /* 0 at the noisy end */
        double s;
        switch (k) {
        case IRIS_SCHEDULE_DISCRETE: /* t = linspace(n_train - 1, 0, steps) */
            s = t_to_sigma(train_sigmas, n_train, (n_train - 1) * (1 - ramp));
            break;
        case IRIS_SCHEDULE_KARRAS: /* Karras et al. 2022, eq. 5 */
            s = pow(max_inv_rho + ramp * (min_inv_rho - max_inv_rho), rho);
            break;
        case IRIS_SCHEDULE_EXPONENTIAL: /* evenly spaced in log sigma */
            s = exp(log(smax) + ramp * (log(smin) - log(smax)));
            break;
        default: return iris_fail(IRIS_ERR_ARG, "iris_schedule_sigmas: unknown schedule %d", (int)k);
        }
        sigmas_out[i] = (float)s;
    }
    sigmas_out[steps] = 0.0f;
    return IRIS_OK;
}

/* ---- names ---- */

const char *iris_schedule_cli_name(iris_schedule_kind k) {
    switch (k) {
    case IRIS_SCHEDULE_DISCRETE: return "discrete";
    case IRIS_SCHEDULE_KARRAS: return "karras";
    case IRIS_SCHEDULE_EXPONENTIAL: return "exponential";
    default: return NULL;
    }
}

const char *iris_schedule_a1111_name(iris_schedule_kind k) {
    switch (k) {
    case IRIS_SCHEDULE_DISCRETE: return "Uniform";
    case IRIS_SCHEDULE_KARRAS: return "Karras";
    case IRIS_SCHEDULE_EXPONENTIAL: return "Exponential";
    default: return NULL;
    }
}

int iris_schedule_from_name(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < IRIS_SCHEDULE_COUNT; k++)
        if (!strcasecmp(name, iris_schedule_cli_name((iris_schedule_kind)k)) ||
            !strcasecmp(name, iris_schedule_a1111_name((iris_schedule_kind)k)))
            return k;
    return -1;
}
