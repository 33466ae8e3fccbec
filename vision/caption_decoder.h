/* caption_decoder.h - the captioner's view of the language model: N sequences, each with its own KV
   cache, filled by a prefill and then advanced one token per step together.

   It runs on the Llama core's batch (llama/batch.h): one forward pass per step over the sequences
   stepped, each with its own cache; caption.c keeps up to N photos in flight and gives a finished
   photo's sequence to the next.

       iris_caption_decoder *d;
       iris_caption_decoder_new(&d, model, 4, 512, &state_params);     // 4 sequences of 512 positions
       iris_caption_decoder_clear(d, 0);                               // sequence 0 starts afresh
       iris_caption_decoder_prefill_tokens(d, 0, pre, n_pre, NULL);
       iris_caption_decoder_prefill_embd(d, 0, rows, n_rows, NULL);
       iris_caption_decoder_prefill_tokens(d, 0, post, n_post, logits); // logits of the last position
       int seqs[2] = {0, 2}; int32_t toks[2] = {t0, t2};
       iris_caption_decoder_step(d, seqs, toks, 2, logits2);           // 2 x n_vocab logits
*/
#ifndef IRIS_CAPTION_DECODER_H
#define IRIS_CAPTION_DECODER_H

#include "../llama/model.h"

typedef struct iris_caption_decoder iris_caption_decoder;

/* n_seq sequences of n_ctx positions each. */
iris_status iris_caption_decoder_new(iris_caption_decoder **out, const iris_llama *m, int n_seq, int n_ctx,
                                     const iris_llama_state_params *p);
void iris_caption_decoder_free(iris_caption_decoder *d);
int iris_caption_decoder_n_ctx(const iris_caption_decoder *d);
/* Forgets everything sequence seq holds. */
iris_status iris_caption_decoder_clear(iris_caption_decoder *d, int seq);
/* Appends n tokens / n rows of n_embd floats to sequence seq; logits (n_vocab floats) of the last
   position when not NULL. */
iris_status iris_caption_decoder_prefill_tokens(iris_caption_decoder *d, int seq, const int32_t *tokens, int n,
                                                float *logits);
iris_status iris_caption_decoder_prefill_embd(iris_caption_decoder *d, int seq, const float *rows, int n,
                                              float *logits);
/* One token for each of the n sequences seqs[] (distinct); logits: n x n_vocab floats, row i for seqs[i]. */
iris_status iris_caption_decoder_step(iris_caption_decoder *d, const int *seqs, const int32_t *tokens, int n,
                                      float *logits);

#endif
