/* fuzz_mmproj.c - libFuzzer target: a hostile LLaVA mmproj GGUF through the loader, the grid
   arithmetic and (for small tiles) the preprocessing. None may crash or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../vision/llava.h"
#include "fuzz.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    iris_llava_vision *v;
    if (iris_llava_vision_parse(&v, data, size, "fuzz.gguf", NULL)) return 0;
    const iris_llava_vision_info *in = iris_llava_vision_get_info(v);
    static const int sizes[][2] = {{1, 1}, {40, 28}, {20, 36}, {1000, 3}, {3, 1000}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        sink += (uint64_t)iris_llava_n_rows(v, sizes[i][0], sizes[i][1]);
    if (in->image_size <= 64) {
        uint8_t px[40 * 28 * 3];
        memset(px, 77, sizeof px);
        iris_image img = {40, 28, 3, px, 0, NULL};
        iris_llava_pixels p;
        if (!iris_llava_preprocess(v, &img, &p)) {
            sink += (uint64_t)p.n_tiles;
            iris_llava_pixels_free(&p);
        }
    }
    iris_llava_vision_free(v);
    return 0;
}
