/* test_llama_batch.c - batched decoding (llama/batch.h) against one sequence at a time.

   Reference: the same token streams run through one iris_llama_state per sequence (whose
   logits tests/test_llama_tiny.c checks against transformers), and transformers' own decode
   logits for the fixture prompt of tests/ref/llama_tiny_gqa.safetensors. In exact mode every
   row of a batched step must equal the single-sequence step bit for bit (memcmp), for the F32
   tiny models and their Q8_0 / Q4_0 / Q4_K re-quantizations, with F16 and F32 caches: slots with
   prompts of different lengths, image-embedding rows in the prefill, slots listed out of order
   and skipped, a finished slot cleared and refilled with a new prompt, 1 to 8 slots. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../llama/batch.h"
#include "../llama/quantize.h"
#include "test.h"

static uint32_t rnd(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* the prefill of slot i's k-th sequence: text, for odd i image rows, text */
typedef struct {
    int32_t pre[8], post[8];
    int n_pre, n_post, n_img;
    float img[3 * 64];
} prefill;

static void make_prefill(prefill *p, const iris_llama *m, int i, int k) {
    uint32_t s = 1000u * (uint32_t)i + 77u * (uint32_t)k + 5u;
    const int V = m->hp.n_vocab, E = m->hp.n_embd;
    memset(p, 0, sizeof *p);
    p->n_pre = 1 + (i + k) % 4;
    p->n_post = 1 + (2 * i + k) % 5;
    p->n_img = i % 2 ? 3 : 0;
    for (int j = 0; j < p->n_pre; j++) p->pre[j] = (int32_t)(rnd(&s) % (uint32_t)V);
    for (int j = 0; j < p->n_post; j++) p->post[j] = (int32_t)(rnd(&s) % (uint32_t)V);
    for (int j = 0; j < p->n_img * E; j++) p->img[j] = ((float)(rnd(&s) % 2001u) - 1000.0f) * 1e-4f; /* +-0.1, like rows of tok_embd */
}

/* runs the prefill on a batch slot (b) or a state (s); logits of the last row */
static void run_prefill(iris_llama_batch *b, int slot, iris_llama_state *s, const prefill *p, float *logits) {
    if (b) {
        CHECK_OK(iris_llama_batch_eval(b, slot, p->pre, p->n_pre, NULL));
        if (p->n_img) CHECK_OK(iris_llama_batch_eval_embd(b, slot, p->img, p->n_img, NULL));
        CHECK_OK(iris_llama_batch_eval(b, slot, p->post, p->n_post, logits));
    } else {
        CHECK_OK(iris_llama_eval(s, p->pre, p->n_pre, NULL));
        if (p->n_img) CHECK_OK(iris_llama_eval_embd(s, p->img, p->n_img, NULL));
        CHECK_OK(iris_llama_eval(s, p->post, p->n_post, logits));
    }
}

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Largest |batched - single| relative to 1 + |single| over n logits. */
static double rel_diff(const float *a, const float *b, int n) {
    double d = 0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1 + fabs((double)b[i]));
        if (e > d) d = e;
    }
    return d;
}

