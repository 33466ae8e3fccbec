/* tokenizer.c - text to CLIP token ids, as Hugging Face's CLIPTokenizer (transformers 4.44,
   the Python one) gives them.

   Hugging Face cleans the text with ftfy when it is installed and with BERT's BasicTokenizer
   otherwise; the two differ (ftfy repairs mojibake, BasicTokenizer drops control characters
   and applies NFC). We copy the BasicTokenizer path, the one a plain `pip install transformers`
   runs, and the one diffusers and A1111 (SD 1.x) get unless ftfy happens to be there:

   1. "<|startoftext|>" / "<|endoftext|>" written exactly so are split off first (added tokens).
   2. Per remaining piece: drop NUL, U+FFFD and category C except \t \n \r (bytes that are
      not UTF-8 too: Python would have decoded them to U+FFFD); whitespace (those three and Zs)
      becomes ' '; spaces go around CJK ideographs; NFC; split at whitespace; str.lower() per word.
   3. Split each word with CLIP's regex (case-insensitive)
          <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
      and BPE each match: its bytes as GPT-2's code points, "</w>" on the last one, then merge
      adjacent pieces, lowest rank first (a priority queue; ties: leftmost).
*/
#include <stdlib.h>
#include <string.h>

#include "../llama/unicode.h"
#include "tokenizer_impl.h"

int iris_clip_ids_push(iris_clip_ids *b, int32_t id) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *p = realloc(b->ids, cap * sizeof *p);
        if (!p) return 1;
        b->ids = p, b->cap = cap;
    }
    b->ids[b->n++] = id;
    return 0;
}

/* Scratch buffers reused across the words of one call. */
typedef struct {
    uint32_t *clean, *nfc, *lower; /* code points after steps 2a, 2b, 2c */
    size_t lower_cap;
    char *bytes;                   /* one regex match as UTF-8 */
    size_t bytes_cap;
    struct piece { int32_t id; int prev, next; } *piece;
    size_t piece_cap;
    struct cand { int32_t rank; int left, right; int32_t lid, rid; } *heap;
    size_t heap_n, heap_cap;
    int oom;
} work;

static void *grow(void *p, size_t *cap, size_t need, size_t size, int *oom) {
    if (need <= *cap) return p;
    size_t c = need * 2;
    void *q = realloc(p, c * size);
    if (!q) { *oom = 1; return p; }
    *cap = c;
    return q;
}

/* ---- BPE of one match ---- */

static int cand_before(const struct cand *a, const struct cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(work *w, struct cand c) {
    w->heap = grow(w->heap, &w->heap_cap, w->heap_n + 1, sizeof *w->heap, &w->oom);
    if (w->oom) return;
    size_t i = w->heap_n++;
    while (i > 0 && cand_before(&c, &w->heap[(i - 1) / 2])) w->heap[i] = w->heap[(i - 1) / 2], i = (i - 1) / 2;
    w->heap[i] = c;
}

static struct cand heap_pop(work *w) {
    struct cand top = w->heap[0], last = w->heap[--w->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->heap_n) break;
        if (c + 1 < w->heap_n && cand_before(&w->heap[c + 1], &w->heap[c])) c++;
        if (!cand_before(&w->heap[c], &last)) break;
        w->heap[i] = w->heap[c], i = c;
    }
    if (w->heap_n) w->heap[i] = last;
    return top;
}

static void queue_pair(const iris_clip_tokenizer *t, work *w, int left, int right) {
    int32_t lid = w->piece[left].id, rid = w->piece[right].id;
    int32_t r = iris_clip_merge_rank(t, lid, rid);
    if (r >= 0) heap_push(w, (struct cand){r, left, right, lid, rid});
}

/* Every merge makes a new, longer symbol from earlier ones (tokenizer_load.c checks it), so a
   pair a merge creates always ranks after the merge: taking the lowest rank from the queue, the
   leftmost first, gives the same pieces as Hugging Face's loop (merge every occurrence of the
   best pair, repeat). */
