/* test_safetensors.c - the safetensors reader.
   References: tests/ref/st_loader.safetensors written by refio.py (values are
   the formulas in tests/ref/gen_safetensors.py), the real resnet20.safetensors
   (values read once with Python's json and struct modules), and hand-built
   hostile headers, each described where it is made. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* A file from a JSON header and `data_len` data bytes (value = index & 0xff). */
typedef struct {
    uint8_t *b;
    size_t n;
} stbuf;

static stbuf st_make(const char *json, size_t data_len) {
    size_t h = strlen(json);
    stbuf s = {malloc(8 + h + data_len + 1), 8 + h + data_len};
    uint64_t hl = h;
    memcpy(s.b, &hl, 8);
    memcpy(s.b + 8, json, h);
    for (size_t i = 0; i < data_len; i++) s.b[8 + h + i] = (uint8_t)i;
    return s;
}

#define REJECT(json, data_len, needle) reject_json(json, data_len, needle, __LINE__)
static void reject_json(const char *json, size_t data_len, const char *needle, int line) {
    stbuf s = st_make(json, data_len);
    iris_safetensors st;
    iris_status rc = iris_safetensors_parse(&st, s.b, s.n, "bad.st");
    const char *m = iris_last_error();
    CHECK_MSG(rc == IRIS_ERR_FORMAT, "line %d: status %s (%s)", line, iris_status_name(rc), m);
    CHECK_MSG(!strncmp(m, "bad.st: ", 8) && strstr(m, needle) && !strchr(m, '\n'), "line %d: message '%s' lacks '%s'",
              line, m, needle);
    CHECK_MSG(st.n == 0 && st.entries == NULL && st.n_meta == 0, "line %d: state not cleared", line);
    if (!rc) iris_safetensors_close(&st);
    free(s.b);
}

static int accept_json(const char *json, size_t data_len, iris_safetensors *st, stbuf *keep) {
    *keep = st_make(json, data_len);
    iris_status rc = iris_safetensors_parse(st, keep->b, keep->n, "ok.st");
    if (rc) printf("    unexpected: %s\n", iris_last_error());
    return rc == IRIS_OK;
}

/* ---------------------------------------------------------------- refio fixture */

