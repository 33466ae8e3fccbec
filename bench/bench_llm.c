/* bench_llm.c - prompt and generation speed of a GGUF Llama model (bin/bench_llm).

   Runs a prompt of P token ids (fixed pseudo-random ids, so every engine sees the
   same tokens) through one prompt pass, then G single-token decode steps, R times,
   and prints one JSON line with the median tokens/s of each phase:

       bench_llm -m model.gguf [-t threads] [-p 128] [-g 64] [-r 5] [--fast] [--kv-f32]

   bench/bench_llm.py runs it next to llama.cpp (llama-cpp-python) on the same files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../llama/model.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int threads = 2, P = 128, G = 64, R = 5, fast = 0, kv_f32 = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-m") && v) path = v, i++;
        else if (!strcmp(a, "-t") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "-p") && v) P = atoi(v), i++;
        else if (!strcmp(a, "-g") && v) G = atoi(v), i++;
        else if (!strcmp(a, "-r") && v) R = atoi(v), i++;
        else if (!strcmp(a, "--fast")) fast = 1;
        else if (!strcmp(a, "--kv-f32")) kv_f32 = 1;
        else {
            fprintf(stderr, "usage: bench_llm -m model.gguf [-t N] [-p N] [-g N] [-r N] [--fast] [--kv-f32]\n");
            return 2;
        }
    }
    if (!path || P < 1 || G < 1 || R < 1 || R > 100) {
        fprintf(stderr, "usage: bench_llm -m model.gguf [-t N] [-p N] [-g N] [-r N] [--fast] [--kv-f32]\n");
        return 2;
    }
    iris_llama *m;
    if (iris_llama_load(&m, path, NULL)) {
        fprintf(stderr, "bench_llm: %s\n", iris_last_error());
        return 3;
    }
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.ctx.n_threads = threads;
    sp.exact = !fast;
    sp.kv_f32 = kv_f32;
    iris_llama_state *s;
    if (iris_llama_state_new(&s, m, P + G + 1, &sp)) {
        fprintf(stderr, "bench_llm: %s\n", iris_last_error());
        return 1;
    }
    int32_t *ids = malloc((size_t)P * sizeof *ids);
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    double *pp = malloc((size_t)R * sizeof *pp), *tg = malloc((size_t)R * sizeof *tg);
    uint32_t x = 12345;
    ids[0] = iris_vocab_bos(m->vocab) >= 0 ? iris_vocab_bos(m->vocab) : 1;
    for (int i = 1; i < P; i++) x = x * 1664525u + 1013904223u, ids[i] = 100 + (int32_t)(x >> 8) % (m->hp.n_vocab - 200);
    /* one warm-up run (page faults of the mapped weights, thread start) */
    for (int r = -1; r < R; r++) {
        iris_llama_set_pos(s, 0);
        double t0 = now_s();
        if (iris_llama_eval(s, ids, P, logits)) { fprintf(stderr, "bench_llm: %s\n", iris_last_error()); return 1; }
        double t1 = now_s();
        for (int g = 0; g < G; g++) {
            int32_t best = 0;
            for (int32_t v = 1; v < m->hp.n_vocab; v++)
                if (logits[v] > logits[best]) best = v;
            if (iris_llama_eval(s, &best, 1, logits)) { fprintf(stderr, "bench_llm: %s\n", iris_last_error()); return 1; }
        }
        double t2 = now_s();
        if (r >= 0) pp[r] = P / (t1 - t0), tg[r] = G / (t2 - t1);
    }
    qsort(pp, (size_t)R, sizeof *pp, cmp_d);
    qsort(tg, (size_t)R, sizeof *tg, cmp_d);
    printf("{\"engine\": \"iris%s\", \"model\": \"%s\", \"threads\": %d, \"prompt_tokens\": %d, \"gen_tokens\": %d, "
           "\"repeats\": %d, \"pp_tok_s\": %.2f, \"tg_tok_s\": %.2f, \"pp_min\": %.2f, \"pp_max\": %.2f, \"tg_min\": %.2f, "
           "\"tg_max\": %.2f}\n",
           fast ? "-fast" : "", path, threads, P, G, R, pp[R / 2], tg[R / 2], pp[0], pp[R - 1], tg[0], tg[R - 1]);
    free(ids), free(logits), free(pp), free(tg);
    iris_llama_state_free(s);
    iris_llama_free(m);
    return 0;
}
