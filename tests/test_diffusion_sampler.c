/* test_diffusion_sampler.c - schedules and samplers against k-diffusion itself.
   Reference: tests/ref/diffusion_sampler.safetensors from tests/ref/gen_diffusion_sampler.py,
   which runs k_diffusion/sampling.py and external.py from the PyPI wheel (0.1.1.post1) in torch
   1.13 float32: CompVisDenoiser's sigmas / get_sigmas / sigma_to_t / t_to_sigma on ldm's SD
   alphas, get_sigmas_karras / _exponential, and every sample_* trajectory with a toy denoiser
   and the noise of a seeded torch CPU generator (iris's IRIS_RNG_CPU is that generator, bit for
   bit). DDIM and LCM are A1111's update rules re-stated in the generator, and additionally
   diffusers' DDIMScheduler / LCMScheduler on their own timesteps. */
#include <stdlib.h>
#include <string.h>

#include "../diffusion/sampler.h"
#include "test.h"

#define REF "diffusion_sampler.safetensors"
enum { N = 40, STEPS = 10, SEED = 1234 };
static const char *SCHED[IRIS_SCHEDULE_COUNT] = {"discrete", "karras", "exponential"};

/* the generator's toy denoisers: lin = mu + (x - mu) / (1 + s^2), nl = lin + 0.1 tanh(x) / (1 + s) */
typedef struct toy {
    const float *mu;
    int nl, calls, fail_at;
    float last_sigma;
} toy;

static iris_status toy_fn(void *user, const float *x, float sigma, float *out, int64_t n) {
    toy *t = user;
    t->calls++;
    t->last_sigma = sigma;
    if (t->fail_at && t->calls == t->fail_at) return iris_fail(IRIS_ERR_DEVICE, "toy denoiser: failing on purpose");
    float q = 1 + sigma * sigma, r = 1 + sigma;
    for (int64_t j = 0; j < n; j++) {
        float v = t->mu[j] + (x[j] - t->mu[j]) / q;
        if (t->nl) v = v + 0.1f * tanhf(x[j]) / r;
        out[j] = v;
    }
    return IRIS_OK;
}

typedef struct record {
    float *traj; /* steps x N */
    int calls, cancel_at;
} record;

static int record_fn(void *user, int step, int n_steps, const float *x, int64_t n) {
    record *r = user;
    if (r->traj && step < n_steps) memcpy(r->traj + (size_t)step * N, x, (size_t)n * sizeof *x);
    r->calls++;
    return r->cancel_at && r->calls == r->cancel_at;
}

static float *ref(const char *name, int64_t want_n) {
    int64_t n = 0;
    float *v = test_ref_f32(REF, name, &n);
    if (v && want_n && n != want_n) {
        CHECK_MSG(0, "%s: %lld values, expected %lld", name, (long long)n, (long long)want_n);
        free(v);
        return NULL;
    }
    return v;
}

/* ldm computes the schedule in float64 and stores float32; so do we: equal to the bit. The
   sigmas are float ops in k-diffusion's order ((1 - a) / a, sqrt), also exact. */
TEST(diffusion_sd_alphas_match_ldm) {
    float *ac = ref("alphas_cumprod", 1000), *train = ref("train_sigmas", 1000);
    if (ac && train) {
        float got[1000], sig[1000];
        iris_sd_alphas_cumprod(got, 1000);
        CHECK_CLOSE(got, ac, 1000, 0, 0);
        iris_sigmas_from_alphas(ac, 1000, sig);
        CHECK_CLOSE(sig, train, 1000, 0, 0);
        CHECK_NEAR(sig[0], 0.0292, 1e-4); /* SD's familiar sigma_min / sigma_max */
        CHECK_NEAR(sig[999], 14.6146, 1e-4);
    }
    free(ac);
    free(train);
}

/* Schedules: iris computes in double, k-diffusion in float32 (torch.linspace in float, then
   float log/exp/pow), so they differ by float rounding only: measured worst 6e-7 relative
   (karras' float pow), tolerance 2e-6 (~16 float ulps); a wrong formula is off by percents. */
