/* tokenizer_load.c - CLIP's vocabulary, built from its merge list.

   The list fixes the whole vocabulary (CLIP's rule, which vocab.json files follow): the 256
   byte symbols in GPT-2's order, the same 256 + "</w>", the concatenation of each merge in rank
   order, then <|startoftext|> and <|endoftext|>. So the built-in list (clip/vocab_data.c) or a
   merges.txt is all we read; a Hugging Face folder's vocab.json is only checked against it.
   Every line of a file is hostile: a merge must join two symbols that exist already and make a
   new one, which also keeps the ranks consistent for the merge queue in tokenizer.c. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../core/file.h"
#include "../llama/unicode.h"
#include "tokenizer_impl.h"

extern const char iris_clip_merges_data[], iris_clip_merges_end[];

/* GPT-2's byte order: the printable bytes (mapped to themselves) first, then the rest (U+0100 on) */
static int printable(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

/* ---- building: token texts and a temporary text -> id hash ---- */

typedef struct {
    iris_clip_tokenizer *t;
    size_t len, cap; /* bytes used in t->text */
    int32_t n;       /* tokens so far */
    uint32_t mask;
    int32_t *slot;   /* text hash: -1 empty, else token id */
} builder;

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static size_t tok_len(const iris_clip_tokenizer *t, int32_t id) { return t->off[id + 1] - t->off[id] - 1; }

static int32_t find_text(const builder *b, const char *s, size_t n) {
    for (uint32_t h = hash_bytes(s, n) & b->mask;; h = (h + 1) & b->mask) {
        int32_t id = b->slot[h];
        if (id < 0) return -1;
        if (tok_len(b->t, id) == n && !memcmp(b->t->text + b->t->off[id], s, n)) return id;
    }
}

/* appends token b->n with text a + c (c may be empty); nonzero when out of memory */
static int add_token(builder *b, const char *a, size_t na, const char *c, size_t nc) {
    if (b->len + na + nc + 1 > b->cap) {
        size_t cap = (b->len + na + nc + 1) * 2;
        char *p = realloc(b->t->text, cap);
        if (!p) return 1;
        b->t->text = p, b->cap = cap;
    }
    char *dst = b->t->text + b->len;
    memcpy(dst, a, na);
    memcpy(dst + na, c, nc);
    dst[na + nc] = 0;
    b->t->off[b->n] = (uint32_t)b->len;
    b->len += na + nc + 1;
    b->t->off[b->n + 1] = (uint32_t)b->len;
    uint32_t h = hash_bytes(dst, na + nc) & b->mask;
    while (b->slot[h] >= 0) h = (h + 1) & b->mask;
    b->slot[h] = b->n++;
    return 0;
}

static uint64_t pair_hash(uint64_t key) { return (key * 0x9e3779b97f4a7c15ull) >> 40; }

int32_t iris_clip_merge_rank(const iris_clip_tokenizer *t, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t h = (uint32_t)pair_hash(key) & t->pair_mask;; h = (h + 1) & t->pair_mask) {
        if (t->pair_key[h] == key) return t->pair_rank[h];
        if (t->pair_key[h] == UINT64_MAX) return -1;
    }
}

static void add_pair(iris_clip_tokenizer *t, int32_t left, int32_t right, int32_t rank) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint32_t h = (uint32_t)pair_hash(key) & t->pair_mask;
    while (t->pair_key[h] != UINT64_MAX) h = (h + 1) & t->pair_mask;
    t->pair_key[h] = key, t->pair_rank[h] = rank;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* up to 40 bytes of a line for an error message, with anything unprintable as '?' */
static const char *excerpt(const char *s, size_t n, char *buf) {
    size_t k = n < 40 ? n : 40;
    for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)s[i] < 32 || s[i] == 127 ? '?' : s[i];
    buf[k] = 0;
    return buf;
}

/* Builds t from merges text (header line, then merges; what follows merge 48,894 is ignored).
   name is used in messages. */
