/* pool.c - persistent worker threads.

   Small models dispatch thousands of tiny ops per second (a 260K-parameter
   Llama decodes a token in ~100 us), so waking workers must cost far less
   than a futex round trip: workers spin briefly on a generation counter
   and only then sleep on a condition variable.
*/
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
#else
static inline void cpu_relax(void) {}
#endif

#define SPIN_LIMIT 20000

struct iris_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int gen;     /* bumped once per job */
    atomic_int pending; /* workers still inside the current job */
    atomic_int stop;
    int sleepers;       /* guarded by mu */
    void (*fn)(void *, int, int);
    void *arg;
};

typedef struct {
    iris_pool *p;
    int tid;
} worker_arg;

static void *worker(void *a) {
    iris_pool *p = ((worker_arg *)a)->p;
    int tid = ((worker_arg *)a)->tid;
    free(a);
    int seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_LIMIT) {
                /* yield now and then: when the machine is oversubscribed (decode threads, other
                   programs) the core goes to a thread with work instead of to spinning */
                if ((spins & 127) == 0) sched_yield();
                else cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) break;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        p->fn(p->arg, tid, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

iris_status iris_pool_new(iris_pool **out, int n_threads) {
    *out = NULL;
    iris_pool *p = calloc(1, sizeof *p);
    if (!p) return iris_fail(IRIS_ERR_NOMEM, "thread pool: out of memory");
    p->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)p->n, sizeof *p->threads);
    if (!p->threads) { free(p); return iris_fail(IRIS_ERR_NOMEM, "thread pool: out of memory"); }
    for (int i = 1; i < p->n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){p, i};
        if (!wa || pthread_create(&p->threads[i], NULL, worker, wa)) {
            free(wa);
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    *out = p;
    return IRIS_OK;
}

void iris_pool_free(iris_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int iris_pool_size(const iris_pool *p) { return p->n; }

void iris_pool_run(iris_pool *p, void (*fn)(void *arg, int tid, int nth), void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    if (p->sleepers) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_LIMIT && (spins & 127)) cpu_relax();
        else sched_yield(); /* a worker was descheduled: let it run */
    }
}

typedef struct {
    iris_range_fn fn;
    void *arg;
    int64_t n, chunk;
    atomic_llong next;
} for_job;

static void for_worker(void *a, int tid, int nth) {
    (void)nth;
    for_job *j = a;
    for (;;) {
        int64_t b = atomic_fetch_add(&j->next, j->chunk);
        if (b >= j->n) break;
        int64_t e = b + j->chunk < j->n ? b + j->chunk : j->n;
        j->fn(j->arg, b, e, tid);
    }
}

void iris_pool_for(iris_pool *p, int64_t n, int64_t grain, iris_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (p->n == 1 || n <= grain) {
        fn(arg, 0, n, 0);
        return;
    }
    /* a few chunks per thread balances uneven work without much counter traffic */
    int64_t chunk = (n + (int64_t)p->n * 4 - 1) / ((int64_t)p->n * 4);
    if (chunk < grain) chunk = grain;
    for_job j = {fn, arg, n, chunk, 0};
    iris_pool_run(p, for_worker, &j);
}
