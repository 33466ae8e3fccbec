/* fuzz_image.c - libFuzzer target: every image decoder from memory (JPEG sometimes DCT-scaled),
   then resizing, re-encoding and drawing a labelled box on what decoded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/image.h"
#include "../core/image_draw.h"
#include "fuzz.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sink += (uint64_t)iris_image_sniff(data, size);
    sink += (uint64_t)iris_exif_orientation(data, size);
    iris_image_read_params p = iris_image_default_read_params();
    p.max_side = 4096;     /* keep single inputs fast; the limit code is the same */
    p.max_pixels = 1 << 20;
    p.channels = size ? (int)"\0\1\3\4"[data[0] & 3] : 0;
    if (size > 1 && (data[1] & 3) == 1) p.min_w = data[1] >> 2, p.min_h = data[size / 2] >> 3; /* a quarter of the runs */
    iris_image img;
    if (iris_image_decode(&img, data, size, "fuzz", &p) != IRIS_OK) {
        if (img.data || img.w || img.n_text) __builtin_trap(); /* a failed decode leaves nothing behind */
        return 0;
    }
    if (img.w < 1 || img.h < 1 || (img.c != 1 && img.c != 3 && img.c != 4)) __builtin_trap();
    if (p.channels && img.c != p.channels) __builtin_trap();
    if (img.scale < 1 || (img.w - 1) * img.scale >= img.full_w || (img.h - 1) * img.scale >= img.full_h) __builtin_trap();
    for (int i = 0; i < img.n_text; i++) sink += strlen(img.text[i].key) + strlen(img.text[i].value);
    /* resize to a small size chosen by the input, in every mode */
    uint8_t b = data[size - 1];
    int dw = 1 + b % 23, dh = 1 + (b / 23) % 19;
    for (int m = IRIS_RESIZE_BILINEAR; m <= IRIS_RESIZE_DARKNET; m++) {
        iris_image small;
        if (iris_image_resize(&small, &img, dw, dh, (iris_resize_mode)m) == IRIS_OK) {
            sink += small.data[0];
            iris_image_free(&small);
        }
    }
    if ((size_t)img.w * img.h <= 4096) { /* PNG encoding round trip stays exact */
        uint8_t *buf;
        size_t n;
        iris_image back;
        if (iris_image_encode_png(&img, NULL, 0, &buf, &n) == IRIS_OK) {
            if (iris_image_decode(&back, buf, n, "again", NULL) != IRIS_OK) __builtin_trap();
            if (back.w != img.w || back.h != img.h || back.c != img.c ||
                memcmp(back.data, img.data, (size_t)img.w * img.h * img.c))
                __builtin_trap();
            iris_image_free(&back);
            free(buf);
        }
    }
    /* a box and label anywhere around the picture, coordinates from the input */
    uint8_t col[3];
    iris_image_class_color(data[size / 3], col);
    float bx = (float)(int8_t)data[size / 4] * 3, by = (float)(int8_t)data[size / 5] * 3;
    if (iris_image_draw_label_box(&img, bx, by, bx + data[size / 6], by + data[size / 7], col, "fuzz 0.50", data[0] >> 5,
                                  data[size - 1] >> 6) != IRIS_OK)
        __builtin_trap();
    iris_image_free(&img);
    return 0;
}
