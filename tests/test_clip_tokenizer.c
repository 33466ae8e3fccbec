/* test_clip_tokenizer.c - the CLIP tokenizer and A1111's prompt syntax.
   References: tests/ref/clip_tokens.json (tests/ref/gen_clip_tokens.py: Hugging Face
   transformers 4.44.2 CLIPTokenizer without ftfy for the ids; A1111's parse_prompt_attention and
   tokenize_line reimplemented in Python on top of it for the chunks), and
   shared/data/clip/vocab.json for the built-in vocabulary. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../clip/tokenizer.h"
#include "test.h"

#define REF "tests/ref/clip_tokens.json"

static iris_clip_tokenizer *builtin(void) {
    static iris_clip_tokenizer *t;
    if (!t) CHECK_OK(iris_clip_tokenizer_load(&t, NULL));
    return t;
}

static int ids_equal(const int32_t *got, int n, const cJSON *want) {
    if (n != cJSON_GetArraySize(want)) return 0;
    for (int i = 0; i < n; i++)
        if (got[i] != cJSON_GetArrayItem(want, i)->valueint) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *ids, int n) {
    printf("    %s (%d):", what, n);
    for (int i = 0; i < n && i < 40; i++) printf(" %d", (int)ids[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

/* the case's text: "text", or "hex" for bytes that are not UTF-8 (malloc'd) */
static char *case_text(const cJSON *c) {
    const cJSON *hex = cJSON_GetObjectItem(c, "hex");
    if (!hex) return strdup(cJSON_GetObjectItem(c, "text")->valuestring);
    size_t n = strlen(hex->valuestring) / 2;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex->valuestring + 2 * i, "%2x", &v);
        s[i] = (char)v;
    }
    s[n] = 0;
    return s;
}

TEST(clip_tokenizer_matches_hf) {
    iris_clip_tokenizer *t = builtin();
    cJSON *j = test_json(REF);
    if (!t || !j) goto done;
    const cJSON *c;
    int n_cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "hf")) {
        char *text = case_text(c);
        const cJSON *want = cJSON_GetObjectItem(c, "ids");
        int32_t *ids;
        int n;
        CHECK_OK(iris_clip_tokenize(t, text, &ids, &n));
        if (!CHECK_MSG(ids_equal(ids, n, want), "ids of case %d \"%.60s\" differ from Hugging Face", n_cases, text)) {
            print_ids("got ", ids, n);
            int nw = cJSON_GetArraySize(want);
            int32_t *w = malloc(((size_t)nw + 1) * sizeof *w);
            for (int i = 0; i < nw; i++) w[i] = cJSON_GetArrayItem(want, i)->valueint;
            print_ids("want", w, nw);
            free(w);
        }
        free(ids);
        free(text);
        n_cases++;
    }
    CHECK(n_cases > 100);
done:
    cJSON_Delete(j);
}

TEST(clip_prompt_matches_a1111) {
    iris_clip_tokenizer *t = builtin();
    cJSON *j = test_json(REF);
    if (!t || !j) goto done;
    const cJSON *c;
    int n_cases = 0, n_multi = 0, n_sd2 = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "a1111")) {
        const char *prompt = cJSON_GetObjectItem(c, "prompt")->valuestring;
        int32_t pad = cJSON_GetObjectItem(c, "pad")->valueint;
        iris_clip_chunks ch;
        iris_status st = iris_clip_prompt_chunks(t, prompt, pad, &ch);
        n_cases++;
        n_sd2 += pad != IRIS_CLIP_EOS;
        if (cJSON_GetObjectItem(c, "error")) { /* A1111 raises: we give a one-line error */
            CHECK_MSG(st == IRIS_ERR_ARG && !strchr(iris_last_error(), '\n'), "\"%s\" must fail (got %s)", prompt,
                      iris_status_name(st));
            continue;
        }
        CHECK_OK(st);
        if (st) continue;
        const cJSON *want_ids = cJSON_GetObjectItem(c, "ids"), *want_w = cJSON_GetObjectItem(c, "weights");
        int nw = cJSON_GetArraySize(want_ids);
        n_multi += nw > 1;
        if (!CHECK_MSG(ch.n_chunks == nw, "\"%.60s\" (pad %d): %d chunks, A1111 %d", prompt, pad, ch.n_chunks, nw)) {
            iris_clip_chunks_free(&ch);
            continue;
        }
        for (int k = 0; k < nw; k++) {
            const int32_t *ids = ch.ids + (size_t)k * IRIS_CLIP_CTX;
            const float *w = ch.weights + (size_t)k * IRIS_CLIP_CTX;
            if (!CHECK_MSG(ids_equal(ids, IRIS_CLIP_CTX, cJSON_GetArrayItem(want_ids, k)),
                           "\"%.60s\" (pad %d): ids of chunk %d differ", prompt, pad, k))
                print_ids("got ", ids, IRIS_CLIP_CTX);
            /* exact: both sides multiply the same doubles in the same order, then round to float32 */
            int bad = -1;
            for (int i = 0; i < IRIS_CLIP_CTX; i++)
                if (w[i] != (float)cJSON_GetArrayItem(cJSON_GetArrayItem(want_w, k), i)->valuedouble) bad = i;
            CHECK_MSG(bad < 0, "\"%.60s\": weight %d of chunk %d is %.9g, A1111 %.9g", prompt, bad, k,
                      bad < 0 ? 0 : w[bad],
                      bad < 0 ? 0 : cJSON_GetArrayItem(cJSON_GetArrayItem(want_w, k), bad)->valuedouble);
        }
        iris_clip_chunks_free(&ch);
    }
    CHECK(n_cases > 90 && n_multi > 10 && n_sd2 > 20);
