/* tokenize_spm.c - SentencePiece-style tokenization of one text fragment.

   Start from single UTF-8 characters; repeatedly merge the adjacent pair whose
   concatenation is a vocabulary token with the highest score (ties: the leftmost
   pair); then emit each remaining piece as its token, or as <0xXX> byte tokens
   when the piece is not in the vocabulary (unknown token if even those are missing).
   The caller has already turned spaces into U+2581 and added the prefix space.
*/
#include <stdlib.h>

#include "vocab_impl.h"

typedef struct {
    const char *text;
    size_t n;
    int prev, next; /* -1 at the ends */
} symbol;

typedef struct {
    int left, right;
    float score;
    size_t n; /* length of the merged text when the pair was queued */
} bigram;

typedef struct {
    bigram *a;
    int n, cap;
} heap;

/* a before b when it has the higher score, or the same score and lies further left */
static int before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(heap *h, bigram b) {
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        bigram *p = realloc(h->a, (size_t)cap * sizeof *p);
        if (!p) return -1;
        h->a = p, h->cap = cap;
    }
    int i = h->n++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!before(&b, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = b;
    return 0;
}

static bigram heap_pop(heap *h) {
    bigram top = h->a[0], last = h->a[--h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->a[c + 1], &h->a[c])) c++;
        if (!before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

static int try_pair(const iris_vocab *v, const symbol *s, int left, int right, heap *h) {
    if (left < 0 || right < 0) return 0;
    size_t n = s[left].n + s[right].n;
    int32_t id = iris_vocab_find(v, s[left].text, n);
    if (id < 0) return 0;
    return heap_push(h, (bigram){left, right, v->score[id], n});
}

static void emit(const iris_vocab *v, const char *text, size_t n, iris_idbuf *out) {
    int32_t id = iris_vocab_find(v, text, n);
    if (id >= 0) {
        iris_idbuf_push(out, id);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t b = v->byte_tok[(uint8_t)text[i]];
        iris_idbuf_push(out, b >= 0 ? b : v->unk >= 0 ? v->unk : 0);
    }
}

void iris_spm_tokenize(const iris_vocab *v, const char *text, size_t len, iris_idbuf *out) {
    if (!len) return;
    symbol *s = malloc(len * sizeof *s);
    heap h = {0};
    if (!s) { out->oom = 1; return; }
    int n = 0;
    for (size_t i = 0; i < len;) {
        /* character length from the lead byte, as SentencePiece does (clamped at the end) */
        uint8_t c = (uint8_t)text[i];
        size_t cl = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        if (cl > len - i) cl = len - i;
        s[n] = (symbol){text + i, cl, n - 1, i + cl < len ? n + 1 : -1};
        n++;
        i += cl;
    }
    int err = 0;
    for (int i = 1; i < n; i++) err |= try_pair(v, s, i - 1, i, &h);
    while (h.n && !err) {
        bigram b = heap_pop(&h);
        symbol *l = &s[b.left], *r = &s[b.right];
        /* stale: one side was merged away or grew since the pair was queued */
        if (!l->n || !r->n || l->n + r->n != b.n) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        err |= try_pair(v, s, l->prev, b.left, &h);
        err |= try_pair(v, s, b.left, l->next, &h);
    }
    if (err) out->oom = 1;
    for (int i = 0; i >= 0 && !err; i = s[i].next) emit(v, s[i].text, s[i].n, out);
    free(h.a);
    free(s);
}
