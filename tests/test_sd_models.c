/* test_sd_models.c - the SD text encoders, UNet, VAE and whole sampler trajectories against
   diffusers / transformers / k-diffusion (tests/ref/gen_sd_tiny.py, tests/ref/sd/).

   Tolerances: both sides compute in float32 from the same f16/bf16 weights, so differences come
   from summation order (GEMM blocking, tiled attention's online softmax, group-norm statistics):
   ~1e-6 relative per op, growing to ~1e-5..1e-4 through a few dozen layers. One evaluation is held
   to 2e-4 absolute + 2e-4 relative; a 4-step trajectory (4-8 UNet calls at CFG 7, which
   amplifies the cond/uncond difference sevenfold) to 2e-3. Decoded images live in [-1, 1]. */
#include <stdlib.h>
#include <string.h>

#include "../diffusion/denoiser.h"
#include "../diffusion/sd_internal.h"
#include "test.h"

static iris_sd *load(const char *rel, iris_sd_prediction pred) {
    char path[512];
    snprintf(path, sizeof path, "tests/ref/sd/%s", rel);
    iris_sd_load_params lp = iris_sd_load_default_params();
    lp.n_threads = 2;
    lp.prediction = pred;
    iris_sd *sd = NULL;
    CHECK_OK(iris_sd_load(&sd, path, &lp));
    return sd;
}

static float *ref(const char *file, const char *name, int64_t *n) {
    char rel[128];
    snprintf(rel, sizeof rel, "sd/%s", file);
    return test_ref_f32(rel, name, n);
}

/* Reference I32 ids as the tokenizer's chunk struct with the given weights (or all 1). */
static iris_clip_chunks chunk_of(const char *file, const char *ids_name, int row, const float *weights) {
    iris_clip_chunks c = {1, malloc(77 * sizeof(int32_t)), malloc(77 * sizeof(float))};
    int64_t n;
    float *ids = ref(file, ids_name, &n); /* test_ref_f32 converts I32 to float: ids < 2^24 are exact */
    for (int i = 0; i < 77; i++) {
        c.ids[i] = ids ? (int32_t)ids[row * 77 + i] : 0;
        c.weights[i] = weights ? weights[i] : 1.0f;
    }
    free(ids);
    return c;
}

static void check_text(const char *model, const char *file, iris_sd_prediction pred) {
    iris_sd *sd = load(model, pred);
    if (!sd) return;
    int64_t n;
    float *want = ref(file, "text_out", &n);
    for (int row = 0; row < 2 && want; row++) {
        iris_clip_chunks c = chunk_of(file, "text_ids", row, NULL);
        float *got;
        int nt;
        CHECK_OK(iris_sd_encode_chunks(sd, &c, 0, &got, &nt));
        CHECK_INT(nt, 77);
        if (got) CHECK_CLOSE(got, want + row * 77 * sd->text.tower.dim, 77 * sd->text.tower.dim, 2e-4, 2e-4);
        free(got);
        iris_clip_chunks_free(&c);
    }
    free(want);
    iris_sd_free(sd);
}

TEST(sd1_text_encoder_matches_transformers) { check_text("sd1_tiny.safetensors", "sd1_ref.safetensors", 0); }
TEST(sd2_openclip_text_encoder_matches_transformers) { check_text("sd2_tiny.safetensors", "sd2_ref.safetensors", IRIS_SD_PRED_V); }

TEST(sd1_clip_skip_and_emphasis_match_a1111) {
    iris_sd *sd = load("sd1_tiny.safetensors", 0);
    if (!sd) return;
    int64_t n, nw;
    float *skip2 = ref("sd1_ref.safetensors", "text_out_skip2", &n), *w = ref("sd1_ref.safetensors", "emph_w", &nw);
    float *emph = ref("sd1_ref.safetensors", "emph_out", &n), *got;
    int nt;
    iris_clip_chunks c = chunk_of("sd1_ref.safetensors", "text_ids", 0, NULL);
    CHECK_OK(iris_sd_encode_chunks(sd, &c, 2, &got, &nt));
    if (got && skip2) CHECK_CLOSE(got, skip2, 77 * 16, 2e-4, 2e-4);
    free(got);
    iris_clip_chunks_free(&c);
    c = chunk_of("sd1_ref.safetensors", "emph_ids", 0, w);
    CHECK_OK(iris_sd_encode_chunks(sd, &c, 0, &got, &nt));
    if (got && emph) CHECK_CLOSE(got, emph, 77 * 16, 2e-4, 2e-4);
    free(got);
    iris_clip_chunks_free(&c);
    free(skip2), free(w), free(emph);
    iris_sd_free(sd);
}

