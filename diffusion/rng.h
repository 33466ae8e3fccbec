/* rng.h - the initial and per-step noise of a generation, bit-compatible with PyTorch.

   Two generators, as people pick them in AUTOMATIC1111 and stable-diffusion.cpp:
     IRIS_RNG_CPU   torch.Generator("cpu").manual_seed(seed) and torch.randn: mt19937 plus
                    torch's own uniform-to-normal transform (Box-Muller over blocks of 16 for
                    n >= 16, as torch does for contiguous float tensors).
     IRIS_RNG_CUDA  torch.randn on a CUDA device: Philox4x32-10 with torch's offsets, as
                    AUTOMATIC1111's "NV" source computes it on the CPU. The default, so that a
                    seed copied from those tools reproduces their image.

       iris_rng r;
       iris_rng_init(&r, IRIS_RNG_CUDA, 42);
       iris_rng_randn(&r, latent, 4 * 64 * 64);    // same numbers as torch.randn((1,4,64,64), ...)
       iris_rng_randn(&r, noise, 4 * 64 * 64);     // the next call continues the stream as torch does
*/
#ifndef IRIS_RNG_H
#define IRIS_RNG_H

#include <stdint.h>

typedef enum iris_rng_kind { IRIS_RNG_CUDA = 0, IRIS_RNG_CPU = 1 } iris_rng_kind;

typedef struct iris_rng {
    iris_rng_kind kind;
    uint64_t seed;
    uint64_t offset;      /* Philox: counter offset consumed so far */
    uint32_t mt[624];     /* mt19937 state */
    int mti;
    double next_normal;   /* torch's cached second Box-Muller value for single draws */
    int has_next_normal;
} iris_rng;

void iris_rng_init(iris_rng *r, iris_rng_kind kind, uint64_t seed);
/* n standard normal floats: what one torch.randn(n) call (any shape of n elements) returns. */
void iris_rng_randn(iris_rng *r, float *out, int64_t n);
const char *iris_rng_name(iris_rng_kind k); /* "cuda", "cpu" */

#endif
