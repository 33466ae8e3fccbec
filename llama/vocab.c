/* vocab.c - building a vocabulary, lookups, special-token splitting, pieces. */
#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "vocab_impl.h"

/* ---- string hash ---- */

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int strmap_build(iris_strmap *m, char *const *keys, const uint32_t *lens, int32_t n, int first_wins) {
    uint32_t cap = 16;
    while (cap < (uint32_t)n * 2u) cap <<= 1;
    m->cap = cap;
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return -1;
    memset(m->slot, 0xff, cap * sizeof *m->slot);
    for (int32_t i = 0; i < n; i++) {
        uint32_t h = hash_bytes(keys[i], lens[i]) & (cap - 1);
        for (;;) {
            int32_t j = m->slot[h];
            if (j < 0) { m->slot[h] = i; break; }
            if (lens[j] == lens[i] && !memcmp(keys[j], keys[i], lens[i])) {
                if (!first_wins) m->slot[h] = i;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
    return 0;
}

int32_t iris_strmap_get(const iris_strmap *m, char *const *keys, const uint32_t *lens, const char *s, size_t n) {
    if (!m->slot) return -1;
    uint32_t h = hash_bytes(s, n) & (m->cap - 1);
    for (;;) {
        int32_t j = m->slot[h];
        if (j < 0) return -1;
        if (lens[j] == n && !memcmp(keys[j], s, n)) return j;
        h = (h + 1) & (m->cap - 1);
    }
}

void iris_idbuf_push(iris_idbuf *b, int32_t id) {
    if (b->oom) return;
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        int32_t *p = realloc(b->ids, (size_t)cap * sizeof *p);
        if (!p) { b->oom = 1; return; }
        b->ids = p, b->cap = cap;
    }
    b->ids[b->n++] = id;
}

/* ---- building ---- */

iris_vocab_desc iris_vocab_default_desc(void) {
    iris_vocab_desc d;
    memset(&d, 0, sizeof d);
    d.kind = IRIS_VOCAB_SPM;
    d.bos = d.eos = d.eot = d.unk = d.pad = -1;
    d.add_bos = 1;
    d.add_space_prefix = 1;
    return d;
}

void iris_vocab_free(iris_vocab *v) {
    if (!v) return;
    if (v->text)
        for (int32_t i = 0; i < v->n; i++) free(v->text[i]);
    if (v->merge)
        for (int32_t i = 0; i < v->n_merges; i++) free(v->merge[i]);
    free(v->text), free(v->len), free(v->score), free(v->type);
    free(v->merge), free(v->merge_len);
    free(v->by_text.slot), free(v->by_merge.slot);
    free(v->special);
    free(v);
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n), p[n] = 0;
    return p;
}

static int cmp_special_len(const void *a, const void *b, void *vv) {
    const iris_vocab *v = vv;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->len[x] != v->len[y]) return v->len[x] > v->len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int id_ok(const iris_vocab *v, int32_t id) { return id >= 0 && id < v->n; }

iris_status iris_vocab_new(iris_vocab **out, const iris_vocab_desc *d) {
    *out = NULL;
    if (d->kind != IRIS_VOCAB_SPM && d->kind != IRIS_VOCAB_BPE)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "vocab: unknown tokenizer kind %d", (int)d->kind);
    if (d->n_tokens <= 0 || d->n_tokens > (1 << 24) || !d->tokens)
        return iris_fail(IRIS_ERR_FORMAT, "vocab: %d tokens", (int)d->n_tokens);
    if (d->n_merges < 0 || (d->n_merges && !d->merges))
        return iris_fail(IRIS_ERR_FORMAT, "vocab: %d merges", (int)d->n_merges);
    iris_vocab *v = calloc(1, sizeof *v);
    if (!v) return iris_fail(IRIS_ERR_NOMEM, "vocab: out of memory");
    int32_t n = d->n_tokens;
    v->kind = d->kind;
    v->n = n;
    v->text = calloc((size_t)n, sizeof *v->text);
    v->len = calloc((size_t)n, sizeof *v->len);
    v->score = calloc((size_t)n, sizeof *v->score);
    v->type = calloc((size_t)n, sizeof *v->type);
    if (!v->text || !v->len || !v->score || !v->type) goto oom;
    for (int32_t i = 0; i < n; i++) {
        const char *s = d->tokens[i] ? d->tokens[i] : "";
        size_t len = d->token_len ? d->token_len[i] : strlen(s);
        v->text[i] = dup_bytes(s, len);
        if (!v->text[i]) goto oom;
        v->len[i] = (uint32_t)len;
        v->score[i] = d->scores ? d->scores[i] : 0.0f;
        v->type[i] = d->types ? d->types[i] : IRIS_TOKEN_NORMAL;
    }
    /* the first token with a given text wins, as in llama.cpp's text->id map */
    if (strmap_build(&v->by_text, v->text, v->len, n, 1)) goto oom;
    if (d->n_merges) {
        v->n_merges = d->n_merges;
        v->merge = calloc((size_t)d->n_merges, sizeof *v->merge);
        v->merge_len = calloc((size_t)d->n_merges, sizeof *v->merge_len);
        if (!v->merge || !v->merge_len) goto oom;
        for (int32_t i = 0; i < d->n_merges; i++) {
            const char *s = d->merges[i] ? d->merges[i] : "";
            v->merge_len[i] = (uint32_t)strlen(s);
            v->merge[i] = dup_bytes(s, v->merge_len[i]);
            if (!v->merge[i]) goto oom;
        }
        if (strmap_build(&v->by_merge, v->merge, v->merge_len, d->n_merges, 1)) goto oom;
    }
    v->bos = d->bos, v->eos = d->eos, v->eot = d->eot, v->unk = d->unk, v->pad = d->pad;
    if (!id_ok(v, v->bos)) v->bos = -1;
    if (!id_ok(v, v->eos)) v->eos = -1;
    if (!id_ok(v, v->eot)) v->eot = -1;
    if (!id_ok(v, v->unk)) v->unk = -1;
    if (!id_ok(v, v->pad)) v->pad = -1;
    v->add_bos = d->add_bos && v->bos >= 0;
    v->add_eos = d->add_eos && v->eos >= 0;
    v->add_space_prefix = d->add_space_prefix;
    v->pre = d->pre;
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int len;
        if (v->kind == IRIS_VOCAB_SPM) {
            static const char hex[] = "0123456789ABCDEF";
            memcpy(buf, "<0x", 3);
            buf[3] = hex[b >> 4], buf[4] = hex[b & 15], buf[5] = '>';
            len = 6;
        } else {
            len = iris_utf8_put(iris_bpe_byte_to_cp((uint8_t)b), buf);
        }
        v->byte_tok[b] = iris_vocab_find(v, buf, (size_t)len);
    }
    for (int32_t i = 0; i < n; i++)
        if ((v->type[i] == IRIS_TOKEN_CONTROL || v->type[i] == IRIS_TOKEN_USER_DEFINED ||
             v->type[i] == IRIS_TOKEN_UNKNOWN) && v->len[i])
            v->n_special++;
    if (v->n_special) {
        v->special = malloc((size_t)v->n_special * sizeof *v->special);
        if (!v->special) goto oom;
        int32_t k = 0;
        for (int32_t i = 0; i < n; i++)
            if ((v->type[i] == IRIS_TOKEN_CONTROL || v->type[i] == IRIS_TOKEN_USER_DEFINED ||
                 v->type[i] == IRIS_TOKEN_UNKNOWN) && v->len[i])
                v->special[k++] = i;
        qsort_r(v->special, (size_t)k, sizeof *v->special, cmp_special_len, v);
    }
    *out = v;
    return IRIS_OK;