/* n_seq slots decoded together against n_seq states. tol < 0: bit-identical logits. */
static void check_batch(const iris_llama *m, const char *what, int n_seq, const iris_llama_state_params *sp, double tol) {
    const int V = m->hp.n_vocab, T = 7;
    iris_llama_batch *b = NULL;
    iris_llama_state *s[8] = {0};
    int32_t tok[8];
    float *lb = malloc((size_t)n_seq * V * sizeof *lb), *ls = malloc((size_t)n_seq * V * sizeof *ls);
    /* the states on one thread: many idle pools spinning on 2 shared cores cost more than the work */
    iris_llama_state_params sp1 = *sp;
    sp1.ctx.n_threads = 1;
    CHECK_OK(iris_llama_batch_new(&b, m, n_seq, 64, sp));
    for (int i = 0; i < n_seq; i++) CHECK_OK(iris_llama_state_new(&s[i], m, 64, &sp1));
    if (!b || !lb || !ls) goto done;
    for (int i = 0; i < n_seq; i++) {
        if (!s[i]) goto done;
        prefill p;
        make_prefill(&p, m, i, 0);
        run_prefill(b, i, NULL, &p, lb + (size_t)i * V);
        run_prefill(NULL, 0, s[i], &p, ls + (size_t)i * V);
        CHECK_MSG(!memcmp(lb + (size_t)i * V, ls + (size_t)i * V, (size_t)V * sizeof *lb), "%s: prefill of slot %d",
                  what, i);
        tok[i] = argmax(ls + (size_t)i * V, V);
        CHECK_INT(iris_llama_batch_pos(b, i), iris_llama_pos(s[i]));
    }
    int worst_step = -1;
    double worst = 0;
    for (int t = 0; t < T; t++) {
        /* the live slots of this step: all of them, reversed on odd steps, slot 1 skipped on step 2 */
        int seqs[8], n = 0;
        int32_t in[8];
        for (int j = 0; j < n_seq; j++) {
            int i = t % 2 ? n_seq - 1 - j : j;
            if (t == 2 && i == 1) continue;
            seqs[n] = i, in[n++] = tok[i];
        }
        CHECK_OK(iris_llama_batch_step(b, seqs, in, n, lb));
        for (int r = 0; r < n; r++) {
            int i = seqs[r];
            float *want = ls + (size_t)i * V, *got = lb + (size_t)r * V;
            CHECK_OK(iris_llama_eval(s[i], &in[r], 1, want));
            if (tol < 0) {
                CHECK_MSG(!memcmp(got, want, (size_t)V * sizeof *got), "%s, %d slots: step %d slot %d not bit-identical",
                          what, n_seq, t, i);
            } else {
                double d = rel_diff(got, want, V);
                if (d > worst) worst = d, worst_step = t;
            }
            CHECK_INT(iris_llama_batch_pos(b, i), iris_llama_pos(s[i]));
            tok[i] = argmax(want, V);
        }
        if (t == 3) { /* slot 0 is done: a new sequence takes it, against a fresh state */
            prefill p;
            make_prefill(&p, m, 0, 1);
            CHECK_OK(iris_llama_batch_clear(b, 0));
            CHECK_INT(iris_llama_batch_pos(b, 0), 0);
            iris_llama_state_free(s[0]);
            CHECK_OK(iris_llama_state_new(&s[0], m, 64, &sp1));
            if (!s[0]) goto done;
            run_prefill(b, 0, NULL, &p, lb);
            run_prefill(NULL, 0, s[0], &p, ls);
            CHECK_MSG(tol >= 0 || !memcmp(lb, ls, (size_t)V * sizeof *lb), "%s: refill of slot 0", what);
            tok[0] = argmax(ls, V);
        }
    }
    if (tol >= 0)
        CHECK_MSG(worst <= tol, "%s, %d slots: step %d differs by %.3g relative (tolerance %.3g)", what, n_seq,
                  worst_step, worst, tol);
done:
    iris_llama_batch_free(b);
    for (int i = 0; i < n_seq; i++) iris_llama_state_free(s[i]);
    free(lb), free(ls);
}

