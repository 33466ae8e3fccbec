/* image.c - image files: sniffing, PNG/JPEG/PNM decoding, PNG/JPEG encoding, channel conversion.

   libpng and libjpeg report errors by longjmp from a callback; every
   decoder below sets up its jmp_buf before touching the data and frees
   what it took on the way out. Both decoders read from memory through
   sources that never read past the buffer: a truncated PNG is an error,
   and a truncated JPEG is an error unless only its final EOI marker is
   missing (the pixels are then complete, as viewers agree). */
#include "image.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>
#include <jerror.h>

#include "file.h"
#include "image_codec.h"

/* image_stb.c: BMP, GIF and TGA; image_psd.c: PSD. */
iris_status iris_image_decode_stb(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                                  const char *fmt, int max_side, long long max_pixels);
iris_status iris_image_decode_psd(iris_image *img, const uint8_t *buf, size_t n, const char *name, int max_side,
                                  long long max_pixels);

iris_image_read_params iris_image_default_read_params(void) {
    iris_image_read_params p = {0};
    p.channels = 0;
    p.orient = 1;
    p.max_side = IRIS_IMAGE_MAX_SIDE;
    p.max_pixels = IRIS_IMAGE_MAX_PIXELS;
    return p;
}

const char *iris_image_format_name(iris_image_format f) {
    switch (f) {
    case IRIS_IMAGE_PNG: return "png";
    case IRIS_IMAGE_JPEG: return "jpeg";
    case IRIS_IMAGE_BMP: return "bmp";
    case IRIS_IMAGE_GIF: return "gif";
    case IRIS_IMAGE_TGA: return "tga";
    case IRIS_IMAGE_PNM: return "pnm";
    case IRIS_IMAGE_PSD: return "psd";
    case IRIS_IMAGE_WEBP: return "webp";
    case IRIS_IMAGE_TIFF: return "tiff";
    case IRIS_IMAGE_UNKNOWN: break;
    }
    return "unknown";
}

static unsigned rd_le16(const uint8_t *p) { return p[0] | (unsigned)p[1] << 8; }
static uint32_t rd_le32(const uint8_t *p) { return rd_le16(p) | (uint32_t)rd_le16(p + 2) << 16; }

/* TGA has no signature: accept only headers whose every field is one a
   real TGA writer produces, so stray binary files are not taken for images. */
static int tga_plausible(const uint8_t *b, size_t n) {
    if (n < 18) return 0;
    int cmap = b[1], type = b[2], bpp = b[16], desc = b[17];
    if (cmap > 1) return 0;
    if (type != 1 && type != 2 && type != 3 && type != 9 && type != 10 && type != 11) return 0;
    int mapped = type == 1 || type == 9;
    if (mapped != cmap) return 0;
    if (mapped) {
        int esz = b[7];
        if (esz != 15 && esz != 16 && esz != 24 && esz != 32) return 0;
        if (rd_le16(b + 5) == 0) return 0; /* colormap length */
        if (bpp != 8 && bpp != 16) return 0;
    } else {
        if (b[3] | b[4] | b[5] | b[6] | b[7]) return 0; /* colormap spec must be empty */
        if (type == 3 || type == 11) {
            if (bpp != 8 && bpp != 16) return 0;
        } else if (bpp != 15 && bpp != 16 && bpp != 24 && bpp != 32) {
            return 0;
        }
    }
    if (rd_le16(b + 12) == 0 || rd_le16(b + 14) == 0) return 0;
    if (desc & 0xc0) return 0; /* interleaving: obsolete, never written */
    return 1;
}

iris_image_format iris_image_sniff(const uint8_t *b, size_t n) {
    if (!b) return IRIS_IMAGE_UNKNOWN;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (n >= 8 && !memcmp(b, png_sig, 8)) return IRIS_IMAGE_PNG;
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return IRIS_IMAGE_JPEG;
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return IRIS_IMAGE_GIF;
    if (n >= 18 && b[0] == 'B' && b[1] == 'M') {
        uint32_t hsz = rd_le32(b + 14); /* DIB header size: the known versions only */
        if (hsz == 12 || hsz == 40 || hsz == 52 || hsz == 56 || hsz == 108 || hsz == 124) return IRIS_IMAGE_BMP;
    }
    if (n >= 6 && !memcmp(b, "8BPS", 4) && b[4] == 0 && b[5] == 1) return IRIS_IMAGE_PSD;
    if (n >= 16 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4) &&
        (!memcmp(b + 12, "VP8 ", 4) || !memcmp(b + 12, "VP8L", 4) || !memcmp(b + 12, "VP8X", 4)))
        return IRIS_IMAGE_WEBP;
    /* classic TIFF (42) and BigTIFF (43, with its fixed offset size 8) in either byte order */
    if (n >= 8 && ((!memcmp(b, "II", 2) && ((b[2] == 42 && b[3] == 0) || (b[2] == 43 && b[3] == 0 && b[4] == 8 && !b[5]))) ||
                   (!memcmp(b, "MM", 2) && ((b[2] == 0 && b[3] == 42) || (b[2] == 0 && b[3] == 43 && !b[4] && b[5] == 8)))))
        return IRIS_IMAGE_TIFF;
    if (n >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
        (b[2] == ' ' || b[2] == '\t' || b[2] == '\n' || b[2] == '\r' || b[2] == '#'))
        return IRIS_IMAGE_PNM;
    if (tga_plausible(b, n)) return IRIS_IMAGE_TGA;
    return IRIS_IMAGE_UNKNOWN;
}

