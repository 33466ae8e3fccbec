/* llava_anyres.c - LLaVA 1.6's image grid, as transformers' LlavaNext does it: the pinpoint that keeps
   most of the photo (select_best_resolution), and the packing of the projected tiles into the rows the
   language model reads (pack_image_features: the overview tile, then the grid's patch map with the
   padding rows or columns cut off and model.image_newline after every row). LLaVA 1.5 and MiniGPT-v2
   are the one-tile case: the tile's rows as they are. */
#include <string.h>

#include "llava_impl.h"

void iris_llava_best_resolution(const iris_llava_vision *v, int w, int h, int *best_h, int *best_w) {
    int64_t best_eff = 0, best_waste = INT64_MAX;
    *best_h = v->pinpoints[0][0], *best_w = v->pinpoints[0][1];
    for (int i = 0; i < v->info.n_pinpoints; i++) {
        int ph = v->pinpoints[i][0], pw = v->pinpoints[i][1];
        double sw = (double)pw / w, sh = (double)ph / h, scale = sw < sh ? sw : sh;
        int64_t dw = (int64_t)(w * scale), dh = (int64_t)(h * scale);
        int64_t eff = dw * dh < (int64_t)w * h ? dw * dh : (int64_t)w * h, waste = (int64_t)pw * ph - eff;
        if (eff > best_eff || (eff == best_eff && waste < best_waste)) {
            best_eff = eff, best_waste = waste;
            *best_h = ph, *best_w = pw;
        }
    }
}

/* The grid's patch map (rows x cols) and the kept window [r0, r1) x [c0, c1) (transformers' unpad_image). */
typedef struct { int gw, gh, rows, cols, r0, r1, c0, c1; } grid;

static grid grid_of(const iris_llava_vision *v, int w, int h) {
    grid g;
    int bh, bw, side = v->info.image_size / v->info.patch_size;
    iris_llava_best_resolution(v, w, h, &bh, &bw);
    g.gw = bw / v->info.image_size, g.gh = bh / v->info.image_size;
    g.rows = g.gh * side, g.cols = g.gw * side;
    g.r0 = 0, g.r1 = g.rows, g.c0 = 0, g.c1 = g.cols;
    if ((double)w / h > (double)g.cols / g.rows) {
        int nh = (int)(h * ((double)g.cols / w)), pad = (g.rows - nh) / 2;
        g.r0 = pad, g.r1 = g.rows - pad;
    } else {
        int nw = (int)(w * ((double)g.rows / h)), pad = (g.cols - nw) / 2;
        g.c0 = pad, g.c1 = g.cols - pad;
    }
    return g;
}

int iris_llava_n_rows(const iris_llava_vision *v, int w, int h) {
    if (!v->info.anyres) return v->info.n_tokens;
    if (w < 1 || h < 1) return 0;
    grid g = grid_of(v, w, h);
    return v->info.n_patches + (g.r1 - g.r0) * (g.c1 - g.c0 + 1);
}

iris_status iris_llava_pack(const iris_llava_vision *v, const iris_llava_pixels *px, const float *projected,
                            float *rows, int *n_rows) {
    const int N = v->info.n_patches, E = v->info.n_embd, side = v->info.image_size / v->info.patch_size;
    const size_t row = (size_t)E * sizeof(float);
    *n_rows = 0;
    if (!v->info.anyres) {
        if (px->n_tiles != 1) return iris_fail(IRIS_ERR_ARG, "llava pack: %d tiles for a one-tile model", px->n_tiles);
        memcpy(rows, projected, (size_t)v->info.n_tokens * row);
        *n_rows = v->info.n_tokens;
        return IRIS_OK;
    }
    grid g = grid_of(v, px->image_w, px->image_h);
    if (px->n_tiles != 1 + g.gw * g.gh || px->grid_w != g.gw || px->grid_h != g.gh)
        return iris_fail(IRIS_ERR_ARG, "llava pack: %d tiles, the %dx%d photo needs 1 + %dx%d", px->n_tiles, px->image_w,
                         px->image_h, g.gw, g.gh);
    memcpy(rows, projected, (size_t)N * row); /* the overview */
    int n = N;
    for (int r = g.r0; r < g.r1; r++) {
        for (int c = g.c0; c < g.c1; c++) {
            int tile = 1 + (r / side) * g.gw + c / side, patch = (r % side) * side + c % side;
            memcpy(rows + (size_t)n++ * E, projected + ((size_t)tile * N + patch) * E, row);
        }
        memcpy(rows + (size_t)n++ * E, v->newline, row);
    }
    *n_rows = n;
    return IRIS_OK;
}
