/* weights.c - named weights from one safetensors file, renamed, shape-checked, on the model's device. */
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

iris_status iris_weights_open(iris_weights *w, const char *path, iris_device dev) {
    memset(w, 0, sizeof *w);
    w->dev = dev;
    iris_status st = iris_safetensors_open(&w->st, path);
    if (st) return st;
    w->is_open = 1;
    return IRIS_OK;
}

void iris_weights_close(iris_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n_owned; i++) iris_tensor_free(w->owned[i]);
    free(w->owned);
    if (w->is_open) iris_safetensors_close(&w->st);
    memset(w, 0, sizeof *w);
}

void iris_weights_prefix(iris_weights *w, const char *prefix) {
    snprintf(w->prefix, sizeof w->prefix, "%s", prefix ? prefix : "");
}

void iris_weights_set_rename(iris_weights *w, iris_weights_rename_fn fn, void *user) {
    w->rename = fn;
    w->rename_user = user;
}

const char *iris_weights_path(const iris_weights *w) { return w->st.map.path[0] ? w->st.map.path : "(weights)"; }

/* The file's full name of a canonical one, or NULL. */
static const char *full_name(const iris_weights *w, const char *name, char *buf, size_t n) {
    char mapped[320];
    const char *m = name;
    if (w->rename && !(m = w->rename(w->rename_user, name, mapped, sizeof mapped))) return NULL;
    if ((size_t)snprintf(buf, n, "%s%s", w->prefix, m) >= n) return NULL;
    return buf;
}

const iris_st_entry *iris_weights_find(const iris_weights *w, const char *name) {
    char full[448];
    if (!w->is_open || !full_name(w, name, full, sizeof full)) return NULL;
    return iris_safetensors_find(&w->st, full);
}

int iris_weights_has(const iris_weights *w, const char *name) { return iris_weights_find(w, name) != NULL; }

static iris_status own(iris_weights *w, iris_tensor *t) {
    if (w->n_owned == w->cap_owned) {
        int cap = w->cap_owned ? 2 * w->cap_owned : 256;
        iris_tensor **o = realloc(w->owned, (size_t)cap * sizeof *o);
        if (!o) {
            iris_tensor_free(t);
            return iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", iris_weights_path(w));
        }
        w->owned = o;
        w->cap_owned = cap;
    }
    w->owned[w->n_owned++] = t;
    return IRIS_OK;
}

/* Moves a CPU tensor to the set's device (the mapped header is freed) and takes ownership. */
static iris_status place(iris_weights *w, iris_tensor *t, iris_tensor **out) {
    if (w->dev != IRIS_CPU) {
        iris_tensor *d = NULL;
        iris_status st = iris_tensor_to_device(&d, t, w->dev);
        if (!st) memcpy(d->name, t->name, sizeof d->name);
        iris_tensor_free(t);
        if (st) return st;
        t = d;
    }
    iris_status st = own(w, t);
    if (!st) *out = t;
    return st;
}

static const char *shape_str(int ndim, const int64_t *s, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)s[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

static iris_status lookup(iris_weights *w, const char *name, const iris_st_entry **e, char *full, size_t n) {
    if (!full_name(w, name, full, n) || !(*e = iris_safetensors_find(&w->st, full))) {
        if (!w->rename) return iris_fail(IRIS_ERR_NOT_FOUND, "%s: missing tensor '%s%s'", iris_weights_path(w), w->prefix, name);
        return iris_fail(IRIS_ERR_NOT_FOUND, "%s: missing tensor '%s' (%s)", iris_weights_path(w), name,
                         full_name(w, name, full, n) ? full : "no such tensor in this layout");
    }
    if ((*e)->dtype != IRIS_F32 && (*e)->dtype != IRIS_F16 && (*e)->dtype != IRIS_BF16)
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' is %s, expected F32, F16 or BF16", iris_weights_path(w), full,
                         (*e)->dtype_name);
    return IRIS_OK;
}

iris_status iris_weights_get(iris_weights *w, const char *name, int ndim, const int64_t *shape, iris_tensor **out) {
    char full[448];
    const iris_st_entry *e;
    iris_status st = lookup(w, name, &e, full, sizeof full);
    if (st) return st;
    iris_tensor *t;
    if (shape) st = iris_safetensors_get_shaped(&w->st, full, ndim, shape, &t);
    else st = iris_safetensors_get(&w->st, full, &t);
    if (st) return st;
    return place(w, t, out);
}

iris_status iris_weights_get_as(iris_weights *w, const char *name, int ndim, const int64_t *shape, iris_tensor **out) {
    char full[448], a[96], b[96];
    const iris_st_entry *e;
    iris_status st = lookup(w, name, &e, full, sizeof full);
    if (st) return st;
    int64_t want = 1, have = 1;
    for (int i = 0; i < ndim; i++) want *= shape[i];
    for (int i = 0; i < e->ndim; i++) have *= e->shape[i];
    if (want != have || ndim > IRIS_MAX_DIMS)
        return iris_fail(IRIS_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", iris_weights_path(w), full,
                         shape_str(e->ndim, e->shape, a, sizeof a), shape_str(ndim, shape, b, sizeof b));
    iris_tensor *t;
    if ((st = iris_safetensors_get(&w->st, full, &t))) return st;
    iris_tensor tmp = *t;
    if ((st = iris_tensor_init(t, tmp.dtype, ndim, shape))) {
        iris_tensor_free(t);
        return st;
    }
    t->data = tmp.data;
    t->device = tmp.device;
    t->flags = tmp.flags;
    return place(w, t, out);
}

iris_status iris_weights_get_wb(iris_weights *w, const char *base, int ndim, const int64_t *shape, iris_tensor **weight,
                                iris_tensor **bias) {
    char name[448];
    snprintf(name, sizeof name, "%s.weight", base);
    iris_status st = iris_weights_get(w, name, ndim, shape, weight);
    snprintf(name, sizeof name, "%s.bias", base);
    if (!st) st = iris_weights_get(w, name, 1, shape, bias);
    return st;
}

iris_status iris_weights_rows(iris_weights *w, const iris_tensor *t, int64_t row0, int64_t rows, iris_tensor **out) {
    if (t->ndim < 1 || t->ndim > 2 || row0 < 0 || rows < 1 || row0 + rows > t->ne[0] || !iris_is_contiguous(t))
        return iris_fail(IRIS_ERR_SHAPE, "%s: cannot take rows %lld..%lld of '%s'", iris_weights_path(w),
                         (long long)row0, (long long)(row0 + rows), t->name);
    int64_t shape[2] = {rows, t->ndim == 2 ? t->ne[1] : 1};
    iris_tensor *v;
    iris_status st = iris_tensor_wrap(&v, t->device, t->dtype, t->ndim, shape, (char *)t->data + row0 * t->nb[0]);
    if (st) return st;
    snprintf(v->name, sizeof v->name, "%.40s[%lld:]", t->name, (long long)(row0 % 1000000000));
    if ((st = own(w, v))) return st;
    *out = v;
    return IRIS_OK;
}

void iris_weights_release_pages(iris_weights *w) {
    if (w && w->is_open && w->st.map.data && w->st.map.size)
        madvise((void *)w->st.map.data, w->st.map.size, MADV_DONTNEED);
}
