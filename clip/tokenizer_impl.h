/* tokenizer_impl.h - the tokenizer's insides, shared by tokenizer_load.c (building the vocabulary),
   tokenizer.c (text to ids) and prompt.c (A1111's syntax). Internal to clip/. */
#ifndef IRIS_CLIP_TOKENIZER_IMPL_H
#define IRIS_CLIP_TOKENIZER_IMPL_H

#include <stddef.h>

#include "tokenizer.h"

#define IRIS_CLIP_N_MERGES 48894 /* merges in CLIP's list; token 512 + r is made by merge r */

struct iris_clip_tokenizer {
    char *text;                  /* every token's text as in vocab.json (bytes as GPT-2's code points), NUL-ended */
    uint32_t off[IRIS_CLIP_N_VOCAB + 1]; /* token i is text + off[i], off[i+1] - off[i] - 1 bytes */
    int32_t byte_id[256];        /* the token of each byte alone, and as the end of a word (+ "</w>") */
    int32_t byte_end_id[256];
    uint32_t pair_mask;          /* merges: open-addressing hash of (left << 32 | right) -> rank */
    uint64_t *pair_key;          /* UINT64_MAX: empty slot */
    int32_t *pair_rank;
    int32_t comma;               /* ",</w>", where A1111 cuts long prompts */
};

typedef struct iris_clip_ids {
    int32_t *ids;
    size_t n, cap;
} iris_clip_ids;

int iris_clip_ids_push(iris_clip_ids *b, int32_t id); /* nonzero when out of memory */

/* Appends the ids of text[0..len) (no BOS/EOS; the text need not end in a NUL). */
iris_status iris_clip_tokenize_append(const iris_clip_tokenizer *t, const char *text, size_t len, iris_clip_ids *out);

/* The rank of merge (left, right), or -1. */
int32_t iris_clip_merge_rank(const iris_clip_tokenizer *t, int32_t left, int32_t right);

#endif
