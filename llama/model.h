/* model.h - Llama-architecture language models from GGUF files.

   Covers general.architecture "llama" (Llama 1/2/3/3.1/3.2, TinyLlama, Vicuna and the
   language half of LLaVA) and "mistral": RMS norm, rotary positions,
   grouped-query attention over an F16 KV cache, SwiGLU feed-forward. Weights
   stay in the file's types (F32, F16, BF16, Q4_0 ... Q6_K) and are used in place
   from the mapping.

       iris_llama *m;
       iris_llama_params mp = iris_llama_default_params();
       if (iris_llama_load(&m, "stories260K-q8_0.gguf", &mp)) { puts(iris_last_error()); return 3; }
       iris_llama_state *s;
       iris_llama_state_new(&s, m, 512, NULL);            // 512-token context, CPU, all cores
       float *logits = malloc(m->hp.n_vocab * sizeof(float));
       int32_t prompt[] = {1, 403, 407, 261, 378};
       iris_llama_eval(s, prompt, 5, logits);             // positions 0..4, logits of the last
       int32_t next = argmax(logits);
       iris_llama_eval(s, &next, 1, logits);              // position 5
       iris_llama_state_free(s);
       iris_llama_free(m);

   Image embeddings (a captioner's projected vision features) go between text
   tokens with iris_llama_eval_embd: each call appends at the state's position,
   so text, image, text is three calls. iris_llama_set_pos rewinds. Several sequences
   decoded together, one pass per step: batch.h.
*/
#ifndef IRIS_LLAMA_MODEL_H
#define IRIS_LLAMA_MODEL_H

#include <stdint.h>

#include "../core/ctx.h"
#include "../core/gguf.h"
#include "vocab.h"

typedef struct iris_llama_hparams {
    int32_t n_vocab;
    int32_t n_ctx_train; /* context length the model was trained with */
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;   /* < n_head: grouped-query attention */
    int32_t head_dim;    /* n_embd / n_head unless the file says otherwise */
    int32_t n_ff;
    int32_t n_rot;       /* rotated dims per head */
    float rms_eps;
    float rope_base;
    float rope_freq_scale; /* 1 / linear scaling factor */
} iris_llama_hparams;

typedef struct iris_llama_layer {
    iris_tensor *attn_norm; /* (n_embd) */
    iris_tensor *wq;        /* (n_head * head_dim, n_embd) */
    iris_tensor *wk;        /* (n_head_kv * head_dim, n_embd) */
    iris_tensor *wv;        /* (n_head_kv * head_dim, n_embd) */
    iris_tensor *wo;        /* (n_embd, n_head * head_dim) */
    iris_tensor *bq, *bk, *bv, *bo; /* biases, usually absent (NULL) */
    iris_tensor *ffn_norm;  /* (n_embd) */
    iris_tensor *w_gate;    /* (n_ff, n_embd) */
    iris_tensor *w_up;      /* (n_ff, n_embd) */
    iris_tensor *w_down;    /* (n_embd, n_ff) */
} iris_llama_layer;

typedef struct iris_llama {
    iris_llama_hparams hp;
    char arch[32];
    char name[128];          /* general.name, if any */
    iris_vocab *vocab;
    iris_tensor *tok_embd;   /* (n_vocab, n_embd) */
    iris_tensor *out_norm;   /* (n_embd) */
    iris_tensor *output;     /* (n_vocab, n_embd); the same tensor as tok_embd when tied */
    iris_tensor *rope_freqs; /* (n_rot / 2) per-pair RoPE frequency divisors (Llama 3.1+), or NULL */
    iris_llama_layer *layers;
    iris_device device;
    /* private */
    iris_gguf gguf;
    iris_tensor **owned;     /* every tensor to free */
    int n_owned;
} iris_llama;

typedef struct iris_llama_params {
    iris_device device;      /* where the weights live: IRIS_CPU (mapped in place) or IRIS_CUDA (uploaded) */
} iris_llama_params;

iris_llama_params iris_llama_default_params(void);
iris_status iris_llama_load(iris_llama **out, const char *path, const iris_llama_params *params);
void iris_llama_free(iris_llama *m);

/* ---- inference state: KV cache and execution context ---- */

typedef struct iris_llama_state iris_llama_state;

typedef struct iris_llama_state_params {
    iris_ctx_params ctx;  /* device and threads of the context the passes run in */
    int kv_f32;           /* 1: F32 KV cache instead of F16 */
    int exact;            /* 1 (default): the arithmetic of llama.cpp's CPU backend, so greedy
                             output is token-for-token llama.cpp's: attention on F16-rounded
                             queries and weights with an F16 cache, quantized weights always
                             dotted with quantized activations (prompts then run 32 tokens per
                             pass), F32/F16 products summed in llama.cpp's orders (on any CPU
                             and GEMM library). 0: the fused attention op and batched GEMM,
                             faster prompts. */
} iris_llama_state_params;

iris_llama_state_params iris_llama_state_default_params(void);
/* n_ctx: positions the KV cache holds (0 = the trained context, at most 4096). */
iris_status iris_llama_state_new(iris_llama_state **out, const iris_llama *m, int32_t n_ctx,
                                 const iris_llama_state_params *params);
void iris_llama_state_free(iris_llama_state *s);

int32_t iris_llama_n_ctx(const iris_llama_state *s);
/* Next position (tokens in the cache). */
int32_t iris_llama_pos(const iris_llama_state *s);
/* Forgets positions >= pos (0 clears the cache). */
iris_status iris_llama_set_pos(iris_llama_state *s, int32_t pos);
iris_ctx *iris_llama_ctx(iris_llama_state *s);

/* Runs n tokens at positions pos..pos+n-1 (batched) and appends them to the cache.
   logits: n_vocab floats for the last token, or NULL. Bad input (ids out of range, no
   room in the context) is refused before anything runs; after a failure inside a pass
   the position may have advanced by the passes that completed. */
iris_status iris_llama_eval(iris_llama_state *s, const int32_t *tokens, int n, float *logits);
/* As iris_llama_eval with n rows of n_embd floats instead of token ids. */
iris_status iris_llama_eval_embd(iris_llama_state *s, const float *embd, int n, float *logits);
/* Logits of every one of the n positions (n * n_vocab floats). */
iris_status iris_llama_eval_all(iris_llama_state *s, const int32_t *tokens, int n, float *logits);

#endif
