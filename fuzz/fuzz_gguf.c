/* fuzz_gguf.c - libFuzzer target: GGUF parsing, every getter, every tensor, kv copying. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/gguf.h"
#include "fuzz.h"

static volatile uint64_t sink;

static void walk(const iris_gguf_value *a, int depth) {
    if (depth > 16) __builtin_trap(); /* the reader bounds nesting */
    uint64_t n = a->n < 256 ? a->n : 256;
    for (uint64_t i = 0; i < n + 1; i++) { /* + 1: out of range must be safe */
        double d = iris_gguf_arr_f64(a, i);
        sink += (uint64_t)iris_gguf_arr_i64(a, i) + iris_gguf_arr_u64(a, i) + (d == d);
        uint64_t len = 0;
        const char *s = iris_gguf_arr_str(a, i, &len);
        if (s) sink += (uint8_t)s[len]; /* the NUL after the string */
        const iris_gguf_value *item = iris_gguf_arr_item(a, i);
        if (item) walk(item, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    iris_gguf g;
    if (iris_gguf_parse(&g, data, size, "fuzz.gguf")) return 0;
    for (int64_t i = 0; i < g.n_kv; i++) {
        const char *key = g.kv[i].key;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f;
        bool b;
        const char *s;
        const iris_gguf_value *a;
        if (iris_gguf_find_kv(&g, key) != &g.kv[i]) __builtin_trap();
        if (!iris_gguf_get_u32(&g, key, &u32)) sink += u32;
        if (!iris_gguf_get_i32(&g, key, &i32)) sink += (uint64_t)i32;
        if (!iris_gguf_get_u64(&g, key, &u64)) sink += u64;
        if (!iris_gguf_get_i64(&g, key, &i64)) sink += (uint64_t)i64;
        if (!iris_gguf_get_f32(&g, key, &f)) sink += (uint64_t)(f == f);
        if (!iris_gguf_get_bool(&g, key, &b)) sink += b;
        if (!iris_gguf_get_str(&g, key, &s)) sink += strlen(s);
        if (!iris_gguf_get_array(&g, key, IRIS_GGUF_ANY, &a)) walk(a, 0);
    }
    for (int64_t i = 0; i < g.n_tensors && i < 64; i++) {
        iris_tensor *t = NULL;
        if (iris_gguf_find_tensor(&g, g.tensors[i].name) != &g.tensors[i]) __builtin_trap();
        if (iris_gguf_tensor(&g, g.tensors[i].name, &t)) continue;
        size_t nb = iris_nbytes(t);
        if (nb != g.tensors[i].nbytes) __builtin_trap();
        if (nb) sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[nb - 1];
        iris_tensor_free(t);
    }
    iris_gguf_writer *w;
    if (!iris_gguf_writer_new(&w)) {
        iris_gguf_writer_copy_kvs(w, &g);
        iris_gguf_writer_free(w);
    }
    iris_gguf_close(&g);
    return 0;
}
