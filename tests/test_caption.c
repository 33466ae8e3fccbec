/* test_caption.c - the captioner's language half against transformers on the tiny LLaVA 1.5 and 1.6
   models (tests/ref/gen_llava_tiny.py, gen_caption_tiny.py): the prompt's token ids as LLaVA's
   tokenizer_image_token builds them (stories260K vocabulary through a Hugging Face tokenizer made as
   transformers' LlamaConverter makes one), the language model's logits with the image rows at the
   placeholder, and the greedy tokens of model.generate(do_sample=False, max_new_tokens=12). */
#include <stdlib.h>
#include <string.h>

#include "../llama/model.h"
#include "../vision/caption.h"
#include "../vision/caption_impl.h"
#include "../vision/llava.h"
#include "test.h"

static const char *models[] = {"llava15", "llava16"};
static const char *photos[] = {"wide", "tall"};
#define PROMPT "Describe the dog." /* gen_caption_tiny.py's */

static iris_caption_ctx *open_caption(const char *model, iris_caption_template t, int batch) {
    char lm[256], mm[256];
    snprintf(lm, sizeof lm, "tests/ref/llava/%s_model.gguf", model);
    snprintf(mm, sizeof mm, "tests/ref/llava/%s_mmproj.gguf", model);
    iris_caption_params p = iris_caption_default_params();
    p.prompt = PROMPT, p.tmpl = t, p.max_tokens = 12, p.batch = batch;
    p.kv_f32 = 1, p.exact = 0; /* F32 throughout, as transformers ran */
    p.ctx.n_threads = 2;
    iris_caption_ctx *c = NULL;
    CHECK_OK(iris_caption_load(&c, lm, mm, &p));
    return c;
}

static int32_t *ref_ids(const char *file, const char *name, int64_t *n) {
    float *f = test_ref_f32(file, name, n);
    if (!f) return NULL;
    int32_t *ids = malloc(sizeof *ids * (size_t)*n);
    for (int64_t i = 0; i < *n; i++) ids[i] = (int32_t)f[i];
    free(f);
    return ids;
}

/* pre + <image> + post, as one id list with the image token (3) at the placeholder */
TEST(caption_prompt_ids_match_llava_tokenizer) {
    const iris_caption_template ts[] = {IRIS_CAPTION_TEMPLATE_AUTO, IRIS_CAPTION_TEMPLATE_MISTRAL,
                                        IRIS_CAPTION_TEMPLATE_MINIGPTV2};
    const char *names[] = {"prompt_ids.llava", "prompt_ids.mistral", "prompt_ids.minigptv2"};
    for (int k = 0; k < 3; k++) {
        iris_caption_ctx *c = open_caption("llava15", ts[k], 1);
        int64_t n = 0;
        int32_t *want = ref_ids("llava/caption.safetensors", names[k], &n);
        if (!c || !want) {
            iris_caption_free(c), free(want);
            continue;
        }
        if (k == 0) CHECK_INT(iris_caption_get_template(c), IRIS_CAPTION_TEMPLATE_LLAVA);
        const int32_t *pre, *post;
        int n_pre, n_post;
        iris_caption_prompt_ids(c, &pre, &n_pre, &post, &n_post);
        CHECK_MSG(n_pre + 1 + n_post == n, "%s: %d + 1 + %d ids, want %lld", names[k], n_pre, n_post, (long long)n);
        if (n_pre + 1 + n_post == n) {
            int bad = -1;
            for (int i = 0; i < n && bad < 0; i++) {
                int32_t got = i < n_pre ? pre[i] : i == n_pre ? 3 : post[i - n_pre - 1];
                if (got != want[i]) bad = i;
            }
            CHECK_MSG(bad < 0, "%s: id %d differs", names[k], bad);
        }
        free(want);
        iris_caption_free(c);
    }
}

