/* image_psd.c - the merged (flattened) picture of a Photoshop PSD file.

   Our own reader rather than stb_image's, whose un-matting of the alpha
   channel converts out-of-range floats to bytes on hostile input. A PSD
   keeps, after its header and three skippable sections, the composite of
   all layers as planes (R, G, B or gray, then extra channels), raw or
   PackBits-compressed row by row. Only RGB and grayscale at 8 or 16 bits
   are read; the first extra channel is the composite's alpha, and the
   colours stored matted against white are restored to straight alpha. */
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* Declared in image.c, the only caller. */
iris_status iris_image_decode_psd(iris_image *img, const uint8_t *buf, size_t n, const char *name, int max_side,
                                  long long max_pixels);

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }

/* PackBits: n < 128 copies n+1 bytes, n > 128 repeats one byte 257-n times, 128 is a no-op.
   Fills exactly `want` bytes from exactly `have` bytes, or fails. */
static int unpackbits(const uint8_t *s, size_t have, uint8_t *d, size_t want) {
    size_t i = 0, o = 0;
    while (i < have) {
        unsigned h = s[i++];
        if (h < 128) {
            size_t k = h + 1;
            if (k > have - i || k > want - o) return -1;
            memcpy(d + o, s + i, k);
            i += k, o += k;
        } else if (h > 128) {
            size_t k = 257 - h;
            if (i >= have || k > want - o) return -1;
            memset(d + o, s[i++], k);
            o += k;
        }
    }
    return o == want ? 0 : -1;
}

iris_status iris_image_decode_psd(iris_image *img, const uint8_t *b, size_t n, const char *name, int max_side,
                                  long long max_pixels) {
    memset(img, 0, sizeof *img);
    if (n < 26) return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: premature end of data", name);
    uint32_t version = be16(b + 4), channels = be16(b + 12), h = be32(b + 14), w = be32(b + 18);
    uint32_t depth = be16(b + 22), mode = be16(b + 24);
    if (version != 1) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: PSD: version %u (large documents) not supported", name, version);
    if (mode != 1 && mode != 3)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: PSD: colour mode %u not supported (RGB and grayscale only)", name, mode);
    if (depth != 8 && depth != 16) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: PSD: %u-bit samples not supported", name, depth);
    uint32_t cc = mode == 3 ? 3 : 1;
    if (channels < cc || channels > 56) return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: %u channels", name, channels);
    if (w < 1 || h < 1) return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: image is %ux%u", name, w, h);
    if (w > (uint32_t)max_side || h > (uint32_t)max_side)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: PSD: image is %ux%u, above the limit of %d pixels per side", name, w,
                         h, max_side);
    if ((long long)w * h > max_pixels)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: PSD: image is %ux%u, above the limit of %lld pixels", name, w, h,
                         max_pixels);
    size_t pos = 26;
    for (int sec = 0; sec < 3; sec++) { /* colour mode data, image resources, layers and masks */
        if (n - pos < 4) return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: premature end of data", name);
        uint32_t len = be32(b + pos);
        pos += 4;
        if (len > n - pos) return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: premature end of data", name);
        pos += len;
    }
    if (n - pos < 2) return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: premature end of data", name);
    uint32_t comp = be16(b + pos);
    pos += 2;
    if (comp > 1) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: PSD: compression %u not supported", name, comp);
    int alpha = channels > cc;
    uint32_t planes = cc + (uint32_t)alpha, bps = depth / 8;
    size_t rowb = (size_t)w * bps;
    /* the data must hold every channel (a file cut short is an error even in
       channels we skip): raw planes, or the row lengths and rows they name */
    double all = (double)channels * h * rowb, avail = (double)(n - pos), table = 2.0 * h * channels;
    if (comp == 0 ? all > avail : table > avail)
        return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: premature end of data", name);
    if (comp == 1) {
        double sum = 0;
        for (size_t i = 0; i < (size_t)h * channels; i++) sum += be16(b + pos + 2 * i);
        if (sum > avail - table || (double)planes * h * rowb > sum * 64)
            return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: premature end of data", name);
    }
    iris_status st = iris_image_alloc(img, (int)w, (int)h, alpha ? 4 : (int)cc);
    if (st) return st;
    uint8_t *row = malloc(rowb);
    if (!row) {
        iris_image_free(img);
        return iris_fail(IRIS_ERR_NOMEM, "%s: PSD: out of memory", name);
    }
    const uint8_t *counts = b + pos;
    size_t data = comp ? pos + 2ull * h * channels : pos;
    int c = img->c;
    for (uint32_t p = 0; p < planes; p++) {
        for (uint32_t y = 0; y < h; y++) {
            const uint8_t *src;
            if (comp == 0) {
                src = b + data + ((size_t)p * h + y) * rowb;
            } else {
                size_t len = be16(counts + 2 * ((size_t)p * h + y));
                if (len > n - data || unpackbits(b + data, len, row, rowb)) {
                    free(row);
                    iris_image_free(img);
                    return iris_fail(IRIS_ERR_FORMAT, "%s: PSD: corrupt compressed row", name);
                }
                data += len;
                src = row;
            }
            uint8_t *d = img->data + (size_t)y * w * c;
            /* plane -> channel: gray fills R, G and B when there is alpha */
            for (uint32_t x = 0; x < w; x++) {
                unsigned v = bps == 2 ? (be16(src + 2 * x) * 255u + 32767u) / 65535u : src[x];
                if (p == cc) d[(size_t)x * c + 3] = (uint8_t)v;
                else if (cc == 1 && c == 4) d[(size_t)x * c] = d[(size_t)x * c + 1] = d[(size_t)x * c + 2] = (uint8_t)v;
                else d[(size_t)x * c + p] = (uint8_t)v;
            }
        }
    }
    free(row);
    if (alpha) /* matted against white: c = 255 - (255 - m) * 255 / a */
        for (size_t i = 0; i < (size_t)w * h; i++) {
            uint8_t *q = img->data + 4 * i;
            unsigned a = q[3];
            if (a == 0 || a == 255) continue;
            for (int k = 0; k < 3; k++) {
                unsigned t = ((255u - q[k]) * 255u + a / 2) / a;
                q[k] = (uint8_t)(t > 255 ? 0 : 255 - t);
            }
        }
    return IRIS_OK;
}
