/* test_llama_sampler.c - token sampling and the generation loop's stop handling.
   References: hand-worked logits/probabilities; the stories260K greedy text from
   shared/data/llm/reference/llamacpp/stories260K-f32.json for stop strings. */
#include <stdlib.h>
#include <string.h>

#include "../llama/generate.h"
#include "test.h"

static iris_sampler *mk(int n, float temp, int top_k, float top_p, float min_p, float rp, uint64_t seed) {
    iris_sampler_params p = iris_sampler_default_params();
    p.temp = temp, p.top_k = top_k, p.top_p = top_p, p.min_p = min_p, p.repeat_penalty = rp, p.seed = seed;
    iris_sampler *s = NULL;
    CHECK_OK(iris_sampler_new(&s, n, &p));
    return s;
}

TEST(llama_sampler_greedy_and_penalty) {
    float lg[6] = {1.0f, 3.0f, -2.0f, 3.0f, 2.5f, 0.0f};
    iris_sampler *s = mk(6, 0, 0, 1, 0, 1, 0);
    if (!s) return;
    CHECK_INT(iris_sampler_sample(s, lg), 1); /* tie 1/3: lowest id */
    iris_sampler_free(s);
    /* penalty 2 on token 1 and 2: 3 -> 1.5 (positive: divided), -2 -> -4 (negative: multiplied) */
    s = mk(6, 0, 0, 1, 0, 2.0f, 0);
    iris_sampler_accept(s, 1);
    iris_sampler_accept(s, 1); /* repeated: penalised once */
    CHECK_INT(iris_sampler_sample(s, lg), 3);
    iris_sampler_accept(s, 3);
    CHECK_INT(iris_sampler_sample(s, lg), 4); /* 2.5 now beats 1.5, 1.5 */
    iris_sampler_reset(s);
    CHECK_INT(iris_sampler_sample(s, lg), 1);
    CHECK(lg[1] == 3.0f); /* the input is not modified */
    iris_sampler_free(s);
    iris_sampler *bad;
    CHECK(iris_sampler_new(&bad, 0, NULL) == IRIS_ERR_ARG);
}

/* draws follow softmax(logits / T) over what the filters keep */
TEST(llama_sampler_distribution) {
    float lg[4] = {0.0f, 1.0f, 2.0f, -1.0f};
    enum { N = 20000 };
    int count[4] = {0};
    iris_sampler *s = mk(4, 1.0f, 0, 1.0f, 0, 1, 42);
    if (!s) return;
    for (int i = 0; i < N; i++) count[iris_sampler_sample(s, lg)]++;
    iris_sampler_free(s);
    double z = exp(0) + exp(1) + exp(2) + exp(-1);
    for (int i = 0; i < 4; i++) CHECK_NEAR(count[i] / (double)N, exp(lg[i]) / z, 0.015);
    /* temperature 0.5 sharpens: p ~ exp(2 x) */
    memset(count, 0, sizeof count);
    s = mk(4, 0.5f, 0, 1.0f, 0, 1, 7);
    for (int i = 0; i < N; i++) count[iris_sampler_sample(s, lg)]++;
    iris_sampler_free(s);
    z = exp(0) + exp(2) + exp(4) + exp(-2);
    CHECK_NEAR(count[2] / (double)N, exp(4) / z, 0.015);
    /* top-k 2: only ids 2 and 1, in ratio e : 1 */
    memset(count, 0, sizeof count);
    s = mk(4, 1.0f, 2, 1.0f, 0, 1, 9);
    for (int i = 0; i < N; i++) count[iris_sampler_sample(s, lg)]++;
    iris_sampler_free(s);
    CHECK_INT(count[0] + count[3], 0);
    CHECK_NEAR(count[2] / (double)N, exp(1) / (exp(1) + 1), 0.015);
    /* top-p 0.6: p = .644, .237, .087, .032 -> only id 2 is needed to pass 0.6 */
    s = mk(4, 1.0f, 0, 0.6f, 0, 1, 3);
    int only2 = 1;
    for (int i = 0; i < 500; i++) only2 &= iris_sampler_sample(s, lg) == 2;
    iris_sampler_free(s);
    CHECK(only2);
    /* min-p 0.3: keep p >= 0.3 * p_max, i.e. ids 2 (1.0) and 1 (e^-1 = 0.37) */
    memset(count, 0, sizeof count);
    s = mk(4, 1.0f, 0, 1.0f, 0.3f, 1, 5);
    for (int i = 0; i < 2000; i++) count[iris_sampler_sample(s, lg)]++;
    iris_sampler_free(s);
    CHECK_INT(count[0] + count[3], 0);
    CHECK(count[1] > 300);
}

