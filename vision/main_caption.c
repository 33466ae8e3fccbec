/* main_caption.c - caption: describe photos in words with a LLaVA-style model (vision/caption.h).

   caption PATH... -m model.gguf --mmproj mmproj.gguf -o captions.jsonl
   jsonl: {"file": ..., "caption": ..., "tokens": n, "seconds": t} per photo; csv: the same columns
   with a header; txt: photo.txt beside each photo. Every result is written as soon as its photo
   finishes, so a killed run loses only the photos in flight and --resume goes on without duplicates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../cli/cli.h"
#include "../core/image.h"
#include "caption.h"
#include "caption_output.h"

static iris_cli_common common;
static const char *model_path, *mmproj_path, *prompt;
static int max_tokens = 64, batch = 1, tmpl, format, overwrite, kv_f32, ignore_eos;
static float temp;
static int64_t seed;
static iris_cli_list paths;

enum { FMT_JSONL, FMT_CSV, FMT_TXT };
static const char *const format_names[] = {"jsonl", "csv", "txt", NULL};

static const iris_cli_opt opts[] = {
    IRIS_OPT_STRING("model", 'm', &model_path, "FILE", "language model (.gguf: LLaVA's Vicuna/Mistral, any quantization)",
                    .flags = IRIS_CLI_REQUIRED),
    IRIS_OPT_STRING("mmproj", 0, &mmproj_path, "FILE", "vision tower and projector (mmproj-*.gguf, llama.cpp's layout)",
                    .flags = IRIS_CLI_REQUIRED),
    IRIS_OPT_STRING("prompt", 'p', &prompt, "TEXT", "what to ask about each photo", .def = IRIS_CAPTION_DEFAULT_PROMPT),
    IRIS_OPT_INT("max-tokens", 'n', &max_tokens, 1, 4096, "N", "stop a caption after N tokens"),
    IRIS_OPT_FLOAT("temp", 0, &temp, 0, 10, "T", "sampling temperature; 0 = greedy (the same caption every run)"),
    IRIS_OPT_INT64("seed", 0, &seed, 0, 9.2e18, "N", "random seed for --temp > 0 (photo i draws from seed + i)"),
    IRIS_OPT_INT("batch", 'b', &batch, 1, 256, "N", "photos captioned at once, each with its own cache"),
    IRIS_OPT_ENUM("template", 0, &tmpl, iris_caption_template_names,
                  "prompt format; auto: minigptv2 for a MiniGPT-v2 projector, mistral for a Mistral model, else llava"),
    IRIS_OPT_ENUM("format", 'f', &format, format_names,
                  "jsonl lines, csv (RFC 4180, with a header), or txt (photo.txt beside each photo)"),
    IRIS_OPT_FLAG("overwrite", 0, &overwrite, "--format txt: replace existing .txt files (kept by default)"),
    IRIS_OPT_FLAG("kv-f32", 0, &kv_f32, "F32 KV cache instead of F16", .flags = IRIS_CLI_HIDDEN),
    IRIS_OPT_FLAG("ignore-eos", 0, &ignore_eos, "never stop at the end token: every caption has --max-tokens (benchmarks)"),
    IRIS_CLI_COMMON_OPTS(&common),
    IRIS_CLI_BATCH_OPTS(&common, "write captions to FILE (jsonl, csv)"),
    IRIS_OPT_DECODE_THREADS(&common),
    IRIS_OPT_END,
};

static const iris_cli_opt args[] = {
    IRIS_ARG_LIST("PATH", &paths, "photos or folders (searched recursively, images found by content)"),
    IRIS_OPT_END,
};

static const iris_cli_spec spec = {
    .tool = "caption",
    .summary = "Describe photos in words with a LLaVA 1.5/1.6 (or MiniGPT-v2) model pair.",
    .opts = opts,
    .args = args,
    .description =
        "The language model runs on the Llama core; the image goes in at the prompt template's placeholder. "
        "Decoding is greedy unless --temp is given, and stops at the model's end token or after --max-tokens. "
        "Each caption is appended and flushed as its photo finishes: an interrupted run loses nothing written, "
        "--resume skips photos already in the output (txt: photos whose .txt exists).",
    .epilog = "examples:\n"
              "  caption photos/ -m llava-v1.5-7b-Q4_K.gguf --mmproj mmproj-model-f16.gguf -o captions.jsonl\n"
              "  caption photos/ -m ... --mmproj ... -f csv -o captions.csv --batch 8 --resume\n"
              "  caption dataset/ -m ... --mmproj ... -f txt --prompt \"Describe the image in detail.\"\n"
              "  caption photos/ -m ... --mmproj ... -o part0.jsonl --shard 0/4\n",
};

typedef struct {
    const iris_cli_walk *w;
    const iris_caption_ctx *cc;
    size_t bytes;
} load_job;

static iris_status load_slot(void *user, size_t index, void *slot) {
    const load_job *j = user;
    iris_image img;
    iris_image_read_params rp = iris_image_default_read_params();
    rp.channels = 3;
    iris_status st = iris_image_load(&img, j->w->files[index].path, &rp);
    if (st) return st;
    st = iris_caption_prepare(j->cc, &img, slot, j->bytes);
    iris_image_free(&img);
    if (st) st = iris_fail(st, "%s: %s", j->w->files[index].path, iris_last_error());
    return st;
}

typedef struct {
    iris_cli_prefetch *pf;
    const iris_cli_walk *w;
    iris_cli_progress *bar;
    iris_cli_out *jsonl;
    iris_caption_csv *csv;
    int exit_code;
    size_t n_tokens;
    double t0;
} run_job;

/* the next decoded photo; photos that failed to decode are warned about and passed over */
static int next_photo(void *user, size_t *index, const void **prepared) {
    run_job *j = user;
    for (;;) {
        if (iris_cli_interrupted()) return -1;
        size_t i;
        void *slot;
        iris_status st;
        if (iris_cli_prefetch_next(j->pf, &i, &slot, &st) <= 0) return 0;
        if (!st) {
            iris_cli_progress_current(j->bar, j->w->files[i].path);
            *index = i, *prepared = slot;
            return 1;
        }
        iris_cli_warn("%s (skipped)", iris_last_error());
        iris_cli_progress_count(j->bar, IRIS_CLI_ITEM_FAILED);
        iris_cli_prefetch_release(j->pf, slot);
    }
}

