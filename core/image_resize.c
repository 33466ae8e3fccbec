/* image_resize.c - resizing, cropping, letterboxing and normalising images for networks.

   Each resize mode copies the arithmetic of the tool a model was trained
   or tested with (PyTorch, OpenCV, darknet, PIL), because a network's outputs
   move when its input pixels move by one level. All modes are separable:
   every output column is a weighted sum of source columns ("taps"), then
   every output row a weighted sum of those rows, accumulated in float in
   the same order as the reference, so results agree to the last bit where
   the reference does not use fused multiply-add. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

/* Output i of an axis = sum over k in [start[i], start[i+1]) of w[k] * input[idx[k]]. */
typedef struct taps {
    int *start, *idx;
    float *w;
} taps;

static void taps_free(taps *t) {
    free(t->start);
    free(t->idx);
    free(t->w);
    memset(t, 0, sizeof *t);
}

static int taps_alloc(taps *t, int out, size_t cap) {
    t->start = malloc(((size_t)out + 1) * sizeof(int));
    t->idx = malloc(cap * sizeof(int));
    t->w = malloc(cap * sizeof(float));
    if (!t->start || !t->idx || !t->w) {
        taps_free(t);
        return -1;
    }
    return 0;
}

/* PyTorch upsample_bilinear2d/linear, align_corners=False: half-pixel
   centres, source index clamped at 0, second tap clamped at the border.
   The scale is a float, the source position is kept in double and only the
   weight is rounded to float (matches torch 1.13's weights bit for bit). */
static int taps_linear(taps *t, int in, int out) {
    if (taps_alloc(t, out, 2 * (size_t)out)) return -1;
    float scale = (float)in / (float)out;
    for (int i = 0; i < out; i++) {
        int i0, i1;
        float l0, l1;
        if (in == out) {
            i0 = i1 = i, l0 = 1, l1 = 0;
        } else {
            double real = scale * (i + 0.5) - 0.5;
            if (real < 0) real = 0;
            i0 = (int)real;
            i1 = i0 + (i0 < in - 1);
            l1 = (float)fmin(fmax(real - i0, 0.0), 1.0);
            l0 = 1.f - l1;
        }
        t->start[i] = 2 * i;
        t->idx[2 * i] = i0, t->w[2 * i] = l0;
        t->idx[2 * i + 1] = i1, t->w[2 * i + 1] = l1;
    }
    t->start[out] = 2 * out;
    return 0;
}

