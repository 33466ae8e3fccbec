/* image_tiff.c - the first page of a TIFF, through libtiff, from memory.

   Read ourselves from libtiff's decoded strips or tiles (contiguous or
   separate planes), with every compression the installed libtiff has:
   gray (black or white is zero), RGB and palette images at 1, 2, 4, 8 or
   16 bits, with an alpha channel when the first extra sample is declared
   alpha (premultiplied alpha is un-premultiplied; an extra sample of
   unspecified meaning is ignored, as PIL does). JPEG-compressed YCbCr is
   converted to RGB by libtiff's JPEG codec. Everything else libtiff's RGBA
   interface knows (CMYK, CIE Lab, uncompressed YCbCr, old-style JPEG) goes
   through it and comes out RGB (RGBA with an alpha sample). Float and signed
   samples are refused. The Orientation tag is returned for image.c to apply.

   libtiff reports problems through handlers; the ones we give it with
   TIFFOpenOptions belong to this one TIFF object, so several threads can
   decode at once, and they record the first message instead of printing it.
   Errors that libtiff raises with no TIFF object at hand would go to its
   process-wide handlers, which we silence once (TIFFSetErrorHandler(NULL)):
   a program that uses libtiff for itself loses its default stderr messages.
   Any error is fatal, and so are the warnings that mean missing data (see
   on_warning). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "image_codec.h"

typedef struct tiff_src {
    const uint8_t *b;
    size_t n;
    uint64_t pos;
    int failed;
    char msg[256]; /* the first problem libtiff reported */
} tiff_src;

