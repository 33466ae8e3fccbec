/* test_llama_tiny.c - the Llama forward pass against transformers on tiny random models
   (tests/ref/gen_llama_tiny.py): "gqa" has 4 query heads over 2 KV heads, linear RoPE
   scaling x2 and a byte-level BPE vocabulary; "mha" has 3 heads, RoPE base 5e5, tied
   embeddings and an FFN width that is no multiple of the SIMD width; "rope3" has Llama 3.1's
   RoPE (rope_type llama3: per-pair frequency divisors in rope_freqs.weight, as llama.cpp's
   converter writes them). Reference: logits of an 11-token (rope3: 24-token) prompt pass
   (every position) and of 5 decode steps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cpu/cpu.h"
#include "../llama/model.h"
#include "test.h"

typedef struct {
    iris_llama *m;
    int32_t *prompt, *dec;
    int64_t n_prompt, n_dec;
    float *want_prompt, *want_dec;
} tiny;

static int tiny_open(tiny *t, const char *name) {
    memset(t, 0, sizeof *t);
    char path[256], ref[256];
    snprintf(path, sizeof path, "tests/ref/llama_tiny_%s.gguf", name);
    snprintf(ref, sizeof ref, "llama_tiny_%s.safetensors", name);
    CHECK_OK(iris_llama_load(&t->m, path, NULL));
    if (!t->m) return 0;
    float *p = test_ref_f32(ref, "prompt_ids", &t->n_prompt), *d = test_ref_f32(ref, "decode_ids", &t->n_dec);
    t->want_prompt = test_ref_f32(ref, "prompt_logits", NULL);
    t->want_dec = test_ref_f32(ref, "decode_logits", NULL);
    if (!p || !d || !t->want_prompt || !t->want_dec) return 0;
    t->prompt = malloc((size_t)t->n_prompt * sizeof *t->prompt);
    t->dec = malloc((size_t)t->n_dec * sizeof *t->dec);
    for (int64_t i = 0; i < t->n_prompt; i++) t->prompt[i] = (int32_t)p[i];
    for (int64_t i = 0; i < t->n_dec; i++) t->dec[i] = (int32_t)d[i];
    free(p), free(d);
    return 1;
}

static void tiny_close(tiny *t) {
    iris_llama_free(t->m);
    free(t->prompt), free(t->dec), free(t->want_prompt), free(t->want_dec);
}

/* prompt pass (all positions), then decode steps one token at a time */
static void check_model(const char *name, int kv_f32, int exact, int threads, double atol) {
    tiny t;
    if (!tiny_open(&t, name)) { tiny_close(&t); return; }
    const int32_t V = t.m->hp.n_vocab;
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.kv_f32 = kv_f32;
    sp.exact = exact;
    sp.ctx.n_threads = threads;
    iris_llama_state *s;
    CHECK_OK(iris_llama_state_new(&s, t.m, 64, &sp));
    float *got = malloc((size_t)(t.n_prompt * V) * sizeof *got);
    if (s && got) {
        CHECK_OK(iris_llama_eval_all(s, t.prompt, (int)t.n_prompt, got));
        CHECK_MSG(test_close(got, t.want_prompt, t.n_prompt * V, atol, 1e-4, __FILE__, __LINE__, name),
                  "%s prompt logits (kv %s, exact %d, %d threads)", name, kv_f32 ? "f32" : "f16", exact, threads);
        for (int64_t i = 0; i < t.n_dec; i++) {
            CHECK_OK(iris_llama_eval(s, &t.dec[i], 1, got));
            CHECK_MSG(test_close(got, t.want_dec + i * V, V, atol, 1e-4, __FILE__, __LINE__, name),
                      "%s decode step %d (kv %s, exact %d)", name, (int)i, kv_f32 ? "f32" : "f16", exact);
        }
        CHECK_INT(iris_llama_pos(s), t.n_prompt + t.n_dec);
    }
    free(got);
    iris_llama_state_free(s);
    tiny_close(&t);
}

TEST(llama_tiny_gqa_matches_transformers) {
    check_model("gqa", 1, 0, 1, 1e-4);
    check_model("gqa", 1, 1, 2, 1e-4);
    check_model("gqa", 0, 0, 2, 2e-2);
    check_model("gqa", 0, 1, 1, 2e-2);
}

TEST(llama_tiny_mha_matches_transformers) {
    check_model("mha", 1, 0, 2, 1e-4);
    check_model("mha", 1, 1, 1, 1e-4);
    check_model("mha", 0, 1, 2, 2e-2);
}

/* every SIMD path agrees with transformers to the same tolerance */
TEST(llama_tiny_simd_paths) {
    static const char *levels[2] = {"avx2", "scalar"};
    const char *old = getenv("IRIS_SIMD");
    for (int i = 0; i < 2; i++) {
        setenv("IRIS_SIMD", levels[i], 1);
        iris_cpu_simd_refresh();
        check_model("gqa", 1, 0, 2, 1e-4);
        check_model("gqa", 0, 1, 1, 2e-2);
        check_model("mha", 1, 1, 1, 1e-4);
    }
    if (old) setenv("IRIS_SIMD", old, 1);
    else unsetenv("IRIS_SIMD");
    iris_cpu_simd_refresh();
}

/* Llama 3.1 RoPE: the factors of all three bands (1, blended, 8) are loaded and used; without
   them the same model misses transformers by far more than the tolerance, so the check can fail. */
