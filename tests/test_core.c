/* test_core.c - dtypes, tensors, the context arena, the thread pool.
   References: IEEE 754 half/bfloat16 bit patterns worked out by hand. */
#include <stdlib.h>
#include <string.h>

#include "../core/cpu/cpu.h"
#include "test.h"

TEST(f16_known_values) {
    CHECK_INT(iris_f32_to_f16(1.0f), 0x3c00);
    CHECK_INT(iris_f32_to_f16(-2.0f), 0xc000);
    CHECK_INT(iris_f32_to_f16(65504.0f), 0x7bff);
    CHECK_INT(iris_f32_to_f16(65520.0f), 0x7c00);           /* rounds to inf */
    CHECK_INT(iris_f32_to_f16(5.9604644775390625e-8f), 1);   /* smallest subnormal */
    CHECK_INT(iris_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);  /* tie -> even */
    CHECK_INT(iris_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);  /* tie -> even (up) */
    CHECK_NEAR(iris_f16_to_f32(0x3555), 0.333251953125, 0);
    CHECK_NEAR(iris_f16_to_f32(0x0001), 5.9604644775390625e-8, 0);
    CHECK(isinf(iris_f16_to_f32(0xfc00)) && iris_f16_to_f32(0xfc00) < 0);
    CHECK(isnan(iris_f16_to_f32(0x7e00)));
}

