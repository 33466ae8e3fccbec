/* tokenizer.h - CLIP's byte-level BPE tokenizer (the ids Hugging Face's CLIPTokenizer gives)
   and AUTOMATIC1111's prompt syntax on top of it.

       iris_clip_tokenizer *tok;
       iris_clip_tokenizer_load(&tok, NULL);          // the built-in vocabulary (MIT, OpenAI CLIP)
       iris_clip_chunks c;
       iris_clip_prompt_chunks(tok, "a (red:1.3) car BREAK night", IRIS_CLIP_EOS, &c);
       // c.n_chunks chunks of 77 ids: BOS, 75 tokens (padded), EOS; c.weights the emphasis
       iris_clip_chunks_free(&c);
       iris_clip_tokenizer_free(tok);
*/
#ifndef IRIS_CLIP_TOKENIZER_H
#define IRIS_CLIP_TOKENIZER_H

#include <stdint.h>

#include "../core/error.h"

#define IRIS_CLIP_BOS 49406
#define IRIS_CLIP_EOS 49407
#define IRIS_CLIP_CTX 77 /* tokens per chunk, BOS and EOS included */
#define IRIS_CLIP_N_VOCAB 49408

typedef struct iris_clip_tokenizer iris_clip_tokenizer;

/* path: NULL for the built-in vocabulary, else a Hugging Face tokenizer folder (vocab.json +
   merges.txt) or a merges.txt / bpe_simple_vocab_16e6.txt(.gz) file. A file must hold CLIP's
   48,894 merges (more lines are ignored, as Hugging Face does); a folder's vocab.json must be
   the vocabulary they make (256 bytes, the same + "</w>", one token per merge, BOS, EOS). */
iris_status iris_clip_tokenizer_load(iris_clip_tokenizer **out, const char *path);
void iris_clip_tokenizer_free(iris_clip_tokenizer *t);

/* Plain BPE ids of text (UTF-8), no BOS/EOS. *ids is malloc'd (also when *n is 0). The text is
   cleaned as Hugging Face's CLIPTokenizer does without ftfy installed (its BasicTokenizer:
   control characters dropped, whitespace collapsed, CJK ideographs split off, NFC, str.lower());
   bytes that are not UTF-8 are dropped, as their U+FFFD would be. "<|startoftext|>" and
   "<|endoftext|>" in the text become BOS and EOS, as in Hugging Face. */
iris_status iris_clip_tokenize(const iris_clip_tokenizer *t, const char *text, int32_t **ids, int *n);

/* The text of token id as in vocab.json (UTF-8 bytes as GPT-2's printable code points, a word's
   last piece ending in "</w>"), or NULL when id is out of range. */
const char *iris_clip_token_text(const iris_clip_tokenizer *t, int32_t id);

typedef struct iris_clip_chunks {
    int n_chunks;   /* >= 1 (an empty prompt is one chunk of BOS, EOS, padding) */
    int32_t *ids;   /* n_chunks * 77 */
    float *weights; /* n_chunks * 77 emphasis multipliers (1 for BOS, EOS and padding) */
} iris_clip_chunks;

/* A1111 prompt parsing: (a), ((a)), (a:1.3), [a], \( escapes, BREAK; 75-token chunks. After the
   first EOS of each chunk the rest is pad_id (IRIS_CLIP_EOS for SD 1.x, 0 for SD 2.x).
   Follows AUTOMATIC1111's parse_prompt_attention and tokenize_line with its default settings
   (emphasis "Original", comma_padding_backtrack 20): a chunk that fills up is cut after its last
   ",</w>" when that lies within its last 20 tokens; unbalanced brackets close at the end of the
   prompt; a weight that is not a number ("(a:1.2.3)") is an IRIS_ERR_ARG, where A1111 raises. */
iris_status iris_clip_prompt_chunks(const iris_clip_tokenizer *t, const char *prompt, int32_t pad_id,
                                    iris_clip_chunks *out);
void iris_clip_chunks_free(iris_clip_chunks *c);

#endif
