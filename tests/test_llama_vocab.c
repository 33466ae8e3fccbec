/* test_llama_vocab.c - the GGUF tokenizers against llama.cpp's token ids.
   References: shared/data/llm/reference/tokenizer_cases.json (llama.cpp llama_tokenize on
   stories260K's SentencePiece vocabulary) and tests/ref/llama_bpe_ref.json
   (llama-cpp-python on two tiny byte-level BPE vocabularies, tests/ref/gen_llama_bpe.py). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "../llama/vocab.h"
#include "test.h"

static int ids_equal(const int32_t *got, int n, const cJSON *want) {
    if (n != cJSON_GetArraySize(want)) return 0;
    for (int i = 0; i < n; i++)
        if (got[i] != cJSON_GetArrayItem(want, i)->valueint) return 0;
    return 1;
}

static void print_ids(const char *what, const int32_t *ids, int n) {
    printf("    %s:", what);
    for (int i = 0; i < n; i++) printf(" %d", (int)ids[i]);
    printf("\n");
}

static iris_vocab *open_vocab(const char *path) {
    iris_gguf g;
    iris_vocab *v = NULL;
    if (iris_gguf_open(&g, path)) {
        CHECK_MSG(0, "%s", iris_last_error());
        return NULL;
    }
    CHECK_OK(iris_vocab_from_gguf(&v, &g));
    iris_gguf_close(&g);
    return v;
}

/* tokenize, compare with the reference array, and check that decoding gives the text back */
static void check_case(const iris_vocab *v, const char *text, int add_special, int parse_special, const cJSON *want,
                       int roundtrip) {
    int32_t *ids;
    int n;
    CHECK_OK(iris_tokenize(v, text, strlen(text), add_special, parse_special, &ids, &n));
    if (!CHECK_MSG(ids_equal(ids, n, want), "ids of \"%s\" (special %d/%d) differ from llama.cpp", text, add_special,
                   parse_special)) {
        print_ids("got ", ids, n);
        char *w = cJSON_PrintUnformatted(want);
        printf("    want: %s\n", w);
        free(w);
    }
    if (roundtrip) {
        char *back;
        size_t len;
        CHECK_OK(iris_detokenize(v, ids, n, 0, 1, &back, &len));
        CHECK_MSG(len == strlen(text) && !memcmp(back, text, len), "round trip of \"%s\" gave \"%s\"", text, back);
        free(back);
    }
    free(ids);
}

TEST(llama_vocab_spm_matches_llamacpp) {
    const char *cases_path = test_data("llm/reference/tokenizer_cases.json");
    if (!cases_path) return;
    cJSON *j = test_json(cases_path);
    const char *gguf = test_data("llm/stories260K-f32.gguf");
    iris_vocab *v = gguf ? open_vocab(gguf) : NULL;
    if (!v || !j) goto done;
    CHECK_INT(iris_vocab_size(v), 512);
    CHECK_INT(iris_vocab_kind_of(v), IRIS_VOCAB_SPM);
    CHECK_INT(iris_vocab_bos(v), 1);
    CHECK_INT(iris_vocab_eos(v), 2);
    const cJSON *c;
    int n_cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        check_case(v, text, 1, 0, cJSON_GetObjectItem(c, "llamacpp_ids"), 1);
        n_cases++;
    }
    CHECK_INT(n_cases, 15);
done:
    cJSON_Delete(j);
    iris_vocab_free(v);
}

