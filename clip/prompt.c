/* prompt.c - AUTOMATIC1111's prompt syntax: emphasis weights and 75-token chunks.

   Reimplements the semantics of A1111's parse_prompt_attention (modules/prompt_parser.py) and
   tokenize_line (modules/sd_hijack_clip.py), quirks included, since prompts are written against
   them:
   - The prompt is read as a sequence of items, the first that fits at each place:
     \( \) \[ \] \\ (a literal character), a lone \ (nothing), ( and [ (open),
     ":" \s* [+-]?[.\d]+ \s* ")" (close with that weight), ) and ] (close), a run of anything but
     \ ( ) [ ] :, and a lone ":". A close with nothing open is literal text.
   - Text becomes a (text, weight 1) entry; closing multiplies every entry since the opening by
     1.1, 1/1.1 or the weight, in double precision and in A1111's order; what is still open at
     the end closes then (round brackets first). Inside text, \s*\bBREAK\b\s* becomes a
     ("BREAK", -1) entry. Neighbouring entries of equal weight are then joined.
   - Each entry is tokenized on its own. An entry that is still exactly ("BREAK", -1) starts a
     new chunk (so BREAK inside brackets is the word "break" with weight -1.1).
   - Chunks hold 75 tokens. When one is full and a ",</w>" lies within its last 20 tokens, the
     tokens after the comma move on to the next chunk. Each chunk becomes BOS + 75 (padded with
     EOS) + EOS, weight 1 on BOS, EOS and padding.
   - SD 2.x (pad_id 0): after the first EOS of a chunk everything is pad_id, as A1111 does for
     OpenCLIP.
   Not copied: A1111's SD 2.x path tokenizes with open_clip (ftfy, HTML unescaping) where we use
   the CLIPTokenizer cleanup; textual-inversion embeddings; prompt editing [a:b:n] and AND
   (handled before this step in A1111 too). */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../llama/unicode.h"
#include "tokenizer_impl.h"

#define CHUNK 75
#define BACKTRACK 20 /* A1111's comma_padding_backtrack default */

typedef struct {
    size_t off, len; /* text in the arena */
    double w;
} entry;

typedef struct {
    const char *p; /* the prompt */
    size_t n;
    char *arena;   /* every entry's text, in entry order, so neighbours are contiguous */
    size_t arena_n, arena_cap;
    entry *e;
    size_t ne, ecap;
    size_t *round, *square; /* open brackets: the entry count when they opened */
    size_t nround, nsquare, bcap;
    int oom;
} parser;

static void add_entry(parser *ps, const char *s, size_t len, double w) {
    if (ps->oom) return;
    if (ps->arena_n + len > ps->arena_cap) {
        size_t cap = (ps->arena_n + len) * 2 + 64;
        char *a = realloc(ps->arena, cap);
        if (!a) { ps->oom = 1; return; }
        ps->arena = a, ps->arena_cap = cap;
    }
    if (ps->ne == ps->ecap) {
        size_t cap = ps->ecap ? ps->ecap * 2 : 32;
        entry *e = realloc(ps->e, cap * sizeof *e);
        if (!e) { ps->oom = 1; return; }
        ps->e = e, ps->ecap = cap;
    }
    if (len) memcpy(ps->arena + ps->arena_n, s, len);
    ps->e[ps->ne++] = (entry){ps->arena_n, len, w};
    ps->arena_n += len;
}

static void multiply_from(parser *ps, size_t start, double m) {
    for (size_t i = start; i < ps->ne; i++) ps->e[i].w *= m;
}

static void push_open(parser *ps, size_t **stack, size_t *n) {
    if (ps->nround + ps->nsquare >= ps->bcap) { /* both stacks share one capacity */
        size_t cap = ps->bcap ? ps->bcap * 2 : 16;
        size_t *r = realloc(ps->round, cap * sizeof *r);
        if (r) ps->round = r;
        size_t *s = realloc(ps->square, cap * sizeof *s);
        if (s) ps->square = s;
        if (!r || !s) { ps->oom = 1; return; }
        ps->bcap = cap;
    }
    (*stack)[(*n)++] = ps->ne;
}

/* ---- Python's \s, \w and \d on the UTF-8 prompt ---- */

