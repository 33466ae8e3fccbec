/* test_gguf.c - the GGUF reader and writer.
   References: the real stories260K GGUF files (expected values read once with
   pip gguf's GGUFReader and written here as constants), tests/ref/gguf_py.gguf
   written by gguf-py's GGUFWriter (tests/ref/gen_gguf.py holds the values), and
   hand-built hostile buffers whose defects are described case by case. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* ---------------------------------------------------------------- helpers */

static uint8_t *slurp(const char *path, size_t *n) {
    char *buf;
    if (iris_read_file(path, &buf, n)) return NULL;
    return (uint8_t *)buf;
}

static void tmp_path(char *out, size_t n, const char *tag) {
    snprintf(out, n, "/tmp/iris_test_gguf_%ld_%s.gguf", (long)getpid(), tag);
}

/* Byte builder for hand-made files. */
typedef struct {
    uint8_t *b;
    size_t n, cap;
} gb;

static void gb_put(gb *g, const void *p, size_t n) {
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2 + 256;
        g->b = realloc(g->b, g->cap);
    }
    memcpy(g->b + g->n, p, n);
    g->n += n;
}
static void gb_u8(gb *g, uint8_t v) { gb_put(g, &v, 1); }
static void gb_u32(gb *g, uint32_t v) { gb_put(g, &v, 4); }
static void gb_u64(gb *g, uint64_t v) { gb_put(g, &v, 8); }
static void gb_str(gb *g, const char *s) { gb_u64(g, strlen(s)), gb_put(g, s, strlen(s)); }
static void gb_hdr(gb *g, uint32_t ver, uint64_t nt, uint64_t nkv) {
    gb_put(g, "GGUF", 4), gb_u32(g, ver), gb_u64(g, nt), gb_u64(g, nkv);
}
static void gb_kv_u32(gb *g, const char *key, uint32_t v) { gb_str(g, key), gb_u32(g, IRIS_GGUF_U32), gb_u32(g, v); }
static void gb_tinfo(gb *g, const char *name, uint32_t nd, const uint64_t *dims, uint32_t type, uint64_t off) {
    gb_str(g, name), gb_u32(g, nd);
    for (uint32_t i = 0; i < nd; i++) gb_u64(g, dims[i]);
    gb_u32(g, type), gb_u64(g, off);
}
static void gb_pad(gb *g, size_t a) {
    while (g->n % a) gb_u8(g, 0);
}
static void gb_zeros(gb *g, size_t n) {
    while (n--) gb_u8(g, 0);
}

/* Parses a hand-built buffer expecting failure with `st` and a message that names
   the buffer and contains `needle`. */
#define CHECK_REJECT(buf, st, needle) check_reject((buf)->b, (buf)->n, st, needle, __LINE__)
static void check_reject(const uint8_t *b, size_t n, iris_status st, const char *needle, int line) {
    iris_gguf g;
    iris_status rc = iris_gguf_parse(&g, b, n, "hostile.gguf");
    const char *msg = iris_last_error();
    CHECK_MSG(rc == st, "line %d: status %s, expected %s (%s)", line, iris_status_name(rc), iris_status_name(st), msg);
    CHECK_MSG(strstr(msg, "hostile.gguf") == msg, "line %d: message does not start with the file: %s", line, msg);
    CHECK_MSG(strstr(msg, needle) != NULL, "line %d: message lacks '%s': %s", line, needle, msg);
    CHECK_MSG(!strchr(msg, '\n'), "line %d: message spans lines", line);
    if (!rc) iris_gguf_close(&g);
}

static int parses(const gb *buf) {
    iris_gguf g;
    iris_status rc = iris_gguf_parse(&g, buf->b, buf->n, "ok.gguf");
    if (rc) {
        printf("    unexpected: %s\n", iris_last_error());
        return 0;
    }
    iris_gguf_close(&g);
    return 1;
}

/* ---------------------------------------------------------------- real files */

TEST(gguf_stories_f32_metadata) {
    const char *path = test_data("llm/stories260K-f32.gguf");
    if (!path) return;
    iris_gguf g;
    CHECK_OK(iris_gguf_open(&g, path));
    if (!g.data) return;
    CHECK_INT(g.version, 3);
    CHECK_INT(g.n_kv, 21);
    CHECK_INT(g.n_tensors, 48);
    CHECK_INT(g.alignment, 32);
    CHECK_INT(g.data_offset, 14240);
    CHECK(!strcmp(g.kv[0].key, "general.architecture"));
    CHECK(!strcmp(g.kv[20].key, "general.file_type"));

    const char *s = NULL;
    CHECK_OK(iris_gguf_get_str(&g, "general.architecture", &s));
    CHECK(s && !strcmp(s, "llama"));
    CHECK_OK(iris_gguf_get_str(&g, "general.name", &s));
    CHECK(s && !strcmp(s, "stories260K"));
    CHECK_OK(iris_gguf_get_str(&g, "tokenizer.ggml.model", &s));
    CHECK(s && !strcmp(s, "llama"));

    static const struct { const char *key; uint32_t v; } u32s[] = {
        {"llama.embedding_length", 64},   {"llama.block_count", 5},          {"llama.attention.head_count", 8},
        {"llama.attention.head_count_kv", 4}, {"llama.context_length", 512}, {"llama.feed_forward_length", 172},
        {"llama.rope.dimension_count", 8}, {"general.quantization_version", 2}, {"general.file_type", 0},
        {"tokenizer.ggml.unknown_token_id", 0}, {"tokenizer.ggml.bos_token_id", 1},
        {"tokenizer.ggml.eos_token_id", 2}, {"tokenizer.ggml.padding_token_id", 4294967295u},
    };
    for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++) {
        uint32_t v = 12345;
        CHECK_OK(iris_gguf_get_u32(&g, u32s[i].key, &v));
        CHECK_MSG(v == u32s[i].v, "%s = %u, expected %u", u32s[i].key, v, u32s[i].v);
    }
    float eps = 0;
    CHECK_OK(iris_gguf_get_f32(&g, "llama.attention.layer_norm_rms_epsilon", &eps));
    CHECK(eps == 9.999999747378752e-06f);
    int32_t i32 = 0;
    CHECK_OK(iris_gguf_get_i32(&g, "llama.block_count", &i32)); /* u32 5 fits i32 */
    CHECK_INT(i32, 5);
    CHECK_INT(iris_gguf_get_i32(&g, "tokenizer.ggml.seperator_token_id", &i32), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "does not fit i32"));

    const iris_gguf_value *tok = NULL, *sc = NULL, *tt = NULL;
    CHECK_OK(iris_gguf_get_array(&g, "tokenizer.ggml.tokens", IRIS_GGUF_STRING, &tok));
    CHECK_OK(iris_gguf_get_array(&g, "tokenizer.ggml.scores", IRIS_GGUF_F32, &sc));
    CHECK_OK(iris_gguf_get_array(&g, "tokenizer.ggml.token_type", IRIS_GGUF_I32, &tt));
    if (!tok || !sc || !tt) return;
    CHECK_INT(tok->n, 512);
    CHECK_INT(sc->n, 512);
    CHECK_INT(tt->n, 512);
    uint64_t len = 0;
    CHECK(!strcmp(iris_gguf_arr_str(tok, 0, NULL), "<unk>"));
    CHECK(!strcmp(iris_gguf_arr_str(tok, 1, NULL), "<s>"));
    CHECK(!strcmp(iris_gguf_arr_str(tok, 2, NULL), "</s>"));
    CHECK(!strcmp(iris_gguf_arr_str(tok, 3, NULL), "<0x00>"));
    CHECK(!strcmp(iris_gguf_arr_str(tok, 100, NULL), "<0x61>"));
    CHECK(!strcmp(iris_gguf_arr_str(tok, 259, &len), "\xe2\x96\x81t"));
    CHECK_INT(len, 4);
    CHECK(!strcmp(iris_gguf_arr_str(tok, 260, NULL), "he"));
    CHECK(!strcmp(iris_gguf_arr_str(tok, 300, NULL), "\xe2\x96\x81ha"));
    CHECK(!strcmp(iris_gguf_arr_str(tok, 511, NULL), "\xe2\x80\x8a"));
    CHECK(iris_gguf_arr_str(tok, 512, NULL) == NULL);
    uint64_t total = 0;
    for (uint64_t i = 0; i < tok->n; i++) total += tok->strs[i].len;
    CHECK_INT(total, 2305);
    CHECK(iris_gguf_arr_f32(sc, 0) == 0.0f);
    CHECK(iris_gguf_arr_f32(sc, 260) == -1.0f);
    CHECK(iris_gguf_arr_f32(sc, 261) == -2.0f);
    CHECK(iris_gguf_arr_f32(sc, 300) == -41.0f);
    CHECK(iris_gguf_arr_f32(sc, 511) == -252.0f);
    CHECK_INT(iris_gguf_arr_i64(tt, 0), 2);
    CHECK_INT(iris_gguf_arr_i64(tt, 1), 3);
    CHECK_INT(iris_gguf_arr_i64(tt, 2), 3);
    CHECK_INT(iris_gguf_arr_i64(tt, 3), 6);
    CHECK_INT(iris_gguf_arr_i64(tt, 300), 1);
    CHECK_INT(iris_gguf_arr_i64(tt, 9999), 0);

    /* wrong types and missing keys */
    CHECK_INT(iris_gguf_get_str(&g, "llama.block_count", &s), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "'llama.block_count' is u32, expected string"));
    CHECK_INT(iris_gguf_get_array(&g, "tokenizer.ggml.scores", IRIS_GGUF_I32, &sc), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "array of f32, expected i32"));
    CHECK_INT(iris_gguf_get_u32(&g, "general.name", &(uint32_t){0}), IRIS_ERR_FORMAT);
    CHECK_INT(iris_gguf_get_u32(&g, "llama.no_such_key", &(uint32_t){0}), IRIS_ERR_NOT_FOUND);
    CHECK(strstr(iris_last_error(), path) && strstr(iris_last_error(), "llama.no_such_key"));
    CHECK_INT(iris_gguf_get_f32(&g, "llama.block_count", &eps), IRIS_ERR_FORMAT);
    CHECK_INT(iris_gguf_get_bool(&g, "llama.block_count", &(bool){0}), IRIS_ERR_FORMAT);
    CHECK(iris_gguf_find_kv(&g, "") == NULL);
    iris_gguf_close(&g);
}

