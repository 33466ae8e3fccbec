/* dtype.h - element types, including the GGUF block-quantized ones.

   One enum for every type a tensor can hold. Values are only ever appended
   so that anything persisted stays valid. Block types store `block_size`
   elements in `type_size` bytes; their layouts are described once, in
   quant.h. Plain types have block_size 1.
*/
#ifndef IRIS_DTYPE_H
#define IRIS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum iris_dtype {
    IRIS_F32 = 0,
    IRIS_F16,
    IRIS_BF16,
    IRIS_I32,
    IRIS_Q4_0,
    IRIS_Q4_1,
    IRIS_Q5_0,
    IRIS_Q5_1,
    IRIS_Q8_0,
    IRIS_Q2_K,
    IRIS_Q3_K,
    IRIS_Q4_K,
    IRIS_Q5_K,
    IRIS_Q6_K,
    IRIS_Q8_K, /* activation-side type for K-quant dot products (not stored in files) */
    IRIS_I8,
    IRIS_I16,
    IRIS_I64,
    IRIS_F64,
    IRIS_U8,
    IRIS_DTYPE_COUNT
} iris_dtype;

typedef struct iris_dtype_info {
    const char *name;   /* "f32", "q4_k", ... */
    int block_size;     /* elements per block (1 for plain types) */
    int type_size;      /* bytes per block */
    int is_quantized;
} iris_dtype_info;

const iris_dtype_info *iris_dtype_get(iris_dtype t);
const char *iris_dtype_name(iris_dtype t);
/* Parses a name as printed by iris_dtype_name (case-insensitive); -1 if unknown. */
int iris_dtype_from_name(const char *name);

/* Bytes taken by `n` consecutive elements of type t; n must be a multiple of
   the block size (returns 0 otherwise). */
size_t iris_row_bytes(iris_dtype t, int64_t n);

/* GGUF/ggml type numbers <-> iris dtypes; -1 where there is no mapping. */
int iris_dtype_from_ggml(uint32_t ggml_type);
int iris_dtype_to_ggml(iris_dtype t);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float iris_f16_to_f32(uint16_t h);
uint16_t iris_f32_to_f16(float f);
float iris_bf16_to_f32(uint16_t h);
uint16_t iris_f32_to_bf16(float f);

#endif