static void check_unet(const char *model, const char *file, iris_sd_prediction pred) {
    iris_sd *sd = load(model, pred);
    if (!sd) return;
    int64_t nx, nt, nc, no;
    float *x = ref(file, "unet_x", &nx), *t = ref(file, "unet_t", &nt), *c = ref(file, "unet_ctx", &nc),
          *want = ref(file, "unet_out", &no);
    if (x && t && c && want) {
        iris_ctx *ctx = sd->ctx;
        iris_ctx_reset(ctx);
        iris_tensor *xt = iris_ctx_upload(ctx, IRIS_F32, 4, (int64_t[]){2, 4, 8, 8}, x);
        iris_tensor *ct = iris_ctx_upload(ctx, IRIS_F32, 3, (int64_t[]){2, 77, nc / 154}, c);
        iris_tensor *y = iris_unet_forward(ctx, &sd->unet, xt, t, ct);
        CHECK_OK(iris_ctx_status(ctx));
        float *got = y ? test_read_f32(y) : NULL;
        if (got) CHECK_CLOSE(got, want, no, 2e-4, 2e-4);
        free(got);
    }
    free(x), free(t), free(c), free(want);
    iris_sd_free(sd);
}

TEST(sd1_unet_matches_diffusers) { check_unet("sd1_tiny.safetensors", "sd1_ref.safetensors", 0); }
TEST(sd2_unet_linear_proj_matches_diffusers) { check_unet("sd2_tiny.safetensors", "sd2_ref.safetensors", IRIS_SD_PRED_V); }
TEST(sd2_diffusers_folder_unet_matches) { check_unet("sd2_tiny_diffusers", "sd2d_ref.safetensors", 0); }

static void check_vae(const char *model, const char *file) {
    iris_sd *sd = load(model, IRIS_SD_PRED_EPS);
    if (!sd) return;
    int64_t n, ni, nm, nl;
    float *z = ref(file, "vae_latent", &n), *want = ref(file, "vae_image", &ni);
    float *img = ref(file, "enc_image", &ni), *mean = ref(file, "enc_mean", &nm), *lv = ref(file, "enc_logvar", &nl);
    iris_ctx *ctx = sd->ctx;
    if (z && want) {
        iris_ctx_reset(ctx);
        iris_tensor *y = iris_vae_decode(ctx, &sd->vae, iris_ctx_upload(ctx, IRIS_F32, 4, (int64_t[]){1, 4, 8, 8}, z));
        CHECK_OK(iris_ctx_status(ctx));
        float *got = y ? test_read_f32(y) : NULL;
        if (got) CHECK_CLOSE(got, want, ni, 2e-4, 2e-4);
        free(got);
    }
    if (img && mean && lv) {
        iris_ctx_reset(ctx);
        iris_tensor *logvar = NULL;
        iris_tensor *m = iris_vae_encode(ctx, &sd->vae, iris_ctx_upload(ctx, IRIS_F32, 4, (int64_t[]){1, 3, 64, 64}, img),
                                         &logvar);
        CHECK_OK(iris_ctx_status(ctx));
        float *gm = m ? test_read_f32(m) : NULL, *gl = logvar ? test_read_f32(logvar) : NULL;
        if (gm) CHECK_CLOSE(gm, mean, nm, 2e-4, 2e-4);
        if (gl) CHECK_CLOSE(gl, lv, nl, 2e-4, 2e-4);
        free(gm), free(gl);
    }
    free(z), free(want), free(img), free(mean), free(lv);
    iris_sd_free(sd);
}

TEST(sd1_vae_decode_encode_match_diffusers) { check_vae("sd1_tiny.safetensors", "sd1_ref.safetensors"); }
TEST(sd2_diffusers_folder_vae_matches) { check_vae("sd2_tiny_diffusers", "sd2d_ref.safetensors"); }

