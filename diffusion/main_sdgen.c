/* main_sdgen.c - sdgen: pictures from a text prompt (or from a picture and a prompt) with
   Stable Diffusion 1.x / 2.x.

   sdgen "a lighthouse at dusk" -m v1-5-pruned-emaonly.safetensors -o lighthouse.png
   Each PNG carries AUTOMATIC1111's "parameters" text, so A1111's PNG Info and image sites read
   the prompt, seed and settings back. Everything is checked (options, prompt file, output
   names, init image) before the model is loaded, so a mistake costs no loading time. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "../core/file.h"
#include "../core/image.h"
#include "sd.h"

static iris_cli_common common;
static const char *model_path, *prompt, *negative, *output = "out.png", *prompt_file, *init_path, *tokenizer_path;
static int steps = 20, width, height, batch_count = 1, clip_skip, overwrite;
static int sampler = IRIS_SAMPLER_EULER_A, schedule = IRIS_SCHEDULE_DISCRETE, rng_kind, prediction;
static float cfg = 7, strength = -1; /* -1: not given */
static int64_t seed = -1;

static const char *const rng_names[] = {"cuda", "cpu", NULL};            /* = iris_rng_kind */
static const char *const prediction_names[] = {"auto", "eps", "v", NULL}; /* = iris_sd_prediction */

/* -W / -H: a multiple of 8 (the VAE's factor), 0 for the model's native size. */
static int parse_side(const char *v, void *dest, char *err, size_t errlen) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno) return snprintf(err, errlen, "not an integer"), 1;
    if (x < 0 || x > 16384) return snprintf(err, errlen, "out of range (0 to 16384)"), 1;
    if (x % 8 && x < 8) return snprintf(err, errlen, "not a multiple of 8 (try 8)"), 1;
    if (x % 8) return snprintf(err, errlen, "not a multiple of 8 (try %ld or %ld)", x / 8 * 8, x / 8 * 8 + 8), 1;
    *(int *)dest = (int)x;
    return 0;
}

static int parse_sampler(const char *v, void *dest, char *err, size_t errlen) {
    int k = iris_sampler_from_name(v);
    if (k >= 0) {
        *(int *)dest = k;
        return 0;
    }
    size_t len = (size_t)snprintf(err, errlen, "unknown sampler; one of:");
    for (int i = 0; i < IRIS_SAMPLER_COUNT && len < errlen; i++)
        len += (size_t)snprintf(err + len, errlen - len, "%s %s", i ? "," : "", iris_sampler_cli_name(i));
    if (len < errlen) snprintf(err + len, errlen - len, " (or A1111's names, e.g. \"DPM++ 2M\")");
    return 1;
}

static int parse_schedule(const char *v, void *dest, char *err, size_t errlen) {
    int k = iris_schedule_from_name(v);
    if (k >= 0) {
        *(int *)dest = k;
        return 0;
    }
    size_t len = (size_t)snprintf(err, errlen, "unknown schedule; one of:");
    for (int i = 0; i < IRIS_SCHEDULE_COUNT && len < errlen; i++)
        len += (size_t)snprintf(err + len, errlen - len, "%s %s", i ? "," : "", iris_schedule_cli_name(i));
    return 1;
}

