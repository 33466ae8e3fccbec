/* sd_load.c - a Stable Diffusion model from an original single-file checkpoint or a diffusers
   folder: which family, which prediction type, and the three networks, all from names, shapes
   and metadata. Weights stay mapped in their stored type. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/backend.h"
#include "sd_internal.h"

#define SD_VAE_SCALE 0.18215f

iris_sd_load_params iris_sd_load_default_params(void) {
    iris_sd_load_params p = {0};
    p.device = IRIS_CPU;
    return p;
}

const iris_sd_info *iris_sd_get_info(const iris_sd *sd) { return &sd->info; }

static int is_dir(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISDIR(s.st_mode);
}

static int exists(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

/* A file we cannot read, named for what it is. */
static iris_status check_file_kind(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return iris_fail(IRIS_ERR_IO, "%s: cannot open the model", path);
    unsigned char m[4] = {0};
    size_t n = fread(m, 1, 4, f);
    fclose(f);
    if ((n >= 2 && m[0] == 'P' && m[1] == 'K') || ends_with(path, ".ckpt") || ends_with(path, ".pt") ||
        ends_with(path, ".pth") || ends_with(path, ".bin"))
        return iris_fail(IRIS_ERR_UNSUPPORTED,
                         "%s: pickled PyTorch checkpoints (.ckpt) are not supported (unsafe to load); use the .safetensors "
                         "version of the model", path);
    if (n >= 4 && !memcmp(m, "GGUF", 4))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: GGUF Stable Diffusion files are not supported yet; use .safetensors", path);
    return IRIS_OK;
}

static void model_name(iris_sd *sd, const char *path) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = 0;
    const char *base = strrchr(tmp, '/');
    base = base ? base + 1 : tmp;
    snprintf(sd->name, sizeof sd->name, "%s", base);
    char *dot = strrchr(sd->name, '.');
    if (dot && !strcasecmp(dot, ".safetensors")) *dot = 0;
    sd->info.name = sd->name;
}

static cJSON *read_json(const char *path) {
    char *text;
    size_t n;
    if (iris_read_file(path, &text, &n)) return NULL;
    cJSON *j = cJSON_ParseWithLength(text, n);
    free(text);
    if (!j) iris_fail(IRIS_ERR_FORMAT, "%s: not valid JSON", path);
    return j;
}

static int json_int(const cJSON *j, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static const char *json_str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static iris_sd_prediction parse_prediction(const char *s) {
    if (!s) return IRIS_SD_PRED_AUTO;
    if (!strcasecmp(s, "v") || !strcasecmp(s, "v_prediction") || !strcasecmp(s, "v-prediction")) return IRIS_SD_PRED_V;
    if (!strcasecmp(s, "eps") || !strcasecmp(s, "epsilon")) return IRIS_SD_PRED_EPS;
    return IRIS_SD_PRED_AUTO;
}

/* First existing "<dir>/<sub>/<name>" of the candidates. */
static int find_in(char *out, size_t n, const char *dir, const char *sub, const char *const *names) {
    for (; *names; names++) {
        snprintf(out, n, "%s/%s/%s", dir, sub, *names);
        if (exists(out)) return 1;
    }
    return 0;
}

/* A1111's test for SD 2.x files that do not say: at t = 999 an eps model's output on a flat
   0.5 input keeps its mean, a v model's falls far below it. */
static iris_sd_prediction guess_prediction(iris_sd *sd) {
    iris_ctx *ctx = sd->ctx;
    iris_ctx_reset(ctx);
    const int64_t L = IRIS_CLIP_CTX, D = sd->unet.ctx_dim, n = 4 * 8 * 8;
    float *buf = calloc((size_t)(L * D + n), sizeof *buf);
    if (!buf) return IRIS_SD_PRED_EPS;
    for (int64_t i = 0; i < n; i++) buf[L * D + i] = 0.5f;
    iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 4, (int64_t[]){1, sd->unet.in_ch, 8, 8}, buf + L * D);
    iris_tensor *c = iris_ctx_upload(ctx, IRIS_F32, 3, (int64_t[]){1, L, D}, buf);
    float t = 999.0f;
    iris_tensor *y = iris_unet_forward(ctx, &sd->unet, x, &t, c);
    iris_sd_prediction p = IRIS_SD_PRED_EPS;
    if (!iris_ctx_status(ctx) && !iris_tensor_read(y, buf, (size_t)n * sizeof *buf)) {
        double mean = 0;
        for (int64_t i = 0; i < n; i++) mean += buf[i] - 0.5;
        if (mean / (double)n < -1) p = IRIS_SD_PRED_V;
    }
    free(buf);
    iris_ctx_reset(ctx);
    return p;
}

