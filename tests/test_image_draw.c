/* test_image_draw.c - rectangles, text and labelled boxes (core/image_draw.c).
   References: pixel masks worked out here from the definitions in image_draw.h
   (a pixel is in a rectangle's outline iff it lies inside the rectangle and
   less than `thickness` from its nearest edge), checked pixel by pixel; the
   font against its own promises (every glyph inside its cell, scaling by
   pixel replication, all glyphs distinct). Set IRIS_DRAW_PNG=file.png to get
   every glyph at scales 1-3 and some labelled boxes as a picture to look at. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static const uint8_t RED[3] = {250, 20, 10}, YELLOW[3] = {255, 230, 0};

static iris_image blank(int w, int h, int c) {
    iris_image img;
    iris_image_alloc(&img, w, h, c);
    if (img.data) memset(img.data, 0, (size_t)w * h * c);
    return img;
}

static int is_set(const iris_image *img, int x, int y) {
    const uint8_t *p = img->data + ((size_t)y * img->w + x) * img->c;
    for (int k = 0; k < img->c; k++)
        if (p[k]) return 1;
    return 0;
}

/* The outline mask from its definition, in 64-bit arithmetic. */
static int in_outline(long long x, long long y, long long x0, long long y0, long long x1, long long y1, long long t) {
    if (x0 > x1) { long long s = x0; x0 = x1, x1 = s; }
    if (y0 > y1) { long long s = y0; y0 = y1, y1 = s; }
    if (x < x0 || x > x1 || y < y0 || y > y1) return 0;
    long long d = x - x0;
    if (x1 - x < d) d = x1 - x;
    if (y - y0 < d) d = y - y0;
    if (y1 - y < d) d = y1 - y;
    return d < t;
}

static long long mismatches(const iris_image *img, int x0, int y0, int x1, int y1, long long t) {
    long long bad = 0;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) bad += is_set(img, x, y) != in_outline(x, y, x0, y0, x1, y1, t);
    return bad;
}

TEST(image_draw_rect_exact_pixels) {
    iris_image img = blank(10, 8, 3);
    CHECK_OK(iris_image_fill_rect(&img, 5, 4, 2, 3, RED)); /* corners in any order */
    CHECK_INT(mismatches(&img, 2, 3, 5, 4, 100), 0);
    const uint8_t *p = img.data + (3 * 10 + 2) * 3;
    CHECK(p[0] == 250 && p[1] == 20 && p[2] == 10);
    memset(img.data, 0, 240);
    CHECK_OK(iris_image_draw_rect(&img, 1, 1, 6, 5, RED, 1));
    /* a 6 x 5 outline: 2 * 6 + 2 * 3 pixels, corners included, inside empty */
    long long n = 0;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 10; x++) n += is_set(&img, x, y);
    CHECK_INT(n, 18);
    CHECK(is_set(&img, 1, 1) && is_set(&img, 6, 1) && is_set(&img, 1, 5) && is_set(&img, 6, 5));
    CHECK(!is_set(&img, 2, 2) && !is_set(&img, 5, 4) && !is_set(&img, 0, 0) && !is_set(&img, 7, 6));
    memset(img.data, 0, 240);
    CHECK_OK(iris_image_draw_rect(&img, 0, 0, 9, 7, RED, 2));
    CHECK_INT(mismatches(&img, 0, 0, 9, 7, 2), 0);
    CHECK(!is_set(&img, 2, 2) && is_set(&img, 1, 6));
    CHECK_INT(iris_image_draw_rect(&img, 0, 0, 9, 7, RED, 0), IRIS_ERR_ARG);
    CHECK_INT(iris_image_draw_rect(&img, 0, 0, 9, 7, NULL, 1), IRIS_ERR_ARG);
    iris_image none = {0};
    CHECK_INT(iris_image_fill_rect(&none, 0, 0, 1, 1, RED), IRIS_ERR_ARG);
    iris_image_free(&img);
}

/* Random rectangles partly or wholly outside, extreme values: exactly the
   visible part of the definition is drawn (and asan sees no stray write). */