static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *len) {
    uint32_t c;
    *len = (size_t)iris_utf8_next(s + i, n - i, &c);
    return c;
}

static int py_space(uint32_t c) { return iris_uc_class(c) == IRIS_UC_SPACE || (c >= 0x1c && c <= 0x1f); }

static int py_word(uint32_t c) {
    int k = iris_uc_class(c);
    return k == IRIS_UC_LETTER || k == IRIS_UC_NUMBER || c == '_';
}

/* the code point ending just before byte i (i > 0): back over UTF-8 continuation bytes, then
   decode forward; a bad byte stays one character, as iris_utf8_next reads it */
static uint32_t cp_before(const char *s, size_t i) {
    size_t j = i - 1, len;
    while (j > 0 && i - j < 4 && ((uint8_t)s[j] & 0xc0) == 0x80) j--;
    uint32_t c = cp_at(s, i, j, &len);
    return j + len == i ? c : 0xdc00u + (uint8_t)s[i - 1];
}

/* ---- text: split at \s*\bBREAK\b\s* (re.split, within this run of text only) ---- */

static size_t skip_spaces(const char *s, size_t n, size_t i) {
    size_t len;
    while (i < n && py_space(cp_at(s, n, i, &len))) i += len;
    return i;
}

static void add_text(parser *ps, const char *s, size_t n) {
    size_t part = 0, len;
    for (size_t i = 0; i < n;) {
        size_t b = skip_spaces(s, n, i); /* the match can only start at the first space of a run */
        int ok = n - b >= 5 && !memcmp(s + b, "BREAK", 5) && (b == 0 || !py_word(cp_before(s, b))) &&
                 (b + 5 == n || !py_word(cp_at(s, n, b + 5, &len)));
        if (!ok) {
            i = b > i ? b : i + (size_t)iris_utf8_next(s + i, n - i, &(uint32_t){0});
            continue;
        }
        add_entry(ps, s + part, i - part, 1.0);
        add_entry(ps, "BREAK", 5, -1.0);
        i = part = skip_spaces(s, n, b + 5);
    }
    add_entry(ps, s + part, n - part, 1.0);
}

/* ---- weights: ":" \s* ([+-]?[.\d]+) \s* ")" ---- */

/* length of the weight item at p[i] == ':' (0: none); its number, as Python's float() reads it,
   into *w, or *bad when float() would raise; the number's text is p[*num, j) */
static size_t weight_item(const char *p, size_t n, size_t i, double *w, int *bad, size_t *num_at) {
    size_t j = skip_spaces(p, n, i + 1), len;
    *num_at = j;
    char num[64];
    size_t k = 0;
    int dots = 0, digits = 0, long_num = 0;
    if (j < n && (p[j] == '+' || p[j] == '-')) num[k++] = p[j++];
    for (;;) {
        if (j >= n) return 0;
        uint32_t c = cp_at(p, n, j, &len);
        int d = iris_uc_digit(c);
        if (c != '.' && d < 0) break;
        if (c == '.') dots++;
        else digits++;
        if (k < sizeof num - 8) num[k++] = c == '.' ? '.' : (char)('0' + d);
        else long_num = 1;
        j += len;
    }
    if (!dots && !digits) return 0;
    size_t num_end = j;
    j = skip_spaces(p, n, j);
    if (j >= n || p[j] != ')') return 0;
    *bad = dots > 1 || !digits;
    *w = 0;
    if (!*bad) {
        num[k] = 0;
        if (long_num) { /* more digits than we keep: rare enough to let strtod see them all */
            char *big = malloc(j - i + 2);
            if (!big) { *bad = 1; return j + 1 - i; }
            size_t q = 0;
            for (size_t r = *num_at; r < num_end;) {
                uint32_t c = cp_at(p, n, r, &len);
                if (c == '+' || c == '-' || c == '.') big[q++] = (char)c;
                else if (iris_uc_digit(c) >= 0) big[q++] = (char)('0' + iris_uc_digit(c));
                r += len;
            }
            big[q] = 0;
            char *dp = strchr(big, '.'), *radix = localeconv()->decimal_point;
            if (dp && radix && radix[0] && !radix[1]) *dp = radix[0];
            *w = strtod(big, NULL);
            free(big);
        } else {
            char *dp = strchr(num, '.'), *radix = localeconv()->decimal_point;
            if (dp && radix && radix[0] && !radix[1]) *dp = radix[0]; /* strtod reads the locale's radix */
            *w = strtod(num, NULL);
        }
    }
    return j + 1 - i;
}