static void bpe(const iris_clip_tokenizer *t, work *w, const uint8_t *s, size_t n, iris_clip_ids *out) {
    w->piece = grow(w->piece, &w->piece_cap, n, sizeof *w->piece, &w->oom);
    if (w->oom) return;
    struct piece *p = w->piece;
    for (size_t i = 0; i < n; i++)
        p[i] = (struct piece){i + 1 < n ? t->byte_id[s[i]] : t->byte_end_id[s[i]], (int)i - 1, i + 1 < n ? (int)i + 1 : -1};
    w->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) queue_pair(t, w, (int)i, (int)i + 1);
    while (w->heap_n && !w->oom) {
        struct cand c = heap_pop(w);
        struct piece *l = &p[c.left], *r = &p[c.right];
        if (l->id != c.lid || r->id != c.rid || l->next != c.right) continue; /* changed since queued */
        l->id = 2 * 256 + c.rank;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) p[r->next].prev = c.left;
        if (l->prev >= 0) queue_pair(t, w, l->prev, c.left);
        if (l->next >= 0) queue_pair(t, w, c.left, l->next);
    }
    for (int i = 0; i >= 0 && !w->oom; i = p[i].next)
        if (iris_clip_ids_push(out, p[i].id)) w->oom = 1;
}

/* ---- CLIP's split regex over one lower-cased word (no whitespace in it) ---- */

enum { C_OTHER, C_LETTER, C_NUMBER, C_NONE };

/* the regex's classes: U+0345 (a mark whose case partners are letters) matches no branch */
static int clip_class(uint32_t cp) {
    if (cp == 0x345) return C_NONE;
    int c = iris_uc_class(cp);
    return c == IRIS_UC_LETTER ? C_LETTER : c == IRIS_UC_NUMBER ? C_NUMBER : c == IRIS_UC_SPACE ? C_NONE : C_OTHER;
}

/* case-insensitive match of an ASCII letter, as the regex module does: 's' also matches U+017F */
static int ci(uint32_t cp, char a) {
    if (cp == (uint32_t)a) return 1;
    if (a >= 'a' && a <= 'z' && cp == (uint32_t)(a - 32)) return 1;
    return a == 's' && cp == 0x17f;
}

static size_t match_lit(const uint32_t *s, size_t n, const char *lit) {
    size_t k = 0;
    for (; lit[k]; k++)
        if (k >= n || !ci(s[k], lit[k])) return 0;
    return k;
}

/* length of the regex's match at s[0] (0: none, skip one character) */
static size_t next_match(const uint32_t *s, size_t n) {
    static const char *lits[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t i = 0; i < sizeof lits / sizeof *lits; i++) {
        size_t k = match_lit(s, n, lits[i]);
        if (k) return k;
    }
    int c = clip_class(s[0]);
    if (c == C_NONE) return 0;
    if (c == C_NUMBER) return 1;
    size_t k = 1;
    while (k < n && clip_class(s[k]) == c) k++;
    return k;
}

static void encode_word(const iris_clip_tokenizer *t, work *w, const uint32_t *s, size_t n, iris_clip_ids *out) {
    for (size_t i = 0; i < n && !w->oom;) {
        size_t k = next_match(s + i, n - i);
        if (!k) { i++; continue; }
        w->bytes = grow(w->bytes, &w->bytes_cap, k * 4, 1, &w->oom);
        if (w->oom) return;
        size_t nb = 0;
        for (size_t j = 0; j < k; j++) nb += (size_t)iris_utf8_put(s[i + j], w->bytes + nb);
        /* a special token written exactly is one token (Hugging Face's BPE cache holds it);
           "<|ſtartoftext|>" matches the branch too but is BPE'd as a word */
        if (nb == 15 && !memcmp(w->bytes, "<|startoftext|>", 15)) {
            if (iris_clip_ids_push(out, IRIS_CLIP_BOS)) w->oom = 1;
        } else if (nb == 13 && !memcmp(w->bytes, "<|endoftext|>", 13)) {
            if (iris_clip_ids_push(out, IRIS_CLIP_EOS)) w->oom = 1;
        } else {
            bpe(t, w, (const uint8_t *)w->bytes, nb, out);
        }
        i += k;
    }
}

/* ---- BasicTokenizer's cleanup of one piece of text ---- */

