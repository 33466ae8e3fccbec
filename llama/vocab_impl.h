/* vocab_impl.h - the vocabulary's insides, shared by vocab.c and the two tokenizers. */
#ifndef IRIS_LLAMA_VOCAB_IMPL_H
#define IRIS_LLAMA_VOCAB_IMPL_H

#include "vocab.h"

/* Open-addressing hash from byte strings to indices into (keys, lens). */
typedef struct iris_strmap {
    uint32_t cap; /* power of two */
    int32_t *slot; /* -1 = empty */
} iris_strmap;

struct iris_vocab {
    iris_vocab_kind kind;
    int32_t n;
    char **text;    /* n strings, each NUL-terminated copy */
    uint32_t *len;
    float *score;
    int32_t *type;
    iris_strmap by_text;
    /* BPE merges: "left right" strings, rank = index */
    int32_t n_merges;
    char **merge;
    uint32_t *merge_len;
    iris_strmap by_merge;
    int32_t byte_tok[256]; /* SPM: <0xXX> tokens; BPE: the token of each mapped byte (or -1) */
    int32_t bos, eos, eot, unk, pad;
    int add_bos, add_eos, add_space_prefix;
    iris_bpe_pre pre;
    /* control and user-defined tokens, longest text first, for parse_special */
    int32_t *special;
    int32_t n_special;
};

/* A growing output array of ids. */
typedef struct iris_idbuf {
    int32_t *ids;
    int n, cap;
    int oom;
} iris_idbuf;

void iris_idbuf_push(iris_idbuf *b, int32_t id);
int32_t iris_strmap_get(const iris_strmap *m, char *const *keys, const uint32_t *lens, const char *s, size_t n);

/* Append the ids of one fragment of plain text (no special tokens in it). */
void iris_spm_tokenize(const iris_vocab *v, const char *text, size_t len, iris_idbuf *out);
void iris_bpe_tokenize(const iris_vocab *v, const char *text, size_t len, iris_idbuf *out);
/* GPT-2 byte <-> printable code point mapping. */
uint32_t iris_bpe_byte_to_cp(uint8_t b);
int iris_bpe_cp_to_byte(uint32_t cp); /* -1 if cp is not one of the 256 */

#endif