/* ---- parse_prompt_attention ---- */

static iris_status parse(parser *ps) {
    const char *p = ps->p;
    size_t n = ps->n;
    for (size_t i = 0; i < n && !ps->oom;) {
        char c = p[i];
        if (c == '\\') {
            int esc = i + 1 < n && strchr("()[]\\", p[i + 1]) && p[i + 1];
            add_entry(ps, p + i + 1, esc ? 1 : 0, 1.0);
            i += esc ? 2 : 1;
        } else if (c == '(') {
            push_open(ps, &ps->round, &ps->nround);
            i++;
        } else if (c == '[') {
            push_open(ps, &ps->square, &ps->nsquare);
            i++;
        } else if (c == ':') {
            double w;
            int bad = 0;
            size_t num = 0, k = weight_item(p, n, i, &w, &bad, &num);
            if (k && ps->nround) {
                if (bad) return iris_fail(IRIS_ERR_ARG, "prompt: emphasis weight at byte %zu is not a number", num);
                multiply_from(ps, ps->round[--ps->nround], w);
            } else {
                add_text(ps, p + i, k ? k : 1);
            }
            i += k ? k : 1;
        } else if (c == ')' && ps->nround) {
            multiply_from(ps, ps->round[--ps->nround], 1.1);
            i++;
        } else if (c == ']' && ps->nsquare) {
            multiply_from(ps, ps->square[--ps->nsquare], 1 / 1.1);
            i++;
        } else if (c == ')' || c == ']') {
            add_text(ps, p + i, 1);
            i++;
        } else {
            size_t e = i;
            while (e < n && !strchr("\\()[]:", p[e])) e++; /* strchr finds the NUL: p[e] is never 0 here */
            add_text(ps, p + i, e - i);
            i = e;
        }
    }
    for (size_t k = 0; k < ps->nround; k++) multiply_from(ps, ps->round[k], 1.1);
    for (size_t k = 0; k < ps->nsquare; k++) multiply_from(ps, ps->square[k], 1 / 1.1);
    if (!ps->ne) add_entry(ps, "", 0, 1.0);
    /* join neighbours of equal weight (their texts are contiguous in the arena) */
    size_t o = 0;
    for (size_t k = 1; k < ps->ne; k++) {
        if (ps->e[k].w == ps->e[o].w) ps->e[o].len += ps->e[k].len;
        else ps->e[++o] = ps->e[k];
    }
    if (ps->ne) ps->ne = o + 1;
    return ps->oom ? iris_fail(IRIS_ERR_NOMEM, "prompt: out of memory") : IRIS_OK;
}

/* ---- tokenize_line: 75-token chunks ---- */

typedef struct {
    int32_t tok[CHUNK];
    float w[CHUNK];
    int n, last_comma;
    iris_clip_chunks *out;
    size_t cap; /* chunks allocated in out */
    int oom;
} chunker;

static void next_chunk(chunker *c) {
    iris_clip_chunks *o = c->out;
    if ((size_t)o->n_chunks == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        int32_t *ids = realloc(o->ids, cap * IRIS_CLIP_CTX * sizeof *ids);
        if (ids) o->ids = ids;
        float *w = realloc(o->weights, cap * IRIS_CLIP_CTX * sizeof *w);
        if (w) o->weights = w;
        if (!ids || !w || cap > (size_t)INT32_MAX / IRIS_CLIP_CTX) { c->oom = 1; return; }
        c->cap = cap;
    }
    int32_t *ids = o->ids + (size_t)o->n_chunks * IRIS_CLIP_CTX;
    float *w = o->weights + (size_t)o->n_chunks * IRIS_CLIP_CTX;
    ids[0] = IRIS_CLIP_BOS, w[0] = 1;
    for (int k = 0; k < CHUNK; k++) {
        ids[1 + k] = k < c->n ? c->tok[k] : IRIS_CLIP_EOS;
        w[1 + k] = k < c->n ? c->w[k] : 1;
    }
    ids[IRIS_CLIP_CTX - 1] = IRIS_CLIP_EOS, w[IRIS_CLIP_CTX - 1] = 1;
    o->n_chunks++;
    c->n = 0;
    c->last_comma = -1;
}