TEST(gguf_stories_f32_tensors) {
    const char *path = test_data("llm/stories260K-f32.gguf");
    if (!path) return;
    iris_gguf g;
    CHECK_OK(iris_gguf_open(&g, path));
    if (!g.data) return;
    const iris_gguf_tensor_info *ti = iris_gguf_find_tensor(&g, "token_embd.weight");
    CHECK(ti != NULL);
    if (!ti) { iris_gguf_close(&g); return; }
    CHECK_INT(ti->n_dims, 2);
    CHECK_INT(ti->ne[0], 64);
    CHECK_INT(ti->ne[1], 512);
    CHECK_INT(ti->ggml_type, 0);
    CHECK_INT(ti->dtype, IRIS_F32);
    CHECK_INT(ti->offset, 145568);
    CHECK_INT(ti->nbytes, 131072);
    CHECK(!strcmp(g.tensors[0].name, "output.weight"));
    CHECK_INT(g.tensors[0].offset, 14240);
    CHECK(!strcmp(g.tensors[47].name, "blk.4.ffn_up.weight"));
    CHECK_INT(g.tensors[47].offset + g.tensors[47].nbytes, 1185440); /* ends at EOF */

    iris_tensor *t = NULL;
    CHECK_OK(iris_gguf_tensor(&g, "token_embd.weight", &t));
    if (t) {
        CHECK_INT(t->ndim, 2);
        CHECK_INT(t->ne[0], 512);
        CHECK_INT(t->ne[1], 64);
        CHECK_INT(t->dtype, IRIS_F32);
        CHECK_INT(t->device, IRIS_CPU);
        CHECK((const uint8_t *)t->data == g.data + 145568); /* mapped, not copied */
        CHECK(!strcmp(t->name, "token_embd.weight"));
        const float *f = t->data;
        CHECK(f[0] == -0.29474878311157227f);
        CHECK(f[1] == 0.5618956089019775f);
        CHECK(f[2] == 0.1754225343465805f);
        CHECK(f[3] == 0.34057360887527466f);
        CHECK(f[64 * 7 + 3] == 0.34057319164276123f);
        CHECK(f[512 * 64 - 1] == -0.424032598733902f);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_gguf_tensor(&g, "output_norm.weight", &t));
    if (t) {
        CHECK_INT(t->ndim, 1);
        CHECK_INT(t->ne[0], 64);
        const float *f = t->data;
        CHECK(f[0] == 2.4583089351654053f);
        CHECK(f[63] == 1.7077769041061401f);
        iris_tensor_free(t);
    }
    int64_t want[2] = {64, 172};
    CHECK_OK(iris_gguf_tensor_shaped(&g, "blk.4.ffn_down.weight", 2, want, &t));
    if (t) {
        const float *f = t->data;
        CHECK(f[0] == -0.04791264981031418f);
        CHECK(f[3] == 0.20311811566352844f);
        CHECK(f[64 * 172 - 1] == -0.0035068716388195753f);
        iris_tensor_free(t);
    }
    int64_t qshape[2] = {64, -1};
    CHECK_OK(iris_gguf_tensor_shaped(&g, "blk.2.attn_q.weight", 2, qshape, &t));
    if (t) {
        const float *f = t->data;
        CHECK(f[5 * 64 + 17] == -0.03523385897278786f);
        CHECK(f[63 * 64 + 63] == 0.42648521065711975f);
        iris_tensor_free(t);
    }
    int64_t wrong[2] = {172, 64};
    CHECK_INT(iris_gguf_tensor_shaped(&g, "blk.4.ffn_down.weight", 2, wrong, &t), IRIS_ERR_SHAPE);
    CHECK(t == NULL);
    CHECK(strstr(iris_last_error(), "f32[64,172], expected [172,64]"));
    CHECK_INT(iris_gguf_tensor(&g, "blk.5.ffn_down.weight", &t), IRIS_ERR_NOT_FOUND);
    CHECK(strstr(iris_last_error(), "no tensor 'blk.5.ffn_down.weight'"));
    iris_gguf_close(&g);
}