static void photo_done(void *user, size_t index, const void *prepared) {
    run_job *j = user;
    iris_cli_prefetch_release(j->pf, (void *)prepared);
}

static int write_result(void *user, size_t index, const iris_caption_result *r) {
    run_job *j = user;
    const char *file = j->w->files[index].path;
    if (r->status) {
        iris_cli_warn("%s: %s (skipped)", file, r->error);
        iris_cli_progress_count(j->bar, IRIS_CLI_ITEM_FAILED);
        return iris_cli_interrupted();
    }
    iris_status st = IRIS_OK;
    if (format == FMT_TXT) {
        char path[8192];
        st = iris_caption_txt_path(file, path, sizeof path) ? iris_caption_txt_write(path, r->text)
                                                           : iris_fail(IRIS_ERR_ARG, "%s: path too long", file);
    } else if (format == FMT_CSV) {
        st = iris_caption_csv_write(j->csv, file, r->text, r->n_tokens, r->seconds);
    } else {
        cJSON *rec = iris_cli_record(NULL, file);
        cJSON_AddStringToObject(rec, "caption", r->text);
        cJSON_AddNumberToObject(rec, "tokens", r->n_tokens);
        iris_cli_record_number(rec, "seconds", r->seconds, 4);
        st = rec ? iris_cli_out_write(j->jsonl, rec) : iris_fail(IRIS_ERR_NOMEM, "out of memory");
        cJSON_Delete(rec);
    }
    if (st) {
        iris_cli_error("%s", iris_last_error());
        j->exit_code = IRIS_CLI_EXIT_OUTPUT;
        return 1;
    }
    j->n_tokens += (size_t)r->n_tokens;
    iris_cli_progress_count(j->bar, IRIS_CLI_ITEM_OK);
    /* tokens/s beside the photo the bar names */
    char cur[300], rate[32];
    double dt = iris_cli_now() - j->t0;
    snprintf(cur, sizeof cur, "%s tok/s  %s", iris_cli_fmt_rate(rate, sizeof rate, dt > 0 ? j->n_tokens / dt : 0), file);
    iris_cli_progress_current(j->bar, cur);
    return iris_cli_interrupted();
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

int main(int argc, char **argv) {
    common = iris_cli_common_defaults();
    int rc = iris_cli_start(&spec, argc, argv);
    if (rc >= 0) return rc;
    iris_cli_set_verbosity(common.quiet, common.verbose);
    int to_file = common.output && strcmp(common.output, "-");
    if (format == FMT_TXT && common.output)
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--format txt writes photo.txt beside each photo; drop -o");
    if (format != FMT_TXT && common.resume && !to_file)
        return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--resume needs an output file (-o FILE)");
    if (overwrite && format != FMT_TXT) return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--overwrite is for --format txt");
    if (overwrite && common.resume) return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "--overwrite and --resume contradict");

    iris_cli_walk w;
    if (iris_cli_walk_paths(&w, paths.v, paths.n, &(iris_cli_walk_opts){.hidden = common.hidden}) ||
        iris_cli_walk_shard(&w, common.shard.k, common.shard.n))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    run_job j = {.exit_code = -1};
    if (format == FMT_JSONL &&
        iris_cli_out_open(&j.jsonl, to_file ? common.output : NULL,
                          &(iris_cli_out_params){.resume = common.resume, .fsync = common.fsync}))
        return iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());
    if (format == FMT_CSV && iris_caption_csv_open(&j.csv, to_file ? common.output : NULL, common.resume, common.fsync))
        return iris_cli_fatal(IRIS_CLI_EXIT_OUTPUT, "%s", iris_last_error());
    if (j.csv && iris_caption_csv_n_torn(j.csv))
        iris_cli_warn("%s: cut away a torn last record (%zu bytes)", common.output, iris_caption_csv_n_torn(j.csv));

    /* what is left to do */
    size_t *todo = malloc(sizeof *todo * (w.n ? w.n : 1)), n_todo = 0, n_kept = 0;
    if (!todo) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "out of memory");
    for (size_t i = 0; i < w.n; i++) {
        const char *f = w.files[i].path;
        int done = 0;
        if (format == FMT_JSONL) done = iris_cli_out_is_done(j.jsonl, f);
        else if (format == FMT_CSV) done = iris_caption_csv_is_done(j.csv, f);
        else {
            char txt[8192];
            if (iris_caption_txt_path(f, txt, sizeof txt) && !overwrite && exists(txt)) {
                done = 1;
                if (!common.resume) iris_cli_debug(1, "%s exists, kept (--overwrite replaces it)", txt), n_kept++;
            }
        }
        if (!done) todo[n_todo++] = i;
    }
    if (n_kept) iris_cli_warn("%zu photos already have a .txt, kept (--overwrite replaces them)", n_kept);

    iris_ctx *probe;
    if (iris_cli_ctx_create(&probe, &common, NULL)) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    iris_caption_params cp = iris_caption_default_params();
    cp.prompt = prompt, cp.tmpl = (iris_caption_template)tmpl, cp.max_tokens = max_tokens, cp.temp = temp;
    cp.seed = (uint64_t)seed, cp.batch = batch, cp.kv_f32 = kv_f32, cp.ignore_eos = ignore_eos;
    cp.ctx.device = iris_ctx_device(probe), cp.ctx.n_threads = common.threads;
    iris_ctx_free(probe);
    iris_caption_ctx *cc;
    double t_load = iris_cli_now();
    if (iris_caption_load(&cc, model_path, mmproj_path, &cp))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    const int32_t *pre, *post;
    int n_pre, n_post;
    iris_caption_prompt_ids(cc, &pre, &n_pre, &post, &n_post);
    iris_cli_debug(1, "%s + %s: template %s, prompt %d + %d tokens around the image, loaded in %.2f s", model_path,
                   mmproj_path, iris_caption_template_names[iris_caption_get_template(cc)], n_pre, n_post,
                   iris_cli_now() - t_load);

    iris_cli_progress bar;
    iris_cli_progress_begin(&bar, n_todo, "captioned", "photo", "img", common.quiet);
    bar.n_resumed = w.n - n_todo - n_kept;
    bar.n_skipped = n_kept;
    if (bar.n_resumed) iris_cli_info("resuming: %zu photos already done", bar.n_resumed);

    load_job lj = {&w, cc, iris_caption_prepared_bytes(cc)};
    if (iris_cli_prefetch_start(&j.pf, &(iris_cli_prefetch_params){.n_items = n_todo, .items = todo,
                                                                   .slot_bytes = lj.bytes, .n_slots = 2 * batch,
                                                                   .n_threads = common.decode_threads,
                                                                   .load = load_slot, .user = &lj}))
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    j.w = &w, j.bar = &bar, j.t0 = iris_cli_now();
    iris_caption_source src = {next_photo, photo_done, &j};
    iris_status st = iris_caption_run(cc, &src, write_result, &j);
    if (st && st != IRIS_ERR_CANCELLED) {
        iris_cli_error("%s", iris_last_error());
        if (j.exit_code < 0) j.exit_code = IRIS_CLI_EXIT_PARTIAL;
    }
    iris_cli_prefetch_free(j.pf);
    iris_cli_progress_end(&bar);
    double dt = iris_cli_now() - j.t0;
    if (bar.n_ok) iris_cli_info("%zu tokens generated, %.1f tokens/s", j.n_tokens, dt > 0 ? j.n_tokens / dt : 0.0);
    if ((j.jsonl && iris_cli_out_close(j.jsonl)) || (j.csv && iris_caption_csv_close(j.csv))) {
        iris_cli_error("%s", iris_last_error());
        j.exit_code = IRIS_CLI_EXIT_OUTPUT;
    }
    if (j.exit_code < 0) j.exit_code = iris_cli_exit_status(bar.n_failed + w.n_errors);
    free(todo);
    iris_cli_walk_free(&w);
    iris_cli_free(&spec);
    iris_caption_free(cc);
    return j.exit_code;
}
