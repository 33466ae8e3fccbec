/* image_exif.c - the EXIF orientation tag, and turning pixels upright.

   Cameras store the sensor's pixels and record in tag 0x0112 how to turn
   them for display; viewers (and OpenCV's imread, PIL's exif_transpose)
   apply it, so a model sees what a person sees. Only IFD0 is read: that is
   where the tag lives. */
#include <stdlib.h>
#include <string.h>

#include "image.h"

static unsigned rd16(const uint8_t *p, int le) { return le ? p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1]; }
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? rd16(p, 1) | (uint32_t)rd16(p + 2, 1) << 16 : (uint32_t)rd16(p, 0) << 16 | rd16(p + 2, 0);
}

int iris_exif_orientation(const uint8_t *b, size_t n) {
    if (!b) return 0;
    if (n >= 6 && !memcmp(b, "Exif\0\0", 6)) b += 6, n -= 6;
    if (n < 8) return 0;
    int le;
    if (b[0] == 'I' && b[1] == 'I') le = 1;
    else if (b[0] == 'M' && b[1] == 'M') le = 0;
    else return 0;
    if (rd16(b + 2, le) != 42) return 0;
    uint64_t ifd = rd32(b + 4, le);
    if (ifd < 8 || ifd + 2 > n) return 0;
    unsigned count = rd16(b + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        uint64_t e = ifd + 2 + 12ull * i;
        if (e + 12 > n) return 0;
        if (rd16(b + e, le) != 0x0112) continue;
        unsigned type = rd16(b + e + 2, le);
        uint32_t cnt = rd32(b + e + 4, le);
        unsigned v;
        if (type == 3 && cnt == 1) v = rd16(b + e + 8, le);       /* SHORT, as the standard says */
        else if (type == 4 && cnt == 1) v = rd32(b + e + 8, le);  /* LONG: some writers */
        else return 0;
        return v >= 1 && v <= 8 ? (int)v : 0;
    }
    return 0;
}

/* Source pixel for upright pixel (x, y) of the output, stored image w x h. */
static void src_of(int o, int w, int h, int x, int y, int *sx, int *sy) {
    switch (o) {
    case 2: *sx = w - 1 - x, *sy = y; break;          /* mirrored left-right */
    case 3: *sx = w - 1 - x, *sy = h - 1 - y; break;  /* rotated 180 */
    case 4: *sx = x, *sy = h - 1 - y; break;          /* mirrored top-bottom */
    case 5: *sx = y, *sy = x; break;                  /* transposed */
    case 6: *sx = y, *sy = h - 1 - x; break;          /* needs 90 degrees clockwise */
    case 7: *sx = w - 1 - y, *sy = h - 1 - x; break;  /* transverse */
    case 8: *sx = w - 1 - y, *sy = x; break;          /* needs 90 degrees anticlockwise */
    default: *sx = x, *sy = y; break;
    }
}

iris_status iris_image_orient(iris_image *img, int o) {
    if (o < 2 || o > 8) return IRIS_OK;
    if (!img || !img->data || img->w < 1 || img->h < 1 || img->c < 1)
        return iris_fail(IRIS_ERR_ARG, "orient: not a valid image");
    int w = img->w, h = img->h, c = img->c;
    int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    uint8_t *out = malloc((size_t)w * (size_t)h * (size_t)c);
    if (!out) return iris_fail(IRIS_ERR_NOMEM, "orient: out of memory for %dx%d", w, h);
    for (int y = 0; y < oh; y++) {
        uint8_t *d = out + (size_t)y * ow * c;
        for (int x = 0; x < ow; x++, d += c) {
            int sx, sy;
            src_of(o, w, h, x, y, &sx, &sy);
            memcpy(d, img->data + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    }
    free(img->data);
    img->data = out;
    img->w = ow, img->h = oh;
    if (o >= 5) {
        int t = img->full_w;
        img->full_w = img->full_h, img->full_h = t;
    }
    return IRIS_OK;
}
