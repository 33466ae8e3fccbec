/* image_stb.c - the less common formats (BMP, GIF, TGA, PNM, PSD) through stb_image.

   stb_image is compiled here, once, static, with only those decoders: PNG
   and JPEG go through libpng/libjpeg (image.c) for their error handling
   and metadata, and HDR is not an 8-bit format. Everything is decoded from
   memory; dimensions are checked with stbi_info before any pixel memory
   is taken. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
#define STBI_ONLY_PNM
#define STBI_ONLY_PSD
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS IRIS_IMAGE_MAX_SIDE
/* stb declares its unused zlib/PNG helpers static: GCC reports those at the end of the file */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wshadow"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

/* Declared in image.c, the only caller. */
iris_status iris_image_decode_stb(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                                  const char *fmt, int max_side, long long max_pixels);

static iris_status limits(const char *name, const char *fmt, int w, int h, int max_side, long long max_pixels) {
    if (w < 1 || h < 1) return iris_fail(IRIS_ERR_FORMAT, "%s: %s: image is %dx%d", name, fmt, w, h);
    if (w > max_side || h > max_side)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: %s: image is %dx%d, above the limit of %d pixels per side", name,
                         fmt, w, h, max_side);
    if ((long long)w * h > max_pixels)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: %s: image is %dx%d, above the limit of %lld pixels", name, fmt, w,
                         h, max_pixels);
    return IRIS_OK;
}

iris_status iris_image_decode_stb(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                                  const char *fmt, int max_side, long long max_pixels) {
    memset(img, 0, sizeof *img);
    if (n > INT_MAX) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: %s: file too large", name, fmt);
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(buf, (int)n, &w, &h, &comp))
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s: %s", name, fmt, stbi_failure_reason());
    iris_status st = limits(name, fmt, w, h, max_side, max_pixels);
    if (st) return st;
    int wide = stbi_is_16_bit_from_memory(buf, (int)n);
    void *px = wide ? (void *)stbi_load_16_from_memory(buf, (int)n, &w, &h, &comp, 0)
                    : (void *)stbi_load_from_memory(buf, (int)n, &w, &h, &comp, 0);
    if (!px) return iris_fail(IRIS_ERR_FORMAT, "%s: %s: %s", name, fmt, stbi_failure_reason());
    if ((st = limits(name, fmt, w, h, max_side, max_pixels)) || comp < 1 || comp > 4) {
        stbi_image_free(px);
        return st ? st : iris_fail(IRIS_ERR_FORMAT, "%s: %s: %d channels", name, fmt, comp);
    }
    int c = comp == 2 ? 4 : comp; /* gray+alpha -> RGBA */
    if ((st = iris_image_alloc(img, w, h, c))) {
        stbi_image_free(px);
        return st;
    }
    size_t np = (size_t)w * (size_t)h;
    const uint8_t *s8 = px;
    const uint16_t *s16 = px;
    uint8_t *d = img->data;
    for (size_t i = 0; i < np; i++, d += c) {
        uint8_t v[4];
        for (int k = 0; k < comp; k++) {
            size_t j = i * (size_t)comp + (size_t)k;
            v[k] = wide ? (uint8_t)((s16[j] * 255u + 32767u) / 65535u) : s8[j];
        }
        if (comp == 2) d[0] = d[1] = d[2] = v[0], d[3] = v[1];
        else memcpy(d, v, (size_t)c);
    }
    stbi_image_free(px);
    return IRIS_OK;
}
