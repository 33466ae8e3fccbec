/* generate.h - the generation loop: prompt pass, then sample / decode one token at a time.

   Text reaches the caller through a callback as it is produced; text that might be
   the start of a stop string is held back until it is clear that it is not.

       iris_llama_gen_params gp = iris_llama_gen_default_params();
       gp.n_predict = 64;                       // greedy by default (gp.sampler.temp = 0)
       iris_llama_gen_stats st;
       iris_llama_generate(state, ids, n_ids, &gp, print_text, NULL, &st);
       fprintf(stderr, "%.1f tokens/s\n", st.n_gen / st.gen_s);
*/
#ifndef IRIS_LLAMA_GENERATE_H
#define IRIS_LLAMA_GENERATE_H

#include "model.h"
#include "sampler.h"

typedef struct iris_llama_gen_params {
    int n_predict;              /* tokens to generate at most */
    iris_sampler_params sampler;
    const char *const *stop;    /* stop strings (not printed), or NULL */
    int n_stop;
    int stop_at_eog;            /* stop on EOS/EOT (1 by default) */
} iris_llama_gen_params;

typedef struct iris_llama_gen_stats {
    int n_prompt, n_gen;        /* tokens run through the prompt pass / generated */
    double prompt_s, gen_s;     /* wall time of the prompt pass / of generation after it */
    int stopped_by;             /* 0 n_predict, 1 end-of-generation token, 2 stop string, 3 callback */
} iris_llama_gen_stats;

/* Text as it is produced; return nonzero to stop. */
typedef int (*iris_llama_text_fn)(void *user, const char *text, size_t len);
/* Every generated token, before its text (may be NULL). */
typedef void (*iris_llama_token_fn)(void *user, int32_t token);

iris_llama_gen_params iris_llama_gen_default_params(void);
/* Appends the prompt to the state (whose position is usually 0) and generates. The
   generated ids go to tokens_out (n_predict room) when it is not NULL. */
iris_status iris_llama_generate(iris_llama_state *s, const int32_t *prompt, int n_prompt,
                                const iris_llama_gen_params *p, iris_llama_text_fn on_text,
                                iris_llama_token_fn on_token, void *user, int32_t *tokens_out,
                                iris_llama_gen_stats *stats);

#endif