static const iris_cli_opt opts[] = {
    IRIS_OPT_STRING("model", 'm', &model_path, "PATH", "checkpoint (.safetensors) or diffusers folder",
                    .def = "$IRIS_SD_MODEL"),
    IRIS_OPT_STRING("negative", 'n', &negative, "TEXT", "negative prompt: what to steer away from", .def = "none"),
    IRIS_OPT_STRING("output", 'o', &output, "FILE",
                    ".png (with the generation parameters) or .jpg; several images are numbered "
                    "FILE-0001.png, FILE-0002.png, ..."),
    IRIS_OPT_INT("steps", 0, &steps, 1, 1000, "N", "sampling steps"),
    IRIS_OPT_FLOAT("cfg", 0, &cfg, 0, 100, "S", "guidance scale; 1 = no guidance (one UNet pass per step)"),
    IRIS_OPT_INT64("seed", 's', &seed, 0, 0, "N",
                   "noise seed (-1: random); the images of --batch-count use N, N+1, ...",
                   .def = "random, printed on stderr"),
    IRIS_OPT_CUSTOM("width", 'W', &width, parse_side, "PX", "image width, a multiple of 8", .def = "the model's native size"),
    IRIS_OPT_CUSTOM("height", 'H', &height, parse_side, "PX", "image height, a multiple of 8",
                    .def = "the model's native size"),
    IRIS_OPT_CUSTOM("sampler", 0, &sampler, parse_sampler, "NAME",
                    "euler, euler_a, heun, dpm2, dpmpp_2s_a, dpmpp_2m, ddim, lcm, or A1111's names (\"DPM++ 2M\")",
                    .def = "euler_a"),
    IRIS_OPT_CUSTOM("schedule", 0, &schedule, parse_schedule, "NAME",
                    "sigmas: discrete (the model's own, A1111's Uniform), karras, exponential", .def = "discrete"),
    IRIS_OPT_INT("batch-count", 0, &batch_count, 1, 100000, "N", "images per prompt"),
    IRIS_OPT_STRING("prompt-file", 0, &prompt_file, "FILE",
                    "one prompt per line, each generated in turn (blank lines and # comments skipped)"),
    IRIS_OPT_STRING("init-img", 0, &init_path, "FILE", "img2img: start from this picture (resized to the output size)"),
    IRIS_OPT_FLOAT("strength", 0, &strength, 0, 1, "S", "img2img: how much of the picture is redrawn (0 < S <= 1)",
                   .def = "0.75"),
    IRIS_OPT_ENUM("rng", 0, &rng_kind, rng_names,
                  "noise generator: cuda (A1111's and sd.cpp's default, on any device) or cpu (A1111's CPU)"),
    IRIS_OPT_INT("clip-skip", 0, &clip_skip, 0, 24, "N", "stop the text encoder N-1 layers early (A1111's Clip skip)",
                 .def = "0 = the model's: SD 1.x last layer, SD 2.x penultimate"),
    IRIS_OPT_ENUM("prediction", 0, &prediction, prediction_names, "what the UNet predicts (auto: read from the model)"),
    IRIS_OPT_STRING("tokenizer", 0, &tokenizer_path, "PATH", "CLIP tokenizer folder or merges file",
                    .def = "the model's, else the built-in one"),
    IRIS_OPT_FLAG("overwrite", 0, &overwrite, "replace existing output files (default: refuse, exit status 4)"),
    IRIS_CLI_COMMON_OPTS(&common),
    IRIS_OPT_END,
};

static const iris_cli_opt args[] = {
    IRIS_ARG_STRING("PROMPT", &prompt, "what to draw, in A1111's syntax: (word:1.2), [word], BREAK",
                    .flags = IRIS_CLI_OPTIONAL),
    IRIS_OPT_END,
};

static const iris_cli_spec spec = {
    .tool = "sdgen",
    .summary = "Generate images with Stable Diffusion 1.x / 2.x (txt2img, img2img).",
    .opts = opts,
    .args = args,
    .description =
        "Give a PROMPT or --prompt-file. The model comes from --model or the IRIS_SD_MODEL environment variable. "
        "One image is written to -o exactly (default out.png); several (--batch-count > 1, or a prompt file) "
        "are numbered: out-0001.png, out-0002.png, ... in order, prompt by prompt; every prompt starts again at "
        "the same seed. An existing file is never replaced without --overwrite (exit status 4, before the model is loaded). PNGs carry AUTOMATIC1111's "
        "\"parameters\" text; the same seed, sampler, schedule and --rng reproduce A1111's image. Ctrl-C stops "
        "after the current step and writes no partial image. With -v, the time and peak memory of each stage.",
    .epilog = "examples:\n"
              "  sdgen \"a lighthouse at dusk, oil painting\" -m v1-5-pruned-emaonly.safetensors -o lighthouse.png\n"
              "  sdgen \"a red fox\" -n \"blurry\" --sampler dpmpp_2m --schedule karras --steps 30 --seed 42\n"
              "  sdgen \"a red fox\" --batch-count 4 -o foxes.png          # foxes-0001.png ... foxes-0004.png\n"
              "  sdgen --prompt-file prompts.txt -o out/img.png\n"
              "  sdgen \"a watercolour city\" --init-img photo.jpg --strength 0.6 -o city.png\n",
};

/* ---- output names ---- */

static int has_ext(const char *path, const char *ext) {
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

static int is_jpeg_name(const char *path) { return has_ext(path, ".jpg") || has_ext(path, ".jpeg"); }

/* "dir/name.png", 3 -> "dir/name-0003.png"; only one image: the name as given. */
static char *output_name(const char *base, int index, int total) {
    size_t n = strlen(base) + 32;
    char *s = malloc(n);
    if (!s) return NULL;
    if (total <= 1) {
        snprintf(s, n, "%s", base);
        return s;
    }
    const char *slash = strrchr(base, '/'), *dot = strrchr(base, '.');
    if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : base)) dot = base + strlen(base);
    snprintf(s, n, "%.*s-%04d%s", (int)(dot - base), base, index + 1, dot);
    return s;
}

