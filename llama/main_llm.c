/* main_llm.c - bin/llm: continue a prompt with a GGUF Llama model.

   Prints the prompt and its continuation on stdout; prompt and generation
   speed (tokens/s) on stderr. Exit codes: 0 ok, 1 runtime failure, 2 usage,
   3 the model could not be loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cli/cli.h"
#include "../core/iris.h"
#include "generate.h"

static iris_cli_common c;
static const char *model, *prompt, *prompt_file;
static int n_predict = 64, n_ctx, top_k = 40, repeat_last_n = 64, ignore_eos, special, kv_f32, fast, show_ids;
static float temp, top_p = 0.95f, min_p = 0.05f, repeat_penalty = 1.0f;
static int64_t seed;
static iris_cli_list stops;

static const iris_cli_opt opts[] = {
    IRIS_OPT_STRING("model", 'm', &model, "FILE", "GGUF model (llama / mistral architecture)", .flags = IRIS_CLI_REQUIRED),
    IRIS_OPT_STRING("prompt", 'p', &prompt, "TEXT", "prompt; BOS is added as the model says", .def = "empty"),
    IRIS_OPT_STRING("file", 'f', &prompt_file, "FILE", "read the prompt from a file"),
    IRIS_OPT_INT("n-predict", 'n', &n_predict, 0, 1 << 20, "N", "tokens to generate"),
    IRIS_OPT_INT("ctx-size", 'c', &n_ctx, 0, 1 << 20, "N", "context positions", .def = "0 = trained context, at most 4096"),
    IRIS_OPT_FLOAT("temp", 0, &temp, 0, 100, "T", "temperature; 0 = greedy"),
    IRIS_OPT_INT("top-k", 0, &top_k, 0, 1 << 24, "N", "sample from the N most likely tokens (0 = off)"),
    IRIS_OPT_FLOAT("top-p", 0, &top_p, 0, 1, "P", "nucleus sampling (1 = off)"),
    IRIS_OPT_FLOAT("min-p", 0, &min_p, 0, 1, "P", "drop tokens below P x the best probability (0 = off)"),
    IRIS_OPT_FLOAT("repeat-penalty", 0, &repeat_penalty, 0.01, 100, "R", "penalise recent tokens (1 = off)"),
    IRIS_OPT_INT("repeat-last-n", 0, &repeat_last_n, 0, 1 << 20, "N", "recent tokens the penalty looks at"),
    IRIS_OPT_INT64("seed", 's', &seed, 0, 4294967295.0, "N", "sampling seed"),
    IRIS_OPT_LIST("stop", 0, &stops, "TEXT", "stop when TEXT is generated (repeatable; TEXT is not printed)"),
    IRIS_OPT_FLAG("ignore-eos", 0, &ignore_eos, "keep generating after an end-of-sequence token"),
    IRIS_OPT_FLAG("special", 0, &special, "turn special-token texts in the prompt (e.g. <s>) into those tokens"),
    IRIS_OPT_FLAG("kv-f32", 0, &kv_f32, "F32 KV cache (default F16, as llama.cpp)"),
    IRIS_OPT_FLAG("fast", 0, &fast, "fused attention and batched prompt GEMM instead of llama.cpp's exact arithmetic"),
    IRIS_OPT_FLAG("show-ids", 0, &show_ids, "print the prompt and generated token ids on stderr"),
    IRIS_CLI_COMMON_OPTS(&c),
    IRIS_OPT_END};

static const iris_cli_spec spec = {
    "llm", "Continue a prompt with a GGUF Llama model: text on stdout, tokens/s on stderr.", .opts = opts,
    .description = "Greedy by default (--temp 0), which reproduces llama.cpp's greedy output token for token. "
                   "With --temp > 0 the sampler applies the repetition penalty, top-k, top-p, min-p and "
                   "temperature in llama.cpp's order.",
    .epilog = "examples:\n  llm -m stories260K-q8_0.gguf -p \"Once upon a time\" -n 64\n"
              "  llm -m model.gguf -p \"Q: why is the sky blue?\\nA:\" --temp 0.7 --stop \"Q:\"\n"};

/* With an empty prompt the first word's SentencePiece space has nothing before it to
   separate: it is dropped, as llama.cpp and llama2.c print it. */
static int drop_space;