static iris_status build(iris_clip_tokenizer *t, const char *src, size_t size, const char *name) {
    iris_status st = IRIS_OK;
    builder b = {t, 0, 0, 0, 0, NULL};
    b.mask = (1u << 17) - 1; /* > 2 * 49,408 slots */
    b.slot = malloc((size_t)(b.mask + 1) * sizeof *b.slot);
    t->pair_mask = (1u << 17) - 1;
    t->pair_key = malloc((size_t)(t->pair_mask + 1) * sizeof *t->pair_key);
    t->pair_rank = malloc((size_t)(t->pair_mask + 1) * sizeof *t->pair_rank);
    if (!b.slot || !t->pair_key || !t->pair_rank) goto oom;
    memset(b.slot, 0xff, (size_t)(b.mask + 1) * sizeof *b.slot);
    memset(t->pair_key, 0xff, (size_t)(t->pair_mask + 1) * sizeof *t->pair_key);

    int order[256], n_order = 0;
    uint32_t cp[256], extra = 0;
    for (int byte = 0; byte < 256; byte++) {
        if (printable(byte)) order[n_order++] = byte;
        cp[byte] = printable(byte) ? (uint32_t)byte : 256 + extra++;
    }
    for (int byte = 0; byte < 256; byte++)
        if (!printable(byte)) order[n_order++] = byte;
    for (int end_of_word = 0; end_of_word < 2; end_of_word++)
        for (int k = 0; k < 256; k++) {
            char u[4];
            int n = iris_utf8_put(cp[order[k]], u);
            (end_of_word ? t->byte_end_id : t->byte_id)[order[k]] = b.n;
            if (add_token(&b, u, (size_t)n, "</w>", end_of_word ? 4 : 0)) goto oom;
        }

    /* Hugging Face strips the file, skips the header line, reads lines 1 .. 48,894 */
    const char *p = src, *end = src + size;
    while (p < end && (is_ws(*p) || *p == '\n')) p++;
    while (end > p && (is_ws(end[-1]) || end[-1] == '\n')) end--;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
    char ex[48];
    for (int32_t r = 0; r < IRIS_CLIP_N_MERGES; r++) {
        int line = r + 2;
        if (p >= end) {
            st = iris_fail(IRIS_ERR_FORMAT, "%s: %d merges, CLIP's list has %d", name, r, IRIS_CLIP_N_MERGES);
            goto done;
        }
        nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end, *q = p;
        const char *part[2];
        size_t plen[2];
        int np = 0;
        while (q < e) {
            while (q < e && is_ws(*q)) q++;
            if (q == e) break;
            const char *s = q;
            while (q < e && !is_ws(*q)) q++;
            if (np < 2) part[np] = s, plen[np] = (size_t)(q - s);
            np++;
        }
        if (np != 2) {
            st = iris_fail(IRIS_ERR_FORMAT, "%s line %d: \"%s\" is not a merge of two symbols", name, line,
                           excerpt(p, (size_t)(e - p), ex));
            goto done;
        }
        int32_t left = find_text(&b, part[0], plen[0]), right = find_text(&b, part[1], plen[1]);
        if (left < 0 || right < 0) {
            st = iris_fail(IRIS_ERR_FORMAT, "%s line %d: \"%s\" joins a symbol no earlier line makes", name, line,
                           excerpt(p, (size_t)(e - p), ex));
            goto done;
        }
        size_t na = tok_len(t, left), nb = tok_len(t, right);
        char small[256], *joined = na + nb <= sizeof small ? small : malloc(na + nb);
        if (!joined) goto oom;
        memcpy(joined, t->text + t->off[left], na);
        memcpy(joined + na, t->text + t->off[right], nb);
        int again = find_text(&b, joined, na + nb) >= 0;
        int fail = !again && add_token(&b, joined, na + nb, "", 0);
        if (joined != small) free(joined);
        if (fail) goto oom;
        if (again) {
            st = iris_fail(IRIS_ERR_FORMAT, "%s line %d: \"%s\" makes a symbol a second time", name, line,
                           excerpt(p, (size_t)(e - p), ex));
            goto done;
        }
        add_pair(t, left, right, r);
        p = e + (e < end);
    }
    static const char *special[2] = {"<|startoftext|>", "<|endoftext|>"};
    for (int k = 0; k < 2; k++) {
        if (find_text(&b, special[k], strlen(special[k])) >= 0) {
            st = iris_fail(IRIS_ERR_FORMAT, "%s: a merge makes %s", name, special[k]);
            goto done;
        }
        if (add_token(&b, special[k], strlen(special[k]), "", 0)) goto oom;
    }
    t->comma = find_text(&b, ",</w>", 5);
    goto done;
oom:
    st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory building the CLIP vocabulary", name);
done:
    free(b.slot);
    return st;
}

/* ---- sources: the built-in list, a file (plain or gzip), a Hugging Face folder ---- */

#define MAX_INFLATED (64u << 20)

