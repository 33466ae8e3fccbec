/* image_stb.c - BMP, GIF and TGA through stb_image.

   stb_image is compiled here, once, static, with only those decoders: PNG
   and JPEG go through libpng/libjpeg (image.c) for their error handling
   and metadata, PNM and PSD through small readers of ours (image.c,
   image_psd.c), and HDR is not an 8-bit format. Dimensions are checked
   with stbi_info before any pixel memory is taken. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_TGA
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

/* stb decoders read zeros past the end of a memory buffer and some ignore
   short reads, so a truncated file would decode "successfully". Reading
   through callbacks lets us see it: stb refills its own 128-byte buffer
   (always the destination of its first read) only when it needs a byte,
   so a refill that gets nothing, or any other read that comes up short,
   means the file ended too soon. */
typedef struct cb_src {
    const uint8_t *p;
    size_t n, pos;
    const char *refill_buf;
    int past_end;
} cb_src;

static int cb_read(void *user, char *data, int size) {
    cb_src *s = user;
    if (!s->refill_buf) s->refill_buf = data;
    size_t want = size > 0 ? (size_t)size : 0, k = s->n - s->pos;
    if (k > want) k = want;
    memcpy(data, s->p + s->pos, k);
    s->pos += k;
    if (data == s->refill_buf ? (k == 0 && want) : k < want) s->past_end = 1;
    return (int)k;
}

static void cb_skip(void *user, int n) {
    cb_src *s = user;
    if (n < 0) {
        s->pos = (size_t)-(long long)n > s->pos ? 0 : s->pos - (size_t)-(long long)n;
    } else if ((size_t)n > s->n - s->pos) {
        s->pos = s->n;
        s->past_end = 1;
    } else {
        s->pos += (size_t)n;
    }
}

static int cb_eof(void *user) {
    cb_src *s = user;
    return s->pos >= s->n;
}

static const stbi_io_callbacks cbs = {cb_read, cb_skip, cb_eof};

static cb_src *cb_start(cb_src *s, const uint8_t *p, size_t n) {
    memset(s, 0, sizeof *s);
    s->p = p, s->n = n;
    return s;
}

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
    cb_src src;
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_callbacks(&cbs, cb_start(&src, buf, n), &w, &h, &comp))
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s: %s", name, fmt, stbi_failure_reason());
    iris_status st = limits(name, fmt, w, h, max_side, max_pixels);
    if (st) return st;
    /* stb allocates (and GIF clears) the whole canvas before reading pixels:
       refuse headers whose size no data of this length could fill. LZW
       yields at most ~2730 pixels per byte, TGA's RLE 64, and stb's BMP
       reader takes no compressed BMPs (>= 1 bit per pixel). */
    double per_byte = !strcmp(fmt, "gif") ? 4096 : !strcmp(fmt, "bmp") ? 8 : 64;
    if ((double)w * h > (double)n * per_byte + 4096)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s: %zu bytes cannot hold a %dx%d image (premature end of data)", name,
                         fmt, n, w, h);
    uint8_t *px = stbi_load_from_callbacks(&cbs, cb_start(&src, buf, n), &w, &h, &comp, 0);
    if (!px) return iris_fail(IRIS_ERR_FORMAT, "%s: %s: %s", name, fmt, stbi_failure_reason());
    if (src.past_end) st = iris_fail(IRIS_ERR_FORMAT, "%s: %s: premature end of data", name, fmt);
    else if (!(st = limits(name, fmt, w, h, max_side, max_pixels)) && (comp < 1 || comp > 4))
        st = iris_fail(IRIS_ERR_FORMAT, "%s: %s: %d channels", name, fmt, comp);
    if (st) {
        stbi_image_free(px);
        return st;
    }
    int c = comp == 2 ? 4 : comp; /* gray+alpha -> RGBA */
    if ((st = iris_image_alloc(img, w, h, c))) {
        stbi_image_free(px);
        return st;
    }
    size_t np = (size_t)w * (size_t)h;
    if (comp == 2)
        for (size_t i = 0; i < np; i++) {
            uint8_t *d = img->data + 4 * i;
            d[0] = d[1] = d[2] = px[2 * i], d[3] = px[2 * i + 1];
        }
    else
        memcpy(img->data, px, np * (size_t)c);
    stbi_image_free(px);
    return IRIS_OK;
}
