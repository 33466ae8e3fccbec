/* tokenize_bpe.c - byte-level BPE (GPT-2 / Llama 3 style) of one text fragment.

   1. Pre-tokenize: split the text into words with the model's split rules
      (hand-written equivalents of the GPT-2 and Llama 3 regexes).
   2. Map every byte of a word to a printable code point (GPT-2's table: bytes
      that are printable Latin-1 map to themselves, the rest to U+0100 onwards).
   3. Merge adjacent pieces by lowest merge rank (ties: leftmost) until no pair
      is in the merge list; emit each piece's token.
*/
#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "vocab_impl.h"

uint32_t iris_bpe_byte_to_cp(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    /* the 68 others, in byte order, become 256, 257, ... */
    uint32_t k = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174)) k++;
    return 256 + k;
}

int iris_bpe_cp_to_byte(uint32_t cp) {
    if (cp < 256) {
        uint8_t b = (uint8_t)cp;
        return ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) ? b : -1;
    }
    if (cp >= 256 + 68) return -1;
    uint32_t k = 0;
    for (int i = 0; i < 256; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174)) {
            if (k == cp - 256) return i;
            k++;
        }
    return -1;
}

/* ---- pre-tokenizer ---- */

typedef struct {
    const char *s;
    size_t n;
    uint32_t *cp; /* code point at each char index */
    size_t *off;  /* byte offset of each char, off[nc] = n */
    size_t nc;
} chars;

static int cls(const chars *c, size_t i) { return i < c->nc ? iris_uc_class(c->cp[i]) : -1; }
static int is_nl(const chars *c, size_t i) { return i < c->nc && (c->cp[i] == '\r' || c->cp[i] == '\n'); }
static uint32_t lower(uint32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; }

