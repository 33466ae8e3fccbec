/* test_ops_layout.c - copy/cast/dequantize, permute, concat and get_rows.
   References: PyTorch fixtures from tests/ref/gen_ops_layout.py (permute, cat, embedding,
   .half()/.bfloat16() bit patterns, .to(int32)), and hand-built quantized blocks. */
#include <stdlib.h>
#include <string.h>

#include "ops_ref.h"

#define REF "ops_layout.safetensors"

/* Raw bytes of a contiguous tensor (malloc'd). */
static void *read_raw(const iris_tensor *t) {
    if (!t) return NULL;
    size_t n = iris_nbytes(t);
    void *p = malloc(n ? n : 1);
    if (p && iris_tensor_read(t, p, n)) {
        free(p);
        return NULL;
    }
    return p;
}

/* Fixture int16 bits reinterpreted as another 2-byte type (bf16 has no fixture dtype). */
static iris_tensor *ref_as(iris_ctx *ctx, const char *name, iris_dtype dt) {
    iris_tensor *t = ops_ref_in(ctx, REF, name);
    if (t) t->dtype = dt;
    return t;
}

/* y has half type dt and equals fixture `name` rounded to dt. */
static void check_rounded(const iris_tensor *y, const char *name, iris_dtype dt, const char *what) {
    CHECK(y && y->dtype == dt);
    int64_t n;
    float *want = test_ref_f32(REF, name, &n), *got = test_read_f32(y);
    for (int64_t i = 0; want && i < n; i++)
        want[i] = dt == IRIS_F16 ? iris_f16_to_f32(iris_f32_to_f16(want[i])) : iris_bf16_to_f32(iris_f32_to_bf16(want[i]));
    test_close(got, want, n, 0, 0, __FILE__, __LINE__, what);
    free(want), free(got);
}

TEST(layout_permute_matches_torch) {
    static const struct {
        const char *in, *out;
        int perm[4];
    } cases[] = {
        {"x3", "x3_p201", {2, 0, 1}},       {"x3", "x3_p120", {1, 2, 0}},       {"x4", "x4_p0231", {0, 2, 3, 1}},
        {"x4", "x4_p3210", {3, 2, 1, 0}},   {"x4", "x4_p0213", {0, 2, 1, 3}},   {"x3", "x3_p120", {-2, -1, 0}},
    };
    FOR_PATHS({
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            iris_ctx_reset(ctx);
            iris_tensor *y = iris_permute(ctx, ops_ref_in(ctx, REF, cases[i].in), cases[i].perm);
            char w[96];
            snprintf(w, sizeof w, "%s %s", what, cases[i].out);
            ops_ref_check(REF, y, cases[i].out, 0, 0, w);
        }
        /* a strided input: x4[..., 1:4] */
        iris_tensor *n = iris_narrow(ctx, ops_ref_in(ctx, REF, "x4"), 3, 1, 3);
        iris_tensor *y = iris_permute(ctx, n, (const int[]){0, 3, 1, 2});
        CHECK(y && y->ne[0] == 2 && y->ne[1] == 3 && y->ne[2] == 3 && y->ne[3] == 4);
        ops_ref_check(REF, y, "x4_narrow_p0312", 0, 0, what);
    });
}

TEST(layout_permute_keeps_half_types) {
    FOR_PATHS({
        iris_tensor *h = iris_copy(ctx, ops_ref_in(ctx, REF, "x4"), IRIS_BF16);
        check_rounded(iris_permute(ctx, h, (const int[]){3, 2, 1, 0}), "x4_p3210", IRIS_BF16, what);
    });
}