done:
    cJSON_Delete(j);
}

TEST(clip_builtin_vocab_equals_vocab_json) {
    iris_clip_tokenizer *t = builtin();
    const char *path = test_data("clip/vocab.json");
    if (!t || !path) return;
    cJSON *j = test_json(path);
    if (!j) return;
    int n = 0, bad = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        const char *text = iris_clip_token_text(t, e->valueint);
        if (!text || strcmp(text, e->string)) {
            if (!bad++) CHECK_MSG(0, "token %d is \"%s\", vocab.json says \"%s\"", e->valueint, text ? text : "(none)",
                                  e->string);
        }
        n++;
    }
    CHECK_INT(n, IRIS_CLIP_N_VOCAB);
    CHECK_INT(bad, 0);
    CHECK(!strcmp(iris_clip_token_text(t, IRIS_CLIP_BOS), "<|startoftext|>"));
    CHECK(!strcmp(iris_clip_token_text(t, IRIS_CLIP_EOS), "<|endoftext|>"));
    CHECK(iris_clip_token_text(t, IRIS_CLIP_N_VOCAB) == NULL && iris_clip_token_text(t, -1) == NULL);
    cJSON_Delete(j);
}

/* same texts for every token as the built-in vocabulary, and the same ids for a sample */
static void check_same_as_builtin(const char *path) {
    iris_clip_tokenizer *t = NULL, *b = builtin();
    CHECK_OK(iris_clip_tokenizer_load(&t, path));
    if (!t || !b) return;
    int diff = 0;
    for (int32_t id = 0; id < IRIS_CLIP_N_VOCAB; id++) diff += strcmp(iris_clip_token_text(t, id), iris_clip_token_text(b, id)) != 0;
    CHECK_MSG(diff == 0, "%s: %d tokens differ from the built-in vocabulary", path, diff);
    int32_t *x, *y;
    int nx, ny;
    const char *text = "A (photo) of an astronaut riding a horse, 8k, highly-detailed; caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd";
    CHECK_OK(iris_clip_tokenize(t, text, &x, &nx));
    CHECK_OK(iris_clip_tokenize(b, text, &y, &ny));
    CHECK(nx == ny && nx > 10 && !memcmp(x, y, (size_t)nx * sizeof *x));
    free(x), free(y);
    iris_clip_tokenizer_free(t);
}

TEST(clip_tokenizer_loads_folder_and_files) {
    const char *dir = test_data("clip");
    if (!dir) return;
    char path[1024];
    check_same_as_builtin(dir); /* a Hugging Face folder: vocab.json + merges.txt (with its junk last line) */
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    check_same_as_builtin(path);
    snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir); /* OpenAI's file, 262,146 lines */
    check_same_as_builtin(path);
}

/* ---- hostile files ---- */

static char tmp_dir[64];

static const char *tmp_file(const char *name) {
    static char p[128];
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/iris_clip_tok_%d", (int)getpid());
    mkdir(tmp_dir, 0700);
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    return p;
}

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!CHECK_MSG(f != NULL, "cannot write %s", path)) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* loading path must fail with a one-line message that names it */
static void check_rejects(const char *path, const char *why) {
    iris_clip_tokenizer *t = (iris_clip_tokenizer *)1;
    iris_status st = iris_clip_tokenizer_load(&t, path);
    const char *msg = iris_last_error();
    CHECK_MSG(st != IRIS_OK && t == NULL, "%s: loading must fail", why);
    CHECK_MSG(strstr(msg, path) && !strchr(msg, '\n') && strlen(msg) < 300, "%s: message \"%s\"", why, msg);
    if (st == IRIS_OK) iris_clip_tokenizer_free(t);
}

/* the built-in merges text with line `line` (0 = header) replaced by `repl` (NULL: the file
   cut before that line) */
static void write_edited(const char *path, int line, const char *repl) {
    FILE *src = fopen("clip/vocab/merges.txt", "rb");
    FILE *dst = fopen(path, "wb");
    if (!CHECK(src && dst)) { if (src) fclose(src); if (dst) fclose(dst); return; }
    char buf[4096];
    for (int i = 0; fgets(buf, sizeof buf, src); i++) {
        if (i == line && !repl) break;
        fputs(i == line ? repl : buf, dst);
    }
    fclose(src), fclose(dst);
}