static void record(tiff_src *s, const char *fmt, va_list ap) {
    if (s->failed) return;
    s->failed = 1;
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    for (char *c = s->msg; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' '; /* one line */
}

static int on_error(TIFF *t, void *user, const char *module, const char *fmt, va_list ap) {
    (void)t, (void)module;
    record(user, fmt, ap);
    return 1; /* handled: the global handlers are not called */
}

/* Most warnings are harmless (private tags, odd but readable values); two
   kinds mean the pixels would be wrong: libjpeg's, and tag data cut off by
   the end of the file, which libtiff ignores (a palette file then comes
   back as gray indices). */
static int on_warning(TIFF *t, void *user, const char *module, const char *fmt, va_list ap) {
    (void)t;
    if ((module && !strcmp(module, "JPEGLib")) || strstr(fmt, "IO error during reading of")) record(user, fmt, ap);
    return 1;
}

static void silence_globals(void) {
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
}

static tmsize_t src_read(thandle_t h, void *dst, tmsize_t len) {
    tiff_src *s = h;
    if (len <= 0 || s->pos >= s->n) return 0;
    size_t k = s->n - (size_t)s->pos;
    if ((uint64_t)len < k) k = (size_t)len;
    memcpy(dst, s->b + s->pos, k);
    s->pos += k;
    return (tmsize_t)k;
}

static tmsize_t src_write(thandle_t h, void *p, tmsize_t len) {
    (void)h, (void)p, (void)len;
    return -1;
}

static toff_t src_seek(thandle_t h, toff_t off, int whence) {
    tiff_src *s = h;
    uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->n : UINT64_MAX;
    if (base == UINT64_MAX || off > (UINT64_MAX >> 2) - base) return (toff_t)-1;
    s->pos = base + off; /* past the end is allowed: reads there return nothing */
    return s->pos;
}

static int src_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t src_size(thandle_t h) { return ((tiff_src *)h)->n; }

static int src_map(thandle_t h, void **base, toff_t *size) {
    (void)h, (void)base, (void)size;
    return 0;
}

static void src_unmap(thandle_t h, void *base, toff_t size) { (void)h, (void)base, (void)size; }

/* How a stored sample becomes an output byte. */
typedef struct tiff_fmt {
    int w, h, c;        /* output */
    int photo, bps, spp;
    int color;          /* colour samples: 1 (gray, palette) or 3 (RGB) */
    int alpha;          /* the sample after the colour ones is alpha */
    uint8_t lut[256][3]; /* palette */
} tiff_fmt;

static unsigned sample_at(const uint8_t *row, size_t i, int bps) {
    if (bps == 8) return row[i];
    if (bps == 16) {
        uint16_t v; /* libtiff has put 16-bit samples in host order */
        memcpy(&v, row + 2 * i, 2);
        return v;
    }
    size_t bit = i * (size_t)bps;
    return (unsigned)(row[bit >> 3] >> (8 - bps - (int)(bit & 7))) & ((1u << bps) - 1);
}

static uint8_t to8(unsigned v, int bps) {
    if (bps == 16) return (uint8_t)((v * 255u + 32767u) / 65535u);
    if (bps == 8) return (uint8_t)v;
    return (uint8_t)(v * 255u / ((1u << bps) - 1)); /* 1, 2, 4 bits: exact steps of 255, 85, 17 */
}

/* n pixels of one stored row segment (packed from its first bit), holding
   samples first..first+per-1 of each pixel, into output pixels at d. */
static void put_segment(const tiff_fmt *f, const uint8_t *src, int first, int per, uint8_t *d, int n) {
    unsigned maxv = (1u << f->bps) - 1;
    for (int x = 0; x < n; x++, d += f->c)
        for (int s = 0; s < per; s++) {
            int k = first + s;
            unsigned v = sample_at(src, (size_t)x * per + s, f->bps);
            if (k < f->color) {
                if (f->photo == PHOTOMETRIC_PALETTE) {
                    memcpy(d, f->lut[v & 255], 3);
                } else if (f->color == 3) {
                    d[k] = to8(v, f->bps);
                } else {
                    uint8_t g = to8(f->photo == PHOTOMETRIC_MINISWHITE ? maxv - v : v, f->bps);
                    d[0] = g;
                    if (f->c > 1) d[1] = d[2] = g;
                }
            } else if (k == f->color && f->alpha) {
                d[3] = to8(v, f->bps);
            }
        }
}

static void unpremultiply(uint8_t *px, size_t np) {
    for (size_t i = 0; i < np; i++, px += 4) {
        unsigned a = px[3];
        if (a == 0 || a == 255) continue;
        for (int k = 0; k < 3; k++) {
            unsigned v = (px[k] * 255u + a / 2) / a;
            px[k] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

static iris_status fail_read(const tiff_src *s, const char *name, const char *what) {
    return iris_fail(IRIS_ERR_FORMAT, "%s: TIFF: %s", name, s->failed ? s->msg : what);
}

static iris_status read_strips(TIFF *t, tiff_src *s, const tiff_fmt *f, int planes, int per, uint8_t *out,
                               const char *name) {
    uint32_t rps = 0;
    TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > (uint32_t)f->h) rps = (uint32_t)f->h;
    tmsize_t line = TIFFScanlineSize(t), ssz = TIFFStripSize(t);
    if (line <= 0 || ssz < line * (tmsize_t)rps) return fail_read(s, name, "bad strip layout");
    uint8_t *buf = malloc((size_t)ssz);
    if (!buf) return iris_fail(IRIS_ERR_NOMEM, "%s: TIFF: out of memory for a strip", name);
    for (int p = 0; p < planes; p++)
        for (uint32_t y0 = 0; y0 < (uint32_t)f->h; y0 += rps) {
            uint32_t rows = (uint32_t)f->h - y0 < rps ? (uint32_t)f->h - y0 : rps;
            tmsize_t want = line * (tmsize_t)rows;
            uint32_t strip = TIFFComputeStrip(t, y0, (uint16_t)p);
            if (TIFFReadEncodedStrip(t, strip, buf, want) != want || s->failed) {
                free(buf);
                return fail_read(s, name, "premature end of data");
            }
            for (uint32_t r = 0; r < rows; r++)
                put_segment(f, buf + (size_t)r * (size_t)line, planes > 1 ? p : 0, per,
                            out + (size_t)(y0 + r) * (size_t)f->w * (size_t)f->c, f->w);
        }
    free(buf);
    return IRIS_OK;
}

static iris_status read_tiles(TIFF *t, tiff_src *s, const tiff_fmt *f, int planes, int per, uint8_t *out,
                              const char *name, double raw) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    tmsize_t tsz = TIFFTileSize(t), trow = TIFFTileRowSize(t);
    /* a tile far larger than the picture would only cost memory */
    if (tw < 1 || th < 1 || tsz <= 0 || trow <= 0 || (double)tsz > 4 * raw + (1 << 20))
        return fail_read(s, name, "bad tile layout");
    uint8_t *buf = malloc((size_t)tsz);
    if (!buf) return iris_fail(IRIS_ERR_NOMEM, "%s: TIFF: out of memory for a tile", name);
    for (int p = 0; p < planes; p++)
        for (uint32_t y0 = 0; y0 < (uint32_t)f->h; y0 += th)
            for (uint32_t x0 = 0; x0 < (uint32_t)f->w; x0 += tw) {
                uint32_t tile = TIFFComputeTile(t, x0, y0, 0, (uint16_t)p);
                if (TIFFReadEncodedTile(t, tile, buf, tsz) != tsz || s->failed) {
                    free(buf);
                    return fail_read(s, name, "premature end of data");
                }
                uint32_t nx = (uint32_t)f->w - x0 < tw ? (uint32_t)f->w - x0 : tw;
                uint32_t ny = (uint32_t)f->h - y0 < th ? (uint32_t)f->h - y0 : th;
                for (uint32_t r = 0; r < ny; r++)
                    put_segment(f, buf + (size_t)r * (size_t)trow, planes > 1 ? p : 0, per,
                                out + ((size_t)(y0 + r) * (size_t)f->w + x0) * (size_t)f->c, (int)nx);
            }
    free(buf);
    return IRIS_OK;
}

/* libtiff's RGBA interface, for the photometric kinds read_page does not do
   itself. Asked for the file's own orientation it flips nothing, so the
   raster is in stored order like every other decoder's output. */
static iris_status read_rgba(TIFF *t, tiff_src *s, iris_image *img, const char *name, int ori, int alpha) {
    char why[1024] = "";
    if (!TIFFRGBAImageOK(t, why)) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: TIFF: %s", name, why);
    uint32_t w = 0, h = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    uint32_t *ras = malloc((size_t)w * h * 4);
    if (!ras) return iris_fail(IRIS_ERR_NOMEM, "%s: TIFF: out of memory for %ux%u", name, w, h);
    if (!TIFFReadRGBAImageOriented(t, w, h, ras, ori >= 1 && ori <= 8 ? ori : ORIENTATION_TOPLEFT, 1) || s->failed) {
        free(ras);
        return fail_read(s, name, "cannot decode the image");
    }
    iris_status st = iris_image_alloc(img, (int)w, (int)h, alpha ? 4 : 3);
    if (st) {
        free(ras);
        return iris_fail(st, "%s: TIFF: %s", name, iris_last_error());
    }
    size_t np = (size_t)w * h;
    for (size_t i = 0; i < np; i++) {
        uint8_t *d = img->data + i * (size_t)img->c;
        d[0] = (uint8_t)TIFFGetR(ras[i]), d[1] = (uint8_t)TIFFGetG(ras[i]), d[2] = (uint8_t)TIFFGetB(ras[i]);
        if (alpha) d[3] = (uint8_t)TIFFGetA(ras[i]);
    }
    free(ras);
    if (alpha) unpremultiply(img->data, np); /* the RGBA interface premultiplies */
    return IRIS_OK;
}

/* The most bytes one byte of compressed data can decode to, 0 where there
   is no useful bound (CCITT, zstd and others can code a blank page in next
   to nothing): lets a header claiming a picture its data could not hold be
   refused before the pixels are allocated. */
static double max_ratio(int comp) {
    switch (comp) {
    case COMPRESSION_NONE: return 1;
    case COMPRESSION_PACKBITS: return 64;       /* 2 bytes repeat one byte 128 times */
    case COMPRESSION_LZW: return 4096;          /* a 9..12-bit code names a string of at most ~4k */
    case COMPRESSION_ADOBE_DEFLATE:
    case COMPRESSION_DEFLATE: return 1100;      /* deflate's limit is 1032:1 */
    case COMPRESSION_JPEG: return 1100;         /* at least one bit per 8x8 block (4:2:0: 6 per 768 RGB bytes) */
    default: return 0;
    }
}

static iris_status read_page(TIFF *t, tiff_src *s, iris_image *img, const char *name, const iris_image_read_params *p,
                             int *orient) {
    uint32_t w = 0, h = 0;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h))
        return fail_read(s, name, "no image size");
    iris_status st = iris_image_check_limits(name, "TIFF", w, h, p);
    if (st) return st;
    uint16_t spp = 1, bps = 1, planar = PLANARCONFIG_CONTIG, fmt = SAMPLEFORMAT_UINT, comp = COMPRESSION_NONE;
    uint16_t ori = ORIENTATION_TOPLEFT, photo, nextra = 0, *extra = NULL;
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp);
    TIFFGetFieldDefaulted(t, TIFFTAG_ORIENTATION, &ori);
    TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    *orient = ori >= 1 && ori <= 8 ? ori : 0;
    if (fmt != SAMPLEFORMAT_UINT && fmt != SAMPLEFORMAT_VOID)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: TIFF: %s samples are not supported", name,
                         fmt == SAMPLEFORMAT_IEEEFP ? "floating-point" : "signed or complex");
    if (spp < 1 || spp > 64) return iris_fail(IRIS_ERR_FORMAT, "%s: TIFF: %u samples per pixel", name, spp);
    if (comp == COMPRESSION_JPEG && photo == PHOTOMETRIC_YCBCR) {
        TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB); /* libjpeg upsamples and converts */
        photo = PHOTOMETRIC_RGB;
    }
    int color = photo == PHOTOMETRIC_RGB ? 3
                : photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE || photo == PHOTOMETRIC_PALETTE ? 1
                                                                                                                    : 0;
    int alpha_type = nextra >= 1 && extra ? extra[0] : EXTRASAMPLE_UNSPECIFIED;
    int alpha = alpha_type == EXTRASAMPLE_ASSOCALPHA || alpha_type == EXTRASAMPLE_UNASSALPHA;
    int good_bps = bps == 1 || bps == 2 || bps == 4 || bps == 8 || bps == 16;
    if (!color || spp < color || !good_bps || (photo == PHOTOMETRIC_PALETTE && bps > 8))
        return read_rgba(t, s, img, name, ori, alpha && spp > 3);
    alpha = alpha && spp > color;

    /* the compressed data must be able to hold the picture it claims */
    double raw = (double)TIFFScanlineSize64(t) * h * (planar == PLANARCONFIG_SEPARATE ? spp : 1);
    double ratio = max_ratio(comp), data = 0;
    uint32_t nstrile = TIFFIsTiled(t) ? TIFFNumberOfTiles(t) : TIFFNumberOfStrips(t);
    for (uint32_t i = 0; i < nstrile && ratio > 0; i++) data += (double)TIFFGetStrileByteCount(t, i);
    if (data > (double)s->n) data = (double)s->n;
    if (ratio > 0 && raw > data * ratio + 64)
        return iris_fail(IRIS_ERR_FORMAT, "%s: TIFF: %zu bytes cannot hold a %ux%u image (premature end of data)", name,
                         s->n, w, h);

    tiff_fmt *f = calloc(1, sizeof *f);
    if (!f) return iris_fail(IRIS_ERR_NOMEM, "%s: TIFF: out of memory", name);
    f->w = (int)w, f->h = (int)h, f->photo = photo, f->bps = bps, f->spp = spp, f->color = color, f->alpha = alpha;
    f->c = alpha ? 4 : color == 1 && photo != PHOTOMETRIC_PALETTE ? 1 : 3;
    if (photo == PHOTOMETRIC_PALETTE) {
        uint16_t *r, *g, *b;
        if (!TIFFGetField(t, TIFFTAG_COLORMAP, &r, &g, &b)) {
            free(f);
            return fail_read(s, name, "palette image without a colormap");
        }
        /* 16-bit entries give their high byte (v * 256 and v * 257 both come
           back as v, as PIL reads them); some old writers stored 8-bit entries */
        int n = 1 << bps, eight = 1;
        for (int i = 0; i < n; i++) eight &= r[i] < 256 && g[i] < 256 && b[i] < 256;
        for (int i = 0; i < n; i++) {
            int sh = eight ? 0 : 8;
            f->lut[i][0] = (uint8_t)(r[i] >> sh), f->lut[i][1] = (uint8_t)(g[i] >> sh), f->lut[i][2] = (uint8_t)(b[i] >> sh);
        }
    }
    if ((st = iris_image_alloc(img, f->w, f->h, f->c))) {
        free(f);
        return iris_fail(st, "%s: TIFF: %s", name, iris_last_error());
    }
    if (f->c == 4 && !alpha) memset(img->data, 255, (size_t)w * h * 4);
    /* separate planes: only those we use are read (colour, then alpha) */
    int sep = planar == PLANARCONFIG_SEPARATE && spp > 1;
    int planes = sep ? color + alpha : 1, per = sep ? 1 : spp;
    st = TIFFIsTiled(t) ? read_tiles(t, s, f, planes, per, img->data, name, raw)
                        : read_strips(t, s, f, planes, per, img->data, name);
    if (!st && s->failed) st = fail_read(s, name, "");
    if (!st && alpha && alpha_type == EXTRASAMPLE_ASSOCALPHA) unpremultiply(img->data, (size_t)w * h);
    free(f);
    if (st) iris_image_free(img);
    return st;
}

iris_status iris_image_decode_tiff(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                                   const iris_image_read_params *p, int *orient) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, silence_globals);
    memset(img, 0, sizeof *img);
    tiff_src s = {.b = buf, .n = n};
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return iris_fail(IRIS_ERR_NOMEM, "%s: TIFF: out of memory", name);
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, &s);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, &s);
    /* libtiff's own buffers (tags, strips) stay within what the pixel limit allows */
    double most = (double)p->max_pixels * 8 + (64 << 20);
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, most > 1e15 ? (tmsize_t)1e15 : (tmsize_t)most);
    /* "m": no memory mapping, so libtiff never writes into (bit-reverses) our const buffer */
    TIFF *t = TIFFClientOpenExt(name, "rm", &s, src_read, src_write, src_seek, src_close, src_size, src_map, src_unmap, o);
    TIFFOpenOptionsFree(o);
    if (!t) return fail_read(&s, name, "not a TIFF file");
    iris_status st = s.failed ? fail_read(&s, name, "") : read_page(t, &s, img, name, p, orient);
    TIFFClose(t);
    if (st) memset(img, 0, sizeof *img);
    return st;
}
