/* llava.h - the vision half of a LLaVA or MiniGPT-v2 captioner: an mmproj GGUF (llama.cpp's `clip.*`
   layout; MiniGPT-v2's in the same layout with projector type "minigptv2", written by
   tools/convert_minigptv2.py) turned into rows of the language model's width, ready for
   iris_llama_eval_embd.

       iris_llava_vision *v;
       iris_llava_vision_params vp = iris_llava_vision_default_params();
       if (iris_llava_vision_load(&v, "mmproj-model-f16.gguf", &vp)) { puts(iris_last_error()); return 3; }
       iris_image img;
       iris_image_load(&img, "photo.jpg", &(iris_image_read_params){.channels = 3});
       float *rows; int n;
       if (iris_llava_embed(ctx, v, &img, &rows, &n)) puts(iris_last_error());
       iris_llama_eval_embd(state, rows, n, NULL);           // between the prompt's text tokens
       free(rows);
       iris_llava_vision_free(v);

   What runs, as transformers' LlavaForConditionalGeneration / LlavaNextForConditionalGeneration and the
   original LLaVA code do (docs/CAPTION.md says where llama.cpp differs):
     preprocess  LLaVA 1.5: pad to a square with the mean colour (int(mean * 255)), Pillow-bicubic resize
                 of the shorter side, centre crop; LLaVA 1.6 (the file has image_grid_pinpoints): the best
                 grid resolution, aspect-preserving resize, zero padding, tiles, plus the whole image
                 squashed to one tile first. Mean/std from the file.
     encode      patch embedding, class token, position embeddings, pre-layernorm, the CLIP blocks
                 (clip/transformer.c) up to the feature layer, the class token dropped
     project     mlp (LLaVA's mlp2x_gelu): linear, exact GELU, linear
     pack        1.5: the tile's rows; 1.6: the overview tile, then the grid unpadded to the photo's
                 aspect with model.image_newline after each row
   MiniGPT-v2 (clip.projector_type "minigptv2", as minigpt_v2.py's encode_img; docs/CAPTION.md):
     preprocess  Pillow-bicubic resize of the whole photo to the square tile (448), mean/std from the file
     encode      EVA ViT-g: patch embedding, class token, position embeddings, no pre-layernorm, the
                 blocks (q and v biases, no k bias), then ln_vision; the class token dropped
     project     four consecutive patch tokens concatenated, one linear layer (llama_proj): n_patches / 4 rows
   Steps are callable one by one (the tests compare each with transformers). The context's device runs
   the tower; the loader puts the weights there.
*/
#ifndef IRIS_LLAVA_H
#define IRIS_LLAVA_H

#include <stddef.h>
#include <stdint.h>

#include "../core/image.h"
#include "../core/ops.h"

typedef struct iris_llava_vision iris_llava_vision;

typedef struct iris_llava_vision_params {
    iris_device device; /* where the weights go: IRIS_CPU (used in place from the mapping) or IRIS_CUDA */
} iris_llava_vision_params;

/* What the file describes, after loading. */
typedef struct iris_llava_vision_info {
    int image_size, patch_size; /* tile side and patch side in pixels */
    int n_patches;              /* per tile: (image_size / patch_size)^2 */
    int width, ffn, n_heads;    /* the vision transformer */
    int n_layers_run;           /* blocks run: the feature layer (hidden_states index) */
    int n_embd;                 /* projector output = the language model's embedding width */
    int anyres;                 /* 1: LLaVA 1.6 grid (tiles + overview + newline) */
    int n_pinpoints;            /* grid resolutions, (height, width) pairs */
    const int (*pinpoints)[2];
    float mean[3], std[3];
    const char *projector;      /* "mlp" or "minigptv2": the caller picks the prompt template by it */
    int n_tokens;               /* rows one tile projects to: n_patches (mlp), n_patches / 4 (minigptv2) */
} iris_llava_vision_info;

iris_llava_vision_params iris_llava_vision_default_params(void);
/* Any problem (missing key or tensor, wrong shape, unknown projector type, truncated file) is a
   one-line error naming the file. */
iris_status iris_llava_vision_load(iris_llava_vision **out, const char *path, const iris_llava_vision_params *p);
/* The same from a caller's buffer (which must outlive the model); `name` appears in messages. */
iris_status iris_llava_vision_parse(iris_llava_vision **out, const uint8_t *data, size_t size, const char *name,
                                    const iris_llava_vision_params *p);
void iris_llava_vision_free(iris_llava_vision *v);
const iris_llava_vision_info *iris_llava_vision_get_info(const iris_llava_vision *v);

/* ---- the steps ---- */

/* Normalised tiles of one image: n_tiles x 3 x size x size floats (NCHW), tile 0 the overview for 1.6. */
typedef struct iris_llava_pixels {
    int n_tiles, size;
    int grid_w, grid_h;   /* 1.6: tiles across and down (n_tiles = 1 + grid_w * grid_h); 1.5: 1, 1 with n_tiles 1 */
    int image_w, image_h; /* the photo's size, for unpadding */
    float *data;
} iris_llava_pixels;

/* An RGB (c = 3) image; other channel counts are converted first. */
iris_status iris_llava_preprocess(const iris_llava_vision *v, const iris_image *img, iris_llava_pixels *out);
void iris_llava_pixels_free(iris_llava_pixels *px);

/* pixels [T, 3, S, S] on ctx's device -> features [T, n_patches, width] at the feature layer. */
iris_tensor *iris_llava_encode(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *pixels);
/* features [T, N, width] -> [T, n_tokens, n_embd]. */
iris_tensor *iris_llava_project(iris_ctx *ctx, const iris_llava_vision *v, const iris_tensor *features);
/* Rows an image of w x h gives (the placeholder's length in the prompt). */
int iris_llava_n_rows(const iris_llava_vision *v, int w, int h);
/* projected [T, n_tokens, n_embd] (host floats, as read back) -> *n_rows rows of n_embd floats in `rows`
   (at least iris_llava_n_rows of the image), in the order the language model reads them. */
iris_status iris_llava_pack(const iris_llava_vision *v, const iris_llava_pixels *px, const float *projected,
                            float *rows, int *n_rows);

/* ---- one call ---- */

/* image -> *rows (malloc'd, *n_rows x n_embd floats; free() it). Resets nothing: the passes' memory
   is freed from ctx before returning. */
iris_status iris_llava_embed(iris_ctx *ctx, const iris_llava_vision *v, const iris_image *img, float **rows,
                             int *n_rows);

#endif