TEST(diffusion_schedules_match_kdiffusion) {
    float *train = ref("train_sigmas", 1000);
    if (!train) return;
    static const int steps[] = {1, 2, 3, 10, 20, 25, 30};
    for (int k = 0; k < IRIS_SCHEDULE_COUNT; k++)
        for (int s = 0; s < 7; s++) {
            char name[48];
            snprintf(name, sizeof name, "sched_%s_%d", SCHED[k], steps[s]);
            float *want = ref(name, steps[s] + 1), got[31];
            if (!want) continue;
            CHECK_OK(iris_schedule_sigmas((iris_schedule_kind)k, train, 1000, steps[s], got));
            CHECK_CLOSE(got, want, steps[s] + 1, 0, 2e-6);
            CHECK(got[steps[s]] == 0.0f);
            free(want);
        }
    free(train);
}

/* sigma_to_t interpolates log sigma between neighbours 0.002..0.3 apart; float32 rounding of
   log sigma (2.4e-7 absolute) in k-diffusion moves t by up to ~1e-4 there (measured 6e-5), so
   t is compared to 2e-4. t_to_sigma is a float exp of an interpolated log: measured 1.8e-7
   relative, tolerance 1e-6. The round trips are iris against itself (measured 3e-5 in t,
   2.4e-7 in sigma). */
TEST(diffusion_sigma_t_match_kdiffusion) {
    int64_t ns = 0, nt = 0;
    float *train = ref("train_sigmas", 1000), *s = test_ref_f32(REF, "s2t_sigma", &ns), *st = ref("s2t_t", 0);
    float *t = test_ref_f32(REF, "t2s_t", &nt), *ts = ref("t2s_sigma", 0);
    if (train && s && st && t && ts) {
        float *got = malloc((size_t)(ns > nt ? ns : nt) * sizeof *got);
        for (int64_t i = 0; i < ns; i++) got[i] = iris_sigma_to_t(train, 1000, s[i]);
        CHECK_CLOSE(got, st, ns, 2e-4, 0);
        for (int64_t i = 0; i < nt; i++) got[i] = iris_t_to_sigma(train, 1000, t[i]);
        CHECK_CLOSE(got, ts, nt, 0, 1e-6);
        /* round trips inside the table */
        double worst_t = 0, worst_s = 0;
        for (int i = 0; i <= 999 * 4; i++) {
            float tt = i * 0.25f, back = iris_sigma_to_t(train, 1000, iris_t_to_sigma(train, 1000, tt));
            worst_t = fmax(worst_t, fabs(back - tt));
        }
        for (int i = 0; i < 1000; i++) {
            float sg = train[i] * 1.0001f;
            if (sg > train[999]) continue;
            float back = iris_t_to_sigma(train, 1000, iris_sigma_to_t(train, 1000, sg));
            worst_s = fmax(worst_s, fabs(back / sg - 1));
        }
        CHECK_MSG(worst_t < 2e-4, "t -> sigma -> t drifts by %g", worst_t);
        CHECK_MSG(worst_s < 1e-6, "sigma -> t -> sigma drifts by %g (relative)", worst_s);
        /* clamped outside the table, no crash on junk */
        CHECK(iris_sigma_to_t(train, 1000, 100.0f) == 999.0f);
        CHECK(iris_sigma_to_t(train, 1000, 1e-6f) == 0.0f);
        CHECK(iris_sigma_to_t(train, 1000, 0.0f) == 0.0f);
        CHECK(iris_sigma_to_t(train, 1000, NAN) == 0.0f);
        CHECK(iris_t_to_sigma(train, 1000, -5) == iris_t_to_sigma(train, 1000, 0));
        CHECK(iris_t_to_sigma(train, 1000, 5000) == iris_t_to_sigma(train, 1000, 999));
        CHECK(iris_t_to_sigma(train, 1000, NAN) == iris_t_to_sigma(train, 1000, 0));
        free(got);
    }
    free(train), free(s), free(st), free(t), free(ts);
}

