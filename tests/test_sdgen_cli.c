/* test_sdgen_cli.c - bin/sdgen's command line and the PNG "parameters" text.

   References: the infotext strings are worked by hand from AUTOMATIC1111 v1.10.1,
   modules/processing.py create_infotext() (key order of its generation_params dict, ", "
   joins, the "Negative prompt: " line only when non-empty, .strip() of the whole text) and
   modules/infotext_utils.py quote() (a value holding ',', ':' or '\n' becomes
   json.dumps(v, ensure_ascii=False)); sampler and schedule labels as A1111 1.9+ writes them
   (modules/sd_samplers_kdiffusion.py, modules/sd_schedulers.py). The command-line checks run
   bin/sdgen as a subprocess and read its exit status and stderr; everything they exercise
   happens before a model is loaded, so they need no weights. The end-to-end test at the end
   needs tests/ref/sd/sd1_tiny.safetensors and the model code, and skips without them. */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../diffusion/sd_infotext.h"
#include "test.h"

#define TMP "build/test_sdgen"

/* ---- the parameters text ---- */

static iris_sd_info sd15 = {.family = IRIS_SD_1, .prediction = IRIS_SD_PRED_EPS, .native_size = 512,
                            .latent_channels = 4, .text_dim = 768, .name = "v1-5-pruned-emaonly"};

static int same_text(const iris_sd_info *info, const iris_sd_params *p, const char *want) {
    char *got = iris_sd_infotext(info, p);
    int ok = got && !strcmp(got, want);
    CHECK_MSG(ok, "\n got: %s\nwant: %s", got ? got : "(null)", want);
    free(got);
    return ok;
}

static iris_sd_params defaults(void) {
    /* iris_sd_default_params() as sd.h documents it, spelled out so this test does not need sd.c */
    return (iris_sd_params){.steps = 20, .cfg = 7, .sampler = IRIS_SAMPLER_EULER_A, .schedule = IRIS_SCHEDULE_DISCRETE,
                            .rng = IRIS_RNG_CUDA, .eta = 1, .strength = 0.75f};
}

TEST(sdgen_infotext_txt2img_defaults) {
    iris_sd_params p = defaults();
    p.prompt = "a lighthouse at dusk";
    p.seed = 42;
    /* width/height 0: the model's native size; negative NULL or "": no line */
    same_text(&sd15, &p,
              "a lighthouse at dusk\n"
              "Steps: 20, Sampler: Euler a, Schedule type: Uniform, CFG scale: 7, Seed: 42, Size: 512x512, "
              "Model: v1-5-pruned-emaonly");
    p.negative = "";
    same_text(&sd15, &p,
              "a lighthouse at dusk\n"
              "Steps: 20, Sampler: Euler a, Schedule type: Uniform, CFG scale: 7, Seed: 42, Size: 512x512, "
              "Model: v1-5-pruned-emaonly");
}

TEST(sdgen_infotext_negative_karras_clip_skip_rng) {
    iris_sd_params p = defaults();
    p.prompt = "a (red:1.2) fox, [snow], BREAK forest";
    p.negative = "blurry, lowres";
    p.steps = 30;
    p.cfg = 7.5f;
    p.seed = 4294967295u;
    p.width = 768, p.height = 512;
    p.sampler = IRIS_SAMPLER_DPMPP_2M;
    p.schedule = IRIS_SCHEDULE_KARRAS;
    p.clip_skip = 2;
    p.rng = IRIS_RNG_CPU;
    same_text(&sd15, &p,
              "a (red:1.2) fox, [snow], BREAK forest\n"
              "Negative prompt: blurry, lowres\n"
              "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 4294967295, Size: 768x512, "
              "Model: v1-5-pruned-emaonly, Clip skip: 2, RNG: CPU");
    /* Clip skip 1 is A1111's default (the last layer) and is not written, nor is 0 */
    p.clip_skip = 1;
    p.rng = IRIS_RNG_CUDA;
    p.schedule = IRIS_SCHEDULE_EXPONENTIAL;
    p.sampler = IRIS_SAMPLER_HEUN;
    p.cfg = 1;
    same_text(&sd15, &p,
              "a (red:1.2) fox, [snow], BREAK forest\n"
              "Negative prompt: blurry, lowres\n"
              "Steps: 30, Sampler: Heun, Schedule type: Exponential, CFG scale: 1, Seed: 4294967295, Size: 768x512, "
              "Model: v1-5-pruned-emaonly");
}

