/* caption.c - the caption loop: up to `batch` photos in flight, each a sequence of the decoder
   (llama/batch.h): vision rows and prompt prefilled, then one token per step for all of them
   together; a photo that finishes hands its place to the next one. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../llama/sampler.h"
#include "../llama/batch.h"
#include "caption_impl.h"
#include "llava.h"

struct iris_caption_ctx {
    iris_caption_params p;
    char *prompt;
    iris_llama *lm;
    iris_llava_vision *vision;
    iris_ctx *vctx;              /* where the vision passes run */
    iris_llama_batch *dec;      /* one sequence per photo in flight */
    iris_caption_template tmpl;
    int32_t *pre, *post;
    int n_pre, n_post;
    int max_tiles, max_rows, n_ctx;
    int32_t *eog;                /* with ignore_eos: the end tokens masked before each draw */
    int n_eog;
    char model_path[256];
};

/* What iris_caption_prepare writes: this header, then n_tiles x 3 x size x size floats. */
typedef struct {
    int magic, n_tiles, size, grid_w, grid_h, image_w, image_h, pad;
} prepared_hdr;
#define PREPARED_MAGIC 0x43415054 /* "CAPT" */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

iris_caption_params iris_caption_default_params(void) {
    iris_caption_params p;
    memset(&p, 0, sizeof p);
    p.tmpl = IRIS_CAPTION_TEMPLATE_AUTO;
    p.max_tokens = 64;
    p.batch = 1;
    p.ctx = iris_ctx_default_params();
    p.exact = 1;
    return p;
}

void iris_caption_free(iris_caption_ctx *c) {
    if (!c) return;
    iris_llama_batch_free(c->dec);
    iris_llava_vision_free(c->vision);
    iris_llama_free(c->lm);
    iris_ctx_free(c->vctx);
    free(c->pre), free(c->post), free(c->prompt), free(c->eog);
    free(c);
}

/* the largest photo the projector can produce: every tile of the largest grid plus the overview, and
   1.6's newline row per feature row */
static void vision_bounds(const iris_llava_vision_info *vi, int *max_tiles, int *max_rows) {
    int side = vi->image_size / vi->patch_size, tiles = 0, rows = 0;
    for (int i = 0; vi->anyres && i < vi->n_pinpoints; i++) {
        int gh = vi->pinpoints[i][0] / vi->image_size, gw = vi->pinpoints[i][1] / vi->image_size;
        if (gh * gw > tiles) tiles = gh * gw;
        if (gh * side > rows) rows = gh * side;
    }
    *max_tiles = 1 + tiles;
    *max_rows = vi->n_tokens * (1 + tiles) + rows;
}