TEST(gguf_stories_quantized_types) {
    static const struct {
        const char *file;
        uint32_t file_type;
        iris_dtype embd, output, ffn_down, norm, attn_v0, attn_v2;
        uint64_t embd_offset, embd_bytes;
        uint8_t first[8];
    } cases[] = {
        {"llm/stories260K-f16.gguf", 1, IRIS_F16, IRIS_F16, IRIS_F16, IRIS_F32, IRIS_F16, IRIS_F16, 80032, 65536,
         {0xb7, 0xb4, 0x7f, 0x38, 0x9d, 0x31, 0x73, 0x35}},
        {"llm/stories260K-q8_0.gguf", 7, IRIS_Q8_0, IRIS_Q8_0, IRIS_F16, IRIS_F32, IRIS_Q8_0, IRIS_Q8_0, 49312, 34816,
         {0x1a, 0x1f, 0xd6, 0x51, 0x19, 0x31, 0xef, 0x21}},
        {"llm/stories260K-q4_0.gguf", 2, IRIS_Q4_0, IRIS_Q8_0, IRIS_F16, IRIS_F32, IRIS_Q4_0, IRIS_Q4_0, 49312, 18432,
         {0x0c, 0x2f, 0x65, 0xad, 0x0a, 0xbb, 0xe7, 0x2a}},
        {"llm/stories260K-q4_k_m.gguf", 15, IRIS_Q5_0, IRIS_Q8_0, IRIS_F16, IRIS_F32, IRIS_Q5_0, IRIS_Q8_0, 49312,
         22528, {0x0c, 0x2b, 0xee, 0x93, 0xda, 0x2a, 0xcb, 0x3a}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *path = test_data(cases[c].file);
        if (!path) return;
        iris_gguf g;
        CHECK_OK(iris_gguf_open(&g, path));
        if (!g.data) continue;
        uint32_t ft = 99, n_embd = 0;
        CHECK_OK(iris_gguf_get_u32(&g, "general.file_type", &ft));
        CHECK_INT(ft, cases[c].file_type);
        CHECK_OK(iris_gguf_get_u32(&g, "llama.embedding_length", &n_embd));
        CHECK_INT(n_embd, 64);
        CHECK_INT(g.n_tensors, 48);
        const iris_gguf_tensor_info *e = iris_gguf_find_tensor(&g, "token_embd.weight");
        const iris_gguf_tensor_info *o = iris_gguf_find_tensor(&g, "output.weight");
        const iris_gguf_tensor_info *d = iris_gguf_find_tensor(&g, "blk.3.ffn_down.weight");
        const iris_gguf_tensor_info *n = iris_gguf_find_tensor(&g, "blk.1.attn_norm.weight");
        const iris_gguf_tensor_info *v0 = iris_gguf_find_tensor(&g, "blk.0.attn_v.weight");
        const iris_gguf_tensor_info *v2 = iris_gguf_find_tensor(&g, "blk.2.attn_v.weight");
        CHECK(e && o && d && n && v0 && v2);
        if (!(e && o && d && n && v0 && v2)) { iris_gguf_close(&g); continue; }
        CHECK_INT(e->dtype, cases[c].embd);
        CHECK_INT(o->dtype, cases[c].output);
        CHECK_INT(d->dtype, cases[c].ffn_down);
        CHECK_INT(n->dtype, cases[c].norm);
        CHECK_INT(v0->dtype, cases[c].attn_v0);
        CHECK_INT(v2->dtype, cases[c].attn_v2);
        CHECK_INT(e->offset, cases[c].embd_offset);
        CHECK_INT(e->nbytes, cases[c].embd_bytes);
        CHECK_INT(d->ne[0], 172);
        iris_tensor *t = NULL;
        CHECK_OK(iris_gguf_tensor(&g, "token_embd.weight", &t));
        if (t) {
            CHECK_INT(t->ne[0], 512);
            CHECK_INT(t->ne[1], 64);
            CHECK_INT(iris_nbytes(t), cases[c].embd_bytes);
            CHECK(!memcmp(t->data, cases[c].first, 8));
            iris_tensor_free(t);
        }
        iris_gguf_close(&g);
    }
}

/* ---------------------------------------------------------------- gguf-py fixture */

static void check_fixture(const iris_gguf *g) {
    CHECK_INT(g->n_kv, 28);
    CHECK_INT(g->n_tensors, 7);
    CHECK_INT(g->alignment, 64);
    CHECK_INT(g->data_offset, 1408);
    const char *s = NULL;
    CHECK_OK(iris_gguf_get_str(g, "general.architecture", &s));
    CHECK(s && !strcmp(s, "iristest"));
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    double f64 = 0;
    bool b = false;
    CHECK_OK(iris_gguf_get_u32(g, "general.alignment", &u32));
    CHECK_INT(u32, 64);
    CHECK_OK(iris_gguf_get_u32(g, "t.u8", &u32));
    CHECK_INT(u32, 200);
    CHECK_OK(iris_gguf_get_i32(g, "t.i8", &i32));
    CHECK_INT(i32, -100);
    CHECK_OK(iris_gguf_get_u32(g, "t.u16", &u32));
    CHECK_INT(u32, 60000);
    CHECK_OK(iris_gguf_get_i32(g, "t.i16", &i32));
    CHECK_INT(i32, -30000);
    CHECK_OK(iris_gguf_get_u32(g, "t.u32", &u32));
    CHECK_INT(u32, 4000000000u);
    CHECK_OK(iris_gguf_get_i32(g, "t.i32", &i32));
    CHECK_INT(i32, -2000000000);
    CHECK_OK(iris_gguf_get_f32(g, "t.f32", &f32));
    CHECK(f32 == 3.25f);
    CHECK_OK(iris_gguf_get_bool(g, "t.bool", &b));
    CHECK(b == true);
    CHECK_OK(iris_gguf_get_str(g, "t.str", &s));
    CHECK(s && !strcmp(s, "h\xc3\xa9llo w\xc3\xb6rld"));
    CHECK_OK(iris_gguf_get_u64(g, "t.u64", &u64));
    CHECK(u64 == (1ull << 63) + 5);
    CHECK_OK(iris_gguf_get_i64(g, "t.i64", &i64));
    CHECK(i64 == -(1ll << 62) - 7);
    CHECK_OK(iris_gguf_get_f64(g, "t.f64", &f64));
    CHECK(f64 == 0.1);
    /* range checks across types */
    CHECK_INT(iris_gguf_get_u32(g, "t.i8", &u32), IRIS_ERR_FORMAT);
    CHECK_INT(iris_gguf_get_i32(g, "t.u32", &i32), IRIS_ERR_FORMAT);
    CHECK_INT(iris_gguf_get_i64(g, "t.u64", &i64), IRIS_ERR_FORMAT);
    CHECK_INT(iris_gguf_get_u32(g, "t.u64", &u32), IRIS_ERR_FORMAT);
    CHECK_OK(iris_gguf_get_i64(g, "t.u32", &i64));
    CHECK_INT(i64, 4000000000ll);
    CHECK_OK(iris_gguf_get_f32(g, "t.f64", &f32));
    CHECK(f32 == 0.1f);
    CHECK_INT(iris_gguf_get_bool(g, "t.u8", &b), IRIS_ERR_FORMAT);
    CHECK_INT(iris_gguf_get_u32(g, "t.bool", &u32), IRIS_ERR_FORMAT);

    const iris_gguf_value *a = NULL;
    CHECK_OK(iris_gguf_get_array(g, "t.arr.u8", IRIS_GGUF_U8, &a));
    if (a) CHECK(a->n == 3 && iris_gguf_arr_u64(a, 0) == 1 && iris_gguf_arr_u64(a, 2) == 255);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.i8", IRIS_GGUF_I8, &a));
    if (a) CHECK(iris_gguf_arr_i64(a, 0) == -128 && iris_gguf_arr_i64(a, 1) == 0 && iris_gguf_arr_i64(a, 2) == 127);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.u16", IRIS_GGUF_U16, &a));
    if (a) CHECK(a->n == 2 && iris_gguf_arr_u64(a, 0) == 65535 && iris_gguf_arr_u64(a, 1) == 7);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.i16", IRIS_GGUF_I16, &a));
    if (a) CHECK(iris_gguf_arr_i64(a, 0) == -1 && iris_gguf_arr_i64(a, 1) == 2 && iris_gguf_arr_i64(a, 2) == -3);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.u32", IRIS_GGUF_U32, &a));
    if (a) CHECK(iris_gguf_arr_u64(a, 0) == 4294967295u && iris_gguf_arr_u64(a, 1) == 0 && iris_gguf_arr_i64(a, 2) == 17);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.i32", IRIS_GGUF_I32, &a));
    if (a) CHECK(iris_gguf_arr_i64(a, 0) == -5 && iris_gguf_arr_f64(a, 1) == 6.0);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.f32", IRIS_GGUF_F32, &a));
    if (a) CHECK(iris_gguf_arr_f32(a, 0) == 0.5f && iris_gguf_arr_f32(a, 1) == -1.25f && iris_gguf_arr_f32(a, 2) == 1e-3f);
    if (a) CHECK(iris_gguf_arr_i64(a, 0) == 0); /* floats are not integers */
    CHECK_OK(iris_gguf_get_array(g, "t.arr.bool", IRIS_GGUF_BOOL, &a));
    if (a) CHECK(iris_gguf_arr_i64(a, 0) == 1 && iris_gguf_arr_i64(a, 1) == 0 && iris_gguf_arr_i64(a, 2) == 1);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.str", IRIS_GGUF_STRING, &a));
    if (a) {
        uint64_t len = 9;
        CHECK(a->n == 3 && !strcmp(iris_gguf_arr_str(a, 0, NULL), "a"));
        CHECK(!strcmp(iris_gguf_arr_str(a, 1, &len), "") && len == 0);
        CHECK(!strcmp(iris_gguf_arr_str(a, 2, &len), "\xc3\xbcn\xc3\xaf") && len == 5);
        CHECK(iris_gguf_arr_f64(a, 0) == 0);
    }
    CHECK_OK(iris_gguf_get_array(g, "t.arr.u64", IRIS_GGUF_U64, &a));
    if (a) CHECK(iris_gguf_arr_u64(a, 0) == UINT64_MAX && iris_gguf_arr_u64(a, 1) == 3);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.i64", IRIS_GGUF_I64, &a));
    if (a) CHECK(iris_gguf_arr_i64(a, 0) == INT64_MIN && iris_gguf_arr_i64(a, 1) == 9);
    CHECK_OK(iris_gguf_get_array(g, "t.arr.f64", IRIS_GGUF_F64, &a));
    if (a) CHECK(iris_gguf_arr_f64(a, 0) == 0.1 && iris_gguf_arr_f64(a, 1) == -2.5 && iris_gguf_arr_str(a, 0, NULL) == NULL);
    CHECK_OK(iris_gguf_get_array(g, "t.nested", IRIS_GGUF_ARRAY, &a));
    if (a) {
        CHECK_INT(a->n, 3);
        const iris_gguf_value *x0 = iris_gguf_arr_item(a, 0), *x1 = iris_gguf_arr_item(a, 1), *x2 = iris_gguf_arr_item(a, 2);
        CHECK(x0 && x1 && x2 && !iris_gguf_arr_item(a, 3));
        if (x0 && x1 && x2) {
            CHECK(x0->elem_type == IRIS_GGUF_I32 && x0->n == 3 && iris_gguf_arr_i64(x0, 2) == 3);
            CHECK(x1->n == 1 && iris_gguf_arr_i64(x1, 0) == 4);
            CHECK(x2->n == 2 && iris_gguf_arr_i64(x2, 0) == 5 && iris_gguf_arr_i64(x2, 1) == 6);
        }
    }
    CHECK_OK(iris_gguf_get_array(g, "t.nested_str", IRIS_GGUF_ANY, &a));
    if (a) {
        const iris_gguf_value *x0 = iris_gguf_arr_item(a, 0), *x1 = iris_gguf_arr_item(a, 1);
        CHECK(x0 && x1);
        if (x0 && x1) {
            CHECK(x0->n == 2 && !strcmp(iris_gguf_arr_str(x0, 1, NULL), "yy"));
            CHECK(x1->n == 1 && !strcmp(iris_gguf_arr_str(x1, 0, NULL), "zzz"));
        }
    }
    CHECK_INT(iris_gguf_get_array(g, "t.u8", IRIS_GGUF_ANY, &a), IRIS_ERR_FORMAT);

    /* tensors */
    iris_tensor *t = NULL;
    CHECK_OK(iris_gguf_tensor(g, "f32.odd", &t));
    if (t) {
        CHECK(t->ndim == 2 && t->ne[0] == 3 && t->ne[1] == 7 && t->dtype == IRIS_F32);
        CHECK(((uintptr_t)t->data - (uintptr_t)g->data) % 64 == 0);
        const float *f = t->data;
        int bad = 0;
        for (int i = 0; i < 21; i++) bad += f[i] != i * 0.25f - 2;
        CHECK_INT(bad, 0);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_gguf_tensor(g, "f16.vec", &t));
    if (t) {
        const uint16_t *h = t->data;
        CHECK(t->ndim == 1 && t->ne[0] == 5 && t->dtype == IRIS_F16);
        CHECK(h[0] == 0x3c00 && h[1] == 0xc000 && h[2] == 0x3800 && h[3] == 0x7bff && h[4] == 0x0001);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_gguf_tensor(g, "i32.t", &t));
    if (t) {
        const int32_t *v = t->data;
        CHECK(t->dtype == IRIS_I32 && t->ne[0] == 2 && t->ne[1] == 2);
        CHECK(v[0] == 1 && v[1] == -2 && v[2] == 3 && v[3] == 2147483647);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_gguf_tensor(g, "q8_0.m", &t));
    if (t) {
        const uint8_t *q = t->data;
        CHECK(t->dtype == IRIS_Q8_0 && t->ndim == 2 && t->ne[0] == 2 && t->ne[1] == 64);
        CHECK_INT(iris_nbytes(t), 136);
        /* q[i] = (37 i mod 255) - 127, first of each block +-127, d = 0.5 */
        int bad = 0;
        for (int i = 0; i < 128; i++) {
            int blk = i / 32;
            const uint8_t *bp = q + blk * 34;
            int want = i % 32 ? (37 * i) % 255 - 127 : (blk % 2 ? -127 : 127);
            bad += (int8_t)bp[2 + i % 32] != want;
            if (i % 32 == 0) bad += bp[0] != 0x00 || bp[1] != 0x38;
        }
        CHECK_INT(bad, 0);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_gguf_tensor(g, "f32.4d", &t));
    if (t) {
        CHECK(t->ndim == 4 && t->ne[0] == 2 && t->ne[1] == 1 && t->ne[2] == 3 && t->ne[3] == 4);
        CHECK(((const float *)t->data)[0] == -11.5f && ((const float *)t->data)[23] == 11.5f);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_gguf_tensor(g, "i8.t", &t));
    if (t) {
        CHECK(t->dtype == IRIS_I8 && t->ne[0] == 9);
        CHECK(((const int8_t *)t->data)[0] == -4 && ((const int8_t *)t->data)[8] == 4);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_gguf_tensor(g, "f64.t", &t));
    if (t) {
        CHECK(t->dtype == IRIS_F64 && t->ne[0] == 2);
        CHECK(((const double *)t->data)[0] == 1e300 && ((const double *)t->data)[1] == -0.125);
        iris_tensor_free(t);
    }
    const iris_gguf_tensor_info *ti = iris_gguf_find_tensor(g, "q8_0.m");
    CHECK(ti && ti->offset == 1664 && ti->ne[0] == 64 && ti->ne[1] == 2 && ti->ggml_type == 8);
}

TEST(gguf_reads_gguf_py_fixture) {
    iris_gguf g;
    CHECK_OK(iris_gguf_open(&g, "tests/ref/gguf_py.gguf"));
    if (!g.data) return;
    CHECK_INT(g.version, 3);
    check_fixture(&g);
    iris_gguf_close(&g);
}

TEST(gguf_version2_and_misaligned_buffer) {
    size_t n = 0;
    uint8_t *b = slurp("tests/ref/gguf_py.gguf", &n);
    CHECK(b != NULL);
    if (!b) return;
    /* v2 has the same layout (64-bit counts); only the version differs */
    b[4] = 2;
    iris_gguf g;
    CHECK_OK(iris_gguf_parse(&g, b, n, "v2.gguf"));
    if (g.data) {
        CHECK_INT(g.version, 2);
        check_fixture(&g);
        iris_gguf_close(&g);
    }
    /* the same bytes at an odd address: tensors must be copied, not misread */
    uint8_t *odd = malloc(n + 1);
    memcpy(odd + 1, b, n);
    CHECK_OK(iris_gguf_parse(&g, odd + 1, n, "odd.gguf"));
    if (g.data) {
        iris_tensor *t = NULL;
        CHECK_OK(iris_gguf_tensor(&g, "f32.odd", &t));
        if (t) {
            CHECK((uintptr_t)t->data % 4 == 0);
            CHECK(t->flags & IRIS_T_OWNED);
            CHECK(((const float *)t->data)[20] == 3.0f);
            iris_tensor_free(t);
        }
        iris_gguf_close(&g);
    }
    free(odd);
    b[4] = 1;
    check_reject(b, n, IRIS_ERR_UNSUPPORTED, "version 1", __LINE__);
    b[4] = 4;
    check_reject(b, n, IRIS_ERR_FORMAT, "unknown GGUF version 4", __LINE__);
    b[4] = 0, b[7] = 3;
    check_reject(b, n, IRIS_ERR_UNSUPPORTED, "big-endian", __LINE__);
    free(b);
}

/* A truncated copy must fail for every length before the end of the last tensor;
   the trailing padding is optional. */
static void truncation_sweep(const char *path, size_t step) {
    size_t n = 0;
    uint8_t *b = slurp(path, &n);
    CHECK(b != NULL);
    if (!b) return;
    iris_gguf g;
    CHECK_OK(iris_gguf_parse(&g, b, n, "full.gguf"));
    uint64_t end = 0;
    for (int64_t i = 0; i < g.n_tensors; i++)
        if (g.tensors[i].offset + g.tensors[i].nbytes > end) end = g.tensors[i].offset + g.tensors[i].nbytes;
    iris_gguf_close(&g);
    int wrong = 0, bad_msg = 0, tried = 0;
    for (size_t len = 0; len < n; len += (len < 4096 ? 1 : step)) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size so ASan sees any overread */
        memcpy(copy, b, len);
        iris_status rc = iris_gguf_parse(&g, copy, len, "cut.gguf");
        int should_fail = len < end;
        if (!rc) iris_gguf_close(&g);
        if ((rc != IRIS_OK) != should_fail) wrong++;
        if (rc && (rc != IRIS_ERR_FORMAT || strncmp(iris_last_error(), "cut.gguf: ", 10))) bad_msg++;
        free(copy);
        tried++;
    }
    CHECK_MSG(wrong == 0, "%s: %d of %d truncated lengths gave the wrong verdict", path, wrong, tried);
    CHECK_MSG(bad_msg == 0, "%s: %d bad messages", path, bad_msg);
    CHECK(tried > 1000);
    free(b);
}

