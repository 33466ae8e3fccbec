/* test_llava_llamacpp.c - files written by llama.cpp's own converters load and give transformers'
   numbers: the tiny LLaVA 1.5 of gen_llava_tiny.py converted by convert_hf_to_gguf.py (language model,
   Q/K rows permuted for ggml's RoPE) and by llava_surgery_v2.py + convert_image_encoder_to_gguf.py
   (mmproj: last layer dropped, F16 matrices, fc1/fc2 under swapped names), both from the llama.cpp
   copy vendored by llama-cpp-python 0.3.36 (tests/ref/gen_llava_llamacpp.py). References: the same
   transformers numbers test_llava_vision.c uses (llava/llava15.safetensors): the image rows of
   inputs_embeds and the logits of the prompt [bos, 30, 40, <image>, 50, 60, 70]. (The converters'
   tensors turned out bit-identical to gen_llava_tiny.py's own files; only the metadata differs: no
   general.name in the mmproj, no bos/eos ids in the language model, llama.vocab_size added.) */
#include <stdlib.h>
#include <string.h>

#include "../llama/model.h"
#include "../vision/llava.h"
#include "test.h"

#define MMPROJ "tests/ref/llava/llamacpp15_mmproj.gguf"
#define MODEL "tests/ref/llava/llamacpp15_model.gguf"

static const char *photos[] = {"wide", "tall"};

static float *ref(const char *photo, const char *what, int64_t *n) {
    char name[64];
    snprintf(name, sizeof name, "%s.%s", photo, what);
    return test_ref_f32("llava/llava15.safetensors", name, n);
}

TEST(llava_llamacpp_mmproj_loads) {
    iris_llava_vision *v = NULL;
    CHECK_OK(iris_llava_vision_load(&v, MMPROJ, NULL));
    if (!v) return;
    const iris_llava_vision_info *in = iris_llava_vision_get_info(v);
    CHECK_INT(in->image_size, 32);
    CHECK_INT(in->patch_size, 8);
    CHECK_INT(in->width, 32);
    CHECK_INT(in->ffn, 48);
    CHECK_INT(in->n_layers_run, 2); /* block_count = 3 - 1, no feature_layer key: hidden_states[-2] */
    CHECK_INT(in->n_embd, 64);
    CHECK(!in->anyres);
    CHECK(!strcmp(in->projector, "mlp"));
    CHECK_NEAR(in->mean[0], 0.48145466, 1e-7);
    CHECK_NEAR(in->std[2], 0.27577711, 1e-7);
    iris_llava_vision_free(v);
}

/* The converter stores exactly the weights transformers ran (the generator rounded the vision and
   projector matrices to F16 first; vectors are F32), so as in test_llava_vision.c only the
   summation order differs: F32 throughout, ~1e-6 after three layers; 1e-4 abs + rel still
   catches a wrong layer count, a swapped MLP or a shifted class token. */
TEST(llava_llamacpp_vision_matches_transformers) {
    iris_llava_vision *v = NULL;
    CHECK_OK(iris_llava_vision_load(&v, MMPROJ, NULL));
    if (!v) return;
    iris_ctx *ctx = test_ctx(2);
    for (int p = 0; p < 2; p++) {
        int64_t n = 0;
        float *want = ref(photos[p], "embeds", &n), *rows = NULL;
        iris_image img;
        int n_rows = 0;
        if (want && test_llava_photo(&img, photos[p])) {
            CHECK_OK(iris_llava_embed(ctx, v, &img, &rows, &n_rows));
            CHECK_INT((int64_t)n_rows * 64, n);
            if (rows && (int64_t)n_rows * 64 == n)
                CHECK_MSG(test_close(rows, want, n, 1e-4, 1e-4, __FILE__, __LINE__, "rows"), "%s image rows", photos[p]);
            iris_image_free(&img);
        }
        free(rows);
        free(want);
    }
    iris_llava_vision_free(v);
}

/* The whole prompt through iris: text tokens, the image rows iris made from the converted mmproj,
   text tokens; logits of the six text positions against transformers'. Tolerances as
   test_llama_tiny.c: with an F32 KV cache and the F32 file both sides compute in F32 (1e-4 abs +
   rel; the image rows enter with their ~1e-6 error); with the default F16 KV cache and llama.cpp's
   arithmetic (exact = 1, what the caption tool runs) the cache's and queries' F16 rounding moves
   logits by up to ~1e-2 (2e-2). A wrong Q/K permutation moves them by whole units. */
