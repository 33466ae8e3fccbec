/* test_yolo_random.c - the C random YOLO weights/inputs equal the Python ones behind the OpenCV fixtures.
   Reference: tests/ref/yolo/<model>.safetensors from tests/ref/gen_yolo_random.py, which wrote the
   weights with numpy, fed them to OpenCV DNN (readNetFromDarknet, which infers every conv's input
   channels itself and whose weight shapes the generator checked) and stored the SHA-256 and size of
   that weights file, of the input tensor, and the float count and sum of every conv's parameters.
   Equality is exact: both sides round the same double expressions once to float32. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "yolo_random.h"

/* ---------------------------------------------------------------- SHA-256 (FIPS 180-4) */

typedef struct {
    uint32_t h[8];
    uint8_t block[64];
    size_t fill;
    uint64_t bytes;
} sha256_ctx;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void sha256_block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ w[i - 2] >> 10;
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha256_init(sha256_ctx *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->fill = 0;
    s->bytes = 0;
}

static void sha256_update(sha256_ctx *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->bytes += n;
    while (n) {
        if (!s->fill && n >= 64) {
            sha256_block(s->h, p);
            p += 64, n -= 64;
            continue;
        }
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, p, take);
        s->fill += take, p += take, n -= take;
        if (s->fill == 64) sha256_block(s->h, s->block), s->fill = 0;
    }
}

/* Lower-case hex digest into out[65]. */
static void sha256_hex(sha256_ctx *s, char out[65]) {
    uint64_t bits = s->bytes * 8;
    uint8_t pad[72] = {0x80};
    size_t npad = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++) pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, npad + 8);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", (unsigned)(s->h[i / 4] >> (24 - 8 * (i % 4))) & 0xff);
}

static void sha256_of(const void *data, size_t n, char out[65]) {
    sha256_ctx s;
    sha256_init(&s);
    sha256_update(&s, data, n);
    sha256_hex(&s, out);
}