TEST(image_draw_rect_clipped) {
    uint32_t s = 99;
    long long bad = 0;
    for (int t = 0; t < 3000; t++) {
        int c = t % 3 == 0 ? 1 : t % 3 == 1 ? 3 : 4;
        iris_image img = blank(13, 9, c);
        int v[4];
        for (int k = 0; k < 4; k++) s = s * 1103515245u + 12345u, v[k] = (int)((s >> 16) % 41) - 14;
        int th = 1 + (int)((s >> 8) % 5);
        CHECK_OK(iris_image_draw_rect(&img, v[0], v[1], v[2], v[3], RED, th));
        bad += mismatches(&img, v[0], v[1], v[2], v[3], th);
        iris_image_free(&img);
    }
    CHECK_INT(bad, 0);
    static const int ext[][5] = {
        {INT_MIN, INT_MIN, INT_MAX, INT_MAX, 1},       {INT_MIN, INT_MIN, INT_MAX, INT_MAX, INT_MAX},
        {INT_MAX, INT_MAX, INT_MAX, INT_MAX, INT_MAX}, {-5, 3, INT_MAX, 4, 2},
        {INT_MIN, 2, 5, INT_MIN, 3},                   {3, 3, 3, 3, 1},
    };
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        iris_image img = blank(13, 9, 3);
        CHECK_OK(iris_image_draw_rect(&img, ext[i][0], ext[i][1], ext[i][2], ext[i][3], RED, ext[i][4]));
        CHECK_MSG(mismatches(&img, ext[i][0], ext[i][1], ext[i][2], ext[i][3], ext[i][4]) == 0, "extreme case %zu", i);
        memset(img.data, 0, 13 * 9 * 3);
        CHECK_OK(iris_image_fill_rect(&img, ext[i][0], ext[i][1], ext[i][2], ext[i][3], RED));
        CHECK_MSG(mismatches(&img, ext[i][0], ext[i][1], ext[i][2], ext[i][3], 1ll << 40) == 0, "extreme fill %zu", i);
        iris_image_free(&img);
    }
}

TEST(image_draw_gray_and_rgba_pixels) {
    iris_image g = blank(4, 4, 1), a = blank(4, 4, 4);
    CHECK_OK(iris_image_fill_rect(&g, 0, 0, 0, 0, RED));
    CHECK_INT(g.data[0], 88); /* PIL "L" luma: (250*19595 + 20*38470 + 10*7471 + 32768) >> 16 */
    CHECK_OK(iris_image_fill_rect(&a, 1, 1, 1, 1, YELLOW));
    const uint8_t *p = a.data + (4 + 1) * 4;
    CHECK(p[0] == 255 && p[1] == 230 && p[2] == 0 && p[3] == 255);
    iris_image_free(&g);
    iris_image_free(&a);
}

/* ---- text ---- */

/* The glyph of `ch` at scale s drawn alone at (2, 2) of a blank image. */
static iris_image glyph(int ch, int s) {
    iris_image img = blank(IRIS_FONT_W * s + 4, IRIS_FONT_H * s + 4, 1);
    char text[2] = {(char)ch, 0};
    static const uint8_t white[3] = {255, 255, 255};
    iris_image_draw_text(&img, 2, 2, text, white, s);
    return img;
}

TEST(image_draw_font_glyphs) {
    int empty_ok = 1, inside = 1, has_pixels = 1, scaled = 1, gap = 1;
    for (int ch = 32; ch <= 126; ch++) {
        iris_image one = glyph(ch, 1);
        int n = 0;
        for (int y = 0; y < one.h; y++)
            for (int x = 0; x < one.w; x++)
                if (is_set(&one, x, y)) {
                    n++;
                    inside &= x >= 2 && x < 2 + IRIS_FONT_W && y >= 2 && y < 2 + IRIS_FONT_H;
                    gap &= x < 2 + IRIS_FONT_W - 1; /* the last column stays blank between letters */
                }
        if (ch == ' ') empty_ok = n == 0;
        else if (n == 0) has_pixels = 0, printf("    glyph '%c' is empty\n", ch);
        for (int s = 2; s <= 3; s++) { /* every font pixel becomes an s x s square */
            iris_image big = glyph(ch, s);
            for (int y = 0; y < big.h; y++)
                for (int x = 0; x < big.w; x++) {
                    int want = x >= 2 && y >= 2 && x < 2 + IRIS_FONT_W * s && y < 2 + IRIS_FONT_H * s &&
                               is_set(&one, 2 + (x - 2) / s, 2 + (y - 2) / s);
                    scaled &= is_set(&big, x, y) == want;
                }
            iris_image_free(&big);
        }
        iris_image_free(&one);
    }
    CHECK(empty_ok);
    CHECK(has_pixels);
    CHECK(inside);
    CHECK(gap);
    CHECK(scaled);
    /* no two glyphs look the same */
    int distinct = 1;
    for (int a = 33; a <= 126; a++) {
        iris_image ga = glyph(a, 1);
        for (int b = a + 1; b <= 126; b++) {
            iris_image gb = glyph(b, 1);
            if (!memcmp(ga.data, gb.data, (size_t)ga.w * ga.h)) distinct = 0, printf("    '%c' == '%c'\n", a, b);
            iris_image_free(&gb);
        }
        iris_image_free(&ga);
    }
    CHECK(distinct);
}

