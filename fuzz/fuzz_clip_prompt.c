/* fuzz_clip_prompt.c - libFuzzer target: A1111 prompt parsing and CLIP tokenization of any bytes.
   The first byte picks the padding (SD 1.x EOS or SD 2.x 0); the rest is the prompt. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../clip/tokenizer.h"
#include "fuzz.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static iris_clip_tokenizer *t;
    if (!t && iris_clip_tokenizer_load(&t, NULL)) __builtin_trap(); /* the built-in vocabulary always loads */
    if (!size) return 0;
    int32_t pad = data[0] & 1 ? 0 : IRIS_CLIP_EOS;
    char *prompt = malloc(size);
    if (!prompt) return 0;
    memcpy(prompt, data + 1, size - 1);
    prompt[size - 1] = 0; /* a NUL inside ends the prompt early, as for any C string */

    int32_t *ids;
    int n;
    if (iris_clip_tokenize(t, prompt, &ids, &n)) __builtin_trap(); /* plain text never fails */
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= IRIS_CLIP_N_VOCAB) __builtin_trap();
    free(ids);

    iris_clip_chunks c;
    if (iris_clip_prompt_chunks(t, prompt, pad, &c) == IRIS_OK) {
        if (c.n_chunks < 1) __builtin_trap();
        for (int k = 0; k < c.n_chunks; k++) {
            const int32_t *row = c.ids + (size_t)k * IRIS_CLIP_CTX;
            const float *w = c.weights + (size_t)k * IRIS_CLIP_CTX;
            if (row[0] != IRIS_CLIP_BOS || w[0] != 1) __builtin_trap();
            if (row[IRIS_CLIP_CTX - 1] != IRIS_CLIP_EOS && row[IRIS_CLIP_CTX - 1] != pad) __builtin_trap();
            for (int i = 0; i < IRIS_CLIP_CTX; i++) {
                if (row[i] < 0 || row[i] >= IRIS_CLIP_N_VOCAB) __builtin_trap();
                sink += (uint64_t)(w[i] == w[i]);
            }
        }
        iris_clip_chunks_free(&c);
    } else if (c.ids || c.weights || c.n_chunks) {
        __builtin_trap(); /* a failure leaves nothing behind */
    }
    free(prompt);
    return 0;
}
