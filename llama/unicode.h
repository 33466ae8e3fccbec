/* unicode.h - the little Unicode the tokenizers need: UTF-8 decoding that never
   fails (a bad byte decodes as itself, one byte long) and the letter/number/space
   classes of the BPE pre-tokenizer regexes. Internal to llama/. */
#ifndef IRIS_LLAMA_UNICODE_H
#define IRIS_LLAMA_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { IRIS_UC_OTHER = 0, IRIS_UC_LETTER = 1, IRIS_UC_NUMBER = 2, IRIS_UC_SPACE = 3 };

/* Length in bytes of the UTF-8 sequence starting at s (at most n bytes left), 1..4;
   an invalid or truncated sequence counts as 1 byte. *cp receives the code point
   (for an invalid byte: 0xDC00 + byte, a lone surrogate that is in no class). */
int iris_utf8_next(const char *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 into out (4 bytes room); returns the length. */
int iris_utf8_put(uint32_t cp, char *out);
int iris_uc_class(uint32_t cp);

extern const uint32_t iris_uc_letter[][2], iris_uc_number[][2], iris_uc_space[][2];
extern const int iris_uc_letter_n, iris_uc_number_n, iris_uc_space_n;

#endif