iris_status iris_caption_load(iris_caption_ctx **out, const char *model_path, const char *mmproj_path,
                              const iris_caption_params *params) {
    *out = NULL;
    iris_caption_params p = params ? *params : iris_caption_default_params();
    if (p.max_tokens < 1 || p.batch < 1 || p.batch > 256)
        return iris_fail(IRIS_ERR_ARG, "caption: max_tokens must be >= 1 and batch 1..256");
    iris_caption_ctx *c = calloc(1, sizeof *c);
    if (!c) return iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    c->p = p;
    c->prompt = strdup(p.prompt ? p.prompt : IRIS_CAPTION_DEFAULT_PROMPT);
    c->p.prompt = c->prompt;
    snprintf(c->model_path, sizeof c->model_path, "%s", model_path);
    iris_status st = c->prompt ? IRIS_OK : iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    iris_llama_params lp = iris_llama_default_params();
    lp.device = p.ctx.device;
    iris_llava_vision_params vp = iris_llava_vision_default_params();
    vp.device = p.ctx.device;
    if (!st) st = iris_ctx_create(&c->vctx, &p.ctx);
    if (!st) st = iris_llama_load(&c->lm, model_path, &lp);
    if (!st) st = iris_llava_vision_load(&c->vision, mmproj_path, &vp);
    const iris_llava_vision_info *vi = st ? NULL : iris_llava_vision_get_info(c->vision);
    if (!st && vi->n_embd != c->lm->hp.n_embd)
        st = iris_fail(IRIS_ERR_SHAPE, "%s: the projector gives rows of %d but %s embeds in %d", mmproj_path,
                       vi->n_embd, model_path, c->lm->hp.n_embd);
    if (!st) {
        c->tmpl = p.tmpl != IRIS_CAPTION_TEMPLATE_AUTO ? p.tmpl : iris_caption_template_pick(vi->projector, c->lm);
        st = iris_caption_template_tokens(c->lm->vocab, c->tmpl, c->prompt, &c->pre, &c->n_pre, &c->post, &c->n_post);
    }
    if (!st) {
        vision_bounds(vi, &c->max_tiles, &c->max_rows);
        long need = (long)c->n_pre + c->max_rows + c->n_post + p.max_tokens;
        long cap = c->lm->hp.n_ctx_train > 0 ? c->lm->hp.n_ctx_train : 4096;
        if (cap > 4096) cap = 4096;
        c->n_ctx = (int)(need < cap ? need : cap);
        if (c->n_pre + c->n_post + vi->n_tokens >= c->n_ctx)
            st = iris_fail(IRIS_ERR_ARG, "%s: the prompt (%d tokens) and an image (%d rows or more) do not fit its "
                           "context of %d", model_path, c->n_pre + c->n_post, vi->n_tokens, c->n_ctx);
    }
    if (!st && p.ignore_eos) {
        int V = c->lm->hp.n_vocab;
        c->eog = malloc(sizeof *c->eog * (size_t)V);
        if (!c->eog) st = iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
        for (int t = 0; !st && t < V; t++)
            if (iris_vocab_is_eog(c->lm->vocab, t)) c->eog[c->n_eog++] = t;
    }
    if (!st) {
        iris_llama_state_params sp = iris_llama_state_default_params();
        sp.ctx = p.ctx, sp.kv_f32 = p.kv_f32, sp.exact = p.exact;
        st = iris_llama_batch_new(&c->dec, c->lm, p.batch, c->n_ctx, &sp);
    }
    if (st) {
        iris_caption_free(c);
        return st;
    }
    *out = c;
    return IRIS_OK;
}

iris_caption_template iris_caption_get_template(const iris_caption_ctx *c) { return c->tmpl; }

void iris_caption_prompt_ids(const iris_caption_ctx *c, const int32_t **pre, int *n_pre, const int32_t **post,
                             int *n_post) {
    *pre = c->pre, *n_pre = c->n_pre, *post = c->post, *n_post = c->n_post;
}

const struct iris_llama *iris_caption_llama(const iris_caption_ctx *c) { return c->lm; }

void iris_caption_result_free(iris_caption_result *r) {
    if (!r) return;
    free(r->text), free(r->tokens);
    r->text = NULL, r->tokens = NULL;
}

/* ---- preparing photos ---- */

size_t iris_caption_prepared_bytes(const iris_caption_ctx *c) {
    const iris_llava_vision_info *vi = iris_llava_vision_get_info(c->vision);
    return sizeof(prepared_hdr) + (size_t)c->max_tiles * 3 * (size_t)vi->image_size * (size_t)vi->image_size * sizeof(float);
}

iris_status iris_caption_prepare(const iris_caption_ctx *c, const iris_image *img, void *buf, size_t size) {
    iris_llava_pixels px;
    iris_status st = iris_llava_preprocess(c->vision, img, &px);
    if (st) return st;
    size_t bytes = sizeof(prepared_hdr) + (size_t)px.n_tiles * 3 * (size_t)px.size * (size_t)px.size * sizeof(float);
    if (px.n_tiles > c->max_tiles || bytes > size) {
        iris_llava_pixels_free(&px);
        return iris_fail(IRIS_ERR_ARG, "caption: %d tiles do not fit the %zu-byte buffer", px.n_tiles, size);
    }
    prepared_hdr h = {PREPARED_MAGIC, px.n_tiles, px.size, px.grid_w, px.grid_h, px.image_w, px.image_h, 0};
    memcpy(buf, &h, sizeof h);
    memcpy((char *)buf + sizeof h, px.data, bytes - sizeof h);
    iris_llava_pixels_free(&px);
    return IRIS_OK;
}

