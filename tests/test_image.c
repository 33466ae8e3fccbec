/* test_image.c - image decoding/encoding, orientation, resizing, letterbox, normalisation.
   References: OpenCV 4.6 outputs stored in shared/data (ResNet 32x32 inputs made with
   cv2.imread + cv2.resize(INTER_AREA); darknet's and OpenCV's YOLO input tensors;
   FastestDet's INTER_AREA input), PyTorch F.interpolate and PIL decodes in
   tests/ref/image_ref.safetensors (tests/ref/gen_image.py), hand-worked geometry. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* ---- helpers ---- */

static uint8_t *read_all(const char *path, size_t *n) {
    char *buf;
    if (iris_read_file(path, &buf, n)) return NULL;
    return (uint8_t *)buf;
}

static float *read_f32_file(const char *path, size_t count) {
    size_t n;
    uint8_t *b = read_all(path, &n);
    if (!b) return NULL;
    if (n != count * sizeof(float)) {
        free(b);
        return NULL;
    }
    float *f = malloc(n);
    memcpy(f, b, n);
    free(b);
    return f;
}

/* Counts bytes that differ, and the largest difference. */
static long count_diff(const uint8_t *a, const uint8_t *b, size_t n, int *maxd) {
    long bad = 0;
    *maxd = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d) bad++;
        if (d > *maxd) *maxd = d;
    }
    return bad;
}

/* ---- OpenCV references in shared/data ---- */

/* dog.jpg decoded into *img and the f32 reference tensor `rel` (count values), both from shared
   data; NULL, with nothing loaded, when either file is missing. */
static float *dog_with_reference(iris_image *img, const char *rel, size_t count) {
    const char *ip = test_data("images/dog.jpg");
    if (!ip) return NULL;
    char ip_copy[4096]; /* test_data reuses its buffer */
    snprintf(ip_copy, sizeof ip_copy, "%s", ip);
    const char *tp = test_data(rel);
    if (!tp) return NULL;
    float *want = read_f32_file(tp, count);
    CHECK(want != NULL);
    if (!want) return NULL;
    CHECK_OK(iris_image_load(img, ip_copy, NULL));
    return want;
}

TEST(image_area_matches_resnet_reference) {
    const char *jp = test_data("resnet/reference/resnet20_logits.json");
    if (!jp) return;
    char *txt;
    size_t tn;
    CHECK_OK(iris_read_file(jp, &txt, &tn));
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    CHECK(root != NULL);
    if (!root) return;
    cJSON *res = cJSON_GetObjectItem(root, "results"), *r;
    int images = 0;
    cJSON_ArrayForEach(r, res) {
        const char *rel = cJSON_GetObjectItem(r, "image")->valuestring;
        cJSON *px = cJSON_GetObjectItem(r, "input_rgb_u8_hwc_32x32");
        CHECK_INT(cJSON_GetArraySize(px), 32 * 32 * 3);
        uint8_t want[32 * 32 * 3];
        int i = 0;
        cJSON *v;
        cJSON_ArrayForEach(v, px) if (i < 3072) want[i++] = (uint8_t)v->valueint;
        const char *path = test_data(rel);
        if (!path) break;
        iris_image img, small;
        iris_image_read_params p = iris_image_default_read_params();
        p.channels = 3;
        CHECK_OK(iris_image_load(&img, path, &p));
        CHECK_OK(iris_image_resize(&small, &img, 32, 32, IRIS_RESIZE_AREA));
        if (small.data) {
            int maxd;
            long bad = count_diff(small.data, want, sizeof want, &maxd);
            CHECK_MSG(bad == 0, "%s (%dx%d): %ld of 3072 bytes differ from OpenCV, max %d", rel, img.w, img.h, bad,
                      maxd);
        }
        iris_image_free(&img);
        iris_image_free(&small);
        images++;
    }
    CHECK_INT(images, 8);
    cJSON_Delete(root);
}

/* darknet (built with OpenCV image I/O): imread -> u8/255 -> letterbox_image (own
   bilinear resize, 0.5 grey) -> CHW RGB; dog.jpg is 768x576 -> 320x240 at y 40. */
TEST(image_letterbox_matches_darknet) {
    iris_image img;
    float *want = dog_with_reference(
        &img, "yolo/reference/tensors/yolo-fastest-1.1.darknet-letterbox.dog/input_1x3x320x320_f32le.bin", 3 * 320 * 320);
    if (!want) return;
    float *hwc = malloc(320 * 320 * 3 * sizeof(float)), *chw = malloc(320 * 320 * 3 * sizeof(float));
    iris_letterbox lb;
    CHECK_OK(iris_image_letterbox_f32(hwc, &img, 320, 320, IRIS_RESIZE_DARKNET, 0.5f, &lb));
    CHECK_INT(lb.new_w, 320);
    CHECK_INT(lb.new_h, 240);
    CHECK_INT(lb.off_x, 0);
    CHECK_INT(lb.off_y, 40);
    CHECK_OK(iris_hwc_to_nchw_f32(hwc, 320, 320, 3, chw, NULL));
    CHECK_CLOSE(chw, want, 3 * 320 * 320, 0, 0); /* bit for bit */
    free(hwc), free(chw), free(want);
    iris_image_free(&img);
}

/* OpenCV letterbox (same geometry, cv2.resize INTER_LINEAR on u8 in fixed
   point): our float bilinear rounded to u8 is within one level. */
TEST(image_letterbox_bilinear_near_opencv) {
    iris_image img, box;
    float *want = dog_with_reference(
        &img, "yolo/reference/tensors/yolo-fastest-1.1.opencv-letterbox.dog/input_1x3x320x320_f32le.bin", 3 * 320 * 320);
    if (!want) return;
    iris_letterbox lb;
    CHECK_OK(iris_image_letterbox(&box, &img, 320, 320, IRIS_RESIZE_BILINEAR, 128, &lb));
    float *chw = malloc(320 * 320 * 3 * sizeof(float));
    CHECK_OK(iris_image_to_nchw(&box, chw, NULL));
    long off1 = 0, off2 = 0, inside = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int y = lb.off_y; y < lb.off_y + lb.new_h; y++)
            for (int x = 0; x < 320; x++) {
                size_t i = ((size_t)ch * 320 + y) * 320 + x;
                double d = fabs(chw[i] - want[i]) * 255;
                inside++;
                if (d > 0.5) off1++;
                if (d > 1.5) off2++;
            }
    CHECK_MSG(off2 == 0, "%ld of %ld values differ by more than one level", off2, inside);
    CHECK_MSG(off1 < inside / 10, "%ld of %ld values differ by one level", off1, inside);
    printf("    opencv letterbox: %ld of %ld values one level off\n", off1, inside);
    free(chw), free(want);
    iris_image_free(&img);
    iris_image_free(&box);
}

/* FastestDet input: BGR, cv2.resize INTER_AREA 768x576 -> 352x352 (non-integer
   factors: fractional overlaps), /255, CHW. */
TEST(image_area_fractional_matches_opencv) {
    iris_image img, small;
    float *want = dog_with_reference(&img, "yolo/reference/tensors/FastestDet.opencv.dog/input_1x3x352x352_f32le.bin",
                                     3 * 352 * 352);
    if (!want) return;
    CHECK_OK(iris_image_resize(&small, &img, 352, 352, IRIS_RESIZE_AREA));
    float *chw = malloc(352 * 352 * 3 * sizeof(float));
    iris_normalize bgr = {.mean = {0, 0, 0}, .std = {1, 1, 1}, .bgr = 1};
    CHECK_OK(iris_image_to_nchw(&small, chw, &bgr));
    CHECK_CLOSE(chw, want, 3 * 352 * 352, 0, 0);
    free(chw), free(want);
    iris_image_free(&img);
    iris_image_free(&small);
}

