/* safetensors.h - reader for .safetensors files (memory-mapped, validated).

   Layout: u64 little-endian header length N, N bytes of JSON
   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
    "__metadata__": {"key": "value"}}, then the data; offsets are relative to
   the end of the header. Opening checks every entry (dtype, shape, sizes,
   offsets inside the file, no overlaps), so later lookups cannot read out of
   bounds.

       iris_safetensors st;
       if (iris_safetensors_open(&st, "model.safetensors")) { puts(iris_last_error()); return 1; }
       iris_tensor *w;
       if (iris_safetensors_get(&st, "conv1.weight", &w) == IRIS_OK) { ...; iris_tensor_free(w); }
       iris_safetensors_close(&st);   // after every tensor from it is freed
*/
#ifndef IRIS_SAFETENSORS_H
#define IRIS_SAFETENSORS_H

#include "file.h"
#include "tensor.h"

#define IRIS_ST_MAX_DIMS 8

typedef struct iris_st_entry {
    char *name;
    int dtype;  /* iris_dtype, or -1 for a type we cannot represent (e.g. F8) */
    char dtype_name[16];
    int ndim;
    int64_t shape[IRIS_ST_MAX_DIMS];
    uint64_t begin, end; /* absolute file offsets */
} iris_st_entry;

typedef struct iris_safetensors {
    iris_map map;        /* map.path names the file; map.data is NULL after iris_safetensors_parse */
    const uint8_t *data; /* the bytes that were parsed: the mapping or the caller's buffer */
    size_t size;
    int n;
    iris_st_entry *entries; /* sorted by name */
    int n_meta;
    char **meta_keys, **meta_values;
} iris_safetensors;

iris_status iris_safetensors_open(iris_safetensors *st, const char *path);
void iris_safetensors_close(iris_safetensors *st);
/* Same checks on a buffer (used by the fuzzer), which must outlive st; `name` appears in messages. */
iris_status iris_safetensors_parse(iris_safetensors *st, const uint8_t *data, size_t size, const char *name);

const iris_st_entry *iris_safetensors_find(const iris_safetensors *st, const char *name);
/* CPU tensor over the mapped bytes (copied only if misaligned). Free with iris_tensor_free. */
iris_status iris_safetensors_get(const iris_safetensors *st, const char *name, iris_tensor **out);
/* Like get, but also checks dims: pass ndim and the expected shape (-1 = any size). */
iris_status iris_safetensors_get_shaped(const iris_safetensors *st, const char *name, int ndim,
                                        const int64_t *shape, iris_tensor **out);
/* __metadata__ value or NULL. */
const char *iris_safetensors_meta(const iris_safetensors *st, const char *key);

#endif