TEST(gguf_truncated_at_every_byte) { truncation_sweep("tests/ref/gguf_py.gguf", 1); }

TEST(gguf_truncated_real_file) {
    const char *path = test_data("llm/stories260K-q4_0.gguf");
    if (!path) return;
    truncation_sweep(path, 997);
}

/* Every single-byte corruption of the header region: no crash, and a failure
   always comes with a one-line message naming the buffer. */
TEST(gguf_header_byte_flips) {
    size_t n = 0;
    uint8_t *b = slurp("tests/ref/gguf_py.gguf", &n);
    CHECK(b != NULL);
    if (!b) return;
    int failed = 0, ok = 0, bad_msg = 0;
    static const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    uint8_t *copy = malloc(n);
    for (size_t i = 0; i < 1408; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            if (b[i] == vals[v]) continue;
            memcpy(copy, b, n);
            copy[i] = vals[v];
            iris_gguf g;
            iris_status rc = iris_gguf_parse(&g, copy, n, "flip.gguf");
            if (rc) {
                failed++;
                const char *m = iris_last_error();
                if (strncmp(m, "flip.gguf: ", 11) || strchr(m, '\n')) bad_msg++;
            } else {
                ok++;
                /* whatever parsed must be usable without reading out of bounds */
                for (int64_t t = 0; t < g.n_tensors; t++) {
                    iris_tensor *x = NULL;
                    if (!iris_gguf_tensor(&g, g.tensors[t].name, &x)) {
                        volatile uint8_t sink = 0;
                        size_t nb = iris_nbytes(x);
                        if (nb) sink ^= ((const uint8_t *)x->data)[nb - 1];
                        (void)sink;
                        iris_tensor_free(x);
                    }
                }
                iris_gguf_close(&g);
            }
        }
    }
    free(copy);
    free(b);
    CHECK_INT(bad_msg, 0);
    CHECK(failed > 1000); /* most corruptions are caught */
    CHECK(ok > 100);      /* corrupted values inside strings/numbers are legal */
}