/* ---- the image object ---- */

iris_status iris_image_alloc(iris_image *img, int w, int h, int c) {
    memset(img, 0, sizeof *img);
    if (w < 1 || h < 1 || (c != 1 && c != 3 && c != 4))
        return iris_fail(IRIS_ERR_ARG, "image: bad size %dx%dx%d", w, h, c);
    size_t bytes = (size_t)w * (size_t)h * (size_t)c;
    if (bytes / (size_t)h / (size_t)c != (size_t)w) return iris_fail(IRIS_ERR_ARG, "image: %dx%d is too large", w, h);
    img->data = malloc(bytes);
    if (!img->data) return iris_fail(IRIS_ERR_NOMEM, "image: out of memory for %dx%dx%d", w, h, c);
    img->w = w, img->h = h, img->c = c;
    return IRIS_OK;
}

static void free_text(iris_image_text *t, int n) {
    for (int i = 0; i < n; i++) {
        free((char *)t[i].key);
        free((char *)t[i].value);
    }
    free(t);
}

void iris_image_free(iris_image *img) {
    if (!img) return;
    free(img->data);
    free_text(img->text, img->n_text);
    memset(img, 0, sizeof *img);
}

const char *iris_image_get_text(const iris_image *img, const char *key) {
    for (int i = 0; i < img->n_text; i++)
        if (!strcmp(img->text[i].key, key)) return img->text[i].value;
    return NULL;
}

/* PIL's "L" conversion (ITU-R 601-2 luma in 16-bit fixed point). */
static uint8_t luma(const uint8_t *p) { return (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16); }

iris_status iris_image_convert(iris_image *dst, const iris_image *src, int c) {
    iris_status st = iris_image_alloc(dst, src->w, src->h, c);
    if (st) return st;
    size_t np = (size_t)src->w * (size_t)src->h;
    const uint8_t *s = src->data;
    uint8_t *d = dst->data;
    int sc = src->c;
    if (sc == c) {
        memcpy(d, s, np * (size_t)c);
        return IRIS_OK;
    }
    for (size_t i = 0; i < np; i++, s += sc, d += c) {
        if (c == 1) {
            d[0] = sc == 1 ? s[0] : luma(s);
        } else {
            if (sc == 1) d[0] = d[1] = d[2] = s[0];
            else d[0] = s[0], d[1] = s[1], d[2] = s[2];
            if (c == 4) d[3] = sc == 4 ? s[3] : 255;
        }
    }
    return IRIS_OK;
}

iris_status iris_image_check_limits(const char *name, const char *fmt, long long w, long long h,
                                    const iris_image_read_params *p) {
    if (w < 1 || h < 1) return iris_fail(IRIS_ERR_FORMAT, "%s: %s: image is %lldx%lld", name, fmt, w, h);
    if (w > p->max_side || h > p->max_side)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: %s: image is %lldx%lld, above the limit of %d pixels per side",
                         name, fmt, w, h, p->max_side);
    if (w * h > p->max_pixels)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: %s: image is %lldx%lld, above the limit of %lld pixels", name,
                         fmt, w, h, p->max_pixels);
    return IRIS_OK;
}

/* ---- PNG ---- */

typedef struct png_io {
    jmp_buf jb;
    char msg[256];
    iris_status st;
    const uint8_t *p; /* reading */
    size_t n, off;
    uint8_t *out; /* writing */
    size_t out_n, out_cap;
} png_io;

