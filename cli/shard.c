/* shard.c - --shard K/N: one of N disjoint parts of the input list, so that
   N machines (a Slurm array, a Kubernetes Indexed Job) split one photo
   library between them without talking to each other.

   The rule: a file belongs to shard fmix64(fnv1a64(path)) mod N, where path
   is the file's path as the walk lists it. It depends on that one string
   only: not on the machine, the walk's order, or the other files. So a
   library that grows moves no file from one shard to another, and each
   shard rerun with --resume does only its new files. Contiguous ranges of
   the sorted list would balance the shards exactly, but one file added
   early in the order shifts every boundary after it, and the shards would
   then redo files their neighbours already have. The price of hashing is
   statistical balance: a shard expecting m files gets m +- about sqrt(m),
   and with fewer files than shards some shards are empty. The FNV-1a bytes
   go through MurmurHash3's 64-bit finalizer because FNV's low bits depend
   only on the low bits of the bytes, which mod a power of two would show. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

uint64_t iris_cli_shard_hash(const char *path) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64 */
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) h = (h ^ *s) * 1099511628211ull;
    h ^= h >> 33; /* fmix64 */
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

int iris_cli_shard_of(const char *path, int n) { return n > 1 ? (int)(iris_cli_shard_hash(path) % (uint64_t)n) : 0; }

/* A plain decimal number (no sign, no spaces) up to INT_MAX; -1 if not. */
static long number(const char *s, const char **end) {
    if (*s < '0' || *s > '9') return -1;
    errno = 0;
    char *e;
    unsigned long long v = strtoull(s, &e, 10);
    *end = e;
    return errno == ERANGE || v > INT_MAX ? -2 : (long)v;
}

int iris_cli_parse_shard(const char *value, void *dest, char *err, size_t errlen) {
    const char *e = value;
    long k = number(value, &e), n = -1;
    if (k >= 0 && *e == '/') n = number(e + 1, &e);
    if (k == -2 || n == -2) {
        snprintf(err, errlen, "too large");
        return 1;
    }
    if (k < 0 || n < 0 || *e) {
        snprintf(err, errlen, "expected K/N, e.g. 0/4 (part K of N, counting from 0)");
        return 1;
    }
    if (n < 1) {
        snprintf(err, errlen, "N must be at least 1");
        return 1;
    }
    if (k >= n) {
        snprintf(err, errlen, "K counts from 0, so it must be below N: %ld/%ld .. %ld/%ld (a Slurm array: --array=0-%ld)",
                 0L, n, n - 1, n, n - 1);
        return 1;
    }
    *(iris_cli_shard *)dest = (iris_cli_shard){(int)k, (int)n};
    return 0;
}

iris_status iris_cli_walk_shard(iris_cli_walk *w, int k, int n) {
    if (n <= 1 && k == 0) return IRIS_OK;
    if (n < 1 || k < 0 || k >= n) return iris_fail(IRIS_ERR_ARG, "shard %d/%d: K must be in 0..N-1", k, n);
    size_t kept = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (iris_cli_shard_of(w->files[i].path, n) == k) w->files[kept++] = w->files[i];
        else free(w->files[i].path);
    }
    w->n_other_shards += w->n - kept;
    w->n = kept;
    return IRIS_OK;
}