/* k-diffusion trajectories: torch CPU noise (seed 42), 4 steps, CFG 7, [uncond, cond] batched. */
static void check_traj(const char *model, const char *file, iris_sd_prediction pred, iris_sampler_kind k,
                       iris_schedule_kind s) {
    iris_sd *sd = load(model, pred);
    if (!sd) return;
    char name[96];
    snprintf(name, sizeof name, "traj_%s_%s_latent", iris_sampler_cli_name(k), iris_schedule_cli_name(s));
    int64_t n, nc, ns;
    float *want = ref(file, name, &n), *ctxs = ref(file, "text_out", &nc);
    snprintf(name, sizeof name, "traj_sigmas_%s", iris_schedule_cli_name(s));
    float *sig_want = ref(file, name, &ns);
    float sigmas[5], x[256];
    CHECK_OK(iris_schedule_sigmas(s, sd->train_sigmas, IRIS_SD_TRAIN_STEPS, 4, sigmas));
    if (sig_want) CHECK_CLOSE(sigmas, sig_want, 5, 1e-5, 1e-5);
    if (want && ctxs && n == 256) {
        iris_rng rng;
        iris_rng_init(&rng, IRIS_RNG_CPU, 42);
        iris_rng_randn(&rng, x, 256);
        for (int i = 0; i < 256; i++) x[i] *= sigmas[0];
        int64_t D = nc / 154;
        iris_sd_denoiser d;
        CHECK_OK(iris_sd_denoiser_init(&d, sd, 4, 8, 8, 7.0f, ctxs, 77, ctxs + 77 * D, 77));
        CHECK_OK(iris_sample(k, &d.fn, x, 256, sigmas, 4, &rng, 1.0f, NULL));
        CHECK_CLOSE(x, want, 256, 2e-3, 2e-3);
        iris_sd_denoiser_free(&d);
    }
    free(want), free(ctxs), free(sig_want);
    iris_sd_free(sd);
}

TEST(sd1_trajectories_match_kdiffusion) {
    for (int k = IRIS_SAMPLER_EULER; k <= IRIS_SAMPLER_DPMPP_2M; k++)
        check_traj("sd1_tiny.safetensors", "sd1_ref.safetensors", 0, k, IRIS_SCHEDULE_DISCRETE);
    for (int s = IRIS_SCHEDULE_KARRAS; s <= IRIS_SCHEDULE_EXPONENTIAL; s++) {
        check_traj("sd1_tiny.safetensors", "sd1_ref.safetensors", 0, IRIS_SAMPLER_EULER_A, s);
        check_traj("sd1_tiny.safetensors", "sd1_ref.safetensors", 0, IRIS_SAMPLER_DPMPP_2M, s);
    }
}

TEST(sd2_v_trajectories_match_kdiffusion) {
    for (int k = IRIS_SAMPLER_EULER; k <= IRIS_SAMPLER_DPMPP_2M; k++)
        check_traj("sd2_tiny.safetensors", "sd2_ref.safetensors", IRIS_SD_PRED_V, k, IRIS_SCHEDULE_DISCRETE);
}

/* The whole sampling path from prompt text: tokenizer, encoder, noise, sampler, against the
   same k-diffusion trajectory (the reference tokenized with Hugging Face's CLIPTokenizer). */
static void check_prompt_path(const char *model, const char *file, iris_sd_prediction pred) {
    iris_sd *sd = load(model, pred);
    if (!sd) return;
    int64_t n;
    float *want = ref(file, "traj_euler_a_discrete_latent", &n), x[256];
    iris_sd_params p = iris_sd_default_params();
    p.prompt = "a photo of a cat on a sofa";
    p.negative = "";
    p.width = p.height = 64;
    p.steps = 4;
    p.seed = 42;
    p.rng = IRIS_RNG_CPU;
    CHECK_OK(iris_sd_sample_latent(sd, &p, 64, 64, NULL, x));
    if (want) CHECK_CLOSE(x, want, 256, 2e-3, 2e-3);
    free(want);
    iris_sd_free(sd);
}

TEST(sd1_prompt_to_latent_matches_reference) { check_prompt_path("sd1_tiny.safetensors", "sd1_ref.safetensors", 0); }
TEST(sd2_prompt_to_latent_matches_reference) { check_prompt_path("sd2_tiny.safetensors", "sd2_ref.safetensors", IRIS_SD_PRED_V); }

/* img2img as A1111 runs it: 5 steps at strength 0.6 run the last 4 sigmas from the encoded image. */
TEST(sd1_img2img_matches_a1111_rule) {
    iris_sd *sd = load("sd1_tiny.safetensors", 0);
    if (!sd) return;
    int64_t n;
    float *z0 = ref("sd1_ref.safetensors", "enc_mean", &n), *want = ref("sd1_ref.safetensors", "img2img_latent", &n), x[256];
    iris_sd_params p = iris_sd_default_params();
    p.prompt = "a photo of a cat on a sofa";
    p.steps = 5;
    p.strength = 0.6f;
    p.seed = 7;
    p.rng = IRIS_RNG_CPU;
    if (z0 && want) {
        CHECK_OK(iris_sd_sample_latent(sd, &p, 64, 64, z0, x));
        CHECK_CLOSE(x, want, 256, 2e-3, 2e-3);
    }
    free(z0), free(want);
    iris_sd_free(sd);
}