static void add_token(chunker *c, int32_t tok, float w, int32_t comma) {
    if (tok == comma) {
        c->last_comma = c->n;
    } else if (c->n == CHUNK && c->last_comma >= 0 && c->n - c->last_comma <= BACKTRACK) {
        /* full: what follows the last comma moves on to the next chunk */
        int keep = c->last_comma + 1, moved = c->n - keep;
        int32_t tok_moved[CHUNK];
        float w_moved[CHUNK];
        memcpy(tok_moved, c->tok + keep, (size_t)moved * sizeof *tok_moved);
        memcpy(w_moved, c->w + keep, (size_t)moved * sizeof *w_moved);
        c->n = keep;
        next_chunk(c);
        memcpy(c->tok, tok_moved, (size_t)moved * sizeof *tok_moved);
        memcpy(c->w, w_moved, (size_t)moved * sizeof *w_moved);
        c->n = moved;
    }
    if (c->n == CHUNK) next_chunk(c);
    c->tok[c->n] = tok, c->w[c->n] = w;
    c->n++;
}

/* double to float as the hardware (and torch) rounds it, overflow to infinity: a plain cast of
   an out-of-range value is undefined in C */
static float to_float(double w) {
    if (fabs(w) >= 0x1.ffffffp127) return w < 0 ? -INFINITY : INFINITY; /* FLT_MAX + half an ulp */
    if (fabs(w) > FLT_MAX) return w < 0 ? -FLT_MAX : FLT_MAX;
    return (float)w;
}

iris_status iris_clip_prompt_chunks(const iris_clip_tokenizer *t, const char *prompt, int32_t pad_id,
                                    iris_clip_chunks *out) {
    if (!out) return iris_fail(IRIS_ERR_ARG, "iris_clip_prompt_chunks: out is NULL");
    memset(out, 0, sizeof *out);
    if (!t || !prompt) return iris_fail(IRIS_ERR_ARG, "iris_clip_prompt_chunks: NULL argument");
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.p = prompt, ps.n = strlen(prompt);
    ps.arena_cap = ps.n + 1; /* entry texts never add up to more than the prompt */
    ps.arena = malloc(ps.arena_cap);
    if (!ps.arena) return iris_fail(IRIS_ERR_NOMEM, "prompt: out of memory");
    chunker c;
    memset(&c, 0, sizeof c);
    c.out = out, c.last_comma = -1;
    iris_clip_ids ids = {0};
    iris_status st = parse(&ps);
    for (size_t k = 0; k < ps.ne && !st && !c.oom; k++) {
        const entry *e = &ps.e[k];
        if (e->len == 5 && !memcmp(ps.arena + e->off, "BREAK", 5) && e->w == -1) {
            next_chunk(&c);
            continue;
        }
        ids.n = 0;
        st = iris_clip_tokenize_append(t, ps.arena + e->off, e->len, &ids);
        for (size_t i = 0; i < ids.n && !st && !c.oom; i++) add_token(&c, ids.ids[i], to_float(e->w), t->comma);
    }
    if (!st && !c.oom && (c.n || !out->n_chunks)) next_chunk(&c);
    if (!st && c.oom) st = iris_fail(IRIS_ERR_NOMEM, "prompt: out of memory");
    free(ids.ids), free(ps.arena), free(ps.e), free(ps.round), free(ps.square);
    if (st) {
        iris_clip_chunks_free(out);
        return st;
    }
    if (pad_id != IRIS_CLIP_EOS)
        for (int k = 0; k < out->n_chunks; k++) {
            int32_t *row = out->ids + (size_t)k * IRIS_CLIP_CTX;
            int i = 0;
            while (row[i] != IRIS_CLIP_EOS) i++; /* every chunk ends in EOS */
            for (i++; i < IRIS_CLIP_CTX; i++) row[i] = pad_id;
        }
    return IRIS_OK;
}

void iris_clip_chunks_free(iris_clip_chunks *c) {
    if (!c) return;
    free(c->ids);
    free(c->weights);
    memset(c, 0, sizeof *c);
}