TEST(llama_sampler_seeded) {
    float lg[16];
    for (int i = 0; i < 16; i++) lg[i] = (float)((i * 7) % 5);
    int32_t a[50], b[50], c[50];
    iris_sampler *s1 = mk(16, 0.9f, 0, 1, 0, 1, 123), *s2 = mk(16, 0.9f, 0, 1, 0, 1, 123), *s3 = mk(16, 0.9f, 0, 1, 0, 1, 124);
    if (!s1 || !s2 || !s3) return;
    for (int i = 0; i < 50; i++) a[i] = iris_sampler_sample(s1, lg), b[i] = iris_sampler_sample(s2, lg), c[i] = iris_sampler_sample(s3, lg);
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(memcmp(a, c, sizeof a) != 0);
    iris_sampler_reset(s1);
    for (int i = 0; i < 50; i++) b[i] = iris_sampler_sample(s1, lg);
    CHECK(!memcmp(a, b, sizeof a));
    iris_sampler_free(s1), iris_sampler_free(s2), iris_sampler_free(s3);
}

typedef struct {
    char buf[2048];
    size_t n;
} textbuf;

static int collect(void *user, const char *text, size_t len) {
    textbuf *t = user;
    if (t->n + len < sizeof t->buf) memcpy(t->buf + t->n, text, len), t->n += len;
    t->buf[t->n] = 0;
    return 0;
}

/* greedy "Once upon a time" continues ", there was a little girl named Lily. She loved to play ..." */
TEST(llama_generate_stop_strings) {
    const char *path = test_data("llm/stories260K-f32.gguf");
    if (!path) return;
    iris_llama *m;
    CHECK_OK(iris_llama_load(&m, path, NULL));
    if (!m) return;
    iris_llama_state *s;
    CHECK_OK(iris_llama_state_new(&s, m, 128, NULL));
    int32_t *ids;
    int n;
    CHECK_OK(iris_tokenize(m->vocab, "Once upon a time", 16, 1, 0, &ids, &n));
    static const char *const stops[] = {"zebra", " named"};
    iris_llama_gen_params gp = iris_llama_gen_default_params();
    gp.stop = stops;
    gp.n_stop = 2;
    textbuf t = {.n = 0};
    iris_llama_gen_stats st;
    CHECK_OK(iris_llama_generate(s, ids, n, &gp, collect, NULL, &t, NULL, &st));
    CHECK_MSG(!strcmp(t.buf, ", there was a little girl"), "text before the stop string: \"%s\"", t.buf);
    CHECK_INT(st.stopped_by, 2);
    CHECK_INT(st.n_prompt, 5);
    /* without stops: exactly n_predict tokens, all text handed out */
    CHECK_OK(iris_llama_set_pos(s, 0));
    gp.n_stop = 0;
    gp.n_predict = 12;
    t.n = 0;
    CHECK_OK(iris_llama_generate(s, ids, n, &gp, collect, NULL, &t, NULL, &st));
    CHECK_INT(st.n_gen, 12);
    CHECK_INT(st.stopped_by, 0);
    CHECK_MSG(!strncmp(t.buf, ", there was a little girl named Lily.", 36), "greedy text \"%s\"", t.buf);
    free(ids);
    iris_llama_state_free(s);
    iris_llama_free(m);
}
