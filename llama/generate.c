/* generate.c - prompt pass, sampling loop, stop strings, timing. */
#include "generate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model_impl.h"

iris_llama_gen_params iris_llama_gen_default_params(void) {
    iris_llama_gen_params p;
    memset(&p, 0, sizeof p);
    p.n_predict = 64;
    p.sampler = iris_sampler_default_params();
    p.stop_at_eog = 1;
    return p;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    char *buf;      /* generated text not yet handed out */
    size_t n, cap;
} pending;

static int pend_add(pending *p, const char *s, size_t n) {
    if (p->n + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (p->n + n + 1 > cap) cap *= 2;
        char *b = realloc(p->buf, cap);
        if (!b) return -1;
        p->buf = b, p->cap = cap;
    }
    memcpy(p->buf + p->n, s, n);
    p->n += n;
    return 0;
}

/* Bytes of the pending text that are safe to hand out: everything before a stop
   string (then *hit = 1), else all but the longest tail that begins some stop string. */
static size_t safe_len(const pending *p, const iris_llama_gen_params *gp, int *hit) {
    *hit = 0;
    size_t first = p->n;
    for (int i = 0; i < gp->n_stop; i++) {
        size_t sl = strlen(gp->stop[i]);
        if (!sl || sl > p->n) continue;
        const char *f = memmem(p->buf, p->n, gp->stop[i], sl);
        if (f && (size_t)(f - p->buf) < first) first = (size_t)(f - p->buf), *hit = 1;
    }
    if (*hit) return first;
    size_t keep = 0;
    for (int i = 0; i < gp->n_stop; i++) {
        size_t sl = strlen(gp->stop[i]);
        for (size_t t = sl > 1 ? sl - 1 : 0; t > keep; t--)
            if (t <= p->n && !memcmp(p->buf + p->n - t, gp->stop[i], t)) { keep = t; break; }
    }
    return p->n - keep;
}

iris_status iris_llama_generate(iris_llama_state *s, const int32_t *prompt, int n_prompt,
                                const iris_llama_gen_params *gp, iris_llama_text_fn on_text,
                                iris_llama_token_fn on_token, void *user, int32_t *tokens_out,
                                iris_llama_gen_stats *stats) {
    const iris_llama *m = s->c.m;
    iris_llama_gen_stats st;
    memset(&st, 0, sizeof st);
    if (n_prompt <= 0) return iris_fail(IRIS_ERR_ARG, "generate: empty prompt (add BOS)");
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    iris_sampler *smp = NULL;
    pending pend = {0};
    iris_status rc = logits ? iris_sampler_new(&smp, m->hp.n_vocab, &gp->sampler)
                            : iris_fail(IRIS_ERR_NOMEM, "generate: out of memory");
    if (rc) goto done;
    for (int i = 0; i < n_prompt; i++) iris_sampler_accept(smp, prompt[i]);

    double t0 = now_s();
    if ((rc = iris_llama_eval(s, prompt, n_prompt, logits))) goto done;
    st.n_prompt = n_prompt;
    st.prompt_s = now_s() - t0;

    t0 = now_s();
    char piece[256];
    for (int i = 0; i < gp->n_predict; i++) {
        int32_t tok = iris_sampler_sample(smp, logits);
        iris_sampler_accept(smp, tok);
        if (tokens_out) tokens_out[i] = tok;
        st.n_gen++;
        if (on_token) on_token(user, tok);
        if (gp->stop_at_eog && iris_vocab_is_eog(m->vocab, tok)) { st.stopped_by = 1; break; }
        int len = iris_token_piece(m->vocab, tok, piece, sizeof piece, 0);
        if (len > (int)sizeof piece) len = (int)sizeof piece;
        if (len > 0 && pend_add(&pend, piece, (size_t)len)) { rc = iris_fail(IRIS_ERR_NOMEM, "generate: out of memory"); goto done; }
        int hit;
        size_t ok = safe_len(&pend, gp, &hit);
        if (ok && on_text && on_text(user, pend.buf, ok)) st.stopped_by = 3;
        memmove(pend.buf, pend.buf + ok, pend.n - ok);
        pend.n -= ok;
        if (hit) { st.stopped_by = 2; pend.n = 0; break; }
        if (st.stopped_by) break;
        if (i + 1 == gp->n_predict) break; /* the last token needs no pass */
        if (iris_llama_pos(s) >= iris_llama_n_ctx(s)) break;
        if ((rc = iris_llama_eval(s, &tok, 1, logits))) goto done;
    }
    st.gen_s = now_s() - t0;
    if (pend.n && on_text) on_text(user, pend.buf, pend.n);
done:
    if (stats) *stats = st;
    free(pend.buf);
    free(logits);
    iris_sampler_free(smp);
    return rc;
}
