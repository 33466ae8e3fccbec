/* gguf.c - parse and validate a GGUF file; metadata getters; mapped tensors.

   Every count read from the file is bounded by the bytes left before anything
   is allocated for it, so a hostile file costs at most a small multiple of its
   own size in memory. Strings are copied (NUL-terminated) into one pool. */
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEST 8                      /* arrays of arrays of ... */
#define MAX_DIM ((uint64_t)1 << 40)     /* same bound as iris_tensor_init */
#define MIN_KV_BYTES 13                 /* key length (8) + type (4) + smallest value (1) */
#define MIN_TENSOR_BYTES 24             /* name length (8) + n_dims (4) + type (4) + offset (8) */

static const int elem_size[IRIS_GGUF_TYPE_COUNT] = {
    [IRIS_GGUF_U8] = 1,  [IRIS_GGUF_I8] = 1,  [IRIS_GGUF_U16] = 2, [IRIS_GGUF_I16] = 2,
    [IRIS_GGUF_U32] = 4, [IRIS_GGUF_I32] = 4, [IRIS_GGUF_F32] = 4, [IRIS_GGUF_BOOL] = 1,
    [IRIS_GGUF_U64] = 8, [IRIS_GGUF_I64] = 8, [IRIS_GGUF_F64] = 8,
};

int iris_gguf_type_size(iris_gguf_type t) { return (unsigned)t < IRIS_GGUF_TYPE_COUNT ? elem_size[t] : 0; }

const char *iris_gguf_type_name(iris_gguf_type t) {
    static const char *names[IRIS_GGUF_TYPE_COUNT] = {"u8",  "i8",   "u16",    "i16",   "u32", "i32", "f32",
                                                      "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < IRIS_GGUF_TYPE_COUNT ? names[t] : "?";
}

/* ---- string/value pool: chunks freed together at close ---- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t mem[];
} chunk;

static void *pool_alloc(iris_gguf *g, size_t n) {
    n = (n + 15) & ~(size_t)15;
    chunk *c = g->pool;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = g->pool;
        c->used = 0;
        c->cap = cap;
        g->pool = c;
    }
    void *p = (unsigned char *)c->mem + c->used;
    c->used += n;
    return p;
}

static void free_parsed(iris_gguf *g) {
    for (chunk *c = g->pool, *next; c; c = next) next = c->next, free(c);
    free(g->kv);
    free(g->tensors);
    free(g->kv_sorted);
    free(g->tensor_sorted);
    g->pool = NULL;
    g->kv = NULL;
    g->tensors = NULL;
    g->kv_sorted = NULL;
    g->tensor_sorted = NULL;
    g->n_kv = g->n_tensors = 0;
}

/* ---- bounded little-endian reads ---- */

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    const char *file;
} reader;

static iris_status truncated(const reader *r, const char *what) {
    return iris_fail(IRIS_ERR_FORMAT, "%s: file ends at byte %zu while reading %s", r->file, r->size, what);
}

static iris_status rd_uint(reader *r, int n, uint64_t *v, const char *what) {
    if (r->size - r->pos < (size_t)n) return truncated(r, what);
    uint64_t x = 0;
    for (int i = n - 1; i >= 0; i--) x = x << 8 | r->p[r->pos + (size_t)i];
    r->pos += (size_t)n;
    *v = x;
    return IRIS_OK;
}

static iris_status rd_str(iris_gguf *g, reader *r, iris_gguf_str *s, const char *what) {
    uint64_t len = 0;
    iris_status rc = rd_uint(r, 8, &len, what);
    if (rc) return rc;
    if (len > r->size - r->pos)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s at byte %zu claims %llu bytes but only %zu remain", r->file,
                         what, r->pos - 8, (unsigned long long)len, r->size - r->pos);
    char *c = pool_alloc(g, (size_t)len + 1);
    if (!c) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory reading %s", r->file, what);
    memcpy(c, r->p + r->pos, (size_t)len);
    c[len] = 0;
    r->pos += (size_t)len;
    s->s = c;
    s->len = len;
    return IRIS_OK;
}

/* A key or tensor name: non-empty, no NUL inside (lookups use C strings). */
static iris_status rd_name(iris_gguf *g, reader *r, iris_gguf_str *s, const char *what) {
    iris_status rc = rd_str(g, r, s, what);
    if (rc) return rc;
    if (!s->len || strlen(s->s) != s->len)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s is %s", r->file, what, s->len ? "contains a NUL byte" : "empty");
    return IRIS_OK;
}

