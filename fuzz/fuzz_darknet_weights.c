/* fuzz_darknet_weights.c - libFuzzer target: .weights header and the float cursor. */
#include <stddef.h>
#include <stdint.h>

#include "../core/darknet.h"
#include "fuzz.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    iris_darknet_weights w;
    if (iris_darknet_weights_parse(&w, data, size, "fuzz.weights")) return 0;
    float buf[64];
    /* read in chunks whose sizes come from the data itself, until the cursor runs out */
    for (size_t i = 0;; i++) {
        size_t n = 1 + (size_t)data[i % size] % 64;
        uint64_t left = iris_darknet_weights_remaining(&w);
        iris_status rc = iris_darknet_weights_read(&w, buf, n, "chunk");
        if ((n <= left) != (rc == IRIS_OK)) __builtin_trap();
        if (rc) break;
        sink += buf[n - 1];
    }
    if (iris_darknet_weights_read(&w, NULL, iris_darknet_weights_remaining(&w), "rest")) __builtin_trap();
    if (iris_darknet_weights_remaining(&w)) __builtin_trap();
    iris_darknet_weights_close(&w);
    return 0;
}