/* ---- fixtures from tests/ref/gen_image.py ---- */

#define FIX "tests/ref/image/"

/* Expected u8 HWC pixels from image_ref.safetensors; h, w, c filled in. */
static const uint8_t *ref_u8(const char *name, int *h, int *w, int *c) {
    iris_safetensors *st = test_ref("image_ref.safetensors");
    if (!st) return NULL;
    const iris_st_entry *e = iris_safetensors_find(st, name);
    if (!e || e->dtype != IRIS_U8 || e->ndim != 3) {
        CHECK_MSG(0, "reference %s missing or not u8 HWC", name);
        return NULL;
    }
    *h = (int)e->shape[0], *w = (int)e->shape[1], *c = (int)e->shape[2];
    return st->map.data + e->begin;
}

/* Loads FIX<file> and checks it equals reference `name` exactly. */
static void check_decode(const char *file, const char *name, const iris_image_read_params *p) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s", file);
    int h, w, c;
    const uint8_t *want = ref_u8(name, &h, &w, &c);
    iris_image img;
    iris_status st = iris_image_load(&img, path, p);
    CHECK_MSG(st == IRIS_OK, "%s: %s", path, iris_last_error());
    if (st || !want) return;
    CHECK_MSG(img.w == w && img.h == h && img.c == c, "%s: got %dx%dx%d, want %dx%dx%d", file, img.w, img.h, img.c, w,
              h, c);
    if (img.w == w && img.h == h && img.c == c) {
        int maxd;
        long bad = count_diff(img.data, want, (size_t)w * h * c, &maxd);
        CHECK_MSG(bad == 0, "%s: %ld bytes differ (max %d)", file, bad, maxd);
    }
    iris_image_free(&img);
}

TEST(image_png_fixtures) {
    static const char *cases[][2] = {
        {"rgb8.png", "rgb8"},           {"rgba8.png", "rgba8"},
        {"gray8.png", "gray8"},         {"gray16.png", "gray16"},
        {"rgb16.png", "rgb16"},         {"rgba16_adam7.png", "rgba16_adam7"},
        {"ga8.png", "ga8"},             {"pal8_trns.png", "pal8_trns"},
        {"pal4.png", "pal4"},           {"gray1.png", "gray1"},
        {"gray2_adam7.png", "gray2_adam7"}, {"gray_trns.png", "gray_trns"},
        {"rgb8_adam7.png", "rgb8_adam7"}, {"rgb8_1x3_adam7.png", "rgb8_1x3_adam7"},
        {"text.png", "text"},           {"exif6.png", "exif6"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_decode(cases[i][0], cases[i][1], NULL);
}

TEST(image_png_text_chunks) {
    iris_image img;
    CHECK_OK(iris_image_load(&img, FIX "text.png", NULL));
    CHECK_INT(img.n_text, 4);
    const char *t = iris_image_get_text(&img, "Title");
    CHECK(t && !strcmp(t, "caf\xc3\xa9 au lait")); /* Latin-1 e-acute handed out as UTF-8 */
    t = iris_image_get_text(&img, "prompt");
    CHECK(t && !strcmp(t, "a fox \xe2\x98\x83 in snow")); /* iTXt after IDAT */
    t = iris_image_get_text(&img, "seed");
    CHECK(t && !strcmp(t, "42"));
    t = iris_image_get_text(&img, "Comment"); /* zTXt */
    CHECK(t && strlen(t) == 17 * 20 && !strncmp(t, "compressed words compressed", 27));
    CHECK(iris_image_get_text(&img, "missing") == NULL);
    iris_image_free(&img);
}

/* A chunk that claims 1.9 GB in a 300-byte file (found by fuzz_image: libpng
   allocated the claimed length before reading) is refused up front. */
TEST(image_png_huge_chunk_length_refused) {
    size_t n;
    uint8_t *b = read_all(FIX "text.png", &n);
    CHECK(b != NULL);
    if (!b) return;
    b[33] = 0x75, b[34] = 0x00, b[35] = 0x27, b[36] = 0x7a; /* the tEXt chunk's length */
    iris_image img;
    CHECK_INT(iris_image_decode(&img, b, n, "claims.png", NULL), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "claims.png") != NULL);
    free(b);
}

TEST(image_png_bad_crc_refused) {
    iris_image img;
    CHECK_INT(iris_image_load(&img, FIX "bad_crc.png", NULL), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "bad_crc.png") != NULL);
    CHECK(img.data == NULL);
}

TEST(image_jpeg_fixtures_match_pil) {
    check_decode("rgb420.jpg", "rgb420", NULL);
    check_decode("gray.jpg", "gray_jpg", NULL);
    check_decode("progressive.jpg", "progressive", NULL);
    check_decode("cmyk.jpg", "cmyk", NULL);
}

TEST(image_jpeg_exif_orientation) {
    int bh, bw, bc;
    const uint8_t *base = ref_u8("orient_base", &bh, &bw, &bc);
    if (!base) return;
    for (int o = 1; o <= 8; o++) {
        char file[32], name[32];
        snprintf(file, sizeof file, "orient%d.jpg", o);
        snprintf(name, sizeof name, "orient%d", o);
        check_decode(file, name, NULL); /* = PIL decode + ImageOps.exif_transpose */
        char path[64];
        snprintf(path, sizeof path, FIX "%s", file);
        iris_image img;
        CHECK_OK(iris_image_load(&img, path, NULL));
        CHECK_MSG(img.w == bw && img.h == bh, "orientation %d: %dx%d", o, img.w, img.h);
        if (img.w == bw && img.h == bh) {
            int maxd;
            count_diff(img.data, base, (size_t)bw * bh * 3, &maxd);
            CHECK_MSG(maxd < 40, "orientation %d: upright image is off the base by %d", o, maxd);
        }
        /* the stored bytes: o >= 5 swaps width and height */
        CHECK_INT(iris_exif_orientation(NULL, 0), 0);
        iris_image_free(&img);
    }
    check_decode("orient8_be.jpg", "orient8_be", NULL); /* big-endian TIFF, tag after another entry */
    iris_image_read_params p = iris_image_default_read_params();
    p.orient = 0;
    check_decode("orient6.jpg", "orient6_stored", &p);
    iris_image img;
    CHECK_OK(iris_image_load(&img, FIX "orient6.jpg", &p));
    CHECK_INT(img.w, bh);
    CHECK_INT(img.h, bw);
    iris_image_free(&img);
}

