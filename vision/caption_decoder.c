/* caption_decoder.c - the decoder of caption_decoder.h on one iris_llama_state per sequence, stepped one
   after another (each step reads the weights once per sequence; the batched API will read them once). */
#include <stdlib.h>

#include "caption_decoder.h"

struct iris_caption_decoder {
    const iris_llama *m;
    int n_seq, n_ctx;
    iris_llama_state **s; /* n_seq states, made on first use */
    iris_llama_state_params p;
};

iris_status iris_caption_decoder_new(iris_caption_decoder **out, const iris_llama *m, int n_seq, int n_ctx,
                                     const iris_llama_state_params *p) {
    *out = NULL;
    if (!m || n_seq < 1 || n_ctx < 1) return iris_fail(IRIS_ERR_ARG, "caption decoder: bad arguments");
    iris_caption_decoder *d = calloc(1, sizeof *d);
    if (d) d->s = calloc((size_t)n_seq, sizeof *d->s);
    if (!d || !d->s) {
        free(d);
        return iris_fail(IRIS_ERR_NOMEM, "caption decoder: out of memory");
    }
    d->m = m, d->n_seq = n_seq, d->n_ctx = n_ctx;
    d->p = p ? *p : iris_llama_state_default_params();
    *out = d;
    return IRIS_OK;
}

void iris_caption_decoder_free(iris_caption_decoder *d) {
    if (!d) return;
    for (int i = 0; i < d->n_seq; i++) iris_llama_state_free(d->s[i]);
    free(d->s);
    free(d);
}

int iris_caption_decoder_n_ctx(const iris_caption_decoder *d) { return d->n_ctx; }

/* the state of sequence seq, made when first needed (memory only for the places used) */
static iris_status state_of(iris_caption_decoder *d, int seq, iris_llama_state **s) {
    if (seq < 0 || seq >= d->n_seq) return iris_fail(IRIS_ERR_ARG, "caption decoder: no sequence %d", seq);
    if (!d->s[seq]) {
        iris_status st = iris_llama_state_new(&d->s[seq], d->m, d->n_ctx, &d->p);
        if (st) return st;
    }
    *s = d->s[seq];
    return IRIS_OK;
}

iris_status iris_caption_decoder_clear(iris_caption_decoder *d, int seq) {
    iris_llama_state *s = NULL;
    iris_status st = state_of(d, seq, &s);
    return st ? st : iris_llama_set_pos(s, 0);
}

iris_status iris_caption_decoder_prefill_tokens(iris_caption_decoder *d, int seq, const int32_t *tokens, int n,
                                                float *logits) {
    iris_llama_state *s = NULL;
    iris_status st = state_of(d, seq, &s);
    return st ? st : iris_llama_eval(s, tokens, n, logits);
}

iris_status iris_caption_decoder_prefill_embd(iris_caption_decoder *d, int seq, const float *rows, int n,
                                              float *logits) {
    iris_llama_state *s = NULL;
    iris_status st = state_of(d, seq, &s);
    return st ? st : iris_llama_eval_embd(s, rows, n, logits);
}

iris_status iris_caption_decoder_step(iris_caption_decoder *d, const int *seqs, const int32_t *tokens, int n,
                                      float *logits) {
    const size_t V = (size_t)d->m->hp.n_vocab;
    for (int i = 0; i < n; i++) {
        iris_llama_state *s = NULL;
        iris_status st = state_of(d, seqs[i], &s);
        if (!st) st = iris_llama_eval(s, &tokens[i], 1, logits + V * (size_t)i);
        if (st) return st;
    }
    return IRIS_OK;
}
