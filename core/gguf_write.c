/* gguf_write.c - build a GGUF v3 file: metadata encoded as it is set, tensor
   data streamed at write time into a temporary file that is renamed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_write.c copies host numbers as little-endian"
#endif

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val; /* encoded value, as it follows the type in the file */
    size_t len;
} wkv;

typedef struct {
    char *name;
    iris_dtype dtype;
    int n_dims;
    uint64_t ne[IRIS_GGUF_MAX_DIMS]; /* ggml order */
    size_t nbytes;
    const void *data;
    iris_gguf_fill_fn fill;
    void *user;
} wtensor;

struct iris_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

/* Growable byte buffer; `bad` remembers an allocation failure. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int bad;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->bad) return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) { b->bad = 1; return; }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->bad = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, size_t n) {
    put_u64(b, n);
    put(b, s, n);
}

iris_status iris_gguf_writer_new(iris_gguf_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? IRIS_OK : iris_fail(IRIS_ERR_NOMEM, "gguf writer: out of memory");
}

void iris_gguf_writer_free(iris_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free(w->kv[i].key), free(w->kv[i].val);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static wkv *find_wkv(iris_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) return &w->kv[i];
    return NULL;
}

/* Takes ownership of the encoded value in b. */
static iris_status set_encoded(iris_gguf_writer *w, const char *key, uint32_t type, buf *b) {
    if (b->bad) {
        free(b->p);
        return iris_fail(IRIS_ERR_NOMEM, "gguf writer: out of memory encoding '%s'", key ? key : "");
    }
    if (!key || !*key) {
        free(b->p);
        return iris_fail(IRIS_ERR_ARG, "gguf writer: empty metadata key");
    }
    wkv *kv = find_wkv(w, key);
    if (!kv) {
        if (w->n_kv == w->cap_kv) {
            size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
            wkv *p = realloc(w->kv, cap * sizeof *p);
            if (!p) { free(b->p); return iris_fail(IRIS_ERR_NOMEM, "gguf writer: out of memory"); }
            w->kv = p;
            w->cap_kv = cap;
        }
        char *k = strdup(key);
        if (!k) { free(b->p); return iris_fail(IRIS_ERR_NOMEM, "gguf writer: out of memory"); }
        kv = &w->kv[w->n_kv++];
        kv->key = k;
    } else {
        free(kv->val);
    }
    kv->type = type;
    kv->val = b->p;
    kv->len = b->n;
    return IRIS_OK;
}

static iris_status set_scalar(iris_gguf_writer *w, const char *key, iris_gguf_type t, const void *v, size_t n) {
    buf b = {0};
    put(&b, v, n);
    return set_encoded(w, key, (uint32_t)t, &b);
}

iris_status iris_gguf_writer_set_u32(iris_gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, IRIS_GGUF_U32, &v, 4);
}
iris_status iris_gguf_writer_set_i32(iris_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, IRIS_GGUF_I32, &v, 4);
}
iris_status iris_gguf_writer_set_u64(iris_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, IRIS_GGUF_U64, &v, 8);
}
iris_status iris_gguf_writer_set_i64(iris_gguf_writer *w, const char *key, int64_t v) {
    return set_scalar(w, key, IRIS_GGUF_I64, &v, 8);
}
iris_status iris_gguf_writer_set_f32(iris_gguf_writer *w, const char *key, float v) {
    return set_scalar(w, key, IRIS_GGUF_F32, &v, 4);
}
iris_status iris_gguf_writer_set_f64(iris_gguf_writer *w, const char *key, double v) {
    return set_scalar(w, key, IRIS_GGUF_F64, &v, 8);
}
iris_status iris_gguf_writer_set_bool(iris_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return set_scalar(w, key, IRIS_GGUF_BOOL, &b, 1);
}

iris_status iris_gguf_writer_set_str(iris_gguf_writer *w, const char *key, const char *v) {
    if (!v) return iris_fail(IRIS_ERR_ARG, "gguf writer: NULL string for '%s'", key ? key : "");
    buf b = {0};
    put_str(&b, v, strlen(v));
    return set_encoded(w, key, IRIS_GGUF_STRING, &b);
}

