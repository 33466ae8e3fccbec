/* gguf.h - GGUF (versions 2 and 3) reader and writer: metadata and tensors.

   Reading maps the file and checks all of it at open time (counts against
   the file size, string lengths, value types, dims, tensor types, block
   multiples, alignment, byte ranges, overlaps, duplicate names), so the
   lookups afterwards cannot read out of bounds:

       iris_gguf g;
       if (iris_gguf_open(&g, "stories260K-q8_0.gguf")) { puts(iris_last_error()); return 1; }
       uint32_t n_embd;
       iris_gguf_get_u32(&g, "llama.embedding_length", &n_embd);            // 64
       const iris_gguf_value *tok;
       if (!iris_gguf_get_array(&g, "tokenizer.ggml.tokens", IRIS_GGUF_STRING, &tok))
           for (uint64_t i = 0; i < tok->n; i++) puts(iris_gguf_arr_str(tok, i, NULL));
       iris_tensor *emb;
       iris_gguf_tensor(&g, "token_embd.weight", &emb);   // q8_0[512,64]: iris order, no copy
       ...
       iris_tensor_free(emb);
       iris_gguf_close(&g);                               // after every tensor from it is freed

   Shapes: a GGUF file lists dims innermost first (ggml order: dims[0] is the
   contiguous one). iris_gguf_tensor_info keeps that order in ne[]; the tensors
   handed out by iris_gguf_tensor use iris order (outermost first), i.e. the
   reversed list, so token_embd.weight with ggml dims {64, 512} becomes [512, 64].

   Writing (always version 3, little-endian), e.g. re-quantizing a model:

       iris_gguf_writer *w;
       iris_gguf_writer_new(&w);
       iris_gguf_writer_copy_kvs(w, &src);                   // every key of the source, in order
       iris_gguf_writer_set_u32(w, "general.file_type", 7);  // replaces in place
       iris_gguf_writer_add_tensor(w, "token_embd.weight", IRIS_Q8_0, 2, shape, bytes);
       if (iris_gguf_writer_write(w, "out.gguf")) puts(iris_last_error());
       iris_gguf_writer_free(w);

   The writer streams tensor data to "<path>.tmp.<pid>" and renames it at the
   end, so a failure never leaves a half-written file under the final name.
*/
#ifndef IRIS_GGUF_H
#define IRIS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file.h"
#include "tensor.h"

#define IRIS_GGUF_MAX_DIMS 4
#define IRIS_GGUF_DEFAULT_ALIGNMENT 32

/* Metadata value types, numbered as in the file. */
typedef enum iris_gguf_type {
    IRIS_GGUF_ANY = -1, /* only as the `want` argument of iris_gguf_get_array */
    IRIS_GGUF_U8 = 0,
    IRIS_GGUF_I8 = 1,
    IRIS_GGUF_U16 = 2,
    IRIS_GGUF_I16 = 3,
    IRIS_GGUF_U32 = 4,
    IRIS_GGUF_I32 = 5,
    IRIS_GGUF_F32 = 6,
    IRIS_GGUF_BOOL = 7,
    IRIS_GGUF_STRING = 8,
    IRIS_GGUF_ARRAY = 9,
    IRIS_GGUF_U64 = 10,
    IRIS_GGUF_I64 = 11,
    IRIS_GGUF_F64 = 12,
    IRIS_GGUF_TYPE_COUNT
} iris_gguf_type;

/* "u32", "string", "array", ... */
const char *iris_gguf_type_name(iris_gguf_type t);
/* Bytes of one value of a number or bool type; 0 for string, array and unknown types. */
int iris_gguf_type_size(iris_gguf_type t);

/* A string from the file, copied with a NUL appended (it may itself contain NULs). */
typedef struct iris_gguf_str {
    const char *s;
    uint64_t len;
} iris_gguf_str;