TEST(layout_concat_matches_torch) {
    FOR_PATHS({
        for (int d = 0; d < 3; d++) {
            iris_ctx_reset(ctx);
            char bn[32], yn[32], w[96];
            snprintf(bn, sizeof bn, "cat_b%d", d);
            snprintf(yn, sizeof yn, "cat_%d", d);
            snprintf(w, sizeof w, "%s dim %d", what, d);
            iris_tensor *a = ops_ref_in(ctx, REF, "cat_a"), *b = ops_ref_in(ctx, REF, bn);
            ops_ref_check(REF, iris_concat(ctx, a, b, d), yn, 0, 0, w);
            ops_ref_check(REF, iris_concat(ctx, a, b, d - 3), yn, 0, 0, w); /* negative dims count from the end */
        }
        /* strided inputs: a transposed twice is a [2,3,5] view with permuted strides */
        iris_tensor *a = ops_ref_in(ctx, REF, "cat_a");
        iris_tensor *ap = iris_permute(ctx, a, (const int[]){2, 1, 0});        /* [5,3,2] contiguous */
        iris_tensor *av = iris_transpose(ctx, ap, 0, 2);                        /* [2,3,5] strided view of it */
        ops_ref_check(REF, iris_concat(ctx, av, ops_ref_in(ctx, REF, "cat_b2"), 2), "cat_2", 0, 0, what);
        /* f16 inputs stay f16 */
        iris_tensor *y = iris_concat(ctx, iris_copy(ctx, a, IRIS_F16), iris_copy(ctx, ops_ref_in(ctx, REF, "cat_b1"), IRIS_F16), 1);
        check_rounded(y, "cat_1", IRIS_F16, what);
    });
}

TEST(layout_get_rows_matches_torch) {
    FOR_PATHS({
        iris_tensor *ids = ops_ref_in(ctx, REF, "ids");
        iris_tensor *y = iris_get_rows(ctx, ops_ref_in(ctx, REF, "table"), ids);
        CHECK(y && y->ndim == 2 && y->ne[0] == 9 && y->ne[1] == 37 && y->dtype == IRIS_F32);
        ops_ref_check(REF, y, "emb", 0, 0, what);
        ops_ref_check(REF, iris_get_rows(ctx, ops_ref_in(ctx, REF, "table_f16"), ids), "emb_f16", 0, 0, what);
        ops_ref_check(REF, iris_get_rows(ctx, ref_as(ctx, "table_bf16_bits", IRIS_BF16), ids), "emb_bf16", 0, 0, what);
        /* a table seen through a transpose (strided rows), ids as a [3,3] tensor */
        iris_tensor *tt = iris_permute(ctx, ops_ref_in(ctx, REF, "table"), (const int[]){1, 0}); /* [37, 11] */
        int64_t sh[2] = {3, 3};
        y = iris_get_rows(ctx, iris_transpose(ctx, tt, 0, 1), iris_reshape(ctx, ids, 2, sh));
        CHECK(y && y->ndim == 3 && y->ne[0] == 3 && y->ne[1] == 3 && y->ne[2] == 37);
        ops_ref_check(REF, y, "emb", 0, 0, what);
    });
}

TEST(layout_get_rows_id_out_of_range) {
    iris_ctx *ctx = test_ctx(2);
    int64_t sh[1] = {4};
    int32_t bad[4] = {1, 2, 11, 0}, neg[4] = {0, -1, 0, 0};
    iris_tensor *table = ops_ref_in(ctx, REF, "table");
    CHECK(ops_failed_with(ctx, iris_get_rows(ctx, table, iris_ctx_upload(ctx, IRIS_I32, 1, sh, bad)),
                          "id 11 at position 2 is out of range for a table with 11 rows"));
    iris_ctx_reset(ctx);
    table = ops_ref_in(ctx, REF, "table");
    snprintf(table->name, sizeof table->name, "tok_embeddings.weight");
    CHECK(ops_failed_with(ctx, iris_get_rows(ctx, table, iris_ctx_upload(ctx, IRIS_I32, 1, sh, neg)),
                          "id -1 at position 1 is out of range for table 'tok_embeddings.weight' with 11 rows"));
    iris_ctx_reset(ctx);
    table = ops_ref_in(ctx, REF, "table");
    CHECK(ops_failed_with(ctx, iris_get_rows(ctx, table, ops_ref_in(ctx, REF, "table")), "get_rows: ids f32[11,37] must be i32"));
    iris_ctx_reset(ctx);
}

