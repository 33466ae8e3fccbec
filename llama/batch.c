/* batch.c - several sequence slots over one core: one context, one set of staging buffers,
   a KV cache per slot. Prefills are the single-sequence passes of forward.c on one slot;
   a step hands forward.c one row of each listed slot (see batch.h for why that is exact). */
#include <stdlib.h>

#include "batch.h"
#include "model_impl.h"

struct iris_llama_batch {
    iris_llama_core c;
    int n_seq;
    iris_llama_seq *seqs;
    iris_llama_seq **list; /* staging: the slots of one step */
    unsigned char *seen;   /* staging: duplicate check */
};

void iris_llama_batch_free(iris_llama_batch *b) {
    if (!b) return;
    for (int i = 0; b->seqs && i < b->n_seq; i++) iris_llama_seq_free(&b->seqs[i], &b->c);
    free(b->seqs), free(b->list), free(b->seen);
    iris_llama_core_free(&b->c);
    free(b);
}

iris_status iris_llama_batch_new(iris_llama_batch **out, const iris_llama *m, int n_seq, int32_t n_ctx,
                                 const iris_llama_state_params *params) {
    *out = NULL;
    if (n_seq < 1 || n_seq > 1024) return iris_fail(IRIS_ERR_ARG, "llama batch: %d sequences (1..1024)", n_seq);
    iris_llama_batch *b = calloc(1, sizeof *b);
    if (!b) return iris_fail(IRIS_ERR_NOMEM, "llama batch: out of memory");
    int32_t ctx = n_ctx > 0 ? n_ctx : m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    iris_status st = iris_llama_core_init(&b->c, m, n_ctx, ctx > n_seq ? ctx : n_seq, params);
    if (st) { free(b); return st; }
    b->seqs = calloc((size_t)n_seq, sizeof *b->seqs);
    b->list = calloc((size_t)n_seq, sizeof *b->list);
    b->seen = calloc((size_t)n_seq, 1);
    if (!b->seqs || !b->list || !b->seen) st = iris_fail(IRIS_ERR_NOMEM, "llama batch: out of memory");
    for (int i = 0; !st && i < n_seq; i++) {
        st = iris_llama_seq_init(&b->seqs[i], &b->c);
        if (!st) b->n_seq = i + 1;
    }
    if (st) {
        iris_llama_batch_free(b);
        return st;
    }
    *out = b;
    return IRIS_OK;
}

int iris_llama_batch_n_seq(const iris_llama_batch *b) { return b->n_seq; }
int32_t iris_llama_batch_n_ctx(const iris_llama_batch *b) { return b->c.n_ctx; }
iris_ctx *iris_llama_batch_ctx(iris_llama_batch *b) { return b->c.ctx; }

int32_t iris_llama_batch_pos(const iris_llama_batch *b, int seq) {
    return seq >= 0 && seq < b->n_seq ? b->seqs[seq].pos : -1;
}

static iris_status check_seq(const iris_llama_batch *b, int seq) {
    if (seq < 0 || seq >= b->n_seq)
        return iris_fail(IRIS_ERR_ARG, "llama batch: sequence %d outside the %d slots", seq, b->n_seq);
    return IRIS_OK;
}

iris_status iris_llama_batch_set_pos(iris_llama_batch *b, int seq, int32_t pos) {
    iris_status st = check_seq(b, seq);
    if (st) return st;
    if (pos < 0 || pos > b->seqs[seq].pos)
        return iris_fail(IRIS_ERR_ARG, "llama batch: cannot move sequence %d to position %d (its cache holds %d)", seq,
                         (int)pos, (int)b->seqs[seq].pos);
    b->seqs[seq].pos = pos; /* rows past pos are overwritten later, and masked until then */
    return IRIS_OK;
}

iris_status iris_llama_batch_clear(iris_llama_batch *b, int seq) { return iris_llama_batch_set_pos(b, seq, 0); }

iris_status iris_llama_batch_eval(iris_llama_batch *b, int seq, const int32_t *tokens, int n, float *logits) {
    iris_status st = check_seq(b, seq);
    if (st) return st;
    if (!tokens) return iris_fail(IRIS_ERR_ARG, "llama batch: no tokens");
    return iris_llama_run(&b->c, &b->seqs[seq], tokens, NULL, n, logits, 0);
}

iris_status iris_llama_batch_eval_embd(iris_llama_batch *b, int seq, const float *embd, int n, float *logits) {
    iris_status st = check_seq(b, seq);
    if (st) return st;
    if (!embd) return iris_fail(IRIS_ERR_ARG, "llama batch: no embeddings");
    return iris_llama_run(&b->c, &b->seqs[seq], NULL, embd, n, logits, 0);
}

iris_status iris_llama_batch_step(iris_llama_batch *b, const int *seqs, const int32_t *tokens, int n, float *logits) {
    if (!seqs || !tokens) return iris_fail(IRIS_ERR_ARG, "llama batch: no sequences or tokens");
    if (n < 1 || n > b->n_seq) return iris_fail(IRIS_ERR_ARG, "llama batch: step over %d of %d sequences", n, b->n_seq);
    iris_status st = iris_llama_check_ids(b->c.m, tokens, n);
    for (int i = 0; !st && i < n; i++) {
        if ((st = check_seq(b, seqs[i]))) break;
        const iris_llama_seq *q = &b->seqs[seqs[i]];
        if (b->seen[seqs[i]]) st = iris_fail(IRIS_ERR_ARG, "llama batch: sequence %d listed twice in one step", seqs[i]);
        else if (q->pos >= b->c.n_ctx)
            st = iris_fail(IRIS_ERR_ARG, "llama batch: sequence %d has no room left in its %d-position context", seqs[i],
                           (int)b->c.n_ctx);
        else b->seen[seqs[i]] = 1;
    }
    for (int i = 0; i < n; i++)
        if (seqs[i] >= 0 && seqs[i] < b->n_seq) b->seen[seqs[i]] = 0;
    if (st) return st;
    for (int i = 0; i < n; i++) b->list[i] = &b->seqs[seqs[i]];
    /* a single slot is a plain one-row pass; several are one row each, in passes the exact mode allows */
    const int per = iris_llama_pass_rows(&b->c);
    const int64_t V = b->c.m->hp.n_vocab;
    for (int i = 0; !st && i < n; i += per) {
        int k = n - i < per ? n - i : per;
        st = iris_llama_pass(&b->c, b->list + i, k, tokens + i, NULL, k, logits ? logits + (size_t)i * V : NULL, 0);
    }
    return st;
}