TEST(caption_template_pick) {
    CHECK_INT(iris_caption_template_pick("minigptv2", NULL), IRIS_CAPTION_TEMPLATE_MINIGPTV2);
    CHECK_INT(iris_caption_template_pick("mlp", NULL), IRIS_CAPTION_TEMPLATE_LLAVA);
    iris_llama *m = NULL;
    CHECK_OK(iris_llama_load(&m, "tests/ref/llava/llava16_model.gguf", NULL));
    if (m) {
        CHECK_INT(iris_caption_template_pick("mlp", m), IRIS_CAPTION_TEMPLATE_LLAVA);
        snprintf(m->name, sizeof m->name, "liuhaotian_llava-v1.6-Mistral-7b");
        CHECK_INT(iris_caption_template_pick("mlp", m), IRIS_CAPTION_TEMPLATE_MISTRAL);
        iris_llama_free(m);
    }
}

TEST(caption_clean_text) {
    char *s = iris_caption_clean_text("  \n a dog\nruns \t\r\n", 18);
    CHECK(s && !strcmp(s, "a dog\nruns"));
    free(s);
    /* a lone continuation byte, a truncated sequence, an overlong '/', a surrogate -> U+FFFD each */
    const char bad[] = "a\x80" "b\xE2\x82" "c\xC0\xAF" "d\xED\xA0\x80" "\xC3\xA9";
    s = iris_caption_clean_text(bad, sizeof bad - 1);
    CHECK(s && !strcmp(s, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD"
                          "d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "\xC3\xA9"));
    free(s);
}

/* Logits of every position of gen_llava_tiny.py's prompt [BOS 30 40 <image> 50 60 70], the image rows
   fed one at a time through iris_llama_eval_embd, and of the template prompt's last position.
   F32 weights and an F32 cache on both sides; the rows already match transformers to 1e-4 (vision
   test), and two layers of a 64-wide model keep that order: 2e-3 abs + 1e-3 rel leaves room for the
   summation order and still fails for a row placed one position off (differences of 0.1 and more). */
TEST(caption_logits_match_transformers) {
    for (int mi = 0; mi < 2; mi++) {
        char lm_path[256], mm_path[256], file[64];
        snprintf(lm_path, sizeof lm_path, "tests/ref/llava/%s_model.gguf", models[mi]);
        snprintf(mm_path, sizeof mm_path, "tests/ref/llava/%s_mmproj.gguf", models[mi]);
        snprintf(file, sizeof file, "llava/%s.safetensors", models[mi]);
        iris_llama *m = NULL;
        iris_llava_vision *v = NULL;
        CHECK_OK(iris_llama_load(&m, lm_path, NULL));
        CHECK_OK(iris_llava_vision_load(&v, mm_path, NULL));
        iris_ctx *ctx = test_ctx(2);
        int64_t n_ids = 0;
        int32_t *ids = ref_ids(file, "input_ids", &n_ids);
        iris_caption_ctx *cc = open_caption(models[mi], IRIS_CAPTION_TEMPLATE_AUTO, 1);
        for (int pi = 0; pi < 2 && m && v && ctx && ids && cc; pi++) {
            iris_image img;
            if (!test_llava_photo(&img, photos[pi])) continue;
            float *rows = NULL;
            int n_rows = 0;
            CHECK_OK(iris_llava_embed(ctx, v, &img, &rows, &n_rows));
            char name[64];
            snprintf(name, sizeof name, "%s.logits", photos[pi]);
            int64_t n_want = 0;
            float *want = test_ref_f32(file, name, &n_want);
            const int V = m->hp.n_vocab, E = m->hp.n_embd;
            iris_llama_state_params sp = iris_llama_state_default_params();
            sp.kv_f32 = 1, sp.exact = 0, sp.ctx.n_threads = 2;
            iris_llama_state *s = NULL;
            CHECK_OK(iris_llama_state_new(&s, m, 256, &sp));
            float *got = malloc(sizeof *got * (size_t)V);
            if (rows && want && s && got && n_want == (n_ids - 1 + n_rows) * V) {
                int pos = 0;
                for (int i = 0; i < n_ids; i++) {
                    int reps = ids[i] == 3 ? n_rows : 1;
                    for (int r = 0; r < reps; r++, pos++) {
                        if (ids[i] == 3) CHECK_OK(iris_llama_eval_embd(s, rows + (size_t)r * E, 1, got));
                        else CHECK_OK(iris_llama_eval(s, &ids[i], 1, got));
                        CHECK_MSG(test_close(got, want + (size_t)pos * V, V, 2e-3, 1e-3, __FILE__, __LINE__, name),
                                  "%s %s position %d", models[mi], photos[pi], pos);
                    }
                }
                /* the template prompt, in one prefill per part as the captioner runs it */
                const int32_t *pre, *post;
                int n_pre, n_post;
                iris_caption_prompt_ids(cc, &pre, &n_pre, &post, &n_post);
                snprintf(name, sizeof name, "%s.%s.prompt_logits", models[mi], photos[pi]);
                float *want2 = test_ref_f32("llava/caption.safetensors", name, NULL);
                CHECK_OK(iris_llama_set_pos(s, 0));
                CHECK_OK(iris_llama_eval(s, pre, n_pre, NULL));
                CHECK_OK(iris_llama_eval_embd(s, rows, n_rows, NULL));
                CHECK_OK(iris_llama_eval(s, post, n_post, got));
                if (want2) CHECK_MSG(test_close(got, want2, V, 2e-3, 1e-3, __FILE__, __LINE__, name), "%s", name);
                free(want2);
            } else {
                CHECK_MSG(0, "%s %s: %lld reference logits for %d image rows", models[mi], photos[pi],
                          (long long)n_want, n_rows);
            }
            free(got), free(want), free(rows);
            iris_llama_state_free(s);
            iris_image_free(&img);
        }
        free(ids);
        iris_caption_free(cc); /* ctx is the runner's, kept for other tests */
        iris_llava_vision_free(v);
        iris_llama_free(m);
    }
}

/* Steps whose top-2 margin in transformers is at least 0.02 are decided well beyond the ~1e-3 the
   logits differ by; from the first step below it the two sides may part, so tokens are compared up to
   and including that step's predecessor. */
static int trusted_steps(const float *margin, int64_t n) {
    int k = 0;
    while (k < n && margin[k] >= 0.02f) k++;
    return k;
}

static void check_generations(const char *model, const iris_caption_result *r, int *n_checked) {
    for (int pi = 0; pi < 2; pi++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "%s.%s.gen_tokens", model, photos[pi]);
        snprintf(b, sizeof b, "%s.%s.gen_margin", model, photos[pi]);
        int64_t n = 0, nm = 0;
        int32_t *want = ref_ids("llava/caption.safetensors", a, &n);
        float *margin = test_ref_f32("llava/caption.safetensors", b, &nm);
        if (!want || !margin || r[pi].status) {
            CHECK_MSG(0, "%s %s: %s", model, photos[pi], r[pi].status ? r[pi].error : "no reference");
            free(want), free(margin);
            continue;
        }
        int k = trusted_steps(margin, nm);
        CHECK_MSG(r[pi].n_tokens >= k, "%s %s: %d tokens, %d trusted", model, photos[pi], r[pi].n_tokens, k);
        for (int i = 0; i < k && i < r[pi].n_tokens; i++)
            CHECK_MSG(r[pi].tokens[i] == want[i], "%s %s: token %d is %d, transformers %d", model, photos[pi], i,
                      r[pi].tokens[i], want[i]);
        if (k == nm) CHECK_INT(r[pi].n_tokens, n);
        CHECK(r[pi].text != NULL);
        *n_checked += k;
        free(want), free(margin);
    }
}

TEST(caption_greedy_matches_transformers) {
    int n_checked = 0;
    for (int mi = 0; mi < 2; mi++) {
        iris_image img[2];
        int ok = test_llava_photo(&img[0], photos[0]);
        ok = test_llava_photo(&img[1], photos[1]) && ok;
        iris_caption_result one[2], two[2];
        iris_caption_ctx *c1 = open_caption(models[mi], IRIS_CAPTION_TEMPLATE_AUTO, 1);
        iris_caption_ctx *c2 = open_caption(models[mi], IRIS_CAPTION_TEMPLATE_AUTO, 2);
        if (ok && c1 && c2) {
            CHECK_OK(iris_caption_images(c1, img, 2, one, NULL, NULL));
            check_generations(models[mi], one, &n_checked);
            /* both photos in flight together give the same tokens as one at a time */
            CHECK_OK(iris_caption_images(c2, img, 2, two, NULL, NULL));
            for (int pi = 0; pi < 2; pi++) {
                CHECK_INT(two[pi].n_tokens, one[pi].n_tokens);
                CHECK(two[pi].n_tokens == one[pi].n_tokens &&
                      !memcmp(two[pi].tokens, one[pi].tokens, sizeof(int32_t) * (size_t)one[pi].n_tokens));
                CHECK(one[pi].text && two[pi].text && !strcmp(one[pi].text, two[pi].text));
                CHECK(one[pi].n_prompt > 100 && one[pi].seconds >= 0);
                iris_caption_result_free(&one[pi]), iris_caption_result_free(&two[pi]);
            }
        }
        iris_caption_free(c1), iris_caption_free(c2);
        for (int pi = 0; pi < 2; pi++) iris_image_free(&img[pi]);
    }
    CHECK_MSG(n_checked >= 12, "only %d generated tokens were compared", n_checked);
}

static int stop_after_first(void *user, size_t index, const iris_caption_result *r) {
    (*(int *)user)++;
    return 1;
}

/* a photo too small to preprocess fails alone; a callback's stop ends the run with CANCELLED */
TEST(caption_bad_photo_and_stop) {
    iris_caption_ctx *c = open_caption("llava15", IRIS_CAPTION_TEMPLATE_AUTO, 2);
    iris_image img[3];
    int ok = test_llava_photo(&img[0], "wide") && test_llava_photo(&img[2], "tall");
    uint8_t px[3] = {1, 2, 3};
    img[1] = (iris_image){.w = 0, .h = 1, .c = 3, .data = px}; /* no pixels */
    if (c && ok) {
        iris_caption_result r[3];
        CHECK_OK(iris_caption_images(c, img, 3, r, NULL, NULL));
        CHECK(r[0].status == IRIS_OK && r[2].status == IRIS_OK);
        CHECK_MSG(r[1].status != IRIS_OK && r[1].error[0], "bad photo: %d '%s'", r[1].status, r[1].error);
        for (int i = 0; i < 3; i++) iris_caption_result_free(&r[i]);
        int calls = 0;
        CHECK_INT(iris_caption_images(c, img, 3, r, stop_after_first, &calls), IRIS_ERR_CANCELLED);
        CHECK_INT(calls, 1);
        int n_cancelled = 0;
        for (int i = 0; i < 3; i++) n_cancelled += r[i].status == IRIS_ERR_CANCELLED, iris_caption_result_free(&r[i]);
        CHECK(n_cancelled >= 1);
    }
    iris_image_free(&img[0]), iris_image_free(&img[2]);
    iris_caption_free(c);
}

/* a projector whose rows do not fit the language model is refused at load, naming the files */
TEST(caption_load_refuses_mismatch) {
    iris_caption_ctx *c = NULL;
    iris_status st = iris_caption_load(&c, "tests/ref/llama_tiny_mha.gguf", "tests/ref/llava/llava15_mmproj.gguf", NULL);
    CHECK(st != IRIS_OK && !c);
    CHECK_MSG(strstr(iris_last_error(), "llava15_mmproj.gguf") && strstr(iris_last_error(), "llama_tiny_mha.gguf"),
              "message: %s", iris_last_error());
    st = iris_caption_load(&c, "tests/ref/llava/llava15_model.gguf", "tests/ref/llava/no_such.gguf", NULL);
    CHECK(st != IRIS_OK && !c && strstr(iris_last_error(), "no_such.gguf"));
}

/* A MiniGPT-v2 pair captions through the same call: its template, and 4 patches per image row. */
TEST(caption_minigptv2_pair) {
    iris_caption_params p = iris_caption_default_params();
    p.max_tokens = 4;
    p.ctx.n_threads = 1;
    iris_caption_ctx *c = NULL;
    CHECK_OK(iris_caption_load(&c, "tests/ref/minigptv2/model.gguf", "tests/ref/minigptv2/mmproj.gguf", &p));
    if (!c) return;
    CHECK_INT(iris_caption_get_template(c), IRIS_CAPTION_TEMPLATE_MINIGPTV2);
    iris_image img;
    CHECK_OK(iris_image_load(&img, "tests/ref/llava/photo_wide.png", NULL));
    iris_caption_result r;
    CHECK_OK(iris_caption_images(c, &img, 1, &r, NULL, NULL));
    CHECK_OK(r.status);
    CHECK_INT(r.n_tokens, 4);
    const int32_t *pre, *post;
    int n_pre, n_post;
    iris_caption_prompt_ids(c, &pre, &n_pre, &post, &n_post);
    CHECK_MSG(r.n_prompt > n_pre + n_post, "n_prompt %d, text %d", r.n_prompt, n_pre + n_post);
    iris_caption_result_free(&r);
    iris_image_free(&img);
    iris_caption_free(c);
}

/* ignore_eos (benchmarks): a run where some photo draws the end token (hot sampling over the 512
   pieces; the first seed that does) runs every photo to max_tokens with ignore_eos. */
static int caption_run_count(iris_image *img, int n, int max, int ignore, uint64_t seed, int *stopped) {
    iris_caption_params p = iris_caption_default_params();
    p.max_tokens = max, p.ignore_eos = ignore, p.batch = 3, p.ctx.n_threads = 1, p.temp = 20, p.seed = seed;
    iris_caption_ctx *c = NULL;
    CHECK_OK(iris_caption_load(&c, "tests/ref/llava/llava15_model.gguf", "tests/ref/llava/llava15_mmproj.gguf", &p));
    int full = 0;
    *stopped = 0;
    iris_caption_result r[8];
    if (c && n <= 8 && !iris_caption_images(c, img, (size_t)n, r, NULL, NULL))
        for (int i = 0; i < n; i++) {
            *stopped += r[i].status == IRIS_OK && r[i].stopped_by_eog;
            full += r[i].status == IRIS_OK && r[i].n_tokens == max && !r[i].stopped_by_eog;
            iris_caption_result_free(&r[i]);
        }
    iris_caption_free(c);
    return full;
}

TEST(caption_ignore_eos) {
    const char *dir = test_data("images");
    if (!dir) return;
    static const char *names[] = {"dog.jpg", "kite.jpg", "fruits.jpg", "eagle.jpg", "person.jpg", "horses.jpg"};
    enum { N = 6, MAX = 40 };
    iris_image img[N];
    for (int i = 0; i < N; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        CHECK_OK(iris_image_load(&img[i], path, NULL));
    }
    uint64_t seed = 0;
    int stopped = 0;
    for (uint64_t s = 1; s <= 32 && !stopped; s++) {
        caption_run_count(img, N, MAX, 0, s, &stopped);
        seed = s;
    }
    CHECK_MSG(stopped > 0, "no seed made a photo stop at the end token: the test shows nothing");
    CHECK_INT(caption_run_count(img, N, MAX, 1, seed, &stopped), N);
    CHECK_INT(stopped, 0);
    for (int i = 0; i < N; i++) iris_image_free(&img[i]);
}
