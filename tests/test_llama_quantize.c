/* test_llama_quantize.c - re-quantizing GGUF models (bin/quantize's library part).
   References: shared/data/llm/stories260K-{q8_0,q4_0}.gguf, written by llama-quantize
   from the same F32 file (our output must be byte-identical tensor by tensor), and the
   transformers logits of tests/ref/llama_tiny_gqa.safetensors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../llama/model.h"
#include "../llama/quantize.h"
#include "test.h"

static char out_path[64];

TEST(llama_quantize_matches_llama_quantize) {
    static const char *types[2] = {"q8_0", "q4_0"};
    static const iris_dtype dts[2] = {IRIS_Q8_0, IRIS_Q4_0};
    snprintf(out_path, sizeof out_path, "/tmp/iris_quantize_%d.gguf", (int)getpid());
    for (int k = 0; k < 2; k++) {
        char src[4096], ref[4096];
        const char *p = test_data("llm/stories260K-f32.gguf");
        if (!p) return;
        snprintf(src, sizeof src, "%s", p);
        char rel[128];
        snprintf(rel, sizeof rel, "llm/stories260K-%s.gguf", types[k]);
        if (!(p = test_data(rel))) return;
        snprintf(ref, sizeof ref, "%s", p);
        iris_quantize_stats st;
        CHECK_OK(iris_llama_quantize(src, out_path, dts[k], 1 + k, &st));
        iris_gguf a, b;
        CHECK_OK(iris_gguf_open(&a, out_path));
        CHECK_OK(iris_gguf_open(&b, ref));
        CHECK_INT(a.n_tensors, b.n_tensors);
        int same = 0;
        for (int64_t i = 0; i < b.n_tensors; i++) {
            const iris_gguf_tensor_info *tb = &b.tensors[i], *ta = iris_gguf_find_tensor(&a, tb->name);
            if (CHECK_MSG(ta && ta->dtype == tb->dtype && ta->nbytes == tb->nbytes, "%s %s: type %s, llama-quantize %s",
                          types[k], tb->name, ta ? iris_dtype_name(ta->dtype) : "missing", iris_dtype_name(tb->dtype)))
                same += !memcmp(a.data + ta->offset, b.data + tb->offset, tb->nbytes);
        }
        CHECK_INT(same, b.n_tensors);
        uint32_t ft;
        CHECK_OK(iris_gguf_get_u32(&a, "general.file_type", &ft));
        CHECK_INT(ft, k ? 2 : 7);
        iris_gguf_close(&a);
        iris_gguf_close(&b);
    }
    unlink(out_path);
}

/* the tiny GQA model quantized still follows transformers closely, with the fallbacks of
   rows that are not whole 256-blocks */
TEST(llama_quantize_tiny_runs) {
    static const iris_dtype dts[3] = {IRIS_Q8_0, IRIS_Q4_0, IRIS_Q4_K};
    /* relative RMS error of all prompt logits; random Gaussian weights are a worst case for 4-bit
       blocks, and a wrong layout or block order gives errors of 1 and more */
    static const double tol[3] = {0.03, 0.35, 0.2};
    snprintf(out_path, sizeof out_path, "/tmp/iris_quantize_%d.gguf", (int)getpid());
    int64_t n_ids, n_want;
    float *idf = test_ref_f32("llama_tiny_gqa.safetensors", "prompt_ids", &n_ids);
    float *want = test_ref_f32("llama_tiny_gqa.safetensors", "prompt_logits", &n_want);
    if (!idf || !want) goto done;
    int32_t ids[64];
    for (int64_t i = 0; i < n_ids && i < 64; i++) ids[i] = (int32_t)idf[i];
    for (int k = 0; k < 3; k++) {
        CHECK_OK(iris_llama_quantize("tests/ref/llama_tiny_gqa.gguf", out_path, dts[k], 2, NULL));
        iris_llama *m;
        CHECK_OK(iris_llama_load(&m, out_path, NULL));
        if (!m) continue;
        if (dts[k] == IRIS_Q4_K) {
            CHECK_INT(m->layers[0].wq->dtype, IRIS_Q5_0);     /* rows of 64: no whole 256-block */
            CHECK_INT(m->output->dtype, IRIS_Q8_0);
        } else {
            CHECK_INT(m->layers[1].w_down->dtype, dts[k]);
            CHECK_INT(m->tok_embd->dtype, dts[k]);
            CHECK_INT(m->output->dtype, dts[k] == IRIS_Q4_0 ? IRIS_Q8_0 : IRIS_Q8_0);
        }
        CHECK_INT(m->layers[0].attn_norm->dtype, IRIS_F32);
        iris_llama_state *s;
        CHECK_OK(iris_llama_state_new(&s, m, 32, NULL));
        float *got = malloc((size_t)n_want * sizeof *got);
        if (s && got) {
            CHECK_OK(iris_llama_eval_all(s, ids, (int)n_ids, got));
            double se = 0, sw = 0;
            for (int64_t i = 0; i < n_want; i++) se += (got[i] - want[i]) * (got[i] - want[i]), sw += want[i] * want[i];
            double rel = sqrt(se / sw);
            printf("    tiny gqa as %s: relative RMS logit error %.4f\n", iris_dtype_name(dts[k]), rel);
            CHECK_MSG(rel < tol[k], "tiny gqa as %s: relative RMS error %.4f (tolerance %.3f)", iris_dtype_name(dts[k]), rel,
                      tol[k]);
        }
        free(got);
        iris_llama_state_free(s);
        iris_llama_free(m);
    }
    CHECK(iris_llama_quantize("tests/ref/llama_tiny_gqa.gguf", out_path, IRIS_Q6_K, 1, NULL) == IRIS_ERR_UNSUPPORTED);
    CHECK(iris_llama_quantize("/nonexistent.gguf", out_path, IRIS_Q8_0, 1, NULL) != IRIS_OK);
done:
    unlink(out_path);
    free(idf), free(want);
}