TEST(safetensors_reads_refio_fixture) {
    iris_safetensors st;
    CHECK_OK(iris_safetensors_open(&st, "tests/ref/st_loader.safetensors"));
    if (!st.entries) return;
    CHECK_INT(st.n, 11);
    CHECK_INT(st.n_meta, 2);
    CHECK(iris_safetensors_meta(&st, "arch") && !strcmp(iris_safetensors_meta(&st, "arch"), "loader-test"));
    CHECK(iris_safetensors_meta(&st, "n") && !strcmp(iris_safetensors_meta(&st, "n"), "11"));
    CHECK(iris_safetensors_meta(&st, "missing") == NULL);
    /* entries are sorted by name */
    int sorted = 1;
    for (int i = 1; i < st.n; i++) sorted &= strcmp(st.entries[i - 1].name, st.entries[i].name) < 0;
    CHECK(sorted);

    iris_tensor *t = NULL;
    CHECK_OK(iris_safetensors_get(&st, "f32.odd", &t));
    if (t) {
        CHECK(t->dtype == IRIS_F32 && t->ndim == 2 && t->ne[0] == 3 && t->ne[1] == 7);
        int bad = 0;
        for (int i = 0; i < 21; i++) bad += ((const float *)t->data)[i] != i * 0.25f - 2;
        CHECK_INT(bad, 0);
        CHECK(!strcmp(t->name, "f32.odd"));
        CHECK(!(t->flags & IRIS_T_OWNED)); /* aligned: a view of the mapping */
        iris_tensor_free(t);
    }
    CHECK_OK(iris_safetensors_get(&st, "f16.vec", &t));
    if (t) {
        const uint16_t *h = t->data;
        CHECK(t->dtype == IRIS_F16 && t->ne[0] == 5);
        CHECK(h[0] == 0x3c00 && h[1] == 0xc000 && h[2] == 0x3800 && h[3] == 0x7bff && h[4] == 0x0001);
        iris_tensor_free(t);
    }
    /* i32.t starts at data offset 94: misaligned for 4-byte elements, so it is copied */
    CHECK_OK(iris_safetensors_get(&st, "i32.t", &t));
    if (t) {
        const int32_t *v = t->data;
        CHECK((uintptr_t)t->data % 4 == 0 && (t->flags & IRIS_T_OWNED));
        CHECK(v[0] == 1 && v[1] == -2 && v[2] == 3 && v[3] == 2147483647);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_safetensors_get(&st, "i64.t", &t));
    if (t) {
        const int64_t *v = t->data;
        CHECK(t->dtype == IRIS_I64 && v[0] == -(1ll << 40) && v[1] == 0 && v[2] == 1ll << 62);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_safetensors_get(&st, "u8.t", &t));
    if (t) {
        const uint8_t *v = t->data;
        CHECK(t->dtype == IRIS_U8 && v[0] == 0 && v[1] == 1 && v[2] == 254 && v[3] == 255);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_safetensors_get(&st, "i8.t", &t));
    if (t) CHECK(t->dtype == IRIS_I8 && ((const int8_t *)t->data)[0] == -128 && ((const int8_t *)t->data)[2] == 127);
    iris_tensor_free(t);
    CHECK_OK(iris_safetensors_get(&st, "i16.t", &t));
    if (t) CHECK(t->dtype == IRIS_I16 && ((const int16_t *)t->data)[0] == -32768 && ((const int16_t *)t->data)[1] == 32767);
    iris_tensor_free(t);
    CHECK_OK(iris_safetensors_get(&st, "f64.t", &t));
    if (t) CHECK(t->dtype == IRIS_F64 && ((const double *)t->data)[0] == 1e300 && ((const double *)t->data)[1] == -0.125);
    iris_tensor_free(t);
    CHECK_OK(iris_safetensors_get(&st, "scalar", &t));
    if (t) CHECK(t->ndim == 1 && t->ne[0] == 1 && ((const float *)t->data)[0] == 3.5f);
    iris_tensor_free(t);
    int64_t want4[4] = {2, 1, -1, 4};
    CHECK_OK(iris_safetensors_get_shaped(&st, "f32.4d", 4, want4, &t));
    if (t) {
        CHECK(t->ne[2] == 3 && ((const float *)t->data)[0] == -11.5f && ((const float *)t->data)[23] == 11.5f);
        iris_tensor_free(t);
    }
    /* the empty tensor's offsets [0, 0] equal the next tensor's begin: no overlap */
    CHECK_OK(iris_safetensors_get(&st, "empty", &t));
    if (t) CHECK(t->ne[0] == 0 && t->ne[1] == 3 && iris_nbytes(t) == 0);
    iris_tensor_free(t);
    const iris_st_entry *e = iris_safetensors_find(&st, "f32.4d");
    CHECK(e && e->ndim == 4 && e->end == st.map.size && e->end - e->begin == 96 && !strcmp(e->dtype_name, "F32"));
    int64_t wrong[2] = {7, 3};
    CHECK_INT(iris_safetensors_get_shaped(&st, "f32.odd", 2, wrong, &t), IRIS_ERR_SHAPE);
    CHECK(t == NULL && strstr(iris_last_error(), "'f32.odd' is f32[3,7], expected [7,3]"));
    CHECK_INT(iris_safetensors_get(&st, "nope", &t), IRIS_ERR_NOT_FOUND);
    CHECK(strstr(iris_last_error(), "tests/ref/st_loader.safetensors: no tensor 'nope'"));
    iris_safetensors_close(&st);
}

