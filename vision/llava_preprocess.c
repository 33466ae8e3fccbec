/* llava_preprocess.c - an RGB photo -> the normalised tiles LLaVA's vision tower takes, with the
   arithmetic of the processors the models were trained with (Pillow bicubic resizes on u8 pixels):
     LLaVA 1.5  the original LLaVA's expand2square (centred on the mean colour int(mean * 255)),
                then CLIPImageProcessor: shorter side to the tile size, centre crop (floor offsets)
     LLaVA 1.6  LlavaNextImageProcessor: the best pinpoint, an aspect-keeping resize into it (ceil),
                centred on zeros, cut into tiles; first the whole photo squashed to one tile
     MiniGPT-v2 Blip2ImageEvalProcessor: torchvision's Resize((S, S), BICUBIC) on the PIL image, which
                is Pillow's bicubic resize of the whole photo to S x S (no padding, no crop)
   then (v / 255 - mean) / std per channel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llava_impl.h"

/* img pasted centred on a w x h canvas of `fill`. */
static iris_status paste_centred(iris_image *dst, const iris_image *img, int w, int h, const uint8_t fill[3]) {
    iris_status st = iris_image_alloc(dst, w, h, 3);
    if (st) return st;
    for (size_t i = 0; i < (size_t)w * h; i++) memcpy(dst->data + 3 * i, fill, 3);
    int x0 = (w - img->w) / 2, y0 = (h - img->h) / 2;
    for (int y = 0; y < img->h; y++)
        memcpy(dst->data + ((size_t)(y0 + y) * w + x0) * 3, img->data + (size_t)y * img->w * 3, (size_t)img->w * 3);
    return IRIS_OK;
}

static iris_status put_tile(const iris_llava_vision *v, const iris_image *tile, float *dst) {
    iris_normalize n = {{v->info.mean[0], v->info.mean[1], v->info.mean[2], 0}, {v->info.std[0], v->info.std[1], v->info.std[2], 1}, 0};
    return iris_image_to_nchw(tile, dst, &n);
}

/* LLaVA 1.5: pad to a square, shorter side to S, centre crop S x S. */
static iris_status one_tile(const iris_llava_vision *v, const iris_image *rgb, float *dst) {
    const int S = v->info.image_size;
    uint8_t fill[3];
    for (int c = 0; c < 3; c++) {
        double m = (double)v->info.mean[c] * 255;
        fill[c] = (uint8_t)(m < 0 ? 0 : m > 255 ? 255 : (int)m);
    }
    int side = rgb->w > rgb->h ? rgb->w : rgb->h;
    iris_image sq = {0}, rs = {0}, crop = {0};
    iris_status st = paste_centred(&sq, rgb, side, side, fill);
    if (!st) st = iris_image_resize_short(&rs, &sq, S, IRIS_RESIZE_PIL_BICUBIC);
    if (!st) st = iris_image_crop(&crop, &rs, (rs.w - S) / 2, (rs.h - S) / 2, S, S);
    if (!st) st = put_tile(v, &crop, dst);
    iris_image_free(&crop);
    iris_image_free(&rs);
    iris_image_free(&sq);
    return st;
}

/* MiniGPT-v2: the photo squashed to S x S. */
static iris_status squashed_tile(const iris_llava_vision *v, const iris_image *rgb, float *dst) {
    const int S = v->info.image_size;
    iris_image rs = {0};
    iris_status st = iris_image_resize(&rs, rgb, S, S, IRIS_RESIZE_PIL_BICUBIC);
    if (!st) st = put_tile(v, &rs, dst);
    iris_image_free(&rs);
    return st;
}

/* LLaVA 1.6: overview, then the grid's tiles row by row. */
static iris_status grid_tiles(const iris_llava_vision *v, const iris_image *rgb, iris_llava_pixels *px) {
    const int S = v->info.image_size, w = rgb->w, h = rgb->h;
    const size_t tile_floats = (size_t)3 * S * S;
    int bh, bw, nw, nh;
    iris_llava_best_resolution(v, w, h, &bh, &bw);
    double sw = (double)bw / w, sh = (double)bh / h;
    if (sw < sh) nw = bw, nh = (int)fmin(ceil(h * sw), bh);
    else nh = bh, nw = (int)fmin(ceil(w * sh), bw);
    iris_image over = {0}, rs = {0}, canvas = {0}, tile = {0};
    static const uint8_t black[3] = {0, 0, 0};
    iris_status st = iris_image_resize(&over, rgb, S, S, IRIS_RESIZE_PIL_BICUBIC);
    if (!st) st = put_tile(v, &over, px->data);
    if (!st) st = iris_image_resize(&rs, rgb, nw, nh, IRIS_RESIZE_PIL_BICUBIC);
    if (!st) st = paste_centred(&canvas, &rs, bw, bh, black);
    int t = 1;
    for (int y = 0; y < bh && !st; y += S)
        for (int x = 0; x < bw && !st; x += S, t++) {
            st = iris_image_crop(&tile, &canvas, x, y, S, S);
            if (!st) st = put_tile(v, &tile, px->data + (size_t)t * tile_floats);
            iris_image_free(&tile);
        }
    iris_image_free(&canvas);
    iris_image_free(&rs);
    iris_image_free(&over);
    return st;
}

iris_status iris_llava_preprocess(const iris_llava_vision *v, const iris_image *img, iris_llava_pixels *out) {
    memset(out, 0, sizeof *out);
    if (!img || !img->data || img->w < 1 || img->h < 1) return iris_fail(IRIS_ERR_ARG, "llava: not a valid image");
    iris_image rgb = {0};
    iris_status st = IRIS_OK;
    if (img->c != 3 && (st = iris_image_convert(&rgb, img, 3))) return st;
    const iris_image *src = img->c == 3 ? img : &rgb;
    const int S = v->info.image_size;
    out->size = S, out->image_w = img->w, out->image_h = img->h;
    out->grid_w = out->grid_h = 1, out->n_tiles = 1;
    if (v->info.anyres) {
        int bh, bw;
        iris_llava_best_resolution(v, img->w, img->h, &bh, &bw);
        out->grid_w = bw / S, out->grid_h = bh / S, out->n_tiles = 1 + out->grid_w * out->grid_h;
    }
    out->data = malloc((size_t)out->n_tiles * 3 * S * S * sizeof(float));
    if (!out->data) st = iris_fail(IRIS_ERR_NOMEM, "llava: out of memory for %d tiles", out->n_tiles);
    else if (v->info.anyres) st = grid_tiles(v, src, out);
    else if (v->kind == IRIS_PROJ_MINIGPTV2) st = squashed_tile(v, src, out->data);
    else st = one_tile(v, src, out->data);
    iris_image_free(&rgb);
    if (st) iris_llava_pixels_free(out);
    return st;
}

void iris_llava_pixels_free(iris_llava_pixels *px) {
    if (!px) return;
    free(px->data);
    memset(px, 0, sizeof *px);
}
