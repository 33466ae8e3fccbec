/* test_llama_model.c - the Llama forward pass against llama.cpp on the real
   stories260K model. References: shared/data/llm/reference/llamacpp/ JSON files,
   greedy continuations (64 tokens per prompt) and all logits at the first generated
   position, written by libllama c392e509 (see that folder's README). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cpu/cpu.h"
#include "../llama/generate.h"
#include "test.h"

static cJSON *load_ref(const char *rel) {
    const char *path = test_data(rel);
    return path ? test_json(path) : NULL;
}

typedef struct {
    int equal;     /* generated tokens equal to the reference, position by position */
    int prefix;    /* length of the equal prefix */
    float max_dlogit;
} run_result;

/* One reference file: tokenize each prompt, check the ids, generate 64 greedy tokens,
   compare tokens and first-position logits. Fills res[] per prompt; returns the count. */
static int run_reference(const char *type, int kv_f32, int threads, run_result *res) {
    char rel[256], model_rel[256];
    snprintf(rel, sizeof rel, "llm/reference/llamacpp/stories260K-%s%s.json", type, kv_f32 ? ".kvf32" : "");
    snprintf(model_rel, sizeof model_rel, "llm/stories260K-%s.gguf", type);
    cJSON *ref = load_ref(rel);
    if (!ref) return 0;
    const char *model_path = test_data(model_rel);
    iris_llama *m = NULL;
    iris_llama_state *s = NULL;
    int n_runs = 0;
    if (!model_path) goto done;
    CHECK_OK(iris_llama_load(&m, model_path, NULL));
    iris_llama_state_params sp = iris_llama_state_default_params();
    sp.ctx.n_threads = threads;
    sp.kv_f32 = kv_f32;
    if (!m) goto done;
    CHECK_OK(iris_llama_state_new(&s, m, 512, &sp));
    if (!s) goto done;
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    const cJSON *run;
    cJSON_ArrayForEach(run, cJSON_GetObjectItem(ref, "runs")) {
        run_result *r = &res[n_runs++];
        memset(r, 0, sizeof *r);
        const char *prompt = cJSON_GetObjectItem(run, "prompt")->valuestring;
        const cJSON *want_prompt = cJSON_GetObjectItem(run, "prompt_tokens");
        const cJSON *want_gen = cJSON_GetObjectItem(run, "generated_tokens");
        const cJSON *want_logits = cJSON_GetObjectItem(run, "logits_first_generated");
        int32_t *ids;
        int n;
        CHECK_OK(iris_tokenize(m->vocab, prompt, strlen(prompt), 1, 0, &ids, &n));
        int same = n == cJSON_GetArraySize(want_prompt);
        for (int i = 0; same && i < n; i++) same = ids[i] == cJSON_GetArrayItem(want_prompt, i)->valueint;
        CHECK_MSG(same, "%s: prompt \"%s\" tokenized differently", rel, prompt);
        /* first position: logits of the prompt pass */
        CHECK_OK(iris_llama_set_pos(s, 0));
        CHECK_OK(iris_llama_eval(s, ids, n, logits));
        for (int i = 0; i < m->hp.n_vocab && i < cJSON_GetArraySize(want_logits); i++) {
            float d = fabsf(logits[i] - (float)cJSON_GetArrayItem(want_logits, i)->valuedouble);
            if (d > r->max_dlogit) r->max_dlogit = d;
        }
        /* greedy continuation, not stopping at BOS/EOS, as the reference was made */
        CHECK_OK(iris_llama_set_pos(s, 0));
        iris_llama_gen_params gp = iris_llama_gen_default_params();
        gp.n_predict = 64;
        gp.stop_at_eog = 0;
        int32_t gen[64];
        iris_llama_gen_stats st;
        CHECK_OK(iris_llama_generate(s, ids, n, &gp, NULL, NULL, NULL, gen, &st));
        CHECK_INT(st.n_gen, 64);
        r->prefix = -1;
        for (int i = 0; i < 64 && i < cJSON_GetArraySize(want_gen); i++) {
            int eq = gen[i] == cJSON_GetArrayItem(want_gen, i)->valueint;
            r->equal += eq;
            if (!eq && r->prefix < 0) r->prefix = i;
        }
        if (r->prefix < 0) r->prefix = 64;
        free(ids);
    }
    free(logits);
done:
    iris_llama_state_free(s);
    iris_llama_free(m);
    cJSON_Delete(ref);
    return n_runs;
}

