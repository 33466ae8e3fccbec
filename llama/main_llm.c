/* main_llm.c - bin/llm: continue a prompt with a GGUF Llama model.

   Prints the prompt and its continuation on stdout; prompt and generation
   speed (tokens/s) on stderr. Exit codes: 0 ok, 1 runtime failure, 2 usage,
   3 the model could not be loaded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/iris.h"
#include "generate.h"

static const char usage[] =
    "usage: llm -m model.gguf -p \"text\" [options]\n"
    "  -m, --model FILE        GGUF model (llama / mistral architecture)\n"
    "  -p, --prompt TEXT       prompt (BOS is added as the model says)\n"
    "  -f, --file FILE         read the prompt from a file\n"
    "  -n, --n-predict N       tokens to generate (default 64)\n"
    "  -t, --threads N         CPU threads (default: all cores)\n"
    "  -c, --ctx-size N        context positions (default: trained context, at most 4096)\n"
    "      --temp T            temperature; 0 = greedy (default 0)\n"
    "      --top-k N           keep the N most likely tokens (default 40, 0 = off)\n"
    "      --top-p P           nucleus sampling (default 0.95, 1 = off)\n"
    "      --min-p P           drop tokens below P x the best probability (default 0.05, 0 = off)\n"
    "      --repeat-penalty R  penalise recent tokens (default 1 = off)\n"
    "      --repeat-last-n N   how many recent tokens the penalty sees (default 64)\n"
    "  -s, --seed N            sampling seed (default 0)\n"
    "      --stop TEXT         stop when TEXT is generated (repeatable)\n"
    "      --ignore-eos        keep generating after an end-of-sequence token\n"
    "      --special           parse special-token texts (e.g. <s>) in the prompt\n"
    "      --kv-f32            F32 KV cache (default F16, as llama.cpp)\n"
    "      --show-ids          print the prompt and generated token ids on stderr\n"
    "  -h, --help              this help\n";

static int fail_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "llm: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(llm --help for usage)\n");
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static int print_text(void *user, const char *text, size_t len) {
    (void)user;
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
    const char *model = NULL, *prompt = NULL, *prompt_file = NULL;
    long n_predict = 64, threads = 0, n_ctx = 0;
    int special = 0, kv_f32 = 0, show_ids = 0;
    iris_llama_gen_params gp = iris_llama_gen_default_params();
    const char **stops = calloc((size_t)argc, sizeof *stops);
    if (!stops) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(s, l) (!strcmp(a, s) || !strcmp(a, l))
#define NEED() do { if (!v) return fail_usage("%s needs a value", a); i++; } while (0)
        long lv;
        if (OPT("-h", "--help")) { fputs(usage, stdout); return 0; }
        else if (OPT("-m", "--model")) { NEED(); model = v; }
        else if (OPT("-p", "--prompt")) { NEED(); prompt = v; }
        else if (OPT("-f", "--file")) { NEED(); prompt_file = v; }
        else if (OPT("-n", "--n-predict")) { NEED(); if (parse_long(v, 0, 1 << 20, &n_predict)) return fail_usage("bad -n value '%s'", v); }
        else if (OPT("-t", "--threads")) { NEED(); if (parse_long(v, 1, 256, &threads)) return fail_usage("bad thread count '%s'", v); }
        else if (OPT("-c", "--ctx-size")) { NEED(); if (parse_long(v, 1, 1 << 20, &n_ctx)) return fail_usage("bad context size '%s'", v); }
        else if (OPT("--temp", "--temperature")) { NEED(); if (parse_float(v, 0, 100, &gp.sampler.temp)) return fail_usage("bad temperature '%s'", v); }
        else if (OPT("--top-k", "--top-k")) { NEED(); if (parse_long(v, 0, 1 << 24, &lv)) return fail_usage("bad top-k '%s'", v); gp.sampler.top_k = (int)lv; }
        else if (OPT("--top-p", "--top-p")) { NEED(); if (parse_float(v, 0, 1, &gp.sampler.top_p)) return fail_usage("bad top-p '%s'", v); }
        else if (OPT("--min-p", "--min-p")) { NEED(); if (parse_float(v, 0, 1, &gp.sampler.min_p)) return fail_usage("bad min-p '%s'", v); }
        else if (OPT("--repeat-penalty", "--repeat-penalty")) { NEED(); if (parse_float(v, 0.01f, 100, &gp.sampler.repeat_penalty)) return fail_usage("bad repeat penalty '%s'", v); }
        else if (OPT("--repeat-last-n", "--repeat-last-n")) { NEED(); if (parse_long(v, 0, 1 << 20, &lv)) return fail_usage("bad repeat-last-n '%s'", v); gp.sampler.repeat_last_n = (int)lv; }
        else if (OPT("-s", "--seed")) { NEED(); if (parse_long(v, 0, 0x7fffffffL, &lv)) return fail_usage("bad seed '%s'", v); gp.sampler.seed = (uint64_t)lv; }
        else if (OPT("--stop", "--stop")) { NEED(); stops[gp.n_stop++] = v; }
        else if (OPT("--ignore-eos", "--ignore-eos")) gp.stop_at_eog = 0;
        else if (OPT("--special", "--special")) special = 1;
        else if (OPT("--kv-f32", "--kv-f32")) kv_f32 = 1;
        else if (OPT("--show-ids", "--show-ids")) show_ids = 1;
        else return fail_usage("unknown option '%s'", a);
#undef OPT
#undef NEED
    }
    if (!model) return fail_usage("%s", "no model (-m model.gguf)");
    if (prompt && prompt_file) return fail_usage("%s", "give -p or -f, not both");
    char *file_text = NULL;
    if (prompt_file) {
        size_t n;
        if (iris_read_file(prompt_file, &file_text, &n)) {
            fprintf(stderr, "llm: %s\n", iris_last_error());
            return 2;
        }
        prompt = file_text;
    }
    if (!prompt) prompt = "";
    gp.n_predict = (int)n_predict;
    gp.stop = stops;

    iris_llama *m;
    if (iris_llama_load(&m, model, NULL)) {
        fprintf(stderr, "llm: %s\n", iris_last_error());
        return 3;
    }
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.ctx.n_threads = (int)threads;
    sp.kv_f32 = kv_f32;
    iris_llama_state *s;
    int32_t *ids = NULL, *gen = NULL;
    int n_ids = 0, rc = 1;
    if (iris_llama_state_new(&s, m, (int32_t)n_ctx, &sp)) {
        fprintf(stderr, "llm: %s\n", iris_last_error());
        iris_llama_free(m);
        return 1;
    }
    if (iris_tokenize(m->vocab, prompt, strlen(prompt), 1, special, &ids, &n_ids)) goto fail;
    if (n_ids == 0) {
        fprintf(stderr, "llm: the prompt is empty and the model adds no BOS token: nothing to continue\n");
        goto out;
    }
    if (n_ids + gp.n_predict > iris_llama_n_ctx(s)) {
        int room = iris_llama_n_ctx(s) - n_ids;
        if (room < 0) {
            fprintf(stderr, "llm: the prompt has %d tokens, more than the %d-position context (-c)\n", n_ids,
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
    fprintf(stderr, "llm: %s\n", iris_last_error());
out:
    free(ids);
    free(gen);
    free(file_text);
    free(stops);
    iris_llama_state_free(s);
    iris_llama_free(m);
    return rc;
}