TEST(llama_vocab_spm_pieces_and_specials) {
    const char *gguf = test_data("llm/stories260K-f32.gguf");
    if (!gguf) return;
    iris_vocab *v = open_vocab(gguf);
    if (!v) return;
    char buf[16];
    /* "▁Once" -> " Once", <0x0A> -> "\n", BOS -> "" unless special */
    CHECK_INT(iris_token_piece(v, 403, buf, sizeof buf, 0), 5);
    CHECK(!memcmp(buf, " Once", 5));
    CHECK_INT(iris_token_piece(v, 13, buf, sizeof buf, 0), 1);
    CHECK_INT(buf[0], '\n');
    CHECK_INT(iris_token_piece(v, 1, buf, sizeof buf, 0), 0);
    CHECK_INT(iris_token_piece(v, 1, buf, sizeof buf, 1), 3);
    CHECK_INT(iris_token_piece(v, 512, buf, sizeof buf, 0), -1);
    CHECK_INT(iris_token_piece(v, -1, buf, sizeof buf, 0), -1);
    /* parse_special: "<s>" in the text becomes BOS, and text after it gets the prefix space */
    int32_t *ids;
    int n;
    CHECK_OK(iris_tokenize(v, "a<s>a", 5, 0, 1, &ids, &n));
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_INT(ids[0], 261);
        CHECK_INT(ids[1], 1);
        CHECK_INT(ids[2], 261);
    }
    free(ids);
    /* without parse_special it is spelled out */
    CHECK_OK(iris_tokenize(v, "<s>", 3, 0, 0, &ids, &n));
    CHECK(n > 1);
    free(ids);
    /* decoding bad ids fails cleanly */
    int32_t bad[2] = {5, 9999};
    char *s;
    CHECK(iris_detokenize(v, bad, 2, 0, 0, &s, NULL) == IRIS_ERR_ARG);
    iris_vocab_free(v);
}

/* unicode, whitespace runs, digits, emoji and invalid UTF-8 survive tokenize -> detokenize */
TEST(llama_vocab_roundtrips) {
    static const char *texts[] = {
        "plain words", "  two leading", "trailing   ", "a\tb\t\tc", "\n\n\nx\r\n", "0123456789 42 3.14159",
        "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xd1\x80\xd1\x83\xd1\x81",
        "\xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xe2\x9d\xa4\xef\xb8\x8f", "bad \xff\xfe utf8 \xc3",
        "     ", "x",
    };
    const char *bpe_path = "tests/ref/llama_bpe_llama3.gguf";
    const char *spm_path = test_data("llm/stories260K-f32.gguf");
    iris_vocab *vs[2] = {open_vocab(bpe_path), spm_path ? open_vocab(spm_path) : NULL};
    for (int k = 0; k < 2; k++) {
        if (!vs[k]) continue;
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
            int32_t *ids;
            int n;
            char *back;
            size_t len;
            CHECK_OK(iris_tokenize(vs[k], texts[i], strlen(texts[i]), 1, 0, &ids, &n));
            CHECK_OK(iris_detokenize(vs[k], ids, n, 0, 1, &back, &len));
            CHECK_MSG(len == strlen(texts[i]) && !memcmp(back, texts[i], len), "%s vocab: \"%s\" came back as \"%s\"",
                      k ? "spm" : "bpe", texts[i], back);
            free(ids);
            free(back);
        }
        iris_vocab_free(vs[k]);
    }
}

TEST(llama_vocab_bpe_matches_llamacpp) {
    cJSON *j = test_json("tests/ref/llama_bpe_ref.json");
    if (!j) return;
    const cJSON *voc;
    int n_vocabs = 0;
    cJSON_ArrayForEach(voc, cJSON_GetObjectItem(j, "vocabs")) {
        char path[512];
        snprintf(path, sizeof path, "tests/ref/%s", cJSON_GetObjectItem(voc, "file")->valuestring);
        iris_vocab *v = open_vocab(path);
        if (!v) continue;
        CHECK_INT(iris_vocab_kind_of(v), IRIS_VOCAB_BPE);
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(voc, "cases")) {
            const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
            check_case(v, text, 1, 0, cJSON_GetObjectItem(c, "ids"), 0);
            check_case(v, text, 0, 1, cJSON_GetObjectItem(c, "ids_special"), 0);
        }
        iris_vocab_free(v);
        n_vocabs++;
    }
    CHECK_INT(n_vocabs, 2);
    cJSON_Delete(j);
}

