/* sd.h - Stable Diffusion 1.x / 2.x text-to-image and img2img in one call.

       iris_sd *sd;
       iris_sd_load_params lp = iris_sd_load_default_params();
       if (iris_sd_load(&sd, "v1-5-pruned-emaonly.safetensors", &lp)) {
           fprintf(stderr, "%s\n", iris_last_error());
           return 1;
       }
       iris_sd_params p = iris_sd_default_params();
       p.prompt = "a lighthouse at dusk";
       p.seed = 42;
       iris_image img;                                   // core/image.h, RGB
       if (iris_sd_generate(sd, &p, &img) == IRIS_OK) iris_image_save_png("out.png", &img, NULL, 0);
       iris_image_free(&img);
       iris_sd_free(sd);

   A model is an original single-file checkpoint (.safetensors, ldm tensor names) or a diffusers
   folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/). Weights stay memory-mapped
   in their file's type. The family (SD 1.x / 2.x) and the prediction type (epsilon / v) are read
   from names, shapes and metadata; params.prediction overrides the latter.
*/
#ifndef IRIS_SD_H
#define IRIS_SD_H

#include <stddef.h>
#include <stdint.h>

#include "../core/ctx.h"
#include "../core/image.h"
#include "rng.h"
#include "sampler.h"

typedef struct iris_sd iris_sd;

typedef enum iris_sd_family { IRIS_SD_1 = 1, IRIS_SD_2 = 2 } iris_sd_family;
typedef enum iris_sd_prediction { IRIS_SD_PRED_AUTO = 0, IRIS_SD_PRED_EPS, IRIS_SD_PRED_V } iris_sd_prediction;

typedef struct iris_sd_load_params {
    iris_device device;            /* IRIS_CPU (default) or IRIS_CUDA */
    int n_threads;                 /* 0 = all cores */
    iris_sd_prediction prediction; /* AUTO: from the file */
    const char *tokenizer;         /* NULL: the model's own (diffusers tokenizer/) or the built-in one */
    int verbose;
} iris_sd_load_params;

typedef struct iris_sd_info {
    iris_sd_family family;
    iris_sd_prediction prediction; /* EPS or V */
    int native_size;               /* 512, or 768 for 768-v models */
    int latent_channels;           /* 4 */
    int text_dim;                  /* 768 (ViT-L/14) or 1024 (OpenCLIP ViT-H/14) */
    const char *name;              /* file name without folders and extension ("v1-5-pruned-emaonly") */
} iris_sd_info;

/* A finished stage: "text" (prompt encoding), "step" (one sampler step), "vae-decode",
   "vae-encode"; seconds it took and the activation peak of the stage. */
typedef void (*iris_sd_stage_fn)(void *user, const char *stage, int index, double seconds, size_t peak_bytes);

typedef struct iris_sd_params {
    const char *prompt;     /* A1111 syntax: (emphasis:1.2), [less], BREAK */
    const char *negative;   /* NULL or "" : empty unconditional prompt */
    int width, height;      /* multiples of 8; 0 = the model's native size */
    int steps;              /* 20 */
    float cfg;              /* 7; 1 = no guidance (one UNet pass per step) */
    uint64_t seed;
    iris_sampler_kind sampler;   /* Euler a */
    iris_schedule_kind schedule; /* discrete */
    iris_rng_kind rng;           /* IRIS_RNG_CUDA (A1111's and sd.cpp's default) */
    float eta;              /* ancestral eta, 1 */
    int clip_skip;          /* 0 = the family's default (SD 1.x last layer, SD 2.x penultimate); N = stop N-1 layers early */
    /* img2img: an RGB init image (resized to width x height), strength in (0, 1] */
    const iris_image *init_image;
    float strength;         /* 0.75 */
    /* after each sampler step: step is the 0-based index of the step just done, of `steps` to run
       (img2img runs fewer than params.steps); return nonzero to cancel (IRIS_ERR_CANCELLED) */
    int (*progress)(void *user, int step, int steps);
    void *progress_user;
    iris_sd_stage_fn on_stage; /* --verbose timings; may be NULL */
    void *stage_user;
} iris_sd_params;

iris_sd_load_params iris_sd_load_default_params(void);
iris_sd_params iris_sd_default_params(void);

/* path: a .safetensors checkpoint or a diffusers folder. */
iris_status iris_sd_load(iris_sd **out, const char *path, const iris_sd_load_params *p);
void iris_sd_free(iris_sd *sd);
const iris_sd_info *iris_sd_get_info(const iris_sd *sd);

/* One image into out (RGB, allocated; iris_image_free it). */
iris_status iris_sd_generate(iris_sd *sd, const iris_sd_params *p, iris_image *out);

/* AUTOMATIC1111's "parameters" text for PNG Info: prompt line, "Negative prompt: ..." line
   (omitted when empty), then "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7,
   Seed: 42, Size: 512x512, Model: name, ..." (img2img adds Denoising strength). malloc'd. */
char *iris_sd_parameters_text(const iris_sd *sd, const iris_sd_params *p);

#endif