static iris_status open_single_file(iris_sd *sd, const char *path, iris_device dev) {
    iris_status st = check_file_kind(path);
    if (!st) st = iris_weights_open(&sd->w_text, path, dev);
    if (!st) st = iris_weights_open(&sd->w_unet, path, dev);
    if (!st) st = iris_weights_open(&sd->w_vae, path, dev);
    if (st) return st;
    iris_weights_prefix(&sd->w_text, "cond_stage_model.");
    iris_weights_prefix(&sd->w_unet, "model.diffusion_model.");
    iris_weights_prefix(&sd->w_vae, "first_stage_model.");
    iris_weights *w = &sd->w_text;
    if (iris_safetensors_find(&w->st, "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight") ||
        iris_safetensors_find(&w->st, "model.diffusion_model.label_emb.0.0.weight"))
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: SDXL checkpoints are not supported yet (SD 1.x and 2.x are)", path);
    if (iris_weights_has(w, "transformer.text_model.embeddings.token_embedding.weight")) {
        sd->info.family = IRIS_SD_1;
        st = iris_clip_text_load_hf(&sd->text, w, "transformer.text_model.", IRIS_ACT_QUICK_GELU, 0);
    } else if (iris_weights_has(w, "model.token_embedding.weight")) {
        sd->info.family = IRIS_SD_2;
        st = iris_clip_text_load_openclip(&sd->text, w, "model.", 0);
    } else if (!iris_weights_has(&sd->w_unet, "input_blocks.0.0.weight")) {
        return iris_fail(IRIS_ERR_FORMAT, "%s: not a Stable Diffusion checkpoint (no model.diffusion_model.* tensors)", path);
    } else {
        return iris_fail(IRIS_ERR_FORMAT, "%s: no text encoder (cond_stage_model.*) in the checkpoint", path);
    }
    if (st) return st;
    sd->info.prediction = parse_prediction(iris_safetensors_meta(&w->st, "prediction_type"));
    if (!sd->info.prediction) sd->info.prediction = parse_prediction(iris_safetensors_meta(&w->st, "modelspec.prediction_type"));
    return IRIS_OK;
}