static int print_text(void *user, const char *text, size_t len) {
    (void)user;
    if (drop_space && len && text[0] == ' ') text++, len--;
    if (len) drop_space = 0;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

typedef struct {
    int32_t *ids;
    int n;
} idlist;

static void collect(void *user, int32_t tok) {
    idlist *l = user;
    l->ids[l->n++] = tok;
}

int main(int argc, char **argv) {
    c = iris_cli_common_defaults();
    int rc = iris_cli_start(&spec, argc, argv);
    if (rc >= 0) return rc;
    iris_cli_set_verbosity(c.quiet, c.verbose);
    if (prompt && prompt_file) return iris_cli_fatal(IRIS_CLI_EXIT_USAGE, "give --prompt or --file, not both");
    char *file_text = NULL;
    if (prompt_file) {
        size_t n;
        if (iris_read_file(prompt_file, &file_text, &n)) return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
        prompt = file_text;
    }
    if (!prompt) prompt = "";
    iris_llama_gen_params gp = iris_llama_gen_default_params();
    gp.n_predict = n_predict;
    gp.sampler.temp = temp;
    gp.sampler.top_k = top_k;
    gp.sampler.top_p = top_p;
    gp.sampler.min_p = min_p;
    gp.sampler.repeat_penalty = repeat_penalty;
    gp.sampler.repeat_last_n = repeat_last_n;
    gp.sampler.seed = (uint64_t)seed;
    gp.stop = stops.v;
    gp.n_stop = stops.n;
    gp.stop_at_eog = !ignore_eos;
    iris_llama_params mp = iris_llama_default_params();
    mp.device = c.device == IRIS_CLI_DEVICE_CUDA ? IRIS_CUDA : IRIS_CPU;

    iris_llama *m;
    if (iris_llama_load(&m, model, &mp)) {
        free(file_text);
        return iris_cli_fatal(IRIS_CLI_EXIT_LOAD, "%s", iris_last_error());
    }
    iris_cli_debug(1, "%s: %s, %d layers, embedding %d, %d heads (%d KV), vocabulary %d", model, m->arch,
                   m->hp.n_layer, m->hp.n_embd, m->hp.n_head, m->hp.n_head_kv, m->hp.n_vocab);
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.ctx.n_threads = c.threads;
    sp.kv_f32 = kv_f32;
    sp.exact = !fast;
    iris_llama_state *s;
    int32_t *ids = NULL, *gen = NULL;
    int n_ids = 0;
    rc = 1;
    if (iris_llama_state_new(&s, m, (int32_t)n_ctx, &sp)) {
        iris_cli_error("%s", iris_last_error());
        iris_llama_free(m);
        free(file_text);
        return 1;
    }
    if (iris_tokenize(m->vocab, prompt, strlen(prompt), 1, special, &ids, &n_ids)) goto fail;
    if (n_ids == 0) {
        iris_cli_error("the prompt is empty and the model adds no BOS token: nothing to continue");
        goto out;
    }
    if (n_ids + gp.n_predict > iris_llama_n_ctx(s)) {
        int room = iris_llama_n_ctx(s) - n_ids;
        if (room < 0) {
            iris_cli_error("the prompt has %d tokens, more than the %d-position context (-c)", n_ids,
                           (int)iris_llama_n_ctx(s));
            goto out;
        }
        gp.n_predict = room;
    }
    gen = malloc(((size_t)gp.n_predict + 1) * sizeof *gen);
    if (!gen) goto out;
    idlist got = {gen, 0};
    fputs(prompt, stdout);
    fflush(stdout);
    drop_space = !prompt[0] && iris_vocab_kind_of(m->vocab) == IRIS_VOCAB_SPM;
    iris_llama_gen_stats st;
    if (iris_llama_generate(s, ids, n_ids, &gp, print_text, collect, &got, NULL, &st)) goto fail;
    fputc('\n', stdout);
    if (show_ids) {
        fprintf(stderr, "prompt ids:");
        for (int i = 0; i < n_ids; i++) fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\ngenerated ids:");
        for (int i = 0; i < got.n; i++) fprintf(stderr, " %d", (int)gen[i]);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "prompt: %d tokens in %.2f ms, %.1f tokens/s\n", st.n_prompt, st.prompt_s * 1e3,
            st.prompt_s > 0 ? st.n_prompt / st.prompt_s : 0.0);
    /* the first generated token comes from the prompt pass; the rest each took one decode */
    int n_dec = st.n_gen > 1 ? st.n_gen - 1 : 0;
    fprintf(stderr, "generation: %d tokens in %.2f ms, %.1f tokens/s\n", st.n_gen, st.gen_s * 1e3,
            st.gen_s > 0 && n_dec ? n_dec / st.gen_s : 0.0);
    rc = 0;
    goto out;
fail:
    iris_cli_error("%s", iris_last_error());
out:
    free(ids);
    free(gen);
    free(file_text);
    iris_cli_free(&spec);
    iris_llama_state_free(s);
    iris_llama_free(m);
    return rc;
}