TEST(image_draw_text_measure_and_clip) {
    int w, h;
    iris_image_text_size("dog 0.93", 2, &w, &h);
    CHECK(w == 8 * 12 && h == 20);
    iris_image_text_size("caf\xc3\xa9", 1, &w, &h); /* 4 characters: the UTF-8 pair is one '?' */
    CHECK(w == 24 && h == 10);
    iris_image_text_size("", 3, &w, &h);
    CHECK(w == 0 && h == 30);
    iris_image_text_size("x", 0, &w, &h);
    CHECK(w == 6 && h == 10);
    /* all drawn pixels lie in the measured box, and "café" draws "caf?" */
    iris_image a = blank(40, 16, 3), b = blank(40, 16, 3);
    CHECK_OK(iris_image_draw_text(&a, 3, 2, "caf\xc3\xa9", YELLOW, 1));
    CHECK_OK(iris_image_draw_text(&b, 3, 2, "caf?", YELLOW, 1));
    CHECK(!memcmp(a.data, b.data, 40 * 16 * 3));
    int outside = 0;
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 40; x++) outside += is_set(&a, x, y) && (x < 3 || x >= 3 + 24 || y < 2 || y >= 12);
    CHECK_INT(outside, 0);
    /* clipped on the left and top: the visible part equals the unclipped drawing shifted */
    iris_image big = blank(40, 20, 1), cut = blank(40, 20, 1);
    CHECK_OK(iris_image_draw_text(&big, 0, 0, "W@g", YELLOW, 2));
    CHECK_OK(iris_image_draw_text(&cut, -5, -7, "W@g", YELLOW, 2));
    int same = 1;
    for (int y = 0; y < 13; y++)
        for (int x = 0; x < 35; x++) same &= is_set(&cut, x, y) == is_set(&big, x + 5, y + 7);
    CHECK(same);
    /* far outside, huge scale, long text: nothing breaks */
    CHECK_OK(iris_image_draw_text(&cut, INT_MAX, INT_MAX, "far", YELLOW, 1));
    CHECK_OK(iris_image_draw_text(&cut, INT_MIN, INT_MIN, "far", YELLOW, IRIS_FONT_MAX_SCALE));
    CHECK_OK(iris_image_draw_text(&cut, INT_MIN, 0, "a much longer line of text than fits", YELLOW, 3));
    CHECK_OK(iris_image_draw_text(&cut, 30, 15, "\x01\x7f\xff", YELLOW, 7));
    CHECK_INT(iris_image_draw_text(&cut, 0, 0, "x", YELLOW, 0), IRIS_ERR_ARG);
    CHECK_OK(iris_image_draw_text(&cut, 0, 0, NULL, YELLOW, 1));
    iris_image_free(&a), iris_image_free(&b), iris_image_free(&big), iris_image_free(&cut);
}

TEST(image_draw_class_colors) {
    uint8_t c0[3], c[3];
    iris_image_class_color(0, c0); /* hue 0: v = 0.95, v(1 - s) = 0.2375 of 255 */
    CHECK(c0[0] == 242 && c0[1] == 61 && c0[2] == 61);
    iris_image_class_color(0, c);
    CHECK(!memcmp(c, c0, 3));
    /* neighbouring classes differ clearly; the 80 COCO classes use many colours */
    int close = 0;
    for (int id = 0; id < 80; id++) {
        uint8_t a[3], b[3];
        iris_image_class_color(id, a);
        iris_image_class_color(id + 1, b);
        int d = abs(a[0] - b[0]) + abs(a[1] - b[1]) + abs(a[2] - b[2]);
        close += d < 120;
    }
    CHECK_INT(close, 0);
    iris_image_class_color(-1, c);
    iris_image_class_color(INT_MIN, c);
}

static long long count_color(const iris_image *img, const uint8_t rgb[3], int x0, int y0, int x1, int y1) {
    long long n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) n += !memcmp(img->data + ((size_t)y * img->w + x) * 3, rgb, 3);
    return n;
}