TEST(sdgen_infotext_img2img_and_eta) {
    iris_image init = {.w = 8, .h = 8, .c = 3};
    iris_sd_params p = defaults();
    p.prompt = "a watercolour city";
    p.seed = 7;
    p.init_image = &init;
    p.strength = 0.6f;
    p.sampler = IRIS_SAMPLER_EULER;
    p.cfg = 6.5f;
    iris_sd_info v2 = {.family = IRIS_SD_2, .prediction = IRIS_SD_PRED_V, .native_size = 768, .name = "v2-1_768-ema-pruned"};
    same_text(&v2, &p,
              "a watercolour city\n"
              "Steps: 20, Sampler: Euler, Schedule type: Uniform, CFG scale: 6.5, Seed: 7, Size: 768x768, "
              "Model: v2-1_768-ema-pruned, Denoising strength: 0.6");
    /* eta is noted for the ancestral samplers when it is not 1 (k-diffusion samplers with an eta
       argument add "Eta" to extra_generation_params, which follow the fixed keys) */
    p.eta = 0.5f;
    same_text(&v2, &p,
              "a watercolour city\n"
              "Steps: 20, Sampler: Euler, Schedule type: Uniform, CFG scale: 6.5, Seed: 7, Size: 768x768, "
              "Model: v2-1_768-ema-pruned, Denoising strength: 0.6");
    p.sampler = IRIS_SAMPLER_DPMPP_2S_A;
    p.init_image = NULL;
    p.strength = 0.75f;
    same_text(&v2, &p,
              "a watercolour city\n"
              "Steps: 20, Sampler: DPM++ 2S a, Schedule type: Uniform, CFG scale: 6.5, Seed: 7, Size: 768x768, "
              "Model: v2-1_768-ema-pruned, Eta: 0.5");
}

TEST(sdgen_infotext_quoting_and_strip) {
    iris_sd_params p = defaults();
    p.prompt = "  two\nlines \t";
    p.seed = 0;
    p.width = 640, p.height = 448;
    p.sampler = IRIS_SAMPLER_LCM;
    p.steps = 4;
    p.cfg = 1.5f;
    /* json.dumps(..., ensure_ascii=False): quotes, backslashes and control characters escaped,
       non-ASCII kept */
    iris_sd_info odd = {.native_size = 512, .name = "my, \"best\": model\\v2\x01 é"};
    same_text(&odd, &p,
              "two\nlines \t\n" /* only the whole text's ends are stripped */
              "Steps: 4, Sampler: LCM, Schedule type: Uniform, CFG scale: 1.5, Seed: 0, Size: 640x448, "
              "Model: \"my, \\\"best\\\": model\\\\v2\\u0001 é\"");
    /* an empty prompt: strip() removes the empty first line; no name: no Model */
    p.prompt = "";
    p.sampler = IRIS_SAMPLER_DDIM;
    iris_sd_info anon = {.native_size = 512};
    same_text(&anon, &p, "Steps: 4, Sampler: DDIM, Schedule type: Uniform, CFG scale: 1.5, Seed: 0, Size: 640x448");
    /* a big seed, and a trailing newline in the negative prompt stays inside the text */
    p.prompt = "x";
    p.negative = "y\n";
    p.seed = 18446744073709551615ull;
    p.sampler = IRIS_SAMPLER_DPM2;
    same_text(&anon, &p,
              "x\nNegative prompt: y\n\n"
              "Steps: 4, Sampler: DPM2, Schedule type: Uniform, CFG scale: 1.5, Seed: 18446744073709551615, Size: 640x448");
}

