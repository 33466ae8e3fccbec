/* fuzz_sd_weights.c - the Stable Diffusion structure walkers on hostile checkpoints.

   Odd first byte: the rest is tensor names, one per line, fed to the diffusers renames.
   Otherwise the input is a .safetensors file that the UNet, VAE and both CLIP text loaders walk
   (each expects its names at the top level). None may crash, hang or read out of bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../clip/text_encoder.h"
#include "../diffusion/sd_internal.h"
#include "../unet/unet.h"
#include "../vae/vae.h"
#include "fuzz.h"

static void names(const uint8_t *data, size_t size) {
    char line[512], out[512];
    size_t i = 0;
    while (i < size) {
        size_t n = 0;
        while (i < size && data[i] != '\n' && n < sizeof line - 1) line[n++] = (char)data[i++];
        line[n] = 0;
        i++;
        for (int k = 1; k <= 4; k++) {
            iris_sd_diffusers_unet_name(&k, line, out, sizeof out);
            iris_sd_diffusers_vae_name(&k, line, out, sizeof out);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size && (data[0] & 1)) {
        names(data + 1, size - 1);
        return 0;
    }
    int fd = memfd_create("ckpt", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    iris_weights w;
    if (iris_weights_open(&w, path, IRIS_CPU) == IRIS_OK) {
        iris_unet u;
        if (iris_unet_load(&u, &w, (iris_unet_heads){8, 0}) == IRIS_OK) iris_unet_free(&u);
        iris_vae v;
        iris_vae_load(&v, &w, 0.18215f);
        iris_vae_free(&v);
        iris_clip_text t;
        iris_clip_text_load_hf(&t, &w, "", IRIS_ACT_QUICK_GELU, 0);
        iris_clip_text_free(&t);
        iris_clip_text_load_openclip(&t, &w, "", 0);
        iris_clip_text_free(&t);
    }
    iris_weights_close(&w);
    close(fd);
    return 0;
}