/* ---------------------------------------------------------------- hostile buffers */

TEST(gguf_rejects_bad_headers) {
    gb b = {0};
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "no GGUF magic"); /* empty */
    gb_put(&b, "GGU", 3);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "no GGUF magic");
    b.n = 0, gb_put(&b, "GGML", 4), gb_u32(&b, 3);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "no GGUF magic");
    b.n = 0, gb_put(&b, "GGUF", 4);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "reading the version");
    gb_u32(&b, 3), gb_u64(&b, 0);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "reading the metadata count");
    b.n = 0, gb_hdr(&b, 3, 0, UINT64_MAX);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "metadata count 18446744073709551615 cannot fit");
    b.n = 0, gb_hdr(&b, 3, 1ull << 60, 0);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "tensor count 1152921504606846976 cannot fit");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_zeros(&b, 12); /* one kv claimed, 12 bytes: less than the smallest kv */
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "metadata count 1 cannot fit");
    /* minimal valid file: no kvs, no tensors, padded to 32 */
    b.n = 0, gb_hdr(&b, 3, 0, 0), gb_pad(&b, 32);
    CHECK(parses(&b));
    b.n = 24; /* the padding is needed: data would start past the end */
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "past the end");
    free(b.b);
}

TEST(gguf_rejects_bad_metadata) {
    gb b = {0};
    /* key length past the end */
    gb_hdr(&b, 3, 0, 1), gb_u64(&b, 1000), gb_put(&b, "abc", 3), gb_zeros(&b, 10);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "claims 1000 bytes");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_u64(&b, UINT64_MAX), gb_zeros(&b, 10);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "claims 18446744073709551615 bytes");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, ""), gb_u32(&b, IRIS_GGUF_U8), gb_u8(&b, 1), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "is empty");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_u64(&b, 3), gb_put(&b, "a\0b", 3), gb_u32(&b, IRIS_GGUF_U8), gb_u8(&b, 1),
    gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "contains a NUL byte");
    /* unknown value type */
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, 13), gb_u32(&b, 0), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "metadata 'k' has unknown value type 13");
    /* bool that is neither 0 nor 1 */
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_BOOL), gb_u8(&b, 2), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "bool with value 2");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_ARRAY), gb_u32(&b, IRIS_GGUF_BOOL),
    gb_u64(&b, 3), gb_u8(&b, 1), gb_u8(&b, 0), gb_u8(&b, 7), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "element 2 is a bool with value 7");
    /* scalar cut short */
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_U64), gb_u32(&b, 0);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "while reading metadata 'k'");
    /* arrays: unknown element type, absurd counts for fixed, string and nested elements */
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_ARRAY), gb_u32(&b, 77), gb_u64(&b, 1),
    gb_pad(&b, 64);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "array of unknown type 77");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_ARRAY), gb_u32(&b, IRIS_GGUF_F64),
    gb_u64(&b, 1ull << 61), gb_pad(&b, 64);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "claims 2305843009213693952 f64 elements");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_ARRAY), gb_u32(&b, IRIS_GGUF_STRING),
    gb_u64(&b, UINT64_MAX), gb_pad(&b, 64);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "string elements");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_ARRAY), gb_u32(&b, IRIS_GGUF_STRING),
    gb_u64(&b, 2), gb_str(&b, "ok"), gb_u64(&b, 99), gb_pad(&b, 64);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "claims 99 bytes");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "k"), gb_u32(&b, IRIS_GGUF_ARRAY), gb_u32(&b, IRIS_GGUF_ARRAY),
    gb_u64(&b, 1ull << 40), gb_pad(&b, 64);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "array elements");
    /* duplicate keys */
    b.n = 0, gb_hdr(&b, 3, 0, 3), gb_kv_u32(&b, "a", 1), gb_kv_u32(&b, "b", 2), gb_kv_u32(&b, "a", 3), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "key 'a' appears twice");
    /* alignment: zero, not a power of two, wrong type */
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_kv_u32(&b, "general.alignment", 0), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "alignment 0 is not a power of two");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_kv_u32(&b, "general.alignment", 48), gb_pad(&b, 48);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "alignment 48 is not a power of two");
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_str(&b, "general.alignment"), gb_u32(&b, IRIS_GGUF_STRING), gb_str(&b, "32"),
    gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "general.alignment is string, expected u32");
    /* alignment 1 and 4096 are fine */
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_kv_u32(&b, "general.alignment", 1);
    CHECK(parses(&b));
    b.n = 0, gb_hdr(&b, 3, 0, 1), gb_kv_u32(&b, "general.alignment", 4096), gb_pad(&b, 4096);
    CHECK(parses(&b));
    free(b.b);
}

/* Arrays nested 8 deep are accepted; 9 and more are refused (bounded recursion). */
TEST(gguf_nested_array_depth) {
    for (int depth = 1; depth <= 40; depth++) {
        gb b = {0};
        gb_hdr(&b, 3, 0, 1), gb_str(&b, "nest"), gb_u32(&b, IRIS_GGUF_ARRAY);
        for (int d = 1; d < depth; d++) gb_u32(&b, IRIS_GGUF_ARRAY), gb_u64(&b, 1);
        gb_u32(&b, IRIS_GGUF_U16), gb_u64(&b, 2), gb_u32(&b, 0x00090008), gb_pad(&b, 32);
        iris_gguf g;
        iris_status rc = iris_gguf_parse(&g, b.b, b.n, "nest.gguf");
        if (depth <= 8) {
            CHECK_MSG(rc == IRIS_OK, "depth %d: %s", depth, iris_last_error());
            if (!rc) {
                const iris_gguf_value *v = &g.kv[0].val;
                for (int d = 1; d < depth && v; d++) v = iris_gguf_arr_item(v, 0);
                CHECK_MSG(v && v->elem_type == IRIS_GGUF_U16 && iris_gguf_arr_u64(v, 1) == 9, "depth %d", depth);
                iris_gguf_close(&g);
            }
        } else {
            CHECK_MSG(rc == IRIS_ERR_FORMAT && strstr(iris_last_error(), "nests arrays more than 8 deep"),
                      "depth %d: %s", depth, iris_last_error());
        }
        free(b.b);
    }
}