/* prepared photo -> rows of n_embd floats (malloc'd) */
static iris_status embed(iris_caption_ctx *c, const void *prepared, float **rows, int *n_rows) {
    prepared_hdr h;
    memcpy(&h, prepared, sizeof h);
    if (h.magic != PREPARED_MAGIC || h.n_tiles < 1 || h.n_tiles > c->max_tiles)
        return iris_fail(IRIS_ERR_ARG, "caption: not a prepared photo");
    const iris_llava_vision_info *vi = iris_llava_vision_get_info(c->vision);
    const int64_t T = h.n_tiles, S = h.size, N = vi->n_tokens, E = vi->n_embd; /* rows per tile */
    iris_llava_pixels px = {h.n_tiles, h.size, h.grid_w, h.grid_h, h.image_w, h.image_h,
                            (float *)((const char *)prepared + sizeof h)};
    int n_max = iris_llava_n_rows(c->vision, h.image_w, h.image_h);
    float *proj = malloc((size_t)(T * N * E) * sizeof *proj), *out = malloc((size_t)n_max * (size_t)E * sizeof *out);
    iris_status st = proj && out ? IRIS_OK : iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    if (!st) {
        iris_ctx_reset(c->vctx);
        iris_tensor *x = iris_ctx_upload(c->vctx, IRIS_F32, 4, (int64_t[]){T, 3, S, S}, px.data);
        x = iris_llava_project(c->vctx, c->vision, iris_llava_encode(c->vctx, c->vision, x));
        if ((st = iris_ctx_status(c->vctx)) == IRIS_OK)
            st = x ? iris_tensor_read(x, proj, (size_t)(T * N * E) * sizeof *proj)
                   : iris_fail(IRIS_ERR_ARG, "caption: the vision pass gave no output");
        iris_ctx_reset(c->vctx);
    }
    if (!st) st = iris_llava_pack(c->vision, &px, proj, out, n_rows);
    free(proj);
    if (st) {
        free(out);
        return st;
    }
    *rows = out;
    return IRIS_OK;
}

/* ---- the loop ---- */

typedef struct {
    int active;
    size_t index;
    iris_sampler *sampler;
    int32_t *tokens;
    int n_tokens, n_prompt, pos;
    int32_t next;  /* the token the next step feeds */
    double t0;
} place;

static void fail_text(iris_caption_result *r, iris_status st) {
    r->status = st;
    snprintf(r->error, sizeof r->error, "%s", iris_last_error());
}

/* The result of a finished place: its text, handed to the callback, then freed. */
static int finish(iris_caption_ctx *c, place *pl, iris_caption_result_fn on_result, void *user) {
    iris_caption_result r;
    memset(&r, 0, sizeof r);
    int n = pl->n_tokens, eog = n && iris_vocab_is_eog(c->lm->vocab, pl->tokens[n - 1]);
    char *raw = NULL;
    size_t len = 0;
    iris_status st = iris_detokenize(c->lm->vocab, pl->tokens, eog ? n - 1 : n, 0, 0, &raw, &len);
    if (!st && !(r.text = iris_caption_clean_text(raw, len))) st = iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    free(raw);
    if (st) fail_text(&r, st);
    r.tokens = pl->tokens, r.n_tokens = n, r.n_prompt = pl->n_prompt, r.stopped_by_eog = eog;
    r.seconds = now_s() - pl->t0;
    int stop = on_result(user, pl->index, &r);
    free(r.text);
    free(pl->tokens);
    iris_sampler_free(pl->sampler);
    memset(pl, 0, sizeof *pl);
    return stop;
}