TEST(yolo_random_sha256_known_answers) {
    char hex[65];
    sha256_of("abc", 3, hex); /* FIPS 180-2 appendix B.1 and B.2 */
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_of(two, strlen(two), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    sha256_of("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

/* ---------------------------------------------------------------- against the fixtures */

static const char *const SMALL[] = {"yolov3-tiny", "yolov4-tiny", "yolov7-tiny", "yolo-fastest-1.1"};
static const char *const LARGE[] = {"yolov3", "yolov4", "yolov4-csp"};

static const void *ref_data(iris_safetensors *st, const char *name, iris_dtype dt, int64_t *n) {
    iris_tensor *t;
    if (iris_safetensors_get(st, name, &t) || t->dtype != dt) {
        CHECK_MSG(0, "fixture tensor %s missing or of another dtype", name);
        return NULL;
    }
    const void *d = t->data;
    *n = iris_nelements(t);
    iris_tensor_free(t); /* a header over the mapping: data stays valid */
    return d;
}

/* Per-conv float counts and sums, so a mismatch names the first layer that diverges. */
static void check_convs(iris_safetensors *st, const char *model, const uint8_t *buf, size_t n) {
    int64_t nl, nc, ns;
    const int64_t *layer = ref_data(st, "conv_layer", IRIS_I64, &nl);
    const int64_t *count = ref_data(st, "conv_floats", IRIS_I64, &nc);
    const double *sum = ref_data(st, "conv_sum", IRIS_F64, &ns);
    if (!layer || !count || !sum || !CHECK(nl == nc && nc == ns)) return;
    size_t off = 20;
    for (int64_t i = 0; i < nc; i++) {
        if (!CHECK_MSG(off + 4 * (size_t)count[i] <= n, "%s: weights end inside conv layer %lld", model,
                       (long long)layer[i]))
            return;
        double s = 0, sabs = 0;
        for (int64_t j = 0; j < count[i]; j++) {
            float v;
            memcpy(&v, buf + off + 4 * (size_t)j, 4);
            s += v;
            sabs += fabs(v);
        }
        off += 4 * (size_t)count[i];
        /* numpy sums pairwise, we sequentially: both in double over the same floats */
        if (!CHECK_MSG(fabs(s - sum[i]) <= 1e-12 * sabs + 1e-30, "%s: conv layer %lld sum %.17g, Python %.17g",
                       model, (long long)layer[i], s, sum[i]))
            return;
    }
    CHECK_MSG(off == n, "%s: %zu bytes after the last conv, Python %zu", model, n, off);
}

static void check_model(const char *model) {
    char file[96], hex[65];
    snprintf(file, sizeof file, "yolo/%s.safetensors", model);
    iris_safetensors *st = test_ref(file);
    if (!st) return;
    const char *cfg_rel = iris_safetensors_meta(st, "cfg"), *want_sha = iris_safetensors_meta(st, "weights_sha256");
    const char *size_s = iris_safetensors_meta(st, "weights_bytes"), *seed_s = iris_safetensors_meta(st, "seed");
    if (!CHECK(cfg_rel && want_sha && size_s && seed_s)) return;
    const char *p = test_data(cfg_rel);
    if (!p) return;
    char cfg_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s", p);
    uint64_t seed = strtoull(seed_s, NULL, 10);

    uint8_t *buf;
    size_t n;
    CHECK_OK(yolo_random_weights(cfg_path, seed, &buf, &n));
    if (!buf) return;
    CHECK_MSG(n == strtoull(size_s, NULL, 10), "%s: %zu bytes, Python %s", model, n, size_s);
    check_convs(st, model, buf, n);
    sha256_of(buf, n, hex);
    CHECK_MSG(!strcmp(hex, want_sha), "%s: weights sha256 %s, Python %s", model, hex, want_sha);

    /* the library's reader takes the bytes: right header, every float accounted for */
    iris_darknet_weights w;
    CHECK_OK(iris_darknet_weights_parse(&w, buf, n, model));
    CHECK(w.major == 0 && w.minor == 2 && w.revision == 5 && w.seen == 0 && w.header_bytes == 20);
    CHECK(iris_darknet_weights_remaining(&w) == (n - 20) / 4);
    iris_darknet_weights_close(&w);
    free(buf);

    const char *w_s = iris_safetensors_meta(st, "width"), *h_s = iris_safetensors_meta(st, "height");
    const char *in_sha = iris_safetensors_meta(st, "input_sha256");
    if (!CHECK(w_s && h_s && in_sha)) return;
    size_t nx = 3 * (size_t)atoi(w_s) * (size_t)atoi(h_s);
    float *x = malloc(nx * sizeof *x);
    if (!CHECK(x)) return;
    yolo_random_input(seed, x, nx); /* little-endian floats, as the fixture hashed them */
    sha256_of(x, nx * sizeof *x, hex);
    CHECK_MSG(!strcmp(hex, in_sha), "%s: input sha256 %s, Python %s", model, hex, in_sha);
    int in_range = 1;
    for (size_t i = 0; i < nx; i++) in_range &= x[i] > 0 && x[i] < 1;
    CHECK(in_range);
    free(x);
}

TEST(yolo_random_weights_small_match_python) {
    for (size_t i = 0; i < sizeof SMALL / sizeof *SMALL; i++) check_model(SMALL[i]);
}

/* 212-258 MB of weights each */
TEST(yolo_random_weights_large_match_python) {
    for (size_t i = 0; i < sizeof LARGE / sizeof *LARGE; i++) check_model(LARGE[i]);
}

/* ---------------------------------------------------------------- bad cfgs */

static void expect_fail(const char *text, int want, const char *needle) {
    iris_darknet_cfg cfg;
    if (!CHECK(iris_darknet_cfg_parse(&cfg, text, strlen(text), "bad.cfg") == IRIS_OK)) return;
    uint8_t *buf = (uint8_t *)1;
    size_t n = 7;
    int st = yolo_random_weights_cfg(&cfg, 1, &buf, &n);
    CHECK_MSG(st == want, "status %s, want %s (%s)", iris_status_name(st), iris_status_name(want), iris_last_error());
    CHECK(buf == NULL && n == 0);
    CHECK_MSG(strstr(iris_last_error(), needle) != NULL, "message '%s' lacks '%s'", iris_last_error(), needle);
    iris_darknet_cfg_close(&cfg);
}

#define NET "[net]\nwidth=32\nheight=32\nchannels=3\n"

TEST(yolo_random_rejects_bad_cfgs) {
    expect_fail(NET "[convolutional]\nfilters=4\nsize=3\ngroups=2\n", IRIS_ERR_SHAPE, "bad.cfg:5:");
    expect_fail(NET "[convolutional]\nfilters=4\n[route]\nlayers=-2\n", IRIS_ERR_FORMAT, "bad.cfg:7: [route]");
    expect_fail(NET "[convolutional]\nfilters=4\n[route]\nlayers=3\n", IRIS_ERR_FORMAT, "not an earlier layer");
    expect_fail(NET "[convolutional]\nfilters=5\n[route]\nlayers=-1\ngroups=2\ngroup_id=1\n", IRIS_ERR_SHAPE,
                "do not split");
    expect_fail(NET "[convolutional]\nfilters=4\n[route]\nlayers=-1\ngroups=2\ngroup_id=2\n", IRIS_ERR_FORMAT,
                "group_id=2");
    expect_fail(NET "[convolutional]\nfilters=4\n[convolutional]\nfilters=4\nstride=2\n[route]\nlayers=-1,0\n",
                IRIS_ERR_SHAPE, "[route] layer 0 is 32x32, layer 1 is 16x16");
    expect_fail(NET "[convolutional]\nfilters=4\n[shortcut]\nfrom=-3\n", IRIS_ERR_FORMAT, "[shortcut]");
    expect_fail(NET "[convolutional]\nfilters=4\n[shortcut]\nfrom=-1\nweights_type=per_channel\n",
                IRIS_ERR_UNSUPPORTED, "weights_type");
    expect_fail(NET "[connected]\noutput=10\n", IRIS_ERR_UNSUPPORTED, "[connected]");
    expect_fail(NET "[convolutional]\nfilters=4x\n", IRIS_ERR_FORMAT, "filters");
    expect_fail(NET "[convolutional]\nfilters=4\nsize=64\n", IRIS_ERR_SHAPE, "is empty");
    expect_fail("[convolutional]\nfilters=4\n", IRIS_ERR_FORMAT, "starts with [net]");
}

/* A hand-checked tiny cfg: conv(3->4, 3x3, BN) then conv(4->2, 1x1, linear, no BN) */
TEST(yolo_random_tiny_layout) {
    const char *text = NET "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nactivation=leaky\n"
                           "[convolutional]\nfilters=2\nsize=1\nactivation=linear\n";
    iris_darknet_cfg cfg;
    CHECK_OK(iris_darknet_cfg_parse(&cfg, text, strlen(text), "tiny.cfg"));
    uint8_t *buf;
    size_t n;
    CHECK_OK(yolo_random_weights_cfg(&cfg, 42, &buf, &n));
    iris_darknet_cfg_close(&cfg);
    if (!buf) return;
    CHECK_INT(n, 20 + 4 * (4 * 4 + 4 * 3 * 9 + 2 + 2 * 4));
    float f[4 * 4 + 4 * 27 + 2 + 8];
    memcpy(f, buf + 20, sizeof f);
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        ok &= fabsf(f[i]) <= 0.1f && fabsf(f[4 + i] - 1) <= 0.2f && fabsf(f[8 + i]) <= 0.1f && fabsf(f[12 + i] - 1) <= 0.5f;
    }
    for (int i = 0; i < 108; i++) ok &= fabsf(f[16 + i]) <= sqrtf(6.f / 27);
    for (int i = 0; i < 2; i++) ok &= fabsf(f[124 + i]) <= 0.1f;
    for (int i = 0; i < 8; i++) ok &= fabsf(f[126 + i]) <= sqrtf(3.f / 4);
    CHECK(ok);
    free(buf);
}