oom:
    iris_vocab_free(v);
    return iris_fail(IRIS_ERR_NOMEM, "vocab: out of memory for %d tokens", (int)n);
}

/* ---- lookups ---- */

int32_t iris_vocab_size(const iris_vocab *v) { return v->n; }
iris_vocab_kind iris_vocab_kind_of(const iris_vocab *v) { return v->kind; }
int32_t iris_vocab_bos(const iris_vocab *v) { return v->bos; }
int32_t iris_vocab_eos(const iris_vocab *v) { return v->eos; }
int iris_vocab_is_eog(const iris_vocab *v, int32_t id) { return id >= 0 && (id == v->eos || id == v->eot); }

int32_t iris_vocab_find(const iris_vocab *v, const char *text, size_t len) {
    return iris_strmap_get(&v->by_text, v->text, v->len, text, len);
}

const char *iris_vocab_text(const iris_vocab *v, int32_t id, uint32_t *len) {
    if (!id_ok(v, id)) return NULL;
    if (len) *len = v->len[id];
    return v->text[id];
}

int32_t iris_vocab_type(const iris_vocab *v, int32_t id) { return id_ok(v, id) ? v->type[id] : 0; }

/* ---- tokenize: split off special tokens, then the kind's tokenizer per text fragment ---- */