static void check_model(const iris_llama *m, const char *name) {
    iris_llama_state_params sp = iris_llama_state_default_params();
    for (int n = 1; n <= 8; n++) {
        char what[96];
        for (int kv = 0; kv < 2; kv++) {
            sp.exact = 1, sp.kv_f32 = kv;
            /* threads split the work, never a row's arithmetic; one case is enough (an idle pool
               spins between the batch's and the states' passes) */
            sp.ctx.n_threads = n == 8 && !kv ? 2 : 1;
            snprintf(what, sizeof what, "%s exact kv %s", name, kv ? "f32" : "f16");
            check_batch(m, what, n, &sp, -1);
        }
        /* Non-exact mode multiplies F32 weights in a GEMM whose blocking depends on the row count,
           so a row's K-term sums (K <= 96 here) are added in another order than in a one-row pass:
           float32 rounding (~6e-8 relative per addition) over a few dozen terms and 2-3 layers,
           measured up to ~1e-6; 1e-4 still catches any mixing of rows or positions, which gives
           differences of order 1. Quantized weights take the same per-row kernels either way. */
        sp.exact = 0, sp.kv_f32 = 0, sp.ctx.n_threads = 1;
        snprintf(what, sizeof what, "%s non-exact", name);
        check_batch(m, what, n, &sp, 1e-4);
    }
}

static char qpath[64];

TEST(llama_batch_equals_one_at_a_time) {
    static const char *names[2] = {"gqa", "mha"};
    for (int k = 0; k < 2; k++) {
        char path[96];
        snprintf(path, sizeof path, "tests/ref/llama_tiny_%s.gguf", names[k]);
        iris_llama *m;
        CHECK_OK(iris_llama_load(&m, path, NULL));
        if (!m) continue;
        check_model(m, names[k]);
        iris_llama_free(m);
    }
}

TEST(llama_batch_quantized_equals_one_at_a_time) {
    static const iris_dtype dts[3] = {IRIS_Q8_0, IRIS_Q4_0, IRIS_Q4_K};
    snprintf(qpath, sizeof qpath, "/tmp/iris_batch_%d.gguf", (int)getpid());
    for (int k = 0; k < 3; k++) {
        CHECK_OK(iris_llama_quantize("tests/ref/llama_tiny_gqa.gguf", qpath, dts[k], 2, NULL));
        iris_llama *m;
        CHECK_OK(iris_llama_load(&m, qpath, NULL));
        if (!m) continue;
        check_model(m, iris_dtype_name(dts[k]));
        iris_llama_free(m);
    }
    unlink(qpath);
}

/* Slot 0 of a batch decoding the fixture's greedy continuation beside other slots follows
   transformers as closely as a lone state does (test_llama_tiny.c's tolerances: 1e-4 with an
   F32 cache, 2e-2 with F16 rounding of keys and values). */
TEST(llama_batch_matches_transformers) {
    const char *ref = "llama_tiny_gqa.safetensors";
    int64_t n_prompt, n_dec;
    float *p = test_ref_f32(ref, "prompt_ids", &n_prompt), *d = test_ref_f32(ref, "decode_ids", &n_dec);
    float *want = test_ref_f32(ref, "decode_logits", NULL);
    iris_llama *m = NULL;
    CHECK_OK(iris_llama_load(&m, "tests/ref/llama_tiny_gqa.gguf", NULL));
    float *lg = NULL;
    if (!p || !d || !want || !m) goto done;
    const int V = m->hp.n_vocab;
    lg = malloc((size_t)3 * V * sizeof *lg);
    for (int kv = 0; kv < 2; kv++) {
        iris_llama_state_params sp = iris_llama_state_default_params();
        sp.kv_f32 = kv;
        iris_llama_batch *b;
        CHECK_OK(iris_llama_batch_new(&b, m, 3, 32, &sp));
        if (!b) continue;
        int32_t ids[32];
        for (int64_t i = 0; i < n_prompt; i++) ids[i] = (int32_t)p[i];
        CHECK_OK(iris_llama_batch_eval(b, 0, ids, (int)n_prompt, NULL));
        CHECK_OK(iris_llama_batch_eval(b, 1, ids + 2, 5, NULL));
        CHECK_OK(iris_llama_batch_eval(b, 2, ids + 1, 9, NULL));
        for (int64_t t = 0; t < n_dec; t++) {
            int seqs[3] = {2, 0, 1};
            int32_t in[3] = {ids[(t + 3) % n_prompt], (int32_t)d[t], ids[t % n_prompt]};
            CHECK_OK(iris_llama_batch_step(b, seqs, in, 3, lg));
            CHECK_MSG(test_close(lg + V, want + t * V, V, kv ? 1e-4 : 2e-2, 1e-4, __FILE__, __LINE__, "slot 0"),
                      "decode step %d (kv %s)", (int)t, kv ? "f32" : "f16");
        }
        iris_llama_batch_free(b);
    }
done:
    free(p), free(d), free(want), free(lg);
    iris_llama_free(m);
}

