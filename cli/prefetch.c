/* prefetch.c - a few threads decode and preprocess the next inputs while
   the tool runs the model on the current batch, so a folder of large JPEGs
   is not decode-bound.

   Item number s (the s-th index of the list) always goes to slot s mod S, and
   the consumer takes items in list order; so the pool is a ring: a worker
   claims the next item once its slot is free (released by the consumer),
   loads it outside the lock and marks it ready. Every field below is read
   and written under `mu`, except a slot's bytes, which belong to the one
   worker loading it, then to the consumer until it releases them. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { SLOT_FREE, SLOT_LOADING, SLOT_READY, SLOT_HELD };

typedef struct slot {
    int state;
    size_t seq;           /* which item of the list it holds */
    iris_status status;   /* what load returned */
    char msg[512];        /* the worker's iris_last_error() when status != 0 */
} slot;

struct iris_cli_prefetch {
    iris_cli_load_fn load;
    void *user;
    size_t *items; /* NULL: item s is index s */
    size_t n_items, stride;
    unsigned char *mem; /* n_slots * stride bytes */
    slot *slots;
    int n_slots, n_threads, n_started;
    size_t claim, take; /* next item a worker loads, next item the consumer gets */
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t ready, freed;
    pthread_t *threads;
};

static size_t item_index(const iris_cli_prefetch *p, size_t seq) { return p->items ? p->items[seq] : seq; }

static void *worker(void *arg) {
    iris_cli_prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->claim < p->n_items && p->slots[p->claim % (size_t)p->n_slots].state != SLOT_FREE)
            pthread_cond_wait(&p->freed, &p->mu);
        if (p->stop || p->claim >= p->n_items) break;
        size_t seq = p->claim++;
        slot *s = &p->slots[seq % (size_t)p->n_slots];
        s->state = SLOT_LOADING;
        s->seq = seq;
        pthread_mutex_unlock(&p->mu);

        iris_clear_error();
        iris_status st = p->load(p->user, item_index(p, seq), p->mem + (seq % (size_t)p->n_slots) * p->stride);

        pthread_mutex_lock(&p->mu);
        s->status = st;
        s->msg[0] = 0;
        if (st) snprintf(s->msg, sizeof s->msg, "%s", iris_last_error());
        s->state = SLOT_READY;
        pthread_cond_broadcast(&p->ready);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void join_all(iris_cli_prefetch *p) {
    iris_cli_prefetch_stop(p);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->threads[i], NULL);
    p->n_started = 0;
}

iris_status iris_cli_prefetch_start(iris_cli_prefetch **out, const iris_cli_prefetch_params *prm) {
    *out = NULL;
    if (!prm || !prm->load || prm->n_threads < 0 || prm->n_slots < 0)
        return iris_fail(IRIS_ERR_ARG, "prefetch: needs a load function, and threads and slots not negative");
    iris_cli_prefetch *p = calloc(1, sizeof *p);
    if (!p) return iris_fail(IRIS_ERR_NOMEM, "prefetch: out of memory");
    p->load = prm->load;
    p->user = prm->user;
    p->n_items = prm->n_items;
    p->n_threads = prm->n_threads;
    p->n_slots = prm->n_slots ? prm->n_slots : 2 * prm->n_threads;
    if (p->n_slots < 2) p->n_slots = 2;
    p->stride = (prm->slot_bytes + 63) / 64 * 64; /* each slot on its own cache lines */
    if (!p->stride) p->stride = 64;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ready, NULL);
    pthread_cond_init(&p->freed, NULL);
    if (prm->items && p->n_items) {
        p->items = malloc(p->n_items * sizeof *p->items);
        if (p->items) memcpy(p->items, prm->items, p->n_items * sizeof *p->items);
    }
    p->slots = calloc((size_t)p->n_slots, sizeof *p->slots);
    p->mem = aligned_alloc(64, (size_t)p->n_slots * p->stride);
    p->threads = p->n_threads ? calloc((size_t)p->n_threads, sizeof *p->threads) : NULL;
    if ((prm->items && p->n_items && !p->items) || !p->slots || !p->mem || (p->n_threads && !p->threads)) {
        iris_cli_prefetch_free(p);
        return iris_fail(IRIS_ERR_NOMEM, "prefetch: out of memory for %d slots of %zu bytes", p->n_slots,
                         prm->slot_bytes);
    }
    /* workers take no signals: Ctrl-C reaches the tool's own thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = 0;
    for (int i = 0; i < p->n_threads && !err; i++)
        if (!(err = pthread_create(&p->threads[i], NULL, worker, p))) p->n_started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        iris_cli_prefetch_free(p);
        return iris_fail(IRIS_ERR_NOMEM, "prefetch: cannot start %d decode threads: %s", prm->n_threads,
                         strerror(err));
    }
    *out = p;
    return IRIS_OK;
}

int iris_cli_prefetch_next(iris_cli_prefetch *p, size_t *index, void **slot_out, iris_status *status) {
    pthread_mutex_lock(&p->mu);
    if (p->stop || p->take >= p->n_items) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    size_t seq = p->take, k = seq % (size_t)p->n_slots;
    slot *s = &p->slots[k];
    if (s->state == SLOT_HELD) {
        pthread_mutex_unlock(&p->mu);
        iris_fail(IRIS_ERR_ARG, "prefetch: all %d slots are held; release one before taking the next item",
                  p->n_slots);
        return -1;
    }
    void *mem = p->mem + k * p->stride;
    if (!p->n_threads) { /* synchronous: load it here */
        p->take++;
        s->state = SLOT_HELD;
        pthread_mutex_unlock(&p->mu);
        iris_clear_error();
        *index = item_index(p, seq);
        *slot_out = mem;
        *status = p->load(p->user, *index, mem);
        return 1;
    }
    while (!p->stop && !(s->state == SLOT_READY && s->seq == seq)) pthread_cond_wait(&p->ready, &p->mu);
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->take++;
    s->state = SLOT_HELD;
    iris_status st = s->status;
    char msg[sizeof s->msg];
    memcpy(msg, s->msg, sizeof msg);
    pthread_mutex_unlock(&p->mu);
    *index = item_index(p, seq);
    *slot_out = mem;
    *status = st;
    if (st) iris_fail(st, "%s", msg[0] ? msg : "cannot load this input");
    return 1;
}

void iris_cli_prefetch_release(iris_cli_prefetch *p, void *mem) {
    if (!p || !mem) return;
    uintptr_t at = (uintptr_t)mem, base = (uintptr_t)p->mem;
    if (at < base || (at - base) % p->stride) return; /* not one of ours */
    size_t k = (at - base) / p->stride;
    if (k >= (size_t)p->n_slots) return;
    pthread_mutex_lock(&p->mu);
    if (p->slots[k].state == SLOT_HELD) {
        p->slots[k].state = SLOT_FREE;
        pthread_cond_broadcast(&p->freed);
    }
    pthread_mutex_unlock(&p->mu);
}

void iris_cli_prefetch_stop(iris_cli_prefetch *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->freed);
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->mu);
}

void iris_cli_prefetch_free(iris_cli_prefetch *p) {
    if (!p) return;
    join_all(p);
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->mem);
    free(p->slots);
    free(p->items);
    free(p);
}