/* A generated image is the decoded latent stored as A1111 does: trunc(255 * clamp((x + 1) / 2)). */
TEST(sd1_generate_image_matches_decoded_reference) {
    iris_sd *sd = load("sd1_tiny.safetensors", 0);
    if (!sd) return;
    int64_t n;
    float *want = ref("sd1_ref.safetensors", "traj_euler_a_discrete_image", &n);
    iris_sd_params p = iris_sd_default_params();
    p.prompt = "a photo of a cat on a sofa";
    p.width = p.height = 64;
    p.steps = 4;
    p.seed = 42;
    p.rng = IRIS_RNG_CPU;
    iris_image img;
    CHECK_OK(iris_sd_generate(sd, &p, &img));
    if (want && img.data) {
        int worst = 0;
        for (int i = 0; i < 64 * 64; i++)
            for (int c = 0; c < 3; c++) {
                float v = (want[c * 4096 + i] + 1) * 0.5f;
                int e = (int)((v < 0 ? 0 : v > 1 ? 1 : v) * 255.0f), d = abs(e - img.data[i * 3 + c]);
                worst = d > worst ? d : worst;
            }
        CHECK_MSG(worst <= 1, "worst pixel differs by %d levels", worst); /* 2e-3 in [-1, 1] is < 1 level */
    }
    iris_image_free(&img);
    free(want);
    iris_sd_free(sd);
}

/* Hostile and wrong checkpoints: one clear error naming the file, never a crash. */
static void expect_load_error(const char *path, iris_status want_st, const char *needle) {
    iris_sd *sd = NULL;
    iris_sd_load_params lp = iris_sd_load_default_params();
    lp.n_threads = 1;
    iris_status st = iris_sd_load(&sd, path, &lp);
    CHECK_MSG(st == want_st, "%s: got %s (%s), want %s", path, iris_status_name(st), iris_last_error(), iris_status_name(want_st));
    CHECK_MSG(strstr(iris_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", path, iris_last_error(), needle);
    CHECK(strchr(iris_last_error(), '\n') == NULL);
    CHECK(sd == NULL);
    iris_sd_free(sd);
}

static char *read_all(const char *path, size_t *n) {
    char *buf = NULL;
    CHECK_OK(iris_read_file(path, &buf, n));
    return buf;
}

/* Rewrites the JSON header of a safetensors copy through `edit` (same length, so offsets hold). */
static void write_edited(const char *dst, const char *src, const char *from, const char *to) {
    size_t n;
    char *b = read_all(src, &n);
    if (!b) return;
    uint64_t hl;
    memcpy(&hl, b, 8);
    char *hit = memmem(b + 8, hl, from, strlen(from));
    CHECK(hit != NULL && strlen(from) == strlen(to));
    if (hit) memcpy(hit, to, strlen(to));
    CHECK_OK(iris_write_atomic(dst, b, n));
    free(b);
}

TEST(sd_hostile_checkpoints_fail_cleanly) {
    const char *src = "tests/ref/sd/sd1_tiny.safetensors";
    char dir[] = "/tmp/iris_sd_XXXXXX", path[256];
    if (!mkdtemp(dir)) return;
    size_t n;
    char *b = read_all(src, &n);
    if (!b) return;
    /* truncated at several points: header, mid-header, mid-data */
    size_t cuts[] = {4, 100, n / 2, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        snprintf(path, sizeof path, "%s/cut%zu.safetensors", dir, i);
        CHECK_OK(iris_write_atomic(path, b, cuts[i]));
        expect_load_error(path, IRIS_ERR_FORMAT, path);
    }
    free(b);
    /* a missing UNet tensor (renamed away), a wrong shape (a dim edited), and not a model at all */
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    write_edited(path, src, "\"model.diffusion_model.out.2.weight\"", "\"model.diffusion_model.out.2.weighX\"");
    expect_load_error(path, IRIS_ERR_FORMAT, "out.2.weight");
    snprintf(path, sizeof path, "%s/notsd.safetensors", dir);
    expect_load_error("tests/ref/resnet18_tiny.safetensors", IRIS_ERR_FORMAT, "not a Stable Diffusion checkpoint");
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    CHECK_OK(iris_write_atomic(path, "PK\003\004rest", 8));
    expect_load_error(path, IRIS_ERR_UNSUPPORTED, ".ckpt");
    expect_load_error("/nonexistent/model.safetensors", IRIS_ERR_IO, "/nonexistent/model.safetensors");
}

/* diffusers keeps 23 of OpenCLIP's 24 layers for SD 2.x and uses the last: the same conditioning. */
TEST(sd2_diffusers_folder_text_encoder_matches) { check_text("sd2_tiny_diffusers", "sd2d_ref.safetensors", 0); }