TEST(image_draw_label_box_layout) {
    static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255}, navy[3] = {10, 20, 120};
    iris_image img = blank(64, 48, 3);
    CHECK_OK(iris_image_draw_label_box(&img, 10.3f, 20, 40.6f, 40, YELLOW, "ab", 1, 1));
    /* box: pixels 10..40 x 20..39 */
    int box_ok = 1;
    for (int y = 20; y < 48; y++)
        for (int x = 0; x < 64; x++)
            box_ok &= (memcmp(img.data + ((size_t)y * 64 + x) * 3, YELLOW, 3) == 0) == in_outline(x, y, 10, 20, 40, 39, 1);
    CHECK(box_ok);
    /* band above: 2 * 6 + 2 wide, 10 + 2 high, at x 10..23, y 8..19; yellow is light: black text */
    long long band = count_color(&img, YELLOW, 10, 8, 23, 19), text = count_color(&img, black, 10, 8, 23, 19);
    CHECK_INT(band + text, 14 * 12);
    CHECK(text > 10);
    CHECK_INT(count_color(&img, black, 11, 9, 22, 18), text); /* text stays inside the padding */
    CHECK_INT(count_color(&img, YELLOW, 0, 0, 63, 7), 0);
    /* at the top edge the band goes inside the box; a dark colour gets white text */
    memset(img.data, 0, 64 * 48 * 3);
    CHECK_OK(iris_image_draw_label_box(&img, 5, 3, 30, 30, navy, "ab", 1, 1));
    CHECK_INT(count_color(&img, navy, 5, 3, 18, 14) + count_color(&img, white, 5, 3, 18, 14), 14 * 12);
    CHECK(count_color(&img, white, 5, 3, 18, 14) > 10);
    /* at the right edge the band shifts left to stay whole */
    memset(img.data, 0, 64 * 48 * 3);
    CHECK_OK(iris_image_draw_label_box(&img, 60, 30, 63, 40, YELLOW, "ab", 1, 1));
    CHECK_INT(count_color(&img, YELLOW, 50, 18, 63, 29) + count_color(&img, black, 50, 18, 63, 29), 14 * 12);
    /* NaN: an error and nothing drawn; a box missing the image draws nothing */
    memset(img.data, 0, 64 * 48 * 3);
    CHECK_INT(iris_image_draw_label_box(&img, NAN, 0, 10, 10, YELLOW, "x", 1, 1), IRIS_ERR_ARG);
    CHECK_OK(iris_image_draw_label_box(&img, 100, 100, 200, 200, YELLOW, "x", 1, 1));
    CHECK_OK(iris_image_draw_label_box(&img, -50, -50, -1, -1, YELLOW, "x", 3, 2));
    CHECK_INT(count_color(&img, black, 0, 0, 63, 47), 64 * 48);
    /* infinite and huge boxes, automatic sizes, every channel count: clipped */
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        iris_image t = blank(31, 17, c);
        CHECK_OK(iris_image_draw_label_box(&t, -INFINITY, -1e30f, INFINITY, 1e30f, RED, "person 0.99", 0, 0));
        CHECK_OK(iris_image_draw_label_box(&t, 3e9f, -3e9f, -3e9f, 3e9f, RED, "x", 1000000, 0));
        iris_image_free(&t);
    }
    iris_image_free(&img);
}

/* Many random boxes and labels on small images of every channel count: only asan can fail this. */
TEST(image_draw_label_box_random) {
    uint32_t s = 7;
    long long ok = 0;
    for (int t = 0; t < 2000; t++) {
        int c = t % 3 == 0 ? 1 : t % 3 == 1 ? 3 : 4;
        iris_image img = blank(1 + t % 37, 1 + t % 23, c);
        float v[4];
        for (int k = 0; k < 4; k++) s = s * 1103515245u + 12345u, v[k] = (float)((int)(s >> 12) % 3000) / 10.f - 100;
        char label[16];
        snprintf(label, sizeof label, "c%d %.2f", t % 91, (s >> 20) / 4096.0);
        uint8_t col[3];
        iris_image_class_color(t, col);
        ok += iris_image_draw_label_box(&img, v[0], v[1], v[2], v[3], col, label, t % 4, t % 5) == IRIS_OK;
        iris_image_free(&img);
    }
    CHECK_INT(ok, 2000);
}

/* IRIS_DRAW_PNG=file.png: all glyphs at scales 1, 2 and 3 plus a few boxes, for a person to read. */
TEST(image_draw_sheet_for_eyes) {
    const char *out = getenv("IRIS_DRAW_PNG");
    if (!out) {
        CHECK(1);
        return;
    }
    iris_image img = blank(600, 250, 3);
    memset(img.data, 40, 600 * 250 * 3);
    static const uint8_t white[3] = {255, 255, 255};
    char line[64];
    int y = 4;
    for (int s = 1; s <= 3; s++)
        for (int start = 32; start <= 126; start += 32) {
            int k = 0;
            for (int ch = start; ch < start + 32 && ch <= 126; ch++) line[k++] = (char)ch;
            line[k] = 0;
            iris_image_draw_text(&img, 4, y, line, white, s);
            y += IRIS_FONT_H * s + 2;
        }
    static const char *names[] = {"person 0.99", "dog 0.93", "bicycle 0.51", "traffic light 0.30"};
    for (int i = 0; i < 4; i++) {
        uint8_t col[3];
        iris_image_class_color(i, col);
        iris_image_draw_label_box(&img, 260.f + 80 * i, 150.f + 10 * i, 330.f + 80 * i, 240.f, col, names[i], 2, 1);
    }
    CHECK_OK(iris_image_save_png(out, &img, NULL, 0));
    iris_image_free(&img);
}