/* Every prompt must match its reference for at least min_prefix generated tokens,
   and the first-position logits must be within tol. The references come from an
   AVX-512 build of llama.cpp; our AVX-512 kernels reproduce it token for token. The
   AVX2 and scalar paths of the element-wise kernels (exp in SiLU and softmax) round
   differently in the last bit, which now and then moves a quantized activation across
   a rounding step: there a quantized model must agree for the first 32 tokens. */
static void check_type(const char *type, int kv_f32, int min_prefix, float tol) {
    int quantized = type[0] == 'q';
    if (iris_cpu_simd() < IRIS_SIMD_AVX512 && quantized) {
        if (min_prefix > 32) min_prefix = 32;
        if (tol < 0.3f) tol = 0.3f;
    }
    run_result res[8];
    for (int threads = 1; threads <= 2; threads++) {
        int n = run_reference(type, kv_f32, threads, res);
        if (!n) return;
        CHECK_INT(n, 4);
        printf("    %s kv %s, %d thread%s: equal/prefix", type, kv_f32 ? "f32" : "f16", threads, threads > 1 ? "s" : "");
        for (int i = 0; i < n; i++) printf(" %d/%d", res[i].equal, res[i].prefix);
        printf(", max |dlogit| first position");
        for (int i = 0; i < n; i++) printf(" %.2g", (double)res[i].max_dlogit);
        printf("\n");
        for (int i = 0; i < n; i++) {
            CHECK_MSG(res[i].prefix >= min_prefix, "%s kv %s prompt %d: %d tokens equal before the first difference (want >= %d)",
                      type, kv_f32 ? "f32" : "f16", i, res[i].prefix, min_prefix);
            CHECK_MSG(res[i].max_dlogit <= tol, "%s kv %s prompt %d: logits differ by %g (tolerance %g)", type,
                      kv_f32 ? "f32" : "f16", i, (double)res[i].max_dlogit, (double)tol);
        }
    }
}

/* Exact mode reproduces llama.cpp's arithmetic, so every type and cache gives the same 64
   greedy tokens on every prompt. First-position logits agree to print precision except:
   F16 weights with multi-token prompts (~1e-2: llama.cpp's batched F16 path sums in an
   order we do not reproduce), and one q4_k_m prompt with an F32 cache, where a single
   activation lands on the other side of a Q8_0 rounding step (0.21). */
TEST(llama_stories_f32_kvf32) { check_type("f32", 1, 64, 1e-4f); }
TEST(llama_stories_f32) { check_type("f32", 0, 64, 1e-3f); }
TEST(llama_stories_f16_kvf32) { check_type("f16", 1, 64, 3e-2f); }
TEST(llama_stories_f16) { check_type("f16", 0, 64, 3e-2f); }
TEST(llama_stories_q8_0_kvf32) { check_type("q8_0", 1, 64, 1e-4f); }
TEST(llama_stories_q8_0) { check_type("q8_0", 0, 64, 1e-4f); }
TEST(llama_stories_q4_0_kvf32) { check_type("q4_0", 1, 64, 1e-4f); }
TEST(llama_stories_q4_0) { check_type("q4_0", 0, 64, 1e-4f); }
TEST(llama_stories_q4_k_m_kvf32) { check_type("q4_k_m", 1, 64, 0.3f); }
TEST(llama_stories_q4_k_m) { check_type("q4_k_m", 0, 64, 1e-4f); }

/* the same checks on the AVX2 and scalar paths (IRIS_SIMD caps the level) */
TEST(llama_stories_simd_paths) {
    static const char *levels[2] = {"avx2", "scalar"};
    const char *old = getenv("IRIS_SIMD");
    for (int i = 0; i < 2; i++) {
        setenv("IRIS_SIMD", levels[i], 1);
        iris_cpu_simd_refresh();
        printf("    IRIS_SIMD=%s\n", levels[i]);
        check_type("f32", 1, 64, 1e-4f);
        check_type("q8_0", 0, 64, 1e-4f);
        check_type("q4_0", 0, 64, 1e-4f);
        check_type("q4_k_m", 1, 64, 0.3f);
    }
    if (old) setenv("IRIS_SIMD", old, 1);
    else unsetenv("IRIS_SIMD");
    iris_cpu_simd_refresh();
}
