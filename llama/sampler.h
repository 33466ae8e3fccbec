/* sampler.h - picking the next token from a row of logits.

   The chain runs in llama.cpp's order: repetition penalty over the last
   `repeat_last_n` accepted tokens, top-k, top-p (nucleus), min-p, temperature,
   then a draw from the softmax with a seeded generator. temp <= 0 is greedy:
   the argmax after the penalty, lowest id on ties.

       iris_sampler_params sp = iris_sampler_default_params();
       sp.temp = 0.8f; sp.top_k = 40; sp.seed = 42;
       iris_sampler *s;
       iris_sampler_new(&s, n_vocab, &sp);
       int32_t tok = iris_sampler_sample(s, logits);   // logits are not modified
       iris_sampler_accept(s, tok);                    // feeds the repetition penalty
       iris_sampler_free(s);
*/
#ifndef IRIS_LLAMA_SAMPLER_H
#define IRIS_LLAMA_SAMPLER_H

#include <stdint.h>

#include "../core/error.h"

typedef struct iris_sampler_params {
    float temp;           /* <= 0: greedy */
    int top_k;            /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off; > 1 discourages repeats */
    int repeat_last_n;    /* how many recent tokens the penalty looks at */
    uint64_t seed;
} iris_sampler_params;

typedef struct iris_sampler iris_sampler;

/* greedy, no penalty, top_k 40, top_p 0.95, min_p 0.05, repeat_last_n 64, seed 0
   (the filters only act when temp > 0) */
iris_sampler_params iris_sampler_default_params(void);
iris_status iris_sampler_new(iris_sampler **out, int32_t n_vocab, const iris_sampler_params *p);
void iris_sampler_free(iris_sampler *s);
void iris_sampler_accept(iris_sampler *s, int32_t token);
/* Forgets the accepted tokens and reseeds. */
void iris_sampler_reset(iris_sampler *s);
int32_t iris_sampler_sample(iris_sampler *s, const float *logits);

#endif
