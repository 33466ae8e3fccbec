/* rows.h - elementwise loops over strided tensors, cut into rows (internal to core/cpu).

   Copy, unary, binary and concat see up to three operands of one shape (at most 4 dims),
   each with its own byte strides; a broadcast dim has stride 0. Planning drops size-1 dims
   and merges neighbouring dims that lie back to back in every operand, so a contiguous
   tensor becomes one long row, a bias add over [B, L, D] becomes B*L rows of D that share
   one bias row, and a per-channel scale over [N, C, H, W] becomes N*C rows of H*W against
   one scalar each. Only truly strided layouts pay for index arithmetic, once per row piece.
   Rows are cut into pieces of at most `chunk` elements: the unit of work handed to threads.

   An operand of a block-quantized type must be contiguous along its last dim (tensor.h);
   its piece addresses count whole blocks, so `chunk` must be a multiple of 256.
*/
#ifndef IRIS_CPU_ROWS_H
#define IRIS_CPU_ROWS_H

#include <stdint.h>

#include "../dtype.h"

#define IRIS_ROWS_MAX_OPS 3

typedef struct iris_rows {
    int nops, nd;                        /* operands; dims left after merging (>= 1) */
    int64_t ne[4];                       /* merged shape, outermost first; the last dim is the row */
    int64_t nb[IRIS_ROWS_MAX_OPS][4];    /* byte strides per operand */
    int blk[IRIS_ROWS_MAX_OPS], tsz[IRIS_ROWS_MAX_OPS];
    int64_t cols, chunk, per_row, npieces;
} iris_rows;

/* ne: the common shape (ndim dims); nb[k]: operand k's strides for those dims; dt[k]: its dtype. */
static inline void iris_rows_plan(iris_rows *r, int ndim, const int64_t *ne, int nops,
                                  const int64_t nb[][4], const iris_dtype *dt, int64_t chunk) {
    r->nops = nops;
    for (int k = 0; k < nops; k++) {
        const iris_dtype_info *info = iris_dtype_get(dt[k]);
        r->blk[k] = info ? info->block_size : 1;
        r->tsz[k] = info ? info->type_size : 1;
    }
    /* Walk dims from the innermost out, building the merged dims at the back of the arrays.
       The row is the innermost dim of size > 1, or the last dim if a block type is involved
       (that one is counted in blocks). */
    int last = ndim - 1, blocks = 0;
    for (int k = 0; k < nops; k++) blocks |= r->blk[k] > 1;
    while (!blocks && last > 0 && ne[last] == 1) last--;
    int64_t mne[4], mnb[IRIS_ROWS_MAX_OPS][4];
    int top = 3;
    mne[3] = ne[last];
    for (int k = 0; k < nops; k++) mnb[k][3] = nb[k][last];
    for (int d = last - 1; d >= 0; d--) {
        if (ne[d] == 1) continue;
        int merge = 1;
        for (int k = 0; k < nops && merge; k++) {
            /* bytes spanned by the current outermost merged dim */
            int64_t span = mnb[k][top] * mne[top];
            if (top == 3 && r->blk[k] > 1) span = mne[3] / r->blk[k] * r->tsz[k];
            merge = nb[k][d] == span;
        }
        if (merge) {
            mne[top] *= ne[d];
        } else {
            top--;
            mne[top] = ne[d];
            for (int k = 0; k < nops; k++) mnb[k][top] = nb[k][d];
        }
    }
    r->nd = 4 - top;
    for (int i = 0; i < r->nd; i++) {
        r->ne[i] = mne[top + i];
        for (int k = 0; k < nops; k++) r->nb[k][i] = mnb[k][top + i];
    }
    r->cols = r->ne[r->nd - 1];
    r->chunk = chunk;
    r->per_row = r->cols ? (r->cols + chunk - 1) / chunk : 0;
    int64_t rows = 1;
    for (int i = 0; i < r->nd - 1; i++) rows *= r->ne[i];
    r->npieces = rows * r->per_row;
}

/* Addresses of piece p in every operand; returns its length in elements. */
static inline int64_t iris_rows_piece(const iris_rows *r, int64_t p, char *const *base, char **ptr) {
    int64_t row = p / r->per_row, c0 = (p - row * r->per_row) * r->chunk;
    int64_t off[IRIS_ROWS_MAX_OPS] = {0};
    for (int d = r->nd - 2; d >= 0; d--) {
        int64_t i = row % r->ne[d];
        row /= r->ne[d];
        for (int k = 0; k < r->nops; k++) off[k] += i * r->nb[k][d];
    }
    for (int k = 0; k < r->nops; k++) {
        int64_t in = r->blk[k] > 1 ? c0 / r->blk[k] * r->tsz[k] : c0 * r->nb[k][r->nd - 1];
        ptr[k] = base[k] + off[k] + in;
    }
    return r->cols - c0 < r->chunk ? r->cols - c0 : r->chunk;
}

/* Pieces per thread task so that a task holds at least `min_elems` elements. */
static inline int64_t iris_rows_grain(const iris_rows *r, int64_t min_elems) {
    int64_t len = r->cols < r->chunk ? r->cols : r->chunk;
    if (len < 1) len = 1;
    return (min_elems + len - 1) / len;
}

#endif