TEST(sdgen_schedule_labels) {
    CHECK(!strcmp(iris_sd_schedule_label(IRIS_SCHEDULE_DISCRETE), "Uniform"));
    CHECK(!strcmp(iris_sd_schedule_label(IRIS_SCHEDULE_KARRAS), "Karras"));
    CHECK(!strcmp(iris_sd_schedule_label(IRIS_SCHEDULE_EXPONENTIAL), "Exponential"));
    CHECK(iris_sd_schedule_label(IRIS_SCHEDULE_COUNT) == NULL);
}

/* ---- the command line ---- */

static int run(const char *cmd) {
    char full[8400];
    snprintf(full, sizeof full, "%s 2>" TMP "/stderr.txt", cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *stderr_text(void) {
    char *s = NULL;
    if (iris_read_file(TMP "/stderr.txt", &s, NULL)) return strdup("");
    return s;
}

/* Exit status `code` and a stderr holding every one of the NULL-terminated strings. */
static void expect(const char *cmd, int code, ...) {
    int rc = run(cmd);
    char *err = stderr_text();
    CHECK_MSG(rc == code, "%s -> %d (want %d): %s", cmd, rc, code, err);
    va_list ap;
    va_start(ap, code);
    for (const char *s; (s = va_arg(ap, const char *));) CHECK_MSG(strstr(err, s), "%s: no '%s' in: %s", cmd, s, err);
    va_end(ap);
    free(err);
}

static void touch(const char *path) {
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (f) fclose(f);
}

static void fresh_tmp(void) {
    mkdir("build", 0755);
    CHECK_INT(system("rm -rf " TMP " && mkdir -p " TMP), 0);
}

#define SDGEN "env -u IRIS_SD_MODEL ./bin/sdgen "
#define MISSING TMP "/missing.safetensors"

TEST(sdgen_cli_usage_errors) {
    fresh_tmp();
    expect("./bin/sdgen --help > " TMP "/help.txt", 0, NULL);
    char *help = NULL;
    iris_read_file(TMP "/help.txt", &help, NULL);
    CHECK(help && strstr(help, "--prompt-file") && strstr(help, "--overwrite") && strstr(help, "IRIS_SD_MODEL") &&
          strstr(help, "exit status") && strstr(help, "out-0001.png"));
    free(help);

    expect(SDGEN "\"a fox\" -m " MISSING " -W 500", 2, "--width", "not a multiple of 8", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " -H 63", 2, "--height", "not a multiple of 8", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " -W abc", 2, "--width", "not an integer", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " --sampler eulr", 2, "--sampler", "unknown sampler", "euler_a", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " --schedule linear", 2, "--schedule", "karras", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " --rng gpu", 2, "--rng", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " --steps 0", 2, "--steps", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " -o out.webp", 2, "out.webp", ".png", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " --strength 0.5", 2, "--init-img", NULL);
    expect(SDGEN "\"a fox\" -m " MISSING " --seed -2", 2, "--seed", NULL);
    expect(SDGEN "-m " MISSING, 2, "PROMPT", NULL);
    expect(SDGEN "\"a fox\" --prompt-file x.txt -m " MISSING, 2, "not both", NULL);
    expect(SDGEN "a fox -m " MISSING, 2, "unexpected argument 'fox'", NULL);
    /* no model anywhere: a usage error naming both ways to give one */
    expect(SDGEN "\"a fox\" -o " TMP "/a.png", 2, "--model", "IRIS_SD_MODEL", NULL);
    /* a model that is not there: cannot load (3), the message names it; from the environment too */
    expect(SDGEN "\"a fox\" -o " TMP "/a.png -m " MISSING, 3, "missing.safetensors", NULL);
    expect("IRIS_SD_MODEL=" TMP "/from-env.safetensors ./bin/sdgen \"a fox\" -o " TMP "/a.png", 3, "from-env.safetensors",
           NULL);
    /* files read before the model: a missing prompt file or init image is a load error */
    expect(SDGEN "--prompt-file " TMP "/nope.txt -m " MISSING, 3, "nope.txt", NULL);
    expect(SDGEN "x --init-img " TMP "/nope.png -o " TMP "/a.png -m " MISSING, 3, "nope.png", NULL);
    CHECK(access(TMP "/a.png", F_OK) != 0);
}

TEST(sdgen_cli_output_names_and_no_overwrite) {
    fresh_tmp();
    /* one image: -o exactly; an existing file is refused (4) before the model is looked at */
    touch(TMP "/one.png");
    expect(SDGEN "x -o " TMP "/one.png -m " MISSING, 4, "one.png", "--overwrite", NULL);
    expect(SDGEN "x -o " TMP "/one.png --overwrite -m " MISSING, 3, "missing.safetensors", NULL);
    /* several: NAME-0001.ext ...; the third of three exists */
    touch(TMP "/b-0003.png");
    expect(SDGEN "x --batch-count 3 -o " TMP "/b.png -m " MISSING, 4, "b-0003.png", NULL);
    /* a fourth does not collide with three images */
    expect(SDGEN "x --batch-count 2 -o " TMP "/b.png -m " MISSING, 3, "missing.safetensors", NULL);
    /* a dot in a folder name is not the extension; .jpg keeps its extension */
    CHECK_INT(system("mkdir -p " TMP "/v1.5"), 0);
    touch(TMP "/v1.5/img-0002.jpg");
    expect(SDGEN "x --batch-count 2 -o " TMP "/v1.5/img.jpg -m " MISSING, 4, "v1.5/img-0002.jpg", NULL);
    /* a prompt file: two prompts (blank lines, comments and surrounding spaces skipped) x 2 = 4 images */
    FILE *f = fopen(TMP "/prompts.txt", "w");
    CHECK(f != NULL);
    if (f) {
        fputs("# prompts\n\n   a red fox  \r\n#a comment\n\t\na blue whale, (ocean:1.2)\n\n", f);
        fclose(f);
    }
    touch(TMP "/p-0004.png");
    expect(SDGEN "--prompt-file " TMP "/prompts.txt --batch-count 2 -o " TMP "/p.png -m " MISSING, 4, "p-0004.png", NULL);
    unlink(TMP "/p-0004.png");
    touch(TMP "/p-0005.png");
    expect(SDGEN "--prompt-file " TMP "/prompts.txt --batch-count 2 -o " TMP "/p.png -m " MISSING, 3,
           "missing.safetensors", NULL);
    /* a file of comments only */
    f = fopen(TMP "/empty.txt", "w");
    if (f) fputs("# nothing here\n\n", f), fclose(f);
    expect(SDGEN "--prompt-file " TMP "/empty.txt -o " TMP "/e.png -m " MISSING, 3, "empty.txt", "no prompts", NULL);
    /* a folder that is not there: cannot write (4), found before loading */
    expect(SDGEN "x -o " TMP "/no/such/dir/a.png -m " MISSING, 4, "no/such/dir", NULL);
}

/* ---- end to end (needs the model code and the tiny fixture) ----
   tests/ref/sd/sd1_tiny.safetensors: a tiny SD 1.x checkpoint (64x64). What is checked here is the
   tool around the model: files, numbering, seeds, the parameters text read back from the PNG,
   JPEG output and Ctrl-C; the pixels are the model tests' business. */

#define TINY "tests/ref/sd/sd1_tiny.safetensors"

static char *png_parameters(const char *path) {
    iris_image img;
    if (iris_image_load(&img, path, NULL)) {
        CHECK_MSG(0, "%s", iris_last_error());
        return NULL;
    }
    const char *t = iris_image_get_text(&img, "parameters");
    char *s = t ? strdup(t) : NULL;
    CHECK_INT(img.w, 64);
    CHECK_INT(img.h, 64);
    iris_image_free(&img);
    return s;
}

TEST(sdgen_end_to_end_tiny) {
    if (access(TINY, R_OK) != 0) SKIP("needs " TINY " and the model code (diffusion/sd.c)");
    fresh_tmp();
    expect("./bin/sdgen \"a red fox\" -n blurry -m " TINY " -W 64 -H 64 --steps 2 --seed 42 -q -o " TMP "/fox.png", 0,
           NULL);
    char *t = png_parameters(TMP "/fox.png");
    const char *want = "a red fox\nNegative prompt: blurry\nSteps: 2, Sampler: Euler a, Schedule type: Uniform, "
                       "CFG scale: 7, Seed: 42, Size: 64x64, Model: sd1_tiny";
    CHECK_MSG(t && !strcmp(t, want), "got: %s", t ? t : "(none)");
    free(t);
    /* the same again is refused; with --overwrite it is replaced */
    expect("./bin/sdgen \"a red fox\" -m " TINY " -W 64 -H 64 --steps 2 --seed 42 -q -o " TMP "/fox.png", 4,
           "fox.png", NULL);
    expect("./bin/sdgen \"a red fox\" -m " TINY " -W 64 -H 64 --steps 2 --seed 42 -q --overwrite -o " TMP "/fox.png",
           0, NULL);

    /* two images: numbered, seeds 5 and 6, the second one's text says so */
    expect("./bin/sdgen x -m " TINY " -W 64 -H 64 --steps 1 --seed 5 --batch-count 2 --sampler dpmpp_2m "
           "--schedule karras -q -o " TMP "/b.png",
           0, NULL);
    CHECK(access(TMP "/b.png", F_OK) != 0);
    t = png_parameters(TMP "/b-0002.png");
    want = "x\nSteps: 1, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 6, Size: 64x64, Model: sd1_tiny";
    CHECK_MSG(t && !strcmp(t, want), "got: %s", t ? t : "(none)");
    free(t);
    free(png_parameters(TMP "/b-0001.png"));

    /* a random seed is printed, and is the one in the file */
    expect("./bin/sdgen x -m " TINY " -W 64 -H 64 --steps 1 -o " TMP "/r.png", 0, "seed: ", NULL);
    char *err = stderr_text(), *said = strstr(err, "seed: ");
    t = png_parameters(TMP "/r.png");
    char seed_kv[64] = "";
    if (said) snprintf(seed_kv, sizeof seed_kv, "Seed: %llu,", strtoull(said + 6, NULL, 10));
    CHECK_MSG(said && t && strstr(t, seed_kv), "%s / %s", err, t ? t : "(none)");
    free(t);
    free(err);

    /* JPEG: written, no text */
    expect("./bin/sdgen x -m " TINY " -W 64 -H 64 --steps 1 --seed 1 -q -o " TMP "/j.jpg", 0, NULL);
    iris_image img;
    CHECK_OK(iris_image_load(&img, TMP "/j.jpg", NULL));
    CHECK(img.n_text == 0);
    iris_image_free(&img);

    /* Ctrl-C: exit 130, the images written so far are whole, no temporary or partial file left */
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl("./bin/sdgen", "sdgen", "x", "-m", TINY, "-W", "64", "-H", "64", "--steps", "4", "--seed", "1",
              "--batch-count", "500", "-q", "-o", TMP "/c.png", (char *)NULL);
        _exit(127);
    }
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL);
    kill(pid, SIGINT);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
    int g = system("ls " TMP " | grep -q tmp");
    CHECK_MSG(WIFEXITED(g) && WEXITSTATUS(g) == 1, "a temporary file was left in " TMP);
    CHECK(access(TMP "/c-0500.png", F_OK) != 0);
}