static void check_logits(int kv_f32, int exact, double atol) {
    iris_llava_vision *v = NULL;
    iris_llama *m = NULL;
    CHECK_OK(iris_llava_vision_load(&v, MMPROJ, NULL));
    CHECK_OK(iris_llama_load(&m, MODEL, NULL));
    int64_t n_ids = 0, n_want = 0;
    float *ids_f = test_ref_f32("llava/llava15.safetensors", "input_ids", &n_ids);
    float *want = ref("wide", "logits", &n_want);
    iris_image img;
    if (!v || !m || !ids_f || !want || n_ids != 7 || !test_llava_photo(&img, "wide")) {
        CHECK_MSG(n_ids == 7, "input_ids has %lld ids", (long long)n_ids);
        free(ids_f), free(want);
        iris_llava_vision_free(v);
        iris_llama_free(m);
        return;
    }
    const int32_t V = m->hp.n_vocab;
    CHECK_INT(V, 512);
    CHECK_INT(m->hp.n_embd, iris_llava_vision_get_info(v)->n_embd);
    int32_t pre[3], post[3];
    for (int i = 0; i < 3; i++) pre[i] = (int32_t)ids_f[i], post[i] = (int32_t)ids_f[4 + i];
    float *rows = NULL;
    int n_rows = 0;
    CHECK_OK(iris_llava_embed(test_ctx(2), v, &img, &rows, &n_rows));
    int64_t n_pos = n_want / V;
    CHECK_INT(n_pos, 6 + n_rows);

    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.kv_f32 = kv_f32;
    sp.exact = exact;
    sp.ctx.n_threads = 2;
    iris_llama_state *s = NULL;
    CHECK_OK(iris_llama_state_new(&s, m, 64, &sp));
    float *got = malloc((size_t)3 * V * sizeof *got);
    if (s && rows && got && n_pos == 6 + n_rows) {
        CHECK_OK(iris_llama_eval_all(s, pre, 3, got));
        CHECK_MSG(test_close(got, want, 3 * V, atol, 1e-4, __FILE__, __LINE__, "pre"), "logits before the image (kv %s)",
                  kv_f32 ? "f32" : "f16");
        CHECK_OK(iris_llama_eval_embd(s, rows, n_rows, NULL));
        CHECK_OK(iris_llama_eval_all(s, post, 3, got));
        CHECK_MSG(test_close(got, want + (size_t)(3 + n_rows) * V, 3 * V, atol, 1e-4, __FILE__, __LINE__, "post"),
                  "logits after the image (kv %s, exact %d)", kv_f32 ? "f32" : "f16", exact);
        CHECK_INT(iris_llama_pos(s), n_pos);
    }
    free(got);
    iris_llama_state_free(s);
    free(rows);
    iris_image_free(&img);
    free(ids_f), free(want);
    iris_llava_vision_free(v);
    iris_llama_free(m);
}

TEST(llava_llamacpp_language_model_matches_transformers) {
    check_logits(1, 0, 1e-4);
    check_logits(0, 1, 2e-2);
}

/* The converter's vocabulary (from the tokenizer.model the generator rebuilt from stories260K) is
   stories260K's as llama.cpp's llama2.c converter wrote it: same pieces and types, SentencePiece
   kind, bos/eos defaults (the converter writes no ids: no tokenizer_config.json). */
TEST(llava_llamacpp_vocab) {
    const char *stories = test_data("llm/stories260K-f32.gguf");
    iris_llama *m = NULL, *s = NULL;
    CHECK_OK(iris_llama_load(&m, MODEL, NULL));
    if (stories) CHECK_OK(iris_llama_load(&s, stories, NULL));
    if (m) {
        CHECK_INT(iris_vocab_kind_of(m->vocab), IRIS_VOCAB_SPM);
        CHECK_INT(iris_vocab_size(m->vocab), 512);
        CHECK_INT(iris_vocab_bos(m->vocab), 1);
        CHECK_INT(iris_vocab_eos(m->vocab), 2);
    }
    if (m && s) {
        int diff = 0;
        for (int32_t id = 0; id < 512; id++) {
            uint32_t la = 0, lb = 0;
            const char *a = iris_vocab_text(m->vocab, id, &la), *b = iris_vocab_text(s->vocab, id, &lb);
            diff += !a || !b || la != lb || memcmp(a, b, la) || iris_vocab_type(m->vocab, id) != iris_vocab_type(s->vocab, id);
        }
        CHECK_MSG(diff == 0, "%d of 512 tokens differ from stories260K", diff);
    }
    iris_llama_free(m);
    iris_llama_free(s);
}
