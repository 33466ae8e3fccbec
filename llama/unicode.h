/* unicode.h - the little Unicode the tokenizers need: UTF-8 decoding that never
   fails (a bad byte decodes as itself, one byte long), the letter/number/space
   classes of the BPE pre-tokenizer regexes, and for CLIP's text cleanup (which
   copies Hugging Face's Python code) Python's categories, str.lower() and NFC.
   Used by llama/ and clip/; the tables come from Python's unicodedata. */
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

int iris_uc_is_control(uint32_t cp); /* general category C: Cc Cf Cs Co Cn */
int iris_uc_is_zs(uint32_t cp);      /* general category Zs */
int iris_uc_digit(uint32_t cp);      /* value of a decimal digit (Nd), else -1 */
/* Python's str.lower() of s[0..n) (the Greek final sigma decided by its neighbours in s);
   out has room for 2n. Returns the length written. */
size_t iris_uc_lower(const uint32_t *s, size_t n, uint32_t *out);
/* unicodedata.normalize("NFC", s[0..n)); out has room for 4n. Returns the length written. */
size_t iris_uc_nfc(const uint32_t *s, size_t n, uint32_t *out);

extern const uint32_t iris_uc_letter[][2], iris_uc_number[][2], iris_uc_space[][2];
extern const int iris_uc_letter_n, iris_uc_number_n, iris_uc_space_n;
extern const uint32_t iris_uc_control[][2], iris_uc_zs[][2], iris_uc_digit_ranges[][2];
extern const int iris_uc_control_n, iris_uc_zs_n, iris_uc_digit_ranges_n;
extern const int32_t iris_uc_lower_map[][4]; /* lo, hi, stride, delta */
extern const int iris_uc_lower_map_n;
extern const uint32_t iris_uc_cased[][2], iris_uc_ignorable[][2]; /* for the final sigma */
extern const int iris_uc_cased_n, iris_uc_ignorable_n;
extern const uint32_t iris_uc_ccc[][3];     /* lo, hi, canonical combining class */
extern const uint32_t iris_uc_decomp[][3];  /* cp, first, second (0: none), by cp */
extern const uint32_t iris_uc_compose[][3]; /* first, second, composite, by (first, second) */
extern const int iris_uc_ccc_n, iris_uc_decomp_n, iris_uc_compose_n;

#endif