iris_status iris_gguf_writer_set_array(iris_gguf_writer *w, const char *key, iris_gguf_type elem,
                                       const void *elems, uint64_t n) {
    int sz = iris_gguf_type_size(elem);
    if (!sz)
        return iris_fail(IRIS_ERR_ARG, "gguf writer: '%s': set_array takes numbers or bools, not %s", key ? key : "",
                         iris_gguf_type_name(elem));
    if (n && !elems) return iris_fail(IRIS_ERR_ARG, "gguf writer: '%s': NULL array", key ? key : "");
    if (n > SIZE_MAX / (size_t)sz) return iris_fail(IRIS_ERR_ARG, "gguf writer: '%s': array too long", key ? key : "");
    if (elem == IRIS_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)elems)[i] > 1)
                return iris_fail(IRIS_ERR_ARG, "gguf writer: '%s': bool element %llu is not 0 or 1", key ? key : "",
                                 (unsigned long long)i);
    buf b = {0};
    put_u32(&b, (uint32_t)elem);
    put_u64(&b, n);
    put(&b, elems, (size_t)n * (size_t)sz);
    return set_encoded(w, key, IRIS_GGUF_ARRAY, &b);
}

iris_status iris_gguf_writer_set_str_array(iris_gguf_writer *w, const char *key, const char *const *strs,
                                           uint64_t n) {
    buf b = {0};
    put_u32(&b, IRIS_GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) {
            free(b.p);
            return iris_fail(IRIS_ERR_ARG, "gguf writer: '%s': string %llu is NULL", key ? key : "",
                             (unsigned long long)i);
        }
        put_str(&b, strs[i], strlen(strs[i]));
    }
    return set_encoded(w, key, IRIS_GGUF_ARRAY, &b);
}

iris_status iris_gguf_writer_copy_kv(iris_gguf_writer *w, const iris_gguf *src, const char *key) {
    const iris_gguf_kv *kv = iris_gguf_find_kv(src, key);
    if (!kv) return iris_fail(IRIS_ERR_NOT_FOUND, "%s: no metadata key '%s' to copy", src->map.path, key);
    buf b = {0};
    put(&b, kv->raw, (size_t)kv->raw_len);
    return set_encoded(w, kv->key, (uint32_t)kv->val.type, &b);
}

iris_status iris_gguf_writer_copy_kvs(iris_gguf_writer *w, const iris_gguf *src) {
    for (int64_t i = 0; i < src->n_kv; i++) {
        iris_status rc = iris_gguf_writer_copy_kv(w, src, src->kv[i].key);
        if (rc) return rc;
    }
    return IRIS_OK;
}

iris_status iris_gguf_writer_remove(iris_gguf_writer *w, const char *key) {
    wkv *kv = key ? find_wkv(w, key) : NULL;
    if (!kv) return iris_fail(IRIS_ERR_NOT_FOUND, "gguf writer: no metadata key '%s' to remove", key ? key : "");
    free(kv->key);
    free(kv->val);
    size_t i = (size_t)(kv - w->kv);
    memmove(kv, kv + 1, (w->n_kv - i - 1) * sizeof *kv);
    w->n_kv--;
    return IRIS_OK;
}

static iris_status add_tensor(iris_gguf_writer *w, const char *name, iris_dtype dtype, int ndim,
                              const int64_t *shape, const void *data, iris_gguf_fill_fn fill, void *user) {
    if (!name || !*name) return iris_fail(IRIS_ERR_ARG, "gguf writer: empty tensor name");
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return iris_fail(IRIS_ERR_ARG, "gguf writer: tensor '%s' added twice", name);
    if (iris_dtype_to_ggml(dtype) < 0)
        return iris_fail(IRIS_ERR_UNSUPPORTED, "gguf writer: tensor '%s': dtype %s has no GGUF type", name,
                         iris_dtype_name(dtype));
    iris_tensor t;
    iris_status rc = iris_tensor_init(&t, dtype, ndim, shape);
    if (rc) {
        char why[256];
        snprintf(why, sizeof why, "%s", iris_last_error());
        return iris_fail(rc, "gguf writer: tensor '%s': %s", name, why);
    }
    size_t nbytes = iris_nbytes(&t);
    if (nbytes && !data && !fill) return iris_fail(IRIS_ERR_ARG, "gguf writer: tensor '%s' has no data", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return iris_fail(IRIS_ERR_NOMEM, "gguf writer: out of memory");
        w->t = p;
        w->cap_t = cap;
    }
    wtensor *e = &w->t[w->n_t];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return iris_fail(IRIS_ERR_NOMEM, "gguf writer: out of memory");
    e->dtype = dtype;
    e->n_dims = ndim;
    for (int i = 0; i < ndim; i++) e->ne[i] = (uint64_t)shape[ndim - 1 - i];
    e->nbytes = nbytes;
    e->data = data;
    e->fill = fill;
    e->user = user;
    w->n_t++;
    return IRIS_OK;
}

