/* test_cli_prefetch.c - the decode-ahead pool (cli/prefetch.c): items come
   in list order whatever order the workers finish in, each is loaded once,
   look-ahead stays within the slots, per-item errors reach the consumer with
   their message, and stopping early or Ctrl-C joins every thread promptly.
   Reference: each item's bytes are a pattern computed from its index, and
   the counts are exact. Workers sleep for index-dependent times so they
   finish out of order; no check depends on the timing. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../cli/cli.h"
#include "test.h"

enum { MAX_ITEMS = 400, SLOT_BYTES = 1000 };

typedef struct loader {
    atomic_int loads[MAX_ITEMS]; /* times each index was loaded */
    atomic_int started, released, worst_ahead;
    int n_slots, sleep_us, fail_mod;
    pthread_t caller;
    atomic_int on_caller; /* loads that ran on the caller's thread */
} loader;

static void pause_us(int us) {
    struct timespec t = {0, (long)us * 1000};
    nanosleep(&t, NULL);
}

static uint8_t pattern(size_t index, size_t i) { return (uint8_t)(index * 31 + i * 7 + 1); }

static iris_status load(void *user, size_t index, void *slot) {
    loader *l = user;
    /* items taken out of the slots but not released yet bound what may load */
    int ahead = atomic_fetch_add(&l->started, 1) + 1 - atomic_load(&l->released);
    int w = atomic_load(&l->worst_ahead);
    while (ahead > w && !atomic_compare_exchange_weak(&l->worst_ahead, &w, ahead)) {}
    if (index < MAX_ITEMS) atomic_fetch_add(&l->loads[index], 1);
    if (pthread_equal(pthread_self(), l->caller)) atomic_fetch_add(&l->on_caller, 1);
    if (l->sleep_us) pause_us((int)((index * 7919) % 5) * l->sleep_us); /* out-of-order finishes */
    if (l->fail_mod && index % (size_t)l->fail_mod == 3) return iris_fail(IRIS_ERR_FORMAT, "item %zu: broken", index);
    uint8_t *b = slot;
    for (size_t i = 0; i < SLOT_BYTES; i++) b[i] = pattern(index, i);
    return IRIS_OK;
}

static int slot_ok(const void *slot, size_t index) {
    const uint8_t *b = slot;
    for (size_t i = 0; i < SLOT_BYTES; i++)
        if (b[i] != pattern(index, i)) return 0;
    return 1;
}

static loader *new_loader(int n_slots, int sleep_us, int fail_mod) {
    loader *l = calloc(1, sizeof *l);
    l->n_slots = n_slots;
    l->sleep_us = sleep_us;
    l->fail_mod = fail_mod;
    l->caller = pthread_self();
    return l;
}

static void release(iris_cli_prefetch *p, loader *l, void *slot) {
    atomic_fetch_add(&l->released, 1);
    iris_cli_prefetch_release(p, slot);
}

TEST(cli_prefetch_in_order) {
    static const int threads[] = {0, 1, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        int nt = threads[t], n = 150, slots = 6;
        loader *l = new_loader(slots, 50, 0);
        iris_cli_prefetch *p = NULL;
        CHECK_OK(iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = (size_t)n, .slot_bytes = SLOT_BYTES,
                                                                        .n_slots = slots, .n_threads = nt,
                                                                        .load = load, .user = l}));
        if (!p) return;
        size_t index, want = 0;
        void *slot;
        iris_status st;
        int r, bad_order = 0, bad_bytes = 0;
        while ((r = iris_cli_prefetch_next(p, &index, &slot, &st)) > 0) {
            bad_order += index != want++;
            bad_bytes += st || ((uintptr_t)slot & 63) || !slot_ok(slot, index);
            release(p, l, slot);
        }
        CHECK_INT(r, 0);
        CHECK_INT(want, n);
        CHECK_MSG(!bad_order && !bad_bytes, "%d threads: %d out of order, %d wrong", nt, bad_order, bad_bytes);
        CHECK_INT(iris_cli_prefetch_next(p, &index, &slot, &st), 0); /* stays at the end */
        iris_cli_prefetch_free(p);
        int once = 1;
        for (int i = 0; i < n; i++) once &= atomic_load(&l->loads[i]) == 1;
        CHECK_MSG(once, "%d threads: some item not loaded exactly once", nt);
        /* one taken, so at most slots - 1 others ahead: slots in all */
        CHECK_MSG(atomic_load(&l->worst_ahead) <= slots, "%d threads: %d loaded ahead with %d slots", nt,
                  atomic_load(&l->worst_ahead), slots);
        CHECK_INT(atomic_load(&l->on_caller), nt ? 0 : n); /* 0 threads: in the caller, else never */
        free(l);
    }
}