TEST(gguf_rejects_bad_tensors) {
    gb b = {0};
    uint64_t d2[2] = {32, 2};
    /* valid reference: one f32 tensor [2, 32], 256 bytes */
    gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 2, d2, 0, 0), gb_pad(&b, 32), gb_zeros(&b, 256);
    CHECK(parses(&b));
    b.n -= 1;
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "tensor 'w' needs data bytes [0, +256) but the data section has 255 bytes");
    /* too many dims */
    uint64_t d5[5] = {1, 1, 1, 1, 1};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 5, d5, 0, 0), gb_pad(&b, 32), gb_zeros(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "tensor 'w' has 5 dims (at most 4)");
    /* absurd dim, overflowing element count */
    uint64_t dbig[2] = {32, 1ull << 41};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 2, dbig, 0, 0), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "absurd dim 1 = 2199023255552");
    uint64_t dov[4] = {1ull << 40, 1ull << 40, 1ull << 40, 1};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 4, dov, 0, 0), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "element count overflows");
    uint64_t dneg[1] = {UINT64_MAX};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 1, dneg, 0, 0), gb_pad(&b, 32);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "absurd dim 0");
    /* huge but in-range shape whose bytes cannot be in the file */
    uint64_t dhuge[3] = {1ull << 40, 1ull << 10, 4};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 3, dhuge, 0, 0), gb_pad(&b, 32), gb_zeros(&b, 64);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "needs data bytes [0, +18014398509481984)");
    uint64_t dbytes[3] = {1ull << 40, 1ull << 20, 4}; /* 2^62 elements fit, 2^64 bytes do not */
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 3, dbytes, 0, 0), gb_pad(&b, 32), gb_zeros(&b, 64);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "byte size overflows");
    /* unknown ggml types: 4 and 5 were removed from ggml, 99 never existed */
    uint32_t bad_types[] = {4, 5, 31, 99, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 2, d2, bad_types[i], 0), gb_pad(&b, 32), gb_zeros(&b, 256);
        CHECK_REJECT(&b, IRIS_ERR_FORMAT, "unknown ggml type");
    }
    /* block types need whole blocks in the innermost dim */
    uint64_t d33[2] = {33, 2};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "q", 2, d33, 2, 0), gb_pad(&b, 32), gb_zeros(&b, 256);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "innermost dim 33 is not a multiple of the q4_0 block size 32");
    uint64_t d128[2] = {128, 2};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "q", 2, d128, 12, 0), gb_pad(&b, 32), gb_zeros(&b, 512);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "q4_k block size 256");
    uint64_t d256[2] = {256, 2};
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "q", 2, d256, 12, 0), gb_pad(&b, 32), gb_zeros(&b, 288);
    CHECK(parses(&b)); /* 2 rows x 144 bytes */
    b.n -= 1;
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "needs data bytes [0, +288)");
    /* offsets: misaligned, past the end, wrapping around */
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 2, d2, 0, 16), gb_pad(&b, 32), gb_zeros(&b, 512);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "offset 16 is not a multiple of the alignment 32");
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 2, d2, 0, 1024), gb_pad(&b, 32), gb_zeros(&b, 512);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "needs data bytes [1024, +256)");
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "w", 2, d2, 0, UINT64_MAX - 31), gb_pad(&b, 32), gb_zeros(&b, 512);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "needs data bytes");
    /* overlapping tensors; adjacent ones are fine */
    b.n = 0, gb_hdr(&b, 3, 2, 0), gb_tinfo(&b, "a", 2, d2, 0, 0), gb_tinfo(&b, "b", 2, d2, 0, 224), gb_pad(&b, 32),
    gb_zeros(&b, 512);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "tensors 'a' and 'b' overlap");
    b.n = 0, gb_hdr(&b, 3, 2, 0), gb_tinfo(&b, "a", 2, d2, 0, 256), gb_tinfo(&b, "b", 2, d2, 0, 0), gb_pad(&b, 32),
    gb_zeros(&b, 512);
    CHECK(parses(&b));
    b.n = 0, gb_hdr(&b, 3, 2, 0), gb_tinfo(&b, "a", 2, d2, 0, 0), gb_tinfo(&b, "b", 2, d2, 0, 0), gb_pad(&b, 32),
    gb_zeros(&b, 512);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "overlap");
    /* duplicate and empty names */
    b.n = 0, gb_hdr(&b, 3, 2, 0), gb_tinfo(&b, "a", 2, d2, 0, 0), gb_tinfo(&b, "a", 2, d2, 0, 256), gb_pad(&b, 32),
    gb_zeros(&b, 512);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "tensor 'a' appears twice");
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "", 2, d2, 0, 0), gb_pad(&b, 32), gb_zeros(&b, 256);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "the name of tensor 0 is empty");
    /* zero-size tensors take no room: two at the same offset as a real one are fine */
    uint64_t d0[2] = {32, 0};
    b.n = 0, gb_hdr(&b, 3, 3, 0), gb_tinfo(&b, "e1", 2, d0, 0, 0), gb_tinfo(&b, "w", 2, d2, 0, 0),
    gb_tinfo(&b, "e2", 2, d0, 0, 0), gb_pad(&b, 32), gb_zeros(&b, 256);
    CHECK(parses(&b));
    {
        iris_gguf g;
        CHECK_OK(iris_gguf_parse(&g, b.b, b.n, "zero.gguf"));
        iris_tensor *t = NULL;
        CHECK_OK(iris_gguf_tensor(&g, "e2", &t));
        if (t) CHECK(t->ne[0] == 0 && t->ne[1] == 32 && iris_nbytes(t) == 0);
        iris_tensor_free(t);
        iris_gguf_close(&g);
    }
    /* n_dims 0 is a scalar */
    b.n = 0, gb_hdr(&b, 3, 1, 0), gb_tinfo(&b, "s", 0, NULL, 0, 0), gb_pad(&b, 32), gb_u32(&b, 0x40490fdb);
    {
        iris_gguf g;
        CHECK_OK(iris_gguf_parse(&g, b.b, b.n, "scalar.gguf"));
        iris_tensor *t = NULL;
        CHECK_OK(iris_gguf_tensor(&g, "s", &t));
        if (t) CHECK(t->ndim == 1 && t->ne[0] == 1 && ((const float *)t->data)[0] == 3.14159274f);
        iris_tensor_free(t);
        iris_gguf_close(&g);
    }
    /* the tensor infos themselves cut short */
    b.n = 0, gb_hdr(&b, 3, 2, 0), gb_tinfo(&b, "a", 2, d2, 0, 0), gb_str(&b, "b"), gb_u32(&b, 2), gb_u64(&b, 32);
    gb_zeros(&b, 8);
    CHECK_REJECT(&b, IRIS_ERR_FORMAT, "reading tensor 'b'");
    free(b.b);
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    int calls;
    float scale;
} fill_state;

static iris_status fill_ramp(void *user, const char *name, void *dst, size_t nbytes) {
    fill_state *s = user;
    s->calls++;
    float *f = dst;
    for (size_t i = 0; i < nbytes / 4; i++) f[i] = (float)i * s->scale;
    return strcmp(name, "fail.me") ? IRIS_OK : iris_fail(IRIS_ERR_CANCELLED, "asked to fail");
}