/* Keys' cubic convolution with a = -0.75 (PyTorch's constant). */
static float cubic1(float x, float a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
static float cubic2(float x, float a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

/* PyTorch upsample_bicubic2d, align_corners=False: four taps around
   floor(src), indices clamped to the image (edge pixels repeat). torch's
   weights differ from these by up to ~2e-7 (its build contracts the cubic
   polynomials into fused multiply-adds). */
static int taps_cubic(taps *t, int in, int out) {
    if (taps_alloc(t, out, 4 * (size_t)out)) return -1;
    float scale = (float)in / (float)out;
    const float a = -0.75f;
    for (int i = 0; i < out; i++) {
        double real = scale * (i + 0.5) - 0.5, fl = floor(real);
        int i0 = (int)fl;
        float x1 = (float)(real - fl), x2 = (float)(1.0 - x1);
        float w[4] = {cubic2((float)(x1 + 1.0), a), cubic1(x1, a), cubic1(x2, a), cubic2((float)(x2 + 1.0), a)};
        t->start[i] = 4 * i;
        for (int j = 0; j < 4; j++) {
            int k = i0 - 1 + j;
            t->idx[4 * i + j] = k < 0 ? 0 : k > in - 1 ? in - 1 : k;
            t->w[4 * i + j] = w[j];
        }
    }
    t->start[out] = 4 * out;
    return 0;
}

/* OpenCV INTER_AREA weights (resize.cpp computeResizeAreaTab): output cell
   [i*scale, (i+1)*scale) covers whole source pixels with weight 1/cell and
   partial ones with their overlap/cell; overlaps under 1e-3 are dropped.
   `scale` is OpenCV's 1/(out/in), computed in double exactly as it does. */
static int taps_area(taps *t, int in, int out, double scale) {
    size_t cap = (size_t)in + 2 * (size_t)out + 1, k = 0; /* cells overlap disjoint runs of whole pixels */
    if (taps_alloc(t, out, cap)) return -1;
#define PUSH(s, wt) \
    do {            \
        if (k < cap) t->idx[k] = (s), t->w[k++] = (wt); \
    } while (0)
    for (int i = 0; i < out; i++) {
        t->start[i] = (int)k;
        double f1 = i * scale, f2 = f1 + scale;
        double cell = fmin(scale, in - f1);
        int s1 = (int)ceil(f1), s2 = (int)floor(f2);
        if (s2 > in - 1) s2 = in - 1;
        if (s1 > s2) s1 = s2;
        if (s1 - f1 > 1e-3) PUSH(s1 - 1, (float)((s1 - f1) / cell));
        for (int s = s1; s < s2; s++) PUSH(s, (float)(1.0 / cell));
        if (f2 - s2 > 1e-3) PUSH(s2, (float)(fmin(fmin(f2 - s2, 1.0), cell) / cell));
    }
#undef PUSH
    t->start[out] = (int)k;
    return 0;
}

/* darknet resize_image: scale (in-1)/(out-1) in float, sample i at
   i*scale, weights (1-d, d). Columns: the last output column copies the
   last input column. Rows: the last output row keeps only its (1-d) term. */
static int taps_darknet(taps *t, int in, int out, int rows) {
    if (taps_alloc(t, out, 2 * (size_t)out)) return -1;
    float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.f;
    int k = 0;
    for (int i = 0; i < out; i++) {
        t->start[i] = k;
        if (!rows && (i == out - 1 || in == 1)) {
            t->idx[k] = in - 1, t->w[k++] = 1.f;
            continue;
        }
        float s = out > 1 ? (float)i * scale : (float)(in - 1);
        int i0 = (int)s;
        float d = s - (float)i0;
        if (i0 > in - 1) i0 = in - 1;
        t->idx[k] = i0, t->w[k++] = 1.f - d;
        if (i != out - 1 && in != 1) t->idx[k] = i0 + 1 < in ? i0 + 1 : in - 1, t->w[k++] = d;
    }
    t->start[out] = k;
    return 0;
}

/* Pillow's precompute_coeffs with its bicubic filter (a = -0.5, support 2 widened by the scale when
   shrinking): weights in double, normalised per output, kept as float here and as Pillow's 22-bit
   fixed point by the u8 path below. */
static double pil_cubic(double x) {
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

static int taps_pil(taps *t, int in, int out, double **wd) {
    double scale = (double)in / out, fs = scale < 1 ? 1 : scale, support = 2 * fs;
    int ksize = (int)ceil(support) * 2 + 1;
    if (taps_alloc(t, out, (size_t)out * ksize)) return -1;
    double *w = malloc((size_t)out * ksize * sizeof *w);
    if (!w) {
        taps_free(t);
        return -1;
    }
    int n = 0;
    for (int i = 0; i < out; i++) {
        double center = (i + 0.5) * scale, ww = 0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        t->start[i] = n;
        for (int x = lo; x < hi; x++) {
            w[n + x - lo] = pil_cubic((x - center + 0.5) / fs);
            ww += w[n + x - lo];
        }
        for (int x = lo; x < hi; x++, n++) {
            if (ww != 0) w[n] /= ww;
            t->idx[n] = x;
            t->w[n] = (float)w[n];
        }
    }
    t->start[out] = n;
    if (wd) *wd = w;
    else free(w);
    return 0;
}

#define PIL_BITS 22 /* Pillow's PRECISION_BITS for 8-bit images: 32 - 8 - 2 */

/* One axis of Pillow's ImagingResample for u8: n lines of len samples (stride between samples
   `step`, between lines `lstride`), each output sample = clip8(sum of fixed-point weight * input). */
static void pil_pass(const uint8_t *src, uint8_t *dst, const taps *t, const double *w, int out, int n, size_t step,
                     size_t lstride, size_t dstep, size_t dlstride) {
    for (int l = 0; l < n; l++)
        for (int i = 0; i < out; i++) {
            int ss = 1 << (PIL_BITS - 1);
            for (int k = t->start[i]; k < t->start[i + 1]; k++) {
                int kk = w[k] < 0 ? (int)(-0.5 + w[k] * (1 << PIL_BITS)) : (int)(0.5 + w[k] * (1 << PIL_BITS));
                ss += src[(size_t)l * lstride + (size_t)t->idx[k] * step] * kk;
            }
            int v = ss >> PIL_BITS;
            dst[(size_t)l * dlstride + (size_t)i * dstep] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

/* Pillow (13) runs the horizontal pass first, rounding it to u8, unless the height shrinks by more
   than twice as many pixels as the width does (older Pillows always go horizontal first). */
static iris_status pil_resize_u8(const iris_image *src, iris_image *dst) {
    int sw = src->w, sh = src->h, dw = dst->w, dh = dst->h, c = src->c;
    taps tx = {0}, ty = {0};
    double *wx = NULL, *wy = NULL;
    uint8_t *tmp = NULL;
    iris_status st = IRIS_ERR_NOMEM;
    if (taps_pil(&tx, sw, dw, &wx) || taps_pil(&ty, sh, dh, &wy)) goto done;
    int both = dw != sw && dh != sh, v_first = both && sh - dh > 0 && sh - dh > 2 * (sw - dw);
    if (!(tmp = malloc(v_first ? (size_t)dh * sw * c : (size_t)sh * dw * c))) goto done;
    const size_t C = (size_t)c;
    for (int ch = 0; ch < c; ch++) {
        if (!both && dw != sw) /* rows only */
            pil_pass(src->data + ch, dst->data + ch, &tx, wx, dw, sh, C, (size_t)sw * c, C, (size_t)dw * c);
        else if (!both && dh != sh) /* columns only */
            pil_pass(src->data + ch, dst->data + ch, &ty, wy, dh, sw, (size_t)sw * c, C, (size_t)sw * c, C);
        else if (!both)
            continue;
        else if (v_first) {
            pil_pass(src->data + ch, tmp + ch, &ty, wy, dh, sw, (size_t)sw * c, C, (size_t)sw * c, C);
            pil_pass(tmp + ch, dst->data + ch, &tx, wx, dw, dh, C, (size_t)sw * c, C, (size_t)dw * c);
        } else {
            pil_pass(src->data + ch, tmp + ch, &tx, wx, dw, sh, C, (size_t)sw * c, C, (size_t)dw * c);
            pil_pass(tmp + ch, dst->data + ch, &ty, wy, dh, dw, (size_t)dw * c, C, (size_t)dw * c, C);
        }
    }
    if (dw == sw && dh == sh) memcpy(dst->data, src->data, (size_t)dh * dw * c);
    st = IRIS_OK;
done:
    free(tmp);
    free(wx);
    free(wy);
    taps_free(&tx);
    taps_free(&ty);
    return st ? iris_fail(st, "resize: out of memory for %dx%d -> %dx%d", sw, sh, dw, dh) : IRIS_OK;
}

static double cv_scale(int in, int out) { return 1. / ((double)out / in); }

static int make_taps(taps *t, int in, int out, iris_resize_mode mode, int rows) {
    switch (mode) {
    case IRIS_RESIZE_BILINEAR: return taps_linear(t, in, out);
    case IRIS_RESIZE_BICUBIC: return taps_cubic(t, in, out);
    case IRIS_RESIZE_AREA: return taps_area(t, in, out, cv_scale(in, out));
    case IRIS_RESIZE_DARKNET: return taps_darknet(t, in, out, rows);
    case IRIS_RESIZE_PIL_BICUBIC: return taps_pil(t, in, out, NULL);
    }
    return -1;
}

static iris_status check_dims(const char *what, int sw, int sh, int c, int dw, int dh, iris_resize_mode mode) {
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || c < 1)
        return iris_fail(IRIS_ERR_ARG, "%s: bad size %dx%d -> %dx%d (%d channels)", what, sw, sh, dw, dh, c);
    if ((unsigned)mode > IRIS_RESIZE_PIL_BICUBIC) return iris_fail(IRIS_ERR_ARG, "%s: unknown resize mode %d", what, (int)mode);
    /* keep every index product well inside size_t and int */
    const long long lim = 1ll << 24;
    if (sw > lim || sh > lim || dw > lim || dh > lim || c > 4096 || (long long)sh * dw * c > (1ll << 40) ||
        (long long)dh * dw * c > (1ll << 40))
        return iris_fail(IRIS_ERR_ARG, "%s: %dx%d -> %dx%d is too large", what, sw, sh, dw, dh);
    return IRIS_OK;
}

static uint8_t to_u8(float v) {
    long r = lrintf(v); /* nearest, ties to even, as OpenCV's saturate_cast */
    return (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
}

/* One row through the column taps; C is a constant in the common cases so
   the channel loop unrolls. Sums start at 0 and add taps in order. */
static inline void hrow(const float *row, float *o, const taps *tx, int dw, int C) {
    for (int x = 0; x < dw; x++, o += C) {
        for (int ch = 0; ch < C; ch++) o[ch] = 0.f;
        for (int k = tx->start[x]; k < tx->start[x + 1]; k++) {
            const float *s = row + (size_t)tx->idx[k] * C;
            float w = tx->w[k];
            for (int ch = 0; ch < C; ch++) o[ch] += s[ch] * w;
        }
    }
}

/* Separable resampling of an interleaved u8 or f32 source into f32 or u8. A u8 source is read
   as v / div (div 255: the 0..1 floats a letterbox works in, without converting the whole photo first). */
static iris_status resample_div(const uint8_t *s8, const float *sf, int sw, int sh, int c, int dw, int dh,
                                iris_resize_mode mode, float *df, uint8_t *d8, float div) {
    iris_status st = IRIS_ERR_NOMEM;
    taps tx = {0}, ty = {0};
    float *tmp = NULL, *rowf = NULL, *acc = NULL;
    char *used = NULL;
    size_t srow = (size_t)sw * c, trow = (size_t)dw * c;
    if (make_taps(&tx, sw, dw, mode, 0) || make_taps(&ty, sh, dh, mode, 1)) goto done;
    tmp = malloc((size_t)sh * trow * sizeof(float));
    rowf = malloc(srow * sizeof(float));
    acc = malloc(trow * sizeof(float));
    used = calloc((size_t)sh, 1);
    if (!tmp || !rowf || !acc || !used) goto done;
    for (int k = 0; k < ty.start[dh]; k++) used[ty.idx[k]] = 1; /* rows a downscale never reads are skipped */
    for (int y = 0; y < sh; y++) {
        if (!used[y]) continue;
        const float *row = sf ? sf + (size_t)y * srow : rowf;
        if (s8)
            for (size_t i = 0; i < srow; i++) rowf[i] = (float)s8[(size_t)y * srow + i] / div;
        float *o = tmp + (size_t)y * trow;
        switch (c) {
        case 1: hrow(row, o, &tx, dw, 1); break;
        case 3: hrow(row, o, &tx, dw, 3); break;
        case 4: hrow(row, o, &tx, dw, 4); break;
        default: hrow(row, o, &tx, dw, c); break;
        }
    }
    for (int y = 0; y < dh; y++) {
        for (size_t i = 0; i < trow; i++) acc[i] = 0.f;
        for (int k = ty.start[y]; k < ty.start[y + 1]; k++) {
            const float *r = tmp + (size_t)ty.idx[k] * trow;
            float w = ty.w[k];
            for (size_t i = 0; i < trow; i++) acc[i] += w * r[i];
        }
        if (df) memcpy(df + (size_t)y * trow, acc, trow * sizeof(float));
        else
            for (size_t i = 0; i < trow; i++) d8[(size_t)y * trow + i] = to_u8(acc[i]);
    }
    st = IRIS_OK;
done:
    free(acc);
    free(rowf);
    free(tmp);
    free(used);
    taps_free(&tx);
    taps_free(&ty);
    return st ? iris_fail(st, "resize: out of memory for %dx%d -> %dx%d", sw, sh, dw, dh) : IRIS_OK;
}

static iris_status resample(const uint8_t *s8, const float *sf, int sw, int sh, int c, int dw, int dh,
                            iris_resize_mode mode, float *df, uint8_t *d8) {
    return resample_div(s8, sf, sw, sh, c, dw, dh, mode, df, d8, 1.0f);
}

/* OpenCV's INTER_AREA for u8 when both factors are whole numbers: an
   integer box sum, scaled in float and rounded to nearest-even; 2x2 boxes
   with 1, 3 or 4 channels take its SIMD route, which rounds halves up. */
static void area_box_u8(const uint8_t *s, int sw, int c, uint8_t *d, int dw, int dh, int kx, int ky) {
    int area = kx * ky;
    float scale = 1.f / (float)area;
    int half_up = kx == 2 && ky == 2 && (c == 1 || c == 3 || c == 4);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            for (int ch = 0; ch < c; ch++) {
                int sum = 0;
                for (int j = 0; j < ky; j++) {
                    const uint8_t *r = s + ((size_t)(y * ky + j) * sw + (size_t)x * kx) * c + ch;
                    for (int i = 0; i < kx; i++) sum += r[(size_t)i * c];
                }
                d[((size_t)y * dw + x) * c + ch] = half_up ? (uint8_t)((sum + 2) >> 2) : to_u8((float)sum * scale);
            }
}

iris_status iris_resize_f32(const float *src, int sw, int sh, int c, float *dst, int dw, int dh,
                            iris_resize_mode mode) {
    iris_status st = check_dims("resize", sw, sh, c, dw, dh, mode);
    if (st) return st;
    if (!src || !dst) return iris_fail(IRIS_ERR_ARG, "resize: NULL buffer");
    return resample(NULL, src, sw, sh, c, dw, dh, mode, dst, NULL);
}

static iris_status check_img(const iris_image *img, const char *what) {
    if (!img || !img->data || img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3 && img->c != 4))
        return iris_fail(IRIS_ERR_ARG, "%s: not a valid image", what);
    return IRIS_OK;
}

iris_status iris_image_resize(iris_image *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode) {
    memset(dst, 0, sizeof *dst);
    iris_status st = check_img(src, "resize");
    if (st || (st = check_dims("resize", src->w, src->h, src->c, dw, dh, mode))) return st;
    if ((st = iris_image_alloc(dst, dw, dh, src->c))) return st;
    if (mode == IRIS_RESIZE_AREA) {
        double fx = cv_scale(src->w, dw), fy = cv_scale(src->h, dh);
        int kx = (int)lrint(fx), ky = (int)lrint(fy);
        if (fabs(fx - kx) < DBL_EPSILON && fabs(fy - ky) < DBL_EPSILON) {
            area_box_u8(src->data, src->w, src->c, dst->data, dw, dh, kx, ky);
            return IRIS_OK;
        }
    }
    if (mode == IRIS_RESIZE_PIL_BICUBIC) st = pil_resize_u8(src, dst);
    else st = resample(src->data, NULL, src->w, src->h, src->c, dw, dh, mode, NULL, dst->data);
    if (st) iris_image_free(dst);
    return st;
}

iris_status iris_image_resize_short(iris_image *dst, const iris_image *src, int size, iris_resize_mode mode) {
    memset(dst, 0, sizeof *dst);
    iris_status st = check_img(src, "resize");
    if (st) return st;
    if (size < 1) return iris_fail(IRIS_ERR_ARG, "resize: short side %d", size);
    int w = src->w, h = src->h;
    long long nw, nh;
    if (w <= h) nw = size, nh = (long long)size * h / w;
    else nh = size, nw = (long long)size * w / h;
    if (nw > (1 << 24) || nh > (1 << 24)) return iris_fail(IRIS_ERR_ARG, "resize: %lldx%lld is too large", nw, nh);
    return iris_image_resize(dst, src, (int)nw, (int)nh, mode);
}

iris_status iris_image_crop(iris_image *dst, const iris_image *src, int x, int y, int w, int h) {
    memset(dst, 0, sizeof *dst);
    iris_status st = check_img(src, "crop");
    if (st) return st;
    if (w < 1 || h < 1 || x < 0 || y < 0 || x > src->w - w || y > src->h - h)
        return iris_fail(IRIS_ERR_ARG, "crop: %dx%d at (%d,%d) does not fit in %dx%d", w, h, x, y, src->w, src->h);
    if ((st = iris_image_alloc(dst, w, h, src->c))) return st;
    size_t row = (size_t)w * src->c;
    for (int r = 0; r < h; r++)
        memcpy(dst->data + (size_t)r * row, src->data + ((size_t)(y + r) * src->w + x) * src->c, row);
    return IRIS_OK;
}

/* Python's round() of d/2: halves go to the even neighbour. */
static int half_even(int d) { return d / 2 + ((d & 1) && ((d / 2) & 1)); }

iris_status iris_image_center_crop(iris_image *dst, const iris_image *src, int cw, int ch) {
    memset(dst, 0, sizeof *dst);
    iris_status st = check_img(src, "center crop");
    if (st) return st;
    if (cw < 1 || ch < 1 || cw > src->w || ch > src->h)
        return iris_fail(IRIS_ERR_ARG, "center crop: %dx%d does not fit in %dx%d", cw, ch, src->w, src->h);
    return iris_image_crop(dst, src, half_even(src->w - cw), half_even(src->h - ch), cw, ch);
}

iris_letterbox iris_letterbox_geometry(int sw, int sh, int dw, int dh) {
    iris_letterbox lb = {0};
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1) return lb;
    if ((float)dw / sw < (float)dh / sh) lb.new_w = dw, lb.new_h = (int)((long long)sh * dw / sw);
    else lb.new_h = dh, lb.new_w = (int)((long long)sw * dh / sh);
    if (lb.new_w < 1) lb.new_w = 1;
    if (lb.new_h < 1) lb.new_h = 1;
    lb.off_x = (dw - lb.new_w) / 2;
    lb.off_y = (dh - lb.new_h) / 2;
    lb.scale_x = (float)lb.new_w / (float)sw;
    lb.scale_y = (float)lb.new_h / (float)sh;
    return lb;
}

void iris_letterbox_unmap(const iris_letterbox *lb, float *x, float *y) {
    if (x && lb->scale_x > 0) *x = (*x - (float)lb->off_x) / lb->scale_x;
    if (y && lb->scale_y > 0) *y = (*y - (float)lb->off_y) / lb->scale_y;
}

iris_status iris_image_letterbox(iris_image *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode,
                                 uint8_t fill, iris_letterbox *out_lb) {
    memset(dst, 0, sizeof *dst);
    iris_status st = check_img(src, "letterbox");
    if (st || (st = check_dims("letterbox", src->w, src->h, src->c, dw, dh, mode))) return st;
    iris_letterbox lb = iris_letterbox_geometry(src->w, src->h, dw, dh);
    iris_image r;
    if ((st = iris_image_resize(&r, src, lb.new_w, lb.new_h, mode))) return st;
    if ((st = iris_image_alloc(dst, dw, dh, src->c))) {
        iris_image_free(&r);
        return st;
    }
    memset(dst->data, fill, (size_t)dw * dh * src->c);
    size_t row = (size_t)lb.new_w * src->c;
    for (int y = 0; y < lb.new_h; y++)
        memcpy(dst->data + ((size_t)(y + lb.off_y) * dw + lb.off_x) * src->c, r.data + (size_t)y * row, row);
    iris_image_free(&r);
    if (out_lb) *out_lb = lb;
    return IRIS_OK;
}

iris_status iris_image_resize_f32(float *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode) {
    iris_status st = check_img(src, "resize");
    if (st || (st = check_dims("resize", src->w, src->h, src->c, dw, dh, mode))) return st;
    if (!dst) return iris_fail(IRIS_ERR_ARG, "resize: NULL buffer");
    /* the same floats as converting the photo to u / 255 first, row by row */
    return resample_div(src->data, NULL, src->w, src->h, src->c, dw, dh, mode, dst, NULL, 255.f);
}

iris_status iris_image_letterbox_f32(float *dst, const iris_image *src, int dw, int dh, iris_resize_mode mode,
                                     float fill, iris_letterbox *out_lb) {
    iris_status st = check_img(src, "letterbox");
    if (st || (st = check_dims("letterbox", src->w, src->h, src->c, dw, dh, mode))) return st;
    if (!dst) return iris_fail(IRIS_ERR_ARG, "letterbox: NULL buffer");
    int c = src->c;
    iris_letterbox lb = iris_letterbox_geometry(src->w, src->h, dw, dh);
    float *r = malloc((size_t)lb.new_w * lb.new_h * c * sizeof(float));
    if (!r) return iris_fail(IRIS_ERR_NOMEM, "letterbox: out of memory for %dx%d", src->w, src->h);
    st = iris_image_resize_f32(r, src, lb.new_w, lb.new_h, mode);
    if (st) {
        free(r);
        return st;
    }
    size_t nd = (size_t)dw * dh * c;
    for (size_t i = 0; i < nd; i++) dst[i] = fill;
    size_t row = (size_t)lb.new_w * c;
    for (int y = 0; y < lb.new_h; y++)
        memcpy(dst + ((size_t)(y + lb.off_y) * dw + lb.off_x) * c, r + (size_t)y * row, row * sizeof(float));
    free(r);
    if (out_lb) *out_lb = lb;
    return IRIS_OK;
}

/* Shared by the two NCHW converters: plane p reads source channel src_ch[p]. */
static void plan_planes(int c, const iris_normalize *n, int src_ch[], float mean[], float sd[]) {
    for (int p = 0; p < c; p++) {
        int s = (n && n->bgr && c >= 3 && p < 3) ? 2 - p : p;
        src_ch[p] = s;
        mean[p] = n && s < 4 ? n->mean[s] : 0.f;
        sd[p] = n && s < 4 && n->std[s] != 0.f ? n->std[s] : 1.f;
    }
}

iris_status iris_image_to_nchw(const iris_image *img, float *dst, const iris_normalize *n) {
    iris_status st = check_img(img, "to_nchw");
    if (st) return st;
    if (!dst) return iris_fail(IRIS_ERR_ARG, "to_nchw: NULL buffer");
    int c = img->c, src_ch[4];
    float mean[4], sd[4];
    plan_planes(c, n, src_ch, mean, sd);
    size_t np = (size_t)img->w * img->h;
    for (int p = 0; p < c; p++) {
        float *o = dst + (size_t)p * np;
        const uint8_t *s = img->data + src_ch[p];
        for (size_t i = 0; i < np; i++) o[i] = ((float)s[i * c] / 255.f - mean[p]) / sd[p];
    }
    return IRIS_OK;
}

iris_status iris_hwc_to_nchw_f32(const float *src, int w, int h, int c, float *dst, const iris_normalize *n) {
    if (!src || !dst || w < 1 || h < 1 || c < 1 || c > 4)
        return iris_fail(IRIS_ERR_ARG, "to_nchw: bad arguments (%dx%dx%d)", w, h, c);
    int src_ch[4];
    float mean[4], sd[4];
    plan_planes(c, n, src_ch, mean, sd);
    size_t np = (size_t)w * h;
    for (int p = 0; p < c; p++) {
        float *o = dst + (size_t)p * np;
        const float *s = src + src_ch[p];
        for (size_t i = 0; i < np; i++) o[i] = (s[i * c] - mean[p]) / sd[p];
    }
    return IRIS_OK;
}