TEST(safetensors_resnet20) {
    const char *path = test_data("resnet/resnet20.safetensors");
    if (!path) return;
    iris_safetensors st;
    CHECK_OK(iris_safetensors_open(&st, path));
    if (!st.entries) return;
    CHECK_INT(st.n, 97);
    CHECK_INT(st.n_meta, 3);
    const char *arch = iris_safetensors_meta(&st, "arch"), *fmt = iris_safetensors_meta(&st, "format");
    CHECK(arch && !strcmp(arch, "resnet20-cifar10-optionA"));
    CHECK(fmt && !strcmp(fmt, "pt"));
    CHECK(!strcmp(st.entries[0].name, "bn1.bias") && !strcmp(st.entries[96].name, "linear.weight"));
    iris_tensor *t = NULL;
    int64_t conv1[4] = {16, 3, 3, 3};
    CHECK_OK(iris_safetensors_get_shaped(&st, "conv1.weight", 4, conv1, &t));
    if (t) {
        const float *f = t->data;
        CHECK((const uint8_t *)t->data == st.map.data + 8 + 8312);
        CHECK(f[0] == -0.13818146288394928f && f[1] == -0.1624176800251007f && f[2] == 0.8207383155822754f);
        CHECK(f[431] == 0.3087101876735687f);
        iris_tensor_free(t);
    }
    int64_t lin[2] = {10, 64};
    CHECK_OK(iris_safetensors_get_shaped(&st, "linear.weight", 2, lin, &t));
    if (t) {
        CHECK(((const float *)t->data)[0] == -1.0598125457763672f && ((const float *)t->data)[639] == 0.22667697072029114f);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_safetensors_get(&st, "linear.bias", &t));
    if (t) {
        CHECK(t->ndim == 1 && t->ne[0] == 10);
        CHECK(((const float *)t->data)[1] == -0.3431008756160736f && ((const float *)t->data)[9] == -0.27025941014289856f);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_safetensors_get(&st, "layer2.0.bn1.running_var", &t));
    if (t) {
        CHECK(t->ne[0] == 32 && ((const float *)t->data)[2] == 3.9619624614715576f);
        iris_tensor_free(t);
    }
    CHECK_OK(iris_safetensors_get(&st, "layer3.2.conv2.weight", &t));
    if (t) {
        CHECK(t->ndim == 4 && t->ne[0] == 64 && t->ne[1] == 64);
        CHECK(((const float *)t->data)[64 * 64 * 9 - 1] == 0.002880609128624201f);
        iris_tensor_free(t);
    }
    /* every entry is f32 and lies inside the file */
    int bad = 0;
    for (int i = 0; i < st.n; i++)
        bad += st.entries[i].dtype != IRIS_F32 || st.entries[i].end > st.map.size || st.entries[i].begin < 8 + 8312;
    CHECK_INT(bad, 0);
    iris_safetensors_close(&st);
}

/* ---------------------------------------------------------------- hostile input */