static double bits_f32(uint64_t x) {
    uint32_t u = (uint32_t)x;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double bits_f64(uint64_t x) {
    double d;
    memcpy(&d, &x, 8);
    return d;
}

/* Decodes a fixed-size scalar of type t from x into v->num. */
static void set_scalar(iris_gguf_value *v, iris_gguf_type t, uint64_t x) {
    switch (t) {
    case IRIS_GGUF_I8: v->num.i = (int8_t)x; break;
    case IRIS_GGUF_I16: v->num.i = (int16_t)x; break;
    case IRIS_GGUF_I32: v->num.i = (int32_t)x; break;
    case IRIS_GGUF_I64: v->num.i = (int64_t)x; break;
    case IRIS_GGUF_F32: v->num.f = bits_f32(x); break;
    case IRIS_GGUF_F64: v->num.f = bits_f64(x); break;
    default: v->num.u = x; break;
    }
}

static iris_status parse_value(iris_gguf *g, reader *r, uint64_t type, iris_gguf_value *v, int depth,
                               const char *what) {
    iris_status rc;
    if (type >= IRIS_GGUF_TYPE_COUNT)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s has unknown value type %llu", r->file, what,
                         (unsigned long long)type);
    v->type = (iris_gguf_type)type;
    if (type == IRIS_GGUF_STRING) return rd_str(g, r, &v->str, what);
    if (type != IRIS_GGUF_ARRAY) {
        uint64_t x = 0;
        if ((rc = rd_uint(r, elem_size[type], &x, what))) return rc;
        if (type == IRIS_GGUF_BOOL && x > 1)
            return iris_fail(IRIS_ERR_FORMAT, "%s: %s is a bool with value %llu", r->file, what, (unsigned long long)x);
        set_scalar(v, (iris_gguf_type)type, x);
        return IRIS_OK;
    }
    uint64_t et = 0, n = 0;
    if ((rc = rd_uint(r, 4, &et, what)) || (rc = rd_uint(r, 8, &n, what))) return rc;
    if (et >= IRIS_GGUF_TYPE_COUNT)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s is an array of unknown type %llu", r->file, what,
                         (unsigned long long)et);
    if (et == IRIS_GGUF_ARRAY && depth + 1 >= MAX_NEST)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s nests arrays more than %d deep", r->file, what, MAX_NEST);
    size_t min = elem_size[et] ? (size_t)elem_size[et] : et == IRIS_GGUF_STRING ? 8 : 12;
    size_t left = r->size - r->pos;
    if (n > left / min)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s claims %llu %s elements but only %zu bytes remain", r->file,
                         what, (unsigned long long)n, iris_gguf_type_name((iris_gguf_type)et), left);
    v->elem_type = (iris_gguf_type)et;
    v->n = n;
    if (elem_size[et]) {
        v->raw = r->p + r->pos;
        if (et == IRIS_GGUF_BOOL)
            for (uint64_t i = 0; i < n; i++)
                if (v->raw[i] > 1)
                    return iris_fail(IRIS_ERR_FORMAT, "%s: %s element %llu is a bool with value %u", r->file, what,
                                     (unsigned long long)i, v->raw[i]);
        r->pos += (size_t)n * min;
        return IRIS_OK;
    }
    if (et == IRIS_GGUF_STRING) {
        iris_gguf_str *s = pool_alloc(g, (size_t)n * sizeof *s);
        if (!s) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory reading %s", r->file, what);
        for (uint64_t i = 0; i < n; i++)
            if ((rc = rd_str(g, r, &s[i], what))) return rc;
        v->strs = s;
        return IRIS_OK;
    }
    iris_gguf_value *items = pool_alloc(g, (size_t)n * sizeof *items);
    if (!items) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory reading %s", r->file, what);
    memset(items, 0, (size_t)n * sizeof *items);
    for (uint64_t i = 0; i < n; i++)
        if ((rc = parse_value(g, r, IRIS_GGUF_ARRAY, &items[i], depth + 1, what))) return rc;
    v->items = items;
    return IRIS_OK;
}

/* ---- sorting for lookups, duplicate and overlap checks ---- */