TEST(gguf_writer_roundtrip) {
    char path[256];
    tmp_path(path, sizeof path, "rt");
    iris_gguf_writer *w = NULL;
    CHECK_OK(iris_gguf_writer_new(&w));
    if (!w) return;
    CHECK_OK(iris_gguf_writer_set_str(w, "general.architecture", "llama"));
    CHECK_OK(iris_gguf_writer_set_u32(w, "a.u32", 7));
    CHECK_OK(iris_gguf_writer_set_i32(w, "a.i32", -7));
    CHECK_OK(iris_gguf_writer_set_u64(w, "a.u64", UINT64_MAX));
    CHECK_OK(iris_gguf_writer_set_i64(w, "a.i64", INT64_MIN));
    CHECK_OK(iris_gguf_writer_set_f32(w, "a.f32", -0.375f));
    CHECK_OK(iris_gguf_writer_set_f64(w, "a.f64", 1e-300));
    CHECK_OK(iris_gguf_writer_set_bool(w, "a.bool", false));
    CHECK_OK(iris_gguf_writer_set_str(w, "a.empty", ""));
    float fa[5] = {1, -2, 3.5f, 0, 1e30f};
    CHECK_OK(iris_gguf_writer_set_array(w, "a.arr.f32", IRIS_GGUF_F32, fa, 5));
    int16_t ia[3] = {-32768, 0, 32767};
    CHECK_OK(iris_gguf_writer_set_array(w, "a.arr.i16", IRIS_GGUF_I16, ia, 3));
    CHECK_OK(iris_gguf_writer_set_array(w, "a.arr.none", IRIS_GGUF_U32, NULL, 0));
    uint8_t bools[2] = {1, 0}, badbool[1] = {2};
    CHECK_OK(iris_gguf_writer_set_array(w, "a.arr.bool", IRIS_GGUF_BOOL, bools, 2));
    CHECK_INT(iris_gguf_writer_set_array(w, "a.arr.bad", IRIS_GGUF_BOOL, badbool, 1), IRIS_ERR_ARG);
    CHECK_INT(iris_gguf_writer_set_array(w, "a.arr.bad", IRIS_GGUF_STRING, fa, 1), IRIS_ERR_ARG);
    const char *strs[4] = {"<unk>", "", "\xe2\x96\x81the", "z"};
    CHECK_OK(iris_gguf_writer_set_str_array(w, "a.arr.str", strs, 4));
    CHECK_OK(iris_gguf_writer_set_u32(w, "a.u32", 8)); /* replaces in place */
    CHECK_OK(iris_gguf_writer_set_u32(w, "a.gone", 1));
    CHECK_OK(iris_gguf_writer_remove(w, "a.gone"));
    CHECK_INT(iris_gguf_writer_remove(w, "a.gone"), IRIS_ERR_NOT_FOUND);
    CHECK_INT(iris_gguf_writer_set_u32(w, "", 1), IRIS_ERR_ARG);

    /* tensors of odd shapes and several types */
    static float f17x33[17 * 33];
    for (int i = 0; i < 17 * 33; i++) f17x33[i] = (float)i / 7.0f - 20.0f;
    uint16_t h7[7] = {0x3c00, 0x4000, 0xc200, 0, 0x8000, 0x7bff, 0x0001};
    uint8_t q[3 * 34];
    for (int i = 0; i < (int)sizeof q; i++) q[i] = (uint8_t)(i * 13 + 5);
    int32_t i1[1] = {-123456};
    int64_t s17x33[2] = {17, 33}, s7[1] = {7}, sq[2] = {3, 32}, s1[1] = {1}, s4d[4] = {1, 2, 1, 65};
    CHECK_OK(iris_gguf_writer_add_tensor(w, "w.f32", IRIS_F32, 2, s17x33, f17x33));
    CHECK_OK(iris_gguf_writer_add_tensor(w, "w.f16", IRIS_F16, 1, s7, h7));
    CHECK_OK(iris_gguf_writer_add_tensor(w, "w.q8", IRIS_Q8_0, 2, sq, q));
    CHECK_OK(iris_gguf_writer_add_tensor(w, "w.i32", IRIS_I32, 1, s1, i1));
    fill_state fs = {0, 0.5f};
    CHECK_OK(iris_gguf_writer_add_tensor_fn(w, "w.fn", IRIS_F32, 4, s4d, fill_ramp, &fs));
    CHECK_INT(iris_gguf_writer_add_tensor(w, "w.f32", IRIS_F32, 1, s7, f17x33), IRIS_ERR_ARG);
    int64_t s33[1] = {33};
    CHECK_INT(iris_gguf_writer_add_tensor(w, "w.badq", IRIS_Q4_0, 1, s33, q), IRIS_ERR_SHAPE);
    CHECK(strstr(iris_last_error(), "w.badq"));
    CHECK_INT(iris_gguf_writer_add_tensor(w, "w.u8", IRIS_U8, 1, s7, q), IRIS_ERR_UNSUPPORTED);
    CHECK_INT(iris_gguf_writer_add_tensor(w, "w.nodata", IRIS_F32, 1, s7, NULL), IRIS_ERR_ARG);
    CHECK_OK(iris_gguf_writer_write(w, path));
    CHECK_INT(fs.calls, 1);
    iris_gguf_writer_free(w);

    iris_gguf g;
    CHECK_OK(iris_gguf_open(&g, path));
    if (!g.data) { unlink(path); return; }
    CHECK_INT(g.version, 3);
    CHECK_INT(g.n_kv, 14);
    CHECK_INT(g.n_tensors, 5);
    CHECK_INT(g.alignment, 32);
    CHECK(!strcmp(g.kv[0].key, "general.architecture") && !strcmp(g.kv[1].key, "a.u32"));
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    double f64 = 0;
    bool bl = true;
    const char *s = NULL;
    CHECK_OK(iris_gguf_get_u32(&g, "a.u32", &u32));
    CHECK_INT(u32, 8);
    CHECK_OK(iris_gguf_get_i32(&g, "a.i32", &i32));
    CHECK_INT(i32, -7);
    CHECK_OK(iris_gguf_get_u64(&g, "a.u64", &u64));
    CHECK(u64 == UINT64_MAX);
    CHECK_OK(iris_gguf_get_i64(&g, "a.i64", &i64));
    CHECK(i64 == INT64_MIN);
    CHECK_OK(iris_gguf_get_f32(&g, "a.f32", &f32));
    CHECK(f32 == -0.375f);
    CHECK_OK(iris_gguf_get_f64(&g, "a.f64", &f64));
    CHECK(f64 == 1e-300);
    CHECK_OK(iris_gguf_get_bool(&g, "a.bool", &bl));
    CHECK(bl == false);
    CHECK_OK(iris_gguf_get_str(&g, "a.empty", &s));
    CHECK(s && !*s);
    CHECK(iris_gguf_find_kv(&g, "a.gone") == NULL);
    const iris_gguf_value *a = NULL;
    CHECK_OK(iris_gguf_get_array(&g, "a.arr.f32", IRIS_GGUF_F32, &a));
    if (a) CHECK(a->n == 5 && iris_gguf_arr_f32(a, 2) == 3.5f && iris_gguf_arr_f32(a, 4) == 1e30f);
    CHECK_OK(iris_gguf_get_array(&g, "a.arr.i16", IRIS_GGUF_I16, &a));
    if (a) CHECK(iris_gguf_arr_i64(a, 0) == -32768 && iris_gguf_arr_i64(a, 2) == 32767);
    CHECK_OK(iris_gguf_get_array(&g, "a.arr.none", IRIS_GGUF_U32, &a));
    if (a) CHECK(a->n == 0 && iris_gguf_arr_u64(a, 0) == 0);
    CHECK_OK(iris_gguf_get_array(&g, "a.arr.bool", IRIS_GGUF_BOOL, &a));
    if (a) CHECK(iris_gguf_arr_u64(a, 0) == 1 && iris_gguf_arr_u64(a, 1) == 0);
    CHECK_OK(iris_gguf_get_array(&g, "a.arr.str", IRIS_GGUF_STRING, &a));
    if (a) {
        CHECK(a->n == 4);
        for (int i = 0; i < 4; i++) CHECK(!strcmp(iris_gguf_arr_str(a, (uint64_t)i, NULL), strs[i]));
    }
    iris_tensor *t = NULL;
    CHECK_OK(iris_gguf_tensor(&g, "w.f32", &t));
    if (t) {
        CHECK(t->ne[0] == 17 && t->ne[1] == 33 && !memcmp(t->data, f17x33, sizeof f17x33));
        iris_tensor_free(t);
    }
    const iris_gguf_tensor_info *ti = iris_gguf_find_tensor(&g, "w.f32");
    CHECK(ti && ti->ne[0] == 33 && ti->ne[1] == 17 && ti->offset % 32 == 0);
    CHECK_OK(iris_gguf_tensor(&g, "w.f16", &t));
    if (t) CHECK(t->dtype == IRIS_F16 && !memcmp(t->data, h7, sizeof h7));
    iris_tensor_free(t);
    CHECK_OK(iris_gguf_tensor(&g, "w.q8", &t));
    if (t) CHECK(t->dtype == IRIS_Q8_0 && t->ne[0] == 3 && t->ne[1] == 32 && !memcmp(t->data, q, sizeof q));
    iris_tensor_free(t);
    CHECK_OK(iris_gguf_tensor(&g, "w.i32", &t));
    if (t) CHECK(t->dtype == IRIS_I32 && ((const int32_t *)t->data)[0] == -123456);
    iris_tensor_free(t);
    CHECK_OK(iris_gguf_tensor(&g, "w.fn", &t));
    if (t) {
        CHECK(t->ndim == 4 && t->ne[0] == 1 && t->ne[1] == 2 && t->ne[2] == 1 && t->ne[3] == 65);
        CHECK(((const float *)t->data)[129] == 64.5f);
        iris_tensor_free(t);
    }
    iris_gguf_close(&g);
    unlink(path);
}

