/* strset.c - open-addressing set of strings: de-duplicates walked paths and
   holds the inputs a resumed output file already has. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static size_t find(const cli_strset *s, const char *str, size_t len) {
    size_t mask = s->cap - 1, i = (size_t)hash(str, len) & mask;
    while (s->slot[i] && !(strlen(s->slot[i]) == len && !memcmp(s->slot[i], str, len))) i = (i + 1) & mask;
    return i;
}

int cli_strset_has(const cli_strset *s, const char *str, size_t len) {
    return s->cap && s->slot[find(s, str, len)] != NULL;
}

static int grow(cli_strset *s) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    char **old = s->slot;
    size_t old_cap = s->cap;
    s->slot = calloc(cap, sizeof *s->slot);
    if (!s->slot) {
        s->slot = old;
        return -1;
    }
    s->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i]) s->slot[find(s, old[i], strlen(old[i]))] = old[i];
    free(old);
    return 0;
}

int cli_strset_add(cli_strset *s, const char *str, size_t len) {
    if ((s->n + 1) * 2 > s->cap && grow(s)) return -1;
    size_t i = find(s, str, len);
    if (s->slot[i]) return 0;
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, str, len);
    copy[len] = 0;
    s->slot[i] = copy;
    s->n++;
    return 1;
}

void cli_strset_free(cli_strset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}