TEST(image_stb_formats) {
    static const char *cases[][2] = {
        {"rgb.bmp", "rgb_bmp"}, {"pal.bmp", "pal_bmp"}, {"pal.gif", "pal_gif"},     {"rgb.tga", "rgb_tga"},
        {"rgb_rle.tga", "rgb_tga"}, {"rgb.ppm", "rgb_tga"}, {"gray.pgm", "gray_pgm"}, {"gray16.pgm", "gray16_pgm"},
        {"rgb.psd", "rgb_tga"}, {"gray16.psd", "gray16_psd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_decode(cases[i][0], cases[i][1], NULL);
}

/* PSD composite with alpha, PackBits rows, colours matted against white
   (rounded to bytes by the writer, so un-matting is exact only at alpha 255). */
TEST(image_psd_alpha_unmatted) {
    int h, w, c;
    const uint8_t *want = ref_u8("rgba_psd_straight", &h, &w, &c);
    iris_image img;
    CHECK_OK(iris_image_load(&img, FIX "rgba_rle.psd", NULL));
    if (!want || !img.data) return;
    CHECK(img.w == w && img.h == h && img.c == 4);
    int alpha_ok = 1, opaque_ok = 1, clear_white = 1, bad = 0;
    for (int i = 0; i < w * h; i++) {
        const uint8_t *g = img.data + 4 * i, *o = want + 4 * i;
        alpha_ok &= g[3] == o[3];
        for (int k = 0; k < 3; k++) {
            if (o[3] == 255) opaque_ok &= g[k] == o[k];
            else if (o[3] == 0) clear_white &= g[k] == 255;
            else if (fabs((double)g[k] - o[k]) > 0.5 * 255 / o[3] + 1) bad++;
        }
    }
    CHECK(alpha_ok);
    CHECK(opaque_ok);
    CHECK(clear_white);
    CHECK_INT(bad, 0);
    iris_image_free(&img);
}

/* Every fixture's first bytes name its format. */
static const struct {
    const char *file;
    iris_image_format fmt;
} all_files[] = {
    {"rgb8.png", IRIS_IMAGE_PNG},      {"rgba16_adam7.png", IRIS_IMAGE_PNG}, {"pal8_trns.png", IRIS_IMAGE_PNG},
    {"gray1.png", IRIS_IMAGE_PNG},     {"text.png", IRIS_IMAGE_PNG},         {"exif6.png", IRIS_IMAGE_PNG},
    {"orient6.jpg", IRIS_IMAGE_JPEG},  {"orient8_be.jpg", IRIS_IMAGE_JPEG},  {"rgb420.jpg", IRIS_IMAGE_JPEG},
    {"gray.jpg", IRIS_IMAGE_JPEG},     {"progressive.jpg", IRIS_IMAGE_JPEG}, {"cmyk.jpg", IRIS_IMAGE_JPEG},
    {"rgb.bmp", IRIS_IMAGE_BMP},       {"pal.bmp", IRIS_IMAGE_BMP},          {"pal.gif", IRIS_IMAGE_GIF},
    {"rgb.tga", IRIS_IMAGE_TGA},       {"rgb_rle.tga", IRIS_IMAGE_TGA},      {"rgb.ppm", IRIS_IMAGE_PNM},
    {"gray.pgm", IRIS_IMAGE_PNM},      {"gray16.pgm", IRIS_IMAGE_PNM},       {"rgb.psd", IRIS_IMAGE_PSD},
    {"rgba_rle.psd", IRIS_IMAGE_PSD},  {"gray16.psd", IRIS_IMAGE_PSD},
};
#define N_FILES (sizeof all_files / sizeof all_files[0])

TEST(image_sniff) {
    for (size_t i = 0; i < N_FILES; i++) {
        char path[128];
        snprintf(path, sizeof path, FIX "%s", all_files[i].file);
        size_t n;
        uint8_t *b = read_all(path, &n);
        CHECK(b != NULL);
        if (!b) continue;
        CHECK_MSG(iris_image_sniff(b, n < 18 ? n : 18) == all_files[i].fmt, "%s sniffed as %s", all_files[i].file,
                  iris_image_format_name(iris_image_sniff(b, 18)));
        free(b);
    }
    static const char *not_images[] = {"hello world, this is text\n", "P3\n2 2\n255\n", "BM this is not a bitmap",
                                       "{\"json\": true}", "8BPS\x00\x02"};
    for (size_t i = 0; i < sizeof not_images / sizeof not_images[0]; i++)
        CHECK_INT(iris_image_sniff((const uint8_t *)not_images[i], strlen(not_images[i])), IRIS_IMAGE_UNKNOWN);
    static const uint8_t png_short[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a};
    CHECK_INT(iris_image_sniff(png_short, sizeof png_short), IRIS_IMAGE_UNKNOWN);
    CHECK_INT(iris_image_sniff(NULL, 100), IRIS_IMAGE_UNKNOWN);
    /* random bytes are almost never an image: count, over many tries */
    uint32_t s = 12345;
    int hits = 0;
    for (int t = 0; t < 100000; t++) {
        uint8_t b[18];
        for (int i = 0; i < 18; i++) s = s * 1103515245u + 12345u, b[i] = (uint8_t)(s >> 16);
        hits += iris_image_sniff(b, 18) != IRIS_IMAGE_UNKNOWN;
    }
    CHECK_MSG(hits < 10, "%d of 100000 random headers taken for images", hits);
    CHECK(!strcmp(iris_image_format_name(IRIS_IMAGE_JPEG), "jpeg"));
}

/* Every prefix of every fixture fails cleanly, except where only bytes after
   the pixels are missing (a JPEG's EOI marker, a GIF's trailer, a TGA's
   footer): such a prefix must then decode to exactly the full picture. PNGs
   are strict: any missing byte is an error. */
TEST(image_truncated_files_fail) {
    for (size_t i = 0; i < N_FILES; i++) {
        char path[128];
        snprintf(path, sizeof path, FIX "%s", all_files[i].file);
        size_t n;
        uint8_t *b = read_all(path, &n);
        if (!b) continue;
        iris_image full;
        CHECK_OK(iris_image_decode(&full, b, n, path, NULL));
        long ok_short = 0, bad = 0;
        for (size_t len = 0; len < n; len++) {
            uint8_t *cut = malloc(len ? len : 1);
            memcpy(cut, b, len);
            iris_image img;
            iris_status st = iris_image_decode(&img, cut, len, "cut", NULL);
            if (st == IRIS_OK) {
                ok_short++;
                if (img.w != full.w || img.h != full.h || img.c != full.c ||
                    memcmp(img.data, full.data, (size_t)img.w * img.h * img.c))
                    bad++;
                iris_image_free(&img);
            } else {
                CHECK_MSG(img.data == NULL && strstr(iris_last_error(), "cut"), "%s at %zu: %s", all_files[i].file,
                          len, iris_last_error());
            }
            free(cut);
        }
        CHECK_MSG(bad == 0, "%s: %ld truncated versions decoded to something else", all_files[i].file, bad);
        long allowed = all_files[i].fmt == IRIS_IMAGE_JPEG  ? 2
                       : all_files[i].fmt == IRIS_IMAGE_GIF ? 1
                       : all_files[i].fmt == IRIS_IMAGE_TGA ? 26 /* TGA 2.0 footer */
                                                            : 0;
        CHECK_MSG(ok_short <= allowed, "%s: %ld of %zu prefixes decoded", all_files[i].file, ok_short, n);
        iris_image_free(&full);
        free(b);
    }
}

/* Flipped bytes: anything may come back, but no crash, leak or overread (run under asan). */
TEST(image_corrupt_bytes_do_not_crash) {
    uint32_t s = 777;
    long decoded = 0, failed = 0;
    for (size_t i = 0; i < N_FILES; i++) {
        char path[128];
        snprintf(path, sizeof path, FIX "%s", all_files[i].file);
        size_t n;
        uint8_t *b = read_all(path, &n);
        if (!b) continue;
        for (int t = 0; t < 200; t++) {
            uint8_t *c = malloc(n);
            memcpy(c, b, n);
            int flips = 1 + t % 4;
            for (int f = 0; f < flips; f++) {
                s = s * 1103515245u + 12345u;
                c[(s >> 8) % n] ^= (uint8_t)(1u << ((s >> 4) & 7));
            }
            iris_image img;
            iris_image_read_params p = iris_image_default_read_params();
            p.max_pixels = 1 << 22;
            if (iris_image_decode(&img, c, n, "flipped", &p) == IRIS_OK) {
                decoded++;
                CHECK(img.w >= 1 && img.h >= 1 && img.data);
                iris_image_free(&img);
            } else {
                failed++;
            }
            free(c);
        }
        free(b);
    }
    CHECK(failed > 0);
    printf("    corrupt files: %ld decoded, %ld refused\n", decoded, failed);
}

TEST(image_size_limits_before_allocation) {
    /* a real PNG whose IHDR is patched to claim 20000 x 7 (CRC fixed up):
       refused from the header, before any pixel memory */
    size_t n;
    uint8_t *png = read_all(FIX "rgb8.png", &n);
    CHECK(png != NULL);
    if (!png) return;
    png[16] = 0, png[17] = 0, png[18] = 20000 >> 8, png[19] = 20000 & 255;
    uint32_t crc = 0xffffffffu; /* CRC-32 of chunk type + data, bit by bit */
    for (int i = 12; i < 29; i++) {
        crc ^= png[i];
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xedb88320u : crc >> 1;
    }
    crc ^= 0xffffffffu;
    png[29] = (uint8_t)(crc >> 24), png[30] = (uint8_t)(crc >> 16), png[31] = (uint8_t)(crc >> 8), png[32] = (uint8_t)crc;
    iris_image img;
    CHECK_INT(iris_image_decode(&img, png, n, "huge.png", NULL), IRIS_ERR_UNSUPPORTED);
    CHECK(strstr(iris_last_error(), "huge.png") && strstr(iris_last_error(), "20000x7"));
    /* the same picture size through the pixel limit */
    iris_image_read_params p = iris_image_default_read_params();
    p.max_side = 30000;
    p.max_pixels = 100000;
    CHECK_INT(iris_image_decode(&img, png, n, "huge.png", &p), IRIS_ERR_UNSUPPORTED);
    CHECK(strstr(iris_last_error(), "limit of 100000 pixels") != NULL);
    p.max_pixels = 200000; /* allowed now: fails later, on the (too short) pixel data */
    CHECK_INT(iris_image_decode(&img, png, n, "huge.png", &p), IRIS_ERR_FORMAT);
    free(png);
    /* JPEG: take a real file and patch its SOF to 17000 wide */
    uint8_t *b = read_all(FIX "rgb420.jpg", &n);
    CHECK(b != NULL);
    if (!b) return;
    for (size_t i = 2; i + 9 < n; i++)
        if (b[i] == 0xff && b[i + 1] == 0xc0) {
            b[i + 7] = 17000 >> 8, b[i + 8] = 17000 & 255;
            break;
        }
    CHECK_INT(iris_image_decode(&img, b, n, "wide.jpg", NULL), IRIS_ERR_UNSUPPORTED);
    CHECK(strstr(iris_last_error(), "17000x9") != NULL);
    /* within the limits, but 684 bytes cannot code 4000 x 4000 (one bit per block at least) */
    for (size_t i = 2; i + 9 < n; i++)
        if (b[i] == 0xff && b[i + 1] == 0xc0) {
            b[i + 5] = 4000 >> 8, b[i + 6] = 4000 & 255, b[i + 7] = 4000 >> 8, b[i + 8] = 4000 & 255;
            break;
        }
    CHECK_INT(iris_image_decode(&img, b, n, "thin.jpg", NULL), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "cannot hold a 4000x4000") != NULL);
    free(b);
    /* a GIF screen of 10000 x 10000 in 847 bytes: refused before stb clears a 400 MB canvas */
    b = read_all(FIX "pal.gif", &n);
    if (!b) return;
    b[6] = 10000 & 255, b[7] = 10000 >> 8, b[8] = 10000 & 255, b[9] = 10000 >> 8;
    CHECK_INT(iris_image_decode(&img, b, n, "screen.gif", NULL), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "cannot hold") != NULL);
    free(b);
    /* BMP header claiming 16385 x 16385 */
    b = read_all(FIX "rgb.bmp", &n);
    if (!b) return;
    b[18] = 0x01, b[19] = 0x40, b[20] = 0, b[21] = 0; /* width 16385 */
    CHECK(iris_image_decode(&img, b, n, "big.bmp", NULL) != IRIS_OK);
    CHECK(img.data == NULL);
    free(b);
}

