/* safetensors.c - parse and validate the JSON header, hand out mapped tensors. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER ((uint64_t)256 << 20)

static const struct { const char *name; int dtype; int size; } st_types[] = {
    {"F64", IRIS_F64, 8}, {"F32", IRIS_F32, 4}, {"F16", IRIS_F16, 2}, {"BF16", IRIS_BF16, 2},
    {"I64", IRIS_I64, 8}, {"I32", IRIS_I32, 4}, {"I16", IRIS_I16, 2}, {"I8", IRIS_I8, 1},
    {"U8", IRIS_U8, 1},   {"BOOL", IRIS_U8, 1}, {"F8_E4M3", -1, 1},   {"F8_E5M2", -1, 1},
    {"U16", -1, 2},       {"U32", -1, 4},       {"U64", -1, 8},
};

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const iris_st_entry *)a)->name, ((const iris_st_entry *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const iris_st_entry *x = *(iris_st_entry *const *)a, *y = *(iris_st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static void free_parsed(iris_safetensors *st) {
    for (int i = 0; i < st->n; i++) free(st->entries[i].name);
    free(st->entries);
    for (int i = 0; i < st->n_meta; i++) free(st->meta_keys[i]), free(st->meta_values[i]);
    free(st->meta_keys);
    free(st->meta_values);
    st->entries = NULL;
    st->meta_keys = st->meta_values = NULL;
    st->n = st->n_meta = 0;
}

static iris_status parse_entry(iris_st_entry *e, const cJSON *item, uint64_t data_start, uint64_t data_len,
                               const char *file) {
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsObject(item) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' lacks dtype, shape or data_offsets", file, e->name);
    int esize = 0;
    e->dtype = -1;
    for (size_t i = 0; i < sizeof st_types / sizeof st_types[0]; i++)
        if (!strcmp(dt->valuestring, st_types[i].name)) e->dtype = st_types[i].dtype, esize = st_types[i].size;
    if (!esize) return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%.20s'", file, e->name, dt->valuestring);
    snprintf(e->dtype_name, sizeof e->dtype_name, "%s", dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > IRIS_ST_MAX_DIMS) return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' has %d dims", file, e->name, nd);
    e->ndim = nd;
    uint64_t count = 1;
    int k = 0;
    for (const cJSON *d = shape->child; d; d = d->next, k++) {
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' has an invalid dimension", file, e->name);
        e->shape[k] = (int64_t)d->valuedouble;
        if (e->shape[k] && count > UINT64_MAX / (uint64_t)e->shape[k])
            return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' shape overflows", file, e->name);
        count *= (uint64_t)e->shape[k];
    }
    if (cJSON_GetArraySize(offs) != 2 || !cJSON_IsNumber(offs->child) || !cJSON_IsNumber(offs->child->next))
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' data_offsets is not [begin, end]", file, e->name);
    double b = offs->child->valuedouble, en = offs->child->next->valuedouble;
    if (b < 0 || en < b || en > (double)data_len || b != (double)(uint64_t)b || en != (double)(uint64_t)en)
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' data_offsets [%.0f, %.0f] outside the %llu data bytes",
                         file, e->name, b, en, (unsigned long long)data_len);
    if (count > UINT64_MAX / (uint64_t)esize || count * (uint64_t)esize != (uint64_t)en - (uint64_t)b)
        return iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' is %.0f bytes but its %s shape needs %llu", file,
                         e->name, en - b, e->dtype_name, (unsigned long long)(count * (uint64_t)esize));
    e->begin = data_start + (uint64_t)b;
    e->end = data_start + (uint64_t)en;
    return IRIS_OK;
}

static iris_status parse_buf(iris_safetensors *st, const uint8_t *data, size_t size, const char *file) {
    st->data = data;
    st->size = size;
    st->n = st->n_meta = 0;
    st->entries = NULL;
    st->meta_keys = st->meta_values = NULL;
    if (size < 8) return iris_fail(IRIS_ERR_FORMAT, "%s: too short for a safetensors header (%zu bytes)", file, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    if (hlen < 2 || hlen > MAX_HEADER || hlen > size - 8)
        return iris_fail(IRIS_ERR_FORMAT, "%s: header length %llu does not fit the %zu-byte file", file,
                         (unsigned long long)hlen, size);
    cJSON *root = cJSON_ParseWithLength((const char *)data + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return iris_fail(IRIS_ERR_FORMAT, "%s: header is not a JSON object", file);
    }
    int total = cJSON_GetArraySize(root);
    st->entries = calloc((size_t)total + 1, sizeof *st->entries);
    iris_st_entry **order = calloc((size_t)total + 1, sizeof *order);
    iris_status rc = IRIS_OK;
    if (!st->entries || !order) rc = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file);
    uint64_t data_start = 8 + hlen, data_len = size - data_start;
    for (const cJSON *it = root->child; it && !rc; it = it->next) {
        if (!it->string) { rc = iris_fail(IRIS_ERR_FORMAT, "%s: header entry without a name", file); break; }
        if (!strcmp(it->string, "__metadata__")) {
            if (!cJSON_IsObject(it)) { rc = iris_fail(IRIS_ERR_FORMAT, "%s: __metadata__ is not an object", file); break; }
            if (st->meta_keys) { rc = iris_fail(IRIS_ERR_FORMAT, "%s: __metadata__ appears twice", file); break; }
            int nm = cJSON_GetArraySize(it);
            st->meta_keys = calloc((size_t)nm + 1, sizeof(char *));
            st->meta_values = calloc((size_t)nm + 1, sizeof(char *));
            if (!st->meta_keys || !st->meta_values) { rc = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file); break; }
            for (const cJSON *m = it->child; m; m = m->next) {
                if (!cJSON_IsString(m)) continue; /* the format says strings only; skip others */
                st->meta_keys[st->n_meta] = strdup(m->string);
                st->meta_values[st->n_meta] = strdup(m->valuestring);
                st->n_meta++;
                if (!st->meta_keys[st->n_meta - 1] || !st->meta_values[st->n_meta - 1]) {
                    rc = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file);
                    break;
                }
            }
            continue;
        }
        iris_st_entry *e = &st->entries[st->n];
        e->name = strdup(it->string);
        if (!e->name) { rc = iris_fail(IRIS_ERR_NOMEM, "%s: out of memory", file); break; }
        st->n++;
        rc = parse_entry(e, it, data_start, data_len, file);
    }
    cJSON_Delete(root);
    if (!rc) {
        /* zero-size tensors take no room (their offsets may equal a neighbour's begin) */
        int k = 0;
        for (int i = 0; i < st->n; i++)
            if (st->entries[i].end > st->entries[i].begin) order[k++] = &st->entries[i];
        qsort(order, (size_t)k, sizeof *order, cmp_begin);
        for (int i = 1; i < k && !rc; i++)
            if (order[i]->begin < order[i - 1]->end)
                rc = iris_fail(IRIS_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", file, order[i - 1]->name,
                               order[i]->name);
    }
    free(order);
    if (!rc) {
        qsort(st->entries, (size_t)st->n, sizeof *st->entries, cmp_name);
        for (int i = 1; i < st->n && !rc; i++)
            if (!strcmp(st->entries[i].name, st->entries[i - 1].name))
                rc = iris_fail(IRIS_ERR_FORMAT, "%s: tensor '%s' appears twice", file, st->entries[i].name);
    }
    if (rc) free_parsed(st);
    return rc;
}