TEST(clip_tokenizer_rejects_hostile_files) {
    const char *p = tmp_file("merges.txt");
    write_file(p, "", 0);
    check_rejects(p, "empty file");
    write_file(p, "#version: 0.2\n", 14);
    check_rejects(p, "header only");
    static const char junk[] = "\x7f" "ELF\x02\x01\x01\x00\x00\x00garbage\n\xff\xfe\x00\x01 \x02\n";
    write_file(p, junk, sizeof junk - 1);
    check_rejects(p, "binary garbage");
    write_edited(p, 1000, NULL);
    check_rejects(p, "truncated after 999 merges");
    write_edited(p, 5, "i n g\n");
    check_rejects(p, "three symbols on a line");
    write_edited(p, 5, "\n");
    check_rejects(p, "an empty line among the merges");
    write_edited(p, 5, "zq xw\n");
    check_rejects(p, "a symbol no merge makes");
    write_edited(p, 5, "i n\n");
    check_rejects(p, "a merge repeated");
    write_edited(p, 2, "th e</w>\n"); /* "t h" was this line */
    check_rejects(p, "a symbol used before the merge that makes it");
    check_rejects(tmp_file("does_not_exist.txt"), "missing file");
    /* gzip: a truncated copy of OpenAI's file, and gzip magic with junk after it */
    const char *gz = test_data("clip/bpe_simple_vocab_16e6.txt.gz");
    if (gz) {
        FILE *f = fopen(gz, "rb");
        char *buf = malloc(200000);
        size_t n = f ? fread(buf, 1, 200000, f) : 0;
        if (f) fclose(f);
        write_file(tmp_file("cut.txt.gz"), buf, n);
        check_rejects(tmp_file("cut.txt.gz"), "truncated gzip");
        free(buf);
    }
    write_file(tmp_file("bad.gz"), "\x1f\x8b\x08\x00junkjunkjunk", 16);
    check_rejects(tmp_file("bad.gz"), "damaged gzip");
    /* a folder whose vocab.json disagrees with its merges.txt, or is not JSON */
    write_edited(tmp_file("merges.txt"), -1, NULL);
    write_file(tmp_file("vocab.json"), "{\"a\": 0}", 8);
    check_rejects(tmp_dir, "vocab.json with one entry");
    write_file(tmp_file("vocab.json"), "{\"!\": 0, \"!\": 0}", 16);
    check_rejects(tmp_dir, "vocab.json with a repeated entry");
    write_file(tmp_file("vocab.json"), "[1, 2", 5);
    check_rejects(tmp_dir, "vocab.json that is not JSON");
    unlink(tmp_file("vocab.json"));
    check_rejects(tmp_dir, "folder without vocab.json");
    unlink(tmp_file("merges.txt"));
    unlink(tmp_file("cut.txt.gz"));
    unlink(tmp_file("bad.gz"));
    rmdir(tmp_dir);
}

TEST(clip_prompt_edge_cases) {
    iris_clip_tokenizer *t = builtin();
    if (!t) return;
    iris_clip_chunks c;
    /* the empty prompt: one chunk of BOS, EOS and padding, all weight 1; SD 2.x pads with 0 */
    CHECK_OK(iris_clip_prompt_chunks(t, "", 0, &c));
    CHECK_INT(c.n_chunks, 1);
    CHECK(c.ids[0] == IRIS_CLIP_BOS && c.ids[1] == IRIS_CLIP_EOS && c.ids[2] == 0 && c.ids[76] == 0);
    CHECK(c.weights[0] == 1 && c.weights[76] == 1);
    iris_clip_chunks_free(&c);
    CHECK(c.ids == NULL && c.n_chunks == 0);
    CHECK(iris_clip_prompt_chunks(NULL, "x", IRIS_CLIP_EOS, &c) == IRIS_ERR_ARG);
    CHECK(iris_clip_prompt_chunks(t, NULL, IRIS_CLIP_EOS, &c) == IRIS_ERR_ARG);
    int32_t *ids;
    int n;
    CHECK_OK(iris_clip_tokenize(t, "", &ids, &n));
    CHECK(n == 0 && ids != NULL);
    free(ids);
}

/* 2,000 words must take milliseconds: the bound only catches a quadratic blow-up (it is 100x
   what the release build needs, to hold under ASan and a busy machine) */
TEST(clip_tokenizer_long_prompt_is_fast) {
    iris_clip_tokenizer *t = builtin();
    cJSON *j = test_json(REF);
    if (!t || !j) goto done;
    const char *text = NULL; /* the 2,000-word case */
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "hf")) {
        const cJSON *s = cJSON_GetObjectItem(c, "text");
        if (s && strlen(s->valuestring) > 8000 && strchr(s->valuestring, ' ')) text = s->valuestring;
    }
    if (!CHECK(text != NULL)) goto done;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    iris_clip_chunks ch;
    CHECK_OK(iris_clip_prompt_chunks(t, text, IRIS_CLIP_EOS, &ch));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    CHECK_MSG(ms < 500, "2,000 words took %.1f ms", ms);
    CHECK(ch.n_chunks > 20);
    iris_clip_chunks_free(&ch);
done:
    cJSON_Delete(j);
}