TEST(cli_prefetch_list_and_errors) {
    /* only the listed indices (the ones a resumed run has still to do), in the list's order */
    size_t items[60];
    int n = 0;
    for (size_t i = 1; i < 120 && n < 60; i += 2) items[n++] = i;
    for (int nt = 0; nt <= 4; nt += 4) {
        loader *l = new_loader(4, 20, 5); /* indices 3, 13, 23, ... fail (5k+3 and odd) */
        iris_cli_prefetch *p = NULL;
        CHECK_OK(iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = (size_t)n, .items = items,
                                                                        .slot_bytes = SLOT_BYTES, .n_slots = 4,
                                                                        .n_threads = nt, .load = load, .user = l}));
        if (!p) return;
        items[0] = 9999; /* the pool copied the list */
        size_t index;
        void *slot;
        iris_status st;
        int k = 0, failed = 0, good = 0, wrong = 0;
        iris_clear_error();
        while (iris_cli_prefetch_next(p, &index, &slot, &st) > 0) {
            size_t want = k ? items[k] : 1;
            wrong += index != want;
            k++;
            if (st) {
                char msg[64];
                snprintf(msg, sizeof msg, "item %zu: broken", index);
                failed++;
                wrong += st != IRIS_ERR_FORMAT || strcmp(iris_last_error(), msg) || index % 5 != 3;
            } else {
                good++;
                wrong += !slot_ok(slot, index) || index % 5 == 3;
            }
            release(p, l, slot);
        }
        items[0] = 1;
        iris_cli_prefetch_free(p);
        CHECK_INT(k, n);
        CHECK_INT(failed, 12); /* 3, 13, ..., 113 */
        CHECK_INT(good, n - 12);
        CHECK_MSG(wrong == 0, "%d threads: %d wrong items", nt, wrong);
        int only_listed = 1;
        for (int i = 0; i < MAX_ITEMS; i++) only_listed &= atomic_load(&l->loads[i]) == (i % 2 && i < 120);
        CHECK(only_listed);
        free(l);
    }
    /* nothing to do */
    loader *l = new_loader(2, 0, 0);
    iris_cli_prefetch *p = NULL;
    CHECK_OK(iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = 0, .slot_bytes = 16, .n_threads = 2,
                                                                    .load = load, .user = l}));
    size_t index;
    void *slot;
    iris_status st;
    CHECK_INT(iris_cli_prefetch_next(p, &index, &slot, &st), 0);
    iris_cli_prefetch_free(p);
    CHECK_INT(atomic_load(&l->started), 0);
    free(l);
}

TEST(cli_prefetch_held_and_bad_params) {
    /* a batch tool holding every slot would wait for ever: an error instead */
    for (int nt = 0; nt <= 2; nt += 2) {
        loader *l = new_loader(3, 0, 0);
        iris_cli_prefetch *p = NULL;
        CHECK_OK(iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = 10, .slot_bytes = SLOT_BYTES,
                                                                        .n_slots = 3, .n_threads = nt,
                                                                        .load = load, .user = l}));
        if (!p) return;
        void *held[3];
        size_t index;
        iris_status st;
        for (int i = 0; i < 3; i++) CHECK_INT(iris_cli_prefetch_next(p, &index, &held[i], &st), 1);
        CHECK_INT(iris_cli_prefetch_next(p, &index, &held[0], &st), -1);
        CHECK(strstr(iris_last_error(), "all 3 slots are held"));
        iris_cli_prefetch_release(p, (char *)held[1] + 1); /* not a slot: ignored */
        iris_cli_prefetch_release(p, held[0]);
        void *slot;
        CHECK_INT(iris_cli_prefetch_next(p, &index, &slot, &st), 1);
        CHECK(index == 3 && slot == held[0] && !st && slot_ok(slot, 3));
        iris_cli_prefetch_free(p); /* with slots still held: nothing leaks, nothing waits */
        free(l);
    }
    iris_cli_prefetch *p = (iris_cli_prefetch *)1;
    CHECK_INT(iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = 3, .slot_bytes = 4}), IRIS_ERR_ARG);
    CHECK(p == NULL);
    CHECK_INT(iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = 3, .n_threads = -1, .load = load}),
              IRIS_ERR_ARG);
    iris_cli_prefetch_free(NULL);
    iris_cli_prefetch_stop(NULL);
}