typedef struct iris_gguf_value {
    iris_gguf_type type;
    iris_gguf_type elem_type; /* ARRAY: type of the elements */
    uint64_t n;               /* ARRAY: element count */
    union {
        uint64_t u; /* U8, U16, U32, U64, BOOL */
        int64_t i;  /* I8, I16, I32, I64 */
        double f;   /* F32, F64 */
    } num;
    iris_gguf_str str;                   /* STRING */
    const uint8_t *raw;                  /* ARRAY of numbers/bools: n little-endian elements, maybe unaligned */
    const iris_gguf_str *strs;           /* ARRAY of strings */
    const struct iris_gguf_value *items; /* ARRAY of arrays */
} iris_gguf_value;

typedef struct iris_gguf_kv {
    const char *key;
    iris_gguf_value val;
    const uint8_t *raw; /* the value as encoded in the file (after its type), for copying */
    uint64_t raw_len;
} iris_gguf_kv;

typedef struct iris_gguf_tensor_info {
    const char *name;
    uint32_t ggml_type;
    iris_dtype dtype;
    int n_dims;
    int64_t ne[IRIS_GGUF_MAX_DIMS]; /* ggml order: ne[0] is the innermost dim; unused dims are 1 */
    uint64_t offset;                /* absolute offset of the first byte in the file */
    uint64_t nbytes;
} iris_gguf_tensor_info;

typedef struct iris_gguf {
    iris_map map;         /* map.path names the file in messages; map.data is NULL after iris_gguf_parse */
    const uint8_t *data;  /* the bytes that were parsed */
    size_t size;
    uint32_t version;
    uint32_t alignment;   /* general.alignment, or 32 */
    uint64_t data_offset; /* start of the tensor data section */
    int64_t n_kv;
    iris_gguf_kv *kv;     /* in file order */
    int64_t n_tensors;
    iris_gguf_tensor_info *tensors; /* in file order */
    /* private */
    const iris_gguf_kv **kv_sorted; /* by key */
    const iris_gguf_tensor_info **tensor_sorted; /* by name */
    void *pool;
} iris_gguf;

iris_status iris_gguf_open(iris_gguf *g, const char *path);
/* Same checks on a caller's buffer, which must outlive `g` (used by the fuzzer
   and tests); `name` appears in messages. */
iris_status iris_gguf_parse(iris_gguf *g, const uint8_t *data, size_t size, const char *name);
void iris_gguf_close(iris_gguf *g);

/* --- metadata --- */

const iris_gguf_kv *iris_gguf_find_kv(const iris_gguf *g, const char *key);

/* Scalar getters: IRIS_ERR_NOT_FOUND when the key is absent, IRIS_ERR_FORMAT when
   its type does not fit. Integer getters accept any integer type whose value is
   in range (files disagree on u32 vs i32 vs u64); get_f32/get_f64 accept F32 and F64. */
iris_status iris_gguf_get_u32(const iris_gguf *g, const char *key, uint32_t *out);
iris_status iris_gguf_get_i32(const iris_gguf *g, const char *key, int32_t *out);
iris_status iris_gguf_get_u64(const iris_gguf *g, const char *key, uint64_t *out);
iris_status iris_gguf_get_i64(const iris_gguf *g, const char *key, int64_t *out);
iris_status iris_gguf_get_f32(const iris_gguf *g, const char *key, float *out);
iris_status iris_gguf_get_f64(const iris_gguf *g, const char *key, double *out);
iris_status iris_gguf_get_bool(const iris_gguf *g, const char *key, bool *out);
/* NUL-terminated copy, valid until iris_gguf_close. */
iris_status iris_gguf_get_str(const iris_gguf *g, const char *key, const char **out);
/* An array whose elements have type `want` (IRIS_GGUF_ANY: any). */
iris_status iris_gguf_get_array(const iris_gguf *g, const char *key, iris_gguf_type want,
                                const iris_gguf_value **out);

/* Elements of an array value; i must be < a->n. Numeric getters convert any
   numeric or bool element (return 0 for an index out of range or a string/array
   element); arr_str returns NULL unless a is an array of strings. */