/* The folder an output goes to must exist and take files: found now, not after a generation. */
static int check_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) == 0) return 0;
    iris_cli_error("%s: cannot write there: %s", dir, strerror(errno));
    return -1;
}

/* ---- prompts ---- */

typedef struct {
    char **v;
    int n;
} prompt_list;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* One prompt per line, trimmed; blank lines and lines starting with '#' are skipped. */
static iris_status read_prompts(const char *path, prompt_list *out) {
    char *text;
    iris_status st = iris_read_file(path, &text, NULL);
    if (st) return st;
    out->v = NULL, out->n = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        while (is_space(*line)) line++;
        size_t len = strlen(line);
        while (len && is_space(line[len - 1])) line[--len] = 0;
        if (!len || line[0] == '#') continue;
        char **nv = realloc(out->v, sizeof *nv * (size_t)(out->n + 1));
        if (!nv || !(nv[out->n] = strdup(line))) {
            if (nv) out->v = nv;
            free(text);
            return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
        }
        out->v = nv;
        out->n++;
    }
    free(text);
    if (!out->n) return iris_fail(IRIS_ERR_FORMAT, "%s: no prompts in the file (only blank lines and # comments)", path);
    return IRIS_OK;
}

static void free_prompts(prompt_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

/* A1111's random seed range: 0 .. 2^32 - 2. */
static uint64_t random_seed(void) {
    uint32_t r;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint32_t)time(NULL) * 2654435761u ^ (uint32_t)getpid();
    return r % 4294967294u;
}

/* ---- the step bar: "[=====>     ] 12/20 1.52 s/it ETA 12s  image 2/4" ----
   The cli layer's bar counts items per second; a diffusion step is slow enough that tqdm's
   seconds per step reads better, so sdgen draws its own in the same style. */

typedef struct step_bar {
    int tty;           /* draw at all: a terminal, not --quiet */
    int visible;
    int image, n_images;
    double t_steps;    /* when sampling began (after text encoding / VAE encode) */
    double t_drawn;
    char line[512];
} step_bar;

static step_bar bar;