static void png_on_error(png_structp png, png_const_charp msg) {
    png_io *io = png_get_error_ptr(png);
    snprintf(io->msg, sizeof io->msg, "%s", msg);
    longjmp(io->jb, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void png_on_read(png_structp png, png_bytep out, size_t len) {
    png_io *io = png_get_io_ptr(png);
    if (len > io->n - io->off) {
        io->st = IRIS_ERR_FORMAT;
        png_error(png, "truncated file");
    }
    memcpy(out, io->p + io->off, len);
    io->off += len;
}

/* tEXt and zTXt hold Latin-1; we hand out UTF-8. */
static char *latin1_to_utf8(const char *s, size_t n) {
    char *o = malloc(2 * n + 1), *d = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            *d++ = (char)ch;
        } else {
            *d++ = (char)(0xc0 | ch >> 6);
            *d++ = (char)(0x80 | (ch & 0x3f));
        }
    }
    *d = 0;
    return o;
}

static iris_status png_take_text(iris_image *img, png_structp png, png_infop info) {
    png_textp tp = NULL;
    int num = 0;
    png_get_text(png, info, &tp, &num);
    if (num <= 0) return IRIS_OK;
    img->text = calloc((size_t)num, sizeof *img->text);
    if (!img->text) return IRIS_ERR_NOMEM;
    for (int i = 0; i < num; i++) {
        int itxt = tp[i].compression >= PNG_ITXT_COMPRESSION_NONE;
        size_t len = itxt ? tp[i].itxt_length : tp[i].text_length;
        const char *text = tp[i].text ? tp[i].text : "";
        if (!tp[i].text) len = 0;
        char *k = latin1_to_utf8(tp[i].key, strlen(tp[i].key));
        char *v = itxt ? strndup(text, len) : latin1_to_utf8(text, len);
        if (!k || !v) {
            free(k), free(v);
            return IRIS_ERR_NOMEM;
        }
        img->text[img->n_text].key = k;
        img->text[img->n_text].value = v;
        img->n_text++;
    }
    return IRIS_OK;
}

/* libpng allocates a chunk's declared length before reading it, so a few
   bytes claiming a 2 GB text chunk would cost 2 GB: walk the chunk list
   first and refuse lengths that run past the end of the data. */
static iris_status png_check_chunks(const uint8_t *b, size_t n, const char *name) {
    size_t pos = 8;
    while (pos + 8 <= n) {
        uint32_t len = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 | (uint32_t)b[pos + 2] << 8 | b[pos + 3];
        if (len > 0x7fffffffu) return iris_fail(IRIS_ERR_FORMAT, "%s: PNG: bad chunk length", name);
        if ((size_t)len + 12 > n - pos) break;
        if (!memcmp(b + pos + 4, "IEND", 4)) return IRIS_OK;
        pos += (size_t)len + 12;
    }
    return iris_fail(IRIS_ERR_FORMAT, "%s: PNG: truncated file", name);
}

static iris_status decode_png(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                              const iris_image_read_params *p, int *orient) {
    iris_status cst = png_check_chunks(buf, n, name);
    if (cst) return cst;
    png_io io;
    memset(&io, 0, sizeof io);
    io.p = buf, io.n = n, io.st = IRIS_ERR_FORMAT;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return iris_fail(IRIS_ERR_NOMEM, "%s: PNG: out of memory", name);
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(io.jb)) {
        free(pixels);
        free(rows);
        free_text(img->text, img->n_text);
        memset(img, 0, sizeof *img);
        png_destroy_read_struct(&png, &info, NULL);
        return iris_fail(io.st, "%s: PNG: %s", name, io.msg);
    }
    png_set_read_fn(png, &io, png_on_read);
    png_set_chunk_malloc_max(png, 16u << 20); /* also bounds inflated text and profiles */
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    iris_status st = iris_image_check_limits(name, "PNG", w, h, p);
    if (st) {
        png_destroy_read_struct(&png, &info, NULL);
        return st;
    }
    int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    png_set_expand(png); /* palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha */
    if (depth == 16) png_set_scale_16(png);
    if (color == PNG_COLOR_TYPE_GRAY_ALPHA || (color == PNG_COLOR_TYPE_GRAY && trns)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    if ((c != 1 && c != 3 && c != 4) || png_get_rowbytes(png, info) != (size_t)w * (size_t)c) {
        snprintf(io.msg, sizeof io.msg, "unexpected layout after conversion (%d channels)", c);
        longjmp(io.jb, 1);
    }
    io.st = IRIS_ERR_NOMEM;
    pixels = malloc((size_t)w * h * (size_t)c);
    rows = malloc(h * sizeof(png_bytep));
    if (!pixels || !rows) png_error(png, "out of memory");
    io.st = IRIS_ERR_FORMAT;
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * w * (size_t)c;
    png_read_image(png, rows);
    png_read_end(png, info); /* text and eXIf may follow the pixels */
    if (png_take_text(img, png, info)) {
        io.st = IRIS_ERR_NOMEM;
        png_error(png, "out of memory");
    }
    png_bytep exif = NULL;
    png_uint_32 nexif = 0;
    if (png_get_eXIf_1(png, info, &nexif, &exif) && exif) *orient = iris_exif_orientation(exif, nexif);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    img->w = (int)w, img->h = (int)h, img->c = c, img->data = pixels;
    return IRIS_OK;
}