/* 's 't 're 've 'm 'll 'd (any case for Llama 3): length in chars or 0 */
static size_t contraction(const chars *c, size_t i, int any_case) {
    if (c->cp[i] != '\'' || i + 1 >= c->nc) return 0;
    uint32_t a = c->cp[i + 1], b = i + 2 < c->nc ? c->cp[i + 2] : 0;
    if (any_case) a = lower(a), b = lower(b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* whitespace: \s*[\r\n]+ (Llama 3), then \s+(?!\S), then \s+ */
static size_t spaces(const chars *c, size_t i, int llama3) {
    size_t e = i;
    while (cls(c, e) == IRIS_UC_SPACE) e++;
    if (llama3) {
        size_t last_nl = 0;
        int any = 0;
        for (size_t k = i; k < e; k++)
            if (is_nl(c, k)) last_nl = k, any = 1;
        if (any) return last_nl + 1 - i;
    }
    if (e == c->nc || e - i == 1) return e - i;
    return e - i - 1; /* leave the last space to the word after it */
}

/* Length in chars of the word starting at char i. */
static size_t next_word(const chars *c, size_t i, iris_bpe_pre pre) {
    int llama3 = pre == IRIS_PRE_LLAMA3;
    size_t k = contraction(c, i, llama3);
    if (k) return k;
    int ci = cls(c, i);
    if (llama3) {
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        size_t j = i;
        if (ci != IRIS_UC_LETTER && ci != IRIS_UC_NUMBER && !is_nl(c, i) && cls(c, i + 1) == IRIS_UC_LETTER) j++;
        if (cls(c, j) == IRIS_UC_LETTER) {
            while (cls(c, j) == IRIS_UC_LETTER) j++;
            return j - i;
        }
        /* \p{N}{1,3} */
        if (ci == IRIS_UC_NUMBER) {
            j = i;
            while (j < i + 3 && cls(c, j) == IRIS_UC_NUMBER) j++;
            return j - i;
        }
        /* ' '?[^\s\p{L}\p{N}]+[\r\n]* */
        j = i + (c->cp[i] == ' ');
        int o = cls(c, j);
        if (j < c->nc && o == IRIS_UC_OTHER) {
            while (cls(c, j) == IRIS_UC_OTHER) j++;
            while (is_nl(c, j)) j++;
            return j - i;
        }
    } else {
        /* ' '?\p{L}+ | ' '?\p{N}+ | ' '?[^\s\p{L}\p{N}]+ */
        size_t j = i + (c->cp[i] == ' ');
        int o = cls(c, j);
        if (j < c->nc && o != IRIS_UC_SPACE) {
            while (cls(c, j) == o) j++;
            return j - i;
        }
    }
    if (ci == IRIS_UC_SPACE) return spaces(c, i, llama3);
    return 1;
}

/* ---- merging one word ---- */

typedef struct {
    size_t off, n; /* bytes in the mapped word */
    int prev, next;
} piece;

typedef struct {
    int left, right;
    int32_t rank;
    size_t n;
} pair;

static int32_t merge_rank(const iris_vocab *v, const char *w, const piece *a, const piece *b, char **tmp,
                          size_t *tmpcap) {
    size_t need = a->n + 1 + b->n;
    if (need > *tmpcap) {
        char *p = realloc(*tmp, need * 2);
        if (!p) return -2;
        *tmp = p, *tmpcap = need * 2;
    }
    memcpy(*tmp, w + a->off, a->n);
    (*tmp)[a->n] = ' ';
    memcpy(*tmp + a->n + 1, w + b->off, b->n);
    return iris_strmap_get(&v->by_merge, v->merge, v->merge_len, *tmp, need);
}

typedef struct {
    pair *a;
    int n, cap;
} pairq;

static int pair_before(const pair *a, const pair *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int pairq_push(pairq *q, pair x) {
    if (q->n == q->cap) {
        int cap = q->cap ? q->cap * 2 : 32;
        pair *a = realloc(q->a, (size_t)cap * sizeof *a);
        if (!a) return -1;
        q->a = a, q->cap = cap;
    }
    int i = q->n++;
    while (i > 0 && pair_before(&x, &q->a[(i - 1) / 2])) q->a[i] = q->a[(i - 1) / 2], i = (i - 1) / 2;
    q->a[i] = x;
    return 0;
}

static pair pairq_pop(pairq *q) {
    pair top = q->a[0], last = q->a[--q->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && pair_before(&q->a[c + 1], &q->a[c])) c++;
        if (!pair_before(&q->a[c], &last)) break;
        q->a[i] = q->a[c], i = c;
    }
    if (q->n) q->a[i] = last;
    return top;
}

/* queues (a, b) if "a b" is a merge; nonzero when out of memory */
static int queue_pair(const iris_vocab *v, const char *w, const piece *p, int a, int b, pairq *q, char **tmp,
                      size_t *tmpcap) {
    int32_t r = merge_rank(v, w, &p[a], &p[b], tmp, tmpcap);
    if (r == -2) return 1;
    if (r < 0) return 0;
    return pairq_push(q, (pair){a, b, r, p[a].n + p[b].n}) ? 1 : 0;
}

static void bpe_word(const iris_vocab *v, const char *w, size_t wn, iris_idbuf *out, char **tmp, size_t *tmpcap) {
    if (v->pre == IRIS_PRE_LLAMA3) { /* whole words that are tokens skip the merges */
        int32_t id = iris_vocab_find(v, w, wn);
        if (id >= 0) { iris_idbuf_push(out, id); return; }
    }
    size_t np = 0;
    piece *p = malloc(wn * sizeof *p);
    if (!p) { out->oom = 1; return; }
    for (size_t i = 0; i < wn;) {
        uint32_t cp;
        int l = iris_utf8_next(w + i, wn - i, &cp);
        p[np] = (piece){i, (size_t)l, (int)np - 1, i + (size_t)l < wn ? (int)np + 1 : -1};
        np++;
        i += (size_t)l;
    }
    /* queue of adjacent pairs that are merges, lowest rank first (ties: leftmost);
       a pair whose pieces changed since it was queued is skipped when it comes up */
    pairq q = {0};
    int err = 0;
    for (int i = 0; i + 1 < (int)np && !err; i++) err = queue_pair(v, w, p, i, i + 1, &q, tmp, tmpcap);
    while (q.n && !err) {
        pair b = pairq_pop(&q);
        piece *l = &p[b.left], *r = &p[b.right];
        if (!l->n || !r->n || l->next != b.right || l->n + r->n != b.n) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) p[r->next].prev = b.left;
        if (l->prev >= 0) err |= queue_pair(v, w, p, l->prev, b.left, &q, tmp, tmpcap);
        if (l->next >= 0) err |= queue_pair(v, w, p, b.left, l->next, &q, tmp, tmpcap);
    }
    free(q.a);
    if (err) { out->oom = 1; free(p); return; }
    for (int i = 0; i >= 0; i = p[i].next) {
        int32_t id = iris_vocab_find(v, w + p[i].off, p[i].n);
        if (id >= 0) { iris_idbuf_push(out, id); continue; }
        /* not a token: each single byte that is one (as llama.cpp does), the rest dropped */
        for (size_t k = 0; k < p[i].n; k++) {
            id = iris_vocab_find(v, w + p[i].off + k, 1);
            if (id >= 0) iris_idbuf_push(out, id);
        }
    }
    free(p);
}

void iris_bpe_tokenize(const iris_vocab *v, const char *text, size_t len, iris_idbuf *out) {
    if (!len) return;
    chars c = {text, len, malloc(len * sizeof(uint32_t)), malloc((len + 1) * sizeof(size_t)), 0};
    char *w = malloc(len * 2 + 4), *tmp = NULL;
    size_t tmpcap = 0;
    if (!c.cp || !c.off || !w) { out->oom = 1; goto done; }
    for (size_t i = 0; i < len;) {
        c.off[c.nc] = i;
        i += (size_t)iris_utf8_next(text + i, len - i, &c.cp[c.nc]);
        c.nc++;
    }
    c.off[c.nc] = len;
    for (size_t i = 0; i < c.nc && !out->oom;) {
        size_t k = next_word(&c, i, v->pre);
        /* map the word's bytes to code points, as UTF-8 */
        size_t wn = 0;
        for (size_t b = c.off[i]; b < c.off[i + k]; b++) wn += (size_t)iris_utf8_put(iris_bpe_byte_to_cp((uint8_t)text[b]), w + wn);
        bpe_word(v, w, wn, out, &tmp, &tmpcap);
        i += k;
    }
done:
    free(c.cp), free(c.off), free(w), free(tmp);
}