TEST(safetensors_rejects_bad_framing) {
    iris_safetensors st;
    uint8_t small[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    for (size_t n = 0; n < 8; n++) {
        CHECK_INT(iris_safetensors_parse(&st, small, n, "bad.st"), IRIS_ERR_FORMAT);
        CHECK(strstr(iris_last_error(), "too short"));
    }
    CHECK_INT(iris_safetensors_parse(&st, small, 8, "bad.st"), IRIS_ERR_FORMAT); /* length 2, no bytes */
    CHECK(strstr(iris_last_error(), "header length 2 does not fit the 8-byte file"));
    stbuf s = st_make("{}", 0);
    CHECK_OK(iris_safetensors_parse(&st, s.b, s.n, "ok.st"));
    CHECK_INT(st.n, 0);
    iris_safetensors_close(&st);
    /* header length past the end, absurd, too small */
    uint64_t lens[] = {3, 1ull << 40, UINT64_MAX, 0, 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(s.b, &lens[i], 8);
        CHECK_INT(iris_safetensors_parse(&st, s.b, s.n, "bad.st"), IRIS_ERR_FORMAT);
        CHECK(strstr(iris_last_error(), "does not fit"));
    }
    free(s.b);
    REJECT("[1,2]", 0, "header is not a JSON object");
    REJECT("\"str\"", 0, "header is not a JSON object");
    REJECT("{\"a\":", 0, "header is not a JSON object");
    REJECT("{\"a\":{}} trailing", 0, "tensor 'a' lacks"); /* cJSON stops after the object */
    REJECT("nul", 0, "header is not a JSON object");
    /* a header with an embedded NUL ends early */
    s = st_make("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    s.b[12] = 0;
    CHECK_INT(iris_safetensors_parse(&st, s.b, s.n, "bad.st"), IRIS_ERR_FORMAT);
    free(s.b);
}

TEST(safetensors_rejects_bad_entries) {
    REJECT("{\"a\":1}", 0, "tensor 'a' lacks dtype, shape or data_offsets");
    REJECT("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' lacks");
    REJECT("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' lacks");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, "tensor 'a' lacks");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4, "tensor 'a' lacks");
    REJECT("{\"a\":{\"dtype\":\"F7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F7'");
    REJECT("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'f32'");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "invalid dimension");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "invalid dimension");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "invalid dimension");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "invalid dimension");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "has 9 dims");
    /* 2^52 * 2^52 * 2^52 elements overflow 64 bits */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[4503599627370496,4503599627370496,4503599627370496],"
           "\"data_offsets\":[0,4]}}", 4, "shape overflows");
    /* 2^62 f32 elements: the element count fits, the byte count does not */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[4194304,4294967296,256],\"data_offsets\":[0,4]}}", 4, "needs");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "is not [begin, end]");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "is not [begin, end]");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 4, "is not [begin, end]");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "outside the 4 data bytes");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "outside");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, "[0, 8] outside the 4 data bytes");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4.5]}}", 8, "outside");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1e300,1e300]}}", 8, "outside");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, "is 20 bytes but its F32 shape needs 24");
    REJECT("{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,4]}}", 8, "needs 6");
    /* overlaps and duplicates */
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensors 'a' and 'b' overlap");
    REJECT("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "tensor 'a' appears twice");
    REJECT("{\"__metadata__\":[1]}", 0, "__metadata__ is not an object");
}

TEST(safetensors_accepts_edge_cases) {
    iris_safetensors st;
    stbuf s;
    /* zero-size tensors at a shared offset, before and after a real one (offset order ties) */
    const char *zero = "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                       "\"c\":{\"dtype\":\"F32\",\"shape\":[4,0],\"data_offsets\":[0,0]},"
                       "\"d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}";
    CHECK(accept_json(zero, 8, &st, &s));
    if (st.entries) {
        CHECK_INT(st.n, 4);
        iris_safetensors_close(&st);
    }
    free(s.b);
    /* reversed file order, adjacent tensors, metadata values that are not strings are skipped */
    const char *meta = "{\"__metadata__\":{\"k\":\"v\",\"num\":3,\"obj\":{}},"
                       "\"y\":{\"dtype\":\"I16\",\"shape\":[1,3],\"data_offsets\":[2,8]},"
                       "\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    CHECK(accept_json(meta, 8, &st, &s));
    if (st.entries) {
        CHECK_INT(st.n, 2);
        CHECK_INT(st.n_meta, 1);
        CHECK(iris_safetensors_meta(&st, "k") && !strcmp(iris_safetensors_meta(&st, "k"), "v"));
        CHECK(iris_safetensors_meta(&st, "num") == NULL);
        iris_tensor *t = NULL;
        CHECK_OK(iris_safetensors_get(&st, "y", &t));
        if (t) {
            const int16_t *v = t->data; /* bytes 2..7 = 02 03 04 05 06 07 */
            CHECK(t->ne[0] == 1 && t->ne[1] == 3 && v[0] == 0x0302 && v[2] == 0x0706);
            iris_tensor_free(t);
        }
        iris_safetensors_close(&st);
    }
    free(s.b);
    /* 0-dim tensors become [1]; BOOL reads as u8; F8 parses but cannot be handed out; 5+ dims likewise */
    const char *types = "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[4,6]},"
                        "\"e\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[6,8]},"
                        "\"u\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                        "\"five\":{\"dtype\":\"U8\",\"shape\":[1,1,2,1,1],\"data_offsets\":[12,14]},"
                        "\"huge\":{\"dtype\":\"F32\",\"shape\":[0,4398046511104],\"data_offsets\":[14,14]}}";
    CHECK(accept_json(types, 16, &st, &s));
    if (st.entries) {
        iris_tensor *t = NULL;
        CHECK_OK(iris_safetensors_get(&st, "s", &t));
        if (t) CHECK(t->ndim == 1 && t->ne[0] == 1);
        iris_tensor_free(t);
        CHECK_OK(iris_safetensors_get(&st, "b", &t));
        if (t) CHECK(t->dtype == IRIS_U8 && ((const uint8_t *)t->data)[1] == 5);
        iris_tensor_free(t);
        const iris_st_entry *e = iris_safetensors_find(&st, "e");
        CHECK(e && e->dtype == -1 && !strcmp(e->dtype_name, "F8_E4M3"));
        CHECK_INT(iris_safetensors_get(&st, "e", &t), IRIS_ERR_UNSUPPORTED);
        CHECK(t == NULL && strstr(iris_last_error(), "dtype F8_E4M3"));
        CHECK_INT(iris_safetensors_get(&st, "u", &t), IRIS_ERR_UNSUPPORTED);
        CHECK_INT(iris_safetensors_get(&st, "five", &t), IRIS_ERR_UNSUPPORTED);
        CHECK(strstr(iris_last_error(), "'five' has 5 dims"));
        /* a dim beyond what an iris tensor can describe: a clean error naming the tensor */
        CHECK(iris_safetensors_get(&st, "huge", &t) != IRIS_OK);
        CHECK(t == NULL);
        CHECK_MSG(strstr(iris_last_error(), "ok.st: tensor 'huge': ") && strstr(iris_last_error(), "absurd size"),
                  "message: %s", iris_last_error());
        iris_safetensors_close(&st);
    }
    free(s.b);
}

