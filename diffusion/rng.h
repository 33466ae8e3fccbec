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

   Per-step noise of the ancestral samplers comes from the same generator, right after the
   initial latent: draw 0 is the latent, draws 1, 2, ... the noise of the ancestral steps, each
   the size of the latent. That is what both tools do with default settings: A1111's ImageRNG
   (modules/rng.py) makes the latent with the image's generator and k-diffusion's randn_like is
   redirected to its next(), the same generator (reseeded with seed + delta only when "Eta noise
   seed delta" is set: do iris_rng_init(&r, kind, seed + delta) after the latent to match);
   stable-diffusion.cpp's sampler_rng is its rng, seeded once per image. (A1111's Euler, Heun
   and DPM2 also consume one unused draw per step, which changes nothing they compute.)

   Exactness: IRIS_RNG_CPU equals torch 1.13's CPU randn bit for bit on x86 with AVX2, the
   kernel torch picks there (checked on 16M values). torch on other CPUs (ARM, Apple, where A1111
   uses the CPU source) runs the >= 16 path through libm's logf/sinf/cosf, which can differ in
   the last bit. IRIS_RNG_CUDA equals A1111's rng_philox.py bit for bit (numpy computes its
   Box-Muller in float64 with float32 constants; so does this); stable-diffusion.cpp's port
   rounds to float at every step and real CUDA uses curand's float functions, so both can be a
   float ulp or two away on some values.
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