TEST(layout_f16_bf16_rounding_matches_torch) {
    FOR_PATHS({
        iris_tensor *x = ops_ref_in(ctx, REF, "conv_x");
        int64_t n = x ? iris_nelements(x) : 0;
        static const char *bits_name[2] = {"conv_f16_bits", "conv_bf16_bits"}, *back_name[2] = {"conv_f16_back", "conv_bf16_back"};
        static const iris_dtype types[2] = {IRIS_F16, IRIS_BF16};
        for (int k = 0; k < 2; k++) {
            uint16_t *got = read_raw(iris_copy(ctx, x, types[k]));
            iris_tensor *wt = ops_ref_in(ctx, REF, bits_name[k]);
            uint16_t *want = read_raw(wt);
            /* NaN: any NaN pattern matches (PyTorch's own vector and scalar paths disagree on it) */
            uint16_t emask = types[k] == IRIS_F16 ? 0x7c00 : 0x7f80;
            int64_t bad = 0, first = -1;
            for (int64_t i = 0; got && want && i < n; i++) {
                int gn = (got[i] & emask) == emask && (got[i] & ~emask & 0x7fff);
                int wn = (want[i] & emask) == emask && (want[i] & ~emask & 0x7fff);
                if (gn && wn) continue;
                if (got[i] != want[i]) bad++, first = first < 0 ? i : first;
            }
            CHECK_MSG(got && want && bad == 0, "%s %s: %lld of %lld bit patterns differ (first [%lld] %04x vs %04x)",
                      what, iris_dtype_name(types[k]), (long long)bad, (long long)n, (long long)first,
                      first >= 0 ? got[first] : 0, first >= 0 ? want[first] : 0);
            /* and back to f32, exactly (NaN included: compare bits) */
            wt = ref_as(ctx, bits_name[k], types[k]);
            float *back = read_raw(iris_copy(ctx, wt, IRIS_F32));
            float *wback = test_ref_f32(REF, back_name[k], NULL);
            CHECK_MSG(back && wback && !memcmp(back, wback, (size_t)n * 4), "%s: %s -> f32", what, iris_dtype_name(types[k]));
            free(got), free(want), free(back), free(wback);
        }
    });
}

TEST(layout_large_copies_split_across_threads) {
    /* big enough for the pool to split: f32 -> f16/bf16 and a transposing copy */
    enum { R = 129, C = 1025 };
    float *x = malloc(R * C * sizeof *x);
    uint32_t seed = 7;
    for (int i = 0; i < R * C; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((seed >> 8) / 16777216.f - 0.5f) * 1000.f;
    }
    int64_t sh[2] = {R, C};
    FOR_PATHS({
        iris_tensor *t = iris_ctx_upload(ctx, IRIS_F32, 2, sh, x);
        uint16_t *h = read_raw(iris_copy(ctx, t, IRIS_F16)), *b = read_raw(iris_copy(ctx, t, IRIS_BF16));
        float *p = read_raw(iris_permute(ctx, t, (const int[]){1, 0}));
        uint16_t *ph = read_raw(iris_permute(ctx, iris_copy(ctx, t, IRIS_F16), (const int[]){1, 0}));
        int bad = !h || !b || !p || !ph;
        for (int i = 0; !bad && i < R * C; i++) {
            bad |= h[i] != iris_f32_to_f16(x[i]) || b[i] != iris_f32_to_bf16(x[i]);
            bad |= p[(i % C) * R + i / C] != x[i] || ph[(i % C) * R + i / C] != iris_f32_to_f16(x[i]);
        }
        CHECK_MSG(!bad, "%s: large copy differs", what);
        free(h), free(b), free(p), free(ph);
    });
    free(x);
}

TEST(layout_integer_conversions_match_torch) {
    FOR_PATHS({
        int32_t *got = read_raw(iris_copy(ctx, ops_ref_in(ctx, REF, "int_x"), IRIS_I32));
        int32_t *want = read_raw(ops_ref_in(ctx, REF, "int_x_i32"));
        CHECK_MSG(got && want && !memcmp(got, want, 97 * 4), "%s: f32 -> i32", what);
        free(got), free(want);
        iris_tensor *pos = iris_copy(ctx, ops_ref_in(ctx, REF, "pos_i64"), IRIS_I32);
        int32_t *p = read_raw(pos);
        int bad = !p;
        for (int i = 0; p && i < 77; i++) bad |= p[i] != i * 3 - 50;
        CHECK_MSG(!bad && pos->dtype == IRIS_I32, "%s: i64 -> i32", what);
        free(p);
        /* i32 -> f32 and edge cases of f32 -> i32: saturation and NaN */
        int64_t sh[1] = {6};
        float e[6] = {3.99f, -3.99f, 3e9f, -3e9f, NAN, -0.5f};
        int32_t *ei = read_raw(iris_copy(ctx, iris_ctx_upload(ctx, IRIS_F32, 1, sh, e), IRIS_I32));
        CHECK(ei && ei[0] == 3 && ei[1] == -3 && ei[2] == INT32_MAX && ei[3] == INT32_MIN && ei[4] == 0 && ei[5] == 0);
        float *ef = read_raw(iris_copy(ctx, iris_ctx_upload(ctx, IRIS_I32, 1, sh, ei), IRIS_F32));
        CHECK(ef && ef[0] == 3.f && ef[2] == 2147483648.f && ef[3] == -2147483648.f);
        free(ei), free(ef);
    });
}

