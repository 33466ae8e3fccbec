/* image.h - reading, writing and preprocessing 8-bit images on the host.

   Load a photo, make a network input, save a result:

       iris_image img;
       if (iris_image_load(&img, "dog.jpg", NULL))          // PNG, JPEG, WebP, TIFF, BMP, GIF, TGA, PNM, PSD
           fprintf(stderr, "%s\n", iris_last_error());       // "dog.jpg: JPEG: premature end of data"
       iris_image small;
       iris_image_resize(&small, &img, 32, 32, IRIS_RESIZE_AREA);   // = cv2.resize(INTER_AREA)
       float x[3 * 32 * 32];
       iris_normalize n = {.mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
       iris_image_to_nchw(&small, x, &n);                    // then iris_ctx_upload(ctx, IRIS_F32, 4, {1,3,32,32}, x)
       iris_image_text meta[] = {{"prompt", "a red fox"}, {"seed", "42"}};
       iris_image_save_png("out.png", &img, meta, 2);       // temp file + rename
       iris_image_free(&small);
       iris_image_free(&img);

   Pixels are row-major HWC bytes with no row padding: c = 1 (gray), 3 (RGB)
   or 4 (RGBA). Every decoder returns upright 8-bit pixels: 16-bit samples
   are scaled (v/257, rounded), palettes and tRNS expanded (any tRNS gives
   RGBA), gray+alpha becomes RGBA, CMYK JPEGs and TIFFs become RGB, and the
   orientation of a JPEG (EXIF in APP1), PNG (eXIf), WebP (EXIF chunk) or
   TIFF (its Orientation tag) is applied. Colour profiles and gamma are
   ignored (as OpenCV and PIL do by default). GIFs give their first frame, as
   RGBA; animated WebPs their first frame (composited on a transparent
   canvas, as libwebp's animation decoder and PIL do); TIFFs their first
   page. PNM samples are scaled by the header's maxval.

   The format is found from the bytes (iris_image_sniff), never the file
   name. Input is hostile: a truncated file, or corruption the format can
   detect (CRCs, bad Huffman codes), is an error (IRIS_ERR_FORMAT) naming
   the file, never a crash or a half-grey picture (only bytes after the
   pixels may be missing: a JPEG's EOI, a GIF's trailer, a TGA footer).
   Sizes above the limits in iris_image_read_params, and headers claiming
   more pixels than the file's data could code, are refused before any
   pixel memory is taken. PNG and JPEG go through libpng and libjpeg(-turbo),
   WebP through libwebp (core/image_webp.c), TIFF through libtiff
   (core/image_tiff.c, which says what it reads), PNM (P5/P6) and PSD (the
   flattened picture; RGB or gray, 8/16-bit, raw or PackBits) through small
   readers of ours, BMP, GIF and TGA through stb_image (core/image_stb.c).

   A JPEG can be decoded smaller, in its DCT (libjpeg's scale_denom 2, 4 or
   8), which is several times faster for a network input far smaller than
   the photo: set min_w/min_h in iris_image_read_params to the size the
   caller needs; iris_image.scale says what was done and full_w/full_h the
   size of the whole picture. Decoders share no state, so several threads
   may decode at once (libtiff's process-wide message handlers are silenced
   once, see image_tiff.c). Drawing boxes and text: core/image_draw.h.

   Resizing (which reference each mode reproduces is listed at
   iris_resize_mode) works on interleaved buffers, either u8 images or f32
   HWC arrays with any channel count (c = 1 for a single plane).
*/
#ifndef IRIS_IMAGE_H
#define IRIS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IRIS_IMAGE_MAX_SIDE 16384              /* default limit per side */
#define IRIS_IMAGE_MAX_PIXELS (256ll << 20)    /* default limit on w*h (256 MP) */

typedef enum iris_image_format {
    IRIS_IMAGE_UNKNOWN = 0,
    IRIS_IMAGE_PNG,
    IRIS_IMAGE_JPEG,
    IRIS_IMAGE_BMP,
    IRIS_IMAGE_GIF,
    IRIS_IMAGE_TGA,
    IRIS_IMAGE_PNM, /* binary P5 (gray) and P6 (RGB), 8 or 16 bit */
    IRIS_IMAGE_PSD,
    IRIS_IMAGE_WEBP,
    IRIS_IMAGE_TIFF,
} iris_image_format;

/* A key/value text pair: PNG tEXt/zTXt/iTXt chunks. Values are UTF-8 (tEXt
   is Latin-1 on disk; we write tEXt for ASCII and iTXt otherwise). */
typedef struct iris_image_text {
    const char *key, *value;
} iris_image_text;

