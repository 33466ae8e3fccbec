/* image_webp.c - WebP through libwebp: lossy (VP8) and lossless (VP8L), with
   or without alpha, and the first frame of an animation.

   A still picture is decoded straight into our pixel buffer (RGBA when the
   file says it has alpha, else RGB). An animated file gives its first frame
   as libwebp's animation decoder composites it on the canvas (transparent
   where the frame does not cover it, as PIL shows it); libwebp's simple
   decoder would refuse such files. The EXIF chunk, when there is one, gives
   the orientation. libwebp only reads inside the buffer it is given and
   reports a truncated file as "not enough data". There is no floor on the
   bytes a WebP needs per pixel (its arithmetic coder can spend far less than
   a bit on a flat area), so only the size limits guard the allocation. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "image_codec.h"

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static const char *vp8_status_text(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt data";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "decoding suspended";
    case VP8_STATUS_USER_ABORT: return "decoding aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "premature end of data";
    default: return "decoding failed";
    }
}

/* The orientation in the EXIF chunk of an extended (VP8X) file, 0 if none.
   Chunks are walked inside both the buffer and the RIFF size; each is
   padded to an even length. */
static int webp_orientation(const uint8_t *b, size_t n) {
    if (n < 20 || memcmp(b + 12, "VP8X", 4)) return 0;
    uint64_t end = (uint64_t)le32(b + 4) + 8;
    if (end > n) end = n;
    uint64_t pos = 12;
    while (pos + 8 <= end) {
        uint64_t len = le32(b + pos + 4);
        if (len > end - pos - 8) return 0;
        if (!memcmp(b + pos, "EXIF", 4)) return iris_exif_orientation(b + pos + 8, (size_t)len);
        pos += 8 + len + (len & 1);
    }
    return 0;
}

/* w x h: the canvas size the limits were checked on. */
static iris_status decode_animated(iris_image *img, const uint8_t *buf, size_t n, const char *name, int w, int h,
                                   int alpha) {
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt)) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: WebP: library version mismatch", name);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPData data = {buf, n};
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &opt);
    if (!dec) return iris_fail(IRIS_ERR_FORMAT, "%s: WebP: corrupt or truncated animation", name);
    WebPAnimInfo info;
    uint8_t *frame = NULL;
    int ts = 0;
    iris_status st = IRIS_OK;
    if (!WebPAnimDecoderGetInfo(dec, &info) || info.canvas_width != (uint32_t)w || info.canvas_height != (uint32_t)h ||
        info.frame_count < 1 || !WebPAnimDecoderGetNext(dec, &frame, &ts) || !frame) {
        WebPAnimDecoderDelete(dec);
        return iris_fail(IRIS_ERR_FORMAT, "%s: WebP: corrupt or truncated first frame of the animation", name);
    }
    if ((st = iris_image_alloc(img, w, h, alpha ? 4 : 3))) {
        WebPAnimDecoderDelete(dec);
        return iris_fail(st, "%s: WebP: %s", name, iris_last_error());
    }
    size_t np = (size_t)img->w * (size_t)img->h;
    if (alpha) {
        memcpy(img->data, frame, np * 4);
    } else {
        for (size_t i = 0; i < np; i++) memcpy(img->data + 3 * i, frame + 4 * i, 3);
    }
    WebPAnimDecoderDelete(dec);
    return IRIS_OK;
}

iris_status iris_image_decode_webp(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                                   const iris_image_read_params *p, int *orient) {
    memset(img, 0, sizeof *img);
    WebPBitstreamFeatures f;
    VP8StatusCode vs = WebPGetFeatures(buf, n, &f);
    if (vs != VP8_STATUS_OK) return iris_fail(IRIS_ERR_FORMAT, "%s: WebP: %s", name, vp8_status_text(vs));
    iris_status st = iris_image_check_limits(name, "WebP", f.width, f.height, p);
    if (st) return st;
    *orient = webp_orientation(buf, n);
    if (f.has_animation) return decode_animated(img, buf, n, name, f.width, f.height, f.has_alpha);
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg)) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: WebP: library version mismatch", name);
    int c = f.has_alpha ? 4 : 3;
    if ((st = iris_image_alloc(img, f.width, f.height, c))) return iris_fail(st, "%s: WebP: %s", name, iris_last_error());
    cfg.output.colorspace = c == 4 ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = img->data;
    cfg.output.u.RGBA.stride = f.width * c;
    cfg.output.u.RGBA.size = (size_t)f.width * (size_t)f.height * (size_t)c;
    vs = WebPDecode(buf, n, &cfg);
    WebPFreeDecBuffer(&cfg.output);
    if (vs != VP8_STATUS_OK) {
        iris_image_free(img);
        return iris_fail(vs == VP8_STATUS_OUT_OF_MEMORY ? IRIS_ERR_NOMEM : IRIS_ERR_FORMAT, "%s: WebP: %s", name,
                         vp8_status_text(vs));
    }
    return IRIS_OK;
}
