/* test_image.c - image decoding/encoding, orientation, resizing, letterbox, normalisation.
   References: OpenCV 4.6 outputs stored in shared/data (ResNet 32x32 inputs made with
   cv2.imread + cv2.resize(INTER_AREA); darknet's and OpenCV's YOLO input tensors;
   FastestDet's INTER_AREA input), PyTorch F.interpolate and PIL decodes in
   tests/ref/image_ref.safetensors (tests/ref/gen_image.py), hand-worked geometry. */
#include <cjson/cJSON.h>
#include <errno.h>
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
    const char *ip = test_data("images/dog.jpg");
    if (!ip) return;
    char ip_copy[4096];
    snprintf(ip_copy, sizeof ip_copy, "%s", ip);
    const char *tp = test_data("yolo/reference/tensors/yolo-fastest-1.1.darknet-letterbox.dog/input_1x3x320x320_f32le.bin");
    if (!tp) return;
    float *want = read_f32_file(tp, 3 * 320 * 320);
    CHECK(want != NULL);
    iris_image img;
    CHECK_OK(iris_image_load(&img, ip_copy, NULL));
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
    const char *ip = test_data("images/dog.jpg");
    if (!ip) return;
    char ip_copy[4096];
    snprintf(ip_copy, sizeof ip_copy, "%s", ip);
    const char *tp = test_data("yolo/reference/tensors/yolo-fastest-1.1.opencv-letterbox.dog/input_1x3x320x320_f32le.bin");
    if (!tp) return;
    float *want = read_f32_file(tp, 3 * 320 * 320);
    CHECK(want != NULL);
    if (!want) return;
    iris_image img, box;
    CHECK_OK(iris_image_load(&img, ip_copy, NULL));
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
    const char *ip = test_data("images/dog.jpg");
    if (!ip) return;
    char ip_copy[4096];
    snprintf(ip_copy, sizeof ip_copy, "%s", ip);
    const char *tp = test_data("yolo/reference/tensors/FastestDet.opencv.dog/input_1x3x352x352_f32le.bin");
    if (!tp) return;
    float *want = read_f32_file(tp, 3 * 352 * 352);
    CHECK(want != NULL);
    if (!want) return;
    iris_image img, small;
    CHECK_OK(iris_image_load(&img, ip_copy, NULL));
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
        {"rgb.psd", "rgb_tga"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_decode(cases[i][0], cases[i][1], NULL);
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
