/* quantize.h - rewriting an F32/F16 GGUF model with quantized weights (bin/quantize).

   Which tensor gets which type follows llama-quantize's defaults for these types, so
   the result matches llama.cpp's byte for byte (quant.c's encoders are bit-exact with
   ggml's reference quantizers):
     - 2-D weights take the requested type; rows that are not whole blocks fall back
       (Q4_K to Q5_0, then F16; Q4_0/Q8_0 to F16);
     - output.weight takes Q6_K for Q4_0 and Q4_K (Q8_0 when its rows are not whole
       256-blocks), the requested type for Q8_0;
     - 1-D tensors (norms, biases) stay F32; tensors already quantized are copied.

       iris_quantize_stats st;
       if (iris_llama_quantize("m-f16.gguf", "m-q4_0.gguf", IRIS_Q4_0, 4, &st)) puts(iris_last_error());
*/
#ifndef IRIS_LLAMA_QUANTIZE_H
#define IRIS_LLAMA_QUANTIZE_H

#include <stddef.h>

#include "../core/dtype.h"
#include "../core/error.h"

typedef struct iris_quantize_stats {
    int n_quantized;      /* tensors written in the requested type */
    int n_other;          /* 2-D tensors that fell back or were already quantized */
    size_t in_bytes, out_bytes; /* tensor data */
} iris_quantize_stats;

/* type: IRIS_Q4_0, IRIS_Q8_0 or IRIS_Q4_K; n_threads >= 1. */
iris_status iris_llama_quantize(const char *in_path, const char *out_path, iris_dtype type, int n_threads,
                                iris_quantize_stats *stats);

#endif
