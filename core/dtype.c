/* dtype.c - type table, ggml type numbers, half/bfloat16 conversion. */
#include "dtype.h"

#include <ctype.h>
#include <string.h>

/* Block sizes and bytes per block follow the GGUF spec (quant.h has the layouts). */
static const iris_dtype_info infos[IRIS_DTYPE_COUNT] = {
    [IRIS_F32] = {"f32", 1, 4, 0},
    [IRIS_F16] = {"f16", 1, 2, 0},
    [IRIS_BF16] = {"bf16", 1, 2, 0},
    [IRIS_I32] = {"i32", 1, 4, 0},
    [IRIS_Q4_0] = {"q4_0", 32, 18, 1},
    [IRIS_Q4_1] = {"q4_1", 32, 20, 1},
    [IRIS_Q5_0] = {"q5_0", 32, 22, 1},
    [IRIS_Q5_1] = {"q5_1", 32, 24, 1},
    [IRIS_Q8_0] = {"q8_0", 32, 34, 1},
    [IRIS_Q2_K] = {"q2_k", 256, 84, 1},
    [IRIS_Q3_K] = {"q3_k", 256, 110, 1},
    [IRIS_Q4_K] = {"q4_k", 256, 144, 1},
    [IRIS_Q5_K] = {"q5_k", 256, 176, 1},
    [IRIS_Q6_K] = {"q6_k", 256, 210, 1},
    [IRIS_Q8_K] = {"q8_k", 256, 292, 1},
    [IRIS_I8] = {"i8", 1, 1, 0},
    [IRIS_I16] = {"i16", 1, 2, 0},
    [IRIS_I64] = {"i64", 1, 8, 0},
    [IRIS_F64] = {"f64", 1, 8, 0},
    [IRIS_U8] = {"u8", 1, 1, 0},
};

const iris_dtype_info *iris_dtype_get(iris_dtype t) {
    if ((unsigned)t >= IRIS_DTYPE_COUNT) return NULL;
    return &infos[t];
}

const char *iris_dtype_name(iris_dtype t) {
    const iris_dtype_info *i = iris_dtype_get(t);
    return i ? i->name : "?";
}

int iris_dtype_from_name(const char *name) {
    for (int t = 0; t < IRIS_DTYPE_COUNT; t++) {
        const char *a = infos[t].name, *b = name;
        while (*a && *b && tolower((unsigned char)*b) == *a) a++, b++;
        if (!*a && !*b) return t;
    }
    return -1;
}

size_t iris_row_bytes(iris_dtype t, int64_t n) {
    const iris_dtype_info *i = iris_dtype_get(t);
    if (!i || n < 0 || n % i->block_size) return 0;
    return (size_t)(n / i->block_size) * (size_t)i->type_size;
}

/* ggml_type numbering as written in GGUF tensor infos. */
static const struct { uint32_t ggml; iris_dtype t; } ggml_map[] = {
    {0, IRIS_F32},   {1, IRIS_F16},   {2, IRIS_Q4_0},  {3, IRIS_Q4_1},  {6, IRIS_Q5_0},
    {7, IRIS_Q5_1},  {8, IRIS_Q8_0},  {10, IRIS_Q2_K}, {11, IRIS_Q3_K}, {12, IRIS_Q4_K},
    {13, IRIS_Q5_K}, {14, IRIS_Q6_K}, {15, IRIS_Q8_K}, {24, IRIS_I8},   {25, IRIS_I16},
    {26, IRIS_I32},  {27, IRIS_I64},  {28, IRIS_F64},  {30, IRIS_BF16},
};

int iris_dtype_from_ggml(uint32_t g) {
    for (size_t i = 0; i < sizeof ggml_map / sizeof ggml_map[0]; i++)
        if (ggml_map[i].ggml == g) return ggml_map[i].t;
    return -1;
}

int iris_dtype_to_ggml(iris_dtype t) {
    for (size_t i = 0; i < sizeof ggml_map / sizeof ggml_map[0]; i++)
        if (ggml_map[i].t == t) return (int)ggml_map[i].ggml;
    return -1;
}

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float iris_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13)); /* inf/nan */
    if (exp == 0) {
        if (!man) return u2f(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t iris_f32_to_f16(float f) {
    uint32_t u = f2u(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00); /* overflow -> inf */
    if (e <= 0) {
        /* subnormal or zero in half precision */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exponent: correct */
    return (uint16_t)half;
}

float iris_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t iris_f32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