typedef struct {
    int32_t tok; /* -1: text [off, off+len) */
    size_t off, len;
} fragment;

typedef struct {
    fragment *f;
    int n, cap;
} fraglist;

static int frag_push(fraglist *l, int32_t tok, size_t off, size_t len) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        fragment *p = realloc(l->f, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->f = p, l->cap = cap;
    }
    l->f[l->n++] = (fragment){tok, off, len};
    return 0;
}

/* Longest special texts first, each splitting every text fragment at its occurrences
   (user-defined tokens always; control tokens only when asked to parse them). */
static int split_special(const iris_vocab *v, const char *text, int parse_special, fraglist *l) {
    for (int32_t s = 0; s < v->n_special; s++) {
        int32_t id = v->special[s];
        if (!parse_special && v->type[id] != IRIS_TOKEN_USER_DEFINED) continue;
        const char *st = v->text[id];
        size_t sl = v->len[id];
        fraglist nl = {0};
        for (int i = 0; i < l->n; i++) {
            fragment f = l->f[i];
            if (f.tok >= 0 || f.len < sl) {
                if (frag_push(&nl, f.tok, f.off, f.len)) goto oom;
                continue;
            }
            size_t pos = f.off, end = f.off + f.len;
            while (pos < end) {
                const char *hit = memmem(text + pos, end - pos, st, sl);
                if (!hit) {
                    if (frag_push(&nl, -1, pos, end - pos)) goto oom;
                    break;
                }
                size_t h = (size_t)(hit - text);
                if (h > pos && frag_push(&nl, -1, pos, h - pos)) goto oom;
                if (frag_push(&nl, id, h, sl)) goto oom;
                pos = h + sl;
            }
            continue;
        oom:
            free(nl.f);
            return -1;
        }
        free(l->f);
        *l = nl;
    }
    return 0;
}

iris_status iris_tokenize(const iris_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                          int32_t **ids, int *n) {
    *ids = NULL, *n = 0;
    if (len > (size_t)1 << 28) return iris_fail(IRIS_ERR_ARG, "tokenize: text of %zu bytes is too long", len);
    fraglist l = {0};
    iris_idbuf out = {0};
    if (len && frag_push(&l, -1, 0, len)) goto oom;
    if (v->n_special && split_special(v, text, parse_special, &l)) goto oom;
    if (add_special && v->add_bos) iris_idbuf_push(&out, v->bos);
    if (v->kind == IRIS_VOCAB_SPM) {
        int prev_special = 1;
        char *buf = NULL;
        size_t cap = 0;
        for (int i = 0; i < l.n; i++) {
            fragment f = l.f[i];
            if (f.tok >= 0) {
                iris_idbuf_push(&out, f.tok);
                prev_special = 1;
                continue;
            }
            /* a leading space (after BOS or a special token), then every ' ' as U+2581 */
            size_t need = 3 * (f.len + 1);
            if (need > cap) {
                char *p = realloc(buf, need);
                if (!p) { free(buf); goto oom; }
                buf = p, cap = need;
            }
            size_t m = 0;
            const char *src = text + f.off;
            if (v->add_space_prefix && prev_special) memcpy(buf + m, "\xe2\x96\x81", 3), m += 3;
            for (size_t k = 0; k < f.len; k++) {
                if (src[k] == ' ') memcpy(buf + m, "\xe2\x96\x81", 3), m += 3;
                else buf[m++] = src[k];
            }
            iris_spm_tokenize(v, buf, m, &out);
            prev_special = 0;
        }
        free(buf);
    } else {
        for (int i = 0; i < l.n; i++) {
            if (l.f[i].tok >= 0) iris_idbuf_push(&out, l.f[i].tok);
            else iris_bpe_tokenize(v, text + l.f[i].off, l.f[i].len, &out);
        }
    }
    if (add_special && v->add_eos) iris_idbuf_push(&out, v->eos);
    free(l.f);
    if (out.oom) { free(out.ids); return iris_fail(IRIS_ERR_NOMEM, "tokenize: out of memory"); }
    if (!out.ids) { /* empty result: still hand back a valid pointer */
        out.ids = malloc(sizeof *out.ids);
        if (!out.ids) return iris_fail(IRIS_ERR_NOMEM, "tokenize: out of memory");
    }
    *ids = out.ids, *n = out.n;
    return IRIS_OK;
oom:
    free(l.f);
    free(out.ids);
    return iris_fail(IRIS_ERR_NOMEM, "tokenize: out of memory");
}

