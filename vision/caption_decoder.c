/* caption_decoder.c - the decoder of caption_decoder.h on the Llama core's batch (llama/batch.h): the
   sequences' next tokens go through one forward pass per step, the weights read once for all of them,
   and in exact mode every sequence gets the bits it would get alone. */
#include <stdlib.h>

#include "../llama/batch.h"
#include "caption_decoder.h"

struct iris_caption_decoder {
    iris_llama_batch *b;
    int n_ctx;
};

iris_status iris_caption_decoder_new(iris_caption_decoder **out, const iris_llama *m, int n_seq, int n_ctx,
                                     const iris_llama_state_params *p) {
    *out = NULL;
    if (!m || n_seq < 1 || n_ctx < 1) return iris_fail(IRIS_ERR_ARG, "caption decoder: bad arguments");
    iris_caption_decoder *d = calloc(1, sizeof *d);
    if (!d) return iris_fail(IRIS_ERR_NOMEM, "caption decoder: out of memory");
    iris_status st = iris_llama_batch_new(&d->b, m, n_seq, n_ctx, p);
    if (st) {
        free(d);
        return st;
    }
    d->n_ctx = n_ctx;
    *out = d;
    return IRIS_OK;
}

void iris_caption_decoder_free(iris_caption_decoder *d) {
    if (!d) return;
    iris_llama_batch_free(d->b);
    free(d);
}

int iris_caption_decoder_n_ctx(const iris_caption_decoder *d) { return d->n_ctx; }

iris_status iris_caption_decoder_clear(iris_caption_decoder *d, int seq) { return iris_llama_batch_clear(d->b, seq); }

iris_status iris_caption_decoder_prefill_tokens(iris_caption_decoder *d, int seq, const int32_t *tokens, int n,
                                                float *logits) {
    return iris_llama_batch_eval(d->b, seq, tokens, n, logits);
}

iris_status iris_caption_decoder_prefill_embd(iris_caption_decoder *d, int seq, const float *rows, int n,
                                              float *logits) {
    return iris_llama_batch_eval_embd(d->b, seq, rows, n, logits);
}

iris_status iris_caption_decoder_step(iris_caption_decoder *d, const int *seqs, const int32_t *tokens, int n,
                                      float *logits) {
    return iris_llama_batch_step(d->b, seqs, tokens, n, logits);
}