static void png_on_write(png_structp png, png_bytep data, size_t len) {
    png_io *io = png_get_io_ptr(png);
    if (len > io->out_cap - io->out_n) {
        size_t cap = io->out_cap ? io->out_cap : 65536;
        while (cap - io->out_n < len) cap *= 2;
        uint8_t *nb = realloc(io->out, cap);
        if (!nb) {
            io->st = IRIS_ERR_NOMEM;
            png_error(png, "out of memory");
        }
        io->out = nb, io->out_cap = cap;
    }
    memcpy(io->out + io->out_n, data, len);
    io->out_n += len;
}

static void png_on_flush(png_structp png) { (void)png; }

/* Keywords: 1-79 printable Latin-1 characters (PNG spec 11.3.4.3). */
static int png_key_ok(const char *k) {
    size_t n = strlen(k);
    if (n < 1 || n > 79) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)k[i];
        if (ch < 32 || (ch > 126 && ch < 161)) return 0;
    }
    return 1;
}

static int is_ascii(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}

static iris_status check_image(const iris_image *img, const char *what) {
    if (!img || !img->data || img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3 && img->c != 4))
        return iris_fail(IRIS_ERR_ARG, "%s: not a valid image", what);
    return IRIS_OK;
}

iris_status iris_image_encode_png(const iris_image *img, const iris_image_text *text, int n_text, uint8_t **out,
                                  size_t *n) {
    *out = NULL, *n = 0;
    iris_status st = check_image(img, "PNG encoder");
    if (st) return st;
    if (n_text < 0 || (n_text && !text)) return iris_fail(IRIS_ERR_ARG, "PNG encoder: bad text list");
    for (int i = 0; i < n_text; i++) {
        if (!text[i].key || !png_key_ok(text[i].key))
            return iris_fail(IRIS_ERR_ARG, "PNG encoder: text key \"%s\" must be 1-79 printable characters",
                             text[i].key ? text[i].key : "(null)");
        if (!text[i].value) return iris_fail(IRIS_ERR_ARG, "PNG encoder: text \"%s\" has no value", text[i].key);
    }
    png_io io;
    memset(&io, 0, sizeof io);
    io.st = IRIS_ERR_FORMAT;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return iris_fail(IRIS_ERR_NOMEM, "PNG encoder: out of memory");
    }
    png_text *volatile pt = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(io.jb)) {
        free(io.out);
        free(pt);
        free(rows);
        png_destroy_write_struct(&png, &info);
        return iris_fail(io.st, "PNG encoder: %s", io.msg);
    }
    png_set_write_fn(png, &io, png_on_write, png_on_flush);
    int color = img->c == 1 ? PNG_COLOR_TYPE_GRAY : img->c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, color, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_text) {
        pt = calloc((size_t)n_text, sizeof(png_text));
        if (!pt) {
            io.st = IRIS_ERR_NOMEM;
            png_error(png, "out of memory");
        }
        for (int i = 0; i < n_text; i++) {
            pt[i].key = (png_charp)text[i].key;
            pt[i].text = (png_charp)text[i].value;
            if (is_ascii(text[i].value)) {
                pt[i].compression = PNG_TEXT_COMPRESSION_NONE;
                pt[i].text_length = strlen(text[i].value);
            } else {
                pt[i].compression = PNG_ITXT_COMPRESSION_NONE;
                pt[i].itxt_length = strlen(text[i].value);
                pt[i].lang = (png_charp) "";
                pt[i].lang_key = (png_charp) "";
            }
        }
        png_set_text(png, info, pt, n_text);
    }
    png_write_info(png, info);
    rows = malloc((size_t)img->h * sizeof(png_bytep));
    if (!rows) {
        io.st = IRIS_ERR_NOMEM;
        png_error(png, "out of memory");
    }
    for (int y = 0; y < img->h; y++) rows[y] = img->data + (size_t)y * img->w * img->c;
    png_write_image(png, rows);
    png_write_end(png, info);
    free(rows);
    free(pt);
    png_destroy_write_struct(&png, &info);
    *out = io.out, *n = io.out_n;
    return IRIS_OK;
}

