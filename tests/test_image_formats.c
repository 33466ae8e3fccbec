/* test_image_formats.c - WebP and TIFF decoding, JPEG decoded DCT-scaled.
   References: tests/ref/image_formats_ref.safetensors from tests/ref/gen_image_formats.py:
   PIL's decodes (its own libwebp, libtiff and libjpeg-turbo builds) and, for the files
   written there by hand, the numpy arrays they were made from. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define FIX "tests/ref/image/"

static uint8_t *read_fixture(const char *file, size_t *n) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s", file);
    char *buf;
    if (iris_read_file(path, &buf, n)) return NULL;
    return (uint8_t *)buf;
}

/* Expected u8 HWC pixels; h, w, c filled in. */
static const uint8_t *want_u8(const char *name, int *h, int *w, int *c) {
    iris_safetensors *st = test_ref("image_formats_ref.safetensors");
    if (!st) return NULL;
    const iris_st_entry *e = iris_safetensors_find(st, name);
    if (!e || e->dtype != IRIS_U8 || e->ndim != 3) {
        CHECK_MSG(0, "reference %s missing or not u8 HWC", name);
        return NULL;
    }
    *h = (int)e->shape[0], *w = (int)e->shape[1], *c = (int)e->shape[2];
    return st->map.data + e->begin;
}

/* Loads FIX<file> and compares it with reference `name`: every byte within
   `tol` levels. */
static void check_file(const char *file, const char *name, int tol) {
    char path[256];
    snprintf(path, sizeof path, FIX "%s", file);
    int h, w, c;
    const uint8_t *want = want_u8(name, &h, &w, &c);
    iris_image img;
    iris_status st = iris_image_load(&img, path, NULL);
    CHECK_MSG(st == IRIS_OK, "%s: %s", path, iris_last_error());
    if (st || !want) return;
    int same = img.w == w && img.h == h && img.c == c;
    CHECK_MSG(same, "%s: got %dx%dx%d, want %dx%dx%d", file, img.w, img.h, img.c, w, h, c);
    if (same) {
        long bad = 0;
        int maxd = 0;
        for (size_t i = 0; i < (size_t)w * h * c; i++) {
            int d = abs((int)img.data[i] - (int)want[i]);
            if (d > maxd) maxd = d;
            bad += d > tol;
        }
        CHECK_MSG(bad == 0, "%s: %ld bytes off by more than %d (max %d)", file, bad, tol, maxd);
    }
    CHECK(img.full_w == img.w && img.full_h == img.h && img.scale == 1);
    iris_image_free(&img);
}

/* ---- WebP ---- */

/* Lossless files equal their source arrays; lossy ones equal PIL's decode
   exactly: the lossy decoder's output is specified bit for bit (VP8's
   integer transforms, then libwebp's fancy upsampling of chroma, unchanged
   between PIL's libwebp 1.6 and Debian's 1.2). */
TEST(image_webp_fixtures_match_pil) {
    check_file("lossless_rgb.webp", "lossless_rgb", 0);
    check_file("lossless_rgba.webp", "lossless_rgba", 0);
    check_file("lossy_rgb.webp", "lossy_rgb", 0);
    check_file("lossy_rgba.webp", "lossy_rgba", 0);
    check_file("exif6.webp", "webp_exif6", 0); /* EXIF chunk orientation 6 applied */
    check_file("anim.webp", "anim_first", 0);  /* an animation gives its first frame */
    iris_image img;
    iris_image_read_params p = iris_image_default_read_params();
    p.orient = 0; /* stored as 5 wide, 8 high */
    CHECK_OK(iris_image_load(&img, FIX "exif6.webp", &p));
    CHECK(img.w == 5 && img.h == 8);
    iris_image_free(&img);
}

/* ---- TIFF ---- */

