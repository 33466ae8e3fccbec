/* vocab.h - the tokenizer of a GGUF language model: text <-> token ids.

   Two kinds, chosen by the GGUF key tokenizer.ggml.model:
     "llama"  SentencePiece-style: whitespace becomes U+2581, pieces are merged by
              score, characters missing from the vocabulary fall back to <0xXX> bytes;
     "gpt2"   byte-level BPE (Llama 3 and most newer models): a regex-like
              pre-tokenizer splits words, every byte is mapped to a printable code
              point, pieces are merged by merge rank.
   The ids equal llama.cpp's llama_tokenize for the same text and flags.

       iris_vocab *v;
       if (iris_vocab_from_gguf(&v, &gguf)) { puts(iris_last_error()); return 1; }
       int32_t *ids; int n;
       iris_tokenize(v, "Once upon a time", 1, 0, &ids, &n);     // BOS + 4 ids for stories260K
       char piece[64];
       for (int i = 0; i < n; i++) {
           int len = iris_token_piece(v, ids[i], piece, sizeof piece, 0);
           fwrite(piece, 1, (size_t)len, stdout);
       }
       free(ids);
       iris_vocab_free(v);

   A vocabulary can also be built from plain arrays (iris_vocab_new), which is
   how tests make tiny ones.
*/
#ifndef IRIS_LLAMA_VOCAB_H
#define IRIS_LLAMA_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../core/gguf.h"

typedef enum iris_vocab_kind { IRIS_VOCAB_SPM = 1, IRIS_VOCAB_BPE = 2 } iris_vocab_kind;

/* Token types as stored in tokenizer.ggml.token_type. */
enum {
    IRIS_TOKEN_NORMAL = 1,
    IRIS_TOKEN_UNKNOWN = 2,
    IRIS_TOKEN_CONTROL = 3,
    IRIS_TOKEN_USER_DEFINED = 4,
    IRIS_TOKEN_UNUSED = 5,
    IRIS_TOKEN_BYTE = 6,
};

/* BPE pre-tokenizers (tokenizer.ggml.pre). */
typedef enum iris_bpe_pre {
    IRIS_PRE_GPT2 = 0, /* "gpt-2" and every other name: the GPT-2 split (llama.cpp chains
                          extra digit/punctuation splits for "default"; not done here) */
    IRIS_PRE_LLAMA3,   /* "llama-bpe", "llama3": contractions any case, digits in threes */
} iris_bpe_pre;

typedef struct iris_vocab_desc {
    iris_vocab_kind kind;
    int32_t n_tokens;
    const char *const *tokens;   /* n_tokens strings */
    const uint32_t *token_len;   /* byte lengths, or NULL for NUL-terminated strings */
    const float *scores;         /* SPM merge scores, or NULL (all 0) */
    const int32_t *types;        /* IRIS_TOKEN_*, or NULL (all normal) */
    int32_t n_merges;            /* BPE: "left right" lines, highest priority first */
    const char *const *merges;
    int32_t bos, eos, eot, unk, pad; /* -1 = none */
    int add_bos, add_eos;        /* what "add special tokens" adds */
    int add_space_prefix;        /* SPM: a space before the text (default 1) */
    iris_bpe_pre pre;
} iris_vocab_desc;

typedef struct iris_vocab iris_vocab;

/* Defaults for desc: SPM, no special ids, add_bos 1, add_space_prefix 1. */
iris_vocab_desc iris_vocab_default_desc(void);
iris_status iris_vocab_new(iris_vocab **out, const iris_vocab_desc *desc);
/* Reads tokenizer.ggml.* keys; `g` may be closed afterwards. */
iris_status iris_vocab_from_gguf(iris_vocab **out, const iris_gguf *g);
void iris_vocab_free(iris_vocab *v);

int32_t iris_vocab_size(const iris_vocab *v);
iris_vocab_kind iris_vocab_kind_of(const iris_vocab *v);
int32_t iris_vocab_bos(const iris_vocab *v);
int32_t iris_vocab_eos(const iris_vocab *v);
/* 1 for ids that end generation (EOS, EOT). */
int iris_vocab_is_eog(const iris_vocab *v, int32_t id);
/* Token id of exactly this text, or -1. */
int32_t iris_vocab_find(const iris_vocab *v, const char *text, size_t len);
/* The stored text of a token ("▁Once", "<0x0A>", "Ġthe"); NULL for a bad id. */
const char *iris_vocab_text(const iris_vocab *v, int32_t id, uint32_t *len);
int32_t iris_vocab_type(const iris_vocab *v, int32_t id);

/* Tokenizes len bytes of text into a malloc'd array (*ids, *n).
   add_special: BOS/EOS as the vocabulary says. parse_special: control and
   user-defined token texts in the input (e.g. "<s>") become those tokens
   instead of being spelled out. */
iris_status iris_tokenize(const iris_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                          int32_t **ids, int *n);

/* The bytes a token stands for (▁ -> ' ', <0x0A> -> '\n', Ġ -> ' '), written to buf
   (up to size bytes, not NUL-terminated). Control tokens give "" unless `special`.
   Returns the full length, which may exceed size (then only size bytes were written),
   or -1 for an id out of range. */
int iris_token_piece(const iris_vocab *v, int32_t id, char *buf, int size, int special);

/* Text of n tokens into a malloc'd NUL-terminated string; SPM drops the space
   that the tokenizer put before the first word when remove_prefix is set. */
iris_status iris_detokenize(const iris_vocab *v, const int32_t *ids, int n, int special, int remove_prefix,
                            char **out, size_t *len);

#endif