typedef struct iris_image {
    int w, h, c;     /* c = 1, 3 or 4 */
    uint8_t *data;   /* h rows of w*c bytes */
    int n_text;      /* text chunks found when reading a PNG (owned; freed with the image) */
    iris_image_text *text;
    /* Set by the decoders (0 in images made otherwise): the upright size of
       the whole picture in the file, and the factor it was reduced by (1, or
       2, 4, 8 for a JPEG decoded with min_w/min_h). Pixel x of the decoded
       image covers x*scale .. x*scale+scale-1 of the full picture; the last
       column and row may cover less (w = ceil(full_w / scale)). */
    int full_w, full_h, scale;
} iris_image;

typedef struct iris_image_read_params {
    int channels;        /* 0: as stored (1, 3 or 4); 1, 3 or 4: converted (see iris_image_convert) */
    int orient;          /* 1 (default): apply EXIF orientation; 0: pixels as stored */
    int max_side;        /* refuse wider or taller images (default IRIS_IMAGE_MAX_SIDE) */
    long long max_pixels; /* refuse images with more pixels (default IRIS_IMAGE_MAX_PIXELS) */
    /* The caller needs at least min_w x min_h pixels (of the upright image;
       0 = full size, the default): a JPEG is then decoded at the largest
       DCT scale 1/2, 1/4 or 1/8 whose output (ceil(w / scale) x ceil(h /
       scale), turned upright) still covers both; other formats ignore it. */
    int min_w, min_h;
} iris_image_read_params;

iris_image_read_params iris_image_default_read_params(void);

/* Format from the first bytes of a file, IRIS_IMAGE_UNKNOWN (0) if none we
   decode. 18 bytes are enough for every format (TGA needs its whole header;
   the others need at most 16: WebP's RIFF header and first chunk name). TGA has no magic number, so it is accepted
   only when its header is fully plausible. */
iris_image_format iris_image_sniff(const uint8_t *buf, size_t n);
const char *iris_image_format_name(iris_image_format f); /* "png", "jpeg", ... ("unknown") */

/* Reads a whole file (p may be NULL for defaults). On failure img is zeroed. */
iris_status iris_image_load(iris_image *img, const char *path, const iris_image_read_params *p);
/* The same from memory; `name` is used in error messages. */
iris_status iris_image_decode(iris_image *img, const void *buf, size_t n, const char *name,
                              const iris_image_read_params *p);

/* Uninitialised w x h x c image (c = 1, 3 or 4). */
iris_status iris_image_alloc(iris_image *img, int w, int h, int c);
void iris_image_free(iris_image *img);
/* Value of a text chunk read from a PNG, NULL if absent. */
const char *iris_image_get_text(const iris_image *img, const char *key);

/* Channel conversion into a new image: gray -> RGB copies, RGB -> gray is
   BT.601 luma (299 R + 587 G + 114 B)/1000 rounded like PIL's "L" mode,
   dropping alpha drops it (no compositing), adding alpha gives 255. */
iris_status iris_image_convert(iris_image *dst, const iris_image *src, int c);

/* Rotates/mirrors `img` in place so that an image stored with EXIF
   orientation `o` (1..8) becomes upright; other values leave it unchanged.
   full_w/full_h are swapped with w/h when o transposes (5..8). */
iris_status iris_image_orient(iris_image *img, int o);
/* Orientation tag (0x0112) from EXIF data: either a JPEG APP1 payload
   ("Exif\0\0" + TIFF) or bare TIFF data (PNG eXIf). 1..8, or 0 if absent or invalid. */
int iris_exif_orientation(const uint8_t *buf, size_t n);

/* ---- writing ----
   Encoders return a malloc'd buffer (free() it). Savers write the encoded
   bytes to "<path>.tmp.<pid>" and rename, so a crash or a full disk never
   leaves a partial file under `path`; a full disk is reported as IRIS_ERR_IO. */
iris_status iris_image_encode_png(const iris_image *img, const iris_image_text *text, int n_text,
                                  uint8_t **out, size_t *n);
/* quality 1..100; c = 4 drops alpha. 4:2:0 chroma below quality 90, 4:4:4 from 90. */
iris_status iris_image_encode_jpeg(const iris_image *img, int quality, uint8_t **out, size_t *n);
iris_status iris_image_save_png(const char *path, const iris_image *img, const iris_image_text *text,
                                int n_text);
iris_status iris_image_save_jpeg(const char *path, const iris_image *img, int quality);
/* By extension: .png (with the text), .jpg/.jpeg (quality 95); otherwise IRIS_ERR_ARG. */
iris_status iris_image_save(const char *path, const iris_image *img, const iris_image_text *text, int n_text);

/* ---- resizing and preprocessing (image_resize.c) ---- */

