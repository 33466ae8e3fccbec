/* test_ops_copy_into.c - iris_copy_into: writing into a slice of an existing tensor (the
   KV-cache append of llama/forward.c). Reference: values worked out here (f16 rounding by
   iris_f32_to_f16, itself checked bit by bit in test_core.c). */
#include <stdlib.h>
#include <string.h>

#include "test.h"

TEST(copy_into_cache_rows) {
    for (int threads = 1; threads <= 2; threads++) {
        iris_ctx *ctx = test_ctx(threads);
        if (!ctx) return;
        /* cache (7, 3, 5) f16 filled with 9s; write rows 2..4 from an f32 (3, 3, 5) and from a
           transposed view of a (3, 3, 5) tensor */
        int64_t cshape[3] = {7, 3, 5}, sshape[3] = {3, 3, 5};
        iris_tensor *cache;
        CHECK_OK(iris_tensor_new(&cache, IRIS_CPU, IRIS_F16, 3, cshape));
        uint16_t nine = iris_f32_to_f16(9.0f), init[105];
        for (int i = 0; i < 105; i++) init[i] = nine;
        CHECK_OK(iris_tensor_write(cache, init, sizeof init));
        float src[45];
        for (int i = 0; i < 45; i++) src[i] = 0.1f * (float)i - 1.7f;
        iris_tensor *x = iris_ctx_upload(ctx, IRIS_F32, 3, sshape, src);
        iris_tensor *dst = iris_copy_into(ctx, iris_narrow(ctx, cache, 0, 2, 3), x);
        CHECK(dst != NULL);
        CHECK_OK(iris_ctx_status(ctx));
        uint16_t got[105];
        CHECK_OK(iris_tensor_read(cache, got, sizeof got));
        int bad = 0;
        for (int i = 0; i < 105; i++) {
            uint16_t want = i >= 30 && i < 75 ? iris_f32_to_f16(src[i - 30]) : nine;
            bad += got[i] != want;
        }
        CHECK_INT(bad, 0);
        /* strided source: a transposed view (dims 0 and 1 swapped) */
        iris_tensor *t = iris_transpose(ctx, x, 0, 1);
        CHECK_OK(iris_ctx_status(ctx));
        iris_copy_into(ctx, iris_narrow(ctx, cache, 0, 4, 3), t);
        CHECK_OK(iris_ctx_status(ctx));
        CHECK_OK(iris_tensor_read(cache, got, sizeof got));
        bad = 0;
        for (int r = 0; r < 3; r++)
            for (int h = 0; h < 3; h++)
                for (int d = 0; d < 5; d++)
                    bad += got[(4 + r) * 15 + h * 5 + d] != iris_f32_to_f16(src[h * 15 + r * 5 + d]);
        CHECK_INT(bad, 0);
        CHECK_INT(got[2 * 15], iris_f32_to_f16(src[0])); /* the first write's rows before 4 stay */
        /* errors: shape mismatch, non-contiguous destination, quantized destination */
        CHECK(iris_copy_into(ctx, iris_narrow(ctx, cache, 0, 0, 2), x) == NULL);
        CHECK(iris_ctx_status(ctx) == IRIS_ERR_SHAPE);
        iris_ctx_reset(ctx);
        int64_t colshape[3] = {7, 1, 5};
        float col[35] = {0};
        iris_tensor *c1 = iris_ctx_upload(ctx, IRIS_F32, 3, colshape, col);
        CHECK(iris_copy_into(ctx, iris_narrow(ctx, cache, 1, 0, 1), c1) == NULL); /* rows 15 apart: not contiguous */
        CHECK(iris_ctx_status(ctx) == IRIS_ERR_SHAPE);
        CHECK(strstr(iris_last_error(), "contiguous") != NULL);
        iris_ctx_reset(ctx);
        int64_t qshape[1] = {32};
        iris_tensor *q;
        CHECK_OK(iris_tensor_new(&q, IRIS_CPU, IRIS_Q8_0, 1, qshape));
        float z[32] = {0};
        CHECK(iris_copy_into(ctx, q, iris_ctx_upload(ctx, IRIS_F32, 1, qshape, z)) == NULL);
        CHECK(iris_ctx_status(ctx) == IRIS_ERR_UNSUPPORTED);
        iris_tensor_free(q);
        iris_tensor_free(cache);
    }
}