/* PNM samples scale by maxval (255/15 = 17 per step); values above it clamp. */
TEST(image_pnm_maxval) {
    static const uint8_t pgm[] = "P5 # a comment\n4 1\n15\n\x00\x07\x0f\x14";
    iris_image img;
    CHECK_OK(iris_image_decode(&img, pgm, sizeof pgm - 1, "maxval.pgm", NULL));
    CHECK(img.w == 4 && img.h == 1 && img.c == 1);
    if (img.data) {
        CHECK_INT(img.data[0], 0);
        CHECK_INT(img.data[1], 119);
        CHECK_INT(img.data[2], 255);
        CHECK_INT(img.data[3], 255);
    }
    iris_image_free(&img);
    static const uint8_t ppm16[] = "P6\n1 1\n1023\n\x01\x00\x03\xff\x00\x00";
    CHECK_OK(iris_image_decode(&img, ppm16, sizeof ppm16 - 1, "p16.ppm", NULL));
    if (img.data) { /* 256*255/1023 = 63.8 -> 64 */
        CHECK_INT(img.data[0], 64);
        CHECK_INT(img.data[1], 255);
        CHECK_INT(img.data[2], 0);
    }
    iris_image_free(&img);
    CHECK_INT(iris_image_decode(&img, ppm16, sizeof ppm16 - 2, "short.ppm", NULL), IRIS_ERR_FORMAT);
    static const uint8_t bad[] = "P5\n4 1\n0\n\x00\x00\x00\x00";
    CHECK_INT(iris_image_decode(&img, bad, sizeof bad - 1, "bad.pgm", NULL), IRIS_ERR_FORMAT);
}

TEST(image_errors_name_the_file) {
    iris_image img;
    CHECK_INT(iris_image_load(&img, FIX "no_such_file.png", NULL), IRIS_ERR_IO);
    CHECK(strstr(iris_last_error(), "no_such_file.png") != NULL);
    CHECK_INT(iris_image_load(&img, "tests/ref/gen_image.py", NULL), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "gen_image.py") != NULL);
    CHECK_INT(iris_image_decode(&img, "", 0, "empty.png", NULL), IRIS_ERR_FORMAT);
    iris_image_read_params p = iris_image_default_read_params();
    p.channels = 2;
    CHECK_INT(iris_image_load(&img, FIX "rgb8.png", &p), IRIS_ERR_ARG);
}

/* ---- writing ---- */

static void fill_random(iris_image *img, uint32_t seed) {
    size_t n = (size_t)img->w * img->h * img->c;
    for (size_t i = 0; i < n; i++) seed = seed * 1664525u + 1013904223u, img->data[i] = (uint8_t)(seed >> 24);
}

/* A smooth picture (JPEG-friendly): gradients plus a little texture. */
static void fill_smooth(iris_image *img) {
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++)
            for (int c = 0; c < img->c; c++)
                img->data[((size_t)y * img->w + x) * img->c + c] =
                    (uint8_t)(128 + 90 * sin(x * 0.11 + c) * cos(y * 0.07 - c) + 20 * sin(x * 0.5 + y * 0.3));
}