TEST(layout_errors_name_op_and_shapes) {
    iris_ctx *ctx = test_ctx(1);
    int64_t s3[3] = {2, 3, 5}, s3b[3] = {2, 4, 6}, s2[2] = {3, 5};
    iris_tensor *a = iris_ctx_tensor(ctx, IRIS_F32, 3, s3);
    CHECK(ops_failed_with(ctx, iris_permute(ctx, a, (const int[]){0, 0, 1}), "permute: (0,0,1) is not a permutation of the 3 dims of f32[2,3,5]"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, s3);
    CHECK(ops_failed_with(ctx, iris_permute(ctx, a, (const int[]){0, 3, 1}), "not a permutation"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, s3);
    CHECK(ops_failed_with(ctx, iris_concat(ctx, a, iris_ctx_tensor(ctx, IRIS_F32, 3, s3b), 1),
                          "concat: f32[2,3,5] and f32[2,4,6] differ in dim 2 (joining along dim 1)"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, s3);
    CHECK(ops_failed_with(ctx, iris_concat(ctx, a, iris_ctx_tensor(ctx, IRIS_F32, 2, s2), 0), "concat: cannot join f32[2,3,5] and f32[3,5]"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, s3);
    CHECK(ops_failed_with(ctx, iris_concat(ctx, a, a, 3), "along dim 3"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, s3);
    CHECK(ops_failed_with(ctx, iris_copy(ctx, a, IRIS_Q8_0), "copy: cannot convert f32[2,3,5] to q8_0"));
    iris_ctx_reset(ctx);
    a = iris_ctx_tensor(ctx, IRIS_F32, 3, s3);
    CHECK(ops_failed_with(ctx, iris_get_rows(ctx, a, a), "get_rows: table f32[2,3,5] must be 2-D"));
    iris_ctx_reset(ctx);
}

/* ---- quantized inputs ---- */

/* Q8_0 [rows, 64]: element e of row r is 0.5 * ((r * 64 + e) % 61 - 30), worked out by hand
   from the block layout (d = 0.5 as f16 0x3800, then 32 int8 q). */
static float q8_value(int64_t r, int64_t e) { return 0.5f * (float)((r * 64 + e) % 61 - 30); }

static iris_tensor *q8_table(iris_ctx *ctx, int64_t rows) {
    iris_block_q8_0 *blk = malloc((size_t)rows * 2 * sizeof *blk);
    for (int64_t r = 0; r < rows; r++)
        for (int b = 0; b < 2; b++) {
            blk[r * 2 + b].d = 0x3800;
            for (int j = 0; j < 32; j++) blk[r * 2 + b].qs[j] = (int8_t)((r * 64 + b * 32 + j) % 61 - 30);
        }
    int64_t sh[2] = {rows, 64};
    iris_tensor *t = iris_ctx_upload(ctx, IRIS_Q8_0, 2, sh, blk);
    free(blk);
    return t;
}

TEST(layout_dequantize_hand_built_blocks) {
    FOR_PATHS({
        iris_tensor *q = q8_table(ctx, 6);
        float *got = test_read_f32(iris_dequantize(ctx, q));
        int bad = !got;
        for (int r = 0; !bad && r < 6; r++)
            for (int e = 0; e < 64; e++) bad |= got[r * 64 + e] != q8_value(r, e);
        CHECK_MSG(!bad, "%s: q8_0 -> f32", what);
        free(got);
        /* to f16 (the values are exact in f16), through a [2,3,64] view with swapped outer dims */
        int64_t sh[3] = {2, 3, 64};
        iris_tensor *v = iris_transpose(ctx, iris_reshape(ctx, q, 3, sh), 0, 1); /* [3,2,64] */
        iris_tensor *h = iris_copy(ctx, v, IRIS_F16);
        got = test_read_f32(h);
        bad = !got || h->dtype != IRIS_F16;
        for (int i = 0; !bad && i < 3; i++)
            for (int j = 0; j < 2; j++)
                for (int e = 0; e < 64; e++) bad |= got[(i * 2 + j) * 64 + e] != q8_value(j * 3 + i, e);
        CHECK_MSG(!bad, "%s: q8_0 view -> f16", what);
        free(got);
        /* permute moving the block dim: dequantized first, then moved */
        float *p = test_read_f32(iris_permute(ctx, q, (const int[]){1, 0}));
        bad = !p;
        for (int r = 0; !bad && r < 6; r++)
            for (int e = 0; e < 64; e++) bad |= p[e * 6 + r] != q8_value(r, e);
        CHECK_MSG(!bad, "%s: permuted q8_0", what);
        free(p);
        /* get_rows on a quantized table; concat of two quantized tensors is f32 */
        int32_t idv[4] = {5, 0, 2, 5};
        int64_t si[1] = {4};
        float *g = test_read_f32(iris_get_rows(ctx, q, iris_ctx_upload(ctx, IRIS_I32, 1, si, idv)));
        bad = !g;
        for (int k = 0; !bad && k < 4; k++)
            for (int e = 0; e < 64; e++) bad |= g[k * 64 + e] != q8_value(idv[k], e);
        CHECK_MSG(!bad, "%s: get_rows q8_0", what);
        free(g);
        iris_tensor *c = iris_concat(ctx, q, iris_narrow(ctx, q, 0, 4, 2), 0);
        float *cv = test_read_f32(c);
        bad = !cv || c->dtype != IRIS_F32 || c->ne[0] != 8;
        for (int r = 0; !bad && r < 8; r++)
            for (int e = 0; e < 64; e++) bad |= cv[r * 64 + e] != q8_value(r < 6 ? r : r - 2, e);
        CHECK_MSG(!bad, "%s: concat q8_0", what);
        free(cv);
    });
}

TEST(layout_dequantize_k_quants_by_rows) {
    /* large K-quant tensors (split across threads): every row equals iris_dequantize_row of it */
    enum { R = 40, C = 2048 };
    static const iris_dtype types[] = {IRIS_Q4_K, IRIS_Q6_K, IRIS_Q4_0};
    float *x = malloc(R * C * sizeof *x), *want = malloc(R * C * sizeof *want);
    uint32_t seed = 3;
    for (int i = 0; i < R * C; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = ((seed >> 8) / 16777216.f - 0.5f) * 3.f;
    }
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        size_t rb = iris_row_bytes(types[k], C);
        char *q = malloc(R * rb);
        for (int r = 0; r < R; r++) CHECK_OK(iris_quantize_row(types[k], x + r * C, q + r * rb, C));
        for (int r = 0; r < R; r++) iris_dequantize_row(types[k], q + r * rb, want + r * C, C);
        int64_t sh[2] = {R, C}, si[1] = {3};
        int32_t idv[3] = {R - 1, 0, 17};
        FOR_PATHS({
            iris_tensor *t = iris_ctx_upload(ctx, types[k], 2, sh, q);
            float *got = test_read_f32(iris_dequantize(ctx, t));
            CHECK_MSG(got && !memcmp(got, want, R * C * sizeof(float)), "%s %s", what, iris_dtype_name(types[k]));
            free(got);
            float *g = test_read_f32(iris_get_rows(ctx, t, iris_ctx_upload(ctx, IRIS_I32, 1, si, idv)));
            int bad = !g;
            for (int i = 0; !bad && i < 3; i++) bad |= memcmp(g + i * C, want + idv[i] * C, C * sizeof(float)) != 0;
            CHECK_MSG(!bad, "%s get_rows %s", what, iris_dtype_name(types[k]));
            free(g);
        });
        free(q);
    }
    free(x);
    free(want);
}