/* ---- pieces ---- */

static int put(char *buf, int size, int at, const char *s, int n) {
    for (int i = 0; i < n; i++)
        if (at + i < size) buf[at + i] = s[i];
    return at + n;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int iris_token_piece(const iris_vocab *v, int32_t id, char *buf, int size, int special) {
    if (!id_ok(v, id)) return -1;
    const char *t = v->text[id];
    int n = (int)v->len[id];
    switch (v->type[id]) {
    case IRIS_TOKEN_CONTROL:
        return special ? put(buf, size, 0, t, n) : 0;
    case IRIS_TOKEN_UNKNOWN:
        return v->kind == IRIS_VOCAB_SPM ? put(buf, size, 0, "\xe2\x96\x85", 3) : put(buf, size, 0, t, n);
    case IRIS_TOKEN_USER_DEFINED:
        return put(buf, size, 0, t, n);
    case IRIS_TOKEN_BYTE:
        if (v->kind == IRIS_VOCAB_SPM && n == 6 && hexval(t[3]) >= 0 && hexval(t[4]) >= 0) {
            char b = (char)(hexval(t[3]) * 16 + hexval(t[4]));
            return put(buf, size, 0, &b, 1);
        }
        break;
    default:
        break;
    }
    int at = 0;
    if (v->kind == IRIS_VOCAB_SPM) {
        for (int i = 0; i < n;) {
            if (i + 3 <= n && !memcmp(t + i, "\xe2\x96\x81", 3)) at = put(buf, size, at, " ", 1), i += 3;
            else at = put(buf, size, at, t + i, 1), i++;
        }
    } else {
        for (int i = 0; i < n;) {
            uint32_t cp;
            int l = iris_utf8_next(t + i, (size_t)(n - i), &cp);
            int b = iris_bpe_cp_to_byte(cp);
            if (b >= 0) {
                char c = (char)b;
                at = put(buf, size, at, &c, 1);
            } else {
                at = put(buf, size, at, t + i, l);
            }
            i += l;
        }
    }
    return at;
}

iris_status iris_detokenize(const iris_vocab *v, const int32_t *ids, int n, int special, int remove_prefix,
                            char **out, size_t *len) {
    size_t cap = 64, m = 0;
    char *s = malloc(cap);
    if (!s) return iris_fail(IRIS_ERR_NOMEM, "detokenize: out of memory");
    for (int i = 0; i < n; i++) {
        int need = iris_token_piece(v, ids[i], NULL, 0, special);
        if (need < 0) {
            free(s);
            return iris_fail(IRIS_ERR_ARG, "detokenize: token id %d out of range (vocabulary of %d)", (int)ids[i],
                             (int)v->n);
        }
        if (m + (size_t)need + 1 > cap) {
            while (m + (size_t)need + 1 > cap) cap *= 2;
            char *p = realloc(s, cap);
            if (!p) { free(s); return iris_fail(IRIS_ERR_NOMEM, "detokenize: out of memory"); }
            s = p;
        }
        iris_token_piece(v, ids[i], s + m, need, special);
        m += (size_t)need;
    }
    s[m] = 0;
    if (remove_prefix && v->kind == IRIS_VOCAB_SPM && v->add_space_prefix && m && s[0] == ' ') {
        memmove(s, s + 1, m);
        m--;
    }
    *out = s;
    if (len) *len = m;
    return IRIS_OK;
}