static iris_status open_diffusers(iris_sd *sd, const char *dir, iris_device dev) {
    char path[1024], cfg[1024];
    static const char *const unet_files[] = {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors", NULL};
    static const char *const text_files[] = {"model.safetensors", "model.fp16.safetensors", NULL};
    snprintf(cfg, sizeof cfg, "%s/model_index.json", dir);
    if (!exists(cfg)) return iris_fail(IRIS_ERR_FORMAT, "%s: a folder without model_index.json is not a diffusers model", dir);
    cJSON *index = read_json(cfg);
    if (!index) return IRIS_ERR_FORMAT;
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(index, "_class_name");
    int xl = cJSON_IsString(cls) && strstr(cls->valuestring, "XL");
    cJSON_Delete(index);
    if (xl) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: SDXL pipelines are not supported yet (SD 1.x and 2.x are)", dir);

    /* text encoder: OpenCLIP-trained (SD 2.x) ones use GELU, OpenAI's quick-GELU */
    snprintf(cfg, sizeof cfg, "%s/text_encoder/config.json", dir);
    cJSON *tc = read_json(cfg);
    if (!tc) return iris_fail(IRIS_ERR_FORMAT, "%s: cannot read text_encoder/config.json: %s", dir, iris_last_error());
    const char *act = json_str(tc, "hidden_act");
    int heads = json_int(tc, "num_attention_heads", 0), gelu = act && !strcmp(act, "gelu");
    cJSON_Delete(tc);
    sd->info.family = gelu ? IRIS_SD_2 : IRIS_SD_1;
    sd->text_dropped = gelu; /* diffusers stores SD 2.x's text tower without its unused last layer */
    if (!find_in(path, sizeof path, dir, "text_encoder", text_files))
        return iris_fail(IRIS_ERR_NOT_FOUND, "%s: no text_encoder/model.safetensors (pickled .bin weights are not supported)", dir);
    iris_status st = iris_weights_open(&sd->w_text, path, dev);
    if (!st) st = iris_clip_text_load_hf(&sd->text, &sd->w_text, "text_model.", gelu ? IRIS_ACT_GELU : IRIS_ACT_QUICK_GELU, heads);
    if (st) return st;

    snprintf(cfg, sizeof cfg, "%s/unet/config.json", dir);
    cJSON *uc = read_json(cfg);
    if (!uc) return iris_fail(IRIS_ERR_FORMAT, "%s: cannot read unet/config.json: %s", dir, iris_last_error());
    sd->df_layers = json_int(uc, "layers_per_block", 2);
    cJSON_Delete(uc);
    if (!find_in(path, sizeof path, dir, "unet", unet_files))
        return iris_fail(IRIS_ERR_NOT_FOUND, "%s: no unet/diffusion_pytorch_model.safetensors", dir);
    if ((st = iris_weights_open(&sd->w_unet, path, dev))) return st;
    iris_weights_set_rename(&sd->w_unet, iris_sd_diffusers_unet_name, &sd->df_layers);

    snprintf(cfg, sizeof cfg, "%s/vae/config.json", dir);
    cJSON *vc = read_json(cfg);
    if (!vc) return iris_fail(IRIS_ERR_FORMAT, "%s: cannot read vae/config.json: %s", dir, iris_last_error());
    sd->df_vae_levels = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(vc, "block_out_channels"));
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(vc, "scaling_factor");
    if (cJSON_IsNumber(sf)) sd->vae_scale = (float)sf->valuedouble;
    cJSON_Delete(vc);
    if (sd->df_vae_levels < 1) sd->df_vae_levels = 4;
    if (!find_in(path, sizeof path, dir, "vae", unet_files))
        return iris_fail(IRIS_ERR_NOT_FOUND, "%s: no vae/diffusion_pytorch_model.safetensors", dir);
    if ((st = iris_weights_open(&sd->w_vae, path, dev))) return st;
    iris_weights_set_rename(&sd->w_vae, iris_sd_diffusers_vae_name, &sd->df_vae_levels);

    snprintf(cfg, sizeof cfg, "%s/scheduler/scheduler_config.json", dir);
    if (exists(cfg)) {
        cJSON *sc = read_json(cfg);
        if (sc) sd->info.prediction = parse_prediction(json_str(sc, "prediction_type"));
        cJSON_Delete(sc);
    }
    snprintf(path, sizeof path, "%s/tokenizer", dir);
    if (is_dir(path)) snprintf(sd->tok_path, sizeof sd->tok_path, "%s", path);
    return IRIS_OK;
}

