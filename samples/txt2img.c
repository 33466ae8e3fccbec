/* txt2img.c - the whole use of the Stable Diffusion API: load a model, generate one image,
   save it as a PNG that carries its generation parameters (AUTOMATIC1111's PNG Info reads them).

       make && ./bin/sample_txt2img v1-5-pruned-emaonly.safetensors "a lighthouse at dusk" out.png

   bin/sdgen is the full tool (negative prompts, samplers, batches, img2img, progress bar). */
#include <stdio.h>
#include <stdlib.h>

#include "../core/image.h"
#include "../diffusion/sd.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL PROMPT [OUT.png]\n", argv[0]);
        return 2;
    }
    const char *out_path = argc > 3 ? argv[3] : "out.png";

    iris_sd *sd;
    iris_sd_load_params lp = iris_sd_load_default_params(); /* CPU, all cores */
    if (iris_sd_load(&sd, argv[1], &lp)) {
        fprintf(stderr, "%s\n", iris_last_error());
        return 3;
    }

    iris_sd_params p = iris_sd_default_params(); /* 20 steps of Euler a, CFG 7, native size */
    p.prompt = argv[2];
    p.seed = 42;
    iris_image img;
    if (iris_sd_generate(sd, &p, &img)) {
        fprintf(stderr, "%s\n", iris_last_error());
        iris_sd_free(sd);
        return 1;
    }

    char *parameters = iris_sd_parameters_text(sd, &p); /* "a lighthouse at dusk\nSteps: 20, ..." */
    iris_image_text meta = {"parameters", parameters ? parameters : ""};
    int rc = 0;
    if (iris_image_save_png(out_path, &img, &meta, 1)) {
        fprintf(stderr, "%s\n", iris_last_error());
        rc = 4;
    } else {
        printf("%s\n%s\n", out_path, parameters ? parameters : "");
    }
    free(parameters);
    iris_image_free(&img);
    iris_sd_free(sd);
    return rc;
}