/* ---- JPEG ---- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    const char *why; /* our own message, else libjpeg's */
} jpeg_err;

typedef struct jpeg_src {
    struct jpeg_source_mgr pub;
    int in_header; /* running out here is fatal */
    int eof_hit;   /* we supplied a fake EOI marker */
} jpeg_src;

static void jpeg_on_error(j_common_ptr c) { longjmp(((jpeg_err *)c->err)->jb, 1); }

/* Warnings that mean the pixels are wrong (missing or corrupt entropy
   data) end decoding; harmless ones (extra bytes, odd JFIF versions) do not. */
static void jpeg_on_message(j_common_ptr c, int level) {
    if (level >= 0) return;
    int code = c->err->msg_code;
    if (code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_ARITH_BAD_CODE ||
        code == JWRN_MUST_RESYNC || code == JWRN_JPEG_EOF)
        c->err->error_exit(c);
    c->err->num_warnings++;
}

static void jpeg_no_output(j_common_ptr c) { (void)c; }

static void jsrc_init(j_decompress_ptr c) { (void)c; }
static void jsrc_term(j_decompress_ptr c) { (void)c; }

static boolean jsrc_fill(j_decompress_ptr c) {
    static const JOCTET eoi[2] = {0xff, JPEG_EOI};
    jpeg_src *s = (jpeg_src *)c->src;
    if (s->in_header) ERREXIT(c, JERR_INPUT_EOF);
    s->eof_hit = 1;
    s->pub.next_input_byte = eoi;
    s->pub.bytes_in_buffer = 2;
    return TRUE;
}

static void jsrc_skip(j_decompress_ptr c, long num) {
    jpeg_src *s = (jpeg_src *)c->src;
    if (num <= 0) return;
    if ((unsigned long)num > s->pub.bytes_in_buffer) {
        s->pub.bytes_in_buffer = 0;
        jsrc_fill(c);
        return;
    }
    s->pub.next_input_byte += num;
    s->pub.bytes_in_buffer -= (size_t)num;
}

/* The largest DCT reduction 1/8, 1/4, 1/2 whose output, ceil(side / d) as
   libjpeg computes it, still covers the caller's min_w x min_h (given
   upright: swapped when the file is stored transposed); 1 when none is asked. */
static int jpeg_scale_for(unsigned w, unsigned h, const iris_image_read_params *p, int transposed) {
    long long need_w = transposed ? p->min_h : p->min_w, need_h = transposed ? p->min_w : p->min_h;
    if (need_w <= 0 && need_h <= 0) return 1;
    for (int d = 8; d > 1; d /= 2)
        if ((w + d - 1ll) / d >= need_w && (h + d - 1ll) / d >= need_h) return d;
    return 1;
}