iris_status iris_sd_load(iris_sd **out, const char *path, const iris_sd_load_params *lp) {
    *out = NULL;
    iris_sd_load_params p = lp ? *lp : iris_sd_load_default_params();
    iris_sd *sd = calloc(1, sizeof *sd);
    if (!sd) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    sd->device = p.device;
    sd->verbose = p.verbose;
    sd->vae_scale = SD_VAE_SCALE;
    model_name(sd, path);
    /* the context first: a missing GPU or a backend without SD's kernels is refused before any upload */
    iris_ctx_params cp = iris_ctx_default_params();
    cp.device = p.device;
    cp.n_threads = p.n_threads;
    cp.verbose = p.verbose;
    iris_status st = iris_ctx_create(&sd->ctx, &cp);
    static const int needed[] = {IRIS_OP_COPY,       IRIS_OP_LINEAR,     IRIS_OP_CONV2D, IRIS_OP_UPSAMPLE,
                                 IRIS_OP_GROUP_NORM, IRIS_OP_LAYER_NORM, IRIS_OP_ATTENTION, IRIS_OP_UNARY,
                                 IRIS_OP_BINARY,     IRIS_OP_CONCAT,     IRIS_OP_GET_ROWS};
    for (size_t i = 0; !st && i < sizeof needed / sizeof needed[0]; i++)
        if (!iris_ctx_has_op(sd->ctx, needed[i]))
            st = iris_fail(IRIS_ERR_UNSUPPORTED, "%s: the %s backend cannot run Stable Diffusion yet (op %d missing)", path,
                           iris_device_name(p.device), needed[i]);
    if (!st) st = is_dir(path) ? open_diffusers(sd, path, p.device) : open_single_file(sd, path, p.device);
    if (!st) {
        iris_unet_heads heads = sd->info.family == IRIS_SD_2 ? (iris_unet_heads){0, 64} : (iris_unet_heads){8, 0};
        st = iris_unet_load(&sd->unet, &sd->w_unet, heads);
    }
    if (!st && sd->unet.ctx_dim != sd->text.tower.dim)
        st = iris_fail(IRIS_ERR_SHAPE, "%s: the text encoder is %d wide but the UNet's cross-attention expects %d", path,
                       sd->text.tower.dim, sd->unet.ctx_dim);
    if (!st) st = iris_vae_load(&sd->vae, &sd->w_vae, sd->vae_scale);
    if (!st && sd->vae.latent_ch != sd->unet.in_ch)
        st = iris_fail(IRIS_ERR_SHAPE, "%s: the VAE has %d latent channels, the UNet %d", path, sd->vae.latent_ch,
                       sd->unet.in_ch);
    const char *tok = p.tokenizer ? p.tokenizer : (sd->tok_path[0] ? sd->tok_path : NULL);
    if (!st) st = iris_clip_tokenizer_load(&sd->tok, tok);
    if (!st) {
        float alphas[IRIS_SD_TRAIN_STEPS];
        iris_sd_alphas_cumprod(alphas, IRIS_SD_TRAIN_STEPS);
        iris_sigmas_from_alphas(alphas, IRIS_SD_TRAIN_STEPS, sd->train_sigmas);
        sd->info.latent_channels = sd->unet.in_ch;
        sd->info.text_dim = sd->text.tower.dim;
        sd->pad_id = sd->info.family == IRIS_SD_2 ? 0 : IRIS_CLIP_EOS;
        sd->clip_skip_default = sd->info.family == IRIS_SD_2 ? 2 : 1;
        if (p.prediction) sd->info.prediction = p.prediction;
        if (!sd->info.prediction)
            sd->info.prediction = sd->info.family == IRIS_SD_2 ? guess_prediction(sd) : IRIS_SD_PRED_EPS;
        sd->info.native_size = sd->info.family == IRIS_SD_2 && sd->info.prediction == IRIS_SD_PRED_V ? 768 : 512;
        if (sd->vae.factor != 8) sd->info.native_size = sd->info.native_size / 8 * sd->vae.factor;
    }
    if (st) {
        iris_sd_free(sd);
        return st;
    }
    *out = sd;
    return IRIS_OK;
}

void iris_sd_free(iris_sd *sd) {
    if (!sd) return;
    iris_clip_text_free(&sd->text);
    iris_unet_free(&sd->unet);
    iris_vae_free(&sd->vae);
    iris_clip_tokenizer_free(sd->tok);
    iris_ctx_free(sd->ctx);
    iris_weights_close(&sd->w_text);
    iris_weights_close(&sd->w_unet);
    iris_weights_close(&sd->w_vae);
    free(sd);
}