/* bad input is refused before anything runs */
TEST(llama_batch_bad_input) {
    iris_llama *m = NULL;
    CHECK_OK(iris_llama_load(&m, "tests/ref/llama_tiny_mha.gguf", NULL));
    if (!m) return;
    iris_llama_batch *b = NULL;
    CHECK(iris_llama_batch_new(&b, m, 0, 16, NULL) == IRIS_ERR_ARG);
    CHECK(!b);
    CHECK_OK(iris_llama_batch_new(&b, m, 3, 16, NULL));
    if (!b) { iris_llama_free(m); return; }
    CHECK_INT(iris_llama_batch_n_seq(b), 3);
    CHECK_INT(iris_llama_batch_n_ctx(b), 16);
    int32_t t3[3] = {1, 2, 3}, bad[2] = {1, m->hp.n_vocab};
    CHECK_OK(iris_llama_batch_eval(b, 0, t3, 3, NULL));
    CHECK_OK(iris_llama_batch_eval(b, 1, t3, 2, NULL));
    CHECK(iris_llama_batch_eval(b, 3, t3, 1, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_eval(b, -1, t3, 1, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_eval(b, 2, bad, 2, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_eval(b, 2, t3, 0, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_eval_embd(b, 2, NULL, 1, NULL) == IRIS_ERR_ARG);
    int dup[2] = {0, 0}, out[2] = {0, 3}, ok[2] = {1, 0};
    CHECK(iris_llama_batch_step(b, dup, t3, 2, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_step(b, out, t3, 2, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_step(b, ok, bad, 2, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_step(b, ok, t3, 0, NULL) == IRIS_ERR_ARG);
    CHECK(iris_llama_batch_step(b, ok, t3, 4, NULL) == IRIS_ERR_ARG);
    CHECK_INT(iris_llama_batch_pos(b, 0), 3);
    CHECK_INT(iris_llama_batch_pos(b, 1), 2);
    CHECK_INT(iris_llama_batch_pos(b, 2), 0);
    CHECK_INT(iris_llama_batch_pos(b, 3), -1);
    CHECK_OK(iris_llama_batch_step(b, ok, t3, 2, NULL));
    CHECK_INT(iris_llama_batch_pos(b, 1), 3);
    /* a full slot refuses the step, and the other slots stay where they were */
    int32_t many[16] = {0};
    CHECK_OK(iris_llama_batch_eval(b, 2, many, 15, NULL));
    CHECK(iris_llama_batch_eval(b, 2, many, 2, NULL) == IRIS_ERR_ARG);
    int all[3] = {0, 1, 2};
    CHECK_OK(iris_llama_batch_step(b, all, t3, 3, NULL));
    CHECK_INT(iris_llama_batch_pos(b, 2), 16);
    CHECK(iris_llama_batch_step(b, all, t3, 3, NULL) == IRIS_ERR_ARG);
    CHECK_INT(iris_llama_batch_pos(b, 0), 5);
    CHECK(iris_llama_batch_set_pos(b, 0, 6) == IRIS_ERR_ARG);
    CHECK_OK(iris_llama_batch_set_pos(b, 0, 2));
    CHECK(iris_llama_batch_clear(b, 5) == IRIS_ERR_ARG);
    CHECK_OK(iris_llama_batch_clear(b, 2));
    CHECK_INT(iris_llama_batch_pos(b, 2), 0);
    iris_llama_batch_free(b);
    iris_llama_free(m);
}