static iris_status decode_jpeg(iris_image *img, const uint8_t *buf, size_t n, const char *name,
                               const iris_image_read_params *p, int *orient) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    jpeg_src src;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&src, 0, sizeof src);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_on_error;
    jerr.pub.emit_message = jpeg_on_message;
    jerr.pub.output_message = jpeg_no_output;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile cmyk = NULL;
    volatile iris_status fail_st = IRIS_ERR_FORMAT;
    jerr.why = NULL;
    if (setjmp(jerr.jb)) {
        char msg[JMSG_LENGTH_MAX];
        jerr.pub.format_message((j_common_ptr)&cinfo, msg);
        free(pixels);
        free(cmyk);
        jpeg_destroy_decompress(&cinfo);
        return iris_fail(fail_st, "%s: JPEG: %s", name, jerr.why ? jerr.why : msg);
    }
    jpeg_create_decompress(&cinfo);
    src.pub.init_source = jsrc_init;
    src.pub.fill_input_buffer = jsrc_fill;
    src.pub.skip_input_data = jsrc_skip;
    src.pub.resync_to_restart = jpeg_resync_to_restart;
    src.pub.term_source = jsrc_term;
    src.pub.next_input_byte = buf;
    src.pub.bytes_in_buffer = n;
    src.in_header = 1;
    cinfo.src = &src.pub;
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&cinfo, TRUE);
    src.in_header = 0;
    iris_status st = iris_image_check_limits(name, "JPEG", cinfo.image_width, cinfo.image_height, p);
    if (st) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    /* Every 8x8 block's DC coefficient costs at least one Huffman bit, so a
       small file cannot hold a huge picture; refuse before libjpeg sizes its
       buffers from the header (arithmetic coding has no such floor). */
    if (!cinfo.arith_code) {
        unsigned long long blocks = 0;
        for (int i = 0; i < cinfo.num_components; i++)
            blocks += (unsigned long long)cinfo.comp_info[i].width_in_blocks * cinfo.comp_info[i].height_in_blocks;
        if (blocks > (unsigned long long)n * 8) {
            jpeg_destroy_decompress(&cinfo);
            return iris_fail(IRIS_ERR_FORMAT, "%s: JPEG: %zu bytes cannot hold a %ux%u image (premature end of data)",
                             name, n, cinfo.image_width, cinfo.image_height);
        }
    }
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && !memcmp(m->data, "Exif\0\0", 6)) {
            *orient = iris_exif_orientation(m->data, m->data_length);
            break;
        }
    int c, is_cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE, c = 1; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB, c = 3; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK, c = 3, is_cmyk = 1; break;
    default:
        jpeg_destroy_decompress(&cinfo);
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: JPEG: unsupported colour space (%d components)", name,
                         cinfo.num_components);
    }
    /* progressive files buffer all coefficients: bound that by the pixel limit */
    cinfo.mem->max_memory_to_use = p->max_pixels > (1ll << 40) ? (1l << 62) : (long)(p->max_pixels * 16 + (64l << 20));
    int scale = jpeg_scale_for(cinfo.image_width, cinfo.image_height, p, p->orient && *orient >= 5);
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned)scale;
    int multi = jpeg_has_multiple_scans(&cinfo);
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height;
    if (w != (cinfo.image_width + scale - 1u) / scale || h != (cinfo.image_height + scale - 1u) / scale ||
        cinfo.output_components != (is_cmyk ? 4 : c)) {
        jerr.why = "unexpected output layout";
        longjmp(jerr.jb, 1);
    }
    fail_st = IRIS_ERR_NOMEM;
    pixels = malloc(w * h * (size_t)c);
    if (is_cmyk) cmyk = malloc(w * 4);
    if (!pixels || (is_cmyk && !cmyk)) {
        jerr.why = "out of memory";
        longjmp(jerr.jb, 1);
    }
    fail_st = IRIS_ERR_FORMAT;
    /* Adobe writes CMYK inverted (APP14); plain CMYK is stored as is */
    int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < h) {
        uint8_t *dst = pixels + (size_t)cinfo.output_scanline * w * (size_t)c;
        JSAMPROW row = is_cmyk ? cmyk : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) ERREXIT(&cinfo, JERR_INPUT_EOF);
        if (is_cmyk) {
            for (size_t x = 0; x < w; x++) {
                const uint8_t *q = cmyk + 4 * x;
                unsigned k = inverted ? q[3] : 255u - q[3];
                for (int ch = 0; ch < 3; ch++) {
                    unsigned v = inverted ? q[ch] : 255u - q[ch];
                    dst[3 * x + ch] = (uint8_t)((v * k + 127) / 255);
                }
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    if (src.eof_hit && multi) { /* a whole later scan may be missing */
        jerr.why = "premature end of data";
        longjmp(jerr.jb, 1);
    }
    jpeg_destroy_decompress(&cinfo);
    free(cmyk);
    img->w = (int)w, img->h = (int)h, img->c = c, img->data = pixels;
    img->full_w = (int)cinfo.image_width, img->full_h = (int)cinfo.image_height, img->scale = scale;
    return IRIS_OK;
}

typedef struct jpeg_dst {
    struct jpeg_destination_mgr pub;
    uint8_t *buf;
    size_t cap;
} jpeg_dst;

static void jdst_init(j_compress_ptr c) {
    jpeg_dst *d = (jpeg_dst *)c->dest;
    d->pub.next_output_byte = d->buf;
    d->pub.free_in_buffer = d->cap;
}

static boolean jdst_grow(j_compress_ptr c) {
    jpeg_dst *d = (jpeg_dst *)c->dest;
    size_t used = d->cap; /* called only when the buffer is full */
    uint8_t *nb = realloc(d->buf, d->cap * 2);
    if (!nb) ERREXIT1(c, JERR_OUT_OF_MEMORY, 2);
    d->buf = nb;
    d->cap *= 2;
    d->pub.next_output_byte = nb + used;
    d->pub.free_in_buffer = d->cap - used;
    return TRUE;
}

static void jdst_term(j_compress_ptr c) { (void)c; }

iris_status iris_image_encode_jpeg(const iris_image *img, int quality, uint8_t **out, size_t *n) {
    *out = NULL, *n = 0;
    iris_status st = check_image(img, "JPEG encoder");
    if (st) return st;
    if (quality < 1 || quality > 100) return iris_fail(IRIS_ERR_ARG, "JPEG encoder: quality %d is not in 1..100", quality);
    struct jpeg_compress_struct cinfo;
    jpeg_err jerr;
    jpeg_dst dst;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&dst, 0, sizeof dst);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_on_error;
    jerr.pub.output_message = jpeg_no_output;
    jerr.why = NULL;
    uint8_t *volatile row = NULL;
    if (setjmp(jerr.jb)) {
        char msg[JMSG_LENGTH_MAX];
        jerr.pub.format_message((j_common_ptr)&cinfo, msg);
        int oom = jerr.pub.msg_code == JERR_OUT_OF_MEMORY;
        free(row);
        free(dst.buf);
        jpeg_destroy_compress(&cinfo);
        return iris_fail(oom ? IRIS_ERR_NOMEM : IRIS_ERR_FORMAT, "JPEG encoder: %s", msg);
    }
    jpeg_create_compress(&cinfo);
    dst.cap = 65536;
    dst.buf = malloc(dst.cap);
    if (!dst.buf) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 3);
    dst.pub.init_destination = jdst_init;
    dst.pub.empty_output_buffer = jdst_grow;
    dst.pub.term_destination = jdst_term;
    cinfo.dest = &dst.pub;
    cinfo.image_width = (JDIMENSION)img->w;
    cinfo.image_height = (JDIMENSION)img->h;
    cinfo.input_components = img->c == 1 ? 1 : 3;
    cinfo.in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (img->c != 1 && quality >= 90) cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = 1;
    jpeg_start_compress(&cinfo, TRUE);
    if (img->c == 4) {
        row = malloc((size_t)img->w * 3);
        if (!row) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 4);
    }
    while (cinfo.next_scanline < cinfo.image_height) {
        const uint8_t *s = img->data + (size_t)cinfo.next_scanline * img->w * img->c;
        JSAMPROW r = (JSAMPROW)s;
        if (img->c == 4) {
            for (int x = 0; x < img->w; x++) memcpy(row + 3 * x, s + 4 * x, 3);
            r = row;
        }
        jpeg_write_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_compress(&cinfo);
    *n = dst.cap - dst.pub.free_in_buffer;
    *out = dst.buf;
    free(row);
    jpeg_destroy_compress(&cinfo);
    return IRIS_OK;
}

