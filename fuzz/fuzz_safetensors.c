/* fuzz_safetensors.c - libFuzzer target: safetensors header parsing and every tensor lookup. */
#include <stddef.h>
#include <stdint.h>

#include "../core/safetensors.h"
#include "fuzz.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    iris_safetensors st;
    if (iris_safetensors_parse(&st, data, size, "fuzz.safetensors")) return 0;
    for (int i = 0; i < st.n && i < 64; i++) {
        const iris_st_entry *e = &st.entries[i];
        if (e->begin > e->end || e->end > size) __builtin_trap();
        if (iris_safetensors_find(&st, e->name) != e) __builtin_trap();
        iris_tensor *t = NULL;
        if (iris_safetensors_get(&st, e->name, &t)) continue;
        size_t nb = iris_nbytes(t);
        if (nb != e->end - e->begin) __builtin_trap();
        if (nb) sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[nb - 1];
        iris_tensor_free(t);
    }
    for (int i = 0; i < st.n_meta; i++) {
        const char *v = iris_safetensors_meta(&st, st.meta_keys[i]);
        if (v) sink += (uint8_t)v[0];
    }
    iris_safetensors_close(&st);
    return 0;
}
