/* sampler.c - repetition penalty, top-k/top-p/min-p filters, temperature, seeded draw. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;
    float logit;
    float p;
} cand;

struct iris_sampler {
    iris_sampler_params p;
    int32_t n_vocab;
    cand *c;
    float *work;    /* logits after the penalty */
    int32_t *hist;  /* ring of the last repeat_last_n accepted tokens */
    int n_hist, hist_pos;
    uint64_t rng;
};

iris_sampler_params iris_sampler_default_params(void) {
    iris_sampler_params p = {0.0f, 40, 0.95f, 0.05f, 1.0f, 64, 0};
    return p;
}

/* splitmix64: small, seedable, good enough to draw tokens */
static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double next_unit(uint64_t *s) { return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }

iris_status iris_sampler_new(iris_sampler **out, int32_t n_vocab, const iris_sampler_params *p) {
    *out = NULL;
    if (n_vocab <= 0) return iris_fail(IRIS_ERR_ARG, "sampler: vocabulary of %d", (int)n_vocab);
    iris_sampler *s = calloc(1, sizeof *s);
    if (!s) return iris_fail(IRIS_ERR_NOMEM, "sampler: out of memory");
    s->p = p ? *p : iris_sampler_default_params();
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->work = malloc((size_t)n_vocab * sizeof *s->work);
    s->hist = malloc((size_t)(s->p.repeat_last_n ? s->p.repeat_last_n : 1) * sizeof *s->hist);
    if (!s->c || !s->work || !s->hist) {
        iris_sampler_free(s);
        return iris_fail(IRIS_ERR_NOMEM, "sampler: out of memory");
    }
    iris_sampler_reset(s);
    *out = s;
    return IRIS_OK;
}

void iris_sampler_free(iris_sampler *s) {
    if (!s) return;
    free(s->c), free(s->work), free(s->hist);
    free(s);
}

void iris_sampler_reset(iris_sampler *s) {
    s->n_hist = s->hist_pos = 0;
    s->rng = s->p.seed;
}

void iris_sampler_accept(iris_sampler *s, int32_t token) {
    if (!s->p.repeat_last_n) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

static int by_logit_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t iris_sampler_sample(iris_sampler *s, const float *logits) {
    int32_t n = s->n_vocab;
    memcpy(s->work, logits, (size_t)n * sizeof *logits);
    if (s->p.repeat_penalty != 1.0f && s->p.repeat_penalty > 0) {
        /* each distinct recent token once: positive logits shrink, negative ones grow */
        for (int i = 0; i < s->n_hist; i++) {
            int32_t t = s->hist[i];
            int seen = 0;
            for (int j = 0; j < i && !seen; j++) seen = s->hist[j] == t;
            if (seen || t < 0 || t >= n) continue;
            float *l = &s->work[t];
            *l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
        }
    }
    if (s->p.temp <= 0) {
        int32_t best = 0;
        for (int32_t i = 1; i < n; i++)
            if (s->work[i] > s->work[best]) best = i;
        return best;
    }
    int m = n;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        /* keep the k best in a min-heap (root = worst kept), then sort only those */
        int k = s->p.top_k;
        for (int32_t i = 0; i < n; i++) {
            cand c = {i, s->work[i], 0};
            int at;
            if (i < k) {
                at = i;
                while (at > 0 && by_logit_desc(&s->c[(at - 1) / 2], &c) < 0) s->c[at] = s->c[(at - 1) / 2], at = (at - 1) / 2;
                s->c[at] = c;
                continue;
            }
            if (by_logit_desc(&c, &s->c[0]) >= 0) continue; /* not better than the worst kept */
            at = 0;
            for (;;) {
                int ch = 2 * at + 1;
                if (ch >= k) break;
                if (ch + 1 < k && by_logit_desc(&s->c[ch + 1], &s->c[ch]) > 0) ch++;
                if (by_logit_desc(&s->c[ch], &c) <= 0) break;
                s->c[at] = s->c[ch], at = ch;
            }
            s->c[at] = c;
        }
        m = k;
    } else {
        for (int32_t i = 0; i < n; i++) s->c[i] = (cand){i, s->work[i], 0};
    }
    qsort(s->c, (size_t)m, sizeof *s->c, by_logit_desc);
    /* probabilities of what is left, at temperature 1 as llama.cpp's filters use them */
    double sum = 0;
    for (int i = 0; i < m; i++) sum += (s->c[i].p = expf(s->c[i].logit - s->c[0].logit));
    if (s->p.top_p < 1.0f) {
        double acc = 0;
        for (int i = 0; i < m; i++) {
            acc += s->c[i].p / sum;
            if (acc >= s->p.top_p) { m = i + 1; break; }
        }
    }
    if (s->p.min_p > 0) {
        /* keep tokens with p >= min_p * p_max (the first candidate is the max) */
        int k = 1;
        while (k < m && s->c[k].p >= s->p.min_p * s->c[0].p) k++;
        m = k;
    }
    sum = 0;
    for (int i = 0; i < m; i++) sum += (s->c[i].p = expf((s->c[i].logit - s->c[0].logit) / s->p.temp));
    double r = next_unit(&s->rng) * sum, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += s->c[i].p;
        if (r < acc) return s->c[i].id;
    }
    return s->c[m - 1].id;
}