static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(const iris_gguf_kv *const *)a)->key, (*(const iris_gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const iris_gguf_tensor_info *const *)a)->name,
                  (*(const iris_gguf_tensor_info *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const iris_gguf_tensor_info *x = *(const iris_gguf_tensor_info *const *)a;
    const iris_gguf_tensor_info *y = *(const iris_gguf_tensor_info *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static iris_status parse_tensor_info(iris_gguf *g, reader *r, int64_t idx, iris_gguf_tensor_info *t) {
    char what[96];
    iris_gguf_str name;
    iris_status rc;
    snprintf(what, sizeof what, "the name of tensor %lld", (long long)idx);
    if ((rc = rd_name(g, r, &name, what))) return rc;
    t->name = name.s;
    snprintf(what, sizeof what, "tensor '%.60s'", t->name);
    uint64_t nd = 0, type = 0, off = 0;
    if ((rc = rd_uint(r, 4, &nd, what))) return rc;
    if (nd > IRIS_GGUF_MAX_DIMS)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s has %llu dims (at most %d)", r->file, what, (unsigned long long)nd,
                         IRIS_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t count = 1;
    for (int i = 0; i < IRIS_GGUF_MAX_DIMS; i++) t->ne[i] = 1;
    for (int i = 0; i < (int)nd; i++) {
        uint64_t d = 0;
        if ((rc = rd_uint(r, 8, &d, what))) return rc;
        if (d > MAX_DIM)
            return iris_fail(IRIS_ERR_FORMAT, "%s: %s has absurd dim %d = %llu", r->file, what, i,
                             (unsigned long long)d);
        if (d && count > (uint64_t)INT64_MAX / d)
            return iris_fail(IRIS_ERR_FORMAT, "%s: %s element count overflows", r->file, what);
        count *= d;
        t->ne[i] = (int64_t)d;
    }
    if ((rc = rd_uint(r, 4, &type, what)) || (rc = rd_uint(r, 8, &off, what))) return rc;
    int dt = type <= UINT32_MAX ? iris_dtype_from_ggml((uint32_t)type) : -1;
    if (dt < 0)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s has unknown ggml type %llu", r->file, what, (unsigned long long)type);
    t->ggml_type = (uint32_t)type;
    t->dtype = (iris_dtype)dt;
    const iris_dtype_info *info = iris_dtype_get(t->dtype);
    if (t->ne[0] % info->block_size)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s innermost dim %lld is not a multiple of the %s block size %d",
                         r->file, what, (long long)t->ne[0], info->name, info->block_size);
    uint64_t row = (uint64_t)t->ne[0] / (uint64_t)info->block_size * (uint64_t)info->type_size;
    uint64_t rows = count / (uint64_t)(t->ne[0] ? t->ne[0] : 1);
    if (!t->ne[0]) rows = 0;
    if (row && rows > UINT64_MAX / row)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s byte size overflows", r->file, what);
    t->nbytes = row * rows;
    t->offset = off; /* relative for now */
    if (off % g->alignment)
        return iris_fail(IRIS_ERR_FORMAT, "%s: %s offset %llu is not a multiple of the alignment %u", r->file, what,
                         (unsigned long long)off, g->alignment);
    return IRIS_OK;
}

static iris_status parse_buf(iris_gguf *g, const uint8_t *data, size_t size) {
    const char *file = g->map.path;
    reader r = {data, size, 0, file};
    iris_status rc;
    g->data = data;
    g->size = size;
    if (size < 4 || memcmp(data, "GGUF", 4))
        return iris_fail(IRIS_ERR_FORMAT, "%s: not a GGUF file (no GGUF magic)", file);
    r.pos = 4;
    uint64_t version = 0, n_tensors = 0, n_kv = 0;
    if ((rc = rd_uint(&r, 4, &version, "the version"))) return rc;
    g->version = (uint32_t)version;
    if (version == 1)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (only 2 and 3)", file);
    if (version == 0x02000000 || version == 0x03000000)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: big-endian GGUF is not supported", file);
    if (version != 2 && version != 3)
        return iris_fail(IRIS_ERR_FORMAT, "%s: unknown GGUF version %llu", file, (unsigned long long)version);
    if ((rc = rd_uint(&r, 8, &n_tensors, "the tensor count")) || (rc = rd_uint(&r, 8, &n_kv, "the metadata count")))
        return rc;
    if (n_kv > (size - r.pos) / MIN_KV_BYTES)
        return iris_fail(IRIS_ERR_FORMAT, "%s: metadata count %llu cannot fit in the %zu bytes left", file,
                         (unsigned long long)n_kv, size - r.pos);
    if (n_tensors > (size - r.pos) / MIN_TENSOR_BYTES)
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor count %llu cannot fit in the %zu bytes left", file,
                         (unsigned long long)n_tensors, size - r.pos);

    g->kv = calloc((size_t)n_kv + 1, sizeof *g->kv);
    g->kv_sorted = calloc((size_t)n_kv + 1, sizeof *g->kv_sorted);
    if (!g->kv || !g->kv_sorted) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file);
    for (uint64_t i = 0; i < n_kv; i++) {
        iris_gguf_kv *kv = &g->kv[i];
        iris_gguf_str key;
        char what[96];
        uint64_t type = 0;
        snprintf(what, sizeof what, "the key of metadata entry %llu", (unsigned long long)i);
        if ((rc = rd_name(g, &r, &key, what))) return rc;
        kv->key = key.s;
        snprintf(what, sizeof what, "metadata '%.60s'", kv->key);
        if ((rc = rd_uint(&r, 4, &type, what))) return rc;
        kv->raw = data + r.pos;
        if ((rc = parse_value(g, &r, type, &kv->val, 0, what))) return rc;
        kv->raw_len = (uint64_t)(data + r.pos - kv->raw);
        g->kv_sorted[i] = kv;
        g->n_kv = (int64_t)i + 1;
    }
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (!strcmp(g->kv_sorted[i]->key, g->kv_sorted[i - 1]->key))
            return iris_fail(IRIS_ERR_FORMAT, "%s: metadata key '%.60s' appears twice", file, g->kv_sorted[i]->key);

    g->alignment = IRIS_GGUF_DEFAULT_ALIGNMENT;
    const iris_gguf_kv *al = iris_gguf_find_kv(g, "general.alignment");
    if (al) {
        if (al->val.type != IRIS_GGUF_U32)
            return iris_fail(IRIS_ERR_FORMAT, "%s: general.alignment is %s, expected u32", file,
                             iris_gguf_type_name(al->val.type));
        uint64_t a = al->val.num.u;
        if (!a || (a & (a - 1)))
            return iris_fail(IRIS_ERR_FORMAT, "%s: general.alignment %llu is not a power of two", file,
                             (unsigned long long)a);
        g->alignment = (uint32_t)a;
    }

    if (n_tensors > (size - r.pos) / MIN_TENSOR_BYTES)
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor count %llu cannot fit in the %zu bytes left", file,
                         (unsigned long long)n_tensors, size - r.pos);
    g->tensors = calloc((size_t)n_tensors + 1, sizeof *g->tensors);
    g->tensor_sorted = calloc((size_t)n_tensors + 1, sizeof *g->tensor_sorted);
    if (!g->tensors || !g->tensor_sorted) return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file);
    for (uint64_t i = 0; i < n_tensors; i++) {
        if ((rc = parse_tensor_info(g, &r, (int64_t)i, &g->tensors[i]))) return rc;
        g->tensor_sorted[i] = &g->tensors[i];
        g->n_tensors = (int64_t)i + 1;
    }

    uint64_t start = ((uint64_t)r.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (start > size)
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor data would start at byte %llu, past the end of the %zu-byte file",
                         file, (unsigned long long)start, size);
    g->data_offset = start;
    uint64_t avail = size - start;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        iris_gguf_tensor_info *t = &g->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return iris_fail(IRIS_ERR_FORMAT,
                             "%s: tensor '%.60s' needs data bytes [%llu, +%llu) but the data section has %llu bytes",
                             file, t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                             (unsigned long long)avail);
        t->offset += start;
    }
    qsort(g->tensor_sorted, (size_t)g->n_tensors, sizeof *g->tensor_sorted, cmp_tensor_offset);
    const iris_gguf_tensor_info *prev = NULL;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const iris_gguf_tensor_info *t = g->tensor_sorted[i];
        if (!t->nbytes) continue;
        if (prev && t->offset < prev->offset + prev->nbytes)
            return iris_fail(IRIS_ERR_FORMAT, "%s: tensors '%.60s' and '%.60s' overlap", file, prev->name, t->name);
        prev = t;
    }
    qsort(g->tensor_sorted, (size_t)g->n_tensors, sizeof *g->tensor_sorted, cmp_tensor_name);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (!strcmp(g->tensor_sorted[i]->name, g->tensor_sorted[i - 1]->name))
            return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%.60s' appears twice", file, g->tensor_sorted[i]->name);
    return IRIS_OK;
}