iris_status iris_safetensors_parse(iris_safetensors *st, const uint8_t *data, size_t size, const char *file) {
    memset(st, 0, sizeof *st);
    snprintf(st->map.path, sizeof st->map.path, "%s", file ? file : "safetensors");
    return parse_buf(st, data, size, st->map.path);
}

iris_status iris_safetensors_open(iris_safetensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    iris_status rc = iris_map_open(&st->map, path);
    if (rc) return rc;
    rc = parse_buf(st, st->map.data, st->map.size, path);
    if (rc) iris_map_close(&st->map);
    return rc;
}

void iris_safetensors_close(iris_safetensors *st) {
    free_parsed(st);
    iris_map_close(&st->map);
    st->data = NULL;
    st->size = 0;
}

const iris_st_entry *iris_safetensors_find(const iris_safetensors *st, const char *name) {
    iris_st_entry key = {.name = (char *)name};
    return st->n ? bsearch(&key, st->entries, (size_t)st->n, sizeof key, cmp_name) : NULL;
}

const char *iris_safetensors_meta(const iris_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

iris_status iris_safetensors_get(const iris_safetensors *st, const char *name, iris_tensor **out) {
    *out = NULL;
    const char *file = st->map.path;
    const iris_st_entry *e = iris_safetensors_find(st, name);
    if (!e) return iris_fail(IRIS_ERR_NOT_FOUND, "%s: no tensor '%s'", file, name);
    if (e->dtype < 0) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which iris cannot use", file, name, e->dtype_name);
    if (e->ndim > IRIS_MAX_DIMS) return iris_fail(IRIS_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims (max %d)", file, name, e->ndim, IRIS_MAX_DIMS);
    int64_t scalar = 1;
    int nd = e->ndim ? e->ndim : 1;
    const int64_t *shape = e->ndim ? e->shape : &scalar;
    const void *p = st->data + e->begin;
    int esize = iris_dtype_get((iris_dtype)e->dtype)->type_size;
    iris_status rc;
    if ((uintptr_t)p % (uintptr_t)esize) {
        rc = iris_tensor_new(out, IRIS_CPU, (iris_dtype)e->dtype, nd, shape);
        if (!rc) memcpy((*out)->data, p, e->end - e->begin);
    } else {
        rc = iris_tensor_wrap(out, IRIS_CPU, (iris_dtype)e->dtype, nd, shape, (void *)p);
    }
    if (rc) {
        char why[256];
        snprintf(why, sizeof why, "%s", iris_last_error()); /* iris_fail writes the buffer it would read */
        return iris_fail(rc, "%s: tensor '%s': %s", file, name, why);
    }
    snprintf((*out)->name, sizeof (*out)->name, "%s", name);
    return IRIS_OK;
}

iris_status iris_safetensors_get_shaped(const iris_safetensors *st, const char *name, int ndim,
                                        const int64_t *shape, iris_tensor **out) {
    iris_status rc = iris_safetensors_get(st, name, out);
    if (rc) return rc;
    int ok = (*out)->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == (*out)->ne[i];
    if (!ok) {
        char got[96], want[96] = "[";
        size_t k = 1;
        for (int i = 0; i < ndim; i++) k += (size_t)snprintf(want + k, sizeof want - k, i ? ",%lld" : "%lld", (long long)shape[i]);
        snprintf(want + k, sizeof want - k, "]");
        iris_shape_str(*out, got, sizeof got);
        iris_tensor_free(*out);
        *out = NULL;
        return iris_fail(IRIS_ERR_SHAPE, "%s: tensor '%s' is %s, expected %s", st->map.path, name, got, want);
    }
    return IRIS_OK;
}