static double psnr(const uint8_t *a, const uint8_t *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return se == 0 ? 99 : 10 * log10(255.0 * 255.0 / (se / n));
}

TEST(image_png_roundtrip) {
    static const int sizes[][2] = {{1, 1}, {17, 5}, {33, 65}, {127, 3}};
    static const int chans[] = {1, 3, 4};
    iris_image_text meta[] = {{"prompt", "a red fox in the snow, 4k"},
                              {"seed", "42"},
                              {"negative", "blurry, \xe2\x98\x83, \xc3\xbc"}, /* non-ASCII -> iTXt */
                              {"empty", ""}};
    for (size_t s = 0; s < 4; s++)
        for (size_t k = 0; k < 3; k++) {
            iris_image img, back;
            CHECK_OK(iris_image_alloc(&img, sizes[s][0], sizes[s][1], chans[k]));
            fill_random(&img, (uint32_t)(s * 10 + k));
            uint8_t *buf;
            size_t n;
            CHECK_OK(iris_image_encode_png(&img, meta, 4, &buf, &n));
            CHECK_INT(iris_image_sniff(buf, n), IRIS_IMAGE_PNG);
            CHECK_OK(iris_image_decode(&back, buf, n, "roundtrip.png", NULL));
            CHECK(back.w == img.w && back.h == img.h && back.c == img.c);
            if (back.data) CHECK(!memcmp(back.data, img.data, (size_t)img.w * img.h * img.c));
            CHECK_INT(back.n_text, 4);
            for (int t = 0; t < 4; t++) {
                const char *v = iris_image_get_text(&back, meta[t].key);
                CHECK_MSG(v && !strcmp(v, meta[t].value), "text %s: %s", meta[t].key, v ? v : "(missing)");
            }
            free(buf);
            iris_image_free(&img);
            iris_image_free(&back);
        }
    iris_image img;
    uint8_t *buf;
    size_t n;
    CHECK_OK(iris_image_alloc(&img, 2, 2, 3));
    fill_random(&img, 1);
    iris_image_text bad[] = {{"", "x"}};
    CHECK_INT(iris_image_encode_png(&img, bad, 1, &buf, &n), IRIS_ERR_ARG);
    iris_image_text bad2[] = {{"this key is much too long for a png text chunk, which allows at most seventy nine", "x"}};
    CHECK_INT(iris_image_encode_png(&img, bad2, 1, &buf, &n), IRIS_ERR_ARG);
    CHECK(buf == NULL && n == 0);
    iris_image_free(&img);
}

TEST(image_jpeg_roundtrip_psnr) {
    iris_image img, back;
    CHECK_OK(iris_image_alloc(&img, 65, 33, 3));
    fill_smooth(&img);
    size_t n95 = 0, n50 = 0;
    static const int qs[] = {95, 50};
    for (int k = 0; k < 2; k++) {
        uint8_t *buf;
        size_t n;
        CHECK_OK(iris_image_encode_jpeg(&img, qs[k], &buf, &n));
        CHECK_INT(iris_image_sniff(buf, n), IRIS_IMAGE_JPEG);
        CHECK_OK(iris_image_decode(&back, buf, n, "q.jpg", NULL));
        CHECK(back.w == 65 && back.h == 33 && back.c == 3);
        if (back.data) {
            double p = psnr(img.data, back.data, 65 * 33 * 3);
            CHECK_MSG(p > (qs[k] == 95 ? 38 : 30), "quality %d: PSNR %.1f dB", qs[k], p);
        }
        *(k ? &n50 : &n95) = n;
        free(buf);
        iris_image_free(&back);
    }
    CHECK(n50 < n95);
    /* gray stays gray; RGBA loses its alpha */
    iris_image g, rgba;
    CHECK_OK(iris_image_convert(&g, &img, 1));
    uint8_t *buf;
    size_t n;
    CHECK_OK(iris_image_encode_jpeg(&g, 90, &buf, &n));
    CHECK_OK(iris_image_decode(&back, buf, n, "g.jpg", NULL));
    CHECK_INT(back.c, 1);
    if (back.data) CHECK(psnr(g.data, back.data, 65 * 33) > 38);
    free(buf);
    iris_image_free(&back);
    CHECK_OK(iris_image_convert(&rgba, &img, 4));
    for (int i = 0; i < 65 * 33; i++) rgba.data[4 * i + 3] = (uint8_t)i;
    CHECK_OK(iris_image_encode_jpeg(&rgba, 95, &buf, &n));
    CHECK_OK(iris_image_decode(&back, buf, n, "rgba.jpg", NULL));
    CHECK_INT(back.c, 3);
    if (back.data) CHECK(psnr(img.data, back.data, 65 * 33 * 3) > 38);
    free(buf);
    iris_image_free(&back);
    CHECK_INT(iris_image_encode_jpeg(&img, 0, &buf, &n), IRIS_ERR_ARG);
    CHECK_INT(iris_image_encode_jpeg(&img, 101, &buf, &n), IRIS_ERR_ARG);
    iris_image_free(&g);
    iris_image_free(&rgba);
    iris_image_free(&img);
}

static int dir_has_tmp(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -q '\\.tmp\\.'", dir);
    return system(cmd) == 0;
}