iris_status iris_gguf_parse(iris_gguf *g, const uint8_t *data, size_t size, const char *name) {
    memset(g, 0, sizeof *g);
    snprintf(g->map.path, sizeof g->map.path, "%s", name ? name : "gguf");
    iris_status rc = parse_buf(g, data, size);
    if (rc) free_parsed(g);
    return rc;
}

iris_status iris_gguf_open(iris_gguf *g, const char *path) {
    memset(g, 0, sizeof *g);
    iris_status rc = iris_map_open(&g->map, path);
    if (rc) return rc;
    rc = parse_buf(g, g->map.data, g->map.size);
    if (rc) iris_gguf_close(g);
    return rc;
}

void iris_gguf_close(iris_gguf *g) {
    free_parsed(g);
    iris_map_close(&g->map);
    g->data = NULL;
    g->size = 0;
}

/* ---- metadata getters ---- */

const iris_gguf_kv *iris_gguf_find_kv(const iris_gguf *g, const char *key) {
    if (!g->n_kv || !key) return NULL;
    iris_gguf_kv k = {.key = key};
    const iris_gguf_kv *kp = &k;
    const iris_gguf_kv **hit = bsearch(&kp, g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    return hit ? *hit : NULL;
}

static iris_status find_kv(const iris_gguf *g, const char *key, const iris_gguf_kv **kv) {
    *kv = iris_gguf_find_kv(g, key);
    return *kv ? IRIS_OK : iris_fail(IRIS_ERR_NOT_FOUND, "%s: no metadata key '%s'", g->map.path, key);
}

static iris_status wrong_type(const iris_gguf *g, const iris_gguf_kv *kv, const char *want) {
    return iris_fail(IRIS_ERR_FORMAT, "%s: metadata '%s' is %s, expected %s", g->map.path, kv->key,
                     iris_gguf_type_name(kv->val.type), want);
}

/* An integer value as sign and magnitude; 0 if the value is not an integer. */
static int int_parts(const iris_gguf_value *v, int *neg, uint64_t *mag) {
    switch (v->type) {
    case IRIS_GGUF_U8: case IRIS_GGUF_U16: case IRIS_GGUF_U32: case IRIS_GGUF_U64:
        *neg = 0, *mag = v->num.u;
        return 1;
    case IRIS_GGUF_I8: case IRIS_GGUF_I16: case IRIS_GGUF_I32: case IRIS_GGUF_I64:
        *neg = v->num.i < 0;
        *mag = *neg ? 0 - (uint64_t)v->num.i : (uint64_t)v->num.i;
        return 1;
    default: return 0;
    }
}

/* The integer at `key` if it lies in [-neg_max, pos_max]. */
static iris_status get_int(const iris_gguf *g, const char *key, uint64_t neg_max, uint64_t pos_max, int *neg,
                           uint64_t *mag, const char *tname) {
    const iris_gguf_kv *kv;
    iris_status rc = find_kv(g, key, &kv);
    if (rc) return rc;
    if (!int_parts(&kv->val, neg, mag)) return wrong_type(g, kv, "an integer");
    if (*neg ? *mag > neg_max : *mag > pos_max)
        return iris_fail(IRIS_ERR_FORMAT, "%s: metadata '%s' value %s%llu does not fit %s", g->map.path, key,
                         *neg ? "-" : "", (unsigned long long)*mag, tname);
    return IRIS_OK;
}

iris_status iris_gguf_get_u32(const iris_gguf *g, const char *key, uint32_t *out) {
    int neg;
    uint64_t m;
    iris_status rc = get_int(g, key, 0, UINT32_MAX, &neg, &m, "u32");
    if (!rc) *out = (uint32_t)m;
    return rc;
}

iris_status iris_gguf_get_i32(const iris_gguf *g, const char *key, int32_t *out) {
    int neg;
    uint64_t m;
    iris_status rc = get_int(g, key, (uint64_t)INT32_MAX + 1, INT32_MAX, &neg, &m, "i32");
    if (!rc) *out = neg ? (int32_t)(-(int64_t)m) : (int32_t)m;
    return rc;
}

iris_status iris_gguf_get_u64(const iris_gguf *g, const char *key, uint64_t *out) {
    int neg;
    uint64_t m;
    iris_status rc = get_int(g, key, 0, UINT64_MAX, &neg, &m, "u64");
    if (!rc) *out = m;
    return rc;
}

iris_status iris_gguf_get_i64(const iris_gguf *g, const char *key, int64_t *out) {
    int neg;
    uint64_t m;
    iris_status rc = get_int(g, key, (uint64_t)INT64_MAX + 1, INT64_MAX, &neg, &m, "i64");
    if (!rc) *out = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
    return rc;
}

iris_status iris_gguf_get_f64(const iris_gguf *g, const char *key, double *out) {
    const iris_gguf_kv *kv;
    iris_status rc = find_kv(g, key, &kv);
    if (rc) return rc;
    if (kv->val.type != IRIS_GGUF_F32 && kv->val.type != IRIS_GGUF_F64) return wrong_type(g, kv, "a float");
    *out = kv->val.num.f;
    return IRIS_OK;
}

iris_status iris_gguf_get_f32(const iris_gguf *g, const char *key, float *out) {
    double d = 0;
    iris_status rc = iris_gguf_get_f64(g, key, &d);
    if (!rc) *out = (float)d;
    return rc;
}

iris_status iris_gguf_get_bool(const iris_gguf *g, const char *key, bool *out) {
    const iris_gguf_kv *kv;
    iris_status rc = find_kv(g, key, &kv);
    if (rc) return rc;
    if (kv->val.type != IRIS_GGUF_BOOL) return wrong_type(g, kv, "bool");
    *out = kv->val.num.u != 0;
    return IRIS_OK;
}

iris_status iris_gguf_get_str(const iris_gguf *g, const char *key, const char **out) {
    const iris_gguf_kv *kv;
    iris_status rc = find_kv(g, key, &kv);
    if (rc) return rc;
    if (kv->val.type != IRIS_GGUF_STRING) return wrong_type(g, kv, "string");
    *out = kv->val.str.s;
    return IRIS_OK;
}

iris_status iris_gguf_get_array(const iris_gguf *g, const char *key, iris_gguf_type want,
                                const iris_gguf_value **out) {
    const iris_gguf_kv *kv;
    iris_status rc = find_kv(g, key, &kv);
    if (rc) return rc;
    if (kv->val.type != IRIS_GGUF_ARRAY) return wrong_type(g, kv, "array");
    if (want != IRIS_GGUF_ANY && kv->val.elem_type != want)
        return iris_fail(IRIS_ERR_FORMAT, "%s: metadata '%s' is an array of %s, expected %s", g->map.path, key,
                         iris_gguf_type_name(kv->val.elem_type), iris_gguf_type_name(want));
    *out = &kv->val;
    return IRIS_OK;
}

/* Element i of a numeric/bool array decoded into a scalar value; 0 if there is none. */
static int arr_scalar(const iris_gguf_value *a, uint64_t i, iris_gguf_value *v) {
    if (!a || a->type != IRIS_GGUF_ARRAY || i >= a->n || !a->raw) return 0;
    int sz = elem_size[a->elem_type];
    const uint8_t *p = a->raw + i * (uint64_t)sz;
    uint64_t x = 0;
    for (int k = sz - 1; k >= 0; k--) x = x << 8 | p[k];
    memset(v, 0, sizeof *v);
    v->type = a->elem_type;
    set_scalar(v, a->elem_type, x);
    return 1;
}

int64_t iris_gguf_arr_i64(const iris_gguf_value *a, uint64_t i) {
    iris_gguf_value v;
    int neg;
    uint64_t m;
    if (!arr_scalar(a, i, &v)) return 0;
    if (v.type == IRIS_GGUF_BOOL) return (int64_t)v.num.u;
    if (!int_parts(&v, &neg, &m)) return 0;
    return neg ? v.num.i : (int64_t)m;
}

uint64_t iris_gguf_arr_u64(const iris_gguf_value *a, uint64_t i) {
    iris_gguf_value v;
    int neg;
    uint64_t m;
    if (!arr_scalar(a, i, &v)) return 0;
    if (v.type == IRIS_GGUF_BOOL) return v.num.u;
    if (!int_parts(&v, &neg, &m)) return 0;
    return neg ? (uint64_t)v.num.i : m;
}

double iris_gguf_arr_f64(const iris_gguf_value *a, uint64_t i) {
    iris_gguf_value v;
    int neg;
    uint64_t m;
    if (!arr_scalar(a, i, &v)) return 0;
    if (v.type == IRIS_GGUF_F32 || v.type == IRIS_GGUF_F64) return v.num.f;
    if (v.type == IRIS_GGUF_BOOL) return (double)v.num.u;
    if (!int_parts(&v, &neg, &m)) return 0;
    return neg ? (double)v.num.i : (double)m;
}

float iris_gguf_arr_f32(const iris_gguf_value *a, uint64_t i) { return (float)iris_gguf_arr_f64(a, i); }

const char *iris_gguf_arr_str(const iris_gguf_value *a, uint64_t i, uint64_t *len) {
    if (!a || a->type != IRIS_GGUF_ARRAY || a->elem_type != IRIS_GGUF_STRING || i >= a->n) return NULL;
    if (len) *len = a->strs[i].len;
    return a->strs[i].s;
}

const iris_gguf_value *iris_gguf_arr_item(const iris_gguf_value *a, uint64_t i) {
    if (!a || a->type != IRIS_GGUF_ARRAY || a->elem_type != IRIS_GGUF_ARRAY || i >= a->n) return NULL;
    return &a->items[i];
}

/* ---- tensors ---- */

const iris_gguf_tensor_info *iris_gguf_find_tensor(const iris_gguf *g, const char *name) {
    if (!g->n_tensors || !name) return NULL;
    iris_gguf_tensor_info k = {.name = name};
    const iris_gguf_tensor_info *kp = &k;
    const iris_gguf_tensor_info **hit =
        bsearch(&kp, g->tensor_sorted, (size_t)g->n_tensors, sizeof *g->tensor_sorted, cmp_tensor_name);
    return hit ? *hit : NULL;
}

iris_status iris_gguf_tensor(const iris_gguf *g, const char *name, iris_tensor **out) {
    *out = NULL;
    const iris_gguf_tensor_info *t = iris_gguf_find_tensor(g, name);
    if (!t) return iris_fail(IRIS_ERR_NOT_FOUND, "%s: no tensor '%s'", g->map.path, name);
    int nd = t->n_dims ? t->n_dims : 1;
    int64_t shape[IRIS_GGUF_MAX_DIMS];
    for (int k = 0; k < nd; k++) shape[k] = t->ne[nd - 1 - k];
    const uint8_t *p = g->data + t->offset;
    int ts = iris_dtype_get(t->dtype)->type_size;
    uintptr_t align = (uintptr_t)(ts & -ts);
    if (align > 8) align = 8;
    iris_status rc;
    if ((uintptr_t)p % align) {
        rc = iris_tensor_new(out, IRIS_CPU, t->dtype, nd, shape);
        if (!rc) memcpy((*out)->data, p, (size_t)t->nbytes);
    } else {
        rc = iris_tensor_wrap(out, IRIS_CPU, t->dtype, nd, shape, (void *)p);
    }
    if (rc) {
        char why[256];
        snprintf(why, sizeof why, "%s", iris_last_error());
        return iris_fail(rc, "%s: tensor '%s': %s", g->map.path, name, why);
    }
    snprintf((*out)->name, sizeof (*out)->name, "%s", name);
    return IRIS_OK;
}

iris_status iris_gguf_tensor_shaped(const iris_gguf *g, const char *name, int ndim, const int64_t *shape,
                                    iris_tensor **out) {
    iris_status rc = iris_gguf_tensor(g, name, out);
    if (rc) return rc;
    int ok = (*out)->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == (*out)->ne[i];
    if (ok) return IRIS_OK;
    char got[96], want[96] = "[";
    size_t k = 1;
    for (int i = 0; i < ndim && k < sizeof want; i++)
        k += (size_t)snprintf(want + k, sizeof want - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < sizeof want) snprintf(want + k, sizeof want - k, "]");
    iris_shape_str(*out, got, sizeof got);
    iris_tensor_free(*out);
    *out = NULL;
    return iris_fail(IRIS_ERR_SHAPE, "%s: tensor '%s' is %s, expected %s", g->map.path, name, got, want);
}