static int cjk(uint32_t c) { /* BERT's "Chinese characters": CJK ideograph blocks */
    return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x20000 && c <= 0x2a6df) ||
           (c >= 0x2a700 && c <= 0x2b73f) || (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

/* Python's str.split() whitespace */
static int py_space(uint32_t c) { return iris_uc_class(c) == IRIS_UC_SPACE || (c >= 0x1c && c <= 0x1f); }

static void encode_piece(const iris_clip_tokenizer *t, work *w, const char *text, size_t len, iris_clip_ids *out) {
    /* 2a. decode, drop controls, whitespace to ' ', spaces around CJK (a CJK ideograph is 3 or 4
           bytes, so there are at most as many code points as bytes) */
    free(w->clean);
    w->clean = malloc((len + 1) * sizeof *w->clean);
    if (!w->clean) { w->oom = 1; return; }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        i += (size_t)iris_utf8_next(text + i, len - i, &c); /* a bad byte decodes as a surrogate: category C */
        if (c == '\t' || c == '\n' || c == '\r' || iris_uc_is_zs(c)) w->clean[n++] = ' ';
        else if (c == 0 || c == 0xfffd || iris_uc_is_control(c)) continue;
        else if (cjk(c)) w->clean[n++] = ' ', w->clean[n++] = c, w->clean[n++] = ' ';
        else w->clean[n++] = c;
    }
    /* 2b. NFC (at most 4 code points out per one in) */
    free(w->nfc);
    w->nfc = malloc((4 * n + 1) * sizeof *w->nfc);
    if (!w->nfc) { w->oom = 1; return; }
    size_t m = iris_uc_nfc(w->clean, n, w->nfc);
    /* 2c. each whitespace-separated word lower-cased on its own, then split and BPE'd */
    for (size_t i = 0; i < m && !w->oom;) {
        if (py_space(w->nfc[i])) { i++; continue; }
        size_t e = i;
        while (e < m && !py_space(w->nfc[e])) e++;
        w->lower = grow(w->lower, &w->lower_cap, 2 * (e - i), sizeof *w->lower, &w->oom);
        if (w->oom) return;
        size_t k = iris_uc_lower(w->nfc + i, e - i, w->lower);
        encode_word(t, w, w->lower, k, out);
        i = e;
    }
}

iris_status iris_clip_tokenize_append(const iris_clip_tokenizer *t, const char *text, size_t len, iris_clip_ids *out) {
    work w;
    memset(&w, 0, sizeof w);
    size_t start = 0;
    for (size_t i = 0; i < len && !w.oom;) { /* 1. the special tokens as written */
        int32_t sp = -1;
        size_t k = 0;
        if (text[i] == '<' && len - i >= 13) {
            if (len - i >= 15 && !memcmp(text + i, "<|startoftext|>", 15)) sp = IRIS_CLIP_BOS, k = 15;
            else if (!memcmp(text + i, "<|endoftext|>", 13)) sp = IRIS_CLIP_EOS, k = 13;
        }
        if (sp < 0) { i++; continue; }
        encode_piece(t, &w, text + start, i - start, out);
        if (!w.oom && iris_clip_ids_push(out, sp)) w.oom = 1;
        i += k;
        start = i;
    }
    if (!w.oom) encode_piece(t, &w, text + start, len - start, out);
    free(w.clean), free(w.nfc), free(w.lower), free(w.bytes), free(w.piece), free(w.heap);
    return w.oom ? iris_fail(IRIS_ERR_NOMEM, "CLIP tokenizer: out of memory") : IRIS_OK;
}

iris_status iris_clip_tokenize(const iris_clip_tokenizer *t, const char *text, int32_t **ids, int *n) {
    if (!t || !text || !ids || !n) return iris_fail(IRIS_ERR_ARG, "iris_clip_tokenize: NULL argument");
    *ids = NULL, *n = 0;
    iris_clip_ids b = {0};
    iris_status st = iris_clip_tokenize_append(t, text, strlen(text), &b);
    if (!st && b.n > (size_t)INT32_MAX) st = iris_fail(IRIS_ERR_ARG, "iris_clip_tokenize: text too long");
    if (!st && !b.ids && !(b.ids = malloc(sizeof *b.ids))) st = iris_fail(IRIS_ERR_NOMEM, "CLIP tokenizer: out of memory");
    if (st) {
        free(b.ids);
        return st;
    }
    *ids = b.ids, *n = (int)b.n;
    return IRIS_OK;
}