/* Takes the token drawn from `logits`; 1 when the place is finished. */
static int advance(iris_caption_ctx *c, place *pl, const float *logits) {
    for (int i = 0; i < c->n_eog; i++) ((float *)logits)[c->eog[i]] = -INFINITY; /* the row is this place's own */
    int32_t t = iris_sampler_sample(pl->sampler, logits);
    iris_sampler_accept(pl->sampler, t);
    pl->tokens[pl->n_tokens++] = t;
    pl->next = t;
    return iris_vocab_is_eog(c->lm->vocab, t) || pl->n_tokens >= c->p.max_tokens || pl->pos >= c->n_ctx;
}

/* Starts photo `index` in place k: vision rows, prompt prefill, first token. A photo whose prompt does
   not fit is reported at once (returns 1 = finished), a failing pass is the run's error (< 0). */
static int start(iris_caption_ctx *c, place *pl, int k, size_t index, const void *prepared, float *logits,
                 iris_caption_result_fn on_result, void *user, int *stop, iris_status *err) {
    memset(pl, 0, sizeof *pl);
    pl->index = index, pl->t0 = now_s();
    float *rows = NULL;
    int n_rows = 0;
    iris_status st = embed(c, prepared, &rows, &n_rows);
    iris_sampler_params sp = iris_sampler_default_params();
    sp.temp = c->p.temp, sp.seed = c->p.seed + index;
    if (!st && c->n_pre + n_rows + c->n_post >= c->n_ctx) {
        free(rows);
        iris_caption_result r;
        memset(&r, 0, sizeof r);
        fail_text(&r, iris_fail(IRIS_ERR_ARG, "%s: prompt and image (%d positions) do not fit the context of %d",
                                c->model_path, c->n_pre + n_rows + c->n_post, c->n_ctx));
        r.seconds = now_s() - pl->t0;
        *stop = on_result(user, index, &r);
        return 1;
    }
    pl->tokens = st ? NULL : malloc(sizeof *pl->tokens * (size_t)c->p.max_tokens);
    if (!st && !pl->tokens) st = iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    if (!st) st = iris_sampler_new(&pl->sampler, c->lm->hp.n_vocab, &sp);
    if (!st) st = iris_llama_batch_clear(c->dec, k);
    if (!st) st = iris_llama_batch_eval(c->dec, k, c->pre, c->n_pre, NULL);
    if (!st) st = iris_llama_batch_eval_embd(c->dec, k, rows, n_rows, c->n_post ? NULL : logits);
    if (!st && c->n_post) st = iris_llama_batch_eval(c->dec, k, c->post, c->n_post, logits);
    free(rows);
    if (st) {
        free(pl->tokens), iris_sampler_free(pl->sampler);
        memset(pl, 0, sizeof *pl);
        *err = st;
        return -1;
    }
    pl->active = 1;
    pl->n_prompt = pl->pos = c->n_pre + n_rows + c->n_post;
    if (advance(c, pl, logits)) {
        *stop = finish(c, pl, on_result, user);
        return 1;
    }
    return 0;
}