/* A second "__metadata__" key used to overflow the metadata arrays. */
TEST(safetensors_duplicate_metadata) {
    REJECT("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"},\"__metadata__\":{\"d\":\"4\"}}", 0,
           "__metadata__ appears twice");
    REJECT("{\"__metadata__\":{},\"__metadata__\":{\"d\":\"4\",\"e\":\"5\"}}", 0, "__metadata__ appears twice");
}

TEST(safetensors_truncated_at_every_byte) {
    char *raw;
    size_t n = 0;
    CHECK_OK(iris_read_file("tests/ref/st_loader.safetensors", &raw, &n));
    if (!raw) return;
    CHECK_INT(n, 997);
    int wrong = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, raw, len);
        iris_safetensors st;
        iris_status rc = iris_safetensors_parse(&st, copy, len, "cut.st");
        if (rc != IRIS_ERR_FORMAT || strncmp(iris_last_error(), "cut.st: ", 8)) wrong++;
        if (!rc) iris_safetensors_close(&st);
        free(copy);
    }
    CHECK_MSG(wrong == 0, "%d truncated lengths were not rejected cleanly", wrong);
    free(raw);
}

/* Single-byte corruptions of the header: never a crash; whatever parses is readable. */
TEST(safetensors_header_byte_flips) {
    char *raw;
    size_t n = 0;
    CHECK_OK(iris_read_file("tests/ref/st_loader.safetensors", &raw, &n));
    if (!raw) return;
    static const uint8_t vals[] = {'0', '9', '-', '"', '[', '{', ',', 0xff};
    uint8_t *copy = malloc(n);
    int ok = 0, failed = 0, bad_msg = 0;
    for (size_t i = 0; i < 736; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(copy, raw, n);
            if (copy[i] == vals[v]) continue;
            copy[i] = vals[v];
            iris_safetensors st;
            iris_status rc = iris_safetensors_parse(&st, copy, n, "flip.st");
            if (rc) {
                failed++;
                bad_msg += strncmp(iris_last_error(), "flip.st: ", 9) != 0;
                continue;
            }
            ok++;
            for (int e = 0; e < st.n; e++) {
                const iris_st_entry *en = &st.entries[e];
                bad_msg += en->end > n || en->begin > en->end;
            }
            iris_safetensors_close(&st);
        }
    }
    free(copy);
    free(raw);
    CHECK_INT(bad_msg, 0);
    CHECK(failed > 1000);
    CHECK(ok > 100);
}
