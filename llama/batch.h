/* batch.h - decoding several sequences together, each with its own KV cache.

   A captioner with N images in flight keeps one batch of N sequence slots. Each slot is
   prefilled on its own (text and image rows, as with an iris_llama_state); then every
   decode step is ONE pass over one new token of each listed slot: the matmuls see N rows,
   so the weights are read once per step for all N (a memory-bound GEMV becomes a small
   GEMM), while RoPE, the cache append and attention go per slot over its own cache. A slot
   whose sequence has finished is cleared and prefilled with the next one while the others
   keep their caches.

       iris_llama_batch *b;
       iris_llama_batch_new(&b, m, 8, 512, NULL);          // 8 slots of 512 positions, exact mode
       for (int i = 0; i < 8; i++) {
           iris_llama_batch_eval(b, i, prefix, n_prefix, NULL);
           iris_llama_batch_eval_embd(b, i, img[i], n_img, NULL);
           iris_llama_batch_eval(b, i, suffix, n_suffix, logits + i * n_vocab);
           next[i] = argmax(logits + i * n_vocab), slot[i] = i;
       }
       while (n_live) {                                     // one pass per step for every live slot
           iris_llama_batch_step(b, slot, next, n_live, logits);   // logits: n_live x n_vocab
           ... argmax each row; a finished slot: iris_llama_batch_clear(b, s), prefill the next image ...
       }
       iris_llama_batch_free(b);

   Results equal one-at-a-time results: in exact mode (the default) every row of a step gets
   the same bits as a one-token iris_llama_eval of its sequence alone (the summation orders
   of a single-row pass, quantized activations for quantized weights), and a slot's prefill
   is an iris_llama_eval. Without exact mode the step's products are a GEMM over the rows,
   equal to a single row's up to float rounding. */
#ifndef IRIS_LLAMA_BATCH_H
#define IRIS_LLAMA_BATCH_H

#include "model.h"

typedef struct iris_llama_batch iris_llama_batch;

/* n_seq slots (1..1024) of n_ctx positions each (0 = the trained context, at most 4096);
   params as for iris_llama_state_new (NULL = defaults). */
iris_status iris_llama_batch_new(iris_llama_batch **out, const iris_llama *m, int n_seq, int32_t n_ctx,
                                 const iris_llama_state_params *params);
void iris_llama_batch_free(iris_llama_batch *b);

int iris_llama_batch_n_seq(const iris_llama_batch *b);
int32_t iris_llama_batch_n_ctx(const iris_llama_batch *b);
/* Next position of slot seq (tokens in its cache); -1 for a slot that does not exist. */
int32_t iris_llama_batch_pos(const iris_llama_batch *b, int seq);
/* Empties slot seq for a new sequence. */
iris_status iris_llama_batch_clear(iris_llama_batch *b, int seq);
/* Forgets slot seq's positions >= pos. */
iris_status iris_llama_batch_set_pos(iris_llama_batch *b, int seq, int32_t pos);
iris_ctx *iris_llama_batch_ctx(iris_llama_batch *b);

/* Appends n tokens to slot seq at its position, exactly as iris_llama_eval does to a state.
   logits: n_vocab floats for the last token, or NULL. */
iris_status iris_llama_batch_eval(iris_llama_batch *b, int seq, const int32_t *tokens, int n, float *logits);
/* The same with n rows of n_embd floats (image embeddings) instead of token ids. */
iris_status iris_llama_batch_eval_embd(iris_llama_batch *b, int seq, const float *embd, int n, float *logits);
/* One decode step: tokens[i] appended to slot seqs[i] (each at its own position) for i < n, all
   in one pass (in exact mode with quantized weights, passes of up to 32 slots). seqs must be
   distinct slots with room left. logits: n rows of n_vocab floats, row i for seqs[i], or NULL.
   Bad input is refused before anything runs. */
iris_status iris_llama_batch_step(iris_llama_batch *b, const int *seqs, const int32_t *tokens, int n, float *logits);

#endif