static int term_width(void) {
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

static void bar_hide(void) {
    if (!bar.visible) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    bar.visible = 0;
}

static void bar_draw(void) {
    fprintf(stderr, "\r%s\033[K", bar.line);
    fflush(stderr);
    bar.visible = 1;
}

static void bar_update(int done, int total) {
    if (!bar.tty) return;
    double now = iris_cli_now();
    if (done < total && bar.t_drawn >= 0 && now - bar.t_drawn < 0.1) return;
    bar.t_drawn = now;
    int width = term_width(), bw = width >= 100 ? 30 : width >= 60 ? 20 : 10;
    char cells[40], rate[32] = "--", eta[32] = "--", label[64] = "";
    int k = total > 0 ? done * bw / total : 0;
    for (int i = 0; i < bw; i++) cells[i] = i < k ? '=' : (i == k && done > 0 ? '>' : ' ');
    cells[bw] = 0;
    double elapsed = now - bar.t_steps;
    if (done > 0 && elapsed > 0) {
        double per = elapsed / done;
        char r[16];
        if (per >= 1) snprintf(rate, sizeof rate, "%s s/it", iris_cli_fmt_rate(r, sizeof r, per));
        else snprintf(rate, sizeof rate, "%s it/s", iris_cli_fmt_rate(r, sizeof r, 1 / per));
        iris_cli_fmt_duration(eta, sizeof eta, per * (total - done));
    } else {
        snprintf(rate, sizeof rate, "-- s/it");
    }
    if (bar.n_images > 1) snprintf(label, sizeof label, "  image %d/%d", bar.image, bar.n_images);
    snprintf(bar.line, sizeof bar.line, "[%s] %d/%d %s ETA %s%s", cells, done, total, rate, eta, label);
    if ((int)strlen(bar.line) > width - 1) bar.line[width - 1] = 0;
    bar_draw();
}

/* params.progress: called after each sampler step (0-based); nonzero cancels on Ctrl-C. */
static int on_progress(void *user, int step, int n_steps) {
    (void)user;
    if (iris_cli_interrupted()) return 1;
    int done = step + 1 < n_steps ? step + 1 : n_steps;
    bar_update(done, n_steps);
    return 0;
}

static void fmt_bytes(char *buf, size_t n, size_t bytes) {
    if (bytes >= (size_t)1 << 30) snprintf(buf, n, "%.2f GiB", bytes / 1073741824.0);
    else snprintf(buf, n, "%.1f MiB", bytes / 1048576.0);
}

/* params.on_stage: the step clock starts once the prompt is encoded; -v prints every stage. */
static void on_stage(void *user, const char *stage, int index, double seconds, size_t peak) {
    (void)user;
    if (!strcmp(stage, "text") || !strcmp(stage, "vae-encode")) bar.t_steps = iris_cli_now();
    if (common.verbose < 1) return;
    char mem[32];
    fmt_bytes(mem, sizeof mem, peak);
    const char *name = !strcmp(stage, "text") ? "text encoding" : !strcmp(stage, "vae-decode") ? "VAE decode"
                     : !strcmp(stage, "vae-encode") ? "VAE encode" : stage;
    int was = bar.visible;
    bar_hide();
    if (!strcmp(stage, "step")) iris_cli_debug(1, "step %d: %.3f s, peak %s", index + 1, seconds, mem);
    else iris_cli_debug(1, "%s: %.3f s, peak %s", name, seconds, mem);
    if (was) bar_draw();
}

/* ---- saving ---- */

static iris_status save(const char *path, const iris_image *img, const char *parameters) {
    if (is_jpeg_name(path)) return iris_image_save_jpeg(path, img, 95);
    iris_image_text meta = {"parameters", parameters};
    return iris_image_save_png(path, img, parameters ? &meta : NULL, parameters ? 1 : 0);
}

static int validate(void) {
    if (seed < -1) return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--seed %lld: a seed is 0 or more (-1: random)", (long long)seed);
    if (prompt && prompt_file) return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "give a PROMPT or --prompt-file, not both");
    if (!prompt && !prompt_file)
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "nothing to draw: give a PROMPT or --prompt-file (see sdgen --help)");
    if (!model_path || !*model_path) {
        const char *env = getenv("IRIS_SD_MODEL");
        if (!env || !*env)
            return iris_cli_fatal(IRIS_CLI_EXIT_USAGE,
                                  "no model: give --model FILE (.safetensors or a diffusers folder) or set IRIS_SD_MODEL");
        model_path = env;
    }
    if (!*output || (!has_ext(output, ".png") && !is_jpeg_name(output)))
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "-o %s: the file name must end in .png, .jpg or .jpeg", output);
    if (strength != -1 && !init_path) return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--strength needs --init-img");
    if (init_path && strength == 0)
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--strength 0 would return the init image unchanged (use 0 < S <= 1)");
    return 0;
}