TEST(image_tiff_fixtures_match) {
    static const struct {
        const char *file, *ref;
        int tol;
    } cases[] = {
        {"rgb_raw.tif", "tif_rgb", 0},          {"rgb_lzw.tif", "tif_rgb", 0},
        {"rgb_lzw_pred.tif", "tif_rgb", 0},     {"rgba_deflate.tif", "tif_rgba", 0},
        {"gray_packbits.tif", "tif_gray", 0},   {"rgb_jpeg.tif", "tif_jpeg", 0},
        {"ycbcr_jpeg.tif", "tif_ycbcr_jpeg", 0}, {"pal_lzw.tif", "tif_pal", 0},
        {"bilevel_g4.tif", "tif_bilevel", 0},   {"orient6.tif", "tif_orient6", 0},
        {"two_pages.tif", "tif_page1", 0},      {"rgb_tiled.tif", "tif_tiled", 0},
        {"rgba_planar_be.tif", "tif_planar", 0}, {"rgb16_tiled_be.tif", "tif_rgb16", 0},
        {"gray16.tif", "tif_gray16", 0},        {"gray4_white.tif", "tif_gray4_white", 0},
        {"pal4_orient3.tif", "tif_pal4_orient3", 0}, {"gray_extra.tif", "tif_gray_extra", 0},
        /* CMYK through libtiff's RGBA interface: (255-c)(255-k)/255 truncated,
           where PIL rounds: one level at most */
        {"cmyk.tif", "tif_cmyk", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_file(cases[i].file, cases[i].ref, cases[i].tol);
}

/* Premultiplied alpha comes back straight: exact where alpha is 0 or 255;
   elsewhere the stored colour was rounded to a byte at alpha/255 of its
   value, so dividing again is off by at most 255/(2 alpha) + 1/2. */
TEST(image_tiff_premultiplied_alpha) {
    int h, w, c;
    const uint8_t *want = want_u8("tif_assoc_straight", &h, &w, &c);
    iris_image img;
    CHECK_OK(iris_image_load(&img, FIX "rgba_assoc.tif", NULL));
    if (!want || !img.data) return;
    CHECK(img.w == w && img.h == h && img.c == 4);
    long bad = 0;
    for (int i = 0; i < w * h; i++) {
        const uint8_t *g = img.data + 4 * i, *o = want + 4 * i;
        bad += g[3] != o[3];
        for (int k = 0; k < 3; k++) {
            double tol = o[3] == 255 || o[3] == 0 ? 0 : 255.0 / (2 * o[3]) + 0.5;
            bad += fabs((double)g[k] - o[k]) > tol;
        }
    }
    CHECK_INT(bad, 0);
    iris_image_free(&img);
}

/* ---- every WebP and TIFF fixture: sniffing, truncation, corruption ---- */

static const struct {
    const char *file;
    iris_image_format fmt;
} files[] = {
    {"lossless_rgb.webp", IRIS_IMAGE_WEBP}, {"lossless_rgba.webp", IRIS_IMAGE_WEBP},
    {"lossy_rgb.webp", IRIS_IMAGE_WEBP},    {"lossy_rgba.webp", IRIS_IMAGE_WEBP},
    {"exif6.webp", IRIS_IMAGE_WEBP},        {"anim.webp", IRIS_IMAGE_WEBP},
    {"rgb_raw.tif", IRIS_IMAGE_TIFF},       {"rgb_lzw_pred.tif", IRIS_IMAGE_TIFF},
    {"rgba_deflate.tif", IRIS_IMAGE_TIFF},  {"gray_packbits.tif", IRIS_IMAGE_TIFF},
    {"rgb_jpeg.tif", IRIS_IMAGE_TIFF},      {"ycbcr_jpeg.tif", IRIS_IMAGE_TIFF},
    {"pal_lzw.tif", IRIS_IMAGE_TIFF},       {"bilevel_g4.tif", IRIS_IMAGE_TIFF},
    {"orient6.tif", IRIS_IMAGE_TIFF},       {"cmyk.tif", IRIS_IMAGE_TIFF},
    {"two_pages.tif", IRIS_IMAGE_TIFF},     {"rgb_tiled.tif", IRIS_IMAGE_TIFF},
    {"rgba_planar_be.tif", IRIS_IMAGE_TIFF}, {"rgba_assoc.tif", IRIS_IMAGE_TIFF},
    {"rgb16_tiled_be.tif", IRIS_IMAGE_TIFF}, {"gray4_white.tif", IRIS_IMAGE_TIFF},
    {"pal4_orient3.tif", IRIS_IMAGE_TIFF},
};
#define N_FILES (sizeof files / sizeof files[0])

TEST(image_webp_tiff_sniff) {
    for (size_t i = 0; i < N_FILES; i++) {
        size_t n;
        uint8_t *b = read_fixture(files[i].file, &n);
        CHECK(b != NULL);
        if (!b) continue;
        iris_image_format f = iris_image_sniff(b, n < 16 ? n : 16);
        CHECK_MSG(f == files[i].fmt, "%s sniffed as %s", files[i].file, iris_image_format_name(f));
        free(b);
    }
    CHECK(!strcmp(iris_image_format_name(IRIS_IMAGE_WEBP), "webp"));
    CHECK(!strcmp(iris_image_format_name(IRIS_IMAGE_TIFF), "tiff"));
    /* a RIFF that is not WebP, an unknown first chunk, a TIFF cut before its offset, a wrong
       version word, a BigTIFF with a bad offset size */
    static const struct {
        const char *b;
        size_t n;
    } not_images[] = {{"RIFF\x10\0\0\0WAVEfmt ", 16}, {"RIFF\x10\0\0\0WEBPJUNK", 16}, {"II*\0\x08\0\0", 7},
                      {"II\x2a\x01\x08\0\0\0", 8}, {"MM\0\x2b\0\x04\0\0", 8}};
    for (size_t i = 0; i < sizeof not_images / sizeof not_images[0]; i++)
        CHECK_MSG(iris_image_sniff((const uint8_t *)not_images[i].b, not_images[i].n) == IRIS_IMAGE_UNKNOWN, "case %zu", i);
    CHECK_INT(iris_image_sniff((const uint8_t *)"MM\0*\0\0\0\x08", 8), IRIS_IMAGE_TIFF);
    CHECK_INT(iris_image_sniff((const uint8_t *)"II+\0\x08\0\0\0", 8), IRIS_IMAGE_TIFF); /* BigTIFF */
}

/* Every prefix fails with an error naming the file and nothing left behind,
   or (where only bytes after the pixels are missing, e.g. a TIFF's unused
   tag data) decodes to exactly the full picture. */
TEST(image_webp_tiff_truncated_fail) {
    for (size_t i = 0; i < N_FILES; i++) {
        size_t n;
        uint8_t *b = read_fixture(files[i].file, &n);
        if (!b) continue;
        iris_image full;
        CHECK_OK(iris_image_decode(&full, b, n, files[i].file, NULL));
        long ok_short = 0, wrong = 0;
        for (size_t len = 0; len < n; len++) {
            uint8_t *cut = malloc(len ? len : 1);
            memcpy(cut, b, len);
            iris_image img;
            iris_status st = iris_image_decode(&img, cut, len, "cut.img", NULL);
            if (st == IRIS_OK) {
                ok_short++;
                wrong += img.w != full.w || img.h != full.h || img.c != full.c ||
                         memcmp(img.data, full.data, (size_t)img.w * img.h * img.c);
                iris_image_free(&img);
            } else {
                CHECK_MSG(st == IRIS_ERR_FORMAT && img.data == NULL && strstr(iris_last_error(), "cut.img") &&
                              !strchr(iris_last_error(), '\n'),
                          "%s at %zu: %s %s", files[i].file, len, iris_status_name(st), iris_last_error());
            }
            free(cut);
        }
        CHECK_MSG(wrong == 0, "%s: %ld truncated versions decoded to something else", files[i].file, wrong);
        if (ok_short) printf("    %s: %ld of %zu prefixes decode (to the full picture)\n", files[i].file, ok_short, n);
        iris_image_free(&full);
        free(b);
    }
}

/* Flipped bits: anything may come back, but no crash, leak or overread (asan). */
TEST(image_webp_tiff_corrupt_do_not_crash) {
    uint32_t s = 4242;
    long decoded = 0, failed = 0, unnamed = 0;
    for (size_t i = 0; i < N_FILES; i++) {
        size_t n;
        uint8_t *b = read_fixture(files[i].file, &n);
        if (!b) continue;
        for (int t = 0; t < 300; t++) {
            uint8_t *c = malloc(n);
            memcpy(c, b, n);
            for (int f = 0; f < 1 + t % 4; f++) {
                s = s * 1103515245u + 12345u;
                c[(s >> 8) % n] ^= (uint8_t)(1u << ((s >> 4) & 7));
            }
            iris_image img;
            iris_image_read_params p = iris_image_default_read_params();
            p.max_pixels = 1 << 22;
            if (iris_image_decode(&img, c, n, "flipped.img", &p) == IRIS_OK) {
                decoded++;
                CHECK(img.w >= 1 && img.h >= 1 && img.data);
                iris_image_free(&img);
            } else {
                failed++;
                unnamed += !strstr(iris_last_error(), "flipped.img") || strchr(iris_last_error(), '\n');
                CHECK(img.data == NULL);
            }
            free(c);
        }
        free(b);
    }
    CHECK(failed > 0);
    CHECK_INT(unnamed, 0);
    printf("    corrupt WebP/TIFF: %ld decoded, %ld refused\n", decoded, failed);
}

/* A little-endian strip TIFF of 8-bit gray built here: w x h, one strip of
   `data` bytes (content not valid for any codec but "none"). */
static size_t make_tiff(uint8_t *out, uint32_t w, uint32_t h, uint16_t comp, uint32_t data) {
    static const uint16_t tags[] = {256, 257, 258, 259, 262, 273, 277, 278, 279};
    uint32_t vals[] = {w, h, 8, comp, 1, 8 + 2 + 9 * 12 + 4, 1, h, data};
    size_t p = 0;
    memcpy(out, "II*\0\x08\0\0\0", 8), p = 8;
    out[p++] = 9, out[p++] = 0;
    for (int i = 0; i < 9; i++) {
        uint16_t type = 4;
        uint32_t count = 1;
        memcpy(out + p, &tags[i], 2), memcpy(out + p + 2, &type, 2), memcpy(out + p + 4, &count, 4);
        memcpy(out + p + 8, &vals[i], 4);
        p += 12;
    }
    memset(out + p, 0, 4 + data), p += 4 + data;
    return p;
}

TEST(image_webp_tiff_size_limits) {
    static uint8_t b[4096];
    iris_image img;
    size_t n = make_tiff(b, 20, 10, 1, 200);
    CHECK_OK(iris_image_decode(&img, b, n, "plain.tif", NULL)); /* the builder itself is right */
    CHECK(img.w == 20 && img.h == 10 && img.c == 1 && img.data && img.data[0] == 0);
    iris_image_free(&img);
    n = make_tiff(b, 20000, 10, 1, 200);
    CHECK_INT(iris_image_decode(&img, b, n, "wide.tif", NULL), IRIS_ERR_UNSUPPORTED);
    CHECK(strstr(iris_last_error(), "wide.tif") && strstr(iris_last_error(), "20000x10"));
    /* 16 MB of pixels in 3 KB: more than deflate (at most 1032:1) or no compression can code */
    n = make_tiff(b, 4000, 4000, 8, 3000);
    CHECK_INT(iris_image_decode(&img, b, n, "claims.tif", NULL), IRIS_ERR_FORMAT);
    CHECK(strstr(iris_last_error(), "cannot hold a 4000x4000") != NULL);
    n = make_tiff(b, 100, 100, 1, 3000);
    CHECK_INT(iris_image_decode(&img, b, n, "short.tif", NULL), IRIS_ERR_FORMAT);
    CHECK(img.data == NULL);
    /* WebP: the limits apply before decoding */
    iris_image_read_params p = iris_image_default_read_params();
    p.max_side = 20;
    CHECK_INT(iris_image_load(&img, FIX "lossy_rgb.webp", &p), IRIS_ERR_UNSUPPORTED);
    CHECK(strstr(iris_last_error(), "lossy_rgb.webp") && strstr(iris_last_error(), "24x17"));
    CHECK_INT(iris_image_load(&img, FIX "anim.webp", &p), IRIS_OK);
    iris_image_free(&img);
    p.max_pixels = 50;
    CHECK_INT(iris_image_load(&img, FIX "anim.webp", &p), IRIS_ERR_UNSUPPORTED);
    CHECK_INT(iris_image_load(&img, FIX "rgb_tiled.tif", &p), IRIS_ERR_UNSUPPORTED);
    CHECK(img.data == NULL);
}

/* libtiff's messages come back per thread and per file, never printed:
   four threads decode a broken and a good TIFF over and over. */
typedef struct {
    uint8_t *bad, *good;
    size_t nbad, ngood;
    int id, wrong;
} tiff_job;

static void *tiff_worker(void *arg) {
    tiff_job *j = arg;
    char name[32];
    snprintf(name, sizeof name, "thread%d.tif", j->id);
    for (int k = 0; k < 40; k++) {
        iris_image img;
        if (iris_image_decode(&img, j->bad, j->nbad, name, NULL) == IRIS_OK || !strstr(iris_last_error(), name))
            j->wrong++;
        iris_image_free(&img);
        if (iris_image_decode(&img, j->good, j->ngood, name, NULL) != IRIS_OK) j->wrong++;
        iris_image_free(&img);
    }
    return NULL;
}

TEST(image_tiff_threads_keep_their_errors) {
    size_t n;
    uint8_t *good = read_fixture("rgb_lzw.tif", &n);
    CHECK(good != NULL);
    if (!good) return;
    uint8_t *bad = malloc(n);
    memcpy(bad, good, n);
    for (size_t i = 8; i < n / 2; i++) bad[i] ^= 0x5a; /* the LZW data is garbage now */
    iris_image probe;
    if (iris_image_decode(&probe, bad, n, "probe", NULL) == IRIS_OK) {
        iris_image_free(&probe);
        memset(bad + 8, 0xff, n / 2 - 8);
    }
    tiff_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (tiff_job){bad, good, n, n, i, 0};
        pthread_create(&th[i], NULL, tiff_worker, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(jobs[i].wrong, 0);
    }
    free(bad);
    free(good);
}

/* ---- JPEG decoded in the DCT ---- */

/* scaled.jpg is 83 x 61: 1/d gives ceil(83/d) x ceil(61/d), equal to PIL's
   draft() decode, which makes libjpeg do the same scaling (its reduced IDCTs
   are integer code: exact). */
TEST(image_jpeg_dct_scaled_matches_pil) {
    static const struct {
        int min_w, min_h, scale;
        const char *ref;
    } cases[] = {
        {11, 0, 8, "scaled_1_8"}, {0, 8, 8, "scaled_1_8"},  {12, 0, 4, "scaled_1_4"}, {21, 16, 4, "scaled_1_4"},
        {22, 0, 2, "scaled_1_2"}, {42, 31, 2, "scaled_1_2"}, {43, 0, 1, "scaled_full"}, {1, 32, 1, "scaled_full"},
        {0, 0, 1, "scaled_full"}, {5000, 5000, 1, "scaled_full"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        iris_image_read_params p = iris_image_default_read_params();
        p.min_w = cases[i].min_w, p.min_h = cases[i].min_h;
        iris_image img;
        CHECK_OK(iris_image_load(&img, FIX "scaled.jpg", &p));
        int h, w, c;
        const uint8_t *want = want_u8(cases[i].ref, &h, &w, &c);
        if (!img.data || !want) continue;
        CHECK_MSG(img.scale == cases[i].scale && img.w == w && img.h == h && img.full_w == 83 && img.full_h == 61,
                  "min %dx%d: scale %d, %dx%d of %dx%d", cases[i].min_w, cases[i].min_h, img.scale, img.w, img.h,
                  img.full_w, img.full_h);
        CHECK(img.w >= cases[i].min_w || cases[i].scale == 1);
        if (img.w == w && img.h == h) CHECK_MSG(!memcmp(img.data, want, (size_t)w * h * 3), "%s differs", cases[i].ref);
        iris_image_free(&img);
    }
}

/* Stored 61 x 83 and turned upright by EXIF orientation 6: the minimum is of
   the upright picture, so 21 x 16 upright allows 1/4 (16 x 21 stored); read
   as stored it would only allow 1/2. */
TEST(image_jpeg_dct_scaled_after_orientation) {
    iris_image_read_params p = iris_image_default_read_params();
    p.min_w = 21, p.min_h = 16;
    iris_image img;
    CHECK_OK(iris_image_load(&img, FIX "scaled_orient6.jpg", &p));
    int h, w, c;
    const uint8_t *want = want_u8("scaled_orient6_1_4", &h, &w, &c);
    if (!img.data || !want) return;
    CHECK(img.scale == 4 && img.w == 21 && img.h == 16 && img.full_w == 83 && img.full_h == 61);
    if (img.w == w && img.h == h) CHECK(!memcmp(img.data, want, (size_t)w * h * 3));
    iris_image_free(&img);
    p.orient = 0; /* as stored: 21 wide needs 1/2 of 61 */
    CHECK_OK(iris_image_load(&img, FIX "scaled_orient6.jpg", &p));
    CHECK(img.scale == 2 && img.w == 31 && img.h == 42 && img.full_w == 61 && img.full_h == 83);
    iris_image_free(&img);
    /* other formats ignore the minimum */
    p = iris_image_default_read_params();
    p.min_w = 1, p.min_h = 1;
    CHECK_OK(iris_image_load(&img, FIX "rgb_tiled.tif", &p));
    CHECK(img.scale == 1 && img.w == 37 && img.full_w == 37 && img.full_h == 21);
    iris_image_free(&img);
}

/* Against a full decode box-averaged by d (on the part made of whole d x d
   cells): the reduced IDCT keeps each 8x8 block's lowest frequencies, a
   smoother filter than a box, and upsamples chroma at the reduced size, so
   the two differ by the picture's detail at that scale. On this smooth image
   (noise sigma 6 added, JPEG quality 90) the measured mean difference is 1.1
   levels at every scale and the largest 3-5; the bounds (mean 2.5, max 15)
   leave room for another libjpeg's rounding and still fail for a picture
   shifted by one output pixel or with channels swapped. */
TEST(image_jpeg_dct_scaled_near_area_downscale) {
    iris_image full;
    CHECK_OK(iris_image_load(&full, FIX "scaled.jpg", NULL));
    if (!full.data) return;
    for (int d = 2; d <= 8; d *= 2) {
        iris_image_read_params p = iris_image_default_read_params();
        p.min_w = (83 + d - 1) / d;
        iris_image small, crop, area;
        CHECK_OK(iris_image_load(&small, FIX "scaled.jpg", &p));
        if (!small.data) continue;
        CHECK_INT(small.scale, d);
        int cw = 83 / d, ch = 61 / d;
        CHECK_OK(iris_image_crop(&crop, &full, 0, 0, cw * d, ch * d));
        CHECK_OK(iris_image_resize(&area, &crop, cw, ch, IRIS_RESIZE_AREA));
        double sum = 0;
        int maxd = 0;
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw * 3; x++) {
                int v = abs((int)small.data[(size_t)y * small.w * 3 + x] - (int)area.data[(size_t)y * cw * 3 + x]);
                sum += v;
                if (v > maxd) maxd = v;
            }
        double mean = sum / (cw * ch * 3);
        printf("    1/%d: mean |dct - area| %.2f, max %d\n", d, mean, maxd);
        CHECK_MSG(mean < 2.5 && maxd < 15, "1/%d: mean %.2f max %d", d, mean, maxd);
        iris_image_free(&small);
        iris_image_free(&crop);
        iris_image_free(&area);
    }
    iris_image_free(&full);
}
