/* sampler.c - k-diffusion's samplers, one short function each, in k-diffusion's float32 order
   of operations (so a seed gives the latent A1111 gets), plus DDIM and LCM as sd.cpp / A1111
   run them in the same sigma loop. Every sampler reads the model only through s->d and the
   noise only through s->rng; the arithmetic on latents is elementwise and cheap. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sampler.h"

typedef struct sampling {
    const iris_denoiser *d;
    float *x;
    int64_t n;
    const float *sigmas;
    int steps;
    iris_rng *rng;
    float eta;
    const iris_sample_callback *cb;
    float *a, *b, *c; /* scratch, n floats each */
} sampling;

static iris_status denoise(sampling *s, const float *x, float sigma, float *out) {
    return s->d->fn(s->d->user, x, sigma, out, s->n);
}

static iris_status step_done(sampling *s, int i) {
    if (s->cb && s->cb->fn && s->cb->fn(s->cb->user, i, s->steps, s->x, s->n))
        return iris_fail(IRIS_ERR_CANCELLED, "sampling cancelled after step %d of %d", i + 1, s->steps);
    return IRIS_OK;
}

/* x += noise * sigma_up, the noise drawn into buf */
static void add_noise(sampling *s, float *buf, float sigma_up) {
    iris_rng_randn(s->rng, buf, s->n);
    for (int64_t j = 0; j < s->n; j++) s->x[j] = s->x[j] + buf[j] * sigma_up;
}

/* k-diffusion's get_ancestral_step: split the step into a deterministic part down to sigma_down
   and fresh noise of sigma_up */
static void ancestral_step(float from, float to, float eta, float *down, float *up) {
    if (eta == 0) {
        *down = to, *up = 0;
        return;
    }
    float u = eta * sqrtf(to * to * (from * from - to * to) / (from * from));
    *up = u < to ? u : to;
    *down = sqrtf(to * to - *up * *up);
}

#define CHECK_ST(call)                  \
    do {                                \
        iris_status st_ = (call);       \
        if (st_ != IRIS_OK) return st_; \
    } while (0)

/* d = (x - D) / sigma: the probability-flow ODE's derivative, written into den */
static void to_d(const float *x, float *den, float sigma, int64_t n) {
    for (int64_t j = 0; j < n; j++) den[j] = (x[j] - den[j]) / sigma;
}

/* One Euler move along the derivative d: dst = x + d * dt (dst may be x). */
static void euler_move(float *dst, const float *x, const float *d, float dt, int64_t n) {
    for (int64_t j = 0; j < n; j++) dst[j] = x[j] + d[j] * dt;
}