int main(int argc, char **argv) {
    common = iris_cli_common_defaults();
    int rc = iris_cli_start(&spec, argc, argv);
    if (rc >= 0) return rc;
    iris_cli_set_verbosity(common.quiet, common.verbose);
    if ((rc = validate())) return rc;

    /* prompts, then every output name, before anything slow */
    prompt_list prompts = {0};
    if (prompt_file) {
        if (read_prompts(prompt_file, &prompts)) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    } else {
        prompts.v = malloc(sizeof *prompts.v);
        if (!prompts.v || !(prompts.v[0] = strdup(prompt))) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "out of memory");
        prompts.n = 1;
    }
    long long total_ll = (long long)prompts.n * batch_count;
    if (total_ll > 1000000) {
        free_prompts(&prompts);
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "%lld images is too many (at most 1000000)", total_ll);
    }
    int total = (int)total_ll;
    if (check_folder(output)) {
        free_prompts(&prompts);
        return IRIS_CLI_EXIT_OUTPUT;
    }
    if (!overwrite) {
        for (int i = 0; i < total; i++) {
            char *name = output_name(output, i, total);
            int exists = name && access(name, F_OK) == 0;
            if (exists) iris_cli_error("%s exists (use --overwrite to replace it)", name);
            free(name);
            if (exists) {
                free_prompts(&prompts);
                return IRIS_CLI_EXIT_OUTPUT;
            }
        }
    }

    iris_image init = {0};
    if (init_path) {
        iris_image_read_params rp = iris_image_default_read_params();
        rp.channels = 3;
        if (iris_image_load(&init, init_path, &rp)) {
            free_prompts(&prompts);
            return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
        }
    }

    /* the model: --device auto tries CUDA first, then the CPU */
    iris_sd_load_params lp = iris_sd_load_default_params();
    lp.device = common.device == IRIS_CLI_DEVICE_CPU ? IRIS_CPU : IRIS_CUDA;
    lp.n_threads = common.threads;
    lp.prediction = (iris_sd_prediction)prediction;
    lp.tokenizer = tokenizer_path;
    lp.verbose = common.verbose > 1;
    iris_sd *sd = NULL;
    double t_load = iris_cli_now();
    iris_status st = iris_sd_load(&sd, model_path, &lp);
    if (st && common.device == IRIS_CLI_DEVICE_AUTO && (st == IRIS_ERR_UNSUPPORTED || st == IRIS_ERR_DEVICE)) {
        iris_cli_debug(1, "using the CPU: %s", iris_last_error());
        iris_clear_error();
        lp.device = IRIS_CPU;
        st = iris_sd_load(&sd, model_path, &lp);
    }
    if (st) {
        iris_image_free(&init);
        free_prompts(&prompts);
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    }
    const iris_sd_info *info = iris_sd_get_info(sd);
    iris_cli_debug(1, "%s: SD %d.x, %s prediction, %d px native, %d-d text, loaded in %.2f s on %s", model_path,
                   info->family == IRIS_SD_2 ? 2 : 1, info->prediction == IRIS_SD_PRED_V ? "v" : "epsilon",
                   info->native_size, info->text_dim, iris_cli_now() - t_load, iris_device_name(lp.device));

    uint64_t base_seed = seed >= 0 ? (uint64_t)seed : random_seed();
    if (seed < 0) iris_cli_info("seed: %llu", (unsigned long long)base_seed);

    iris_sd_params p = iris_sd_default_params();
    p.negative = negative;
    p.width = width, p.height = height;
    p.steps = steps;
    p.cfg = cfg;
    p.sampler = (iris_sampler_kind)sampler;
    p.schedule = (iris_schedule_kind)schedule;
    p.rng = (iris_rng_kind)rng_kind;
    p.clip_skip = clip_skip;
    p.init_image = init_path ? &init : NULL;
    if (init_path) p.strength = strength == -1 ? 0.75f : strength;
    p.progress = on_progress;
    p.on_stage = on_stage;

    const char *term = getenv("TERM");
    bar.tty = !common.quiet && isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
    bar.n_images = total;
    iris_cli_progress sum = {.verb = "generated", .noun = "image", .unit = "img"};
    double t_start = iris_cli_now();
    int exit_code = -1;
    for (int i = 0; i < total && exit_code < 0; i++) {
        if (iris_cli_interrupted()) break;
        p.prompt = prompts.v[i / batch_count];
        p.seed = base_seed + (uint64_t)(i % batch_count);
        char *name = output_name(output, i, total);
        if (!name) {
            exit_code = iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "out of memory");
            break;
        }
        bar.image = i + 1;
        bar.t_drawn = -1;
        double t0 = iris_cli_now();
        bar.t_steps = t0;
        iris_image img = {0};
        st = iris_sd_generate(sd, &p, &img);
        bar_hide();
        if (st == IRIS_ERR_CANCELLED || (st && iris_cli_interrupted())) {
            iris_image_free(&img);
            free(name);
            break;
        }
        if (st) {
            iris_cli_error("%s (%s: not generated)", iris_last_error(), name);
            sum.n_failed++;
        } else {
            char *text = iris_sd_parameters_text(sd, &p);
            if (!text) {
                exit_code = iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());
            } else if (save(name, &img, text)) {
                exit_code = iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());
            } else {
                sum.n_ok++;
                iris_cli_info("wrote %s (seed %llu, %dx%d, %.1f s)", name, (unsigned long long)p.seed, img.w, img.h,
                              iris_cli_now() - t0);
            }
            free(text);
        }
        iris_image_free(&img);
        free(name);
    }
    bar_hide();
    if (total > 1 || sum.n_failed || iris_cli_interrupted()) {
        char line[512];
        iris_cli_fmt_summary(line, sizeof line, &sum, iris_cli_now() - t_start);
        iris_cli_info("%s%s", iris_cli_interrupted() ? "interrupted: " : "", line);
    }
    if (common.verbose >= 1) {
        struct rusage ru;
        char mem[32];
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
            fmt_bytes(mem, sizeof mem, (size_t)ru.ru_maxrss * 1024);
            iris_cli_debug(1, "peak resident memory: %s", mem);
        }
    }
    if (exit_code < 0) exit_code = iris_cli_exit_status(sum.n_failed);
    iris_sd_free(sd);
    iris_image_free(&init);
    free_prompts(&prompts);
    iris_cli_free(&spec);
    return exit_code;
}