int64_t iris_gguf_arr_i64(const iris_gguf_value *a, uint64_t i);
uint64_t iris_gguf_arr_u64(const iris_gguf_value *a, uint64_t i);
double iris_gguf_arr_f64(const iris_gguf_value *a, uint64_t i);
float iris_gguf_arr_f32(const iris_gguf_value *a, uint64_t i);
const char *iris_gguf_arr_str(const iris_gguf_value *a, uint64_t i, uint64_t *len);
const iris_gguf_value *iris_gguf_arr_item(const iris_gguf_value *a, uint64_t i);

/* --- tensors --- */

const iris_gguf_tensor_info *iris_gguf_find_tensor(const iris_gguf *g, const char *name);
/* CPU tensor over the mapped bytes in iris order (copied only if misaligned).
   Free with iris_tensor_free before iris_gguf_close. */
iris_status iris_gguf_tensor(const iris_gguf *g, const char *name, iris_tensor **out);
/* Like iris_gguf_tensor, but also checks the iris-order shape (-1 = any size). */
iris_status iris_gguf_tensor_shaped(const iris_gguf *g, const char *name, int ndim, const int64_t *shape,
                                    iris_tensor **out);

/* --- writer --- */

typedef struct iris_gguf_writer iris_gguf_writer;

/* Produces a tensor's bytes at write time (nbytes of them into dst), so a big
   model can be converted without holding every result in memory. */
typedef iris_status (*iris_gguf_fill_fn)(void *user, const char *name, void *dst, size_t nbytes);

iris_status iris_gguf_writer_new(iris_gguf_writer **out);
void iris_gguf_writer_free(iris_gguf_writer *w);

/* Setting a key that is already present replaces its value in place (keeping
   the key order); a new key is appended. Values are copied. */
iris_status iris_gguf_writer_copy_kvs(iris_gguf_writer *w, const iris_gguf *src);
iris_status iris_gguf_writer_copy_kv(iris_gguf_writer *w, const iris_gguf *src, const char *key);
iris_status iris_gguf_writer_set_u32(iris_gguf_writer *w, const char *key, uint32_t v);
iris_status iris_gguf_writer_set_i32(iris_gguf_writer *w, const char *key, int32_t v);
iris_status iris_gguf_writer_set_u64(iris_gguf_writer *w, const char *key, uint64_t v);
iris_status iris_gguf_writer_set_i64(iris_gguf_writer *w, const char *key, int64_t v);
iris_status iris_gguf_writer_set_f32(iris_gguf_writer *w, const char *key, float v);
iris_status iris_gguf_writer_set_f64(iris_gguf_writer *w, const char *key, double v);
iris_status iris_gguf_writer_set_bool(iris_gguf_writer *w, const char *key, bool v);
iris_status iris_gguf_writer_set_str(iris_gguf_writer *w, const char *key, const char *v);
/* Array of n numbers/bools of type elem (host layout: e.g. float[] for F32, uint8_t 0/1 for BOOL). */
iris_status iris_gguf_writer_set_array(iris_gguf_writer *w, const char *key, iris_gguf_type elem,
                                       const void *elems, uint64_t n);
iris_status iris_gguf_writer_set_str_array(iris_gguf_writer *w, const char *key, const char *const *strs,
                                           uint64_t n);
/* IRIS_ERR_NOT_FOUND if the key is not set. */
iris_status iris_gguf_writer_remove(iris_gguf_writer *w, const char *key);

/* Adds a tensor; shape in iris order (outermost first), data is iris_nbytes of
   that shape and must stay valid until iris_gguf_writer_write returns. */
iris_status iris_gguf_writer_add_tensor(iris_gguf_writer *w, const char *name, iris_dtype dtype, int ndim,
                                        const int64_t *shape, const void *data);
iris_status iris_gguf_writer_add_tensor_fn(iris_gguf_writer *w, const char *name, iris_dtype dtype, int ndim,
                                           const int64_t *shape, iris_gguf_fill_fn fill, void *user);
/* Data alignment is general.alignment when set (a u32 power of two), else 32. */
iris_status iris_gguf_writer_write(iris_gguf_writer *w, const char *path);

#endif