iris_status iris_gguf_writer_add_tensor(iris_gguf_writer *w, const char *name, iris_dtype dtype, int ndim,
                                        const int64_t *shape, const void *data) {
    return add_tensor(w, name, dtype, ndim, shape, data, NULL, NULL);
}

iris_status iris_gguf_writer_add_tensor_fn(iris_gguf_writer *w, const char *name, iris_dtype dtype, int ndim,
                                           const int64_t *shape, iris_gguf_fill_fn fill, void *user) {
    if (!fill) return iris_fail(IRIS_ERR_ARG, "gguf writer: tensor '%s' has no fill function", name ? name : "");
    return add_tensor(w, name, dtype, ndim, shape, NULL, fill, user);
}

static iris_status write_all(int fd, const void *p, size_t n, const char *path) {
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return iris_fail(IRIS_ERR_IO, "%s: write failed: %s", path, strerror(k < 0 ? errno : ENOSPC));
        c += k;
        n -= (size_t)k;
    }
    return IRIS_OK;
}

static uint64_t pad_to(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

static iris_status write_file(iris_gguf_writer *w, int fd, const char *path, uint32_t align) {
    static const uint8_t zeros[256];
    buf h = {0};
    put(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, w->n_t);
    put_u64(&h, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kv[i].key, strlen(w->kv[i].key));
        put_u32(&h, w->kv[i].type);
        put(&h, w->kv[i].val, w->kv[i].len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(&h, t->name, strlen(t->name));
        put_u32(&h, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&h, t->ne[d]);
        put_u32(&h, (uint32_t)iris_dtype_to_ggml(t->dtype));
        put_u64(&h, off);
        off = pad_to(off + t->nbytes, align);
    }
    for (uint64_t pad = pad_to(h.n, align) - h.n; pad && !h.bad;) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        put(&h, zeros, k);
        pad -= k;
    }
    if (h.bad) {
        free(h.p);
        return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    iris_status rc = write_all(fd, h.p, h.n, path);
    free(h.p);
    for (size_t i = 0; i < w->n_t && !rc; i++) {
        const wtensor *t = &w->t[i];
        if (t->fill) {
            void *tmp = malloc(t->nbytes ? t->nbytes : 1);
            if (!tmp) return iris_fail(IRIS_ERR_NOMEM, "%s: tensor '%s': cannot allocate %zu bytes", path, t->name,
                                       t->nbytes);
            rc = t->fill(t->user, t->name, tmp, t->nbytes);
            if (rc) {
                char why[256];
                snprintf(why, sizeof why, "%s", iris_last_error());
                rc = iris_fail(rc, "%s: tensor '%s': %s", path, t->name, why);
            } else {
                rc = write_all(fd, tmp, t->nbytes, path);
            }
            free(tmp);
        } else {
            rc = write_all(fd, t->data, t->nbytes, path);
        }
        for (uint64_t pad = pad_to(t->nbytes, align) - t->nbytes; !rc && pad;) {
            size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
            rc = write_all(fd, zeros, k, path);
            pad -= k;
        }
    }
    if (!rc && fsync(fd) < 0 && errno != EINVAL)
        rc = iris_fail(IRIS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return rc;
}

iris_status iris_gguf_writer_write(iris_gguf_writer *w, const char *path) {
    uint32_t align = IRIS_GGUF_DEFAULT_ALIGNMENT;
    wkv *al = find_wkv(w, "general.alignment");
    if (al) {
        uint32_t a = 0;
        if (al->type == IRIS_GGUF_U32 && al->len == 4) memcpy(&a, al->val, 4);
        if (!a || (a & (a - 1)))
            return iris_fail(IRIS_ERR_ARG, "%s: general.alignment must be a u32 power of two", path);
        align = a;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return iris_fail(IRIS_ERR_ARG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return iris_fail(IRIS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    iris_status rc = write_file(w, fd, path, align);
    if (close(fd) < 0 && !rc) rc = iris_fail(IRIS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (!rc && rename(tmp, path) < 0)
        rc = iris_fail(IRIS_ERR_IO, "%s: cannot rename temporary file: %s", path, strerror(errno));
    if (rc) unlink(tmp);
    return rc;
}