typedef enum iris_resize_mode {
    /* PyTorch F.interpolate(mode="bilinear", align_corners=False, antialias=False)
       (= OpenCV INTER_LINEAR up to its fixed-point rounding). No antialiasing. */
    IRIS_RESIZE_BILINEAR = 0,
    /* PyTorch F.interpolate(mode="bicubic", align_corners=False, antialias=False):
       Keys cubic with a = -0.75, border pixels repeated. May overshoot [0,1]. */
    IRIS_RESIZE_BICUBIC,
    /* OpenCV INTER_AREA for downscaling: box average for integer factors,
       fractional-overlap weights otherwise; u8 results equal OpenCV's exactly.
       When an axis grows, the same overlap weights are used (OpenCV would
       switch to bilinear there). */
    IRIS_RESIZE_AREA,
    /* darknet resize_image: separable linear interpolation with corners
       aligned (scale (in-1)/(out-1)), rows then columns; reproduces darknet's
       float results bit for bit. */
    IRIS_RESIZE_DARKNET,
    /* PIL Image.resize(BICUBIC) on 8-bit images, as Hugging Face's CLIP/LLaVA image processors
       call it: Keys cubic with a = -0.5 widened by the scale when shrinking (antialiased),
       22-bit fixed-point weights, two passes rounded to u8 in Pillow 13's order.
       u8 results equal Pillow's exactly; for f32 buffers the same weights in float. */
    IRIS_RESIZE_PIL_BICUBIC,
} iris_resize_mode;

/* Interleaved float buffers: src sh x sw x c, dst dh x dw x c (c >= 1). */
iris_status iris_resize_f32(const float *src, int sw, int sh, int c, float *dst, int dw, int dh,
                            iris_resize_mode mode);
/* New dw x dh image. Modes other than AREA compute in float and round to
   nearest (ties to even) with clamping to 0..255; AREA follows OpenCV's u8 path. */
iris_status iris_image_resize(iris_image *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode);
/* torchvision Resize(size): the shorter side becomes `size`, the longer
   one int(size * long / short), truncated. */
iris_status iris_image_resize_short(iris_image *dst, const iris_image *src, int size, iris_resize_mode mode);
/* Copy of the rectangle at (x, y), which must lie inside src. */
iris_status iris_image_crop(iris_image *dst, const iris_image *src, int x, int y, int w, int h);
/* torchvision CenterCrop: top = round((h - ch) / 2) with ties to even, same for left.
   The crop must fit inside the image. */
iris_status iris_image_center_crop(iris_image *dst, const iris_image *src, int cw, int ch);

/* Where a letterboxed image lies in its canvas. A canvas point (x, y) maps
   back to the source image at ((x - off_x) / scale_x, (y - off_y) / scale_y). */
typedef struct iris_letterbox {
    int new_w, new_h;        /* size of the resized image inside the canvas */
    int off_x, off_y;        /* its top-left corner in the canvas */
    float scale_x, scale_y;  /* new_w / src w, new_h / src h */
} iris_letterbox;

/* Geometry only, with darknet's integer arithmetic: the side with the
   smaller ratio fills the canvas, the other is (side * canvas) / other
   side, truncated; the image is centred with offsets (dw - new_w) / 2, truncated. */
iris_letterbox iris_letterbox_geometry(int sw, int sh, int dw, int dh);
/* Canvas coordinates -> source image coordinates. */
void iris_letterbox_unmap(const iris_letterbox *lb, float *x, float *y);
/* Letterbox into a new dw x dh u8 image, the margins filled with `fill`. */
iris_status iris_image_letterbox(iris_image *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode,
                                 uint8_t fill, iris_letterbox *lb);
/* Resize into float HWC dh x dw x src->c with values u/255 (the same floats as converting the image
   to u/255 first, without that copy of the whole image). `dst` holds dw*dh*src->c floats. */
iris_status iris_image_resize_f32(float *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode);
/* Letterbox into a float HWC canvas dh x dw x src->c with values u/255
   (darknet: IRIS_RESIZE_DARKNET with fill 0.5 reproduces letterbox_image).
   `dst` holds dw*dh*src->c floats. */
iris_status iris_image_letterbox_f32(float *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode,
                                     float fill, iris_letterbox *lb);

/* Per-channel normalisation: x = (v - mean[ch]) / std[ch], channels in RGB
   order (mean/std given for R, G, B, A); with bgr set, output plane 0 is
   blue (mean[2]/std[2] then apply to it). A zero std counts as 1. */
typedef struct iris_normalize {
    float mean[4], std[4];
    int bgr;
} iris_normalize;

/* u8 HWC image -> float CHW planes (batch of one: what iris_ctx_upload takes
   as {1, c, h, w}); v = u / 255 exactly as torchvision ToTensor. n may be NULL
   (plain u/255). dst holds c*h*w floats. */
iris_status iris_image_to_nchw(const iris_image *img, float *dst, const iris_normalize *n);
/* Float HWC (values already scaled, e.g. a letterbox canvas) -> float CHW planes. */
iris_status iris_hwc_to_nchw_f32(const float *src, int w, int h, int c, float *dst, const iris_normalize *n);

#ifdef __cplusplus
}
#endif
#endif
