/* text.c - a growing string for composing --help and error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void cli_text_put(cli_text *t, const char *s, size_t n) {
    if (!t->ok) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->ok = 0;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = 0;
}

void cli_text_puts(cli_text *t, const char *s) { cli_text_put(t, s, strlen(s)); }

void cli_text_printf(cli_text *t, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        cli_text_put(t, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->ok = 0;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    cli_text_put(t, big, (size_t)n);
    free(big);
}

void cli_text_pad(cli_text *t, size_t col) {
    size_t start = t->len;
    while (start > 0 && t->s[start - 1] != '\n') start--;
    while (t->ok && t->len - start < col) cli_text_put(t, " ", 1);
}