TEST(image_save_files_atomically) {
    char dir[] = "/tmp/iris_test_image_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char png[600], jpg[600], bad[600], missing[600];
    snprintf(png, sizeof png, "%s/out.png", dir);
    snprintf(jpg, sizeof jpg, "%s/out.JPG", dir);
    snprintf(bad, sizeof bad, "%s/out.webp", dir);
    snprintf(missing, sizeof missing, "%s/no/such/dir/out.png", dir);
    iris_image img, back;
    CHECK_OK(iris_image_alloc(&img, 31, 17, 3));
    fill_smooth(&img);
    iris_image_text meta[] = {{"prompt", "a lighthouse at dusk"}, {"seed", "1234567"}};
    CHECK_OK(iris_image_save(png, &img, meta, 2));
    CHECK_OK(iris_image_load(&back, png, NULL));
    CHECK(back.data && !memcmp(back.data, img.data, 31 * 17 * 3));
    const char *seed = iris_image_get_text(&back, "seed");
    CHECK(seed && !strcmp(seed, "1234567"));
    iris_image_free(&back);
    CHECK_OK(iris_image_save(jpg, &img, NULL, 0));
    CHECK_OK(iris_image_load(&back, jpg, NULL));
    CHECK(back.data && psnr(img.data, back.data, 31 * 17 * 3) > 38);
    iris_image_free(&back);
    CHECK_INT(iris_image_save(bad, &img, NULL, 0), IRIS_ERR_ARG);
    CHECK(strstr(iris_last_error(), "out.webp") != NULL);
    CHECK_INT(iris_image_save_png(missing, &img, NULL, 0), IRIS_ERR_IO);
    CHECK(strstr(iris_last_error(), "no/such/dir") != NULL);
    /* a write that runs out of room (file size limit, like a full disk): an
       error, the old file untouched and no temporary left behind */
    iris_image big;
    CHECK_OK(iris_image_alloc(&big, 64, 64, 3));
    fill_random(&big, 5);
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {4096, old.rlim_max};
    setrlimit(RLIMIT_FSIZE, &small);
    iris_status st = iris_image_save_png(png, &big, NULL, 0);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK_INT(st, IRIS_ERR_IO);
    CHECK(strstr(iris_last_error(), "out.png") != NULL);
    CHECK_OK(iris_image_load(&back, png, NULL)); /* still the earlier picture */
    CHECK(back.w == 31 && back.h == 17);
    iris_image_free(&back);
    CHECK(!dir_has_tmp(dir));
    iris_image_free(&big);
    iris_image_free(&img);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* ---- conversion and orientation ---- */

TEST(image_convert_channels) {
    int h, w, c;
    const uint8_t *src = ref_u8("luma_src", &h, &w, &c);
    int h2, w2, c2;
    const uint8_t *want = ref_u8("luma_pil", &h2, &w2, &c2);
    if (!src || !want) return;
    iris_image rgb = {.w = w, .h = h, .c = 3, .data = (uint8_t *)src}, g, g3, a4, back3;
    CHECK_OK(iris_image_convert(&g, &rgb, 1)); /* = PIL convert("L") */
    CHECK(g.data && !memcmp(g.data, want, (size_t)w * h));
    CHECK_OK(iris_image_convert(&g3, &g, 3));
    CHECK_OK(iris_image_convert(&a4, &rgb, 4));
    CHECK_OK(iris_image_convert(&back3, &a4, 3));
    int ok_g3 = 1, ok_a4 = 1;
    for (int i = 0; i < w * h; i++) {
        ok_g3 &= g3.data[3 * i] == g.data[i] && g3.data[3 * i + 1] == g.data[i] && g3.data[3 * i + 2] == g.data[i];
        ok_a4 &= a4.data[4 * i + 3] == 255 && !memcmp(a4.data + 4 * i, src + 3 * i, 3);
    }
    CHECK(ok_g3);
    CHECK(ok_a4);
    CHECK(!memcmp(back3.data, src, (size_t)w * h * 3));
    /* channels asked of the loader go through the same conversion */
    iris_image l;
    iris_image_read_params p = iris_image_default_read_params();
    p.channels = 1;
    CHECK_OK(iris_image_load(&l, FIX "rgba8.png", &p));
    int rh, rw, rc;
    const uint8_t *rgba = ref_u8("rgba8", &rh, &rw, &rc);
    if (l.data && rgba) {
        int ok = l.c == 1;
        for (int i = 0; i < rw * rh && ok; i++) /* alpha ignored, BT.601 luma of RGB */
            ok = l.data[i] == (uint8_t)((rgba[4 * i] * 19595u + rgba[4 * i + 1] * 38470u + rgba[4 * i + 2] * 7471u + 32768u) >> 16);
        CHECK(ok);
    }
    iris_image_free(&l);
    iris_image_free(&g);
    iris_image_free(&g3);
    iris_image_free(&a4);
    iris_image_free(&back3);
}

/* 3 x 2 picture  1 2 3 / 4 5 6  turned upright for each EXIF orientation
   (worked out from the EXIF 2.3 definition of tag 0x0112). */
TEST(image_orient_hand_worked) {
    static const struct {
        int o, w, h;
        uint8_t px[6];
    } cases[] = {
        {1, 3, 2, {1, 2, 3, 4, 5, 6}}, {2, 3, 2, {3, 2, 1, 6, 5, 4}}, {3, 3, 2, {6, 5, 4, 3, 2, 1}},
        {4, 3, 2, {4, 5, 6, 1, 2, 3}}, {5, 2, 3, {1, 4, 2, 5, 3, 6}}, {6, 2, 3, {4, 1, 5, 2, 6, 3}},
        {7, 2, 3, {6, 3, 5, 2, 4, 1}}, {8, 2, 3, {3, 6, 2, 5, 1, 4}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iris_image img;
        CHECK_OK(iris_image_alloc(&img, 3, 2, 1));
        for (int k = 0; k < 6; k++) img.data[k] = (uint8_t)(k + 1);
        CHECK_OK(iris_image_orient(&img, cases[i].o));
        CHECK_MSG(img.w == cases[i].w && img.h == cases[i].h && !memcmp(img.data, cases[i].px, 6),
                  "orientation %d: got %dx%d %d %d %d %d %d %d", cases[i].o, img.w, img.h, img.data[0], img.data[1],
                  img.data[2], img.data[3], img.data[4], img.data[5]);
        iris_image_free(&img);
    }
    /* multi-channel pixels move whole */
    iris_image img;
    CHECK_OK(iris_image_alloc(&img, 2, 1, 3));
    memcpy(img.data, "\x01\x02\x03\x04\x05\x06", 6);
    CHECK_OK(iris_image_orient(&img, 6));
    CHECK(img.w == 1 && img.h == 2 && !memcmp(img.data, "\x01\x02\x03\x04\x05\x06", 6));
    CHECK_OK(iris_image_orient(&img, 9)); /* out of range: untouched */
    CHECK(img.w == 1 && img.h == 2);
    iris_image_free(&img);
}

TEST(image_exif_parser_hostile) {
    /* "Exif\0\0" + little-endian TIFF with two IFD0 entries, orientation second */
    uint8_t le[6 + 8 + 2 + 24 + 4] = "Exif\0\0II*\0\x08\0\0\0\x02\0";
    uint8_t *e = le + 16;
    memcpy(e, "\x0f\x01\x02\x00\x04\x00\x00\x00" "ABC\0", 12);
    memcpy(e + 12, "\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00", 12);
    CHECK_INT(iris_exif_orientation(le, sizeof le), 6);
    CHECK_INT(iris_exif_orientation(le + 6, sizeof le - 6), 6); /* bare TIFF (PNG eXIf) */
    for (size_t n = 0; n < 16 + 24; n++) CHECK_INT(iris_exif_orientation(le, n), 0); /* cut before the tag ends */
    uint8_t t[sizeof le];
    memcpy(t, le, sizeof t);
    t[6 + 8] = 0xff, t[6 + 9] = 0xff; /* 65535 entries, buffer far shorter: the present ones are read */
    CHECK_INT(iris_exif_orientation(t, sizeof t), 6);
    t[16 + 12] = 0x13; /* ... and without the tag the walk stops at the end of the buffer */
    CHECK_INT(iris_exif_orientation(t, sizeof t), 0);
    memcpy(t, le, sizeof t);
    memcpy(t + 10, "\xf0\xff\xff\xff", 4); /* IFD offset past the end */
    CHECK_INT(iris_exif_orientation(t, sizeof t), 0);
    memcpy(t, le, sizeof t);
    t[16 + 12 + 8] = 9; /* value out of range */
    CHECK_INT(iris_exif_orientation(t, sizeof t), 0);
    memcpy(t, le, sizeof t);
    t[16 + 12 + 2] = 4; /* LONG instead of SHORT */
    CHECK_INT(iris_exif_orientation(t, sizeof t), 6);
    memcpy(t, le, sizeof t);
    t[16 + 12 + 4] = 2; /* count 2 */
    CHECK_INT(iris_exif_orientation(t, sizeof t), 0);
    memcpy(t, le, sizeof t);
    t[6] = 'X'; /* not a TIFF byte order */
    CHECK_INT(iris_exif_orientation(t, sizeof t), 0);
    static const uint8_t be[] = "MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x03\0\0";
    CHECK_INT(iris_exif_orientation(be, sizeof be - 1), 3);
}

/* ---- resizing ---- */

static void check_resize_case(const char *name, int c, int sh, int sw, int dh, int dw) {
    char key[64];
    snprintf(key, sizeof key, "rs_%s_src", name);
    int64_t ns = 0;
    float *src = test_ref_f32("image_ref.safetensors", key, &ns);
    CHECK_INT(ns, (int64_t)c * sh * sw);
    float *out = malloc((size_t)c * dh * dw * sizeof(float));
    static const char *modes[] = {"bilinear", "bicubic"};
    for (int m = 0; m < 2; m++) {
        snprintf(key, sizeof key, "rs_%s_%s", name, modes[m]);
        int64_t nw = 0;
        float *want = test_ref_f32("image_ref.safetensors", key, &nw);
        CHECK_INT(nw, (int64_t)c * dh * dw);
        CHECK_OK(iris_resize_f32(src, sw, sh, c, out, dw, dh, m ? IRIS_RESIZE_BICUBIC : IRIS_RESIZE_BILINEAR));
        /* bilinear: torch's exact weights, sums within an ulp or two (its build
           fuses multiply-adds); bicubic: its weights too differ by ~2e-7 */
        if (want && src) CHECK_CLOSE(out, want, nw, m ? 2e-6 : 2e-7, m ? 1e-6 : 0);
        free(want);
    }
    free(out);
    free(src);
}

TEST(image_resize_matches_torch) {
    check_resize_case("down", 3, 7, 9, 5, 4);
    check_resize_case("up", 3, 13, 17, 29, 33);
    check_resize_case("mixed", 1, 33, 65, 7, 127);
    check_resize_case("from1", 2, 1, 1, 3, 5);
    check_resize_case("col", 3, 5, 1, 9, 2);
    check_resize_case("same", 3, 16, 16, 16, 16);
    check_resize_case("big", 3, 127, 65, 33, 17);
}

/* With whole-number factors INTER_AREA is a box average, = torch "area". */
TEST(image_resize_area_box_matches_torch) {
    static const struct {
        const char *name;
        int c, sh, sw, dh, dw;
    } cases[] = {{"area3", 3, 12, 18, 4, 6}, {"area2", 1, 8, 10, 4, 5}, {"area_7x1", 2, 14, 5, 2, 5}};
    for (size_t i = 0; i < 3; i++) {
        char key[64];
        snprintf(key, sizeof key, "rs_%s_src", cases[i].name);
        float *src = test_ref_f32("image_ref.safetensors", key, NULL);
        snprintf(key, sizeof key, "rs_%s", cases[i].name);
        float *want = test_ref_f32("image_ref.safetensors", key, NULL);
        int n = cases[i].c * cases[i].dh * cases[i].dw;
        float *out = malloc((size_t)n * sizeof(float));
        CHECK_OK(iris_resize_f32(src, cases[i].sw, cases[i].sh, cases[i].c, out, cases[i].dw, cases[i].dh,
                                 IRIS_RESIZE_AREA));
        if (src && want) CHECK_CLOSE(out, want, n, 1e-6, 1e-6);
        free(src), free(want), free(out);
    }
}

/* u8 modes compute in float and round: within half a level of torch's float result. */
TEST(image_resize_u8_rounds_torch) {
    int h, w, c;
    const uint8_t *src = ref_u8("rs_u8_src", &h, &w, &c);
    float *want = test_ref_f32("image_ref.safetensors", "rs_u8_bicubic_f32", NULL);
    if (!src || !want) return;
    iris_image in = {.w = w, .h = h, .c = c, .data = (uint8_t *)src}, out;
    CHECK_OK(iris_image_resize(&out, &in, 23, 6, IRIS_RESIZE_BICUBIC));
    int worst = 0, clamped = 0;
    for (int i = 0; i < 23 * 6 * 3 && out.data; i++) {
        float v = want[i] < 0 ? 0 : want[i] > 255 ? 255 : want[i];
        clamped += want[i] < 0 || want[i] > 255;
        if (fabsf(out.data[i] - v) > 0.5001f) worst++;
    }
    CHECK_INT(worst, 0);
    CHECK(clamped > 0); /* bicubic overshoots on random pixels: the clamp was exercised */
    free(want);
    iris_image_free(&out);
}

/* OpenCV's two roundings for whole-number INTER_AREA on u8: 2x2 boxes take
   (sum + 2) >> 2 (halves up); other boxes sum * (1/area) rounded half to even. */
TEST(image_area_u8_rounding_quirks) {
    iris_image a, out;
    CHECK_OK(iris_image_alloc(&a, 4, 2, 1));
    memcpy(a.data, "\x01\x02\x02\x03" "\x02\x01\x03\x02", 8); /* boxes: 1+2+2+1 = 6, 2+3+3+2 = 10 */
    CHECK_OK(iris_image_resize(&out, &a, 2, 1, IRIS_RESIZE_AREA));
    CHECK(out.data && out.data[0] == 2 && out.data[1] == 3); /* 1.5 -> 2, 2.5 -> 3 */
    iris_image_free(&out);
    iris_image_free(&a);
    CHECK_OK(iris_image_alloc(&a, 4, 1, 1));
    memcpy(a.data, "\x01\x02\x03\x04", 4); /* 4x1 box: 10 / 4 = 2.5 -> 2 (even) */
    CHECK_OK(iris_image_resize(&out, &a, 1, 1, IRIS_RESIZE_AREA));
    CHECK(out.data && out.data[0] == 2);
    iris_image_free(&out);
    memcpy(a.data, "\x01\x02\x04\x04", 4); /* 11 / 4 = 2.75 -> 3 */
    CHECK_OK(iris_image_resize(&out, &a, 1, 1, IRIS_RESIZE_AREA));
    CHECK(out.data && out.data[0] == 3);
    iris_image_free(&out);
    /* 3 -> 2 (factor 1.5): pixels weigh 1, 0.5 | 0.5, 1 over a cell of 1.5 */
    memcpy(a.data, "\x0a\x14\x1e\x00", 4);
    a.w = 3;
    CHECK_OK(iris_image_resize(&out, &a, 2, 1, IRIS_RESIZE_AREA));
    CHECK(out.data && out.data[0] == 13 && out.data[1] == 27); /* (10 + 10)/1.5 = 13.3, (10 + 30)/1.5 = 26.7 */
    iris_image_free(&out);
    iris_image_free(&a);
}

TEST(image_resize_bad_arguments) {
    float src[4] = {0}, dst[4];
    CHECK_INT(iris_resize_f32(src, 0, 2, 1, dst, 2, 2, IRIS_RESIZE_BILINEAR), IRIS_ERR_ARG);
    CHECK_INT(iris_resize_f32(src, 2, 2, 1, dst, 2, -1, IRIS_RESIZE_BILINEAR), IRIS_ERR_ARG);
    CHECK_INT(iris_resize_f32(src, 2, 2, 1, dst, 2, 2, (iris_resize_mode)99), IRIS_ERR_ARG);
    CHECK_INT(iris_resize_f32(NULL, 2, 2, 1, dst, 2, 2, IRIS_RESIZE_AREA), IRIS_ERR_ARG);
    iris_image none = {0}, out;
    CHECK_INT(iris_image_resize(&out, &none, 4, 4, IRIS_RESIZE_AREA), IRIS_ERR_ARG);
    CHECK(out.data == NULL);
}

/* darknet's resize on a hand-worked 3 -> 5 row: scale (3-1)/(5-1) = 0.5. */
TEST(image_resize_darknet_hand_worked) {
    float src[3] = {0.f, 1.f, 4.f}, out[5];
    CHECK_OK(iris_resize_f32(src, 3, 1, 1, out, 5, 1, IRIS_RESIZE_DARKNET));
    float want[5] = {0.f, 0.5f, 1.f, 2.5f, 4.f};
    CHECK_CLOSE(out, want, 5, 0, 0);
    /* as a column: the last row keeps only its (1-d) term, d = 0 here */
    CHECK_OK(iris_resize_f32(src, 1, 3, 1, out, 1, 5, IRIS_RESIZE_DARKNET));
    CHECK_CLOSE(out, want, 5, 0, 0);
}

/* ---- geometry helpers ---- */

TEST(image_letterbox_geometry) {
    iris_letterbox lb = iris_letterbox_geometry(768, 576, 320, 320);
    CHECK(lb.new_w == 320 && lb.new_h == 240 && lb.off_x == 0 && lb.off_y == 40);
    lb = iris_letterbox_geometry(500, 1000, 416, 416); /* tall: width is 500*416/1000 = 208 */
    CHECK(lb.new_w == 208 && lb.new_h == 416 && lb.off_x == 104 && lb.off_y == 0);
    lb = iris_letterbox_geometry(641, 480, 320, 256); /* 480*320/641 = 239.6 -> 239, (256-239)/2 = 8 */
    CHECK(lb.new_w == 320 && lb.new_h == 239 && lb.off_x == 0 && lb.off_y == 8);
    float x = (float)lb.off_x, y = (float)lb.off_y;
    iris_letterbox_unmap(&lb, &x, &y);
    CHECK_NEAR(x, 0, 1e-5);
    CHECK_NEAR(y, 0, 1e-5);
    x = (float)(lb.off_x + lb.new_w), y = (float)(lb.off_y + lb.new_h);
    iris_letterbox_unmap(&lb, &x, &y);
    CHECK_NEAR(x, 641, 1e-3);
    CHECK_NEAR(y, 480, 1e-3);
    x = 160, y = 128; /* canvas centre -> image centre (up to the half-pixel of the truncated offset) */
    iris_letterbox_unmap(&lb, &x, &y);
    CHECK_NEAR(x, 320.5, 1e-3);
    CHECK_NEAR(y, 120 * 480.0 / 239, 1e-3);
    /* the u8 letterbox: margins are the fill value, the middle is the resized picture */
    iris_image img, box, direct;
    CHECK_OK(iris_image_alloc(&img, 41, 23, 3));
    fill_smooth(&img);
    CHECK_OK(iris_image_letterbox(&box, &img, 64, 64, IRIS_RESIZE_AREA, 114, &lb));
    CHECK(lb.new_w == 64 && lb.new_h == 35 && lb.off_y == 14);
    CHECK_OK(iris_image_resize(&direct, &img, 64, 35, IRIS_RESIZE_AREA));
    int margins = 1;
    for (int yy = 0; yy < 64; yy++)
        for (int xx = 0; xx < 64 * 3; xx++)
            if (yy < 14 || yy >= 14 + 35) margins &= box.data[yy * 64 * 3 + xx] == 114;
    CHECK(margins);
    CHECK(!memcmp(box.data + 14 * 64 * 3, direct.data, 64 * 35 * 3));
    iris_image_free(&box);
    iris_image_free(&direct);
    iris_image_free(&img);
}

TEST(image_resize_short_and_center_crop) {
    iris_image img, r, c;
    CHECK_OK(iris_image_alloc(&img, 640, 480, 3));
    fill_smooth(&img);
    CHECK_OK(iris_image_resize_short(&r, &img, 256, IRIS_RESIZE_BILINEAR));
    CHECK(r.w == 341 && r.h == 256); /* int(256 * 640 / 480) = 341 */
    iris_image_free(&r);
    iris_image_free(&img);
    CHECK_OK(iris_image_alloc(&img, 7, 10, 1));
    for (int i = 0; i < 70; i++) img.data[i] = (uint8_t)i;
    CHECK_OK(iris_image_resize_short(&r, &img, 3, IRIS_RESIZE_AREA));
    CHECK(r.w == 3 && r.h == 4); /* int(3 * 10 / 7) = 4 */
    iris_image_free(&r);
    /* torchvision CenterCrop: top/left = round((size - crop) / 2), halves to even */
    CHECK_OK(iris_image_center_crop(&c, &img, 4, 5)); /* left round(1.5) = 2, top round(2.5) = 2 */
    CHECK(c.w == 4 && c.h == 5 && c.data[0] == 2 * 7 + 2);
    iris_image_free(&c);
    CHECK_OK(iris_image_center_crop(&c, &img, 6, 3)); /* left round(0.5) = 0, top round(3.5) = 4 */
    CHECK(c.data && c.data[0] == 4 * 7 + 0 && c.data[3 * 6 - 1] == 6 * 7 + 5);
    iris_image_free(&c);
    CHECK_INT(iris_image_center_crop(&c, &img, 8, 3), IRIS_ERR_ARG);
    CHECK_INT(iris_image_crop(&c, &img, 5, 0, 3, 1), IRIS_ERR_ARG);
    CHECK_OK(iris_image_crop(&c, &img, 4, 9, 3, 1));
    CHECK(c.data && c.data[0] == 67 && c.data[2] == 69);
    iris_image_free(&c);
    iris_image_free(&img);
}

TEST(image_to_nchw_normalises) {
    iris_image img;
    CHECK_OK(iris_image_alloc(&img, 2, 1, 3));
    memcpy(img.data, "\xff\x80\x00" "\x10\x20\x30", 6);
    float out[6];
    iris_normalize n = {.mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
    CHECK_OK(iris_image_to_nchw(&img, out, &n));
    float want[6] = {(1.f - 0.485f) / 0.229f,           (16.f / 255.f - 0.485f) / 0.229f,
                     (128.f / 255.f - 0.456f) / 0.224f, (32.f / 255.f - 0.456f) / 0.224f,
                     (0.f - 0.406f) / 0.225f,           (48.f / 255.f - 0.406f) / 0.225f};
    CHECK_CLOSE(out, want, 6, 0, 0);
    n.bgr = 1; /* plane 0 is blue, normalised with the blue statistics */
    CHECK_OK(iris_image_to_nchw(&img, out, &n));
    float want_bgr[6] = {want[4], want[5], want[2], want[3], want[0], want[1]};
    CHECK_CLOSE(out, want_bgr, 6, 0, 0);
    CHECK_OK(iris_image_to_nchw(&img, out, NULL));
    float plain[6] = {1.f, 16.f / 255.f, 128.f / 255.f, 32.f / 255.f, 0.f, 48.f / 255.f};
    CHECK_CLOSE(out, plain, 6, 0, 0);
    /* float HWC input with SD-style mean/std 0.5 -> [-1, 1] */
    float hwc[6] = {0.f, 0.5f, 1.f, 1.f, 0.25f, 0.f};
    iris_normalize sd = {.mean = {0.5f, 0.5f, 0.5f}, .std = {0.5f, 0.5f, 0.5f}};
    CHECK_OK(iris_hwc_to_nchw_f32(hwc, 2, 1, 3, out, &sd));
    float want_sd[6] = {-1.f, 1.f, 0.f, -0.5f, 1.f, -1.f};
    CHECK_CLOSE(out, want_sd, 6, 0, 0);
    /* u/255 in float equals darknet's double u/255. rounded to float, for every byte */
    int same = 1;
    for (int u = 0; u < 256; u++) same &= (float)u / 255.f == (float)(u / 255.);
    CHECK(same);
    iris_image_free(&img);
}