/* ---- PNM (binary P5/P6) ----
   Our own reader rather than stb's: samples are scaled by the header's
   maxval, 16-bit samples are big-endian, and a short raster is an error. */

static int pnm_token(const uint8_t *b, size_t n, size_t *pos, unsigned *out) {
    size_t i = *pos;
    for (;;) { /* whitespace and comments */
        while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' || b[i] == '\v' || b[i] == '\f'))
            i++;
        if (i < n && b[i] == '#') {
            while (i < n && b[i] != '\n' && b[i] != '\r') i++;
            continue;
        }
        break;
    }
    if (i >= n || b[i] < '0' || b[i] > '9') return -1;
    unsigned long v = 0;
    while (i < n && b[i] >= '0' && b[i] <= '9') {
        v = v * 10 + (unsigned)(b[i++] - '0');
        if (v > 0xffffff) return -1;
    }
    *pos = i, *out = (unsigned)v;
    return 0;
}

static iris_status decode_pnm(iris_image *img, const uint8_t *b, size_t n, const char *name,
                              const iris_image_read_params *p) {
    int c = b[1] == '6' ? 3 : 1;
    size_t pos = 2;
    unsigned w, h, maxval;
    if (pnm_token(b, n, &pos, &w) || pnm_token(b, n, &pos, &h) || pnm_token(b, n, &pos, &maxval))
        return iris_fail(IRIS_ERR_FORMAT, "%s: PNM: bad header", name);
    if (maxval < 1 || maxval > 65535) return iris_fail(IRIS_ERR_FORMAT, "%s: PNM: maxval %u", name, maxval);
    if (pos >= n) return iris_fail(IRIS_ERR_FORMAT, "%s: PNM: premature end of data", name);
    pos++; /* exactly one whitespace character ends the header */
    iris_status st = iris_image_check_limits(name, "PNM", w, h, p);
    if (st) return st;
    size_t bps = maxval > 255 ? 2 : 1, ns = (size_t)w * h * (size_t)c;
    if (n - pos < ns * bps) return iris_fail(IRIS_ERR_FORMAT, "%s: PNM: premature end of data", name);
    if ((st = iris_image_alloc(img, (int)w, (int)h, c))) return st;
    const uint8_t *s = b + pos;
    for (size_t i = 0; i < ns; i++) {
        unsigned v = bps == 2 ? (unsigned)s[2 * i] << 8 | s[2 * i + 1] : s[i];
        img->data[i] = v >= maxval ? 255 : (uint8_t)((v * 255u + maxval / 2) / maxval);
    }
    return IRIS_OK;
}