TEST(llama_vocab_hostile_desc) {
    static const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
    iris_vocab_desc d = iris_vocab_default_desc();
    iris_vocab *v;
    d.n_tokens = 0;
    d.tokens = toks;
    CHECK(iris_vocab_new(&v, &d) == IRIS_ERR_FORMAT);
    CHECK(v == NULL);
    d.n_tokens = 6;
    d.kind = (iris_vocab_kind)7;
    CHECK(iris_vocab_new(&v, &d) == IRIS_ERR_UNSUPPORTED);
    /* ids past the table are dropped, not used */
    d.kind = IRIS_VOCAB_SPM;
    d.bos = 99, d.eos = -5, d.unk = 0;
    CHECK_OK(iris_vocab_new(&v, &d));
    if (!v) return;
    CHECK_INT(iris_vocab_bos(v), -1);
    CHECK_INT(iris_vocab_eos(v), -1);
    int32_t *ids;
    int n;
    /* no byte tokens: unknown characters become <unk>; the space prefix "▁" is unknown too */
    CHECK_OK(iris_tokenize(v, "abz", 3, 1, 0, &ids, &n));
    CHECK_INT(n, 5);
    if (n == 5) {
        CHECK_INT(ids[0], 0);
        CHECK_INT(ids[3], 5);
        CHECK_INT(ids[4], 0);
    }
    free(ids);
    iris_vocab_free(v);
}

/* one 100 kB "word" and 100 kB of random UTF-8 text (ASCII with spaces, Latin-1, Cyrillic,
   CJK, emoji): merging stays O(n log n) and the text comes back */
TEST(llama_vocab_long_inputs) {
    enum { N = 100000 };
    char *a = malloc(N + 1), *r = malloc(N + 8);
    memset(a, 'a', N);
    a[N] = 0;
    uint32_t x = 1;
    int m = 0;
    while (m < N) {
        x = x * 1103515245u + 12345u;
        uint32_t k = (x >> 16) % 100, cp;
        x = x * 1103515245u + 12345u;
        uint32_t u = x >> 12;
        cp = k < 60 ? 32 + u % 95 : k < 75 ? 0xa0 + u % 96 : k < 85 ? 0x400 + u % 256 : k < 95 ? 0x4e00 + u % 2000 : 0x1f600 + u % 80;
        if (m + 4 > N) cp = 'z';
        if (cp < 0x80) r[m++] = (char)cp;
        else if (cp < 0x800) r[m++] = (char)(0xc0 | cp >> 6), r[m++] = (char)(0x80 | (cp & 63));
        else if (cp < 0x10000)
            r[m++] = (char)(0xe0 | cp >> 12), r[m++] = (char)(0x80 | (cp >> 6 & 63)), r[m++] = (char)(0x80 | (cp & 63));
        else
            r[m++] = (char)(0xf0 | cp >> 18), r[m++] = (char)(0x80 | (cp >> 12 & 63)),
            r[m++] = (char)(0x80 | (cp >> 6 & 63)), r[m++] = (char)(0x80 | (cp & 63));
    }
    r[N] = 0;
    const char *spm_path = test_data("llm/stories260K-f32.gguf");
    iris_vocab *vs[2] = {open_vocab("tests/ref/llama_bpe_llama3.gguf"), spm_path ? open_vocab(spm_path) : NULL};
    for (int k = 0; k < 2; k++) {
        if (!vs[k]) continue;
        const char *texts[2] = {a, r};
        for (int t = 0; t < 2; t++) {
            int32_t *ids;
            int n;
            char *back;
            size_t len;
            CHECK_OK(iris_tokenize(vs[k], texts[t], N, 0, 0, &ids, &n));
            CHECK(n > 100 && n <= 3 * N);
            CHECK_OK(iris_detokenize(vs[k], ids, n, 0, 1, &back, &len));
            CHECK_MSG(len == N && !memcmp(back, texts[t], N), "%s vocab: long input %d does not round-trip",
                      k ? "spm" : "bpe", t);
            free(ids);
            free(back);
        }
        iris_vocab_free(vs[k]);
    }
    free(a);
    free(r);
}
