/* weights.h - a model's named weights from one file, on the model's device.

   The loaders of unet/, vae/ and clip/ ask for tensors by one canonical name each; a file that
   names them otherwise (a diffusers folder against the original checkpoint's names) supplies a
   rename function, so structure is read from names in one place per model. Tensors stay
   memory-mapped on the CPU (no copy, the file's own dtype); on another device each is uploaded
   once. Everything handed out is owned by the set and freed by iris_weights_close.

       iris_weights w;
       if (iris_weights_open(&w, "v1-5.safetensors", IRIS_CPU)) return iris_last_error();
       iris_weights_prefix(&w, "model.diffusion_model.");
       iris_tensor *conv_in;
       st = iris_weights_get(&w, "input_blocks.0.0.weight", 4, (int64_t[]){320, 4, 3, 3}, &conv_in);
       ...
       iris_weights_close(&w);   // after the model is done with every tensor
*/
#ifndef IRIS_WEIGHTS_H
#define IRIS_WEIGHTS_H

#include "safetensors.h"
#include "tensor.h"

/* Canonical name -> the file's name (written into buf), or NULL when the file has no such tensor. */
typedef const char *(*iris_weights_rename_fn)(void *user, const char *name, char *buf, size_t n);

typedef struct iris_weights {
    iris_safetensors st;
    int is_open;
    iris_device dev;
    char prefix[128];
    iris_weights_rename_fn rename;
    void *rename_user;
    iris_tensor **owned;
    int n_owned, cap_owned;
} iris_weights;

iris_status iris_weights_open(iris_weights *w, const char *path, iris_device dev);
void iris_weights_close(iris_weights *w);
void iris_weights_prefix(iris_weights *w, const char *prefix);
void iris_weights_set_rename(iris_weights *w, iris_weights_rename_fn fn, void *user);
const char *iris_weights_path(const iris_weights *w);

/* The file's entry for a canonical name (prefix and rename applied), NULL if absent. */
const iris_st_entry *iris_weights_find(const iris_weights *w, const char *name);
int iris_weights_has(const iris_weights *w, const char *name);
/* A float tensor (F32/F16/BF16) by canonical name. shape: ndim sizes, -1 for any; NULL = any shape.
   A missing tensor, another dtype or shape is a one-line error naming the file and the tensor. */
iris_status iris_weights_get(iris_weights *w, const char *name, int ndim, const int64_t *shape, iris_tensor **out);
/* Like get, but accepts any shape with the same number of elements as `shape` and views it as
   `shape` (a 1x1 conv weight [C, C, 1, 1] as a matrix [C, C]). */
iris_status iris_weights_get_as(iris_weights *w, const char *name, int ndim, const int64_t *shape, iris_tensor **out);
/* "<base>.weight" with the given shape and "<base>.bias" of shape[0] (a conv or linear layer). */
iris_status iris_weights_get_wb(iris_weights *w, const char *base, int ndim, const int64_t *shape, iris_tensor **weight,
                                iris_tensor **bias);
/* A view of rows [row0, row0 + rows) of a 1- or 2-d tensor handed out by this set (a fused q/k/v). */
iris_status iris_weights_rows(iris_weights *w, const iris_tensor *t, int64_t row0, int64_t rows, iris_tensor **out);

/* Hands the file's pages the model has read back to the page cache (CPU models): the process's
   memory drops by that much, and the next use maps them again without reading the disk twice.
   sdgen calls it for the text encoder after the prompts and for the UNet before the VAE. */
void iris_weights_release_pages(iris_weights *w);

#endif