/* ---- entry points ---- */

iris_status iris_image_decode(iris_image *img, const void *buf, size_t n, const char *name,
                              const iris_image_read_params *params) {
    memset(img, 0, sizeof *img);
    iris_image_read_params p = params ? *params : iris_image_default_read_params();
    if (!name) name = "(memory)";
    if (p.channels != 0 && p.channels != 1 && p.channels != 3 && p.channels != 4)
        return iris_fail(IRIS_ERR_ARG, "%s: cannot return %d channels (0, 1, 3 or 4)", name, p.channels);
    if (p.max_side < 1 || p.max_pixels < 1) return iris_fail(IRIS_ERR_ARG, "%s: bad size limits", name);
    if (!buf || !n) return iris_fail(IRIS_ERR_FORMAT, "%s: empty file", name);
    iris_image_format f = iris_image_sniff(buf, n);
    int orient = 0;
    iris_status st;
    switch (f) {
    case IRIS_IMAGE_PNG: st = decode_png(img, buf, n, name, &p, &orient); break;
    case IRIS_IMAGE_JPEG: st = decode_jpeg(img, buf, n, name, &p, &orient); break;
    case IRIS_IMAGE_PNM: st = decode_pnm(img, buf, n, name, &p); break;
    case IRIS_IMAGE_PSD: st = iris_image_decode_psd(img, buf, n, name, p.max_side, p.max_pixels); break;
    case IRIS_IMAGE_WEBP: st = iris_image_decode_webp(img, buf, n, name, &p, &orient); break;
    case IRIS_IMAGE_TIFF: st = iris_image_decode_tiff(img, buf, n, name, &p, &orient); break;
    case IRIS_IMAGE_UNKNOWN: return iris_fail(IRIS_ERR_FORMAT, "%s: not an image in a format we read", name);
    default: st = iris_image_decode_stb(img, buf, n, name, iris_image_format_name(f), p.max_side, p.max_pixels);
    }
    if (st) {
        memset(img, 0, sizeof *img);
        return st;
    }
    if (!img->scale) img->full_w = img->w, img->full_h = img->h, img->scale = 1;
    if (p.orient && orient >= 2 && orient <= 8 && (st = iris_image_orient(img, orient))) {
        iris_image_free(img);
        return st;
    }
    if (p.channels && p.channels != img->c) {
        iris_image conv;
        st = iris_image_convert(&conv, img, p.channels);
        if (st) {
            iris_image_free(img);
            return st;
        }
        free(img->data);
        img->data = conv.data;
        img->c = conv.c;
    }
    return IRIS_OK;
}

iris_status iris_image_load(iris_image *img, const char *path, const iris_image_read_params *p) {
    memset(img, 0, sizeof *img);
    iris_map m;
    iris_status st = iris_map_open(&m, path);
    if (st) return st;
    st = iris_image_decode(img, m.data, m.size, path, p);
    iris_map_close(&m);
    return st;
}

iris_status iris_image_save_png(const char *path, const iris_image *img, const iris_image_text *text, int n_text) {
    uint8_t *buf;
    size_t n;
    iris_status st = iris_image_encode_png(img, text, n_text, &buf, &n);
    if (st) return iris_fail(st, "%s: %s", path, iris_last_error());
    st = iris_write_atomic(path, buf, n);
    free(buf);
    return st;
}

iris_status iris_image_save_jpeg(const char *path, const iris_image *img, int quality) {
    uint8_t *buf;
    size_t n;
    iris_status st = iris_image_encode_jpeg(img, quality, &buf, &n);
    if (st) return iris_fail(st, "%s: %s", path, iris_last_error());
    st = iris_write_atomic(path, buf, n);
    free(buf);
    return st;
}

iris_status iris_image_save(const char *path, const iris_image *img, const iris_image_text *text, int n_text) {
    const char *dot = strrchr(path, '.');
    if (dot && !strcasecmp(dot, ".png")) return iris_image_save_png(path, img, text, n_text);
    if (dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"))) return iris_image_save_jpeg(path, img, 95);
    return iris_fail(IRIS_ERR_ARG, "%s: cannot tell the image format from the name (use .png, .jpg or .jpeg)", path);
}