static iris_status gunzip(const char *src, size_t n, char **out, size_t *out_n, const char *name) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (n > UINT32_MAX || inflateInit2(&z, 15 + 32) != Z_OK) /* 15 + 32: gzip or zlib header */
        return iris_fail(IRIS_ERR_FORMAT, "%s: cannot unpack", name);
    size_t cap = 0, len = 0;
    char *buf = NULL;
    int ret = Z_OK;
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    while (ret == Z_OK) {
        if (len == cap) {
            if (cap == MAX_INFLATED) break;
            cap = cap ? cap * 2 : 1u << 20;
            char *nb = realloc(buf, cap);
            if (!nb) { ret = Z_MEM_ERROR; break; }
            buf = nb;
        }
        z.next_out = (Bytef *)buf + len;
        z.avail_out = (uInt)(cap - len);
        ret = inflate(&z, Z_NO_FLUSH); /* Z_BUF_ERROR once the input ends early */
        len = cap - z.avail_out;
    }
    inflateEnd(&z);
    if (ret != Z_STREAM_END) {
        free(buf);
        if (ret == Z_MEM_ERROR) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory unpacking", name);
        if (ret == Z_OK) return iris_fail(IRIS_ERR_FORMAT, "%s: unpacks to more than 64 MiB", name);
        return iris_fail(IRIS_ERR_FORMAT, "%s: damaged or truncated gzip data", name);
    }
    *out = buf, *out_n = len;
    return IRIS_OK;
}

static iris_status build_from_file(iris_clip_tokenizer *t, const char *path) {
    char *data;
    size_t n;
    iris_status st = iris_read_file(path, &data, &n);
    if (st) return st;
    if (n >= 2 && (uint8_t)data[0] == 0x1f && (uint8_t)data[1] == 0x8b) {
        char *raw = NULL;
        size_t rn = 0;
        st = gunzip(data, n, &raw, &rn, path);
        free(data);
        if (st) return st;
        data = raw, n = rn;
    }
    st = build(t, data, n, path);
    free(data);
    return st;
}

/* vocab.json must map exactly the 49,408 texts of the built vocabulary to their ids */
static iris_status check_vocab_json(const iris_clip_tokenizer *t, const char *path) {
    char *data;
    size_t n;
    iris_status st = iris_read_file(path, &data, &n);
    if (st) return st;
    cJSON *j = cJSON_ParseWithLength(data, n);
    free(data);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return iris_fail(IRIS_ERR_FORMAT, "%s: not a JSON object", path);
    }
    uint8_t *seen = calloc(IRIS_CLIP_N_VOCAB, 1);
    if (!seen) {
        cJSON_Delete(j);
        return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
    }
    int count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        int id = v >= 0 && v < IRIS_CLIP_N_VOCAB && v == (int)v ? (int)v : -1;
        if (id < 0 || seen[id] || strcmp(e->string, t->text + t->off[id])) {
            char ex[48];
            st = iris_fail(IRIS_ERR_FORMAT, "%s: entry \"%s\" differs from the vocabulary merges.txt makes", path,
                           excerpt(e->string, strlen(e->string), ex));
            break;
        }
        seen[id] = 1;
        count++;
    }
    if (!st && count != IRIS_CLIP_N_VOCAB)
        st = iris_fail(IRIS_ERR_FORMAT, "%s: %d entries, CLIP's vocabulary has %d", path, count, IRIS_CLIP_N_VOCAB);
    free(seen);
    cJSON_Delete(j);
    return st;
}

iris_status iris_clip_tokenizer_load(iris_clip_tokenizer **out, const char *path) {
    if (!out) return iris_fail(IRIS_ERR_ARG, "iris_clip_tokenizer_load: out is NULL");
    *out = NULL;
    iris_clip_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return iris_fail(IRIS_ERR_NOMEM, "CLIP tokenizer: out of memory");
    iris_status st;
    struct stat sb;
    if (!path) {
        st = build(t, iris_clip_merges_data, (size_t)(iris_clip_merges_end - iris_clip_merges_data),
                   "built-in CLIP merges");
    } else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path) + 16;
        char *merges = malloc(n), *vocab = malloc(n);
        if (!merges || !vocab) {
            st = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", path);
        } else {
            snprintf(merges, n, "%s/merges.txt", path);
            snprintf(vocab, n, "%s/vocab.json", path);
            st = build_from_file(t, merges);
            if (!st) st = check_vocab_json(t, vocab);
        }
        free(merges), free(vocab);
    } else {
        st = build_from_file(t, path);
    }
    if (st) {
        iris_clip_tokenizer_free(t);
        return st;
    }
    *out = t;
    return IRIS_OK;
}

void iris_clip_tokenizer_free(iris_clip_tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->pair_key);
    free(t->pair_rank);
    free(t);
}

const char *iris_clip_token_text(const iris_clip_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < IRIS_CLIP_N_VOCAB ? t->text + t->off[id] : NULL;
}