iris_status iris_caption_run(iris_caption_ctx *c, const iris_caption_source *src, iris_caption_result_fn on_result,
                             void *user) {
    if (!c || !src || !src->next || !on_result) return iris_fail(IRIS_ERR_ARG, "caption: no source or callback");
    const int B = c->p.batch;
    const size_t V = (size_t)c->lm->hp.n_vocab;
    place *pl = calloc((size_t)B, sizeof *pl);
    float *logits = malloc(sizeof *logits * V * (size_t)B);
    int *seqs = malloc(sizeof *seqs * (size_t)B);
    int32_t *toks = malloc(sizeof *toks * (size_t)B);
    iris_status err = pl && logits && seqs && toks ? IRIS_OK : iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    int more = 1, stop = 0;
    while (!err && !stop) {
        /* fill the free places */
        for (int k = 0; k < B && more && !stop && !err; k++) {
            while (!pl[k].active && more && !stop && !err) {
                size_t index;
                const void *prep;
                int got = src->next(src->user, &index, &prep);
                if (got <= 0) {
                    more = 0, stop = got < 0;
                    break;
                }
                int r = start(c, &pl[k], k, index, prep, logits + V * (size_t)k, on_result, user, &stop, &err);
                if (src->done) src->done(src->user, index, prep);
                (void)r;
            }
        }
        int n = 0;
        for (int k = 0; k < B; k++)
            if (pl[k].active) seqs[n] = k, toks[n] = pl[k].next, n++;
        if (!n || err || stop) break;
        err = iris_llama_batch_step(c->dec, seqs, toks, n, logits);
        for (int i = 0; i < n && !err; i++) {
            place *q = &pl[seqs[i]];
            q->pos++;
            if (advance(c, q, logits + V * (size_t)i) && finish(c, q, on_result, user)) stop = 1;
        }
    }
    for (int k = 0; pl && k < B; k++)
        if (pl[k].active) free(pl[k].tokens), iris_sampler_free(pl[k].sampler);
    free(pl), free(logits), free(seqs), free(toks);
    if (!err && stop) err = iris_fail(IRIS_ERR_CANCELLED, "caption: stopped by the caller");
    return err;
}

/* ---- the one call over an array ---- */

typedef struct {
    iris_caption_ctx *c;
    const iris_image *images;
    size_t n, i;
    size_t bytes;
    iris_caption_result *results;
    unsigned char *reached;
    iris_caption_result_fn on_result;
    void *user;
    int stop;
} array_job;

static int array_result(void *user, size_t index, const iris_caption_result *r) {
    array_job *j = user;
    iris_caption_result *o = &j->results[index];
    *o = *r;
    o->text = r->text ? strdup(r->text) : NULL;
    o->tokens = NULL;
    if (r->n_tokens && (o->tokens = malloc(sizeof *o->tokens * (size_t)r->n_tokens)))
        memcpy(o->tokens, r->tokens, sizeof *o->tokens * (size_t)r->n_tokens);
    if ((r->text && !o->text) || (r->n_tokens && !o->tokens)) {
        o->status = IRIS_ERR_NOMEM;
        snprintf(o->error, sizeof o->error, "caption: out of memory");
    }
    j->reached[index] = 1;
    if (j->on_result && j->on_result(j->user, index, o)) j->stop = 1;
    return j->stop;
}

/* prepares the next photo; photos that fail to prepare are reported here and passed over */
static int array_next(void *user, size_t *index, const void **prepared) {
    array_job *j = user;
    while (j->i < j->n && !j->stop) {
        size_t i = j->i++;
        void *buf = aligned_alloc(64, (j->bytes + 63) / 64 * 64);
        iris_status st = buf ? iris_caption_prepare(j->c, &j->images[i], buf, j->bytes)
                             : iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
        if (!st) {
            *index = i, *prepared = buf;
            return 1;
        }
        free(buf);
        iris_caption_result r;
        memset(&r, 0, sizeof r);
        fail_text(&r, st);
        array_result(j, i, &r);
    }
    return j->stop ? -1 : 0;
}

static void array_done(void *user, size_t index, const void *prepared) {
    (void)user, (void)index;
    free((void *)prepared);
}

iris_status iris_caption_images(iris_caption_ctx *c, const iris_image *images, size_t n,
                                iris_caption_result *results, iris_caption_result_fn on_result, void *user) {
    memset(results, 0, sizeof *results * n);
    array_job j = {c, images, n, 0, iris_caption_prepared_bytes(c), results, calloc(n ? n : 1, 1), on_result, user, 0};
    if (!j.reached) return iris_fail(IRIS_ERR_NOMEM, "caption: out of memory");
    iris_caption_source src = {array_next, array_done, &j};
    iris_status st = iris_caption_run(c, &src, array_result, &j);
    if (st)
        for (size_t i = 0; i < n; i++)
            if (!j.reached[i]) {
                results[i].status = st;
                snprintf(results[i].error, sizeof results[i].error, "%s", iris_last_error());
            }
    free(j.reached);
    return st;
}
