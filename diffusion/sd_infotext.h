/* sd_infotext.h - AUTOMATIC1111's "parameters" text from a model's facts and a generation's
   parameters: what iris_sd_parameters_text() writes for a loaded model, callable with a bare
   iris_sd_info so that tests and tools need no weights.

       iris_sd_info info = {.native_size = 512, .name = "v1-5-pruned-emaonly"};
       iris_sd_params p = iris_sd_default_params();
       p.prompt = "a lighthouse at dusk";
       p.seed = 42;
       char *text = iris_sd_infotext(&info, &p);
       // "a lighthouse at dusk\nSteps: 20, Sampler: Euler a, Schedule type: Uniform, CFG scale: 7,
       //  Seed: 42, Size: 512x512, Model: v1-5-pruned-emaonly"
       free(text);
*/
#ifndef IRIS_SD_INFOTEXT_H
#define IRIS_SD_INFOTEXT_H

#include "sd.h"

/* malloc'd; NULL (IRIS_ERR_NOMEM recorded) when out of memory. A width or height of 0 is
   written as info->native_size. */
char *iris_sd_infotext(const iris_sd_info *info, const iris_sd_params *p);

/* The "Schedule type" label of A1111 1.9+: discrete is "Uniform" (the model's own sigmas,
   k-diffusion get_sigmas), then "Karras", "Exponential". NULL for an unknown kind. */
const char *iris_sd_schedule_label(iris_schedule_kind k);

#endif