/* Stops after `take` items of a long slow list; returns the loads that ran. */
static int stop_early(int n_threads, int take, int use_stop) {
    loader *l = new_loader(8, 500, 0);
    iris_cli_prefetch *p = NULL;
    if (iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = MAX_ITEMS, .slot_bytes = SLOT_BYTES,
                                                               .n_slots = 8, .n_threads = n_threads, .load = load,
                                                               .user = l}))
        return -1;
    size_t index;
    void *slot;
    iris_status st;
    for (int i = 0; i < take && iris_cli_prefetch_next(p, &index, &slot, &st) > 0; i++) release(p, l, slot);
    if (use_stop) {
        iris_cli_prefetch_stop(p);
        if (iris_cli_prefetch_next(p, &index, &slot, &st) != 0) return -2;
    }
    iris_cli_prefetch_free(p);
    int n = atomic_load(&l->started);
    free(l);
    return n;
}

TEST(cli_prefetch_stops_early) {
    /* each load takes 0..2 ms; a full list would take 100+ ms a thread.
       Started loads are bounded by what was taken plus the slots. */
    double t0 = iris_cli_now();
    int n1 = stop_early(4, 5, 1), n2 = stop_early(4, 0, 0), n3 = stop_early(1, 20, 0);
    double dt = iris_cli_now() - t0;
    CHECK_MSG(n1 >= 5 && n1 <= 5 + 8, "loads after stopping at 5: %d", n1);
    CHECK_MSG(n2 >= 0 && n2 <= 8, "loads when freed at once: %d", n2);
    CHECK_MSG(n3 >= 20 && n3 <= 20 + 8, "loads after stopping at 20: %d", n3);
    CHECK_MSG(dt < 5.0, "stopping took %.2f s", dt); /* far above the ~60 ms it needs: a hang, not a slow machine */
}

/* The batch tool's loop under Ctrl-C, in a child: SIGINT sent to the process
   (as a terminal does) reaches the tool's thread, the loop ends, every
   thread is joined and the process exits; alarm() turns a hang into a failure. */
static int sigint_child(void) {
    alarm(20);
    iris_cli_install_sigint();
    loader *l = new_loader(6, 300, 0);
    iris_cli_prefetch *p = NULL;
    if (iris_cli_prefetch_start(&p, &(iris_cli_prefetch_params){.n_items = MAX_ITEMS, .slot_bytes = SLOT_BYTES,
                                                               .n_slots = 6, .n_threads = 3, .load = load,
                                                               .user = l}))
        return 2;
    size_t index;
    void *slot;
    iris_status st;
    int taken = 0;
    while (!iris_cli_interrupted() && iris_cli_prefetch_next(p, &index, &slot, &st) > 0) {
        if (index != (size_t)taken++ || st) return 3;
        release(p, l, slot);
        if (taken == 10) kill(getpid(), SIGINT);
    }
    iris_cli_prefetch_free(p);
    int started = atomic_load(&l->started);
    free(l);
    if (!iris_cli_interrupted()) return 4;
    if (taken < 10 || taken > 11 || started > taken + 6) return 5;
    return 0;
}

TEST(cli_prefetch_ctrl_c) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(sigint_child());
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d (exit %d)", status,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