TEST(f16_roundtrip_all_finite) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (iris_f32_to_f16(iris_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_INT(bad, 0);
}

TEST(bf16_known_values) {
    CHECK_INT(iris_f32_to_bf16(1.0f), 0x3f80);
    CHECK_INT(iris_f32_to_bf16(3.140625f), 0x4049);
    CHECK_NEAR(iris_bf16_to_f32(0xc0a0), -5.0, 0);
    CHECK_INT(iris_f32_to_bf16(1.00390625f), 0x3f80); /* tie -> even */
}

TEST(dtype_table) {
    CHECK_INT(iris_row_bytes(IRIS_Q4_0, 64), 36);
    CHECK_INT(iris_row_bytes(IRIS_Q4_K, 512), 288);
    CHECK_INT(iris_row_bytes(IRIS_Q6_K, 256), 210);
    CHECK_INT(iris_row_bytes(IRIS_Q4_0, 33), 0);
    CHECK_INT(iris_dtype_from_ggml(12), IRIS_Q4_K);
    CHECK_INT(iris_dtype_to_ggml(IRIS_BF16), 30);
    CHECK_INT(iris_dtype_from_ggml(4), -1);
    CHECK_INT(iris_dtype_from_name("Q8_0"), IRIS_Q8_0);
}

TEST(tensor_strides) {
    iris_tensor t;
    int64_t sh[3] = {2, 3, 64};
    CHECK_OK(iris_tensor_init(&t, IRIS_F32, 3, sh));
    CHECK_INT(t.nb[2], 4);
    CHECK_INT(t.nb[1], 256);
    CHECK_INT(t.nb[0], 768);
    CHECK_INT(iris_nbytes(&t), 1536);
    CHECK(iris_is_contiguous(&t));
    CHECK_OK(iris_tensor_init(&t, IRIS_Q8_0, 3, sh));
    CHECK_INT(t.nb[1], 68);
    CHECK_INT(iris_nbytes(&t), 6 * 68);
    int64_t bad[2] = {2, 33};
    CHECK(iris_tensor_init(&t, IRIS_Q4_0, 2, bad) == IRIS_ERR_SHAPE);
}

/* A reserved output: made in place below the temporaries, so keep() moves nothing; the temporaries
   made in between are untouched by it; a placement that does not fit, or one cancelled by a
   release, leaves the next tensor where it would have gone. */
TEST(arena_reserve_and_place) {
    iris_ctx *ctx = test_ctx(1);
    int64_t sh[2] = {3, 7}, big[2] = {5, 7};
    float v[35], w[21];
    for (int i = 0; i < 35; i++) v[i] = (float)(i * 3 + 1);
    for (int i = 0; i < 21; i++) w[i] = (float)(-i);
    iris_ctx_upload(ctx, IRIS_F32, 2, sh, w); /* something below the mark */
    iris_mark m = iris_ctx_mark(ctx);
    char *out = iris_ctx_reserve(ctx, 35 * sizeof(float));
    CHECK(out != NULL);
    size_t u0 = iris_ctx_used_bytes(ctx); /* the mark plus the reserved output */
    iris_tensor *tmp = iris_ctx_upload(ctx, IRIS_F32, 2, sh, w);
    CHECK(tmp && (char *)tmp->data >= out + 35 * sizeof(float));
    iris_ctx_place_next(ctx, out, 35 * sizeof(float));
    iris_tensor *y = iris_ctx_upload(ctx, IRIS_F32, 2, big, v);
    CHECK(y && (char *)y->data == out);
    float got[35];
    CHECK_OK(iris_tensor_read(tmp, got, 21 * sizeof(float)));
    CHECK(memcmp(got, w, sizeof w) == 0);
    iris_tensor *k = iris_ctx_keep(ctx, m, y);
    CHECK(k && (char *)k->data == out);
    CHECK_INT((long long)iris_ctx_used_bytes(ctx), (long long)u0);
    CHECK_OK(iris_tensor_read(k, got, sizeof got));
    CHECK(memcmp(got, v, sizeof v) == 0);
    /* too small a space: the tensor goes to the top as usual; the placement is used up */
    char *small = iris_ctx_reserve(ctx, 4 * sizeof(float));
    iris_ctx_place_next(ctx, small, 4 * sizeof(float));
    iris_tensor *t2 = iris_ctx_tensor(ctx, IRIS_F32, 2, sh);
    CHECK(t2 && (char *)t2->data > small);
    iris_tensor *t3 = iris_ctx_tensor(ctx, IRIS_F32, 1, sh);
    CHECK(t3 && (char *)t3->data > (char *)t2->data);
    /* a release cancels the placement */
    iris_mark m2 = iris_ctx_mark(ctx);
    char *sp = iris_ctx_reserve(ctx, 64);
    iris_ctx_place_next(ctx, sp, 64);
    iris_ctx_release(ctx, m2);
    iris_tensor *t4 = iris_ctx_tensor(ctx, IRIS_F32, 1, sh);
    iris_tensor *t5 = iris_ctx_tensor(ctx, IRIS_F32, 1, sh);
    CHECK(t4 && t5 && t4->data != t5->data);
    /* space outside the arena is refused */
    float outside[8];
    iris_ctx_place_next(ctx, outside, sizeof outside);
    iris_tensor *t6 = iris_ctx_tensor(ctx, IRIS_F32, 1, sh);
    CHECK(t6 && t6->data != (void *)outside);
    CHECK_OK(iris_ctx_status(ctx));
}

TEST(arena_keep_and_views) {
    iris_ctx *ctx = test_ctx(1);
    int64_t sh[2] = {4, 8};
    float v[32];
    for (int i = 0; i < 32; i++) v[i] = (float)i;
    iris_tensor *a = iris_ctx_upload(ctx, IRIS_F32, 2, sh, v);
    iris_mark m = iris_ctx_mark(ctx);
    iris_tensor *tmp = iris_ctx_tensor(ctx, IRIS_F32, 2, sh);
    iris_tensor *b = iris_ctx_upload(ctx, IRIS_F32, 2, sh, v);
    CHECK(tmp && b);
    size_t before = iris_ctx_used_bytes(ctx);
    b = iris_ctx_keep(ctx, m, b);
    CHECK(b != NULL);
    CHECK(iris_ctx_used_bytes(ctx) < before);
    float got[32];
    CHECK_OK(iris_tensor_read(b, got, sizeof got));
    CHECK(memcmp(got, v, sizeof v) == 0);
    iris_tensor *n = iris_narrow(ctx, a, 1, 2, 3);
    CHECK(n && n->ne[1] == 3 && !iris_is_contiguous(n));
    iris_tensor *t = iris_transpose(ctx, a, 0, 1);
    CHECK(t && t->ne[0] == 8 && t->nb[0] == 4);
    int64_t sh2[3] = {2, -1, 4};
    iris_tensor *r = iris_reshape(ctx, a, 3, sh2);
    CHECK(r && r->ne[1] == 4);
    CHECK(iris_reshape(ctx, n, 1, sh2) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_SHAPE);
    iris_ctx_reset(ctx);
    CHECK(iris_ctx_status(ctx) == IRIS_OK);
    CHECK(iris_ctx_peak_bytes(ctx) >= before);
}

TEST(arena_exhaustion_is_an_error) {
    iris_ctx *ctx;
    iris_ctx_params p = iris_ctx_default_params();
    p.n_threads = 1;
    p.arena_bytes = 1 << 20;
    CHECK_OK(iris_ctx_create(&ctx, &p));
    int64_t sh[1] = {1 << 20};
    CHECK(iris_ctx_tensor(ctx, IRIS_F32, 1, sh) == NULL);
    CHECK(iris_ctx_status(ctx) == IRIS_ERR_NOMEM);
    CHECK(strstr(iris_last_error(), "arena") != NULL);
    iris_ctx_free(ctx);
}

static void sum_range(void *arg, int64_t b, int64_t e, int tid) {
    (void)tid;
    int64_t *acc = arg;
    for (int64_t i = b; i < e; i++) __atomic_fetch_add(acc, i, __ATOMIC_RELAXED);
}

TEST(pool_for_covers_range_once) {
    iris_pool *p;
    CHECK_OK(iris_pool_new(&p, 3));
    for (int rep = 0; rep < 200; rep++) {
        int64_t acc = 0, n = 1000 + rep;
        iris_pool_for(p, n, 7, sum_range, &acc);
        if (acc != n * (n - 1) / 2) { CHECK_INT(acc, n * (n - 1) / 2); break; }
    }
    CHECK_INT(iris_pool_size(p), 3);
    iris_pool_free(p);
}