/* Every tensor of src added to w by name, in file order. */
static void add_all_tensors(iris_gguf_writer *w, const iris_gguf *src) {
    for (int64_t i = 0; i < src->n_tensors; i++) {
        iris_tensor *t = NULL;
        CHECK_OK(iris_gguf_tensor(src, src->tensors[i].name, &t));
        if (t) CHECK_OK(iris_gguf_writer_add_tensor(w, src->tensors[i].name, t->dtype, t->ndim, t->ne, t->data));
        iris_tensor_free(t);
    }
}

/* Rewriting a gguf-py file with our writer (all kvs copied, all tensors re-added
   in the same order) must give back exactly the bytes gguf-py wrote. */
TEST(gguf_writer_reproduces_gguf_py_bytes) {
    char path[256];
    tmp_path(path, sizeof path, "py");
    iris_gguf src;
    CHECK_OK(iris_gguf_open(&src, "tests/ref/gguf_py.gguf"));
    if (!src.data) return;
    iris_gguf_writer *w = NULL;
    CHECK_OK(iris_gguf_writer_new(&w));
    CHECK_OK(iris_gguf_writer_copy_kvs(w, &src));
    add_all_tensors(w, &src);
    CHECK_OK(iris_gguf_writer_write(w, path));
    iris_gguf_writer_free(w);
    size_t n1 = 0, n2 = 0;
    uint8_t *a = slurp("tests/ref/gguf_py.gguf", &n1), *b = slurp(path, &n2);
    CHECK(a && b);
    if (a && b) {
        CHECK_INT(n2, n1);
        size_t first = 0;
        while (first < n1 && first < n2 && a[first] == b[first]) first++;
        CHECK_MSG(first == n1 && n1 == n2, "files differ from byte %zu", first);
    }
    free(a);
    free(b);
    iris_gguf_close(&src);
    unlink(path);
}

/* Copy a real model's metadata, override one key and add one, keep its tensors. */
TEST(gguf_writer_copies_real_model) {
    const char *in = test_data("llm/stories260K-q8_0.gguf");
    if (!in) return;
    char path[256];
    tmp_path(path, sizeof path, "copy");
    iris_gguf src;
    CHECK_OK(iris_gguf_open(&src, in));
    if (!src.data) return;
    iris_gguf_writer *w = NULL;
    CHECK_OK(iris_gguf_writer_new(&w));
    CHECK_OK(iris_gguf_writer_copy_kvs(w, &src));
    CHECK_OK(iris_gguf_writer_set_str(w, "general.name", "stories260K-copy"));
    CHECK_OK(iris_gguf_writer_set_u32(w, "iris.test", 42));
    CHECK_INT(iris_gguf_writer_copy_kv(w, &src, "no.such.key"), IRIS_ERR_NOT_FOUND);
    add_all_tensors(w, &src);
    CHECK_OK(iris_gguf_writer_write(w, path));
    iris_gguf_writer_free(w);
    iris_gguf g;
    CHECK_OK(iris_gguf_open(&g, path));
    if (g.data) {
        CHECK_INT(g.n_kv, src.n_kv + 1);
        CHECK_INT(g.n_tensors, src.n_tensors);
        const char *s = NULL;
        CHECK_OK(iris_gguf_get_str(&g, "general.name", &s));
        CHECK(s && !strcmp(s, "stories260K-copy"));
        uint32_t v = 0;
        CHECK_OK(iris_gguf_get_u32(&g, "iris.test", &v));
        CHECK_INT(v, 42);
        int kv_diff = 0, t_diff = 0;
        for (int64_t i = 0; i < src.n_kv; i++) {
            const iris_gguf_kv *x = &src.kv[i], *y = iris_gguf_find_kv(&g, x->key);
            if (!strcmp(x->key, "general.name")) continue;
            if (!y || y != &g.kv[i] || y->val.type != x->val.type || y->raw_len != x->raw_len ||
                memcmp(y->raw, x->raw, (size_t)x->raw_len))
                kv_diff++;
        }
        for (int64_t i = 0; i < src.n_tensors; i++) {
            const iris_gguf_tensor_info *x = &src.tensors[i], *y = &g.tensors[i];
            if (strcmp(x->name, y->name) || x->dtype != y->dtype || x->n_dims != y->n_dims ||
                memcmp(x->ne, y->ne, sizeof x->ne) || x->nbytes != y->nbytes ||
                memcmp(src.data + x->offset, g.data + y->offset, (size_t)x->nbytes))
                t_diff++;
        }
        CHECK_INT(kv_diff, 0);
        CHECK_INT(t_diff, 0);
        iris_gguf_close(&g);
    }
    iris_gguf_close(&src);
    unlink(path);
}

TEST(gguf_writer_failures_leave_no_file) {
    char path[256], tmp[300];
    tmp_path(path, sizeof path, "fail");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    unlink(path);
    iris_gguf_writer *w = NULL;
    CHECK_OK(iris_gguf_writer_new(&w));
    fill_state fs = {0, 1.0f};
    int64_t s8[1] = {8};
    CHECK_OK(iris_gguf_writer_add_tensor_fn(w, "ok", IRIS_F32, 1, s8, fill_ramp, &fs));
    CHECK_OK(iris_gguf_writer_add_tensor_fn(w, "fail.me", IRIS_F32, 1, s8, fill_ramp, &fs));
    CHECK_INT(iris_gguf_writer_write(w, path), IRIS_ERR_CANCELLED);
    CHECK(strstr(iris_last_error(), "tensor 'fail.me': asked to fail"));
    CHECK(access(path, F_OK) != 0);
    CHECK(access(tmp, F_OK) != 0);
    iris_gguf_writer_free(w);

    CHECK_OK(iris_gguf_writer_new(&w));
    CHECK_OK(iris_gguf_writer_set_u32(w, "general.alignment", 24));
    CHECK_INT(iris_gguf_writer_write(w, path), IRIS_ERR_ARG);
    CHECK(access(path, F_OK) != 0);
    CHECK_OK(iris_gguf_writer_set_u32(w, "general.alignment", 256));
    CHECK_INT(iris_gguf_writer_write(w, "/nonexistent-dir/x.gguf"), IRIS_ERR_IO);
    CHECK(strstr(iris_last_error(), "/nonexistent-dir/x.gguf"));
    /* alignment 256 honoured */
    float one = 1.0f;
    int64_t s1[1] = {1};
    CHECK_OK(iris_gguf_writer_add_tensor(w, "a", IRIS_F32, 1, s1, &one));
    CHECK_OK(iris_gguf_writer_add_tensor(w, "b", IRIS_F32, 1, s1, &one));
    CHECK_OK(iris_gguf_writer_write(w, path));
    iris_gguf_writer_free(w);
    iris_gguf g;
    CHECK_OK(iris_gguf_open(&g, path));
    if (g.data) {
        CHECK_INT(g.alignment, 256);
        CHECK_INT(g.data_offset % 256, 0);
        const iris_gguf_tensor_info *b = iris_gguf_find_tensor(&g, "b");
        CHECK(b && b->offset == g.data_offset + 256);
        CHECK_INT(g.size, g.data_offset + 512);
        iris_gguf_close(&g);
    }
    unlink(path);
}