TEST(diffusion_schedule_rejects_bad_input) {
    float train[4] = {0.1f, 0.5f, 1.0f, 2.0f}, out[8];
    CHECK_OK(iris_schedule_sigmas(IRIS_SCHEDULE_KARRAS, train, 4, 3, out));
    CHECK(out[0] == 2.0f && out[3] == 0.0f);
    CHECK_NEAR(out[2], 0.1, 1e-7);
    CHECK_INT(iris_schedule_sigmas(IRIS_SCHEDULE_KARRAS, train, 4, 0, out), IRIS_ERR_ARG);
    CHECK_INT(iris_schedule_sigmas(IRIS_SCHEDULE_KARRAS, train, 1, 3, out), IRIS_ERR_ARG);
    CHECK_INT(iris_schedule_sigmas(IRIS_SCHEDULE_KARRAS, NULL, 4, 3, out), IRIS_ERR_ARG);
    CHECK_INT(iris_schedule_sigmas(IRIS_SCHEDULE_KARRAS, train, 4, 3, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_schedule_sigmas(IRIS_SCHEDULE_COUNT, train, 4, 3, out), IRIS_ERR_ARG);
    CHECK_INT(iris_schedule_sigmas((iris_schedule_kind)-1, train, 4, 3, out), IRIS_ERR_ARG);
    float unsorted[4] = {0.1f, 0.5f, 0.4f, 2.0f}, zero[4] = {0, 0.5f, 1, 2};
    CHECK_INT(iris_schedule_sigmas(IRIS_SCHEDULE_DISCRETE, unsorted, 4, 3, out), IRIS_ERR_ARG);
    CHECK_INT(iris_schedule_sigmas(IRIS_SCHEDULE_EXPONENTIAL, zero, 4, 3, out), IRIS_ERR_ARG);
    CHECK(strstr(iris_last_error(), "iris_schedule_sigmas") != NULL);
}

TEST(diffusion_sampler_names) {
    for (int k = 0; k < IRIS_SAMPLER_COUNT; k++) {
        CHECK_INT(iris_sampler_from_name(iris_sampler_a1111_name((iris_sampler_kind)k)), k);
        CHECK_INT(iris_sampler_from_name(iris_sampler_cli_name((iris_sampler_kind)k)), k);
    }
    CHECK(!strcmp(iris_sampler_a1111_name(IRIS_SAMPLER_EULER_A), "Euler a"));
    CHECK(!strcmp(iris_sampler_a1111_name(IRIS_SAMPLER_DPMPP_2S_A), "DPM++ 2S a"));
    CHECK(!strcmp(iris_sampler_a1111_name(IRIS_SAMPLER_DPMPP_2M), "DPM++ 2M"));
    CHECK(!strcmp(iris_sampler_cli_name(IRIS_SAMPLER_DPMPP_2M), "dpmpp_2m"));
    CHECK_INT(iris_sampler_from_name("EULER A"), IRIS_SAMPLER_EULER_A);
    CHECK_INT(iris_sampler_from_name("dpm++2m"), IRIS_SAMPLER_DPMPP_2M);   /* sd.cpp */
    CHECK_INT(iris_sampler_from_name("k_dpmpp_2s_a"), IRIS_SAMPLER_DPMPP_2S_A); /* A1111 alias */
    CHECK_INT(iris_sampler_from_name("ddim_trailing"), IRIS_SAMPLER_DDIM);
    CHECK_INT(iris_sampler_from_name("DPM++ 2M Karras"), -1); /* sampler and schedule are separate */
    CHECK_INT(iris_sampler_from_name(""), -1);
    CHECK_INT(iris_sampler_from_name(NULL), -1);
    CHECK(iris_sampler_a1111_name(IRIS_SAMPLER_COUNT) == NULL);
    CHECK(iris_sampler_cli_name((iris_sampler_kind)-1) == NULL);
    for (int k = 0; k < IRIS_SCHEDULE_COUNT; k++) {
        CHECK(!strcmp(iris_schedule_cli_name((iris_schedule_kind)k), SCHED[k]));
        CHECK_INT(iris_schedule_from_name(iris_schedule_a1111_name((iris_schedule_kind)k)), k);
        CHECK_INT(iris_schedule_from_name(SCHED[k]), k);
    }
    CHECK_INT(iris_schedule_from_name("Karras"), IRIS_SCHEDULE_KARRAS);
    CHECK_INT(iris_schedule_from_name("uniform"), IRIS_SCHEDULE_DISCRETE);
    CHECK_INT(iris_schedule_from_name("Automatic"), -1); /* means a different schedule per sampler in A1111 */
    CHECK_INT(iris_schedule_from_name(NULL), -1);
    CHECK(iris_schedule_cli_name(IRIS_SCHEDULE_COUNT) == NULL);
}

/* Runs one sampler like the generator did: x = randn(N) * sigmas[0] from a CPU generator
   seeded SEED, the ancestral noise from the same generator, x recorded after every step. */
static iris_status run(iris_sampler_kind k, const float *mu, int nl, const float *sigmas, int steps, float eta,
                       float *traj, float *x, toy *t) {
    iris_rng rng;
    iris_rng_init(&rng, IRIS_RNG_CPU, SEED);
    iris_rng_randn(&rng, x, N);
    for (int j = 0; j < N; j++) x[j] = x[j] * sigmas[0];
    *t = (toy){mu, nl, 0, 0, 0};
    record rec = {traj, 0, 0};
    iris_denoiser d = {toy_fn, t};
    iris_sample_callback cb = {record_fn, &rec};
    iris_status st = iris_sample(k, &d, x, N, sigmas, steps, &rng, eta, &cb);
    CHECK_INT(rec.calls, steps);
    return st;
}

/* Every sampler x schedule x denoiser, all 10 steps. The elementwise arithmetic is the same
   float32 operations in the same order as torch, so most values agree to the bit; what differs
   is torch's vectorised tanh vs libm's tanhf (the nl denoiser, an ulp) and, for DDIM, a float64
   reference of a different (VP) formulation. Measured worst: 9.5e-7 absolute on latents of
   size 1..15 (2 float ulps). Tolerance 5e-6 + 2e-6 * |x|: room for another libm, while any
   wrong coefficient, missing or reordered noise draw or off-by-one step moves values by 1e-2. */
TEST(diffusion_samplers_match_kdiffusion) {
    float *mu = ref("mu", N);
    if (!mu) return;
    for (int k = 0; k < IRIS_SAMPLER_COUNT; k++)
        for (int sc = 0; sc < IRIS_SCHEDULE_COUNT; sc++) {
            char name[64];
            snprintf(name, sizeof name, "sched_%s_%d", SCHED[sc], STEPS);
            float *sig = ref(name, STEPS + 1);
            for (int nl = 0; nl < 2 && sig; nl++) {
                snprintf(name, sizeof name, "traj_%s_%s_%s", iris_sampler_cli_name((iris_sampler_kind)k), SCHED[sc],
                         nl ? "nl" : "lin");
                float *want = ref(name, STEPS * N), got[STEPS * N], x[N];
                toy t;
                if (!want) continue;
                CHECK_OK(run((iris_sampler_kind)k, mu, nl, sig, STEPS, 1.0f, got, x, &t));
                test_close(got, want, STEPS * N, 5e-6, 2e-6, __FILE__, __LINE__, name);
                CHECK(!memcmp(x, got + (STEPS - 1) * N, sizeof x)); /* the callback saw the final x */
                CHECK_INT(t.calls, iris_sampler_evals((iris_sampler_kind)k, STEPS));
                free(want);
            }
            free(sig);
        }
    free(mu);
}

/* eta 0 still draws (and adds nothing), eta 0.7 scales sigma_up: k-diffusion's get_ancestral_step */
TEST(diffusion_samplers_eta) {
    float *mu = ref("mu", N), *sig = ref("sched_karras_10", STEPS + 1);
    float *w0 = ref("eta_euler_a_0", N), *w7 = ref("eta_dpmpp_2s_a_7", N);
    if (mu && sig && w0 && w7) {
        float traj[STEPS * N], x[N];
        toy t;
        CHECK_OK(run(IRIS_SAMPLER_EULER_A, mu, 1, sig, STEPS, 0.0f, traj, x, &t));
        CHECK_CLOSE(x, w0, N, 5e-6, 2e-6);
        CHECK_OK(run(IRIS_SAMPLER_DPMPP_2S_A, mu, 1, sig, STEPS, 0.7f, traj, x, &t));
        CHECK_CLOSE(x, w7, N, 5e-6, 2e-6);
    }
    free(mu), free(sig), free(w0), free(w7);
}

/* DDIM and LCM against diffusers' schedulers (the VP formulation, on the timesteps diffusers
   picks: DDIM "trailing" 999, 899, .. 99; LCM 999, 759, 499, 259). LCM draws its noise from
   the generator after the initial latent, like the generator's run. Same tolerance as above. */
TEST(diffusion_ddim_lcm_match_diffusers) {
    float *mu = ref("mu", N);
    static const struct { iris_sampler_kind k; const char *name; int steps; } cases[] = {
        {IRIS_SAMPLER_DDIM, "ddim", STEPS}, {IRIS_SAMPLER_LCM, "lcm", 4}};
    for (int c = 0; c < 2 && mu; c++) {
        char n1[48], n2[48], n3[48];
        snprintf(n1, sizeof n1, "diffusers_%s_sigmas", cases[c].name);
        snprintf(n2, sizeof n2, "diffusers_%s_x0", cases[c].name);
        snprintf(n3, sizeof n3, "diffusers_%s_out", cases[c].name);
        float *sig = ref(n1, cases[c].steps + 1), *x0 = ref(n2, N), *want = ref(n3, N);
        if (sig && x0 && want) {
            iris_rng rng;
            float x[N];
            iris_rng_init(&rng, IRIS_RNG_CPU, SEED);
            iris_rng_randn(&rng, x, N); /* the initial latent's draw */
            memcpy(x, x0, sizeof x);
            toy t = {mu, 1, 0, 0, 0};
            iris_denoiser d = {toy_fn, &t};
            CHECK_OK(iris_sample(cases[c].k, &d, x, N, sig, cases[c].steps, &rng, 1.0f, NULL));
            CHECK_CLOSE(x, want, N, 5e-6, 2e-6);
        }
        free(sig), free(x0), free(want);
    }
    free(mu);
}

/* Ancestral samplers draw exactly one latent-sized block per step into a nonzero sigma (also
   with eta 0); the others never touch the generator. */
TEST(diffusion_samplers_noise_draws) {
    float sig[6] = {10, 5, 2, 1, 0.5f, 0}, mu[N] = {0}, x[N], probe[N], want[N];
    for (int k = 0; k < IRIS_SAMPLER_COUNT; k++) {
        int ancestral = k == IRIS_SAMPLER_EULER_A || k == IRIS_SAMPLER_DPMPP_2S_A || k == IRIS_SAMPLER_LCM;
        iris_rng rng, fresh;
        iris_rng_init(&rng, IRIS_RNG_CUDA, 5);
        iris_rng_init(&fresh, IRIS_RNG_CUDA, 5);
        for (int j = 0; j < N; j++) x[j] = 10;
        toy t = {mu, 0, 0, 0, 0};
        iris_denoiser d = {toy_fn, &t};
        CHECK_OK(iris_sample((iris_sampler_kind)k, &d, x, N, sig, 5, &rng, 0.0f, NULL));
        for (int i = 0; i < (ancestral ? 4 : 0); i++) iris_rng_randn(&fresh, want, N);
        iris_rng_randn(&rng, probe, N);
        iris_rng_randn(&fresh, want, N);
        CHECK_MSG(!memcmp(probe, want, sizeof probe), "%s: wrong number of noise draws",
                  iris_sampler_cli_name((iris_sampler_kind)k));
        if (!ancestral) { /* deterministic samplers accept no rng at all */
            for (int j = 0; j < N; j++) x[j] = 10;
            CHECK_OK(iris_sample((iris_sampler_kind)k, &d, x, N, sig, 5, NULL, 1.0f, NULL));
        }
        CHECK(t.last_sigma > 0); /* never evaluated at sigma 0 */
    }
}

TEST(diffusion_sampler_cancel_and_errors) {
    float sig[6] = {10, 5, 2, 1, 0.5f, 0}, mu[N] = {0}, x[N], x_before[N];
    toy t = {mu, 1, 0, 0, 0};
    iris_denoiser d = {toy_fn, &t};
    iris_rng rng;
    iris_rng_init(&rng, IRIS_RNG_CPU, 1);
    for (int j = 0; j < N; j++) x[j] = (float)j;
    /* the callback asks to stop after step 2 (0-based 1): no third evaluation */
    record rec = {NULL, 0, 2};
    iris_sample_callback cb = {record_fn, &rec};
    CHECK_INT(iris_sample(IRIS_SAMPLER_HEUN, &d, x, N, sig, 5, &rng, 1, &cb), IRIS_ERR_CANCELLED);
    CHECK_INT(t.calls, 4);
    CHECK(strstr(iris_last_error(), "cancel") != NULL);
    /* a denoiser failure comes back as is, with its message */
    t.calls = 0, t.fail_at = 3;
    CHECK_INT(iris_sample(IRIS_SAMPLER_DPMPP_2M, &d, x, N, sig, 5, &rng, 1, NULL), IRIS_ERR_DEVICE);
    CHECK_INT(t.calls, 3);
    CHECK(strstr(iris_last_error(), "on purpose") != NULL);
    t.fail_at = 0, t.calls = 0;
    /* bad arguments: a clear error, x untouched */
    memcpy(x_before, x, sizeof x);
    float neg[3] = {1, -1, 0}, nan_[3] = {1, NAN, 0}, last_neg[3] = {1, 0.5f, -1}, zero_first[3] = {0, 0, 0};
    iris_denoiser none = {NULL, NULL};
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &none, x, N, sig, 5, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, NULL, x, N, sig, 5, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, NULL, N, sig, 5, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, 0, sig, 5, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, N, NULL, 5, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, N, sig, 0, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, N, neg, 2, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, N, nan_, 2, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, N, last_neg, 2, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, N, zero_first, 2, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK(strstr(iris_last_error(), "sigmas[0]") != NULL);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER_A, &d, x, N, sig, 5, NULL, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER_A, &d, x, N, sig, 5, &rng, -1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER_A, &d, x, N, sig, 5, &rng, NAN, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample(IRIS_SAMPLER_COUNT, &d, x, N, sig, 5, &rng, 1, NULL), IRIS_ERR_ARG);
    CHECK_INT(iris_sample((iris_sampler_kind)-3, &d, x, N, sig, 5, &rng, 1, NULL), IRIS_ERR_ARG);
    /* scratch that cannot exist: NOMEM before anything is touched */
    CHECK_INT(iris_sample(IRIS_SAMPLER_EULER, &d, x, (int64_t)1 << 62, sig, 5, NULL, 1, NULL), IRIS_ERR_NOMEM);
    CHECK_INT(t.calls, 0);
    CHECK(!memcmp(x, x_before, sizeof x));
    CHECK_INT(iris_sampler_evals(IRIS_SAMPLER_HEUN, 20), 39);
    CHECK_INT(iris_sampler_evals(IRIS_SAMPLER_EULER_A, 20), 20);
    CHECK_INT(iris_sampler_evals(IRIS_SAMPLER_DPM2, 0), 0);
}