TEST(llama_tiny_rope3_matches_transformers) {
    check_model("rope3", 1, 0, 1, 1e-4);
    check_model("rope3", 1, 1, 2, 1e-4);
    check_model("rope3", 0, 1, 1, 2e-2);
    tiny t;
    if (!tiny_open(&t, "rope3")) { tiny_close(&t); return; }
    const iris_tensor *ff = t.m->rope_freqs;
    CHECK(ff && ff->ne[0] == 8);
    if (ff) {
        const float *f = ff->data;
        CHECK_NEAR(f[0], 1.0, 0);
        CHECK(f[1] > 1 && f[2] < 8);
        CHECK_NEAR(f[7], 8.0, 0);
    }
    CHECK_NEAR(t.m->hp.rope_freq_scale, 1.0, 0);
    const int32_t V = t.m->hp.n_vocab;
    float *got = malloc((size_t)(t.n_prompt * V) * sizeof *got);
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.kv_f32 = 1;
    t.m->rope_freqs = NULL; /* plain RoPE on the same weights */
    iris_llama_state *s;
    CHECK_OK(iris_llama_state_new(&s, t.m, 64, &sp));
    if (s && got) {
        CHECK_OK(iris_llama_eval_all(s, t.prompt, (int)t.n_prompt, got));
        double worst = 0;
        for (int64_t i = 0; i < t.n_prompt * V; i++) worst = fmax(worst, fabs(got[i] - t.want_prompt[i]));
        CHECK_MSG(worst > 0.05, "without the frequency factors the logits still match (max diff %g)", worst);
    }
    free(got);
    iris_llama_state_free(s);
    tiny_close(&t);
}

TEST(llama_tiny_hparams_from_gguf) {
    tiny t;
    if (!tiny_open(&t, "gqa")) { tiny_close(&t); return; }
    const iris_llama_hparams *hp = &t.m->hp;
    CHECK_INT(hp->n_vocab, 640);
    CHECK_INT(hp->n_embd, 64);
    CHECK_INT(hp->n_layer, 2);
    CHECK_INT(hp->n_head, 4);
    CHECK_INT(hp->n_head_kv, 2);
    CHECK_INT(hp->head_dim, 16);
    CHECK_INT(hp->n_ff, 96);
    CHECK_INT(hp->n_ctx_train, 256);
    CHECK_NEAR(hp->rope_freq_scale, 0.5, 0);
    CHECK_NEAR(hp->rms_eps, 1e-6, 1e-12);
    CHECK(t.m->output != t.m->tok_embd);
    CHECK_INT(iris_vocab_kind_of(t.m->vocab), IRIS_VOCAB_BPE);
    tiny_close(&t);
    if (!tiny_open(&t, "mha")) { tiny_close(&t); return; }
    CHECK(t.m->output == t.m->tok_embd); /* tied */
    CHECK_NEAR(t.m->hp.rope_base, 500000.0, 0);
    CHECK_NEAR(t.m->hp.rope_freq_scale, 1.0, 0);
    tiny_close(&t);
}

/* Embeddings given directly (as a captioner splices image features between text) give the
   same logits as the tokens they come from; a rewind recomputes the same positions. */
TEST(llama_tiny_embeddings_and_rewind) {
    tiny t;
    if (!tiny_open(&t, "gqa")) { tiny_close(&t); return; }
    const int32_t V = t.m->hp.n_vocab, E = t.m->hp.n_embd;
    int n = (int)t.n_prompt;
    iris_llama_state *s;
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.kv_f32 = 1;
    CHECK_OK(iris_llama_state_new(&s, t.m, 32, &sp));
    float *emb = malloc((size_t)n * E * sizeof *emb), *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    if (!s || !emb || !a || !b) goto done;
    CHECK_INT(t.m->tok_embd->dtype, IRIS_F32);
    for (int i = 0; i < n; i++)
        memcpy(emb + (size_t)i * E, (const char *)t.m->tok_embd->data + (size_t)t.prompt[i] * t.m->tok_embd->nb[0],
               (size_t)E * sizeof *emb);
    /* text, "image" rows, text: three appends at consecutive positions */
    CHECK_OK(iris_llama_eval(s, t.prompt, 3, NULL));
    CHECK_OK(iris_llama_eval_embd(s, emb + 3 * E, 4, NULL));
    CHECK_OK(iris_llama_eval(s, t.prompt + 7, n - 7, a));
    CHECK_INT(iris_llama_pos(s), n);
    CHECK_CLOSE(a, t.want_prompt + (size_t)(n - 1) * V, V, 1e-4, 1e-4);
    /* rewind to 5 and recompute the rest */
    CHECK_OK(iris_llama_set_pos(s, 5));
    CHECK_OK(iris_llama_eval(s, t.prompt + 5, n - 5, b));
    CHECK_CLOSE(b, a, V, 1e-5, 0);
    CHECK(iris_llama_set_pos(s, n + 1) == IRIS_ERR_ARG);
    /* past the context: refused, state unchanged */
    CHECK_OK(iris_llama_set_pos(s, 0));
    int32_t many[40] = {0};
    CHECK(iris_llama_eval(s, many, 40, NULL) == IRIS_ERR_ARG);
    int32_t bad = V;
    CHECK(iris_llama_eval(s, &bad, 1, NULL) == IRIS_ERR_ARG);
    CHECK_INT(iris_llama_pos(s), 0);
done:
    free(emb), free(a), free(b);
    iris_llama_state_free(s);
    tiny_close(&t);
}