static iris_status sample_euler(sampling *s) {
    float *x = s->x, *d = s->a;
    for (int i = 0; i < s->steps; i++) {
        float sigma = s->sigmas[i], dt = s->sigmas[i + 1] - sigma;
        CHECK_ST(denoise(s, x, sigma, d));
        to_d(x, d, sigma, s->n);
        euler_move(x, x, d, dt, s->n);
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

static iris_status sample_euler_ancestral(sampling *s) {
    float *x = s->x, *d = s->a;
    for (int i = 0; i < s->steps; i++) {
        float sigma = s->sigmas[i], next = s->sigmas[i + 1], down, up;
        CHECK_ST(denoise(s, x, sigma, d));
        ancestral_step(sigma, next, s->eta, &down, &up);
        to_d(x, d, sigma, s->n);
        float dt = down - sigma;
        euler_move(x, x, d, dt, s->n);
        if (next > 0) add_noise(s, d, up);
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

/* Heun's second-order method; a plain Euler step into sigma = 0 */
static iris_status sample_heun(sampling *s) {
    float *x = s->x, *d = s->a, *x2 = s->b, *d2 = s->c;
    for (int i = 0; i < s->steps; i++) {
        float sigma = s->sigmas[i], next = s->sigmas[i + 1], dt = next - sigma;
        CHECK_ST(denoise(s, x, sigma, d));
        to_d(x, d, sigma, s->n);
        if (next == 0) {
            euler_move(x, x, d, dt, s->n);
        } else {
            euler_move(x2, x, d, dt, s->n);
            CHECK_ST(denoise(s, x2, next, d2));
            to_d(x2, d2, next, s->n);
            for (int64_t j = 0; j < s->n; j++) x[j] = x[j] + (d[j] + d2[j]) / 2 * dt;
        }
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

/* DPM-Solver-2: the derivative taken at the log-midpoint sigma */
static iris_status sample_dpm2(sampling *s) {
    float *x = s->x, *d = s->a, *x2 = s->b, *d2 = s->c;
    for (int i = 0; i < s->steps; i++) {
        float sigma = s->sigmas[i], next = s->sigmas[i + 1];
        CHECK_ST(denoise(s, x, sigma, d));
        to_d(x, d, sigma, s->n);
        if (next == 0) {
            float dt = next - sigma;
            euler_move(x, x, d, dt, s->n);
        } else {
            float lo = logf(sigma), hi = logf(next);
            float mid = expf(hi - (hi - lo) * 0.5f); /* torch.lerp(lo, hi, 0.5) */
            float dt1 = mid - sigma, dt2 = next - sigma;
            euler_move(x2, x, d, dt1, s->n);
            CHECK_ST(denoise(s, x2, mid, d2));
            to_d(x2, d2, mid, s->n);
            euler_move(x, x, d2, dt2, s->n);
        }
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

/* DPM-Solver++(2S), ancestral: a midpoint step in t = -log sigma down to sigma_down, then noise */
static iris_status sample_dpmpp_2s_ancestral(sampling *s) {
    float *x = s->x, *den = s->a, *x2 = s->b, *den2 = s->c;
    for (int i = 0; i < s->steps; i++) {
        float sigma = s->sigmas[i], next = s->sigmas[i + 1], down, up;
        CHECK_ST(denoise(s, x, sigma, den));
        ancestral_step(sigma, next, s->eta, &down, &up);
        if (down == 0) {
            to_d(x, den, sigma, s->n);
            float dt = down - sigma;
            for (int64_t j = 0; j < s->n; j++) x[j] = x[j] + den[j] * dt;
        } else {
            float t = -logf(sigma), t_next = -logf(down);
            float h = t_next - t, mid_t = t + 0.5f * h;
            float sigma_t = expf(-t), sigma_mid = expf(-mid_t);
            float r1 = sigma_mid / sigma_t, c1 = expm1f(-h * 0.5f);
            for (int64_t j = 0; j < s->n; j++) x2[j] = r1 * x[j] - c1 * den[j];
            CHECK_ST(denoise(s, x2, sigma_mid, den2));
            float r2 = expf(-t_next) / sigma_t, c2 = expm1f(-h);
            for (int64_t j = 0; j < s->n; j++) x[j] = r2 * x[j] - c2 * den2[j];
        }
        if (next > 0) add_noise(s, den, up);
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

/* DPM-Solver++(2M): second order from the previous step's denoised, first order at the ends */
static iris_status sample_dpmpp_2m(sampling *s) {
    float *x = s->x, *den = s->a, *old = s->b;
    for (int i = 0; i < s->steps; i++) {
        float sigma = s->sigmas[i], next = s->sigmas[i + 1];
        CHECK_ST(denoise(s, x, sigma, den));
        if (next == 0) { /* sigma_fn(t_next) = 0, expm1(-inf) = -1 */
            memcpy(x, den, (size_t)s->n * sizeof *x);
        } else {
            float t = -logf(sigma), t_next = -logf(next), h = t_next - t;
            float ratio = expf(-t_next) / expf(-t), c = expm1f(-h);
            if (i == 0) {
                for (int64_t j = 0; j < s->n; j++) x[j] = ratio * x[j] - c * den[j];
            } else {
                float h_last = t - -logf(s->sigmas[i - 1]), r = h_last / h;
                float w_old = 1.0f / (2 * r), w_new = 1 + w_old;
                for (int64_t j = 0; j < s->n; j++) x[j] = ratio * x[j] - c * (w_new * den[j] - w_old * old[j]);
            }
        }
        float *tmp = old; /* this step's denoised becomes the next step's old one */
        old = den, den = tmp;
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

/* DDIM, eta 0, as stable-diffusion.cpp's ddim_trailing: x = D + sigma_next * eps, eps = (x - D) / sigma */
static iris_status sample_ddim(sampling *s) {
    float *x = s->x, *den = s->a;
    for (int i = 0; i < s->steps; i++) {
        float sigma = s->sigmas[i], next = s->sigmas[i + 1];
        CHECK_ST(denoise(s, x, sigma, den));
        if (next == 0) {
            memcpy(x, den, (size_t)s->n * sizeof *x);
        } else {
            float ratio = next / sigma, keep = 1.0f - ratio;
            for (int64_t j = 0; j < s->n; j++) x[j] = ratio * x[j] + keep * den[j];
        }
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

/* LCM: jump to the model's clean estimate, then re-noise it to the next level */
static iris_status sample_lcm(sampling *s) {
    float *x = s->x, *buf = s->a;
    for (int i = 0; i < s->steps; i++) {
        float next = s->sigmas[i + 1];
        CHECK_ST(denoise(s, x, s->sigmas[i], buf));
        memcpy(x, buf, (size_t)s->n * sizeof *x);
        if (next > 0) add_noise(s, buf, next);
        CHECK_ST(step_done(s, i));
    }
    return IRIS_OK;
}

static iris_status (*const SAMPLERS[IRIS_SAMPLER_COUNT])(sampling *) = {
    [IRIS_SAMPLER_EULER] = sample_euler,           [IRIS_SAMPLER_EULER_A] = sample_euler_ancestral,
    [IRIS_SAMPLER_HEUN] = sample_heun,             [IRIS_SAMPLER_DPM2] = sample_dpm2,
    [IRIS_SAMPLER_DPMPP_2S_A] = sample_dpmpp_2s_ancestral, [IRIS_SAMPLER_DPMPP_2M] = sample_dpmpp_2m,
    [IRIS_SAMPLER_DDIM] = sample_ddim,             [IRIS_SAMPLER_LCM] = sample_lcm,
};

static int uses_noise(iris_sampler_kind k) {
    return k == IRIS_SAMPLER_EULER_A || k == IRIS_SAMPLER_DPMPP_2S_A || k == IRIS_SAMPLER_LCM;
}

iris_status iris_sample(iris_sampler_kind k, const iris_denoiser *d, float *x, int64_t n, const float *sigmas,
                        int steps, iris_rng *rng, float eta, const iris_sample_callback *cb) {
    if ((unsigned)k >= IRIS_SAMPLER_COUNT) return iris_fail(IRIS_ERR_ARG, "iris_sample: unknown sampler %d", (int)k);
    if (!d || !d->fn || !x || n <= 0 || !sigmas || steps < 1)
        return iris_fail(IRIS_ERR_ARG, "iris_sample: need a denoiser, a latent of n > 0 floats, sigmas and steps >= 1");
    if (uses_noise(k) && !rng)
        return iris_fail(IRIS_ERR_ARG, "iris_sample: %s draws noise but got no rng", iris_sampler_cli_name(k));
    if (!(eta >= 0) || !isfinite(eta)) return iris_fail(IRIS_ERR_ARG, "iris_sample: eta %g is not >= 0", eta);
    for (int i = 0; i <= steps; i++)
        if (!isfinite(sigmas[i]) || !(i < steps ? sigmas[i] > 0 : sigmas[i] >= 0))
            return iris_fail(IRIS_ERR_ARG, "iris_sample: sigmas[%d] = %g (need > 0 before the last, >= 0 last)", i,
                             sigmas[i]);
    if ((uint64_t)n > SIZE_MAX / (3 * sizeof(float)))
        return iris_fail(IRIS_ERR_NOMEM, "iris_sample: %lld floats of scratch do not fit in memory", (long long)n);
    float *scratch = malloc((size_t)n * 3 * sizeof(float));
    if (!scratch)
        return iris_fail(IRIS_ERR_NOMEM, "iris_sample: out of memory for %lld floats of scratch", (long long)(3 * n));
    sampling s = {d, x, n, sigmas, steps, rng, eta, cb, scratch, scratch + n, scratch + 2 * n};
    iris_status st = SAMPLERS[k](&s);
    free(scratch);
    return st;
}

int iris_sampler_evals(iris_sampler_kind k, int steps) {
    if (steps < 1) return 0;
    int second_order = k == IRIS_SAMPLER_HEUN || k == IRIS_SAMPLER_DPM2 || k == IRIS_SAMPLER_DPMPP_2S_A;
    return second_order ? 2 * steps - 1 : steps;
}

/* ---- names: A1111's labels as its PNG parameters write them, the CLI's, and aliases both
   tools accept (A1111's k_* names, sd.cpp's --sampling-method values) ---- */

static const struct {
    const char *a1111, *cli, *alias[3];
} NAMES[IRIS_SAMPLER_COUNT] = {
    [IRIS_SAMPLER_EULER] = {"Euler", "euler", {"k_euler"}},
    [IRIS_SAMPLER_EULER_A] = {"Euler a", "euler_a", {"k_euler_a", "k_euler_ancestral"}},
    [IRIS_SAMPLER_HEUN] = {"Heun", "heun", {"k_heun"}},
    [IRIS_SAMPLER_DPM2] = {"DPM2", "dpm2", {"k_dpm_2"}},
    [IRIS_SAMPLER_DPMPP_2S_A] = {"DPM++ 2S a", "dpmpp_2s_a", {"k_dpmpp_2s_a", "dpm++2s_a"}},
    [IRIS_SAMPLER_DPMPP_2M] = {"DPM++ 2M", "dpmpp_2m", {"k_dpmpp_2m", "dpm++2m"}},
    [IRIS_SAMPLER_DDIM] = {"DDIM", "ddim", {"ddim_trailing"}},
    [IRIS_SAMPLER_LCM] = {"LCM", "lcm", {NULL}},
};

const char *iris_sampler_a1111_name(iris_sampler_kind k) {
    return (unsigned)k < IRIS_SAMPLER_COUNT ? NAMES[k].a1111 : NULL;
}

const char *iris_sampler_cli_name(iris_sampler_kind k) {
    return (unsigned)k < IRIS_SAMPLER_COUNT ? NAMES[k].cli : NULL;
}

int iris_sampler_from_name(const char *name) {
    if (!name) return -1;
    for (int k = 0; k < IRIS_SAMPLER_COUNT; k++) {
        if (!strcasecmp(name, NAMES[k].a1111) || !strcasecmp(name, NAMES[k].cli)) return k;
        for (int a = 0; a < 3 && NAMES[k].alias[a]; a++)
            if (!strcasecmp(name, NAMES[k].alias[a])) return k;
    }
    return -1;
}
