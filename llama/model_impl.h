/* model_impl.h - the insides of an inference state and of a batch, shared by kv_cache.c,
   forward.c, batch.c and generate.c.

   A state is one sequence; a batch is several. Both are a core (the model, the context the
   passes run in, the cache precision and arithmetic mode) plus key/value caches, and both
   run their passes through iris_llama_pass (forward.c), so there is one transformer. */
#ifndef IRIS_LLAMA_MODEL_IMPL_H
#define IRIS_LLAMA_MODEL_IMPL_H

#include "model.h"

/* What every pass needs besides the caches. */
typedef struct iris_llama_core {
    const iris_llama *m;
    iris_ctx *ctx;
    int32_t n_ctx;        /* positions each sequence's cache holds */
    iris_dtype kv_type;   /* precision of cached keys/values: F16 (default) or F32 */
    iris_dtype kv_store;  /* type of the cache tensors: kv_type, or F32 holding F16-rounded values in exact mode */
    int exact;            /* llama.cpp's arithmetic (see iris_llama_state_params) */
    int quantized;        /* some layer weight is block-quantized */
    int32_t *posv;        /* host staging of one pass's positions (n_stage entries) */
    int32_t n_stage;
} iris_llama_core;

/* One sequence: per layer (rows, n_head_kv, head_dim) keys and values, position p in row p. */
typedef struct iris_llama_seq {
    iris_tensor **k, **v;
    int32_t pos;          /* next position = tokens in the cache */
} iris_llama_seq;

struct iris_llama_state {
    iris_llama_core c;
    iris_llama_seq seq;
};

/* kv_cache.c: a core with room to stage n_stage positions per pass, and caches for it */
iris_status iris_llama_core_init(iris_llama_core *c, const iris_llama *m, int32_t n_ctx, int32_t n_stage,
                                 const iris_llama_state_params *params);
void iris_llama_core_free(iris_llama_core *c);
iris_status iris_llama_seq_init(iris_llama_seq *q, const iris_llama_core *c);
void iris_llama_seq_free(iris_llama_seq *q, const iris_llama_core *c);

/* forward.c: one pass over n rows (token ids, or n_embd floats each when tokens is NULL): with
   n_seq 1, n consecutive positions of seqs[0]; with n_seq > 1 (then n == n_seq), one position of
   each seqs[i], in order. Each row is appended at its sequence's position (which advances on
   success), never sees another sequence's rows, and gets the same bits it would in a pass of its
   sequence alone. logits: every row's (all) or the last row of each sequence's, in order; or
   NULL. The caller has checked ids, room, n <= c->n_stage and that no sequence appears twice. */
iris_status iris_llama_pass(iris_llama_core *c, iris_llama_seq *const *seqs, int n_seq, const int32_t *tokens,
                            const float *embd, int n, float *logits, int all);
/* forward.c: the rows of one sequence in passes of at most the exact mode's pass size, after
   checking the ids and the room left. */
iris_status iris_llama_run(iris_llama_core *c, iris_llama_seq *q, const int32_t *tokens, const float *embd, int n,
                           float *logits, int all);
/* forward.c: rows per pass that keep exact mode's arithmetic (quantized weights see quantized
   activations only up to this many rows) */
int iris_llama_pass_rows(const iris_llama_core *c);
/* forward.c: refuses ids outside the vocabulary */
iris_status iris_llama_check_ids(const iris_llama *m, const int32_t *tokens, int n);

#endif
